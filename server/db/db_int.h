/* server/db/db_int.h: internals shared by the db module and its owner (the worker pool). */
#ifndef CITYD_DB_INT_H
#define CITYD_DB_INT_H

#include <stdbool.h>
#include "db.h"

/* True while a transaction is open on the connection. */
bool db__in_tx(const struct db_conn *c);
/* Roll back a transaction a handler forgot to end (logged as a bug). */
void db__abandon(struct rctx *cx);

#endif
