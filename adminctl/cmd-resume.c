#include "cmd.h"

static int cmd_resume_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_resume_entry = {
	.name = "resume",
	.usage = "tenant|type NAME",
	.args_min = 2,
	.args_max = 2,
	.flags = CMD_ACTION,
	.exec = cmd_resume_exec,
};

/* Undo a pause: the jobs it deferred are woken at once, as far as their limits allow. */
static int cmd_resume_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	return cmd_limits_pause(ctx, &cmd_resume_entry, argc, argv, false);
}
