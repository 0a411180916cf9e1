/* api/domain/wechat.c */
#include "wechat.h"

#include <stdio.h>
#include <string.h>
#include "audit.h"
#include "server/core/log.h"
#include "server/core/roles.h"
#include "server/db/db.h"
#include "server/ext/wechat.h"

/* Audit detail for a refused login: WeChat's reason, never the code. */
static const char *why(enum err e)
{
    switch (e) {
    case ERR_UNAUTH:
        return "invalid code";
    case ERR_RATELIMIT:
        return "wechat rate limit";
    case ERR_FORBIDDEN:
        return "wechat risk control";
    case ERR_INVALID:
        return "malformed code";
    default:
        return "wechat unavailable";
    }
}

/* Inside the caller's transaction: the user of openid, or of unionid, locked; 0 when none.
 * A unionid match whose row has no openid yet gets this app's openid. */
static enum err find_user(struct rctx *cx, const struct ext_wechat_identity *w, int64_t *id)
{
    struct db_res r;
    enum err res;

    *id = 0;
    res = db_exec(cx, "SELECT id, wechat_unionid FROM users WHERE wechat_openid = ? FOR UPDATE",
                  DB_ARGS(DBS(w->openid)), &r);
    if (res)
        return res;
    if (r.nrows == 1) {
        *id = db_cell_i64(&r, 0, 0);
        if (w->unionid[0] && db_cell_null(&r, 0, 1))
            /* The app was bound to an Open Platform account after this user first came. */
            return db_exec(cx, "UPDATE users SET wechat_unionid = ? WHERE id = ?",
                           DB_ARGS(DBS(w->unionid), DBI(*id)), NULL);
        if (w->unionid[0] && strcmp(db_cell(&r, 0, 1), w->unionid) != 0)
            log_warn(cx, "wechat: user %lld: unionid differs from the one linked; kept the old",
                     (long long)*id);
        return ERR_OK;
    }
    if (!w->unionid[0])
        return ERR_OK;
    res = db_exec(cx,
                  "SELECT id, wechat_openid IS NULL FROM users WHERE wechat_unionid = ?"
                  " ORDER BY id LIMIT 1 FOR UPDATE",
                  DB_ARGS(DBS(w->unionid)), &r);
    if (res || r.nrows == 0)
        return res;
    *id = db_cell_i64(&r, 0, 0);
    if (db_cell_i64(&r, 0, 1))
        return db_exec(cx, "UPDATE users SET wechat_openid = ? WHERE id = ?",
                       DB_ARGS(DBS(w->openid), DBI(*id)), NULL);
    return ERR_OK;
}

static enum err find_or_create(struct rctx *cx, const struct ext_wechat_identity *w, int64_t *id,
                               bool *created)
{
    struct db_res r;
    enum err res;

    *created = false;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = find_user(cx, w, id);
    if (!res && *id == 0) {
        res = db_exec(cx,
                      "INSERT INTO users (display_name, roles, wechat_openid, wechat_unionid)"
                      " VALUES (?, ?, ?, ?)",
                      DB_ARGS(DBS(WECHAT_DEFAULT_NAME), DBI(ROLE_CITIZEN), DBS(w->openid),
                              w->unionid[0] ? DBS(w->unionid) : DBNULL),
                      &r);
        if (!res) {
            *id = (int64_t)r.insert_id;
            *created = true;
            res = audit_write(cx, "user.create", "user", *id, AUDIT_OK, "wechat");
        }
    }
    return db_tx_end(cx, res);
}

enum err wechat_login(struct rctx *cx, const struct wechat_login_in *in, struct token_pair **out)
{
    struct ext_wechat_identity w;
    int64_t id = 0;
    bool created = false;
    enum err res;

    snprintf(cx->who.device_id, sizeof cx->who.device_id, "%s", in->device_id);
    res = ext_wechat_code2session(cx, in->code, &w);
    if (res) {
        audit_write_quiet(cx, "auth.wechat", NULL, 0,
                          res == ERR_BUSY || res == ERR_INTERNAL ? AUDIT_FAILED : AUDIT_DENIED,
                          why(res));
        return res;
    }
    res = find_or_create(cx, &w, &id, &created);
    if (res == ERR_CONFLICT)
        /* Two first logins of one user raced; the other one created the row. */
        res = find_or_create(cx, &w, &id, &created);
    if (res)
        return res;
    res = session_open(cx, id, in->device_id, "miniprogram", out);
    if (res) {
        audit_write_quiet(cx, "auth.wechat", "user", id, AUDIT_DENIED,
                          res == ERR_FORBIDDEN ? "account disabled" : "session not opened");
        return res;
    }
    audit_write_quiet(cx, "auth.wechat", "user", id, AUDIT_OK, created ? "new citizen" : NULL);
    return ERR_OK;
}
