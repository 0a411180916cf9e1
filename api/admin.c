/* api/admin.c: /api/v1/admin/users — user administration (admins only).
 * Handlers only: decode, call the domain (admin.h), encode. The rules live in the domain. */
#include "api.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/domain/admin.h"
#include "api/domain/user.h"
#include "server/core/roles.h"

static json_t *user_json(const struct user_rec *u, bool with_grids)
{
    json_t *j = json_pack("{s:I,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:b,s:s}", "id", (json_int_t)u->id,
                          "username", api_json_str(u->username), "phone", api_json_str(u->phone),
                          "display_name", u->display_name, "roles", api_json_roles(u->roles),
                          "department_id", api_json_id(u->department_id), "department_name",
                          api_json_str(u->department_name), "region_id", api_json_id(u->region_id),
                          "region_name", api_json_str(u->region_name), "disabled", u->disabled,
                          "created_at", u->created_at);

    if (j && with_grids) {
        json_t *g = json_array();
        for (size_t i = 0; i < u->ngrids; i++)
            json_array_append_new(g, json_integer(u->grid_ids[i]));
        json_object_set_new(j, "grid_ids", g);
    }
    return j;
}

/* roles: ["inspector", "handler"] → bits. */
static enum err decode_roles(struct rctx *cx, json_t *v, uint32_t *out)
{
    uint32_t m = 0;

    if (!json_is_array(v))
        return rctx_fail(cx, ERR_INVALID, "roles: expected an array of role names");
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *s = json_array_get(v, i);
        uint32_t bit =
            json_is_string(s) ? role_from_name(json_string_value(s), json_string_length(s)) : 0;
        if (!bit)
            return rctx_fail(cx, ERR_INVALID, "roles[%zu]: not a role name", i);
        m |= bit;
    }
    *out = m;
    return ERR_OK;
}

static enum err reply_user(struct rctx *cx, struct resp *rs, int status, int64_t id)
{
    struct user_rec u;
    enum err res = user_get(cx, id, &u);

    if (res)
        return res;
    return api_json_reply(cx, rs, status, user_json(&u, true));
}

/* ---- list --------------------------------------------------------------------------------- */

static enum err admin_users_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct admin_user_filter f = {0};
    struct admin_user_page pg;
    const char *role = req_query(cx, rq, "role");
    const char *disabled = req_query(cx, rq, "disabled");
    int64_t limit = 50;
    json_t *items, *j;
    enum err res;

    f.q = req_query(cx, rq, "q");
    if (f.q && strlen(f.q) > 64)
        return rctx_fail(cx, ERR_INVALID, "q: at most 64 bytes");
    if (role) {
        f.role = role_from_name(role, strlen(role));
        if (!f.role)
            return rctx_fail(cx, ERR_INVALID, "role: not a role name");
    }
    f.disabled = -1;
    if (disabled) {
        if (strcmp(disabled, "true") == 0)
            f.disabled = 1;
        else if (strcmp(disabled, "false") == 0)
            f.disabled = 0;
        else
            return rctx_fail(cx, ERR_INVALID, "disabled: true or false");
    }
    res = api_query_cursor(cx, rq, "u1", &f.after_id);
    if (res)
        return res;
    res = api_query_i64(cx, rq, "department_id", 1, INT64_MAX, &f.department_id);
    if (!res)
        res = api_query_i64(cx, rq, "region_id", 1, INT64_MAX, &f.region_id);
    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, ADMIN_LIST_MAX, &limit);
    if (res)
        return res;
    f.limit = (int)limit;
    res = admin_user_list(cx, &f, &pg);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < pg.n; i++)
        json_array_append_new(items, user_json(&pg.items[i], false));
    j = json_pack("{s:o}", "items", items);
    if (pg.next_after)
        json_object_set_new(j, "next_cursor", json_string(api_cursor(cx, "u1", pg.next_after)));
    else
        json_object_set_new(j, "next_cursor", json_null());
    return api_json_reply(cx, rs, 200, j);
}

static enum err admin_users_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    return reply_user(cx, rs, 200, req_param_i64(rq, "id"));
}

/* ---- create ------------------------------------------------------------------------------- */

/* Straight into the domain's struct, with roles and grids borrowed beside it. */
struct create_in {
    struct admin_user_new n;
    json_t *roles;
    struct api_i64s grid_ids;
};

#define U(m) offsetof(struct create_in, n.u.m)
/* clang-format off */
static const struct api_field create_fields[] = {
    {"username",      API_STR,  true,  U(username),      32,  3, 0},
    {"password",      API_STR,  false, U(password),      128, 1, 0},
    {"display_name",  API_STR,  true,  U(display_name),  64,  1, 0},
    {"phone",         API_STR,  false, U(phone),         20,  5, 0},
    {"roles",         API_JSON, true,  offsetof(struct create_in, roles), 0, 0, 0},
    {"department_id", API_I64,  false, U(department_id), 0,   1, INT64_MAX},
    {"region_id",     API_I64,  false, U(region_id),     0,   1, INT64_MAX},
    {"grid_ids",      API_I64S, false, offsetof(struct create_in, grid_ids), ADMIN_GRIDS_MAX, 0, 0},
    {0},
};
/* clang-format on */
#undef U

static enum err admin_users_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct create_in in = {0};
    struct idem idem;
    int64_t id;
    bool replay;
    enum err res;

    res = api_idem(cx, rq, 201, &idem);
    if (!res)
        res = api_json_input(cx, rq, create_fields, &in, NULL);
    if (!res)
        res = decode_roles(cx, in.roles, &in.n.u.roles);
    if (res)
        return res;
    in.n.ngrids = in.grid_ids.n;
    in.n.grid_ids = in.grid_ids.v;
    res = admin_user_create(cx, &in.n, &idem, &id, &replay);
    if (res)
        return res;
    if (replay)
        resp_header(cx, rs, "idempotent-replayed", "true");
    resp_header(cx, rs, "location", rctx_printf(cx, "/api/v1/admin/users/%lld", (long long)id));
    return reply_user(cx, rs, 201, id);
}

/* ---- update ------------------------------------------------------------------------------- */

static enum err roles_field(struct rctx *cx, const char *name, json_t *v, void *base)
{
    return decode_roles(cx, v, &((struct admin_user_patch *)base)->roles);
}

static enum err grids_field(struct rctx *cx, const char *name, json_t *v, void *base)
{
    static const struct api_field f = {"grid_ids", API_I64S, false, 0, ADMIN_GRIDS_MAX, 0, 0};
    struct admin_user_patch *p = base;
    struct api_i64s ids;
    enum err res = api_json_decode_value(cx, &f, v, &ids);

    if (res)
        return res;
    p->ngrids = ids.n;
    p->grid_ids = ids.v;
    return ERR_OK;
}

#define P(name, type, null, m, has, max_len, min, max)                                             \
    API_PATCH(struct admin_user_patch, name, type, null, m, has, max_len, min, max)
static const struct api_patch_field patch_fields[] = {
    P("display_name", API_STR, API_NULL_REFUSED, display_name, has_display_name, 64, 1, 0),
    P("phone", API_STR, API_NULL_CLEARS, phone, has_phone, 20, 5, 0),
    {"roles", API_JSON, API_NULL_REFUSED, 0, offsetof(struct admin_user_patch, has_roles), 0, 0, 0,
     roles_field},
    P("department_id", API_I64, API_NULL_CLEARS, department_id, has_department, 0, 1, INT64_MAX),
    P("region_id", API_I64, API_NULL_CLEARS, region_id, has_region, 0, 1, INT64_MAX),
    {"grid_ids", API_I64S, API_NULL_REFUSED, 0, offsetof(struct admin_user_patch, has_grids), 0, 0,
     0, grids_field},
    {0},
};
#undef P

static enum err admin_users_patch(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct admin_user_patch p = {0};
    int64_t id = req_param_i64(rq, "id");
    enum err res;

    res = api_json_patch_input(cx, rq, patch_fields, &p, false);
    if (!res)
        res = admin_user_update(cx, id, &p);
    if (res)
        return res;
    return reply_user(cx, rs, 200, id);
}

/* ---- disable, enable, reset password ------------------------------------------------------ */

/* Bodies of one field decode straight into the variable the domain takes (offset 0). */
static const struct api_field reason_fields[] = {
    {"reason", API_STR, true, 0, 200, 1, 0},
    {0},
};

static enum err set_disabled(struct rctx *cx, const struct req *rq, struct resp *rs, bool off)
{
    char *reason = NULL;
    enum err res;

    res = api_json_input(cx, rq, reason_fields, &reason, NULL);
    if (!res)
        res = admin_user_set_disabled(cx, req_param_i64(rq, "id"), off, reason);
    if (res)
        return res;
    return resp_empty(rs, 204);
}

static enum err admin_users_disable(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    return set_disabled(cx, rq, rs, true);
}

static enum err admin_users_enable(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    return set_disabled(cx, rq, rs, false);
}

static const struct api_field reset_fields[] = {
    {"new_password", API_STR, true, 0, 128, 1, 0},
    {0},
};

static enum err admin_users_reset_password(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    char *new_password = NULL;
    enum err res;

    res = api_json_input(cx, rq, reset_fields, &new_password, NULL);
    if (!res)
        res = admin_user_reset_password(cx, req_param_i64(rq, "id"), new_password);
    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* clang-format off */
const struct route api_admin_routes[] = {
    /* method   path                                         handler                     roles       body  flags  timeout batch */
    {"GET",   "/api/v1/admin/users",                       admin_users_list,           ROLE_ADMIN, 0,    0, 0, NULL, NULL},
    {"POST",  "/api/v1/admin/users",                       admin_users_create,         ROLE_ADMIN, 8192, ROUTE_PASSWORD, 0, NULL, NULL},
    {"GET",   "/api/v1/admin/users/{id}",                  admin_users_get,            ROLE_ADMIN, 0,    0, 0, NULL, NULL},
    {"PATCH", "/api/v1/admin/users/{id}",                  admin_users_patch,          ROLE_ADMIN, 8192, 0, 0, NULL, NULL},
    {"POST",  "/api/v1/admin/users/{id}/disable",          admin_users_disable,        ROLE_ADMIN, 1024, 0, 0, NULL, NULL},
    {"POST",  "/api/v1/admin/users/{id}/enable",           admin_users_enable,         ROLE_ADMIN, 1024, 0, 0, NULL, NULL},
    {"POST",  "/api/v1/admin/users/{id}/reset-password",   admin_users_reset_password, ROLE_ADMIN, 1024, ROUTE_PASSWORD, 0, NULL, NULL},
    {0},
};
/* clang-format on */
