/* api/domain/webhook.h: case progress pushed to machine clients — one webhook per API key.
 *
 * A machine client (the 12345 hotline bridge, another city system) reports cases with its API
 * key; an admin gives the key a webhook (URL + secret), and cityd POSTs every event of the cases
 * that key's machine account reported to that URL, signed (server/ext/webhook.h), one event per
 * request. The events are the durable feed of case_event.h (the events table), read after the
 * webhook's stored position, so nothing is lost across a restart of cityd or an outage of the
 * receiver. Internal supervision (reminders, overdue marks, escalations, 督办) is not sent, as it
 * is not shown to reporters.
 *
 * Invariants:
 * - Per webhook, events go out in id order, and an event of the key's is passed only after its
 *   receiver answered 2xx: a failure retries the same event after a backoff (retry_base_ms
 *   doubling per failed attempt, capped at retry_max_ms) and later events wait behind it.
 * - One attempt at a time per webhook across every cityd process: the attempt holds a lease
 *   (claimed under a row lock with SKIP LOCKED, so processes never wait on each other); a
 *   process that dies mid-attempt leaves a lease that expires, and the event is sent again.
 *   Receivers deduplicate by X-Cityd-Event-Id: delivery is at least once, and exactly once
 *   unless a process dies between the receiver's answer and the commit that records it.
 * - The outside call runs with no transaction open, on the deliverer's own threads (never the
 *   database workers of requests).
 * - Every attempt is a row of the delivery log; admin changes (URL, secret, replay) are audited
 *   and bump the webhook's generation, so an attempt still in flight cannot move the position
 *   they set.
 * No HTTP, no JSON library: api/webhooks.c encodes. Results are pool memory of cx. */
#ifndef CITYD_DOMAIN_WEBHOOK_H
#define CITYD_DOMAIN_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define WEBHOOK_URL_MAX 512
#define WEBHOOK_SECRET_MIN 16
#define WEBHOOK_SECRET_MAX 128
#define WEBHOOK_LOG_MAX 200      /* delivery log rows per read */
#define WEBHOOK_LOG_KEEP_DAYS 30 /* delivery log rows older than this are purged */

/* Once at start-up, before the deliverer runs. */
struct webhook_config {
    int timeout_ms;        /* one attempt, connect included */
    int64_t retry_base_ms; /* wait after the first failure; doubles per failure */
    int64_t retry_max_ms;  /* the longest wait */
};
void webhook_configure(const struct webhook_config *c);

/* ---- admin ----------------------------------------------------------------------------- */

struct webhook_rec {
    int64_t id, api_key_id;
    const char *url;
    bool enabled;
    int64_t position;   /* the last event id dealt with */
    int64_t head;       /* the newest event id now (replay positions are 0..head) */
    int64_t generation; /* bumped by every admin change */
    int64_t attempts;   /* failed attempts at the pending event since the last success */
    int64_t next_attempt_ms, last_success_ms, created_ms, updated_ms; /* 0: none */
    const char *last_error;                                           /* NULL: none */
};

struct webhook_put_in {
    const char *url; /* http:// or https://, at most WEBHOOK_URL_MAX bytes */
    char *secret;    /* WEBHOOK_SECRET_MIN..MAX printable ASCII characters (the caller wipes it) */
    bool enabled;
    int64_t position; /* < 0: keep it (a new webhook starts at the newest event) */
};

/* Create or replace the webhook of an API key (not revoked). ERR_NOTFOUND for an unknown key,
 * ERR_INVALID for a bad URL, secret, position or a revoked key. *created tells which.
 * Audited "webhook.put" (never with the secret). */
enum err webhook_put(struct rctx *cx, int64_t api_key_id, const struct webhook_put_in *in,
                     struct webhook_rec *out, bool *created) MUST_CHECK;
/* ERR_NOTFOUND when the key has no webhook. */
enum err webhook_get(struct rctx *cx, int64_t api_key_id, struct webhook_rec *out) MUST_CHECK;
/* Delete it with its delivery log. ERR_NOTFOUND. Audited "webhook.delete". */
enum err webhook_delete(struct rctx *cx, int64_t api_key_id) MUST_CHECK;
/* Deliver again every event of the key's after position (0..head): the position moves there
 * (back or forward), failures are forgotten and the next attempt is due now. ERR_INVALID
 * outside 0..head, ERR_NOTFOUND. Audited "webhook.replay". */
enum err webhook_replay(struct rctx *cx, int64_t api_key_id, int64_t position,
                        struct webhook_rec *out) MUST_CHECK;

struct webhook_delivery {
    int64_t id, event_id, attempt, http_status, duration_ms, created_ms; /* http_status 0: none */
    bool ok;
    const char *error; /* NULL on success */
};
/* The delivery log of the key's webhook, newest first, ids below before_id (0: from the
 * newest), at most limit (1..WEBHOOK_LOG_MAX). ERR_NOTFOUND when the key has no webhook. */
enum err webhook_log(struct rctx *cx, int64_t api_key_id, int64_t before_id, int limit,
                     struct webhook_delivery **out, size_t *n) MUST_CHECK;

/* ---- the deliverer --------------------------------------------------------------------- */

/* One pass over the webhooks due now: for each that holds no lease, claim it, find its next
 * event, send it (server/ext/webhook.h) with no transaction open, and record the attempt.
 * *worked gets how many webhooks moved (sent, failed or passed events): when 0 there is nothing
 * to do until new events come or a backoff ends. Run on a thread with its own connection.
 * ERR_BUSY when the database is away. */
enum err webhook_deliver_pass(struct rctx *cx, int *worked) MUST_CHECK;

/* Periodic job: delivery log rows older than WEBHOOK_LOG_KEEP_DAYS. */
enum err webhook_retention_job(struct rctx *cx) MUST_CHECK;

#endif
