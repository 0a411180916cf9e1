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
#include "th_assert.h"

static struct th_server srv;
static long long sanitation;

#define CAT_0102 "\"code_set\":\"gbt30428\",\"full_code\":\"0102\",\"kind\":\"event\""
#define IN_GRID1 "\"location\":{\"lat\":31.305,\"lng\":120.605}"

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

static long long real_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Move cityd's clock to a UTC instant; tokens minted at another time are dropped. */
static void clock_at(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {0};
    long long target;

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    target = (long long)timegm(&tm) * 1000;
    th_clock_offset(&srv, target - real_now_ms());
    json_object_clear(srv.tokens);
}

static void post(const char *role, const char *path, const char *body, struct th_resp *r)
{
    th_post_json(&srv, path, th_token(&srv, role), body, r);
}

static long long report(void)
{
    struct th_resp r;
    long long id;

    post("citizen", "/api/v1/cases", "{" CAT_0102 ",\"description\":\"暴露垃圾\"," IN_GRID1 "}",
         &r);
    if (r.status != 201)
        fail_msg("report: %ld %s", r.status, r.body);
    id = (long long)json_integer_value(json_object_get(r.json, "id"));
    th_resp_free(&r);
    return id;
}

/* One action; returns the case's due_at as the server renders it (static buffer). */
static const char *act(const char *role, long long id, const char *extra)
{
    static char due[64];
    char path[64], body[256], sql[128];
    struct th_resp r;

    snprintf(sql, sizeof sql, "SELECT version FROM cases WHERE id = %lld", id);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    snprintf(body, sizeof body, "{\"version\":%lld,%s}", th_sql_int(&srv, sql), extra);
    post(role, path, body, &r);
    if (r.status != 200)
        fail_msg("%s %s: %ld %s", role, extra, r.status, r.body);
    snprintf(due, sizeof due, "%s", th_jstr(r.json, "due_at"));
    th_resp_free(&r);
    return due;
}

static const char *due_of(long long id)
{
    static char due[64];
    char path[64];
    struct th_resp r;

    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    th_get(&srv, path, th_token(&srv, "dispatcher"), &r);
    assert_int_equal(r.status, 200);
    snprintf(due, sizeof due, "%s", th_jstr(r.json, "due_at"));
    th_resp_free(&r);
    return due;
}

/* The clock keeps running after a move, so instants are compared to the minute. */
static void assert_minute(const char *got, const char *want)
{
    if (strncmp(got, want, 16) != 0)
        fail_msg("due %s, expected %.16s", got, want);
}

static long long count(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long count(const char *fmt, ...)
{
    char sql[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return th_sql_int(&srv, sql);
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
    clock_at(2030, 1, 4, 9, 20);
    id = report();
    assert_minute(due_of(id), "2030-01-08T00:50:00.000Z");
    /* 受理 keeps the running 立案时限; 立案 starts the 派遣时限. */
    assert_minute(act("operator", id, "\"action\":\"accept\""), "2030-01-08T00:50:00.000Z");
    assert_minute(act("shift_lead", id, "\"action\":\"register\""), "2030-01-08T00:50:00.000Z");
    {
        char extra[96];
        snprintf(extra, sizeof extra, "\"action\":\"dispatch\",\"department_id\":%lld", sanitation);
        assert_minute(act("dispatcher", id, extra), "2030-01-08T05:50:00.000Z");
    }
    /* The same Friday without the holiday: Monday. */
    th_sql_exec(&srv, "DELETE FROM work_calendar_days");
    id = report();
    assert_minute(due_of(id), "2030-01-07T00:50:00.000Z");
    /* A make-up working Saturday (调休) counts. */
    th_sql_exec(&srv, "INSERT INTO work_calendar_days (day, working) VALUES ('2030-01-05', 1)");
    id = report();
    assert_minute(due_of(id), "2030-01-05T00:50:00.000Z");
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
    clock_at(2030, 1, 9, 2, 0);
    id = report();
    assert_minute(due_of(id), "2030-01-09T02:30:00.000Z");
    /* 10:20: past 50 %, before 80 % (10:24). */
    clock_at(2030, 1, 9, 2, 20);
    for (int k = 0; k < 150 && count("SELECT alert_level FROM cases WHERE id = %lld", id) < 1; k++)
        usleep(100000);
    assert_int_equal(count("SELECT alert_level FROM cases WHERE id = %lld", id), 1);
    assert_int_equal(count("SELECT overdue FROM cases WHERE id = %lld", id), 0);
    /* 11:00: past the deadline and the escalation point (150 % = 10:45). */
    clock_at(2030, 1, 9, 3, 0);
    for (int k = 0; k < 150 && count("SELECT alert_level FROM cases WHERE id = %lld", id) < 4; k++)
        usleep(100000);
    assert_int_equal(count("SELECT COUNT(*) FROM events WHERE subject_id = %lld AND"
                           " type = 'case.reminder'",
                           id),
                     2);
    assert_int_equal(
        count("SELECT COUNT(*) FROM events WHERE subject_id = %lld AND type = 'case.overdue'", id),
        1);
    assert_int_equal(count("SELECT COUNT(*) FROM events WHERE subject_id = %lld AND"
                           " type = 'case.escalated'",
                           id),
                     1);
    assert_int_equal(count("SELECT overdue FROM cases WHERE id = %lld", id), 1);

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
    assert_int_equal(count("SELECT COUNT(*) FROM events WHERE subject_id = %lld AND type IN"
                           " ('case.reminder', 'case.overdue', 'case.escalated')",
                           id),
                     4);
    /* 立案 starts a fresh step: no longer overdue. */
    act("operator", id, "\"action\":\"accept\"");
    act("shift_lead", id, "\"action\":\"register\"");
    assert_int_equal(count("SELECT overdue FROM cases WHERE id = %lld", id), 0);
    assert_int_equal(count("SELECT alert_level FROM cases WHERE id = %lld", id), 0);
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
