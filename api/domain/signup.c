/* api/domain/signup.c: registration by phone with a text-message code (signup.h). */
#include "api/domain/signup.h"

#include <stdio.h>
#include <string.h>
#include "api/domain/audit.h"
#include "api/domain/lockout.h"
#include "api/domain/user.h"
#include "server/auth/password.h"
#include "server/core/roles.h"
#include "server/db/db.h"
#include "server/ext/sms.h"

static struct signup_config conf = {10, 60};

void signup_configure(const struct signup_config *c)
{
    conf = *c;
}

/* Six uniformly random digits: base64url characters whose index is below 60, mod 10. */
static void new_code(char out[7])
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = 0;

    while (n < 6) {
        char r[33];
        auth_secret_new(r, 32);
        for (size_t i = 0; i < 32 && n < 6; i++) {
            size_t v = (size_t)(strchr(b64url, r[i]) - b64url);
            if (v < 60)
                out[n++] = (char)('0' + v % 10);
        }
    }
    out[6] = '\0';
}

static enum err count(struct rctx *cx, const char *sql, const char *key, int64_t window_s,
                      int64_t *n)
{
    struct db_res r;
    enum err res;

    if (key)
        res = db_exec(cx, sql, DB_ARGS(DBS(key), DBI(cx->now_ms), DBI(window_s)), &r);
    else
        res = db_exec(cx, sql, DB_ARGS(DBI(cx->now_ms), DBI(window_s)), &r);
    if (res)
        return res;
    *n = db_cell_i64(&r, 0, 0);
    return ERR_OK;
}

static enum err throttled(struct rctx *cx, const char *why, const char *msg)
{
    audit_write_quiet(cx, "auth.register_code", NULL, 0, AUDIT_DENIED, why);
    return rctx_fail(cx, ERR_RATELIMIT, "%s", msg);
}

enum err signup_request_code(struct rctx *cx, const char *phone, int *expires_in)
{
    char src[LOCKOUT_SOURCE_MAX], code[7], hash[AUTH_SECRET_HEX];
    struct db_res u;
    int64_t n;
    bool known;
    enum err res;

    if (!user_phone_valid(phone))
        return rctx_fail(cx, ERR_INVALID, "phone: 5 to 20 digits, optionally after '+'");
    lockout_source(cx->ip, src);
    res = count(cx,
                "SELECT COUNT(*) FROM phone_verifications WHERE ip = ?"
                " AND created_at > FROM_UNIXTIME(? / 1000 - ?)",
                src, 3600, &n);
    if (!res && n >= conf.per_address_hour)
        return throttled(cx, "source address throttled",
                         "too many registrations from this address; retry later");
    if (!res)
        res = count(cx,
                    "SELECT COUNT(*) FROM phone_verifications WHERE phone = ?"
                    " AND created_at > FROM_UNIXTIME(? / 1000 - ?)",
                    phone, SIGNUP_PHONE_INTERVAL_S, &n);
    if (!res && n > 0)
        return throttled(cx, "phone throttled",
                         "a code was sent to this number less than a minute ago");
    if (!res)
        res = count(cx,
                    "SELECT COUNT(*) FROM phone_verifications"
                    " WHERE created_at > FROM_UNIXTIME(? / 1000 - ?)",
                    NULL, 60, &n);
    if (!res && n >= conf.global_minute)
        return throttled(cx, "registration throttled", "registration is busy; retry in a minute");
    if (!res)
        res = db_exec(cx, "SELECT id FROM users WHERE phone = ?", DB_ARGS(DBS(phone)), &u);
    if (res)
        return res;
    known = u.nrows > 0;
    new_code(code);
    auth_secret_hash(code, 6, hash);
    res = db_exec(cx,
                  "INSERT INTO phone_verifications (phone, code_hash, ip, created_at, expires_at)"
                  " VALUES (?, ?, ?, FROM_UNIXTIME(? / 1000), FROM_UNIXTIME(? / 1000 + ?))",
                  DB_ARGS(DBS(phone), known ? DBNULL : DBS(hash), DBS(src), DBI(cx->now_ms),
                          DBI(cx->now_ms), DBI(SIGNUP_CODE_TTL_S)),
                  NULL);
    if (res)
        return res;
    /* The answer is the same either way; only the owner of the number learns which. */
    res = ext_sms_send(
        cx, phone,
        known ? "【城管通】此手机号已注册城管通账号，请直接登录；忘记密码请联系管理员。"
              : rctx_printf(cx, "【城管通】注册验证码 %s，%d 分钟内有效。请勿告诉他人。", code,
                            SIGNUP_CODE_TTL_S / 60));
    explicit_bzero(code, sizeof code);
    audit_write_quiet(cx, "auth.register_code", NULL, 0, res ? AUDIT_FAILED : AUDIT_OK, NULL);
    if (res)
        return res;
    *expires_in = SIGNUP_CODE_TTL_S;
    return ERR_OK;
}

static enum err wrong_code(struct rctx *cx)
{
    audit_write_quiet(cx, "auth.register", NULL, 0, AUDIT_DENIED, "wrong or expired code");
    return rctx_fail(cx, ERR_INVALID, "code: wrong or expired; request a new one");
}

/* Spend the newest live code of the number when it matches; count a wrong try otherwise. */
static enum err spend_code(struct rctx *cx, const char *phone, const char *code)
{
    char hash[AUTH_SECRET_HEX];
    struct db_res r;
    bool ok;
    enum err res;

    if (strlen(code) != 6 || strspn(code, "0123456789") != 6)
        return wrong_code(cx);
    auth_secret_hash(code, 6, hash);
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT id, COALESCE(code_hash, ''), attempts FROM phone_verifications"
                  " WHERE phone = ? AND used_at IS NULL AND expires_at > FROM_UNIXTIME(? / 1000)"
                  " ORDER BY id DESC LIMIT 1 FOR UPDATE",
                  DB_ARGS(DBS(phone), DBI(cx->now_ms)), &r);
    if (res)
        return db_tx_end(cx, res);
    if (r.nrows == 0)
        return db_tx_end(cx, wrong_code(cx));
    ok = db_cell_i64(&r, 0, 2) < SIGNUP_ATTEMPTS_MAX && auth_secret_equal(db_cell(&r, 0, 1), hash);
    if (ok)
        res = db_exec(cx,
                      "UPDATE phone_verifications SET used_at = FROM_UNIXTIME(? / 1000)"
                      " WHERE id = ?",
                      DB_ARGS(DBI(cx->now_ms), DBI(db_cell_i64(&r, 0, 0))), NULL);
    else
        res = db_exec(cx, "UPDATE phone_verifications SET attempts = attempts + 1 WHERE id = ?",
                      DB_ARGS(DBI(db_cell_i64(&r, 0, 0))), NULL);
    res = db_tx_end(cx, res); /* a wrong try is counted even though the request fails */
    if (res)
        return res;
    return ok ? ERR_OK : wrong_code(cx);
}

enum err signup_register(struct rctx *cx, const struct signup_in *in, struct token_pair **out)
{
    struct user_new u = {0};
    char msg[160];
    size_t dn = strlen(in->display_name);
    enum err res;

    if (!user_phone_valid(in->phone))
        return rctx_fail(cx, ERR_INVALID, "phone: 5 to 20 digits, optionally after '+'");
    if (dn == 0 || dn > 64)
        return rctx_fail(cx, ERR_INVALID, "display_name: 1 to 64 bytes");
    /* Checked before the code is spent: a weak password must not burn it. */
    if (auth_password_check_policy(in->password, "", in->phone, msg, sizeof msg))
        return rctx_fail(cx, ERR_INVALID, "password: %s", msg);
    res = spend_code(cx, in->phone, in->code);
    if (res)
        return res;
    u.phone = in->phone;
    u.password = in->password;
    u.display_name = in->display_name;
    u.roles = ROLE_CITIZEN;
    return session_register(cx, &u, in->device_id, in->platform, out);
}
