/* api/domain/org.c */
#include "org.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "audit.h"
#include "geo.h"
#include "server/db/db.h"

#define ISO_AT(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%sZ')"

static bool chars_ok(const char *s, size_t min, size_t max, const char *extra, bool lower_only)
{
    size_t n = strlen(s);

    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (!lower_only && c >= 'A' && c <= 'Z') || (extra && c && strchr(extra, c))))
            return false;
    }
    return true;
}

static bool digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    return n >= min && n <= max && strspn(s, "0123456789") == n;
}

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= 64;
}

/* ---- regions ------------------------------------------------------------------------------ */

static const char *const levels[] = {"city", "district", "street", "community", NULL};

static int level_index(const char *l)
{
    for (int i = 0; levels[i]; i++)
        if (strcmp(levels[i], l) == 0)
            return i;
    return -1;
}

#define REGION_COLS "id, COALESCE(parent_id, 0), level, code, name, " ISO_AT("created_at")

static void region_row(const struct db_res *r, size_t i, struct region_rec *o)
{
    o->id = db_cell_i64(r, i, 0);
    o->parent_id = db_cell_i64(r, i, 1);
    o->level = db_cell(r, i, 2);
    o->code = db_cell(r, i, 3);
    o->name = db_cell(r, i, 4);
    o->created_at = db_cell(r, i, 5);
}

enum err org_region_list(struct rctx *cx, struct region_rec **rows, size_t *n, bool *more)
{
    struct db_res r;
    struct region_rec *v;
    enum err res = db_exec(cx, "SELECT " REGION_COLS " FROM regions ORDER BY code LIMIT ?",
                           DB_ARGS(DBI(ORG_LIST_MAX + 1)), &r);

    if (res)
        return res;
    *more = r.nrows > ORG_LIST_MAX;
    *n = *more ? ORG_LIST_MAX : r.nrows;
    v = rctx_zalloc(cx, (*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++)
        region_row(&r, i, &v[i]);
    *rows = v;
    return ERR_OK;
}

enum err org_region_get(struct rctx *cx, int64_t id, struct region_rec *out)
{
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT " REGION_COLS " FROM regions WHERE id = ?", DB_ARGS(DBI(id)), &r);

    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such region");
    region_row(&r, 0, out);
    return ERR_OK;
}

enum err org_region_create(struct rctx *cx, const struct region_new *in, int64_t *id)
{
    struct db_res r;
    int lvl = level_index(in->level);
    enum err res;

    if (lvl < 0)
        return rctx_fail(cx, ERR_INVALID, "level: one of city, district, street, community");
    if (!digits(in->code, 6, 12))
        return rctx_fail(cx, ERR_INVALID, "code: 6 to 12 digits (行政区划代码)");
    if (!name_ok(in->name))
        return rctx_fail(cx, ERR_INVALID, "name: 1 to 64 bytes");
    if (lvl == 0 && in->parent_id)
        return rctx_fail(cx, ERR_INVALID, "parent_id: a city has no parent");
    if (lvl > 0 && !in->parent_id)
        return rctx_fail(cx, ERR_INVALID, "parent_id: required for a %s", in->level);
    res = db_tx_begin(cx);
    if (res)
        return res;
    if (in->parent_id) {
        /* Locked so the parent cannot change level under us. */
        res = db_exec(cx, "SELECT level FROM regions WHERE id = ? FOR UPDATE",
                      DB_ARGS(DBI(in->parent_id)), &r);
        if (res)
            goto out;
        if (r.nrows == 0) {
            res = rctx_fail(cx, ERR_INVALID, "parent_id: no such region");
            goto out;
        }
        if (level_index(db_cell(&r, 0, 0)) != lvl - 1) {
            res = rctx_fail(cx, ERR_INVALID, "parent_id: a %s belongs to a %s, not a %s", in->level,
                            levels[lvl - 1], db_cell(&r, 0, 0));
            goto out;
        }
    }
    res = db_exec(cx, "INSERT INTO regions (parent_id, level, code, name) VALUES (?,?,?,?)",
                  DB_ARGS(in->parent_id ? DBI(in->parent_id) : DBNULL, DBS(in->level),
                          DBS(in->code), DBS(in->name)),
                  &r);
    if (res == ERR_CONFLICT)
        res = rctx_fail(cx, ERR_CONFLICT, "code: region %s exists", in->code);
    if (res)
        goto out;
    *id = (int64_t)r.insert_id;
    res = audit_write(cx, "region.create", "region", *id, AUDIT_OK, in->code);
out:
    return db_tx_end(cx, res);
}

/* ---- departments -------------------------------------------------------------------------- */

#define DEPT_COLS "id, code, name, COALESCE(region_id, 0), active, " ISO_AT("created_at")

static void dept_row(const struct db_res *r, size_t i, struct dept_rec *o)
{
    o->id = db_cell_i64(r, i, 0);
    o->code = db_cell(r, i, 1);
    o->name = db_cell(r, i, 2);
    o->region_id = db_cell_i64(r, i, 3);
    o->active = db_cell_i64(r, i, 4) != 0;
    o->created_at = db_cell(r, i, 5);
}

enum err org_dept_list(struct rctx *cx, bool include_inactive, struct dept_rec **rows, size_t *n)
{
    struct db_res r;
    struct dept_rec *v;
    enum err res = db_exec(cx,
                           "SELECT " DEPT_COLS " FROM departments WHERE active = 1 OR ? = 1"
                           " ORDER BY id LIMIT ?",
                           DB_ARGS(DBI(include_inactive), DBI(ORG_LIST_MAX)), &r);

    if (res)
        return res;
    v = rctx_zalloc(cx, (r.nrows + 1) * sizeof *v);
    for (size_t i = 0; i < r.nrows; i++)
        dept_row(&r, i, &v[i]);
    *rows = v;
    *n = r.nrows;
    return ERR_OK;
}

enum err org_dept_get(struct rctx *cx, int64_t id, struct dept_rec *out)
{
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT " DEPT_COLS " FROM departments WHERE id = ?", DB_ARGS(DBI(id)), &r);

    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such department");
    dept_row(&r, 0, out);
    return ERR_OK;
}

static enum err region_exists(struct rctx *cx, const char *field, int64_t id)
{
    struct db_res r;
    enum err res = db_exec(cx, "SELECT 1 FROM regions WHERE id = ?", DB_ARGS(DBI(id)), &r);

    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_INVALID, "%s: no such region", field);
    return ERR_OK;
}

enum err org_dept_create(struct rctx *cx, const struct dept_new *in, int64_t *id)
{
    struct db_res r;
    enum err res;

    if (!chars_ok(in->code, 1, 32, "_-", true))
        return rctx_fail(cx, ERR_INVALID, "code: 1 to 32 characters of a-z, 0-9, '_' and '-'");
    if (!name_ok(in->name))
        return rctx_fail(cx, ERR_INVALID, "name: 1 to 64 bytes");
    res = db_tx_begin(cx);
    if (res)
        return res;
    if (in->region_id)
        res = region_exists(cx, "region_id", in->region_id);
    if (!res)
        res = db_exec(
            cx, "INSERT INTO departments (code, name, region_id) VALUES (?,?,?)",
            DB_ARGS(DBS(in->code), DBS(in->name), in->region_id ? DBI(in->region_id) : DBNULL), &r);
    if (res == ERR_CONFLICT)
        res = rctx_fail(cx, ERR_CONFLICT, "a department with this code or name exists");
    if (!res) {
        *id = (int64_t)r.insert_id;
        res = audit_write(cx, "department.create", "department", *id, AUDIT_OK, in->code);
    }
    return db_tx_end(cx, res);
}

enum err org_dept_update(struct rctx *cx, int64_t id, const struct dept_patch *p)
{
    struct db_res r;
    struct dept_rec cur;
    char detail[64] = "";
    enum err res;

    if (p->has_name && !name_ok(p->name))
        return rctx_fail(cx, ERR_INVALID, "name: 1 to 64 bytes");
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx, "SELECT " DEPT_COLS " FROM departments WHERE id = ? FOR UPDATE",
                  DB_ARGS(DBI(id)), &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_NOTFOUND, "no such department");
        goto out;
    }
    dept_row(&r, 0, &cur);
    if (p->has_region && p->region_id) {
        res = region_exists(cx, "region_id", p->region_id);
        if (res)
            goto out;
    }
    res = db_exec(cx, "UPDATE departments SET name = ?, region_id = ?, active = ? WHERE id = ?",
                  DB_ARGS(DBS(p->has_name ? p->name : cur.name),
                          (p->has_region ? p->region_id : cur.region_id)
                              ? DBI(p->has_region ? p->region_id : cur.region_id)
                              : DBNULL,
                          DBI(p->has_active ? p->active : cur.active), DBI(id)),
                  NULL);
    if (res == ERR_CONFLICT)
        res = rctx_fail(cx, ERR_CONFLICT, "name: another department has it");
    if (res)
        goto out;
    snprintf(detail, sizeof detail, "%s%s%s", p->has_name ? "name " : "",
             p->has_region ? "region_id " : "", p->has_active ? "active" : "");
    res = audit_write(cx, "department.update", "department", id, AUDIT_OK, detail);
out:
    return db_tx_end(cx, res);
}

/* ---- grids -------------------------------------------------------------------------------- */

enum err org_ring_check(struct rctx *cx, const struct geo_ring *g)
{
    size_t distinct = 0;

    if (g->n < 4)
        return rctx_fail(cx, ERR_INVALID,
                         "boundary: a ring needs at least 4 points (3 corners and the first "
                         "again); got %zu",
                         g->n);
    if (g->n > ORG_RING_MAX)
        return rctx_fail(cx, ERR_INVALID, "boundary: at most %d points", ORG_RING_MAX);
    for (size_t i = 0; i < g->n; i++) {
        double lng = g->pt[i][0], lat = g->pt[i][1];
        if (!isfinite(lng) || !isfinite(lat) || lng < -180 || lng > 180)
            return rctx_fail(cx, ERR_INVALID,
                             "boundary[%zu]: longitude must be within -180..180 (order is "
                             "[lng, lat])",
                             i);
        if (lat < -90 || lat > 90)
            return rctx_fail(cx, ERR_INVALID,
                             "boundary[%zu]: latitude must be within -90..90 (order is [lng, lat])",
                             i);
        if (i > 0 && lng == g->pt[i - 1][0] && lat == g->pt[i - 1][1])
            return rctx_fail(cx, ERR_INVALID, "boundary[%zu]: repeats the point before it", i);
    }
    if (g->pt[0][0] != g->pt[g->n - 1][0] || g->pt[0][1] != g->pt[g->n - 1][1])
        return rctx_fail(cx, ERR_INVALID,
                         "boundary: the ring is not closed (last point must "
                         "equal the first)");
    /* Three corners that are all different: a ring like A B A A is not an area. */
    for (size_t i = 1; i + 1 < g->n && distinct < 2; i++)
        if (g->pt[i][0] != g->pt[0][0] || g->pt[i][1] != g->pt[0][1])
            distinct++;
    if (distinct < 2)
        return rctx_fail(cx, ERR_INVALID, "boundary: needs three distinct corners");
    return ERR_OK;
}

/* "POLYGON((lng lat,...))" in pool memory. 7 decimals is about 1 cm: more than GPS gives. */
static const char *ring_wkt(struct rctx *cx, const struct geo_ring *g)
{
    size_t cap = 32 + g->n * 28, off = 0;
    char *s = rctx_alloc(cx, cap);

    off += (size_t)snprintf(s + off, cap - off, "POLYGON((");
    for (size_t i = 0; i < g->n && off < cap; i++)
        off += (size_t)snprintf(s + off, cap - off, "%s%.7f %.7f", i ? "," : "", g->pt[i][0],
                                g->pt[i][1]);
    if (off < cap)
        snprintf(s + off, cap - off, "))");
    return s;
}

#define GRID_COLS "g.id, g.code, g.name, g.region_id, rg.name, " ISO_AT("g.created_at")
#define GRID_FROM " FROM grids g JOIN regions rg ON rg.id = g.region_id"

static void grid_row(const struct db_res *r, size_t i, struct grid_rec *o)
{
    memset(o, 0, sizeof *o);
    o->id = db_cell_i64(r, i, 0);
    o->code = db_cell(r, i, 1);
    o->name = db_cell(r, i, 2);
    o->region_id = db_cell_i64(r, i, 3);
    o->region_name = db_cell(r, i, 4);
    o->created_at = db_cell(r, i, 5);
}

enum err org_grid_list(struct rctx *cx, int64_t region_id, struct grid_rec **rows, size_t *n,
                       bool *more)
{
    struct db_res r;
    struct grid_rec *v;
    enum err res = db_exec(cx,
                           "SELECT " GRID_COLS GRID_FROM " WHERE ? = 0 OR g.region_id = ?"
                           " ORDER BY g.code LIMIT ?",
                           DB_ARGS(DBI(region_id), DBI(region_id), DBI(ORG_LIST_MAX + 1)), &r);

    if (res)
        return res;
    *more = r.nrows > ORG_LIST_MAX;
    *n = *more ? ORG_LIST_MAX : r.nrows;
    v = rctx_zalloc(cx, (*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++)
        grid_row(&r, i, &v[i]);
    *rows = v;
    return ERR_OK;
}

enum err org_grid_get(struct rctx *cx, int64_t id, struct grid_rec *out)
{
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT " GRID_COLS ", ST_AsGeoJSON(g.boundary, 7)" GRID_FROM " WHERE g.id = ?",
                DB_ARGS(DBI(id)), &r);

    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such grid");
    grid_row(&r, 0, out);
    out->geojson = db_cell(&r, 0, 6);
    return ERR_OK;
}

enum err org_grid_create(struct rctx *cx, const struct grid_new *in, int64_t *id)
{
    struct db_res r;
    const char *wkt;
    enum err res;

    if (!digits(in->code, 1, 15))
        return rctx_fail(cx, ERR_INVALID, "code: 1 to 15 digits");
    if (!name_ok(in->name))
        return rctx_fail(cx, ERR_INVALID, "name: 1 to 64 bytes");
    res = org_ring_check(cx, &in->ring);
    if (res)
        return res;
    wkt = ring_wkt(cx, &in->ring);
    /* MariaDB 10.11 has no ST_IsValid; ST_IsSimple refuses a ring that crosses itself and a
     * zero area one whose points all lie on a line. */
    res = db_exec(cx,
                  "SELECT ST_IsSimple(p) AND ST_Area(p) > 0 FROM"
                  " (SELECT ST_GeomFromText(?) AS p) t",
                  DB_ARGS(DBS(wkt)), &r);
    if (res)
        return res;
    if (r.nrows != 1 || db_cell_i64(&r, 0, 0) != 1)
        return rctx_fail(cx, ERR_INVALID, "boundary: the ring crosses itself or encloses no area");
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = region_exists(cx, "region_id", in->region_id);
    if (!res)
        res = db_exec(cx,
                      "INSERT INTO grids (code, name, region_id, boundary) VALUES"
                      " (?, ?, ?, ST_GeomFromText(?))",
                      DB_ARGS(DBS(in->code), DBS(in->name), DBI(in->region_id), DBS(wkt)), &r);
    if (res == ERR_CONFLICT)
        res = rctx_fail(cx, ERR_CONFLICT, "code: grid %s exists", in->code);
    if (!res) {
        *id = (int64_t)r.insert_id;
        res = audit_write(cx, "grid.create", "grid", *id, AUDIT_OK, in->code);
    }
    return db_tx_end(cx, res);
}

enum err org_grid_locate(struct rctx *cx, double lat, double lng, struct grid_rec *out)
{
    struct db_res r;
    char wkt[96];
    enum err res;

    if (!geo_in_range(lat, lng))
        return rctx_fail(cx, ERR_INVALID, "lat must be within -90..90 and lng within -180..180");
    snprintf(wkt, sizeof wkt, "POINT(%.7f %.7f)", lng, lat);
    /* ST_Intersects counts the edge as inside, so adjacent grids leave no gap; a point on a
     * shared edge goes to the grid that strictly contains it, else the lower id. */
    res =
        db_exec(cx,
                "SELECT " GRID_COLS GRID_FROM " WHERE ST_Intersects(g.boundary, ST_GeomFromText(?))"
                " ORDER BY ST_Contains(g.boundary, ST_GeomFromText(?)) DESC, g.id LIMIT 1",
                DB_ARGS(DBS(wkt), DBS(wkt)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no grid contains this point");
    grid_row(&r, 0, out);
    return ERR_OK;
}
