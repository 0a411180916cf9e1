-- 0024_push_rate: per-user push rate limits shared by every cityd process (docs/push.md).
--
-- push_rate: for each registered device and class (urgent 0: work and IM, 1: urgent and 督办),
--   the window that began with its first counted push (window_ms, the push thread's clock)
--   and how many pushes went out in it. A push thread locks the rows of the devices in its
--   batch (SELECT … FOR UPDATE) while it decides, so several processes share one count: a
--   device gets at most push.user_rate (push.user_urgent_rate) pushes in any such minute;
--   the rest wait for the window to end and then go as one push ("N new items"). Rows go
--   with their device.
CREATE TABLE push_rate (
  device_row BIGINT NOT NULL,
  urgent TINYINT NOT NULL,
  window_ms BIGINT NOT NULL,
  sent INT NOT NULL,
  PRIMARY KEY (device_row, urgent),
  CONSTRAINT push_rate_device_fk FOREIGN KEY (device_row) REFERENCES push_devices (id)
    ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
