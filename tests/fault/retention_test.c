/* tests/fault/retention_test.c: audit retention under moved clocks (issue 18, item 9).
 *
 * The audit log is started empty and filled, oldest first, with rows 400, 200, 181, 179.9, 179
 * and 30 days old (as if written then), then rows written now by a node with the real time (a
 * log-in) and by a second node whose clock is 200 days behind (libfaketime; its
 * log-in row looks 200 days old). Checked:
 *   - SHOW GRANTS for the runtime user (db.runtime_user, as `cityd migrate` grants it): SELECT
 *     and INSERT on audit_log and nothing else that covers it (no UPDATE or DELETE on the table,
 *     the database or globally); `cityd audit-purge` run as that user fails, removes nothing,
 *     and leaves a "denied" audit.purge row;
 *   - a retention below 180 days is refused (exit 2), nothing removed;
 *   - the maintenance account (SELECT, INSERT, DELETE on audit_log only), with its clock moved
 *     200 days ahead: exactly the 400-, 200- and 181-day rows go (the database's clock is the
 *     earlier one and wins), the 179.9-, 179- and 30-day rows and today's stay, and so
 *     does the row of the node 200 days behind (rows inserted before it are young); one
 *     audit.purge row says "removed 3 rows";
 *   - a dry run before counts the same 3 and changes nothing; a run at the real time and one
 *     with the clock 30 days back remove nothing and say "removed 0 rows". */
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
#include "th_api.h"

#define RT_USER "cityd_rt_retention"
#define PURGE_USER "cityd_purge_retention"

static struct th_server a;

/* Ages (days) of the rows written "back then", oldest first; the first REMOVED go. */
static const char *const ages[] = {"400", "200", "181", "179.9", "179", "30"};
#define REMOVED 3

static int setup(void **state)
{
    (void)state;
    th_server_start(&a, NULL);
    th_seed(&a);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_sh("mariadb --no-defaults -uroot -S %s -e \"DROP USER IF EXISTS '" RT_USER "'@'localhost',"
          " '" PURGE_USER "'@'localhost'\"",
          a.socket);
    return th_server_stop(&a);
}

/* A twin of a whose wall clock is offset (FAKETIME syntax, "-200d"). */
static void twin_skewed(struct th_server *b, const char *offset)
{
    th_server_twin_faked(b, &a, offset, NULL);
}

/* `cityd audit-purge ARGS` as db user (clock moved by offset unless NULL); exit status, and its
 * output (both streams) in out. */
static int purge(const char *user, const char *offset, const char *args, char *out, size_t outlen)
{
    char path[400], fake[1200] = "";
    char *text;
    size_t len;
    int rc;

    if (offset)
        th_faketime_env(fake, sizeof fake, offset, NULL);
    snprintf(path, sizeof path, "%s/purge.out", a.dir);
    rc = th_sh("env CITYD_DB_USER=%s %s %s -c %s audit-purge %s >%s 2>&1", user, fake,
               th_cityd_bin(), a.cfgpath, args, path);
    text = th_read_file(path, &len);
    snprintf(out, outlen, "%s", text);
    free(text);
    printf("audit-purge as %s, clock %s, %s: exit %d: %s", user, offset ? offset : "real", args, rc,
           out);
    return rc;
}

static long long rows(void)
{
    return th_sql_int(&a, "SELECT COUNT(*) FROM audit_log WHERE action <> 'audit.purge'");
}

static long long aged_left(const char *age)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM audit_log WHERE action = 'test.aged' AND detail = '%s'", age);
    return th_sql_int(&a, sql);
}

static long long purge_rows(const char *result, const char *detail_like)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM audit_log WHERE action = 'audit.purge' AND result = '%s'"
             " AND detail LIKE '%s'",
             result, detail_like);
    return th_sql_int(&a, sql);
}

/* SHOW GRANTS FOR the runtime user, one grant a line, through the mariadb client. */
static char *show_grants(void)
{
    char path[400];
    size_t len;

    snprintf(path, sizeof path, "%s/grants.txt", a.dir);
    if (th_sh("mariadb --no-defaults -uroot -S %s -N -e \"SHOW GRANTS FOR '" RT_USER
              "'@'localhost'\" >%s",
              a.socket, path) != 0)
        th_die("SHOW GRANTS failed");
    return th_read_file(path, &len);
}

static void retention_under_moved_clocks(void **state)
{
    struct th_server b;
    struct th_resp r;
    char out[2048], sql[400];
    char *grants, *line, *nl;
    long long before, seq_a, seq_b, audit_grant_lines = 0;
    (void)state;

    /* Start from an empty audit log, then the rows of back then, oldest first. */
    th_sql_exec(&a, "DELETE FROM audit_log");
    for (size_t i = 0; i < sizeof ages / sizeof ages[0]; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO audit_log (action, result, detail, at) VALUES ('test.aged', 'ok',"
                 " '%s', NOW(3) - INTERVAL ROUND(%s * 86400) SECOND)",
                 ages[i], ages[i]);
        th_sql_exec(&a, sql);
    }
    /* Today's row from the node with the real time, then one from a node 200 days behind. */
    th_login(&a, th_username(&a, "inspector"), th_password(&a, "inspector"), "ret-a", &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    twin_skewed(&b, "-200d");
    th_login(&b, th_username(&a, "handler"), th_password(&a, "handler"), "ret-b", &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    assert_int_equal(th_server_stop(&b), 0);
    seq_a = th_sql_int(&a, "SELECT MAX(id) FROM audit_log WHERE action = 'auth.login' AND"
                           " at > NOW() - INTERVAL 1 HOUR");
    seq_b = th_sql_int(&a, "SELECT MAX(id) FROM audit_log WHERE action = 'auth.login' AND"
                           " at < NOW() - INTERVAL 199 DAY");
    assert_true(seq_a > 0);
    assert_true(seq_b > seq_a); /* the skewed node's row is newer by sequence, "older" by clock */

    /* The runtime user, granted by cityd migrate; SHOW GRANTS: SELECT, INSERT on audit_log. */
    th_sql_exec(&a, "CREATE USER IF NOT EXISTS '" RT_USER "'@'localhost'");
    setenv("CITYD_DB_RUNTIME_USER", RT_USER, 1);
    assert_int_equal(th_cityd(&a, "migrate"), 0);
    unsetenv("CITYD_DB_RUNTIME_USER");
    grants = show_grants();
    for (line = grants; *line; line = nl + 1) {
        bool covers;
        nl = strchr(line, '\n');
        if (!nl)
            nl = line + strlen(line) - 1;
        else
            *nl = '\0';
        covers = strstr(line, "ON *.*") || strstr(line, ".* TO") || strstr(line, "`audit_log` TO");
        printf("SHOW GRANTS: %s\n", line);
        if (strstr(line, "`audit_log` TO")) {
            audit_grant_lines++;
            assert_non_null(strstr(line, "GRANT SELECT, INSERT ON"));
        }
        if (covers) {
            assert_null(strstr(line, "UPDATE"));
            assert_null(strstr(line, "DELETE"));
            assert_null(strstr(line, "ALL PRIVILEGES"));
        }
    }
    free(grants);
    assert_int_equal(audit_grant_lines, 1);

    /* The runtime user cannot purge: refused, nothing removed, the attempt audited. */
    before = rows();
    assert_int_not_equal(purge(RT_USER, NULL, "", out, sizeof out), 0);
    assert_non_null(strstr(out, "may not DELETE from audit_log"));
    assert_int_equal(rows(), before);
    assert_int_equal(purge_rows("denied", "refused:%"), 1);

    /* Below the legal minimum: refused before connecting. */
    assert_int_equal(purge("root", NULL, "--keep-days 179", out, sizeof out), 2);
    assert_int_equal(rows(), before);

    /* The maintenance account: only what the purge needs. */
    th_sql_exec(&a, "CREATE USER IF NOT EXISTS '" PURGE_USER "'@'localhost'");
    snprintf(sql, sizeof sql,
             "GRANT SELECT, INSERT, DELETE ON `%s`.`audit_log` TO '" PURGE_USER "'@'localhost'",
             a.dbname);
    th_sql_exec(&a, sql);

    /* Dry run, clock 200 days ahead: counts the three old rows, changes nothing. */
    assert_int_equal(purge(PURGE_USER, "+200d", "--dry-run", out, sizeof out), 0);
    assert_non_null(strstr(out, "would remove 3 rows older than 180 days"));
    assert_int_equal(rows(), before);
    assert_int_equal(purge_rows("ok", "%"), 0);

    /* For real, clock 200 days ahead, two rows per batch. */
    assert_int_equal(purge(PURGE_USER, "+200d", "--batch 2", out, sizeof out), 0);
    assert_non_null(strstr(out, "removed 3 rows older than 180 days"));
    assert_non_null(strstr(out, "in 2 batches"));
    for (size_t i = 0; i < sizeof ages / sizeof ages[0]; i++)
        assert_int_equal(aged_left(ages[i]), i < REMOVED ? 0 : 1);
    assert_int_equal(rows(), before - REMOVED);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM audit_log WHERE id IN (%lld, %lld)", seq_a,
             seq_b);
    assert_int_equal(th_sql_int(&a, sql), 2);
    /* Audited: one row per batch (2 + 1), no clock far off in their time. */
    assert_int_equal(purge_rows("ok", "removed 2 rows (ids %"), 1);
    assert_int_equal(purge_rows("ok", "removed 1 rows (ids %"), 1);
    assert_int_equal(th_sql_int(&a, "SELECT COUNT(*) FROM audit_log WHERE action = 'audit.purge'"
                                    " AND ABS(TIMESTAMPDIFF(SECOND, at, NOW())) > 60"),
                     0);

    /* Real time, and the clock 30 days back: nothing more goes; each run is on record. */
    assert_int_equal(purge(PURGE_USER, NULL, "", out, sizeof out), 0);
    assert_non_null(strstr(out, "removed 0 rows"));
    assert_int_equal(purge(PURGE_USER, "-30d", "", out, sizeof out), 0);
    assert_non_null(strstr(out, "removed 0 rows"));
    assert_int_equal(rows(), before - REMOVED);
    assert_int_equal(purge_rows("ok", "removed 0 rows older than 180 days%"), 2);

    /* And the runtime user still holds no UPDATE or DELETE on it (the purge changed no grant). */
    assert_int_not_equal(th_sh("mariadb --no-defaults -u " RT_USER " -S %s %s -e \"DELETE FROM"
                               " audit_log WHERE action = 'test.aged'\" 2>/dev/null",
                               a.socket, a.dbname),
                         0);
    assert_int_not_equal(th_sh("mariadb --no-defaults -u " RT_USER " -S %s %s -e \"UPDATE"
                               " audit_log SET detail = 'x' WHERE action = 'test.aged'\""
                               " 2>/dev/null",
                               a.socket, a.dbname),
                         0);
    assert_int_equal(rows(), before - REMOVED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(retention_under_moved_clocks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
