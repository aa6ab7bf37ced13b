#include <stdio.h>

#include "cmd.h"

#ifndef SPOOL_VERSION
#define SPOOL_VERSION "0.1.0"
#endif

static int cmd_version_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_version_entry = {
	.name = "version",
	.usage = "",
	.args_min = 0,
	.args_max = 0,
	.exec = cmd_version_exec,
};

static int cmd_version_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (cmd_getopt(ctx, &cmd_version_entry, argc, argv, NULL, NULL, NULL, NULL) < 0)
		return CMD_EXIT_USAGE;
	if (ctx->json)
		cmd_print_json(json_pack("{s:s, s:s}", "program", "adminctl", "version", SPOOL_VERSION));
	else
		printf("adminctl %s\n", SPOOL_VERSION);
	return CMD_EXIT_OK;
}
