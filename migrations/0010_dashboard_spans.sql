-- 0010_dashboard_spans: hotspot and 考评 rollups also per week and per month, so a long period
-- reads whole months and weeks and days only at its edges (rollup.h, rollup_period_sql).
-- span: 0 = the local day `day`, 1 = the week (Monday to Sunday) starting `day`, 2 = the month
-- starting `day`. Rows written before this migration are days: run `cityd rollup-rebuild`
-- once after it to fill the weeks and months.
ALTER TABLE dash_category ADD COLUMN span TINYINT NOT NULL DEFAULT 0 AFTER scope_id,
  DROP PRIMARY KEY, ADD PRIMARY KEY (scope_id, span, day, category_id);
ALTER TABLE dash_grid ADD COLUMN span TINYINT NOT NULL DEFAULT 0 AFTER scope_id,
  DROP PRIMARY KEY, ADD PRIMARY KEY (scope_id, span, day, grid_id);
ALTER TABLE dash_hour ADD COLUMN span TINYINT NOT NULL DEFAULT 0 AFTER scope_id,
  DROP PRIMARY KEY, ADD PRIMARY KEY (scope_id, span, day, hour);
ALTER TABLE dash_cell ADD COLUMN span TINYINT NOT NULL DEFAULT 0 AFTER scope_id,
  DROP PRIMARY KEY, ADD PRIMARY KEY (scope_id, span, day, cy, cx);
ALTER TABLE eval_day ADD COLUMN span TINYINT NOT NULL DEFAULT 0 AFTER scope_id,
  DROP PRIMARY KEY, ADD PRIMARY KEY (scope_id, span, day, subject_type, subject_id, indicator);
-- The dashboard's urgings of a period (the table is 0005's; only this index is added).
ALTER TABLE case_urgings ADD KEY case_urgings_sent (sent_at);
