/* api/domain/push.h: offline push — device registrations, the durable push queue, routing
 * from committed inbox items, quiet hours, retries, rate limits and dead letters.
 *
 * Invariants:
 * - A push is queued in the transaction that commits its inbox item (push_enqueue_items, the
 *   one hook in inbox.c), one row per registered device of the recipient: an item exists if
 *   and only if its pushes are queued, and a restart or a vendor outage loses none.
 * - A queued push goes after push.ack_grace_s, and only if the device has not acknowledged
 *   the item by then (device_positions, written by whichever node holds its socket): an app
 *   that is online and read it on the WebSocket gets nothing through the vendor.
 * - Rows are claimed with a lease (UPDATE … ORDER BY due LIMIT with a random owner), so
 *   several processes may run push_run at once; a process that dies mid-send leaves its lease
 *   to run out and another sends the rows (at least once; apns-id / vivo requestId are stable
 *   per row).
 * - No transaction waits for a vendor (the next batch's decisions, made while a batch's
 *   streams are out, end before its answers are read); vendor calls run on the push thread,
 *   never on a database worker; their outcome is written afterwards: sent (row gone,
 *   push_sent row), token dead (device gone), rate limited or unreachable (later, with
 *   back-off, the vendor paused), refused (dead letter). Nothing but a refusal or
 *   push.max_age_s moves a row to the dead letters.
 * - A device gets at most push.user_rate pushes (push.user_urgent_rate for urgent ones) in
 *   any minute that began with a counted push; the count is a row per device and class in
 *   push_rate, locked while a batch is decided, so all processes share it. The excess waits
 *   for the minute to end and then goes as one push that carries the number of items.
 * - Only ids leave through a vendor: seq, kind, case id, the number of items a push stands
 *   for, and a fixed title per class.
 * No HTTP, no JSON library; the vendor wire formats live in server/ext/push*. */
#ifndef CITYD_DOMAIN_PUSH_H
#define CITYD_DOMAIN_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct inbox_item;
struct ext_push;

#define PUSH_TOKEN_MAX 512
#define PUSH_APP_VERSION_MAX 32
#define PUSH_LOCALE_MAX 16
#define PUSH_DEAD_PAGE_MAX 200

struct push_conf {
    int64_t ack_grace_ms;    /* wait this long for an in-band acknowledgement */
    int64_t max_age_ms;      /* undelivered longer than this: dead letter */
    int64_t retry_max_ms;    /* back-off cap */
    int batch;               /* rows per claim */
    int user_rate;           /* pushes a minute to one device of a user, work and IM; 0 = no cap */
    int user_urgent_rate;    /* the same for urgent items and 督办 (their own budget) */
    int rate[8];             /* per vendor (enum ext_push_vendor), pushes a second; 0 = no cap */
    const char *receipt_key; /* push.receipt_key: the secret in receipt callback URLs ("" off) */
};
/* Once at start-up. */
void push_configure(const struct push_conf *c);

/* ---- devices ---- */

struct push_device_in {
    char *platform; /* ios, android, harmony, miniprogram */
    char *vendor;   /* apns, huawei, xiaomi, oppo, vivo, honor, wechat */
    char *token;    /* ignored for wechat: the caller's openid is used */
    char *app_version;
    char *locale; /* "zh-CN" */
};

struct push_device_rec {
    int64_t id;
    const char *device_id, *platform, *vendor, *app_version, *locale, *created_at, *updated_at;
    bool created; /* a new registration (else the token or details were updated) */
};

/* Register (or rotate) the push token of the caller's log-in device (cx->who.device_id,
 * family). A token registered by another device or user moves here. ERR_INVALID bad field,
 * ERR_BAD_STATE vendor not enabled on this server (or wechat without a linked openid),
 * ERR_FORBIDDEN a caller without a log-in device (API keys). */
enum err push_device_register(struct rctx *cx, const struct push_device_in *in,
                              struct push_device_rec *out) MUST_CHECK;
/* Remove the caller's device registration; ERR_NOTFOUND when there is none. */
enum err push_device_unregister(struct rctx *cx) MUST_CHECK;

/* ---- quiet hours ---- */

struct push_quiet {
    int start_min, end_min; /* minutes of the city's local day (citytime.h); -1 = none */
};
enum err push_quiet_get(struct rctx *cx, struct push_quiet *out) MUST_CHECK;
/* start == end == -1 clears; otherwise both 0..1439 and different (ERR_INVALID). */
enum err push_quiet_set(struct rctx *cx, const struct push_quiet *q) MUST_CHECK;
/* True when minute-of-day m lies in [start, end) (a window may pass midnight). */
bool push_quiet_contains(const struct push_quiet *q, int m);

/* ---- routing (inside the item's transaction) ---- */

/* Queue a push per registered device of each item's user. Called by inbox.c in the
 * transaction that stores the items; writes nothing for kinds that do not wake a phone (the
 * sender's own copy of a message). */
enum err push_enqueue_items(struct rctx *cx, const struct inbox_item *v, size_t n) MUST_CHECK;
/* Classification of an item kind: IM (else work) and urgent (督办, overdue, escalation). */
void push_classify(const char *kind, bool *im, bool *urgent);

/* ---- the push thread ---- */

/* Claim due rows, send them through sender, record the outcomes; while one batch's streams
 * are in flight the next batch is claimed and decided (up to 4 batches a call, fewer once
 * push_poke() was called). *handled gets how many rows were claimed (0: nothing due).
 * ERR_BUSY when the database is away. */
enum err push_run(struct rctx *cx, struct ext_push *sender, int *handled) MUST_CHECK;
/* Wake the push thread early (shutdown). */
void push_poke(void);
/* Push thread: wait until poked or timeout_ms passed. */
void push_wait(int timeout_ms);

/* Periodic job: rows past push.max_age_s (also of vendors no longer enabled) to dead letters,
 * push_sent past 7 days purged. */
enum err push_maintenance_job(struct rctx *cx) MUST_CHECK;

/* ---- delivery receipts (vendor callbacks) ---- */

enum push_receipt_kind { PUSH_RECEIPT_DELIVERED, PUSH_RECEIPT_CLICKED, PUSH_RECEIPT_INVALID };
/* True when key is push.receipt_key (compared in constant time; false when receipts are off). */
bool push_receipt_key_ok(const char *key);
/* A vendor's report on a message it accepted (vendor_msg_id, as in push_sent) for token:
 * delivered or clicked marks the send record; invalid drops the device registration of that
 * token at that vendor (Xiaomi reports dead regIds only this way). Unknown ids change nothing. */
enum err push_receipt(struct rctx *cx, const char *vendor, const char *vendor_msg_id,
                      const char *token, enum push_receipt_kind kind) MUST_CHECK;

/* ---- dead letters (admins) ---- */

struct push_dead {
    int64_t id, user_id, seq, created_ms, dead_ms;
    int attempts;
    const char *device_id, *vendor, *kind, *reason;
};
struct push_dead_page {
    size_t n;
    struct push_dead *v; /* pool */
    int64_t next;        /* id to pass as `before` for the next page, 0 when none */
};
/* Newest first, ids below before (0: from the newest). limit 1..PUSH_DEAD_PAGE_MAX. */
enum err push_dead_list(struct rctx *cx, int64_t before, int limit,
                        struct push_dead_page *out) MUST_CHECK;

#endif
