/* api/domain/attach.h: attaching uploaded media to what they document.
 *
 * Media belong to whoever uploaded them until attached; attach_media links them to an owner
 * object (a case report, handling or verification; later a chat message) inside the caller's
 * transaction. From then on, who may read a medium follows who may read its owner. */
#ifndef CITYD_DOMAIN_ATTACH_H
#define CITYD_DOMAIN_ATTACH_H

#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define ATTACH_MAX 9

/* Attach media (public ids) to (owner_type, owner_id) for purpose ("report", "handle",
 * "verify", ...), in order. Each must exist and have been uploaded by the caller, and be an
 * image unless voice_ok. ERR_INVALID naming the first bad id; more than ATTACH_MAX →
 * ERR_INVALID. */
enum err attach_media(struct rctx *cx, const char *owner_type, int64_t owner_id,
                      const char *purpose, const char *const *public_ids, size_t n,
                      int voice_ok) MUST_CHECK;

/* Public ids of the media attached to an owner for purpose (NULL = any), in order; pool
 * memory. */
enum err attach_list(struct rctx *cx, const char *owner_type, int64_t owner_id, const char *purpose,
                     const char ***ids, size_t *n) MUST_CHECK;

#endif
