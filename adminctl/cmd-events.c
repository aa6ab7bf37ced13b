#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cmd.h"
#include "daemon.h"
#include "events.h"
#include "table.h"

static int cmd_events_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_events_entry = {
	.name = "events",
	.usage = "[--follow] [--type T] [--tenant T] [--job ID] [--event E,...] [--limit N]",
	.args_min = 0,
	.args_max = 0,
	.exec = cmd_events_exec,
};

#define HISTORY_MAX 10000

struct events_opts {
	struct ev_filter f;
	bool follow;
	int limit;
};

static int on_opt(int opt, const char *val, void *arg)
{
	struct events_opts *o = arg;
	struct buf err = BUF_INIT;
	char *end;
	int rc = 0;
	switch (opt) {
	case 'F':
		o->follow = true;
		break;
	case 't':
		snprintf(o->f.type, sizeof(o->f.type), "%s", val);
		rc = strlen(val) < sizeof(o->f.type) ? 0 : -1;
		break;
	case 'T':
		snprintf(o->f.tenant, sizeof(o->f.tenant), "%s", val);
		rc = strlen(val) < sizeof(o->f.tenant) ? 0 : -1;
		break;
	case 'j':
		if (!job_id_valid(val)) {
			cmd_error("events: --job wants a job id (a UUID), not '%s'", val);
			return -1;
		}
		snprintf(o->f.job_id, sizeof(o->f.job_id), "%s", val);
		break;
	case 'e':
		if (ev_filter_add_events(&o->f, val, &err) < 0) {
			cmd_error("events: --event: %s", buf_str(&err));
			rc = -1;
		}
		break;
	case 'l':
		o->limit = (int)strtol(val, &end, 10);
		if (*end || o->limit < 1 || o->limit > HISTORY_MAX) {
			cmd_error("events: --limit wants a number from 1 to %d, not '%s'", HISTORY_MAX, val);
			rc = -1;
		}
		break;
	default:
		rc = -1;
	}
	buf_release(&err);
	return rc;
}

static void print_event(const struct ev_record *r, bool json, bool columns, struct buf *line)
{
	if (json) {
		json_t *o = ev_to_json(r);
		char *s = json_dumps(o, JSON_COMPACT);
		if (s)
			puts(s);
		free(s);
		json_decref(o);
	} else {
		ev_format(r, columns, line);
		puts(buf_str(line));
	}
}

/* The newest `limit` events of the history in PostgreSQL that pass the filter, oldest first. */
static int history(struct cmd_ctx *ctx, const struct events_opts *o)
{
	int rc = cmd_db(ctx);
	if (rc)
		return rc;
	struct buf names = BUF_INIT, err = BUF_INIT, line = BUF_INIT;
	char limit[16];
	snprintf(limit, sizeof(limit), "%d", o->limit);
	/* a text[] literal of names checked by ev_filter_add_events (no quote, comma or brace) */
	if (o->f.nevents) {
		buf_addc(&names, '{');
		for (size_t i = 0; i < o->f.nevents; i++)
			buf_printf(&names, "%s%s", i ? "," : "", o->f.events[i] + 4);
		buf_addc(&names, '}');
	}
	const char *params[] = {
		*o->f.type ? o->f.type : NULL,
		*o->f.tenant ? o->f.tenant : NULL,
		*o->f.job_id ? o->f.job_id : NULL,
		o->f.nevents ? buf_str(&names) : NULL,
		limit,
	};
	PGresult *r = db_exec(ctx->db, "events_history",
			      "SELECT * FROM (SELECT e.id, " DB_RFC3339("e.at") ", 'job.' || e.event, e.job_id::text,"
			      "   j.type, j.tenant_id, e.attempt, coalesce(e.error->>'code', '')"
			      " FROM job_events e JOIN jobs j ON j.id = e.job_id"
			      " WHERE ($1::text IS NULL OR j.type = $1) AND ($2::text IS NULL OR j.tenant_id = $2)"
			      "   AND ($3::uuid IS NULL OR e.job_id = $3::uuid)"
			      "   AND ($4::text[] IS NULL OR e.event = ANY($4::text[]))"
			      " ORDER BY e.id DESC LIMIT $5::int) h ORDER BY id",
			      5, params, &err);
	if (!r) {
		cmd_error("events: %s", buf_str(&err));
		rc = CMD_EXIT_FAILURE;
		goto out;
	}
	bool columns = table_is_tty(stdout);
	if (!ctx->json) {
		ev_format_header(columns, &line);
		puts(buf_str(&line));
	}
	for (int i = 0; i < PQntuples(r); i++) {
		struct ev_record e;
		memset(&e, 0, sizeof(e));
		db_copy(e.at, sizeof(e.at), r, i, 1);
		db_copy(e.event, sizeof(e.event), r, i, 2);
		db_copy(e.job_id, sizeof(e.job_id), r, i, 3);
		db_copy(e.type, sizeof(e.type), r, i, 4);
		db_copy(e.tenant, sizeof(e.tenant), r, i, 5);
		e.attempt = atoi(PQgetvalue(r, i, 6));
		db_copy(e.error, sizeof(e.error), r, i, 7);
		print_event(&e, ctx->json, columns, &line);
	}
	PQclear(r);
out:
	buf_release(&names);
	buf_release(&err);
	buf_release(&line);
	return rc;
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

/* Follow the live events until SIGINT or SIGTERM; reconnects while the broker is away. */
static int follow(struct cmd_ctx *ctx, const struct events_opts *o)
{
	int rc = cmd_config(ctx);
	if (rc)
		return rc;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct ev_sub *sub = ev_sub_new(&ctx->cfg, cmd_secrets(ctx), &o->f);
	struct buf err = BUF_INIT, line = BUF_INIT;
	bool columns = table_is_tty(stdout), was_down = false, header = false;
	unsigned attempt = 0;
	while (!stop_signal) {
		if (!ev_sub_connected(sub)) {
			buf_reset(&err);
			if (ev_sub_connect(sub, &err) < 0) {
				if (!was_down)
					cmd_error("events: RabbitMQ unavailable, retrying: %s", buf_str(&err));
				was_down = true;
				unsigned ms = daemon_jitter_ms(500, attempt++, 10000);
				for (unsigned w = 0; w < ms && !stop_signal; w += 100)
					clock_sleep_ms(100);
				continue;
			}
			attempt = 0;
			cmd_error("events: %s, following (queue %s)", was_down ? "reconnected" : "connected",
				  ev_sub_queue(sub));
			was_down = false;
			if (!header && !ctx->json) {
				ev_format_header(columns, &line);
				puts(buf_str(&line));
				header = true;
			}
		}
		struct ev_record r;
		buf_reset(&err);
		int n = ev_sub_next(sub, &r, 500, &err);
		if (n < 0) {
			if (!stop_signal)
				cmd_error("events: connection to RabbitMQ lost, reconnecting: %s", buf_str(&err));
			was_down = true;
		} else if (n > 0) {
			print_event(&r, ctx->json, columns, &line);
		}
	}
	ev_sub_free(sub);
	buf_release(&err);
	buf_release(&line);
	return CMD_EXIT_OK;
}

/* The events of jobs: the last ones from the history, or (--follow) the live ones as they happen. */
static int cmd_events_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'F' },	   { "type", required_argument, NULL, 't' },
		{ "tenant", required_argument, NULL, 'T' }, { "job", required_argument, NULL, 'j' },
		{ "event", required_argument, NULL, 'e' },  { "limit", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct events_opts o = { .limit = 50 };
	if (cmd_getopt(ctx, &cmd_events_entry, argc, argv, NULL, longopts, on_opt, &o) < 0)
		return CMD_EXIT_USAGE;
	return o.follow ? follow(ctx, &o) : history(ctx, &o);
}
