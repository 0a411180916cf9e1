/* api/domain/audit.h: the append-only audit log (等保2.0 安全审计).
 *
 * Who (cx->who), role, action, object, result, source address, device and time of every login,
 * token event and state-changing action. Rows are only ever inserted; the runtime database
 * user has no UPDATE or DELETE right on the table. A success is written inside the
 * transaction of the change it records; a denial or failure is written on its own, after the
 * failed transaction was rolled back, so it is never lost with it. */
#ifndef CITYD_DOMAIN_AUDIT_H
#define CITYD_DOMAIN_AUDIT_H

#include <stdbool.h>
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

/* Rejected bearer tokens. A flood of garbage tokens must not become a flood of durable writes,
 * yet every rejection is accounted for: per source (lockout_source: IPv6 by /64) and reason,
 * the first `burst` rejections of a window are audited one row each; the rest are counted and
 * written as one row per source and reason when the window ends ("auth.token_rejected",
 * detail "N more ... within W s"). At most AUDIT_REJECT_KEYS sources and reasons are told
 * apart per window; the rest share the source "*". Thread-safe. */
#define AUDIT_REJECT_KEYS 1024
void audit_rejections_configure(int window_s, int burst);
/* Count one rejection; true when this one gets its own row now (the caller writes it with
 * audit_write_quiet), false when it was counted for the window's summary row. */
bool audit_rejection_note(const char *ip, const char *reason, int64_t now_ms);
/* Write the summary rows of the windows that ended (all of them when final); a periodic job. */
enum err audit_rejections_flush(struct rctx *cx) MUST_CHECK;
enum err audit_rejections_flush_final(struct rctx *cx) MUST_CHECK;

#endif
