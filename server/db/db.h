/* server/db/db.h: MariaDB access for the domain, through Connector/C prepared statements.
 *
 * A struct db_conn is one MYSQL connection with its prepared-statement cache. It belongs to one
 * worker thread for life and is lent to a request through rctx->db; no DB call ever runs on an
 * event-loop thread. Statements are always prepared (never mysql_query); results are copied
 * into the request pool before return, so no MYSQL_RES or MYSQL_STMT leaves this module.
 *
 * Failure model: a lost or unreachable server gives ERR_BUSY (503) at once; the connection is
 * dropped and the next request reconnects, after a short back-off so a dead server is not
 * hammered. MYSQL_OPT_RECONNECT is never set: it would silently drop an open transaction.
 * A duplicate key gives ERR_CONFLICT; db_errno() tells the MariaDB error number. */
#ifndef CITYD_DB_H
#define CITYD_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct db_opts {
    const char *host;
    int port;
    const char *socket; /* preferred when set */
    const char *user;
    const char *password;
    const char *name;
    int connect_timeout_s;
    int read_timeout_s;
    int write_timeout_s;
    /* The server's own limit on one statement (MariaDB max_statement_time), in ms; 0 = none.
     * Set a little under read_timeout_s, so the server stops a statement the client is about
     * to give up on, instead of running it on after the client dropped the connection. */
    int statement_timeout_ms;
    /* TLS over TCP (ignored with a socket): enforced when tls or tls_ca is set; the server's
     * certificate and host name are verified against tls_ca when verify is true. */
    bool tls;
    const char *tls_ca, *tls_cert, *tls_key; /* "" or NULL: none */
    bool tls_verify;
};

enum db_type { DB_NULL = 0, DB_I64, DB_F64, DB_STR };

/* One bound parameter. Strings are borrowed for the duration of the call. */
struct db_val {
    enum db_type t;
    int64_t i;
    double f;
    const char *s;
    size_t n;
};

#define DBI(x) ((struct db_val){.t = DB_I64, .i = (int64_t)(x)})
#define DBF(x) ((struct db_val){.t = DB_F64, .f = (double)(x)})
#define DBS(x) db_val_str(x)
#define DBSN(p, len) ((struct db_val){.t = DB_STR, .s = (p), .n = (len)})
#define DBNULL ((struct db_val){.t = DB_NULL})
/* Argument list for db_exec: db_exec(cx, sql, DB_ARGS(DBI(1), DBS("x")), &res). */
#define DB_ARGS(...)                                                                               \
    (const struct db_val[]){__VA_ARGS__},                                                          \
        sizeof((const struct db_val[]){__VA_ARGS__}) / sizeof(struct db_val)
#define DB_NOARGS NULL, 0

/* A result copied into the request pool. Cells are NUL-terminated text (MariaDB's own
 * formatting: integers in decimal, DATETIME as "YYYY-MM-DD HH:MM:SS"), NULL for SQL NULL. */
struct db_res {
    size_t nrows, ncols;
    char **cells; /* row-major: cells[row * ncols + col] */
    size_t *lens;
    uint64_t affected;
    uint64_t insert_id;
};

/* Once per process, before any thread starts. */
void db_global_init(void);
void db_global_end(void);
/* On each thread that will use a connection, before and after. */
void db_thread_start(void);
void db_thread_end(void);

/* A connection handle; it connects lazily on first use. Copies opts. NULL on OOM. */
struct db_conn *db_conn_new(const struct db_opts *opts);
void db_conn_free(struct db_conn *c); /* NULL is a no-op; blocks while closing */

/* Prepare (cached per connection) and execute sql with args. out may be NULL. On success
 * out->cells and out->lens are in cx's pool. Errors: ERR_BUSY (server away, timeout, lock
 * wait), ERR_CONFLICT (duplicate key), ERR_INTERNAL (anything else, logged with the request
 * id). Never leaves a half-read result behind. */
enum err db_exec(struct rctx *cx, const char *sql, const struct db_val *args, size_t nargs,
                 struct db_res *out) MUST_CHECK;

/* Execute sql, a statement with ncols placeholders (an INSERT of one row), once for each of the
 * nrows rows of args (row-major, nrows x ncols values), in one round trip: MariaDB's array
 * binding (COM_STMT_BULK_EXECUTE, server 10.2 and later). The server parses the statement once
 * and inserts the rows in one loop, instead of a prepared text with a placeholder per value.
 * Every non-NULL value of a column must be of one type. *affected: the rows' sum. Errors as
 * db_exec; ERR_INTERNAL when the server does not take array binding (MySQL, a statement-based
 * binary log): db_bulk_ok is false from then on and nothing was executed. */
enum err db_exec_bulk(struct rctx *cx, const char *sql, const struct db_val *args, size_t ncols,
                      size_t nrows, uint64_t *affected) MUST_CHECK;
/* Whether db_exec_bulk may be used on cx's connection (true before it first connects). */
bool db_bulk_ok(const struct rctx *cx);

/* Transactions. db_tx_end commits when res is ERR_OK and rolls back otherwise; it returns res,
 * or the commit's error. Not nested. */
enum err db_tx_begin(struct rctx *cx) MUST_CHECK;
enum err db_tx_end(struct rctx *cx, enum err res) MUST_CHECK;

/* MariaDB error number of the last failed call on cx's connection (0 if none). */
unsigned db_errno(const struct rctx *cx);

/* Round trip to the server (readiness). */
enum err db_ping(struct rctx *cx) MUST_CHECK;

/* Cell accessors. Out-of-range or NULL cells read as NULL / 0. */
const char *db_cell(const struct db_res *r, size_t row, size_t col);
size_t db_cell_len(const struct db_res *r, size_t row, size_t col);
int64_t db_cell_i64(const struct db_res *r, size_t row, size_t col);
double db_cell_f64(const struct db_res *r, size_t row, size_t col);
bool db_cell_null(const struct db_res *r, size_t row, size_t col);

struct db_val db_val_str(const char *s); /* NULL s gives DB_NULL */

#endif
