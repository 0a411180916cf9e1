/* tests/e2e/citizen_pois_test.c: issue 14, nearby services — POIs imported by an admin from CSV
 * and GeoJSON (all or nothing, a re-import by ref updates), and GET /api/v1/pois/nearby
 * against a brute-force order computed here over every imported POI (type filter, radius,
 * limit), GCJ-02 in and out. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "th_api.h"
#include "th_assert.h"

#define NPOI 400

static struct th_server srv;

static const char *const types[] = {"toilet", "parking", "refuse_point"};

struct poi {
    long long id;
    int type;
    double lat, lng;
};
static struct poi pois[NPOI];

static uint64_t lcg = 88172645463325252ull;
static double unit(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

/* Great-circle distance as MariaDB's ST_Distance_Sphere computes it (its default radius); the
 * order does not depend on the radius. */
static double dist_m(double lat1, double lng1, double lat2, double lng2)
{
    double r = M_PI / 180.0, R = 6370986.0;
    double dlat = (lat2 - lat1) * r, dlng = (lng2 - lng1) * r;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * r) * cos(lat2 * r) * sin(dlng / 2) * sin(dlng / 2);
    return 2 * R * asin(sqrt(a));
}

static void import(const char *ctype, const char *query, const char *body, struct th_resp *r)
{
    char *auth = th_xprintf("Authorization: Bearer %s", th_token(&srv, "admin"));
    char *ct = th_xprintf("Content-Type: %s", ctype);
    char *path = th_xprintf("/api/v1/pois/import%s", query ? query : "");
    const char *hs[] = {auth, ct, NULL};

    th_request(&srv, "POST", path, hs, body, strlen(body), 0, r);
    free(auth);
    free(ct);
    free(path);
}

static int setup(void **state)
{
    size_t cap = NPOI * 96 + 64, len = 0;
    char *csv = malloc(cap);
    struct th_resp r;

    th_server_start(&srv, NULL);
    th_seed(&srv);
    /* 400 POIs within about 4 km of 苏州 (31.30, 120.60), with quoted names holding commas. */
    len += (size_t)snprintf(csv + len, cap - len, "type,name,lat,lng,address,ref\r\n");
    for (int i = 0; i < NPOI; i++) {
        pois[i].type = (int)(unit() * 3) % 3;
        pois[i].lat = 31.30 + (unit() - 0.5) * 0.07;
        pois[i].lng = 120.60 + (unit() - 0.5) * 0.08;
        len += (size_t)snprintf(csv + len, cap - len, "%s,\"设施 %d, 东区\",%.7f,%.7f,,p%d\r\n",
                                types[pois[i].type], i, pois[i].lat, pois[i].lng, i);
    }
    import("text/csv", NULL, csv, &r);
    free(csv);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "inserted"), NPOI);
    th_resp_free(&r);
    for (int i = 0; i < NPOI; i++) {
        char q[96];
        snprintf(q, sizeof q, "SELECT id FROM pois WHERE source_ref = 'p%d'", i);
        pois[i].id = th_sql_int(&srv, q);
        /* Stored as the 7 decimals sent. */
        pois[i].lat = round(pois[i].lat * 1e7) / 1e7;
        pois[i].lng = round(pois[i].lng * 1e7) / 1e7;
    }
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

struct cand {
    long long id;
    double d;
};

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

static void nearest_n_equals_brute_force(void **state)
{
    for (int q = 0; q < 12; q++) {
        double lat = 31.30 + (unit() - 0.5) * 0.06, lng = 120.60 + (unit() - 0.5) * 0.07;
        int type = q % 4 == 3 ? -1 : q % 3; /* every fourth query of any type */
        double radius = q % 2 ? 800 : 2500;
        int limit = q % 3 ? 10 : 40;
        struct cand all[NPOI];
        size_t n = 0, k;
        char path[200];
        struct th_resp r;
        json_t *items, *it;

        for (int i = 0; i < NPOI; i++) {
            double d = dist_m(lat, lng, pois[i].lat, pois[i].lng);
            if ((type < 0 || pois[i].type == type) && d <= radius)
                all[n++] = (struct cand){pois[i].id, d};
        }
        qsort(all, n, sizeof all[0], cmp_cand);
        if (n > (size_t)limit)
            n = (size_t)limit;
        snprintf(path, sizeof path,
                 "/api/v1/pois/nearby?lat=%.7f&lng=%.7f&radius=%.0f&limit=%d%s%s", lat, lng, radius,
                 limit, type < 0 ? "" : "&type=", type < 0 ? "" : types[type]);
        th_get_as(&srv, "citizen", path, &r);
        th_expect(&r, 200, NULL);
        items = json_object_get(r.json, "items");
        if (json_array_size(items) != n)
            fail_msg("query %d: %zu items, brute force %zu: %s", q, json_array_size(items), n,
                     path);
        json_array_foreach(items, k, it)
        {
            long long id = th_jint(it, "id");
            double d = json_real_value(json_object_get(it, "distance_m"));
            /* The same order; an exchange only between equally distant POIs (0.1 m rounding). */
            if (id != all[k].id && fabs(all[k].d - d) > 0.2)
                fail_msg("query %d item %zu: id %lld at %.1f m, brute force %lld at %.1f m", q, k,
                         id, d, all[k].id, all[k].d);
            assert_true(fabs(d - all[k].d) < 0.2);
            if (type >= 0)
                assert_string_equal(th_jstr(it, "type"), types[type]);
        }
        if (n)
            assert_true(n > 0);
        th_resp_free(&r);
    }
}

static void gcj02_in_and_out(void **state)
{
    char path[200];
    struct th_resp r;
    json_t *first, *loc;
    double glat, glng, off;

    /* The nearest POI to its own place, in WGS-84, then in GCJ-02. */
    snprintf(path, sizeof path, "/api/v1/pois/nearby?lat=%.7f&lng=%.7f&limit=1", pois[7].lat,
             pois[7].lng);
    th_get_as(&srv, "citizen", path, &r);
    th_expect(&r, 200, NULL);
    first = json_array_get(json_object_get(r.json, "items"), 0);
    assert_int_equal(th_jint(first, "id"), pois[7].id);
    assert_true(json_real_value(json_object_get(first, "distance_m")) < 0.2);
    th_resp_free(&r);

    /* Its GCJ-02 place: among the answers around it (in GCJ-02, all converted). */
    snprintf(path, sizeof path,
             "/api/v1/pois/nearby?lat=%.7f&lng=%.7f&limit=100&radius=2000&crs=gcj02", pois[7].lat,
             pois[7].lng);
    th_get_as(&srv, "citizen", path, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "crs"), "gcj02");
    loc = NULL;
    {
        size_t k;
        json_t *it;
        json_array_foreach(json_object_get(r.json, "items"), k, it)
        {
            if (th_jint(it, "id") == pois[7].id)
                loc = json_object_get(it, "location");
        }
    }
    assert_non_null(loc);
    glat = json_real_value(json_object_get(loc, "lat"));
    glng = json_real_value(json_object_get(loc, "lng"));
    th_resp_free(&r);
    /* GCJ-02 is offset by tens to hundreds of metres across China (tests/unit/test_geo.c). */
    off = dist_m(pois[7].lat, pois[7].lng, glat, glng);
    if (!(off > 20 && off < 1000))
        fail_msg("GCJ-02 offset %.1f m (%.7f, %.7f)", off, glat, glng);
    /* Asked at that GCJ-02 place, the POI is right there. */
    snprintf(path, sizeof path, "/api/v1/pois/nearby?lat=%.7f&lng=%.7f&limit=1&crs=gcj02", glat,
             glng);
    th_get_as(&srv, "citizen", path, &r);
    th_expect(&r, 200, NULL);
    first = json_array_get(json_object_get(r.json, "items"), 0);
    assert_int_equal(th_jint(first, "id"), pois[7].id);
    assert_true(json_real_value(json_object_get(first, "distance_m")) < 0.5);
    th_resp_free(&r);
}

static void geojson_reimport_and_bad_input(void **state)
{
    const char *gj = "{\"type\":\"FeatureCollection\",\"features\":["
                     "{\"type\":\"Feature\",\"id\":\"g1\",\"geometry\":{\"type\":\"Point\","
                     "\"coordinates\":[120.7,31.4]},\"properties\":{\"name\":\"公厕甲\"}},"
                     "{\"type\":\"Feature\",\"id\":\"g2\",\"geometry\":{\"type\":\"Point\","
                     "\"coordinates\":[120.701,31.401]},\"properties\":{\"name\":\"公厕乙\","
                     "\"address\":\"人民路1号\"}}]}";
    long long before;
    struct th_resp r;

    import("application/geo+json", "?type=toilet", gj, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "inserted"), 2);
    th_resp_free(&r);
    /* The same file again: updated by ref, not duplicated. */
    import("application/geo+json", "?type=toilet", gj, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "inserted"), 0);
    assert_int_equal(th_jint(r.json, "updated"), 2);
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM pois WHERE source_ref IN ('g1','g2')"),
                     2);

    /* A bad row refuses the whole file and names the row; nothing is written. */
    before = th_sql_int(&srv, "SELECT COUNT(*) FROM pois");
    import("text/csv", NULL, "type,name,lat,lng\ntoilet,好的,31.3,120.6\ntoilet,坏的,91,120.6\n",
           &r);
    th_expect(&r, 400, "invalid_argument");
    assert_non_null(strstr(r.body, "row 2"));
    th_resp_free(&r);
    import("text/csv", NULL, "name,lat,lng\n无类型,31.3,120.6\n", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    import("text/plain", NULL, "x", &r);
    th_expect(&r, 415, "unsupported_media_type");
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM pois"), before);
    /* Only admins import; everyone signed in asks; bad queries are refused. */
    th_check(&srv, "citizen", "POST", "/api/v1/pois/import", "{}", 403, "permission_denied");
    th_check(&srv, "citizen", "GET", "/api/v1/pois/nearby?lat=31.3&lng=120.6&radius=0", NULL, 400,
             "invalid_argument");
    th_check(&srv, "citizen", "GET", "/api/v1/pois/nearby?lat=31.3", NULL, 400, "invalid_argument");
    th_check(&srv, "citizen", "GET", "/api/v1/pois/nearby?lat=31.3&lng=120.6&type=Bad!", NULL, 400,
             "invalid_argument");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nearest_n_equals_brute_force),
        cmocka_unit_test(gcj02_in_and_out),
        cmocka_unit_test(geojson_reimport_and_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
