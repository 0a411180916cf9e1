/* server/cli.h: the administrative commands of the binary (user add, seed-demo). */
#ifndef CITYD_CLI_H
#define CITYD_CLI_H

#include "server/core/cfg.h"

/* Run command cmd with its arguments; returns the exit code (2 = usage). */
int cli_main(const struct cfg *cfg, const char *cmd, int argc, char **argv);

#endif
