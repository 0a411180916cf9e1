/* tests/e2e/cases_more_test.c: more of the case workflow through the real server — a report
 * with real photos and who may see them, the complete side paths (merge, suspend and resume,
 * invalidate, reopen) with state, version, timeline and events checked after each step, and a
 * handler's return that answers with the case the handler can no longer read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"
#include "th_assert.h"

static struct th_server srv;
static long long sanitation;
static char fx[400]; /* generated JPEGs */

static int setup(void **state)
{
    th_server_start(&srv, NULL);
    th_seed(&srv);
    sanitation = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'sanitation'");
    snprintf(fx, sizeof fx, "%s/fx", srv.dir);
    /* Three different small JPEGs (different sizes and shades, so different bytes). */
    if (th_sh("mkdir -p %s && cd %s && vips black b1.v 64 48 --bands 3 && vips copy b1.v a.jpg"
              " && vips black b2.v 80 60 --bands 3 && vips linear b2.v g2.v 1 90 --uchar"
              " && vips copy g2.v b.jpg && vips black b3.v 40 30 --bands 3"
              " && vips linear b3.v g3.v 1 200 --uchar && vips copy g3.v c.jpg",
              fx, fx) != 0)
        th_die("cannot generate JPEGs with vips");
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

/* ---- helpers ---------------------------------------------------------------------------- */

static long long events_of(long long id, const char *type)
{
    return th_sqlf(&srv,
                   "SELECT COUNT(*) FROM events WHERE subject_type = 'case' AND subject_id = %lld"
                   " AND type = '%s'",
                   id, type);
}

/* The last timeline row of an action response or case detail. */
static json_t *last_step(struct th_resp *r)
{
    json_t *tl = json_object_get(r->json, "timeline");
    return json_array_get(tl, json_array_size(tl) - 1);
}

/* An action that must succeed, checked in its own answer and in the database: the new state
 * and version, the timeline grown by one row for this action (from → to), and one event. */
static void step(const char *role, long long id, const char *action, const char *to,
                 const char *event, const char *extra)
{
    long long v = th_case_version(&srv, id);
    long long ev = events_of(id, event);
    long long rows = th_sqlf(&srv, "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld", id);
    char from[32];
    struct th_resp r;
    json_t *s;

    {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
        th_get_as(&srv, "operator", path, &r);
        th_expect(&r, 200, NULL);
        snprintf(from, sizeof from, "%s", th_jstr(r.json, "state"));
        th_resp_free(&r);
    }
    th_act_resp(&srv, role, id, NULL, &r, "\"action\":\"%s\"%s%s", action, extra ? "," : "",
                extra ? extra : "");
    if (r.status != 200)
        fail_msg("%s %s on case %lld: %ld %s", role, action, id, r.status, r.body);
    assert_string_equal(th_jstr(r.json, "state"), to);
    assert_int_equal(th_jint(r.json, "version"), v + 1);
    assert_int_equal(th_case_version(&srv, id), v + 1);
    assert_int_equal(json_array_size(json_object_get(r.json, "timeline")), rows + 1);
    s = last_step(&r);
    assert_string_equal(th_jstr(s, "action"), action);
    assert_string_equal(th_jstr(s, "from_state"), from);
    assert_string_equal(th_jstr(s, "to_state"), to);
    assert_string_equal(th_jstr(s, "actor_role"), role);
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld", id),
                     rows + 1);
    assert_int_equal(events_of(id, event), ev + 1);
    assert_int_equal(
        th_sqlf(&srv,
                "SELECT COUNT(*) FROM audit_log WHERE object_type = 'case' AND"
                " object_id = %lld AND action = 'case.%s' AND result = 'ok'",
                id, action),
        th_sqlf(&srv,
                "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld AND action = '%s'"
                " AND actor_role <> 'system'",
                id, action));
}

/* An action that must fail with status/code and change nothing. */
static void refused(const char *role, long long id, long status, const char *code, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));
static void refused(const char *role, long long id, long status, const char *code, const char *fmt,
                    ...)
{
    char extra[768];
    long long v = th_case_version(&srv, id);
    long long ev = th_sqlf(&srv,
                           "SELECT COUNT(*) FROM events WHERE subject_type = 'case' AND"
                           " subject_id = %lld",
                           id);
    struct th_resp r;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(extra, sizeof extra, fmt, ap);
    va_end(ap);
    th_act_resp(&srv, role, id, NULL, &r, "%s", extra);
    if (r.status != status || strcmp(th_error_code(&r), code) != 0)
        fail_msg("%s %s on case %lld: expected %ld %s, got %ld %s", role, extra, id, status, code,
                 r.status, r.body);
    th_resp_free(&r);
    assert_int_equal(th_case_version(&srv, id), v);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM events WHERE subject_type = 'case' AND"
                             " subject_id = %lld",
                             id),
                     ev);
}

/* ---- a. a report with photos --------------------------------------------------------------- */

static char *slurp(const char *name, size_t *len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", fx, name);
    return th_read_file(path, len);
}

/* Upload fx/name as role; the media public id into out. */
static void upload(const char *role, const char *name, char *out, size_t cap)
{
    const char *hs[] = {th_bearer(&srv, role), "Content-Type: image/jpeg", NULL};
    struct th_resp r;
    size_t len;
    char *data = slurp(name, &len);

    th_request(&srv, "POST", "/api/v1/media", hs, data, len, 0, &r);
    free(data);
    th_expect(&r, 201, NULL);
    snprintf(out, cap, "%s", th_jstr(r.json, "id"));
    assert_true(strlen(out) > 0);
    th_resp_free(&r);
}

static long thumb_status(const char *auth, const char *id)
{
    const char *hs[] = {auth, NULL};
    char path[128];
    struct th_resp r;
    long st;

    snprintf(path, sizeof path, "/api/v1/media/%s?variant=thumb", id);
    th_request(&srv, "GET", path, hs, NULL, 0, 0, &r);
    st = r.status;
    if (st == 200)
        assert_true(r.body_len > 2 && (unsigned char)r.body[0] == 0xFF &&
                    (unsigned char)r.body[1] == 0xD8);
    th_resp_free(&r);
    return st;
}

static void report_with_photos(void **state)
{
    char id1[64], id2[64], other[64], body[2048], path[64];
    long long before, id;
    struct th_resp r;
    json_t *ph;

    upload("inspector", "a.jpg", id1, sizeof id1);
    upload("inspector", "b.jpg", id2, sizeof id2);
    assert_string_not_equal(id1, id2);
    upload("citizen", "c.jpg", other, sizeof other);

    /* Someone else's upload cannot be attached; more than nine photos are refused. */
    before = th_sql_int(&srv, "SELECT COUNT(*) FROM cases");
    snprintf(body, sizeof body,
             "{" TH_CAT_0102 ",\"description\":\"带照片\"," TH_IN_GRID1
             ",\"photos\":[\"%s\",\"%s\"]}",
             id1, other);
    th_post(&srv, "inspector", "/api/v1/cases", NULL, body, &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    snprintf(body, sizeof body,
             "{" TH_CAT_0102 ",\"description\":\"带照片\"," TH_IN_GRID1 ",\"photos\":[");
    for (int i = 0; i < 10; i++)
        snprintf(body + strlen(body), sizeof body - strlen(body), "%s\"%s\"", i ? "," : "", id1);
    snprintf(body + strlen(body), sizeof body - strlen(body), "]}");
    th_post(&srv, "inspector", "/api/v1/cases", NULL, body, &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM cases"), before);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM media_attachments"), 0);
    /* Not attached to anything yet: only the uploader reads them. */
    assert_int_equal(thumb_status(th_bearer(&srv, "dispatcher"), id1), 404);
    assert_int_equal(thumb_status(th_bearer(&srv, "inspector"), id1), 200);

    /* The report itself. */
    snprintf(body, sizeof body,
             "{" TH_CAT_0102 ",\"description\":\"带照片\"," TH_IN_GRID1
             ",\"photos\":[\"%s\",\"%s\"]}",
             id1, id2);
    th_post(&srv, "inspector", "/api/v1/cases", NULL, body, &r);
    th_expect(&r, 201, NULL);
    id = th_jint(r.json, "id");
    ph = json_object_get(r.json, "photos");
    assert_int_equal(json_array_size(ph), 2);
    assert_string_equal(json_string_value(json_array_get(ph, 0)), id1);
    assert_string_equal(json_string_value(json_array_get(ph, 1)), id2);
    ph = json_object_get(json_array_get(json_object_get(r.json, "timeline"), 0), "photos");
    assert_int_equal(json_array_size(ph), 2);
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM media_attachments WHERE owner_type = 'case' AND"
                             " owner_id = %lld AND purpose = 'report'",
                             id),
                     2);

    /* The detail lists them, for each who reads the case. */
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    th_get_as(&srv, "dispatcher", path, &r);
    th_expect(&r, 200, NULL);
    ph = json_object_get(r.json, "photos");
    assert_int_equal(json_array_size(ph), 2);
    assert_string_equal(json_string_value(json_array_get(ph, 0)), id1);
    assert_string_equal(json_string_value(json_array_get(ph, 1)), id2);
    th_resp_free(&r);

    /* Whoever sees the case sees its photos; whoever does not gets 404, as for a made-up id. */
    static const char *const can[] = {"inspector", "operator", "dispatcher", "shift_lead",
                                      "leader"};
    for (size_t i = 0; i < sizeof can / sizeof can[0]; i++) {
        if (thumb_status(th_bearer(&srv, can[i]), id1) != 200 ||
            thumb_status(th_bearer(&srv, can[i]), id2) != 200)
            fail_msg("%s cannot read the photos of a case it sees", can[i]);
    }
    assert_int_equal(thumb_status(th_bearer(&srv, "citizen"), id1), 404);
    assert_int_equal(thumb_status(th_bearer(&srv, "citizen"), id2), 404);
    assert_int_equal(thumb_status(th_bearer(&srv, "handler"), id1),
                     404); /* not dispatched to 环卫 */
    th_get_as(&srv, "citizen", path, &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);

    /* Dispatched to 环卫, its handler sees the case and so the photos. */
    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\"");
    th_act(&srv, "dispatcher", id, NULL, "\"action\":\"dispatch\",\"department_id\":%lld",
           sanitation);
    assert_int_equal(thumb_status(th_bearer(&srv, "handler"), id2), 200);

    /* The same photo twice in one report is refused, and leaves nothing behind. */
    before = th_sql_int(&srv, "SELECT COUNT(*) FROM cases");
    snprintf(body, sizeof body,
             "{" TH_CAT_0102 ",\"description\":\"两次\"," TH_IN_GRID1
             ",\"photos\":[\"%s\",\"%s\"]}",
             id2, id2);
    th_post(&srv, "inspector", "/api/v1/cases", NULL, body, &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM cases"), before);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM media_attachments"), 2);
}

/* ---- b. side paths ------------------------------------------------------------------------- */

static void merge_path(void **state)
{
    long long orig = th_report_as(&srv, "citizen", NULL);
    long long dup = th_report_as(&srv, "inspector", NULL);
    long long dup2 = th_report_as(&srv, "citizen", NULL);
    char path[64];
    struct th_resp r;

    /* Bad targets first: itself, a case that does not exist. */
    refused("operator", dup, 400, "invalid_argument", "\"action\":\"merge\",\"duplicate_of\":%lld",
            dup);
    refused("operator", dup, 400, "invalid_argument",
            "\"action\":\"merge\",\"duplicate_of\":99999999");
    refused("operator", dup, 400, "invalid_argument", "\"action\":\"merge\"");
    refused("shift_lead", dup, 403, "permission_denied",
            "\"action\":\"merge\",\"duplicate_of\":%lld", orig);

    /* From reported. */
    {
        char extra[64];
        snprintf(extra, sizeof extra, "\"duplicate_of\":%lld,\"text\":\"重复上报\"", orig);
        step("operator", dup, "merge", "merged", "case.merged", extra);
    }
    snprintf(path, sizeof path, "/api/v1/cases/%lld", dup);
    th_get_as(&srv, "dispatcher", path, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "duplicate_of"), orig);
    assert_string_equal(th_jstr(r.json, "step"), "none");
    assert_true(json_is_null(json_object_get(r.json, "due_at")));
    assert_string_equal(th_jstr(last_step(&r), "text"), "重复上报");
    th_resp_free(&r);
    /* Merged is final. */
    refused("operator", dup, 409, "invalid_state", "\"action\":\"accept\"");
    refused("shift_lead", dup, 409, "invalid_state", "\"action\":\"reopen\",\"text\":\"x\"");
    /* Nothing merges into a merged case. */
    refused("operator", dup2, 400, "invalid_argument", "\"action\":\"merge\",\"duplicate_of\":%lld",
            dup);

    /* From accepted, again by the operator. */
    step("operator", dup2, "accept", "accepted", "case.accepted", NULL);
    {
        char extra[64];
        snprintf(extra, sizeof extra, "\"duplicate_of\":%lld", orig);
        step("operator", dup2, "merge", "merged", "case.merged", extra);
    }
    assert_int_equal(th_sqlf(&srv, "SELECT duplicate_of FROM cases WHERE id = %lld", dup2), orig);
    assert_int_equal(th_case_version(&srv, dup2), 3);
    /* The original goes on untouched. */
    assert_string_equal(th_case_state(&srv, orig), "reported");
    assert_int_equal(th_case_version(&srv, orig), 1);
}

static void suspend_and_resume_path(void **state)
{
    long long id = th_report_as(&srv, "citizen", NULL);
    char path[64];
    struct th_resp r;

    step("operator", id, "accept", "accepted", "case.accepted", NULL);
    step("shift_lead", id, "register", "registered", "case.registered", NULL);
    refused("inspector", id, 403, "permission_denied", "\"action\":\"suspend\"");
    step("dispatcher", id, "suspend", "suspended", "case.suspended", "\"text\":\"暂无责任单位\"");
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    th_get_as(&srv, "dispatcher", path, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "step"), "none"); /* no deadline runs while parked */
    assert_true(json_is_null(json_object_get(r.json, "due_at")));
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT next_alert_at IS NULL FROM cases WHERE id = %lld", id),
                     1);
    refused("dispatcher", id, 409, "invalid_state",
            "\"action\":\"dispatch\",\"department_id\":%lld", sanitation);
    refused("dispatcher", id, 409, "invalid_state", "\"action\":\"suspend\"");

    step("dispatcher", id, "resume", "registered", "case.resumed", NULL);
    th_get_as(&srv, "dispatcher", path, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "step"), "dispatch"); /* the 派遣时限 starts again */
    assert_true(json_is_string(json_object_get(r.json, "due_at")));
    th_resp_free(&r);

    /* After 挂账恢复 the dispatcher's queue has it again. */
    th_get_as(&srv, "dispatcher", "/api/v1/tasks?limit=500", &r);
    th_expect(&r, 200, NULL);
    {
        json_t *it;
        size_t i;
        bool found = false;
        json_array_foreach(json_object_get(r.json, "items"), i, it)
        {
            if (th_jint(json_object_get(it, "case"), "id") == id &&
                strcmp(th_jstr(it, "action"), "dispatch") == 0)
                found = true;
        }
        assert_true(found);
    }
    th_resp_free(&r);
    assert_int_equal(th_case_version(&srv, id), 5);
    assert_int_equal(events_of(id, "case.suspended"), 1);
    assert_int_equal(events_of(id, "case.resumed"), 1);
}

static void suspend_while_dispatched(void **state)
{
    long long id = th_report_as(&srv, "citizen", NULL);
    char extra[64];

    snprintf(extra, sizeof extra, "\"department_id\":%lld", sanitation);
    step("operator", id, "accept", "accepted", "case.accepted", NULL);
    step("shift_lead", id, "register", "registered", "case.registered", NULL);
    step("dispatcher", id, "dispatch", "dispatched", "case.dispatched", extra);
    step("dispatcher", id, "suspend", "suspended", "case.suspended", NULL);
    /* The handler cannot act on it while it is parked. */
    refused("handler", id, 409, "invalid_state", "\"action\":\"handle\",\"text\":\"x\"");
    step("dispatcher", id, "resume", "registered", "case.resumed", NULL);
    step("dispatcher", id, "dispatch", "dispatched", "case.dispatched", extra);
    step("handler", id, "handle", "handled", "case.handled", "\"text\":\"已处理\"");
    assert_int_equal(th_case_version(&srv, id), 8);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld", id), 8);
    assert_int_equal(events_of(id, "case.suspended"), 1);
    assert_int_equal(events_of(id, "case.resumed"), 1);
    assert_int_equal(events_of(id, "case.dispatched"), 2);
}

static void invalidate_path(void **state)
{
    long long a = th_report_as(&srv, "citizen", NULL);
    long long b = th_report_as(&srv, "citizen", NULL);
    char path[64];
    struct th_resp r;

    /* 不予受理 at intake: the operator's, with a reason. */
    refused("operator", a, 400, "invalid_argument", "\"action\":\"invalidate\"");
    refused("shift_lead", a, 403, "permission_denied", "\"action\":\"invalidate\",\"text\":\"x\"");
    step("operator", a, "invalidate", "invalid", "case.invalidated", "\"text\":\"不属于城管范围\"");
    snprintf(path, sizeof path, "/api/v1/cases/%lld", a);
    th_get_as(&srv, "citizen", path, &r); /* the reporter sees why */
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "state"), "invalid");
    assert_string_equal(th_jstr(last_step(&r), "text"), "不属于城管范围");
    assert_string_equal(th_jstr(r.json, "step"), "none");
    th_resp_free(&r);
    refused("operator", a, 409, "invalid_state", "\"action\":\"accept\"");
    refused("shift_lead", a, 409, "invalid_state", "\"action\":\"reopen\",\"text\":\"x\"");

    /* Voided by the shift lead instead of 立案. */
    step("operator", b, "accept", "accepted", "case.accepted", NULL);
    refused("operator", b, 403, "permission_denied", "\"action\":\"invalidate\",\"text\":\"x\"");
    step("shift_lead", b, "invalidate", "invalid", "case.invalidated", "\"text\":\"信息不实\"");
    assert_int_equal(th_case_version(&srv, b), 3);
    refused("shift_lead", b, 409, "invalid_state", "\"action\":\"register\"");
    /* Not in anyone's task list any more. */
    th_get_as(&srv, "operator", "/api/v1/tasks?limit=500", &r);
    th_expect(&r, 200, NULL);
    {
        json_t *it;
        size_t i;
        json_array_foreach(json_object_get(r.json, "items"), i, it)
        {
            long long cid = th_jint(json_object_get(it, "case"), "id");
            assert_true(cid != a && cid != b);
        }
    }
    th_resp_free(&r);
}

static void reopen_path(void **state)
{
    long long id = th_report_as(&srv, "inspector", NULL);
    char dept[64], path[64];
    struct th_resp r;

    snprintf(dept, sizeof dept, "\"department_id\":%lld", sanitation);
    step("operator", id, "accept", "accepted", "case.accepted", NULL);
    step("shift_lead", id, "register", "registered", "case.registered", NULL);
    step("dispatcher", id, "dispatch", "dispatched", "case.dispatched", dept);
    step("handler", id, "handle", "handled", "case.handled", "\"text\":\"已清理\"");
    step("inspector", id, "verify_pass", "verified", "case.verified", NULL);
    refused("shift_lead", id, 409, "invalid_state", "\"action\":\"reopen\",\"text\":\"x\"");
    step("shift_lead", id, "close", "closed", "case.closed", NULL);
    assert_int_equal(th_sqlf(&srv, "SELECT closed_at IS NOT NULL FROM cases WHERE id = %lld", id),
                     1);

    /* 重新立案 needs the shift lead and a reason. */
    refused("shift_lead", id, 400, "invalid_argument", "\"action\":\"reopen\"");
    refused("dispatcher", id, 403, "permission_denied", "\"action\":\"reopen\",\"text\":\"x\"");
    step("shift_lead", id, "reopen", "registered", "case.reopened", "\"text\":\"市民投诉未解决\"");
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    th_get_as(&srv, "dispatcher", path, &r);
    th_expect(&r, 200, NULL);
    assert_true(json_is_null(json_object_get(r.json, "closed_at")));
    assert_string_equal(th_jstr(r.json, "step"), "dispatch");
    assert_true(json_is_string(json_object_get(r.json, "due_at")));
    assert_int_equal(th_jint(r.json, "version"), 8);
    assert_int_equal(json_array_size(json_object_get(r.json, "timeline")), 8);
    th_resp_free(&r);

    /* And round again to closed. */
    step("dispatcher", id, "dispatch", "dispatched", "case.dispatched", dept);
    step("handler", id, "handle", "handled", "case.handled", "\"text\":\"再次清理\"");
    step("inspector", id, "verify_pass", "verified", "case.verified", NULL);
    step("shift_lead", id, "close", "closed", "case.closed", NULL);
    assert_int_equal(th_case_version(&srv, id), 12);
    assert_int_equal(events_of(id, "case.closed"), 2);
    assert_int_equal(events_of(id, "case.reopened"), 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM events WHERE subject_type = 'case' AND"
                             " subject_id = %lld",
                             id),
                     12);
}

/* ---- c. return ----------------------------------------------------------------------------- */

static void handler_return_answers_then_hides(void **state)
{
    long long id = th_report_as(&srv, "citizen", NULL);
    char path[64], dept[64];
    struct th_resp r;
    json_t *s, *it;
    size_t i;
    bool found = false;

    snprintf(dept, sizeof dept, "\"department_id\":%lld", sanitation);
    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", id, NULL, "\"action\":\"register\"");
    th_act(&srv, "dispatcher", id, NULL, "\"action\":\"dispatch\",%s", dept);
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    th_get_as(&srv, "handler", path, &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);

    refused("handler", id, 400, "invalid_argument", "\"action\":\"return\"");
    th_act_resp(&srv, "handler", id, NULL, &r, "\"action\":\"return\",\"text\":\"不属于环卫\"");
    th_expect(&r, 200, NULL);
    /* The answer is the case as it now stands, although the handler may no longer read it. */
    assert_int_equal(th_jint(r.json, "id"), id);
    assert_string_equal(th_jstr(r.json, "state"), "registered");
    assert_int_equal(th_jint(r.json, "version"), 5);
    assert_true(json_is_null(json_object_get(r.json, "department_id")));
    assert_string_equal(th_jstr(r.json, "step"), "dispatch");
    s = last_step(&r);
    assert_string_equal(th_jstr(s, "action"), "return");
    assert_string_equal(th_jstr(s, "from_state"), "dispatched");
    assert_string_equal(th_jstr(s, "to_state"), "registered");
    assert_string_equal(th_jstr(s, "text"), "不属于环卫");
    th_resp_free(&r);
    assert_int_equal(events_of(id, "case.returned"), 1);

    th_get_as(&srv, "handler", path, &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    /* Acting again is not found either (and a replay of nothing). */
    refused("handler", id, 404, "not_found", "\"action\":\"handle\",\"text\":\"x\"");
    /* Back in the dispatcher's queue. */
    th_get_as(&srv, "dispatcher", "/api/v1/tasks?limit=500", &r);
    th_expect(&r, 200, NULL);
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        if (th_jint(json_object_get(it, "case"), "id") == id &&
            strcmp(th_jstr(it, "action"), "dispatch") == 0)
            found = true;
    }
    assert_true(found);
    th_resp_free(&r);
    th_get_as(&srv, "handler", "/api/v1/tasks?limit=500", &r);
    th_expect(&r, 200, NULL);
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        assert_true(th_jint(json_object_get(it, "case"), "id") != id);
    }
    th_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_with_photos),
        cmocka_unit_test(merge_path),
        cmocka_unit_test(suspend_and_resume_path),
        cmocka_unit_test(suspend_while_dispatched),
        cmocka_unit_test(invalidate_path),
        cmocka_unit_test(reopen_path),
        cmocka_unit_test(handler_return_answers_then_hides),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
