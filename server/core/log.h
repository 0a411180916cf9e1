/* server/core/log.h: structured logging, one JSON object per line on stderr.
 *
 * Event lines: {"ts","level","module","rid","user","msg"}; the module is the source file's base
 * name. The macros test the level before evaluating their arguments. cx may be NULL for
 * process events. Never pass tokens, passwords, hashes, phone or ID numbers to a log call. */
#ifndef CITYD_LOG_H
#define CITYD_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_level_now;

struct rctx;

/* Parse "error"/"warn"/"info"/"debug"; -1 when unknown. */
int log_level_parse(const char *s);
void log_set_level(enum log_level lvl);

void log__emit(enum log_level lvl, const char *file, const struct rctx *cx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log__at(lvl, cx, ...)                                                                      \
    do {                                                                                           \
        if (log_level_now >= (lvl))                                                                \
            log__emit((lvl), __FILE__, (cx), __VA_ARGS__);                                         \
    } while (0)
#define log_error(cx, ...) log__at(LOG_ERROR, cx, __VA_ARGS__)
#define log_warn(cx, ...) log__at(LOG_WARN, cx, __VA_ARGS__)
#define log_info(cx, ...) log__at(LOG_INFO, cx, __VA_ARGS__)
#define log_debug(cx, ...) log__at(LOG_DEBUG, cx, __VA_ARGS__)

/* The access log line of one HTTP request. */
struct log_access {
    const char *rid;
    const char *method;
    size_t method_len;
    const char *path; /* without the query string: queries may carry personal data */
    size_t path_len;
    const char *proto; /* "HTTP/1.1", "HTTP/2" */
    const char *ip;
    int status;
    const char *error_code; /* NULL on success */
    uint64_t bytes;
    double duration_ms;
    int64_t user_id; /* 0 when anonymous */
    unsigned batch;  /* requests whose tokens were checked together with this one; 0/1 = alone */
};
void log_access_emit(const struct log_access *a);

/* Access lines of the calling thread are collected in a buffer and written in blocks (event
 * loops call this once; the loop flushes every 100 ms and at exit). Event lines are never
 * buffered: they flush the buffer first, so lines keep their order. At most the last 100 ms
 * of access lines are lost if the process is killed. */
void log_buffer_thread(void);
void log_flush(void);

/* Append s as a JSON string body (without quotes) to buf[*off..cap); truncates safely. */
void log_json_escape(char *buf, size_t cap, size_t *off, const char *s, size_t n);

#endif
