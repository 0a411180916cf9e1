/* api/ws.c: the database side of the WebSocket frames (server/ws runs these on the database
 * workers; docs/ws-protocol.md) and /api/v1/announcements, which publishes to the shared
 * streams the sockets follow. Handlers only: decode, call the domain, encode. */
#include "api.h"

#include <string.h>
#include "api/domain/conversation.h"
#include "api/domain/inbox.h"
#include "api/domain/session.h"
#include "server/core/log.h"
#include "server/core/roles.h"
#include "server/ws/ws.h"

#define WS_STREAM_FIRST_SYNC 20

/* The IM frames (api/conversations.c). */
extern const struct ws_call api_conversations_ws[];

static const char *device_of(const struct rctx *cx)
{
    return cx->who.device_id[0] ? cx->who.device_id : "default";
}

/* The same check as every REST request (token version, session open, account enabled), then
 * the shared streams the user belongs to. */
static enum err ws_hello(struct rctx *cx, uint64_t node, const char **streams, size_t *n)
{
    struct actor_check v = {cx, NULL, false, ERR_OK}; /* no API keys on sockets */

    enum err res;

    session_check_actors(&v, 1);
    if (v.res)
        return v.res == ERR_BUSY ? ERR_BUSY : ERR_UNAUTH;
    res = inbox_member_streams(cx, streams, n);
    /* Presence, durable and the same on every node: last seen, and one more socket here. */
    if (!res && (cx->who.roles & ROLE_STAFF))
        res = conv_seen(cx);
    if (!res && node && (cx->who.roles & ROLE_STAFF))
        res = conv_sockets(cx, node, 1); /* node 0: a later hello of the same socket */
    return res;
}

static void ws_bye(struct rctx *cx, uint64_t node)
{
    if ((cx->who.roles & ROLE_STAFF) && (conv_seen(cx) || conv_sockets(cx, node, -1)))
        log_warn(cx, "ws: presence of user %lld not stored: %s", (long long)cx->who.user_id,
                 rctx_message(cx, ERR_BUSY));
}

static void ws_node(struct rctx *cx, uint64_t node, bool gone)
{
    if (gone ? conv_node_gone(cx, node) : conv_node_beat(cx, node))
        log_warn(cx, "ws: node %016llx %s not stored: %s", (unsigned long long)node,
                 gone ? "leaving" : "heartbeat", rctx_message(cx, ERR_BUSY));
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

const struct ws_ops api_ws_ops = {ws_hello, ws_read, ws_ack, ws_bye, ws_node, api_conversations_ws};

/* POST /api/v1/announcements: one item stored once in a shared stream; every member's sockets
 * get it live, offline ones on their next sync. */
static const struct api_field announce_fields[] = {
    {"stream", API_STR, true, offsetof(struct conv_announcement, stream), 63, 1, 0},
    {"kind", API_STR, false, offsetof(struct conv_announcement, kind), 32, 1, 0},
    {"title", API_STR, true, offsetof(struct conv_announcement, title), 200, 1, 0},
    {"body", API_STR, false, offsetof(struct conv_announcement, body), 4000, 0, 0},
    {0},
};

static enum err announcements_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct conv_announcement in = {.kind = "announcement"};
    int64_t id = 0, offset = 0, recipients = 0;
    enum err res = api_json_input(cx, rq, announce_fields, &in, NULL);

    if (res)
        return res;
    res = conv_announce(cx, &in, &id, &offset, &recipients);
    if (res)
        return res;
    return api_json_reply(cx, rs, 201,
                          json_pack("{s:I,s:s,s:I,s:I}", "id", (json_int_t)id, "stream", in.stream,
                                    "offset", (json_int_t)offset, "recipients",
                                    (json_int_t)recipients));
}

/* POST /api/v1/announcements/{id}/read: the caller's read receipt (a recipient). */
static enum err announcements_read(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = conv_announcement_read(cx, req_param_i64(rq, "id"));
    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* GET /api/v1/announcements/{id}: read statistics for the sender (and admins, leaders). */
static enum err announcements_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct conv_announcement_stats st;
    json_t *a;
    enum err res = conv_announcement_stats(cx, req_param_i64(rq, "id"), &st);

    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < st.nunread; i++)
        json_array_append_new(a, json_integer(st.unread_ids[i]));
    return api_json_reply(
        cx, rs, 200,
        json_pack("{s:I,s:s,s:I,s:s,s:s,s:I,s:o,s:I,s:I,s:I,s:o}", "id", (json_int_t)st.id,
                  "stream", st.stream, "offset", (json_int_t)st.offset, "kind", st.kind, "title",
                  st.title, "created_by", (json_int_t)st.created_by, "created_at",
                  api_json_time(st.created_ms), "recipients", (json_int_t)st.recipients, "read",
                  (json_int_t)st.read, "unread", (json_int_t)(st.recipients - st.read),
                  "unread_user_ids", a));
}

/* clang-format off */
const struct route api_announcements_routes[] = {
    /* method  path                     handler               roles */
    {"POST", "/api/v1/announcements", announcements_create,
     ROLE_ADMIN | ROLE_LEADER | ROLE_DISPATCHER | ROLE_SHIFT_LEAD, 16 * 1024, 0, 0, NULL, NULL},
    {"GET", "/api/v1/announcements/{id}", announcements_get, ROLE_STAFF, 0, 0, 0, NULL, NULL},
    {"POST", "/api/v1/announcements/{id}/read", announcements_read, ROLE_STAFF, 0, 0, 0, NULL,
     NULL},
    {0},
};
/* clang-format on */
