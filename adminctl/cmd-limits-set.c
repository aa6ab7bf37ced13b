#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "job.h"
#include "joblimits.h"

static int cmd_limits_set_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_limits_set_entry = {
	.name = "limits set",
	.usage = "tenant|type NAME [--max-running N|--unlimited] [--priority high|normal|low]",
	.args_min = 2,
	.args_max = 2,
	.flags = CMD_ACTION,
	.exec = cmd_limits_set_exec,
};

/* The largest --max-running (a column of type int). */
#define MAX_RUNNING_MAX 1000000

struct set_opts {
	bool has_max, unlimited, has_prio;
	int64_t max;
	enum jobprio prio;
};

static int on_opt(int opt, const char *val, void *arg)
{
	struct set_opts *o = arg;
	char *end;
	switch (opt) {
	case 'm':
		o->max = strtoll(val, &end, 10);
		if (*val && !*end && o->max >= 0 && o->max <= MAX_RUNNING_MAX) {
			o->has_max = true;
			return 0;
		}
		cmd_error("limits set: --max-running wants a whole number from 0 to %d, not '%s'", MAX_RUNNING_MAX, val);
		return -1;
	case 'u':
		o->unlimited = true;
		return 0;
	case 'p':
		if (jobprio_parse(val, &o->prio) == 0) {
			o->has_prio = true;
			return 0;
		}
		cmd_error("limits set: --priority is high, normal or low, not '%s'", val);
		return -1;
	}
	return -1;
}

/*
 * Set how many jobs of a tenant or type may run at once across every worker
 * ('*': the default of those without a row of their own); takes effect at the
 * next claim, and a raised limit wakes the jobs it deferred. --priority sets a
 * tenant's default priority (of its submissions that name none) instead or
 * as well; it takes effect at its next submission.
 */
static int cmd_limits_set_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "max-running", required_argument, NULL, 'm' },
		{ "unlimited", no_argument, NULL, 'u' },
		{ "priority", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct set_opts o = { 0 };
	enum joblimits_scope scope;
	int rc, first = cmd_getopt(ctx, &cmd_limits_set_entry, argc, argv, NULL, longopts, on_opt, &o);
	if (first < 0)
		return CMD_EXIT_USAGE;
	if ((o.has_max && o.unlimited) || (!o.has_max && !o.unlimited && !o.has_prio)) {
		cmd_error("limits set: give one of --max-running N and --unlimited, or --priority P");
		return cmd_usage(&cmd_limits_set_entry);
	}
	if (cmd_limits_target("limits set", argv[first], argv[first + 1], &scope) < 0)
		return CMD_EXIT_USAGE;
	if (o.has_prio && scope != JOBLIMITS_TENANT) {
		cmd_error("limits set: --priority is a tenant's default, not a %s's", argv[first]);
		return CMD_EXIT_USAGE;
	}
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, &cmd_limits_set_entry)) || (rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	int64_t max = o.unlimited ? -1 : o.max;
	json_t *detail = json_object();
	if ((o.has_max || o.unlimited) && joblimits_set(ctx->db, scope, argv[first + 1], max, cmd_actor(ctx), &err) < 0) {
		cmd_error("limits set: %s", buf_str(&err));
		buf_release(&err);
		json_decref(detail);
		return CMD_EXIT_FAILURE;
	}
	if (o.has_prio && job_set_tenant_priority(ctx->db, argv[first + 1], o.prio, cmd_actor(ctx), &err) < 0) {
		cmd_error("limits set: %s", buf_str(&err));
		buf_release(&err);
		json_decref(detail);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	if (o.has_max || o.unlimited)
		json_object_set_new(detail, "max_running", max < 0 ? json_null() : json_integer(max));
	if (o.has_prio)
		json_object_set_new(detail, "priority", json_string(jobprio_name(o.prio)));
	return cmd_limits_changed(ctx, "limits.set", scope, argv[first + 1], detail);
}
