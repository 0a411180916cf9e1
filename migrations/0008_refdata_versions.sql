-- 0008_refdata_versions: change counters for the read-mostly data every report reads
-- (categories, case settings, work calendar, grids), so that each cityd process can keep them
-- in memory (api/domain/refdata.c) and still see an admin's change with the very next request.
--
-- One row; a column per kind of data. The triggers bump a column in the same transaction as
-- the change, whoever makes it (the API, `cityd seed-demo`, a migration, an operator at the
-- mariadb prompt), so a counter can never lag behind a committed change. A process compares
-- the counters it read with a plain primary-key SELECT against the ones its copies were loaded
-- under and reloads only what moved: correct across any number of processes, no TTL.
CREATE TABLE refdata_versions (
  id TINYINT NOT NULL PRIMARY KEY,
  categories BIGINT NOT NULL DEFAULT 0,
  case_settings BIGINT NOT NULL DEFAULT 0,
  work_calendar BIGINT NOT NULL DEFAULT 0,
  grids BIGINT NOT NULL DEFAULT 0,
  CONSTRAINT refdata_versions_one CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO refdata_versions (id) VALUES (1);

CREATE TRIGGER categories_ai AFTER INSERT ON categories FOR EACH ROW
  UPDATE refdata_versions SET categories = categories + 1 WHERE id = 1;
CREATE TRIGGER categories_au AFTER UPDATE ON categories FOR EACH ROW
  UPDATE refdata_versions SET categories = categories + 1 WHERE id = 1;
CREATE TRIGGER categories_ad AFTER DELETE ON categories FOR EACH ROW
  UPDATE refdata_versions SET categories = categories + 1 WHERE id = 1;

CREATE TRIGGER case_settings_ai AFTER INSERT ON case_settings FOR EACH ROW
  UPDATE refdata_versions SET case_settings = case_settings + 1 WHERE id = 1;
CREATE TRIGGER case_settings_au AFTER UPDATE ON case_settings FOR EACH ROW
  UPDATE refdata_versions SET case_settings = case_settings + 1 WHERE id = 1;
CREATE TRIGGER case_settings_ad AFTER DELETE ON case_settings FOR EACH ROW
  UPDATE refdata_versions SET case_settings = case_settings + 1 WHERE id = 1;

CREATE TRIGGER work_calendar_days_ai AFTER INSERT ON work_calendar_days FOR EACH ROW
  UPDATE refdata_versions SET work_calendar = work_calendar + 1 WHERE id = 1;
CREATE TRIGGER work_calendar_days_au AFTER UPDATE ON work_calendar_days FOR EACH ROW
  UPDATE refdata_versions SET work_calendar = work_calendar + 1 WHERE id = 1;
CREATE TRIGGER work_calendar_days_ad AFTER DELETE ON work_calendar_days FOR EACH ROW
  UPDATE refdata_versions SET work_calendar = work_calendar + 1 WHERE id = 1;

CREATE TRIGGER grids_ai AFTER INSERT ON grids FOR EACH ROW
  UPDATE refdata_versions SET grids = grids + 1 WHERE id = 1;
CREATE TRIGGER grids_au AFTER UPDATE ON grids FOR EACH ROW
  UPDATE refdata_versions SET grids = grids + 1 WHERE id = 1;
CREATE TRIGGER grids_ad AFTER DELETE ON grids FOR EACH ROW
  UPDATE refdata_versions SET grids = grids + 1 WHERE id = 1;
