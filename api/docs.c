/* api/docs.c: /docs — the API reference (openapi.yaml rendered by Redoc) as a web page.
 *
 * scripts/build-docs-page.sh renders the page at build time from the pinned npm tools into
 * build/<preset>/docs-page; docs.dir names that directory. The three files (and their .gz) are
 * read once at start-up into memory and answered from the event loop: nothing is fetched from
 * the internet, neither by cityd nor by the browser (the page's Content-Security-Policy allows
 * only this origin). docs.dir empty: /docs answers 404. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/core/log.h"
#include "server/core/roles.h"

#define DOCS_MAX_FILE (16u << 20)

struct docs_file {
    const char *name;
    const char *type;
    char *data, *gz;
    size_t len, gzlen;
};

static struct docs_file files[] = {
    {"index.html", "text/html; charset=utf-8", NULL, NULL, 0, 0},
    {"redoc.standalone.js", "text/javascript; charset=utf-8", NULL, NULL, 0, 0},
    {"openapi.yaml", "application/yaml; charset=utf-8", NULL, NULL, 0, 0},
};
#define NFILES (sizeof files / sizeof files[0])

/* Read dir/name into *out (malloc'd); 0 on success, -1 (errno-style reason in err) if not. */
static int slurp(const char *dir, const char *name, char **out, size_t *len, char *err,
                 size_t errlen)
{
    char path[1024];
    FILE *f;
    long n;
    char *buf;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "docs.dir: cannot read %s", path);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || (size_t)n > DOCS_MAX_FILE ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        snprintf(err, errlen, "docs.dir: %s is not a readable file of at most 16 MiB", path);
        return -1;
    }
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        snprintf(err, errlen, "docs.dir: cannot read %s", path);
        return -1;
    }
    fclose(f);
    *out = buf;
    *len = (size_t)n;
    return 0;
}

int api_docs_load(const char *dir, char *err, size_t errlen)
{
    if (!dir || !dir[0])
        return 0;
    for (size_t i = 0; i < NFILES; i++) {
        char gzname[64];
        if (slurp(dir, files[i].name, &files[i].data, &files[i].len, err, errlen)) {
            api_docs_unload();
            return -1;
        }
        snprintf(gzname, sizeof gzname, "%s.gz", files[i].name);
        if (slurp(dir, gzname, &files[i].gz, &files[i].gzlen, err, errlen)) {
            files[i].gz = NULL; /* optional: served uncompressed */
            files[i].gzlen = 0;
        }
    }
    log_info(NULL, "API reference at /docs from %s", dir);
    return 0;
}

void api_docs_unload(void)
{
    for (size_t i = 0; i < NFILES; i++) {
        free(files[i].data);
        free(files[i].gz);
        files[i].data = files[i].gz = NULL;
        files[i].len = files[i].gzlen = 0;
    }
}

static bool accepts_gzip(const struct req *rq)
{
    size_t n = 0;
    const char *v = req_header(rq, "accept-encoding", &n);

    /* "gzip" listed, and not refused with q=0 (rare enough to treat as "no gzip"). */
    return v && memmem(v, n, "gzip", 4) && !memmem(v, n, "gzip;q=0", 8);
}

static enum err serve(struct rctx *cx, const struct req *rq, struct resp *rs, size_t i)
{
    const struct docs_file *f = &files[i];

    if (!f->data)
        return rctx_fail(cx, ERR_NOTFOUND, "the API reference is not installed (docs.dir)");
    resp_header(cx, rs, "cache-control", "public, max-age=300");
    resp_header(cx, rs, "vary", "accept-encoding");
    resp_header(cx, rs, "x-content-type-options", "nosniff");
    if (i == 0)
        /* Redoc hydrates with an inline script, styles inline and runs search in a blob:
         * worker; everything else comes from here, and nothing may be fetched elsewhere. */
        resp_header(cx, rs, "content-security-policy",
                    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
                    "'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; worker-src "
                    "'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'");
    if (f->gz && accepts_gzip(rq)) {
        resp_header(cx, rs, "content-encoding", "gzip");
        return resp_body(rs, 200, f->type, f->gz, f->gzlen);
    }
    return resp_body(rs, 200, f->type, f->data, f->len);
}

static enum err docs_page(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    return serve(cx, rq, rs, 0);
}

static enum err docs_script(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    return serve(cx, rq, rs, 1);
}

static enum err docs_spec(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    return serve(cx, rq, rs, 2);
}

/* clang-format off */
const struct route api_docs_routes[] = {
    /* method path                           handler      roles        body flags       timeout */
    {"GET", "/docs",                         docs_page,   ROLE_PUBLIC, 0,   ROUTE_LOOP,  0, NULL, NULL},
    {"GET", "/docs/redoc.standalone.js",     docs_script, ROLE_PUBLIC, 0,   ROUTE_LOOP,  0, NULL, NULL},
    {"GET", "/docs/openapi.yaml",            docs_spec,   ROLE_PUBLIC, 0,   ROUTE_LOOP,  0, NULL, NULL},
    {0},
};
/* clang-format on */
