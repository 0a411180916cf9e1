/* server/wire.h: wiring of the whole server — the only place that knows every module.
 *
 * wire_serve() migrates (unless disabled), compiles the route tables, starts the database
 * worker pool, the media pool and one event loop per HTTP thread, connects auth to http and
 * serves until SIGTERM/SIGINT; then it stops accepting, lets in-flight requests finish within
 * http.shutdown_timeout_ms, closes the pools and returns 0. The other commands of the binary
 * (migrate, user add, seed) run on the calling thread with one database connection. */
#ifndef CITYD_WIRE_H
#define CITYD_WIRE_H

#include "server/core/cfg.h"
#include "server/core/rctx.h"

/* Process-wide library set-up and tear-down; once, before and after any command. */
void wire_init(void);
void wire_end(void);

/* Serve until a signal. port_file (may be NULL) gets the bound HTTP port once listening.
 * Returns the process exit code. */
int wire_serve(const struct cfg *cfg, const char *port_file);

/* Apply pending migrations and return the exit code. */
int wire_migrate(const struct cfg *cfg);

/* Run fn(cx, arg) with a database connection on this thread (for CLI commands); returns its
 * result. Prints database errors. */
enum err wire_with_db(const struct cfg *cfg, enum err (*fn)(struct rctx *cx, void *arg),
                      void *arg) MUST_CHECK;

#endif
