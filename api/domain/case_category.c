/* api/domain/case_category.c: the category catalogue (事部件分类) and its admin edit (see
 * case_category.h). */
#include "api/domain/case_category.h"

#include <string.h>
#include "api/domain/audit.h"
#include "api/domain/calendar.h"
#include "api/domain/case_int.h"
#include "server/db/db.h"
#include "server/db/sqlb.h"

#define CATEGORY_COLS                                                                              \
    "id, department_id, code_set, kind, major_code, major_name, minor_code, minor_name,"           \
    " full_code, typical_department, limit_handle_unit, register_condition, close_condition,"      \
    " urgent, active, limit_register_min, limit_dispatch_min, limit_handle, limit_verify_min,"     \
    " limit_close_min, photo_required, limit_confirm_min"

static void category_row(const struct db_res *r, size_t i, struct case_category *c)
{
    c->id = db_cell_i64(r, i, 0);
    c->department_id = db_cell_i64(r, i, 1);
    c->code_set = db_cell(r, i, 2);
    c->kind = db_cell(r, i, 3);
    c->major_code = db_cell(r, i, 4);
    c->major_name = db_cell(r, i, 5);
    c->minor_code = db_cell(r, i, 6);
    c->minor_name = db_cell(r, i, 7);
    c->full_code = db_cell(r, i, 8);
    c->typical_department = db_cell(r, i, 9);
    c->limit_handle_unit = db_cell(r, i, 10);
    c->register_condition = db_cell(r, i, 11);
    c->close_condition = db_cell(r, i, 12);
    c->urgent = db_cell_i64(r, i, 13) != 0;
    c->active = db_cell_i64(r, i, 14) != 0;
    c->limit_register_min = (int)db_cell_i64(r, i, 15);
    c->limit_dispatch_min = (int)db_cell_i64(r, i, 16);
    c->limit_handle = (int)db_cell_i64(r, i, 17);
    c->limit_verify_min = (int)db_cell_i64(r, i, 18);
    c->limit_close_min = (int)db_cell_i64(r, i, 19);
    c->photo_required = db_cell_i64(r, i, 20) != 0;
    c->limit_confirm_min = (int)db_cell_i64(r, i, 21);
}

enum err case_category_list(struct rctx *cx, const char *code_set, const char *kind, bool all,
                            size_t *n, struct case_category **out)
{
    struct db_res r;
    enum err res;

    if (kind && strcmp(kind, "component") != 0 && strcmp(kind, "event") != 0)
        return rctx_fail(cx, ERR_INVALID, "kind: component or event");
    if (code_set && strlen(code_set) > 16)
        return rctx_fail(cx, ERR_INVALID, "code_set: unknown code set");
    res =
        db_exec(cx,
                "SELECT " CATEGORY_COLS " FROM categories WHERE (? IS NULL OR code_set = ?)"
                " AND (? IS NULL OR kind = ?) AND (? = 1 OR active = 1)"
                " ORDER BY code_set, kind, full_code",
                DB_ARGS(DBS(code_set), DBS(code_set), DBS(kind), DBS(kind), DBI(all ? 1 : 0)), &r);
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++)
        category_row(&r, i, &(*out)[i]);
    return ERR_OK;
}

static void set_int(struct db_sqlb *b, bool has, const char *col, int64_t v)
{
    if (!has)
        return;
    db_sqlb_add(b, b->nargs ? ", " : " ");
    db_sqlb_add(b, col);
    db_sqlb_add(b, " = ?");
    db_sqlb_arg(b, DBI(v));
}

static void set_str(struct db_sqlb *b, bool has, const char *col, const char *v)
{
    if (!has)
        return;
    db_sqlb_add(b, b->nargs ? ", " : " ");
    db_sqlb_add(b, col);
    db_sqlb_add(b, " = ?");
    db_sqlb_arg(b, DBS(v));
}

enum err case_category_patch(struct rctx *cx, int64_t id, const struct case_category_patch *p,
                             struct case_category *out)
{
    struct db_sqlb b;
    struct db_res r;
    enum calendar_unit unit;
    enum err res;

    if (p->has_unit &&
        calendar_unit_from_name(p->limit_handle_unit, strlen(p->limit_handle_unit), &unit))
        return rctx_fail(cx, ERR_INVALID,
                         "limit_handle_unit: work_min, work_hour, work_day or natural_hour");
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx, "SELECT id FROM categories WHERE id = ? FOR UPDATE", DB_ARGS(DBI(id)), &r);
    if (!res && r.nrows == 0)
        res = rctx_fail(cx, ERR_NOTFOUND, "no such category");
    if (!res && p->has_department && p->department_id) {
        res = db_exec(cx, "SELECT 1 FROM departments WHERE id = ?", DB_ARGS(DBI(p->department_id)),
                      &r);
        if (!res && r.nrows == 0)
            res = rctx_fail(cx, ERR_INVALID, "department_id: no such department");
    }
    if (res)
        goto out;
    db_sqlb_init(cx, &b, 0, "UPDATE categories SET");
    if (p->has_department) {
        db_sqlb_add(&b, " department_id = ?");
        db_sqlb_arg(&b, p->department_id ? DBI(p->department_id) : DBNULL);
    }
    set_int(&b, p->has_urgent, "urgent", p->urgent);
    set_int(&b, p->has_active, "active", p->active);
    set_int(&b, p->has_photo_required, "photo_required", p->photo_required);
    set_int(&b, p->has_register, "limit_register_min", p->limit_register_min);
    set_int(&b, p->has_dispatch, "limit_dispatch_min", p->limit_dispatch_min);
    set_int(&b, p->has_handle, "limit_handle", p->limit_handle);
    set_str(&b, p->has_unit, "limit_handle_unit", p->limit_handle_unit);
    set_int(&b, p->has_verify, "limit_verify_min", p->limit_verify_min);
    set_int(&b, p->has_close, "limit_close_min", p->limit_close_min);
    set_int(&b, p->has_confirm, "limit_confirm_min", p->limit_confirm_min);
    set_str(&b, p->has_register_condition, "register_condition", p->register_condition);
    set_str(&b, p->has_close_condition, "close_condition", p->close_condition);
    if (b.nargs) {
        db_sqlb_add(&b, " WHERE id = ?");
        db_sqlb_arg(&b, DBI(id));
        res = db_sqlb_exec(&b, NULL);
        if (!res)
            res = audit_write(cx, "category.update", "category", id, AUDIT_OK, NULL);
    }
    if (res)
        goto out;
    res =
        db_exec(cx, "SELECT " CATEGORY_COLS " FROM categories WHERE id = ?", DB_ARGS(DBI(id)), &r);
    if (!res)
        category_row(&r, 0, out);
out:
    return db_tx_end(cx, res);
}
