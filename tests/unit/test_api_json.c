/* tests/unit/test_api_json.c: api/api.c — api_json_body (depth cap before parsing, error
 * positions, objects only) and api_json_decode (unknown fields named, required fields, types,
 * lengths and ranges, integer lists). Each failing case runs in its own request context, since
 * a context keeps its first error message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "api/api.h"

struct in {
    char *title;
    int64_t n;
    double f;
    bool b;
    struct api_i64s ids;
    json_t *extra;
};

/* clang-format off */
static const struct api_field fields[] = {
    /* name     type       required offset                       max_len min  max */
    {"title", API_STR,   true,  offsetof(struct in, title), 5,      2,   0},
    {"n",     API_I64,   false, offsetof(struct in, n),     0,      1,   100},
    {"f",     API_F64,   false, offsetof(struct in, f),     0,      -90, 90},
    {"b",     API_BOOL,  false, offsetof(struct in, b),     0,      0,   0},
    {"ids",   API_I64S,  false, offsetof(struct in, ids),   3,      0,   0},
    {"extra", API_JSON,  false, offsetof(struct in, extra), 0,      0,   0},
    {0},
};
/* clang-format on */

struct outcome {
    enum err res;
    char msg[RCTX_MSG_MAX];
};

static struct req body_req(const char *body, size_t len)
{
    struct req rq;

    memset(&rq, 0, sizeof rq);
    rq.method = "POST";
    rq.method_len = 4;
    rq.path = "/api/v1/things";
    rq.path_len = strlen(rq.path);
    rq.body = body;
    rq.body_len = len;
    return rq;
}

/* Parse text as a body (and, when decode, decode it by fields) in a fresh context. */
static struct outcome run(const char *text, size_t len, bool allow_empty, bool decode)
{
    struct outcome o;
    struct rctx cx;
    struct req rq = body_req(text, len);
    struct in in;
    json_t *j = NULL;

    memset(&o, 0, sizeof o);
    memset(&in, 0, sizeof in);
    rctx_init(&cx);
    o.res = api_json_body(&cx, &rq, allow_empty, &j);
    if (!o.res && decode)
        o.res = api_json_decode(&cx, j, fields, &in, NULL);
    if (o.res)
        snprintf(o.msg, sizeof o.msg, "%s", rctx_message(&cx, o.res));
    rctx_dispose(&cx);
    return o;
}

static struct outcome body(const char *text)
{
    return run(text, strlen(text), false, false);
}

static struct outcome decode(const char *text)
{
    return run(text, strlen(text), false, true);
}

static void expect_invalid(struct outcome o, const char *needle, const char *input)
{
    if (o.res != ERR_INVALID)
        fail_msg("%s: expected invalid_argument, got %d", input, o.res);
    if (needle && !strstr(o.msg, needle))
        fail_msg("%s: message \"%s\" does not mention \"%s\"", input, o.msg, needle);
}

#define EXPECT_INVALID(call, text, needle) expect_invalid(call(text), needle, text)

/* "{"a": [[[...]]]}" with depth levels of nesting in all (the object counts as one). */
static char *nested(int depth, size_t *len)
{
    size_t n = 5 + 2 * (size_t)(depth - 1) + 2;
    char *s = malloc(n + 1);
    size_t o = 0;

    assert_non_null(s);
    memcpy(s + o, "{\"a\":", 5);
    o += 5;
    for (int i = 1; i < depth; i++)
        s[o++] = '[';
    if (depth == 1)
        s[o++] = '1';
    for (int i = 1; i < depth; i++)
        s[o++] = ']';
    s[o++] = '}';
    s[o] = '\0';
    *len = o;
    return s;
}

static void test_depth_limit(void **state)
{
    size_t len;
    char *s;
    struct outcome o;
    struct timespec t0, t1;
    double ms;

    (void)state;
    s = nested(API_JSON_MAX_DEPTH, &len);
    o = run(s, len, false, false);
    assert_int_equal(o.res, ERR_OK);
    free(s);

    s = nested(API_JSON_MAX_DEPTH + 1, &len);
    o = run(s, len, false, false);
    expect_invalid(o, "deeper than 32", "depth 33");
    free(s);

    /* 10,000 levels: refused by the byte scan, before jansson recurses, in well under a
     * second even under ASan. */
    s = nested(10000, &len);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    o = run(s, len, false, false);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    expect_invalid(o, "deeper than 32", "depth 10000");
    ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (ms > 500)
        fail_msg("10,000 levels took %.1f ms", ms);
    free(s);

    /* Unbalanced hostile input: only opening brackets. */
    s = malloc(10001);
    assert_non_null(s);
    memset(s, '[', 10000);
    o = run(s, 10000, false, false);
    expect_invalid(o, "deeper than 32", "10000 x [");
    free(s);
}

static void test_depth_ignores_strings(void **state)
{
    char s[256];
    size_t o = 0;

    (void)state;
    /* Brackets inside strings are text, escaped quotes do not end the string. */
    o += (size_t)snprintf(s + o, sizeof s - o, "{\"a\":\"\\\"");
    for (int i = 0; i < 100; i++)
        s[o++] = i % 2 ? '{' : '[';
    memcpy(s + o, "\\\\\",\"b\":\"]]]\"}", 15);
    assert_int_equal(run(s, strlen(s), false, false).res, ERR_OK);
}

static void test_syntax_errors(void **state)
{
    struct outcome o;

    (void)state;
    o = body("{\n  \"a\": 1,\n  \"b\": }");
    expect_invalid(o, "line 3", "missing value");
    if (!strstr(o.msg, "column"))
        fail_msg("message \"%s\" has no column", o.msg);
    EXPECT_INVALID(body, "{\"a\": 1", "line 1");
    EXPECT_INVALID(body, "{} x", "invalid JSON");
    EXPECT_INVALID(body, "{\"a\":1,\"a\":2}", NULL); /* duplicate keys */
    EXPECT_INVALID(body, "{'a':1}", NULL);
    EXPECT_INVALID(body, "\xff", NULL);
}

static void test_objects_only(void **state)
{
    struct rctx cx;
    struct req rq = body_req(NULL, 0);
    json_t *j = NULL;

    (void)state;
    EXPECT_INVALID(body, "[1,2]", "object");
    EXPECT_INVALID(body, "42", NULL);
    EXPECT_INVALID(body, "\"text\"", NULL);
    EXPECT_INVALID(body, "null", NULL);
    EXPECT_INVALID(body, "true", NULL);

    /* Empty body: an error unless allowed, then an empty object. */
    expect_invalid(run("", 0, false, false), "required", "empty");
    rctx_init(&cx);
    assert_int_equal(api_json_body(&cx, &rq, true, &j), ERR_OK);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 0);
    rctx_dispose(&cx);
}

static void test_decode_ok(void **state)
{
    const char *text = "{\"title\":\"abcde\",\"n\":100,\"f\":-12.5,\"b\":true,\"ids\":[3,1,2],"
                       "\"extra\":{\"k\":1}}";
    struct rctx cx;
    struct req rq = body_req(text, strlen(text));
    struct in in;
    json_t *j = NULL;
    uint64_t present = 0;

    (void)state;
    memset(&in, 0, sizeof in);
    rctx_init(&cx);
    assert_int_equal(api_json_body(&cx, &rq, false, &j), ERR_OK);
    assert_int_equal(api_json_decode(&cx, j, fields, &in, &present), ERR_OK);
    assert_string_equal(in.title, "abcde");
    assert_int_equal(in.n, 100);
    assert_true(in.f == -12.5);
    assert_true(in.b);
    assert_int_equal(in.ids.n, 3);
    assert_int_equal(in.ids.v[0], 3);
    assert_int_equal(in.ids.v[2], 2);
    assert_true(json_is_object(in.extra));
    assert_int_equal(present, 0x3f);
    rctx_dispose(&cx);
}

static void test_decode_optional_and_null(void **state)
{
    const char *text = "{\"title\":\"ab\",\"n\":null,\"ids\":[]}";
    struct rctx cx;
    struct req rq = body_req(text, strlen(text));
    struct in in;
    json_t *j = NULL;
    uint64_t present = 0;

    (void)state;
    memset(&in, 0, sizeof in);
    in.n = -7;
    rctx_init(&cx);
    assert_int_equal(api_json_body(&cx, &rq, false, &j), ERR_OK);
    assert_int_equal(api_json_decode(&cx, j, fields, &in, &present), ERR_OK);
    /* null on an optional field is "absent": not written, no present bit. */
    assert_int_equal(in.n, -7);
    assert_int_equal(present, (1u << 0) | (1u << 4));
    assert_int_equal(in.ids.n, 0);
    rctx_dispose(&cx);
    /* null on a required field is not a value. */
    EXPECT_INVALID(decode, "{\"title\":null}", "title");
    /* present may be NULL. */
    assert_int_equal(decode("{\"title\":\"ok\"}").res, ERR_OK);
}

static void test_decode_unknown_and_required(void **state)
{
    (void)state;
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"bogus\":1}", "\"bogus\"");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"Title\":\"x\"}", "\"Title\"");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"\":1}", "\"\"");
    EXPECT_INVALID(decode, "{}", "title: required");
    EXPECT_INVALID(decode, "{\"n\":5}", "title: required");
}

static void test_decode_types(void **state)
{
    (void)state;
    EXPECT_INVALID(decode, "{\"title\":5}", "title: expected a string");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"n\":\"5\"}", "n: expected an integer");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"n\":5.0}", "n: expected an integer");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"f\":\"1\"}", "f: expected a number");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"b\":1}", "b: expected true or false");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"b\":\"true\"}", "b:");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"ids\":7}", "ids: expected an array");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"ids\":{}}", "ids:");
}

static void test_decode_lengths_and_ranges(void **state)
{
    (void)state;
    /* Strings: max_len and min are bytes of UTF-8, not characters. */
    EXPECT_INVALID(decode, "{\"title\":\"abcdef\"}", "title: at most 5 bytes");
    EXPECT_INVALID(decode, "{\"title\":\"a\"}", "title: at least 2 bytes");
    EXPECT_INVALID(decode, "{\"title\":\"\"}", "title:");
    EXPECT_INVALID(decode, "{\"title\":\"汉字\"}", "title: at most 5 bytes");
    assert_int_equal(decode("{\"title\":\"汉\"}").res, ERR_OK);
    /* jansson refuses \u0000 itself; api_json_decode would refuse an embedded NUL too. */
    EXPECT_INVALID(decode, "{\"title\":\"a\\u0000b\"}", NULL);
    /* Integers within [min, max]. */
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"n\":0}", "n: must be between 1 and 100");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"n\":101}", "n:");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"n\":-9223372036854775808}", "n:");
    assert_int_equal(decode("{\"title\":\"abc\",\"n\":1}").res, ERR_OK);
    /* Beyond int64: jansson refuses the number itself. */
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"n\":9223372036854775808}", NULL);
    /* Doubles within [min, max]. */
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"f\":90.5}", "f:");
    assert_int_equal(decode("{\"title\":\"abc\",\"f\":-90}").res, ERR_OK);
}

static void test_decode_i64s(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"title\":\"abc\",\"ids\":[1,2,3]}").res, ERR_OK);
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"ids\":[1,2,3,4]}", "ids: at most 3 items");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"ids\":[1,0]}", "ids[1]");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"ids\":[-5]}", "ids[0]");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"ids\":[1,\"2\"]}", "ids[1]");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"ids\":[1.5]}", "ids[0]");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"ids\":[null]}", "ids[0]");
    EXPECT_INVALID(decode, "{\"title\":\"abc\",\"ids\":[[1]]}", "ids[0]");
}

/* api_json_time formats without gmtime_r; it must agree with it everywhere DATETIME goes. */
static void test_json_time_matches_gmtime(void **state)
{
    json_t *j = api_json_time(0);
    uint64_t x = 88172645463325252ull;

    (void)state;
    assert_true(json_is_null(j));
    json_decref(j);
    for (int i = 0; i < 200000; i++) {
        /* From 1000-01-01 to 9999-12-31, plus the days around leap years and epochs. */
        int64_t ms;
        char want[96];
        time_t t;
        struct tm tm;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (i < 4000)
            ms = ((int64_t)(i - 2000) * 86400 + (int64_t)(i % 7) * 3599) * 1000 + i % 1000;
        else
            ms = -30610224000000ll + (int64_t)(x % 283996800000000ull) + 1;
        if (ms == 0)
            continue;
        t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        gmtime_r(&t, &tm);
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms - (int64_t)t * 1000));
        j = api_json_time(ms);
        if (strcmp(json_string_value(j), want) != 0)
            fail_msg("%lld ms: %s, gmtime says %s", (long long)ms, json_string_value(j), want);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_depth_ignores_strings),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_objects_only),
        cmocka_unit_test(test_decode_ok),
        cmocka_unit_test(test_decode_optional_and_null),
        cmocka_unit_test(test_decode_unknown_and_required),
        cmocka_unit_test(test_decode_types),
        cmocka_unit_test(test_decode_lengths_and_ranges),
        cmocka_unit_test(test_decode_i64s),
        cmocka_unit_test(test_json_time_matches_gmtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
