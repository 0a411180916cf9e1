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
    json_object_set_new(j, "photo_required", json_boolean(c->photo_required));
    json_object_set_new(lim, "register_min", json_integer(c->limit_register_min));
    json_object_set_new(lim, "dispatch_min", json_integer(c->limit_dispatch_min));
    json_object_set_new(lim, "handle", json_integer(c->limit_handle));
    json_object_set_new(lim, "handle_unit", json_string(c->limit_handle_unit));
    json_object_set_new(lim, "verify_min", json_integer(c->limit_verify_min));
    json_object_set_new(lim, "close_min", json_integer(c->limit_close_min));
    json_object_set_new(lim, "confirm_min", json_integer(c->limit_confirm_min));
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

#define LIMIT_MAX (60 * 24 * 365) /* a year of minutes */

#define P(name, type, m, has, max_len, min, max)                                                   \
    API_PATCH(struct case_category_patch, name, type, API_NULL_ABSENT, m, has, max_len, min, max)
/* clang-format off */
static const struct api_patch_field patch_fields[] = {
    P("department_id",      API_I64,  department_id,      has_department,         0,    0, INT64_MAX),
    P("urgent",             API_BOOL, urgent,             has_urgent,             0,    0, 0),
    P("active",             API_BOOL, active,             has_active,             0,    0, 0),
    P("photo_required",     API_BOOL, photo_required,     has_photo_required,     0,    0, 0),
    P("limit_register_min", API_INT,  limit_register_min, has_register,           0,    1, LIMIT_MAX),
    P("limit_dispatch_min", API_INT,  limit_dispatch_min, has_dispatch,           0,    1, LIMIT_MAX),
    P("limit_handle",       API_INT,  limit_handle,       has_handle,             0,    1, LIMIT_MAX),
    P("limit_handle_unit",  API_STR,  limit_handle_unit,  has_unit,               16,   1, 0),
    P("limit_verify_min",   API_INT,  limit_verify_min,   has_verify,             0,    1, LIMIT_MAX),
    P("limit_close_min",    API_INT,  limit_close_min,    has_close,              0,    1, LIMIT_MAX),
    P("limit_confirm_min",  API_INT,  limit_confirm_min,  has_confirm,            0,    1, LIMIT_MAX),
    P("register_condition", API_STR,  register_condition, has_register_condition, 2000, 0, 0),
    P("close_condition",    API_STR,  close_condition,    has_close_condition,    2000, 0, 0),
    {0},
};
/* clang-format on */
#undef P

static enum err categories_patch(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct case_category_patch p = {0};
    struct case_category out;
    enum err res;

    res = api_json_patch_input(cx, rq, patch_fields, &p, true);
    if (!res)
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
