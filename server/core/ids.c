/* server/core/ids.c */
#include "ids.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

void ids_random(void *buf, size_t n)
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

void ids_token(char *out, size_t n)
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint8_t raw[64];
    size_t i = 0;

    while (i < n) {
        ids_random(raw, sizeof raw);
        for (size_t k = 0; k < sizeof raw && i < n; k++)
            if (raw[k] < 248) /* 248 = 4 * 62: keeps the distribution uniform */
                out[i++] = alphabet[raw[k] % 62];
    }
    out[n] = '\0';
}

void ids_request_id(char *out)
{
    ids_token(out, 16);
}
