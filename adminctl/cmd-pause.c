#include "cmd.h"

static int cmd_pause_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_pause_entry = {
	.name = "pause",
	.usage = "tenant|type NAME",
	.args_min = 2,
	.args_max = 2,
	.flags = CMD_ACTION,
	.exec = cmd_pause_exec,
};

/* Workers stop starting the jobs of a tenant or type (they are deferred); running ones finish. */
static int cmd_pause_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	return cmd_limits_pause(ctx, &cmd_pause_entry, argc, argv, true);
}
