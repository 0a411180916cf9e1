/* bench/tools/ws_sub.c: the subscribers of bench/tools/ws_fanout.js when it runs them in C
 * (bench/ws_fanout.sh builds this against Debian's libwebsockets and sets WS_SUB_BIN). One
 * process, one libwebsockets context (on its libuv event loop: epoll, so a wake-up costs the
 * sockets that have data, not all of them), every subscriber a libwebsockets client made with
 * lws_client_connect_via_info. The WebSocket protocol (handshake, frames, masking, pongs) is
 * the library's; this file only reads the messages. The same program for every server measured.
 * It needs 1.1-1.4x the CPU per message of the hand-written RFC 6455 client it replaced (commit
 * 6342fce and before): lws 4.1 feeds a received frame to its parser one byte, one call, at a
 * time (docs/benchmarks.md, issue 10).
 *
 *   ws_sub TARGET URL TOKEN FIRST STRIDE N
 *
 * TARGET cityd | mqtt | nchan; subscribers FIRST, FIRST+STRIDE, ... < N (source address
 * 127.0.0.<1 + i/50000>). Protocol on stdin/stdout with ws_fanout.js:
 *   out "connected K CLOSED CPU_US\n" once every subscriber is ready (cityd: authenticated by the
 *       Authorization header, then synced on stream "all"; mqtt: SUBACK; nchan: open);
 *   in  "stats STEP\n" -> out "stats STEP GOT CLOSED CPU_US NLAT NMSG\n", then NLAT uint32
 *       latencies in µs and NMSG triples of int64 (publish time, first and last receipt, µs of
 *       CLOCK_MONOTONIC), little-endian (the machine's own order on x86 and arm64, which
 *       ws_fanout.js reads); the step's records are then dropped;
 *   end of stdin: exit.
 * A received message carries "B<step>:<publish time, µs of CLOCK_MONOTONIC>:" (MQTT: in a
 * PUBLISH packet; cityd: in an item frame's data).
 * WS_SUB_POLL=1 (environment): lws' default poll() loop instead of libuv (to compare). */
#define _GNU_SOURCE
#include <errno.h>
#include <libwebsockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { T_CITYD, T_MQTT, T_NCHAN };
enum { C_IDLE, C_CONNECTING, C_OPEN, C_READY, C_CLOSED };
#define STEPS_MAX 256
#define INFLIGHT 200          /* connections being made at once */
#define RX_BUFFER 4096        /* a read() per wake-up takes up to this much */
#define MSG_MAX (1024 * 1024) /* a message in several pieces is joined up to this size */

struct sub {
    struct lws *wsi;
    int state, idx;
    int ntx, tx;        /* packets to send once established (MQTT) or after auth_ok (cityd) */
    unsigned char *acc; /* a message that came in pieces */
    size_t acclen, acccap;
};

struct msg {
    int64_t key, first, last;
};
struct step {
    uint64_t got;
    uint32_t *lat;
    size_t nlat, latcap;
    struct msg *msgs;
    size_t nmsgs, msgcap;
};

static int target;
static char host[256], path[1024], auth[4200];
static int port;
static struct step steps[STEPS_MAX];
static uint64_t closed, nready;
static struct sub *subs;
static int nsubs, started, announced;
static struct lws_context *ctx;
static struct lws_vhost *vhost;
static char in[256];
static size_t inlen;

static void die(const char *what)
{
    fprintf(stderr, "ws_sub: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    p = realloc(p, n * elem);
    if (!p)
        die("realloc");
    *cap = n;
    return p;
}

static void record(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != 'B' || p[i + 1] < '0' || p[i + 1] > '9')
            continue;
        size_t k = i + 1;
        int64_t st = 0, t = 0;
        while (k < n && p[k] >= '0' && p[k] <= '9')
            st = st * 10 + (p[k++] - '0');
        if (k >= n || p[k++] != ':')
            continue;
        if (k >= n || p[k] < '0' || p[k] > '9')
            continue;
        while (k < n && p[k] >= '0' && p[k] <= '9')
            t = t * 10 + (p[k++] - '0');
        if (k >= n || p[k] != ':' || st < 0 || st >= STEPS_MAX)
            continue;
        int64_t now = now_us();
        struct step *s = &steps[st];
        s->got++;
        s->lat = grow(s->lat, &s->latcap, s->nlat + 1, sizeof *s->lat);
        s->lat[s->nlat++] = (uint32_t)(now - t > 0 ? now - t : 0);
        size_t j = s->nmsgs, stop = j > 64 ? j - 64 : 0;
        while (j > stop && s->msgs[j - 1].key != t)
            j--;
        if (j > stop) {
            s->msgs[j - 1].last = now;
        } else {
            s->msgs = grow(s->msgs, &s->msgcap, s->nmsgs + 1, sizeof *s->msgs);
            s->msgs[s->nmsgs++] = (struct msg){t, now, now};
        }
        return;
    }
}

static void put(const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(1, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            die("stdout");
        c += w;
        n -= (size_t)w;
    }
}

static void stats(int st)
{
    char h[256];
    struct step *s;
    int n;

    if (st < 0 || st >= STEPS_MAX)
        st = 0;
    s = &steps[st];
    n = snprintf(h, sizeof h, "stats %d %llu %llu %lld %zu %zu\n", st, (unsigned long long)s->got,
                 (unsigned long long)closed, (long long)cpu_us(), s->nlat, s->nmsgs);
    put(h, (size_t)n);
    put(s->lat, s->nlat * sizeof *s->lat);
    put(s->msgs, s->nmsgs * sizeof *s->msgs);
    free(s->lat);
    free(s->msgs);
    *s = (struct step){0};
}

/* Start subscribers until INFLIGHT are on their way; announce once all are ready. */
static void start_more(void)
{
    while (started < nsubs && (uint64_t)started - nready < INFLIGHT) {
        struct sub *s = &subs[started++];
        struct lws_client_connect_info ci;
        char iface[32];

        memset(&ci, 0, sizeof ci);
        ci.context = ctx;
        ci.vhost = vhost;
        ci.address = host;
        ci.port = port;
        ci.path = path;
        ci.host = host;
        ci.protocol = target == T_CITYD ? "cityd.v1" : target == T_MQTT ? "mqtt" : NULL;
        ci.local_protocol_name = "sub";
        ci.userdata = s;
        ci.pwsi = &s->wsi;
        ci.ietf_version_or_minus_one = -1;
        if (s->idx >= 50000) { /* 127.0.0.1 runs out of source ports */
            snprintf(iface, sizeof iface, "127.0.0.%d", 1 + s->idx / 50000);
            ci.iface = iface;
        }
        s->state = C_CONNECTING;
        if (!lws_client_connect_via_info(&ci)) {
            fprintf(stderr, "ws_sub: subscriber %d: cannot start a connection\n", s->idx);
            exit(1);
        }
    }
    if (!announced && nready == (uint64_t)nsubs) {
        char h[96];
        int n = snprintf(h, sizeof h, "connected %d %llu %lld\n", nsubs, (unsigned long long)closed,
                         (long long)cpu_us());
        put(h, (size_t)n);
        announced = 1;
    }
}

static void ready(struct sub *s)
{
    s->state = C_READY;
    nready++;
    start_more();
}

/* MQTT 3.1.1 over WebSocket needs three packets here, encoded by hand (Debian has no MQTT
 * library for an lws loop, and lws' own MQTT role is not built): CONNECT and SUBSCRIBE, sent as
 * binary messages, and PUBLISH (QoS 0), received (record() finds the mark in it). Both packets
 * sent are shorter than 128 bytes, so their "remaining length" is one byte. */
static size_t mqtt_str(unsigned char *o, const char *s)
{
    size_t n = strlen(s);
    o[0] = (unsigned char)(n >> 8);
    o[1] = (unsigned char)n;
    memcpy(o + 2, s, n);
    return n + 2;
}

static size_t mqtt_packet(const struct sub *s, int k, unsigned char *p)
{
    size_t n = 2;
    if (k == 0) {                     /* CONNECT */
        n += mqtt_str(p + n, "MQTT"); /* protocol name */
        p[n++] = 4;                   /* protocol level: 3.1.1 */
        p[n++] = 2;                   /* flags: clean session */
        p[n++] = 0, p[n++] = 60;      /* keep-alive, seconds */
        char id[32];
        snprintf(id, sizeof id, "s%d", s->idx);
        n += mqtt_str(p + n, id); /* client identifier */
        p[0] = 0x10;
    } else {                    /* SUBSCRIBE */
        p[n++] = 0, p[n++] = 1; /* packet identifier */
        n += mqtt_str(p + n, "bench/all");
        p[n++] = 0; /* QoS 0 */
        p[0] = 0x82;
    }
    p[1] = (unsigned char)(n - 2);
    return n;
}

static void on_message(struct sub *s, const unsigned char *p, size_t n)
{
    if (target == T_NCHAN) {
        record(p, n);
    } else if (target == T_MQTT) {
        int t = n ? p[0] >> 4 : 0;
        if (t == 3) /* PUBLISH */
            record(p, n);
        else if (t == 9 && s->state == C_OPEN) /* SUBACK */
            ready(s);
    } else {
        static const char item[] = "{\"type\":\"item\",\"stream\":\"all\"";
        if (n >= sizeof item - 1 && memcmp(p, item, sizeof item - 1) == 0) {
            record(p, n);
            return;
        }
        char t[4096];
        size_t k = n < sizeof t - 1 ? n : sizeof t - 1;
        memcpy(t, p, k);
        t[k] = 0;
        if (strstr(t, "\"type\":\"auth_ok\"") && s->ntx == 0) {
            s->ntx = 1; /* {"type":"sync"} */
            lws_callback_on_writable(s->wsi);
        } else if (strstr(t, "\"type\":\"synced\"") && strstr(t, "\"stream\":\"all\"") &&
                   s->state == C_OPEN) {
            ready(s);
        } else if (strstr(t, "\"type\":\"error\"") && s->state != C_READY) {
            /* Before it is ready: the run cannot start. Later (a read refused while the
             * database queue is full: the server retries it) the client just waits. */
            fprintf(stderr, "ws_sub: subscriber %d: %s\n", s->idx, t);
            exit(1);
        }
    }
}

static int cb_sub(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *data,
                  size_t len)
{
    struct sub *s = user;

    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = data, *end = *p + len;
        if (target == T_CITYD &&
            lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                         (const unsigned char *)auth, (int)strlen(auth), p, end))
            return -1;
        break;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "ws_sub: subscriber %d: %s\n", s ? s->idx : -1,
                data ? (const char *)data : "connection failed");
        exit(1);
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        s->wsi = wsi;
        s->state = C_OPEN;
        if (target == T_NCHAN) {
            ready(s);
        } else if (target == T_MQTT) {
            s->ntx = 2; /* CONNECT, SUBSCRIBE */
            lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        unsigned char b[LWS_PRE + 256], *p = b + LWS_PRE;
        size_t n;
        if (s->tx >= s->ntx)
            break;
        if (target == T_MQTT) {
            n = mqtt_packet(s, s->tx, p);
        } else {
            n = sizeof "{\"type\":\"sync\"}" - 1;
            memcpy(p, "{\"type\":\"sync\"}", n);
        }
        if (lws_write(wsi, p, n, target == T_MQTT ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)n)
            return -1;
        if (++s->tx < s->ntx)
            lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        /* A whole message in one piece (every message here, unless it is larger than
         * RX_BUFFER or the server fragments it) is read where lws put it. */
        if (!s->acclen && lws_is_final_fragment(wsi)) {
            on_message(s, data, len);
            break;
        }
        if (s->acclen + len > MSG_MAX) {
            fprintf(stderr, "ws_sub: subscriber %d: a message over %d bytes\n", s->idx, MSG_MAX);
            exit(1);
        }
        s->acc = grow(s->acc, &s->acccap, s->acclen + len, 1);
        memcpy(s->acc + s->acclen, data, len);
        s->acclen += len;
        if (lws_is_final_fragment(wsi)) {
            on_message(s, s->acc, s->acclen);
            s->acclen = 0;
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (s->state != C_READY) {
            fprintf(stderr, "ws_sub: subscriber %d closed before it was ready\n", s->idx);
            exit(1);
        }
        s->state = C_CLOSED;
        closed++;
        break;
    default:
        break;
    }
    return 0;
}

/* Standard input, adopted into the same loop as a raw file descriptor. */
static int cb_stdin(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *data,
                    size_t len)
{
    (void)wsi, (void)user, (void)data, (void)len;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE: {
        ssize_t r = read(0, in + inlen, sizeof in - 1 - inlen);
        if (r == 0)
            exit(0);
        if (r < 0)
            break;
        inlen += (size_t)r;
        char *nl;
        while ((nl = memchr(in, '\n', inlen))) {
            *nl = 0;
            if (strncmp(in, "stats ", 6) == 0)
                stats((int)strtol(in + 6, NULL, 10));
            inlen -= (size_t)(nl + 1 - in);
            memmove(in, nl + 1, inlen);
        }
        if (inlen >= sizeof in - 1)
            inlen = 0;
        break;
    }
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        exit(0);
    default:
        break;
    }
    return 0;
}

/* SIGTERM from ws_fanout.js at the end of a run (lws' own libuv loop catches it). */
static void on_signal(void *handle, int signum)
{
    (void)handle, (void)signum;
    _exit(0);
}

static const struct lws_protocols protocols[] = {
    {"sub", cb_sub, 0, RX_BUFFER, 0, NULL, 0},
    {"stdin", cb_stdin, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int main(int argc, char **argv)
{
    struct lws_context_creation_info info;
    struct rlimit rl;
    lws_sock_file_fd_type fd0;
    int first, stride, total;

    if (argc != 7) {
        fprintf(stderr, "usage: ws_sub cityd|mqtt|nchan URL TOKEN FIRST STRIDE N\n");
        return 2;
    }
    target = strcmp(argv[1], "cityd") == 0  ? T_CITYD
             : strcmp(argv[1], "mqtt") == 0 ? T_MQTT
                                            : T_NCHAN;
    if (sscanf(argv[2], "ws://%255[^:/]:%d%1023s", host, &port, path) < 2) {
        fprintf(stderr, "ws_sub: URL ws://HOST:PORT/PATH\n");
        return 2;
    }
    if (!path[0])
        memcpy(path, "/", 2);
    snprintf(auth, sizeof auth, "Bearer %s", argv[3]);
    first = (int)strtol(argv[4], NULL, 10);
    stride = (int)strtol(argv[5], NULL, 10);
    total = (int)strtol(argv[6], NULL, 10);
    if (first < 0 || stride < 1 || total < 0) {
        fprintf(stderr, "ws_sub: FIRST >= 0, STRIDE >= 1, N >= 0\n");
        return 2;
    }
    for (int i = first; i < total; i += stride)
        nsubs++;
    subs = calloc((size_t)nsubs + 1, sizeof *subs);
    if (!subs)
        die("calloc");
    for (int j = 0; j < nsubs; j++)
        subs[j].idx = first + j * stride;

    /* lws sizes its descriptor tables from the soft limit (sysconf(_SC_OPEN_MAX)) when the
     * context is made, and a descriptor past them cannot be used: the soft limit goes up to
     * the hard one first. (fd_limit_per_thread below the limit would make lws look every
     * descriptor up by a linear search.) */
    if (getrlimit(RLIMIT_NOFILE, &rl))
        die("getrlimit");
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl))
        die("setrlimit");
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)nsubs + 64) {
        fprintf(stderr, "ws_sub: %d subscribers need more descriptors than nofile %llu\n", nsubs,
                (unsigned long long)rl.rlim_cur);
        return 1;
    }

    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (!getenv("WS_SUB_POLL"))
        info.options |= LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
    info.signal_cb = on_signal;
    ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "ws_sub: cannot create the libwebsockets context\n");
        return 1;
    }
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.vhost_name = "ws_sub";
    vhost = lws_create_vhost(ctx, &info);
    if (!vhost) {
        fprintf(stderr, "ws_sub: cannot create the libwebsockets vhost\n");
        return 1;
    }
    fd0.filefd = 0;
    if (!lws_adopt_descriptor_vhost(vhost, LWS_ADOPT_RAW_FILE_DESC, fd0, "stdin", NULL)) {
        fprintf(stderr, "ws_sub: cannot watch standard input\n");
        return 1;
    }

    start_more();
    if (!getenv("WS_SUB_POLL")) {
        lws_service(ctx, 0); /* runs the libuv loop; it ends only on a signal */
        return 1;
    }
    for (;;)
        if (lws_service(ctx, 0) < 0)
            return 1;
}
