/* tests/fault/hostile_test.c: malicious HTTP/2 from raw frames (tests/fault/tools/h2_attack.py,
 * Debian's python3-hyperframe/hpack) and slow clients (Debian's slowhttptest), each while a
 * well-behaved probe client keeps asking.
 * Checked for every attack: the probe is answered every time (no request fails, none waits
 * longer than 5 s: a liveness bound, not a speed goal — the p99 is printed and recorded in
 * docs/reliability.md); cityd is alive afterwards and its RSS grew by less than 32 MiB; the
 * attacks that must end the connection (CONTINUATION without END_HEADERS, the HPACK table-size
 * bomb, a broken preface) ended it; and at the end cityd stops cleanly (exit 0: no sanitizer
 * report). */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include "harness.h"

static struct th_server srv;
static char token[9000];

static long rss_kib(void)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)srv.pid);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

static int setup(void **state)
{
    (void)state;
    /* ASan's quarantine keeps freed memory resident: RSS would measure it, not cityd. */
    setenv("ASAN_OPTIONS", "detect_leaks=1:quarantine_size_mb=0", 1);
    th_server_start(&srv, "http.request_timeout_ms = 5000\n");
    snprintf(token, sizeof token, "%s", th_token(&srv, "inspector"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return th_server_stop(&srv);
}

/* ---- the probe: its own server struct (own curl handle), GET /api/v1/me every 50 ms ------- */

struct probe {
    pthread_t t;
    volatile int stop;
    struct th_server s;
    int n, failed, max_fds;
    double lat[4096];
};

static int open_fds(void);

static void *probe_run(void *arg)
{
    struct probe *p = arg;

    while ((!p->stop || p->n < 5) && p->n < 4096) {
        struct th_resp r;
        th_get(&p->s, "/api/v1/me", token, &r);
        if (r.status != 200)
            p->failed++;
        p->lat[p->n++] = r.seconds;
        th_resp_free(&r);
        if (open_fds() > p->max_fds)
            p->max_fds = open_fds();
        usleep(50000);
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Stop the probe; checks it was always served; prints its p99. */
static void probe_stop(struct probe *p, const char *what)
{
    double p99, worst;

    p->stop = 1;
    pthread_join(p->t, NULL);
    qsort(p->lat, (size_t)p->n, sizeof p->lat[0], cmp_d);
    p99 = p->n ? p->lat[(p->n * 99) / 100 < p->n ? (p->n * 99) / 100 : p->n - 1] : 0;
    worst = p->n ? p->lat[p->n - 1] : 0;
    fprintf(stderr, "hostile_test: %s: probe %d requests, %d failed, p99 %.3f s, worst %.3f s\n",
            what, p->n, p->failed, p99, worst);
    assert_true(p->n >= 5);
    assert_int_equal(p->failed, 0);
    assert_true(worst < 5.0);
}

static json_t *run_attack(const char *attack)
{
    char cmd[10000], out[1024] = "";
    FILE *f;
    json_t *j;

    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %d %s %s",
             th_source_path("tests/fault/tools/h2_attack.py"), srv.port, attack, token);
    f = popen(cmd, "r");
    assert_non_null(f);
    if (!fgets(out, sizeof out, f))
        out[0] = '\0';
    pclose(f);
    fprintf(stderr, "hostile_test: %s", out);
    j = json_loads(out, 0, NULL);
    if (!j)
        fail_msg("h2_attack.py %s printed no result", attack);
    return j;
}

static void attack(const char *name, bool must_close)
{
    struct probe *p = calloc(1, sizeof *p);
    long rss0 = rss_kib(), rss1;
    json_t *res;

    assert_non_null(p);
    p->s = srv;
    p->s.curl = curl_easy_init(); /* its own handle: it runs on its own thread */
    assert_non_null(p->s.curl);
    pthread_create(&p->t, NULL, probe_run, p);
    res = run_attack(name);
    probe_stop(p, name);
    rss1 = rss_kib();
    fprintf(stderr, "hostile_test: %s: RSS %ld -> %ld KiB\n", name, rss0, rss1);
    assert_true(rss1 > 0 && rss1 - rss0 < 32 * 1024);
    assert_int_equal(kill(srv.pid, 0), 0);
    if (must_close)
        assert_true(json_is_true(json_object_get(res, "closed")));
    json_decref(res);
    curl_easy_cleanup(p->s.curl);
    free(p);
}

static void continuation_without_end_headers(void **state)
{
    (void)state;
    attack("continuation", true);
}

/* Past http.conn_control_frame_budget (600 a minute by default) the connection is ended by
 * cityd's budget (its log line says so), not by anything else. */
#define FLOOD_LINE "more PING/SETTINGS frames than http.conn_control_frame_budget"

static void settings_flood(void **state)
{
    int before = th_log_count(srv.log, FLOOD_LINE);
    (void)state;
    attack("settings", true);
    assert_int_equal(th_log_wait(srv.log, FLOOD_LINE, before + 1), before + 1);
}

static void ping_flood(void **state)
{
    int before = th_log_count(srv.log, FLOOD_LINE);
    (void)state;
    attack("ping", true);
    assert_int_equal(th_log_wait(srv.log, FLOOD_LINE, before + 1), before + 1);
}

static void hpack_table_size_bomb(void **state)
{
    (void)state;
    attack("hpack", true);
}

static void invalid_preface(void **state)
{
    (void)state;
    attack("preface", true);
}

static void rapid_reset_on_a_database_route(void **state)
{
    (void)state;
    attack("reset_db", false);
}

static int open_fds(void)
{
    char path[64];
    int n = 0;
    DIR *d;

    snprintf(path, sizeof path, "/proc/%d/fd", (int)srv.pid);
    d = opendir(path);
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

/* slowhttptest with 300 connections for 6 s while the probe asks; afterwards cityd holds no
 * more descriptors than before (give its time-outs 20 s to close what the tool left). */
static void slow_clients(const char *name, const char *args)
{
    struct probe *p = calloc(1, sizeof *p);
    long rss0 = rss_kib(), rss1;
    int fds0 = open_fds(), fds1 = 0;

    assert_non_null(p);
    p->s = srv;
    p->s.curl = curl_easy_init();
    assert_non_null(p->s.curl);
    pthread_create(&p->t, NULL, probe_run, p);
    assert_int_equal(th_sh("slowhttptest %s -c 300 -r 150 -l 6 -i 2 -p 3 -u %s%s >%s/slow-%s.log "
                           "2>&1",
                           args, srv.base,
                           strstr(args, "-X") ? "/docs/openapi.yaml" : "/api/v1/cases", srv.dir,
                           name),
                     0);
    probe_stop(p, name);
    rss1 = rss_kib();
    fprintf(stderr, "hostile_test: %s: RSS %ld -> %ld KiB, fds %d before\n", name, rss0, rss1,
            fds0);
    assert_true(rss1 > 0 && rss1 - rss0 < 32 * 1024);
    assert_int_equal(kill(srv.pid, 0), 0);
    for (int i = 0; i < 100; i++) {
        fds1 = open_fds();
        if (fds1 <= fds0 + 8)
            break;
        usleep(200000);
    }
    fprintf(stderr, "hostile_test: %s: fds %d at most during, %d after\n", name, p->max_fds, fds1);
    assert_true(p->max_fds > fds0 + 100); /* the slow clients did hold connections open */
    assert_true(fds1 <= fds0 + 8);
    curl_easy_cleanup(p->s.curl);
    free(p);
}

static void slowloris(void **state)
{
    (void)state;
    slow_clients("slowloris", "-H");
}

static void slow_body(void **state)
{
    (void)state;
    slow_clients("slow_body", "-B -s 8192");
}

static void slow_read(void **state)
{
    (void)state;
    slow_clients("slow_read", "-X -k 3 -n 1 -w 1 -y 64 -z 32");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(continuation_without_end_headers),
        cmocka_unit_test(settings_flood),
        cmocka_unit_test(ping_flood),
        cmocka_unit_test(hpack_table_size_bomb),
        cmocka_unit_test(invalid_preface),
        cmocka_unit_test(rapid_reset_on_a_database_route),
        cmocka_unit_test(slowloris),
        cmocka_unit_test(slow_body),
        cmocka_unit_test(slow_read),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
