/* api/positions.c: /api/v1/positions/latest — where on-duty people and active vehicles are now —
 * and /api/v1/vehicles, the vehicles whose terminals send tracks. Handlers only (track.h). Live
 * updates: ingest writes a position.updated event (at most one per owner per 5 s) for the
 * WebSocket gateway to deliver. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/domain/geo.h"
#include "api/domain/track.h"
#include "server/core/roles.h"

/* bbox=minLng,minLat,maxLng,maxLat (GeoJSON order), in the answer's coordinate system. */
static enum err positions_latest(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    const char *crs = req_query(cx, rq, "crs"), *items;
    double b[4] = {-180, -90, 180, 90};
    bool gcj = crs && strcmp(crs, "gcj02") == 0, more, has_bbox = false;
    size_t n, len;
    char *body;
    int head;
    enum err res;

    if (crs && !gcj && strcmp(crs, "wgs84") != 0)
        return rctx_fail(cx, ERR_INVALID, "crs: \"wgs84\" or \"gcj02\"");
    res = api_query_bbox(cx, rq, b, &has_bbox);
    if (res)
        return res;
    if (has_bbox && gcj) {
        geo_gcj_to_wgs(b[1], b[0], &b[1], &b[0]);
        geo_gcj_to_wgs(b[3], b[2], &b[3], &b[2]);
    }
    res = track_latest_items(cx, b[1], b[0], b[3], b[2], gcj, &items, &len, &n, &more);
    if (res)
        return res;
    /* The entries are JSON already (rendered at ingest): the answer is put together, not
     * encoded again. */
    body = rctx_alloc(cx, len + 96);
    head = snprintf(body, 96, "{\"crs\":\"%s\",\"truncated\":%s,\"count\":%zu,\"items\":",
                    gcj ? "gcj02" : "wgs84", more ? "true" : "false", n);
    memcpy(body + head, items, len);
    body[head + (int)len] = '}';
    resp_header(cx, rs, "cache-control", "no-store");
    return resp_body(rs, 200, "application/json", body, (size_t)head + len + 1);
}

static const struct api_field vehicle_fields[] = {
    {"plate", API_STR, true, offsetof(struct vehicle_new, plate), 16, 1, 0},
    {"name", API_STR, true, offsetof(struct vehicle_new, name), 64, 1, 0},
    {"region_id", API_I64, false, offsetof(struct vehicle_new, region_id), 0, 1, INT64_MAX},
    {"department_id", API_I64, false, offsetof(struct vehicle_new, department_id), 0, 1, INT64_MAX},
    {"user_id", API_I64, false, offsetof(struct vehicle_new, user_id), 0, 1, INT64_MAX},
    {0},
};

static enum err vehicles_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct vehicle_new in = {0};
    int64_t id = 0;
    enum err res = api_json_input(cx, rq, vehicle_fields, &in, NULL);

    if (!res)
        res = vehicle_create(cx, &in, &id);
    if (res)
        return res;
    return api_json_reply(
        cx, rs, 201,
        json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:b}", "id", (json_int_t)id, "plate", in.plate, "name",
                  in.name, "region_id", api_json_id(in.region_id), "department_id",
                  api_json_id(in.department_id), "user_id", api_json_id(in.user_id), "active", 1));
}

static enum err vehicles_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct vehicle_rec *v;
    size_t n;
    json_t *items;
    enum err res = vehicle_list(cx, &v, &n);

    (void)rq;
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:b,s:s}", "id",
                                               (json_int_t)v[i].id, "plate", v[i].plate, "name",
                                               v[i].name, "region_id", api_json_id(v[i].region_id),
                                               "department_id", api_json_id(v[i].department_id),
                                               "user_id", api_json_id(v[i].user_id), "active",
                                               v[i].active, "created_at", v[i].created_at));
    return api_json_reply(cx, rs, 200, json_pack("{s:o}", "items", items));
}

#define MAP_READERS (ROLE_LEADER | ROLE_SHIFT_LEAD | ROLE_ADMIN)

/* clang-format off */
const struct route api_positions_routes[] = {
    /* method  path                          handler           roles        body  flags timeout batch */
    {"GET",  "/api/v1/positions/latest",     positions_latest, MAP_READERS, 0,    0, 0, NULL, NULL},
    {"GET",  "/api/v1/vehicles",             vehicles_list,    ROLE_ADMIN,  0,    0, 0, NULL, NULL},
    {"POST", "/api/v1/vehicles",             vehicles_create,  ROLE_ADMIN,  4096, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
