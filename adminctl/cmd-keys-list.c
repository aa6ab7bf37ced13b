#include <stdio.h>

#include "apikey.h"
#include "cmd.h"
#include "table.h"

static int cmd_keys_list_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_keys_list_entry = {
	.name = "keys list",
	.alias = "keys ls",
	.usage = "",
	.args_min = 0,
	.args_max = 0,
	.exec = cmd_keys_list_exec,
};

static int cmd_keys_list_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int rc;
	if (cmd_getopt(ctx, &cmd_keys_list_entry, argc, argv, NULL, NULL, NULL, NULL) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	struct apikey_info *keys;
	size_t n;
	if (apikey_list(ctx->db, &keys, &n, &err) < 0) {
		cmd_error("keys list: %s", buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	if (ctx->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?}", "id", keys[i].id,
							     "tenant", keys[i].tenant, "name", keys[i].name,
							     "prefix", keys[i].prefix, "created_at",
							     keys[i].created_at, "revoked_at",
							     *keys[i].revoked_at ? keys[i].revoked_at : NULL));
		cmd_print_json(json_pack("{s:o}", "keys", arr));
	} else {
		static const struct table_col cols[] = {
			{ "ID", 0 },	  { "TENANT", 0 },  { "NAME", TABLE_SHRINK },
			{ "PREFIX", 0 }, { "CREATED", 0 }, { "REVOKED", 0 },
		};
		struct table t;
		table_init(&t, cols, 6);
		for (size_t i = 0; i < n; i++) {
			table_row(&t);
			table_cell(&t, keys[i].id);
			table_cell(&t, keys[i].tenant);
			table_cell(&t, keys[i].name);
			table_cell(&t, keys[i].prefix);
			table_cell(&t, keys[i].created_at);
			table_cell(&t, keys[i].revoked_at);
		}
		table_print(&t, stdout);
		table_free(&t);
	}
	apikey_info_free(keys, n);
	return CMD_EXIT_OK;
}
