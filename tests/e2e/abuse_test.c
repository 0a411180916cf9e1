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

int main(void)
{
    const struct CMUnitTest own_server[] = {
        cmocka_unit_test_teardown(lockout_key_cannot_be_spelled, stop_own),
    };
    (void)setup;
    (void)teardown;
    return cmocka_run_group_tests_name("abuse (own servers)", own_server, NULL, NULL);
}
