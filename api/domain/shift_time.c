/* api/domain/shift_time.c: see shift_time.h. */
#include "shift_time.h"

#include <stdio.h>
#include "citytime.h"

#define DAY_MS INT64_C(86400000)
#define MIN_MS INT64_C(60000)

bool shift_times_valid(const struct shift_times *s)
{
    if (s->start_min < 0 || s->start_min >= SHIFT_DAY_MIN)
        return false;
    /* An overnight end is below start, so at most 23:59 (midnight is 24:00, the same day). */
    return s->end_min >= 1 && s->end_min <= SHIFT_DAY_MIN && s->end_min != s->start_min;
}

bool shift_overnight(const struct shift_times *s)
{
    return s->end_min < s->start_min;
}

int shift_wday(int64_t day)
{
    return (int)(((day + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
}

void shift_place_at(const struct shift_times *s, bool in, int64_t now_ms, int64_t off_ms,
                    struct shift_place *out)
{
    int64_t day = citytime_day(now_ms, off_ms);
    int64_t minute = (now_ms + off_ms - day * DAY_MS) / MIN_MS;
    int64_t end = s->end_min;

    if (shift_overnight(s)) {
        end += SHIFT_DAY_MIN;
        /* A check-in before end_min is the night that started yesterday (late); a check-out
         * before start_min closes that night too. */
        if (minute < (in ? s->end_min : s->start_min)) {
            day--;
            minute += SHIFT_DAY_MIN;
        }
    }
    out->day = day;
    out->wday = shift_wday(day);
    out->scheduled = (s->days & (1u << out->wday)) != 0;
    out->minute = minute;
    out->mark = SHIFT_ON_TIME;
    if (!out->scheduled)
        return;
    if (in && minute > s->start_min + s->grace_min)
        out->mark = SHIFT_LATE;
    else if (!in && minute < end - s->grace_min)
        out->mark = SHIFT_EARLY_LEAVE;
}

void shift_place_out(const struct shift_times *s, int64_t day, int64_t now_ms, int64_t off_ms,
                     struct shift_place *out)
{
    int64_t end = s->end_min + (shift_overnight(s) ? SHIFT_DAY_MIN : 0);
    int64_t since = now_ms + off_ms - day * DAY_MS;

    out->day = day;
    out->wday = shift_wday(day);
    out->scheduled = (s->days & (1u << out->wday)) != 0;
    /* Whole minutes, rounded down also before that midnight (a clock moved back). */
    out->minute = since >= 0 ? since / MIN_MS : -((-since + MIN_MS - 1) / MIN_MS);
    out->mark = SHIFT_ON_TIME;
    if (out->scheduled && out->minute < end - s->grace_min)
        out->mark = SHIFT_EARLY_LEAVE;
}

void shift_instance(const struct shift_times *s, int64_t day, int64_t off_ms, int64_t *start,
                    int64_t *end)
{
    int64_t midnight = day * DAY_MS - off_ms;

    *start = midnight + s->start_min * MIN_MS;
    *end = midnight + (s->end_min + (shift_overnight(s) ? SHIFT_DAY_MIN : 0)) * MIN_MS;
}

bool shift_due(const struct shift_times *s, int64_t day, int64_t now_ms, int64_t off_ms)
{
    int64_t start, end;

    shift_instance(s, day, off_ms, &start, &end);
    /* Late is after start + grace in whole minutes: the window closes a minute later. */
    return now_ms >= start + (s->grace_min + 1) * MIN_MS;
}

int64_t shift_auto_out_at(const struct shift_times *s, int64_t day, int64_t in_ms, int64_t off_ms,
                          int after_min, int max_hours)
{
    int64_t start, end;

    if (s && (s->days & (1u << shift_wday(day)))) {
        shift_instance(s, day, off_ms, &start, &end);
        if (in_ms < end)
            return after_min > 0 ? end + after_min * MIN_MS : 0;
    }
    return max_hours > 0 ? in_ms + max_hours * 60 * MIN_MS : 0;
}
