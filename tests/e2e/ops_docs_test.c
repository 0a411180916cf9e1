/* tests/e2e/ops_docs_test.c: GET /docs — openapi.yaml rendered at build time (docs-page in the
 * build directory) and served from disk — opened in a real headless browser (Debian's
 * chromium through puppeteer-core, tools/docs_browser.js): the page loads, Redoc lists every
 * operation of openapi.yaml, the console shows no error, and nothing is requested from another
 * origin. Also: the headers (CSP, gzip), and 404 when docs.dir is not set. */
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "harness.h"
#include "th_assert.h"

static struct th_server srv;
static char docs_dir[600];

static void test_headers_and_gzip(void **state)
{
    struct th_resp r;
    char v[600];
    const char *gz[] = {"Accept-Encoding: gzip", NULL};

    th_request(&srv, "GET", "/docs", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    assert_true(th_header(&r, "content-type", v, sizeof v));
    assert_string_equal(v, "text/html; charset=utf-8");
    assert_true(th_header(&r, "content-security-policy", v, sizeof v));
    assert_non_null(strstr(v, "default-src 'self'"));
    assert_non_null(strstr(v, "connect-src 'self'"));
    /* The bundle and the spec come from here. */
    assert_non_null(strstr(r.body, "<script src=\"/docs/redoc.standalone.js\"></script>"));
    assert_non_null(strstr(r.body, "Redoc.init('/docs/openapi.yaml'"));
    assert_null(strstr(r.body, "https://"));
    th_resp_free(&r);

    th_request(&srv, "GET", "/docs/redoc.standalone.js", gz, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    assert_true(th_header(&r, "content-encoding", v, sizeof v));
    assert_string_equal(v, "gzip");
    assert_true(r.body_len > 1000);
    assert_int_equal((unsigned char)r.body[0], 0x1f);
    assert_int_equal((unsigned char)r.body[1], 0x8b);
    th_resp_free(&r);

    th_request(&srv, "GET", "/docs/openapi.yaml", NULL, NULL, 0, TH_HTTP1, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.body, "openapi:", 8) == 0 || strstr(r.body, "\nopenapi:") != NULL);
    th_resp_free(&r);
}

static void test_in_a_browser(void **state)
{
    char cmd[2000], out[600];
    json_t *j;
    json_error_t e;
    size_t n;

    snprintf(out, sizeof out, "%s/browser.json", srv.dir);
    snprintf(cmd, sizeof cmd, "node %s %s/docs %s > %s",
             th_source_path("tests/e2e/tools/docs_browser.js"), srv.base,
             th_source_path("openapi.yaml"), out);
    assert_int_equal(th_sh("%s", cmd), 0);
    j = json_load_file(out, 0, &e);
    assert_non_null(j);
    {
        char *dump = json_dumps(j, JSON_COMPACT);
        print_message("browser: %s\n", dump);
        free(dump);
    }
    assert_true(json_integer_value(json_object_get(j, "operations_in_spec")) > 50);
    assert_int_equal(json_integer_value(json_object_get(j, "operations_listed")),
                     json_integer_value(json_object_get(j, "operations_in_spec")));
    assert_true(json_is_true(json_object_get(j, "hydrated")));
    assert_int_equal(json_array_size(json_object_get(j, "console_errors")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "failed")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "external")), 0);
    n = (size_t)json_integer_value(json_object_get(j, "requests"));
    assert_true(n >= 2); /* the page and its bundle */
    assert_non_null(strstr(json_string_value(json_object_get(j, "title")), "cityd"));
    json_decref(j);
}

static void test_off_without_docs_dir(void **state)
{
    struct th_server plain;
    struct th_resp r;

    th_server_start(&plain, NULL);
    th_request(&plain, "GET", "/docs", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(th_error_code(&r), "not_found");
    th_resp_free(&r);
    assert_int_equal(th_server_stop(&plain), 0);
}

static int setup(void **state)
{
    char bin[600], extra[700];

    /* The build renders the page next to the binary's directory: build/<preset>/docs-page. */
    snprintf(bin, sizeof bin, "%s", th_cityd_bin());
    snprintf(docs_dir, sizeof docs_dir, "%s/../docs-page", dirname(bin));
    snprintf(extra, sizeof extra, "docs.dir = %s\n", docs_dir);
    th_server_start(&srv, extra);
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_and_gzip),
        cmocka_unit_test(test_in_a_browser),
        cmocka_unit_test(test_off_without_docs_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
