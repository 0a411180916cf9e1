/* api/domain/audit_purge.c: removal of audit rows past the retention (see audit.h).
 *
 * A batched DELETE rather than dropping monthly partitions: audit_log's primary key is id
 * alone, and a partitioned table needs the partitioning column in every unique key (a new
 * primary key (id, at)), plus ALTER rights ahead of time to add next month's partition —
 * rights the runtime user must not hold, and a missed month would leave every new row in the
 * catch-all partition. A night's purge is one day of rows, found in id order from the start
 * of the table (the primary key), deleted by a range of ids. */
#include "audit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include "server/core/log.h"
#include "server/db/db.h"

#define MODULE "audit"
#define ER_TABLEACCESS_DENIED 1142 /* "DELETE command denied to user …" */
#define ER_DBACCESS_DENIED 1044
#define DAY_MS 86400000LL

static void utc_text(int64_t ms, char *out, size_t outlen)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One batch: the longest run of rows from after (exclusive), in id order, that are older than
 * the cut-off, at most batch of them. *last = the last such id, *n = how many; *young = a row
 * that is not old enough ended the run (so no later row may go either). */
static enum err next_run(struct rctx *cx, int64_t after, int64_t cutoff_ms, int batch,
                         int64_t *last, int64_t *n, bool *young)
{
    struct db_res r;
    size_t i;
    enum err res = db_exec(cx,
                           "SELECT id, at < FROM_UNIXTIME(? / 1000) FROM audit_log WHERE id > ?"
                           " ORDER BY id LIMIT ?",
                           DB_ARGS(DBI(cutoff_ms), DBI(after), DBI(batch)), &r);
    if (res)
        return res;
    for (i = 0; i < r.nrows && db_cell_i64(&r, i, 1) == 1; i++)
        ;
    *n = (int64_t)i;
    *last = i ? db_cell_i64(&r, i - 1, 0) : after;
    *young = i < r.nrows;
    return ERR_OK;
}

enum err audit_purge(struct rctx *cx, int keep_days, int batch, bool dry_run,
                     struct audit_purge_stats *st)
{
    struct db_res r;
    int64_t after = 0;
    char cut[32], detail[256];
    enum err res;

    memset(st, 0, sizeof *st);
    if (keep_days < AUDIT_RETENTION_MIN_DAYS || keep_days > AUDIT_RETENTION_MAX_DAYS)
        return rctx_fail(cx, ERR_INVALID, "retention: %d..%d days (at least six months by law)",
                         AUDIT_RETENTION_MIN_DAYS, AUDIT_RETENTION_MAX_DAYS);
    if (batch < 1 || batch > 100000)
        return rctx_fail(cx, ERR_INVALID, "batch: 1..100000 rows");
    res = db_exec(cx, "SELECT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)", DB_NOARGS, &r);
    if (res)
        return res;
    st->node_ms = cx->now_ms;
    st->db_ms = db_cell_i64(&r, 0, 0);
    /* The earlier clock: a clock that runs ahead must not make rows look older than they are.
     * The purge's own rows carry that time too. */
    if (st->db_ms < cx->now_ms)
        cx->now_ms = st->db_ms;
    st->cutoff_ms = cx->now_ms - (int64_t)keep_days * DAY_MS;
    utc_text(st->cutoff_ms, cut, sizeof cut);
    if (st->node_ms - st->db_ms > 60000 || st->db_ms - st->node_ms > 60000)
        log_warn(cx,
                 "audit purge: this machine's clock is %+lld s off the database's; the earlier"
                 " one is used",
                 (long long)((st->node_ms - st->db_ms) / 1000));
    for (;;) {
        int64_t last, n;
        bool young;

        res = next_run(cx, after, st->cutoff_ms, batch, &last, &n, &young);
        if (res)
            return res;
        if (n == 0)
            break;
        if (dry_run) {
            st->removed += n;
        } else {
            struct db_res d;
            res = db_tx_begin(cx);
            if (res)
                return res;
            /* The at condition again: a row inserted with an id in the range after the SELECT
             * (ids are taken before commit) is young and stays. */
            res = db_exec(cx,
                          "DELETE FROM audit_log WHERE id > ? AND id <= ?"
                          " AND at < FROM_UNIXTIME(? / 1000)",
                          DB_ARGS(DBI(after), DBI(last), DBI(st->cutoff_ms)), &d);
            if (!res) {
                snprintf(detail, sizeof detail,
                         "removed %llu rows (ids %lld..%lld) older than %d days (before %s)",
                         (unsigned long long)d.affected, (long long)after + 1, (long long)last,
                         keep_days, cut);
                res = audit_write(cx, "audit.purge", "audit_log", 0, AUDIT_OK, detail);
            }
            if (res) {
                unsigned no = db_errno(cx);
                res = db_tx_end(cx, res);
                if (no == ER_TABLEACCESS_DENIED || no == ER_DBACCESS_DENIED) {
                    snprintf(detail, sizeof detail,
                             "refused: this database user may not DELETE from audit_log");
                    audit_write_quiet(cx, "audit.purge", "audit_log", 0, AUDIT_DENIED, detail);
                    return rctx_fail(cx, ERR_FORBIDDEN,
                                     "the database user may not DELETE from audit_log: run the"
                                     " purge with the maintenance account (docs/deployment.md)");
                }
                return res;
            }
            res = db_tx_end(cx, res);
            if (res)
                return res;
            st->removed += (int64_t)d.affected;
            st->batches++;
        }
        after = last;
        if (young || n < batch)
            break;
    }
    if (!dry_run && st->batches == 0) {
        snprintf(detail, sizeof detail, "removed 0 rows older than %d days (before %s)", keep_days,
                 cut);
        res = audit_write(cx, "audit.purge", "audit_log", 0, AUDIT_OK, detail);
        if (res)
            return res;
    }
    log_info(cx, "audit purge: %lld rows older than %d days (before %s) %s in %lld batches",
             (long long)st->removed, keep_days, cut, dry_run ? "would be removed" : "removed",
             (long long)st->batches);
    return ERR_OK;
}
