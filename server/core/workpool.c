/* server/core/workpool.c */
#include "workpool.h"

#include <pthread.h>
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
    /* Metrics of this pool (pools of one name share them). */
    struct metrics_series *m_queued, *m_running, *m_done, *m_rejected, *m_wait;
};

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

        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        w = p->head;
        if (!w) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        p->head = w->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->mu);
        metrics_gauge_add(p->m_queued, -1);
        metrics_gauge_add(p->m_running, 1);
        metrics_observe(p->m_wait, (double)(clock_mono_ns() - w->queued_ns) / 1e9);
        w->next = NULL;
        /* w may be freed by run(): touch only the pool afterwards. */
        w->run(w, targ);
        metrics_gauge_add(p->m_running, -1);
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
    if (p->tail)
        p->tail->next = w;
    else
        p->head = w;
    p->tail = w;
    p->queued++;
    metrics_gauge_add(p->m_queued, 1);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return ERR_OK;
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
