/* server/core/rctx.h: the request context, one per HTTP request, WebSocket message or job.
 *
 * Owns all memory of one unit of work (an h2o memory pool cleared once by rctx_dispose), the
 * verified identity of the caller, the request id that appears in every log line and 5xx body,
 * and the first error found with its message. A context is used by one thread at a time; it
 * never outlives its request. rctx.c is the only caller of h2o's pool functions. */
#ifndef CITYD_RCTX_H
#define CITYD_RCTX_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <h2o/memory.h>
#include "err.h"

#define RCTX_ID_LEN 16
#define RCTX_MSG_MAX 256

/* The verified caller. Filled by server/http from a token (or by a job); zero = anonymous. */
struct actor {
    int64_t user_id;
    uint32_t roles;        /* role bits (roles.h) held by the token */
    int64_t token_version; /* version the token was minted under; checked against the user row */
    int64_t api_key_id;    /* machine clients */
    char device_id[65];
    char family[33]; /* refresh-token family (one per device login) */
    /* The caller's own record (the domain's struct user_rec; core names no type above it),
     * read with the token check for routes that ask for it (ROUTE_AUTH_PROFILE); NULL
     * otherwise. Pool memory of the request. */
    const void *profile;
};

struct err_info {
    enum err code;
    char message[RCTX_MSG_MAX];
    int retry_after_s; /* ERR_RATELIMIT: seconds until a retry can succeed (0: the default) */
};

struct db_conn;

struct rctx {
    h2o_mem_pool_t pool;
    struct db_conn *db; /* lent by the worker running the request; NULL on loop threads */
    struct actor who;
    char id[RCTX_ID_LEN + 1]; /* request id */
    char ip[48];              /* peer address, for audit */
    int64_t now_ms;           /* clock at the start of the request (clock.h) */
    struct err_info err;
};

/* Initialise a context with a fresh random request id and the current clock. */
void rctx_init(struct rctx *cx);
/* Run deferred functions (LIFO) and free all pool memory. */
void rctx_dispose(struct rctx *cx);

/* Pool allocation; never NULL (aborts on OOM). Memory lives until rctx_dispose. */
void *rctx_alloc(struct rctx *cx, size_t n);
void *rctx_zalloc(struct rctx *cx, size_t n);
char *rctx_strndup(struct rctx *cx, const char *s, size_t n);
char *rctx_strdup(struct rctx *cx, const char *s);
char *rctx_printf(struct rctx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Run fn(p) when the context is disposed, after later-registered ones. */
void rctx_defer(struct rctx *cx, void (*fn)(void *), void *p);

/* Record the first error and its message; returns e so callers can `return rctx_fail(...)`.
 * A later failure does not overwrite an earlier message of the same request. */
enum err rctx_fail(struct rctx *cx, enum err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* rctx_fail for ERR_RATELIMIT with the seconds until a retry can succeed (the Retry-After
 * header; at least 1). */
enum err rctx_fail_retry(struct rctx *cx, int retry_after_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Message for the client: the recorded one if it belongs to e, else a generic text. */
const char *rctx_message(const struct rctx *cx, enum err e);
/* The detail recorded with e, for the server's log only (never for a client): unlike
 * rctx_message it keeps the cause of ERR_INTERNAL ("token signing failed"). */
const char *rctx_detail(const struct rctx *cx, enum err e);

#endif
