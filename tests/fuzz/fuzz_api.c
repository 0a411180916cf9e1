/* tests/fuzz/fuzz_api.c: every route's handler on arbitrary requests — the decoding in front of
 * the domain: JSON bodies into each resource's fields, query strings (filters, cursors, bbox,
 * periods), path parameters, tus headers (Upload-Length, Upload-Offset, Upload-Metadata,
 * Upload-Checksum), GPS batches (POST /api/v1/tracks: points, crs, device), multipart media
 * wrapping, Range and If-None-Match.
 *
 * The input is a request in a small text form:
 *     METHOD SP TARGET LF  (header-name ":" value LF)*  LF  body
 * The route is found by the real router over the real tables; the handler runs as an actor
 * holding every role, on a request context with no database connection, so everything up to
 * the first statement runs for real and the first statement fails cleanly (ERR_INTERNAL "no
 * database connection"). A crash, a sanitizer report or a leak anywhere before that is a bug.
 * Seeds: corpus/api/ (one request per file; see tests/fuzz/README in docs/reliability.md). */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "api/api.h"
#include "server/core/log.h"
#include "server/core/roles.h"
#include "server/http/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 16

/* The next line of [*p, end): its start and length (without LF); *p moves past it. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    const char *nl;

    if (*p >= end)
        return false;
    nl = memchr(*p, '\n', (size_t)(end - *p));
    *line = *p;
    *len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    *p = nl ? nl + 1 : end;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct router *r;
    static char names[MAX_HEADERS][64];
    struct req_header hs[MAX_HEADERS];
    const char *p = (const char *)data, *end = p + size, *line, *sp, *q;
    size_t len, nh = 0;
    struct route_match m;
    struct req rq;
    struct resp rs;
    struct rctx cx;
    char allow[96], err[256];

    if (!r) {
        log_set_level(LOG_ERROR);
        r = router_new(api_tables, err, sizeof err);
    }
    if (!r || !next_line(&p, end, &line, &len))
        return 0;
    sp = memchr(line, ' ', len);
    if (!sp)
        return 0;
    memset(&rq, 0, sizeof rq);
    rq.method = line;
    rq.method_len = (size_t)(sp - line);
    rq.path = sp + 1;
    rq.path_len = len - rq.method_len - 1;
    q = memchr(rq.path, '?', rq.path_len);
    if (q) {
        rq.query = q + 1;
        rq.query_len = rq.path_len - (size_t)(q + 1 - rq.path);
        rq.path_len = (size_t)(q - rq.path);
    }
    while (next_line(&p, end, &line, &len) && len > 0 && nh < MAX_HEADERS) {
        const char *colon = memchr(line, ':', len);
        size_t nl;
        if (!colon || colon == line || (size_t)(colon - line) >= sizeof names[0])
            continue;
        nl = (size_t)(colon - line);
        for (size_t i = 0; i < nl; i++)
            names[nh][i] = (char)tolower((unsigned char)line[i]);
        names[nh][nl] = '\0';
        hs[nh].name = names[nh];
        hs[nh].name_len = nl;
        hs[nh].value = colon + 1;
        hs[nh].value_len = len - nl - 1;
        while (hs[nh].value_len && hs[nh].value[0] == ' ') {
            hs[nh].value++;
            hs[nh].value_len--;
        }
        nh++;
    }
    rq.headers = hs;
    rq.nheaders = nh;
    rq.body = p;
    rq.body_len = (size_t)(end - p);
    rq.http_version = 0x200;
    if (router_match(r, rq.method, rq.method_len, rq.path, rq.path_len, &m, allow, sizeof allow))
        return 0;
    if (m.route->body_limit && rq.body_len > m.route->body_limit)
        return 0; /* the server refuses it before any handler (413) */
    rq.match = m;
    memset(&rs, 0, sizeof rs);
    rs.file_fd = -1;
    rctx_init(&cx);
    cx.who.user_id = 1;
    cx.who.roles = ROLE_ANY;
    cx.now_ms = 1796600000000LL;
    (void)m.route->handler(&cx, &rq, &rs);
    if (rs.file && rs.file_fd >= 0)
        close(rs.file_fd);
    rctx_dispose(&cx);
    return 0;
}
