/* api/domain/settings.h: the tunables of the case workflow that an admin edits — the special
 * days of the work calendar (work_calendar_days), the one row of case_settings and the dispatch
 * rules (dispatch_rules), all of migrations/0005_cases.sql.
 *
 * Owns their validation and SQL. The readers are elsewhere: refdata.c keeps the calendar and
 * case_settings in memory and checks their change counters (bumped by triggers on these tables)
 * in every request that computes a deadline, and case.c reads dispatch_rules at 立案, so a
 * change here holds from the next report or action on. Deadlines already running keep the alert
 * points fixed when their step started. Every change is audited inside its own transaction. This
 * module never speaks HTTP or JSON.
 *
 * Dates are local calendar dates "YYYY-MM-DD" from SETTINGS_DATE_MIN to SETTINGS_DATE_MAX: the
 * deadline code turns instants into dates with MariaDB's FROM_UNIXTIME, which ends in January
 * 2038 on the MariaDB versions we support, so a later date could never take effect. */
#ifndef CITYD_DOMAIN_SETTINGS_H
#define CITYD_DOMAIN_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct idem; /* idempotency.h: the request's Idempotency-Key record, built by api/ */

#define SETTINGS_DATE_MIN "1970-01-01"
#define SETTINGS_DATE_MAX "2037-12-31"
#define SETTINGS_DAY_NAME_MAX 64 /* characters (work_calendar_days.note is VARCHAR(64)) */
#define SETTINGS_DAYS_MAX 1000   /* rows of one calendar list answer */
#define SETTINGS_RULES_MAX 1000  /* largest page of the dispatch-rule list */

/* The ranges of case_settings (its CHECK constraints; utc_offset_min and work_periods as the
 * work calendar accepts them, calendar.h). */
#define SETTINGS_DUP_RADIUS_MAX 5000
#define SETTINGS_DUP_WINDOW_MAX 8760
#define SETTINGS_ESCALATE_MIN 100
#define SETTINGS_ESCALATE_MAX 1000
#define SETTINGS_UTC_OFFSET_MAX (14 * 60)
#define SETTINGS_PERIODS_MAX 128 /* bytes of the work_periods text */

/* ---- work calendar days ------------------------------------------------------------------- */

/* A holiday (kind "holiday": not worked, even on a weekday) or a make-up working day (kind
 * "workday", 调休: worked, even on a weekend). */
struct settings_day {
    char date[11];    /* YYYY-MM-DD */
    const char *kind; /* "holiday" or "workday" (static) */
    const char *name; /* "" when none; pool memory */
};

/* The special days from from to to (both "YYYY-MM-DD", inclusive; NULL means SETTINGS_DATE_MIN
 * and SETTINGS_DATE_MAX), ascending, at most SETTINGS_DAYS_MAX (*more tells if there were
 * more). *rows is pool memory. ERR_INVALID names from or to when it is not a real date in the
 * range, or when from is after to. */
enum err settings_day_list(struct rctx *cx, const char *from, const char *to,
                           struct settings_day **rows, size_t *n, bool *more) MUST_CHECK;

/* What a date becomes: kind with name (NULL: ""). */
struct settings_day_in {
    const char *date; /* YYYY-MM-DD */
    const char *kind; /* "holiday" or "workday" */
    const char *name;
};

/* Set in->date to in->kind with in->name, replacing what the date had. *created tells whether
 * the date had no entry before. ERR_INVALID: date not a real date in the range, kind not
 * "holiday" or "workday", name longer than SETTINGS_DAY_NAME_MAX characters or holding control
 * characters. Audited "calendar_day.set" (object calendar_day, id YYYYMMDD). */
enum err settings_day_put(struct rctx *cx, const struct settings_day_in *in,
                          struct settings_day *out, bool *created) MUST_CHECK;

/* Remove the entry of date, so it follows the default week again. ERR_INVALID as above,
 * ERR_NOTFOUND when the date has no entry. Audited "calendar_day.delete". */
enum err settings_day_delete(struct rctx *cx, const char *date) MUST_CHECK;

/* ---- case_settings ------------------------------------------------------------------------ */

struct settings_case {
    int64_t dup_radius_m;     /* possible duplicates: distance, 0 = no hint */
    int64_t dup_window_h;     /* possible duplicates: age */
    int64_t escalate_pct;     /* escalation point, in % of a step's time limit */
    const char *work_periods; /* "08:30-12:00,13:30-17:30"; pool memory */
    int64_t utc_offset_min;   /* the city's fixed offset from UTC */
    int64_t updated_ms;       /* last change; 0 when never changed through the API */
};

/* A partial update: each has_* says whether the field is set. */
struct settings_case_patch {
    bool has_dup_radius, has_dup_window, has_escalate, has_periods, has_utc_offset;
    int64_t dup_radius_m, dup_window_h, escalate_pct, utc_offset_min;
    const char *work_periods;
};

/* The settings as stored (the migration's defaults when the row is missing). */
enum err settings_case_get(struct rctx *cx, struct settings_case *out) MUST_CHECK;

/* Change the fields given; work_periods is stored in its canonical form ("HH:MM-HH:MM,…").
 * ERR_INVALID: nothing given, dup_radius_m outside 0..SETTINGS_DUP_RADIUS_MAX, dup_window_h
 * outside 0..SETTINGS_DUP_WINDOW_MAX, escalate_pct outside SETTINGS_ESCALATE_MIN..MAX,
 * utc_offset_min beyond +-SETTINGS_UTC_OFFSET_MAX, work_periods not accepted by
 * calendar_parse_periods() or longer than SETTINGS_PERIODS_MAX. Nothing changes on an error.
 * Audited "case_settings.update" with the new values. *out is the row after the change. */
enum err settings_case_update(struct rctx *cx, const struct settings_case_patch *p,
                              struct settings_case *out) MUST_CHECK;

/* ---- dispatch rules ----------------------------------------------------------------------- */

/* 属地 + 专业 → department. A rule without grid (grid_id 0) matches every grid, one without
 * category every category; case.c takes the most specific match. autom: dispatch at 立案
 * without a dispatcher; otherwise only suggest. */
struct settings_rule {
    int64_t id, grid_id, category_id, department_id; /* 0 = any */
    bool autom;
    const char *grid_name, *category_code, *category_name, *department_name; /* NULL for any */
    int64_t created_ms;
};

struct settings_rule_new {
    int64_t grid_id, category_id, department_id; /* grid_id / category_id 0 = any */
    bool autom;
};

struct settings_rule_filter {
    int64_t grid_id, category_id, department_id; /* 0 = no filter */
    int64_t after_id;                            /* continue after this id */
    int limit;                                   /* 1..SETTINGS_RULES_MAX */
};

/* Rules matching every filter given, ascending by id, at most f->limit. *next_after is the id
 * to continue after, 0 on the last page. *rows is pool memory. */
enum err settings_rule_list(struct rctx *cx, const struct settings_rule_filter *f,
                            struct settings_rule **rows, size_t *n, int64_t *next_after) MUST_CHECK;

/* One rule. ERR_NOTFOUND. */
enum err settings_rule_get(struct rctx *cx, int64_t id, struct settings_rule *out) MUST_CHECK;

/* Add a rule; with a key in idem (Idempotency-Key, idempotency.h) a retry with the same body
 * answers the first rule (*replay set) and adds nothing. ERR_INVALID: neither grid nor category
 * given, or a grid, category or active department that does not exist. ERR_CONFLICT: a rule for the
 * same grid and category exists (the message names it), or the key was used with another
 * body. Audited "dispatch_rule.create". */
enum err settings_rule_create(struct rctx *cx, const struct settings_rule_new *in,
                              struct idem *idem, int64_t *id, bool *replay) MUST_CHECK;

/* Change a rule's department and/or whether it dispatches by itself (has_* say which). A rule's
 * grid and category are what it matches: to match something else, delete it and add another.
 * ERR_NOTFOUND; ERR_INVALID for a department that does not exist or is inactive. Cases already
 * dispatched keep their department. Audited "dispatch_rule.update" with the old and new values. */
struct settings_rule_patch {
    bool has_department, has_autom;
    int64_t department_id;
    bool autom;
};
enum err settings_rule_update(struct rctx *cx, int64_t id,
                              const struct settings_rule_patch *p) MUST_CHECK;

/* Remove a rule; cases already dispatched keep their department. ERR_NOTFOUND. Audited
 * "dispatch_rule.delete". */
enum err settings_rule_delete(struct rctx *cx, int64_t id) MUST_CHECK;

#endif
