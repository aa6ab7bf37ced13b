/*
 * dead list | retry | purge — the dead queue (spool.dead): messages of jobs that
 * failed for good, and poison messages that are no job message at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cmd.h"
#include "jobops.h"
#include "mq.h"
#include "table.h"

#define LIST_DEFAULT 1000
#define READ_ALL 65535 /* one read's most (the AMQP prefetch limit) */

static int cmd_dead_list_exec(struct cmd_ctx *ctx, int argc, char **argv);
static int cmd_dead_retry_exec(struct cmd_ctx *ctx, int argc, char **argv);
static int cmd_dead_purge_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_dead_list_entry = {
	.name = "dead list",
	.alias = "dead ls",
	.usage = "[--limit N]",
	.args_min = 0,
	.args_max = 0,
	.exec = cmd_dead_list_exec,
};

const struct cmd_entry cmd_dead_retry_entry = {
	.name = "dead retry",
	.usage = "--all | ID ...",
	.args_min = 0,
	.args_max = -1,
	.flags = CMD_ACTION,
	.exec = cmd_dead_retry_exec,
};

/* Messages one purge reads and drops: --limit's default and ceiling. */
#define PURGE_DEFAULT 10000
#define PURGE_MAX 65535

const struct cmd_entry cmd_dead_purge_entry = {
	.name = "dead purge",
	.usage = "[--limit N] [--yes]",
	.args_min = 0,
	.args_max = 0,
	.flags = CMD_ACTION,
	.exec = cmd_dead_purge_exec,
};

/* A connected AMQP client, or NULL after saying why (*rc = 69). */
static struct mq *connect_mq(struct cmd_ctx *ctx, const char *what, int *rc)
{
	struct buf err = BUF_INIT;
	struct mq *m = mq_new(&ctx->cfg, cmd_secrets(ctx));
	*rc = CMD_EXIT_OK;
	if (mq_connect(m, &err) < 0) {
		cmd_error("%s: %s (is RabbitMQ up and the [rabbitmq] secret right?)", what, buf_str(&err));
		mq_free(m);
		m = NULL;
		*rc = CMD_EXIT_UNAVAILABLE;
	}
	buf_release(&err);
	return m;
}

static void close_mq(struct mq *m)
{
	if (!m)
		return;
	mq_disconnect(m); /* everything not acked goes back to the queue */
	mq_free(m);
}

/* Read the dead queue; 0, or an exit code after saying why. */
static int read_dead(struct mq *m, const char *what, int limit, struct jobops_dead **d, size_t *n, uint32_t *total)
{
	struct buf err = BUF_INIT;
	int rc = CMD_EXIT_OK;
	if (jobops_dead_read(m, limit, d, n, total, &err) < 0) {
		cmd_error("%s: cannot read '%s': %s", what, MQ_DEAD_QUEUE, buf_str(&err));
		rc = mq_connected(m) ? CMD_EXIT_FAILURE : CMD_EXIT_UNAVAILABLE;
	}
	buf_release(&err);
	return rc;
}

static void audit(struct cmd_ctx *ctx, const char *action, int64_t count, json_t *detail)
{
	struct buf err = BUF_INIT;
	if (audit_record(ctx->db, cmd_actor(ctx), action, MQ_DEAD_QUEUE, (int)count, detail, &err) < 0)
		cmd_error("%s: done, but the audit record failed: %s", action, buf_str(&err));
	json_decref(detail);
	buf_release(&err);
}

/* ---- dead list ---------------------------------------------------------------- */

static int on_list_opt(int opt, const char *val, void *arg)
{
	char *end;
	if (opt != 'l')
		return -1;
	long v = strtol(val, &end, 10);
	if (*end || v < 1 || v > READ_ALL) {
		cmd_error("dead list: --limit wants a number from 1 to %d, not '%s'", READ_ALL, val);
		return -1;
	}
	*(int *)arg = (int)v;
	return 0;
}

static int cmd_dead_list_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = { { "limit", required_argument, NULL, 'l' }, { NULL, 0, NULL, 0 } };
	int limit = LIST_DEFAULT, rc;
	if (cmd_getopt(ctx, &cmd_dead_list_entry, argc, argv, NULL, longopts, on_list_opt, &limit) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_config(ctx)))
		return rc;
	struct mq *m = connect_mq(ctx, "dead list", &rc);
	if (!m)
		return rc;
	struct jobops_dead *d = NULL;
	size_t n = 0;
	uint32_t total = 0;
	rc = read_dead(m, "dead list", limit, &d, &n, &total);
	close_mq(m);
	if (rc)
		return rc;
	/* The jobs' states from the database when it answers; the listing works without. */
	bool have_db = n > 0 && cmd_db(ctx) == 0;
	static const struct table_col cols[] = {
		{ "JOB", 0 }, { "TYPE", 0 }, { "ATT", TABLE_RIGHT }, { "STATUS", 0 }, { "ERROR", TABLE_SHRINK },
	};
	struct table t;
	struct buf b = BUF_INIT, err = BUF_INIT;
	json_t *arr = json_array();
	table_init(&t, cols, 5);
	for (size_t i = 0; i < n; i++) {
		struct job j;
		memset(&j, 0, sizeof(j));
		bool found = !d[i].poison && have_db && job_get(ctx->db, d[i].msg.id, NULL, &j, &err) == JOB_OK;
		const char *status = found ? job_status_name(j.status) : NULL;
		const char *code = found ? json_string_value(json_object_get(j.error, "code")) : NULL;
		const char *msg = found ? json_string_value(json_object_get(j.error, "message")) : NULL;
		jobops_dead_excerpt(&d[i], &b);
		json_array_append_new(
			arr, json_pack("{s:s?, s:s?, s:o, s:b, s:s?, s:s?, s:o, s:s}", "job_id",
				       d[i].poison ? NULL : d[i].msg.id, "type", d[i].poison ? NULL : d[i].msg.type,
				       "attempt", d[i].poison ? json_null() : json_integer(d[i].msg.attempt), "poison",
				       d[i].poison, "reason", d[i].reason, "status", status, "error",
				       found && j.error ? json_incref(j.error) : json_null(), "body", buf_str(&b)));
		table_row(&t);
		if (d[i].poison) {
			table_cell(&t, "(poison)");
			table_cell(&t, NULL);
			table_cell(&t, NULL);
			table_cell(&t, NULL);
			table_cellf(&t, "%s: %s", d[i].reason, buf_str(&b));
		} else {
			table_cell(&t, d[i].msg.id);
			table_cell(&t, d[i].msg.type);
			table_cellf(&t, "%d", d[i].msg.attempt);
			table_cell(&t, status ? status : found ? NULL : have_db ? "(no such job)" : NULL);
			if (code)
				table_cellf(&t, "%s: %s", code, msg ? msg : "");
		}
		job_clear(&j);
	}
	if (ctx->json) {
		cmd_print_json(json_pack("{s:s, s:I, s:o}", "queue", MQ_DEAD_QUEUE, "total", (json_int_t)total,
					 "messages", arr));
	} else {
		json_decref(arr);
		table_print(&t, stdout);
		if (total > n)
			fprintf(stderr, "adminctl: showing %zu of %u dead letters (--limit)\n", n, total);
	}
	table_free(&t);
	buf_release(&b);
	buf_release(&err);
	jobops_dead_free(d, n);
	return CMD_EXIT_OK;
}

/* ---- dead retry --------------------------------------------------------------- */

/* --all of retry, --yes of purge: a flag. */
static int on_flag(int opt, const char *val, void *arg)
{
	(void)val;
	if (opt != 'a' && opt != 'y')
		return -1;
	*(bool *)arg = true;
	return 0;
}

/*
 * Retry the jobs of dead letters (all, or those of the given ids) and drop
 * their messages; a message whose job is no longer failed (retried since,
 * or succeeded) is stale and dropped too. Poison messages stay.
 */
static int cmd_dead_retry_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = { { "all", no_argument, NULL, 'a' }, { NULL, 0, NULL, 0 } };
	bool all = false;
	int rc, first = cmd_getopt(ctx, &cmd_dead_retry_entry, argc, argv, NULL, longopts, on_flag, &all);
	if (first < 0)
		return CMD_EXIT_USAGE;
	char **ids = argv + first;
	int nids = argc - first;
	if (all == (nids > 0)) {
		cmd_error("dead retry: give --all or job ids");
		return cmd_usage(&cmd_dead_retry_entry);
	}
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, &cmd_dead_retry_entry)) ||
	    (all && (rc = cmd_confirm_destructive(ctx, "retry the jobs of every dead letter"))) ||
	    (nids > 1 && (rc = cmd_confirm_destructive(ctx, "retry %d dead letters' jobs", nids))) || (rc = cmd_db(ctx)))
		return rc;
	struct mq *m = connect_mq(ctx, "dead retry", &rc);
	if (!m)
		return rc;
	struct buf err = BUF_INIT;
	struct jobops_dead_retried out;
	rc = CMD_EXIT_OK;
	if (jobops_dead_retry(ctx->db, m, (const char *const *)ids, (size_t)nids, cmd_actor(ctx), &out, &err) < 0) {
		cmd_error("dead retry: %s", buf_str(&err));
		rc = out.read_ok || mq_connected(m) ? CMD_EXIT_FAILURE : CMD_EXIT_UNAVAILABLE;
	}
	if (out.ack_failed) {
		cmd_error("dead retry: cannot acknowledge %zu message%s; they stay in '%s'", out.ack_failed,
			  out.ack_failed == 1 ? "" : "s", MQ_DEAD_QUEUE);
		rc = CMD_EXIT_FAILURE;
	}
	close_mq(m);
	buf_release(&err);
	if (!out.read_ok) {
		jobops_dead_retry_clear(&out);
		return rc;
	}
	if (json_array_size(out.errors) > 0 && rc == CMD_EXIT_OK)
		rc = CMD_EXIT_FAILURE;
	int64_t count = (int64_t)json_array_size(out.done);
	if (count + (int64_t)json_array_size(out.stale) > 0)
		audit(ctx, "dead.retry", count, json_pack("{s:O, s:O}", "ids", out.done, "stale", out.stale));
	if (ctx->json) {
		cmd_print_json(json_pack("{s:I, s:O, s:O, s:O, s:O}", "count", (json_int_t)count, "ids", out.done,
					 "stale", out.stale, "poison", out.poison, "errors", out.errors));
	} else {
		size_t i;
		json_t *v;
		json_array_foreach(out.done, i, v)
			printf("%s\n", json_string_value(v));
		json_array_foreach(out.errors, i, v)
			cmd_error("dead retry: '%s': %s", json_string_value(json_object_get(v, "id")),
				  json_string_value(json_object_get(v, "reason")));
		fprintf(stderr, "adminctl: retried %lld job%s; dropped %zu stale dead letter%s (job no longer failed)\n",
			(long long)count, count == 1 ? "" : "s", json_array_size(out.stale),
			json_array_size(out.stale) == 1 ? "" : "s");
		if (json_array_size(out.poison) > 0)
			fprintf(stderr, "adminctl: %zu poison message%s left in '%s' (adminctl dead list shows them; "
					"dead purge --yes drops them)\n",
				json_array_size(out.poison), json_array_size(out.poison) == 1 ? "" : "s", MQ_DEAD_QUEUE);
	}
	jobops_dead_retry_clear(&out);
	return rc;
}

/* ---- dead purge --------------------------------------------------------------- */

struct purge_opts {
	bool yes;
	int limit;
};

static int on_purge_opt(int opt, const char *val, void *arg)
{
	struct purge_opts *o = arg;
	if (opt == 'y') {
		o->yes = true;
		return 0;
	}
	if (opt == 'l') {
		o->limit = atoi(val);
		if (o->limit >= 1 && o->limit <= PURGE_MAX)
			return 0;
		cmd_error("dead purge: --limit wants 1 to %d, not '%s'", PURGE_MAX, val);
	}
	return -1;
}

/* The count and the first messages read, on stdout (stderr with --json). */
static void purge_preview(const struct cmd_ctx *ctx, const struct jobops_dead *d, size_t n, uint32_t total)
{
	FILE *fp = ctx->json ? stderr : stdout;
	fprintf(fp, "%s: %zu message%s to purge (of %u), held until confirmed\n", MQ_DEAD_QUEUE, n, n == 1 ? "" : "s",
		total);
	static const struct table_col cols[] = { { "JOB", 0 }, { "TYPE", 0 }, { "MESSAGE", TABLE_SHRINK } };
	struct table t;
	table_init(&t, cols, 3);
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n && i < 10; i++) {
		table_row(&t);
		table_cell(&t, d[i].poison ? "-" : d[i].msg.id);
		table_cell(&t, d[i].poison ? "-" : d[i].msg.type);
		if (d[i].poison) {
			jobops_dead_excerpt(&d[i], &b);
			table_cellf(&t, "poison (%s): %s", d[i].reason, buf_str(&b));
		} else {
			table_cellf(&t, "attempt %d", d[i].msg.attempt);
		}
	}
	if (n)
		table_print(&t, fp);
	table_free(&t);
	buf_release(&b);
	if (n > 10)
		fprintf(fp, "… and %zu more\n", n - 10);
	fflush(fp);
}

/*
 * Drop dead letters on a frozen set: the messages read (at most --limit), held
 * unacknowledged while the operator looks at them and confirms, are exactly the
 * ones acknowledged; one that arrives meanwhile is not delivered to us and
 * stays, and a declined purge puts every message back. The jobs of the
 * messages dropped are recorded as a selection.
 */
static int cmd_dead_purge_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "yes", no_argument, NULL, 'y' },
		{ "limit", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct purge_opts o = { .limit = PURGE_DEFAULT };
	int rc;
	if (cmd_getopt(ctx, &cmd_dead_purge_entry, argc, argv, NULL, longopts, on_purge_opt, &o) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, &cmd_dead_purge_entry)) ||
	    (rc = cmd_confirm_destructive(ctx, "purge dead letters")) || (rc = cmd_db(ctx)))
		return rc;
	struct mq *m = connect_mq(ctx, "dead purge", &rc);
	if (!m)
		return rc;
	struct jobops_dead *d = NULL;
	size_t n = 0;
	uint32_t total = 0;
	if ((rc = read_dead(m, "dead purge", o.limit, &d, &n, &total))) {
		close_mq(m);
		return rc;
	}
	purge_preview(ctx, d, n, total);
	char q[96];
	snprintf(q, sizeof(q), "purge these %zu messages of %s", n, MQ_DEAD_QUEUE);
	if (n == 0 || (!o.yes && !cmd_confirm(q))) {
		cmd_error(n ? "dead purge: not confirmed: nothing dropped" : "dead purge: '%s' is empty: nothing to do",
			  MQ_DEAD_QUEUE);
		jobops_dead_free(d, n);
		close_mq(m);
		return CMD_EXIT_FAILURE;
	}
	struct buf err = BUF_INIT;
	struct jobops_dead_purged p;
	if (jobops_dead_purge_held(ctx->db, m, d, n, cmd_actor(ctx), &p, &err) < 0)
		cmd_error("dead purge: done, but the selection was not recorded: %s", buf_str(&err));
	jobops_dead_free(d, n);
	close_mq(m);
	buf_release(&err);
	audit(ctx, "dead.purge", p.purged, jobops_dead_purged_detail(&p));
	const char *sel = p.selection;
	if (ctx->json)
		cmd_print_json(json_pack("{s:s, s:I, s:s, s:s?, s:I, s:O}", "queue", MQ_DEAD_QUEUE, "purged",
					 (json_int_t)p.purged, "via", "amqp", "selection", *sel ? sel : NULL, "poison",
					 (json_int_t)p.poison, "ids", p.ids));
	else {
		printf("purged %lld message%s from %s%s%s\n", (long long)p.purged, p.purged == 1 ? "" : "s", MQ_DEAD_QUEUE,
		       *sel ? " (selection " : "", *sel ? sel : "");
		if (*sel)
			printf(")\n");
	}
	rc = p.purged == (int64_t)n ? CMD_EXIT_OK : CMD_EXIT_FAILURE;
	jobops_dead_purged_clear(&p);
	return rc;
}
