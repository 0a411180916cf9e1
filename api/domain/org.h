/* api/domain/org.h: the organisation — regions, departments and grids.
 *
 * Regions form the tree city > district > street > community; a leader's jurisdiction is a
 * region and everything below it. Departments (专业部门: 环卫, 市政, 园林, 执法 …) handle
 * dispatched cases. Grids (网格) are the inspectors' patrol cells: one WGS-84 polygon each,
 * stored as a MariaDB POLYGON (x = longitude, y = latitude) with a spatial index, so that a
 * reported point finds its grid with one indexed query. Every change is audited. Validation
 * is here, not in the handlers; this module never speaks HTTP or JSON. */
#ifndef CITYD_DOMAIN_ORG_H
#define CITYD_DOMAIN_ORG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define ORG_LIST_MAX 1000 /* rows of one list answer */
#define ORG_RING_MAX 1000 /* points of a grid boundary, closing point included */

/* ---- regions ------------------------------------------------------------------------------ */

struct region_rec {
    int64_t id, parent_id; /* parent_id 0 for the city */
    const char *level;     /* city, district, street, community */
    const char *code, *name, *created_at;
};

struct region_new {
    int64_t parent_id; /* 0: a city (the root) */
    const char *level, *code, *name;
};

/* All regions ordered by code (at most ORG_LIST_MAX; *more tells if there were more). */
enum err org_region_list(struct rctx *cx, struct region_rec **rows, size_t *n,
                         bool *more) MUST_CHECK;
enum err org_region_get(struct rctx *cx, int64_t id, struct region_rec *out) MUST_CHECK;
/* ERR_INVALID: level unknown or not one below the parent's (a city has no parent), code not 6
 * to 12 digits, name not 1 to 64 bytes, parent absent. ERR_CONFLICT: code taken. Audited. */
enum err org_region_create(struct rctx *cx, const struct region_new *in, int64_t *id) MUST_CHECK;

/* ---- departments -------------------------------------------------------------------------- */

struct dept_rec {
    int64_t id, region_id; /* region_id 0 = city-wide */
    const char *code, *name, *created_at;
    bool active;
};

struct dept_new {
    const char *code, *name;
    int64_t region_id; /* 0 = none */
};

/* A partial update: each has_* says whether the field is set. */
struct dept_patch {
    bool has_name, has_region, has_active;
    const char *name;
    int64_t region_id; /* 0 clears it */
    bool active;
};

/* Departments ordered by id; inactive ones only with include_inactive. */
enum err org_dept_list(struct rctx *cx, bool include_inactive, struct dept_rec **rows,
                       size_t *n) MUST_CHECK;
enum err org_dept_get(struct rctx *cx, int64_t id, struct dept_rec *out) MUST_CHECK;
/* ERR_INVALID: code not 1 to 32 of a-z 0-9 _ -, name not 1 to 64 bytes, region absent.
 * ERR_CONFLICT: code or name taken. Audited "department.create". */
enum err org_dept_create(struct rctx *cx, const struct dept_new *in, int64_t *id) MUST_CHECK;
/* ERR_NOTFOUND, ERR_INVALID as above, ERR_CONFLICT on a taken name. Audited. */
enum err org_dept_update(struct rctx *cx, int64_t id, const struct dept_patch *p) MUST_CHECK;

/* ---- grids -------------------------------------------------------------------------------- */

struct geo_ring {
    size_t n;
    double (*pt)[2]; /* [i][0] longitude, [i][1] latitude, WGS-84 degrees */
};

struct grid_rec {
    int64_t id, region_id;
    const char *code, *name, *region_name, *created_at;
    const char *geojson; /* the boundary as a GeoJSON Polygon text; NULL in lists */
};

struct grid_new {
    const char *code, *name;
    int64_t region_id;
    struct geo_ring ring; /* the outer boundary; holes are not supported */
};

/* The rules of a boundary, without I/O: at least 4 points, at most ORG_RING_MAX, closed (last
 * == first), finite, longitude in [-180, 180] and latitude in [-90, 90], no two consecutive
 * points equal, at least three distinct points (an area). ERR_INVALID names the point. */
enum err org_ring_check(struct rctx *cx, const struct geo_ring *ring) MUST_CHECK;

/* Grids ordered by code, optionally of one region (0 = all). */
enum err org_grid_list(struct rctx *cx, int64_t region_id, struct grid_rec **rows, size_t *n,
                       bool *more) MUST_CHECK;
/* One grid with its boundary. ERR_NOTFOUND. */
enum err org_grid_get(struct rctx *cx, int64_t id, struct grid_rec *out) MUST_CHECK;
/* ERR_INVALID: the ring rules, a polygon MariaDB finds invalid (self-intersecting), code not
 * 1 to 15 digits, name, region absent. ERR_CONFLICT: code taken. Audited "grid.create". */
enum err org_grid_create(struct rctx *cx, const struct grid_new *in, int64_t *id) MUST_CHECK;
/* The grid containing the point (on a shared edge: the lowest id). ERR_NOTFOUND outside every
 * grid; ERR_INVALID outside the coordinate ranges. out->geojson is NULL. */
enum err org_grid_locate(struct rctx *cx, double lat, double lng, struct grid_rec *out) MUST_CHECK;

#endif
