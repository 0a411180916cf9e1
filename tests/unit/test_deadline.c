/* tests/unit/test_deadline.c: api/domain/deadline.c — step limits and alert points on the work
 * calendar, called directly: the arithmetic needs no database (issue 9 item 3). The calendar is
 * the national default (08:30-12:00, 13:30-17:30, Monday to Friday, UTC+08:00). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "api/domain/deadline.h"

#define MIN INT64_C(60000)

/* Local (UTC+08:00) wall time as ms since the epoch. */
static int64_t local(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {0};

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return ((int64_t)timegm(&tm) - 8 * 3600) * 1000;
}

static void ctx_init(struct deadline_ctx *d)
{
    memset(d, 0, sizeof *d);
    calendar_init_default(&d->cal);
    d->escalate_pct = 150;
}

static const struct deadline_limits lim60 = {
    .register_min = 60,
    .dispatch_min = 30,
    .handle = 2,
    .verify_min = 120,
    .close_min = 45,
    .handle_unit = CAL_DAYS_WORK,
};

/* A one-hour step from Friday 16:50: 40 minutes on Friday, 20 on Monday; the reminders are
 * shares of working time, so the 80 % one falls on Monday morning, not on Saturday. */
static void test_working_minutes_over_a_weekend(void **state)
{
    struct deadline_ctx d;
    struct deadline_points p;
    struct rctx cx;

    (void)state;
    ctx_init(&d);
    rctx_init(&cx);
    assert_int_equal(
        deadline_compute(&cx, &d, &lim60, WORKFLOW_STEP_REGISTER, local(2026, 12, 4, 16, 50), &p),
        ERR_OK);
    assert_int_equal(p.start_ms, local(2026, 12, 4, 16, 50));
    assert_int_equal(p.due_ms, local(2026, 12, 7, 8, 50));
    assert_int_equal(p.remind50_ms, local(2026, 12, 4, 17, 20));
    assert_int_equal(p.remind80_ms, local(2026, 12, 7, 8, 38));
    assert_int_equal(p.escalate_ms, local(2026, 12, 7, 9, 20));
    rctx_dispose(&cx);
}

/* A holiday on the Monday pushes the same step to Tuesday. */
static void test_holiday(void **state)
{
    struct deadline_ctx d;
    struct deadline_points p;
    struct rctx cx;

    (void)state;
    ctx_init(&d);
    assert_int_equal(calendar_add_holiday(&d.cal, 2026, 12, 7), ERR_OK);
    rctx_init(&cx);
    assert_int_equal(
        deadline_compute(&cx, &d, &lim60, WORKFLOW_STEP_REGISTER, local(2026, 12, 4, 16, 50), &p),
        ERR_OK);
    assert_int_equal(p.due_ms, local(2026, 12, 8, 8, 50));
    assert_int_equal(p.remind80_ms, local(2026, 12, 8, 8, 38));
    rctx_dispose(&cx);
}

/* Urgent cases run minute limits in natural time; the handle step follows its own unit. */
static void test_urgent_and_units(void **state)
{
    struct deadline_limits urgent = lim60;
    struct deadline_ctx d;
    struct deadline_points p;
    struct rctx cx;
    int64_t t0 = local(2026, 12, 5, 23, 0); /* a Saturday night */

    (void)state;
    ctx_init(&d);
    urgent.urgent = true;
    rctx_init(&cx);
    assert_int_equal(deadline_compute(&cx, &d, &urgent, WORKFLOW_STEP_DISPATCH, t0, &p), ERR_OK);
    assert_int_equal(p.due_ms, t0 + 30 * MIN);
    assert_int_equal(p.remind50_ms, t0 + 15 * MIN);
    assert_int_equal(p.remind80_ms, t0 + 24 * MIN);
    assert_int_equal(p.escalate_ms, t0 + 45 * MIN);

    /* Two working days from Saturday night: the end of Tuesday's working time. */
    assert_int_equal(deadline_compute(&cx, &d, &urgent, WORKFLOW_STEP_HANDLE, t0, &p), ERR_OK);
    assert_int_equal(p.due_ms, local(2026, 12, 8, 17, 30));

    /* 核实 runs on its own limit (confirm_min), natural minutes when urgent. */
    urgent.confirm_min = 20;
    assert_int_equal(deadline_compute(&cx, &d, &urgent, WORKFLOW_STEP_CONFIRM, t0, &p), ERR_OK);
    assert_int_equal(p.due_ms, t0 + 20 * MIN);
    assert_int_equal(p.remind50_ms, t0 + 10 * MIN);

    urgent.handle_unit = CAL_HOURS_NATURAL;
    urgent.handle = 4;
    assert_int_equal(deadline_compute(&cx, &d, &urgent, WORKFLOW_STEP_HANDLE, t0, &p), ERR_OK);
    assert_int_equal(p.due_ms, t0 + 240 * MIN);
    assert_int_equal(p.remind50_ms, t0 + 120 * MIN);

    /* No step, no points. */
    memset(&p, 0x55, sizeof p);
    assert_int_equal(deadline_compute(&cx, &d, &lim60, WORKFLOW_STEP_NONE, t0, &p), ERR_OK);
    assert_int_equal(p.due_ms, 0);
    assert_int_equal(p.remind50_ms, 0);
    rctx_dispose(&cx);
}

/* A limit past what DATETIME holds is an error, not a wrapped time. */
static void test_out_of_range(void **state)
{
    struct deadline_ctx d;
    struct deadline_points p;
    struct rctx cx;

    (void)state;
    ctx_init(&d);
    rctx_init(&cx);
    assert_int_equal(
        deadline_compute(&cx, &d, &lim60, WORKFLOW_STEP_VERIFY, CALENDAR_MAX_MS - 10 * MIN, &p),
        ERR_INTERNAL);
    rctx_dispose(&cx);
}

/* An extension moves the due time; the points are recomputed between start and the new due
 * time, and the level already passed follows the clock. */
static void test_between_and_levels(void **state)
{
    struct deadline_ctx d;
    struct deadline_points p;
    struct rctx cx;
    int64_t t0 = local(2026, 12, 7, 9, 0), due = local(2026, 12, 7, 11, 30);

    (void)state;
    ctx_init(&d);
    rctx_init(&cx);
    assert_int_equal(deadline_points_between(&cx, &d, t0, due, false, &p), ERR_OK);
    assert_int_equal(p.remind50_ms, local(2026, 12, 7, 10, 15));
    assert_int_equal(p.remind80_ms, local(2026, 12, 7, 11, 0));
    /* 150 % of two and a half working hours from 09:00 runs over the lunch break. */
    assert_int_equal(p.escalate_ms, local(2026, 12, 7, 14, 15));
    rctx_dispose(&cx);

    assert_int_equal(deadline_level_at(&p, t0), 0);
    assert_int_equal(deadline_level_at(&p, p.remind50_ms), 1);
    assert_int_equal(deadline_level_at(&p, p.remind80_ms + 1), 2);
    assert_int_equal(deadline_level_at(&p, due), 3);
    assert_int_equal(deadline_level_at(&p, p.escalate_ms), 4);
    assert_int_equal(deadline_next_point(&p, 0), p.remind50_ms);
    assert_int_equal(deadline_next_point(&p, 1), p.remind80_ms);
    assert_int_equal(deadline_next_point(&p, 2), due);
    assert_int_equal(deadline_next_point(&p, 3), p.escalate_ms);
    assert_int_equal(deadline_next_point(&p, 4), 0);
    memset(&p, 0, sizeof p);
    assert_int_equal(deadline_level_at(&p, t0), 0); /* no deadline running */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_working_minutes_over_a_weekend),
        cmocka_unit_test(test_holiday),
        cmocka_unit_test(test_urgent_and_units),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_between_and_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
