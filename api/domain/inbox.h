/* api/domain/inbox.h: the per-user inbox, shared streams, device positions and the dispatcher
 * that turns events into inbox items.
 *
 * Invariants:
 * - An inbox item is committed before anyone is told about it; its seq is per user, strictly
 *   increasing from 1 and without holes (the head row is bumped in the same transaction).
 * - The dispatcher reads events in id order after its stored position, with a locking read
 *   that waits for transactions still writing earlier events, and moves its position in the
 *   same transaction as the items it wrote: after a crash it neither skips nor repeats an
 *   event. Several processes may run it: they serialise on the position row.
 * - What goes to many people (announcements, department notices, dashboard tiles) is stored
 *   once in a stream with its own offsets.
 * - Device positions only move forward and never past the head.
 * Delivery is "item N for user U exists" (struct inbox_sink, set by the wiring): whoever holds
 * U's sockets reads and sends; nothing here knows about sockets. No HTTP, no JSON library. */
#ifndef CITYD_DOMAIN_INBOX_H
#define CITYD_DOMAIN_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define INBOX_STREAM "inbox" /* name of the personal inbox in positions and frames */
#define INBOX_STREAM_MAX 64  /* bytes of a stream name */
#define INBOX_PAGE_MAX 500   /* items per read */
#define INBOX_MEMBER_MAX 8   /* streams one user belongs to */
#define INBOX_GRIDS_MAX 4    /* "grid.<id>" streams one user follows (its first grids by id) */

/* One stored item (of the inbox or of a stream). Strings are pool memory of the reader. */
struct inbox_item {
    int64_t user_id; /* 0 for stream items */
    int64_t seq;     /* inbox seq or stream offset */
    const char *type;
    const char *payload; /* a JSON object text */
    int64_t created_ms;
};

/* Who is told when items, stream items or revocations are committed. Called on the thread
 * that committed, after the commit; the functions must not block. Set once at start-up. */
struct inbox_sink {
    void (*items)(const struct inbox_item *v, size_t n);
    void (*stream_item)(const char *stream, const struct inbox_item *it);
    /* token_version > 0: every token of the user older than it is dead (or all of them when
     * disabled); family non-NULL: that one session ended. */
    void (*revoked)(int64_t user_id, int64_t token_version, bool disabled, const char *family);
};
void inbox_set_sink(const struct inbox_sink *sink);
/* Items older than retention_ms are purged by inbox_retention_job. */
void inbox_configure(int64_t retention_ms);

/* Process up to max_events events after the stored position in one transaction; *done gets
 * how many were consumed (0: nothing new). ERR_BUSY when the database is away. */
enum err inbox_dispatch(struct rctx *cx, int max_events, int *done) MUST_CHECK;

/* A page of a stream after a position. resync is set when after is below what retention
 * kept (the client must reload from REST and start from head). */
struct inbox_page {
    size_t n;
    struct inbox_item *v; /* pool */
    int64_t head;         /* the newest seq/offset at the time of the read */
    bool more;            /* more items after the last one returned */
    bool resync;
};
/* stream is INBOX_STREAM (the caller's cx->who.user_id inbox) or a stream name the caller
 * belongs to (checked by the caller). limit 1..INBOX_PAGE_MAX. */
enum err inbox_read(struct rctx *cx, const char *stream, int64_t after, int limit,
                    struct inbox_page *out) MUST_CHECK;

/* Streams the caller belongs to, from its roles and department: "all" for staff, "dept.<id>"
 * for a department's members, "tiles" for leaders, "grid.<id>" for staff working in a grid
 * (up to INBOX_GRIDS_MAX). names[i] are pool memory. */
enum err inbox_member_streams(struct rctx *cx, const char **names, size_t *n) MUST_CHECK;
bool inbox_stream_name_ok(const char *s);

/* Move the device's position on stream forward to position (never back); ERR_INVALID past the
 * head. *unread gets the items after the device's position. */
enum err inbox_ack(struct rctx *cx, const char *device_id, const char *stream, int64_t position,
                   int64_t *unread) MUST_CHECK;
/* The device's stored position (-1 when it has none) and the items after it. */
enum err inbox_unread(struct rctx *cx, const char *device_id, const char *stream, int64_t *position,
                      int64_t *unread) MUST_CHECK;

/* Store an item once in a shared stream (created on first use) and tell the sink.
 * payload_json is a JSON object text. *offset gets its offset. */
enum err inbox_stream_publish(struct rctx *cx, const char *stream, const char *type,
                              const char *payload_json, int64_t *offset) MUST_CHECK;

/* The same inside the caller's transaction, without telling anyone: the caller commits, then
 * calls inbox_notify_stream with the item. */
enum err inbox_stream_publish_tx(struct rctx *cx, const char *stream, const char *type,
                                 const char *payload_json, int64_t *offset) MUST_CHECK;
/* Give user the next seq and store one item, inside the caller's transaction (dedupe may be
 * NULL; a duplicate (user, dedupe) gives ERR_CONFLICT). *seq gets it. Lock users' heads in
 * ascending id order within one transaction, as the dispatcher does. */
enum err inbox_append(struct rctx *cx, int64_t user, const char *type, const char *payload,
                      const char *dedupe, int64_t *seq) MUST_CHECK;
/* After the commit of items written with inbox_append (or by other modules' batched writes):
 * tell the sink. Never blocks. */
void inbox_notify_items(const struct inbox_item *v, size_t n);
void inbox_notify_stream(const char *stream, const struct inbox_item *it);

/* Periodic job: purge items past the retention and raise the floors. */
enum err inbox_retention_job(struct rctx *cx) MUST_CHECK;

/* Ask the dispatcher to run soon (called after handlers that may have written events). The
 * dispatcher loop waits on this; see inbox_dispatcher_wait. Cheap; any thread. */
void inbox_poke(void);
/* Dispatcher thread: wait until poked or timeout_ms passed. Returns true when poked. */
bool inbox_dispatcher_wait(int timeout_ms);
/* outbox_add notes that this thread wrote an event; the wiring takes the note after each
 * handler and pokes the dispatcher, so a committed action reaches sockets at once. */
void inbox__note_written(void);
/* Every writer of inbox_items calls this with the items it stored, inside the transaction that
 * stores them (the dispatcher, inbox_append, conversation fan-out): it queues their vendor
 * pushes (push.h). A new way of writing items must call it too. */
enum err inbox__stored(struct rctx *cx, const struct inbox_item *v, size_t n) MUST_CHECK;
bool inbox__take_written(void);

#endif
