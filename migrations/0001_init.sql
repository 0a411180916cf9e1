-- 0001_init: infrastructure every resource uses.
--
-- events: the outbox. Every state change writes its event row in the same transaction as the
-- change itself, so a gateway (WebSocket, vendor push) can deliver it later and nothing is
-- lost between commit and delivery. Ids only grow; consumers remember the last id they saw.
CREATE TABLE events (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  type VARCHAR(64) NOT NULL,
  subject_type VARCHAR(32) NOT NULL,
  subject_id BIGINT NOT NULL,
  actor_id BIGINT NULL,
  payload LONGTEXT NOT NULL DEFAULT '{}' CHECK (JSON_VALID(payload)),
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY events_subject (subject_type, subject_id, id),
  KEY events_type (type, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- idempotency_keys: the first result of a mutating request sent with an Idempotency-Key.
-- A retry with the same key and the same body gets the stored result; the same key with
-- another body is a conflict. Written in the transaction of the change it records.
CREATE TABLE idempotency_keys (
  principal VARCHAR(64) NOT NULL,
  idem_key VARCHAR(64) NOT NULL,
  route VARCHAR(128) NOT NULL,
  request_hash CHAR(64) NOT NULL,
  status SMALLINT NOT NULL,
  response MEDIUMTEXT NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (principal, idem_key),
  KEY idempotency_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
