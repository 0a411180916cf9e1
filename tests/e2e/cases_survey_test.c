/* tests/e2e/cases_survey_test.c: 专项普查 — a dispatcher defines a survey, inspectors submit
 * located answer sheets in their target grids, progress per grid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"

static struct th_server srv;
static long long grid1, grid3;

static int setup(void **state)
{
    th_server_start(&srv, NULL);
    th_seed(&srv);
    grid1 = th_sql_int(&srv, "SELECT id FROM grids WHERE code = '999901001001001'");
    grid3 = th_sql_int(&srv, "SELECT id FROM grids WHERE code = '999902001001001'");
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

static void iso(time_t t, char *out, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void survey_lifecycle(void **state)
{
    char body[2048], from[32], to[32], path[64];
    struct th_resp r;
    long long sid;
    json_t *p, *it;
    size_t i;

    iso(time(NULL) - 3600, from, sizeof from);
    iso(time(NULL) + 86400, to, sizeof to);
    snprintf(
        body, sizeof body,
        "{\"title\":\"共享单车乱停放普查\",\"fields\":[{\"name\":\"bikes\",\"type\":\"number\","
        "\"required\":true},{\"name\":\"blocking\",\"type\":\"bool\"},{\"name\":\"brand\","
        "\"type\":\"choice\",\"options\":[\"A\",\"B\"]}],\"grid_ids\":[%lld,%lld],"
        "\"starts_at\":\"%s\",\"ends_at\":\"%s\"}",
        grid1, grid3, from, to);
    th_post(&srv, "inspector", "/api/v1/surveys", NULL, body, &r);
    assert_int_equal(r.status, 403);
    th_resp_free(&r);
    th_post(&srv, "dispatcher", "/api/v1/surveys", "survey-1", body, &r);
    if (r.status != 201)
        fail_msg("create: %ld %s", r.status, r.body);
    sid = (long long)json_integer_value(json_object_get(r.json, "id"));
    th_resp_free(&r);
    th_post(&srv, "dispatcher", "/api/v1/surveys", "survey-1", body, &r); /* retry */
    assert_int_equal(r.status, 201);
    assert_int_equal(json_integer_value(json_object_get(r.json, "id")), sid);
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM surveys"), 1);

    /* Bad checklists. */
    th_post(&srv, "dispatcher", "/api/v1/surveys", NULL,
            "{\"title\":\"x\",\"fields\":[{\"name\":\"a\",\"type\":\"photo\"}],\"grid_ids\":[1],"
            "\"starts_at\":\"2030-01-01T00:00:00Z\",\"ends_at\":\"2030-01-02T00:00:00Z\"}",
            &r);
    assert_int_equal(r.status, 400);
    th_resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/surveys/%lld/items", sid);
    th_post(&srv, "inspector", path, "item-1",
            "{\"location\":{\"lat\":31.305,\"lng\":120.605},\"answers\":{\"bikes\":12,"
            "\"blocking\":true,\"brand\":\"A\"}}",
            &r);
    if (r.status != 201)
        fail_msg("item: %ld %s", r.status, r.body);
    assert_int_equal(json_integer_value(json_object_get(r.json, "grid_id")), grid1);
    th_resp_free(&r);
    /* Grid 3 is a target, but not the inspector's. */
    th_post(&srv, "inspector", path, NULL,
            "{\"location\":{\"lat\":31.305,\"lng\":120.585},\"answers\":{\"bikes\":1}}", &r);
    assert_int_equal(r.status, 400);
    th_resp_free(&r);
    static const char *const bad[] = {
        "{\"location\":{\"lat\":31.305,\"lng\":120.605},\"answers\":{}}",
        "{\"location\":{\"lat\":31.305,\"lng\":120.605},\"answers\":{\"bikes\":\"many\"}}",
        "{\"location\":{\"lat\":31.305,\"lng\":120.605},\"answers\":{\"bikes\":1,\"x\":1}}",
        "{\"location\":{\"lat\":31.305,\"lng\":120.605},\"answers\":{\"bikes\":1,\"brand\":\"C\"}}",
        "{\"location\":{\"lat\":95,\"lng\":120.605},\"answers\":{\"bikes\":1}}",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        th_post(&srv, "inspector", path, NULL, bad[k], &r);
        if (r.status != 400)
            fail_msg("bad %zu: %ld %s", k, r.status, r.body);
        th_resp_free(&r);
    }
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM survey_items"), 1);

    snprintf(path, sizeof path, "/api/v1/surveys/%lld", sid);
    th_get(&srv, path, th_token(&srv, "inspector"), &r);
    assert_int_equal(r.status, 200);
    p = json_object_get(r.json, "progress");
    assert_int_equal(json_array_size(p), 2);
    json_array_foreach(p, i, it)
    {
        long long g = (long long)json_integer_value(json_object_get(it, "grid_id"));
        assert_int_equal(json_integer_value(json_object_get(it, "items")), g == grid1 ? 1 : 0);
    }
    th_resp_free(&r);
    th_get(&srv, "/api/v1/surveys", th_token(&srv, "inspector"), &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    th_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(survey_lifecycle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
