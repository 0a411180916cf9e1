/* api/domain/bearer.c: access token → actor, with a per-thread cache of verified claims. */
#include "api/domain/bearer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cached_token {
    size_t len;
    char text[BEARER_CACHE_MAX_LEN];
    struct auth_claims claims;
};

static _Thread_local struct cached_token *token_cache;

static size_t token_slot(const char *t, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)t[i]) * 1099511628211ull;
    return (size_t)(h % BEARER_CACHE);
}

enum err bearer_authenticate(const struct auth_keys *keys, const struct auth_policy *policy,
                             const char *token, size_t len, int64_t now, struct actor *who,
                             char *why, size_t whylen)
{
    struct auth_claims c;
    struct cached_token *slot = NULL;

    if (len <= BEARER_CACHE_MAX_LEN) {
        if (!token_cache)
            token_cache = calloc(BEARER_CACHE, sizeof *token_cache);
        if (token_cache)
            slot = &token_cache[token_slot(token, len)];
    }
    /* exp without leeway: a cached token is never accepted later than a fresh check would. */
    if (slot && slot->len == len && memcmp(slot->text, token, len) == 0 &&
        now <= slot->claims.exp && now + policy->leeway_s >= slot->claims.nbf) {
        c = slot->claims;
    } else {
        if (auth_jwt_verify(keys, policy, token, len, now, AUTH_TYP_ACCESS, &c, why, whylen))
            return ERR_UNAUTH;
        if (slot) {
            slot->len = len;
            memcpy(slot->text, token, len);
            slot->claims = c;
        }
    }
    who->user_id = c.sub;
    who->roles = c.roles;
    who->token_version = c.tv;
    snprintf(who->device_id, sizeof who->device_id, "%s", c.device);
    snprintf(who->family, sizeof who->family, "%s", c.family);
    who->api_key_id = c.akid; /* set by the server only: never from the device text */
    return ERR_OK;
}

void bearer_thread_done(void)
{
    free(token_cache);
    token_cache = NULL;
}
