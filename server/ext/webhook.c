/* server/ext/webhook.c */
#include "webhook.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <sodium.h>
#include "server/core/log.h"

void ext_webhook_sign(const char *secret, int64_t t, const char *body, size_t len,
                      char out[EXT_WEBHOOK_SIG_HEX])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char ts[24];
    int n = snprintf(ts, sizeof ts, "%" PRId64 ".", t);

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (unsigned long long)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, (unsigned long long)len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, EXT_WEBHOOK_SIG_HEX, mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
}

/* The receiver's answer is not used; at most this much of it is read. */
static size_t discard(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p;
    (void)arg;
    return size * nmemb;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum err ext_webhook_post(struct rctx *cx, const char *url, const char *secret, int64_t webhook_id,
                          int64_t event_id, const char *body, size_t len, int64_t t, int timeout_ms,
                          struct ext_webhook_result *out)
{
    struct curl_slist *hs = NULL;
    char sig[EXT_WEBHOOK_SIG_HEX], line[160];
    int64_t start = mono_ms();
    CURL *h = curl_easy_init();
    CURLcode cc;
    enum err res = ERR_OK;

    memset(out, 0, sizeof *out);
    if (!h) {
        snprintf(out->error, sizeof out->error, "out of memory");
        return rctx_fail(cx, ERR_BUSY, "out of memory");
    }
    ext_webhook_sign(secret, t, body, len, sig);
    hs = curl_slist_append(hs, "Content-Type: application/json; charset=utf-8");
    snprintf(line, sizeof line, "X-Cityd-Signature: t=%" PRId64 ",v1=%s", t, sig);
    hs = curl_slist_append(hs, line);
    snprintf(line, sizeof line, "X-Cityd-Event-Id: %" PRId64, event_id);
    hs = curl_slist_append(hs, line);
    snprintf(line, sizeof line, "X-Cityd-Webhook-Id: %" PRId64, webhook_id);
    hs = curl_slist_append(hs, line);
    hs = curl_slist_append(hs, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout_ms < EXT_WEBHOOK_CONNECT_TIMEOUT_MS
                                ? timeout_ms
                                : EXT_WEBHOOK_CONNECT_TIMEOUT_MS));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(64 * 1024));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cityd-webhook");
    cc = curl_easy_perform(h);
    out->duration_ms = mono_ms() - start;
    if (cc != CURLE_OK) {
        snprintf(out->error, sizeof out->error, "%s", curl_easy_strerror(cc));
        log_info(cx, "webhook %" PRId64 ": event %" PRId64 " not delivered: %s", webhook_id,
                 event_id, out->error);
        res = rctx_fail(cx, ERR_BUSY, "webhook receiver not reached");
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    if (out->status < 200 || out->status > 299) {
        snprintf(out->error, sizeof out->error, "answered HTTP %ld", out->status);
        log_info(cx, "webhook %" PRId64 ": event %" PRId64 " refused: HTTP %ld", webhook_id,
                 event_id, out->status);
        res = rctx_fail(cx, ERR_BUSY, "webhook receiver refused");
    }
out:
    sodium_memzero(sig, sizeof sig);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
    return res;
}
