#include <stdio.h>

#include "apikey.h"
#include "audit.h"
#include "cmd.h"

static int cmd_keys_revoke_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_keys_revoke_entry = {
	.name = "keys revoke",
	.usage = "ID",
	.args_min = 1,
	.args_max = 1,
	.flags = CMD_ACTION,
	.exec = cmd_keys_revoke_exec,
};

static int cmd_keys_revoke_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int rc, first = cmd_getopt(ctx, &cmd_keys_revoke_entry, argc, argv, NULL, NULL, NULL, NULL);
	if (first < 0)
		return CMD_EXIT_USAGE;
	const char *id = argv[first];
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, &cmd_keys_revoke_entry)) ||
	    (rc = cmd_confirm_destructive(ctx, "revoke key %s", id)) || (rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	rc = apikey_revoke(ctx->db, id, &err);
	if (rc < 0) {
		cmd_error("keys revoke: %s", buf_str(&err));
		rc = CMD_EXIT_FAILURE;
	} else if (rc == 1) {
		cmd_error("keys revoke: no active key '%s' (adminctl keys list shows them)", id);
		rc = CMD_EXIT_FAILURE;
	} else {
		if (audit_record(ctx->db, cmd_actor(ctx), "keys.revoke", id, 1, NULL, &err) < 0)
			cmd_error("keys revoke: revoked, but the audit record failed: %s", buf_str(&err));
		if (ctx->json)
			cmd_print_json(json_pack("{s:s, s:b}", "id", id, "revoked", 1));
		else
			printf("revoked %s\n", id);
		rc = CMD_EXIT_OK;
	}
	buf_release(&err);
	return rc;
}
