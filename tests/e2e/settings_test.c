/* tests/e2e/settings_test.c: the admin endpoints of api/settings.c through the real server —
 * holidays and make-up working days that move case deadlines, case settings (working periods,
 * duplicate radius) that the next report follows, dispatch rules that dispatch a registered
 * case by themselves until deleted; the city's UTC offset that moves every local day (case
 * numbers, the dashboard, quiet hours); bad input that changes nothing, and writes by
 * non-admins.
 * Its own server: the clock moves for everything in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
static struct th_server twin; /* utc_offset_moves_local_days; stopped by teardown if it failed */
static long long sanitation, municipal, grid1, cat0102;

static int setup(void **state)
{
    th_server_start(&srv, "testing.clock_control = true\n");
    th_seed(&srv);
    sanitation = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'sanitation'");
    municipal = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'municipal'");
    grid1 = th_sql_int(&srv, "SELECT id FROM grids WHERE code = '999901001001001'");
    cat0102 = th_sql_int(&srv, "SELECT id FROM categories WHERE code_set = 'gbt30428' AND"
                               " kind = 'event' AND full_code = '0102'");
    return 0;
}

static int teardown(void **state)
{
    if (twin.pid > 0)
        th_server_stop(&twin);
    return th_server_stop(&srv);
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* The settings as GET answers them, as text (malloc'd), to compare before and after. */
static char *settings_text(void)
{
    struct th_resp r;
    char *s;

    th_call(&srv, "admin", "GET", "/api/v1/case-settings", NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    s = json_dumps(r.json, JSON_SORT_KEYS | JSON_COMPACT);
    th_resp_free(&r);
    assert_non_null(s);
    return s;
}

/* ---- calendar ----------------------------------------------------------------------------- */

/* Friday 2030-01-04 17:20 (UTC+8); category 0102 has a 立案时限 of 30 working minutes: 10 on
 * Friday, 20 on the next working day (08:30 + 20 = 08:50 local = 00:50Z). A holiday on Monday
 * moves it to Tuesday; a make-up Saturday pulls it to Saturday. */
static void holiday_and_makeup_day_move_deadlines(void **state)
{
    struct th_resp r;
    json_t *it;
    size_t i;
    bool found = false;

    th_clock_at(&srv, 2030, 1, 4, 9, 20);
    th_assert_minute(th_case_due(&srv, th_report_as(&srv, "inspector", NULL)),
                     "2030-01-07T00:50:00.000Z");

    th_call(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-07", NULL,
            "{\"kind\":\"holiday\",\"name\":\"测试假日\"}", &r);
    th_expect(&r, 201, NULL);
    assert_string_equal(th_jstr(r.json, "date"), "2030-01-07");
    assert_string_equal(th_jstr(r.json, "kind"), "holiday");
    assert_string_equal(th_jstr(r.json, "name"), "测试假日");
    th_resp_free(&r);
    /* Setting it again replaces it: 200, still one row. */
    th_call(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-07", NULL,
            "{\"kind\":\"holiday\",\"name\":\"元旦调休\"}", &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM work_calendar_days"), 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'calendar_day.set'"
                             " AND object_id = 20300107"),
                     2);

    th_call(&srv, "dispatcher", "GET", "/api/v1/calendar/days?from=2030-01-01&to=2030-01-31", NULL,
            NULL, &r);
    th_expect(&r, 200, NULL);
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        if (strcmp(th_jstr(it, "date"), "2030-01-07") == 0) {
            found = true;
            assert_string_equal(th_jstr(it, "kind"), "holiday");
            assert_string_equal(th_jstr(it, "name"), "元旦调休");
        }
    }
    assert_true(found);
    th_resp_free(&r);
    /* Outside the range asked: not listed. */
    th_call(&srv, "leader", "GET", "/api/v1/calendar/days?from=2030-02-01&to=2030-02-28", NULL,
            NULL, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);

    th_assert_minute(th_case_due(&srv, th_report_as(&srv, "inspector", NULL)),
                     "2030-01-08T00:50:00.000Z");

    /* Removing the holiday: Monday again; a second removal finds nothing. */
    th_check(&srv, "admin", "DELETE", "/api/v1/calendar/days/2030-01-07", NULL, 204, NULL);
    th_check(&srv, "admin", "DELETE", "/api/v1/calendar/days/2030-01-07", NULL, 404, "not_found");
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'calendar_day.delete'"), 1);
    th_assert_minute(th_case_due(&srv, th_report_as(&srv, "inspector", NULL)),
                     "2030-01-07T00:50:00.000Z");

    /* A make-up working Saturday (调休) counts. */
    th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-05", "{\"kind\":\"workday\"}",
             201, NULL);
    th_assert_minute(th_case_due(&srv, th_report_as(&srv, "inspector", NULL)),
                     "2030-01-05T00:50:00.000Z");
    th_check(&srv, "admin", "DELETE", "/api/v1/calendar/days/2030-01-05", NULL, 204, NULL);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM work_calendar_days"), 0);
}

/* The same Friday 17:20 with working periods 09:00-12:00, 13:00-18:00: 30 minutes end 17:50
 * local (09:50Z) the same day. */
static void working_periods_move_deadlines(void **state)
{
    struct th_resp r;

    th_clock_at(&srv, 2030, 1, 4, 9, 20);
    th_call(&srv, "admin", "PATCH", "/api/v1/case-settings", NULL,
            "{\"work_periods\":\" 9:00-12:00 , 13:00-18:00\"}", &r);
    th_expect(&r, 200, NULL);
    /* Stored in the canonical form. */
    assert_string_equal(th_jstr(r.json, "work_periods"), "09:00-12:00,13:00-18:00");
    assert_int_equal(th_jint(r.json, "dup_radius_m"), 50);
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM case_settings WHERE work_periods ="
                                   " '09:00-12:00,13:00-18:00'"),
                     1);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'case_settings.update'"), 1);
    th_assert_minute(th_case_due(&srv, th_report_as(&srv, "inspector", NULL)),
                     "2030-01-04T09:50:00.000Z");

    th_check(&srv, "admin", "PATCH", "/api/v1/case-settings",
             "{\"work_periods\":\"08:30-12:00,13:30-17:30\"}", 200, NULL);
    th_assert_minute(th_case_due(&srv, th_report_as(&srv, "inspector", NULL)),
                     "2030-01-07T00:50:00.000Z");
}

static void bad_calendar_input_changes_nothing(void **state)
{
    static const char *const bad_dates[] = {
        "2030-02-30", "2030-1-05",  "1969-12-31", "2038-01-01", "20300105",
        "2030-13-01", "2030-00-10", "abcd-ef-gh", "2031-02-29", NULL,
    };
    char path[128];
    long long audits =
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'calendar_day.%%'");

    for (size_t i = 0; bad_dates[i]; i++) {
        snprintf(path, sizeof path, "/api/v1/calendar/days/%s", bad_dates[i]);
        th_check(&srv, "admin", "PUT", path, "{\"kind\":\"holiday\"}", 400, "invalid_argument");
        th_check(&srv, "admin", "DELETE", path, NULL, 400, "invalid_argument");
        snprintf(path, sizeof path, "/api/v1/calendar/days?from=%s", bad_dates[i]);
        th_check(&srv, "admin", "GET", path, NULL, 400, "invalid_argument");
    }
    /* A leap day is a real date. */
    th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2032-02-29", "{\"kind\":\"holiday\"}",
             201, NULL);
    th_check(&srv, "admin", "DELETE", "/api/v1/calendar/days/2032-02-29", NULL, 204, NULL);
    audits += 2;

    th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-07", "{\"kind\":\"weekend\"}",
             400, "invalid_argument");
    th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-07", "{\"name\":\"no kind\"}",
             400, "invalid_argument");
    th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-07",
             "{\"kind\":\"holiday\",\"working\":0}", 400, "invalid_argument");
    th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-07", NULL, 400,
             "invalid_argument");
    th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-07",
             "{\"kind\":\"holiday\",\"name\":\"line\\nbreak\"}", 400, "invalid_argument");
    {
        /* 65 characters (of 3 bytes each) is one too many; 64 fit. */
        char body[512];
        size_t o = (size_t)snprintf(body, sizeof body, "{\"kind\":\"holiday\",\"name\":\"");
        for (int k = 0; k < 65; k++)
            o += (size_t)snprintf(body + o, sizeof body - o, "假");
        snprintf(body + o, sizeof body - o, "\"}");
        th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-07", body, 400,
                 "invalid_argument");
        o = (size_t)snprintf(body, sizeof body, "{\"kind\":\"holiday\",\"name\":\"");
        for (int k = 0; k < 64; k++)
            o += (size_t)snprintf(body + o, sizeof body - o, "假");
        snprintf(body + o, sizeof body - o, "\"}");
        th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-08", body, 201, NULL);
        th_check(&srv, "admin", "DELETE", "/api/v1/calendar/days/2030-01-08", NULL, 204, NULL);
        audits += 2;
    }
    th_check(&srv, "admin", "GET", "/api/v1/calendar/days?from=2030-02-01&to=2030-01-01", NULL, 400,
             "invalid_argument");
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM work_calendar_days"), 0);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'calendar_day.%%'"),
        audits);
}

static void bad_settings_change_nothing(void **state)
{
    static const char *const bad[] = {
        "{\"work_periods\":\"08:30-12:00,11:00-13:00\"}", /* overlap */
        "{\"work_periods\":\"13:30-17:30,08:30-12:00\"}", /* not sorted */
        "{\"work_periods\":\"25:00-26:00\"}",
        "{\"work_periods\":\"08:30-08:30\"}", /* empty */
        "{\"work_periods\":\"\"}",
        "{\"work_periods\":\"08:30\"}",
        /* 138 bytes: the limit is the domain's (SETTINGS_PERIODS_MAX, 128) */
        "{\"work_periods\":\"08:30-12:00,13:30-17:30                                               "
        "                                                                    \"}",
        "{\"work_periods\":\"1:00-2:00,3:00-4:00,5:00-6:00,7:00-8:00,9:00-10:00,11:00-12:00,"
        "13:00-14:00,15:00-16:00,17:00-18:00\"}", /* nine periods */
        "{\"dup_radius_m\":5001}",
        "{\"dup_radius_m\":-1}",
        "{\"dup_radius_m\":\"50\"}",
        "{\"dup_window_h\":8761}",
        "{\"escalate_pct\":99}",
        "{\"escalate_pct\":1001}",
        "{\"utc_offset_min\":841}",
        "{\"utc_offset_min\":-841}",
        "{\"dup_radius_m\":10,\"escalate_pct\":50}", /* one bad field spoils the whole patch */
        "{\"dup_radius_m\":10,\"id\":2}",
        "{\"updated_at\":\"2030-01-01T00:00:00Z\"}",
        "{}",
        "[]",
        NULL,
    };
    char *before = settings_text(), *after;
    long long audits =
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'case_settings.update'");

    for (size_t i = 0; bad[i]; i++) {
        struct th_resp r;
        th_call(&srv, "admin", "PATCH", "/api/v1/case-settings", NULL, bad[i], &r);
        if (r.status != 400 || strcmp(th_error_code(&r), "invalid_argument") != 0)
            fail_msg("PATCH %s: expected 400 invalid_argument, got %ld %s", bad[i], r.status,
                     r.body);
        th_resp_free(&r);
    }
    th_check(&srv, "admin", "PATCH", "/api/v1/case-settings", NULL, 400, "invalid_argument");
    after = settings_text();
    assert_string_equal(after, before);
    assert_int_equal(th_sqlf(&srv, "SELECT dup_radius_m FROM case_settings WHERE id = 1"), 50);
    assert_int_equal(th_sqlf(&srv, "SELECT escalate_pct FROM case_settings WHERE id = 1"), 150);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'case_settings.update'"),
        audits);
    free(before);
    free(after);
    /* The edges of the ranges are accepted (and put back). */
    th_check(
        &srv, "admin", "PATCH", "/api/v1/case-settings",
        "{\"dup_radius_m\":5000,\"dup_window_h\":0,\"escalate_pct\":1000,\"utc_offset_min\":-840}",
        200, NULL);
    th_check(
        &srv, "admin", "PATCH", "/api/v1/case-settings",
        "{\"dup_radius_m\":50,\"dup_window_h\":72,\"escalate_pct\":150,\"utc_offset_min\":480}",
        200, NULL);
}

/* Reports at A, then 20 m north of A: a hint at the default 50 m; 20 m south of A with the
 * radius at 10 m: none; about 21 m east of A at 100 m: A again. */
static void duplicate_radius_follows_settings(void **state)
{
    struct th_resp r;
    long long a;
    json_t *d;
    size_t i;
    bool found;

    th_clock_at(&srv, 2030, 1, 9, 2, 0);
    th_report_resp(&srv, "inspector", "\"location\":{\"lat\":31.302,\"lng\":120.602}", &r);
    th_expect(&r, 201, NULL);
    a = th_jint(r.json, "id");
    th_resp_free(&r);

    th_report_resp(&srv, "inspector", "\"location\":{\"lat\":31.30218,\"lng\":120.602}", &r);
    th_expect(&r, 201, NULL);
    found = false;
    json_array_foreach(json_object_get(r.json, "possible_duplicates"), i, d) found |=
        th_jint(d, "id") == a;
    assert_true(found);
    th_resp_free(&r);

    th_call(&srv, "admin", "PATCH", "/api/v1/case-settings", NULL, "{\"dup_radius_m\":10}", &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "dup_radius_m"), 10);
    th_resp_free(&r);
    th_report_resp(&srv, "inspector", "\"location\":{\"lat\":31.30182,\"lng\":120.602}", &r);
    th_expect(&r, 201, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "possible_duplicates")), 0);
    th_resp_free(&r);

    th_check(&srv, "admin", "PATCH", "/api/v1/case-settings", "{\"dup_radius_m\":100}", 200, NULL);
    th_report_resp(&srv, "inspector", "\"location\":{\"lat\":31.302,\"lng\":120.60222}", &r);
    th_expect(&r, 201, NULL);
    found = false;
    json_array_foreach(json_object_get(r.json, "possible_duplicates"), i, d) found |=
        th_jint(d, "id") == a;
    assert_true(found);
    th_resp_free(&r);

    th_check(&srv, "admin", "PATCH", "/api/v1/case-settings", "{\"dup_radius_m\":50}", 200, NULL);
    th_call(&srv, "operator", "GET", "/api/v1/case-settings", NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "dup_radius_m"), 50);
    assert_string_equal(th_jstr(r.json, "work_periods"), "08:30-12:00,13:30-17:30");
    th_resp_free(&r);
}

/* ---- dispatch rules ----------------------------------------------------------------------- */

static long long rule_count(void)
{
    return th_sqlf(&srv, "SELECT COUNT(*) FROM dispatch_rules");
}

/* Report in grid 1, accept and register; returns the id. */
static long long registered_case(void)
{
    long long id = th_report_as(&srv, "inspector", NULL);

    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\"");
    return id;
}

static void auto_rule_dispatches_until_deleted(void **state)
{
    struct th_resp r1, r2, r;
    char body[256], path[64];
    long long rule, id;

    th_clock_at(&srv, 2030, 1, 9, 2, 0);
    assert_int_equal(rule_count(), 0);
    snprintf(body, sizeof body,
             "{\"grid_id\":%lld,\"category_id\":%lld,\"department_id\":%lld,\"auto\":true}", grid1,
             cat0102, municipal);
    th_call(&srv, "admin", "POST", "/api/v1/dispatch-rules", "rule-key-1", body, &r1);
    th_expect(&r1, 201, NULL);
    rule = th_jint(r1.json, "id");
    assert_true(rule > 0);
    assert_int_equal(th_jint(r1.json, "department_id"), municipal);
    assert_int_equal(th_jint(r1.json, "grid_id"), grid1);
    assert_int_equal(th_jint(r1.json, "category_id"), cat0102);
    assert_true(json_is_true(json_object_get(r1.json, "auto")));
    assert_string_equal(th_jstr(r1.json, "category_code"), "0102");
    /* A retry with the same key answers the same rule and adds nothing. */
    th_call(&srv, "admin", "POST", "/api/v1/dispatch-rules", "rule-key-1", body, &r2);
    th_expect(&r2, 201, NULL);
    assert_int_equal(th_jint(r2.json, "id"), rule);
    assert_true(th_header(&r2, "idempotent-replayed", path, sizeof path));
    th_resp_free(&r1);
    th_resp_free(&r2);
    assert_int_equal(rule_count(), 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'dispatch_rule.create'"
                             " AND object_id = %lld",
                             rule),
                     1);

    th_call(&srv, "dispatcher", "GET", "/api/v1/dispatch-rules", NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    assert_int_equal(th_jint(json_array_get(json_object_get(r.json, "items"), 0), "id"), rule);
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    th_resp_free(&r);

    id = registered_case();
    assert_string_equal(th_case_state(&srv, id), "dispatched");
    assert_int_equal(th_sqlf(&srv, "SELECT department_id FROM cases WHERE id = %lld", id),
                     municipal);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld AND"
                             " actor_role = 'system' AND action = 'dispatch'",
                             id),
                     1);

    snprintf(path, sizeof path, "/api/v1/dispatch-rules/%lld", rule);
    th_check(&srv, "admin", "DELETE", path, NULL, 204, NULL);
    th_check(&srv, "admin", "DELETE", path, NULL, 404, "not_found");
    th_check(&srv, "admin", "GET", path, NULL, 404, "not_found");
    assert_int_equal(rule_count(), 0);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'dispatch_rule.delete'"
                             " AND object_id = %lld",
                             rule),
                     1);
    id = registered_case();
    assert_string_equal(th_case_state(&srv, id), "registered");
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE id = %lld AND department_id IS NULL", id),
        1);

    /* A rule without auto only suggests: the case waits for a dispatcher. */
    snprintf(body, sizeof body, "{\"grid_id\":%lld,\"department_id\":%lld}", grid1, municipal);
    th_call(&srv, "admin", "POST", "/api/v1/dispatch-rules", NULL, body, &r);
    th_expect(&r, 201, NULL);
    assert_true(json_is_false(json_object_get(r.json, "auto")));
    assert_true(json_is_null(json_object_get(r.json, "category_id")));
    snprintf(path, sizeof path, "/api/v1/dispatch-rules/%lld", th_jint(r.json, "id"));
    th_resp_free(&r);
    id = registered_case();
    assert_string_equal(th_case_state(&srv, id), "registered");
    th_check(&srv, "admin", "DELETE", path, NULL, 204, NULL);
    assert_int_equal(rule_count(), 0);
}

static void bad_rules_are_refused(void **state)
{
    char body[256], path[64];
    long long inactive, first;
    long long audits =
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'dispatch_rule.create'");
    struct th_resp r;

    th_sql_exec(&srv,
                "INSERT INTO departments (code, name, active) VALUES ('closed', '已撤销', 0)");
    inactive = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'closed'");
    assert_int_equal(rule_count(), 0);

    snprintf(body, sizeof body, "{\"grid_id\":%lld,\"department_id\":999999}", grid1);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 400, "invalid_argument");
    snprintf(body, sizeof body, "{\"grid_id\":%lld,\"department_id\":%lld}", grid1, inactive);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 400, "invalid_argument");
    snprintf(body, sizeof body, "{\"grid_id\":999999,\"department_id\":%lld}", sanitation);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 400, "invalid_argument");
    snprintf(body, sizeof body, "{\"category_id\":999999,\"department_id\":%lld}", sanitation);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 400, "invalid_argument");
    snprintf(body, sizeof body, "{\"department_id\":%lld,\"auto\":true}", sanitation);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 400, "invalid_argument");
    snprintf(body, sizeof body, "{\"grid_id\":%lld}", grid1);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 400, "invalid_argument");
    snprintf(body, sizeof body, "{\"grid_id\":%lld,\"department_id\":%lld,\"auto\":1}", grid1,
             sanitation);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 400, "invalid_argument");
    snprintf(body, sizeof body, "{\"grid_id\":%lld,\"department_id\":%lld,\"id\":5}", grid1,
             sanitation);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 400, "invalid_argument");
    th_check(&srv, "admin", "GET", "/api/v1/dispatch-rules?limit=0", NULL, 400, "invalid_argument");
    th_check(&srv, "admin", "GET", "/api/v1/dispatch-rules?cursor=zz", NULL, 400,
             "invalid_argument");
    assert_int_equal(rule_count(), 0);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'dispatch_rule.create'"),
        audits);

    /* Grid + category once; again, even to another department: 409. */
    snprintf(body, sizeof body, "{\"grid_id\":%lld,\"category_id\":%lld,\"department_id\":%lld}",
             grid1, cat0102, sanitation);
    th_call(&srv, "admin", "POST", "/api/v1/dispatch-rules", NULL, body, &r);
    th_expect(&r, 201, NULL);
    first = th_jint(r.json, "id");
    th_resp_free(&r);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 409, "conflict");
    snprintf(body, sizeof body, "{\"grid_id\":%lld,\"category_id\":%lld,\"department_id\":%lld}",
             grid1, cat0102, municipal);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 409, "conflict");
    assert_int_equal(rule_count(), 1);
    /* Category only is another rule; so is grid only; each once. */
    snprintf(body, sizeof body, "{\"category_id\":%lld,\"department_id\":%lld}", cat0102,
             municipal);
    th_call(&srv, "admin", "POST", "/api/v1/dispatch-rules", "rule-key-2", body, &r);
    th_expect(&r, 201, NULL);
    th_resp_free(&r);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 409, "conflict");
    /* The same key with another body is a conflict, and adds nothing. */
    snprintf(body, sizeof body, "{\"category_id\":%lld,\"department_id\":%lld}", cat0102,
             sanitation);
    th_call(&srv, "admin", "POST", "/api/v1/dispatch-rules", "rule-key-2", body, &r);
    th_expect(&r, 409, "conflict");
    th_resp_free(&r);
    snprintf(body, sizeof body, "{\"grid_id\":%lld,\"department_id\":%lld}", grid1, municipal);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 201, NULL);
    th_check(&srv, "admin", "POST", "/api/v1/dispatch-rules", body, 409, "conflict");
    assert_int_equal(rule_count(), 3);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'dispatch_rule.create'"),
        audits + 3);

    /* Pages of one, then a filter. */
    th_call(&srv, "shift_lead", "GET", "/api/v1/dispatch-rules?limit=1", NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    assert_int_equal(th_jint(json_array_get(json_object_get(r.json, "items"), 0), "id"), first);
    snprintf(path, sizeof path, "/api/v1/dispatch-rules?limit=5&cursor=%s",
             th_jstr(r.json, "next_cursor"));
    th_resp_free(&r);
    th_call(&srv, "shift_lead", "GET", path, NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
    th_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/dispatch-rules?department_id=%lld", sanitation);
    th_call(&srv, "shift_lead", "GET", path, NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    th_resp_free(&r);

    th_sql_exec(&srv, "DELETE FROM dispatch_rules");
}

/* ---- roles -------------------------------------------------------------------------------- */

/* PATCH moves a rule to another department or turns auto on: cases registered afterwards
 * follow it. Bad patches are refused and change nothing. */
static void rule_patch_changes_department_and_auto(void **state)
{
    char body[256], path[64];
    long long rule, id, closed;
    struct th_resp r;

    th_clock_at(&srv, 2030, 1, 10, 2, 0);
    assert_int_equal(rule_count(), 0);
    snprintf(body, sizeof body, "{\"grid_id\":%lld,\"category_id\":%lld,\"department_id\":%lld}",
             grid1, cat0102, sanitation);
    th_call(&srv, "admin", "POST", "/api/v1/dispatch-rules", NULL, body, &r);
    th_expect(&r, 201, NULL);
    rule = th_jint(r.json, "id");
    th_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/dispatch-rules/%lld", rule);
    id = registered_case();
    assert_string_equal(th_case_state(&srv, id), "registered"); /* a suggestion only */

    /* Refused, and nothing changes. */
    th_sql_exec(&srv,
                "INSERT INTO departments (code, name, active) VALUES ('retired', '已合并', 0)");
    closed = th_sqlf(&srv, "SELECT id FROM departments WHERE code = 'retired'");
    assert_true(closed > 0);
    th_check(&srv, "admin", "PATCH", path, "{}", 400, "invalid_argument");
    snprintf(body, sizeof body, "{\"grid_id\":%lld}", grid1);
    th_check(&srv, "admin", "PATCH", path, body, 400, "invalid_argument");
    th_check(&srv, "admin", "PATCH", path, "{\"department_id\":null}", 400, "invalid_argument");
    th_check(&srv, "admin", "PATCH", path, "{\"auto\":null,\"department_id\":1}", 400,
             "invalid_argument");
    th_check(&srv, "admin", "PATCH", path, "{\"department_id\":999999}", 400, "invalid_argument");
    snprintf(body, sizeof body, "{\"department_id\":%lld,\"auto\":true}", closed);
    th_check(&srv, "admin", "PATCH", path, body, 400, "invalid_argument");
    th_check(&srv, "admin", "PATCH", path, "{\"auto\":\"yes\"}", 400, "invalid_argument");
    th_check(&srv, "admin", "PATCH", "/api/v1/dispatch-rules/999999", "{\"auto\":true}", 404,
             "not_found");
    th_check(&srv, "dispatcher", "PATCH", path, "{\"auto\":true}", 403, "permission_denied");
    assert_int_equal(
        th_sqlf(&srv, "SELECT department_id FROM dispatch_rules WHERE id = %lld", rule),
        sanitation);
    assert_int_equal(th_sqlf(&srv, "SELECT auto FROM dispatch_rules WHERE id = %lld", rule), 0);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'dispatch_rule.update'"), 0);

    snprintf(body, sizeof body, "{\"department_id\":%lld,\"auto\":true}", municipal);
    th_call(&srv, "admin", "PATCH", path, NULL, body, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "id"), rule);
    assert_int_equal(th_jint(r.json, "department_id"), municipal);
    assert_int_equal(th_jint(r.json, "grid_id"), grid1);
    assert_true(json_is_true(json_object_get(r.json, "auto")));
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'dispatch_rule.update'"
                             " AND object_id = %lld AND detail = 'department=%lld auto=0 ->"
                             " department=%lld auto=1'",
                             rule, sanitation, municipal),
                     1);
    /* The case registered before keeps waiting; a new one goes to 市政 by itself. */
    assert_string_equal(th_case_state(&srv, id), "registered");
    id = registered_case();
    assert_string_equal(th_case_state(&srv, id), "dispatched");
    assert_int_equal(th_sqlf(&srv, "SELECT department_id FROM cases WHERE id = %lld", id),
                     municipal);

    /* One field alone leaves the other. */
    th_call(&srv, "admin", "PATCH", path, NULL, "{\"auto\":false}", &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "department_id"), municipal);
    assert_true(json_is_false(json_object_get(r.json, "auto")));
    th_resp_free(&r);
    th_check(&srv, "admin", "DELETE", path, NULL, 204, NULL);
    assert_int_equal(rule_count(), 0);
}

static void only_admins_write(void **state)
{
    static const char *const writers_not[] = {"operator",  "shift_lead", "dispatcher", "leader",
                                              "inspector", "handler",    "citizen",    NULL};
    static const char *const readers[] = {"operator", "shift_lead", "dispatcher",
                                          "leader",   "admin",      NULL};
    static const char *const not_readers[] = {"inspector", "handler", "citizen", NULL};
    static const char *const reads[] = {"/api/v1/calendar/days", "/api/v1/case-settings",
                                        "/api/v1/dispatch-rules", NULL};
    char body[256], path[64];
    struct th_resp r;
    long long rule;
    char *before = settings_text(), *after;

    snprintf(body, sizeof body, "{\"grid_id\":%lld,\"department_id\":%lld,\"auto\":true}", grid1,
             sanitation);
    th_call(&srv, "admin", "POST", "/api/v1/dispatch-rules", NULL, body, &r);
    th_expect(&r, 201, NULL);
    rule = th_jint(r.json, "id");
    th_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/dispatch-rules/%lld", rule);
    th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-10-01", "{\"kind\":\"holiday\"}",
             201, NULL);

    for (size_t i = 0; writers_not[i]; i++) {
        const char *role = writers_not[i];
        th_check(&srv, role, "PUT", "/api/v1/calendar/days/2030-01-07", "{\"kind\":\"holiday\"}",
                 403, "permission_denied");
        th_check(&srv, role, "DELETE", "/api/v1/calendar/days/2030-10-01", NULL, 403,
                 "permission_denied");
        th_check(&srv, role, "PATCH", "/api/v1/case-settings", "{\"dup_radius_m\":1}", 403,
                 "permission_denied");
        th_check(&srv, role, "POST", "/api/v1/dispatch-rules", body, 403, "permission_denied");
        th_check(&srv, role, "DELETE", path, NULL, 403, "permission_denied");
    }
    after = settings_text();
    assert_string_equal(after, before);
    free(before);
    free(after);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM work_calendar_days"), 1);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM work_calendar_days WHERE day = '2030-10-01'"), 1);
    assert_int_equal(rule_count(), 1);

    for (size_t i = 0; readers[i]; i++)
        for (size_t k = 0; reads[k]; k++)
            th_check(&srv, readers[i], "GET", reads[k], NULL, 200, NULL);
    for (size_t i = 0; not_readers[i]; i++)
        for (size_t k = 0; reads[k]; k++)
            th_check(&srv, not_readers[i], "GET", reads[k], NULL, 403, "permission_denied");

    th_check(&srv, "admin", "DELETE", path, NULL, 204, NULL);
    th_check(&srv, "admin", "DELETE", "/api/v1/calendar/days/2030-10-01", NULL, 204, NULL);
}

/* ---- the city's UTC offset ------------------------------------------------------------------ */

/* The case number of case id as GET answers it (malloc'd). */
static char *case_no_on(struct th_server *s, long long id)
{
    struct th_resp r;
    char path[64], *no;

    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    th_call(s, "admin", "GET", path, NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    no = strdup(th_jstr(r.json, "case_no"));
    th_resp_free(&r);
    assert_non_null(no);
    return no;
}

static char *case_no(long long id)
{
    return case_no_on(&srv, id);
}

/* Whether a case's number on s starts with prefix within ~3 s. */
static bool case_no_becomes(struct th_server *s, long long id, const char *prefix)
{
    for (int i = 0; i < 30; i++) {
        char *no = case_no_on(s, id);
        bool ok = strncmp(no, prefix, strlen(prefix)) == 0;

        free(no);
        if (ok)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

/* The dashboard's "today" (admin, everything): its date into date[11], its new reports. */
static long long dash_today(char date[11])
{
    struct th_resp r;
    long long n;

    th_call(&srv, "admin", "GET", "/api/v1/dashboard/summary", NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    snprintf(date, 11, "%s", th_jstr(r.json, "date"));
    n = th_jint(json_object_get(r.json, "today"), "new_total");
    th_resp_free(&r);
    return n;
}

/* Reports counted in local hour h of local day day ("YYYY-MM-DD") by the dashboard. */
static long long dash_hour(const char *day, int h)
{
    struct th_resp r;
    char path[96];
    long long n;

    snprintf(path, sizeof path, "/api/v1/dashboard/hotspots?from=%s&to=%s", day, day);
    th_call(&srv, "admin", "GET", path, NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "hours")), 24);
    n = (long long)json_integer_value(json_array_get(json_object_get(r.json, "hours"), (size_t)h));
    th_resp_free(&r);
    return n;
}

static const char *quiet_zone(struct th_resp *r)
{
    th_call(&srv, "inspector", "GET", "/api/v1/me/push/quiet-hours", NULL, NULL, r);
    th_expect(r, 200, NULL);
    return th_jstr(r->json, "zone");
}

/* 2030-03-04 16:30 UTC is 00:30 on the 5th in China (+480) and 23:30 on the 4th at +420. Every
 * local day and time follows case_settings.utc_offset_min once an admin changes it: a new
 * case's number, the dashboard's today and local hour, the quiet hours' zone; the rollups
 * already counted stay in their old days until `cityd rollup-rebuild` recounts them. */
static void utc_offset_moves_local_days(void **state)
{
    struct th_resp r;
    long long a, b;
    char date[11], *no;

    th_clock_at(&srv, 2030, 3, 4, 16, 30);
    a = th_report_as(&srv, "inspector", NULL);
    no = case_no(a);
    assert_true(strncmp(no, "20300305-", 9) == 0);
    free(no);
    assert_int_equal(dash_today(date), 1);
    assert_string_equal(date, "2030-03-05");
    assert_int_equal(dash_hour("2030-03-05", 0), 1);
    assert_string_equal(quiet_zone(&r), "+08:00");
    th_resp_free(&r);

    th_call(&srv, "admin", "PATCH", "/api/v1/case-settings", NULL, "{\"utc_offset_min\":420}", &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "utc_offset_min"), 420);
    th_resp_free(&r);

    b = th_report_as(&srv, "inspector", NULL);
    no = case_no(b);
    assert_true(strncmp(no, "20300304-", 9) == 0);
    free(no);
    /* The date part of a number is computed on reading: the older case's moves as well (its
     * id part, which identifies it, does not). */
    no = case_no(a);
    assert_true(strncmp(no, "20300304-", 9) == 0);
    free(no);
    /* Today is the 4th now, 23:xx local; the first report stays counted in the 5th at 00:xx
     * (its rollup rows were cut under +8). */
    assert_int_equal(dash_today(date), 1);
    assert_string_equal(date, "2030-03-04");
    assert_int_equal(dash_hour("2030-03-04", 23), 1);
    assert_int_equal(dash_hour("2030-03-05", 0), 1);
    assert_string_equal(quiet_zone(&r), "+07:00");
    th_resp_free(&r);
    /* Another process on the same database, started now: its numbers follow the offset in
     * force (refdata_refresh_job), not China's built-in default, though reading a case
     * opens no reference data. */
    {
        th_server_twin(&twin, &srv);
        json_object_clear(twin.tokens); /* made at the moved clock: log in again on the twin */
        th_clock_at(&twin, 2030, 3, 4, 16, 30);
        assert_true(case_no_becomes(&twin, a, "20300304-"));
        th_check(&srv, "admin", "PATCH", "/api/v1/case-settings", "{\"utc_offset_min\":480}", 200,
                 NULL);
        /* ...and a change made by the other process reaches it. */
        assert_true(case_no_becomes(&twin, a, "20300305-"));
        th_check(&srv, "admin", "PATCH", "/api/v1/case-settings", "{\"utc_offset_min\":420}", 200,
                 NULL);
        assert_true(case_no_becomes(&twin, a, "20300304-"));
        assert_int_equal(th_server_stop(&twin), 0);
    }

    /* The rebuild recounts every row under the current offset: both reports in the 4th, 23:xx. */
    assert_int_equal(th_cityd(&srv, "rollup-rebuild"), 0);
    assert_int_equal(dash_today(date), 2);
    assert_string_equal(date, "2030-03-04");
    assert_int_equal(dash_hour("2030-03-04", 23), 2);
    assert_int_equal(dash_hour("2030-03-05", 0), 0);
    /* And the live path agrees with it from then on. */
    th_report_as(&srv, "inspector", NULL);
    th_rollups_match_rebuild(&srv);

    /* Back to China time, counted again, for whatever runs next. */
    th_check(&srv, "admin", "PATCH", "/api/v1/case-settings", "{\"utc_offset_min\":480}", 200,
             NULL);
    assert_int_equal(th_cityd(&srv, "rollup-rebuild"), 0);
    assert_int_equal(dash_today(date), 3);
    assert_string_equal(date, "2030-03-05");
    assert_string_equal(quiet_zone(&r), "+08:00");
    th_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(holiday_and_makeup_day_move_deadlines),
        cmocka_unit_test(working_periods_move_deadlines),
        cmocka_unit_test(bad_calendar_input_changes_nothing),
        cmocka_unit_test(bad_settings_change_nothing),
        cmocka_unit_test(duplicate_radius_follows_settings),
        cmocka_unit_test(auto_rule_dispatches_until_deleted),
        cmocka_unit_test(bad_rules_are_refused),
        cmocka_unit_test(only_admins_write),
        cmocka_unit_test(rule_patch_changes_department_and_auto),
        cmocka_unit_test(utc_offset_moves_local_days),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
