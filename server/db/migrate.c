/* server/db/migrate.c: apply migrations/NNNN_name.sql in order, once, with checksums. */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "server/core/log.h"

#define MAX_MIGRATIONS 1000
#define MAX_FILE_BYTES (16u << 20)

struct mfile {
    int version;
    char name[256];
};

static int parse_name(const char *n, int *version)
{
    size_t len = strlen(n);
    int v = 0;

    if (len < 10 || len > 200 || strcmp(n + len - 4, ".sql") != 0)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (n[i] < '0' || n[i] > '9')
            return -1;
        v = v * 10 + (n[i] - '0');
    }
    if (n[4] != '_' || v == 0)
        return -1;
    for (size_t i = 5; i < len - 4; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return -1;
    }
    *version = v;
    return 0;
}

static int cmp_mfile(const void *a, const void *b)
{
    const struct mfile *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* Lists the migration files sorted by version; *files is malloc'd. */
static enum err list_files(const char *dir, struct mfile **files, size_t *n, char *errbuf,
                           size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct mfile *v;
    size_t count = 0;

    if (!d) {
        snprintf(errbuf, errlen, "migrations: cannot open %s: %s", dir, strerror(errno));
        return ERR_INVALID;
    }
    v = calloc(MAX_MIGRATIONS, sizeof *v);
    if (!v) {
        closedir(d);
        snprintf(errbuf, errlen, "migrations: out of memory");
        return ERR_INTERNAL;
    }
    while ((de = readdir(d))) {
        int ver;
        if (de->d_name[0] == '.')
            continue;
        if (parse_name(de->d_name, &ver)) {
            if (strlen(de->d_name) > 4 &&
                strcmp(de->d_name + strlen(de->d_name) - 4, ".sql") == 0) {
                snprintf(errbuf, errlen, "migrations: %s: name must be NNNN_lower_snake.sql",
                         de->d_name);
                closedir(d);
                free(v);
                return ERR_INVALID;
            }
            continue;
        }
        if (count == MAX_MIGRATIONS) {
            snprintf(errbuf, errlen, "migrations: more than %d files", MAX_MIGRATIONS);
            closedir(d);
            free(v);
            return ERR_INVALID;
        }
        v[count].version = ver;
        snprintf(v[count].name, sizeof v[count].name, "%s", de->d_name);
        count++;
    }
    closedir(d);
    qsort(v, count, sizeof *v, cmp_mfile);
    for (size_t i = 1; i < count; i++) {
        if (v[i].version == v[i - 1].version) {
            snprintf(errbuf, errlen, "migrations: %s and %s share version %04d", v[i - 1].name,
                     v[i].name, v[i].version);
            free(v);
            return ERR_INVALID;
        }
    }
    *files = v;
    *n = count;
    return ERR_OK;
}

enum err migrate_scan(const char *dir, struct migration_set *out, char *errbuf, size_t errlen)
{
    struct mfile *files;
    size_t n;
    enum err res = list_files(dir, &files, &n, errbuf, errlen);

    if (res)
        return res;
    out->count = n;
    out->max_version = n ? files[n - 1].version : 0;
    free(files);
    return ERR_OK;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (!f)
        return NULL;
    buf = malloc(MAX_FILE_BYTES + 1);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
    fclose(f);
    if (n > MAX_FILE_BYTES) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void sha256_hex(const char *buf, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";

    EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) {
        out[i * 2] = hex[md[i] >> 4];
        out[i * 2 + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int migrate_split(const char *sql, size_t len, int (*fn)(const char *, size_t, void *), void *arg)
{
    /* first: where the current statement's first non-comment, non-blank byte is. */
    size_t first = SIZE_MAX, i = 0;
    char quote = 0;

    while (i < len) {
        char c = sql[i];
        if (quote) {
            if (c == '\\' && quote != '`' && i + 1 < len) {
                i += 2;
                continue;
            }
            if (c == quote)
                quote = 0;
            i++;
            continue;
        }
        if (c == '#' || (c == '-' && i + 2 < len && sql[i + 1] == '-' &&
                         (sql[i + 2] == ' ' || sql[i + 2] == '\t' || sql[i + 2] == '\n'))) {
            /* "-- " and "#" comments run to the end of the line */
            while (i < len && sql[i] != '\n')
                i++;
        } else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
            i += 2;
            while (i + 1 < len && !(sql[i] == '*' && sql[i + 1] == '/'))
                i++;
            i += 2;
        } else if (c == ';') {
            if (first != SIZE_MAX) {
                int rc = fn(sql + first, i - first, arg);
                if (rc)
                    return rc;
            }
            first = SIZE_MAX;
            i++;
        } else {
            if (c != ' ' && c != '\n' && c != '\t' && c != '\r' && first == SIZE_MAX)
                first = i;
            if (c == '\'' || c == '"' || c == '`')
                quote = c;
            i++;
        }
    }
    /* A last statement without ';'; a tail of only comments and blanks is nothing. */
    if (first != SIZE_MAX)
        return fn(sql + first, len - first, arg);
    return 0;
}

struct apply_ctx {
    struct rctx *cx;
    enum err res;
    char *errbuf;
    size_t errlen;
    const char *file;
    int n;
};

static int apply_one(const char *stmt, size_t len, void *arg)
{
    struct apply_ctx *a = arg;
    char *s = rctx_strndup(a->cx, stmt, len);

    a->n++;
    a->res = db_exec(a->cx, s, DB_NOARGS, NULL);
    if (a->res) {
        snprintf(a->errbuf, a->errlen,
                 "migrations: %s: statement %d failed (MariaDB error %u): %.120s", a->file, a->n,
                 db_errno(a->cx), s);
        return 1;
    }
    return 0;
}

static const char create_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " version INT NOT NULL PRIMARY KEY,"
                                   " name VARCHAR(255) NOT NULL,"
                                   " checksum CHAR(64) NOT NULL,"
                                   " applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
                                   ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

static enum err run(struct rctx *cx, const char *dir, bool apply, int *count_out, char *errbuf,
                    size_t errlen);

enum err migrate_run(struct rctx *cx, const char *dir, int *applied, char *errbuf, size_t errlen)
{
    return run(cx, dir, true, applied, errbuf, errlen);
}

enum err migrate_verify(struct rctx *cx, const char *dir, int *pending, char *errbuf, size_t errlen)
{
    return run(cx, dir, false, pending, errbuf, errlen);
}

static enum err run(struct rctx *cx, const char *dir, bool apply, int *count_out, char *errbuf,
                    size_t errlen)
{
    struct mfile *files = NULL;
    size_t n = 0;
    struct db_res lock, done;
    enum err res;
    int count = 0;

    *count_out = 0;
    res = list_files(dir, &files, &n, errbuf, errlen);
    if (res)
        return res;
    if (!apply) {
        struct db_res t;
        res = db_exec(cx,
                      "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema ="
                      " DATABASE() AND table_name = 'schema_migrations'",
                      DB_NOARGS, &t);
        if (res) {
            snprintf(errbuf, errlen, "migrations: cannot read the schema: %s",
                     rctx_detail(cx, res));
            free(files);
            return res;
        }
        if (db_cell_i64(&t, 0, 0) == 0) {
            *count_out = (int)n; /* nothing applied yet */
            free(files);
            return ERR_OK;
        }
        goto check;
    }
    res = db_exec(cx, "SELECT GET_LOCK('cityd.migrate', 60)", DB_NOARGS, &lock);
    if (res || db_cell_i64(&lock, 0, 0) != 1) {
        snprintf(errbuf, errlen, "migrations: could not take the migration lock: %s",
                 res ? rctx_detail(cx, res) : "timeout");
        free(files);
        return res ? res : ERR_BUSY;
    }
    res = db_exec(cx, create_table, DB_NOARGS, NULL);
    if (res) {
        snprintf(errbuf, errlen, "migrations: cannot create schema_migrations: %s",
                 rctx_detail(cx, res));
        goto out;
    }
check:
    res = db_exec(cx, "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
                  DB_NOARGS, &done);
    if (res) {
        snprintf(errbuf, errlen, "migrations: cannot read schema_migrations");
        goto out;
    }
    /* Every applied version must still exist with the same content. */
    for (size_t r = 0; r < done.nrows; r++) {
        int v = (int)db_cell_i64(&done, r, 0);
        bool found = false;
        for (size_t i = 0; i < n; i++)
            if (files[i].version == v)
                found = true;
        if (!found) {
            snprintf(errbuf, errlen,
                     "migrations: the database has %04d (%s) applied, which this build does not "
                     "have; refusing to run an older cityd on a newer schema",
                     v, db_cell(&done, r, 1));
            res = ERR_INVALID;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char path[1024], sum[65];
        size_t len = 0;
        char *sql;
        const char *applied_sum = NULL;
        struct apply_ctx a;

        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        sql = read_file(path, &len);
        if (!sql) {
            snprintf(errbuf, errlen, "migrations: cannot read %s (or larger than 16 MiB)", path);
            res = ERR_INVALID;
            goto out;
        }
        sha256_hex(sql, len, sum);
        for (size_t r = 0; r < done.nrows; r++)
            if (db_cell_i64(&done, r, 0) == files[i].version)
                applied_sum = db_cell(&done, r, 2);
        if (applied_sum) {
            free(sql);
            if (strcmp(applied_sum, sum) != 0) {
                snprintf(errbuf, errlen,
                         "migrations: %s was edited after it was applied (checksum %.12s… now "
                         "%.12s…); add a new migration instead",
                         files[i].name, applied_sum, sum);
                res = ERR_INVALID;
                goto out;
            }
            continue;
        }
        if (!apply) {
            free(sql);
            count++; /* pending */
            continue;
        }
        log_info(cx, "applying migration %s", files[i].name);
        memset(&a, 0, sizeof a);
        a.cx = cx;
        a.errbuf = errbuf;
        a.errlen = errlen;
        a.file = files[i].name;
        if (migrate_split(sql, len, apply_one, &a)) {
            free(sql);
            res = a.res ? a.res : ERR_INTERNAL;
            goto out;
        }
        free(sql);
        res = db_exec(cx, "INSERT INTO schema_migrations (version, name, checksum) VALUES (?,?,?)",
                      DB_ARGS(DBI(files[i].version), DBS(files[i].name), DBS(sum)), NULL);
        if (res) {
            snprintf(errbuf, errlen, "migrations: cannot record %s", files[i].name);
            goto out;
        }
        count++;
    }
    *count_out = count;
out:
    if (apply) {
        enum err r2 = db_exec(cx, "SELECT RELEASE_LOCK('cityd.migrate')", DB_NOARGS, NULL);
        (void)r2; /* the lock dies with the connection anyway */
    }
    free(files);
    return res;
}

enum err migrate_check_current(struct rctx *cx, const struct migration_set *set)
{
    struct db_res r;
    enum err res = db_exec(cx, "SELECT COUNT(*), COALESCE(MAX(version), 0) FROM schema_migrations",
                           DB_NOARGS, &r);
    if (res)
        return res;
    if ((size_t)db_cell_i64(&r, 0, 0) != set->count || db_cell_i64(&r, 0, 1) != set->max_version)
        return rctx_fail(cx, ERR_BUSY, "database schema is not current (%lld of %zu migrations)",
                         (long long)db_cell_i64(&r, 0, 0), set->count);
    return ERR_OK;
}

static bool ident_ok(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

enum err migrate_grant_runtime(struct rctx *cx, const char *user, char *errbuf, size_t errlen)
{
    struct db_res t;
    enum err res;

    if (!ident_ok(user)) {
        snprintf(errbuf, errlen, "config: db.runtime_user: only a-z, 0-9 and '_'");
        return ERR_INVALID;
    }
    res = db_exec(cx,
                  "SELECT table_name FROM information_schema.tables WHERE table_schema ="
                  " DATABASE() AND table_type = 'BASE TABLE'",
                  DB_NOARGS, &t);
    if (res) {
        snprintf(errbuf, errlen, "migrations: cannot list tables");
        return res;
    }
    for (size_t i = 0; i < t.nrows; i++) {
        const char *name = db_cell(&t, i, 0);
        const char *privs = "SELECT, INSERT, UPDATE, DELETE";
        char sql[256];

        if (!ident_ok(name))
            continue;
        if (strcmp(name, "audit_log") == 0)
            privs = "SELECT, INSERT";
        else if (strcmp(name, "schema_migrations") == 0)
            privs = "SELECT";
        else if (strcmp(name, "track_points") == 0)
            privs = "SELECT, INSERT, UPDATE, DELETE, ALTER, DROP"; /* day partitions (track.h) */
        /* Identifiers cannot be bound; both come from ident_ok-checked text. */
        snprintf(sql, sizeof sql, "GRANT %s ON `%s` TO '%s'@'localhost'", privs, name, user);
        res = db_exec(cx, rctx_strdup(cx, sql), DB_NOARGS, NULL);
        if (res) {
            snprintf(errbuf, errlen, "migrations: %s failed (MariaDB error %u)", sql, db_errno(cx));
            return res;
        }
    }
    return ERR_OK;
}
