/* server/ext/push_huawei.c: Huawei Push Kit (HMS Core), server API v1.
 *
 * Access token: OAuth 2.0 client credentials at {push.huawei.auth_url} with the app id as
 * client_id and the app secret; valid an hour, reused until 5 minutes before it ends, fetched
 * again after 80200003 (token expired).
 * Send: POST {push.huawei.base_url}/v1/{app_id}/messages:send, Authorization: Bearer …, body
 * {"validate_only":false,"message":{"data":<ids>,"android":{"category":"WORK"|"IM",
 * "urgency":"HIGH"|"NORMAL","ttl":"<s>s","bi_tag":<msg id>,"notification":{title, body,
 * click_action {type 3: open the app}, importance}},"token":[<token>]}}. The category is the
 * self-classification (服务与通讯) that keeps work and IM messages out of the marketing quota
 * and night throttling; bi_tag comes back in delivery receipts.
 * Answers (JSON {"code","msg","requestId"}): 80000000 sent; 80300007 (all tokens invalid) and
 * 80100000 (partly invalid: with one token, it is) drop the token; 80200003 / 80200001 token
 * trouble, retried; HTTP 503 is Huawei's flow control (rate limited); 81000001 and 5xx
 * retried; other codes (80100003 bad message, 80300008 too large, …) refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "push_int.h"
#include "server/core/log.h"

static struct push__token token;

static bool hw_configured(void)
{
    const struct cfg *c = push__conf.cfg;
    return c->push_huawei_app_id[0] && c->push_huawei_client_secret[0];
}

static int fetch(struct push__token *t, char *why, size_t whylen)
{
    const struct cfg *c = push__conf.cfg;
    return push__oauth_fetch(t, c->push_huawei_auth_url, c->push_huawei_app_id,
                             c->push_huawei_client_secret, why, whylen);
}

static int hw_prepare(struct ext_push *p, struct push__call *c)
{
    const struct cfg *cfg = push__conf.cfg;
    const struct ext_push_msg *m = c->m;
    char why[128] = "", line[1200];
    const char *tok = push__token_get(&token, 300000, fetch, why, sizeof why);
    char *data;
    json_t *j;
    int64_t ttl = m->expires_s - push__now_ms() / 1000;
    char ttls[32];

    if (!tok) {
        push__result(c, EXT_PUSH_RETRY, "oauth: %s", why);
        return -1;
    }
    snprintf(line, sizeof line, "%s/v1/%s/messages:send", cfg->push_huawei_base_url,
             cfg->push_huawei_app_id);
    curl_easy_setopt(c->h, CURLOPT_URL, line);
    snprintf(line, sizeof line, "Authorization: Bearer %s", tok);
    c->hs = curl_slist_append(c->hs, line);
    c->hs = curl_slist_append(c->hs, "Content-Type: application/json; charset=UTF-8");
    snprintf(ttls, sizeof ttls, "%llds", (long long)(ttl > 0 ? ttl : 1));
    data = push__ids_json(m);
    j = json_pack("{s:b,s:{s:s,s:{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:{s:i},s:s}},s:[s]}}",
                  "validate_only", 0, "message", "data", data ? data : "{}", "android", "category",
                  m->im ? "IM" : "WORK", "urgency", m->urgent || !m->im ? "HIGH" : "NORMAL", "ttl",
                  ttls, "bi_tag", m->msg_id, "notification", "title", m->title, "body", m->title,
                  "click_action", "type", 3, "importance", "NORMAL", "token", m->token);
    free(data);
    c->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!c->body) {
        push__result(c, EXT_PUSH_RETRY, "out of memory");
        return -1;
    }
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
    return 0;
}

static void hw_finish(struct ext_push *p, struct push__call *c, long status)
{
    json_t *j = c->reply.p ? json_loads(c->reply.p, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(j, "code"));
    const char *msg = json_string_value(json_object_get(j, "msg"));
    const char *rid = json_string_value(json_object_get(j, "requestId"));

    if (!code)
        code = "";
    if (!msg)
        msg = "";
    if (strcmp(code, "80000000") == 0 && status == 200) {
        push__result(c, EXT_PUSH_SENT, "80000000");
        snprintf(c->m->vendor_msg_id, sizeof c->m->vendor_msg_id, "%s", rid ? rid : "");
    } else if (strcmp(code, "80300007") == 0 || strcmp(code, "80100000") == 0) {
        push__result(c, EXT_PUSH_INVALID_TOKEN, "%s %s", code, msg);
    } else if (strcmp(code, "80200003") == 0 || strcmp(code, "80200001") == 0) {
        token.value[0] = '\0';
        push__result(c, EXT_PUSH_RETRY, "%s %s", code, msg);
    } else if (status == 503 || status == 429) {
        push__result(c, EXT_PUSH_RATE_LIMITED, "HTTP %ld %s %s", status, code, msg);
    } else if (status >= 500 || strcmp(code, "81000001") == 0) {
        push__result(c, EXT_PUSH_RETRY, "HTTP %ld %s %s", status, code, msg);
    } else {
        push__result(c, EXT_PUSH_REJECTED, "HTTP %ld %s %s", status, code, msg);
    }
    json_decref(j);
}

const struct push__provider push__huawei = {hw_configured, hw_prepare, hw_finish};
