/* server/db/migrate.h: the migration runner.
 *
 * migrations/NNNN_name.sql files are applied in order, each recorded in schema_migrations with
 * its SHA-256. An applied file whose checksum changed, or an applied version with no file,
 * stops start-up. A named lock (GET_LOCK) serialises nodes starting at once, so nothing is
 * applied twice. Files are split into statements at top-level ';' (quotes and comments
 * respected; DELIMITER is not supported) and each is run as a prepared statement. */
#ifndef CITYD_MIGRATE_H
#define CITYD_MIGRATE_H

#include <stddef.h>
#include "db.h"

struct migration_set {
    size_t count;
    int max_version;
};

/* Scan dir for NNNN_name.sql files: count and highest version. ERR_INVALID with a message in
 * errbuf for a bad name, a duplicate version or an unreadable dir. */
enum err migrate_scan(const char *dir, struct migration_set *out, char *errbuf,
                      size_t errlen) MUST_CHECK;

/* Apply every pending migration. *applied gets the number applied now. */
enum err migrate_run(struct rctx *cx, const char *dir, int *applied, char *errbuf,
                     size_t errlen) MUST_CHECK;

/* The checks of migrate_run without applying anything (start-up with migrations.auto off):
 * ERR_INVALID for an edited or unknown applied migration; *pending gets how many are not
 * applied yet (readiness stays 503 until someone runs cityd migrate). */
enum err migrate_verify(struct rctx *cx, const char *dir, int *pending, char *errbuf,
                        size_t errlen) MUST_CHECK;

/* ERR_OK when the database has exactly the migrations of set applied; ERR_BUSY otherwise
 * (readiness). */
enum err migrate_check_current(struct rctx *cx, const struct migration_set *set) MUST_CHECK;

/* Give the runtime database user (user@localhost) the least it needs on every table of the
 * current database: SELECT, INSERT, UPDATE, DELETE; only SELECT and INSERT on the append-only
 * tables (audit_log); only SELECT on schema_migrations. The runtime user can therefore
 * neither rewrite the audit log nor change the schema. */
enum err migrate_grant_runtime(struct rctx *cx, const char *user, char *errbuf,
                               size_t errlen) MUST_CHECK;

/* Split one SQL text into statements: calls fn(stmt, len, arg) for each non-empty one;
 * stops at the first non-zero return and returns it. Exposed for tests. */
int migrate_split(const char *sql, size_t len, int (*fn)(const char *, size_t, void *), void *arg);

#endif
