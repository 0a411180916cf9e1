/* tests/e2e/media_test.c: /api/v1/media and /api/v1/uploads (tus) through the real binary:
 * hostile files, metadata stripping, rotation, limits, resumable uploads, retries, serving
 * (ETag, 304, Range), access, and a kill -9 during processing followed by a restart.
 * Every input file is generated here with the vips CLI and exiftool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"
#include "th_assert.h"

static struct th_server srv;
static char fx[400]; /* generated input files */

/* ---- helpers ---------------------------------------------------------------------------- */

static char *sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh_out(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    FILE *p;
    char *out = calloc(1, 1 << 16);
    size_t n = 0;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    if (!p)
        th_die("popen %s", cmd);
    n = fread(out, 1, (1 << 16) - 1, p);
    out[n] = '\0';
    pclose(p);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    return out;
}

static char *slurp(const char *name, size_t *len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", fx, name);
    return th_read_file(path, len);
}

static void spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len)
        th_die("cannot write %s", path);
    fclose(f);
}

/* POST the file's bytes as they are; extra is one more header or NULL. */
static void post_media_flags(const char *auth, const char *data, size_t len, const char *ctype,
                             const char *extra, unsigned flags, struct th_resp *r)
{
    char ct[200];
    const char *hs[] = {auth, ct, extra, NULL};
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/octet-stream");
    th_request(&srv, "POST", "/api/v1/media", hs, data, len, flags, r);
}

static void post_media(const char *auth, const char *data, size_t len, const char *ctype,
                       const char *extra, struct th_resp *r)
{
    post_media_flags(auth, data, len, ctype, extra, 0, r);
}

static void post_file(const char *role, const char *name, const char *ctype, struct th_resp *r)
{
    size_t len;
    char *data = slurp(name, &len);
    post_media(th_bearer(&srv, role), data, len, ctype, NULL, r);
    free(data);
}

static const char *media_id(const struct th_resp *r)
{
    return json_string_value(json_object_get(r->json, "id"));
}

static void get_variant(const char *auth, const char *id, const char *variant, const char *extra,
                        struct th_resp *r)
{
    char path[200];
    const char *hs[] = {auth, extra, NULL};
    snprintf(path, sizeof path, "/api/v1/media/%s%s%s", id, variant ? "?variant=" : "",
             variant ? variant : "");
    th_request(&srv, "GET", path, hs, NULL, 0, 0, r);
}

/* Save a served body to fx/<name> and return the path. */
static const char *save(const struct th_resp *r, const char *name)
{
    static char path[4][600];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 600, "%s/%s", fx, name);
    spit(p, r->body, r->body_len);
    return p;
}

static long long rows_for(const char *public_id)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM media WHERE public_id = '%s'", public_id);
    return th_sql_int(&srv, sql);
}

/* A noisy RGB JPEG of w x h at quality 90. */
static void gen_jpeg(const char *name, int w, int h, int sigma)
{
    if (th_sh("cd %s && vips gaussnoise n.v %d %d --mean 128 --sigma %d && vips cast n.v c.v uchar "
              "&& vips bandjoin 'c.v c.v c.v' rgb.v && vips copy rgb.v '%s[Q=90]' && rm -f n.v c.v",
              fx, w, h, sigma, name) != 0)
        th_die("cannot generate %s", name);
}

static void gen_fixtures(void)
{
    char path[600];
    size_t len;
    char *b;

    snprintf(fx, sizeof fx, "%s/fx", srv.dir);
    th_sh("mkdir -p %s", fx);
    gen_jpeg("small.jpg", 640, 480, 40);
    gen_jpeg("mid.jpg", 1600, 1200, 30);
    /* 12 MP, noisy enough for 4-5 MB: a large phone photo. */
    gen_jpeg("big.jpg", 4000, 3000, 11);
    /* GPS and capture time, as a phone writes them. */
    th_sh("cd %s && cp small.jpg gps.jpg && exiftool -q -overwrite_original -GPSLatitude=39.9042 "
          "-GPSLatitudeRef=N -GPSLongitude=116.4074 -GPSLongitudeRef=E "
          "'-DateTimeOriginal=2024:06:01 12:34:56' gps.jpg",
          fx);
    /* Landscape pixels, Orientation 6: upright it is portrait. */
    gen_jpeg("wide.jpg", 400, 200, 20);
    th_sh("cd %s && cp wide.jpg rot.jpg && exiftool -q -overwrite_original -n -Orientation=6 "
          "rot.jpg",
          fx);
    /* A pixel bomb: a tiny JPEG whose SOF0 declares 64250 x 64250. */
    gen_jpeg("tiny.jpg", 16, 16, 10);
    b = slurp("tiny.jpg", &len);
    for (size_t i = 2; i + 9 < len; i++) {
        if ((unsigned char)b[i] == 0xFF &&
            ((unsigned char)b[i + 1] == 0xC0 || (unsigned char)b[i + 1] == 0xC2)) {
            b[i + 5] = (char)0xFA;
            b[i + 6] = (char)0xFA;
            b[i + 7] = (char)0xFA;
            b[i + 8] = (char)0xFA;
            break;
        }
    }
    snprintf(path, sizeof path, "%s/bomb.jpg", fx);
    spit(path, b, len);
    free(b);
    /* Cut off at 60 %. */
    b = slurp("mid.jpg", &len);
    snprintf(path, sizeof path, "%s/trunc.jpg", fx);
    spit(path, b, len * 6 / 10);
    free(b);
    th_sh("cd %s && printf '%%s' '<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" "
          "height=\"10\"><rect width=\"10\" height=\"10\"/></svg>' > x.svg",
          fx);
    th_sh("cd %s && printf '%%s\\n' '%%PDF-1.4' '1 0 obj << /Type /Catalog >> endobj' 'trailer "
          "<< /Root 1 0 R >>' '%%%%EOF' > x.pdf",
          fx);
    th_sh("cd %s && vips copy small.jpg x.tif", fx);
    /* JPEG + ZIP polyglot: the archive rides after the image's end marker. */
    th_sh("cd %s && echo secret > s.txt && zip -q s.zip s.txt && cat small.jpg s.zip > poly.jpg",
          fx);
    /* AMR-NB, 12.2 kbit/s: 250 frames of 20 ms = 5 s. */
    {
        size_t n = 6 + 250 * 32;
        char *a = calloc(1, n);
        memcpy(a, "#!AMR\n", 6);
        for (size_t i = 0; i < 250; i++)
            a[6 + i * 32] = 0x3C;
        snprintf(path, sizeof path, "%s/voice.amr", fx);
        spit(path, a, n);
        free(a);
    }
    /* A voice clip over the 5 MiB voice limit (and far over the 10 minute limit). */
    {
        size_t n = 6 + 180000 * 32;
        char *a = calloc(1, n);
        memcpy(a, "#!AMR\n", 6);
        for (size_t i = 0; i < 180000; i++)
            a[6 + i * 32] = 0x3C;
        snprintf(path, sizeof path, "%s/long.amr", fx);
        spit(path, a, n);
        free(a);
    }
}

static int setup(void **state)
{
    th_server_start(&srv, NULL);
    th_seed(&srv);
    gen_fixtures();
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

/* ---- hostile and invalid files ---------------------------------------------------------- */

static void pixel_bomb_is_413_from_the_header(void **state)
{
    struct th_resp r;
    long long before = th_sql_int(&srv, "SELECT COUNT(*) FROM media");

    post_file("citizen", "bomb.jpg", "image/jpeg", &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(th_error_code(&r), "payload_too_large");
    assert_true(r.seconds < 2.0); /* refused from the header, nothing decoded */
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM media"), before);
}

static void truncated_and_empty_are_rejected(void **state)
{
    struct th_resp r;
    long long before = th_sql_int(&srv, "SELECT COUNT(*) FROM media");

    post_file("citizen", "trunc.jpg", "image/jpeg", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(th_error_code(&r), "invalid_argument");
    th_resp_free(&r);

    post_media(th_bearer(&srv, "citizen"), "", 0, "image/jpeg", NULL, &r);
    assert_int_equal(r.status, 400);
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM media"), before);
}

static void svg_pdf_tiff_labelled_jpeg_are_415(void **state)
{
    const char *names[] = {"x.svg", "x.pdf", "x.tif", "s.zip"};
    long long before = th_sql_int(&srv, "SELECT COUNT(*) FROM media");

    for (size_t i = 0; i < 4; i++) {
        struct th_resp r;
        post_file("citizen", names[i], "image/jpeg", &r);
        if (r.status != 415)
            fprintf(stderr, "%s: %ld %s\n", names[i], r.status, r.body);
        assert_int_equal(r.status, 415);
        assert_string_equal(th_error_code(&r), "unsupported_media_type");
        th_resp_free(&r);
    }
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM media"), before);
}

static void polyglot_keeps_the_image_drops_the_zip(void **state)
{
    struct th_resp r, g;
    const char *id;

    post_file("citizen", "poly.jpg", "application/zip", &r);
    assert_int_equal(r.status, 201);
    id = media_id(&r);
    assert_non_null(id);
    get_variant(th_bearer(&srv, "citizen"), id, "original", NULL, &g);
    assert_int_equal(g.status, 200);
    assert_true(g.body_len > 1000);
    assert_int_equal((unsigned char)g.body[0], 0xFF);
    assert_int_equal((unsigned char)g.body[1], 0xD8);
    for (size_t i = 0; i + 4 <= g.body_len; i++)
        assert_false(memcmp(g.body + i, "PK\x03\x04", 4) == 0);
    th_resp_free(&g);
    th_resp_free(&r);
}

static void over_limit_is_413(void **state)
{
    struct th_resp r;
    size_t big = (21u << 20);
    char *junk = calloc(1, big);

    /* Over the route's limit: refused before the handler (HTTP/1.1 with a Content-Length is
     * refused before the body is read; over h2, h2o resets the stream instead). The client
     * waits for "100 Continue" as a careful uploader does (up to 20 s here): the 413 comes
     * instead, before any of the body is sent. Without the wait, the client may still be writing
     * the body when the server closes, and the reset can reach it before the 413 does. */
    memcpy(junk, "\xFF\xD8\xFF\xE0", 4);
    post_media_flags(th_bearer(&srv, "citizen"), junk, big, "image/jpeg", "Expect: 100-continue",
                     TH_HTTP1, &r);
    free(junk);
    assert_int_equal(r.status, 413);
    th_resp_free(&r);
    /* Over the voice limit (5 MiB): refused by kind, before any parsing. */
    post_file("citizen", "long.amr", "audio/amr", &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(th_error_code(&r), "payload_too_large");
    th_resp_free(&r);
}

/* ---- metadata, rotation, multipart ------------------------------------------------------- */

static void gps_goes_to_the_row_not_to_the_files(void **state)
{
    const char *variants[] = {"original", "display", "thumb"};
    struct th_resp r, info;
    char id[64], path[200];

    post_file("citizen", "gps.jpg", "image/jpeg", &r);
    assert_int_equal(r.status, 201);
    snprintf(id, sizeof id, "%s", media_id(&r));
    /* The uploader (a citizen) does not get evidence fields back. */
    assert_null(json_object_get(r.json, "lat"));
    th_resp_free(&r);
    {
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT ROUND(gps_lat * 1000) FROM media WHERE public_id = '%s'",
                 id);
        assert_int_equal(th_sql_int(&srv, sql), 39904);
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM media WHERE public_id = '%s' AND taken_at = "
                 "'2024-06-01 12:34:56'",
                 id);
        assert_int_equal(th_sql_int(&srv, sql), 1);
    }
    for (size_t i = 0; i < 3; i++) {
        struct th_resp g;
        const char *f;
        char *out;
        get_variant(th_bearer(&srv, "citizen"), id, variants[i], NULL, &g);
        assert_int_equal(g.status, 200);
        f = save(&g, "served.jpg");
        out = sh_out("vipsheader -a %s 2>&1 | grep -ci -e gps -e exif -e xmp -e icc", f);
        assert_string_equal(out, "0");
        free(out);
        out = sh_out("exiftool -s -s -s -GPSLatitude -GPSPosition -DateTimeOriginal %s", f);
        assert_string_equal(out, "");
        free(out);
        th_resp_free(&g);
    }
    /* Staff see the evidence; the owner's own view does not carry it. */
    snprintf(path, sizeof path, "/api/v1/media/%s/info", id);
    th_get(&srv, path, th_token(&srv, "citizen"), &info);
    assert_int_equal(info.status, 200);
    assert_null(json_object_get(info.json, "lat"));
    th_resp_free(&info);
    post_file("inspector", "gps.jpg", "image/jpeg", &r);
    assert_int_equal(r.status, 201);
    assert_true(json_real_value(json_object_get(r.json, "lat")) > 39.9 &&
                json_real_value(json_object_get(r.json, "lat")) < 39.91);
    assert_true(json_real_value(json_object_get(r.json, "lng")) > 116.40);
    assert_string_equal(json_string_value(json_object_get(r.json, "taken_at")),
                        "2024-06-01 12:34:56");
    th_resp_free(&r);
}

static void rotated_photo_comes_out_upright(void **state)
{
    struct th_resp r, g;
    char *w, *h;
    const char *f;

    post_file("inspector", "rot.jpg", "image/jpeg", &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(json_integer_value(json_object_get(r.json, "width")), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "height")), 400);
    get_variant(th_bearer(&srv, "inspector"), media_id(&r), "original", NULL, &g);
    assert_int_equal(g.status, 200);
    f = save(&g, "rot_out.jpg");
    w = sh_out("vipsheader -f width %s", f);
    h = sh_out("vipsheader -f height %s", f);
    assert_string_equal(w, "200");
    assert_string_equal(h, "400");
    free(w);
    free(h);
    /* No orientation tag left that would turn it a second time. */
    w = sh_out("exiftool -s -s -s -Orientation %s", f);
    assert_string_equal(w, "");
    free(w);
    th_resp_free(&g);
    th_resp_free(&r);
}

static void multipart_upload(void **state)
{
    size_t len, n;
    char *img = slurp("wide.jpg", &len);
    const char *pre = "--XyZb\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                      "--XyZb\r\nContent-Disposition: form-data; name=\"file\"; "
                      "filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n";
    const char *post = "\r\n--XyZb--\r\n";
    char *body = malloc(strlen(pre) + len + strlen(post));
    struct th_resp r;

    memcpy(body, pre, strlen(pre));
    memcpy(body + strlen(pre), img, len);
    memcpy(body + strlen(pre) + len, post, strlen(post));
    n = strlen(pre) + len + strlen(post);
    post_media(th_bearer(&srv, "citizen"), body, n, "multipart/form-data; boundary=XyZb", NULL, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "mime")), "image/jpeg");
    assert_int_equal(json_integer_value(json_object_get(r.json, "bytes")), (long long)len);
    th_resp_free(&r);
    free(body);
    free(img);
}

/* ---- retries ----------------------------------------------------------------------------- */

static void same_upload_retried_is_one_row(void **state)
{
    struct th_resp a, b, c, d;
    size_t len;
    char *img = slurp("mid.jpg", &len);

    post_media(th_bearer(&srv, "inspector"), img, len, "image/jpeg", NULL, &a);
    assert_int_equal(a.status, 201);
    post_media(th_bearer(&srv, "inspector"), img, len, "image/jpeg", NULL, &b);
    assert_int_equal(b.status, 200);
    assert_string_equal(media_id(&a), media_id(&b));
    assert_int_equal(rows_for(media_id(&a)), 1);
    /* With an Idempotency-Key: the same id again; the key with other bytes is a conflict. */
    post_media(th_bearer(&srv, "inspector"), img, len, "image/jpeg", "Idempotency-Key: up-1", &c);
    assert_string_equal(media_id(&a), media_id(&c));
    post_media(th_bearer(&srv, "inspector"), img, len - 100, "image/jpeg", "Idempotency-Key: up-1",
               &d);
    assert_int_equal(d.status, 409);
    th_resp_free(&d);
    post_media(th_bearer(&srv, "inspector"), img, len, "image/jpeg", "Idempotency-Key: up-1", &d);
    assert_string_equal(media_id(&a), media_id(&d));
    {
        char sql[300];
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM media m JOIN users u ON u.id = m.owner_id WHERE "
                 "m.upload_sha = (SELECT upload_sha FROM media WHERE public_id = '%s')",
                 media_id(&a));
        assert_int_equal(th_sql_int(&srv, sql), 1);
    }
    th_resp_free(&a);
    th_resp_free(&b);
    th_resp_free(&c);
    th_resp_free(&d);
    free(img);
}

/* ---- serving ----------------------------------------------------------------------------- */

static void etag_304_and_cache_headers(void **state)
{
    struct th_resp r, g, g2;
    char etag[100], cc[100], inm[200];
    char *ct;

    post_file("citizen", "small.jpg", "image/jpeg", &r);
    assert_true(r.status == 201 || r.status == 200);
    get_variant(th_bearer(&srv, "citizen"), media_id(&r), "thumb", NULL, &g);
    assert_int_equal(g.status, 200);
    assert_true(th_header(&g, "etag", etag, sizeof etag));
    assert_true(th_header(&g, "cache-control", cc, sizeof cc));
    assert_non_null(strstr(cc, "private"));
    assert_non_null(strstr(cc, "immutable"));
    ct = NULL;
    {
        char t[100];
        assert_true(th_header(&g, "content-type", t, sizeof t));
        assert_string_equal(t, "image/jpeg");
    }
    {
        const char *f = save(&g, "thumb.jpg");
        ct = sh_out("vipsheader -f width %s", f);
        assert_string_equal(ct, "320");
        free(ct);
    }
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    get_variant(th_bearer(&srv, "citizen"), media_id(&r), "thumb", inm, &g2);
    assert_int_equal(g2.status, 304);
    assert_int_equal(g2.body_len, 0);
    th_resp_free(&g2);
    get_variant(th_bearer(&srv, "citizen"), media_id(&r), "bogus", NULL, &g2);
    assert_int_equal(g2.status, 400);
    th_resp_free(&g2);
    th_resp_free(&g);
    th_resp_free(&r);
}

static void voice_clip_with_ranges(void **state)
{
    struct th_resp r, g;
    char cr[100];
    size_t len;
    char *amr = slurp("voice.amr", &len);
    char id[64];

    post_media(th_bearer(&srv, "citizen"), amr, len, "application/octet-stream", NULL, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "kind")), "voice");
    assert_int_equal(json_integer_value(json_object_get(r.json, "duration_ms")), 5000);
    snprintf(id, sizeof id, "%s", media_id(&r));
    th_resp_free(&r);

    get_variant(th_bearer(&srv, "citizen"), id, NULL, "Range: bytes=0-99", &g);
    assert_int_equal(g.status, 206);
    assert_int_equal(g.body_len, 100);
    assert_true(th_header(&g, "content-range", cr, sizeof cr));
    assert_string_equal(cr, "bytes 0-99/8006");
    assert_memory_equal(g.body, amr, 100);
    th_resp_free(&g);

    get_variant(th_bearer(&srv, "citizen"), id, NULL, "Range: bytes=-6", &g);
    assert_int_equal(g.status, 206);
    assert_memory_equal(g.body, amr + len - 6, 6);
    th_resp_free(&g);

    get_variant(th_bearer(&srv, "citizen"), id, NULL, "Range: bytes=9000-", &g);
    assert_int_equal(g.status, 416);
    th_resp_free(&g);
    get_variant(th_bearer(&srv, "citizen"), id, NULL, "Range: bytes=50-10", &g);
    assert_int_equal(g.status, 416);
    th_resp_free(&g);

    get_variant(th_bearer(&srv, "citizen"), id, NULL, NULL, &g);
    assert_int_equal(g.status, 200);
    assert_int_equal(g.body_len, len);
    assert_memory_equal(g.body, amr, len);
    th_resp_free(&g);
    get_variant(th_bearer(&srv, "citizen"), id, "thumb", NULL, &g);
    assert_int_equal(g.status, 400);
    th_resp_free(&g);
    free(amr);
}

/* ---- access ------------------------------------------------------------------------------- */

static const char *second_citizen_token(void)
{
    static char tok[4096];
    struct th_resp r;

    if (tok[0])
        return tok;
    th_sh("printf 'Second-citizen-pw-2024\\n' > %s/pw", fx);
    {
        char args[700];
        snprintf(args, sizeof args, "user add --username citizen_two --role citizen < %s/pw", fx);
        if (th_cityd(&srv, args) != 0)
            th_die("user add failed");
    }
    th_login(&srv, "citizen_two", "Second-citizen-pw-2024", NULL, &r);
    if (r.status != 200)
        th_die("login citizen_two: %ld %s", r.status, r.body);
    snprintf(tok, sizeof tok, "%s", json_string_value(json_object_get(r.json, "access_token")));
    th_resp_free(&r);
    return tok;
}

static void other_citizen_gets_404(void **state)
{
    struct th_resp r, g;
    char auth2[4200], id[64];

    snprintf(auth2, sizeof auth2, "Authorization: Bearer %s", second_citizen_token());
    post_file("citizen", "wide.jpg", "image/jpeg", &r);
    assert_true(r.status == 201 || r.status == 200);
    snprintf(id, sizeof id, "%s", media_id(&r));
    th_resp_free(&r);

    get_variant(auth2, id, "thumb", NULL, &g);
    assert_int_equal(g.status, 404);
    assert_string_equal(th_error_code(&g), "not_found");
    th_resp_free(&g);
    /* Staff who cannot read an owner it is attached to do not see it either. */
    get_variant(th_bearer(&srv, "inspector"), id, "thumb", NULL, &g);
    assert_int_equal(g.status, 404);
    th_resp_free(&g);
    /* Unguessable ids: a made-up one and a numeric one are both just "not found". */
    get_variant(auth2, "AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL, &g);
    assert_int_equal(g.status, 404);
    th_resp_free(&g);
    get_variant(auth2, "1", NULL, NULL, &g);
    assert_int_equal(g.status, 404);
    th_resp_free(&g);
    assert_int_equal(strlen(id), 22);
    get_variant(th_bearer(&srv, "citizen"), id, "thumb", NULL, &g);
    assert_int_equal(g.status, 200);
    th_resp_free(&g);
}

/* ---- tus ---------------------------------------------------------------------------------- */

static void tus_options_without_token(void **state)
{
    struct th_resp r;
    char v[200];

    th_request(&srv, "OPTIONS", "/api/v1/uploads", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 204);
    assert_true(th_header(&r, "tus-version", v, sizeof v));
    assert_string_equal(v, "1.0.0");
    assert_true(th_header(&r, "tus-extension", v, sizeof v));
    assert_non_null(strstr(v, "creation"));
    assert_non_null(strstr(v, "creation-with-upload"));
    assert_non_null(strstr(v, "termination"));
    assert_non_null(strstr(v, "checksum"));
    assert_true(th_header(&r, "tus-max-size", v, sizeof v));
    assert_string_equal(v, "20971520");
    assert_true(th_header(&r, "tus-checksum-algorithm", v, sizeof v));
    assert_non_null(strstr(v, "sha1"));
    th_resp_free(&r);
}

static void tus_create(const char *auth, size_t length, const char *extra, char *loc, size_t cap)
{
    char ul[64];
    const char *hs[] = {auth,  "Tus-Resumable: 1.0.0",
                        ul,    "Upload-Metadata: filename cGhvdG8uanBn,filetype aW1hZ2UvanBlZw==",
                        extra, NULL};
    struct th_resp r;

    snprintf(ul, sizeof ul, "Upload-Length: %zu", length);
    th_request(&srv, "POST", "/api/v1/uploads", hs, NULL, 0, 0, &r);
    if (r.status != 201)
        th_die("tus create: %ld %s", r.status, r.body);
    if (!th_header(&r, "location", loc, cap))
        th_die("tus create: no Location");
    th_resp_free(&r);
}

static void tus_patch(const char *auth, const char *loc, size_t off, const char *data, size_t n,
                      const char *extra, struct th_resp *r)
{
    char uo[64];
    const char *hs[] = {
        auth, "Tus-Resumable: 1.0.0", "Content-Type: application/offset+octet-stream", uo, extra,
        NULL};
    snprintf(uo, sizeof uo, "Upload-Offset: %zu", off);
    th_request(&srv, "PATCH", loc, hs, data, n, 0, r);
}

static long long tus_offset(const char *auth, const char *loc)
{
    const char *hs[] = {auth, "Tus-Resumable: 1.0.0", NULL};
    struct th_resp r;
    char v[64];
    long long off = -1;

    /* HTTP/1.1: over h2, cityd 2.2.5-era error answers to HEAD carry a body, which curl
     * rejects (reported to server/http). */
    th_request(&srv, "HEAD", loc, hs, NULL, 0, TH_HTTP1, &r);
    if (r.status == 200 && th_header(&r, "upload-offset", v, sizeof v))
        off = strtoll(v, NULL, 10);
    else if (r.status == 404)
        off = -1;
    else
        off = -2;
    th_resp_free(&r);
    return off;
}

static void tus_cut_in_the_middle_and_resumed(void **state)
{
    const char *auth = th_bearer(&srv, "inspector");
    char loc[200], mid_id[64], v[100], url[300], hdr[9100];
    size_t len, first = 1u << 20;
    char *img = slurp("big.jpg", &len);
    struct th_resp r;

    assert_true(len > 4000000 && len < 5300000);
    tus_create(auth, len, NULL, loc, sizeof loc);
    assert_int_equal(strncmp(loc, "/api/v1/uploads/", 16), 0);
    assert_int_equal(tus_offset(auth, loc), 0);

    tus_patch(auth, loc, 0, img, first, NULL, &r);
    assert_int_equal(r.status, 204);
    assert_true(th_header(&r, "upload-offset", v, sizeof v));
    assert_int_equal(strtoll(v, NULL, 10), (long long)first);
    assert_true(th_header(&r, "tus-resumable", v, sizeof v));
    th_resp_free(&r);

    /* The next chunk is cut off mid-body by a dropped connection (curl gives up after 1 s at
     * 256 KB/s): nothing of it counts. */
    {
        char part[600];
        snprintf(part, sizeof part, "%s/part2", fx);
        spit(part, img + first, len - first);
        snprintf(url, sizeof url, "%s%s", srv.base, loc);
        snprintf(hdr, sizeof hdr, "%s", auth);
        th_sh("curl -s -o /dev/null --http1.1 --max-time 1 --limit-rate 256k -X PATCH -H '%s' "
              "-H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream' "
              "-H 'Upload-Offset: %zu' --data-binary @%s '%s'",
              hdr, first, part, url);
    }
    usleep(300000);
    assert_int_equal(tus_offset(auth, loc), (long long)first);

    /* A wrong offset is a conflict and changes nothing. */
    tus_patch(auth, loc, 0, img, 100, NULL, &r);
    assert_int_equal(r.status, 409);
    th_resp_free(&r);
    /* A bad checksum is refused and changes nothing. */
    tus_patch(auth, loc, first, img + first, 1000,
              "Upload-Checksum: sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=", &r);
    assert_int_equal(r.status, 460); /* tus checksum extension: 460 Checksum Mismatch */
    assert_string_equal(th_error_code(&r), "checksum_mismatch");
    th_resp_free(&r);
    assert_int_equal(tus_offset(auth, loc), (long long)first);
    /* A good one is accepted. */
    {
        char ckpath[600], ck[200];
        char *b64;
        snprintf(ckpath, sizeof ckpath, "%s/ck", fx);
        spit(ckpath, img + first, 1000);
        b64 = sh_out("openssl dgst -sha1 -binary %s | base64", ckpath);
        snprintf(ck, sizeof ck, "Upload-Checksum: sha1 %s", b64);
        free(b64);
        tus_patch(auth, loc, first, img + first, 1000, ck, &r);
        assert_int_equal(r.status, 204);
        th_resp_free(&r);
    }
    assert_int_equal(tus_offset(auth, loc), (long long)first + 1000);

    tus_patch(auth, loc, first + 1000, img + first + 1000, len - first - 1000, NULL, &r);
    if (r.status != 204)
        fprintf(stderr, "final patch: %ld %s\n", r.status, r.body);
    assert_int_equal(r.status, 204);
    assert_true(th_header(&r, "cityd-media-id", mid_id, sizeof mid_id));
    th_resp_free(&r);
    assert_int_equal(strlen(mid_id), 22);
    assert_int_equal(rows_for(mid_id), 1);
    /* HEAD after completion still answers, with the medium. */
    {
        const char *hs[] = {auth, "Tus-Resumable: 1.0.0", NULL};
        th_request(&srv, "HEAD", loc, hs, NULL, 0, 0, &r);
        assert_int_equal(r.status, 200);
        assert_true(th_header(&r, "cityd-media-id", v, sizeof v));
        assert_string_equal(v, mid_id);
        th_resp_free(&r);
    }
    {
        char path[200];
        snprintf(path, sizeof path, "/api/v1/media/%s/info", mid_id);
        th_get(&srv, path, th_token(&srv, "inspector"), &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "width")), 4000);
        assert_int_equal(json_integer_value(json_object_get(r.json, "bytes")), (long long)len);
        th_resp_free(&r);
    }
    /* The temp file is gone once the medium exists. */
    {
        char *n = sh_out("ls %s/media/uploads | wc -l", srv.dir);
        assert_string_equal(n, "0");
        free(n);
    }

    /* The same bytes through a second tus upload: the same medium, still one row. */
    {
        char loc2[200];
        tus_create(auth, len, NULL, loc2, sizeof loc2);
        tus_patch(auth, loc2, 0, img, len, NULL, &r);
        assert_int_equal(r.status, 204);
        assert_true(th_header(&r, "cityd-media-id", v, sizeof v));
        assert_string_equal(v, mid_id);
        th_resp_free(&r);
        assert_int_equal(rows_for(mid_id), 1);
    }
    free(img);
}

static void tus_rules(void **state)
{
    const char *auth = th_bearer(&srv, "citizen");
    char loc[200], loc2[200];
    struct th_resp r;
    size_t len;
    char *svg = slurp("x.svg", &len);

    /* Too large at creation. */
    {
        const char *hs[] = {auth, "Tus-Resumable: 1.0.0", "Upload-Length: 99999999999", NULL};
        th_request(&srv, "POST", "/api/v1/uploads", hs, NULL, 0, 0, &r);
        assert_int_equal(r.status, 413);
        th_resp_free(&r);
    }
    /* No protocol version: 412. */
    {
        const char *hs[] = {auth, "Upload-Length: 10", NULL};
        th_request(&srv, "POST", "/api/v1/uploads", hs, NULL, 0, 0, &r);
        assert_int_equal(r.status, 412);
        th_resp_free(&r);
    }
    /* The same Idempotency-Key creates one upload. */
    tus_create(auth, 1234, "Idempotency-Key: tus-k1", loc, sizeof loc);
    tus_create(auth, 1234, "Idempotency-Key: tus-k1", loc2, sizeof loc2);
    assert_string_equal(loc, loc2);
    /* Someone else's upload does not exist for you. */
    {
        const char *hs[] = {th_bearer(&srv, "inspector"), "Tus-Resumable: 1.0.0", NULL};
        th_request(&srv, "HEAD", loc, hs, NULL, 0, TH_HTTP1, &r);
        assert_int_equal(r.status, 404);
        th_resp_free(&r);
    }
    /* A chunk must be application/offset+octet-stream. */
    {
        const char *hs[] = {auth, "Tus-Resumable: 1.0.0", "Content-Type: image/jpeg",
                            "Upload-Offset: 0", NULL};
        th_request(&srv, "PATCH", loc, hs, "x", 1, 0, &r);
        assert_int_equal(r.status, 415);
        th_resp_free(&r);
    }
    /* Termination. */
    {
        const char *hs[] = {auth, "Tus-Resumable: 1.0.0", NULL};
        th_request(&srv, "DELETE", loc, hs, NULL, 0, 0, &r);
        assert_int_equal(r.status, 204);
        th_resp_free(&r);
        th_request(&srv, "HEAD", loc, hs, NULL, 0, TH_HTTP1, &r);
        assert_int_equal(r.status, 404);
        th_resp_free(&r);
    }
    /* An SVG is refused by its bytes and the upload ends. */
    tus_create(auth, len, NULL, loc, sizeof loc);
    tus_patch(auth, loc, 0, svg, len, NULL, &r);
    assert_int_equal(r.status, 415);
    th_resp_free(&r);
    assert_int_equal(tus_offset(auth, loc), -1);
    /* Expiry: the job forgets uploads a day old. */
    tus_create(auth, 5000, NULL, loc, sizeof loc);
    {
        char sql[300];
        snprintf(sql, sizeof sql,
                 "UPDATE uploads SET expires_at = NOW() - INTERVAL 1 MINUTE WHERE public_id = "
                 "'%s'",
                 loc + 16);
        th_sql_exec(&srv, sql);
        tus_patch(auth, loc, 0, "abc", 3, NULL, &r);
        assert_int_equal(r.status, 410);
        th_resp_free(&r);
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM uploads WHERE public_id = '%s'", loc + 16);
        for (int i = 0; i < 150 && th_sql_int(&srv, sql) > 0; i++)
            usleep(100000);
        assert_int_equal(th_sql_int(&srv, sql), 0);
    }
    free(svg);
}

/* POST with the first chunk (creation-with-upload): one round trip less on a weak network. */
static void tus_post(const char *auth, size_t length, const char *ctype, const char *extra,
                     const char *data, size_t n, struct th_resp *r)
{
    char ul[64];
    const char *hs[] = {auth, "Tus-Resumable: 1.0.0", ul, ctype, extra, NULL};

    snprintf(ul, sizeof ul, "Upload-Length: %zu", length);
    th_request(&srv, "POST", "/api/v1/uploads", hs, data, n, 0, r);
}

static void tus_creation_with_upload(void **state)
{
    const char *auth = th_bearer(&srv, "inspector");
    const char *octets = "Content-Type: application/offset+octet-stream";
    long long uploads = th_sql_int(&srv, "SELECT COUNT(*) FROM uploads");
    char loc[200], loc2[200], v[100];
    size_t len, half;
    char *img = slurp("mid.jpg", &len);
    struct th_resp r;

    /* The whole file in the creation request: done in one round trip. */
    tus_post(auth, len, octets, NULL, img, len, &r);
    th_expect(&r, 201, NULL);
    assert_true(th_header(&r, "upload-offset", v, sizeof v));
    assert_int_equal(strtoll(v, NULL, 10), (long long)len);
    assert_true(th_header(&r, "cityd-media-id", v, sizeof v));
    th_resp_free(&r);

    /* Half of it, retried with the same key: the chunk is stored once, the client goes on. */
    half = len / 2;
    tus_post(auth, len, octets, "Idempotency-Key: tus-cwu-1", img, half, &r);
    th_expect(&r, 201, NULL);
    assert_true(th_header(&r, "location", loc, sizeof loc));
    assert_true(th_header(&r, "upload-offset", v, sizeof v));
    assert_int_equal(strtoll(v, NULL, 10), (long long)half);
    assert_false(th_header(&r, "cityd-media-id", v, sizeof v));
    th_resp_free(&r);
    tus_post(auth, len, octets, "Idempotency-Key: tus-cwu-1", img, half, &r);
    th_expect(&r, 201, NULL);
    assert_true(th_header(&r, "location", loc2, sizeof loc2));
    assert_string_equal(loc, loc2);
    assert_true(th_header(&r, "upload-offset", v, sizeof v));
    assert_int_equal(strtoll(v, NULL, 10), (long long)half);
    th_resp_free(&r);
    tus_patch(auth, loc, half, img + half, len - half, NULL, &r);
    th_expect(&r, 204, NULL);
    assert_true(th_header(&r, "cityd-media-id", v, sizeof v));
    th_resp_free(&r);

    /* Refused first chunks leave no upload behind. */
    uploads = th_sql_int(&srv, "SELECT COUNT(*) FROM uploads");
    tus_post(auth, len, "Content-Type: image/jpeg", NULL, img, half, &r);
    th_expect(&r, 415, "unsupported_media_type");
    th_resp_free(&r);
    tus_post(auth, 10, octets, NULL, img, half, &r); /* longer than Upload-Length */
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    tus_post(auth, len, octets, "Upload-Checksum: sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=", img, half,
             &r);
    assert_int_equal(r.status, 460);
    assert_false(th_header(&r, "location", v, sizeof v));
    assert_true(th_header(&r, "tus-resumable", v, sizeof v));
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM uploads"), uploads);
    free(img);
}

/* ---- load and crashes --------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void healthz_fast_during_8_big_uploads(void **state)
{
    char url[300];
    double worst = 0, t_end;
    int samples = 0;
    const char *roles[] = {"citizen",    "inspector", "handler",    "operator",
                           "dispatcher", "leader",    "shift_lead", "admin"};

    snprintf(url, sizeof url, "%s/api/v1/media", srv.base);
    th_sh("rm -f %s/code.*", fx);
    /* Eight uploaders (one per role: one person's identical retries would share one row). */
    for (int i = 0; i < 8; i++)
        th_sh("(curl -s -o /dev/null -w '%%{http_code}' --http2-prior-knowledge -H '%s' "
              "-H 'Content-Type: image/jpeg' --data-binary @%s/big.jpg '%s' > %s/code.%d) &",
              th_bearer(&srv, roles[i]), fx, url, fx, i);
    usleep(200000);
    t_end = now_s() + 60;
    for (;;) {
        struct th_resp r;
        char *done = sh_out("cat %s/code.* 2>/dev/null | wc -c", fx);
        int ndone = (int)strtol(done, NULL, 10) / 3;
        free(done);
        if (ndone >= 8 || now_s() > t_end)
            break;
        th_request(&srv, "GET", "/healthz", NULL, NULL, 0, TH_HTTP1, &r);
        assert_int_equal(r.status, 200);
        if (r.seconds > worst)
            worst = r.seconds;
        samples++;
        th_resp_free(&r);
        usleep(50000);
    }
    fprintf(stderr, "healthz: %d samples during 8 uploads, worst %.1f ms\n", samples, worst * 1000);
    for (int i = 0; i < 8; i++) {
        char *code = sh_out("cat %s/code.%d", fx, i);
        fprintf(stderr, "upload %d: %s\n", i, code);
        assert_true(strcmp(code, "201") == 0 || strcmp(code, "200") == 0);
        free(code);
    }
    assert_true(samples >= 3);
    assert_true(worst < 0.050);
}

static void kill_9_during_processing_then_restart(void **state)
{
    char url[300], orphan[700], sql[300];
    const char *roles[] = {"citizen", "inspector", "handler", "operator", "dispatcher", "leader"};
    char *sha, *out;
    long long before, after;
    int acked = 0;
    struct th_resp r;

    /* A photo nobody uploaded yet, sent by six people at once (one row each), so the media
     * workers are busy decoding when the process is killed. */
    gen_jpeg("crash.jpg", 4000, 3000, 12);
    before = th_sql_int(&srv, "SELECT COUNT(*) FROM media");
    snprintf(url, sizeof url, "%s/api/v1/media", srv.base);
    th_sh("rm -f %s/crash.*.code", fx);
    for (int i = 0; i < 6; i++)
        th_sh(
            "(curl -s -o /dev/null -w '%%{http_code}' --http2-prior-knowledge -H '%s' "
            "-H 'Content-Type: image/jpeg' --data-binary @%s/crash.jpg '%s' > %s/crash.%d.code) &",
            th_bearer(&srv, roles[i]), fx, url, fx, i);
    usleep(300000);
    kill(srv.pid, SIGKILL);
    sleep(1);
    for (int i = 0; i < 6; i++) {
        out = sh_out("cat %s/crash.%d.code", fx, i);
        if (strcmp(out, "201") == 0)
            acked++;
        free(out);
    }
    fprintf(stderr, "kill -9 with 6 uploads in flight: %d had been answered\n", acked);
    assert_true(acked < 6); /* otherwise the kill came too late to test anything */
    /* Rows only for complete uploads: at least every answered one (a row may also have been
     * committed just before its answer was sent), never more than were sent. */
    after = th_sql_int(&srv, "SELECT COUNT(*) FROM media");
    assert_true(after - before >= acked && after - before <= 6);

    /* What a crash between the files and the row leaves: a stored object nobody refers to,
     * and a temp file of a write in progress. Made old enough for the sweep's grace. */
    gen_jpeg("orphan.jpg", 64, 64, 30);
    sha = sh_out("sha256sum %s/orphan.jpg | cut -c1-64", fx);
    snprintf(orphan, sizeof orphan, "%s/media/%.2s/%.2s/%s", srv.dir, sha, sha + 2, sha);
    th_sh("mkdir -p $(dirname %s) && cp %s/orphan.jpg %s && echo x > %s/media/tmp/abc.part", orphan,
          fx, orphan, srv.dir);
    th_sh("find %s/media -type f -exec touch -d '2 hours ago' {} +", srv.dir);

    th_server_restart(&srv);
    /* The first maintenance run after start-up sweeps (job period 10 s). */
    for (int i = 0; i < 300 && access(orphan, F_OK) == 0; i++)
        usleep(100000);
    assert_int_not_equal(access(orphan, F_OK), 0);
    out = sh_out("ls %s/media/tmp | wc -l", srv.dir);
    assert_string_equal(out, "0");
    free(out);
    /* Every stored object left belongs to a row; every row still has its files. */
    out = sh_out("cd %s/media && find . -mindepth 3 -type f | sed 's|.*/||'", srv.dir);
    for (char *line = out, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM media WHERE sha_original = '%s' OR sha_display = '%s' "
                 "OR sha_thumb = '%s'",
                 line, line, line);
        if (th_sql_int(&srv, sql) == 0)
            fprintf(stderr, "unreferenced object %s\n", line);
        assert_true(th_sql_int(&srv, sql) > 0);
    }
    free(out);
    free(sha);

    /* The retry succeeds: one row. */
    post_file("inspector", "crash.jpg", "image/jpeg", &r);
    assert_true(r.status == 201 || r.status == 200);
    assert_int_equal(rows_for(media_id(&r)), 1);
    {
        struct th_resp g;
        get_variant(th_bearer(&srv, "inspector"), media_id(&r), "display", NULL, &g);
        assert_int_equal(g.status, 200);
        th_resp_free(&g);
    }
    th_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pixel_bomb_is_413_from_the_header),
        cmocka_unit_test(truncated_and_empty_are_rejected),
        cmocka_unit_test(svg_pdf_tiff_labelled_jpeg_are_415),
        cmocka_unit_test(polyglot_keeps_the_image_drops_the_zip),
        cmocka_unit_test(over_limit_is_413),
        cmocka_unit_test(gps_goes_to_the_row_not_to_the_files),
        cmocka_unit_test(rotated_photo_comes_out_upright),
        cmocka_unit_test(multipart_upload),
        cmocka_unit_test(same_upload_retried_is_one_row),
        cmocka_unit_test(etag_304_and_cache_headers),
        cmocka_unit_test(voice_clip_with_ranges),
        cmocka_unit_test(other_citizen_gets_404),
        cmocka_unit_test(tus_options_without_token),
        cmocka_unit_test(tus_cut_in_the_middle_and_resumed),
        cmocka_unit_test(tus_rules),
        cmocka_unit_test(tus_creation_with_upload),
        cmocka_unit_test(healthz_fast_during_8_big_uploads),
        cmocka_unit_test(kill_9_during_processing_then_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
