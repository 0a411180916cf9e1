-- 0030_checkin_auto_out: the automatic check-out (docs/attendance.md). A forgotten check-out is
-- made by a job after the shift instance's end + gps.auto_checkout_after_min (or after
-- gps.max_duty_hours without one) as a checkins row of type out with status 'auto': the phone
-- sent nothing, so it has no position — lat, lng and accuracy_m are NULL for it (and only for
-- it: a check-in or check-out of a person always has them).
ALTER TABLE checkins
  MODIFY lat DOUBLE NULL,
  MODIFY lng DOUBLE NULL,
  MODIFY accuracy_m DOUBLE NULL;
