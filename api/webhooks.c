/* api/webhooks.c: /api/v1/admin/api-keys/{id}/webhook — the webhook of a machine client's API
 * key (admins only): set, read, delete, the delivery log, replay from a position. Handlers
 * only; the rules and the deliverer are api/domain/webhook.h. The secret is write-only: no
 * answer ever carries it. */
#include "api.h"

#include <stddef.h>
#include <string.h>
#include "api/domain/webhook.h"
#include "server/core/roles.h"

static json_t *hook_json(const struct webhook_rec *w)
{
    json_t *j = json_object();

    json_object_set_new(j, "id", json_integer(w->id));
    json_object_set_new(j, "api_key_id", json_integer(w->api_key_id));
    json_object_set_new(j, "url", json_string(w->url));
    json_object_set_new(j, "enabled", json_boolean(w->enabled));
    json_object_set_new(j, "position", json_integer(w->position));
    json_object_set_new(j, "head", json_integer(w->head));
    json_object_set_new(j, "generation", json_integer(w->generation));
    json_object_set_new(j, "failed_attempts", json_integer(w->attempts));
    json_object_set_new(j, "next_attempt_at", api_json_time(w->next_attempt_ms));
    json_object_set_new(j, "last_success_at", api_json_time(w->last_success_ms));
    json_object_set_new(j, "last_error", api_json_str(w->last_error));
    json_object_set_new(j, "created_at", api_json_time(w->created_ms));
    json_object_set_new(j, "updated_at", api_json_time(w->updated_ms));
    return j;
}

static enum err hook_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct webhook_rec w;
    enum err res = webhook_get(cx, req_param_i64(rq, "id"), &w);

    if (res)
        return res;
    return api_json_reply(cx, rs, 200, hook_json(&w));
}

static const struct api_field put_fields[] = {
    {"url", API_STR, true, offsetof(struct webhook_put_in, url), 0, 1, 0}, /* webhook_put's */
    {"secret", API_STR, true, offsetof(struct webhook_put_in, secret), WEBHOOK_SECRET_MAX, 1, 0},
    {"enabled", API_BOOL, false, offsetof(struct webhook_put_in, enabled), 0, 0, 0},
    {"position", API_I64, false, offsetof(struct webhook_put_in, position), 0, 0, INT64_MAX},
    {0},
};

/* PUT replaces the whole webhook: the same body twice leaves the same state (idempotent by
 * nature, so no Idempotency-Key). */
static enum err hook_put(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct webhook_put_in in = {.enabled = true, .position = -1};
    struct webhook_rec w;
    bool created = false;
    enum err res = api_json_input(cx, rq, put_fields, &in, NULL);

    if (res)
        return res;
    res = webhook_put(cx, req_param_i64(rq, "id"), &in, &w, &created);
    explicit_bzero(in.secret, strlen(in.secret));
    if (res)
        return res;
    return api_json_reply(cx, rs, created ? 201 : 200, hook_json(&w));
}

static enum err hook_delete(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = webhook_delete(cx, req_param_i64(rq, "id"));

    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* One field, decoded straight into the position (offset 0). */
static const struct api_field replay_fields[] = {
    {"position", API_I64, true, 0, 0, 0, INT64_MAX},
    {0},
};

static enum err hook_replay(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    int64_t position = 0;
    struct webhook_rec w;
    enum err res = api_json_input(cx, rq, replay_fields, &position, NULL);

    if (!res)
        res = webhook_replay(cx, req_param_i64(rq, "id"), position, &w);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, hook_json(&w));
}

static enum err hook_log(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    int64_t before = 0, limit = 50;
    struct webhook_delivery *v;
    size_t n;
    json_t *items;
    enum err res = api_query_i64(cx, rq, "before", 1, INT64_MAX, &before);

    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, WEBHOOK_LOG_MAX, &limit);
    if (!res)
        res = webhook_log(cx, req_param_i64(rq, "id"), before, (int)limit, &v, &n);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(v[i].id));
        json_object_set_new(o, "event_id", json_integer(v[i].event_id));
        json_object_set_new(o, "attempt", json_integer(v[i].attempt));
        json_object_set_new(o, "ok", json_boolean(v[i].ok));
        json_object_set_new(o, "http_status", api_json_id(v[i].http_status));
        json_object_set_new(o, "error", api_json_str(v[i].error));
        json_object_set_new(o, "duration_ms", json_integer(v[i].duration_ms));
        json_object_set_new(o, "created_at", api_json_time(v[i].created_ms));
        json_array_append_new(items, o);
    }
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:o,s:o}", "items", items, "next_before",
                                    n == (size_t)limit ? json_integer(v[n - 1].id) : json_null()));
}

/* clang-format off */
const struct route api_webhooks_routes[] = {
    /* method    path                                              handler      roles       body  flags  timeout batch */
    {"GET",    "/api/v1/admin/api-keys/{id}/webhook",            hook_get,    ROLE_ADMIN, 0,    0, 0, NULL, NULL},
    {"PUT",    "/api/v1/admin/api-keys/{id}/webhook",            hook_put,    ROLE_ADMIN, 4096, 0, 0, NULL, NULL},
    {"DELETE", "/api/v1/admin/api-keys/{id}/webhook",            hook_delete, ROLE_ADMIN, 0,    0, 0, NULL, NULL},
    {"POST",   "/api/v1/admin/api-keys/{id}/webhook/replay",     hook_replay, ROLE_ADMIN, 1024, 0, 0, NULL, NULL},
    {"GET",    "/api/v1/admin/api-keys/{id}/webhook/deliveries", hook_log,    ROLE_ADMIN, 0,    0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
