/* tests/unit/test_citytime.c: api/domain/citytime.c — the city's local days, hours, minutes,
 * wall-clock dates and zone text at any fixed UTC offset — and the helpers built on it that
 * take the offset as a parameter (push quiet hours judged at a local minute), and the civil
 * date arithmetic the dashboard's day texts use.
 *
 * Instants are built with glibc's timegm(), independent of the module's own arithmetic. The
 * offsets used: 0 (UTC), +420 (UTC+7), -300 (UTC-5), +480 (China, the default), +345 (Nepal,
 * not whole hours). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "api/domain/citytime.h"
#include "api/domain/push.h"
#include "api/domain/rollup.h"
#include "wall_time.h"

#define MIN INT64_C(60000)
#define UTC0 INT64_C(0)
#define UTC7 (420 * MIN)
#define UTCM5 (-300 * MIN)
#define CN (480 * MIN)
#define NP (345 * MIN)

/* Day number of a date (days since 1970-01-01), from timegm as well. */
static int64_t dayno(int y, int mo, int d)
{
    return wall_ms(y, mo, d, 0, 0, 0, 0) / CITYTIME_DAY_MS;
}

static void test_day_follows_the_offset(void **state)
{
    /* 2030-03-04 16:30 UTC is 23:30 at +7, 00:30 the next day at +8, 11:30 at -5. */
    int64_t t = wall_ms(2030, 3, 4, 16, 30, 0, UTC0);

    (void)state;
    assert_int_equal(citytime_day(t, UTC0), dayno(2030, 3, 4));
    assert_int_equal(citytime_day(t, UTC7), dayno(2030, 3, 4));
    assert_int_equal(citytime_day(t, CN), dayno(2030, 3, 5));
    assert_int_equal(citytime_day(t, UTCM5), dayno(2030, 3, 4));
    /* 03:00 UTC is still the day before at -5 (22:00). */
    assert_int_equal(citytime_day(wall_ms(2030, 3, 4, 3, 0, 0, UTC0), UTCM5), dayno(2030, 3, 3));
    /* The last ms before local midnight and local midnight itself, at each offset. */
    for (int64_t off = UTCM5; off <= CN; off += 60 * MIN) {
        int64_t mid = wall_ms(2030, 3, 5, 0, 0, 0, off);
        assert_int_equal(citytime_day(mid, off), dayno(2030, 3, 5));
        assert_int_equal(citytime_day(mid - 1, off), dayno(2030, 3, 4));
        assert_int_equal(citytime_day_start_ms(dayno(2030, 3, 5), off), mid);
    }
    /* Before 1970 the day is floored, not truncated: 1969-12-31 23:00 at +7. */
    assert_int_equal(citytime_day(wall_ms(1969, 12, 31, 23, 0, 0, UTC7), UTC7), -1);
    assert_int_equal(citytime_day(wall_ms(1970, 1, 1, 0, 0, 0, UTCM5), UTCM5), 0);
}

static void test_day_start(void **state)
{
    (void)state;
    /* The local midnight of the day holding an instant, at +7: 2030-03-04 17:00 UTC is
     * 00:00 of the 5th there. */
    assert_int_equal(
        citytime_day_start_ms(citytime_day(wall_ms(2030, 3, 4, 17, 0, 0, UTC0), UTC7), UTC7),
        wall_ms(2030, 3, 4, 17, 0, 0, UTC0));
    assert_int_equal(
        citytime_day_start_ms(citytime_day(wall_ms(2030, 3, 4, 16, 59, 59, UTC0), UTC7), UTC7),
        wall_ms(2030, 3, 3, 17, 0, 0, UTC0));
    /* At -5 the local day starts at 05:00 UTC. */
    assert_int_equal(
        citytime_day_start_ms(citytime_day(wall_ms(2030, 3, 4, 4, 0, 0, UTC0), UTCM5), UTCM5),
        wall_ms(2030, 3, 3, 5, 0, 0, UTC0));
    /* At UTC it is midnight UTC. */
    assert_int_equal(citytime_day_start_ms(dayno(2030, 3, 4), UTC0),
                     wall_ms(2030, 3, 4, 0, 0, 0, 0));
}

static void test_hour_and_minute(void **state)
{
    int64_t t = wall_ms(2030, 3, 4, 16, 30, 59, UTC0);

    (void)state;
    assert_int_equal(citytime_hour(t, UTC0), 16);
    assert_int_equal(citytime_hour(t, UTC7), 23);
    assert_int_equal(citytime_hour(t, CN), 0);
    assert_int_equal(citytime_hour(t, UTCM5), 11);
    assert_int_equal(citytime_minute(t, UTC0), 16 * 60 + 30);
    assert_int_equal(citytime_minute(t, UTC7), 23 * 60 + 30);
    assert_int_equal(citytime_minute(t, CN), 30);
    assert_int_equal(citytime_minute(t, UTCM5), 11 * 60 + 30);
    /* Nepal is 5:45 ahead: 16:30 UTC is 22:15. */
    assert_int_equal(citytime_hour(t, NP), 22);
    assert_int_equal(citytime_minute(t, NP), 22 * 60 + 15);
    /* Before 1970 as well (1969-12-31 20:00 at -5 is 1970-01-01 01:00 UTC). */
    assert_int_equal(citytime_hour(wall_ms(1969, 12, 31, 20, 0, 0, UTCM5), UTCM5), 20);
}

static void test_civil(void **state)
{
    struct citytime_civil c;

    (void)state;
    /* New Year at +7 while it is still 2030 at UTC. */
    citytime_civil(wall_ms(2030, 12, 31, 17, 5, 9, UTC0), UTC7, &c);
    assert_int_equal(c.year, 2031);
    assert_int_equal(c.month, 1);
    assert_int_equal(c.day, 1);
    assert_int_equal(c.hour, 0);
    assert_int_equal(c.minute, 5);
    assert_int_equal(c.second, 9);
    citytime_civil(wall_ms(2030, 12, 31, 17, 5, 9, UTC0), UTC0, &c);
    assert_int_equal(c.year, 2030);
    assert_int_equal(c.month, 12);
    assert_int_equal(c.day, 31);
    assert_int_equal(c.hour, 17);
    /* -5: the morning of 1 March 2028 UTC is still 29 February (a leap year) there. */
    citytime_civil(wall_ms(2028, 3, 1, 3, 0, 0, UTC0), UTCM5, &c);
    assert_int_equal(c.year, 2028);
    assert_int_equal(c.month, 2);
    assert_int_equal(c.day, 29);
    assert_int_equal(c.hour, 22);
    /* Against gmtime_r over a range of instants and offsets. */
    for (int64_t t = wall_ms(1999, 12, 31, 0, 0, 0, 0); t < wall_ms(2031, 1, 2, 0, 0, 0, 0);
         t += 37 * 3600 * 1000 + 7 * 60 * 1000 + 13 * 1000) {
        const int64_t offs[] = {UTC0, UTC7, UTCM5, CN, NP, -720 * MIN, 840 * MIN};
        for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
            time_t s = (time_t)((t + offs[i]) / 1000);
            struct tm tm;
            gmtime_r(&s, &tm);
            citytime_civil(t, offs[i], &c);
            assert_int_equal(c.year, tm.tm_year + 1900);
            assert_int_equal(c.month, tm.tm_mon + 1);
            assert_int_equal(c.day, tm.tm_mday);
            assert_int_equal(c.hour, tm.tm_hour);
            assert_int_equal(c.minute, tm.tm_min);
            assert_int_equal(c.second, tm.tm_sec);
        }
    }
}

static void test_zone(void **state)
{
    char z[8];

    (void)state;
    citytime_zone(CN, z);
    assert_string_equal(z, "+08:00");
    citytime_zone(UTC7, z);
    assert_string_equal(z, "+07:00");
    citytime_zone(UTCM5, z);
    assert_string_equal(z, "-05:00");
    citytime_zone(UTC0, z);
    assert_string_equal(z, "+00:00");
    citytime_zone(NP, z);
    assert_string_equal(z, "+05:45");
    citytime_zone(-840 * MIN, z);
    assert_string_equal(z, "-14:00");
    citytime_zone(-30 * MIN, z);
    assert_string_equal(z, "-00:30");
}

/* Day numbers and civil dates both ways, against gmtime_r, every 37th day from 1600 to 2400,
 * and the dashboard's "YYYY-MM-DD" built on them. */
static void test_dates(void **state)
{
    char text[11];
    int64_t back = 0;

    (void)state;
    for (int64_t day = -135140; day < 157000; day += 37) {
        time_t s = (time_t)(day * 86400);
        struct tm tm;
        int64_t y;
        unsigned m, d;

        gmtime_r(&s, &tm);
        citytime_date_of_day(day, &y, &m, &d);
        assert_int_equal(y, tm.tm_year + 1900);
        assert_int_equal(m, tm.tm_mon + 1);
        assert_int_equal(d, tm.tm_mday);
        assert_int_equal(citytime_day_of_date(y, m, d), day);
    }
    citytime_day_format(dayno(2028, 2, 29), text);
    assert_string_equal(text, "2028-02-29");
    assert_int_equal(rollup_day_parse(text, &back), ERR_OK);
    assert_int_equal(back, dayno(2028, 2, 29));
}

/* Quiet hours 22:00-07:00 of the city: at 14:30 UTC they hold at +8 (22:30) but not at +7
 * (21:30), at UTC or at -5; at 03:00 UTC they hold at UTC and at -5 (22:00) but not at +8. */
static void test_quiet_hours_at_offsets(void **state)
{
    struct push_quiet night = {22 * 60, 7 * 60};
    int64_t t = wall_ms(2030, 3, 4, 14, 30, 0, UTC0);

    (void)state;
    assert_true(push_quiet_contains(&night, citytime_minute(t, CN)));     /* 22:30 */
    assert_false(push_quiet_contains(&night, citytime_minute(t, UTC7)));  /* 21:30 */
    assert_false(push_quiet_contains(&night, citytime_minute(t, UTC0)));  /* 14:30 */
    assert_false(push_quiet_contains(&night, citytime_minute(t, UTCM5))); /* 09:30 */
    t = wall_ms(2030, 3, 4, 3, 0, 0, UTC0);
    assert_false(push_quiet_contains(&night, citytime_minute(t, CN)));   /* 11:00 */
    assert_true(push_quiet_contains(&night, citytime_minute(t, UTC0)));  /* 03:00 */
    assert_true(push_quiet_contains(&night, citytime_minute(t, UTCM5))); /* 22:00 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day_follows_the_offset),
        cmocka_unit_test(test_day_start),
        cmocka_unit_test(test_hour_and_minute),
        cmocka_unit_test(test_civil),
        cmocka_unit_test(test_zone),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_quiet_hours_at_offsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
