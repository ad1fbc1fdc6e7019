/* main.c: kahuna-cli's entry point: parse the command line, set up the
 * endpoints and the HTTP client, run the command, exit with its status. */
#include "config.h"
#include "call.h"
#include "cli.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    cli_inv inv;
    kbuf err = KBUF_INIT, text = KBUF_INIT;
    cli_ctx ctx;
    int status;

    memset(&ctx, 0, sizeof(ctx));
    if (cli_parse(argc, argv, &inv, &err) != 0) {
        fprintf(stderr, "kahuna-cli: %s\n", kbuf_str(&err));
        if (inv.cmd || (inv.noun && cli_noun_known(inv.noun))) {
            cli_usage(&text, inv.noun, inv.cmd);
            fputs(kbuf_str(&text), stderr);
        }
        fputs("Try 'kahuna-cli --help' for the commands and options.\n", stderr);
        status = CLI_EXIT_USAGE;
        goto out;
    }
    if (inv.version) {
        printf("kahuna-cli %s\n", PACKAGE_VERSION);
        status = out_finish(CLI_EXIT_OK);
        goto out;
    }
    if (inv.help) {
        cli_usage(&text, inv.noun, inv.cmd);
        fputs(kbuf_str(&text), stdout);
        status = out_finish(CLI_EXIT_OK);
        goto out;
    }

    const char *eps = inv.endpoints;
    if (!eps) {
        eps = getenv("KAHUNA_ENDPOINTS");
        if (!eps || !*eps)
            eps = CLI_DEFAULT_ENDPOINT;
    }
    int rc = cli_split_endpoints(eps, &ctx.endpoints, &ctx.n_endpoints, &err);
    if (rc) {
        fprintf(stderr, "kahuna-cli: %s%s\n", rc == KAHUNA_EBADREQ ? "" : "out of memory ",
                kbuf_str(&err));
        status = rc == KAHUNA_EBADREQ ? CLI_EXIT_USAGE : CLI_EXIT_SOFTWARE;
        goto out;
    }
    ctx.timeout_ms = inv.timeout_ms;
    ctx.json = inv.json;
    ctx.quiet = inv.quiet;
    if (httpc_global_init() != 0 || httpc_new(&ctx.http) != 0) {
        fprintf(stderr, "kahuna-cli: cannot initialise libcurl\n");
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    status = out_finish(inv.cmd->run(&ctx, &inv));
    httpc_free(ctx.http);
    httpc_global_cleanup();
out:
    cli_free_endpoints(ctx.endpoints, ctx.n_endpoints);
    kbuf_free(&err);
    kbuf_free(&text);
    return status;
}
