#include <stdio.h>

#include "audit.h"
#include "cmd.h"
#include "migrate.h"

static int cmd_db_migrate_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_db_migrate_entry = {
	.name = "db migrate",
	.usage = "",
	.args_min = 0,
	.args_max = 0,
	.flags = CMD_ACTION,
	.exec = cmd_db_migrate_exec,
};

static int cmd_db_migrate_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int rc, from = 0, to = 0;
	if (cmd_getopt(ctx, &cmd_db_migrate_entry, argc, argv, NULL, NULL, NULL, NULL) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_db(ctx)) || (rc = cmd_check_writable(ctx, &cmd_db_migrate_entry)))
		return rc;
	struct buf err = BUF_INIT;
	if (migrate_apply(ctx->db, &from, &to, &err) < 0) {
		cmd_error("db migrate: %s", buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	if (to != from) {
		json_t *detail = json_pack("{s:i, s:i}", "from", from, "to", to);
		if (audit_record(ctx->db, cmd_actor(ctx), "db.migrate", NULL, to - from, detail, &err) < 0)
			cmd_error("db migrate: applied, but the audit record failed: %s", buf_str(&err));
		json_decref(detail);
	}
	buf_release(&err);
	if (ctx->json)
		cmd_print_json(json_pack("{s:i, s:i, s:i}", "from", from, "to", to, "applied", to - from));
	else if (to == from)
		printf("schema is up to date at version %d\n", to);
	else
		printf("migrated schema from version %d to %d\n", from, to);
	return CMD_EXIT_OK;
}
