-- 0020_im: instant messaging on the gateway (docs/ws-protocol.md, issue 11).
--
-- conversations: 1:1 ('direct', one per pair: direct_key "<low id>:<high id>"), ad hoc groups
--   ('group'), one per department ('department', dept_key) and one room per case ('case',
--   case_id), created on first use. head is the seq of the newest message; each message is
--   stored once here and reaches every member through an inbox item (inbox_items, kind
--   'message'), so it inherits the inbox's "stored before sent, replayed, never twice".
CREATE TABLE conversations (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  kind ENUM('direct','group','department','case') NOT NULL,
  title VARCHAR(100) NULL,
  direct_key VARCHAR(48) NULL,
  dept_key BIGINT NULL,
  case_id BIGINT NULL,
  created_by BIGINT NULL,
  head BIGINT NOT NULL DEFAULT 0,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  UNIQUE KEY conversations_direct (direct_key),
  UNIQUE KEY conversations_dept (dept_key),
  UNIQUE KEY conversations_case (case_id),
  CONSTRAINT conversations_case_fk FOREIGN KEY (case_id) REFERENCES cases (id),
  CONSTRAINT conversations_dept_fk FOREIGN KEY (dept_key) REFERENCES departments (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- conversation_members: who belongs (left_at NULL) or belonged. read_seq is the member's read
--   receipt (the newest message seq read; only moves forward). pinned: added by hand (a leader
--   who joined a case room), so the case's participant sync never removes them.
CREATE TABLE conversation_members (
  conversation_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  joined_at DATETIME(3) NOT NULL,
  left_at DATETIME(3) NULL,
  read_seq BIGINT NOT NULL DEFAULT 0,
  pinned TINYINT NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
  PRIMARY KEY (conversation_id, user_id),
  KEY conversation_members_user (user_id, left_at),
  CONSTRAINT conversation_members_conv_fk FOREIGN KEY (conversation_id) REFERENCES conversations (id),
  CONSTRAINT conversation_members_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- messages: seq is per conversation, strictly increasing from 1 (conversations.head bumped in
--   the same transaction). (sender_id, client_id) is unique: a retried send stores nothing
--   twice. body is the content object (text, media id, location, case id). Recall keeps the
--   row and drops the content.
CREATE TABLE messages (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  conversation_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  sender_id BIGINT NOT NULL,
  client_id VARCHAR(64) NOT NULL,
  kind ENUM('text','image','voice','location','case_card') NOT NULL,
  body TEXT NOT NULL CHECK (JSON_VALID(body)),
  created_at DATETIME(3) NOT NULL,
  recalled_at DATETIME(3) NULL,
  UNIQUE KEY messages_conv_seq (conversation_id, seq),
  UNIQUE KEY messages_client (sender_id, client_id),
  CONSTRAINT messages_conv_fk FOREIGN KEY (conversation_id) REFERENCES conversations (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- user_presence: when each user was last seen by any node (a socket authenticated or closed).
--   Durable, so "last seen" survives restarts and is the same on every node; "online" is
--   still each node's own sockets (docs/ws-protocol.md).
CREATE TABLE user_presence (
  user_id BIGINT NOT NULL PRIMARY KEY,
  last_seen_at DATETIME(3) NOT NULL,
  CONSTRAINT user_presence_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- announcements (公文通知): one per POST /api/v1/announcements, stored once in its stream
--   (stream_items); announcement_recipients is the audience at the time of sending, with
--   read_at set by each recipient's read receipt: the sender's read statistics.
CREATE TABLE announcements (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  stream VARCHAR(64) NOT NULL,
  offset_no BIGINT NOT NULL,
  kind VARCHAR(32) NOT NULL,
  title VARCHAR(200) NOT NULL,
  created_by BIGINT NOT NULL,
  created_at DATETIME(3) NOT NULL,
  KEY announcements_item (stream, offset_no),
  KEY announcements_by (created_by, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE announcement_recipients (
  announcement_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  read_at DATETIME(3) NULL,
  PRIMARY KEY (announcement_id, user_id),
  KEY announcement_recipients_user (user_id),
  CONSTRAINT announcement_recipients_fk FOREIGN KEY (announcement_id) REFERENCES announcements (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
