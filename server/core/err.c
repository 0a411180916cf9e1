/* server/core/err.c: tables generated from err.def. */
#include "err.h"

static const int statuses[] = {
    200,
#define ERR(name, status, code) status,
#include "err.def"
#undef ERR
};

static const char *const codes[] = {
    "ok",
#define ERR(name, status, code) code,
#include "err.def"
#undef ERR
};

int err_http_status(enum err e)
{
    if ((unsigned)e >= ERR__COUNT)
        return 500;
    return statuses[e];
}

const char *err_code(enum err e)
{
    if ((unsigned)e >= ERR__COUNT)
        return "internal";
    return codes[e];
}
