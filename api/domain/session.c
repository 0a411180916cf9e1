/* api/domain/session.c: login, refresh rotation, logout, devices, API-key exchange. */
#include "session.h"

#include <stdio.h>
#include <string.h>
#include "audit.h"
#include "lockout.h"
#include "user.h"
#include "server/auth/password.h"
#include "server/core/ids.h"
#include "server/core/log.h"
#include "server/core/roles.h"
#include "server/db/db.h"
#include "server/db/sqlb.h"

static struct session_config conf;

void session_configure(const struct session_config *c)
{
    conf = *c;
}

const struct session_config *session_config_get(void)
{
    return &conf;
}

static bool password_ok(const char *hash, const char *password)
{
    return auth_password_verify(hash, password); /* NULL hash: same cost, always false */
}

static enum err sign_access(struct rctx *cx, int64_t user_id, uint32_t roles, int64_t tv,
                            const char *device, const char *family, int64_t api_key_id,
                            struct token_pair *tp)
{
    struct auth_claims c;
    int64_t now = cx->now_ms / 1000;
    char jti[17];

    memset(&c, 0, sizeof c);
    c.sub = user_id;
    c.roles = roles;
    c.tv = tv;
    snprintf(c.typ, sizeof c.typ, "%s", AUTH_TYP_ACCESS);
    snprintf(c.device, sizeof c.device, "%s", device ? device : "");
    snprintf(c.family, sizeof c.family, "%s", family ? family : "");
    ids_token(jti, 16);
    snprintf(c.jti, sizeof c.jti, "%s", jti);
    c.akid = api_key_id;
    c.iat = now;
    c.nbf = now;
    c.exp = now + conf.access_ttl_s;
    if (!conf.keys)
        return rctx_fail(cx, ERR_INTERNAL, "token keys are not configured");
    if (auth_jwt_sign(conf.keys, &conf.policy, &c, tp->access, sizeof tp->access))
        return rctx_fail(cx, ERR_INTERNAL, "token signing failed");
    tp->access_expires_in = conf.access_ttl_s;
    tp->user_id = user_id;
    return ERR_OK;
}

/* New refresh token for a session, inside the caller's transaction. */
static enum err add_refresh(struct rctx *cx, int64_t session_id, struct token_pair *tp)
{
    char hash[AUTH_SECRET_HEX];

    auth_secret_new(tp->refresh, SESSION_REFRESH_LEN);
    auth_secret_hash(tp->refresh, strlen(tp->refresh), hash);
    tp->refresh_expires_in = conf.refresh_ttl_s;
    tp->session_id = session_id;
    return db_exec(cx,
                   "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES "
                   "(?, ?, FROM_UNIXTIME(? / 1000))",
                   DB_ARGS(DBS(hash), DBI(session_id), DBI(cx->now_ms)), NULL);
}

static enum err open_in_tx(struct rctx *cx, int64_t user_id, uint32_t roles, int64_t tv,
                           const char *device, const char *platform, struct token_pair *tp)
{
    char family[33];
    struct db_res r;
    enum err res;

    ids_token(family, 32);
    res = db_exec(cx,
                  "INSERT INTO sessions (family, user_id, device_id, platform, created_at,"
                  " last_seen_at, expires_at) VALUES (?, ?, ?, ?, FROM_UNIXTIME(? / 1000),"
                  " FROM_UNIXTIME(? / 1000), FROM_UNIXTIME(? / 1000 + ?))",
                  DB_ARGS(DBS(family), DBI(user_id), DBS(device), DBS(platform), DBI(cx->now_ms),
                          DBI(cx->now_ms), DBI(cx->now_ms), DBI(conf.refresh_ttl_s)),
                  &r);
    if (res)
        return res;
    res = add_refresh(cx, (int64_t)r.insert_id, tp);
    if (res)
        return res;
    return sign_access(cx, user_id, roles, tv, device, family, 0, tp);
}

/* Open a session for an existing user inside the caller's transaction. */
static enum err open_for_user(struct rctx *cx, int64_t user_id, const char *device_id,
                              const char *platform, struct token_pair *tp)
{
    struct db_res u;
    enum err res;

    res = db_exec(cx, "SELECT roles, token_version, disabled FROM users WHERE id = ?",
                  DB_ARGS(DBI(user_id)), &u);
    if (!res && (u.nrows == 0 || db_cell_i64(&u, 0, 2)))
        res = rctx_fail(cx, ERR_FORBIDDEN, "account disabled");
    if (!res)
        res = open_in_tx(cx, user_id, (uint32_t)db_cell_i64(&u, 0, 0), db_cell_i64(&u, 0, 1),
                         device_id, platform, tp);
    if (!res) {
        cx->who.user_id = user_id;
        res = audit_write(cx, "session.open", "user", user_id, AUDIT_OK, platform);
    }
    return res;
}

enum err session_open(struct rctx *cx, int64_t user_id, const char *device_id, const char *platform,
                      struct token_pair **out)
{
    struct token_pair *tp = rctx_zalloc(cx, sizeof *tp);
    enum err res;

    res = db_tx_begin(cx);
    if (res)
        return res;
    res = open_for_user(cx, user_id, device_id, platform, tp);
    res = db_tx_end(cx, res);
    if (!res)
        *out = tp;
    return res;
}

enum err session_register(struct rctx *cx, const struct user_new *in, const char *device_id,
                          const char *platform, struct token_pair **out)
{
    struct token_pair *tp = rctx_zalloc(cx, sizeof *tp);
    int64_t id = 0;
    enum err res;

    snprintf(cx->who.device_id, sizeof cx->who.device_id, "%s", device_id);
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = user_create(cx, in, &id);
    if (!res)
        res = open_for_user(cx, id, device_id, platform, tp);
    res = db_tx_end(cx, res); /* the account and its first session, or neither */
    if (!res)
        *out = tp;
    return res;
}

enum err session_login(struct rctx *cx, const struct login_in *in, struct token_pair **out)
{
    struct token_pair *tp;
    struct db_res u;
    const char *hash;
    int64_t uid;
    enum err res;

    snprintf(cx->who.device_id, sizeof cx->who.device_id, "%s", in->device_id);
    res = lockout_address_check(cx, "auth.login");
    if (res)
        return res;
    /* Usernames always contain a letter and phones never do, so at most one row matches. */
    res = db_exec(cx,
                  "SELECT id, password_hash, roles, token_version, disabled FROM users"
                  " WHERE username = ? OR phone = ? LIMIT 1",
                  DB_ARGS(DBS(in->account), DBS(in->account)), &u);
    if (res)
        return res;
    uid = u.nrows ? db_cell_i64(&u, 0, 0) : 0;
    res = lockout_check(cx, uid, in->account);
    if (res)
        return res;
    hash = u.nrows ? db_cell(&u, 0, 1) : NULL;
    if (!password_ok(hash, in->password)) {
        lockout_record(cx, uid, in->account, false);
        cx->who.user_id = uid;
        audit_write_quiet(cx, "auth.login", "user", uid, AUDIT_FAILED,
                          u.nrows ? "wrong password" : "unknown account");
        cx->who.user_id = 0;
        return rctx_fail(cx, ERR_UNAUTH, "wrong account or password");
    }
    cx->who.user_id = uid;
    if (db_cell_i64(&u, 0, 4)) {
        /* The right password: not a guess, so it does not count towards the lockout. */
        audit_write_quiet(cx, "auth.login", "user", uid, AUDIT_DENIED, "account disabled");
        return rctx_fail(cx, ERR_FORBIDDEN, "account disabled");
    }
    cx->who.roles = (uint32_t)db_cell_i64(&u, 0, 2);
    tp = rctx_zalloc(cx, sizeof *tp);
    res = db_tx_begin(cx);
    if (res)
        return res;
    res =
        open_in_tx(cx, uid, cx->who.roles, db_cell_i64(&u, 0, 3), in->device_id, in->platform, tp);
    if (!res)
        res = audit_write(cx, "auth.login", "user", uid, AUDIT_OK, in->platform);
    res = db_tx_end(cx, res);
    if (res)
        return res;
    lockout_record(cx, uid, in->account, true);
    *out = tp;
    return ERR_OK;
}

static enum err revoke_session(struct rctx *cx, int64_t session_id, const char *reason)
{
    return db_exec(cx,
                   "UPDATE sessions SET revoked_at = FROM_UNIXTIME(? / 1000), revoked_reason = ?"
                   " WHERE id = ? AND revoked_at IS NULL",
                   DB_ARGS(DBI(cx->now_ms), DBS(reason), DBI(session_id)), NULL);
}

/* The successor of a rotated refresh token is kept for auth.refresh_reuse_grace_s, sealed under
 * a key only the old token's holder can derive: SHA-256(old ":g1") || SHA-256(old ":g2"), two hex
 * digits (8 bits, whose low 6 are uniform) per base64url character. The database holds only
 * SHA-256(old), so a reader of it cannot open the seal; a client that lost the answer presents
 * the old token again and gets the same successor. Sealing and opening are the same operation. */
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static bool seal_successor(const char *old, const char *in, char out[SESSION_REFRESH_LEN + 1])
{
    char buf[SESSION_REFRESH_LEN + 4], k1[AUTH_SECRET_HEX], k2[AUTH_SECRET_HEX];
    char ks[2 * (AUTH_SECRET_HEX - 1) + 1];

    snprintf(buf, sizeof buf, "%s:g1", old);
    auth_secret_hash(buf, strlen(buf), k1);
    snprintf(buf, sizeof buf, "%s:g2", old);
    auth_secret_hash(buf, strlen(buf), k2);
    snprintf(ks, sizeof ks, "%s%s", k1, k2);
    for (size_t i = 0; i < SESSION_REFRESH_LEN; i++) {
        const char *p = in[i] ? strchr(b64url, in[i]) : NULL;
        unsigned byte;

        if (!p)
            return false;
        sscanf(ks + 2 * i, "%2x", &byte);
        out[i] = b64url[((size_t)(p - b64url) ^ byte) & 63];
    }
    out[SESSION_REFRESH_LEN] = '\0';
    return true;
}

/* Within the grace window: the successor sealed in the used token's row, when it is unused and
 * of the same session. *again false otherwise (the caller revokes). */
static enum err grace_retry(struct rctx *cx, const char *old, const char *sealed, int64_t sid,
                            struct token_pair *tp, bool *again)
{
    char hash[AUTH_SECRET_HEX];
    struct db_res r;
    enum err res;

    *again = false;
    if (strlen(sealed) != SESSION_REFRESH_LEN || !seal_successor(old, sealed, tp->refresh))
        return ERR_OK;
    auth_secret_hash(tp->refresh, SESSION_REFRESH_LEN, hash);
    res = db_exec(cx,
                  "SELECT session_id = ? AND used_at IS NULL FROM refresh_tokens"
                  " WHERE token_hash = ? FOR UPDATE",
                  DB_ARGS(DBI(sid), DBS(hash)), &r);
    if (res)
        return res;
    *again = r.nrows == 1 && db_cell_i64(&r, 0, 0) == 1;
    if (*again) {
        tp->refresh_expires_in = conf.refresh_ttl_s;
        tp->session_id = sid;
    } else {
        memset(tp->refresh, 0, sizeof tp->refresh);
    }
    return ERR_OK;
}

enum err session_refresh(struct rctx *cx, const char *refresh_token, struct token_pair **out)
{
    char hash[AUTH_SECRET_HEX];
    struct token_pair *tp;
    struct db_res r;
    enum err res;
    int64_t sid, uid;
    bool reused = false;

    if (strlen(refresh_token) != SESSION_REFRESH_LEN)
        return rctx_fail(cx, ERR_UNAUTH, "invalid refresh token");
    auth_secret_hash(refresh_token, strlen(refresh_token), hash);
    tp = rctx_zalloc(cx, sizeof *tp);
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(
        cx,
        "SELECT s.id, s.user_id, s.family, s.device_id, t.used_at IS NOT NULL,"
        " s.revoked_at IS NOT NULL OR s.expires_at <= FROM_UNIXTIME(? / 1000),"
        " u.roles, u.token_version, u.disabled,"
        " t.used_at > FROM_UNIXTIME(? / 1000 - ?), t.successor"
        " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id"
        " JOIN users u ON u.id = s.user_id WHERE t.token_hash = ? FOR UPDATE",
        DB_ARGS(DBI(cx->now_ms), DBI(cx->now_ms), DBI(conf.refresh_reuse_grace_s), DBS(hash)), &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_UNAUTH, "invalid refresh token");
        goto out;
    }
    sid = db_cell_i64(&r, 0, 0);
    uid = db_cell_i64(&r, 0, 1);
    cx->who.user_id = uid;
    snprintf(cx->who.device_id, sizeof cx->who.device_id, "%s", db_cell(&r, 0, 3));
    if (db_cell_i64(&r, 0, 4) && db_cell_i64(&r, 0, 9) == 1 && !db_cell_i64(&r, 0, 5) &&
        !db_cell_i64(&r, 0, 8) && db_cell(&r, 0, 10)) {
        /* The client lost the answer of its last refresh (4G cut off) and retries within the
         * grace window: the same successor again, provided it is still the newest token. */
        bool again = false;

        res = grace_retry(cx, refresh_token, db_cell(&r, 0, 10), sid, tp, &again);
        if (res)
            goto out;
        if (again) {
            res = sign_access(cx, uid, (uint32_t)db_cell_i64(&r, 0, 6), db_cell_i64(&r, 0, 7),
                              db_cell(&r, 0, 3), db_cell(&r, 0, 2), 0, tp);
            if (!res)
                res = audit_write(cx, "auth.refresh_retry", "session", sid, AUDIT_OK,
                                  "same refresh token within the grace window");
            goto out;
        }
    }
    if (db_cell_i64(&r, 0, 4)) {
        /* A rotated token came back outside the grace window, or after its successor was used
         * too: it was stolen (or replayed very late). The family is no longer trustworthy. */
        reused = true;
        res = revoke_session(cx, sid, "refresh_reuse");
        if (!res)
            res = audit_write(cx, "auth.refresh_reuse", "session", sid, AUDIT_DENIED,
                              "rotated refresh token presented again; session revoked");
        if (!res)
            res = ERR_UNAUTH;
        goto out;
    }
    if (db_cell_i64(&r, 0, 5) || db_cell_i64(&r, 0, 8)) {
        res = rctx_fail(cx, ERR_UNAUTH, "session ended; log in again");
        goto out;
    }
    res = add_refresh(cx, sid, tp);
    if (!res) {
        char sealed[SESSION_REFRESH_LEN + 1];

        if (!seal_successor(refresh_token, tp->refresh, sealed))
            res = rctx_fail(cx, ERR_UNAUTH, "invalid refresh token");
        else
            res = db_exec(cx,
                          "UPDATE refresh_tokens SET used_at = FROM_UNIXTIME(? / 1000),"
                          " successor = ? WHERE token_hash = ?",
                          DB_ARGS(DBI(cx->now_ms), DBS(sealed), DBS(hash)), NULL);
    }
    if (!res)
        /* The session slides: a device that keeps refreshing stays logged in; one that stays
         * away longer than auth.refresh_ttl_s logs in again. */
        res = db_exec(cx,
                      "UPDATE sessions SET last_seen_at = FROM_UNIXTIME(? / 1000),"
                      " expires_at = FROM_UNIXTIME(? / 1000 + ?) WHERE id = ?",
                      DB_ARGS(DBI(cx->now_ms), DBI(cx->now_ms), DBI(conf.refresh_ttl_s), DBI(sid)),
                      NULL);
    if (!res)
        res = sign_access(cx, uid, (uint32_t)db_cell_i64(&r, 0, 6), db_cell_i64(&r, 0, 7),
                          db_cell(&r, 0, 3), db_cell(&r, 0, 2), 0, tp);
    if (!res)
        res = audit_write(cx, "auth.refresh", "session", sid, AUDIT_OK, NULL);
out:
    if (reused && res == ERR_UNAUTH) {
        /* Commit the revocation, then answer 401. */
        res = db_tx_end(cx, ERR_OK);
        return res ? res : rctx_fail(cx, ERR_UNAUTH, "refresh token reused; session revoked");
    }
    res = db_tx_end(cx, res);
    if (res == ERR_UNAUTH)
        audit_write_quiet(cx, "auth.refresh", NULL, 0, AUDIT_DENIED, "invalid or ended session");
    if (!res)
        *out = tp;
    return res;
}

enum err session_logout(struct rctx *cx)
{
    enum err res;
    struct db_res r;

    if (!cx->who.family[0])
        return rctx_fail(cx, ERR_INVALID, "this token has no session to end");
    res = db_exec(cx,
                  "UPDATE sessions SET revoked_at = FROM_UNIXTIME(? / 1000), revoked_reason ="
                  " 'logout' WHERE family = ? AND user_id = ? AND revoked_at IS NULL",
                  DB_ARGS(DBI(cx->now_ms), DBS(cx->who.family), DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    audit_write_quiet(cx, "auth.logout", "user", cx->who.user_id, AUDIT_OK, NULL);
    return ERR_OK;
}

enum err session_logout_all(struct rctx *cx)
{
    enum err res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx, "UPDATE users SET token_version = token_version + 1 WHERE id = ?",
                  DB_ARGS(DBI(cx->who.user_id)), NULL);
    if (!res)
        res = db_exec(cx,
                      "UPDATE sessions SET revoked_at = FROM_UNIXTIME(? / 1000), revoked_reason"
                      " = 'logout_all' WHERE user_id = ? AND revoked_at IS NULL",
                      DB_ARGS(DBI(cx->now_ms), DBI(cx->who.user_id)), NULL);
    if (!res)
        res = audit_write(cx, "auth.logout_all", "user", cx->who.user_id, AUDIT_OK, NULL);
    return db_tx_end(cx, res);
}

static enum err judge_user(struct rctx *cx, bool found, int64_t token_version, bool disabled,
                           bool session_ended)
{
    if (found && !disabled && token_version == cx->who.token_version && !session_ended)
        return ERR_OK;
    audit_write_quiet(cx, "auth.token_rejected", "user", cx->who.user_id, AUDIT_DENIED,
                      !found          ? "unknown user"
                      : disabled      ? "account disabled"
                      : session_ended ? "session ended"
                                      : "token version revoked");
    return rctx_fail(cx, ERR_UNAUTH, "token revoked; log in again");
}

static bool scopes_allow(const char *csv, const char *need)
{
    size_t nl = strlen(need);
    const char *p = csv;

    if (!csv || !*csv)
        return true; /* a key created without scopes may call every machine operation */
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == nl && memcmp(p, need, nl) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

static enum err check_api_key(struct rctx *cx, const char *need)
{
    struct db_res r;
    enum err res = db_exec(cx, "SELECT revoked_at IS NULL, scopes FROM api_keys WHERE id = ?",
                           DB_ARGS(DBI(cx->who.api_key_id)), &r);

    if (res)
        return res;
    if (r.nrows == 0 || !db_cell_i64(&r, 0, 0)) {
        audit_write_quiet(cx, "auth.token_rejected", "api_key", cx->who.api_key_id, AUDIT_DENIED,
                          "api key revoked");
        return rctx_fail(cx, ERR_UNAUTH, "token revoked");
    }
    if (!need) {
        audit_write_quiet(cx, "auth.scope_denied", "api_key", cx->who.api_key_id, AUDIT_DENIED,
                          "no scope");
        return rctx_fail(cx, ERR_FORBIDDEN, "API keys may not call this operation");
    }
    if (!scopes_allow(db_cell(&r, 0, 1), need)) {
        audit_write_quiet(cx, "auth.scope_denied", "api_key", cx->who.api_key_id, AUDIT_DENIED,
                          need);
        return rctx_fail(cx, ERR_FORBIDDEN, "this API key lacks the scope %s", need);
    }
    return ERR_OK;
}

/* The statement for up to `bucket` callers: the IN lists have a fixed length per bucket (the
 * unused places repeat the last value), so a handful of prepared statements serve every batch.
 * Columns 0..4: user id, token version, disabled, the session family matched, whether that
 * session ended; with the profile, user_profile_columns from column 5. */
static enum err check_sql(struct rctx *cx, size_t bucket, bool profile, const char **sql)
{
    struct db_sqlb b;
    enum err res;

    db_sqlb_init(cx, &b, 0, "SELECT u.id, u.token_version, u.disabled, s.family,");
    db_sqlb_add(&b, " s.revoked_at IS NOT NULL");
    if (profile)
        db_sqlb_addf(&b, ", %s FROM users u %s", user_profile_columns, user_profile_joins);
    else
        db_sqlb_add(&b, " FROM users u");
    db_sqlb_add(&b, " LEFT JOIN sessions s ON s.user_id = u.id AND s.family IN (");
    db_sqlb_marks(&b, bucket);
    db_sqlb_add(&b, ") WHERE u.id IN (");
    db_sqlb_marks(&b, bucket);
    db_sqlb_add(&b, ")");
    res = db_sqlb_check(&b);
    if (!res)
        *sql = b.sql;
    return res;
}

void session_check_actors(struct actor_check *v, size_t n)
{
    struct actor_check *todo[SESSION_CHECK_MAX];
    struct db_val args[2 * SESSION_CHECK_MAX];
    struct rctx *cx0;
    const char *sql;
    struct db_res r = {0};
    size_t m = 0, bucket = 1;
    bool profile = false;
    enum err res;

    if (n > SESSION_CHECK_MAX) { /* a caller bug; answer rather than overrun */
        session_check_actors(v + SESSION_CHECK_MAX, n - SESSION_CHECK_MAX);
        n = SESSION_CHECK_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        struct rctx *cx = v[i].cx;

        cx->who.profile = NULL;
        v[i].res = cx->who.api_key_id ? check_api_key(cx, v[i].scope) : ERR_OK;
        if (v[i].res == ERR_OK) {
            todo[m++] = &v[i];
            profile |= v[i].profile;
        }
    }
    if (m == 0)
        return;
    while (bucket < m)
        bucket <<= 1;
    for (size_t i = 0; i < bucket; i++) {
        const struct actor *w = &todo[i < m ? i : m - 1]->cx->who;
        args[i] = DBS(w->family);
        args[bucket + i] = DBI(w->user_id);
    }
    cx0 = todo[0]->cx;
    res = check_sql(cx0, bucket, profile, &sql);
    if (!res)
        res = db_exec(cx0, sql, args, 2 * bucket, &r);
    for (size_t k = 0; k < m; k++) {
        struct actor_check *c = todo[k];
        const struct actor *w = &c->cx->who;
        size_t urow = r.nrows, srow = r.nrows;

        if (res) {
            c->res = c->cx == cx0 ? res : rctx_fail(c->cx, res, "%s", rctx_message(cx0, res));
            continue;
        }
        /* One row per user, or one per session of the user among the families asked. */
        for (size_t i = 0; i < r.nrows; i++) {
            if (db_cell_i64(&r, i, 0) != w->user_id)
                continue;
            if (urow == r.nrows)
                urow = i;
            if (db_cell(&r, i, 3) && strcmp(db_cell(&r, i, 3), w->family) == 0)
                srow = i;
        }
        c->res = judge_user(c->cx, urow < r.nrows, db_cell_i64(&r, urow, 1),
                            db_cell_i64(&r, urow, 2) != 0, db_cell_i64(&r, srow, 4) == 1);
        if (c->res == ERR_OK && c->profile) {
            struct user_rec *u = rctx_zalloc(c->cx, sizeof *u);
            user_profile_from_row(c->cx, &r, urow, 5, u);
            c->cx->who.profile = u;
        }
    }
}

enum err session_devices(struct rctx *cx, struct device_list *out)
{
    struct db_res r;
    enum err res =
        db_exec(cx,
                "SELECT id, device_id, platform, DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%sZ'),"
                " DATE_FORMAT(last_seen_at, '%Y-%m-%dT%H:%i:%sZ'), family = ? FROM sessions"
                " WHERE user_id = ? AND revoked_at IS NULL AND expires_at > FROM_UNIXTIME(? / 1000)"
                " ORDER BY last_seen_at DESC LIMIT 100",
                DB_ARGS(DBS(cx->who.family), DBI(cx->who.user_id), DBI(cx->now_ms)), &r);
    if (res)
        return res;
    out->n = r.nrows;
    out->rows = rctx_zalloc(cx, (r.nrows + 1) * sizeof *out->rows);
    for (size_t i = 0; i < r.nrows; i++) {
        out->rows[i].id = db_cell_i64(&r, i, 0);
        out->rows[i].device_id = db_cell(&r, i, 1);
        out->rows[i].platform = db_cell(&r, i, 2);
        out->rows[i].created_at = db_cell(&r, i, 3);
        out->rows[i].last_seen_at = db_cell(&r, i, 4);
        out->rows[i].current = db_cell_i64(&r, i, 5) == 1;
    }
    return ERR_OK;
}

enum err session_revoke_device(struct rctx *cx, int64_t session_id)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "UPDATE sessions SET revoked_at = FROM_UNIXTIME(? / 1000),"
                           " revoked_reason = 'device_revoked' WHERE id = ? AND user_id = ?"
                           " AND revoked_at IS NULL",
                           DB_ARGS(DBI(cx->now_ms), DBI(session_id), DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    if (r.affected == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such device session");
    audit_write_quiet(cx, "auth.device_revoked", "session", session_id, AUDIT_OK, NULL);
    return ERR_OK;
}

enum err session_api_key_token(struct rctx *cx, const char *api_key, struct token_pair **out)
{
    char hash[AUTH_SECRET_HEX];
    struct token_pair *tp;
    struct db_res r;
    enum err res;
    size_t n = strlen(api_key);

    if (n < 3 + 8 + 16 || n > 128 || strncmp(api_key, "ck_", 3) != 0) {
        audit_write_quiet(cx, "auth.api_key", NULL, 0, AUDIT_DENIED, "malformed api key");
        return rctx_fail(cx, ERR_UNAUTH, "invalid api key");
    }
    auth_secret_hash(api_key, n, hash);
    res = db_exec(cx,
                  "SELECT k.id, k.key_hash, k.user_id, u.token_version, u.disabled FROM api_keys"
                  " k JOIN users u ON u.id = k.user_id WHERE k.prefix = ? AND k.revoked_at IS NULL",
                  DB_ARGS(DBSN(api_key + 3, 8)), &r);
    if (res)
        return res;
    if (r.nrows == 0 || !auth_secret_equal(db_cell(&r, 0, 1), hash) || db_cell_i64(&r, 0, 4)) {
        audit_write_quiet(cx, "auth.api_key", NULL, 0, AUDIT_DENIED, "unknown or revoked api key");
        return rctx_fail(cx, ERR_UNAUTH, "invalid api key");
    }
    tp = rctx_zalloc(cx, sizeof *tp);
    cx->who.user_id = db_cell_i64(&r, 0, 2);
    cx->who.api_key_id = db_cell_i64(&r, 0, 0);
    {
        /* The akid claim names the key, so every request re-checks that it is not revoked; the
         * device text is only for people reading the audit log. */
        char dev[40];
        snprintf(dev, sizeof dev, "apikey:%lld", (long long)cx->who.api_key_id);
        res = sign_access(cx, cx->who.user_id, ROLE_MACHINE, db_cell_i64(&r, 0, 3), dev, NULL,
                          cx->who.api_key_id, tp);
    }
    if (res)
        return res;
    res = db_exec(cx, "UPDATE api_keys SET last_used_at = FROM_UNIXTIME(? / 1000) WHERE id = ?",
                  DB_ARGS(DBI(cx->now_ms), DBI(cx->who.api_key_id)), NULL);
    if (res)
        return res;
    audit_write_quiet(cx, "auth.api_key", "api_key", cx->who.api_key_id, AUDIT_OK, NULL);
    *out = tp;
    return ERR_OK;
}
