/* server/http/http.c: the handler-facing request and response helpers. */
#include "http.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_info http_info = {"0.0.0", "unknown", NULL};

const char *req_header(const struct req *rq, const char *name, size_t *len)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i < rq->nheaders; i++) {
        if (rq->headers[i].name_len == nl && strncasecmp(rq->headers[i].name, name, nl) == 0) {
            if (len)
                *len = rq->headers[i].value_len;
            return rq->headers[i].value;
        }
    }
    return NULL;
}

static const struct route_param *find_param(const struct req *rq, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < rq->match.nparams; i++) {
        const struct route_param *p = &rq->match.params[i];
        if (strlen(p->name) >= nl && strncmp(p->name, name, nl) == 0 && p->name[nl] == '}')
            return p;
    }
    return NULL;
}

const char *req_param(struct rctx *cx, const struct req *rq, const char *name)
{
    const struct route_param *p = find_param(rq, name);
    return p ? rctx_strndup(cx, p->value, p->len) : NULL;
}

int64_t req_param_i64(const struct req *rq, const char *name)
{
    const struct route_param *p = find_param(rq, name);
    int64_t v = 0;

    if (!p)
        return 0;
    if (p->len > 18)
        return 0;
    for (size_t i = 0; i < p->len; i++) {
        if (p->value[i] < '0' || p->value[i] > '9')
            return 0; /* not a numeric parameter: read it with req_param */
        v = v * 10 + (p->value[i] - '0');
    }
    return v;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode (and '+' as space) into pool memory. Invalid escapes are kept verbatim. */
static char *decode(struct rctx *cx, const char *s, size_t n)
{
    char *out = rctx_alloc(cx, n + 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

const char *req_query(struct rctx *cx, const struct req *rq, const char *name)
{
    size_t nl = strlen(name);
    const char *p = rq->query, *end = rq->query ? rq->query + rq->query_len : NULL;

    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;

        if ((size_t)(kend - p) == nl && memcmp(p, name, nl) == 0)
            return eq ? decode(cx, eq + 1, (size_t)(stop - eq - 1)) : "";
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

void resp_header(struct rctx *cx, struct resp *rs, const char *name, const char *value)
{
    assert(rs->nheaders < RESP_MAX_HEADERS);
    if (rs->nheaders >= RESP_MAX_HEADERS)
        return;
    rs->headers[rs->nheaders].name = rctx_strdup(cx, name);
    rs->headers[rs->nheaders].value = rctx_strdup(cx, value);
    rs->nheaders++;
}

enum err resp_body(struct resp *rs, int status, const char *content_type, const char *data,
                   size_t len)
{
    rs->status = status;
    rs->content_type = content_type;
    rs->body = data;
    rs->body_len = len;
    return ERR_OK;
}

enum err resp_file(struct resp *rs, int status, const char *content_type, int fd, uint64_t off,
                   uint64_t len)
{
    rs->status = status;
    rs->content_type = content_type;
    rs->body = NULL;
    rs->body_len = 0;
    rs->file = true;
    rs->file_fd = fd;
    rs->file_off = off;
    rs->file_len = len;
    return ERR_OK;
}

enum err resp_empty(struct resp *rs, int status)
{
    rs->status = status;
    rs->content_type = NULL;
    rs->body = NULL;
    rs->body_len = 0;
    return ERR_OK;
}
