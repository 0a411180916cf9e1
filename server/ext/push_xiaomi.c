/* server/ext/push_xiaomi.c: Xiaomi MiPush server API v3, by regId.
 *
 * POST {push.xiaomi.base_url}/v3/message/regid, Authorization: key=<AppSecret>, form fields
 * registration_id, restricted_package_name, title, description, payload (the ids as JSON),
 * pass_through=0 (a notification), notify_type=-1, time_to_live (ms), notify_id, and
 * extra.channel_id (the 私信 channel registered with Xiaomi: unlimited, unlike 公信) and
 * extra.notify_foreground=1. When push.receipt_url is set, extra.callback points at cityd's
 * receipt endpoint (extra.callback.type 17: delivered 1 + invalid target 16, and
 * extra.callback.param our message id): Xiaomi reports dead regIds only there, since its
 * feedback API was removed, and cityd drops them on receipt (push.h).
 * Answers (JSON {"result","code","data":{"id"},"reason"}): result "ok" sent; HTTP 429 / 503
 * and codes 10034 (应用当日发送消息数量过多, the day's quota), 10027 (API calls too
 * frequent) and 200002 (from an earlier secondary source; not in Xiaomi's published list)
 * rate limited; 5xx and -1 retried; code 21301 (authentication failed: an operator must fix
 * the secret) retried; other errors refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "push_int.h"
#include "server/core/log.h"

static bool xm_configured(void)
{
    const struct cfg *c = push__conf.cfg;
    return c->push_xiaomi_app_secret[0] && c->push_xiaomi_package[0];
}

static int xm_prepare(struct ext_push *p, struct push__call *c)
{
    const struct cfg *cfg = push__conf.cfg;
    const struct ext_push_msg *m = c->m;
    char line[800], num[32];
    char *form, *data = push__ids_json(m);
    int64_t ttl_ms = m->expires_s * 1000 - push__now_ms();

    snprintf(line, sizeof line, "%s/v3/message/regid", cfg->push_xiaomi_base_url);
    curl_easy_setopt(c->h, CURLOPT_URL, line);
    snprintf(line, sizeof line, "Authorization: key=%s", cfg->push_xiaomi_app_secret);
    c->hs = curl_slist_append(c->hs, line);
    explicit_bzero(line, sizeof line);
    c->hs = curl_slist_append(c->hs, "Content-Type: application/x-www-form-urlencoded");
    form = push__form_add(NULL, "registration_id", m->token);
    form = push__form_add(form, "restricted_package_name", cfg->push_xiaomi_package);
    form = push__form_add(form, "title", m->title);
    form = push__form_add(form, "description", m->title);
    form = push__form_add(form, "payload", data ? data : "{}");
    form = push__form_add(form, "pass_through", "0");
    form = push__form_add(form, "notify_type", "-1");
    snprintf(num, sizeof num, "%lld", (long long)(ttl_ms > 1000 ? ttl_ms : 1000));
    form = push__form_add(form, "time_to_live", num);
    /* Same notify_id: a newer notification of the class replaces the older on the phone. */
    form = push__form_add(form, "notify_id", m->urgent ? "3" : m->im ? "2" : "1");
    if (cfg->push_xiaomi_channel_id[0])
        form = push__form_add(form, "extra.channel_id", cfg->push_xiaomi_channel_id);
    form = push__form_add(form, "extra.notify_foreground", "1");
    if (cfg->push_receipt_url[0] && cfg->push_receipt_key[0]) {
        snprintf(line, sizeof line, "%s/api/v1/push/receipts/xiaomi?key=%s", cfg->push_receipt_url,
                 cfg->push_receipt_key);
        form = push__form_add(form, "extra.callback", line);
        form = push__form_add(form, "extra.callback.param", m->msg_id);
        form = push__form_add(form, "extra.callback.type", "17");
    }
    free(data);
    if (!form) {
        push__result(c, EXT_PUSH_RETRY, "out of memory");
        return -1;
    }
    c->body = form;
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body + 1);
    return 0;
}

static void xm_finish(struct ext_push *p, struct push__call *c, long status)
{
    json_t *j = c->reply.p ? json_loads(c->reply.p, 0, NULL) : NULL;
    const char *result = json_string_value(json_object_get(j, "result"));
    json_int_t code = json_integer_value(json_object_get(j, "code"));
    const char *reason = json_string_value(json_object_get(j, "reason"));
    const char *id = json_string_value(json_object_get(json_object_get(j, "data"), "id"));

    if (!reason)
        reason = "";
    if (status == 200 && result && strcmp(result, "ok") == 0) {
        push__result(c, EXT_PUSH_SENT, "ok");
        snprintf(c->m->vendor_msg_id, sizeof c->m->vendor_msg_id, "%s", id ? id : "");
    } else if (status == 429 || status == 503 || code == 10034 || code == 10027 || code == 200002) {
        push__result(c, EXT_PUSH_RATE_LIMITED, "HTTP %ld %lld %s", status, (long long)code, reason);
    } else if (status >= 500 || code == -1 || code == 21301) {
        if (code == 21301)
            log_error(NULL, "xiaomi: authentication failed: check push.xiaomi.app_secret");
        push__result(c, EXT_PUSH_RETRY, "HTTP %ld %lld %s", status, (long long)code, reason);
    } else {
        push__result(c, EXT_PUSH_REJECTED, "HTTP %ld %lld %s", status, (long long)code, reason);
    }
    json_decref(j);
}

const struct push__provider push__xiaomi = {xm_configured, xm_prepare, xm_finish};
