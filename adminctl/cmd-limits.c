#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "joblimits.h"
#include "jobops.h"
#include "table.h"

static int cmd_limits_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_limits_entry = {
	.name = "limits",
	.usage = "",
	.args_min = 0,
	.args_max = 0,
	.flags = 0,
	.exec = cmd_limits_exec,
};

/* The rows as --json shows them. New reference. */
static json_t *rows_json(const struct joblimits_row *rows, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct joblimits_row *r = &rows[i];
		json_t *max = r->limited ? json_integer(r->max_running) : json_null();
		json_t *o = json_pack("{s:s, s:s, s:b, s:o, s:b, s:I, s:I, s:I}", "scope", joblimits_scope_name(r->scope),
				      "name", r->name, "own", r->own, "max_running", max, "paused", r->paused,
				      "running", (json_int_t)r->running, "waiting", (json_int_t)r->waiting,
				      "deferred", (json_int_t)r->deferred);
		json_object_set_new(o, "oldest_waiting_s", json_real(r->oldest_wait_s));
		json_object_set_new(o, "updated_at", r->own ? json_string(r->updated_at) : json_null());
		json_object_set_new(o, "updated_by", r->own ? json_string(r->updated_by) : json_null());
		if (r->scope == JOBLIMITS_TENANT)
			json_object_set_new(o, "priority", *r->priority ? json_string(r->priority) : json_null());
		json_array_append_new(arr, o);
	}
	return arr;
}

/*
 * List the limits and pauses of tenants and job types, and the busiest of those
 * without a row of their own, with their running, waiting and deferred jobs.
 */
static int cmd_limits_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct table_col cols[] = {
		{ "SCOPE", 0 },           { "NAME", TABLE_SHRINK },   { "MAX RUNNING", TABLE_RIGHT },
		{ "PAUSED", 0 },          { "RUNNING", TABLE_RIGHT }, { "WAITING", TABLE_RIGHT },
		{ "DEFERRED", TABLE_RIGHT }, { "OLDEST", TABLE_RIGHT }, { "PRIORITY", 0 }, { "UPDATED", 0 },
		{ "BY", TABLE_SHRINK },
	};
	int rc;
	if (cmd_getopt(ctx, &cmd_limits_entry, argc, argv, NULL, NULL, NULL, NULL) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	struct joblimits_row *rows = NULL;
	size_t n = 0, own = 0;
	if (joblimits_list(ctx->db, JOBLIMITS_LIST_OTHERS, &rows, &n, &err) < 0) {
		cmd_error("limits: %s", buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	if (ctx->json) {
		cmd_print_json(rows_json(rows, n));
	} else {
		struct table t;
		table_init(&t, cols, sizeof(cols) / sizeof(cols[0]));
		for (size_t i = 0; i < n; i++) {
			const struct joblimits_row *r = &rows[i];
			/* a name without a row of its own: the scope's default applies, marked (*) */
			const char *from = r->own ? "" : " (*)";
			char oldest[32];
			own += r->own;
			table_age(r->oldest_wait_s, oldest, sizeof(oldest));
			table_row(&t);
			table_cell(&t, joblimits_scope_name(r->scope));
			table_cell(&t, r->name);
			if (r->limited)
				table_cellf(&t, "%lld%s", (long long)r->max_running, from);
			else
				table_cell(&t, "unlimited");
			table_cellf(&t, "%s%s", r->paused ? "paused" : "no", r->paused ? from : "");
			table_cellf(&t, "%lld", (long long)r->running);
			table_cellf(&t, "%lld", (long long)r->waiting);
			table_cellf(&t, "%lld", (long long)r->deferred);
			table_cell(&t, oldest);
			table_cell(&t, *r->priority ? r->priority : "-");
			table_cell(&t, r->own ? r->updated_at : "-");
			table_cell(&t, r->own ? r->updated_by : "-");
		}
		table_print(&t, stdout);
		table_free(&t);
		if (own == 0)
			fprintf(stderr, "adminctl: no limits: every tenant and job type runs as many jobs as workers take\n");
	}
	joblimits_rows_free(rows, n);
	return CMD_EXIT_OK;
}

int cmd_limits_target(const char *cmdname, const char *scope, const char *name, enum joblimits_scope *out)
{
	if (joblimits_scope_parse(scope, out) < 0) {
		cmd_error("%s: the scope is 'tenant' or 'type', not '%s'", cmdname, scope);
		return -1;
	}
	if (!joblimits_name_valid(name)) {
		cmd_error("%s: '%s' is not a %s name (1 to %d printable characters, no space; '*' for the default)",
			  cmdname, name, scope, JOBLIMITS_NAME_MAX);
		return -1;
	}
	return 0;
}

int cmd_limits_changed(struct cmd_ctx *ctx, const char *action, enum joblimits_scope scope, const char *name,
		       json_t *detail)
{
	struct buf err = BUF_INIT, target = BUF_INIT;
	int woken;
	buf_printf(&target, "%s:%s", joblimits_scope_name(scope), name);
	if (jobops_limits_changed(ctx->db, cmd_actor(ctx), action, scope, name, detail, &woken, &err) < 0)
		cmd_error("%s: done, but %s", action, buf_str(&err));
	if (ctx->json)
		cmd_print_json(json_pack("{s:s, s:O}", "target", buf_str(&target), "detail", detail));
	else
		fprintf(stderr, "adminctl: %s %s: done; %d deferred job%s woken\n", action, buf_str(&target), woken,
			woken == 1 ? "" : "s");
	json_decref(detail);
	buf_release(&target);
	buf_release(&err);
	return CMD_EXIT_OK;
}

int cmd_limits_pause(struct cmd_ctx *ctx, const struct cmd_entry *e, int argc, char **argv, bool paused)
{
	enum joblimits_scope scope;
	int rc, first = cmd_getopt(ctx, e, argc, argv, NULL, NULL, NULL, NULL);
	if (first < 0)
		return CMD_EXIT_USAGE;
	if (cmd_limits_target(e->name, argv[first], argv[first + 1], &scope) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, e)) || (rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	bool changed = false;
	if (joblimits_pause(ctx->db, scope, argv[first + 1], paused, cmd_actor(ctx), &changed, &err) < 0) {
		cmd_error("%s: %s", e->name, buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	if (!changed && !ctx->json)
		fprintf(stderr, "adminctl: %s %s was already %s\n", joblimits_scope_name(scope), argv[first + 1],
			paused ? "paused" : "running");
	return cmd_limits_changed(ctx, paused ? "limits.pause" : "limits.resume", scope, argv[first + 1],
				  json_pack("{s:b, s:b}", "paused", paused, "changed", changed));
}
