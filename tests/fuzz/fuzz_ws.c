/* tests/fuzz/fuzz_ws.c: what the WebSocket gateway reads from a client, on arbitrary bytes —
 * the reassembly of a text message from the pieces libwebsockets hands over, the message
 * itself (one JSON object, "type", "id"), the kind of request and the fields the gateway reads
 * (auth, sync positions, ack/read, typing: server/ws/ws_int.h), and for the requests answered
 * on the database workers (send, recall, read of a conversation, subscribe, presence: api/ws.c
 * and api/conversations.c) their decoding, run as an actor holding every role on a request
 * context with no database connection, so the first statement fails cleanly.
 *
 * Input: the message text, sent whole (the cap is ws.max_message_bytes' default, 64 KiB).
 * When the first byte is 0x01..0x08 it is not part of the message but a piece size k: the rest
 * comes in pieces of k bytes, frames of 4k bytes (lws' "remaining payload" counting down in
 * each), against a cap of 1 KiB, so the multi-piece path and the size cap are reached.
 * libwebsockets' own frame parser (masking, opcodes, lengths, UTF-8) is not ours and is not
 * driven here. Seeds: corpus/ws/ (one message per file). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "api/api.h"
#include "server/core/log.h"
#include "server/core/rctx.h"
#include "server/core/roles.h"
#include "server/ws/ws_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_call(const struct ws_call *call, json_t *o)
{
    struct rctx cx;
    json_t *out = NULL;
    enum err res;

    rctx_init(&cx);
    cx.who.user_id = 1;
    cx.who.roles = ROLE_ANY;
    cx.now_ms = 1796600000000LL;
    res = call->fn(&cx, o, &out);
    (void)res;
    json_decref(out);
    rctx_dispose(&cx);
}

static void read_message(const char *text, size_t len)
{
    static const char *const streams[] = {"inbox", "all", "tiles", "grid:1"};
    const struct ws_call *call;
    struct ws__msg m;
    const char *bad = ws__msg_parse(text, len, &m);

    if (bad)
        goto out;
    switch (ws__msg_kind(&m, api_ws_ops.calls, &call)) {
    case WS__AUTH: {
        const char *tok = ws__msg_token(&m);
        if (tok)
            (void)strlen(tok);
        break;
    }
    case WS__SYNC: {
        json_t *pos, *v;
        const char *key;
        int64_t p;
        if (ws__msg_positions(&m, &pos))
            break;
        for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++)
            (void)ws__sync_position(pos, streams[i], &p);
        json_object_foreach(pos, key, v)
        {
            (void)v;
            (void)ws__sync_position(pos, key, &p);
        }
        break;
    }
    case WS__CALL:
        run_call(call, m.o);
        break;
    case WS__ACK: {
        const char *st;
        int64_t p;
        ws__msg_position(&m, &st, &p);
        break;
    }
    case WS__TYPING: {
        int64_t to, conv;
        ws__msg_typing(&m, &to, &conv);
        break;
    }
    case WS__PING:
    case WS__UNKNOWN:
        break;
    }
out:
    ws__msg_dispose(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    struct ws__rx rx = {0};
    const char *in = (const char *)data, *msg;
    size_t msglen, k = 0, cap = 64 * 1024, off = 0, framelen;

    if (!quiet) {
        log_set_level(LOG_ERROR);
        quiet = true;
    }
    if (size && data[0] >= 1 && data[0] <= 8) {
        k = data[0];
        in++;
        size--;
        cap = 1024;
    }
    if (!k) {
        if (ws__rx_feed(&rx, cap, in, size, 0, true, &msg, &msglen) == WS__RX_DONE)
            read_message(msg, msglen);
        ws__rx_reset(&rx);
        return 0;
    }
    /* Frames of 4k bytes (the last one shorter), each handed over in pieces of k bytes. */
    framelen = 4 * k;
    for (;;) {
        size_t frame_end = size - off > framelen ? off + framelen : size;
        bool last = frame_end == size;
        enum ws__rx_res r;
        do {
            size_t n = frame_end - off < k ? frame_end - off : k;
            size_t remain = frame_end - off - n;
            r = ws__rx_feed(&rx, cap, in + off, n, remain, last && remain == 0, &msg, &msglen);
            off += n;
        } while (r == WS__RX_MORE && off < frame_end);
        if (r == WS__RX_DONE)
            read_message(msg, msglen);
        if (r != WS__RX_MORE || last)
            break;
    }
    ws__rx_reset(&rx);
    return 0;
}
