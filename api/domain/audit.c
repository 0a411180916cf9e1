/* api/domain/audit.c */
#include "audit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "api/domain/lockout.h"
#include "server/core/log.h"
#include "server/db/db.h"

static const char *const result_names[] = {"ok", "denied", "failed"};

enum err audit_write(struct rctx *cx, const char *action, const char *object_type,
                     int64_t object_id, enum audit_result result, const char *detail)
{
    size_t dl = detail ? strlen(detail) : 0;

    return db_exec(cx,
                   "INSERT INTO audit_log (actor_id, actor_roles, action, object_type, object_id,"
                   " result, ip, device_id, request_id, detail, at) VALUES"
                   " (?,?,?,?,?,?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                   DB_ARGS(cx->who.user_id ? DBI(cx->who.user_id) : DBNULL, DBI(cx->who.roles),
                           DBS(action), DBS(object_type), object_id ? DBI(object_id) : DBNULL,
                           DBS(result_names[result]), DBS(cx->ip), DBS(cx->who.device_id),
                           DBS(cx->id), DBSN(detail ? detail : "", dl > 255 ? 255 : dl),
                           DBI(cx->now_ms)),
                   NULL);
}

void audit_write_quiet(struct rctx *cx, const char *action, const char *object_type,
                       int64_t object_id, enum audit_result result, const char *detail)
{
    struct err_info saved = cx->err;
    enum err res = audit_write(cx, action, object_type, object_id, result, detail);

    if (res)
        log_error(cx, "audit record lost: action=%s result=%s", action, result_names[result]);
    cx->err = saved; /* the caller's error message stays the one the client sees */
}

/* ---- rejected tokens ------------------------------------------------------------------------ */

struct reject_key {
    char source[LOCKOUT_SOURCE_MAX];
    char reason[24];
    int64_t since;   /* start of its window (ms) */
    int64_t written; /* rejections given their own row in the window */
    int64_t counted; /* rejections left for the summary row */
};

static struct {
    pthread_mutex_t mu;
    int64_t window_ms;
    int64_t burst;
    size_t n;
    struct reject_key keys[AUDIT_REJECT_KEYS + 1]; /* the last one is the shared "*" */
} rej = {.mu = PTHREAD_MUTEX_INITIALIZER, .window_ms = 60000, .burst = 10};

void audit_rejections_configure(int window_s, int burst)
{
    pthread_mutex_lock(&rej.mu);
    rej.window_ms = (int64_t)window_s * 1000;
    rej.burst = burst;
    pthread_mutex_unlock(&rej.mu);
}

bool audit_rejection_note(const char *ip, const char *reason, int64_t now_ms)
{
    char source[LOCKOUT_SOURCE_MAX];
    struct reject_key *k = NULL;
    bool own;

    lockout_source(ip ? ip : "", source);
    pthread_mutex_lock(&rej.mu);
    for (size_t i = 0; i < rej.n && !k; i++)
        if (!strcmp(rej.keys[i].source, source) && !strcmp(rej.keys[i].reason, reason))
            k = &rej.keys[i];
    if (!k && rej.n < AUDIT_REJECT_KEYS) {
        k = &rej.keys[rej.n++];
        memset(k, 0, sizeof *k);
        snprintf(k->source, sizeof k->source, "%s", source);
        snprintf(k->reason, sizeof k->reason, "%s", reason);
        k->since = now_ms;
    }
    if (!k) { /* too many sources in this window: no more single rows */
        k = &rej.keys[AUDIT_REJECT_KEYS];
        if (!k->source[0]) {
            snprintf(k->source, sizeof k->source, "*");
            snprintf(k->reason, sizeof k->reason, "any");
            k->since = now_ms;
        }
        k->counted++;
        pthread_mutex_unlock(&rej.mu);
        return false;
    }
    own = k->written < rej.burst;
    if (own)
        k->written++;
    else
        k->counted++;
    pthread_mutex_unlock(&rej.mu);
    return own;
}

/* Put back counts a failed flush could not write, so the next run writes them. */
static void restore(const struct reject_key *v, size_t n)
{
    pthread_mutex_lock(&rej.mu);
    for (size_t i = 0; i < n; i++) {
        struct reject_key *k = NULL;
        for (size_t j = 0; j < rej.n && !k; j++)
            if (!strcmp(rej.keys[j].source, v[i].source) &&
                !strcmp(rej.keys[j].reason, v[i].reason))
                k = &rej.keys[j];
        if (!k && rej.n < AUDIT_REJECT_KEYS) {
            k = &rej.keys[rej.n++];
            *k = v[i];
            continue;
        }
        if (!k)
            k = &rej.keys[AUDIT_REJECT_KEYS];
        if (!k->source[0])
            *k = v[i];
        else
            k->counted += v[i].counted;
    }
    pthread_mutex_unlock(&rej.mu);
}

/* Take the keys whose window ended (every key when final) out of the table; those with
 * counted rejections go to out (at most cap of them per call). */
static size_t take_ended(int64_t now_ms, bool final, struct reject_key *out, size_t cap)
{
    size_t n = 0;

    pthread_mutex_lock(&rej.mu);
    for (size_t i = 0; i < rej.n && n < cap;) {
        struct reject_key *k = &rej.keys[i];
        if (!final && now_ms - k->since < rej.window_ms) {
            i++;
            continue;
        }
        if (k->counted)
            out[n++] = *k;
        *k = rej.keys[--rej.n]; /* the last key takes its place; look at i again */
    }
    {
        struct reject_key *k = &rej.keys[AUDIT_REJECT_KEYS];
        if (n < cap && k->source[0] && (final || now_ms - k->since >= rej.window_ms)) {
            if (k->counted)
                out[n++] = *k;
            memset(k, 0, sizeof *k);
        }
    }
    pthread_mutex_unlock(&rej.mu);
    return n;
}

static enum err flush(struct rctx *cx, bool final)
{
    struct reject_key due[64];
    size_t n;

    while ((n = take_ended(cx->now_ms, final, due, sizeof due / sizeof *due)) > 0) {
        for (size_t i = 0; i < n; i++) {
            char detail[200], ip[sizeof cx->ip];
            int64_t secs = (cx->now_ms - due[i].since + 999) / 1000;
            enum err res;

            snprintf(detail, sizeof detail,
                     "%lld more rejected tokens (%.23s) from %.47s within %lld s",
                     (long long)due[i].counted, due[i].reason, due[i].source, (long long)secs);
            memcpy(ip, cx->ip, sizeof ip);
            snprintf(cx->ip, sizeof cx->ip, "%.47s", due[i].source);
            res = audit_write(cx, "auth.token_rejected", NULL, 0, AUDIT_DENIED, detail);
            memcpy(cx->ip, ip, sizeof ip);
            if (res) {
                restore(due + i, n - i);
                return res;
            }
        }
        if (n < sizeof due / sizeof *due)
            break;
    }
    return ERR_OK;
}

enum err audit_rejections_flush(struct rctx *cx)
{
    return flush(cx, false);
}

enum err audit_rejections_flush_final(struct rctx *cx)
{
    return flush(cx, true);
}
