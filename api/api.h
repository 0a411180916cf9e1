/* api/api.h: the list of resource route tables and the JSON helpers every handler uses.
 *
 * Handlers decode with api_json_body/api_json_decode (depth-capped, unknown fields rejected so
 * a request can never set fields it does not own), call the domain, and encode with
 * api_json_reply. json_t values are owned by the request pool (api_json_own). api/ never
 * touches SQL, h2o, libwebsockets or libvips. */
#ifndef CITYD_API_H
#define CITYD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "server/core/err.h"
#include "server/core/rctx.h"
#include "server/http/http.h"
#include "api/domain/idempotency.h"

#define API_JSON_MAX_DEPTH 32

/* Each resource file's table; a new resource adds one line here and one in api.c. */
extern const struct route api_system_routes[];
extern const struct route api_auth_routes[];
extern const struct route api_me_routes[];
extern const struct route api_testing_routes[];
extern const struct route api_cases_routes[];
extern const struct route api_citizen_routes[];
extern const struct route api_points_routes[];
extern const struct route api_pois_routes[];
extern const struct route api_tasks_routes[];
extern const struct route api_categories_routes[];
extern const struct route api_events_routes[];
extern const struct route api_surveys_routes[];
extern const struct route api_media_routes[];
extern const struct route api_uploads_routes[];
extern const struct route api_admin_routes[];
extern const struct route api_org_routes[];
extern const struct route api_apikeys_routes[];
extern const struct route api_audit_routes[];
extern const struct route api_settings_routes[];
extern const struct route api_dashboard_routes[];
extern const struct route api_evaluation_routes[];
extern const struct route api_docs_routes[];
extern const struct route api_checkins_routes[];
extern const struct route api_shifts_routes[];
extern const struct route api_tracks_routes[];
extern const struct route api_positions_routes[];

/* /docs (api/docs.c): read the rendered API reference from dir (docs.dir) into memory, once,
 * before serving. "" = not served (404). -1 with a reason in err when a file is missing. */
int api_docs_load(const char *dir, char *err, size_t errlen);
/* Release what api_docs_load read. */
void api_docs_unload(void);
extern const struct route api_announcements_routes[];
extern const struct route api_webhooks_routes[];
extern const struct route api_open311_routes[];
extern const struct route api_conversations_routes[];
extern const struct route api_push_routes[];
/* The database side of the WebSocket frames (api/ws.c), handed to server/ws by the wiring. */
struct ws_ops;
extern const struct ws_ops api_ws_ops;

/* Set at start-up from testing.clock_control: enables /api/v1/testing. */
extern bool api_testing_enabled;

/* Set at start-up: what the Open311 discovery document (api/open311.c) names — the façade's
 * public URL ("https://city.example/open311/v2") and a contact text. Copied. */
void api_open311_configure(const char *base_url, const char *contact);

/* Background jobs run every interval_ms on a database worker (deadline scans, retention
 * purges). fn runs with cx->db set and the clock in cx->now_ms; overlapping runs of one job
 * never happen. The list ends with a {NULL} row. */
struct api_job {
    const char *name;
    enum err (*fn)(struct rctx *cx);
    int interval_ms;
};
extern const struct api_job api_jobs[];

/* NULL-terminated list of every resource's route table. */
extern const struct route *const api_tables[];

/* Hand j to the pool: json_decref runs at rctx_dispose. Returns j (NULL stays NULL). */
json_t *api_json_own(struct rctx *cx, json_t *j);

/* Parse the body as one JSON object. ERR_INVALID says where it failed (line, column) or that
 * it is nested deeper than API_JSON_MAX_DEPTH or is not an object. An empty body gives an
 * empty object when allow_empty. The result is pool-owned. */
enum err api_json_body(struct rctx *cx, const struct req *rq, bool allow_empty,
                       json_t **out) MUST_CHECK;

enum api_ftype {
    API_STR,  /* char * (pool), max_len bytes, min_len via min */
    API_I64,  /* int64_t within [min, max] */
    API_F64,  /* double within [min, max] (min == max == 0: unbounded) */
    API_BOOL, /* bool */
    API_I64S, /* struct api_i64s, up to max_len items, each >= 1 */
    API_JSON, /* json_t * borrowed from the object (objects/arrays checked by the handler) */
    API_INT,  /* int within [min, max] (both must fit an int) */
    API_HHMM, /* int: minutes of the day from "HH:MM" (two digits each), within [min, max]
               * (1440 is "24:00", for an end of day) */
};

struct api_i64s {
    size_t n;
    int64_t *v; /* pool */
};

struct api_field {
    const char *name;
    enum api_ftype type;
    bool required;
    size_t offset; /* offsetof(struct x_in, field) */
    size_t max_len;
    int64_t min, max;
};

/* Decode obj into out by the field table (ended by a {NULL} row). Any key not in the table is
 * rejected with ERR_INVALID naming it; *present gets a bit per table row found. The offsets are
 * those of the domain's own input struct (struct login_in, struct vehicle_new …): no mirror
 * struct, no copy. A body of one field decodes straight into the variable the domain takes: a
 * one-row table at offset 0, and the variable's address as out
 * (char *reason; api_json_input(cx, rq, reason_fields, &reason, NULL)). A field not sent (or
 * sent as null when optional) leaves its member as the caller initialised it. */
enum err api_json_decode(struct rctx *cx, json_t *obj, const struct api_field *fields, void *out,
                         uint64_t *present) MUST_CHECK;
/* Was the field called name sent (not null), by the *present api_json_decode filled with the
 * same table? False for a name not in the table. */
bool api_json_sent(const struct api_field *fields, uint64_t present, const char *name);

/* ---- PATCH bodies, decoded straight into the domain's patch struct ---- */

/* What a JSON null means for a PATCH field. */
enum api_null {
    API_NULL_ABSENT = 0, /* as if the field were not sent */
    API_NULL_CLEARS,     /* sent: the value becomes NULL / 0 (the domain reads 0 as "none") */
    API_NULL_REFUSED,    /* ERR_INVALID "<name>: may not be null" */
};

/* One field of a PATCH body. offset is the value's place in the domain's patch struct and sent
 * the place of its bool "was it sent" (has_x); type, max_len, min and max as in api_field.
 * With decode set the value is decoded by it instead (base is the whole patch struct): for a
 * value the domain holds in another shape (role names → bits). */
struct api_patch_field {
    const char *name;
    enum api_ftype type;
    enum api_null null;
    size_t offset, sent;
    size_t max_len;
    int64_t min, max;
    enum err (*decode)(struct rctx *cx, const char *name, json_t *v, void *base);
};

/* A row of a PATCH table over struct type T: value member m, sent flag member has. */
#define API_PATCH(T, name, type, null, m, has, max_len, min, max)                                  \
    {                                                                                              \
        (name), (type), (null), offsetof(T, m), offsetof(T, has), (max_len), (min), (max), NULL    \
    }

/* Decode obj into the patch struct out by fields (ended by a {NULL} row): every value goes to
 * its member and sets its sent flag. Unknown fields are refused (ERR_INVALID naming them), and
 * so is a body that changes nothing when nothing_ok is false ("nothing to change"). */
enum err api_json_patch(struct rctx *cx, json_t *obj, const struct api_patch_field *fields,
                        void *out, bool nothing_ok) MUST_CHECK;
/* The body (a JSON object) decoded by api_json_patch. */
enum err api_json_patch_input(struct rctx *cx, const struct req *rq,
                              const struct api_patch_field *fields, void *out,
                              bool nothing_ok) MUST_CHECK;

/* One value v decoded by field f into dst (f->offset ignored), as api_json_decode would. */
enum err api_json_decode_value(struct rctx *cx, const struct api_field *f, json_t *v,
                               void *dst) MUST_CHECK;

/* Small JSON values every resource uses. */
json_t *api_json_roles(uint32_t roles); /* ["inspector", …] in role order */
json_t *api_json_str(const char *s);    /* NULL → null */
json_t *api_json_id(int64_t id);        /* 0 → null */
json_t *api_json_time(int64_t ms);      /* "2026-11-23T08:30:00.000Z"; 0 → null */

/* The usual request: the body as one JSON object (required) decoded by the field table. The
 * object stays pool-owned; *obj (may be NULL) gets it for handlers that look further. */
enum err api_json_input(struct rctx *cx, const struct req *rq, const struct api_field *fields,
                        void *out, uint64_t *present) MUST_CHECK;
enum err api_json_input_obj(struct rctx *cx, const struct req *rq, const struct api_field *fields,
                            void *out, uint64_t *present, json_t **obj) MUST_CHECK;

/* Compact JSON text of j (borrowed) in pool memory, *len bytes (NUL-terminated). Same bytes as
 * json_dumps(j, JSON_COMPACT) except numbers with a fraction: each real is printed as the
 * shortest of %.15g, %.16g and %.17g that reads back to the same double, so 31.3 stays "31.3"
 * rather than "31.300000000000001". A real that is not finite gives ERR_INTERNAL. */
enum err api_json_text(struct rctx *cx, json_t *j, const char **out, size_t *len) MUST_CHECK;

/* The shortest text (of %.15g, %.16g, %.17g) that strtod reads back as d, with ".0" added when
 * it would read as an integer, as jansson does. buf holds at least 32 bytes; returns the
 * length. */
size_t api_json_real_text(double d, char *buf);

/* Encode j (stolen) as the response body with status. */
enum err api_json_reply(struct rctx *cx, struct resp *rs, int status, json_t *j) MUST_CHECK;

/* Query parameters. Each leaves *out untouched when the parameter is absent and answers
 * ERR_INVALID naming the parameter when it is malformed. */
enum err api_query_i64(struct rctx *cx, const struct req *rq, const char *name, int64_t min,
                       int64_t max, int64_t *out) MUST_CHECK;
/* "true"/"1" or "false"/"0". */
enum err api_query_bool(struct rctx *cx, const struct req *rq, const char *name,
                        int *out) MUST_CHECK;
/* An instant: RFC 3339 with a zone (fractions of a second allowed and dropped) or, with
 * allow_ms, milliseconds since the epoch. */
enum err api_parse_time(struct rctx *cx, const char *name, const char *v, bool allow_ms,
                        int64_t *out) MUST_CHECK;
enum err api_query_time(struct rctx *cx, const struct req *rq, const char *name,
                        int64_t *out) MUST_CHECK;
/* ?bbox=min_lng,min_lat,max_lng,max_lat in degrees (each finite and in range, min not above
 * max) into b[0..3] in that order; *has is set when the parameter is there. */
enum err api_query_bbox(struct rctx *cx, const struct req *rq, double b[4], bool *has) MUST_CHECK;
/* ?cursor= made by api_cursor with the same two-character prefix: the id to continue before. */
enum err api_query_cursor(struct rctx *cx, const struct req *rq, const char *prefix,
                          int64_t *before) MUST_CHECK;
/* The opaque cursor text for continuing before id (pool memory). */
const char *api_cursor(struct rctx *cx, const char *prefix, int64_t id);

/* Idempotency-Key header: NULL when absent; ERR_INVALID when malformed (1..64 of
 * [A-Za-z0-9_.:-]). */
enum err api_idempotency_key(struct rctx *cx, const struct req *rq, const char **key) MUST_CHECK;

/* The request's idempotency record (api/domain/idempotency.h), built once here and passed down
 * to the domain: the Idempotency-Key header (ERR_INVALID when malformed; absent: every
 * idempotency step is a no-op), the route as requested ("POST /api/v1/cases/7/actions"), the
 * body hashed, and status — what the handler answers on success, kept with the result. */
enum err api_idem(struct rctx *cx, const struct req *rq, int status, struct idem *out) MUST_CHECK;
/* The same with another body than the request's (an upload's file without its multipart
 * wrapping); body is borrowed only during the call. */
enum err api_idem_body(struct rctx *cx, const struct req *rq, int status, const void *body,
                       size_t len, struct idem *out) MUST_CHECK;

#endif
