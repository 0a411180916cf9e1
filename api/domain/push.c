/* api/domain/push.c */
#include "push.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "citytime.h"
#include "inbox.h"
#include "refdata.h"
#include "server/core/clock.h"
#include "server/core/ids.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/db/db.h"
#include "server/db/sqlb.h"
#include "server/ext/push.h"

#define MODULE "push"
#define LEASE_MS 60000 /* a claim outlives any batch (timeouts are seconds) */
#define SENT_KEEP_MS (7LL * 86400 * 1000)
#define BATCH_MAX 1000

static struct push_conf conf = {.ack_grace_ms = 10000,
                                .max_age_ms = 86400000,
                                .retry_max_ms = 300000,
                                .batch = 64,
                                .user_rate = 10,
                                .user_urgent_rate = 30,
                                .receipt_key = ""};
static char receipt_key[128];

void push_configure(const struct push_conf *c)
{
    conf = *c;
    snprintf(receipt_key, sizeof receipt_key, "%s", c->receipt_key ? c->receipt_key : "");
    conf.receipt_key = receipt_key;
    if (conf.batch < 1 || conf.batch > BATCH_MAX)
        conf.batch = 64;
}

/* ---- validation ------------------------------------------------------------------------- */

static bool chars_ok(const char *s, size_t min, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(extra, c)))
            return false;
    }
    return true;
}

/* Which platform may use which vendor. */
static bool platform_vendor_ok(const char *platform, int vendor)
{
    switch (vendor) {
    case EXT_PUSH_APNS:
        return strcmp(platform, "ios") == 0;
    case EXT_PUSH_HUAWEI:
    case EXT_PUSH_HONOR:
        return strcmp(platform, "android") == 0 || strcmp(platform, "harmony") == 0;
    case EXT_PUSH_XIAOMI:
    case EXT_PUSH_OPPO:
    case EXT_PUSH_VIVO:
        return strcmp(platform, "android") == 0;
    case EXT_PUSH_WECHAT:
        return strcmp(platform, "miniprogram") == 0;
    default:
        return false;
    }
}

/* ---- devices ---------------------------------------------------------------------------- */

static const char device_cols[] =
    "id, device_id, platform, vendor, app_version, locale,"
    " DATE_FORMAT(CONVERT_TZ(created_at, @@session.time_zone, '+00:00'), '%Y-%m-%dT%H:%i:%s.%fZ'),"
    " DATE_FORMAT(CONVERT_TZ(updated_at, @@session.time_zone, '+00:00'), '%Y-%m-%dT%H:%i:%s.%fZ')";

enum err push_device_register(struct rctx *cx, const struct push_device_in *in,
                              struct push_device_rec *out)
{
    struct db_res r;
    const char *token = in->token;
    int vendor;
    enum err res;

    if (!cx->who.device_id[0] || !cx->who.family[0])
        return rctx_fail(cx, ERR_FORBIDDEN, "push registration needs a log-in device");
    vendor = ext_push_vendor_by_name(in->vendor);
    if (vendor < 0)
        return rctx_fail(cx, ERR_INVALID,
                         "vendor: one of apns, huawei, xiaomi, oppo, vivo, honor, wechat");
    if (!chars_ok(in->platform, 1, 16, "") ||
        (strcmp(in->platform, "ios") != 0 && strcmp(in->platform, "android") != 0 &&
         strcmp(in->platform, "harmony") != 0 && strcmp(in->platform, "miniprogram") != 0))
        return rctx_fail(cx, ERR_INVALID, "platform: one of ios, android, harmony, miniprogram");
    if (!platform_vendor_ok(in->platform, vendor))
        return rctx_fail(cx, ERR_INVALID, "vendor %s does not serve platform %s", in->vendor,
                         in->platform);
    if (!chars_ok(in->app_version, 1, PUSH_APP_VERSION_MAX, ".-_+"))
        return rctx_fail(cx, ERR_INVALID, "app_version: 1..%d of letters, digits, . - _ +",
                         PUSH_APP_VERSION_MAX);
    if (!chars_ok(in->locale, 2, PUSH_LOCALE_MAX, "-_"))
        return rctx_fail(cx, ERR_INVALID, "locale: a language tag such as zh-CN");
    if (vendor != EXT_PUSH_WECHAT && (!token || !chars_ok(token, 8, PUSH_TOKEN_MAX, ".-_:=+/")))
        return rctx_fail(cx, ERR_INVALID, "token: 8..%d characters of the vendor's token alphabet",
                         PUSH_TOKEN_MAX);
    if (!ext_push_configured(vendor))
        return rctx_fail(cx, ERR_BAD_STATE, "push through %s is not enabled on this server",
                         in->vendor);
    res = db_tx_begin(cx);
    if (res)
        return res;
    if (vendor == EXT_PUSH_WECHAT) {
        /* Subscription messages go to the mini-program user's openid, which only the server
         * knows for sure (from code2Session). */
        res = db_exec(cx,
                      "SELECT wechat_openid FROM users WHERE id = ? AND wechat_openid IS NOT NULL",
                      DB_ARGS(DBI(cx->who.user_id)), &r);
        if (res)
            goto out;
        if (r.nrows == 0) {
            res = rctx_fail(cx, ERR_BAD_STATE, "wechat: this account has no WeChat log-in");
            goto out;
        }
        token = db_cell(&r, 0, 0);
    }
    /* A token belongs to one device: a phone handed to someone else moves here. */
    res = db_exec(
        cx,
        "DELETE FROM push_devices WHERE vendor = ? AND token = ?"
        " AND NOT (user_id = ? AND device_id = ?)",
        DB_ARGS(DBS(in->vendor), DBS(token), DBI(cx->who.user_id), DBS(cx->who.device_id)), NULL);
    if (res)
        goto out;
    res = db_exec(cx,
                  "INSERT INTO push_devices (user_id, device_id, family, platform, vendor, token,"
                  " app_version, locale) VALUES (?,?,?,?,?,?,?,?) ON DUPLICATE KEY UPDATE"
                  " family = VALUES(family), platform = VALUES(platform), vendor = VALUES(vendor),"
                  " token = VALUES(token), app_version = VALUES(app_version),"
                  " locale = VALUES(locale), updated_at = CURRENT_TIMESTAMP(3)",
                  DB_ARGS(DBI(cx->who.user_id), DBS(cx->who.device_id), DBS(cx->who.family),
                          DBS(in->platform), DBS(in->vendor), DBS(token), DBS(in->app_version),
                          DBS(in->locale)),
                  &r);
    if (res)
        goto out;
    out->created = r.affected == 1;
    /* Pushes queued under the old token go with the new one, through the new vendor. */
    res = db_exec(cx,
                  "UPDATE push_queue q JOIN push_devices d ON d.id = q.device_row"
                  " SET q.vendor = d.vendor WHERE d.user_id = ? AND d.device_id = ?"
                  " AND q.vendor <> d.vendor",
                  DB_ARGS(DBI(cx->who.user_id), DBS(cx->who.device_id)), NULL);
    if (res)
        goto out;
    res = db_exec(cx,
                  rctx_printf(cx, "SELECT %s FROM push_devices WHERE user_id = ? AND device_id = ?",
                              device_cols),
                  DB_ARGS(DBI(cx->who.user_id), DBS(cx->who.device_id)), &r);
    if (res)
        goto out;
    if (r.nrows != 1) {
        res = rctx_fail(cx, ERR_INTERNAL, "push device row vanished");
        goto out;
    }
    out->id = db_cell_i64(&r, 0, 0);
    out->device_id = db_cell(&r, 0, 1);
    out->platform = db_cell(&r, 0, 2);
    out->vendor = db_cell(&r, 0, 3);
    out->app_version = db_cell(&r, 0, 4);
    out->locale = db_cell(&r, 0, 5);
    out->created_at = db_cell(&r, 0, 6);
    out->updated_at = db_cell(&r, 0, 7);
out:
    return db_tx_end(cx, res);
}

enum err push_device_unregister(struct rctx *cx)
{
    struct db_res r;
    enum err res;

    if (!cx->who.device_id[0])
        return rctx_fail(cx, ERR_FORBIDDEN, "push registration needs a log-in device");
    res = db_exec(cx, "DELETE FROM push_devices WHERE user_id = ? AND device_id = ?",
                  DB_ARGS(DBI(cx->who.user_id), DBS(cx->who.device_id)), &r);
    if (res)
        return res;
    if (r.affected == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "this device has no push registration");
    return ERR_OK;
}

/* ---- quiet hours ------------------------------------------------------------------------ */

bool push_quiet_contains(const struct push_quiet *q, int m)
{
    if (q->start_min < 0 || q->end_min < 0 || q->start_min == q->end_min)
        return false;
    if (q->start_min < q->end_min)
        return m >= q->start_min && m < q->end_min;
    return m >= q->start_min || m < q->end_min;
}

enum err push_quiet_get(struct rctx *cx, struct push_quiet *out)
{
    struct db_res r;
    enum err res;

    res = db_exec(cx,
                  "SELECT COALESCE(quiet_start, -1), COALESCE(quiet_end, -1) FROM push_settings"
                  " WHERE user_id = ?",
                  DB_ARGS(DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    out->start_min = r.nrows ? (int)db_cell_i64(&r, 0, 0) : -1;
    out->end_min = r.nrows ? (int)db_cell_i64(&r, 0, 1) : -1;
    return ERR_OK;
}

enum err push_quiet_set(struct rctx *cx, const struct push_quiet *q)
{
    bool clear = q->start_min == -1 && q->end_min == -1;

    if (!clear && (q->start_min < 0 || q->start_min > 1439 || q->end_min < 0 || q->end_min > 1439 ||
                   q->start_min == q->end_min))
        return rctx_fail(cx, ERR_INVALID,
                         "quiet hours: start and end are different times of day (HH:MM)");
    return db_exec(cx,
                   "INSERT INTO push_settings (user_id, quiet_start, quiet_end) VALUES (?,?,?)"
                   " ON DUPLICATE KEY UPDATE quiet_start = VALUES(quiet_start),"
                   " quiet_end = VALUES(quiet_end)",
                   DB_ARGS(DBI(cx->who.user_id), clear ? DBNULL : DBI(q->start_min),
                           clear ? DBNULL : DBI(q->end_min)),
                   NULL);
}

/* ---- routing ---------------------------------------------------------------------------- */

void push_classify(const char *kind, bool *im, bool *urgent)
{
    *im = strcmp(kind, "message") == 0 || strncmp(kind, "im.", 3) == 0 ||
          strncmp(kind, "conversation.", 13) == 0;
    *urgent = strcmp(kind, "case.urged") == 0 || strcmp(kind, "case.overdue") == 0 ||
              strcmp(kind, "case.escalated") == 0;
}

/* A number after "key": in a small JSON object we wrote ourselves (items' payloads). */
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

/* Rows per statement: 7 arguments each, within what db_exec binds. */
#define ENQUEUE_CHUNK 32

enum err push_enqueue_items(struct rctx *cx, const struct inbox_item *v, size_t n)
{
    size_t i = 0;

    while (i < n) {
        struct db_sqlb b;
        size_t rows = 0;
        enum err res;

        db_sqlb_init(cx, &b, 0,
                     "INSERT IGNORE INTO push_queue (device_row, user_id, seq, kind, ref_id, im,"
                     " urgent, vendor, created_ms, due_ms) SELECT d.id, d.user_id, x.s, x.k, x.r,"
                     " x.i, x.u OR EXISTS (SELECT 1 FROM cases c WHERE c.id = x.r AND"
                     " c.urgency = 'urgent'), d.vendor, x.c, x.c + ");
        db_sqlb_addf(&b, "%lld FROM (", (long long)conf.ack_grace_ms);
        for (; i < n && rows < ENQUEUE_CHUNK; i++) {
            const struct inbox_item *it = &v[i];
            bool im, urgent;
            int64_t ref = 0;

            push_classify(it->type, &im, &urgent);
            /* Not a wake-up: the sender's own copy of a message (for its other screens), and
             * changes to messages (recalled, read). */
            if (strncmp(it->type, "message.", 8) == 0 ||
                (im && it->payload && payload_num(it->payload, "from") == it->user_id))
                continue;
            if (it->payload && strncmp(it->type, "case.", 5) == 0)
                ref = payload_num(it->payload, "case_id");
            db_sqlb_add(&b, rows ? " UNION ALL SELECT ?,?,?,?,?,?,?"
                                 : "SELECT ? AS uid, ? AS s, ? AS k, ? AS r, ? AS i, ? AS u,"
                                   " ? AS c");
            db_sqlb_arg(&b, DBI(it->user_id));
            db_sqlb_arg(&b, DBI(it->seq));
            db_sqlb_arg(&b, DBS(it->type));
            db_sqlb_arg(&b, DBI(ref));
            db_sqlb_arg(&b, DBI(im ? 1 : 0));
            db_sqlb_arg(&b, DBI(urgent ? 1 : 0));
            db_sqlb_arg(&b, DBI(it->created_ms ? it->created_ms : cx->now_ms));
            rows++;
        }
        if (!rows)
            continue;
        db_sqlb_add(&b, ") x JOIN push_devices d ON d.user_id = x.uid");
        res = db_sqlb_exec(&b, NULL);
        if (res)
            return res;
    }
    return ERR_OK;
}

/* ---- the push thread -------------------------------------------------------------------- */

static pthread_mutex_t poke_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t poke_cv = PTHREAD_COND_INITIALIZER;
static bool poked;

void push_poke(void)
{
    pthread_mutex_lock(&poke_mu);
    poked = true;
    pthread_cond_signal(&poke_cv);
    pthread_mutex_unlock(&poke_mu);
}

void push_wait(int timeout_ms)
{
    struct timespec ts;

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
    poked = false;
    pthread_mutex_unlock(&poke_mu);
}

/* Per vendor, in this process (the push thread only): a token bucket for push.<v>.rate and a
 * pause after the vendor throttled us or could not be reached. */
static struct vendor_state {
    double tokens;
    int64_t refill_ms;
    int64_t paused_until_ms;
    int failures; /* consecutive: the pause doubles */
} vs[EXT_PUSH_NVENDORS];

static void refill(int v, int64_t now)
{
    int rate = conf.rate[v];
    if (!rate)
        return;
    if (vs[v].refill_ms == 0) {
        vs[v].tokens = rate;
        vs[v].refill_ms = now;
    }
    vs[v].tokens += (double)(now - vs[v].refill_ms) * rate / 1000.0;
    if (vs[v].tokens > rate)
        vs[v].tokens = rate;
    vs[v].refill_ms = now;
}

static int64_t backoff_ms(int attempts)
{
    int64_t ms = 1000;
    for (int i = 1; i < attempts && ms < conf.retry_max_ms; i++)
        ms *= 2;
    return ms < conf.retry_max_ms ? ms : conf.retry_max_ms;
}

static void pause_vendor(int v, int64_t now, int retry_after_s)
{
    int64_t ms = retry_after_s > 0 ? (int64_t)retry_after_s * 1000 : backoff_ms(++vs[v].failures);
    if (ms > conf.retry_max_ms)
        ms = conf.retry_max_ms;
    vs[v].paused_until_ms = now + ms;
}

static struct metrics_series *counter(int vendor, const char *outcome)
{
    char lb[96];
    const char *name = ext_push_vendor_name(vendor);
    metrics_labels(lb, sizeof lb, "vendor", name ? name : "unknown", "outcome", outcome,
                   (const char *)NULL);
    return metrics_counter("cityd_push_total", "Queued pushes by vendor and what became of them.",
                           lb);
}

static const char *title_of(struct rctx *cx, const struct ext_push_msg *m, const char *locale)
{
    bool zh = strncmp(locale, "zh", 2) == 0, im = m->im, urgent = m->urgent;
    const char *kind = m->kind;

    if (m->count > 1 && !urgent) /* held by the rate limit or collapsed: "N new items" */
        return zh ? rctx_printf(cx, "%d条新%s", m->count, im ? "消息" : "通知")
                  : rctx_printf(cx, "%d new %s", m->count, im ? "messages" : "items");
    if (strcmp(kind, "case.urged") == 0)
        return zh ? "督办" : "Urged";
    if (urgent)
        return zh ? "紧急任务" : "Urgent task";
    if (im)
        return zh ? "新消息" : "New message";
    return zh ? "新任务" : "New task";
}

struct row {
    int64_t id, device_row, user_id, seq, ref_id, created_ms, position;
    int attempts, vendor;
    bool im, urgent;
    const char *kind, *token, *device_id, *locale;
    struct push_quiet quiet;
    int rep;         /* index of the row whose push carries this one (newest of its device) */
    bool sent;       /* its push was accepted: record it, delete the row */
    int msg;         /* index into the message array, -1 when not sent */
    bool rate_taken; /* its push was counted in push_rate (window rate_window) */
    int64_t rate_window;
};

static enum err release(struct rctx *cx, const struct row *r, int64_t due, bool attempt,
                        const char *why)
{
    return db_exec(cx,
                   "UPDATE push_queue SET due_ms = ?, attempts = attempts + ?, last_error = ?,"
                   " lease_owner = NULL, lease_ms = 0 WHERE id = ?",
                   DB_ARGS(DBI(due), DBI(attempt ? 1 : 0), DBS(why), DBI(r->id)), NULL);
}

static enum err dead(struct rctx *cx, const struct row *r, const char *reason)
{
    enum err res =
        db_exec(cx,
                "INSERT INTO push_dead_letters (user_id, device_id, vendor, seq, kind,"
                " attempts, reason, created_ms, dead_ms) VALUES (?,?,?,?,?,?,?,?,?)",
                DB_ARGS(DBI(r->user_id), DBS(r->device_id),
                        DBS(r->vendor >= 0 ? ext_push_vendor_name(r->vendor) : "unknown"),
                        DBI(r->seq), DBS(r->kind), DBI(r->attempts + 1), DBS(reason),
                        DBI(r->created_ms), DBI(cx->now_ms)),
                NULL);
    if (!res)
        res = db_exec(cx, "DELETE FROM push_queue WHERE id = ?", DB_ARGS(DBI(r->id)), NULL);
    if (!res)
        log_warn(cx, "push: dead letter: user %lld seq %lld via %s: %s", (long long)r->user_id,
                 (long long)r->seq, r->vendor >= 0 ? ext_push_vendor_name(r->vendor) : "?", reason);
    return res;
}

static enum err claim(struct rctx *cx, char owner[17], struct row **rows, size_t *n)
{
    char vendors[128] = "";
    size_t len = 0;
    struct db_res r;
    enum err res;
    int64_t now = cx->now_ms;

    *n = 0;
    for (int v = 0; v < EXT_PUSH_NVENDORS; v++) {
        if (!ext_push_configured(v) || vs[v].paused_until_ms > now)
            continue;
        refill(v, now);
        if (conf.rate[v] && vs[v].tokens < 1.0)
            continue;
        len += (size_t)snprintf(vendors + len, sizeof vendors - len, "%s%s", len ? "," : "",
                                ext_push_vendor_name(v));
    }
    if (!vendors[0])
        return ERR_OK;
    ids_token(owner, 16);
    res = db_exec(
        cx,
        "UPDATE push_queue SET lease_owner = ?, lease_ms = ? WHERE due_ms <= ?"
        " AND lease_ms <= ? AND FIND_IN_SET(vendor, ?) > 0 ORDER BY due_ms LIMIT ?",
        DB_ARGS(DBS(owner), DBI(now + LEASE_MS), DBI(now), DBI(now), DBS(vendors), DBI(conf.batch)),
        &r);
    if (res || r.affected == 0)
        return res;
    res = db_exec(cx,
                  "SELECT q.id, q.device_row, q.user_id, q.seq, q.kind, q.ref_id, q.im, q.urgent,"
                  " q.created_ms, q.attempts, d.vendor, d.token, d.device_id, d.locale,"
                  " COALESCE(p.position, -1), COALESCE(s.quiet_start, -1),"
                  " COALESCE(s.quiet_end, -1)"
                  " FROM push_queue q JOIN push_devices d ON d.id = q.device_row"
                  " LEFT JOIN device_positions p ON p.user_id = q.user_id"
                  "  AND p.device_id = d.device_id AND p.stream = 'inbox'"
                  " LEFT JOIN push_settings s ON s.user_id = q.user_id"
                  " WHERE q.lease_owner = ? ORDER BY q.device_row, q.seq",
                  DB_ARGS(DBS(owner)), &r);
    if (res)
        return res;
    *rows = rctx_zalloc(cx, (r.nrows ? r.nrows : 1) * sizeof **rows);
    for (size_t i = 0; i < r.nrows; i++) {
        struct row *w = &(*rows)[i];
        w->id = db_cell_i64(&r, i, 0);
        w->device_row = db_cell_i64(&r, i, 1);
        w->user_id = db_cell_i64(&r, i, 2);
        w->seq = db_cell_i64(&r, i, 3);
        w->kind = db_cell(&r, i, 4);
        w->ref_id = db_cell_i64(&r, i, 5);
        w->im = db_cell_i64(&r, i, 6) != 0;
        w->urgent = db_cell_i64(&r, i, 7) != 0;
        w->created_ms = db_cell_i64(&r, i, 8);
        w->attempts = (int)db_cell_i64(&r, i, 9);
        w->vendor = ext_push_vendor_by_name(db_cell(&r, i, 10));
        w->token = db_cell(&r, i, 11);
        w->device_id = db_cell(&r, i, 12);
        w->locale = db_cell(&r, i, 13);
        w->position = db_cell_i64(&r, i, 14);
        w->quiet.start_min = (int)db_cell_i64(&r, i, 15);
        w->quiet.end_min = (int)db_cell_i64(&r, i, 16);
        w->rep = -1;
        w->msg = -1;
    }
    *n = r.nrows;
    return ERR_OK;
}

#define RECORD_CHUNK 32 /* push_sent rows per INSERT: 8 arguments each */

/* The accepted pushes of a batch: their push_sent rows and the queue rows they empty, a chunk
 * per statement (a batch is recorded in a few round trips, not two per push). */
static enum err record_sent(struct rctx *cx, const struct row *rows, size_t n,
                            const struct ext_push_msg *msgs, int64_t now)
{
    size_t i = 0, j = 0;
    enum err res = ERR_OK;

    while (i < n && !res) {
        struct db_sqlb b;
        size_t k = 0;

        db_sqlb_init(cx, &b, 0,
                     "INSERT INTO push_sent (vendor, vendor_msg_id, user_id, device_id, seq, kind,"
                     " attempts, sent_ms) VALUES ");
        for (; i < n && k < RECORD_CHUNK; i++) {
            const struct row *w = &rows[i];
            const struct ext_push_msg *m;
            if (!w->sent || w->msg < 0)
                continue;
            m = &msgs[w->msg];
            db_sqlb_add(&b, k ? ",(?,?,?,?,?,?,?,?)" : "(?,?,?,?,?,?,?,?)");
            db_sqlb_arg(&b, DBS(ext_push_vendor_name(w->vendor)));
            db_sqlb_arg(&b, DBS(m->vendor_msg_id));
            db_sqlb_arg(&b, DBI(w->user_id));
            db_sqlb_arg(&b, DBS(w->device_id));
            db_sqlb_arg(&b, DBI(m->seq));
            db_sqlb_arg(&b, DBS(m->kind));
            db_sqlb_arg(&b, DBI(w->attempts + 1));
            db_sqlb_arg(&b, DBI(now));
            k++;
        }
        if (k)
            res = db_sqlb_exec(&b, NULL);
    }
    while (j < n && !res) {
        struct db_sqlb b;
        size_t k = 0;

        db_sqlb_init(cx, &b, 0, "DELETE FROM push_queue WHERE id IN (");
        for (; j < n && k < DB_SQLB_ARGS_MAX; j++) {
            if (!rows[j].sent)
                continue;
            db_sqlb_add(&b, k ? ",?" : "?");
            db_sqlb_arg(&b, DBI(rows[j].id));
            k++;
        }
        db_sqlb_add(&b, ")");
        if (k)
            res = db_sqlb_exec(&b, NULL);
    }
    return res;
}

/* ---- per-user rate limit (push_rate) ---------------------------------------------------- */

#define RATE_WINDOW_MS 60000
#define RATE_CHUNK 200 /* device rows per statement */

struct rate_slot {
    int64_t device_row, window_ms;
    int urgent, sent;
    bool dirty;
};

static int rate_cap(bool urgent)
{
    return urgent ? conf.user_urgent_rate : conf.user_rate;
}

/* Lock the push_rate rows of the devices of rows[0..n) (sorted by device_row), creating the
 * missing ones first; *slots gets them sorted by (device_row, urgent). On success a
 * transaction is open (the caller ends it), on failure none: the locks hold until it ends, so
 * another process deciding a batch for the same device waits and then sees this one's count. */
static enum err rate_load(struct rctx *cx, const struct row *rows, size_t n,
                          struct rate_slot **slots, size_t *nslots)
{
    int64_t *devs = rctx_zalloc(cx, (n ? n : 1) * sizeof *devs);
    size_t nd = 0;
    enum err res = ERR_OK;

    *slots = rctx_zalloc(cx, (n ? 2 * n : 1) * sizeof **slots);
    *nslots = 0;
    for (size_t i = 0; i < n; i++)
        if (nd == 0 || devs[nd - 1] != rows[i].device_row)
            devs[nd++] = rows[i].device_row;
    for (size_t i = 0; i < nd && !res; i += RATE_CHUNK) {
        size_t k = nd - i < RATE_CHUNK ? nd - i : RATE_CHUNK;
        struct db_sqlb b;

        /* From push_devices: a device deleted meanwhile gets no row (and no foreign key
         * error). Autocommitted before the transaction's reads: a row another process is
         * creating is then waited for, not a gap lock that could deadlock. */
        db_sqlb_init(cx, &b, 0,
                     "INSERT IGNORE INTO push_rate (device_row, urgent, window_ms, sent)"
                     " SELECT d.id, u.x, 0, 0 FROM push_devices d JOIN (SELECT 0 AS x UNION ALL"
                     " SELECT 1) u WHERE d.id IN (");
        for (size_t j = 0; j < k; j++) {
            db_sqlb_add(&b, j ? ",?" : "?");
            db_sqlb_arg(&b, DBI(devs[i + j]));
        }
        db_sqlb_add(&b, ")");
        res = db_sqlb_exec(&b, NULL);
    }
    if (!res)
        res = db_tx_begin(cx);
    if (res)
        return res; /* no transaction open */
    for (size_t i = 0; i < nd && !res; i += RATE_CHUNK) {
        size_t k = nd - i < RATE_CHUNK ? nd - i : RATE_CHUNK;
        struct db_sqlb b;
        struct db_res r;

        db_sqlb_init(cx, &b, 0,
                     "SELECT device_row, urgent, window_ms, sent FROM push_rate WHERE"
                     " device_row IN (");
        for (size_t j = 0; j < k; j++) {
            db_sqlb_add(&b, j ? ",?" : "?");
            db_sqlb_arg(&b, DBI(devs[i + j]));
        }
        db_sqlb_add(&b, ") ORDER BY device_row, urgent FOR UPDATE");
        res = db_sqlb_exec(&b, &r);
        for (size_t j = 0; !res && j < r.nrows && *nslots < 2 * n; j++)
            (*slots)[(*nslots)++] = (struct rate_slot){
                .device_row = db_cell_i64(&r, j, 0),
                .urgent = (int)db_cell_i64(&r, j, 1),
                .window_ms = db_cell_i64(&r, j, 2),
                .sent = (int)db_cell_i64(&r, j, 3),
            };
    }
    if (res)
        return db_tx_end(cx, res); /* rolled back: the caller sees no transaction */
    return ERR_OK;
}

static struct rate_slot *rate_find(struct rate_slot *v, size_t n, int64_t device_row, bool urgent)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].device_row < device_row ||
            (v[mid].device_row == device_row && v[mid].urgent < (urgent ? 1 : 0)))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo].device_row == device_row && v[lo].urgent == (urgent ? 1 : 0) ? &v[lo]
                                                                                        : NULL;
}

/* Take one push from the device's budget of its class: true when there was one; else *until
 * gets the end of the current window. A window begins with the first push counted after the
 * previous one ended. No slot (caps off, or the device was deleted meanwhile): no limit. */
static bool rate_take(struct rate_slot *s, bool urgent, int64_t now, int64_t *until, struct row *w)
{
    int cap = rate_cap(urgent);

    if (!s || !cap)
        return true;
    if (now >= s->window_ms + RATE_WINDOW_MS) {
        s->window_ms = now;
        s->sent = 0;
        s->dirty = true;
    }
    if (s->sent >= cap) {
        *until = s->window_ms + RATE_WINDOW_MS;
        return false;
    }
    s->sent++;
    s->dirty = true;
    w->rate_taken = true;
    w->rate_window = s->window_ms;
    return true;
}

/* Pushes counted but not accepted by the vendor (unreachable, throttled, refused, dead token)
 * do not use up the device's minute: their count is given back, in the window it was taken
 * from (a window that has ended since is left alone). */
static enum err rate_refund(struct rctx *cx, const struct row *rows, size_t n,
                            const struct ext_push_msg *msgs)
{
    size_t i = 0;
    enum err res = ERR_OK;

    while (i < n && !res) {
        struct db_sqlb b;
        size_t k = 0;

        db_sqlb_init(cx, &b, 0,
                     "UPDATE push_rate SET sent = sent - 1 WHERE sent > 0 AND"
                     " (device_row, urgent, window_ms) IN (");
        for (; i < n && k < 80; i++) {
            const struct row *w = &rows[i];
            if (!w->rate_taken || w->msg < 0 || msgs[w->msg].outcome == EXT_PUSH_SENT)
                continue;
            db_sqlb_add(&b, k ? ",(?,?,?)" : "(?,?,?)");
            db_sqlb_arg(&b, DBI(w->device_row));
            db_sqlb_arg(&b, DBI(w->urgent ? 1 : 0));
            db_sqlb_arg(&b, DBI(w->rate_window));
            k++;
        }
        db_sqlb_add(&b, ")");
        if (k)
            res = db_sqlb_exec(&b, NULL);
    }
    return res;
}

static enum err rate_store(struct rctx *cx, const struct rate_slot *v, size_t n)
{
    size_t i = 0;
    enum err res = ERR_OK;

    while (i < n && !res) {
        struct db_sqlb b;
        size_t k = 0;

        db_sqlb_init(cx, &b, 0,
                     "INSERT INTO push_rate (device_row, urgent, window_ms, sent) VALUES ");
        for (; i < n && k < 60; i++) {
            if (!v[i].dirty)
                continue;
            db_sqlb_add(&b, k ? ",(?,?,?,?)" : "(?,?,?,?)");
            db_sqlb_arg(&b, DBI(v[i].device_row));
            db_sqlb_arg(&b, DBI(v[i].urgent));
            db_sqlb_arg(&b, DBI(v[i].window_ms));
            db_sqlb_arg(&b, DBI(v[i].sent));
            k++;
        }
        db_sqlb_add(&b, " ON DUPLICATE KEY UPDATE window_ms = VALUES(window_ms),"
                        " sent = VALUES(sent)");
        if (k)
            res = db_sqlb_exec(&b, NULL);
    }
    return res;
}

/* One claimed batch: its rows, the pushes decided for them and, after the send, their
 * outcomes. Pool memory of the push_run call. */
struct batch {
    struct row *rows;
    struct ext_push_msg *msgs;
    size_t n, nmsg;
    bool capped;
};

/* Claim due rows (cx->now_ms) and decide each: dropped, dead, held or a push in b->msgs.
 * b->n is 0 when nothing was due. */
static enum err batch_decide(struct rctx *cx, struct batch *b)
{
    struct row *rows = NULL;
    struct ext_push_msg *msgs;
    struct rate_slot *slots = NULL;
    char owner[17];
    size_t n = 0, nmsg = 0, nslots = 0;
    bool capped;
    int64_t now = cx->now_ms, off_ms = 0;
    int minute;
    enum err res;

    memset(b, 0, sizeof *b);
    res = claim(cx, owner, &rows, &n);
    if (res || n == 0)
        return res;
    /* Quiet hours are local times of the city (case_settings.utc_offset_min). The rows stay
     * leased on an error and are claimed again. */
    res = refdata_utc_offset(cx, &off_ms);
    if (res)
        return res;
    minute = citytime_minute(now, off_ms);
    b->rows = rows;
    b->n = n;
    msgs = rctx_zalloc(cx, n * sizeof *msgs);
    b->msgs = msgs;
    /* Decide per row. With per-user caps on, inside one transaction that holds the devices'
     * push_rate rows (every process counts against the same rows); otherwise each statement
     * stands alone. Whatever is not settled here keeps its lease until LEASE_MS and is
     * claimed again. */
    capped = conf.user_rate > 0 || conf.user_urgent_rate > 0;
    if (capped) {
        res = rate_load(cx, rows, n, &slots, &nslots);
        if (res)
            return res;
    }
    for (size_t i = 0; i < n; i++) {
        struct row *w = &rows[i];

        if (w->vendor < 0) {
            res = dead(cx, w, "unknown vendor");
        } else if (w->position >= w->seq) {
            res = db_exec(cx, "DELETE FROM push_queue WHERE id = ?", DB_ARGS(DBI(w->id)), NULL);
            metrics_inc(counter(w->vendor, "acked_in_band"));
        } else if (now - w->created_ms > conf.max_age_ms) {
            res = dead(cx, w, "undelivered past push.max_age_s");
            metrics_inc(counter(w->vendor, "dead"));
        } else if (!w->urgent && push_quiet_contains(&w->quiet, minute)) {
            int64_t wait =
                (int64_t)((w->quiet.end_min - minute + 1440) % 1440) * 60000 - now % 60000;
            res = release(cx, w, now + wait, false, "quiet hours");
            metrics_inc(counter(w->vendor, "quiet_hours"));
        } else if (i > 0 && rows[i - 1].device_row == w->device_row && rows[i - 1].rep >= 0 &&
                   rows[rows[i - 1].rep].msg >= 0) {
            /* One wake-up per device and batch: the newest item carries the older ones. */
            int rep = rows[i - 1].rep;
            struct ext_push_msg *m = &msgs[rows[rep].msg];
            w->rep = rep;
            m->seq = w->seq;
            m->kind = w->kind;
            m->ref_id = w->ref_id;
            m->urgent = m->urgent || w->urgent;
            m->im = m->im && w->im;
        } else {
            int v = w->vendor;
            struct rate_slot *slot =
                capped ? rate_find(slots, nslots, w->device_row, w->urgent) : NULL;
            int64_t until = 0;

            if (!rate_take(slot, w->urgent, now, &until, w)) {
                /* The device had its share this minute: wait for the next one, where the
                 * held items go together as one push. Not an attempt. */
                res = release(cx, w, until, false, "user rate limit");
                metrics_inc(counter(v, "user_rate_limited"));
                if (res)
                    break;
                continue;
            }
            if (conf.rate[v]) {
                refill(v, now);
                if (vs[v].tokens < 1.0) {
                    int64_t wait = (int64_t)((1.0 - vs[v].tokens) * 1000.0 / conf.rate[v]) + 1;
                    if (w->rate_taken && slot) { /* not sent: give the device its push back */
                        slot->sent--;
                        w->rate_taken = false;
                    }
                    res = release(cx, w, now + wait, false, "rate limit (ours)");
                    if (res)
                        break;
                    continue;
                }
                vs[v].tokens -= 1.0;
            }
            w->rep = (int)i;
            w->msg = (int)nmsg;
            msgs[nmsg] = (struct ext_push_msg){
                .vendor = v,
                .token = w->token,
                .msg_id = rctx_printf(cx, "%016llx%016llx", (unsigned long long)w->id,
                                      (unsigned long long)w->created_ms),
                .kind = w->kind,
                .seq = w->seq,
                .ref_id = w->ref_id,
                .im = w->im,
                .urgent = w->urgent,
                .expires_s = (w->created_ms + conf.max_age_ms) / 1000,
            };
            nmsg++;
        }
        if (res)
            break;
    }
    if (capped) {
        if (!res)
            res = rate_store(cx, slots, nslots);
        res = db_tx_end(cx, res);
    }
    if (res)
        return res;
    for (size_t i = 0; i < n; i++)
        if (rows[i].rep >= 0)
            msgs[rows[rows[i].rep].msg].count++;
    for (size_t i = 0; i < n; i++)
        if (rows[i].msg >= 0) {
            struct ext_push_msg *m = &msgs[rows[i].msg];
            m->title = title_of(cx, m, rows[i].locale);
        }
    b->nmsg = nmsg;
    b->capped = capped;
    return ERR_OK;
}

/* After the send: the outcomes of b, one transaction; every row of a push shares its
 * outcome. */
static enum err batch_record(struct rctx *cx, struct batch *b)
{
    struct row *rows = b->rows;
    const struct ext_push_msg *msgs = b->msgs;
    size_t n = b->n;
    bool capped = b->capped;
    int64_t now = clock_now_ms();
    enum err res;

    res = db_tx_begin(cx);
    if (res)
        return res;
    for (size_t i = 0; i < n && !res; i++) {
        struct row *w = &rows[i];
        const struct ext_push_msg *m;
        int v = w->vendor;

        if (w->rep < 0)
            continue;
        m = &msgs[rows[w->rep].msg];
        switch (m->outcome) {
        case EXT_PUSH_SENT:
            /* Written together below: one INSERT and one DELETE per chunk of rows. */
            if (w->msg >= 0)
                vs[v].failures = 0;
            w->sent = true;
            metrics_inc(counter(v, w->msg >= 0 ? "sent" : "collapsed"));
            break;
        case EXT_PUSH_INVALID_TOKEN:
            if (w->msg >= 0) {
                log_info(cx,
                         "push: %s says the token of user %lld device %s is invalid (%s):"
                         " removed",
                         ext_push_vendor_name(v), (long long)w->user_id, w->device_id, m->detail);
                /* Only the token that failed: a rotation since the claim keeps the device. */
                res = db_exec(cx, "DELETE FROM push_devices WHERE id = ? AND token = ?",
                              DB_ARGS(DBI(w->device_row), DBS(w->token)), NULL);
                metrics_inc(counter(v, "invalid_token"));
            }
            break;
        case EXT_PUSH_RATE_LIMITED:
        case EXT_PUSH_RETRY: {
            int64_t wait = m->retry_after_s > 0 ? (int64_t)m->retry_after_s * 1000
                                                : backoff_ms(w->attempts + 1);
            if (wait > conf.retry_max_ms)
                wait = conf.retry_max_ms;
            if (w->msg >= 0) {
                if (strcmp(m->detail, "vendor not configured") != 0)
                    pause_vendor(v, now, m->retry_after_s);
                metrics_inc(counter(v, m->outcome == EXT_PUSH_RETRY ? "retry" : "rate_limited"));
            }
            res = release(cx, w, now + wait, true, m->detail);
            break;
        }
        case EXT_PUSH_REJECTED:
            res = dead(cx, w, m->detail[0] ? m->detail : "refused by the vendor");
            if (w->msg >= 0)
                metrics_inc(counter(v, "dead"));
            break;
        }
    }
    if (!res)
        res = record_sent(cx, rows, n, msgs, now);
    if (!res && capped)
        res = rate_refund(cx, rows, n, msgs);
    return db_tx_end(cx, res);
}

/* True once push_poke() asked the push thread to stop waiting (shutdown). */
static bool poke_pending(void)
{
    bool p;

    pthread_mutex_lock(&poke_mu);
    p = poked;
    pthread_mutex_unlock(&poke_mu);
    return p;
}

#define PIPE_MAX 4 /* batches one push_run call works through (shutdown waits for them) */

enum err push_run(struct rctx *cx, struct ext_push *sender, int *handled)
{
    struct batch a, b;
    enum err res, res_next;

    *handled = 0;
    res = batch_decide(cx, &a);
    if (res || a.n == 0)
        return res;
    for (int k = 0;; k++) {
        if (a.nmsg)
            ext_push_start(sender, a.msgs, a.nmsg);
        /* While a's streams are in flight: the next batch's claim and decisions (its rows are
         * not a's, which are leased). The sends of one batch overlap the database work of
         * the next instead of waiting for it. */
        memset(&b, 0, sizeof b);
        res_next = ERR_OK;
        if (k + 1 < PIPE_MAX && !poke_pending()) {
            cx->now_ms = clock_now_ms();
            res_next = batch_decide(cx, &b);
        }
        ext_push_finish(sender);
        res = batch_record(cx, &a);
        *handled += (int)a.n;
        /* On an error b's rows (if any) keep their lease and are claimed again after
         * LEASE_MS, as after any failed decision. */
        if (res)
            return res;
        if (res_next || b.n == 0)
            return res_next;
        a = b;
    }
}

enum err push_maintenance_job(struct rctx *cx)
{
    enum err res;
    int64_t cut = cx->now_ms - conf.max_age_ms;

    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "INSERT INTO push_dead_letters (user_id, device_id, vendor, seq, kind, attempts,"
                  " reason, created_ms, dead_ms)"
                  " SELECT q.user_id, d.device_id, q.vendor, q.seq, q.kind, q.attempts,"
                  "  CONCAT('undelivered past push.max_age_s: ', COALESCE(q.last_error, '')),"
                  "  q.created_ms, ? FROM push_queue q JOIN push_devices d ON d.id = q.device_row"
                  " WHERE q.created_ms < ? AND q.lease_ms <= ? LIMIT 1000 FOR UPDATE",
                  DB_ARGS(DBI(cx->now_ms), DBI(cut), DBI(cx->now_ms)), NULL);
    if (!res)
        res =
            db_exec(cx, "DELETE FROM push_queue WHERE created_ms < ? AND lease_ms <= ? LIMIT 1000",
                    DB_ARGS(DBI(cut), DBI(cx->now_ms)), NULL);
    if (!res)
        res = db_exec(cx, "DELETE FROM push_sent WHERE sent_ms < ? LIMIT 10000",
                      DB_ARGS(DBI(cx->now_ms - SENT_KEEP_MS)), NULL);
    return db_tx_end(cx, res);
}

/* ---- receipts --------------------------------------------------------------------------- */

bool push_receipt_key_ok(const char *key)
{
    size_t n = strlen(receipt_key);
    unsigned char diff = 0;

    if (!n || !key || strlen(key) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(key[i] ^ receipt_key[i]);
    return diff == 0;
}

enum err push_receipt(struct rctx *cx, const char *vendor, const char *vendor_msg_id,
                      const char *token, enum push_receipt_kind kind)
{
    struct db_res r;
    enum err res;

    if (kind == PUSH_RECEIPT_INVALID) {
        if (!token || !token[0])
            return ERR_OK;
        res = db_exec(cx, "DELETE FROM push_devices WHERE vendor = ? AND token = ?",
                      DB_ARGS(DBS(vendor), DBS(token)), &r);
        if (!res && r.affected)
            log_info(cx, "push: %s reports a dead token: registration removed", vendor);
        metrics_inc(counter(ext_push_vendor_by_name(vendor), "receipt_invalid"));
        return res;
    }
    if (!vendor_msg_id || !vendor_msg_id[0])
        return ERR_OK;
    metrics_inc(counter(ext_push_vendor_by_name(vendor),
                        kind == PUSH_RECEIPT_DELIVERED ? "receipt_delivered" : "receipt_clicked"));
    return db_exec(cx,
                   "UPDATE push_sent SET receipt = ?, receipt_ms = ? WHERE vendor = ?"
                   " AND vendor_msg_id = ? AND (receipt IS NULL OR receipt <> 'clicked')",
                   DB_ARGS(DBS(kind == PUSH_RECEIPT_DELIVERED ? "delivered" : "clicked"),
                           DBI(cx->now_ms), DBS(vendor), DBS(vendor_msg_id)),
                   NULL);
}

/* ---- dead letters ----------------------------------------------------------------------- */

enum err push_dead_list(struct rctx *cx, int64_t before, int limit, struct push_dead_page *out)
{
    struct db_res r;
    enum err res;

    memset(out, 0, sizeof *out);
    if (limit < 1 || limit > PUSH_DEAD_PAGE_MAX)
        return rctx_fail(cx, ERR_INVALID, "limit: 1..%d", PUSH_DEAD_PAGE_MAX);
    if (before < 0)
        return rctx_fail(cx, ERR_INVALID, "before: an id");
    res = db_exec(cx,
                  "SELECT id, user_id, device_id, vendor, seq, kind, attempts, reason, created_ms,"
                  " dead_ms FROM push_dead_letters WHERE (? = 0 OR id < ?) ORDER BY id DESC"
                  " LIMIT ?",
                  DB_ARGS(DBI(before), DBI(before), DBI(limit + 1)), &r);
    if (res)
        return res;
    out->n = r.nrows > (size_t)limit ? (size_t)limit : r.nrows;
    out->v = rctx_zalloc(cx, (out->n ? out->n : 1) * sizeof *out->v);
    for (size_t i = 0; i < out->n; i++)
        out->v[i] = (struct push_dead){
            .id = db_cell_i64(&r, i, 0),
            .user_id = db_cell_i64(&r, i, 1),
            .device_id = db_cell(&r, i, 2),
            .vendor = db_cell(&r, i, 3),
            .seq = db_cell_i64(&r, i, 4),
            .kind = db_cell(&r, i, 5),
            .attempts = (int)db_cell_i64(&r, i, 6),
            .reason = db_cell(&r, i, 7),
            .created_ms = db_cell_i64(&r, i, 8),
            .dead_ms = db_cell_i64(&r, i, 9),
        };
    out->next = r.nrows > (size_t)limit ? out->v[out->n - 1].id : 0;
    return ERR_OK;
}
