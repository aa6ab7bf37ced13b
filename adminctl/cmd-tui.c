#include "cmd.h"
#include "tui.h"

static int cmd_tui_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_tui_entry = {
	.name = "tui",
	.usage = "[--keys]",
	.args_min = 0,
	.args_max = 0,
	.exec = cmd_tui_exec,
};

static int on_opt(int opt, const char *val, void *arg)
{
	(void)val;
	*(bool *)arg = opt == 'k';
	return opt == 'k' ? 0 : -1;
}

/* The full-screen interface (--keys: print its key table instead); also what `adminctl` runs without a command. */
static int cmd_tui_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = { { "keys", no_argument, NULL, 'k' }, { NULL, 0, NULL, 0 } };
	bool keys = false;
	int rc;
	if (cmd_getopt(ctx, &cmd_tui_entry, argc, argv, NULL, longopts, on_opt, &keys) < 0)
		return CMD_EXIT_USAGE;
	if (keys) {
		tui_print_keys(stdout);
		return CMD_EXIT_OK;
	}
	if ((rc = cmd_config(ctx)))
		return rc;
	return tui_run(&ctx->cfg, cmd_actor(ctx), ctx->read_only, &ctx->ctxf, ctx->cur);
}
