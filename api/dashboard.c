/* api/dashboard.c: /api/v1/dashboard — the leader's dashboard (领导通): summary, hotspots,
 * urgent/overdue list and urgings within the caller's jurisdiction (dashboard.h). Handlers
 * only: decode, call the domain, encode.
 *
 * Every route takes ?region_id= to narrow the view to a region inside the jurisdiction; days
 * are local dates (YYYY-MM-DD at the city's UTC offset, case_settings.utc_offset_min). */
#include "api.h"

#include <string.h>
#include "api/domain/citytime.h"
#include "api/domain/dashboard.h"
#include "api/domain/rollup.h"
#include "server/core/roles.h"

#define ROLE_DASH (ROLE_LEADER | ROLE_ADMIN)

static enum err scope_of(struct rctx *cx, const struct req *rq, struct dash_scope *sc)
{
    int64_t region = 0;
    enum err res = api_query_i64(cx, rq, "region_id", 1, INT64_MAX, &region);

    if (res)
        return res;
    return dashboard_scope(cx, region, sc);
}

static json_t *scope_json(const struct dash_scope *sc)
{
    return json_pack("{s:o,s:s,s:s}", "region_id", api_json_id(sc->region_id), "level", sc->level,
                     "name", sc->name);
}

static json_t *day_json(int64_t day)
{
    char buf[11];
    citytime_day_format(day, buf);
    return json_string(buf);
}

/* ?from=&to= as local days (dashboard_period). */
static enum err period_of(struct rctx *cx, const struct req *rq, const struct dash_scope *sc,
                          int64_t *from, int64_t *to)
{
    return dashboard_period(cx, sc, req_query(cx, rq, "from"), req_query(cx, rq, "to"), from, to);
}

static json_t *counts_json(const struct dash_counts *c)
{
    json_t *src = json_object();

    for (int i = 0; i < DASH_SOURCES; i++)
        json_object_set_new(src, dashboard_source_name(i), json_integer(c->new_by_source[i]));
    return json_pack(
        "{s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:I}", "new_total", (json_int_t)c->new_total,
        "new_by_source", src, "open", (json_int_t)c->open, "urgent", (json_int_t)c->urgent,
        "overdue", (json_int_t)c->overdue, "closed", (json_int_t)c->closed, "closed_on_time",
        (json_int_t)c->closed_on_time, "on_time_rate",
        c->closed ? json_real((double)c->closed_on_time / (double)c->closed) : json_null(),
        "staff_on_duty", (json_int_t)c->staff_on_duty, "staff_active", (json_int_t)c->staff_active);
}

static enum err dash_summary(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct dash_scope sc;
    struct dash_summary s;
    enum err res = scope_of(cx, rq, &sc);

    if (!res)
        res = dashboard_summary(cx, &sc, &s);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:s}", "scope", scope_json(&sc),
                                    "date", day_json(s.day), "generated_at",
                                    api_json_time(cx->now_ms), "today", counts_json(&s.today),
                                    "yesterday", counts_json(&s.yesterday), "same_day_last_week",
                                    counts_json(&s.last_week), "staff_on_duty_basis",
                                    "attendance"));
}

static json_t *tops_json(const struct dash_top *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:o,s:o,s:o,s:I}", "id", api_json_id(v[i].id), "code",
                                           api_json_str(v[i].code), "name", api_json_str(v[i].name),
                                           "count", (json_int_t)v[i].n));
    return a;
}

static enum err dash_hotspots(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct dash_scope sc;
    struct dash_hotspots h;
    int64_t from, to, top = 10, cells = 500, cell_m = 0;
    json_t *hours, *cj;
    enum err res = scope_of(cx, rq, &sc);

    if (!res)
        res = period_of(cx, rq, &sc, &from, &to);
    if (!res)
        res = api_query_i64(cx, rq, "top", 1, DASH_TOP_MAX, &top);
    if (!res)
        res = api_query_i64(cx, rq, "cells", 1, DASH_CELLS_MAX, &cells);
    if (!res)
        res = api_query_i64(cx, rq, "cell_m", 1, 100000, &cell_m);
    if (!res)
        res = dashboard_hotspots(cx, &sc, from, to, (int)top, (int)cells, (int)cell_m, &h);
    if (res)
        return res;
    hours = json_array();
    for (int i = 0; i < 24; i++)
        json_array_append_new(hours, json_integer(h.hours[i]));
    cj = json_array();
    for (size_t i = 0; i < h.ncells; i++)
        json_array_append_new(cj, json_pack("{s:i,s:i,s:f,s:f,s:I}", "cy", (int)h.cells[i].cy, "cx",
                                            (int)h.cells[i].cx, "lat", h.cells[i].lat, "lng",
                                            h.cells[i].lng, "count", (json_int_t)h.cells[i].n));
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:o,s:{s:o,s:o},s:I,s:o,s:o,s:o,s:{s:f,s:o}}", "scope",
                                    scope_json(&sc), "period", "from", day_json(from), "to",
                                    day_json(to), "total", (json_int_t)h.total, "categories",
                                    tops_json(h.categories, h.ncategories), "grids",
                                    tops_json(h.grids, h.ngrids), "hours", hours, "heatmap",
                                    "cell_m", h.cell_m, "cells", cj));
}

static enum err dash_alerts(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct dash_scope sc;
    struct dash_alert *v;
    size_t n;
    int64_t limit = 50;
    json_t *items;
    enum err res = scope_of(cx, rq, &sc);

    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, DASH_LIST_MAX, &limit);
    if (!res)
        res = dashboard_alerts(cx, &sc, req_query(cx, rq, "kind"), (int)limit, &n, &v);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct dash_alert *a = &v[i];
        json_array_append_new(
            items,
            json_pack("{s:I,s:s,s:s,s:s,s:o,s:o,s:o,s:b,s:b,s:o,s:o,s:o}", "case_id",
                      (json_int_t)a->case_id, "case_no", a->case_no, "state", a->state, "step",
                      a->step, "category_name", api_json_str(a->category_name), "address",
                      api_json_str(a->address), "department_id", api_json_id(a->department_id),
                      "urgent", a->urgent, "overdue", a->overdue, "due_at",
                      api_json_time(a->due_ms), "remaining_s",
                      a->due_ms ? json_integer((a->due_ms - cx->now_ms) / 1000) : json_null(),
                      "created_at", api_json_time(a->created_ms)));
    }
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:o,s:o}", "scope", scope_json(&sc), "items", items));
}

static json_t *after_s(int64_t from, int64_t to)
{
    return to && from ? json_integer((to - from) / 1000) : json_null();
}

static enum err dash_urgings(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct dash_scope sc;
    struct dash_urging *v;
    struct dash_urging_stats st;
    size_t n;
    int64_t from, to, limit = 50;
    int open = 0;
    json_t *items;
    enum err res = scope_of(cx, rq, &sc);

    if (!res)
        res = period_of(cx, rq, &sc, &from, &to);
    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, DASH_LIST_MAX, &limit);
    if (!res)
        res = api_query_bool(cx, rq, "open", &open);
    if (!res)
        res = dashboard_urgings(cx, &sc, citytime_day_start_ms(from, sc.utc_offset_ms),
                                citytime_day_start_ms(to + 1, sc.utc_offset_ms), open != 0,
                                (int)limit, &n, &v, &st);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct dash_urging *u = &v[i];
        json_array_append_new(
            items,
            json_pack("{s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)u->id,
                      "case_id", (json_int_t)u->case_id, "leader_id", (json_int_t)u->leader_id,
                      "leader_name", api_json_str(u->leader_name), "department_id",
                      api_json_id(u->department_id), "department_name",
                      api_json_str(u->department_name), "note", api_json_str(u->note), "sent_at",
                      api_json_time(u->sent_ms), "read_at", api_json_time(u->read_ms), "acked_at",
                      api_json_time(u->acked_ms), "read_after_s", after_s(u->sent_ms, u->read_ms),
                      "acked_after_s", after_s(u->sent_ms, u->acked_ms)));
    }
    return api_json_reply(
        cx, rs, 200,
        json_pack("{s:o,s:{s:o,s:o},s:{s:I,s:I,s:I,s:o,s:o},s:o}", "scope", scope_json(&sc),
                  "period", "from", day_json(from), "to", day_json(to), "stats", "sent",
                  (json_int_t)st.sent, "read", (json_int_t)st.read, "acked", (json_int_t)st.acked,
                  "avg_read_s", st.read ? json_integer(st.avg_read_s) : json_null(), "avg_ack_s",
                  st.acked ? json_integer(st.avg_ack_s) : json_null(), "items", items));
}

/* clang-format off */
const struct route api_dashboard_routes[] = {
    /* method  path                           handler        roles      body  flags  timeout batch */
    {"GET",  "/api/v1/dashboard/summary",   dash_summary,  ROLE_DASH, 0,    0, 0, NULL, NULL},
    {"GET",  "/api/v1/dashboard/hotspots",  dash_hotspots, ROLE_DASH, 0,    0, 0, NULL, NULL},
    {"GET",  "/api/v1/dashboard/alerts",    dash_alerts,   ROLE_DASH, 0,    0, 0, NULL, NULL},
    {"GET",  "/api/v1/dashboard/urgings",   dash_urgings,  ROLE_DASH, 0,    0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
