/* server/ext/push_wechat.c: WeChat mini-program subscription messages (订阅消息).
 *
 * Access token: GET {wechat.base_url}/cgi-bin/token?grant_type=client_credential&appid=…&
 * secret=… (the mini-program's own id and secret, as for log-in) → access_token, valid 2 h;
 * reused until 5 minutes before it ends, fetched again after 40001 / 42001.
 * Send: POST {wechat.base_url}/cgi-bin/message/subscribe/send?access_token=… with
 * {"touser":<openid>,"template_id":push.wechat.template_id,"page":push.wechat.page + "?seq=…",
 * "miniprogram_state":"formal","lang":"zh_CN","data":{"thing1":{"value":<title>},
 * "character_string2":{"value":<seq>}}}: the template needs those two fields (a title and the
 * item number); nothing else goes to WeChat.
 * Answers (JSON {"errcode","errmsg","msgid"}): 0 sent; 43101 (the user has no subscription
 * left: each wx.requestSubscribeMessage consent allows one message) and 40003 (bad openid)
 * end the registration — the mini-program registers again after the user consents again;
 * 40001 / 42001 access token, -1 busy, 5xx retried; 45009 (daily API limit) rate limited;
 * others (47003 bad template data, 40037 bad template id) refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "push_int.h"

static struct push__token token;

static bool wx_configured(void)
{
    const struct cfg *c = push__conf.cfg;
    return c->wechat_appid[0] && c->wechat_secret[0] && c->push_wechat_template_id[0];
}

static int fetch(struct push__token *t, char *why, size_t whylen)
{
    const struct cfg *c = push__conf.cfg;
    struct push__call call = {0};
    char *id = push__escape(c->wechat_appid), *sec = push__escape(c->wechat_secret), *url;
    size_t n = strlen(c->wechat_base_url) + (id ? strlen(id) : 0) + (sec ? strlen(sec) : 0) + 80;
    long status = 0;
    json_t *j = NULL;
    const char *tok;
    int rc = -1;
    CURL *h;

    url = malloc(n);
    h = push__easy(&call);
    if (url && id && sec && h) {
        snprintf(url, n, "%s/cgi-bin/token?grant_type=client_credential&appid=%s&secret=%s",
                 c->wechat_base_url, id, sec);
        curl_easy_setopt(h, CURLOPT_URL, url);
        if (curl_easy_perform(h) == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        explicit_bzero(url, n);
    }
    j = call.reply.p && !call.reply.over ? json_loads(call.reply.p, 0, NULL) : NULL;
    tok = json_string_value(json_object_get(j, "access_token"));
    if (status == 200 && tok && strlen(tok) < sizeof t->value) {
        json_int_t exp = json_integer_value(json_object_get(j, "expires_in"));
        snprintf(t->value, sizeof t->value, "%s", tok);
        t->expires_ms = push__now_ms() + (exp > 0 ? exp : 7200) * 1000;
        rc = 0;
    } else {
        snprintf(why, whylen, "token: HTTP %ld errcode %lld", status,
                 (long long)json_integer_value(json_object_get(j, "errcode")));
    }
    if (sec)
        explicit_bzero(sec, strlen(sec));
    free(id);
    free(sec);
    free(url);
    free(call.reply.p);
    curl_easy_cleanup(h);
    json_decref(j);
    return rc;
}

static int wx_prepare(struct ext_push *p, struct push__call *c)
{
    const struct cfg *cfg = push__conf.cfg;
    const struct ext_push_msg *m = c->m;
    char why[128] = "", line[1400], seq[32], page[400];
    const char *tok = push__token_get(&token, 300000, fetch, why, sizeof why);
    json_t *j;

    if (!tok) {
        push__result(c, EXT_PUSH_RETRY, "%s", why);
        return -1;
    }
    snprintf(line, sizeof line, "%s/cgi-bin/message/subscribe/send?access_token=%s",
             cfg->wechat_base_url, tok);
    curl_easy_setopt(c->h, CURLOPT_URL, line);
    c->hs = curl_slist_append(c->hs, "Content-Type: application/json");
    snprintf(seq, sizeof seq, "%lld", (long long)m->seq);
    snprintf(page, sizeof page, "%s?seq=%lld",
             cfg->push_wechat_page[0] ? cfg->push_wechat_page : "pages/index/index",
             (long long)m->seq);
    j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:{s:s},s:{s:s}}}", "touser", m->token, "template_id",
                  cfg->push_wechat_template_id, "page", page, "miniprogram_state", "formal", "lang",
                  "zh_CN", "data", "thing1", "value", m->title, "character_string2", "value", seq);
    c->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!c->body) {
        push__result(c, EXT_PUSH_RETRY, "out of memory");
        return -1;
    }
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
    return 0;
}

static void wx_finish(struct ext_push *p, struct push__call *c, long status)
{
    json_t *j = c->reply.p ? json_loads(c->reply.p, 0, NULL) : NULL;
    json_t *je = json_object_get(j, "errcode");
    json_int_t e = json_integer_value(je);
    const char *msg = json_string_value(json_object_get(j, "errmsg"));
    json_t *id = json_object_get(j, "msgid");

    if (!msg)
        msg = "";
    if (status == 200 && json_is_integer(je) && e == 0) {
        push__result(c, EXT_PUSH_SENT, "0");
        snprintf(c->m->vendor_msg_id, sizeof c->m->vendor_msg_id, "%lld",
                 (long long)json_integer_value(id));
    } else if (e == 43101 || e == 40003) {
        push__result(c, EXT_PUSH_INVALID_TOKEN, "%lld %s", (long long)e, msg);
    } else if (e == 40001 || e == 42001) {
        token.value[0] = '\0';
        push__result(c, EXT_PUSH_RETRY, "%lld %s", (long long)e, msg);
    } else if (e == 45009 || status == 429) {
        push__result(c, EXT_PUSH_RATE_LIMITED, "HTTP %ld %lld %s", status, (long long)e, msg);
    } else if (status >= 500 || e == -1) {
        push__result(c, EXT_PUSH_RETRY, "HTTP %ld %lld %s", status, (long long)e, msg);
    } else {
        push__result(c, EXT_PUSH_REJECTED, "HTTP %ld %lld %s", status, (long long)e, msg);
    }
    json_decref(j);
}

const struct push__provider push__wechat = {wx_configured, wx_prepare, wx_finish};
