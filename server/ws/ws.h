/* server/ws/ws.h: the WebSocket gateway (libwebsockets on loop 0's libuv loop).
 *
 * Owns the `/ws` listener (subprotocol cityd.v1, http/1.1 only, no extensions), the sessions,
 * their authentication state, limits (message size, messages per second, queued send bytes),
 * heartbeat and idle timeout, and the delivery state of each socket: per stream the last
 * position sent, so that every socket gets every item after its sync position exactly once
 * and in order. The frame format is docs/ws-protocol.md.
 *
 * Threads: everything about a socket happens on loop 0's thread (lws has one service thread).
 * Database work runs on the worker pool through struct ws_ops; results and notifications from
 * other threads come back through one locked queue and lws_cancel_service(). Notifications
 * say "item N of stream S (or of user U's inbox) exists", with the frame when the sender has
 * it; a socket that sees a gap reads the missing items from the database itself, so nothing
 * assumes an item was produced in this process.
 *
 * Must not: touch the database, block, or keep a token after checking it. */
#ifndef CITYD_WS_H
#define CITYD_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>
#include "server/core/cfg.h"
#include "server/core/rctx.h"
#include "server/core/workpool.h"

#define WS_STREAMS_MAX 8 /* the inbox + shared streams one session follows */
#define WS_STREAM_NAME 64

/* Close codes (docs/ws-protocol.md). */
enum ws_close {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001, /* server shutting down, idle peer */
    WS_CLOSE_BAD_UTF8 = 1007,   /* sent by libwebsockets itself */
    WS_CLOSE_POLICY = 1008,     /* path or subprotocol refused */
    WS_CLOSE_TOO_BIG = 1009,    /* message over ws.max_message_bytes */
    WS_CLOSE_INTERNAL = 1011,   /* server error */
    WS_CLOSE_TRY_LATER = 1013,  /* database queue full while authenticating */
    WS_CLOSE_UNAUTH = 4001,     /* no, bad or rejected token; no auth within 5 s */
    WS_CLOSE_EXPIRED = 4002,    /* the token expired and no new one came */
    WS_CLOSE_REVOKED = 4003,    /* logged out everywhere, password changed, disabled */
    WS_CLOSE_BAD_FRAME = 4004,  /* not JSON, binary, or too many bad frames */
    WS_CLOSE_SLOW = 4008,       /* the client does not read: send queue over the cap */
    WS_CLOSE_RATE = 4029,       /* far over the message rate */
    WS_CLOSE_REPLACED = 4009,   /* unused: several sockets per device are allowed */
};

/* One stored item as the gateway sends it (item frame). Strings are owned by whoever made the
 * struct (pool memory on workers). */
struct ws_item {
    int64_t seq;
    const char *kind;
    const char *data; /* JSON object text */
    int64_t created_ms;
};

/* A page read for a socket. */
struct ws_page {
    int64_t from; /* the position read after (the device's stored one when asked for) */
    size_t n;
    const struct ws_item *v;
    int64_t head;
    bool more, resync;
};

/* A request frame answered on a database worker (the IM frames of api/ws.c: send, recall,
 * read of a conversation, subscribe, presence). fn gets the frame (borrowed) with cx->who the
 * socket's actor and sets *out to the answer frame (a new object with its "type"; the gateway
 * adds the client's "id"). An error becomes an error frame. Answers the gateway completes on
 * the loop thread: "subscribed" (with "conversation_id") makes the socket follow that
 * conversation's typing; "presence" (with "users": [{"id", ...}]) gets each user's "online"
 * from this node's sockets and an "online" array. */
/* How often a node tells the database it is alive (presence across nodes). */
#define WS_NODE_BEAT_MS 10000

struct ws_call {
    const char *type;
    enum err (*fn)(struct rctx *cx, json_t *in, json_t **out);
    uint32_t roles; /* role bits allowed (others get permission_denied) */
};

/* Database work, run on a worker with cx->db lent and cx->who the socket's actor. The
 * strings handed in are valid for the call only. */
struct ws_ops {
    /* Check the actor as REST does (token version, session, account) and list the shared
     * streams it belongs to; on success this node (a random id drawn at start) holds one more
     * socket of cx->who. ERR_UNAUTH closes the socket with 4001. */
    enum err (*hello)(struct rctx *cx, uint64_t node, const char **streams, size_t *nstreams);
    /* Items of stream after position; after < 0: after the device's stored position. */
    enum err (*read)(struct rctx *cx, const char *stream, int64_t after, int limit,
                     struct ws_page *out);
    enum err (*ack)(struct rctx *cx, const char *stream, int64_t position, int64_t *unread);
    /* A socket of cx->who that hello accepted closed (presence: last seen, one socket less on
     * node). May be NULL. */
    void (*bye)(struct rctx *cx, uint64_t node);
    /* This node is alive (every CONV_NODE_BEAT_MS, from the sweep), or leaving (gone, at
     * shutdown). May be NULL. */
    void (*node)(struct rctx *cx, uint64_t node, bool gone);
    const struct ws_call *calls; /* ended by a {NULL} row */
};

struct ws_config {
    const struct cfg *cfg;
    struct workpool *db_pool;
    struct ws_ops ops;
    /* Loop thread: verify a token's signature and claims (no I/O). *exp_s gets its expiry. */
    enum err (*authenticate)(const char *token, size_t len, struct actor *who, int64_t *exp_s,
                             char *why, size_t whylen);
    /* Worker thread, after a socket's token was rejected: audit it. May be NULL. */
    void (*auth_failed)(struct rctx *cx, const char *why);
    /* Worker thread, after every operation (rolls back a transaction left open). May be NULL. */
    void (*after)(struct rctx *cx);
};

/* Start the gateway on loop (loop 0's, running on the calling thread later). Binds
 * ws.listen; NULL with a reason in errbuf when it cannot. */
struct ws_server *ws_server_new(const struct ws_config *wc, uv_loop_t *loop, char *errbuf,
                                size_t errlen);
/* The bound port (ws.listen may say 0). */
int ws_server_port(const struct ws_server *w);
/* Loop thread, at the start of a shutdown: refuse new sockets, close every socket (1001). */
void ws_server_shutdown(struct ws_server *w);
/* Loop thread, at the end of the drain: start closing libwebsockets' handles (its destroy may
 * stop the loop, so not while HTTP requests are still being answered). */
void ws_server_release(struct ws_server *w);
/* After the loop has stopped: release everything. NULL is a no-op. */
void ws_server_free(struct ws_server *w);

/* Any thread, after a commit: items of users' inboxes exist. frames[i] is the item frame
 * text (may be NULL: sockets then read it). Copied; never blocks. */
void ws_notify_items(struct ws_server *w, const int64_t *users, const struct ws_item *items,
                     size_t n);
/* Any thread: stream item exists; one frame is built here and shared by every subscriber. */
void ws_notify_stream(struct ws_server *w, const char *stream, const struct ws_item *item);
/* Any thread: close the sockets of user whose token is older than token_version (all of them
 * when disabled), or those of one session (family). */
void ws_notify_revoked(struct ws_server *w, int64_t user_id, int64_t token_version, bool disabled,
                       const char *family);

/* Counters for tests and benchmarks (loop thread or racy reads). */
struct ws_stats {
    size_t sessions;
    size_t authed;
    uint64_t frames_built; /* item frames made (one per stream item, one per inbox item) */
    uint64_t deliveries;   /* frames queued to sockets */
};
void ws_server_stats(const struct ws_server *w, struct ws_stats *out);

#endif
