#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "cmd.h"
#include "job.h"
#include "jobcodec.h"
#include "jobops.h"
#include "query.h"
#include "table.h"

static int cmd_jobs_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_jobs_entry = {
	.name = "jobs",
	.usage = "[--status S] [--type T] [--since DUR] [--limit N] [--search TEXT] [QUERY ...] | --archived "
		 "--since DATE [--until DATE] [--tenant T] [--status S]",
	.args_min = 0,
	.args_max = -1,
	.exec = cmd_jobs_exec,
};

struct jobs_opts {
	struct job_filter f;
	char since[32];
	bool archived;
	time_t since_t, until_t;
	const char *tenant;
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
		if (archive_parse_time(val, time(NULL), &when) == 0) {
			timefmt_utc(when, o->since);
			o->f.since = o->since;
			o->since_t = when;
			return 0;
		}
		cmd_error("jobs: --since wants a date (2026-12-01), a duration (30m, 2h, 7d) or an RFC 3339 time, "
			  "not '%s'",
			  val);
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
	case 'a':
		o->archived = true;
		return 0;
	case 'U':
		if (archive_parse_time(val, time(NULL), &o->until_t) == 0)
			return 0;
		cmd_error("jobs: --until wants a date (2026-12-01), a duration or an RFC 3339 time, not '%s'", val);
		return -1;
	case 'T':
		o->tenant = val;
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
		{ "PRIORITY", 0 },
	};
	static const struct table_col due_cols[] = {
		{ "ID", 0 },	    { "STATUS", 0 },	      { "TYPE", 0 },	       { "TENANT", TABLE_SHRINK },
		{ "ATT", TABLE_RIGHT }, { "DUE", 0 }, { "RUN AT", 0 }, { "ERROR", TABLE_SHRINK },
		{ "PRIORITY", 0 },
	};
	struct table t;
	struct buf err = BUF_INIT;
	table_init(&t, due ? due_cols : cols, sizeof(cols) / sizeof(cols[0]));
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
		table_cell(&t, jobprio_name(jobs[i].priority));
	}
	table_print(&t, stdout);
	table_free(&t);
	buf_release(&err);
}

/* A table cell of a field of an archived job, "-" when absent. */
static const char *field(json_t *job, const char *name)
{
	const char *v = json_string_value(json_object_get(job, name));
	return v && *v ? v : "-";
}

static void archived_row(struct table *t, json_t *l, struct buf *err)
{
	json_t *job = json_object_get(l, "job");
	json_t *e = json_object_get(job, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	buf_reset(err);
	if (code)
		buf_printf(err, "%s%s%s", code, msg ? ": " : "", msg ? msg : "");
	for (size_t i = 0; i < err->len; i++)
		if (err->data[i] == '\n' || err->data[i] == '\t')
			err->data[i] = ' ';
	table_row(t);
	table_cell(t, field(job, "id"));
	table_cell(t, field(job, "status"));
	table_cell(t, field(job, "type"));
	table_cell(t, field(job, "tenant_id"));
	table_cellf(t, "%lld/%lld", (long long)json_integer_value(json_object_get(job, "attempts")),
		    (long long)json_integer_value(json_object_get(job, "max_attempts")));
	/* the database wrote it in its session's time zone: shown in UTC as the others */
	time_t created;
	char at[TIMEFMT_UTC_SIZE];
	if (timefmt_parse(field(job, "created_at"), &created) == 0) {
		timefmt_utc(created, at);
		table_cell(t, at);
	} else {
		table_cell(t, field(job, "created_at"));
	}
	table_cell(t, field(l, "finished_at"));
	table_cell(t, buf_str(err));
}

/* What archive_read gives each matching line: printed (--json) or a row of the table. */
struct archived_out {
	bool json;
	struct table *t;
	struct buf err;
};

static int archived_line(void *arg, json_t *l, const char *text)
{
	struct archived_out *o = arg;
	if (o->json)
		printf("%s\n", text);
	else
		archived_row(o->t, l, &o->err);
	return 0;
}

/* --archived: the dated prefixes from --since to --until, each object read back and filtered. */
static int archived_exec(struct cmd_ctx *ctx, struct jobs_opts *o)
{
	static const struct table_col cols[] = {
		{ "ID", 0 },	    { "STATUS", 0 },	      { "TYPE", 0 },	       { "TENANT", TABLE_SHRINK },
		{ "ATT", TABLE_RIGHT }, { "CREATED", 0 }, { "FINISHED", 0 }, { "ERROR", TABLE_SHRINK },
	};
	int rc;
	if (!o->f.since) {
		cmd_error("jobs: --archived needs --since DATE");
		return CMD_EXIT_USAGE;
	}
	if (!o->until_t)
		o->until_t = time(NULL);
	if (o->until_t < o->since_t || o->until_t - o->since_t > ARCHIVE_QUERY_MAX_RANGE) {
		cmd_error("jobs: --until must follow --since, by at most ten years");
		return CMD_EXIT_USAGE;
	}
	if ((rc = cmd_s3(ctx)))
		return rc;
	struct archive_query q = {
		.since = o->since_t,
		.until = o->until_t,
		.tenant = o->tenant,
		.status = o->f.has_status ? job_status_name(o->f.status) : NULL,
	};
	struct table t;
	struct archived_out out = { .json = ctx->json, .t = &t, .err = BUF_INIT };
	struct buf err = BUF_INIT;
	struct aws_error ae;
	size_t bad = 0;
	table_init(&t, cols, 8);
	rc = CMD_EXIT_OK;
	if (archive_read(ctx->s3, ctx->cfg.retention.archive_prefix, &q, archived_line, &out, &bad, &ae, &err) < 0) {
		struct buf what = BUF_INIT;
		buf_printf(&what, "jobs --archived: %s", buf_str(&err));
		if (*ae.message) {
			rc = cmd_s3_failed(buf_str(&what), &ae);
		} else {
			cmd_error("%s", buf_str(&what));
			rc = CMD_EXIT_FAILURE;
		}
		buf_release(&what);
	}
	if (bad)
		cmd_error("jobs --archived: %zu line%s of the archive not JSON, skipped", bad, bad == 1 ? " is" : "s are");
	if (!ctx->json)
		table_print(&t, stdout);
	table_free(&t);
	buf_release(&out.err);
	buf_release(&err);
	return rc;
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
		{ "search", required_argument, NULL, 'q' }, { "archived", no_argument, NULL, 'a' },
		{ "until", required_argument, NULL, 'U' },  { "tenant", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct jobs_opts o = { .f = { .limit = 50 } };
	int rc, first;
	if ((first = cmd_getopt(ctx, &cmd_jobs_entry, argc, argv, NULL, longopts, on_opt, &o)) < 0)
		return CMD_EXIT_USAGE;
	if (o.archived) {
		if (first < argc) {
			cmd_error("jobs: a query does not go with --archived (use --tenant and --status)");
			return CMD_EXIT_USAGE;
		}
		return archived_exec(ctx, &o);
	}
	if (o.until_t || o.tenant) {
		cmd_error("jobs: --until and --tenant go with --archived");
		return CMD_EXIT_USAGE;
	}
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
