/* tests/e2e/cases_confirm_test.c: 核实 — the 受理员 sends a citizen's report to an inspector
 * (request_confirmation), the inspector confirms or denies it within the category's 核实时限
 * (api/domain/workflow.c, case.c, rollup.c) — through the real binary:
 *
 * - the happy path: state, step, deadline on the work calendar, assignee, the inspector's
 *   inbox item and task, the citizen's view;
 * - refusals that change nothing: wrong role, wrong state, wrong inspector, bad inspector_id;
 * - a retry with the same Idempotency-Key is replayed, not applied twice;
 * - 按时核实率 per inspector after on-time, late, unanswered and re-sent (改派) 核实, each
 *   expected number tallied here as the workflow runs, with the drill-down reasons;
 * - the live rollups equal what `cityd rollup-rebuild` recomputes.
 * Its own server: the clock moves for everything in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"
#include "th_assert.h"

#define PW "Gr1d-Ops!2024x"

static struct th_server srv;
static long long inspector, inspector2, handler, grid1;
static char *tok2; /* inspector2's access token */

static int setup(void **state)
{
    struct th_resp r;
    char *b;

    (void)state;
    th_server_start(&srv, "testing.clock_control = true\n");
    th_seed(&srv);
    inspector = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'inspector'");
    handler = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'handler'");
    grid1 = th_sql_int(&srv, "SELECT id FROM grids WHERE code = '" TH_GRID1_CODE "'");
    /* A second inspector working in grid 1 too: it sees the cases there, but may not answer
     * a 核实 sent to the first. */
    b = th_xprintf("{\"username\":\"inspector2\",\"password\":\"%s\",\"display_name\":\"监督员二\","
                   "\"roles\":[\"inspector\"],\"grid_ids\":[%lld]}",
                   PW, grid1);
    th_call_tok(&srv, "POST", "/api/v1/admin/users", th_token(&srv, "admin"), NULL, NULL, b, &r);
    free(b);
    if (r.status != 201)
        th_die("create inspector2: %ld %s", r.status, r.body);
    inspector2 = th_jint(r.json, "id");
    th_resp_free(&r);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(tok2);
    return th_server_stop(&srv);
}

/* A fresh token of inspector2 (the clock moved: tokens minted earlier may look stale). */
static const char *insp2(void)
{
    struct th_resp r;

    free(tok2);
    th_login(&srv, "inspector2", PW, "confirm-test", &r);
    if (r.status != 200)
        fail_msg("login inspector2: %ld %s", r.status, r.body);
    tok2 = strdup(th_jstr(r.json, "access_token"));
    th_resp_free(&r);
    return tok2;
}

static void act_as_insp2(long long id, const char *key, const char *members, struct th_resp *r)
{
    char path[64];
    char *body = th_xprintf("{\"version\":%lld,%s}", th_case_version(&srv, id), members);

    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    th_call_tok(&srv, "POST", path, insp2(), key, NULL, body, r);
    free(body);
}

/* What must not move when an action is refused. */
struct snap {
    long long version, steps, events, marks;
    char state[32];
};

static void snap_take(long long id, struct snap *s)
{
    s->version = th_case_version(&srv, id);
    s->steps = th_sqlf(&srv, "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld", id);
    s->events = th_sqlf(&srv,
                        "SELECT COUNT(*) FROM events WHERE subject_type = 'case' AND"
                        " subject_id = %lld",
                        id);
    s->marks = th_sqlf(&srv, "SELECT COUNT(*) FROM eval_marks WHERE case_id = %lld", id);
    snprintf(s->state, sizeof s->state, "%s", th_case_state(&srv, id));
}

static void snap_same(long long id, const struct snap *before)
{
    struct snap now;

    snap_take(id, &now);
    assert_int_equal(now.version, before->version);
    assert_int_equal(now.steps, before->steps);
    assert_int_equal(now.events, before->events);
    assert_int_equal(now.marks, before->marks);
    assert_string_equal(now.state, before->state);
}

/* act as role, expecting status and code, and that nothing changed. */
static void refused(const char *role, long long id, long status, const char *code,
                    const char *members)
{
    struct snap before;
    struct th_resp r;

    snap_take(id, &before);
    th_act_resp(&srv, role, id, NULL, &r, "%s", members);
    th_expect(&r, status, code);
    th_resp_free(&r);
    snap_same(id, &before);
}

static long long inbox_items(long long user, const char *type, long long id)
{
    return th_sqlf(&srv,
                   "SELECT COUNT(*) FROM inbox_items WHERE user_id = %lld AND type = '%s'"
                   " AND payload LIKE '%%\"case_id\":%lld,%%'",
                   user, type, id);
}

static void wait_inbox(long long user, const char *type, long long id)
{
    for (int t = 0; t < 100 && inbox_items(user, type, id) == 0; t++)
        usleep(100000);
    assert_int_equal(inbox_items(user, type, id), 1);
}

static long long assignee_of(long long id)
{
    return th_sqlf(&srv, "SELECT COALESCE(assignee_id, 0) FROM cases WHERE id = %lld", id);
}

static const char *request_to(long long who)
{
    static char buf[96];
    snprintf(buf, sizeof buf, "\"action\":\"request_confirmation\",\"inspector_id\":%lld", who);
    return buf;
}

/* The same request again with key: answered 200 as a replay, and nothing changed. */
static void replayed(const char *role, long long id, const char *key, long long version,
                     const char *members)
{
    struct snap before;
    struct th_resp r;
    char path[64], hdr[16];
    char *body = th_xprintf("{\"version\":%lld,%s}", version, members);

    snap_take(id, &before);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    th_call(&srv, role, "POST", path, key, body, &r);
    free(body);
    th_expect(&r, 200, NULL);
    assert_true(th_header(&r, "idempotent-replayed", hdr, sizeof hdr));
    assert_string_equal(hdr, "true");
    assert_string_equal(th_jstr(r.json, "state"), before.state);
    th_resp_free(&r);
    snap_same(id, &before);
}

static long long case_a;

/* Wednesday 2030-03-13, 10:00 local (02:00Z): the 核实时限 of 30 working minutes ends 10:30. */
static void happy_path_refusals_and_retry(void **state)
{
    struct th_resp r;
    struct snap before;
    char path[96], members[160];
    bool found = false;
    size_t i;
    json_t *it;

    (void)state;
    th_clock_at(&srv, 2030, 3, 13, 2, 0);
    case_a = th_report_as(&srv, "citizen", NULL);

    /* Refused, nothing changed: the inspector may not send it, nor confirm a report nobody
     * sent; the operator must name an active inspector. */
    refused("inspector", case_a, 403, "permission_denied", request_to(inspector));
    refused("inspector", case_a, 409, "invalid_state", "\"action\":\"confirm\"");
    refused("operator", case_a, 400, "invalid_argument", "\"action\":\"request_confirmation\"");
    {
        char m[96];
        snprintf(m, sizeof m, "\"action\":\"request_confirmation\",\"inspector_id\":%lld", handler);
        refused("operator", case_a, 400, "invalid_argument", m);
        snprintf(m, sizeof m, "\"action\":\"accept\",\"inspector_id\":%lld", inspector);
        refused("operator", case_a, 400, "invalid_argument", m);
    }

    /* Sent, and sent again with the same key: one step, one event, one mark. */
    snprintf(members, sizeof members, "%s,\"text\":\"请现场核实\"", request_to(inspector));
    th_assert_minute(th_act(&srv, "operator", case_a, "cf-a-1", "%s", members),
                     "2030-03-13T02:30:00.000Z");
    snap_take(case_a, &before);
    assert_string_equal(before.state, "confirming");
    assert_int_equal(assignee_of(case_a), inspector);
    replayed("operator", case_a, "cf-a-1", before.version - 1, members);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld AND action ="
                             " 'request_confirmation'",
                             case_a),
                     1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM events WHERE type ="
                             " 'case.confirmation_requested' AND subject_id = %lld",
                             case_a),
                     1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM eval_marks WHERE case_id = %lld AND indicator"
                             " = 'on_time_verify' AND subject_id = %lld AND ok = 0",
                             case_a, inspector),
                     1);
    assert_int_equal(th_sqlf(&srv, "SELECT step = 'confirm' FROM cases WHERE id = %lld", case_a),
                     1);

    /* The inspector is told (inbox) and finds it among its tasks; the citizen sees 核实中. */
    wait_inbox(inspector, "case.confirmation_requested", case_a);
    assert_int_equal(inbox_items(inspector2, "case.confirmation_requested", case_a), 0);
    th_get_as(&srv, "inspector", "/api/v1/tasks", &r);
    th_expect(&r, 200, NULL);
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        if (th_jint(json_object_get(it, "case"), "id") == case_a) {
            assert_string_equal(th_jstr(it, "action"), "confirm");
            found = true;
        }
    }
    assert_true(found);
    th_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/me/reports/%lld", case_a);
    th_get_as(&srv, "citizen", path, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "state"), "confirming");
    assert_string_equal(th_jstr(r.json, "state_label"), "核实中");
    th_resp_free(&r);

    /* Refused, nothing changed: another inspector (who sees the case in its grid), the
     * operator answering for the inspector, accepting while it is out for 核实, re-sending to
     * the inspector who already has it. */
    snap_take(case_a, &before);
    act_as_insp2(case_a, NULL, "\"action\":\"confirm\"", &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);
    act_as_insp2(case_a, NULL, "\"action\":\"deny\"", &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);
    snap_same(case_a, &before);
    refused("operator", case_a, 403, "permission_denied", "\"action\":\"confirm\"");
    refused("operator", case_a, 409, "invalid_state", "\"action\":\"accept\"");
    refused("shift_lead", case_a, 409, "invalid_state", "\"action\":\"register\"");
    refused("operator", case_a, 400, "invalid_argument", request_to(inspector));

    /* 10:20: confirmed in time, with a note; the 立案时限 starts afresh (10:50). A retry is
     * replayed. */
    th_clock_at(&srv, 2030, 3, 13, 2, 20);
    th_assert_minute(
        th_act(&srv, "inspector", case_a, "cf-a-2", "\"action\":\"confirm\",\"text\":\"属实\""),
        "2030-03-13T02:50:00.000Z");
    snap_take(case_a, &before);
    assert_string_equal(before.state, "accepted");
    assert_int_equal(assignee_of(case_a), 0);
    replayed("inspector", case_a, "cf-a-2", before.version - 1,
             "\"action\":\"confirm\",\"text\":\"属实\"");
    assert_int_equal(th_sqlf(&srv,
                             "SELECT ok FROM eval_marks WHERE case_id = %lld AND indicator ="
                             " 'on_time_verify'",
                             case_a),
                     1);
    refused("inspector", case_a, 409, "invalid_state", "\"action\":\"deny\"");
    /* The citizen's timeline shows the 核实 with the inspector's note. */
    snprintf(path, sizeof path, "/api/v1/me/reports/%lld", case_a);
    th_get_as(&srv, "citizen", path, &r);
    th_expect(&r, 200, NULL);
    found = false;
    json_array_foreach(json_object_get(r.json, "progress"), i, it)
    {
        if (strcmp(th_jstr(it, "action"), "confirm") == 0) {
            assert_string_equal(th_jstr(it, "label"), "核实属实");
            assert_string_equal(th_jstr(it, "reply"), "属实");
            found = true;
        }
    }
    assert_true(found);
    th_resp_free(&r);
    /* And the workflow goes on: 立案. */
    th_act(&srv, "shift_lead", case_a, NULL, "\"action\":\"register\"");
}

/* Move the clock and wait until the scanner has raised every passed alert point. */
static void clock_and_scan(int h, int mi)
{
    char when[32];

    th_clock_at(&srv, 2030, 3, 13, h, mi);
    snprintf(when, sizeof when, "2030-03-13 %02d:%02d:00", h, mi);
    for (int i = 0; i < 120; i++) {
        if (th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE next_alert_at <= '%s'", when) == 0)
            return;
        usleep(250 * 1000);
    }
    fail_msg("the deadline scanner did not catch up");
}

static json_t *verify_ind(json_t *items, long long user)
{
    size_t i;
    json_t *it;

    json_array_foreach(items, i, it)
    {
        if (strcmp(th_jstr(it, "subject_type"), "user") == 0 && th_jint(it, "subject_id") == user &&
            strcmp(th_jstr(it, "role"), "inspector") == 0)
            return it;
    }
    fail_msg("inspector %lld not in the evaluation", user);
    return NULL;
}

static void on_time_rate_drill_down_and_rebuild(void **state)
{
    /* Expected 按时核实率, tallied as the workflow runs: [0] inspector, [1] inspector2. */
    long long num[2] = {0, 0}, den[2] = {0, 0};
    long long b, c, d, e;
    struct th_resp r;
    json_t *items, *x;
    char path[256];

    (void)state;
    /* A (previous test): sent to the inspector, confirmed 10 minutes before its limit. */
    num[0]++, den[0]++;

    /* 10:00 local (02:00Z). B: sent to the inspector (limit 10:30), denied at 11:00, half an
     * hour late, after the scanner marked it overdue. C: sent to inspector2, sent on to the
     * inspector at 10:10 (before inspector2's limit: its duty lapses), who confirms at 10:35
     * (its own limit is 10:40). */
    th_clock_at(&srv, 2030, 3, 13, 2, 0);
    b = th_report_as(&srv, "citizen", NULL);
    th_act(&srv, "operator", b, NULL, "%s", request_to(inspector));
    den[0]++;
    c = th_report_as(&srv, "citizen", NULL);
    th_act(&srv, "operator", c, NULL, "%s", request_to(inspector2));
    th_clock_at(&srv, 2030, 3, 13, 2, 10);
    th_assert_minute(th_act(&srv, "operator", c, NULL, "%s", request_to(inspector)),
                     "2030-03-13T02:40:00.000Z");
    den[0]++;
    th_clock_at(&srv, 2030, 3, 13, 2, 35);
    th_act(&srv, "inspector", c, NULL, "\"action\":\"confirm\"");
    num[0]++;
    clock_and_scan(3, 0);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld AND action ="
                             " 'overdue'",
                             b),
                     1);
    th_act(&srv, "inspector", b, NULL, "\"action\":\"deny\",\"text\":\"现场未发现\"");
    assert_string_equal(th_case_state(&srv, b), "invalid");

    /* D: sent to inspector2 at 11:20 (limit 11:50), not answered; at 12:30 (lunch) sent on to
     * the inspector, inspector2's lapse standing as late. The inspector's 30 working minutes
     * run after lunch (13:30 to 14:00); it confirms at 13:40. E: sent to the inspector at
     * 12:00 and never answered: owed, and not on time. */
    th_clock_at(&srv, 2030, 3, 13, 3, 20);
    d = th_report_as(&srv, "citizen", NULL);
    th_act(&srv, "operator", d, NULL, "%s", request_to(inspector2));
    den[1]++;
    th_clock_at(&srv, 2030, 3, 13, 4, 0);
    e = th_report_as(&srv, "citizen", NULL);
    th_assert_minute(th_act(&srv, "operator", e, NULL, "%s", request_to(inspector)),
                     "2030-03-13T06:00:00.000Z");
    den[0]++;
    clock_and_scan(4, 30);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld AND action ="
                             " 'overdue'",
                             d),
                     1);
    th_assert_minute(th_act(&srv, "operator", d, NULL, "%s", request_to(inspector)),
                     "2030-03-13T06:00:00.000Z");
    den[0]++;
    th_clock_at(&srv, 2030, 3, 13, 5, 40);
    th_act(&srv, "inspector", d, NULL, "\"action\":\"confirm\"");
    num[0]++;

    /* The evaluation, against the tally. */
    snprintf(path, sizeof path, "/api/v1/evaluation?from=2030-03-13&to=2030-03-13");
    th_get_as(&srv, "leader", path, &r);
    th_expect(&r, 200, NULL);
    items = json_object_get(r.json, "items");
    for (int k = 0; k < 2; k++) {
        json_t *s = verify_ind(items, k ? inspector2 : inspector);
        x = json_object_get(json_object_get(s, "indicators"), "on_time_verify");
        assert_int_equal(th_jint(x, "num"), num[k]);
        assert_int_equal(th_jint(x, "den"), den[k]);
        assert_float_equal(json_real_value(json_object_get(x, "rate")),
                           (double)num[k] / (double)den[k], 1e-9);
        /* Citizens' reports give no 有效上报 nor 核查 here: 按时核实率 is the whole score. */
        assert_float_equal(json_real_value(json_object_get(s, "score")),
                           100.0 * (double)num[k] / (double)den[k], 1e-6);
    }
    th_resp_free(&r);
    assert_int_equal(num[0], 3);
    assert_int_equal(den[0], 5);
    assert_int_equal(num[1], 0);
    assert_int_equal(den[1], 1);

    /* Drill-down: what cost the inspector points, and why. */
    snprintf(path, sizeof path,
             "/api/v1/evaluation/marks?subject_type=user&subject_id=%lld&indicator="
             "on_time_verify&failed=true&from=2030-03-13&to=2030-03-13",
             inspector);
    th_get_as(&srv, "leader", path, &r);
    th_expect(&r, 200, NULL);
    items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *m = json_array_get(items, i);
        int late = 0;
        /* The clock runs on after a move: 30 minutes and a few seconds late. */
        if (th_jint(m, "case_id") == b)
            assert_true(sscanf(th_jstr(m, "reason"), "超时 %d 分钟", &late) == 1 && late >= 30 &&
                        late <= 31);
        else if (th_jint(m, "case_id") == e)
            assert_string_equal(th_jstr(m, "reason"), "待核实");
        else
            fail_msg("unexpected failed mark of case %lld", th_jint(m, "case_id"));
    }
    th_resp_free(&r);
    snprintf(path, sizeof path,
             "/api/v1/evaluation/marks?subject_type=user&subject_id=%lld&indicator="
             "on_time_verify&from=2030-03-13&to=2030-03-13",
             inspector2);
    th_get_as(&srv, "leader", path, &r);
    th_expect(&r, 200, NULL);
    items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_int_equal(th_jint(json_array_get(items, 0), "case_id"), d);
    assert_string_equal(th_jstr(json_array_get(items, 0), "reason"), "超时未核实，已改派");
    th_resp_free(&r);

    /* A category's 核实时限 is its own column: 45 minutes for a new request. */
    {
        long long cat = th_sql_int(&srv, "SELECT id FROM categories WHERE code_set = 'gbt30428'"
                                         " AND full_code = '0102' AND kind = 'event'");
        long long f;
        snprintf(path, sizeof path, "/api/v1/categories/%lld", cat);
        th_call(&srv, "admin", "PATCH", path, NULL, "{\"limit_confirm_min\":45}", &r);
        th_expect(&r, 200, NULL);
        assert_int_equal(th_jint(json_object_get(r.json, "limits"), "confirm_min"), 45);
        th_resp_free(&r);
        th_clock_at(&srv, 2030, 3, 13, 6, 0); /* 14:00 local */
        f = th_report_as(&srv, "citizen", NULL);
        th_assert_minute(th_act(&srv, "operator", f, NULL, "%s", request_to(inspector)),
                         "2030-03-13T06:45:00.000Z");
        th_call(&srv, "admin", "PATCH", path, NULL, "{\"limit_confirm_min\":30}", &r);
        th_expect(&r, 200, NULL);
        th_resp_free(&r);
    }

    /* The live rollups equal a recomputation from scratch. */
    th_rollups_match_rebuild(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(happy_path_refusals_and_retry),
        cmocka_unit_test(on_time_rate_drill_down_and_rebuild),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
