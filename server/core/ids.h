/* server/core/ids.h: random bytes and identifiers from the kernel CSPRNG (getrandom). */
#ifndef CITYD_IDS_H
#define CITYD_IDS_H

#include <stddef.h>

/* Fill buf with n cryptographically random bytes; aborts if the kernel cannot supply them. */
void ids_random(void *buf, size_t n);
/* Write a 16-character base62 request id and a NUL into out[17]. */
void ids_request_id(char *out);
/* Write n random base62 characters and a NUL into out[n+1]: unguessable public ids. */
void ids_token(char *out, size_t n);

#endif
