/* api/domain/refdata.h: the read-mostly data every report reads — categories with their time
 * limits, the case settings and work calendar, the grids — kept in memory by each process.
 *
 * Invalidation (correct across any number of cityd processes, no TTL): the one row of
 * refdata_versions holds a change counter per kind, bumped by triggers in the same transaction
 * as any change to those tables (migrations/0008_refdata_versions.sql), whoever makes it.
 * refdata_open() reads the four counters with one primary-key SELECT — a statement that
 * started after the request arrived — and reloads, before it returns, every kind whose
 * counter moved since this process loaded it. So a change committed before a request is
 * always seen by that request; a change racing with it may or may not be, exactly as with a
 * direct read. A report sends one statement for this instead of four.
 *
 * Copies are immutable snapshots shared by all workers and reference-counted: a view holds its
 * snapshots until the request ends (rctx_defer), a reload swaps in new ones under a short lock.
 * The work calendar is loaded for the dates near the request's day (60 days back, 400 ahead, as
 * the deadline arithmetic needs) and reloaded when the day changes. */
#ifndef CITYD_REFDATA_H
#define CITYD_REFDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "api/domain/deadline.h"
#include "server/core/err.h"
#include "server/core/rctx.h"

struct refdata_cats;
struct refdata_settings;
struct refdata_grids;

/* One request's consistent look at the data (all fields private). */
struct refdata_view {
    const struct refdata_cats *cats;
    const struct refdata_settings *settings;
    const struct refdata_grids *grids;
};

/* One category with its limits (strings live as long as the view). */
struct refdata_category {
    int64_t id, department_id; /* department_id 0 when none */
    const char *code_set, *kind, *full_code;
    struct deadline_limits lim;
    bool active;
    bool photo_required; /* a citizen's or inspector's report of it needs a photo */
};

/* Read the change counters and reload what moved; the view is valid until cx is disposed. */
enum err refdata_open(struct rctx *cx, struct refdata_view *v) MUST_CHECK;

/* The categories a report names: by id (id > 0), else by code_set and full_code, of kind when
 * kind is not NULL. Writes at most two matches (ordered by kind, as the old SQL) and returns
 * how many there are (0, 1 or 2). Codes compare ASCII case-insensitively, like the table's
 * collation. */
size_t refdata_categories_find(const struct refdata_view *v, int64_t id, const char *code_set,
                               const char *full_code, const char *kind,
                               struct refdata_category out[2]);

/* The grid containing (lat, lng) with the smallest id and its region; false when none. A point
 * exactly on a boundary belongs to at most one grid (ST_Contains would give none). */
bool refdata_grid_of(const struct refdata_view *v, double lat, double lng, int64_t *grid,
                     int64_t *region);

/* The deadline context (settings and calendar around cx->now_ms) into caller's storage. */
void refdata_deadline_ctx(const struct refdata_view *v, struct deadline_ctx *d);

/* refdata_open then refdata_deadline_ctx: for callers that need only the calendar. */
enum err refdata_deadline_load(struct rctx *cx, struct deadline_ctx *d) MUST_CHECK;

/* The city's fixed UTC offset in ms (case_settings.utc_offset_min; +480 min when the row is
 * missing or invalid, as the calendar). This is the one source of the city's local time: the
 * deadlines' calendar, case numbers, daily limits and caps, quiet hours, the dashboard's days
 * and hours, watermarks and attendance all use it through citytime.h. */
int64_t refdata_utc_offset_ms(const struct refdata_view *v);

/* refdata_open then refdata_utc_offset_ms: for callers (requests and jobs) that need only the
 * offset. Costs the one counter SELECT of refdata_open; a changed offset is seen as any other
 * change of the case settings is. */
enum err refdata_utc_offset(struct rctx *cx, int64_t *off_ms) MUST_CHECK;

/* The offset of the newest case settings this process has loaded (+480 min before the first
 * load), without a statement: for display where one more statement per read is not worth it
 * (the local date in case numbers, case__number). It is at least as new as the view of any
 * refdata_open that returned in this process, so a request that opened a view reads the same
 * offset here. Every process opens one at least once a second (refdata_refresh_job), so a
 * process that has served no request since it started, or since another process changed the
 * offset, shows the old one for at most about a second (settings_update opens one at once in
 * the process that made the change). */
int64_t refdata_utc_offset_last(void);

/* Job (every second): opens a view, so this process's reference data and
 * refdata_utc_offset_last follow a change made anywhere within a second, also in a process
 * that serves no request that reads them. One primary-key SELECT when nothing changed. */
enum err refdata_refresh_job(struct rctx *cx);

#endif
