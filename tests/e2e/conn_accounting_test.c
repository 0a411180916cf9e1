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
#include <unistd.h>
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

/* Past http.max_inflight_per_conn (32 here) a request is the client's own excess: 429
 * rate_limited at once, not a busy server's 503. A table lock on `users` holds the first 32
 * (their token check waits for it) while the other 8 arrive. */
static void inflight_cap_is_429(void **state)
{
    json_t *reqs = json_array(), *res;
    int ok = 0, limited = 0, other = 0;
    size_t i;
    json_t *v;
    (void)state;

    for (i = 0; i < 40; i++)
        json_array_append_new(
            reqs, json_pack("{s:s,s:s}", "path", "/api/v1/me", "authorization", bearer));
    assert_int_equal(th_sh("mariadb --no-defaults -uroot --socket=%s %s -e 'LOCK TABLES users "
                           "WRITE; DO SLEEP(2); UNLOCK TABLES' >/dev/null 2>&1 &",
                           srv.socket, srv.dbname),
                     0);
    usleep(500000);
    res = th_burst(&srv, reqs);
    json_array_foreach(res, i, v)
    {
        long st = (long)json_integer_value(json_object_get(v, "status"));
        const char *body = json_string_value(json_object_get(v, "body"));
        if (st == 200) {
            ok++;
        } else if (st == 429) {
            limited++;
            assert_non_null(strstr(body, "\"rate_limited\""));
            assert_non_null(strstr(body, "in flight on this connection"));
        } else {
            other++;
        }
    }
    fprintf(stderr, "inflight cap: %d x 200, %d x 429, %d other\n", ok, limited, other);
    assert_int_equal(ok, 32);
    assert_int_equal(limited, 8);
    assert_int_equal(other, 0);
    json_decref(res);
    json_decref(reqs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slow_cancels_decay_flood_is_cut),
        cmocka_unit_test(flood_cut_after_thousands_of_abusers),
        cmocka_unit_test(inflight_cap_is_429),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
