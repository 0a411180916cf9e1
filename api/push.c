/* api/push.c: offline push — the caller's device registration (/api/v1/me/devices/push), quiet
 * hours (/api/v1/me/push/quiet-hours), the dead letters admins list
 * (/api/v1/admin/push/dead-letters) and the vendors' receipt callbacks
 * (/api/v1/push/receipts/{xiaomi,huawei,honor,oppo,vivo}). Routing and sending live in the domain
 * (push.h). */
#include "api.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "api/domain/citytime.h"
#include "api/domain/push.h"
#include "api/domain/refdata.h"
#include "server/core/roles.h"

static const struct api_field device_fields[] = {
    {"platform", API_STR, true, offsetof(struct push_device_in, platform), 16, 1, 0},
    {"vendor", API_STR, true, offsetof(struct push_device_in, vendor), 16, 1, 0},
    {"token", API_STR, false, offsetof(struct push_device_in, token), PUSH_TOKEN_MAX, 0, 0},
    {"app_version", API_STR, true, offsetof(struct push_device_in, app_version),
     PUSH_APP_VERSION_MAX, 1, 0},
    {"locale", API_STR, true, offsetof(struct push_device_in, locale), PUSH_LOCALE_MAX, 1, 0},
    {0},
};

static enum err push_register(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct push_device_in in = {0};
    struct push_device_rec d;
    enum err res;

    res = api_json_input(cx, rq, device_fields, &in, NULL);
    if (!res)
        res = push_device_register(cx, &in, &d);
    if (res)
        return res;
    /* The token is not echoed: it is the device's address, the client has it. */
    return api_json_reply(cx, rs, d.created ? 201 : 200,
                          json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", (json_int_t)d.id,
                                    "device_id", d.device_id, "platform", d.platform, "vendor",
                                    d.vendor, "app_version", d.app_version, "locale", d.locale,
                                    "created_at", d.created_at, "updated_at", d.updated_at));
}

static enum err push_unregister(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = push_device_unregister(cx);
    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* The window as "HH:MM" texts with the zone they are in: the city's UTC offset
 * (case_settings.utc_offset_min). */
static enum err quiet_reply(struct rctx *cx, struct resp *rs, const struct push_quiet *q)
{
    char a[24], b[24], zone[8];
    int64_t off_ms;
    enum err res = refdata_utc_offset(cx, &off_ms);

    if (res)
        return res;
    citytime_zone(off_ms, zone);
    if (q->start_min < 0)
        return api_json_reply(cx, rs, 200,
                              json_pack("{s:n,s:n,s:s}", "start", "end", "zone", zone));
    snprintf(a, sizeof a, "%02d:%02d", q->start_min / 60, q->start_min % 60);
    snprintf(b, sizeof b, "%02d:%02d", q->end_min / 60, q->end_min % 60);
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:s,s:s,s:s}", "start", a, "end", b, "zone", zone));
}

static enum err quiet_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct push_quiet q;
    enum err res = push_quiet_get(cx, &q);
    if (res)
        return res;
    return quiet_reply(cx, rs, &q);
}

/* Times of the city's local day, 00:00 to 23:59, straight into the domain's minutes. */
static const struct api_field quiet_fields[] = {
    {"start", API_HHMM, true, offsetof(struct push_quiet, start_min), 0, 0, 1439},
    {"end", API_HHMM, true, offsetof(struct push_quiet, end_min), 0, 0, 1439},
    {0},
};

static enum err quiet_put(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct push_quiet q = {-1, -1};
    enum err res;

    res = api_json_input(cx, rq, quiet_fields, &q, NULL);
    if (res)
        return res;
    res = push_quiet_set(cx, &q);
    if (res)
        return res;
    return quiet_reply(cx, rs, &q);
}

static enum err quiet_delete(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct push_quiet q = {-1, -1};
    enum err res = push_quiet_set(cx, &q);
    if (res)
        return res;
    return resp_empty(rs, 204);
}

static enum err dead_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct push_dead_page pg;
    int64_t limit = 50, before = 0;
    json_t *items, *j;
    enum err res;

    res = api_query_cursor(cx, rq, "p1", &before);
    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, PUSH_DEAD_PAGE_MAX, &limit);
    if (!res)
        res = push_dead_list(cx, before, (int)limit, &pg);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < pg.n; i++) {
        const struct push_dead *d = &pg.v[i];
        json_array_append_new(
            items, json_pack("{s:I,s:I,s:s,s:s,s:I,s:s,s:i,s:s,s:o,s:o}", "id", (json_int_t)d->id,
                             "user_id", (json_int_t)d->user_id, "device_id", d->device_id, "vendor",
                             d->vendor, "seq", (json_int_t)d->seq, "kind", d->kind, "attempts",
                             d->attempts, "reason", d->reason, "created_at",
                             api_json_time(d->created_ms), "dead_at", api_json_time(d->dead_ms)));
    }
    j = json_pack("{s:o}", "items", items);
    json_object_set_new(j, "next_cursor",
                        pg.next ? json_string(api_cursor(cx, "p1", pg.next)) : json_null());
    return api_json_reply(cx, rs, 200, j);
}

/* ---- receipts: vendors call these (the URL carries push.receipt_key) ---------------------- */

static enum err receipt_auth(struct rctx *cx, const struct req *rq)
{
    if (!push_receipt_key_ok(req_query(cx, rq, "key")))
        return rctx_fail(cx, ERR_NOTFOUND, "no such receipt endpoint");
    return ERR_OK;
}

/* Percent-decoding of one form value (+ is a space); pool memory. */
static char *form_value(struct rctx *cx, const char *body, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *p = body, *end = body + len;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            char *out = rctx_alloc(cx, (size_t)(stop - p) + 1), *o = out;
            for (const char *q = p + nl + 1; q < stop; q++) {
                if (*q == '+') {
                    *o++ = ' ';
                } else if (*q == '%' && stop - q > 2 && isxdigit((unsigned char)q[1]) &&
                           isxdigit((unsigned char)q[2])) {
                    char hex[3] = {q[1], q[2], 0};
                    *o++ = (char)strtol(hex, NULL, 16);
                    q += 2;
                } else {
                    *o++ = *q;
                }
            }
            *o = '\0';
            return out;
        }
        p = stop + 1;
    }
    return NULL;
}

/* The regIds of a comma-separated list ("regId1, regId2"), at most 1000, each reported. */
static enum err receipt_targets(struct rctx *cx, const char *vendor, const char *msg_id,
                                const char *targets, enum push_receipt_kind kind)
{
    enum err res = ERR_OK;

    for (int n = 0; targets && *targets && n < 1000 && !res; n++) {
        size_t k;
        while (*targets == ' ')
            targets++;
        k = strcspn(targets, ", ");
        if (k)
            res = push_receipt(cx, vendor, msg_id, rctx_strndup(cx, targets, k), kind);
        targets += k;
        while (*targets == ',' || *targets == ' ')
            targets++;
    }
    return res;
}

/* Xiaomi's receipt callback: a form with data = {"<msg id>":{"type":1|2|16,"targets":
 * "<regId>,…","param":…},…}. type 1 delivered, 2 clicked, 16 invalid target. */
static enum err receipt_xiaomi(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    const char *key, *data;
    json_t *j, *v;
    enum err res = receipt_auth(cx, rq);

    if (res)
        return res;
    data = form_value(cx, rq->body ? rq->body : "", rq->body_len, "data");
    j = data ? api_json_own(cx, json_loads(data, 0, NULL)) : NULL;
    if (!json_is_object(j))
        return rctx_fail(cx, ERR_INVALID, "data: the receipt JSON object");
    json_object_foreach(j, key, v)
    {
        json_int_t type = json_integer_value(json_object_get(v, "type"));
        const char *targets = json_string_value(json_object_get(v, "targets"));
        enum push_receipt_kind kind = type == 16  ? PUSH_RECEIPT_INVALID
                                      : type == 2 ? PUSH_RECEIPT_CLICKED
                                                  : PUSH_RECEIPT_DELIVERED;
        if (type != 1 && type != 2 && type != 16)
            continue;
        if (kind != PUSH_RECEIPT_INVALID)
            res = push_receipt(cx, "xiaomi", key, NULL, kind);
        else
            res = receipt_targets(cx, "xiaomi", key, targets, kind);
        if (res)
            return res;
    }
    return api_json_reply(cx, rs, 200, json_pack("{s:i}", "code", 0));
}

/* The receipt body of Huawei and of Honor (configured in each vendor's console; Honor's push
 * service descends from Huawei's): {"statuses":[{"requestId","token","status","biTag",…}]};
 * status 0 delivered, 2 (app not installed) and 5 (token unknown) a dead token; a status that
 * is not a number says nothing. */
static enum err receipt_statuses(struct rctx *cx, const struct req *rq, const char *vendor)
{
    json_t *j, *st, *v;
    size_t i;
    enum err res = receipt_auth(cx, rq);

    if (res)
        return res;
    j = api_json_own(cx, json_loadb(rq->body ? rq->body : "", rq->body_len, 0, NULL));
    st = json_object_get(j, "statuses");
    if (!json_is_array(st))
        return rctx_fail(cx, ERR_INVALID, "statuses: an array");
    json_array_foreach(st, i, v)
    {
        json_int_t s = json_integer_value(json_object_get(v, "status"));
        const char *rid = json_string_value(json_object_get(v, "requestId"));
        const char *tok = json_string_value(json_object_get(v, "token"));
        if (!json_is_integer(json_object_get(v, "status")))
            continue;
        if (s == 0)
            res = push_receipt(cx, vendor, rid, tok, PUSH_RECEIPT_DELIVERED);
        else if (s == 2 || s == 5)
            res = push_receipt(cx, vendor, rid, tok, PUSH_RECEIPT_INVALID);
        if (res)
            return res;
    }
    return ERR_OK;
}

static enum err receipt_huawei(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = receipt_statuses(cx, rq, "huawei");

    return res ? res
               : api_json_reply(cx, rs, 200, json_pack("{s:s,s:s}", "code", "0", "msg", "ok"));
}

static enum err receipt_honor(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = receipt_statuses(cx, rq, "honor");

    return res ? res
               : api_json_reply(cx, rs, 200,
                                json_pack("{s:i,s:s}", "code", 200, "message", "success"));
}

/* OPPO's receipt callback (the message's call_back_url): a JSON array of
 * {"messageId","appId","taskId","registrationIds","eventTime","param","eventType"};
 * eventType push_arrive is a delivery, regid_invalid a dead regId. */
static enum err receipt_oppo(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    json_t *j, *v;
    size_t i;
    enum err res = receipt_auth(cx, rq);

    if (res)
        return res;
    j = api_json_own(cx, json_loadb(rq->body ? rq->body : "", rq->body_len, 0, NULL));
    if (!json_is_array(j))
        return rctx_fail(cx, ERR_INVALID, "the receipt: a JSON array");
    json_array_foreach(j, i, v)
    {
        const char *ev = json_string_value(json_object_get(v, "eventType"));
        const char *mid = json_string_value(json_object_get(v, "messageId"));
        const char *regs = json_string_value(json_object_get(v, "registrationIds"));
        if (!ev)
            continue;
        if (strcmp(ev, "push_arrive") == 0)
            res = push_receipt(cx, "oppo", mid, NULL, PUSH_RECEIPT_DELIVERED);
        else if (strcmp(ev, "regid_invalid") == 0)
            res = receipt_targets(cx, "oppo", mid, regs, PUSH_RECEIPT_INVALID);
        if (res)
            return res;
    }
    return api_json_reply(cx, rs, 200, json_pack("{s:i}", "code", 0));
}

/* vivo's receipt callback (the message's extra.callback): {"<taskId>":{"param","targets"},
 * …}, one entry per message that reached its device: a delivery. */
static enum err receipt_vivo(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    const char *key;
    json_t *j, *v;
    enum err res = receipt_auth(cx, rq);

    if (res)
        return res;
    j = api_json_own(cx, json_loadb(rq->body ? rq->body : "", rq->body_len, 0, NULL));
    if (!json_is_object(j))
        return rctx_fail(cx, ERR_INVALID, "the receipt: a JSON object of task ids");
    json_object_foreach(j, key, v)
    {
        if (!json_is_object(v))
            continue;
        res = push_receipt(cx, "vivo", key, NULL, PUSH_RECEIPT_DELIVERED);
        if (res)
            return res;
    }
    return api_json_reply(cx, rs, 200, json_pack("{s:i}", "result", 0));
}

/* clang-format off */
const struct route api_push_routes[] = {
    /* method    path                               handler          roles       body  flags  timeout batch */
    {"POST",   "/api/v1/me/devices/push",         push_register,   ROLE_USER,  2048, 0, 0, NULL, NULL},
    {"DELETE", "/api/v1/me/devices/push",         push_unregister, ROLE_USER,  0,    0, 0, NULL, NULL},
    {"GET",    "/api/v1/me/push/quiet-hours",     quiet_get,       ROLE_USER,  0,    0, 0, NULL, NULL},
    {"PUT",    "/api/v1/me/push/quiet-hours",     quiet_put,       ROLE_USER,  256,  0, 0, NULL, NULL},
    {"DELETE", "/api/v1/me/push/quiet-hours",     quiet_delete,    ROLE_USER,  0,    0, 0, NULL, NULL},
    {"GET",    "/api/v1/admin/push/dead-letters", dead_list,       ROLE_ADMIN, 0,    0, 0, NULL, NULL},
    {"POST",   "/api/v1/push/receipts/xiaomi",    receipt_xiaomi,  ROLE_PUBLIC, 65536, ROUTE_RAW_BODY, 0, NULL, NULL},
    {"POST",   "/api/v1/push/receipts/huawei",    receipt_huawei,  ROLE_PUBLIC, 65536, 0, 0, NULL, NULL},
    {"POST",   "/api/v1/push/receipts/honor",     receipt_honor,   ROLE_PUBLIC, 65536, 0, 0, NULL, NULL},
    {"POST",   "/api/v1/push/receipts/oppo",      receipt_oppo,    ROLE_PUBLIC, 65536, 0, 0, NULL, NULL},
    {"POST",   "/api/v1/push/receipts/vivo",      receipt_vivo,    ROLE_PUBLIC, 65536, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
