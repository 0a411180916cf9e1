/* server/core/ids.c */
#include "ids.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static void fill(void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = getrandom((char *)buf + done, n - done, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            perror("getrandom");
            abort();
        }
        done += (size_t)r;
    }
}

/* Kernel randomness in blocks: one getrandom(2) per 4 KiB instead of one per id. Each byte is
 * handed out once, so ids stay as unpredictable as the kernel's output. */
static _Thread_local struct {
    uint8_t b[4096];
    size_t left;
} pool;

void ids_random(void *buf, size_t n)
{
    uint8_t *out = buf;

    if (n > sizeof pool.b / 4) {
        fill(buf, n);
        return;
    }
    while (n) {
        size_t take;
        if (pool.left == 0) {
            fill(pool.b, sizeof pool.b);
            pool.left = sizeof pool.b;
        }
        take = n < pool.left ? n : pool.left;
        memcpy(out, pool.b + sizeof pool.b - pool.left, take);
        /* Used bytes are wiped so a later memory disclosure cannot replay them. */
        memset(pool.b + sizeof pool.b - pool.left, 0, take);
        pool.left -= take;
        out += take;
        n -= take;
    }
}

void ids_token(char *out, size_t n)
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint8_t raw[32];
    size_t i = 0;

    while (i < n) {
        /* As many bytes as characters are missing (a byte is refused 8 times in 256): a
         * request id takes 16-17 bytes of the kernel's output, not 32. */
        size_t want = n - i < sizeof raw ? n - i : sizeof raw;
        ids_random(raw, want);
        for (size_t k = 0; k < want; k++)
            if (raw[k] < 248) /* 248 = 4 * 62: keeps the distribution uniform */
                out[i++] = alphabet[raw[k] % 62];
    }
    out[n] = '\0';
}

void ids_request_id(char *out)
{
    ids_token(out, 16);
}
