/* api/shifts.c: /api/v1/shifts — shift schedules and who works them (admins; audited).
 * Handlers only (attendance.h). */
#include "api.h"

#include <stdio.h>
#include <string.h>
#include "api/domain/attendance.h"
#include "api/domain/shift_time.h"
#include "server/core/roles.h"

/* The shift as decoded: the domain's fields, and the week days as sent (a bit each below). The
 * times are "HH:MM", "24:00" allowed (the domain refuses it as a start). */
struct shift_in {
    struct shift_rec s;
    struct api_i64s days;
};

#define S(m) offsetof(struct shift_in, s.m)
static const struct api_field shift_fields[] = {
    {"name", API_STR, true, S(name), 64, 1, 0},
    {"days", API_I64S, true, offsetof(struct shift_in, days), 7, 0, 0},
    {"start", API_HHMM, true, S(start_min), 0, 0, SHIFT_DAY_MIN},
    {"end", API_HHMM, true, S(end_min), 0, 0, SHIFT_DAY_MIN},
    {"grace_min", API_INT, false, S(grace_min), 0, 0, 240},
    {"active", API_BOOL, false, S(active), 0, 0, 0},
    {0},
};
#undef S

static enum err shift_decode(struct rctx *cx, const struct req *rq, struct shift_in *in)
{
    struct shift_rec *s = &in->s;
    enum err res;

    s->active = true;
    res = api_json_input(cx, rq, shift_fields, in, NULL);
    if (res)
        return res;
    /* An end at midnight is the end of the start's day, written "00:00" or "24:00". */
    if (s->end_min == 0)
        s->end_min = SHIFT_DAY_MIN;
    for (size_t i = 0; i < in->days.n; i++) {
        if (in->days.v[i] > 7)
            return rctx_fail(cx, ERR_INVALID, "days[%zu]: 1 (Monday) to 7 (Sunday)", i);
        s->days |= 1u << (in->days.v[i] - 1);
    }
    return ERR_OK;
}

static json_t *shift_json(const struct shift_rec *s)
{
    json_t *days = json_array();
    struct shift_times t = {.start_min = s->start_min, .end_min = s->end_min};
    char a[32], b[32];

    for (int d = 0; d < 7; d++)
        if (s->days & (1u << d))
            json_array_append_new(days, json_integer(d + 1));
    snprintf(a, sizeof a, "%02d:%02d", s->start_min / 60, s->start_min % 60);
    snprintf(b, sizeof b, "%02d:%02d", s->end_min / 60, s->end_min % 60);
    return json_pack("{s:I,s:s,s:o,s:s,s:s,s:b,s:i,s:b}", "id", (json_int_t)s->id, "name", s->name,
                     "days", days, "start", a, "end", b, "overnight", shift_overnight(&t),
                     "grace_min", s->grace_min, "active", s->active);
}

static enum err shifts_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct shift_in in = {0};
    enum err res = shift_decode(cx, rq, &in);

    if (!res)
        res = shift_create(cx, &in.s, &in.s.id);
    if (res)
        return res;
    return api_json_reply(cx, rs, 201, shift_json(&in.s));
}

static enum err shifts_update(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct shift_in in = {0};
    enum err res = shift_decode(cx, rq, &in);

    in.s.id = req_param_i64(rq, "id");
    if (!res)
        res = shift_update(cx, in.s.id, &in.s);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, shift_json(&in.s));
}

static enum err shifts_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct shift_rec *v;
    size_t n;
    json_t *items;
    enum err res = shift_list(cx, &v, &n);

    (void)rq;
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, shift_json(&v[i]));
    return api_json_reply(cx, rs, 200, json_pack("{s:o}", "items", items));
}

static const struct api_field assign_fields[] = {
    {"user_id", API_I64, false, offsetof(struct shift_holder, user_id), 0, 1, INT64_MAX},
    {"department_id", API_I64, false, offsetof(struct shift_holder, department_id), 0, 1,
     INT64_MAX},
    {0},
};

static enum err shifts_assign(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct shift_holder who = {0};
    enum err res = api_json_input(cx, rq, assign_fields, &who, NULL);

    if (!res)
        res = shift_assign(cx, req_param_i64(rq, "id"), &who);
    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* DELETE /api/v1/shifts/{id}/assignments?user_id=|department_id= */
static enum err shifts_unassign(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct shift_holder who = {0};
    enum err res = api_query_i64(cx, rq, "user_id", 1, INT64_MAX, &who.user_id);

    if (!res)
        res = api_query_i64(cx, rq, "department_id", 1, INT64_MAX, &who.department_id);
    if (!res)
        res = shift_unassign(cx, req_param_i64(rq, "id"), &who);
    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* clang-format off */
const struct route api_shifts_routes[] = {
    /* method  path                                  handler        roles       body  flags timeout batch */
    {"GET",   "/api/v1/shifts",                      shifts_list,   ROLE_ADMIN | ROLE_SHIFT_LEAD | ROLE_LEADER, 0, 0, 0, NULL, NULL},
    {"POST",  "/api/v1/shifts",                      shifts_create, ROLE_ADMIN, 4096, 0, 0, NULL, NULL},
    {"PUT",   "/api/v1/shifts/{id}",                 shifts_update, ROLE_ADMIN, 4096, 0, 0, NULL, NULL},
    {"POST",  "/api/v1/shifts/{id}/assignments",     shifts_assign, ROLE_ADMIN, 1024, 0, 0, NULL, NULL},
    {"DELETE", "/api/v1/shifts/{id}/assignments",    shifts_unassign, ROLE_ADMIN, 0, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
