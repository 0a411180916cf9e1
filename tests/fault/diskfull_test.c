/* tests/fault/diskfull_test.c: the media store's disk fills up (a small tmpfs mounted on
 * media.dir and filled with a filler file). An upload then gets 507 insufficient_storage — not
 * 500, not a hang — and leaves no temp file and no row; media already stored keep being
 * served; once space returns, the retry with the same Idempotency-Key succeeds, and the ledger
 * is clean. A tus upload's chunk is refused the same way (507, offset unchanged) and resumes
 * from its offset once space returns. Needs root (mount); this suite runs as root here
 * (docs/reliability.md). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "ledger.h"
#include "th_api.h"

static struct th_server srv;
static struct ledger *led;
static char fx[256];
static char mnt[300];

static void gen_jpeg(const char *name, int w, int h)
{
    if (th_sh("cd %s && vips gaussnoise n.v %d %d --mean 128 --sigma 30 && vips cast n.v c.v uchar "
              "&& vips bandjoin 'c.v c.v c.v' rgb.v && vips copy rgb.v '%s[Q=92]' && rm -f n.v c.v"
              " rgb.v",
              fx, w, h, name) != 0)
        th_die("cannot generate %s", name);
}

static char *slurp(const char *name, size_t *len)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", fx, name);
    return th_read_file(path, len);
}

static void post_media(const char *key, const void *data, size_t len, struct th_resp *r)
{
    char keyh[128];
    const char *hs[] = {th_bearer(&srv, "inspector"), keyh, "Content-Type: image/jpeg", NULL};
    snprintf(keyh, sizeof keyh, "Idempotency-Key: %s", key);
    th_request(&srv, "POST", "/api/v1/media", hs, data, len, 0, r);
}

static void tus_patch(const char *loc, const void *data, size_t len, struct th_resp *r)
{
    const char *hs[] = {th_bearer(&srv, "inspector"), "Tus-Resumable: 1.0.0",
                        "Content-Type: application/offset+octet-stream", "Upload-Offset: 0", NULL};
    th_request(&srv, "PATCH", loc, hs, data, len, 0, r);
}

static int setup(void **state)
{
    (void)state;
    snprintf(fx, sizeof fx, "/tmp/cityd-diskfull-fx-XXXXXX");
    if (!mkdtemp(fx))
        th_die("mkdtemp");
    gen_jpeg("p1.jpg", 900, 700);
    gen_jpeg("p2.jpg", 901, 700);
    gen_jpeg("p3.jpg", 902, 700);
    th_server_start(&srv, NULL);
    th_seed(&srv);
    /* The store under a 6 MiB tmpfs: stop cityd, mount, start it again on the same config. */
    kill(srv.pid, SIGKILL);
    snprintf(mnt, sizeof mnt, "%s/media", srv.dir);
    if (th_sh("mount -t tmpfs -o size=6m,mode=0750 cityd-fault-media %s", mnt) != 0)
        th_die("mount tmpfs on %s failed (needs root)", mnt);
    th_server_restart(&srv);
    led = ledger_new();
    return 0;
}

static int teardown(void **state)
{
    int rc;
    (void)state;
    rc = th_server_stop(&srv); /* its rm -rf cannot remove the mount point itself */
    th_sh("umount -l %s 2>/dev/null; rm -rf %s %s", mnt, srv.dir, fx);
    ledger_free(led);
    return rc;
}

static void media_disk_full_then_space_returns(void **state)
{
    size_t l1, l2, l3;
    char *p1 = slurp("p1.jpg", &l1), *p2 = slurp("p2.jpg", &l2), *p3 = slurp("p3.jpg", &l3);
    char ul[64], loc[256];
    struct th_resp r;
    long long rows;
    (void)state;

    post_media("full-1", p1, l1, &r);
    assert_int_equal(r.status, 201);
    ledger_media(led, "inspector", "full-1", json_string_value(json_object_get(r.json, "id")), p1,
                 l1);
    th_resp_free(&r);
    rows = th_sql_int(&srv, "SELECT COUNT(*) FROM media");

    /* Fill the disk to the last block. */
    th_sh("dd if=/dev/zero of=%s/filler bs=64k >/dev/null 2>&1", mnt);
    assert_int_equal(th_sh("test \"$(df --output=avail -k %s | tail -1 | tr -d ' ')\" -lt 8", mnt),
                     0);
    /* tus: the upload is created (a row only), its chunk is refused, the offset stays 0. */
    {
        const char *hs[] = {
            th_bearer(&srv, "inspector"), "Tus-Resumable: 1.0.0", ul,
            "Upload-Metadata: filename cGhvdG8uanBn,filetype aW1hZ2UvanBlZw==", NULL};
        snprintf(ul, sizeof ul, "Upload-Length: %zu", l3);
        th_request(&srv, "POST", "/api/v1/uploads", hs, NULL, 0, 0, &r);
        assert_int_equal(r.status, 201);
        assert_true(th_header(&r, "location", loc, sizeof loc));
        th_resp_free(&r);
        tus_patch(loc, p3, l3, &r);
        assert_int_equal(r.status, 507);
        assert_string_equal(th_error_code(&r), "insufficient_storage");
        th_resp_free(&r);
        assert_int_equal(th_sqlf(&srv, "SELECT offset_bytes FROM uploads WHERE public_id = '%s'",
                                 strrchr(loc, '/') + 1),
                         0);
    }
    for (int i = 0; i < 2; i++) { /* twice: a full disk is not a one-off */
        post_media("full-2", p2, l2, &r);
        assert_int_equal(r.status, 507);
        assert_string_equal(th_error_code(&r), "insufficient_storage");
        th_resp_free(&r);
    }
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM media"), rows);
    assert_int_equal(th_sh("test -z \"$(ls -A %s/tmp)\"", mnt), 0); /* no partial file */
    assert_int_equal(kill(srv.pid, 0), 0);
    /* Reads keep working (the ledger reads every acknowledged medium back). */
    ledger_assert_clean(led, &srv);

    /* Space returns: the same key now succeeds. */
    th_sh("rm -f %s/filler", mnt);
    post_media("full-2", p2, l2, &r);
    assert_int_equal(r.status, 201);
    ledger_media(led, "inspector", "full-2", json_string_value(json_object_get(r.json, "id")), p2,
                 l2);
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM media"), rows + 1);
    /* The tus upload resumes from its offset (0) and completes. */
    tus_patch(loc, p3, l3, &r);
    assert_int_equal(r.status, 204);
    th_resp_free(&r);
    {
        char sql[300];
        snprintf(sql, sizeof sql,
                 "SELECT m.public_id FROM uploads u JOIN media m ON m.id = u.media_id WHERE"
                 " u.public_id = '%s'",
                 strrchr(loc, '/') + 1);
        assert_int_equal(th_sh("mariadb --no-defaults -uroot -S %s %s -N -e \"%s\" > %s/tus-media",
                               srv.socket, srv.dbname, sql, srv.dir),
                         0);
        {
            size_t n;
            char path[400], *pid;
            snprintf(path, sizeof path, "%s/tus-media", srv.dir);
            pid = th_read_file(path, &n);
            while (n && (pid[n - 1] == '\n' || pid[n - 1] == ' '))
                pid[--n] = '\0';
            assert_int_equal((int)n, 22);
            ledger_media(led, "inspector", "", pid, p3, l3);
            free(pid);
        }
    }
    ledger_assert_clean(led, &srv);
    free(p1);
    free(p2);
    free(p3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(media_disk_full_then_space_returns),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
