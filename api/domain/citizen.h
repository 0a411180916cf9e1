/* api/domain/citizen.h: what guards and serves citizens' own reports (随手拍) — the per-user
 * and per-address report limits, and the progress view of "my reports".
 *
 * Limits: a citizen may report at most reports_per_hour in any rolling hour and
 * reports_per_day in a local calendar day (citytime.h); one source address (IPv6 by /64, as
 * lockout_source keys it) at most address_reports_per_hour and address_reports_per_day. They
 * count the cases table itself (reporter_id, source_ip and created_at, both indexed), so no
 * second store can drift from what was reported; the user's row is locked first, so one
 * user's concurrent reports are counted exactly (an address shared by many users is counted
 * without that lock and may overshoot by the reports in flight). A refused report is
 * ERR_RATELIMIT with the seconds until one more would pass (rctx_fail_retry: the Retry-After
 * header) and that instant in the message. Only new reports count: an Idempotency-Key replay
 * never reaches the check.
 *
 * Progress: the case's timeline as a citizen may see it — the official step names, the text
 * each step was written with (the official reply), the department by name, times — and no
 * staff id, name or phone. Pool memory of cx. No HTTP, no JSON. */
#ifndef CITYD_DOMAIN_CITIZEN_H
#define CITYD_DOMAIN_CITIZEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct citizen_config {
    int reports_per_hour;         /* citizen.reports_per_hour; 0 = no limit */
    int reports_per_day;          /* citizen.reports_per_day */
    int address_reports_per_hour; /* citizen.address_reports_per_hour */
    int address_reports_per_day;  /* citizen.address_reports_per_day */
};

/* Once at start-up, before any request. */
void citizen_configure(const struct citizen_config *c);

/* Inside the report's transaction, before the case is written and before anything else reads
 * in it (the counts must see every report committed while it waited for the caller's row
 * lock): ERR_RATELIMIT when the caller (a citizen) or its source address src (lockout_source
 * form) is past a limit. Days are local at the city's UTC offset (refdata_utc_offset): a day's
 * count starts again at local midnight. */
enum err citizen_report_check(struct rctx *cx, const char *src) MUST_CHECK;

/* ---- my reports -------------------------------------------------------------------------- */

#define CITIZEN_REPORTS_MAX 100

/* One step of the progress as the reporter sees it. */
struct citizen_step {
    const char *action;     /* wire name of the step ("report", "accept", … "not_fixed") */
    const char *label;      /* its Chinese name (受理, 立案, …) */
    const char *state;      /* the case's state after it */
    const char *reply;      /* the official reply written with it, NULL when none */
    const char *department; /* the department that held the case at that step, by name */
    int64_t at_ms;
};

struct citizen_report {
    int64_t id;
    char case_no[24];
    const char *state, *state_label, *category_name, *description, *address;
    const char *department; /* the department holding it now, by name (NULL: none) */
    double lat, lng;
    int64_t version, rework_count, created_ms, updated_ms, closed_ms;
    bool rated;
    bool can_report_not_fixed; /* closed less than CITIZEN_REWORK_DAYS ago */
    size_t nsteps;
    struct citizen_step *steps; /* only filled by citizen_report_get */
};

/* The caller's own reports, newest first, below before_id (0: from the newest); limit
 * 1..CITIZEN_REPORTS_MAX. *next_before is the cursor of the next page (0: last page). */
enum err citizen_reports_list(struct rctx *cx, int64_t before_id, int limit, size_t *n,
                              struct citizen_report **out, int64_t *next_before) MUST_CHECK;
/* One of the caller's reports with its progress. ERR_NOTFOUND when it is not the caller's. */
enum err citizen_report_get(struct rctx *cx, int64_t case_id,
                            struct citizen_report *out) MUST_CHECK;

/* "Still not fixed" (返工) is accepted this long after closing. */
#define CITIZEN_REWORK_DAYS 7

#endif
