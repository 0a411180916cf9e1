/* tests/e2e/media_watermark_test.c: media.watermark draws the evidence line (time · place ·
 * uploader) on the display rendition only. A flat grey photo stays flat without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"

static struct th_server srv;
static char dir[256];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/cityd-wm-%d", (int)getpid());
    if (th_sh("mkdir -p %s && vips black %s/b.v 1600 1200 --bands 3 && "
              "vips linear %s/b.v %s/grey.jpg 1 128 && rm %s/b.v",
              dir, dir, dir, dir, dir) != 0)
        th_die("vips could not make the test photo");
    th_server_start(&srv, "media.watermark = true\n");
    return 0;
}

static int teardown(void **state)
{
    th_sh("rm -rf %s", dir);
    return th_server_stop(&srv);
}

/* Upload the photo as role, fetch a variant into dir/name, return vips' standard deviation
 * of its pixels (0 for a flat image). */
static double deviation_of(const char *variant, const char *name)
{
    char path[400], auth[9000], url[200];
    const char *hs[] = {auth, "Content-Type: image/jpeg", NULL};
    struct th_resp r;
    FILE *f;
    char *buf;
    size_t len;
    double dev = -1;
    const char *id;

    snprintf(path, sizeof path, "%s/grey.jpg", dir);
    buf = th_read_file(path, &len);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", th_token(&srv, "inspector"));
    th_request(&srv, "POST", "/api/v1/media", hs, buf, len, 0, &r);
    free(buf);
    assert_true(r.status == 201 || r.status == 200);
    id = json_string_value(json_object_get(r.json, "id"));
    assert_non_null(id);
    snprintf(url, sizeof url, "/api/v1/media/%s?variant=%s", id, variant);
    th_resp_free(&r);
    th_request(&srv, "GET", url, hs, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(r.body, 1, r.body_len, f), r.body_len);
    fclose(f);
    th_resp_free(&r);
    {
        char cmd[500];
        FILE *p;
        snprintf(cmd, sizeof cmd, "vips deviate %s", path);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_int_equal(fscanf(p, "%lf", &dev), 1);
        pclose(p);
    }
    return dev;
}

static void display_carries_the_evidence_line_only(void **state)
{
    double display = deviation_of("display", "display.jpg");
    double original = deviation_of("original", "original.jpg");
    double thumb = deviation_of("thumb", "thumb.jpg");

    print_message("deviation: display %.3f, original %.3f, thumb %.3f\n", display, original, thumb);
    assert_true(display > 1.0);  /* text was drawn */
    assert_true(original < 0.5); /* the evidence original is untouched */
    assert_true(thumb < 0.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(display_carries_the_evidence_line_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
