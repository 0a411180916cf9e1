/* server/core/metrics.c: the metrics registry and its text rendering. See metrics.h. */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"

#define TABLE_SLOTS 16384 /* power of two, at least twice METRICS_MAX_SERIES */
#define NAME_MAX_LEN 96
#define HELP_MAX_LEN 240

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

struct family {
    char name[NAME_MAX_LEN];
    char help[HELP_MAX_LEN];
    enum kind kind;
    size_t nbounds;
    double bounds[METRICS_MAX_BUCKETS];
    struct metrics_series *first, *last;
    struct family *next;
};

struct metrics_series {
    struct family *fam; /* NULL for the sink */
    char *labels;       /* "" when none; never freed */
    uint64_t hash;
    struct metrics_series *next; /* in its family, registration order */
    /* Counter value, gauge value (int64 bits) or, for histograms, unused: the count is the
     * sum of the buckets, so a scrape never sees count and +Inf disagree. */
    _Atomic uint64_t v;
    _Atomic uint64_t sum_bits;                         /* histogram sum, a double's bits */
    _Atomic uint64_t buckets[METRICS_MAX_BUCKETS + 1]; /* not cumulative; the last is +Inf */
    double (*fn)(void *arg);                           /* gauge_fn; read and written under mu */
    void *fn_arg;
    bool has_fn;
};

const double METRICS_SECONDS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1,   0.25,   0.5,   1,    2.5,   10};
const size_t METRICS_SECONDS_N = sizeof METRICS_SECONDS / sizeof METRICS_SECONDS[0];

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct metrics_series *) table[TABLE_SLOTS];
static struct family *families, *families_last;
static size_t nseries;
static struct metrics_series sink;
static _Atomic uint64_t dropped;

static uint64_t hash_key(const char *name, const char *labels)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull;
    for (const char *p = labels; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static struct metrics_series *probe(const char *name, const char *labels, uint64_t h,
                                    size_t *free_slot)
{
    for (size_t i = 0; i < TABLE_SLOTS; i++) {
        size_t at = (size_t)(h + i) & (TABLE_SLOTS - 1);
        struct metrics_series *s = atomic_load_explicit(&table[at], memory_order_acquire);
        if (!s) {
            if (free_slot)
                *free_slot = at;
            return NULL;
        }
        if (s->hash == h && strcmp(s->fam->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    }
    return NULL; /* unreachable: the table is never more than half full */
}

static struct family *family_find(const char *name)
{
    for (struct family *f = families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static struct metrics_series *lookup(enum kind kind, const char *name, const char *help,
                                     const char *labels, const double *bounds, size_t nbounds)
{
    uint64_t h;
    size_t slot = 0;
    struct metrics_series *s;
    struct family *f;

    if (!labels)
        labels = "";
    h = hash_key(name, labels);
    s = probe(name, labels, h, NULL);
    if (s)
        return s->fam->kind == kind ? s : &sink;

    pthread_mutex_lock(&mu);
    s = probe(name, labels, h, &slot);
    if (s) {
        pthread_mutex_unlock(&mu);
        return s->fam->kind == kind ? s : &sink;
    }
    f = family_find(name);
    if (f && f->kind != kind) {
        pthread_mutex_unlock(&mu);
        log_error(NULL, "metrics: %s registered with two types", name);
        return &sink;
    }
    if (nseries >= METRICS_MAX_SERIES || (!f && !valid_name(name))) {
        pthread_mutex_unlock(&mu);
        if (atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed) == 0)
            log_error(NULL, "metrics: series %s{%s} dropped (bad name or registry full)", name,
                      labels);
        return &sink;
    }
    s = calloc(1, sizeof *s);
    if (s)
        s->labels = strdup(labels);
    if (!f && s && s->labels) {
        f = calloc(1, sizeof *f);
        if (f) {
            snprintf(f->name, sizeof f->name, "%s", name);
            snprintf(f->help, sizeof f->help, "%s", help ? help : "");
            f->kind = kind;
            if (kind == K_HISTOGRAM) {
                if (!bounds || nbounds == 0 || nbounds > METRICS_MAX_BUCKETS) {
                    bounds = METRICS_SECONDS;
                    nbounds = METRICS_SECONDS_N;
                }
                memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
                f->nbounds = nbounds;
            }
            if (families_last)
                families_last->next = f;
            else
                families = f;
            families_last = f;
        }
    }
    if (!s || !s->labels || !f) {
        pthread_mutex_unlock(&mu);
        if (s)
            free(s->labels);
        free(s);
        return &sink;
    }
    s->fam = f;
    s->hash = h;
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    nseries++;
    /* Published last: a lock-free reader that finds it sees it complete. */
    atomic_store_explicit(&table[slot], s, memory_order_release);
    pthread_mutex_unlock(&mu);
    return s;
}

struct metrics_series *metrics_counter(const char *name, const char *help, const char *labels)
{
    return lookup(K_COUNTER, name, help, labels, NULL, 0);
}

struct metrics_series *metrics_gauge(const char *name, const char *help, const char *labels)
{
    return lookup(K_GAUGE, name, help, labels, NULL, 0);
}

struct metrics_series *metrics_histogram(const char *name, const char *help, const char *labels,
                                         const double *bounds, size_t nbounds)
{
    return lookup(K_HISTOGRAM, name, help, labels, bounds, nbounds);
}

void metrics_gauge_fn(const char *name, const char *help, const char *labels,
                      double (*fn)(void *arg), void *arg)
{
    struct metrics_series *s = lookup(K_GAUGE, name, help, labels, NULL, 0);

    if (s == &sink)
        return;
    pthread_mutex_lock(&mu);
    s->fn = fn;
    s->fn_arg = arg;
    s->has_fn = true;
    pthread_mutex_unlock(&mu);
}

void metrics_add(struct metrics_series *s, uint64_t n)
{
    atomic_fetch_add_explicit(&s->v, n, memory_order_relaxed);
}

void metrics_gauge_set(struct metrics_series *s, int64_t v)
{
    atomic_store_explicit(&s->v, (uint64_t)v, memory_order_relaxed);
}

void metrics_gauge_add(struct metrics_series *s, int64_t delta)
{
    /* Two's complement: adding the unsigned image of a negative delta subtracts. */
    atomic_fetch_add_explicit(&s->v, (uint64_t)delta, memory_order_relaxed);
}

void metrics_observe(struct metrics_series *s, double v)
{
    const struct family *f = s->fam;
    size_t i = 0;
    uint64_t old, nw;
    double d;

    if (!f || f->kind != K_HISTOGRAM || isnan(v))
        return;
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    old = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
    do {
        memcpy(&d, &old, sizeof d);
        d += v;
        memcpy(&nw, &d, sizeof nw);
    } while (!atomic_compare_exchange_weak_explicit(&s->sum_bits, &old, nw, memory_order_relaxed,
                                                    memory_order_relaxed));
}

double metrics_value(const struct metrics_series *s)
{
    uint64_t v;

    if (s->fam && s->fam->kind == K_HISTOGRAM) {
        uint64_t n = 0;
        for (size_t i = 0; i <= s->fam->nbounds; i++)
            n += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        return (double)n;
    }
    v = atomic_load_explicit(&s->v, memory_order_relaxed);
    if (s->fam && s->fam->kind == K_GAUGE)
        return (double)(int64_t)v;
    return (double)v;
}

char *metrics_labels(char *buf, size_t cap, ...)
{
    va_list ap;
    size_t off = 0;
    const char *k;

    if (cap == 0)
        return buf;
    buf[0] = '\0';
    va_start(ap, cap);
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        size_t need = strlen(k) + 4;
        size_t mark = off;
        bool cut = false;

        if (!v)
            v = "";
        if (off + need + (off ? 1 : 0) >= cap)
            break;
        off += (size_t)snprintf(buf + off, cap - off, "%s%s=\"", off ? "," : "", k);
        for (const char *p = v; *p; p++) {
            const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
            size_t n = esc ? 2 : 1;
            if (off + n + 2 > cap) {
                cut = true;
                break;
            }
            if (esc)
                memcpy(buf + off, esc, 2);
            else
                buf[off] = *p;
            off += n;
        }
        if (off + 2 > cap) { /* no room for the closing quote: drop the pair */
            off = mark;
            break;
        }
        buf[off++] = '"';
        buf[off] = '\0';
        if (cut)
            break;
    }
    va_end(ap);
    buf[off] = '\0';
    return buf;
}

/* ---- rendering ---------------------------------------------------------------------------- */

struct out {
    char *p;
    size_t len, cap;
    bool oom;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->oom)
        return;
    for (;;) {
        size_t room = o->cap - o->len;
        va_start(ap, fmt);
        n = vsnprintf(o->p + o->len, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->oom = true;
            return;
        }
        if ((size_t)n < room) {
            o->len += (size_t)n;
            return;
        }
        size_t ncap = o->cap * 2 + (size_t)n + 1;
        char *np = realloc(o->p, ncap);
        if (!np) {
            o->oom = true;
            return;
        }
        o->p = np;
        o->cap = ncap;
    }
}

static void fmt_double(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "NaN");
    else if (isinf(v))
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(buf, n, "%.17g", v);
}

static void help_line(struct out *o, const struct family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};

    out_printf(o, "# HELP %s ", f->name);
    /* HELP escapes only \ and newline. */
    for (const char *p = f->help; *p; p++) {
        if (*p == '\\')
            out_printf(o, "\\\\");
        else if (*p == '\n')
            out_printf(o, "\\n");
        else
            out_printf(o, "%c", *p);
    }
    out_printf(o, "\n# TYPE %s %s\n", f->name, types[f->kind]);
}

static void render_histogram(struct out *o, const struct family *f, const struct metrics_series *s)
{
    const char *sep = s->labels[0] ? "," : "";
    uint64_t cum = 0;
    uint64_t bits = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
    double sum;
    char num[40];

    for (size_t i = 0; i <= f->nbounds; i++) {
        cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        if (i < f->nbounds)
            fmt_double(num, sizeof num, f->bounds[i]);
        else
            snprintf(num, sizeof num, "+Inf");
        out_printf(o, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", f->name, s->labels, sep, num, cum);
    }
    memcpy(&sum, &bits, sizeof sum);
    fmt_double(num, sizeof num, sum);
    if (s->labels[0]) {
        out_printf(o, "%s_sum{%s} %s\n", f->name, s->labels, num);
        out_printf(o, "%s_count{%s} %" PRIu64 "\n", f->name, s->labels, cum);
    } else {
        out_printf(o, "%s_sum %s\n%s_count %" PRIu64 "\n", f->name, num, f->name, cum);
    }
}

static void render_series(struct out *o, const struct family *f, const struct metrics_series *s)
{
    char num[40];
    const char *lb = s->labels[0] ? "{" : "";
    const char *le = s->labels[0] ? "}" : "";

    switch (f->kind) {
    case K_COUNTER:
        out_printf(o, "%s%s%s%s %" PRIu64 "\n", f->name, lb, s->labels, le,
                   atomic_load_explicit(&s->v, memory_order_relaxed));
        break;
    case K_GAUGE:
        if (s->has_fn) {
            if (!s->fn)
                return;
            fmt_double(num, sizeof num, s->fn(s->fn_arg));
            out_printf(o, "%s%s%s%s %s\n", f->name, lb, s->labels, le, num);
        } else {
            out_printf(o, "%s%s%s%s %" PRId64 "\n", f->name, lb, s->labels, le,
                       (int64_t)atomic_load_explicit(&s->v, memory_order_relaxed));
        }
        break;
    case K_HISTOGRAM:
        render_histogram(o, f, s);
        break;
    }
}

char *metrics_render(size_t *len)
{
    struct out o = {.cap = 16384};
    struct metrics_series *d =
        metrics_counter("cityd_metrics_series_dropped_total",
                        "Series not created because the registry was full or the name bad.", "");

    metrics_gauge_set(d, 0); /* counters and gauges share storage: keep it exact */
    metrics_add(d, atomic_load_explicit(&dropped, memory_order_relaxed));
    o.p = malloc(o.cap);
    if (!o.p)
        return NULL;
    o.p[0] = '\0';
    pthread_mutex_lock(&mu);
    for (const struct family *f = families; f; f = f->next) {
        help_line(&o, f);
        for (const struct metrics_series *s = f->first; s; s = s->next)
            render_series(&o, f, s);
    }
    pthread_mutex_unlock(&mu);
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    *len = o.len;
    return o.p;
}

const char *metrics_status_class(int status)
{
    static const char *const cls[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

    if (status < 100 || status > 599)
        return "5xx";
    return cls[status / 100 - 1];
}

static const char *std_method(const char *m, size_t n)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i]) == n && memcmp(known[i], m, n) == 0)
            return known[i];
    return "other";
}

/* Per-thread cache of the series of (route, method, status class): a request costs a few
 * compares and three relaxed atomic adds, not a label string and a hash probe. Keys are the
 * route table's template pointers and std_method()'s static strings, stable for the process. */
#define HTTP_CACHE 256

struct http_cache_ent {
    const char *route, *method;
    int cls;
    struct metrics_series *count, *dur;
};

static _Thread_local struct http_cache_ent http_cache[HTTP_CACHE];
static _Thread_local struct metrics_series *version_series[2];

void metrics_http_request(const char *method, size_t method_len, const char *route, int status,
                          int http_version, double seconds)
{
    static const char unmatched[] = "unmatched";
    char labels[320];
    const char *m = std_method(method ? method : "", method ? method_len : 0);
    const char *r = route ? route : unmatched;
    const char *cls = metrics_status_class(status);
    int ci = cls[0] - '1';
    size_t h = (((uintptr_t)r >> 4) ^ ((uintptr_t)m >> 2) * 31u ^ (uintptr_t)ci * 7u) % HTTP_CACHE;
    struct http_cache_ent *e = &http_cache[h];
    int v2 = http_version >= 0x200;

    if (e->route != r || e->method != m || e->cls != ci || !e->count) {
        metrics_labels(labels, sizeof labels, "method", m, "route", r, "code", cls,
                       (const char *)NULL);
        e->count = metrics_counter("cityd_http_requests_total",
                                   "HTTP requests answered, by method, route template and "
                                   "status class.",
                                   labels);
        metrics_labels(labels, sizeof labels, "method", m, "route", r, (const char *)NULL);
        e->dur = metrics_histogram("cityd_http_request_duration_seconds",
                                   "Time from a request's arrival to its answer, by method and "
                                   "route template.",
                                   labels, NULL, 0);
        e->route = r;
        e->method = m;
        e->cls = ci;
    }
    metrics_inc(e->count);
    metrics_observe(e->dur, seconds);
    if (!version_series[v2])
        version_series[v2] = metrics_counter("cityd_http_version_requests_total",
                                             "HTTP requests answered, by protocol version.",
                                             v2 ? "version=\"2\"" : "version=\"1.1\"");
    metrics_inc(version_series[v2]);
}
