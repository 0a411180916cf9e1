/* server/ws/ws_int.h: what the gateway reads from clients, apart from the sockets, so that
 * small tests and the fuzz driver (tests/fuzz/fuzz_ws.c) reach it. Internal to server/ws and
 * its tests; api/ uses ws.h only.
 *
 * Two steps, both pure (no socket, no session, no libwebsockets call, no lock):
 *   1. reassembly: the pieces libwebsockets hands over (a frame may come in several reads, a
 *      message in several frames) become one text message, capped at ws.max_message_bytes
 *      before anything is copied;
 *   2. the message: one JSON object with "type" and an optional "id", the kind of request it
 *      is, and the fields the gateway reads itself (auth's token, sync's positions, ack's and
 *      read's stream and position, typing's addressee). Requests answered on the database
 *      workers (struct ws_call: send, recall, subscribe, presence, read of a conversation)
 *      are decoded by their api/ function.
 * The texts returned as errors are the "message" of the error frame the client gets. */
#ifndef CITYD_WS_INT_H
#define CITYD_WS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "server/ws/ws.h"

/* A message being reassembled. Zeroed storage is an empty one. */
struct ws__rx {
    char *buf; /* cap + 1 bytes once a message comes in more than one piece */
    size_t len;
};

enum ws__rx_res {
    WS__RX_MORE,    /* kept; more pieces follow */
    WS__RX_DONE,    /* *msg, *msglen: the whole message */
    WS__RX_TOO_BIG, /* the message would exceed cap: nothing more is kept */
};

/* One piece of a text message: in[0..len), remain = bytes of the current frame still to come
 * (lws_remaining_packet_payload), final = the frame is the message's last and remain is 0.
 * On WS__RX_DONE *msg is in itself when the message came in one piece, else rx's buffer;
 * either way valid until ws__rx_reset(rx), which the caller runs once it handled it. */
enum ws__rx_res ws__rx_feed(struct ws__rx *rx, size_t cap, const char *in, size_t len,
                            size_t remain, bool final, const char **msg, size_t *msglen);
/* Forget the message (after WS__RX_DONE, or when the socket goes). */
void ws__rx_reset(struct ws__rx *rx);

/* A complete message, parsed. */
struct ws__msg {
    json_t *o;        /* owned; NULL when the text was not JSON */
    const char *type; /* borrowed from o; set when ws__msg_parse returned NULL */
    const char *ref;  /* the client's "id", borrowed from o; NULL when absent or refused */
};

/* Parse text[0..len). NULL when m is a request (m->type set); otherwise the error text ("a
 * frame is one JSON object", "id: …", "type: required"), m->ref set when the id was fine.
 * Either way ws__msg_dispose(m) afterwards. */
const char *ws__msg_parse(const char *text, size_t len, struct ws__msg *m);
void ws__msg_dispose(struct ws__msg *m);

enum ws__kind {
    WS__PING,
    WS__AUTH,
    WS__SYNC,
    WS__CALL,   /* answered on a worker by *call */
    WS__ACK,    /* "ack" and "read" of a stream position */
    WS__TYPING, /* relayed to sockets, never stored */
    WS__UNKNOWN,
};

/* The kind of request of a parsed m. calls is the table of worker-answered requests (ended by
 * a {NULL} row; may be NULL); for WS__CALL *call is its row ("read" with a conversation_id is
 * "read.conversation"). ping, auth and sync are the gateway's own even if calls names them. */
enum ws__kind ws__msg_kind(const struct ws__msg *m, const struct ws_call *calls,
                           const struct ws_call **call);
/* The row of calls named type, or NULL. */
const struct ws_call *ws__call_find(const struct ws_call *calls, const char *type);

/* auth: the token (borrowed), NULL when missing or not a string. */
const char *ws__msg_token(const struct ws__msg *m);
/* sync: *positions (borrowed) is the "positions" object, NULL when absent; returns the error
 * text when it is there but not an object. */
const char *ws__msg_positions(const struct ws__msg *m, json_t **positions);
/* sync: the position given for stream in positions (may be NULL), -1 when none; returns the
 * error text when one is given that is not an integer >= 0. */
const char *ws__sync_position(json_t *positions, const char *stream, int64_t *pos);
/* ack, read: *stream (borrowed; "inbox" when absent or not a string) and *position (-1 when
 * absent or not an integer). Whether the socket follows that stream is the session's check. */
void ws__msg_position(const struct ws__msg *m, const char **stream, int64_t *position);
/* typing: *to and *conv (user id and conversation_id; 0 when absent or not integers). */
void ws__msg_typing(const struct ws__msg *m, int64_t *to, int64_t *conv);

#endif
