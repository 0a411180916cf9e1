/* tests/unit/test_router.c: server/http/router.c — compiling route tables and matching
 * method + path: literal-over-parameter precedence, numeric id validation, string parameters,
 * 404 versus 405 with the Allow list, tables refused at start-up, trailing slashes, body limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "server/core/roles.h"
#include "server/http/router.h"

static enum err h_any(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    (void)cx;
    (void)rq;
    (void)rs;
    return ERR_OK;
}

/* Distinct handlers so a test can tell which row matched. */
static enum err h_mine(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    (void)cx;
    (void)rq;
    (void)rs;
    return ERR_NOTFOUND;
}

static enum err h_byid(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    (void)cx;
    (void)rq;
    (void)rs;
    return ERR_CONFLICT;
}

/* clang-format off */
static const struct route cases_routes[] = {
    {"GET",    "/api/v1/cases",                      h_any,  0, 0,         0, 0, NULL, NULL},
    {"POST",   "/api/v1/cases",                      h_any,  0, 64 * 1024, 0, 0, NULL, NULL},
    {"GET",    "/api/v1/cases/{id}",                 h_byid, 0, 0,         0, 0, NULL, NULL},
    {"DELETE", "/api/v1/cases/{id}",                 h_any,  0, 0,         0, 0, NULL, NULL},
    {"POST",   "/api/v1/cases/{id}/dispatch",        h_any,  0, 4096,      0, 0, NULL, NULL},
    {"GET",    "/api/v1/cases/{case_id}/photos/{id}", h_any, 0, 0,         0, 0, NULL, NULL},
    {"GET",    "/api/v1/categories/{code}",          h_any,  0, 0,         0, 0, NULL, NULL},
    {"OPTIONS", "/api/v1/cases",                     h_any,  0, 0,         0, 0, NULL, NULL},
    {0},
};
/* A second table registered after the first: its literal must still win over {id}. */
static const struct route mine_routes[] = {
    {"GET",    "/api/v1/cases/mine",                 h_mine, 0, 0,         0, 0, NULL, NULL},
    {"GET",    "/",                                  h_any,  0, 0,         0, 0, NULL, NULL},
    {0},
};
/* clang-format on */

static struct router *make(void)
{
    const struct route *const tables[] = {cases_routes, mine_routes, NULL};
    char err[256] = "";
    struct router *r = router_new(tables, err, sizeof err);

    if (!r)
        fail_msg("router_new: %s", err);
    return r;
}

static enum err match(const struct router *r, const char *method, const char *path,
                      struct route_match *m, char *allow, size_t allow_len)
{
    return router_match(r, method, strlen(method), path, strlen(path), m, allow, allow_len);
}

static void assert_param(const struct route_match *m, size_t i, const char *name, const char *value)
{
    size_t nl = strlen(name);

    assert_true(i < m->nparams);
    /* The name points into the pattern and ends at its '}'. */
    assert_memory_equal(m->params[i].name, name, nl);
    assert_int_equal(m->params[i].name[nl], '}');
    assert_int_equal(m->params[i].len, strlen(value));
    assert_memory_equal(m->params[i].value, value, m->params[i].len);
}

static void test_literal_beats_param(void **state)
{
    struct router *r = make();
    struct route_match m;

    (void)state;
    assert_int_equal(match(r, "GET", "/api/v1/cases/mine", &m, NULL, 0), ERR_OK);
    assert_ptr_equal(m.route->handler, h_mine);
    assert_int_equal(m.nparams, 0);

    assert_int_equal(match(r, "GET", "/api/v1/cases/12", &m, NULL, 0), ERR_OK);
    assert_ptr_equal(m.route->handler, h_byid);
    assert_param(&m, 0, "id", "12");
    router_free(r);
}

static void test_literal_beats_param_any_table_order(void **state)
{
    const struct route *const tables[] = {mine_routes, cases_routes, NULL};
    char err[256] = "";
    struct router *r = router_new(tables, err, sizeof err);
    struct route_match m;

    (void)state;
    assert_non_null(r);
    assert_int_equal(match(r, "GET", "/api/v1/cases/mine", &m, NULL, 0), ERR_OK);
    assert_ptr_equal(m.route->handler, h_mine);
    assert_int_equal(match(r, "GET", "/api/v1/cases/7", &m, NULL, 0), ERR_OK);
    assert_ptr_equal(m.route->handler, h_byid);
    router_free(r);
}

static void test_numeric_id(void **state)
{
    struct router *r = make();
    struct route_match m;
    static const char *const bad[] = {
        "/api/v1/cases/0",                   /* ids start at 1 */
        "/api/v1/cases/012",                 /* leading zero: one spelling per id */
        "/api/v1/cases/00",                  /* */
        "/api/v1/cases/-1",                  /* */
        "/api/v1/cases/+1",                  /* */
        "/api/v1/cases/1a",                  /* */
        "/api/v1/cases/a1",                  /* */
        "/api/v1/cases/1.0",                 /* */
        "/api/v1/cases/%31",                 /* no percent-decoding of ids */
        "/api/v1/cases/ 1",                  /* */
        "/api/v1/cases/1234567890123456789", /* 19 digits: could overflow int64 */
        "/api/v1/cases/9223372036854775807", /* INT64_MAX itself has 19 digits */
        "/api/v1/cases/9223372036854775808", /* */
        "/api/v1/cases/99999999999999999999999999",
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum err res = match(r, "GET", bad[i], &m, NULL, 0);
        if (res != ERR_NOTFOUND)
            fail_msg("%s: expected not_found, got %d", bad[i], res);
    }
    assert_int_equal(match(r, "GET", "/api/v1/cases/1", &m, NULL, 0), ERR_OK);
    assert_param(&m, 0, "id", "1");
    assert_int_equal(match(r, "GET", "/api/v1/cases/10", &m, NULL, 0), ERR_OK);
    assert_param(&m, 0, "id", "10");
    /* 18 digits is the longest id accepted. */
    assert_int_equal(match(r, "GET", "/api/v1/cases/999999999999999999", &m, NULL, 0), ERR_OK);
    assert_param(&m, 0, "id", "999999999999999999");

    /* `*_id` parameters are numeric too; several parameters keep their order. */
    assert_int_equal(match(r, "GET", "/api/v1/cases/42/photos/7", &m, NULL, 0), ERR_OK);
    assert_int_equal(m.nparams, 2);
    assert_param(&m, 0, "case_id", "42");
    assert_param(&m, 1, "id", "7");
    assert_int_equal(match(r, "GET", "/api/v1/cases/042/photos/7", &m, NULL, 0), ERR_NOTFOUND);
    assert_int_equal(match(r, "GET", "/api/v1/cases/x/photos/7", &m, NULL, 0), ERR_NOTFOUND);
    router_free(r);
}

static void test_string_param(void **state)
{
    struct router *r = make();
    struct route_match m;

    (void)state;
    /* Not named id or *_id: any non-empty segment, leading zeros and all. */
    assert_int_equal(match(r, "GET", "/api/v1/categories/road-damage", &m, NULL, 0), ERR_OK);
    assert_param(&m, 0, "code", "road-damage");
    assert_int_equal(match(r, "GET", "/api/v1/categories/007", &m, NULL, 0), ERR_OK);
    assert_param(&m, 0, "code", "007");
    assert_int_equal(match(r, "GET", "/api/v1/categories/%E9%81%93", &m, NULL, 0), ERR_OK);
    assert_param(&m, 0, "code", "%E9%81%93");
    /* Never empty and never more than one segment. */
    assert_int_equal(match(r, "GET", "/api/v1/categories/", &m, NULL, 0), ERR_NOTFOUND);
    assert_int_equal(match(r, "GET", "/api/v1/categories/a/b", &m, NULL, 0), ERR_NOTFOUND);
    router_free(r);
}

static void test_404_vs_405(void **state)
{
    struct router *r = make();
    struct route_match m;
    char allow[128];

    (void)state;
    /* No pattern fits the path: 404, Allow untouched by meaning. */
    assert_int_equal(match(r, "GET", "/api/v1/nothing", &m, allow, sizeof allow), ERR_NOTFOUND);
    assert_int_equal(match(r, "GET", "/api/v2/cases", &m, allow, sizeof allow), ERR_NOTFOUND);
    /* A non-numeric id does not make the {id} path "exist": 404, not 405. */
    assert_int_equal(match(r, "PUT", "/api/v1/cases/abc/dispatch", &m, allow, sizeof allow),
                     ERR_NOTFOUND);

    /* The path exists with other methods: 405 and every method of it, each once, in the
     * router's fixed order, OPTIONS included. */
    assert_int_equal(match(r, "PUT", "/api/v1/cases", &m, allow, sizeof allow), ERR_METHOD);
    assert_string_equal(allow, "GET, POST, OPTIONS");
    assert_int_equal(match(r, "PATCH", "/api/v1/cases/5", &m, allow, sizeof allow), ERR_METHOD);
    assert_string_equal(allow, "GET, DELETE");
    assert_int_equal(match(r, "GET", "/api/v1/cases/5/dispatch", &m, allow, sizeof allow),
                     ERR_METHOD);
    assert_string_equal(allow, "POST");
    /* "mine" is not an id, so only the methods of the literal row are allowed there. */
    assert_int_equal(match(r, "DELETE", "/api/v1/cases/mine", &m, allow, sizeof allow), ERR_METHOD);
    assert_string_equal(allow, "GET");
    /* Methods are case-sensitive: "get" is not GET. */
    assert_int_equal(match(r, "get", "/api/v1/cases", &m, allow, sizeof allow), ERR_METHOD);
    /* allow may be NULL. */
    assert_int_equal(match(r, "PUT", "/api/v1/cases", &m, NULL, 0), ERR_METHOD);
    router_free(r);
}

/* BUG (reported): router.c router_match builds Allow with snprintf at an offset and only skips
 * advancing the offset when an entry did not fit; the truncated text snprintf already wrote
 * stays, so a short buffer ends in a torn method name ("GET, OPT"). Latent: server.c passes 96
 * bytes, more than the 43 all seven methods need. */
static void test_allow_truncation(void **state)
{
    struct router *r = make();
    struct route_match m;
    char allow[9]; /* room for "GET, POST" minus one character */
    enum err res;

    (void)state;
    /* A short buffer must hold whole method names only, never a torn "GET, PO". */
    res = match(r, "PUT", "/api/v1/cases", &m, allow, sizeof allow);
    router_free(r);
    assert_int_equal(res, ERR_METHOD);
    if (strcmp(allow, "GET") != 0)
        fail_msg("Allow in a 9-byte buffer is \"%s\", want \"GET\"", allow);
}

static void test_trailing_slash_and_odd_paths(void **state)
{
    struct router *r = make();
    struct route_match m;

    (void)state;
    /* A trailing slash is another path (strict, like the tables). */
    assert_int_equal(match(r, "GET", "/api/v1/cases/", &m, NULL, 0), ERR_NOTFOUND);
    assert_int_equal(match(r, "GET", "/api/v1/cases/12/", &m, NULL, 0), ERR_NOTFOUND);
    assert_int_equal(match(r, "GET", "/api/v1//cases", &m, NULL, 0), ERR_NOTFOUND);
    assert_int_equal(match(r, "GET", "//api/v1/cases", &m, NULL, 0), ERR_NOTFOUND);
    assert_int_equal(match(r, "GET", "api/v1/cases", &m, NULL, 0), ERR_NOTFOUND);
    assert_int_equal(match(r, "GET", "", &m, NULL, 0), ERR_NOTFOUND);
    /* More segments than any pattern may have. */
    assert_int_equal(match(r, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", &m, NULL, 0),
                     ERR_NOTFOUND);
    /* The root pattern "/" matches "/" only. */
    assert_int_equal(match(r, "GET", "/", &m, NULL, 0), ERR_OK);
    assert_string_equal(m.route->path, "/");
    /* path_len is honoured: the bytes after it are not part of the path. */
    assert_int_equal(router_match(r, "GET", 3, "/api/v1/cases?x=1", 13, &m, NULL, 0), ERR_OK);
    assert_string_equal(m.route->path, "/api/v1/cases");
    router_free(r);
}

static enum err compile_one(const struct route *rows, char *err, size_t errlen)
{
    const struct route *const tables[] = {rows, NULL};
    struct router *r = router_new(tables, err, errlen);

    if (!r)
        return ERR_INVALID;
    router_free(r);
    return ERR_OK;
}

static void expect_refused(const struct route *rows, const char *needle)
{
    char err[256] = "";

    if (compile_one(rows, err, sizeof err) == ERR_OK)
        fail_msg("%s %s: compiled, expected a refusal", rows[0].method ? rows[0].method : "?",
                 rows[0].path ? rows[0].path : "(null)");
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_clashes_refused(void **state)
{
    const struct route *const dup_tables[] = {cases_routes, cases_routes, NULL};
    char err[256] = "";
    /* clang-format off */
    static const struct route same_row[] = {
        {"GET", "/a/{id}", h_any, 0, 0, 0, 0, NULL, NULL},
        {"GET", "/a/{id}", h_any, 0, 0, 0, 0, NULL, NULL},
        {0},
    };
    static const struct route renamed_param[] = {
        {"GET", "/a/{id}/b", h_any, 0, 0, 0, 0, NULL, NULL},
        {"GET", "/a/{case_id}/b", h_any, 0, 0, 0, 0, NULL, NULL},
        {0},
    };
    static const struct route machine_no_scope[] = {
        {"GET", "/m", h_any, ROLE_STAFF | ROLE_MACHINE, 0, 0, 0, NULL, NULL},
        {0},
    };
    static const struct route machine_empty_scope[] = {
        {"GET", "/m", h_any, ROLE_MACHINE, 0, 0, 0, NULL, ""},
        {0},
    };
    static const struct route machine_scoped[] = {
        {"GET", "/m", h_any, ROLE_MACHINE, 0, 0, 0, NULL, "m:read"},
        {"GET", "/s", h_any, ROLE_STAFF, 0, 0, 0, NULL, NULL},
        {0},
    };
    static const struct route numeric_vs_string[] = {
        {"GET", "/a/{id}", h_any, 0, 0, 0, 0, NULL, NULL},
        {"GET", "/a/{code}", h_any, 0, 0, 0, 0, NULL, NULL},
        {0},
    };
    static const struct route fine[] = {
        {"GET", "/a/{id}", h_any, 0, 0, 0, 0, NULL, NULL},
        {"POST", "/a/{id}", h_any, 0, 0, 0, 0, NULL, NULL},
        {"GET", "/a/mine", h_any, 0, 0, 0, 0, NULL, NULL},
        {"GET", "/a/{id}/b", h_any, 0, 0, 0, 0, NULL, NULL},
        {"GET", "/a", h_any, 0, 0, 0, 0, NULL, NULL},
        {0},
    };
    /* clang-format on */

    (void)state;
    /* The same table registered twice (a resource listed twice in api.c). */
    assert_null(router_new(dup_tables, err, sizeof err));
    assert_non_null(strstr(err, "clashes"));
    assert_non_null(strstr(err, "/api/v1/cases"));

    expect_refused(same_row, "clashes");
    expect_refused(renamed_param, "clashes");
    expect_refused(numeric_vs_string, "clashes");
    /* A row open to machines names its API-key scope (issue 9 item 2). */
    expect_refused(machine_no_scope, "names no scope");
    expect_refused(machine_empty_scope, "names no scope");
    assert_int_equal(compile_one(machine_scoped, err, sizeof err), ERR_OK);
    assert_int_equal(compile_one(fine, err, sizeof err), ERR_OK);
}

static void test_bad_patterns_refused(void **state)
{
    /* clang-format off */
    static const struct route rows[][2] = {
        {{"GET", "api/v1/x", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},        /* no leading slash */
        {{"GET", "", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},                /* empty */
        {{"GET", NULL, h_any, 0, 0, 0, 0, NULL, NULL}, {0}},              /* no path */
        {{"GET", "/x", NULL, 0, 0, 0, 0, NULL, NULL}, {0}},               /* no handler */
        {{"FETCH", "/x", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},            /* unknown method */
        {{"get", "/x", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},              /* methods are upper-case */
        {{"GET", "/x/", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},             /* trailing slash */
        {{"GET", "/x//y", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},           /* empty segment */
        {{"GET", "/x/{}", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},           /* empty parameter name */
        {{"GET", "/x/{id", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},          /* unclosed */
        {{"GET", "/x/id}", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},          /* brace in a literal */
        {{"GET", "/x/a{id}", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},        /* parameter inside a segment */
        {{"GET", "/x?y=1", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},          /* query in a pattern */
        {{"GET", "/x%2Fy", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},          /* escapes in a pattern */
        {{"GET", "/{a}/{b}/{c}/{d}/{e}", h_any, 0, 0, 0, 0, NULL, NULL}, {0}}, /* > ROUTER_MAX_PARAMS */
        {{"GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13", h_any, 0, 0, 0, 0, NULL, NULL}, {0}}, /* > 12 segments */
    };
    /* clang-format on */

    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[256] = "";
        if (compile_one(rows[i], err, sizeof err) == ERR_OK)
            fail_msg("row %zu (%s %s) compiled, expected a refusal", i, rows[i][0].method,
                     rows[i][0].path ? rows[i][0].path : "(null)");
        assert_true(err[0] != '\0');
    }
    /* The limits themselves are fine. */
    {
        /* clang-format off */
        static const struct route ok[] = {
            {"GET", "/{a}/{b}/{c}/{d}", h_any, 0, 0, 0, 0, NULL, NULL},
            {"GET", "/1/2/3/4/5/6/7/8/9/10/11/12", h_any, 0, 0, 0, 0, NULL, NULL},
            {0},
        };
        /* clang-format on */
        char err[256] = "";
        assert_int_equal(compile_one(ok, err, sizeof err), ERR_OK);
    }
}

/* Parameter names are identifiers: a segment like {a}{b} must not compile into one parameter
 * named "a}{b". BUG (reported): router.c compile() only checks the first and last byte of the
 * segment, so "{a}{b}" and "{a b}" compile. */
static void test_param_names_are_identifiers(void **state)
{
    /* clang-format off */
    static const struct route rows[][2] = {
        {{"GET", "/x/{a}{b}", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},
        {{"GET", "/x/{a b}", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},
        {{"GET", "/x/{{id}}", h_any, 0, 0, 0, 0, NULL, NULL}, {0}},
    };
    /* clang-format on */

    char accepted[256] = "";
    size_t off = 0;

    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[256] = "";
        if (compile_one(rows[i], err, sizeof err) == ERR_OK)
            off += (size_t)snprintf(accepted + off, sizeof accepted - off, " %s", rows[i][0].path);
    }
    if (off)
        fail_msg("compiled, expected refusals:%s", accepted);
}

static void test_count_and_max_body(void **state)
{
    struct router *r = make();
    size_t n = router_count(r);

    (void)state;
    assert_int_equal(n, 10);
    assert_string_equal(router_at(r, 0)->path, "/api/v1/cases");
    assert_string_equal(router_at(r, n - 1)->path, "/");
    assert_null(router_at(r, n));
    /* The largest limit of any row; h2o's own entity limit is set from it. */
    assert_int_equal(router_max_body(r), 64 * 1024);
    router_free(r);
    {
        /* clang-format off */
        static const struct route none[] = {{"GET", "/x", h_any, 0, 0, 0, 0, NULL, NULL}, {0}};
        /* clang-format on */
        const struct route *const tables[] = {none, NULL};
        char err[64];
        struct router *z = router_new(tables, err, sizeof err);
        assert_non_null(z);
        assert_int_equal(router_max_body(z), 0);
        router_free(z);
    }
    router_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_beats_param),
        cmocka_unit_test(test_literal_beats_param_any_table_order),
        cmocka_unit_test(test_numeric_id),
        cmocka_unit_test(test_string_param),
        cmocka_unit_test(test_404_vs_405),
        cmocka_unit_test(test_allow_truncation),
        cmocka_unit_test(test_trailing_slash_and_odd_paths),
        cmocka_unit_test(test_clashes_refused),
        cmocka_unit_test(test_bad_patterns_refused),
        cmocka_unit_test(test_param_names_are_identifiers),
        cmocka_unit_test(test_count_and_max_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
