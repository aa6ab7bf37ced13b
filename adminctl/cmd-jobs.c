#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cmd.h"
#include "job.h"
#include "jobcodec.h"
#include "jobops.h"
#include "query.h"
#include "table.h"

static int cmd_jobs_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_jobs_entry = {
	.name = "jobs",
	.usage = "[--status S] [--type T] [--since DUR] [--limit N] [--search TEXT] [QUERY ...]",
	.args_min = 0,
	.args_max = -1,
	.exec = cmd_jobs_exec,
};

struct jobs_opts {
	struct job_filter f;
	char since[32];
};

static int on_opt(int opt, const char *val, void *arg)
{
	struct jobs_opts *o = arg;
	time_t when;
	char *end;
	switch (opt) {
	case 's':
		if (job_status_parse(val, &o->f.status) == 0) {
			o->f.has_status = true;
			return 0;
		}
		cmd_error("jobs: unknown status '%s' (scheduled, queued, running, retrying, succeeded, failed, "
			  "cancelled)",
			  val);
		return -1;
	case 't':
		o->f.type = val;
		return 0;
	case 'S':
		if (jobops_since(val, time(NULL), &when) == 0) {
			timefmt_utc(when, o->since);
			o->f.since = o->since;
			return 0;
		}
		cmd_error("jobs: --since wants a duration (30m, 2h, 7d) or an RFC 3339 time, not '%s'", val);
		return -1;
	case 'l':
		o->f.limit = (int)strtol(val, &end, 10);
		if (!*end && o->f.limit >= 1 && o->f.limit <= 1000)
			return 0;
		cmd_error("jobs: --limit wants a number from 1 to 1000, not '%s'", val);
		return -1;
	case 'q':
		o->f.search = val;
		return 0;
	}
	return -1;
}

/* The error of a job: "code: message", in one line for the aligned and tab-separated tables. */
static void error_line(const struct job *j, struct buf *out)
{
	const char *code = json_string_value(json_object_get(j->error, "code"));
	const char *msg = json_string_value(json_object_get(j->error, "message"));
	if (code)
		buf_printf(out, "%s%s%s", code, msg ? ": " : "", msg ? msg : "");
	for (size_t i = 0; table_get_format() == TABLE_AUTO && i < out->len; i++)
		if (out->data[i] == '\n' || out->data[i] == '\t')
			out->data[i] = ' ';
}

void cmd_print_jobs(const struct job *jobs, size_t n, bool due)
{
	static const struct table_col cols[] = {
		{ "ID", 0 },	    { "STATUS", 0 },	      { "TYPE", 0 },	       { "TENANT", TABLE_SHRINK },
		{ "ATT", TABLE_RIGHT }, { "CREATED", 0 }, { "RUN AT", 0 }, { "ERROR", TABLE_SHRINK },
	};
	static const struct table_col due_cols[] = {
		{ "ID", 0 },	    { "STATUS", 0 },	      { "TYPE", 0 },	       { "TENANT", TABLE_SHRINK },
		{ "ATT", TABLE_RIGHT }, { "DUE", 0 }, { "RUN AT", 0 }, { "ERROR", TABLE_SHRINK },
	};
	struct table t;
	struct buf err = BUF_INIT;
	table_init(&t, due ? due_cols : cols, 8);
	for (size_t i = 0; i < n; i++) {
		buf_reset(&err);
		error_line(&jobs[i], &err);
		table_row(&t);
		table_cell(&t, jobs[i].id);
		table_cell(&t, job_status_name(jobs[i].status));
		table_cell(&t, jobs[i].type);
		table_cell(&t, jobs[i].tenant);
		table_cellf(&t, "%d/%d", jobs[i].attempts, jobs[i].max_attempts);
		table_cell(&t, due ? jobs[i].due_at : jobs[i].created_at);
		table_cell(&t, *jobs[i].run_at ? jobs[i].run_at : "-");
		table_cell(&t, buf_str(&err));
	}
	table_print(&t, stdout);
	table_free(&t);
	buf_release(&err);
}

int cmd_query(int argc, char **argv, struct query_sql *out)
{
	struct buf text = BUF_INIT;
	for (int i = 0; i < argc; i++)
		buf_printf(&text, "%s%s", i ? " " : "", argv[i]);
	struct query_error qe;
	int rc = CMD_EXIT_OK;
	if (query_compile(buf_str(&text), "jobs", 1, out, &qe) < 0) {
		cmd_error("query: column %d: %s", qe.column, qe.message);
		rc = CMD_EXIT_USAGE;
	}
	buf_release(&text);
	return rc;
}

/* Jobs of every tenant, newest first, filtered as the API's list is and by the query. */
static int cmd_jobs_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "status", required_argument, NULL, 's' }, { "type", required_argument, NULL, 't' },
		{ "since", required_argument, NULL, 'S' },  { "limit", required_argument, NULL, 'l' },
		{ "search", required_argument, NULL, 'q' }, { NULL, 0, NULL, 0 },
	};
	struct jobs_opts o = { .f = { .limit = 50 } };
	int rc, first;
	if ((first = cmd_getopt(ctx, &cmd_jobs_entry, argc, argv, NULL, longopts, on_opt, &o)) < 0)
		return CMD_EXIT_USAGE;
	struct query_sql qs = QUERY_SQL_INIT;
	if ((rc = cmd_query(argc - first, argv + first, &qs)))
		return rc;
	if (first < argc) {
		o.f.where = buf_str(&qs.sql);
		o.f.where_params = (const char *const *)qs.params;
		o.f.where_np = qs.nparams;
	}
	if ((rc = cmd_db(ctx))) {
		query_sql_release(&qs);
		return rc;
	}
	struct buf err = BUF_INIT;
	struct job *jobs;
	size_t n;
	char *next;
	rc = job_list(ctx->db, &o.f, &jobs, &n, &next, &err);
	query_sql_release(&qs);
	if (rc < 0) {
		cmd_error("jobs: %s", buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	if (ctx->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *j = jobcodec_to_json(&jobs[i]);
			json_object_set_new(j, "tenant", json_string(jobs[i].tenant ? jobs[i].tenant : ""));
			json_array_append_new(arr, j);
		}
		cmd_print_json(json_pack("{s:o, s:b}", "jobs", arr, "more", next != NULL));
	} else {
		cmd_print_jobs(jobs, n, false);
		if (next)
			fprintf(stderr, "adminctl: more jobs match: raise --limit or narrow the filter\n");
	}
	for (size_t i = 0; i < n; i++)
		job_clear(&jobs[i]);
	free(jobs);
	free(next);
	return CMD_EXIT_OK;
}
