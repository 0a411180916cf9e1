/* tests/unit/test_shift_time.c: api/domain/shift_time.c — which shift instance a check-in or
 * check-out belongs to, late and early leave with grace minutes, day and night shifts, and
 * when a day's instance is due (absent from then on).
 *
 * Instants are built with glibc's timegm(), independent of the module's own day arithmetic; wall
 * times are China time (UTC+08:00) unless a test says otherwise. Weekdays used: 2026-12-07 Mon,
 * 2026-12-11 Fri, 2026-12-12 Sat, 2026-12-13 Sun, 2026-12-31 Thu, 2027-01-01 Fri. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "api/domain/citytime.h"
#include "api/domain/shift_time.h"
#include "wall_time.h"

#define MIN INT64_C(60000)
#define CN (480 * MIN)

/* A wall time in China. */
static int64_t at(int y, int mo, int d, int h, int mi)
{
    return wall_ms(y, mo, d, h, mi, 0, CN);
}

/* The local day number of a date, from timegm (not the module). */
static int64_t day_of(int y, int mo, int d)
{
    return wall_ms(y, mo, d, 0, 0, 0, 0) / (86400 * INT64_C(1000));
}

/* 夜班 20:00–08:00, 15 minutes' grace, every day. */
static const struct shift_times night = {
    .days = 0x7f, .start_min = 1200, .end_min = 480, .grace_min = 15};
/* 白班 08:00–17:00, 5 minutes' grace, Monday to Friday. */
static const struct shift_times day_shift = {
    .days = 0x1f, .start_min = 480, .end_min = 1020, .grace_min = 5};

static struct shift_place place(const struct shift_times *s, bool in, int64_t t)
{
    struct shift_place p;

    memset(&p, 0xA5, sizeof p); /* every field must be written */
    shift_place_at(s, in, t, CN, &p);
    return p;
}

static void date_is(int64_t day, const char *want)
{
    char d[11];

    citytime_day_format(day, d);
    assert_string_equal(d, want);
}

static void test_valid(void **state)
{
    struct shift_times s = night;
    (void)state;

    assert_true(shift_times_valid(&night));
    assert_true(shift_overnight(&night));
    assert_true(shift_times_valid(&day_shift));
    assert_false(shift_overnight(&day_shift));
    s.end_min = s.start_min; /* no length */
    assert_false(shift_times_valid(&s));
    s.start_min = 0;
    s.end_min = 1440; /* 00:00–24:00: a whole day, not overnight */
    assert_true(shift_times_valid(&s));
    assert_false(shift_overnight(&s));
    s.start_min = 1440;
    assert_false(shift_times_valid(&s));
    s.start_min = 1320;
    s.end_min = 0; /* 22:00–00:00 is written 24:00 */
    assert_false(shift_times_valid(&s));
    s.end_min = 1440;
    assert_true(shift_times_valid(&s));
    assert_false(shift_overnight(&s));
    s.start_min = -1;
    assert_false(shift_times_valid(&s));
}

static void test_days(void **state)
{
    (void)state;
    assert_int_equal(citytime_day(at(2026, 12, 7, 0, 0), CN), day_of(2026, 12, 7));
    assert_int_equal(citytime_day(at(2026, 12, 7, 0, 0) - 1, CN), day_of(2026, 12, 6));
    assert_int_equal(citytime_day(at(2026, 12, 7, 23, 59), CN), day_of(2026, 12, 7));
    /* Before 1970 local days still floor. */
    assert_int_equal(citytime_day(-1, 0), -1);
    assert_int_equal(citytime_day(0, CN), 0);
    assert_int_equal(citytime_day(-CN - 1, CN), -1);
    assert_int_equal(shift_wday(day_of(2026, 12, 7)), 0);  /* Monday */
    assert_int_equal(shift_wday(day_of(2026, 12, 13)), 6); /* Sunday */
    assert_int_equal(shift_wday(-1), 2);                   /* 1969-12-31, a Wednesday */
    date_is(day_of(2026, 12, 31), "2026-12-31");
    date_is(day_of(2027, 1, 1), "2027-01-01");
}

/* The brief's boundaries: in at 19:55 and 20:20, out at 07:50 and 08:05 next morning. */
static void test_night_boundaries(void **state)
{
    struct shift_place p;
    int64_t mon = day_of(2026, 12, 7);
    (void)state;

    p = place(&night, true, at(2026, 12, 7, 19, 55));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.minute, 1195);
    assert_true(p.scheduled);
    assert_int_equal(p.mark, SHIFT_ON_TIME);
    /* 20:15 and its last second are within the grace; 20:16 is late. */
    assert_int_equal(place(&night, true, wall_ms(2026, 12, 7, 20, 15, 59, CN)).mark, SHIFT_ON_TIME);
    assert_int_equal(place(&night, true, at(2026, 12, 7, 20, 16)).mark, SHIFT_LATE);
    p = place(&night, true, at(2026, 12, 7, 20, 20));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.mark, SHIFT_LATE);

    /* The next morning's check-outs belong to Monday's night. */
    p = place(&night, false, at(2026, 12, 8, 7, 50));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.minute, 1440 + 470);
    assert_int_equal(p.mark, SHIFT_ON_TIME); /* 10 minutes early, within 15 of grace */
    p = place(&night, false, at(2026, 12, 8, 7, 44));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.mark, SHIFT_EARLY_LEAVE);
    assert_int_equal(place(&night, false, at(2026, 12, 8, 7, 45)).mark, SHIFT_ON_TIME);
    p = place(&night, false, at(2026, 12, 8, 8, 5));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.mark, SHIFT_ON_TIME);
    /* Hours of overtime: still Monday's night until the next one starts. */
    p = place(&night, false, at(2026, 12, 8, 19, 59));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.mark, SHIFT_ON_TIME);
    /* Leaving tonight's shift an hour in: Tuesday's, early. */
    p = place(&night, false, at(2026, 12, 8, 21, 0));
    assert_int_equal(p.day, mon + 1);
    assert_int_equal(p.mark, SHIFT_EARLY_LEAVE);
    /* Just before midnight and just after: the same night. */
    p = place(&night, false, wall_ms(2026, 12, 7, 23, 59, 59, CN));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.mark, SHIFT_EARLY_LEAVE);
    p = place(&night, false, at(2026, 12, 8, 0, 0));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.minute, 1440);
    assert_int_equal(p.mark, SHIFT_EARLY_LEAVE);
}

/* A check-in belongs to the night not yet ended: after midnight, the evening before's (late);
 * once it ended at 08:00, tonight's (early is on time). */
static void test_night_check_in_day(void **state)
{
    struct shift_place p;
    int64_t mon = day_of(2026, 12, 7);
    (void)state;

    p = place(&night, true, at(2026, 12, 8, 0, 30));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.minute, 1470);
    assert_int_equal(p.mark, SHIFT_LATE);
    p = place(&night, true, at(2026, 12, 8, 7, 59));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.mark, SHIFT_LATE);
    p = place(&night, true, at(2026, 12, 8, 8, 0));
    assert_int_equal(p.day, mon + 1);
    assert_int_equal(p.minute, 480);
    assert_int_equal(p.mark, SHIFT_ON_TIME);
    /* New Year's Eve night: the year turns inside the shift. */
    p = place(&night, false, at(2027, 1, 1, 8, 1));
    date_is(p.day, "2026-12-31");
    p = place(&night, true, at(2027, 1, 1, 1, 0));
    date_is(p.day, "2026-12-31");
    assert_int_equal(p.mark, SHIFT_LATE);
}

/* Scheduled or not is the start day's weekday: Friday's night ends on Saturday. */
static void test_night_weekdays(void **state)
{
    struct shift_times fri = night;
    struct shift_place p;
    (void)state;

    fri.days = 1u << 4;                             /* Friday only */
    p = place(&fri, false, at(2026, 12, 12, 7, 0)); /* Saturday morning */
    assert_int_equal(p.day, day_of(2026, 12, 11));
    assert_int_equal(p.wday, 4);
    assert_true(p.scheduled);
    assert_int_equal(p.mark, SHIFT_EARLY_LEAVE);
    p = place(&fri, true, at(2026, 12, 12, 20, 30)); /* Saturday evening: no shift */
    assert_int_equal(p.day, day_of(2026, 12, 12));
    assert_false(p.scheduled);
    assert_int_equal(p.mark, SHIFT_ON_TIME);
    p = place(&fri, true, at(2026, 12, 12, 1, 0)); /* Friday's night, late */
    assert_true(p.scheduled);
    assert_int_equal(p.mark, SHIFT_LATE);
}

/* Day shifts keep the calendar day, as before overnight shifts existed. */
static void test_day_shift(void **state)
{
    struct shift_place p;
    int64_t mon = day_of(2026, 12, 7);
    (void)state;

    p = place(&day_shift, true, wall_ms(2026, 12, 7, 8, 5, 59, CN));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.mark, SHIFT_ON_TIME);
    assert_int_equal(place(&day_shift, true, at(2026, 12, 7, 8, 6)).mark, SHIFT_LATE);
    assert_int_equal(place(&day_shift, false, at(2026, 12, 7, 16, 55)).mark, SHIFT_ON_TIME);
    assert_int_equal(place(&day_shift, false, at(2026, 12, 7, 16, 54)).mark, SHIFT_EARLY_LEAVE);
    p = place(&day_shift, true, at(2026, 12, 7, 0, 10));
    assert_int_equal(p.day, mon);
    assert_int_equal(p.minute, 10);
    p = place(&day_shift, true, at(2026, 12, 12, 9, 0)); /* Saturday: not scheduled */
    assert_false(p.scheduled);
    assert_int_equal(p.mark, SHIFT_ON_TIME);
    /* Another offset: UTC. 08:06 UTC is late, 08:06 China time is 00:06 UTC (on time). */
    {
        struct shift_place q;
        shift_place_at(&day_shift, true, wall_ms(2026, 12, 7, 8, 6, 0, 0), 0, &q);
        assert_int_equal(q.mark, SHIFT_LATE);
        shift_place_at(&day_shift, true, at(2026, 12, 7, 8, 6), 0, &q);
        assert_int_equal(q.mark, SHIFT_ON_TIME);
        assert_int_equal(q.minute, 6);
    }
}

static void test_instance_and_due(void **state)
{
    int64_t start, end, mon = day_of(2026, 12, 7);
    (void)state;

    shift_instance(&night, mon, CN, &start, &end);
    assert_int_equal(start, at(2026, 12, 7, 20, 0));
    assert_int_equal(end, at(2026, 12, 8, 8, 0));
    shift_instance(&day_shift, mon, CN, &start, &end);
    assert_int_equal(start, at(2026, 12, 7, 8, 0));
    assert_int_equal(end, at(2026, 12, 7, 17, 0));
    /* Absent only once start + grace has passed (in whole minutes). */
    assert_false(shift_due(&night, mon, at(2026, 12, 7, 12, 0), CN));
    assert_false(shift_due(&night, mon, wall_ms(2026, 12, 7, 20, 15, 59, CN), CN));
    assert_true(shift_due(&night, mon, at(2026, 12, 7, 20, 16), CN));
    assert_true(shift_due(&night, mon, at(2026, 12, 8, 7, 0), CN));
    /* Tuesday's night is not due on Tuesday morning, while Monday's is still running. */
    assert_false(shift_due(&night, mon + 1, at(2026, 12, 8, 7, 0), CN));
    assert_false(shift_due(&day_shift, mon, at(2026, 12, 7, 8, 5), CN));
    assert_true(shift_due(&day_shift, mon, at(2026, 12, 7, 8, 6), CN));
    assert_true(shift_due(&day_shift, mon - 1, at(2026, 12, 7, 0, 0), CN));
}

static struct shift_place place_out(const struct shift_times *s, int64_t day, int64_t t)
{
    struct shift_place p;

    memset(&p, 0xA5, sizeof p); /* every field must be written */
    shift_place_out(s, day, t, CN, &p);
    return p;
}

/* A check-out placed in the instance of the check-in it closes. */
static void test_check_out_closes_its_check_in(void **state)
{
    int64_t fri = day_of(2026, 12, 11), sat = day_of(2026, 12, 12);
    struct shift_place p;
    (void)state;

    /* Friday's night, out on Saturday at 07:45 (on time) and 07:44 (early). */
    p = place_out(&night, fri, at(2026, 12, 12, 7, 45));
    assert_true(p.day == fri && p.wday == 4 && p.scheduled && p.minute == 1440 + 465);
    assert_int_equal(p.mark, SHIFT_ON_TIME);
    p = place_out(&night, fri, at(2026, 12, 12, 7, 44));
    assert_int_equal(p.mark, SHIFT_EARLY_LEAVE);
    /* Forgotten: out on Saturday evening after 20:00 — by the clock alone that would be
     * Saturday's night and an early leave; it closes Friday's, which ended long ago. */
    assert_int_equal(place(&night, false, at(2026, 12, 12, 20, 30)).mark, SHIFT_EARLY_LEAVE);
    p = place_out(&night, fri, at(2026, 12, 12, 20, 30));
    assert_true(p.day == fri && p.minute == 1440 + 1230);
    assert_int_equal(p.mark, SHIFT_ON_TIME);
    /* Two days on, still Friday's, on time. */
    p = place_out(&night, fri, at(2026, 12, 13, 21, 0));
    assert_true(p.day == fri && p.minute == 2 * 1440 + 1260 && p.mark == SHIFT_ON_TIME);
    /* An early leave the same evening is still one. */
    assert_int_equal(place_out(&night, fri, at(2026, 12, 11, 23, 0)).mark, SHIFT_EARLY_LEAVE);
    /* Day shift: Friday 16:54 early (grace 5), 16:55 on time; Saturday is unscheduled. */
    assert_int_equal(place_out(&day_shift, fri, at(2026, 12, 11, 16, 54)).mark, SHIFT_EARLY_LEAVE);
    assert_int_equal(place_out(&day_shift, fri, at(2026, 12, 11, 16, 55)).mark, SHIFT_ON_TIME);
    p = place_out(&day_shift, sat, at(2026, 12, 12, 9, 0));
    assert_true(!p.scheduled && p.mark == SHIFT_ON_TIME && p.wday == 5);
    /* Before that day's midnight (a clock moved back): minutes round down, early. */
    p = place_out(&day_shift, fri, wall_ms(2026, 12, 10, 23, 59, 30, CN));
    assert_true(p.minute == -1 && p.mark == SHIFT_EARLY_LEAVE);
}

/* When the automatic check-out closes a forgotten duty: the shift instance's end + after_min
 * for a check-in of that instance, else max_hours after the check-in; 0 turns a rule off. */
static void test_auto_out_at(void **state)
{
    int64_t mon = day_of(2026, 12, 7), fri = day_of(2026, 12, 11), sat = day_of(2026, 12, 12);
    int64_t t;
    (void)state;

    /* Day shift, in on Monday at 07:55 (or late at 16:59): closed at 17:00 + 120 min. */
    assert_int_equal(shift_auto_out_at(&day_shift, mon, at(2026, 12, 7, 7, 55), CN, 120, 16),
                     at(2026, 12, 7, 19, 0));
    assert_int_equal(shift_auto_out_at(&day_shift, mon, at(2026, 12, 7, 16, 59), CN, 120, 16),
                     at(2026, 12, 7, 19, 0));
    /* Night shift of Friday (in at 19:55 or after midnight): Saturday 08:00 + 30 min. */
    assert_int_equal(shift_auto_out_at(&night, fri, at(2026, 12, 11, 19, 55), CN, 30, 16),
                     at(2026, 12, 12, 8, 30));
    assert_int_equal(shift_auto_out_at(&night, fri, at(2026, 12, 12, 3, 0), CN, 30, 16),
                     at(2026, 12, 12, 8, 30));
    /* An instance ending at midnight (24:00). */
    {
        const struct shift_times late = {.days = 0x7f, .start_min = 960, .end_min = 1440};
        assert_int_equal(shift_auto_out_at(&late, mon, at(2026, 12, 7, 16, 0), CN, 60, 0),
                         at(2026, 12, 8, 1, 0));
    }
    /* After_min 0: the shift's people are never closed, whatever max_hours says. */
    assert_int_equal(shift_auto_out_at(&day_shift, mon, at(2026, 12, 7, 7, 55), CN, 0, 16), 0);
    /* Overtime: in on Monday at 17:00 (the instance has ended) counts as no shift. */
    t = at(2026, 12, 7, 17, 0);
    assert_int_equal(shift_auto_out_at(&day_shift, mon, t, CN, 120, 16), t + 16 * 60 * MIN);
    /* Saturday is not one of the day shift's days: no instance, max_hours. */
    t = at(2026, 12, 12, 9, 0);
    assert_int_equal(shift_auto_out_at(&day_shift, sat, t, CN, 120, 10), t + 10 * 60 * MIN);
    /* No shift at all: max_hours after the check-in, or never with 0. */
    t = at(2026, 12, 7, 7, 3) + 12345;
    assert_int_equal(shift_auto_out_at(NULL, mon, t, CN, 120, 16), t + 16 * 60 * MIN);
    assert_int_equal(shift_auto_out_at(NULL, mon, t, CN, 120, 0), 0);
    assert_int_equal(shift_auto_out_at(&day_shift, sat, t, CN, 120, 0), 0);
    /* At UTC (offset 0) the same wall times are 8 hours later instants. */
    assert_int_equal(
        shift_auto_out_at(&day_shift, mon, wall_ms(2026, 12, 7, 8, 0, 0, 0), 0, 15, 16),
        wall_ms(2026, 12, 7, 17, 15, 0, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_days),
        cmocka_unit_test(test_night_boundaries),
        cmocka_unit_test(test_night_check_in_day),
        cmocka_unit_test(test_night_weekdays),
        cmocka_unit_test(test_day_shift),
        cmocka_unit_test(test_instance_and_due),
        cmocka_unit_test(test_check_out_closes_its_check_in),
        cmocka_unit_test(test_auto_out_at),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
