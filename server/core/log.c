/* server/core/log.c: JSON lines on stderr, written with one write(2) each so lines from
 * several threads never interleave. */
#include "log.h"

#include <stdarg.h>
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

static void put(char *buf, size_t cap, size_t *off, const char *s)
{
    size_t n = strlen(s);
    size_t room;

    if (*off + 1 >= cap)
        return;
    room = cap - 1 - *off;
    if (n > room)
        n = room;
    memcpy(buf + *off, s, n);
    *off += n;
}

static void put_ts(char *buf, size_t cap, size_t *off)
{
    int64_t ms = clock_now_ms();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char tmp[96];

    gmtime_r(&t, &tm);
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    put(buf, cap, off, tmp);
}

static void flush_line(char *buf, size_t cap, size_t off)
{
    if (off + 2 > cap)
        off = cap - 2;
    buf[off++] = '\n';
    /* One write per line: atomic for lines up to PIPE_BUF on pipes, and never torn mid-line
     * by another thread's stdio buffer. */
    ssize_t w = write(STDERR_FILENO, buf, off);
    (void)w;
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
    flush_line(line, sizeof line, off);
}

void log_access_emit(const struct log_access *a)
{
    char line[2048], tmp[160];
    size_t off = 0;

    put(line, sizeof line, &off, "{\"ts\":\"");
    put_ts(line, sizeof line, &off);
    put(line, sizeof line, &off, "\",\"level\":\"info\",\"module\":\"access\",\"rid\":\"");
    put(line, sizeof line, &off, a->rid);
    put(line, sizeof line, &off, "\",\"method\":\"");
    log_json_escape(line, sizeof line, &off, a->method, a->method_len);
    put(line, sizeof line, &off, "\",\"path\":\"");
    log_json_escape(line, sizeof line, &off, a->path, a->path_len);
    put(line, sizeof line, &off, "\",\"proto\":\"");
    put(line, sizeof line, &off, a->proto);
    put(line, sizeof line, &off, "\",\"ip\":\"");
    put(line, sizeof line, &off, a->ip);
    snprintf(tmp, sizeof tmp, "\",\"status\":%d,\"bytes\":%llu,\"duration_ms\":%.3f", a->status,
             (unsigned long long)a->bytes, a->duration_ms);
    put(line, sizeof line, &off, tmp);
    if (a->user_id) {
        snprintf(tmp, sizeof tmp, ",\"user\":%lld", (long long)a->user_id);
        put(line, sizeof line, &off, tmp);
    }
    if (a->error_code) {
        put(line, sizeof line, &off, ",\"error\":\"");
        put(line, sizeof line, &off, a->error_code);
        put(line, sizeof line, &off, "\"");
    }
    put(line, sizeof line, &off, "}");
    flush_line(line, sizeof line, off);
}
