/* server/core/err.h: the error convention of cityd.
 *
 * Fallible functions return enum err; ERR_OK is 0 so `if (res)` tests for failure. The kinds,
 * their HTTP status, wire code and reason phrase are listed once in err.def. Only server/http and
 * server/ws turn an error into bytes. */
#ifndef CITYD_ERR_H
#define CITYD_ERR_H

#define MUST_CHECK __attribute__((warn_unused_result))

enum err {
    ERR_OK = 0,
#define ERR(name, status, code, reason) ERR_##name,
#include "err.def"
#undef ERR
    ERR__COUNT
};

/* HTTP status of an error kind (200 for ERR_OK). */
int err_http_status(enum err e);
/* Stable wire code ("invalid_argument"); "ok" for ERR_OK. Static storage. */
const char *err_code(enum err e);
/* HTTP/1.1 reason phrase of a status: the err.def column for error statuses, a short list for
 * the success statuses cityd sends; "OK" or "Internal Server Error" for others. Static. */
const char *err_reason(int status);

#endif
