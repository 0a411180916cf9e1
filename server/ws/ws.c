/* server/ws/ws.c: the WebSocket gateway on libwebsockets 4.1 (see ws.h).
 *
 * libwebsockets traps handled here (notes/libraries.md §1): the context is created on a
 * foreign libuv loop with explicit vhosts (a failed bind then shows as a NULL vhost); messages
 * arrive in chunks and are reassembled here; only lws_cancel_service() may be called from
 * another thread; the listener offers http/1.1 only and LWS_CALLBACK_HTTP_CONFIRM_UPGRADE is
 * not handled (CVE-2025-11677); no extensions are offered, so no permessage-deflate. */
#include "ws.h"
#include "ws_int.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <jansson.h>
#include <libwebsockets.h>
#include "server/core/clock.h"
#include "server/core/ids.h"
#include "server/core/log.h"
#include "server/core/metrics.h"

#define MODULE "ws"
#define SESS_BUCKETS 16384 /* power of two */
#define USER_BUCKETS 16384
#define PENDING_MAX 8 /* client requests waiting while one runs */
#define BAD_FRAMES_MAX 20
#define AUTH_TIMEOUT_MS 5000
#define EXPIRING_NOTICE_S 60
#define READ_PAGE 200
#define SUBS_CONV_MAX 16 /* conversations one socket follows for typing */
#define TOKEN_MAX 4096
#define WS_TX_PACKET_MAX (1u << 20) /* bytes of a frame handed to one send() */
#define TX_SPLIT_MIN 512            /* sends in one batch before the helpers share them */
#define TX_CHUNK 32                 /* sends taken at a time from a shared batch */
#define TX_HELPERS_MAX 3

_Static_assert(LWS_PRE >= 10, "a frame's header goes into lws' headroom");

/* One encoded frame with libwebsockets' headroom; shared by every socket it goes to. Only the
 * loop thread touches refs once the frame is handed over. */
struct ws_frame {
    uint32_t refs;
    uint8_t hl; /* bytes of the WebSocket header before buf + LWS_PRE; 0: not built yet */
    size_t len;
    unsigned char buf[]; /* LWS_PRE + len */
};

struct ws_stream;
struct ws_sess;

enum sub_state { SUB_IDLE, SUB_WANT, SUB_LIVE };

struct ws_sub {
    struct ws_stream *st; /* NULL: the user's inbox */
    struct ws_sub *prev, *next;
    struct ws_sess *s;
    int64_t sent;  /* last position queued to this socket; -1: from the device's stored one */
    int64_t known; /* newest position heard of */
    uint8_t state;
};

struct ws_stream {
    struct ws_stream *next;
    struct ws_sub *subs;
    char name[WS_STREAM_NAME];
};

enum sess_state { S_NEW, S_AUTHED, S_CLOSING };

struct ws_sess {
    struct lws *wsi;
    struct ws_server *w;
    uint64_t sid;
    struct ws_sess *prev, *next; /* all sessions */
    struct ws_sess *snext;       /* sid bucket */
    struct ws_sess *unext;       /* user bucket (authed only) */
    struct actor who;
    int64_t exp_s;
    int64_t deadline_ms; /* auth deadline */
    int64_t last_rx_ms;
    int64_t last_ping_ms;
    int64_t last_tx_ms; /* the last time the socket took bytes, or its queue was empty */
    double tokens;
    int64_t tokens_ms;
    uint32_t bad_frames;
    uint32_t excess;
    uint8_t state;
    bool busy, rx_paused, in_users, warned_expiry, header_auth, close_sent, ping_due;
    bool counted;    /* its first hello counted it in the database's presence: bye uncounts it */
    bool batched;    /* a frame for it is in the server's send batch (see batch_flush) */
    int8_t busy_sub; /* sub being read by the job in flight, -1 none */
    uint8_t nsubs, npending;
    uint16_t close_code;
    struct ws__rx rx;
    struct ws_frame **q;
    uint32_t qhead, qlen, qcap;
    size_t qbytes;
    struct ws_frame *part; /* a frame the socket took only part of in a batch: the rest goes */
    size_t part_off;       /* first, on WRITEABLE (bytes of its wire form already sent) */
    char *pending[PENDING_MAX];
    struct ws_sub *subs;
    int64_t convs[SUBS_CONV_MAX]; /* subscribed conversations (typing), oldest first */
    uint8_t nconvs;
};

enum job_kind { JOB_HELLO, JOB_READ, JOB_ACK, JOB_CALL, JOB_BYE, JOB_NODE };

struct ws_job {
    struct work work;
    struct ws_job *next;
    struct ws_server *w;
    uint64_t sid;
    enum job_kind kind;
    struct actor who;
    int64_t exp_s;
    char ref[72]; /* the client's "id", echoed */
    char stream[WS_STREAM_NAME];
    int64_t pos, to;
    size_t budget; /* bytes of frames one read may queue */
    bool read_mark;
    bool count;     /* JOB_HELLO: count the socket in presence (the session's first hello) */
    bool node_gone; /* JOB_NODE: leaving (else a heartbeat) */
    const struct ws_call *call;
    json_t *in, *out; /* JOB_CALL: the frame and the answer (one thread at a time) */
    /* results */
    enum err res;
    char msg[RCTX_MSG_MAX];
    char streams[WS_STREAMS_MAX][WS_STREAM_NAME];
    size_t nstreams;
    struct ws_frame **frames;
    size_t nframes;
    int64_t last, head, unread;
    bool more, resync;
};

enum note_kind { NOTE_JOB, NOTE_ITEM, NOTE_STREAM, NOTE_REVOKED };

/* One frame to write at once to one socket (see batch_flush). */
struct tx {
    struct ws_sess *s;
    struct ws_frame *f; /* a reference held until the batch is done */
    int fd;
    int err;     /* errno of a failed send() */
    ssize_t res; /* what send() returned */
};

/* A thread that takes a share of a batch's send()s (see batch_flush). state: TXH_IDLE, then
 * TXH_POSTED by the loop thread (batch set, go posted); the helper takes it to TXH_RUNNING,
 * or the loop thread takes it back to TXH_IDLE when it finished the batch first; a running
 * helper ends in TXH_FINISHED once it takes no more. */
enum { TXH_IDLE, TXH_POSTED, TXH_RUNNING, TXH_FINISHED };

struct tx_helper {
    uv_thread_t th;
    uv_sem_t go;
    struct ws_server *w;
    atomic_int state;
    bool stop;
};

struct note {
    struct note *next;
    enum note_kind kind;
    struct ws_job *job;
    int64_t user_id, seq, tv;
    bool disabled;
    struct ws_frame *frame;
    char name[WS_STREAM_NAME]; /* stream, or session family */
};

struct ws_server {
    const struct ws_config *wc;
    struct ws_config cfgcopy;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    uv_loop_t *loop;
    uv_timer_t sweep;
    uint64_t node;   /* this process among the nodes (presence): random, drawn at start */
    int64_t beat_ms; /* when the last heartbeat was sent */
    bool beat_busy;  /* a heartbeat is on its way */
    int port;
    bool stopping, released;
    uint64_t next_sid;
    struct ws_sess *all;
    struct ws_sess *by_sid[SESS_BUCKETS];
    struct ws_sess *by_user[USER_BUCKETS];
    struct ws_stream *streams;
    size_t nsess, nauthed;
    bool direct;      /* in notes_drain: frames may be written at once (see sess_queue) */
    struct tx *batch; /* the frames to write at once, in note_apply (grows, is reused) */
    size_t nbatch, batchcap;
    atomic_size_t tx_next; /* the next send of the batch not taken yet (batch_flush) */
    struct tx_helper helpers[TX_HELPERS_MAX];
    size_t nhelpers;
    atomic_uint_fast64_t frames_built;
    uint64_t deliveries;
    uv_mutex_t mu; /* guards notes */
    struct note *notes, **notes_tail;
    lws_retry_bo_t retry;
    struct lws_protocols protocols[3];
};

static struct ws_server *the_server; /* for lws callbacks without user data */

/* Prometheus series (docs/deployment.md): looked up once in ws_server_new, updated with relaxed
 * atomic adds, so a scrape never reads the loop's own fields. */
static struct metrics_series *m_open, *m_accepted, *m_frames, *m_deliveries, *m_queued;

/* Closes by code: the codes are ours (docs/ws-protocol.md) or RFC 6455's, a bounded set. */
static void count_close(uint16_t code)
{
    char lb[32];

    snprintf(lb, sizeof lb, "code=\"%u\"", (unsigned)code);
    metrics_inc(metrics_counter("cityd_ws_closes_total",
                                "WebSocket sessions closed by the server, by close code.", lb));
}

/* ---- frames ------------------------------------------------------------------------------ */

static struct ws_frame *frame_new(const char *text, size_t len)
{
    struct ws_frame *f = malloc(sizeof *f + LWS_PRE + len);
    if (!f)
        abort();
    f->refs = 1;
    f->hl = 0;
    f->len = len;
    memcpy(f->buf + LWS_PRE, text, len);
    return f;
}

static void frame_unref(struct ws_frame *f)
{
    if (f && --f->refs == 0)
        free(f);
}

static struct ws_frame *frame_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    struct ws_frame *f;
    json_decref(j);
    if (!s)
        abort();
    f = frame_new(s, strlen(s));
    free(s);
    return f;
}

/* The item frame: {"type":"item","stream":S,"seq":N,"kind":K,"at":ms,"data":{...}}. data is
 * stored JSON written by cityd; it is embedded as is. */
static struct ws_frame *frame_item(struct ws_server *w, const char *stream,
                                   const struct ws_item *it)
{
    size_t dl = strlen(it->data), kl = strlen(it->kind), sl = strlen(stream);
    size_t cap = dl + kl + sl + 128;
    struct ws_frame *f = malloc(sizeof *f + LWS_PRE + cap);
    int n;

    if (!f)
        abort();
    n = snprintf((char *)f->buf + LWS_PRE, cap,
                 "{\"type\":\"item\",\"stream\":\"%s\",\"seq\":%lld,\"kind\":\"%s\",\"at\":%lld,"
                 "\"data\":%s}",
                 stream, (long long)it->seq, it->kind, (long long)it->created_ms, it->data);
    f->refs = 1;
    f->hl = 0;
    f->len = (size_t)n < cap ? (size_t)n : cap - 1;
    atomic_fetch_add(&w->frames_built, 1);
    metrics_inc(m_frames);
    return f;
}

/* The frame as it goes on the wire: a server's unmasked text frame, FIN set; the header is
 * written once into the headroom before the text (lws_write writes the same bytes there when
 * a queued frame goes out through it). *n: bytes from the returned pointer. */
static const unsigned char *frame_wire(struct ws_frame *f, size_t *n)
{
    unsigned char *p = f->buf + LWS_PRE;

    if (!f->hl) {
        if (f->len < 126) {
            p[-1] = (unsigned char)f->len;
            f->hl = 2;
        } else if (f->len < 65536) {
            p[-3] = 126;
            p[-2] = (unsigned char)(f->len >> 8);
            p[-1] = (unsigned char)f->len;
            f->hl = 4;
        } else {
            p[-9] = 127;
            for (int i = 0; i < 8; i++)
                p[-1 - i] = (unsigned char)((uint64_t)f->len >> (8 * i));
            f->hl = 10;
        }
        p[-(int)f->hl] = 0x81;
    }
    *n = f->hl + f->len;
    return p - f->hl;
}

/* ---- cross-thread notes ------------------------------------------------------------------ */

static void note_push(struct ws_server *w, struct note *n)
{
    n->next = NULL;
    uv_mutex_lock(&w->mu);
    *w->notes_tail = n;
    w->notes_tail = &n->next;
    uv_mutex_unlock(&w->mu);
    lws_cancel_service(w->ctx);
}

static struct note *note_new(enum note_kind k)
{
    struct note *n = calloc(1, sizeof *n);
    if (!n)
        abort();
    n->kind = k;
    return n;
}

/* ---- session lookup ---------------------------------------------------------------------- */

static struct ws_sess *sess_by_sid(struct ws_server *w, uint64_t sid)
{
    for (struct ws_sess *s = w->by_sid[sid & (SESS_BUCKETS - 1)]; s; s = s->snext)
        if (s->sid == sid)
            return s;
    return NULL;
}

static size_t user_bucket(int64_t uid)
{
    return (size_t)((uint64_t)uid * 11400714819323198485ull >> 50) & (USER_BUCKETS - 1);
}

static struct ws_stream *stream_get(struct ws_server *w, const char *name, bool create)
{
    struct ws_stream *st;
    for (st = w->streams; st; st = st->next)
        if (strcmp(st->name, name) == 0)
            return st;
    if (!create)
        return NULL;
    st = calloc(1, sizeof *st);
    if (!st)
        abort();
    snprintf(st->name, sizeof st->name, "%s", name);
    st->next = w->streams;
    w->streams = st;
    return st;
}

static const char *sub_name(const struct ws_sub *sub)
{
    return sub->st ? sub->st->name : "inbox";
}

/* ---- sending and closing ----------------------------------------------------------------- */

static void sess_kill(struct ws_sess *s)
{
    s->state = S_CLOSING;
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* Send a close frame with code (at the next writable moment) and drop the socket; a peer that
 * does not take it is cut two seconds later. */
static void sess_close(struct ws_sess *s, uint16_t code)
{
    if (s->state == S_CLOSING)
        return;
    s->state = S_CLOSING;
    s->close_code = code;
    count_close(code);
    lws_callback_on_writable(s->wsi);
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, 2);
}

/* Hand f to libwebsockets for the socket; false when the connection failed (it goes). */
static bool sess_write(struct ws_sess *s, struct ws_frame *f)
{
    return lws_write(s->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT) >= (int)f->len;
}

/* ---- writing at once: the send batch ---------------------------------------------------- */

static void tx_range(struct tx *b, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        size_t n;
        const unsigned char *p = frame_wire(b[i].f, &n); /* built: only read here */
        b[i].res = send(b[i].fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        b[i].err = b[i].res < 0 ? errno : 0;
    }
}

/* Take TX_CHUNK sends of the batch at a time until none is left. */
static void tx_take(struct ws_server *w)
{
    size_t n = w->nbatch, i;

    while ((i = atomic_fetch_add(&w->tx_next, TX_CHUNK)) < n)
        tx_range(w->batch, i, i + TX_CHUNK < n ? i + TX_CHUNK : n);
}

static void tx_helper_main(void *arg)
{
    struct tx_helper *h = arg;

    for (;;) {
        int posted = TXH_POSTED;
        uv_sem_wait(&h->go);
        if (h->stop)
            return;
        /* A late wake-up for a batch the loop thread already finished finds TXH_IDLE. */
        if (!atomic_compare_exchange_strong(&h->state, &posted, TXH_RUNNING))
            continue;
        tx_take(h->w);
        atomic_store(&h->state, TXH_FINISHED);
    }
}

static void batch_add(struct ws_server *w, struct ws_sess *s, struct ws_frame *f)
{
    size_t n;

    if (w->nbatch == w->batchcap) {
        size_t ncap = w->batchcap ? w->batchcap * 2 : 256;
        struct tx *nb = realloc(w->batch, ncap * sizeof *nb);
        if (!nb)
            abort();
        w->batch = nb;
        w->batchcap = ncap;
    }
    (void)frame_wire(f, &n); /* the header, built here, before any helper reads it */
    f->refs++;
    s->batched = true;
    w->batch[w->nbatch++] = (struct tx){s, f, lws_get_socket_fd(s->wsi), 0, 0};
}

/* Write the batch: one send() per socket of the frame's wire form, straight on the socket
 * (lws only knows of writes through lws_write; these go out only when lws holds nothing for
 * the socket, and the gateway has no TLS and no extensions, so the bytes are the same).
 * A large batch (a stream's item to thousands of sockets) is shared between this thread and
 * the helpers, TX_CHUNK sends at a time: a send() costs a few µs of kernel time (on loopback
 * most of it the receiving side's: 5,000 sockets took 25-35 ms of one core), and the helpers
 * spread that over the cores while the loop thread waits for them. Nothing but send() runs
 * on a helper: results are applied here afterwards. What a socket did not take (a full send
 * buffer) stays with the session (s->part) and goes first on WRITEABLE; a failed socket is
 * dropped. */
static void batch_flush(struct ws_server *w)
{
    size_t n = w->nbatch, k = w->nhelpers;
    int64_t now;

    if (!n)
        return;
    if (n >= TX_SPLIT_MIN && k) {
        /* Shared in chunks rather than fixed shares: a helper that is not scheduled soon (a
         * busy machine) leaves its part to this thread instead of holding the batch up. */
        atomic_store(&w->tx_next, 0);
        for (size_t i = 0; i < k; i++) {
            atomic_store(&w->helpers[i].state, TXH_POSTED);
            uv_sem_post(&w->helpers[i].go);
        }
        tx_take(w);
        for (size_t i = 0; i < k; i++) {
            int posted = TXH_POSTED;
            if (!atomic_compare_exchange_strong(&w->helpers[i].state, &posted, TXH_IDLE)) {
                while (atomic_load(&w->helpers[i].state) != TXH_FINISHED)
                    sched_yield(); /* at most the chunk it is writing */
                atomic_store(&w->helpers[i].state, TXH_IDLE);
            }
        }
    } else {
        tx_range(w->batch, 0, n);
    }
    now = clock_now_ms();
    for (size_t i = 0; i < n; i++) {
        struct tx *t = &w->batch[i];
        struct ws_sess *s = t->s;
        size_t len;
        s->batched = false;
        (void)frame_wire(t->f, &len);
        if (t->res == (ssize_t)len) {
            s->last_tx_ms = now;
        } else if (t->res >= 0 || t->err == EAGAIN || t->err == EWOULDBLOCK || t->err == EINTR) {
            if (t->res > 0)
                s->last_tx_ms = now;
            s->part = t->f;
            t->f = NULL; /* the batch's reference is the session's now */
            s->part_off = t->res > 0 ? (size_t)t->res : 0;
            lws_callback_on_writable(s->wsi);
        } else {
            sess_kill(s);
        }
        frame_unref(t->f);
    }
    w->nbatch = 0;
}

/* Queue f for the socket, or write it at once. A frame goes out at once when the gateway is
 * applying notes (w->direct: the loop thread, inside the EVENT_WAIT_CANCELLED callback of
 * lws' own pipe, not inside any callback of this socket), nothing is waiting before it (our
 * queue, a remainder of ours, a ping, a close, a remainder libwebsockets holds, a frame in the
 * batch already) — one send() (batch_flush) instead of asking for POLLOUT (an epoll_ctl each
 * way and a service turn per socket: a fan-out to 5,000 sockets took tens of ms more that
 * way). Later frames queue here until what waits before them is gone, in order. A frame a
 * socket cannot take at all is at most one frame (s->part) beyond the queue. */
static void sess_queue(struct ws_sess *s, struct ws_frame *f)
{
    if (s->state == S_CLOSING)
        return;
    if (s->qbytes + f->len > (size_t)s->w->wc->cfg->ws_max_queued_bytes) {
        /* A client that does not read: its socket is not writable, so no close frame would
         * get through; cut it and keep nothing for it. */
        log_warn(NULL, "ws: user %lld does not read (%zu bytes queued): disconnected",
                 (long long)s->who.user_id, s->qbytes);
        sess_kill(s);
        return;
    }
    s->w->deliveries++;
    metrics_inc(m_deliveries);
    if (s->w->direct && s->qlen == 0 && !s->part && !s->batched && !s->ping_due &&
        !lws_partial_buffered(s->wsi)) {
        batch_add(s->w, s, f);
        return;
    }
    if (s->qlen == s->qcap) {
        uint32_t ncap = s->qcap ? s->qcap * 2 : 8;
        struct ws_frame **nq = malloc(ncap * sizeof *nq);
        if (!nq)
            abort();
        for (uint32_t i = 0; i < s->qlen; i++)
            nq[i] = s->q[(s->qhead + i) % s->qcap];
        free(s->q);
        s->q = nq;
        s->qcap = ncap;
        s->qhead = 0;
    }
    f->refs++;
    metrics_inc(m_queued);
    if (s->qlen == 0)
        s->last_tx_ms = clock_now_ms();
    s->q[(s->qhead + s->qlen) % s->qcap] = f;
    s->qlen++;
    s->qbytes += f->len;
    lws_callback_on_writable(s->wsi);
}

static void sess_send_json(struct ws_sess *s, json_t *j)
{
    struct ws_frame *f = frame_json(j);
    sess_queue(s, f);
    frame_unref(f);
}

static void sess_error(struct ws_sess *s, const char *ref, enum err e, const char *msg)
{
    json_t *j = json_pack("{s:s,s:s,s:s}", "type", "error", "code", err_code(e), "message",
                          msg ? msg : err_code(e));
    if (ref && ref[0])
        json_object_set_new(j, "id", json_string(ref));
    sess_send_json(s, j);
}

/* ---- jobs on the database workers ------------------------------------------------------- */

static void job_run(struct work *wk, void *thread_arg);
static void pump(struct ws_sess *s);

static struct ws_job *job_new(struct ws_sess *s, enum job_kind k, const char *ref)
{
    struct ws_job *j = calloc(1, sizeof *j);
    if (!j)
        abort();
    j->w = s->w;
    j->sid = s->sid;
    j->kind = k;
    j->who = s->who;
    j->work.run = job_run;
    snprintf(j->ref, sizeof j->ref, "%s", ref ? ref : "");
    return j;
}

static void job_free(struct ws_job *j)
{
    for (size_t i = 0; i < j->nframes; i++)
        frame_unref(j->frames[i]);
    free(j->frames);
    json_decref(j->in);
    json_decref(j->out);
    free(j);
}

static bool job_submit(struct ws_sess *s, struct ws_job *j)
{
    if (workpool_submit(s->w->wc->db_pool, &j->work)) {
        /* A full database queue (a reconnect storm): a socket that is not authenticated yet
         * is told to come back later; an authenticated one gets an error frame. */
        if (j->kind == JOB_HELLO && s->state != S_AUTHED)
            sess_close(s, WS_CLOSE_TRY_LATER);
        else
            sess_error(s, j->ref, ERR_BUSY, "server busy, retry");
        job_free(j);
        return false;
    }
    s->busy = true;
    return true;
}

static void job_run(struct work *wk, void *thread_arg)
{
    struct ws_job *j = (struct ws_job *)wk;
    const struct ws_ops *ops = &j->w->wc->ops;
    struct rctx cx;
    struct note *n;

    rctx_init(&cx);
    cx.db = thread_arg;
    cx.who = j->who;
    switch (j->kind) {
    case JOB_HELLO: {
        const char *names[WS_STREAMS_MAX];
        size_t k = 0;
        j->res = ops->hello(&cx, j->count ? j->w->node : 0, names, &k);
        if (j->res == ERR_UNAUTH && j->w->wc->auth_failed)
            j->w->wc->auth_failed(&cx, "token revoked or account disabled");
        for (size_t i = 0; !j->res && i < k && i < WS_STREAMS_MAX - 1; i++)
            snprintf(j->streams[j->nstreams++], WS_STREAM_NAME, "%s", names[i]);
        break;
    }
    case JOB_READ: {
        struct ws_page p;
        j->res = ops->read(&cx, j->stream, j->pos, READ_PAGE, &p);
        if (j->res)
            break;
        j->head = p.head;
        j->more = p.more;
        j->resync = p.resync;
        j->last = p.from;
        if (p.n) {
            size_t bytes = 0;
            j->frames = malloc(p.n * sizeof *j->frames);
            if (!j->frames)
                abort();
            /* A page never fills more than its share of the send queue: a long backlog goes
             * out page by page as the client reads. */
            for (size_t i = 0; i < p.n && (i == 0 || bytes < j->budget); i++) {
                j->frames[i] = frame_item(j->w, j->stream, &p.v[i]);
                bytes += j->frames[i]->len;
                j->nframes = i + 1;
                j->last = p.v[i].seq;
            }
            if (j->nframes < p.n)
                j->more = true;
        }
        break;
    }
    case JOB_ACK:
        j->res = ops->ack(&cx, j->stream, j->pos, &j->unread);
        break;
    case JOB_CALL:
        j->res = j->call->fn(&cx, j->in, &j->out);
        if (!j->res && !json_is_object(j->out))
            j->res = rctx_fail(&cx, ERR_INTERNAL, "%s: no answer", j->call->type);
        break;
    case JOB_BYE:
        if (ops->bye)
            ops->bye(&cx, j->w->node);
        break;
    case JOB_NODE:
        if (ops->node)
            ops->node(&cx, j->w->node, j->node_gone);
        break;
    }
    if (j->res)
        snprintf(j->msg, sizeof j->msg, "%s", rctx_message(&cx, j->res));
    if (j->w->wc->after)
        j->w->wc->after(&cx);
    rctx_dispose(&cx);
    n = note_new(NOTE_JOB);
    n->job = j;
    note_push(j->w, n);
}

/* ---- subscriptions ----------------------------------------------------------------------- */

static void subs_attach(struct ws_sess *s, char (*names)[WS_STREAM_NAME], size_t n)
{
    s->subs = calloc(n + 1, sizeof *s->subs);
    if (!s->subs)
        abort();
    s->nsubs = (uint8_t)(n + 1);
    for (size_t i = 0; i <= n; i++) {
        struct ws_sub *sub = &s->subs[i];
        sub->s = s;
        sub->sent = -1;
        if (i == 0)
            continue;
        sub->st = stream_get(s->w, names[i - 1], true);
        sub->next = sub->st->subs;
        if (sub->next)
            sub->next->prev = sub;
        sub->st->subs = sub;
    }
}

static void subs_detach(struct ws_sess *s)
{
    for (size_t i = 1; i < s->nsubs; i++) {
        struct ws_sub *sub = &s->subs[i];
        if (sub->prev)
            sub->prev->next = sub->next;
        else
            sub->st->subs = sub->next;
        if (sub->next)
            sub->next->prev = sub->prev;
    }
    free(s->subs);
    s->subs = NULL;
    s->nsubs = 0;
}

/* A live socket got word of position pos on sub, with its frame when known. */
static void sub_offer(struct ws_sub *sub, int64_t pos, struct ws_frame *f)
{
    struct ws_sess *s = sub->s;
    if (pos > sub->known)
        sub->known = pos;
    if (sub->state != SUB_LIVE || s->state != S_AUTHED)
        return;
    if (f && pos == sub->sent + 1 && !(s->busy && s->busy_sub == sub - s->subs)) {
        sess_queue(s, f);
        sub->sent = pos;
        return;
    }
    if (pos > sub->sent)
        pump(s); /* a gap: read the missing items */
}

/* Start the next piece of work of a socket: a waiting client request, else a read for a
 * stream that is behind (only while its send queue is at most half full). */
static void handle_text(struct ws_sess *s, const char *text, size_t len);

static void pump(struct ws_sess *s)
{
    while (!s->busy && s->npending && s->state != S_CLOSING) {
        char *t = s->pending[0];
        memmove(s->pending, s->pending + 1, (size_t)(s->npending - 1) * sizeof *s->pending);
        s->npending--;
        handle_text(s, t, strlen(t));
        free(t);
    }
    if (s->busy || s->state != S_AUTHED ||
        s->qbytes > (size_t)s->w->wc->cfg->ws_max_queued_bytes / 2)
        return;
    for (int i = 0; i < s->nsubs; i++) {
        struct ws_sub *sub = &s->subs[i];
        struct ws_job *j;
        if (sub->state == SUB_IDLE || (sub->state == SUB_LIVE && sub->known <= sub->sent))
            continue;
        j = job_new(s, JOB_READ, NULL);
        snprintf(j->stream, sizeof j->stream, "%s", sub_name(sub));
        j->pos = sub->sent;
        j->budget = (size_t)s->w->wc->cfg->ws_max_queued_bytes / 4;
        if (job_submit(s, j))
            s->busy_sub = (int8_t)i;
        return;
    }
}

/* ---- results of jobs --------------------------------------------------------------------- */

static void user_link(struct ws_sess *s)
{
    size_t b = user_bucket(s->who.user_id);
    s->unext = s->w->by_user[b];
    s->w->by_user[b] = s;
    s->in_users = true;
    s->w->nauthed++;
}

static void user_unlink(struct ws_sess *s)
{
    struct ws_sess **pp = &s->w->by_user[user_bucket(s->who.user_id)];
    if (!s->in_users)
        return;
    while (*pp && *pp != s)
        pp = &(*pp)->unext;
    if (*pp)
        *pp = s->unext;
    s->in_users = false;
    s->w->nauthed--;
}

static bool user_online(struct ws_server *w, int64_t uid)
{
    for (struct ws_sess *t = w->by_user[user_bucket(uid)]; uid && t; t = t->unext)
        if (t->who.user_id == uid && t->state == S_AUTHED)
            return true;
    return false;
}

/* The loop thread's part of some answers (see struct ws_call). */
static void call_done(struct ws_sess *s, json_t *out)
{
    const char *type = json_string_value(json_object_get(out, "type"));

    if (!type)
        return;
    if (strcmp(type, "subscribed") == 0) {
        int64_t conv = (int64_t)json_integer_value(json_object_get(out, "conversation_id"));
        for (int i = 0; i < s->nconvs; i++)
            if (s->convs[i] == conv)
                return;
        if (s->nconvs == SUBS_CONV_MAX) {
            memmove(s->convs, s->convs + 1, (SUBS_CONV_MAX - 1) * sizeof *s->convs);
            s->nconvs--;
        }
        s->convs[s->nconvs++] = conv;
    } else if (strcmp(type, "presence") == 0) {
        /* "online" and "last_seen" came from the database, the same on every node; this
         * node's own sockets are added at once (a socket that just authenticated here). */
        json_t *users = json_object_get(out, "users"), *u, *on = json_array();
        size_t i;
        json_array_foreach(users, i, u)
        {
            int64_t uid = (int64_t)json_integer_value(json_object_get(u, "id"));
            bool online = json_is_true(json_object_get(u, "online")) || user_online(s->w, uid);
            json_object_set_new(u, "online", json_boolean(online));
            if (online)
                json_array_append_new(on, json_integer(uid));
        }
        json_object_set_new(out, "online", on);
    }
}

/* One socket of who less on this node (presence), stored on a worker; the job outlives any
 * session. */
static void submit_bye(struct ws_server *w, const struct actor *who)
{
    struct ws_job *j = calloc(1, sizeof *j);

    if (!j)
        abort();
    j->w = w;
    j->kind = JOB_BYE;
    j->who = *who;
    j->work.run = job_run;
    if (workpool_submit(w->wc->db_pool, &j->work))
        job_free(j);
}

static void job_done(struct ws_server *w, struct ws_job *j)
{
    struct ws_sess *s = sess_by_sid(w, j->sid);
    json_t *o;

    if (j->kind == JOB_NODE) {
        w->beat_busy = false;
        goto out;
    }
    if (j->kind == JOB_HELLO && j->count && !j->res &&
        (!s || s->state == S_CLOSING || !w->wc->ops.bye)) {
        /* Counted in the database, but the socket closed meanwhile: uncount it. */
        if (!w->stopping && w->wc->ops.bye)
            submit_bye(w, &j->who);
        goto out;
    }
    if (!s) /* the socket went away meanwhile */
        goto out;
    s->busy = false;
    s->busy_sub = -1;
    if (s->state == S_CLOSING)
        goto out;
    switch (j->kind) {
    case JOB_HELLO:
        if (j->res == ERR_UNAUTH) {
            sess_close(s, WS_CLOSE_UNAUTH);
            goto out;
        }
        if (j->res) {
            sess_error(s, j->ref, j->res, j->msg);
            if (s->state != S_AUTHED)
                sess_close(s, WS_CLOSE_INTERNAL);
            goto out;
        }
        if (s->state == S_AUTHED && s->who.user_id != j->who.user_id) {
            sess_close(s, WS_CLOSE_UNAUTH); /* a socket stays with its user */
            goto out;
        }
        s->who = j->who;
        s->exp_s = j->exp_s;
        s->warned_expiry = false;
        if (j->count)
            s->counted = true;
        if (s->state != S_AUTHED) {
            s->state = S_AUTHED;
            subs_attach(s, j->streams, j->nstreams);
            user_link(s);
        }
        o = json_pack("{s:s,s:I,s:s,s:I}", "type", "auth_ok", "user_id", (json_int_t)s->who.user_id,
                      "device_id", s->who.device_id, "expires_at", (json_int_t)s->exp_s);
        {
            json_t *a = json_array();
            for (int i = 0; i < s->nsubs; i++)
                json_array_append_new(a, json_string(sub_name(&s->subs[i])));
            json_object_set_new(o, "streams", a);
        }
        if (j->ref[0])
            json_object_set_new(o, "id", json_string(j->ref));
        sess_send_json(s, o);
        break;
    case JOB_READ: {
        struct ws_sub *sub = NULL;
        for (int i = 0; i < s->nsubs; i++)
            if (strcmp(sub_name(&s->subs[i]), j->stream) == 0)
                sub = &s->subs[i];
        if (!sub || sub->state == SUB_IDLE)
            break;
        if (j->res) {
            /* The database is away: the sweep tries again. A position past the head is the
             * client's mistake: it must sync again. */
            sess_error(s, NULL, j->res, j->msg);
            if (j->res != ERR_BUSY)
                sub->state = SUB_IDLE;
            break;
        }
        if (j->resync) {
            sub->sent = j->head;
            sub->known = j->head > sub->known ? j->head : sub->known;
            sub->state = SUB_LIVE;
            sess_send_json(s, json_pack("{s:s,s:s,s:I}", "type", "resync_required", "stream",
                                        j->stream, "head", (json_int_t)j->head));
            break;
        }
        for (size_t i = 0; i < j->nframes; i++)
            sess_queue(s, j->frames[i]);
        sub->sent = j->last;
        if (j->head > sub->known)
            sub->known = j->head;
        if (sub->state == SUB_WANT && !j->more && sub->known <= sub->sent) {
            sub->state = SUB_LIVE;
            sess_send_json(s, json_pack("{s:s,s:s,s:I}", "type", "synced", "stream", j->stream,
                                        "position", (json_int_t)sub->sent));
        }
        break;
    }
    case JOB_ACK:
        if (j->res) {
            sess_error(s, j->ref, j->res, j->msg);
            break;
        }
        o = json_pack("{s:s,s:s,s:I,s:I}", "type", j->read_mark ? "read_ok" : "acked", "stream",
                      j->stream, "position", (json_int_t)j->pos, "unread", (json_int_t)j->unread);
        if (j->ref[0])
            json_object_set_new(o, "id", json_string(j->ref));
        sess_send_json(s, o);
        if (j->read_mark) { /* the user's other sockets here update their badges */
            for (struct ws_sess *t = w->by_user[user_bucket(s->who.user_id)]; t; t = t->unext)
                if (t != s && t->who.user_id == s->who.user_id && t->state == S_AUTHED)
                    sess_send_json(t, json_pack("{s:s,s:s,s:I}", "type", "read", "stream",
                                                j->stream, "position", (json_int_t)j->pos));
        }
        break;
    case JOB_CALL:
        if (j->res) {
            sess_error(s, j->ref, j->res, j->msg);
            break;
        }
        call_done(s, j->out);
        o = j->out;
        j->out = NULL;
        if (j->ref[0])
            json_object_set_new(o, "id", json_string(j->ref));
        sess_send_json(s, o);
        break;
    case JOB_BYE:
    case JOB_NODE:
        break;
    }
    pump(s);
out:
    job_free(j);
}

/* ---- notifications ----------------------------------------------------------------------- */

void ws_notify_items(struct ws_server *w, const int64_t *users, const struct ws_item *items,
                     size_t n)
{
    if (!w)
        return;
    for (size_t i = 0; i < n; i++) {
        struct note *nt = note_new(NOTE_ITEM);
        nt->user_id = users[i];
        nt->seq = items[i].seq;
        nt->frame = frame_item(w, "inbox", &items[i]);
        note_push(w, nt);
    }
}

void ws_notify_stream(struct ws_server *w, const char *stream, const struct ws_item *item)
{
    struct note *nt;
    if (!w)
        return;
    nt = note_new(NOTE_STREAM);
    snprintf(nt->name, sizeof nt->name, "%s", stream);
    nt->seq = item->seq;
    nt->frame = frame_item(w, stream, item);
    note_push(w, nt);
}

void ws_notify_revoked(struct ws_server *w, int64_t user_id, int64_t token_version, bool disabled,
                       const char *family)
{
    struct note *nt;
    if (!w)
        return;
    nt = note_new(NOTE_REVOKED);
    nt->user_id = user_id;
    nt->tv = token_version;
    nt->disabled = disabled;
    if (family)
        snprintf(nt->name, sizeof nt->name, "%s", family);
    note_push(w, nt);
}

static void note_apply(struct ws_server *w, struct note *n)
{
    switch (n->kind) {
    case NOTE_JOB:
        job_done(w, n->job);
        break;
    case NOTE_ITEM:
        for (struct ws_sess *s = w->by_user[user_bucket(n->user_id)]; s; s = s->unext)
            if (s->who.user_id == n->user_id && s->nsubs)
                sub_offer(&s->subs[0], n->seq, n->frame);
        break;
    case NOTE_STREAM: {
        struct ws_stream *st = stream_get(w, n->name, false);
        for (struct ws_sub *sub = st ? st->subs : NULL, *nx; sub; sub = nx) {
            nx = sub->next; /* sub_offer may kill a slow socket, never unlink it here */
            sub_offer(sub, n->seq, n->frame);
        }
        break;
    }
    case NOTE_REVOKED:
        for (struct ws_sess *s = w->by_user[user_bucket(n->user_id)]; s; s = s->unext) {
            if (s->who.user_id != n->user_id)
                continue;
            if (n->name[0] ? strcmp(s->who.family, n->name) == 0
                           : (n->disabled || s->who.token_version < n->tv))
                sess_close(s, WS_CLOSE_REVOKED);
        }
        break;
    }
    batch_flush(w);
    frame_unref(n->frame);
    free(n);
}

static void notes_drain(struct ws_server *w)
{
    struct note *n;
    uv_mutex_lock(&w->mu);
    n = w->notes;
    w->notes = NULL;
    w->notes_tail = &w->notes;
    uv_mutex_unlock(&w->mu);
    w->direct = true;
    while (n) {
        struct note *nx = n->next;
        note_apply(w, n);
        n = nx;
    }
    w->direct = false;
}

/* ---- client frames ----------------------------------------------------------------------- */

static void start_auth(struct ws_sess *s, const char *token, size_t len, const char *ref)
{
    struct actor who;
    int64_t exp = 0;
    char why[128] = "";
    struct ws_job *j;

    memset(&who, 0, sizeof who);
    if (len == 0 || len > TOKEN_MAX ||
        s->w->wc->authenticate(token, len, &who, &exp, why, sizeof why)) {
        log_warn(NULL, "ws: token rejected: %s", why[0] ? why : "malformed");
        sess_close(s, WS_CLOSE_UNAUTH);
        return;
    }
    if (who.api_key_id) {
        sess_close(s, WS_CLOSE_UNAUTH); /* machine keys have no inbox */
        return;
    }
    j = job_new(s, JOB_HELLO, ref);
    j->who = who;
    j->exp_s = exp;
    j->count = !s->counted;
    job_submit(s, j);
}

static bool needs_job(const struct ws_server *w, const char *type)
{
    return strcmp(type, "auth") == 0 || strcmp(type, "ack") == 0 || strcmp(type, "read") == 0 ||
           ws__call_find(w->wc->ops.calls, type) != NULL;
}

static void bad_frame(struct ws_sess *s, const char *ref, const char *msg)
{
    sess_error(s, ref, ERR_INVALID, msg);
    if (++s->bad_frames > BAD_FRAMES_MAX)
        sess_close(s, WS_CLOSE_BAD_FRAME);
}

static void handle_sync(struct ws_sess *s, const struct ws__msg *m, const char *ref)
{
    json_t *pos;
    const char *bad = ws__msg_positions(m, &pos);
    if (bad) {
        bad_frame(s, ref, bad);
        return;
    }
    for (int i = 0; i < s->nsubs; i++) {
        struct ws_sub *sub = &s->subs[i];
        int64_t p;
        bad = ws__sync_position(pos, sub_name(sub), &p);
        if (bad) {
            bad_frame(s, ref, bad);
            return;
        }
        if (s->busy && s->busy_sub == i)
            continue; /* a read for it is running: its result continues the sync */
        sub->sent = p;
        sub->state = SUB_WANT;
    }
    pump(s);
}

static void handle_typing(struct ws_sess *s, const struct ws__msg *m, const char *ref)
{
    int64_t to, conv;
    ws__msg_typing(m, &to, &conv);
    if (conv > 0) {
        /* To this node's sockets that subscribed to the conversation (subscribing checked the
         * membership of each, this one included). */
        bool mine = false;
        for (int i = 0; i < s->nconvs; i++)
            mine |= s->convs[i] == conv;
        if (!mine) {
            bad_frame(s, ref, "conversation_id: subscribe to it first");
            return;
        }
        for (struct ws_sess *t = s->w->all; t; t = t->next) {
            if (t == s || t->state != S_AUTHED || t->who.user_id == s->who.user_id)
                continue;
            for (int i = 0; i < t->nconvs; i++)
                if (t->convs[i] == conv) {
                    sess_send_json(t, json_pack("{s:s,s:I,s:I}", "type", "typing", "from",
                                                (json_int_t)s->who.user_id, "conversation_id",
                                                (json_int_t)conv));
                    break;
                }
        }
        return;
    }
    if (to <= 0) {
        bad_frame(s, ref, "to: a user id, or conversation_id");
        return;
    }
    for (struct ws_sess *t = s->w->by_user[user_bucket(to)]; t; t = t->unext)
        if (t->who.user_id == to && t->state == S_AUTHED)
            sess_send_json(
                t, json_pack("{s:s,s:I}", "type", "typing", "from", (json_int_t)s->who.user_id));
}

static void handle_text(struct ws_sess *s, const char *text, size_t len)
{
    struct ws__msg m;
    const char *bad = ws__msg_parse(text, len, &m);
    const char *type = m.type, *ref = m.ref;
    const struct ws_call *call = NULL;
    enum ws__kind kind;

    if (bad) {
        bad_frame(s, ref, bad);
        goto out;
    }
    /* While a job runs, requests that need one wait their turn; so does everything sent
     * right after the upgrade while the header's token is still being checked. */
    if (s->busy && (needs_job(s->w, type) || (s->state != S_AUTHED && strcmp(type, "ping") != 0))) {
        if (s->npending == PENDING_MAX) {
            sess_error(s, ref, ERR_RATELIMIT, "too many requests in flight");
            goto out;
        }
        s->pending[s->npending] = strndup(text, len);
        if (!s->pending[s->npending])
            abort();
        s->npending++;
        goto out;
    }
    kind = ws__msg_kind(&m, s->w->wc->ops.calls, &call);
    if (kind == WS__PING) {
        json_t *p = json_pack("{s:s}", "type", "pong");
        if (ref)
            json_object_set_new(p, "id", json_string(ref));
        sess_send_json(s, p);
        goto out;
    }
    if (kind == WS__AUTH) {
        const char *tok = ws__msg_token(&m);
        if (!tok) {
            bad_frame(s, ref, "token: required");
            goto out;
        }
        start_auth(s, tok, strlen(tok), ref);
        goto out;
    }
    if (s->state != S_AUTHED) {
        sess_error(s, ref, ERR_UNAUTH, "send an auth frame first");
        goto out;
    }
    if (kind == WS__SYNC) {
        handle_sync(s, &m, ref);
    } else if (kind == WS__CALL) {
        struct ws_job *j;
        if (!(s->who.roles & call->roles)) {
            sess_error(s, ref, ERR_FORBIDDEN, "not for your role");
            goto out;
        }
        j = job_new(s, JOB_CALL, ref);
        j->call = call;
        j->in = json_incref(m.o);
        job_submit(s, j);
    } else if (kind == WS__ACK) {
        const char *st;
        int64_t p;
        bool known = false;
        struct ws_job *j;
        ws__msg_position(&m, &st, &p);
        for (int i = 0; i < s->nsubs; i++)
            known |= strcmp(sub_name(&s->subs[i]), st) == 0;
        if (!known || p < 0) {
            bad_frame(s, ref, "stream: one of the auth_ok streams; position: an integer >= 0");
            goto out;
        }
        j = job_new(s, JOB_ACK, ref);
        snprintf(j->stream, sizeof j->stream, "%s", st);
        j->pos = p;
        j->read_mark = type[0] == 'r';
        if (j->read_mark) /* read marks are per user: a device id no app uses */
            snprintf(j->who.device_id, sizeof j->who.device_id, "*read*");
        job_submit(s, j);
    } else if (kind == WS__TYPING) {
        handle_typing(s, &m, ref);
    } else {
        bad_frame(s, ref, "type: unknown");
    }
out:
    ws__msg_dispose(&m);
}

/* Token bucket: ws.max_msgs_per_s per second, the same as burst. Over it, the socket is not
 * read any more until the bucket refills (TCP pushes back on the sender); far over it (a
 * client that keeps its queue full for ten seconds) it is closed. */
static void rate_take(struct ws_sess *s, int64_t now)
{
    double rate = s->w->wc->cfg->ws_max_msgs_per_s;
    s->tokens += (double)(now - s->tokens_ms) * rate / 1000.0;
    if (s->tokens > rate)
        s->tokens = rate;
    s->tokens_ms = now;
    s->tokens -= 1.0;
    if (s->tokens < 1.0 && !s->rx_paused) {
        s->rx_paused = true;
        lws_rx_flow_control(s->wsi, 0);
    }
}

static int on_receive(struct ws_sess *s, const char *in, size_t len)
{
    size_t cap = (size_t)s->w->wc->cfg->ws_max_message_bytes;
    size_t remain = lws_remaining_packet_payload(s->wsi);
    bool final = lws_is_final_fragment(s->wsi) && remain == 0;
    int64_t now = clock_now_ms();
    const char *msg;
    size_t msglen;

    s->last_rx_ms = now;
    if (s->state == S_CLOSING)
        return 0;
    if (lws_frame_is_binary(s->wsi)) {
        sess_close(s, WS_CLOSE_BAD_FRAME);
        return 0;
    }
    switch (ws__rx_feed(&s->rx, cap, in, len, remain, final, &msg, &msglen)) {
    case WS__RX_TOO_BIG:
        sess_close(s, WS_CLOSE_TOO_BIG); /* the rest of the message is read and dropped */
        break;
    case WS__RX_MORE:
        break;
    case WS__RX_DONE:
        rate_take(s, now);
        handle_text(s, msg, msglen);
        ws__rx_reset(&s->rx);
        break;
    }
    return 0;
}

static int on_writeable(struct ws_sess *s)
{
    if (s->part) { /* the rest of a frame written at once: before anything else */
        size_t n;
        const unsigned char *p = frame_wire(s->part, &n);
        ssize_t r = send(lws_get_socket_fd(s->wsi), p + s->part_off, n - s->part_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (r > 0) {
            s->part_off += (size_t)r;
            s->last_tx_ms = clock_now_ms();
        }
        if (s->part_off < n) {
            lws_callback_on_writable(s->wsi);
            return 0;
        }
        frame_unref(s->part);
        s->part = NULL;
    }
    if (s->close_code) {
        /* The close frame is written here rather than left to lws_close_reason(): a close
         * started from WRITEABLE went out without its code in lws 4.1 (clients saw 1006). */
        static const char *const why[] = {"", "unauthenticated", "token expired", "revoked"};
        const char *r = s->close_code >= 4001 && s->close_code <= 4003 ? why[s->close_code - 4000]
                        : s->close_code == WS_CLOSE_TOO_BIG            ? "message too big"
                                                                       : "closing";
        unsigned char buf[LWS_PRE + 2 + 32];
        size_t n = strlen(r);
        buf[LWS_PRE] = (unsigned char)(s->close_code >> 8);
        buf[LWS_PRE + 1] = (unsigned char)(s->close_code & 0xff);
        memcpy(buf + LWS_PRE + 2, r, n);
        if (s->close_sent)
            return 0;
        s->close_sent = true;
        lws_write(s->wsi, buf + LWS_PRE, 2 + n, (enum lws_write_protocol)4 /* LWS_WRITE_CLOSE */);
        /* Keep reading (and dropping) until the client answers with its close frame, so it
         * reads ours before the connection goes; at most two seconds. */
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_ACK, 2);
        return 0;
    }
    /* lws_partial_buffered(), not lws_send_pipe_choked(): the latter polls the socket (a
     * system call per frame); a frame the socket does not take is kept by lws and sent first
     * (see sess_queue), and the next WRITEABLE comes once it is gone. */
    if (s->ping_due && !lws_partial_buffered(s->wsi)) {
        /* With a payload: lws 4.1 (built with extensions) drops the callback of an empty
         * PONG, so an empty ping would never count as an answer. */
        unsigned char ping[LWS_PRE + 4] = {[LWS_PRE] = 'c', 'i', 't', 'y'};
        s->ping_due = false;
        if (lws_write(s->wsi, ping + LWS_PRE, 4, LWS_WRITE_PING) < 0)
            return -1;
    }
    s->last_tx_ms = clock_now_ms();
    while (s->qlen && !lws_partial_buffered(s->wsi)) {
        struct ws_frame *f = s->q[s->qhead];
        bool ok;
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        s->qbytes -= f->len;
        ok = sess_write(s, f);
        frame_unref(f);
        if (!ok)
            return -1;
    }
    if (s->qlen)
        lws_callback_on_writable(s->wsi);
    else if (s->qcap > 8) { /* give back a queue that grew for a backlog */
        free(s->q);
        s->q = NULL;
        s->qcap = 0;
        s->qhead = 0;
    }
    pump(s); /* a sync that waited for the queue to drain goes on */
    return 0;
}

static void sess_open(struct ws_server *w, struct ws_sess *s, struct lws *wsi)
{
    char auth[TOKEN_MAX + 16];
    int n;

    memset(s, 0, sizeof *s);
    s->wsi = wsi;
    s->w = w;
    s->sid = ++w->next_sid;
    s->busy_sub = -1;
    s->last_rx_ms = s->tokens_ms = clock_now_ms();
    s->deadline_ms = s->last_rx_ms + AUTH_TIMEOUT_MS;
    s->tokens = w->wc->cfg->ws_max_msgs_per_s;
    s->next = w->all;
    if (s->next)
        s->next->prev = s;
    w->all = s;
    s->snext = w->by_sid[s->sid & (SESS_BUCKETS - 1)];
    w->by_sid[s->sid & (SESS_BUCKETS - 1)] = s;
    w->nsess++;
    metrics_gauge_add(m_open, 1);
    metrics_inc(m_accepted);
    if (w->wc->cfg->ws_socket_send_buffer > 0) {
        int sz = w->wc->cfg->ws_socket_send_buffer;
        if (setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) != 0)
            log_warn(NULL, "ws: SO_SNDBUF %d refused", sz);
    }
    n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 0 && n < (int)sizeof auth &&
        lws_hdr_copy(wsi, auth, (int)sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
        s->header_auth = true;
        if (strncasecmp(auth, "Bearer ", 7) == 0)
            start_auth(s, auth + 7, strlen(auth + 7), NULL);
        else
            sess_close(s, WS_CLOSE_UNAUTH);
        memset(auth, 0, sizeof auth);
    }
}

static void sess_closed(struct ws_server *w, struct ws_sess *s)
{
    struct ws_sess **pp;

    if (!s->w)
        return;
    /* Last seen and one socket less on this node. At shutdown the node's presence goes as a
     * whole (ws_server_shutdown). */
    if (s->counted && !w->stopping && w->wc->ops.bye)
        submit_bye(w, &s->who);
    user_unlink(s);
    subs_detach(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        w->all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    for (pp = &w->by_sid[s->sid & (SESS_BUCKETS - 1)]; *pp && *pp != s; pp = &(*pp)->snext)
        ;
    if (*pp)
        *pp = s->snext;
    while (s->qlen) {
        frame_unref(s->q[s->qhead]);
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
    }
    free(s->q);
    frame_unref(s->part);
    s->part = NULL;
    ws__rx_reset(&s->rx);
    for (int i = 0; i < s->npending; i++)
        free(s->pending[i]);
    w->nsess--;
    metrics_gauge_add(m_open, -1);
    s->w = NULL;
}

/* Path check before the upgrade completes: only /ws. Query strings (where a browser client
 * might put a token) are never logged. */
static int path_ok(struct lws *wsi)
{
    char uri[64];
    int n = lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
    return n == 3 && memcmp(uri, "/ws", 3) == 0;
}

static int cb_cityd(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct ws_server *w = the_server;
    struct ws_sess *s = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return w->stopping || !path_ok(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        sess_open(w, s, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return s && s->w ? on_receive(s, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (s && s->w)
            s->last_rx_ms = clock_now_ms();
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return s && s->w ? on_writeable(s) : -1;
    case LWS_CALLBACK_CLOSED:
        if (s)
            sess_closed(w, s);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (w)
            notes_drain(w);
        return 0;
    default:
        return 0;
    }
}

/* protocols[0] serves plain HTTP on this port (404 for everything) and refuses an upgrade that
 * names no subprotocol, so every socket speaks cityd.v1. */
static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
        return -1;
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- the sweep: auth deadline, token expiry, idle peers, rate limits -------------------- */

/* Presence: this node is alive (heartbeat) or leaving. */
static void submit_node(struct ws_server *w, bool gone)
{
    struct ws_job *j;

    if (!w->wc->ops.node)
        return;
    j = calloc(1, sizeof *j);
    if (!j)
        abort();
    j->w = w;
    j->kind = JOB_NODE;
    j->node_gone = gone;
    j->work.run = job_run;
    if (workpool_submit(w->wc->db_pool, &j->work)) {
        job_free(j);
        return;
    }
    w->beat_busy = !gone;
}

static void on_sweep(uv_timer_t *t)
{
    struct ws_server *w = t->data;
    int64_t now = clock_now_ms(), now_s = now / 1000;
    const struct cfg *c = w->wc->cfg;

    if (!w->stopping && !w->beat_busy && (w->beat_ms == 0 || now - w->beat_ms >= WS_NODE_BEAT_MS)) {
        w->beat_ms = now;
        submit_node(w, false);
    }

    for (struct ws_sess *s = w->all; s; s = s->next) {
        if (s->state == S_CLOSING)
            continue;
        if (s->state == S_NEW && now > s->deadline_ms && !s->busy) {
            sess_close(s, WS_CLOSE_UNAUTH);
            continue;
        }
        if (s->state == S_AUTHED && now_s > s->exp_s) {
            sess_close(s, WS_CLOSE_EXPIRED);
            continue;
        }
        if (s->state == S_AUTHED && !s->warned_expiry && now_s > s->exp_s - EXPIRING_NOTICE_S) {
            s->warned_expiry = true;
            sess_send_json(s, json_pack("{s:s,s:I}", "type", "token_expiring", "expires_at",
                                        (json_int_t)s->exp_s));
        }
        /* Frames waiting and the socket not writable for the idle timeout: a client that
         * does not read (even one that keeps writing) is cut. A backlog read page by page
         * keeps memory bounded meanwhile, so this is about not holding the slot forever. */
        if ((s->qlen || s->part || lws_partial_buffered(s->wsi)) &&
            now - s->last_tx_ms > (int64_t)c->ws_idle_timeout_s * 1000) {
            log_warn(NULL,
                     "ws: user %lld does not read (%zu bytes queued for %lld ms): disconnected",
                     (long long)s->who.user_id, s->qbytes, (long long)(now - s->last_tx_ms));
            sess_kill(s);
            continue;
        }
        if (s->state == S_AUTHED && now - s->last_rx_ms > (int64_t)c->ws_idle_timeout_s * 1000) {
            sess_close(s, WS_CLOSE_GOING_AWAY);
            continue;
        }
        /* Heartbeat: a PING after ws.ping_interval_s of silence, then every interval; any
         * frame or PONG from the client counts as life. */
        if (now - s->last_rx_ms > (int64_t)c->ws_ping_interval_s * 1000 &&
            now - s->last_ping_ms > (int64_t)c->ws_ping_interval_s * 1000) {
            s->last_ping_ms = now;
            s->ping_due = true;
            lws_callback_on_writable(s->wsi);
        }
        if (s->rx_paused) {
            double tokens = s->tokens + (double)(now - s->tokens_ms) * c->ws_max_msgs_per_s / 1e3;
            if (tokens >= 1.0) {
                s->rx_paused = false;
                lws_rx_flow_control(s->wsi, 1);
            }
        }
        if (s->state == S_AUTHED && !s->busy)
            pump(s); /* retries a read that failed while the database was away */
    }
}

/* ---- life cycle -------------------------------------------------------------------------- */

static void lws_log(int level, const char *line)
{
    /* Never a URI or header: lws logs those at info/debug only, which are off. */
    if (level & LLL_ERR)
        log_warn(NULL, "libwebsockets: %.*s", (int)strcspn(line, "\n"), line);
}

struct ws_server *ws_server_new(const struct ws_config *wc, uv_loop_t *loop, char *errbuf,
                                size_t errlen)
{
    struct lws_context_creation_info info;
    struct ws_server *w = calloc(1, sizeof *w);
    void *loops[1] = {loop};
    char host[128];
    const char *colon;

    if (!w)
        abort();
    w->cfgcopy = *wc;
    w->wc = &w->cfgcopy;
    w->loop = loop;
    w->notes_tail = &w->notes;
    uv_mutex_init(&w->mu);
    the_server = w;
    m_open = metrics_gauge("cityd_connections_open", "Open client connections by protocol.",
                           "protocol=\"websocket\"");
    m_accepted =
        metrics_counter("cityd_connections_accepted_total",
                        "Client connections accepted, by protocol.", "protocol=\"websocket\"");
    m_frames =
        metrics_counter("cityd_ws_frames_built_total",
                        "WebSocket item frames built (one per item, shared by its sockets).", "");
    m_deliveries =
        metrics_counter("cityd_ws_deliveries_total",
                        "WebSocket frames queued to sockets (one per recipient socket).", "");
    m_queued = metrics_counter(
        "cityd_ws_deliveries_queued_total",
        "WebSocket frames that waited in a socket's send queue (the others went out at once).", "");
    lws_set_log_level(LLL_ERR, lws_log);

    colon = strrchr(wc->cfg->ws_listen, ':');
    if (!colon || (size_t)(colon - wc->cfg->ws_listen) >= sizeof host) {
        snprintf(errbuf, errlen, "config: ws.listen: host:port expected");
        goto fail;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - wc->cfg->ws_listen), wc->cfg->ws_listen);

    w->protocols[0] = (struct lws_protocols){"http", cb_http, 0, 0, 0, NULL, 0};
    /* tx_packet_size: without it lws sends at most rx_buffer_size (1 KiB by default) per
     * send() and keeps the rest of a frame for the next POLLOUT, a round trip per KiB. */
    w->protocols[1] = (struct lws_protocols){
        "cityd.v1", cb_cityd, sizeof(struct ws_sess), (size_t)wc->cfg->ws_rx_buffer_bytes,
        0,          NULL,     WS_TX_PACKET_MAX};
    w->retry.secs_since_valid_ping = (uint16_t)wc->cfg->ws_ping_interval_s;
    /* Our own sweep pings and closes idle peers with a code; lws' hangup is only a backstop. */
    w->retry.secs_since_valid_hangup = (uint16_t)(wc->cfg->ws_idle_timeout_s + 30);

    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.foreign_loops = loops;
    info.count_threads = 1;
    info.fd_limit_per_thread = 0;
    w->ctx = lws_create_context(&info);
    if (!w->ctx) {
        snprintf(errbuf, errlen, "ws: cannot create the libwebsockets context");
        goto fail;
    }
    memset(&info, 0, sizeof info);
    info.options =
        LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
    {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port < 0 || port > 65535) {
            snprintf(errbuf, errlen, "config: ws.listen: bad port");
            lws_context_destroy(w->ctx);
            w->ctx = NULL;
            goto fail;
        }
        info.port = (int)port;
    }
    info.iface = host;
    info.protocols = w->protocols;
    info.vhost_name = "cityd-ws";
    info.alpn = "http/1.1";
    info.retry_and_idle_policy = &w->retry;
    info.timeout_secs = 10;
    w->vh = lws_create_vhost(w->ctx, &info);
    if (!w->vh) {
        snprintf(errbuf, errlen, "ws: cannot listen on %s", wc->cfg->ws_listen);
        lws_context_destroy(w->ctx);
        w->ctx = NULL; /* the loop will close its handles */
        goto fail;
    }
    w->port = lws_get_vhost_listen_port(w->vh);
    do
        ids_random(&w->node, sizeof w->node);
    while (w->node == 0 || w->node > INT64_MAX); /* a positive BIGINT; 0 means "not counted" */
    uv_timer_init(loop, &w->sweep);
    w->sweep.data = w;
    uv_timer_start(&w->sweep, on_sweep, 250, 250);
    {
        unsigned cores = uv_available_parallelism();
        size_t want = cores > 1 ? cores - 1 : 0;
        if (want > TX_HELPERS_MAX)
            want = TX_HELPERS_MAX;
        while (w->nhelpers < want) {
            struct tx_helper *h = &w->helpers[w->nhelpers];
            h->w = w;
            atomic_init(&h->state, TXH_IDLE);
            if (uv_sem_init(&h->go, 0))
                break;
            if (uv_thread_create(&h->th, tx_helper_main, h)) {
                uv_sem_destroy(&h->go);
                break;
            }
            w->nhelpers++;
        }
    }
    return w;
fail:
    the_server = NULL;
    uv_mutex_destroy(&w->mu);
    free(w);
    return NULL;
}

int ws_server_port(const struct ws_server *w)
{
    return w->port;
}

void ws_server_shutdown(struct ws_server *w)
{
    if (!w || w->stopping)
        return;
    w->stopping = true; /* new upgrades are refused */
    for (struct ws_sess *s = w->all; s; s = s->next)
        sess_close(s, WS_CLOSE_GOING_AWAY);
    submit_node(w, true); /* its sockets no longer count anywhere */
}

void ws_server_release(struct ws_server *w)
{
    if (!w || w->released)
        return;
    w->released = true;
    w->stopping = true;
    uv_timer_stop(&w->sweep);
    uv_close((uv_handle_t *)&w->sweep, NULL);
    lws_context_destroy(w->ctx); /* first call: closes sockets and lws' uv handles */
}

void ws_server_free(struct ws_server *w)
{
    struct note *n;
    if (!w)
        return;
    if (w->ctx)
        lws_context_destroy(w->ctx); /* second call, after the loop stopped: frees it */
    the_server = NULL;
    n = w->notes;
    while (n) {
        struct note *nx = n->next;
        if (n->job)
            job_free(n->job);
        frame_unref(n->frame);
        free(n);
        n = nx;
    }
    while (w->streams) {
        struct ws_stream *nx = w->streams->next;
        free(w->streams);
        w->streams = nx;
    }
    for (size_t i = 0; i < w->nhelpers; i++) {
        struct tx_helper *h = &w->helpers[i];
        h->stop = true;
        uv_sem_post(&h->go);
        uv_thread_join(&h->th);
        uv_sem_destroy(&h->go);
    }
    free(w->batch);
    uv_mutex_destroy(&w->mu);
    free(w);
}

void ws_server_stats(const struct ws_server *w, struct ws_stats *out)
{
    out->sessions = w->nsess;
    out->authed = w->nauthed;
    out->frames_built = atomic_load(&w->frames_built);
    out->deliveries = w->deliveries;
}
