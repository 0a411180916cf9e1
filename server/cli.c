/* server/cli.c: administrative commands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cli_main(const struct cfg *cfg, const char *cmd, int argc, char **argv)
{
    (void)cfg;
    (void)argc;
    (void)argv;
    fprintf(stderr, "cityd: unknown command \"%s\" (try cityd help)\n", cmd);
    return 2;
}
