/* api/domain/user.c */
#include "user.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "lockout.h"
#include "server/auth/password.h"
#include "server/db/db.h"

/* A username must contain a letter, so it can never equal a phone number: login accepts
 * either in the same field. */
static bool valid_username(const char *u)
{
    size_t n = strlen(u);
    bool letter = false;

    if (n < 3 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = u[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
        letter |= c >= 'a' && c <= 'z';
    }
    return letter;
}

bool user_phone_valid(const char *p)
{
    size_t n = strlen(p), digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= '0' && p[i] <= '9')
            digits++;
        else if (!(i == 0 && p[i] == '+'))
            return false;
    }
    return digits >= 5 && n <= 20;
}

enum err user_create(struct rctx *cx, const struct user_new *in, int64_t *id)
{
    char hash[AUTH_PW_HASH_MAX] = "";
    char msg[160];
    struct db_res r;
    size_t dn = in->display_name ? strlen(in->display_name) : 0;
    enum err res;

    if (in->username && !valid_username(in->username))
        return rctx_fail(cx, ERR_INVALID,
                         "username: 3 to 32 characters of a-z, 0-9, '_', '.' and '-', with a"
                         " letter");
    if (in->phone && !user_phone_valid(in->phone))
        return rctx_fail(cx, ERR_INVALID, "phone: 5 to 20 digits, optionally after '+'");
    if (!in->username && !in->phone)
        return rctx_fail(cx, ERR_INVALID, "username or phone is required");
    if (dn == 0 || dn > 64)
        return rctx_fail(cx, ERR_INVALID, "display_name: 1 to 64 bytes");
    if (in->password) {
        if (auth_password_check_policy(in->password, in->username ? in->username : "",
                                       in->phone ? in->phone : "", msg, sizeof msg))
            return rctx_fail(cx, ERR_INVALID, "password: %s", msg);
        if (auth_password_hash(in->password, hash))
            return rctx_fail(cx, ERR_INTERNAL, "password hashing failed");
    }
    res = db_exec(cx,
                  "INSERT INTO users (username, phone, display_name, password_hash, roles,"
                  " department_id, region_id, password_changed_at) VALUES (?,?,?,?,?,?,?,"
                  " FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBS(in->username), DBS(in->phone), DBS(in->display_name),
                          in->password ? DBS(hash) : DBNULL, DBI(in->roles),
                          in->department_id ? DBI(in->department_id) : DBNULL,
                          in->region_id ? DBI(in->region_id) : DBNULL, DBI(cx->now_ms)),
                  &r);
    if (res == ERR_CONFLICT)
        return rctx_fail(cx, ERR_CONFLICT, "username or phone already registered");
    if (res)
        return res;
    *id = (int64_t)r.insert_id;
    return audit_write(cx, "user.create", "user", *id, AUDIT_OK, NULL);
}

enum err user_get(struct rctx *cx, int64_t id, struct user_rec *out)
{
    struct db_res r, g;
    enum err res;

    res = db_exec(cx,
                  "SELECT u.id, u.username, u.phone, u.display_name, u.roles, u.department_id,"
                  " u.region_id, d.name, rg.name, u.disabled,"
                  " DATE_FORMAT(u.created_at, '%Y-%m-%dT%H:%i:%sZ') FROM users u"
                  " LEFT JOIN departments d ON d.id = u.department_id"
                  " LEFT JOIN regions rg ON rg.id = u.region_id WHERE u.id = ?",
                  DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such user");
    res = db_exec(cx, "SELECT grid_id FROM user_grids WHERE user_id = ? ORDER BY grid_id",
                  DB_ARGS(DBI(id)), &g);
    if (res)
        return res;
    memset(out, 0, sizeof *out);
    out->id = db_cell_i64(&r, 0, 0);
    out->username = db_cell(&r, 0, 1);
    out->phone = db_cell(&r, 0, 2);
    out->display_name = db_cell(&r, 0, 3);
    out->roles = (uint32_t)db_cell_i64(&r, 0, 4);
    out->department_id = db_cell_i64(&r, 0, 5);
    out->region_id = db_cell_i64(&r, 0, 6);
    out->department_name = db_cell(&r, 0, 7);
    out->region_name = db_cell(&r, 0, 8);
    out->disabled = db_cell_i64(&r, 0, 9) != 0;
    out->created_at = db_cell(&r, 0, 10);
    out->ngrids = g.nrows;
    out->grid_ids = rctx_alloc(cx, (g.nrows + 1) * sizeof *out->grid_ids);
    for (size_t i = 0; i < g.nrows; i++)
        out->grid_ids[i] = db_cell_i64(&g, i, 0);
    return ERR_OK;
}

static void grids_from_list(struct rctx *cx, const char *list, struct user_rec *out)
{
    size_t n = 0;
    const char *p;

    out->ngrids = 0;
    out->grid_ids = rctx_alloc(cx, sizeof *out->grid_ids);
    if (!list || !*list)
        return;
    for (p = list; *p; p++)
        n += *p == ',';
    out->grid_ids = rctx_alloc(cx, (n + 2) * sizeof *out->grid_ids);
    for (p = list; *p && out->ngrids <= n;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p)
            break; /* GROUP_CONCAT gives digits and commas only */
        out->grid_ids[out->ngrids++] = v;
        p = *end == ',' ? end + 1 : end;
    }
}

const char user_profile_columns[] =
    "u.username, u.phone, u.display_name, u.roles, u.department_id, u.region_id, d.name,"
    " rg.name, DATE_FORMAT(u.created_at, '%Y-%m-%dT%H:%i:%sZ'),"
    " (SELECT GROUP_CONCAT(g.grid_id ORDER BY g.grid_id) FROM user_grids g"
    " WHERE g.user_id = u.id)";
const char user_profile_joins[] = "LEFT JOIN departments d ON d.id = u.department_id"
                                  " LEFT JOIN regions rg ON rg.id = u.region_id";

void user_profile_from_row(struct rctx *cx, const struct db_res *r, size_t row, size_t col,
                           struct user_rec *out)
{
    const char *s;

    memset(out, 0, sizeof *out);
    out->id = db_cell_i64(r, row, 0);
#define COPY(field, c) out->field = (s = db_cell(r, row, col + (c))) ? rctx_strdup(cx, s) : NULL
    COPY(username, 0);
    COPY(phone, 1);
    COPY(display_name, 2);
    COPY(department_name, 6);
    COPY(region_name, 7);
    COPY(created_at, 8);
#undef COPY
    out->roles = (uint32_t)db_cell_i64(r, row, col + 3);
    out->department_id = db_cell_i64(r, row, col + 4);
    out->region_id = db_cell_i64(r, row, col + 5);
    grids_from_list(cx, db_cell(r, row, col + 9), out);
}

enum err user_me(struct rctx *cx, struct user_rec *out)
{
    if (cx->who.profile) {
        *out = *(const struct user_rec *)cx->who.profile;
        return ERR_OK;
    }
    return user_get(cx, cx->who.user_id, out);
}

enum err user_change_password(struct rctx *cx, const struct user_password_change *in)
{
    struct db_res r;
    char hash[AUTH_PW_HASH_MAX], msg[160];
    enum err res;

    res = db_exec(cx, "SELECT password_hash, username, phone FROM users WHERE id = ?",
                  DB_ARGS(DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such user");
    /* A stolen access token must not become an unlimited password oracle. */
    res = lockout_check(cx, cx->who.user_id, "");
    if (res)
        return res;
    if (!auth_password_verify(db_cell(&r, 0, 0), in->old_password)) {
        lockout_record(cx, cx->who.user_id, "", false);
        audit_write_quiet(cx, "user.password_change", "user", cx->who.user_id, AUDIT_DENIED,
                          "wrong old password");
        return rctx_fail(cx, ERR_FORBIDDEN, "old_password is wrong");
    }
    if (auth_password_check_policy(in->new_password, db_cell(&r, 0, 1) ? db_cell(&r, 0, 1) : "",
                                   db_cell(&r, 0, 2) ? db_cell(&r, 0, 2) : "", msg, sizeof msg))
        return rctx_fail(cx, ERR_INVALID, "new_password: %s", msg);
    if (auth_password_hash(in->new_password, hash))
        return rctx_fail(cx, ERR_INTERNAL, "password hashing failed");
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "UPDATE users SET password_hash = ?, token_version = token_version + 1,"
                  " password_changed_at = FROM_UNIXTIME(? / 1000) WHERE id = ?",
                  DB_ARGS(DBS(hash), DBI(cx->now_ms), DBI(cx->who.user_id)), NULL);
    if (!res)
        res = db_exec(cx,
                      "UPDATE sessions SET revoked_at = FROM_UNIXTIME(? / 1000), revoked_reason"
                      " = 'password_change' WHERE user_id = ? AND revoked_at IS NULL",
                      DB_ARGS(DBI(cx->now_ms), DBI(cx->who.user_id)), NULL);
    if (!res)
        res = audit_write(cx, "user.password_change", "user", cx->who.user_id, AUDIT_OK, NULL);
    return db_tx_end(cx, res);
}
