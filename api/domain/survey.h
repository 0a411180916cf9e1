/* api/domain/survey.h: 专项普查 (special surveys).
 *
 * A dispatcher defines a survey: a title, a checklist (the fields, as JSON text the api layer
 * has validated), the target grids and a period. Inspectors submit items — a located answer
 * sheet with photos — inside the period, in a target grid that is one of their own. Progress is
 * the number of items per target grid. The checklist and answers are opaque JSON text here:
 * their shape is checked in api/surveys.c, where JSON lives. */
#ifndef CITYD_DOMAIN_SURVEY_H
#define CITYD_DOMAIN_SURVEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct idem; /* idempotency.h: the request's Idempotency-Key record, built by api/ */

#define SURVEY_TITLE_MAX 128
#define SURVEY_GRIDS_MAX 200

struct survey_new {
    const char *title;
    const char *fields_json;
    const int64_t *grid_ids;
    size_t ngrids;
    int64_t starts_ms, ends_ms;
};

/* ERR_INVALID for an empty title, no grids, an unknown grid or ends <= starts. Idempotent by
 * key like every mutating POST. */
enum err survey_create(struct rctx *cx, const struct survey_new *in, struct idem *idem,
                       int64_t *id) MUST_CHECK;

struct survey_progress {
    int64_t grid_id;
    int64_t items;
};

struct survey_rec {
    int64_t id, created_by, starts_ms, ends_ms, created_ms;
    const char *title, *fields_json;
    size_t ngrids;
    struct survey_progress *grids; /* every target grid with its item count */
    int64_t total_items;
};

/* One survey with its progress. Inspectors see only surveys targeting one of their grids
 * (ERR_NOTFOUND otherwise). */
enum err survey_get(struct rctx *cx, int64_t id, struct survey_rec *out) MUST_CHECK;
/* Surveys visible to the caller, newest first (progress not filled). */
enum err survey_list(struct rctx *cx, size_t *n, struct survey_rec **out) MUST_CHECK;

struct survey_item_new {
    double lat, lng;
    const char *answers_json;
    const char *const *photos;
    size_t nphotos;
};

/* Submit an item. ERR_NOTFOUND for an unknown or invisible survey; ERR_BAD_STATE outside the
 * period; ERR_INVALID when the point is in no target grid of the caller's. *grid_id gets the
 * grid it counted for. */
enum err survey_item_add(struct rctx *cx, int64_t survey_id, const struct survey_item_new *in,
                         struct idem *idem, int64_t *item_id, int64_t *grid_id) MUST_CHECK;

#endif
