/* tests/fuzz/fuzz_json.c: the request-body decoder (depth cap, parse, field table). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sample {
    char *name;
    int64_t n;
    double x;
    bool flag;
    struct api_i64s ids;
    int small, minutes;
};

static const struct api_field fields[] = {
    {"name", API_STR, true, offsetof(struct sample, name), 64, 1, 0},
    {"n", API_I64, false, offsetof(struct sample, n), 0, -5, 5},
    {"x", API_F64, false, offsetof(struct sample, x), 0, -90, 90},
    {"flag", API_BOOL, false, offsetof(struct sample, flag), 0, 0, 0},
    {"ids", API_I64S, false, offsetof(struct sample, ids), 9, 0, 0},
    {"small", API_INT, false, offsetof(struct sample, small), 0, -3, 3},
    {"at", API_HHMM, false, offsetof(struct sample, minutes), 0, 0, 1440},
    {0},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rctx cx;
    struct req rq;
    struct sample s;
    json_t *j;

    memset(&rq, 0, sizeof rq);
    memset(&s, 0, sizeof s);
    rq.body = (const char *)data;
    rq.body_len = size;
    rctx_init(&cx);
    if (api_json_body(&cx, &rq, false, &j) == ERR_OK) {
        enum err res = api_json_decode(&cx, j, fields, &s, NULL);
        (void)res;
    }
    rctx_dispose(&cx);
    return 0;
}
