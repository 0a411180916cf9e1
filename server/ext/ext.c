/* server/ext/ext.c */
#include "ext.h"

#include <curl/curl.h>

void ext_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void ext_global_end(void)
{
    curl_global_cleanup();
}
