/*
 * queues migrate — give the shared queues the type [rabbitmq] queue_type says
 * (and the arguments Spool declares), keeping their messages: for each queue
 * whose declare the broker refuses, its messages go to a holding queue, it is
 * deleted and declared again, and the messages come back. With spool-api and
 * spool-worker stopped on every host (a queue with consumers is refused).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cmd.h"
#include "mq.h"
#include "rmqadmin.h"
#include "table.h"

#define HOLD_PREFIX "spool.migrate."

static int cmd_queues_migrate_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_queues_migrate_entry = {
	.name = "queues migrate",
	.usage = "",
	.args_min = 0,
	.args_max = 0,
	.flags = CMD_ACTION,
	.exec = cmd_queues_migrate_exec,
};

/* What became of one queue. */
struct migrated {
	char *name;       /* owned */
	const char *was;  /* its type before ("classic", "quorum"), NULL: other arguments */
	const char *now;  /* NULL: unchanged */
	uint64_t moved;   /* messages taken out and put back */
	bool resumed;     /* a holding queue of an interrupted run was emptied into it */
	bool failed;
};

/* Rounds of drain_delete: messages dead-lettered into the queue meanwhile (delay queues expiring) are moved too. */
#define DELETE_TRIES 5

/*
 * Move every message of `from` to `to`, then delete `from`; again when the
 * broker refuses the delete because messages came meanwhile. 0, or -1 + err.
 */
static int drain_delete(struct mq *m, const char *from, const char *to, uint64_t *moved, struct buf *err)
{
	for (int i = 0; i < DELETE_TRIES; i++) {
		uint64_t n = 0;
		buf_reset(err);
		int rc = mq_queue_move(m, from, to, &n, err);
		*moved += n;
		if (rc < 0)
			return -1;
		if (mq_queue_delete(m, from, err) == 0)
			return 0;
		if (!mq_connected(m))
			return -1;
	}
	buf_printf(err, " (a consumer or messages keep coming: stop spool-api and spool-worker on every host and "
		   "run it again; the messages moved wait in '%s')", to);
	return -1;
}

/*
 * Give `queue` (of another type than configured) the configured arguments:
 * its messages go to `hold`, which is bound as it is meanwhile (so that what
 * the exchange routes to it then is kept), it is deleted, declared again and
 * bound. 0, or -1 + err (its messages wait in `hold`, or still in `queue`).
 */
static int recreate(struct mq *m, const char *queue, enum mq_queue_role role, const char *hold, struct buf *err)
{
	uint32_t consumers = 0;
	uint64_t n = 0;

	if (mq_queue_counts(m, queue, NULL, &consumers, err) < 0)
		return -1;
	if (consumers > 0) {
		buf_printf(err, "queue '%s' has %u consumer%s: stop spool-api and spool-worker on every host first",
			   queue, consumers, consumers == 1 ? "" : "s");
		return -1;
	}
	if (mq_declare_queue(m, hold, MQ_ROLE_HOLD, NULL, err) < 0 || mq_bind_as(m, hold, role, err) < 0 ||
	    drain_delete(m, queue, hold, &n, err) < 0)
		return -1;
	return mq_declare_queue(m, queue, role, NULL, err) == 0 && mq_bind_as(m, queue, role, err) == 0 ? 0 : -1;
}

/*
 * Give `queue` of `role` the type `type` (the configured one); `r` says what
 * was done. A holding queue left by a run that stopped half-way is emptied
 * into it. 0, or -1 + err.
 */
static int migrate_one(struct mq *m, const char *queue, enum mq_queue_role role, const char *type,
		       struct migrated *r, struct buf *err)
{
	struct buf hold = BUF_INIT;
	int rc;

	r->name = xstrdup(queue);
	buf_printf(&hold, HOLD_PREFIX "%s", queue);
	rc = mq_declare_queue(m, queue, role, &r->was, err);
	if (rc == MQ_MISMATCH && mq_connected(m)) {
		r->now = type;
		rc = recreate(m, queue, role, buf_str(&hold), err);
		/*
		 * A RabbitMQ 3.10 channel that used the queue keeps its old type:
		 * publishing to the new one there crashes the channel (541
		 * INTERNAL_ERROR). The messages go back on a new connection.
		 */
		if (rc == 0)
			rc = mq_connect(m, err);
	} else if (rc == 0) {
		r->was = type;
	}
	if (rc == 0 && mq_queue_counts(m, buf_str(&hold), NULL, NULL, err) == 0) {
		r->resumed = !r->now; /* its holding queue outlived an earlier run */
		r->now = type;
		rc = drain_delete(m, buf_str(&hold), queue, &r->moved, err);
	} else if (rc == 0) {
		buf_reset(err); /* no holding queue (404) */
		rc = mq_connected(m) ? 0 : -1;
	}
	r->failed = rc < 0;
	buf_release(&hold);
	return rc;
}

/* The queues to migrate: the fixed ones, and the delay queues the management API lists. */
static size_t queue_list(struct cmd_ctx *ctx, char ***names)
{
	static const char *const fixed[] = { MQ_JOBS_HIGH_QUEUE, MQ_JOBS_QUEUE, MQ_JOBS_LOW_QUEUE,
								    MQ_DEAD_QUEUE, MQ_EVENTS_API_QUEUE };
	struct rmqadmin_queue *q = NULL;
	struct buf err = BUF_INIT;
	size_t nq = 0, n = 0, nfixed = sizeof(fixed) / sizeof(fixed[0]);

	if (rmqadmin_queues(&ctx->cfg, cmd_secrets(ctx), &q, &nq, &err) < 0)
		cmd_error("queues migrate: the delay queues (%s*) are not listed: %s; one of the other type is used as "
			  "it is until it expires unused", MQ_RETRY_PREFIX, buf_str(&err));
	*names = xcalloc(nfixed + nq, sizeof(**names));
	for (size_t i = 0; i < nfixed; i++)
		(*names)[n++] = xstrdup(fixed[i]);
	for (size_t i = 0; i < nq; i++)
		if (!strncmp(q[i].name, MQ_RETRY_PREFIX, strlen(MQ_RETRY_PREFIX)))
			(*names)[n++] = xstrdup(q[i].name);
	rmqadmin_queues_free(q, nq);
	buf_release(&err);
	return n;
}

static enum mq_queue_role role_of(const char *queue)
{
	enum jobprio p;
	if (jobprio_of_queue(queue, &p) == 0)
		return MQ_ROLE_JOBS;
	if (!strcmp(queue, MQ_DEAD_QUEUE))
		return MQ_ROLE_DEAD;
	if (!strcmp(queue, MQ_EVENTS_API_QUEUE))
		return MQ_ROLE_EVENTS;
	return MQ_ROLE_RETRY;
}

static void audit(struct cmd_ctx *ctx, const struct migrated *r)
{
	struct buf err = BUF_INIT;
	json_t *detail = json_pack("{s:s?, s:s, s:I, s:b}", "from", r->was, "to", r->now, "messages",
				   (json_int_t)r->moved, "resumed", r->resumed);

	if (audit_record(ctx->db, cmd_actor(ctx), "queues.migrate", r->name, (int)r->moved, detail, &err) < 0)
		cmd_error("queues migrate: '%s' done, but the audit record failed: %s", r->name, buf_str(&err));
	json_decref(detail);
	buf_release(&err);
}

static void print(const struct cmd_ctx *ctx, const struct migrated *r, size_t n)
{
	static const struct table_col cols[] = {
		{ "QUEUE", TABLE_SHRINK }, { "WAS", 0 }, { "NOW", 0 }, { "MOVED", TABLE_RIGHT },
	};
	json_t *arr = json_array();
	struct table t;

	table_init(&t, cols, 4);
	for (size_t i = 0; i < n; i++) {
		const char *now = r[i].failed ? "(failed)" : r[i].now ? r[i].now : "(unchanged)";
		json_array_append_new(arr, json_pack("{s:s, s:s?, s:s?, s:I, s:b, s:b}", "name", r[i].name, "was",
						     r[i].was, "now", r[i].now, "moved", (json_int_t)r[i].moved,
						     "resumed", r[i].resumed, "failed", r[i].failed));
		table_row(&t);
		table_cell(&t, r[i].name);
		table_cell(&t, r[i].was ? r[i].was : r[i].now ? "(other arguments)" : NULL);
		table_cell(&t, now);
		table_cellf(&t, "%llu", (unsigned long long)r[i].moved);
	}
	if (ctx->json) {
		cmd_print_json(json_pack("{s:s, s:o}", "queue_type",
					 mq_queue_type_name(mq_config_queue_type(&ctx->cfg)), "queues", arr));
	} else {
		json_decref(arr);
		table_print(&t, stdout);
	}
	table_free(&t);
}

static int cmd_queues_migrate_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int rc;
	if (cmd_getopt(ctx, &cmd_queues_migrate_entry, argc, argv, NULL, NULL, NULL, NULL) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, &cmd_queues_migrate_entry)) || (rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	struct mq *m = mq_new(&ctx->cfg, cmd_secrets(ctx));
	if (mq_connect(m, &err) < 0) {
		cmd_error("queues migrate: %s (is RabbitMQ up and the [rabbitmq] secret right?)", buf_str(&err));
		mq_free(m);
		buf_release(&err);
		return CMD_EXIT_UNAVAILABLE;
	}
	const char *type = mq_queue_type_name(mq_config_queue_type(&ctx->cfg));
	char **names = NULL;
	size_t n = queue_list(ctx, &names), done = 0;
	struct migrated *r = xcalloc(n, sizeof(*r));
	rc = CMD_EXIT_OK;
	for (; done < n && rc == CMD_EXIT_OK; done++) {
		buf_reset(&err);
		if (migrate_one(m, names[done], role_of(names[done]), type, &r[done], &err) < 0) {
			cmd_error("queues migrate: %s", buf_str(&err));
			rc = mq_connected(m) ? CMD_EXIT_FAILURE : CMD_EXIT_UNAVAILABLE;
		}
		if (r[done].now || r[done].resumed)
			audit(ctx, &r[done]);
	}
	/* the bindings of the queues declared again */
	buf_reset(&err);
	if (rc == CMD_EXIT_OK && mq_declare_topology(m, &err) < 0) {
		cmd_error("queues migrate: %s", buf_str(&err));
		rc = CMD_EXIT_FAILURE;
	}
	print(ctx, r, done);
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
		free(r[i].name);
	}
	free(names);
	free(r);
	mq_disconnect(m);
	mq_free(m);
	buf_release(&err);
	return rc;
}
