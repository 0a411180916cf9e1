/* api/apikeys.c: /api/v1/admin/api-keys — machine clients' API keys (admins only).
 * The key itself appears once, in the 201 answer of POST; lists never carry it. */
#include "api.h"

#include <stddef.h>
#include <string.h>
#include "api/domain/apikey.h"
#include "server/core/roles.h"

/* "a,b" → ["a","b"]; "" → []. */
static json_t *scopes_json(const char *s)
{
    json_t *a = json_array();

    while (s && *s) {
        const char *c = strchr(s, ',');
        size_t n = c ? (size_t)(c - s) : strlen(s);
        json_array_append_new(a, json_stringn(s, n));
        s = c ? c + 1 : s + n;
    }
    return a;
}

static enum err apikeys_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct apikey_rec *v;
    size_t n;
    json_t *items;
    enum err res = apikey_list(cx, &v, &n);

    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            items,
            json_pack("{s:I,s:s,s:s,s:I,s:s,s:o,s:o,s:s,s:o,s:o}", "id", (json_int_t)v[i].id,
                      "name", v[i].name, "prefix", v[i].prefix, "user_id", (json_int_t)v[i].user_id,
                      "user_name", v[i].user_name, "scopes", scopes_json(v[i].scopes), "created_by",
                      v[i].created_by ? json_integer(v[i].created_by) : json_null(), "created_at",
                      v[i].created_at, "last_used_at", api_json_str(v[i].last_used_at),
                      "revoked_at", api_json_str(v[i].revoked_at)));
    return api_json_reply(cx, rs, 200, json_pack("{s:o}", "items", items));
}

/* The key as decoded: the domain's fields, and the scopes as sent (checked below). */
struct create_in {
    struct apikey_new k;
    json_t *scopes;
};

static const struct api_field create_fields[] = {
    {"name", API_STR, true, offsetof(struct create_in, k.name), 64, 1, 0},
    {"scopes", API_JSON, false, offsetof(struct create_in, scopes), 0, 0, 0},
    {"user_id", API_I64, false, offsetof(struct create_in, k.user_id), 0, 1, INT64_MAX},
    {0},
};

/* No Idempotency-Key here: a replay could not show the key again (only its hash is kept), and
 * a duplicate key from a retry is harmless — the admin sees both in the list and revokes one. */
static enum err apikeys_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct create_in b = {0};
    struct apikey_new *in = &b.k;
    struct apikey_created k;
    const char **scopes;
    json_t *out;
    enum err res;

    res = api_json_input(cx, rq, create_fields, &b, NULL);
    if (res)
        return res;
    if (b.scopes && !json_is_array(b.scopes))
        return rctx_fail(cx, ERR_INVALID, "scopes: expected an array of strings");
    in->nscopes = b.scopes ? json_array_size(b.scopes) : 0;
    if (in->nscopes > APIKEY_SCOPES_MAX)
        return rctx_fail(cx, ERR_INVALID, "scopes: at most %d", APIKEY_SCOPES_MAX);
    scopes = rctx_zalloc(cx, (in->nscopes + 1) * sizeof *scopes);
    for (size_t i = 0; i < in->nscopes; i++) {
        json_t *s = json_array_get(b.scopes, i);
        if (!json_is_string(s))
            return rctx_fail(cx, ERR_INVALID, "scopes[%zu]: expected a string", i);
        scopes[i] = json_string_value(s);
    }
    in->scopes = scopes;
    res = apikey_create(cx, in, &k);
    if (res)
        return res;
    out = json_pack("{s:I,s:s,s:s,s:I,s:o,s:s}", "id", (json_int_t)k.id, "name", in->name, "prefix",
                    k.prefix, "user_id", (json_int_t)k.user_id, "scopes",
                    b.scopes ? json_incref(b.scopes) : json_array(), "api_key", k.key);
    explicit_bzero(k.key, sizeof k.key);
    resp_header(cx, rs, "cache-control", "no-store");
    return api_json_reply(cx, rs, 201, out);
}

/* One field, decoded straight into the reason apikey_revoke takes (offset 0). */
static const struct api_field revoke_fields[] = {
    {"reason", API_STR, true, 0, 200, 1, 0},
    {0},
};

static enum err apikeys_revoke(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    char *reason = NULL;
    enum err res;

    res = api_json_input(cx, rq, revoke_fields, &reason, NULL);
    if (!res)
        res = apikey_revoke(cx, req_param_i64(rq, "id"), reason);
    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* clang-format off */
const struct route api_apikeys_routes[] = {
    /* method  path                                   handler         roles       body  flags  timeout batch */
    {"GET",  "/api/v1/admin/api-keys",               apikeys_list,   ROLE_ADMIN, 0,    0, 0, NULL, NULL},
    {"POST", "/api/v1/admin/api-keys",               apikeys_create, ROLE_ADMIN, 4096, 0, 0, NULL, NULL},
    {"POST", "/api/v1/admin/api-keys/{id}/revoke",   apikeys_revoke, ROLE_ADMIN, 1024, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
