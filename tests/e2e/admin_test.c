/* tests/e2e/admin_test.c: user administration, the organisation (departments, regions, grids),
 * machine API keys and the audit log, through the real binary.
 *
 * Every refusal is checked for its status, its error code and that nothing changed (read back
 * from the database). Revocation is checked where it matters: a roles change, disabling and a
 * password reset stop the user's current access token at its very next request, and a revoked
 * API key stops both the exchange and the tokens it already produced. The audit log is checked
 * through the API and for its database grants (`cityd migrate` with db.runtime_user). */
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

#define PW "Gr1d-Ops!2024x"
#define PW2 "N3w-Secret#2025y"

static struct th_server srv;

static int setup(void **state)
{
    th_server_start(&srv, NULL);
    th_seed(&srv);
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static const char *admin(void)
{
    return th_token(&srv, "admin");
}

/* Expect status and error code; print the body when it differs. */
/* Log in; returns the access token (malloc'd) or NULL with *status set. */
static char *login(const char *user, const char *pw, long *status)
{
    struct th_resp r;
    char *tok = NULL;

    th_login(&srv, user, pw, "admin-test", &r);
    *status = r.status;
    if (r.status == 200)
        tok = strdup(json_string_value(json_object_get(r.json, "access_token")));
    th_resp_free(&r);
    return tok;
}

static long me_status(const char *token)
{
    struct th_resp r;
    long s;

    th_get(&srv, "/api/v1/me", token, &r);
    s = r.status;
    th_resp_free(&r);
    return s;
}

static long long dept_id(const char *code)
{
    return th_sqlf(&srv, "SELECT id FROM departments WHERE code = '%s'", code);
}

static long long grid_id(const char *code)
{
    return th_sqlf(&srv, "SELECT id FROM grids WHERE code = '%s'", code);
}

/* Create a staff user through the API; returns the id. */
static long long create_user(const char *username, const char *roles_json, const char *extra)
{
    struct th_resp r;
    char *b = th_xprintf("{\"username\":\"%s\",\"password\":\"%s\",\"display_name\":\"测试%s\","
                         "\"roles\":%s%s%s}",
                         username, PW, username, roles_json, extra ? "," : "", extra ? extra : "");
    long long id;

    th_call_tok(&srv, "POST", "/api/v1/admin/users", admin(), NULL, NULL, b, &r);
    free(b);
    th_expect(&r, 201, NULL);
    id = json_integer_value(json_object_get(r.json, "id"));
    th_resp_free(&r);
    assert_true(id > 0);
    return id;
}

/* ---- users -------------------------------------------------------------------------------- */

static void admin_creates_handler_and_inspector(void **state)
{
    struct th_resp r;
    long long sanit = dept_id("sanitation"), g1 = grid_id("999901001001001"),
              g2 = grid_id("999901001001002");
    long long hid, iid,
        audits = th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action ="
                               " 'user.create'");
    char *extra, *path, *tok;
    long st;

    assert_true(sanit > 0 && g1 > 0 && g2 > 0);
    extra = th_xprintf("\"department_id\":%lld,\"phone\":\"13900001111\"", sanit);
    hid = create_user("hzhang", "[\"handler\"]", extra);
    free(extra);
    extra = th_xprintf("\"grid_ids\":[%lld,%lld]", g2, g1);
    iid = create_user("ili", "[\"inspector\"]", extra);
    free(extra);

    path = th_xprintf("/api/v1/admin/users/%lld", hid);
    th_get(&srv, path, admin(), &r);
    free(path);
    th_expect(&r, 200, NULL);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "roles"), 0)),
                        "handler");
    assert_int_equal(json_integer_value(json_object_get(r.json, "department_id")), sanit);
    assert_string_equal(json_string_value(json_object_get(r.json, "department_name")), "环卫");
    assert_string_equal(json_string_value(json_object_get(r.json, "phone")), "13900001111");
    assert_null(json_object_get(r.json, "password"));
    assert_null(strstr(r.body, "argon2"));
    th_resp_free(&r);

    path = th_xprintf("/api/v1/admin/users/%lld", iid);
    th_get(&srv, path, admin(), &r);
    free(path);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "grid_ids")), 2);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(r.json, "grid_ids"), 0)),
                     g1 < g2 ? g1 : g2);
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM user_grids WHERE user_id = %lld", iid), 2);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'user.create'"),
                     audits + 2);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'user.create' AND"
                             " object_id = %lld AND actor_id = (SELECT id FROM users WHERE"
                             " username = 'admin')",
                             hid),
                     1);

    /* Both log in; the inspector's /me lists the grids. */
    tok = login("hzhang", PW, &st);
    assert_int_equal(st, 200);
    assert_int_equal(me_status(tok), 200);
    free(tok);
    tok = login("ili", PW, &st);
    assert_int_equal(st, 200);
    th_get(&srv, "/api/v1/me", tok, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "grid_ids")), 2);
    th_resp_free(&r);
    free(tok);

    /* Listing: filter by role and a name prefix; the cursor pages. */
    th_get(&srv, "/api/v1/admin/users?role=inspector&q=il", admin(), &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(r.json, "items"), 0), "id")),
                     iid);
    th_resp_free(&r);
    th_get(&srv, "/api/v1/admin/users?limit=2", admin(), &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
    {
        const char *cur = json_string_value(json_object_get(r.json, "next_cursor"));
        long long last = json_integer_value(
            json_object_get(json_array_get(json_object_get(r.json, "items"), 1), "id"));
        struct th_resp r2;
        assert_non_null(cur);
        path = th_xprintf("/api/v1/admin/users?limit=2&cursor=%s", cur);
        th_get(&srv, path, admin(), &r2);
        free(path);
        th_expect(&r2, 200, NULL);
        assert_true(json_integer_value(json_object_get(
                        json_array_get(json_object_get(r2.json, "items"), 0), "id")) > last);
        th_resp_free(&r2);
    }
    th_resp_free(&r);
}

struct bad_create {
    const char *body;
    long status;
    const char *code;
};

static void bad_creates_change_nothing(void **state)
{
    long long sanit = dept_id("sanitation");
    char *bodies[16];
    struct bad_create cases[16];
    size_t n = 0;
    long long users, audits;

    create_user("dupe", "[\"operator\"]", NULL);
#define BAD(st, c, ...)                                                                            \
    do {                                                                                           \
        bodies[n] = th_xprintf(__VA_ARGS__);                                                       \
        cases[n] = (struct bad_create){bodies[n], st, c};                                          \
        n++;                                                                                       \
    } while (0)
    BAD(409, "conflict",
        "{\"username\":\"dupe\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"operator\"]}",
        PW);
    BAD(400, "invalid_argument", /* mass assignment */
        "{\"username\":\"ma1\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"operator\"],\"token_version\":7}",
        PW);
    BAD(400, "invalid_argument",
        "{\"id\":1,\"username\":\"ma2\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"operator\"]}",
        PW);
    BAD(400, "invalid_argument",
        "{\"username\":\"ma3\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"operator\"],\"disabled\":false}",
        PW);
    BAD(400, "invalid_argument", /* a handler needs a department */
        "{\"username\":\"nodept\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"handler\"]}",
        PW);
    BAD(400, "invalid_argument", /* a leader needs a jurisdiction */
        "{\"username\":\"noregion\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"leader\"]}",
        PW);
    BAD(400, "invalid_argument", /* grids only for inspectors */
        "{\"username\":\"gridop\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"operator\"],\"grid_ids\":[1]}",
        PW);
    BAD(400, "invalid_argument",
        "{\"username\":\"nogrid\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"inspector\"],\"grid_ids\":[999999]}",
        PW);
    BAD(400, "invalid_argument",
        "{\"username\":\"baddept\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"handler\"],\"department_id\":999999}",
        PW);
    BAD(400, "invalid_argument",
        "{\"username\":\"citz\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"citizen\"]}",
        PW);
    BAD(400, "invalid_argument",
        "{\"username\":\"boss\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"superuser\"]}",
        PW);
    BAD(400, "invalid_argument",
        "{\"username\":\"mix\",\"password\":\"%s\",\"display_name\":\"x\",\"roles\":"
        "[\"machine\",\"admin\"]}",
        PW);
    BAD(400, "invalid_argument", /* password policy */
        "{\"username\":\"weakpw\",\"password\":\"password\",\"display_name\":\"x\",\"roles\":"
        "[\"operator\"],\"department_id\":%lld}",
        sanit);
    BAD(400, "invalid_argument",
        "{\"username\":\"nopw\",\"display_name\":\"x\",\"roles\":[\"operator\"]}");
#undef BAD
    users = th_sqlf(&srv, "SELECT COUNT(*) FROM users");
    audits = th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'user.create'");
    for (size_t i = 0; i < n; i++) {
        struct th_resp r;
        th_call_tok(&srv, "POST", "/api/v1/admin/users", admin(), NULL, NULL, cases[i].body, &r);
        if (r.status != cases[i].status)
            print_error("case %zu: %s\n", i, cases[i].body);
        th_expect(&r, cases[i].status, cases[i].code);
        th_resp_free(&r);
        free(bodies[i]);
    }
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM users"), users);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM users WHERE username = 'dupe'"), 1);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'user.create'"),
                     audits);
}

static void create_retry_with_idempotency_key(void **state)
{
    struct th_resp r;
    char *b = th_xprintf("{\"username\":\"retry1\",\"password\":\"%s\",\"display_name\":\"重试\","
                         "\"roles\":[\"dispatcher\"]}",
                         PW);
    long long first, users;
    char h[16];

    th_call_tok(&srv, "POST", "/api/v1/admin/users", admin(), "adm-retry-1", NULL, b, &r);
    th_expect(&r, 201, NULL);
    first = json_integer_value(json_object_get(r.json, "id"));
    th_resp_free(&r);
    users = th_sqlf(&srv, "SELECT COUNT(*) FROM users");
    th_call_tok(&srv, "POST", "/api/v1/admin/users", admin(), "adm-retry-1", NULL, b, &r);
    th_expect(&r, 201, NULL);
    assert_int_equal(json_integer_value(json_object_get(r.json, "id")), first);
    assert_true(th_header(&r, "idempotent-replayed", h, sizeof h));
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM users"), users);
    /* Without the key the retry is a duplicate username. */
    th_call_tok(&srv, "POST", "/api/v1/admin/users", admin(), NULL, NULL, b, &r);
    th_expect(&r, 409, "conflict");
    th_resp_free(&r);
    free(b);
}

static void non_admin_is_forbidden(void **state)
{
    static const char *const roles[] = {"inspector", "handler", "operator", "dispatcher",
                                        "leader",    "citizen", NULL};
    long long users = th_sqlf(&srv, "SELECT COUNT(*) FROM users");
    char *b = th_xprintf("{\"username\":\"sneaky\",\"password\":\"%s\",\"display_name\":\"x\","
                         "\"roles\":[\"admin\"]}",
                         PW);

    for (size_t i = 0; roles[i]; i++) {
        struct th_resp r;
        const char *tok = th_token(&srv, roles[i]);
        th_get(&srv, "/api/v1/admin/users", tok, &r);
        th_expect(&r, 403, "permission_denied");
        th_resp_free(&r);
        th_call_tok(&srv, "POST", "/api/v1/admin/users", tok, NULL, NULL, b, &r);
        th_expect(&r, 403, "permission_denied");
        th_resp_free(&r);
        th_call_tok(&srv, "POST", "/api/v1/grids", tok, NULL, NULL, "{}", &r);
        th_expect(&r, 403, "permission_denied");
        th_resp_free(&r);
        th_get(&srv, "/api/v1/admin/audit", tok, &r);
        th_expect(&r, 403, "permission_denied");
        th_resp_free(&r);
        th_get(&srv, "/api/v1/admin/api-keys", tok, &r);
        th_expect(&r, 403, "permission_denied");
        th_resp_free(&r);
    }
    free(b);
    {
        struct th_resp r;
        th_get(&srv, "/api/v1/admin/users", NULL, &r);
        th_expect(&r, 401, "unauthenticated");
        th_resp_free(&r);
    }
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM users"), users);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM users WHERE username = 'sneaky'"), 0);
}

static void role_change_revokes_old_token(void **state)
{
    struct th_resp r;
    long long id = create_user("rolechg", "[\"operator\"]", NULL);
    char *path = th_xprintf("/api/v1/admin/users/%lld", id), *tok, *tok2;
    long long tv;
    long st;

    tok = login("rolechg", PW, &st);
    assert_int_equal(st, 200);
    assert_int_equal(me_status(tok), 200);
    tv = th_sqlf(&srv, "SELECT token_version FROM users WHERE id = %lld", id);

    /* A display-name change does not touch authorization: the token stays good. */
    th_call_tok(&srv, "PATCH", path, admin(), NULL, NULL, "{\"display_name\":\"新名字\"}", &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "display_name")), "新名字");
    th_resp_free(&r);
    assert_int_equal(me_status(tok), 200);

    /* Mass assignment and bad values: 400, nothing changed. */
    th_call_tok(&srv, "PATCH", path, admin(), NULL, NULL, "{\"token_version\":0}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_call_tok(&srv, "PATCH", path, admin(), NULL, NULL,
                "{\"roles\":[\"operator\"],\"disabled\":true}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_call_tok(&srv, "PATCH", path, admin(), NULL, NULL, "{\"roles\":[\"handler\"]}",
                &r); /* no department */
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_call_tok(&srv, "PATCH", path, admin(), NULL, NULL, "{}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT roles FROM users WHERE id = %lld", id), 8);
    assert_int_equal(th_sqlf(&srv, "SELECT disabled FROM users WHERE id = %lld", id), 0);
    assert_int_equal(th_sqlf(&srv, "SELECT token_version FROM users WHERE id = %lld", id), tv);
    assert_int_equal(me_status(tok), 200);

    /* The roles change: the old token dies at once. */
    th_call_tok(&srv, "PATCH", path, admin(), NULL, NULL,
                "{\"roles\":[\"operator\",\"shift_lead\"]}", &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "roles")), 2);
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT token_version FROM users WHERE id = %lld", id), tv + 1);
    assert_int_equal(me_status(tok), 401);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'user.update' AND"
                             " object_id = %lld AND detail LIKE 'roles%%'",
                             id),
                     1);
    tok2 = login("rolechg", PW, &st);
    assert_int_equal(st, 200);
    th_get(&srv, "/api/v1/me", tok2, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "roles")), 2);
    th_resp_free(&r);

    /* An admin cannot take away their own admin role. */
    {
        long long self = th_sqlf(&srv, "SELECT id FROM users WHERE username = 'admin'");
        char *sp = th_xprintf("/api/v1/admin/users/%lld", self);
        th_call_tok(&srv, "PATCH", sp, admin(), NULL, NULL, "{\"roles\":[\"operator\"]}", &r);
        th_expect(&r, 409, "invalid_state");
        th_resp_free(&r);
        free(sp);
        assert_int_equal(th_sqlf(&srv, "SELECT roles FROM users WHERE id = %lld", self), 128);
    }
    th_call_tok(&srv, "PATCH", "/api/v1/admin/users/999999", admin(), NULL, NULL,
                "{\"display_name\":\"x\"}", &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    free(tok);
    free(tok2);
    free(path);
}

static void disable_and_enable(void **state)
{
    struct th_resp r;
    long long id = create_user("todisable", "[\"inspector\"]", NULL);
    char *path = th_xprintf("/api/v1/admin/users/%lld/disable", id);
    char *epath = th_xprintf("/api/v1/admin/users/%lld/enable", id);
    char *tok, *refresh, *rb;
    long st;

    th_login(&srv, "todisable", PW, "dis-dev", &r);
    th_expect(&r, 200, NULL);
    tok = strdup(json_string_value(json_object_get(r.json, "access_token")));
    refresh = strdup(json_string_value(json_object_get(r.json, "refresh_token")));
    th_resp_free(&r);
    assert_int_equal(me_status(tok), 200);

    /* No reason: 400, still enabled. */
    th_call_tok(&srv, "POST", path, admin(), NULL, NULL, NULL, &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT disabled FROM users WHERE id = %lld", id), 0);
    assert_int_equal(me_status(tok), 200);

    th_call_tok(&srv, "POST", path, admin(), NULL, NULL, "{\"reason\":\"离职\"}", &r);
    th_expect(&r, 204, NULL);
    th_resp_free(&r);
    assert_int_equal(me_status(tok), 401);
    free(login("todisable", PW, &st));
    assert_int_equal(st, 403);
    rb = th_xprintf("{\"refresh_token\":\"%s\"}", refresh);
    th_post_json(&srv, "/api/v1/auth/refresh", NULL, rb, &r);
    th_expect(&r, 401, "unauthenticated");
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'user.disable' AND"
                             " object_id = %lld AND detail = '离职'",
                             id),
                     1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM sessions WHERE user_id = %lld AND revoked_at"
                             " IS NULL",
                             id),
                     0);

    /* Enable: logging in works again; the old token stays dead. */
    th_call_tok(&srv, "POST", epath, admin(), NULL, NULL, "{\"reason\":\"复职\"}", &r);
    th_expect(&r, 204, NULL);
    th_resp_free(&r);
    assert_int_equal(me_status(tok), 401);
    free(tok);
    tok = login("todisable", PW, &st);
    assert_int_equal(st, 200);
    assert_int_equal(me_status(tok), 200);

    /* An admin cannot disable themselves. */
    {
        long long self = th_sqlf(&srv, "SELECT id FROM users WHERE username = 'admin'");
        char *sp = th_xprintf("/api/v1/admin/users/%lld/disable", self);
        th_call_tok(&srv, "POST", sp, admin(), NULL, NULL, "{\"reason\":\"oops\"}", &r);
        th_expect(&r, 409, "invalid_state");
        th_resp_free(&r);
        free(sp);
        assert_int_equal(th_sqlf(&srv, "SELECT disabled FROM users WHERE id = %lld", self), 0);
    }
    th_call_tok(&srv, "POST", "/api/v1/admin/users/999999/disable", admin(), NULL, NULL,
                "{\"reason\":\"x\"}", &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    free(tok);
    free(refresh);
    free(rb);
    free(path);
    free(epath);
}

static void reset_password(void **state)
{
    struct th_resp r;
    long long id = create_user("forgetful", "[\"dispatcher\"]", NULL);
    char *path = th_xprintf("/api/v1/admin/users/%lld/reset-password", id);
    char *tok, *b;
    long st;
    long long tv = th_sqlf(&srv, "SELECT token_version FROM users WHERE id = %lld", id);

    tok = login("forgetful", PW, &st);
    assert_int_equal(st, 200);

    /* Policy: too weak, or containing the username. */
    th_call_tok(&srv, "POST", path, admin(), NULL, NULL, "{\"new_password\":\"short\"}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_call_tok(&srv, "POST", path, admin(), NULL, NULL, "{\"new_password\":\"Xforgetful-99\"}",
                &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_call_tok(&srv, "POST", path, admin(), NULL, NULL,
                "{\"new_password\":\"" PW2 "\",\"user_id\":1}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT token_version FROM users WHERE id = %lld", id), tv);
    assert_int_equal(me_status(tok), 200);

    b = th_xprintf("{\"new_password\":\"%s\"}", PW2);
    th_call_tok(&srv, "POST", path, admin(), NULL, NULL, b, &r);
    free(b);
    th_expect(&r, 204, NULL);
    th_resp_free(&r);
    assert_int_equal(me_status(tok), 401);
    free(login("forgetful", PW, &st));
    assert_int_equal(st, 401);
    free(tok);
    tok = login("forgetful", PW2, &st);
    assert_int_equal(st, 200);
    assert_int_equal(me_status(tok), 200);
    free(tok);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'user.password_reset'"
                             " AND object_id = %lld",
                             id),
                     1);
    /* The password is never in the audit log. */
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%%%s%%'", PW2), 0);
    free(path);
}

/* ---- organisation ------------------------------------------------------------------------- */

static void departments_and_regions(void **state)
{
    struct th_resp r;
    long long n = th_sqlf(&srv, "SELECT COUNT(*) FROM departments"), id, city, d;
    char *path;

    th_call_tok(&srv, "POST", "/api/v1/departments", admin(), NULL, NULL,
                "{\"code\":\"drainage\",\"name\":\"排水\"}", &r);
    th_expect(&r, 201, NULL);
    id = json_integer_value(json_object_get(r.json, "id"));
    assert_true(json_is_true(json_object_get(r.json, "active")));
    th_resp_free(&r);
    th_call_tok(&srv, "POST", "/api/v1/departments", admin(), NULL, NULL,
                "{\"code\":\"drainage\",\"name\":\"排水二\"}", &r);
    th_expect(&r, 409, "conflict");
    th_resp_free(&r);
    th_call_tok(&srv, "POST", "/api/v1/departments", admin(), NULL, NULL,
                "{\"code\":\"Bad Code\",\"name\":\"坏\"}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_call_tok(&srv, "POST", "/api/v1/departments", admin(), NULL, NULL,
                "{\"code\":\"x1\",\"name\":\"x\",\"id\":5}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM departments"), n + 1);

    /* Staff read the list; citizens may not. */
    th_get(&srv, "/api/v1/departments", th_token(&srv, "inspector"), &r);
    th_expect(&r, 200, NULL);
    assert_non_null(strstr(r.body, "排水"));
    th_resp_free(&r);
    th_get(&srv, "/api/v1/departments", th_token(&srv, "citizen"), &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);

    /* Deactivate: gone from the default list, kept with include_inactive. */
    path = th_xprintf("/api/v1/departments/%lld", id);
    th_call_tok(&srv, "PATCH", path, admin(), NULL, NULL, "{\"active\":false}", &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
    th_call_tok(&srv, "PATCH", path, admin(), NULL, NULL, "{\"code\":\"renamed\"}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    free(path);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT code = 'drainage' AND active = 0 FROM departments WHERE id ="
                             " %lld",
                             id),
                     1);
    th_get(&srv, "/api/v1/departments", admin(), &r);
    assert_null(strstr(r.body, "排水"));
    th_resp_free(&r);
    th_get(&srv, "/api/v1/departments?include_inactive=true", admin(), &r);
    assert_non_null(strstr(r.body, "排水"));
    th_resp_free(&r);

    /* Regions: a district under the city; a street directly under the city is refused. */
    city = th_sqlf(&srv, "SELECT id FROM regions WHERE code = '999900'");
    path = th_xprintf("{\"parent_id\":%lld,\"level\":\"district\",\"code\":\"999903\",\"name\":"
                      "\"南城区\"}",
                      city);
    th_call_tok(&srv, "POST", "/api/v1/regions", admin(), NULL, NULL, path, &r);
    free(path);
    th_expect(&r, 201, NULL);
    d = json_integer_value(json_object_get(r.json, "id"));
    assert_int_equal(json_integer_value(json_object_get(r.json, "parent_id")), city);
    th_resp_free(&r);
    path = th_xprintf("{\"parent_id\":%lld,\"level\":\"street\",\"code\":\"999903001\",\"name\":"
                      "\"跳级街道\"}",
                      city);
    th_call_tok(&srv, "POST", "/api/v1/regions", admin(), NULL, NULL, path, &r);
    free(path);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM regions WHERE code = '999903001'"), 0);
    assert_true(d > 0);

    /* A leader gets that district as jurisdiction. */
    path = th_xprintf("\"region_id\":%lld", d);
    {
        long long lid = create_user("nanleader", "[\"leader\"]", path);
        assert_int_equal(th_sqlf(&srv, "SELECT region_id FROM users WHERE id = %lld", lid), d);
    }
    free(path);
}

/* A 4-point square ring at lng0, lat0 of side d, as a GeoJSON Polygon. */
static char *square(double lng0, double lat0, double d)
{
    return th_xprintf("{\"type\":\"Polygon\",\"coordinates\":[[[%.4f,%.4f],[%.4f,%.4f],[%.4f,%.4f],"
                      "[%.4f,%.4f],[%.4f,%.4f]]]}",
                      lng0, lat0, lng0 + d, lat0, lng0 + d, lat0 + d, lng0, lat0 + d, lng0, lat0);
}

static void grids_validate_and_locate(void **state)
{
    struct th_resp r;
    long long street = th_sqlf(&srv, "SELECT id FROM regions WHERE code = '999901001'");
    long long n = th_sqlf(&srv, "SELECT COUNT(*) FROM grids"), id;
    char *sq = square(120.62, 31.30, 0.01), *b, *path;
    static const char *const bad_boundaries[] = {
        /* not closed */
        "{\"type\":\"Polygon\",\"coordinates\":[[[120.7,31.3],[120.71,31.3],[120.71,31.31],"
        "[120.7,31.31]]]}",
        /* 3 points */
        "{\"type\":\"Polygon\",\"coordinates\":[[[120.7,31.3],[120.71,31.3],[120.7,31.3]]]}",
        /* latitude out of range (and lat/lng swapped) */
        "{\"type\":\"Polygon\",\"coordinates\":[[[31.3,120.7],[31.3,120.71],[31.31,120.71],"
        "[31.3,120.7]]]}",
        /* longitude out of range */
        "{\"type\":\"Polygon\",\"coordinates\":[[[190.7,31.3],[190.71,31.3],[190.71,31.31],"
        "[190.7,31.3]]]}",
        /* self-intersecting bow tie */
        "{\"type\":\"Polygon\",\"coordinates\":[[[120.7,31.3],[120.71,31.31],[120.71,31.3],"
        "[120.7,31.31],[120.7,31.3]]]}",
        /* all on a line */
        "{\"type\":\"Polygon\",\"coordinates\":[[[120.7,31.3],[120.71,31.3],[120.72,31.3],"
        "[120.7,31.3]]]}",
        /* not a Polygon */
        "{\"type\":\"Point\",\"coordinates\":[120.7,31.3]}",
        /* holes are not supported */
        "{\"type\":\"Polygon\",\"coordinates\":[[[120.7,31.3],[120.71,31.3],[120.71,31.31],"
        "[120.7,31.3]],[[120.701,31.301],[120.702,31.301],[120.702,31.302],[120.701,31.301]]]}",
        /* a point with three numbers */
        "{\"type\":\"Polygon\",\"coordinates\":[[[120.7,31.3,0],[120.71,31.3],[120.71,31.31],"
        "[120.7,31.3]]]}",
        /* strings instead of numbers */
        "{\"type\":\"Polygon\",\"coordinates\":[[[\"120.7\",31.3],[120.71,31.3],[120.71,31.31],"
        "[120.7,31.3]]]}",
        /* a bare ring is not GeoJSON */
        "[[120.7,31.3],[120.71,31.3],[120.71,31.31],[120.7,31.3]]",
        NULL,
    };

    for (size_t i = 0; bad_boundaries[i]; i++) {
        b = th_xprintf("{\"code\":\"99990100100109%zu\",\"name\":\"坏网格\",\"region_id\":%lld,"
                       "\"boundary\":%s}",
                       i % 10, street, bad_boundaries[i]);
        th_call_tok(&srv, "POST", "/api/v1/grids", admin(), NULL, NULL, b, &r);
        if (r.status != 400)
            print_error("boundary %zu: %s\n", i, bad_boundaries[i]);
        th_expect(&r, 400, "invalid_argument");
        th_resp_free(&r);
        free(b);
    }
    /* More than 1000 points. */
    {
        size_t cap = 40 * 1100, off = 0;
        char *ring = malloc(cap);
        assert_non_null(ring);
        off += (size_t)snprintf(ring + off, cap - off, "{\"type\":\"Polygon\",\"coordinates\":[[");
        for (int i = 0; i < 1001; i++)
            off += (size_t)snprintf(ring + off, cap - off, "[%.6f,%.6f],", 120.7 + i * 1e-5,
                                    31.3 + (i % 2) * 1e-5);
        snprintf(ring + off, cap - off, "[120.7,31.3]]]}");
        b = th_xprintf("{\"code\":\"999901001001099\",\"name\":\"大网格\",\"region_id\":%lld,"
                       "\"boundary\":%s}",
                       street, ring);
        th_call_tok(&srv, "POST", "/api/v1/grids", admin(), NULL, NULL, b, &r);
        th_expect(&r, 400, "invalid_argument");
        assert_non_null(strstr(r.body, "1000"));
        th_resp_free(&r);
        free(b);
        free(ring);
    }
    b = th_xprintf("{\"code\":\"999901001001003\",\"name\":\"东华三网格\",\"region_id\":%lld,"
                   "\"boundary\":%s,\"created_by\":1}",
                   street, sq);
    th_call_tok(&srv, "POST", "/api/v1/grids", admin(), NULL, NULL, b, &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    free(b);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM grids"), n);

    /* A good one, and its duplicate code. */
    b = th_xprintf("{\"code\":\"999901001001003\",\"name\":\"东华三网格\",\"region_id\":%lld,"
                   "\"boundary\":%s}",
                   street, sq);
    th_call_tok(&srv, "POST", "/api/v1/grids", admin(), NULL, NULL, b, &r);
    th_expect(&r, 201, NULL);
    id = json_integer_value(json_object_get(r.json, "id"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "boundary"), "type")), "Polygon");
    assert_int_equal(json_array_size(json_array_get(
                         json_object_get(json_object_get(r.json, "boundary"), "coordinates"), 0)),
                     5);
    th_resp_free(&r);
    th_call_tok(&srv, "POST", "/api/v1/grids", admin(), NULL, NULL, b, &r);
    th_expect(&r, 409, "conflict");
    th_resp_free(&r);
    free(b);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM grids"), n + 1);
    path = th_xprintf("/api/v1/grids/%lld", id);
    th_get(&srv, path, th_token(&srv, "dispatcher"), &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "东华三网格");
    th_resp_free(&r);
    free(path);

    /* Locate: inside 东华一网格 (1 km square from 120.60, 31.30), in the new grid, outside. */
    th_get(&srv, "/api/v1/grids/locate?lat=31.305&lng=120.605", th_token(&srv, "inspector"), &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "东华一网格");
    assert_string_equal(json_string_value(json_object_get(r.json, "code")), "999901001001001");
    th_resp_free(&r);
    th_get(&srv, "/api/v1/grids/locate?lat=31.305&lng=120.615", th_token(&srv, "inspector"), &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "东华二网格");
    th_resp_free(&r);
    th_get(&srv, "/api/v1/grids/locate?lat=31.3051&lng=120.6251", th_token(&srv, "inspector"), &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_integer_value(json_object_get(r.json, "id")), id);
    th_resp_free(&r);
    th_get(&srv, "/api/v1/grids/locate?lat=31.40&lng=121.50", th_token(&srv, "inspector"), &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    th_get(&srv, "/api/v1/grids/locate?lat=31.305", th_token(&srv, "inspector"), &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_get(&srv, "/api/v1/grids/locate?lat=95&lng=120.6", th_token(&srv, "inspector"), &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_get(&srv, "/api/v1/grids/locate?lat=abc&lng=120.6", th_token(&srv, "inspector"), &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_get(&srv, "/api/v1/grids?region_id=999999", th_token(&srv, "inspector"), &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);
    free(sq);
}

/* ---- API keys ----------------------------------------------------------------------------- */

static void api_key_lifecycle(void **state)
{
    struct th_resp r;
    char key[128], prefix[16], *b, *tok;
    long long id, uid, keys = th_sqlf(&srv, "SELECT COUNT(*) FROM api_keys");
    char *path;

    th_call_tok(&srv, "POST", "/api/v1/admin/api-keys", admin(), NULL, NULL,
                "{\"name\":\"12345热线桥接\",\"scopes\":[\"cases:write\",\"grids:read\"]}", &r);
    th_expect(&r, 201, NULL);
    snprintf(key, sizeof key, "%s", json_string_value(json_object_get(r.json, "api_key")));
    snprintf(prefix, sizeof prefix, "%s", json_string_value(json_object_get(r.json, "prefix")));
    id = json_integer_value(json_object_get(r.json, "id"));
    uid = json_integer_value(json_object_get(r.json, "user_id"));
    th_resp_free(&r);
    assert_int_equal(strlen(key), 51);
    assert_memory_equal(key, "ck_", 3);
    assert_memory_equal(key + 3, prefix, 8);
    /* Stored as SHA-256 only; the key itself is nowhere in the row. */
    b = th_xprintf("SELECT COUNT(*) FROM api_keys WHERE id = %lld AND key_hash = SHA2('%s', 256)"
                   " AND prefix = '%s' AND scopes = 'cases:write,grids:read'",
                   id, key, prefix);
    assert_int_equal(th_sql_int(&srv, b), 1);
    free(b);
    b = th_xprintf("SELECT COUNT(*) FROM api_keys WHERE key_hash LIKE '%%%s%%' OR name LIKE"
                   " '%%%s%%'",
                   key + 11, key + 11);
    assert_int_equal(th_sql_int(&srv, b), 0);
    free(b);
    assert_int_equal(th_sqlf(&srv, "SELECT roles FROM users WHERE id = %lld", uid), 256);

    /* The list never shows the key. */
    th_get(&srv, "/api/v1/admin/api-keys", admin(), &r);
    th_expect(&r, 200, NULL);
    assert_null(strstr(r.body, key + 11));
    assert_null(strstr(r.body, "api_key\""));
    assert_non_null(strstr(r.body, prefix));
    th_resp_free(&r);

    /* Exchange it; the machine token works where machines may go. */
    b = th_xprintf("{\"api_key\":\"%s\"}", key);
    th_post_json(&srv, "/api/v1/auth/token", NULL, b, &r);
    th_expect(&r, 200, NULL);
    tok = strdup(json_string_value(json_object_get(r.json, "access_token")));
    th_resp_free(&r);
    th_get(&srv, "/api/v1/grids/locate?lat=31.305&lng=120.605", tok, &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
    /* Scopes: reading cases is not among this key's ("cases:write", "grids:read"). */
    th_get(&srv, "/api/v1/cases", tok, &r);
    th_expect(&r, 403, "permission_denied");
    assert_non_null(strstr(r.body, "cases:read"));
    th_resp_free(&r);
    assert_true(th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.scope_denied'"
                              " AND detail = 'cases:read'") >= 1);
    th_get(&srv, "/api/v1/admin/users", tok, &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);

    /* Bad creates: a person's account as owner, unknown fields, bad scopes. */
    {
        long long staff = th_sqlf(&srv, "SELECT id FROM users WHERE username = 'operator'");
        char *bb = th_xprintf("{\"name\":\"steal\",\"user_id\":%lld}", staff);
        th_call_tok(&srv, "POST", "/api/v1/admin/api-keys", admin(), NULL, NULL, bb, &r);
        free(bb);
        th_expect(&r, 400, "invalid_argument");
        th_resp_free(&r);
        th_call_tok(&srv, "POST", "/api/v1/admin/api-keys", admin(), NULL, NULL,
                    "{\"name\":\"k\",\"key_hash\":\"00\"}", &r);
        th_expect(&r, 400, "invalid_argument");
        th_resp_free(&r);
        th_call_tok(&srv, "POST", "/api/v1/admin/api-keys", admin(), NULL, NULL,
                    "{\"name\":\"k\",\"scopes\":[\"A B\"]}", &r);
        th_expect(&r, 400, "invalid_argument");
        th_resp_free(&r);
        assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM api_keys"), keys + 1);
    }

    /* Revoke: the exchanged token and the exchange both stop. */
    path = th_xprintf("/api/v1/admin/api-keys/%lld/revoke", id);
    th_call_tok(&srv, "POST", path, admin(), NULL, NULL, NULL, &r);
    th_expect(&r, 400, "invalid_argument"); /* a reason is required */
    th_resp_free(&r);
    th_get(&srv, "/api/v1/grids/locate?lat=31.305&lng=120.605", tok, &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
    th_call_tok(&srv, "POST", path, admin(), NULL, NULL, "{\"reason\":\"设备报废\"}", &r);
    th_expect(&r, 204, NULL);
    th_resp_free(&r);
    th_get(&srv, "/api/v1/grids/locate?lat=31.305&lng=120.605", tok, &r);
    th_expect(&r, 401, "unauthenticated");
    th_resp_free(&r);
    th_post_json(&srv, "/api/v1/auth/token", NULL, b, &r);
    th_expect(&r, 401, "unauthenticated");
    th_resp_free(&r);
    th_call_tok(&srv, "POST", path, admin(), NULL, NULL, "{\"reason\":\"again\"}", &r);
    th_expect(&r, 204, NULL);
    th_resp_free(&r);
    th_call_tok(&srv, "POST", "/api/v1/admin/api-keys/999999/revoke", admin(), NULL, NULL,
                "{\"reason\":\"x\"}", &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'api_key.create' AND"
                             " object_id = %lld",
                             id),
                     1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'api_key.revoke' AND"
                             " object_id = %lld AND detail = '设备报废'",
                             id),
                     1);
    free(path);
    free(tok);
    free(b);
}

/* ---- audit -------------------------------------------------------------------------------- */

static void audit_listing(void **state)
{
    struct th_resp r, r2;
    long long admin_id = th_sqlf(&srv, "SELECT id FROM users WHERE username = 'admin'");
    char *path;
    long long first_id;
    const char *cur;

    path = th_xprintf("/api/v1/admin/audit?actor=%lld&action=user.&limit=200", admin_id);
    th_get(&srv, path, admin(), &r);
    free(path);
    th_expect(&r, 200, NULL);
    {
        json_t *items = json_object_get(r.json, "items");
        bool create = false, disable = false, reset = false, update = false;
        long long prev = INT64_MAX;
        assert_true(json_array_size(items) > 0);
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *it = json_array_get(items, i);
            const char *a = json_string_value(json_object_get(it, "action"));
            long long iid = json_integer_value(json_object_get(it, "id"));
            assert_true(iid < prev); /* newest first */
            prev = iid;
            assert_int_equal(json_integer_value(json_object_get(it, "actor_id")), admin_id);
            assert_memory_equal(a, "user.", 5);
            create |= strcmp(a, "user.create") == 0;
            disable |= strcmp(a, "user.disable") == 0;
            reset |= strcmp(a, "user.password_reset") == 0;
            update |= strcmp(a, "user.update") == 0;
        }
        assert_true(create && disable && reset && update);
    }
    th_resp_free(&r);

    /* Exact action, and paging with the cursor. */
    th_get(&srv, "/api/v1/admin/audit?action=api_key.create", admin(), &r);
    th_expect(&r, 200, NULL);
    assert_true(json_array_size(json_object_get(r.json, "items")) >= 1);
    th_resp_free(&r);
    th_get(&srv, "/api/v1/admin/audit?limit=2", admin(), &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
    first_id = json_integer_value(
        json_object_get(json_array_get(json_object_get(r.json, "items"), 1), "id"));
    cur = json_string_value(json_object_get(r.json, "next_cursor"));
    assert_non_null(cur);
    path = th_xprintf("/api/v1/admin/audit?limit=2&cursor=%s", cur);
    th_get(&srv, path, admin(), &r2);
    free(path);
    th_expect(&r2, 200, NULL);
    assert_true(json_integer_value(json_object_get(
                    json_array_get(json_object_get(r2.json, "items"), 0), "id")) < first_id);
    th_resp_free(&r2);
    th_resp_free(&r);

    /* Time window: nothing before 2000, everything after. */
    th_get(&srv, "/api/v1/admin/audit?to=2000-01-01T00:00:00Z", admin(), &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);
    th_get(&srv, "/api/v1/admin/audit?from=2000-01-01T08:00:00%2B08:00&limit=1", admin(), &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    th_resp_free(&r);

    /* Bad filters. */
    th_get(&srv, "/api/v1/admin/audit?from=yesterday", admin(), &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_get(&srv, "/api/v1/admin/audit?action=x%27%20OR%201=1", admin(), &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_get(&srv, "/api/v1/admin/audit?cursor=zz", admin(), &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_get(&srv, "/api/v1/admin/audit?limit=0", admin(), &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_get(&srv, "/api/v1/admin/audit", th_token(&srv, "leader"), &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);
}

/* cityd's runtime database user may read and append to the audit log, never change it. */
static void audit_grants_for_runtime_user(void **state)
{
    const char *grantee = "'''cityd_rt''@''localhost'''";
    int rc;

    th_sql_exec(&srv, "CREATE USER IF NOT EXISTS 'cityd_rt'@'localhost'");
    setenv("CITYD_DB_RUNTIME_USER", "cityd_rt", 1);
    rc = th_cityd(&srv, "migrate");
    unsetenv("CITYD_DB_RUNTIME_USER");
    assert_int_equal(rc, 0);
    /* SHOW GRANTS, as rows: SELECT and INSERT on audit_log, nothing else there, and no
     * database- or server-wide right that would cover it. */
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM information_schema.TABLE_PRIVILEGES WHERE"
                             " GRANTEE = %s AND TABLE_SCHEMA = DATABASE() AND TABLE_NAME ="
                             " 'audit_log' AND PRIVILEGE_TYPE IN ('SELECT', 'INSERT')",
                             grantee),
                     2);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM information_schema.TABLE_PRIVILEGES WHERE"
                             " GRANTEE = %s AND TABLE_SCHEMA = DATABASE() AND TABLE_NAME ="
                             " 'audit_log' AND PRIVILEGE_TYPE NOT IN ('SELECT', 'INSERT')",
                             grantee),
                     0);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM information_schema.TABLE_PRIVILEGES WHERE"
                             " GRANTEE = %s AND TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users'"
                             " AND PRIVILEGE_TYPE = 'UPDATE'",
                             grantee),
                     1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE"
                             " GRANTEE = %s AND PRIVILEGE_TYPE IN ('UPDATE', 'DELETE', 'ALL')",
                             grantee),
                     0);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE"
                             " GRANTEE = %s AND PRIVILEGE_TYPE IN ('UPDATE', 'DELETE')",
                             grantee),
                     0);
    /* And as that user over the socket: INSERT works, UPDATE and DELETE are refused. */
    assert_int_equal(th_sh("mariadb -u cityd_rt -S %s %s -e \"INSERT INTO audit_log (action,"
                           " result) VALUES ('test.rt', 'ok')\" 2>/dev/null",
                           srv.socket, srv.dbname),
                     0);
    assert_int_not_equal(th_sh("mariadb -u cityd_rt -S %s %s -e \"UPDATE audit_log SET"
                               " result = 'ok' WHERE action = 'test.rt'\" 2>/dev/null",
                               srv.socket, srv.dbname),
                         0);
    assert_int_not_equal(th_sh("mariadb -u cityd_rt -S %s %s -e \"DELETE FROM audit_log\""
                               " 2>/dev/null",
                               srv.socket, srv.dbname),
                         0);
    assert_true(th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log") > 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(admin_creates_handler_and_inspector),
        cmocka_unit_test(bad_creates_change_nothing),
        cmocka_unit_test(create_retry_with_idempotency_key),
        cmocka_unit_test(non_admin_is_forbidden),
        cmocka_unit_test(role_change_revokes_old_token),
        cmocka_unit_test(disable_and_enable),
        cmocka_unit_test(reset_password),
        cmocka_unit_test(departments_and_regions),
        cmocka_unit_test(grids_validate_and_locate),
        cmocka_unit_test(api_key_lifecycle),
        cmocka_unit_test(audit_listing),
        cmocka_unit_test(audit_grants_for_runtime_user),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
