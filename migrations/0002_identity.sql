-- 0002_identity: organisation, users, sessions, machine keys and the audit log.
--
-- Regions are the leaders' jurisdictions (city > district > street > community); grids (网格)
-- are the inspectors' patrol cells with a WGS-84 polygon; departments (专业部门) handle cases.
CREATE TABLE regions (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  parent_id BIGINT NULL,
  level ENUM('city','district','street','community') NOT NULL,
  code VARCHAR(12) NOT NULL,
  name VARCHAR(64) NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY regions_code (code),
  KEY regions_parent (parent_id),
  CONSTRAINT regions_parent_fk FOREIGN KEY (parent_id) REFERENCES regions (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE departments (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  code VARCHAR(32) NOT NULL,
  name VARCHAR(64) NOT NULL,
  region_id BIGINT NULL,
  active TINYINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY departments_code (code),
  UNIQUE KEY departments_name (name),
  CONSTRAINT departments_region_fk FOREIGN KEY (region_id) REFERENCES regions (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE grids (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  code VARCHAR(15) NOT NULL,
  name VARCHAR(64) NOT NULL,
  region_id BIGINT NOT NULL,
  boundary POLYGON NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY grids_code (code),
  KEY grids_region (region_id),
  SPATIAL KEY grids_boundary (boundary),
  CONSTRAINT grids_region_fk FOREIGN KEY (region_id) REFERENCES regions (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- roles is a bit mask (server/core/roles.h): citizen 1, inspector 2, handler 4, operator 8,
-- shift_lead 16, dispatcher 32, leader 64, admin 128, machine 256. token_version is bumped on
-- logout-all, password change, role change and disabling, which revokes every access token.
CREATE TABLE users (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username VARCHAR(32) NULL,
  phone VARCHAR(20) NULL,
  display_name VARCHAR(64) NOT NULL,
  password_hash VARCHAR(128) NULL,
  roles INT UNSIGNED NOT NULL DEFAULT 0,
  department_id BIGINT NULL,
  region_id BIGINT NULL,
  token_version INT NOT NULL DEFAULT 0,
  disabled TINYINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  wechat_openid VARCHAR(64) NULL,
  wechat_unionid VARCHAR(64) NULL,
  password_changed_at DATETIME(3) NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  UNIQUE KEY users_username (username),
  UNIQUE KEY users_phone (phone),
  UNIQUE KEY users_openid (wechat_openid),
  KEY users_department (department_id),
  CONSTRAINT users_department_fk FOREIGN KEY (department_id) REFERENCES departments (id),
  CONSTRAINT users_region_fk FOREIGN KEY (region_id) REFERENCES regions (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE user_grids (
  user_id BIGINT NOT NULL,
  grid_id BIGINT NOT NULL,
  PRIMARY KEY (user_id, grid_id),
  KEY user_grids_grid (grid_id),
  CONSTRAINT user_grids_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT user_grids_grid_fk FOREIGN KEY (grid_id) REFERENCES grids (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- sessions: one per device login (a refresh-token family). Revoking one logs that device out.
CREATE TABLE sessions (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  family CHAR(32) NOT NULL,
  user_id BIGINT NOT NULL,
  device_id VARCHAR(64) NOT NULL,
  platform VARCHAR(16) NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  last_seen_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at DATETIME(3) NOT NULL,
  revoked_at DATETIME(3) NULL,
  revoked_reason VARCHAR(32) NULL,
  UNIQUE KEY sessions_family (family),
  KEY sessions_user (user_id, revoked_at),
  CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- refresh_tokens: only the SHA-256 of each opaque token. A token is used once (used_at);
-- presenting a used one again revokes its whole session (family).
CREATE TABLE refresh_tokens (
  token_hash CHAR(64) NOT NULL PRIMARY KEY,
  session_id BIGINT NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  used_at DATETIME(3) NULL,
  KEY refresh_tokens_session (session_id),
  CONSTRAINT refresh_tokens_session_fk FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- login_attempts: failures per account and per source address, for lockout (等保 身份鉴别).
CREATE TABLE login_attempts (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  account VARCHAR(64) NOT NULL,
  ip VARCHAR(45) NOT NULL,
  success TINYINT NOT NULL,
  at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY login_attempts_account (account, at),
  KEY login_attempts_ip (ip, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- api_keys: machine clients (12345 hotline bridge, video-AI sources, vehicle terminals). The key
-- is shown once; only its SHA-256 is kept. prefix finds the row without scanning.
CREATE TABLE api_keys (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  prefix CHAR(8) NOT NULL,
  key_hash CHAR(64) NOT NULL,
  user_id BIGINT NOT NULL,
  scopes VARCHAR(255) NOT NULL DEFAULT '',
  created_by BIGINT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  last_used_at DATETIME(3) NULL,
  revoked_at DATETIME(3) NULL,
  UNIQUE KEY api_keys_prefix (prefix),
  CONSTRAINT api_keys_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- audit_log: append-only record of logins, token events and every state-changing action.
-- The runtime database user gets only SELECT and INSERT on it (cityd migrate sets the grants
-- when db.runtime_user is configured; see docs/security.md). Kept at least 180 days.
CREATE TABLE audit_log (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  actor_id BIGINT NULL,
  actor_roles INT UNSIGNED NOT NULL DEFAULT 0,
  action VARCHAR(64) NOT NULL,
  object_type VARCHAR(32) NULL,
  object_id BIGINT NULL,
  result ENUM('ok','denied','failed') NOT NULL,
  ip VARCHAR(45) NOT NULL DEFAULT '',
  device_id VARCHAR(64) NOT NULL DEFAULT '',
  request_id CHAR(16) NOT NULL DEFAULT '',
  detail VARCHAR(255) NOT NULL DEFAULT '',
  KEY audit_at (at),
  KEY audit_actor (actor_id, at),
  KEY audit_object (object_type, object_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
