/* server/ext/push_int.h: what push.c shares with the vendor files (push_<vendor>.c). */
#ifndef CITYD_EXT_PUSH_INT_H
#define CITYD_EXT_PUSH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include "push.h"

#define PUSH__REPLY_MAX 65536 /* a vendor's answer is a few hundred bytes */

struct push__buf {
    char *p;
    size_t n, cap;
    bool over;
};

/* One HTTP exchange in flight: the message, its request and what came back. */
struct push__call {
    struct ext_push_msg *m;
    CURL *h;
    struct curl_slist *hs;
    char *body; /* malloc'd request body */
    struct push__buf reply;
    char apns_id[64];
    int retry_after_s;
    CURLcode cc;
    bool done;
};

/* The settings of the vendors, copied from cfg at start-up. */
struct push__conf {
    char ca_file[512];
    int timeout_ms;
    const struct cfg *cfg; /* lives for the process */
};
extern struct push__conf push__conf;

/* A vendor: prepare fills c->h (URL, headers, body) for c->m and returns 0, or sets
 * c->m->outcome and returns -1 (no access token, say); finish maps the answer. */
struct push__provider {
    bool (*configured)(void);
    int (*prepare)(struct ext_push *p, struct push__call *c);
    void (*finish)(struct ext_push *p, struct push__call *c, long status);
};

extern const struct push__provider push__apns, push__huawei, push__xiaomi, push__oppo, push__vivo,
    push__honor, push__wechat;

/* Start-up checks of vendors with key files (APNs): 0 or -1 with err. */
int push__apns_configure(const struct cfg *cfg, char *err, size_t errlen);

/* A new easy handle with the shared options (protocols, CA, timeouts, reply buffer). */
CURL *push__easy(struct push__call *c);
/* A blocking POST for token endpoints: status (0 when not reached) and the reply text
 * (malloc'd, NUL-terminated, *reply NULL when none). headers may be NULL. */
long push__post_sync(const char *url, struct curl_slist *headers, const char *body, char **reply);
/* Set the outcome and a detail line. */
void push__result(struct push__call *c, enum ext_push_outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Outcome of a transport failure or an HTTP status without a vendor code: 429 rate limited,
 * 5xx and unreachable retry, other 4xx rejected. */
void push__result_http(struct push__call *c, long status);
/* URL-encode s into a malloc'd string. */
char *push__escape(const char *s);
/* Lower-case hex of n bytes of SHA-256 / MD5 of s (out: 65 / 33 bytes). */
void push__sha256_hex(const char *s, char out[65]);
void push__md5_hex(const char *s, char out[33]);
/* Unix time in milliseconds (the real clock: vendors check it). */
int64_t push__now_ms(void);

/* An access token cache entry (OAuth and signed tokens). */
struct push__token {
    char value[1024];
    int64_t expires_ms;
};

/* A cached access token: the current one while it has more than a margin left, else a new one
 * fetched with fetch (blocking, at most the timeouts). Returns NULL and writes why when none
 * could be had. One sender thread uses these (the push thread), so no lock. */
typedef int (*push__token_fetch)(struct push__token *t, char *why, size_t whylen);
const char *push__token_get(struct push__token *t, int64_t margin_ms, push__token_fetch fetch,
                            char *why, size_t whylen);
/* OAuth 2.0 client credentials (RFC 6749 4.4) at url: access_token and expires_in. */
int push__oauth_fetch(struct push__token *t, const char *url, const char *client_id,
                      const char *secret, char *why, size_t whylen);
/* The JSON text of the ids every vendor carries: {"seq":…,"kind":…,"case_id":…} (malloc'd). */
char *push__ids_json(const struct ext_push_msg *m);
/* A form field "&name=value" (value URL-encoded) appended to a malloc'd string. */
char *push__form_add(char *form, const char *name, const char *value);

#endif
