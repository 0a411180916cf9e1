/* api/domain/geo.h: plane and sphere geometry of GPS points, without I/O.
 *
 * Distances on the WGS-84 sphere (haversine, mean radius), point in polygon with a tolerance in
 * metres (a point within tol of the boundary counts as inside), Douglas–Peucker simplification
 * and the GCJ-02 ("Mars") offset that domestic map SDKs draw in. Coordinates are degrees,
 * latitude then longitude in arguments; polygon rings are [i][0] longitude, [i][1] latitude as
 * in org.h. Every function is pure and thread-safe; tests/unit/test_geo.c covers them. */
#ifndef CITYD_DOMAIN_GEO_H
#define CITYD_DOMAIN_GEO_H

#include <stdbool.h>
#include <stddef.h>

#define GEO_EARTH_R 6371008.8 /* mean earth radius, metres */

/* Great-circle distance in metres. */
double geo_dist_m(double lat1, double lng1, double lat2, double lng2);

/* Whether lat/lng are finite and within -90..90 / -180..180: the one place these bounds live. */
bool geo_in_range(double lat, double lng);
/* geo_in_range, and not the (0, 0) "no fix" point phones send (fixes from a GPS: check-ins,
 * track points). */
bool geo_valid(double lat, double lng);

/* Distance in metres from the point to the nearest edge of the ring (n points, closed: the last
 * equals the first), in a local plane around the point (good for rings of a few km). */
double geo_ring_edge_dist_m(double lat, double lng, const double (*ring)[2], size_t n);
/* Even-odd point in ring. */
bool geo_ring_contains(double lat, double lng, const double (*ring)[2], size_t n);
/* Inside, or within tol_m of the boundary. *dist_m (may be NULL) gets 0 inside and the distance
 * to the boundary outside. */
bool geo_ring_within(double lat, double lng, const double (*ring)[2], size_t n, double tol_m,
                     double *dist_m);

/* Douglas–Peucker: keep[i] is set for the points of the simplified line (first and last always
 * kept) so that no dropped point is farther than tol_m from it. pts[i][0] latitude, [i][1]
 * longitude. keep must hold n entries; tol_m <= 0 keeps every point. Iterative: the depth
 * does not grow with n. scratch must hold 2 * n size_t. */
void geo_simplify(const double (*pts)[2], size_t n, double tol_m, bool *keep, size_t *scratch);

/* Whether the point lies in the rough box where the GCJ-02 offset applies (mainland China). */
bool geo_in_china(double lat, double lng);
/* WGS-84 to GCJ-02 (points outside geo_in_china are returned unchanged). */
void geo_wgs_to_gcj(double lat, double lng, double *glat, double *glng);
/* GCJ-02 to WGS-84 by fixed-point iteration, to well under a centimetre. */
void geo_gcj_to_wgs(double glat, double glng, double *lat, double *lng);

#endif
