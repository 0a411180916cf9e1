/* tests/fault/kill_test.c: kill -9 of cityd at the worst moments, then a restart and clients
 * that retry with the same Idempotency-Keys; the ledger (tests/lib/ledger.h) proves afterwards
 * that nothing acknowledged is lost, nothing is stored twice, every media row has its files and
 * (after the start-up sweep) every file its row, and no temp file is left.
 *   (a) while an upload body is streaming in (an outside kill -9, half the body sent);
 *   (b) while libvips is encoding (testing.crash_at = media_processing);
 *   (c) between the files' fsync and the database commit (testing.crash_at =
 *       media_before_commit), once for an upload that is retried and once for one that never
 *       is (its files must be swept);
 *   (d) in the middle of a burst of workflow actions from four clients (an outside kill -9),
 *       and inside one action's open transaction (testing.crash_at = action_before_commit).
 * One server and one ledger for all of them; docs/reliability.md lists the results. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "ledger.h"
#include "th_api.h"

#define NCASES 48
#define NCLIENTS 4

static struct th_server srv;
static struct ledger *led;
static char fx[256]; /* fixtures */

/* ---- helpers ---------------------------------------------------------------------------- */

static char *slurp(const char *name, size_t *len)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", fx, name);
    return th_read_file(path, len);
}

static void gen_jpeg(const char *name, int w, int h, int sigma)
{
    if (th_sh("cd %s && vips gaussnoise n.v %d %d --mean 128 --sigma %d && vips cast n.v c.v uchar "
              "&& vips bandjoin 'c.v c.v c.v' rgb.v && vips copy rgb.v '%s[Q=92]' && rm -f n.v c.v"
              " rgb.v",
              fx, w, h, sigma, name) != 0)
        th_die("cannot generate %s", name);
}

/* Point testing.crash_at at point ("" = none) for the next start. */
static void set_crash(const char *point)
{
    th_sh("sed -i '/^testing.crash_at/d' %s", srv.cfgpath);
    if (point[0])
        th_sh("echo 'testing.crash_at = %s' >> %s", point, srv.cfgpath);
}

/* kill -9 the running server, then start it again with crash point point. */
static void kill_and_restart(const char *point)
{
    if (srv.pid > 0)
        kill(srv.pid, SIGKILL);
    set_crash(point);
    th_server_restart(&srv);
}

/* The server died by the crash point: reaped, and its log says so. */
static void expect_crashed(const char *point)
{
    int status = 0;
    char needle[96];
    size_t len;
    char *log;

    assert_int_equal(waitpid(srv.pid, &status, 0), srv.pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    srv.pid = 0;
    log = th_read_file(srv.log, &len);
    snprintf(needle, sizeof needle, "crash point %s: SIGKILL", point);
    assert_non_null(strstr(log, needle));
    free(log);
}

static void post_media(const char *role, const char *key, const void *data, size_t len,
                       struct th_resp *r)
{
    char keyh[128];
    const char *hs[] = {th_bearer(&srv, role), keyh, "Content-Type: image/jpeg", NULL};
    snprintf(keyh, sizeof keyh, "Idempotency-Key: %s", key);
    th_request(&srv, "POST", "/api/v1/media", hs, data, len, 0, r);
}

/* Upload until acknowledged (a restarted server may answer 503 for a moment); records it. */
static const char *upload_acked(const char *role, const char *key, const void *data, size_t len)
{
    static char id[64];
    struct th_resp r;

    for (int attempt = 0;; attempt++) {
        post_media(role, key, data, len, &r);
        if (r.status == 201 || r.status == 200)
            break;
        if (attempt > 20 || (r.status != 503 && r.status != 0))
            fail_msg("upload %s: %ld %s", key, r.status, r.body ? r.body : "");
        th_resp_free(&r);
        usleep(200000);
    }
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r.json, "id")));
    th_resp_free(&r);
    ledger_media(led, role, key, id, data, len);
    return id;
}

static long long media_rows(void)
{
    return th_sql_int(&srv, "SELECT COUNT(*) FROM media");
}

static long long report_acked(const char *key)
{
    char *body = th_xprintf(
        "{" TH_CAT_0102 ",\"description\":\"断电演练 %s 井盖缺失\"," TH_IN_GRID1 "}", key);
    struct th_resp r;
    long long id;

    th_post(&srv, "inspector", "/api/v1/cases", key, body, &r);
    free(body);
    if (r.status != 201)
        fail_msg("report %s: %ld %s", key, r.status, r.body);
    id = (long long)json_integer_value(json_object_get(r.json, "id"));
    th_resp_free(&r);
    ledger_report(led, key, id);
    return id;
}

/* ---- set-up ----------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    snprintf(fx, sizeof fx, "/tmp/cityd-kill-fx-XXXXXX");
    if (!mkdtemp(fx))
        th_die("mkdtemp");
    gen_jpeg("big.jpg", 2400, 1800, 30); /* about 2 MB: streams for a while */
    gen_jpeg("a.jpg", 1200, 900, 25);
    gen_jpeg("b.jpg", 1201, 900, 25);
    gen_jpeg("c.jpg", 1202, 900, 25);
    gen_jpeg("orphan.jpg", 1203, 900, 25);
    th_server_start(&srv, NULL);
    th_seed(&srv);
    led = ledger_new();
    return 0;
}

static int teardown(void **state)
{
    int rc;
    (void)state;
    set_crash("");
    rc = th_server_stop(&srv);
    ledger_free(led);
    th_sh("rm -rf %s", fx);
    return rc;
}

/* ---- (a) ------------------------------------------------------------------------------ */

static void killed_while_body_streams(void **state)
{
    size_t len;
    char *data = slurp("big.jpg", &len);
    long long before = media_rows();
    struct sockaddr_in sa = {0};
    char head[9000];
    int fd, n;
    (void)state;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)srv.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    n = snprintf(head, sizeof head,
                 "POST /api/v1/media HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                 "Idempotency-Key: kill-a\r\nContent-Type: image/jpeg\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 th_bearer(&srv, "inspector"), len);
    assert_int_equal(write(fd, head, (size_t)n), n);
    assert_int_equal(write(fd, data, len / 2), (ssize_t)(len / 2));
    usleep(300000); /* half the body is in, the rest never comes */
    kill_and_restart("");
    close(fd);
    assert_int_equal(media_rows(), before);
    upload_acked("inspector", "kill-a", data, len);
    assert_int_equal(media_rows(), before + 1);
    free(data);
}

/* ---- (b), (c) ---------------------------------------------------------------------------- */

static void crash_then_retry(const char *point, const char *file, const char *key)
{
    size_t len;
    char *data = slurp(file, &len);
    long long before = media_rows();
    struct th_resp r;

    kill_and_restart(point);
    post_media("inspector", key, data, len, &r);
    assert_int_equal(r.status, 0); /* no answer: the connection died with the process */
    th_resp_free(&r);
    expect_crashed(point);
    set_crash("");
    th_server_restart(&srv);
    assert_int_equal(media_rows(), before);
    /* Nothing was acknowledged and nothing is visible; the retry is the first success. */
    upload_acked("inspector", key, data, len);
    assert_int_equal(media_rows(), before + 1);
    free(data);
}

static void killed_during_libvips(void **state)
{
    (void)state;
    crash_then_retry("media_processing", "a.jpg", "kill-b");
}

static void killed_between_fsync_and_commit(void **state)
{
    size_t len;
    char *data = slurp("orphan.jpg", &len);
    struct th_resp r;
    struct ledger_stats st;
    (void)state;

    crash_then_retry("media_before_commit", "b.jpg", "kill-c");
    /* An upload that dies there and is never retried leaves durable files without a row:
     * the ledger sees them now, and the start-up sweep must remove them (last test). */
    kill_and_restart("media_before_commit");
    post_media("inspector", "kill-c-abandoned", data, len, &r);
    assert_int_equal(r.status, 0);
    th_resp_free(&r);
    expect_crashed("media_before_commit");
    set_crash("");
    th_server_restart(&srv);
    ledger_check(led, &srv, &st);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.files_without_row, 3); /* original, display, thumb */
    free(data);
}

/* ---- (d) -------------------------------------------------------------------------------- */

static long long cases[NCASES], v0[NCASES];

static char *accept_body(int i)
{
    return th_xprintf("{\"action\":\"accept\",\"version\":%lld,\"text\":\"演练 %d\"}", v0[i], i);
}

/* One client: accept cases i = k, k+NCLIENTS, ... until the server dies; every 200 is written
 * to out as "i version". */
static void client(int k, const char *out)
{
    FILE *f = fopen(out, "w");

    /* The copied curl handle opens a new connection per h2c request (harness.c). Nothing here
     * may fail a cmocka test: a child only writes what was acknowledged. */
    for (int i = k; i < NCASES && f; i += NCLIENTS) {
        char key[32], path[64];
        char *body = accept_body(i);
        struct th_resp r;
        snprintf(key, sizeof key, "kill-d-%d", i);
        snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", cases[i]);
        th_call(&srv, "operator", "POST", path, key, body, &r);
        free(body);
        if (r.status == 200)
            fprintf(f, "%d %lld\n", i,
                    (long long)json_integer_value(json_object_get(r.json, "version")));
        th_resp_free(&r);
        fflush(f);
    }
    if (f)
        fclose(f);
    _exit(0);
}

static void act_acked(int i)
{
    char key[32], path[64];
    struct th_resp r;
    char *body = accept_body(i);

    snprintf(key, sizeof key, "kill-d-%d", i);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", cases[i]);
    for (int attempt = 0;; attempt++) {
        th_call(&srv, "operator", "POST", path, key, body, &r);
        if (r.status == 200)
            break;
        if (attempt > 20 || (r.status != 503 && r.status != 0))
            fail_msg("retry of %s: %ld %s", key, r.status, r.body ? r.body : "");
        th_resp_free(&r);
        usleep(200000);
    }
    ledger_action(led, key, cases[i], "accept",
                  (long long)json_integer_value(json_object_get(r.json, "version")));
    th_resp_free(&r);
    free(body);
}

static void killed_mid_burst_of_actions(void **state)
{
    pid_t kids[NCLIENTS];
    char out[NCLIENTS][300];
    int acked_before = 0, acked[NCASES] = {0};
    (void)state;

    for (int i = 0; i < NCASES; i++) {
        char key[32];
        snprintf(key, sizeof key, "kill-r-%d", i);
        cases[i] = report_acked(key);
        v0[i] = th_case_version(&srv, cases[i]);
    }
    th_token(&srv, "operator"); /* the children inherit the token */
    for (int k = 0; k < NCLIENTS; k++) {
        snprintf(out[k], sizeof out[k], "%s/acks-%d", fx, k);
        kids[k] = fork();
        if (kids[k] == 0)
            client(k, out[k]);
    }
    /* Kill once some, not all, actions are through. */
    for (int tries = 0; tries < 400; tries++) {
        long long done =
            th_sql_int(&srv, "SELECT COUNT(*) FROM case_steps WHERE action = 'accept'");
        if (done >= NCASES / 4)
            break;
        usleep(10000);
    }
    kill(srv.pid, SIGKILL);
    for (int k = 0; k < NCLIENTS; k++)
        waitpid(kids[k], NULL, 0);
    for (int k = 0; k < NCLIENTS; k++) {
        FILE *f = fopen(out[k], "r");
        int i;
        long long v;
        while (f && fscanf(f, "%d %lld", &i, &v) == 2) {
            char key[32];
            snprintf(key, sizeof key, "kill-d-%d", i);
            ledger_action(led, key, cases[i], "accept", v);
            acked[i] = 1;
            acked_before++;
        }
        if (f)
            fclose(f);
    }
    fprintf(stderr, "kill_test: %d of %d actions acknowledged before the kill\n", acked_before,
            NCASES);
    assert_true(acked_before > 0 && acked_before < NCASES);
    th_server_restart(&srv);
    /* Every client retries what it did not see acknowledged, with the same key and body. */
    for (int i = 0; i < NCASES; i++)
        if (!acked[i])
            act_acked(i);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM case_steps WHERE action = 'accept'"),
                     NCASES);
}

static void killed_inside_an_action(void **state)
{
    char *body;
    char path[64];
    struct th_resp r;
    long long id, v;
    (void)state;

    id = report_acked("kill-r-tx");
    v = th_case_version(&srv, id);
    kill_and_restart("action_before_commit");
    body = th_xprintf("{\"action\":\"accept\",\"version\":%lld}", v);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    th_call(&srv, "operator", "POST", path, "kill-d-tx", body, &r);
    assert_int_equal(r.status, 0);
    th_resp_free(&r);
    expect_crashed("action_before_commit");
    set_crash("");
    th_server_restart(&srv);
    assert_int_equal(th_case_version(&srv, id), v); /* rolled back whole */
    th_call(&srv, "operator", "POST", path, "kill-d-tx", body, &r);
    assert_int_equal(r.status, 200);
    ledger_action(led, "kill-d-tx", id, "accept",
                  (long long)json_integer_value(json_object_get(r.json, "version")));
    th_resp_free(&r);
    free(body);
}

/* ---- the proof -------------------------------------------------------------------------- */

static void ledger_clean_after_sweep(void **state)
{
    (void)state;
    ledger_sweep(&srv);
    ledger_assert_clean(led, &srv);
    assert_true(ledger_count(led) >= NCASES * 2 + 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(killed_while_body_streams),
        cmocka_unit_test(killed_during_libvips),
        cmocka_unit_test(killed_between_fsync_and_commit),
        cmocka_unit_test(killed_mid_burst_of_actions),
        cmocka_unit_test(killed_inside_an_action),
        cmocka_unit_test(ledger_clean_after_sweep),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
