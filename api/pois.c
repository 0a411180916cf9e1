/* api/pois.c: /api/v1/pois — nearby services: the admins' import (CSV or GeoJSON) and the
 * nearest ones to a place. Handlers only: parse the file, decode, call the domain (poi.h),
 * encode. Coordinates are WGS-84 unless crs=gcj02 asks for GCJ-02, in and out (geo.h). */
#include "api.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/domain/geo.h"
#include "api/domain/poi.h"
#include "server/core/roles.h"

static enum err parse_crs(struct rctx *cx, const char *v, bool *gcj)
{
    *gcj = false;
    if (!v || strcmp(v, "wgs84") == 0)
        return ERR_OK;
    if (strcmp(v, "gcj02") == 0) {
        *gcj = true;
        return ERR_OK;
    }
    return rctx_fail(cx, ERR_INVALID, "crs: \"wgs84\" or \"gcj02\"");
}

/* A number of a text cell; false unless the whole cell is one finite number. */
static bool num_of(const char *s, double *out)
{
    char *end;
    double d;

    if (!s || !*s)
        return false;
    d = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (*end || !isfinite(d))
        return false;
    *out = d;
    return true;
}

/* ---- CSV (RFC 4180: a header row; quoted cells may hold commas, quotes and line breaks) ---- */

#define CSV_COLS_MAX 32

/* The next row's cells (pool memory) from *p up to end. Returns the number of cells, 0 at the
 * end of input, -1 for an unterminated quote. */
static int csv_row(struct rctx *cx, const char **p, const char *end, char **cells)
{
    const char *s = *p;
    int n = 0;

    if (s >= end)
        return 0;
    for (;;) {
        char *buf = rctx_alloc(cx, (size_t)(end - s) + 1);
        size_t len = 0;
        if (s < end && *s == '"') {
            s++;
            for (;;) {
                if (s >= end)
                    return -1;
                if (*s == '"' && s + 1 < end && s[1] == '"') {
                    buf[len++] = '"';
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    buf[len++] = *s++;
                }
            }
        }
        while (s < end && *s != ',' && *s != '\n' && *s != '\r')
            buf[len++] = *s++;
        buf[len] = '\0';
        if (n < CSV_COLS_MAX)
            cells[n++] = buf;
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && *s == '\r')
            s++;
        if (s < end && *s == '\n')
            s++;
        break;
    }
    *p = s;
    return n;
}

static int col_of(char **head, int n, const char *const *names)
{
    for (int i = 0; i < n; i++)
        for (size_t k = 0; names[k]; k++)
            if (strcmp(head[i], names[k]) == 0)
                return i;
    return -1;
}

static const char *cell(char **cells, int n, int col)
{
    return col >= 0 && col < n && cells[col][0] ? cells[col] : NULL;
}

static enum err parse_csv(struct rctx *cx, const char *body, size_t len, const char *dtype,
                          struct poi_in **out, size_t *nout)
{
    static const char *const n_type[] = {"type", NULL}, *const n_name[] = {"name", NULL},
                             *const n_lat[] = {"lat", "latitude", NULL},
                             *const n_lng[] = {"lng", "lon", "longitude", NULL},
                             *const n_addr[] = {"address", NULL},
                             *const n_ref[] = {"ref", "id", NULL};
    const char *p = body, *end = body + len;
    char *head[CSV_COLS_MAX], *cells[CSV_COLS_MAX];
    int nh, ct, cn, cla, clo, ca, cr;
    size_t cap = 64, n = 0, line = 1;
    struct poi_in *v = rctx_alloc(cx, cap * sizeof *v);

    if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
        (unsigned char)p[2] == 0xBF)
        p += 3; /* a UTF-8 BOM, as spreadsheet exports write */
    nh = csv_row(cx, &p, end, head);
    if (nh <= 0)
        return rctx_fail(cx, ERR_INVALID, "CSV: a header row is required");
    ct = col_of(head, nh, n_type);
    cn = col_of(head, nh, n_name);
    cla = col_of(head, nh, n_lat);
    clo = col_of(head, nh, n_lng);
    ca = col_of(head, nh, n_addr);
    cr = col_of(head, nh, n_ref);
    if (cn < 0 || cla < 0 || clo < 0 || (ct < 0 && !dtype))
        return rctx_fail(cx, ERR_INVALID,
                         "CSV: the header needs name, lat and lng (and type, or ?type=)");
    for (;;) {
        int nc = csv_row(cx, &p, end, cells);
        line++;
        if (nc == 0)
            break;
        if (nc < 0)
            return rctx_fail(cx, ERR_INVALID, "CSV line %zu: unterminated quote", line);
        if (nc == 1 && cells[0][0] == '\0')
            continue; /* an empty line */
        if (n == POI_IMPORT_MAX)
            return rctx_fail(cx, ERR_INVALID, "at most %d rows per import", POI_IMPORT_MAX);
        if (n == cap) {
            struct poi_in *nv = rctx_alloc(cx, cap * 2 * sizeof *nv);
            memcpy(nv, v, n * sizeof *v);
            v = nv;
            cap *= 2;
        }
        memset(&v[n], 0, sizeof v[n]);
        v[n].type = cell(cells, nc, ct) ? cell(cells, nc, ct) : dtype;
        v[n].name = cell(cells, nc, cn);
        v[n].address = cell(cells, nc, ca);
        v[n].ref = cell(cells, nc, cr);
        if (!num_of(cell(cells, nc, cla), &v[n].lat) || !num_of(cell(cells, nc, clo), &v[n].lng))
            return rctx_fail(cx, ERR_INVALID, "row %zu: lat, lng: numbers required", n + 1);
        n++;
    }
    *out = v;
    *nout = n;
    return ERR_OK;
}

/* ---- GeoJSON (RFC 7946: a FeatureCollection of Point features) --------------------------- */

static const char *prop_str(struct rctx *cx, json_t *props, const char *k)
{
    json_t *x = json_object_get(props, k);
    if (json_is_string(x))
        return json_string_value(x);
    if (json_is_integer(x))
        return rctx_printf(cx, "%lld", (long long)json_integer_value(x));
    return NULL;
}

static enum err parse_geojson(struct rctx *cx, const struct req *rq, const char *dtype,
                              struct poi_in **out, size_t *nout)
{
    json_t *j, *feats, *f;
    struct poi_in *v;
    size_t i;
    enum err res = api_json_body(cx, rq, false, &j);

    if (res)
        return res;
    feats = json_object_get(j, "features");
    if (!json_is_array(feats) ||
        strcmp(json_string_value(json_object_get(j, "type")) ?: "", "FeatureCollection") != 0)
        return rctx_fail(cx, ERR_INVALID, "GeoJSON: a FeatureCollection is required");
    if (json_array_size(feats) > POI_IMPORT_MAX)
        return rctx_fail(cx, ERR_INVALID, "at most %d rows per import", POI_IMPORT_MAX);
    v = rctx_zalloc(cx, (json_array_size(feats) + 1) * sizeof *v);
    json_array_foreach(feats, i, f)
    {
        json_t *g = json_object_get(f, "geometry"), *props = json_object_get(f, "properties");
        json_t *c = json_object_get(g, "coordinates");
        if (strcmp(json_string_value(json_object_get(g, "type")) ?: "", "Point") != 0 ||
            !json_is_array(c) || json_array_size(c) < 2 || !json_is_number(json_array_get(c, 0)) ||
            !json_is_number(json_array_get(c, 1)))
            return rctx_fail(cx, ERR_INVALID, "row %zu: geometry: a Point [lng, lat] is required",
                             i + 1);
        v[i].lng = json_number_value(json_array_get(c, 0));
        v[i].lat = json_number_value(json_array_get(c, 1));
        v[i].type = prop_str(cx, props, "type") ? prop_str(cx, props, "type") : dtype;
        v[i].name = prop_str(cx, props, "name");
        v[i].address = prop_str(cx, props, "address");
        v[i].ref = prop_str(cx, props, "ref");
        if (!v[i].ref) {
            json_t *id = json_object_get(f, "id");
            v[i].ref = json_is_string(id) ? json_string_value(id)
                       : json_is_integer(id)
                           ? rctx_printf(cx, "%lld", (long long)json_integer_value(id))
                           : NULL;
        }
    }
    *out = v;
    *nout = json_array_size(feats);
    return ERR_OK;
}

static enum err pois_import(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    const char *dtype = req_query(cx, rq, "type");
    size_t ctl = 0;
    const char *ct = req_header(rq, "content-type", &ctl);
    struct poi_in *v = NULL;
    size_t n = 0, ins = 0, upd = 0;
    bool gcj = false;
    enum err res = parse_crs(cx, req_query(cx, rq, "crs"), &gcj);

    if (res)
        return res;
    if (!ct)
        ct = "";
    if (ctl >= 8 && strncmp(ct, "text/csv", 8) == 0)
        res = parse_csv(cx, rq->body, rq->body_len, dtype, &v, &n);
    else if ((ctl >= 20 && strncmp(ct, "application/geo+json", 20) == 0) ||
             (ctl >= 16 && strncmp(ct, "application/json", 16) == 0))
        res = parse_geojson(cx, rq, dtype, &v, &n);
    else
        res = rctx_fail(cx, ERR_MEDIATYPE, "send text/csv or application/geo+json");
    if (res)
        return res;
    for (size_t i = 0; gcj && i < n; i++)
        geo_gcj_to_wgs(v[i].lat, v[i].lng, &v[i].lat, &v[i].lng);
    res = poi_import(cx, v, n, 1, &ins, &upd);
    if (res)
        return res;
    return api_json_reply(
        cx, rs, 200,
        json_pack("{s:I,s:I}", "inserted", (json_int_t)ins, "updated", (json_int_t)upd));
}

static enum err query_f64(struct rctx *cx, const struct req *rq, const char *name, bool required,
                          double *out)
{
    const char *s = req_query(cx, rq, name);
    if (!s) {
        if (required)
            return rctx_fail(cx, ERR_INVALID, "%s: required", name);
        return ERR_OK;
    }
    if (!num_of(s, out))
        return rctx_fail(cx, ERR_INVALID, "%s: a number", name);
    return ERR_OK;
}

static enum err pois_nearby(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    double lat = 0, lng = 0, radius = 1000;
    int64_t limit = 20;
    bool gcj = false;
    struct poi_rec *v;
    size_t n = 0;
    json_t *a;
    enum err res = parse_crs(cx, req_query(cx, rq, "crs"), &gcj);

    if (!res)
        res = query_f64(cx, rq, "lat", true, &lat);
    if (!res)
        res = query_f64(cx, rq, "lng", true, &lng);
    if (!res)
        res = query_f64(cx, rq, "radius", false, &radius);
    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, POI_NEARBY_MAX, &limit);
    if (res)
        return res;
    if (gcj && geo_valid(lat, lng))
        geo_gcj_to_wgs(lat, lng, &lat, &lng);
    res = poi_nearby(cx, lat, lng, req_query(cx, rq, "type"), radius, (int)limit, &n, &v);
    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < n; i++) {
        double plat = v[i].lat, plng = v[i].lng;
        if (gcj)
            geo_wgs_to_gcj(v[i].lat, v[i].lng, &plat, &plng);
        json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:o,s:o,s:{s:f,s:f},s:f}", "id",
                                           (json_int_t)v[i].id, "type", v[i].type, "name",
                                           v[i].name, "address", api_json_str(v[i].address), "ref",
                                           api_json_str(v[i].ref), "location", "lat", plat, "lng",
                                           plng, "distance_m", round(v[i].distance_m * 10) / 10));
    }
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:s,s:o}", "crs", gcj ? "gcj02" : "wgs84", "items", a));
}

/* clang-format off */
const struct route api_pois_routes[] = {
    /* method  path                      handler      roles       body              flags           timeout batch  scope (API keys) */
    {"GET",  "/api/v1/pois/nearby",    pois_nearby, ROLE_USER,  0,                0,              0, NULL, NULL},
    {"POST", "/api/v1/pois/import",    pois_import, ROLE_ADMIN, 16 * 1024 * 1024, ROUTE_RAW_BODY, 60000, NULL, NULL},
    {0},
};
/* clang-format on */
