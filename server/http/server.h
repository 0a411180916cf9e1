/* server/http/server.h: h2o glue — one HTTP engine per event loop.
 *
 * struct http_global holds what all loops share (h2o's global config, the router, TLS, the
 * worker pools); struct http_loop is one loop's h2o context, listeners and job receiver.
 * server/wire.c creates the threads and loops and drives start-up and shutdown.
 *
 * The path of a request, all on the loop thread until the hand-off:
 *   accept -> h2o parses (HTTP/1.1, h2c prior knowledge, h2 over TLS) and buffers the body ->
 *   on_req: request id, route match (404/405), body limit (413), content type (415), bearer
 *   token (401) and role (403) -> ROUTE_LOOP handlers run here; all others are copied into a
 *   job and queued to the database (or media) worker pool (503 when full) -> the worker runs
 *   authorize() then the handler with its own MariaDB connection -> the result comes back
 *   through h2o's multithread queue -> the loop sends it, or drops it if the client is gone.
 * Requests of ROUTE_BATCH routes (short, frequent: quick reads, track batches) are not queued one
 * by one: each loop collects those that arrive in one turn of the event loop (up to HTTP_BATCH_MAX)
 * and queues them as one job, whose worker checks all their tokens in one statement and runs their
 * handlers (a route's batch handler with all of its requests at once, if it has one; the others one
 * after the other). Under load that is one thread hop and one token query per batch instead of per
 * request; when idle a batch is a single request and nothing waits. A per-route deadline answers
 * 503 when a worker does not finish in time; cancelled jobs that have not started are skipped.
 * Under sustained overload the database pool sheds (db.queue_target_ms, workpool.h): a new request
 * is refused with 503 at once, before it becomes a job, and one admitted during the overload that
 * still waited twice the target is answered 503 unrun. Per connection, in-flight jobs are capped
 * and requests abandoned by the client (HTTP/2 rapid reset) are counted: past the budget the
 * connection gets GOAWAY and is closed. */
#ifndef CITYD_HTTP_SERVER_H
#define CITYD_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>
#include "server/core/cfg.h"
#include "server/core/rctx.h"
#include "server/core/workpool.h"
#include "server/http/router.h"

#define HTTP_BATCH_MAX 64

struct http_config {
    const struct cfg *cfg;
    int loops; /* how many loops serve (the per-address body cap is shared out among them) */
    struct router *router; /* borrowed; outlives the server */
    struct workpool *db_pool;
    struct workpool *media_pool;    /* NULL: ROUTE_MEDIA jobs go to db_pool */
    struct workpool *outside_pool;  /* NULL: ROUTE_OUTSIDE jobs go to db_pool */
    struct workpool *password_pool; /* NULL: ROUTE_PASSWORD jobs go to db_pool */
    /* Verify a bearer token (loop thread, no I/O). ERR_OK fills who; otherwise why gets a
     * short reason for the audit log (never the token). */
    enum err (*authenticate)(const char *token, size_t len, struct actor *who, char *why,
                             size_t whylen);
    /* Worker thread, before the handlers of n authenticated requests (token version, disabled
     * account), all at once; res[i] gets request i's answer. The contexts share cxs[0]'s
     * database connection. May be NULL. */
    void (*authorize)(struct rctx *const *cxs, const struct route *const *rts, size_t n,
                      enum err *res);
    /* Loop thread, when a token is rejected: counts it; true when the rejection needs its own
     * audit row (auth_failed on a worker), false to answer 401 on the loop. May be NULL
     * (every rejection goes to auth_failed). */
    bool (*auth_rejected)(const char *ip, const char *why);
    /* Worker thread, after a rejected token: records the failure. May be NULL. */
    void (*auth_failed)(struct rctx *cx, const char *method, const char *path, const char *why);
    /* Worker thread, after every handler (rolls back a transaction left open). May be NULL. */
    void (*after_handler)(struct rctx *cx);
};

struct http_global;
struct http_loop;

/* Shared state. ERR_INVALID with a reason (bad TLS files, bad listen address). */
struct http_global *http_global_new(const struct http_config *hc, char *errbuf, size_t errlen);
void http_global_free(struct http_global *g);

/* One loop's engine; binds the listeners (SO_REUSEPORT, so each loop has its own). When
 * http.listen has port 0, the first loop binds a free port and later loops share it;
 * http_global_port() tells which. */
struct http_loop *http_loop_new(struct http_global *g, uv_loop_t *loop, char *errbuf,
                                size_t errlen);
int http_global_port(const struct http_global *g);
/* Stop accepting and ask clients to go away (HTTP/2 GOAWAY). */
void http_loop_shutdown(struct http_loop *l);
/* True when no connection and no job is left. */
bool http_loop_idle(struct http_loop *l);
/* Release the loop's engine. Only when idle, or force = true at the end of the drain deadline
 * (then h2o's context is left undisposed: it asserts on live connections). */
void http_loop_free(struct http_loop *l, bool force);

#endif
