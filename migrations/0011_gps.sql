-- 0011_gps: attendance (shifts, check-ins, leave), vehicles and GPS tracks.
--
-- shifts: a schedule — days is a bit mask (bit 0 Monday … bit 6 Sunday), start_min/end_min are
--   minutes after local midnight (UTC+8 unless case_settings.utc_offset_min says otherwise),
--   grace_min how late a check-in (or how early a check-out) still counts as on time. A shift
--   does not cross midnight. Assigned to users or departments (shift_assignments); a user's own
--   assignment wins over the department's.
CREATE TABLE shifts (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  days TINYINT UNSIGNED NOT NULL CHECK (days BETWEEN 1 AND 127),
  start_min SMALLINT NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
  end_min SMALLINT NOT NULL CHECK (end_min BETWEEN 1 AND 1440),
  grace_min SMALLINT NOT NULL DEFAULT 0 CHECK (grace_min BETWEEN 0 AND 240),
  active TINYINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  CHECK (end_min > start_min)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE shift_assignments (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  shift_id BIGINT NOT NULL,
  user_id BIGINT NULL,
  department_id BIGINT NULL,
  created_at DATETIME(3) NOT NULL,
  UNIQUE KEY shift_assignments_user (user_id),
  UNIQUE KEY shift_assignments_dept (department_id),
  CHECK ((user_id IS NULL) <> (department_id IS NULL)),
  CONSTRAINT shift_assignments_shift_fk FOREIGN KEY (shift_id) REFERENCES shifts (id),
  CONSTRAINT shift_assignments_user_fk FOREIGN KEY (user_id) REFERENCES users (id),
  CONSTRAINT shift_assignments_dept_fk FOREIGN KEY (department_id) REFERENCES departments (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- checkins: 上下班打卡. at is the server's clock (it decides), device_at what the phone said.
-- status is the one verdict (on_time, late, early_leave, outside_area, low_accuracy), flags
-- every finding comma-separated; local_date is the local day of at (daily summaries).
CREATE TABLE checkins (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  type ENUM('in','out') NOT NULL,
  at DATETIME(3) NOT NULL,
  device_at DATETIME(3) NULL,
  local_date DATE NOT NULL,
  lat DOUBLE NOT NULL,
  lng DOUBLE NOT NULL,
  accuracy_m DOUBLE NOT NULL,
  status VARCHAR(16) NOT NULL,
  flags VARCHAR(96) NOT NULL DEFAULT '',
  shift_id BIGINT NULL,
  grid_id BIGINT NULL,
  distance_m DOUBLE NULL,
  selfie_media_id BIGINT NULL,
  KEY checkins_user (user_id, at),
  KEY checkins_date (local_date, user_id),
  CONSTRAINT checkins_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- duty: whether a user is on duty now (between a check-in and its check-out). Tracks of users
-- are recorded only inside such intervals (PIPL: no tracking off duty).
CREATE TABLE duty (
  user_id BIGINT NOT NULL PRIMARY KEY,
  on_duty TINYINT NOT NULL CHECK (on_duty IN (0, 1)),
  since DATETIME(3) NOT NULL,
  CONSTRAINT duty_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- leaves: 请假, local dates inclusive.
CREATE TABLE leaves (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  from_date DATE NOT NULL,
  to_date DATE NOT NULL,
  reason VARCHAR(200) NOT NULL DEFAULT '',
  created_by BIGINT NULL,
  created_at DATETIME(3) NOT NULL,
  KEY leaves_user (user_id, from_date),
  CHECK (to_date >= from_date),
  CONSTRAINT leaves_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- vehicles: 环卫/执法/渣土 vehicles; user_id is the machine account whose API key posts the
-- vehicle's track (scope tracks:write).
CREATE TABLE vehicles (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  plate VARCHAR(16) NOT NULL,
  name VARCHAR(64) NOT NULL,
  region_id BIGINT NULL,
  department_id BIGINT NULL,
  user_id BIGINT NULL,
  active TINYINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  created_at DATETIME(3) NOT NULL,
  UNIQUE KEY vehicles_plate (plate),
  CONSTRAINT vehicles_region_fk FOREIGN KEY (region_id) REFERENCES regions (id),
  CONSTRAINT vehicles_dept_fk FOREIGN KEY (department_id) REFERENCES departments (id),
  CONSTRAINT vehicles_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- track_devices: one row per (person or vehicle, device); the per-device sequence numbers of
-- track_points are unique within it.
CREATE TABLE track_devices (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  owner_type ENUM('user','vehicle') NOT NULL,
  owner_id BIGINT NOT NULL,
  device VARCHAR(64) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  UNIQUE KEY track_devices_owner (owner_type, owner_id, device)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- track_points: every point received, WGS-84 (GCJ-02 input is converted on the way in). t is
-- the fix time (device clock, ms since the epoch UTC), recv_ms the server's clock. filtered is
-- 'ok' for a usable fix or the reason it was set aside (kept, never dropped silently).
-- Partitioned by day of t so the retention job drops whole partitions (no row deletes); the
-- job also adds the partitions of the coming days (track.c). A point is stored once per
-- (device, seq): a resend carries the same t and lands on the same primary key.
CREATE TABLE track_points (
  dev_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  t BIGINT NOT NULL,
  recv_ms BIGINT NOT NULL,
  lat DOUBLE NOT NULL,
  lng DOUBLE NOT NULL,
  accuracy_m FLOAT NULL,
  speed FLOAT NULL,
  heading FLOAT NULL,
  altitude FLOAT NULL,
  battery TINYINT NULL,
  filtered ENUM('ok','invalid_coordinates','accuracy','speed','duplicate_time','future',
                'too_old') NOT NULL DEFAULT 'ok',
  PRIMARY KEY (dev_id, seq, t),
  KEY track_points_time (dev_id, t)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
PARTITION BY RANGE (t) (
  PARTITION p_old VALUES LESS THAN (0),
  PARTITION pmax VALUES LESS THAN MAXVALUE
);

-- positions_latest: the newest usable point of each person and vehicle, for the live map.
-- region_id is where the owner works (the user's region or the region of their first grid,
-- the vehicle's region) as of the last point; notified_ms when the last position.updated
-- event was written (at most one per owner per 5 s). on_duty follows check-in/out (vehicles:
-- always 1, their age decides). item / item_gcj are the live-map entry pre-rendered at ingest
-- (track.c), in WGS-84 and GCJ-02, so that reading 5,000 positions is one indexed scan and a
-- concatenation, not 5,000 rows of joins and JSON encoding (docs/benchmarks.md).
CREATE TABLE positions_latest (
  owner_type ENUM('user','vehicle') NOT NULL,
  owner_id BIGINT NOT NULL,
  t BIGINT NOT NULL,
  lat DOUBLE NOT NULL,
  lng DOUBLE NOT NULL,
  accuracy_m FLOAT NULL,
  speed FLOAT NULL,
  heading FLOAT NULL,
  region_id BIGINT NULL,
  notified_ms BIGINT NOT NULL DEFAULT 0,
  on_duty TINYINT NOT NULL DEFAULT 0 CHECK (on_duty IN (0, 1)),
  item VARCHAR(512) NOT NULL DEFAULT '',
  item_gcj VARCHAR(512) NOT NULL DEFAULT '',
  PRIMARY KEY (owner_type, owner_id),
  KEY positions_latest_map (on_duty, lat, lng)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A person's case actions of a period, placed on their track in replays.
CREATE INDEX case_steps_actor ON case_steps (actor_id, created_at);
