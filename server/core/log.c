/* server/core/log.c: JSON lines on stderr, written with one write(2) each so lines from
 * several threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "rctx.h"

int log_level_now = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(enum log_level lvl)
{
    log_level_now = (int)lvl;
}

void log_json_escape(char *buf, size_t cap, size_t *off, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = *off;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 7 >= cap)
            break;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'u';
            buf[o++] = '0';
            buf[o++] = '0';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    *off = o;
}

/* memcpy for the short strings of a log line. gcc expands a memcpy whose size it can bound
 * (the 24-byte date text, say) inline with `rep movsq`, whose start-up cost was a third of
 * log_access_emit's samples (perf); fixed-size moves of 16 or 8 bytes, overlapping at the
 * end, cost a few cycles. */
static inline void copy_short(char *d, const char *s, size_t n)
{
    if (n >= 16 && n <= 32) {
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8 && n < 16) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n < 8) {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    } else {
        memcpy(d, s, n);
    }
}

/* Copy n bytes of s (truncated to what fits before cap's last byte): literals with memcpy
 * (a known size, inlined), other strings with copy_short. */
static inline void put_bytes(char *buf, size_t cap, size_t *off, const char *s, size_t n,
                             bool short_copy)
{
    size_t room;

    if (*off + 1 >= cap)
        return;
    room = cap - 1 - *off;
    if (n > room)
        n = room;
    if (short_copy)
        copy_short(buf + *off, s, n);
    else
        memcpy(buf + *off, s, n);
    *off += n;
}

/* A string whose length is only known at run time. */
static inline void put_n(char *buf, size_t cap, size_t *off, const char *s, size_t n)
{
    put_bytes(buf, cap, off, s, n, true);
}

static void put(char *buf, size_t cap, size_t *off, const char *s)
{
    put_n(buf, cap, off, s, strlen(s));
}

/* A string literal: its length is known, the copy is inlined (no strlen, no memcpy call). */
#define PUT_LIT(buf, cap, off, lit) put_bytes(buf, cap, off, "" lit, sizeof(lit) - 1, false)

static _Thread_local struct {
    char buf[32768];
    size_t len;
    int buffered;
    int64_t ts_sec; /* second of ts_text */
    char ts_text[24];
    size_t ts_len;
} tl;

/* Decimal digits of v (v >= 0) right-aligned in width with leading zeros. */
static void put_uint(char *buf, size_t cap, size_t *off, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < 20);
    while (n < width && n < 20)
        tmp[n++] = '0';
    while (n && *off + 1 < cap)
        buf[(*off)++] = tmp[--n];
}

static void put_ts(char *buf, size_t cap, size_t *off)
{
    int64_t ms = clock_now_ms();
    int64_t sec = ms / 1000;

    /* Formatting a date per line is the costliest part of a log line; it changes once a second. */
    if (sec != tl.ts_sec || !tl.ts_text[0]) {
        time_t t = (time_t)sec;
        struct tm tm;
        size_t o = 0;
        gmtime_r(&t, &tm);
        put_uint(tl.ts_text, sizeof tl.ts_text, &o, (uint64_t)(tm.tm_year + 1900), 4);
        put(tl.ts_text, sizeof tl.ts_text, &o, "-");
        put_uint(tl.ts_text, sizeof tl.ts_text, &o, (uint64_t)(tm.tm_mon + 1), 2);
        put(tl.ts_text, sizeof tl.ts_text, &o, "-");
        put_uint(tl.ts_text, sizeof tl.ts_text, &o, (uint64_t)tm.tm_mday, 2);
        put(tl.ts_text, sizeof tl.ts_text, &o, "T");
        put_uint(tl.ts_text, sizeof tl.ts_text, &o, (uint64_t)tm.tm_hour, 2);
        put(tl.ts_text, sizeof tl.ts_text, &o, ":");
        put_uint(tl.ts_text, sizeof tl.ts_text, &o, (uint64_t)tm.tm_min, 2);
        put(tl.ts_text, sizeof tl.ts_text, &o, ":");
        put_uint(tl.ts_text, sizeof tl.ts_text, &o, (uint64_t)tm.tm_sec, 2);
        put(tl.ts_text, sizeof tl.ts_text, &o, ".");
        tl.ts_text[o] = '\0';
        tl.ts_len = o;
        tl.ts_sec = sec;
    }
    /* ts_len < sizeof ts_text always; said so, the copy is known to be short */
    put_n(buf, cap, off, tl.ts_text,
          tl.ts_len < sizeof tl.ts_text ? tl.ts_len : sizeof tl.ts_text - 1);
    put_uint(buf, cap, off, (uint64_t)(ms % 1000), 3);
    PUT_LIT(buf, cap, off, "Z");
}

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0)
            return; /* nowhere to report a failing log */
        p += w;
        n -= (size_t)w;
    }
}

void log_buffer_thread(void)
{
    tl.buffered = 1;
}

void log_flush(void)
{
    if (tl.len) {
        write_all(tl.buf, tl.len);
        tl.len = 0;
    }
}

/* One write per line (or per block of whole lines): never torn mid-line by another thread. */
static void flush_line(char *buf, size_t cap, size_t off, int may_buffer)
{
    if (off + 2 > cap)
        off = cap - 2;
    buf[off++] = '\n';
    if (may_buffer && tl.buffered) {
        if (tl.len + off > sizeof tl.buf)
            log_flush();
        memcpy(tl.buf + tl.len, buf, off);
        tl.len += off;
        return;
    }
    log_flush();
    write_all(buf, off);
}

void log__emit(enum log_level lvl, const char *file, const struct rctx *cx, const char *fmt, ...)
{
    char line[2048], msg[1536], tmp[64];
    size_t off = 0;
    const char *base = strrchr(file, '/');
    const char *dot;
    va_list ap;

    base = base ? base + 1 : file;
    dot = strrchr(base, '.');
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    put(line, sizeof line, &off, "{\"ts\":\"");
    put_ts(line, sizeof line, &off);
    put(line, sizeof line, &off, "\",\"level\":\"");
    put(line, sizeof line, &off, level_names[lvl]);
    put(line, sizeof line, &off, "\",\"module\":\"");
    log_json_escape(line, sizeof line, &off, base, dot ? (size_t)(dot - base) : strlen(base));
    put(line, sizeof line, &off, "\"");
    if (cx) {
        put(line, sizeof line, &off, ",\"rid\":\"");
        put(line, sizeof line, &off, cx->id);
        put(line, sizeof line, &off, "\"");
        if (cx->who.user_id) {
            snprintf(tmp, sizeof tmp, ",\"user\":%lld", (long long)cx->who.user_id);
            put(line, sizeof line, &off, tmp);
        }
    }
    put(line, sizeof line, &off, ",\"msg\":\"");
    log_json_escape(line, sizeof line, &off, msg, strlen(msg));
    put(line, sizeof line, &off, "\"}");
    flush_line(line, sizeof line, off, 0);
}

#define ACCESS_LINE_MAX 2048

/* One line per request on the loops: formatted straight into the thread's buffer when it has
 * one (no copy), literals without strlen. The line is what it always was. */
void log_access_emit(const struct log_access *a)
{
    char local[ACCESS_LINE_MAX];
    char *line = local;
    const size_t cap = ACCESS_LINE_MAX;
    size_t off = 0;

    if (tl.buffered) {
        if (tl.len + cap > sizeof tl.buf)
            log_flush();
        line = tl.buf + tl.len;
    }
    PUT_LIT(line, cap, &off, "{\"ts\":\"");
    put_ts(line, cap, &off);
    PUT_LIT(line, cap, &off, "\",\"level\":\"info\",\"module\":\"access\",\"rid\":\"");
    put(line, cap, &off, a->rid);
    PUT_LIT(line, cap, &off, "\",\"method\":\"");
    log_json_escape(line, cap, &off, a->method, a->method_len);
    PUT_LIT(line, cap, &off, "\",\"path\":\"");
    log_json_escape(line, cap, &off, a->path, a->path_len);
    PUT_LIT(line, cap, &off, "\",\"proto\":\"");
    put(line, cap, &off, a->proto);
    PUT_LIT(line, cap, &off, "\",\"ip\":\"");
    put(line, cap, &off, a->ip);
    PUT_LIT(line, cap, &off, "\",\"status\":");
    put_uint(line, cap, &off, (uint64_t)(a->status > 0 ? a->status : 0), 1);
    PUT_LIT(line, cap, &off, ",\"bytes\":");
    put_uint(line, cap, &off, a->bytes, 1);
    PUT_LIT(line, cap, &off, ",\"duration_ms\":");
    {
        uint64_t us = a->duration_ms > 0 ? (uint64_t)(a->duration_ms * 1000.0) : 0;
        put_uint(line, cap, &off, us / 1000, 1);
        PUT_LIT(line, cap, &off, ".");
        put_uint(line, cap, &off, us % 1000, 3);
    }
    if (a->user_id > 0) {
        PUT_LIT(line, cap, &off, ",\"user\":");
        put_uint(line, cap, &off, (uint64_t)a->user_id, 1);
    }
    if (a->batch > 1) {
        PUT_LIT(line, cap, &off, ",\"batch\":");
        put_uint(line, cap, &off, a->batch, 1);
    }
    if (a->error_code) {
        PUT_LIT(line, cap, &off, ",\"error\":\"");
        put(line, cap, &off, a->error_code);
        PUT_LIT(line, cap, &off, "\"");
    }
    PUT_LIT(line, cap, &off, "}");
    if (line != local) {
        /* flush_line's cut and newline, in place */
        if (off + 2 > cap)
            off = cap - 2;
        line[off++] = '\n';
        tl.len += off;
        return;
    }
    flush_line(line, cap, off, 1);
}
