#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "cmd.h"
#include "jobops.h"
#include "query.h"
#include "selection.h"
#include "table.h"

/* Jobs of a selection shown before the confirmation. */
#define SAMPLE_ROWS 10
/* --limit when not given. */
#define DEFAULT_LIMIT 1000

static int cmd_bulk_retry_exec(struct cmd_ctx *ctx, int argc, char **argv);
static int cmd_bulk_cancel_exec(struct cmd_ctx *ctx, int argc, char **argv);
static int cmd_bulk_redrive_exec(struct cmd_ctx *ctx, int argc, char **argv);

#define BULK_USAGE                                                                                          \
	"[--status S] [--type T] [--tenant T] [--error-code C] [--group G] [--since DUR] [--limit N] [--yes] [QUERY ...]"

const struct cmd_entry cmd_bulk_retry_entry = {
	.name = "bulk retry",
	.usage = BULK_USAGE,
	.args_min = 0,
	.args_max = -1,
	.flags = CMD_ACTION,
	.exec = cmd_bulk_retry_exec,
};

const struct cmd_entry cmd_bulk_cancel_entry = {
	.name = "bulk cancel",
	.usage = BULK_USAGE,
	.args_min = 0,
	.args_max = -1,
	.flags = CMD_ACTION,
	.exec = cmd_bulk_cancel_exec,
};

const struct cmd_entry cmd_bulk_redrive_entry = {
	.name = "bulk redrive",
	.usage = BULK_USAGE,
	.args_min = 0,
	.args_max = -1,
	.flags = CMD_ACTION,
	.exec = cmd_bulk_redrive_exec,
};

struct bulk_opts {
	const char *cmdname;
	struct selection_source src;
	int limit;
	bool yes;
	bool bad;
};

static const char *const filter_keys[] = {
	['s'] = "status", ['t'] = "type", ['T'] = "tenant", ['e'] = "error-code", ['g'] = "group", ['S'] = "since",
};

static int on_opt(int opt, const char *val, void *arg)
{
	struct bulk_opts *o = arg;
	struct buf err = BUF_INIT;
	char since[32];
	time_t when;
	int rc = 0;
	switch (opt) {
	case 'y':
		o->yes = true;
		break;
	case 'l':
		o->limit = atoi(val);
		if (o->limit < 1 || o->limit > SELECTION_MAX_JOBS) {
			cmd_error("%s: --limit wants 1 to %d, not '%s'", o->cmdname, SELECTION_MAX_JOBS, val);
			rc = -1;
		}
		break;
	case 'S':
		if (jobops_since(val, time(NULL), &when) < 0) {
			cmd_error("%s: --since wants a duration (30m, 2h, 7d) or an RFC 3339 time, not '%s'", o->cmdname, val);
			rc = -1;
			break;
		}
		timefmt_utc(when, since);
		rc = selection_source_filter(&o->src, "since", since, &err);
		break;
	case 's':
	case 't':
	case 'T':
	case 'e':
	case 'g':
		rc = selection_source_filter(&o->src, filter_keys[opt], val, &err);
		break;
	default:
		rc = -1;
	}
	if (rc < 0 && err.len)
		cmd_error("%s: %s", o->cmdname, buf_str(&err));
	buf_release(&err);
	return rc;
}

/* The count and the first jobs of `sel`, to stdout (stderr with --json). */
static int preview(struct cmd_ctx *ctx, const char *cmdname, const struct selection *sel)
{
	struct buf err = BUF_INIT;
	json_t *sample = selection_sample(ctx->db, sel->id, SAMPLE_ROWS, &err);
	if (!sample) {
		cmd_error("%s: %s", cmdname, buf_str(&err));
		buf_release(&err);
		return -1;
	}
	buf_release(&err);
	FILE *fp = ctx->json ? stderr : stdout;
	fprintf(fp, "selection %s: %lld job%s to %s (%s)\n", sel->id, (long long)sel->count, sel->count == 1 ? "" : "s",
		selection_action_name(sel->action), sel->filter);
	static const struct table_col cols[] = {
		{ "ID", 0 }, { "TYPE", 0 }, { "TENANT", TABLE_SHRINK }, { "STATUS", 0 }, { "ERROR", TABLE_SHRINK },
	};
	struct table t;
	table_init(&t, cols, 5);
	size_t i;
	json_t *row;
	json_array_foreach(sample, i, row)
	{
		table_row(&t);
		table_cell(&t, json_string_value(json_object_get(row, "id")));
		table_cell(&t, json_string_value(json_object_get(row, "type")));
		table_cell(&t, json_string_value(json_object_get(row, "tenant")));
		table_cell(&t, json_string_value(json_object_get(row, "status")));
		const char *code = json_string_value(json_object_get(row, "error_code"));
		table_cell(&t, code ? code : "-");
	}
	if (sel->count > 0)
		table_print(&t, fp);
	table_free(&t);
	if (sel->count > (int64_t)json_array_size(sample))
		fprintf(fp, "… and %lld more\n", (long long)(sel->count - (int64_t)json_array_size(sample)));
	json_decref(sample);
	fflush(fp);
	return 0;
}

bool cmd_confirm(const char *question)
{
	char line[64];
	fprintf(stderr, "adminctl: %s? type 'yes' to go on: ", question);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return !strcmp(line, "yes");
}

static void audit(struct cmd_ctx *ctx, const char *cmdname, const struct selection *sel, int64_t acted,
		  size_t skipped)
{
	struct buf err = BUF_INIT, target = BUF_INIT, action = BUF_INIT;
	buf_printf(&target, "selection:%s", sel->id);
	if (sel->action == SELECTION_UNDO)
		buf_adds(&action, "undo");
	else
		buf_printf(&action, "bulk.%s", selection_action_name(sel->action));
	json_t *detail = json_pack("{s:s, s:s, s:I, s:I, s:s?}", "selection", sel->id, "filter", sel->filter, "selected",
				   (json_int_t)sel->count, "skipped", (json_int_t)skipped, "undoes",
				   *sel->undoes ? sel->undoes : NULL);
	if (audit_record(ctx->db, cmd_actor(ctx), buf_str(&action), buf_str(&target), (int)acted, detail, &err) < 0)
		cmd_error("%s: done, but the audit record failed: %s", cmdname, buf_str(&err));
	json_decref(detail);
	buf_release(&err);
	buf_release(&target);
	buf_release(&action);
}

/* What was done to a selection: acted ids on stdout, the count and the skipped on stderr. */
static void report(struct cmd_ctx *ctx, const struct selection *sel, int64_t acted, json_t *res)
{
	json_t *skipped = json_object_get(res, "skipped");
	if (ctx->json) {
		cmd_print_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:O, s:O, s:O?}", "selection", sel->id, "action",
					 selection_action_name(sel->action), "filter", sel->filter, "selected",
					 (json_int_t)sel->count, "count", (json_int_t)acted, "ids",
					 json_object_get(res, "acted"), "skipped", skipped, "cancel_requested",
					 json_object_get(res, "cancel_requested")));
		return;
	}
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(res, "acted"), i, v) printf("%s\n", json_string_value(v));
	json_array_foreach(skipped, i, v)
		fprintf(stderr, "adminctl: skipped %s: it moved on (now %s)\n",
			json_string_value(json_object_get(v, "id")), json_string_value(json_object_get(v, "status")));
	fprintf(stderr, "adminctl: selection %s: %s %lld of %lld job%s, %zu skipped\n", sel->id,
		sel->action == SELECTION_UNDO ? "undid" : selection_action_name(sel->action), (long long)acted,
		(long long)sel->count, sel->count == 1 ? "" : "s", json_array_size(skipped));
	size_t requested = json_array_size(json_object_get(res, "cancel_requested"));
	if (requested)
		fprintf(stderr, "adminctl: %zu of them running: their workers stop them at their next heartbeat\n",
			requested);
}

int cmd_selection_run(struct cmd_ctx *ctx, const char *cmdname, const struct selection *sel, bool yes)
{
	struct buf err = BUF_INIT;
	if (preview(ctx, cmdname, sel) < 0)
		return CMD_EXIT_FAILURE;
	if (sel->count == 0) {
		selection_decline(ctx->db, sel->id, &err);
		buf_release(&err);
		cmd_error("%s: no job matches: nothing to do", cmdname);
		return CMD_EXIT_FAILURE;
	}
	char q[128];
	snprintf(q, sizeof(q), "%s these %lld jobs (selection %s)", selection_action_name(sel->action),
		 (long long)sel->count, sel->id);
	if (!yes && !cmd_confirm(q)) {
		selection_decline(ctx->db, sel->id, &err);
		buf_release(&err);
		cmd_error("%s: not confirmed: nothing done (selection %s kept, declined)", cmdname, sel->id);
		return CMD_EXIT_FAILURE;
	}
	json_t *res = NULL;
	int64_t acted = selection_act(ctx->db, sel->id, cmd_actor(ctx), &res, &err);
	if (acted < 0) {
		cmd_error("%s: %s", cmdname, buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	audit(ctx, cmdname, sel, acted, json_array_size(json_object_get(res, "skipped")));
	report(ctx, sel, acted, res);
	json_decref(res);
	return CMD_EXIT_OK;
}

/* Resolve the filter into a frozen selection, show it, confirm, act on exactly it. */
static int bulk_exec(struct cmd_ctx *ctx, const struct cmd_entry *e, enum selection_action action, int argc,
		     char **argv)
{
	static const struct option longopts[] = {
		{ "status", required_argument, NULL, 's' }, { "type", required_argument, NULL, 't' },
		{ "tenant", required_argument, NULL, 'T' }, { "error-code", required_argument, NULL, 'e' },
		{ "group", required_argument, NULL, 'g' },  { "since", required_argument, NULL, 'S' },
		{ "limit", required_argument, NULL, 'l' },  { "yes", no_argument, NULL, 'y' },
		{ NULL, 0, NULL, 0 },
	};
	struct bulk_opts o = { .cmdname = e->name, .limit = DEFAULT_LIMIT };
	selection_source_init(&o.src);
	int rc = CMD_EXIT_USAGE, first;
	if ((first = cmd_getopt(ctx, e, argc, argv, NULL, longopts, on_opt, &o)) < 0)
		goto out;
	if (first < argc) {
		/* the query (query.h) is one more source, ANDed with the options' */
		struct query_sql qs = QUERY_SQL_INIT;
		if ((rc = cmd_query(argc - first, argv + first, &qs)))
			goto out;
		struct buf text = BUF_INIT, qerr = BUF_INIT;
		for (int i = first; i < argc; i++)
			buf_printf(&text, "%s%s", i > first ? " " : "query=", argv[i]);
		int qrc = selection_source_and(&o.src, buf_str(&qs.sql), qs.nparams, (const char *const *)qs.params,
					       buf_str(&text), &qerr);
		if (qrc < 0)
			cmd_error("%s: %s", e->name, buf_str(&qerr));
		buf_release(&text);
		buf_release(&qerr);
		query_sql_release(&qs);
		rc = CMD_EXIT_USAGE;
		if (qrc < 0)
			goto out;
	}
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, e)) ||
	    (rc = cmd_confirm_destructive(ctx, "%s", e->name)) || (rc = cmd_db(ctx)))
		goto out;
	struct buf err = BUF_INIT;
	struct selection sel;
	if (selection_resolve(ctx->db, &o.src, action, cmd_actor(ctx), o.limit, &sel, &err) < 0) {
		cmd_error("%s: %s", e->name, buf_str(&err));
		buf_release(&err);
		rc = CMD_EXIT_FAILURE;
		goto out;
	}
	buf_release(&err);
	rc = cmd_selection_run(ctx, e->name, &sel, o.yes);
	selection_clear(&sel);
out:
	selection_source_release(&o.src);
	return rc;
}

static int cmd_bulk_retry_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	return bulk_exec(ctx, &cmd_bulk_retry_entry, SELECTION_RETRY, argc, argv);
}

static int cmd_bulk_cancel_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	return bulk_exec(ctx, &cmd_bulk_cancel_entry, SELECTION_CANCEL, argc, argv);
}

static int cmd_bulk_redrive_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	return bulk_exec(ctx, &cmd_bulk_redrive_entry, SELECTION_REDRIVE, argc, argv);
}
