-- 0021_push: offline push through APNs, the Android vendors and WeChat (docs/push.md).
--
-- push_devices: where a device of a user can be woken. One row per (user, log-in device id):
--   registering again rotates the token in place. A vendor token belongs to one device: when
--   another device or user registers it, the old row goes. family is the log-in session the
--   registration came with; ending that session (log-out, device revoked, refresh reuse)
--   removes the row, and so does a new token version of the user (log-out everywhere,
--   password change, disabled account) — by the triggers below, so no code path can forget.
CREATE TABLE push_devices (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  device_id VARCHAR(64) NOT NULL,
  family CHAR(32) NOT NULL,
  platform VARCHAR(16) NOT NULL,
  vendor VARCHAR(16) NOT NULL,
  token VARCHAR(512) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  app_version VARCHAR(32) NOT NULL,
  locale VARCHAR(16) NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY push_devices_device (user_id, device_id),
  UNIQUE KEY push_devices_token (vendor, token),
  KEY push_devices_family (family),
  CONSTRAINT push_devices_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- push_settings: per user quiet hours, minutes of the local day (UTC+8); start = end = NULL:
--   none. A window may pass midnight (22:00..07:00).
CREATE TABLE push_settings (
  user_id BIGINT NOT NULL PRIMARY KEY,
  quiet_start SMALLINT NULL,
  quiet_end SMALLINT NULL,
  CONSTRAINT push_settings_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- push_queue: one row per inbox item and registered device, written in the transaction that
--   committed the item (so an item exists if and only if its pushes are queued). due_ms is
--   when it may go (first the acknowledgement grace, then retry back-off or the end of quiet
--   hours); lease_owner / lease_ms mark a row claimed by one process's push thread, which
--   sends it and then deletes it (delivered, acknowledged in-band, token dead) or moves it on.
--   A lease that ran out (the process died) makes the row claimable again. Rows go with
--   their device.
CREATE TABLE push_queue (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  device_row BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  kind VARCHAR(64) NOT NULL,
  ref_id BIGINT NOT NULL DEFAULT 0,
  im TINYINT NOT NULL DEFAULT 0,
  urgent TINYINT NOT NULL DEFAULT 0,
  vendor VARCHAR(16) NOT NULL,
  created_ms BIGINT NOT NULL,
  due_ms BIGINT NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  last_error VARCHAR(200) NULL,
  lease_owner CHAR(16) NULL,
  lease_ms BIGINT NOT NULL DEFAULT 0,
  UNIQUE KEY push_queue_item (device_row, seq),
  KEY push_queue_due (due_ms),
  KEY push_queue_lease (lease_owner),
  CONSTRAINT push_queue_device_fk FOREIGN KEY (device_row) REFERENCES push_devices (id)
    ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- push_sent: what a vendor accepted, with its message id, for receipts (purged after 7 days).
CREATE TABLE push_sent (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  vendor VARCHAR(16) NOT NULL,
  vendor_msg_id VARCHAR(128) NOT NULL,
  user_id BIGINT NOT NULL,
  device_id VARCHAR(64) NOT NULL,
  seq BIGINT NOT NULL,
  kind VARCHAR(64) NOT NULL,
  attempts INT NOT NULL,
  sent_ms BIGINT NOT NULL,
  receipt VARCHAR(32) NULL,
  receipt_ms BIGINT NULL,
  KEY push_sent_msg (vendor, vendor_msg_id),
  KEY push_sent_user (user_id, seq),
  KEY push_sent_time (sent_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- push_dead_letters: pushes given up on (a vendor refused the message itself, or it stayed
--   undeliverable past push.max_age_s), for an admin to list.
CREATE TABLE push_dead_letters (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  device_id VARCHAR(64) NOT NULL,
  vendor VARCHAR(16) NOT NULL,
  seq BIGINT NOT NULL,
  kind VARCHAR(64) NOT NULL,
  attempts INT NOT NULL,
  reason VARCHAR(200) NOT NULL,
  created_ms BIGINT NOT NULL,
  dead_ms BIGINT NOT NULL,
  KEY push_dead_time (dead_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TRIGGER push_devices_session_end AFTER UPDATE ON sessions FOR EACH ROW
  DELETE FROM push_devices
  WHERE family = NEW.family AND OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL;

CREATE TRIGGER push_devices_user_revoked AFTER UPDATE ON users FOR EACH ROW
  DELETE FROM push_devices
  WHERE user_id = NEW.id
    AND (NEW.token_version <> OLD.token_version OR NEW.disabled <> OLD.disabled);
