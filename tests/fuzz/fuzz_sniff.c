/* tests/fuzz/fuzz_sniff.c: magic-byte sniffing and the voice duration parsers. */
#include <stddef.h>
#include <stdint.h>
#include "media/sniff.h"
#include "server/core/rctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rctx cx;
    struct media_voice_info info;
    enum media_type t = media_sniff(data, size);

    rctx_init(&cx);
    if (media_type_is_voice(t)) {
        enum err res = media_voice_probe(&cx, data, size, &info);
        (void)res;
    }
    rctx_dispose(&cx);
    return 0;
}
