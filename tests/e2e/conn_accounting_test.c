/* tests/e2e/conn_accounting_test.c: issue 17 item 4 — the rapid-reset guard keeps exact,
 * decaying accounts for every connection. A connection that cancels now and then is never
 * cut however long it lives; a flood is cut even after thousands of abusive connections came
 * and went (the old fixed table of 1024 slots kept abusive slots forever, and connections that
 * found no slot were not tracked at all). One loop, so every connection shares one table. */
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
static char bearer[9100];

static int setup(void **state)
{
    th_server_start(&srv, "http.threads = 1\nhttp.conn_reset_budget = 2\n"
                          "http.conn_reset_window_s = 1\nhttp.max_inflight_per_conn = 32\n");
    th_seed(&srv);
    snprintf(bearer, sizeof bearer, "Bearer %s", th_token(&srv, "inspector"));
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

static json_t *run(const char *mode_args)
{
    char *cmd = malloc(strlen(bearer) + 1024);
    char line[1024];
    FILE *p;
    json_t *res;

    assert_non_null(cmd);
    snprintf(cmd, strlen(bearer) + 1024, "node %s %d /api/v1/me '%s' %s",
             th_source_path("tests/e2e/tools/reset_patterns.js"), srv.port, bearer, mode_args);
    p = popen(cmd, "r");
    free(cmd);
    assert_non_null(p);
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    pclose(p);
    print_message("%s: %s", mode_args, line);
    res = json_loads(line, 0, NULL);
    assert_non_null(res);
    return res;
}

static void slow_cancels_decay_flood_is_cut(void **state)
{
    /* Eight cancels, one every 600 ms: four times the budget in all, never more than the
     * budget within its window. */
    json_t *r = run("slow 8 600");

    assert_int_equal(json_integer_value(json_object_get(r, "slowSent")), 8);
    assert_true(json_is_true(json_object_get(r, "openAfterSlow")));
    assert_true(json_is_true(json_object_get(r, "floodClosed")));
    assert_true(json_integer_value(json_object_get(r, "floodSent")) < 300);
    json_decref(r);
}

static void flood_cut_after_thousands_of_abusers(void **state)
{
    json_t *r = run("abusers 2500 4");

    /* Each abuser went past its budget and was closed... */
    assert_true(json_integer_value(json_object_get(r, "closed")) >= 2400);
    /* ...and the connection after them is still watched. */
    assert_true(json_is_true(json_object_get(r, "floodClosed")));
    assert_true(json_integer_value(json_object_get(r, "floodSent")) < 300);
    json_decref(r);
    /* Everyone else is still served. */
    {
        struct th_resp rs;
        th_get(&srv, "/api/v1/me", th_token(&srv, "inspector"), &rs);
        assert_int_equal(rs.status, 200);
        th_resp_free(&rs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slow_cancels_decay_flood_is_cut),
        cmocka_unit_test(flood_cut_after_thousands_of_abusers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
