/* tests/fuzz/fuzz_probe.c: media_image_probe, the header reader every uploaded photo goes
 * through before anything is decoded (libvips loaders on hostile bytes). An accepted header
 * must name a photo type and dimensions within the caps. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "media/image.h"
#include "server/core/rctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct media_image_info info;
    struct rctx cx;

    if (!ready) {
        if (media_init(1))
            abort();
        ready = true;
    }
    rctx_init(&cx);
    if (media_image_probe(&cx, data, size, 0, &info) == ERR_OK) {
        if (info.width <= 0 || info.height <= 0 || info.width > MEDIA_IMAGE_MAX_SIDE ||
            info.height > MEDIA_IMAGE_MAX_SIDE ||
            (uint64_t)info.width * (uint64_t)info.height > MEDIA_IMAGE_MAX_PIXELS)
            abort();
        if (info.orientation < 1 || info.orientation > 8)
            abort();
    }
    media_thread_done();
    rctx_dispose(&cx);
    return 0;
}
