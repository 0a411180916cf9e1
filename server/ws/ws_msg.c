/* server/ws/ws_msg.c: reassembly and reading of client messages (see ws_int.h). */
#include "ws_int.h"

#include <stdlib.h>
#include <string.h>

enum ws__rx_res ws__rx_feed(struct ws__rx *rx, size_t cap, const char *in, size_t len,
                            size_t remain, bool final, const char **msg, size_t *msglen)
{
    /* Checked before anything is copied: the rest of the message is read and dropped. */
    if (rx->len + len + remain > cap)
        return WS__RX_TOO_BIG;
    if (final && rx->len == 0) {
        *msg = in;
        *msglen = len;
        return WS__RX_DONE;
    }
    if (!rx->buf) {
        rx->buf = malloc(cap + 1);
        if (!rx->buf)
            abort();
    }
    memcpy(rx->buf + rx->len, in, len);
    rx->len += len;
    if (!final)
        return WS__RX_MORE;
    *msg = rx->buf;
    *msglen = rx->len;
    return WS__RX_DONE;
}

void ws__rx_reset(struct ws__rx *rx)
{
    free(rx->buf);
    rx->buf = NULL;
    rx->len = 0;
}

const char *ws__msg_parse(const char *text, size_t len, struct ws__msg *m)
{
    json_error_t je;
    json_t *idv;

    memset(m, 0, sizeof *m);
    m->o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(m->o))
        return "a frame is one JSON object";
    idv = json_object_get(m->o, "id");
    if (idv && (!json_is_string(idv) || json_string_length(idv) > 64))
        return "id: a string of at most 64 characters";
    m->ref = idv ? json_string_value(idv) : NULL;
    m->type = json_string_value(json_object_get(m->o, "type"));
    if (!m->type)
        return "type: required";
    return NULL;
}

void ws__msg_dispose(struct ws__msg *m)
{
    json_decref(m->o);
    memset(m, 0, sizeof *m);
}

const struct ws_call *ws__call_find(const struct ws_call *calls, const char *type)
{
    for (const struct ws_call *c = calls; c && c->type; c++)
        if (strcmp(c->type, type) == 0)
            return c;
    return NULL;
}

enum ws__kind ws__msg_kind(const struct ws__msg *m, const struct ws_call *calls,
                           const struct ws_call **call)
{
    const char *type = m->type;

    *call = NULL;
    if (strcmp(type, "ping") == 0)
        return WS__PING;
    if (strcmp(type, "auth") == 0)
        return WS__AUTH;
    if (strcmp(type, "sync") == 0)
        return WS__SYNC;
    *call = ws__call_find(calls, type);
    if (!*call && strcmp(type, "read") == 0 && json_object_get(m->o, "conversation_id"))
        *call = ws__call_find(calls, "read.conversation");
    if (*call)
        return WS__CALL;
    if (strcmp(type, "ack") == 0 || strcmp(type, "read") == 0)
        return WS__ACK;
    if (strcmp(type, "typing") == 0)
        return WS__TYPING;
    return WS__UNKNOWN;
}

const char *ws__msg_token(const struct ws__msg *m)
{
    return json_string_value(json_object_get(m->o, "token"));
}

const char *ws__msg_positions(const struct ws__msg *m, json_t **positions)
{
    json_t *pos = json_object_get(m->o, "positions");

    *positions = NULL;
    if (pos && !json_is_object(pos))
        return "positions: an object of stream name to position";
    *positions = pos;
    return NULL;
}

const char *ws__sync_position(json_t *positions, const char *stream, int64_t *pos)
{
    json_t *v = positions ? json_object_get(positions, stream) : NULL;
    int64_t p = json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;

    if (v && (!json_is_integer(v) || p < 0))
        return "positions: integers >= 0";
    *pos = p;
    return NULL;
}

static int64_t jint(json_t *o, const char *k, int64_t def)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

void ws__msg_position(const struct ws__msg *m, const char **stream, int64_t *position)
{
    const char *st = json_string_value(json_object_get(m->o, "stream"));

    *stream = st ? st : "inbox";
    *position = jint(m->o, "position", -1);
}

void ws__msg_typing(const struct ws__msg *m, int64_t *to, int64_t *conv)
{
    *to = jint(m->o, "to", 0);
    *conv = jint(m->o, "conversation_id", 0);
}
