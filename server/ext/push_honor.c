/* server/ext/push_honor.c: Honor Push (荣耀推送) server API.
 *
 * Access token: OAuth 2.0 client credentials at {push.honor.auth_url} with the client id and
 * secret of the app; reused until 5 minutes before it ends, fetched again after 80200003.
 * Send: POST {push.honor.base_url}/api/v1/{app_id}/sendMessage with Authorization: Bearer …
 * and a `timestamp` header (ms), body {"data":<ids>,"android":{"ttl":"<s>s","biTag":<msg id>,
 * "targetUserType":0,"notification":{title, body, clickAction {type 3}, importance}},
 * "token":[<token>]}. Honor classifies by the message's importance (NORMAL = 服务与通讯).
 * Answers (JSON {"code","message","data":{"requestId"}}): code 200 sent; 80300007 invalid
 * token (dropped); 80200003 token expired (retried); HTTP 429 / 503 rate limited; 5xx and
 * 81000001 retried; other codes refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "push_int.h"

static struct push__token token;

static bool ho_configured(void)
{
    const struct cfg *c = push__conf.cfg;
    return c->push_honor_app_id[0] && c->push_honor_client_id[0] && c->push_honor_client_secret[0];
}

static int fetch(struct push__token *t, char *why, size_t whylen)
{
    const struct cfg *c = push__conf.cfg;
    return push__oauth_fetch(t, c->push_honor_auth_url, c->push_honor_client_id,
                             c->push_honor_client_secret, why, whylen);
}

static int ho_prepare(struct ext_push *p, struct push__call *c)
{
    const struct cfg *cfg = push__conf.cfg;
    const struct ext_push_msg *m = c->m;
    char why[128] = "", line[1200], ttls[32];
    const char *tok = push__token_get(&token, 300000, fetch, why, sizeof why);
    int64_t ttl = m->expires_s - push__now_ms() / 1000;
    char *data;
    json_t *j;

    if (!tok) {
        push__result(c, EXT_PUSH_RETRY, "oauth: %s", why);
        return -1;
    }
    snprintf(line, sizeof line, "%s/api/v1/%s/sendMessage", cfg->push_honor_base_url,
             cfg->push_honor_app_id);
    curl_easy_setopt(c->h, CURLOPT_URL, line);
    snprintf(line, sizeof line, "Authorization: Bearer %s", tok);
    c->hs = curl_slist_append(c->hs, line);
    snprintf(line, sizeof line, "timestamp: %lld", (long long)push__now_ms());
    c->hs = curl_slist_append(c->hs, line);
    c->hs = curl_slist_append(c->hs, "Content-Type: application/json; charset=UTF-8");
    snprintf(ttls, sizeof ttls, "%llds", (long long)(ttl > 0 ? ttl : 1));
    data = push__ids_json(m);
    j = json_pack("{s:s,s:{s:s,s:s,s:i,s:{s:s,s:s,s:{s:i},s:s}},s:[s]}", "data", data ? data : "{}",
                  "android", "ttl", ttls, "biTag", m->msg_id, "targetUserType", 0, "notification",
                  "title", m->title, "body", m->title, "clickAction", "type", 3, "importance",
                  "NORMAL", "token", m->token);
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

static void ho_finish(struct ext_push *p, struct push__call *c, long status)
{
    json_t *j = c->reply.p ? json_loads(c->reply.p, 0, NULL) : NULL;
    json_int_t code = json_integer_value(json_object_get(j, "code"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    const char *rid = json_string_value(json_object_get(json_object_get(j, "data"), "requestId"));

    if (!msg)
        msg = "";
    if (status == 200 && code == 200) {
        push__result(c, EXT_PUSH_SENT, "200");
        snprintf(c->m->vendor_msg_id, sizeof c->m->vendor_msg_id, "%s", rid ? rid : "");
    } else if (code == 80300007) {
        push__result(c, EXT_PUSH_INVALID_TOKEN, "%lld %s", (long long)code, msg);
    } else if (code == 80200003 || code == 80200001) {
        token.value[0] = '\0';
        push__result(c, EXT_PUSH_RETRY, "%lld %s", (long long)code, msg);
    } else if (status == 429 || status == 503) {
        push__result(c, EXT_PUSH_RATE_LIMITED, "HTTP %ld %lld %s", status, (long long)code, msg);
    } else if (status >= 500 || code == 81000001) {
        push__result(c, EXT_PUSH_RETRY, "HTTP %ld %lld %s", status, (long long)code, msg);
    } else {
        push__result(c, EXT_PUSH_REJECTED, "HTTP %ld %lld %s", status, (long long)code, msg);
    }
    json_decref(j);
}

const struct push__provider push__honor = {ho_configured, ho_prepare, ho_finish};
