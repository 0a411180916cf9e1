/* api/domain/evaluation.h: 考评 — indicators per person, role and department with the standard
 * formulas (domain.md 4.5), a weighted composite and grades A–E, and the drill-down to the
 * cases behind every number.
 *
 * Reads eval_day / eval_marks (rollup.h) within a dashboard scope (dashboard.h) and owns
 * eval_settings: per city, the weight of each indicator within its role and the lower bounds
 * of grades A–D (E below D). The composite of a subject is 100 × Σ w·rate / Σ w over the
 * indicators of its role that have data (den > 0) and a weight > 0; for 返工率 the composite
 * uses 1 − 返工率. 按时核实率 counts each 核实 sent to an inspector (request_confirmation) from
 * the request on, as not on time until answered (confirm or deny) within the 核实时限.
 *
 * Everything returned is pool memory of cx. No HTTP, no JSON. */
#ifndef CITYD_DOMAIN_EVALUATION_H
#define CITYD_DOMAIN_EVALUATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "api/domain/dashboard.h"
#include "api/domain/rollup.h"
#include "server/core/err.h"
#include "server/core/rctx.h"

#define EVAL_WEIGHT_MAX 1000.0
#define EVAL_MARKS_MAX 500

struct eval_settings {
    int64_t city_id; /* 0: the default */
    bool is_default; /* read: the city has no row of its own, these are the defaults */
    double weight[EVAL__COUNT];
    double grade_min[4]; /* A, B, C, D: strictly descending, within 0..100 */
};

/* The settings of a city (the default row when it has none). */
enum err evaluation_settings_get(struct rctx *cx, int64_t city_id,
                                 struct eval_settings *out) MUST_CHECK;
/* Admin: store a city's settings (city 0: the default), audited. ERR_INVALID for a weight
 * outside 0..EVAL_WEIGHT_MAX, bounds not strictly descending within 0..100, or a city_id that
 * is not a region of level city. */
enum err evaluation_settings_put(struct rctx *cx, const struct eval_settings *in) MUST_CHECK;

struct eval_value {
    int64_t num, den;
};

struct eval_subject {
    const char *subject_type; /* "user" or "department" */
    int64_t subject_id;
    const char *name;
    const char *role; /* "inspector", "shift_lead", "dispatcher", "department" */
    struct eval_value v[EVAL__COUNT];
    bool scored;
    double score; /* 0..100 when scored */
    char grade;   /* 'A'..'E' when scored */
};

/* The rate shown for indicator i (返工率 is 1 − num/den); -1 when den is 0. */
double evaluation_rate(enum eval_indicator i, struct eval_value v);

/* Subjects with marks in the scope over local days [from_day, to_day] (at most
 * DASH_PERIOD_MAX_DAYS), optionally of one role, by role then score (best first). */
enum err evaluation_report(struct rctx *cx, const struct dash_scope *sc, int64_t from_day,
                           int64_t to_day, const char *role, size_t *n,
                           struct eval_subject **out) MUST_CHECK;

struct eval_mark_rec {
    int64_t id, case_id, step_id, day;
    char case_no[24];
    const char *indicator, *reason;
    bool ok;
};

struct eval_marks_query {
    const char *subject_type; /* "user" or "department" */
    int64_t subject_id;
    int indicator; /* enum eval_indicator, -1 for all */
    int64_t from_day, to_day;
    bool failed_only;  /* only the marks that cost points */
    int64_t before_id; /* cursor, 0 = newest */
    int limit;         /* 1..EVAL_MARKS_MAX */
};

/* The marks behind a subject's numbers in the scope, newest first; *next_before is the cursor
 * of the next page (0 when this was the last). */
enum err evaluation_marks(struct rctx *cx, const struct dash_scope *sc,
                          const struct eval_marks_query *q, size_t *n, struct eval_mark_rec **out,
                          int64_t *next_before) MUST_CHECK;

#endif
