/* api/domain/open311.h: the Open311 GeoReport v2 view of cityd — categories as services, cases
 * as service requests — for api/open311.c (the /open311/v2/ façade).
 *
 * Mapping (docs/open311.md):
 * - service_code is "<code_set>-<kind>-<full_code>" of an active category ("gbt30428-event-0102");
 *   service_name its 小类 name, group its 大类 name.
 * - service_request_id is the case id; the token of a request is its case number
 *   ("20261202-000045"), which the façade never needs to hand out (requests are realtime) but
 *   answers for, so a case number read out on the phone finds its request.
 * - status is "closed" for closed, invalid (作废) and merged cases and "open" otherwise;
 *   status_notes says which cityd state, and for the closing states the official reply of the
 *   step that closed it. Nothing about the reporter or staff is read here (agency_responsible is
 *   the department's name).
 * Reads are public (the GeoReport v2 contract): no visibility rule applies and no personal field
 * is selected. A create goes through case_report_create as the API key's machine account.
 * Results are pool memory of cx. No HTTP, no JSON. */
#ifndef CITYD_DOMAIN_OPEN311_H
#define CITYD_DOMAIN_OPEN311_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct idem;

#define OPEN311_CODE_MAX 40                   /* bytes of a service_code */
#define OPEN311_IDS_MAX 100                   /* service_request_id values in one query */
#define OPEN311_CODES_MAX 50                  /* service_code values in one query */
#define OPEN311_ROWS_MAX 1000                 /* requests per answer (the spec's default limit) */
#define OPEN311_SPAN_MS (90LL * 86400 * 1000) /* the longest start_date..end_date range */

struct open311_service {
    const char *code; /* "<code_set>-<kind>-<full_code>" */
    const char *name, *group, *description;
    bool urgent; /* the category is 紧急 */
};

/* Every active category, in code order. */
enum err open311_services(struct rctx *cx, struct open311_service **out, size_t *n) MUST_CHECK;
/* When the services or their definitions last changed (the newest category update), for the
 * discovery document's changeset. */
enum err open311_changeset(struct rctx *cx, int64_t *ms) MUST_CHECK;
/* One active category by its service_code. ERR_NOTFOUND. */
enum err open311_service_get(struct rctx *cx, const char *code,
                             struct open311_service *out) MUST_CHECK;

struct open311_request {
    int64_t id;
    char token[24];     /* the case number */
    const char *status; /* "open" or "closed" */
    const char *status_notes;
    const char *service_code, *service_name, *description, *agency; /* agency NULL: none yet */
    const char *address;                                            /* NULL: none */
    double lat, lng;
    int64_t requested_ms, updated_ms;
};

struct open311_query {
    const int64_t *ids; /* service_request_id list: when n_ids > 0 the rest is ignored */
    size_t n_ids;
    const char *const *codes; /* service_code list, n_codes 0 = all */
    size_t n_codes;
    int64_t start_ms, end_ms; /* requested_datetime range, both set by the caller */
    int status;               /* 0 any, 1 open, 2 closed */
};

/* Requests matching q, newest first, at most OPEN311_ROWS_MAX. Unknown ids and codes match
 * nothing. */
enum err open311_requests(struct rctx *cx, const struct open311_query *q,
                          struct open311_request **out, size_t *n) MUST_CHECK;
/* One request by id. ERR_NOTFOUND. */
enum err open311_request_get(struct rctx *cx, int64_t id, struct open311_request *out) MUST_CHECK;
/* The request a token (a case number) names. ERR_NOTFOUND. */
enum err open311_token_get(struct rctx *cx, const char *token, int64_t *id) MUST_CHECK;

/* Who is calling a create: the API key given as the api_key argument. On success cx->who is
 * the key's machine account (as a token exchanged with that key would make it). ERR_FORBIDDEN
 * when the key is missing, malformed, unknown or revoked, its account disabled, or its scopes
 * (when it has any) lack "cases:write" — every refusal audited like a refused token. */
enum err open311_authenticate(struct rctx *cx, const char *api_key) MUST_CHECK;

struct open311_create {
    const char *service_code;
    double lat, lng;
    const char *address;     /* address_string, NULL: none */
    const char *description; /* required by cityd (1..CASE_DESC_MAX bytes) */
    const char *urgency;     /* attribute[urgency], NULL = normal */
};

/* Create a case (source hotline) for the authenticated machine account. ERR_NOTFOUND for an
 * unknown service_code, ERR_INVALID for other bad input (case_report_create's checks),
 * ERR_CONFLICT for a reused Idempotency-Key with another body. *id gets the case id. */
enum err open311_request_create(struct rctx *cx, const struct open311_create *in, struct idem *idem,
                                int64_t *id) MUST_CHECK;

#endif
