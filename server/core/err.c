/* server/core/err.c: tables generated from err.def. */
#include "err.h"

#include <stddef.h>

static const int statuses[] = {
    200,
#define ERR(name, status, code, reason) status,
#include "err.def"
#undef ERR
};

static const char *const codes[] = {
    "ok",
#define ERR(name, status, code, reason) code,
#include "err.def"
#undef ERR
};

static const char *const reasons[] = {
    "OK",
#define ERR(name, status, code, reason) reason,
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

const char *err_reason(int status)
{
    /* Statuses that are not errors have no err.def row. */
    static const struct {
        int status;
        const char *reason;
    } ok[] = {{200, "OK"},         {201, "Created"},         {202, "Accepted"},
              {204, "No Content"}, {206, "Partial Content"}, {304, "Not Modified"}};

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (ok[i].status == status)
            return ok[i].reason;
    for (size_t i = 1; i < ERR__COUNT; i++)
        if (statuses[i] == status)
            return reasons[i];
    return status >= 500 ? "Internal Server Error" : "OK";
}
