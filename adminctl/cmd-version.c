#include <stdio.h>

#include "cmd.h"
#include "version.h"

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
		cmd_print_json(json_pack("{s:s, s:s}", "program", "adminctl", "version", spool_version()));
	else
		printf("adminctl %s\n", spool_version());
	return CMD_EXIT_OK;
}
