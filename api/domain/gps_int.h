/* api/domain/gps_int.h: internals shared by track.c and attendance.c (not for other modules). */
#ifndef CITYD_DOMAIN_GPS_INT_H
#define CITYD_DOMAIN_GPS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "api/domain/refdata.h" /* refdata_utc_offset: the city's local time */
#include "server/core/err.h"
#include "server/core/rctx.h"

/* The ids of the regions of the jurisdiction of the user bound to the one `?` (that user's
 * region and up to three levels below it; nothing when the user has no region). */
#define GPS__SUBTREE_SQL                                                                           \
    "SELECT r0.id FROM regions r0 LEFT JOIN regions r1 ON r1.id = r0.parent_id"                    \
    " LEFT JOIN regions r2 ON r2.id = r1.parent_id LEFT JOIN regions r3 ON r3.id = r2.parent_id"   \
    " JOIN users lu ON lu.id = ? AND lu.region_id IS NOT NULL"                                     \
    " WHERE lu.region_id IN (r0.id, r1.id, r2.id, r3.id)"

#define GPS__DAY_MS INT64_C(86400000)

/* The grid boundaries of a user (pool memory). ring[i] has nring[i] points. */
struct gps__rings {
    size_t n;
    int64_t *grid_id;
    double (**ring)[2];
    size_t *nring;
};
enum err gps__user_rings(struct rctx *cx, int64_t user_id, struct gps__rings *out) MUST_CHECK;
/* Index of the first ring containing the point within tol_m, or -1; *dist_m the smallest
 * distance to a boundary when outside all (INFINITY without rings). */
long gps__rings_find(const struct gps__rings *g, double lat, double lng, double tol_m,
                     double *dist_m);

/* Duty intervals of a user overlapping [from, to] (ms, from the check-ins): on[i], off[i]
 * (INT64_MAX while still on duty). Pool memory. */
struct gps__duty {
    size_t n;
    int64_t *on, *off;
};
enum err gps__duty_load(struct rctx *cx, int64_t user_id, int64_t from, int64_t to,
                        struct gps__duty *out) MUST_CHECK;
bool gps__duty_at(const struct gps__duty *d, int64_t t);

/* Whether the caller leads the region subtree holding user_id (see track_may_see_user). */
enum err gps__user_in_reach(struct rctx *cx, int64_t user_id, bool *yes) MUST_CHECK;

#endif
