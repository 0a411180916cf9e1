/* api/domain/geo.c: see geo.h. */
#include "geo.h"

#include <math.h>
#include <stdint.h>

#define RAD (M_PI / 180.0)

double geo_dist_m(double lat1, double lng1, double lat2, double lng2)
{
    double dlat = (lat2 - lat1) * RAD, dlng = (lng2 - lng1) * RAD;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * RAD) * cos(lat2 * RAD) * sin(dlng / 2) * sin(dlng / 2);

    if (a > 1)
        a = 1;
    return 2 * GEO_EARTH_R * asin(sqrt(a));
}

bool geo_in_range(double lat, double lng)
{
    return isfinite(lat) && isfinite(lng) && lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180;
}

bool geo_valid(double lat, double lng)
{
    return geo_in_range(lat, lng) && !(lat == 0 && lng == 0);
}

/* Local plane in metres around (lat0, lng0): x east, y north. */
static void to_plane(double lat0, double lng0, double lat, double lng, double *x, double *y)
{
    *x = (lng - lng0) * RAD * GEO_EARTH_R * cos(lat0 * RAD);
    *y = (lat - lat0) * RAD * GEO_EARTH_R;
}

/* Distance from the origin to the segment a-b in the plane. */
static double seg_dist0(double ax, double ay, double bx, double by)
{
    double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy, t = 0;

    if (len2 > 0) {
        t = -(ax * dx + ay * dy) / len2;
        if (t < 0)
            t = 0;
        else if (t > 1)
            t = 1;
    }
    return hypot(ax + t * dx, ay + t * dy);
}

double geo_ring_edge_dist_m(double lat, double lng, const double (*ring)[2], size_t n)
{
    double best = INFINITY;

    for (size_t i = 0; i + 1 < n; i++) {
        double ax, ay, bx, by, d;
        to_plane(lat, lng, ring[i][1], ring[i][0], &ax, &ay);
        to_plane(lat, lng, ring[i + 1][1], ring[i + 1][0], &bx, &by);
        d = seg_dist0(ax, ay, bx, by);
        if (d < best)
            best = d;
    }
    return best;
}

bool geo_ring_contains(double lat, double lng, const double (*ring)[2], size_t n)
{
    bool in = false;

    for (size_t i = 0, j = n ? n - 1 : 0; i < n; j = i++) {
        double xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
        if ((yi > lat) != (yj > lat) && lng < (xj - xi) * (lat - yi) / (yj - yi) + xi)
            in = !in;
    }
    return in;
}

bool geo_ring_within(double lat, double lng, const double (*ring)[2], size_t n, double tol_m,
                     double *dist_m)
{
    double d;

    if (geo_ring_contains(lat, lng, ring, n)) {
        if (dist_m)
            *dist_m = 0;
        return true;
    }
    d = geo_ring_edge_dist_m(lat, lng, ring, n);
    if (dist_m)
        *dist_m = d;
    return d <= tol_m;
}

void geo_simplify(const double (*pts)[2], size_t n, double tol_m, bool *keep, size_t *scratch)
{
    size_t top = 0;

    for (size_t i = 0; i < n; i++)
        keep[i] = tol_m <= 0 || n <= 2;
    if (tol_m <= 0 || n <= 2)
        return;
    keep[0] = keep[n - 1] = true;
    scratch[top++] = 0;
    scratch[top++] = n - 1;
    while (top) {
        size_t b = scratch[--top], a = scratch[--top], far = 0;
        double ax, ay, bx, by, worst = -1;

        for (size_t i = a + 1; i < b; i++) {
            double d;
            to_plane(pts[i][0], pts[i][1], pts[a][0], pts[a][1], &ax, &ay);
            to_plane(pts[i][0], pts[i][1], pts[b][0], pts[b][1], &bx, &by);
            d = seg_dist0(ax, ay, bx, by);
            if (d > worst) {
                worst = d;
                far = i;
            }
        }
        if (worst > tol_m) {
            keep[far] = true;
            /* Each range pushes at most two halves and ranges never overlap: 2n is enough. */
            scratch[top++] = a;
            scratch[top++] = far;
            scratch[top++] = far;
            scratch[top++] = b;
        }
    }
}

/* ---- GCJ-02 ------------------------------------------------------------------------------- */

/* The published Krasovsky-ellipsoid constants of the offset. */
#define GCJ_A 6378245.0
#define GCJ_EE 0.00669342162296594323

bool geo_in_china(double lat, double lng)
{
    return lng >= 72.004 && lng <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;
}

static double gcj_lat(double x, double y)
{
    double r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt(fabs(x));
    r += (20.0 * sin(6.0 * x * M_PI) + 20.0 * sin(2.0 * x * M_PI)) * 2.0 / 3.0;
    r += (20.0 * sin(y * M_PI) + 40.0 * sin(y / 3.0 * M_PI)) * 2.0 / 3.0;
    r += (160.0 * sin(y / 12.0 * M_PI) + 320.0 * sin(y * M_PI / 30.0)) * 2.0 / 3.0;
    return r;
}

static double gcj_lng(double x, double y)
{
    double r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt(fabs(x));
    r += (20.0 * sin(6.0 * x * M_PI) + 20.0 * sin(2.0 * x * M_PI)) * 2.0 / 3.0;
    r += (20.0 * sin(x * M_PI) + 40.0 * sin(x / 3.0 * M_PI)) * 2.0 / 3.0;
    r += (150.0 * sin(x / 12.0 * M_PI) + 300.0 * sin(x / 30.0 * M_PI)) * 2.0 / 3.0;
    return r;
}

void geo_wgs_to_gcj(double lat, double lng, double *glat, double *glng)
{
    double dlat, dlng, rad, magic, sq;

    if (!geo_in_china(lat, lng)) {
        *glat = lat;
        *glng = lng;
        return;
    }
    dlat = gcj_lat(lng - 105.0, lat - 35.0);
    dlng = gcj_lng(lng - 105.0, lat - 35.0);
    rad = lat * RAD;
    magic = sin(rad);
    magic = 1 - GCJ_EE * magic * magic;
    sq = sqrt(magic);
    dlat = (dlat * 180.0) / ((GCJ_A * (1 - GCJ_EE)) / (magic * sq) * M_PI);
    dlng = (dlng * 180.0) / (GCJ_A / sq * cos(rad) * M_PI);
    *glat = lat + dlat;
    *glng = lng + dlng;
}

void geo_gcj_to_wgs(double glat, double glng, double *lat, double *lng)
{
    double la = glat, ln = glng;

    /* The offset changes slowly (a few metres per km), so the iteration contracts fast. */
    for (int i = 0; i < 30; i++) {
        double tlat, tlng, elat, elng;
        geo_wgs_to_gcj(la, ln, &tlat, &tlng);
        elat = tlat - glat;
        elng = tlng - glng;
        la -= elat;
        ln -= elng;
        if (fabs(elat) < 1e-10 && fabs(elng) < 1e-10)
            break;
    }
    *lat = la;
    *lng = ln;
}
