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

/* --since and --until of --archived: a date (YYYY-MM-DD, UTC), or what jobops_since takes. */
static int archive_time(const char *val, time_t *out)
{
	char full[40];
	int y, m, d;
	char extra;
	if (sscanf(val, "%4d-%2d-%2d%c", &y, &m, &d, &extra) == 3 && strlen(val) == 10) {
		snprintf(full, sizeof(full), "%sT00:00:00Z", val);
		return timefmt_parse(full, out);
	}
	return jobops_since(val, time(NULL), out);
}

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
		if (archive_time(val, &when) == 0) {
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
		if (archive_time(val, &o->until_t) == 0)
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

/* Does the archived line `l` pass --since, --until, --tenant and --status? */
static bool archived_match(const struct jobs_opts *o, json_t *l)
{
	json_t *job = json_object_get(l, "job");
	const char *fin = json_string_value(json_object_get(l, "finished_at"));
	const char *tenant = json_string_value(json_object_get(job, "tenant_id"));
	const char *status = json_string_value(json_object_get(job, "status"));
	time_t t;
	if (!fin || timefmt_parse(fin, &t) < 0 || t < o->since_t || t > o->until_t)
		return false;
	if (o->tenant && (!tenant || strcmp(tenant, o->tenant)))
		return false;
	return !o->f.has_status || (status && !strcmp(status, job_status_name(o->f.status)));
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

/* Read one archive object and print (or add to `t`) its lines that match; the count, or -1. */
static long archived_object(struct cmd_ctx *ctx, const struct jobs_opts *o, const char *key, struct table *t)
{
	char path[] = "/tmp/adminctl-archive.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		cmd_error("jobs: cannot create a temporary file");
		return -1;
	}
	close(fd);
	struct aws_error ae;
	aws_error_clear(&ae);
	long n = -1;
	struct buf gz = BUF_INIT, text = BUF_INIT, err = BUF_INIT;
	if (s3_get_file(ctx->s3, key, path, ARCHIVE_MAX_BYTES, &ae) < 0) {
		cmd_error("jobs: cannot read '%s': %s", key, ae.message);
		goto out;
	}
	FILE *fp = fopen(path, "rb");
	char chunk[65536];
	size_t got;
	while (fp && (got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(&gz, chunk, got);
	if (fp)
		fclose(fp);
	if (archive_gunzip(gz.data, gz.len, ARCHIVE_MAX_BYTES, &text, &err) < 0) {
		cmd_error("jobs: '%s': %s", key, buf_str(&err));
		goto out;
	}
	n = 0;
	for (char *line = text.data, *nl; line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line) - 1;
		else
			*nl = '\0';
		json_error_t je;
		json_t *l = json_loads(line, 0, &je);
		if (!l) {
			cmd_error("jobs: '%s': a line is not JSON: %s", key, je.text);
		} else if (archived_match(o, l)) {
			n++;
			if (ctx->json)
				printf("%s\n", line);
			else
				archived_row(t, l, &err);
		}
		json_decref(l);
	}
out:
	unlink(path);
	buf_release(&gz);
	buf_release(&text);
	buf_release(&err);
	return n;
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
	if (o->until_t < o->since_t || o->until_t - o->since_t > 3660 * 86400LL) {
		cmd_error("jobs: --until must follow --since, by at most ten years");
		return CMD_EXIT_USAGE;
	}
	if ((rc = cmd_s3(ctx)))
		return rc;
	const char *prefix = ctx->cfg.retention.archive_prefix ? ctx->cfg.retention.archive_prefix : "";
	struct table t;
	struct buf p = BUF_INIT;
	table_init(&t, cols, 8);
	rc = CMD_EXIT_OK;
	/* each UTC day from --since's to --until's */
	for (int64_t day = o->since_t - o->since_t % 86400; day <= o->until_t && rc == CMD_EXIT_OK; day += 86400) {
		struct s3_object *objs = NULL;
		size_t n = 0;
		struct aws_error ae;
		archive_day_prefix(prefix, day, &p);
		if (s3_list(ctx->s3, buf_str(&p), NULL, &objs, &n, NULL, NULL, &ae) < 0) {
			rc = cmd_s3_failed("jobs --archived", &ae);
			break;
		}
		for (size_t i = 0; i < n && rc == CMD_EXIT_OK; i++)
			if (archived_object(ctx, o, objs[i].key, &t) < 0)
				rc = CMD_EXIT_FAILURE;
		s3_objects_free(objs, n);
	}
	if (!ctx->json)
		table_print(&t, stdout);
	table_free(&t);
	buf_release(&p);
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
