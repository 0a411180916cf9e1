/* tests/unit/test_calendar.c: api/domain/calendar.c — working-time arithmetic.
 *
 * Instants are built with glibc's timegm(), an implementation independent of the calendar's own
 * date code, and all wall times below are China time (UTC+08:00) unless a test says otherwise.
 * Weekdays used: 2026-03-02 Mon, 2026-03-06 Fri, 2026-09-25 Fri, 2026-09-30 Wed,
 * 2026-10-01 Thu, 2026-10-09 Fri. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "api/domain/calendar.h"
#include "wall_time.h"

#define MIN INT64_C(60000)
#define HOUR INT64_C(3600000)

/* ms UTC of a wall time at UTC+off_min. */
static int64_t at_off(int y, int mo, int d, int h, int mi, int off_min)
{
    return wall_ms(y, mo, d, h, mi, 0, (int64_t)off_min * MIN);
}

/* ms UTC of a China wall time. */
static int64_t at(int y, int mo, int d, int h, int mi)
{
    return at_off(y, mo, d, h, mi, 480);
}

static void init_default(struct calendar *cal)
{
    calendar_init_default(cal);
}

/* The test's 2026 National Day: 10-01..10-07 off, with 调休 on Sunday 09-27 and Saturday
 * 10-10. Added out of order on purpose: the calendar keeps them sorted. */
static void init_national_day(struct calendar *cal)
{
    int d;

    calendar_init_default(cal);
    assert_int_equal(calendar_add_workday(cal, 2026, 10, 10), ERR_OK);
    for (d = 7; d >= 1; d--)
        assert_int_equal(calendar_add_holiday(cal, 2026, 10, d), ERR_OK);
    assert_int_equal(calendar_add_workday(cal, 2026, 9, 27), ERR_OK);
}

static void test_default_calendar(void **state)
{
    struct calendar cal;

    (void)state;
    init_default(&cal);
    assert_int_equal(calendar_day_work_ms(&cal), 7 * HOUR + 30 * MIN);
    assert_true(calendar_is_workday(&cal, 2026, 3, 2));   /* Monday */
    assert_true(calendar_is_workday(&cal, 2026, 3, 6));   /* Friday */
    assert_false(calendar_is_workday(&cal, 2026, 3, 7));  /* Saturday */
    assert_false(calendar_is_workday(&cal, 2026, 3, 8));  /* Sunday */
    assert_false(calendar_is_workday(&cal, 2026, 2, 30)); /* no such date */
}

static void test_hours_within_and_across_lunch(void **state)
{
    struct calendar cal;

    (void)state;
    init_default(&cal);
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 9, 0), 2, CAL_HOURS_WORK),
                     at(2026, 3, 2, 11, 0));
    /* One hour before lunch, one after it. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 11, 0), 2, CAL_HOURS_WORK),
                     at(2026, 3, 2, 14, 30));
    /* Across the evening into the next morning. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 17, 0), 1, CAL_HOURS_WORK),
                     at(2026, 3, 3, 9, 0));
    /* Seconds within the start survive. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 9, 0) + 12345, 1, CAL_HOURS_WORK),
                     at(2026, 3, 2, 10, 0) + 12345);
}

static void test_friday_afternoon_over_weekend(void **state)
{
    struct calendar cal;

    (void)state;
    init_default(&cal);
    /* Default day: 1.5 h left on Friday (16:00-17:30), 2.5 h on Monday from 08:30. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 6, 16, 0), 4, CAL_HOURS_WORK),
                     at(2026, 3, 9, 11, 0));
    /* With the afternoon ending at 17:00, 1 h is left on Friday and Monday 11:30 is due. */
    assert_int_equal(calendar_parse_periods(&cal, "08:30-12:00,13:00-17:00"), ERR_OK);
    assert_int_equal(calendar_add(&cal, at(2026, 3, 6, 16, 0), 4, CAL_HOURS_WORK),
                     at(2026, 3, 9, 11, 30));
    /* Reported on Saturday: counting starts on Monday 08:30. */
    init_default(&cal);
    assert_int_equal(calendar_add(&cal, at(2026, 3, 7, 10, 0), 4, CAL_HOURS_WORK),
                     at(2026, 3, 9, 14, 0));
}

static void test_start_in_lunch_break(void **state)
{
    struct calendar cal;

    (void)state;
    init_default(&cal);
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 12, 30), 1, CAL_HOURS_WORK),
                     at(2026, 3, 2, 14, 30));
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 12, 0), 30, CAL_MINUTES_WORK),
                     at(2026, 3, 2, 14, 0));
    /* Zero moves the start into working time. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 12, 30), 0, CAL_HOURS_WORK),
                     at(2026, 3, 2, 13, 30));
    assert_int_equal(calendar_work_ms_between(&cal, at(2026, 3, 2, 12, 0), at(2026, 3, 2, 13, 30)),
                     0);
}

static void test_start_at_night(void **state)
{
    struct calendar cal;

    (void)state;
    init_default(&cal);
    assert_int_equal(calendar_add(&cal, at(2026, 3, 3, 22, 0), 1, CAL_HOURS_WORK),
                     at(2026, 3, 4, 9, 30));
    assert_int_equal(calendar_add(&cal, at(2026, 3, 4, 2, 0), 30, CAL_MINUTES_WORK),
                     at(2026, 3, 4, 9, 0));
    /* Friday night counts from Monday morning. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 6, 23, 59), 1, CAL_HOURS_WORK),
                     at(2026, 3, 9, 9, 30));
    /* Exactly at the end of the day is outside working time. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 17, 30), 1, CAL_HOURS_WORK),
                     at(2026, 3, 3, 9, 30));
}

static void test_minutes(void **state)
{
    struct calendar cal;

    (void)state;
    init_default(&cal);
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 8, 30), 30, CAL_MINUTES_WORK),
                     at(2026, 3, 2, 9, 0));
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 11, 50), 20, CAL_MINUTES_WORK),
                     at(2026, 3, 2, 13, 40));
    /* Used up exactly at a period end: due at 12:00, not at 13:30. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 11, 30), 30, CAL_MINUTES_WORK),
                     at(2026, 3, 2, 12, 0));
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 17, 0), 30, CAL_MINUTES_WORK),
                     at(2026, 3, 2, 17, 30));
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 17, 0), 31, CAL_MINUTES_WORK),
                     at(2026, 3, 3, 8, 31));
    /* 450 minutes is one full default day. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 8, 30), 450, CAL_MINUTES_WORK),
                     at(2026, 3, 2, 17, 30));
}

static void test_days(void **state)
{
    struct calendar cal;

    (void)state;
    init_default(&cal);
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 10, 0), 1, CAL_DAYS_WORK),
                     at(2026, 3, 3, 10, 0));
    /* From the start of a day, one working day is that day's end. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 8, 30), 1, CAL_DAYS_WORK),
                     at(2026, 3, 2, 17, 30));
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 7, 0), 1, CAL_DAYS_WORK),
                     at(2026, 3, 2, 17, 30));
    assert_int_equal(calendar_add(&cal, at(2026, 3, 6, 16, 0), 1, CAL_DAYS_WORK),
                     at(2026, 3, 9, 16, 0));
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 15, 0), 3, CAL_DAYS_WORK),
                     at(2026, 3, 5, 15, 0));
    /* 20 working days are four calendar weeks. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 10, 0), 20, CAL_DAYS_WORK),
                     at(2026, 3, 30, 10, 0));
    /* From lunch the position is 3.5 h into the day, which is reached at 12:00. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 12, 30), 1, CAL_DAYS_WORK),
                     at(2026, 3, 3, 12, 0));
    /* Started at night: counting starts next morning. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 20, 0), 2, CAL_DAYS_WORK),
                     at(2026, 3, 4, 17, 30));
}

static void test_national_day_holiday(void **state)
{
    struct calendar cal;
    int d;

    (void)state;
    init_national_day(&cal);
    assert_int_equal(cal.ndates, 9);
    for (d = 1; d <= 7; d++)
        assert_false(calendar_is_workday(&cal, 2026, 10, d));
    assert_true(calendar_is_workday(&cal, 2026, 9, 27));   /* Sunday, 调休 */
    assert_true(calendar_is_workday(&cal, 2026, 10, 10));  /* Saturday, 调休 */
    assert_false(calendar_is_workday(&cal, 2026, 9, 26));  /* ordinary Saturday */
    assert_false(calendar_is_workday(&cal, 2026, 10, 11)); /* ordinary Sunday */

    /* Wednesday before the holiday: the rest lands on Thursday 10-08. */
    assert_int_equal(calendar_add(&cal, at(2026, 9, 30, 16, 0), 4, CAL_HOURS_WORK),
                     at(2026, 10, 8, 11, 0));
    assert_int_equal(calendar_add(&cal, at(2026, 9, 30, 10, 0), 1, CAL_DAYS_WORK),
                     at(2026, 10, 8, 10, 0));
    /* Reported during the holiday. */
    assert_int_equal(calendar_add(&cal, at(2026, 10, 3, 10, 0), 30, CAL_MINUTES_WORK),
                     at(2026, 10, 8, 9, 0));
    /* The make-up Sunday and Saturday are worked. */
    assert_int_equal(calendar_add(&cal, at(2026, 9, 25, 16, 0), 4, CAL_HOURS_WORK),
                     at(2026, 9, 27, 11, 0));
    assert_int_equal(calendar_add(&cal, at(2026, 10, 9, 16, 0), 4, CAL_HOURS_WORK),
                     at(2026, 10, 10, 11, 0));
    /* Working days 09-28, 09-29, 09-30, 10-08, 10-09, 10-10, 10-12. */
    assert_int_equal(calendar_add(&cal, at(2026, 9, 28, 10, 0), 6, CAL_DAYS_WORK),
                     at(2026, 10, 12, 10, 0));
    /* Elapsed: 09-30 and 10-08 only. */
    assert_int_equal(calendar_work_ms_between(&cal, at(2026, 9, 30, 0, 0), at(2026, 10, 9, 0, 0)),
                     15 * HOUR);
    assert_int_equal(calendar_work_ms_between(&cal, at(2026, 10, 1, 0, 0), at(2026, 10, 8, 0, 0)),
                     0);
}

static void test_natural_hours(void **state)
{
    struct calendar cal;

    (void)state;
    init_national_day(&cal);
    /* Day and night, weekends and holidays alike. */
    assert_int_equal(calendar_add(&cal, at(2026, 3, 6, 22, 0), 6, CAL_HOURS_NATURAL),
                     at(2026, 3, 7, 4, 0));
    assert_int_equal(calendar_add(&cal, at(2026, 10, 1, 12, 30), 36, CAL_HOURS_NATURAL),
                     at(2026, 10, 3, 0, 30));
    assert_int_equal(calendar_add(&cal, at(2026, 10, 1, 12, 30), 0, CAL_HOURS_NATURAL),
                     at(2026, 10, 1, 12, 30));
}

static void test_elapsed(void **state)
{
    struct calendar cal;
    int64_t start, due;

    (void)state;
    init_default(&cal);
    assert_int_equal(calendar_work_ms_between(&cal, at(2026, 3, 2, 8, 0), at(2026, 3, 2, 18, 0)),
                     7 * HOUR + 30 * MIN);
    assert_int_equal(calendar_work_ms_between(&cal, at(2026, 3, 2, 10, 0), at(2026, 3, 3, 10, 0)),
                     7 * HOUR + 30 * MIN);
    assert_int_equal(calendar_work_ms_between(&cal, at(2026, 3, 2, 11, 0), at(2026, 3, 2, 14, 0)),
                     90 * MIN);
    assert_int_equal(calendar_work_ms_between(&cal, at(2026, 3, 6, 16, 0), at(2026, 3, 9, 11, 0)),
                     4 * HOUR);
    /* A whole week and a weekend only. */
    assert_int_equal(calendar_work_ms_between(&cal, at(2026, 3, 2, 0, 0), at(2026, 3, 9, 0, 0)),
                     5 * (7 * HOUR + 30 * MIN));
    assert_int_equal(calendar_work_ms_between(&cal, at(2026, 3, 7, 0, 0), at(2026, 3, 9, 0, 0)), 0);
    /* Empty and reversed intervals. */
    assert_int_equal(calendar_work_ms_between(&cal, at(2026, 3, 2, 10, 0), at(2026, 3, 2, 10, 0)),
                     0);
    assert_int_equal(calendar_work_ms_between(&cal, at(2026, 3, 3, 10, 0), at(2026, 3, 2, 10, 0)),
                     0);

    /* The reminder thresholds of a 4-hour limit that starts on Friday 16:00. */
    start = at(2026, 3, 6, 16, 0);
    due = calendar_add(&cal, start, 4, CAL_HOURS_WORK);
    assert_int_equal(calendar_work_ms_between(&cal, start, at(2026, 3, 9, 8, 30)), 90 * MIN);
    assert_int_equal(calendar_work_ms_between(&cal, start, at(2026, 3, 9, 9, 0)), 2 * HOUR);
    assert_int_equal(calendar_add(&cal, start, 120, CAL_MINUTES_WORK), at(2026, 3, 9, 9, 0));
    assert_int_equal(calendar_work_ms_between(&cal, start, due), 4 * HOUR);
    /* Monday 16:00 is 3.5 working hours past the due time. */
    assert_int_equal(calendar_work_ms_between(&cal, start, due + 5 * HOUR), 7 * HOUR + 30 * MIN);
    assert_int_equal(calendar_work_ms_between(&cal, due, due + 5 * HOUR), 3 * HOUR + 30 * MIN);
}

/* A small deterministic generator (the C library one is banned, and the sequence must repeat). */
static uint64_t lcg(uint64_t *s)
{
    *s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return *s >> 33;
}

/* For any start and amount, the working time between start and due is exactly the amount, the
 * due time is at or after the start, and one more minute is never due earlier. */
static void test_add_and_elapsed_agree(void **state)
{
    struct calendar cal;
    uint64_t seed = 42;
    int64_t base = at(2026, 9, 1, 0, 0); /* starts spread over 60 days = 86400 minutes */
    int i;

    (void)state;
    init_national_day(&cal);
    for (i = 0; i < 5000; i++) {
        int64_t start =
            base + (int64_t)(lcg(&seed) % UINT64_C(86400)) * MIN + (int64_t)(lcg(&seed) % 60000);
        int64_t n = (int64_t)(lcg(&seed) % 6000);
        int64_t due = calendar_add(&cal, start, n, CAL_MINUTES_WORK);
        int64_t due1 = calendar_add(&cal, start, n + 1, CAL_MINUTES_WORK);

        assert_true(due >= start);
        assert_true(due1 > due);
        assert_int_equal(calendar_work_ms_between(&cal, start, due), n * MIN);
        assert_int_equal(calendar_work_ms_between(&cal, start, due1), (n + 1) * MIN);
    }
    for (i = 0; i < 500; i++) {
        int64_t start = base + (int64_t)(lcg(&seed) % UINT64_C(86400)) * MIN;
        int64_t n = (int64_t)(lcg(&seed) % 40);
        int64_t due = calendar_add(&cal, start, n, CAL_DAYS_WORK);

        assert_int_equal(calendar_work_ms_between(&cal, start, due),
                         n * calendar_day_work_ms(&cal));
    }
}

/* Long spans walk per day, not per minute: ten years of working days and the elapsed time over
 * them come back at once (a per-minute walk would take minutes under ASan). */
static void test_long_spans(void **state)
{
    struct calendar cal;
    int64_t start = at(2026, 3, 2, 10, 0);
    int64_t due;

    (void)state;
    init_national_day(&cal);
    due = calendar_add(&cal, start, 2500, CAL_DAYS_WORK);
    assert_true(due > at(2035, 1, 1, 0, 0));
    assert_int_equal(calendar_work_ms_between(&cal, start, due), 2500 * calendar_day_work_ms(&cal));
    due = calendar_add(&cal, start, 100000, CAL_HOURS_WORK);
    assert_int_equal(calendar_work_ms_between(&cal, start, due), 100000 * HOUR);
    /* Near the end of the range. */
    due = calendar_add(&cal, at(9999, 12, 30, 9, 0), 1, CAL_HOURS_WORK);
    assert_int_equal(due, at(9999, 12, 30, 10, 0));
    assert_int_equal(calendar_add(&cal, at(9999, 12, 31, 9, 0), 1, CAL_DAYS_WORK),
                     CALENDAR_INVALID); /* 10000-01-03 (a Monday) is past the range */
}

static void test_parse_periods(void **state)
{
    struct calendar cal;

    (void)state;
    init_default(&cal);
    assert_int_equal(calendar_parse_periods(&cal, "08:00-12:00,14:00-18:00"), ERR_OK);
    assert_int_equal(cal.nperiods, 2);
    assert_int_equal(cal.periods[1].start_min, 14 * 60);
    assert_int_equal(calendar_day_work_ms(&cal), 8 * HOUR);
    assert_int_equal(calendar_parse_periods(&cal, " 9:00 - 12:00 , 13:00-17:00 "), ERR_OK);
    assert_int_equal(cal.periods[0].start_min, 9 * 60);
    assert_int_equal(calendar_day_work_ms(&cal), 7 * HOUR);
    assert_int_equal(calendar_parse_periods(&cal, "00:00-24:00"), ERR_OK);
    assert_int_equal(calendar_day_work_ms(&cal), 24 * HOUR);
    /* Touching periods are allowed. */
    assert_int_equal(calendar_parse_periods(&cal, "08:00-12:00,12:00-13:00"), ERR_OK);
    assert_int_equal(calendar_parse_periods(&cal, "01:00-02:00,03:00-04:00,05:00-06:00,"
                                                  "07:00-08:00,09:00-10:00,11:00-12:00,"
                                                  "13:00-14:00,15:00-16:00"),
                     ERR_OK);
    assert_int_equal(cal.nperiods, 8);
}

static void test_parse_periods_invalid(void **state)
{
    static const char *const bad[] = {
        "", "   ", "08:30", "08:30-", "-12:00", "08:30-12:00,", ",08:30-12:00",
        "08:30-12:00;13:30-17:30", "08:30-12:00 x", "8.30-12.00", "08:3-12:00", "08:300-12:00",
        "008:30-12:00", "25:00-26:00", "08:60-12:00", "24:30-24:40", "23:00-24:01",
        "12:00-08:30",             /* reversed */
        "08:30-08:30",             /* empty */
        "13:30-17:30,08:30-12:00", /* unsorted */
        "08:30-12:00,11:00-17:30", /* overlapping */
        "24:00-24:00",             /* starts at midnight's end */
        /* Nine periods (one literal split in two, hence the parentheses). */
        ("01:00-02:00,03:00-04:00,05:00-06:00,07:00-08:00,09:00-10:00,11:00-12:00,13:00-14:00,"
         "15:00-16:00,17:00-18:00"),
        "０８:30-12:00", /* full-width digits */
    };
    struct calendar cal, before;
    size_t i;

    (void)state;
    init_default(&cal);
    memcpy(&before, &cal, sizeof cal);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (calendar_parse_periods(&cal, bad[i]) != ERR_INVALID)
            fail_msg("accepted \"%s\"", bad[i]);
        /* A failed parse leaves the calendar as it was. */
        assert_memory_equal(&cal, &before, sizeof cal);
    }
    assert_int_equal(calendar_parse_periods(&cal, NULL), ERR_INVALID);
}

static void test_set_periods(void **state)
{
    struct calendar cal;
    struct calendar_period p[CALENDAR_MAX_PERIODS + 1];
    size_t i;

    (void)state;
    init_default(&cal);
    for (i = 0; i < CALENDAR_MAX_PERIODS + 1; i++)
        p[i] = (struct calendar_period){(uint16_t)(i * 100), (uint16_t)(i * 100 + 50)};
    assert_int_equal(calendar_set_periods(&cal, p, CALENDAR_MAX_PERIODS + 1), ERR_INVALID);
    assert_int_equal(calendar_set_periods(&cal, p, 0), ERR_INVALID);
    assert_int_equal(calendar_set_periods(&cal, NULL, 1), ERR_INVALID);
    assert_int_equal(cal.nperiods, 2);
    assert_int_equal(calendar_set_periods(&cal, p, CALENDAR_MAX_PERIODS), ERR_OK);
    assert_int_equal(calendar_day_work_ms(&cal), CALENDAR_MAX_PERIODS * (50 * MIN));

    p[0] = (struct calendar_period){1400, 1441}; /* past midnight */
    assert_int_equal(calendar_set_periods(&cal, p, 1), ERR_INVALID);
    p[0] = (struct calendar_period){600, 500};
    assert_int_equal(calendar_set_periods(&cal, p, 1), ERR_INVALID);

    /* A single night shift: 22:00-24:00. */
    p[0] = (struct calendar_period){22 * 60, 24 * 60};
    assert_int_equal(calendar_set_periods(&cal, p, 1), ERR_OK);
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 23, 0), 90, CAL_MINUTES_WORK),
                     at(2026, 3, 3, 22, 30));
}

static void test_special_dates(void **state)
{
    struct calendar cal;
    int i;

    (void)state;
    init_default(&cal);
    /* Dates that do not exist or lie outside the range. */
    assert_int_equal(calendar_add_holiday(&cal, 2026, 2, 29), ERR_INVALID);
    assert_int_equal(calendar_add_holiday(&cal, 2100, 2, 29), ERR_INVALID);
    assert_int_equal(calendar_add_holiday(&cal, 2026, 4, 31), ERR_INVALID);
    assert_int_equal(calendar_add_holiday(&cal, 2026, 13, 1), ERR_INVALID);
    assert_int_equal(calendar_add_holiday(&cal, 2026, 0, 1), ERR_INVALID);
    assert_int_equal(calendar_add_holiday(&cal, 2026, 1, 0), ERR_INVALID);
    assert_int_equal(calendar_add_workday(&cal, 2026, 1, 32), ERR_INVALID);
    assert_int_equal(calendar_add_workday(&cal, 1969, 12, 31), ERR_INVALID);
    assert_int_equal(calendar_add_workday(&cal, 10000, 1, 1), ERR_INVALID);
    assert_int_equal(cal.ndates, 0);
    assert_int_equal(calendar_add_holiday(&cal, 2028, 2, 29), ERR_OK);
    assert_int_equal(calendar_add_holiday(&cal, 2000, 2, 29), ERR_OK);

    /* The later call wins, and does not take a second slot. */
    assert_int_equal(calendar_add_holiday(&cal, 2026, 3, 2), ERR_OK);
    assert_false(calendar_is_workday(&cal, 2026, 3, 2));
    assert_int_equal(calendar_add_workday(&cal, 2026, 3, 2), ERR_OK);
    assert_true(calendar_is_workday(&cal, 2026, 3, 2));
    assert_int_equal(calendar_add_workday(&cal, 2026, 3, 2), ERR_OK);
    assert_int_equal(cal.ndates, 3);
    /* A holiday on a Saturday and a workday on a Monday change nothing. */
    assert_int_equal(calendar_add_holiday(&cal, 2026, 3, 7), ERR_OK);
    assert_false(calendar_is_workday(&cal, 2026, 3, 7));

    /* Capacity: CALENDAR_MAX_DATES in all, then ERR_INVALID, but replacing still works. */
    init_default(&cal);
    for (i = 0; i < CALENDAR_MAX_DATES; i++)
        assert_int_equal(calendar_add_holiday(&cal, 2030 + i / 336, 1 + i % 336 / 28, 1 + i % 28),
                         ERR_OK);
    assert_int_equal(cal.ndates, CALENDAR_MAX_DATES);
    assert_int_equal(calendar_add_holiday(&cal, 2040, 1, 1), ERR_INVALID);
    assert_int_equal(calendar_add_workday(&cal, 2040, 1, 1), ERR_INVALID);
    assert_int_equal(calendar_add_workday(&cal, 2030, 1, 1), ERR_OK);
    assert_int_equal(cal.ndates, CALENDAR_MAX_DATES);
    for (i = 1; i < (int)cal.ndates; i++)
        assert_true(cal.dates[i - 1].day < cal.dates[i].day);
}

static void test_utc_offset(void **state)
{
    struct calendar cal;

    (void)state;
    init_default(&cal);
    assert_int_equal(calendar_set_utc_offset(&cal, 14 * 60 + 1), ERR_INVALID);
    assert_int_equal(calendar_set_utc_offset(&cal, -14 * 60 - 1), ERR_INVALID);
    assert_int_equal(cal.utc_offset_min, 480);

    /* The same wall times in UTC. */
    assert_int_equal(calendar_set_utc_offset(&cal, 0), ERR_OK);
    assert_int_equal(calendar_add(&cal, at_off(2026, 3, 6, 16, 0, 0), 4, CAL_HOURS_WORK),
                     at_off(2026, 3, 9, 11, 0, 0));
    /* West of Greenwich, where ms 0 is still 1969-12-31 locally (a Wednesday). */
    assert_int_equal(calendar_set_utc_offset(&cal, -5 * 60), ERR_OK);
    assert_int_equal(calendar_add(&cal, 0, 1, CAL_HOURS_WORK), at_off(1970, 1, 1, 9, 30, -300));
    assert_int_equal(calendar_work_ms_between(&cal, 0, at_off(1970, 1, 1, 9, 30, -300)), HOUR);
    /* The date of a holiday is the local date. */
    assert_int_equal(calendar_set_utc_offset(&cal, 480), ERR_OK);
    assert_int_equal(calendar_add_holiday(&cal, 2026, 3, 3), ERR_OK);
    assert_int_equal(calendar_add(&cal, at(2026, 3, 2, 17, 0), 1, CAL_HOURS_WORK),
                     at(2026, 3, 4, 9, 0));
}

static void test_invalid_inputs(void **state)
{
    struct calendar cal;
    int64_t t = at(2026, 3, 2, 10, 0);

    (void)state;
    init_default(&cal);
    assert_int_equal(calendar_add(&cal, -1, 1, CAL_HOURS_WORK), CALENDAR_INVALID);
    assert_int_equal(calendar_add(&cal, CALENDAR_MAX_MS + 1, 1, CAL_HOURS_WORK), CALENDAR_INVALID);
    assert_int_equal(calendar_add(&cal, INT64_MAX, 0, CAL_HOURS_NATURAL), CALENDAR_INVALID);
    assert_int_equal(calendar_add(&cal, t, -1, CAL_HOURS_WORK), CALENDAR_INVALID);
    assert_int_equal(calendar_add(&cal, t, -1, CAL_HOURS_NATURAL), CALENDAR_INVALID);
    assert_int_equal(calendar_add(&cal, t, 1, (enum calendar_unit)99), CALENDAR_INVALID);
    assert_int_equal(calendar_add(&cal, t, 1, CAL_UNIT__COUNT), CALENDAR_INVALID);
    /* Amounts whose product would overflow, or whose due time is past the range. */
    assert_int_equal(calendar_add(&cal, t, INT64_MAX, CAL_MINUTES_WORK), CALENDAR_INVALID);
    assert_int_equal(calendar_add(&cal, t, INT64_MAX / 1000, CAL_DAYS_WORK), CALENDAR_INVALID);
    assert_int_equal(calendar_add(&cal, t, INT64_MAX, CAL_HOURS_NATURAL), CALENDAR_INVALID);
    assert_int_equal(calendar_add(&cal, t, 3000000, CAL_DAYS_WORK), CALENDAR_INVALID);
    assert_int_equal(calendar_add(&cal, CALENDAR_MAX_MS, 1, CAL_HOURS_NATURAL), CALENDAR_INVALID);
    assert_int_equal(calendar_add(&cal, CALENDAR_MAX_MS, 0, CAL_HOURS_NATURAL), CALENDAR_MAX_MS);
    assert_int_equal(calendar_add(&cal, CALENDAR_MAX_MS, 0, CAL_MINUTES_WORK), CALENDAR_INVALID);

    assert_int_equal(calendar_work_ms_between(&cal, -1, t), CALENDAR_INVALID);
    assert_int_equal(calendar_work_ms_between(&cal, t, CALENDAR_MAX_MS + 1), CALENDAR_INVALID);
    assert_int_equal(calendar_work_ms_between(&cal, INT64_MIN, INT64_MAX), CALENDAR_INVALID);
    /* 0 and the whole range are valid (and quick). */
    assert_true(calendar_work_ms_between(&cal, 0, CALENDAR_MAX_MS) > 0);
}

static void test_unit_names(void **state)
{
    enum calendar_unit u;
    unsigned i;

    (void)state;
    for (i = 0; i < CAL_UNIT__COUNT; i++) {
        const char *name = calendar_unit_name((enum calendar_unit)i);

        assert_non_null(name);
        assert_int_equal(calendar_unit_from_name(name, strlen(name), &u), ERR_OK);
        assert_int_equal(u, i);
    }
    assert_string_equal(calendar_unit_name(CAL_MINUTES_WORK), "work_min");
    assert_string_equal(calendar_unit_name(CAL_HOURS_WORK), "work_hour");
    assert_string_equal(calendar_unit_name(CAL_DAYS_WORK), "work_day");
    assert_string_equal(calendar_unit_name(CAL_HOURS_NATURAL), "natural_hour");
    assert_null(calendar_unit_name(CAL_UNIT__COUNT));
    u = CAL_DAYS_WORK;
    assert_int_equal(calendar_unit_from_name("work_hours", 10, &u), ERR_INVALID);
    assert_int_equal(calendar_unit_from_name("work_hour", 8, &u), ERR_INVALID);
    assert_int_equal(calendar_unit_from_name("", 0, &u), ERR_INVALID);
    assert_int_equal(calendar_unit_from_name(NULL, 0, &u), ERR_INVALID);
    assert_int_equal(u, CAL_DAYS_WORK); /* untouched on failure */
    /* Length-delimited: a longer buffer is fine. */
    assert_int_equal(calendar_unit_from_name("work_min,rest", 8, &u), ERR_OK);
    assert_int_equal(u, CAL_MINUTES_WORK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_calendar),
        cmocka_unit_test(test_hours_within_and_across_lunch),
        cmocka_unit_test(test_friday_afternoon_over_weekend),
        cmocka_unit_test(test_start_in_lunch_break),
        cmocka_unit_test(test_start_at_night),
        cmocka_unit_test(test_minutes),
        cmocka_unit_test(test_days),
        cmocka_unit_test(test_national_day_holiday),
        cmocka_unit_test(test_natural_hours),
        cmocka_unit_test(test_elapsed),
        cmocka_unit_test(test_add_and_elapsed_agree),
        cmocka_unit_test(test_long_spans),
        cmocka_unit_test(test_parse_periods),
        cmocka_unit_test(test_parse_periods_invalid),
        cmocka_unit_test(test_set_periods),
        cmocka_unit_test(test_special_dates),
        cmocka_unit_test(test_utc_offset),
        cmocka_unit_test(test_invalid_inputs),
        cmocka_unit_test(test_unit_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
