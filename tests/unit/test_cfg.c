/* tests/unit/test_cfg.c: server/core/cfg.c — defaults, the file format, errors that name the
 * key, bounds, environment overrides and the cross-key rules.
 *
 * Config files are written to a private temporary directory. Every CITYD_<KEY> variable is
 * removed before each test so the developer's environment cannot leak in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "server/core/cfg.h"

static char tmpdir[64];

static void env_name(const char *key, char *out, size_t len)
{
    size_t j = (size_t)snprintf(out, len, "CITYD_");

    for (const char *p = key; *p && j + 1 < len; p++)
        out[j++] = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    out[j] = '\0';
}

static void clear_env(void)
{
    for (size_t i = 0; cfg_key_at(i); i++) {
        char env[96];
        env_name(cfg_key_at(i), env, sizeof env);
        unsetenv(env);
    }
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

/* Write text to a fresh file in tmpdir and return its path (static buffer). */
static const char *write_conf(const char *text)
{
    static char path[128];
    static int n;
    FILE *f;

    snprintf(path, sizeof path, "%s/c%d.conf", tmpdir, n++);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Load text as a config file on top of the defaults. */
static enum err load(struct cfg *c, const char *text, char *err, size_t errlen)
{
    err[0] = '\0';
    cfg_defaults(c);
    return cfg_load(c, write_conf(text), err, errlen);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void test_defaults(void **state)
{
    struct cfg c;
    char err[256] = "";

    (void)state;
    cfg_defaults(&c);
    assert_string_equal(c.http_listen, "127.0.0.1:8080");
    assert_int_equal(c.http_threads, 0);
    assert_string_equal(c.http_accept, "shared");
    assert_string_equal(c.http_tls_cert, "");
    assert_int_equal(c.http_request_timeout_ms, 15000);
    assert_string_equal(c.db_host, "localhost");
    assert_int_equal(c.db_port, 3306);
    assert_string_equal(c.db_user, "cityd");
    assert_int_equal(c.db_pool_size, 8);
    assert_true(c.migrations_auto);
    assert_string_equal(c.auth_jwt_alg, "HS256");
    assert_int_equal(c.auth_access_ttl_s, 900);
    assert_int_equal(c.media_max_image_bytes, INT64_C(20971520));
    assert_string_equal(c.log_level, "info");
    assert_false(c.testing_clock_control);
    assert_int_equal(c.gps_auto_checkout_after_min, 120);
    assert_int_equal(c.gps_max_duty_hours, 16);
    /* Defaults pass every check cfg_load makes (no file, clean environment). */
    assert_int_equal(cfg_load(&c, NULL, err, sizeof err), ERR_OK);
}

/* Every row of the table, set to its own default text, must be accepted: cfg_defaults ignores
 * errors, so an out-of-range default would otherwise go unnoticed. The rows are read from the
 * source (CITYD_SOURCE_DIR, set by ctest), and their count must match cfg_key_at's. */
static void test_every_default_valid(void **state)
{
    const char *src = getenv("CITYD_SOURCE_DIR");
    char path[512], line[512], err[256];
    size_t rows = 0, keys = 0;
    struct cfg c;
    FILE *f;

    (void)state;
    if (!src)
        fail_msg("CITYD_SOURCE_DIR is not set: run it through ctest");
    snprintf(path, sizeof path, "%s/server/core/cfg.c", src);
    f = fopen(path, "r");
    assert_non_null(f);
    cfg_defaults(&c);
    while (fgets(line, sizeof line, f)) {
        const char *p = line, *name, *name_end, *def, *def_end;
        char key[128], value[256];

        while (*p == ' ')
            p++;
        if (!((p[0] == 'S' || p[0] == 'I' || p[0] == 'L' || p[0] == 'B') && p[1] == '(' &&
              p[2] == '"'))
            continue;
        name = p + 3;
        name_end = strchr(name, '"');
        assert_non_null(name_end);
        def = strchr(name_end + 1, '"'); /* after ", field, " */
        assert_non_null(def);
        def++;
        def_end = strchr(def, '"');
        assert_non_null(def_end);
        snprintf(key, sizeof key, "%.*s", (int)(name_end - name), name);
        snprintf(value, sizeof value, "%.*s", (int)(def_end - def), def);
        if (cfg_set(&c, key, value, err, sizeof err) != ERR_OK)
            fail_msg("default of %s (\"%s\") is refused: %s", key, value, err);
        rows++;
    }
    fclose(f);
    while (cfg_key_at(keys))
        keys++;
    assert_int_equal(rows, keys);
}

static void test_key_table(void **state)
{
    size_t n = 0;

    (void)state;
    for (; cfg_key_at(n); n++) {
        const char *k = cfg_key_at(n);
        assert_non_null(strchr(k, '.'));
        for (size_t j = 0; j < n; j++)
            if (strcmp(cfg_key_at(j), k) == 0)
                fail_msg("key %s listed twice", k);
        for (const char *p = k; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
                fail_msg("key %s: only a-z, 0-9, '_' and '.' map cleanly to CITYD_ names", k);
    }
    assert_true(n > 10);
    assert_null(cfg_key_at(n));
    assert_null(cfg_key_at((size_t)-1));
}

static void test_file_format(void **state)
{
    struct cfg c;
    char err[256];
    const char *text = "# a comment\n"
                       "   # an indented comment\n"
                       "\n"
                       "\t\n"
                       "http.listen = \"0.0.0.0:9090\"\n"
                       "db.user=alice\n"
                       "  db.port   =   3307  \n"
                       "db.password = \"  spaces kept # not a comment  \"\n"
                       "db.name = \"q\"x\"\n"
                       "db.host = \"\"\n"
                       "db.socket =\n"
                       "migrations.auto = no\n"
                       "testing.clock_control = yes\n"
                       "log.level = debug\n"
                       "media.max_pixels = 1000000000\n"
                       "http.threads = 2\n"
                       "http.threads = 4\n"; /* the last one wins */

    (void)state;
    assert_int_equal(load(&c, text, err, sizeof err), ERR_OK);
    assert_string_equal(c.http_listen, "0.0.0.0:9090");
    assert_string_equal(c.db_user, "alice");
    assert_int_equal(c.db_port, 3307);
    assert_string_equal(c.db_password, "  spaces kept # not a comment  ");
    assert_string_equal(c.db_name, "q\"x"); /* only the outer pair of quotes goes */
    assert_string_equal(c.db_host, "");
    assert_string_equal(c.db_socket, "");
    assert_false(c.migrations_auto);
    assert_true(c.testing_clock_control);
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(c.media_max_pixels, INT64_C(1000000000));
    assert_int_equal(c.http_threads, 4);
    /* Untouched keys keep their defaults. */
    assert_int_equal(c.db_pool_size, 8);

    /* Windows line ends and a last line without a newline. */
    assert_int_equal(load(&c, "db.user = bob\r\ndb.port = 1", err, sizeof err), ERR_OK);
    assert_string_equal(c.db_user, "bob");
    assert_int_equal(c.db_port, 1);
    /* A lone quote is a value, not an empty pair. */
    assert_int_equal(load(&c, "db.user = \"\n", err, sizeof err), ERR_OK);
    assert_string_equal(c.db_user, "\"");
    /* An empty file is fine. */
    assert_int_equal(load(&c, "", err, sizeof err), ERR_OK);
    assert_string_equal(c.db_user, "cityd");
}

static void test_errors_name_the_key(void **state)
{
    struct cfg c;
    char err[256];

    (void)state;
    /* Unknown key: named, with file and line. */
    assert_int_equal(load(&c, "# x\nhttp.listne = 1.2.3.4:5\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "http.listne");
    assert_contains(err, "unknown key");
    assert_contains(err, ":2)");
    /* Not key = value. */
    assert_int_equal(load(&c, "http.listen\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "expected key = value");
    assert_contains(err, ":1");
    /* A '#' after a value is part of it: here it makes the integer invalid. */
    assert_int_equal(load(&c, "http.threads = 4 # four\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "http.threads");
    assert_contains(err, "expected an integer");
    /* Wrong types. */
    assert_int_equal(load(&c, "db.port = 33o6\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "db.port");
    assert_int_equal(load(&c, "db.port =\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "db.port");
    assert_int_equal(load(&c, "db.port = 3.5\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "db.port");
    assert_int_equal(load(&c, "migrations.auto = maybe\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "migrations.auto");
    assert_contains(err, "true or false");
    /* Too long for the field. */
    assert_int_equal(load(&c,
                          "db.user = "
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                          err, sizeof err),
                     ERR_INVALID);
    assert_contains(err, "db.user");
    assert_contains(err, "longer than 63");
    /* Keys are case-sensitive. */
    assert_int_equal(load(&c, "HTTP.LISTEN = 1.2.3.4:5\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "HTTP.LISTEN");
    /* A file that cannot be opened. */
    cfg_defaults(&c);
    assert_int_equal(cfg_load(&c, "/nonexistent/cityd.conf", err, sizeof err), ERR_INVALID);
    assert_contains(err, "/nonexistent/cityd.conf");
    /* cfg_set names the key too. */
    assert_int_equal(cfg_set(&c, "no.such", "1", err, sizeof err), ERR_INVALID);
    assert_contains(err, "no.such");
}

static void test_out_of_range(void **state)
{
    struct cfg c;
    char err[256];

    (void)state;
    assert_int_equal(load(&c, "db.port = 65536\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "db.port");
    assert_contains(err, "1..65535");
    assert_int_equal(load(&c, "db.port = 0\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "db.port");
    assert_int_equal(load(&c, "http.threads = -1\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "http.threads");
    assert_int_equal(load(&c, "auth.access_ttl_s = 901\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "auth.access_ttl_s");
    /* Beyond int but within long long: still a range error, not a silent truncation. */
    assert_int_equal(load(&c, "http.request_timeout_ms = 4294967296\n", err, sizeof err),
                     ERR_INVALID);
    assert_contains(err, "http.request_timeout_ms");
    /* Beyond long long: an integer error. */
    assert_int_equal(load(&c, "db.pool_size = 99999999999999999999\n", err, sizeof err),
                     ERR_INVALID);
    assert_contains(err, "db.pool_size");
    assert_int_equal(load(&c, "media.max_pixels = 1000000001\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "media.max_pixels");
    /* The automatic check-out's limits: 0 (off) .. a day after a shift, a week of duty. */
    assert_int_equal(load(&c, "gps.auto_checkout_after_min = 1441\n", err, sizeof err),
                     ERR_INVALID);
    assert_contains(err, "gps.auto_checkout_after_min");
    assert_contains(err, "0..1440");
    assert_int_equal(load(&c, "gps.max_duty_hours = -1\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "gps.max_duty_hours");
    assert_int_equal(load(&c, "gps.max_duty_hours = 169\n", err, sizeof err), ERR_INVALID);
    /* The bounds themselves are inside. */
    assert_int_equal(load(&c, "db.port = 65535\nhttp.threads = 0\n", err, sizeof err), ERR_OK);
    assert_int_equal(c.db_port, 65535);
    assert_int_equal(
        load(&c, "gps.auto_checkout_after_min = 0\ngps.max_duty_hours = 168\n", err, sizeof err),
        ERR_OK);
    assert_true(c.gps_auto_checkout_after_min == 0 && c.gps_max_duty_hours == 168);
}

static void test_env_override(void **state)
{
    struct cfg c;
    char err[256];

    (void)state;
    setenv("CITYD_HTTP_LISTEN", "0.0.0.0:1234", 1);
    /* The environment wins over the file. */
    assert_int_equal(load(&c, "http.listen = 127.0.0.1:9999\n", err, sizeof err), ERR_OK);
    assert_string_equal(c.http_listen, "0.0.0.0:1234");
    /* And applies without a file. */
    cfg_defaults(&c);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof err), ERR_OK);
    assert_string_equal(c.http_listen, "0.0.0.0:1234");
    unsetenv("CITYD_HTTP_LISTEN");

    setenv("CITYD_DB_POOL_SIZE", "3", 1);
    setenv("CITYD_MIGRATIONS_AUTO", "false", 1);
    cfg_defaults(&c);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof err), ERR_OK);
    assert_int_equal(c.db_pool_size, 3);
    assert_false(c.migrations_auto);
    unsetenv("CITYD_MIGRATIONS_AUTO");

    /* A bad value names the key and the variable. */
    setenv("CITYD_DB_POOL_SIZE", "lots", 1);
    cfg_defaults(&c);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof err), ERR_INVALID);
    assert_contains(err, "db.pool_size");
    assert_contains(err, "CITYD_DB_POOL_SIZE");
    unsetenv("CITYD_DB_POOL_SIZE");

    /* Set but empty is the empty string (valid for a string key). */
    setenv("CITYD_DB_SOCKET", "", 1);
    cfg_defaults(&c);
    assert_int_equal(cfg_load(&c, NULL, err, sizeof err), ERR_OK);
    assert_string_equal(c.db_socket, "");
    unsetenv("CITYD_DB_SOCKET");
}

static void test_cross_key_rules(void **state)
{
    struct cfg c;
    char err[256];

    (void)state;
    /* A certificate without its key (and the reverse) is refused, naming tls_key. */
    assert_int_equal(load(&c, "http.tls_cert = /etc/cityd/cert.pem\n", err, sizeof err),
                     ERR_INVALID);
    assert_contains(err, "http.tls_key");
    assert_int_equal(load(&c, "http.tls_key = /etc/cityd/key.pem\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "tls_cert");
    assert_int_equal(
        load(&c, "http.tls_cert = /etc/c.pem\nhttp.tls_key = /etc/k.pem\n", err, sizeof err),
        ERR_OK);
    /* The pair may also be completed from the environment. */
    setenv("CITYD_HTTP_TLS_KEY", "/etc/k.pem", 1);
    assert_int_equal(load(&c, "http.tls_cert = /etc/c.pem\n", err, sizeof err), ERR_OK);
    unsetenv("CITYD_HTTP_TLS_KEY");

    assert_int_equal(load(&c, "log.level = verbose\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "log.level");
    assert_int_equal(load(&c, "auth.jwt_alg = none\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "auth.jwt_alg");
    assert_int_equal(load(&c, "auth.jwt_alg = ES256\n", err, sizeof err), ERR_OK);
    assert_int_equal(load(&c, "http.accept = roundrobin\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "http.accept");
    assert_int_equal(load(&c, "http.accept = reuseport\n", err, sizeof err), ERR_OK);
    assert_string_equal(c.http_accept, "reuseport");
}

/* A comment line longer than the reader's line buffer (2048 bytes) must stay a comment, or at
 * least fail with an error that says the line is too long. BUG (reported): cfg.c load_file
 * reads with fgets(line, 2048): the rest of a long comment line is parsed as a new line, so a
 * harmless comment gives "expected key = value" at a wrong line number. */
static void test_long_comment_line(void **state)
{
    static char text[4096];
    struct cfg c;
    char err[256];
    enum err res;

    (void)state;
    text[0] = '#';
    memset(text + 1, 'x', 2999);
    memcpy(text + 3000, "\ndb.user = carol\n", 18);
    res = load(&c, text, err, sizeof err);
    if (res != ERR_OK && !strstr(err, "long"))
        fail_msg("a 3000-byte comment line gives: %s", err);
    if (res == ERR_OK)
        assert_string_equal(c.db_user, "carol");
}

/* db.tls_*: TLS to a MariaDB on another host, verified by default once a CA is given; the
 * combinations that would silently not protect anything are refused (issue 17 item 15). */
static void test_db_tls_rules(void **state)
{
    struct cfg c;
    char err[256];

    (void)state;
    assert_int_equal(
        load(&c, "db.host = db.internal\ndb.tls_ca = /etc/cityd/db-ca.pem\n", err, sizeof err),
        ERR_OK);
    assert_string_equal(c.db_tls_ca, "/etc/cityd/db-ca.pem");
    assert_true(c.db_tls_verify_server); /* on by default */
    assert_false(c.db_tls);              /* implied by the CA when the options are filled */
    assert_int_equal(load(&c, "db.tls = true\n", err, sizeof err), ERR_INVALID);
    assert_contains(err, "db.tls_ca");
    assert_int_equal(load(&c, "db.tls = true\ndb.tls_verify_server = false\n", err, sizeof err),
                     ERR_OK);
    assert_int_equal(
        load(&c, "db.socket = /run/mysqld/mysqld.sock\ndb.tls_ca = /ca.pem\n", err, sizeof err),
        ERR_INVALID);
    assert_contains(err, "db.tls");
    assert_int_equal(load(&c, "db.tls_ca = /ca.pem\ndb.tls_cert = /c.pem\n", err, sizeof err),
                     ERR_INVALID);
    assert_contains(err, "db.tls_key");
    assert_int_equal(load(&c, "db.tls_ca = /ca.pem\ndb.tls_cert = /c.pem\ndb.tls_key = /k.pem\n",
                          err, sizeof err),
                     ERR_OK);
    assert_int_equal(load(&c, "db.tls_verify_server = maybe\n", err, sizeof err), ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_every_default_valid, setup),
        cmocka_unit_test_setup(test_key_table, setup),
        cmocka_unit_test_setup(test_file_format, setup),
        cmocka_unit_test_setup(test_errors_name_the_key, setup),
        cmocka_unit_test_setup(test_out_of_range, setup),
        cmocka_unit_test_setup(test_env_override, setup),
        cmocka_unit_test_setup(test_cross_key_rules, setup),
        cmocka_unit_test_setup(test_db_tls_rules, setup),
        cmocka_unit_test_setup(test_long_comment_line, setup),
    };
    char tmpl[] = "/tmp/cityd-test-cfg-XXXXXX";
    int rc;

    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s", tmpl);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    {
        /* Remove the files written above, then the directory. */
        for (int i = 0; i < 200; i++) {
            char path[128];
            snprintf(path, sizeof path, "%s/c%d.conf", tmpdir, i);
            unlink(path);
        }
        rmdir(tmpdir);
    }
    return rc;
}
