#include <stdio.h>
#include <stdlib.h>

#include "audit.h"
#include "cmd.h"
#include "jobops.h"

static int cmd_job_cancel_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_job_cancel_entry = {
	.name = "job cancel",
	.usage = "ID ...",
	.args_min = 1,
	.args_max = -1,
	.flags = CMD_ACTION,
	.exec = cmd_job_cancel_exec,
};

/*
 * Say what became of a job, on stdout when it was cancelled or asked to stop (0),
 * else on stderr (-1); and in `out`'s arrays.
 */
static int report(const struct cmd_ctx *ctx, const struct jobops_result *r, const struct buf *err, json_t *out)
{
	const char *outcome = jobops_cancel_rc_name(r->rc);
	if (r->rc == JOBOPS_CANCELLED || r->rc == JOBOPS_CANCEL_REQUESTED) {
		json_array_append_new(json_object_get(out, "ids"), json_string(r->id));
		json_array_append_new(json_object_get(out, r->rc == JOBOPS_CANCELLED ? "cancelled" : "cancel_requested"),
				      json_string(r->id));
		if (ctx->json)
			return 0;
		if (r->rc == JOBOPS_CANCELLED)
			printf("%s\n", r->id);
		else
			printf("%s cancel requested: it is running; its worker stops it at its next heartbeat\n", r->id);
		return 0;
	}
	const char *why = r->rc == JOBOPS_CANCEL_NOT_FOUND ? "no such job"
			  : r->rc == JOBOPS_CANCEL_REFUSED ? "not scheduled, queued, retrying or running" : buf_str(err);
	const char *status = r->rc == JOBOPS_CANCEL_REFUSED ? job_status_name(r->status) : NULL;
	json_array_append_new(json_object_get(out, "errors"), json_pack("{s:s, s:s, s:s, s:s?}", "id", r->id, "outcome",
									  outcome, "reason", why, "status", status));
	if (ctx->json)
		return -1;
	if (status)
		cmd_error("job cancel: '%s' is %s: only scheduled, queued, retrying or running jobs can be cancelled", r->id,
			  status);
	else
		cmd_error("job cancel: '%s': %s", r->id, why);
	return -1;
}

/*
 * Cancel jobs by jobops' rule: scheduled, queued or retrying ones are cancelled, running
 * ones get a cancel request; finished ones are reported with their state and left.
 */
static int cmd_job_cancel_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int rc, first = cmd_getopt(ctx, &cmd_job_cancel_entry, argc, argv, NULL, NULL, NULL, NULL);
	if (first < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, &cmd_job_cancel_entry)) ||
	    (argc - first > 1 && (rc = cmd_confirm_destructive(ctx, "cancel %d jobs", argc - first))) || (rc = cmd_db(ctx)))
		return rc;
	size_t n = (size_t)(argc - first);
	struct jobops_result *res = xcalloc(n, sizeof(*res));
	struct buf err = BUF_INIT;
	jobops_cancel_many(ctx->db, (const char *const *)(argv + first), n, cmd_actor(ctx), res, &err);
	json_t *out = json_pack("{s:i, s:[], s:[], s:[], s:[]}", "count", 0, "ids", "cancelled", "cancel_requested",
			       "errors");
	rc = CMD_EXIT_OK;
	for (size_t i = 0; i < n; i++)
		if (report(ctx, &res[i], &err, out) < 0)
			rc = CMD_EXIT_FAILURE;
	json_t *ids = json_object_get(out, "ids");
	size_t count = json_array_size(ids);
	if (count > 0) {
		struct buf aerr = BUF_INIT;
		json_t *detail = json_pack("{s:O, s:O}", "ids", ids, "cancel_requested",
					   json_object_get(out, "cancel_requested"));
		if (audit_record(ctx->db, cmd_actor(ctx), "job.cancel", n == 1 ? res[0].id : NULL, (int)count, detail,
				 &aerr) < 0)
			cmd_error("job cancel: done, but the audit record failed: %s", buf_str(&aerr));
		json_decref(detail);
		buf_release(&aerr);
	}
	if (ctx->json) {
		json_object_set_new(out, "count", json_integer((json_int_t)count));
		cmd_print_json(out);
	} else {
		json_decref(out);
	}
	free(res);
	buf_release(&err);
	return rc;
}
