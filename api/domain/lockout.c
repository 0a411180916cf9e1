/* api/domain/lockout.c: failed-password budgets (lockout.h). */
#include "lockout.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "audit.h"
#include "server/auth/password.h"
#include "server/core/log.h"
#include "server/db/db.h"

#define IP_THRESHOLD_FACTOR 4

static struct lockout_config conf = {5, 900, 900};

void lockout_configure(const struct lockout_config *c)
{
    conf = *c;
}

void lockout_source(const char *ip, char out[LOCKOUT_SOURCE_MAX])
{
    unsigned char a[16];

    if (inet_pton(AF_INET6, ip, a) != 1) {
        snprintf(out, LOCKOUT_SOURCE_MAX, "%s", ip);
        return;
    }
    if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) { /* ::ffff:a.b.c.d */
        snprintf(out, LOCKOUT_SOURCE_MAX, "%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
        return;
    }
    snprintf(out, LOCKOUT_SOURCE_MAX, "%x:%x:%x:%x::/64", a[0] << 8 | a[1], a[2] << 8 | a[3],
             a[4] << 8 | a[5], a[6] << 8 | a[7]);
}

/* The account key: see lockout.h. At most 66 characters; the column holds 64, so the name's
 * hash is cut to 62 hex digits (248 bits). */
static void account_key(int64_t user_id, const char *account, char out[65])
{
    char hex[AUTH_SECRET_HEX];

    if (user_id) {
        snprintf(out, 65, "u:%lld", (long long)user_id);
        return;
    }
    auth_secret_hash(account, strlen(account), hex);
    snprintf(out, 65, "n:%.62s", hex);
}

static enum err count_failures(struct rctx *cx, bool by_ip, const char *val, int64_t *n,
                               int64_t *last_ms)
{
    struct db_res r;
    const char *sql_account =
        "SELECT COUNT(*), COALESCE(UNIX_TIMESTAMP(MAX(at)) * 1000, 0) FROM login_attempts"
        " WHERE account = ? AND success = 0 AND at > FROM_UNIXTIME(? / 1000 - ?)"
        " AND at > COALESCE((SELECT MAX(at) FROM login_attempts s WHERE s.account = ?"
        " AND s.success = 1), '1970-01-02')";
    const char *sql_ip = "SELECT COUNT(*), COALESCE(UNIX_TIMESTAMP(MAX(at)) * 1000, 0)"
                         " FROM login_attempts WHERE ip = ? AND success = 0"
                         " AND at > FROM_UNIXTIME(? / 1000 - ?)";
    enum err res;

    if (!by_ip)
        res = db_exec(cx, sql_account,
                      DB_ARGS(DBS(val), DBI(cx->now_ms), DBI(conf.window_s), DBS(val)), &r);
    else
        res = db_exec(cx, sql_ip, DB_ARGS(DBS(val), DBI(cx->now_ms), DBI(conf.window_s)), &r);
    if (res)
        return res;
    *n = db_cell_i64(&r, 0, 0);
    *last_ms = (int64_t)db_cell_f64(&r, 0, 1);
    return ERR_OK;
}

enum err lockout_address_check(struct rctx *cx, const char *action)
{
    char src[LOCKOUT_SOURCE_MAX];
    int64_t fails, last;
    enum err res;

    lockout_source(cx->ip, src);
    res = count_failures(cx, true, src, &fails, &last);
    if (res)
        return res;
    if (fails >= (int64_t)conf.threshold * IP_THRESHOLD_FACTOR &&
        cx->now_ms < last + (int64_t)conf.duration_s * 1000) {
        audit_write_quiet(cx, action, NULL, 0, AUDIT_DENIED, "source address throttled");
        return rctx_fail(cx, ERR_RATELIMIT,
                         "too many failed logins from this address; retry later");
    }
    return ERR_OK;
}

enum err lockout_check(struct rctx *cx, int64_t user_id, const char *account)
{
    char key[65];
    int64_t fails, last_ms;
    enum err res;

    account_key(user_id, account, key);
    res = count_failures(cx, false, key, &fails, &last_ms);
    if (res)
        return res;
    if (fails >= conf.threshold && cx->now_ms < last_ms + (int64_t)conf.duration_s * 1000) {
        audit_write_quiet(cx, "auth.login", user_id ? "user" : NULL, user_id, AUDIT_DENIED,
                          "account locked");
        return rctx_fail(
            cx, ERR_LOCKED, "account locked after %d failed logins; retry in %lld minutes",
            conf.threshold,
            (long long)((last_ms + (int64_t)conf.duration_s * 1000 - cx->now_ms) / 60000 + 1));
    }
    return ERR_OK;
}

void lockout_record(struct rctx *cx, int64_t user_id, const char *account, bool success)
{
    char key[65], src[LOCKOUT_SOURCE_MAX];
    enum err res;

    account_key(user_id, account, key);
    lockout_source(cx->ip, src);
    res = db_exec(cx,
                  "INSERT INTO login_attempts (account, ip, success, at) VALUES"
                  " (?, ?, ?, FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBS(key), DBS(src), DBI(success ? 1 : 0), DBI(cx->now_ms)), NULL);
    if (res)
        log_error(cx, "login attempt not recorded");
}
