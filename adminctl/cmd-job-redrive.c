#include <stdio.h>
#include <stdlib.h>

#include "audit.h"
#include "cmd.h"
#include "job.h"

/* Jobs re-driven (or listed) by one command; more wait for the next. */
#define REDRIVE_MAX 10000

static int cmd_job_redrive_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_job_redrive_entry = {
	.name = "job redrive",
	.usage = "[--older-than DUR] [--dry-run]",
	.args_min = 0,
	.args_max = 0,
	.flags = CMD_ACTION,
	.exec = cmd_job_redrive_exec,
};

struct redrive_opts {
	bool dry_run;
	bool has_older;
	int64_t older_than;
};

static int on_opt(int opt, const char *val, void *arg)
{
	struct redrive_opts *o = arg;
	switch (opt) {
	case 'n':
		o->dry_run = true;
		return 0;
	case 'o':
		if (cmd_parse_duration(val, &o->older_than) == 0 && o->older_than >= 0) {
			o->has_older = true;
			return 0;
		}
		cmd_error("job redrive: --older-than wants a duration (90s, 5m, 2h), not '%s'", val);
		return -1;
	}
	return -1;
}

/* The jobs as --json shows them. New reference. */
static json_t *jobs_json(const struct job *jobs, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s?, s:s?, s:i, s:s}", "id", jobs[i].id, "status",
						     job_status_name(jobs[i].status), "type", jobs[i].type, "tenant",
						     jobs[i].tenant, "attempts", jobs[i].attempts, "due_at",
						     jobs[i].due_at));
	return arr;
}

static void audit(struct cmd_ctx *ctx, const char *older, int64_t older_s, const struct job *jobs, size_t n)
{
	struct buf err = BUF_INIT, target = BUF_INIT;
	json_t *ids = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ids, json_string(jobs[i].id));
	json_t *detail = json_pack("{s:I, s:o}", "older_than_s", (json_int_t)older_s, "ids", ids);
	buf_printf(&target, "unclaimed>%s", older);
	if (audit_record(ctx->db, cmd_actor(ctx), "job.redrive", buf_str(&target), (int)n, detail, &err) < 0)
		cmd_error("job redrive: done, but the audit record failed: %s", buf_str(&err));
	json_decref(detail);
	buf_release(&target);
	buf_release(&err);
}

/*
 * Publish again the messages of jobs queued (or retrying past their backoff)
 * that no worker claimed for longer than --older-than: what the workers' sweep
 * does every pass, on demand and for more jobs at once.
 */
static int cmd_job_redrive_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct redrive_opts o = { 0 };
	int rc;
	if (cmd_getopt(ctx, &cmd_job_redrive_entry, argc, argv, NULL, longopts, on_opt, &o) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_config(ctx)) || (!o.dry_run && (rc = cmd_check_writable(ctx, &cmd_job_redrive_entry))) ||
	    (rc = cmd_db(ctx)))
		return rc;
	int64_t older_s = o.has_older ? o.older_than : ctx->cfg.worker.redrive_after;
	char older[24];
	timefmt_duration(older_s, older, sizeof(older));

	struct buf err = BUF_INIT;
	struct job *jobs = NULL;
	size_t n = 0;
	/* one more than shown in a dry run, to tell whether more wait */
	int limit = o.dry_run ? REDRIVE_MAX + 1 : REDRIVE_MAX;
	unsigned flags = o.dry_run ? JOB_REDRIVE_DRY_RUN : JOB_REDRIVE_WAIT;
	if (job_redrive(ctx->db, cmd_actor(ctx), older_s, limit, flags, &jobs, &n, &err) != JOB_REAP_DONE) {
		cmd_error("job redrive: %s", buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	bool more = o.dry_run ? n > REDRIVE_MAX : n == REDRIVE_MAX;
	size_t shown = n > REDRIVE_MAX ? REDRIVE_MAX : n;
	if (!o.dry_run)
		audit(ctx, older, older_s, jobs, n);
	if (ctx->json) {
		cmd_print_json(json_pack("{s:b, s:I, s:I, s:b, s:o}", "dry_run", o.dry_run, "older_than_s",
					 (json_int_t)older_s, "count", (json_int_t)shown, "more", more, "jobs",
					 jobs_json(jobs, shown)));
	} else {
		cmd_print_jobs(jobs, shown, true);
		fprintf(stderr, "adminctl: %zu job%s queued or retrying and unclaimed for longer than %s: %s\n", shown,
			shown == 1 ? "" : "s", older, o.dry_run ? "would be re-driven (dry run)" : "re-driven");
		if (more)
			fprintf(stderr, "adminctl: more jobs may wait: run it again\n");
	}
	for (size_t i = 0; i < n; i++)
		job_clear(&jobs[i]);
	free(jobs);
	return CMD_EXIT_OK;
}
