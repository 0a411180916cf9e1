/* server/ext/sms.h: text messages to phones, through the SMS gateway of the deployment.
 *
 * The provider interface is one HTTP call: POST {sms.url} with the JSON body
 * {"phone":"<number>","text":"<message>"} (and "Authorization: Bearer <sms.token>" when a token
 * is configured); any 2xx answer means the gateway accepted the message. A provider with its
 * own signed API (Aliyun, Tencent Cloud) sits behind a small adapter that speaks this; the
 * tests use a local stand-in (tests/e2e/tools/sms_standin.py). The message text and the phone
 * number are never logged. No database: the domain calls this from a worker thread, which
 * blocks at most the timeouts below. */
#ifndef CITYD_EXT_SMS_H
#define CITYD_EXT_SMS_H

#include <stdbool.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define EXT_SMS_CONNECT_TIMEOUT_MS 2000
#define EXT_SMS_TIMEOUT_MS 4000

/* Once at start-up, before any request. The strings are copied. An empty url switches text
 * messages off: every call gives ERR_BUSY. */
void ext_sms_configure(const char *url, const char *token);
bool ext_sms_enabled(void);

/* Send text to phone. ERR_BUSY when the gateway is off, unreachable, slow or refuses (the
 * client may retry later). */
enum err ext_sms_send(struct rctx *cx, const char *phone, const char *text) MUST_CHECK;

#endif
