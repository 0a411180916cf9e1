/* server/ext/push.c: the shared part of vendor push — one curl multi handle per sender, all
 * messages of a batch at once, HTTP/2 multiplexing, reply buffers, hashes. */
#include "push.h"

#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "push_int.h"
#include "server/core/log.h"

#define MODULE "push"

struct push__conf push__conf;

static const char *const names[EXT_PUSH_NVENDORS] = {"apns", "huawei", "xiaomi", "oppo",
                                                     "vivo", "honor",  "wechat"};

static const struct push__provider *const providers[EXT_PUSH_NVENDORS] = {
    &push__apns, &push__huawei, &push__xiaomi, &push__oppo,
    &push__vivo, &push__honor,  &push__wechat};

struct ext_push {
    CURLM *multi;
    long connections;
    /* The batch in flight between ext_push_start and ext_push_finish (one at a time). */
    struct push__call *calls;
    struct ext_push_msg *v;
    size_t n, inflight;
};

const char *ext_push_vendor_name(int vendor)
{
    return vendor >= 0 && vendor < EXT_PUSH_NVENDORS ? names[vendor] : NULL;
}

int ext_push_vendor_by_name(const char *name)
{
    for (int i = 0; i < EXT_PUSH_NVENDORS; i++)
        if (name && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

int ext_push_configure(const struct cfg *cfg, char *err, size_t errlen)
{
    snprintf(push__conf.ca_file, sizeof push__conf.ca_file, "%s", cfg->push_ca_file);
    push__conf.timeout_ms = cfg->push_timeout_ms;
    push__conf.cfg = cfg;
    return push__apns_configure(cfg, err, errlen);
}

bool ext_push_configured(int vendor)
{
    return push__conf.cfg && vendor >= 0 && vendor < EXT_PUSH_NVENDORS &&
           providers[vendor]->configured();
}

struct ext_push *ext_push_new(void)
{
    struct ext_push *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->multi = curl_multi_init();
    if (!p->multi) {
        free(p);
        return NULL;
    }
    /* APNs: every stream of a batch on the one connection (Apple: keep it open, multiplex). */
    curl_multi_setopt(p->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
    curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, 32L);
    curl_multi_setopt(p->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 1000L);
    return p;
}

void ext_push_free(struct ext_push *p)
{
    if (!p)
        return;
    ext_push_finish(p); /* a batch still in flight: its outcomes are not read by anyone */
    curl_multi_cleanup(p->multi);
    free(p);
}

long ext_push_connections(const struct ext_push *p)
{
    return p->connections;
}

int64_t push__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- one HTTP/2 connection: no RST_STREAM on finished streams ------------------------------
 *
 * libcurl 7.88 (Debian 12) ends every HTTP/2 transfer that completed normally with RST_STREAM
 * (STREAM_CLOSED): http2_handle_stream_close() resets stream->closed to FALSE "to prevent an
 * infinite loop", and http2_data_done() then takes the stream for one still open. curl 8.0
 * fixed it (commit 544a7f804d, "http2: fix error handling during parallel operations").
 * Servers built on nghttp2 >= 1.57 count a client's RST_STREAM frames against the rapid-reset
 * limit (CVE-2023-44487; a bucket of 1,000 refilled at 33 a second) and end the connection
 * with GOAWAY INTERNAL_ERROR when it runs dry: about every 1,000 pushes the APNs stand-in
 * (Node's http2) dropped the connection and the streams in flight failed. Apple's servers
 * may well count them too.
 *
 * So cityd defines nghttp2_submit_rst_stream itself: libcurl's call binds to the executable's
 * definition first. A RST_STREAM with STREAM_CLOSED for one of our streams that nghttp2 no
 * longer knows (it forgets a client stream once both sides closed it) is dropped: RFC 9113
 * 5.1 allows no frame but PRIORITY on a closed stream, and there is nothing to reset. Every
 * other call goes to the library's function. (A stream whose HEADERS curl submitted but
 * nghttp2 has not yet sent is unknown too; curl sends right after submitting, so it does not
 * reset one of those with STREAM_CLOSED.) The declarations use the library's ABI with opaque
 * types: no build dependency on nghttp2's headers. */

struct nghttp2_session;
int nghttp2_submit_rst_stream(struct nghttp2_session *s, uint8_t flags, int32_t stream_id,
                              uint32_t error_code);

#define H2_STREAM_CLOSED 5u

static struct {
    int (*submit_rst)(struct nghttp2_session *, uint8_t, int32_t, uint32_t);
    int32_t (*next_stream_id)(struct nghttp2_session *);
    void *(*find_stream)(struct nghttp2_session *, int32_t);
} ng;
static pthread_once_t ng_once = PTHREAD_ONCE_INIT;
static atomic_long rst_dropped;

static void ng_resolve(void)
{
    *(void **)&ng.submit_rst = dlsym(RTLD_NEXT, "nghttp2_submit_rst_stream");
    *(void **)&ng.next_stream_id = dlsym(RTLD_NEXT, "nghttp2_session_get_next_stream_id");
    *(void **)&ng.find_stream = dlsym(RTLD_NEXT, "nghttp2_session_find_stream");
}

int nghttp2_submit_rst_stream(struct nghttp2_session *s, uint8_t flags, int32_t stream_id,
                              uint32_t error_code)
{
    pthread_once(&ng_once, ng_resolve);
    if (error_code == H2_STREAM_CLOSED && stream_id > 0 && (stream_id & 1) && ng.next_stream_id &&
        ng.find_stream && stream_id < ng.next_stream_id(s) && !ng.find_stream(s, stream_id)) {
        atomic_fetch_add_explicit(&rst_dropped, 1, memory_order_relaxed);
        return 0;
    }
    if (!ng.submit_rst)
        return -501; /* NGHTTP2_ERR_INVALID_ARGUMENT: no nghttp2 (curl built without it) */
    return ng.submit_rst(s, flags, stream_id, error_code);
}

long ext_push_rst_dropped(void)
{
    return atomic_load_explicit(&rst_dropped, memory_order_relaxed);
}

/* ---- reply buffers and headers --------------------------------------------------------- */

static size_t on_body(char *d, size_t size, size_t nmemb, void *arg)
{
    struct push__buf *b = arg;
    size_t n = size * nmemb;

    if (b->over || b->n + n + 1 > PUSH__REPLY_MAX) {
        b->over = true;
        return n; /* keep reading; the reply counts as garbage */
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->over = true;
            return n;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static size_t on_header(char *d, size_t size, size_t nmemb, void *arg)
{
    struct push__call *c = arg;
    size_t n = size * nmemb;

    if (n > 8 && strncasecmp(d, "apns-id:", 8) == 0) {
        const char *v = d + 8;
        size_t k;
        while (*v == ' ')
            v++;
        k = strcspn(v, "\r\n");
        if (k >= sizeof c->apns_id)
            k = sizeof c->apns_id - 1;
        memcpy(c->apns_id, v, k);
        c->apns_id[k] = '\0';
    } else if (n > 12 && strncasecmp(d, "retry-after:", 12) == 0) {
        c->retry_after_s = (int)strtol(d + 12, NULL, 10); /* a bad value reads as 0: no hint */
    }
    return n;
}

CURL *push__easy(struct push__call *c)
{
    CURL *h = curl_easy_init();

    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)push__conf.timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cityd");
    if (push__conf.ca_file[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, push__conf.ca_file);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->reply);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_PRIVATE, c);
    /* Wait for the connection another stream is opening instead of opening a second one. */
    curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
    return h;
}

long push__post_sync(const char *url, struct curl_slist *headers, const char *body, char **reply)
{
    struct push__call c = {0};
    long status = 0;
    CURL *h = push__easy(&c);

    *reply = NULL;
    if (!h)
        return 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (headers)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (status && !c.reply.over && c.reply.p)
        *reply = c.reply.p;
    else
        free(c.reply.p);
    return status;
}

void push__result(struct push__call *c, enum ext_push_outcome o, const char *fmt, ...)
{
    va_list ap;

    c->m->outcome = o;
    va_start(ap, fmt);
    vsnprintf(c->m->detail, sizeof c->m->detail, fmt, ap);
    va_end(ap);
    if (o == EXT_PUSH_RATE_LIMITED || o == EXT_PUSH_RETRY)
        c->m->retry_after_s = c->retry_after_s;
}

void push__result_http(struct push__call *c, long status)
{
    if (c->cc != CURLE_OK)
        push__result(c, EXT_PUSH_RETRY, "not reached: %s", curl_easy_strerror(c->cc));
    else if (status == 429)
        push__result(c, EXT_PUSH_RATE_LIMITED, "HTTP 429");
    else if (status >= 500 || status == 0 || status == 401 || status == 403)
        push__result(c, EXT_PUSH_RETRY, "HTTP %ld", status);
    else
        push__result(c, EXT_PUSH_REJECTED, "HTTP %ld", status);
}

char *push__escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *r = e ? strdup(e) : NULL;
    curl_free(e);
    return r;
}

static void digest_hex(const EVP_MD *md, const char *s, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    out[0] = '\0';
    if (!EVP_Digest(s, strlen(s), d, &n, md, NULL))
        return;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void push__sha256_hex(const char *s, char out[65])
{
    digest_hex(EVP_sha256(), s, out);
}

void push__md5_hex(const char *s, char out[33])
{
    digest_hex(EVP_md5(), s, out);
}

/* ---- access tokens ------------------------------------------------------------------------ */

const char *push__token_get(struct push__token *t, int64_t margin_ms, push__token_fetch fetch,
                            char *why, size_t whylen)
{
    if (t->value[0] && t->expires_ms - margin_ms > push__now_ms())
        return t->value;
    t->value[0] = '\0';
    if (fetch(t, why, whylen) != 0 || !t->value[0])
        return NULL;
    return t->value;
}

int push__oauth_fetch(struct push__token *t, const char *url, const char *client_id,
                      const char *secret, char *why, size_t whylen)
{
    struct curl_slist *hs =
        curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    char *form = push__form_add(NULL, "grant_type", "client_credentials"), *reply = NULL;
    json_t *j = NULL;
    const char *tok;
    long status;
    int rc = -1;

    form = push__form_add(form, "client_id", client_id);
    form = push__form_add(form, "client_secret", secret);
    if (!form) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    status = push__post_sync(url, hs, form + 1, &reply);
    j = reply ? json_loads(reply, 0, NULL) : NULL;
    tok = json_string_value(json_object_get(j, "access_token"));
    if (status != 200 || !tok || strlen(tok) >= sizeof t->value) {
        snprintf(why, whylen, "token endpoint: HTTP %ld %s", status,
                 json_is_integer(json_object_get(j, "error")) ? "error" : "");
        goto out;
    }
    snprintf(t->value, sizeof t->value, "%s", tok);
    t->expires_ms = push__now_ms() + (json_integer_value(json_object_get(j, "expires_in")) > 0
                                          ? json_integer_value(json_object_get(j, "expires_in"))
                                          : 3600) *
                                         1000;
    rc = 0;
out:
    if (form)
        explicit_bzero(form, strlen(form));
    free(form);
    free(reply);
    json_decref(j);
    curl_slist_free_all(hs);
    return rc;
}

char *push__ids_json(const struct ext_push_msg *m)
{
    json_t *j = json_pack("{s:I,s:s,s:I}", "seq", (json_int_t)m->seq, "kind", m->kind, "case_id",
                          (json_int_t)m->ref_id);
    if (j && m->count > 1) /* "N new items": the app syncs from its position anyway */
        json_object_set_new(j, "count", json_integer(m->count));
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

char *push__form_add(char *form, const char *name, const char *value)
{
    char *v = push__escape(value ? value : ""), *n = NULL;
    size_t len = form ? strlen(form) : 0;

    if (v) {
        size_t need = len + strlen(name) + strlen(v) + 3;
        n = realloc(form, need);
        if (n)
            snprintf(n + len, need - len, "&%s=%s", name, v);
    }
    if (!n)
        free(form);
    free(v);
    return n;
}

/* ---- one batch --------------------------------------------------------------------------- */

static void call_free(struct push__call *c)
{
    curl_slist_free_all(c->hs);
    c->hs = NULL;
    free(c->body);
    c->body = NULL;
    free(c->reply.p);
    c->reply.p = NULL;
}

/* Reap what finished; true while streams are still in flight. */
static void reap(struct ext_push *p)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(p->multi, &left))) {
        struct push__call *c = NULL;
        long status = 0, conns = 0;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        c->cc = msg->data.result;
        if (c->cc == CURLE_OK)
            curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c->h, CURLINFO_NUM_CONNECTS, &conns);
        p->connections += conns;
        if (conns > 0) /* rare: connections are kept open and shared by the streams */
            log_info(NULL,
                     "push: new connection to %s (%ld so far; %ld RST_STREAM on closed"
                     " streams not sent)",
                     ext_push_vendor_name(c->m->vendor), p->connections, ext_push_rst_dropped());
        if (c->cc != CURLE_OK || c->reply.over)
            push__result_http(c, c->reply.over ? 500 : 0);
        else
            providers[c->m->vendor]->finish(p, c, status);
        curl_multi_remove_handle(p->multi, c->h);
        curl_easy_cleanup(c->h);
        c->h = NULL;
        c->done = true;
        p->inflight--;
    }
}

void ext_push_start(struct ext_push *p, struct ext_push_msg *v, size_t n)
{
    struct push__call *calls;
    int running = 0;

    ext_push_finish(p); /* one batch at a time */
    calls = calloc(n ? n : 1, sizeof *calls);
    if (!calls) {
        for (size_t i = 0; i < n; i++) {
            v[i].outcome = EXT_PUSH_RETRY;
            snprintf(v[i].detail, sizeof v[i].detail, "out of memory");
        }
        return;
    }
    p->calls = calls;
    p->v = v;
    p->n = n;
    p->inflight = 0;
    for (size_t i = 0; i < n; i++) {
        struct push__call *c = &calls[i];
        const struct push__provider *pv;

        c->m = &v[i];
        v[i].outcome = EXT_PUSH_RETRY;
        v[i].retry_after_s = 0;
        v[i].vendor_msg_id[0] = '\0';
        v[i].detail[0] = '\0';
        if (!ext_push_configured(v[i].vendor)) {
            snprintf(v[i].detail, sizeof v[i].detail, "vendor not configured");
            c->done = true;
            continue;
        }
        pv = providers[v[i].vendor];
        c->h = push__easy(c);
        if (!c->h) {
            snprintf(v[i].detail, sizeof v[i].detail, "out of memory");
            c->done = true;
            continue;
        }
        if (pv->prepare(p, c) != 0) {
            curl_easy_cleanup(c->h);
            c->h = NULL;
            c->done = true;
            continue;
        }
        curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hs);
        if (curl_multi_add_handle(p->multi, c->h) != CURLM_OK) {
            snprintf(v[i].detail, sizeof v[i].detail, "curl refused the request");
            curl_easy_cleanup(c->h);
            c->h = NULL;
            c->done = true;
            continue;
        }
        p->inflight++;
    }
    /* Put the requests on the wire now; the caller may do other work before finishing. */
    if (p->inflight && curl_multi_perform(p->multi, &running) == CURLM_OK)
        reap(p);
}

void ext_push_finish(struct ext_push *p)
{
    int running = 1;

    if (!p->calls)
        return;
    while (p->inflight) {
        if (curl_multi_perform(p->multi, &running) != CURLM_OK)
            break;
        reap(p);
        if (p->inflight && running)
            curl_multi_poll(p->multi, NULL, 0, 200, NULL);
        else if (p->inflight && !running)
            break; /* nothing left running yet not reaped: give up on them */
    }
    for (size_t i = 0; i < p->n; i++) {
        if (p->calls[i].h) { /* the multi handle broke: give up on these, to be retried */
            curl_multi_remove_handle(p->multi, p->calls[i].h);
            curl_easy_cleanup(p->calls[i].h);
        }
        call_free(&p->calls[i]);
    }
    free(p->calls);
    p->calls = NULL;
    p->v = NULL;
    p->n = p->inflight = 0;
}

void ext_push_send(struct ext_push *p, struct ext_push_msg *v, size_t n)
{
    ext_push_start(p, v, n);
    ext_push_finish(p);
}
