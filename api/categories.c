/* api/categories.c: /api/v1/categories — the 部件/事件 catalogue with its time limits; admins
 * edit the owning department and limits. Handlers only: decode, call the domain, encode. */
#include "api.h"

#include <stddef.h>
#include <string.h>
#include "api/domain/case_category.h"
#include "server/core/roles.h"

static json_t *category_json(const struct case_category *c)
{
    json_t *j = json_object();
    json_t *lim = json_object();

    json_object_set_new(j, "id", json_integer(c->id));
    json_object_set_new(j, "code_set", json_string(c->code_set));
    json_object_set_new(j, "kind", json_string(c->kind));
    json_object_set_new(j, "major_code", json_string(c->major_code));
    json_object_set_new(j, "major_name", json_string(c->major_name));
    json_object_set_new(j, "minor_code", json_string(c->minor_code));
    json_object_set_new(j, "minor_name", json_string(c->minor_name));
    json_object_set_new(j, "full_code", json_string(c->full_code));
    json_object_set_new(j, "typical_department", api_json_str(c->typical_department));
    json_object_set_new(j, "department_id",
                        c->department_id ? json_integer(c->department_id) : json_null());
    json_object_set_new(j, "urgent", json_boolean(c->urgent));
    json_object_set_new(j, "active", json_boolean(c->active));
    json_object_set_new(lim, "register_min", json_integer(c->limit_register_min));
    json_object_set_new(lim, "dispatch_min", json_integer(c->limit_dispatch_min));
    json_object_set_new(lim, "handle", json_integer(c->limit_handle));
    json_object_set_new(lim, "handle_unit", json_string(c->limit_handle_unit));
    json_object_set_new(lim, "verify_min", json_integer(c->limit_verify_min));
    json_object_set_new(lim, "close_min", json_integer(c->limit_close_min));
    json_object_set_new(j, "limits", lim);
    json_object_set_new(j, "register_condition", api_json_str(c->register_condition));
    json_object_set_new(j, "close_condition", api_json_str(c->close_condition));
    return j;
}

static enum err categories_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    const char *all = req_query(cx, rq, "all");
    struct case_category *list;
    size_t n;
    json_t *a;
    enum err res;

    if (all && strcmp(all, "true") != 0 && strcmp(all, "false") != 0)
        return rctx_fail(cx, ERR_INVALID, "all: true or false");
    res = case_category_list(cx, req_query(cx, rq, "code_set"), req_query(cx, rq, "kind"),
                             all && strcmp(all, "true") == 0, &n, &list);
    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, category_json(&list[i]));
    resp_header(cx, rs, "cache-control", "private, max-age=300");
    return api_json_reply(cx, rs, 200, json_pack("{s:o}", "items", a));
}

struct patch_body {
    int64_t department_id;
    bool urgent, active;
    int64_t register_min, dispatch_min, handle, verify_min, close_min;
    char *unit, *register_condition, *close_condition;
};

#define LIMIT_MAX (60 * 24 * 365) /* a year of minutes */

/* Row order gives the `present` bits used below. */
static const struct api_field patch_fields[] = {
    {"department_id", API_I64, false, offsetof(struct patch_body, department_id), 0, 0, INT64_MAX},
    {"urgent", API_BOOL, false, offsetof(struct patch_body, urgent), 0, 0, 0},
    {"active", API_BOOL, false, offsetof(struct patch_body, active), 0, 0, 0},
    {"limit_register_min", API_I64, false, offsetof(struct patch_body, register_min), 0, 1,
     LIMIT_MAX},
    {"limit_dispatch_min", API_I64, false, offsetof(struct patch_body, dispatch_min), 0, 1,
     LIMIT_MAX},
    {"limit_handle", API_I64, false, offsetof(struct patch_body, handle), 0, 1, LIMIT_MAX},
    {"limit_handle_unit", API_STR, false, offsetof(struct patch_body, unit), 16, 1, 0},
    {"limit_verify_min", API_I64, false, offsetof(struct patch_body, verify_min), 0, 1, LIMIT_MAX},
    {"limit_close_min", API_I64, false, offsetof(struct patch_body, close_min), 0, 1, LIMIT_MAX},
    {"register_condition", API_STR, false, offsetof(struct patch_body, register_condition), 2000, 0,
     0},
    {"close_condition", API_STR, false, offsetof(struct patch_body, close_condition), 2000, 0, 0},
    {0},
};

static enum err categories_patch(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct patch_body b = {0};
    struct case_category_patch p = {0};
    struct case_category out;
    uint64_t present = 0;
    enum err res;

    res = api_json_input(cx, rq, patch_fields, &b, &present);
    if (res)
        return res;
    p.has_department = present & (1u << 0);
    p.department_id = b.department_id;
    p.has_urgent = present & (1u << 1);
    p.urgent = b.urgent;
    p.has_active = present & (1u << 2);
    p.active = b.active;
    p.has_register = present & (1u << 3);
    p.limit_register_min = (int)b.register_min;
    p.has_dispatch = present & (1u << 4);
    p.limit_dispatch_min = (int)b.dispatch_min;
    p.has_handle = present & (1u << 5);
    p.limit_handle = (int)b.handle;
    p.has_unit = present & (1u << 6);
    p.limit_handle_unit = b.unit;
    p.has_verify = present & (1u << 7);
    p.limit_verify_min = (int)b.verify_min;
    p.has_close = present & (1u << 8);
    p.limit_close_min = (int)b.close_min;
    p.has_register_condition = present & (1u << 9);
    p.register_condition = b.register_condition;
    p.has_close_condition = present & (1u << 10);
    p.close_condition = b.close_condition;
    res = case_category_patch(cx, req_param_i64(rq, "id"), &p, &out);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, category_json(&out));
}

/* clang-format off */
const struct route api_categories_routes[] = {
    /* method   path                          handler           roles       body      flags  timeout batch  scope (API keys) */
    {"GET",   "/api/v1/categories",         categories_list,  ROLE_ANY,   0,        0, 0, NULL, "categories:read"},
    {"PATCH", "/api/v1/categories/{id}",    categories_patch, ROLE_ADMIN, 8 * 1024, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
