-- 0019_webhooks: case progress pushed to machine clients (the 12345 hotline bridge and other
-- systems), one webhook per API key.
--
-- webhooks: where and how to deliver. position is the id of the last event (events table) this
-- webhook has dealt with: delivered with a 2xx answer, or passed because it is not the key's
-- (another reporter's case, internal supervision). Only a delivery with a 2xx answer moves it
-- past an event of the key's, so events go out in id order, each until it is accepted, and a
-- restart or an outage of the receiver loses nothing. The delivering process holds a lease
-- (lease_token until lease_until) so that several cityd processes never send for one webhook at
-- once; generation is bumped by every admin change (new URL or secret, replay), and an attempt
-- started under an older generation does not move position when it ends.
-- secret is kept as given: it is the HMAC key, needed in clear to sign.
CREATE TABLE webhooks (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  api_key_id BIGINT NOT NULL,
  url VARCHAR(512) NOT NULL,
  secret VARCHAR(128) NOT NULL,
  enabled TINYINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  position BIGINT NOT NULL,
  generation INT NOT NULL DEFAULT 1,
  attempts INT NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(3) NOT NULL,
  lease_token CHAR(32) NULL,
  lease_until DATETIME(3) NULL,
  last_error VARCHAR(255) NULL,
  last_success_at DATETIME(3) NULL,
  created_by BIGINT NULL,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  UNIQUE KEY webhooks_key (api_key_id),
  KEY webhooks_due (enabled, next_attempt_at),
  CONSTRAINT webhooks_key_fk FOREIGN KEY (api_key_id) REFERENCES api_keys (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- webhook_deliveries: the delivery log, one row per attempt (an admin reads it; rows older than
-- 30 days are purged by the webhook job).
CREATE TABLE webhook_deliveries (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  webhook_id BIGINT NOT NULL,
  event_id BIGINT NOT NULL,
  attempt INT NOT NULL,
  ok TINYINT NOT NULL CHECK (ok IN (0, 1)),
  http_status SMALLINT NULL,
  error VARCHAR(255) NULL,
  duration_ms INT NOT NULL,
  created_at DATETIME(3) NOT NULL,
  KEY webhook_deliveries_hook (webhook_id, id),
  KEY webhook_deliveries_created (created_at),
  CONSTRAINT webhook_deliveries_hook_fk FOREIGN KEY (webhook_id) REFERENCES webhooks (id)
    ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
