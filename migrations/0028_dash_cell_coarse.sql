-- 0028_dash_cell_coarse: heat-map cells of 500 m and 1 km for longer periods (rollup.h,
-- dashboard.h). A busy city has ~2,000 active 250 m cells a day and ~4,600 a week or month, so
-- the heat map of 30 days summed ~27,000 rows and that of a year ~81,000 (17 and 44 ms of
-- MariaDB time alone at 1,000,000 cases, docs/benchmarks.md). A period up to 7 days keeps 250 m
-- cells (dash_cell), up to 31 days reads 500 m and a longer one 1 km cells from here: about 4
-- and 16 times fewer rows. Same spans as dash_cell; cell_m is 500 or 1000; cy = floor(lat x
-- 111320 / cell_m), cx = floor(lng x 111320 x cos(row centre latitude) / cell_m), computed from
-- the case's point (not merged from smaller cells: a row's columns follow its own centre).
CREATE TABLE IF NOT EXISTS dash_cell_coarse (
  scope_id BIGINT NOT NULL,
  cell_m SMALLINT NOT NULL,
  span TINYINT NOT NULL DEFAULT 0,
  day DATE NOT NULL,
  cy INT NOT NULL,
  cx INT NOT NULL,
  n INT NOT NULL DEFAULT 0,
  PRIMARY KEY (scope_id, cell_m, span, day, cy, cx)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Filled here from the existing reports as rollup_step would have: each report row counts in
-- scope 0 and in each region of its case's chain, on its local (UTC+8) day, and in that day's
-- week (from Monday) and month; the cell arithmetic in doubles as rollup_cell_of's.
-- `cityd rollup-rebuild` recomputes it with everything else. On a large database this takes a
-- while (about 2 minutes at 1,000,000 cases): run `cityd migrate` with a db.read_timeout_s
-- long enough; after a failed attempt the migration can simply run again.
DELETE FROM dash_cell_coarse;
CREATE TEMPORARY TABLE dash_cell_coarse_fill (
  region_id BIGINT NULL,
  cell_m SMALLINT NOT NULL,
  day DATE NOT NULL,
  cy INT NOT NULL,
  cx INT NOT NULL,
  n INT NOT NULL
) ENGINE=InnoDB;
INSERT INTO dash_cell_coarse_fill (region_id, cell_m, day, cy, cx, n)
SELECT r.region_id, m.cell_m, r.day,
  FLOOR(r.lat * 111320e0 / m.cell_m),
  FLOOR(r.lng * 111320e0 * GREATEST(COS((FLOOR(r.lat * 111320e0 / m.cell_m) + 0.5e0) * m.cell_m
    / 111320e0 * PI() / 180e0), 0.01e0) / m.cell_m), COUNT(*)
FROM (SELECT c.region_id, DATE(s.created_at + INTERVAL 8 HOUR) AS day, c.lat, c.lng
      FROM case_steps s JOIN cases c ON c.id = s.case_id WHERE s.action = 'report') r
  JOIN (SELECT 500e0 AS cell_m UNION ALL SELECT 1000e0) m
GROUP BY 1, 2, 3, 4, 5;
INSERT INTO dash_cell_coarse (scope_id, cell_m, span, day, cy, cx, n)
SELECT sc.scope_id, f.cell_m, 0, f.day, f.cy, f.cx, SUM(f.n)
FROM dash_cell_coarse_fill f JOIN (
    SELECT NULL AS region_id, 0 AS scope_id
    UNION ALL SELECT r0.id, 0 FROM regions r0
    UNION ALL SELECT r0.id, r0.id FROM regions r0
    UNION ALL SELECT r0.id, r1.id FROM regions r0 JOIN regions r1 ON r1.id = r0.parent_id
    UNION ALL SELECT r0.id, r2.id FROM regions r0 JOIN regions r1 ON r1.id = r0.parent_id
      JOIN regions r2 ON r2.id = r1.parent_id
    UNION ALL SELECT r0.id, r3.id FROM regions r0 JOIN regions r1 ON r1.id = r0.parent_id
      JOIN regions r2 ON r2.id = r1.parent_id JOIN regions r3 ON r3.id = r2.parent_id
  ) sc ON sc.region_id <=> f.region_id
GROUP BY 1, 2, 4, 5, 6;
INSERT INTO dash_cell_coarse (scope_id, cell_m, span, day, cy, cx, n)
SELECT scope_id, cell_m, 1, day - INTERVAL WEEKDAY(day) DAY, cy, cx, SUM(n)
FROM dash_cell_coarse WHERE span = 0 GROUP BY 1, 2, 4, 5, 6;
INSERT INTO dash_cell_coarse (scope_id, cell_m, span, day, cy, cx, n)
SELECT scope_id, cell_m, 2, day - INTERVAL (DAYOFMONTH(day) - 1) DAY, cy, cx, SUM(n)
FROM dash_cell_coarse WHERE span = 0 GROUP BY 1, 2, 4, 5, 6;
DROP TEMPORARY TABLE dash_cell_coarse_fill;
