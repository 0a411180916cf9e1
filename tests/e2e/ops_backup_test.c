/* tests/e2e/ops_backup_test.c: scripts/backup.sh on a running cityd while a writer keeps
 * reporting cases with photos, then scripts/restore.sh into a fresh database and media
 * directory, and a second cityd started on the restored data finds every case acknowledged
 * before the backup began, its photo byte for byte (sha256), and every event read before the
 * backup began. Cases acknowledged while the backup ran may or may not be in it, but when one
 * is, its photo must be complete too (the snapshot is consistent). restore.sh also refuses to
 * overwrite a database that has tables. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"
#include "th_assert.h"

#define PHOTOS 4
#define MAX_ACKS 400

static struct th_server a, b;

struct ack {
    long long case_id;
    char media[32];
};

static void gen_photos(void)
{
    for (int i = 0; i < PHOTOS; i++)
        assert_int_equal(th_sh("cd %s && vips gaussnoise n%d.v 320 240 --mean %d --sigma 30 && "
                               "vips cast n%d.v c%d.v uchar && vips bandjoin 'c%d.v c%d.v c%d.v' "
                               "rgb%d.v && vips copy rgb%d.v 'p%d.jpg[Q=85]' && rm -f *.v",
                               a.dir, i, 60 + 30 * i, i, i, i, i, i, i, i, i),
                         0);
}

/* Upload photo i and report a case with it, as the inspector; 0 when not acknowledged. */
static int report_with_photo(int i, struct ack *out)
{
    char path[600], body[600];
    size_t len;
    char *data;
    struct th_resp r;
    const char *hs[] = {th_bearer(&a, "inspector"), "Content-Type: image/jpeg", NULL};
    const char *id;

    snprintf(path, sizeof path, "%s/p%d.jpg", a.dir, i % PHOTOS);
    data = th_read_file(path, &len);
    if (!data)
        return 0;
    th_request(&a, "POST", "/api/v1/media", hs, data, len, 0, &r);
    free(data);
    id = r.status == 201 || r.status == 200 ? json_string_value(json_object_get(r.json, "id"))
                                            : NULL;
    if (!id) {
        fprintf(stderr, "upload of photo %d: %ld %.200s\n", i, r.status, r.body ? r.body : "");
        th_resp_free(&r);
        return 0;
    }
    snprintf(out->media, sizeof out->media, "%s", id);
    th_resp_free(&r);
    snprintf(body, sizeof body,
             "{" TH_CAT_0102 ",\"description\":\"备份测试 %d\"," TH_IN_GRID1
             ",\"photos\":[\"%s\"]}",
             i, out->media);
    th_post(&a, "inspector", "/api/v1/cases", NULL, body, &r);
    if (r.status != 201) {
        fprintf(stderr, "report %d: %ld %.200s\n", i, r.status, r.body ? r.body : "");
        th_resp_free(&r);
        return 0;
    }
    out->case_id = json_integer_value(json_object_get(r.json, "id"));
    th_resp_free(&r);
    return out->case_id > 0;
}

/* The writer: reports until the stop file appears, one "case media" line per acknowledgement
 * (written only after the 201, flushed at once). */
static void writer(const char *acks, const char *stop)
{
    FILE *f = fopen(acks, "a");
    struct ack k;

    if (!f)
        _exit(2);
    for (int i = 100; i < 100 + MAX_ACKS && access(stop, F_OK) != 0; i++) {
        if (report_with_photo(i, &k)) {
            fprintf(f, "%lld %s\n", k.case_id, k.media);
            fflush(f);
        }
    }
    fclose(f);
    _exit(0);
}

static int read_acks(const char *path, struct ack *out, int max)
{
    FILE *f = fopen(path, "r");
    int n = 0;

    if (!f)
        return 0;
    while (n < max && fscanf(f, "%lld %31s", &out[n].case_id, out[n].media) == 2)
        n++;
    fclose(f);
    return n;
}

/* sha256 of the original rendition as srv serves it, hex, into out[65]. */
static void photo_sha(struct th_server *srv, const char *media, char *out)
{
    char path[900], file[600];
    struct th_resp r;
    const char *hs[] = {th_bearer(srv, "inspector"), NULL};
    FILE *f, *p;

    snprintf(path, sizeof path, "/api/v1/media/%s?variant=original", media);
    th_request(srv, "GET", path, hs, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.body_len > 100);
    snprintf(file, sizeof file, "%s/photo.bin", a.dir);
    f = fopen(file, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(r.body, 1, r.body_len, f), r.body_len);
    fclose(f);
    th_resp_free(&r);
    snprintf(path, sizeof path, "sha256sum < %s", file);
    p = popen(path, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%64s", out), 1);
    pclose(p);
    assert_int_equal(strlen(out), 64);
}

/* GET /api/v1/events as the leader, every page: a malloc'd array of the ids, types and
 * case ids seen ("id type case" lines), *n of them. */
static json_t *events_of(struct th_server *srv)
{
    json_t *all = json_array();
    long long after = 0;

    for (;;) {
        char path[128];
        struct th_resp r;
        json_t *items;
        size_t n;

        snprintf(path, sizeof path, "/api/v1/events?after=%lld&limit=200", after);
        th_get_as(srv, "leader", path, &r);
        assert_int_equal(r.status, 200);
        items = json_object_get(r.json, "items");
        assert_true(json_is_array(items));
        n = json_array_size(items);
        for (size_t i = 0; i < n; i++)
            json_array_append(all, json_array_get(items, i));
        after = json_integer_value(json_object_get(r.json, "next_after"));
        th_resp_free(&r);
        if (n == 0)
            break;
    }
    return all;
}

static void test_backup_under_writes_and_restore(void **state)
{
    struct ack before[8], acks[MAX_ACKS];
    int nbefore = 0, nacks, nacks_at_start;
    char ackfile[400], stopfile[400], outdir[400], conf[400], media[400], dbname[80],
        line[1200] = "";
    char sha_a[65], sha_b[65];
    json_t *ev_a, *ev_b;
    pid_t child;
    FILE *p;
    int status, present_later = 0;

    gen_photos();
    for (int i = 0; i < 3; i++) {
        assert_true(report_with_photo(i, &before[nbefore]));
        nbefore++;
    }
    ev_a = events_of(&a);
    assert_true(json_array_size(ev_a) >= 3);

    snprintf(ackfile, sizeof ackfile, "%s/acks", a.dir);
    snprintf(stopfile, sizeof stopfile, "%s/stop", a.dir);
    snprintf(outdir, sizeof outdir, "%s/backups", a.dir);
    th_token(&a, "inspector");
    child = fork();
    assert_true(child >= 0);
    if (child == 0)
        writer(ackfile, stopfile);
    /* The backup starts while reports are coming in. */
    for (int i = 0; i < 600 && read_acks(ackfile, acks, MAX_ACKS) < 2; i++)
        usleep(50000);
    nacks_at_start = read_acks(ackfile, acks, MAX_ACKS);
    assert_true(nacks_at_start >= 2);
    snprintf(line, sizeof line, "%s -c %s -o %s -u root 2>&1", th_source_path("scripts/backup.sh"),
             a.cfgpath, outdir);
    p = popen(line, "r");
    assert_non_null(p);
    line[0] = '\0';
    {
        char buf[600];
        while (fgets(buf, sizeof buf, p))
            snprintf(line, sizeof line, "%s", buf);
    }
    assert_int_equal(pclose(p), 0);
    line[strcspn(line, "\n")] = '\0';
    print_message("backup: %s\n", line);
    /* Let the writer go on a little after the backup, then stop it. */
    usleep(300000);
    assert_int_equal(th_sh("touch %s", stopfile), 0);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    nacks = read_acks(ackfile, acks, MAX_ACKS);
    print_message("acknowledged: %d before, %d when the backup started, %d in all\n", nbefore,
                  nacks_at_start, nacks);
    assert_true(nacks > nacks_at_start); /* writes really ran during the backup */
    assert_int_equal(th_sh("test -s %s/db.sql.gz && test -s %s/media.tar && grep -q '^media_files "
                           "[1-9]' %s/MANIFEST",
                           line, line, line),
                     0);

    /* Restore into a fresh database and media directory. */
    snprintf(dbname, sizeof dbname, "r_%s", a.dbname);
    snprintf(media, sizeof media, "%s/restored-media", a.dir);
    snprintf(conf, sizeof conf, "%s/restore.conf", a.dir);
    assert_int_equal(th_sh("printf 'db.socket = %s\\ndb.user = root\\ndb.name = %s\\n"
                           "media.dir = %s\\n' > %s",
                           a.socket, dbname, media, conf),
                     0);
    th_sql_execf(&a, "DROP DATABASE IF EXISTS %s", dbname);
    assert_int_equal(th_sh("%s -c %s %s", th_source_path("scripts/restore.sh"), conf, line), 0);
    /* A second restore onto the same database is refused without --force, and changes
     * nothing. */
    assert_int_not_equal(
        th_sh("%s -c %s %s 2>/dev/null", th_source_path("scripts/restore.sh"), conf, line), 0);
    {
        char extra[600];
        snprintf(extra, sizeof extra, "db.name = %s\nmedia.dir = %s\n", dbname, media);
        th_server_start(&b, extra);
    }
    b.logins = json_incref(a.logins); /* the same users, restored; b logs in with them */
    b.tokens = json_object();

    for (int i = 0; i < nbefore + nacks; i++) {
        const struct ack *k = i < nbefore ? &before[i] : &acks[i - nbefore];
        bool must = i < nbefore + nacks_at_start;
        char path[64];
        struct th_resp r;

        snprintf(path, sizeof path, "/api/v1/cases/%lld", k->case_id);
        th_get_as(&b, "dispatcher", path, &r);
        if (!must && r.status == 404) {
            th_resp_free(&r);
            continue;
        }
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "photos"), 0)),
                            k->media);
        th_resp_free(&r);
        photo_sha(&a, k->media, sha_a);
        photo_sha(&b, k->media, sha_b);
        assert_string_equal(sha_a, sha_b);
        if (!must)
            present_later++;
    }
    print_message("acknowledged during the backup and restored: %d of %d\n", present_later,
                  nacks - nacks_at_start);

    ev_b = events_of(&b);
    for (size_t i = 0; i < json_array_size(ev_a); i++) {
        json_t *e = json_array_get(ev_a, i);
        bool found = false;
        for (size_t k = 0; k < json_array_size(ev_b) && !found; k++)
            found = json_equal(e, json_array_get(ev_b, k));
        if (!found)
            print_message("event missing after restore: %s\n", json_dumps(e, JSON_COMPACT));
        assert_true(found);
    }
    json_decref(ev_a);
    json_decref(ev_b);
    assert_int_equal(th_server_stop(&b), 0);
    th_sql_execf(&a, "DROP DATABASE IF EXISTS %s", dbname);
}

static int setup(void **state)
{
    th_server_start(&a, NULL);
    th_seed(&a);
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_under_writes_and_restore),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
