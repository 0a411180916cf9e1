/* tests/e2e/shutdown_test.c: SIGTERM while a request is in flight — the request still gets its
 * answer, new connections are refused, and cityd exits 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"

static struct th_server srv;

static int setup(void **state)
{
    th_server_start(&srv, NULL);
    th_seed(&srv);
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv) == 0 ? 0 : -1;
}

static void in_flight_request_finishes_then_exit_0(void **state)
{
    char out[400], body[300];
    int rc;

    snprintf(out, sizeof out, "%s/inflight.txt", srv.dir);
    snprintf(
        body, sizeof body,
        "{\"account\":\"inspector\",\"password\":\"%s\",\"device_id\":\"d\",\"platform\":\"web\"}",
        th_password(&srv, "inspector"));
    /* A login spends tens of milliseconds hashing: SIGTERM lands while it runs. */
    rc = th_sh("(curl -s -o /dev/null -w '%%{http_code}' --http2-prior-knowledge "
               "-H 'Content-Type: application/json' -d '%s' %s/api/v1/auth/login > %s &) ; "
               "sleep 0.03; kill -TERM %d; sleep 0.5; cat %s",
               body, srv.base, out, (int)srv.pid, out);
    assert_int_equal(rc, 0);
    assert_int_equal(th_sh("test \"$(cat %s)\" = 200", out), 0);
    /* No new connections once it is draining or gone. */
    assert_int_not_equal(th_sh("curl -s -m 2 -o /dev/null %s/healthz", srv.base), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_flight_request_finishes_then_exit_0),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
