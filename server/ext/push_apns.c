/* server/ext/push_apns.c: Apple Push Notification service, HTTP/2 provider API with token
 * authentication.
 *
 * POST {push.apns.base_url}/3/device/<token> with authorization: bearer <provider JWT>,
 * apns-topic, apns-push-type, apns-priority, apns-expiration, apns-collapse-id and apns-id.
 * The provider token (ES256 over {"alg","kid"}.{"iss","iat"} with the team's .p8 key) is
 * made once and reused for push.apns.token_refresh_s (20..55 minutes): Apple refuses tokens
 * older than an hour (403 ExpiredProviderToken) and newer ones made more often than every 20
 * minutes (429 TooManyProviderTokenUpdates). The key is parsed once at start-up and signed
 * with OpenSSL directly (one signature per refresh; notes/libraries.md: libjwt re-parses the
 * PEM on every call). Answers: 200 sent (apns-id kept), 410 Unregistered and 400
 * BadDeviceToken / DeviceTokenNotForTopic drop the token, 429 rate limited, 5xx and 403 on
 * the provider token retried, other 4xx (payload, topic) rejected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "push_int.h"
#include "server/core/log.h"

#define MODULE "push_apns"
#define APNS_MIN_REFRESH_S 1200 /* Apple: not more often than every 20 minutes */

static struct {
    EVP_PKEY *key;
    char jwt[640];
    int64_t iat_s;
    bool stale; /* Apple said ExpiredProviderToken: make a new one when allowed */
} apns;

static bool apns_configured(void)
{
    return apns.key && push__conf.cfg->push_apns_topic[0];
}

int push__apns_configure(const struct cfg *cfg, char *err, size_t errlen)
{
    FILE *f;

    if (apns.key) {
        EVP_PKEY_free(apns.key);
        apns.key = NULL;
    }
    apns.jwt[0] = '\0';
    apns.iat_s = 0;
    if (!cfg->push_apns_key_file[0])
        return 0;
    if (!cfg->push_apns_key_id[0] || !cfg->push_apns_team_id[0] || !cfg->push_apns_topic[0]) {
        snprintf(err, errlen,
                 "push.apns.key_file is set: push.apns.key_id, team_id and topic are needed too");
        return -1;
    }
    f = fopen(cfg->push_apns_key_file, "r");
    if (!f) {
        snprintf(err, errlen, "push.apns.key_file: cannot read %s", cfg->push_apns_key_file);
        return -1;
    }
    apns.key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!apns.key || EVP_PKEY_get_base_id(apns.key) != EVP_PKEY_EC) {
        snprintf(err, errlen, "push.apns.key_file: not an EC (P-256) private key in PEM");
        EVP_PKEY_free(apns.key);
        apns.key = NULL;
        return -1;
    }
    return 0;
}

static void b64url(const unsigned char *in, size_t n, char *out, size_t outlen)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;

    for (size_t i = 0; i < n && o + 5 < outlen; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = tab[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = tab[v & 63];
    }
    out[o] = '\0';
}

/* ES256: the JOSE signature is r || s, 32 bytes each, not OpenSSL's DER. */
static int make_jwt(int64_t now_s)
{
    const struct cfg *cfg = push__conf.cfg;
    char head[128], claims[128], h64[200], c64[200], sig64[100], input[420];
    unsigned char der[128], raw[64];
    size_t derlen = sizeof der;
    const unsigned char *dp = der;
    ECDSA_SIG *sig = NULL;
    EVP_MD_CTX *md = NULL;
    int rc = -1;

    snprintf(head, sizeof head, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", cfg->push_apns_key_id);
    snprintf(claims, sizeof claims, "{\"iss\":\"%s\",\"iat\":%lld}", cfg->push_apns_team_id,
             (long long)now_s);
    b64url((const unsigned char *)head, strlen(head), h64, sizeof h64);
    b64url((const unsigned char *)claims, strlen(claims), c64, sizeof c64);
    snprintf(input, sizeof input, "%s.%s", h64, c64);
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, apns.key) != 1 ||
        EVP_DigestSign(md, der, &derlen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    sig = d2i_ECDSA_SIG(NULL, &dp, (long)derlen);
    if (!sig)
        goto out;
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32)
        goto out;
    b64url(raw, 64, sig64, sizeof sig64);
    snprintf(apns.jwt, sizeof apns.jwt, "%s.%s", input, sig64);
    apns.iat_s = now_s;
    apns.stale = false;
    rc = 0;
out:
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    return rc;
}

static const char *provider_token(void)
{
    int64_t now = push__now_ms() / 1000, age = now - apns.iat_s;

    if (!apns.jwt[0] || age >= push__conf.cfg->push_apns_token_refresh_s ||
        (apns.stale && age >= APNS_MIN_REFRESH_S)) {
        if (make_jwt(now) != 0) {
            log_error(NULL, "apns: the provider token could not be signed");
            return NULL;
        }
        log_info(NULL, "apns: new provider token");
    }
    return apns.jwt;
}

static int apns_prepare(struct ext_push *p, struct push__call *c)
{
    const struct cfg *cfg = push__conf.cfg;
    const struct ext_push_msg *m = c->m;
    const char *jwt = provider_token();
    char *tok, line[700];
    json_t *alert, *aps, *j;
    const char *cls = m->urgent ? "urgent" : m->im ? "im" : "work";

    if (!jwt) {
        push__result(c, EXT_PUSH_RETRY, "provider token");
        return -1;
    }
    if (strlen(m->token) > 200 || strlen(m->msg_id) != 32) {
        push__result(c, EXT_PUSH_INVALID_TOKEN, "token too long");
        return -1;
    }
    tok = push__escape(m->token);
    snprintf(line, sizeof line, "%s/3/device/%s", cfg->push_apns_base_url, tok ? tok : "");
    free(tok);
    curl_easy_setopt(c->h, CURLOPT_URL, line);
    curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (strncmp(cfg->push_apns_base_url, "http://", 7) == 0) /* a plain stand-in: h2c */
        curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    snprintf(line, sizeof line, "authorization: bearer %s", jwt);
    c->hs = curl_slist_append(c->hs, line);
    snprintf(line, sizeof line, "apns-topic: %s", cfg->push_apns_topic);
    c->hs = curl_slist_append(c->hs, line);
    c->hs = curl_slist_append(c->hs, "apns-push-type: alert");
    /* 10 wakes the phone now; IM that is not urgent may wait for a power-friendly moment. */
    c->hs =
        curl_slist_append(c->hs, m->im && !m->urgent ? "apns-priority: 5" : "apns-priority: 10");
    snprintf(line, sizeof line, "apns-expiration: %lld", (long long)m->expires_s);
    c->hs = curl_slist_append(c->hs, line);
    snprintf(line, sizeof line, "apns-collapse-id: cityd.%s", cls);
    c->hs = curl_slist_append(c->hs, line);
    snprintf(line, sizeof line, "apns-id: %.8s-%.4s-%.4s-%.4s-%.12s", m->msg_id, m->msg_id + 8,
             m->msg_id + 12, m->msg_id + 16, m->msg_id + 20);
    c->hs = curl_slist_append(c->hs, line);
    c->hs = curl_slist_append(c->hs, "content-type: application/json");
    alert = json_pack("{s:s}", "title", m->title);
    aps = json_pack("{s:o,s:s,s:s,s:s}", "alert", alert, "sound", "default", "thread-id", cls,
                    "interruption-level", m->urgent ? "time-sensitive" : "active");
    j = json_pack("{s:o,s:I,s:s,s:I}", "aps", aps, "seq", (json_int_t)m->seq, "kind", m->kind,
                  "case_id", (json_int_t)m->ref_id);
    if (j && m->count > 1)
        json_object_set_new(j, "count", json_integer(m->count));
    c->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!c->body) {
        push__result(c, EXT_PUSH_RETRY, "out of memory");
        return -1;
    }
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
    return 0;
}

static void apns_finish(struct ext_push *p, struct push__call *c, long status)
{
    json_t *j = c->reply.p ? json_loads(c->reply.p, 0, NULL) : NULL;
    const char *reason = json_string_value(json_object_get(j, "reason"));

    if (!reason)
        reason = "";
    if (status == 200) {
        push__result(c, EXT_PUSH_SENT, "200");
        snprintf(c->m->vendor_msg_id, sizeof c->m->vendor_msg_id, "%s",
                 c->apns_id[0] ? c->apns_id : c->m->msg_id);
    } else if (status == 410 ||
               (status == 400 && (strcmp(reason, "BadDeviceToken") == 0 ||
                                  strcmp(reason, "DeviceTokenNotForTopic") == 0))) {
        push__result(c, EXT_PUSH_INVALID_TOKEN, "%ld %s", status, reason);
    } else if (status == 403 && strcmp(reason, "ExpiredProviderToken") == 0) {
        apns.stale = true;
        push__result(c, EXT_PUSH_RETRY, "%ld %s", status, reason);
    } else if (status == 403) {
        log_error(NULL, "apns: %s: check push.apns.key_file, key_id, team_id and topic", reason);
        push__result(c, EXT_PUSH_RETRY, "%ld %s", status, reason);
    } else if (status == 429) {
        push__result(c, EXT_PUSH_RATE_LIMITED, "%ld %s", status, reason);
    } else if (status >= 500) {
        push__result(c, EXT_PUSH_RETRY, "%ld %s", status, reason);
    } else {
        push__result(c, EXT_PUSH_REJECTED, "%ld %s", status, reason);
    }
    json_decref(j);
}

const struct push__provider push__apns = {apns_configured, apns_prepare, apns_finish};
