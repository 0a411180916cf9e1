/* tests/lib/ledger.c: see ledger.h. */
#include "ledger.h"

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <mariadb/mysql.h>
#include <openssl/evp.h>

enum kind { L_REPORT, L_MEDIA, L_ACTION, L_GPS, L_INBOX };

struct entry {
    enum kind kind;
    char key[72];
    char ref[72];  /* media public id, GPS device, action name */
    char role[24]; /* media: who uploaded (to read it back) */
    char sha[65];  /* media: SHA-256 of what was sent */
    long long id;  /* case id, owner id, user id */
    long long n;   /* version, seq */
    long long n2;  /* inbox event id */
    char owner_type[12];
};

struct ledger {
    struct entry *e;
    size_t n, cap;
};

struct ledger *ledger_new(void)
{
    struct ledger *l = calloc(1, sizeof *l);
    if (!l)
        th_die("ledger: out of memory");
    return l;
}

void ledger_free(struct ledger *l)
{
    if (!l)
        return;
    free(l->e);
    free(l);
}

int ledger_count(const struct ledger *l)
{
    return (int)l->n;
}

static struct entry *add(struct ledger *l, enum kind k)
{
    struct entry *e;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct entry *p = realloc(l->e, cap * sizeof *p);
        if (!p)
            th_die("ledger: out of memory");
        l->e = p;
        l->cap = cap;
    }
    e = &l->e[l->n++];
    memset(e, 0, sizeof *e);
    e->kind = k;
    return e;
}

void ledger_sha256_hex(const void *buf, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        th_die("ledger: SHA-256 failed");
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Keys are matched inside descriptions with a regular expression: only plain characters. */
static void check_key(const char *key)
{
    size_t n = strlen(key);

    if (n == 0 || n > 64 ||
        strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789-_:") != n)
        th_die("ledger: key \"%s\": 1 to 64 of A-Z a-z 0-9 - _ :", key);
}

void ledger_report(struct ledger *l, const char *key, long long case_id)
{
    struct entry *e = add(l, L_REPORT);
    check_key(key);
    snprintf(e->key, sizeof e->key, "%s", key);
    e->id = case_id;
}

void ledger_media(struct ledger *l, const char *role, const char *key, const char *public_id,
                  const void *sent, size_t len)
{
    struct entry *e = add(l, L_MEDIA);
    snprintf(e->key, sizeof e->key, "%s", key ? key : "");
    snprintf(e->ref, sizeof e->ref, "%s", public_id);
    snprintf(e->role, sizeof e->role, "%s", role);
    ledger_sha256_hex(sent, len, e->sha);
}

void ledger_action(struct ledger *l, const char *key, long long case_id, const char *action,
                   long long version)
{
    struct entry *e = add(l, L_ACTION);
    snprintf(e->key, sizeof e->key, "%s", key);
    snprintf(e->ref, sizeof e->ref, "%s", action);
    e->id = case_id;
    e->n = version;
}

void ledger_gps(struct ledger *l, const char *owner_type, long long owner_id, const char *device,
                long long seq)
{
    struct entry *e = add(l, L_GPS);
    snprintf(e->owner_type, sizeof e->owner_type, "%s", owner_type);
    snprintf(e->ref, sizeof e->ref, "%s", device);
    e->id = owner_id;
    e->n = seq;
}

void ledger_inbox(struct ledger *l, long long user_id, long long seq, long long event_id)
{
    struct entry *e = add(l, L_INBOX);
    e->id = user_id;
    e->n = seq;
    e->n2 = event_id;
}

/* ---- SQL ----------------------------------------------------------------------------------- */

static MYSQL *connect_db(struct th_server *s)
{
    MYSQL *my = mysql_init(NULL);
    unsigned int timeout = 10;

    mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (!mysql_real_connect(my, NULL, "root", NULL, s->dbname, 0, s->socket, 0))
        th_die("ledger: cannot connect to %s: %s", s->socket, mysql_error(my));
    return my;
}

/* The statement formatted from fmt; %s arguments must be passed through esc() first. */
static MYSQL_RES *query(MYSQL *my, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static MYSQL_RES *query(MYSQL *my, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    MYSQL_RES *res;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (mysql_real_query(my, sql, strlen(sql)))
        th_die("ledger: %s: %s", sql, mysql_error(my));
    res = mysql_store_result(my);
    if (!res)
        th_die("ledger: %s: no result", sql);
    return res;
}

static long long qint(MYSQL *my, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static long long qint(MYSQL *my, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    MYSQL_RES *res;
    MYSQL_ROW row;
    long long v = 0;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    res = query(my, "%s", sql);
    row = mysql_fetch_row(res);
    if (row && row[0])
        v = strtoll(row[0], NULL, 10);
    mysql_free_result(res);
    return v;
}

/* Escaped copy of s in one of four rotating buffers. */
static const char *esc(MYSQL *my, const char *s)
{
    static char buf[4][160];
    static int k;
    char *b = buf[k++ % 4];
    size_t n = strlen(s);

    if (n > 70)
        n = 70;
    mysql_real_escape_string(my, b, s, (unsigned long)n);
    return b;
}

/* ---- the check ------------------------------------------------------------------------------ */

static void problem(struct ledger_stats *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(struct ledger_stats *st, const char *fmt, ...)
{
    size_t used = strlen(st->problems);
    va_list ap;

    if (used + 2 >= sizeof st->problems)
        return;
    va_start(ap, fmt);
    vsnprintf(st->problems + used, sizeof st->problems - used - 1, fmt, ap);
    va_end(ap);
    used = strlen(st->problems);
    if (used + 1 < sizeof st->problems) {
        st->problems[used] = '\n';
        st->problems[used + 1] = '\0';
    }
}

static void check_report(MYSQL *my, const struct entry *e, struct ledger_stats *st)
{
    long long n;

    if (qint(my, "SELECT COUNT(*) FROM cases WHERE id = %lld", e->id) != 1) {
        st->lost++;
        problem(st, "report %s: case %lld is gone", e->key, e->id);
        return;
    }
    if (qint(my,
             "SELECT COUNT(*) FROM idempotency_keys WHERE idem_key = '%s' AND status <> 0 AND"
             " JSON_VALUE(response, '$.id') = %lld",
             esc(my, e->key), e->id) != 1) {
        st->lost++;
        problem(st, "report %s: its Idempotency-Key no longer answers with case %lld", e->key,
                e->id);
    }
    n = qint(my,
             "SELECT COUNT(*) FROM cases WHERE description REGEXP"
             " '(^|[^-A-Za-z0-9_:])%s([^-A-Za-z0-9_:]|$)'",
             esc(my, e->key));
    if (n > 1) {
        st->twice++;
        problem(st, "report %s: stored %lld times", e->key, n);
    }
}

static void check_media(struct th_server *s, MYSQL *my, const struct entry *e,
                        struct ledger_stats *st)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    char sha_original[65] = "", got[65];
    long long n;
    struct th_resp r;
    char path[160];

    res = query(my,
                "SELECT sha_original, owner_id FROM media WHERE public_id = '%s' AND"
                " upload_sha = '%s'",
                esc(my, e->ref), esc(my, e->sha));
    row = mysql_fetch_row(res);
    if (!row) {
        mysql_free_result(res);
        st->lost++;
        problem(st, "media %s (sha %.12s…): no row", e->ref, e->sha);
        return;
    }
    snprintf(sha_original, sizeof sha_original, "%s", row[0] ? row[0] : "");
    n = qint(my, "SELECT COUNT(*) FROM media WHERE owner_id = %s AND upload_sha = '%s'",
             row[1] ? row[1] : "0", esc(my, e->sha));
    mysql_free_result(res);
    if (n > 1) {
        st->twice++;
        problem(st, "media %s: the same upload stored %lld times", e->ref, n);
    }
    if (e->key[0] &&
        qint(my,
             "SELECT COUNT(*) FROM idempotency_keys k JOIN media m ON m.id ="
             " JSON_VALUE(k.response, '$.id') WHERE k.idem_key = '%s' AND k.status <> 0 AND"
             " m.public_id = '%s'",
             esc(my, e->key), esc(my, e->ref)) != 1) {
        st->lost++;
        problem(st, "media %s: its Idempotency-Key %s no longer answers with it", e->ref, e->key);
    }
    snprintf(path, sizeof path, "/api/v1/media/%s", e->ref);
    th_get(s, path, th_token(s, e->role), &r);
    if (r.status != 200) {
        st->api_failures++;
        problem(st, "media %s: GET answers %ld", e->ref, r.status);
    } else {
        ledger_sha256_hex(r.body, r.body_len, got);
        if (strcmp(got, sha_original) != 0) {
            st->api_failures++;
            problem(st, "media %s: served bytes hash to %.12s…, the row says %.12s…", e->ref, got,
                    sha_original);
        }
    }
    th_resp_free(&r);
}

static void check_action(MYSQL *my, const struct ledger *l, size_t at, struct ledger_stats *st)
{
    const struct entry *e = &l->e[at];
    long long version, steps, acked = 0;

    version = qint(my, "SELECT version FROM cases WHERE id = %lld", e->id);
    if (version < e->n) {
        st->lost++;
        problem(st, "action %s %s on case %lld: acknowledged at version %lld, the case has %lld",
                e->key, e->ref, e->id, e->n, version);
    }
    if (qint(my,
             "SELECT COUNT(*) FROM idempotency_keys WHERE idem_key = '%s' AND status <> 0 AND"
             " JSON_VALUE(response, '$.id') = %lld",
             esc(my, e->key), e->id) != 1) {
        st->lost++;
        problem(st, "action %s on case %lld: its Idempotency-Key no longer answers", e->key, e->id);
    }
    /* Count this (case, action) once, at its first entry. */
    for (size_t i = 0; i < l->n; i++) {
        const struct entry *o = &l->e[i];
        if (o->kind != L_ACTION || o->id != e->id || strcmp(o->ref, e->ref) != 0)
            continue;
        if (i < at)
            return;
        acked++;
    }
    steps = qint(my, "SELECT COUNT(*) FROM case_steps WHERE case_id = %lld AND action = '%s'",
                 e->id, esc(my, e->ref));
    if (steps > acked) {
        st->twice++;
        problem(st, "case %lld: %lld %s steps for %lld acknowledged", e->id, steps, e->ref, acked);
    } else if (steps < acked) {
        st->lost++;
        problem(st, "case %lld: %lld %s steps for %lld acknowledged", e->id, steps, e->ref, acked);
    }
}

static void check_gps(MYSQL *my, const struct entry *e, struct ledger_stats *st)
{
    long long n = qint(my,
                       "SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                       " p.dev_id WHERE d.owner_type = '%s' AND d.owner_id = %lld AND d.device ="
                       " '%s' AND p.seq = %lld",
                       esc(my, e->owner_type), e->id, esc(my, e->ref), e->n);
    if (n == 0) {
        st->lost++;
        problem(st, "GPS %s %lld device %s seq %lld: not stored", e->owner_type, e->id, e->ref,
                e->n);
    } else if (n > 1) {
        st->twice++;
        problem(st, "GPS %s %lld device %s seq %lld: stored %lld times", e->owner_type, e->id,
                e->ref, e->n, n);
    }
}

static void check_inbox(MYSQL *my, const struct entry *e, struct ledger_stats *st)
{
    long long n = qint(my, "SELECT COUNT(*) FROM inbox_items WHERE user_id = %lld AND seq = %lld",
                       e->id, e->n);
    if (n != 1) {
        st->lost++;
        problem(st, "inbox of user %lld: item %lld is gone", e->id, e->n);
        return;
    }
    if (e->n2 && qint(my,
                      "SELECT COUNT(*) FROM inbox_items WHERE user_id = %lld AND event_id ="
                      " %lld",
                      e->id, e->n2) > 1) {
        st->twice++;
        problem(st, "inbox of user %lld: event %lld stored twice", e->id, e->n2);
    }
}

/* ---- files ------------------------------------------------------------------------------ */

struct names {
    char (*v)[65];
    size_t n, cap;
};

static void names_add(struct names *s, const char *name)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        char(*p)[65] = realloc(s->v, cap * sizeof *p);
        if (!p)
            th_die("ledger: out of memory");
        s->v = p;
        s->cap = cap;
    }
    snprintf(s->v[s->n++], 65, "%s", name);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

static bool names_has(const struct names *s, const char *name)
{
    return s->n && bsearch(name, s->v, s->n, sizeof s->v[0], cmp_name) != NULL;
}

static bool hex_name(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Every object file of the store: root/ab/cd/<sha>. */
static void list_objects(const char *root, struct names *out)
{
    DIR *top = opendir(root);
    struct dirent *a;

    if (!top)
        th_die("ledger: cannot open the media store %s", root);
    while ((a = readdir(top))) {
        char p1[600];
        DIR *mid;
        struct dirent *b;
        if (!hex_name(a->d_name, 2))
            continue;
        snprintf(p1, sizeof p1, "%s/%s", root, a->d_name);
        mid = opendir(p1);
        if (!mid)
            continue;
        while ((b = readdir(mid))) {
            char p2[900];
            DIR *leaf;
            struct dirent *c;
            if (!hex_name(b->d_name, 2))
                continue;
            snprintf(p2, sizeof p2, "%s/%s", p1, b->d_name);
            leaf = opendir(p2);
            if (!leaf)
                continue;
            while ((c = readdir(leaf)))
                if (c->d_name[0] != '.')
                    names_add(out, c->d_name);
            closedir(leaf);
        }
        closedir(mid);
    }
    closedir(top);
    if (out->n)
        qsort(out->v, out->n, sizeof out->v[0], cmp_name);
}

static void check_files(struct th_server *s, MYSQL *my, struct ledger_stats *st)
{
    char root[300], dir[400];
    struct names files = {0}, rows = {0};
    MYSQL_RES *res;
    MYSQL_ROW row;
    DIR *d;
    struct dirent *de;

    snprintf(root, sizeof root, "%s/media", s->dir);
    list_objects(root, &files);
    res = query(my, "SELECT sha_original FROM media UNION SELECT sha_display FROM media WHERE"
                    " sha_display IS NOT NULL UNION SELECT sha_thumb FROM media WHERE sha_thumb"
                    " IS NOT NULL");
    while ((row = mysql_fetch_row(res)))
        if (row[0])
            names_add(&rows, row[0]);
    mysql_free_result(res);
    if (rows.n)
        qsort(rows.v, rows.n, sizeof rows.v[0], cmp_name);
    for (size_t i = 0; i < rows.n; i++) {
        if (!names_has(&files, rows.v[i])) {
            st->rows_without_file++;
            problem(st, "media file %.12s… of a row is missing", rows.v[i]);
        }
    }
    for (size_t i = 0; i < files.n; i++) {
        if (!names_has(&rows, files.v[i])) {
            st->files_without_row++;
            problem(st, "media file %.12s… has no row", files.v[i]);
        }
    }
    free(files.v);
    free(rows.v);

    snprintf(dir, sizeof dir, "%s/tmp", root);
    d = opendir(dir);
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        st->temp_files++;
        problem(st, "temp file tmp/%s left", de->d_name);
    }
    if (d)
        closedir(d);
    snprintf(dir, sizeof dir, "%s/uploads", root);
    d = opendir(dir);
    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        char pid[40];
        if (n < 6 || strcmp(de->d_name + n - 5, ".part") != 0 || n - 5 >= sizeof pid)
            continue;
        memcpy(pid, de->d_name, n - 5);
        pid[n - 5] = '\0';
        if (qint(my, "SELECT COUNT(*) FROM uploads WHERE public_id = '%s' AND media_id IS NULL",
                 esc(my, pid)) == 0) {
            st->temp_files++;
            problem(st, "tus part %s left without its upload", de->d_name);
        }
    }
    if (d)
        closedir(d);
}

void ledger_check(struct ledger *l, struct th_server *s, struct ledger_stats *out)
{
    MYSQL *my = connect_db(s);

    memset(out, 0, sizeof *out);
    out->acked = (int)l->n;
    for (size_t i = 0; i < l->n; i++) {
        const struct entry *e = &l->e[i];
        switch (e->kind) {
        case L_REPORT:
            check_report(my, e, out);
            break;
        case L_MEDIA:
            check_media(s, my, e, out);
            break;
        case L_ACTION:
            check_action(my, l, i, out);
            break;
        case L_GPS:
            check_gps(my, e, out);
            break;
        case L_INBOX:
            check_inbox(my, e, out);
            break;
        }
    }
    check_files(s, my, out);
    mysql_close(my);
}

void ledger_assert_clean(struct ledger *l, struct th_server *s)
{
    struct ledger_stats st;

    ledger_check(l, s, &st);
    fprintf(stderr,
            "ledger: %d acknowledged, %d lost, %d twice, %d rows without file, %d files without"
            " row, %d temp files, %d API failures\n",
            st.acked, st.lost, st.twice, st.rows_without_file, st.files_without_row, st.temp_files,
            st.api_failures);
    if (st.lost || st.twice || st.rows_without_file || st.files_without_row || st.temp_files ||
        st.api_failures)
        fail_msg("ledger:\n%s", st.problems);
}

void ledger_sweep(struct th_server *s)
{
    int before = th_log_count(s->log, "store: sweep");
    struct timespec t0, t;

    if (s->pid > 0)
        kill(s->pid, SIGKILL); /* reaped by th_server_restart */
    if (th_sh("find %s/media -type f -exec touch -h -d '2 hours ago' {} +", s->dir) != 0)
        th_die("ledger: cannot age the store's files");
    th_server_restart(s);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (th_log_count(s->log, "store: sweep") > before)
            return;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 40)
            th_die("ledger: the start-up sweep did not run within 40 s (see %s)", s->log);
        usleep(200000);
    }
}
