/* bench/tools/ws_sub.c: the subscribers of bench/tools/ws_fanout.js when it runs them in C
 * (bench/ws_fanout.sh builds this with cc and sets WS_SUB_BIN). One process, one epoll loop, plain
 * TCP sockets speaking RFC 6455 themselves: the receiving side of a fan-out to thousands of
 * sockets costs a read() and a few comparisons per frame, so it is not the load generator that
 * sets the latency on a small machine. The same program for every server measured.
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
 * PUBLISH packet; cityd: in an item frame's data). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { T_CITYD, T_MQTT, T_NCHAN };
enum { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_READY, C_CLOSED };
#define STEPS_MAX 256
#define INFLIGHT 200

struct conn {
    int fd, state, idx;
    unsigned char *buf;
    size_t len, cap;
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
static char host[256], path[1024], token[4096];
static int port;
static struct step steps[STEPS_MAX];
static uint64_t closed, nready;
static uint64_t rnd = 88172645463325252ull;

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

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) { /* tiny frames: a full send buffer means a stuck peer */
            usleep(100);
            continue;
        }
        if (w < 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

/* A masked client frame. */
static void ws_send(struct conn *c, int opcode, const void *data, size_t len)
{
    unsigned char f[16 + 4096];
    size_t h = 2;
    if (len > 4096)
        return;
    f[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        f[1] = (unsigned char)(0x80 | len);
    } else {
        f[1] = 0x80 | 126;
        f[2] = (unsigned char)(len >> 8);
        f[3] = (unsigned char)len;
        h = 4;
    }
    rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
    memcpy(f + h, &rnd, 4);
    for (size_t i = 0; i < len; i++)
        f[h + 4 + i] = ((const unsigned char *)data)[i] ^ f[h + (i & 3)];
    send_all(c->fd, f, h + 4 + len);
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

static size_t mqtt_str(unsigned char *o, const char *s)
{
    size_t n = strlen(s);
    o[0] = (unsigned char)(n >> 8);
    o[1] = (unsigned char)n;
    memcpy(o + 2, s, n);
    return n + 2;
}

static void on_open(struct conn *c)
{
    c->state = C_OPEN;
    if (target == T_NCHAN) {
        c->state = C_READY;
        nready++;
    } else if (target == T_MQTT) {
        unsigned char b[128], p[160];
        char id[32];
        size_t n = 0;
        n += mqtt_str(b + n, "MQTT");
        b[n++] = 4, b[n++] = 2, b[n++] = 0, b[n++] = 60;
        snprintf(id, sizeof id, "s%d", c->idx);
        n += mqtt_str(b + n, id);
        p[0] = 0x10, p[1] = (unsigned char)n;
        memcpy(p + 2, b, n);
        ws_send(c, 2, p, n + 2);
        n = 0;
        b[n++] = 0, b[n++] = 1;
        n += mqtt_str(b + n, "bench/all");
        b[n++] = 0;
        p[0] = 0x82, p[1] = (unsigned char)n;
        memcpy(p + 2, b, n);
        ws_send(c, 2, p, n + 2);
    }
}

static void on_message(struct conn *c, int op, const unsigned char *p, size_t n)
{
    (void)op;
    if (target == T_NCHAN) {
        record(p, n);
    } else if (target == T_MQTT) {
        int t = n ? p[0] >> 4 : 0;
        if (t == 3)
            record(p, n);
        else if (t == 9 && c->state == C_OPEN) {
            c->state = C_READY;
            nready++;
        }
    } else {
        static const char item[] = "{\"type\":\"item\",\"stream\":\"all\"";
        if (n >= sizeof item - 1 && memcmp(p, item, sizeof item - 1) == 0) {
            record(p, n);
            return;
        }
        char s[4096];
        size_t k = n < sizeof s - 1 ? n : sizeof s - 1;
        memcpy(s, p, k);
        s[k] = 0;
        if (strstr(s, "\"type\":\"auth_ok\""))
            ws_send(c, 1, "{\"type\":\"sync\"}", 15);
        else if (strstr(s, "\"type\":\"synced\"") && strstr(s, "\"stream\":\"all\"") &&
                 c->state == C_OPEN) {
            c->state = C_READY;
            nready++;
        } else if (strstr(s, "\"type\":\"error\"") && c->state != C_READY) {
            /* Before it is ready: the run cannot start. Later (a read refused while the
             * database queue is full: the server retries it) the client just waits. */
            fprintf(stderr, "ws_sub: subscriber %d: %s\n", c->idx, s);
            exit(1);
        }
    }
}

static void conn_close(int ep, struct conn *c)
{
    if (c->state == C_CLOSED)
        return;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->state != C_READY) {
        fprintf(stderr, "ws_sub: subscriber %d closed before it was ready\n", c->idx);
        exit(1);
    }
    c->state = C_CLOSED;
    closed++;
}

/* Frames in c->buf[0..len): handle the complete ones, keep the rest. */
static void parse(int ep, struct conn *c)
{
    size_t o = 0;
    unsigned char *d = c->buf;
    if (c->state == C_HANDSHAKE) {
        unsigned char *e = memmem(d, c->len, "\r\n\r\n", 4);
        if (!e)
            return;
        if (c->len < 12 || memcmp(d, "HTTP/1.1 101", 12) != 0) {
            fprintf(stderr, "ws_sub: handshake refused: %.*s\n", (int)(e - d), d);
            exit(1);
        }
        o = (size_t)(e - d) + 4;
        on_open(c);
    }
    while (c->len - o >= 2) {
        unsigned b0 = d[o], b1 = d[o + 1];
        uint64_t len = b1 & 127;
        size_t h = 2;
        if (len == 126) {
            if (c->len - o < 4)
                break;
            len = (uint64_t)d[o + 2] << 8 | d[o + 3];
            h = 4;
        } else if (len == 127) {
            if (c->len - o < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | d[o + 2 + i];
            h = 10;
        }
        if (b1 & 0x80)
            h += 4;
        if (c->len - o < h + len)
            break; /* the rest comes later (the buffer grows in readable() when full) */
        unsigned char *p = d + o + h;
        if (b1 & 0x80)
            for (size_t i = 0; i < len; i++)
                p[i] ^= d[o + h - 4 + (i & 3)];
        o += h + len;
        switch (b0 & 15) {
        case 9:
            ws_send(c, 10, p, len);
            break;
        case 8:
            conn_close(ep, c);
            return;
        case 1:
        case 2:
            on_message(c, b0 & 15, p, len); /* the servers here never fragment */
            break;
        default:
            break;
        }
    }
    if (o) {
        memmove(d, d + o, c->len - o);
        c->len -= o;
    }
}

static void readable(int ep, struct conn *c)
{
    if (c->len == c->cap) {
        c->buf = grow(c->buf, &c->cap, c->cap * 2, 1);
    }
    ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(ep, c);
        return;
    }
    if (n < 0)
        return;
    c->len += (size_t)n;
    parse(ep, c);
}

static void start(int ep, struct conn *c)
{
    struct sockaddr_in la = {.sin_family = AF_INET}, ra = {.sin_family = AF_INET};
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    int one = 1;
    char a[32];

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    snprintf(a, sizeof a, "127.0.0.%d", 1 + c->idx / 50000);
    inet_pton(AF_INET, a, &la.sin_addr);
    if (bind(c->fd, (struct sockaddr *)&la, sizeof la))
        die("bind");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ra.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &ra.sin_addr) != 1) {
        fprintf(stderr, "ws_sub: host %s: an IPv4 address, please\n", host);
        exit(1);
    }
    if (connect(c->fd, (struct sockaddr *)&ra, sizeof ra) && errno != EINPROGRESS)
        die("connect");
    c->state = C_CONNECTING;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
        die("epoll_ctl");
}

static void connected(int ep, struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    int err = 0;
    socklen_t el = sizeof err;
    char req[8192];
    int n;

    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        errno = err;
        die("connect");
    }
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                 "%s%s%s%s%s\r\n",
                 path, host, port,
                 target == T_CITYD  ? "Sec-WebSocket-Protocol: cityd.v1\r\n"
                 : target == T_MQTT ? "Sec-WebSocket-Protocol: mqtt\r\n"
                                    : "",
                 target == T_CITYD ? "Authorization: Bearer " : "", target == T_CITYD ? token : "",
                 target == T_CITYD ? "\r\n" : "", "");
    send_all(c->fd, req, (size_t)n);
    c->state = C_HANDSHAKE;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
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
    struct rusage ru;
    char h[256];
    struct step *s;
    int n;

    if (st < 0 || st >= STEPS_MAX)
        st = 0;
    s = &steps[st];
    getrusage(RUSAGE_SELF, &ru);
    n = snprintf(h, sizeof h, "stats %d %llu %llu %lld %zu %zu\n", st, (unsigned long long)s->got,
                 (unsigned long long)closed,
                 (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                     ru.ru_utime.tv_usec + ru.ru_stime.tv_usec,
                 s->nlat, s->nmsgs);
    put(h, (size_t)n);
    put(s->lat, s->nlat * sizeof *s->lat);
    put(s->msgs, s->nmsgs * sizeof *s->msgs);
    free(s->lat);
    free(s->msgs);
    *s = (struct step){0};
}

int main(int argc, char **argv)
{
    struct epoll_event evs[1024], ev = {.events = EPOLLIN, .data.ptr = NULL};
    struct conn *cs;
    int first, stride, total, k = 0, started = 0, ep;
    char in[256];
    size_t inlen = 0;
    int announced = 0;

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
    snprintf(token, sizeof token, "%s", argv[3]);
    first = (int)strtol(argv[4], NULL, 10);
    stride = (int)strtol(argv[5], NULL, 10);
    total = (int)strtol(argv[6], NULL, 10);
    if (first < 0 || stride < 1 || total < 0) {
        fprintf(stderr, "ws_sub: FIRST >= 0, STRIDE >= 1, N >= 0\n");
        return 2;
    }
    for (int i = first; i < total; i += stride)
        k++;
    cs = calloc((size_t)k + 1, sizeof *cs);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!cs || ep < 0)
        die("setup");
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
    for (int j = 0; j < k; j++) {
        cs[j].idx = first + j * stride;
        cs[j].buf = malloc(2048);
        cs[j].cap = 2048;
        if (!cs[j].buf)
            die("malloc");
    }
    for (;;) {
        while (started < k && (uint64_t)started - nready < INFLIGHT)
            start(ep, &cs[started++]);
        if (!announced && nready == (uint64_t)k) {
            char h[96];
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            int n = snprintf(h, sizeof h, "connected %d %llu %lld\n", k, (unsigned long long)closed,
                             (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                                 ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
            put(h, (size_t)n);
            announced = 1;
        }
        int n = epoll_wait(ep, evs, 1024, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                ssize_t r = read(0, in + inlen, sizeof in - 1 - inlen);
                if (r == 0)
                    return 0;
                if (r < 0)
                    continue;
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
                continue;
            }
            if (c->state == C_CONNECTING)
                connected(ep, c);
            else if (c->state != C_CLOSED)
                readable(ep, c);
        }
    }
}
