/* api/domain/system.h: process-level facts the API reports — readiness and build identity.
 *
 * Readiness means: the database answers and has exactly the migrations this build ships.
 * The expected migration set is recorded once at start-up by server/wire.c. */
#ifndef CITYD_DOMAIN_SYSTEM_H
#define CITYD_DOMAIN_SYSTEM_H

#include <stddef.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

/* Record the schema this build expects (number of migrations, highest version). */
void system_expect_schema(size_t count, int max_version);
/* ERR_OK when ready; ERR_BUSY with a reason otherwise. Needs cx->db. */
enum err system_ready(struct rctx *cx) MUST_CHECK;

#endif
