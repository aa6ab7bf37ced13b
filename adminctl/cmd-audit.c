#include <stdio.h>
#include <stdlib.h>

#include "audit.h"
#include "cmd.h"
#include "table.h"

static int cmd_audit_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_audit_entry = {
	.name = "audit",
	.usage = "[--limit N]",
	.args_min = 0,
	.args_max = 0,
	.exec = cmd_audit_exec,
};

static int on_opt(int opt, const char *val, void *arg)
{
	char *end;
	if (opt != 'l')
		return -1;
	long v = strtol(val, &end, 10);
	if (*end || v < 1 || v > 10000) {
		cmd_error("audit: --limit wants a number from 1 to 10000, not '%s'", val);
		return -1;
	}
	*(int *)arg = (int)v;
	return 0;
}

/* The newest entries of the audit trail: who did what to how many, when. */
static int cmd_audit_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = { { "limit", required_argument, NULL, 'l' }, { NULL, 0, NULL, 0 } };
	int limit = 50, rc;
	if (cmd_getopt(ctx, &cmd_audit_entry, argc, argv, NULL, longopts, on_opt, &limit) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	struct audit_entry *e;
	size_t n;
	if (audit_list(ctx->db, limit, &e, &n, &err) < 0) {
		cmd_error("audit: %s", buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	if (ctx->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s?, s:i, s:O?}", "at", e[i].at, "actor",
							     e[i].actor, "action", e[i].action, "target", e[i].target,
							     "count", e[i].count, "detail", e[i].detail));
		cmd_print_json(json_pack("{s:o}", "entries", arr));
	} else {
		static const struct table_col cols[] = {
			{ "AT", 0 },		     { "ACTOR", TABLE_SHRINK }, { "ACTION", TABLE_SHRINK },
			{ "TARGET", TABLE_SHRINK }, { "COUNT", TABLE_RIGHT }, { "DETAIL", TABLE_SHRINK },
		};
		struct table t;
		table_init(&t, cols, 6);
		for (size_t i = 0; i < n; i++) {
			char *d = e[i].detail ? json_dumps(e[i].detail, JSON_COMPACT) : NULL;
			table_row(&t);
			table_cell(&t, e[i].at);
			table_cell(&t, e[i].actor);
			table_cell(&t, e[i].action);
			table_cell(&t, e[i].target);
			table_cellf(&t, "%d", e[i].count);
			table_cell(&t, d);
			free(d);
		}
		table_print(&t, stdout);
		table_free(&t);
	}
	audit_entries_free(e, n);
	return CMD_EXIT_OK;
}
