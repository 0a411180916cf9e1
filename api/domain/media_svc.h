/* api/domain/media_svc.h: the media service's process-wide state — the configured store and
 * limits — set up once by server/wire.c before serving. The upload, processing and serving
 * rules build on it (media.h). */
#ifndef CITYD_DOMAIN_MEDIA_SVC_H
#define CITYD_DOMAIN_MEDIA_SVC_H

#include <stdint.h>
#include "server/core/cfg.h"
#include "server/core/err.h"

struct media_store;

struct media_limits {
    int64_t max_image_bytes;
    int64_t max_voice_bytes;
    int64_t max_pixels;
    bool watermark;       /* evidence text on the display rendition (media.watermark) */
    int64_t quota_bytes;  /* media.quota_bytes: what one user may have stored; 0 = no limit */
    int uploads_per_hour; /* media.uploads_per_hour: new media per user per hour; 0 = no limit */
};

/* Open the store under cfg->media_dir and remember the limits. One line in errbuf on failure. */
enum err media_svc_start(const struct cfg *cfg, char *errbuf, size_t errlen) MUST_CHECK;
void media_svc_stop(void);
struct media_store *media_svc_store(void);
const struct media_limits *media_svc_limits(void);
/* media.dir as configured (tus temp files live in its uploads/ folder); "" before start. */
const char *media_svc_dir(void);

#endif
