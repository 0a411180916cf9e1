/* media/image.h: the hardened libvips pipeline for uploaded photos.
 *
 * Owns libvips for the whole process: its start-up policy (media_init), the loaders allowed to
 * see untrusted bytes (JPEG, PNG, WebP and, when Debian's libvips has it, HEIF), the pixel
 * limits checked from the header before any pixel is decoded, and the re-encoding that strips
 * every piece of metadata (EXIF with GPS, XMP, IPTC, ICC) from what cityd serves.
 *
 * Invariants:
 * - the loader is chosen by media_sniff(), never by libvips' own guess or a client's label;
 * - a photo is decoded at most once per call, with fail_on=truncated, and only after the
 *   header has passed the size limits; only page 0 of multi-page files is read;
 * - at most max_concurrency media_image_process calls decode at the same time (RSS bound:
 *   70-85 MB each for a 12 MP photo, measured); callers beyond that wait, then get ERR_BUSY;
 * - no VipsImage (nor any other libvips object) outlives a call or leaves media/: results are
 *   plain bytes and numbers.
 *
 * Threads: media_init runs once on the main thread before any worker starts; afterwards any
 * thread may call probe and process. A worker thread calls media_thread_done() after a job (or
 * before it exits) to drop libvips' per-thread buffers.
 *
 * Must not: use the database, HTTP, h2o or jansson; write files (store.h does that); decide
 * product rules (who may upload, what the watermark says). */
#ifndef CITYD_MEDIA_IMAGE_H
#define CITYD_MEDIA_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "media/sniff.h"

struct rctx;

/* Default pixel budget when a caller passes 0. It admits the full-resolution mode of 50 MP
 * phone sensors (8160 x 6144 = 50.1 MP); decoded, such a photo takes about 150 MB. */
#define MEDIA_IMAGE_MAX_PIXELS 52000000u
/* Longest side accepted whatever the pixel budget (panoramas are narrow but long). */
#define MEDIA_IMAGE_MAX_SIDE 20000
/* Longest side of the display and thumbnail renditions; smaller photos are not enlarged. */
#define MEDIA_IMAGE_DISPLAY_SIDE 1280
/* The stored original takes at most this many times the upload's bytes, and never less than
 * the floor may be allowed (issue 17 item 2): beyond, it is encoded again smaller. */
#define MEDIA_ORIGINAL_GROWTH 2
#define MEDIA_ORIGINAL_FLOOR (1u << 20)
#define MEDIA_IMAGE_THUMB_SIDE 320
/* Longest watermark text accepted, in bytes of UTF-8. */
#define MEDIA_WATERMARK_MAX 256

/* Start libvips with cityd's policy: VIPS_INIT, every loader blocked except JPEG, PNG, WebP
 * and HEIF (if present), operation cache off, one libvips thread per pipeline, and at most
 * max_concurrency (>= 1) concurrent media_image_process calls. Also checks once whether text
 * can be rendered for watermarks (media_image_can_watermark). Call once, before any thread
 * uses this module. ERR_INTERNAL (logged) when libvips cannot start; ERR_INVALID when
 * max_concurrency < 1. */
MUST_CHECK enum err media_init(int max_concurrency);
/* Shut libvips down at process exit, after every worker has stopped. Safe if init failed. */
void media_shutdown(void);
/* Free libvips' buffers of the calling thread; for worker threads, after each job or at exit. */
void media_thread_done(void);
/* True when this libvips can decode HEIC/HEIF (Debian's ships it as a module). */
bool media_image_has_heif(void);
/* True when text can be drawn for watermarks (pango and a font with CJK glyphs). */
bool media_image_can_watermark(void);

/* What the header of a photo says. */
struct media_image_info {
    enum media_type type;
    int width; /* as stored, before the EXIF rotation */
    int height;
    int orientation; /* EXIF orientation 1..8; 1 when absent or out of range */
    int pages;       /* pages or frames in the file; only page 0 is ever decoded */
    bool has_time;
    char taken_at[20]; /* "YYYY-MM-DD HH:MM:SS", the camera's local time (EXIF has no zone) */
    bool has_gps;
    double lat; /* WGS-84 as the phone recorded it, signed decimal degrees (S and W < 0) */
    double lng;
};

/* Read the header of a photo without decoding pixels (a few ms even for a pixel bomb).
 * max_pixels 0 means MEDIA_IMAGE_MAX_PIXELS. On success fills *info.
 * ERR_MEDIATYPE: not JPEG/PNG/WebP/HEIF by its magic bytes (or HEIF without a loader);
 * ERR_TOOBIG: width * height > max_pixels or a side > MEDIA_IMAGE_MAX_SIDE, the message gives
 * the dimensions; ERR_INVALID: the header is corrupt. buf is borrowed for the call. Metadata
 * that is missing or malformed (a bad GPS rational, an impossible date) is left out, not an
 * error: it comes from the phone, not from the user. */
MUST_CHECK enum err media_image_probe(struct rctx *cx, const void *buf, size_t len,
                                      uint64_t max_pixels, struct media_image_info *info);

enum media_out_format {
    MEDIA_OUT_JPEG = 0, /* the default: every phone and browser shows it */
    MEDIA_OUT_WEBP,
};

/* Options of media_image_process; a zeroed struct gives the defaults. */
struct media_image_opts {
    uint64_t max_pixels; /* 0: MEDIA_IMAGE_MAX_PIXELS */
    enum media_out_format format;
    /* Evidence text drawn on the display rendition only (time · place · reporter), UTF-8,
     * at most MEDIA_WATERMARK_MAX bytes, newlines allowed; NULL for none. Drawn as plain
     * text: Pango markup in it is escaped. Borrowed. */
    const char *watermark;
};

/* One encoded rendition. data is owned by the enclosing media_image_out. */
struct media_image_blob {
    unsigned char *data;
    size_t len;
    int width; /* upright: after the EXIF rotation */
    int height;
};

/* The result of media_image_process. */
struct media_image_out {
    struct media_image_info info;     /* the header, as media_image_probe reports it */
    enum media_type type;             /* MEDIA_TYPE_JPEG or MEDIA_TYPE_WEBP: the renditions' type */
    struct media_image_blob original; /* full size, quality 90; smaller over its bound */
    struct media_image_blob display;  /* longest side <= 1280, watermark if requested */
    struct media_image_blob thumb;    /* longest side <= 320, made from the display pixels */
};

/* Decode a photo once (fail_on=truncated), turn it upright by its EXIF orientation, convert
 * it to 8-bit sRGB (alpha flattened on white) and encode the three renditions with all
 * metadata stripped. Bytes after the end of the image (motion-photo video, a JPEG+ZIP
 * polyglot's archive) are accepted and dropped by the re-encoding. opts may be NULL.
 * On success *out owns three buffers: release them with media_image_out_dispose.
 * Errors: those of media_image_probe; ERR_INVALID when the pixel data is truncated or corrupt
 * or the watermark is not valid UTF-8, too long, or does not fit on the photo; ERR_BUSY when
 * no decoding slot freed up in time; ERR_INTERNAL (logged) when libvips fails otherwise or a
 * watermark was requested but text cannot be rendered. On error *out is untouched. */
MUST_CHECK enum err media_image_process(struct rctx *cx, const void *buf, size_t len,
                                        const struct media_image_opts *opts,
                                        struct media_image_out *out);

/* Free the buffers of a successful media_image_process and zero *out; a zeroed out is a no-op. */
void media_image_out_dispose(struct media_image_out *out);

#endif
