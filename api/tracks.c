/* api/tracks.c: /api/v1/tracks — GPS points from phones and vehicle terminals, and replays —
 * and /api/v1/cases/{id}/evidence, the photo-versus-track check. Handlers only: decode, call
 * api/domain/track.h, encode. */
#include "api.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "api/domain/geo.h"
#include "api/domain/track.h"
#include "server/core/roles.h"

/* ?crs= or "crs": "wgs84" (default) or "gcj02". */
static enum err parse_crs(struct rctx *cx, const char *v, bool *gcj)
{
    *gcj = false;
    if (!v || strcmp(v, "wgs84") == 0)
        return ERR_OK;
    if (strcmp(v, "gcj02") == 0) {
        *gcj = true;
        return ERR_OK;
    }
    return rctx_fail(cx, ERR_INVALID, "crs: \"wgs84\" or \"gcj02\"");
}

/* A point's members, in the order of the compact form (an array instead of an object,
 * docs/attendance.md): [seq, device_time, lat, lng, accuracy, speed, heading, altitude,
 * battery], the first four required, the others null or left out at the end. */
enum point_key {
    PK_SEQ,
    PK_TIME,
    PK_LAT,
    PK_LNG,
    PK_ACC,
    PK_SPEED,
    PK_HEADING,
    PK_ALT,
    PK_BAT,
    PK_N
};

static const char *const point_keys[PK_N] = {
    "seq", "device_time", "lat", "lng", "accuracy", "speed", "heading", "altitude", "battery"};

static enum err num(struct rctx *cx, json_t *const *val, size_t i, enum point_key k, double *v,
                    bool *present)
{
    json_t *x = val[k];

    *present = false;
    if (!x || json_is_null(x)) {
        if (k <= PK_LNG)
            return rctx_fail(cx, ERR_INVALID, "points[%zu].%s: required", i, point_keys[k]);
        return ERR_OK;
    }
    if (!json_is_number(x))
        return rctx_fail(cx, ERR_INVALID, "points[%zu].%s: expected a number", i, point_keys[k]);
    *v = json_number_value(x);
    *present = true;
    return ERR_OK;
}

/* The member named key, PK_N for none. The names are tried from `from` on, round: a phone
 * sends its members in one order, so starting after the last one found usually hits first. */
static enum point_key point_key_of(const char *key, enum point_key from)
{
    for (size_t i = 0; i < PK_N; i++) {
        enum point_key k = (enum point_key)((from + i) % PK_N);
        if (strcmp(key, point_keys[k]) == 0)
            return k;
    }
    return PK_N;
}

/* A point sent as an object or in the compact form: its values by member, in one pass. */
static enum err point_values(struct rctx *cx, json_t *o, size_t i, json_t **val)
{
    const char *key;
    json_t *v;
    enum point_key next = PK_SEQ;

    memset(val, 0, PK_N * sizeof *val);
    if (json_is_array(o)) {
        size_t n = json_array_size(o);
        if (n < PK_LNG + 1 || n > PK_N)
            return rctx_fail(cx, ERR_INVALID,
                             "points[%zu]: the compact form holds 4 to 9 values (seq, device_time,"
                             " lat, lng, accuracy, speed, heading, altitude, battery)",
                             i);
        for (size_t k = 0; k < n; k++)
            val[k] = json_array_get(o, k);
        return ERR_OK;
    }
    if (!json_is_object(o))
        return rctx_fail(cx, ERR_INVALID, "points[%zu]: expected an object or an array", i);
    json_object_foreach(o, key, v)
    {
        enum point_key k = point_key_of(key, next);
        if (k == PK_N)
            return rctx_fail(cx, ERR_INVALID, "points[%zu]: field \"%.32s\" is not accepted", i,
                             key);
        val[k] = v;
        next = (enum point_key)((k + 1) % PK_N);
    }
    return ERR_OK;
}

static enum err decode_point(struct rctx *cx, json_t *o, size_t i, struct track_point_in *p)
{
    static const unsigned has_bit[PK_N] = {[PK_ACC] = TRACK_HAS_ACCURACY,
                                           [PK_SPEED] = TRACK_HAS_SPEED,
                                           [PK_HEADING] = TRACK_HAS_HEADING,
                                           [PK_ALT] = TRACK_HAS_ALTITUDE};
    double *dst[PK_N] = {
        [PK_LAT] = &p->lat,     [PK_LNG] = &p->lng,         [PK_ACC] = &p->accuracy,
        [PK_SPEED] = &p->speed, [PK_HEADING] = &p->heading, [PK_ALT] = &p->altitude};
    json_t *val[PK_N], *v, *t;
    bool has;
    double battery = 0;
    enum err res = point_values(cx, o, i, val);

    if (res)
        return res;
    v = val[PK_SEQ];
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return rctx_fail(cx, ERR_INVALID, "points[%zu].seq: a non-negative integer", i);
    p->seq = json_integer_value(v);
    t = val[PK_TIME];
    if (json_is_integer(t)) {
        p->t = json_integer_value(t);
    } else if (json_is_string(t)) {
        res = api_parse_time(cx, "device_time", json_string_value(t), false, &p->t);
        if (res)
            return res;
    } else {
        return rctx_fail(cx, ERR_INVALID,
                         "points[%zu].device_time: ms since the epoch or an RFC 3339 time", i);
    }
    for (enum point_key k = PK_LAT; k <= PK_ALT; k++) {
        res = num(cx, val, i, k, dst[k], &has);
        if (res)
            return res;
        p->has |= has ? has_bit[k] : 0;
    }
    res = num(cx, val, i, PK_BAT, &battery, &has);
    if (!res && has && !(battery >= 0 && battery <= 100))
        res = rctx_fail(cx, ERR_INVALID, "points[%zu].battery: 0 to 100", i);
    p->battery = (int)battery;
    p->has |= has ? TRACK_HAS_BATTERY : 0;
    return res;
}

/* A batch as decoded: the domain's fields, and what still needs converting (the coordinate
 * system's name, the points as JSON). */
struct batch_in {
    struct track_batch b;
    char *crs;
    json_t *points;
};

static const struct api_field batch_fields[] = {
    {"crs", API_STR, false, offsetof(struct batch_in, crs), 8, 0, 0},
    {"device", API_STR, false, offsetof(struct batch_in, b.device), 64, 1, 0},
    {"vehicle_id", API_I64, false, offsetof(struct batch_in, b.vehicle_id), 0, 1, INT64_MAX},
    {"points", API_JSON, true, offsetof(struct batch_in, points), 0, 0, 0},
    {0},
};

static enum err decode_batch(struct rctx *cx, const struct req *rq, struct batch_in *b)
{
    struct track_batch *tb = &b->b;
    enum err res = api_json_input(cx, rq, batch_fields, b, NULL);

    if (!res)
        res = parse_crs(cx, b->crs, &tb->gcj02);
    if (res)
        return res;
    if (!json_is_array(b->points))
        return rctx_fail(cx, ERR_INVALID, "points: expected an array");
    tb->n = json_array_size(b->points);
    if (tb->n > TRACK_BATCH_MAX)
        return rctx_fail(cx, ERR_INVALID, "points: at most %d", TRACK_BATCH_MAX);
    tb->pts = rctx_zalloc(cx, (tb->n + 1) * sizeof *tb->pts);
    for (size_t i = 0; i < tb->n; i++) {
        res = decode_point(cx, json_array_get(b->points, i), i, &tb->pts[i]);
        if (res)
            return res;
    }
    return ERR_OK;
}

static enum err reply_batch(struct rctx *cx, struct resp *rs, const struct track_ingest_out *o)
{
    json_t *by = json_object();

    for (size_t f = 1; f < TRACK_NFILTERS; f++)
        if (o->by_filter[f])
            json_object_set_new(by, track_filter_name((enum track_filter)f),
                                json_integer((json_int_t)o->by_filter[f]));
    return api_json_reply(
        cx, rs, 200,
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:o}", "received", (json_int_t)o->received, "new",
                  (json_int_t)o->fresh, "duplicate", (json_int_t)o->duplicate, "filtered",
                  (json_int_t)o->filtered, "off_duty", (json_int_t)o->off_duty, "filtered_by", by));
}

/* The batches of phones and vehicles that arrived together (ROUTE_BATCH): decoded each on its
 * own, stored together (track_ingest_many: one transaction for batches of different owners),
 * answered each on its own. */
static void tracks_post_batch(struct rctx *const *cxs, const struct req *const *rqs,
                              struct resp *const *rss, enum err *res, size_t n)
{
    struct rctx **ok_cx = rctx_alloc(cxs[0], n * sizeof *ok_cx);
    struct track_batch **ok_b = rctx_alloc(cxs[0], n * sizeof *ok_b);
    struct track_ingest_out *outs = rctx_zalloc(cxs[0], n * sizeof *outs);
    enum err *ok_res = rctx_alloc(cxs[0], n * sizeof *ok_res);
    size_t *ok_i = rctx_alloc(cxs[0], n * sizeof *ok_i), k = 0;

    for (size_t i = 0; i < n; i++) {
        struct batch_in *b = rctx_zalloc(cxs[i], sizeof *b);
        res[i] = decode_batch(cxs[i], rqs[i], b);
        if (res[i] != ERR_OK)
            continue;
        ok_cx[k] = cxs[i];
        ok_b[k] = &b->b;
        ok_i[k++] = i;
    }
    if (k)
        track_ingest_many(ok_cx, ok_b, outs, ok_res, k);
    for (size_t t = 0; t < k; t++) {
        size_t i = ok_i[t];
        res[i] = ok_res[t] ? ok_res[t] : reply_batch(cxs[i], rss[i], &outs[t]);
    }
}

static enum err tracks_post(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res;

    tracks_post_batch(&cx, &rq, &rs, &res, 1);
    return res;
}

static json_t *point_json(double lat, double lng, bool gcj)
{
    if (gcj)
        geo_wgs_to_gcj(lat, lng, &lat, &lng);
    return json_pack("{s:f,s:f}", "lat", lat, "lng", lng);
}

static void put_pos(json_t *o, double lat, double lng, bool gcj)
{
    if (gcj)
        geo_wgs_to_gcj(lat, lng, &lat, &lng);
    json_object_set_new(o, "lat", json_real(lat));
    json_object_set_new(o, "lng", json_real(lng));
}

static enum err tracks_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    int64_t user = 0, from = 0, to = 0, simplify = 0;
    struct track_view v;
    bool gcj;
    json_t *pts, *stops, *days, *acts;
    enum err res;

    res = api_query_i64(cx, rq, "user", 1, INT64_MAX, &user);
    if (!res)
        res = api_query_time(cx, rq, "from", &from);
    if (!res)
        res = api_query_time(cx, rq, "to", &to);
    if (!res)
        res = api_query_i64(cx, rq, "simplify", 0, 10000, &simplify);
    if (!res)
        res = parse_crs(cx, req_query(cx, rq, "crs"), &gcj);
    if (res)
        return res;
    if (!user || !from || !to)
        return rctx_fail(cx, ERR_INVALID, "user, from and to are required");
    res = track_read(cx, user, from, to, (double)simplify, &v);
    if (res)
        return res;
    pts = json_array();
    for (size_t i = 0; i < v.npts; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "t", api_json_time(v.pts[i].t));
        put_pos(o, v.pts[i].lat, v.pts[i].lng, gcj);
        json_object_set_new(o, "accuracy", json_real(v.pts[i].accuracy));
        if (v.pts[i].speed >= 0)
            json_object_set_new(o, "speed", json_real(v.pts[i].speed));
        json_array_append_new(pts, o);
    }
    stops = json_array();
    for (size_t i = 0; i < v.nstops; i++) {
        json_t *o = point_json(v.stops[i].lat, v.stops[i].lng, gcj);
        json_object_set_new(o, "from", api_json_time(v.stops[i].from));
        json_object_set_new(o, "to", api_json_time(v.stops[i].to));
        json_object_set_new(o, "minutes",
                            json_integer((json_int_t)((v.stops[i].to - v.stops[i].from) / 60000)));
        json_array_append_new(stops, o);
    }
    days = json_array();
    for (size_t i = 0; i < v.ndays; i++) {
        const struct track_day *d = &v.days[i];
        json_array_append_new(
            days, json_pack("{s:s,s:f,s:I,s:I,s:I,s:o}", "date", d->date, "distance_m",
                            round(d->distance_m * 10) / 10, "stops", (json_int_t)d->stops,
                            "on_duty_minutes", (json_int_t)(d->on_duty_ms / 60000),
                            "inside_minutes", (json_int_t)(d->inside_ms / 60000), "on_post_rate",
                            d->on_duty_ms ? json_real((double)d->inside_ms / (double)d->on_duty_ms)
                                          : json_null()));
    }
    acts = json_array();
    for (size_t i = 0; i < v.nactions; i++) {
        const struct track_action *a = &v.actions[i];
        json_t *o = json_pack("{s:I,s:I,s:s,s:o}", "case_id", (json_int_t)a->case_id, "step_id",
                              (json_int_t)a->step_id, "action", a->action ? a->action : "", "at",
                              api_json_time(a->at));
        if (a->placed)
            put_pos(o, a->lat, a->lng, gcj);
        json_object_set_new(o, "placed", json_boolean(a->placed));
        json_array_append_new(acts, o);
    }
    resp_header(cx, rs, "cache-control", "no-store");
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:I,s:s,s:I,s:I,s:b,s:o,s:o,s:o,s:o}", "user_id",
                                    (json_int_t)v.user_id, "crs", gcj ? "gcj02" : "wgs84",
                                    "simplify_m", (json_int_t)simplify, "raw_points",
                                    (json_int_t)v.nraw, "truncated", v.truncated, "points", pts,
                                    "stops", stops, "days", days, "case_actions", acts));
}

static enum err evidence_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct track_evidence e;
    json_t *o;
    enum err res = track_evidence_check(cx, req_param_i64(rq, "id"), &e);

    if (res)
        return res;
    o = json_pack("{s:I,s:s,s:o}", "case_id", (json_int_t)req_param_i64(rq, "id"), "status",
                  e.status, "reason", api_json_str(e.reason));
    json_object_set_new(o, "taken_at", api_json_time(e.taken_at));
    if (strcmp(e.status, "unknown") != 0) {
        json_object_set_new(o, "distance_m", json_real(round(e.distance_m * 10) / 10));
        json_object_set_new(o, "allowed_m", json_real(round(e.allowed_m * 10) / 10));
    }
    return api_json_reply(cx, rs, 200, o);
}

#define TRACK_READERS (ROLE_STAFF)
#define EVIDENCE_READERS                                                                           \
    (ROLE_OPERATOR | ROLE_SHIFT_LEAD | ROLE_DISPATCHER | ROLE_LEADER | ROLE_ADMIN)

/* clang-format off */
const struct route api_tracks_routes[] = {
    /* method  path                              handler       roles                              body        flags timeout batch */
    {"POST", "/api/v1/tracks",                   tracks_post,  ROLE_STAFF | ROLE_MACHINE,          512 * 1024, ROUTE_BATCH, 0, tracks_post_batch, "tracks:write"},
    {"GET",  "/api/v1/tracks",                   tracks_get,   TRACK_READERS,                      0,          0, 0, NULL, NULL},
    {"GET",  "/api/v1/cases/{id}/evidence",      evidence_get, EVIDENCE_READERS,                   0,          0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
