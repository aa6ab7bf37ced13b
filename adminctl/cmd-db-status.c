#include <stdio.h>

#include "cmd.h"
#include "migrate.h"

static int cmd_db_status_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_db_status_entry = {
	.name = "db status",
	.usage = "",
	.args_min = 0,
	.args_max = 0,
	.exec = cmd_db_status_exec,
};

/* Exit status: 0 up to date, 1 migrations pending or the schema is newer than this program. */
static int cmd_db_status_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int rc, current = 0, latest = 0;
	if (cmd_getopt(ctx, &cmd_db_status_entry, argc, argv, NULL, NULL, NULL, NULL) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	if (migrate_status(ctx->db, &current, &latest, &err) < 0) {
		cmd_error("db status: %s", buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	const char *state = current == latest ? "up to date" : current < latest ? "pending" : "newer";
	if (ctx->json) {
		cmd_print_json(json_pack("{s:i, s:i, s:s}", "current", current, "latest", latest, "state", state));
	} else if (current == latest) {
		printf("schema version %d: up to date\n", current);
	} else if (current < latest) {
		printf("schema version %d: %d migration(s) pending, run 'adminctl db migrate'\n", current,
		       latest - current);
	} else {
		printf("schema version %d is newer than this adminctl knows (%d): upgrade adminctl\n", current,
		       latest);
	}
	return current == latest ? CMD_EXIT_OK : CMD_EXIT_FAILURE;
}
