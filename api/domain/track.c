/* api/domain/track.c: see track.h. */
#include "track.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "audit.h"
#include "geo.h"
#include "gps_int.h"
#include "outbox.h"
#include "server/core/log.h"
#include "server/core/roles.h"
#include "server/db/db.h"
#include "server/db/sqlb.h"

/* The statement that adds day partitions: about a hundred days at most per run. */
#define ADD_SQL_MAX 16384

#define MODULE "track"

struct gps_cfg gps_cfg = {
    .retention_days = 180,
    .max_accuracy_m = 100,
    .max_speed_kmh = 300,
    .max_age_s = 7 * 86400,
    .max_future_s = 300,
    .checkin_tolerance_m = 30,
    .checkin_max_accuracy_m = 100,
    .stop_min = 5,
    .vehicle_active_s = 600,
    .latest_cache_ms = 1000,
    .auto_out_after_min = 120,
    .max_duty_hours = 16,
};

#define NEIGHBOUR_MS INT64_C(600000) /* stored fixes this close to a batch are its neighbours */
#define NOTIFY_MS INT64_C(5000)      /* at most one position.updated per owner in this time */
#define GAP_MS INT64_C(300000)       /* consecutive fixes farther apart: a gap in replays */
#define STOP_RADIUS_M 50.0
#define PHOTO_GPS_ERR_M 30.0 /* what a phone camera's own fix may be off by */
#define PARTITION_AHEAD_DAYS 3

static const char *const filter_names[TRACK_NFILTERS] = {
    "ok", "invalid_coordinates", "accuracy", "speed", "duplicate_time", "future", "too_old",
};

const char *track_filter_name(enum track_filter f)
{
    return (unsigned)f < TRACK_NFILTERS ? filter_names[f] : "ok";
}

/* ---- shared helpers (gps_int.h) ------------------------------------------------------------- */

/* "POLYGON((x y,x y,...))" of ST_AsText: the outer ring. */
static size_t parse_ring(struct rctx *cx, const char *s, double (**out)[2])
{
    const char *p = strstr(s, "((");
    size_t cap = 8, n = 0;
    double(*v)[2];

    if (!p)
        return 0;
    p += 2;
    v = rctx_alloc(cx, cap * sizeof *v);
    while (*p && *p != ')') {
        char *e;
        double x = strtod(p, &e), y;
        if (e == p)
            break;
        p = e;
        y = strtod(p, &e);
        if (e == p)
            break;
        p = e;
        if (n == cap) {
            double(*w)[2] = rctx_alloc(cx, 2 * cap * sizeof *w);
            memcpy(w, v, n * sizeof *v);
            v = w;
            cap *= 2;
        }
        v[n][0] = x;
        v[n][1] = y;
        n++;
        if (*p == ',')
            p++;
    }
    *out = v;
    return n;
}

enum err gps__user_rings(struct rctx *cx, int64_t user_id, struct gps__rings *out)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT g.id, ST_AsText(g.boundary) FROM user_grids ug JOIN grids g ON"
                           " g.id = ug.grid_id WHERE ug.user_id = ? ORDER BY g.id",
                           DB_ARGS(DBI(user_id)), &r);
    if (res)
        return res;
    out->n = r.nrows;
    out->grid_id = rctx_alloc(cx, (r.nrows + 1) * sizeof *out->grid_id);
    out->ring = rctx_alloc(cx, (r.nrows + 1) * sizeof *out->ring);
    out->nring = rctx_alloc(cx, (r.nrows + 1) * sizeof *out->nring);
    for (size_t i = 0; i < r.nrows; i++) {
        out->grid_id[i] = db_cell_i64(&r, i, 0);
        out->nring[i] = parse_ring(cx, db_cell(&r, i, 1) ? db_cell(&r, i, 1) : "", &out->ring[i]);
    }
    return ERR_OK;
}

long gps__rings_find(const struct gps__rings *g, double lat, double lng, double tol_m,
                     double *dist_m)
{
    double best = INFINITY;

    for (size_t i = 0; i < g->n; i++) {
        double d;
        if (geo_ring_within(lat, lng, (const double(*)[2])g->ring[i], g->nring[i], tol_m, &d)) {
            if (dist_m)
                *dist_m = d;
            return (long)i;
        }
        if (d < best)
            best = d;
    }
    if (dist_m)
        *dist_m = best;
    return -1;
}

enum err gps__duty_load(struct rctx *cx, int64_t user_id, int64_t from, int64_t to,
                        struct gps__duty *out)
{
    struct db_res r;
    size_t n = 0;
    int64_t open = -1;
    enum err res = db_exec(
        cx,
        "SELECT type, FLOOR(UNIX_TIMESTAMP(at) * 1000) FROM checkins WHERE user_id = ? AND"
        " at <= FROM_UNIXTIME(? / 1000) AND at >= (SELECT COALESCE(MAX(c2.at), '1970-01-01')"
        " FROM checkins c2 WHERE c2.user_id = ? AND c2.at <= FROM_UNIXTIME(? / 1000))"
        " ORDER BY at, id",
        DB_ARGS(DBI(user_id), DBI(to), DBI(user_id), DBI(from)), &r);

    if (res)
        return res;
    out->on = rctx_alloc(cx, (r.nrows + 1) * sizeof *out->on);
    out->off = rctx_alloc(cx, (r.nrows + 1) * sizeof *out->off);
    for (size_t i = 0; i < r.nrows; i++) {
        bool in = strcmp(db_cell(&r, i, 0), "in") == 0;
        int64_t at = db_cell_i64(&r, i, 1);
        if (in && open < 0) {
            open = at;
        } else if (!in && open >= 0) {
            out->on[n] = open;
            out->off[n++] = at;
            open = -1;
        }
    }
    if (open >= 0) {
        out->on[n] = open;
        out->off[n++] = INT64_MAX;
    }
    out->n = n;
    return ERR_OK;
}

bool gps__duty_at(const struct gps__duty *d, int64_t t)
{
    for (size_t i = 0; i < d->n; i++)
        if (t >= d->on[i] && t < d->off[i])
            return true;
    return false;
}

enum err gps__user_in_reach(struct rctx *cx, int64_t user_id, bool *yes)
{
    struct db_res r;
    enum err res =
        db_exec(cx,
                "SELECT 1 FROM users t WHERE t.id = ? AND (t.region_id IN (" GPS__SUBTREE_SQL
                ") OR EXISTS (SELECT 1 FROM user_grids ug JOIN grids g ON g.id = ug.grid_id WHERE"
                " ug.user_id = t.id AND g.region_id IN (" GPS__SUBTREE_SQL ")))",
                DB_ARGS(DBI(user_id), DBI(cx->who.user_id), DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    *yes = r.nrows > 0;
    return ERR_OK;
}

enum err track_may_see_user(struct rctx *cx, int64_t user_id)
{
    struct db_res r;
    bool yes = false;
    enum err res;

    if (user_id <= 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such user");
    res = db_exec(cx, "SELECT roles FROM users WHERE id = ?", DB_ARGS(DBI(user_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0 || ((uint32_t)db_cell_i64(&r, 0, 0) & ROLE_STAFF) == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such user");
    if (user_id == cx->who.user_id || (cx->who.roles & ROLE_ADMIN))
        return ERR_OK;
    if (cx->who.roles & (ROLE_LEADER | ROLE_SHIFT_LEAD)) {
        res = gps__user_in_reach(cx, user_id, &yes);
        if (res)
            return res;
    }
    return yes ? ERR_OK : rctx_fail(cx, ERR_NOTFOUND, "no such user");
}

/* ---- ingest --------------------------------------------------------------------------------- */

/* A point of the merged, time-ordered view of a batch and its stored neighbours. */
struct merged {
    int64_t t, seq;
    double lat, lng;
    long idx; /* index in the batch, -1 for a stored point */
    bool ok;  /* stored: usable; batch: decided while walking */
};

static int merged_cmp(const void *a, const void *b)
{
    const struct merged *x = a, *y = b;

    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if ((x->idx < 0) != (y->idx < 0))
        return x->idx < 0 ? -1 : 1; /* what is stored came first */
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct owner {
    const char *type;   /* "user" / "vehicle" */
    const char *name;   /* display name or plate */
    const char *device; /* the device's name */
    int64_t id, dev_id, region_id;
    int64_t prev_seq; /* the device's max_seq before this batch (-1: none stored) */
    bool on_duty;
    int64_t since;              /* on duty since (users) */
    int64_t latest_t, notified; /* positions_latest as read (0: no row) */
};

/* One batch of a group stored together (track_ingest_many): its request, its owner and what is
 * decided about its points. */
struct ingest {
    struct rctx *cx;
    struct track_batch *b;
    struct track_ingest_out *out;
    struct owner o;
    bool person;
    size_t idx;                        /* in its group: the tag of its rows in read_context */
    int64_t top, tmin, tmax, plo, phi; /* highest seq; fix times: all, the plausible ones */
    int64_t *seqs;                     /* the batch's seqs up to the old max_seq */
    size_t nseq;
    enum track_filter *flt;
    bool *skip;            /* off duty, or a duplicate: not stored */
    size_t *which, nwhich; /* the points to store */
    size_t newest;         /* the newest usable one of them, (size_t)-1: none */
    size_t inserted;
    enum err res; /* the batch's answer */
};

/* The group's devices, as the transaction's first statement (one multi-row statement for all
 * its batches, in the order of the unique key so that concurrent groups lock alike): each
 * created with its first batch, else locked (concurrent sends of one device take turns), its
 * max_seq raised to the batch's highest seq at once and the value before read back (RETURNING;
 * prev_max_seq is that scratch copy, migrations/0025_track_prev_seq.sql). A point is stored
 * once per (device, seq), whatever its fix time (a phone may re-stamp a queued fix): points
 * above the old max_seq are new by definition, the others are looked up by seq
 * (migrations/0015_track_seq.sql). A max_seq raised by points that are then refused (off duty)
 * only makes later lookups a little wider. Taking the locks before any plain read matters:
 * InnoDB takes the transaction's snapshot at its first plain read, so every read after this
 * sees what the devices' earlier sends committed. (The reads cannot ride along in RETURNING:
 * subqueries of a DML statement are locking reads under REPEATABLE READ, and their next-key
 * locks on track_points deadlock concurrent devices.) A group holds one batch per owner, so
 * the rows come back matched by owner. */
static enum err lock_devices(struct ingest *const *gs, size_t n)
{
    struct rctx *cx = gs[0]->cx;
    struct db_val *v = rctx_alloc(cx, n * 5 * sizeof *v);
    struct db_sqlb sql;
    struct db_res r;
    enum err res;

    db_sqlb_init(cx, &sql, 0,
                 "INSERT INTO track_devices (owner_type, owner_id, device, created_at, max_seq)"
                 " VALUES ");
    for (size_t i = 0; i < n; i++) {
        const struct ingest *g = gs[i];
        db_sqlb_add(&sql,
                    i ? ",(?,?,?,FROM_UNIXTIME(? / 1000),?)" : "(?,?,?,FROM_UNIXTIME(? / 1000),?)");
        v[i * 5] = DBS(g->o.type);
        v[i * 5 + 1] = DBI(g->o.id);
        v[i * 5 + 2] = DBS(g->o.device);
        v[i * 5 + 3] = DBI(g->cx->now_ms);
        v[i * 5 + 4] = DBI(g->top);
    }
    db_sqlb_add(&sql, " ON DUPLICATE KEY UPDATE prev_max_seq = max_seq,"
                      " max_seq = GREATEST(max_seq, VALUES(max_seq))"
                      " RETURNING id, prev_max_seq, owner_type, owner_id");
    res = db_sqlb_check(&sql);
    if (!res)
        res = db_exec(cx, sql.sql, v, n * 5, &r);
    if (res)
        return res;
    if (r.nrows != n)
        return rctx_fail(cx, ERR_INTERNAL, "track device upsert returned %zu rows for %zu", r.nrows,
                         n);
    for (size_t k = 0; k < r.nrows; k++) {
        const char *type = db_cell(&r, k, 2);
        int64_t id = db_cell_i64(&r, k, 3);
        for (size_t i = 0; i < n; i++)
            if (gs[i]->o.id == id && type && strcmp(gs[i]->o.type, type) == 0) {
                gs[i]->o.dev_id = db_cell_i64(&r, k, 0);
                gs[i]->o.prev_seq = db_cell_i64(&r, k, 1);
            }
    }
    for (size_t i = 0; i < n; i++)
        if (gs[i]->o.dev_id <= 0)
            return rctx_fail(cx, ERR_INTERNAL, "track device upsert: no row for batch %zu", i);
    return ERR_OK;
}

/* Sizes the IN list of the seq lookup is padded to (repeating its last seq), so a few
 * statement texts serve every batch. */
static const size_t seq_buckets[] = {1, 4, 16, 50, 100, 200, TRACK_BATCH_MAX};

static size_t seq_pad(size_t nseq)
{
    for (size_t k = 0; k < sizeof seq_buckets / sizeof *seq_buckets; k++)
        if (seq_buckets[k] >= nseq)
            return seq_buckets[k];
    return nseq;
}

/* Parameters read_context binds for a batch of n points, at most (see GROUP_ARGS_MAX). */
#define READ_ARGS(n) (10 + seq_pad(n))
/* What one statement may bind (server/db/db.c binds at most 6144 parameters): a group is cut
 * where its read would bind more. */
#define GROUP_ARGS_MAX 6000
#define READ_SQL_MAX (256 * 1024)

/* What the group's batches are checked against, read in one plain statement (one round trip)
 * after lock_devices; every row carries its batch's place in the group (the last column):
 * kind 0  the owner — a person's region, duty and name, or the caller's active vehicle — with
 *         its live-map row;
 * kind 1  the device's stored points with fix times in [plo, phi] (the span of the batch's
 *         plausible fix times: nothing for a phone sending in order), with their seq, t, lat,
 *         lng and whether usable;
 * kind 2  its last usable point in the NEIGHBOUR_MS before plo (what the speed and
 *         duplicate-time filters compare the first new fix with);
 * kind 3  the seqs among seqs stored already (the batch's seqs up to the old max_seq).
 * plo > phi: no kinds 1 and 2. Columns: kind, region, on_duty, since, name, latest t,
 * notified, seq, t, lat, lng, usable, batch. */
#define SEL_NULLS6 "NULL, NULL, NULL, NULL, NULL, NULL"
#define SEL_NULLS4 "NULL, NULL, NULL, NULL"
static enum err read_context(struct ingest *const *gs, size_t n, struct db_res *r)
{
    struct rctx *cx = gs[0]->cx;
    size_t nv = 0, cap = 0;
    struct db_val *v;
    struct db_sqlb sql;
    enum err res;

    for (size_t i = 0; i < n; i++)
        cap += READ_ARGS(gs[i]->nseq);
    v = rctx_alloc(cx, cap * sizeof *v);
    db_sqlb_init(cx, &sql, READ_SQL_MAX, "");
    for (size_t i = 0; i < n; i++) {
        const struct ingest *g = gs[i];
        const struct owner *o = &g->o;

        if (i)
            db_sqlb_add(&sql, " UNION ALL ");
        if (!g->person) {
            db_sqlb_addf(&sql,
                         "SELECT 0, v.region_id, 1, 0, v.plate, pl.t, pl.notified_ms, " SEL_NULLS4
                         ", NULL, %zu FROM vehicles v LEFT JOIN positions_latest pl ON"
                         " pl.owner_type = 'vehicle' AND pl.owner_id = v.id"
                         " WHERE v.id = ? AND v.active = 1 AND v.user_id = ?",
                         i);
            v[nv++] = DBI(o->id);
            v[nv++] = DBI(g->cx->who.user_id);
        } else {
            db_sqlb_addf(&sql,
                         "SELECT 0, COALESCE(u.region_id, (SELECT g.region_id FROM user_grids ug"
                         " JOIN grids g ON g.id = ug.grid_id WHERE ug.user_id = u.id ORDER BY"
                         " g.id LIMIT 1)), du.on_duty, FLOOR(UNIX_TIMESTAMP(du.since) * 1000),"
                         " u.display_name, pl.t, pl.notified_ms, " SEL_NULLS4 ", NULL, %zu FROM"
                         " users u LEFT JOIN duty du ON du.user_id = u.id LEFT JOIN"
                         " positions_latest pl ON pl.owner_type = 'user' AND pl.owner_id = u.id"
                         " WHERE u.id = ?",
                         i);
            v[nv++] = DBI(o->id);
        }
        if (g->plo <= g->phi) {
            db_sqlb_addf(&sql,
                         " UNION ALL SELECT 1, " SEL_NULLS6 ", seq, t, lat, lng, filtered = 'ok',"
                         " %zu FROM track_points WHERE dev_id = ? AND t BETWEEN ? AND ?"
                         " UNION ALL (SELECT 2, " SEL_NULLS6 ", seq, t, lat, lng, 1, %zu FROM"
                         " track_points FORCE INDEX (track_points_time) WHERE dev_id = ?"
                         " AND t >= ? AND t < ? AND"
                         " filtered = 'ok' ORDER BY t DESC, seq DESC LIMIT 1)",
                         i, i);
            v[nv++] = DBI(o->dev_id);
            v[nv++] = DBI(g->plo);
            v[nv++] = DBI(g->phi);
            v[nv++] = DBI(o->dev_id);
            v[nv++] = DBI(g->plo - NEIGHBOUR_MS);
            v[nv++] = DBI(g->plo);
        }
        if (g->nseq) {
            size_t pad = seq_pad(g->nseq);
            db_sqlb_addf(&sql,
                         " UNION ALL SELECT 3, " SEL_NULLS6 ", seq, " SEL_NULLS4 ", %zu"
                         " FROM track_points WHERE dev_id = ? AND seq IN (",
                         i);
            v[nv++] = DBI(o->dev_id);
            for (size_t k = 0; k < pad; k++) {
                db_sqlb_add(&sql, k ? ",?" : "?");
                v[nv++] = DBI(g->seqs[k < g->nseq ? k : g->nseq - 1]);
            }
            db_sqlb_add(&sql, ")");
        }
    }
    res = db_sqlb_check(&sql);
    return res ? res : db_exec(cx, sql.sql, v, nv, r);
}

/* Row counts the multi-row insert is prepared for: the points of a group go in statements of
 * at most TRACK_BATCH_MAX rows, each padded up to one of these by repeating its last row
 * (INSERT IGNORE drops the repeats), so a few statements serve all; batches of 100 points, the
 * phones' usual, fill them without padding. */
static const size_t insert_buckets[] = {1, 4, 16, 50, 100, 200, 300, 400, TRACK_BATCH_MAX};

static const char *insert_sql(struct rctx *cx, size_t rows)
{
    static const char head[] = "INSERT IGNORE INTO track_points (dev_id, seq, t, recv_ms, lat, lng,"
                               " accuracy_m, speed, heading, altitude, battery, filtered) VALUES ";
    static const char row[] = "(?,?,?,?,?,?,?,?,?,?,?,?)";
    size_t cap = sizeof head + rows * sizeof row + 1, len = sizeof head - 1;
    char *s = rctx_alloc(cx, cap);

    memcpy(s, head, len);
    for (size_t i = 0; i < rows; i++) {
        if (i)
            s[len++] = ',';
        memcpy(s + len, row, sizeof row - 1);
        len += sizeof row - 1;
    }
    s[len] = '\0';
    return s;
}

static void bind_point(struct db_val *v, int64_t dev, int64_t recv, const struct track_point_in *p,
                       enum track_filter f)
{
    v[0] = DBI(dev);
    v[1] = DBI(p->seq);
    v[2] = DBI(p->t);
    v[3] = DBI(recv);
    v[4] = DBF(p->lat);
    v[5] = DBF(p->lng);
    v[6] = (p->has & TRACK_HAS_ACCURACY) ? DBF(p->accuracy) : DBNULL;
    v[7] = (p->has & TRACK_HAS_SPEED) ? DBF(p->speed) : DBNULL;
    v[8] = (p->has & TRACK_HAS_HEADING) ? DBF(p->heading) : DBNULL;
    v[9] = (p->has & TRACK_HAS_ALTITUDE) ? DBF(p->altitude) : DBNULL;
    v[10] = (p->has & TRACK_HAS_BATTERY) ? DBI(p->battery) : DBNULL;
    v[11] = DBS(filter_names[f]);
}

/* The points to store of every batch of the group in one statement of one row executed for
 * every point (array binding, db_exec_bulk): the server neither parses nor binds a text of
 * thousands of placeholders. *inserted: the rows stored. */
static enum err insert_points_bulk(struct ingest *const *gs, size_t n, size_t total,
                                   size_t *inserted)
{
    struct rctx *cx = gs[0]->cx;
    struct db_val *v = rctx_alloc(cx, total * 12 * sizeof *v);
    size_t k = 0;
    uint64_t affected = 0;
    enum err res;

    for (size_t i = 0; i < n; i++)
        for (size_t p = 0; p < gs[i]->nwhich; p++, k++) {
            size_t src = gs[i]->which[p];
            bind_point(v + k * 12, gs[i]->o.dev_id, gs[i]->cx->now_ms, &gs[i]->b->pts[src],
                       gs[i]->flt[src]);
        }
    res = db_exec_bulk(cx, insert_sql(cx, 1), v, 12, total, &affected);
    *inserted = (size_t)affected;
    return res;
}

/* The points to store of every batch of the group; *inserted: the rows stored. Array binding
 * when the server takes it, else multi-row statements. */
static enum err insert_points(struct ingest *const *gs, size_t n, size_t *inserted)
{
    struct rctx *cx = gs[0]->cx;
    size_t total = 0, done = 0, g = 0, p = 0;

    *inserted = 0;
    for (size_t i = 0; i < n; i++)
        total += gs[i]->nwhich;
    if (total && db_bulk_ok(cx)) {
        enum err res = insert_points_bulk(gs, n, total, inserted);
        if (res == ERR_OK || db_bulk_ok(cx))
            return res;
        /* Refused before it ran (db_exec_bulk): the same rows as multi-row statements. */
        memset(&cx->err, 0, sizeof cx->err);
    }
    while (done < total) {
        size_t left = total - done, take,
               rows = insert_buckets[sizeof insert_buckets / sizeof *insert_buckets - 1];
        struct db_val *v;
        struct db_res r;
        enum err res;

        for (size_t k = 0; k < sizeof insert_buckets / sizeof *insert_buckets; k++)
            if (insert_buckets[k] >= left) {
                rows = insert_buckets[k];
                break;
            }
        take = rows < left ? rows : left;
        v = rctx_alloc(cx, rows * 12 * sizeof *v);
        for (size_t i = 0; i < take; i++) {
            const struct ingest *e;
            size_t src;
            while (p == gs[g]->nwhich) {
                g++;
                p = 0;
            }
            e = gs[g];
            src = e->which[p++];
            bind_point(v + i * 12, e->o.dev_id, e->cx->now_ms, &e->b->pts[src], e->flt[src]);
        }
        for (size_t i = take; i < rows; i++)
            memcpy(v + i * 12, v + (take - 1) * 12, 12 * sizeof *v);
        res = db_exec(cx, insert_sql(cx, rows), v, rows * 12, &r);
        if (res)
            return res;
        *inserted += (size_t)r.affected;
        done += take;
    }
    return ERR_OK;
}

/* "2026-11-23T08:30:00.000Z" (the API's time format). */
static void iso_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;

    char buf[96];

    gmtime_r(&t, &tm);
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ms - (int64_t)t * 1000));
    snprintf(out, 32, "%.31s", buf);
}

/* s as a JSON string body (no quotes) into out, at most cap - 1 bytes, cut on a whole
 * character. Control characters become \u00XX. */
static void text_escape(const char *s, char *out, size_t cap)
{
    size_t n = 0;

    for (; s && *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    /* Never end inside a UTF-8 sequence. */
    if (s && *s)
        while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
            n--;
    if (s && *s && n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0xC0)
        n--;
    out[n] = '\0';
}

/* The live-map entry of a fix (positions_latest.item), in GCJ-02 when gcj. */
static void render_item(const struct owner *o, const struct track_point_in *p, bool gcj, char *out,
                        size_t cap)
{
    char name[200], t[32];
    double lat = p->lat, lng = p->lng;
    size_t n;

    if (gcj)
        geo_wgs_to_gcj(lat, lng, &lat, &lng);
    text_escape(o->name, name, sizeof name);
    iso_time(p->t, t);
    n = (size_t)snprintf(out, cap,
                         "{\"owner_type\":\"%s\",\"owner_id\":%lld,\"name\":\"%s\",\"t\":\"%s\","
                         "\"lat\":%.7f,\"lng\":%.7f",
                         o->type, (long long)o->id, name, t, lat, lng);
    if ((p->has & TRACK_HAS_ACCURACY) && n < cap)
        n += (size_t)snprintf(out + n, cap - n, ",\"accuracy\":%.1f", p->accuracy);
    if ((p->has & TRACK_HAS_SPEED) && isfinite(p->speed) && n < cap)
        n += (size_t)snprintf(out + n, cap - n, ",\"speed\":%.2f", p->speed);
    if ((p->has & TRACK_HAS_HEADING) && isfinite(p->heading) && n < cap)
        n += (size_t)snprintf(out + n, cap - n, ",\"heading\":%.1f", p->heading);
    if (n < cap)
        snprintf(out + n, cap - n, "}");
}

/* The owners' live-map rows, one row each whose batch stored a usable fix newer than what it
 * shows, in one statement. o->latest_t was read with the owner; a concurrent batch of another
 * device of the same owner may have moved it since, so the statement itself keeps the newer
 * fix (t is assigned last: the IFs see the old t). */
static enum err update_latest(struct ingest *const *gs, size_t n)
{
    struct rctx *cx = gs[0]->cx;
    struct db_val *v = rctx_alloc(cx, n * 13 * sizeof *v);
    bool *notify = rctx_zalloc(cx, n * sizeof *notify);
    size_t nv = 0;
    struct db_sqlb sql;
    enum err res;

    db_sqlb_init(cx, &sql, 0,
                 "INSERT INTO positions_latest (owner_type, owner_id, t, lat, lng, accuracy_m,"
                 " speed, heading, region_id, notified_ms, on_duty, item, item_gcj) VALUES ");
    for (size_t i = 0; i < n; i++) {
        const struct ingest *g = gs[i];
        const struct owner *o = &g->o;
        const struct track_point_in *p;
        char *item, *item_gcj;

        if (g->newest == (size_t)-1 || !g->inserted)
            continue;
        p = &g->b->pts[g->newest];
        if (o->latest_t >= p->t)
            continue;
        notify[i] = g->cx->now_ms - o->notified >= NOTIFY_MS;
        item = rctx_alloc(cx, 512);
        item_gcj = rctx_alloc(cx, 512);
        render_item(o, p, false, item, 512);
        render_item(o, p, true, item_gcj, 512);
        db_sqlb_add(&sql, nv ? ",(?,?,?,?,?,?,?,?,?,?,?,?,?)" : "(?,?,?,?,?,?,?,?,?,?,?,?,?)");
        v[nv++] = DBS(o->type);
        v[nv++] = DBI(o->id);
        v[nv++] = DBI(p->t);
        v[nv++] = DBF(p->lat);
        v[nv++] = DBF(p->lng);
        v[nv++] = (p->has & TRACK_HAS_ACCURACY) ? DBF(p->accuracy) : DBNULL;
        v[nv++] = (p->has & TRACK_HAS_SPEED) ? DBF(p->speed) : DBNULL;
        v[nv++] = (p->has & TRACK_HAS_HEADING) ? DBF(p->heading) : DBNULL;
        v[nv++] = o->region_id ? DBI(o->region_id) : DBNULL;
        v[nv++] = DBI(notify[i] ? g->cx->now_ms : o->notified);
        v[nv++] = DBI(o->on_duty ? 1 : 0);
        v[nv++] = DBS(item);
        v[nv++] = DBS(item_gcj);
    }
    if (!nv)
        return ERR_OK;
    db_sqlb_add(&sql, " ON DUPLICATE KEY UPDATE"
                      " lat = IF(VALUES(t) > t, VALUES(lat), lat),"
                      " lng = IF(VALUES(t) > t, VALUES(lng), lng),"
                      " accuracy_m = IF(VALUES(t) > t, VALUES(accuracy_m), accuracy_m),"
                      " speed = IF(VALUES(t) > t, VALUES(speed), speed),"
                      " heading = IF(VALUES(t) > t, VALUES(heading), heading),"
                      " region_id = IF(VALUES(t) > t, VALUES(region_id), region_id),"
                      " notified_ms = IF(VALUES(t) > t, VALUES(notified_ms), notified_ms),"
                      " on_duty = IF(VALUES(t) > t, VALUES(on_duty), on_duty),"
                      " item = IF(VALUES(t) > t, VALUES(item), item),"
                      " item_gcj = IF(VALUES(t) > t, VALUES(item_gcj), item_gcj),"
                      " t = GREATEST(t, VALUES(t))");
    res = db_sqlb_check(&sql);
    if (!res)
        res = db_exec(cx, sql.sql, v, nv, NULL);
    /* The hook of the live map: the WebSocket gateway delivers position.updated events to
     * the leaders who subscribed; the payload names the owner and the fix time only, the
     * position itself is read from positions_latest with the reader's rights. */
    for (size_t i = 0; !res && i < n; i++) {
        char payload[96];
        if (!notify[i])
            continue;
        snprintf(payload, sizeof payload, "{\"owner_type\":\"%s\",\"t\":%lld}", gs[i]->o.type,
                 (long long)gs[i]->b->pts[gs[i]->newest].t);
        res = outbox_add(gs[i]->cx, "position.updated", gs[i]->o.type, gs[i]->o.id, payload, NULL);
    }
    return res;
}

/* What a batch is before any statement: checked, converted to WGS-84, its owner named and its
 * spans known. Errors are the batch's own answer. */
static enum err ingest_prepare(struct ingest *g)
{
    struct rctx *cx = g->cx;
    struct track_batch *b = g->b;
    struct track_point_in *pts = b->pts;
    int64_t too_old = cx->now_ms - (int64_t)gps_cfg.max_age_s * 1000;
    int64_t future = cx->now_ms + (int64_t)gps_cfg.max_future_s * 1000;

    memset(g->out, 0, sizeof *g->out);
    g->out->received = b->n;
    if (b->n == 0)
        return rctx_fail(cx, ERR_INVALID, "points: at least one point");
    if (b->n > TRACK_BATCH_MAX)
        return rctx_fail(cx, ERR_INVALID, "points: at most %d", TRACK_BATCH_MAX);
    g->o.device = b->device && *b->device ? b->device : cx->who.device_id;
    if (!*g->o.device)
        g->o.device = "default";
    if (cx->who.roles & ROLE_MACHINE) {
        if (b->vehicle_id <= 0)
            return rctx_fail(cx, ERR_INVALID, "vehicle_id: required for machine clients");
        g->o.type = "vehicle";
        g->o.id = b->vehicle_id;
    } else {
        if (b->vehicle_id)
            return rctx_fail(cx, ERR_INVALID, "vehicle_id: only vehicle terminals send it");
        g->o.type = "user";
        g->o.id = cx->who.user_id;
    }
    g->person = !strcmp(g->o.type, "user");
    g->top = -1;
    g->tmin = g->plo = INT64_MAX;
    g->tmax = g->phi = INT64_MIN;
    for (size_t i = 0; i < b->n; i++) {
        if (b->gcj02 && isfinite(pts[i].lat) && isfinite(pts[i].lng))
            geo_gcj_to_wgs(pts[i].lat, pts[i].lng, &pts[i].lat, &pts[i].lng);
        if (pts[i].t < g->tmin)
            g->tmin = pts[i].t;
        if (pts[i].t > g->tmax)
            g->tmax = pts[i].t;
        if (pts[i].seq > g->top)
            g->top = pts[i].seq;
        /* The span of every plausible fix time: what is stored there is read with the owner,
         * before duty and duplicates narrow the batch down (ingest_decide). */
        if (pts[i].t >= too_old && pts[i].t <= future) {
            if (pts[i].t < g->plo)
                g->plo = pts[i].t;
            if (pts[i].t > g->phi)
                g->phi = pts[i].t;
        }
    }
    g->flt = rctx_alloc(cx, b->n * sizeof *g->flt);
    g->skip = rctx_alloc(cx, b->n * sizeof *g->skip);
    g->which = rctx_alloc(cx, b->n * sizeof *g->which);
    g->seqs = rctx_alloc(cx, b->n * sizeof *g->seqs);
    return ERR_OK;
}

/* Before each attempt to store the batch: nothing decided. */
static void ingest_reset(struct ingest *g, size_t idx)
{
    struct owner o = {.type = g->o.type, .id = g->o.id, .device = g->o.device};

    g->o = o;
    g->idx = idx;
    memset(g->out, 0, sizeof *g->out);
    g->out->received = g->b->n;
    memset(g->flt, 0, g->b->n * sizeof *g->flt);
    memset(g->skip, 0, g->b->n * sizeof *g->skip);
    g->nseq = g->nwhich = g->inserted = 0;
    g->newest = (size_t)-1;
}

/* The batch against its rows of read_context's answer r: its owner (ERR_NOTFOUND without one),
 * duty (ERR_OFF_DUTY when no point is inside a duty interval), duplicates and filters; sets
 * which points to store. */
static enum err ingest_decide(struct ingest *g, const struct db_res *r)
{
    struct rctx *cx = g->cx;
    struct owner *o = &g->o;
    struct track_batch *b = g->b;
    struct track_point_in *pts = b->pts;
    struct track_ingest_out *out = g->out;
    enum track_filter *flt = g->flt;
    bool *skip = g->skip, found = false, has_before = false;
    struct gps__duty duty = {0};
    struct merged *m, before = {.idx = -1, .ok = true};
    size_t nm = 0, *rows = rctx_alloc(cx, (r->nrows + 1) * sizeof *rows), nrows = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    int64_t too_old = cx->now_ms - (int64_t)gps_cfg.max_age_s * 1000;
    int64_t future = cx->now_ms + (int64_t)gps_cfg.max_future_s * 1000;
    double vmax = gps_cfg.max_speed_kmh / 3.6;
    enum err res;

    for (size_t k = 0; k < r->nrows; k++)
        if (db_cell_i64(r, k, 12) == (int64_t)g->idx)
            rows[nrows++] = k;
    for (size_t j = 0; j < nrows; j++) {
        size_t k = rows[j];
        if (db_cell_i64(r, k, 0) != 0)
            continue;
        found = true;
        o->region_id = db_cell_i64(r, k, 1);
        o->on_duty = db_cell_i64(r, k, 2) == 1;
        o->since = db_cell_i64(r, k, 3);
        o->name = db_cell(r, k, 4);
        o->latest_t = db_cell_i64(r, k, 5);
        o->notified = db_cell_i64(r, k, 6);
    }
    if (!found)
        return rctx_fail(cx, ERR_NOTFOUND, "%s",
                         g->person ? "no such user" : "no such vehicle for this key");
    /* PIPL: a person's points are kept only inside a check-in..check-out interval. */
    if (g->person && !(o->on_duty && g->tmin >= o->since)) {
        res = gps__duty_load(cx, o->id, g->tmin, g->tmax, &duty);
        if (res)
            return res;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (g->person && !(o->on_duty && pts[i].t >= o->since) && !gps__duty_at(&duty, pts[i].t)) {
            skip[i] = true;
            out->off_duty++;
        }
    }
    if (out->off_duty == b->n)
        return rctx_fail(cx, ERR_OFF_DUTY,
                         "not on duty at the time of these points: check in first (points"
                         " outside a check-in..check-out interval are not recorded)");
    for (size_t i = 0; i < b->n; i++) {
        if (skip[i])
            continue;
        for (size_t k = 0; k < i; k++)
            if (!skip[k] && pts[k].seq == pts[i].seq) {
                skip[i] = true;
                out->duplicate++;
                break;
            }
    }
    /* Seqs stored before (kind 3). */
    for (size_t j = 0; j < nrows; j++)
        if (db_cell_i64(r, rows[j], 0) == 3)
            for (size_t i = 0; i < b->n; i++)
                if (!skip[i] && pts[i].seq == db_cell_i64(r, rows[j], 7)) {
                    skip[i] = true;
                    out->duplicate++;
                }
    /* The stored points among the remaining fix times (earlier sends: duplicates, and
     * interleaved fixes of an out-of-order send) and the last usable fix within NEIGHBOUR_MS
     * before them (what the speed and duplicate-time filters compare the first new fix with).
     * They were read over the wider span of every plausible fix time: what lies outside
     * [lo, hi] does not count, except that last usable fix. A phone sending in order has
     * nothing stored in its batch's span, so this is one row. */
    for (size_t i = 0; i < b->n; i++)
        if (!skip[i] && pts[i].t >= too_old && pts[i].t <= future) {
            if (pts[i].t < lo)
                lo = pts[i].t;
            if (pts[i].t > hi)
                hi = pts[i].t;
        }
    m = rctx_alloc(cx, (b->n + nrows + 1) * sizeof *m);
    /* Candidates for the last usable fix before lo: the one before the span read (kind 2) and
     * the span's own points before lo (kind 1); the span's points outside [lo, hi] do not
     * count otherwise. */
    for (size_t j = 0; lo <= hi && j < nrows; j++) {
        size_t k = rows[j];
        int64_t kind = db_cell_i64(r, k, 0), t = db_cell_i64(r, k, 8);
        struct merged e = {.t = t,
                           .seq = db_cell_i64(r, k, 7),
                           .lat = db_cell_f64(r, k, 9),
                           .lng = db_cell_f64(r, k, 10),
                           .idx = -1,
                           .ok = db_cell_i64(r, k, 11) == 1};
        if (kind != 1 && kind != 2)
            continue;
        if (kind == 1 && t >= lo && t <= hi) {
            m[nm++] = e;
        } else if (e.ok && t < lo && t >= lo - NEIGHBOUR_MS &&
                   (!has_before || t > before.t || (t == before.t && e.seq > before.seq))) {
            before = e;
            has_before = true;
        }
    }
    if (lo <= hi && has_before)
        m[nm++] = before;
    for (size_t i = 0; i < b->n; i++) {
        const struct track_point_in *p = &pts[i];
        if (skip[i])
            continue;
        if (!geo_valid(p->lat, p->lng))
            flt[i] = TRACK_INVALID;
        else if (p->t > future)
            flt[i] = TRACK_FUTURE;
        else if (p->t < too_old)
            flt[i] = TRACK_TOO_OLD;
        else if ((p->has & TRACK_HAS_ACCURACY) &&
                 (!isfinite(p->accuracy) || p->accuracy > gps_cfg.max_accuracy_m))
            flt[i] = TRACK_ACCURACY;
        if (flt[i] == TRACK_OK)
            m[nm++] = (struct merged){
                .t = p->t, .seq = p->seq, .lat = p->lat, .lng = p->lng, .idx = (long)i};
    }
    qsort(m, nm, sizeof *m, merged_cmp);
    {
        const struct merged *last = NULL;
        for (size_t k = 0; k < nm; k++) {
            struct merged *e = &m[k];
            if (e->idx < 0) {
                if (e->ok)
                    last = e;
                continue;
            }
            if (last && last->t == e->t) {
                flt[e->idx] = TRACK_DUP_TIME;
            } else if (last && geo_dist_m(last->lat, last->lng, e->lat, e->lng) >
                                   vmax * (double)(e->t - last->t) / 1000.0) {
                flt[e->idx] = TRACK_SPEED;
            } else {
                e->ok = true;
                last = e;
            }
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        if (skip[i])
            continue;
        g->which[g->nwhich++] = i;
        if (flt[i] == TRACK_OK && (g->newest == (size_t)-1 || pts[i].t > pts[g->newest].t))
            g->newest = i;
    }
    return ERR_OK;
}

/* The batch's answer once `inserted` of its points to store went in. Under the device's lock
 * nothing else stores its points; a row INSERT IGNORE dropped all the same would be a
 * duplicate. */
static void ingest_count(struct ingest *g, size_t inserted)
{
    struct track_ingest_out *out = g->out;

    g->inserted = inserted;
    for (size_t k = 0; k < g->nwhich; k++)
        out->by_filter[g->flt[g->which[k]]]++;
    for (size_t f = 1; f < TRACK_NFILTERS; f++)
        out->filtered += out->by_filter[f];
    if (inserted < g->nwhich) {
        out->duplicate += g->nwhich - inserted;
        out->filtered = out->filtered < inserted ? out->filtered : inserted;
    }
    out->fresh = inserted - out->filtered;
}

/* Store a group of batches of different owners in one transaction (gs ordered by owner, the
 * devices' lock order), on the connection of gs[0]: START, the devices' lock, one read, the
 * duty intervals of people not simply checked in, the points, the live-map rows, COMMIT — the
 * same statements for one batch as for many. ERR_OK when every batch was stored; otherwise
 * none was: the error of the first batch that failed (its answer when it is alone) or the
 * database's. */
static enum err ingest_group(struct ingest *const *gs, size_t n)
{
    struct rctx *cx = gs[0]->cx;
    struct db_res r;
    size_t inserted = 0, want = 0;
    enum err res;

    for (size_t i = 0; i < n; i++)
        ingest_reset(gs[i], i);
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = lock_devices(gs, n);
    for (size_t i = 0; !res && i < n; i++) {
        struct ingest *g = gs[i];
        for (size_t k = 0; k < g->b->n; k++)
            if (g->b->pts[k].seq <= g->o.prev_seq)
                g->seqs[g->nseq++] = g->b->pts[k].seq;
    }
    if (!res)
        res = read_context(gs, n, &r);
    for (size_t i = 0; !res && i < n; i++)
        res = ingest_decide(gs[i], &r);
    if (!res)
        res = insert_points(gs, n, &inserted);
    for (size_t i = 0; !res && i < n; i++)
        want += gs[i]->nwhich;
    if (!res && n == 1) {
        ingest_count(gs[0], inserted);
    } else if (!res) {
        /* Rows dropped in a group cannot be told apart by batch: the batches go alone. */
        if (inserted != want)
            res =
                rctx_fail(cx, ERR_CONFLICT, "a group stored %zu of its %zu points", inserted, want);
        for (size_t i = 0; !res && i < n; i++)
            ingest_count(gs[i], gs[i]->nwhich);
    }
    if (!res)
        res = update_latest(gs, n);
    return db_tx_end(cx, res);
}

static int ingest_cmp(const void *a, const void *b)
{
    const struct ingest *x = *(const struct ingest *const *)a,
                        *y = *(const struct ingest *const *)b;
    int c = strcmp(x->o.type, y->o.type);

    if (c)
        return c;
    return x->o.id < y->o.id ? -1 : x->o.id > y->o.id;
}

/* Store items (batches of one or several workers' requests) on lead's connection: groups of one
 * batch per owner (two batches of one device, or of one person's devices, go in different
 * groups, one after the other), cut where the read would bind too much; each item's answer in
 * its res. */
static void store_items(struct rctx *lead, struct ingest **items, size_t n)
{
    struct ingest **grp = rctx_alloc(lead, n * sizeof *grp);
    bool *taken = rctx_zalloc(lead, n * sizeof *taken);

    for (;;) {
        size_t k = 0, args = 0;
        enum err gres;

        for (size_t i = 0; i < n; i++) {
            const struct ingest *g = items[i];
            bool same = false;
            if (taken[i])
                continue;
            for (size_t t = 0; t < k && !same; t++)
                same = grp[t]->o.id == g->o.id && !strcmp(grp[t]->o.type, g->o.type);
            if (same || (k && args + READ_ARGS(g->b->n) > GROUP_ARGS_MAX))
                continue;
            args += READ_ARGS(g->b->n);
            grp[k++] = items[i];
            taken[i] = true;
        }
        if (k == 0)
            break;
        qsort(grp, k, sizeof *grp, ingest_cmp);
        gres = ingest_group(grp, k);
        if (gres != ERR_OK && k > 1) {
            /* One batch refused, a deadlock or another database error: nothing of the group
             * was stored; each batch goes alone and gets its own answer. */
            log_info(grp[0]->cx, "track group of %zu batches failed (%s): stored one by one", k,
                     err_code(gres));
            for (size_t t = 0; t < k; t++) {
                memset(&grp[t]->cx->err, 0, sizeof grp[t]->cx->err);
                grp[t]->res = ingest_group(&grp[t], 1);
            }
        } else {
            for (size_t t = 0; t < k; t++)
                grp[t]->res = gres;
        }
    }
}

/* Group commit across workers. The batches of a request (or of the requests a worker took at
 * once, ROUTE_BATCH) wait here; at most GC_RUNNING workers store at a time, each taking its own
 * batches and every batch queued behind them (up to GC_TAKE_MAX) into its groups on its own
 * connection, while the workers of the batches taken wait for their answers. So the groups grow
 * with the load — batches queue while a group commits — and a batch that finds nobody storing
 * is stored at once. A waiting worker holds no database lock and has no transaction open. */
#define GC_RUNNING 2
#define GC_TAKE_MAX 64

struct gc_waiter {
    struct ingest **items;
    size_t n;
    bool taken, done;
    pthread_cond_t cv; /* its worker waits on it */
    struct gc_waiter *next;
};

static pthread_mutex_t gc_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gc_waiter *gc_queue; /* under gc_mu */
static int gc_running;             /* under gc_mu */

/* Under gc_mu (released while storing): store own and the batches queued behind it. The other
 * waiters' batches run on lead's connection: their contexts lend it for the time (their
 * workers are blocked in gc_wait and touch nothing of theirs until done). */
static void gc_lead(struct rctx *lead, struct gc_waiter *own)
{
    struct gc_waiter *taken = own, *last = own, **p = &gc_queue;
    struct ingest **items;
    struct db_conn **dbs;
    size_t n = own->n, k = 0;

    while (*p != own)
        p = &(*p)->next;
    *p = own->next;
    own->taken = true;
    own->next = NULL;
    while (gc_queue && n + gc_queue->n <= GC_TAKE_MAX) {
        struct gc_waiter *w = gc_queue;
        gc_queue = w->next;
        w->taken = true;
        w->next = NULL;
        last->next = w;
        last = w;
        n += w->n;
    }
    gc_running++;
    pthread_mutex_unlock(&gc_mu);
    items = rctx_alloc(lead, n * sizeof *items);
    dbs = rctx_alloc(lead, n * sizeof *dbs);
    for (struct gc_waiter *w = taken; w; w = w->next)
        for (size_t t = 0; t < w->n; t++, k++) {
            items[k] = w->items[t];
            dbs[k] = items[k]->cx->db;
            items[k]->cx->db = lead->db;
        }
    store_items(lead, items, n);
    for (k = 0; k < n; k++)
        items[k]->cx->db = dbs[k];
    pthread_mutex_lock(&gc_mu);
    gc_running--;
    for (struct gc_waiter *w = taken, *next; w; w = next) {
        next = w->next;
        w->done = true; /* its worker reads it only after gc_mu is released */
        pthread_cond_signal(&w->cv);
    }
    /* The first waiter queued meanwhile stores next (it takes all queued behind it). */
    if (gc_queue)
        pthread_cond_signal(&gc_queue->cv);
}

/* Queue the waiter and return once its batches are stored (by this worker or another). */
static void gc_wait(struct rctx *lead, struct gc_waiter *w)
{
    struct gc_waiter **p = &gc_queue;

    pthread_cond_init(&w->cv, NULL);
    pthread_mutex_lock(&gc_mu);
    while (*p)
        p = &(*p)->next;
    *p = w;
    while (!w->done) {
        if (!w->taken && gc_running < GC_RUNNING)
            gc_lead(lead, w);
        else
            pthread_cond_wait(&w->cv, &gc_mu);
    }
    pthread_mutex_unlock(&gc_mu);
    pthread_cond_destroy(&w->cv);
}

void track_ingest_many(struct rctx *const *cxs, struct track_batch *const *bs,
                       struct track_ingest_out *outs, enum err *res, size_t n)
{
    struct ingest *gs = rctx_zalloc(cxs[0], n * sizeof *gs);
    /* In the request's pool, not on the stack: queued where other workers see it. */
    struct gc_waiter *w = rctx_zalloc(cxs[0], sizeof *w);

    w->items = rctx_alloc(cxs[0], n * sizeof *w->items);
    for (size_t i = 0; i < n; i++) {
        gs[i].cx = cxs[i];
        gs[i].b = bs[i];
        gs[i].out = &outs[i];
        res[i] = ingest_prepare(&gs[i]);
        if (res[i] == ERR_OK)
            w->items[w->n++] = &gs[i];
    }
    if (w->n)
        gc_wait(cxs[0], w);
    for (size_t i = 0; i < n; i++)
        if (res[i] == ERR_OK)
            res[i] = gs[i].res;
}

enum err track_ingest(struct rctx *cx, struct track_batch *b, struct track_ingest_out *out)
{
    enum err res;

    track_ingest_many(&cx, &b, out, &res, 1);
    return res;
}

/* ---- live map ------------------------------------------------------------------------------- */

/* Recent live-map answers, per caller and box (see track.h). */
#define LATEST_SLOTS 16
static struct latest_slot {
    char key[160];
    int64_t at;
    char *json; /* malloc'd */
    size_t len, n;
    bool more;
} latest_cache[LATEST_SLOTS];
static pthread_mutex_t latest_mu = PTHREAD_MUTEX_INITIALIZER;

static bool latest_cached(struct rctx *cx, const char *key, const char **json, size_t *len,
                          size_t *n, bool *more)
{
    bool hit = false;

    pthread_mutex_lock(&latest_mu);
    for (size_t i = 0; i < LATEST_SLOTS && !hit; i++) {
        struct latest_slot *s = &latest_cache[i];
        if (s->json && strcmp(s->key, key) == 0 && cx->now_ms >= s->at &&
            cx->now_ms - s->at < gps_cfg.latest_cache_ms) {
            char *copy = rctx_alloc(cx, s->len + 1);
            memcpy(copy, s->json, s->len + 1);
            *json = copy;
            *len = s->len;
            *n = s->n;
            *more = s->more;
            hit = true;
        }
    }
    pthread_mutex_unlock(&latest_mu);
    return hit;
}

static void latest_store(struct rctx *cx, const char *key, const char *json, size_t len, size_t n,
                         bool more)
{
    struct latest_slot *s = &latest_cache[0];
    char *copy = malloc(len + 1);

    if (!copy)
        return;
    memcpy(copy, json, len + 1);
    pthread_mutex_lock(&latest_mu);
    for (size_t i = 0; i < LATEST_SLOTS; i++) {
        if (strcmp(latest_cache[i].key, key) == 0 || !latest_cache[i].json) {
            s = &latest_cache[i];
            break;
        }
        if (latest_cache[i].at < s->at)
            s = &latest_cache[i];
    }
    free(s->json);
    snprintf(s->key, sizeof s->key, "%s", key);
    s->at = cx->now_ms;
    s->json = copy;
    s->len = len;
    s->n = n;
    s->more = more;
    pthread_mutex_unlock(&latest_mu);
}

void track_cache_free(void)
{
    pthread_mutex_lock(&latest_mu);
    for (size_t i = 0; i < LATEST_SLOTS; i++) {
        free(latest_cache[i].json);
        latest_cache[i].json = NULL;
        latest_cache[i].key[0] = '\0';
    }
    pthread_mutex_unlock(&latest_mu);
}

enum err track_latest_items(struct rctx *cx, double min_lat, double min_lng, double max_lat,
                            double max_lng, bool gcj, const char **json, size_t *len, size_t *n,
                            bool *more)
{
    char key[160];
    struct db_res r;
    bool all = (cx->who.roles & ROLE_ADMIN) != 0;
    size_t total = 2, k = 0;
    char *out;
    enum err res;

    if (!(min_lat <= max_lat && min_lng <= max_lng))
        return rctx_fail(cx, ERR_INVALID, "bbox: min must not exceed max");
    snprintf(key, sizeof key, "%lld/%u/%d/%.7f,%.7f,%.7f,%.7f", (long long)cx->who.user_id,
             (unsigned)cx->who.roles, gcj ? 1 : 0, min_lat, min_lng, max_lat, max_lng);
    if (gps_cfg.latest_cache_ms > 0 && latest_cached(cx, key, json, len, n, more))
        return ERR_OK;
    res = db_exec(cx,
                  gcj ? "SELECT p.item_gcj FROM positions_latest p WHERE p.on_duty = 1 AND"
                        " p.lat BETWEEN ? AND ? AND p.lng BETWEEN ? AND ? AND"
                        " (p.owner_type = 'user' OR p.t >= ?) AND"
                        " (? OR p.region_id IN (" GPS__SUBTREE_SQL "))"
                        " ORDER BY p.owner_type, p.owner_id LIMIT ?"
                      : "SELECT p.item FROM positions_latest p WHERE p.on_duty = 1 AND"
                        " p.lat BETWEEN ? AND ? AND p.lng BETWEEN ? AND ? AND"
                        " (p.owner_type = 'user' OR p.t >= ?) AND"
                        " (? OR p.region_id IN (" GPS__SUBTREE_SQL "))"
                        " ORDER BY p.owner_type, p.owner_id LIMIT ?",
                  DB_ARGS(DBF(min_lat), DBF(max_lat), DBF(min_lng), DBF(max_lng),
                          DBI(cx->now_ms - (int64_t)gps_cfg.vehicle_active_s * 1000),
                          DBI(all ? 1 : 0), DBI(cx->who.user_id), DBI(TRACK_LATEST_MAX + 1)),
                  &r);
    if (res)
        return res;
    *more = r.nrows > TRACK_LATEST_MAX;
    *n = *more ? TRACK_LATEST_MAX : r.nrows;
    for (size_t i = 0; i < *n; i++)
        total += db_cell_len(&r, i, 0) + 1;
    out = rctx_alloc(cx, total + 1);
    out[k++] = '[';
    for (size_t i = 0; i < *n; i++) {
        size_t l = db_cell_len(&r, i, 0);
        if (i)
            out[k++] = ',';
        memcpy(out + k, db_cell(&r, i, 0), l);
        k += l;
    }
    out[k++] = ']';
    out[k] = '\0';
    *json = out;
    *len = k;
    if (gps_cfg.latest_cache_ms > 0)
        latest_store(cx, key, out, k, *n, *more);
    return ERR_OK;
}

enum err track_latest_duty(struct rctx *cx, int64_t user_id, bool on_duty)
{
    return db_exec(cx,
                   "UPDATE positions_latest SET on_duty = ? WHERE owner_type = 'user' AND"
                   " owner_id = ?",
                   DB_ARGS(DBI(on_duty ? 1 : 0), DBI(user_id)), NULL);
}

/* ---- replay --------------------------------------------------------------------------------- */

static void local_date(int64_t t, int64_t off, char out[11])
{
    time_t s = (time_t)((t + off) / 1000);
    struct tm tm;

    char buf[32];

    gmtime_r(&s, &tm);
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    memcpy(out, buf, 10);
    out[10] = '\0';
}

static int64_t day_of(int64_t t, int64_t off)
{
    int64_t x = t + off;
    return (x >= 0 ? x : x - GPS__DAY_MS + 1) / GPS__DAY_MS;
}

/* The track position at time t: interpolated between the fixes around it when both are
 * within GAP_MS, else the nearest fix within GAP_MS. */
static bool position_at(const struct track_pt *p, size_t n, int64_t t, double *lat, double *lng,
                        double *acc)
{
    size_t lo = 0, hi = n;

    if (n == 0)
        return false;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p[mid].t < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* p[lo] is the first fix at or after t. */
    if (lo < n && lo > 0 && p[lo].t - t <= GAP_MS && t - p[lo - 1].t <= GAP_MS &&
        p[lo].t > p[lo - 1].t) {
        double f = (double)(t - p[lo - 1].t) / (double)(p[lo].t - p[lo - 1].t);
        *lat = p[lo - 1].lat + f * (p[lo].lat - p[lo - 1].lat);
        *lng = p[lo - 1].lng + f * (p[lo].lng - p[lo - 1].lng);
        *acc = p[lo].accuracy > p[lo - 1].accuracy ? p[lo].accuracy : p[lo - 1].accuracy;
        return true;
    }
    if (lo < n && p[lo].t - t <= GAP_MS && (lo == 0 || p[lo].t - t <= t - p[lo - 1].t)) {
        *lat = p[lo].lat;
        *lng = p[lo].lng;
        *acc = p[lo].accuracy;
        return true;
    }
    if (lo > 0 && t - p[lo - 1].t <= GAP_MS) {
        *lat = p[lo - 1].lat;
        *lng = p[lo - 1].lng;
        *acc = p[lo - 1].accuracy;
        return true;
    }
    return false;
}

static enum err load_points(struct rctx *cx, int64_t user_id, int64_t from, int64_t to,
                            size_t limit, struct track_pt **pts, size_t *n, bool *more)
{
    struct db_res r;
    struct track_pt *v;
    enum err res = db_exec(cx,
                           "SELECT p.t, p.lat, p.lng, COALESCE(p.accuracy_m, 0), p.speed FROM"
                           " track_devices d JOIN track_points p ON p.dev_id = d.id WHERE"
                           " d.owner_type = 'user' AND d.owner_id = ? AND p.t BETWEEN ? AND ?"
                           " AND p.filtered = 'ok' ORDER BY p.t, p.seq LIMIT ?",
                           DB_ARGS(DBI(user_id), DBI(from), DBI(to), DBI(limit + 1)), &r);
    if (res)
        return res;
    *more = r.nrows > limit;
    *n = *more ? limit : r.nrows;
    v = rctx_alloc(cx, (*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) {
        v[i].t = db_cell_i64(&r, i, 0);
        v[i].lat = db_cell_f64(&r, i, 1);
        v[i].lng = db_cell_f64(&r, i, 2);
        v[i].accuracy = db_cell_f64(&r, i, 3);
        v[i].speed = db_cell_null(&r, i, 4) ? -1 : db_cell_f64(&r, i, 4);
    }
    *pts = v;
    return ERR_OK;
}

enum err track_read(struct rctx *cx, int64_t user_id, int64_t from, int64_t to, double simplify_m,
                    struct track_view *out)
{
    struct track_pt *raw;
    struct gps__duty duty;
    struct gps__rings rings;
    struct db_res r;
    int64_t off, d0, d1;
    double(*xy)[2];
    bool *keep;
    size_t *scratch, nraw, k;
    char detail[96];
    enum err res;

    memset(out, 0, sizeof *out);
    if (to <= from)
        return rctx_fail(cx, ERR_INVALID, "to: must be after from");
    if (to - from > (int64_t)TRACK_PERIOD_MAX_DAYS * GPS__DAY_MS)
        return rctx_fail(cx, ERR_INVALID, "from/to: at most %d days apart", TRACK_PERIOD_MAX_DAYS);
    if (!(simplify_m >= 0 && simplify_m <= 10000))
        return rctx_fail(cx, ERR_INVALID, "simplify: 0 to 10000 metres");
    res = track_may_see_user(cx, user_id);
    if (res) {
        audit_write_quiet(cx, "track.read", "user", user_id, AUDIT_DENIED, NULL);
        return res;
    }
    res = refdata_utc_offset(cx, &off);
    if (!res)
        res = load_points(cx, user_id, from, to, TRACK_READ_MAX, &raw, &nraw, &out->truncated);
    if (!res)
        res = gps__duty_load(cx, user_id, from, to, &duty);
    if (!res)
        res = gps__user_rings(cx, user_id, &rings);
    if (!res)
        res = db_exec(cx,
                      "SELECT s.id, s.case_id, s.action, FLOOR(UNIX_TIMESTAMP(s.created_at) * 1000)"
                      " FROM case_steps s WHERE s.actor_id = ? AND s.created_at BETWEEN"
                      " FROM_UNIXTIME(? / 1000) AND FROM_UNIXTIME(? / 1000)"
                      " ORDER BY s.created_at, s.id LIMIT 1000",
                      DB_ARGS(DBI(user_id), DBI(from), DBI(to)), &r);
    if (res)
        return res;
    out->user_id = user_id;
    out->nraw = nraw;

    /* Simplified line. */
    xy = rctx_alloc(cx, (nraw + 1) * sizeof *xy);
    keep = rctx_alloc(cx, (nraw + 1) * sizeof *keep);
    scratch = rctx_alloc(cx, (2 * nraw + 2) * sizeof *scratch);
    for (size_t i = 0; i < nraw; i++) {
        xy[i][0] = raw[i].lat;
        xy[i][1] = raw[i].lng;
    }
    geo_simplify((const double(*)[2])xy, nraw, simplify_m, keep, scratch);
    out->pts = rctx_alloc(cx, (nraw + 1) * sizeof *out->pts);
    for (size_t i = 0; i < nraw; i++)
        if (keep[i])
            out->pts[out->npts++] = raw[i];

    /* Days of the period. */
    d0 = day_of(from, off);
    d1 = day_of(to, off);
    out->ndays = (size_t)(d1 - d0 + 1);
    out->days = rctx_zalloc(cx, out->ndays * sizeof *out->days);
    for (size_t i = 0; i < out->ndays; i++)
        local_date(((d0 + (int64_t)i) * GPS__DAY_MS) - off, off, out->days[i].date);
    for (size_t i = 0; i < duty.n; i++) {
        int64_t a = duty.on[i] > from ? duty.on[i] : from;
        int64_t b = duty.off[i] < to ? duty.off[i] : to;
        while (a < b) {
            int64_t day = day_of(a, off), end = (day + 1) * GPS__DAY_MS - off;
            int64_t stop = end < b ? end : b;
            out->days[day - d0].on_duty_ms += stop - a;
            a = stop;
        }
    }
    for (size_t i = 0; i + 1 < nraw; i++) {
        int64_t dt = raw[i + 1].t - raw[i].t;
        struct track_day *day = &out->days[day_of(raw[i].t, off) - d0];
        day->distance_m += geo_dist_m(raw[i].lat, raw[i].lng, raw[i + 1].lat, raw[i + 1].lng);
        if (dt <= GAP_MS && gps__duty_at(&duty, raw[i].t) &&
            gps__rings_find(&rings, raw[i].lat, raw[i].lng, 0, NULL) >= 0)
            day->inside_ms += dt;
    }

    /* Stops: fixes that stay within STOP_RADIUS_M of the first for longer than stop_min. */
    out->stops = rctx_alloc(cx, (nraw / 2 + 1) * sizeof *out->stops);
    for (size_t i = 0; i < nraw; i = k) {
        double slat = 0, slng = 0;
        for (k = i + 1; k < nraw && raw[k].t - raw[k - 1].t <= GAP_MS &&
                        geo_dist_m(raw[i].lat, raw[i].lng, raw[k].lat, raw[k].lng) <= STOP_RADIUS_M;
             k++)
            ;
        if (raw[k - 1].t - raw[i].t >= (int64_t)gps_cfg.stop_min * 60000 && k - i >= 2) {
            struct track_stop *s = &out->stops[out->nstops++];
            for (size_t j = i; j < k; j++) {
                slat += raw[j].lat;
                slng += raw[j].lng;
            }
            s->from = raw[i].t;
            s->to = raw[k - 1].t;
            s->lat = slat / (double)(k - i);
            s->lng = slng / (double)(k - i);
            out->days[day_of(s->from, off) - d0].stops++;
        }
    }

    /* Case actions placed on the track. */
    out->nactions = r.nrows;
    out->actions = rctx_zalloc(cx, (r.nrows + 1) * sizeof *out->actions);
    for (size_t i = 0; i < r.nrows; i++) {
        struct track_action *a = &out->actions[i];
        double acc;
        a->step_id = db_cell_i64(&r, i, 0);
        a->case_id = db_cell_i64(&r, i, 1);
        a->action = db_cell(&r, i, 2);
        a->at = db_cell_i64(&r, i, 3);
        a->placed = position_at(raw, nraw, a->at, &a->lat, &a->lng, &acc);
    }
    snprintf(detail, sizeof detail, "from=%lld to=%lld points=%zu", (long long)from, (long long)to,
             nraw);
    return audit_write(cx, "track.read", "user", user_id, AUDIT_OK, detail);
}

/* ---- evidence ------------------------------------------------------------------------------- */

enum err track_evidence_check(struct rctx *cx, int64_t case_id, struct track_evidence *out)
{
    struct db_res r;
    struct track_pt *pts;
    size_t n;
    bool more, reach = true;
    int64_t off, reporter;
    double plat, plng, tlat, tlng, acc;
    struct tm tm = {0};
    const char *taken;
    enum err res;

    memset(out, 0, sizeof *out);
    out->status = "unknown";
    res = db_exec(cx,
                  "SELECT c.reporter_id, m.taken_at, m.gps_lat, m.gps_lng, c.region_id FROM cases c"
                  " LEFT JOIN media_attachments a ON a.owner_type = 'case' AND a.owner_id = c.id"
                  " AND a.purpose = 'report' LEFT JOIN media m ON m.id = a.media_id AND"
                  " m.taken_at IS NOT NULL AND m.gps_lat IS NOT NULL AND m.gps_lng IS NOT NULL"
                  " WHERE c.id = ? ORDER BY m.id IS NULL, a.position LIMIT 1",
                  DB_ARGS(DBI(case_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such case");
    if (!(cx->who.roles & (ROLE_ADMIN | ROLE_OPERATOR | ROLE_SHIFT_LEAD | ROLE_DISPATCHER)) &&
        (cx->who.roles & ROLE_LEADER)) {
        struct db_res q;
        res = db_exec(cx, "SELECT 1 FROM DUAL WHERE ? IN (" GPS__SUBTREE_SQL ")",
                      DB_ARGS(DBI(db_cell_i64(&r, 0, 4)), DBI(cx->who.user_id)), &q);
        if (res)
            return res;
        reach = q.nrows > 0;
    }
    if (!reach)
        return rctx_fail(cx, ERR_NOTFOUND, "no such case");
    reporter = db_cell_i64(&r, 0, 0);
    taken = db_cell(&r, 0, 1);
    if (!taken || sscanf(taken, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                         &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
        out->reason = "no_photo_metadata";
        return ERR_OK;
    }
    plat = db_cell_f64(&r, 0, 2);
    plng = db_cell_f64(&r, 0, 3);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    res = refdata_utc_offset(cx, &off);
    if (res)
        return res;
    out->taken_at = (int64_t)timegm(&tm) * 1000 - off;
    if (!reporter) {
        out->reason = "no_track";
        return ERR_OK;
    }
    res = load_points(cx, reporter, out->taken_at - GAP_MS, out->taken_at + GAP_MS, 2000, &pts, &n,
                      &more);
    if (res)
        return res;
    if (!position_at(pts, n, out->taken_at, &tlat, &tlng, &acc)) {
        out->reason = "no_track";
        return ERR_OK;
    }
    out->distance_m = geo_dist_m(plat, plng, tlat, tlng);
    out->allowed_m = acc + PHOTO_GPS_ERR_M;
    out->status = out->distance_m <= out->allowed_m ? "consistent" : "inconsistent";
    return ERR_OK;
}

/* ---- vehicles ------------------------------------------------------------------------------- */

enum err vehicle_create(struct rctx *cx, const struct vehicle_new *in, int64_t *id)
{
    struct db_res r;
    size_t pl = in->plate ? strlen(in->plate) : 0, nl = in->name ? strlen(in->name) : 0;
    enum err res;

    if (pl < 1 || pl > 16)
        return rctx_fail(cx, ERR_INVALID, "plate: 1 to 16 bytes");
    if (nl < 1 || nl > 64)
        return rctx_fail(cx, ERR_INVALID, "name: 1 to 64 bytes");
    res = db_tx_begin(cx);
    if (res)
        return res;
    if (in->user_id) {
        res = db_exec(cx, "SELECT roles FROM users WHERE id = ? AND disabled = 0",
                      DB_ARGS(DBI(in->user_id)), &r);
        if (!res && (r.nrows == 0 || (uint32_t)db_cell_i64(&r, 0, 0) != ROLE_MACHINE))
            res = rctx_fail(cx, ERR_INVALID, "user_id: not an enabled machine account");
    }
    if (!res && in->region_id) {
        res = db_exec(cx, "SELECT 1 FROM regions WHERE id = ?", DB_ARGS(DBI(in->region_id)), &r);
        if (!res && r.nrows == 0)
            res = rctx_fail(cx, ERR_INVALID, "region_id: no such region");
    }
    if (!res && in->department_id) {
        res = db_exec(cx, "SELECT 1 FROM departments WHERE id = ?", DB_ARGS(DBI(in->department_id)),
                      &r);
        if (!res && r.nrows == 0)
            res = rctx_fail(cx, ERR_INVALID, "department_id: no such department");
    }
    if (!res) {
        res = db_exec(cx,
                      "INSERT INTO vehicles (plate, name, region_id, department_id, user_id,"
                      " created_at) VALUES (?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                      DB_ARGS(DBS(in->plate), DBS(in->name),
                              in->region_id ? DBI(in->region_id) : DBNULL,
                              in->department_id ? DBI(in->department_id) : DBNULL,
                              in->user_id ? DBI(in->user_id) : DBNULL, DBI(cx->now_ms)),
                      &r);
        if (res == ERR_CONFLICT)
            rctx_fail(cx, ERR_CONFLICT, "plate: already registered");
    }
    if (!res) {
        *id = (int64_t)r.insert_id;
        res = audit_write(cx, "vehicle.create", "vehicle", *id, AUDIT_OK, NULL);
    }
    return db_tx_end(cx, res);
}

enum err vehicle_list(struct rctx *cx, struct vehicle_rec **rows, size_t *n)
{
    struct db_res r;
    struct vehicle_rec *v;
    enum err res = db_exec(cx,
                           "SELECT id, plate, name, region_id, department_id, user_id, active,"
                           " DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ') FROM vehicles"
                           " ORDER BY id LIMIT 10000",
                           DB_NOARGS, &r);
    if (res)
        return res;
    v = rctx_zalloc(cx, (r.nrows + 1) * sizeof *v);
    for (size_t i = 0; i < r.nrows; i++) {
        v[i].id = db_cell_i64(&r, i, 0);
        v[i].plate = db_cell(&r, i, 1);
        v[i].name = db_cell(&r, i, 2);
        v[i].region_id = db_cell_i64(&r, i, 3);
        v[i].department_id = db_cell_i64(&r, i, 4);
        v[i].user_id = db_cell_i64(&r, i, 5);
        v[i].active = db_cell_i64(&r, i, 6) == 1;
        v[i].created_at = db_cell(&r, i, 7);
    }
    *rows = v;
    *n = r.nrows;
    return ERR_OK;
}

/* ---- retention ------------------------------------------------------------------------------ */

static void part_name(int64_t bound, char out[16])
{
    char d[11];
    local_date(bound - GPS__DAY_MS, 0, d);
    snprintf(out, 16, "p%.4s%.2s%.2s", d, d + 5, d + 8);
}

enum err track_retention_job(struct rctx *cx)
{
    struct db_res r;
    int64_t today = day_of(cx->now_ms, 0) * GPS__DAY_MS,
            want = today + (PARTITION_AHEAD_DAYS + 1) * GPS__DAY_MS;
    int64_t cutoff = cx->now_ms - (int64_t)gps_cfg.retention_days * GPS__DAY_MS, last = 0;
    size_t ndrop = 0;
    struct db_sqlb drop;
    enum err res = db_exec(cx,
                           "SELECT partition_name, partition_description FROM"
                           " information_schema.partitions WHERE table_schema = DATABASE() AND"
                           " table_name = 'track_points' ORDER BY partition_ordinal_position",
                           DB_NOARGS, &r);

    if (res)
        return res;
    db_sqlb_init(cx, &drop, 0, "ALTER TABLE track_points DROP PARTITION ");
    for (size_t i = 0; i < r.nrows; i++) {
        const char *name = db_cell(&r, i, 0), *desc = db_cell(&r, i, 1);
        if (!name || !desc || strcmp(name, "pmax") == 0 || strcmp(name, "p_old") == 0)
            continue;
        last = strtoll(desc, NULL, 10);
        if (last <= cutoff) {
            db_sqlb_addf(&drop, "%s%s", ndrop ? "," : "", name);
            ndrop++;
        }
    }
    /* Day partitions are kept PARTITION_AHEAD_DAYS ahead, so points land in pmax only when
     * the job could not run for days (a stopped server, a moved clock). Splitting an empty pmax
     * is cheap; rows waiting there get partitions from the day of the oldest of them (older
     * ones share the first new partition), so they age out with their day. */
    if (last < today + 2 * GPS__DAY_MS) {
        struct db_res q;
        struct db_sqlb add;
        int64_t b, from = today;

        res = db_exec(cx, "SELECT MIN(t) FROM track_points PARTITION (pmax) WHERE t < ?",
                      DB_ARGS(DBI(want)), &q);
        if (res)
            return res;
        if (!db_cell_null(&q, 0, 0)) {
            int64_t oldest = day_of(db_cell_i64(&q, 0, 0), 0) * GPS__DAY_MS + GPS__DAY_MS;
            int64_t floor = day_of(cutoff, 0) * GPS__DAY_MS;
            from = oldest > floor ? oldest : floor;
        }
        if (from <= last)
            from = last + GPS__DAY_MS;
        db_sqlb_init(cx, &add, ADD_SQL_MAX,
                     "ALTER TABLE track_points REORGANIZE PARTITION pmax INTO (");
        /* At most what fits the statement per run; the next run adds the rest. */
        for (b = from; b <= want && add.len + 128 < ADD_SQL_MAX; b += GPS__DAY_MS) {
            char pn[16];
            part_name(b, pn);
            db_sqlb_addf(&add, "PARTITION %s VALUES LESS THAN (%lld),", pn, (long long)b);
        }
        db_sqlb_add(&add, "PARTITION pmax VALUES LESS THAN MAXVALUE)");
        res = db_sqlb_exec(&add, NULL);
        if (res)
            return res;
        log_info(cx, "track_points: day partitions added up to %lld", (long long)want);
    }
    if (ndrop) {
        res = db_sqlb_exec(&drop, NULL);
        if (res)
            return res;
        log_info(cx, "track_points: %zu day partitions past retention dropped", ndrop);
    }
    /* Fixes timed far in the future (filtered) sit in pmax; the few of them go row by row. */
    return db_exec(cx, "DELETE FROM track_points PARTITION (pmax) WHERE recv_ms < ?",
                   DB_ARGS(DBI(cutoff)), NULL);
}
