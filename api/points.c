/* api/points.c: /api/v1/points — a citizen's 积分 (balance, ledger, redemptions) and the items
 * admins define. Handlers only: decode, call the domain (points.h), encode. */
#include "api.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "api/domain/idempotency.h"
#include "api/domain/points.h"
#include "server/core/roles.h"

static enum err points_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct points_summary s;
    enum err res = points_summary(cx, &s);

    (void)rq;
    if (res)
        return res;
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:I,s:I,s:I,s:I,s:i,s:i}", "balance", (json_int_t)s.balance,
                                    "earned", (json_int_t)s.earned, "spent", (json_int_t)s.spent,
                                    "earned_today", (json_int_t)s.earned_today, "per_report",
                                    s.per_report, "daily_cap", s.daily_cap));
}

static enum err ledger_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct points_entry *v;
    int64_t limit = 50, before = 0, next = 0;
    size_t n = 0;
    json_t *a, *j;
    enum err res = api_query_i64(cx, rq, "limit", 1, POINTS_PAGE_MAX, &limit);

    if (!res)
        res = api_query_cursor(cx, rq, "p1", &before);
    if (!res)
        res = points_ledger(cx, before, (int)limit, &n, &v, &next);
    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:I,s:I,s:I,s:s,s:s,s:s,s:I,s:o,s:o}", "id",
                                           (json_int_t)v[i].id, "delta", (json_int_t)v[i].delta,
                                           "balance_after", (json_int_t)v[i].balance_after, "cause",
                                           v[i].cause, "cause_label", v[i].cause_label, "ref_type",
                                           v[i].ref_type, "ref_id", (json_int_t)v[i].ref_id, "note",
                                           api_json_str(v[i].note), "at",
                                           api_json_time(v[i].created_ms)));
    j = json_pack("{s:o}", "items", a);
    json_object_set_new(j, "next_cursor",
                        next ? json_string(api_cursor(cx, "p1", next)) : json_null());
    return api_json_reply(cx, rs, 200, j);
}

static json_t *item_json(const struct points_item *it)
{
    return json_pack("{s:I,s:s,s:o,s:I,s:I,s:b,s:o,s:o}", "id", (json_int_t)it->id, "name",
                     it->name, "description", api_json_str(it->description), "cost",
                     (json_int_t)it->cost, "stock", (json_int_t)it->stock, "active", it->active,
                     "created_at", api_json_time(it->created_ms), "updated_at",
                     api_json_time(it->updated_ms));
}

static enum err items_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct points_item *v;
    size_t n = 0;
    int all = 0;
    json_t *a;
    enum err res = api_query_bool(cx, rq, "all", &all);

    if (!res && all == 1 && !(cx->who.roles & ROLE_ADMIN))
        res = rctx_fail(cx, ERR_FORBIDDEN, "all: for admins");
    if (!res)
        res = points_items_list(cx, all == 1, &n, &v);
    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, item_json(&v[i]));
    return api_json_reply(cx, rs, 200, json_pack("{s:o}", "items", a));
}

#define P(name, type, m, has, max_len, min, max)                                                   \
    API_PATCH(struct points_item_in, name, type, API_NULL_ABSENT, m, has, max_len, min, max)
/* clang-format off */
static const struct api_patch_field item_fields[] = {
    P("name",        API_STR,  name,        has_name,        POINTS_NAME_MAX, 1, 0),
    P("description", API_STR,  description, has_description, 0, 0, 0), /* points.c: POINTS_DESC_MAX */
    P("cost",        API_I64,  cost,        has_cost,        0, 1, 1000000),
    P("stock",       API_I64,  stock,       has_stock,       0, 0, 100000000),
    P("active",      API_BOOL, active,      has_active,      0, 0, 0),
    {0},
};
/* clang-format on */
#undef P

static enum err items_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct points_item_in in = {0};
    struct points_item out;
    enum err res = api_json_patch_input(cx, rq, item_fields, &in, false);

    if (!res)
        res = points_item_create(cx, &in, &out);
    if (res)
        return res;
    return api_json_reply(cx, rs, 201, item_json(&out));
}

static enum err items_patch(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct points_item_in in = {0};
    struct points_item out;
    enum err res = api_json_patch_input(cx, rq, item_fields, &in, false);

    if (!res)
        res = points_item_patch(cx, req_param_i64(rq, "id"), &in, &out);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, item_json(&out));
}

/* One field, decoded straight into the item id (offset 0). */
static const struct api_field redeem_fields[] = {
    {"item_id", API_I64, true, 0, 0, 1, INT64_MAX},
    {0},
};

static enum err redeem(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    int64_t item_id = 0;
    struct points_redemption d;
    struct idem idem;
    enum err res = api_idem(cx, rq, 201, &idem);

    if (!res)
        res = api_json_input(cx, rq, redeem_fields, &item_id, NULL);
    if (!res)
        res = points_redeem(cx, item_id, &idem, &d);
    if (res)
        return res;
    if (d.replay)
        resp_header(cx, rs, "idempotent-replayed", "true");
    return api_json_reply(
        cx, rs, 201,
        json_pack("{s:I,s:I,s:s,s:I,s:I,s:o}", "id", (json_int_t)d.id, "item_id",
                  (json_int_t)d.item_id, "item_name", d.item_name, "cost", (json_int_t)d.cost,
                  "balance_after", (json_int_t)d.balance_after, "at", api_json_time(d.created_ms)));
}

/* clang-format off */
const struct route api_points_routes[] = {
    /* method   path                          handler      roles                       body      flags  timeout batch  scope (API keys) */
    {"GET",   "/api/v1/points",             points_get,  ROLE_CITIZEN,               0,        0, 0, NULL, NULL},
    {"GET",   "/api/v1/points/ledger",      ledger_get,  ROLE_CITIZEN,               0,        0, 0, NULL, NULL},
    {"GET",   "/api/v1/points/items",       items_list,  ROLE_CITIZEN | ROLE_ADMIN,  0,        0, 0, NULL, NULL},
    {"POST",  "/api/v1/points/items",       items_create, ROLE_ADMIN,                4 * 1024, 0, 0, NULL, NULL},
    {"PATCH", "/api/v1/points/items/{id}",  items_patch, ROLE_ADMIN,                 4 * 1024, 0, 0, NULL, NULL},
    {"POST",  "/api/v1/points/redemptions", redeem,      ROLE_CITIZEN,               1024,     0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
