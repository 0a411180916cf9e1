-- 0005_cases: cases (案卷) and their workflow — timeline, deadlines (时限), 督办, ratings,
-- dispatch rules, the work calendar's holidays, tunables, and 专项普查 surveys.
--
-- The state machine itself lives in code (api/domain/workflow.c); the tables store its wire
-- names. Every change to a case bumps cases.version (optimistic concurrency) and writes one
-- case_steps row, one events row (0001) and one audit_log row in the same transaction.

-- case_settings: one row of tunables, editable by SQL (an admin API may come later).
--   dup_radius_m / dup_window_h: a report lists open cases of the same 小类 within this
--     distance and age as possible duplicates.
--   escalate_pct: a running step escalates (case.escalated) at this share of its time limit,
--     after the 50 % / 80 % reminders and the 100 % overdue mark.
--   work_periods: the working periods of a day for the work calendar ("08:30-12:00,...").
--   utc_offset_min: the city's fixed offset (China: +480, no DST).
CREATE TABLE case_settings (
  id TINYINT NOT NULL PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  dup_radius_m INT NOT NULL DEFAULT 50 CHECK (dup_radius_m BETWEEN 0 AND 5000),
  dup_window_h INT NOT NULL DEFAULT 72 CHECK (dup_window_h BETWEEN 0 AND 8760),
  escalate_pct INT NOT NULL DEFAULT 150 CHECK (escalate_pct BETWEEN 100 AND 1000),
  work_periods VARCHAR(128) NOT NULL DEFAULT '08:30-12:00,13:30-17:30',
  utc_offset_min INT NOT NULL DEFAULT 480,
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO case_settings (id) VALUES (1);

-- work_calendar_days: holidays (working = 0, even on a weekday) and make-up working days
-- (working = 1, 调休: a weekend day that is worked). Dates are local (UTC+8). Read by the
-- deadline arithmetic on top of the default calendar (Monday to Friday).
CREATE TABLE work_calendar_days (
  day DATE NOT NULL PRIMARY KEY,
  working TINYINT NOT NULL CHECK (working IN (0, 1)),
  note VARCHAR(64) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- cases: one report and where it stands.
--   case_no is not stored: it is the local report date and the id ("20261123-000123").
--   state/step are workflow.h wire names. step is the timed step now running ('none' when no
--     deadline runs), step_started_at its start, due_at its limit. The alert points
--     (remind50_at, remind80_at, due_at, escalate_at) are computed once per step on the work
--     calendar; next_alert_at is the earliest one not yet raised and alert_level how many were
--     (0 none, 1 = 50 %, 2 = 80 %, 3 = 100 % overdue, 4 = escalated), so the scheduler reads
--     only due rows through one index.
--   grid_id is NULL outside every grid; region_id is the grid's region (leaders' jurisdiction).
CREATE TABLE cases (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  code_set VARCHAR(16) NOT NULL,
  category_id BIGINT NOT NULL,
  kind ENUM('component','event') NOT NULL,
  urgency ENUM('normal','urgent') NOT NULL DEFAULT 'normal',
  source ENUM('inspector','citizen','hotline','video_ai','leader') NOT NULL,
  description VARCHAR(1000) NOT NULL,
  lat DOUBLE NOT NULL CHECK (lat BETWEEN -90 AND 90),
  lng DOUBLE NOT NULL CHECK (lng BETWEEN -180 AND 180),
  accuracy_m DOUBLE NULL,
  address VARCHAR(256) NULL,
  pt POINT NOT NULL,
  grid_id BIGINT NULL,
  region_id BIGINT NULL,
  department_id BIGINT NULL,
  assignee_id BIGINT NULL,
  reporter_id BIGINT NULL,
  state VARCHAR(16) NOT NULL,
  version INT NOT NULL DEFAULT 1,
  rework_count INT NOT NULL DEFAULT 0,
  extension_pending TINYINT NOT NULL DEFAULT 0 CHECK (extension_pending IN (0, 1)),
  extension_hours INT NULL,
  duplicate_of BIGINT NULL,
  step VARCHAR(16) NOT NULL DEFAULT 'none',
  step_started_at DATETIME(3) NULL,
  due_at DATETIME(3) NULL,
  remind50_at DATETIME(3) NULL,
  remind80_at DATETIME(3) NULL,
  escalate_at DATETIME(3) NULL,
  next_alert_at DATETIME(3) NULL,
  alert_level TINYINT NOT NULL DEFAULT 0,
  overdue TINYINT NOT NULL DEFAULT 0 CHECK (overdue IN (0, 1)),
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  closed_at DATETIME(3) NULL,
  SPATIAL KEY cases_pt (pt),
  KEY cases_state_due (state, due_at),
  KEY cases_dept_state (department_id, state, due_at),
  KEY cases_grid_state (grid_id, state),
  KEY cases_reporter (reporter_id, id),
  KEY cases_category_state (category_id, state, created_at),
  KEY cases_next_alert (next_alert_at),
  KEY cases_created (created_at),
  CONSTRAINT cases_category_fk FOREIGN KEY (category_id) REFERENCES categories (id),
  CONSTRAINT cases_grid_fk FOREIGN KEY (grid_id) REFERENCES grids (id),
  CONSTRAINT cases_department_fk FOREIGN KEY (department_id) REFERENCES departments (id),
  CONSTRAINT cases_assignee_fk FOREIGN KEY (assignee_id) REFERENCES users (id),
  CONSTRAINT cases_reporter_fk FOREIGN KEY (reporter_id) REFERENCES users (id),
  CONSTRAINT cases_duplicate_fk FOREIGN KEY (duplicate_of) REFERENCES cases (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- case_steps: the timeline. One row per report, workflow action, automatic dispatch and
-- deadline alert; photos is the JSON array of media public ids attached with the step (the
-- media_attachments rows, owner 'case', carry the access rule).
CREATE TABLE case_steps (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  case_id BIGINT NOT NULL,
  action VARCHAR(24) NOT NULL,
  from_state VARCHAR(16) NULL,
  to_state VARCHAR(16) NOT NULL,
  actor_id BIGINT NULL,
  actor_role VARCHAR(16) NOT NULL,
  text VARCHAR(1000) NULL,
  department_id BIGINT NULL,
  assignee_id BIGINT NULL,
  step VARCHAR(16) NOT NULL DEFAULT 'none',
  due_at DATETIME(3) NULL,
  photos VARCHAR(512) NOT NULL DEFAULT '[]',
  created_at DATETIME(3) NOT NULL,
  KEY case_steps_case (case_id, id),
  CONSTRAINT case_steps_case_fk FOREIGN KEY (case_id) REFERENCES cases (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- case_urgings: 督办. A leader urges a case; the department that holds it (at the time of the
-- urging) reads and acknowledges it.
CREATE TABLE case_urgings (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  case_id BIGINT NOT NULL,
  leader_id BIGINT NOT NULL,
  note VARCHAR(500) NOT NULL,
  department_id BIGINT NULL,
  assignee_id BIGINT NULL,
  sent_at DATETIME(3) NOT NULL,
  read_at DATETIME(3) NULL,
  read_by BIGINT NULL,
  acked_at DATETIME(3) NULL,
  acked_by BIGINT NULL,
  ack_text VARCHAR(500) NULL,
  KEY case_urgings_case (case_id, id),
  KEY case_urgings_dept (department_id, acked_at),
  KEY case_urgings_leader (leader_id, id),
  CONSTRAINT case_urgings_case_fk FOREIGN KEY (case_id) REFERENCES cases (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- case_ratings: the reporting citizen's rating after closing, once per case.
CREATE TABLE case_ratings (
  case_id BIGINT NOT NULL PRIMARY KEY,
  citizen_id BIGINT NOT NULL,
  score TINYINT NOT NULL CHECK (score BETWEEN 1 AND 5),
  text VARCHAR(500) NULL,
  created_at DATETIME(3) NOT NULL,
  CONSTRAINT case_ratings_case_fk FOREIGN KEY (case_id) REFERENCES cases (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- dispatch_rules: 属地 (grid) + 专业 (category) → department. NULL grid or category matches any;
-- the most specific rule wins (both set, then category only, then grid only). auto = 1
-- dispatches at 立案 without a dispatcher; auto = 0 only suggests.
CREATE TABLE dispatch_rules (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  grid_id BIGINT NULL,
  category_id BIGINT NULL,
  department_id BIGINT NOT NULL,
  auto TINYINT NOT NULL DEFAULT 0 CHECK (auto IN (0, 1)),
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY dispatch_rules_match (category_id, grid_id),
  CONSTRAINT dispatch_rules_department_fk FOREIGN KEY (department_id) REFERENCES departments (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- surveys: 专项普查. A dispatcher defines a checklist (fields: JSON array of
-- {"name","type","required"}), the target grids and the period; inspectors submit items.
CREATE TABLE surveys (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  title VARCHAR(128) NOT NULL,
  fields LONGTEXT NOT NULL CHECK (JSON_VALID(fields)),
  starts_at DATETIME(3) NOT NULL,
  ends_at DATETIME(3) NOT NULL,
  created_by BIGINT NOT NULL,
  created_at DATETIME(3) NOT NULL,
  KEY surveys_period (ends_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE survey_grids (
  survey_id BIGINT NOT NULL,
  grid_id BIGINT NOT NULL,
  PRIMARY KEY (survey_id, grid_id),
  KEY survey_grids_grid (grid_id),
  CONSTRAINT survey_grids_survey_fk FOREIGN KEY (survey_id) REFERENCES surveys (id),
  CONSTRAINT survey_grids_grid_fk FOREIGN KEY (grid_id) REFERENCES grids (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE survey_items (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  survey_id BIGINT NOT NULL,
  grid_id BIGINT NOT NULL,
  inspector_id BIGINT NOT NULL,
  lat DOUBLE NOT NULL,
  lng DOUBLE NOT NULL,
  answers LONGTEXT NOT NULL CHECK (JSON_VALID(answers)),
  photos VARCHAR(512) NOT NULL DEFAULT '[]',
  created_at DATETIME(3) NOT NULL,
  KEY survey_items_survey (survey_id, grid_id),
  CONSTRAINT survey_items_survey_fk FOREIGN KEY (survey_id) REFERENCES surveys (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
