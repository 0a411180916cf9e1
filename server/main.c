/* server/main.c: argv, configuration, and the choice of command. Nothing else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/core/cfg.h"
#include "server/core/log.h"
#include "server/http/http.h"
#include "server/wire.h"
#include "server/cli.h"

#ifndef CITYD_VERSION
#define CITYD_VERSION "0.0.0"
#endif
#ifndef CITYD_COMMIT
#define CITYD_COMMIT "unknown"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: cityd [-c FILE] [serve [--port-file FILE] | migrate | version | routes |\n"
               "             user add --username NAME --role ROLE[,ROLE] [--display-name NAME]\n"
               "                      [--phone PHONE] (password from stdin or CITYD_PASSWORD) |\n"
               "             seed-demo [--logins FILE] | rollup-rebuild |\n"
               "             audit-purge [--keep-days N] [--batch N] [--dry-run]]\n");
}

static int run(const struct cfg *cfg, const char *cmd, int argc, char **argv)
{
    const char *port_file = NULL;

    if (strcmp(cmd, "serve") == 0) {
        for (int i = 0; i < argc; i++) {
            if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
                port_file = argv[++i];
            } else {
                usage(stderr);
                return 2;
            }
        }
        return wire_serve(cfg, port_file);
    }
    if (strcmp(cmd, "migrate") == 0)
        return wire_migrate(cfg);
    return cli_main(cfg, cmd, argc, argv);
}

int main(int argc, char **argv)
{
    struct cfg cfg;
    const char *cfgfile = getenv("CITYD_CONFIG");
    char err[512];
    int i = 1, rc;
    const char *cmd = "serve";

    http_info.version = CITYD_VERSION;
    http_info.commit = CITYD_COMMIT;
    if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
        cfgfile = argv[i + 1];
        i += 2;
    }
    if (i < argc)
        cmd = argv[i++];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("cityd %s (%s)\n", CITYD_VERSION, CITYD_COMMIT);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    cfg_defaults(&cfg);
    if (cfg_load(&cfg, cfgfile, err, sizeof err)) {
        fprintf(stderr, "cityd: %s\n", err);
        return 2;
    }
    log_set_level((enum log_level)log_level_parse(cfg.log_level));
    wire_init();
    rc = run(&cfg, cmd, argc - i, argv + i);
    wire_end();
    return rc;
}
