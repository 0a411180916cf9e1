-- Presence across nodes (docs/ws-protocol.md): a user is online while a live node holds an
-- authenticated socket of theirs, whichever node answers the question.
--
-- ws_nodes: each process serving WebSockets, by a random id drawn at its start, with a
--   heartbeat (seen_at, every 10 s). A node not seen for 30 s is gone (killed, cut off): its
--   sockets no longer count. Rows of nodes gone for an hour are removed by the others.
CREATE TABLE ws_nodes (
  node_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  started_at DATETIME(3) NOT NULL,
  seen_at DATETIME(3) NOT NULL,
  KEY ws_nodes_seen (seen_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ws_user_sockets: how many authenticated sockets of a staff user each node holds; written
--   when a socket authenticates (+1) and when it closes (-1, the row goes at 0).
CREATE TABLE ws_user_sockets (
  user_id BIGINT NOT NULL,
  node_id BIGINT UNSIGNED NOT NULL,
  sockets INT NOT NULL,
  PRIMARY KEY (user_id, node_id),
  KEY ws_user_sockets_node (node_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
