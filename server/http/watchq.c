/* server/http/watchq.c: no epoll_ctl for a watcher whose events did not change.
 *
 * libuv 1.44 queues a descriptor's watcher for an `epoll_ctl` whenever an event is stopped,
 * even one that was never registered: `uv__io_start` returns early when the mask is already
 * what the kernel has, `uv__io_stop` does not. Every completed `uv_write` ends in `uv__drain`
 * → `uv__io_stop(POLLOUT)`, and POLLOUT was never started when the kernel took the whole write
 * (the common case), so the next poll sends an `EPOLL_CTL_MOD` that changes nothing: one
 * system call per HTTP/1.1 response and per HTTP/2 write (docs/benchmarks.md, "HTTP loop
 * speed").
 *
 * Each loop therefore has a prepare handle, started before any other so that it runs last
 * (libuv runs the newest prepare handle first), right before the poll: it takes out of the
 * loop's watcher queue every watcher whose wanted mask (`pevents`) equals the mask epoll
 * already has (`events`, non-zero). That is exactly the `epoll_ctl` libuv would have made with
 * the same mask; a watcher that was never added (`events` 0) or whose mask did change stays
 * queued. The queue's shape is libuv 1.44's (`src/queue.h`: two pointers, next and prev,
 * circular around the loop's head): checked at compile time against the version. */
#include "http_int.h"

#include <stddef.h>
#include <uv.h>

_Static_assert(UV_VERSION_MAJOR == 1 && UV_VERSION_MINOR == 44,
               "watchq.c walks libuv 1.44's watcher queue (src/queue.h, src/unix/epoll.c)");

static void prune(uv_prepare_t *p)
{
    void **head = p->loop->watcher_queue;
    void **q = head[0];

    while (q != head) {
        void **next = q[0];
        uv__io_t *w = (uv__io_t *)(void *)((char *)q - offsetof(uv__io_t, watcher_queue));

        if (w->events != 0 && w->events == w->pevents) {
            ((void **)q[1])[0] = q[0]; /* QUEUE_REMOVE */
            ((void **)q[0])[1] = q[1];
            q[0] = q; /* QUEUE_INIT: libuv tests "not queued" as q == next */
            q[1] = q;
        }
        q = next;
    }
}

void http__watchq_start(struct http_loop *l)
{
    uv_prepare_init(l->uv, &l->watchq);
    uv_prepare_start(&l->watchq, prune);
    uv_unref((uv_handle_t *)&l->watchq); /* never what keeps a loop running */
    l->watchq_on = true;
}

void http__watchq_stop(struct http_loop *l)
{
    if (!l->watchq_on)
        return;
    uv_close((uv_handle_t *)&l->watchq, NULL);
    l->watchq_on = false;
}
