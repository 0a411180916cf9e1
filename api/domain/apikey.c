/* api/domain/apikey.c */
#include "apikey.h"

#include <stdio.h>
#include <string.h>
#include "audit.h"
#include "server/auth/password.h"
#include "server/core/roles.h"
#include "server/db/db.h"

#define ISO_AT(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%sZ')"
#define PREFIX_TRIES 3

/* "a,b,c" in pool memory, or ERR_INVALID naming the bad scope. */
static enum err join_scopes(struct rctx *cx, const struct apikey_new *in, const char **out)
{
    size_t cap = 1, off = 0;
    char *s;

    if (in->nscopes > APIKEY_SCOPES_MAX)
        return rctx_fail(cx, ERR_INVALID, "scopes: at most %d", APIKEY_SCOPES_MAX);
    for (size_t i = 0; i < in->nscopes; i++) {
        size_t n = strlen(in->scopes[i]);
        if (n == 0 || n > 32 ||
            strspn(in->scopes[i], "abcdefghijklmnopqrstuvwxyz0123456789_.:") != n)
            return rctx_fail(cx, ERR_INVALID, "scopes[%zu]: 1 to 32 of a-z, 0-9, '_', '.', ':'", i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(in->scopes[k], in->scopes[i]) == 0)
                return rctx_fail(cx, ERR_INVALID, "scopes[%zu]: listed twice", i);
        cap += n + 1;
    }
    if (cap > 256) /* api_keys.scopes is VARCHAR(255) */
        return rctx_fail(cx, ERR_INVALID, "scopes: at most 255 characters together");
    s = rctx_alloc(cx, cap);
    s[0] = '\0';
    for (size_t i = 0; i < in->nscopes; i++)
        off += (size_t)snprintf(s + off, cap - off, "%s%s", i ? "," : "", in->scopes[i]);
    *out = s;
    return ERR_OK;
}

static enum err machine_account(struct rctx *cx, const struct apikey_new *in, int64_t *uid)
{
    struct db_res r;
    enum err res;

    if (in->user_id) {
        res = db_exec(cx, "SELECT roles, disabled FROM users WHERE id = ? FOR UPDATE",
                      DB_ARGS(DBI(in->user_id)), &r);
        if (res)
            return res;
        /* Keys never act as a person: a leaked key must not carry staff powers. */
        if (r.nrows == 0 || (uint32_t)db_cell_i64(&r, 0, 0) != ROLE_MACHINE ||
            db_cell_i64(&r, 0, 1))
            return rctx_fail(cx, ERR_INVALID, "user_id: not an enabled machine account");
        *uid = in->user_id;
        return ERR_OK;
    }
    res = db_exec(cx, "INSERT INTO users (display_name, roles) VALUES (?, ?)",
                  DB_ARGS(DBS(in->name), DBI(ROLE_MACHINE)), &r);
    if (res)
        return res;
    *uid = (int64_t)r.insert_id;
    return audit_write(cx, "user.create", "user", *uid, AUDIT_OK, "machine account for api key");
}

enum err apikey_create(struct rctx *cx, const struct apikey_new *in, struct apikey_created *out)
{
    struct apikey_created *k = rctx_zalloc(cx, sizeof *k);
    char hash[AUTH_SECRET_HEX], secret[APIKEY_SECRET_LEN + 1];
    const char *scopes = NULL;
    size_t nl = in->name ? strlen(in->name) : 0;
    struct db_res r;
    enum err res;

    if (nl == 0 || nl > 64)
        return rctx_fail(cx, ERR_INVALID, "name: 1 to 64 bytes");
    res = join_scopes(cx, in, &scopes);
    if (res)
        return res;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = machine_account(cx, in, &k->user_id);
    for (int i = 0; !res && i < PREFIX_TRIES; i++) {
        auth_secret_new(k->prefix, APIKEY_PREFIX_LEN);
        auth_secret_new(secret, APIKEY_SECRET_LEN);
        snprintf(k->key, sizeof k->key, "ck_%s%s", k->prefix, secret);
        auth_secret_hash(k->key, strlen(k->key), hash);
        res =
            db_exec(cx,
                    "INSERT INTO api_keys (name, prefix, key_hash, user_id, scopes, created_by,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, FROM_UNIXTIME(? / 1000))",
                    DB_ARGS(DBS(in->name), DBS(k->prefix), DBS(hash), DBI(k->user_id), DBS(scopes),
                            cx->who.user_id ? DBI(cx->who.user_id) : DBNULL, DBI(cx->now_ms)),
                    &r);
        /* 48 random bits of prefix rarely collide; when they do, draw again. */
        if (res != ERR_CONFLICT)
            break;
        if (i + 1 < PREFIX_TRIES)
            res = ERR_OK;
    }
    if (!res) {
        k->id = (int64_t)r.insert_id;
        res = audit_write(cx, "api_key.create", "api_key", k->id, AUDIT_OK, in->name);
    }
    res = db_tx_end(cx, res);
    memset(secret, 0, sizeof secret);
    if (!res)
        *out = *k;
    explicit_bzero(k, sizeof *k);
    return res;
}

enum err apikey_list(struct rctx *cx, struct apikey_rec **rows, size_t *n)
{
    struct db_res r;
    struct apikey_rec *v;
    /* clang-format off */
    enum err res =
        db_exec(cx,
                "SELECT k.id, k.name, k.prefix, k.user_id, u.display_name, k.scopes,"
                " COALESCE(k.created_by, 0), " ISO_AT("k.created_at") ", "
                ISO_AT("k.last_used_at") ", " ISO_AT("k.revoked_at")
                " FROM api_keys k JOIN users u ON u.id = k.user_id ORDER BY k.id DESC LIMIT ?",
                DB_ARGS(DBI(APIKEY_LIST_MAX)), &r);
    /* clang-format on */

    if (res)
        return res;
    v = rctx_zalloc(cx, (r.nrows + 1) * sizeof *v);
    for (size_t i = 0; i < r.nrows; i++) {
        v[i].id = db_cell_i64(&r, i, 0);
        v[i].name = db_cell(&r, i, 1);
        v[i].prefix = db_cell(&r, i, 2);
        v[i].user_id = db_cell_i64(&r, i, 3);
        v[i].user_name = db_cell(&r, i, 4);
        v[i].scopes = db_cell(&r, i, 5);
        v[i].created_by = db_cell_i64(&r, i, 6);
        v[i].created_at = db_cell(&r, i, 7);
        v[i].last_used_at = db_cell(&r, i, 8);
        v[i].revoked_at = db_cell(&r, i, 9);
    }
    *rows = v;
    *n = r.nrows;
    return ERR_OK;
}

enum err apikey_revoke(struct rctx *cx, int64_t id, const char *reason)
{
    struct db_res r;
    enum err res = db_tx_begin(cx);

    if (res)
        return res;
    res = db_exec(cx, "SELECT revoked_at IS NULL FROM api_keys WHERE id = ? FOR UPDATE",
                  DB_ARGS(DBI(id)), &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_NOTFOUND, "no such API key");
        goto out;
    }
    if (db_cell_i64(&r, 0, 0))
        res = db_exec(cx, "UPDATE api_keys SET revoked_at = FROM_UNIXTIME(? / 1000) WHERE id = ?",
                      DB_ARGS(DBI(cx->now_ms), DBI(id)), NULL);
    if (!res)
        res = audit_write(cx, "api_key.revoke", "api_key", id, AUDIT_OK, reason);
out:
    return db_tx_end(cx, res);
}
