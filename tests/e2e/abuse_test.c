/* tests/e2e/abuse_test.c: what a free citizen account, an anonymous client or a clever device id
 * could do (issue 17), through the real binary. Each test names the item it guards; each failed
 * against the code before its fix. Tests that count per-address budgets run on a server of their
 * own (every request comes from 127.0.0.1). */
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

static struct th_server srv; /* shared: default configuration, seeded */
static struct th_server own; /* a test's own server, stopped by its teardown */

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

static int stop_own(void **state)
{
    int rc = own.pid > 0 ? th_server_stop(&own) : 0;
    memset(&own, 0, sizeof own);
    return rc;
}

static long long sql_int(struct th_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static long long sql_int(struct th_server *s, const char *fmt, ...)
{
    char q[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    return th_sql_int(s, q);
}

static long login_status(struct th_server *s, const char *account, const char *password,
                         const char *device)
{
    struct th_resp r;
    long st;

    th_login(s, account, password, device, &r);
    st = r.status;
    th_resp_free(&r);
    return st;
}

/* ---- item 7: the lockout key is not spellable ------------------------------------------- */

/* Before: the lockout key of a known user was "u:<id>", and an unknown name was keyed as typed,
 * so five failed logins as "u:<admin id>" locked the admin out. */
static void lockout_key_cannot_be_spelled(void **state)
{
    const char *admin;
    long long id;
    char spelled[32];

    th_server_start(&own, "auth.lockout_threshold = 3\n");
    th_seed(&own);
    admin = th_username(&own, "admin");
    id = sql_int(&own, "SELECT id FROM users WHERE username = '%s'", admin);
    snprintf(spelled, sizeof spelled, "u:%lld", id);
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_status(&own, spelled, "Wrong-Password-1", "dev"), 401);
    assert_int_equal(login_status(&own, spelled, "Wrong-Password-1", "dev"), 423);
    /* The name as typed is locked, the admin is not. */
    assert_int_equal(login_status(&own, admin, th_password(&own, "admin"), "dev"), 200);
    /* The typed name is not stored (it may be a password typed into the wrong field). */
    assert_int_equal(sql_int(&own,
                             "SELECT COUNT(*) FROM login_attempts WHERE account LIKE '%%u:%%'"
                             " AND account <> 'u:%lld'",
                             id),
                     0);
}

/* ---- item 5: a device id cannot pose as an API key ------------------------------------- */

/* Before: a session whose device_id was "apikey:<n>" passed as machine client n (its scopes, its
 * Idempotency-Key namespace, its audit identity): with a key limited to grids:read, the citizen
 * was refused GET /api/v1/me as "lacks the scope me:read". */
static void device_id_cannot_pose_as_api_key(void **state)
{
    struct th_resp r;
    char device[64], *body;
    long long key_id;
    const char *tok;

    th_post(&srv, "admin", "/api/v1/admin/api-keys", NULL,
            "{\"name\":\"hotline-bridge\",\"scopes\":[\"grids:read\"]}", &r);
    th_expect(&r, 201, NULL);
    key_id = th_jint(r.json, "id");
    th_resp_free(&r);
    snprintf(device, sizeof device, "apikey:%lld", key_id);
    th_login(&srv, th_username(&srv, "citizen"), th_password(&srv, "citizen"), device, &r);
    th_expect(&r, 200, NULL);
    tok = th_jstr(r.json, "access_token");
    body = th_xprintf("%s", tok);
    th_resp_free(&r);
    th_get(&srv, "/api/v1/me", body, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "username"), th_username(&srv, "citizen"));
    th_resp_free(&r);
    /* Revoking the key does not end the citizen's session either. */
    snprintf(device, sizeof device, "/api/v1/admin/api-keys/%lld/revoke", key_id);
    th_post(&srv, "admin", device, NULL, "{\"reason\":\"test\"}", &r);
    th_expect(&r, 204, NULL);
    th_resp_free(&r);
    th_get(&srv, "/api/v1/me", body, &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
    free(body);
}

/* ---- item 6: any UTF-8 device id, registration in one transaction --------------------- */

static void register_as(const char *phone, const char *device_json, struct th_resp *r)
{
    char *body = th_xprintf("{\"phone\":\"%s\",\"password\":\"Citizen-Pass-77\",\"display_name\":"
                            "\"\\u5f20\\u4e09\",\"device_id\":%s,\"platform\":\"android\"}",
                            phone, device_json);
    th_post_json(&srv, "/api/v1/auth/register", NULL, body, r);
    free(body);
}

/* Before: "Redmi Note 12" or "小米手机" failed the token's printable-ASCII device claim after
 * the account was committed: 500, an account left behind, and the retry said 409. */
static void device_id_any_utf8(void **state)
{
    static const char *const devices[] = {"\"Redmi Note 12\"", "\"\\u5c0f\\u7c73\\u624b\\u673a\"",
                                          "\"\xe5\xb0\x8f\xe7\xb1\xb3 Mi 14 Ultra\""};
    struct th_resp r;
    char phone[24];

    for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) {
        snprintf(phone, sizeof phone, "1390000100%zu", i);
        register_as(phone, devices[i], &r);
        th_expect(&r, 201, NULL);
        assert_true(th_jstr(r.json, "access_token")[0] != '\0');
        th_resp_free(&r);
        assert_int_equal(th_sqlf(&srv,
                                 "SELECT COUNT(*) FROM sessions s JOIN users u ON"
                                 " u.id = s.user_id WHERE u.phone = '%s'",
                                 phone),
                         1);
        /* And a log-in on that device. */
        {
            char *body = th_xprintf("{\"account\":\"%s\",\"password\":\"Citizen-Pass-77\","
                                    "\"device_id\":%s,\"platform\":\"ios\"}",
                                    phone, devices[i]);
            th_post_json(&srv, "/api/v1/auth/login", NULL, body, &r);
            free(body);
            th_expect(&r, 200, NULL);
            th_resp_free(&r);
        }
    }
    /* A control character is refused with 400, and nothing is left behind. */
    register_as("13900001009", "\"a\\u0001b\"", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM users WHERE phone = '13900001009'"), 0);
}

/* ---- item 16: refresh-token reuse grace ------------------------------------------------- */

/* POST /api/v1/auth/refresh: the status; the new refresh token into out (malloc) when 200. */
static long refresh(struct th_server *s, const char *token, char **out)
{
    char *body = th_xprintf("{\"refresh_token\":\"%s\"}", token);
    struct th_resp r;
    long st;

    th_post_json(s, "/api/v1/auth/refresh", NULL, body, &r);
    free(body);
    st = r.status;
    if (out)
        *out = st == 200 ? th_xprintf("%s", th_jstr(r.json, "refresh_token")) : NULL;
    th_resp_free(&r);
    return st;
}

static char *login_refresh_token(struct th_server *s)
{
    struct th_resp r;
    char *t;

    th_login(s, th_username(s, "inspector"), th_password(s, "inspector"), "4g-phone", &r);
    th_expect(&r, 200, NULL);
    t = th_xprintf("%s", th_jstr(r.json, "refresh_token"));
    th_resp_free(&r);
    return t;
}

/* Before: any second use of a refresh token revoked the family, so a phone whose refresh answer
 * was cut off on 4G and retried was logged out (the first refresh's tokens included). */
static void refresh_retry_within_grace(void **state)
{
    char *a, *b, *b2, *c, *x;

    th_server_start(&own, "testing.clock_control = true\nauth.refresh_reuse_grace_s = 60\n");
    th_seed(&own);
    a = login_refresh_token(&own);
    assert_int_equal(refresh(&own, a, &b), 200);
    th_clock_offset(&own, 50 * 1000LL); /* the retry, 50 s later */
    assert_int_equal(refresh(&own, a, &b2), 200);
    assert_string_equal(b, b2); /* the same new refresh token: idempotent */
    assert_int_equal(th_sqlf(&own, "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NOT NULL"),
                     0);
    /* The answer works. */
    assert_int_equal(refresh(&own, b2, &c), 200);
    /* A is now older than the newest token: even within the window it revokes the family. */
    assert_int_equal(refresh(&own, a, &x), 401);
    assert_int_equal(refresh(&own, c, &x), 401);
    assert_int_equal(th_sqlf(&own, "SELECT COUNT(*) FROM sessions WHERE revoked_reason ="
                                   " 'refresh_reuse'"),
                     1);
    free(a);
    free(b);
    free(b2);
    free(c);
}

static void refresh_reuse_after_grace_revokes(void **state)
{
    char *a, *b, *x;

    th_server_start(&own, "testing.clock_control = true\nauth.refresh_reuse_grace_s = 60\n");
    th_seed(&own);
    a = login_refresh_token(&own);
    assert_int_equal(refresh(&own, a, &b), 200);
    th_clock_offset(&own, 61 * 1000LL);
    assert_int_equal(refresh(&own, a, &x), 401);
    assert_int_equal(refresh(&own, b, &x), 401); /* the family is revoked */
    assert_int_equal(th_sqlf(&own, "SELECT COUNT(*) FROM sessions WHERE revoked_reason ="
                                   " 'refresh_reuse'"),
                     1);
    free(a);
    free(b);
}

/* ---- item 14: a 500's cause is in the log, with the request id, and not in the answer ---- */

/* Before: the detail of internal errors was replaced before it was logged ("internal error"),
 * so the operator saw no cause. A device id with a control character written into the
 * database by hand makes refreshing its session fail to sign a token. */
static void internal_error_cause_logged(void **state)
{
    char *a, *x, *logtext, *line;
    char rid[64];
    size_t loglen;
    struct th_resp r;

    a = login_refresh_token(&srv);
    th_sql_exec(&srv, "UPDATE sessions SET device_id = CONCAT('bad', CHAR(1), 'device')"
                      " WHERE device_id = '4g-phone'");
    x = th_xprintf("{\"refresh_token\":\"%s\"}", a);
    th_post_json(&srv, "/api/v1/auth/refresh", NULL, x, &r);
    free(x);
    th_expect(&r, 500, "internal");
    assert_true(th_header(&r, "x-request-id", rid, sizeof rid));
    assert_null(strstr(r.body, "signing")); /* the cause stays on the server */
    assert_non_null(strstr(r.body, rid));
    th_resp_free(&r);
    th_sh("sleep 0.3"); /* log lines are flushed every 100 ms */
    logtext = th_read_file(srv.log, &loglen);
    line = strstr(logtext, "token signing failed");
    assert_non_null(line);
    while (line > logtext && line[-1] != '\n')
        line--;
    assert_non_null(strstr(line, rid));
    free(logtext);
    free(a);
}

int main(void)
{
    const struct CMUnitTest own_server[] = {
        cmocka_unit_test_teardown(lockout_key_cannot_be_spelled, stop_own),
        cmocka_unit_test_teardown(refresh_retry_within_grace, stop_own),
        cmocka_unit_test_teardown(refresh_reuse_after_grace_revokes, stop_own),
    };
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(device_id_cannot_pose_as_api_key),
        cmocka_unit_test(device_id_any_utf8),
        cmocka_unit_test(internal_error_cause_logged),
    };
    int rc = cmocka_run_group_tests_name("abuse (shared server)", shared, setup, teardown);
    return rc | cmocka_run_group_tests_name("abuse (own servers)", own_server, NULL, NULL);
}
