/* api/domain/rollup.h: the dashboard and 考评 rollups (migrations/0007_dashboard.sql).
 *
 * Owns rollup_cases, dash_*, eval_marks and eval_day. They are a pure function of the case
 * timeline: each case_steps row, replayed in id order per case over the case's fixed fields
 * (region, grid, category, source, urgency, reporter, place, report time), changes them in one
 * way. rollup_step() applies one row inside the transaction that wrote it (case__step_add, and
 * a report just before its COMMIT), so the rollups commit or roll back with the workflow;
 * rollup_rebuild() replays every row from scratch with the same code. Dashboard reads
 * (dashboard.h, evaluation.h) only ever read these tables, never scan cases.
 *
 * Days and hours are local, at the city's UTC offset (case_settings.utc_offset_min, from
 * refdata_utc_offset): a row counts in the local day and hour of its instant under the offset in
 * force when it was applied. Changing the offset leaves the rows already counted where they are
 * (their days were cut at the old local midnight); `cityd rollup-rebuild` recounts every row
 * under the current offset (docs/architecture.md, "The city's local time").
 *
 * Scopes: a case counts in scope 0 (everything) and in each region from its own up to the
 * city (at most four levels), so a leader's question reads one scope.
 *
 * Heat-map cells: 250 m bands of latitude, cy = floor(lat * 111320 / 250); within a band,
 * cx = floor(lng * 111320 * cos(band centre latitude) / 250), so a cell is 250 m x 250 m
 * (to within the band's curvature) anywhere. rollup_cell_center() gives a cell's centre.
 * dash_cell holds these; dash_cell_coarse holds 500 m and 1 km cells (column cell_m) by the
 * same formulas with 500 or 1000 for 250 (computed from the point, not merged from smaller
 * cells: a row's columns follow its own centre), for longer periods: a city has about 4 and 16
 * times fewer of them (migrations/0028_dash_cell_coarse.sql, dashboard.h).
 *
 * Must not: call HTTP, read the clock other than through step rows, or be written by
 * anything else. */
#ifndef CITYD_DOMAIN_ROLLUP_H
#define CITYD_DOMAIN_ROLLUP_H

#include <stdbool.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define ROLLUP_CELL_M 250.0
#define ROLLUP_CELL_500_M 500.0
#define ROLLUP_CELL_KM_M 1000.0

/* 考评 indicators (domain.md 4.5). A mark is "ok" when the duty went well: for rework_rate
 * ok means "no 返工", so the rate shown is 1 - num/den and the composite uses num/den. */
enum eval_indicator {
    EVAL_VALID_REPORT,      /* 监督员 有效上报率: an inspector's report reached 立案 */
    EVAL_ON_TIME_VERIFY,    /* 监督员 按时核实率: 核实 (confirm/deny) within its limit */
    EVAL_ON_TIME_CHECK,     /* 监督员 按时核查率: 核查 (verify) within its limit */
    EVAL_ON_TIME_REGISTER,  /* 值班长 按时立案率 */
    EVAL_ACCURATE_REGISTER, /* 值班长 准确立案率: (立案数 - 作废数) / 立案数 */
    EVAL_ON_TIME_CLOSE,     /* 值班长 按时结案率 */
    EVAL_ON_TIME_DISPATCH,  /* 派遣员 按时派遣率 */
    EVAL_ACCURATE_DISPATCH, /* 派遣员 准确派遣率: not returned (回退) nor re-dispatched (改派) */
    EVAL_ON_TIME_HANDLE, /* 专业部门 按期处置率 */
    EVAL_REWORK,         /* 专业部门 返工率: 核查不通过 or 市民未解决 */
    EVAL_CLOSE_RATE,     /* 专业部门 结案率: dispatched to it (and kept) and closed */
    EVAL__COUNT
};

/* Wire name ("valid_report" …), the role it scores ("inspector", "shift_lead", "dispatcher",
 * "department") and the Chinese label. NULL when out of range. Static. */
const char *eval_indicator_name(enum eval_indicator i);
const char *eval_indicator_role(enum eval_indicator i);
const char *eval_indicator_label(enum eval_indicator i);
/* Index for a wire name, -1 when unknown. */
int eval_indicator_from_name(const char *name);

/* Apply the timeline row step_id (just inserted in the caller's transaction) to the rollups;
 * off_ms is the city's UTC offset (refdata_utc_offset) that places it in a local day and hour.
 * Errors are the database's (the caller's transaction then rolls back). */
enum err rollup_step(struct rctx *cx, int64_t step_id, int64_t off_ms) MUST_CHECK;

/* Recompute every rollup from cases and case_steps (cityd rollup-rebuild), local days and
 * hours at the current UTC offset (refdata_utc_offset). Runs outside any request; writes progress
 * to stderr when verbose. Concurrent workflow writes during a rebuild are not accounted for: run it
 * with the server stopped or idle. */
enum err rollup_rebuild(struct rctx *cx, bool verbose) MUST_CHECK;

/* The heat-map cell of cell_m metres (ROLLUP_CELL_M, _500_M or _KM_M) of a point, and a
 * cell's centre (WGS-84). */
void rollup_cell_of(double cell_m, double lat, double lng, int32_t *cy, int32_t *cx);
void rollup_cell_center(double cell_m, int32_t cy, int32_t cx, double *lat, double *lng);

/* "YYYY-MM-DD" to a day number (the other way: citytime_day_format). Accepts only real dates
 * of years 1970..9999: ERR_INVALID otherwise (*day untouched). */
enum err rollup_day_parse(const char *s, int64_t *day) MUST_CHECK;
/* The WHERE condition (pool memory, numbers only) selecting the rows of the local days
 * [from, to] of a table kept per day, week and month (column span): whole months and weeks
 * where they fit, days at the edges, so a year reads about 12 + 8 + 12 rows per key. */
const char *rollup_period_sql(struct rctx *cx, int64_t from, int64_t to);

#endif
