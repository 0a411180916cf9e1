/* server/ext/wechat.h: the WeChat mini-program login call (code2Session).
 *
 * Owns the one HTTP exchange with WeChat: GET {base_url}/sns/jscode2session with the app's id
 * and secret and the code a mini-program got from wx.login(), and the mapping of WeChat's
 * errcode values onto cityd's errors. It keeps openid and unionid only: session_key is parsed
 * past and never copied, so it can neither leave the server nor reach a log (notes/domain.md
 * section 5; nothing in cityd decrypts WeChat user data). The app secret and the code are
 * never logged either. No database, no HTTP server types: the domain (api/domain/wechat.c)
 * calls this from a worker thread, which blocks for at most the timeouts below. */
#ifndef CITYD_EXT_WECHAT_H
#define CITYD_EXT_WECHAT_H

#include <stdbool.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define EXT_WECHAT_CONNECT_TIMEOUT_MS 2000
#define EXT_WECHAT_TIMEOUT_MS 4000
#define EXT_WECHAT_MAX_REPLY 16384 /* a real reply is about 200 bytes */
#define EXT_WECHAT_CODE_MAX 128
#define EXT_WECHAT_ID_MAX 64 /* openid / unionid, as users.wechat_openid */

/* Once at start-up, before any request. The strings are copied (truncated to their cfg sizes).
 * An empty appid or secret leaves WeChat login switched off: every call gives ERR_BUSY. */
void ext_wechat_configure(const char *base_url, const char *appid, const char *secret);
/* True when appid and secret are set. */
bool ext_wechat_enabled(void);

struct ext_wechat_identity {
    char openid[EXT_WECHAT_ID_MAX + 1];
    char unionid[EXT_WECHAT_ID_MAX + 1]; /* "" when the app is not bound to an Open Platform */
};

/* Trade a wx.login() code for the user's identity. out is written only on success.
 * Errors (the message names WeChat's errcode, never the code or the secret):
 *   ERR_UNAUTH     40029 invalid code (used, expired or from another app), 40163 code used
 *   ERR_RATELIMIT  45011 too many logins of this user (100 a minute)
 *   ERR_FORBIDDEN  40226 a user WeChat flags as high-risk
 *   ERR_BUSY       -1 WeChat busy, WeChat unreachable or too slow, a reply that is not
 *                  code2Session JSON, or login switched off: the client may retry
 *   ERR_INTERNAL   any other errcode (bad appid or secret: an operator must act; logged)
 *   ERR_INVALID    code empty, too long or with characters a wx.login code never has */
enum err ext_wechat_code2session(struct rctx *cx, const char *code,
                                 struct ext_wechat_identity *out) MUST_CHECK;

#endif
