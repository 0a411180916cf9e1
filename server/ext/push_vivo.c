/* server/ext/push_vivo.c: vivo push server API.
 *
 * Auth: POST {push.vivo.base_url}/message/auth, JSON {appId, appKey, timestamp (ms),
 * sign = md5(appId + appKey + timestamp + appSecret) (hex)} → authToken, valid a day; reused
 * for an hour (vivo advises refreshing every 1–2 h), fetched again after 10000.
 * Send: POST {base}/message/send with header authToken, JSON {regId, notifyType 4, title,
 * content, timeToLive (s), skipType 1 (open the app), networkType -1, classification 1 (系统
 * 消息: not limited to 07:00–23:00 and 5 a day like 运营消息) with category "TODO" (work) or
 * "IM", requestId (our message id: vivo drops a repeat, so a retry cannot show twice),
 * clientCustomMap (the ids), and with push.receipt_url extra {callback, callback.param}
 * (receipts: vivo POSTs {"<taskId>":{"param","targets"}} there, push.h)}.
 * Answers (JSON {"result","desc","taskId"}): 0 sent; 10000 auth token, 5xx retried; 10070
 * (over the daily quota) and HTTP 429 rate limited; 10302 (regId invalid) dropped; other
 * results refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "push_int.h"

static struct push__token token;

static bool vv_configured(void)
{
    const struct cfg *c = push__conf.cfg;
    return c->push_vivo_app_id[0] && c->push_vivo_app_key[0] && c->push_vivo_app_secret[0];
}

static int fetch(struct push__token *t, char *why, size_t whylen)
{
    const struct cfg *c = push__conf.cfg;
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: application/json");
    char ts[32], sign[33], url[300], *plain, *body = NULL, *reply = NULL;
    const char *tok;
    json_t *j = NULL, *req;
    long status = 0;
    int rc = -1;
    size_t n;

    snprintf(ts, sizeof ts, "%lld", (long long)push__now_ms());
    n = strlen(c->push_vivo_app_id) + strlen(c->push_vivo_app_key) + strlen(ts) +
        strlen(c->push_vivo_app_secret) + 1;
    plain = malloc(n);
    if (plain) {
        snprintf(plain, n, "%s%s%s%s", c->push_vivo_app_id, c->push_vivo_app_key, ts,
                 c->push_vivo_app_secret);
        push__md5_hex(plain, sign);
        explicit_bzero(plain, n);
        free(plain);
        req = json_pack("{s:s,s:s,s:I,s:s}", "appId", c->push_vivo_app_id, "appKey",
                        c->push_vivo_app_key, "timestamp", (json_int_t)strtoll(ts, NULL, 10),
                        "sign", sign);
        body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
    }
    snprintf(url, sizeof url, "%s/message/auth", c->push_vivo_base_url);
    if (body)
        status = push__post_sync(url, hs, body, &reply);
    j = reply ? json_loads(reply, 0, NULL) : NULL;
    tok = json_string_value(json_object_get(j, "authToken"));
    if (status == 200 && json_integer_value(json_object_get(j, "result")) == 0 && tok &&
        strlen(tok) < sizeof t->value) {
        snprintf(t->value, sizeof t->value, "%s", tok);
        t->expires_ms = push__now_ms() + 3600LL * 1000;
        rc = 0;
    } else {
        snprintf(why, whylen, "auth: HTTP %ld result %lld", status,
                 (long long)json_integer_value(json_object_get(j, "result")));
    }
    free(body);
    free(reply);
    json_decref(j);
    curl_slist_free_all(hs);
    return rc;
}

static int vv_prepare(struct ext_push *p, struct push__call *c)
{
    const struct cfg *cfg = push__conf.cfg;
    const struct ext_push_msg *m = c->m;
    char why[128] = "", line[1200], seq[32], ref[32];
    const char *tok = push__token_get(&token, 60000, fetch, why, sizeof why);
    int64_t ttl = m->expires_s - push__now_ms() / 1000;
    json_t *j;

    if (!tok) {
        push__result(c, EXT_PUSH_RETRY, "%s", why);
        return -1;
    }
    snprintf(line, sizeof line, "%s/message/send", cfg->push_vivo_base_url);
    curl_easy_setopt(c->h, CURLOPT_URL, line);
    snprintf(line, sizeof line, "authToken: %s", tok);
    c->hs = curl_slist_append(c->hs, line);
    c->hs = curl_slist_append(c->hs, "Content-Type: application/json");
    snprintf(seq, sizeof seq, "%lld", (long long)m->seq);
    snprintf(ref, sizeof ref, "%lld", (long long)m->ref_id);
    /* vivo keeps a message at most a day. */
    if (ttl > 86400)
        ttl = 86400;
    j = json_pack("{s:s,s:i,s:s,s:s,s:I,s:i,s:i,s:i,s:s,s:s,s:{s:s,s:s,s:s}}", "regId", m->token,
                  "notifyType", 4, "title", m->title, "content", m->title, "timeToLive",
                  (json_int_t)(ttl > 60 ? ttl : 60), "skipType", 1, "networkType", -1,
                  "classification", 1, "category", m->im ? "IM" : "TODO", "requestId", m->msg_id,
                  "clientCustomMap", "seq", seq, "kind", m->kind, "case_id", ref);
    /* Receipts (vivo's 高级特性 extra): a callback URL of at most 128 characters, and our
     * message id as callback.param (at most 64). A longer URL asks for none. */
    if (j && cfg->push_receipt_url[0] && cfg->push_receipt_key[0]) {
        int k = snprintf(line, sizeof line, "%s/api/v1/push/receipts/vivo?key=%s",
                         cfg->push_receipt_url, cfg->push_receipt_key);
        if (k > 0 && k <= 128)
            json_object_set_new(
                j, "extra", json_pack("{s:s,s:s}", "callback", line, "callback.param", m->msg_id));
    }
    c->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!c->body) {
        push__result(c, EXT_PUSH_RETRY, "out of memory");
        return -1;
    }
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
    return 0;
}

static void vv_finish(struct ext_push *p, struct push__call *c, long status)
{
    json_t *j = c->reply.p ? json_loads(c->reply.p, 0, NULL) : NULL;
    json_t *jr = json_object_get(j, "result");
    json_int_t r = json_integer_value(jr);
    const char *desc = json_string_value(json_object_get(j, "desc"));
    const char *task = json_string_value(json_object_get(j, "taskId"));

    if (!desc)
        desc = "";
    if (status == 200 && json_is_integer(jr) && r == 0) {
        push__result(c, EXT_PUSH_SENT, "0");
        snprintf(c->m->vendor_msg_id, sizeof c->m->vendor_msg_id, "%s", task ? task : "");
    } else if (r == 10302) {
        push__result(c, EXT_PUSH_INVALID_TOKEN, "%lld %s", (long long)r, desc);
    } else if (r == 10000) {
        token.value[0] = '\0';
        push__result(c, EXT_PUSH_RETRY, "%lld %s", (long long)r, desc);
    } else if (r == 10070 || status == 429) {
        push__result(c, EXT_PUSH_RATE_LIMITED, "HTTP %ld %lld %s", status, (long long)r, desc);
    } else if (status >= 500) {
        push__result(c, EXT_PUSH_RETRY, "HTTP %ld %lld %s", status, (long long)r, desc);
    } else {
        push__result(c, EXT_PUSH_REJECTED, "HTTP %ld %lld %s", status, (long long)r, desc);
    }
    json_decref(j);
}

const struct push__provider push__vivo = {vv_configured, vv_prepare, vv_finish};
