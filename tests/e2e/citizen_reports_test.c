/* tests/e2e/citizen_reports_test.c: issue 14, citizens — 随手拍 limits (per user and per
 * address, per hour and per local day, 429 with Retry-After and the instant in the message,
 * replays not counted, nothing written), photo-required categories, "my reports" progress
 * without staff data, and "still not fixed" within and after 7 days (返工 back to the
 * department, its inbox items, its 返工率 mark). Its own server with a moved clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "th_api.h"
#include "th_assert.h"

#define NCIT 3

static struct th_server srv;
static long long sanitation;
static char names[NCIT][32];
static char tokens[NCIT][2048];

static int setup(void **state)
{
    th_server_start(&srv, "testing.clock_control = true\n"
                          "citizen.reports_per_hour = 3\n"
                          "citizen.reports_per_day = 5\n"
                          "citizen.address_reports_per_hour = 8\n"
                          "citizen.address_reports_per_day = 100\n");
    th_seed(&srv);
    sanitation = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'sanitation'");
    /* Citizens register by text message; these copy the demo citizen's password. */
    for (int i = 0; i < NCIT; i++) {
        snprintf(names[i], sizeof names[i], "cit%d", i);
        th_sql_execf(
            &srv,
            "INSERT INTO users (username, display_name, password_hash, roles)"
            " SELECT '%s', '市民%d', password_hash, roles FROM users WHERE username = '%s'",
            names[i], i, th_username(&srv, "citizen"));
    }
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

/* Move the clock; every cached token was minted at another time. */
static void clock_at(int y, int mo, int d, int h, int mi)
{
    th_clock_at(&srv, y, mo, d, h, mi);
    for (int i = 0; i < NCIT; i++)
        tokens[i][0] = '\0';
}

static const char *cit(int i)
{
    if (!tokens[i][0]) {
        struct th_resp r;
        th_login(&srv, names[i], th_password(&srv, "citizen"), NULL, &r);
        th_expect(&r, 200, NULL);
        snprintf(tokens[i], sizeof tokens[i], "%s", th_jstr(r.json, "access_token"));
        th_resp_free(&r);
    }
    return tokens[i];
}

static long long cases_of(int i)
{
    return th_sqlf(&srv,
                   "SELECT COUNT(*) FROM cases c JOIN users u ON u.id = c.reporter_id"
                   " WHERE u.username = '%s'",
                   names[i]);
}

/* A citizen's report (category 0102 in grid 1) with an optional key; the response in r. */
static void report(int i, const char *key, struct th_resp *r)
{
    th_call_tok(&srv, "POST", "/api/v1/cases", cit(i), key, NULL,
                "{" TH_CAT_0102 ",\"description\":\"路边垃圾\"," TH_IN_GRID1 "}", r);
}

static void report_ok(int i, const char *key)
{
    struct th_resp r;
    report(i, key, &r);
    th_expect(&r, 201, NULL);
    th_resp_free(&r);
}

/* A 429 whose Retry-After lies in [lo, hi] seconds and whose message says why. */
static void report_refused(int i, long lo, long hi, const char *why)
{
    long long before = cases_of(i);
    long secs;
    char ra[32];
    struct th_resp r;

    report(i, NULL, &r);
    th_expect(&r, 429, "rate_limited");
    assert_true(th_header(&r, "retry-after", ra, sizeof ra));
    secs = strtol(ra, NULL, 10);
    if (secs < lo || secs > hi)
        fail_msg("Retry-After %s not in [%ld, %ld]: %s", ra, lo, hi, r.body);
    if (!strstr(r.body, why) || !strstr(r.body, "retry in") || !strstr(r.body, "+08:00 local time"))
        fail_msg("message does not say why and when: %s", r.body);
    th_resp_free(&r);
    assert_int_equal(cases_of(i), before); /* nothing written */
}

static void limits_per_user_and_address(void **state)
{
    struct th_resp r;

    /* 2030-03-04 10:00Z = 18:00 Beijing time. */
    clock_at(2030, 3, 4, 10, 0);
    report_ok(0, "lim-a-1");
    report_ok(0, NULL);
    report_ok(0, NULL);
    /* Per user: 3 an hour; the first slot frees an hour after the first report. */
    report_refused(0, 3500, 3601, "at most 3 an hour per user");
    /* A retry of a report already made is its first answer, not a new report. */
    report(0, "lim-a-1", &r);
    th_expect(&r, 201, NULL);
    assert_non_null(strstr(r.headers, "idempotent-replayed: true"));
    th_resp_free(&r);
    assert_int_equal(cases_of(0), 3);

    /* Per address: 8 an hour from 127.0.0.1, whoever reports. */
    for (int k = 0; k < 3; k++)
        report_ok(1, NULL);
    report_ok(2, NULL);
    report_ok(2, NULL);
    report_refused(2, 3500, 3601, "at most 8 an hour from one network address");
    assert_int_equal(cases_of(2), 2);

    /* Staff reports are not citizens' reports: no limit applies. */
    assert_true(th_report_as(&srv, "inspector", NULL) > 0);

    /* An hour later the hour is free again, but the day holds 5 per user. */
    clock_at(2030, 3, 4, 11, 5);
    report_ok(0, NULL);
    report_ok(0, NULL);
    /* Local midnight is 16:00Z: 4 h 55 min from 11:05Z. */
    report_refused(0, 17600, 17701, "at most 5 a day per user");
    /* The next local day (00:05 Beijing time) opens again. */
    clock_at(2030, 3, 4, 16, 5);
    report_ok(0, NULL);
    assert_int_equal(cases_of(0), 6);
}

/* Parallel reports of one citizen are counted one at a time: exactly the limit passes. */
static void parallel_reports_counted_exactly(void **state)
{
    json_t *reqs = json_array(), *res;
    char *auth;
    int ok = 0, limited = 0;

    clock_at(2030, 3, 5, 2, 0);
    auth = th_xprintf("Bearer %s", cit(2));
    for (int k = 0; k < 12; k++)
        json_array_append_new(reqs, json_pack("{s:s,s:s,s:s,s:s}", "path", "/api/v1/cases",
                                              "method", "POST", "authorization", auth, "body",
                                              "{" TH_CAT_0102
                                              ",\"description\":\"并发上报\"," TH_IN_GRID1 "}"));
    res = th_burst(&srv, reqs);
    for (size_t k = 0; k < 12; k++) {
        long long st = json_integer_value(json_object_get(json_array_get(res, k), "status"));
        ok += st == 201;
        limited += st == 429;
    }
    json_decref(res);
    json_decref(reqs);
    free(auth);
    assert_int_equal(ok, 3);
    assert_int_equal(limited, 9);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM cases c JOIN users u ON u.id = c.reporter_id"
                             " WHERE u.username = '%s' AND c.created_at >= '2030-03-05'",
                             names[2]),
                     3);
}

static void photo_required_category(void **state)
{
    long long cat = th_sql_int(&srv, "SELECT id FROM categories WHERE code_set = 'gbt30428' AND"
                                     " full_code = '0102' AND kind = 'event'");
    char path[64];
    struct th_resp r;
    long long before;

    clock_at(2030, 3, 6, 2, 0);
    snprintf(path, sizeof path, "/api/v1/categories/%lld", cat);
    th_call(&srv, "admin", "PATCH", path, NULL, "{\"photo_required\":true}", &r);
    th_expect(&r, 200, NULL);
    assert_true(json_is_true(json_object_get(r.json, "photo_required")));
    th_resp_free(&r);

    before = cases_of(1);
    report(1, NULL, &r);
    th_expect(&r, 400, "invalid_argument");
    assert_non_null(strstr(r.body, "photo"));
    th_resp_free(&r);
    assert_int_equal(cases_of(1), before);
    /* A hotline report has no photos to give: the rule is for citizens and inspectors. */
    th_call(&srv, "operator", "POST", "/api/v1/cases", NULL,
            "{" TH_CAT_0102 ",\"description\":\"热线来电\"," TH_IN_GRID1 "}", &r);
    th_expect(&r, 201, NULL);
    th_resp_free(&r);

    th_call(&srv, "admin", "PATCH", path, NULL, "{\"photo_required\":false}", &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
    report_ok(1, NULL);
}

/* Report as citizen 0 and take the case through to 结案. */
static long long closed_case(void)
{
    struct th_resp r;
    long long id;
    char dept[64];

    report(0, NULL, &r);
    th_expect(&r, 201, NULL);
    id = th_jint(r.json, "id");
    th_resp_free(&r);
    snprintf(dept, sizeof dept, "\"department_id\":%lld", sanitation);
    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\"");
    th_act(&srv, "dispatcher", id, NULL, "\"action\":\"dispatch\",%s", dept);
    th_act(&srv, "handler", id, NULL, "\"action\":\"handle\",\"text\":\"已清运完毕\"");
    th_act(&srv, "inspector", id, NULL, "\"action\":\"verify_pass\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"close\"");
    return id;
}

static void not_fixed(int i, long long id, const char *key, struct th_resp *r)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/cases/%lld/not-fixed", id);
    th_call_tok(&srv, "POST", path, cit(i), key, NULL, "{\"text\":\"垃圾又堆起来了\"}", r);
}

static long long handler_items(long long id)
{
    return th_sqlf(&srv,
                   "SELECT COUNT(*) FROM inbox_items i JOIN users u ON u.id = i.user_id"
                   " WHERE u.username = '%s' AND i.type = 'case.not_fixed'"
                   " AND i.payload LIKE '%%\"case_id\":%lld,%%'",
                   th_username(&srv, "handler"), id);
}

/* Inbox items of user (username) about case id, of type (NULL: any). */
static long long items_of(const char *user, long long id, const char *type)
{
    return th_sqlf(&srv,
                   "SELECT COUNT(*) FROM inbox_items i JOIN users u ON u.id = i.user_id"
                   " WHERE u.username = '%s' AND (%d OR i.type = '%s')"
                   " AND i.payload LIKE '%%\"case_id\":%lld,%%'",
                   user, type ? 0 : 1, type ? type : "", id);
}

static void wait_items(const char *user, long long id, const char *type)
{
    for (int t = 0; t < 100 && items_of(user, id, type) == 0; t++)
        usleep(100000);
}

static void my_reports_and_not_fixed_within_7_days(void **state)
{
    long long id, marks;
    char path[64];
    struct th_resp r;
    json_t *steps, *s;
    size_t k;
    bool handled = false;

    clock_at(2030, 3, 11, 2, 0);
    id = closed_case();
    snprintf(path, sizeof path, "/api/v1/me/reports/%lld", id);

    /* My report: official steps with their replies and the department by name only. */
    th_call_tok(&srv, "GET", path, cit(0), NULL, NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "state"), "closed");
    assert_string_equal(th_jstr(r.json, "state_label"), "已结案");
    assert_true(json_is_true(json_object_get(r.json, "can_report_not_fixed")));
    steps = json_object_get(r.json, "progress");
    json_array_foreach(steps, k, s)
    {
        if (strcmp(th_jstr(s, "action"), "handle") == 0) {
            handled = true;
            assert_string_equal(th_jstr(s, "reply"), "已清运完毕");
            assert_string_equal(th_jstr(s, "label"), "处置");
            assert_true(strlen(th_jstr(s, "department")) > 0);
        }
    }
    assert_true(handled);
    assert_null(strstr(r.body, "actor_id"));
    assert_null(strstr(r.body, "assignee_id"));
    assert_null(strstr(r.body, th_username(&srv, "handler")));
    th_resp_free(&r);
    /* Another citizen's report is not found, for reading and for 返工. */
    th_call_tok(&srv, "GET", path, cit(1), NULL, NULL, NULL, &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    not_fixed(1, id, NULL, &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    /* The list has it too. */
    th_call_tok(&srv, "GET", "/api/v1/me/reports?limit=2", cit(0), NULL, NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(json_array_get(json_object_get(r.json, "items"), 0), "id"), id);
    th_resp_free(&r);

    /* Six days and 23 hours after closing: 返工 back to the department. */
    marks = th_sqlf(&srv,
                    "SELECT COUNT(*) FROM eval_marks WHERE subject_type = 'department' AND"
                    " subject_id = %lld AND indicator = 'rework_rate' AND ok = 0",
                    sanitation);
    clock_at(2030, 3, 18, 1, 0);
    /* Photos that are not a list of media ids are refused before anything changes. */
    {
        char nf[64];
        snprintf(nf, sizeof nf, "/api/v1/cases/%lld/not-fixed", id);
        th_call_tok(&srv, "POST", nf, cit(0), NULL, NULL, "{\"text\":\"又脏了\",\"photos\":[7]}",
                    &r);
        th_expect(&r, 400, "invalid_argument");
        assert_string_equal(th_jstr(json_object_get(r.json, "error"), "message"),
                            "photos[0]: expected a media id");
        th_resp_free(&r);
        th_call_tok(&srv, "POST", nf, cit(0), NULL, NULL, "{\"text\":\"又脏了\",\"photos\":\"x\"}",
                    &r);
        th_expect(&r, 400, "invalid_argument");
        th_resp_free(&r);
        assert_string_equal(th_case_state(&srv, id), "closed");
    }
    not_fixed(0, id, "nf-1", &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "state"), "dispatched");
    assert_int_equal(th_jint(r.json, "rework_count"), 1);
    assert_true(json_is_string(json_object_get(r.json, "department")));
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT department_id FROM cases WHERE id = %lld", id),
                     sanitation);
    /* A retry is the first answer and changes nothing. */
    not_fixed(0, id, "nf-1", &r);
    th_expect(&r, 200, NULL);
    assert_non_null(strstr(r.headers, "idempotent-replayed: true"));
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT rework_count FROM cases WHERE id = %lld", id), 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld AND"
                             " action = 'not_fixed'",
                             id),
                     1);
    /* It counts against the department's 返工率. */
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM eval_marks WHERE subject_type = 'department'"
                             " AND subject_id = %lld AND indicator = 'rework_rate' AND ok = 0",
                             sanitation),
                     marks + 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM eval_marks WHERE case_id = %lld AND"
                             " reason = '市民反映未解决'",
                             id),
                     1);
    /* 考评 shows it: that local day, the department's 返工率 is one 返工 of one. */
    {
        json_t *it, *rw = NULL;
        size_t k2;
        th_get_as(&srv, "leader",
                  "/api/v1/evaluation?from=2030-03-18&to=2030-03-18&role=department", &r);
        th_expect(&r, 200, NULL);
        json_array_foreach(json_object_get(r.json, "items"), k2, it)
        {
            if (th_jint(it, "subject_id") == sanitation)
                rw = json_object_get(json_object_get(it, "indicators"), "rework_rate");
        }
        assert_non_null(rw);
        assert_int_equal(th_jint(rw, "den"), 1);
        assert_int_equal(th_jint(rw, "num"), 0);
        th_resp_free(&r);
    }
    /* The department's handler is told through the inbox. */
    for (int t = 0; t < 100 && handler_items(id) == 0; t++)
        usleep(100000);
    assert_int_equal(handler_items(id), 1);
    /* The reporter follows the progress through the inbox; the centre's 督办 is not theirs. */
    {
        char upath[64];
        snprintf(upath, sizeof upath, "/api/v1/cases/%lld/urge", id);
        th_post(&srv, "leader", upath, NULL, "{\"note\":\"请尽快返工\"}", &r);
        th_expect(&r, 201, NULL);
        th_resp_free(&r);
    }
    wait_items(th_username(&srv, "handler"), id, "case.urged");
    assert_int_equal(items_of(th_username(&srv, "handler"), id, "case.urged"), 1);
    wait_items(names[0], id, "case.closed");
    assert_int_equal(items_of(names[0], id, "case.closed"), 1);
    assert_int_equal(items_of(names[0], id, "case.handled"), 1);
    assert_int_equal(items_of(names[0], id, "case.urged"), 0);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM inbox_items i JOIN users u ON u.id = i.user_id"
                             " WHERE u.username = '%s' AND (i.payload LIKE '%%assignee%%' OR"
                             " i.payload LIKE '%%actor%%' OR i.payload LIKE '%%phone%%')",
                             names[0]),
                     0);
    /* While it is open again, a second "not fixed" is refused by the workflow. */
    not_fixed(0, id, NULL, &r);
    th_expect(&r, 409, "invalid_state");
    th_resp_free(&r);
}

static void not_fixed_after_7_days_refused(void **state)
{
    long long id, v;
    struct th_resp r;

    clock_at(2030, 3, 20, 2, 0);
    id = closed_case();
    v = th_case_version(&srv, id);
    clock_at(2030, 3, 27, 3, 0);
    not_fixed(0, id, NULL, &r);
    th_expect(&r, 409, "invalid_state");
    assert_non_null(strstr(r.body, "within 7 days"));
    th_resp_free(&r);
    assert_string_equal(th_case_state(&srv, id), "closed");
    assert_int_equal(th_case_version(&srv, id), v);
    assert_int_equal(th_sqlf(&srv, "SELECT rework_count FROM cases WHERE id = %lld", id), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limits_per_user_and_address),
        cmocka_unit_test(parallel_reports_counted_exactly),
        cmocka_unit_test(photo_required_category),
        cmocka_unit_test(my_reports_and_not_fixed_within_7_days),
        cmocka_unit_test(not_fixed_after_7_days_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
