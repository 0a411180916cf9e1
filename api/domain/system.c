/* api/domain/system.c */
#include "system.h"

#include "server/db/db.h"
#include "server/db/migrate.h"

static struct migration_set expected;

void system_expect_schema(size_t count, int max_version)
{
    expected.count = count;
    expected.max_version = max_version;
}

enum err system_ready(struct rctx *cx)
{
    enum err res = db_ping(cx);
    if (res)
        return rctx_fail(cx, ERR_BUSY, "database unreachable");
    res = migrate_check_current(cx, &expected);
    if (res && res != ERR_BUSY) /* no schema_migrations table yet: not ready, not broken */
        return rctx_fail(cx, ERR_BUSY, "database schema is not current (not migrated)");
    return res;
}
