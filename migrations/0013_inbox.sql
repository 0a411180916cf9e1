-- 0013_inbox: the real-time inbox behind the WebSocket gateway (docs/ws-protocol.md).
--
-- inbox_items: everything for one person, in order. seq is per user, strictly increasing from
--   1 without holes; an item is stored here before any socket sees it. event_id names the
--   events row it was made from (NULL for items that did not come from an event, e.g. chat),
--   and (user_id, event_id) is unique, so an event reaches an inbox at most once; dedupe is the
--   sender's message id for direct messages (a retried `send` stores nothing twice).
CREATE TABLE inbox_items (
  user_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  type VARCHAR(64) NOT NULL,
  event_id BIGINT NULL,
  dedupe VARCHAR(100) NULL,
  payload TEXT NOT NULL CHECK (JSON_VALID(payload)),
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (user_id, seq),
  UNIQUE KEY inbox_items_event (user_id, event_id),
  UNIQUE KEY inbox_items_dedupe (user_id, dedupe),
  KEY inbox_items_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- inbox_heads: the last seq given to each user, and the floor below which items were purged by
-- retention (a device whose position is below the floor must resync).
CREATE TABLE inbox_heads (
  user_id BIGINT NOT NULL PRIMARY KEY,
  seq BIGINT NOT NULL,
  floor_seq BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- streams: what goes to many people at once, stored once with its own offsets (Centrifugo's
--   channel history, Matrix rooms): "all" (every staff member), "dept.<id>" (one department's
--   notices), "tiles" (leaders' live dashboard tiles). head is the last offset given.
CREATE TABLE streams (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  head BIGINT NOT NULL DEFAULT 0,
  floor_offset BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE stream_items (
  stream VARCHAR(64) NOT NULL,
  offset_no BIGINT NOT NULL,
  type VARCHAR(64) NOT NULL,
  payload TEXT NOT NULL CHECK (JSON_VALID(payload)),
  created_by BIGINT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (stream, offset_no),
  KEY stream_items_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- device_positions: how far each device of a user has acknowledged, per stream ('inbox' for
-- the personal inbox). Only ever moves forward. Unread counts are computed from it.
CREATE TABLE device_positions (
  user_id BIGINT NOT NULL,
  device_id VARCHAR(64) NOT NULL,
  stream VARCHAR(64) NOT NULL,
  position BIGINT NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  PRIMARY KEY (user_id, device_id, stream)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- dispatcher_state: how far the inbox dispatcher has turned events into inbox items. Moved in
-- the same transaction as the items it wrote, so after a crash it neither skips nor repeats an
-- event. Starts at the newest event present when this migration runs.
CREATE TABLE dispatcher_state (
  name VARCHAR(32) NOT NULL PRIMARY KEY,
  position BIGINT NOT NULL,
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO dispatcher_state (name, position) SELECT 'inbox', COALESCE(MAX(id), 0) FROM events;

-- Revocation as events: whatever bumps a user's token version (log-out everywhere, password
-- change or reset, role change) or disables the account, and whatever ends one session, writes
-- an event in the same transaction. The dispatcher tells every node, which closes that user's
-- (or that session's) sockets — no code path can forget it.
CREATE TRIGGER users_revoked AFTER UPDATE ON users FOR EACH ROW
  INSERT INTO events (type, subject_type, subject_id, payload)
  SELECT 'user.tokens_revoked', 'user', NEW.id,
         JSON_OBJECT('token_version', NEW.token_version, 'disabled', NEW.disabled)
  FROM DUAL WHERE NEW.token_version <> OLD.token_version OR NEW.disabled <> OLD.disabled;

CREATE TRIGGER sessions_revoked AFTER UPDATE ON sessions FOR EACH ROW
  INSERT INTO events (type, subject_type, subject_id, payload)
  SELECT 'session.revoked', 'user', NEW.user_id, JSON_OBJECT('family', NEW.family)
  FROM DUAL WHERE OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL;
