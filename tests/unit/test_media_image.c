/* tests/unit/test_media_image.c: media/image.c — the libvips policy, header probe and renditions.
 *
 * Inputs are made here with libvips (noise, blocks, EXIF fields set as "exif-ifd*" strings,
 * which libvips 8.14 turns into an EXIF block on jpegsave) or by hand (the pixel-bomb header).
 * Outputs are reloaded with libvips to check size, orientation and the absence of metadata.
 * After every test no libvips object may be alive: media/ must not leak a VipsImage.
 *
 * Timing (printed, not asserted) of one 12 MP noisy JPEG (4000x3000 colour noise sigma 20, Q90,
 * 12.3 MB, Orientation=6 + GPS), on this 2-vCPU Debian 12 VM, one decode slot, vips
 * concurrency 1, quiet machine:
 *   probe (header + EXIF):   RelWithDebInfo 0.3 ms; dev (ASan+UBSan) 0.4-0.6 ms
 *   process (one decode, original Q90 3000x4000 + display 960x1280 + thumb 240x320, JPEG):
 *                            RelWithDebInfo 370-490 ms; dev 460-900 ms
 *   with a Chinese watermark on the display rendition: no measurable difference
 *   peak RSS: +70-85 MB over the 38-49 MB after media_init (36 MB of it decoded pixels)
 * For comparison a smooth 12 MP photo (0.76 MB) takes 275-290 ms. The parts, for the noisy one:
 * decode 150 ms, original encode 117 ms (413 ms with optimize_coding, hence off for it),
 * resize to 1280 110 ms, display + thumb encode 25 ms. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <vips/vips.h>
#include "media/image.h"
#include "server/core/rctx.h"

static int live_at_start;

static void *count_one(void *item, void *a, void *b)
{
    (void)item;
    (void)b;
    (*(int *)a)++;
    return NULL;
}

static int live_objects(void)
{
    int n = 0;
    vips_object_map(count_one, &n, NULL);
    return n;
}

static int group_setup(void **state)
{
    (void)state;
    if (media_init(2))
        return -1;
    live_at_start = live_objects();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    media_shutdown();
    return 0;
}

/* Runs after each test: every VipsImage made by media/ (and by the test) is gone. */
static int no_leaks(void **state)
{
    (void)state;
    if (live_objects() != live_at_start) {
        fprintf(stderr, "libvips objects alive: %d, expected %d\n", live_objects(), live_at_start);
        vips_object_print_all();
        return -1;
    }
    return 0;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- making inputs ---- */

struct img {
    unsigned char *p; /* g_malloc'd by libvips' savers */
    size_t n;
};

static void img_free(struct img *m)
{
    g_free(m->p);
    m->p = NULL;
    m->n = 0;
}

/* Colour noise around mid-grey: the worst case for JPEG, like a dark night shot. */
static VipsImage *noise(int w, int h, double sigma)
{
    VipsImage *n[3], *j = NULL, *c = NULL, *out = NULL;

    for (int i = 0; i < 3; i++)
        assert_int_equal(vips_gaussnoise(&n[i], w, h, "mean", 128.0, "sigma", sigma, NULL), 0);
    assert_int_equal(vips_bandjoin(n, &j, 3, NULL), 0);
    assert_int_equal(vips_cast_uchar(j, &c, NULL), 0);
    assert_int_equal(vips_copy(c, &out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
    for (int i = 0; i < 3; i++)
        g_object_unref(n[i]);
    g_object_unref(j);
    g_object_unref(c);
    return out;
}

/* Flat grey with a white square in the top-left corner, in memory (drawable). */
static VipsImage *grey_with_corner(int w, int h, int grey)
{
    VipsImage *b = NULL, *g = NULL, *c = NULL, *mem;
    double white[3] = {255, 255, 255};

    assert_int_equal(vips_black(&b, w, h, "bands", 3, NULL), 0);
    assert_int_equal(vips_linear1(b, &g, 1, grey, "uchar", TRUE, NULL), 0);
    assert_int_equal(vips_copy(g, &c, "interpretation", VIPS_INTERPRETATION_sRGB, NULL), 0);
    mem = vips_image_copy_memory(c);
    assert_non_null(mem);
    assert_int_equal(vips_draw_rect(mem, white, 3, 0, 0, w / 10, h / 10, "fill", TRUE, NULL), 0);
    g_object_unref(b);
    g_object_unref(g);
    g_object_unref(c);
    return mem;
}

/* Save as JPEG with EXIF fields; any field may be NULL. Takes the reference to im. */
static struct img jpeg_with_exif(VipsImage *im, int q, int orientation, const char *lat,
                                 const char *lat_ref, const char *lng, const char *lng_ref,
                                 const char *taken)
{
    VipsImage *c = NULL;
    struct img m = {0};
    void *p = NULL;

    assert_int_equal(vips_copy(im, &c, NULL), 0); /* metadata is set on a private copy */
    g_object_unref(im);
    if (orientation)
        vips_image_set_int(c, "orientation", orientation);
    if (lat) {
        vips_image_set_string(c, "exif-ifd3-GPSLatitude", lat);
        vips_image_set_string(c, "exif-ifd3-GPSLatitudeRef", lat_ref);
        vips_image_set_string(c, "exif-ifd3-GPSLongitude", lng);
        vips_image_set_string(c, "exif-ifd3-GPSLongitudeRef", lng_ref);
    }
    if (taken)
        vips_image_set_string(c, "exif-ifd2-DateTimeOriginal", taken);
    assert_int_equal(vips_jpegsave_buffer(c, &p, &m.n, "Q", q, NULL), 0);
    m.p = p;
    g_object_unref(c);
    return m;
}

static struct img plain_jpeg(VipsImage *im, int q)
{
    return jpeg_with_exif(im, q, 0, NULL, NULL, NULL, NULL, NULL);
}

/* A JPEG that declares 64250 x 64250 pixels (4.1 gigapixels) in 4 KB: the SOF header is
 * honest-looking, the entropy-coded data is a few zero bytes (the pixel bomb of
 * security.md section 2.3). */
static size_t bomb_jpeg(unsigned char *p, size_t cap)
{
    static const unsigned char sof[] = {0xFF, 0xC0, 0x00, 0x11, 0x08, 0xFA, 0xFA, 0xFA, 0xFA, 0x03,
                                        0x01, 0x22, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00};
    static const unsigned char sos[] = {0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00,
                                        0x02, 0x11, 0x03, 0x11, 0x00, 0x3F, 0x00};
    size_t n = 0;

    assert_true(cap >= 4096);
    p[n++] = 0xFF;
    p[n++] = 0xD8;
    p[n++] = 0xFF; /* DQT: one table of 64 ones */
    p[n++] = 0xDB;
    p[n++] = 0x00;
    p[n++] = 0x43;
    p[n++] = 0x00;
    memset(p + n, 1, 64);
    n += 64;
    memcpy(p + n, sof, sizeof sof);
    n += sizeof sof;
    memcpy(p + n, sos, sizeof sos);
    n += sizeof sos;
    memset(p + n, 0, 4096 - 2 - n);
    n = 4096 - 2;
    p[n++] = 0xFF;
    p[n++] = 0xD9;
    return n;
}

/* ---- checking outputs ---- */

static VipsImage *reload(const struct media_image_blob *b)
{
    VipsImage *im = vips_image_new_from_buffer(b->data, b->len, "", NULL);
    assert_non_null(im);
    assert_int_equal(vips_image_get_width(im), b->width);
    assert_int_equal(vips_image_get_height(im), b->height);
    return im;
}

static bool find_bytes(const unsigned char *p, size_t len, const void *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(p + i, needle, n) == 0)
            return true;
    return false;
}

static bool has_bytes(const struct media_image_blob *b, const void *needle, size_t n)
{
    return find_bytes(b->data, b->len, needle, n);
}

/* No EXIF (so no GPS), XMP, IPTC or ICC in the bytes nor in what libvips reads back. */
static void assert_no_metadata(const struct media_image_blob *b)
{
    VipsImage *im = reload(b);

    assert_int_equal(vips_image_get_typeof(im, VIPS_META_EXIF_NAME), 0);
    assert_int_equal(vips_image_get_typeof(im, VIPS_META_XMP_NAME), 0);
    assert_int_equal(vips_image_get_typeof(im, VIPS_META_IPTC_NAME), 0);
    assert_int_equal(vips_image_get_typeof(im, VIPS_META_ICC_NAME), 0);
    assert_int_equal(vips_image_get_typeof(im, "exif-ifd3-GPSLatitude"), 0);
    assert_false(has_bytes(b, "Exif\0\0", 6));
    assert_false(has_bytes(b, "http://ns.adobe.com/xap", 23));
    g_object_unref(im);
}

static double pixel(VipsImage *im, int x, int y)
{
    double *v = NULL;
    int n = 0;
    double sum = 0;

    assert_int_equal(vips_getpoint(im, &v, &n, x, y, NULL), 0);
    for (int i = 0; i < n; i++)
        sum += v[i];
    g_free(v);
    return sum / n;
}

/* ---- tests ---- */

static void test_init_blocks_other_loaders(void **state)
{
    static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"9\" "
                              "height=\"9\"/>";
    VipsImage *im = NULL;
    void *tiff = NULL;
    size_t tiff_len = 0;
    VipsImage *src = noise(16, 16, 10);
    (void)state;

    /* Even called directly, the loaders outside the allowlist refuse to run. */
    assert_int_equal(vips_tiffsave_buffer(src, &tiff, &tiff_len, NULL), 0);
    assert_int_not_equal(vips_tiffload_buffer(tiff, tiff_len, &im, NULL), 0);
    assert_non_null(strstr(vips_error_buffer(), "blocked"));
    vips_error_clear();
    assert_int_not_equal(vips_svgload_buffer((void *)(uintptr_t)svg, sizeof svg - 1, &im, NULL), 0);
    vips_error_clear();
    assert_null(im);
    printf("# heif loader: %s; watermark text: %s\n", media_image_has_heif() ? "yes" : "no",
           media_image_can_watermark() ? "yes" : "no");
    g_free(tiff);
    g_object_unref(src);
}

static void test_pixel_bomb_rejected_from_header(void **state)
{
    unsigned char bomb[4096];
    size_t n = bomb_jpeg(bomb, sizeof bomb);
    struct media_image_info info;
    struct media_image_out out = {0};
    struct timespec t0;
    struct rctx cx;
    double ms;
    (void)state;

    rctx_init(&cx);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(media_image_probe(&cx, bomb, n, 0, &info), ERR_TOOBIG);
    ms = ms_since(&t0);
    assert_non_null(strstr(cx.err.message, "64250x64250"));
    printf("# 64250x64250 bomb (%zu bytes) refused by probe in %.1f ms: %s\n", n, ms,
           cx.err.message);
    assert_true(ms < 2000); /* header only: a decode would take minutes and 12 GB */
    rctx_dispose(&cx);

    rctx_init(&cx);
    assert_int_equal(media_image_process(&cx, bomb, n, NULL, &out), ERR_TOOBIG);
    assert_null(out.original.data);
    rctx_dispose(&cx);
}

static void test_limits_from_the_caller(void **state)
{
    struct img m = plain_jpeg(noise(1000, 800, 20), 80);
    struct media_image_info info;
    struct rctx cx;
    VipsImage *strip = NULL;
    void *png = NULL;
    size_t png_len = 0;
    (void)state;

    rctx_init(&cx);
    assert_int_equal(media_image_probe(&cx, m.p, m.n, 500000, &info), ERR_TOOBIG);
    assert_non_null(strstr(cx.err.message, "1000x800"));
    rctx_dispose(&cx);
    rctx_init(&cx);
    assert_int_equal(media_image_probe(&cx, m.p, m.n, 800000, &info), ERR_OK);
    assert_int_equal(info.width, 1000);
    assert_int_equal(info.height, 800);
    assert_int_equal(info.type, MEDIA_TYPE_JPEG);
    rctx_dispose(&cx);

    /* Few pixels, but one side beyond MEDIA_IMAGE_MAX_SIDE. */
    assert_int_equal(vips_black(&strip, MEDIA_IMAGE_MAX_SIDE + 1, 2, NULL), 0);
    assert_int_equal(vips_pngsave_buffer(strip, &png, &png_len, NULL), 0);
    rctx_init(&cx);
    assert_int_equal(media_image_probe(&cx, png, png_len, 0, &info), ERR_TOOBIG);
    assert_non_null(strstr(cx.err.message, "20001x2"));
    rctx_dispose(&cx);
    g_free(png);
    g_object_unref(strip);
    img_free(&m);
}

static void test_truncated_jpeg_fails(void **state)
{
    struct img m = plain_jpeg(noise(1600, 1200, 40), 90);
    struct media_image_info info;
    struct media_image_out out = {0};
    struct rctx cx;
    size_t cut = m.n * 6 / 10;
    (void)state;

    /* The header is intact, so the probe (header only) passes ... */
    rctx_init(&cx);
    assert_int_equal(media_image_probe(&cx, m.p, cut, 0, &info), ERR_OK);
    rctx_dispose(&cx);
    /* ... but the one decode must fail instead of filling the rest with grey. */
    rctx_init(&cx);
    assert_int_equal(media_image_process(&cx, m.p, cut, NULL, &out), ERR_INVALID);
    assert_non_null(strstr(cx.err.message, "truncated"));
    assert_null(out.display.data);
    rctx_dispose(&cx);
    img_free(&m);
}

static void test_foreign_types_rejected(void **state)
{
    static const char svg[] = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                              "width=\"100\" height=\"100\"><rect width=\"100\" "
                              "height=\"100\"/></svg>";
    static const char pdf[] = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                              "2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 "
                              "R>>\n%%EOF\n";
    VipsImage *src = noise(64, 64, 10);
    void *tiff = NULL;
    size_t tiff_len = 0;
    struct media_image_info info;
    struct media_image_out out = {0};
    struct rctx cx;
    const struct {
        const void *p;
        size_t n;
    } cases[] = {{"", 0}, {svg, sizeof svg - 1}, {pdf, sizeof pdf - 1}, {NULL, 0}};
    (void)state;

    assert_int_equal(vips_tiffsave_buffer(src, &tiff, &tiff_len, NULL), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const void *p = cases[i].p ? cases[i].p : tiff;
        size_t n = cases[i].p ? cases[i].n : tiff_len;
        rctx_init(&cx);
        assert_int_equal(media_image_probe(&cx, p, n, 0, &info), ERR_MEDIATYPE);
        assert_int_equal(media_image_process(&cx, p, n, NULL, &out), ERR_MEDIATYPE);
        rctx_dispose(&cx);
    }
    g_free(tiff);
    g_object_unref(src);
}

/* Decision: a JPEG with data after its EOI marker is accepted. Phones write such files (motion
 * photos append an MP4), and every rendition is re-encoded from the pixels, so the trailer
 * (here a ZIP archive) never reaches storage. */
static void test_polyglot_trailer_dropped(void **state)
{
    static const unsigned char zip[] = {
        'P', 'K', 3, 4, 10, 0, 0, 0, 0, 0, 0,   0,   0,   0,   0x8a, 0x29, 0x1f, 0x0d, 2,   0,
        0,   0,   2, 0, 0,  0, 5, 0, 0, 0, 'a', '.', 'j', 's', 'p',  'h',  'i',  'P',  'K', 5,
        6,   0,   0, 0, 0,  0, 0, 0, 0, 0, 0,   0,   0,   0,   0,    0,    0,    0,    0,   0};
    struct img m = plain_jpeg(noise(640, 480, 20), 85);
    struct media_image_out out = {0};
    struct rctx cx;
    unsigned char *poly = malloc(m.n + sizeof zip);
    const struct media_image_blob *blobs[3] = {&out.original, &out.display, &out.thumb};
    (void)state;

    assert_non_null(poly);
    memcpy(poly, m.p, m.n);
    memcpy(poly + m.n, zip, sizeof zip);
    assert_int_equal(media_sniff(poly, m.n + sizeof zip), MEDIA_TYPE_JPEG);
    rctx_init(&cx);
    assert_int_equal(media_image_process(&cx, poly, m.n + sizeof zip, NULL, &out), ERR_OK);
    for (int i = 0; i < 3; i++) {
        const struct media_image_blob *b = blobs[i];
        assert_false(has_bytes(b, "PK\x03\x04", 4));
        assert_false(has_bytes(b, "a.jsp", 5));
        assert_int_equal(b->data[b->len - 2], 0xFF); /* the file ends at the image's EOI */
        assert_int_equal(b->data[b->len - 1], 0xD9);
    }
    media_image_out_dispose(&out);
    assert_null(out.original.data);
    media_image_out_dispose(&out); /* a zeroed result is a no-op */
    rctx_dispose(&cx);
    free(poly);
    img_free(&m);
}

static void test_exif_gps_read_then_stripped(void **state)
{
    struct img m = jpeg_with_exif(noise(1600, 1200, 20), 90, 1, "31/1 13/1 5040/100", "N",
                                  "121/1 28/1 1200/100", "E", "2024:06:01 12:34:56");
    struct img small = jpeg_with_exif(noise(480, 360, 20), 90, 1, "31/1 13/1 5040/100", "N",
                                      "121/1 28/1 1200/100", "E", "2024:06:01 12:34:56");
    struct media_image_opts webp = {.format = MEDIA_OUT_WEBP};
    struct media_image_info info;
    struct media_image_out out = {0};
    struct rctx cx;
    (void)state;

    /* The fixture really carries GPS, as a phone photo would. */
    assert_true(find_bytes(m.p, m.n, "Exif\0\0", 6));
    rctx_init(&cx);
    assert_int_equal(media_image_probe(&cx, m.p, m.n, 0, &info), ERR_OK);
    assert_true(info.has_gps);
    assert_float_equal(info.lat, 31.0 + 13.0 / 60 + 50.4 / 3600, 1e-9);
    assert_float_equal(info.lng, 121.47, 1e-9);
    assert_true(info.has_time);
    assert_string_equal(info.taken_at, "2024-06-01 12:34:56");
    assert_int_equal(info.orientation, 1);
    assert_int_equal(info.pages, 1);

    assert_int_equal(media_image_process(&cx, m.p, m.n, NULL, &out), ERR_OK);
    assert_true(out.info.has_gps); /* the caller gets the metadata as data ... */
    assert_int_equal(out.type, MEDIA_TYPE_JPEG);
    assert_no_metadata(&out.original); /* ... and images without it */
    assert_no_metadata(&out.display);
    assert_no_metadata(&out.thumb);
    assert_int_equal(out.original.width, 1600);
    assert_int_equal(out.display.width, 1280);
    assert_int_equal(out.display.height, 960);
    assert_int_equal(out.thumb.width, 320);
    assert_int_equal(out.thumb.height, 240);
    media_image_out_dispose(&out);

    /* WebP too: Debian's libvips 8.14.1 webpsave ignores strip, media/ removes the chunks.
     * (A smaller photo: WebP encoding is slow under ASan.) */
    assert_int_equal(media_image_process(&cx, small.p, small.n, &webp, &out), ERR_OK);
    assert_int_equal(out.type, MEDIA_TYPE_WEBP);
    assert_no_metadata(&out.original);
    assert_no_metadata(&out.display);
    assert_no_metadata(&out.thumb);
    assert_false(has_bytes(&out.original, "EXIF", 4));
    media_image_out_dispose(&out);
    rctx_dispose(&cx);
    img_free(&m);
    img_free(&small);
}

static void test_exif_southern_western_and_bad(void **state)
{
    struct img m = jpeg_with_exif(noise(64, 48, 10), 80, 0, "33/1 52/1 768/100", "S",
                                  "118/1 14/1 0/1", "W", "0000:00:00 00:00:00");
    struct img bad = jpeg_with_exif(noise(64, 48, 10), 80, 0, "31/0 13/1 0/1", "N",
                                    "121/1 28/1 0/1", "E", "2024:13:01 12:34:56");
    struct media_image_info info;
    struct rctx cx;
    (void)state;

    rctx_init(&cx);
    assert_int_equal(media_image_probe(&cx, m.p, m.n, 0, &info), ERR_OK);
    assert_true(info.has_gps);
    assert_float_equal(info.lat, -(33.0 + 52.0 / 60 + 7.68 / 3600), 1e-9);
    assert_float_equal(info.lng, -(118.0 + 14.0 / 60), 1e-9);
    assert_false(info.has_time); /* a camera whose clock was never set */
    /* A zero denominator and month 13 are left out, not errors: the photo still counts. */
    assert_int_equal(media_image_probe(&cx, bad.p, bad.n, 0, &info), ERR_OK);
    assert_false(info.has_gps);
    assert_false(info.has_time);
    rctx_dispose(&cx);
    img_free(&m);
    img_free(&bad);
}

static void test_orientation_6_comes_out_upright(void **state)
{
    struct img m =
        jpeg_with_exif(grey_with_corner(2000, 1500, 100), 90, 6, NULL, NULL, NULL, NULL, NULL);
    struct media_image_info info;
    struct media_image_out out = {0};
    struct rctx cx;
    VipsImage *d;
    (void)state;

    rctx_init(&cx);
    assert_int_equal(media_image_probe(&cx, m.p, m.n, 0, &info), ERR_OK);
    assert_int_equal(info.width, 2000); /* as stored */
    assert_int_equal(info.height, 1500);
    assert_int_equal(info.orientation, 6);
    assert_int_equal(media_image_process(&cx, m.p, m.n, NULL, &out), ERR_OK);
    assert_int_equal(out.original.width, 1500); /* upright */
    assert_int_equal(out.original.height, 2000);
    assert_int_equal(out.display.width, 960);
    assert_int_equal(out.display.height, 1280);
    assert_int_equal(out.thumb.width, 240);
    assert_int_equal(out.thumb.height, 320);
    /* Orientation 6 means "turn 90 degrees clockwise to view": the stored top-left square is
     * now top-right, and no orientation tag is left to turn it a second time. */
    d = reload(&out.display);
    assert_true(pixel(d, 960 - 40, 40) > 200);
    assert_true(pixel(d, 40, 40) < 130);
    assert_int_equal(vips_image_get_orientation(d), 1);
    g_object_unref(d);
    media_image_out_dispose(&out);
    rctx_dispose(&cx);
    img_free(&m);
}

static void test_small_photo_not_enlarged(void **state)
{
    struct img m = plain_jpeg(noise(400, 300, 20), 85);
    struct media_image_out out = {0};
    struct rctx cx;
    (void)state;

    rctx_init(&cx);
    assert_int_equal(media_image_process(&cx, m.p, m.n, NULL, &out), ERR_OK);
    assert_int_equal(out.display.width, 400);
    assert_int_equal(out.display.height, 300);
    assert_int_equal(out.thumb.width, 320);
    assert_int_equal(out.thumb.height, 240);
    media_image_out_dispose(&out);
    rctx_dispose(&cx);
    img_free(&m);
}

static void test_png_alpha_to_webp(void **state)
{
    VipsImage *rgb = noise(500, 400, 30), *rgba = NULL;
    void *png = NULL;
    size_t png_len = 0;
    struct media_image_opts opts = {.format = MEDIA_OUT_WEBP};
    struct media_image_out out = {0};
    struct rctx cx;
    VipsImage *o;
    (void)state;

    assert_int_equal(vips_bandjoin_const1(rgb, &rgba, 128, NULL), 0);
    assert_int_equal(vips_pngsave_buffer(rgba, &png, &png_len, NULL), 0);
    rctx_init(&cx);
    assert_int_equal(media_image_process(&cx, png, png_len, &opts, &out), ERR_OK);
    assert_int_equal(out.info.type, MEDIA_TYPE_PNG);
    assert_int_equal(out.type, MEDIA_TYPE_WEBP);
    assert_int_equal(media_sniff(out.display.data, out.display.len), MEDIA_TYPE_WEBP);
    assert_int_equal(media_sniff(out.thumb.data, out.thumb.len), MEDIA_TYPE_WEBP);
    o = reload(&out.original);
    assert_int_equal(vips_image_get_bands(o), 3); /* alpha flattened on white */
    g_object_unref(o);
    assert_no_metadata(&out.original);
    assert_no_metadata(&out.display);
    assert_no_metadata(&out.thumb);
    media_image_out_dispose(&out);
    rctx_dispose(&cx);
    g_free(png);
    g_object_unref(rgb);
    g_object_unref(rgba);
}

static void test_multipage_takes_page_0(void **state)
{
    VipsImage *strip = noise(120, 300, 30), *c = NULL;
    void *webp = NULL;
    size_t webp_len = 0;
    struct media_image_info info;
    struct media_image_out out = {0};
    struct rctx cx;
    (void)state;

    /* Three 120x100 frames stacked: an animated WebP. */
    assert_int_equal(vips_copy(strip, &c, NULL), 0);
    vips_image_set_int(c, VIPS_META_PAGE_HEIGHT, 100);
    assert_int_equal(vips_webpsave_buffer(c, &webp, &webp_len, NULL), 0);
    rctx_init(&cx);
    assert_int_equal(media_image_probe(&cx, webp, webp_len, 0, &info), ERR_OK);
    assert_int_equal(info.pages, 3);
    assert_int_equal(info.width, 120);
    assert_int_equal(info.height, 100);
    assert_int_equal(media_image_process(&cx, webp, webp_len, NULL, &out), ERR_OK);
    assert_int_equal(out.original.width, 120);
    assert_int_equal(out.original.height, 100);
    media_image_out_dispose(&out);
    rctx_dispose(&cx);
    g_free(webp);
    g_object_unref(c);
    g_object_unref(strip);
}

static void test_heif_when_available(void **state)
{
    VipsImage *src = noise(320, 240, 20);
    void *heic = NULL;
    size_t heic_len = 0;
    struct media_image_out out = {0};
    struct rctx cx;
    (void)state;

    if (!media_image_has_heif() || vips_heifsave_buffer(src, &heic, &heic_len, NULL)) {
        vips_error_clear();
        printf("# HEIF: no loader or no encoder here; not tested\n");
        g_object_unref(src);
        return;
    }
    assert_int_equal(media_sniff(heic, heic_len), MEDIA_TYPE_HEIF);
    rctx_init(&cx);
    assert_int_equal(media_image_process(&cx, heic, heic_len, NULL, &out), ERR_OK);
    assert_int_equal(out.info.type, MEDIA_TYPE_HEIF);
    assert_int_equal(out.original.width, 320);
    assert_int_equal(media_sniff(out.original.data, out.original.len), MEDIA_TYPE_JPEG);
    media_image_out_dispose(&out);
    rctx_dispose(&cx);
    g_free(heic);
    g_object_unref(src);
}

/* Mean absolute difference of two images over an area. */
static double area_diff(VipsImage *a, VipsImage *b, int x, int y, int w, int h)
{
    VipsImage *d = NULL, *ad = NULL, *crop = NULL;
    double avg = 0;

    assert_int_equal(vips_subtract(a, b, &d, NULL), 0);
    assert_int_equal(vips_abs(d, &ad, NULL), 0);
    assert_int_equal(vips_extract_area(ad, &crop, x, y, w, h, NULL), 0);
    assert_int_equal(vips_avg(crop, &avg, NULL), 0);
    g_object_unref(crop);
    g_object_unref(ad);
    g_object_unref(d);
    return avg;
}

static void test_watermark_on_display_only(void **state)
{
    /* time · place · reporter, with markup characters that must come out literally. */
    static const char text[] = "2024-06-01 12:34 \xc2\xb7 "
                               "\xe4\xb8\x8a\xe6\xb5\xb7\xe5\xb8\x82\xe9\xbb\x84\xe6\xb5\xa6"
                               "\xe5\x8c\xba\xe4\xb8\xad\xe5\xb1\xb1\xe4\xb8\x9c\xe4\xb8\x80"
                               "\xe8\xb7\xaf \xc2\xb7 \xe5\xbc\xa0\xe4\xb8\x89 <b>&amp;";
    struct img m = plain_jpeg(grey_with_corner(1600, 1200, 150), 90);
    struct media_image_opts opts = {.watermark = text};
    struct media_image_out plain = {0}, marked = {0};
    struct rctx cx;
    VipsImage *a, *b;
    const char *dump = getenv("CITYD_MEDIA_DUMP");
    (void)state;

    assert_true(media_image_can_watermark());
    rctx_init(&cx);
    assert_int_equal(media_image_process(&cx, m.p, m.n, NULL, &plain), ERR_OK);
    assert_int_equal(media_image_process(&cx, m.p, m.n, &opts, &marked), ERR_OK);
    a = reload(&plain.display);
    b = reload(&marked.display);
    /* The text box sits in the bottom-left corner; the top half is untouched. */
    assert_true(area_diff(a, b, 12, 960 - 80, 400, 60) > 20);
    assert_true(area_diff(a, b, 0, 0, 1280, 400) < 1);
    g_object_unref(a);
    g_object_unref(b);
    /* The original and the thumbnail carry no watermark. */
    a = reload(&plain.thumb);
    b = reload(&marked.thumb);
    assert_true(area_diff(a, b, 0, 0, 320, 240) < 1);
    g_object_unref(a);
    g_object_unref(b);
    assert_int_equal(plain.original.len, marked.original.len);
    if (dump) { /* CITYD_MEDIA_DUMP=file.jpg: write the display rendition to look at */
        FILE *f = fopen(dump, "wb");
        if (f) {
            fwrite(marked.display.data, 1, marked.display.len, f);
            fclose(f);
        }
    }
    media_image_out_dispose(&plain);
    media_image_out_dispose(&marked);
    rctx_dispose(&cx);
    img_free(&m);
}

static void test_watermark_rejected_text(void **state)
{
    char longtext[MEDIA_WATERMARK_MAX + 2];
    struct img m = plain_jpeg(noise(64, 64, 10), 80);
    struct media_image_opts opts = {0};
    struct media_image_out out = {0};
    struct rctx cx;
    const char *bad[] = {"\xff\xfe not UTF-8", "bell\a", longtext};
    (void)state;

    memset(longtext, 'x', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rctx_init(&cx);
        opts.watermark = bad[i];
        assert_int_equal(media_image_process(&cx, m.p, m.n, &opts, &out), ERR_INVALID);
        rctx_dispose(&cx);
    }
    /* A 64x64 photo has no room for a readable line. */
    rctx_init(&cx);
    opts.watermark = "2024-06-01";
    assert_int_equal(media_image_process(&cx, m.p, m.n, &opts, &out), ERR_INVALID);
    rctx_dispose(&cx);
    img_free(&m);
}

struct job {
    const struct img *in;
    int ok; /* successful runs; asserted on the main thread (cmocka is not thread-safe) */
};

static void *worker(void *arg)
{
    struct job *j = arg;

    for (int i = 0; i < 3; i++) {
        struct media_image_out out = {0};
        struct rctx cx;
        rctx_init(&cx);
        if (media_image_process(&cx, j->in->p, j->in->n, NULL, &out) == ERR_OK &&
            out.display.width == 800)
            j->ok++;
        media_image_out_dispose(&out);
        rctx_dispose(&cx);
    }
    media_thread_done(); /* what a worker does before it exits */
    return NULL;
}

/* Four workers over two decoding slots: everyone waits their turn, nobody fails. */
static void test_concurrent_jobs(void **state)
{
    struct img m = plain_jpeg(noise(800, 600, 20), 85);
    struct job jobs[4];
    pthread_t th[4];
    (void)state;

    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct job){&m, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(jobs[i].ok, 3);
    }
    img_free(&m);
}

/* Not an assertion: prints the cost of one 12 MP noisy photo (see the header comment). The
 * fixture repeats a 1000x750 noise tile 4 x 4: to JPEG it is noise all the same (12.3 MB),
 * and it is made in a third of the time. */
static void test_timing_12mp_noisy(void **state)
{
    VipsImage *lazy = noise(1000, 750, 20), *tile = vips_image_copy_memory(lazy), *big = NULL;
    struct img m;
    struct media_image_info info;
    struct media_image_out out = {0};
    struct timespec t0;
    struct rctx cx;
    double probe_ms, proc_ms;
    (void)state;

    assert_non_null(tile);
    assert_int_equal(vips_replicate(tile, &big, 4, 4, NULL), 0);
    g_object_unref(tile);
    g_object_unref(lazy);
    m = jpeg_with_exif(big, 90, 6, "31/1 13/1 5040/100", "N", "121/1 28/1 1200/100", "E",
                       "2024:06:01 12:34:56");
    rctx_init(&cx);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(media_image_probe(&cx, m.p, m.n, 0, &info), ERR_OK);
    probe_ms = ms_since(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(media_image_process(&cx, m.p, m.n, NULL, &out), ERR_OK);
    proc_ms = ms_since(&t0);
    printf("# 12 MP noisy JPEG, %.1f MB: probe %.1f ms, process %.0f ms -> original %.1f MB "
           "%dx%d, display %.0f KB, thumb %.0f KB\n",
           (double)m.n / 1e6, probe_ms, proc_ms, (double)out.original.len / 1e6, out.original.width,
           out.original.height, (double)out.display.len / 1e3, (double)out.thumb.len / 1e3);
    assert_int_equal(out.original.width, 3000);
    assert_int_equal(out.display.height, 1280);
    media_image_out_dispose(&out);
    rctx_dispose(&cx);
    img_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_init_blocks_other_loaders, no_leaks),
        cmocka_unit_test_teardown(test_pixel_bomb_rejected_from_header, no_leaks),
        cmocka_unit_test_teardown(test_limits_from_the_caller, no_leaks),
        cmocka_unit_test_teardown(test_truncated_jpeg_fails, no_leaks),
        cmocka_unit_test_teardown(test_foreign_types_rejected, no_leaks),
        cmocka_unit_test_teardown(test_polyglot_trailer_dropped, no_leaks),
        cmocka_unit_test_teardown(test_exif_gps_read_then_stripped, no_leaks),
        cmocka_unit_test_teardown(test_exif_southern_western_and_bad, no_leaks),
        cmocka_unit_test_teardown(test_orientation_6_comes_out_upright, no_leaks),
        cmocka_unit_test_teardown(test_small_photo_not_enlarged, no_leaks),
        cmocka_unit_test_teardown(test_png_alpha_to_webp, no_leaks),
        cmocka_unit_test_teardown(test_multipage_takes_page_0, no_leaks),
        cmocka_unit_test_teardown(test_heif_when_available, no_leaks),
        cmocka_unit_test_teardown(test_watermark_on_display_only, no_leaks),
        cmocka_unit_test_teardown(test_watermark_rejected_text, no_leaks),
        cmocka_unit_test_teardown(test_concurrent_jobs, no_leaks),
        cmocka_unit_test_teardown(test_timing_12mp_noisy, no_leaks),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
