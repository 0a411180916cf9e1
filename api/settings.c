/* api/settings.c: /api/v1/calendar/days, /api/v1/case-settings, /api/v1/dispatch-rules — the
 * work calendar's holidays and make-up working days, the case tunables and the 属地 + 专业
 * dispatch rules. Staff of the command centre read them; admins change them. Handlers only:
 * decode, call the domain (settings.h), encode.
 *
 * A calendar day is addressed by its date, PUT /api/v1/calendar/days/{date} and DELETE on the
 * same path: the date is the table's key, so setting it twice is the same as once (PUT needs no
 * Idempotency-Key), and the router passes any segment for a parameter not named id / *_id; the
 * domain checks it is a real date. */
#include "api.h"

#include <stddef.h>
#include <string.h>
#include "api/domain/settings.h"
#include "server/core/roles.h"

/* Who reads: the centre's staff and leaders (inspectors and handlers work from their tasks). */
#define ROLE_SETTINGS_READ                                                                         \
    (ROLE_OPERATOR | ROLE_SHIFT_LEAD | ROLE_DISPATCHER | ROLE_LEADER | ROLE_ADMIN)

/* ---- calendar days ------------------------------------------------------------------------ */

static json_t *day_json(const struct settings_day *d)
{
    return json_pack("{s:s,s:s,s:s}", "date", d->date, "kind", d->kind, "name", d->name);
}

static enum err days_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct settings_day *v;
    size_t n;
    bool more;
    json_t *items;
    enum err res =
        settings_day_list(cx, req_query(cx, rq, "from"), req_query(cx, rq, "to"), &v, &n, &more);

    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, day_json(&v[i]));
    return api_json_reply(cx, rs, 200, json_pack("{s:o,s:b}", "items", items, "truncated", more));
}

/* The body's fields; the date comes from the path. */
static const struct api_field day_fields[] = {
    {"kind", API_STR, true, offsetof(struct settings_day_in, kind), 16, 1, 0},
    /* Characters are counted by the domain; 4 bytes each at most. */
    {"name", API_STR, false, offsetof(struct settings_day_in, name), SETTINGS_DAY_NAME_MAX * 4, 0,
     0},
    {0},
};

static enum err days_put(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct settings_day_in in = {0};
    struct settings_day out;
    bool created = false;
    enum err res;

    res = api_json_input(cx, rq, day_fields, &in, NULL);
    in.date = req_param(cx, rq, "date");
    if (!res)
        res = settings_day_put(cx, &in, &out, &created);
    if (res)
        return res;
    return api_json_reply(cx, rs, created ? 201 : 200, day_json(&out));
}

static enum err days_delete(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = settings_day_delete(cx, req_param(cx, rq, "date"));

    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* ---- case settings ------------------------------------------------------------------------ */

static json_t *case_settings_json(const struct settings_case *s)
{
    return json_pack("{s:I,s:I,s:I,s:s,s:I,s:o}", "dup_radius_m", (json_int_t)s->dup_radius_m,
                     "dup_window_h", (json_int_t)s->dup_window_h, "escalate_pct",
                     (json_int_t)s->escalate_pct, "work_periods", s->work_periods, "utc_offset_min",
                     (json_int_t)s->utc_offset_min, "updated_at", api_json_time(s->updated_ms));
}

static enum err case_settings_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct settings_case s;
    enum err res = settings_case_get(cx, &s);

    (void)rq;
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, case_settings_json(&s));
}

/* Integers are decoded unbounded here: the ranges are the domain's, with its messages. */
#define P(name, type, m, has, max_len, min, max)                                                   \
    API_PATCH(struct settings_case_patch, name, type, API_NULL_ABSENT, m, has, max_len, min, max)
/* clang-format off */
static const struct api_patch_field case_settings_fields[] = {
    P("dup_radius_m",   API_I64, dup_radius_m,   has_dup_radius, 0,                    0, 0),
    P("dup_window_h",   API_I64, dup_window_h,   has_dup_window, 0,                    0, 0),
    P("escalate_pct",   API_I64, escalate_pct,   has_escalate,   0,                    0, 0),
    P("work_periods",   API_STR, work_periods,   has_periods,    0,                    1, 0),
    P("utc_offset_min", API_I64, utc_offset_min, has_utc_offset, 0,                    0, 0),
    {0},
};
/* clang-format on */
#undef P

static enum err case_settings_patch(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct settings_case_patch p = {0};
    struct settings_case out;
    enum err res;

    res = api_json_patch_input(cx, rq, case_settings_fields, &p, true);
    if (!res)
        res = settings_case_update(cx, &p, &out);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, case_settings_json(&out));
}

/* ---- dispatch rules ----------------------------------------------------------------------- */

#define RULES_PAGE 100

static json_t *rule_json(const struct settings_rule *r)
{
    return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:b,s:o}", "id", (json_int_t)r->id,
                     "grid_id", api_json_id(r->grid_id), "grid_name", api_json_str(r->grid_name),
                     "category_id", api_json_id(r->category_id), "category_code",
                     api_json_str(r->category_code), "category_name",
                     api_json_str(r->category_name), "department_id", (json_int_t)r->department_id,
                     "department_name", api_json_str(r->department_name), "auto", r->autom,
                     "created_at", api_json_time(r->created_ms));
}

static enum err rules_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct settings_rule_filter f = {.limit = RULES_PAGE};
    struct settings_rule *v;
    int64_t limit = RULES_PAGE, next = 0;
    size_t n;
    json_t *items, *out;
    enum err res;

    res = api_query_i64(cx, rq, "grid_id", 1, INT64_MAX, &f.grid_id);
    if (!res)
        res = api_query_i64(cx, rq, "category_id", 1, INT64_MAX, &f.category_id);
    if (!res)
        res = api_query_i64(cx, rq, "department_id", 1, INT64_MAX, &f.department_id);
    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, SETTINGS_RULES_MAX, &limit);
    if (!res)
        res = api_query_cursor(cx, rq, "r1", &f.after_id);
    if (res)
        return res;
    f.limit = (int)limit;
    res = settings_rule_list(cx, &f, &v, &n, &next);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, rule_json(&v[i]));
    out = json_pack("{s:o}", "items", items);
    json_object_set_new(out, "next_cursor",
                        next ? json_string(api_cursor(cx, "r1", next)) : json_null());
    return api_json_reply(cx, rs, 200, out);
}

/* Straight into the domain's struct. */
static const struct api_field rule_fields[] = {
    {"grid_id", API_I64, false, offsetof(struct settings_rule_new, grid_id), 0, 1, INT64_MAX},
    {"category_id", API_I64, false, offsetof(struct settings_rule_new, category_id), 0, 1,
     INT64_MAX},
    {"department_id", API_I64, true, offsetof(struct settings_rule_new, department_id), 0, 1,
     INT64_MAX},
    {"auto", API_BOOL, false, offsetof(struct settings_rule_new, autom), 0, 0, 0},
    {0},
};

static enum err rules_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct settings_rule_new in = {0};
    struct settings_rule rule;
    struct idem idem;
    int64_t id = 0;
    bool replay = false;
    enum err res;

    res = api_idem(cx, rq, 201, &idem);
    if (!res)
        res = api_json_input(cx, rq, rule_fields, &in, NULL);
    if (!res)
        res = settings_rule_create(cx, &in, &idem, &id, &replay);
    if (!res)
        res = settings_rule_get(cx, id, &rule);
    if (res)
        return res;
    if (replay)
        resp_header(cx, rs, "idempotent-replayed", "true");
    resp_header(cx, rs, "location", rctx_printf(cx, "/api/v1/dispatch-rules/%lld", (long long)id));
    return api_json_reply(cx, rs, 201, rule_json(&rule));
}

#define P(name, type, m, has, max_len, min, max)                                                   \
    API_PATCH(struct settings_rule_patch, name, type, API_NULL_REFUSED, m, has, max_len, min, max)
static const struct api_patch_field rule_patch_fields[] = {
    P("department_id", API_I64, department_id, has_department, 0, 1, INT64_MAX),
    P("auto", API_BOOL, autom, has_autom, 0, 0, 0),
    {0},
};
#undef P

static enum err rules_patch(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct settings_rule_patch p = {0};
    struct settings_rule rule;
    enum err res = api_json_patch_input(cx, rq, rule_patch_fields, &p, true);

    if (!res)
        res = settings_rule_update(cx, req_param_i64(rq, "id"), &p);
    if (!res)
        res = settings_rule_get(cx, req_param_i64(rq, "id"), &rule);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, rule_json(&rule));
}

static enum err rules_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct settings_rule rule;
    enum err res = settings_rule_get(cx, req_param_i64(rq, "id"), &rule);

    if (res)
        return res;
    return api_json_reply(cx, rs, 200, rule_json(&rule));
}

static enum err rules_delete(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = settings_rule_delete(cx, req_param_i64(rq, "id"));

    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* clang-format off */
const struct route api_settings_routes[] = {
    /* method    path                             handler              roles               body  flags  timeout batch */
    {"GET",    "/api/v1/calendar/days",         days_list,           ROLE_SETTINGS_READ, 0,    0, 0, NULL, NULL},
    {"PUT",    "/api/v1/calendar/days/{date}",  days_put,            ROLE_ADMIN,         1024, 0, 0, NULL, NULL},
    {"DELETE", "/api/v1/calendar/days/{date}",  days_delete,         ROLE_ADMIN,         0,    0, 0, NULL, NULL},
    {"GET",    "/api/v1/case-settings",         case_settings_get,   ROLE_SETTINGS_READ, 0,    0, 0, NULL, NULL},
    {"PATCH",  "/api/v1/case-settings",         case_settings_patch, ROLE_ADMIN,         1024, 0, 0, NULL, NULL},
    {"GET",    "/api/v1/dispatch-rules",        rules_list,          ROLE_SETTINGS_READ, 0,    0, 0, NULL, NULL},
    {"POST",   "/api/v1/dispatch-rules",        rules_create,        ROLE_ADMIN,         1024, 0, 0, NULL, NULL},
    {"GET",    "/api/v1/dispatch-rules/{id}",   rules_get,           ROLE_SETTINGS_READ, 0,    0, 0, NULL, NULL},
    {"PATCH",  "/api/v1/dispatch-rules/{id}",   rules_patch,         ROLE_ADMIN,         1024, 0, 0, NULL, NULL},
    {"DELETE", "/api/v1/dispatch-rules/{id}",   rules_delete,        ROLE_ADMIN,         0,    0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
