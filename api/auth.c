/* api/auth.c: /api/v1/auth — login, token refresh, logout, citizen registration, machine keys.
 * Handlers only: decode, call the domain (session, user), encode. */
#include "api.h"

#include <stddef.h>
#include <string.h>
#include "api/domain/session.h"
#include "api/domain/signup.h"
#include "api/domain/user.h"
#include "api/domain/wechat.h"
#include "server/core/metrics.h"
#include "server/core/roles.h"

static const char *const platforms[] = {"android", "ios", "harmony", "web", "miniprogram", NULL};

static enum err check_platform(struct rctx *cx, const char *p)
{
    for (size_t i = 0; platforms[i]; i++)
        if (strcmp(platforms[i], p) == 0)
            return ERR_OK;
    return rctx_fail(cx, ERR_INVALID, "platform: one of android, ios, harmony, web, miniprogram");
}

/* A device id is the client's own text: any UTF-8 (jansson has checked it), 1 to 64 bytes
 * (the field table), without control characters. */
static enum err check_device(struct rctx *cx, const char *d)
{
    for (const unsigned char *p = (const unsigned char *)d; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return rctx_fail(cx, ERR_INVALID, "device_id: no control characters");
    return ERR_OK;
}

static enum err reply_tokens(struct rctx *cx, struct resp *rs, int status,
                             const struct token_pair *tp)
{
    json_t *j = json_pack("{s:s,s:s,s:I,s:I}", "access_token", tp->access, "token_type", "Bearer",
                          "expires_in", (json_int_t)tp->access_expires_in, "user_id",
                          (json_int_t)tp->user_id);
    if (j && tp->refresh[0]) {
        json_object_set_new(j, "refresh_token", json_string(tp->refresh));
        json_object_set_new(j, "refresh_expires_in", json_integer(tp->refresh_expires_in));
    }
    resp_header(cx, rs, "cache-control", "no-store");
    return api_json_reply(cx, rs, status, j);
}

static const struct api_field login_fields[] = {
    {"account", API_STR, true, offsetof(struct login_in, account), 64, 1, 0},
    {"password", API_STR, true, offsetof(struct login_in, password), 128, 1, 0},
    {"device_id", API_STR, true, offsetof(struct login_in, device_id), 64, 1, 0},
    {"platform", API_STR, true, offsetof(struct login_in, platform), 16, 1, 0},
    {0},
};

/* Metrics of password log-ins (docs/deployment.md): outcomes, and throttling by its reason. */
static void count_login(enum err res)
{
    const char *outcome = "ok", *reason = NULL;
    char lb[40];

    if (res == ERR_LOCKED)
        reason = "account_locked";
    else if (res == ERR_RATELIMIT)
        reason = "source_address";
    if (reason)
        outcome = "throttled";
    else if (res == ERR_UNAUTH || res == ERR_INVALID || res == ERR_FORBIDDEN)
        outcome = "rejected";
    else if (res)
        outcome = "error";
    metrics_labels(lb, sizeof lb, "outcome", outcome, (const char *)NULL);
    metrics_inc(metrics_counter("cityd_auth_logins_total", "Password log-ins, by outcome.", lb));
    if (reason) {
        metrics_labels(lb, sizeof lb, "reason", reason, (const char *)NULL);
        metrics_inc(metrics_counter("cityd_auth_login_throttled_total",
                                    "Log-ins refused before checking the password, by reason.",
                                    lb));
    }
}

static enum err auth_login(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct login_in in = {0};
    struct token_pair *tp;
    enum err res;

    res = api_json_input(cx, rq, login_fields, &in, NULL);
    if (!res)
        res = check_platform(cx, in.platform);
    if (!res)
        res = check_device(cx, in.device_id);
    if (res)
        return res;
    res = session_login(cx, &in, &tp);
    count_login(res);
    if (res)
        return res;
    return reply_tokens(cx, rs, 200, tp);
}

/* Bodies of one field decode straight into the variable the domain takes (offset 0). */
static const struct api_field refresh_fields[] = {
    {"refresh_token", API_STR, true, 0, 128, 1, 0},
    {0},
};

static enum err auth_refresh(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    char *refresh_token = NULL;
    struct token_pair *tp;
    enum err res;

    res = api_json_input(cx, rq, refresh_fields, &refresh_token, NULL);
    if (!res)
        res = session_refresh(cx, refresh_token, &tp);
    if (res)
        return res;
    return reply_tokens(cx, rs, 200, tp);
}

static enum err auth_logout(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = session_logout(cx);
    if (res)
        return res;
    return resp_empty(rs, 204);
}

static enum err auth_logout_all(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = session_logout_all(cx);
    if (res)
        return res;
    return resp_empty(rs, 204);
}

static const struct api_field register_code_fields[] = {
    {"phone", API_STR, true, 0, 20, 5, 0},
    {0},
};

/* Step 1 of a citizen's registration: a code by text message. The answer is the same whether
 * or not the number has an account (api/domain/signup.h). */
static enum err auth_register_code(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    char *phone = NULL;
    int expires_in = 0;
    enum err res;

    res = api_json_input(cx, rq, register_code_fields, &phone, NULL);
    if (!res)
        res = signup_request_code(cx, phone, &expires_in);
    if (res)
        return res;
    resp_header(cx, rs, "cache-control", "no-store");
    return api_json_reply(cx, rs, 202, json_pack("{s:i}", "expires_in", expires_in));
}

static const struct api_field register_fields[] = {
    {"phone", API_STR, true, offsetof(struct signup_in, phone), 20, 5, 0},
    {"code", API_STR, true, offsetof(struct signup_in, code), 16, 1, 0},
    {"password", API_STR, true, offsetof(struct signup_in, password), 128, 1, 0},
    {"display_name", API_STR, true, offsetof(struct signup_in, display_name), 64, 1, 0},
    {"device_id", API_STR, true, offsetof(struct signup_in, device_id), 64, 1, 0},
    {"platform", API_STR, true, offsetof(struct signup_in, platform), 16, 1, 0},
    {0},
};

/* Step 2: phone + the code of step 1 + password. The code is checked before the password is
 * hashed; the account and its first session are one transaction. Not ROUTE_PASSWORD: a flood
 * of registrations without a valid code must not queue in front of staff log-ins on the
 * password workers. Only a valid code leads to a hash (codes are throttled per address and
 * globally), and auth_password_hash itself lets only AUTH_PW_CONCURRENT run at once. */
static enum err auth_register(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct signup_in in = {0};
    struct token_pair *tp;
    enum err res;

    res = api_json_input(cx, rq, register_fields, &in, NULL);
    if (!res)
        res = check_platform(cx, in.platform);
    if (!res)
        res = check_device(cx, in.device_id);
    if (res)
        return res;
    res = signup_register(cx, &in, &tp);
    if (res)
        return res;
    return reply_tokens(cx, rs, 201, tp);
}

static const struct api_field token_fields[] = {
    {"api_key", API_STR, true, 0, 128, 1, 0},
    {0},
};

/* Machine clients trade their API key for a short-lived access token. */
static enum err auth_token(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    char *api_key = NULL;
    struct token_pair *tp;
    enum err res;

    res = api_json_input(cx, rq, token_fields, &api_key, NULL);
    if (!res)
        res = session_api_key_token(cx, api_key, &tp);
    if (res)
        return res;
    return reply_tokens(cx, rs, 200, tp);
}

static const struct api_field wechat_fields[] = {
    {"code", API_STR, true, offsetof(struct wechat_login_in, code), 128, 1, 0},
    {"device_id", API_STR, true, offsetof(struct wechat_login_in, device_id), 64, 1, 0},
    {0},
};

/* Citizens in the WeChat mini-program: a wx.login() code for a token pair (api/domain/wechat.h).
 * The first login creates the citizen; WeChat's session_key never reaches this file. */
static enum err auth_wechat(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct wechat_login_in in = {0};
    struct token_pair *tp;
    enum err res;

    res = api_json_input(cx, rq, wechat_fields, &in, NULL);
    if (!res)
        res = check_device(cx, in.device_id);
    if (!res)
        res = wechat_login(cx, &in, &tp);
    if (res)
        return res;
    return reply_tokens(cx, rs, 200, tp);
}

/* clang-format off */
const struct route api_auth_routes[] = {
    /* method  path                        handler          roles        body       flags  timeout batch  scope (API keys) */
    {"POST", "/api/v1/auth/login",       auth_login,      ROLE_PUBLIC, 4096, ROUTE_PASSWORD, 0, NULL, NULL},
    {"POST", "/api/v1/auth/refresh",     auth_refresh,    ROLE_PUBLIC, 4096, 0, 0, NULL, NULL},
    {"POST", "/api/v1/auth/logout",      auth_logout,     ROLE_ANY,    0,    0, 0, NULL, "auth:write"},
    {"POST", "/api/v1/auth/logout-all",  auth_logout_all, ROLE_USER,   0,    0, 0, NULL, NULL},
    {"POST", "/api/v1/auth/register",    auth_register,   ROLE_PUBLIC, 4096, 0, 0, NULL, NULL},
    {"POST", "/api/v1/auth/register/code", auth_register_code, ROLE_PUBLIC, 1024, ROUTE_OUTSIDE, 0, NULL, NULL},
    {"POST", "/api/v1/auth/token",       auth_token,      ROLE_PUBLIC, 4096, 0, 0, NULL, NULL},
    {"POST", "/api/v1/auth/wechat",      auth_wechat,     ROLE_PUBLIC, 1024, ROUTE_OUTSIDE, 0, NULL, NULL},
    {0},
};
/* clang-format on */
