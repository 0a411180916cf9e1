/* tests/unit/test_media_sniff.c: media/sniff.c — magic-byte sniffing and voice durations.
 *
 * Every fixture is built byte by byte here (AMR frames, Ogg pages, MP4 boxes, MPEG frames), so
 * the expected duration follows from the construction, not from another parser. The last
 * tests cut and flip every fixture to show the parsers stay inside the buffer (run under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "media/sniff.h"
#include "server/core/rctx.h"

/* A growable byte buffer for building fixtures. */
struct bb {
    unsigned char *p;
    size_t n;
    size_t cap;
};

static void bb_put(struct bb *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void bb_str(struct bb *b, const char *s)
{
    bb_put(b, s, strlen(s));
}

static void bb_u8(struct bb *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    bb_put(b, &c, 1);
}

static void bb_fill(struct bb *b, unsigned v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bb_u8(b, v);
}

static void bb_be32(struct bb *b, uint32_t v)
{
    unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    bb_put(b, c, 4);
}

static void bb_le(struct bb *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        bb_u8(b, (unsigned)(v >> (8 * i)) & 0xFF);
}

static void bb_free(struct bb *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* MP4 boxes: begin writes a size placeholder, end patches it. */
static size_t box_begin(struct bb *b, const char *type)
{
    size_t at = b->n;
    bb_be32(b, 0);
    bb_put(b, type, 4);
    return at;
}

static void box_end(struct bb *b, size_t at)
{
    uint32_t size = (uint32_t)(b->n - at);
    b->p[at] = (unsigned char)(size >> 24);
    b->p[at + 1] = (unsigned char)(size >> 16);
    b->p[at + 2] = (unsigned char)(size >> 8);
    b->p[at + 3] = (unsigned char)size;
}

/* One Ogg page holding one whole packet (body < 255 * 255). */
static void ogg_page(struct bb *b, unsigned htype, uint64_t granule, uint32_t serial, uint32_t seq,
                     const void *body, size_t len)
{
    size_t full = len / 255;

    bb_str(b, "OggS");
    bb_u8(b, 0);
    bb_u8(b, htype);
    bb_le(b, granule, 8);
    bb_le(b, serial, 4);
    bb_le(b, seq, 4);
    bb_le(b, 0, 4); /* CRC: not checked by the parser */
    bb_u8(b, (unsigned)full + 1);
    bb_fill(b, 255, full);
    bb_u8(b, (unsigned)(len % 255));
    bb_put(b, body, len);
}

static enum err probe(const struct bb *b, struct media_voice_info *vi, char *msg, size_t cap)
{
    struct rctx cx;
    enum err e;

    rctx_init(&cx);
    e = media_voice_probe(&cx, b->p, b->n, vi);
    if (msg)
        snprintf(msg, cap, "%s", cx.err.message);
    rctx_dispose(&cx);
    return e;
}

/* ---- fixtures ---- */

static void make_amr(struct bb *b, bool wb, unsigned ft, size_t frames)
{
    static const uint8_t nb[16] = {13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t wbs[16] = {18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 1, 1, 1, 1, 1, 1};
    size_t size = wb ? wbs[ft] : nb[ft];

    bb_str(b, wb ? "#!AMR-WB\n" : "#!AMR\n");
    for (size_t i = 0; i < frames; i++) {
        bb_u8(b, ft << 3 | 0x04); /* Q bit set, padding bits clear */
        bb_fill(b, 0x5A, size - 1);
    }
}

static void make_opus(struct bb *b, uint64_t last_granule, uint32_t second_serial)
{
    unsigned char head[19] = {'O',  'p',  'u', 's', 'H', 'e', 'a', 'd', 1, 1, 0x38, 0x01, /* 312 */
                              0x80, 0xBB, 0,   0,   0,   0,   0};
    unsigned char tags[16] = {'O', 'p', 'u', 's', 'T', 'a', 'g', 's', 0, 0, 0, 0, 0, 0, 0, 0};
    unsigned char audio[300];

    memset(audio, 0x11, sizeof audio);
    ogg_page(b, 0x02, 0, 7, 0, head, sizeof head);
    ogg_page(b, 0x00, 0, 7, 1, tags, sizeof tags);
    ogg_page(b, 0x00, UINT64_MAX, 7, 2, audio, sizeof audio); /* no packet ends: granule -1 */
    ogg_page(b, 0x00, last_granule / 2, 7, 3, audio, sizeof audio);
    ogg_page(b, 0x04, last_granule, second_serial, 4, audio, 100);
}

/* ftyp + mdat + moov(mvhd, trak(mdia(hdlr, minf(stbl(stsd))))): moov at the end, as phones
 * write it. */
static void make_mp4(struct bb *b, const char *brand, const char *handler, const char *codec,
                     uint32_t timescale, uint32_t duration)
{
    size_t ftyp, mdat, moov, mvhd, trak, mdia, hdlr, minf, stbl, stsd, entry;

    ftyp = box_begin(b, "ftyp");
    bb_str(b, brand);
    bb_be32(b, 0);
    bb_str(b, "isomM4A ");
    box_end(b, ftyp);
    mdat = box_begin(b, "mdat");
    bb_fill(b, 0x21, 2000);
    box_end(b, mdat);
    moov = box_begin(b, "moov");
    mvhd = box_begin(b, "mvhd");
    bb_be32(b, 0); /* version 0, flags */
    bb_be32(b, 0); /* creation */
    bb_be32(b, 0); /* modification */
    bb_be32(b, timescale);
    bb_be32(b, duration);
    bb_fill(b, 0, 80);
    box_end(b, mvhd);
    trak = box_begin(b, "trak");
    mdia = box_begin(b, "mdia");
    hdlr = box_begin(b, "hdlr");
    bb_be32(b, 0);
    bb_be32(b, 0);
    bb_str(b, handler);
    bb_fill(b, 0, 13);
    box_end(b, hdlr);
    minf = box_begin(b, "minf");
    stbl = box_begin(b, "stbl");
    stsd = box_begin(b, "stsd");
    bb_be32(b, 0);
    bb_be32(b, 1);
    entry = box_begin(b, codec);
    bb_fill(b, 0, 28);
    box_end(b, entry);
    box_end(b, stsd);
    box_end(b, stbl);
    box_end(b, minf);
    box_end(b, mdia);
    box_end(b, trak);
    box_end(b, moov);
}

/* A fragmented M4A: moov describes the track (durations 0), and two moof fragments carry
 * 100 samples at trex's default duration and 50 with their own, all 1024 ticks of 48 kHz. */
static void make_mp4_fragmented(struct bb *b)
{
    size_t ftyp, moov, x, trak, mdia, minf, stbl, stsd, entry, mvex, moof, traf, y;

    ftyp = box_begin(b, "ftyp");
    bb_str(b, "iso5");
    bb_be32(b, 0);
    bb_str(b, "iso6mp41");
    box_end(b, ftyp);
    moov = box_begin(b, "moov");
    x = box_begin(b, "mvhd");
    bb_be32(b, 0);
    bb_be32(b, 0);
    bb_be32(b, 0);
    bb_be32(b, 1000);
    bb_be32(b, 0); /* duration unknown */
    bb_fill(b, 0, 80);
    box_end(b, x);
    trak = box_begin(b, "trak");
    x = box_begin(b, "tkhd");
    bb_be32(b, 0);
    bb_be32(b, 0);
    bb_be32(b, 0);
    bb_be32(b, 1); /* track_ID */
    bb_fill(b, 0, 68);
    box_end(b, x);
    mdia = box_begin(b, "mdia");
    x = box_begin(b, "mdhd");
    bb_be32(b, 0);
    bb_be32(b, 0);
    bb_be32(b, 0);
    bb_be32(b, 48000);
    bb_be32(b, 0);
    bb_be32(b, 0);
    box_end(b, x);
    x = box_begin(b, "hdlr");
    bb_be32(b, 0);
    bb_be32(b, 0);
    bb_str(b, "soun");
    bb_fill(b, 0, 13);
    box_end(b, x);
    minf = box_begin(b, "minf");
    stbl = box_begin(b, "stbl");
    stsd = box_begin(b, "stsd");
    bb_be32(b, 0);
    bb_be32(b, 1);
    entry = box_begin(b, "mp4a");
    bb_fill(b, 0, 28);
    box_end(b, entry);
    box_end(b, stsd);
    box_end(b, stbl);
    box_end(b, minf);
    box_end(b, mdia);
    box_end(b, trak);
    mvex = box_begin(b, "mvex");
    x = box_begin(b, "trex");
    bb_be32(b, 0);
    bb_be32(b, 1);    /* track_ID */
    bb_be32(b, 1);    /* sample description index */
    bb_be32(b, 1024); /* default sample duration */
    bb_be32(b, 0);
    bb_be32(b, 0);
    box_end(b, x);
    box_end(b, mvex);
    box_end(b, moov);
    for (int frag = 0; frag < 2; frag++) {
        moof = box_begin(b, "moof");
        traf = box_begin(b, "traf");
        x = box_begin(b, "tfhd");
        bb_be32(b, frag == 0 ? 0x020000 : 0x020008); /* default-base-is-moof (+ duration) */
        bb_be32(b, 1);
        if (frag == 1)
            bb_be32(b, 1024);
        box_end(b, x);
        y = box_begin(b, "trun");
        if (frag == 0) {
            bb_be32(b, 0x000201); /* data offset, per-sample sizes */
            bb_be32(b, 100);
            bb_be32(b, 0);
            for (int i = 0; i < 100; i++)
                bb_be32(b, 6);
        } else {
            bb_be32(b, 0x000300); /* per-sample durations and sizes */
            bb_be32(b, 50);
            for (int i = 0; i < 50; i++) {
                bb_be32(b, 1024);
                bb_be32(b, 6);
            }
        }
        box_end(b, y);
        box_end(b, traf);
        box_end(b, moof);
        x = box_begin(b, "mdat");
        bb_fill(b, 0x21, frag == 0 ? 600 : 300);
        box_end(b, x);
    }
}

/* MPEG-1 layer III, 128 kbit/s, 44.1 kHz, stereo: 417-byte frames without padding. */
#define MP3_FRAME 417

static void mp3_frame(struct bb *b, const char *xing, uint32_t frames)
{
    size_t start = b->n;

    bb_u8(b, 0xFF);
    bb_u8(b, 0xFB);
    bb_u8(b, 0x90);
    bb_u8(b, 0x00);
    if (xing) {
        bb_fill(b, 0, 32); /* side information */
        bb_str(b, xing);
        bb_be32(b, 1); /* flags: frame count present */
        bb_be32(b, frames);
    }
    bb_fill(b, 0x55, MP3_FRAME - (b->n - start));
}

/* VBR without a Xing header: 128 and 64 kbit/s frames alternate (417 and 208 bytes). */
static void make_mp3_vbr(struct bb *b, size_t frames)
{
    for (size_t i = 0; i < frames; i++) {
        size_t start = b->n;
        bb_u8(b, 0xFF);
        bb_u8(b, 0xFB);
        bb_u8(b, i % 2 ? 0x50 : 0x90);
        bb_u8(b, 0x00);
        bb_fill(b, 0x55, (i % 2 ? 208 : 417) - (b->n - start));
    }
}

static void make_mp3(struct bb *b, bool id3, const char *xing, uint32_t xing_frames, size_t frames)
{
    if (id3) {
        bb_str(b, "ID3");
        bb_u8(b, 4);
        bb_u8(b, 0);
        bb_u8(b, 0);
        bb_u8(b, 0);
        bb_u8(b, 0);
        bb_u8(b, 1);
        bb_u8(b, 0); /* syncsafe size 128 */
        bb_fill(b, 0, 128);
    }
    if (xing)
        mp3_frame(b, xing, xing_frames);
    for (size_t i = 0; i < frames; i++)
        mp3_frame(b, NULL, 0);
}

/* ---- sniffing ---- */

static void test_sniff_images(void **state)
{
    static const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F'};
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    static const char webp[] = "RIFF\x10\0\0\0WEBPVP8 ";
    static const char heic[] = "\0\0\0\x18"
                               "ftypheic\0\0\0\0mif1heic";
    static const char mif1[] = "\0\0\0\x18"
                               "ftypmif1\0\0\0\0mif1heic";
    static const char avif[] = "\0\0\0\x1c"
                               "ftypavif\0\0\0\0avifmif1miaf";
    (void)state;

    assert_int_equal(media_sniff(jpeg, sizeof jpeg), MEDIA_TYPE_JPEG);
    assert_int_equal(media_sniff(png, sizeof png), MEDIA_TYPE_PNG);
    assert_int_equal(media_sniff(webp, sizeof webp - 1), MEDIA_TYPE_WEBP);
    assert_int_equal(media_sniff(heic, sizeof heic - 1), MEDIA_TYPE_HEIF);
    assert_int_equal(media_sniff(mif1, sizeof mif1 - 1), MEDIA_TYPE_HEIF);
    assert_int_equal(media_sniff(avif, sizeof avif - 1), MEDIA_TYPE_HEIF);
    assert_true(media_type_is_image(MEDIA_TYPE_HEIF));
    assert_false(media_type_is_image(MEDIA_TYPE_MP3));
    assert_string_equal(media_type_mime(MEDIA_TYPE_JPEG), "image/jpeg");
    assert_string_equal(media_type_ext(MEDIA_TYPE_M4A), "m4a");
}

/* Everything off the allowlist, whatever a client might call it. */
#define LIT(s)                                                                                     \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
static void test_sniff_rejects_others(void **state)
{
    static const struct {
        const char *p;
        size_t n;
    } others[] = {
        LIT("<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
        LIT("<?xml version=\"1.0\"?><svg/>"),
        LIT("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
        LIT("II*\0\x08\0\0\0"),
        LIT("MM\0*\0\0\0\x08"),
        LIT("PK\x03\x04\x14\0\0\0"),
        LIT("GIF89a\x01\0\x01\0"),
        LIT("BM\x3a\0\0\0\0\0"),
        LIT("\0\0\0\x14"
            "ftypqt  \0\0\0\0qt  "), /* QuickTime video */
        LIT("\0\0\0\x14"
            "ftypcrx \0\0\0\0crx "),           /* Canon raw */
        LIT("#!AMR_MC1.0\n"),                  /* multichannel AMR */
        LIT("\xFF\xF1\x50\x80\x02\x1F\xFC"),   /* ADTS AAC: layer bits 00 */
        LIT("\xFF\xFB\x90\x00 and then text"), /* one MPEG header, no second frame */
        LIT("hello, world"),
    };
    (void)state;

    assert_int_equal(media_sniff("", 0), MEDIA_TYPE_NONE);
    assert_int_equal(media_sniff("\xFF\xD8", 2), MEDIA_TYPE_NONE);
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        assert_int_equal(media_sniff(others[i].p, others[i].n), MEDIA_TYPE_NONE);
}

static void test_sniff_voice(void **state)
{
    struct bb b = {0};
    (void)state;

    make_amr(&b, false, 7, 3);
    assert_int_equal(media_sniff(b.p, b.n), MEDIA_TYPE_AMR);
    bb_free(&b);
    make_amr(&b, true, 8, 3);
    assert_int_equal(media_sniff(b.p, b.n), MEDIA_TYPE_AMR_WB);
    bb_free(&b);
    make_opus(&b, 48000, 7);
    assert_int_equal(media_sniff(b.p, b.n), MEDIA_TYPE_OGG);
    bb_free(&b);
    make_mp4(&b, "M4A ", "soun", "mp4a", 1000, 1000);
    assert_int_equal(media_sniff(b.p, b.n), MEDIA_TYPE_M4A);
    bb_free(&b);
    make_mp3(&b, true, NULL, 0, 2);
    assert_int_equal(media_sniff(b.p, b.n), MEDIA_TYPE_MP3);
    bb_free(&b);
    make_mp3(&b, false, NULL, 0, 3);
    assert_int_equal(media_sniff(b.p, b.n), MEDIA_TYPE_MP3);
    assert_true(media_type_is_voice(MEDIA_TYPE_MP3));
    bb_free(&b);
}

/* ---- durations ---- */

static void test_voice_amr_nb(void **state)
{
    struct bb b = {0};
    struct media_voice_info vi;
    (void)state;

    make_amr(&b, false, 7, 150); /* 12.2 kbit/s frames */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.type, MEDIA_TYPE_AMR);
    assert_int_equal(vi.duration_ms, 150 * 20);
    bb_free(&b);
}

static void test_voice_amr_wb(void **state)
{
    struct bb b = {0};
    struct media_voice_info vi;
    (void)state;

    make_amr(&b, true, 2, 500);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.type, MEDIA_TYPE_AMR_WB);
    assert_int_equal(vi.duration_ms, 10000);
    bb_free(&b);
}

static void test_voice_amr_broken(void **state)
{
    struct bb b = {0};
    struct media_voice_info vi;
    char msg[RCTX_MSG_MAX];
    (void)state;

    make_amr(&b, false, 7, 10);
    b.n -= 5; /* cut inside the last frame */
    assert_int_equal(probe(&b, &vi, msg, sizeof msg), ERR_INVALID);
    assert_non_null(strstr(msg, "truncated"));
    bb_free(&b);

    make_amr(&b, false, 7, 10);
    b.p[6 + 32 * 4] |= 0x80; /* padding bit of the fifth frame header */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_INVALID);
    bb_free(&b);

    bb_str(&b, "#!AMR\n"); /* magic only: an empty recording */
    assert_int_equal(probe(&b, &vi, msg, sizeof msg), ERR_INVALID);
    assert_non_null(strstr(msg, "empty"));
    bb_free(&b);
}

static void test_voice_too_long(void **state)
{
    struct bb b = {0};
    struct media_voice_info vi;
    char msg[RCTX_MSG_MAX];
    (void)state;

    /* 30001 one-byte NO_DATA frames: 10 min 0.02 s in 30 KB. */
    make_amr(&b, false, 15, 30001);
    assert_int_equal(probe(&b, &vi, msg, sizeof msg), ERR_INVALID);
    assert_non_null(strstr(msg, "at most 600 s"));
    bb_free(&b);

    make_amr(&b, false, 15, 30000); /* exactly 10 minutes is allowed */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.duration_ms, MEDIA_VOICE_MAX_MS);
    bb_free(&b);

    make_opus(&b, (uint64_t)48000 * 3600 + 312, 7); /* an hour, claimed by the granule */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_INVALID);
    bb_free(&b);
}

static void test_voice_ogg_opus(void **state)
{
    struct bb b = {0};
    struct media_voice_info vi;
    (void)state;

    make_opus(&b, (uint64_t)48000 * 5 + 312, 7); /* 5 s after the 312-sample pre-skip */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.type, MEDIA_TYPE_OGG);
    assert_int_equal(vi.duration_ms, 5000);
    bb_free(&b);
}

static void test_voice_ogg_broken(void **state)
{
    struct bb b = {0};
    struct media_voice_info vi;
    (void)state;

    make_opus(&b, 48000 * 2, 8); /* last page from another logical stream */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_MEDIATYPE);
    bb_free(&b);

    make_opus(&b, 48000 * 2, 7);
    b.n -= 50; /* the last page's body is cut short */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_INVALID);
    bb_free(&b);

    ogg_page(&b, 0x02, 0, 1, 0, "\x80theora", 7); /* video */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_MEDIATYPE);
    bb_free(&b);
}

static void test_voice_m4a(void **state)
{
    struct bb b = {0};
    struct media_voice_info vi;
    (void)state;

    make_mp4(&b, "M4A ", "soun", "mp4a", 44100, 44100 * 7 + 22050);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.type, MEDIA_TYPE_M4A);
    assert_int_equal(vi.duration_ms, 7500);
    bb_free(&b);

    make_mp4(&b, "3gp4", "soun", "samr", 8000, 8000 * 3); /* AMR in 3GP, as older phones do */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.duration_ms, 3000);
    bb_free(&b);

    make_mp4_fragmented(&b); /* 150 samples * 1024 / 48 kHz = 3.2 s */
    assert_int_equal(media_sniff(b.p, b.n), MEDIA_TYPE_M4A);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.duration_ms, 3200);
    bb_free(&b);
}

static void test_voice_mp4_rejects(void **state)
{
    struct bb b = {0};
    struct media_voice_info vi;
    char msg[RCTX_MSG_MAX];
    (void)state;

    make_mp4(&b, "mp42", "vide", "avc1", 600, 6000);
    assert_int_equal(probe(&b, &vi, msg, sizeof msg), ERR_MEDIATYPE);
    assert_non_null(strstr(msg, "video"));
    bb_free(&b);

    make_mp4(&b, "M4A ", "soun", "alac", 1000, 1000);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_MEDIATYPE);
    bb_free(&b);

    make_mp4(&b, "M4A ", "soun", "mp4a", 1000, 0); /* fragmented-style: no duration */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_INVALID);
    bb_free(&b);

    make_mp4(&b, "M4A ", "soun", "mp4a", 1000, 1000);
    b.n -= 10; /* moov cut short: its size now runs past the end */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_INVALID);
    bb_free(&b);
}

static void test_voice_mp3(void **state)
{
    struct bb b = {0};
    struct media_voice_info vi;
    (void)state;

    /* Xing header counting 1000 frames of 1152 samples at 44.1 kHz: 26.122 s. */
    make_mp3(&b, true, "Xing", 1000, 5);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.type, MEDIA_TYPE_MP3);
    assert_int_equal(vi.duration_ms, 26122);
    bb_free(&b);

    /* No header: CBR estimate, 40 frames * 417 bytes * 8 / 128 kbit/s = 1042 ms. */
    /* No header, CBR: 40 frames of 1152 samples at 44.1 kHz = 1044 ms. */
    make_mp3(&b, false, NULL, 0, 40);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.duration_ms, 40 * 1152 * 1000 / 44100);
    bb_free(&b);

    /* VBR without a header: the frame walk counts 40 frames too, where the first frame's
     * bitrate alone would estimate 40 * 312.5 bytes * 8 / 128 = 781 ms. */
    make_mp3_vbr(&b, 40);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.duration_ms, 40 * 1152 * 1000 / 44100);
    bb_free(&b);

    /* Junk after the first frames stops the walk early: the byte-count estimate is used. */
    make_mp3(&b, false, NULL, 0, 4);
    bb_fill(&b, 0x00, 40 * MP3_FRAME);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.duration_ms, 44 * MP3_FRAME * 8 / 128);
    bb_free(&b);
}

static void test_voice_rejects_images_and_junk(void **state)
{
    static const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F'};
    struct bb b = {0};
    struct media_voice_info vi;
    (void)state;

    bb_put(&b, jpeg, sizeof jpeg);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_MEDIATYPE);
    bb_free(&b);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_MEDIATYPE); /* zero bytes */
    bb_str(&b, "%PDF-1.4");
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_MEDIATYPE);
    bb_free(&b);
}

/* Every prefix and a deterministic set of byte flips of each fixture: any result is fine, as
 * long as nothing reads outside the buffer (ASan) and a success stays within the limit. */
static void check_mutations(struct bb *b)
{
    struct media_voice_info vi;
    uint32_t x = 2463534242u; /* xorshift32: reproducible, and libc's generator is banned */

    for (size_t n = 0; n <= b->n; n++) {
        unsigned char *copy = malloc(n ? n : 1);
        struct bb cut = {copy, n, n};
        assert_non_null(copy);
        memcpy(copy, b->p, n);
        if (probe(&cut, &vi, NULL, 0) == ERR_OK)
            assert_true(vi.duration_ms > 0 && vi.duration_ms <= MEDIA_VOICE_MAX_MS);
        free(copy);
    }
    for (int i = 0; i < 2000; i++) {
        unsigned char *copy = malloc(b->n);
        struct bb m = {copy, b->n, b->n};
        assert_non_null(copy);
        memcpy(copy, b->p, b->n);
        for (int k = 0; k < 3; k++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            copy[x % b->n] = (unsigned char)(x >> 8);
        }
        if (probe(&m, &vi, NULL, 0) == ERR_OK)
            assert_true(vi.duration_ms > 0 && vi.duration_ms <= MEDIA_VOICE_MAX_MS);
        free(copy);
    }
}

static void test_voice_parsers_stay_in_bounds(void **state)
{
    struct bb b = {0};
    (void)state;

    make_amr(&b, false, 7, 20);
    check_mutations(&b);
    bb_free(&b);
    make_opus(&b, 48000 * 3, 7);
    check_mutations(&b);
    bb_free(&b);
    make_mp4(&b, "M4A ", "soun", "mp4a", 44100, 44100 * 2);
    check_mutations(&b);
    bb_free(&b);
    make_mp3(&b, true, "Info", 100, 3);
    check_mutations(&b);
    bb_free(&b);
    make_mp4_fragmented(&b);
    check_mutations(&b);
    bb_free(&b);
    make_mp3_vbr(&b, 6);
    check_mutations(&b);
    bb_free(&b);
}

/* ---- stripping container metadata ---- */

static bool has_bytes(const struct bb *b, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(b->p + i, needle, k) == 0)
            return true;
    return false;
}

static void test_strip_mp3(void **state)
{
    struct bb b = {0};
    struct media_voice_info vi;
    size_t n, before;
    (void)state;

    make_mp3(&b, true, NULL, 0, 40);
    memcpy(b.p + 20, "TXXX:GPS 31.30,120.60", 21); /* inside the ID3v2 tag */
    bb_str(&b, "TAG");                             /* ID3v1 */
    bb_str(&b, "recorded at 东华路");
    bb_fill(&b, 0, 128 - 3 - strlen("recorded at 东华路"));
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    before = vi.duration_ms;
    n = media_voice_strip(b.p, b.n, MEDIA_TYPE_MP3);
    assert_int_equal(n, b.n - 138 - 128);
    b.n = n;
    assert_false(has_bytes(&b, n, "GPS") || has_bytes(&b, n, "ID3") || has_bytes(&b, n, "TAG"));
    assert_int_equal(b.p[0], 0xFF); /* the first frame's sync */
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.duration_ms, before);
    bb_free(&b);
}

static void test_strip_m4a(void **state)
{
    struct bb b = {0};
    struct media_voice_info vi;
    size_t moov = 0, n, at;
    uint32_t size;
    (void)state;

    make_mp4(&b, "M4A ", "soun", "mp4a", 44100, 44100 * 7 + 22050);
    /* moov is the last box: give it a udta with a location, as phones write it. */
    for (size_t i = 0; i + 4 <= b.n; i++)
        if (memcmp(b.p + i, "moov", 4) == 0)
            moov = i - 4;
    at = box_begin(&b, "udta");
    bb_be32(&b, 26);
    bb_str(&b, "\xA9xyz+31.3051+120.6052/\x00\x00");
    box_end(&b, at);
    size = (uint32_t)(b.n - moov);
    b.p[moov] = (unsigned char)(size >> 24);
    b.p[moov + 1] = (unsigned char)(size >> 16);
    b.p[moov + 2] = (unsigned char)(size >> 8);
    b.p[moov + 3] = (unsigned char)size;
    at = box_begin(&b, "meta"); /* and a top-level one */
    bb_str(&b, "Apple iPhone 15");
    box_end(&b, at);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    n = media_voice_strip(b.p, b.n, MEDIA_TYPE_M4A);
    assert_int_equal(n, b.n); /* same size: boxes become free, nothing moves */
    assert_false(has_bytes(&b, n, "+31.3051") || has_bytes(&b, n, "iPhone") ||
                 has_bytes(&b, n, "udta") || has_bytes(&b, n, "meta"));
    assert_true(has_bytes(&b, n, "free"));
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.duration_ms, 7500);
    bb_free(&b);
}

static uint32_t crc_of(const unsigned char *pg, size_t n)
{
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = i >= 22 && i < 26 ? 0 : pg[i];
        crc ^= (uint32_t)c << 24;
        for (int k = 0; k < 8; k++)
            crc = crc & 0x80000000u ? crc << 1 ^ 0x04c11db7u : crc << 1;
    }
    return crc;
}

static void test_strip_ogg(void **state)
{
    static const char comment[] = "LOCATION=31.3051,120.6052";
    unsigned char head[19] = {'O',  'p',  'u',  's',  'H', 'e', 'a', 'd', 1, 1,
                              0x38, 0x01, 0x80, 0xBB, 0,   0,   0,   0,   0};
    unsigned char tags[64], audio[300];
    struct bb b = {0};
    struct media_voice_info vi;
    size_t k = 0, page2, len2;
    (void)state;

    memcpy(tags, "OpusTags", 8);
    k = 8;
    tags[k++] = 4, tags[k++] = 0, tags[k++] = 0, tags[k++] = 0;
    memcpy(tags + k, "test", 4);
    k += 4;
    tags[k++] = 1, tags[k++] = 0, tags[k++] = 0, tags[k++] = 0;
    tags[k++] = (unsigned char)strlen(comment), tags[k++] = 0, tags[k++] = 0, tags[k++] = 0;
    memcpy(tags + k, comment, strlen(comment));
    k += strlen(comment);
    memset(audio, 0x11, sizeof audio);
    ogg_page(&b, 0x02, 0, 7, 0, head, sizeof head);
    page2 = b.n;
    ogg_page(&b, 0x00, 0, 7, 1, tags, k);
    len2 = b.n - page2;
    ogg_page(&b, 0x04, 48000 * 2 + 312, 7, 2, audio, sizeof audio);
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(media_voice_strip(b.p, b.n, MEDIA_TYPE_OGG), b.n);
    assert_false(has_bytes(&b, b.n, "LOCATION"));
    assert_true(has_bytes(&b, b.n, "OpusTags") && has_bytes(&b, b.n, "test"));
    /* The comment count is 0 now, and the page's CRC is right for its new bytes. */
    assert_int_equal(b.p[page2 + 28 + 16], 0);
    {
        uint32_t want = crc_of(b.p + page2, len2);
        uint32_t got = (uint32_t)b.p[page2 + 22] | (uint32_t)b.p[page2 + 23] << 8 |
                       (uint32_t)b.p[page2 + 24] << 16 | (uint32_t)b.p[page2 + 25] << 24;
        assert_int_equal(got, want);
    }
    assert_int_equal(probe(&b, &vi, NULL, 0), ERR_OK);
    assert_int_equal(vi.duration_ms, 2000);
    bb_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_images),
        cmocka_unit_test(test_sniff_rejects_others),
        cmocka_unit_test(test_sniff_voice),
        cmocka_unit_test(test_voice_amr_nb),
        cmocka_unit_test(test_voice_amr_wb),
        cmocka_unit_test(test_voice_amr_broken),
        cmocka_unit_test(test_voice_too_long),
        cmocka_unit_test(test_voice_ogg_opus),
        cmocka_unit_test(test_voice_ogg_broken),
        cmocka_unit_test(test_voice_m4a),
        cmocka_unit_test(test_voice_mp4_rejects),
        cmocka_unit_test(test_voice_mp3),
        cmocka_unit_test(test_voice_rejects_images_and_junk),
        cmocka_unit_test(test_voice_parsers_stay_in_bounds),
        cmocka_unit_test(test_strip_mp3),
        cmocka_unit_test(test_strip_m4a),
        cmocka_unit_test(test_strip_ogg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
