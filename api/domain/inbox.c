/* api/domain/inbox.c */
#include "inbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/roles.h"
#include "server/db/db.h"
#include "api/domain/conversation.h"
#include "push.h"

#define MODULE "inbox"
#define MS(col) "CAST(UNIX_TIMESTAMP(" col ") * 1000 AS SIGNED)"
#define DISPATCH_MAX 256   /* events per transaction */
#define RECIPIENTS_MAX 512 /* inbox items one event may make */

static struct inbox_sink sink;
static int64_t retention_ms = 30LL * 86400 * 1000;

void inbox_set_sink(const struct inbox_sink *s)
{
    sink = *s;
}

void inbox_configure(int64_t ms)
{
    retention_ms = ms;
}

/* ---- poking the dispatcher ------------------------------------------------------------ */

static pthread_mutex_t poke_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t poke_cv = PTHREAD_COND_INITIALIZER;
static bool poked;
static _Thread_local bool written;

void inbox__note_written(void)
{
    written = true;
}

bool inbox__take_written(void)
{
    bool w = written;
    written = false;
    return w;
}

void inbox_poke(void)
{
    pthread_mutex_lock(&poke_mu);
    poked = true;
    pthread_cond_signal(&poke_cv);
    pthread_mutex_unlock(&poke_mu);
}

bool inbox_dispatcher_wait(int timeout_ms)
{
    struct timespec ts;
    bool was;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&poke_mu);
    while (!poked)
        if (pthread_cond_timedwait(&poke_cv, &poke_mu, &ts) != 0)
            break;
    was = poked;
    poked = false;
    pthread_mutex_unlock(&poke_mu);
    return was;
}

/* ---- the dispatcher ------------------------------------------------------------------- */

/* Who an event about a case is for: its reporter, its assignee (or, while a department holds
 * it without an assignee, that department's handlers), everyone who acted on it, and for a
 * 督办 every member of the department urged. Never the actor of the event itself, and never a
 * user who is only a citizen for the centre's internal events (督办, deadline reminders,
 * extensions: staff_only, see internal_event): a citizen follows the progress of their report,
 * not the supervision of the staff working on it. */
static const char case_recipients_sql[] =
    "SELECT DISTINCT uid FROM ("
    " SELECT reporter_id AS uid FROM cases WHERE id = ?"
    " UNION SELECT assignee_id FROM cases WHERE id = ?"
    " UNION SELECT actor_id FROM case_steps WHERE case_id = ?"
    " UNION SELECT u.id FROM users u JOIN cases c ON u.department_id = c.department_id"
    "  WHERE c.id = ? AND u.disabled = 0 AND (? = 1 OR (c.assignee_id IS NULL"
    "  AND (u.roles & ?) <> 0))"
    ") x JOIN users uu ON uu.id = x.uid WHERE uu.disabled = 0 AND x.uid <> ?"
    " AND (? = 0 OR (uu.roles & ?) <> 0)"
    " ORDER BY uid LIMIT " /* RECIPIENTS_MAX */ "512";

/* Events about a case that only staff are told of (case_recipients_sql). */
static bool internal_event(const char *type)
{
    return strncmp(type, "case.urg", 8) == 0 || strcmp(type, "case.reminder") == 0 ||
           strcmp(type, "case.overdue") == 0 || strcmp(type, "case.escalated") == 0 ||
           strncmp(type, "case.extension_", 15) == 0;
}

struct pending {
    int64_t user_id;
    int64_t event_id;
    const char *type;
    const char *payload;
    int64_t created_ms;
    int64_t seq; /* assigned later */
};

struct revocation {
    int64_t user_id;
    int64_t tv;
    bool disabled;
    const char *family;
};

/* A number after "key": in a small JSON object we wrote ourselves (events' payloads). */
static int64_t payload_num(const char *js, const char *key)
{
    char pat[48];
    const char *p;

    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(js, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"%s\": ", key);
        p = strstr(js, pat);
    }
    return p ? strtoll(p + strlen(pat), NULL, 10) : 0;
}

static const char *payload_str(struct rctx *cx, const char *js, const char *key)
{
    char pat[48];
    const char *p, *e;

    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    p = strstr(js, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"%s\":\"", key);
        p = strstr(js, pat);
    }
    if (!p)
        return NULL;
    p += strlen(pat);
    e = strchr(p, '"');
    return e ? rctx_strndup(cx, p, (size_t)(e - p)) : NULL;
}

static int cmp_pending(const void *a, const void *b)
{
    const struct pending *x = a, *y = b;
    if (x->user_id != y->user_id)
        return x->user_id < y->user_id ? -1 : 1;
    return x->event_id < y->event_id ? -1 : (x->event_id > y->event_id);
}

/* When the read finds a hole in the ids right after the position, the transaction that took
 * the missing id either rolled back or has not inserted its row yet (the instant between
 * taking an auto-increment value and writing the row). Holes younger than this are waited
 * for; older ones are rollbacks and are passed. */
#define HOLE_GRACE_MS 1000

enum err inbox_dispatch(struct rctx *cx, int max_events, int *done)
{
    struct db_res r, ev;
    struct pending *items = NULL;
    struct revocation *revs = NULL;
    size_t nitems = 0, cap = 0, nrevs = 0;
    struct inbox_item *room = NULL; /* case rooms' join/leave items (conv_case_sync) */
    size_t nroom = 0;
    int64_t pos, last = 0;
    size_t nev = 0;
    enum err res;

    *done = 0;
    if (max_events < 1 || max_events > DISPATCH_MAX)
        max_events = DISPATCH_MAX;
    /* Read committed: no gap locks on events (writers keep inserting while we read), but a
     * locking read still waits for a row whose transaction is open. */
    res = db_exec(cx, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", DB_NOARGS, NULL);
    if (res)
        return res;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx, "SELECT position FROM dispatcher_state WHERE name = 'inbox' FOR UPDATE",
                  DB_NOARGS, &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_INTERNAL, "dispatcher_state has no inbox row");
        goto out;
    }
    pos = db_cell_i64(&r, 0, 0);
    res = db_exec(
        cx,
        "SELECT id, type, subject_type, subject_id, COALESCE(actor_id, 0), payload, " MS(
            "created_at") " FROM events WHERE id > ? ORDER BY id LIMIT ? LOCK IN SHARE MODE",
        DB_ARGS(DBI(pos), DBI(max_events)), &ev);
    if (res)
        goto out;
    for (size_t i = 0; i < ev.nrows; i++) {
        int64_t id = db_cell_i64(&ev, i, 0);
        int64_t created = db_cell_i64(&ev, i, 6);
        if (id != (i ? last : pos) + 1 && cx->now_ms - created < HOLE_GRACE_MS)
            break; /* a young hole: wait for it (next run) */
        last = id;
        nev = i + 1;
    }
    for (size_t i = 0; i < nev; i++) {
        int64_t id = db_cell_i64(&ev, i, 0);
        const char *type = db_cell(&ev, i, 1);
        const char *subject = db_cell(&ev, i, 2);
        int64_t sid = db_cell_i64(&ev, i, 3);
        int64_t actor = db_cell_i64(&ev, i, 4);
        const char *payload = db_cell(&ev, i, 5);
        bool urged = strcmp(type, "case.urged") == 0;

        if (strcmp(type, "user.tokens_revoked") == 0 || strcmp(type, "session.revoked") == 0) {
            struct revocation *nv = rctx_alloc(cx, (nrevs + 1) * sizeof *nv);
            if (nrevs)
                memcpy(nv, revs, nrevs * sizeof *nv);
            revs = nv;
            revs[nrevs].user_id = sid;
            revs[nrevs].tv = payload_num(payload, "token_version");
            revs[nrevs].disabled = payload_num(payload, "disabled") != 0;
            revs[nrevs].family = payload_str(cx, payload, "family");
            nrevs++;
            continue;
        }
        if (strcmp(subject, "case") != 0)
            continue;
        /* The case's chat room (if it has one) follows its participants in this transaction,
         * so a crash never leaves the room out of step with a committed dispatch. */
        res = conv_case_sync(cx, sid, &room, &nroom);
        if (res)
            goto out;
        res = db_exec(cx, case_recipients_sql,
                      DB_ARGS(DBI(sid), DBI(sid), DBI(sid), DBI(sid), DBI(urged ? 1 : 0),
                              DBI(ROLE_HANDLER), DBI(actor), DBI(internal_event(type) ? 1 : 0),
                              DBI(ROLE_STAFF | ROLE_MACHINE)),
                      &r);
        if (res)
            goto out;
        if (nitems + r.nrows > cap) {
            size_t ncap = (nitems + r.nrows) * 2 + 16;
            struct pending *nv = rctx_alloc(cx, ncap * sizeof *nv);
            if (nitems)
                memcpy(nv, items, nitems * sizeof *nv);
            items = nv;
            cap = ncap;
        }
        for (size_t k = 0; k < r.nrows; k++)
            items[nitems++] = (struct pending){db_cell_i64(&r, k, 0),  id, type, payload,
                                               db_cell_i64(&ev, i, 6), 0};
    }
    /* Seqs: one head update per user, then the items in event order within each user. */
    if (nitems)
        qsort(items, nitems, sizeof *items, cmp_pending);
    for (size_t i = 0; i < nitems;) {
        size_t j = i;
        int64_t head;
        while (j < nitems && items[j].user_id == items[i].user_id)
            j++;
        res = db_exec(cx,
                      "INSERT INTO inbox_heads (user_id, seq) VALUES (?, ?) ON DUPLICATE KEY"
                      " UPDATE seq = LAST_INSERT_ID(seq + VALUES(seq))",
                      DB_ARGS(DBI(items[i].user_id), DBI((int64_t)(j - i))), &r);
        if (res)
            goto out;
        head = r.insert_id ? (int64_t)r.insert_id : (int64_t)(j - i);
        for (size_t k = i; k < j; k++) {
            items[k].seq = head - (int64_t)(j - k) + 1;
            res = db_exec(cx,
                          "INSERT INTO inbox_items (user_id, seq, type, event_id, payload,"
                          " created_at) VALUES (?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                          DB_ARGS(DBI(items[k].user_id), DBI(items[k].seq), DBS(items[k].type),
                                  DBI(items[k].event_id), DBS(items[k].payload),
                                  DBI(items[k].created_ms)),
                          NULL);
            if (!res) {
                struct inbox_item it = {items[k].user_id, items[k].seq, items[k].type,
                                        items[k].payload, items[k].created_ms};
                res = inbox__stored(cx, &it, 1);
            }
            if (res)
                goto out;
        }
        i = j;
    }
    if (nev)
        res = db_exec(cx, "UPDATE dispatcher_state SET position = ? WHERE name = 'inbox'",
                      DB_ARGS(DBI(last)), NULL);
out:
    res = db_tx_end(cx, res);
    if (res)
        return res;
    *done = (int)nev;
    if (nev) {
        /* Inbox lag: how long each event waited between its commit and its inbox items. */
        struct metrics_series *lag = metrics_histogram(
            "cityd_inbox_dispatch_lag_seconds",
            "Time from an event's commit to its dispatch into inboxes.", "", NULL, 0);
        for (size_t i = 0; i < nev; i++) {
            int64_t ms = cx->now_ms - db_cell_i64(&ev, i, 6);
            metrics_observe(lag, ms > 0 ? (double)ms / 1000.0 : 0.0);
        }
        metrics_add(metrics_counter("cityd_inbox_events_dispatched_total",
                                    "Events turned into inbox items by the dispatcher.", ""),
                    nev);
        metrics_add(metrics_counter("cityd_inbox_items_total", "Inbox items stored.", ""), nitems);
    }
    if (nitems && sink.items) {
        struct inbox_item *v = rctx_alloc(cx, nitems * sizeof *v);
        for (size_t i = 0; i < nitems; i++)
            v[i] = (struct inbox_item){items[i].user_id, items[i].seq, items[i].type,
                                       items[i].payload, items[i].created_ms};
        sink.items(v, nitems);
    }
    inbox_notify_items(room, nroom);
    for (size_t i = 0; i < nrevs && sink.revoked; i++)
        sink.revoked(revs[i].user_id, revs[i].tv, revs[i].disabled, revs[i].family);
    return ERR_OK;
}

/* ---- reading ---------------------------------------------------------------------------- */

bool inbox_stream_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= INBOX_STREAM_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
              s[i] == '_'))
            return false;
    return true;
}

enum err inbox_read(struct rctx *cx, const char *stream, int64_t after, int limit,
                    struct inbox_page *out)
{
    struct db_res h, r;
    bool inbox = strcmp(stream, INBOX_STREAM) == 0;
    int64_t head, floor;
    enum err res;

    memset(out, 0, sizeof *out);
    if (limit < 1 || limit > INBOX_PAGE_MAX)
        limit = INBOX_PAGE_MAX;
    if (inbox)
        res = db_exec(cx, "SELECT seq, floor_seq FROM inbox_heads WHERE user_id = ?",
                      DB_ARGS(DBI(cx->who.user_id)), &h);
    else
        res = db_exec(cx, "SELECT head, floor_offset FROM streams WHERE name = ?",
                      DB_ARGS(DBS(stream)), &h);
    if (res)
        return res;
    head = h.nrows ? db_cell_i64(&h, 0, 0) : 0;
    floor = h.nrows ? db_cell_i64(&h, 0, 1) : 0;
    out->head = head;
    if (after > head)
        return rctx_fail(cx, ERR_INVALID, "%s: position %lld is past the head %lld", stream,
                         (long long)after, (long long)head);
    if (after < floor) {
        out->resync = true;
        return ERR_OK;
    }
    if (after == head)
        return ERR_OK;
    if (inbox)
        res = db_exec(cx,
                      "SELECT seq, type, payload, " MS(
                          "created_at") " FROM inbox_items"
                                        " WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                      DB_ARGS(DBI(cx->who.user_id), DBI(after), DBI(limit)), &r);
    else
        res = db_exec(
            cx,
            "SELECT offset_no, type, payload, " MS(
                "created_at") " FROM stream_items"
                              " WHERE stream = ? AND offset_no > ? ORDER BY offset_no LIMIT ?",
            DB_ARGS(DBS(stream), DBI(after), DBI(limit)), &r);
    if (res)
        return res;
    out->v = rctx_alloc(cx, (r.nrows ? r.nrows : 1) * sizeof *out->v);
    for (size_t i = 0; i < r.nrows; i++)
        out->v[i] =
            (struct inbox_item){inbox ? cx->who.user_id : 0, db_cell_i64(&r, i, 0),
                                db_cell(&r, i, 1), db_cell(&r, i, 2), db_cell_i64(&r, i, 3)};
    out->n = r.nrows;
    out->more = r.nrows && out->v[r.nrows - 1].seq < head;
    /* Retention may have purged items between the two reads: never hand out a hole. */
    if (r.nrows && out->v[0].seq != after + 1) {
        out->n = 0;
        out->more = false;
        out->resync = true;
    }
    return ERR_OK;
}

enum err inbox_member_streams(struct rctx *cx, const char **names, size_t *n)
{
    struct db_res r;
    enum err res;
    uint32_t roles;
    size_t k = 0;

    res = db_exec(cx, "SELECT roles, COALESCE(department_id, 0) FROM users WHERE id = ?",
                  DB_ARGS(DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_UNAUTH, "no such user");
    roles = (uint32_t)db_cell_i64(&r, 0, 0) & cx->who.roles;
    if (roles & ROLE_STAFF)
        names[k++] = "all";
    if (db_cell_i64(&r, 0, 1))
        names[k++] = rctx_printf(cx, "dept.%lld", (long long)db_cell_i64(&r, 0, 1));
    if (roles & (ROLE_LEADER | ROLE_ADMIN))
        names[k++] = "tiles";
    if (roles & ROLE_STAFF) {
        /* 公文通知 to a grid: the grids the user works in (at most INBOX_GRIDS_MAX streams). */
        res = db_exec(cx,
                      "SELECT grid_id FROM user_grids WHERE user_id = ? ORDER BY grid_id LIMIT"
                      " " /* INBOX_GRIDS_MAX */ "4",
                      DB_ARGS(DBI(cx->who.user_id)), &r);
        if (res)
            return res;
        for (size_t i = 0; i < r.nrows && k < INBOX_MEMBER_MAX - 1; i++)
            names[k++] = rctx_printf(cx, "grid.%lld", (long long)db_cell_i64(&r, i, 0));
    }
    *n = k;
    return ERR_OK;
}

/* ---- positions -------------------------------------------------------------------------- */

static enum err head_of(struct rctx *cx, const char *stream, int64_t *head)
{
    struct db_res r;
    enum err res;

    if (strcmp(stream, INBOX_STREAM) == 0)
        res = db_exec(cx, "SELECT seq FROM inbox_heads WHERE user_id = ?",
                      DB_ARGS(DBI(cx->who.user_id)), &r);
    else
        res = db_exec(cx, "SELECT head FROM streams WHERE name = ?", DB_ARGS(DBS(stream)), &r);
    if (!res)
        *head = r.nrows ? db_cell_i64(&r, 0, 0) : 0;
    return res;
}

enum err inbox_ack(struct rctx *cx, const char *device_id, const char *stream, int64_t position,
                   int64_t *unread)
{
    struct db_res r;
    int64_t head = 0, pos;
    enum err res = head_of(cx, stream, &head);

    if (res)
        return res;
    if (position > head || position < 0)
        return rctx_fail(cx, ERR_INVALID, "%s: position %lld is past the head %lld", stream,
                         (long long)position, (long long)head);
    res = db_exec(
        cx,
        "INSERT INTO device_positions (user_id, device_id, stream, position, updated_at)"
        " VALUES (?,?,?,?,FROM_UNIXTIME(? / 1000)) ON DUPLICATE KEY UPDATE"
        " position = GREATEST(position, VALUES(position)),"
        " updated_at = VALUES(updated_at)",
        DB_ARGS(DBI(cx->who.user_id), DBS(device_id), DBS(stream), DBI(position), DBI(cx->now_ms)),
        NULL);
    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT position FROM device_positions WHERE user_id = ? AND device_id = ?"
                  " AND stream = ?",
                  DB_ARGS(DBI(cx->who.user_id), DBS(device_id), DBS(stream)), &r);
    if (res)
        return res;
    pos = r.nrows ? db_cell_i64(&r, 0, 0) : position;
    *unread = head > pos ? head - pos : 0;
    return ERR_OK;
}

enum err inbox_unread(struct rctx *cx, const char *device_id, const char *stream, int64_t *position,
                      int64_t *unread)
{
    struct db_res r;
    int64_t head = 0;
    enum err res = head_of(cx, stream, &head);

    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT position FROM device_positions WHERE user_id = ? AND device_id = ?"
                  " AND stream = ?",
                  DB_ARGS(DBI(cx->who.user_id), DBS(device_id), DBS(stream)), &r);
    if (res)
        return res;
    *position = r.nrows ? db_cell_i64(&r, 0, 0) : -1;
    *unread = head > *position ? head - (*position < 0 ? 0 : *position) : 0;
    return ERR_OK;
}

/* ---- writing ---------------------------------------------------------------------------- */

enum err inbox_stream_publish_tx(struct rctx *cx, const char *stream, const char *type,
                                 const char *payload_json, int64_t *offset)
{
    struct db_res r;
    int64_t off;
    enum err res;

    if (!inbox_stream_name_ok(stream))
        return rctx_fail(cx, ERR_INVALID, "stream: a-z, 0-9, '.', '_', at most 63");
    res = db_exec(cx,
                  "INSERT INTO streams (name, head) VALUES (?, 1) ON DUPLICATE KEY UPDATE"
                  " head = LAST_INSERT_ID(head + 1)",
                  DB_ARGS(DBS(stream)), &r);
    if (res)
        return res;
    off = r.insert_id ? (int64_t)r.insert_id : 1;
    res = db_exec(cx,
                  "INSERT INTO stream_items (stream, offset_no, type, payload, created_by,"
                  " created_at) VALUES (?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBS(stream), DBI(off), DBS(type), DBS(payload_json),
                          cx->who.user_id ? DBI(cx->who.user_id) : DBNULL, DBI(cx->now_ms)),
                  NULL);
    if (!res)
        *offset = off;
    return res;
}

enum err inbox_stream_publish(struct rctx *cx, const char *stream, const char *type,
                              const char *payload_json, int64_t *offset)
{
    struct inbox_item it;
    int64_t off = 0;
    enum err res;

    if (!inbox_stream_name_ok(stream))
        return rctx_fail(cx, ERR_INVALID, "stream: a-z, 0-9, '.', '_', at most 63");
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = inbox_stream_publish_tx(cx, stream, type, payload_json, &off);
    res = db_tx_end(cx, res);
    if (res)
        return res;
    *offset = off;
    it = (struct inbox_item){0, off, type, payload_json, cx->now_ms};
    inbox_notify_stream(stream, &it);
    return ERR_OK;
}

enum err inbox_append(struct rctx *cx, int64_t user, const char *type, const char *payload,
                      const char *dedupe, int64_t *seq)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "INSERT INTO inbox_heads (user_id, seq) VALUES (?, 1) ON DUPLICATE KEY"
                           " UPDATE seq = LAST_INSERT_ID(seq + 1)",
                           DB_ARGS(DBI(user)), &r);
    if (res)
        return res;
    *seq = r.insert_id ? (int64_t)r.insert_id : 1;
    res = db_exec(cx,
                  "INSERT INTO inbox_items (user_id, seq, type, dedupe, payload, created_at)"
                  " VALUES (?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBI(user), DBI(*seq), DBS(type), dedupe ? DBS(dedupe) : DBNULL,
                          DBS(payload), DBI(cx->now_ms)),
                  NULL);
    if (!res) {
        struct inbox_item it = {user, *seq, type, payload, cx->now_ms};
        res = inbox__stored(cx, &it, 1);
    }
    return res;
}

enum err inbox__stored(struct rctx *cx, const struct inbox_item *v, size_t n)
{
    /* Vendor push (push.h): the item's pushes are queued in its own transaction, so an item
     * exists if and only if its pushes do. */
    return push_enqueue_items(cx, v, n);
}

void inbox_notify_items(const struct inbox_item *v, size_t n)
{
    if (n && sink.items)
        sink.items(v, n);
}

void inbox_notify_stream(const char *stream, const struct inbox_item *it)
{
    if (sink.stream_item)
        sink.stream_item(stream, it);
}

/* ---- retention -------------------------------------------------------------------------- */

enum err inbox_retention_job(struct rctx *cx)
{
    int64_t cut = cx->now_ms - retention_ms;
    enum err res;

    res = db_tx_begin(cx);
    if (res)
        return res;
    /* Floors first: a reader never sees a hole it is not told about. */
    res = db_exec(cx,
                  "UPDATE inbox_heads h JOIN (SELECT user_id, MAX(seq) AS m FROM inbox_items"
                  " WHERE created_at < FROM_UNIXTIME(? / 1000) GROUP BY user_id) x"
                  " ON x.user_id = h.user_id SET h.floor_seq = GREATEST(h.floor_seq, x.m)",
                  DB_ARGS(DBI(cut)), NULL);
    if (!res)
        res = db_exec(cx, "DELETE FROM inbox_items WHERE created_at < FROM_UNIXTIME(? / 1000)",
                      DB_ARGS(DBI(cut)), NULL);
    if (!res)
        res = db_exec(cx,
                      "UPDATE streams s JOIN (SELECT stream, MAX(offset_no) AS m FROM stream_items"
                      " WHERE created_at < FROM_UNIXTIME(? / 1000) GROUP BY stream) x"
                      " ON x.stream = s.name SET s.floor_offset = GREATEST(s.floor_offset, x.m)",
                      DB_ARGS(DBI(cut)), NULL);
    if (!res)
        res = db_exec(cx, "DELETE FROM stream_items WHERE created_at < FROM_UNIXTIME(? / 1000)",
                      DB_ARGS(DBI(cut)), NULL);
    return db_tx_end(cx, res);
}
