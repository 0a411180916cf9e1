/* api/domain/case_urge.h: 督办 — a leader urges a case, the department holding it reads and
 * acknowledges — and the reporting citizen's rating after closing. Tables case_urgings and
 * case_ratings (migrations/0005_cases.sql); visibility, idempotency and pool ownership as in
 * case.h. No HTTP, no JSON. */
#ifndef CITYD_DOMAIN_CASE_URGE_H
#define CITYD_DOMAIN_CASE_URGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "api/domain/case.h"
#include "server/core/err.h"
#include "server/core/rctx.h"

struct idem; /* idempotency.h: the request's Idempotency-Key record, built by api/ */

/* A leader urges a visible, open case: an urging row addressed to the department holding it,
 * event case.urged, audit. ERR_BAD_STATE for a closed, invalid or merged case. */
enum err case_urge(struct rctx *cx, int64_t case_id, const char *note, struct idem *idem,
                   int64_t *urging_id) MUST_CHECK;
/* The department addressed (a handler in it) acknowledges; marks read too. ERR_NOTFOUND when
 * not addressed to the caller, ERR_BAD_STATE when already acknowledged (a retry with the same
 * Idempotency-Key replays instead). */
enum err case_urging_ack(struct rctx *cx, int64_t urging_id, const char *text, struct idem *idem,
                         struct case_urging_rec *out) MUST_CHECK;
/* Urgings the caller sent (leader) or that are addressed to the caller's department
 * (handler), newest first, at most limit. */
enum err case_urgings_list(struct rctx *cx, bool open_only, int limit, size_t *n,
                           struct case_urging_rec **out) MUST_CHECK;

struct case_rating {
    int score;        /* 1..5 */
    const char *text; /* NULL: none; at most CASE_NOTE_MAX bytes */
};

/* The reporting citizen rates a closed case once. ERR_INVALID for a score or text out of
 * range, ERR_NOTFOUND when the caller did not report it, ERR_BAD_STATE before closing,
 * ERR_CONFLICT when already rated. */
enum err case_rate(struct rctx *cx, int64_t case_id, const struct case_rating *in,
                   struct idem *idem) MUST_CHECK;

#endif
