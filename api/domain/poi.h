/* api/domain/poi.h: nearby services (便民服务) — points of interest such as public toilets,
 * parking, refuse collection points, imported by admins, and the nearest ones to a place
 * (table pois, migrations/NNNN_pois.sql).
 *
 * Coordinates are stored in WGS-84 (as cases and tracks are); api/ converts GCJ-02 in and out
 * on request (geo.h). A POI is a POINT(lng lat) with a SPATIAL index: a nearby search cuts by
 * the bounding box of the radius through the index, then orders the candidates by their
 * great-circle distance (ST_Distance_Sphere), nearest first, id breaking ties.
 *
 * An import is all or nothing: every row is checked first (the error names the row), then
 * written in one transaction. A row with a ref (the source's own id) replaces the earlier row
 * of the same type and ref, so importing a file again updates rather than duplicates.
 * Results are pool memory of cx. No HTTP, no JSON. */
#ifndef CITYD_DOMAIN_POI_H
#define CITYD_DOMAIN_POI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define POI_TYPE_MAX 24
#define POI_NAME_MAX 128
#define POI_ADDR_MAX 256
#define POI_REF_MAX 64
#define POI_IMPORT_MAX 50000
#define POI_NEARBY_MAX 100
#define POI_RADIUS_MAX 20000 /* metres */

/* One row to import. type: 1..POI_TYPE_MAX of [a-z0-9_] ("toilet", "parking",
 * "refuse_point" …); address and ref may be NULL. lat/lng WGS-84. */
struct poi_in {
    const char *type, *name, *address, *ref;
    double lat, lng;
};

/* Check and write rows (n <= POI_IMPORT_MAX). ERR_INVALID names the first bad row as
 * "row <row0 + i>: …" (row0: what the caller counts the first row as). Audited. */
enum err poi_import(struct rctx *cx, const struct poi_in *v, size_t n, size_t row0,
                    size_t *inserted, size_t *updated) MUST_CHECK;

struct poi_rec {
    int64_t id;
    const char *type, *name, *address, *ref;
    double lat, lng; /* WGS-84 */
    double distance_m;
};

/* The nearest active POIs within radius_m (1..POI_RADIUS_MAX) of lat/lng (WGS-84), of type
 * (NULL: any), nearest first; limit 1..POI_NEARBY_MAX. */
enum err poi_nearby(struct rctx *cx, double lat, double lng, const char *type, double radius_m,
                    int limit, size_t *n, struct poi_rec **out) MUST_CHECK;

#endif
