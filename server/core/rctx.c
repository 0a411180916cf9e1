/* server/core/rctx.c: request context and its pool. The only file that calls h2o's pool API. */
#include "rctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "ids.h"

struct deferred {
    void (*fn)(void *);
    void *p;
};

void rctx_init(struct rctx *cx)
{
    memset(cx, 0, sizeof *cx);
    h2o_mem_init_pool(&cx->pool);
    ids_request_id(cx->id);
    cx->now_ms = clock_now_ms();
}

void rctx_dispose(struct rctx *cx)
{
    h2o_mem_clear_pool(&cx->pool);
}

void *rctx_alloc(struct rctx *cx, size_t n)
{
    return h2o_mem_alloc_pool(&cx->pool, n ? n : 1);
}

void *rctx_zalloc(struct rctx *cx, size_t n)
{
    void *p = rctx_alloc(cx, n);
    memset(p, 0, n ? n : 1);
    return p;
}

char *rctx_strndup(struct rctx *cx, const char *s, size_t n)
{
    char *d = rctx_alloc(cx, n + 1);
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *rctx_strdup(struct rctx *cx, const char *s)
{
    return rctx_strndup(cx, s, strlen(s));
}

char *rctx_printf(struct rctx *cx, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *d;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    d = rctx_alloc(cx, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

static void run_deferred(void *p)
{
    struct deferred *d = p;
    d->fn(d->p);
}

void rctx_defer(struct rctx *cx, void (*fn)(void *), void *p)
{
    /* h2o releases shared allocations LIFO when the pool is cleared. */
    struct deferred *d = h2o_mem_alloc_shared(&cx->pool, sizeof *d, run_deferred);
    d->fn = fn;
    d->p = p;
}

enum err rctx_fail(struct rctx *cx, enum err e, const char *fmt, ...)
{
    va_list ap;

    if (cx->err.code != ERR_OK && cx->err.code == e)
        return e;
    cx->err.code = e;
    va_start(ap, fmt);
    vsnprintf(cx->err.message, sizeof cx->err.message, fmt, ap);
    va_end(ap);
    return e;
}

enum err rctx_fail_retry(struct rctx *cx, int retry_after_s, const char *fmt, ...)
{
    va_list ap;

    if (cx->err.code == ERR_RATELIMIT)
        return ERR_RATELIMIT;
    cx->err.code = ERR_RATELIMIT;
    cx->err.retry_after_s = retry_after_s < 1 ? 1 : retry_after_s;
    va_start(ap, fmt);
    vsnprintf(cx->err.message, sizeof cx->err.message, fmt, ap);
    va_end(ap);
    return ERR_RATELIMIT;
}

const char *rctx_detail(const struct rctx *cx, enum err e)
{
    if (cx->err.code == e && cx->err.message[0])
        return cx->err.message;
    return e == ERR_INTERNAL ? "no cause recorded" : err_code(e);
}

const char *rctx_message(const struct rctx *cx, enum err e)
{
    if (e != ERR_INTERNAL && cx->err.code == e && cx->err.message[0])
        return cx->err.message;
    switch (e) {
    case ERR_INTERNAL:
        return "internal error; quote the request id when reporting it";
    case ERR_BUSY:
        return "service temporarily unavailable; retry later";
    case ERR_UNAUTH:
        return "authentication required";
    case ERR_FORBIDDEN:
        return "your role may not do this";
    case ERR_NOTFOUND:
        return "not found";
    default:
        return err_code(e);
    }
}
