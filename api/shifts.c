/* api/shifts.c: /api/v1/shifts — shift schedules and who works them (admins; audited).
 * Handlers only (attendance.h). */
#include "api.h"

#include <stdio.h>
#include <string.h>
#include "api/domain/attendance.h"
#include "api/domain/shift_time.h"
#include "server/core/roles.h"

/* "HH:MM" → minutes; "24:00" allowed as an end. */
static enum err hhmm(struct rctx *cx, const char *name, const char *s, int *out)
{
    int h, m, n = 0;

    if (!s || sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5 || s[5] || h < 0 || h > 24 ||
        m < 0 || m > 59 || (h == 24 && m))
        return rctx_fail(cx, ERR_INVALID, "%s: \"HH:MM\"", name);
    *out = h * 60 + m;
    return ERR_OK;
}

struct shift_body {
    char *name, *start, *end;
    struct api_i64s days;
    int64_t grace_min;
    bool active;
};

static const struct api_field shift_fields[] = {
    {"name", API_STR, true, offsetof(struct shift_body, name), 64, 1, 0},
    {"days", API_I64S, true, offsetof(struct shift_body, days), 7, 0, 0},
    {"start", API_STR, true, offsetof(struct shift_body, start), 5, 5, 0},
    {"end", API_STR, true, offsetof(struct shift_body, end), 5, 5, 0},
    {"grace_min", API_I64, false, offsetof(struct shift_body, grace_min), 0, 0, 240},
    {"active", API_BOOL, false, offsetof(struct shift_body, active), 0, 0, 0},
    {0},
};

static enum err shift_decode(struct rctx *cx, const struct req *rq, struct shift_rec *s)
{
    struct shift_body b = {.active = true};
    enum err res = api_json_input(cx, rq, shift_fields, &b, NULL);

    if (!res)
        res = hhmm(cx, "start", b.start, &s->start_min);
    if (!res)
        res = hhmm(cx, "end", b.end, &s->end_min);
    if (res)
        return res;
    /* An end at midnight is the end of the start's day, written "00:00" or "24:00". */
    if (s->end_min == 0)
        s->end_min = SHIFT_DAY_MIN;
    s->days = 0;
    for (size_t i = 0; i < b.days.n; i++) {
        if (b.days.v[i] > 7)
            return rctx_fail(cx, ERR_INVALID, "days[%zu]: 1 (Monday) to 7 (Sunday)", i);
        s->days |= 1u << (b.days.v[i] - 1);
    }
    s->name = b.name;
    s->grace_min = (int)b.grace_min;
    s->active = b.active;
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
    struct shift_rec s = {0};
    enum err res = shift_decode(cx, rq, &s);

    if (!res)
        res = shift_create(cx, &s, &s.id);
    if (res)
        return res;
    return api_json_reply(cx, rs, 201, shift_json(&s));
}

static enum err shifts_update(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct shift_rec s = {0};
    enum err res = shift_decode(cx, rq, &s);

    s.id = req_param_i64(rq, "id");
    if (!res)
        res = shift_update(cx, s.id, &s);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, shift_json(&s));
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

struct assign_body {
    int64_t user_id, department_id;
};

static const struct api_field assign_fields[] = {
    {"user_id", API_I64, false, offsetof(struct assign_body, user_id), 0, 1, INT64_MAX},
    {"department_id", API_I64, false, offsetof(struct assign_body, department_id), 0, 1, INT64_MAX},
    {0},
};

static enum err shifts_assign(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct assign_body b = {0};
    enum err res = api_json_input(cx, rq, assign_fields, &b, NULL);

    if (!res)
        res = shift_assign(cx, req_param_i64(rq, "id"), b.user_id, b.department_id);
    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* DELETE /api/v1/shifts/{id}/assignments?user_id=|department_id= */
static enum err shifts_unassign(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    int64_t user_id = 0, department_id = 0;
    enum err res = api_query_i64(cx, rq, "user_id", 1, INT64_MAX, &user_id);

    if (!res)
        res = api_query_i64(cx, rq, "department_id", 1, INT64_MAX, &department_id);
    if (!res)
        res = shift_unassign(cx, req_param_i64(rq, "id"), user_id, department_id);
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
