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
#include <math.h>
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

/* Declarative PATCH (issue 9 item 5): values land in the domain's struct with their sent flags,
 * and null means what the row says. */
struct patch {
    bool has_name, has_region, has_active, has_limit;
    const char *name;
    int64_t region_id;
    bool active;
    int limit;
};

#define P(name, type, null, m, has, max_len, min, max)                                             \
    API_PATCH(struct patch, name, type, null, m, has, max_len, min, max)
static const struct api_patch_field patch_fields[] = {
    P("name", API_STR, API_NULL_REFUSED, name, has_name, 8, 1, 0),
    P("region_id", API_I64, API_NULL_CLEARS, region_id, has_region, 0, 1, INT64_MAX),
    P("active", API_BOOL, API_NULL_ABSENT, active, has_active, 0, 0, 0),
    P("limit", API_INT, API_NULL_REFUSED, limit, has_limit, 0, 1, 525600),
    {0},
};
#undef P

static enum err patch_run(const char *text, bool nothing_ok, struct patch *p, char *msg)
{
    struct rctx cx;
    json_t *j = json_loads(text, 0, NULL);
    enum err res;

    assert_non_null(j);
    memset(p, 0, sizeof *p);
    p->region_id = 99;
    rctx_init(&cx);
    res = api_json_patch(&cx, j, patch_fields, p, nothing_ok);
    snprintf(msg, RCTX_MSG_MAX, "%s", res ? rctx_message(&cx, res) : "");
    if (p->name)
        p->name = strcmp(p->name, "东城") == 0 ? "东城" : "?"; /* pool memory ends below */
    rctx_dispose(&cx);
    json_decref(j);
    return res;
}

static void test_patch_declarative(void **state)
{
    struct patch p;
    char msg[RCTX_MSG_MAX];

    (void)state;
    assert_int_equal(patch_run("{\"name\":\"东城\",\"limit\":60}", false, &p, msg), ERR_OK);
    assert_true(p.has_name && p.has_limit);
    assert_false(p.has_region || p.has_active);
    assert_string_equal(p.name, "东城");
    assert_int_equal(p.limit, 60);
    assert_int_equal(p.region_id, 99); /* untouched */

    /* null: clears region_id (sent, 0), is as if absent for active, refused for name. */
    assert_int_equal(patch_run("{\"region_id\":null,\"active\":null}", false, &p, msg), ERR_OK);
    assert_true(p.has_region);
    assert_int_equal(p.region_id, 0);
    assert_false(p.has_active);
    assert_int_equal(patch_run("{\"name\":null}", false, &p, msg), ERR_INVALID);
    assert_non_null(strstr(msg, "name: may not be null"));

    /* Nothing sent: refused unless allowed; active:null alone sends nothing. */
    assert_int_equal(patch_run("{}", false, &p, msg), ERR_INVALID);
    assert_non_null(strstr(msg, "nothing to change"));
    assert_int_equal(patch_run("{\"active\":null}", false, &p, msg), ERR_INVALID);
    assert_int_equal(patch_run("{}", true, &p, msg), ERR_OK);

    /* Types, ranges (an int field refuses what does not fit), unknown fields. */
    assert_int_equal(patch_run("{\"limit\":0}", false, &p, msg), ERR_INVALID);
    assert_non_null(strstr(msg, "limit: must be between 1 and 525600"));
    assert_int_equal(patch_run("{\"limit\":4294967297}", false, &p, msg), ERR_INVALID);
    assert_int_equal(p.limit, 0);
    assert_int_equal(patch_run("{\"limit\":\"60\"}", false, &p, msg), ERR_INVALID);
    assert_int_equal(patch_run("{\"name\":\"123456789\"}", false, &p, msg), ERR_INVALID);
    assert_int_equal(patch_run("{\"owner\":1}", false, &p, msg), ERR_INVALID);
    assert_non_null(strstr(msg, "\"owner\" is not accepted"));
    assert_int_equal(patch_run("{\"active\":true,\"region_id\":0}", false, &p, msg),
                     ERR_INVALID); /* region_id min 1 */
}

/* A body of one field decodes straight into a variable: a one-row table at offset 0. */
static enum err one_run(const char *text, const struct api_field *f, void *var, char *msg)
{
    struct rctx cx;
    struct req rq = body_req(text, strlen(text));
    enum err res;

    rctx_init(&cx);
    res = api_json_input(&cx, &rq, f, var, NULL);
    snprintf(msg, RCTX_MSG_MAX, "%s", res ? rctx_message(&cx, res) : "");
    if (!res && f->type == API_STR && *(char **)var)
        *(char **)var = strdup(*(char **)var); /* outlive the pool */
    rctx_dispose(&cx);
    return res;
}

static void test_decode_one_field_into_variable(void **state)
{
    static const struct api_field reason_fields[] = {{"reason", API_STR, true, 0, 8, 1, 0}, {0}};
    static const struct api_field pos_fields[] = {{"position", API_I64, false, 0, 0, 0, 99}, {0}};
    char msg[RCTX_MSG_MAX], *reason = NULL;
    int64_t position = -1;

    (void)state;
    assert_int_equal(one_run("{\"reason\":\"丢失\"}", reason_fields, &reason, msg), ERR_OK);
    assert_non_null(reason);
    assert_string_equal(reason, "丢失");
    free(reason);
    reason = NULL;
    assert_int_equal(one_run("{}", reason_fields, &reason, msg), ERR_INVALID);
    assert_string_equal(msg, "reason: required");
    assert_null(reason);
    assert_int_equal(one_run("{\"reason\":\"123456789\"}", reason_fields, &reason, msg),
                     ERR_INVALID);
    assert_string_equal(msg, "reason: at most 8 bytes");
    assert_int_equal(one_run("{\"reason\":\"x\",\"why\":1}", reason_fields, &reason, msg),
                     ERR_INVALID);

    /* An optional field not sent, or null, leaves the variable as the caller set it. */
    assert_int_equal(one_run("{}", pos_fields, &position, msg), ERR_OK);
    assert_int_equal(position, -1);
    assert_int_equal(one_run("{\"position\":null}", pos_fields, &position, msg), ERR_OK);
    assert_int_equal(position, -1);
    assert_int_equal(one_run("{\"position\":42}", pos_fields, &position, msg), ERR_OK);
    assert_int_equal(position, 42);
    assert_int_equal(one_run("{\"position\":100}", pos_fields, &position, msg), ERR_INVALID);
    assert_string_equal(msg, "position: must be between 0 and 99");
    assert_int_equal(position, 42);
}

/* "Was it sent": api_json_sent names a row of the table *present was filled with. */
static void test_decode_sent(void **state)
{
    struct rctx cx;
    struct in in;
    json_error_t e;
    json_t *j = json_loads("{\"title\":\"abc\",\"f\":0,\"b\":null,\"extra\":null}", 0, &e);
    uint64_t present = 0;

    (void)state;
    assert_non_null(j);
    memset(&in, 0, sizeof in);
    rctx_init(&cx);
    assert_int_equal(api_json_decode(&cx, j, fields, &in, &present), ERR_OK);
    assert_true(api_json_sent(fields, present, "title"));
    assert_true(api_json_sent(fields, present, "f"));      /* sent as 0: sent */
    assert_false(api_json_sent(fields, present, "n"));     /* absent */
    assert_false(api_json_sent(fields, present, "b"));     /* null: as if absent */
    assert_false(api_json_sent(fields, present, "extra")); /* null */
    assert_false(api_json_sent(fields, present, "nosuch"));
    rctx_dispose(&cx);
    json_decref(j);
}

/* "HH:MM" decodes straight into minutes of the day, within the row's range. */
static void test_decode_hhmm(void **state)
{
    struct hm {
        int start, end;
    } v;
    static const struct api_field f[] = {
        {"start", API_HHMM, true, offsetof(struct hm, start), 0, 0, 1439},
        {"end", API_HHMM, false, offsetof(struct hm, end), 0, 0, 1440},
        {0},
    };
    static const char *const bad[] = {"\"8:30\"",  "\"08:3\"",  "\"08-30\"",  "\"+8:30\"",
                                      "\" 8:30\"", "\"08:60\"", "\"08:30 \"", "\"0a:30\"",
                                      "830",       "null"};
    char msg[RCTX_MSG_MAX], text[64];

    (void)state;
    v = (struct hm){-1, -1};
    assert_int_equal(one_run("{\"start\":\"08:30\",\"end\":\"24:00\"}", f, &v, msg), ERR_OK);
    assert_int_equal(v.start, 8 * 60 + 30);
    assert_int_equal(v.end, 1440);
    assert_int_equal(one_run("{\"start\":\"00:00\"}", f, &v, msg), ERR_OK);
    assert_int_equal(v.start, 0);
    assert_int_equal(one_run("{\"start\":\"23:59\"}", f, &v, msg), ERR_OK);
    assert_int_equal(v.start, 1439);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, "{\"start\":%s}", bad[i]);
        v = (struct hm){-1, -1};
        if (one_run(text, f, &v, msg) != ERR_INVALID)
            fail_msg("%s: expected invalid_argument", text);
        assert_string_equal(msg, "start: \"HH:MM\""); /* null too: the field is required */
        assert_int_equal(v.start, -1);
    }
    /* Well formed but outside the row's range: the range is named. */
    assert_int_equal(one_run("{\"start\":\"24:00\"}", f, &v, msg), ERR_INVALID);
    assert_string_equal(msg, "start: \"HH:MM\" from 00:00 to 23:59");
    assert_int_equal(one_run("{\"start\":\"01:00\",\"end\":\"24:01\"}", f, &v, msg), ERR_INVALID);
    assert_string_equal(msg, "end: \"HH:MM\" from 00:00 to 24:00");
    assert_int_equal(one_run("{\"start\":\"99:59\"}", f, &v, msg), ERR_INVALID);
}

/* Issue 9 item 7: a report at 31.3 N came back as 31.300000000000001. */
static void test_real_text_shortest(void **state)
{
    static const struct {
        double d;
        const char *want;
    } cases[] = {
        {31.3, "31.3"},
        {121.4737, "121.4737"},
        {0.1, "0.1"},
        {0.1 + 0.2, "0.30000000000000004"},
        {-33.8688197, "-33.8688197"},
        {5.0, "5.0"},
        {-0.0, "-0.0"},
        {1e21, "1e21"},
        {1.5e-7, "1.5e-7"},
        {123456789012345680.0, "1.2345678901234568e17"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
    };
    char buf[32];
    uint64_t x = 88172645463325252ull;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = api_json_real_text(cases[i].d, buf);
        assert_string_equal(buf, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
    /* Any double reads back exactly; a coordinate typed with up to 7 decimals comes back with
     * no more digits than were typed. */
    for (int i = 0; i < 200000; i++) {
        double d;
        char typed[32];
        size_t digits = 0, typed_digits = 0;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(&d, &x, sizeof d);
        if (isfinite(d)) {
            api_json_real_text(d, buf);
            if (strtod(buf, NULL) != d)
                fail_msg("%s does not read back as %.17g", buf, d);
        }
        snprintf(typed, sizeof typed, "%s%llu.%07llu", x & 1 ? "-" : "",
                 (unsigned long long)(x >> 8) % 180, (unsigned long long)(x >> 20) % 10000000);
        d = strtod(typed, NULL);
        api_json_real_text(d, buf);
        if (strtod(buf, NULL) != d)
            fail_msg("%s does not read back as %s", buf, typed);
        for (const char *c = buf; *c; c++)
            digits += *c >= '0' && *c <= '9';
        for (const char *c = typed; *c; c++)
            typed_digits += *c >= '0' && *c <= '9';
        if (digits > typed_digits + 1) /* "5.0" for a typed "5" */
            fail_msg("%s came back as %s", typed, buf);
    }
}

/* api_json_text writes what json_dumps(JSON_COMPACT) writes, but for the reals. */
static void test_json_text_matches_jansson(void **state)
{
    static const char *docs[] = {
        "{}",
        "[]",
        "{\"a\":1,\"z\":[true,false,null],\"b\":{\"c\":\"d\"},\"e\":-9223372036854775807}",
        ("{\"s\":\"quote \\\" back \\\\ slash / ctl \\u0001\\u001f\\b\\f\\n\\r\\t nul \\u0000 "
         "end\"}"), /* one document over two lines */
        "{\"城管\":\"市民通 ✓ 𝄞\",\"k\":[[],{},[{}]]}",
        "[\"\",0,-1,1234567890123]",
    };
    struct rctx cx;
    json_t *j;
    const char *text;
    size_t len;

    (void)state;
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char *want;
        json_error_t e;

        j = json_loads(docs[i], JSON_ALLOW_NUL, &e);
        if (!j)
            fail_msg("%s: %s", docs[i], e.text);
        want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        rctx_init(&cx);
        assert_int_equal(api_json_text(&cx, j, &text, &len), ERR_OK);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(text, want, len);
        rctx_dispose(&cx);
        free(want);
        json_decref(j);
    }
    /* Reals: the shortest form, inside the same structure. */
    j = json_pack("{s:{s:f,s:f,s:n},s:[f,f]}", "location", "lat", 31.3, "lng", 121.4737, "accuracy",
                  "r", 0.1 + 0.2, 7.0);
    rctx_init(&cx);
    assert_int_equal(api_json_text(&cx, j, &text, &len), ERR_OK);
    assert_string_equal(text, "{\"location\":{\"lat\":31.3,\"lng\":121.4737,\"accuracy\":null},"
                              "\"r\":[0.30000000000000004,7.0]}");
    assert_int_equal(len, strlen(text));
    rctx_dispose(&cx);
    json_decref(j);
}

/* Issue 9 item 5: 2026-02-31 was accepted and rolled into March. */
static void test_parse_time_refuses_impossible_dates(void **state)
{
    static const char *bad[] = {
        "2026-02-31T00:00:00Z",
        "2026-02-29T12:00:00Z",
        "2026-04-31T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2026-06-31T08:00:00+08:00",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-32T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-+1-01T00:00:00Z",
        "2026-01- 1T00:00:00Z",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+08:60",
        "2026-01-01T00:00:00+8:000",
        "2026-01-01",
        "2026-01-01T00:00:00",
    };
    static const struct {
        const char *v;
        int64_t ms;
    } good[] = {
        {"2024-02-29T00:00:00Z", 1709164800000},
        {"2000-02-29T00:00:00Z", 951782400000},
        {"2026-02-28T23:59:59Z", 1772323199000},
        {"2026-12-31T16:00:00.123-08:00", 1798761600000},
        {"2026-03-01T08:00:00+08:00", 1772323200000},
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rctx cx;
        int64_t out = -1;
        enum err res;

        rctx_init(&cx);
        res = api_parse_time(&cx, "at", bad[i], false, &out);
        if (res != ERR_INVALID || out != -1)
            fail_msg("%s was accepted (%lld)", bad[i], (long long)out);
        assert_non_null(strstr(rctx_message(&cx, res), "at: "));
        rctx_dispose(&cx);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct rctx cx;
        int64_t out = -1;

        rctx_init(&cx);
        if (api_parse_time(&cx, "at", good[i].v, false, &out) != ERR_OK)
            fail_msg("%s: %s", good[i].v, rctx_message(&cx, ERR_INVALID));
        assert_int_equal(out, good[i].ms);
        rctx_dispose(&cx);
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
        cmocka_unit_test(test_real_text_shortest),
        cmocka_unit_test(test_json_text_matches_jansson),
        cmocka_unit_test(test_parse_time_refuses_impossible_dates),
        cmocka_unit_test(test_patch_declarative),
        cmocka_unit_test(test_decode_one_field_into_variable),
        cmocka_unit_test(test_decode_hhmm),
        cmocka_unit_test(test_decode_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
