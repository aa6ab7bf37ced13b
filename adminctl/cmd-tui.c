#include "cmd.h"
#include "tui.h"

static int cmd_tui_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_tui_entry = {
	.name = "tui",
	.usage = "",
	.args_min = 0,
	.args_max = 0,
	.exec = cmd_tui_exec,
};

/* The full-screen interface; also what `adminctl` runs without a command. */
static int cmd_tui_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int rc;
	if (cmd_getopt(ctx, &cmd_tui_entry, argc, argv, NULL, NULL, NULL, NULL) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_config(ctx)))
		return rc;
	return tui_run(&ctx->cfg, cmd_actor(ctx), ctx->read_only);
}
