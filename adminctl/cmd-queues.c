#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "mq.h"
#include "rmqadmin.h"
#include "table.h"

static int cmd_queues_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_queues_entry = {
	.name = "queues",
	.usage = "",
	.args_min = 0,
	.args_max = 0,
	.exec = cmd_queues_exec,
};

/* The queues AMQP can count without the management API (it cannot list them). */
static const char *const known_queues[] = { MQ_JOBS_HIGH_QUEUE, MQ_JOBS_QUEUE, MQ_JOBS_LOW_QUEUE,
								    MQ_DEAD_QUEUE, MQ_EVENTS_API_QUEUE };
#define NKNOWN (sizeof(known_queues) / sizeof(known_queues[0]))

/* Passive declares of the known queues: ready and consumers only. */
static int amqp_counts(struct cmd_ctx *ctx, const char *why, struct rmqadmin_queue **out, size_t *n)
{
	struct buf err = BUF_INIT;
	struct mq *m = mq_new(&ctx->cfg, cmd_secrets(ctx));
	int rc = CMD_EXIT_OK;
	*out = NULL;
	*n = 0;
	if (mq_connect(m, &err) < 0) {
		cmd_error("queues: RabbitMQ is unreachable: %s; %s (is RabbitMQ up and the [rabbitmq] secret right?)",
			  why, buf_str(&err));
		rc = CMD_EXIT_UNAVAILABLE;
		goto out;
	}
	cmd_error("queues: %s; figures from AMQP instead (no rates, no unacked counts, only spool's own queues)",
		  why);
	struct rmqadmin_queue *v = xcalloc(NKNOWN, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < NKNOWN; i++) {
		uint32_t msgs, cons;
		buf_reset(&err);
		if (mq_queue_counts(m, known_queues[i], &msgs, &cons, &err) < 0) {
			if (!mq_connected(m) && mq_connect(m, &err) < 0)
				break;
			continue; /* not declared yet */
		}
		v[k].name = xstrdup(known_queues[i]);
		v[k].ready = msgs;
		v[k].unacked = -1;
		v[k].consumers = cons;
		k++;
	}
	*out = v;
	*n = k;
out:
	mq_disconnect(m);
	mq_free(m);
	buf_release(&err);
	return rc;
}

static json_t *num_or_null(bool amqp, double v)
{
	return amqp ? json_null() : json_real(v);
}

static void print_json(const struct rmqadmin_queue *q, size_t n, bool amqp)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			arr, json_pack("{s:s, s:I, s:o, s:I, s:o, s:o}", "name", q[i].name, "ready",
				       (json_int_t)q[i].ready, "unacked",
				       amqp ? json_null() : json_integer(q[i].unacked), "consumers",
				       (json_int_t)q[i].consumers, "publish_rate", num_or_null(amqp, q[i].publish_rate),
				       "deliver_rate", num_or_null(amqp, q[i].deliver_rate)));
	cmd_print_json(json_pack("{s:s, s:o}", "source", amqp ? "amqp" : "management", "queues", arr));
}

static void print_table(const struct rmqadmin_queue *q, size_t n, bool amqp)
{
	static const struct table_col cols[] = {
		{ "QUEUE", TABLE_SHRINK },   { "READY", TABLE_RIGHT },     { "UNACKED", TABLE_RIGHT },
		{ "CONSUMERS", TABLE_RIGHT }, { "PUBLISH/S", TABLE_RIGHT }, { "DELIVER/S", TABLE_RIGHT },
	};
	struct table t;
	table_init(&t, cols, 6);
	for (size_t i = 0; i < n; i++) {
		table_row(&t);
		table_cell(&t, q[i].name);
		table_cellf(&t, "%lld", (long long)q[i].ready);
		if (amqp) {
			table_cell(&t, NULL);
			table_cellf(&t, "%lld", (long long)q[i].consumers);
			table_cell(&t, NULL);
			table_cell(&t, NULL);
		} else {
			table_cellf(&t, "%lld", (long long)q[i].unacked);
			table_cellf(&t, "%lld", (long long)q[i].consumers);
			table_cellf(&t, "%.1f", q[i].publish_rate);
			table_cellf(&t, "%.1f", q[i].deliver_rate);
		}
	}
	table_print(&t, stdout);
	table_free(&t);
}

/* Queue figures from the management API, or from AMQP passive declares when it is unreachable. */
static int cmd_queues_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int rc;
	if (cmd_getopt(ctx, &cmd_queues_entry, argc, argv, NULL, NULL, NULL, NULL) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_config(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	struct rmqadmin_queue *q = NULL;
	size_t n = 0;
	bool amqp = false;
	if (rmqadmin_queues(&ctx->cfg, cmd_secrets(ctx), &q, &n, &err) < 0) {
		amqp = true;
		if ((rc = amqp_counts(ctx, buf_str(&err), &q, &n))) {
			buf_release(&err);
			return rc;
		}
	}
	buf_release(&err);
	if (ctx->json)
		print_json(q, n, amqp);
	else
		print_table(q, n, amqp);
	rmqadmin_queues_free(q, n);
	return CMD_EXIT_OK;
}
