/* tests/fault/dbkill_test.c: MariaDB goes away under write load — a clean shutdown, then
 * kill -9 (InnoDB crash recovery on restart) — while two clients keep reporting cases, each
 * retrying every report with its Idempotency-Key until it is acknowledged.
 * Checked: /readyz and a database-backed read answer 503 within 2 s of the database going
 * away; cityd never crashes and never answers 500 (clients get 503, or 504 when the outcome is
 * unknown, and retry); requests are back within 5 s of the database answering again; and the
 * ledger proves every acknowledged report present exactly once after recovery.
 * Its own private MariaDB, so killing it disturbs no other test. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "ledger.h"
#include "th_api.h"

#define NWRITERS 2

static struct th_server srv;
static char dbdir[256];
static char token[9000];
static struct ledger *led;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* db.sh's complaints (a server that did not start, and why) reach the test's output. */
static int db(const char *cmd)
{
    return th_sh("%s %s %s >/dev/null", th_source_path("scripts/db.sh"), cmd, dbdir);
}

static int setup(void **state)
{
    char sock[300];
    (void)state;
    snprintf(dbdir, sizeof dbdir, "/tmp/cityd-dbkill-XXXXXX");
    if (!mkdtemp(dbdir) || db("start") != 0)
        th_die("cannot start the private MariaDB");
    snprintf(sock, sizeof sock, "%s/mysqld.sock", dbdir);
    th_server_start_on(&srv, sock,
                       "db.read_timeout_s = 2\ndb.write_timeout_s = 2\ndb.connect_timeout_s = 1\n"
                       "http.request_timeout_ms = 6000\n");
    snprintf(token, sizeof token, "%s", th_token(&srv, "inspector"));
    led = ledger_new();
    return 0;
}

static int teardown(void **state)
{
    int rc = th_server_stop(&srv);
    (void)state;
    db("wipe");
    ledger_free(led);
    return rc;
}

static long status_of(const char *path, const char *tok)
{
    struct th_resp r;
    long st;
    th_get(&srv, path, tok, &r);
    st = r.status;
    th_resp_free(&r);
    return st;
}

/* Seconds until path answers want (polling every 50 ms), or -1 after limit. */
static double wait_for(const char *path, const char *tok, long want, double limit)
{
    double t0 = now_s();
    while (now_s() - t0 < limit) {
        if (status_of(path, tok) == want)
            return now_s() - t0;
        usleep(50000);
    }
    return -1;
}

/* ---- the writers -------------------------------------------------------------------------- */

/* One writer: report, retrying each key until acknowledged, until stopfile exists. Writes
 * "ack KEY ID" lines and a final "status CODE COUNT" histogram to out. Never fails a cmocka
 * test itself (it is a forked child). */
static void writer(int k, const char *round, const char *stopfile, const char *out)
{
    FILE *f = fopen(out, "w");
    long counts[600] = {0};
    int n = 0;
    double give_up = 0;

    for (;;) {
        char key[64], *body;
        struct th_resp r;
        bool stop = access(stopfile, F_OK) == 0;

        if (stop && give_up == 0)
            give_up = now_s() + 20;
        snprintf(key, sizeof key, "db-%s-%d-%d", round, k, n);
        body =
            th_xprintf("{" TH_CAT_0102 ",\"description\":\"数据库演练 %s\"," TH_IN_GRID1 "}", key);
        th_call_tok(&srv, "POST", "/api/v1/cases", token, key, NULL, body, &r);
        free(body);
        counts[r.status >= 0 && r.status < 600 ? r.status : 0]++;
        if (r.status == 201) {
            fprintf(f, "ack %s %lld\n", key,
                    (long long)json_integer_value(json_object_get(r.json, "id")));
            fflush(f);
            n++;
            th_resp_free(&r);
            if (stop)
                break;
            continue;
        }
        th_resp_free(&r);
        if (give_up && now_s() > give_up)
            break;
        usleep(50000);
    }
    for (int i = 0; i < 600; i++)
        if (counts[i])
            fprintf(f, "status %d %ld\n", i, counts[i]);
    fclose(f);
    _exit(0);
}

struct load {
    pid_t kids[NWRITERS];
    char out[NWRITERS][300];
    char stopfile[300];
};

static void load_start(struct load *ld, const char *round)
{
    snprintf(ld->stopfile, sizeof ld->stopfile, "%s/stop-%s", srv.dir, round);
    unlink(ld->stopfile);
    for (int k = 0; k < NWRITERS; k++) {
        snprintf(ld->out[k], sizeof ld->out[k], "%s/writer-%s-%d", srv.dir, round, k);
        ld->kids[k] = fork();
        if (ld->kids[k] == 0)
            writer(k, round, ld->stopfile, ld->out[k]);
    }
}

/* Stop the writers, record their acknowledgements; returns the number of 500 answers. */
static long load_stop(struct load *ld, int *acks, long *unavailable)
{
    long internal = 0;

    th_sh("touch %s", ld->stopfile);
    for (int k = 0; k < NWRITERS; k++)
        waitpid(ld->kids[k], NULL, 0);
    *acks = 0;
    *unavailable = 0;
    for (int k = 0; k < NWRITERS; k++) {
        FILE *f = fopen(ld->out[k], "r");
        char word[16], key[64];
        long long a;
        long c;
        assert_non_null(f);
        while (fscanf(f, "%15s", word) == 1) {
            if (strcmp(word, "ack") == 0 && fscanf(f, "%63s %lld", key, &a) == 2) {
                ledger_report(led, key, a);
                (*acks)++;
            } else if (strcmp(word, "status") == 0 && fscanf(f, "%lld %ld", &a, &c) == 2) {
                if (a == 500)
                    internal += c;
                if (a == 503 || a == 504)
                    *unavailable += c;
                fprintf(stderr, "dbkill_test: status %lld x %ld\n", a, c);
            }
        }
        fclose(f);
    }
    return internal;
}

static long long mysqld_pid(void)
{
    char path[300];
    size_t len;
    char *t;
    long long pid;

    snprintf(path, sizeof path, "%s/mysqld.pid", dbdir);
    t = th_read_file(path, &len);
    pid = strtoll(t, NULL, 10);
    free(t);
    return pid;
}

static void database_away_under_writes(bool hard)
{
    struct load ld;
    int acks = 0;
    long internal, unavailable;
    double away, back, t0;
    const char *round = hard ? "kill" : "stop";

    load_start(&ld, round);
    usleep(1500000); /* the writers are acknowledged at full speed */
    t0 = now_s();
    if (hard) {
        long long pid = mysqld_pid();
        assert_true(pid > 1);
        assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
        while (kill((pid_t)pid, 0) == 0 && now_s() - t0 < 5)
            usleep(10000);
    } else {
        assert_int_equal(db("stop"), 0);
    }
    away = wait_for("/readyz", NULL, 503, 5.0);
    fprintf(stderr, "dbkill_test: %s: /readyz 503 after %.2f s\n", round, away);
    assert_true(away >= 0 && away < 2.0);
    t0 = now_s();
    assert_int_equal(status_of("/api/v1/me", token), 503);
    assert_true(now_s() - t0 < 2.0);
    assert_int_equal(status_of("/healthz", NULL), 200);
    usleep(1500000);                       /* writers keep knocking while it is away */
    assert_int_equal(kill(srv.pid, 0), 0); /* cityd is alive */

    assert_int_equal(db("start"), 0); /* returns once the server answers (after recovery) */
    back = wait_for("/api/v1/me", token, 200, 10.0);
    fprintf(stderr, "dbkill_test: %s: back %.2f s after MariaDB answered\n", round, back);
    assert_true(back >= 0 && back < 5.0);
    usleep(1000000); /* acknowledged writes after the return, too */
    internal = load_stop(&ld, &acks, &unavailable);
    fprintf(stderr, "dbkill_test: %s: %d acknowledged, %ld answered 503/504, %ld answered 500\n",
            round, acks, unavailable, internal);
    if (internal) /* cityd's reasons for them */
        th_sh("grep -E 'database (error|connect)|internal' %s | tail -20 >&2", srv.log);
    assert_true(acks > 0);
    assert_true(unavailable > 0); /* the writers did meet the outage */
    assert_int_equal(internal, 0);
    ledger_assert_clean(led, &srv);
}

static void database_shut_down_under_writes(void **state)
{
    (void)state;
    database_away_under_writes(false);
}

static void database_killed_under_writes(void **state)
{
    (void)state;
    database_away_under_writes(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(database_shut_down_under_writes),
        cmocka_unit_test(database_killed_under_writes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
