/* api/domain/wechat.h: citizens who log in from the WeChat mini-program.
 *
 * A wx.login() code is traded for the user's openid (and unionid, when the app is bound to a
 * WeChat Open Platform account) by server/ext/wechat.h; the citizen is found by openid, else by
 * unionid (the same person known from another app of the same Open Platform account), else
 * created once; then a session is opened as for a password login. WeChat's session_key is
 * never seen here: the ext client drops it. Every outcome is audited as "auth.wechat". */
#ifndef CITYD_DOMAIN_WECHAT_H
#define CITYD_DOMAIN_WECHAT_H

#include "server/core/err.h"
#include "server/core/rctx.h"
#include "session.h"

/* The display name a new WeChat citizen starts with (they may change it later). */
#define WECHAT_DEFAULT_NAME "微信用户"

/* A WeChat log-in: the wx.login() code and the device it comes from. */
struct wechat_login_in {
    const char *code, *device_id;
};

/* Log in (or register, the first time) the WeChat user behind in->code on in->device_id. *out
 * is pool memory. Errors: those of ext_wechat_code2session (401 bad code, 429, 403 blocked, 503
 * WeChat away), ERR_FORBIDDEN when the account is disabled, ERR_BUSY when the database is away. */
enum err wechat_login(struct rctx *cx, const struct wechat_login_in *in,
                      struct token_pair **out) MUST_CHECK;

#endif
