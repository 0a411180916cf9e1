/* tests/unit/test_geo.c: api/domain/geo.c — distances, point in grid with a tolerance,
 * Douglas–Peucker and the GCJ-02 offset against an independent reference table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>
#include "api/domain/geo.h"

/* The demo city's grid 东华一网格: 0.01° square at 120.60 E, 31.30 N. */
static const double grid[5][2] = {
    {120.60, 31.30}, {120.61, 31.30}, {120.61, 31.31}, {120.60, 31.31}, {120.60, 31.30}};

static void test_distance(void **state)
{
    (void)state;
    /* One degree of latitude on the mean sphere: 111.195 km. */
    assert_true(fabs(geo_dist_m(31.0, 120.0, 32.0, 120.0) - 111195.08) < 1.0);
    assert_true(geo_dist_m(31.3, 120.6, 31.3, 120.6) == 0.0);
    assert_true(geo_valid(31.3, 120.6));
    assert_false(geo_valid(0, 0));
    assert_false(geo_valid(91, 10));
    assert_false(geo_valid(10, -181));
    assert_false(geo_valid(NAN, 10));
}

static void test_point_in_grid(void **state)
{
    double d;
    (void)state;
    assert_true(geo_ring_within(31.305, 120.605, grid, 5, 0, &d));
    assert_true(d == 0);
    /* 100 m west of the west edge: outside with 30 m tolerance, inside with 150 m. */
    double lng = 120.60 - 100.0 / (111195.08 * cos(31.305 * M_PI / 180));
    assert_false(geo_ring_within(31.305, lng, grid, 5, 30, &d));
    assert_true(fabs(d - 100) < 0.5);
    assert_true(geo_ring_within(31.305, lng, grid, 5, 150, &d));
    /* 10 m outside the north edge: inside with a 30 m tolerance, outside with none. */
    double lat = 31.31 + 10.0 / 111195.08;
    assert_true(geo_ring_within(lat, 120.605, grid, 5, 30, &d));
    assert_true(fabs(d - 10) < 0.1);
    assert_false(geo_ring_within(lat, 120.605, grid, 5, 0, NULL));
}

static void test_simplify(void **state)
{
    double pts[5][2] = {{31.300, 120.600},
                        {31.30001, 120.601},
                        {31.300, 120.602},
                        {31.305, 120.603},
                        {31.300, 120.604}};
    bool keep[5];
    size_t scratch[10];
    (void)state;
    /* The second point is 1.1 m off the line: dropped at 5 m, kept at 0.5 m; the spike at the
     * fourth is kept at any sane tolerance. */
    geo_simplify((const double(*)[2])pts, 5, 5, keep, scratch);
    assert_true(keep[0] && !keep[1] && keep[2] && keep[3] && keep[4]);
    geo_simplify((const double(*)[2])pts, 5, 0.5, keep, scratch);
    assert_true(keep[0] && keep[1] && keep[2] && keep[3] && keep[4]);
    geo_simplify((const double(*)[2])pts, 5, 0, keep, scratch);
    assert_true(keep[1]);
}

/* Reference values from hujiulong/gcoord's test suite (test/unit/crs/WGS84.spec.ts and
 * GCJ02.spec.ts), an implementation independent of ours. */
static const struct {
    double wlat, wlng, glat, glng;
    int forward; /* 1: WGS → GCJ given; 0: GCJ → WGS given */
} ref[] = {
    {45.0, 123.0, 45.00197815, 123.00607541, 1},
    {44.99804071, 122.99395597, 45.0, 123.0, 0},
};

static void test_gcj02(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        double a, b;
        if (ref[i].forward) {
            geo_wgs_to_gcj(ref[i].wlat, ref[i].wlng, &a, &b);
            assert_true(geo_dist_m(a, b, ref[i].glat, ref[i].glng) < 1.0);
        } else {
            geo_gcj_to_wgs(ref[i].glat, ref[i].glng, &a, &b);
            assert_true(geo_dist_m(a, b, ref[i].wlat, ref[i].wlng) < 1.0);
        }
    }
    /* Round trips across the country stay within a centimetre; the offset itself is hundreds
     * of metres, and nothing moves outside China. */
    for (double lat = 20; lat <= 50; lat += 7.5)
        for (double lng = 80; lng <= 130; lng += 12.5) {
            double gl, gn, wl, wn;
            geo_wgs_to_gcj(lat, lng, &gl, &gn);
            assert_true(geo_dist_m(lat, lng, gl, gn) > 50);
            geo_gcj_to_wgs(gl, gn, &wl, &wn);
            assert_true(geo_dist_m(lat, lng, wl, wn) < 0.01);
        }
    {
        double a, b;
        geo_wgs_to_gcj(48.85, 2.35, &a, &b);
        assert_true(a == 48.85 && b == 2.35);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_point_in_grid),
        cmocka_unit_test(test_simplify),
        cmocka_unit_test(test_gcj02),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
