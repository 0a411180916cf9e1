/* server/core/workpool.c */
#include "workpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "log.h"
#include "metrics.h"

struct workpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct work *head, *tail;
    size_t queued, limit;
    bool stopping;
    int nthreads;
    pthread_t *threads;
    void *(*thread_init)(int idx, void *arg);
    void (*thread_fini)(void *value);
    void *arg;
    char name[16];
    /* Shedding (workpool.h). Written under mu, read without it by workpool_admit. */
    _Atomic uint64_t target_ns, interval_ns; /* target 0: off */
    _Atomic uint64_t take_ns;                /* when a thread last took a job (run or shed) */
    _Atomic uint64_t busy_ns;       /* when the queue last went from empty to not; 0: empty */
    _Atomic size_t nqueued;         /* = queued */
    _Atomic uint64_t run_ns;        /* moving average of how long a job runs (shed ones excluded) */
    _Atomic uint64_t shed_until_ns; /* overloaded until then at least (see standing) */
    _Atomic uint64_t shed_unlogged; /* shed since the last log line */
    _Atomic uint64_t shed_logged_ns; /* clock_mono_ns of the last log line; 0: none yet */
    /* Metrics of this pool (pools of one name share them). */
    struct metrics_series *m_queued, *m_running, *m_done, *m_rejected, *m_wait, *m_shed;
};

#define RELAXED memory_order_relaxed

/* Whether the pool is overloaded: its queue has held waiting jobs without a break for the
 * interval (a standing queue), or it shed a job less than an interval ago. The second keeps
 * the state while shedding itself empties the queue (queued jobs past the target go at once):
 * otherwise the next interval would again let jobs queue unchecked, a sawtooth. busy_ns as
 * read from the atomic. */
static bool standing(const struct workpool *p, uint64_t now, uint64_t busy_ns)
{
    uint64_t interval = atomic_load_explicit(&p->interval_ns, RELAXED);

    return (busy_ns && now > busy_ns && now - busy_ns >= interval) ||
           now < atomic_load_explicit(&p->shed_until_ns, RELAXED);
}

/* Count a shed job; at most one log line a second per pool, with the count since the last. */
static void note_shed(struct workpool *p, uint64_t now, uint64_t waited_ns)
{
    uint64_t last = atomic_load_explicit(&p->shed_logged_ns, RELAXED);
    uint64_t n;

    metrics_inc(p->m_shed);
    atomic_store_explicit(&p->shed_until_ns, now + atomic_load_explicit(&p->interval_ns, RELAXED),
                          RELAXED);
    atomic_fetch_add_explicit(&p->shed_unlogged, 1, RELAXED);
    if (last && now - last < 1000000000u)
        return;
    if (!atomic_compare_exchange_strong(&p->shed_logged_ns, &last, now))
        return; /* another thread writes this second's line */
    n = atomic_exchange_explicit(&p->shed_unlogged, 0, RELAXED);
    log_warn(NULL,
             "workpool %s overloaded: %llu jobs shed since the last such line (a new job would "
             "wait %.1f ms, target %.1f ms, %zu queued); clients got 503 with Retry-After",
             p->name, (unsigned long long)n, (double)waited_ns / 1e6,
             (double)atomic_load_explicit(&p->target_ns, RELAXED) / 1e6, workpool_queued(p));
}

struct start {
    struct workpool *p;
    int idx;
};

static void *thread_main(void *v)
{
    struct start st = *(struct start *)v;
    struct workpool *p = st.p;
    void *targ = NULL;
    char tname[16];

    free(v);
    snprintf(tname, sizeof tname, "%.10s-%d", p->name, st.idx);
    pthread_setname_np(pthread_self(), tname);
    if (p->thread_init)
        targ = p->thread_init(st.idx, p->arg);
    for (;;) {
        struct work *w;
        uint64_t now, waited;
        bool shed;

        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        w = p->head;
        if (!w) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        now = clock_mono_ns();
        waited = now > w->queued_ns ? now - w->queued_ns : 0;
        /* Admitted during an overload (so expected to wait about the target), it waited twice
         * that: the estimate was off or the threads stalled. A burst queued before the
         * overload showed is served in full, as it was before shedding existed. */
        shed =
            w->shed && w->overloaded && waited >= 2 * atomic_load_explicit(&p->target_ns, RELAXED);
        atomic_store_explicit(&p->take_ns, now, RELAXED);
        p->head = w->next;
        if (!p->head) {
            p->tail = NULL;
            atomic_store_explicit(&p->busy_ns, 0, RELAXED);
        }
        p->queued--;
        atomic_store_explicit(&p->nqueued, p->queued, RELAXED);
        pthread_mutex_unlock(&p->mu);
        metrics_gauge_add(p->m_queued, -1);
        metrics_gauge_add(p->m_running, 1);
        metrics_observe(p->m_wait, (double)waited / 1e9);
        w->next = NULL;
        /* w may be freed by run() or shed(): touch only the pool afterwards. */
        if (shed) {
            note_shed(p, now, waited);
            w->shed(w, targ);
        } else {
            uint64_t d, avg;

            w->run(w, targ);
            /* Threads update it without a lock: a lost update only slows the average. */
            d = clock_mono_ns() - now;
            avg = atomic_load_explicit(&p->run_ns, RELAXED);
            atomic_store_explicit(&p->run_ns, avg ? avg - avg / 16 + d / 16 : d, RELAXED);
        }
        metrics_gauge_add(p->m_running, -1);
        if (!shed)
            metrics_inc(p->m_done);
    }
    if (p->thread_fini)
        p->thread_fini(targ);
    return NULL;
}

struct workpool *workpool_new(const char *name, int nthreads, size_t queue_limit,
                              void *(*thread_init)(int idx, void *arg),
                              void (*thread_fini)(void *value), void *arg)
{
    struct workpool *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->limit = queue_limit;
    p->thread_init = thread_init;
    p->thread_fini = thread_fini;
    p->arg = arg;
    snprintf(p->name, sizeof p->name, "%s", name);
    {
        char lb[64];
        metrics_labels(lb, sizeof lb, "pool", p->name, (const char *)NULL);
        p->m_queued = metrics_gauge("cityd_workpool_queued_jobs",
                                    "Jobs waiting in a worker pool's queue.", lb);
        p->m_running = metrics_gauge("cityd_workpool_running_jobs",
                                     "Jobs running on a worker pool's threads.", lb);
        p->m_done = metrics_counter("cityd_workpool_jobs_total", "Jobs a worker pool has run.", lb);
        p->m_rejected = metrics_counter("cityd_workpool_rejected_jobs_total",
                                        "Jobs refused because the queue was full or stopping.", lb);
        p->m_wait = metrics_histogram("cityd_workpool_queue_wait_seconds",
                                      "Time jobs waited in a worker pool's queue.", lb, NULL, 0);
        p->m_shed = metrics_counter(
            "cityd_workpool_shed_jobs_total",
            "Jobs refused or dropped because the worker pool was overloaded (shedding).", lb);
        metrics_gauge_set(metrics_gauge("cityd_workpool_threads", "Threads of a worker pool.", lb),
                          nthreads);
    }
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return NULL;
    }
    for (int i = 0; i < nthreads; i++) {
        struct start *st = malloc(sizeof *st);
        if (st) {
            st->p = p;
            st->idx = i;
        }
        if (!st || pthread_create(&p->threads[i], NULL, thread_main, st) != 0) {
            free(st);
            log_error(NULL, "cannot start worker thread %s-%d", name, i);
            workpool_free(p);
            return NULL;
        }
        p->nthreads = i + 1;
    }
    return p;
}

enum err workpool_submit(struct workpool *p, struct work *w)
{
    pthread_mutex_lock(&p->mu);
    if (p->stopping || p->queued >= p->limit) {
        pthread_mutex_unlock(&p->mu);
        metrics_inc(p->m_rejected);
        return ERR_BUSY;
    }
    w->next = NULL;
    w->queued_ns = clock_mono_ns();
    w->overloaded = atomic_load_explicit(&p->target_ns, RELAXED) &&
                    standing(p, w->queued_ns, atomic_load_explicit(&p->busy_ns, RELAXED));
    if (p->tail) {
        p->tail->next = w;
    } else {
        p->head = w;
        atomic_store_explicit(&p->busy_ns, w->queued_ns, RELAXED);
    }
    p->tail = w;
    p->queued++;
    atomic_store_explicit(&p->nqueued, p->queued, RELAXED);
    metrics_gauge_add(p->m_queued, 1);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return ERR_OK;
}

void workpool_set_shedding(struct workpool *p, uint64_t target_ns, uint64_t interval_ns)
{
    atomic_store_explicit(&p->interval_ns, interval_ns, RELAXED);
    atomic_store_explicit(&p->target_ns, target_ns, RELAXED);
}

enum err workpool_admit(struct workpool *p, uint64_t *wait_ns)
{
    uint64_t target = atomic_load_explicit(&p->target_ns, RELAXED);
    uint64_t busy, last, now, wait, idle;

    if (!target)
        return ERR_OK;
    busy = atomic_load_explicit(&p->busy_ns, RELAXED);
    if (!busy)
        return ERR_OK; /* nothing waits: the job will not either */
    now = clock_mono_ns();
    if (!standing(p, now, busy))
        return ERR_OK;
    /* What a new job would wait: the jobs ahead of it, shared by the threads, each taking as
     * long as jobs have lately been taking. Not the oldest job's age: while new jobs are
     * refused it grows although the queue shrinks, so refusing on it would refuse until the
     * queue is empty, and the next interval would let a whole interval's worth of jobs queue
     * up again (a sawtooth). Not a rate measured over the queue either: one measured while
     * jobs are refused is stale, and it could keep refusing on it. */
    wait = (uint64_t)atomic_load_explicit(&p->nqueued, RELAXED) *
           atomic_load_explicit(&p->run_ns, RELAXED) /
           (uint64_t)(p->nthreads > 0 ? p->nthreads : 1);
    /* Threads that take nothing at all for an interval (a stalled database) make no rate to go
     * by. (Not sooner: on a busy machine threads may wait tens of ms for a CPU.) */
    last = atomic_load_explicit(&p->take_ns, RELAXED);
    if (last < busy)
        last = busy; /* no take since the queue last filled: count from then */
    idle = now > last ? now - last : 0;
    if (wait < target && idle < atomic_load_explicit(&p->interval_ns, RELAXED))
        return ERR_OK;
    if (wait < idle)
        wait = idle;
    if (wait_ns)
        *wait_ns = wait;
    note_shed(p, now, wait);
    return ERR_BUSY;
}

size_t workpool_queued(struct workpool *p)
{
    size_t n;
    pthread_mutex_lock(&p->mu);
    n = p->queued;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void workpool_free(struct workpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
