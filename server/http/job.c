/* server/http/job.c: the life of a request that a worker answers — job structs, deadlines,
 * batches of quick reads, the worker side (token checks, handlers) and the way back to the
 * loop through h2o's multithread queue. See server.h for the path of a request. */
#include "http_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "server/core/clock.h"
#include "server/core/log.h"
#include "server/core/roles.h"

/* ---- job lifetime ------------------------------------------------------------------------- */

void http__job_free(struct http_job *j)
{
    struct http_loop *l = j->loop;
    struct conn_state *cs = j->counted ? http__conn_find(l, j->conn_fd, j->conn_gen) : NULL;

    if (cs && cs->inflight) /* only a job that took a place gives one back */
        cs->inflight--;

    l->jobs--;
    http__file_close(j);
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

struct http_job *http__job_new(struct http_loop *l)
{
    struct http_job *j = l->spare;

    if (j) {
        l->spare = (struct http_job *)j->work.next;
        l->nspare--;
        memset(j, 0, offsetof(struct http_job, cx));
        return j;
    }
    return calloc(1, sizeof *j);
}

/* Loop thread: true when j will certainly not run (it had not started). */
static bool job_cancel(struct http_job *j)
{
    int expect = JOB_QUEUED;
    return atomic_compare_exchange_strong(&j->state, &expect, JOB_CANCELLED) ||
           expect == JOB_CANCELLED;
}

/* Worker thread: true when j may run (the loop had not cancelled it). */
static bool job_start(struct http_job *j)
{
    int expect = JOB_QUEUED;
    return atomic_compare_exchange_strong(&j->state, &expect, JOB_RUNNING) || expect == JOB_RUNNING;
}

void http__job_on_dispose(void *p)
{
    struct http_job *j = *(struct http_job **)p;

    j->req = NULL;
    if (h2o_timeout_is_linked(&j->timeout))
        h2o_timeout_unlink(&j->timeout);
    if (!j->responded) {
        /* The client gave up before the answer: cancel, and count it against the
         * connection (HTTP/2 rapid reset). */
        struct conn_state *cs = http__conn_find(j->loop, j->conn_fd, j->conn_gen);

        (void)job_cancel(j); /* nobody is left to answer: skip it if it has not started */
        if (cs && http__conn_abandoned(j->loop, cs, j->conn_fd))
            log_warn(&j->cx, "connection past its reset budget (rapid reset): closed");
        /* Like nginx's 499: the client closed the request before the answer. */
        http__log_access(j, 499, "client_closed_request", 0, j->submit_user);
    }
    if (!j->in_worker)
        http__job_free(j);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    struct http_job *j = H2O_STRUCT_FROM_MEMBER(struct http_job, timeout, entry);

    if (j->responded || !j->req)
        return;
    if (job_cancel(j)) {
        log_warn(&j->cx, "request deadline passed before a worker started it");
        http__send_error(j, ERR_BUSY, "the server did not start this request in time; retry",
                         j->submit_user);
        return;
    }
    if (strcmp(j->rq.match.route->method, "GET") == 0) {
        /* A read changes nothing: repeating it is always safe. */
        log_warn(&j->cx, "request deadline passed while its handler ran (a read)");
        http__send_error(j, ERR_BUSY, "the server did not answer in time; retry", j->submit_user);
        return;
    }
    /* The handler is running and may still commit: "retry" would make an honest client do
     * it twice. Say that the outcome is unknown; a retry with the same Idempotency-Key
     * answers what happened. */
    log_warn(&j->cx, "request deadline passed while its handler ran; outcome unknown");
    http__send_error(j, ERR_OUTCOME,
                     "the request did not finish in time and may still take effect; repeat it "
                     "with the same Idempotency-Key, or read the resource, to learn the outcome",
                     j->submit_user);
}

void http__job_on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    /* The next node is read before this one is unlinked (and its job perhaps freed). */
    for (h2o_linklist_t *node = messages->next, *next; node != messages; node = next) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, node);
        struct http_job *j = H2O_STRUCT_FROM_MEMBER(struct http_job, msg, m);

        next = node->next;
        h2o_linklist_unlink(node);
        j->in_worker = false;
        if (!j->req) {
            http__job_free(j);
            continue;
        }
        if (!j->responded)
            http__send_response(j);
    }
}

h2o_timeout_t *http__timeout_for(struct http_loop *l, uint64_t ms)
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

/* ---- the worker side ---------------------------------------------------------------------- */

#define SHED_QUEUED_MSG                                                                            \
    "server overloaded: this request waited too long for a worker and was not run; retry later"

/* Worker thread: the token checks of all n jobs in one call, then the handlers: each route's
 * batch handler with all of its requests, others one by one. shed: the overloaded pool
 * dropped them (workpool.h): each is answered 503 without running. A job is not touched after
 * its message is sent: the loop may free it at once. */
static void run_jobs(struct http_job **jobs, size_t n, void *thread_arg, bool shed)
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
        if (shed) {
            /* Never moved to RUNNING: like a cancelled job, it certainly had no effect. */
            j->res = rctx_fail(&j->cx, ERR_BUSY, SHED_QUEUED_MSG);
        } else if (atomic_load(&j->state) == JOB_CANCELLED) {
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
    /* From here a handler runs only for a job this worker has moved to RUNNING: one whose
     * deadline passed while the tokens were checked is skipped, and its 503 was true. */
    for (size_t i = 0; i < n; i++)
        if (jobs[i]->res == ERR_OK && !job_start(jobs[i]))
            jobs[i]->res = ERR_BUSY;
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
    run_jobs(&j, 1, thread_arg, false);
}

static void shed_job(struct work *w, void *thread_arg)
{
    struct http_job *j = H2O_STRUCT_FROM_MEMBER(struct http_job, work, w);
    run_jobs(&j, 1, thread_arg, true);
}

static void run_batch(struct work *w, void *thread_arg)
{
    struct http_batch *b = H2O_STRUCT_FROM_MEMBER(struct http_batch, work, w);
    run_jobs(b->jobs, b->n, thread_arg, false);
    free(b);
}

static void shed_batch(struct work *w, void *thread_arg)
{
    struct http_batch *b = H2O_STRUCT_FROM_MEMBER(struct http_batch, work, w);
    run_jobs(b->jobs, b->n, thread_arg, true);
    free(b);
}

/* ---- queueing and batches ----------------------------------------------------------------- */

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
            b->work.shed = shed_batch; /* ROUTE_BATCH routes are never ROUTE_NO_SHED probes */
            b->n = n;
            /* an array of job pointers, copied as such */
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
            http__job_free(j);
            continue;
        }
        if (h2o_timeout_is_linked(&j->timeout))
            h2o_timeout_unlink(&j->timeout);
        if (!j->responded)
            http__send_error(j, ERR_BUSY, "server busy; retry", j->submit_user);
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

enum err http__job_queue(struct http_job *j)
{
    struct http_loop *l = j->loop;
    const struct http_config *hc = l->g->hc;
    const struct route *rt = j->rq.match.route;
    enum err res;

    j->work.run = run_job;
    j->work.shed = (rt->flags & ROUTE_NO_SHED) ? NULL : shed_job;
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
        return res;
    }
    j->timeout.cb = on_timeout;
    h2o_timeout_link(
        l->ctx.loop,
        http__timeout_for(
            l, (uint64_t)(rt->timeout_ms ? rt->timeout_ms : hc->cfg->http_request_timeout_ms)),
        &j->timeout);
    return ERR_OK;
}

bool http__job_shed(struct http_job *j)
{
    const struct route *rt = j->rq.match.route;
    uint64_t waited = 0;

    if (rt->flags & ROUTE_NO_SHED)
        return false;
    return workpool_admit(pool_for(j->loop->g->hc, rt), &waited) != ERR_OK;
}

void http__jobs_init(struct http_loop *l)
{
    const struct cfg *cfg = l->g->hc->cfg;

    (void)http__timeout_for(l, (uint64_t)cfg->http_request_timeout_ms);
    /* The database pool sheds this engine's jobs under overload (every loop sets the same). */
    if (l->g->hc->db_pool)
        workpool_set_shedding(l->g->hc->db_pool, (uint64_t)cfg->db_queue_target_ms * 1000000u,
                              (uint64_t)cfg->db_queue_interval_ms * 1000000u);
    l->flush = malloc(sizeof *l->flush); /* NULL: batch routes are queued one by one */
    if (l->flush) {
        uv_prepare_init(l->uv, l->flush);
        l->flush->data = l;
    }
}

void http__jobs_dispose(struct http_loop *l)
{
    if (l->flush) /* idle: nothing is pending; freed once the loop has closed it */
        uv_close((uv_handle_t *)l->flush, flush_closed);
    l->flush = NULL;
    while (l->spare) {
        struct http_job *next = (struct http_job *)l->spare->work.next;
        free(l->spare);
        l->spare = next;
    }
    for (size_t i = 0; i < l->ntimeouts; i++)
        h2o_timeout_dispose(l->ctx.loop, &l->timeouts[i].t);
    l->ntimeouts = 0;
}
