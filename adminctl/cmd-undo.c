#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "selection.h"

static int cmd_undo_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_undo_entry = {
	.name = "undo",
	.usage = "[SELECTION] [--yes]",
	.args_min = 0,
	.args_max = 1,
	.flags = CMD_ACTION,
	.exec = cmd_undo_exec,
};

static int on_opt(int opt, const char *val, void *arg)
{
	(void)val;
	if (opt != 'y')
		return -1;
	*(bool *)arg = true;
	return 0;
}

/*
 * Reverse the newest (or the named) retry or cancel selection for the jobs that
 * did not move on since (selection.h says the rule), as a selection of its own.
 */
static int cmd_undo_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = { { "yes", no_argument, NULL, 'y' }, { NULL, 0, NULL, 0 } };
	bool yes = false;
	int rc, first = cmd_getopt(ctx, &cmd_undo_entry, argc, argv, NULL, longopts, on_opt, &yes);
	if (first < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, &cmd_undo_entry)) ||
	    (rc = cmd_confirm_destructive(ctx, "undo")) || (rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	struct selection sel;
	rc = selection_undo_resolve(ctx->db, first < argc ? argv[first] : NULL, cmd_actor(ctx), &sel, &err);
	if (rc != 0) {
		cmd_error("undo: %s", buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	rc = cmd_selection_run(ctx, "undo", &sel, yes);
	selection_clear(&sel);
	return rc;
}
