/* server/http/server.c: on_req — route, limits, token and role on the loop, then either the
 * loop answers (ROUTE_LOOP) or the request becomes a job (job.c) — and sending answers, error
 * JSON and the access log. See server.h for the path of a request. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <jansson.h>
#include "http_int.h"
#include "server/core/clock.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/roles.h"

/* ---- error bodies and the access log ------------------------------------------------------ */

char *http__error_json(const char *code, const char *message, const char *rid, size_t *len)
{
    json_t *j = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", message,
                          "request_id", rid);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s)
        *len = strlen(s);
    return s;
}

void http__log_access(const struct http_job *j, int status, const char *ecode, uint64_t bytes,
                      int64_t user)
{
    struct log_access a;

    a.rid = j->cx.id;
    a.method = j->rq.method ? j->rq.method : "";
    a.method_len = j->rq.method_len;
    a.path = j->rq.path ? j->rq.path : "";
    a.path_len = j->rq.path_len > 512 ? 512 : j->rq.path_len;
    a.proto = j->rq.http_version >= 0x200 ? "HTTP/2" : "HTTP/1.1";
    a.ip = j->cx.ip;
    a.status = status;
    a.error_code = ecode;
    a.bytes = bytes;
    a.batch = j->in_worker ? 0 : j->batch; /* a worker may still be writing it */
    a.duration_ms = (double)(clock_mono_ns() - j->t0_ns) / 1e6;
    a.user_id = user;
    log_access_emit(&a);
    metrics_http_request(a.method, a.method_len, j->rq.match.route ? j->rq.match.route->path : NULL,
                         status, j->rq.http_version, a.duration_ms / 1e3);
}

/* ---- sending ------------------------------------------------------------------------------ */

/* A response header whose name and value outlive the response: h2o keeps the pointers, so
 * only literals and the job's own memory (its request id, its pool) may be passed, never a
 * stack buffer (add_header_copy). A name h2o knows as a token goes in as that token: HPACK
 * then sends its static-table index and compares pointers, not bytes, against its table. */
static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, value,
                          strlen(value));
}

/* The same for a value that dies with the caller's frame: copied into the request's pool. */
static void add_header_copy(h2o_req_t *req, const char *name, const char *value)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));

    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, v.base,
                          v.len);
}

/* Start the response and send body (h2o keeps pointing at it: pool memory of req or j). */
static void send_body(h2o_req_t *req, h2o_generator_t *gen, h2o_iovec_t body)
{
    req->res.content_length = body.len;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        body.len = 0; /* the length is announced, the bytes are not sent */
    h2o_start_response(req, gen);
    h2o_send(req, &body, body.len ? 1 : 0, H2O_SEND_STATE_FINAL);
}

void http__send_error(struct http_job *j, enum err e, const char *message, int64_t user)
{
    static h2o_generator_t gen = {NULL, NULL};
    h2o_req_t *req = j->req;
    size_t len = 0;
    char *s = http__error_json(err_code(e), message, j->cx.id, &len);
    h2o_iovec_t body = {NULL, 0};

    j->responded = true;
    if (h2o_timeout_is_linked(&j->timeout))
        h2o_timeout_unlink(&j->timeout);
    if (s) {
        body.base = h2o_mem_alloc_pool(&req->pool, len);
        memcpy(body.base, s, len);
        body.len = len;
        free(s);
    }
    req->res.status = err_http_status(e);
    req->res.reason = err_reason(req->res.status);
    add_header(req, "content-type", "application/json; charset=utf-8");
    add_header(req, "x-request-id", j->cx.id);
    add_header(req, "cache-control", "no-store");
    if (e == ERR_UNAUTH)
        add_header(req, "www-authenticate", "Bearer realm=\"cityd\"");
    if (e == ERR_BUSY)
        add_header(req, "retry-after", "1");
    else if (e == ERR_RATELIMIT && j->cx.err.code == e && j->cx.err.retry_after_s > 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", j->cx.err.retry_after_s);
        add_header_copy(req, "retry-after", secs);
    } else if (e == ERR_RATELIMIT || e == ERR_LOCKED)
        add_header(req, "retry-after", "60");
    http__log_access(j, req->res.status, err_code(e), body.len, user);
    send_body(req, &gen, body);
}

#define FILE_CHUNK (64u << 10)

void http__file_close(struct http_job *j)
{
    if (j->rs.file && j->rs.file_fd >= 0) {
        close(j->rs.file_fd);
        j->rs.file_fd = -1;
    }
}

/* h2o asks for the next part of a file body once the previous one has gone out: one chunk
 * per request in memory, paced by the client (HTTP/2 flow control). The read is a pread on
 * the loop, from the page cache in the common case, as h2o's own file handler does. */
static void file_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    struct http_job *j = H2O_STRUCT_FROM_MEMBER(struct http_job, gen, gen);
    struct resp *rs = &j->rs;
    size_t n = rs->file_len > FILE_CHUNK ? FILE_CHUNK : (size_t)rs->file_len;
    h2o_iovec_t buf = h2o_iovec_init(j->file_buf, 0);

    while (buf.len < n) {
        ssize_t r =
            pread(rs->file_fd, j->file_buf + buf.len, n - buf.len, (off_t)(rs->file_off + buf.len));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            log_error(&j->cx, "file body: read failed: %s", r < 0 ? strerror(errno) : "short file");
            http__file_close(j);
            h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
            return;
        }
        buf.len += (size_t)r;
    }
    rs->file_off += n;
    rs->file_len -= n;
    if (rs->file_len == 0) {
        http__file_close(j);
        h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
        return;
    }
    h2o_send(req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
}

static void file_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    http__file_close(H2O_STRUCT_FROM_MEMBER(struct http_job, gen, gen));
}

void http__send_response(struct http_job *j)
{
    h2o_req_t *req = j->req;
    struct resp *rs = &j->rs;

    if (j->res != ERR_OK) {
        /* Headers a handler set still go out with its error (tus wants Tus-Resumable on
         * every answer, a 416 carries Content-Range). */
        for (size_t i = 0; i < rs->nheaders; i++)
            if (strcasecmp(rs->headers[i].name, "cache-control") != 0) /* errors: no-store */
                add_header(req, rs->headers[i].name, rs->headers[i].value);
        if (j->res == ERR_INTERNAL) /* the cause goes to the log, the client gets the id */
            log_error(&j->cx, "internal error: %s", rctx_detail(&j->cx, j->res));
        http__file_close(j);
        http__send_error(j, j->res, rctx_message(&j->cx, j->res), j->cx.who.user_id);
        return;
    }
    j->responded = true;
    if (h2o_timeout_is_linked(&j->timeout))
        h2o_timeout_unlink(&j->timeout);
    req->res.status = rs->status ? rs->status : 200;
    req->res.reason = err_reason(req->res.status);
    if (rs->content_type)
        add_header(req, "content-type", rs->content_type);
    add_header(req, "x-request-id", j->cx.id);
    for (size_t i = 0; i < rs->nheaders; i++)
        add_header(req, rs->headers[i].name, rs->headers[i].value);
    if (rs->file) {
        http__log_access(j, req->res.status, NULL, rs->file_len, j->cx.who.user_id);
        req->res.content_length = rs->file_len;
        j->gen.proceed = file_proceed;
        j->gen.stop = file_stop;
        h2o_start_response(req, &j->gen);
        if (rs->file_len == 0 || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
            http__file_close(j);
            h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
            return;
        }
        j->file_buf = h2o_mem_alloc_pool(&req->pool, FILE_CHUNK);
        file_proceed(&j->gen, req);
        return;
    }
    http__log_access(j, req->res.status, NULL, rs->body_len, j->cx.who.user_id);
    /* The body stays in the job's pool, which lives until h2o disposes the request. */
    j->gen.proceed = NULL;
    j->gen.stop = NULL;
    send_body(req, &j->gen, h2o_iovec_init(rs->body, rs->body_len));
}

/* ---- the request handler ------------------------------------------------------------------ */

/* The client's address. From a trusted proxy (http.trusted_proxies), the right-most
 * X-Forwarded-For entry that is not itself a trusted proxy: each proxy appends the address it
 * saw, so entries left of the first untrusted one are only what the client wrote. */
static void peer_ip(const struct http_global *g, h2o_req_t *req, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    const void *a = NULL;

    out[0] = '\0';
    if (sl == 0)
        return;
    if (ss.ss_family == AF_INET)
        a = &((struct sockaddr_in *)&ss)->sin_addr;
    else if (ss.ss_family == AF_INET6)
        a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (!a)
        return;
    if (ss.ss_family == AF_INET && len >= 16) {
        /* inet_ntop formats IPv4 through sprintf: a visible share of a loop request. */
        const unsigned char *b = a;
        char *o = out;
        for (int i = 0; i < 4; i++) {
            unsigned v = b[i];
            if (v >= 100)
                *o++ = (char)('0' + v / 100);
            if (v >= 10)
                *o++ = (char)('0' + v / 10 % 10);
            *o++ = (char)('0' + v % 10);
            *o++ = i < 3 ? '.' : '\0';
        }
    } else {
        inet_ntop(ss.ss_family, a, out, (socklen_t)len);
    }
    if (g->ntrusted == 0 || !cidr_match(g->trusted, g->ntrusted, ss.ss_family, a))
        return;
    /* Several X-Forwarded-For fields are one list in order: walk them from the last. */
    for (ssize_t i = (ssize_t)req->headers.size - 1; i >= 0; i--) {
        const h2o_header_t *h = &req->headers.entries[i];
        const char *v = h->value.base;
        size_t end = h->value.len;

        if (h->name->len != 15 || strncasecmp(h->name->base, "x-forwarded-for", 15) != 0)
            continue;
        while (end > 0) {
            size_t start = end, b, e;
            while (start > 0 && v[start - 1] != ',')
                start--;
            for (b = start; b < end && (v[b] == ' ' || v[b] == '\t'); b++)
                ;
            for (e = end; e > b && (v[e - 1] == ' ' || v[e - 1] == '\t'); e--)
                ;
            if (e > b) {
                char ip[INET6_ADDRSTRLEN];
                unsigned char bin[16];
                if (e - b >= sizeof ip)
                    return; /* not an address: keep the last hop we know */
                memcpy(ip, v + b, e - b);
                ip[e - b] = '\0';
                if (inet_pton(AF_INET, ip, bin) != 1 && inet_pton(AF_INET6, ip, bin) != 1)
                    return;
                snprintf(out, len, "%s", ip);
                if (!cidr_match_text(g->trusted, g->ntrusted, ip, e - b))
                    return;
            }
            end = start > 0 ? start - 1 : 0;
        }
    }
}

static bool is_json_type(const h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    const h2o_iovec_t *v;

    if (i < 0)
        return true; /* absent: we only ever read JSON on these routes */
    v = &req->headers.entries[i].value;
    return v->len >= 16 && strncasecmp(v->base, "application/json", 16) == 0 &&
           (v->len == 16 || v->base[16] == ';' || v->base[16] == ' ');
}

/* A copy in the job's pool, or the borrowed bytes themselves (not NUL-terminated then:
 * every consumer uses the lengths). */
static const char *keep(struct http_job *j, bool deep, const char *p, size_t n)
{
    return deep ? rctx_strndup(&j->cx, p, n) : p;
}

/* on_req's answer for a request refused on the loop (before any worker saw it). */
static int reject(struct http_job *j, enum err e, const char *message)
{
    http__send_error(j, e, message, j->cx.who.user_id);
    return 0;
}

/* Copy what a worker reads of the request into the job: h2o frees its buffers if the client
 * goes away while a worker still reads them. Loop routes answer before returning: they
 * borrow. */
static void take_request(struct http_job *j, h2o_req_t *req, const char *q, bool deep)
{
    const char *path = j->rq.path;
    size_t n = req->headers.size < MAX_HEADERS ? req->headers.size : MAX_HEADERS;
    /* A loop route's request lives in h2o's pool, which already has memory: the job's own
     * pool then stays empty (no chunk to allocate and free per request). */
    struct req_header *hs = deep ? rctx_alloc(&j->cx, (n ? n : 1) * sizeof *hs)
                                 : h2o_mem_alloc_pool(&req->pool, (n ? n : 1) * sizeof *hs);

    j->rq.method = keep(j, deep, j->rq.method, j->rq.method_len);
    j->rq.path = keep(j, deep, path, j->rq.path_len);
    /* Route params point into the kept path. */
    for (size_t i = 0; i < j->rq.match.nparams; i++)
        j->rq.match.params[i].value = j->rq.path + (j->rq.match.params[i].value - path);
    if (q) {
        j->rq.query_len = req->path.len - j->rq.path_len - 1;
        j->rq.query = keep(j, deep, q + 1, j->rq.query_len);
    }
    if (req->entity.base) {
        j->rq.body = keep(j, deep, req->entity.base, req->entity.len);
        j->rq.body_len = req->entity.len;
    }
    for (size_t i = 0; i < n; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        hs[i].name = keep(j, deep, h->name->base, h->name->len);
        hs[i].name_len = h->name->len;
        hs[i].value = keep(j, deep, h->value.base, h->value.len);
        hs[i].value_len = h->value.len;
    }
    j->rq.headers = hs;
    j->rq.nheaders = n;
}

int http__on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct http_loop *l = H2O_STRUCT_FROM_MEMBER(struct http_loop, ctx, req->conn->ctx);
    const struct http_config *hc = l->g->hc;
    struct http_job *j;
    const char *path = req->path.base;
    const char *q = memchr(path, '?', req->path.len);
    const char *method = req->method.base;
    size_t mlen = req->method.len;
    char allow[96];
    enum err res;
    struct conn_state *cs;
    const struct route *rt;
    struct http_job **slot;
    ssize_t ai;

    (void)self;
    http__recycle_loop_thread();
    j = http__job_new(l);
    if (!j)
        return -1;
    rctx_init(&j->cx);
    j->loop = l;
    j->t0_ns = clock_mono_ns();
    j->conn_fd = -1;
    l->jobs++;
    peer_ip(l->g, req, j->cx.ip, sizeof j->cx.ip);
    /* room for one pointer to the job */
    slot = h2o_mem_alloc_shared(&req->pool, sizeof *slot, http__job_on_dispose);
    *slot = j;
    j->req = req;
    /* Borrowed until take_request: what the access log needs from the first moment. */
    j->rq.method = method;
    j->rq.method_len = mlen;
    j->rq.path = path;
    j->rq.path_len = q ? (size_t)(q - path) : req->path.len;
    j->rq.http_version = req->version;

    res = router_match(hc->router, method, mlen, path, j->rq.path_len, &j->rq.match, allow,
                       sizeof allow);
    /* HEAD is answered by the GET route (without the body) unless a route takes HEAD itself
     * (tus uses HEAD to ask for an upload's offset). */
    if (res && mlen == 4 && memcmp(method, "HEAD", 4) == 0 &&
        router_match(hc->router, "GET", 3, path, j->rq.path_len, &j->rq.match, allow,
                     sizeof allow) == ERR_OK)
        res = ERR_OK;
    if (res == ERR_METHOD) {
        add_header_copy(req, "allow", allow);
        return reject(j, res, "method not allowed on this path");
    }
    if (res)
        return reject(j, res, "no such path");
    {
        size_t hbytes = req->path.len;
        for (size_t i = 0; i < req->headers.size; i++)
            hbytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
        if (hbytes > MAX_HEADER_BYTES || req->headers.size > MAX_HEADERS) {
            req->http1_is_persistent = 0;
            return reject(j, ERR_HEADERS, "request headers larger than 16 KiB");
        }
    }
    rt = j->rq.match.route;
    cs = http__conn_of(l, req, &j->conn_fd, &j->conn_gen);
    if (cs && cs->poisoned) {
        http__conn_close(req);
        return reject(j, ERR_RATELIMIT, "too many abandoned requests on this connection");
    }
    if (req->entity.base && req->entity.len > rt->body_limit)
        return reject(j, ERR_TOOBIG,
                      rt->body_limit ? "request body larger than this endpoint accepts"
                                     : "this endpoint takes no request body");
    if (req->entity.len && !(rt->flags & ROUTE_RAW_BODY) && !is_json_type(req))
        return reject(j, ERR_MEDIATYPE, "send the body as application/json");

    /* Overload (db.queue_target_ms): refused before the copy and the token check, so a
     * refusal is the cheapest answer the loop gives; a bad token then learns it on retry. */
    if (!((rt->flags & ROUTE_LOOP) && rt->roles == ROLE_PUBLIC) && http__job_shed(j))
        return reject(j, ERR_BUSY,
                      "server overloaded: requests are waiting too long for a worker; retry later");

    take_request(j, req, q, !(rt->flags & ROUTE_LOOP));

    /* Authentication on the loop: a signature check, no I/O. */
    if (rt->roles != ROLE_PUBLIC) {
        const h2o_iovec_t *v;

        ai = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
        if (ai < 0)
            return reject(j, ERR_UNAUTH, "missing bearer token");
        v = &req->headers.entries[ai].value;
        if (v->len < 8 || strncasecmp(v->base, "Bearer ", 7) != 0 || !hc->authenticate) {
            j->auth_failed = true;
            snprintf(j->why, sizeof j->why, "not a bearer token");
        } else if (hc->authenticate(v->base + 7, v->len - 7, &j->cx.who, j->why, sizeof j->why)) {
            j->auth_failed = true;
            memset(&j->cx.who, 0, sizeof j->cx.who);
        }
        /* A flood of bad tokens is counted, not written one row each: past the audit burst
         * the answer comes from the loop, no worker involved. */
        if (j->auth_failed && hc->auth_rejected && !hc->auth_rejected(j->cx.ip, j->why))
            return reject(j, ERR_UNAUTH, "invalid or expired token");
        if (!j->auth_failed && !(j->cx.who.roles & rt->roles))
            return reject(j, ERR_FORBIDDEN, "your role may not call this endpoint");
    }

    /* Only public routes run on the loop: any route with roles needs the per-request token
     * version check, which reads the database. */
    if ((rt->flags & ROUTE_LOOP) && rt->roles == ROLE_PUBLIC) {
        j->res = rt->handler(&j->cx, &j->rq, &j->rs);
        http__send_response(j);
        return 0;
    }
    if (cs && cs->inflight >= (uint32_t)hc->cfg->http_max_inflight_per_conn) {
        /* The client's own doing, not the server's state: 429 with Retry-After: 1. */
        rctx_fail_retry(&j->cx, 1, "too many requests in flight on this connection (at most %d)",
                        hc->cfg->http_max_inflight_per_conn);
        return reject(j, ERR_RATELIMIT, rctx_message(&j->cx, ERR_RATELIMIT));
    }
    if (http__job_queue(j))
        return reject(j, ERR_BUSY, "server busy; retry");
    if (cs) {
        cs->inflight++;
        j->counted = true;
    }
    return 0;
}
