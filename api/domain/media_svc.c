/* api/domain/media_svc.c */
#include "media_svc.h"

#include <stdio.h>
#include "media/image.h"
#include "media/store.h"

static struct media_store *store;
static struct media_limits limits;
static char media_dir[512];

enum err media_svc_start(const struct cfg *cfg, char *errbuf, size_t errlen)
{
    enum err res = media_store_disk_new(cfg->media_dir, &store);
    if (res) {
        snprintf(errbuf, errlen, "config: media.dir: cannot use %s as the media store",
                 cfg->media_dir);
        return res;
    }
    limits.max_image_bytes = cfg->media_max_image_bytes;
    limits.max_voice_bytes = cfg->media_max_voice_bytes;
    limits.max_pixels = cfg->media_max_pixels;
    limits.quota_bytes = cfg->media_quota_bytes;
    limits.uploads_per_hour = cfg->media_uploads_per_hour;
    limits.watermark = cfg->media_watermark;
    if (limits.watermark && !media_image_can_watermark()) {
        snprintf(errbuf, errlen,
                 "config: media.watermark: text cannot be rendered here (install a CJK font, "
                 "e.g. fonts-noto-cjk)");
        return ERR_INVALID;
    }
    snprintf(media_dir, sizeof media_dir, "%s", cfg->media_dir);
    return ERR_OK;
}

void media_svc_stop(void)
{
    media_store_free(store);
    store = NULL;
}

struct media_store *media_svc_store(void)
{
    return store;
}

const struct media_limits *media_svc_limits(void)
{
    return &limits;
}

const char *media_svc_dir(void)
{
    return media_dir;
}
