/* api/domain/case_int.h: internals shared by the case files (case.c, case_query.c,
 * case_urge.c, case_category.c, case_event.c, case_deadline.c) and survey.c. Not for api/. */
#ifndef CITYD_DOMAIN_CASE_INT_H
#define CITYD_DOMAIN_CASE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "api/domain/case.h"
#include "api/domain/deadline.h"
#include "server/core/rctx.h"
#include "server/db/db.h"
#include "server/db/sqlb.h"

/* A DATETIME column as integer ms (NULL stays NULL). */
#define CASE__MS(col) "CAST(UNIX_TIMESTAMP(" col ") * 1000 AS SIGNED)"

/* Columns read by case__row(), in order, over `cases c JOIN categories cat`. */
#define CASE__COLS                                                                                 \
    "c.id, c.code_set, c.kind, c.urgency, c.source, c.description, c.address, c.state, c.step,"    \
    " c.category_id, cat.full_code, cat.minor_name, cat.major_name, c.lat, c.lng, c.accuracy_m,"   \
    " c.grid_id, c.region_id, c.department_id, c.assignee_id, c.reporter_id, c.duplicate_of,"      \
    " c.version, c.rework_count, c.extension_hours, c.extension_pending, c.overdue,"               \
    " c.alert_level, " CASE__MS("c.step_started_at") ", " CASE__MS("c.due_at") ", " CASE__MS(      \
        "c.created_at") ", " CASE__MS("c.updated_at") ", " CASE__MS("c.closed_at")
#define CASE__NCOLS 33
#define CASE__FROM " FROM cases c JOIN categories cat ON cat.id = c.category_id"

/* Columns read by case__urging_row(), over `case_urgings u`. */
#define CASE__URGING_COLS                                                                          \
    "u.id, u.case_id, u.leader_id, u.department_id, u.acked_by, u.note, u.ack_text, " CASE__MS(    \
        "u.sent_at") ", " CASE__MS("u.read_at") ", " CASE__MS("u.acked_at")
void case__urging_row(const struct db_res *r, size_t i, struct case_urging_rec *u);

/* Appends "(…)", true when the caller may see the case aliased c (see case.h). */
void case__visible(struct rctx *cx, struct db_sqlb *b);
/* Whether the caller's roles see every case. */
bool case__sees_all(const struct rctx *cx);

/* Fill r from row `row` of a result whose first CASE__NCOLS columns are CASE__COLS. */
void case__row(const struct db_res *res, size_t row, size_t col0, struct case_rec *r);
/* "20261123-000123": the local date of the report at the city's UTC offset as this process
 * last loaded it (refdata_utc_offset_last), and the id. The date is computed on every read, so
 * a change of the offset moves the date part of the cases reported within the shifted hours
 * around midnight; the id part, which alone identifies the case, never changes. */
void case__number(int64_t id, int64_t created_ms, char out[24]);

/* The caller's department (0 = none). */
enum err case__my_department(struct rctx *cx, int64_t *dept) MUST_CHECK;

/* Timeline row; photos_json may be NULL ("[]"). Applies it to the rollups (rollup_step). */
enum err case__step_add(struct rctx *cx, int64_t case_id, const char *action, const char *from,
                        const char *to, const char *actor_role, const char *text, int64_t dept,
                        int64_t assignee, const char *step, int64_t due_ms,
                        const char *photos_json) MUST_CHECK;
/* The same row without the rollups, its id in *step_id: the caller must call rollup_step on
 * it in the same transaction (a report does so last, just before COMMIT, so that the rollup
 * rows every report shares stay locked as short a time as possible). */
enum err case__step_insert(struct rctx *cx, int64_t case_id, const char *action, const char *from,
                           const char *to, const char *actor_role, const char *text, int64_t dept,
                           int64_t assignee, const char *step, int64_t due_ms,
                           const char *photos_json, int64_t *step_id) MUST_CHECK;

/* The department a dispatch rule (or else the category, cat_dept) suggests; 0 = none. */
enum err case__dispatch_suggestion(struct rctx *cx, int64_t category, int64_t grid,
                                   int64_t cat_dept, int64_t *dept) MUST_CHECK;

/* The wire name of the single most relevant role the caller acted in for action roles (the
 * first of the caller's roles in rule_roles, else the caller's first role). Static. */
const char *case__actor_role(const struct rctx *cx, uint32_t rule_roles);

#endif
