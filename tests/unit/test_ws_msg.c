/* tests/unit/test_ws_msg.c: server/ws/ws_msg.c — reassembly of client messages and the reading
 * of one message (ws_int.h); the texts are the error frames' messages of docs/ws-protocol.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "server/ws/ws_int.h"

static enum err no_call(struct rctx *cx, json_t *in, json_t **out)
{
    (void)cx;
    (void)in;
    (void)out;
    return ERR_OK;
}

/* A table that also names "ping": the gateway's own kinds come first. */
static const struct ws_call calls[] = {
    {"send", no_call, 1},
    {"read.conversation", no_call, 1},
    {"ping", no_call, 1},
    {NULL, NULL, 0},
};

static void rx_whole_message_in_place(void **state)
{
    struct ws__rx rx = {0};
    const char *msg = NULL, *in = "{\"type\":\"ping\"}";
    size_t len = 0;
    (void)state;

    assert_int_equal(ws__rx_feed(&rx, 64, in, strlen(in), 0, true, &msg, &len), WS__RX_DONE);
    assert_ptr_equal(msg, in); /* not copied */
    assert_int_equal(len, strlen(in));
    assert_null(rx.buf);
    ws__rx_reset(&rx);
}

static void rx_pieces_and_frames(void **state)
{
    struct ws__rx rx = {0};
    const char *msg = NULL;
    size_t len = 0;
    (void)state;

    /* Frame 1 "abcd" in two reads, frame 2 "ef" (the last) in one. */
    assert_int_equal(ws__rx_feed(&rx, 16, "ab", 2, 2, false, &msg, &len), WS__RX_MORE);
    assert_int_equal(ws__rx_feed(&rx, 16, "cd", 2, 0, false, &msg, &len), WS__RX_MORE);
    assert_int_equal(ws__rx_feed(&rx, 16, "ef", 2, 0, true, &msg, &len), WS__RX_DONE);
    assert_int_equal(len, 6);
    assert_memory_equal(msg, "abcdef", 6);
    ws__rx_reset(&rx);
    assert_null(rx.buf);
    assert_int_equal(rx.len, 0);
}

static void rx_cap_counts_what_is_announced(void **state)
{
    struct ws__rx rx = {0};
    const char *msg = NULL;
    size_t len = 0;
    (void)state;

    /* Exactly the cap is fine. */
    assert_int_equal(ws__rx_feed(&rx, 8, "1234", 4, 0, false, &msg, &len), WS__RX_MORE);
    assert_int_equal(ws__rx_feed(&rx, 8, "5678", 4, 0, true, &msg, &len), WS__RX_DONE);
    assert_int_equal(len, 8);
    ws__rx_reset(&rx);
    /* Over it by what the frame still announces: refused before anything is copied. */
    assert_int_equal(ws__rx_feed(&rx, 8, "1234", 4, 5, false, &msg, &len), WS__RX_TOO_BIG);
    assert_null(rx.buf);
    assert_int_equal(ws__rx_feed(&rx, 8, "123456789", 9, 0, true, &msg, &len), WS__RX_TOO_BIG);
    /* Over it across frames. */
    assert_int_equal(ws__rx_feed(&rx, 8, "12345", 5, 0, false, &msg, &len), WS__RX_MORE);
    assert_int_equal(ws__rx_feed(&rx, 8, "6789", 4, 0, true, &msg, &len), WS__RX_TOO_BIG);
    assert_int_equal(rx.len, 5);
    ws__rx_reset(&rx);
}

static const char *parse(const char *text, struct ws__msg *m)
{
    return ws__msg_parse(text, strlen(text), m);
}

static void envelope_errors(void **state)
{
    struct ws__msg m;
    (void)state;

    assert_string_equal(parse("not json", &m), "a frame is one JSON object");
    assert_null(m.ref);
    ws__msg_dispose(&m);
    assert_string_equal(parse("[\"ping\"]", &m), "a frame is one JSON object");
    ws__msg_dispose(&m);
    assert_string_equal(parse("{\"type\":\"ping\",\"type\":\"auth\"}", &m),
                        "a frame is one JSON object"); /* duplicate keys */
    ws__msg_dispose(&m);
    assert_string_equal(parse("{\"type\":\"ping\",\"id\":7}", &m),
                        "id: a string of at most 64 characters");
    assert_null(m.ref);
    ws__msg_dispose(&m);
    assert_string_equal(parse("{\"type\":\"ping\",\"id\":\"0123456789012345678901234567890123456"
                              "789012345678901234567890123456789\"}",
                              &m),
                        "id: a string of at most 64 characters");
    ws__msg_dispose(&m);
    assert_string_equal(parse("{\"id\":\"k1\",\"type\":3}", &m), "type: required");
    assert_string_equal(m.ref, "k1"); /* the error frame repeats it */
    ws__msg_dispose(&m);
    assert_null(parse("{\"id\":\"k2\",\"type\":\"ping\"}", &m));
    assert_string_equal(m.type, "ping");
    assert_string_equal(m.ref, "k2");
    ws__msg_dispose(&m);
    assert_null(m.o);
}

static enum ws__kind kind_of(const char *text, const struct ws_call **call)
{
    struct ws__msg m;
    enum ws__kind k;

    assert_null(parse(text, &m));
    k = ws__msg_kind(&m, calls, call);
    ws__msg_dispose(&m);
    return k;
}

static void kinds(void **state)
{
    const struct ws_call *call;
    (void)state;

    assert_int_equal(kind_of("{\"type\":\"ping\"}", &call), WS__PING);
    assert_null(call);
    assert_int_equal(kind_of("{\"type\":\"auth\"}", &call), WS__AUTH);
    assert_int_equal(kind_of("{\"type\":\"sync\"}", &call), WS__SYNC);
    assert_int_equal(kind_of("{\"type\":\"send\"}", &call), WS__CALL);
    assert_ptr_equal(call, &calls[0]);
    assert_int_equal(kind_of("{\"type\":\"read\",\"conversation_id\":3}", &call), WS__CALL);
    assert_ptr_equal(call, &calls[1]);
    assert_int_equal(kind_of("{\"type\":\"read\",\"position\":3}", &call), WS__ACK);
    assert_null(call);
    assert_int_equal(kind_of("{\"type\":\"ack\"}", &call), WS__ACK);
    assert_int_equal(kind_of("{\"type\":\"typing\"}", &call), WS__TYPING);
    assert_int_equal(kind_of("{\"type\":\"recall\"}", &call), WS__UNKNOWN);
    assert_null(call);
    assert_null(ws__call_find(NULL, "send"));
}

static void fields(void **state)
{
    struct ws__msg m;
    json_t *pos;
    const char *st;
    int64_t p, to, conv;
    (void)state;

    assert_null(parse("{\"type\":\"auth\",\"token\":\"abc\"}", &m));
    assert_string_equal(ws__msg_token(&m), "abc");
    ws__msg_dispose(&m);
    assert_null(parse("{\"type\":\"auth\",\"token\":5}", &m));
    assert_null(ws__msg_token(&m));
    ws__msg_dispose(&m);

    assert_null(parse("{\"type\":\"sync\",\"positions\":[1]}", &m));
    assert_string_equal(ws__msg_positions(&m, &pos),
                        "positions: an object of stream name to position");
    ws__msg_dispose(&m);
    assert_null(
        parse("{\"type\":\"sync\",\"positions\":{\"inbox\":4,\"all\":-1,\"x\":\"1\"}}", &m));
    assert_null(ws__msg_positions(&m, &pos));
    assert_null(ws__sync_position(pos, "inbox", &p));
    assert_int_equal(p, 4);
    assert_null(ws__sync_position(pos, "tiles", &p));
    assert_int_equal(p, -1);
    assert_string_equal(ws__sync_position(pos, "all", &p), "positions: integers >= 0");
    assert_string_equal(ws__sync_position(pos, "x", &p), "positions: integers >= 0");
    ws__msg_dispose(&m);
    assert_null(parse("{\"type\":\"sync\"}", &m));
    assert_null(ws__msg_positions(&m, &pos));
    assert_null(pos);
    assert_null(ws__sync_position(pos, "inbox", &p));
    assert_int_equal(p, -1);
    ws__msg_dispose(&m);

    assert_null(parse("{\"type\":\"ack\",\"position\":\"9\"}", &m));
    ws__msg_position(&m, &st, &p);
    assert_string_equal(st, "inbox");
    assert_int_equal(p, -1);
    ws__msg_dispose(&m);
    assert_null(parse("{\"type\":\"read\",\"stream\":\"all\",\"position\":9}", &m));
    ws__msg_position(&m, &st, &p);
    assert_string_equal(st, "all");
    assert_int_equal(p, 9);
    ws__msg_dispose(&m);

    assert_null(parse("{\"type\":\"typing\",\"to\":7,\"conversation_id\":1.5}", &m));
    ws__msg_typing(&m, &to, &conv);
    assert_int_equal(to, 7);
    assert_int_equal(conv, 0);
    ws__msg_dispose(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rx_whole_message_in_place),
        cmocka_unit_test(rx_pieces_and_frames),
        cmocka_unit_test(rx_cap_counts_what_is_announced),
        cmocka_unit_test(envelope_errors),
        cmocka_unit_test(kinds),
        cmocka_unit_test(fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
