/* tests/e2e/refdata_test.c: a report reads categories, case settings, the work calendar and the
 * grids from in-process copies (api/domain/refdata.c). An admin's change to any of them — made
 * through the API, or straight in the database — is seen by the very next report, of this
 * process and of a second cityd process on the same database (a second node). Each test warms
 * the copies with a report first, so a stale copy would be used if invalidation failed.
 * Its own server: the clock moves for everything in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"
#include "th_assert.h"

static struct th_server srv;
static long long cat0102;

static int setup(void **state)
{
    th_server_start(&srv, "testing.clock_control = true\n");
    th_seed(&srv);
    cat0102 = th_sqlf(&srv, "SELECT id FROM categories WHERE code_set = 'gbt30428' AND"
                            " kind = 'event' AND full_code = '0102'");
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

/* A report by the inspector on server s in grid 1 (or at where): its due_at (static buffer). */
static const char *due_of_report(struct th_server *s, const char *where)
{
    static char due[64];
    struct th_resp r;

    th_report_resp(s, "inspector", where, &r);
    th_expect(&r, 201, NULL);
    snprintf(due, sizeof due, "%s", th_jstr(r.json, "due_at"));
    th_resp_free(&r);
    return due;
}

static void patch_category(const char *body)
{
    char path[64];

    snprintf(path, sizeof path, "/api/v1/categories/%lld", cat0102);
    th_check(&srv, "admin", "PATCH", path, body, 200, NULL);
}

/* Wednesday 2030-01-09 10:00 (UTC+8): 0102's 立案时限 of 30 working minutes ends 10:30 local
 * (02:30Z); 90 minutes end 11:30 (03:30Z). A deactivated category takes no report. */
static void category_change_is_seen_by_the_next_report(void **state)
{
    struct th_resp r;

    th_clock_at(&srv, 2030, 1, 9, 2, 0);
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-09T02:30:00.000Z");
    patch_category("{\"limit_register_min\":90}");
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-09T03:30:00.000Z");

    patch_category("{\"active\":false}");
    th_report_resp(&srv, "inspector", NULL, &r);
    th_expect(&r, 400, "invalid_argument");
    assert_non_null(strstr(r.body, "no longer in use"));
    th_resp_free(&r);
    patch_category("{\"active\":true,\"limit_register_min\":30}");
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-09T02:30:00.000Z");

    /* Straight in the database (an operator at the mariadb prompt): the trigger counts it. */
    th_sql_execf(&srv, "UPDATE categories SET limit_register_min = 60 WHERE id = %lld", cat0102);
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-09T03:00:00.000Z");
    th_sql_execf(&srv, "UPDATE categories SET limit_register_min = 30 WHERE id = %lld", cat0102);
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-09T02:30:00.000Z");
}

/* The same Wednesday 10:00 local with the morning period ending 10:10: 10 minutes that
 * morning, 20 from 13:30, so 13:50 local (05:50Z). */
static void case_settings_change_is_seen_by_the_next_report(void **state)
{
    th_clock_at(&srv, 2030, 1, 9, 2, 0);
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-09T02:30:00.000Z");
    th_check(&srv, "admin", "PATCH", "/api/v1/case-settings",
             "{\"work_periods\":\"08:30-10:10,13:30-17:30\"}", 200, NULL);
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-09T05:50:00.000Z");
    th_check(&srv, "admin", "PATCH", "/api/v1/case-settings",
             "{\"work_periods\":\"08:30-12:00,13:30-17:30\"}", 200, NULL);
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-09T02:30:00.000Z");
}

/* Friday 2030-01-11 17:20 local: 10 minutes on Friday, 20 on the next working day at 08:30
 * local — Monday 14th (00:50Z), or Tuesday 15th once Monday is a holiday. */
static void calendar_change_is_seen_by_the_next_report(void **state)
{
    th_clock_at(&srv, 2030, 1, 11, 9, 20);
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-14T00:50:00.000Z");
    th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-14",
             "{\"kind\":\"holiday\",\"name\":\"测试假日\"}", 201, NULL);
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-15T00:50:00.000Z");
    th_check(&srv, "admin", "DELETE", "/api/v1/calendar/days/2030-01-14", NULL, 204, NULL);
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-14T00:50:00.000Z");

    th_sql_exec(&srv, "INSERT INTO work_calendar_days (day, working, note) VALUES"
                      " ('2030-01-14', 0, 'raw SQL')");
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-15T00:50:00.000Z");
    th_sql_exec(&srv, "DELETE FROM work_calendar_days WHERE day = '2030-01-14'");
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-14T00:50:00.000Z");
}

/* The report's grid and region as the server answers, on server s at (lat, lng). */
static void report_grid(struct th_server *s, double lat, double lng, long long *grid,
                        long long *region)
{
    char where[128];
    struct th_resp r;

    snprintf(where, sizeof where, "\"location\":{\"lat\":%.5f,\"lng\":%.5f}", lat, lng);
    th_report_resp(s, "inspector", where, &r);
    th_expect(&r, 201, NULL);
    *grid = th_jint(r.json, "grid_id");
    *region = th_jint(r.json, "region_id");
    th_resp_free(&r);
}

/* A point outside every grid; a grid created around it; the next report lands in it; the grid
 * moved away (raw SQL) and the next report is outside again. */
static void grid_change_is_seen_by_the_next_report(void **state)
{
    long long street = th_sqlf(&srv, "SELECT id FROM regions WHERE code = '999901001'");
    long long grid, region, id;
    struct th_resp r;
    char *b;

    th_clock_at(&srv, 2030, 1, 9, 2, 0);
    report_grid(&srv, 31.405, 120.705, &grid, &region);
    assert_int_equal(grid, 0);
    b = th_xprintf("{\"code\":\"999901001001077\",\"name\":\"缓存测试网格\",\"region_id\":%lld,"
                   "\"boundary\":{\"type\":\"Polygon\",\"coordinates\":[[[120.70,31.40],"
                   "[120.71,31.40],[120.71,31.41],[120.70,31.41],[120.70,31.40]]]}}",
                   street);
    th_call(&srv, "admin", "POST", "/api/v1/grids", NULL, b, &r);
    free(b);
    th_expect(&r, 201, NULL);
    id = th_jint(r.json, "id");
    th_resp_free(&r);
    report_grid(&srv, 31.405, 120.705, &grid, &region);
    assert_int_equal(grid, id);
    assert_int_equal(region, th_sqlf(&srv, "SELECT region_id FROM grids WHERE id = %lld", id));
    /* Just outside its east edge: still no grid. */
    report_grid(&srv, 31.405, 120.7105, &grid, &region);
    assert_int_equal(grid, 0);

    th_sql_execf(&srv,
                 "UPDATE grids SET boundary = ST_GeomFromText('POLYGON((120.80 31.40,120.81"
                 " 31.40,120.81 31.41,120.80 31.41,120.80 31.40))') WHERE id = %lld",
                 id);
    report_grid(&srv, 31.405, 120.705, &grid, &region);
    assert_int_equal(grid, 0);
    report_grid(&srv, 31.405, 120.805, &grid, &region);
    assert_int_equal(grid, id);
    /* The in-process answer agrees with the database's own for a seeded grid. */
    report_grid(&srv, 31.305, 120.605, &grid, &region);
    assert_int_equal(grid, th_sqlf(&srv, "SELECT id FROM grids WHERE ST_Contains(boundary,"
                                         " ST_GeomFromText('POINT(120.605 31.305)')) ORDER BY id"
                                         " LIMIT 1"));
    assert_true(grid > 0);
}

/* Two processes on one database: a change made through one is seen by the next report on the
 * other, whose copies were warm. */
static void a_second_process_sees_the_change(void **state)
{
    struct th_server twin;

    th_clock_at(&srv, 2030, 1, 9, 2, 0);
    th_server_twin(&twin, &srv);
    th_clock_at(&twin, 2030, 1, 9, 2, 0); /* each process has its own clock */
    th_assert_minute(due_of_report(&twin, NULL), "2030-01-09T02:30:00.000Z");
    th_assert_minute(due_of_report(&srv, NULL), "2030-01-09T02:30:00.000Z");
    patch_category("{\"limit_register_min\":45}");
    th_assert_minute(due_of_report(&twin, NULL), "2030-01-09T02:45:00.000Z");
    th_check(&srv, "admin", "PUT", "/api/v1/calendar/days/2030-01-09",
             "{\"kind\":\"holiday\",\"name\":\"测试假日\"}", 201, NULL);
    /* Wednesday a holiday: 45 minutes from Thursday 08:30 local, 09:15 local (01:15Z). */
    th_assert_minute(due_of_report(&twin, NULL), "2030-01-10T01:15:00.000Z");
    th_check(&srv, "admin", "DELETE", "/api/v1/calendar/days/2030-01-09", NULL, 204, NULL);
    patch_category("{\"limit_register_min\":30}");
    th_assert_minute(due_of_report(&twin, NULL), "2030-01-09T02:30:00.000Z");
    assert_int_equal(th_server_stop(&twin), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(category_change_is_seen_by_the_next_report),
        cmocka_unit_test(case_settings_change_is_seen_by_the_next_report),
        cmocka_unit_test(calendar_change_is_seen_by_the_next_report),
        cmocka_unit_test(grid_change_is_seen_by_the_next_report),
        cmocka_unit_test(a_second_process_sees_the_change),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
