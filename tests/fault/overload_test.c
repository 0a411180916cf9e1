/* tests/fault/overload_test.c: far more requests than cityd can serve (issue 18 item 6).
 * h2load keeps 8 connections x 32 streams = 256 requests in flight for 3 s against 2 database
 * workers and the default db.queue_limit (2048), first on GET /api/v1/me (a batched quick
 * read, ROUTE_BATCH: so cheap per request that 256 in flight may be within what 2 workers
 * serve, so a table lock on `users` for 1 s in the middle cuts the capacity to nothing, as
 * a slow database does), then on GET /api/v1/cases?limit=50 (one job per request, overloaded
 * by the load alone). The queue never fills, so every 503 here comes from overload shedding
 * (db.queue_target_ms, server/core/workpool.h), not from a full queue; before shedding both
 * routes queued every request instead (no 503 at all; p99 ~0.7 s for /me at twice capacity).
 * Checked, per request from h2load's --log-file: every request answered (none errored or
 * timed out); 2xx and 503 both present on /cases, no other 5xx on either. On /me a 503 is
 * likely but not certain: its requests wait in their loop's pending batch (one batch of a
 * loop in flight at a time), not in the pool's queue, so depending on where the lock falls
 * the stall shows as answers of about a second instead of refusals (a clean-clone run on a
 * quiet machine had 65,664 x 2xx, slowest 1.02 s, no 503); every 503 answered within half the
 * request deadline (a liveness bound telling shedding from the deadline's own 503; the speed
 * goal, p99 under 50 ms at twice the measured capacity, is bench/overload.sh's). A probe that
 * gets shed sees 503 `unavailable` in the JSON error shape with Retry-After; /readyz and
 * /api/v1/version stay 200 throughout; the shed jobs are counted in
 * cityd_workpool_shed_jobs_total and logged at most once a second; afterwards a single
 * request is served again within 10 s. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"

#define DEADLINE_MS 4000
#define LOAD_S 3

static struct th_server srv;

static int setup(void **state)
{
    char cfg[256];
    (void)state;
    snprintf(cfg, sizeof cfg,
             "db.pool_size = 2\ndb.queue_interval_ms = 100\nhttp.request_timeout_ms = %d\n"
             "http.max_inflight_per_conn = 64\n"
             "metrics.listen = 127.0.0.1:0\n",
             DEADLINE_MS);
    th_server_start(&srv, cfg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return th_server_stop(&srv);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long count_in_log(const char *needle)
{
    size_t len;
    char *log = th_read_file(srv.log, &len);
    long long n = 0;

    for (const char *p = log, *end = log + len;
         (p = memmem(p, (size_t)(end - p), needle, strlen(needle))) != NULL; p++)
        n++;
    free(log);
    return n;
}

/* cityd_workpool_shed_jobs_total{pool="db"} from the metrics listener. */
static double shed_metric(void)
{
    char path[512], out[320];
    int api = 0, mport = 0;
    FILE *f;
    double v = -1;

    snprintf(path, sizeof path, "%s/port", srv.dir);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d metrics %d", &api, &mport), 2);
    fclose(f);
    snprintf(out, sizeof out, "%s/shed.metric", srv.dir);
    assert_int_equal(th_sh("curl -sf http://127.0.0.1:%d/metrics | grep "
                           "'^cityd_workpool_shed_jobs_total{pool=\"db\"}' >%s",
                           mport, out),
                     0);
    f = fopen(out, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "cityd_workpool_shed_jobs_total{pool=\"db\"} %lf", &v), 1);
    fclose(f);
    return v;
}

struct load {
    const char *uri;
    const char *token;
    char logpath[600], outpath[600];
    int rc;
    atomic_bool done;
};

static void *run_load(void *arg)
{
    struct load *ld = arg;

    ld->rc = th_sh("h2load -D %d -c 8 -m 32 -H 'authorization: Bearer %s' --log-file=%s %s%s "
                   ">%s 2>&1",
                   LOAD_S, ld->token, ld->logpath, srv.base, ld->uri, ld->outpath);
    atomic_store(&ld->done, true);
    return NULL;
}

struct tally {
    long long total, s2xx, s503, s5xx_other, other;
    double max503_ms, p99_ms;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* h2load's log: start time (µs), status, duration (µs) per request. */
static void tally_log(const char *path, struct tally *t)
{
    FILE *f = fopen(path, "r");
    size_t cap = 1 << 16, n = 0;
    double *ms = malloc(cap * sizeof *ms);
    long long start, us;
    int status;

    assert_non_null(f);
    assert_non_null(ms);
    memset(t, 0, sizeof *t);
    while (fscanf(f, "%lld %d %lld", &start, &status, &us) == 3) {
        double d = (double)us / 1e3;
        if (n == cap) {
            cap *= 2;
            ms = realloc(ms, cap * sizeof *ms);
            assert_non_null(ms);
        }
        ms[n++] = d;
        t->total++;
        if (status >= 200 && status < 300)
            t->s2xx++;
        else if (status == 503) {
            t->s503++;
            if (d > t->max503_ms)
                t->max503_ms = d;
        } else if (status >= 500)
            t->s5xx_other++;
        else
            t->other++;
    }
    fclose(f);
    if (n) {
        qsort(ms, n, sizeof *ms, cmp_double);
        t->p99_ms = ms[(size_t)((double)(n - 1) * 0.99)];
    }
    free(ms);
}

static long long h2load_field(const char *out, const char *label, const char *after)
{
    const char *p = strstr(out, label);
    const char *q, *back;

    if (!p)
        return -1;
    q = strstr(p, after);
    if (!q)
        return -1;
    back = q;
    while (back > p && back[-1] == ' ')
        back--;
    while (back > p && back[-1] >= '0' && back[-1] <= '9')
        back--;
    return strtoll(back, NULL, 10);
}

/* One overload run on uri. While it lasts, also check /readyz, /api/v1/version and what a
 * shed request of uri looks like; returns how many of those probes were shed. */
static int overload(const char *uri, const char *tok, int run, bool lock_users, bool must_shed)
{
    struct load ld = {.uri = uri, .token = tok};
    pthread_t th;
    struct tally t;
    char *out;
    size_t len;
    int readyz = 0, version = 0, shed_seen = 0;

    snprintf(ld.logpath, sizeof ld.logpath, "%s/h2load-%d.log", srv.dir, run);
    snprintf(ld.outpath, sizeof ld.outpath, "%s/h2load-%d.out", srv.dir, run);
    assert_int_equal(pthread_create(&th, NULL, run_load, &ld), 0);
    usleep(500000); /* past db.queue_interval_ms: the queue is standing by now */
    if (lock_users)
        assert_int_equal(th_sh("mariadb --no-defaults -uroot --socket=%s %s -e 'LOCK TABLES "
                               "users WRITE; DO SLEEP(1); UNLOCK TABLES' >/dev/null 2>&1 &",
                               srv.socket, srv.dbname),
                         0);
    while (!atomic_load(&ld.done)) {
        struct th_resp r;
        char v[64];

        th_get(&srv, "/readyz", NULL, &r);
        assert_int_equal(r.status, 200);
        th_resp_free(&r);
        readyz++;
        th_get(&srv, "/api/v1/version", NULL, &r);
        assert_int_equal(r.status, 200);
        th_resp_free(&r);
        version++;
        th_get(&srv, uri, tok, &r);
        assert_true(r.status == 200 || r.status == 503);
        if (r.status == 503) {
            shed_seen++;
            assert_string_equal(th_error_code(&r), "unavailable");
            assert_true(th_header(&r, "retry-after", v, sizeof v));
            assert_string_equal(v, "1");
            assert_non_null(strstr(r.body, "overloaded"));
            assert_non_null(strstr(r.body, "\"request_id\""));
        }
        th_resp_free(&r);
        usleep(50000);
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(ld.rc, 0);
    out = th_read_file(ld.outpath, &len);
    fprintf(stderr, "%s\n", out);
    assert_int_equal(h2load_field(out, "requests: ", " errored"), 0);
    assert_int_equal(h2load_field(out, "requests: ", " timeout"), 0);
    free(out);
    tally_log(ld.logpath, &t);
    fprintf(stderr,
            "overload_test %s: %lld answers: %lld 2xx, %lld 503, %lld other 5xx, %lld other; "
            "p99 %.1f ms, slowest 503 %.1f ms; probes: readyz %d, version %d, shed %d\n",
            uri, t.total, t.s2xx, t.s503, t.s5xx_other, t.other, t.p99_ms, t.max503_ms, readyz,
            version, shed_seen);
    assert_true(t.total > 0);
    assert_true(t.s2xx > 0);
    assert_true(t.s503 > 0 || !must_shed);
    assert_int_equal(t.s5xx_other, 0);
    assert_int_equal(t.other, 0);
    /* Liveness bound, not a speed goal: shed answers do not wait for the deadline. */
    assert_true(t.max503_ms < DEADLINE_MS / 2.0);
    assert_true(readyz > 0);
    return shed_seen;
}

static void twice_capacity_is_shed_fast(void **state)
{
    const char *tok = th_token(&srv, "inspector");
    struct th_resp r;
    double t0, shed;
    long long lines, s500;
    int status = 0, shed_probes;
    (void)state;

    t0 = now_s();
    shed_probes = overload("/api/v1/me", tok, 0, true, false);
    /* A probe shed in either run (most /cases requests are shed on this machine). */
    shed_probes += overload("/api/v1/cases?limit=50", tok, 1, false, true);
    assert_true(shed_probes > 0);
    shed = shed_metric();
    usleep(300000); /* access and log lines are flushed every 100 ms */
    lines = count_in_log("workpool db overloaded");
    s500 = count_in_log("\"status\":500");
    fprintf(stderr, "overload_test: shed metric %.0f, %lld log lines over %.1f s, %lld x 500\n",
            shed, lines, now_s() - t0, s500);
    assert_true(shed > 0);
    assert_true(lines >= 1);
    assert_true(lines <= (long long)(now_s() - t0) + 2); /* at most one a second */
    assert_int_equal(s500, 0);
    /* Back to normal: a single request is served again (within 10 s of the load's end). */
    for (t0 = now_s(); now_s() - t0 < 10.0; usleep(100000)) {
        th_get(&srv, "/api/v1/me", tok, &r);
        status = (int)r.status;
        th_resp_free(&r);
        if (status == 200)
            break;
    }
    assert_int_equal(status, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(twice_capacity_is_shed_fast),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
