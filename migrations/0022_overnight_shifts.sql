-- 0022_overnight_shifts: a shift may end before it starts — an overnight shift (夜班,
-- 20:00–08:00) that ends the next day (api/domain/shift_time.h). 0011 required end > start
-- with an unnamed table CHECK, which MariaDB named CONSTRAINT_1; what stays is that a shift
-- does not end when it starts (the columns' own ranges are unchanged: start 0..1439, end
-- 1..1440, so midnight as an end is 1440).
ALTER TABLE shifts DROP CONSTRAINT CONSTRAINT_1;
ALTER TABLE shifts ADD CONSTRAINT shifts_not_empty CHECK (end_min <> start_min);
