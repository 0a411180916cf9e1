/* api/domain/conversation.h: instant messaging — conversations, their members, messages, read
 * receipts, recall, case rooms, presence and announcement read statistics (issue 11).
 *
 * Invariants:
 * - A message is stored once (messages) with a per-conversation seq strictly increasing from
 *   1 (conversations.head bumped in the same transaction), and in the same transaction one
 *   inbox item (kind "message") per current member, so it reaches each member through the
 *   inbox: stored before sent, replayed after a reconnection, never twice.
 * - (sender, client id) is unique: a retry returns the first message and stores nothing.
 * - Only current members read, send, receive or subscribe; nobody else learns more than
 *   "not a member". Citizens take no part (staff only).
 * - A case room holds the case's participants: the staff reporter, the actors of the
 *   supervisory steps (accept, register, dispatch, verify, close, reopen), the assignee and
 *   the handlers of the department holding the case, plus members added by hand (pinned). The
 *   inbox dispatcher calls conv_case_sync for every case event, in its own transaction, so the
 *   room follows dispatch and re-dispatch even after a crash.
 * - Recall: by the sender, within CONV_RECALL_MS of sending (by the server clock).
 * No HTTP, no JSON library: message bodies are JSON texts written here. */
#ifndef CITYD_DOMAIN_CONVERSATION_H
#define CITYD_DOMAIN_CONVERSATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"
#include "api/domain/inbox.h"

#define CONV_RECALL_MS (2 * 60 * 1000)
#define CONV_TITLE_MAX 100
#define CONV_TEXT_MAX 4000 /* characters of a text message */
#define CONV_CLIENT_ID_MAX 64
#define CONV_GROUP_MAX 500 /* members of an ad hoc group */
#define CONV_PAGE_MAX 200  /* messages or conversations per read */
#define CONV_PRESENCE_MAX 100

/* A conversation as its member sees it. Strings are pool memory. */
struct conv_rec {
    int64_t id;
    const char *kind;                        /* "direct", "group", "department", "case" */
    const char *title;                       /* NULL for direct and case rooms */
    int64_t case_id, department_id, peer_id; /* peer: the other member of a direct one */
    int64_t head;                            /* newest message seq */
    int64_t read_seq;                        /* the caller's read receipt */
    int64_t unread;                          /* messages after read_seq by others */
    int64_t members;                         /* current members */
    int64_t created_ms, updated_ms;
};

/* Open (find or create) a conversation. *created tells whether it was made now.
 * - direct: with peer (an enabled staff member, not the caller); ERR_NOTFOUND otherwise.
 * - group: title (1..CONV_TITLE_MAX) with the caller and members (enabled staff; unknown ids
 *   give ERR_INVALID naming one), at most CONV_GROUP_MAX.
 * - department: the department's enabled staff; the caller must be one of them, or an admin,
 *   leader or dispatcher (then added as pinned). ERR_NOTFOUND for an unknown department.
 * - case: the case's participants (see above); a caller who may read the case but is not a
 *   participant joins only as admin or leader (pinned); others get ERR_FORBIDDEN. */
enum err conv_open_direct(struct rctx *cx, int64_t peer, struct conv_rec *out,
                          bool *created) MUST_CHECK;
enum err conv_create_group(struct rctx *cx, const char *title, const int64_t *members, size_t n,
                           struct conv_rec *out) MUST_CHECK;
enum err conv_open_department(struct rctx *cx, int64_t department_id, struct conv_rec *out,
                              bool *created) MUST_CHECK;
enum err conv_open_case(struct rctx *cx, int64_t case_id, struct conv_rec *out,
                        bool *created) MUST_CHECK;

/* The caller's conversation id; ERR_NOTFOUND when there is none, ERR_FORBIDDEN when the caller
 * is not a current member. */
enum err conv_get(struct rctx *cx, int64_t id, struct conv_rec *out) MUST_CHECK;
/* Member user ids (pool), current members only. Caller must be a member. */
enum err conv_members(struct rctx *cx, int64_t id, int64_t **ids, size_t *n) MUST_CHECK;

struct conv_list {
    size_t n;
    struct conv_rec *v; /* pool; most recently active first */
};
/* The caller's conversations, with unread counts. limit 1..CONV_PAGE_MAX. */
enum err conv_list(struct rctx *cx, int limit, struct conv_list *out) MUST_CHECK;

enum conv_msg_kind { CONV_TEXT, CONV_IMAGE, CONV_VOICE, CONV_LOCATION, CONV_CASE_CARD };

/* What a sender sends. text for CONV_TEXT (1..CONV_TEXT_MAX characters); media_id (a public
 * id uploaded by the sender: an image for CONV_IMAGE, a voice clip for CONV_VOICE, whose
 * duration comes from the stored clip); lat/lng (and an optional address) for CONV_LOCATION;
 * case_id for CONV_CASE_CARD (a case the sender may read). */
struct conv_msg_in {
    const char *client_id;
    enum conv_msg_kind kind;
    const char *text, *media_id, *address;
    double lat, lng;
    int64_t case_id;
};

/* A stored message. body is the JSON object text of its content ({} once recalled). */
struct conv_msg {
    int64_t id, conversation_id, seq, sender_id;
    const char *client_id, *kind, *body;
    int64_t created_ms, recalled_ms;
    int64_t read_count; /* members other than the sender whose receipt covers it */
};

/* Store a message in conversation id (the caller must be a member) and an inbox item for each
 * member. *sender_seq gets the seq of the sender's own inbox copy. A retry with the same
 * client id returns the first message (*created false) whatever its content. ERR_INVALID for
 * bad content, ERR_FORBIDDEN for a non-member, ERR_NOTFOUND for an unknown conversation. */
enum err conv_send(struct rctx *cx, int64_t id, const struct conv_msg_in *in, struct conv_msg *out,
                   int64_t *sender_seq, bool *created) MUST_CHECK;

struct conv_msg_page {
    size_t n;
    struct conv_msg *v; /* pool, newest first */
    bool more;          /* older messages exist */
};
/* Messages of id with seq < before (0: from the newest), newest first. Members only. */
enum err conv_messages(struct rctx *cx, int64_t id, int64_t before, int limit,
                       struct conv_msg_page *out) MUST_CHECK;

/* A read receipt: the caller has read conversation_id up to seq. */
struct conv_receipt {
    int64_t conversation_id, seq;
};
/* Record a receipt (it moves forward only, never past the head; ERR_INVALID past it). The
 * caller's other devices, and in a direct conversation the peer, get a "conversation.read"
 * inbox item. *unread gets what is left. */
enum err conv_read(struct rctx *cx, const struct conv_receipt *in, int64_t *read_seq,
                   int64_t *unread) MUST_CHECK;

/* Recall message_id: only its sender, only within CONV_RECALL_MS (ERR_BAD_STATE after), once
 * (a second recall is answered as the first). Every member gets a "message.recalled" item. */
enum err conv_recall(struct rctx *cx, int64_t message_id, struct conv_msg *out) MUST_CHECK;

/* Whether the caller is a current member of id (ERR_NOTFOUND / ERR_FORBIDDEN otherwise). */
enum err conv_check_member(struct rctx *cx, int64_t id) MUST_CHECK;

/* Whether the caller may read message_id's attachments: a current member of its conversation. */
enum err conv_message_readable(struct rctx *cx, int64_t message_id, bool *ok) MUST_CHECK;

/* Dispatcher hook (inside its transaction): bring case_id's room, if it has one, in line with
 * the case's participants. Members who join or leave get a "conversation.joined" /
 * "conversation.left" inbox item; those are appended to *items (pool) for the caller to
 * announce after its commit. */
enum err conv_case_sync(struct rctx *cx, int64_t case_id, struct inbox_item **items,
                        size_t *n) MUST_CHECK;

/* Presence, the same on every node (docs/ws-protocol.md). conv_seen stores "last seen now" for
 * the caller (socket authenticated or closed). conv_sockets counts the caller's authenticated
 * sockets on node up (delta 1) or down (-1). conv_node_beat says node is alive (server/ws
 * sends one every 10 s; a node silent for CONV_NODE_TTL_MS is gone and its sockets no longer
 * count) and clears what nodes gone for an hour left; conv_node_gone removes node at once
 * (a clean shutdown). conv_presence: for each id of ids, whether the caller may see its
 * presence (the caller and the id are staff; never for citizens), whether a live node holds
 * a socket of it, and its last seen time (0: never). */
#define CONV_NODE_TTL_MS 30000
enum err conv_seen(struct rctx *cx) MUST_CHECK;
enum err conv_sockets(struct rctx *cx, uint64_t node, int delta) MUST_CHECK;
enum err conv_node_beat(struct rctx *cx, uint64_t node) MUST_CHECK;
enum err conv_node_gone(struct rctx *cx, uint64_t node) MUST_CHECK;
enum err conv_presence(struct rctx *cx, const int64_t *ids, size_t n, bool *visible, bool *online,
                       int64_t *last_seen_ms) MUST_CHECK;

/* Announcements (公文通知): store one item in stream ("all", "tiles", "dept.<id>",
 * "grid.<id>") with data {announcement_id, title, body, by}, and its audience (the stream's
 * members now) for the read statistics, in one transaction; then tell the sockets. */
struct conv_announcement {
    const char *stream, *kind, *title;
    const char *body; /* NULL: none */
};
enum err conv_announce(struct rctx *cx, const struct conv_announcement *in, int64_t *id,
                       int64_t *offset, int64_t *recipients) MUST_CHECK;
/* The caller read announcement id (a recipient; ERR_NOTFOUND otherwise). Idempotent. */
enum err conv_announcement_read(struct rctx *cx, int64_t id) MUST_CHECK;
struct conv_announcement_stats {
    int64_t id, offset, created_by, created_ms, recipients, read;
    const char *stream, *kind, *title;
    size_t nunread;
    int64_t *unread_ids; /* pool; up to 500 recipients who have not read it */
};
/* Read statistics: for the sender, admins and leaders (ERR_FORBIDDEN otherwise). */
enum err conv_announcement_stats(struct rctx *cx, int64_t id,
                                 struct conv_announcement_stats *out) MUST_CHECK;

#endif
