/* media/sniff.c: magic-byte sniffing and bounded voice-duration parsers. See sniff.h. */
#include "media/sniff.h"

#include <string.h>
#include "server/core/rctx.h"

/* Every read goes through these: the caller has checked that the bytes are inside the buffer. */
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p + 4) << 32 | le32(p);
}

static uint32_t fourcc(const char *s)
{
    return be32((const uint8_t *)s);
}

/* ---- ISO BMFF (HEIF and MP4 share the container; the brands tell them apart) ---- */

static bool brand_in(uint32_t brand, const char *const *list)
{
    for (; *list; list++)
        if (brand == fourcc(*list))
            return true;
    return false;
}

/* Still-image brands that libheif reads. Sequences (hevc, heis, msf1, avis) are accepted too:
 * the loader takes the primary image only. */
static const char *const heif_brands[] = {"heic", "heix", "heim", "heis", "hevc",
                                          "hevx", "mif1", "msf1", "avif", NULL};
/* Audio-capable MP4 brands. Generic ones (isom, mp42) can hold video as well:
 * media_voice_probe rejects any file with a video track. */
static const char *const audio_brands[] = {"M4A ", "M4B ", "mp41", "mp42", "isom", "iso2", "iso4",
                                           "iso5", "iso6", "3gp4", "3gp5", "3gp6", "3g2a", NULL};

static enum media_type sniff_bmff(const uint8_t *p, size_t len)
{
    uint32_t size, major;
    size_t end;

    if (len < 16 || memcmp(p + 4, "ftyp", 4) != 0)
        return MEDIA_TYPE_NONE;
    size = be32(p);
    if (size < 16)
        return MEDIA_TYPE_NONE;
    end = size < len ? size : len;
    major = be32(p + 8);
    if (brand_in(major, heif_brands))
        return MEDIA_TYPE_HEIF;
    if (brand_in(major, audio_brands))
        return MEDIA_TYPE_M4A;
    /* Some writers put a vendor brand first; decide by the compatible brands, images first
     * because a HEIF file may also list "iso8"-style generic brands. */
    for (size_t off = 16; off + 4 <= end; off += 4)
        if (brand_in(be32(p + off), heif_brands))
            return MEDIA_TYPE_HEIF;
    for (size_t off = 16; off + 4 <= end; off += 4)
        if (brand_in(be32(p + off), audio_brands))
            return MEDIA_TYPE_M4A;
    return MEDIA_TYPE_NONE;
}

/* ---- MPEG audio layer III ---- */

struct mp3_hdr {
    int version; /* 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5 */
    int mono;
    uint32_t bitrate_kbps;
    uint32_t rate;
    uint32_t frame_len;
    uint32_t samples; /* per frame */
};

static bool mp3_parse(const uint8_t *p, struct mp3_hdr *h)
{
    static const uint16_t br1[16] = {0,   32,  40,  48,  56,  64,  80, 96,
                                     112, 128, 160, 192, 224, 256, 320};
    static const uint16_t br2[16] = {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160};
    static const uint32_t rates[4][3] = {
        {11025, 12000, 8000}, {0, 0, 0}, {22050, 24000, 16000}, {44100, 48000, 32000}};
    int version, layer, bri, sri, pad;

    if (p[0] != 0xFF || (p[1] & 0xE0) != 0xE0)
        return false;
    version = (p[1] >> 3) & 3;
    layer = (p[1] >> 1) & 3;
    bri = p[2] >> 4;
    sri = (p[2] >> 2) & 3;
    pad = (p[2] >> 1) & 1;
    /* Layer III only: layer bits 00 are ADTS AAC, which is not on the list. Free-format
     * (bitrate 0) has no computable frame length, so it is refused too. */
    if (version == 1 || layer != 1 || bri == 0 || bri == 15 || sri == 3)
        return false;
    h->version = version;
    h->mono = (p[3] >> 6) == 3;
    h->bitrate_kbps = version == 3 ? br1[bri] : br2[bri];
    h->rate = rates[version][sri];
    h->samples = version == 3 ? 1152 : 576;
    h->frame_len = (version == 3 ? 144000 : 72000) * h->bitrate_kbps / h->rate + (uint32_t)pad;
    return true;
}

/* Length of a leading ID3v2 tag (0 when there is none or it is malformed). */
static size_t id3_len(const uint8_t *p, size_t len)
{
    size_t n;

    if (len < 10 || memcmp(p, "ID3", 3) != 0 || p[3] < 2 || p[3] > 4)
        return 0;
    if ((p[6] | p[7] | p[8] | p[9]) & 0x80) /* the size is "syncsafe": 7 bits per byte */
        return 0;
    n = 10 + ((size_t)p[6] << 21 | (size_t)p[7] << 14 | (size_t)p[8] << 7 | p[9]);
    if (p[5] & 0x10)
        n += 10; /* footer */
    return n;
}

/* Offset of the first frame header, or 0 with *ok false. Encoders may pad after the tag, so a
 * short bounded scan follows it; a file without a tag must start with a frame. */
#define MP3_SCAN_MAX 4096

static size_t mp3_first_frame(const uint8_t *p, size_t len, bool *ok, struct mp3_hdr *h)
{
    size_t off = id3_len(p, len);
    size_t limit;

    *ok = false;
    if (off == 0) {
        if (len < 4 || !mp3_parse(p, h))
            return 0;
        *ok = true;
        return 0;
    }
    limit = off + MP3_SCAN_MAX;
    for (; off + 4 <= len && off < limit; off++)
        if (mp3_parse(p + off, h)) {
            *ok = true;
            return off;
        }
    return 0;
}

static bool sniff_mp3(const uint8_t *p, size_t len)
{
    struct mp3_hdr h, h2;
    bool ok;
    size_t off = mp3_first_frame(p, len, &ok, &h);
    size_t next;

    if (!ok)
        return false;
    if (off > 0)
        return true; /* an ID3 tag followed by a frame header is evidence enough */
    /* Two bytes of sync are weak evidence on their own: demand the next frame lines up. */
    next = off + h.frame_len;
    if (next + 4 > len)
        return next == len; /* a single frame exactly filling the file */
    return mp3_parse(p + next, &h2) && h2.version == h.version && h2.rate == h.rate;
}

enum media_type media_sniff(const void *buf, size_t len)
{
    const uint8_t *p = buf;

    if (len < 4)
        return MEDIA_TYPE_NONE;
    if (p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return MEDIA_TYPE_JPEG;
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return MEDIA_TYPE_PNG;
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return MEDIA_TYPE_WEBP;
    if (len >= 6 && memcmp(p, "#!AMR\n", 6) == 0)
        return MEDIA_TYPE_AMR;
    if (len >= 9 && memcmp(p, "#!AMR-WB\n", 9) == 0)
        return MEDIA_TYPE_AMR_WB;
    if (memcmp(p, "OggS", 4) == 0)
        return MEDIA_TYPE_OGG;
    if (len >= 12 && memcmp(p + 4, "ftyp", 4) == 0)
        return sniff_bmff(p, len);
    if (sniff_mp3(p, len))
        return MEDIA_TYPE_MP3;
    return MEDIA_TYPE_NONE;
}

bool media_type_is_image(enum media_type t)
{
    return t == MEDIA_TYPE_JPEG || t == MEDIA_TYPE_PNG || t == MEDIA_TYPE_WEBP ||
           t == MEDIA_TYPE_HEIF;
}

bool media_type_is_voice(enum media_type t)
{
    return t == MEDIA_TYPE_AMR || t == MEDIA_TYPE_AMR_WB || t == MEDIA_TYPE_M4A ||
           t == MEDIA_TYPE_OGG || t == MEDIA_TYPE_MP3;
}

const char *media_type_mime(enum media_type t)
{
    switch (t) {
    case MEDIA_TYPE_JPEG:
        return "image/jpeg";
    case MEDIA_TYPE_PNG:
        return "image/png";
    case MEDIA_TYPE_WEBP:
        return "image/webp";
    case MEDIA_TYPE_HEIF:
        return "image/heic";
    case MEDIA_TYPE_AMR:
        return "audio/amr";
    case MEDIA_TYPE_AMR_WB:
        return "audio/amr-wb";
    case MEDIA_TYPE_M4A:
        return "audio/mp4";
    case MEDIA_TYPE_OGG:
        return "audio/ogg";
    case MEDIA_TYPE_MP3:
        return "audio/mpeg";
    case MEDIA_TYPE_NONE:
        break;
    }
    return "application/octet-stream";
}

const char *media_type_ext(enum media_type t)
{
    switch (t) {
    case MEDIA_TYPE_JPEG:
        return "jpg";
    case MEDIA_TYPE_PNG:
        return "png";
    case MEDIA_TYPE_WEBP:
        return "webp";
    case MEDIA_TYPE_HEIF:
        return "heic";
    case MEDIA_TYPE_AMR:
        return "amr";
    case MEDIA_TYPE_AMR_WB:
        return "awb";
    case MEDIA_TYPE_M4A:
        return "m4a";
    case MEDIA_TYPE_OGG:
        return "ogg";
    case MEDIA_TYPE_MP3:
        return "mp3";
    case MEDIA_TYPE_NONE:
        break;
    }
    return "bin";
}

/* ---- voice durations ---- */

/* AMR storage format (RFC 4867 section 5): a magic line, then frames of one header byte
 * (P FT[4] Q P P) and a payload whose size depends on FT; each frame is 20 ms. Sizes include
 * the header byte; FT 9..15 are SID/no-data frames of one byte (as ffmpeg reads them). */
static enum err amr_duration(struct rctx *cx, const uint8_t *p, size_t len, bool wb, uint32_t *ms)
{
    static const uint8_t nb[16] = {13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t wbs[16] = {18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 1, 1, 1, 1, 1, 1};
    const uint8_t *sizes = wb ? wbs : nb;
    size_t off = wb ? 9 : 6;
    uint64_t frames = 0;

    while (off < len) {
        uint8_t h = p[off];
        if (h & 0x83)
            return rctx_fail(cx, ERR_INVALID, "voice: AMR frame header at byte %zu is invalid",
                             off);
        if (sizes[(h >> 3) & 0x0F] > len - off)
            return rctx_fail(cx, ERR_INVALID, "voice: AMR data is truncated");
        off += sizes[(h >> 3) & 0x0F];
        frames++;
        if (frames * 20 > MEDIA_VOICE_MAX_MS)
            break; /* already too long: the caller reports it, no need to read on */
    }
    *ms = (uint32_t)(frames * 20);
    return ERR_OK;
}

/* Ogg (RFC 3533): pages of a 27-byte header, a segment table and a body. The duration is the
 * last granule position of the one logical stream: 48 kHz samples minus the pre-skip for
 * Opus (RFC 7845), samples at the stream rate for Vorbis. CRCs are not checked: the walk needs
 * only the structure, and the players check the CRCs themselves. */
static enum err ogg_duration(struct rctx *cx, const uint8_t *p, size_t len, uint32_t *ms)
{
    size_t off = 0;
    uint32_t serial = 0;
    uint64_t rate = 0, pre_skip = 0, last = 0;
    bool opus = false, have_granule = false;
    uint64_t samples, v;

    while (off < len) {
        const uint8_t *pg = p + off;
        size_t nseg, body = 0, hdr;
        uint64_t granule;

        if (len - off < 27 || memcmp(pg, "OggS", 4) != 0 || pg[4] != 0)
            return rctx_fail(cx, ERR_INVALID, "voice: Ogg page at byte %zu is invalid", off);
        nseg = pg[26];
        hdr = 27 + nseg;
        if (len - off < hdr)
            return rctx_fail(cx, ERR_INVALID, "voice: Ogg data is truncated");
        for (size_t i = 0; i < nseg; i++)
            body += pg[27 + i];
        if (len - off - hdr < body)
            return rctx_fail(cx, ERR_INVALID, "voice: Ogg data is truncated");
        granule = le64(pg + 6);
        if (off == 0) {
            const uint8_t *b = pg + hdr;
            if (!(pg[5] & 0x02))
                return rctx_fail(cx, ERR_INVALID, "voice: Ogg stream does not begin properly");
            serial = le32(pg + 14);
            if (body >= 19 && memcmp(b, "OpusHead", 8) == 0) {
                opus = true;
                rate = 48000; /* Opus granules always count 48 kHz samples */
                pre_skip = (uint64_t)b[10] | (uint64_t)b[11] << 8;
            } else if (body >= 30 && memcmp(b, "\x01vorbis", 7) == 0) {
                rate = le32(b + 12);
            } else {
                return rctx_fail(cx, ERR_MEDIATYPE, "voice: Ogg must carry Opus or Vorbis");
            }
            if (rate == 0)
                return rctx_fail(cx, ERR_INVALID, "voice: Vorbis sample rate is zero");
        } else if (le32(pg + 14) != serial) {
            /* A voice clip is one stream; a second one would be another recording or video. */
            return rctx_fail(cx, ERR_MEDIATYPE, "voice: Ogg file holds more than one stream");
        }
        /* -1 marks a page on which no packet ends; 2^62 samples is far beyond any clip. */
        if (granule != UINT64_MAX && granule < ((uint64_t)1 << 62)) {
            last = granule;
            have_granule = true;
        }
        off += hdr + body;
    }
    if (!have_granule)
        return rctx_fail(cx, ERR_INVALID, "voice: Ogg stream has no audio");
    samples = opus ? (last > pre_skip ? last - pre_skip : 0) : last;
    v = samples / rate * 1000 + samples % rate * 1000 / rate; /* no overflow below 2^62 */
    *ms = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return ERR_OK;
}

/* ISO BMFF boxes: size (32 bits, or 1 then 64 bits, or 0 = to the end), type, body. */
struct box {
    uint32_t type;
    const uint8_t *body;
    size_t len;
};

/* Take the next box from [*p, *p + *left). 1: got one; 0: no bytes left; -1: malformed. */
static int box_next(const uint8_t **p, size_t *left, struct box *b)
{
    uint64_t size;
    size_t hdr = 8;

    if (*left == 0)
        return 0;
    if (*left < 8)
        return -1;
    size = be32(*p);
    b->type = be32(*p + 4);
    if (size == 1) {
        if (*left < 16)
            return -1;
        size = be64(*p + 8);
        hdr = 16;
    } else if (size == 0) {
        size = *left;
    }
    if (size < hdr || size > *left)
        return -1;
    b->body = *p + hdr;
    b->len = (size_t)size - hdr;
    *p += size;
    *left -= (size_t)size;
    return 1;
}

/* The first child of [p, p + len) with this type. 1 found, 0 absent, -1 malformed. */
static int box_find(const uint8_t *p, size_t len, const char *type, struct box *out)
{
    struct box b;
    int r;

    for (;;) {
        r = box_next(&p, &len, &b);
        if (r <= 0)
            return r;
        if (b.type == fourcc(type)) {
            *out = b;
            return 1;
        }
    }
}

/* A full box's version byte decides 32- or 64-bit times; read one at body offset off. */
static bool full_u(const struct box *b, size_t off32, size_t off64, uint64_t *v)
{
    if (b->len < 1)
        return false;
    if (b->body[0] == 1) {
        if (b->len < off64 + 8)
            return false;
        *v = be64(b->body + off64);
        return *v != UINT64_MAX; /* all ones: "unknown" */
    }
    if (b->len < off32 + 4)
        return false;
    *v = be32(b->body + off32);
    return *v != UINT32_MAX;
}

/* The timescale of an mvhd or mdhd: after version/flags and two times of 32 or 64 bits. */
static bool timescale(const struct box *b, uint64_t *v)
{
    size_t off = b->len >= 1 && b->body[0] == 1 ? 20 : 12;

    if (b->len < off + 4)
        return false;
    *v = be32(b->body + off);
    return true;
}

/* What one trak says about itself. */
struct trak_info {
    uint32_t handler; /* 'soun', 'vide' ...; 0 when absent */
    uint32_t codec;   /* format of the first sample entry; 0 when absent */
    uint32_t id;      /* tkhd track_ID */
    uint64_t scale;   /* mdhd timescale */
    uint64_t dur;     /* mdhd duration in that timescale; 0 when unknown */
};

static int trak_read(const struct box *trak, struct trak_info *t)
{
    struct box tkhd, mdia, hdlr, mdhd, minf, stbl, stsd;
    uint64_t v;
    int r;

    memset(t, 0, sizeof *t);
    if (box_find(trak->body, trak->len, "tkhd", &tkhd) > 0 && full_u(&tkhd, 12, 20, &v))
        t->id = (uint32_t)v; /* creation and modification times precede the id */
    r = box_find(trak->body, trak->len, "mdia", &mdia);
    if (r <= 0)
        return r;
    r = box_find(mdia.body, mdia.len, "hdlr", &hdlr);
    if (r < 0)
        return r;
    if (r > 0 && hdlr.len >= 12)
        t->handler = be32(hdlr.body + 8); /* after version/flags and pre_defined */
    if (box_find(mdia.body, mdia.len, "mdhd", &mdhd) > 0 && timescale(&mdhd, &t->scale) &&
        !full_u(&mdhd, 16, 24, &t->dur))
        t->dur = 0;
    if (box_find(mdia.body, mdia.len, "minf", &minf) > 0 &&
        box_find(minf.body, minf.len, "stbl", &stbl) > 0 &&
        box_find(stbl.body, stbl.len, "stsd", &stsd) > 0 && stsd.len >= 16 && be32(stsd.body + 4))
        t->codec = be32(stsd.body + 12); /* entry_count, then the first entry's size and type */
    return 1;
}

#define SUM_MAX ((uint64_t)1 << 62)

/* Fragmented MP4 (what streaming recorders, browsers' MediaRecorder among them, write): moov
 * holds no samples and usually no duration, so add up the sample durations of the audio
 * track's runs in every moof. */
static bool mp4_fragments(const uint8_t *p, size_t len, const struct trak_info *a,
                          uint32_t trex_default, uint64_t *total)
{
    struct box moof, traf, b;
    const uint8_t *q = p;
    size_t left = len;
    int r;

    *total = 0;
    for (;;) {
        const uint8_t *tq;
        size_t tleft;

        r = box_next(&q, &left, &moof);
        if (r <= 0)
            break;
        if (moof.type != fourcc("moof"))
            continue;
        tq = moof.body;
        tleft = moof.len;
        while (box_next(&tq, &tleft, &traf) > 0) {
            struct box tfhd;
            const uint8_t *rq;
            size_t rleft;
            uint32_t flags, def = trex_default;
            size_t off = 8;

            if (traf.type != fourcc("traf") || box_find(traf.body, traf.len, "tfhd", &tfhd) <= 0 ||
                tfhd.len < 8 || be32(tfhd.body + 4) != a->id)
                continue;
            flags = be32(tfhd.body) & 0xFFFFFF;
            off += (flags & 0x01) ? 8 : 0; /* base-data-offset */
            off += (flags & 0x02) ? 4 : 0; /* sample-description-index */
            if (flags & 0x08) {
                if (tfhd.len < off + 4)
                    return false;
                def = be32(tfhd.body + off);
            }
            rq = traf.body;
            rleft = traf.len;
            while (box_next(&rq, &rleft, &b) > 0) {
                uint32_t count, per = 0;
                size_t at = 8;

                if (b.type != fourcc("trun"))
                    continue;
                if (b.len < 8)
                    return false;
                flags = be32(b.body) & 0xFFFFFF;
                count = be32(b.body + 4);
                at += (flags & 0x01) ? 4 : 0; /* data-offset */
                at += (flags & 0x04) ? 4 : 0; /* first-sample-flags */
                for (uint32_t bit = 0x100; bit <= 0x800; bit <<= 1)
                    per += (flags & bit) ? 4 : 0;
                if (at > b.len || (per && count > (b.len - at) / per))
                    return false;
                /* Anything near 2^62 ticks is not a voice clip; stopping there keeps the
                 * total from wrapping around into a plausible value. */
                if (!(flags & 0x100)) {
                    if ((uint64_t)count * def > SUM_MAX)
                        return false;
                    *total += (uint64_t)count * def;
                } else {
                    for (uint32_t i = 0; i < count && *total <= SUM_MAX; i++)
                        *total += be32(b.body + at + (size_t)i * per);
                }
                if (*total > SUM_MAX)
                    return false;
            }
        }
    }
    return r == 0;
}

static enum err mp4_duration(struct rctx *cx, const uint8_t *p, size_t len, uint32_t *ms)
{
    struct box moov, mvhd, mvex, mehd, b;
    struct trak_info t, audio = {0};
    const uint8_t *q;
    size_t left;
    uint64_t scale = 0, dur = 0, v;
    uint32_t trex_default = 0;
    int r, n_audio = 0;

    r = box_find(p, len, "moov", &moov);
    if (r < 0)
        return rctx_fail(cx, ERR_INVALID, "voice: MP4 box structure is broken");
    if (r == 0)
        return rctx_fail(cx, ERR_INVALID, "voice: MP4 has no movie header (moov)");
    q = moov.body;
    left = moov.len;
    for (;;) {
        r = box_next(&q, &left, &b);
        if (r <= 0)
            break;
        if (b.type != fourcc("trak"))
            continue;
        if (trak_read(&b, &t) < 0)
            return rctx_fail(cx, ERR_INVALID, "voice: MP4 track structure is broken");
        if (t.handler == fourcc("vide"))
            return rctx_fail(cx, ERR_MEDIATYPE, "voice: MP4 with video is not a voice clip");
        if (t.handler != fourcc("soun"))
            continue;
        if (t.codec != fourcc("mp4a") && t.codec != fourcc("samr") && t.codec != fourcc("sawb"))
            return rctx_fail(cx, ERR_MEDIATYPE, "voice: MP4 audio must be AAC or AMR");
        if (n_audio++ == 0)
            audio = t;
    }
    if (r < 0)
        return rctx_fail(cx, ERR_INVALID, "voice: MP4 box structure is broken");
    if (n_audio == 0)
        return rctx_fail(cx, ERR_MEDIATYPE, "voice: MP4 has no audio track");
    /* The movie header first; then the audio track's own; then, for fragmented files, the
     * movie-extends header or the fragments themselves. */
    if (box_find(moov.body, moov.len, "mvhd", &mvhd) > 0 && timescale(&mvhd, &scale) &&
        !full_u(&mvhd, 16, 24, &dur))
        dur = 0;
    if (box_find(moov.body, moov.len, "mvex", &mvex) > 0) {
        struct box trex;
        const uint8_t *xq = mvex.body;
        size_t xleft = mvex.len;
        if (dur == 0 && box_find(mvex.body, mvex.len, "mehd", &mehd) > 0 &&
            !full_u(&mehd, 4, 4, &dur))
            dur = 0;
        while (box_next(&xq, &xleft, &trex) > 0)
            if (trex.type == fourcc("trex") && trex.len >= 16 && be32(trex.body + 4) == audio.id)
                trex_default = be32(trex.body + 12);
    }
    if (scale == 0 || dur == 0) {
        scale = audio.scale;
        dur = audio.dur;
    }
    if (dur == 0 && audio.scale && mp4_fragments(p, len, &audio, trex_default, &v)) {
        scale = audio.scale;
        dur = v;
    }
    if (scale == 0 || dur == 0)
        return rctx_fail(cx, ERR_INVALID, "voice: MP4 duration is unknown");
    v = dur / scale * 1000 + dur % scale * 1000 / scale; /* no overflow for 64-bit durations */
    *ms = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return ERR_OK;
}

/* MP3: the frame count of a Xing/Info or VBRI header when the encoder wrote one; otherwise
 * the frames counted by walking their headers (exact for VBR too); and when the walk stops
 * early on junk, the CBR estimate from the byte count and the first frame's bitrate. */
static enum err mp3_duration(struct rctx *cx, const uint8_t *p, size_t len, uint32_t *ms)
{
    struct mp3_hdr h, n;
    bool ok;
    size_t off = mp3_first_frame(p, len, &ok, &h);
    size_t side, x, audio, walk;
    uint64_t frames = 0, v;

    if (!ok)
        return rctx_fail(cx, ERR_INVALID, "voice: no MP3 frame found");
    side = h.version == 3 ? (h.mono ? 17 : 32) : (h.mono ? 9 : 17);
    x = off + 4 + side;
    if (x + 12 <= len && (memcmp(p + x, "Xing", 4) == 0 || memcmp(p + x, "Info", 4) == 0) &&
        (be32(p + x + 4) & 1))
        frames = be32(p + x + 8);
    x = off + 4 + 32;
    if (!frames && x + 18 <= len && memcmp(p + x, "VBRI", 4) == 0)
        frames = be32(p + x + 14);
    audio = len - off;
    if (len - off >= 128 && memcmp(p + len - 128, "TAG", 3) == 0)
        audio -= 128; /* ID3v1 trailer */
    if (!frames) {
        /* Each step moves at least 24 bytes, so this is linear in len. */
        for (walk = off; walk + 4 <= len && mp3_parse(p + walk, &n) && n.rate == h.rate;
             walk += n.frame_len)
            frames++;
        if (walk - off < audio / 2)
            frames = 0;
    }
    if (frames)
        v = frames * h.samples * 1000 / h.rate;
    else
        v = (uint64_t)audio * 8 / h.bitrate_kbps; /* kbit/s is bits per millisecond */
    *ms = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return ERR_OK;
}

enum err media_voice_probe(struct rctx *cx, const void *buf, size_t len,
                           struct media_voice_info *out)
{
    enum media_type t = media_sniff(buf, len);
    uint32_t ms = 0;
    enum err res;

    switch (t) {
    case MEDIA_TYPE_AMR:
    case MEDIA_TYPE_AMR_WB:
        res = amr_duration(cx, buf, len, t == MEDIA_TYPE_AMR_WB, &ms);
        break;
    case MEDIA_TYPE_OGG:
        res = ogg_duration(cx, buf, len, &ms);
        break;
    case MEDIA_TYPE_M4A:
        res = mp4_duration(cx, buf, len, &ms);
        break;
    case MEDIA_TYPE_MP3:
        res = mp3_duration(cx, buf, len, &ms);
        break;
    default:
        return rctx_fail(cx, ERR_MEDIATYPE,
                         "voice: unsupported type; send AMR, M4A (AAC), Ogg Opus or MP3");
    }
    if (res)
        return res;
    if (ms == 0)
        return rctx_fail(cx, ERR_INVALID, "voice: the recording is empty");
    if (ms > MEDIA_VOICE_MAX_MS)
        return rctx_fail(cx, ERR_INVALID, "voice: %u s long; at most %d s", ms / 1000,
                         MEDIA_VOICE_MAX_MS / 1000);
    out->type = t;
    out->duration_ms = ms;
    return ERR_OK;
}

/* ---- stripping metadata ----------------------------------------------------------------- */

static void bmff_scrub(uint8_t *p, size_t len, int depth)
{
    size_t off = 0;

    while (len - off >= 8) {
        uint64_t size = be32(p + off);
        size_t hdr = 8;
        uint32_t type = be32(p + off + 4);

        if (size == 1) {
            if (len - off < 16)
                return;
            size = be64(p + off + 8);
            hdr = 16;
        } else if (size == 0) {
            size = len - off;
        }
        if (size < hdr || size > len - off)
            return;
        if (type == fourcc("udta") || type == fourcc("meta") || type == fourcc("uuid") ||
            type == fourcc("XMP_")) {
            memcpy(p + off + 4, "free", 4);
            memset(p + off + hdr, 0, (size_t)size - hdr);
        } else if (depth < 3 &&
                   (type == fourcc("moov") || type == fourcc("trak") || type == fourcc("mdia"))) {
            bmff_scrub(p + off + hdr, (size_t)size - hdr, depth + 1);
        }
        off += (size_t)size;
    }
}

static uint32_t ogg_crc(const uint8_t *p, size_t n)
{
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint32_t)p[i] << 24;
        for (int k = 0; k < 8; k++)
            crc = crc & 0x80000000u ? crc << 1 ^ 0x04c11db7u : crc << 1;
    }
    return crc;
}

/* The comment header is the second packet; it starts the second page. */
static void ogg_scrub(uint8_t *p, size_t len)
{
    size_t off, nseg, hdr, body = 0, pkt = 0, at;
    bool ends = false;
    uint8_t *pg, *b;
    uint32_t vendor, crc;

    if (len < 27)
        return;
    nseg = p[26];
    if (len < 27 + nseg)
        return;
    for (size_t i = 0; i < nseg; i++)
        body += p[27 + i];
    off = 27 + nseg + body;
    if (len - off < 27 || memcmp(p + off, "OggS", 4) != 0 || (p[off + 5] & 0x01))
        return;
    pg = p + off;
    nseg = pg[26];
    hdr = 27 + nseg;
    if (len - off < hdr)
        return;
    for (size_t i = 0; i < nseg && !ends; i++) {
        pkt += pg[27 + i];
        ends = pg[27 + i] < 255;
    }
    body = 0;
    for (size_t i = 0; i < nseg; i++)
        body += pg[27 + i];
    if (!ends || len - off - hdr < body)
        return; /* the comment header goes on past this page: left as it is */
    b = pg + hdr;
    if (pkt >= 16 && memcmp(b, "OpusTags", 8) == 0)
        at = 8;
    else if (pkt >= 16 && memcmp(b, "\x03vorbis", 7) == 0)
        at = 7;
    else
        return;
    vendor = le32(b + at);
    if (vendor > pkt - at - 8)
        return;
    at += 4 + vendor; /* the comment count */
    memset(b + at, 0, pkt - at);
    if (b[0] == 0x03 && at + 4 < pkt)
        b[at + 4] = 1; /* Vorbis' framing bit */
    memset(pg + 22, 0, 4);
    crc = ogg_crc(pg, hdr + body);
    pg[22] = (uint8_t)crc;
    pg[23] = (uint8_t)(crc >> 8);
    pg[24] = (uint8_t)(crc >> 16);
    pg[25] = (uint8_t)(crc >> 24);
}

size_t media_voice_strip(uint8_t *buf, size_t len, enum media_type t)
{
    size_t off = 0, n;

    switch (t) {
    case MEDIA_TYPE_MP3:
        while ((n = id3_len(buf + off, len - off)) > 0 && n <= len - off)
            off += n;
        if (off) {
            memmove(buf, buf + off, len - off);
            len -= off;
        }
        for (int pass = 0; pass < 2; pass++) {
            if (len >= 128 && memcmp(buf + len - 128, "TAG", 3) == 0)
                len -= 128;
            if (len >= 32 && memcmp(buf + len - 32, "APETAGEX", 8) == 0) {
                size_t size = le32(buf + len - 32 + 12);
                size_t total = size + (le32(buf + len - 32 + 20) & 0x80000000u ? 32 : 0);
                if (size >= 32 && total <= len)
                    len -= total;
            }
        }
        return len;
    case MEDIA_TYPE_M4A:
        bmff_scrub(buf, len, 0);
        return len;
    case MEDIA_TYPE_OGG:
        ogg_scrub(buf, len);
        return len;
    default:
        return len;
    }
}
