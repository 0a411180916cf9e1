-- 0015_track_seq: a point is stored once per (device, seq), whatever its fix time.
--
-- track_points' primary key holds t because the table is partitioned by t, so it alone cannot
-- refuse a resend whose device_time changed (a phone that re-stamps a queued fix). Ingest
-- locks the device's row, and checks the points whose seq is not above max_seq (the highest
-- seq stored for the device) against track_points_seq; points above it are new by
-- definition, so a phone sending in order pays one locked read.
ALTER TABLE track_devices ADD COLUMN max_seq BIGINT NOT NULL DEFAULT -1;
ALTER TABLE track_points ADD KEY track_points_seq (dev_id, seq);
UPDATE track_devices d SET max_seq = COALESCE((SELECT MAX(p.seq) FROM track_points p
                                               WHERE p.dev_id = d.id), -1);
