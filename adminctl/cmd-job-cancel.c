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

/* Cancel queued or retrying jobs; the others are reported with their state and left. */
static int cmd_job_cancel_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int rc, first = cmd_getopt(ctx, &cmd_job_cancel_entry, argc, argv, NULL, NULL, NULL, NULL);
	if (first < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, &cmd_job_cancel_entry)) || (rc = cmd_db(ctx)))
		return rc;
	size_t n = (size_t)(argc - first);
	struct jobops_result *res = xcalloc(n, sizeof(*res));
	struct buf err = BUF_INIT;
	int done = jobops_cancel_many(ctx->db, (const char *const *)(argv + first), n, cmd_actor(ctx), res, &err);
	json_t *ids = json_array(), *errors = json_array();
	rc = CMD_EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		if (res[i].rc == JOB_OK) {
			json_array_append_new(ids, json_string(res[i].id));
			if (!ctx->json)
				printf("%s\n", res[i].id);
			continue;
		}
		rc = CMD_EXIT_FAILURE;
		const char *why = res[i].rc == JOB_NOT_FOUND ? "no such job"
				  : res[i].rc == JOB_WRONG_STATE ? "not queued or retrying" : buf_str(&err);
		json_array_append_new(errors,
				      json_pack("{s:s, s:s, s:s?}", "id", res[i].id, "reason", why, "status",
						res[i].rc == JOB_WRONG_STATE ? job_status_name(res[i].status) : NULL));
		if (!ctx->json && res[i].rc == JOB_WRONG_STATE)
			cmd_error("job cancel: '%s' is %s: only queued or retrying jobs can be cancelled", res[i].id,
				  job_status_name(res[i].status));
		else if (!ctx->json)
			cmd_error("job cancel: '%s': %s", res[i].id, why);
	}
	if (done > 0 || (done < 0 && json_array_size(ids) > 0)) {
		struct buf aerr = BUF_INIT;
		int64_t count = (int64_t)json_array_size(ids);
		json_t *detail = json_pack("{s:O}", "ids", ids);
		if (audit_record(ctx->db, cmd_actor(ctx), "job.cancel", n == 1 ? res[0].id : NULL, (int)count, detail,
				 &aerr) < 0)
			cmd_error("job cancel: done, but the audit record failed: %s", buf_str(&aerr));
		json_decref(detail);
		buf_release(&aerr);
	}
	if (ctx->json)
		cmd_print_json(json_pack("{s:I, s:o, s:o}", "count", (json_int_t)json_array_size(ids), "ids", ids,
					 "errors", errors));
	else {
		json_decref(ids);
		json_decref(errors);
	}
	free(res);
	buf_release(&err);
	return rc;
}
