/* server/http/http_int.h: internals shared by the files of server/http. */
#ifndef CITYD_HTTP_INT_H
#define CITYD_HTTP_INT_H

#include <stddef.h>

/* {"error":{"code","message","request_id"}} as a malloc'd string (free() it); NULL on OOM. */
char *http__error_json(const char *code, const char *message, const char *rid, size_t *len);

#endif
