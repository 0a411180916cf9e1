/* server/http/http_int.h: internals shared by the files of server/http.
 *
 *   listen.c  listeners, TLS, connection counting, the global and per-loop set-up/teardown
 *   server.c  on_req (route, limits, token, role, the hand-off), sending answers, access log
 *   job.c     job lifetime, deadlines, batches, the worker side and the way back to the loop
 *   conn.c    per-connection accounting: jobs in flight, abandoned requests (rapid reset)
 *   readpark.c, watchq.c  libuv glue that spares epoll_ctl calls per request
 *   hpack.c   HTTP/2 responses: X-Request-Id sent without entering HPACK's dynamic table
 *   recycle.c a loop keeps up to 512 of h2o's 4 KiB pool chunks instead of 16
 *
 * Everything here runs on the loop thread that owns struct http_loop, except run_jobs in
 * job.c (worker threads), which touches only its jobs until it sends them back. */
#ifndef CITYD_HTTP_INT_H
#define CITYD_HTTP_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <h2o.h>
#include <openssl/ssl.h>
#include "server/core/cidr.h"
#include "server/core/rctx.h"
#include "server/core/workpool.h"
#include "server/http/http.h"
#include "server/http/server.h"

struct metrics_series;
struct st_h2o_http2_conn_t;

#define MAX_TIMEOUTS 4
/* Freed jobs a loop keeps for reuse (1,320 bytes each): more than the 500 that h2load
 * -c 50 -m 10 has in flight on one loop, so those never go back to malloc. */
#define SPARE_JOBS 1024
#define MAX_HEADERS 100
/* Request line + headers; h2o 2.2.5's own HTTP/1 cap is about 400 KiB. */
#define MAX_HEADER_BYTES (16u << 10)

/* One open connection's accounting (conn.c); indexed by its socket's descriptor. */
struct conn_state {
    uint64_t gen;      /* which connection holds the descriptor; 0 = none */
    uint32_t inflight; /* jobs queued or running (only those that went to a worker) */
    bool poisoned;     /* past its reset budget: being closed */
    uint64_t resets;   /* abandoned requests in thousandths, leaking over time */
    uint64_t reset_at; /* uv_now of the last update of resets */
    /* HTTP/2 only: the connection whose frame parser is wrapped (NULL: not yet), the parser
     * it wraps, and its PING/SETTINGS frames in thousandths, leaking like resets. */
    void *h2;
    ssize_t (*expect)(struct st_h2o_http2_conn_t *, const uint8_t *, size_t, const char **);
    uint64_t control;
    uint64_t control_at;
};

struct http_global {
    h2o_globalconf_t conf;
    h2o_hostconf_t *host;
    const struct http_config *hc;
    SSL_CTX *ssl;
    struct sockaddr_storage addr, tls_addr;
    socklen_t addrlen, tls_addrlen;
    _Atomic int port;
    struct metrics_series *accept_errors; /* cityd_accept_errors_total */
    /* http.accept = shared: the listening sockets every loop accepts from (each through a
     * dup of its own); -1 = not open (yet), or http.accept = reuseport. holders counts the
     * loops that may still dup them; the last one to stop closes them. */
    bool shared_accept;
    int lfd, tls_lfd;
    _Atomic int holders;
    int ntrusted; /* http.trusted_proxies */
    struct cidr trusted[CIDR_LIST_MAX];
};

/* A listening socket of one loop: its own SO_REUSEPORT socket, or (http.accept = shared) a
 * dup of the global's. Out of descriptors, it is closed and opened again from its retry timer
 * (listen.c), so a failing accept never spins. */
struct listener {
    uv_tcp_t tcp;
    uv_timer_t retry; /* opens the socket again after a pause */
    h2o_accept_ctx_t *actx;
    struct http_loop *loop;
    struct sockaddr_storage *addr; /* the global's: port 0 becomes the kernel's choice */
    socklen_t addrlen;
    int *shared; /* the global's lfd or tls_lfd (http.accept = shared); NULL = own socket */
    struct metrics_series *open_conns; /* cityd_connections_open of its protocol */
    struct metrics_series *accepted;   /* cityd_connections_accepted_total of its protocol */
    bool open;                         /* tcp is an initialised handle (listening or not) */
    bool closing;                      /* tcp is being closed for a pause */
    bool retry_on;                     /* retry is an initialised handle */
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
    size_t socks;           /* accepted sockets not yet closed (connections, TLS handshakes) */
    uint64_t shutdown_ms;   /* uv_now when shutdown was asked for; 0 = serving */
    size_t jobs;            /* alive jobs of this loop */
    struct http_job *spare; /* freed jobs kept for reuse (linked through work.next) */
    size_t nspare;
    uv_prepare_t *flush; /* runs before the loop polls again: queues the pending batch */
    struct http_job *pending[HTTP_BATCH_MAX];
    size_t npending;
    struct conn_state *conns; /* by descriptor (conn.c), nconns long */
    struct http_guard *guard; /* guard.c: bodies still arriving */
    uv_timer_t guard_timer;
    bool guard_on;
    size_t nconns;
    uint64_t conn_gen;
    uint64_t accept_errors;    /* descriptor shortages not yet logged (listen.c) */
    uint64_t accept_logged_ms; /* uv_now of the last accept-error line; 0 = none yet */
    bool listeners_stopped;    /* shutting down: no listener opens again */
    bool holds_shared;         /* counted in g->holders */
    uv_prepare_t watchq;       /* watchq.c: drops no-op epoll_ctl changes before each poll */
    bool watchq_on;
};

/* Requests of ROUTE_BATCH routes queued together (see server.h). */
struct http_batch {
    struct work work;
    size_t n;
    struct http_job *jobs[HTTP_BATCH_MAX];
};

/* Whether a job's handler may still run. The loop cancels only a job that is still QUEUED; a
 * worker runs a handler only after moving its job from QUEUED to RUNNING. So when the loop
 * wins, the request certainly never takes effect (503, retry); when the worker won, it may
 * commit after the deadline (504, outcome unknown). */
enum job_state { JOB_QUEUED = 0, JOB_RUNNING, JOB_CANCELLED };

struct http_job {
    struct work work;
    h2o_multithread_message_t msg;
    struct http_loop *loop;
    h2o_req_t *req; /* NULL once h2o disposed the request */
    h2o_generator_t gen;
    h2o_timeout_entry_t timeout;
    struct req rq; /* method and path are set first thing (borrowed until copied) */
    struct resp rs;
    enum err res;
    atomic_int state; /* enum job_state: the loop and the worker race for it with a CAS */
    bool in_worker, responded, auth_failed;
    bool counted; /* took one of its connection's in-flight places */
    int conn_fd;  /* its connection's state: descriptor and generation */
    uint64_t conn_gen;
    uint64_t t0_ns;
    unsigned batch;      /* size of the batch it ran in (worker writes, loop reads after) */
    int64_t submit_user; /* who.user_id when queued: the loop never reads cx while a worker may
                            write it */
    char why[96];
    char *file_buf; /* a file body's chunk (req's pool), see resp_file */
    struct rctx cx; /* last: http__job_new clears what comes before, rctx_init the rest */
};

/* ---- server.c ---- */

/* {"error":{"code","message","request_id"}} as a malloc'd string (free() it); NULL on OOM. */
char *http__error_json(const char *code, const char *message, const char *rid, size_t *len);
/* h2o's request handler for every path. */
int http__on_req(h2o_handler_t *self, h2o_req_t *req);
/* Answer j's request with an error (loop thread, j->req alive, not answered yet); user is the
 * caller's idea of who asked (the loop never reads cx.who while a worker may write it). */
void http__send_error(struct http_job *j, enum err e, const char *message, int64_t user);
/* Answer j's request with what its handler produced (j->res, j->rs). */
void http__send_response(struct http_job *j);
/* Close a file body's descriptor if it is still open (resp_file). */
void http__file_close(struct http_job *j);
/* The access log line of j; the one place it is filled. */
void http__log_access(const struct http_job *j, int status, const char *ecode, uint64_t bytes,
                      int64_t user);

/* ---- job.c ---- */

struct http_job *http__job_new(struct http_loop *l);
void http__job_free(struct http_job *j);
/* h2o disposes j's request (answered, or the client went away): shared-memory callback. */
void http__job_on_dispose(void *p);
/* Overload admission (workpool_admit): true when j's pool is overloaded and j must be refused
 * at once (503) instead of queued. Never for ROUTE_NO_SHED routes. */
bool http__job_shed(struct http_job *j);
/* Hand j to its worker pool (or the loop's pending batch) and arm its deadline. ERR_BUSY
 * when the pool is full: j is then still the loop's and unanswered. */
enum err http__job_queue(struct http_job *j);
/* Worker results arriving on the loop. */
void http__job_on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);
/* The h2o timeout list for a deadline of ms (one per distinct deadline). */
h2o_timeout_t *http__timeout_for(struct http_loop *l, uint64_t ms);
/* Set up / release the loop's job machinery (batch flush handle, spare jobs, timeouts). */
void http__jobs_init(struct http_loop *l);
void http__jobs_dispose(struct http_loop *l);

/* ---- conn.c ---- */

/* A socket was accepted on fd: make its state; *gen tells it apart from later holders of the
 * descriptor. False when out of memory (the connection is then served untracked). */
/* guard.c: the scan of bodies still arriving (per-connection and per-address caps, tokens
 * checked before a body is complete). Started with the loop; stopped before it is released. */
int http__guard_start(struct http_loop *l);
void http__guard_stop(struct http_loop *l);
void http__guard_free(struct http_loop *l);

bool http__conn_open(struct http_loop *l, int fd, uint64_t *gen);

/* readpark.c: keep-alive reads stopped without a system call (h2o_socket_read_start/stop are
 * defined there); resolves h2o's own pair and registers the counters. */
void http__readpark_init(void);
/* hpack.c: h2o_hpack_flatten_response is defined there (the request id is sent without
 * indexing); resolves h2o's own. */
void http__hpack_init(void);

/* recycle.c: h2o_mem_alloc_recycle is defined there; resolves h2o's own. A loop thread
 * marks itself (on each request) so that it keeps more of its pool chunks. */
void http__recycle_init(void);
void http__recycle_loop_thread(void);

/* watchq.c: before each poll, unqueue watchers whose epoll mask did not change (libuv 1.44
 * would send a no-op EPOLL_CTL_MOD for each). Start before the loop's other prepare handles;
 * stop (close) with the loop's handles. */
void http__watchq_start(struct http_loop *l);
void http__watchq_stop(struct http_loop *l);

/* Its socket is closed: release the state, unless a newer connection already holds fd. */
void http__conn_closed(struct http_loop *l, int fd, uint64_t gen);
/* The state of connection (fd, gen), NULL once it is gone. */
struct conn_state *http__conn_find(struct http_loop *l, int fd, uint64_t gen);
/* The state of req's connection (NULL when untracked); fills *fd and *gen. */
struct conn_state *http__conn_of(struct http_loop *l, h2o_req_t *req, int *fd, uint64_t *gen);
/* A request of the connection was abandoned by its client: count it (decaying over time).
 * True when that put the connection past its budget: it has been shut down. */
bool http__conn_abandoned(struct http_loop *l, struct conn_state *cs, int fd);
/* Close the connection of req (abusive client). */
void http__conn_close(h2o_req_t *req);
/* Puts the HTTP/2 connections accepted since the last call under the PING/SETTINGS budget
 * (http.conn_control_frame_budget); called from the guard's scan timer. */
void http__conn_watch_h2(struct http_loop *l);

#endif
