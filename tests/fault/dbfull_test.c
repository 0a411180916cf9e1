/* tests/fault/dbfull_test.c: the database's disk fills up. A private MariaDB whose whole
 * directory is a 320 MiB tmpfs (its 128 MiB redo log is preallocated), filled to the last
 * block by a filler file while cityd runs on it, and the free pages left inside the tablespace
 * of idempotency_keys (the first table every keyed write touches) used up by root.
 * Checked: writes are refused in time — 64 concurrent reports on one connection all answer
 * within the request deadline: 201 while InnoDB still finds a free page, then 503 (MariaDB's
 * "table is full", 1114), never 500 and never a hang; reads keep working; cityd logs one clear line
 * ("database storage full"), not one per request; when space returns, the same Idempotency-Keys
 * succeed and the ledger proves every acknowledged report present once. Needs root (mount). */
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

#define BURST 64

static struct th_server srv;
static char dbdir[256];
static struct ledger *led;

static int db(const char *cmd)
{
    return th_sh("%s %s %s >/dev/null 2>&1", th_source_path("scripts/db.sh"), cmd, dbdir);
}

static int setup(void **state)
{
    char sock[300];
    (void)state;
    snprintf(dbdir, sizeof dbdir, "/tmp/cityd-dbfull-XXXXXX");
    if (!mkdtemp(dbdir))
        th_die("mkdtemp");
    /* Install the data directory, then move it onto the tmpfs (the error log and the socket
     * stay outside it, so MariaDB can still say what happened). */
    if (db("start") != 0 || db("stop") != 0)
        th_die("cannot install the private MariaDB");
    if (th_sh(
            "cd %s && mv data data.x && mkdir -m 0700 data && mount -t tmpfs -o size=320m,mode=0700"
            " cityd-fault-db data && cp -a data.x/. data/ && rm -rf data.x",
            dbdir) != 0)
        th_die("mount tmpfs on %s/data failed (needs root)", dbdir);
    if (db("start") != 0)
        th_die("cannot start MariaDB on the tmpfs");
    snprintf(sock, sizeof sock, "%s/mysqld.sock", dbdir);
    th_server_start_on(&srv, sock,
                       "db.read_timeout_s = 2\ndb.write_timeout_s = 2\ndb.connect_timeout_s = 1\n"
                       "http.request_timeout_ms = 6000\n");
    th_seed(&srv);
    led = ledger_new();
    return 0;
}

static int teardown(void **state)
{
    int rc;
    (void)state;
    rc = th_server_stop(&srv);
    db("stop");
    th_sh("umount -l %s/data; rm -rf %s", dbdir, dbdir);
    ledger_free(led);
    return rc;
}

static char *report_body(const char *key)
{
    return th_xprintf("{" TH_CAT_0102 ",\"description\":\"磁盘演练 %s\"," TH_IN_GRID1 "}", key);
}

static long report(const char *key)
{
    struct th_resp r;
    char *body = report_body(key);
    long st;

    th_post(&srv, "inspector", "/api/v1/cases", key, body, &r);
    free(body);
    st = r.status;
    if (st == 201)
        ledger_report(led, key, (long long)json_integer_value(json_object_get(r.json, "id")));
    th_resp_free(&r);
    return st;
}

static void database_disk_full_then_space_returns(void **state)
{
    json_t *reqs = json_array(), *ans;
    char auth[9100];
    int n503 = 0, n504 = 0, n500 = 0, other = 0, lines;
    struct th_resp r;
    (void)state;

    assert_int_equal(report("dbfull-0"), 201);
    th_sh("dd if=/dev/zero of=%s/data/filler bs=64k >/dev/null 2>&1", dbdir);
    assert_int_equal(
        th_sh("test \"$(df --output=avail -k %s/data | tail -1 | tr -d ' ')\" -lt 8", dbdir), 0);
    /* InnoDB still has free pages inside its tablespaces: use up those of the table every keyed
     * write starts with (idempotency_keys), as a busy day would. */
    th_sh("for i in $(seq 1 4000); do echo \"INSERT INTO idempotency_keys (principal, idem_key,"
          " route, request_hash, status, response) VALUES ('filler', UUID(), 'x', REPEAT('0', 64),"
          " 0, REPEAT('x', 6000));\"; done | mariadb --no-defaults --force -uroot -S %s/mysqld.sock"
          " %s >/dev/null 2>&1",
          dbdir, srv.dbname);

    snprintf(auth, sizeof auth, "Bearer %s", th_token(&srv, "inspector"));
    for (int i = 0; i < BURST; i++) {
        char key[32], *body;
        snprintf(key, sizeof key, "dbfull-%d", i + 1);
        body = report_body(key);
        json_array_append_new(reqs, json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "path", "/api/v1/cases",
                                              "method", "POST", "authorization", auth, "body", body,
                                              "headers", "idempotency-key", key));
        free(body);
    }
    ans = th_burst(&srv, reqs);
    for (size_t i = 0; i < json_array_size(ans); i++) {
        long st = (long)json_integer_value(json_object_get(json_array_get(ans, i), "status"));
        if (st == 503)
            n503++;
        else if (st == 504)
            n504++;
        else if (st == 500)
            n500++;
        else if (st != 201)
            other++;
    }
    json_decref(ans);
    usleep(300000);
    lines = th_log_count(srv.log, "database storage full");
    fprintf(stderr,
            "dbfull_test: %d concurrent reports on a full disk: %d x 503, %d x 504, %d x 500, "
            "%d other non-201; %d log lines\n",
            BURST, n503, n504, n500, other, lines);
    assert_int_equal(n500, 0);
    assert_int_equal(other, 0);
    assert_true(n503 + n504 > 0);
    assert_true(lines >= 1 && lines <= 2);
    /* Reads keep working while writes are refused. */
    th_get_as(&srv, "dispatcher", "/api/v1/cases?limit=5", &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    assert_int_equal(th_sh("kill -0 %d", (int)srv.pid), 0);

    /* Space returns: every client retries its key until acknowledged. */
    th_sh("rm -f %s/data/filler", dbdir);
    for (int i = 1; i <= BURST; i++) {
        char key[32];
        long st = 0;
        snprintf(key, sizeof key, "dbfull-%d", i);
        for (int attempt = 0; attempt < 20 && (st = report(key)) != 201; attempt++)
            usleep(100000);
        if (st != 201) /* a replay of an earlier success answers 201 too */
            fail_msg("%s: %ld after space returned", key, st);
    }
    ledger_assert_clean(led, &srv);
    json_decref(reqs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(database_disk_full_then_space_returns),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
