/* api/domain/idempotency.h: Idempotency-Key for every mutating POST.
 *
 * Phones on weak 4G retry. The first request with a key claims it inside its own transaction
 * (a row in idempotency_keys); a retry with the same key and the same body gets the first
 * result back and creates nothing; the same key with a different body is a conflict. A retry
 * that arrives while the first is still running waits on the row lock and then replays.
 * What is stored is the status and the id of what the first request produced, so the replay
 * renders the resource as it is now (same id, same status). Keys are per caller. */
#ifndef CITYD_DOMAIN_IDEMPOTENCY_H
#define CITYD_DOMAIN_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

/* One request's record. api/ builds it once per request (api_idem in api.h: the header, the
 * route as requested, the body, the status it answers on success) and passes it down; the
 * domain claims and completes it inside its transaction and never sees HTTP itself. */
struct idem {
    const char *key;   /* NULL: no key given, every call is a no-op */
    const char *route; /* the request's method and path, "POST /api/v1/cases/7/actions" */
    char hash[65];     /* SHA-256 of the request body; not computed without a key */
    int status;        /* opaque to the domain: what api/ answers on success, kept with the
                          result; after a replay, the first request's */
    bool replay;       /* set by idem_claim: the first result is in status/result_id */
    int64_t result_id;
};

/* Fill i for key/route/body (no I/O); key NULL skips hashing. route and key are borrowed. */
void idem_init(struct idem *i, const char *key, const char *route, int status, const void *body,
               size_t len);
/* Inside the caller's open transaction: claim the key, or find the first result (replay).
 * ERR_CONFLICT when the key was used with another body or on another route. After a replay
 * the caller must end its transaction without changing anything. */
enum err idem_claim(struct rctx *cx, struct idem *i) MUST_CHECK;
/* Open the caller's transaction and claim the key in it. On failure the transaction is
 * already rolled back; on success the caller ends it with db_tx_end (without changing
 * anything when i->replay). */
enum err idem_begin(struct rctx *cx, struct idem *i) MUST_CHECK;

/* Inside the same transaction, after the work: record what it produced (and i->status). */
enum err idem_complete(struct rctx *cx, struct idem *i, int64_t result_id) MUST_CHECK;

#endif
