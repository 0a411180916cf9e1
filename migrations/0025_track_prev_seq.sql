-- 0025_track_prev_seq: a GPS batch takes its device's row lock, raises max_seq and learns the
-- value before in one statement (INSERT … ON DUPLICATE KEY UPDATE prev_max_seq = max_seq,
-- max_seq = GREATEST(…) RETURNING id, prev_max_seq; api/domain/track.c lock_device), where it
-- used to read max_seq FOR UPDATE and write it back afterwards. prev_max_seq is that scratch
-- copy: the max_seq before the device's latest batch (-1 for a device's first).
ALTER TABLE track_devices ADD COLUMN prev_max_seq BIGINT NOT NULL DEFAULT -1;
