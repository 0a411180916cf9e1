/* tests/e2e/media_quota_test.c: issue 17 item 2 — per-user media quotas. New media per hour
 * beyond media.uploads_per_hour get 429 rate_limited; an upload that would take a user past
 * media.quota_bytes gets 413 payload_too_large. Both are checked before any decoding, and a
 * refused upload stores nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"

static struct th_server srv;
static char dir[256];
static long long big;

/* POST /api/v1/media as role with the file; returns the status. */
static long upload(const char *role, const char *file, char *code, size_t codelen)
{
    char out[400];
    long st = 0;
    FILE *f;

    snprintf(out, sizeof out, "%s/answer", dir);
    if (th_sh("curl -s -o %s -w '%%{http_code}' --http2-prior-knowledge "
              "-H 'Authorization: Bearer %s' -H 'Content-Type: image/jpeg' "
              "--data-binary @%s/%s %s/api/v1/media > %s/status",
              out, th_token(&srv, role), dir, file, srv.base, dir) != 0)
        return -1;
    snprintf(out, sizeof out, "%s/status", dir);
    f = fopen(out, "r");
    if (f) {
        if (fscanf(f, "%ld", &st) != 1)
            st = -1;
        fclose(f);
    }
    code[0] = '\0';
    snprintf(out, sizeof out, "%s/answer", dir);
    f = fopen(out, "r");
    if (f) {
        char body[2048] = "";
        size_t n = fread(body, 1, sizeof body - 1, f);
        json_t *j = json_loads(body, 0, NULL);
        body[n] = '\0';
        fclose(f);
        if (j && json_is_string(json_object_get(json_object_get(j, "error"), "code")))
            snprintf(code, codelen, "%s",
                     json_string_value(json_object_get(json_object_get(j, "error"), "code")));
        json_decref(j);
    }
    return st;
}

static long long media_rows(const char *role)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM media m JOIN users u ON u.id = m.owner_id WHERE u.username = "
             "'%s'",
             th_username(&srv, role));
    return th_sql_int(&srv, sql);
}

static int setup(void **state)
{
    char cfg[400];
    struct stat st;

    snprintf(dir, sizeof dir, "/tmp/cityd-quota-%d", (int)getpid());
    /* Distinct bytes for each upload (a counter after the end marker): no dedupe short-cut. */
    if (th_sh("mkdir -p %s && cd %s && vips gaussnoise n.v 200 200 --mean 128 --sigma 40 && "
              "vips cast n.v c.v uchar && vips copy c.v 'big.jpg[Q=90]' && "
              "vips crop c.v s.v 0 0 16 16 && vips copy s.v 'small.jpg[Q=90]' && "
              "for i in 1 2 3 4; do cp small.jpg s$i.jpg; printf 'q%%d' $i >> s$i.jpg; "
              "cp big.jpg b$i.jpg; printf 'q%%d' $i >> b$i.jpg; done",
              dir, dir) != 0)
        th_die("cannot make the test photos");
    snprintf(cfg, sizeof cfg, "%s/big.jpg", dir);
    if (stat(cfg, &st) != 0)
        th_die("no big.jpg");
    big = (long long)st.st_size;
    /* Room for one big photo and a half; three new media an hour. */
    snprintf(cfg, sizeof cfg, "media.uploads_per_hour = 3\nmedia.quota_bytes = %lld\n",
             big * 3 / 2);
    th_server_start(&srv, cfg);
    th_seed(&srv);
    return 0;
}

static int teardown(void **state)
{
    th_sh("rm -rf %s", dir);
    return th_server_stop(&srv);
}

static void uploads_per_hour_then_429(void **state)
{
    char code[64];

    for (int i = 1; i <= 3; i++) {
        char f[16];
        snprintf(f, sizeof f, "s%d.jpg", i);
        assert_int_equal(upload("inspector", f, code, sizeof code), 201);
    }
    assert_int_equal(upload("inspector", "s4.jpg", code, sizeof code), 429);
    assert_string_equal(code, "rate_limited");
    assert_int_equal(media_rows("inspector"), 3);
    /* A retry of bytes already stored is no new medium: still answered (200, the stored one). */
    assert_int_equal(upload("inspector", "s1.jpg", code, sizeof code), 200);
}

static void storage_quota_then_413(void **state)
{
    char code[64];

    assert_int_equal(upload("citizen", "b1.jpg", code, sizeof code), 201);
    assert_int_equal(upload("citizen", "b2.jpg", code, sizeof code), 413);
    assert_string_equal(code, "payload_too_large");
    assert_int_equal(media_rows("citizen"), 1);
    /* Another user has room of their own. */
    assert_int_equal(upload("handler", "b3.jpg", code, sizeof code), 201);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uploads_per_hour_then_429),
        cmocka_unit_test(storage_quota_then_413),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
