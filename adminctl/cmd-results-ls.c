#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "table.h"

static int cmd_results_ls_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_results_ls_entry = {
	.name = "results ls",
	.alias = "results list",
	.usage = "[-r] [PREFIX]",
	.args_min = 0,
	.args_max = 1,
	.exec = cmd_results_ls_exec,
};

static int on_opt(int opt, const char *val, void *arg)
{
	(void)val;
	if (opt != 'r')
		return -1;
	*(bool *)arg = true;
	return 0;
}

static void print_json(const char *prefix, const struct s3_object *objs, size_t n, char **prefixes, size_t np)
{
	json_t *po = json_array(), *oa = json_array();
	char when[32];
	for (size_t i = 0; i < np; i++)
		json_array_append_new(po, json_string(prefixes[i]));
	for (size_t i = 0; i < n; i++) {
		timefmt_utc(objs[i].last_modified, when);
		json_array_append_new(oa, json_pack("{s:s, s:I, s:s, s:s}", "key", objs[i].key, "size",
						    (json_int_t)objs[i].size, "etag", objs[i].etag, "last_modified",
						    when));
	}
	cmd_print_json(json_pack("{s:s, s:o, s:o}", "prefix", prefix, "prefixes", po, "objects", oa));
}

static void print_table(const struct s3_object *objs, size_t n, char **prefixes, size_t np)
{
	static const struct table_col cols[] = {
		{ "KEY", TABLE_SHRINK }, { "SIZE", TABLE_RIGHT }, { "MODIFIED", 0 },
	};
	struct table t;
	char when[TIMEFMT_UTC_SIZE];
	table_init(&t, cols, 3);
	for (size_t i = 0; i < np; i++) {
		table_row(&t);
		table_cell(&t, prefixes[i]);
	}
	for (size_t i = 0; i < n; i++) {
		timefmt_utc(objs[i].last_modified, when);
		table_row(&t);
		table_cell(&t, objs[i].key);
		table_cellf(&t, "%" PRId64, objs[i].size);
		table_cell(&t, when);
	}
	table_print(&t, stdout);
	table_free(&t);
}

/* One level under PREFIX (sub-prefixes first, then objects), or everything with -r. */
static int cmd_results_ls_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "recursive", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	bool recursive = false;
	int rc;
	int first = cmd_getopt(ctx, &cmd_results_ls_entry, argc, argv, "r", longopts, on_opt, &recursive);
	if (first < 0)
		return CMD_EXIT_USAGE;
	const char *prefix = first < argc ? argv[first] : "";
	if ((rc = cmd_s3(ctx)))
		return rc;
	struct s3_object *objs = NULL;
	char **prefixes = NULL;
	size_t n = 0, np = 0;
	struct aws_error e;
	aws_error_clear(&e);
	if (s3_list(ctx->s3, prefix, recursive ? NULL : "/", &objs, &n, &prefixes, &np, &e) < 0)
		return cmd_s3_failed("results ls", &e);
	if (ctx->json)
		print_json(prefix, objs, n, prefixes, np);
	else
		print_table(objs, n, prefixes, np);
	s3_objects_free(objs, n);
	for (size_t i = 0; i < np; i++)
		free(prefixes[i]);
	free(prefixes);
	return CMD_EXIT_OK;
}
