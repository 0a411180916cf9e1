/* api/domain/case.c: reporting and the workflow actions (see case.h), and the internals shared
 * with the other case files (case_int.h). */
#include "api/domain/case.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "api/domain/attach.h"
#include "api/domain/audit.h"
#include "api/domain/case_int.h"
#include "api/domain/citizen.h"
#include "api/domain/citytime.h"
#include "api/domain/deadline.h"
#include "api/domain/geo.h"
#include "api/domain/idempotency.h"
#include "api/domain/lockout.h"
#include "api/domain/outbox.h"
#include "api/domain/points.h"
#include "api/domain/refdata.h"
#include "api/domain/rollup.h"
#include "api/domain/workflow.h"
#include "server/core/crashpoint.h"
#include "server/core/roles.h"
#include "server/db/db.h"

/* ---- internals (case_int.h) ------------------------------------------------------------ */

bool case__sees_all(const struct rctx *cx)
{
    return (cx->who.roles & (ROLE_OPERATOR | ROLE_SHIFT_LEAD | ROLE_DISPATCHER | ROLE_ADMIN)) != 0;
}

void case__visible(struct rctx *cx, struct db_sqlb *b)
{
    uint32_t r = cx->who.roles;

    if (case__sees_all(cx)) {
        db_sqlb_add(b, "(1 = 1)");
        return;
    }
    db_sqlb_add(b, "(c.reporter_id = ?");
    db_sqlb_arg(b, DBI(cx->who.user_id));
    if (r & ROLE_INSPECTOR) {
        /* A case outside every grid has no 责任监督员: every inspector may check it
         * (check_owner), so every inspector sees it and finds it in the task list. A 核实 may
         * be sent to an inspector of another grid: it sees what it holds (assignee). */
        db_sqlb_add(b, " OR c.grid_id IS NULL OR c.grid_id IN (SELECT ug.grid_id FROM user_grids"
                       " ug WHERE ug.user_id = ?) OR c.assignee_id = ?");
        db_sqlb_arg(b, DBI(cx->who.user_id));
        db_sqlb_arg(b, DBI(cx->who.user_id));
    }
    if (r & ROLE_HANDLER) {
        db_sqlb_add(b,
                    " OR c.department_id = (SELECT u.department_id FROM users u WHERE u.id = ?)");
        db_sqlb_arg(b, DBI(cx->who.user_id));
    }
    if (r & ROLE_LEADER) {
        /* Regions are at most four levels deep (city > district > street > community), so the
         * jurisdiction is the leader's region and up to three levels below it. */
        db_sqlb_add(b, " OR c.region_id IN (SELECT r0.id FROM regions r0"
                       " LEFT JOIN regions r1 ON r1.id = r0.parent_id"
                       " LEFT JOIN regions r2 ON r2.id = r1.parent_id"
                       " LEFT JOIN regions r3 ON r3.id = r2.parent_id"
                       " JOIN users lu ON lu.id = ? AND lu.region_id IS NOT NULL"
                       " WHERE lu.region_id IN (r0.id, r1.id, r2.id, r3.id))");
        db_sqlb_arg(b, DBI(cx->who.user_id));
    }
    db_sqlb_add(b, ")");
}

void case__number(int64_t id, int64_t created_ms, char out[24])
{
    struct citytime_civil t;

    citytime_civil(created_ms, refdata_utc_offset_last(), &t);
    /* Bounded so the compiler can see the result fits; years stay below 10000 (DATETIME). */
    snprintf(out, 24, "%04u%02u%02u-%06llu", (unsigned)t.year % 10000u, (unsigned)t.month % 100u,
             (unsigned)t.day % 100u, (unsigned long long)id % 1000000000000ull);
}

void case__row(const struct db_res *res, size_t row, size_t k, struct case_rec *r)
{
    memset(r, 0, sizeof *r);
    r->id = db_cell_i64(res, row, k + 0);
    r->code_set = db_cell(res, row, k + 1);
    r->kind = db_cell(res, row, k + 2);
    r->urgency = db_cell(res, row, k + 3);
    r->source = db_cell(res, row, k + 4);
    r->description = db_cell(res, row, k + 5);
    r->address = db_cell(res, row, k + 6);
    r->state = db_cell(res, row, k + 7);
    r->step = db_cell(res, row, k + 8);
    r->category_id = db_cell_i64(res, row, k + 9);
    r->category_code = db_cell(res, row, k + 10);
    r->category_name = db_cell(res, row, k + 11);
    r->major_name = db_cell(res, row, k + 12);
    r->lat = db_cell_f64(res, row, k + 13);
    r->lng = db_cell_f64(res, row, k + 14);
    r->has_accuracy = !db_cell_null(res, row, k + 15);
    r->accuracy_m = db_cell_f64(res, row, k + 15);
    r->grid_id = db_cell_i64(res, row, k + 16);
    r->region_id = db_cell_i64(res, row, k + 17);
    r->department_id = db_cell_i64(res, row, k + 18);
    r->assignee_id = db_cell_i64(res, row, k + 19);
    r->reporter_id = db_cell_i64(res, row, k + 20);
    r->duplicate_of = db_cell_i64(res, row, k + 21);
    r->version = db_cell_i64(res, row, k + 22);
    r->rework_count = db_cell_i64(res, row, k + 23);
    r->extension_hours = db_cell_i64(res, row, k + 24);
    r->extension_pending = db_cell_i64(res, row, k + 25) != 0;
    r->overdue = db_cell_i64(res, row, k + 26) != 0;
    r->alert_level = (int)db_cell_i64(res, row, k + 27);
    r->step_started_ms = db_cell_i64(res, row, k + 28);
    r->due_ms = db_cell_i64(res, row, k + 29);
    r->created_ms = db_cell_i64(res, row, k + 30);
    r->updated_ms = db_cell_i64(res, row, k + 31);
    r->closed_ms = db_cell_i64(res, row, k + 32);
    case__number(r->id, r->created_ms, r->case_no);
}

enum err case__my_department(struct rctx *cx, int64_t *dept)
{
    struct db_res r;
    enum err res = db_exec(cx, "SELECT department_id FROM users WHERE id = ?",
                           DB_ARGS(DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    *dept = r.nrows ? db_cell_i64(&r, 0, 0) : 0;
    return ERR_OK;
}

void case__urging_row(const struct db_res *r, size_t i, struct case_urging_rec *u)
{
    u->id = db_cell_i64(r, i, 0);
    u->case_id = db_cell_i64(r, i, 1);
    u->leader_id = db_cell_i64(r, i, 2);
    u->department_id = db_cell_i64(r, i, 3);
    u->acked_by = db_cell_i64(r, i, 4);
    u->note = db_cell(r, i, 5);
    u->ack_text = db_cell(r, i, 6);
    u->sent_ms = db_cell_i64(r, i, 7);
    u->read_ms = db_cell_i64(r, i, 8);
    u->acked_ms = db_cell_i64(r, i, 9);
}

static struct db_val ms_val(int64_t ms)
{
    return ms ? DBI(ms) : DBNULL;
}

enum err case__step_insert(struct rctx *cx, int64_t case_id, const char *action, const char *from,
                           const char *to, const char *actor_role, const char *text, int64_t dept,
                           int64_t assignee, const char *step, int64_t due_ms, const char *photos,
                           int64_t *step_id)
{
    struct db_res r;
    enum err res =
        db_exec(cx,
                "INSERT INTO case_steps (case_id, action, from_state, to_state, actor_id,"
                " actor_role, text, department_id, assignee_id, step, due_at, photos,"
                " created_at) VALUES (?,?,?,?,?,?,?,?,?,?,FROM_UNIXTIME(? / 1000),?,"
                "FROM_UNIXTIME(? / 1000))",
                DB_ARGS(DBI(case_id), DBS(action), DBS(from), DBS(to),
                        cx->who.user_id ? DBI(cx->who.user_id) : DBNULL, DBS(actor_role), DBS(text),
                        dept ? DBI(dept) : DBNULL, assignee ? DBI(assignee) : DBNULL,
                        DBS(step ? step : "none"), ms_val(due_ms), DBS(photos ? photos : "[]"),
                        DBI(cx->now_ms)),
                &r);
    if (!res)
        *step_id = (int64_t)r.insert_id;
    return res;
}

enum err case__step_add(struct rctx *cx, int64_t case_id, const char *action, const char *from,
                        const char *to, const char *actor_role, const char *text, int64_t dept,
                        int64_t assignee, const char *step, int64_t due_ms, const char *photos)
{
    int64_t step_id = 0, off_ms = 0;
    enum err res = case__step_insert(cx, case_id, action, from, to, actor_role, text, dept,
                                     assignee, step, due_ms, photos, &step_id);

    /* The dashboard rollups follow every timeline row in the same transaction (rollup.h), in
     * the local day of the city's offset. */
    if (!res)
        res = refdata_utc_offset(cx, &off_ms);
    return res ? res : rollup_step(cx, step_id, off_ms);
}

const char *case__actor_role(const struct rctx *cx, uint32_t rule_roles)
{
    uint32_t mine = cx->who.roles & rule_roles;

    if (!mine)
        mine = cx->who.roles;
    for (size_t i = 0; i < role_count(); i++)
        if (mine & role_at(i))
            return role_name(role_at(i));
    return "system";
}

/* ---- shared helpers -------------------------------------------------------------------- */

/* Media public ids go into JSON text and SQL arguments: only the id alphabet is accepted. */
static enum err check_photos(struct rctx *cx, const char *const *ids, size_t n, const char **json)
{
    struct db_sqlb b;

    if (n > CASE_PHOTOS_MAX)
        return rctx_fail(cx, ERR_INVALID, "photos: at most %d", CASE_PHOTOS_MAX);
    db_sqlb_init(cx, &b, 0, "[");
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(ids[i]);
        if (len == 0 || len > 64)
            return rctx_fail(cx, ERR_INVALID, "photos[%zu]: not a media id", i);
        for (size_t k = 0; k < len; k++) {
            char ch = ids[i][k];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
                return rctx_fail(cx, ERR_INVALID, "photos[%zu]: not a media id", i);
        }
        db_sqlb_add(&b, i ? ",\"" : "\"");
        db_sqlb_add(&b, ids[i]);
        db_sqlb_add(&b, "\"");
    }
    db_sqlb_add(&b, "]");
    if (!db_sqlb_ok(&b))
        return db_sqlb_check(&b);
    *json = b.sql;
    return ERR_OK;
}

struct cat_limits {
    int64_t id, department_id;
    const char *code_set, *kind;
    struct deadline_limits lim;
    bool active;
    bool photo_required; /* from the in-process copy (find_category); not read by cat_row */
};

#define CAT_LIMIT_COLS                                                                             \
    "cat.id, cat.code_set, cat.kind, cat.limit_register_min, cat.limit_dispatch_min,"              \
    " cat.limit_handle, cat.limit_handle_unit, cat.limit_verify_min, cat.limit_close_min,"         \
    " cat.urgent, cat.active, cat.department_id"

static enum err cat_row(struct rctx *cx, const struct db_res *r, size_t k, struct cat_limits *c)
{
    const char *unit = db_cell(r, 0, k + 6);

    c->id = db_cell_i64(r, 0, k + 0);
    c->code_set = db_cell(r, 0, k + 1);
    c->kind = db_cell(r, 0, k + 2);
    c->lim.register_min = (int)db_cell_i64(r, 0, k + 3);
    c->lim.dispatch_min = (int)db_cell_i64(r, 0, k + 4);
    c->lim.handle = (int)db_cell_i64(r, 0, k + 5);
    if (calendar_unit_from_name(unit, strlen(unit), &c->lim.handle_unit))
        return rctx_fail(cx, ERR_INTERNAL, "category %lld has an unknown unit", (long long)c->id);
    c->lim.verify_min = (int)db_cell_i64(r, 0, k + 7);
    c->lim.close_min = (int)db_cell_i64(r, 0, k + 8);
    c->lim.urgent = db_cell_i64(r, 0, k + 9) != 0;
    c->active = db_cell_i64(r, 0, k + 10) != 0;
    c->department_id = db_cell_i64(r, 0, k + 11);
    return ERR_OK;
}

/* The category a report names, from the in-process copy (refdata.h). */
static enum err find_category(struct rctx *cx, const struct refdata_view *v,
                              const struct case_report *in, struct cat_limits *c)
{
    struct refdata_category k[2];
    size_t n;

    if (!in->category_id && !(in->code_set && in->full_code))
        return rctx_fail(cx, ERR_INVALID, "category_id, or code_set with full_code, is required");
    n = refdata_categories_find(v, in->category_id, in->code_set, in->full_code, in->kind, k);
    if (n == 0)
        return rctx_fail(cx, ERR_INVALID, "category: no such category");
    if (n > 1)
        return rctx_fail(cx, ERR_INVALID,
                         "category: the code exists as component and event; give kind");
    c->id = k[0].id;
    c->department_id = k[0].department_id;
    c->code_set = k[0].code_set;
    c->kind = k[0].kind;
    c->lim = k[0].lim;
    c->active = k[0].active;
    c->photo_required = k[0].photo_required;
    if (!c->active)
        return rctx_fail(cx, ERR_INVALID, "category: no longer in use");
    return ERR_OK;
}

/* ---- reporting ------------------------------------------------------------------------- */

static enum err pick_source(struct rctx *cx, const char *want, const char **out)
{
    static const struct {
        uint32_t role;
        const char *dflt;
        const char *allowed[3];
    } by_role[] = {
        {ROLE_INSPECTOR, "inspector", {"inspector", NULL}},
        {ROLE_LEADER, "leader", {"leader", NULL}},
        {ROLE_MACHINE, "hotline", {"hotline", "video_ai", NULL}},
        {ROLE_OPERATOR, "hotline", {"hotline", NULL}},
        {ROLE_CITIZEN, "citizen", {"citizen", NULL}},
    };

    for (size_t i = 0; i < sizeof by_role / sizeof by_role[0]; i++) {
        if (!(cx->who.roles & by_role[i].role))
            continue;
        if (!want) {
            *out = by_role[i].dflt;
            return ERR_OK;
        }
        for (size_t k = 0; by_role[i].allowed[k]; k++) {
            if (strcmp(by_role[i].allowed[k], want) == 0) {
                *out = by_role[i].allowed[k];
                return ERR_OK;
            }
        }
    }
    if (want)
        return rctx_fail(cx, ERR_INVALID, "source: %.16s is not allowed for your role", want);
    return rctx_fail(cx, ERR_FORBIDDEN, "your role may not report cases");
}

static enum err check_report(struct rctx *cx, const struct case_report *in)
{
    if (!in->description || in->description[0] == '\0')
        return rctx_fail(cx, ERR_INVALID, "description: required");
    if (strlen(in->description) > CASE_DESC_MAX)
        return rctx_fail(cx, ERR_INVALID, "description: at most %d bytes", CASE_DESC_MAX);
    if (!geo_in_range(in->lat, in->lng))
        return rctx_fail(cx, ERR_INVALID,
                         "location: lat must be between -90 and 90, lng between -180 and 180");
    if (in->address && strlen(in->address) > CASE_ADDR_MAX)
        return rctx_fail(cx, ERR_INVALID, "location.address: at most %d bytes", CASE_ADDR_MAX);
    if (in->urgency && strcmp(in->urgency, "normal") != 0 && strcmp(in->urgency, "urgent") != 0)
        return rctx_fail(cx, ERR_INVALID, "urgency: normal or urgent");
    if (in->kind && strcmp(in->kind, "component") != 0 && strcmp(in->kind, "event") != 0)
        return rctx_fail(cx, ERR_INVALID, "kind: component or event");
    return ERR_OK;
}

/* Where and when a case was reported, and its category: what the duplicate search needs. */
struct dup_probe {
    double lat, lng;
    int64_t category_id, created_ms;
};

/* known is the report just made (d then holds the settings it read); NULL for a replayed report,
 * whose case and settings are read here. */
static enum err find_dups(struct rctx *cx, int64_t id, struct deadline_ctx *d,
                          const struct dup_probe *known, struct case_created *out)
{
    struct dup_probe stored;
    struct db_res r;
    enum err res;

    out->ndups = 0;
    out->dups = NULL;
    if (!known) {
        res = refdata_deadline_load(cx, d);
        if (res)
            return res;
        if (d->dup_radius_m <= 0)
            return ERR_OK;
        /* clang-format off */
        res = db_exec(cx,
                      "SELECT lat, lng, category_id, " CASE__MS("created_at")
                      " FROM cases WHERE id = ?",
                      DB_ARGS(DBI(id)), &r);
        /* clang-format on */
        if (res || r.nrows == 0)
            return res;
        stored.lat = db_cell_f64(&r, 0, 0);
        stored.lng = db_cell_f64(&r, 0, 1);
        stored.category_id = db_cell_i64(&r, 0, 2);
        stored.created_ms = db_cell_i64(&r, 0, 3);
        known = &stored;
    }
    if (d->dup_radius_m <= 0)
        return ERR_OK;
    /* Search with constants: with the box, category and time window as values MariaDB cuts
     * with the spatial index first; joined to the new row it preferred the category index and
     * scanned every open case of the category (bench/cases.sh). */
    {
        double lat = known->lat, lng = known->lng;
        int64_t cat = known->category_id, created = known->created_ms;
        /* One degree of latitude is about 110.5 km; longitude shrinks with cos(lat). */
        double dlat = d->dup_radius_m / 110540.0;
        double dlng = d->dup_radius_m / (111320.0 * cos(lat * M_PI / 180.0) + 1.0);
        char box[200], pt[64];

        snprintf(box, sizeof box, "POLYGON((%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f))",
                 lng - dlng, lat - dlat, lng + dlng, lat - dlat, lng + dlng, lat + dlat, lng - dlng,
                 lat + dlat, lng - dlng, lat - dlat);
        snprintf(pt, sizeof pt, "POINT(%.7f %.7f)", lng, lat);
        struct db_sqlb b;

        /* Only cases the reporter may see: a citizen gets their own, never other people's. */
        /* clang-format off */
        db_sqlb_init(cx, &b, 0,
                     "SELECT c.id, c.state, ST_Distance_Sphere(c.pt, ST_GeomFromText(?)) AS dist, "
                     CASE__MS("c.created_at") " FROM cases c"
                     " WHERE MBRContains(ST_GeomFromText(?), c.pt) AND c.category_id = ?"
                     " AND c.id <> ? AND c.state IN ('reported','confirming','accepted',"
                     "'registered','dispatched','handled','verified','suspended')"
                     " AND c.created_at >= FROM_UNIXTIME(? / 1000)"
                     " AND c.created_at <= FROM_UNIXTIME(? / 1000) AND ");
        /* clang-format on */
        db_sqlb_arg(&b, DBS(pt));
        db_sqlb_arg(&b, DBS(box));
        db_sqlb_arg(&b, DBI(cat));
        db_sqlb_arg(&b, DBI(id));
        db_sqlb_arg(&b, DBI(created - (int64_t)d->dup_window_h * 3600000));
        db_sqlb_arg(&b, DBI(created));
        case__visible(cx, &b);
        db_sqlb_add(&b, " HAVING dist <= ? ORDER BY dist, c.id LIMIT ?");
        db_sqlb_arg(&b, DBF(d->dup_radius_m));
        db_sqlb_arg(&b, DBI(CASE_DUPS_MAX));
        res = db_sqlb_exec(&b, &r);
    }
    if (res)
        return res;
    out->ndups = r.nrows;
    out->dups = rctx_zalloc(cx, (r.nrows + 1) * sizeof *out->dups);
    for (size_t i = 0; i < r.nrows; i++) {
        struct case_dup *p = &out->dups[i];
        p->id = db_cell_i64(&r, i, 0);
        p->state = db_cell(&r, i, 1);
        p->distance_m = db_cell_f64(&r, i, 2);
        p->created_ms = db_cell_i64(&r, i, 3);
        case__number(p->id, p->created_ms, p->case_no);
    }
    return ERR_OK;
}

enum err case_report_create(struct rctx *cx, const struct case_report *in, struct idem *idem,
                            struct case_created *out)
{
    struct deadline_ctx *d = rctx_alloc(cx, sizeof *d);
    struct deadline_points pts;
    struct refdata_view ref;
    struct dup_probe probe;
    struct cat_limits cat;
    struct db_res r;
    const char *source = NULL, *photos_json = "[]";
    char wkt[96], payload[256], src[LOCKOUT_SOURCE_MAX] = "";
    int64_t grid = 0, region = 0, id = 0, step_id = 0;
    enum err res;

    memset(out, 0, sizeof *out);
    res = check_report(cx, in);
    if (!res)
        res = pick_source(cx, in->source, &source);
    if (!res)
        res = check_photos(cx, in->photos, in->nphotos, &photos_json);
    if (res)
        return res;
    snprintf(wkt, sizeof wkt, "POINT(%.7f %.7f)", in->lng, in->lat);

    res = db_tx_begin(cx);
    if (res)
        return res;
    res = idem_claim(cx, idem);
    if (res)
        goto out;
    if (idem->replay) {
        id = idem->result_id;
        out->replay = true;
        goto out;
    }
    /* 随手拍 limits (citizen.h): new reports only, a replay never gets here. First, before
     * anything else reads (citizen.h). */
    if (strcmp(source, "citizen") == 0) {
        lockout_source(cx->ip, src);
        res = citizen_report_check(cx, src);
        if (res)
            goto out;
    }
    /* Category, grid, settings and calendar come from the in-process copies, checked against
     * the change counters by one statement (refdata.h). */
    res = refdata_open(cx, &ref);
    if (!res)
        res = find_category(cx, &ref, in, &cat);
    if (res)
        goto out;
    if (in->nphotos == 0 && cat.photo_required &&
        (strcmp(source, "citizen") == 0 || strcmp(source, "inspector") == 0)) {
        res = rctx_fail(cx, ERR_INVALID, "photos: this category needs at least one photo");
        goto out;
    }
    if (in->urgency && strcmp(in->urgency, "urgent") == 0)
        cat.lim.urgent = true;
    if (!refdata_grid_of(&ref, in->lat, in->lng, &grid, &region))
        grid = region = 0;
    /* The 立案时限 runs from the report: 受理 and 立案 share it (see case_act for accept). */
    refdata_deadline_ctx(&ref, d);
    res = deadline_compute(cx, d, &cat.lim, WORKFLOW_STEP_REGISTER, cx->now_ms, &pts);
    if (res)
        goto out;
    res = db_exec(
        cx,
        "INSERT INTO cases (code_set, category_id, kind, urgency, source, description, lat, lng,"
        " accuracy_m, address, pt, grid_id, region_id, reporter_id, state, step, step_started_at,"
        " due_at, remind50_at, remind80_at, escalate_at, next_alert_at, created_at, updated_at,"
        " source_ip) VALUES (?,?,?,?,?,?,?,?,?,?,ST_GeomFromText(?),?,?,?,'reported',?,"
        "FROM_UNIXTIME(? / 1000),FROM_UNIXTIME(? / 1000),FROM_UNIXTIME(? / 1000),"
        "FROM_UNIXTIME(? / 1000),FROM_UNIXTIME(? / 1000),FROM_UNIXTIME(? / 1000),"
        "FROM_UNIXTIME(? / 1000),FROM_UNIXTIME(? / 1000),?)",
        DB_ARGS(DBS(cat.code_set), DBI(cat.id), DBS(cat.kind),
                DBS(in->urgency ? in->urgency : "normal"), DBS(source), DBS(in->description),
                DBF(in->lat), DBF(in->lng), in->accuracy_m >= 0 ? DBF(in->accuracy_m) : DBNULL,
                DBS(in->address), DBS(wkt), grid ? DBI(grid) : DBNULL,
                region ? DBI(region) : DBNULL, cx->who.user_id ? DBI(cx->who.user_id) : DBNULL,
                DBS(workflow_step_name(WORKFLOW_STEP_REGISTER)), DBI(pts.start_ms),
                ms_val(pts.due_ms), ms_val(pts.remind50_ms), ms_val(pts.remind80_ms),
                ms_val(pts.escalate_ms), ms_val(pts.remind50_ms), DBI(cx->now_ms), DBI(cx->now_ms),
                src[0] ? DBS(src) : DBNULL),
        &r);
    if (res)
        goto out;
    id = (int64_t)r.insert_id;
    res = case__step_insert(cx, id, "report", NULL, "reported", case__actor_role(cx, ROLE_ANY),
                            NULL, 0, 0, workflow_step_name(WORKFLOW_STEP_REGISTER), pts.due_ms,
                            photos_json, &step_id);
    if (!res && in->nphotos)
        res = attach_media(cx, "case", id, "report", in->photos, in->nphotos, 0);
    if (res)
        goto out;
    snprintf(payload, sizeof payload,
             "{\"case_id\":%lld,\"category_id\":%lld,\"source\":\"%s\",\"grid_id\":%lld,"
             "\"state\":\"reported\"}",
             (long long)id, (long long)cat.id, source, (long long)grid);
    res = outbox_record_change(cx, "case.reported", "case", id, payload, "case.report", idem, id);
    /* The rollups last: most of their rows (the city's day, its tiles) are shared by every
     * report, and a row stays locked from its upsert to COMMIT. */
    if (!res)
        res = rollup_step(cx, step_id, refdata_utc_offset_ms(&ref));
out:
    res = db_tx_end(cx, res);
    if (res)
        return res;
    out->id = id;
    if (out->replay)
        return find_dups(cx, id, d, NULL, out);
    /* The case just written: its place, category and time are known, no need to read it. */
    probe.lat = in->lat;
    probe.lng = in->lng;
    probe.category_id = cat.id;
    probe.created_ms = cx->now_ms;
    return find_dups(cx, id, d, &probe, out);
}

/* ---- workflow actions ------------------------------------------------------------------ */

enum {
    F_TEXT = 1,
    F_DEPT = 2,
    F_ASSIGNEE = 4,
    F_DUP = 8,
    F_EXT = 16,
    F_PHOTOS = 32,
    F_INSPECTOR = 64
};

/* Which fields each action takes and needs (case.h). */
static const struct {
    unsigned takes, needs;
    const char *purpose; /* media purpose of its photos */
} action_fields[CASE_ACTION__COUNT] = {
    [CASE_ACT_ACCEPT] = {F_TEXT, 0, NULL},
    [CASE_ACT_REGISTER] = {F_TEXT, 0, NULL},
    [CASE_ACT_INVALIDATE] = {F_TEXT, F_TEXT, NULL},
    [CASE_ACT_DISPATCH] = {F_TEXT | F_DEPT | F_ASSIGNEE, F_DEPT, NULL},
    [CASE_ACT_RETURN] = {F_TEXT, F_TEXT, NULL},
    [CASE_ACT_HANDLE] = {F_TEXT | F_PHOTOS, F_TEXT, "handle"},
    [CASE_ACT_VERIFY_PASS] = {F_TEXT | F_PHOTOS, 0, "verify"},
    [CASE_ACT_VERIFY_FAIL] = {F_TEXT | F_PHOTOS, F_TEXT, "verify"},
    [CASE_ACT_CLOSE] = {F_TEXT, 0, NULL},
    [CASE_ACT_REQUEST_EXTENSION] = {F_TEXT | F_EXT, F_EXT, NULL},
    [CASE_ACT_APPROVE_EXTENSION] = {F_TEXT | F_EXT, 0, NULL},
    [CASE_ACT_REJECT_EXTENSION] = {F_TEXT, F_TEXT, NULL},
    [CASE_ACT_SUSPEND] = {F_TEXT, 0, NULL},
    [CASE_ACT_RESUME] = {F_TEXT, 0, NULL},
    [CASE_ACT_REOPEN] = {F_TEXT, F_TEXT, NULL},
    [CASE_ACT_MERGE] = {F_TEXT | F_DUP, F_DUP, NULL},
    [CASE_ACT_NOT_FIXED] = {F_TEXT | F_PHOTOS, F_TEXT, "not_fixed"},
    [CASE_ACT_REQUEST_CONFIRMATION] = {F_TEXT | F_INSPECTOR, F_INSPECTOR, NULL},
    [CASE_ACT_CONFIRM] = {F_TEXT | F_PHOTOS, 0, "confirm"},
    [CASE_ACT_DENY] = {F_TEXT | F_PHOTOS, 0, "confirm"},
};

static enum err check_action_fields(struct rctx *cx, enum case_action a,
                                    const struct case_action_in *in)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{F_TEXT, "text"},
                 {F_DEPT, "department_id"},
                 {F_ASSIGNEE, "assignee_id"},
                 {F_DUP, "duplicate_of"},
                 {F_EXT, "extension_hours"},
                 {F_PHOTOS, "photos"},
                 {F_INSPECTOR, "inspector_id"}};
    unsigned given = (in->text ? F_TEXT : 0) | (in->department_id ? F_DEPT : 0) |
                     (in->assignee_id ? F_ASSIGNEE : 0) | (in->duplicate_of ? F_DUP : 0) |
                     (in->extension_hours ? F_EXT : 0) | (in->has_photos ? F_PHOTOS : 0) |
                     (in->inspector_id ? F_INSPECTOR : 0);

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((given & names[i].bit) && !(action_fields[a].takes & names[i].bit))
            return rctx_fail(cx, ERR_INVALID, "%s: not accepted for %s", names[i].name,
                             case_action_name(a));
        if (!(given & names[i].bit) && (action_fields[a].needs & names[i].bit))
            return rctx_fail(cx, ERR_INVALID, "%s: required for %s", names[i].name,
                             case_action_name(a));
    }
    if (in->text && strlen(in->text) > CASE_TEXT_MAX)
        return rctx_fail(cx, ERR_INVALID, "text: at most %d bytes", CASE_TEXT_MAX);
    if (in->text && in->text[0] == '\0' && (action_fields[a].needs & F_TEXT))
        return rctx_fail(cx, ERR_INVALID, "text: required for %s", case_action_name(a));
    if (in->extension_hours < 0 || in->extension_hours > CASE_EXT_HOURS_MAX)
        return rctx_fail(cx, ERR_INVALID, "extension_hours: 1 to %d", CASE_EXT_HOURS_MAX);
    return ERR_OK;
}

/* The case as loaded for a change, and what the change makes of it. */
struct case_change {
    struct case_rec c;
    struct cat_limits cat;
    struct deadline_points pts;
    /* new values */
    const char *state, *step;
    int64_t dept, assignee, dup, ext_hours;
    bool ext_pending;
    int64_t rework;
    int level;
    bool overdue;
    int64_t closed_ms;
};

static enum err load_locked(struct rctx *cx, int64_t id, struct case_change *w)
{
    struct db_sqlb b;
    struct db_res r;
    enum err res;

    /* Lock the case row alone: a join would also lock its category row and serialise every
     * case of that 小类. */
    db_sqlb_init(cx, &b, 0, "SELECT c.id FROM cases c WHERE c.id = ? AND ");
    db_sqlb_arg(&b, DBI(id));
    case__visible(cx, &b);
    db_sqlb_add(&b, " FOR UPDATE");
    res = db_sqlb_exec(&b, &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such case");
    /* A locking read sees the latest committed row whatever the transaction's snapshot. */
    /* clang-format off */
    res = db_exec(cx,
                  "SELECT " CASE__COLS ", " CAT_LIMIT_COLS ", " CASE__MS("c.remind50_at") ", "
                  CASE__MS("c.remind80_at") ", " CASE__MS("c.escalate_at") ","
                  " cat.limit_confirm_min"
                  CASE__FROM " WHERE c.id = ? LOCK IN SHARE MODE",
                  DB_ARGS(DBI(id)), &r);
    /* clang-format on */
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such case");
    case__row(&r, 0, 0, &w->c);
    res = cat_row(cx, &r, CASE__NCOLS, &w->cat);
    if (res)
        return res;
    if (strcmp(w->c.urgency, "urgent") == 0)
        w->cat.lim.urgent = true;
    w->pts.start_ms = w->c.step_started_ms;
    w->pts.due_ms = w->c.due_ms;
    w->pts.remind50_ms = db_cell_i64(&r, 0, CASE__NCOLS + 12);
    w->pts.remind80_ms = db_cell_i64(&r, 0, CASE__NCOLS + 13);
    w->pts.escalate_ms = db_cell_i64(&r, 0, CASE__NCOLS + 14);
    w->cat.lim.confirm_min = (int)db_cell_i64(&r, 0, CASE__NCOLS + 15);
    w->state = w->c.state;
    w->step = w->c.step;
    w->dept = w->c.department_id;
    w->assignee = w->c.assignee_id;
    w->dup = w->c.duplicate_of;
    w->ext_hours = w->c.extension_hours;
    w->ext_pending = w->c.extension_pending;
    w->rework = w->c.rework_count;
    w->level = w->c.alert_level;
    w->overdue = w->c.overdue;
    w->closed_ms = w->c.closed_ms;
    return ERR_OK;
}

/* Object rules beyond the role: whose case it is. */
static enum err check_owner(struct rctx *cx, enum case_action a, const struct workflow_rule *rule,
                            const struct case_change *w)
{
    struct db_res r;
    enum err res;

    if ((rule->roles & ROLE_HANDLER) && !(cx->who.roles & (rule->roles & ~ROLE_HANDLER))) {
        int64_t mine = 0;
        res = case__my_department(cx, &mine);
        if (res)
            return res;
        if (!mine || mine != w->c.department_id)
            return rctx_fail(cx, ERR_FORBIDDEN, "the case is not dispatched to your department");
    }
    if (a == CASE_ACT_CONFIRM || a == CASE_ACT_DENY) {
        /* 核实 is the task of the inspector it was sent to, and of no other. */
        if (w->c.assignee_id != cx->who.user_id)
            return rctx_fail(cx, ERR_FORBIDDEN, "the confirmation was sent to another inspector");
        return ERR_OK;
    }
    if (a == CASE_ACT_VERIFY_PASS || a == CASE_ACT_VERIFY_FAIL) {
        /* A case outside every grid has no 责任监督员: any inspector may check it. */
        if (!w->c.grid_id)
            return ERR_OK;
        res = db_exec(cx, "SELECT 1 FROM user_grids WHERE user_id = ? AND grid_id = ?",
                      DB_ARGS(DBI(cx->who.user_id), DBI(w->c.grid_id)), &r);
        if (res)
            return res;
        if (r.nrows == 0)
            return rctx_fail(cx, ERR_FORBIDDEN, "the case is not in your grids");
    }
    return ERR_OK;
}

static enum err check_dispatch_target(struct rctx *cx, int64_t dept, int64_t assignee)
{
    struct db_res r;
    enum err res = db_exec(cx, "SELECT 1 FROM departments WHERE id = ? AND active = 1",
                           DB_ARGS(DBI(dept)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_INVALID, "department_id: no such department");
    if (!assignee)
        return ERR_OK;
    res = db_exec(cx,
                  "SELECT 1 FROM users WHERE id = ? AND department_id = ? AND (roles & ?) <> 0"
                  " AND disabled = 0",
                  DB_ARGS(DBI(assignee), DBI(dept), DBI(ROLE_HANDLER)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_INVALID, "assignee_id: not a handler of that department");
    return ERR_OK;
}

/* The inspector a 核实 is sent to: an enabled user holding the inspector role. Any such
 * inspector may be chosen (typically, not necessarily, the one whose grid holds the place). */
static enum err check_confirm_target(struct rctx *cx, int64_t inspector)
{
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT 1 FROM users WHERE id = ? AND (roles & ?) <> 0 AND disabled = 0",
                DB_ARGS(DBI(inspector), DBI(ROLE_INSPECTOR)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_INVALID, "inspector_id: not an active inspector");
    return ERR_OK;
}

static enum err check_merge_target(struct rctx *cx, int64_t id, int64_t target)
{
    struct db_sqlb b;
    struct db_res r;
    enum err res;

    if (target == id)
        return rctx_fail(cx, ERR_INVALID, "duplicate_of: a case cannot duplicate itself");
    db_sqlb_init(cx, &b, 0, "SELECT c.state FROM cases c WHERE c.id = ? AND ");
    db_sqlb_arg(&b, DBI(target));
    case__visible(cx, &b);
    res = db_sqlb_exec(&b, &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_INVALID, "duplicate_of: no such case");
    if (strcmp(db_cell(&r, 0, 0), "merged") == 0 || strcmp(db_cell(&r, 0, 0), "invalid") == 0)
        return rctx_fail(cx, ERR_INVALID, "duplicate_of: that case is %s", db_cell(&r, 0, 0));
    return ERR_OK;
}

/* Write w's new values, the timeline row, photos and the event for action a. */
static enum err apply(struct rctx *cx, struct case_change *w, enum case_action a, const char *role,
                      const char *text, const char *photos_json, const char *const *photos,
                      size_t nphotos)
{
    char payload[320];
    enum err res;

    res = db_exec(
        cx,
        "UPDATE cases SET state = ?, version = version + 1, department_id = ?, assignee_id = ?,"
        " rework_count = ?, extension_pending = ?, extension_hours = ?, duplicate_of = ?,"
        " step = ?, step_started_at = FROM_UNIXTIME(? / 1000), due_at = FROM_UNIXTIME(? / 1000),"
        " remind50_at = FROM_UNIXTIME(? / 1000), remind80_at = FROM_UNIXTIME(? / 1000),"
        " escalate_at = FROM_UNIXTIME(? / 1000), next_alert_at = FROM_UNIXTIME(? / 1000),"
        " alert_level = ?, overdue = ?, closed_at = FROM_UNIXTIME(? / 1000),"
        " updated_at = FROM_UNIXTIME(? / 1000) WHERE id = ?",
        DB_ARGS(DBS(w->state), w->dept ? DBI(w->dept) : DBNULL,
                w->assignee ? DBI(w->assignee) : DBNULL, DBI(w->rework), DBI(w->ext_pending),
                w->ext_hours ? DBI(w->ext_hours) : DBNULL, w->dup ? DBI(w->dup) : DBNULL,
                DBS(w->step), ms_val(w->pts.start_ms), ms_val(w->pts.due_ms),
                ms_val(w->pts.remind50_ms), ms_val(w->pts.remind80_ms), ms_val(w->pts.escalate_ms),
                ms_val(deadline_next_point(&w->pts, w->level)), DBI(w->level), DBI(w->overdue),
                ms_val(w->closed_ms), DBI(cx->now_ms), DBI(w->c.id)),
        NULL);
    if (!res)
        res = case__step_add(cx, w->c.id, case_action_name(a), w->c.state, w->state, role, text,
                             w->dept, w->assignee, w->step, w->pts.due_ms, photos_json);
    if (!res && nphotos)
        res = attach_media(cx, "case", w->c.id, action_fields[a].purpose, photos, nphotos, 0);
    if (res)
        return res;
    snprintf(payload, sizeof payload,
             "{\"case_id\":%lld,\"action\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
             "\"version\":%lld,\"department_id\":%lld,\"due_at_ms\":%lld}",
             (long long)w->c.id, case_action_name(a), w->c.state, w->state,
             (long long)(w->c.version + 1), (long long)w->dept, (long long)w->pts.due_ms);
    res = outbox_add(cx, workflow_event_name(a), "case", w->c.id, payload, NULL);
    if (res)
        return res;
    /* What was written is now the case as loaded, for a following automatic step. */
    w->c.state = w->state;
    w->c.step = w->step;
    w->c.version++;
    w->c.department_id = w->dept;
    w->c.assignee_id = w->assignee;
    return ERR_OK;
}

/* New deadline on entering rule->to. */
static enum err next_deadline(struct rctx *cx, struct deadline_ctx *d, enum case_action a,
                              const struct workflow_rule *rule, struct case_change *w)
{
    enum err res;

    if (a == CASE_ACT_ACCEPT && strcmp(w->c.step, workflow_step_name(rule->starts)) == 0 &&
        w->c.due_ms)
        return ERR_OK; /* the 立案时限 started at the report and keeps running */
    if (rule->starts != WORKFLOW_STEP_NONE) {
        res = deadline_compute(cx, d, &w->cat.lim, rule->starts, cx->now_ms, &w->pts);
        if (res)
            return res;
        w->step = workflow_step_name(rule->starts);
        w->level = 0;
        w->overdue = false;
        return ERR_OK;
    }
    if (workflow_step_of(rule->to) == WORKFLOW_STEP_NONE) {
        memset(&w->pts, 0, sizeof w->pts);
        w->step = workflow_step_name(WORKFLOW_STEP_NONE);
        w->level = 0;
        w->overdue = false;
    }
    return ERR_OK;
}

/* 属地 + 专业: the most specific dispatch rule for the case, if any. */
static enum err dispatch_rule(struct rctx *cx, int64_t category, int64_t grid, int64_t *dept,
                              bool *autom)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT r.department_id, r.auto FROM dispatch_rules r JOIN departments"
                           " d ON d.id = r.department_id AND d.active = 1 WHERE (r.category_id = ?"
                           " OR r.category_id IS NULL) AND (r.grid_id = ? OR r.grid_id IS NULL)"
                           " ORDER BY (r.category_id IS NOT NULL) DESC, (r.grid_id IS NOT NULL)"
                           " DESC, r.id LIMIT 1",
                           DB_ARGS(DBI(category), grid ? DBI(grid) : DBNULL), &r);
    if (res)
        return res;
    *dept = r.nrows ? db_cell_i64(&r, 0, 0) : 0;
    *autom = r.nrows ? db_cell_i64(&r, 0, 1) != 0 : false;
    return ERR_OK;
}

enum err case__dispatch_suggestion(struct rctx *cx, int64_t category, int64_t grid,
                                   int64_t cat_dept, int64_t *dept)
{
    bool autom;
    enum err res = dispatch_rule(cx, category, grid, dept, &autom);
    if (!res && !*dept)
        *dept = cat_dept;
    return res;
}

static enum err auto_dispatch(struct rctx *cx, struct deadline_ctx *d, struct case_change *w)
{
    const struct workflow_rule *rule = workflow_rule_find(CASE_REGISTERED, CASE_ACT_DISPATCH);
    int64_t dept = 0;
    bool autom = false;
    enum err res = dispatch_rule(cx, w->c.category_id, w->c.grid_id, &dept, &autom);

    if (res || !autom || !dept || !rule)
        return res;
    w->state = case_state_name(rule->to);
    w->dept = dept;
    w->assignee = 0;
    res = next_deadline(cx, d, CASE_ACT_DISPATCH, rule, w);
    if (!res)
        res = apply(cx, w, CASE_ACT_DISPATCH, "system", "auto dispatch rule", NULL, NULL, 0);
    return res;
}

enum err case_act(struct rctx *cx, int64_t case_id, const struct case_action_in *in,
                  struct idem *idem, bool *replay)
{
    struct deadline_ctx *d = rctx_alloc(cx, sizeof *d);
    struct case_change *w = rctx_zalloc(cx, sizeof *w);
    const struct workflow_rule *rule;
    enum case_action a;
    enum case_state from, to;
    const char *photos_json = NULL;
    bool pending_after = false;
    char detail[96];
    enum err res;

    *replay = false;
    if (!in->action || case_action_from_name(in->action, strlen(in->action), &a))
        return rctx_fail(cx, ERR_INVALID, "action: unknown action");
    res = check_action_fields(cx, a, in);
    if (!res && in->has_photos)
        res = check_photos(cx, in->photos, in->nphotos, &photos_json);
    if (res)
        return res;

    res = db_tx_begin(cx);
    if (res)
        return res;
    res = idem_claim(cx, idem);
    if (res)
        goto out;
    if (idem->replay) {
        *replay = true;
        goto out;
    }
    res = load_locked(cx, case_id, w);
    if (res)
        goto out;
    if (w->c.version != in->version) {
        res = rctx_fail(cx, ERR_CONFLICT, "the case changed: version is %lld, not %lld",
                        (long long)w->c.version, (long long)in->version);
        goto out;
    }
    if (case_state_from_name(w->c.state, strlen(w->c.state), &from)) {
        res = rctx_fail(cx, ERR_INTERNAL, "case %lld has an unknown state", (long long)case_id);
        goto out;
    }
    res = workflow_next(from, a, cx->who.roles, &to);
    if (res == ERR_BAD_STATE)
        res = rctx_fail(cx, ERR_BAD_STATE, "%s is not allowed while the case is %s",
                        case_action_name(a), w->c.state);
    else if (res == ERR_FORBIDDEN)
        res = rctx_fail(cx, ERR_FORBIDDEN, "your role may not %s", case_action_name(a));
    if (res)
        goto out;
    rule = workflow_rule_find(from, a);
    res = workflow_extension_next(a, w->c.extension_pending, &pending_after);
    if (res) {
        res = rctx_fail(cx, ERR_BAD_STATE,
                        w->c.extension_pending ? "an extension request is already pending"
                                               : "no extension request is pending");
        goto out;
    }
    res = check_owner(cx, a, rule, w);
    if (res)
        goto out;

    w->state = case_state_name(to);
    w->ext_pending = pending_after;
    if (rule->rework)
        w->rework++;
    res = refdata_deadline_load(cx, d);
    if (!res)
        res = next_deadline(cx, d, a, rule, w);
    if (res)
        goto out;
    switch (a) {
    case CASE_ACT_DISPATCH:
        res = check_dispatch_target(cx, in->department_id, in->assignee_id);
        w->dept = in->department_id;
        w->assignee = in->assignee_id;
        break;
    case CASE_ACT_RETURN:
        /* "Not ours": the department lets go of it and the dispatcher chooses again. */
        w->dept = 0;
        w->assignee = 0;
        break;
    case CASE_ACT_MERGE:
        res = check_merge_target(cx, case_id, in->duplicate_of);
        w->dup = in->duplicate_of;
        break;
    case CASE_ACT_REQUEST_CONFIRMATION:
        /* The inspector holds the case as its assignee while the 核实 runs: it sees the case,
         * finds it in its tasks and is told of it (inbox.c's recipients). */
        res = check_confirm_target(cx, in->inspector_id);
        if (!res && from == CASE_CONFIRMING && in->inspector_id == w->c.assignee_id)
            res = rctx_fail(cx, ERR_INVALID,
                            "inspector_id: the confirmation is already with that inspector");
        w->assignee = in->inspector_id;
        break;
    case CASE_ACT_CONFIRM:
    case CASE_ACT_DENY:
        w->assignee = 0; /* the 核实 is done; 立案 and 派遣 choose the next holder */
        break;
    case CASE_ACT_REQUEST_EXTENSION:
        w->ext_hours = in->extension_hours;
        break;
    case CASE_ACT_APPROVE_EXTENSION: {
        int64_t hours = in->extension_hours ? in->extension_hours : w->c.extension_hours;
        bool natural = w->cat.lim.handle_unit == CAL_HOURS_NATURAL;
        int64_t due = natural ? w->pts.due_ms + hours * 3600000
                              : calendar_add(&d->cal, w->pts.due_ms, hours, CAL_HOURS_WORK);
        if (!w->pts.due_ms || hours <= 0 || due < 0) {
            res = rctx_fail(cx, ERR_BAD_STATE, "no running deadline to extend");
            break;
        }
        res = deadline_points_between(cx, d, w->pts.start_ms, due, natural, &w->pts);
        w->ext_hours = hours;
        w->level = deadline_level_at(&w->pts, cx->now_ms);
        w->overdue = w->level >= 3;
        break;
    }
    case CASE_ACT_CLOSE:
        w->closed_ms = cx->now_ms;
        break;
    case CASE_ACT_REOPEN:
        w->closed_ms = 0;
        break;
    case CASE_ACT_NOT_FIXED:
        /* The reporter's own case only (a citizen sees no other), within the window; back to
         * the department that handled it, assignee kept (返工). */
        if (w->c.reporter_id != cx->who.user_id) {
            res = rctx_fail(cx, ERR_NOTFOUND, "no such case");
            break;
        }
        if (cx->now_ms - w->c.closed_ms > (int64_t)CITIZEN_REWORK_DAYS * 86400000) {
            res = rctx_fail(cx, ERR_BAD_STATE,
                            "the case was closed more than %d days ago: \"still not fixed\" is "
                            "accepted within %d days of closing; please report it again",
                            CITIZEN_REWORK_DAYS, CITIZEN_REWORK_DAYS);
            break;
        }
        if (!w->dept) {
            res = rctx_fail(cx, ERR_BAD_STATE, "the case has no handling department to return to");
            break;
        }
        w->closed_ms = 0;
        break;
    default:
        break;
    }
    if (res)
        goto out;
    res = apply(cx, w, a, case__actor_role(cx, rule->roles), in->text, photos_json, in->photos,
                in->has_photos ? in->nphotos : 0);
    if (!res) {
        snprintf(detail, sizeof detail, "%s -> %s", case_state_name(from), case_state_name(to));
        res = audit_write(cx, rctx_printf(cx, "case.%s", case_action_name(a)), "case", case_id,
                          AUDIT_OK, detail);
    }
    /* 积分: a citizen's report accepted as a real case (points.h). */
    if (!res && a == CASE_ACT_REGISTER && strcmp(w->c.source, "citizen") == 0)
        res = points_award_report(cx, w->c.reporter_id, case_id);
    if (!res && a == CASE_ACT_REGISTER)
        res = auto_dispatch(cx, d, w);
    if (!res)
        res = idem_complete(cx, idem, case_id);
    if (!res)
        crashpoint_hit("action_before_commit"); /* test-only (testing.crash_at) */
out:
    res = db_tx_end(cx, res);
    if (res == ERR_FORBIDDEN)
        audit_write_quiet(cx, rctx_printf(cx, "case.%s", case_action_name(a)), "case", case_id,
                          AUDIT_DENIED, cx->err.message);
    return res;
}

enum err case_not_fixed(struct rctx *cx, int64_t case_id, const struct case_action_in *in,
                        struct idem *idem, bool *replay)
{
    struct case_action_in a = {.text = in->text, .photos = in->photos, .nphotos = in->nphotos};
    struct db_res r;
    enum err res;

    res = db_exec(cx, "SELECT version FROM cases WHERE id = ? AND reporter_id = ?",
                  DB_ARGS(DBI(case_id), DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    a.action = "not_fixed";
    a.version = r.nrows ? db_cell_i64(&r, 0, 0) : 0;
    a.has_photos = a.nphotos > 0;
    return case_act(cx, case_id, &a, idem, replay);
}
