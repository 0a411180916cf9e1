/* tests/fault/soak.c: the soak of the longer fault run (scripts/fault-long.sh, not ./test).
 * The ASan cityd under about half of its measured capacity for SOAK_MINUTES (default 30):
 *   1. capacity: h2load for 10 s, 4 connections x 16 streams, on a mix of database-backed
 *      reads (GET /api/v1/cases/{id}, /api/v1/cases?limit=20, /api/v1/me) -> R requests/s;
 *   2. soak: h2load --rps at R/2 in total for SOAK_MINUTES (in chunks of SOAK_CHUNK_S, default
 *      600, each with a fresh access token), while every 10 s this program
 *      samples cityd's RSS, open descriptors and threads, and writes a report (also some
 *      writes: a case report with an Idempotency-Key every 10 s, recorded in the ledger);
 *   3. checks: every request answered 2xx (no error, time-out, 4xx or 5xx) and every write
 *      acknowledged; RSS at the end within 20 % (+16 MiB) of RSS after the first quarter (flat,
 * once caches are warm); descriptors (+/- 8: database and client connections come and go) and
 *      threads (+/- 4) at the end as after the first quarter; the ledger clean; cityd stops
 *      with exit 0 (no sanitizer report).
 * Runs under cmocka like the other fault programs; needs CITYD_TEST_DB_SOCKET. */
#include <dirent.h>
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
#include "ledger.h"
#include "th_api.h"

static struct th_server srv;

static int setup(void **state)
{
    (void)state;
    /* RSS should measure cityd, not ASan's quarantine of freed memory. */
    setenv("ASAN_OPTIONS", "detect_leaks=1:quarantine_size_mb=16", 1);
    th_server_start(&srv, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return th_server_stop(&srv);
}

static long status_field(const char *name)
{
    char path[64], line[256];
    long v = -1;
    size_t n = strlen(name);
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)srv.pid);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0)
            v = strtol(line + n, NULL, 10);
    if (f)
        fclose(f);
    return v;
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
    return n - 2;
}

/* Runs h2load with args on the mix of URIs; returns its output (malloc'd). */
static char *h2load(const char *args, const char *uris_file)
{
    char out[600];
    size_t len;

    snprintf(out, sizeof out, "%s/h2load-%ld.out", srv.dir, (long)random());
    th_sh("h2load %s -H 'authorization: Bearer %s' -i %s >%s 2>&1", args,
          th_token(&srv, "inspector"), uris_file, out);
    return th_read_file(out, &len);
}

static long long after(const char *out, const char *label, const char *what)
{
    const char *p = strstr(out, label), *q;
    if (!p || !(q = strstr(p, what)))
        return -1;
    while (q > p && q[-1] == ' ')
        q--;
    while (q > p && q[-1] >= '0' && q[-1] <= '9')
        q--;
    return strtoll(q, NULL, 10);
}

/* Start one chunk of the background load: h2load for seconds, with a fresh access token (a
 * token lives auth.access_ttl_s, at most 15 min: one token for 30 min would turn the second half
 * of the soak into cheap 401s). */
static FILE *chunk_start(long seconds, double rps, const char *uris)
{
    char cmd[10000];
    FILE *bg;

    json_object_clear(srv.tokens); /* log in again: a fresh token for the writes too */
    snprintf(cmd, sizeof cmd,
             "h2load -D %ld -c 4 -m 4 --rps=%.0f -H 'authorization: Bearer %s' -i %s 2>&1", seconds,
             rps / 8, th_token(&srv, "inspector"), uris);
    bg = popen(cmd, "r");
    assert_non_null(bg);
    return bg;
}

/* Wait for a chunk; every request answered 2xx (no 4xx: the token was fresh; no 5xx). */
static void chunk_finish(FILE *bg, long long *served)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);

    assert_non_null(buf);
    while (n + 1 < cap && fgets(buf + n, (int)(cap - n), bg))
        n += strlen(buf + n);
    buf[n] = '\0';
    pclose(bg);
    fprintf(stderr, "%s\n", buf);
    assert_int_equal(after(buf, "requests: ", " errored"), 0);
    assert_int_equal(after(buf, "requests: ", " timeout"), 0);
    assert_int_equal(after(buf, "status codes: ", " 4xx"), 0);
    assert_int_equal(after(buf, "status codes: ", " 5xx"), 0);
    assert_true(after(buf, "status codes: ", " 2xx") > 0);
    *served += after(buf, "status codes: ", " 2xx");
    free(buf);
}

static void soak_at_half_capacity(void **state)
{
    long minutes = getenv("SOAK_MINUTES") ? strtol(getenv("SOAK_MINUTES"), NULL, 10) : 30;
    long chunk = getenv("SOAK_CHUNK_S") ? strtol(getenv("SOAK_CHUNK_S"), NULL, 10) : 600;
    long long served = 0;
    char uris[600], *out;
    double rps = 0;
    long long ids[8];
    struct ledger *led = ledger_new();
    long rss_q = -1, rss_end, thr_q = -1, thr_end;
    int fds_q = -1, fds_end, samples = (int)(minutes * 6), writes = 0;
    FILE *f, *bg = NULL;
    (void)state;

    for (int i = 0; i < 8; i++)
        ids[i] = th_report_as(&srv, "inspector", NULL);
    snprintf(uris, sizeof uris, "%s/uris", srv.dir);
    f = fopen(uris, "w");
    assert_non_null(f);
    for (int i = 0; i < 8; i++)
        fprintf(f, "%s/api/v1/cases/%lld\n", srv.base, ids[i]);
    fprintf(f, "%s/api/v1/cases?limit=20\n%s/api/v1/me\n", srv.base, srv.base);
    fclose(f);

    out = h2load("-D 10 -c 4 -m 16", uris);
    sscanf(strstr(out, "finished in") ? strstr(out, "finished in") : "", "finished in %*s %lf",
           &rps);
    fprintf(stderr, "soak: capacity %.0f req/s\n%s\n", rps, out);
    free(out);
    assert_true(rps > 10);

    /* 4 clients at R/8 each = R/2 in total, in chunks of SOAK_CHUNK_S (600) seconds. */
    for (int s = 1; s <= samples; s++) {
        char key[32], *body;
        struct th_resp r;
        if ((s - 1) % (chunk / 10) == 0) {
            long left = minutes * 60 - (long)(s - 1) * 10;
            if (bg)
                chunk_finish(bg, &served);
            bg = chunk_start(left < chunk ? left : chunk, rps, uris);
        }
        sleep(10);
        snprintf(key, sizeof key, "soak-%d", s);
        body = th_xprintf("{" TH_CAT_0102 ",\"description\":\"浸泡 %s\"," TH_IN_GRID1 "}", key);
        th_post(&srv, "inspector", "/api/v1/cases", key, body, &r);
        for (int k = 0; k < 3 && r.status != 201;
             k++) { /* retried with its key, as a phone would */
            th_resp_free(&r);
            th_post(&srv, "inspector", "/api/v1/cases", key, body, &r);
        }
        free(body);
        if (r.status == 201) {
            ledger_report(led, key, (long long)json_integer_value(json_object_get(r.json, "id")));
            writes++;
        }
        th_resp_free(&r);
        rss_end = status_field("VmRSS:");
        thr_end = status_field("Threads:");
        fds_end = open_fds();
        fprintf(stderr, "soak: %4ds rss %ld KiB fds %d threads %ld\n", s * 10, rss_end, fds_end,
                thr_end);
        if (s == samples / 4 || (samples < 4 && s == 1)) {
            rss_q = rss_end;
            fds_q = fds_end;
            thr_q = thr_end;
        }
    }
    chunk_finish(bg, &served);
    rss_end = status_field("VmRSS:");
    thr_end = status_field("Threads:");
    fds_end = open_fds();
    fprintf(stderr,
            "soak: after the first quarter rss %ld fds %d threads %ld; at the end %ld %d %ld;"
            " %d writes of %d, %lld reads served\n",
            rss_q, fds_q, thr_q, rss_end, fds_end, thr_end, writes, samples, served);
    assert_int_equal(writes, samples);
    assert_true(rss_end <= rss_q + rss_q / 5 + 16 * 1024);
    assert_true(fds_end <= fds_q + 8 && fds_end >= fds_q - 8);
    assert_true(thr_end <= thr_q + 4 && thr_end >= thr_q - 4);
    ledger_assert_clean(led, &srv);
    ledger_free(led);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(soak_at_half_capacity),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
