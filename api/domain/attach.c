/* api/domain/attach.c */
#include "attach.h"

#include <string.h>
#include "server/db/db.h"

enum err attach_media(struct rctx *cx, const char *owner_type, int64_t owner_id,
                      const char *purpose, const char *const *public_ids, size_t n, int voice_ok)
{
    if (n > ATTACH_MAX)
        return rctx_fail(cx, ERR_INVALID, "at most %d photos", ATTACH_MAX);
    for (size_t i = 0; i < n; i++) {
        struct db_res r;
        enum err res =
            db_exec(cx, "SELECT id, kind FROM media WHERE public_id = ? AND owner_id = ?",
                    DB_ARGS(DBS(public_ids[i]), DBI(cx->who.user_id)), &r);
        if (res)
            return res;
        if (r.nrows == 0)
            return rctx_fail(cx, ERR_INVALID, "photos[%zu]: no media %.40s uploaded by you", i,
                             public_ids[i]);
        if (!voice_ok && strcmp(db_cell(&r, 0, 1), "image") != 0)
            return rctx_fail(cx, ERR_INVALID, "photos[%zu]: not an image", i);
        res = db_exec(cx,
                      "INSERT INTO media_attachments (media_id, owner_type, owner_id, purpose,"
                      " position, created_at) VALUES (?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                      DB_ARGS(DBI(db_cell_i64(&r, 0, 0)), DBS(owner_type), DBI(owner_id),
                              DBS(purpose), DBI((int64_t)i), DBI(cx->now_ms)),
                      NULL);
        if (res == ERR_CONFLICT)
            return rctx_fail(cx, ERR_INVALID, "photos[%zu]: listed twice", i);
        if (res)
            return res;
    }
    return ERR_OK;
}

enum err attach_list(struct rctx *cx, const char *owner_type, int64_t owner_id, const char *purpose,
                     const char ***ids, size_t *n)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT m.public_id FROM media_attachments a JOIN media m ON m.id ="
                           " a.media_id WHERE a.owner_type = ? AND a.owner_id = ? AND"
                           " (? IS NULL OR a.purpose = ?) ORDER BY a.purpose, a.position",
                           DB_ARGS(DBS(owner_type), DBI(owner_id), DBS(purpose), DBS(purpose)), &r);
    if (res)
        return res;
    *n = r.nrows;
    *ids = rctx_alloc(cx, (r.nrows + 1) * sizeof **ids);
    for (size_t i = 0; i < r.nrows; i++)
        (*ids)[i] = db_cell(&r, i, 0);
    return ERR_OK;
}
