/* api/me.c: /api/v1/me — the caller's own profile, devices and password. */
#include "api.h"

#include <stddef.h>
#include "api/domain/session.h"
#include "api/domain/user.h"
#include "server/core/roles.h"

static enum err me_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct user_rec u;
    json_t *j, *grids;
    enum err res = user_me(cx, &u);

    if (res)
        return res;
    grids = json_array();
    for (size_t i = 0; i < u.ngrids; i++)
        json_array_append_new(grids, json_integer(u.grid_ids[i]));
    j = json_pack(
        "{s:I,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:s}", "id", (json_int_t)u.id, "username",
        api_json_str(u.username), "phone", api_json_str(u.phone), "display_name", u.display_name,
        "roles", api_json_roles(cx->who.roles), "department_id", api_json_id(u.department_id),
        "department_name", api_json_str(u.department_name), "region_id", api_json_id(u.region_id),
        "region_name", api_json_str(u.region_name), "grid_ids", grids, "created_at", u.created_at);
    return api_json_reply(cx, rs, 200, j);
}

static enum err me_devices(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct device_list dl;
    json_t *a;
    enum err res = session_devices(cx, &dl);

    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < dl.n; i++)
        json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:s,s:s,s:b}", "id",
                                           (json_int_t)dl.rows[i].id, "device_id",
                                           dl.rows[i].device_id, "platform", dl.rows[i].platform,
                                           "created_at", dl.rows[i].created_at, "last_seen_at",
                                           dl.rows[i].last_seen_at, "current", dl.rows[i].current));
    return api_json_reply(cx, rs, 200, json_pack("{s:o}", "items", a));
}

static enum err me_revoke_device(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = session_revoke_device(cx, req_param_i64(rq, "id"));
    if (res)
        return res;
    return resp_empty(rs, 204);
}

static const struct api_field password_fields[] = {
    {"old_password", API_STR, true, offsetof(struct user_password_change, old_password), 128, 1, 0},
    {"new_password", API_STR, true, offsetof(struct user_password_change, new_password), 128, 1, 0},
    {0},
};

static enum err me_password(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct user_password_change in = {0};
    enum err res;

    res = api_json_input(cx, rq, password_fields, &in, NULL);
    if (!res)
        res = user_change_password(cx, &in);
    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* clang-format off */
const struct route api_me_routes[] = {
    /* method    path                          handler           roles      body  flags  timeout batch */
    {"GET",    "/api/v1/me",                 me_get,           ROLE_USER, 0,    ROUTE_BATCH | ROUTE_AUTH_PROFILE, 0, NULL, NULL},
    {"GET",    "/api/v1/me/devices",         me_devices,       ROLE_USER, 0,    0, 0, NULL, NULL},
    {"DELETE", "/api/v1/me/devices/{id}",    me_revoke_device, ROLE_USER, 0,    0, 0, NULL, NULL},
    {"PUT",    "/api/v1/me/password",        me_password,      ROLE_USER, 1024, ROUTE_PASSWORD, 0, NULL, NULL},
    {0},
};
/* clang-format on */
