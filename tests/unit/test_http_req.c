/* tests/unit/test_http_req.c: server/http/http.c — what a handler reads from struct req:
 * query parameters (percent-decoding, '+', first occurrence wins), headers (case-insensitive)
 * and path parameters (as the router fills them). struct req is built by hand, as server.c
 * does; path parameters come from a real router match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "server/core/rctx.h"
#include "server/http/http.h"
#include "server/http/router.h"

static int setup(void **state)
{
    struct rctx *cx = test_malloc(sizeof *cx);

    rctx_init(cx);
    *state = cx;
    return 0;
}

static int teardown(void **state)
{
    struct rctx *cx = *state;

    rctx_dispose(cx);
    test_free(cx);
    return 0;
}

static struct req with_query(const char *q)
{
    struct req rq;

    memset(&rq, 0, sizeof rq);
    rq.method = "GET";
    rq.method_len = 3;
    rq.path = "/api/v1/cases";
    rq.path_len = strlen(rq.path);
    rq.query = q;
    rq.query_len = q ? strlen(q) : 0;
    return rq;
}

static void test_query_decoding(void **state)
{
    struct rctx *cx = *state;
    struct req rq = with_query("q=hello+world&p=%E4%B8%AD%e6%96%87&s=a%2Fb%3Dc%26d&plus=1%2B1"
                               "&empty=&flag&pct=100%25");

    assert_string_equal(req_query(cx, &rq, "q"), "hello world");
    assert_string_equal(req_query(cx, &rq, "p"), "中文"); /* upper- and lower-case hex */
    assert_string_equal(req_query(cx, &rq, "s"), "a/b=c&d");
    assert_string_equal(req_query(cx, &rq, "plus"), "1+1");
    assert_string_equal(req_query(cx, &rq, "empty"), "");
    assert_string_equal(req_query(cx, &rq, "flag"), ""); /* present without '=' */
    assert_string_equal(req_query(cx, &rq, "pct"), "100%");
}

static void test_query_bad_escapes_kept(void **state)
{
    struct rctx *cx = *state;
    struct req rq = with_query("a=%zz&b=50%&c=%4&d=%%41");

    assert_string_equal(req_query(cx, &rq, "a"), "%zz");
    assert_string_equal(req_query(cx, &rq, "b"), "50%");
    assert_string_equal(req_query(cx, &rq, "c"), "%4");
    assert_string_equal(req_query(cx, &rq, "d"), "%A");
}

static void test_query_first_wins_and_missing(void **state)
{
    struct rctx *cx = *state;
    struct req rq = with_query("status=open&page=2&status=closed&&ab=1");
    struct req none = with_query(NULL);
    struct req blank = with_query("");

    assert_string_equal(req_query(cx, &rq, "status"), "open");
    assert_string_equal(req_query(cx, &rq, "page"), "2");
    assert_null(req_query(cx, &rq, "missing"));
    /* Names match whole: "a" is not "ab", and "statu" is not "status". */
    assert_null(req_query(cx, &rq, "a"));
    assert_null(req_query(cx, &rq, "statu"));
    assert_string_equal(req_query(cx, &rq, "ab"), "1");
    assert_null(req_query(cx, &none, "status"));
    assert_null(req_query(cx, &blank, "status"));
}

static void test_query_len_is_honoured(void **state)
{
    struct rctx *cx = *state;
    struct req rq = with_query("a=1&b=2");

    rq.query_len = 3; /* "a=1" */
    assert_string_equal(req_query(cx, &rq, "a"), "1");
    assert_null(req_query(cx, &rq, "b"));
}

static void test_header_lookup(void **state)
{
    static const struct req_header hs[] = {
        {"content-type", 12, "application/json", 16},
        {"x-request-id", 12, "abc", 3},
        {"idempotency-key", 15, "k-1", 3},
        {"idempotency-key", 15, "k-2", 3},
        {"accept", 6, "", 0},
    };
    struct req rq = with_query(NULL);
    size_t len = 99;
    const char *v;

    (void)state;
    rq.headers = hs;
    rq.nheaders = sizeof hs / sizeof hs[0];
    v = req_header(&rq, "content-type", &len);
    assert_non_null(v);
    assert_int_equal(len, 16);
    assert_memory_equal(v, "application/json", 16);
    /* Any case in the name asked for. */
    v = req_header(&rq, "Content-Type", &len);
    assert_non_null(v);
    assert_int_equal(len, 16);
    v = req_header(&rq, "X-REQUEST-ID", &len);
    assert_non_null(v);
    assert_memory_equal(v, "abc", 3);
    /* The first of repeated headers. */
    v = req_header(&rq, "Idempotency-Key", &len);
    assert_non_null(v);
    assert_memory_equal(v, "k-1", 3);
    /* Present but empty. */
    v = req_header(&rq, "accept", &len);
    assert_non_null(v);
    assert_int_equal(len, 0);
    /* Absent, and prefixes of present names. */
    assert_null(req_header(&rq, "authorization", &len));
    assert_null(req_header(&rq, "content", &len));
    assert_null(req_header(&rq, "content-type-x", &len));
    /* len may be NULL. */
    assert_non_null(req_header(&rq, "content-type", NULL));
}

static enum err h_any(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    (void)cx;
    (void)rq;
    (void)rs;
    return ERR_OK;
}

/* clang-format off */
static const struct route routes[] = {
    {"GET", "/api/v1/cases/{case_id}/photos/{id}", h_any, 0, 0, 0, 0, NULL, NULL},
    {"GET", "/api/v1/categories/{code}",           h_any, 0, 0, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */

static struct req routed(const struct router *r, const char *path)
{
    struct req rq = with_query(NULL);

    rq.path = path;
    rq.path_len = strlen(path);
    assert_int_equal(router_match(r, "GET", 3, path, rq.path_len, &rq.match, NULL, 0), ERR_OK);
    return rq;
}

static void test_path_params(void **state)
{
    struct rctx *cx = *state;
    const struct route *const tables[] = {routes, NULL};
    char err[128];
    struct router *r = router_new(tables, err, sizeof err);
    struct req rq;

    assert_non_null(r);
    rq = routed(r, "/api/v1/cases/42/photos/7");
    assert_int_equal(req_param_i64(&rq, "case_id"), 42);
    assert_int_equal(req_param_i64(&rq, "id"), 7);
    /* Absent names, and names that are only a prefix or a suffix of a parameter, are 0. */
    assert_int_equal(req_param_i64(&rq, "photo_id"), 0);
    assert_int_equal(req_param_i64(&rq, "case"), 0);
    assert_int_equal(req_param_i64(&rq, "i"), 0);
    assert_string_equal(req_param(cx, &rq, "case_id"), "42");
    assert_null(req_param(cx, &rq, "nope"));

    /* The largest id the router lets through. */
    rq = routed(r, "/api/v1/cases/999999999999999999/photos/1");
    assert_int_equal(req_param_i64(&rq, "case_id"), INT64_C(999999999999999999));

    /* String parameters come back as text. */
    rq = routed(r, "/api/v1/categories/road-damage");
    assert_string_equal(req_param(cx, &rq, "code"), "road-damage");
    router_free(r);
}

static void test_resp_helpers(void **state)
{
    struct rctx *cx = *state;
    struct resp rs;
    char name[] = "X-Thing", value[] = "v1";

    memset(&rs, 0, sizeof rs);
    assert_int_equal(resp_body(&rs, 201, "application/json", "{}", 2), ERR_OK);
    assert_int_equal(rs.status, 201);
    assert_int_equal(rs.body_len, 2);
    resp_header(cx, &rs, name, value);
    /* Copied into the pool: later changes to the caller's buffers do not show. */
    name[0] = 'Y';
    value[0] = 'w';
    assert_int_equal(rs.nheaders, 1);
    assert_string_equal(rs.headers[0].name, "X-Thing");
    assert_string_equal(rs.headers[0].value, "v1");
    assert_int_equal(resp_empty(&rs, 204), ERR_OK);
    assert_int_equal(rs.status, 204);
    assert_null(rs.body);
    assert_int_equal(rs.body_len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_decoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_bad_escapes_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_first_wins_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_len_is_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resp_helpers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
