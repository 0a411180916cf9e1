/* server/db/db.c: one MariaDB connection per worker, prepared statements, results copied into
 * the request pool. See db.h for the contract. */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include "db_int.h"
#include "server/core/clock.h"
#include "server/core/log.h"
#include "server/core/metrics.h"

#define STMT_BUCKETS 256
/* Statements are few and fixed, but list filters compose their SQL: past this many distinct
 * texts the cache starts over, so neither cityd nor the server's prepared-statement count
 * (max_prepared_stmt_count) can grow without bound. */
#define STMT_CACHE_MAX 512
#define MAX_ARGS 6144 /* a GPS batch binds 500 points x 12 (track.c) */
/* After a failed connect, requests fail at once for this long instead of each waiting for
 * the connect timeout: a dead database must not hold every worker. */
#define RECONNECT_BACKOFF_MS 300

struct stmt_entry {
    struct stmt_entry *next;
    char *sql;
    MYSQL_STMT *st;
};

struct db_conn {
    MYSQL *my;
    bool connected;
    bool in_tx;
    bool bulk; /* the server takes array binding (COM_STMT_BULK_EXECUTE), db_exec_bulk */
    unsigned last_errno;
    int64_t next_connect_ms;
    struct stmt_entry *buckets[STMT_BUCKETS];
    size_t nstmts;
    /* Owned copies of the options. */
    char *host, *socket, *user, *password, *name, *tls_ca, *tls_cert, *tls_key;
    struct db_opts opts;
};

void db_global_init(void)
{
    mysql_library_init(0, NULL, NULL);
}

void db_global_end(void)
{
    mysql_library_end();
}

void db_thread_start(void)
{
    mysql_thread_init();
}

void db_thread_end(void)
{
    mysql_thread_end();
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

struct db_conn *db_conn_new(const struct db_opts *opts)
{
    struct db_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->opts = *opts;
    c->host = dup_or_null(opts->host);
    c->socket = dup_or_null(opts->socket);
    c->user = dup_or_null(opts->user);
    c->password = dup_or_null(opts->password);
    c->name = dup_or_null(opts->name);
    c->tls_ca = dup_or_null(opts->tls_ca);
    c->tls_cert = dup_or_null(opts->tls_cert);
    c->tls_key = dup_or_null(opts->tls_key);
    c->opts.host = c->host;
    c->opts.socket = c->socket;
    c->opts.user = c->user;
    c->opts.password = c->password;
    c->opts.name = c->name;
    c->opts.tls_ca = c->tls_ca;
    c->opts.tls_cert = c->tls_cert;
    c->opts.tls_key = c->tls_key;
    return c;
}

static void drop_statements(struct db_conn *c)
{
    for (size_t i = 0; i < STMT_BUCKETS; i++) {
        struct stmt_entry *e = c->buckets[i];
        while (e) {
            struct stmt_entry *next = e->next;
            if (c->connected)
                mysql_stmt_close(e->st);
            free(e->sql);
            free(e);
            e = next;
        }
        c->buckets[i] = NULL;
    }
    c->nstmts = 0;
}

static void disconnect(struct db_conn *c)
{
    drop_statements(c);
    if (c->my)
        mysql_close(c->my);
    c->my = NULL;
    c->connected = false;
    c->in_tx = false;
}

void db_conn_free(struct db_conn *c)
{
    if (!c)
        return;
    disconnect(c);
    free(c->host);
    free(c->socket);
    free(c->user);
    free(c->password);
    free(c->name);
    free(c->tls_ca);
    free(c->tls_cert);
    free(c->tls_key);
    free(c);
}

/* MariaDB (not MySQL) 10.2 or later announces array binding in its extended capabilities. */
static bool server_bulk(MYSQL *my)
{
    unsigned long caps = 0, ext = 0;

    if (mariadb_get_infov(my, MARIADB_CONNECTION_SERVER_CAPABILITIES, &caps) ||
        mariadb_get_infov(my, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &ext))
        return false;
    return !(caps & CLIENT_MYSQL) && (ext & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32));
}

static enum err connect_now(struct rctx *cx, struct db_conn *c)
{
    unsigned int t;
    int64_t now = clock_mono_ns() / 1000000;
    char init[256];

    snprintf(init, sizeof init,
             "SET time_zone = '+00:00', sql_mode = "
             "'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', "
             "max_statement_time = %d.%03d",
             c->opts.statement_timeout_ms / 1000, c->opts.statement_timeout_ms % 1000);

    if (now < c->next_connect_ms)
        return rctx_fail(cx, ERR_BUSY, "database unavailable");
    c->my = mysql_init(NULL);
    if (!c->my)
        return rctx_fail(cx, ERR_BUSY, "database client out of memory");
    t = (unsigned)c->opts.connect_timeout_s;
    mysql_options(c->my, MYSQL_OPT_CONNECT_TIMEOUT, &t);
    t = (unsigned)c->opts.read_timeout_s;
    mysql_options(c->my, MYSQL_OPT_READ_TIMEOUT, &t);
    t = (unsigned)c->opts.write_timeout_s;
    mysql_options(c->my, MYSQL_OPT_WRITE_TIMEOUT, &t);
    mysql_options(c->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(c->my, MYSQL_INIT_COMMAND, init);
    if (c->opts.tls && !c->opts.socket) {
        /* Connector/C 3.3 neither requires TLS nor verifies the server by default. */
        my_bool on = 1, verify = c->opts.tls_verify ? 1 : 0;
        if (c->opts.tls_ca)
            mysql_options(c->my, MYSQL_OPT_SSL_CA, c->opts.tls_ca);
        if (c->opts.tls_cert)
            mysql_options(c->my, MYSQL_OPT_SSL_CERT, c->opts.tls_cert);
        if (c->opts.tls_key)
            mysql_options(c->my, MYSQL_OPT_SSL_KEY, c->opts.tls_key);
        mysql_options(c->my, MYSQL_OPT_SSL_ENFORCE, &on);
        mysql_options(c->my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    }
    if (!mysql_real_connect(c->my, c->opts.socket ? NULL : c->opts.host, c->opts.user,
                            c->opts.password, c->opts.name, (unsigned)c->opts.port, c->opts.socket,
                            0)) {
        c->last_errno = mysql_errno(c->my);
        log_warn(cx, "database connect failed: %u %s", mysql_errno(c->my), mysql_error(c->my));
        mysql_close(c->my);
        c->my = NULL;
        c->next_connect_ms = now + RECONNECT_BACKOFF_MS;
        return rctx_fail(cx, ERR_BUSY, "database unavailable");
    }
    c->connected = true;
    c->next_connect_ms = 0;
    c->bulk = server_bulk(c->my);
    return ERR_OK;
}

/* Connection-level failures: the connection is unusable and must be dropped. Besides the
 * server going away, Connector/C's own codes for a stream cut in the middle of a packet
 * (malformed packet, network read/write errors) and for statements it closed because the
 * connection went: all say "this connection", none says anything of the request. */
static bool is_conn_error(unsigned e)
{
    return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONN_HOST_ERROR ||
           e == CR_CONNECTION_ERROR || e == CR_SERVER_LOST_EXTENDED || e == ER_CONNECTION_KILLED ||
           e == ER_SERVER_SHUTDOWN || e == CR_COMMANDS_OUT_OF_SYNC ||
           e == ER_UNKNOWN_STMT_HANDLER || e == ER_QUERY_INTERRUPTED || e == CR_MALFORMED_PACKET ||
           e == CR_STMT_CLOSED || e == CR_ERR_NET_READ || e == CR_ERR_NET_WRITE;
}

/* The database's disk is full: every writer hits it at once, so one line per 10 s says so,
 * with how many failed since (the clients get 503 and retry; docs/reliability.md). */
static void storage_full(struct rctx *cx, unsigned e, const char *msg)
{
    static uint64_t last_ns, since;
    uint64_t now = clock_mono_ns(), prev = __atomic_load_n(&last_ns, __ATOMIC_RELAXED);

    __atomic_add_fetch(&since, 1, __ATOMIC_RELAXED);
    if (prev && now - prev < 10ull * 1000000000ull)
        return;
    if (!__atomic_compare_exchange_n(&last_ns, &prev, now, false, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return;
    log_error(cx,
              "database storage full (%u %s): %llu writes refused since the last such line; "
              "free space on the database server",
              e, msg, (unsigned long long)__atomic_exchange_n(&since, 0, __ATOMIC_RELAXED));
}

static enum err fail_from(struct rctx *cx, struct db_conn *c, unsigned e, const char *msg,
                          const char *sql)
{
    c->last_errno = e;
    if (is_conn_error(e)) {
        log_warn(cx, "database connection lost: %u %s", e, msg);
        disconnect(c);
        return rctx_fail(cx, ERR_BUSY, "database unavailable");
    }
    switch (e) {
    case ER_DUP_ENTRY:
    case ER_DUP_KEY:
        return rctx_fail(cx, ERR_CONFLICT, "already exists");
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_LOCK_DEADLOCK:
        log_warn(cx, "database contention: %u %s", e, msg);
        return rctx_fail(cx, ERR_BUSY, "database busy; retry");
    case ER_STATEMENT_TIMEOUT: /* max_statement_time: the server stopped it, nothing of it stays */
        log_warn(cx, "database statement stopped after %d ms (db.read_timeout_s): [%.200s]",
                 c->opts.statement_timeout_ms, sql);
        return rctx_fail(cx, ERR_BUSY, "database busy; retry");
    case ER_NO_REFERENCED_ROW_2:
    case ER_ROW_IS_REFERENCED_2:
        return rctx_fail(cx, ERR_CONFLICT, "referenced row missing or in use");
    case ER_RECORD_FILE_FULL: /* "The table is full": InnoDB cannot extend a tablespace */
    case ER_DISK_FULL:
        storage_full(cx, e, msg);
        return rctx_fail(cx, ERR_BUSY, "database storage is full; retry later");
    default:
        log_error(cx, "database error %u: %s [%.200s]", e, msg, sql);
        return rctx_fail(cx, ERR_INTERNAL, "database error");
    }
}

static unsigned long hash_sql(const char *s)
{
    unsigned long h = 1469598103934665603UL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211UL;
    return h;
}

static enum err get_stmt(struct rctx *cx, struct db_conn *c, const char *sql, MYSQL_STMT **out)
{
    unsigned long h = hash_sql(sql) % STMT_BUCKETS;
    struct stmt_entry *e;
    MYSQL_STMT *st;
    my_bool on = 1;

    for (e = c->buckets[h]; e; e = e->next) {
        if (strcmp(e->sql, sql) == 0) {
            *out = e->st;
            return ERR_OK;
        }
    }
    if (c->nstmts >= STMT_CACHE_MAX)
        drop_statements(c);
    st = mysql_stmt_init(c->my);
    if (!st)
        return fail_from(cx, c, mysql_errno(c->my), mysql_error(c->my), sql);
    if (mysql_stmt_prepare(st, sql, strlen(sql))) {
        unsigned err = mysql_stmt_errno(st);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mysql_stmt_error(st));
        mysql_stmt_close(st);
        return fail_from(cx, c, err, msg, sql);
    }
    mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
    e = calloc(1, sizeof *e);
    if (!e || !(e->sql = strdup(sql))) {
        free(e);
        mysql_stmt_close(st);
        return rctx_fail(cx, ERR_INTERNAL, "out of memory");
    }
    e->st = st;
    e->next = c->buckets[h];
    c->buckets[h] = e;
    c->nstmts++;
    *out = st;
    return ERR_OK;
}

static enum err bind_args(struct rctx *cx, MYSQL_STMT *st, const struct db_val *args, size_t nargs,
                          const char *sql)
{
    MYSQL_BIND *b;

    if (mysql_stmt_param_count(st) != nargs) {
        log_error(cx, "statement wants %lu parameters, got %zu [%.200s]",
                  mysql_stmt_param_count(st), nargs, sql);
        return rctx_fail(cx, ERR_INTERNAL, "database error");
    }
    if (nargs == 0)
        return ERR_OK;
    if (nargs > MAX_ARGS) {
        log_error(cx, "statement with %zu parameters, more than %d [%.200s]", nargs, MAX_ARGS, sql);
        return rctx_fail(cx, ERR_INTERNAL, "too many statement parameters");
    }
    b = rctx_zalloc(cx, nargs * sizeof *b);
    for (size_t i = 0; i < nargs; i++) {
        switch (args[i].t) {
        case DB_NULL:
            b[i].buffer_type = MYSQL_TYPE_NULL;
            break;
        case DB_I64:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].buffer = (void *)(uintptr_t)&args[i].i;
            break;
        case DB_F64:
            b[i].buffer_type = MYSQL_TYPE_DOUBLE;
            b[i].buffer = (void *)(uintptr_t)&args[i].f;
            break;
        case DB_STR:
            b[i].buffer_type = MYSQL_TYPE_STRING;
            b[i].buffer = (void *)(uintptr_t)args[i].s;
            b[i].buffer_length = (unsigned long)args[i].n;
            b[i].length_value = (unsigned long)args[i].n;
            b[i].length = &b[i].length_value;
            break;
        }
    }
    if (mysql_stmt_bind_param(st, b))
        return rctx_fail(cx, ERR_INTERNAL, "bind failed");
    return ERR_OK;
}

static enum err fetch_all(struct rctx *cx, struct db_conn *c, MYSQL_STMT *st, MYSQL_RES *meta,
                          struct db_res *out, const char *sql)
{
    size_t ncols = mysql_num_fields(meta);
    MYSQL_FIELD *fields = mysql_fetch_fields(meta);
    MYSQL_BIND *rb;
    unsigned long *lens;
    my_bool *nulls;
    size_t nrows, row = 0;
    int rc;

    if (mysql_stmt_store_result(st))
        return fail_from(cx, c, mysql_stmt_errno(st), mysql_stmt_error(st), sql);
    nrows = (size_t)mysql_stmt_num_rows(st);
    rb = rctx_zalloc(cx, ncols * sizeof *rb);
    lens = rctx_zalloc(cx, ncols * sizeof *lens);
    nulls = rctx_zalloc(cx, ncols * sizeof *nulls);
    for (size_t i = 0; i < ncols; i++) {
        /* max_length is known after store_result (STMT_ATTR_UPDATE_MAX_LENGTH); temporal and
         * numeric types are formatted as text by the client library. */
        size_t cap = fields[i].max_length + 64;
        rb[i].buffer_type = MYSQL_TYPE_STRING;
        rb[i].buffer = rctx_alloc(cx, cap);
        rb[i].buffer_length = (unsigned long)cap;
        rb[i].length = &lens[i];
        rb[i].is_null = &nulls[i];
    }
    if (ncols && mysql_stmt_bind_result(st, rb)) {
        mysql_stmt_free_result(st);
        return rctx_fail(cx, ERR_INTERNAL, "result bind failed");
    }
    out->ncols = ncols;
    out->cells = rctx_zalloc(cx, (nrows * ncols + 1) * sizeof(char *));
    out->lens = rctx_zalloc(cx, (nrows * ncols + 1) * sizeof(size_t));
    while (row < nrows && (rc = mysql_stmt_fetch(st)) != MYSQL_NO_DATA) {
        if (rc == 1) {
            enum err res = fail_from(cx, c, mysql_stmt_errno(st), mysql_stmt_error(st), sql);
            mysql_stmt_free_result(st);
            return res;
        }
        for (size_t i = 0; i < ncols; i++) {
            size_t k = row * ncols + i;
            if (nulls[i]) {
                out->cells[k] = NULL;
            } else {
                size_t n = lens[i] < rb[i].buffer_length ? lens[i] : rb[i].buffer_length;
                out->cells[k] = rctx_strndup(cx, rb[i].buffer, n);
                out->lens[k] = n;
            }
        }
        row++;
    }
    out->nrows = row;
    mysql_stmt_free_result(st);
    return ERR_OK;
}

static enum err exec_once(struct rctx *cx, struct db_conn *c, const char *sql,
                          const struct db_val *args, size_t nargs, struct db_res *out,
                          bool *retryable)
{
    MYSQL_STMT *st = NULL;
    MYSQL_RES *meta;
    enum err res;
    struct db_res tmp;

    *retryable = false;
    if (!c->connected) {
        res = connect_now(cx, c);
        if (res)
            return res;
    }
    res = get_stmt(cx, c, sql, &st);
    if (res) {
        /* Nothing ran yet: a stale connection found while preparing may be retried. */
        *retryable = res == ERR_BUSY && !c->connected;
        return res;
    }
    res = bind_args(cx, st, args, nargs, sql);
    if (res)
        return res;
    if (mysql_stmt_execute(st)) {
        unsigned e = mysql_stmt_errno(st);
        /* A connection that died while idle (server restarted) fails on its next use. A
         * statement that changes nothing may safely run again on a fresh connection. */
        *retryable = is_conn_error(e) &&
                     (strncmp(sql, "SELECT", 6) == 0 || strcmp(sql, "START TRANSACTION") == 0);
        return fail_from(cx, c, e, mysql_stmt_error(st), sql);
    }
    memset(&tmp, 0, sizeof tmp);
    meta = mysql_stmt_result_metadata(st);
    if (meta) {
        res = fetch_all(cx, c, st, meta, &tmp, sql);
        mysql_free_result(meta);
        if (res)
            return res;
    } else {
        tmp.affected = (uint64_t)mysql_stmt_affected_rows(st);
        tmp.insert_id = (uint64_t)mysql_stmt_insert_id(st);
    }
    if (out)
        *out = tmp;
    return ERR_OK;
}

static enum err exec_retrying(struct rctx *cx, const char *sql, const struct db_val *args,
                              size_t nargs, struct db_res *out)
{
    struct db_conn *c = cx->db;
    bool retry;
    enum err res;

    if (!c)
        return rctx_fail(cx, ERR_INTERNAL, "no database connection on this thread");
    c->last_errno = 0;
    res = exec_once(cx, c, sql, args, nargs, out, &retry);
    /* Outside a transaction, one fresh attempt of a statement that changed nothing spares the
     * client a 503 after the server restarted. */
    if (res == ERR_BUSY && retry && !c->in_tx) {
        cx->err.code = ERR_OK;
        res = exec_once(cx, c, sql, args, nargs, out, &retry);
    }
    return res;
}

/* The statement's verb, for the metrics label (a bounded set). */
static const char *verb_of(const char *sql)
{
    static const char *const verbs[] = {"SELECT",  "INSERT", "UPDATE", "DELETE",
                                        "REPLACE", "START",  "COMMIT", "ROLLBACK"};

    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strncmp(sql, verbs[i], strlen(verbs[i])) == 0)
            return verbs[i];
    return "OTHER";
}

static void count_statement(const char *sql, enum err res, uint64_t t0)
{
    char lb[48];

    metrics_labels(lb, sizeof lb, "verb", verb_of(sql), (const char *)NULL);
    metrics_observe(metrics_histogram("cityd_db_statement_duration_seconds",
                                      "Time of one database statement, retries included, by verb.",
                                      lb, NULL, 0),
                    (double)(clock_mono_ns() - t0) / 1e9);
    if (res) {
        metrics_labels(lb, sizeof lb, "code", err_code(res), (const char *)NULL);
        metrics_inc(metrics_counter("cityd_db_errors_total",
                                    "Database statements that failed, by the error they gave.",
                                    lb));
    }
}

enum err db_exec(struct rctx *cx, const char *sql, const struct db_val *args, size_t nargs,
                 struct db_res *out)
{
    enum err res;
    uint64_t t0 = clock_mono_ns();

    res = exec_retrying(cx, sql, args, nargs, out);
    count_statement(sql, res, t0);
    return res;
}

/* Bind the nrows x ncols values of args (row-major) column by column, as arrays (array binding):
 * each column one type, NULL rows by their indicator. */
static enum err bind_bulk(struct rctx *cx, MYSQL_STMT *st, const struct db_val *args, size_t ncols,
                          size_t nrows, const char *sql)
{
    MYSQL_BIND *b;
    unsigned int size = (unsigned int)nrows;

    if (mysql_stmt_param_count(st) != ncols || ncols == 0) {
        log_error(cx, "bulk statement wants %lu parameters a row, got %zu [%.200s]",
                  mysql_stmt_param_count(st), ncols, sql);
        return rctx_fail(cx, ERR_INTERNAL, "database error");
    }
    b = rctx_zalloc(cx, ncols * sizeof *b);
    for (size_t j = 0; j < ncols; j++) {
        enum db_type t = DB_NULL;
        char *ind = rctx_alloc(cx, nrows);
        for (size_t i = 0; i < nrows; i++) {
            const struct db_val *v = &args[i * ncols + j];
            ind[i] = v->t == DB_NULL ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
            if (v->t == DB_NULL || v->t == t)
                continue;
            if (t != DB_NULL) {
                log_error(cx, "bulk statement: column %zu mixes value types [%.200s]", j, sql);
                return rctx_fail(cx, ERR_INTERNAL, "database error");
            }
            t = v->t;
        }
        b[j].u.indicator = ind;
        switch (t) {
        case DB_NULL: /* every row NULL: any fixed-size type */
        case DB_I64: {
            int64_t *a = rctx_zalloc(cx, nrows * sizeof *a);
            for (size_t i = 0; t == DB_I64 && i < nrows; i++)
                a[i] = args[i * ncols + j].i;
            b[j].buffer_type = MYSQL_TYPE_LONGLONG;
            b[j].buffer = a;
            break;
        }
        case DB_F64: {
            double *a = rctx_zalloc(cx, nrows * sizeof *a);
            for (size_t i = 0; i < nrows; i++)
                a[i] = args[i * ncols + j].f;
            b[j].buffer_type = MYSQL_TYPE_DOUBLE;
            b[j].buffer = a;
            break;
        }
        case DB_STR: {
            const char **a = rctx_zalloc(cx, nrows * sizeof *a);
            unsigned long *len = rctx_zalloc(cx, nrows * sizeof *len);
            for (size_t i = 0; i < nrows; i++) {
                a[i] = args[i * ncols + j].t == DB_STR ? args[i * ncols + j].s : "";
                len[i] = args[i * ncols + j].t == DB_STR ? (unsigned long)args[i * ncols + j].n : 0;
            }
            b[j].buffer_type = MYSQL_TYPE_STRING;
            b[j].buffer = (void *)a;
            b[j].length = len;
            break;
        }
        }
    }
    if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &size) || mysql_stmt_bind_param(st, b))
        return rctx_fail(cx, ERR_INTERNAL, "bind failed");
    return ERR_OK;
}

enum err db_exec_bulk(struct rctx *cx, const char *sql, const struct db_val *args, size_t ncols,
                      size_t nrows, uint64_t *affected)
{
    struct db_conn *c = cx->db;
    uint64_t t0 = clock_mono_ns();
    unsigned int none = 0;
    MYSQL_STMT *st = NULL;
    enum err res;

    *affected = 0;
    if (!c)
        return rctx_fail(cx, ERR_INTERNAL, "no database connection on this thread");
    c->last_errno = 0;
    if (nrows == 0)
        return ERR_OK;
    res = c->connected ? ERR_OK : connect_now(cx, c);
    if (!res && !c->bulk)
        res = rctx_fail(cx, ERR_INTERNAL, "array binding: not offered by this server");
    if (!res)
        res = get_stmt(cx, c, sql, &st);
    if (!res)
        res = bind_bulk(cx, st, args, ncols, nrows, sql);
    if (!res && mysql_stmt_execute(st)) {
        unsigned e = mysql_stmt_errno(st);
        /* Refused as such (a statement-based binary log, ER_BINLOG_NON_SUPPORTED_BULK, or the
         * client library's own refusal): nothing ran; this connection stops offering it. */
        if (e == ER_BINLOG_NON_SUPPORTED_BULK || e == CR_FUNCTION_NOT_SUPPORTED ||
            e == ER_UNSUPPORTED_PS) {
            c->bulk = false;
            c->last_errno = e;
            log_warn(cx, "array binding refused (%u %s): statements of one row each from now", e,
                     mysql_stmt_error(st));
            res = rctx_fail(cx, ERR_INTERNAL, "array binding refused");
        } else {
            res = fail_from(cx, c, e, mysql_stmt_error(st), sql);
        }
    }
    if (!res)
        *affected = (uint64_t)mysql_stmt_affected_rows(st);
    /* The statement is cached and may next run with one row. */
    if (st && c->connected)
        mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &none);
    count_statement(sql, res, t0);
    return res;
}

bool db_bulk_ok(const struct rctx *cx)
{
    return cx->db && (!cx->db->connected || cx->db->bulk);
}

enum err db_tx_begin(struct rctx *cx)
{
    enum err res;

    if (!cx->db)
        return rctx_fail(cx, ERR_INTERNAL, "no database connection on this thread");
    if (cx->db->in_tx)
        return rctx_fail(cx, ERR_INTERNAL, "nested transaction");
    res = db_exec(cx, "START TRANSACTION", DB_NOARGS, NULL);
    if (!res)
        cx->db->in_tx = true;
    return res;
}

enum err db_tx_end(struct rctx *cx, enum err res)
{
    struct db_conn *c = cx->db;
    enum err r2;

    if (!c || !c->in_tx)
        return res;
    c->in_tx = false;
    if (res == ERR_OK) {
        r2 = db_exec(cx, "COMMIT", DB_NOARGS, NULL);
        if (r2)
            return r2;
        return ERR_OK;
    }
    if (c->connected) {
        r2 = db_exec(cx, "ROLLBACK", DB_NOARGS, NULL);
        (void)r2; /* the original error is what the caller reports */
    }
    return res;
}

bool db__in_tx(const struct db_conn *c)
{
    return c && c->in_tx;
}

void db__abandon(struct rctx *cx)
{
    /* A handler that returned inside a transaction is a bug: roll back so the next request on
     * this connection starts clean. */
    if (cx->db && cx->db->in_tx) {
        log_error(cx, "handler left a transaction open; rolling back");
        enum err res = db_tx_end(cx, ERR_INTERNAL);
        (void)res;
    }
}

unsigned db_errno(const struct rctx *cx)
{
    return cx->db ? cx->db->last_errno : 0;
}

enum err db_ping(struct rctx *cx)
{
    struct db_res r;
    enum err res = db_exec(cx, "SELECT 1", DB_NOARGS, &r);
    if (res)
        return res;
    return r.nrows == 1 ? ERR_OK : rctx_fail(cx, ERR_BUSY, "database ping failed");
}

const char *db_cell(const struct db_res *r, size_t row, size_t col)
{
    if (!r || row >= r->nrows || col >= r->ncols)
        return NULL;
    return r->cells[row * r->ncols + col];
}

size_t db_cell_len(const struct db_res *r, size_t row, size_t col)
{
    if (!db_cell(r, row, col))
        return 0;
    return r->lens[row * r->ncols + col];
}

int64_t db_cell_i64(const struct db_res *r, size_t row, size_t col)
{
    const char *s = db_cell(r, row, col);
    return s ? strtoll(s, NULL, 10) : 0;
}

double db_cell_f64(const struct db_res *r, size_t row, size_t col)
{
    const char *s = db_cell(r, row, col);
    return s ? strtod(s, NULL) : 0.0;
}

bool db_cell_null(const struct db_res *r, size_t row, size_t col)
{
    return db_cell(r, row, col) == NULL;
}

struct db_val db_val_str(const char *s)
{
    if (!s)
        return DBNULL;
    return DBSN(s, strlen(s));
}
