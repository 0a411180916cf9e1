/* api/system.c: /healthz, /readyz, /api/v1/version — liveness, readiness, build identity. */
#include "api.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/domain/system.h"
#include "server/core/roles.h"

static const char healthz_body[] = "{\"status\":\"ok\"}";

/* Liveness: answered on the event loop, never touches the database. */
static enum err system_healthz(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    return resp_body(rs, 200, "application/json; charset=utf-8", healthz_body,
                     sizeof healthz_body - 1);
}

static enum err system_readyz(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = system_ready(cx);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, json_pack("{s:s,s:s}", "status", "ready", "database", "ok"));
}

static char version_body[256];
static size_t version_len;
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

/* The build does not change while the process runs: encode it once. */
static void version_encode(void)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "name", "cityd", "version", http_info.version,
                          "commit", http_info.commit, "api", "v1");
    if (j && http_info.ws_url)
        json_object_set_new(j, "ws_url", json_string(http_info.ws_url));
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    if (s && strlen(s) < sizeof version_body) {
        version_len = strlen(s);
        memcpy(version_body, s, version_len);
    }
    free(s);
    json_decref(j);
}

static enum err system_version(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    pthread_once(&version_once, version_encode);
    if (!version_len)
        return rctx_fail(cx, ERR_INTERNAL, "version not encodable");
    return resp_body(rs, 200, "application/json; charset=utf-8", version_body, version_len);
}

/* clang-format off */
const struct route api_system_routes[] = {
    /* method path                handler          roles        body flags       timeout */
    {"GET", "/healthz",          system_healthz,  ROLE_PUBLIC, 0,   ROUTE_LOOP,  0, NULL, NULL},
    {"GET", "/readyz",           system_readyz,   ROLE_PUBLIC, 0,   ROUTE_NO_SHED, 1500, NULL, NULL},
    {"GET", "/api/v1/version",   system_version,  ROLE_PUBLIC, 0,   ROUTE_LOOP,  0, NULL, NULL},
    {0},
};
/* clang-format on */
