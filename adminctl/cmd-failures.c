#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "jobops.h"
#include "selection.h"
#include "table.h"

static int cmd_failures_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_failures_entry = {
	.name = "failures",
	.usage = "[--status S] [--since DUR]",
	.args_min = 0,
	.args_max = 0,
	.flags = 0,
	.exec = cmd_failures_exec,
};

struct failures_opts {
	const char *status;
	char since[32];
	bool has_since;
};

static int on_opt(int opt, const char *val, void *arg)
{
	struct failures_opts *o = arg;
	time_t when;
	if (opt == 's') {
		if (strcmp(val, "failed") && strcmp(val, "retrying")) {
			cmd_error("failures: --status wants failed or retrying, not '%s'", val);
			return -1;
		}
		o->status = val;
		return 0;
	}
	if (opt == 'S') {
		if (jobops_since(val, time(NULL), &when) < 0) {
			cmd_error("failures: --since wants a duration (30m, 2h, 7d) or an RFC 3339 time, not '%s'", val);
			return -1;
		}
		timefmt_utc(when, o->since);
		o->has_since = true;
		return 0;
	}
	return -1;
}

/* A JSON array of strings joined with commas into `out`. */
static void join(const json_t *arr, struct buf *out)
{
	size_t i;
	json_t *v;
	buf_reset(out);
	json_array_foreach(arr, i, v) buf_printf(out, "%s%s", i ? "," : "", json_string_value(v));
}

/* Failed and retrying jobs grouped by error signature, largest group first. */
static int cmd_failures_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "status", required_argument, NULL, 's' },
		{ "since", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct failures_opts o = { 0 };
	int rc;
	if (cmd_getopt(ctx, &cmd_failures_entry, argc, argv, NULL, longopts, on_opt, &o) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	bool capped = false;
	json_t *groups = selection_failure_groups(ctx->db, o.status, o.has_since ? o.since : NULL, &capped, &err);
	if (!groups) {
		cmd_error("failures: %s", buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	if (ctx->json) {
		cmd_print_json(json_pack("{s:o, s:b}", "groups", groups, "capped", capped));
		buf_release(&err);
		return CMD_EXIT_OK;
	}
	static const struct table_col cols[] = {
		{ "GROUP", 0 },		    { "COUNT", TABLE_RIGHT },	 { "FIRST SEEN", 0 },	      { "LAST SEEN", 0 },
		{ "TYPES", TABLE_SHRINK }, { "TENANTS", TABLE_SHRINK }, { "SIGNATURE", TABLE_SHRINK },
	};
	struct table t;
	table_init(&t, cols, 7);
	size_t i;
	json_t *g;
	json_array_foreach(groups, i, g)
	{
		table_row(&t);
		table_cell(&t, json_string_value(json_object_get(g, "group")));
		table_cellf(&t, "%lld", (long long)json_integer_value(json_object_get(g, "count")));
		table_cell(&t, json_string_value(json_object_get(g, "first_seen")));
		table_cell(&t, json_string_value(json_object_get(g, "last_seen")));
		join(json_object_get(g, "types"), &err);
		table_cell(&t, buf_str(&err));
		join(json_object_get(g, "tenants"), &err);
		table_cell(&t, buf_str(&err));
		table_cell(&t, json_string_value(json_object_get(g, "signature")));
	}
	table_print(&t, stdout);
	table_free(&t);
	if (capped)
		fprintf(stderr, "adminctl: the groups of the newest %d failed or retrying jobs only: narrow with --since\n",
			SELECTION_MAX_FAILURE_ROWS);
	json_decref(groups);
	buf_release(&err);
	return CMD_EXIT_OK;
}
