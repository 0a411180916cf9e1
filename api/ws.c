/* api/ws.c: the database side of the WebSocket frames (server/ws runs these on the database
 * workers; docs/ws-protocol.md) and /api/v1/announcements, which publishes to the shared
 * streams the sockets follow. Handlers only: decode, call the domain, encode. */
#include "api.h"

#include <string.h>
#include "api/domain/inbox.h"
#include "api/domain/session.h"
#include "server/core/roles.h"
#include "server/ws/ws.h"

#define WS_STREAM_FIRST_SYNC 20

static const char *device_of(const struct rctx *cx)
{
    return cx->who.device_id[0] ? cx->who.device_id : "default";
}

/* The same check as every REST request (token version, session open, account enabled), then
 * the shared streams the user belongs to. */
static enum err ws_hello(struct rctx *cx, const char **streams, size_t *n)
{
    struct actor_check v = {cx, NULL, false, ERR_OK}; /* no API keys on sockets */

    session_check_actors(&v, 1);
    if (v.res)
        return v.res == ERR_BUSY ? ERR_BUSY : ERR_UNAUTH;
    return inbox_member_streams(cx, streams, n);
}

static enum err ws_read(struct rctx *cx, const char *stream, int64_t after, int limit,
                        struct ws_page *out)
{
    struct inbox_page p;
    struct ws_item *v;
    enum err res;

    if (after < 0) { /* from where this device acknowledged */
        int64_t unread;
        res = inbox_unread(cx, device_of(cx), stream, &after, &unread);
        if (res)
            return res;
        /* A device seen for the first time gets its whole inbox (its work) but only the
         * latest items of a shared stream, not months of announcements. */
        if (after < 0)
            after = strcmp(stream, INBOX_STREAM) == 0 || unread <= WS_STREAM_FIRST_SYNC
                        ? 0
                        : unread - WS_STREAM_FIRST_SYNC;
    }
    res = inbox_read(cx, stream, after, limit, &p);
    if (res)
        return res;
    v = rctx_alloc(cx, (p.n ? p.n : 1) * sizeof *v);
    for (size_t i = 0; i < p.n; i++)
        v[i] = (struct ws_item){p.v[i].seq, p.v[i].type, p.v[i].payload, p.v[i].created_ms};
    *out = (struct ws_page){after, p.n, v, p.head, p.more, p.resync};
    return ERR_OK;
}

static enum err ws_ack(struct rctx *cx, const char *stream, int64_t position, int64_t *unread)
{
    /* A read mark is stored as the position of a device no app has ("*read*"). */
    return inbox_ack(cx, device_of(cx), stream, position, unread);
}

static enum err ws_send(struct rctx *cx, int64_t to, const char *text, const char *client_id,
                        int64_t *recipient_seq, int64_t *sender_seq)
{
    if (!(cx->who.roles & ROLE_STAFF))
        return rctx_fail(cx, ERR_FORBIDDEN, "only staff send direct messages");
    return inbox_send(cx, to, text, client_id, recipient_seq, sender_seq);
}

const struct ws_ops api_ws_ops = {ws_hello, ws_read, ws_ack, ws_send};

/* POST /api/v1/announcements: one item stored once in a shared stream; every member's sockets
 * get it live, offline ones on their next sync. */
struct announce_in {
    const char *stream, *kind, *title, *body;
};

static const struct api_field announce_fields[] = {
    {"stream", API_STR, true, offsetof(struct announce_in, stream), 63, 1, 0},
    {"kind", API_STR, false, offsetof(struct announce_in, kind), 32, 1, 0},
    {"title", API_STR, true, offsetof(struct announce_in, title), 200, 1, 0},
    {"body", API_STR, false, offsetof(struct announce_in, body), 4000, 0, 0},
    {NULL},
};

static enum err announcements_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct announce_in in = {0};
    int64_t offset = 0;
    const char *kind;
    json_t *payload;
    char *text;
    enum err res = api_json_input(cx, rq, announce_fields, &in, NULL);

    if (res)
        return res;
    if (!inbox_stream_name_ok(in.stream) || strcmp(in.stream, INBOX_STREAM) == 0)
        return rctx_fail(cx, ERR_INVALID, "stream: \"all\", \"tiles\" or \"dept.<id>\"");
    if (strcmp(in.stream, "all") != 0 && strcmp(in.stream, "tiles") != 0 &&
        strncmp(in.stream, "dept.", 5) != 0)
        return rctx_fail(cx, ERR_INVALID, "stream: \"all\", \"tiles\" or \"dept.<id>\"");
    kind = in.kind ? in.kind : "announcement";
    payload =
        api_json_own(cx, json_pack("{s:s,s:s,s:I}", "title", in.title, "body",
                                   in.body ? in.body : "", "by", (json_int_t)cx->who.user_id));
    text = json_dumps(payload, JSON_COMPACT);
    if (!text)
        return rctx_fail(cx, ERR_INTERNAL, "cannot encode");
    rctx_defer(cx, free, text);
    res = inbox_stream_publish(cx, in.stream, kind, text, &offset);
    if (res)
        return res;
    return api_json_reply(
        cx, rs, 201, json_pack("{s:s,s:I}", "stream", in.stream, "offset", (json_int_t)offset));
}

/* clang-format off */
const struct route api_announcements_routes[] = {
    /* method  path                     handler               roles */
    {"POST", "/api/v1/announcements", announcements_create,
     ROLE_ADMIN | ROLE_LEADER | ROLE_DISPATCHER | ROLE_SHIFT_LEAD, 16 * 1024, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
