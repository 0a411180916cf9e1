/* api/domain/conversation.c */
#include "conversation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/core/log.h"
#include "server/core/roles.h"
#include "server/db/db.h"
#include "api/domain/case.h"
#include "api/domain/geo.h"

#define MODULE "conv"
#define MS(col) "CAST(UNIX_TIMESTAMP(" col ") * 1000 AS SIGNED)"
#define CASE_MEMBERS_MAX 1000
#define SEND_TRIES 3 /* a deadlock between two fan-outs is retried here */

static const char *const kind_names[] = {
    [CONV_TEXT] = "text",         [CONV_IMAGE] = "image",         [CONV_VOICE] = "voice",
    [CONV_LOCATION] = "location", [CONV_CASE_CARD] = "case_card",
};

/* ---- small helpers ---------------------------------------------------------------------- */

/* s as a JSON string literal (pool). Input is valid UTF-8 (checked by the caller's decoder). */
static const char *jstr(struct rctx *cx, const char *s)
{
    size_t n = strlen(s), k = 0;
    char *o = rctx_alloc(cx, n * 6 + 3);

    o[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            o[k++] = '\\';
            o[k++] = (char)*p;
        } else if (*p < 0x20) {
            k += (size_t)snprintf(o + k, 7, "\\u%04x", *p);
        } else {
            o[k++] = (char)*p;
        }
    }
    o[k++] = '"';
    o[k] = '\0';
    return o;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

static bool is_staff_row(const struct db_res *r, size_t row, size_t roles_col, size_t dis_col)
{
    return ((uint32_t)db_cell_i64(r, row, roles_col) & ROLE_STAFF) != 0 &&
           db_cell_i64(r, row, dis_col) == 0;
}

static enum err staff_exists(struct rctx *cx, int64_t uid, bool *ok)
{
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT roles, disabled FROM users WHERE id = ?", DB_ARGS(DBI(uid)), &r);
    if (!res)
        *ok = r.nrows == 1 && is_staff_row(&r, 0, 0, 1);
    return res;
}

/* Join (or rejoin) uid to conversation conv. */
static enum err add_member(struct rctx *cx, int64_t conv, int64_t uid, bool pinned)
{
    return db_exec(cx,
                   "INSERT INTO conversation_members (conversation_id, user_id, joined_at, pinned)"
                   " VALUES (?,?,FROM_UNIXTIME(? / 1000),?) ON DUPLICATE KEY UPDATE"
                   " joined_at = IF(left_at IS NULL, joined_at, VALUES(joined_at)),"
                   " left_at = NULL, pinned = GREATEST(pinned, VALUES(pinned))",
                   DB_ARGS(DBI(conv), DBI(uid), DBI(cx->now_ms), DBI(pinned ? 1 : 0)), NULL);
}

static enum err new_conversation(struct rctx *cx, const char *kind, const char *title,
                                 const char *direct_key, int64_t dept, int64_t case_id, int64_t *id)
{
    struct db_res r;
    enum err res = db_exec(
        cx,
        "INSERT INTO conversations (kind, title, direct_key, dept_key, case_id, created_by,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,FROM_UNIXTIME(? / 1000),"
        "FROM_UNIXTIME(? / 1000))",
        DB_ARGS(DBS(kind), title ? DBS(title) : DBNULL, direct_key ? DBS(direct_key) : DBNULL,
                dept ? DBI(dept) : DBNULL, case_id ? DBI(case_id) : DBNULL, DBI(cx->who.user_id),
                DBI(cx->now_ms), DBI(cx->now_ms)),
        &r);
    if (!res)
        *id = (int64_t)r.insert_id;
    return res;
}

/* ---- reading conversations ------------------------------------------------------------- */

/* Columns of a conversation as member ? sees it (bound twice: the member join and the peer). */
#define CONV_COLS                                                                                  \
    "c.id, c.kind, c.title, COALESCE(c.case_id, 0), COALESCE(c.dept_key, 0), c.head,"              \
    " m.read_seq, " MS("c.created_at") ", " MS(                                                    \
        "c.updated_at") ","                                                                        \
                        " (SELECT COUNT(*) FROM conversation_members x WHERE x.conversation_id = " \
                        "c.id"                                                                     \
                        "  AND x.left_at IS NULL),"                                                \
                        " CASE WHEN c.kind = 'direct' THEN COALESCE((SELECT x.user_id FROM "       \
                        "conversation_members x"                                                   \
                        "  WHERE x.conversation_id = c.id AND x.user_id <> m.user_id LIMIT 1), "   \
                        "0) ELSE 0 END,"                                                           \
                        " (SELECT COUNT(*) FROM messages g WHERE g.conversation_id = c.id AND "    \
                        "g.seq > m.read_seq"                                                       \
                        "  AND g.sender_id <> m.user_id)"

static void row_to_conv(const struct db_res *r, size_t i, struct conv_rec *o)
{
    o->id = db_cell_i64(r, i, 0);
    o->kind = db_cell(r, i, 1);
    o->title = db_cell(r, i, 2);
    o->case_id = db_cell_i64(r, i, 3);
    o->department_id = db_cell_i64(r, i, 4);
    o->head = db_cell_i64(r, i, 5);
    o->read_seq = db_cell_i64(r, i, 6);
    o->created_ms = db_cell_i64(r, i, 7);
    o->updated_ms = db_cell_i64(r, i, 8);
    o->members = db_cell_i64(r, i, 9);
    o->peer_id = db_cell_i64(r, i, 10);
    o->unread = db_cell_i64(r, i, 11);
}

enum err conv_check_member(struct rctx *cx, int64_t id)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT (SELECT COUNT(*) FROM conversation_members WHERE"
                           " conversation_id = c.id AND user_id = ? AND left_at IS NULL)"
                           " FROM conversations c WHERE c.id = ?",
                           DB_ARGS(DBI(cx->who.user_id), DBI(id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such conversation");
    if (db_cell_i64(&r, 0, 0) == 0)
        return rctx_fail(cx, ERR_FORBIDDEN, "not a member of this conversation");
    return ERR_OK;
}

enum err conv_get(struct rctx *cx, int64_t id, struct conv_rec *out)
{
    struct db_res r;
    enum err res = conv_check_member(cx, id);

    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT " CONV_COLS " FROM conversations c JOIN conversation_members m ON"
                  " m.conversation_id = c.id AND m.user_id = ? AND m.left_at IS NULL"
                  " WHERE c.id = ?",
                  DB_ARGS(DBI(cx->who.user_id), DBI(id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_FORBIDDEN, "not a member of this conversation");
    row_to_conv(&r, 0, out);
    return ERR_OK;
}

enum err conv_members(struct rctx *cx, int64_t id, int64_t **ids, size_t *n)
{
    struct db_res r;
    enum err res = conv_check_member(cx, id);

    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT user_id FROM conversation_members WHERE conversation_id = ? AND"
                  " left_at IS NULL ORDER BY user_id",
                  DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    *ids = rctx_alloc(cx, (r.nrows ? r.nrows : 1) * sizeof **ids);
    for (size_t i = 0; i < r.nrows; i++)
        (*ids)[i] = db_cell_i64(&r, i, 0);
    *n = r.nrows;
    return ERR_OK;
}

enum err conv_list(struct rctx *cx, int limit, struct conv_list *out)
{
    struct db_res r;
    enum err res;

    if (limit < 1 || limit > CONV_PAGE_MAX)
        limit = CONV_PAGE_MAX;
    res = db_exec(cx,
                  "SELECT " CONV_COLS " FROM conversation_members m JOIN conversations c ON"
                  " c.id = m.conversation_id WHERE m.user_id = ? AND m.left_at IS NULL"
                  " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
                  DB_ARGS(DBI(cx->who.user_id), DBI(limit)), &r);
    if (res)
        return res;
    out->v = rctx_zalloc(cx, (r.nrows ? r.nrows : 1) * sizeof *out->v);
    for (size_t i = 0; i < r.nrows; i++)
        row_to_conv(&r, i, &out->v[i]);
    out->n = r.nrows;
    return ERR_OK;
}

/* ---- opening conversations ------------------------------------------------------------- */

enum err conv_open_direct(struct rctx *cx, int64_t peer, struct conv_rec *out, bool *created)
{
    struct db_res r;
    const char *key;
    int64_t me = cx->who.user_id, id = 0;
    bool ok = false;
    enum err res;

    *created = false;
    if (peer == me)
        return rctx_fail(cx, ERR_INVALID, "user_id: not yourself");
    res = staff_exists(cx, peer, &ok);
    if (res)
        return res;
    if (!ok)
        return rctx_fail(cx, ERR_NOTFOUND, "user_id: no such colleague");
    key = rctx_printf(cx, "%lld:%lld", (long long)(me < peer ? me : peer),
                      (long long)(me < peer ? peer : me));
    res = db_exec(cx, "SELECT id FROM conversations WHERE direct_key = ?", DB_ARGS(DBS(key)), &r);
    if (res)
        return res;
    if (r.nrows == 0) {
        res = db_tx_begin(cx);
        if (res)
            return res;
        res = new_conversation(cx, "direct", NULL, key, 0, 0, &id);
        if (!res)
            res = add_member(cx, id, me < peer ? me : peer, false);
        if (!res)
            res = add_member(cx, id, me < peer ? peer : me, false);
        res = db_tx_end(cx, res);
        if (res == ERR_CONFLICT) /* opened by the peer at the same instant: use theirs */
            res = db_exec(cx, "SELECT id FROM conversations WHERE direct_key = ?",
                          DB_ARGS(DBS(key)), &r);
        else if (!res)
            *created = true;
        if (res)
            return res;
    }
    if (!id)
        id = db_cell_i64(&r, 0, 0);
    return conv_get(cx, id, out);
}

enum err conv_create_group(struct rctx *cx, const char *title, const int64_t *members, size_t n,
                           struct conv_rec *out)
{
    int64_t id = 0;
    enum err res;

    if (!title || !title[0] || utf8_chars(title) > CONV_TITLE_MAX)
        return rctx_fail(cx, ERR_INVALID, "title: 1 to %d characters", CONV_TITLE_MAX);
    if (n > CONV_GROUP_MAX)
        return rctx_fail(cx, ERR_INVALID, "members: at most %d", CONV_GROUP_MAX);
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        res = staff_exists(cx, members[i], &ok);
        if (res)
            return res;
        if (!ok)
            return rctx_fail(cx, ERR_INVALID, "members: %lld is not a colleague",
                             (long long)members[i]);
    }
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = new_conversation(cx, "group", title, NULL, 0, 0, &id);
    if (!res)
        res = add_member(cx, id, cx->who.user_id, true);
    for (size_t i = 0; !res && i < n; i++)
        res = add_member(cx, id, members[i], false);
    res = db_tx_end(cx, res);
    if (res)
        return res;
    return conv_get(cx, id, out);
}

enum err conv_open_department(struct rctx *cx, int64_t dept, struct conv_rec *out, bool *created)
{
    struct db_res r;
    int64_t id = 0;
    bool mine, privileged = (cx->who.roles & (ROLE_ADMIN | ROLE_LEADER | ROLE_DISPATCHER)) != 0;
    enum err res;

    *created = false;
    res = db_exec(cx,
                  "SELECT d.name, (SELECT COUNT(*) FROM users u WHERE u.id = ? AND"
                  " u.department_id = d.id AND u.disabled = 0),"
                  " (SELECT id FROM conversations WHERE dept_key = d.id)"
                  " FROM departments d WHERE d.id = ?",
                  DB_ARGS(DBI(cx->who.user_id), DBI(dept)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "department_id: no such department");
    mine = db_cell_i64(&r, 0, 1) > 0;
    if (!mine && !privileged)
        return rctx_fail(cx, ERR_FORBIDDEN, "not a member of this department");
    id = db_cell_i64(&r, 0, 2);
    res = db_tx_begin(cx);
    if (res)
        return res;
    if (!id) {
        res = new_conversation(cx, "department", db_cell(&r, 0, 0), NULL, dept, 0, &id);
        /* The department's staff now; later members join when they open it. */
        if (!res)
            res = db_exec(cx,
                          "INSERT INTO conversation_members (conversation_id, user_id, joined_at)"
                          " SELECT ?, id, FROM_UNIXTIME(? / 1000) FROM users WHERE"
                          " department_id = ? AND disabled = 0 AND (roles & ?) <> 0",
                          DB_ARGS(DBI(id), DBI(cx->now_ms), DBI(dept), DBI(ROLE_STAFF)), NULL);
        if (!res)
            *created = true;
    }
    if (!res)
        res = add_member(cx, id, cx->who.user_id, !mine);
    res = db_tx_end(cx, res);
    if (res == ERR_CONFLICT)
        return rctx_fail(cx, ERR_BUSY, "opened at the same time; retry");
    if (res)
        return res;
    return conv_get(cx, id, out);
}

/* The case's participants (see conversation.h), ascending. */
static enum err case_participants(struct rctx *cx, int64_t case_id, struct db_res *r)
{
    return db_exec(
        cx,
        "SELECT DISTINCT u.id FROM users u JOIN ("
        " SELECT reporter_id AS uid FROM cases WHERE id = ?"
        " UNION SELECT assignee_id FROM cases WHERE id = ?"
        " UNION SELECT actor_id FROM case_steps WHERE case_id = ? AND action IN ('accept',"
        "  'register', 'dispatch', 'verify_pass', 'verify_fail', 'close', 'reopen')"
        " UNION SELECT uu.id FROM users uu JOIN cases c ON uu.department_id = c.department_id"
        "  WHERE c.id = ? AND (uu.roles & ?) <> 0"
        ") x ON x.uid = u.id WHERE u.disabled = 0 AND (u.roles & ?) <> 0 ORDER BY u.id"
        " LIMIT " /* CASE_MEMBERS_MAX */ "1000",
        DB_ARGS(DBI(case_id), DBI(case_id), DBI(case_id), DBI(case_id), DBI(ROLE_HANDLER),
                DBI(ROLE_STAFF)),
        r);
}

static bool in_rows(const struct db_res *r, size_t col, int64_t v)
{
    for (size_t i = 0; i < r->nrows; i++)
        if (db_cell_i64(r, i, col) == v)
            return true;
    return false;
}

enum err conv_open_case(struct rctx *cx, int64_t case_id, struct conv_rec *out, bool *created)
{
    struct db_res p, r;
    int64_t id = 0;
    bool ok = false, member;
    enum err res;

    *created = false;
    res = case_can_read(cx, case_id, &ok);
    if (res)
        return res;
    if (!ok)
        return rctx_fail(cx, ERR_NOTFOUND, "case_id: no such case");
    res = case_participants(cx, case_id, &p);
    if (res)
        return res;
    member = in_rows(&p, 0, cx->who.user_id);
    if (!member && !(cx->who.roles & (ROLE_ADMIN | ROLE_LEADER)))
        return rctx_fail(cx, ERR_FORBIDDEN, "not a participant of this case");
    res = db_exec(cx, "SELECT id FROM conversations WHERE case_id = ?", DB_ARGS(DBI(case_id)), &r);
    if (res)
        return res;
    if (r.nrows)
        id = db_cell_i64(&r, 0, 0);
    res = db_tx_begin(cx);
    if (res)
        return res;
    if (!id) {
        res = new_conversation(cx, "case", NULL, NULL, 0, case_id, &id);
        for (size_t i = 0; !res && i < p.nrows; i++)
            res = add_member(cx, id, db_cell_i64(&p, i, 0), false);
        if (!res)
            *created = true;
    }
    if (!res && !member)
        res = add_member(cx, id, cx->who.user_id, true);
    res = db_tx_end(cx, res);
    if (res == ERR_CONFLICT)
        return rctx_fail(cx, ERR_BUSY, "opened at the same time; retry");
    if (res)
        return res;
    return conv_get(cx, id, out);
}

static enum err push_item(struct rctx *cx, struct inbox_item **items, size_t *n, int64_t user,
                          int64_t seq, const char *type, const char *payload)
{
    struct inbox_item *nv = rctx_alloc(cx, (*n + 1) * sizeof *nv);
    if (*n)
        memcpy(nv, *items, *n * sizeof *nv);
    nv[*n] = (struct inbox_item){user, seq, type, payload, cx->now_ms};
    *items = nv;
    (*n)++;
    return ERR_OK;
}

enum err conv_case_sync(struct rctx *cx, int64_t case_id, struct inbox_item **items, size_t *n)
{
    struct db_res c, p, m;
    int64_t id;
    const char *payload;
    enum err res;

    res = db_exec(cx, "SELECT id FROM conversations WHERE case_id = ? FOR UPDATE",
                  DB_ARGS(DBI(case_id)), &c);
    if (res || c.nrows == 0)
        return res;
    id = db_cell_i64(&c, 0, 0);
    res = case_participants(cx, case_id, &p);
    if (!res)
        res = db_exec(cx,
                      "SELECT user_id, pinned, left_at IS NULL FROM conversation_members WHERE"
                      " conversation_id = ? ORDER BY user_id",
                      DB_ARGS(DBI(id)), &m);
    if (res)
        return res;
    payload = rctx_printf(cx, "{\"conversation_id\":%lld,\"case_id\":%lld}", (long long)id,
                          (long long)case_id);
    /* Joins, in ascending id order (p is sorted). */
    for (size_t i = 0; i < p.nrows; i++) {
        int64_t uid = db_cell_i64(&p, i, 0), seq = 0;
        bool active = false;
        for (size_t k = 0; k < m.nrows; k++)
            if (db_cell_i64(&m, k, 0) == uid)
                active = db_cell_i64(&m, k, 2) != 0;
        if (active)
            continue;
        res = add_member(cx, id, uid, false);
        if (!res)
            res = inbox_append(cx, uid, "conversation.joined", payload, NULL, &seq);
        if (!res)
            res = push_item(cx, items, n, uid, seq, "conversation.joined", payload);
        if (res)
            return res;
    }
    /* Leaves: current members who are no longer participants, unless added by hand. */
    for (size_t k = 0; k < m.nrows; k++) {
        int64_t uid = db_cell_i64(&m, k, 0), seq = 0;
        if (!db_cell_i64(&m, k, 2) || db_cell_i64(&m, k, 1) || in_rows(&p, 0, uid))
            continue;
        res = db_exec(cx,
                      "UPDATE conversation_members SET left_at = FROM_UNIXTIME(? / 1000) WHERE"
                      " conversation_id = ? AND user_id = ?",
                      DB_ARGS(DBI(cx->now_ms), DBI(id), DBI(uid)), NULL);
        if (!res)
            res = inbox_append(cx, uid, "conversation.left", payload, NULL, &seq);
        if (!res)
            res = push_item(cx, items, n, uid, seq, "conversation.left", payload);
        if (res)
            return res;
    }
    return ERR_OK;
}

/* ---- messages --------------------------------------------------------------------------- */

#define MSG_COLS                                                                                   \
    "m.id, m.conversation_id, m.seq, m.sender_id, m.client_id, m.kind,"                            \
    " IF(m.recalled_at IS NULL, m.body, '{}'), " MS(                                               \
        "m.created_at") ","                                                                        \
                        " COALESCE(" MS(                                                           \
                            "m.recalled_at") ", 0),"                                               \
                                             " (SELECT COUNT(*) FROM conversation_members x "      \
                                             "WHERE x.conversation_id = m.conversation_id"         \
                                             "  AND x.user_id <> m.sender_id AND x.left_at IS "    \
                                             "NULL AND x.read_seq >= m.seq)"

static void row_to_msg(const struct db_res *r, size_t i, struct conv_msg *o)
{
    o->id = db_cell_i64(r, i, 0);
    o->conversation_id = db_cell_i64(r, i, 1);
    o->seq = db_cell_i64(r, i, 2);
    o->sender_id = db_cell_i64(r, i, 3);
    o->client_id = db_cell(r, i, 4);
    o->kind = db_cell(r, i, 5);
    o->body = db_cell(r, i, 6);
    o->created_ms = db_cell_i64(r, i, 7);
    o->recalled_ms = db_cell_i64(r, i, 8);
    o->read_count = db_cell_i64(r, i, 9);
}

static enum err load_msg(struct rctx *cx, int64_t id, struct conv_msg *out, bool *found)
{
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT " MSG_COLS " FROM messages m WHERE m.id = ?", DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    *found = r.nrows == 1;
    if (*found)
        row_to_msg(&r, 0, out);
    return ERR_OK;
}

/* The content fields (no braces) of a message, checked. */
static enum err content_of(struct rctx *cx, const struct conv_msg_in *in, const char **fields,
                           int64_t *media_row)
{
    struct db_res r;
    bool ok = false;
    enum err res;

    *media_row = 0;
    switch (in->kind) {
    case CONV_TEXT: {
        size_t n = in->text ? utf8_chars(in->text) : 0;
        if (n == 0 || n > CONV_TEXT_MAX)
            return rctx_fail(cx, ERR_INVALID, "text: 1 to %d characters", CONV_TEXT_MAX);
        *fields = rctx_printf(cx, "\"text\":%s", jstr(cx, in->text));
        return ERR_OK;
    }
    case CONV_IMAGE:
    case CONV_VOICE:
        if (!in->media_id || !in->media_id[0])
            return rctx_fail(cx, ERR_INVALID, "media_id: required for %s", kind_names[in->kind]);
        res = db_exec(cx,
                      "SELECT id, kind, COALESCE(duration_ms, 0) FROM media WHERE public_id = ?"
                      " AND owner_id = ?",
                      DB_ARGS(DBS(in->media_id), DBI(cx->who.user_id)), &r);
        if (res)
            return res;
        if (r.nrows == 0)
            return rctx_fail(cx, ERR_INVALID, "media_id: not an upload of yours");
        if (strcmp(db_cell(&r, 0, 1), in->kind == CONV_IMAGE ? "image" : "voice") != 0)
            return rctx_fail(cx, ERR_INVALID, "media_id: not %s",
                             in->kind == CONV_IMAGE ? "a photo" : "a voice clip");
        *media_row = db_cell_i64(&r, 0, 0);
        *fields = in->kind == CONV_IMAGE
                      ? rctx_printf(cx, "\"media_id\":%s", jstr(cx, in->media_id))
                      : rctx_printf(cx, "\"media_id\":%s,\"duration_ms\":%lld",
                                    jstr(cx, in->media_id), (long long)db_cell_i64(&r, 0, 2));
        return ERR_OK;
    case CONV_LOCATION:
        if (!geo_in_range(in->lat, in->lng)) /* a place picked on a map: 0, 0 is one */
            return rctx_fail(cx, ERR_INVALID, "lat, lng: a position");
        if (in->address && utf8_chars(in->address) > 256)
            return rctx_fail(cx, ERR_INVALID, "address: at most 256 characters");
        *fields = rctx_printf(cx, "\"lat\":%.7f,\"lng\":%.7f,\"address\":%s", in->lat, in->lng,
                              in->address ? jstr(cx, in->address) : "null");
        return ERR_OK;
    case CONV_CASE_CARD:
        if (in->case_id <= 0)
            return rctx_fail(cx, ERR_INVALID, "case_id: required for case_card");
        res = case_can_read(cx, in->case_id, &ok);
        if (res)
            return res;
        if (!ok)
            return rctx_fail(cx, ERR_INVALID, "case_id: no such case");
        *fields = rctx_printf(cx, "\"case_id\":%lld", (long long)in->case_id);
        return ERR_OK;
    }
    return rctx_fail(cx, ERR_INVALID, "kind: unknown");
}

/* One inbox item per current member of conv (in ascending id order, as the dispatcher locks
 * heads), in three statements whatever the size; items and n get them for the notification,
 * *self_seq the caller's own copy. Inside the caller's transaction. */
static enum err fanout(struct rctx *cx, int64_t conv, const char *type, const char *payload,
                       const char *dedupe, struct inbox_item **items, size_t *n, int64_t *self_seq)
{
    struct db_res r;
    enum err res;

    res = db_exec(cx,
                  "INSERT INTO inbox_heads (user_id, seq) SELECT user_id, 1 FROM"
                  " conversation_members WHERE conversation_id = ? AND left_at IS NULL"
                  " ORDER BY user_id ON DUPLICATE KEY UPDATE seq = inbox_heads.seq + 1",
                  DB_ARGS(DBI(conv)), NULL);
    if (!res)
        res =
            db_exec(cx,
                    "INSERT INTO inbox_items (user_id, seq, type, dedupe, payload, created_at)"
                    " SELECT h.user_id, h.seq, ?, ?, ?, FROM_UNIXTIME(? / 1000) FROM"
                    " conversation_members m JOIN inbox_heads h ON h.user_id = m.user_id"
                    " WHERE m.conversation_id = ? AND m.left_at IS NULL"
                    " RETURNING user_id, seq",
                    DB_ARGS(DBS(type), DBS(dedupe), DBS(payload), DBI(cx->now_ms), DBI(conv)), &r);
    if (res)
        return res;
    *items = rctx_alloc(cx, (r.nrows ? r.nrows : 1) * sizeof **items);
    for (size_t i = 0; i < r.nrows; i++) {
        (*items)[i] = (struct inbox_item){db_cell_i64(&r, i, 0), db_cell_i64(&r, i, 1), type,
                                          payload, cx->now_ms};
        if ((*items)[i].user_id == cx->who.user_id)
            *self_seq = (*items)[i].seq;
    }
    *n = r.nrows;
    return inbox__stored(cx, *items, *n); /* their vendor pushes, in this transaction */
}

static enum err own_copy(struct rctx *cx, int64_t message_id, int64_t *seq)
{
    struct db_res r;
    enum err res = db_exec(
        cx, "SELECT seq FROM inbox_items WHERE user_id = ? AND dedupe = ?",
        DB_ARGS(DBI(cx->who.user_id), DBS(rctx_printf(cx, "c:%lld", (long long)message_id))), &r);
    if (!res)
        *seq = r.nrows ? db_cell_i64(&r, 0, 0) : 0;
    return res;
}

/* One message in one transaction of five statements: the conversation's head (its row lock
 * orders the messages), the message, the members' heads, their items (RETURNING the seqs for
 * the notification), commit. peer: the other member of a direct conversation (0 otherwise). */
static enum err send_once(struct rctx *cx, int64_t id, int64_t peer, const struct conv_msg_in *in,
                          const char *fields, int64_t media_row, struct inbox_item **items,
                          size_t *nitems, int64_t *mid, int64_t *seq_out, int64_t *self_seq)
{
    struct db_res r;
    const char *kind = kind_names[in->kind], *payload, *dedupe;
    int64_t seq;
    enum err res;

    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "UPDATE conversations SET head = LAST_INSERT_ID(head + 1),"
                  " updated_at = FROM_UNIXTIME(? / 1000) WHERE id = ?",
                  DB_ARGS(DBI(cx->now_ms), DBI(id)), &r);
    if (res)
        goto out;
    seq = (int64_t)r.insert_id;
    if (r.affected != 1 || seq < 1) {
        res = rctx_fail(cx, ERR_INTERNAL, "conversation %lld: no head", (long long)id);
        goto out;
    }
    *seq_out = seq;
    res = db_exec(cx,
                  "INSERT INTO messages (conversation_id, seq, sender_id, client_id, kind, body,"
                  " created_at) VALUES (?,?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBI(id), DBI(seq), DBI(cx->who.user_id), DBS(in->client_id), DBS(kind),
                          DBS(rctx_printf(cx, "{%s}", fields)), DBI(cx->now_ms)),
                  &r);
    if (res)
        goto out;
    *mid = (int64_t)r.insert_id;
    if (media_row)
        res = db_exec(cx,
                      "INSERT INTO media_attachments (media_id, owner_type, owner_id, purpose)"
                      " VALUES (?, 'message', ?, 'chat')",
                      DB_ARGS(DBI(media_row), DBI(*mid)), NULL);
    if (res)
        goto out;
    payload =
        rctx_printf(cx,
                    "{\"conversation_id\":%lld,\"message_id\":%lld,\"seq\":%lld,"
                    "\"from\":%lld,%s%s\"client_id\":%s,\"kind\":\"%s\",%s}",
                    (long long)id, (long long)*mid, (long long)seq, (long long)cx->who.user_id,
                    peer ? "\"to\":" : "", peer ? rctx_printf(cx, "%lld,", (long long)peer) : "",
                    jstr(cx, in->client_id), kind, fields);
    dedupe = rctx_printf(cx, "c:%lld", (long long)*mid);
    res = fanout(cx, id, "message", payload, dedupe, items, nitems, self_seq);
out:
    return db_tx_end(cx, res);
}

enum err conv_send(struct rctx *cx, int64_t id, const struct conv_msg_in *in, struct conv_msg *out,
                   int64_t *sender_seq, bool *created)
{
    struct db_res r;
    struct inbox_item *items = NULL;
    size_t nitems = 0;
    const char *fields = NULL;
    int64_t media_row = 0, mid = 0, seq = 0, self = 0;
    bool found = false;
    enum err res;

    *created = false;
    if (!in->client_id || !in->client_id[0] || strlen(in->client_id) > CONV_CLIENT_ID_MAX)
        return rctx_fail(cx, ERR_INVALID, "client_id: 1 to %d characters", CONV_CLIENT_ID_MAX);
    for (int attempt = 0;; attempt++) {
        /* One read: a retry (the same client id) answers with the first message, whatever it
         * says; otherwise the caller must be a member. */
        res = db_exec(cx,
                      "SELECT COALESCE((SELECT id FROM messages WHERE sender_id = ? AND"
                      " client_id = ?), 0), (SELECT COUNT(*) FROM conversations WHERE id = ?),"
                      " (SELECT COUNT(*) FROM conversation_members WHERE conversation_id = ? AND"
                      " user_id = ? AND left_at IS NULL), COALESCE((SELECT x.user_id FROM"
                      " conversations c JOIN conversation_members x ON x.conversation_id = c.id"
                      " WHERE c.id = ? AND c.kind = 'direct' AND x.user_id <> ? LIMIT 1), 0)",
                      DB_ARGS(DBI(cx->who.user_id), DBS(in->client_id), DBI(id), DBI(id),
                              DBI(cx->who.user_id), DBI(id), DBI(cx->who.user_id)),
                      &r);
        if (res)
            return res;
        mid = db_cell_i64(&r, 0, 0);
        if (mid) {
            res = load_msg(cx, mid, out, &found);
            if (!res && found && out->conversation_id != id)
                return rctx_fail(cx, ERR_CONFLICT,
                                 "client_id: already used for a message elsewhere");
            if (!res)
                res = own_copy(cx, mid, sender_seq);
            return res;
        }
        if (db_cell_i64(&r, 0, 1) == 0)
            return rctx_fail(cx, ERR_NOTFOUND, "no such conversation");
        if (db_cell_i64(&r, 0, 2) == 0)
            return rctx_fail(cx, ERR_FORBIDDEN, "not a member of this conversation");
        if (!fields) {
            res = content_of(cx, in, &fields, &media_row);
            if (res)
                return res;
        }
        res = send_once(cx, id, db_cell_i64(&r, 0, 3), in, fields, media_row, &items, &nitems, &mid,
                        &seq, &self);
        if (res == ERR_CONFLICT || (res == ERR_BUSY && attempt + 1 < SEND_TRIES)) {
            /* The same client id raced itself (the loser finds the winner above), or two
             * fan-outs deadlocked on inbox heads (InnoDB rolled this one back). */
            if (attempt + 1 < SEND_TRIES)
                continue;
        }
        if (res)
            return res;
        break;
    }
    inbox_notify_items(items, nitems);
    *created = true;
    *sender_seq = self;
    /* What was just stored, without reading it back. */
    *out = (struct conv_msg){mid,
                             id,
                             seq,
                             cx->who.user_id,
                             rctx_strdup(cx, in->client_id),
                             kind_names[in->kind],
                             rctx_printf(cx, "{%s}", fields),
                             cx->now_ms,
                             0,
                             0};
    return ERR_OK;
}

enum err conv_messages(struct rctx *cx, int64_t id, int64_t before, int limit,
                       struct conv_msg_page *out)
{
    struct db_res r;
    enum err res = conv_check_member(cx, id);

    memset(out, 0, sizeof *out);
    if (res)
        return res;
    if (limit < 1 || limit > CONV_PAGE_MAX)
        limit = CONV_PAGE_MAX;
    if (before <= 0)
        before = INT64_MAX;
    res = db_exec(cx,
                  "SELECT " MSG_COLS " FROM messages m WHERE m.conversation_id = ? AND m.seq < ?"
                  " ORDER BY m.seq DESC LIMIT ?",
                  DB_ARGS(DBI(id), DBI(before), DBI(limit + 1)), &r);
    if (res)
        return res;
    out->more = r.nrows > (size_t)limit;
    out->n = out->more ? (size_t)limit : r.nrows;
    out->v = rctx_zalloc(cx, (out->n ? out->n : 1) * sizeof *out->v);
    for (size_t i = 0; i < out->n; i++)
        row_to_msg(&r, i, &out->v[i]);
    return ERR_OK;
}

enum err conv_read(struct rctx *cx, const struct conv_receipt *in, int64_t *read_seq,
                   int64_t *unread)
{
    struct db_res r;
    struct inbox_item *items = NULL;
    size_t n = 0;
    const char *payload;
    int64_t head, peer, prev;
    enum err res = conv_check_member(cx, in->conversation_id);

    if (res)
        return res;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT c.head, m.read_seq, CASE WHEN c.kind = 'direct' THEN COALESCE((SELECT"
                  " x.user_id FROM conversation_members x WHERE x.conversation_id = c.id AND"
                  " x.user_id <> m.user_id LIMIT 1), 0) ELSE 0 END FROM conversations c JOIN"
                  " conversation_members m ON m.conversation_id = c.id AND m.user_id = ?"
                  " WHERE c.id = ? FOR UPDATE",
                  DB_ARGS(DBI(cx->who.user_id), DBI(in->conversation_id)), &r);
    if (res)
        goto out;
    head = db_cell_i64(&r, 0, 0);
    prev = db_cell_i64(&r, 0, 1);
    peer = db_cell_i64(&r, 0, 2);
    if (in->seq < 0 || in->seq > head) {
        res = rctx_fail(cx, ERR_INVALID, "seq: 0 to the newest message (%lld)", (long long)head);
        goto out;
    }
    *read_seq = in->seq > prev ? in->seq : prev;
    if (in->seq <= prev)
        goto out; /* receipts only move forward: nothing to tell */
    res = db_exec(cx,
                  "UPDATE conversation_members SET read_seq = ? WHERE conversation_id = ? AND"
                  " user_id = ?",
                  DB_ARGS(DBI(in->seq), DBI(in->conversation_id), DBI(cx->who.user_id)), NULL);
    if (res)
        goto out;
    /* Receipts reach the reader's other devices and, in a 1:1, the peer; in groups the
     * senders see read counts with the messages (REST). Heads in ascending id order. */
    payload =
        rctx_printf(cx, "{\"conversation_id\":%lld,\"user_id\":%lld,\"seq\":%lld}",
                    (long long)in->conversation_id, (long long)cx->who.user_id, (long long)in->seq);
    {
        int64_t who[2] = {cx->who.user_id, peer};
        if (peer && peer < cx->who.user_id) {
            who[0] = peer;
            who[1] = cx->who.user_id;
        }
        for (int i = 0; i < 2 && !res; i++) {
            int64_t s = 0;
            if (!who[i])
                continue;
            res = inbox_append(cx, who[i], "conversation.read", payload, NULL, &s);
            if (!res)
                res = push_item(cx, &items, &n, who[i], s, "conversation.read", payload);
        }
    }
out:
    res = db_tx_end(cx, res);
    if (res)
        return res;
    inbox_notify_items(items, n);
    res = db_exec(cx,
                  "SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND seq > ? AND"
                  " sender_id <> ?",
                  DB_ARGS(DBI(in->conversation_id), DBI(*read_seq), DBI(cx->who.user_id)), &r);
    if (!res)
        *unread = db_cell_i64(&r, 0, 0);
    return res;
}

enum err conv_recall(struct rctx *cx, int64_t message_id, struct conv_msg *out)
{
    struct conv_msg m;
    struct inbox_item *items = NULL;
    struct db_res r;
    size_t n = 0;
    int64_t self = 0;
    bool found = false;
    enum err res = load_msg(cx, message_id, &m, &found);

    if (res)
        return res;
    if (!found)
        return rctx_fail(cx, ERR_NOTFOUND, "no such message");
    res = conv_check_member(cx, m.conversation_id);
    if (res == ERR_FORBIDDEN)
        return rctx_fail(cx, ERR_NOTFOUND, "no such message");
    if (res)
        return res;
    if (m.sender_id != cx->who.user_id)
        return rctx_fail(cx, ERR_FORBIDDEN, "only the sender recalls a message");
    if (m.recalled_ms) {
        *out = m;
        return ERR_OK;
    }
    if (cx->now_ms - m.created_ms > CONV_RECALL_MS)
        return rctx_fail(cx, ERR_BAD_STATE,
                         "a message can be recalled within %d minutes of sending",
                         CONV_RECALL_MS / 60000);
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "UPDATE messages SET recalled_at = FROM_UNIXTIME(? / 1000) WHERE id = ? AND"
                  " recalled_at IS NULL",
                  DB_ARGS(DBI(cx->now_ms), DBI(message_id)), &r);
    if (!res && r.affected == 1) {
        /* Its photo or voice clip is no longer the conversation's: only the sender reads it. */
        res = db_exec(cx,
                      "DELETE FROM media_attachments WHERE owner_type = 'message' AND"
                      " owner_id = ?",
                      DB_ARGS(DBI(message_id)), NULL);
        if (!res)
            res = fanout(cx, m.conversation_id, "message.recalled",
                         rctx_printf(cx,
                                     "{\"conversation_id\":%lld,\"message_id\":%lld,"
                                     "\"seq\":%lld,\"from\":%lld}",
                                     (long long)m.conversation_id, (long long)message_id,
                                     (long long)m.seq, (long long)m.sender_id),
                         rctx_printf(cx, "r:%lld", (long long)message_id), &items, &n, &self);
    }
    res = db_tx_end(cx, res);
    if (res)
        return res;
    inbox_notify_items(items, n);
    res = load_msg(cx, message_id, out, &found);
    return res;
}

enum err conv_message_readable(struct rctx *cx, int64_t message_id, bool *ok)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT 1 FROM messages m JOIN conversation_members x ON"
                           " x.conversation_id = m.conversation_id AND x.user_id = ? AND"
                           " x.left_at IS NULL WHERE m.id = ? AND m.recalled_at IS NULL",
                           DB_ARGS(DBI(cx->who.user_id), DBI(message_id)), &r);
    if (!res)
        *ok = r.nrows > 0 && cx->who.user_id != 0;
    return res;
}

/* ---- presence --------------------------------------------------------------------------- */

enum err conv_seen(struct rctx *cx)
{
    return db_exec(cx,
                   "INSERT INTO user_presence (user_id, last_seen_at) VALUES (?,"
                   " FROM_UNIXTIME(? / 1000)) ON DUPLICATE KEY UPDATE"
                   " last_seen_at = GREATEST(last_seen_at, VALUES(last_seen_at))",
                   DB_ARGS(DBI(cx->who.user_id), DBI(cx->now_ms)), NULL);
}

enum err conv_sockets(struct rctx *cx, uint64_t node, int delta)
{
    enum err res =
        db_exec(cx,
                "INSERT INTO ws_user_sockets (user_id, node_id, sockets) VALUES (?, ?, ?)"
                " ON DUPLICATE KEY UPDATE sockets = sockets + VALUES(sockets)",
                DB_ARGS(DBI(cx->who.user_id), DBI((int64_t)node), DBI(delta)), NULL);
    if (res || delta > 0)
        return res;
    return db_exec(cx,
                   "DELETE FROM ws_user_sockets WHERE user_id = ? AND node_id = ? AND sockets <= 0",
                   DB_ARGS(DBI(cx->who.user_id), DBI((int64_t)node)), NULL);
}

enum err conv_node_beat(struct rctx *cx, uint64_t node)
{
    int64_t gone_before = cx->now_ms - 3600 * 1000;
    enum err res = db_exec(cx,
                           "INSERT INTO ws_nodes (node_id, started_at, seen_at) VALUES (?,"
                           " FROM_UNIXTIME(? / 1000), FROM_UNIXTIME(? / 1000)) ON DUPLICATE KEY"
                           " UPDATE seen_at = VALUES(seen_at)",
                           DB_ARGS(DBI((int64_t)node), DBI(cx->now_ms), DBI(cx->now_ms)), NULL);
    if (res)
        return res;
    /* Nodes gone for an hour (killed): their counts were not decremented. */
    res = db_exec(cx,
                  "DELETE s FROM ws_user_sockets s JOIN ws_nodes n ON n.node_id = s.node_id"
                  " WHERE n.seen_at < FROM_UNIXTIME(? / 1000)",
                  DB_ARGS(DBI(gone_before)), NULL);
    if (res)
        return res;
    return db_exec(cx, "DELETE FROM ws_nodes WHERE seen_at < FROM_UNIXTIME(? / 1000)",
                   DB_ARGS(DBI(gone_before)), NULL);
}

enum err conv_node_gone(struct rctx *cx, uint64_t node)
{
    enum err res = db_exec(cx, "DELETE FROM ws_user_sockets WHERE node_id = ?",
                           DB_ARGS(DBI((int64_t)node)), NULL);
    if (res)
        return res;
    return db_exec(cx, "DELETE FROM ws_nodes WHERE node_id = ?", DB_ARGS(DBI((int64_t)node)), NULL);
}

enum err conv_presence(struct rctx *cx, const int64_t *ids, size_t n, bool *visible, bool *online,
                       int64_t *last_seen_ms)
{
    int64_t alive_since = cx->now_ms - CONV_NODE_TTL_MS;

    if (!(cx->who.roles & ROLE_STAFF))
        return rctx_fail(cx, ERR_FORBIDDEN, "presence is for staff");
    if (n > CONV_PRESENCE_MAX)
        return rctx_fail(cx, ERR_INVALID, "users: at most %d", CONV_PRESENCE_MAX);
    for (size_t i = 0; i < n; i++) {
        struct db_res r;
        enum err res = db_exec(cx,
                               "SELECT u.roles, u.disabled, COALESCE(" MS(
                                   "p.last_seen_at") ", 0),"
                                                     " EXISTS (SELECT 1 FROM ws_user_sockets s "
                                                     "JOIN ws_nodes n ON n.node_id = s.node_id"
                                                     " WHERE s.user_id = u.id AND s.sockets > 0 "
                                                     "AND n.seen_at >= FROM_UNIXTIME(? / 1000))"
                                                     " FROM users u LEFT JOIN user_presence p ON "
                                                     "p.user_id = u.id WHERE u.id = ?",
                               DB_ARGS(DBI(alive_since), DBI(ids[i])), &r);
        if (res)
            return res;
        /* Citizens' presence is never shown, not even as "offline". */
        visible[i] = r.nrows == 1 && is_staff_row(&r, 0, 0, 1);
        last_seen_ms[i] = visible[i] ? db_cell_i64(&r, 0, 2) : 0;
        online[i] = visible[i] && db_cell_i64(&r, 0, 3) != 0;
    }
    return ERR_OK;
}

/* ---- announcements ---------------------------------------------------------------------- */

enum err conv_announce(struct rctx *cx, const struct conv_announcement *in, int64_t *id,
                       int64_t *offset, int64_t *recipients)
{
    struct db_res r;
    struct inbox_item it;
    long long num = 0;
    uint32_t roles = ROLE_STAFF;
    const char *who, *payload = "{}";
    int64_t aid = 0, off = 0, count = 0;
    enum err res;

    /* The audience now, as inbox_member_streams defines the streams' members. */
    if (strcmp(in->stream, "all") == 0) {
        who = "SELECT ?, id FROM users WHERE disabled = 0 AND (roles & ?) <> 0";
    } else if (strcmp(in->stream, "tiles") == 0) {
        who = "SELECT ?, id FROM users WHERE disabled = 0 AND (roles & ?) <> 0";
        roles = ROLE_LEADER | ROLE_ADMIN;
    } else if (sscanf(in->stream, "dept.%lld", &num) == 1 && num > 0) {
        who = "SELECT ?, id FROM users WHERE disabled = 0 AND (roles & ?) <> 0 AND"
              " department_id = ?";
    } else if (sscanf(in->stream, "grid.%lld", &num) == 1 && num > 0) {
        who = "SELECT ?, u.id FROM users u JOIN user_grids g ON g.user_id = u.id WHERE"
              " u.disabled = 0 AND (u.roles & ?) <> 0 AND g.grid_id = ?";
    } else {
        return rctx_fail(cx, ERR_INVALID,
                         "stream: \"all\", \"tiles\", \"dept.<id>\" or \"grid.<id>\"");
    }
    if (!inbox_stream_name_ok(in->stream))
        return rctx_fail(cx, ERR_INVALID, "stream: a-z, 0-9, '.', '_', at most 63");
    res = db_tx_begin(cx);
    if (res)
        return res;
    /* The stream's row first: announcements to one stream queue here instead of deadlocking
     * later between their own rows and the stream's head. */
    res = db_exec(cx,
                  "INSERT INTO streams (name, head) VALUES (?, 0) ON DUPLICATE KEY UPDATE"
                  " head = head",
                  DB_ARGS(DBS(in->stream)), NULL);
    if (res)
        goto out;
    res = db_exec(cx,
                  "INSERT INTO announcements (stream, offset_no, kind, title, created_by,"
                  " created_at) VALUES (?, 0, ?, ?, ?, FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBS(in->stream), DBS(in->kind), DBS(in->title), DBI(cx->who.user_id),
                          DBI(cx->now_ms)),
                  &r);
    if (res)
        goto out;
    aid = (int64_t)r.insert_id;
    {
        const char *sql = rctx_printf(
            cx, "INSERT INTO announcement_recipients (announcement_id, user_id) %s", who);
        if (num)
            res = db_exec(cx, sql, DB_ARGS(DBI(aid), DBI(roles), DBI(num)), &r);
        else
            res = db_exec(cx, sql, DB_ARGS(DBI(aid), DBI(roles)), &r);
    }
    if (res)
        goto out;
    count = (int64_t)r.affected;
    payload = rctx_printf(cx, "{\"announcement_id\":%lld,\"title\":%s,\"body\":%s,\"by\":%lld}",
                          (long long)aid, jstr(cx, in->title), jstr(cx, in->body ? in->body : ""),
                          (long long)cx->who.user_id);
    res = inbox_stream_publish_tx(cx, in->stream, in->kind, payload, &off);
    if (!res)
        res = db_exec(cx, "UPDATE announcements SET offset_no = ? WHERE id = ?",
                      DB_ARGS(DBI(off), DBI(aid)), NULL);
out:
    res = db_tx_end(cx, res);
    if (res)
        return res;
    it = (struct inbox_item){0, off, in->kind, payload, cx->now_ms};
    inbox_notify_stream(in->stream, &it);
    *id = aid;
    *offset = off;
    *recipients = count;
    return ERR_OK;
}

enum err conv_announcement_read(struct rctx *cx, int64_t id)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "UPDATE announcement_recipients SET read_at = COALESCE(read_at,"
                           " FROM_UNIXTIME(? / 1000)) WHERE announcement_id = ? AND user_id = ?",
                           DB_ARGS(DBI(cx->now_ms), DBI(id), DBI(cx->who.user_id)), NULL);
    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT 1 FROM announcement_recipients WHERE announcement_id = ? AND"
                  " user_id = ?",
                  DB_ARGS(DBI(id), DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    return r.nrows ? ERR_OK : rctx_fail(cx, ERR_NOTFOUND, "no such announcement for you");
}

enum err conv_announcement_stats(struct rctx *cx, int64_t id, struct conv_announcement_stats *out)
{
    struct db_res r;
    enum err res;

    memset(out, 0, sizeof *out);
    res = db_exec(cx,
                  "SELECT a.id, a.stream, a.offset_no, a.kind, a.title, a.created_by, " MS(
                      "a.created_at") ", (SELECT COUNT(*) FROM announcement_recipients x WHERE"
                                      " x.announcement_id = a.id), (SELECT COUNT(*) FROM"
                                      " announcement_recipients x WHERE x.announcement_id = a.id"
                                      " AND x.read_at IS NOT NULL) FROM announcements a WHERE"
                                      " a.id = ?",
                  DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such announcement");
    if (db_cell_i64(&r, 0, 5) != cx->who.user_id && !(cx->who.roles & (ROLE_ADMIN | ROLE_LEADER)))
        return rctx_fail(cx, ERR_FORBIDDEN, "read statistics are for the sender");
    out->id = db_cell_i64(&r, 0, 0);
    out->stream = db_cell(&r, 0, 1);
    out->offset = db_cell_i64(&r, 0, 2);
    out->kind = db_cell(&r, 0, 3);
    out->title = db_cell(&r, 0, 4);
    out->created_by = db_cell_i64(&r, 0, 5);
    out->created_ms = db_cell_i64(&r, 0, 6);
    out->recipients = db_cell_i64(&r, 0, 7);
    out->read = db_cell_i64(&r, 0, 8);
    res = db_exec(cx,
                  "SELECT user_id FROM announcement_recipients WHERE announcement_id = ? AND"
                  " read_at IS NULL ORDER BY user_id LIMIT 500",
                  DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    out->unread_ids = rctx_alloc(cx, (r.nrows ? r.nrows : 1) * sizeof *out->unread_ids);
    for (size_t i = 0; i < r.nrows; i++)
        out->unread_ids[i] = db_cell_i64(&r, i, 0);
    out->nunread = r.nrows;
    return ERR_OK;
}
