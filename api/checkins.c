/* api/checkins.c: /api/v1/checkins (上下班打卡), /api/v1/attendance/daily and /api/v1/leaves.
 * Handlers only (attendance.h). */
#include "api.h"

#include <math.h>
#include <string.h>
#include "api/domain/attendance.h"
#include "api/domain/geo.h"
#include "server/core/roles.h"

/* A check-in as decoded: the domain's fields, and what still needs converting (the
 * coordinate system's name, the device time as ms or RFC 3339). */
struct checkin_in {
    struct checkin_new c;
    char *crs;
    json_t *device_time;
};

#define C(m) offsetof(struct checkin_in, c.m)
/* lat/lng: range and (0, 0) checked by the domain (geo_valid), after a GCJ-02 conversion. */
static const struct api_field checkin_fields[] = {
    {"type", API_STR, true, C(type), 3, 2, 0},
    {"lat", API_F64, true, C(lat), 0, 0, 0},
    {"lng", API_F64, true, C(lng), 0, 0, 0},
    {"accuracy", API_F64, true, C(accuracy), 0, 0, 100000},
    {"device_time", API_JSON, false, offsetof(struct checkin_in, device_time), 0, 0, 0},
    {"crs", API_STR, false, offsetof(struct checkin_in, crs), 8, 0, 0},
    {"selfie", API_STR, false, C(selfie), 32, 1, 0},
    {0},
};
#undef C

static json_t *checkin_json(const struct checkin_rec *c, bool gcj)
{
    double lat = c->lat, lng = c->lng;
    json_t *o;

    if (gcj && c->has_position)
        geo_wgs_to_gcj(lat, lng, &lat, &lng);
    /* The automatic check-out has no position: lat, lng and accuracy are null. */
    o = json_pack("{s:I,s:I,s:s,s:s,s:s,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:b}", "id",
                  (json_int_t)c->id, "user_id", (json_int_t)c->user_id, "user_name",
                  c->user_name ? c->user_name : "", "type", c->type, "status", c->status, "at",
                  api_json_time(c->at), "device_time", api_json_time(c->device_at), "local_date",
                  c->local_date, "lat", c->has_position ? json_real(lat) : json_null(), "lng",
                  c->has_position ? json_real(lng) : json_null(), "accuracy",
                  c->has_position ? json_real(c->accuracy) : json_null(), "shift_id",
                  api_json_id(c->shift_id), "grid_id", api_json_id(c->grid_id), "selfie",
                  c->has_selfie);
    json_object_set_new(o, "crs", json_string(gcj ? "gcj02" : "wgs84"));
    json_object_set_new(o, "distance_m",
                        c->distance_m >= 0 ? json_real(round(c->distance_m * 10) / 10)
                                           : json_null());
    {
        json_t *flags = json_array();
        const char *p = c->flags ? c->flags : "";
        while (*p) {
            size_t n = strcspn(p, ",");
            json_array_append_new(flags, json_stringn(p, n));
            p += n;
            if (*p)
                p++;
        }
        json_object_set_new(o, "flags", flags);
    }
    return o;
}

static enum err checkins_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct checkin_in b = {0};
    struct checkin_new *in = &b.c;
    struct checkin_rec c;
    struct idem idem;
    enum err res;

    res = api_idem(cx, rq, 201, &idem);
    if (!res)
        res = api_json_input(cx, rq, checkin_fields, &b, NULL);
    if (res)
        return res;
    if (b.crs && strcmp(b.crs, "wgs84") != 0 && strcmp(b.crs, "gcj02") != 0)
        return rctx_fail(cx, ERR_INVALID, "crs: \"wgs84\" or \"gcj02\"");
    if (b.device_time) {
        if (json_is_integer(b.device_time))
            in->device_time = json_integer_value(b.device_time);
        else if (json_is_string(b.device_time))
            res = api_parse_time(cx, "device_time", json_string_value(b.device_time), false,
                                 &in->device_time);
        else
            res = rctx_fail(cx, ERR_INVALID, "device_time: ms or an RFC 3339 time");
        if (res)
            return res;
    }
    in->gcj02 = b.crs && strcmp(b.crs, "gcj02") == 0;
    res = checkin_create(cx, in, &idem, &c);
    if (res)
        return res;
    return api_json_reply(cx, rs, 201, checkin_json(&c, in->gcj02));
}

static enum err checkins_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    int64_t user = 0, from, to = cx->now_ms;
    int all = 0;
    const char *crs = req_query(cx, rq, "crs");
    bool gcj = crs && strcmp(crs, "gcj02") == 0, more;
    struct checkin_rec *v;
    size_t n;
    json_t *items;
    enum err res;

    from = cx->now_ms - 7LL * 86400000;
    res = api_query_i64(cx, rq, "user_id", 1, INT64_MAX, &user);
    if (!res)
        res = api_query_bool(cx, rq, "all", &all);
    if (!res)
        res = api_query_time(cx, rq, "from", &from);
    if (!res)
        res = api_query_time(cx, rq, "to", &to);
    if (res)
        return res;
    res = checkin_list(cx, user, all != 0, from, to, &v, &n, &more);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, checkin_json(&v[i], gcj));
    return api_json_reply(cx, rs, 200, json_pack("{s:o,s:b}", "items", items, "truncated", more));
}

static enum err attendance_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    const char *date = req_query(cx, rq, "date");
    int64_t dept = 0;
    struct att_person *p;
    struct att_dept *d;
    size_t np, nd;
    json_t *people, *depts;
    enum err res = api_query_i64(cx, rq, "department_id", 1, INT64_MAX, &dept);

    if (res)
        return res;
    if (!date)
        return rctx_fail(cx, ERR_INVALID, "date: required (YYYY-MM-DD)");
    res = attendance_daily(cx, date, dept, &p, &np, &d, &nd);
    if (res)
        return res;
    people = json_array();
    for (size_t i = 0; i < np; i++)
        json_array_append_new(
            people,
            json_pack("{s:I,s:s,s:o,s:s,s:o,s:o,s:b}", "user_id", (json_int_t)p[i].user_id, "name",
                      p[i].name, "department_id", api_json_id(p[i].department_id), "status",
                      p[i].status, "first_in", api_json_time(p[i].first_in), "last_out",
                      api_json_time(p[i].last_out), "no_checkout", p[i].no_checkout));
    depts = json_array();
    for (size_t i = 0; i < nd; i++)
        json_array_append_new(
            depts,
            json_pack("{s:o,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "department_id",
                      api_json_id(d[i].department_id), "name", d[i].name ? d[i].name : "",
                      "present", (json_int_t)d[i].present, "late", (json_int_t)d[i].late, "absent",
                      (json_int_t)d[i].absent, "on_leave", (json_int_t)d[i].on_leave, "off",
                      (json_int_t)d[i].off, "pending", (json_int_t)d[i].pending));
    return api_json_reply(
        cx, rs, 200,
        json_pack("{s:s,s:o,s:o}", "date", date, "people", people, "departments", depts));
}

/* The reason's length is leave_create's to check (LEAVE_REASON_MAX), the route caps the body. */
static const struct api_field leave_fields[] = {
    {"user_id", API_I64, true, offsetof(struct leave_new, user_id), 0, 1, INT64_MAX},
    {"from", API_STR, true, offsetof(struct leave_new, from), 10, 10, 0},
    {"to", API_STR, true, offsetof(struct leave_new, to), 10, 10, 0},
    {"reason", API_STR, false, offsetof(struct leave_new, reason), 0, 0, 0},
    {0},
};

static enum err leaves_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct leave_new in = {0};
    int64_t id = 0;
    enum err res = api_json_input(cx, rq, leave_fields, &in, NULL);

    if (!res)
        res = leave_create(cx, &in, &id);
    if (res)
        return res;
    return api_json_reply(cx, rs, 201,
                          json_pack("{s:I,s:I,s:s,s:s}", "id", (json_int_t)id, "user_id",
                                    (json_int_t)in.user_id, "from", in.from, "to", in.to));
}

#define LEADS (ROLE_ADMIN | ROLE_SHIFT_LEAD | ROLE_LEADER)

/* clang-format off */
const struct route api_checkins_routes[] = {
    /* method  path                           handler          roles       body  flags timeout batch */
    {"POST", "/api/v1/checkins",              checkins_create, ROLE_STAFF, 4096, 0, 0, NULL, NULL},
    {"GET",  "/api/v1/checkins",              checkins_list,   ROLE_STAFF, 0,    0, 0, NULL, NULL},
    {"GET",  "/api/v1/attendance/daily",      attendance_get,  LEADS,      0,    0, 0, NULL, NULL},
    {"POST", "/api/v1/leaves",                leaves_create,   LEADS,      1024, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
