/* server/cli.c: administrative commands of the binary. */
#include "cli.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <string.h>
#include "api/api.h"
#include "api/domain/audit.h"
#include "api/domain/rollup.h"
#include "api/domain/seed.h"
#include "api/domain/user.h"
#include "server/core/clock.h"
#include "server/core/roles.h"
#include "server/wire.h"

#include <stdlib.h>

/* `cityd routes`: every route as "METHOD PATH ROLES BODY_LIMIT" — the authorization matrix and
 * the openapi.yaml check read this, so the tables stay the single source of truth. */
static int cmd_routes(void)
{
    for (size_t t = 0; api_tables[t]; t++) {
        for (const struct route *r = api_tables[t]; r->method; r++) {
            printf("%s\t%s\t", r->method, r->path);
            if (r->roles == ROLE_PUBLIC) {
                printf("public");
            } else {
                const char *sep = "";
                for (size_t i = 0; i < role_count(); i++) {
                    if (r->roles & role_at(i)) {
                        printf("%s%s", sep, role_name(role_at(i)));
                        sep = ",";
                    }
                }
            }
            printf("\t%zu\n", r->body_limit);
        }
    }
    return 0;
}

struct add_arg {
    struct user_new u;
    int64_t id;
};

static enum err add_fn(struct rctx *cx, void *p)
{
    struct add_arg *a = p;
    return user_create(cx, &a->u, &a->id);
}

/* `cityd user add --username NAME --role ROLE[,ROLE] [--display-name N] [--phone P]`; the
 * password comes from CITYD_PASSWORD or the first line of standard input, never argv (it would
 * show in ps and shell history). */
static int cmd_user_add(const struct cfg *cfg, int argc, char **argv)
{
    struct add_arg a = {0};
    char pw[256] = "";
    const char *env = getenv("CITYD_PASSWORD");

    if (argc < 1 || strcmp(argv[0], "add") != 0)
        goto usage;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            goto usage;
        if (strcmp(argv[i], "--username") == 0) {
            a.u.username = argv[++i];
        } else if (strcmp(argv[i], "--display-name") == 0) {
            a.u.display_name = argv[++i];
        } else if (strcmp(argv[i], "--phone") == 0) {
            a.u.phone = argv[++i];
        } else if (strcmp(argv[i], "--role") == 0) {
            char *list = argv[++i], *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                uint32_t bit = role_from_name(t, strlen(t));
                if (!bit) {
                    fprintf(stderr, "cityd: unknown role \"%s\"\n", t);
                    return 2;
                }
                a.u.roles |= bit;
            }
        } else {
            goto usage;
        }
    }
    if (!a.u.username || !a.u.roles)
        goto usage;
    if (!a.u.display_name)
        a.u.display_name = a.u.username;
    if (env) {
        snprintf(pw, sizeof pw, "%s", env);
    } else if (!fgets(pw, sizeof pw, stdin)) {
        fprintf(stderr, "cityd: give the password on standard input or in CITYD_PASSWORD\n");
        return 2;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    a.u.password = pw;
    if (wire_with_db(cfg, add_fn, &a))
        return 1;
    printf("created user %lld (%s)\n", (long long)a.id, a.u.username);
    return 0;
usage:
    fprintf(stderr, "usage: cityd user add --username NAME --role ROLE[,ROLE...] "
                    "[--display-name NAME] [--phone PHONE]  (password on stdin)\n");
    return 2;
}

struct seed_arg {
    struct seed_login logins[SEED_LOGINS];
    size_t n;
};

static enum err seed_fn(struct rctx *cx, void *p)
{
    struct seed_arg *a = p;
    return seed_demo_city(cx, a->logins, &a->n);
}

static int cmd_seed_demo(const struct cfg *cfg, int argc, char **argv)
{
    struct seed_arg a;
    const char *file = NULL;
    FILE *f;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--logins") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else {
            fprintf(stderr, "usage: cityd seed-demo [--logins FILE]\n");
            return 2;
        }
    }
    if (wire_with_db(cfg, seed_fn, &a))
        return 1;
    f = stdout;
    if (file) {
        /* Passwords: readable by the owner only, whatever the umask. */
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0 && fchmod(fd, 0600) == 0)
            f = fdopen(fd, "w");
        else
            f = NULL;
        if (!f && fd >= 0)
            close(fd);
    }
    if (!f) {
        fprintf(stderr, "cityd: cannot write %s\n", file);
        return 1;
    }
    fprintf(f, "[\n");
    for (size_t i = 0, k = 0; i < a.n; i++) {
        if (!a.logins[i].password[0]) { /* existed already: left as it is */
            fprintf(stderr, "cityd: seed-demo: %s exists; left unchanged\n", a.logins[i].username);
            continue;
        }
        fprintf(f, "%s  {\"role\": \"%s\", \"username\": \"%s\", \"password\": \"%s\"}",
                k++ ? ",\n" : "", a.logins[i].role, a.logins[i].username, a.logins[i].password);
    }
    fprintf(f, "\n]\n");
    if (file)
        fclose(f);
    return 0;
}

static enum err rebuild_fn(struct rctx *cx, void *p)
{
    (void)p;
    cx->now_ms = clock_now_ms();
    return rollup_rebuild(cx, true);
}

/* cityd rollup-rebuild: recompute the dashboard and 考评 rollups from the case timelines. */
static int cmd_rollup_rebuild(const struct cfg *cfg, int argc)
{
    if (argc) {
        fprintf(stderr, "usage: cityd rollup-rebuild\n");
        return 2;
    }
    return wire_with_db(cfg, rebuild_fn, NULL) ? 1 : 0;
}

struct purge_arg {
    int keep_days, batch;
    bool dry_run;
    struct audit_purge_stats st;
};

static enum err purge_fn(struct rctx *cx, void *p)
{
    struct purge_arg *a = p;
    cx->now_ms = clock_now_ms();
    snprintf(cx->ip, sizeof cx->ip, "cli");
    return audit_purge(cx, a->keep_days, a->batch, a->dry_run, &a->st);
}

static bool int_arg(const char *s, int min, int max, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

/* cityd audit-purge [--keep-days N] [--batch N] [--dry-run]: remove audit rows past the
 * retention (api/domain/audit.h). Run with the maintenance account (a database user that may
 * DELETE from audit_log; the runtime user may not): etc/cityd-audit-purge.service. */
static int cmd_audit_purge(const struct cfg *cfg, int argc, char **argv)
{
    struct purge_arg a = {.keep_days = AUDIT_RETENTION_MIN_DAYS, .batch = 5000};
    char skew[32], cut[32];
    enum err res;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--keep-days") == 0 && i + 1 < argc) {
            if (!int_arg(argv[++i], AUDIT_RETENTION_MIN_DAYS, AUDIT_RETENTION_MAX_DAYS,
                         &a.keep_days)) {
                fprintf(stderr,
                        "cityd: audit-purge: --keep-days: %d..%d (audit rows are kept at least"
                        " six months)\n",
                        AUDIT_RETENTION_MIN_DAYS, AUDIT_RETENTION_MAX_DAYS);
                return 2;
            }
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            if (!int_arg(argv[++i], 1, 100000, &a.batch)) {
                fprintf(stderr, "cityd: audit-purge: --batch: 1..100000\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--dry-run") == 0) {
            a.dry_run = true;
        } else {
            fprintf(stderr, "usage: cityd audit-purge [--keep-days N] [--batch N] [--dry-run]\n");
            return 2;
        }
    }
    res = wire_with_db(cfg, purge_fn, &a);
    if (res)
        return 1;
    {
        time_t c = (time_t)(a.st.cutoff_ms / 1000);
        struct tm tm;
        gmtime_r(&c, &tm);
        strftime(cut, sizeof cut, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(skew, sizeof skew, "%+lld", (long long)((a.st.node_ms - a.st.db_ms) / 1000));
    }
    printf("audit-purge: %s %lld rows older than %d days (at before %s) in %lld batches;"
           " clock %s s from the database's\n",
           a.dry_run ? "would remove" : "removed", (long long)a.st.removed, a.keep_days, cut,
           (long long)a.st.batches, skew);
    return 0;
}

int cli_main(const struct cfg *cfg, const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "routes") == 0)
        return cmd_routes();
    if (strcmp(cmd, "user") == 0)
        return cmd_user_add(cfg, argc, argv);
    if (strcmp(cmd, "seed-demo") == 0)
        return cmd_seed_demo(cfg, argc, argv);
    if (strcmp(cmd, "rollup-rebuild") == 0)
        return cmd_rollup_rebuild(cfg, argc);
    if (strcmp(cmd, "audit-purge") == 0)
        return cmd_audit_purge(cfg, argc, argv);
    fprintf(stderr, "cityd: unknown command \"%s\" (try cityd help)\n", cmd);
    return 2;
}
