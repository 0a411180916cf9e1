/* api/domain/survey.c: 专项普查 (see survey.h). */
#include "api/domain/survey.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "api/domain/attach.h"
#include "api/domain/audit.h"
#include "api/domain/case_int.h"
#include "api/domain/geo.h"
#include "api/domain/idempotency.h"
#include "api/domain/outbox.h"
#include "server/core/roles.h"
#include "server/db/db.h"

enum err survey_create(struct rctx *cx, const struct survey_new *in, struct idem *idem, int64_t *id)
{
    struct db_res r;
    char payload[64];
    int64_t sid = 0;
    enum err res;

    if (!in->title || !in->title[0] || strlen(in->title) > SURVEY_TITLE_MAX)
        return rctx_fail(cx, ERR_INVALID, "title: 1 to %d bytes", SURVEY_TITLE_MAX);
    if (in->ngrids == 0 || in->ngrids > SURVEY_GRIDS_MAX)
        return rctx_fail(cx, ERR_INVALID, "grid_ids: 1 to %d grids", SURVEY_GRIDS_MAX);
    if (in->ends_ms <= in->starts_ms)
        return rctx_fail(cx, ERR_INVALID, "ends_at: must be after starts_at");
    res = idem_begin(cx, idem);
    if (res)
        return res;
    if (idem->replay) {
        sid = idem->result_id;
        goto out;
    }
    res = db_exec(cx,
                  "INSERT INTO surveys (title, fields, starts_at, ends_at, created_by, created_at)"
                  " VALUES (?,?,FROM_UNIXTIME(? / 1000),FROM_UNIXTIME(? / 1000),?,"
                  "FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBS(in->title), DBS(in->fields_json), DBI(in->starts_ms),
                          DBI(in->ends_ms), DBI(cx->who.user_id), DBI(cx->now_ms)),
                  &r);
    if (res)
        goto out;
    sid = (int64_t)r.insert_id;
    for (size_t i = 0; !res && i < in->ngrids; i++) {
        res = db_exec(cx, "SELECT 1 FROM grids WHERE id = ?", DB_ARGS(DBI(in->grid_ids[i])), &r);
        if (!res && r.nrows == 0)
            res = rctx_fail(cx, ERR_INVALID, "grid_ids[%zu]: no such grid", i);
        if (!res)
            res = db_exec(cx, "INSERT INTO survey_grids (survey_id, grid_id) VALUES (?,?)",
                          DB_ARGS(DBI(sid), DBI(in->grid_ids[i])), NULL);
        if (res == ERR_CONFLICT) {
            cx->err.code = ERR_OK;
            res = rctx_fail(cx, ERR_INVALID, "grid_ids[%zu]: listed twice", i);
        }
    }
    snprintf(payload, sizeof payload, "{\"survey_id\":%lld}", (long long)sid);
    if (!res)
        res = outbox_record_change(cx, "survey.created", "survey", sid, payload, "survey.create",
                                   idem, sid);
out:
    res = db_tx_end(cx, res);
    if (!res)
        *id = sid;
    return res;
}

/* Inspectors see surveys of their grids; staff who plan or supervise see all. */
static bool sees_all_surveys(const struct rctx *cx)
{
    return (cx->who.roles &
            (ROLE_DISPATCHER | ROLE_OPERATOR | ROLE_SHIFT_LEAD | ROLE_LEADER | ROLE_ADMIN)) != 0;
}

/* clang-format off */
#define SURVEY_COLS                                                                                \
    "s.id, s.created_by, " CASE__MS("s.starts_at") ", " CASE__MS("s.ends_at") ", "                 \
    CASE__MS("s.created_at") ", s.title, s.fields"
/* clang-format on */

static void survey_row(const struct db_res *r, size_t i, struct survey_rec *s)
{
    memset(s, 0, sizeof *s);
    s->id = db_cell_i64(r, i, 0);
    s->created_by = db_cell_i64(r, i, 1);
    s->starts_ms = db_cell_i64(r, i, 2);
    s->ends_ms = db_cell_i64(r, i, 3);
    s->created_ms = db_cell_i64(r, i, 4);
    s->title = db_cell(r, i, 5);
    s->fields_json = db_cell(r, i, 6);
}

enum err survey_list(struct rctx *cx, size_t *n, struct survey_rec **out)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT " SURVEY_COLS " FROM surveys s WHERE ? = 1 OR EXISTS (SELECT 1"
                           " FROM survey_grids sg JOIN user_grids ug ON ug.grid_id = sg.grid_id"
                           " WHERE sg.survey_id = s.id AND ug.user_id = ?) ORDER BY s.id DESC"
                           " LIMIT 200",
                           DB_ARGS(DBI(sees_all_surveys(cx) ? 1 : 0), DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++)
        survey_row(&r, i, &(*out)[i]);
    return ERR_OK;
}

enum err survey_get(struct rctx *cx, int64_t id, struct survey_rec *out)
{
    struct db_res r;
    enum err res =
        db_exec(cx,
                "SELECT " SURVEY_COLS " FROM surveys s WHERE s.id = ? AND (? = 1 OR"
                " EXISTS (SELECT 1 FROM survey_grids sg JOIN user_grids ug ON"
                " ug.grid_id = sg.grid_id WHERE sg.survey_id = s.id AND"
                " ug.user_id = ?))",
                DB_ARGS(DBI(id), DBI(sees_all_surveys(cx) ? 1 : 0), DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such survey");
    survey_row(&r, 0, out);
    res = db_exec(cx,
                  "SELECT sg.grid_id, (SELECT COUNT(*) FROM survey_items si WHERE si.survey_id ="
                  " sg.survey_id AND si.grid_id = sg.grid_id) FROM survey_grids sg WHERE"
                  " sg.survey_id = ? ORDER BY sg.grid_id",
                  DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    out->ngrids = r.nrows;
    out->grids = rctx_zalloc(cx, (r.nrows + 1) * sizeof *out->grids);
    for (size_t i = 0; i < r.nrows; i++) {
        out->grids[i].grid_id = db_cell_i64(&r, i, 0);
        out->grids[i].items = db_cell_i64(&r, i, 1);
        out->total_items += out->grids[i].items;
    }
    return ERR_OK;
}

enum err survey_item_add(struct rctx *cx, int64_t survey_id, const struct survey_item_new *in,
                         struct idem *idem, int64_t *item_id, int64_t *grid_id)
{
    struct survey_rec s;
    struct db_res r;
    char wkt[96];
    const char *photos_json = "[]";
    int64_t iid = 0, gid = 0;
    enum err res;

    if (!geo_in_range(in->lat, in->lng))
        return rctx_fail(cx, ERR_INVALID, "location: lat -90..90, lng -180..180");
    if (in->nphotos > ATTACH_MAX)
        return rctx_fail(cx, ERR_INVALID, "photos: at most %d", ATTACH_MAX);
    snprintf(wkt, sizeof wkt, "POINT(%.7f %.7f)", in->lng, in->lat);
    res = idem_begin(cx, idem);
    if (res)
        return res;
    if (idem->replay) {
        iid = idem->result_id;
        res = db_exec(cx, "SELECT grid_id FROM survey_items WHERE id = ?", DB_ARGS(DBI(iid)), &r);
        if (!res && r.nrows)
            gid = db_cell_i64(&r, 0, 0);
        goto out;
    }
    res = survey_get(cx, survey_id, &s);
    if (res)
        goto out;
    if (cx->now_ms < s.starts_ms || cx->now_ms >= s.ends_ms) {
        res = rctx_fail(cx, ERR_BAD_STATE, "the survey is not running now");
        goto out;
    }
    res = db_exec(cx,
                  "SELECT g.id FROM grids g JOIN survey_grids sg ON sg.grid_id = g.id AND"
                  " sg.survey_id = ? JOIN user_grids ug ON ug.grid_id = g.id AND ug.user_id = ?"
                  " WHERE ST_Contains(g.boundary, ST_GeomFromText(?)) ORDER BY g.id LIMIT 1",
                  DB_ARGS(DBI(survey_id), DBI(cx->who.user_id), DBS(wkt)), &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_INVALID, "location: not in a target grid of yours");
        goto out;
    }
    gid = db_cell_i64(&r, 0, 0);
    if (in->nphotos) {
        struct db_sqlb b;
        db_sqlb_init(cx, &b, 0, "[");
        for (size_t i = 0; i < in->nphotos; i++) {
            /* attach_media below rejects unknown ids; the alphabet keeps the JSON text sane. */
            if (strspn(in->photos[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789-_") != strlen(in->photos[i]) ||
                strlen(in->photos[i]) > 64) {
                res = rctx_fail(cx, ERR_INVALID, "photos[%zu]: not a media id", i);
                goto out;
            }
            db_sqlb_add(&b, i ? ",\"" : "\"");
            db_sqlb_add(&b, in->photos[i]);
            db_sqlb_add(&b, "\"");
        }
        db_sqlb_add(&b, "]");
        res = db_sqlb_check(&b);
        if (res)
            goto out;
        photos_json = b.sql;
    }
    res = db_exec(cx,
                  "INSERT INTO survey_items (survey_id, grid_id, inspector_id, lat, lng, answers,"
                  " photos, created_at) VALUES (?,?,?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBI(survey_id), DBI(gid), DBI(cx->who.user_id), DBF(in->lat),
                          DBF(in->lng), DBS(in->answers_json), DBS(photos_json), DBI(cx->now_ms)),
                  &r);
    if (res)
        goto out;
    iid = (int64_t)r.insert_id;
    if (in->nphotos)
        res = attach_media(cx, "survey_item", iid, "survey", in->photos, in->nphotos, 0);
    if (!res)
        res = audit_write(cx, "survey.item", "survey", survey_id, AUDIT_OK, NULL);
    if (!res)
        res = idem_complete(cx, idem, iid);
out:
    res = db_tx_end(cx, res);
    if (!res) {
        *item_id = iid;
        *grid_id = gid;
    }
    return res;
}
