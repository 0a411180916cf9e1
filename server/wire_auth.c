/* server/wire_auth.c: loads the token keys and connects server/auth and the session domain to
 * the HTTP layer: authenticate (loop thread, signature and claims only), authorize (worker:
 * token version, disabled account, revoked API key; several requests in one statement), auth_failed
 * (worker: audit row). */
#include "wire_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/domain/audit.h"
#include "api/domain/bearer.h"
#include "api/domain/lockout.h"
#include "api/domain/session.h"
#include "api/domain/citizen.h"
#include "api/domain/points.h"
#include "api/domain/signup.h"
#include "server/auth/jwt.h"
#include "server/core/clock.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/db/db.h"
#include "server/ext/sms.h"
#include "server/ext/wechat.h"
#include <openssl/evp.h>

static struct auth_keys *keys;
static struct auth_policy policy;

static size_t read_secret(const char *path, unsigned char *buf, size_t cap, const char *key)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f) {
        fprintf(stderr, "cityd: config: %s: cannot read %s\n", key, path);
        exit(2);
    }
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* A kid that differs for different secrets without revealing them. */
static void kid_of(const unsigned char *s, size_t n, char out[17])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 8; i++) {
        out[i * 2] = hex[md[i] >> 4];
        out[i * 2 + 1] = hex[md[i] & 15];
    }
    out[16] = '\0';
}

/* Signature and claims on the loop thread; the claims → actor rule and the per-thread cache of
 * verified tokens are the domain's (api/domain/bearer.h). */
static enum err authenticate(const char *token, size_t len, struct actor *who, char *why,
                             size_t whylen)
{
    return bearer_authenticate(keys, &policy, token, len, clock_now_s(), who, why, whylen);
}

enum err wire__ws_authenticate(const char *token, size_t len, struct actor *who, int64_t *exp_s,
                               char *why, size_t whylen)
{
    struct auth_claims c;
    int64_t now = clock_now_s();
    enum err res = bearer_authenticate(keys, &policy, token, len, now, who, why, whylen);

    /* A socket outlives requests: it needs the expiry, which the actor does not carry. Once
     * per connection, so verifying again is cheap. */
    if (!res)
        res = auth_jwt_verify(keys, &policy, token, len, now, AUTH_TYP_ACCESS, &c, why, whylen);
    if (!res)
        *exp_s = c.exp;
    return res ? ERR_UNAUTH : ERR_OK;
}

_Static_assert(HTTP_BATCH_MAX <= SESSION_CHECK_MAX, "a batch is checked in one call");

static void authorize(struct rctx *const *cxs, const struct route *const *rts, size_t n,
                      enum err *res)
{
    struct actor_check v[SESSION_CHECK_MAX];

    for (size_t i = 0; i < n; i++)
        v[i] = (struct actor_check){cxs[i], rts[i]->scope,
                                    (rts[i]->flags & ROUTE_AUTH_PROFILE) != 0, ERR_OK};
    session_check_actors(v, n);
    for (size_t i = 0; i < n; i++) {
        res[i] = v[i].res;
        /* A valid signature on a token whose session ended, or an account disabled since. */
        if (res[i] == ERR_UNAUTH)
            metrics_inc(metrics_counter("cityd_auth_tokens_rejected_total",
                                        "Bearer tokens refused before the handler, by reason.",
                                        "reason=\"revoked\""));
    }
}

/* The bounded reason label of a rejected token: auth_jwt_verify's texts, grouped. */
static const char *reject_reason(const char *why)
{
    static const struct {
        const char *prefix, *reason;
    } map[] = {
        {"token expired", "expired"},
        {"bad signature", "bad_signature"},
        {"unknown key id", "bad_signature"},
        {"algorithm not allowed", "bad_signature"},
        {"token not yet valid", "not_yet_valid"},
        {"token issued in the future", "not_yet_valid"},
        {"wrong issuer", "wrong_audience"},
        {"wrong audience", "wrong_audience"},
        {"wrong token type", "wrong_type"},
        {"not a bearer token", "malformed"},
        {"empty token", "malformed"},
        {"token too long", "malformed"},
        {"malformed", "malformed"},
        {"bad ", "malformed"},
        {"missing", "malformed"},
        {"wrong header", "malformed"},
        {"unsupported critical", "malformed"},
    };

    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncmp(why, map[i].prefix, strlen(map[i].prefix)) == 0)
            return map[i].reason;
    return "other";
}

/* Any thread: counts the rejection; true when it gets an audit row of its own (written by
 * wire__auth_failed on a worker), false when it only counts for the window's summary row. */
static bool auth_rejected(const char *ip, const char *why)
{
    char lb[40];
    const char *reason = reject_reason(why);

    metrics_labels(lb, sizeof lb, "reason", reason, (const char *)NULL);
    metrics_inc(metrics_counter("cityd_auth_tokens_rejected_total",
                                "Bearer tokens refused before the handler, by reason.", lb));
    return audit_rejection_note(ip, reason, clock_now_ms());
}

void wire__auth_failed(struct rctx *cx, const char *method, const char *path, const char *why)
{
    char detail[200];

    snprintf(detail, sizeof detail, "%s %s: %s", method, path, why);
    log_warn(cx, "token rejected: %s", why);
    audit_write_quiet(cx, "auth.token_rejected", NULL, 0, AUDIT_DENIED, detail);
}

void wire__connect_auth(const struct cfg *cfg, struct http_config *hc)
{
    char err[256] = "";
    struct session_config sc;

    policy.issuer = cfg->auth_issuer;
    policy.audience = cfg->auth_audience;
    policy.leeway_s = cfg->auth_leeway_s;
    if (strcmp(cfg->auth_jwt_alg, "ES256") == 0) {
        /* Key ids from the key files' contents, like the HS256 ones: a rotated key gets a new
         * id without anyone choosing one. */
        char k1[17] = "es1", k2[17] = "es0";
        unsigned char pem[8192];
        size_t n = read_secret(cfg->auth_jwt_es256_public_key, pem, sizeof pem,
                               "auth.jwt_es256_public_key");
        kid_of(pem, n, k1);
        if (cfg->auth_jwt_es256_previous_public_key[0]) {
            n = read_secret(cfg->auth_jwt_es256_previous_public_key, pem, sizeof pem,
                            "auth.jwt_es256_previous_public_key");
            kid_of(pem, n, k2);
        }
        keys = auth_keys_new_es256(
            k1, cfg->auth_jwt_es256_private_key, cfg->auth_jwt_es256_public_key,
            cfg->auth_jwt_es256_previous_public_key[0] ? k2 : NULL,
            cfg->auth_jwt_es256_previous_public_key[0] ? cfg->auth_jwt_es256_previous_public_key
                                                       : NULL,
            err, sizeof err);
    } else {
        unsigned char s1[AUTH_SECRET_MAX + 1], s2[AUTH_SECRET_MAX + 1];
        size_t n1, n2 = 0;
        char k1[17], k2[17];

        if (!cfg->auth_jwt_secret_file[0]) {
            fprintf(stderr, "cityd: config: auth.jwt_secret_file: required (at least 32 random "
                            "bytes)\n");
            exit(2);
        }
        n1 = read_secret(cfg->auth_jwt_secret_file, s1, sizeof s1, "auth.jwt_secret_file");
        kid_of(s1, n1, k1);
        if (cfg->auth_jwt_previous_secret_file[0]) {
            n2 = read_secret(cfg->auth_jwt_previous_secret_file, s2, sizeof s2,
                             "auth.jwt_previous_secret_file");
            kid_of(s2, n2, k2);
        }
        keys = auth_keys_new_hs256(k1, s1, n1, n2 ? k2 : NULL, n2 ? s2 : NULL, n2, err, sizeof err);
        memset(s1, 0, sizeof s1);
        memset(s2, 0, sizeof s2);
    }
    if (!keys) {
        fprintf(stderr, "cityd: config: auth.jwt_secret_file: %s\n", err);
        exit(2);
    }
    memset(&sc, 0, sizeof sc);
    sc.keys = keys;
    sc.policy = policy;
    sc.access_ttl_s = cfg->auth_access_ttl_s;
    sc.refresh_ttl_s = cfg->auth_refresh_ttl_s;
    sc.refresh_reuse_grace_s = cfg->auth_refresh_reuse_grace_s;
    session_configure(&sc);
    lockout_configure(&(struct lockout_config){
        cfg->auth_lockout_threshold, cfg->auth_lockout_window_s, cfg->auth_lockout_duration_s});
    ext_wechat_configure(cfg->wechat_base_url, cfg->wechat_appid, cfg->wechat_secret);
    ext_sms_configure(cfg->sms_url, cfg->sms_token);
    signup_configure(&(struct signup_config){cfg->auth_register_per_address_hour,
                                             cfg->auth_register_global_minute});
    citizen_configure(&(struct citizen_config){
        cfg->citizen_reports_per_hour, cfg->citizen_reports_per_day,
        cfg->citizen_address_reports_per_hour, cfg->citizen_address_reports_per_day});
    points_configure(&(struct points_config){cfg->points_per_report, cfg->points_daily_cap});
    hc->authenticate = authenticate;
    hc->authorize = authorize;
    hc->auth_rejected = auth_rejected;
    hc->auth_failed = wire__auth_failed;
    audit_rejections_configure(cfg->auth_rejected_audit_window_s, cfg->auth_rejected_audit_burst);
}

void wire__ws_auth_failed(struct rctx *cx, const char *why)
{
    if (auth_rejected(cx->ip, why))
        wire__auth_failed(cx, "GET", "/ws", why);
}

void wire__auth_thread_done(void)
{
    bearer_thread_done();
}

void wire__disconnect_auth(void)
{
    auth_keys_free(keys);
    keys = NULL;
}
