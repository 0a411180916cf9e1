/* api/domain/admin.c */
#include "admin.h"
#include "user.h"

#include <stdio.h>
#include <string.h>
#include "audit.h"
#include "idempotency.h"
#include "lockout.h"
#include "server/auth/password.h"
#include "server/core/roles.h"
#include "server/db/db.h"

#define ROLE_KNOWN (ROLE_STAFF | ROLE_CITIZEN | ROLE_MACHINE)
#define ISO_AT(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%sZ')"

/* ---- rules -------------------------------------------------------------------------------- */

static enum err check_roles(struct rctx *cx, uint32_t roles)
{
    if (roles == 0)
        return rctx_fail(cx, ERR_INVALID, "roles: at least one role");
    if (roles & ~(uint32_t)ROLE_KNOWN)
        return rctx_fail(cx, ERR_INVALID, "roles: unknown role");
    if (roles & ROLE_CITIZEN)
        return rctx_fail(cx, ERR_INVALID, "roles: citizens register themselves");
    if ((roles & ROLE_MACHINE) && roles != ROLE_MACHINE)
        return rctx_fail(cx, ERR_INVALID, "roles: machine cannot be combined with other roles");
    return ERR_OK;
}

static enum err check_assignment(struct rctx *cx, uint32_t roles, int64_t dept, int64_t region,
                                 size_t ngrids)
{
    if ((roles & ROLE_HANDLER) && !dept)
        return rctx_fail(cx, ERR_INVALID, "department_id: a handler belongs to a department");
    if ((roles & ROLE_LEADER) && !region)
        return rctx_fail(cx, ERR_INVALID, "region_id: a leader needs a jurisdiction");
    if (ngrids && !(roles & ROLE_INSPECTOR))
        return rctx_fail(cx, ERR_INVALID, "grid_ids: only inspectors are assigned grids");
    if (roles == ROLE_MACHINE && (dept || region))
        return rctx_fail(cx, ERR_INVALID, "machine accounts have no department or region");
    return ERR_OK;
}

/* Inside the caller's transaction: the referenced rows exist (and stay, FOR SHARE would be
 * stronger, but foreign keys already refuse a dangling id at insert time). */
static enum err check_refs(struct rctx *cx, int64_t dept, int64_t region, size_t ngrids,
                           const int64_t *grids)
{
    struct db_res r;
    enum err res;

    if (dept) {
        res = db_exec(cx, "SELECT active FROM departments WHERE id = ?", DB_ARGS(DBI(dept)), &r);
        if (res)
            return res;
        if (r.nrows == 0 || !db_cell_i64(&r, 0, 0))
            return rctx_fail(cx, ERR_INVALID, "department_id: no such active department");
    }
    if (region) {
        res = db_exec(cx, "SELECT 1 FROM regions WHERE id = ?", DB_ARGS(DBI(region)), &r);
        if (res)
            return res;
        if (r.nrows == 0)
            return rctx_fail(cx, ERR_INVALID, "region_id: no such region");
    }
    if (ngrids > ADMIN_GRIDS_MAX)
        return rctx_fail(cx, ERR_INVALID, "grid_ids: at most %d", ADMIN_GRIDS_MAX);
    for (size_t i = 0; i < ngrids; i++) {
        for (size_t k = 0; k < i; k++)
            if (grids[k] == grids[i])
                return rctx_fail(cx, ERR_INVALID, "grid_ids[%zu]: listed twice", i);
        res = db_exec(cx, "SELECT 1 FROM grids WHERE id = ?", DB_ARGS(DBI(grids[i])), &r);
        if (res)
            return res;
        if (r.nrows == 0)
            return rctx_fail(cx, ERR_INVALID, "grid_ids[%zu]: no such grid", i);
    }
    return ERR_OK;
}

static enum err set_grids(struct rctx *cx, int64_t uid, size_t n, const int64_t *grids)
{
    enum err res = db_exec(cx, "DELETE FROM user_grids WHERE user_id = ?", DB_ARGS(DBI(uid)), NULL);

    for (size_t i = 0; !res && i < n; i++)
        res = db_exec(cx, "INSERT INTO user_grids (user_id, grid_id) VALUES (?, ?)",
                      DB_ARGS(DBI(uid), DBI(grids[i])), NULL);
    return res;
}

static enum err end_sessions(struct rctx *cx, int64_t uid, const char *reason)
{
    return db_exec(cx,
                   "UPDATE sessions SET revoked_at = FROM_UNIXTIME(? / 1000), revoked_reason = ?"
                   " WHERE user_id = ? AND revoked_at IS NULL",
                   DB_ARGS(DBI(cx->now_ms), DBS(reason), DBI(uid)), NULL);
}

/* ---- users -------------------------------------------------------------------------------- */

/* LIKE pattern "q%" with q's own wildcards escaped. */
static const char *prefix_pattern(struct rctx *cx, const char *q)
{
    size_t n = strlen(q), o = 0;
    char *p = rctx_alloc(cx, n * 2 + 2);

    for (size_t i = 0; i < n; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
            p[o++] = '\\';
        p[o++] = q[i];
    }
    p[o++] = '%';
    p[o] = '\0';
    return p;
}

enum err admin_user_list(struct rctx *cx, const struct admin_user_filter *f,
                         struct admin_user_page *out)
{
    const char *pat = f->q && *f->q ? prefix_pattern(cx, f->q) : NULL;
    int limit = f->limit < 1 || f->limit > ADMIN_LIST_MAX ? ADMIN_LIST_MAX : f->limit;
    struct db_res r;
    enum err res;

    res = db_exec(
        cx,
        "SELECT u.id, u.username, u.phone, u.display_name, u.roles, u.department_id,"
        " u.region_id, d.name, rg.name, u.disabled, " ISO_AT(
            "u.created_at") " FROM users u"
                            " LEFT JOIN departments d ON d.id = u.department_id"
                            " LEFT JOIN regions rg ON rg.id = u.region_id"
                            " WHERE u.id > ? AND (? IS NULL OR u.username LIKE ? OR u.phone LIKE ?"
                            " OR u.display_name LIKE ?) AND (u.roles & ?) = ? AND (? = 0 OR "
                            "u.department_id = ?)"
                            " AND (? = 0 OR u.region_id = ?) AND (? < 0 OR u.disabled = ?) ORDER "
                            "BY u.id LIMIT ?",
        DB_ARGS(DBI(f->after_id), DBS(pat), DBS(pat), DBS(pat), DBS(pat), DBI(f->role),
                DBI(f->role), DBI(f->department_id), DBI(f->department_id), DBI(f->region_id),
                DBI(f->region_id), DBI(f->disabled), DBI(f->disabled), DBI(limit + 1)),
        &r);
    if (res)
        return res;
    out->n = r.nrows > (size_t)limit ? (size_t)limit : r.nrows;
    out->items = rctx_zalloc(cx, (out->n + 1) * sizeof *out->items);
    for (size_t i = 0; i < out->n; i++) {
        struct user_rec *u = &out->items[i];
        u->id = db_cell_i64(&r, i, 0);
        u->username = db_cell(&r, i, 1);
        u->phone = db_cell(&r, i, 2);
        u->display_name = db_cell(&r, i, 3);
        u->roles = (uint32_t)db_cell_i64(&r, i, 4);
        u->department_id = db_cell_i64(&r, i, 5);
        u->region_id = db_cell_i64(&r, i, 6);
        u->department_name = db_cell(&r, i, 7);
        u->region_name = db_cell(&r, i, 8);
        u->disabled = db_cell_i64(&r, i, 9) != 0;
        u->created_at = db_cell(&r, i, 10);
    }
    out->next_after = r.nrows > (size_t)limit ? out->items[out->n - 1].id : 0;
    return ERR_OK;
}

enum err admin_user_create(struct rctx *cx, const struct admin_user_new *in, struct idem *idem,
                           int64_t *id, bool *replay)
{
    const struct user_new *u = &in->u;
    int64_t uid = 0;
    enum err res;

    *replay = false;
    if (!u->username)
        return rctx_fail(cx, ERR_INVALID, "username: required");
    res = check_roles(cx, u->roles);
    if (!res)
        res = check_assignment(cx, u->roles, u->department_id, u->region_id, in->ngrids);
    if (res)
        return res;
    if (u->roles == ROLE_MACHINE && u->password)
        return rctx_fail(cx, ERR_INVALID, "password: machine accounts log in with API keys");
    if (u->roles != ROLE_MACHINE && !u->password)
        return rctx_fail(cx, ERR_INVALID, "password: required");
    res = idem_begin(cx, idem);
    if (res)
        return res;
    if (idem->replay) {
        uid = idem->result_id;
        *replay = true;
        goto out;
    }
    res = check_refs(cx, u->department_id, u->region_id, in->ngrids, in->grid_ids);
    if (!res)
        res = user_create(cx, u, &uid); /* validates the fields and audits "user.create" */
    if (!res)
        res = set_grids(cx, uid, in->ngrids, in->grid_ids);
    if (!res)
        res = idem_complete(cx, idem, uid);
out:
    res = db_tx_end(cx, res);
    if (!res)
        *id = uid;
    return res;
}

/* Append ",text" (or "text" first) to the audit detail when cond holds. */
static void note(char *buf, size_t cap, size_t *off, bool cond, const char *text)
{
    if (cond && *off < cap)
        *off += (size_t)snprintf(buf + *off, cap - *off, "%s%s", *off ? "," : "", text);
}

enum err admin_user_update(struct rctx *cx, int64_t id, const struct admin_user_patch *p)
{
    struct db_res r;
    uint32_t roles, old_roles;
    int64_t dept, region;
    size_t ngrids;
    const char *name, *phone;
    char detail[160];
    size_t off = 0;
    enum err res;

    if (p->has_display_name &&
        (!p->display_name || !*p->display_name || strlen(p->display_name) > 64))
        return rctx_fail(cx, ERR_INVALID, "display_name: 1 to 64 bytes");
    if (p->has_phone && p->phone && !user_phone_valid(p->phone))
        return rctx_fail(cx, ERR_INVALID, "phone: 5 to 20 digits, optionally after '+'");
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT roles, COALESCE(department_id, 0), COALESCE(region_id, 0), display_name,"
                  " phone, (SELECT COUNT(*) FROM user_grids g WHERE g.user_id = u.id),"
                  " username IS NULL FROM users u WHERE id = ? FOR UPDATE",
                  DB_ARGS(DBI(id)), &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_NOTFOUND, "no such user");
        goto out;
    }
    old_roles = (uint32_t)db_cell_i64(&r, 0, 0);
    roles = p->has_roles ? p->roles : old_roles;
    dept = p->has_department ? p->department_id : db_cell_i64(&r, 0, 1);
    region = p->has_region ? p->region_id : db_cell_i64(&r, 0, 2);
    ngrids = p->has_grids ? p->ngrids : (size_t)db_cell_i64(&r, 0, 5);
    name = p->has_display_name ? p->display_name : db_cell(&r, 0, 3);
    phone = p->has_phone ? p->phone : db_cell(&r, 0, 4);
    if (!phone && db_cell_i64(&r, 0, 6)) {
        /* A citizen who registered by phone has no other name to log in with. */
        res = rctx_fail(cx, ERR_BAD_STATE,
                        "phone: this account logs in by phone and has no "
                        "username; it cannot lose its phone");
        goto out;
    }
    if ((old_roles & ROLE_CITIZEN) &&
        (p->has_roles || p->has_department || p->has_region || p->has_grids)) {
        res = rctx_fail(cx, ERR_BAD_STATE,
                        "a citizen account has no staff roles, department, region or grids");
        goto out;
    }
    if (!(old_roles & ROLE_CITIZEN)) {
        if (p->has_roles)
            res = check_roles(cx, roles);
        if (!res && ((old_roles == ROLE_MACHINE) != (roles == ROLE_MACHINE)))
            res = rctx_fail(cx, ERR_BAD_STATE,
                            "roles: a machine account stays a machine account, and a person "
                            "cannot become one");
        if (!res && id == cx->who.user_id && (old_roles & ROLE_ADMIN) && !(roles & ROLE_ADMIN))
            res = rctx_fail(cx, ERR_BAD_STATE, "roles: you cannot remove your own admin role");
        if (!res)
            res = check_assignment(cx, roles, dept, region, ngrids);
        if (!res)
            res = check_refs(cx, p->has_department ? dept : 0, p->has_region ? region : 0,
                             p->has_grids ? p->ngrids : 0, p->grid_ids);
        if (res)
            goto out;
    }
    /* A roles change must reach tokens at once: they carry the roles (server/auth). */
    res = db_exec(cx,
                  "UPDATE users SET display_name = ?, phone = ?, roles = ?, department_id = ?,"
                  " region_id = ?, token_version = token_version + ? WHERE id = ?",
                  DB_ARGS(DBS(name), DBS(phone), DBI(roles), dept ? DBI(dept) : DBNULL,
                          region ? DBI(region) : DBNULL, DBI(roles != old_roles ? 1 : 0), DBI(id)),
                  NULL);
    if (res == ERR_CONFLICT)
        res = rctx_fail(cx, ERR_CONFLICT, "phone: already registered to another account");
    if (!res && p->has_grids)
        res = set_grids(cx, id, p->ngrids, p->grid_ids);
    if (res)
        goto out;
    detail[0] = '\0';
    note(detail, sizeof detail, &off, p->has_display_name, "display_name");
    note(detail, sizeof detail, &off, p->has_phone, "phone");
    note(detail, sizeof detail, &off, p->has_roles, "roles");
    note(detail, sizeof detail, &off, p->has_department, "department_id");
    note(detail, sizeof detail, &off, p->has_region, "region_id");
    note(detail, sizeof detail, &off, p->has_grids, "grid_ids");
    if (roles != old_roles && off < sizeof detail)
        snprintf(detail + off, sizeof detail - off, "; roles %u -> %u (tokens revoked)", old_roles,
                 roles);
    res = audit_write(cx, "user.update", "user", id, AUDIT_OK, detail);
out:
    return db_tx_end(cx, res);
}

enum err admin_user_set_disabled(struct rctx *cx, int64_t id, bool disabled, const char *reason)
{
    struct db_res r;
    bool was;
    enum err res;

    if (disabled && id == cx->who.user_id)
        return rctx_fail(cx, ERR_BAD_STATE, "you cannot disable your own account");
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx, "SELECT disabled FROM users WHERE id = ? FOR UPDATE", DB_ARGS(DBI(id)), &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_NOTFOUND, "no such user");
        goto out;
    }
    was = db_cell_i64(&r, 0, 0) != 0;
    if (was != disabled) {
        res = db_exec(cx,
                      "UPDATE users SET disabled = ?, token_version = token_version + ?"
                      " WHERE id = ?",
                      DB_ARGS(DBI(disabled), DBI(disabled ? 1 : 0), DBI(id)), NULL);
        if (!res && disabled)
            res = end_sessions(cx, id, "disabled");
    }
    if (!res)
        res = audit_write(cx, disabled ? "user.disable" : "user.enable", "user", id, AUDIT_OK,
                          reason);
out:
    return db_tx_end(cx, res);
}

enum err admin_user_reset_password(struct rctx *cx, int64_t id, const char *password)
{
    char hash[AUTH_PW_HASH_MAX], msg[160];
    struct db_res r;
    enum err res;

    res =
        db_exec(cx, "SELECT username, phone, roles FROM users WHERE id = ?", DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such user");
    if ((uint32_t)db_cell_i64(&r, 0, 2) == ROLE_MACHINE)
        return rctx_fail(cx, ERR_BAD_STATE, "machine accounts have no password; use API keys");
    if (auth_password_check_policy(password, db_cell(&r, 0, 0) ? db_cell(&r, 0, 0) : "",
                                   db_cell(&r, 0, 1) ? db_cell(&r, 0, 1) : "", msg, sizeof msg))
        return rctx_fail(cx, ERR_INVALID, "new_password: %s", msg);
    if (auth_password_hash(password, hash))
        return rctx_fail(cx, ERR_INTERNAL, "password hashing failed");
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "UPDATE users SET password_hash = ?, token_version = token_version + 1,"
                  " password_changed_at = FROM_UNIXTIME(? / 1000) WHERE id = ?",
                  DB_ARGS(DBS(hash), DBI(cx->now_ms), DBI(id)), NULL);
    if (!res)
        res = end_sessions(cx, id, "password_reset");
    if (!res)
        res = audit_write(cx, "user.password_reset", "user", id, AUDIT_OK, NULL);
    res = db_tx_end(cx, res);
    /* A reset is how a locked-out user gets back in: it ends the lockout too (failures are
     * counted since the last success). */
    if (!res)
        lockout_record(cx, id, "", true);
    return res;
}

/* ---- audit log ---------------------------------------------------------------------------- */

enum err admin_audit_list(struct rctx *cx, const struct audit_filter *f, struct audit_page *out)
{
    int limit = f->limit < 1 || f->limit > ADMIN_AUDIT_MAX ? ADMIN_AUDIT_MAX : f->limit;
    const char *action = f->action && *f->action ? f->action : NULL;
    const char *pat = NULL;
    struct db_res r;
    enum err res;

    if (action) {
        size_t n = strlen(action);
        if (n > 64 || strspn(action, "abcdefghijklmnopqrstuvwxyz0123456789_.") != n)
            return rctx_fail(
                cx, ERR_INVALID,
                "action: up to 64 of a-z, 0-9, '_' and '.'; end with '.' for a prefix");
        if (action[n - 1] == '.')
            pat = prefix_pattern(cx, action);
    }
    res = db_exec(cx,
                  "SELECT id, " ISO_AT(
                      "at") ", COALESCE(actor_id, 0), actor_roles, action, object_type,"
                            " COALESCE(object_id, 0), result, ip, device_id, request_id, detail "
                            "FROM audit_log"
                            " WHERE id < ? AND (? = 0 OR actor_id = ?) AND (? IS NULL OR action = ?"
                            " OR (? IS NOT NULL AND action LIKE ?)) AND (? = 0 OR at >= "
                            "FROM_UNIXTIME(? / 1000))"
                            " AND (? = 0 OR at < FROM_UNIXTIME(? / 1000)) ORDER BY id DESC LIMIT ?",
                  DB_ARGS(DBI(f->before_id ? f->before_id : INT64_MAX), DBI(f->actor_id),
                          DBI(f->actor_id), DBS(action), DBS(action), DBS(pat), DBS(pat),
                          DBI(f->from_ms), DBI(f->from_ms), DBI(f->to_ms), DBI(f->to_ms),
                          DBI(limit + 1)),
                  &r);
    if (res)
        return res;
    out->n = r.nrows > (size_t)limit ? (size_t)limit : r.nrows;
    out->items = rctx_zalloc(cx, (out->n + 1) * sizeof *out->items);
    for (size_t i = 0; i < out->n; i++) {
        struct audit_row *a = &out->items[i];
        a->id = db_cell_i64(&r, i, 0);
        a->at = db_cell(&r, i, 1);
        a->actor_id = db_cell_i64(&r, i, 2);
        a->actor_roles = (uint32_t)db_cell_i64(&r, i, 3);
        a->action = db_cell(&r, i, 4);
        a->object_type = db_cell(&r, i, 5);
        a->object_id = db_cell_i64(&r, i, 6);
        a->result = db_cell(&r, i, 7);
        a->ip = db_cell(&r, i, 8);
        a->device_id = db_cell(&r, i, 9);
        a->request_id = db_cell(&r, i, 10);
        a->detail = db_cell(&r, i, 11);
    }
    out->next_before = r.nrows > (size_t)limit ? out->items[out->n - 1].id : 0;
    return ERR_OK;
}
