/* server/db/sqlb.c: capped SQL text builder. See sqlb.h. */
#include "sqlb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "server/core/log.h"

void db_sqlb_init(struct rctx *cx, struct db_sqlb *b, size_t max_text, const char *start)
{
    memset(b, 0, sizeof *b);
    b->cx = cx;
    b->max = max_text ? max_text : DB_SQLB_TEXT_MAX;
    b->cap = b->max < 1023 ? b->max + 1 : 1024;
    b->sql = rctx_alloc(cx, b->cap);
    b->sql[0] = '\0';
    db_sqlb_add(b, start);
}

/* Room for n more bytes of text (plus the NUL), or false with the refusal recorded. */
static bool reserve(struct db_sqlb *b, size_t n)
{
    size_t cap;
    char *p;

    if (b->refused)
        return false;
    if (n > b->max - b->len) {
        b->refused = "text";
        return false;
    }
    if (b->len + n + 1 <= b->cap)
        return true;
    cap = b->cap;
    while (cap < b->len + n + 1)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    p = rctx_alloc(b->cx, cap);
    memcpy(p, b->sql, b->len + 1);
    b->sql = p;
    b->cap = cap;
    return true;
}

void db_sqlb_add(struct db_sqlb *b, const char *text)
{
    size_t n = strlen(text);

    if (!reserve(b, n))
        return;
    memcpy(b->sql + b->len, text, n + 1);
    b->len += n;
}

void db_sqlb_addf(struct db_sqlb *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (!b->refused)
            b->refused = "format";
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->sql + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void db_sqlb_marks(struct db_sqlb *b, size_t n)
{
    if (n == 0)
        return;
    if (n > b->max || !reserve(b, 2 * n - 1)) {
        if (!b->refused)
            b->refused = "text";
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            b->sql[b->len++] = ',';
        b->sql[b->len++] = '?';
    }
    b->sql[b->len] = '\0';
}

void db_sqlb_arg(struct db_sqlb *b, struct db_val v)
{
    if (b->refused)
        return;
    if (b->nargs == DB_SQLB_ARGS_MAX) {
        b->refused = "arguments";
        return;
    }
    if (b->nargs == b->args_cap) {
        size_t cap = b->args_cap ? 2 * b->args_cap : 16;
        struct db_val *a = rctx_alloc(b->cx, cap * sizeof *a);
        if (b->nargs)
            memcpy(a, b->args, b->nargs * sizeof *a);
        b->args = a;
        b->args_cap = cap;
    }
    b->args[b->nargs++] = v;
}

bool db_sqlb_ok(const struct db_sqlb *b)
{
    return b->refused == NULL;
}

enum err db_sqlb_check(struct db_sqlb *b)
{
    if (!b->refused)
        return ERR_OK;
    log_error(b->cx, "SQL statement over its %s cap (%zu bytes, %d arguments) [%.200s]", b->refused,
              b->max, DB_SQLB_ARGS_MAX, b->sql);
    return rctx_fail(b->cx, ERR_INTERNAL, "SQL statement over its %s cap", b->refused);
}

enum err db_sqlb_exec(struct db_sqlb *b, struct db_res *out)
{
    enum err res = db_sqlb_check(b);

    if (res)
        return res;
    return db_exec(b->cx, b->sql, b->args, b->nargs, out);
}
