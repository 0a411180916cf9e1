/* api/domain/webhook.c: webhooks of API keys (see webhook.h). */
#include "api/domain/webhook.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "api/domain/audit.h"
#include "api/domain/case_int.h"
#include "server/core/clock.h"
#include "server/core/ids.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/db/db.h"
#include "server/db/sqlb.h"
#include "server/ext/webhook.h"

#define MS(col) "CAST(UNIX_TIMESTAMP(" col ") * 1000 AS SIGNED)"

/* A hole in the event ids younger than this is a transaction between taking its id and writing
 * its row: wait for it. Older holes are rollbacks and are passed (inbox.c does the same). */
#define HOLE_GRACE_MS 1000
/* Events read per step while looking for the next one of the key's, and steps per attempt. */
#define SCAN_PAGE 200
#define SCAN_PAGES 5
/* The lease outlives the attempt's timeout by this much (commit of the result included). */
#define LEASE_MARGIN_MS 10000
/* Events a reporter is not shown (case_event.c): internal supervision. */
#define INTERNAL_TYPES                                                                             \
    "'case.reminder', 'case.overdue', 'case.escalated', 'case.urged', "                            \
    "'case.urging_acknowledged'"

static struct webhook_config conf = {10000, 1000, 3600000};

void webhook_configure(const struct webhook_config *c)
{
    conf = *c;
}

/* ---- admin ----------------------------------------------------------------------------- */

#define HOOK_COLS                                                                                  \
    "w.id, w.api_key_id, w.url, w.enabled, w.position, w.generation, w.attempts, " MS(             \
        "w.next_attempt_at") ", " MS("w.last_success_at") ", " MS("w.created_at") ", " MS("w."     \
                                                                                          "update" \
                                                                                          "d_at") ", w.last_error, (SELECT COALESCE(MAX(id), 0) FROM events)"

static void hook_row(const struct db_res *r, size_t i, struct webhook_rec *w)
{
    memset(w, 0, sizeof *w);
    w->id = db_cell_i64(r, i, 0);
    w->api_key_id = db_cell_i64(r, i, 1);
    w->url = db_cell(r, i, 2);
    w->enabled = db_cell_i64(r, i, 3) != 0;
    w->position = db_cell_i64(r, i, 4);
    w->generation = db_cell_i64(r, i, 5);
    w->attempts = db_cell_i64(r, i, 6);
    w->next_attempt_ms = db_cell_i64(r, i, 7);
    w->last_success_ms = db_cell_i64(r, i, 8);
    w->created_ms = db_cell_i64(r, i, 9);
    w->updated_ms = db_cell_i64(r, i, 10);
    w->last_error = db_cell(r, i, 11);
    w->head = db_cell_i64(r, i, 12);
}

static enum err load(struct rctx *cx, int64_t api_key_id, struct webhook_rec *out)
{
    struct db_res r;
    enum err res = db_exec(cx, "SELECT " HOOK_COLS " FROM webhooks w WHERE w.api_key_id = ?",
                           DB_ARGS(DBI(api_key_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "this API key has no webhook");
    hook_row(&r, 0, out);
    return ERR_OK;
}

static enum err check_url(struct rctx *cx, const char *url)
{
    size_t n = strlen(url);
    const char *host;

    if (n > WEBHOOK_URL_MAX)
        return rctx_fail(cx, ERR_INVALID, "url: at most %d bytes", WEBHOOK_URL_MAX);
    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        return rctx_fail(cx, ERR_INVALID, "url: must start with http:// or https://");
    if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
        return rctx_fail(cx, ERR_INVALID, "url: names no host");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return rctx_fail(cx, ERR_INVALID,
                             "url: spaces, controls and non-ASCII must be "
                             "percent-encoded");
    return ERR_OK;
}

static enum err check_secret(struct rctx *cx, const char *s)
{
    size_t n = strlen(s);

    if (n < WEBHOOK_SECRET_MIN || n > WEBHOOK_SECRET_MAX)
        return rctx_fail(cx, ERR_INVALID, "secret: %d to %d characters", WEBHOOK_SECRET_MIN,
                         WEBHOOK_SECRET_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return rctx_fail(cx, ERR_INVALID, "secret: printable ASCII without spaces");
    return ERR_OK;
}

static enum err event_head(struct rctx *cx, int64_t *head)
{
    struct db_res r;
    enum err res = db_exec(cx, "SELECT COALESCE(MAX(id), 0) FROM events", DB_NOARGS, &r);
    if (!res)
        *head = db_cell_i64(&r, 0, 0);
    return res;
}

enum err webhook_put(struct rctx *cx, int64_t api_key_id, const struct webhook_put_in *in,
                     struct webhook_rec *out, bool *created)
{
    struct db_res r;
    int64_t head, id;
    enum err res;

    res = check_url(cx, in->url);
    if (!res)
        res = check_secret(cx, in->secret);
    if (res)
        return res;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx, "SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = ? FOR UPDATE",
                  DB_ARGS(DBI(api_key_id)), &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_NOTFOUND, "no such API key");
        goto out;
    }
    if (db_cell_i64(&r, 0, 0)) {
        res = rctx_fail(cx, ERR_INVALID, "the API key is revoked");
        goto out;
    }
    res = event_head(cx, &head);
    if (res)
        goto out;
    if (in->position > head) {
        res = rctx_fail(cx, ERR_INVALID, "position: 0 to %" PRId64 " (the newest event)", head);
        goto out;
    }
    res = db_exec(cx, "SELECT id FROM webhooks WHERE api_key_id = ? FOR UPDATE",
                  DB_ARGS(DBI(api_key_id)), &r);
    if (res)
        goto out;
    *created = r.nrows == 0;
    if (*created) {
        res =
            db_exec(cx,
                    "INSERT INTO webhooks (api_key_id, url, secret, enabled, position,"
                    " next_attempt_at, created_by, created_at, updated_at) VALUES"
                    " (?,?,?,?,?,FROM_UNIXTIME(? / 1000),?,FROM_UNIXTIME(? / 1000),"
                    "FROM_UNIXTIME(? / 1000))",
                    DB_ARGS(DBI(api_key_id), DBS(in->url), DBS(in->secret),
                            DBI(in->enabled ? 1 : 0), DBI(in->position >= 0 ? in->position : head),
                            DBI(cx->now_ms), cx->who.user_id ? DBI(cx->who.user_id) : DBNULL,
                            DBI(cx->now_ms), DBI(cx->now_ms)),
                    &r);
        id = (int64_t)r.insert_id;
    } else {
        id = db_cell_i64(&r, 0, 0);
        res = db_exec(cx,
                      "UPDATE webhooks SET url = ?, secret = ?, enabled = ?, position ="
                      " IF(? < 0, position, ?), generation = generation + 1, attempts = 0,"
                      " last_error = NULL, next_attempt_at = FROM_UNIXTIME(? / 1000),"
                      " updated_at = FROM_UNIXTIME(? / 1000) WHERE id = ?",
                      DB_ARGS(DBS(in->url), DBS(in->secret), DBI(in->enabled ? 1 : 0),
                              DBI(in->position), DBI(in->position), DBI(cx->now_ms),
                              DBI(cx->now_ms), DBI(id)),
                      NULL);
    }
    if (!res)
        res = audit_write(
            cx, "webhook.put", "api_key", api_key_id, AUDIT_OK,
            rctx_printf(cx, "webhook %" PRId64 "%s", id, in->enabled ? "" : " (disabled)"));
    if (!res)
        res = load(cx, api_key_id, out);
out:
    return db_tx_end(cx, res);
}

enum err webhook_get(struct rctx *cx, int64_t api_key_id, struct webhook_rec *out)
{
    return load(cx, api_key_id, out);
}

enum err webhook_delete(struct rctx *cx, int64_t api_key_id)
{
    struct db_res r;
    enum err res = db_tx_begin(cx);

    if (res)
        return res;
    res = db_exec(cx, "DELETE FROM webhooks WHERE api_key_id = ?", DB_ARGS(DBI(api_key_id)), &r);
    if (!res && r.affected == 0)
        res = rctx_fail(cx, ERR_NOTFOUND, "this API key has no webhook");
    if (!res)
        res = audit_write(cx, "webhook.delete", "api_key", api_key_id, AUDIT_OK, NULL);
    return db_tx_end(cx, res);
}

enum err webhook_replay(struct rctx *cx, int64_t api_key_id, int64_t position,
                        struct webhook_rec *out)
{
    struct db_res r;
    int64_t head;
    enum err res = db_tx_begin(cx);

    if (res)
        return res;
    res = event_head(cx, &head);
    if (res)
        goto out;
    if (position < 0 || position > head) {
        res = rctx_fail(cx, ERR_INVALID, "position: 0 to %" PRId64 " (the newest event)", head);
        goto out;
    }
    res = db_exec(cx,
                  "UPDATE webhooks SET position = ?, generation = generation + 1, attempts = 0,"
                  " last_error = NULL, next_attempt_at = FROM_UNIXTIME(? / 1000),"
                  " updated_at = FROM_UNIXTIME(? / 1000) WHERE api_key_id = ?",
                  DB_ARGS(DBI(position), DBI(cx->now_ms), DBI(cx->now_ms), DBI(api_key_id)), &r);
    if (res)
        goto out;
    if (r.affected == 0) {
        res = rctx_fail(cx, ERR_NOTFOUND, "this API key has no webhook");
        goto out;
    }
    res = audit_write(cx, "webhook.replay", "api_key", api_key_id, AUDIT_OK,
                      rctx_printf(cx, "from event %" PRId64, position));
    if (!res)
        res = load(cx, api_key_id, out);
out:
    return db_tx_end(cx, res);
}

enum err webhook_log(struct rctx *cx, int64_t api_key_id, int64_t before_id, int limit,
                     struct webhook_delivery **out, size_t *n)
{
    struct webhook_rec w;
    struct db_res r;
    enum err res;

    if (limit < 1 || limit > WEBHOOK_LOG_MAX)
        return rctx_fail(cx, ERR_INVALID, "limit: 1 to %d", WEBHOOK_LOG_MAX);
    res = load(cx, api_key_id, &w);
    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT id, event_id, attempt, COALESCE(http_status, 0), duration_ms, " MS(
                      "created_at") ", ok, error FROM webhook_deliveries WHERE webhook_id = ?"
                                    " AND (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?",
                  DB_ARGS(DBI(w.id), DBI(before_id), DBI(before_id), DBI(limit)), &r);
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++) {
        struct webhook_delivery *d = &(*out)[i];
        d->id = db_cell_i64(&r, i, 0);
        d->event_id = db_cell_i64(&r, i, 1);
        d->attempt = db_cell_i64(&r, i, 2);
        d->http_status = db_cell_i64(&r, i, 3);
        d->duration_ms = db_cell_i64(&r, i, 4);
        d->created_ms = db_cell_i64(&r, i, 5);
        d->ok = db_cell_i64(&r, i, 6) != 0;
        d->error = db_cell(&r, i, 7);
    }
    return ERR_OK;
}

enum err webhook_retention_job(struct rctx *cx)
{
    return db_exec(cx,
                   "DELETE FROM webhook_deliveries WHERE created_at < FROM_UNIXTIME(? / 1000)"
                   " LIMIT 10000",
                   DB_ARGS(DBI(cx->now_ms - (int64_t)WEBHOOK_LOG_KEEP_DAYS * 86400 * 1000)), NULL);
}

/* ---- the deliverer --------------------------------------------------------------------- */

/* What one attempt needs once its claim committed. */
struct attempt {
    int64_t hook_id, generation, attempts;
    const char *url, *secret;
    char lease[33];
    int64_t event_id, case_id, created_ms;
    const char *type, *payload;
    char case_no[24];
};

static int64_t backoff_ms(int64_t failures)
{
    int64_t d = conf.retry_base_ms;

    for (int64_t i = 1; i < failures && d < conf.retry_max_ms; i++)
        d *= 2;
    return d < conf.retry_max_ms ? d : conf.retry_max_ms;
}

/* Inside the claim transaction: scan events after pos for the first one of user's cases.
 * *pos moves past every event passed (not the key's); *found tells whether a holds one. */
static enum err next_event(struct rctx *cx, int64_t user_id, int64_t *pos, struct attempt *a,
                           bool *found)
{
    *found = false;
    for (int page = 0; page < SCAN_PAGES; page++) {
        struct db_res ev, mine;
        struct db_sqlb b;
        size_t nev = 0, ncases = 0;
        int64_t last = *pos;
        enum err res;

        /* A locking read waits for a transaction still writing an earlier event. */
        res = db_exec(cx,
                      "SELECT id, subject_type, subject_id, type, " MS(
                          "created_at") " FROM events WHERE id > ? ORDER BY id LIMIT ?"
                                        " LOCK IN SHARE MODE",
                      DB_ARGS(DBI(*pos), DBI(SCAN_PAGE)), &ev);
        if (res)
            return res;
        for (size_t i = 0; i < ev.nrows; i++) {
            int64_t id = db_cell_i64(&ev, i, 0);
            if (id != last + 1 && cx->now_ms - db_cell_i64(&ev, i, 4) < HOLE_GRACE_MS)
                break; /* a young hole: wait for it */
            last = id;
            nev = i + 1;
        }
        if (nev == 0)
            return ERR_OK;
        db_sqlb_init(cx, &b, 0, "SELECT id FROM cases WHERE reporter_id = ? AND id IN (");
        db_sqlb_arg(&b, DBI(user_id));
        for (size_t i = 0; i < nev; i++) {
            if (strcmp(db_cell(&ev, i, 1), "case") != 0)
                continue;
            db_sqlb_add(&b, ncases ? ",?" : "?");
            db_sqlb_arg(&b, DBI(db_cell_i64(&ev, i, 2)));
            ncases++;
        }
        db_sqlb_add(&b, ")");
        mine.nrows = 0;
        if (ncases) {
            res = db_sqlb_exec(&b, &mine);
            if (res)
                return res;
        }
        for (size_t i = 0; i < nev; i++) {
            int64_t sid = db_cell_i64(&ev, i, 2);
            const char *type = db_cell(&ev, i, 3);
            bool ours = false;

            if (strcmp(db_cell(&ev, i, 1), "case") == 0 &&
                strstr(INTERNAL_TYPES, rctx_printf(cx, "'%s'", type)) == NULL)
                for (size_t k = 0; k < mine.nrows && !ours; k++)
                    ours = db_cell_i64(&mine, k, 0) == sid;
            if (!ours) {
                *pos = db_cell_i64(&ev, i, 0);
                continue;
            }
            a->event_id = db_cell_i64(&ev, i, 0);
            a->case_id = sid;
            a->type = type;
            a->created_ms = db_cell_i64(&ev, i, 4);
            *found = true;
            return ERR_OK;
        }
        if (nev < ev.nrows || ev.nrows < SCAN_PAGE)
            return ERR_OK; /* stopped at a hole, or read to the end */
    }
    return ERR_OK;
}

/* Claim webhook id if it is due and free, and find its next event. *worked when the position
 * moved or an attempt is to be made (a->event_id set). */
static enum err claim(struct rctx *cx, int64_t id, struct attempt *a, bool *worked)
{
    struct db_res r, k;
    int64_t pos, start, user_id;
    bool found = false;
    enum err res;

    *worked = false;
    a->event_id = 0;
    /* Read committed: no gap locks on events while writers insert. */
    res = db_exec(cx, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", DB_NOARGS, NULL);
    if (res)
        return res;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT position, generation, attempts, url, secret, api_key_id FROM webhooks"
                  " WHERE id = ? AND enabled = 1 AND next_attempt_at <= FROM_UNIXTIME(? / 1000)"
                  " AND (lease_until IS NULL OR lease_until < FROM_UNIXTIME(? / 1000))"
                  " FOR UPDATE SKIP LOCKED",
                  DB_ARGS(DBI(id), DBI(cx->now_ms), DBI(cx->now_ms)), &r);
    if (res || r.nrows == 0)
        goto out; /* another process has it, or it is no longer due */
    start = pos = db_cell_i64(&r, 0, 0);
    a->hook_id = id;
    a->generation = db_cell_i64(&r, 0, 1);
    a->attempts = db_cell_i64(&r, 0, 2);
    a->url = db_cell(&r, 0, 3);
    a->secret = db_cell(&r, 0, 4);
    /* The key is read without a lock: a token exchange updating it never waits for this. */
    res = db_exec(cx, "SELECT user_id, revoked_at IS NOT NULL FROM api_keys WHERE id = ?",
                  DB_ARGS(DBI(db_cell_i64(&r, 0, 5))), &k);
    if (res || k.nrows == 0)
        goto out;
    user_id = db_cell_i64(&k, 0, 0);
    if (db_cell_i64(&k, 0, 1)) {
        /* A revoked key's webhook rests; an admin deletes it or the key is replaced. */
        res = db_exec(cx,
                      "UPDATE webhooks SET next_attempt_at = FROM_UNIXTIME(? / 1000), last_error ="
                      " 'the API key is revoked' WHERE id = ?",
                      DB_ARGS(DBI(cx->now_ms + 3600 * 1000), DBI(id)), NULL);
        goto out;
    }
    res = next_event(cx, user_id, &pos, a, &found);
    if (res)
        goto out;
    if (found) {
        res = db_exec(cx,
                      "SELECT e.payload, " MS("c.created_at") " FROM events e JOIN cases c ON"
                                                              " c.id = e.subject_id WHERE e.id = ?",
                      DB_ARGS(DBI(a->event_id)), &r);
        if (res)
            goto out;
        a->payload = r.nrows ? db_cell(&r, 0, 0) : "{}";
        case__number(a->case_id, r.nrows ? db_cell_i64(&r, 0, 1) : 0, a->case_no);
        ids_token(a->lease, 32);
    }
    if (found || pos != start) {
        res = db_exec(cx,
                      "UPDATE webhooks SET position = ?, lease_token = ?, lease_until ="
                      " FROM_UNIXTIME(? / 1000) WHERE id = ?",
                      DB_ARGS(DBI(pos), found ? DBS(a->lease) : DBNULL,
                              found ? DBI(cx->now_ms + conf.timeout_ms + LEASE_MARGIN_MS) : DBNULL,
                              DBI(id)),
                      NULL);
        *worked = true;
    }
out:
    res = db_tx_end(cx, res);
    if (res)
        a->event_id = 0;
    return res;
}

/* The body: the event with its case number, as documented in docs/open311.md. The payload is
 * JSON already (the events table checks it); the other members are numbers and identifiers. */
static const char *body_of(struct rctx *cx, const struct attempt *a)
{
    char at[32];
    time_t t = (time_t)(a->created_ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    /* Bounded so the compiler can see the result fits (case__number does the same). */
    snprintf(at, sizeof at, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)(a->created_ms % 1000));
    return rctx_printf(cx,
                       "{\"id\":%" PRId64 ",\"webhook_id\":%" PRId64 ",\"type\":\"%s\","
                       "\"case_id\":%" PRId64 ",\"case_no\":\"%s\",\"payload\":%s,"
                       "\"created_at\":\"%s\"}",
                       a->event_id, a->hook_id, a->type, a->case_id, a->case_no, a->payload, at);
}

/* Record the attempt; move the position only when the lease and generation are still ours. */
static enum err finish(struct rctx *cx, const struct attempt *a, bool ok,
                       const struct ext_webhook_result *x)
{
    struct db_res r;
    enum err res = db_tx_begin(cx);
    int64_t failures = a->attempts + 1;

    if (res)
        return res;
    res = db_exec(cx, "SELECT generation, lease_token FROM webhooks WHERE id = ? FOR UPDATE",
                  DB_ARGS(DBI(a->hook_id)), &r);
    if (res || r.nrows == 0)
        goto out; /* deleted meanwhile */
    res = db_exec(cx,
                  "INSERT INTO webhook_deliveries (webhook_id, event_id, attempt, ok, http_status,"
                  " error, duration_ms, created_at) VALUES (?,?,?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBI(a->hook_id), DBI(a->event_id), DBI(a->attempts + 1), DBI(ok ? 1 : 0),
                          x->status ? DBI(x->status) : DBNULL, ok ? DBNULL : DBS(x->error),
                          DBI(x->duration_ms), DBI(cx->now_ms)),
                  NULL);
    if (res || !db_cell(&r, 0, 1) || strcmp(db_cell(&r, 0, 1), a->lease) != 0)
        goto out; /* the lease expired and another attempt took over */
    if (db_cell_i64(&r, 0, 0) != a->generation)
        res = db_exec(cx, "UPDATE webhooks SET lease_token = NULL, lease_until = NULL WHERE id = ?",
                      DB_ARGS(DBI(a->hook_id)), NULL);
    else if (ok)
        res = db_exec(cx,
                      "UPDATE webhooks SET position = ?, attempts = 0, last_error = NULL,"
                      " last_success_at = FROM_UNIXTIME(? / 1000), next_attempt_at ="
                      " FROM_UNIXTIME(? / 1000), lease_token = NULL, lease_until = NULL"
                      " WHERE id = ?",
                      DB_ARGS(DBI(a->event_id), DBI(cx->now_ms), DBI(cx->now_ms), DBI(a->hook_id)),
                      NULL);
    else
        res = db_exec(cx,
                      "UPDATE webhooks SET attempts = ?, last_error = ?, next_attempt_at ="
                      " FROM_UNIXTIME(? / 1000), lease_token = NULL, lease_until = NULL"
                      " WHERE id = ?",
                      DB_ARGS(DBI(failures), DBS(x->error), DBI(cx->now_ms + backoff_ms(failures)),
                              DBI(a->hook_id)),
                      NULL);
out:
    return db_tx_end(cx, res);
}

enum err webhook_deliver_pass(struct rctx *cx, int *worked)
{
    struct db_res due;
    enum err res;

    *worked = 0;
    res = db_exec(cx,
                  "SELECT id FROM webhooks WHERE enabled = 1 AND next_attempt_at <="
                  " FROM_UNIXTIME(? / 1000) AND (lease_until IS NULL OR lease_until <"
                  " FROM_UNIXTIME(? / 1000)) ORDER BY next_attempt_at LIMIT 64",
                  DB_ARGS(DBI(cx->now_ms), DBI(cx->now_ms)), &due);
    if (res)
        return res;
    for (size_t i = 0; i < due.nrows; i++) {
        struct attempt a;
        struct ext_webhook_result x;
        const char *body;
        bool moved, ok;

        memset(&a, 0, sizeof a);
        res = claim(cx, db_cell_i64(&due, i, 0), &a, &moved);
        if (res)
            return res;
        if (moved)
            (*worked)++;
        if (!a.event_id)
            continue;
        body = body_of(cx, &a);
        /* No transaction is open here: the receiver's time costs no database lock. */
        ok = ext_webhook_post(cx, a.url, a.secret, a.hook_id, a.event_id, body, strlen(body),
                              cx->now_ms / 1000, conf.timeout_ms, &x) == ERR_OK;
        cx->err.code = ERR_OK; /* a failed attempt is recorded, not this pass's error */
        cx->now_ms = clock_now_ms();
        metrics_inc(metrics_counter("cityd_webhook_attempts_total",
                                    "Webhook delivery attempts by result.",
                                    ok ? "result=\"ok\"" : "result=\"failed\""));
        if (ok)
            metrics_observe(
                metrics_histogram("cityd_webhook_delivery_lag_seconds",
                                  "Time from an event's commit to its webhook's 2xx.", "", NULL, 0),
                cx->now_ms > a.created_ms ? (double)(cx->now_ms - a.created_ms) / 1000 : 0.0);
        res = finish(cx, &a, ok, &x);
        if (res)
            return res;
    }
    return ERR_OK;
}
