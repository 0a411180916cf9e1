-- 0007_dashboard: rollups for the leader's dashboard (领导通) and the 考评 evaluation.
--
-- Every table here is derived from case_steps + cases by api/domain/rollup.c: maintained in
-- the transaction of each timeline row (case__step_add calls rollup_step), and recomputed from
-- scratch by `cityd rollup-rebuild`. Nothing else writes them; a request never scans cases.
--
-- scope_id is a region (city, district, street or community) containing the case's region, or
-- 0 for "every case" (admins): a case counts once in each of its regions' scopes, so a leader
-- reads exactly one scope. day is the local (UTC+8) date.

-- rollup_cases: what the rollup knows of each case, replayed from its timeline.
--   late: some step of the case ran past its time limit (it is not 按期结案 when closed).
--   dispatcher_id: who dispatched it last (NULL: the auto rule), for 准确派遣率.
CREATE TABLE rollup_cases (
  case_id BIGINT NOT NULL PRIMARY KEY,
  state VARCHAR(16) NOT NULL,
  step VARCHAR(16) NOT NULL,
  due_at DATETIME(3) NULL,
  overdue TINYINT NOT NULL DEFAULT 0,
  late TINYINT NOT NULL DEFAULT 0,
  department_id BIGINT NULL,
  dispatcher_id BIGINT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- dash_day: per scope and day, the flows (new reports by source, closed, closed on time) and
-- the changes of the stocks (open, urgent open, overdue open): the stock at the end of a day is
-- the sum of the deltas up to that day.
CREATE TABLE dash_day (
  scope_id BIGINT NOT NULL,
  day DATE NOT NULL,
  new_inspector INT NOT NULL DEFAULT 0,
  new_citizen INT NOT NULL DEFAULT 0,
  new_hotline INT NOT NULL DEFAULT 0,
  new_video_ai INT NOT NULL DEFAULT 0,
  new_leader INT NOT NULL DEFAULT 0,
  closed INT NOT NULL DEFAULT 0,
  closed_on_time INT NOT NULL DEFAULT 0,
  open_delta INT NOT NULL DEFAULT 0,
  urgent_delta INT NOT NULL DEFAULT 0,
  overdue_delta INT NOT NULL DEFAULT 0,
  PRIMARY KEY (scope_id, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Hotspots: new reports per scope and day by 小类, by grid (0 = outside every grid), by local
-- hour of the report, and by heat-map cell (rollup.h: 250 m cells, cy/cx as documented there).
CREATE TABLE dash_category (
  scope_id BIGINT NOT NULL,
  day DATE NOT NULL,
  category_id BIGINT NOT NULL,
  n INT NOT NULL DEFAULT 0,
  PRIMARY KEY (scope_id, day, category_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE dash_grid (
  scope_id BIGINT NOT NULL,
  day DATE NOT NULL,
  grid_id BIGINT NOT NULL,
  n INT NOT NULL DEFAULT 0,
  PRIMARY KEY (scope_id, day, grid_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE dash_hour (
  scope_id BIGINT NOT NULL,
  day DATE NOT NULL,
  hour TINYINT NOT NULL,
  n INT NOT NULL DEFAULT 0,
  PRIMARY KEY (scope_id, day, hour)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE dash_cell (
  scope_id BIGINT NOT NULL,
  day DATE NOT NULL,
  cy INT NOT NULL,
  cx INT NOT NULL,
  n INT NOT NULL DEFAULT 0,
  PRIMARY KEY (scope_id, day, cy, cx)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- dash_staff: staff who acted on a case of the scope that day (the on-duty count until the
-- attendance module exists).
CREATE TABLE dash_staff (
  scope_id BIGINT NOT NULL,
  day DATE NOT NULL,
  user_id BIGINT NOT NULL,
  PRIMARY KEY (scope_id, day, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- dash_hot: open cases that are urgent or overdue, per scope, ordered by their running time
-- limit (the leader's 紧急/超期 list); due_at 9999-12-31 when no limit runs (挂账).
CREATE TABLE dash_hot (
  scope_id BIGINT NOT NULL,
  case_id BIGINT NOT NULL,
  due_at DATETIME(3) NOT NULL,
  urgent TINYINT NOT NULL,
  overdue TINYINT NOT NULL,
  PRIMARY KEY (scope_id, case_id),
  KEY dash_hot_due (scope_id, due_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- dash_tiles: the live-tile seam. A row per scope whose summary changed, with the time of the
-- last change; a publisher sends the scope's summary as a "latest value" topic at most once a
-- second (dashboard.h).
CREATE TABLE dash_tiles (
  scope_id BIGINT NOT NULL PRIMARY KEY,
  changed_at DATETIME(3) NOT NULL,
  KEY dash_tiles_changed (changed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- eval_marks: one row per case and evaluated duty (考评), with whether it went well and why
-- not: the drill-down of every indicator. subject is a user (监督员, 值班长, 派遣员) or a
-- department (专业部门); indicator is an evaluation.h name. day is the local date of the step
-- that created the mark; a later step may settle it (ok, reason) or drop it.
CREATE TABLE eval_marks (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  case_id BIGINT NOT NULL,
  region_id BIGINT NULL,
  day DATE NOT NULL,
  subject_type ENUM('user','department') NOT NULL,
  subject_id BIGINT NOT NULL,
  indicator VARCHAR(24) NOT NULL,
  ok TINYINT NOT NULL,
  reason VARCHAR(64) NOT NULL DEFAULT '',
  step_id BIGINT NOT NULL,
  KEY eval_marks_case (case_id),
  KEY eval_marks_subject (subject_type, subject_id, indicator, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- eval_day: the marks summed per scope, day, subject and indicator (num = marks that went well).
CREATE TABLE eval_day (
  scope_id BIGINT NOT NULL,
  day DATE NOT NULL,
  subject_type ENUM('user','department') NOT NULL,
  subject_id BIGINT NOT NULL,
  indicator VARCHAR(24) NOT NULL,
  num INT NOT NULL DEFAULT 0,
  den INT NOT NULL DEFAULT 0,
  PRIMARY KEY (scope_id, day, subject_type, subject_id, indicator)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- eval_settings: per city (a region of level city; 0 = the default of every city without a row)
-- the weights of the composite score (w_<indicator>, relative within each role; 0 leaves the
-- indicator out) and the lower bounds of grades A-D (below grade_d is E). Changed by admins
-- through PUT /api/v1/admin/evaluation/settings (audited). Defaults: domain.md 4.5.
CREATE TABLE eval_settings (
  city_id BIGINT NOT NULL PRIMARY KEY,
  w_valid_report DOUBLE NOT NULL DEFAULT 40,
  w_on_time_verify DOUBLE NOT NULL DEFAULT 20,
  w_on_time_check DOUBLE NOT NULL DEFAULT 20,
  w_on_time_register DOUBLE NOT NULL DEFAULT 25,
  w_accurate_register DOUBLE NOT NULL DEFAULT 40,
  w_on_time_close DOUBLE NOT NULL DEFAULT 35,
  w_on_time_dispatch DOUBLE NOT NULL DEFAULT 40,
  w_accurate_dispatch DOUBLE NOT NULL DEFAULT 40,
  w_on_time_handle DOUBLE NOT NULL DEFAULT 30,
  w_rework_rate DOUBLE NOT NULL DEFAULT 30,
  w_close_rate DOUBLE NOT NULL DEFAULT 30,
  grade_a DOUBLE NOT NULL DEFAULT 90,
  grade_b DOUBLE NOT NULL DEFAULT 75,
  grade_c DOUBLE NOT NULL DEFAULT 60,
  grade_d DOUBLE NOT NULL DEFAULT 40,
  updated_by BIGINT NULL,
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO eval_settings (city_id) VALUES (0);
