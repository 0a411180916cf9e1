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

/* ---- retention (audit_purge.c) ----------------------------------------------------------
 * Rows are kept at least AUDIT_RETENTION_MIN_DAYS (网络安全法 Art. 21: network logs at least six
 * months). Only a maintenance account removes them (`cityd audit-purge`, docs/deployment.md):
 * the runtime user has no DELETE on audit_log, so serving code can never call this with
 * success. What is removed is decided so that no clock can make a row go early:
 *   - the time is the earlier of this process's clock (cx->now_ms) and the database server's;
 *   - only a prefix of the table in id order goes: a row is removed when it and every row
 *     inserted before it are older than the retention, so a row written by a node whose clock
 *     ran behind (it looks old) stays while any row inserted before it is young.
 * Each batch is one transaction: its DELETE and an "audit.purge" row saying how many rows
 * (ids, cut-off) it removed; a run that removes nothing writes one such row with 0, and an
 * attempt the database refuses writes one with result denied. */
#define AUDIT_RETENTION_MIN_DAYS 180
#define AUDIT_RETENTION_MAX_DAYS 36500

struct audit_purge_stats {
    int64_t removed;   /* rows deleted (or that would be, with dry_run) */
    int64_t batches;   /* transactions committed */
    int64_t cutoff_ms; /* rows with at before this were eligible */
    int64_t node_ms;   /* this process's clock */
    int64_t db_ms;     /* the database server's clock */
};

/* Remove audit rows older than keep_days (AUDIT_RETENTION_MIN_DAYS..AUDIT_RETENTION_MAX_DAYS,
 * else ERR_INVALID) in transactions of at most batch rows (1..100000). dry_run counts
 * without removing or auditing. *st is written also on failure (what was done so far).
 * Errors: ERR_INVALID, ERR_FORBIDDEN (the database user may not DELETE from audit_log),
 * ERR_BUSY, ERR_INTERNAL. */
enum err audit_purge(struct rctx *cx, int keep_days, int batch, bool dry_run,
                     struct audit_purge_stats *st) MUST_CHECK;

#endif
