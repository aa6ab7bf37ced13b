#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "audit.h"
#include "cmd.h"
#include "jobops.h"

static int cmd_job_retry_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_job_retry_entry = {
	.name = "job retry",
	.usage = "ID ... | --all-failed [--type T] [--since DUR] [--dry-run]",
	.args_min = 0,
	.args_max = -1,
	.flags = CMD_ACTION,
	.exec = cmd_job_retry_exec,
};

struct retry_opts {
	bool all_failed, dry_run;
	const char *type, *since_arg;
	char since[32];
};

static int on_opt(int opt, const char *val, void *arg)
{
	struct retry_opts *o = arg;
	time_t when;
	switch (opt) {
	case 'a':
		o->all_failed = true;
		return 0;
	case 'n':
		o->dry_run = true;
		return 0;
	case 't':
		o->type = val;
		return 0;
	case 'S':
		o->since_arg = val;
		if (jobops_since(val, time(NULL), &when) == 0) {
			timefmt_utc(when, o->since);
			return 0;
		}
		cmd_error("job retry: --since wants a duration (30m, 2h, 7d) or an RFC 3339 time, not '%s'", val);
		return -1;
	}
	return -1;
}

static void audit(struct cmd_ctx *ctx, const char *target, int64_t count, json_t *detail)
{
	struct buf err = BUF_INIT;
	if (audit_record(ctx->db, cmd_actor(ctx), "job.retry", target, (int)count, detail, &err) < 0)
		cmd_error("job retry: done, but the audit record failed: %s", buf_str(&err));
	json_decref(detail);
	buf_release(&err);
}

/* --all-failed: every failed job of the filter, in one transaction. */
static int retry_matching(struct cmd_ctx *ctx, const struct retry_opts *o)
{
	struct jobops_match m = { o->type, o->since_arg ? o->since : NULL };
	struct buf err = BUF_INIT;
	char **ids = NULL;
	int64_t n = jobops_retry_matching(ctx->db, &m, o->dry_run, cmd_actor(ctx), &ids, &err);
	if (n < 0) {
		cmd_error("job retry: %s", buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	json_t *arr = json_array();
	for (int64_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(ids[i]));
	if (!o->dry_run) {
		struct buf target = BUF_INIT;
		buf_printf(&target, "status=failed type=%s since=%s", o->type ? o->type : "*",
			   o->since_arg ? o->since : "*");
		audit(ctx, buf_str(&target), n,
		      json_pack("{s:s?, s:s?, s:O}", "type", o->type, "since", o->since_arg ? o->since : NULL, "ids",
				arr));
		buf_release(&target);
	}
	if (ctx->json) {
		cmd_print_json(json_pack("{s:b, s:I, s:o, s:[]}", "dry_run", o->dry_run, "count", (json_int_t)n, "ids",
					 arr, "errors"));
	} else {
		for (int64_t i = 0; i < n; i++)
			printf("%s\n", ids[i]);
		fprintf(stderr, "adminctl: %s %lld failed job%s%s%s\n", o->dry_run ? "would retry" : "retried",
			(long long)n, n == 1 ? "" : "s", o->type ? " of type " : "", o->type ? o->type : "");
		json_decref(arr);
	}
	jobops_ids_free(ids, n);
	return CMD_EXIT_OK;
}

/* Each named job; a job not failed or cancelled is reported and left. */
static int retry_ids(struct cmd_ctx *ctx, char **ids, int n)
{
	struct buf err = BUF_INIT;
	json_t *done = json_array(), *errors = json_array();
	int rc = CMD_EXIT_OK;
	for (int i = 0; i < n; i++) {
		buf_reset(&err);
		enum job_rc r = jobops_retry(ctx->db, ids[i], cmd_actor(ctx), &err);
		const char *why = r == JOB_NOT_FOUND ? "no such job"
				  : r == JOB_WRONG_STATE ? "not failed or cancelled" : buf_str(&err);
		if (r == JOB_OK) {
			json_array_append_new(done, json_string(ids[i]));
			if (!ctx->json)
				printf("%s\n", ids[i]);
			continue;
		}
		rc = CMD_EXIT_FAILURE;
		json_array_append_new(errors, json_pack("{s:s, s:s}", "id", ids[i], "reason", why));
		if (!ctx->json)
			cmd_error("job retry: '%s': %s%s", ids[i], why,
				  r == JOB_WRONG_STATE ? " (adminctl job show ID says its state)" : "");
		if (r == JOB_ERR)
			break;
	}
	int64_t count = (int64_t)json_array_size(done);
	if (count > 0)
		audit(ctx, n == 1 ? ids[0] : NULL, count, json_pack("{s:O}", "ids", done));
	if (ctx->json)
		cmd_print_json(json_pack("{s:b, s:I, s:o, s:o}", "dry_run", 0, "count", (json_int_t)count, "ids", done,
					 "errors", errors));
	else {
		json_decref(done);
		json_decref(errors);
	}
	buf_release(&err);
	return rc;
}

/* Failed (or cancelled) jobs back to the queue with fresh attempts. */
static int cmd_job_retry_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all-failed", no_argument, NULL, 'a' }, { "dry-run", no_argument, NULL, 'n' },
		{ "type", required_argument, NULL, 't' }, { "since", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct retry_opts o = { 0 };
	int rc, first = cmd_getopt(ctx, &cmd_job_retry_entry, argc, argv, NULL, longopts, on_opt, &o);
	if (first < 0)
		return CMD_EXIT_USAGE;
	int nids = argc - first;
	if (o.all_failed == (nids > 0) || (!o.all_failed && (o.type || o.since_arg || o.dry_run))) {
		cmd_error("job retry: give job ids, or --all-failed with its filters");
		return cmd_usage(&cmd_job_retry_entry);
	}
	if ((rc = cmd_config(ctx)) || (!o.dry_run && (rc = cmd_check_writable(ctx, &cmd_job_retry_entry))) ||
	    (o.all_failed && !o.dry_run && (rc = cmd_confirm_destructive(ctx, "retry every failed job matching"))) ||
	    (nids > 1 && (rc = cmd_confirm_destructive(ctx, "retry %d jobs", nids))) || (rc = cmd_db(ctx)))
		return rc;
	return o.all_failed ? retry_matching(ctx, &o) : retry_ids(ctx, argv + first, nids);
}
