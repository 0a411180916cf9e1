/* bench/tools/tracks_load.c: the phones of bench/tracks.sh's ingest legs — track batches over
 * h2c (HTTP/2 with prior knowledge, cleartext) on libnghttp2, the C analogue of the baseline's
 * C `mariadb` client. It replaced bench/tools/tracks_load.js's ingest mode as the default
 * (tracks.sh GEN=c; GEN=node runs the JS one): node's HTTP/2 client took 2.4-3.1 ms of CPU per
 * 1,000 points on the two cores the server shares with it (docs/benchmarks.md, issue 12).
 *
 *   tracks_load --port P --mode ingest --clients FILE [--batches B] [--size 100]
 *               [--form object|array]
 *
 * Same arguments, bodies and output as tracks_load.js' ingest mode: FILE is a JSON array
 * [{token, base}]; client k sends B batches of `size` points, {"device":"bench","points":[...]},
 * point seq = b * size + i at device time base + seq, lat 31.3 + k * 0.001, as objects or (array)
 * as [seq, device_time, lat, lng, accuracy, speed, heading, altitude, battery]; numbers printed
 * as JSON.stringify prints them (integers plainly, others in the shortest form that reads back).
 * Every body is made before the clock starts. One TCP connection per client (TCP_NODELAY,
 * non-blocking), one request in flight on each, one thread polling all of them. Every answer
 * must be 200 with "new" == size. Prints one line {points, seconds, points_per_s,
 * bytes_per_point, client_cpu_ms_per_1000 (getrusage user + sys over the timed part),
 * statuses, error (the first bad answer's body, or null)}; exits 1 when an answer was bad. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX (64 * 1024) /* an answer's body kept up to this size */

struct buf {
    char *p;
    size_t len, cap;
};

struct conn {
    int fd, k;
    nghttp2_session *h2;
    struct buf *bodies; /* B bodies */
    int next;           /* the batch being sent */
    size_t off;         /* bytes of it handed to nghttp2 */
    int status;         /* its answer's :status */
    struct buf resp;    /* its answer's body */
    struct buf out;     /* bytes nghttp2 made that the socket has not taken yet */
    size_t outoff;
    char auth[4096];
    int done;
};

static int size, batches, ndone, nconns;
static long statuses[600];
static char *bad; /* the first bad answer */
static char authority[32];

_Noreturn static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tracks_load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            die("out of memory");
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_b(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* v as JSON.stringify prints it, for the numbers used here: integers plainly, others in the
 * fewest significant digits that read back as v. (It differs from JS only for magnitudes under
 * 1e-4, where %g turns to an exponent, and integers from 1e17 on; no value here is either.) */
static void num(struct buf *b, double v)
{
    char s[40];
    if (v > -1e17 && v < 1e17 && v == (double)(long long)v) {
        snprintf(s, sizeof s, "%lld", (long long)v);
    } else {
        for (int p = 1; p <= 17; p++) {
            snprintf(s, sizeof s, "%.*g", p, v);
            if (strtod(s, NULL) == v)
                break;
        }
    }
    puts_b(b, s);
}

static void make_bodies(struct conn *c, double base, int compact, size_t *bytes)
{
    double lat = 31.3 + c->k * 0.001; /* as the JS computes it */
    c->bodies = calloc((size_t)batches, sizeof *c->bodies);
    if (!c->bodies)
        die("out of memory");
    for (int b = 0; b < batches; b++) {
        struct buf *o = &c->bodies[b];
        puts_b(o, "{\"device\":\"bench\",\"points\":[");
        for (int i = 0; i < size; i++) {
            int seq = b * size + i;
            if (i)
                puts_b(o, ",");
            puts_b(o, compact ? "[" : "{\"seq\":");
            num(o, seq);
            puts_b(o, compact ? "," : ",\"device_time\":");
            num(o, base + seq);
            puts_b(o, compact ? "," : ",\"lat\":");
            num(o, lat);
            puts_b(o, compact ? ",120.6,5,0,0,10,80]"
                              : ",\"lng\":120.6,\"accuracy\":5,\"speed\":0,\"heading\":0,"
                                "\"altitude\":10,\"battery\":80}");
        }
        puts_b(o, "]}");
        *bytes += o->len;
    }
}

static ssize_t on_body(nghttp2_session *s, int32_t id, uint8_t *dst, size_t cap, uint32_t *flags,
                       nghttp2_data_source *src, void *u)
{
    (void)s;
    (void)id;
    (void)src;
    struct conn *c = u;
    struct buf *b = &c->bodies[c->next];
    size_t n = b->len - c->off < cap ? b->len - c->off : cap;
    memcpy(dst, b->p + c->off, n);
    c->off += n;
    if (c->off == b->len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v),                                  \
            NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE                           \
    }

static void submit(struct conn *c)
{
    nghttp2_nv h[] = {NV(":method", "POST"),
                      NV(":scheme", "http"),
                      NV(":authority", authority),
                      NV(":path", "/api/v1/tracks"),
                      NV("content-type", "application/json"),
                      NV("authorization", c->auth)};
    nghttp2_data_provider body = {.read_callback = on_body};
    c->off = 0;
    c->status = 0;
    c->resp.len = 0;
    if (nghttp2_submit_request(c->h2, NULL, h, sizeof h / sizeof h[0], &body, NULL) < 0)
        die("nghttp2_submit_request failed");
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *u)
{
    (void)s;
    (void)f;
    (void)flags;
    struct conn *c = u;
    if (nlen == 7 && memcmp(name, ":status", 7) == 0 && vlen == 3)
        c->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *u)
{
    (void)s;
    (void)flags;
    (void)id;
    struct conn *c = u;
    if (c->resp.len < RESP_MAX)
        put(&c->resp, data, len < RESP_MAX - c->resp.len ? len : RESP_MAX - c->resp.len);
    return 0;
}

/* An answer is complete: check it, send the next batch. */
static int on_close(nghttp2_session *s, int32_t id, uint32_t err, void *u)
{
    (void)s;
    (void)id;
    struct conn *c = u;
    int ok = 0;
    if (c->status == 200 && err == 0) {
        json_t *j = json_loadb(c->resp.p ? c->resp.p : "", c->resp.len, 0, NULL);
        json_t *n = json_object_get(j, "new");
        ok = json_is_number(n) && json_number_value(n) == size;
        json_decref(j);
    }
    if (c->status > 0 && c->status < 600)
        statuses[c->status]++;
    if (!ok && !bad) {
        char what[96];
        snprintf(what, sizeof what, "status %d without a body (stream closed with HTTP/2 error %u)",
                 c->status, err);
        bad = strdup(c->resp.len ? c->resp.p : what);
    }
    if (++c->next < batches)
        submit(c);
    else if (!c->done) {
        c->done = 1;
        ndone++;
    }
    return 0;
}

/* Hands nghttp2's pending frames to the socket, at most one send() a call. 0, or -1 when the
 * connection failed. */
static int flush(struct conn *c)
{
    const uint8_t *p;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(c->h2, &p)) > 0)
        put(&c->out, p, (size_t)n);
    if (n < 0)
        return -1;
    if (c->outoff == c->out.len)
        return 0;
    n = send(c->fd, c->out.p + c->outoff, c->out.len - c->outoff, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    c->outoff += (size_t)n;
    if (c->outoff == c->out.len)
        c->outoff = c->out.len = 0;
    return 0;
}

/* Reads what the socket has and feeds it to nghttp2. 0, or -1 when the connection failed. */
static int input(struct conn *c)
{
    uint8_t b[16384];
    ssize_t n;
    do {
        n = recv(c->fd, b, sizeof b, 0);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        if (n == 0 || nghttp2_session_mem_recv(c->h2, b, (size_t)n) != n)
            return -1;
    } while ((size_t)n == sizeof b);
    return 0;
}

static void lost(struct conn *c, const char *why)
{
    if (c->done)
        return;
    if (!bad) {
        char s[128];
        snprintf(s, sizeof s, "connection %d: %s", c->k, why);
        bad = strdup(s);
    }
    c->done = 1;
    ndone++;
}

static const char *arg(int argc, char **argv, const char *name, const char *dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (argv[i][0] == '-' && argv[i][1] == '-' && strcmp(argv[i] + 2, name) == 0)
            return argv[i + 1];
    return dflt;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_us(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

int main(int argc, char **argv)
{
    int port = (int)strtol(arg(argc, argv, "port", "0"), NULL, 10);
    const char *file = arg(argc, argv, "clients", NULL), *form = arg(argc, argv, "form", "object");
    batches = (int)strtol(arg(argc, argv, "batches", "100"), NULL, 10);
    size = (int)strtol(arg(argc, argv, "size", "100"), NULL, 10);
    if (strcmp(arg(argc, argv, "mode", "ingest"), "ingest") != 0 || !file || port <= 0 ||
        port > 65535 || batches <= 0 || size <= 0 ||
        (strcmp(form, "object") != 0 && strcmp(form, "array") != 0))
        die("usage: tracks_load --port P --mode ingest --clients FILE [--batches B] [--size N] "
            "[--form object|array]");
    snprintf(authority, sizeof authority, "127.0.0.1:%d", port);
    json_error_t jerr;
    json_t *list = json_load_file(file, 0, &jerr);
    if (!json_is_array(list) || json_array_size(list) == 0)
        die("%s: not a JSON array of clients (%s)", file, jerr.text);
    nconns = (int)json_array_size(list);
    struct conn *cs = calloc((size_t)nconns, sizeof *cs);
    struct pollfd *pf = calloc((size_t)nconns, sizeof *pf);
    nghttp2_session_callbacks *cb;
    if (!cs || !pf || nghttp2_session_callbacks_new(&cb) != 0)
        die("out of memory");
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    size_t bytes = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int k = 0; k < nconns; k++) {
        struct conn *c = &cs[k];
        json_t *e = json_array_get(list, (size_t)k);
        json_t *tok = json_object_get(e, "token"), *base = json_object_get(e, "base");
        if (!json_is_string(tok) || !json_is_number(base))
            die("%s: client %d needs a string token and a number base", file, k);
        c->k = k;
        if ((size_t)snprintf(c->auth, sizeof c->auth, "Bearer %s", json_string_value(tok)) >=
            sizeof c->auth)
            die("client %d: token too long", k);
        make_bodies(c, json_number_value(base), strcmp(form, "array") == 0, &bytes);
        int one = 1;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            die("connect to %s: %s", authority, strerror(errno));
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fcntl(c->fd, F_SETFL, O_NONBLOCK) != 0 ||
            nghttp2_session_client_new(&c->h2, cb, c) != 0 ||
            nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, NULL, 0) != 0 || flush(c) != 0)
            die("connection %d: set-up failed", k);
        pf[k].fd = c->fd;
    }
    json_decref(list);

    double t0 = now(), cpu0 = cpu_us();
    for (int k = 0; k < nconns; k++) {
        submit(&cs[k]);
        if (flush(&cs[k]) != 0)
            lost(&cs[k], "send failed");
    }
    while (ndone < nconns) {
        for (int k = 0; k < nconns; k++) {
            struct conn *c = &cs[k];
            pf[k].fd = c->done ? -1 : c->fd;
            pf[k].events = POLLIN | (c->out.len > c->outoff ? POLLOUT : 0);
        }
        if (poll(pf, (nfds_t)nconns, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll: %s", strerror(errno));
        }
        for (int k = 0; k < nconns; k++) {
            struct conn *c = &cs[k];
            if (c->done || !pf[k].revents)
                continue;
            if ((pf[k].revents & (POLLIN | POLLHUP | POLLERR)) && input(c) != 0)
                lost(c, "closed by the server or unreadable");
            else if (flush(c) != 0)
                lost(c, "send failed");
        }
    }
    double s = now() - t0, cpu = cpu_us() - cpu0;

    long points = (long)nconns * batches * size;
    json_t *err = bad ? json_string(bad) : json_null();
    char *errs = json_dumps(err, JSON_ENCODE_ANY | JSON_COMPACT);
    printf("{\"points\":%ld,\"seconds\":%.6f,\"points_per_s\":%.0f,\"bytes_per_point\":%.0f,"
           "\"client_cpu_ms_per_1000\":%.2f,\"statuses\":{",
           points, s, (double)points / s, (double)bytes / (double)points, cpu / (double)points);
    for (int st = 0, first = 1; st < 600; st++)
        if (statuses[st]) {
            printf("%s\"%d\":%ld", first ? "" : ",", st, statuses[st]);
            first = 0;
        }
    printf("},\"error\":%s}\n", errs ? errs : "null");
    fflush(stdout);
    for (int k = 0; k < nconns; k++) {
        nghttp2_session_terminate_session(cs[k].h2, NGHTTP2_NO_ERROR);
        flush(&cs[k]);
        close(cs[k].fd);
        nghttp2_session_del(cs[k].h2);
        for (int b = 0; b < batches; b++)
            free(cs[k].bodies[b].p);
        free(cs[k].bodies);
        free(cs[k].resp.p);
        free(cs[k].out.p);
    }
    nghttp2_session_callbacks_del(cb);
    free(cs);
    free(pf);
    free(errs);
    json_decref(err);
    free(bad);
    return bad ? 1 : 0;
}
