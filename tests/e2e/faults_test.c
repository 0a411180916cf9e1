/* tests/e2e/faults_test.c: cityd against a MariaDB that goes away and one that freezes.
 * Runs its own private MariaDB so stopping it disturbs no other test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"

static struct th_server srv;
static char dbdir[256];
static char token[9000];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int db(const char *cmd)
{
    return th_sh("%s %s %s >/dev/null 2>&1", th_source_path("scripts/db.sh"), cmd, dbdir);
}

static int setup(void **state)
{
    char sock[300];
    snprintf(dbdir, sizeof dbdir, "/tmp/cityd-faults-%d", (int)getpid());
    if (db("start") != 0)
        th_die("cannot start the private MariaDB");
    snprintf(sock, sizeof sock, "%s/mysqld.sock", dbdir);
    th_server_start_on(&srv, sock,
                       "db.read_timeout_s = 2\ndb.write_timeout_s = 2\ndb.connect_timeout_s = 1\n"
                       "http.request_timeout_ms = 6000\n");
    snprintf(token, sizeof token, "%s", th_token(&srv, "inspector"));
    return 0;
}

static int teardown(void **state)
{
    int rc = th_server_stop(&srv);
    db("thaw");
    db("wipe");
    return rc;
}

static long get_status(const char *path, const char *tok, double *secs)
{
    struct th_resp r;
    long st;
    th_get(&srv, path, tok, &r);
    st = r.status;
    if (secs)
        *secs = r.seconds;
    if (st == 503)
        assert_string_equal(th_error_code(&r), "unavailable");
    th_resp_free(&r);
    return st;
}

/* Poll until path answers want or the deadline passes; returns seconds waited or -1. */
static double wait_for(const char *path, const char *tok, long want, double limit)
{
    double t0 = now_s();
    while (now_s() - t0 < limit) {
        if (get_status(path, tok, NULL) == want)
            return now_s() - t0;
        usleep(100000);
    }
    return -1;
}

/* Every pooled connection has recovered: several successes in a row (the pool has 4). */
static double wait_stable(const char *path, const char *tok, double limit)
{
    double t0 = now_s();
    int ok = 0;
    while (now_s() - t0 < limit) {
        ok = get_status(path, tok, NULL) == 200 ? ok + 1 : 0;
        if (ok == 8)
            return now_s() - t0;
        usleep(50000);
    }
    return -1;
}

static void database_stopped_then_back(void **state)
{
    double waited;

    assert_int_equal(get_status("/readyz", NULL, NULL), 200);
    assert_int_equal(get_status("/api/v1/me", token, NULL), 200);
    assert_int_equal(db("stop"), 0);

    waited = wait_for("/readyz", NULL, 503, 2.0);
    assert_true(waited >= 0 && waited < 2.0);
    assert_int_equal(get_status("/api/v1/me", token, NULL), 503);
    assert_int_equal(get_status("/healthz", NULL, NULL), 200);

    assert_int_equal(db("start"), 0);
    /* The pool reconnects by itself: no restart of cityd. */
    waited = wait_for("/readyz", NULL, 200, 10.0);
    assert_true(waited >= 0);
    assert_true(wait_stable("/api/v1/me", token, 5.0) >= 0);
}

static void database_frozen_then_thawed(void **state)
{
    double secs, t0;
    long st;

    assert_int_equal(get_status("/api/v1/me", token, NULL), 200);
    assert_int_equal(db("freeze"), 0);

    /* No event loop is blocked by a frozen database: a blocked one would answer only after
     * the 2 s read timeout, if at all. (The bound is 1 s, not the usual few ms: ./test runs
     * two tests at once on two cores, under ASan.) */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(get_status("/healthz", NULL, &secs), 200);
        assert_true(secs < 1.0);
    }
    /* Database requests end in 503 after the timeout instead of hanging. */
    t0 = now_s();
    st = get_status("/api/v1/me", token, NULL);
    assert_int_equal(st, 503);
    assert_true(now_s() - t0 < 8.0);
    assert_int_equal(get_status("/readyz", NULL, NULL), 503);
    assert_int_equal(get_status("/healthz", NULL, &secs), 200);
    assert_true(secs < 1.0);

    assert_int_equal(db("thaw"), 0);
    assert_true(wait_for("/readyz", NULL, 200, 10.0) >= 0);
    assert_true(wait_stable("/api/v1/me", token, 10.0) >= 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(database_stopped_then_back),
        cmocka_unit_test(database_frozen_then_thawed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
