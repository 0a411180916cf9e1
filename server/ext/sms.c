/* server/ext/sms.c */
#include "sms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include "server/core/log.h"

static struct {
    char url[256];
    char token[256];
} conf;

void ext_sms_configure(const char *url, const char *token)
{
    snprintf(conf.url, sizeof conf.url, "%s", url ? url : "");
    snprintf(conf.token, sizeof conf.token, "%s", token ? token : "");
}

bool ext_sms_enabled(void)
{
    return conf.url[0] != '\0';
}

static size_t discard(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p;
    (void)arg;
    return size * nmemb;
}

enum err ext_sms_send(struct rctx *cx, const char *phone, const char *text)
{
    struct curl_slist *hs = NULL;
    char *body = NULL, *auth = NULL;
    json_t *j = NULL;
    CURL *h = NULL;
    long status = 0;
    CURLcode cc;
    enum err res = ERR_OK;

    if (!ext_sms_enabled())
        return rctx_fail(cx, ERR_BUSY, "text messages are not configured on this server (sms.url)");
    j = json_pack("{s:s,s:s}", "phone", phone, "text", text);
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    h = curl_easy_init();
    if (!body || !h) {
        res = rctx_fail(cx, ERR_INTERNAL, "out of memory");
        goto out;
    }
    hs = curl_slist_append(hs, "Content-Type: application/json; charset=utf-8");
    if (conf.token[0]) {
        auth = rctx_printf(cx, "Authorization: Bearer %s", conf.token);
        hs = curl_slist_append(hs, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, conf.url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)EXT_SMS_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)EXT_SMS_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cityd");
    cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        log_warn(cx, "sms: gateway not reached: %s", curl_easy_strerror(cc));
        res = rctx_fail(cx, ERR_BUSY, "the text message could not be sent; retry later");
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        log_warn(cx, "sms: gateway answered HTTP %ld", status);
        res = rctx_fail(cx, ERR_BUSY, "the text message could not be sent; retry later");
    }
out:
    if (auth)
        explicit_bzero(auth, strlen(auth));
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
    free(body);
    json_decref(j);
    return res;
}
