/* api/domain/case_event.h: the event feed — the events table the outbox writes, read in id
 * order by polling clients. Results are pool memory of cx. No HTTP, no JSON. */
#ifndef CITYD_DOMAIN_CASE_EVENT_H
#define CITYD_DOMAIN_CASE_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct case_event {
    int64_t id, subject_id, actor_id;
    const char *type, *subject_type, *payload_json;
    int64_t created_ms;
};

/* Events after id `after`, ascending, at most limit (1..500). Staff read all; others only the
 * events of cases they reported. */
enum err case_events_list(struct rctx *cx, int64_t after, int limit, size_t *n,
                          struct case_event **out) MUST_CHECK;

#endif
