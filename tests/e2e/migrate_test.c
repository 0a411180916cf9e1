/* tests/e2e/migrate_test.c: the migration runner through the real binary — readiness while the
 * schema is behind, two nodes migrating at once, an edited migration, a database newer than
 * the build, a migration slower than a request may be — and a bad configuration stopping
 * start-up with one line naming the key. */
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

static struct th_server srv;
static char mdir[300];

static int setup(void **state)
{
    char extra[400];
    snprintf(mdir, sizeof mdir, "/tmp/cityd-migrations-%d", (int)getpid());
    th_sh("rm -rf %s && cp -r %s %s", mdir, th_source_path("migrations"), mdir);
    snprintf(extra, sizeof extra, "migrations.auto = false\nmigrations.dir = %s\n", mdir);
    th_server_start(&srv, extra);
    return 0;
}

static int teardown(void **state)
{
    th_sh("rm -rf %s", mdir);
    return th_server_stop(&srv);
}

static long status_of(const char *path)
{
    struct th_resp r;
    long st;
    th_request(&srv, "GET", path, NULL, NULL, 0, 0, &r);
    st = r.status;
    th_resp_free(&r);
    return st;
}

/* cityd migrate with the server's configuration; output to file out. */
static int migrate(const char *out)
{
    return th_sh("%s -c %s migrate >%s 2>&1", th_cityd_bin(), srv.cfgpath, out);
}

static void not_ready_until_migrated_then_two_nodes_at_once(void **state)
{
    char a[400], b[400];
    long long files = 0;
    FILE *p;

    assert_int_equal(status_of("/readyz"), 503);
    assert_int_equal(status_of("/healthz"), 200);

    /* Two nodes start at once: the named lock lets one apply, the other finds nothing to do;
     * applying anything twice would fail on CREATE TABLE. */
    snprintf(a, sizeof a, "%s/m1.log", srv.dir);
    snprintf(b, sizeof b, "%s/m2.log", srv.dir);
    assert_int_equal(th_sh("(%s -c %s migrate >%s 2>&1 & %s -c %s migrate >%s 2>&1; r=$?; wait $!; "
                           "r2=$?; exit $((r + r2)))",
                           th_cityd_bin(), srv.cfgpath, a, th_cityd_bin(), srv.cfgpath, b),
                     0);
    {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "ls %s | grep -c '^[0-9][0-9][0-9][0-9]_.*\\.sql$'", mdir);
        p = popen(cmd, "r");
    }
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%lld", &files), 1);
    pclose(p);
    assert_true(files >= 4);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM schema_migrations"), files);
    assert_int_equal(
        th_sql_int(&srv, "SELECT COUNT(*) - COUNT(DISTINCT version) FROM schema_migrations"), 0);
    /* The running server sees the schema is current without a restart. */
    assert_int_equal(status_of("/readyz"), 200);
}

static void edited_migration_stops_start_up(void **state)
{
    char out[400];

    snprintf(out, sizeof out, "%s/edit.log", srv.dir);
    assert_int_equal(migrate(out), 0);
    th_sh("echo '-- an innocent-looking edit' >> %s/0001_init.sql", mdir);
    assert_int_not_equal(migrate(out), 0);
    assert_int_equal(th_sh("grep -q '0001_init.sql was edited' %s", out), 0);
    /* serve refuses too, with the same one line, and exits non-zero */
    assert_int_not_equal(
        th_sh("timeout 20 %s -c %s serve >%s 2>&1", th_cityd_bin(), srv.cfgpath, out), 0);
    assert_int_equal(th_sh("grep -q 'was edited' %s", out), 0);
    th_sh("cp %s %s/0001_init.sql", th_source_path("migrations/0001_init.sql"), mdir);
    assert_int_equal(migrate(out), 0);
}

static void database_newer_than_build_is_refused(void **state)
{
    char out[400];

    snprintf(out, sizeof out, "%s/newer.log", srv.dir);
    th_sh("mkdir -p %s.hidden && mv %s/0004_*.sql %s.hidden/", mdir, mdir, mdir);
    assert_int_not_equal(migrate(out), 0);
    assert_int_equal(th_sh("grep -q 'which this build does not have' %s", out), 0);
    th_sh("mv %s.hidden/*.sql %s/ && rmdir %s.hidden", mdir, mdir, mdir);
    assert_int_equal(migrate(out), 0);
}

static void bad_configuration_names_the_key(void **state)
{
    char cfg[400], out[400];

    snprintf(cfg, sizeof cfg, "%s/bad.conf", srv.dir);
    snprintf(out, sizeof out, "%s/bad.log", srv.dir);
    th_sh("printf 'http.listen = 127.0.0.1:0\\ndb.pool_size = 0\\n' > %s", cfg);
    assert_int_equal(th_sh("%s -c %s serve >%s 2>&1", th_cityd_bin(), cfg, out), 2);
    assert_int_equal(th_sh("grep -q 'db.pool_size' %s && test $(wc -l < %s) -eq 1", out, out), 0);
    th_sh("printf 'no.such.key = 1\\n' > %s", cfg);
    assert_int_equal(th_sh("%s -c %s serve >%s 2>&1", th_cityd_bin(), cfg, out), 2);
    assert_int_equal(th_sh("grep -q 'no.such.key: unknown key' %s", out), 0);
    assert_int_equal(
        th_sh("CITYD_HTTP_THREADS=lots %s -c %s serve >%s 2>&1", th_cityd_bin(), srv.cfgpath, out),
        2);
    assert_int_equal(th_sh("grep -q 'http.threads' %s && grep -q CITYD_HTTP_THREADS %s", out, out),
                     0);
}

/* A migration's statement may take minutes on a big table (adding an index to a million
 * cases took about ten): it runs under db.task_timeout_s, not the request's db.read_timeout_s.
 * Connector/C gives up after about three times its read timeout, so a 5 s statement fails
 * under a 1 s task timeout and passes under a 1 s request timeout. */
static void slow_migration_outlives_the_request_timeout(void **state)
{
    char out[400];
    long long t0;

    snprintf(out, sizeof out, "%s/slow.log", srv.dir);
    assert_int_equal(migrate(out), 0);
    th_sh("echo 'DO SLEEP(5);' > %s/9000_slow.sql", mdir);
    assert_int_not_equal(th_sh("CITYD_DB_TASK_TIMEOUT_S=1 %s -c %s migrate >%s 2>&1",
                               th_cityd_bin(), srv.cfgpath, out),
                         0);
    assert_int_equal(
        th_sql_int(&srv, "SELECT COUNT(*) FROM schema_migrations WHERE version = 9000"), 0);
    t0 = th_now_ms();
    assert_int_equal(th_sh("CITYD_DB_READ_TIMEOUT_S=1 %s -c %s migrate >%s 2>&1", th_cityd_bin(),
                           srv.cfgpath, out),
                     0);
    assert_true(th_now_ms() - t0 >= 5000);
    assert_int_equal(
        th_sql_int(&srv, "SELECT COUNT(*) FROM schema_migrations WHERE version = 9000"), 1);
    th_sh("rm %s/9000_slow.sql", mdir);
    th_sql_exec(&srv, "DELETE FROM schema_migrations WHERE version = 9000");
    assert_int_equal(migrate(out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(not_ready_until_migrated_then_two_nodes_at_once),
        cmocka_unit_test(edited_migration_stops_start_up),
        cmocka_unit_test(database_newer_than_build_is_refused),
        cmocka_unit_test(bad_configuration_names_the_key),
        cmocka_unit_test(slow_migration_outlives_the_request_timeout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
