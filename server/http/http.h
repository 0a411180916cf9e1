/* server/http/http.h: what an api handler sees of an HTTP request and how it answers.
 *
 * A handler is a plain synchronous function (cx, req, resp) that runs on a worker thread
 * (or on the loop for ROUTE_LOOP routes); it never sees h2o. Everything in struct req is
 * read-only and lives until the response is sent; everything a handler puts into struct resp
 * must be pool memory of cx (or static). Errors are returned, not written: server/http turns
 * them into {"error":{"code","message","request_id"}}. */
#ifndef CITYD_HTTP_H
#define CITYD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"
#include "server/http/router.h"

struct req_header {
    const char *name; /* lower-case */
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Lengths are authoritative: on ROUTE_LOOP routes the strings are borrowed from h2o and not
 * NUL-terminated; on worker routes they are NUL-terminated copies. */
struct req {
    const char *method;
    size_t method_len;
    const char *path; /* without the query string */
    size_t path_len;
    const char *query; /* after '?', raw; NULL when absent */
    size_t query_len;
    const char *body;
    size_t body_len;
    const struct req_header *headers;
    size_t nheaders;
    struct route_match match;
    int http_version; /* 0x101 for HTTP/1.1, 0x200 for HTTP/2 */
};

#define RESP_MAX_HEADERS 16

struct resp {
    int status;
    const char *content_type;
    const char *body;
    size_t body_len;
    size_t nheaders;
    struct {
        const char *name;
        const char *value;
    } headers[RESP_MAX_HEADERS];
    /* Set by resp_file: the body is file_len bytes of file_fd from file_off. */
    bool file;
    int file_fd;
    uint64_t file_off, file_len;
};

/* Header value by lower-case name, NULL when absent; *len gets its length. */
const char *req_header(const struct req *rq, const char *name, size_t *len);
/* Path parameter as text (pool memory of cx), NULL when the route has no such parameter. */
const char *req_param(struct rctx *cx, const struct req *rq, const char *name);
/* Path parameter as integer; the router already validated `id`/`*_id` params, so 0 = absent. */
int64_t req_param_i64(const struct req *rq, const char *name);
/* Query parameter, percent-decoded into cx's pool; NULL when absent. The first occurrence wins. */
const char *req_query(struct rctx *cx, const struct req *rq, const char *name);

/* Add a response header (name and value copied into cx's pool). Silently ignores more than
 * RESP_MAX_HEADERS: a handler bug, asserted in debug builds. */
void resp_header(struct rctx *cx, struct resp *rs, const char *name, const char *value);
/* Body without copying: data must be static or cx pool memory. */
enum err resp_body(struct resp *rs, int status, const char *content_type, const char *data,
                   size_t len);
enum err resp_empty(struct resp *rs, int status);
/* Body from an open file: len bytes from off. server/http sends it in chunks of 64 KiB as the
 * client takes them, so a file is never read whole into memory however many ask for it. Takes
 * ownership of fd: server/http closes it whatever happens (sent, client gone, error). */
enum err resp_file(struct resp *rs, int status, const char *content_type, int fd, uint64_t off,
                   uint64_t len);

/* Process-wide HTTP settings that handlers may read (set once at start-up). */
struct http_info {
    const char *version;
    const char *commit;
    const char *ws_url; /* the WebSocket gateway's URL for clients; NULL when none */
};
extern struct http_info http_info;

#endif
