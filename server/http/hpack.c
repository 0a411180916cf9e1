/* server/http/hpack.c: X-Request-Id stays out of HTTP/2's header table.
 *
 * Every cityd response carries a request id that no other response repeats. Debian's h2o
 * 2.2.5 HPACK-encodes every response header "with incremental indexing": each id is copied
 * into the connection's dynamic table (two mallocs), evicts an older entry (two frees), and
 * fills the table (h2o caps it at 32 entries) with entries nobody will reference again, so
 * every other header is searched against 32 of them, name by name with memcmp. Under
 * `h2load -m 10` that search was a quarter of the loop's instructions per request (callgrind,
 * docs/benchmarks.md "HTTP loop speed").
 *
 * cityd therefore defines h2o_hpack_flatten_response itself (libh2o calls it through its PLT,
 * so its own call from the HTTP/2 stream binds here; the executable exports it because libh2o
 * refers to it): the request id is taken out of the headers, h2o's own encoder runs on the
 * rest, and the id is appended to the HEADERS frame as a "literal header field without
 * indexing" (RFC 7541, 6.2.2), which leaves the dynamic table alone. A response whose headers
 * might not fit one frame is left to h2o unchanged (its continuation frames are not touched). */
#include "http_int.h"

#include <dlfcn.h>
#include <h2o/http2.h>
#include <h2o/http2_internal.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2 && H2O_VERSION_PATCH == 5,
               "hpack.c wraps h2o 2.2.5's h2o_hpack_flatten_response (lib/http2/hpack.c)");
_Static_assert(H2O_HTTP2_FRAME_HEADER_SIZE == 9, "an HTTP/2 frame header is 9 bytes");

typedef void (*flatten_fn)(h2o_buffer_t **, h2o_hpack_header_table_t *, uint32_t, size_t,
                           h2o_res_t *, h2o_timestamp_t *, const h2o_iovec_t *, size_t);

#define RID "x-request-id"
#define RID_LEN (sizeof RID - 1)
/* An encoded string: at most its bytes (raw when Huffman is not shorter) after a prefix of
 * one byte and up to H2O_HTTP2_ENCODE_INT_MAX_LENGTH - 1 continuation bytes. */
#define STRING_MAX(n) ((n) + H2O_HTTP2_ENCODE_INT_MAX_LENGTH)

static struct {
    pthread_once_t once;
    flatten_fn flatten;
    /* The field's first byte (literal without indexing, new name) and its encoded name. */
    uint8_t head[1 + STRING_MAX(RID_LEN)];
    size_t head_len;
} hp = {.once = PTHREAD_ONCE_INIT};

static void hp_init(void)
{
    *(void **)&hp.flatten = dlsym(RTLD_NEXT, "h2o_hpack_flatten_response");
    if (!hp.flatten)
        abort(); /* libh2o is linked: it must resolve */
    hp.head[0] = 0x00;
    hp.head_len = 1 + h2o_hpack_encode_string(hp.head + 1, RID, RID_LEN);
}
/* More than h2o itself reserves for :status, date, server and content-length. */
#define FIXED_MAX 128

static ssize_t find_rid(const h2o_headers_t *hs)
{
    for (size_t i = 0; i < hs->size; i++) {
        const h2o_iovec_t *n = hs->entries[i].name;
        if (n->len == RID_LEN && !h2o_iovec_is_token(n) && memcmp(n->base, RID, RID_LEN) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* An upper bound of what h2o's encoder writes for res (as its own calc_capacity counts). */
static size_t bound(const h2o_res_t *res, const h2o_iovec_t *server_name)
{
    size_t n = H2O_HTTP2_FRAME_HEADER_SIZE + FIXED_MAX + server_name->len;

    for (size_t i = 0; i < res->headers.size; i++)
        n += res->headers.entries[i].name->len + res->headers.entries[i].value.len + 1 +
             H2O_HTTP2_ENCODE_INT_MAX_LENGTH * 2;
    return n;
}

void h2o_hpack_flatten_response(h2o_buffer_t **buf, h2o_hpack_header_table_t *header_table,
                                uint32_t stream_id, size_t max_frame_size, h2o_res_t *res,
                                h2o_timestamp_t *ts, const h2o_iovec_t *server_name,
                                size_t content_length)
{
    h2o_headers_t *hs = &res->headers;
    ssize_t at;
    h2o_header_t rid;
    size_t start, need, payload;
    uint8_t *dst, *frame;

    pthread_once(&hp.once, hp_init);
    at = find_rid(hs);
    need = hp.head_len;
    if (at >= 0)
        need += STRING_MAX(hs->entries[at].value.len);
    if (at < 0 || bound(res, server_name) + need > max_frame_size) {
        hp.flatten(buf, header_table, stream_id, max_frame_size, res, ts, server_name,
                   content_length);
        return;
    }
    /* h2o's encoder without the id: the headers after it move up one place, and back. */
    rid = hs->entries[at];
    memmove(hs->entries + at, hs->entries + at + 1, (hs->size - (size_t)at - 1) * sizeof rid);
    hs->size--;
    start = (*buf)->size;
    hp.flatten(buf, header_table, stream_id, max_frame_size, res, ts, server_name, content_length);
    hs->size++;
    memmove(hs->entries + at + 1, hs->entries + at, (hs->size - (size_t)at - 1) * sizeof rid);
    hs->entries[at] = rid;

    /* One HEADERS frame (the bound above): append the id, then correct the frame's length. */
    dst = (uint8_t *)h2o_buffer_reserve(buf, need).base;
    memcpy(dst, hp.head, hp.head_len);
    dst += hp.head_len;
    dst += h2o_hpack_encode_string(dst, rid.value.base, rid.value.len);
    (*buf)->size = (size_t)((char *)dst - (*buf)->bytes);
    frame = (uint8_t *)(*buf)->bytes + start;
    payload = (*buf)->size - start - H2O_HTTP2_FRAME_HEADER_SIZE;
    frame[0] = (uint8_t)(payload >> 16);
    frame[1] = (uint8_t)(payload >> 8);
    frame[2] = (uint8_t)payload;
}

void http__hpack_init(void)
{
    pthread_once(&hp.once, hp_init);
}
