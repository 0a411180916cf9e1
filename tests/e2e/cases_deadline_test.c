/* tests/e2e/cases_deadline_test.c: time limits (时限) on the work calendar — across a weekend
 * and a holiday — and the deadline scheduler (50 % / 80 % reminders, overdue, escalation) with
 * a moved clock. Its own server: the clock moves for everything in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"
#include "th_assert.h"

static struct th_server srv;
static long long sanitation;

static int setup(void **state)
{
    th_server_start(&srv, "testing.clock_control = true\n");
    th_seed(&srv);
    sanitation = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'sanitation'");
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

/* Friday 2030-01-04 17:20 (UTC+8) with Monday 2030-01-07 a holiday: a 30-working-minute step
 * has 10 minutes on Friday and 20 on Tuesday (08:30 + 20 = 08:50 = 00:50Z); the 4-working-hour
 * 处置 step has 10 minutes on Friday, 3 h 30 Tuesday morning and 20 minutes after lunch
 * (13:50 = 05:50Z). */
static void deadlines_skip_weekend_and_holiday(void **state)
{
    long long id;

    th_sql_exec(&srv, "INSERT INTO work_calendar_days (day, working, note) VALUES"
                      " ('2030-01-07', 0, 'test holiday')");
    th_clock_at(&srv, 2030, 1, 4, 9, 20);
    id = th_report_as(&srv, "citizen", NULL);
    th_assert_minute(th_case_due(&srv, id), "2030-01-08T00:50:00.000Z");
    /* 受理 keeps the running 立案时限; 立案 starts the 派遣时限. */
    th_assert_minute(th_act(&srv, "operator", id, NULL, "\"action\":\"accept\""),
                     "2030-01-08T00:50:00.000Z");
    th_assert_minute(th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\""),
                     "2030-01-08T00:50:00.000Z");
    {
        char extra[96];
        snprintf(extra, sizeof extra, "\"action\":\"dispatch\",\"department_id\":%lld", sanitation);
        th_assert_minute(th_act(&srv, "dispatcher", id, NULL, "%s", extra),
                         "2030-01-08T05:50:00.000Z");
    }
    /* The same Friday without the holiday: Monday. */
    th_sql_exec(&srv, "DELETE FROM work_calendar_days");
    id = th_report_as(&srv, "citizen", NULL);
    th_assert_minute(th_case_due(&srv, id), "2030-01-07T00:50:00.000Z");
    /* A make-up working Saturday (调休) counts. */
    th_sql_exec(&srv, "INSERT INTO work_calendar_days (day, working) VALUES ('2030-01-05', 1)");
    id = th_report_as(&srv, "citizen", NULL);
    th_assert_minute(th_case_due(&srv, id), "2030-01-05T00:50:00.000Z");
    th_sql_exec(&srv, "DELETE FROM work_calendar_days");
}

static void scheduler_reminds_marks_overdue_and_escalates_once(void **state)
{
    long long id;
    struct th_resp r;
    json_t *it;
    size_t i;
    bool found = false;

    /* Wednesday 2030-01-09 10:00 local: the 立案时限 of 30 working minutes ends 10:30. */
    th_clock_at(&srv, 2030, 1, 9, 2, 0);
    id = th_report_as(&srv, "citizen", NULL);
    th_assert_minute(th_case_due(&srv, id), "2030-01-09T02:30:00.000Z");
    /* 10:20: past 50 %, before 80 % (10:24). */
    th_clock_at(&srv, 2030, 1, 9, 2, 20);
    for (int k = 0;
         k < 150 && th_sqlf(&srv, "SELECT alert_level FROM cases WHERE id = %lld", id) < 1; k++)
        usleep(100000);
    assert_int_equal(th_sqlf(&srv, "SELECT alert_level FROM cases WHERE id = %lld", id), 1);
    assert_int_equal(th_sqlf(&srv, "SELECT overdue FROM cases WHERE id = %lld", id), 0);
    /* 11:00: past the deadline and the escalation point (150 % = 10:45). */
    th_clock_at(&srv, 2030, 1, 9, 3, 0);
    for (int k = 0;
         k < 150 && th_sqlf(&srv, "SELECT alert_level FROM cases WHERE id = %lld", id) < 4; k++)
        usleep(100000);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM events WHERE subject_id = %lld AND"
                             " type = 'case.reminder'",
                             id),
                     2);
    assert_int_equal(
        th_sqlf(&srv,
                "SELECT COUNT(*) FROM events WHERE subject_id = %lld AND type = 'case.overdue'",
                id),
        1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM events WHERE subject_id = %lld AND"
                             " type = 'case.escalated'",
                             id),
                     1);
    assert_int_equal(th_sqlf(&srv, "SELECT overdue FROM cases WHERE id = %lld", id), 1);

    /* The overdue filter and the task list see it; overdue tasks come first. */
    th_get(&srv, "/api/v1/cases?overdue=true&limit=100", th_token(&srv, "operator"), &r);
    assert_int_equal(r.status, 200);
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        if (json_integer_value(json_object_get(it, "id")) == id)
            found = true;
        assert_true(json_is_true(json_object_get(it, "overdue")));
    }
    assert_true(found);
    th_resp_free(&r);
    th_get(&srv, "/api/v1/tasks?limit=500", th_token(&srv, "operator"), &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "overdue")));
    th_resp_free(&r);

    /* Another scheduler run raises nothing again. */
    sleep(6);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM events WHERE subject_id = %lld AND type IN"
                             " ('case.reminder', 'case.overdue', 'case.escalated')",
                             id),
                     4);
    /* 立案 starts a fresh step: no longer overdue. */
    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\"");
    assert_int_equal(th_sqlf(&srv, "SELECT overdue FROM cases WHERE id = %lld", id), 0);
    assert_int_equal(th_sqlf(&srv, "SELECT alert_level FROM cases WHERE id = %lld", id), 0);
    th_clock_offset(&srv, 0);
    json_object_clear(srv.tokens);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deadlines_skip_weekend_and_holiday),
        cmocka_unit_test(scheduler_reminds_marks_overdue_and_escalates_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
