/* media/image.c: libvips policy, header probe and the decode-once rendition pipeline.
 * See image.h. The facts about Debian 12's libvips 8.14.1 this file relies on were measured
 * (shared notes: libraries.md section 5, security.md section 2.3) or are stated where used. */
#include "media/image.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <vips/vips.h>
#include "server/core/clock.h"
#include "server/core/crashpoint.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/rctx.h"

/* How long a photo waits for a decoding slot before the client is told to retry. */
#define SLOT_WAIT_S 10

/* Qualities: the original is kept close to the camera's; the renditions are for phones. */
#define Q_ORIGINAL 90
#define Q_BOUNDED 75 /* an original re-encoded to fit its bound (bound_original) */
#define Q_DISPLAY 82
#define Q_THUMB 75

static struct {
    bool ready;
    bool heif;
    bool text;
    int slots; /* max concurrent decodes */
    int busy;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} media = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* libvips keeps one error buffer for the whole process; take our text out and clear it so the
 * next job does not see it. */
static void vips_detail(char *buf, size_t cap)
{
    char *s = vips_error_buffer_copy();
    size_t n;

    snprintf(buf, cap, "%s", s ? s : "");
    g_free(s);
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\n')
            buf[i] = ' ';
}

/* A libvips failure. Bad input (ERR_INVALID) is the client's doing and logged as a warning;
 * anything else is ours and logged as an error. The client sees `what`, never libvips' text. */
static enum err vips_fail(struct rctx *cx, enum err e, const char *what)
{
    char detail[512];

    vips_detail(detail, sizeof detail);
    if (e == ERR_INVALID)
        log_warn(cx, "image: %s: %s", what, detail);
    else
        log_error(cx, "image: %s: %s", what, detail);
    return rctx_fail(cx, e, "image: %s", what);
}

/* Render a CJK string once: pango needs fontconfig and a font with those glyphs (Debian's
 * fonts-droid-fallback provides one). */
static bool text_works(void)
{
    VipsImage *t = NULL;
    bool ok;

    ok = vips_text(&t, "\xe8\xaf\x81\xe6\x8d\xae 0123", "font", "sans 12", "dpi", 72, NULL) == 0 &&
         vips_image_get_width(t) > 8;
    VIPS_UNREF(t);
    vips_error_clear();
    return ok;
}

enum err media_init(int max_concurrency)
{
    pthread_condattr_t ca;

    if (max_concurrency < 1) {
        log_error(NULL, "media: max_concurrency must be at least 1, not %d", max_concurrency);
        return ERR_INVALID;
    }
    if (media.ready)
        return ERR_OK;
    if (VIPS_INIT("cityd")) {
        char detail[512];
        vips_detail(detail, sizeof detail);
        log_error(NULL, "media: libvips failed to start: %s", detail);
        return ERR_INTERNAL;
    }
    /* An allowlist rather than vips_block_untrusted_set() alone: Debian's build carries
     * ImageMagick, poppler, rsvg, openslide, TIFF, GIF, JPEG-XL ... and a loader we never
     * meant to expose must not become reachable because a later libvips stops calling it
     * "untrusted". Modules (HEIF is one) are loaded by VIPS_INIT, so this comes after it. */
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoad", TRUE);
    vips_operation_block_set("VipsForeignLoadJpeg", FALSE);
    vips_operation_block_set("VipsForeignLoadPng", FALSE);
    vips_operation_block_set("VipsForeignLoadWebp", FALSE);
    vips_operation_block_set("VipsForeignLoadHeif", FALSE); /* no-op when the module is absent */
    media.heif = vips_type_find("VipsOperation", "heifload_buffer") != 0;
    /* No operation cache: every upload is different, and a cache would keep decoded pixels of
     * one user's photo alive after the job. One libvips thread per pipeline: the worker pool
     * supplies the parallelism, and the two must not multiply (libraries.md section 5). */
    vips_cache_set_max(0);
    vips_concurrency_set(1);

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&media.cv, &ca);
    pthread_condattr_destroy(&ca);
    media.slots = max_concurrency;
    media.busy = 0;
    media.text = text_works();
    media.ready = true;
    log_info(NULL, "media: libvips %s, heif=%s, watermark text=%s, %d concurrent decodes",
             vips_version_string(), media.heif ? "yes" : "no", media.text ? "yes" : "no",
             max_concurrency);
    if (!media.text)
        log_warn(NULL, "media: text rendering is unavailable: watermarked uploads will fail");
    return ERR_OK;
}

void media_shutdown(void)
{
    if (!media.ready)
        return;
    media.ready = false;
    pthread_cond_destroy(&media.cv);
    vips_shutdown();
}

void media_thread_done(void)
{
    vips_thread_shutdown();
}

bool media_image_has_heif(void)
{
    return media.heif;
}

bool media_image_can_watermark(void)
{
    return media.text;
}

static enum err slot_take(struct rctx *cx)
{
    struct timespec until;
    int r = 0;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += SLOT_WAIT_S;
    pthread_mutex_lock(&media.mu);
    while (media.busy >= media.slots && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&media.cv, &media.mu, &until);
    if (media.busy >= media.slots) {
        pthread_mutex_unlock(&media.mu);
        return rctx_fail(cx, ERR_BUSY, "image: the server is busy processing photos; retry");
    }
    media.busy++;
    pthread_mutex_unlock(&media.mu);
    return ERR_OK;
}

static void slot_give(void)
{
    pthread_mutex_lock(&media.mu);
    media.busy--;
    pthread_cond_signal(&media.cv);
    pthread_mutex_unlock(&media.mu);
}

/* Open a photo lazily with the loader media_sniff chose: only the header is read here.
 * Sequential access, because the one decode reads top to bottom; fail_on=truncated so that
 * a cut-off upload fails instead of being grey-filled; page 0 only. */
static int load(enum media_type t, const void *buf, size_t len, VipsImage **out)
{
    /* libvips' loaders take void * but only read the buffer. */
    void *b = (void *)(uintptr_t)buf;

    switch (t) {
    case MEDIA_TYPE_JPEG:
        return vips_jpegload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                    VIPS_FAIL_ON_TRUNCATED, NULL);
    case MEDIA_TYPE_PNG:
        return vips_pngload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                   VIPS_FAIL_ON_TRUNCATED, NULL);
    case MEDIA_TYPE_WEBP:
        return vips_webpload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                    VIPS_FAIL_ON_TRUNCATED, "page", 0, "n", 1, NULL);
    case MEDIA_TYPE_HEIF:
        /* unlimited stays FALSE, so libheif's own denial-of-service limits stay in force. */
        return vips_heifload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                    VIPS_FAIL_ON_TRUNCATED, "page", 0, "n", 1, NULL);
    default:
        return -1;
    }
}

/* The text part of an EXIF field as libvips 8.14 renders it: "value (readable, Type, n
 * components, m bytes)". NULL when absent. Borrowed from the image. */
static const char *exif_field(VipsImage *im, const char *name, char *buf, size_t cap)
{
    const char *s = NULL;
    const char *cut;
    size_t n;

    /* get_string on a missing field would leave a message in the shared error buffer. */
    if (!vips_image_get_typeof(im, name) || vips_image_get_string(im, name, &s) || !s) {
        vips_error_clear();
        return NULL;
    }
    cut = strstr(s, " (");
    n = cut ? (size_t)(cut - s) : strlen(s);
    if (n >= cap)
        return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static bool two_digits(const char *s, int *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return false;
    *v = (s[0] - '0') * 10 + (s[1] - '0');
    return true;
}

/* "2024:06:01 12:34:56" -> "2024-06-01 12:34:56"; false for anything else, including the
 * all-zero and blank dates some cameras write when their clock was never set. */
static bool exif_time(const char *s, char out[20])
{
    int y1, y2, mo, d, h, mi, se;

    if (strlen(s) != 19 || s[4] != ':' || s[7] != ':' || s[10] != ' ' || s[13] != ':' ||
        s[16] != ':')
        return false;
    if (!two_digits(s, &y1) || !two_digits(s + 2, &y2) || !two_digits(s + 5, &mo) ||
        !two_digits(s + 8, &d) || !two_digits(s + 11, &h) || !two_digits(s + 14, &mi) ||
        !two_digits(s + 17, &se))
        return false;
    if (y1 * 100 + y2 < 1900 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        se > 60)
        return false;
    memcpy(out, s, 19);
    out[4] = out[7] = '-';
    out[19] = '\0';
    return true;
}

/* One unsigned rational "n/d" at *s; advances *s. Digits only: EXIF GPS values are unsigned. */
static bool rational(const char **s, double *v)
{
    uint64_t n = 0, d = 0;
    int nd = 0, dd = 0;
    const char *p = *s;

    while (*p == ' ')
        p++;
    for (; *p >= '0' && *p <= '9' && nd < 12; p++, nd++)
        n = n * 10 + (uint64_t)(*p - '0');
    if (nd == 0 || *p != '/')
        return false;
    for (p++; *p >= '0' && *p <= '9' && dd < 12; p++, dd++)
        d = d * 10 + (uint64_t)(*p - '0');
    if (dd == 0 || d == 0 || (*p != ' ' && *p != '\0'))
        return false;
    *v = (double)n / (double)d;
    *s = p;
    return true;
}

/* Degrees/minutes/seconds "48/1 51/1 756/25" plus a hemisphere letter -> signed degrees. */
static bool exif_coord(VipsImage *im, const char *field, const char *ref_field, char pos, char neg,
                       double limit, double *out)
{
    char vb[128], rb[16];
    const char *v = exif_field(im, field, vb, sizeof vb);
    const char *r = exif_field(im, ref_field, rb, sizeof rb);
    double deg, min, sec;

    if (!v || !r || (r[0] != pos && r[0] != neg))
        return false;
    if (!rational(&v, &deg) || !rational(&v, &min) || !rational(&v, &sec))
        return false;
    if (deg > limit || min >= 60 || sec >= 60)
        return false;
    deg += min / 60 + sec / 3600;
    if (deg > limit)
        return false;
    *out = r[0] == neg ? -deg : deg;
    return true;
}

static void read_meta(VipsImage *im, struct media_image_info *info)
{
    char buf[128];
    const char *s;

    info->orientation = vips_image_get_orientation(im); /* 1..8, 1 when absent */
    info->pages = vips_image_get_n_pages(im);
    s = exif_field(im, "exif-ifd2-DateTimeOriginal", buf, sizeof buf);
    if (!s)
        s = exif_field(im, "exif-ifd2-DateTimeDigitized", buf, sizeof buf);
    info->has_time = s && exif_time(s, info->taken_at);
    if (!info->has_time)
        info->taken_at[0] = '\0';
    info->has_gps = exif_coord(im, "exif-ifd3-GPSLatitude", "exif-ifd3-GPSLatitudeRef", 'N', 'S',
                               90, &info->lat) &&
                    exif_coord(im, "exif-ifd3-GPSLongitude", "exif-ifd3-GPSLongitudeRef", 'E', 'W',
                               180, &info->lng);
    /* 0,0 is what some phones write when they had no fix: it is not a place in China. */
    if (!info->has_gps || (info->lat == 0 && info->lng == 0)) {
        info->has_gps = false;
        info->lat = info->lng = 0;
    }
}

/* Sniff, open lazily and check the size: everything before the first pixel is decoded. */
static enum err open_checked(struct rctx *cx, const void *buf, size_t len, uint64_t max_pixels,
                             VipsImage **im, struct media_image_info *info)
{
    enum media_type t = media_sniff(buf, len);
    int w, h;

    if (!media.ready) {
        log_error(cx, "media: media_init was not called");
        return rctx_fail(cx, ERR_INTERNAL, "image: processing is not available");
    }
    if (!media_type_is_image(t))
        return rctx_fail(cx, ERR_MEDIATYPE,
                         "image: unsupported type; send JPEG, PNG, WebP or HEIC");
    if (t == MEDIA_TYPE_HEIF && !media.heif)
        return rctx_fail(cx, ERR_MEDIATYPE, "image: HEIC is not supported here; send JPEG");
    if (load(t, buf, len, im))
        return vips_fail(cx, ERR_INVALID, "the image header is corrupt");
    if (max_pixels == 0)
        max_pixels = MEDIA_IMAGE_MAX_PIXELS;
    w = vips_image_get_width(*im);
    h = vips_image_get_height(*im);
    if (w > MEDIA_IMAGE_MAX_SIDE || h > MEDIA_IMAGE_MAX_SIDE ||
        (uint64_t)w * (uint64_t)h > max_pixels)
        return rctx_fail(cx, ERR_TOOBIG,
                         "image: %dx%d pixels is too large; at most %.1f megapixels and %d "
                         "pixels per side",
                         w, h, (double)max_pixels / 1e6, MEDIA_IMAGE_MAX_SIDE);
    memset(info, 0, sizeof *info);
    info->type = t;
    info->width = w;
    info->height = h;
    read_meta(*im, info);
    return ERR_OK;
}

enum err media_image_probe(struct rctx *cx, const void *buf, size_t len, uint64_t max_pixels,
                           struct media_image_info *info)
{
    VipsImage *im = NULL;
    struct media_image_info got;
    enum err res;

    res = open_checked(cx, buf, len, max_pixels, &im, &got);
    if (!res)
        *info = got;
    VIPS_UNREF(im);
    return res;
}

/* To 8-bit sRGB with three bands: embedded profiles applied (a Display P3 photo would look
 * washed out once its profile is stripped), alpha flattened on white, greyscale, CMYK and
 * 16-bit converted. Lazy: nothing is decoded here. */
static enum err normalise(struct rctx *cx, VipsObject *ctx, VipsImage *in, VipsImage **out)
{
    VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 5);
    VipsImage *im = in;

    if (vips_image_get_typeof(im, VIPS_META_ICC_NAME)) {
        if (vips_icc_transform(im, &t[0], "srgb", "embedded", TRUE, NULL) == 0) {
            im = t[0];
        } else {
            /* A broken profile must not cost the photo: convert as if it had none. */
            char detail[256];
            vips_detail(detail, sizeof detail);
            log_debug(cx, "image: ignoring an unusable ICC profile: %s", detail);
        }
    }
    if (vips_image_hasalpha(im)) {
        VipsInterpretation i = vips_image_get_interpretation(im);
        double white =
            (i == VIPS_INTERPRETATION_RGB16 || i == VIPS_INTERPRETATION_GREY16) ? 65535.0 : 255.0;
        VipsArrayDouble *bg = vips_array_double_new(&white, 1);
        int r = vips_flatten(im, &t[1], "background", bg, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (r)
            return vips_fail(cx, ERR_INVALID, "cannot remove the transparency");
        im = t[1];
    }
    if (vips_colourspace(im, &t[2], VIPS_INTERPRETATION_sRGB, NULL))
        return vips_fail(cx, ERR_INVALID, "unsupported colour space");
    im = t[2];
    if (vips_image_get_bands(im) > 3) {
        if (vips_extract_band(im, &t[3], 0, "n", 3, NULL))
            return vips_fail(cx, ERR_INVALID, "unsupported pixel format");
        im = t[3];
    }
    if (vips_image_get_format(im) != VIPS_FORMAT_UCHAR) {
        if (vips_cast_uchar(im, &t[4], NULL))
            return vips_fail(cx, ERR_INVALID, "unsupported pixel format");
        im = t[4];
    }
    *out = im;
    return ERR_OK;
}

/* Drop every metadata field from the decoded image, so no saver can write them whatever its
 * strip option does. The orientation stays for vips_autorot, which removes it after use. */
static void drop_metadata(VipsImage *im)
{
    gchar **names = vips_image_get_fields(im);

    for (gchar **n = names; *n; n++)
        if (strcmp(*n, VIPS_META_ORIENTATION) != 0)
            vips_image_remove(im, *n); /* false, harmlessly, for width, height ... */
    g_strfreev(names);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Remove the EXIF, XMP and ICCP chunks of a WebP file in place and clear their VP8X flags.
 * Needed because Debian's libvips 8.14.1 webpsave ignores strip (its own field shadows the
 * option; fixed upstream in 8.14.2, "fix strip arg to webpsave") and always writes an EXIF
 * chunk rebuilt from the image. False when the bytes are not the RIFF we expect. */
static bool webp_strip(unsigned char *p, size_t *len)
{
    size_t n = *len, in = 12, out = 12, vp8x = 0;

    if (n < 12 || memcmp(p, "RIFF", 4) != 0 || memcmp(p + 8, "WEBP", 4) != 0 ||
        (size_t)le32(p + 4) + 8 != n)
        return false;
    while (in < n) {
        size_t size, total;
        if (n - in < 8)
            return false;
        size = le32(p + in + 4);
        total = 8 + size + (size & 1); /* chunks are padded to even sizes */
        if (size > n - in - 8 || total > n - in)
            return false;
        if (memcmp(p + in, "EXIF", 4) != 0 && memcmp(p + in, "XMP ", 4) != 0 &&
            memcmp(p + in, "ICCP", 4) != 0) {
            if (memcmp(p + in, "VP8X", 4) == 0 && size >= 1)
                vp8x = out + 8;
            memmove(p + out, p + in, total);
            out += total;
        }
        in += total;
    }
    if (vp8x)
        p[vp8x] &= (unsigned char)~(0x20 | 0x08 | 0x04); /* ICC, EXIF, XMP present */
    p[4] = (unsigned char)(out - 8);
    p[5] = (unsigned char)((out - 8) >> 8);
    p[6] = (unsigned char)((out - 8) >> 16);
    p[7] = (unsigned char)((out - 8) >> 24);
    *len = out;
    return true;
}

static enum err encode(struct rctx *cx, VipsImage *im, enum media_out_format f, int q,
                       bool optimize, struct media_image_blob *b)
{
    void *data = NULL;
    size_t n = 0;
    int r;

    /* strip is the 8.14 name of what 8.15 calls keep=NONE: no EXIF (GPS!), XMP, IPTC or ICC.
     * JPEG honours it; WebP is cleaned up below. */
    if (f == MEDIA_OUT_WEBP)
        r = vips_webpsave_buffer(im, &data, &n, "Q", q, "strip", TRUE, NULL);
    else
        r = vips_jpegsave_buffer(im, &data, &n, "Q", q, "strip", TRUE, "optimize_coding", optimize,
                                 NULL);
    if (r)
        return vips_fail(cx, ERR_INTERNAL, "encoding failed");
    if (f == MEDIA_OUT_WEBP && !webp_strip(data, &n)) {
        g_free(data);
        log_error(cx, "image: libvips wrote a WebP file this module cannot parse");
        return rctx_fail(cx, ERR_INTERNAL, "image: encoding failed");
    }
    b->data = data;
    b->len = n;
    b->width = vips_image_get_width(im);
    b->height = vips_image_get_height(im);
    return ERR_OK;
}

/* A small upload must not become a huge stored original (issue 17 item 2): repeated random
 * tiles compress well as PNG and not at all as JPEG (a 460 KB PNG became a 7.5 MB original at
 * Q90, and up to ~94 MB at the pixel limit, stored and served). The original may take at most
 * MEDIA_ORIGINAL_GROWTH times the upload's bytes (never less than MEDIA_ORIGINAL_FLOOR); a
 * larger one is encoded again from up (upright, in memory) at Q_BOUNDED, then smaller in
 * steps of 0.7 per side, until it fits. A camera photo never comes near the bound. */
static enum err bound_original(struct rctx *cx, VipsImage *up, enum media_out_format f,
                               size_t upload_len, struct media_image_blob *b)
{
    size_t cap = upload_len > MEDIA_ORIGINAL_FLOOR / MEDIA_ORIGINAL_GROWTH
                     ? upload_len * MEDIA_ORIGINAL_GROWTH
                     : MEDIA_ORIGINAL_FLOOR;
    double scale = 1.0;

    for (int i = 0; i < 8 && b->len > cap; i++) {
        VipsImage *small = NULL;
        struct media_image_blob nb = {0};
        enum err e;

        if (i > 0) {
            scale *= 0.7;
            if (vips_resize(up, &small, scale, NULL))
                return vips_fail(cx, ERR_INTERNAL, "resizing failed");
        }
        e = encode(cx, small ? small : up, f, Q_BOUNDED, false, &nb);
        if (small)
            g_object_unref(small);
        if (e)
            return e;
        log_info(cx,
                 "image: original of %zu bytes over its bound (%zu) for a %zu-byte upload: "
                 "encoded again as %zu bytes (%dx%d)",
                 b->len, cap, upload_len, nb.len, nb.width, nb.height);
        g_free(b->data);
        *b = nb;
    }
    if (b->len > cap)
        return rctx_fail(cx, ERR_TOOBIG, "image: its stored size would be out of proportion");
    return ERR_OK;
}

/* Text the watermark may carry: valid UTF-8, bounded, no control characters but newlines
 * (pango would draw them as boxes, and they have no business in evidence text). */
static enum err check_watermark(struct rctx *cx, const char *s)
{
    size_t n = strnlen(s, MEDIA_WATERMARK_MAX + 1);

    if (n > MEDIA_WATERMARK_MAX)
        return rctx_fail(cx, ERR_INVALID, "watermark: at most %d bytes", MEDIA_WATERMARK_MAX);
    if (!g_utf8_validate(s, (gssize)n, NULL))
        return rctx_fail(cx, ERR_INVALID, "watermark: not valid UTF-8");
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\n') || s[i] == 0x7f)
            return rctx_fail(cx, ERR_INVALID, "watermark: control characters are not allowed");
    if (!media.text) {
        log_error(cx, "image: a watermark was requested but text rendering is unavailable");
        return rctx_fail(cx, ERR_INTERNAL, "watermark: text rendering is unavailable");
    }
    return ERR_OK;
}

/* White text on a darkened box in the bottom-left corner, sized to the image. The text image
 * from vips_text is a 0..255 coverage mask, used as the blend factor between white and the
 * darkened photo; the result is inserted back. Lazy over the in-memory display image. */
static enum err draw_watermark(struct rctx *cx, VipsObject *ctx, VipsImage *in, const char *text,
                               VipsImage **out)
{
    VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 7);
    int w = vips_image_get_width(in), h = vips_image_get_height(in);
    int longest = w > h ? w : h;
    int size = longest / 55 > 12 ? longest / 55 : 12; /* 23 px on a 1280 display image */
    int pad = size / 3, margin = longest / 100 > 4 ? longest / 100 : 4;
    int room = w - 2 * margin - 2 * pad;
    int bw, bh, x, y, r;
    char font[32];
    char *markup;

    if (room < 4 * size)
        return rctx_fail(cx, ERR_INVALID, "watermark: a %dx%d photo is too small to carry it", w,
                         h);
    snprintf(font, sizeof font, "sans %d", size);
    /* vips_text takes Pango markup: a reporter named "<b>" must come out literally. */
    markup = g_markup_escape_text(text, -1);
    r = vips_text(&t[0], markup, "font", font, "width", room, "dpi", 72, NULL);
    g_free(markup);
    if (r)
        return vips_fail(cx, ERR_INTERNAL, "watermark text could not be rendered");
    bw = vips_image_get_width(t[0]) + 2 * pad;
    bh = vips_image_get_height(t[0]) + 2 * pad;
    if (bh > h - 2 * margin || bw > w - 2 * margin)
        return rctx_fail(cx, ERR_INVALID, "watermark: the text does not fit on a %dx%d photo", w,
                         h);
    x = margin;
    y = h - margin - bh;
    if (vips_extract_area(in, &t[1], x, y, bw, bh, NULL) ||
        vips_linear1(t[1], &t[2], 0.45, 0, "uchar", TRUE, NULL) ||
        vips_linear1(t[1], &t[3], 0, 255, "uchar", TRUE, NULL) ||
        vips_embed(t[0], &t[4], pad, pad, bw, bh, NULL) ||
        vips_ifthenelse(t[4], t[3], t[2], &t[5], "blend", TRUE, NULL) ||
        vips_insert(in, t[5], &t[6], x, y, NULL))
        return vips_fail(cx, ERR_INTERNAL, "watermark could not be drawn");
    *out = t[6];
    return ERR_OK;
}

/* One photo processed: cityd_media_image_* (outcome is a bounded set). */
static void count_image(enum err e, size_t in_len, const struct media_image_out *o, uint64_t t0)
{
    char lb[40];
    const char *outcome = e == ERR_OK         ? "ok"
                          : e == ERR_BUSY     ? "busy"
                          : e == ERR_INTERNAL ? "error"
                                              : "rejected";

    metrics_labels(lb, sizeof lb, "outcome", outcome, (const char *)NULL);
    metrics_inc(metrics_counter("cityd_media_image_jobs_total",
                                "Photos processed (decode, strip, renditions), by outcome.", lb));
    metrics_observe(metrics_histogram("cityd_media_image_duration_seconds",
                                      "Time to process one photo, waiting for a slot included.", "",
                                      NULL, 0),
                    (double)(clock_mono_ns() - t0) / 1e9);
    metrics_add(metrics_counter("cityd_media_image_input_bytes_total",
                                "Bytes of photos given to processing.", ""),
                in_len);
    if (o)
        metrics_add(metrics_counter("cityd_media_image_output_bytes_total",
                                    "Bytes of renditions produced (original, display, thumbnail).",
                                    ""),
                    o->original.len + o->display.len + o->thumb.len);
}

enum err media_image_process(struct rctx *cx, const void *buf, size_t len,
                             const struct media_image_opts *opts, struct media_image_out *out)
{
    static const struct media_image_opts defaults;
    uint64_t t0 = clock_mono_ns();
    struct media_image_out res = {0};
    VipsObject *ctx = NULL;
    VipsImage **t;
    VipsImage *im = NULL, *up, *disp;
    bool slot = false;
    enum err e;

    if (!opts)
        opts = &defaults;
    if (opts->watermark) {
        e = check_watermark(cx, opts->watermark);
        if (e)
            return e;
    }
    /* Every image of this call hangs off ctx, so one unref at out: releases them all. */
    ctx = VIPS_OBJECT(vips_image_new());
    t = (VipsImage **)vips_object_local_array(ctx, 8);

    /* The header checks cost a few ms and no memory: a pixel bomb or an SVG is turned away
     * before it can occupy a decoding slot. */
    e = open_checked(cx, buf, len, opts->max_pixels, &t[0], &res.info);
    if (e)
        goto out;
    e = slot_take(cx);
    if (e)
        goto out;
    slot = true;
    e = normalise(cx, ctx, t[0], &im);
    if (e)
        goto out;
    res.type = opts->format == MEDIA_OUT_WEBP ? MEDIA_TYPE_WEBP : MEDIA_TYPE_JPEG;
    if (res.info.type == MEDIA_TYPE_JPEG && res.info.orientation <= 1) {
        /* An upright JPEG needs no whole frame in memory: the original is encoded straight
         * from the decoder, strip by strip, and the renditions come from a second, shrunk
         * decode (JPEG shrink-on-load reads a quarter of the pixels). A 12 MP photo then
         * costs a few MiB of pixel buffers instead of 34 (bench/media.sh), for about a
         * quarter more decoding work. Truncated or corrupt data fails while encoding. */
        drop_metadata(im);
        e = encode(cx, im, opts->format, Q_ORIGINAL, false, &res.original);
        if (e) {
            e = vips_fail(cx, ERR_INVALID, "the image data is truncated or corrupt");
            goto out;
        }
        crashpoint_hit("media_processing"); /* test-only (testing.crash_at) */
        if (res.original.len > len * MEDIA_ORIGINAL_GROWTH &&
            res.original.len > MEDIA_ORIGINAL_FLOOR) {
            /* Rare (a JPEG saved at a very low quality): decode once more, into memory. */
            t[6] = vips_image_new_from_buffer(buf, len, "", NULL);
            if (!t[6]) {
                e = vips_fail(cx, ERR_INVALID, "the image data is truncated or corrupt");
                goto out;
            }
            e = normalise(cx, ctx, t[6], &im);
            if (e)
                goto out;
            t[7] = vips_image_copy_memory(im);
            if (!t[7]) {
                e = vips_fail(cx, ERR_INVALID, "the image data is truncated or corrupt");
                goto out;
            }
            drop_metadata(t[7]);
            e = bound_original(cx, t[7], opts->format, len, &res.original);
            if (e)
                goto out;
        }
        if (vips_thumbnail_buffer((void *)(uintptr_t)buf, len, &t[1], MEDIA_IMAGE_DISPLAY_SIDE,
                                  "height", MEDIA_IMAGE_DISPLAY_SIDE, "size", VIPS_SIZE_DOWN,
                                  "option_string", "fail_on=truncated", NULL)) {
            e = vips_fail(cx, ERR_INVALID, "the image data is truncated or corrupt");
            goto out;
        }
        e = normalise(cx, ctx, t[1], &im);
        if (e)
            goto out;
        t[4] = vips_image_copy_memory(im);
        if (!t[4]) {
            e = vips_fail(cx, ERR_INVALID, "the image data is truncated or corrupt");
            goto out;
        }
        drop_metadata(t[4]);
    } else {
        /* The one decode. Truncated or corrupt pixel data fails here, not as grey fill. */
        t[1] = vips_image_copy_memory(im);
        if (!t[1]) {
            e = vips_fail(cx, ERR_INVALID, "the image data is truncated or corrupt");
            goto out;
        }
        drop_metadata(t[1]);
        /* Upright, and the orientation tag is gone, so thumbnailing below does not turn it
         * again. Rotating an in-memory image is cheap and needs no second decode. */
        if (vips_autorot(t[1], &t[2], NULL)) {
            e = vips_fail(cx, ERR_INTERNAL, "rotation failed");
            goto out;
        }
        up = t[2];
        /* No Huffman optimisation for the full-size original: on a 12 MP noisy photo it costs
         * 290 ms (a second pass) to save 9 %; the renditions, served often, are small enough
         * for it to cost almost nothing. */
        e = encode(cx, up, opts->format, Q_ORIGINAL, false, &res.original);
        if (!e)
            e = bound_original(cx, up, opts->format, len, &res.original);
        if (e)
            goto out;
        if (vips_thumbnail_image(up, &t[3], MEDIA_IMAGE_DISPLAY_SIDE, "height",
                                 MEDIA_IMAGE_DISPLAY_SIDE, "size", VIPS_SIZE_DOWN, NULL)) {
            e = vips_fail(cx, ERR_INTERNAL, "resizing failed");
            goto out;
        }
        t[4] = vips_image_copy_memory(t[3]);
        if (!t[4]) {
            e = vips_fail(cx, ERR_INTERNAL, "resizing failed");
            goto out;
        }
    }
    disp = t[4];
    if (opts->watermark) {
        e = draw_watermark(cx, ctx, t[4], opts->watermark, &disp);
        if (e)
            goto out;
    }
    e = encode(cx, disp, opts->format, Q_DISPLAY, true, &res.display);
    if (e)
        goto out;

    /* From the clean display pixels: no second decode, and no unreadable watermark. */
    if (vips_thumbnail_image(t[4], &t[5], MEDIA_IMAGE_THUMB_SIDE, "height", MEDIA_IMAGE_THUMB_SIDE,
                             "size", VIPS_SIZE_DOWN, NULL)) {
        e = vips_fail(cx, ERR_INTERNAL, "resizing failed");
        goto out;
    }
    e = encode(cx, t[5], opts->format, Q_THUMB, true, &res.thumb);
    if (e)
        goto out;
    *out = res;
    memset(&res, 0, sizeof res);
out:
    count_image(e, len, e ? NULL : out, t0);
    media_image_out_dispose(&res);
    if (ctx)
        g_object_unref(ctx);
    if (slot)
        slot_give();
    return e;
}

void media_image_out_dispose(struct media_image_out *out)
{
    /* The buffers come from libvips' savers, which allocate with g_malloc. */
    g_free(out->original.data);
    g_free(out->display.data);
    g_free(out->thumb.data);
    memset(out, 0, sizeof *out);
}
