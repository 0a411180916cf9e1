/* tests/e2e/http_deadline_test.c: issue 17 item 9 — a request whose deadline passes while its
 * handler runs is answered 504 outcome_unknown, never 503 "retry": the change may (and here
 * does) commit after the answer, and a client that retried on 503 would report twice. */
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
    th_server_start(&srv, "http.request_timeout_ms = 1000\ndb.read_timeout_s = 20\n");
    th_seed(&srv);
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

static void deadline_while_running_is_outcome_unknown(void **state)
{
    struct th_resp r;
    char body[512];

    /* Warm the token and the caches, so the report below blocks only on the lock. */
    th_report_as(&srv, "inspector", NULL);
    /* Another session holds the cases table for three seconds: the report's handler starts,
     * waits on the lock past the one-second deadline, then commits. */
    assert_int_equal(th_sh("mariadb --no-defaults -uroot --socket=%s %s -e "
                           "'LOCK TABLES cases WRITE; DO SLEEP(3); UNLOCK TABLES' "
                           ">/dev/null 2>&1 &",
                           srv.socket, srv.dbname),
                     0);
    usleep(500000);
    snprintf(body, sizeof body,
             "{" TH_CAT_0102 ",\"description\":\"deadline-item9\"," TH_IN_GRID1 "}");
    th_post(&srv, "inspector", "/api/v1/cases", NULL, body, &r);
    assert_int_equal(r.status, 504);
    assert_string_equal(th_error_code(&r), "outcome_unknown");
    assert_false(th_header(&r, "retry-after", body, sizeof body));
    assert_true(r.seconds < 2.5);
    th_resp_free(&r);

    /* The lock goes away and the report commits after its answer: exactly why "retry" was
     * wrong. */
    for (int i = 0; i < 60; i++) {
        if (th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE description = 'deadline-item9'") == 1)
            break;
        usleep(100000);
    }
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE description = 'deadline-item9'"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deadline_while_running_is_outcome_unknown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
