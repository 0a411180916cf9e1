/* server/db/sqlb.h: a statement's SQL text and arguments built piece by piece, with a cap.
 *
 * The one builder for composed SQL (list filters, IN lists, visibility rules). The text lives
 * in the request pool and never grows past its cap (DB_SQLB_TEXT_MAX unless init says less);
 * arguments never past DB_SQLB_ARGS_MAX, the most db_exec binds. An append that would pass a
 * cap is refused and the refusal sticks: later appends do nothing, and db_sqlb_check /
 * db_sqlb_exec answer ERR_INTERNAL naming the cap. So a statement that does not fit is an
 * error with a message, never a buffer overrun, an unsigned underflow or a truncated query
 * sent to the server. Every append is cheap to call unchecked; check once, before use. */
#ifndef CITYD_DB_SQLB_H
#define CITYD_DB_SQLB_H

#include <stdbool.h>
#include <stddef.h>
#include "server/core/err.h"
#include "server/core/rctx.h"
#include "server/db/db.h"

#define DB_SQLB_TEXT_MAX (32 * 1024)
#define DB_SQLB_ARGS_MAX 256 /* db.c binds at most this many */

struct db_sqlb {
    struct rctx *cx;      /* borrowed: the pool the text and arguments live in */
    char *sql;            /* NUL-terminated, pool memory */
    size_t len, cap, max; /* max: text cap in bytes, not counting the NUL */
    struct db_val *args;  /* pool memory */
    size_t nargs, args_cap;
    const char *refused; /* static text naming the cap that was hit, NULL while all fits */
};

/* Start with text start. max_text 0 means DB_SQLB_TEXT_MAX. */
void db_sqlb_init(struct rctx *cx, struct db_sqlb *b, size_t max_text, const char *start);
/* Append text (copied). */
void db_sqlb_add(struct db_sqlb *b, const char *text);
/* Append printf-formatted text; refused as a whole when it would not fit. */
void db_sqlb_addf(struct db_sqlb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append n placeholders separated by commas: "?,?,?". */
void db_sqlb_marks(struct db_sqlb *b, size_t n);
/* Append one argument (strings are borrowed until the statement runs). */
void db_sqlb_arg(struct db_sqlb *b, struct db_val v);
/* Whether every append so far fitted. */
bool db_sqlb_ok(const struct db_sqlb *b);
/* ERR_OK, or ERR_INTERNAL logged with the start of the text and failed with "SQL statement
 * over its cap (...)" on b->cx when an append was refused. */
enum err db_sqlb_check(struct db_sqlb *b) MUST_CHECK;
/* db_sqlb_check, then db_exec(b->cx, b->sql, b->args, b->nargs, out). */
enum err db_sqlb_exec(struct db_sqlb *b, struct db_res *out) MUST_CHECK;

#endif
