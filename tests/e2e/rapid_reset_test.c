/* tests/e2e/rapid_reset_test.c: an HTTP/2 rapid-reset flood (CVE-2023-44487) on one connection.
 * Debian's libh2o 2.2.5 has no defence of its own; cityd cancels abandoned work, caps work in
 * flight per connection and closes a connection past its reset budget. A second client must
 * keep being served throughout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "harness.h"

static struct th_server srv;

static int setup(void **state)
{
    /* Every garbage token goes to a database worker (its own audit row), as a valid token's
     * request would: the abandoned work is what the guard bounds. */
    th_server_start(&srv, "http.conn_reset_budget = 100\nhttp.max_inflight_per_conn = 32\n"
                          "auth.rejected_audit_burst = 100000\n");
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

static void flood_is_cut_off_and_others_served(void **state)
{
    char cmd[1024], line[512];
    FILE *p;
    json_t *res;
    long long rows;
    double worst = 0;
    int served = 0;
    const int count = 5000;

    /* Each request that really runs writes one audit row (a rejected token): the database
     * work done. A GET ends its stream with HEADERS, so h2o hands it over at once. */
    snprintf(cmd, sizeof cmd, "node %s %d /api/v1/me %d - 'Bearer not.a.token'",
             th_source_path("tests/e2e/tools/rapid_reset.js"), srv.port, count);
    p = popen(cmd, "r");
    assert_non_null(p);
    /* Meanwhile a well-behaved client keeps asking. */
    for (int i = 0; i < 40; i++) {
        struct th_resp r;
        th_request(&srv, "GET", i % 2 ? "/readyz" : "/healthz", NULL, NULL, 0, 0, &r);
        if (r.status == 200)
            served++;
        if (r.seconds > worst)
            worst = r.seconds;
        th_resp_free(&r);
    }
    line[0] = '\0';
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    pclose(p);
    res = json_loads(line, 0, NULL);
    assert_non_null(res);
    print_message("flood: %s; second client: %d/40 served, worst %.3f s\n", line, served, worst);
    assert_true(json_is_true(json_object_get(res, "closedByServer")));
    assert_true(json_integer_value(json_object_get(res, "sent")) < count);
    json_decref(res);

    rows = th_sql_int(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.token_rejected'");
    print_message("rejected-token audits that reached the database: %lld\n", rows);
    /* Budget (100) + in-flight cap (32) + slack: nowhere near the 5000 streams sent. */
    assert_true(rows <= 200);

    assert_int_equal(served, 40);
    assert_true(worst < 2.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flood_is_cut_off_and_others_served),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
