/* media/sniff.h: what an uploaded file is, decided from its bytes, and how long a voice clip is.
 *
 * Owns the allowlist of upload types: JPEG, PNG, WebP and HEIC/HEIF photos; AMR-NB/WB, AAC (or
 * AMR) in MP4/M4A/3GP, Ogg Opus/Vorbis and MP3 voice clips. The type comes from magic bytes only:
 * never from a Content-Type header or a file name, which the client chooses.
 *
 * The voice parsers are small and bounded: they read only inside [buf, buf + len), walk each box,
 * page or frame once and never allocate, so any byte string is safe input. They check structure
 * and duration, not audio quality; clients play the stored bytes as they were uploaded.
 *
 * Must not: use libvips, the database, HTTP or jansson; trust anything but the bytes. */
#ifndef CITYD_MEDIA_SNIFF_H
#define CITYD_MEDIA_SNIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"

struct rctx;

enum media_type {
    MEDIA_TYPE_NONE = 0, /* not on the allowlist (SVG, PDF, TIFF, ZIP, GIF, empty ...) */
    MEDIA_TYPE_JPEG,
    MEDIA_TYPE_PNG,
    MEDIA_TYPE_WEBP,
    MEDIA_TYPE_HEIF, /* HEIC, HEIF and AVIF stills: ISO BMFF with an image brand */
    MEDIA_TYPE_AMR,  /* AMR-NB, "#!AMR\n" */
    MEDIA_TYPE_AMR_WB,
    MEDIA_TYPE_M4A, /* ISO BMFF with an audio brand: AAC or AMR in M4A, MP4 or 3GP */
    MEDIA_TYPE_OGG, /* Ogg Opus or Ogg Vorbis */
    MEDIA_TYPE_MP3,
};

/* Longest voice clip accepted. */
#define MEDIA_VOICE_MAX_MS (10 * 60 * 1000)

/* What media_voice_probe found. */
struct media_voice_info {
    enum media_type type;
    uint32_t duration_ms;
};

/* The type of buf[0..len) judged from its leading bytes (and, for MP3 without an ID3 tag, the
 * second frame header); MEDIA_TYPE_NONE for anything not on the allowlist, including len == 0.
 * Pure; buf is borrowed. A JPEG followed by other data (a motion photo, a JPEG+ZIP polyglot) is
 * still JPEG here: media_image_process re-encodes it, so whatever trails the image is dropped. */
enum media_type media_sniff(const void *buf, size_t len);

/* True for the four photo types, false for voice types and MEDIA_TYPE_NONE. */
bool media_type_is_image(enum media_type t);
/* True for the five voice types. */
bool media_type_is_voice(enum media_type t);
/* MIME type ("image/jpeg", "audio/mp4" ...), "application/octet-stream" for NONE. Static. */
const char *media_type_mime(enum media_type t);
/* File extension without the dot ("jpg", "m4a" ...), "bin" for NONE. Static. */
const char *media_type_ext(enum media_type t);

/* Check that buf is a voice clip and measure it. On success fills *out and returns ERR_OK.
 * ERR_MEDIATYPE: not one of the voice types (a photo, a video in MP4, an unsupported codec);
 * ERR_INVALID: the structure is broken or truncated, the duration cannot be found or is zero,
 * or it exceeds MEDIA_VOICE_MAX_MS. The message (rctx_fail) says which. buf is borrowed. */
MUST_CHECK enum err media_voice_probe(struct rctx *cx, const void *buf, size_t len,
                                      struct media_voice_info *out);

/* Drop what the container carries besides the sound, in place, for a clip that passed
 * media_voice_probe; returns the new length (<= len). The stored clip is then served without
 * container metadata (recording device, encoder settings, titles, location):
 * - MP3: leading ID3v2 tags, a trailing ID3v1 tag and a trailing APEv2 tag are cut;
 * - MP4/M4A/3GP: every udta, meta, uuid and XMP_ box at the top level and inside moov, trak
 *   and mdia becomes a zero-filled free box of the same size (no offset moves, so the sample
 *   tables stay valid);
 * - Ogg Opus/Vorbis: the comment header keeps its vendor string and loses every comment (the
 *   freed bytes become zero padding, the page CRC is recomputed) when it lies in one page, as
 *   encoders write it;
 * - AMR has no metadata. */
size_t media_voice_strip(uint8_t *buf, size_t len, enum media_type t);

#endif
