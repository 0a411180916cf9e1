/* api/domain/refdata.c: in-process copies of categories, case settings with the work calendar,
 * and grids, checked against refdata_versions on every use (see refdata.h). */
#include "api/domain/refdata.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "api/domain/calendar.h"
#include "api/domain/citytime.h"
#include "server/core/log.h"
#include "server/db/db.h"

#define DAY_MS INT64_C(86400000)

/* Every snapshot starts with this header; kind-specific data follows. */
struct snap {
    atomic_long refs;
    void (*free_fn)(struct snap *);
};

struct refdata_cats {
    struct snap h;
    int64_t version;
    size_t n;
    struct refdata_category *rows; /* strings in one block after the rows */
};

struct refdata_settings {
    struct snap h;
    int64_t settings_version, calendar_version, day;
    struct deadline_ctx ctx;
};

struct ring {
    size_t n;
    double *xy; /* x (lng), y (lat) pairs; closed (last == first) */
};

struct grid {
    int64_t id, region_id;
    double minx, miny, maxx, maxy;
    size_t nrings;
    struct ring *rings;
};

struct refdata_grids {
    struct snap h;
    int64_t version;
    size_t n;
    struct grid *g; /* by id */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct refdata_cats *cur_cats;
static struct refdata_settings *cur_settings;
static struct refdata_grids *cur_grids;
/* cur_settings' UTC offset in ms, written under lock whenever cur_settings changes. */
static atomic_llong cur_offset_ms = (long long)CITYTIME_DEFAULT_OFFSET_MIN * 60000;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort(); /* like the request pools: out of memory is fatal */
    return p;
}

static void snap_ref(const void *p)
{
    struct snap *s = (struct snap *)(uintptr_t)p;
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static void snap_unref(const void *p)
{
    struct snap *s = (struct snap *)(uintptr_t)p;
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        s->free_fn(s);
}

/* ---- categories -------------------------------------------------------------------------- */

static void cats_free(struct snap *s)
{
    struct refdata_cats *c = (struct refdata_cats *)s;
    for (size_t i = 0; i < c->n; i++) {
        free((char *)(uintptr_t)c->rows[i].code_set);
        free((char *)(uintptr_t)c->rows[i].kind);
        free((char *)(uintptr_t)c->rows[i].full_code);
    }
    free(c->rows);
    free(c);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *p = xcalloc(n + 1, 1);
    memcpy(p, s ? s : "", n);
    return p;
}

static enum err cats_load(struct rctx *cx, int64_t version, struct refdata_cats **out)
{
    struct refdata_cats *c;
    struct db_res r;
    enum err res;

    res = db_exec(cx,
                  "SELECT id, code_set, kind, full_code, limit_register_min, limit_dispatch_min,"
                  " limit_handle, limit_handle_unit, limit_verify_min, limit_close_min, urgent,"
                  " active, department_id, limit_confirm_min, photo_required FROM categories"
                  " ORDER BY id",
                  DB_NOARGS, &r);
    if (res)
        return res;
    c = xcalloc(1, sizeof *c);
    c->h.free_fn = cats_free;
    atomic_init(&c->h.refs, 1);
    c->version = version;
    c->rows = xcalloc(r.nrows, sizeof *c->rows);
    for (size_t i = 0; i < r.nrows; i++) {
        struct refdata_category *k = &c->rows[c->n];
        const char *unit = db_cell(&r, i, 7);

        k->id = db_cell_i64(&r, i, 0);
        if (calendar_unit_from_name(unit, strlen(unit), &k->lim.handle_unit)) {
            /* Not usable for deadlines; a report naming it gets "no such category". */
            log_warn(cx, "category %lld has an unknown unit; left out", (long long)k->id);
            continue;
        }
        k->code_set = xstrdup(db_cell(&r, i, 1));
        k->kind = xstrdup(db_cell(&r, i, 2));
        k->full_code = xstrdup(db_cell(&r, i, 3));
        k->lim.register_min = (int)db_cell_i64(&r, i, 4);
        k->lim.dispatch_min = (int)db_cell_i64(&r, i, 5);
        k->lim.handle = (int)db_cell_i64(&r, i, 6);
        k->lim.verify_min = (int)db_cell_i64(&r, i, 8);
        k->lim.close_min = (int)db_cell_i64(&r, i, 9);
        k->lim.urgent = db_cell_i64(&r, i, 10) != 0;
        k->active = db_cell_i64(&r, i, 11) != 0;
        k->department_id = db_cell_i64(&r, i, 12);
        k->lim.confirm_min = (int)db_cell_i64(&r, i, 13);
        k->photo_required = db_cell_i64(&r, i, 14) != 0;
        c->n++;
    }
    *out = c;
    return ERR_OK;
}

size_t refdata_categories_find(const struct refdata_view *v, int64_t id, const char *code_set,
                               const char *full_code, const char *kind,
                               struct refdata_category out[2])
{
    const struct refdata_cats *c = v->cats;
    size_t n = 0;

    for (size_t i = 0; i < c->n && n < 2; i++) {
        const struct refdata_category *k = &c->rows[i];
        bool hit = id > 0 ? k->id == id
                          : code_set && full_code && strcasecmp(k->code_set, code_set) == 0 &&
                                strcasecmp(k->full_code, full_code) == 0 &&
                                (!kind || strcasecmp(k->kind, kind) == 0);
        if (hit)
            out[n++] = *k;
    }
    /* The SQL ordered two matches by kind ('component' before 'event'). */
    if (n == 2 && strcmp(out[0].kind, out[1].kind) > 0) {
        struct refdata_category t = out[0];
        out[0] = out[1];
        out[1] = t;
    }
    return n;
}

/* ---- case settings and the work calendar ------------------------------------------------- */

static void settings_free(struct snap *s)
{
    free(s);
}

static enum err settings_load(struct rctx *cx, int64_t sv, int64_t cv, int64_t day,
                              struct refdata_settings **out)
{
    struct refdata_settings *s;
    struct deadline_ctx *d;
    struct db_res r, days;
    int64_t at = day * DAY_MS;
    enum err res;

    res = db_exec(cx,
                  "SELECT escalate_pct, dup_radius_m, dup_window_h, work_periods, utc_offset_min"
                  " FROM case_settings WHERE id = 1",
                  DB_NOARGS, &r);
    if (res)
        return res;
    /* Only dates near now matter: steps are days long, not years. */
    res = db_exec(cx,
                  "SELECT YEAR(day), MONTH(day), DAY(day), working FROM work_calendar_days"
                  " WHERE day BETWEEN DATE(FROM_UNIXTIME(? / 1000)) - INTERVAL 60 DAY"
                  " AND DATE(FROM_UNIXTIME(? / 1000)) + INTERVAL 400 DAY ORDER BY day LIMIT ?",
                  DB_ARGS(DBI(at), DBI(at), DBI(CALENDAR_MAX_DATES)), &days);
    if (res)
        return res;
    s = xcalloc(1, sizeof *s);
    s->h.free_fn = settings_free;
    atomic_init(&s->h.refs, 1);
    s->settings_version = sv;
    s->calendar_version = cv;
    s->day = day;
    d = &s->ctx;
    calendar_init_default(&d->cal);
    d->escalate_pct = 150;
    d->dup_radius_m = 50;
    d->dup_window_h = 72;
    if (r.nrows == 1) {
        d->escalate_pct = (int)db_cell_i64(&r, 0, 0);
        d->dup_radius_m = (int)db_cell_i64(&r, 0, 1);
        d->dup_window_h = (int)db_cell_i64(&r, 0, 2);
        /* A bad row must not stop reporting: the defaults stay and the log says why. */
        if (calendar_parse_periods(&d->cal, db_cell(&r, 0, 3)))
            log_warn(cx, "case_settings.work_periods is invalid; using the default periods");
        if (calendar_set_utc_offset(&d->cal, (int)db_cell_i64(&r, 0, 4)))
            log_warn(cx, "case_settings.utc_offset_min is invalid; using +480");
    }
    for (size_t i = 0; i < days.nrows; i++) {
        int y = (int)db_cell_i64(&days, i, 0), m = (int)db_cell_i64(&days, i, 1);
        int dd = (int)db_cell_i64(&days, i, 2);
        enum err e = db_cell_i64(&days, i, 3) ? calendar_add_workday(&d->cal, y, m, dd)
                                              : calendar_add_holiday(&d->cal, y, m, dd);
        if (e)
            log_warn(cx, "work_calendar_days %04d-%02d-%02d ignored", y, m, dd);
    }
    *out = s;
    return ERR_OK;
}

void refdata_deadline_ctx(const struct refdata_view *v, struct deadline_ctx *d)
{
    *d = v->settings->ctx;
}

/* ---- grids ------------------------------------------------------------------------------- */

static void grids_free(struct snap *s)
{
    struct refdata_grids *g = (struct refdata_grids *)s;
    for (size_t i = 0; i < g->n; i++) {
        for (size_t k = 0; k < g->g[i].nrings; k++)
            free(g->g[i].rings[k].xy);
        free(g->g[i].rings);
    }
    free(g->g);
    free(g);
}

static uint32_t wkb_u32(const unsigned char *p, bool le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

static double wkb_f64(const unsigned char *p, bool le)
{
    unsigned char b[8];
    double d;
    for (int i = 0; i < 8; i++)
        b[i] = le ? p[i] : p[7 - i];
    memcpy(&d, b, sizeof d); /* x86 and ARM hosts are little-endian */
    return d;
}

/* A WKB POLYGON (type 3) into g; false when the bytes are not one. */
static bool wkb_polygon(const unsigned char *p, size_t len, struct grid *g)
{
    size_t off = 9;
    bool le;
    uint32_t nrings;

    if (len < 9 || (p[0] != 0 && p[0] != 1))
        return false;
    le = p[0] == 1;
    if (wkb_u32(p + 1, le) != 3)
        return false;
    nrings = wkb_u32(p + 5, le);
    if (nrings == 0 || nrings > (len - 9) / 4)
        return false;
    g->rings = xcalloc(nrings, sizeof *g->rings);
    g->minx = g->miny = INFINITY;
    g->maxx = g->maxy = -INFINITY;
    for (uint32_t k = 0; k < nrings; k++) {
        struct ring *rg = &g->rings[k];
        uint32_t npts;

        if (len - off < 4)
            return false;
        npts = wkb_u32(p + off, le);
        off += 4;
        if (npts > (len - off) / 16)
            return false;
        rg->xy = xcalloc(2 * (size_t)npts, sizeof *rg->xy);
        rg->n = npts;
        g->nrings++;
        for (size_t i = 0; i < npts; i++, off += 16) {
            double x = wkb_f64(p + off, le), y = wkb_f64(p + off + 8, le);
            rg->xy[2 * i] = x;
            rg->xy[2 * i + 1] = y;
            g->minx = fmin(g->minx, x);
            g->maxx = fmax(g->maxx, x);
            g->miny = fmin(g->miny, y);
            g->maxy = fmax(g->maxy, y);
        }
    }
    return true;
}

static enum err grids_load(struct rctx *cx, int64_t version, struct refdata_grids **out)
{
    struct refdata_grids *gs;
    struct db_res r;
    enum err res;

    res = db_exec(cx, "SELECT id, region_id, ST_AsWKB(boundary) FROM grids ORDER BY id", DB_NOARGS,
                  &r);
    if (res)
        return res;
    gs = xcalloc(1, sizeof *gs);
    gs->h.free_fn = grids_free;
    atomic_init(&gs->h.refs, 1);
    gs->version = version;
    gs->g = xcalloc(r.nrows, sizeof *gs->g);
    for (size_t i = 0; i < r.nrows; i++) {
        struct grid *g = &gs->g[gs->n++];

        g->id = db_cell_i64(&r, i, 0);
        g->region_id = db_cell_i64(&r, i, 1);
        if (!wkb_polygon((const unsigned char *)db_cell(&r, i, 2), db_cell_len(&r, i, 2), g)) {
            log_warn(cx, "grid %lld: boundary is not a polygon; no point falls in it",
                     (long long)g->id);
            g->minx = g->miny = INFINITY; /* an empty box */
            g->maxx = g->maxy = -INFINITY;
        }
    }
    *out = gs;
    return ERR_OK;
}

/* Even-odd rule over all rings: holes (inner rings) flip back to outside. */
static bool grid_contains(const struct grid *g, double x, double y)
{
    bool in = false;

    if (x < g->minx || x > g->maxx || y < g->miny || y > g->maxy)
        return false;
    for (size_t k = 0; k < g->nrings; k++) {
        const struct ring *rg = &g->rings[k];
        for (size_t i = 0, j = rg->n ? rg->n - 1 : 0; i < rg->n; j = i++) {
            double xi = rg->xy[2 * i], yi = rg->xy[2 * i + 1];
            double xj = rg->xy[2 * j], yj = rg->xy[2 * j + 1];
            if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi)
                in = !in;
        }
    }
    return in;
}

bool refdata_grid_of(const struct refdata_view *v, double lat, double lng, int64_t *grid,
                     int64_t *region)
{
    const struct refdata_grids *gs = v->grids;

    for (size_t i = 0; i < gs->n; i++) {
        if (grid_contains(&gs->g[i], lng, lat)) {
            *grid = gs->g[i].id;
            *region = gs->g[i].region_id;
            return true;
        }
    }
    return false;
}

/* ---- views ------------------------------------------------------------------------------- */

static void view_release(void *p)
{
    struct refdata_view *v = p;
    snap_unref(v->cats);
    snap_unref(v->settings);
    snap_unref(v->grids);
}

/* Install s as current unless a newer one is there; the caller keeps its own reference. */
#define INSTALL(cur, s, newer)                                                                     \
    do {                                                                                           \
        pthread_mutex_lock(&lock);                                                                 \
        if (!(cur) || (newer)) {                                                                   \
            snap_ref(s);                                                                           \
            snap_unref(cur);                                                                       \
            (cur) = (s);                                                                           \
        }                                                                                          \
        pthread_mutex_unlock(&lock);                                                               \
    } while (0)

enum err refdata_open(struct rctx *cx, struct refdata_view *v)
{
    struct refdata_view *held = rctx_zalloc(cx, sizeof *held), got = {0};
    int64_t cv, sv, wv, gv, day;
    struct db_res r;
    enum err res;

    memset(v, 0, sizeof *v);
    res = db_exec(cx,
                  "SELECT categories, case_settings, work_calendar, grids FROM refdata_versions"
                  " WHERE id = 1",
                  DB_NOARGS, &r);
    if (res)
        return res;
    if (r.nrows != 1)
        return rctx_fail(cx, ERR_INTERNAL, "refdata_versions has no row");
    cv = db_cell_i64(&r, 0, 0);
    sv = db_cell_i64(&r, 0, 1);
    wv = db_cell_i64(&r, 0, 2);
    gv = db_cell_i64(&r, 0, 3);
    day = cx->now_ms >= 0 ? cx->now_ms / DAY_MS : -((-cx->now_ms + DAY_MS - 1) / DAY_MS);

    pthread_mutex_lock(&lock);
    if (cur_cats && cur_cats->version == cv) {
        snap_ref(cur_cats);
        got.cats = cur_cats;
    }
    if (cur_settings && cur_settings->settings_version == sv &&
        cur_settings->calendar_version == wv && cur_settings->day == day) {
        snap_ref(cur_settings);
        got.settings = cur_settings;
    }
    if (cur_grids && cur_grids->version == gv) {
        snap_ref(cur_grids);
        got.grids = cur_grids;
    }
    pthread_mutex_unlock(&lock);
    /* From here on the references are released with the request, whatever happens. */
    *held = got;
    rctx_defer(cx, view_release, held);

    /* Reloads read after the counters, so a copy is never older than its label. */
    if (!got.cats) {
        struct refdata_cats *c;
        res = cats_load(cx, cv, &c);
        if (res)
            return res;
        held->cats = got.cats = c;
        INSTALL(cur_cats, c, cur_cats->version < cv);
    }
    if (!got.settings) {
        struct refdata_settings *s;
        res = settings_load(cx, sv, wv, day, &s);
        if (res)
            return res;
        held->settings = got.settings = s;
        INSTALL(cur_settings, s,
                cur_settings->settings_version <= sv && cur_settings->calendar_version <= wv);
        pthread_mutex_lock(&lock);
        atomic_store_explicit(&cur_offset_ms,
                              (long long)cur_settings->ctx.cal.utc_offset_min * 60000,
                              memory_order_relaxed);
        pthread_mutex_unlock(&lock);
    }
    if (!got.grids) {
        struct refdata_grids *g;
        res = grids_load(cx, gv, &g);
        if (res)
            return res;
        held->grids = got.grids = g;
        INSTALL(cur_grids, g, cur_grids->version < gv);
    }
    *v = got;
    return ERR_OK;
}

enum err refdata_deadline_load(struct rctx *cx, struct deadline_ctx *d)
{
    struct refdata_view v;
    enum err res = refdata_open(cx, &v);

    if (res)
        return res;
    if (!v.settings) /* refdata_open fills every kind when it succeeds */
        return rctx_fail(cx, ERR_INTERNAL, "refdata: no settings");
    refdata_deadline_ctx(&v, d);
    return ERR_OK;
}

int64_t refdata_utc_offset_ms(const struct refdata_view *v)
{
    return (int64_t)v->settings->ctx.cal.utc_offset_min * 60000;
}

int64_t refdata_utc_offset_last(void)
{
    return (int64_t)atomic_load_explicit(&cur_offset_ms, memory_order_relaxed);
}

enum err refdata_utc_offset(struct rctx *cx, int64_t *off_ms)
{
    struct refdata_view v;
    enum err res = refdata_open(cx, &v);

    if (res)
        return res;
    if (!v.settings) /* refdata_open fills every kind when it succeeds */
        return rctx_fail(cx, ERR_INTERNAL, "refdata: no settings");
    *off_ms = refdata_utc_offset_ms(&v);
    return ERR_OK;
}

enum err refdata_refresh_job(struct rctx *cx)
{
    struct refdata_view v;

    return refdata_open(cx, &v);
}
