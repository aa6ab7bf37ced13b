#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "job.h"
#include "jobcodec.h"
#include "jobops.h"
#include "table.h"

static int cmd_job_show_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_job_show_entry = {
	.name = "job show",
	.usage = "ID",
	.args_min = 1,
	.args_max = 1,
	.exec = cmd_job_show_exec,
};

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *ref_or_null(json_t *v)
{
	return v ? json_incref(v) : json_null();
}

/* The errors of every attempt, from the history, oldest first. */
static json_t *errors_json(const struct jobops_event *ev, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		if (!ev[i].error)
			continue;
		json_t *e = json_deep_copy(ev[i].error);
		if (!json_is_object(e)) {
			json_decref(e);
			e = json_pack("{s:O}", "message", ev[i].error);
		}
		json_object_set_new(e, "attempt", json_integer(ev[i].attempt));
		json_object_set_new(e, "at", json_string(ev[i].at));
		json_array_append_new(arr, e);
	}
	return arr;
}

static void print_json(const struct job *j, const struct jobops_event *ev, size_t n)
{
	json_t *o = jobcodec_to_json(j), *evs = json_array();
	json_object_set_new(o, "tenant", str_or_null(j->tenant));
	json_object_set_new(o, "worker_id", str_or_null(j->worker_id));
	json_object_set_new(o, "lease_until", str_or_null(j->lease_until));
	json_object_set_new(o, "cancel_requested", json_boolean(j->cancel_requested));
	json_object_set_new(o, "callback_url", str_or_null(j->callback_url));
	json_object_set_new(o, "idempotency_key", str_or_null(j->idempotency_key));
	json_object_set_new(o, "due_at", str_or_null(j->due_at));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(evs, json_pack("{s:s, s:s, s:s, s:i, s:o, s:o, s:o}", "at", ev[i].at, "event",
						     ev[i].event, "status", ev[i].status, "attempt", ev[i].attempt,
						     "worker_id", str_or_null(ev[i].worker_id), "error",
						     ref_or_null(ev[i].error), "detail", ref_or_null(ev[i].detail)));
	cmd_print_json(json_pack("{s:o, s:o, s:o}", "job", o, "events", evs, "errors", errors_json(ev, n)));
}

/* `v` in one line: strings as they are, the rest as compact JSON. */
static void compact(json_t *v, struct buf *out)
{
	buf_reset(out);
	if (!v)
		return;
	if (json_is_string(v)) {
		buf_adds(out, json_string_value(v));
		return;
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	buf_adds(out, s ? s : "");
	free(s);
}

static void field(const char *name, const char *value)
{
	printf("%-13s %s\n", name, value && *value ? value : "-");
}

/* The history as a table: when, what, the attempt, the worker and the error or detail in one line. */
static void print_events(const struct jobops_event *ev, size_t n)
{
	struct buf b = BUF_INIT;
	static const struct table_col cols[] = {
		{ "AT", 0 }, { "EVENT", 0 }, { "STATUS", 0 }, { "ATT", TABLE_RIGHT }, { "WORKER", TABLE_SHRINK },
		{ "DETAIL", TABLE_SHRINK },
	};
	struct table t;
	table_init(&t, cols, 6);
	for (size_t i = 0; i < n; i++) {
		table_row(&t);
		table_cell(&t, ev[i].at);
		table_cell(&t, ev[i].event);
		table_cell(&t, ev[i].status);
		table_cellf(&t, "%d", ev[i].attempt);
		table_cell(&t, ev[i].worker_id);
		if (ev[i].error) {
			const char *code = json_string_value(json_object_get(ev[i].error, "code"));
			const char *msg = json_string_value(json_object_get(ev[i].error, "message"));
			buf_reset(&b);
			buf_printf(&b, "%s: %s", code ? code : "error", msg ? msg : "");
		} else {
			compact(ev[i].detail, &b);
		}
		for (size_t k = 0; table_get_format() == TABLE_AUTO && k < b.len; k++)
			if (b.data[k] == '\n' || b.data[k] == '\t')
				b.data[k] = ' ';
		table_cell(&t, buf_str(&b));
	}
	table_print(&t, stdout);
	table_free(&t);
	buf_release(&b);
}

static void print_text(const struct job *j, const struct jobops_event *ev, size_t n)
{
	struct buf b = BUF_INIT;
	char att[32];
	snprintf(att, sizeof(att), "%d of %d", j->attempts, j->max_attempts);
	field("id", j->id);
	field("tenant", j->tenant);
	field("type", j->type);
	field("status", job_status_name(j->status));
	field("priority", jobprio_name(j->priority));
	field("attempts", att);
	compact(j->source, &b);
	field("source", buf_str(&b));
	compact(j->params, &b);
	field("params", buf_str(&b));
	compact(j->result, &b);
	field("result", buf_str(&b));
	compact(j->error, &b);
	field("error", buf_str(&b));
	field("worker", j->worker_id);
	field("created", j->created_at);
	if (j->run_at[0])
		field("run at", j->run_at);
	field("started", j->started_at);
	field("finished", j->finished_at);
	if (j->lease_until[0])
		field("lease until", j->lease_until);
	if (j->cancel_requested)
		field("cancel", "requested");

	printf("\n");
	print_events(ev, n);
	buf_release(&b);
}

/* One job of any tenant with its whole history and every attempt's error. */
static int cmd_job_show_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int rc, first = cmd_getopt(ctx, &cmd_job_show_entry, argc, argv, NULL, NULL, NULL, NULL);
	if (first < 0)
		return CMD_EXIT_USAGE;
	const char *id = argv[first];
	if ((rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	struct job j;
	struct jobops_event *ev = NULL;
	size_t n = 0;
	enum job_rc found = job_get(ctx->db, id, NULL, &j, &err);
	if (found == JOB_OK && jobops_events(ctx->db, id, &ev, &n, &err) < 0)
		found = JOB_ERR;
	if (found == JOB_ERR) {
		cmd_error("job show: %s", buf_str(&err));
		rc = CMD_EXIT_FAILURE;
	} else if (found == JOB_NOT_FOUND) {
		cmd_error("job show: no job '%s' (adminctl jobs --search PREFIX finds ids)", id);
		rc = CMD_EXIT_FAILURE;
	} else {
		if (ctx->json)
			print_json(&j, ev, n);
		else if (table_get_format() != TABLE_AUTO)
			print_events(ev, n); /* --csv, --jsonl: the history as a table */
		else
			print_text(&j, ev, n);
		rc = CMD_EXIT_OK;
	}
	jobops_events_free(ev, n);
	job_clear(&j);
	buf_release(&err);
	return rc;
}
