-- 0015_citizen_reports: citizens' reports (随手拍) — limits and photo rules (api/domain/citizen.h).
--
-- cases.source_ip: the source address of a citizen's report as lockout_source keys it (IPv6 by
--   /64); NULL for every other source. With (reporter_id, created_at) it lets the per-user
--   and per-address limits count the reports of the last hour and day through an index.
-- categories.photo_required: a citizen's or inspector's report of the category must carry at
--   least one photo (admins set it with PATCH /api/v1/categories/{id}).
ALTER TABLE cases
  ADD COLUMN source_ip VARCHAR(48) NULL,
  ADD KEY cases_reporter_created (reporter_id, created_at),
  ADD KEY cases_source_ip_created (source_ip, created_at);

ALTER TABLE categories
  ADD COLUMN photo_required TINYINT NOT NULL DEFAULT 0 CHECK (photo_required IN (0, 1));
