/* api/org.c: /api/v1/departments, /api/v1/regions, /api/v1/grids — the organisation.
 * Staff read it; admins change it. Grid boundaries travel as GeoJSON Polygon geometries
 * (RFC 7946: WGS-84, [longitude, latitude]); the rules of a valid boundary are in the domain. */
#include "api.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "api/domain/org.h"
#include "server/core/roles.h"

/* ---- departments -------------------------------------------------------------------------- */

static json_t *dept_json(const struct dept_rec *d)
{
    return json_pack("{s:I,s:s,s:s,s:o,s:b,s:s}", "id", (json_int_t)d->id, "code", d->code, "name",
                     d->name, "region_id", api_json_id(d->region_id), "active", d->active,
                     "created_at", d->created_at);
}

static enum err reply_dept(struct rctx *cx, struct resp *rs, int status, int64_t id)
{
    struct dept_rec d;
    enum err res = org_dept_get(cx, id, &d);

    if (res)
        return res;
    return api_json_reply(cx, rs, status, dept_json(&d));
}

static enum err depts_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    const char *all = req_query(cx, rq, "include_inactive");
    struct dept_rec *v;
    size_t n;
    json_t *items;
    enum err res;

    if (all && strcmp(all, "true") != 0 && strcmp(all, "false") != 0)
        return rctx_fail(cx, ERR_INVALID, "include_inactive: true or false");
    res = org_dept_list(cx, all && strcmp(all, "true") == 0, &v, &n);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, dept_json(&v[i]));
    return api_json_reply(cx, rs, 200, json_pack("{s:o}", "items", items));
}

static enum err depts_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    return reply_dept(cx, rs, 200, req_param_i64(rq, "id"));
}

/* Straight into the domain's struct. */
static const struct api_field dept_create_fields[] = {
    {"code", API_STR, true, offsetof(struct dept_new, code), 32, 1, 0},
    {"name", API_STR, true, offsetof(struct dept_new, name), 64, 1, 0},
    {"region_id", API_I64, false, offsetof(struct dept_new, region_id), 0, 1, INT64_MAX},
    {0},
};

static enum err depts_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct dept_new in = {0};
    int64_t id;
    enum err res;

    res = api_json_input(cx, rq, dept_create_fields, &in, NULL);
    if (!res)
        res = org_dept_create(cx, &in, &id);
    if (res)
        return res;
    resp_header(cx, rs, "location", rctx_printf(cx, "/api/v1/departments/%lld", (long long)id));
    return reply_dept(cx, rs, 201, id);
}

#define P(name, type, null, m, has, max_len, min, max)                                             \
    API_PATCH(struct dept_patch, name, type, null, m, has, max_len, min, max)
static const struct api_patch_field dept_patch_fields[] = {
    P("name", API_STR, API_NULL_REFUSED, name, has_name, 64, 1, 0),
    /* null: city-wide */
    P("region_id", API_I64, API_NULL_CLEARS, region_id, has_region, 0, 1, INT64_MAX),
    P("active", API_BOOL, API_NULL_REFUSED, active, has_active, 0, 0, 0),
    {0},
};
#undef P

static enum err depts_patch(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct dept_patch p = {0};
    enum err res;

    res = api_json_patch_input(cx, rq, dept_patch_fields, &p, false);
    if (!res)
        res = org_dept_update(cx, req_param_i64(rq, "id"), &p);
    if (res)
        return res;
    return reply_dept(cx, rs, 200, req_param_i64(rq, "id"));
}

/* ---- regions ------------------------------------------------------------------------------ */

static json_t *region_json(const struct region_rec *r)
{
    return json_pack("{s:I,s:o,s:s,s:s,s:s,s:s}", "id", (json_int_t)r->id, "parent_id",
                     api_json_id(r->parent_id), "level", r->level, "code", r->code, "name", r->name,
                     "created_at", r->created_at);
}

static enum err regions_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct region_rec *v;
    size_t n;
    bool more;
    json_t *items;
    enum err res = org_region_list(cx, &v, &n, &more);

    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, region_json(&v[i]));
    return api_json_reply(cx, rs, 200, json_pack("{s:o,s:b}", "items", items, "truncated", more));
}

static enum err regions_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct region_rec r;
    enum err res = org_region_get(cx, req_param_i64(rq, "id"), &r);

    if (res)
        return res;
    return api_json_reply(cx, rs, 200, region_json(&r));
}

/* Straight into the domain's struct. */
static const struct api_field region_fields[] = {
    {"parent_id", API_I64, false, offsetof(struct region_new, parent_id), 0, 1, INT64_MAX},
    {"level", API_STR, true, offsetof(struct region_new, level), 16, 1, 0},
    {"code", API_STR, true, offsetof(struct region_new, code), 12, 1, 0},
    {"name", API_STR, true, offsetof(struct region_new, name), 64, 1, 0},
    {0},
};

static enum err regions_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct region_new in = {0};
    struct region_rec r;
    int64_t id;
    enum err res;

    res = api_json_input(cx, rq, region_fields, &in, NULL);
    if (!res)
        res = org_region_create(cx, &in, &id);
    if (!res)
        res = org_region_get(cx, id, &r);
    if (res)
        return res;
    resp_header(cx, rs, "location", rctx_printf(cx, "/api/v1/regions/%lld", (long long)id));
    return api_json_reply(cx, rs, 201, region_json(&r));
}

/* ---- grids -------------------------------------------------------------------------------- */

static json_t *grid_json(const struct grid_rec *g)
{
    json_t *j = json_pack("{s:I,s:s,s:s,s:I,s:s,s:s}", "id", (json_int_t)g->id, "code", g->code,
                          "name", g->name, "region_id", (json_int_t)g->region_id, "region_name",
                          g->region_name, "created_at", g->created_at);

    if (j && g->geojson) {
        /* MariaDB's own GeoJSON text, re-parsed so the answer stays one JSON document. */
        json_t *b = json_loads(g->geojson, 0, NULL);
        json_object_set_new(j, "boundary", b ? b : json_null());
    }
    return j;
}

static enum err grids_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct grid_rec *v;
    int64_t region = 0;
    size_t n;
    bool more;
    json_t *items;
    enum err res = api_query_i64(cx, rq, "region_id", 1, INT64_MAX, &region);

    if (!res)
        res = org_grid_list(cx, region, &v, &n, &more);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, grid_json(&v[i]));
    return api_json_reply(cx, rs, 200, json_pack("{s:o,s:b}", "items", items, "truncated", more));
}

static enum err grids_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct grid_rec g;
    enum err res = org_grid_get(cx, req_param_i64(rq, "id"), &g);

    if (res)
        return res;
    return api_json_reply(cx, rs, 200, grid_json(&g));
}

/* {"type":"Polygon","coordinates":[[[lng,lat],...]]} → one ring. Shape errors only: the
 * geometry rules (closed, ranges, size) are org_ring_check's. */
static enum err decode_polygon(struct rctx *cx, json_t *g, struct geo_ring *out)
{
    json_t *type, *coords, *ring;
    size_t n;

    if (!json_is_object(g))
        return rctx_fail(cx, ERR_INVALID, "boundary: expected a GeoJSON Polygon object");
    if (json_object_size(g) != 2)
        return rctx_fail(cx, ERR_INVALID, "boundary: only \"type\" and \"coordinates\"");
    type = json_object_get(g, "type");
    coords = json_object_get(g, "coordinates");
    if (!json_is_string(type) || strcmp(json_string_value(type), "Polygon") != 0)
        return rctx_fail(cx, ERR_INVALID, "boundary.type: must be \"Polygon\"");
    if (!json_is_array(coords) || json_array_size(coords) != 1)
        return rctx_fail(cx, ERR_INVALID,
                         "boundary.coordinates: exactly one ring (holes are not supported)");
    ring = json_array_get(coords, 0);
    if (!json_is_array(ring))
        return rctx_fail(cx, ERR_INVALID, "boundary.coordinates[0]: expected an array of points");
    n = json_array_size(ring);
    if (n > ORG_RING_MAX)
        return rctx_fail(cx, ERR_INVALID, "boundary: at most %d points", ORG_RING_MAX);
    out->n = n;
    out->pt = rctx_alloc(cx, (n ? n : 1) * sizeof *out->pt);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(ring, i);
        if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_number(json_array_get(p, 0)) ||
            !json_is_number(json_array_get(p, 1)))
            return rctx_fail(cx, ERR_INVALID,
                             "boundary[%zu]: expected [longitude, latitude] numbers", i);
        out->pt[i][0] = json_number_value(json_array_get(p, 0));
        out->pt[i][1] = json_number_value(json_array_get(p, 1));
    }
    return ERR_OK;
}

/* A grid as decoded: the domain's fields, and the boundary as sent (decode_polygon). */
struct grid_in {
    struct grid_new g;
    json_t *boundary;
};

static const struct api_field grid_fields[] = {
    {"code", API_STR, true, offsetof(struct grid_in, g.code), 15, 1, 0},
    {"name", API_STR, true, offsetof(struct grid_in, g.name), 64, 1, 0},
    {"region_id", API_I64, true, offsetof(struct grid_in, g.region_id), 0, 1, INT64_MAX},
    {"boundary", API_JSON, true, offsetof(struct grid_in, boundary), 0, 0, 0},
    {0},
};

static enum err grids_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct grid_in b = {0};
    struct grid_rec g;
    int64_t id;
    enum err res;

    res = api_json_input(cx, rq, grid_fields, &b, NULL);
    if (!res)
        res = decode_polygon(cx, b.boundary, &b.g.ring);
    if (res)
        return res;
    res = org_grid_create(cx, &b.g, &id);
    if (!res)
        res = org_grid_get(cx, id, &g);
    if (res)
        return res;
    resp_header(cx, rs, "location", rctx_printf(cx, "/api/v1/grids/%lld", (long long)id));
    return api_json_reply(cx, rs, 201, grid_json(&g));
}

static enum err q_coord(struct rctx *cx, const struct req *rq, const char *name, double *out)
{
    const char *v = req_query(cx, rq, name);
    char *end;
    double d;

    if (!v)
        return rctx_fail(cx, ERR_INVALID, "%s: required (WGS-84 degrees)", name);
    errno = 0;
    d = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(d))
        return rctx_fail(cx, ERR_INVALID, "%s: expected a number (WGS-84 degrees)", name);
    *out = d;
    return ERR_OK;
}

static enum err grids_locate(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct grid_rec g;
    double lat = 0, lng = 0;
    enum err res = q_coord(cx, rq, "lat", &lat);

    if (!res)
        res = q_coord(cx, rq, "lng", &lng);
    if (!res)
        res = org_grid_locate(cx, lat, lng, &g);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, grid_json(&g));
}

/* clang-format off */
const struct route api_org_routes[] = {
    /* method   path                           handler        roles                      body       flags  timeout batch  scope (API keys) */
    {"GET",   "/api/v1/departments",         depts_list,    ROLE_STAFF,                0,         0, 0, NULL, NULL},
    {"POST",  "/api/v1/departments",         depts_create,  ROLE_ADMIN,                2048,      0, 0, NULL, NULL},
    {"GET",   "/api/v1/departments/{id}",    depts_get,     ROLE_STAFF,                0,         0, 0, NULL, NULL},
    {"PATCH", "/api/v1/departments/{id}",    depts_patch,   ROLE_ADMIN,                2048,      0, 0, NULL, NULL},
    {"GET",   "/api/v1/regions",             regions_list,  ROLE_STAFF,                0,         0, 0, NULL, NULL},
    {"POST",  "/api/v1/regions",             regions_create, ROLE_ADMIN,               2048,      0, 0, NULL, NULL},
    {"GET",   "/api/v1/regions/{id}",        regions_get,   ROLE_STAFF,                0,         0, 0, NULL, NULL},
    {"GET",   "/api/v1/grids",               grids_list,    ROLE_STAFF,                0,         0, 0, NULL, NULL},
    {"POST",  "/api/v1/grids",               grids_create,  ROLE_ADMIN,                64 * 1024, 0, 0, NULL, NULL},
    {"GET",   "/api/v1/grids/locate",        grids_locate,  ROLE_STAFF | ROLE_MACHINE, 0,         0, 0, NULL, "grids:read"},
    {"GET",   "/api/v1/grids/{id}",          grids_get,     ROLE_STAFF,                0,         0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
