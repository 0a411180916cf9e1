/* server/http/router.h: route tables and the router over them.
 *
 * Each api/ resource file exports one table of struct route rows, ended by a zero row; the
 * router compiles every table once at start-up and refuses duplicates and bad patterns (fatal
 * at boot). Patterns are literal segments and `{name}` parameters; a parameter whose name is
 * `id` or ends in `_id` must be a positive decimal integer, others any non-empty segment
 * without '/'. The router is pure: no I/O, no h2o, unit-tested in tests/unit/test_router.c. */
#ifndef CITYD_ROUTER_H
#define CITYD_ROUTER_H

#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"

struct rctx;
struct req;
struct resp;

typedef enum err (*route_handler)(struct rctx *cx, const struct req *rq, struct resp *rs);
/* Several requests of one ROUTE_BATCH route at once: for each i the contract of route_handler
 * (rss[i], res[i]). The contexts share cxs[0]'s database connection. Answers are rendered into
 * each request's own context; results read for one may live in another's until all return. */
typedef void (*route_batch_handler)(struct rctx *const *cxs, const struct req *const *rqs,
                                    struct resp *const *rss, enum err *res, size_t n);

enum route_flags {
    ROUTE_LOOP = 1u << 0,         /* runs on the event loop: no DB, no blocking (health, version) */
    ROUTE_BATCH = 1u << 1,        /* short and frequent (a quick read, a track batch): requests
                                     of such routes that arrive together share one worker hop
                                     and one token-check query (server.h) */
    ROUTE_MEDIA = 1u << 2,        /* runs on the media worker pool (libvips work) */
    ROUTE_RAW_BODY = 1u << 3,     /* body is not JSON (uploads): no JSON checks by the router */
    ROUTE_AUTH_PROFILE = 1u << 4, /* the token check also loads the caller's profile into
                                     cx->who.profile: the handler reads no user row itself */
    ROUTE_OUTSIDE = 1u << 5,      /* calls an outside service that may hang for seconds
                                     (WeChat): runs on its own small pool, so an outage there
                                     never holds the database workers */
    ROUTE_PASSWORD = 1u << 6,     /* hashes or checks a password (argon2id, a few at a time):
                                     runs on its own pool, so a burst of log-ins queues there
                                     and never holds the database workers */
    ROUTE_NO_SHED = 1u << 7,      /* never shed by the database pool's overload control
                                     (db.queue_target_ms): readiness probes, so a node that is
                                     busy is not also reported as not ready */
};

/* One endpoint. body_limit 0 means the route takes no body: any body gives 413. */
struct route {
    const char *method;
    const char *path;
    route_handler handler;
    uint32_t roles; /* role bits allowed; ROLE_PUBLIC (0) = no token needed */
    size_t body_limit;
    unsigned flags;
    int timeout_ms;            /* 0 = http.request_timeout_ms */
    route_batch_handler batch; /* ROUTE_BATCH routes only; NULL: handler one request at a time */
    const char *scope;         /* API-key scope it needs ("cases:write"): required when roles admit
                                  ROLE_MACHINE (router_new refuses the table otherwise), NULL else */
};

#define ROUTER_MAX_PARAMS 4

struct route_param {
    const char *name;
    const char *value; /* points into the matched path; not NUL-terminated */
    size_t len;
};

struct route_match {
    const struct route *route;
    size_t nparams;
    struct route_param params[ROUTER_MAX_PARAMS];
};

struct router;

/* Compile the NULL-terminated list of tables. On a bad table writes the reason to errbuf and
 * returns NULL. */
struct router *router_new(const struct route *const *tables, char *errbuf, size_t errlen);
void router_free(struct router *r);

/* Match method + path (no query string). ERR_OK fills m; ERR_NOTFOUND when no pattern fits
 * the path; ERR_METHOD when the path exists with other methods, and then allow gets the
 * comma-separated list of them (always including OPTIONS when present). */
enum err router_match(const struct router *r, const char *method, size_t method_len,
                      const char *path, size_t path_len, struct route_match *m, char *allow,
                      size_t allow_len) MUST_CHECK;

/* Every compiled route, for the openapi and authorization-matrix checks. */
size_t router_count(const struct router *r);
const struct route *router_at(const struct router *r, size_t i);
/* The largest body_limit of any route (h2o's own entity limit is set from it). */
size_t router_max_body(const struct router *r);

#endif
