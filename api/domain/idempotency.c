/* api/domain/idempotency.c: Idempotency-Key records (see idempotency.h). */
#include "idempotency.h"

#include <stdio.h>
#include <string.h>
#include "server/auth/password.h"
#include "server/db/db.h"

static void principal_of(const struct rctx *cx, char *out, size_t n)
{
    if (cx->who.api_key_id)
        snprintf(out, n, "k:%lld", (long long)cx->who.api_key_id);
    else
        snprintf(out, n, "u:%lld", (long long)cx->who.user_id);
}

void idem_init(struct idem *i, const char *key, const char *route, int status, const void *body,
               size_t len)
{
    memset(i, 0, sizeof *i);
    i->key = key;
    i->route = route;
    i->status = status;
    /* Without a key nothing is claimed: a photo upload is not hashed a second time. */
    if (key)
        auth_secret_hash(body ? (const char *)body : "", body ? len : 0, i->hash);
}

enum err idem_claim(struct rctx *cx, struct idem *i)
{
    char principal[32];
    struct db_res r;
    enum err res;

    if (!i->key)
        return ERR_OK;
    principal_of(cx, principal, sizeof principal);
    res = db_exec(
        cx,
        "INSERT INTO idempotency_keys (principal, idem_key, route, request_hash, status,"
        " response, created_at) VALUES (?,?,?,?,0,'{}',FROM_UNIXTIME(? / 1000))",
        DB_ARGS(DBS(principal), DBS(i->key), DBS(i->route), DBS(i->hash), DBI(cx->now_ms)), NULL);
    if (res != ERR_CONFLICT)
        return res;
    /* Taken: the first request committed (we waited on its row lock). A locking read sees
     * the committed row whatever our snapshot. */
    cx->err.code = ERR_OK;
    res = db_exec(cx,
                  "SELECT route, request_hash, status, JSON_VALUE(response, '$.id') FROM"
                  " idempotency_keys WHERE principal = ? AND idem_key = ? LOCK IN SHARE MODE",
                  DB_ARGS(DBS(principal), DBS(i->key)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_BUSY, "retry");
    if (strcmp(db_cell(&r, 0, 0), i->route) != 0 || strcmp(db_cell(&r, 0, 1), i->hash) != 0)
        return rctx_fail(cx, ERR_CONFLICT,
                         "Idempotency-Key was already used for a different request");
    i->replay = true;
    i->status = (int)db_cell_i64(&r, 0, 2);
    i->result_id = db_cell_i64(&r, 0, 3);
    return ERR_OK;
}

enum err idem_complete(struct rctx *cx, struct idem *i, int64_t result_id)
{
    char principal[32], json[48];

    if (!i->key)
        return ERR_OK;
    principal_of(cx, principal, sizeof principal);
    snprintf(json, sizeof json, "{\"id\":%lld}", (long long)result_id);
    return db_exec(cx,
                   "UPDATE idempotency_keys SET status = ?, response = ? WHERE principal = ? AND"
                   " idem_key = ?",
                   DB_ARGS(DBI(i->status), DBS(json), DBS(principal), DBS(i->key)), NULL);
}

enum err idem_begin(struct rctx *cx, struct idem *i)
{
    enum err res;

    res = db_tx_begin(cx);
    if (res)
        return res;
    res = idem_claim(cx, i);
    if (res)
        return db_tx_end(cx, res);
    return ERR_OK;
}
