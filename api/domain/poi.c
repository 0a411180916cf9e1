/* api/domain/poi.c: nearby services (see poi.h). */
#include "api/domain/poi.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "api/domain/audit.h"
#include "api/domain/geo.h"
#include "server/db/db.h"

static bool type_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;

    if (n == 0 || n > POI_TYPE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '_'))
            return false;
    return true;
}

static enum err check_row(struct rctx *cx, const struct poi_in *p, size_t row)
{
    if (!type_ok(p->type))
        return rctx_fail(cx, ERR_INVALID, "row %zu: type: 1 to %d of a-z, 0-9 and _", row,
                         POI_TYPE_MAX);
    if (!p->name || !p->name[0] || strlen(p->name) > POI_NAME_MAX)
        return rctx_fail(cx, ERR_INVALID, "row %zu: name: 1 to %d bytes", row, POI_NAME_MAX);
    if (p->address && strlen(p->address) > POI_ADDR_MAX)
        return rctx_fail(cx, ERR_INVALID, "row %zu: address: at most %d bytes", row, POI_ADDR_MAX);
    if (p->ref && strlen(p->ref) > POI_REF_MAX)
        return rctx_fail(cx, ERR_INVALID, "row %zu: ref: at most %d bytes", row, POI_REF_MAX);
    if (!geo_valid(p->lat, p->lng))
        return rctx_fail(cx, ERR_INVALID, "row %zu: coordinates: not a valid place", row);
    return ERR_OK;
}

enum err poi_import(struct rctx *cx, const struct poi_in *v, size_t n, size_t row0,
                    size_t *inserted, size_t *updated)
{
    char wkt[96], detail[64];
    struct db_res r;
    enum err res = ERR_OK;

    *inserted = *updated = 0;
    if (n == 0)
        return rctx_fail(cx, ERR_INVALID, "no rows to import");
    if (n > POI_IMPORT_MAX)
        return rctx_fail(cx, ERR_INVALID, "at most %d rows per import", POI_IMPORT_MAX);
    for (size_t i = 0; i < n; i++) {
        res = check_row(cx, &v[i], row0 + i);
        if (res)
            return res;
    }
    res = db_tx_begin(cx);
    if (res)
        return res;
    for (size_t i = 0; i < n && !res; i++) {
        const struct poi_in *p = &v[i];
        snprintf(wkt, sizeof wkt, "POINT(%.7f %.7f)", p->lng, p->lat);
        res = db_exec(
            cx,
            "INSERT INTO pois (type, name, address, source_ref, lat, lng, pt, active, created_at,"
            " updated_at) VALUES (?,?,?,?,?,?,ST_GeomFromText(?),1,FROM_UNIXTIME(? / 1000),"
            "FROM_UNIXTIME(? / 1000)) ON DUPLICATE KEY UPDATE name = VALUES(name),"
            " address = VALUES(address), lat = VALUES(lat), lng = VALUES(lng), pt = VALUES(pt),"
            " active = 1, updated_at = VALUES(updated_at)",
            DB_ARGS(DBS(p->type), DBS(p->name), DBS(p->address), DBS(p->ref), DBF(p->lat),
                    DBF(p->lng), DBS(wkt), DBI(cx->now_ms), DBI(cx->now_ms)),
            &r);
        if (!res && r.affected == 1)
            (*inserted)++;
        else if (!res)
            (*updated)++;
    }
    snprintf(detail, sizeof detail, "%zu new, %zu updated", *inserted, *updated);
    if (!res)
        res = audit_write(cx, "poi.import", NULL, 0, AUDIT_OK, detail);
    return db_tx_end(cx, res);
}

enum err poi_nearby(struct rctx *cx, double lat, double lng, const char *type, double radius_m,
                    int limit, size_t *n, struct poi_rec **out)
{
    char box[240], pt[64];
    double dlat, dlng, c;
    struct db_res r;
    enum err res;

    if (!geo_valid(lat, lng))
        return rctx_fail(cx, ERR_INVALID, "lat, lng: not a valid place");
    if (type && !type_ok(type))
        return rctx_fail(cx, ERR_INVALID, "type: 1 to %d of a-z, 0-9 and _", POI_TYPE_MAX);
    if (!(radius_m >= 1 && radius_m <= POI_RADIUS_MAX))
        return rctx_fail(cx, ERR_INVALID, "radius: 1 to %d metres", POI_RADIUS_MAX);
    if (limit < 1 || limit > POI_NEARBY_MAX)
        return rctx_fail(cx, ERR_INVALID, "limit: 1 to %d", POI_NEARBY_MAX);
    /* The type is tested in HAVING: in WHERE, MariaDB 10.11 may build a rowid filter from
     * an index on type beside the R-tree scan and fail with ERROR 1207 (update locks in a
     * READ UNCOMMITTED transaction; docs/benchmarks.md saw it for cases_pt too).
     * The box holds the circle: a degree of latitude is at least 110.5 km, and a degree of
     * longitude at least 111.3 km × cos(the box's edge nearest a pole). */
    dlat = radius_m / 110540.0 * 1.01;
    c = cos((fabs(lat) + dlat) * M_PI / 180.0);
    dlng = c > 0.01 ? radius_m / (111320.0 * c) * 1.01 : 180.0;
    if (dlng > 180.0)
        dlng = 180.0;
    snprintf(box, sizeof box, "POLYGON((%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f))",
             lng - dlng, lat - dlat, lng + dlng, lat - dlat, lng + dlng, lat + dlat, lng - dlng,
             lat + dlat, lng - dlng, lat - dlat);
    snprintf(pt, sizeof pt, "POINT(%.7f %.7f)", lng, lat);
    res = db_exec(cx,
                  "SELECT id, type, name, address, source_ref, lat, lng,"
                  " ST_Distance_Sphere(pt, ST_GeomFromText(?)) AS dist FROM pois"
                  " WHERE MBRContains(ST_GeomFromText(?), pt) AND active = 1"
                  " HAVING dist <= ? AND (? IS NULL OR type = ?) ORDER BY dist, id LIMIT ?",
                  DB_ARGS(DBS(pt), DBS(box), DBF(radius_m), DBS(type), DBS(type), DBI(limit)), &r);
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++) {
        struct poi_rec *p = &(*out)[i];
        p->id = db_cell_i64(&r, i, 0);
        p->type = db_cell(&r, i, 1);
        p->name = db_cell(&r, i, 2);
        p->address = db_cell(&r, i, 3);
        p->ref = db_cell(&r, i, 4);
        p->lat = db_cell_f64(&r, i, 5);
        p->lng = db_cell_f64(&r, i, 6);
        p->distance_m = db_cell_f64(&r, i, 7);
    }
    return ERR_OK;
}
