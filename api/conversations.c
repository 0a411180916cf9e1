/* api/conversations.c: /api/v1/conversations — instant messaging over REST, and the IM frames
 * of the WebSocket (send, recall, read of a conversation, subscribe, presence; see
 * docs/ws-protocol.md), which the gateway runs on the database workers.
 * Handlers only: decode, call the domain (conversation.h), encode. */
#include "api.h"

#include <stdio.h>
#include <string.h>
#include "api/domain/conversation.h"
#include "server/core/roles.h"
#include "server/ws/ws.h"

static json_t *conv_json(const struct conv_rec *c)
{
    json_t *j =
        json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:o,s:o}", "id", (json_int_t)c->id, "kind", c->kind,
                  "head", (json_int_t)c->head, "read_seq", (json_int_t)c->read_seq, "unread",
                  (json_int_t)c->unread, "members", (json_int_t)c->members, "created_at",
                  api_json_time(c->created_ms), "updated_at", api_json_time(c->updated_ms));
    json_object_set_new(j, "title", api_json_str(c->title));
    json_object_set_new(j, "case_id", api_json_id(c->case_id));
    json_object_set_new(j, "department_id", api_json_id(c->department_id));
    json_object_set_new(j, "peer_id", api_json_id(c->peer_id));
    return j;
}

static json_t *msg_json(const struct conv_msg *m)
{
    json_error_t je;
    json_t *content = json_loads(m->body, 0, &je);
    json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:s,s:s,s:o,s:b,s:I}", "id", (json_int_t)m->id,
                          "conversation_id", (json_int_t)m->conversation_id, "seq",
                          (json_int_t)m->seq, "from", (json_int_t)m->sender_id, "client_id",
                          m->client_id, "kind", m->kind, "at", api_json_time(m->created_ms),
                          "recalled", m->recalled_ms != 0, "read_count", (json_int_t)m->read_count);
    /* The content fields (text, media_id, duration_ms, lat, lng, address, case_id) sit beside
     * the envelope, as in the item frames; a recalled message has none. */
    if (json_is_object(content))
        json_object_update(j, content);
    json_decref(content);
    return j;
}

/* ---- decoding a message ----------------------------------------------------------------- */

/* A message as decoded: the domain's fields, the kind by name (set in d by msg_kind) and, on
 * the WebSocket, where it goes. */
struct msg_in {
    struct conv_msg_in d;
    const char *kind;
    int64_t to, conversation_id; /* WebSocket only */
};

#define M(m) offsetof(struct msg_in, d.m)
/* lat/lng of a location message: range checked by the domain (geo_in_range). */
#define MSG_FIELDS                                                                                 \
    {"client_id", API_STR, true, M(client_id), CONV_CLIENT_ID_MAX, 1, 0},                          \
        {"kind", API_STR, false, offsetof(struct msg_in, kind), 16, 1, 0},                         \
        {"text", API_STR, false, M(text), CONV_TEXT_MAX * 4, 0, 0},                                \
        {"media_id", API_STR, false, M(media_id), 32, 1, 0},                                       \
        {"address", API_STR, false, M(address), 1024, 0, 0},                                       \
        {"lat", API_F64, false, M(lat), 0, 0, 0}, {"lng", API_F64, false, M(lng), 0, 0, 0},        \
    {                                                                                              \
        "case_id", API_I64, false, M(case_id), 0, 1, INT64_MAX                                     \
    }

static const struct api_field msg_fields[] = {MSG_FIELDS, {0}};
static const struct api_field ws_msg_fields[] = {
    MSG_FIELDS,
    {"to", API_I64, false, offsetof(struct msg_in, to), 0, 1, INT64_MAX},
    {"conversation_id", API_I64, false, offsetof(struct msg_in, conversation_id), 0, 1, INT64_MAX},
    {0},
};
#undef M

/* The kind sent by name into in->d.kind; a location needs lat and lng (sent by fields). */
static enum err msg_kind(struct rctx *cx, struct msg_in *in, const struct api_field *fields,
                         uint64_t present)
{
    static const char *const kinds[] = {"text", "image", "voice", "location", "case_card"};
    const char *k = in->kind ? in->kind : "text";
    size_t i;

    for (i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(k, kinds[i]) == 0)
            break;
    if (i == sizeof kinds / sizeof *kinds)
        return rctx_fail(cx, ERR_INVALID, "kind: text, image, voice, location or case_card");
    if (i == CONV_LOCATION &&
        (!api_json_sent(fields, present, "lat") || !api_json_sent(fields, present, "lng")))
        return rctx_fail(cx, ERR_INVALID, "lat, lng: required for location");
    in->d.kind = (enum conv_msg_kind)i;
    return ERR_OK;
}

/* ---- REST ------------------------------------------------------------------------------- */

static enum err conversations_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct conv_list l;
    int64_t limit = 50;
    json_t *a;
    enum err res = api_query_i64(cx, rq, "limit", 1, CONV_PAGE_MAX, &limit);

    if (!res)
        res = conv_list(cx, (int)limit, &l);
    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(a, conv_json(&l.v[i]));
    return api_json_reply(cx, rs, 200, json_pack("{s:o}", "items", a));
}

struct open_in {
    const char *kind, *title;
    int64_t user_id, department_id, case_id;
    struct api_i64s members;
};

static const struct api_field open_fields[] = {
    {"kind", API_STR, true, offsetof(struct open_in, kind), 16, 1, 0},
    {"title", API_STR, false, offsetof(struct open_in, title), CONV_TITLE_MAX * 4, 1, 0},
    {"user_id", API_I64, false, offsetof(struct open_in, user_id), 0, 1, INT64_MAX},
    {"department_id", API_I64, false, offsetof(struct open_in, department_id), 0, 1, INT64_MAX},
    {"case_id", API_I64, false, offsetof(struct open_in, case_id), 0, 1, INT64_MAX},
    {"members", API_I64S, false, offsetof(struct open_in, members), CONV_GROUP_MAX, 0, 0},
    {0},
};

static enum err conversations_open(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct open_in in = {0};
    struct conv_rec c;
    bool created = false;
    enum err res = api_json_input(cx, rq, open_fields, &in, NULL);

    if (res)
        return res;
    if (strcmp(in.kind, "direct") == 0) {
        if (!in.user_id)
            return rctx_fail(cx, ERR_INVALID, "user_id: required for direct");
        res = conv_open_direct(cx, in.user_id, &c, &created);
    } else if (strcmp(in.kind, "group") == 0) {
        res = conv_create_group(cx, in.title, in.members.v, in.members.n, &c);
        created = true;
    } else if (strcmp(in.kind, "department") == 0) {
        if (!in.department_id)
            return rctx_fail(cx, ERR_INVALID, "department_id: required for department");
        res = conv_open_department(cx, in.department_id, &c, &created);
    } else if (strcmp(in.kind, "case") == 0) {
        if (!in.case_id)
            return rctx_fail(cx, ERR_INVALID, "case_id: required for case");
        res = conv_open_case(cx, in.case_id, &c, &created);
    } else {
        return rctx_fail(cx, ERR_INVALID, "kind: direct, group, department or case");
    }
    if (res)
        return res;
    return api_json_reply(cx, rs, created ? 201 : 200, conv_json(&c));
}

static enum err conversations_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct conv_rec c;
    int64_t *ids = NULL;
    size_t n = 0;
    json_t *j, *a;
    enum err res = conv_get(cx, req_param_i64(rq, "id"), &c);

    if (!res)
        res = conv_members(cx, c.id, &ids, &n);
    if (res)
        return res;
    j = conv_json(&c);
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(ids[i]));
    json_object_set_new(j, "member_ids", a);
    return api_json_reply(cx, rs, 200, j);
}

static enum err messages_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct conv_msg_page p;
    int64_t before = 0, limit = 50;
    json_t *a, *j;
    enum err res = api_query_i64(cx, rq, "before", 1, INT64_MAX, &before);

    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, CONV_PAGE_MAX, &limit);
    if (!res)
        res = conv_messages(cx, req_param_i64(rq, "id"), before, (int)limit, &p);
    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < p.n; i++)
        json_array_append_new(a, msg_json(&p.v[i]));
    j = json_pack("{s:o,s:b}", "items", a, "more", p.more);
    if (p.more && p.n)
        json_object_set_new(j, "next_before", json_integer(p.v[p.n - 1].seq));
    return api_json_reply(cx, rs, 200, j);
}

static enum err messages_send(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct msg_in in = {0};
    struct conv_msg m;
    uint64_t present = 0;
    int64_t own = 0;
    bool created = false;
    enum err res = api_json_input(cx, rq, msg_fields, &in, &present);

    if (!res)
        res = msg_kind(cx, &in, msg_fields, present);
    if (!res)
        res = conv_send(cx, req_param_i64(rq, "id"), &in.d, &m, &own, &created);
    if (res)
        return res;
    return api_json_reply(cx, rs, created ? 201 : 200, msg_json(&m));
}

/* The receipt's seq (the conversation is the path's). */
static const struct api_field read_fields[] = {
    {"seq", API_I64, true, offsetof(struct conv_receipt, seq), 0, 0, INT64_MAX},
    {0},
};

static enum err conversations_read(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    int64_t read_seq = 0, unread = 0, id = req_param_i64(rq, "id");
    struct conv_receipt in = {.conversation_id = id};
    enum err res = api_json_input(cx, rq, read_fields, &in, NULL);

    if (!res)
        res = conv_read(cx, &in, &read_seq, &unread);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:I,s:I,s:I}", "conversation_id", (json_int_t)id, "read_seq",
                                    (json_int_t)read_seq, "unread", (json_int_t)unread));
}

static enum err messages_recall(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct conv_msg m;
    enum err res = conv_recall(cx, req_param_i64(rq, "id"), &m);

    if (res)
        return res;
    return api_json_reply(cx, rs, 200, msg_json(&m));
}

/* clang-format off */
const struct route api_conversations_routes[] = {
    /* method  path                                       handler             roles  body */
    {"GET",  "/api/v1/conversations",                    conversations_list, ROLE_STAFF, 0, 0, 0, NULL, NULL},
    {"POST", "/api/v1/conversations",                    conversations_open, ROLE_STAFF, 16 * 1024, 0, 0, NULL, NULL},
    {"GET",  "/api/v1/conversations/{id}",               conversations_get,  ROLE_STAFF, 0, 0, 0, NULL, NULL},
    {"GET",  "/api/v1/conversations/{id}/messages",      messages_list,      ROLE_STAFF, 0, 0, 0, NULL, NULL},
    {"POST", "/api/v1/conversations/{id}/messages",      messages_send,      ROLE_STAFF, 32 * 1024, 0, 0, NULL, NULL},
    {"POST", "/api/v1/conversations/{id}/read",          conversations_read, ROLE_STAFF, 1024, 0, 0, NULL, NULL},
    {"POST", "/api/v1/messages/{id}/recall",             messages_recall,    ROLE_STAFF, 0, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */

/* ---- WebSocket frames ------------------------------------------------------------------- */

/* The frame without its envelope ("type", "id"), decoded by fields. */
static enum err ws_decode(struct rctx *cx, json_t *in, const struct api_field *fields, void *out,
                          uint64_t *present)
{
    json_t *o = api_json_own(cx, json_copy(in));
    json_object_del(o, "type");
    json_object_del(o, "id");
    return api_json_decode(cx, o, fields, out, present);
}

static enum err ws_send(struct rctx *cx, json_t *in, json_t **out)
{
    struct msg_in m = {0};
    struct conv_msg msg;
    uint64_t present = 0;
    int64_t conv, own = 0;
    bool created = false;
    enum err res = ws_decode(cx, in, ws_msg_fields, &m, &present);

    if (res)
        return res;
    if (!m.to == !m.conversation_id)
        return rctx_fail(cx, ERR_INVALID, "send: to (a user id) or conversation_id");
    res = msg_kind(cx, &m, ws_msg_fields, present);
    if (res)
        return res;
    conv = m.conversation_id;
    if (m.to) { /* 1:1: the direct conversation, opened on first use */
        struct conv_rec c;
        res = conv_open_direct(cx, m.to, &c, &created);
        if (res)
            return res;
        conv = c.id;
    }
    res = conv_send(cx, conv, &m.d, &msg, &own, &created);
    if (res)
        return res;
    *out = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:b}", "type", "sent", "client_id", msg.client_id,
                     "seq", (json_int_t)own, "conversation_id", (json_int_t)msg.conversation_id,
                     "message_id", (json_int_t)msg.id, "conversation_seq", (json_int_t)msg.seq,
                     "duplicate", !created);
    return ERR_OK;
}

static enum err ws_recall(struct rctx *cx, json_t *in, json_t **out)
{
    static const struct api_field f[] = {
        {"message_id", API_I64, true, 0, 0, 1, INT64_MAX},
        {0},
    };
    int64_t id = 0;
    struct conv_msg m;
    enum err res = ws_decode(cx, in, f, &id, NULL);

    if (!res)
        res = conv_recall(cx, id, &m);
    if (res)
        return res;
    *out = json_pack("{s:s,s:I,s:I}", "type", "recalled", "message_id", (json_int_t)m.id,
                     "conversation_id", (json_int_t)m.conversation_id);
    return ERR_OK;
}

static enum err ws_read_conversation(struct rctx *cx, json_t *in, json_t **out)
{
    static const struct api_field f[] = {
        {"conversation_id", API_I64, true, offsetof(struct conv_receipt, conversation_id), 0, 1,
         INT64_MAX},
        {"seq", API_I64, true, offsetof(struct conv_receipt, seq), 0, 0, INT64_MAX},
        {0},
    };
    struct conv_receipt v = {0};
    int64_t read_seq = 0, unread = 0;
    enum err res = ws_decode(cx, in, f, &v, NULL);

    if (!res)
        res = conv_read(cx, &v, &read_seq, &unread);
    if (res)
        return res;
    *out = json_pack("{s:s,s:I,s:I,s:I}", "type", "read_ok", "conversation_id",
                     (json_int_t)v.conversation_id, "read_seq", (json_int_t)read_seq, "unread",
                     (json_int_t)unread);
    return ERR_OK;
}

static enum err ws_subscribe(struct rctx *cx, json_t *in, json_t **out)
{
    static const struct api_field f[] = {
        {"conversation_id", API_I64, true, 0, 0, 1, INT64_MAX},
        {0},
    };
    int64_t id = 0;
    struct conv_rec c;
    enum err res = ws_decode(cx, in, f, &id, NULL);

    if (!res)
        res = conv_get(cx, id, &c);
    if (res)
        return res;
    *out = json_pack("{s:s,s:I,s:I,s:I,s:I}", "type", "subscribed", "conversation_id",
                     (json_int_t)c.id, "head", (json_int_t)c.head, "read_seq",
                     (json_int_t)c.read_seq, "unread", (json_int_t)c.unread);
    return ERR_OK;
}

static enum err ws_presence(struct rctx *cx, json_t *in, json_t **out)
{
    json_t *users = json_object_get(in, "users"), *v, *a;
    int64_t ids[CONV_PRESENCE_MAX], seen[CONV_PRESENCE_MAX];
    bool visible[CONV_PRESENCE_MAX], online[CONV_PRESENCE_MAX];
    size_t i, n = 0;
    enum err res;

    if (!json_is_array(users) || json_array_size(users) > CONV_PRESENCE_MAX)
        return rctx_fail(cx, ERR_INVALID, "users: an array of at most %d user ids",
                         CONV_PRESENCE_MAX);
    json_array_foreach(users, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return rctx_fail(cx, ERR_INVALID, "users: user ids");
        ids[n++] = (int64_t)json_integer_value(v);
    }
    res = conv_presence(cx, ids, n, visible, online, seen);
    if (res)
        return res;
    a = json_array();
    for (i = 0; i < n; i++)
        if (visible[i])
            json_array_append_new(a, json_pack("{s:I,s:b,s:o}", "id", (json_int_t)ids[i], "online",
                                               online[i], "last_seen", api_json_time(seen[i])));
    *out = json_pack("{s:s,s:o}", "type", "presence", "users", a);
    return ERR_OK;
}

const struct ws_call api_conversations_ws[] = {
    {"send", ws_send, ROLE_STAFF},
    {"recall", ws_recall, ROLE_STAFF},
    {"read.conversation", ws_read_conversation, ROLE_STAFF},
    {"subscribe", ws_subscribe, ROLE_STAFF},
    {"presence", ws_presence, ROLE_STAFF},
    {NULL, NULL, 0},
};
