/* tests/e2e/db_statement_timeout_test.c: a statement slower than db.read_timeout_s is stopped
 * by MariaDB itself (max_statement_time, set a little under the read timeout), not only
 * abandoned by the client. Before, the client gave up, dropped its connection and answered
 * 503, while the statement ran on in the server: every such request left a query behind, and
 * under a slow database they piled up (docs/benchmarks.md, dashboard at 1 M cases).
 * Checked: the answer is 503 `unavailable` (retry) within the read timeout; no statement of
 * the request is left running in the database; the connection is kept (no "connection lost");
 * nothing was stored, and the same key succeeds once the database is free. */
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

static struct th_server srv;

static int setup(void **state)
{
    (void)state;
    th_server_start(&srv, "http.request_timeout_ms = 10000\ndb.read_timeout_s = 2\n");
    th_seed(&srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return th_server_stop(&srv);
}

static long long running_elsewhere(void)
{
    return th_sqlf(&srv,
                   "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE db = '%s' AND "
                   "command = 'Query' AND info NOT LIKE '%%SLEEP%%' AND info NOT LIKE "
                   "'%%PROCESSLIST%%'",
                   srv.dbname);
}

static void slow_statement_is_stopped_by_the_server(void **state)
{
    struct th_resp r;
    long long id, v0;
    int lost0 = th_log_count(srv.log, "database connection lost");
    (void)state;

    id = th_report_as(&srv, "inspector", NULL);
    v0 = th_case_version(&srv, id);
    /* Another session holds the case's row for eight seconds: the accept's UPDATE waits on
     * InnoDB's row lock (innodb_lock_wait_timeout is 50 s), far past the 2 s read timeout.
     * InnoDB does not notice a client that left while its statement waits: only
     * max_statement_time stops it. */
    assert_int_equal(th_sh("mariadb --no-defaults -uroot --socket=%s %s -e "
                           "'START TRANSACTION; SELECT id FROM cases WHERE id = %lld FOR UPDATE; "
                           "DO SLEEP(8); COMMIT' >/dev/null 2>&1 &",
                           srv.socket, srv.dbname, id),
                     0);
    usleep(500000);
    th_act_resp(&srv, "operator", id, "stmt-timeout-key-1", &r, "\"action\":\"accept\"");
    assert_int_equal(r.status, 503);
    assert_string_equal(th_error_code(&r), "unavailable");
    assert_true(r.seconds < 4.0); /* liveness bound: read timeout 2 s, never the lock's 8 s */
    th_resp_free(&r);

    /* The lock is still held: no statement of the request may still be waiting for it. */
    usleep(300000);
    assert_int_equal(running_elsewhere(), 0);
    assert_true(th_log_wait(srv.log, "database statement stopped after 1750 ms", 1) >= 1);
    assert_int_equal(th_log_count(srv.log, "database connection lost"), lost0);

    /* Once the lock is gone: nothing of the first try was stored; the same key succeeds. */
    for (int i = 0; i < 100; i++) {
        if (th_sqlf(&srv, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE info LIKE "
                          "'DO SLEEP%%'") == 0)
            break;
        usleep(100000);
    }
    assert_int_equal(th_case_version(&srv, id), v0);
    th_act_resp(&srv, "operator", id, "stmt-timeout-key-1", &r, "\"action\":\"accept\"");
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    assert_int_equal(th_case_version(&srv, id), v0 + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slow_statement_is_stopped_by_the_server),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
