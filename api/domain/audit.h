/* api/domain/audit.h: the append-only audit log (等保2.0 安全审计).
 *
 * Who (cx->who), role, action, object, result, source address, device and time of every login,
 * token event and state-changing action. Rows are only ever inserted; the runtime database
 * user has no UPDATE or DELETE right on the table. A success is written inside the
 * transaction of the change it records; a denial or failure is written on its own, after the
 * failed transaction was rolled back, so it is never lost with it. */
#ifndef CITYD_DOMAIN_AUDIT_H
#define CITYD_DOMAIN_AUDIT_H

#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

enum audit_result { AUDIT_OK, AUDIT_DENIED, AUDIT_FAILED };

/* Insert one row. object_type may be NULL; detail is cut at 255 bytes and must not contain
 * secrets or personal numbers. */
enum err audit_write(struct rctx *cx, const char *action, const char *object_type,
                     int64_t object_id, enum audit_result result, const char *detail) MUST_CHECK;
/* Same, for paths where the audit failure must not change the answer (it is logged). */
void audit_write_quiet(struct rctx *cx, const char *action, const char *object_type,
                       int64_t object_id, enum audit_result result, const char *detail);

#endif
