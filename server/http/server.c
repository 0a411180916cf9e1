/* server/http/server.c: h2o listeners, the request hand-off to workers and back, error JSON.
 * See server.h for the path of a request. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <h2o.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include "http.h"
#include "http_int.h"
#include "server/core/clock.h"
#include "server/core/log.h"
#include "server/core/roles.h"

#define CONN_SLOTS 1024
#define CONN_PROBE 8
#define MAX_TIMEOUTS 4
#define SPARE_JOBS 256
#define MAX_HEADERS 100
/* Request line + headers; h2o 2.2.5's own HTTP/1 cap is about 400 KiB. */
#define MAX_HEADER_BYTES (16u << 10)

struct conn_state {
    uint64_t id;       /* h2o connection id; 0 = free slot */
    uint32_t inflight; /* jobs queued or running */
    uint32_t abandoned;
    bool poisoned;
};

struct http_global {
    h2o_globalconf_t conf;
    h2o_hostconf_t *host;
    const struct http_config *hc;
    SSL_CTX *ssl;
    struct sockaddr_storage addr, tls_addr;
    socklen_t addrlen, tls_addrlen;
    _Atomic int port;
};

struct listener {
    uv_tcp_t tcp;
    h2o_accept_ctx_t *actx;
    bool open;
};

struct http_loop {
    struct http_global *g;
    uv_loop_t *uv;
    h2o_context_t ctx;
    h2o_accept_ctx_t actx, actx_tls;
    struct listener lis, lis_tls;
    h2o_multithread_receiver_t receiver;
    struct {
        uint64_t ms;
        h2o_timeout_t t;
    } timeouts[MAX_TIMEOUTS];
    size_t ntimeouts;
    size_t jobs;            /* alive jobs of this loop */
    struct http_job *spare; /* freed jobs kept for reuse (linked through work.next) */
    size_t nspare;
    uv_prepare_t *flush; /* runs before the loop polls again: queues the pending batch */
    struct http_job *pending[HTTP_BATCH_MAX];
    size_t npending;
    struct conn_state conns[CONN_SLOTS];
};

/* Requests of ROUTE_BATCH routes queued together (see server.h). */
struct http_batch {
    struct work work;
    size_t n;
    struct http_job *jobs[HTTP_BATCH_MAX];
};

struct http_job {
    struct work work;
    h2o_multithread_message_t msg;
    struct http_loop *loop;
    h2o_req_t *req; /* NULL once h2o disposed the request */
    h2o_generator_t gen;
    h2o_timeout_entry_t timeout;
    struct rctx cx;
    struct req rq;
    struct resp rs;
    enum err res;
    atomic_int cancelled;
    bool in_worker, responded, auth_failed;
    uint64_t conn_id;
    uint64_t t0_ns;
    unsigned batch;      /* size of the batch it ran in (worker writes, loop reads after) */
    int64_t submit_user; /* who.user_id when queued: the loop never reads cx while a worker may
                            write it */
    char why[96];
};

/* ---- error bodies ------------------------------------------------------------------------ */

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

/* ---- per-connection accounting ----------------------------------------------------------- */

static struct conn_state *conn_get(struct http_loop *l, uint64_t id, bool create)
{
    size_t h = (size_t)(id * 0x9E3779B97F4A7C15ull >> 54) % CONN_SLOTS;
    struct conn_state *free_slot = NULL;

    for (size_t i = 0; i < CONN_PROBE; i++) {
        struct conn_state *s = &l->conns[(h + i) % CONN_SLOTS];
        if (s->id == id)
            return s;
        if (!free_slot && (s->id == 0 || (s->inflight == 0 && !s->poisoned)))
            free_slot = s;
    }
    if (!create || !free_slot)
        return NULL;
    /* Reuse an idle slot: an idle connection's abandon count starts again, which only makes
     * the budget more lenient for it. */
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->id = id;
    return free_slot;
}

static void close_abusive(h2o_req_t *req)
{
    h2o_socket_t *sock =
        req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
    int fd = sock ? h2o_socket_get_fd(sock) : -1;

    /* Debian's h2o 2.2.5 has no reset budget of its own and no public call to close one
     * connection. Shutting the socket down makes h2o see the end of the stream and close
     * the connection through its own path, streams and all. */
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    req->http1_is_persistent = 0;
}

/* ---- sending ------------------------------------------------------------------------------ */

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 423:
        return "Locked";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 460:
        return "Checksum Mismatch";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "OK";
    }
}

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    char *n = h2o_mem_alloc_pool(&req->pool, nl);
    char *v = h2o_mem_alloc_pool(&req->pool, vl);
    memcpy(n, name, nl);
    memcpy(v, value, vl);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n, nl, 0, NULL, v, vl);
}

static void log_request(h2o_req_t *req, const char *rid, int status, const char *ecode,
                        uint64_t bytes, uint64_t t0, int64_t user, const char *ip, unsigned batch)
{
    struct log_access a;
    size_t plen = req->path.len;
    const char *q = memchr(req->path.base, '?', plen);

    if (q)
        plen = (size_t)(q - req->path.base);
    a.rid = rid;
    a.method = req->method.base;
    a.method_len = req->method.len;
    a.path = req->path.base;
    a.path_len = plen > 512 ? 512 : plen;
    a.proto = req->version >= 0x200 ? "HTTP/2" : "HTTP/1.1";
    a.ip = ip;
    a.status = status;
    a.error_code = ecode;
    a.bytes = bytes;
    a.batch = batch;
    a.duration_ms = (double)(clock_mono_ns() - t0) / 1e6;
    a.user_id = user;
    log_access_emit(&a);
}

/* Send an error from the loop. All memory comes from req->pool. */
static void send_error_req(h2o_req_t *req, enum err e, const char *message, const char *rid,
                           const char *allow, uint64_t t0, int64_t user, const char *ip)
{
    static h2o_generator_t gen = {NULL, NULL};
    size_t len = 0;
    char *s = http__error_json(err_code(e), message, rid, &len);
    h2o_iovec_t body = {NULL, 0};

    if (s) {
        body.base = h2o_mem_alloc_pool(&req->pool, len);
        memcpy(body.base, s, len);
        body.len = len;
        free(s);
    }
    req->res.status = err_http_status(e);
    req->res.reason = reason_of(req->res.status);
    add_header(req, "content-type", "application/json; charset=utf-8");
    add_header(req, "x-request-id", rid);
    add_header(req, "cache-control", "no-store");
    if (allow)
        add_header(req, "allow", allow);
    if (e == ERR_UNAUTH)
        add_header(req, "www-authenticate", "Bearer realm=\"cityd\"");
    if (e == ERR_BUSY)
        add_header(req, "retry-after", "1");
    else if (e == ERR_RATELIMIT || e == ERR_LOCKED)
        add_header(req, "retry-after", "60");
    req->res.content_length = body.len;
    log_request(req, rid, req->res.status, err_code(e), body.len, t0, user, ip, 0);
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        body.len = 0; /* the length is announced, the bytes are not sent */
    h2o_start_response(req, &gen);
    h2o_send(req, &body, body.len ? 1 : 0, H2O_SEND_STATE_FINAL);
}

static void send_job_response(struct http_job *j)
{
    h2o_req_t *req = j->req;
    struct resp *rs = &j->rs;
    h2o_iovec_t body;

    j->responded = true;
    if (h2o_timeout_is_linked(&j->timeout))
        h2o_timeout_unlink(&j->timeout);
    if (j->res != ERR_OK) {
        /* Headers a handler set still go out with its error (tus wants Tus-Resumable on
         * every answer, a 416 carries Content-Range). */
        for (size_t i = 0; i < rs->nheaders; i++)
            if (strcasecmp(rs->headers[i].name, "cache-control") != 0) /* errors: no-store */
                add_header(req, rs->headers[i].name, rs->headers[i].value);
        send_error_req(req, j->res, rctx_message(&j->cx, j->res), j->cx.id, NULL, j->t0_ns,
                       j->cx.who.user_id, j->cx.ip);
        return;
    }
    req->res.status = rs->status ? rs->status : 200;
    req->res.reason = reason_of(req->res.status);
    if (rs->content_type)
        add_header(req, "content-type", rs->content_type);
    add_header(req, "x-request-id", j->cx.id);
    for (size_t i = 0; i < rs->nheaders; i++)
        add_header(req, rs->headers[i].name, rs->headers[i].value);
    /* The body stays in the job's pool, which lives until h2o disposes the request. */
    body = h2o_iovec_init(rs->body, rs->body_len);
    log_request(req, j->cx.id, req->res.status, NULL, body.len, j->t0_ns, j->cx.who.user_id,
                j->cx.ip, j->batch);
    req->res.content_length = body.len;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        body.len = 0;
    j->gen.proceed = NULL;
    j->gen.stop = NULL;
    h2o_start_response(req, &j->gen);
    h2o_send(req, &body, body.len ? 1 : 0, H2O_SEND_STATE_FINAL);
}

/* ---- job lifetime ------------------------------------------------------------------------- */

static void job_free(struct http_job *j)
{
    struct conn_state *cs = conn_get(j->loop, j->conn_id, false);
    struct http_loop *l = j->loop;

    if (cs && cs->inflight)
        cs->inflight--;

    l->jobs--;
    rctx_dispose(&j->cx);
    /* A small cache of job structs spares a calloc/free pair per request. */
    if (l->nspare < SPARE_JOBS) {
        j->work.next = (struct work *)l->spare;
        l->spare = j;
        l->nspare++;
        return;
    }
    free(j);
}

static struct http_job *job_new(struct http_loop *l)
{
    struct http_job *j = l->spare;

    if (j) {
        l->spare = (struct http_job *)j->work.next;
        l->nspare--;
        memset(j, 0, sizeof *j);
        return j;
    }
    return calloc(1, sizeof *j);
}

static void on_req_dispose(void *p)
{
    struct http_job *j = *(struct http_job **)p;

    j->req = NULL;
    if (h2o_timeout_is_linked(&j->timeout))
        h2o_timeout_unlink(&j->timeout);
    if (!j->responded) {
        /* The client gave up before the answer: cancel, and count it against the
         * connection (HTTP/2 rapid reset). */
        struct conn_state *cs = conn_get(j->loop, j->conn_id, false);
        struct log_access a = {0};

        atomic_store(&j->cancelled, 1);
        if (cs && ++cs->abandoned > (uint32_t)j->loop->g->hc->cfg->http_conn_reset_budget)
            cs->poisoned = true;
        /* Like nginx's 499: the client closed the request before the answer. */
        a.rid = j->cx.id;
        a.method = j->rq.method ? j->rq.method : "";
        a.method_len = j->rq.method_len;
        a.path = j->rq.path ? j->rq.path : "";
        a.path_len = j->rq.path_len;
        a.proto = j->rq.http_version >= 0x200 ? "HTTP/2" : "HTTP/1.1";
        a.ip = j->cx.ip;
        a.status = 499;
        a.error_code = "client_closed_request";
        a.duration_ms = (double)(clock_mono_ns() - j->t0_ns) / 1e6;
        a.user_id = j->submit_user;
        log_access_emit(&a);
    }
    if (!j->in_worker)
        job_free(j);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    struct http_job *j = H2O_STRUCT_FROM_MEMBER(struct http_job, timeout, entry);

    if (j->responded || !j->req)
        return;
    atomic_store(&j->cancelled, 1);
    j->responded = true;
    log_warn(&j->cx, "request deadline passed before a worker answered");
    send_error_req(j->req, ERR_BUSY, "the server did not answer in time; retry", j->cx.id, NULL,
                   j->t0_ns, j->submit_user, j->cx.ip);
}

static void on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        struct http_job *j = H2O_STRUCT_FROM_MEMBER(struct http_job, msg, m);

        h2o_linklist_unlink(&m->link);
        j->in_worker = false;
        if (!j->req) {
            job_free(j);
            continue;
        }
        if (!j->responded)
            send_job_response(j);
    }
}

/* Worker thread: the token checks of all n jobs in one call, then the handlers: each route's
 * batch handler with all of its requests, others one by one. A job is not touched after its
 * message is sent: the loop may free it at once. */
static void run_jobs(struct http_job **jobs, size_t n, void *thread_arg)
{
    const struct http_config *hc = jobs[0]->loop->g->hc;
    struct rctx *cxs[HTTP_BATCH_MAX];
    const struct route *rts[HTTP_BATCH_MAX];
    enum err res[HTTP_BATCH_MAX];
    size_t idx[HTTP_BATCH_MAX], m = 0;
    bool ran[HTTP_BATCH_MAX] = {false}; /* handled, or answered without a handler */
    int64_t now = clock_now_ms();

    for (size_t i = 0; i < n; i++) {
        struct http_job *j = jobs[i];
        const struct route *rt = j->rq.match.route;

        j->cx.db = thread_arg;
        j->cx.now_ms = now;
        j->batch = (unsigned)n;
        j->res = ERR_OK;
        if (atomic_load(&j->cancelled)) {
            j->res = ERR_BUSY;
        } else if (j->auth_failed) {
            if (hc->auth_failed)
                hc->auth_failed(&j->cx, rt ? rt->method : "", rt ? rt->path : "", j->why);
            j->res = rctx_fail(&j->cx, ERR_UNAUTH, "invalid or expired token");
        } else if (rt->roles != ROLE_PUBLIC && hc->authorize) {
            cxs[m] = &j->cx;
            rts[m] = rt;
            idx[m++] = i;
        }
    }
    if (m) {
        hc->authorize(cxs, rts, m, res);
        for (size_t k = 0; k < m; k++)
            jobs[idx[k]]->res = res[k];
    }
    for (size_t i = 0; i < n; i++)
        if (jobs[i]->res == ERR_OK && atomic_load(&jobs[i]->cancelled))
            jobs[i]->res = ERR_BUSY; /* its deadline passed while the tokens were checked */
    for (size_t i = 0; i < n; i++) {
        struct http_job *j = jobs[i];
        const struct route *rt = j->rq.match.route;

        if (j->res != ERR_OK || ran[i])
            continue; /* answered, or already run by a batch handler */
        if (rt->batch && n > 1) {
            /* All requests of this route in the batch at once. */
            const struct req *rqs[HTTP_BATCH_MAX];
            struct resp *rss[HTTP_BATCH_MAX];
            struct http_job *group[HTTP_BATCH_MAX];
            size_t k = 0;

            for (size_t t = i; t < n; t++) {
                struct http_job *o = jobs[t];
                if (o->res == ERR_OK && !ran[t] && o->rq.match.route == rt) {
                    ran[t] = true;
                    group[k] = o;
                    cxs[k] = &o->cx;
                    rqs[k] = &o->rq;
                    rss[k++] = &o->rs;
                }
            }
            rt->batch(cxs, rqs, rss, res, k);
            for (size_t t = 0; t < k; t++)
                group[t]->res = res[t];
        } else {
            j->res = rt->handler(&j->cx, &j->rq, &j->rs);
            ran[i] = true;
        }
    }
    /* Only now: a batch handler's results may point into another request's memory. */
    for (size_t i = 0; i < n; i++) {
        struct http_job *j = jobs[i];

        if (hc->after_handler)
            hc->after_handler(&j->cx);
        j->cx.db = NULL;
        h2o_multithread_send_message(&j->loop->receiver, &j->msg);
    }
}

static void run_job(struct work *w, void *thread_arg)
{
    struct http_job *j = H2O_STRUCT_FROM_MEMBER(struct http_job, work, w);
    run_jobs(&j, 1, thread_arg);
}

static void run_batch(struct work *w, void *thread_arg)
{
    struct http_batch *b = H2O_STRUCT_FROM_MEMBER(struct http_batch, work, w);
    run_jobs(b->jobs, b->n, thread_arg);
    free(b);
}

/* The worker pool a route's jobs run on. */
static struct workpool *pool_for(const struct http_config *hc, const struct route *rt)
{
    if ((rt->flags & ROUTE_MEDIA) && hc->media_pool)
        return hc->media_pool;
    if ((rt->flags & ROUTE_OUTSIDE) && hc->outside_pool)
        return hc->outside_pool;
    if ((rt->flags & ROUTE_PASSWORD) && hc->password_pool)
        return hc->password_pool;
    return hc->db_pool;
}

/* ---- batches --------------------------------------------------------------------------- */

/* Queue the loop's pending ROUTE_BATCH jobs: one alone as itself, several as one batch. */
static void flush_pending(struct http_loop *l)
{
    size_t n = l->npending;
    struct http_batch *b = NULL;
    enum err res;

    if (n == 0)
        return;
    l->npending = 0;
    if (n == 1) {
        res = workpool_submit(l->g->hc->db_pool, &l->pending[0]->work);
    } else {
        b = malloc(sizeof *b);
        res = ERR_BUSY;
        if (b) {
            b->work.run = run_batch;
            b->n = n;
            memcpy(b->jobs, l->pending, n * sizeof *b->jobs);
            res = workpool_submit(l->g->hc->db_pool, &b->work);
        }
    }
    if (res == ERR_OK)
        return;
    free(b);
    for (size_t i = 0; i < n; i++) {
        struct http_job *j = l->pending[i];

        j->in_worker = false;
        if (!j->req) { /* the client left while it was pending */
            job_free(j);
            continue;
        }
        if (h2o_timeout_is_linked(&j->timeout))
            h2o_timeout_unlink(&j->timeout);
        if (!j->responded) {
            j->responded = true;
            send_error_req(j->req, ERR_BUSY, "server busy; retry", j->cx.id, NULL, j->t0_ns,
                           j->submit_user, j->cx.ip);
        }
    }
}

static void on_flush(uv_prepare_t *p)
{
    struct http_loop *l = p->data;

    uv_prepare_stop(p);
    flush_pending(l);
}

static void flush_closed(uv_handle_t *h)
{
    free(h);
}

/* ---- the request handler ------------------------------------------------------------------ */

static void peer_ip(h2o_req_t *req, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);

    out[0] = '\0';
    if (sl == 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)len);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)len);
}

static h2o_timeout_t *timeout_for(struct http_loop *l, uint64_t ms)
{
    for (size_t i = 0; i < l->ntimeouts; i++)
        if (l->timeouts[i].ms == ms)
            return &l->timeouts[i].t;
    if (l->ntimeouts == MAX_TIMEOUTS)
        return &l->timeouts[0].t; /* the default one; more distinct deadlines is a table bug */
    l->timeouts[l->ntimeouts].ms = ms;
    h2o_timeout_init(l->ctx.loop, &l->timeouts[l->ntimeouts].t, ms);
    return &l->timeouts[l->ntimeouts++].t;
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

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct http_loop *l = H2O_STRUCT_FROM_MEMBER(struct http_loop, ctx, req->conn->ctx);
    const struct http_config *hc = l->g->hc;
    struct http_job *j;
    const char *path = req->path.base;
    size_t plen = req->path.len;
    const char *q = memchr(path, '?', plen);
    const char *method = req->method.base;
    size_t mlen = req->method.len;
    char allow[96];
    enum err res;
    struct conn_state *cs;
    const struct route *rt;
    struct http_job **slot;
    ssize_t ai;
    bool deep;

    j = job_new(l);
    if (!j)
        return -1;
    rctx_init(&j->cx);
    j->loop = l;
    j->t0_ns = clock_mono_ns();
    j->conn_id = req->conn->id;
    l->jobs++;
    peer_ip(req, j->cx.ip, sizeof j->cx.ip);
    slot = h2o_mem_alloc_shared(&req->pool, sizeof *slot, on_req_dispose);
    *slot = j;
    j->req = req;

    if (q)
        plen = (size_t)(q - path);
    res = router_match(hc->router, method, mlen, path, plen, &j->rq.match, allow, sizeof allow);
    /* HEAD is answered by the GET route (without the body) unless a route takes HEAD itself
     * (tus uses HEAD to ask for an upload's offset). */
    if (res && mlen == 4 && memcmp(method, "HEAD", 4) == 0 &&
        router_match(hc->router, "GET", 3, path, plen, &j->rq.match, allow, sizeof allow) == ERR_OK)
        res = ERR_OK;
    if (res) {
        j->responded = true;
        send_error_req(req, res,
                       res == ERR_METHOD ? "method not allowed on this path" : "no such path",
                       j->cx.id, res == ERR_METHOD ? allow : NULL, j->t0_ns, 0, j->cx.ip);
        return 0;
    }
    {
        size_t hbytes = req->path.len;
        for (size_t i = 0; i < req->headers.size; i++)
            hbytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
        if (hbytes > MAX_HEADER_BYTES || req->headers.size > MAX_HEADERS) {
            j->responded = true;
            req->http1_is_persistent = 0;
            send_error_req(req, ERR_HEADERS, "request headers larger than 16 KiB", j->cx.id, NULL,
                           j->t0_ns, 0, j->cx.ip);
            return 0;
        }
    }
    rt = j->rq.match.route;
    cs = conn_get(l, j->conn_id, true);
    if (cs && cs->poisoned) {
        close_abusive(req);
        j->responded = true;
        send_error_req(req, ERR_RATELIMIT, "too many abandoned requests on this connection",
                       j->cx.id, NULL, j->t0_ns, 0, j->cx.ip);
        return 0;
    }
    if (req->entity.base && req->entity.len > rt->body_limit) {
        j->responded = true;
        send_error_req(req, ERR_TOOBIG,
                       rt->body_limit ? "request body larger than this endpoint accepts"
                                      : "this endpoint takes no request body",
                       j->cx.id, NULL, j->t0_ns, 0, j->cx.ip);
        return 0;
    }
    if (req->entity.len && !(rt->flags & ROUTE_RAW_BODY) && !is_json_type(req)) {
        j->responded = true;
        send_error_req(req, ERR_MEDIATYPE, "send the body as application/json", j->cx.id, NULL,
                       j->t0_ns, 0, j->cx.ip);
        return 0;
    }

    /* Copy the request into the job: h2o frees its buffers if the client goes away while a
     * worker still reads them. Loop routes answer before returning, so they borrow. */
    deep = !(rt->flags & ROUTE_LOOP);
    j->rq.method = keep(j, deep, req->method.base, req->method.len);
    j->rq.method_len = req->method.len;
    j->rq.path = keep(j, deep, path, plen);
    j->rq.path_len = plen;
    /* Route params point into the kept path. */
    for (size_t i = 0; i < j->rq.match.nparams; i++)
        j->rq.match.params[i].value = j->rq.path + (j->rq.match.params[i].value - path);
    if (q) {
        j->rq.query = keep(j, deep, q + 1, req->path.len - plen - 1);
        j->rq.query_len = req->path.len - plen - 1;
    }
    if (req->entity.base) {
        j->rq.body = keep(j, deep, req->entity.base, req->entity.len);
        j->rq.body_len = req->entity.len;
    }
    {
        size_t n = req->headers.size < MAX_HEADERS ? req->headers.size : MAX_HEADERS;
        struct req_header *hs = rctx_alloc(&j->cx, (n ? n : 1) * sizeof *hs);
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
    j->rq.http_version = req->version;

    /* Authentication on the loop: a signature check, no I/O. */
    if (rt->roles != ROLE_PUBLIC) {
        ai = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
        if (ai < 0) {
            j->responded = true;
            send_error_req(req, ERR_UNAUTH, "missing bearer token", j->cx.id, NULL, j->t0_ns, 0,
                           j->cx.ip);
            return 0;
        }
        {
            const h2o_iovec_t *v = &req->headers.entries[ai].value;
            if (v->len < 8 || strncasecmp(v->base, "Bearer ", 7) != 0 || !hc->authenticate) {
                j->auth_failed = true;
                snprintf(j->why, sizeof j->why, "not a bearer token");
            } else if (hc->authenticate(v->base + 7, v->len - 7, &j->cx.who, j->why,
                                        sizeof j->why)) {
                j->auth_failed = true;
                memset(&j->cx.who, 0, sizeof j->cx.who);
            } else if (!(j->cx.who.roles & rt->roles)) {
                j->responded = true;
                send_error_req(req, ERR_FORBIDDEN, "your role may not call this endpoint", j->cx.id,
                               NULL, j->t0_ns, j->cx.who.user_id, j->cx.ip);
                return 0;
            }
        }
    }

    /* Only public routes run on the loop: any route with roles needs the per-request token
     * version check, which reads the database. */
    if ((rt->flags & ROUTE_LOOP) && rt->roles == ROLE_PUBLIC) {
        j->res = rt->handler(&j->cx, &j->rq, &j->rs);
        send_job_response(j);
        return 0;
    }
    if (cs && cs->inflight >= (uint32_t)hc->cfg->http_max_inflight_per_conn) {
        j->responded = true;
        send_error_req(req, ERR_BUSY, "too many requests in flight on this connection", j->cx.id,
                       NULL, j->t0_ns, j->cx.who.user_id, j->cx.ip);
        return 0;
    }
    j->work.run = run_job;
    j->submit_user = j->cx.who.user_id;
    j->in_worker = true;
    if ((rt->flags & (ROUTE_BATCH | ROUTE_MEDIA)) == ROUTE_BATCH && l->flush) {
        /* Queued when this turn of the loop ends, together with the others of its kind. */
        if (l->npending == 0)
            uv_prepare_start(l->flush, on_flush);
        l->pending[l->npending++] = j;
        if (l->npending == HTTP_BATCH_MAX)
            flush_pending(l);
        res = ERR_OK;
    } else {
        res = workpool_submit(pool_for(hc, rt), &j->work);
    }
    if (res) {
        j->in_worker = false;
        j->responded = true;
        send_error_req(req, ERR_BUSY, "server busy; retry", j->cx.id, NULL, j->t0_ns,
                       j->cx.who.user_id, j->cx.ip);
        return 0;
    }
    if (cs)
        cs->inflight++;
    else
        j->conn_id = 0; /* untracked: job_free must not decrement a slot it never took */
    j->timeout.cb = on_timeout;
    h2o_timeout_link(l->ctx.loop,
                     timeout_for(l, (uint64_t)(rt->timeout_ms ? rt->timeout_ms
                                                              : hc->cfg->http_request_timeout_ms)),
                     &j->timeout);
    return 0;
}

/* ---- listeners ---------------------------------------------------------------------------- */

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    long port;
    char *end;

    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']')
            return -1;
        host[hl - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return -1;
        *len = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0)
            snprintf(host, sizeof host, "127.0.0.1");
        if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &a4->sin_addr) != 1)
            return -1;
        *len = sizeof *a4;
    }
    return 0;
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct listener *lis = H2O_STRUCT_FROM_MEMBER(struct listener, tcp, (uv_tcp_t *)listener);
    uv_tcp_t *conn;
    h2o_socket_t *sock;

    if (status != 0)
        return;
    conn = calloc(1, sizeof *conn);
    if (!conn)
        return;
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
    h2o_accept(lis->actx, sock);
}

static int listen_on(uv_loop_t *loop, struct listener *lis, struct sockaddr_storage *ss,
                     socklen_t sl, char *errbuf, size_t errlen)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;

    if (fd < 0) {
        snprintf(errbuf, errlen, "http: socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    if (bind(fd, (struct sockaddr *)ss, sl) != 0) {
        snprintf(errbuf, errlen, "http.listen: cannot bind: %s", strerror(errno));
        close(fd);
        return -1;
    }
    uv_tcp_init(loop, &lis->tcp);
    if (uv_tcp_open(&lis->tcp, fd) != 0 ||
        uv_listen((uv_stream_t *)&lis->tcp, 1024, on_accept) != 0) {
        snprintf(errbuf, errlen, "http.listen: cannot listen");
        uv_close((uv_handle_t *)&lis->tcp, NULL);
        return -1;
    }
    lis->open = true;
    if (((struct sockaddr_in *)ss)->sin_port == 0) {
        /* Port 0: take the kernel's choice so later loops bind the same port. */
        socklen_t l2 = sl;
        getsockname(fd, (struct sockaddr *)ss, &l2);
    }
    return 0;
}

/* ---- global and per-loop setup ------------------------------------------------------------ */

struct http_global *http_global_new(const struct http_config *hc, char *errbuf, size_t errlen)
{
    struct http_global *g = calloc(1, sizeof *g);
    h2o_pathconf_t *pc;
    h2o_handler_t *h;
    const struct cfg *c = hc->cfg;

    if (!g) {
        snprintf(errbuf, errlen, "http: out of memory");
        return NULL;
    }
    g->hc = hc;
    if (parse_addr(c->http_listen, &g->addr, &g->addrlen)) {
        snprintf(errbuf, errlen, "config: http.listen: expected host:port, got \"%s\"",
                 c->http_listen);
        free(g);
        return NULL;
    }
    h2o_config_init(&g->conf);
    g->conf.server_name = h2o_iovec_init(H2O_STRLIT("cityd"));
    /* h2o's default is 1 GiB; nothing we route takes more than the largest route limit.
     * Bodies up to 1 MiB always reach the router, so a body over a route's own limit gets a
     * 413 in JSON rather than h2o's REFUSED_STREAM. */
    g->conf.max_request_entity_size =
        router_max_body(hc->router) > (1u << 20) ? router_max_body(hc->router) : (1u << 20);
    g->conf.http1.req_timeout = (uint64_t)c->http_body_timeout_ms;
    g->conf.http2.max_concurrent_requests_per_connection = 100;
    /* Big bodies spill to an unlinked temp file instead of anonymous memory. */
    h2o_socket_buffer_mmap_settings.threshold = 4u << 20;
    g->host = h2o_config_register_host(&g->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    pc = h2o_config_register_path(g->host, "/", 0);
    h = h2o_create_handler(pc, sizeof(*h));
    h->on_req = on_req;
    if (c->http_tls_cert[0]) {
        if (parse_addr(c->http_tls_listen[0] ? c->http_tls_listen : "127.0.0.1:8443", &g->tls_addr,
                       &g->tls_addrlen)) {
            snprintf(errbuf, errlen, "config: http.tls_listen: expected host:port");
            goto fail;
        }
        g->ssl = SSL_CTX_new(TLS_server_method());
        SSL_CTX_set_min_proto_version(g->ssl, TLS1_2_VERSION);
        SSL_CTX_set_options(g->ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
        if (SSL_CTX_use_certificate_chain_file(g->ssl, c->http_tls_cert) != 1) {
            snprintf(errbuf, errlen, "config: http.tls_cert: cannot load %s", c->http_tls_cert);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(g->ssl, c->http_tls_key, SSL_FILETYPE_PEM) != 1) {
            snprintf(errbuf, errlen, "config: http.tls_key: cannot load %s", c->http_tls_key);
            goto fail;
        }
        h2o_ssl_register_alpn_protocols(g->ssl, h2o_http2_alpn_protocols);
    }
    atomic_store(&g->port, -1);
    return g;
fail:
    if (g->ssl)
        SSL_CTX_free(g->ssl);
    h2o_config_dispose(&g->conf);
    free(g);
    return NULL;
}

void http_global_free(struct http_global *g)
{
    if (!g)
        return;
    if (g->ssl)
        SSL_CTX_free(g->ssl);
    h2o_config_dispose(&g->conf);
    free(g);
}

int http_global_port(const struct http_global *g)
{
    return atomic_load(&g->port);
}

struct http_loop *http_loop_new(struct http_global *g, uv_loop_t *loop, char *errbuf, size_t errlen)
{
    struct http_loop *l = calloc(1, sizeof *l);

    if (!l) {
        snprintf(errbuf, errlen, "http: out of memory");
        return NULL;
    }
    l->g = g;
    l->uv = loop;
    h2o_context_init(&l->ctx, loop, &g->conf);
    h2o_multithread_register_receiver(l->ctx.queue, &l->receiver, on_messages);
    l->actx.ctx = &l->ctx;
    l->actx.hosts = g->conf.hosts;
    l->actx_tls = l->actx;
    l->actx_tls.ssl_ctx = g->ssl;
    l->lis.actx = &l->actx;
    l->lis_tls.actx = &l->actx_tls;
    (void)timeout_for(l, (uint64_t)g->hc->cfg->http_request_timeout_ms);
    if (listen_on(loop, &l->lis, &g->addr, g->addrlen, errbuf, errlen))
        goto fail;
    if (g->ssl && listen_on(loop, &l->lis_tls, &g->tls_addr, g->tls_addrlen, errbuf, errlen))
        goto fail;
    atomic_store(&g->port, ntohs(((struct sockaddr_in *)&g->addr)->sin_port));
    l->flush = malloc(sizeof *l->flush); /* NULL: batch routes are queued one by one */
    if (l->flush) {
        uv_prepare_init(loop, l->flush);
        l->flush->data = l;
    }
    return l;
fail:
    h2o_multithread_unregister_receiver(l->ctx.queue, &l->receiver);
    free(l);
    return NULL;
}

void http_loop_shutdown(struct http_loop *l)
{
    if (l->lis.open) {
        uv_close((uv_handle_t *)&l->lis.tcp, NULL);
        l->lis.open = false;
    }
    if (l->lis_tls.open) {
        uv_close((uv_handle_t *)&l->lis_tls.tcp, NULL);
        l->lis_tls.open = false;
    }
    h2o_context_request_shutdown(&l->ctx);
}

bool http_loop_idle(struct http_loop *l)
{
    return l->jobs == 0 && h2o_linklist_is_empty(&l->ctx.http1._conns) &&
           h2o_linklist_is_empty(&l->ctx.http2._conns) &&
           !h2o_timeout_is_linked(&l->ctx.http2._graceful_shutdown_timeout);
}

void http_loop_free(struct http_loop *l, bool force)
{
    if (!l)
        return;
    if (force) {
        /* Connections are still open: h2o_context_dispose would assert. The process is about
         * to exit; leave the context as it is. */
        return;
    }
    if (l->flush) /* idle: nothing is pending; freed once the loop has closed it */
        uv_close((uv_handle_t *)l->flush, flush_closed);
    while (l->spare) {
        struct http_job *next = (struct http_job *)l->spare->work.next;
        free(l->spare);
        l->spare = next;
    }
    for (size_t i = 0; i < l->ntimeouts; i++)
        h2o_timeout_dispose(l->ctx.loop, &l->timeouts[i].t);
    h2o_multithread_unregister_receiver(l->ctx.queue, &l->receiver);
    h2o_context_dispose(&l->ctx);
    free(l);
}
