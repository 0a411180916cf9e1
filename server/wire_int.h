/* server/wire_int.h: internals of the wiring, split over wire*.c. */
#ifndef CITYD_WIRE_INT_H
#define CITYD_WIRE_INT_H

#include "server/core/cfg.h"
#include "server/http/server.h"

/* Load the token keys from the configuration and connect auth to http (authenticate,
 * authorize, auth_failed). Exits the process with one clear line on a bad key. */
void wire__connect_auth(const struct cfg *cfg, struct http_config *hc);
void wire__disconnect_auth(void);
/* The WebSocket gateway's token check (loop thread): as for REST, plus the expiry. */
enum err wire__ws_authenticate(const char *token, size_t len, struct actor *who, int64_t *exp_s,
                               char *why, size_t whylen);
/* Audit a rejected token (worker thread). */
void wire__auth_failed(struct rctx *cx, const char *method, const char *path, const char *why);
/* The gateway's rejected tokens (worker thread): counted, audited as HTTP's are. */
void wire__ws_auth_failed(struct rctx *cx, const char *why);
/* A loop thread is about to exit: free its verified-token cache. */
void wire__auth_thread_done(void);

#endif
