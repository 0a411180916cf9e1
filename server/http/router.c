/* server/http/router.c: compile route tables, match method + path. Pure. */
#include "router.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/core/roles.h"

#define MAX_SEGMENTS 12
#define MAX_ROUTES 512

struct seg {
    const char *text; /* literal text, or the parameter name */
    size_t len;
    bool param;
    bool numeric;
};

struct compiled {
    const struct route *route;
    size_t method_len;
    size_t path_len;
    size_t nseg;
    bool literal; /* no parameter: matched by the exact table */
    struct seg segs[MAX_SEGMENTS];
};

/* Exact-path table size (a power of two, at least twice MAX_ROUTES). */
#define EXACT_SLOTS 1024

struct router {
    size_t n;
    struct compiled routes[MAX_ROUTES];
    size_t max_body;
    /* Fast paths, built once: routes without parameters by method + path (an exact hit is
     * always the best match: it has the most literal segments there can be), and the others
     * grouped by segment count in table order, so the scan sees only routes of the request's
     * length. */
    int16_t exact[EXACT_SLOTS];             /* index + 1; 0 = empty */
    size_t by_nseg_start[MAX_SEGMENTS + 3]; /* requests may have MAX_SEGMENTS + 1 */
    uint16_t by_nseg[MAX_ROUTES];
};

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

static bool known_method(const char *m)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(m, methods[i]) == 0)
            return true;
    return false;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static int compile(const struct route *rt, struct compiled *c, char *errbuf, size_t errlen)
{
    const char *p = rt->path;
    size_t nparams = 0;

    if (!rt->method || !known_method(rt->method)) {
        snprintf(errbuf, errlen, "route %s: unknown method", rt->path ? rt->path : "?");
        return -1;
    }
    if (!rt->path || rt->path[0] != '/' || !rt->handler) {
        snprintf(errbuf, errlen, "route %s %s: path must start with '/' and have a handler",
                 rt->method, rt->path ? rt->path : "(null)");
        return -1;
    }
    c->route = rt;
    c->method_len = strlen(rt->method);
    c->path_len = strlen(rt->path);
    c->literal = true;
    c->nseg = 0;
    while (*p == '/') {
        const char *s = ++p;
        struct seg *sg;
        while (*p && *p != '/')
            p++;
        if (p == s) {
            if (*p == '\0' && c->nseg == 0)
                break; /* the root "/" */
            snprintf(errbuf, errlen, "route %s %s: empty segment", rt->method, rt->path);
            return -1;
        }
        if (c->nseg == MAX_SEGMENTS) {
            snprintf(errbuf, errlen, "route %s %s: too many segments", rt->method, rt->path);
            return -1;
        }
        sg = &c->segs[c->nseg++];
        if (*s == '{') {
            if (p[-1] != '}' || p - s < 3) {
                snprintf(errbuf, errlen, "route %s %s: bad parameter", rt->method, rt->path);
                return -1;
            }
            if (++nparams > ROUTER_MAX_PARAMS) {
                snprintf(errbuf, errlen, "route %s %s: too many parameters", rt->method, rt->path);
                return -1;
            }
            sg->param = true;
            c->literal = false;
            sg->text = s + 1;
            sg->len = (size_t)(p - s) - 2;
            for (size_t k = 0; k < sg->len; k++) {
                char ch = sg->text[k];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
                    snprintf(errbuf, errlen,
                             "route %s %s: parameter names are lower_snake identifiers", rt->method,
                             rt->path);
                    return -1;
                }
            }
            sg->numeric = (sg->len == 2 && memcmp(sg->text, "id", 2) == 0) ||
                          ends_with(sg->text, sg->len, "_id");
        } else {
            for (const char *q = s; q < p; q++) {
                if (*q == '{' || *q == '}' || *q == '?' || *q == '%') {
                    snprintf(errbuf, errlen, "route %s %s: bad character in literal segment",
                             rt->method, rt->path);
                    return -1;
                }
            }
            sg->text = s;
            sg->len = (size_t)(p - s);
        }
    }
    if (*p != '\0') {
        snprintf(errbuf, errlen, "route %s %s: bad path", rt->method, rt->path);
        return -1;
    }
    return 0;
}

/* Two patterns clash when every segment pair could match the same text. */
static bool same_shape(const struct compiled *a, const struct compiled *b)
{
    if (a->nseg != b->nseg)
        return false;
    for (size_t i = 0; i < a->nseg; i++) {
        const struct seg *x = &a->segs[i], *y = &b->segs[i];
        if (x->param && y->param)
            continue;
        if (x->param != y->param)
            return false;
        if (x->len != y->len || memcmp(x->text, y->text, x->len) != 0)
            return false;
    }
    return true;
}

static uint32_t hash_route(const char *method, size_t mlen, const char *path, size_t plen)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < mlen; i++)
        h = (h ^ (unsigned char)method[i]) * 16777619u;
    h = (h ^ ' ') * 16777619u;
    for (size_t i = 0; i < plen; i++)
        h = (h ^ (unsigned char)path[i]) * 16777619u;
    return h;
}

static void index_routes(struct router *r)
{
    size_t pos = 0;

    for (size_t k = 0; k < r->n; k++) {
        const struct compiled *c = &r->routes[k];
        uint32_t h;

        if (!c->literal)
            continue;
        h = hash_route(c->route->method, c->method_len, c->route->path, c->path_len);
        while (r->exact[h % EXACT_SLOTS])
            h++;
        r->exact[h % EXACT_SLOTS] = (int16_t)(k + 1);
    }
    for (size_t len = 0; len <= MAX_SEGMENTS + 1; len++) {
        r->by_nseg_start[len] = pos;
        for (size_t k = 0; k < r->n; k++)
            if (r->routes[k].nseg == len)
                r->by_nseg[pos++] = (uint16_t)k;
    }
    r->by_nseg_start[MAX_SEGMENTS + 2] = pos;
}

struct router *router_new(const struct route *const *tables, char *errbuf, size_t errlen)
{
    struct router *r = calloc(1, sizeof *r);

    if (!r) {
        snprintf(errbuf, errlen, "router: out of memory");
        return NULL;
    }
    for (size_t t = 0; tables[t]; t++) {
        for (const struct route *rt = tables[t]; rt->method; rt++) {
            struct compiled *c;
            if (r->n == MAX_ROUTES) {
                snprintf(errbuf, errlen, "router: more than %d routes", MAX_ROUTES);
                goto fail;
            }
            c = &r->routes[r->n];
            if (compile(rt, c, errbuf, errlen))
                goto fail;
            /* A machine may call it: the API-key scope is part of the row, never guessed. */
            if ((rt->roles & ROLE_MACHINE) && (!rt->scope || !*rt->scope)) {
                snprintf(errbuf, errlen, "router: %s %s admits machines but names no scope",
                         rt->method, rt->path);
                goto fail;
            }
            for (size_t k = 0; k < r->n; k++) {
                if (strcmp(r->routes[k].route->method, rt->method) == 0 &&
                    same_shape(&r->routes[k], c)) {
                    snprintf(errbuf, errlen, "router: %s %s clashes with %s", rt->method, rt->path,
                             r->routes[k].route->path);
                    goto fail;
                }
            }
            if (rt->body_limit > r->max_body)
                r->max_body = rt->body_limit;
            r->n++;
        }
    }
    index_routes(r);
    return r;
fail:
    free(r);
    return NULL;
}

void router_free(struct router *r)
{
    free(r);
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0 || n > 18 || s[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Literal segments first: /cases/mine beats /cases/{id} whichever table came first. */
static int match_one(const struct compiled *c, const char *const *segs, const size_t *lens,
                     size_t n, struct route_match *m)
{
    size_t np = 0;
    int score = 0;

    if (c->nseg != n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct seg *sg = &c->segs[i];
        if (sg->param) {
            if (lens[i] == 0)
                return -1;
            if (sg->numeric && !all_digits(segs[i], lens[i]))
                return -1;
            if (m) {
                m->params[np].name = sg->text;
                m->params[np].value = segs[i];
                m->params[np].len = lens[i];
            }
            np++;
        } else {
            if (sg->len != lens[i] || memcmp(sg->text, segs[i], lens[i]) != 0)
                return -1;
            score++;
        }
    }
    if (m) {
        m->route = c->route;
        m->nparams = np;
    }
    return score;
}

enum err router_match(const struct router *r, const char *method, size_t method_len,
                      const char *path, size_t path_len, struct route_match *m, char *allow,
                      size_t allow_len)
{
    const char *segs[MAX_SEGMENTS + 1];
    size_t lens[MAX_SEGMENTS + 1];
    size_t n = 0, i = 0, aoff = 0;
    int best = -1;
    bool path_exists = false;
    const struct compiled *winner = NULL;

    if (path_len == 0 || path[0] != '/')
        return ERR_NOTFOUND;
    {
        uint32_t h = hash_route(method, method_len, path, path_len);
        int16_t k;

        while ((k = r->exact[h % EXACT_SLOTS]) != 0) {
            const struct compiled *c = &r->routes[k - 1];
            if (c->path_len == path_len && c->method_len == method_len &&
                memcmp(c->route->path, path, path_len) == 0 &&
                memcmp(c->route->method, method, method_len) == 0) {
                if (m) {
                    m->route = c->route;
                    m->nparams = 0;
                }
                return ERR_OK;
            }
            h++;
        }
    }
    /* Split; a trailing slash is a different path (strict, like the tables). */
    if (path_len > 1) {
        while (i < path_len) {
            size_t s;
            if (path[i] != '/')
                return ERR_NOTFOUND;
            s = ++i;
            while (i < path_len && path[i] != '/')
                i++;
            if (n == MAX_SEGMENTS + 1)
                return ERR_NOTFOUND;
            segs[n] = path + s;
            lens[n] = i - s;
            n++;
        }
    }
    if (allow && allow_len)
        allow[0] = '\0';
    for (size_t b = r->by_nseg_start[n]; b < r->by_nseg_start[n + 1]; b++) {
        const struct compiled *c = &r->routes[r->by_nseg[b]];
        int score = match_one(c, segs, lens, n, NULL);
        if (score < 0)
            continue;
        path_exists = true;
        if (c->method_len == method_len && memcmp(c->route->method, method, method_len) == 0) {
            if (score > best) {
                best = score;
                winner = c;
            }
        }
    }
    if (winner) {
        int rc = match_one(winner, segs, lens, n, m);
        (void)rc;
        return ERR_OK;
    }
    if (!path_exists)
        return ERR_NOTFOUND;
    /* Allow: methods of every pattern that fits this path, each once. */
    for (size_t mi = 0; mi < sizeof methods / sizeof methods[0] && allow; mi++) {
        for (size_t k = 0; k < r->n; k++) {
            const struct compiled *c = &r->routes[k];
            if (strcmp(c->route->method, methods[mi]) == 0 &&
                match_one(c, segs, lens, n, NULL) >= 0) {
                int w =
                    snprintf(allow + aoff, allow_len - aoff, "%s%s", aoff ? ", " : "", methods[mi]);
                if (w > 0 && (size_t)w < allow_len - aoff)
                    aoff += (size_t)w;
                else
                    allow[aoff] = '\0'; /* drop a method that did not fit whole */
                break;
            }
        }
    }
    return ERR_METHOD;
}

size_t router_count(const struct router *r)
{
    return r->n;
}

const struct route *router_at(const struct router *r, size_t i)
{
    return i < r->n ? r->routes[i].route : NULL;
}

size_t router_max_body(const struct router *r)
{
    return r->max_body;
}
