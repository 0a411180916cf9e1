/* server/ext/push.h: vendor push — APNs, Huawei Push Kit, Xiaomi, OPPO, vivo, Honor and WeChat
 * subscription messages — behind one interface.
 *
 * Each vendor is one file (push_apns.c, push_huawei.c, …) that speaks the vendor's real HTTP
 * API at a configurable base URL: it builds the request for one message and maps the answer
 * onto an outcome. push.c owns what they share: one libcurl multi handle per sender, through
 * which all messages of a batch go at once (APNs streams multiplexed over one HTTP/2
 * connection that stays open between batches), the vendors' access-token caches (APNs
 * provider JWT, OAuth client-credential tokens, signed auth tokens) and the timeouts.
 *
 * Messages carry ids only (item seq, kind, case id) and a fixed title ("新任务"): no case
 * text and no personal data leave through a vendor. Tokens, secrets and keys are never
 * logged. No database; a sender belongs to one thread (the push thread), which blocks in
 * ext_push_send for at most push.timeout_ms plus the token fetches it needs. */
#ifndef CITYD_EXT_PUSH_H
#define CITYD_EXT_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/cfg.h"

enum ext_push_vendor {
    EXT_PUSH_APNS = 0,
    EXT_PUSH_HUAWEI,
    EXT_PUSH_XIAOMI,
    EXT_PUSH_OPPO,
    EXT_PUSH_VIVO,
    EXT_PUSH_HONOR,
    EXT_PUSH_WECHAT,
    EXT_PUSH_NVENDORS
};

/* "apns", "huawei", … ; NULL out of range. */
const char *ext_push_vendor_name(int vendor);
/* The vendor of a name, or -1. */
int ext_push_vendor_by_name(const char *name);

enum ext_push_outcome {
    EXT_PUSH_SENT = 0,      /* the vendor accepted it */
    EXT_PUSH_INVALID_TOKEN, /* the token is dead (APNs 410, HMS 80300007, …): drop the device */
    EXT_PUSH_RATE_LIMITED,  /* the vendor throttles us or the quota is used: later, retry_after_s */
    EXT_PUSH_RETRY,         /* unreachable, 5xx, timeout, auth trouble: later, nothing is lost */
    EXT_PUSH_REJECTED,      /* the vendor refused this message itself: retrying will not help */
};

struct ext_push_msg {
    /* in (borrowed for the call) */
    int vendor;
    const char *token;  /* device token / regId / openid */
    const char *msg_id; /* 32 lower-case hex digits, unique per queued push: apns-id, vivo
                           requestId; the same on a retry */
    const char *title;  /* fixed text of the kind ("新任务"), never case content */
    const char *kind;   /* item kind, e.g. "case.dispatched" */
    int64_t seq;        /* inbox seq */
    int64_t ref_id;     /* case id or 0 */
    int count;          /* items this push stands for (collapsed, held by the rate limit) */
    bool im;            /* IM message (else work) */
    bool urgent;        /* 督办, overdue: highest priority */
    int64_t expires_s;  /* Unix time after which the vendor may drop it */
    /* out */
    enum ext_push_outcome outcome;
    int retry_after_s;       /* RATE_LIMITED / RETRY: the vendor's hint, 0 when none */
    char vendor_msg_id[128]; /* SENT: the vendor's id of the message ("" when none) */
    char detail[160]; /* the vendor's reason (code, reason text), for logs and dead letters */
};

/* Once at start-up, before threads: takes the vendors' settings from cfg (copied). A vendor
 * is configured when its credentials are set. Fails (one line in err) when a configured key
 * file cannot be read or parsed. */
int ext_push_configure(const struct cfg *cfg, char *err, size_t errlen);
bool ext_push_configured(int vendor);

struct ext_push;
/* A sender for one thread. NULL on OOM. */
struct ext_push *ext_push_new(void);
void ext_push_free(struct ext_push *p); /* NULL is a no-op */

/* Send n messages at once; sets every v[i].outcome. Messages of an unconfigured vendor get
 * EXT_PUSH_RETRY with detail "not configured". ext_push_start + ext_push_finish. */
void ext_push_send(struct ext_push *p, struct ext_push_msg *v, size_t n);
/* The same in two halves, so the caller can work (the database) while the streams are in
 * flight: start prepares the requests and puts them on the wire (v is borrowed until
 * finish); finish waits for the answers (push.timeout_ms at most) and sets every outcome.
 * One batch at a time: start finishes a batch still in flight first. finish with nothing in
 * flight does nothing. */
void ext_push_start(struct ext_push *p, struct ext_push_msg *v, size_t n);
void ext_push_finish(struct ext_push *p);

/* Connections opened by this sender so far (the bench checks that APNs used one). */
long ext_push_connections(const struct ext_push *p);
/* RST_STREAM frames libcurl 7.88 asked for on HTTP/2 streams that had already closed, and
 * that were not sent (push.c says why: servers end a connection that sends too many). */
long ext_push_rst_dropped(void);

#endif
