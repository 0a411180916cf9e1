/* server/ext/wechat.c */
#include "wechat.h"

#include <stdio.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include "server/core/log.h"

static struct {
    char base_url[256];
    char appid[64];
    char secret[128];
} conf;

void ext_wechat_configure(const char *base_url, const char *appid, const char *secret)
{
    size_t n;

    snprintf(conf.base_url, sizeof conf.base_url, "%s", base_url ? base_url : "");
    /* "https://host/" and "https://host" name the same service. */
    n = strlen(conf.base_url);
    while (n && conf.base_url[n - 1] == '/')
        conf.base_url[--n] = '\0';
    snprintf(conf.appid, sizeof conf.appid, "%s", appid ? appid : "");
    snprintf(conf.secret, sizeof conf.secret, "%s", secret ? secret : "");
}

bool ext_wechat_enabled(void)
{
    return conf.base_url[0] && conf.appid[0] && conf.secret[0];
}

/* The reply is collected into a fixed buffer; anything longer is not code2Session. */
struct reply {
    char buf[EXT_WECHAT_MAX_REPLY];
    size_t len;
    bool toobig;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    struct reply *r = arg;
    size_t n = size * nmemb;

    if (n > sizeof r->buf - r->len) {
        r->toobig = true;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    return n;
}

/* wx.login codes are short base64-like tokens; anything else is refused before it can shape the
 * outgoing URL. */
static bool code_ok(const char *code)
{
    size_t n = strlen(code);

    if (n == 0 || n > EXT_WECHAT_CODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = code[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '+' || c == '/' || c == '='))
            return false;
    }
    return true;
}

static bool id_ok(const char *s, size_t n)
{
    if (n == 0 || n > EXT_WECHAT_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    return true;
}

static enum err map_errcode(struct rctx *cx, json_int_t code)
{
    switch (code) {
    case -1:
        return rctx_fail(cx, ERR_BUSY, "WeChat is busy (errcode -1); retry");
    case 40029:
    case 40163:
        return rctx_fail(cx, ERR_UNAUTH,
                         "WeChat rejected the login code (errcode %lld): call wx.login again",
                         (long long)code);
    case 45011:
        return rctx_fail(cx, ERR_RATELIMIT, "too many WeChat logins (errcode 45011); retry later");
    case 40226:
        return rctx_fail(cx, ERR_FORBIDDEN, "WeChat blocked this login (errcode 40226)");
    default:
        /* Wrong appid or secret, or a new errcode: nothing the client can fix. */
        log_error(cx, "wechat: code2Session errcode %lld", (long long)code);
        return rctx_fail(cx, ERR_INTERNAL, "WeChat login failed (errcode %lld)", (long long)code);
    }
}

static enum err parse_reply(struct rctx *cx, const struct reply *r, struct ext_wechat_identity *out)
{
    json_error_t je;
    json_t *j = json_loadb(r->buf, r->len, 0, &je);
    json_t *ec, *openid, *unionid;
    enum err res = ERR_OK;

    if (!j || !json_is_object(j)) {
        log_warn(cx, "wechat: code2Session reply is not a JSON object");
        res = rctx_fail(cx, ERR_BUSY, "WeChat sent an unreadable reply; retry");
        goto out;
    }
    ec = json_object_get(j, "errcode");
    if (ec && !json_is_integer(ec)) {
        res = rctx_fail(cx, ERR_BUSY, "WeChat sent an unreadable reply; retry");
        goto out;
    }
    if (ec && json_integer_value(ec) != 0) {
        res = map_errcode(cx, json_integer_value(ec));
        goto out;
    }
    openid = json_object_get(j, "openid");
    unionid = json_object_get(j, "unionid");
    if (!json_is_string(openid) || !id_ok(json_string_value(openid), json_string_length(openid)) ||
        (unionid && !json_is_null(unionid) &&
         (!json_is_string(unionid) ||
          !id_ok(json_string_value(unionid), json_string_length(unionid))))) {
        log_warn(cx, "wechat: code2Session reply without a usable openid");
        res = rctx_fail(cx, ERR_BUSY, "WeChat sent an unreadable reply; retry");
        goto out;
    }
    /* session_key is deliberately not read: see wechat.h. */
    memset(out, 0, sizeof *out);
    snprintf(out->openid, sizeof out->openid, "%s", json_string_value(openid));
    if (json_is_string(unionid))
        snprintf(out->unionid, sizeof out->unionid, "%s", json_string_value(unionid));
out:
    json_decref(j);
    return res;
}

enum err ext_wechat_code2session(struct rctx *cx, const char *code, struct ext_wechat_identity *out)
{
    struct reply *r = NULL;
    CURL *h = NULL;
    char *appid = NULL, *secret = NULL, *jscode = NULL, *url = NULL;
    long status = 0;
    CURLcode cc;
    enum err res;

    if (!code_ok(code))
        return rctx_fail(cx, ERR_INVALID, "code: the code from wx.login()");
    if (!ext_wechat_enabled())
        return rctx_fail(cx, ERR_BUSY, "WeChat login is not configured on this server");
    h = curl_easy_init();
    if (!h) {
        res = rctx_fail(cx, ERR_INTERNAL, "out of memory");
        goto out;
    }
    appid = curl_easy_escape(h, conf.appid, 0);
    secret = curl_easy_escape(h, conf.secret, 0);
    jscode = curl_easy_escape(h, code, 0);
    if (!appid || !secret || !jscode) {
        res = rctx_fail(cx, ERR_INTERNAL, "out of memory");
        goto out;
    }
    /* The URL carries the secret: it lives in request memory only and is never logged. */
    url = rctx_printf(cx,
                      "%s/sns/jscode2session?appid=%s&secret=%s&js_code=%s"
                      "&grant_type=authorization_code",
                      conf.base_url, appid, secret, jscode);
    r = rctx_zalloc(cx, sizeof *r);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    /* Worker threads: no SIGALRM-based DNS timeouts. */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)EXT_WECHAT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)EXT_WECHAT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cityd");
    cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        /* curl_easy_strerror names the failure class only, never the URL. */
        log_warn(cx, "wechat: code2Session not reached: %s%s", curl_easy_strerror(cc),
                 r->toobig ? " (reply too long)" : "");
        res = rctx_fail(cx, ERR_BUSY, "WeChat cannot be reached; retry");
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        log_warn(cx, "wechat: code2Session answered HTTP %ld", status);
        res = rctx_fail(cx, ERR_BUSY, "WeChat is unavailable (HTTP %ld); retry", status);
        goto out;
    }
    res = parse_reply(cx, r, out);
out:
    /* The reply held session_key and the URL the secret: neither stays in the pool. */
    if (r)
        explicit_bzero(r, sizeof *r);
    if (url)
        explicit_bzero(url, strlen(url));
    curl_free(appid);
    curl_free(secret);
    curl_free(jscode);
    curl_easy_cleanup(h);
    return res;
}
