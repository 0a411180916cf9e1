/* server/wire.c: loops, worker pools, signals and shutdown. */
#include "wire.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <systemd/sd-daemon.h>
#include "api/api.h"
#include "api/domain/audit.h"
#include "api/domain/inbox.h"
#include "api/domain/media_svc.h"
#include "api/domain/push.h"
#include "api/domain/track.h"
#include "api/domain/webhook.h"
#include "api/domain/system.h"
#include "media/image.h"
#include "server/core/log.h"
#include "server/core/clock.h"
#include "server/core/crashpoint.h"
#include "server/core/metrics.h"
#include "server/core/metrics_http.h"
#include "server/core/workpool.h"
#include "server/auth/password.h"
#include "server/db/db.h"
#include "server/db/db_int.h"
#include "server/db/migrate.h"
#include "server/ext/ext.h"
#include "server/ext/push.h"
#include "server/http/http.h"
#include "server/http/server.h"
#include "server/ws/ws.h"
#include "wire_int.h"

#define MAX_LOOPS 64
#define MAX_JOBS 16

/* One periodic background job (api_jobs): a timer on loop 0 queues it to the database pool
 * unless the previous run is still going. */
struct periodic {
    struct work work;
    const struct api_job *job;
    uv_timer_t timer;
    atomic_int running;
};

struct loop_thread {
    uv_loop_t loop;
    uv_async_t stop;
    uv_timer_t drain;
    uv_timer_t flush;
    uv_thread_t tid;
    struct http_loop *http;
    uint64_t deadline_ms;
    int idx;
};

static struct {
    const struct cfg *cfg;
    struct db_opts dbo;
    struct http_config hc;
    struct http_global *g;
    struct router *router;
    struct workpool *db_pool;
    struct workpool *media_pool;
    struct workpool *outside_pool;
    struct workpool *password_pool;
    struct metrics_http *metrics;
    struct workpool *inbox_pool;   /* one thread: the inbox dispatcher */
    struct workpool *webhook_pool; /* webhook.workers threads: the webhook deliverers */
    struct work webhook_work[16];
    struct work dispatch_work;
    atomic_bool dispatch_stop;
    struct workpool *push_pool; /* one thread: vendor push (push.h) */
    struct work push_work;
    atomic_bool push_stop;
    struct ws_config wsc;
    struct ws_server *ws;
    char ws_url[300];
    int nloops;
    struct loop_thread loops[MAX_LOOPS];
    uv_signal_t sigterm, sigint;
    struct periodic jobs[MAX_JOBS];
    int njobs;
    int shutting_down;
    bool forced;
} W;

static int cores(void);

#ifdef CITYD_JEMALLOC
/* Read by jemalloc at its first allocation. Loops allocate and free small objects per request
 * (h2o's pools and streams, jobs): jemalloc serves those from a cache of the thread's own, so a
 * request answered on a loop takes no lock another thread holds and wakes nobody; glibc with
 * two arenas for some twenty threads made a fifth of a loop's CPU futex wake-ups (issue 9).
 * Image decodes free tens of MiB at a time on the media workers: blocks of 1 MiB and more come
 * from jemalloc's arena for oversize requests, which returns freed pages at once (glibc's
 * mmap threshold below did the same); smaller ones within a second, by jemalloc's background
 * thread (muzzy decay 0: no lazy-free stage). bench/media.sh: peak RSS with 4 uploads in
 * flight 133 MiB (glibc 148), 31 MiB growth for one (glibc 21; see docs/benchmarks.md). */
const char *malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,"
                          "oversize_threshold:1048576";
#endif

void wire_init(void)
{
#ifndef CITYD_JEMALLOC
    /* Image decodes free tens of MiB at a time from every worker thread; with glibc's default
     * one arena per thread and a 32 MiB mmap threshold that memory stays in per-thread pools
     * (bench/media.sh: 250 MiB RSS with 4 uploads in flight, 195 MiB with these). The cost:
     * loops share two arenas with the workers (see malloc_conf above for the shipped build). */
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    db_global_init();
    ext_global_init();
}

void wire_end(void)
{
    media_shutdown();
    ext_global_end();
    db_global_end();
}

static void fill_db_opts(const struct cfg *c, struct db_opts *o)
{
    memset(o, 0, sizeof *o);
    o->host = c->db_host;
    o->port = c->db_port;
    o->socket = c->db_socket;
    o->user = c->db_user;
    o->password = c->db_password;
    o->name = c->db_name;
    o->connect_timeout_s = c->db_connect_timeout_s;
    o->read_timeout_s = c->db_read_timeout_s;
    o->write_timeout_s = c->db_write_timeout_s;
    o->tls = c->db_tls || c->db_tls_ca[0];
    o->tls_ca = c->db_tls_ca;
    o->tls_cert = c->db_tls_cert;
    o->tls_key = c->db_tls_key;
    o->tls_verify = c->db_tls_ca[0] && c->db_tls_verify_server;
}

enum err wire_with_db(const struct cfg *cfg, enum err (*fn)(struct rctx *cx, void *arg), void *arg)
{
    struct db_opts o;
    struct rctx cx;
    enum err res;

    fill_db_opts(cfg, &o);
    /* Migrations and command-line tasks: a statement may rightly take minutes. */
    o.read_timeout_s = o.write_timeout_s = cfg->db_task_timeout_s;
    rctx_init(&cx);
    cx.db = db_conn_new(&o);
    if (!cx.db) {
        rctx_dispose(&cx);
        return ERR_INTERNAL;
    }
    res = fn(&cx, arg);
    db__abandon(&cx);
    if (res)
        fprintf(stderr, "cityd: %s: %s\n", err_code(res), rctx_detail(&cx, res));
    db_conn_free(cx.db);
    rctx_dispose(&cx);
    return res;
}

struct migrate_arg {
    const char *dir;
    const char *runtime_user;
    int applied;
    char err[512];
};

static enum err migrate_fn(struct rctx *cx, void *p)
{
    struct migrate_arg *a = p;
    enum err res = migrate_run(cx, a->dir, &a->applied, a->err, sizeof a->err);
    if (!res && a->runtime_user[0])
        res = migrate_grant_runtime(cx, a->runtime_user, a->err, sizeof a->err);
    if (res && a->err[0])
        return rctx_fail(cx, res, "%s", a->err);
    return res;
}

struct verify_arg {
    const char *dir;
    int pending;
    char err[512];
};

static enum err verify_fn(struct rctx *cx, void *p)
{
    struct verify_arg *a = p;
    enum err res = migrate_verify(cx, a->dir, &a->pending, a->err, sizeof a->err);
    if (res && a->err[0])
        return rctx_fail(cx, res, "%s", a->err);
    return res;
}

/* migrations.auto off: still refuse an edited or unknown migration; pending ones only keep
 * /readyz at 503. A database that cannot be reached is not fatal: it may come later. */
static int wire_verify_schema(const struct cfg *cfg)
{
    struct verify_arg a = {.dir = cfg->migrations_dir};
    enum err res = wire_with_db(cfg, verify_fn, &a);
    if (res == ERR_BUSY)
        return 0;
    if (res)
        return 1;
    if (a.pending)
        log_warn(NULL, "%d migrations not applied yet: run cityd migrate", a.pending);
    return 0;
}

int wire_migrate(const struct cfg *cfg)
{
    struct migrate_arg a = {.dir = cfg->migrations_dir, .runtime_user = cfg->db_runtime_user};
    enum err res = wire_with_db(cfg, migrate_fn, &a);
    if (res)
        return 1;
    log_info(NULL, "migrations: %d applied, schema current", a.applied);
    return 0;
}

/* ---- database workers ------------------------------------------------------------------- */

static void *db_thread_init(int idx, void *arg)
{
    db_thread_start();
    return db_conn_new(&W.dbo);
}

static void db_thread_fini(void *value)
{
    db_conn_free(value);
    db_thread_end();
}

/* Media workers also hold a database connection (they record what they stored) and release
 * libvips' per-thread buffers when they stop. */
static void media_thread_fini(void *value)
{
    db_thread_fini(value);
    media_thread_done();
}

static void after_handler(struct rctx *cx)
{
    db__abandon(cx);
    /* An event committed by this handler: turn it into inbox items now, not at the next poll. */
    if (inbox__take_written())
        inbox_poke();
}

/* ---- the inbox dispatcher and the gateway ---------------------------------------------- */

/* Runs for the life of the process on the inbox pool's one thread: dispatch until a run takes
 * less than a full batch, then wait to be poked (a handler wrote an event) or 200 ms (events
 * written by other processes, deadline scans, triggers). A poke that came during the run is
 * kept, so the wait then returns at once; a run that found nothing new after a short one (one
 * more transaction of five statements per event under a steady stream of reports) is spared. */
#define DISPATCH_BATCH 256

static void run_dispatcher(struct work *w, void *thread_arg)
{
    int idle_ms = 200, backoff = 0;

    while (!atomic_load(&W.dispatch_stop)) {
        struct rctx cx;
        int done = 0;
        enum err res;

        rctx_init(&cx);
        cx.db = thread_arg;
        res = inbox_dispatch(&cx, DISPATCH_BATCH, &done);
        if (res && backoff++ % 50 == 0)
            log_error(&cx, "inbox dispatcher: %s", rctx_message(&cx, res));
        if (!res)
            backoff = 0;
        db__abandon(&cx);
        rctx_dispose(&cx);
        if (res || done < DISPATCH_BATCH)
            inbox_dispatcher_wait(res ? 1000 : idle_ms);
    }
}

static void sink_items(const struct inbox_item *v, size_t n)
{
    int64_t users[64];
    struct ws_item items[64];

    while (n) {
        size_t k = n < 64 ? n : 64;
        for (size_t i = 0; i < k; i++) {
            users[i] = v[i].user_id;
            items[i] = (struct ws_item){v[i].seq, v[i].type, v[i].payload, v[i].created_ms};
        }
        ws_notify_items(W.ws, users, items, k);
        v += k;
        n -= k;
    }
}

static void sink_stream(const char *stream, const struct inbox_item *it)
{
    struct ws_item item = {it->seq, it->type, it->payload, it->created_ms};
    ws_notify_stream(W.ws, stream, &item);
}

static void sink_revoked(int64_t user_id, int64_t tv, bool disabled, const char *family)
{
    ws_notify_revoked(W.ws, user_id, tv, disabled, family);
}

static int start_gateway(const struct cfg *cfg, uv_loop_t *loop, char *err, size_t errlen)
{
    static const struct inbox_sink sink = {sink_items, sink_stream, sink_revoked};
    char host[128];
    const char *colon = strrchr(cfg->ws_listen, ':');

    inbox_configure((int64_t)cfg->ws_retention_days * 86400 * 1000);
    W.wsc.cfg = cfg;
    W.wsc.db_pool = W.db_pool;
    W.wsc.ops = api_ws_ops;
    W.wsc.authenticate = wire__ws_authenticate;
    W.wsc.auth_failed = wire__ws_auth_failed;
    W.wsc.after = after_handler;
    W.ws = ws_server_new(&W.wsc, loop, err, errlen);
    if (!W.ws)
        return -1;
    snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - cfg->ws_listen) : 0, cfg->ws_listen);
    if (cfg->ws_public_url[0])
        snprintf(W.ws_url, sizeof W.ws_url, "%s", cfg->ws_public_url);
    else
        snprintf(W.ws_url, sizeof W.ws_url, "ws://%s:%d/ws",
                 strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host, ws_server_port(W.ws));
    http_info.ws_url = W.ws_url;
    inbox_set_sink(&sink);
    W.inbox_pool = workpool_new("inbox", 1, 1, db_thread_init, db_thread_fini, NULL);
    if (!W.inbox_pool) {
        snprintf(err, errlen, "cannot start the inbox dispatcher");
        return -1;
    }
    W.dispatch_work.run = run_dispatcher;
    if (workpool_submit(W.inbox_pool, &W.dispatch_work)) {
        snprintf(err, errlen, "cannot start the inbox dispatcher");
        return -1;
    }
    return 0;
}

/* ---- webhook deliverers ------------------------------------------------------------------ */

/* Each runs for the life of the process on a thread of the webhook pool, with its own database
 * connection: passes until nothing moves, then waits webhook.poll_ms (1 s after a database
 * error) or until shutdown. The receivers' time is spent here, never on a database worker; the
 * threads share the webhooks through their leases (webhook.h), as other processes do. */
static pthread_mutex_t webhook_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t webhook_cv = PTHREAD_COND_INITIALIZER;
static bool webhook_stop;

static void webhook_wait(int ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&webhook_mu);
    while (!webhook_stop)
        if (pthread_cond_timedwait(&webhook_cv, &webhook_mu, &ts) != 0)
            break;
    pthread_mutex_unlock(&webhook_mu);
}

static bool webhook_stopping(void)
{
    bool v;

    pthread_mutex_lock(&webhook_mu);
    v = webhook_stop;
    pthread_mutex_unlock(&webhook_mu);
    return v;
}

static void run_webhooks(struct work *w, void *thread_arg)
{
    int errors = 0;

    (void)w;
    while (!webhook_stopping()) {
        struct rctx cx;
        int worked = 0;
        enum err res;

        rctx_init(&cx);
        cx.db = thread_arg;
        res = webhook_deliver_pass(&cx, &worked);
        if (res && errors++ % 50 == 0)
            log_error(&cx, "webhook deliverer: %s", rctx_message(&cx, res));
        if (!res)
            errors = 0;
        db__abandon(&cx);
        rctx_dispose(&cx);
        if (res || worked == 0)
            webhook_wait(res ? 1000 : W.cfg->webhook_poll_ms);
    }
}

static int start_webhooks(const struct cfg *cfg, char *err, size_t errlen)
{
    int n = cfg->webhook_workers;

    webhook_configure(&(struct webhook_config){cfg->webhook_timeout_ms, cfg->webhook_retry_base_ms,
                                               cfg->webhook_retry_max_ms});
    if (n == 0)
        return 0;
    W.webhook_pool = workpool_new("webhook", n, (size_t)n, db_thread_init, db_thread_fini, NULL);
    if (!W.webhook_pool) {
        snprintf(err, errlen, "cannot start the webhook deliverers");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        W.webhook_work[i].run = run_webhooks;
        if (workpool_submit(W.webhook_pool, &W.webhook_work[i])) {
            snprintf(err, errlen, "cannot start the webhook deliverers");
            return -1;
        }
    }
    return 0;
}

static void stop_webhooks(void)
{
    pthread_mutex_lock(&webhook_mu);
    webhook_stop = true;
    pthread_cond_broadcast(&webhook_cv);
    pthread_mutex_unlock(&webhook_mu);
    workpool_free(W.webhook_pool);
    W.webhook_pool = NULL;
}

/* ---- vendor push ------------------------------------------------------------------------ */

/* Runs for the life of the process on the push pool's one thread, with a database connection
 * of its own (never one of the database workers): claim due pushes, send them to the vendors
 * with no transaction open, record what came of them; when nothing is due, look again in
 * 250 ms (pushes become due by time: the acknowledgement grace, back-off, quiet hours). */
static void run_pusher(struct work *w, void *thread_arg)
{
    struct ext_push *sender = ext_push_new();
    int backoff = 0;

    if (!sender) {
        log_error(NULL, "push: out of memory: vendor push is off");
        return;
    }
    while (!atomic_load(&W.push_stop)) {
        struct rctx cx;
        int handled = 0;
        enum err res;

        rctx_init(&cx);
        cx.db = thread_arg;
        res = push_run(&cx, sender, &handled);
        if (res && backoff++ % 50 == 0)
            log_error(&cx, "push: %s", rctx_detail(&cx, res));
        if (!res)
            backoff = 0;
        db__abandon(&cx);
        rctx_dispose(&cx);
        if (res || handled == 0)
            push_wait(res ? 1000 : 250);
    }
    ext_push_free(sender);
}

static int start_push(const struct cfg *cfg, char *err, size_t errlen)
{
    struct push_conf pc = {
        .ack_grace_ms = (int64_t)cfg->push_ack_grace_s * 1000,
        .max_age_ms = (int64_t)cfg->push_max_age_s * 1000,
        .retry_max_ms = (int64_t)cfg->push_retry_max_s * 1000,
        .batch = cfg->push_batch,
        .user_rate = cfg->push_user_rate,
        .user_urgent_rate = cfg->push_user_urgent_rate,
        .rate = {cfg->push_apns_rate, cfg->push_huawei_rate, cfg->push_xiaomi_rate,
                 cfg->push_oppo_rate, cfg->push_vivo_rate, cfg->push_honor_rate,
                 cfg->push_wechat_rate},
        .receipt_key = cfg->push_receipt_key,
    };

    if (ext_push_configure(cfg, err, errlen))
        return -1;
    push_configure(&pc);
    W.push_pool = workpool_new("push", 1, 1, db_thread_init, db_thread_fini, NULL);
    W.push_work.run = run_pusher;
    if (!W.push_pool || workpool_submit(W.push_pool, &W.push_work)) {
        snprintf(err, errlen, "cannot start the push thread");
        return -1;
    }
    for (int v = 0; v < EXT_PUSH_NVENDORS; v++)
        if (ext_push_configured(v))
            log_info(NULL, "push through %s enabled", ext_push_vendor_name(v));
    return 0;
}

/* ---- loops and shutdown ----------------------------------------------------------------- */

static void run_periodic(struct work *w, void *thread_arg)
{
    struct periodic *p = H2O_STRUCT_FROM_MEMBER(struct periodic, work, w);
    struct rctx cx;
    enum err res;

    rctx_init(&cx);
    cx.db = thread_arg;
    res = p->job->fn(&cx);
    if (res && res != ERR_BUSY)
        log_error(&cx, "job %s failed: %s", p->job->name, rctx_detail(&cx, res));
    db__abandon(&cx);
    rctx_dispose(&cx);
    atomic_store(&p->running, 0);
}

/* At shutdown, after the loops: the counts of rejected tokens not yet written (audit.h). */
static void run_final_flush(struct work *w, void *thread_arg)
{
    struct rctx cx;
    (void)w;

    rctx_init(&cx);
    cx.db = thread_arg;
    if (audit_rejections_flush_final(&cx))
        log_error(&cx, "rejected-token counts not audited: %s", rctx_detail(&cx, cx.err.code));
    db__abandon(&cx);
    rctx_dispose(&cx);
}

static void on_periodic(uv_timer_t *t)
{
    struct periodic *p = H2O_STRUCT_FROM_MEMBER(struct periodic, timer, t);

    if (atomic_exchange(&p->running, 1))
        return;
    p->work.run = run_periodic;
    if (workpool_submit(W.db_pool, &p->work))
        atomic_store(&p->running, 0);
}

static void start_jobs(uv_loop_t *loop)
{
    for (W.njobs = 0; W.njobs < MAX_JOBS && api_jobs[W.njobs].name; W.njobs++) {
        struct periodic *p = &W.jobs[W.njobs];
        p->job = &api_jobs[W.njobs];
        uv_timer_init(loop, &p->timer);
        uv_timer_start(&p->timer, on_periodic, (uint64_t)p->job->interval_ms,
                       (uint64_t)p->job->interval_ms);
    }
}

static void on_drain(uv_timer_t *t)
{
    struct loop_thread *lt = H2O_STRUCT_FROM_MEMBER(struct loop_thread, drain, t);
    bool idle = http_loop_idle(lt->http);

    if (!idle && uv_now(&lt->loop) < lt->deadline_ms)
        return;
    if (!idle)
        log_warn(NULL, "loop %d: drain deadline passed with requests or connections open", lt->idx);
    /* lws_context_destroy() may stop the loop (uv_stop): only once HTTP is drained. */
    if (lt->idx == 0)
        ws_server_release(W.ws);
    uv_close((uv_handle_t *)&lt->drain, NULL);
    uv_close((uv_handle_t *)&lt->stop, NULL);
    uv_close((uv_handle_t *)&lt->flush, NULL);
    if (lt->idx == 0) {
        uv_close((uv_handle_t *)&W.sigterm, NULL);
        uv_close((uv_handle_t *)&W.sigint, NULL);
        for (int i = 0; i < W.njobs; i++)
            uv_close((uv_handle_t *)&W.jobs[i].timer, NULL);
    }
    http_loop_free(lt->http, !idle);
    lt->http = NULL;
    if (!idle)
        W.forced = true;
    if (!idle)
        uv_stop(&lt->loop);
}

static void on_stop(uv_async_t *a)
{
    struct loop_thread *lt = H2O_STRUCT_FROM_MEMBER(struct loop_thread, stop, a);

    if (lt->deadline_ms)
        return;
    if (lt->idx == 0)
        ws_server_shutdown(W.ws); /* closes the sockets (1001); lws itself goes at the end */
    http_loop_shutdown(lt->http);
    lt->deadline_ms = uv_now(&lt->loop) + (uint64_t)W.cfg->http_shutdown_timeout_ms;
    uv_timer_start(&lt->drain, on_drain, 0, 50);
}

static void on_signal(uv_signal_t *s, int signum)
{
    if (W.shutting_down++)
        return;
    log_info(NULL, "signal %d: shutting down", signum);
    sd_notify(0, "STOPPING=1");
    for (int i = 0; i < W.nloops; i++)
        uv_async_send(&W.loops[i].stop);
}

static void on_flush(uv_timer_t *t)
{
    log_flush();
}

static void loop_main(void *arg)
{
    struct loop_thread *lt = arg;

    log_buffer_thread();
    uv_timer_start(&lt->flush, on_flush, 100, 100);
    uv_run(&lt->loop, UV_RUN_DEFAULT);
    wire__auth_thread_done();
    log_flush();
}

static int start_loop(struct loop_thread *lt, int idx, char *errbuf, size_t errlen)
{
    lt->idx = idx;
    uv_loop_init(&lt->loop);
    lt->http = http_loop_new(W.g, &lt->loop, errbuf, errlen);
    if (!lt->http)
        return -1;
    uv_async_init(&lt->loop, &lt->stop, on_stop);
    uv_timer_init(&lt->loop, &lt->drain);
    uv_timer_init(&lt->loop, &lt->flush);
    return 0;
}

/* Process-wide series: what runs, since when, and how much memory it holds. */
static double resident_bytes(void *arg)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

static int start_metrics(const struct cfg *cfg, char *err, size_t errlen)
{
    char lb[160];

    metrics_labels(lb, sizeof lb, "version", http_info.version ? http_info.version : "", "commit",
                   http_info.commit ? http_info.commit : "", (const char *)NULL);
    metrics_gauge_set(metrics_gauge("cityd_build_info", "Version of the running cityd.", lb), 1);
    metrics_gauge_set(metrics_gauge("process_start_time_seconds",
                                    "Start time of the process since the Unix epoch.", ""),
                      (int64_t)clock_now_s());
    metrics_gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes.", "",
                     resident_bytes, NULL);
    if (!cfg->metrics_listen[0])
        return 0;
    W.metrics = metrics_http_start(cfg->metrics_listen, cfg->metrics_allow, err, errlen);
    if (!W.metrics)
        return -1;
    log_info(NULL, "metrics on %s (port %d)", cfg->metrics_listen, metrics_http_port(W.metrics));
    return 0;
}

static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > MAX_LOOPS ? MAX_LOOPS : (int)n);
}

int wire_serve(const struct cfg *cfg, const char *port_file)
{
    char err[512] = "";
    struct migration_set set;
    int rc = 1;

    W.cfg = cfg;
    fill_db_opts(cfg, &W.dbo);
    /* Serving: the server stops a statement 250 ms before the client would give up on it
     * (the command-line tasks above keep no limit but the read timeout). */
    W.dbo.statement_timeout_ms = cfg->db_read_timeout_s * 1000 - 250;
    signal(SIGPIPE, SIG_IGN);

    if (cfg->migrations_auto ? wire_migrate(cfg) != 0 : wire_verify_schema(cfg) != 0)
        return 1;
    if (migrate_scan(cfg->migrations_dir, &set, err, sizeof err)) {
        fprintf(stderr, "cityd: %s\n", err);
        return 1;
    }
    system_expect_schema(set.count, set.max_version);

    if (api_docs_load(cfg->docs_dir, err, sizeof err)) {
        fprintf(stderr, "cityd: %s\n", err);
        return 1;
    }
    api_testing_enabled = cfg->testing_clock_control;
    if (cfg->open311_base_url[0])
        api_open311_configure(cfg->open311_base_url, cfg->open311_contact);
    else {
        /* Not configured: the address cityd listens on (as ws_url does). */
        const char *colon = strrchr(cfg->http_listen, ':');
        char url[300];
        snprintf(url, sizeof url, "http://%s%s/open311/v2",
                 strncmp(cfg->http_listen, "0.0.0.0:", 8) == 0 ? "127.0.0.1" : "",
                 strncmp(cfg->http_listen, "0.0.0.0:", 8) == 0 && colon ? colon : cfg->http_listen);
        api_open311_configure(url, cfg->open311_contact);
    }
    gps_cfg = (struct gps_cfg){cfg->gps_retention_days,
                               cfg->gps_max_accuracy_m,
                               cfg->gps_max_speed_kmh,
                               cfg->gps_max_age_s,
                               cfg->gps_max_future_s,
                               cfg->gps_checkin_tolerance_m,
                               cfg->gps_checkin_max_accuracy_m,
                               cfg->gps_stop_min,
                               cfg->gps_vehicle_active_s,
                               cfg->gps_latest_cache_ms,
                               cfg->gps_auto_checkout_after_min,
                               cfg->gps_max_duty_hours};
    if (api_testing_enabled)
        log_warn(NULL,
                 "testing.clock_control is on: admins can move the clock; never in production");
    if (!crashpoint_arm(cfg->testing_crash_at)) {
        fprintf(stderr, "cityd: testing.crash_at: unknown crash point \"%s\"\n",
                cfg->testing_crash_at);
        return 1;
    }
    if (crashpoint_armed())
        log_warn(NULL, "testing.crash_at = %s: cityd kills itself there; never in production",
                 crashpoint_armed());
    W.router = router_new(api_tables, err, sizeof err);
    if (!W.router) {
        fprintf(stderr, "cityd: %s\n", err);
        return 1;
    }
    W.db_pool = workpool_new("db", cfg->db_pool_size, (size_t)cfg->db_queue_limit, db_thread_init,
                             db_thread_fini, NULL);
    if (!W.db_pool) {
        fprintf(stderr, "cityd: cannot start the database workers\n");
        goto out;
    }
    {
        int mw = cfg->media_workers ? cfg->media_workers : cores();
        if (media_init(mw)) {
            fprintf(stderr, "cityd: libvips could not be initialised\n");
            goto out;
        }
        if (media_svc_start(cfg, err, sizeof err)) {
            fprintf(stderr, "cityd: %s\n", err);
            goto out;
        }
        /* Small queue: each queued image holds its body in memory. */
        W.media_pool =
            workpool_new("media", mw, (size_t)mw * 4, db_thread_init, media_thread_fini, NULL);
        if (!W.media_pool) {
            fprintf(stderr, "cityd: cannot start the media workers\n");
            goto out;
        }
    }
    /* WeChat log-ins: their own threads (and connections), see ROUTE_OUTSIDE. */
    W.outside_pool = workpool_new("outside", cfg->wechat_workers, (size_t)cfg->wechat_workers * 16,
                                  db_thread_init, db_thread_fini, NULL);
    if (!W.outside_pool) {
        fprintf(stderr, "cityd: cannot start the outside-call workers\n");
        goto out;
    }
    /* Password hashing: as many threads as hashes may run at once, so none waits holding a
     * database worker; a burst of log-ins queues here (see ROUTE_PASSWORD). */
    W.password_pool =
        workpool_new("password", AUTH_PW_CONCURRENT, 256, db_thread_init, db_thread_fini, NULL);
    if (!W.password_pool) {
        fprintf(stderr, "cityd: cannot start the password workers\n");
        goto out;
    }
    W.nloops = cfg->http_threads ? cfg->http_threads : cores();
    if (W.nloops > MAX_LOOPS)
        W.nloops = MAX_LOOPS;
    W.hc.cfg = cfg;
    W.hc.loops = W.nloops;
    W.hc.router = W.router;
    W.hc.db_pool = W.db_pool;
    W.hc.media_pool = W.media_pool;
    W.hc.outside_pool = W.outside_pool;
    W.hc.password_pool = W.password_pool;
    W.hc.after_handler = after_handler;
    wire__connect_auth(cfg, &W.hc);
    W.g = http_global_new(&W.hc, err, sizeof err);
    if (!W.g) {
        fprintf(stderr, "cityd: %s\n", err);
        goto out;
    }
    if (start_metrics(cfg, err, sizeof err)) {
        fprintf(stderr, "cityd: %s\n", err);
        goto out;
    }
    for (int i = 0; i < W.nloops; i++) {
        if (start_loop(&W.loops[i], i, err, sizeof err)) {
            fprintf(stderr, "cityd: %s\n", err);
            W.nloops = i;
            goto out;
        }
    }
    if (start_gateway(cfg, &W.loops[0].loop, err, sizeof err)) {
        fprintf(stderr, "cityd: %s\n", err);
        goto out;
    }
    if (start_webhooks(cfg, err, sizeof err)) {
        fprintf(stderr, "cityd: %s\n", err);
        goto out;
    }
    if (start_push(cfg, err, sizeof err)) {
        fprintf(stderr, "cityd: %s\n", err);
        goto out;
    }
    uv_signal_init(&W.loops[0].loop, &W.sigterm);
    uv_signal_init(&W.loops[0].loop, &W.sigint);
    uv_signal_start(&W.sigterm, on_signal, SIGTERM);
    uv_signal_start(&W.sigint, on_signal, SIGINT);
    start_jobs(&W.loops[0].loop);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (f) {
            fprintf(f, "%d\n", http_global_port(W.g));
            if (W.metrics) /* tests read the metrics port from the second line */
                fprintf(f, "metrics %d\n", metrics_http_port(W.metrics));
            fclose(f);
        }
    }
    log_info(NULL, "listening on %s (port %d), %d loops, %d database workers", cfg->http_listen,
             http_global_port(W.g), W.nloops, cfg->db_pool_size);
    log_info(NULL, "websocket gateway on %s", W.ws_url);
    /* Type=notify (etc/cityd.service): listening, migrated, workers up. No-op outside systemd. */
    sd_notifyf(0, "READY=1\nSTATUS=serving on port %d", http_global_port(W.g));
    for (int i = 1; i < W.nloops; i++)
        uv_thread_create(&W.loops[i].tid, loop_main, &W.loops[i]);
    loop_main(&W.loops[0]);
    /* Let the close callbacks of lws' handles run if its destroy stopped the loop early. */
    uv_run(&W.loops[0].loop, UV_RUN_DEFAULT);
    for (int i = 1; i < W.nloops; i++)
        uv_thread_join(&W.loops[i].tid);
    rc = 0;
out:
    metrics_http_stop(W.metrics);
    W.metrics = NULL;
    if (W.forced) {
        /* Workers may still hold jobs whose loops are gone; do not run them. */
        log_warn(NULL, "stopped with requests still open");
        return rc;
    }
    atomic_store(&W.push_stop, true);
    push_poke();
    workpool_free(W.push_pool); /* waits for a batch in flight (push.timeout_ms at most) */
    W.push_pool = NULL;
    atomic_store(&W.dispatch_stop, true);
    inbox_poke();
    workpool_free(W.inbox_pool);
    W.inbox_pool = NULL;
    {
        static struct work final_flush = {.run = run_final_flush};
        if (workpool_submit(W.db_pool, &final_flush))
            log_warn(NULL, "rejected-token counts not audited: the database pool is full");
    }
    stop_webhooks();
    workpool_free(W.db_pool); /* lets queued jobs finish, closes the connections */
    W.db_pool = NULL;
    workpool_free(W.media_pool);
    W.media_pool = NULL;
    workpool_free(W.outside_pool);
    W.outside_pool = NULL;
    workpool_free(W.password_pool);
    W.password_pool = NULL;
    media_svc_stop();
    track_cache_free();
    {
        static const struct inbox_sink none = {0};
        inbox_set_sink(&none);
    }
    ws_server_free(W.ws); /* after the workers: none of them will notify it again */
    W.ws = NULL;
    http_info.ws_url = NULL;
    for (int i = 0; i < W.nloops; i++) {
        if (W.loops[i].http) /* start-up failed before the loop ran: nothing is open */
            http_loop_free(W.loops[i].http, false);
        if (uv_loop_close(&W.loops[i].loop) != 0 && rc == 0)
            log_warn(NULL, "loop %d closed with handles open", i);
    }
    http_global_free(W.g);
    W.g = NULL;
    router_free(W.router);
    api_docs_unload();
    wire__disconnect_auth();
    log_info(NULL, "stopped");
    return rc;
}
