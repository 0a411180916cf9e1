/* api/domain/dashboard.h: the leader's dashboard (领导通) — summary, hotspots, the urgent /
 * overdue list and urgings, each within the caller's jurisdiction.
 *
 * Reads only the rollups of rollup.h (and, for the lists, the few case rows they name); never
 * scans cases. A leader's jurisdiction is users.region_id and every region below it (city,
 * district, street); an admin sees everything (scope 0). A region outside the caller's
 * jurisdiction is ERR_NOTFOUND. Days are local day numbers at the city's UTC offset
 * (citytime_day, dash_scope.utc_offset_ms).
 *
 * Staff on duty (attendance): today, the staff of the scope checked in now (duty); an earlier
 * day, those who checked in that day (checkins). A person belongs to the scope of their region,
 * else of their first grid's region. Read at request time (dashboard_staff_on_duty()); a
 * check-in alone does not republish a live tile.
 *
 * Live tiles: rollup_step() stamps dash_tiles for each scope it touched; dashboard_tiles_job()
 * publishes each changed scope's summary to the gateway's "tiles" stream at most once a second.
 *
 * Everything returned is pool memory of cx. No HTTP, no JSON. */
#ifndef CITYD_DOMAIN_DASHBOARD_H
#define CITYD_DOMAIN_DASHBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define DASH_SOURCES 5 /* inspector, citizen, hotline, video_ai, leader */
#define DASH_TOP_MAX 50
#define DASH_CELLS_MAX 2000
#define DASH_LIST_MAX 200
#define DASH_PERIOD_MAX_DAYS 366
#define DASH_PERIOD_DEFAULT_DAYS 30
/* Heat-map cells (rollup.h) by the period's length: 250 m up to 7 days, 500 m up to 31 days,
 * 1 km beyond; a finer size than the period allows is refused (a month of 250 m cells or a
 * year of 500 m ones is too many rows to sum within the dashboard's 50 ms, issue 13). */
#define DASH_CELL_250_MAX_DAYS 7
#define DASH_CELL_500_MAX_DAYS 31

struct dash_scope {
    int64_t region_id;     /* 0: everything */
    const char *level;     /* "all", "city", "district", "street", "community" */
    const char *name;      /* region name, "全部" for everything */
    int64_t city_id;       /* the city containing it, 0 when none */
    int64_t utc_offset_ms; /* the city's UTC offset (refdata_utc_offset): its local days */
};

/* The caller's scope, narrowed to region_id when non-zero, with the city's UTC offset.
 * ERR_FORBIDDEN for a leader without a region, ERR_NOTFOUND for a region outside the
 * jurisdiction. */
enum err dashboard_scope(struct rctx *cx, int64_t region_id, struct dash_scope *out) MUST_CHECK;

/* The period [*from, *to] in local days (citytime_day at sc's offset) from the texts
 * "YYYY-MM-DD" of its first and last day; either may be NULL: `to` defaults to today
 * (cx->now_ms), `from` to DASH_PERIOD_DEFAULT_DAYS days up to `to`. ERR_INVALID naming the field
 * for a bad date, a reversed period or one longer than DASH_PERIOD_MAX_DAYS; the out-parameters
 * are then unspecified. */
enum err dashboard_period(struct rctx *cx, const struct dash_scope *sc, const char *from_text,
                          const char *to_text, int64_t *from, int64_t *to) MUST_CHECK;

/* Wire name of source i (0..DASH_SOURCES-1). */
const char *dashboard_source_name(int i);

struct dash_counts {
    int64_t new_by_source[DASH_SOURCES];
    int64_t new_total, closed, closed_on_time;
    int64_t open, urgent, overdue; /* at the end of the day (now, for today) */
    int64_t staff_on_duty;         /* attendance (see above) */
    int64_t staff_active;          /* staff who acted on a case of the scope that day */
};

struct dash_summary {
    int64_t day;                                    /* today */
    struct dash_counts today, yesterday, last_week; /* last_week: the same weekday */
};

/* Today's numbers against yesterday and the same weekday a week ago. */
enum err dashboard_summary(struct rctx *cx, const struct dash_scope *sc,
                           struct dash_summary *out) MUST_CHECK;

struct dash_top {
    int64_t id; /* category or grid id; 0 = outside every grid */
    const char *code, *name;
    int64_t n;
};

struct dash_cell {
    int32_t cy, cx;
    double lat, lng; /* centre */
    int64_t n;
};

struct dash_hotspots {
    size_t ncategories, ngrids, ncells;
    struct dash_top *categories, *grids;
    struct dash_cell *cells;
    int64_t hours[24];
    int64_t total;
    double cell_m; /* the cells' size: ROLLUP_CELL_M, ROLLUP_CELL_500_M or ROLLUP_CELL_KM_M */
};

/* New reports of days [from_day, to_day] (at most DASH_PERIOD_MAX_DAYS): the top `top`
 * categories and grids, the 24 local hours, and up to `cells` heat-map cells of cell_m metres
 * (250, 500 or 1000; 0: the finest the period allows), busiest first. ERR_INVALID for another
 * cell_m or one finer than the period allows (DASH_CELL_250_MAX_DAYS, _500_MAX_DAYS). */
enum err dashboard_hotspots(struct rctx *cx, const struct dash_scope *sc, int64_t from_day,
                            int64_t to_day, int top, int cells, int cell_m,
                            struct dash_hotspots *out) MUST_CHECK;

struct dash_alert {
    int64_t case_id;
    char case_no[24];
    const char *state, *step, *category_name, *address;
    int64_t department_id, due_ms, created_ms;
    bool urgent, overdue;
};

/* Open urgent or overdue cases (kind "urgent", "overdue" or NULL for both) by running time
 * limit, soonest (most overdue) first; no limit last. */
enum err dashboard_alerts(struct rctx *cx, const struct dash_scope *sc, const char *kind, int limit,
                          size_t *n, struct dash_alert **out) MUST_CHECK;

struct dash_urging {
    int64_t id, case_id, leader_id, department_id;
    const char *note, *leader_name, *department_name;
    int64_t sent_ms, read_ms, acked_ms;
};

struct dash_urging_stats {
    int64_t sent, read, acked;
    int64_t avg_read_s, avg_ack_s; /* over the read / acknowledged ones; 0 when none */
};

/* Urgings of cases in scope sent in [from_ms, to_ms), newest first (limit), and their totals.
 * open_only: not yet acknowledged. */
enum err dashboard_urgings(struct rctx *cx, const struct dash_scope *sc, int64_t from_ms,
                           int64_t to_ms, bool open_only, int limit, size_t *n,
                           struct dash_urging **out, struct dash_urging_stats *st) MUST_CHECK;

/* Staff on duty in the scope on a day (see above): checked in now when day is today, else who
 * checked in that day. */
enum err dashboard_staff_on_duty(struct rctx *cx, const struct dash_scope *sc, int64_t day,
                                 int64_t *n) MUST_CHECK;

/* Scopes whose summary changed after since_ms (at most max), for the live-tile publisher. */
enum err dashboard_tiles_changed(struct rctx *cx, int64_t since_ms, size_t max, size_t *n,
                                 int64_t **scopes, int64_t *latest_ms) MUST_CHECK;

/* Periodic job (every second): publish the summary of each scope changed since the last run
 * to the leaders' stream "tiles" as item type "dashboard.summary" (payload: scope_id and
 * today's counts). */
enum err dashboard_tiles_job(struct rctx *cx) MUST_CHECK;

/* Regions in the scope's subtree (the scope itself included), for the SQL of lists: the text
 * "(id,id,…)" (pool memory); NULL for scope 0 (no filter). */
enum err dashboard__subtree_sql(struct rctx *cx, const struct dash_scope *sc,
                                const char **out) MUST_CHECK;

#endif
