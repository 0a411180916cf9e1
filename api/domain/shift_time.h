/* api/domain/shift_time.h: the clock arithmetic of shift schedules (班次) — which shift
 * instance a check-in or check-out belongs to, whether it is late or an early leave, and
 * when a day's instance is due.
 *
 * A shift runs from start_min to end_min, local minutes of the day. end_min < start_min is an
 * overnight shift (夜班, 20:00–08:00): it ends on the next calendar day. Every instance of a
 * shift belongs to the local day it starts on — its date in the daily summary and the
 * local_date of its check-ins — and that day's weekday decides whether it is scheduled. So a
 * check-out at 07:50 after a night that started on Monday at 20:00 is Monday's.
 *
 * Which instance a time belongs to (overnight shifts; a day shift's is its calendar day): a
 * check-in belongs to the instance that has not ended yet (before end_min: the night that
 * started yesterday, however late; from end_min on: tonight's), a check-out to the instance
 * that has started last (before start_min: the night that started yesterday; from start_min
 * on: tonight's, an early leave). Times are counted in whole minutes (08:05:59 is 08:05) and
 * grace_min applies both to late check-ins and to early check-outs.
 *
 * Pure: no I/O, no allocation, no clock reads. Instants are ms since the epoch, UTC; the city's
 * fixed UTC offset (case_settings.utc_offset_min, in ms) is passed in, so tests inject any
 * clock. Local day numbers count days since 1970-01-01 in local time. */
#ifndef CITYD_DOMAIN_SHIFT_TIME_H
#define CITYD_DOMAIN_SHIFT_TIME_H

#include <stdbool.h>
#include <stdint.h>

#define SHIFT_DAY_MIN 1440

struct shift_times {
    unsigned days; /* bit 0 Monday … bit 6 Sunday */
    int start_min; /* 0..1439 */
    int end_min;   /* 1..1440; below start_min: overnight, ends the next day */
    int grace_min; /* 0..240 */
};

enum shift_mark {
    SHIFT_ON_TIME,     /* or not scheduled: nothing to find */
    SHIFT_LATE,        /* a check-in after start + grace */
    SHIFT_EARLY_LEAVE, /* a check-out before end - grace */
};

struct shift_place {
    int64_t day;    /* local day the instance starts on */
    int wday;       /* its weekday, 0 Monday … 6 Sunday */
    bool scheduled; /* that weekday is one of the shift's days */
    int64_t minute; /* whole minutes since that day's local midnight (>= 1440 after it) */
    enum shift_mark mark;
};

/* Whether the times make a shift: 0 <= start <= 1439, 1 <= end <= 1440 and end != start
 * (midnight as an end is 1440). days and grace are not looked at. */
bool shift_times_valid(const struct shift_times *s);

/* Whether s ends on the day after it starts. */
bool shift_overnight(const struct shift_times *s);

/* The weekday of local day day (citytime_day), 0 Monday … 6 Sunday. */
int shift_wday(int64_t day);

/* Place a check-in (in) or check-out (!in) made at now_ms by the clock alone: the instance it
 * belongs to (see above) and, when that instance is scheduled, whether it is late or an early
 * leave. The server places a check-out with shift_place_out, in the instance of the check-in
 * it closes; the clock rule for it is what a check-out would be without one. */
void shift_place_at(const struct shift_times *s, bool in, int64_t now_ms, int64_t off_ms,
                    struct shift_place *out);

/* Place a check-out made at now_ms in the instance of local day day — the instance of the
 * check-in it closes, however long ago that was: a night worker who forgets to check out and
 * does so the next evening has not left early, and the check-out stays on the night it ends.
 * minute counts from that day's local midnight (2,910 is 00:30 two days on). */
void shift_place_out(const struct shift_times *s, int64_t day, int64_t now_ms, int64_t off_ms,
                     struct shift_place *out);

/* The start and end instants (UTC ms) of the instance of local day day. */
void shift_instance(const struct shift_times *s, int64_t day, int64_t off_ms, int64_t *start,
                    int64_t *end);

/* Whether the late window of day's instance has closed by now_ms (start + grace passed, in
 * whole minutes): from then on no check-in that day means absent; before, it is pending. */
bool shift_due(const struct shift_times *s, int64_t day, int64_t now_ms, int64_t off_ms);

/* When an open duty interval is closed by the automatic check-out (UTC ms; 0: never). The
 * check-in at in_ms for local day day belongs to that day's shift instance when s is given
 * (the shift the check-in was judged against, else NULL), the day is one of its weekdays and
 * in_ms is before the instance's end: then the duty closes at that end + after_min minutes
 * (after_min 0: never). Any other duty — no shift, an unscheduled day, a check-in at or after
 * its instance's end (overtime) — closes once it has lasted max_hours hours (0: never). */
int64_t shift_auto_out_at(const struct shift_times *s, int64_t day, int64_t in_ms, int64_t off_ms,
                          int after_min, int max_hours);

#endif
