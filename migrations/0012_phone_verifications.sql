-- phone_verifications: a citizen's registration proves the phone by a text-message code
-- (issue 17 items 1 and 8). code_hash is SHA-256 of the six digits, NULL when the number
-- already has an account (that phone was told so by text instead; the API answers the same).
-- ip is the source key of the request (IPv6 by /64), for the per-address throttle.
CREATE TABLE phone_verifications (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  phone VARCHAR(20) NOT NULL,
  code_hash CHAR(64) NULL,
  attempts INT NOT NULL DEFAULT 0,
  ip VARCHAR(45) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  expires_at DATETIME(3) NOT NULL,
  used_at DATETIME(3) NULL,
  KEY phone_verifications_phone (phone, created_at),
  KEY phone_verifications_ip (ip, created_at),
  KEY phone_verifications_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
