/* api/system.c: /healthz, /readyz, /api/v1/version — liveness, readiness, build identity. */
#include "api.h"

#include "api/domain/system.h"
#include "server/core/roles.h"

/* Liveness: answered on the event loop, never touches the database. */
static enum err system_healthz(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    return api_json_reply(cx, rs, 200, json_pack("{s:s}", "status", "ok"));
}

static enum err system_readyz(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = system_ready(cx);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, json_pack("{s:s,s:s}", "status", "ready", "database", "ok"));
}

static enum err system_version(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:s,s:s,s:s,s:s}", "name", "cityd", "version",
                                    http_info.version, "commit", http_info.commit, "api", "v1"));
}

/* clang-format off */
const struct route api_system_routes[] = {
    /* method path                handler          roles        body flags       timeout */
    {"GET", "/healthz",          system_healthz,  ROLE_PUBLIC, 0,   ROUTE_LOOP,  0},
    {"GET", "/readyz",           system_readyz,   ROLE_PUBLIC, 0,   0,           1500},
    {"GET", "/api/v1/version",   system_version,  ROLE_PUBLIC, 0,   ROUTE_LOOP,  0},
    {0},
};
/* clang-format on */
