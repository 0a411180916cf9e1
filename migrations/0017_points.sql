-- 0017_points: 积分 — citizens' points for accepted reports and their redemption
-- (api/domain/points.h).
--
-- points_accounts: one row per user that ever had points; balance = the sum of the user's
--   ledger rows, kept in the same transaction as each row (never below 0).
-- points_ledger: every change of a balance with its cause and what caused it; (user, cause,
--   ref) is unique, so a cause pays once. day is the local (UTC+8) day number of the row, for
--   the daily cap of report points.
-- points_items: what points buy, defined by admins; stock never below 0.
-- points_redemptions: one per item bought, with its ledger row.
CREATE TABLE points_accounts (
  user_id BIGINT NOT NULL PRIMARY KEY,
  balance BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
  earned BIGINT NOT NULL DEFAULT 0,
  spent BIGINT NOT NULL DEFAULT 0,
  updated_at DATETIME(3) NOT NULL,
  CONSTRAINT points_accounts_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE points_ledger (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  delta BIGINT NOT NULL,
  balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
  cause VARCHAR(24) NOT NULL,
  ref_type VARCHAR(16) NOT NULL,
  ref_id BIGINT NOT NULL,
  note VARCHAR(200) NULL,
  day INT NOT NULL,
  created_at DATETIME(3) NOT NULL,
  UNIQUE KEY points_ledger_once (user_id, cause, ref_type, ref_id),
  KEY points_ledger_user (user_id, id),
  KEY points_ledger_day (user_id, cause, day),
  CONSTRAINT points_ledger_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE points_items (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  description VARCHAR(500) NULL,
  cost BIGINT NOT NULL CHECK (cost > 0),
  stock BIGINT NOT NULL CHECK (stock >= 0),
  active TINYINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE points_redemptions (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  item_id BIGINT NOT NULL,
  cost BIGINT NOT NULL,
  ledger_id BIGINT NULL,
  created_at DATETIME(3) NOT NULL,
  KEY points_redemptions_user (user_id, id),
  CONSTRAINT points_redemptions_user_fk FOREIGN KEY (user_id) REFERENCES users (id),
  CONSTRAINT points_redemptions_item_fk FOREIGN KEY (item_id) REFERENCES points_items (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
