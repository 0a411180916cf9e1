/* api/domain/case_category.h: the category catalogue (GB/T 30428 事件 and 部件 codes, their
 * time limits and departments) and its admin edit. Table categories; results are pool memory
 * of cx. No HTTP, no JSON. */
#ifndef CITYD_DOMAIN_CASE_CATEGORY_H
#define CITYD_DOMAIN_CASE_CATEGORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct case_category {
    int64_t id, department_id;
    const char *code_set, *kind, *major_code, *major_name, *minor_code, *minor_name, *full_code;
    const char *typical_department, *limit_handle_unit, *register_condition, *close_condition;
    bool urgent, active;
    bool photo_required; /* a citizen's or inspector's report of it needs a photo */
    int limit_register_min, limit_dispatch_min, limit_handle, limit_verify_min, limit_close_min;
    int limit_confirm_min; /* 核实时限 */
};

/* Categories filtered by code_set, kind (NULL = any) and active only unless all. */
enum err case_category_list(struct rctx *cx, const char *code_set, const char *kind, bool all,
                            size_t *n, struct case_category **out) MUST_CHECK;

/* Admin edit: fields with their has_ flag set change. ERR_NOTFOUND, ERR_INVALID (unknown
 * department, unit). Audited. */
struct case_category_patch {
    bool has_department, has_urgent, has_active, has_register, has_dispatch, has_handle, has_unit,
        has_verify, has_close, has_register_condition, has_close_condition, has_photo_required,
        has_confirm;
    int64_t department_id; /* 0 clears */
    bool urgent, active, photo_required;
    int limit_register_min, limit_dispatch_min, limit_handle, limit_verify_min, limit_close_min,
        limit_confirm_min;
    const char *limit_handle_unit, *register_condition, *close_condition;
};
enum err case_category_patch(struct rctx *cx, int64_t id, const struct case_category_patch *p,
                             struct case_category *out) MUST_CHECK;

#endif
