/* tests/unit/test_metrics.c: server/core/metrics.c. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "server/core/metrics.h"

static char *render(void)
{
    size_t len = 0;
    char *s = metrics_render(&len);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    return s;
}

static void test_counter_and_help(void **state)
{
    struct metrics_series *a = metrics_counter("t_things_total", "Things.", "kind=\"a\"");
    struct metrics_series *b = metrics_counter("t_things_total", "Things.", "kind=\"b\"");
    char *s;

    assert_ptr_equal(a, metrics_counter("t_things_total", "Things.", "kind=\"a\""));
    assert_ptr_not_equal(a, b);
    metrics_add(a, 3);
    metrics_inc(b);
    s = render();
    assert_non_null(strstr(s, "# HELP t_things_total Things.\n# TYPE t_things_total counter\n"
                              "t_things_total{kind=\"a\"} 3\nt_things_total{kind=\"b\"} 1\n"));
    /* One HELP line per family. */
    assert_null(strstr(strstr(s, "# HELP t_things_total") + 1, "# HELP t_things_total"));
    free(s);
}

static void test_gauge(void **state)
{
    struct metrics_series *g = metrics_gauge("t_level", "Level.", "");
    char *s;

    metrics_gauge_set(g, 5);
    metrics_gauge_add(g, -7);
    assert_true(metrics_value(g) == -2);
    s = render();
    assert_non_null(strstr(s, "\nt_level -2\n"));
    free(s);
}

static double seven(void *arg)
{
    return *(double *)arg;
}

static void test_gauge_fn(void **state)
{
    static double v = 7.5;
    char *s;

    metrics_gauge_fn("t_computed", "Computed.", "x=\"1\"", seven, &v);
    s = render();
    assert_non_null(strstr(s, "t_computed{x=\"1\"} 7.5\n"));
    free(s);
    metrics_gauge_fn("t_computed", "Computed.", "x=\"1\"", NULL, NULL);
    s = render();
    assert_null(strstr(s, "t_computed{x=\"1\"}"));
    free(s);
}

static void test_histogram(void **state)
{
    static const double b[] = {1, 2, 5};
    struct metrics_series *h = metrics_histogram("t_size_bytes", "Sizes.", "p=\"q\"", b, 3);
    char *s;

    metrics_observe(h, 0.5);
    metrics_observe(h, 2);   /* le="2" includes 2 */
    metrics_observe(h, 100); /* only +Inf */
    s = render();
    assert_non_null(strstr(s, "# TYPE t_size_bytes histogram\n"
                              "t_size_bytes_bucket{p=\"q\",le=\"1\"} 1\n"
                              "t_size_bytes_bucket{p=\"q\",le=\"2\"} 2\n"
                              "t_size_bytes_bucket{p=\"q\",le=\"5\"} 2\n"
                              "t_size_bytes_bucket{p=\"q\",le=\"+Inf\"} 3\n"
                              "t_size_bytes_sum{p=\"q\"} 102.5\n"
                              "t_size_bytes_count{p=\"q\"} 3\n"));
    assert_true(metrics_value(h) == 3);
    free(s);
}

static void test_type_clash_and_bad_name(void **state)
{
    struct metrics_series *c = metrics_counter("t_clash_total", "C.", "");
    struct metrics_series *g = metrics_gauge("t_clash_total", "C.", "other=\"1\"");
    struct metrics_series *bad = metrics_counter("t bad-name", "B.", "");
    char *s;

    assert_ptr_not_equal(c, g);
    metrics_gauge_set(g, 42); /* the sink: must not crash, must not show */
    metrics_inc(bad);
    s = render();
    assert_null(strstr(s, "other=\"1\""));
    assert_null(strstr(s, "t bad-name"));
    assert_non_null(strstr(s, "cityd_metrics_series_dropped_total "));
    assert_null(strstr(s, "cityd_metrics_series_dropped_total 0\n"));
    free(s);
}

static void test_labels_escape(void **state)
{
    char buf[64];

    metrics_labels(buf, sizeof buf, "a", "x\"y\\z\nw", "b", "2", (const char *)NULL);
    assert_string_equal(buf, "a=\"x\\\"y\\\\z\\nw\",b=\"2\"");
    /* Too small: cut at a pair boundary or inside a value, always closed. */
    metrics_labels(buf, 12, "route", "/api/v1/cases/{id}", (const char *)NULL);
    assert_true(strlen(buf) < 12);
    assert_int_equal(buf[strlen(buf) - 1], '"');
    assert_string_equal(metrics_status_class(204), "2xx");
    assert_string_equal(metrics_status_class(503), "5xx");
    assert_string_equal(metrics_status_class(42), "5xx");
}

static void *hammer(void *arg)
{
    struct metrics_series *c = arg;
    for (int i = 0; i < 100000; i++) {
        metrics_inc(c);
        metrics_http_request("GET", 3, "/t/{id}", 200, 0x200, 0.001);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct metrics_series *c = metrics_counter("t_race_total", "Race.", "");
    pthread_t t[4];
    char *s;

    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, c);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(metrics_value(c) == 400000);
    s = render();
    assert_non_null(strstr(
        s, "cityd_http_requests_total{method=\"GET\",route=\"/t/{id}\",code=\"2xx\"} 400000\n"));
    assert_non_null(
        strstr(s, "cityd_http_request_duration_seconds_count{method=\"GET\",route=\"/t/{id}\"} "
                  "400000\n"));
    free(s);
    metrics_http_request("BREW", 4, NULL, 418, 0x101, 0.1);
    /* The same route with another class or method is another series (the per-thread cache
     * keys on all three). */
    metrics_http_request("GET", 3, "/t/{id}", 503, 0x101, 0.2);
    metrics_http_request("POST", 4, "/t/{id}", 201, 0x101, 0.2);
    s = render();
    assert_non_null(
        strstr(s, "cityd_http_requests_total{method=\"GET\",route=\"/t/{id}\",code=\"5xx\"} 1\n"));
    assert_non_null(
        strstr(s, "cityd_http_requests_total{method=\"POST\",route=\"/t/{id}\",code=\"2xx\"} 1\n"));
    assert_non_null(strstr(
        s, "cityd_http_requests_total{method=\"GET\",route=\"/t/{id}\",code=\"2xx\"} 400000\n"));
    assert_non_null(strstr(s, "cityd_http_version_requests_total{version=\"2\"} 400000\n"));
    assert_non_null(strstr(s, "cityd_http_version_requests_total{version=\"1.1\"} 3\n"));
    assert_non_null(strstr(
        s, "cityd_http_requests_total{method=\"other\",route=\"unmatched\",code=\"4xx\"} 1\n"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_help),
        cmocka_unit_test(test_gauge),
        cmocka_unit_test(test_gauge_fn),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_type_clash_and_bad_name),
        cmocka_unit_test(test_labels_escape),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
