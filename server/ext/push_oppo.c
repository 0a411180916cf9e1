/* server/ext/push_oppo.c: OPPO PUSH server API (国内: api.push.oppomobile.com).
 *
 * Auth: POST {push.oppo.base_url}/server/v1/auth, form app_key, timestamp (ms) and
 * sign = sha256(app_key + timestamp + master_secret) (hex) → data.auth_token, valid 24 h;
 * reused for 23 h, fetched again after code 11 (invalid auth token).
 * Send: POST {base}/server/v1/message/notification/unicast with header auth_token and form
 * field message = {"target_type":2,"target_value":<regId>,"notification":{title, content,
 * click_action_type 0 (open the app), action_parameters <ids>, off_line_ttl (s),
 * channel_id (push.oppo.channel_id: the 通讯与服务 channel, not capped like 内容与营销),
 * and with push.receipt_url call_back_url / call_back_parameter (receipts: OPPO POSTs
 * [{messageId, registrationIds, eventType, param, …}] there, push.h)}}.
 * Answers (JSON {"code","message","data":{"messageId"}}): 0 sent; 11 auth token, -1 / -2
 * busy, 5xx retried; 33 (daily quota) and HTTP 429 rate limited; 10000 (invalid regId)
 * dropped; other codes refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "push_int.h"

static struct push__token token;

static bool op_configured(void)
{
    const struct cfg *c = push__conf.cfg;
    return c->push_oppo_app_key[0] && c->push_oppo_master_secret[0];
}

static int fetch(struct push__token *t, char *why, size_t whylen)
{
    const struct cfg *c = push__conf.cfg;
    struct curl_slist *hs =
        curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    char ts[32], sign[65], url[300], *plain, *form, *reply = NULL;
    const char *tok;
    json_t *j = NULL;
    long status;
    int rc = -1;
    size_t n;

    snprintf(ts, sizeof ts, "%lld", (long long)push__now_ms());
    n = strlen(c->push_oppo_app_key) + strlen(ts) + strlen(c->push_oppo_master_secret) + 1;
    plain = malloc(n);
    if (!plain) {
        snprintf(why, whylen, "out of memory");
        curl_slist_free_all(hs);
        return -1;
    }
    snprintf(plain, n, "%s%s%s", c->push_oppo_app_key, ts, c->push_oppo_master_secret);
    push__sha256_hex(plain, sign);
    explicit_bzero(plain, n);
    free(plain);
    form = push__form_add(NULL, "app_key", c->push_oppo_app_key);
    form = push__form_add(form, "timestamp", ts);
    form = push__form_add(form, "sign", sign);
    snprintf(url, sizeof url, "%s/server/v1/auth", c->push_oppo_base_url);
    status = form ? push__post_sync(url, hs, form + 1, &reply) : 0;
    j = reply ? json_loads(reply, 0, NULL) : NULL;
    tok = json_string_value(json_object_get(json_object_get(j, "data"), "auth_token"));
    if (status == 200 && json_integer_value(json_object_get(j, "code")) == 0 && tok &&
        strlen(tok) < sizeof t->value) {
        snprintf(t->value, sizeof t->value, "%s", tok);
        t->expires_ms = push__now_ms() + 24LL * 3600 * 1000;
        rc = 0;
    } else {
        snprintf(why, whylen, "auth: HTTP %ld code %lld", status,
                 (long long)json_integer_value(json_object_get(j, "code")));
    }
    free(form);
    free(reply);
    json_decref(j);
    curl_slist_free_all(hs);
    return rc;
}

static int op_prepare(struct ext_push *p, struct push__call *c)
{
    const struct cfg *cfg = push__conf.cfg;
    const struct ext_push_msg *m = c->m;
    char why[128] = "", line[1200];
    const char *tok = push__token_get(&token, 3600000, fetch, why, sizeof why);
    int64_t ttl = m->expires_s - push__now_ms() / 1000;
    char *data, *msg, *form;
    json_t *j;

    if (!tok) {
        push__result(c, EXT_PUSH_RETRY, "%s", why);
        return -1;
    }
    snprintf(line, sizeof line, "%s/server/v1/message/notification/unicast",
             cfg->push_oppo_base_url);
    curl_easy_setopt(c->h, CURLOPT_URL, line);
    snprintf(line, sizeof line, "auth_token: %s", tok);
    c->hs = curl_slist_append(c->hs, line);
    c->hs = curl_slist_append(c->hs, "Content-Type: application/x-www-form-urlencoded");
    data = push__ids_json(m);
    j = json_pack("{s:i,s:s,s:{s:s,s:s,s:i,s:s,s:I,s:s}}", "target_type", 2, "target_value",
                  m->token, "notification", "title", m->title, "content", m->title,
                  "click_action_type", 0, "action_parameters", data ? data : "{}", "off_line_ttl",
                  (json_int_t)(ttl > 0 ? ttl : 1), "channel_id", cfg->push_oppo_channel_id);
    free(data);
    /* Receipts (OPPO 消息回执, registration-id pushes only): call_back_url of at most 200
     * characters and call_back_parameter, our message id. A longer URL asks for none. */
    if (j && cfg->push_receipt_url[0] && cfg->push_receipt_key[0]) {
        int k = snprintf(line, sizeof line, "%s/api/v1/push/receipts/oppo?key=%s",
                         cfg->push_receipt_url, cfg->push_receipt_key);
        json_t *n = json_object_get(j, "notification");
        if (k > 0 && k <= 200) {
            json_object_set_new(n, "call_back_url", json_string(line));
            json_object_set_new(n, "call_back_parameter", json_string(m->msg_id));
        }
    }
    msg = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    form = msg ? push__form_add(NULL, "message", msg) : NULL;
    free(msg);
    if (!form) {
        push__result(c, EXT_PUSH_RETRY, "out of memory");
        return -1;
    }
    c->body = form;
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body + 1);
    return 0;
}

static void op_finish(struct ext_push *p, struct push__call *c, long status)
{
    json_t *j = c->reply.p ? json_loads(c->reply.p, 0, NULL) : NULL;
    json_t *jc = json_object_get(j, "code");
    json_int_t code = json_integer_value(jc);
    const char *msg = json_string_value(json_object_get(j, "message"));
    const char *id = json_string_value(json_object_get(json_object_get(j, "data"), "messageId"));

    if (!msg)
        msg = "";
    if (status == 200 && json_is_integer(jc) && code == 0) {
        push__result(c, EXT_PUSH_SENT, "0");
        snprintf(c->m->vendor_msg_id, sizeof c->m->vendor_msg_id, "%s", id ? id : "");
    } else if (code == 10000) {
        push__result(c, EXT_PUSH_INVALID_TOKEN, "%lld %s", (long long)code, msg);
    } else if (code == 11) {
        token.value[0] = '\0';
        push__result(c, EXT_PUSH_RETRY, "%lld %s", (long long)code, msg);
    } else if (code == 33 || status == 429) {
        push__result(c, EXT_PUSH_RATE_LIMITED, "HTTP %ld %lld %s", status, (long long)code, msg);
    } else if (status >= 500 || code == -1 || code == -2) {
        push__result(c, EXT_PUSH_RETRY, "HTTP %ld %lld %s", status, (long long)code, msg);
    } else {
        push__result(c, EXT_PUSH_REJECTED, "HTTP %ld %lld %s", status, (long long)code, msg);
    }
    json_decref(j);
}

const struct push__provider push__oppo = {op_configured, op_prepare, op_finish};
