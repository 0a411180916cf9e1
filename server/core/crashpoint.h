/* server/core/crashpoint.h: test-only crash points (config key testing.crash_at).
 *
 * The fault suite (tests/fault/, docs/reliability.md) must kill cityd at instants an outside
 * kill -9 cannot hit reliably: while libvips is encoding, and between the media files' fsync
 * and the database commit. Code at such an instant calls crashpoint_hit("name"); when the
 * configuration armed that name, the process writes one line to stderr and sends itself
 * SIGKILL, which is exactly what kill -9 does (no handler, no flush, no atexit). Unarmed, a hit
 * costs one load and a branch. Never set testing.crash_at in production.
 *
 * Points: media_processing (api/domain → media/image.c, after the original is encoded, before
 * the renditions), media_before_commit (api/domain/media.c, files durable, row not inserted),
 * action_before_commit (api/domain/case.c, the action applied in the open transaction). */
#ifndef CITYD_CORE_CRASHPOINT_H
#define CITYD_CORE_CRASHPOINT_H

#include <stdbool.h>

/* Arm one point by name ("" disarms). False for an unknown name. Call before any thread starts. */
bool crashpoint_arm(const char *name);
/* The armed point, or NULL. */
const char *crashpoint_armed(void);
/* Die like kill -9 when name is the armed point. */
void crashpoint_hit(const char *name);

#endif
