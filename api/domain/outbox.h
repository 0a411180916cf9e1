/* api/domain/outbox.h: events, written in the transaction of the change they describe.
 *
 * Every state change calls outbox_add inside its transaction, so the event exists if and only
 * if the change committed: a crash between commit and delivery loses nothing. Delivery (the
 * WebSocket gateway, vendor push) reads events in id order and remembers how far it got;
 * until the gateway exists, events are readable through the API. */
#ifndef CITYD_DOMAIN_OUTBOX_H
#define CITYD_DOMAIN_OUTBOX_H

#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

/* type e.g. "case.dispatched"; payload_json a JSON object text (NULL = "{}"), built by the
 * caller with outbox_json_* style snprintf of ids and codes only — never personal data. */
enum err outbox_add(struct rctx *cx, const char *type, const char *subject_type, int64_t subject_id,
                    const char *payload_json, int64_t *event_id) MUST_CHECK;

struct idem;

/* The three rows every state change writes in its own transaction, in order: its event, its
 * audit row (action, on the same subject) and the first result of its Idempotency-Key
 * (status, result_id). Stops at the first error. */
enum err outbox_record_change(struct rctx *cx, const char *type, const char *subject_type,
                              int64_t subject_id, const char *payload_json,
                              const char *audit_action, struct idem *idem,
                              int64_t result_id) MUST_CHECK;

#endif
