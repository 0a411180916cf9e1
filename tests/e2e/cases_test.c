/* tests/e2e/cases_test.c: the case workflow through the real server, as each role — reporting
 * with Idempotency-Key retries, the whole lifecycle with rework and rating, every action in
 * every state it is not allowed in, wrong roles, the two-dispatcher race, visibility, mass
 * assignment and bad input, lists, tasks, 督办 and events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"
#include "th_assert.h"

static struct th_server srv;
static long long sanitation, municipal, grid1, grid3;

/* Inside grid 1 (东华一网格, 东城区) and grid 3 (西湖一网格, 西城区). */
#define IN_GRID1                                                                                   \
    "\"location\":{\"lat\":31.305,\"lng\":120.605,\"accuracy\":8,\"address\":\"东华路1号\"}"

static int setup(void **state)
{
    th_server_start(&srv, NULL);
    th_seed(&srv);
    sanitation = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'sanitation'");
    municipal = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'municipal'");
    grid1 = th_sql_int(&srv, "SELECT id FROM grids WHERE code = '999901001001001'");
    grid3 = th_sql_int(&srv, "SELECT id FROM grids WHERE code = '999902001001001'");
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

/* ---- reporting ------------------------------------------------------------------------- */

static void report_resolves_grid_and_deadline(void **state)
{
    struct th_resp r;
    json_t *loc;

    th_post(&srv, "inspector", "/api/v1/cases", NULL,
            "{" TH_CAT_0102 ",\"description\":\"垃圾\"," IN_GRID1 ",\"urgency\":\"normal\"}", &r);
    th_expect(&r, 201, NULL);
    assert_string_equal(th_jstr(r.json, "state"), "reported");
    assert_int_equal(th_jint(r.json, "version"), 1);
    assert_int_equal(th_jint(r.json, "grid_id"), grid1);
    assert_string_equal(th_jstr(r.json, "source"), "inspector");
    assert_string_equal(th_jstr(r.json, "step"), "register");
    assert_true(json_is_string(json_object_get(r.json, "due_at")));
    assert_int_equal(strlen(th_jstr(r.json, "case_no")), 15);
    loc = json_object_get(r.json, "location");
    assert_string_equal(th_jstr(loc, "address"), "东华路1号");
    assert_int_equal(json_array_size(json_object_get(r.json, "timeline")), 1);
    assert_true(json_is_array(json_object_get(r.json, "possible_duplicates")));
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM events WHERE type = 'case.reported' AND"
                             " subject_id = %lld",
                             th_jint(r.json, "id")),
                     1);
    th_resp_free(&r);

    /* Outside every grid: no grid, still a case. */
    th_post(
        &srv, "citizen", "/api/v1/cases", NULL,
        "{\"category_id\":1,\"description\":\"井盖\",\"location\":{\"lat\":39.9,\"lng\":116.4}}",
        &r);
    th_expect(&r, 201, NULL);
    assert_true(json_is_null(json_object_get(r.json, "grid_id")));
    assert_string_equal(th_jstr(r.json, "source"), "citizen");
    th_resp_free(&r);
}

static void report_lists_possible_duplicates(void **state)
{
    struct th_resp r;
    long long first = th_report_as(&srv, "citizen", IN_GRID1);
    json_t *d;
    size_t i;
    bool found = false;

    /* About 20 m away from the first. */
    th_post(&srv, "inspector", "/api/v1/cases", NULL,
            "{" TH_CAT_0102 ",\"description\":\"同一堆垃圾\",\"location\":{\"lat\":31.30518,"
            "\"lng\":120.605}}",
            &r);
    th_expect(&r, 201, NULL);
    json_array_foreach(json_object_get(r.json, "possible_duplicates"), i, d)
    {
        if (th_jint(d, "id") == first) {
            found = true;
            assert_true(json_real_value(json_object_get(d, "distance_m")) < 50);
        }
    }
    assert_true(found);
    th_resp_free(&r);
}

static void retry_with_same_key_creates_one_case(void **state)
{
    const char *body = "{" TH_CAT_0102 ",\"description\":\"重试\"," IN_GRID1 "}";
    long long before = th_sql_int(&srv, "SELECT COUNT(*) FROM cases");
    long long ev = th_sql_int(&srv, "SELECT COUNT(*) FROM events WHERE type = 'case.reported'");
    struct th_resp r1, r2, r3, r4;
    char hdr[64];

    th_post(&srv, "citizen", "/api/v1/cases", "report-key-1", body, &r1);
    th_expect(&r1, 201, NULL);
    th_post(&srv, "citizen", "/api/v1/cases", "report-key-1", body, &r2);
    th_expect(&r2, 201, NULL);
    assert_int_equal(th_jint(r1.json, "id"), th_jint(r2.json, "id"));
    assert_true(th_header(&r2, "idempotent-replayed", hdr, sizeof hdr));
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM cases"), before + 1);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM events WHERE type = 'case.reported'"),
                     ev + 1);
    /* Same key, another body: conflict, nothing new. */
    th_post(&srv, "citizen", "/api/v1/cases", "report-key-1",
            "{" TH_CAT_0102 ",\"description\":\"别的\"," IN_GRID1 "}", &r3);
    th_expect(&r3, 409, "conflict");
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM cases"), before + 1);
    /* A new key is a new report. */
    th_post(&srv, "citizen", "/api/v1/cases", "report-key-2", body, &r4);
    th_expect(&r4, 201, NULL);
    assert_true(th_jint(r4.json, "id") != th_jint(r1.json, "id"));
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM cases"), before + 2);
    th_resp_free(&r1);
    th_resp_free(&r2);
    th_resp_free(&r3);
    th_resp_free(&r4);
}

/* A phone that gave up waiting sends the same report again while the first is still running
 * (several times over): every copy gets the one case, and one case and one event exist. */
static void concurrent_retries_create_one_case(void **state)
{
    const char *body = "{" TH_CAT_0102 ",\"description\":\"并发重试\"," IN_GRID1 "}";
    long long before = th_sql_int(&srv, "SELECT COUNT(*) FROM cases");
    long long ev = th_sql_int(&srv, "SELECT COUNT(*) FROM events WHERE type = 'case.reported'");
    json_t *reqs = json_array(), *res;
    char *auth = th_xprintf("Bearer %s", th_token(&srv, "citizen"));
    long long id = 0;
    int replayed = 0;

    for (int i = 0; i < 8; i++)
        json_array_append_new(reqs,
                              json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "path", "/api/v1/cases",
                                        "method", "POST", "authorization", auth, "body", body,
                                        "headers", "idempotency-key", "report-key-concurrent"));
    res = th_burst(&srv, reqs);
    for (size_t i = 0; i < 8; i++) {
        json_t *a = json_array_get(res, i);
        json_t *b = json_loads(json_string_value(json_object_get(a, "body")), 0, NULL);

        assert_non_null(b);
        if (json_integer_value(json_object_get(a, "status")) != 201)
            fail_msg("copy %zu: %lld %s", i, json_integer_value(json_object_get(a, "status")),
                     json_string_value(json_object_get(a, "body")));
        if (!id)
            id = th_jint(b, "id");
        assert_int_equal(th_jint(b, "id"), id);
        json_decref(b);
        replayed++;
    }
    assert_int_equal(replayed, 8);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM cases"), before + 1);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM events WHERE type = 'case.reported'"),
                     ev + 1);
    json_decref(res);
    json_decref(reqs);
    free(auth);
}

static void mass_assignment_and_bad_input_change_nothing(void **state)
{
    static const char *const bodies[] = {
        "{" TH_CAT_0102 ",\"description\":\"x\"," IN_GRID1 ",\"state\":\"closed\"}",
        "{" TH_CAT_0102 ",\"description\":\"x\"," IN_GRID1 ",\"assignee_id\":2}",
        "{" TH_CAT_0102 ",\"description\":\"x\"," IN_GRID1 ",\"reporter_id\":1}",
        "{" TH_CAT_0102 ",\"description\":\"x\"," IN_GRID1 ",\"status\":\"closed\"}",
        "{" TH_CAT_0102 ",\"description\":\"x\"," IN_GRID1 ",\"grid_id\":3}",
        "{" TH_CAT_0102 ",\"description\":\"x\",\"location\":{\"lat\":91,\"lng\":120.6}}",
        "{" TH_CAT_0102 ",\"description\":\"x\",\"location\":{\"lat\":31.3,\"lng\":-181}}",
        "{" TH_CAT_0102 ",\"description\":\"x\",\"location\":{\"lat\":31.3}}",
        "{" TH_CAT_0102 ",\"description\":\"\"," IN_GRID1 "}",
        "{\"category_id\":999999,\"description\":\"x\"," IN_GRID1 "}",
        "{\"code_set\":\"gbt30428\",\"full_code\":\"9999\",\"description\":\"x\"," IN_GRID1 "}",
        "{\"description\":\"x\"," IN_GRID1 "}",
        "{" TH_CAT_0102 ",\"description\":\"x\"," IN_GRID1 ",\"urgency\":\"panic\"}",
        "{" TH_CAT_0102 ",\"description\":\"x\"," IN_GRID1 ",\"source\":\"video_ai\"}",
        "{" TH_CAT_0102 ",\"description\":\"x\"," IN_GRID1 ",\"photos\":[\"nosuchmedia\"]}",
        "{" TH_CAT_0102 ",\"description\":\"x\"," IN_GRID1 ",\"photos\":[\"a\\\"b\"]}",
    };
    long long before = th_sql_int(&srv, "SELECT COUNT(*) FROM cases");
    long long ev = th_sql_int(&srv, "SELECT COUNT(*) FROM events");
    char *big = malloc(1200 + 300);
    struct th_resp r;

    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        th_post(&srv, "citizen", "/api/v1/cases", NULL, bodies[i], &r);
        if (r.status != 400 || strcmp(th_error_code(&r), "invalid_argument") != 0)
            fail_msg("body %zu: %ld %s", i, r.status, r.body);
        th_resp_free(&r);
    }
    /* A description over 1000 bytes. */
    memset(big, 0, 1500);
    snprintf(big, 1500, "{" TH_CAT_0102 "," IN_GRID1 ",\"description\":\"");
    memset(big + strlen(big), 'a', 1001);
    memcpy(big + strlen(big), "\"}", 3);
    th_post(&srv, "citizen", "/api/v1/cases", NULL, big, &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    free(big);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM cases"), before);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM events"), ev);

    /* Roles that do not report. */
    th_post(&srv, "dispatcher", "/api/v1/cases", NULL, bodies[0], &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static void whole_lifecycle_with_rework_and_rating(void **state)
{
    long long id = th_report_as(&srv, "citizen", IN_GRID1);
    char path[96], body[256];
    struct th_resp r;
    json_t *tl;

    th_act(&srv, "operator", id, "acc-1", "\"action\":\"accept\"");
    assert_string_equal(th_case_state(&srv, id), "accepted");
    /* An action's text limit is case_act's alone (CASE_TEXT_MAX, 1000 bytes). */
    {
        char big[1001], *b = malloc(1200);
        memset(big, 'a', 1000);
        big[1000] = '\0';
        snprintf(b, 1200, "{\"action\":\"register\",\"version\":%lld,\"text\":\"%sa\"}",
                 th_sqlf(&srv, "SELECT version FROM cases WHERE id = %lld", id), big);
        snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
        th_post(&srv, "shift_lead", path, NULL, b, &r);
        free(b);
        th_expect(&r, 400, "invalid_argument");
        assert_string_equal(th_jstr(json_object_get(r.json, "error"), "message"),
                            "text: at most 1000 bytes");
        th_resp_free(&r);
        assert_string_equal(th_case_state(&srv, id), "accepted");
    }
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\",\"text\":\"符合立案条件\"");
    assert_string_equal(th_case_state(&srv, id), "registered");
    th_act(&srv, "dispatcher", id, NULL, "\"action\":\"dispatch\",\"department_id\":%lld",
           sanitation);
    assert_string_equal(th_case_state(&srv, id), "dispatched");
    assert_int_equal(th_sqlf(&srv, "SELECT department_id FROM cases WHERE id = %lld", id),
                     sanitation);
    th_act(&srv, "handler", id, NULL, "\"action\":\"handle\",\"text\":\"已清理\"");
    th_act(&srv, "inspector", id, NULL, "\"action\":\"verify_fail\",\"text\":\"未彻底清理\"");
    assert_string_equal(th_case_state(&srv, id), "dispatched");
    assert_int_equal(th_sqlf(&srv, "SELECT rework_count FROM cases WHERE id = %lld", id), 1);
    th_act(&srv, "handler", id, NULL, "\"action\":\"handle\",\"text\":\"已彻底清理\"");
    th_act(&srv, "inspector", id, NULL, "\"action\":\"verify_pass\"");
    assert_string_equal(th_case_state(&srv, id), "verified");
    /* The citizen may not rate before closing. */
    snprintf(path, sizeof path, "/api/v1/cases/%lld/rating", id);
    th_post(&srv, "citizen", path, NULL, "{\"score\":5}", &r);
    th_expect(&r, 409, "invalid_state");
    th_resp_free(&r);
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"close\"");
    assert_string_equal(th_case_state(&srv, id), "closed");

    /* The text's limit is the domain's (CASE_NOTE_MAX, 500 bytes): refused, nothing stored. */
    {
        char big[502], bigbody[600];
        memset(big, 'x', 501);
        big[501] = '\0';
        snprintf(bigbody, sizeof bigbody, "{\"score\":5,\"text\":\"%s\"}", big);
        th_post(&srv, "citizen", path, NULL, bigbody, &r);
        th_expect(&r, 400, "invalid_argument");
        assert_string_equal(th_jstr(json_object_get(r.json, "error"), "message"),
                            "text: at most 500 bytes");
        th_resp_free(&r);
        assert_int_equal(
            th_sqlf(&srv, "SELECT COUNT(*) FROM case_ratings WHERE case_id = %lld", id), 0);
    }
    th_post(&srv, "citizen", path, "rate-1", "{\"score\":5,\"text\":\"很满意\"}", &r);
    th_expect(&r, 201, NULL);
    th_resp_free(&r);
    th_post(&srv, "citizen", path, "rate-1", "{\"score\":5,\"text\":\"很满意\"}", &r);
    th_expect(&r, 201, NULL); /* replay */
    th_resp_free(&r);
    th_post(&srv, "citizen", path, NULL, "{\"score\":1}", &r);
    th_expect(&r, 409, "conflict");
    th_resp_free(&r);
    th_post(&srv, "citizen", path, NULL, "{\"score\":6}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);

    /* The timeline as the citizen sees it: no staff ids, every step, the rating. */
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    th_get_as(&srv, "citizen", path, &r);
    th_expect(&r, 200, NULL);
    tl = json_object_get(r.json, "timeline");
    assert_int_equal(json_array_size(tl), 10); /* report, 8 actions, rating */
    assert_string_equal(th_jstr(json_array_get(tl, 0), "action"), "report");
    assert_string_equal(th_jstr(json_array_get(tl, 5), "action"), "verify_fail");
    assert_string_equal(th_jstr(json_array_get(tl, 5), "actor_role"), "inspector");
    assert_null(json_object_get(json_array_get(tl, 1), "actor_id"));
    assert_int_equal(th_jint(json_object_get(r.json, "rating"), "score"), 5);
    assert_int_equal(th_jint(r.json, "version"), 9);
    th_resp_free(&r);

    /* One event and one audit row per action. */
    snprintf(body, sizeof body,
             "SELECT COUNT(*) FROM events WHERE subject_type = 'case' AND subject_id = %lld", id);
    assert_int_equal(th_sql_int(&srv, body), 10);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE object_type = 'case' AND"
                             " object_id = %lld AND result = 'ok'",
                             id),
                     10);

    /* The accept retried with its key replays, and changes nothing. */
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    th_post(&srv, "operator", path, "acc-1", "{\"version\":1,\"action\":\"accept\"}", &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "state"), "closed");
    th_resp_free(&r);
}

static void extension_request_and_approval(void **state)
{
    long long id = th_report_as(&srv, "inspector", IN_GRID1);
    long long due0, due1;
    struct th_resp r;
    char path[64];

    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\"");
    th_act(&srv, "dispatcher", id, NULL, "\"action\":\"dispatch\",\"department_id\":%lld",
           sanitation);
    due0 = th_sqlf(&srv, "SELECT UNIX_TIMESTAMP(due_at) FROM cases WHERE id = %lld", id);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    /* Approving with nothing pending is not a valid step. */
    {
        char body[128];
        snprintf(body, sizeof body, "{\"version\":%lld,\"action\":\"approve_extension\"}",
                 th_case_version(&srv, id));
        th_post(&srv, "dispatcher", path, NULL, body, &r);
        th_expect(&r, 409, "invalid_state");
        th_resp_free(&r);
        snprintf(body, sizeof body, "{\"version\":%lld,\"action\":\"request_extension\"}",
                 th_case_version(&srv, id));
        th_post(&srv, "handler", path, NULL, body, &r);
        th_expect(&r, 400, "invalid_argument"); /* extension_hours required */
        th_resp_free(&r);
    }
    th_act(&srv, "handler", id, NULL,
           "\"action\":\"request_extension\",\"extension_hours\":8,"
           "\"text\":\"需要配合\"");
    assert_int_equal(th_sqlf(&srv, "SELECT extension_pending FROM cases WHERE id = %lld", id), 1);
    th_act(&srv, "dispatcher", id, NULL, "\"action\":\"approve_extension\"");
    assert_int_equal(th_sqlf(&srv, "SELECT extension_pending FROM cases WHERE id = %lld", id), 0);
    due1 = th_sqlf(&srv, "SELECT UNIX_TIMESTAMP(due_at) FROM cases WHERE id = %lld", id);
    /* 8 working hours later (at least 8 clock hours). */
    assert_true(due1 - due0 >= 8 * 3600);
}

static void handler_of_other_department_and_inspector_of_other_grid(void **state)
{
    long long id = th_report_as(&srv, "citizen", TH_IN_GRID3);
    struct th_resp r;
    char path[64], body[128];

    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\"");
    th_act(&srv, "dispatcher", id, NULL, "\"action\":\"dispatch\",\"department_id\":%lld",
           municipal);
    /* The 环卫 handler cannot see a 市政 case at all. */
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    snprintf(body, sizeof body, "{\"version\":%lld,\"action\":\"handle\",\"text\":\"x\"}",
             th_case_version(&srv, id));
    th_post(&srv, "handler", path, NULL, body, &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    /* Re-dispatched to 环卫 it can act; then the inspector of grids 1-2 may not verify. */
    th_act(&srv, "dispatcher", id, NULL, "\"action\":\"dispatch\",\"department_id\":%lld",
           sanitation);
    th_act(&srv, "handler", id, NULL, "\"action\":\"handle\",\"text\":\"done\"");
    snprintf(body, sizeof body, "{\"version\":%lld,\"action\":\"verify_pass\"}",
             th_case_version(&srv, id));
    th_post(&srv, "inspector", path, NULL, body, &r);
    th_expect(&r, 404, "not_found"); /* not visible: outside the inspector's grids */
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE object_id = %lld AND"
                             " action = 'case.verify_pass'",
                             id),
                     0);
}

/* ---- every action in every state ------------------------------------------------------- */

/* Mirror of workflow.c's table: (action, from state, roles allowed). The test checks both
 * directions against the server, so a drift in either fails here. */
static const struct {
    const char *action, *from, *roles;
} allowed[] = {
    {"accept", "reported", "operator"},
    {"invalidate", "reported", "operator"},
    {"merge", "reported", "operator"},
    {"register", "accepted", "shift_lead"},
    {"invalidate", "accepted", "shift_lead"},
    {"merge", "accepted", "operator"},
    {"dispatch", "registered", "dispatcher"},
    {"suspend", "registered", "dispatcher"},
    {"dispatch", "dispatched", "dispatcher"},
    {"return", "dispatched", "handler"},
    {"handle", "dispatched", "handler"},
    {"request_extension", "dispatched", "handler"},
    {"approve_extension", "dispatched", "dispatcher"},
    {"reject_extension", "dispatched", "dispatcher"},
    {"suspend", "dispatched", "dispatcher"},
    {"verify_pass", "handled", "inspector"},
    {"verify_fail", "handled", "inspector"},
    {"close", "verified", "shift_lead"},
    {"resume", "suspended", "dispatcher"},
    {"reopen", "closed", "shift_lead"},
};
static const char *const states[] = {"reported", "accepted", "registered", "dispatched", "handled",
                                     "verified", "closed",   "invalid",    "suspended",  "merged"};
static const char *const actions[] = {"accept",
                                      "register",
                                      "invalidate",
                                      "dispatch",
                                      "return",
                                      "handle",
                                      "verify_pass",
                                      "verify_fail",
                                      "close",
                                      "request_extension",
                                      "approve_extension",
                                      "reject_extension",
                                      "suspend",
                                      "resume",
                                      "reopen",
                                      "merge"};
static const char *const workflow_roles[] = {"operator", "shift_lead", "dispatcher", "handler",
                                             "inspector"};

static const char *allowed_roles(const char *action, const char *from)
{
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (strcmp(allowed[i].action, action) == 0 && strcmp(allowed[i].from, from) == 0)
            return allowed[i].roles;
    return NULL;
}

static void action_body(char *out, size_t n, long long id, const char *action, long long other)
{
    char extra[96] = "";

    if (strcmp(action, "dispatch") == 0)
        snprintf(extra, sizeof extra, ",\"department_id\":%lld", sanitation);
    else if (strcmp(action, "merge") == 0)
        snprintf(extra, sizeof extra, ",\"duplicate_of\":%lld", other);
    else if (strcmp(action, "request_extension") == 0)
        snprintf(extra, sizeof extra, ",\"extension_hours\":4");
    snprintf(out, n, "{\"version\":%lld,\"action\":\"%s\",\"text\":\"t\"%s}",
             th_case_version(&srv, id), action, extra);
}

static void every_action_in_every_state(void **state)
{
    long long id = th_report_as(&srv, "citizen", IN_GRID1);
    long long other = th_report_as(&srv, "citizen", IN_GRID1);
    char sql[256], path[64], body[256];
    struct th_resp r;
    int checked = 0;

    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    snprintf(sql, sizeof sql, "UPDATE cases SET department_id = %lld WHERE id = %lld", sanitation,
             id);
    th_sql_exec(&srv, sql);
    for (size_t s = 0; s < sizeof states / sizeof states[0]; s++) {
        long long ev;
        snprintf(sql, sizeof sql, "UPDATE cases SET state = '%s' WHERE id = %lld", states[s], id);
        th_sql_exec(&srv, sql);
        ev = th_sql_int(&srv, "SELECT COUNT(*) FROM events");
        for (size_t a = 0; a < sizeof actions / sizeof actions[0]; a++) {
            const char *roles = allowed_roles(actions[a], states[s]);
            action_body(body, sizeof body, id, actions[a], other);
            if (!roles) {
                /* Not allowed for anyone: 409 invalid_state whoever asks. */
                th_post(&srv, "dispatcher", path, NULL, body, &r);
                if (r.status != 409 || strcmp(th_error_code(&r), "invalid_state") != 0)
                    fail_msg("%s in %s: %ld %s", actions[a], states[s], r.status, r.body);
                th_resp_free(&r);
            } else {
                /* Allowed, but every other workflow role gets 403 (or 404 when the case is not
                 * theirs to see). */
                for (size_t k = 0; k < sizeof workflow_roles / sizeof workflow_roles[0]; k++) {
                    if (strstr(roles, workflow_roles[k]))
                        continue;
                    th_post(&srv, workflow_roles[k], path, NULL, body, &r);
                    if (r.status != 403 || strcmp(th_error_code(&r), "permission_denied") != 0)
                        fail_msg("%s in %s as %s: %ld %s", actions[a], states[s], workflow_roles[k],
                                 r.status, r.body);
                    th_resp_free(&r);
                }
            }
            checked++;
        }
        /* Nothing happened. */
        assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM events"), ev);
        snprintf(sql, sizeof sql, "SELECT state = '%s' FROM cases WHERE id = %lld", states[s], id);
        assert_int_equal(th_sql_int(&srv, sql), 1);
    }
    assert_int_equal(checked, 160);
}

static void stale_version_is_conflict(void **state)
{
    long long id = th_report_as(&srv, "citizen", IN_GRID1);
    struct th_resp r;
    char path[64];

    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    th_post(&srv, "operator", path, NULL, "{\"version\":7,\"action\":\"accept\"}", &r);
    th_expect(&r, 409, "conflict");
    th_resp_free(&r);
    th_post(&srv, "operator", path, NULL, "{\"version\":1,\"action\":\"fly\"}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_post(&srv, "operator", path, NULL,
            "{\"version\":1,\"action\":\"accept\",\"state\":\"closed\"}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_post(&srv, "operator", path, NULL,
            "{\"version\":1,\"action\":\"accept\",\"department_id\":1}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_post(&srv, "leader", path, NULL, "{\"version\":1,\"action\":\"accept\"}", &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);
    th_post(&srv, "operator", "/api/v1/cases/99999999/actions", NULL,
            "{\"version\":1,\"action\":\"accept\"}", &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    assert_string_equal(th_case_state(&srv, id), "reported");
}

static void two_dispatchers_race(void **state)
{
    long long id = th_report_as(&srv, "citizen", IN_GRID1);
    char path[64], body[128];
    pid_t kids[2];
    int ok = 0, conflict = 0;
    long long v;
    const char *tok;

    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\"");
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    tok = th_token(&srv, "dispatcher");
    v = th_case_version(&srv, id); /* both saw the same version */
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof body,
                 "{\"version\":%lld,\"action\":\"dispatch\",\"department_id\":%lld}", v,
                 i ? sanitation : municipal);
        kids[i] = fork();
        if (kids[i] == 0) {
            struct th_resp r;
            th_call_tok(&srv, "POST", path, tok, NULL, NULL, body, &r);
            _exit(r.status == 200 ? 0 : r.status == 409 ? 1 : 2);
        }
    }
    for (int i = 0; i < 2; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        assert_true(WIFEXITED(st));
        if (WEXITSTATUS(st) == 0)
            ok++;
        else if (WEXITSTATUS(st) == 1)
            conflict++;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM events WHERE type = 'case.dispatched' AND"
                             " subject_id = %lld",
                             id),
                     1);
    assert_int_equal(th_sqlf(&srv, "SELECT version FROM cases WHERE id = %lld", id), 4);
}

/* ---- visibility ------------------------------------------------------------------------ */

static void visibility_by_role(void **state)
{
    long long mine = th_report_as(&srv, "citizen", IN_GRID1);
    long long west = th_report_as(&srv, "citizen", TH_IN_GRID3);
    struct th_resp r;
    char path[64], tok2[4096];

    /* A second citizen (registration by phone needs an SMS code: abuse_test.c), with the
     * demo citizen's password. */
    th_sql_execf(&srv,
                 "INSERT INTO users (username, phone, display_name, password_hash, roles,"
                 " password_changed_at) SELECT 'citizen2', '13800000001', '市民乙', password_hash,"
                 " roles, NOW() FROM users WHERE username = '%s'",
                 th_username(&srv, "citizen"));
    th_login(&srv, "citizen2", th_password(&srv, "citizen"), "d2", &r);
    if (r.status != 200)
        fail_msg("login: %ld %s", r.status, r.body);
    snprintf(tok2, sizeof tok2, "%s", th_jstr(r.json, "access_token"));
    th_resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/cases/%lld", mine);
    th_get(&srv, path, tok2, &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    th_get_as(&srv, "citizen", path, &r);
    th_expect(&r, 200, NULL);
    assert_null(json_object_get(r.json, "reporter_id"));
    th_resp_free(&r);
    th_get_as(&srv, "inspector", path, &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
    th_get_as(&srv, "leader", path, &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
    th_get_as(&srv, "handler", path, &r); /* not dispatched to 环卫 */
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/cases/%lld", west);
    th_get_as(&srv, "inspector", path, &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    th_get_as(&srv, "leader", path, &r); /* 西城区 is not the leader's 东城区 */
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    th_get_as(&srv, "operator", path, &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);

    /* Lists follow the same rule. */
    th_get(&srv, "/api/v1/cases?limit=100", tok2, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);
    {
        char q[96];
        snprintf(q, sizeof q, "/api/v1/cases?grid_id=%lld&limit=100", grid3);
        th_get_as(&srv, "inspector", q, &r);
        th_expect(&r, 200, NULL);
        assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
        th_resp_free(&r);
        th_get_as(&srv, "dispatcher", q, &r);
        th_expect(&r, 200, NULL);
        assert_true(json_array_size(json_object_get(r.json, "items")) >= 1);
        th_resp_free(&r);
    }
}

static void list_filters_and_cursor(void **state)
{
    struct th_resp r;
    long long seen = 0, last = 0, total;
    char path[256];
    const char *cursor = NULL;
    char cur[64] = "";

    total = th_sql_int(&srv, "SELECT COUNT(*) FROM cases");
    /* Page through everything, 3 at a time: strictly decreasing ids, each once. */
    for (int guard = 0; guard < 1000; guard++) {
        json_t *it;
        size_t i;
        snprintf(path, sizeof path, "/api/v1/cases?limit=3%s%s", cursor ? "&cursor=" : "",
                 cursor ? cur : "");
        th_get_as(&srv, "dispatcher", path, &r);
        th_expect(&r, 200, NULL);
        json_array_foreach(json_object_get(r.json, "items"), i, it)
        {
            if (last)
                assert_true(th_jint(it, "id") < last);
            last = th_jint(it, "id");
            seen++;
        }
        if (json_is_null(json_object_get(r.json, "next_cursor"))) {
            th_resp_free(&r);
            break;
        }
        snprintf(cur, sizeof cur, "%s", th_jstr(r.json, "next_cursor"));
        cursor = cur;
        th_resp_free(&r);
    }
    assert_int_equal(seen, total);

    th_get_as(&srv, "dispatcher", "/api/v1/cases?state=closed&source=citizen", &r);
    th_expect(&r, 200, NULL);
    assert_true(json_array_size(json_object_get(r.json, "items")) >= 1);
    th_resp_free(&r);
    th_get_as(&srv, "dispatcher", "/api/v1/cases?bbox=120.60,31.30,120.61,31.31&limit=100", &r);
    th_expect(&r, 200, NULL);
    assert_true(json_array_size(json_object_get(r.json, "items")) >= 3);
    th_resp_free(&r);
    th_get_as(&srv, "citizen", "/api/v1/cases?mine=true&from=2020-01-01T00:00:00Z", &r);
    th_expect(&r, 200, NULL);
    assert_true(json_array_size(json_object_get(r.json, "items")) >= 3);
    th_resp_free(&r);
    static const char *const bad[] = {
        "/api/v1/cases?limit=101",
        "/api/v1/cases?state=flying",
        "/api/v1/cases?cursor=zz",
        "/api/v1/cases?bbox=1,2,3",
        "/api/v1/cases?from=yesterday",
        "/api/v1/cases?overdue=maybe",
        /* bbox: trailing text, a blank, NaN, out of range, min above max */
        "/api/v1/cases?bbox=1,2,3,4x",
        "/api/v1/cases?bbox=1,%202,3,4",
        "/api/v1/cases?bbox=nan,2,3,4",
        "/api/v1/cases?bbox=1,2,3,91",
        "/api/v1/cases?bbox=121,31,120,32",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        th_get_as(&srv, "dispatcher", bad[i], &r);
        if (r.status != 400)
            fail_msg("%s: %ld", bad[i], r.status);
        th_resp_free(&r);
    }
}

/* ---- tasks, 督办, events, categories --------------------------------------------------- */

static void tasks_by_role(void **state)
{
    long long id = th_report_as(&srv, "citizen", IN_GRID1);
    struct th_resp r;
    json_t *it;
    size_t i;
    bool found = false;

    th_get_as(&srv, "operator", "/api/v1/tasks?limit=500", &r);
    th_expect(&r, 200, NULL);
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        json_t *c = json_object_get(it, "case");
        if (th_jint(c, "id") == id) {
            found = true;
            assert_string_equal(th_jstr(it, "action"), "accept");
            assert_true(json_is_string(json_object_get(it, "due_at")));
        }
    }
    assert_true(found);
    th_resp_free(&r);

    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\"");
    th_act(&srv, "dispatcher", id, NULL, "\"action\":\"dispatch\",\"department_id\":%lld",
           sanitation);
    th_get_as(&srv, "handler", "/api/v1/tasks", &r);
    th_expect(&r, 200, NULL);
    found = false;
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        if (th_jint(json_object_get(it, "case"), "id") == id &&
            strcmp(th_jstr(it, "action"), "handle") == 0)
            found = true;
    }
    assert_true(found);
    th_resp_free(&r);
    th_get_as(&srv, "citizen", "/api/v1/tasks", &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);
}

static void urging_sent_read_acknowledged(void **state)
{
    long long id = th_report_as(&srv, "citizen", IN_GRID1);
    long long uid;
    struct th_resp r;
    char path[64];
    json_t *it;
    size_t i;
    bool found = false;

    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\"");
    th_act(&srv, "dispatcher", id, NULL, "\"action\":\"dispatch\",\"department_id\":%lld",
           sanitation);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/urge", id);
    th_post(&srv, "leader", path, "urge-1", "{\"note\":\"请尽快处理\"}", &r);
    th_expect(&r, 201, NULL);
    uid = th_jint(r.json, "id");
    assert_string_equal(th_jstr(r.json, "status"), "sent");
    th_resp_free(&r);
    th_post(&srv, "leader", path, "urge-1", "{\"note\":\"请尽快处理\"}",
            &r); /* retry: same urging */
    th_expect(&r, 201, NULL);
    assert_int_equal(th_jint(r.json, "id"), uid);
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM case_urgings WHERE case_id = %lld", id),
                     1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM events WHERE type = 'case.urged' AND"
                             " subject_id = %lld",
                             id),
                     1);
    th_post(&srv, "dispatcher", path, NULL, "{\"note\":\"x\"}", &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);

    /* The handler sees it in tasks; opening the case marks it read. */
    th_get_as(&srv, "handler", "/api/v1/tasks", &r);
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        if (th_jint(it, "urging_id") == uid) {
            found = true;
            assert_string_equal(th_jstr(it, "action"), "acknowledge");
        }
    }
    assert_true(found);
    th_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    th_get_as(&srv, "handler", path, &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
    th_get_as(&srv, "leader", "/api/v1/urgings", &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(json_array_get(json_object_get(r.json, "items"), 0), "status"),
                        "read");
    th_resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/urgings/%lld/ack", uid);
    th_post(&srv, "handler", path, NULL, "{\"text\":\"已安排\"}", &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "status"), "acknowledged");
    th_resp_free(&r);
    th_post(&srv, "handler", path, NULL, "{}", &r);
    th_expect(&r, 409, "invalid_state");
    th_resp_free(&r);
    th_get_as(&srv, "leader", "/api/v1/urgings", &r);
    assert_string_equal(th_jstr(json_array_get(json_object_get(r.json, "items"), 0), "status"),
                        "acknowledged");
    th_resp_free(&r);
}

static void events_feed_by_role(void **state)
{
    long long id = th_report_as(&srv, "citizen", IN_GRID1);
    struct th_resp r;
    json_t *it;
    size_t i;
    long long after = 0;
    bool found = false;

    th_get_as(&srv, "operator", "/api/v1/events?limit=500", &r);
    th_expect(&r, 200, NULL);
    assert_true(json_array_size(json_object_get(r.json, "items")) > 0);
    after = th_jint(r.json, "next_after");
    th_resp_free(&r);
    assert_true(after > 0);

    th_get_as(&srv, "citizen", "/api/v1/events?limit=500", &r);
    th_expect(&r, 200, NULL);
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        if (th_jint(it, "subject_id") == id && strcmp(th_jstr(it, "type"), "case.reported") == 0)
            found = true;
        assert_null(json_object_get(it, "actor_id"));
    }
    assert_true(found);
    th_resp_free(&r);
    th_get_as(&srv, "citizen", "/api/v1/events?after=abc", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
}

static void categories_list_and_admin_patch(void **state)
{
    struct th_resp r;
    const char *hs[3];
    char auth[9000];

    th_get_as(&srv, "citizen", "/api/v1/categories?code_set=gbt30428&kind=event", &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 54);
    th_resp_free(&r);
    th_get_as(&srv, "citizen", "/api/v1/categories?kind=thing", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);

    snprintf(auth, sizeof auth, "Authorization: Bearer %s", th_token(&srv, "admin"));
    hs[0] = "Content-Type: application/json";
    hs[1] = auth;
    hs[2] = NULL;
    {
        char body[128];
        snprintf(body, sizeof body, "{\"department_id\":%lld,\"limit_handle\":2}", sanitation);
        th_request(&srv, "PATCH", "/api/v1/categories/2", hs, body, strlen(body), 0, &r);
    }
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "department_id"), sanitation);
    assert_int_equal(th_jint(json_object_get(r.json, "limits"), "handle"), 2);
    th_resp_free(&r);
    {
        const char *b = "{\"limit_handle_unit\":\"week\"}";
        th_request(&srv, "PATCH", "/api/v1/categories/2", hs, b, strlen(b), 0, &r);
    }
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", th_token(&srv, "dispatcher"));
    th_request(&srv, "PATCH", "/api/v1/categories/2", hs, "{\"limit_handle\":3}", 18, 0, &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);
}

static void auto_dispatch_rule(void **state)
{
    long long id = th_report_as(&srv, "citizen", IN_GRID1);
    long long cat = th_sql_int(&srv, "SELECT id FROM categories WHERE code_set = 'gbt30428' AND"
                                     " kind = 'event' AND full_code = '0102'");
    char sql[256];

    snprintf(sql, sizeof sql,
             "INSERT INTO dispatch_rules (grid_id, category_id, department_id, auto) VALUES"
             " (%lld, %lld, %lld, 1)",
             grid1, cat, sanitation);
    th_sql_exec(&srv, sql);
    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\"");
    assert_string_equal(th_case_state(&srv, id), "dispatched");
    assert_int_equal(th_sqlf(&srv, "SELECT department_id FROM cases WHERE id = %lld", id),
                     sanitation);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld AND"
                             " actor_role = 'system' AND action = 'dispatch'",
                             id),
                     1);
    th_sql_exec(&srv, "DELETE FROM dispatch_rules");
}

/* Reads that arrive together are answered by shared statements (case_get_many): each must
 * still get exactly what it gets alone — its own visibility (404 for what it may not see), its
 * own timeline filter and fields — for every role over cases of every kind, 督办 included. */
static void batched_reads_answer_like_single_reads(void **state)
{
    const char *roles[] = {"citizen",    "inspector",  "handler", "operator",
                           "shift_lead", "dispatcher", "leader",  "admin"};
    long long ids[7];
    size_t nid = 0, nroles = sizeof roles / sizeof roles[0];
    json_t *reqs = json_array(), *single = json_array(), *res;
    char sql[200], path[64];
    int n_ok = 0, n_404 = 0;

    /* The newest cases, the first one with 督办, the one with the longest timeline, none. */
    for (int i = 0; i < 4; i++) {
        snprintf(sql, sizeof sql, "SELECT id FROM cases ORDER BY id DESC LIMIT 1 OFFSET %d", i);
        ids[nid++] = th_sql_int(&srv, sql);
    }
    ids[nid++] = th_sql_int(&srv, "SELECT MIN(case_id) FROM case_urgings");
    ids[nid++] = th_sql_int(&srv, "SELECT case_id FROM case_steps GROUP BY case_id ORDER BY"
                                  " COUNT(*) DESC, case_id LIMIT 1");
    ids[nid++] = 999999999;
    assert_true(ids[4] > 0 && ids[5] > 0);
    /* Opening a case marks its 督办 read for the handler: let that happen before comparing. */
    for (size_t c = 0; c < nid; c++) {
        struct th_resp r;
        snprintf(path, sizeof path, "/api/v1/cases/%lld", ids[c]);
        th_get_as(&srv, "handler", path, &r);
        th_resp_free(&r);
    }
    for (size_t k = 0; k < nroles; k++) {
        for (size_t c = 0; c < nid; c++) {
            struct th_resp r;
            char *auth;

            snprintf(path, sizeof path, "/api/v1/cases/%lld", ids[c]);
            th_get_as(&srv, roles[k], path, &r);
            assert_true(r.status == 200 || r.status == 404);
            json_array_append_new(single, json_pack("{s:i,s:O}", "status", (int)r.status, "body",
                                                    r.json ? r.json : json_null()));
            th_resp_free(&r);
            auth = th_xprintf("Bearer %s", th_token(&srv, roles[k]));
            json_array_append_new(reqs,
                                  json_pack("{s:s,s:s}", "path", path, "authorization", auth));
            free(auth);
        }
    }
    res = th_burst(&srv, reqs);
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        json_t *a = json_array_get(res, i), *want = json_array_get(single, i);
        long status = (long)json_integer_value(json_object_get(a, "status"));
        json_t *body = json_loads(json_string_value(json_object_get(a, "body")), 0, NULL);

        if (status != json_integer_value(json_object_get(want, "status")))
            fail_msg("%s reading case %lld: %ld together, %lld alone", roles[i / nid], ids[i % nid],
                     status, json_integer_value(json_object_get(want, "status")));
        if (status == 200) {
            n_ok++;
            if (!json_equal(body, json_object_get(want, "body"))) {
                char *x = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
                char *y = json_dumps(json_object_get(want, "body"), JSON_COMPACT | JSON_SORT_KEYS);
                fail_msg("%s reading case %lld: together %s\nalone %s", roles[i / nid],
                         ids[i % nid], x, y);
            }
        } else {
            n_404++;
            assert_string_equal(th_jstr(json_object_get(body, "error"), "code"), "not_found");
        }
        json_decref(body);
    }
    print_message("%d answers alike, %d not found alike\n", n_ok, n_404);
    assert_true(n_ok >= 40); /* the staff who see everything, at least */
    assert_true(n_404 >= (int)nroles);
    json_decref(res);
    json_decref(single);
    json_decref(reqs);
    usleep(300 * 1000);
    assert_true(th_largest_batch(&srv, "\"path\":\"/api/v1/cases/") > 1);
}

/* Issue 9 item 7: a report at 31.3 N came back as 31.300000000000001. Coordinates come back
 * as the shortest text that reads as the same number, on create, read and list. */
static void coordinates_come_back_as_typed(void **state)
{
    struct th_resp r;
    char path[128];
    long long id;

    th_post(&srv, "citizen", "/api/v1/cases", NULL,
            "{\"category_id\":1,\"description\":\"井盖\",\"location\":{\"lat\":31.3,"
            "\"lng\":121.4737,\"accuracy\":12.5}}",
            &r);
    th_expect(&r, 201, NULL);
    id = th_jint(r.json, "id");
    assert_non_null(strstr(r.body, "\"lat\":31.3,\"lng\":121.4737,\"accuracy\":12.5"));
    assert_null(strstr(r.body, "0000000"));
    th_resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    th_get_as(&srv, "citizen", path, &r);
    th_expect(&r, 200, NULL);
    assert_non_null(strstr(r.body, "\"lat\":31.3,\"lng\":121.4737,\"accuracy\":12.5"));
    assert_true(json_real_value(json_object_get(json_object_get(r.json, "location"), "lat")) ==
                31.3);
    th_resp_free(&r);

    th_get_as(&srv, "dispatcher", "/api/v1/cases?bbox=121.47,31.29,121.48,31.31&limit=100", &r);
    th_expect(&r, 200, NULL);
    assert_non_null(strstr(r.body, "\"lat\":31.3,\"lng\":121.4737"));
    th_resp_free(&r);
}

/* Issue 9 item 5: 2026-02-31 was read as March 3rd; now it is refused, and a real date passes. */
static void impossible_dates_are_refused(void **state)
{
    struct th_resp r;

    th_get_as(&srv, "dispatcher", "/api/v1/cases?from=2026-02-31T00:00:00Z", &r);
    th_expect(&r, 400, "invalid_argument");
    assert_non_null(strstr(r.body, "from: 2026-02 has no day 31"));
    th_resp_free(&r);
    th_get_as(&srv, "dispatcher", "/api/v1/cases?to=2025-02-29T08:00:00%2B08:00", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_get_as(&srv, "dispatcher", "/api/v1/cases?from=2024-02-29T00:00:00Z&limit=1", &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_resolves_grid_and_deadline),
        cmocka_unit_test(report_lists_possible_duplicates),
        cmocka_unit_test(retry_with_same_key_creates_one_case),
        cmocka_unit_test(concurrent_retries_create_one_case),
        cmocka_unit_test(mass_assignment_and_bad_input_change_nothing),
        cmocka_unit_test(whole_lifecycle_with_rework_and_rating),
        cmocka_unit_test(extension_request_and_approval),
        cmocka_unit_test(handler_of_other_department_and_inspector_of_other_grid),
        cmocka_unit_test(every_action_in_every_state),
        cmocka_unit_test(stale_version_is_conflict),
        cmocka_unit_test(two_dispatchers_race),
        cmocka_unit_test(visibility_by_role),
        cmocka_unit_test(list_filters_and_cursor),
        cmocka_unit_test(tasks_by_role),
        cmocka_unit_test(urging_sent_read_acknowledged),
        cmocka_unit_test(events_feed_by_role),
        cmocka_unit_test(categories_list_and_admin_patch),
        cmocka_unit_test(auto_dispatch_rule),
        cmocka_unit_test(batched_reads_answer_like_single_reads),
        cmocka_unit_test(coordinates_come_back_as_typed),
        cmocka_unit_test(impossible_dates_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
