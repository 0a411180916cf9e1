/* api/domain/open311.c: the Open311 GeoReport v2 view (see open311.h). */
#include "api/domain/open311.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/domain/audit.h"
#include "api/domain/case.h"
#include "api/domain/case_int.h"
#include "server/auth/password.h"
#include "server/core/roles.h"
#include "server/db/db.h"
#include "server/db/sqlb.h"

#define MS(col) "CAST(UNIX_TIMESTAMP(" col ") * 1000 AS SIGNED)"

/* ---- services -------------------------------------------------------------------------- */

#define SERVICE_COLS                                                                               \
    "CONCAT(code_set, '-', kind, '-', full_code), minor_name, major_name,"                         \
    " COALESCE(register_condition, CONCAT(major_name, ' / ', minor_name)), urgent"

static void service_row(const struct db_res *r, size_t i, struct open311_service *s)
{
    s->code = db_cell(r, i, 0);
    s->name = db_cell(r, i, 1);
    s->group = db_cell(r, i, 2);
    s->description = db_cell(r, i, 3);
    s->urgent = db_cell_i64(r, i, 4) != 0;
}

enum err open311_services(struct rctx *cx, struct open311_service **out, size_t *n)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT " SERVICE_COLS " FROM categories WHERE active = 1"
                           " ORDER BY code_set, kind, full_code",
                           DB_NOARGS, &r);
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++)
        service_row(&r, i, &(*out)[i]);
    return ERR_OK;
}

enum err open311_changeset(struct rctx *cx, int64_t *ms)
{
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT COALESCE(" MS("MAX(updated_at)") ", 0) FROM categories", DB_NOARGS, &r);
    if (!res)
        *ms = db_cell_i64(&r, 0, 0);
    return res;
}

/* "<code_set>-<kind>-<full_code>" into its parts (pool copies); false when it has no such
 * shape. */
static bool split_code(struct rctx *cx, const char *code, const char **set, const char **kind,
                       const char **full)
{
    const char *a = strchr(code, '-');
    const char *b = a ? strchr(a + 1, '-') : NULL;

    if (!a || !b || a == code || b == a + 1 || b[1] == '\0' || strchr(b + 1, '-') ||
        strlen(code) > OPEN311_CODE_MAX)
        return false;
    *set = rctx_strndup(cx, code, (size_t)(a - code));
    *kind = rctx_strndup(cx, a + 1, (size_t)(b - a - 1));
    *full = rctx_strdup(cx, b + 1);
    return true;
}

enum err open311_service_get(struct rctx *cx, const char *code, struct open311_service *out)
{
    const char *set, *kind, *full;
    struct db_res r;
    enum err res;

    if (!split_code(cx, code, &set, &kind, &full))
        return rctx_fail(cx, ERR_NOTFOUND, "service_code %s not found", code);
    res = db_exec(cx,
                  "SELECT " SERVICE_COLS " FROM categories WHERE active = 1 AND code_set = ? AND"
                  " kind = ? AND full_code = ?",
                  DB_ARGS(DBS(set), DBS(kind), DBS(full)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "service_code %s not found", code);
    service_row(&r, 0, out);
    return ERR_OK;
}

/* ---- requests -------------------------------------------------------------------------- */

/* The last step's text, for the states a step closes with (its official reply). */
#define REQUEST_COLS                                                                               \
    "c.id, c.state, c.description, c.address, c.lat, c.lng, " MS("c.created_at") ", " MS(          \
        "COALESCE(c.closed_at, c.updated_at)") ", CONCAT(cat.code_set, '-', cat.kind, '-',"        \
                                               " cat.full_code), cat.minor_name, d.name,"          \
                                               " c.duplicate_of, IF(c.state IN ('closed',"         \
                                               " 'invalid', 'merged'), (SELECT s.text FROM"        \
                                               " case_steps s WHERE s.case_id = c.id ORDER BY"     \
                                               " s.id DESC LIMIT 1), NULL)"
#define REQUEST_FROM                                                                               \
    " FROM cases c JOIN categories cat ON cat.id = c.category_id LEFT JOIN departments d ON"       \
    " d.id = c.department_id"

/* What each cityd state tells an Open311 client. */
static const char *state_note(const char *state)
{
    static const struct {
        const char *state, *note;
    } notes[] = {
        {"reported", "已上报，待受理"},
        {"accepted", "已受理，待立案"},
        {"registered", "已立案，待派遣"},
        {"dispatched", "已派遣，处置中"},
        {"handled", "已处置，待核查"},
        {"verified", "核查通过，待结案"},
        {"closed", "已结案"},
        {"invalid", "不予受理（作废）"},
        {"suspended", "挂账：暂缓处理"},
        {"merged", "重复上报，已合并"},
        {"confirming", "已派员现场核实，待受理"},
    };
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++)
        if (strcmp(notes[i].state, state) == 0)
            return notes[i].note;
    return state;
}

static void request_row(struct rctx *cx, const struct db_res *r, size_t i,
                        struct open311_request *q)
{
    const char *state = db_cell(r, i, 1);
    const char *reply = db_cell(r, i, 12);
    int64_t dup = db_cell_i64(r, i, 11);
    const char *note = state_note(state);

    memset(q, 0, sizeof *q);
    q->id = db_cell_i64(r, i, 0);
    q->status = strcmp(state, "closed") == 0 || strcmp(state, "invalid") == 0 ||
                        strcmp(state, "merged") == 0
                    ? "closed"
                    : "open";
    if (dup && strcmp(state, "merged") == 0)
        note = rctx_printf(cx, "%s（并入 %lld）", note, (long long)dup);
    q->status_notes = reply && *reply ? rctx_printf(cx, "%s：%s", note, reply) : note;
    q->description = db_cell(r, i, 2);
    q->address = db_cell(r, i, 3);
    q->lat = db_cell_f64(r, i, 4);
    q->lng = db_cell_f64(r, i, 5);
    q->requested_ms = db_cell_i64(r, i, 6);
    q->updated_ms = db_cell_i64(r, i, 7);
    q->service_code = db_cell(r, i, 8);
    q->service_name = db_cell(r, i, 9);
    q->agency = db_cell(r, i, 10);
    case__number(q->id, q->requested_ms, q->token);
}

enum err open311_requests(struct rctx *cx, const struct open311_query *q,
                          struct open311_request **out, size_t *n)
{
    struct db_sqlb b;
    struct db_res r;
    enum err res;

    db_sqlb_init(cx, &b, 0, "SELECT " REQUEST_COLS REQUEST_FROM " WHERE ");
    if (q->n_ids) {
        db_sqlb_add(&b, "c.id IN (");
        for (size_t i = 0; i < q->n_ids; i++) {
            db_sqlb_add(&b, i ? ",?" : "?");
            db_sqlb_arg(&b, DBI(q->ids[i]));
        }
        db_sqlb_add(&b, ")");
    } else {
        db_sqlb_add(&b, "c.created_at >= FROM_UNIXTIME(? / 1000) AND c.created_at <="
                        " FROM_UNIXTIME(? / 1000)");
        db_sqlb_arg(&b, DBI(q->start_ms));
        db_sqlb_arg(&b, DBI(q->end_ms));
        if (q->status == 1)
            db_sqlb_add(&b, " AND c.state NOT IN ('closed', 'invalid', 'merged')");
        else if (q->status == 2)
            db_sqlb_add(&b, " AND c.state IN ('closed', 'invalid', 'merged')");
        if (q->n_codes) {
            size_t k = 0;
            db_sqlb_add(&b, " AND (");
            for (size_t i = 0; i < q->n_codes; i++) {
                const char *set, *kind, *full;
                if (!split_code(cx, q->codes[i], &set, &kind, &full))
                    continue;
                db_sqlb_add(&b, k++ ? " OR " : "");
                db_sqlb_add(&b, "(cat.code_set = ? AND cat.kind = ? AND cat.full_code = ?)");
                db_sqlb_arg(&b, DBS(set));
                db_sqlb_arg(&b, DBS(kind));
                db_sqlb_arg(&b, DBS(full));
            }
            db_sqlb_add(&b, k ? ")" : "FALSE)");
        }
    }
    db_sqlb_addf(&b, " ORDER BY c.id DESC LIMIT %d", OPEN311_ROWS_MAX);
    res = db_sqlb_exec(&b, &r);
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++)
        request_row(cx, &r, i, &(*out)[i]);
    return ERR_OK;
}

enum err open311_request_get(struct rctx *cx, int64_t id, struct open311_request *out)
{
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT " REQUEST_COLS REQUEST_FROM " WHERE c.id = ?", DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "service_request_id %lld not found", (long long)id);
    request_row(cx, &r, 0, out);
    return ERR_OK;
}

enum err open311_token_get(struct rctx *cx, const char *token, int64_t *id)
{
    struct open311_request q;
    const char *dash = strchr(token, '-');
    char *end;
    long long n;
    enum err res;

    if (!dash || dash - token != 8 || strlen(dash + 1) < 6 || strlen(dash + 1) > 12)
        return rctx_fail(cx, ERR_NOTFOUND, "token %s not found", token);
    n = strtoll(dash + 1, &end, 10);
    if (*end || n <= 0)
        return rctx_fail(cx, ERR_NOTFOUND, "token %s not found", token);
    res = open311_request_get(cx, n, &q);
    /* The number carries the report date: a token of another day is not this request's. */
    if (res == ERR_NOTFOUND || (!res && strcmp(q.token, token) != 0)) {
        cx->err.code = ERR_OK;
        return rctx_fail(cx, ERR_NOTFOUND, "token %s not found", token);
    }
    if (res)
        return res;
    *id = q.id;
    return ERR_OK;
}

/* ---- create ---------------------------------------------------------------------------- */

static bool has_scope(const char *scopes, const char *want)
{
    size_t n = strlen(want);

    if (!*scopes)
        return true; /* a key without scopes may do what its account may (session.h) */
    for (const char *s = scopes; s;) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        if (len == n && strncmp(s, want, n) == 0)
            return true;
        s = c ? c + 1 : NULL;
    }
    return false;
}

enum err open311_authenticate(struct rctx *cx, const char *api_key)
{
    char hash[AUTH_SECRET_HEX];
    struct db_res r;
    enum err res;
    size_t n = api_key ? strlen(api_key) : 0;

    if (n == 0)
        return rctx_fail(cx, ERR_FORBIDDEN, "api_key is required to create a request");
    if (n < 3 + 8 + 16 || n > 128 || strncmp(api_key, "ck_", 3) != 0) {
        audit_write_quiet(cx, "auth.api_key", NULL, 0, AUDIT_DENIED, "open311: malformed api key");
        return rctx_fail(cx, ERR_FORBIDDEN, "invalid api_key");
    }
    auth_secret_hash(api_key, n, hash);
    res = db_exec(cx,
                  "SELECT k.id, k.key_hash, k.user_id, u.token_version, u.disabled, k.scopes"
                  " FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.prefix = ? AND"
                  " k.revoked_at IS NULL",
                  DB_ARGS(DBSN(api_key + 3, 8)), &r);
    if (res)
        return res;
    if (r.nrows == 0 || !auth_secret_equal(db_cell(&r, 0, 1), hash) || db_cell_i64(&r, 0, 4)) {
        audit_write_quiet(cx, "auth.api_key", NULL, 0, AUDIT_DENIED,
                          "open311: unknown or revoked api key");
        return rctx_fail(cx, ERR_FORBIDDEN, "invalid api_key");
    }
    if (!has_scope(db_cell(&r, 0, 5), "cases:write")) {
        audit_write_quiet(cx, "auth.scope_denied", "api_key", db_cell_i64(&r, 0, 0), AUDIT_DENIED,
                          "open311: cases:write");
        return rctx_fail(cx, ERR_FORBIDDEN, "this api_key may not create requests");
    }
    memset(&cx->who, 0, sizeof cx->who);
    cx->who.api_key_id = db_cell_i64(&r, 0, 0);
    cx->who.user_id = db_cell_i64(&r, 0, 2);
    cx->who.token_version = db_cell_i64(&r, 0, 3);
    cx->who.roles = ROLE_MACHINE;
    snprintf(cx->who.device_id, sizeof cx->who.device_id, "apikey:%lld",
             (long long)cx->who.api_key_id);
    return db_exec(cx, "UPDATE api_keys SET last_used_at = FROM_UNIXTIME(? / 1000) WHERE id = ?",
                   DB_ARGS(DBI(cx->now_ms), DBI(cx->who.api_key_id)), NULL);
}

enum err open311_request_create(struct rctx *cx, const struct open311_create *in, struct idem *idem,
                                int64_t *id)
{
    struct open311_service s;
    struct case_report rep = {0};
    struct case_created out;
    enum err res = open311_service_get(cx, in->service_code, &s);

    if (res)
        return res;
    split_code(cx, in->service_code, &rep.code_set, &rep.kind, &rep.full_code);
    rep.description = in->description;
    rep.lat = in->lat;
    rep.lng = in->lng;
    rep.accuracy_m = -1;
    rep.address = in->address;
    rep.urgency = in->urgency;
    rep.source = "hotline";
    res = case_report_create(cx, &rep, idem, &out);
    if (res)
        return res;
    *id = out.id;
    return ERR_OK;
}
