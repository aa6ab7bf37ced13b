/*
 * Screen 1, Overview: the services, the queues, job counts per state, the jobs
 * waiting unclaimed past [worker] redrive_after, the limits and pauses of
 * tenants and types (joblimits.h) with their jobs running and waiting, and the
 * workers running jobs now. `a` opens
 * the audit trail. The cursor (↑↓) selects a row of the limits: `p` pauses its
 * tenant or type, `u` resumes it, `L` sets its max_running, each through the
 * CLI's code (model_action) and audited the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "timefmt.h"
#include "tui.h"

#define QUEUE_NAME_W 22 /* cells of the queue column */
/* The largest max_running `L` takes (a column of type int), as `adminctl limits set`. */
#define MAX_RUNNING_MAX 1000000

/*
 * The cursor in the limits, which follows its row when the rows move (a pause
 * gives a tenant a row of its own, listed first), and the tenant or type a
 * prompt is about (copied: the snapshot may change meanwhile).
 */
static struct {
	struct tui_list list;
	int drawn;                         /* list.sel when last drawn */
	enum joblimits_scope sel_scope;    /* the row under the cursor then */
	char sel_name[JOBLIMITS_NAME_MAX + 1];
	enum model_op op;
	enum joblimits_scope scope;
	char name[JOBLIMITS_NAME_MAX + 1];
	int64_t max_running;
} os;

static void draw_services(const struct model_status *st, int y, int cols)
{
	int x = 2;
	tui_cell(y, 0, 2, TC_NORMAL, "");
	for (int s = 0; s < MODEL_SVC_COUNT && x < cols; s++) {
		const char *state = !st->known[s] ? "?" : st->up[s] ? "up" : "DOWN";
		enum tui_color c = !st->known[s] ? TC_DIM : st->up[s] ? TC_OK : TC_DOWN;
		char name[32];
		snprintf(name, sizeof(name), "%s ", model_svc_name((enum model_svc)s));
		tui_cell(y, x, tui_width(name), TC_NORMAL, name);
		x += tui_width(name);
		tui_cell(y, x, 7, c, state);
		x += 7;
	}
}

/*
 * Jobs waiting with nobody taking them: queued, or retrying past their backoff,
 * for longer than redrive_after. Whether their message still exists is not
 * known here; the workers publish it again.
 */
static void draw_unclaimed(const struct model_overview *ov, int y, int cols)
{
	char n[24], after[24];
	tui_thousands(ov->unclaimed, n, sizeof(n));
	timefmt_duration(ov->unclaimed_after, after, sizeof(after));
	tui_cellf(y, 2, cols - 2, ov->unclaimed ? TC_WARN : TC_NORMAL,
		  "unclaimed > %s %s   (queued or due for retry, no worker took them: re-driven)", after, n);
}

/*
 * The limits and pauses of tenants and types, and the busiest tenants and types
 * without a row of their own (their limit the scope's '*', marked "(*)"), with
 * their jobs running, waiting, deferred and the age of the oldest waiting, from
 * y; returns the next free row.
 */
static int draw_limits(const struct model_overview *ov, int y, int end, int cols)
{
	if (y < end)
		tui_cellf(y++, 0, cols, TC_HEADER, "Limits, pauses and jobs waiting (%zu)", ov->nlimits);
	if (ov->nlimits > 0 && y < end)
		tui_cellf(y++, 2, cols - 2, TC_HEADER, "%-6s %-24s %-13s %9s %9s %9s %8s  %s", "scope", "name", "max",
			  "running", "waiting", "deferred", "oldest", "paused");
	os.list.n = (int)ov->nlimits;
	/* not moved since the last draw: keep the cursor on the same tenant or type */
	for (size_t i = 0; os.list.sel == os.drawn && *os.sel_name && i < ov->nlimits; i++)
		if (ov->limits[i].scope == os.sel_scope && !strcmp(ov->limits[i].name, os.sel_name))
			os.list.sel = (int)i;
	tui_list_fix(&os.list, end - y);
	os.drawn = os.list.sel;
	if (os.list.sel >= 0 && (size_t)os.list.sel < ov->nlimits) {
		os.sel_scope = ov->limits[os.list.sel].scope;
		snprintf(os.sel_name, sizeof(os.sel_name), "%s", ov->limits[os.list.sel].name);
	}
	for (size_t i = (size_t)os.list.top; i < ov->nlimits && y < end; i++, y++) {
		const struct joblimits_row *l = &ov->limits[i];
		enum tui_color c = (int)i == os.list.sel ? TC_SELECTED : l->paused ? TC_WARN : TC_NORMAL;
		const char *from = l->own ? "" : " (*)";
		char max[32] = "unlimited", n[24], running[24], waiting[24], deferred[24], oldest[32], prio[24] = "";
		if (l->limited) {
			tui_thousands(l->max_running, n, sizeof(n));
			snprintf(max, sizeof(max), "%s%s", n, from);
		}
		tui_thousands(l->running, running, sizeof(running));
		tui_thousands(l->waiting, waiting, sizeof(waiting));
		tui_thousands(l->deferred, deferred, sizeof(deferred));
		if (*l->priority)
			snprintf(prio, sizeof(prio), "  priority %s", l->priority);
		table_age(l->oldest_wait_s, oldest, sizeof(oldest));
		tui_cellf(y, 2, cols - 2, c, "%-6s %-24s %-13s %9s %9s %9s %8s  %s%s%s",
			  joblimits_scope_name(l->scope), l->name, max, running, waiting, deferred, oldest,
			  l->paused ? "PAUSED" : "no", l->paused ? from : "", prio);
	}
	if (ov->nlimits == 0 && y < end && ov->counts_ok)
		tui_cell(y++, 2, cols - 2, TC_DIM, "none: no limit, no pause, no job waiting");
	return y;
}

static void draw_overview(struct tui *t, int top, int rows, int cols)
{
	struct model_status st;
	model_status(tui_model(t), &st);
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_OVERVIEW);
	int y = top, end = top + rows;
	tui_cell(y++, 0, cols, TC_HEADER, "Services");
	draw_services(&st, y++, cols);
	y++;
	if (!s) {
		tui_cell(y, 2, cols - 2, TC_WARN, "loading…");
		return;
	}
	const struct model_overview *ov = &s->u.ov;
	tui_cell(y++, 0, cols, TC_HEADER, "Queues");
	tui_cellf(y++, 2, cols - 2, TC_HEADER, "%-*s %10s %10s %10s %9s %9s", QUEUE_NAME_W, "queue", "ready",
		  "unacked", "consumers", "in/s", "out/s");
	for (size_t i = 0; i < ov->nqueues && y < end; i++, y++) {
		const struct model_queue *q = &ov->queues[i];
		/*
		 * The name has a cell of its own, so that a long one cannot push the
		 * numbers out of their columns. A name too long for it keeps its end:
		 * what tells the API's own queues (spool.events.api.<host>.<pid>) apart
		 * is the host and pid, the start is the same for all of them.
		 */
		enum tui_color c = !q->ok ? TC_DOWN : q->consumers == 0 && q->ready > 0 ? TC_WARN : TC_NORMAL;
		tui_cell_end(y, 2, QUEUE_NAME_W, c, q->name);
		if (!q->ok) {
			tui_cellf(y, 2 + QUEUE_NAME_W, cols - 2 - QUEUE_NAME_W, c, " %10s", ov->mq_ok ? "missing" : "down");
			continue;
		}
		char ready[24], unacked[24] = "-", cons[24], in[16] = "-", out[16] = "-";
		tui_thousands(q->ready, ready, sizeof(ready));
		if (q->unacked >= 0)
			tui_thousands(q->unacked, unacked, sizeof(unacked));
		tui_thousands(q->consumers, cons, sizeof(cons));
		if (q->publish_rate >= 0)
			snprintf(in, sizeof(in), "%.1f", q->publish_rate);
		if (q->deliver_rate >= 0)
			snprintf(out, sizeof(out), "%.1f", q->deliver_rate);
		tui_cellf(y, 2 + QUEUE_NAME_W, cols - 2 - QUEUE_NAME_W, c, " %10s %10s %10s %9s %9s", ready, unacked,
			  cons, in, out);
	}
	y++;
	if (y < end)
		tui_cell(y++, 0, cols, TC_HEADER, "Jobs");
	if (y < end) {
		if (!ov->counts_ok) {
			tui_cell(y++, 2, cols - 2, TC_DOWN, "database unavailable");
		} else {
			int x = 2;
			for (int i = 0; i < JOB_STATUS_COUNT && x < cols; i++) {
				char n[24], cell[48];
				tui_thousands(ov->counts[i], n, sizeof(n));
				snprintf(cell, sizeof(cell), "%s %s", job_status_name((enum job_status)i), n);
				enum tui_color c = i == JOB_FAILED && ov->counts[i] ? TC_DOWN
						   : i == JOB_RETRYING && ov->counts[i] ? TC_WARN
											 : TC_NORMAL;
				int w = tui_width(cell) + 3;
				tui_cell(y, x, w, c, cell);
				x += w;
			}
			y++;
			if (y < end)
				draw_unclaimed(ov, y++, cols);
		}
	}
	y++;
	y = draw_limits(ov, y, end, cols) + 1;
	if (y < end)
		tui_cellf(y++, 0, cols, TC_HEADER, "Live workers (%zu)", ov->nworkers);
	for (size_t i = 0; i < ov->nworkers && y < end; i++)
		tui_cell(y++, 2, cols - 2, TC_NORMAL, ov->workers[i]);
	if (ov->nworkers == 0 && y < end && ov->counts_ok)
		tui_cell(y++, 2, cols - 2, TC_DIM, "no job is running");
	if (*s->err && end - 1 > y)
		tui_cell(end - 1, 0, cols, TC_DOWN, s->err);
	model_snap_put(tui_model(t), s);
}

static void enter_overview(struct tui *t)
{
	model_refresh(tui_model(t), MODEL_OVERVIEW);
}

/* The audit trail is a screen of its own past the six tabs (tui.c): index 6. */
static unsigned key_audit(struct tui *t, int key)
{
	(void)key;
	tui_show(t, 6);
	return TUI_REDRAW_ALL;
}

static unsigned key_failures(struct tui *t, int key)
{
	(void)key;
	tui_show(t, 7);
	return TUI_REDRAW_ALL;
}

static struct tui_list *overview_list(struct tui *t)
{
	(void)t;
	return &os.list;
}

/* The tenant or type of the selected row of the limits into os; false (with a message) if there is none. */
static bool selected(struct tui *t)
{
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_OVERVIEW);
	bool ok = s && os.list.sel >= 0 && (size_t)os.list.sel < s->u.ov.nlimits;
	if (ok) {
		os.scope = s->u.ov.limits[os.list.sel].scope;
		snprintf(os.name, sizeof(os.name), "%s", s->u.ov.limits[os.list.sel].name);
	} else {
		tui_message(t, true, "no tenant or type selected: ↑↓ select one in the limits");
	}
	model_snap_put(tui_model(t), s);
	return ok;
}

static unsigned limits_confirmed(struct tui *t, int key)
{
	const char *verb = os.op == MODEL_OP_PAUSE ? "pause" : os.op == MODEL_OP_RESUME ? "resume" : "limit";
	if (key != 'y') {
		tui_message(t, false, "%s: nothing done", verb);
		return TUI_REDRAW_STATUS;
	}
	struct model_action a = { .op = os.op, .scope = "selected", .limit_scope = os.scope,
				  .max_running = os.max_running };
	snprintf(a.limit_name, sizeof(a.limit_name), "%s", os.name);
	tui_message(t, false, "%s: sent", verb);
	tui_action(t, &a);
	return TUI_REDRAW_ALL;
}

/* Ask y/N for os.op on os.scope and os.name. */
static unsigned limits_ask(struct tui *t)
{
	char q[512], max[32] = "unlimited";
	const char *scope = joblimits_scope_name(os.scope);
	if (os.max_running >= 0)
		tui_thousands(os.max_running, max, sizeof(max));
	if (os.op == MODEL_OP_PAUSE)
		snprintf(q, sizeof(q), "pause %s %s (its jobs wait, running ones finish)? y/N ", scope, os.name);
	else if (os.op == MODEL_OP_RESUME)
		snprintf(q, sizeof(q), "resume %s %s (its deferred jobs start)? y/N ", scope, os.name);
	else
		snprintf(q, sizeof(q), "set max running of %s %s to %s? y/N ", scope, os.name, max);
	tui_prompt_key(t, q, "yn", limits_confirmed);
	return TUI_REDRAW_STATUS;
}

/* p, u, L and their commands: refused read-only, else os.op set; false when nothing is to be asked. */
static bool limits_start(struct tui *t, enum model_op op)
{
	if (tui_read_only(t)) {
		tui_message(t, true, "read-only: pause, resume and limits are disabled (--read-only or adminctl.read_only)");
		return false;
	}
	os.op = op;
	os.max_running = -1;
	return true;
}

static unsigned key_pause(struct tui *t, int key)
{
	if (!limits_start(t, key == 'p' ? MODEL_OP_PAUSE : MODEL_OP_RESUME) || !selected(t))
		return TUI_REDRAW_STATUS;
	return limits_ask(t);
}

/* A max_running into os: a whole number, or "unlimited"; false after saying what is wrong. */
static bool parse_max(struct tui *t, const char *text)
{
	char *end;
	long long v = strtoll(text, &end, 10);
	if (!strcmp(text, "unlimited")) {
		os.max_running = -1;
	} else if (!*text || *end || v < 0 || v > MAX_RUNNING_MAX) {
		tui_message(t, true, "limit: a whole number from 0 to %d or 'unlimited', not '%s'", MAX_RUNNING_MAX, text);
		return false;
	} else {
		os.max_running = v;
	}
	return true;
}

/* The max_running typed for `L` (NULL or nothing: Esc). */
static unsigned limit_typed(struct tui *t, const char *text)
{
	if (!text || !*text)
		return 0;
	return parse_max(t, text) ? limits_ask(t) : TUI_REDRAW_STATUS;
}

unsigned tui_limits_command(struct tui *t, enum model_op op, const char *arg)
{
	const char *verb = op == MODEL_OP_PAUSE ? "pause" : op == MODEL_OP_RESUME ? "resume" : "limit";
	char scope[16] = "", max[32] = "";
	if (!limits_start(t, op))
		return TUI_REDRAW_STATUS;
	int n = arg ? sscanf(arg, "%15s %200s %31s", scope, os.name, max) : 0;
	if (n < 2 || (op == MODEL_OP_LIMIT_SET) != (n == 3) || joblimits_scope_parse(scope, &os.scope) < 0 ||
	    !joblimits_name_valid(os.name)) {
		tui_message(t, true, ":%s wants tenant|type NAME%s", verb, op == MODEL_OP_LIMIT_SET ? " N|unlimited" : "");
		return TUI_REDRAW_STATUS;
	}
	if (op == MODEL_OP_LIMIT_SET && !parse_max(t, max))
		return TUI_REDRAW_STATUS;
	return limits_ask(t);
}

static unsigned key_limit(struct tui *t, int key)
{
	(void)key;
	if (!limits_start(t, MODEL_OP_LIMIT_SET) || !selected(t))
		return TUI_REDRAW_STATUS;
	char label[512];
	snprintf(label, sizeof(label), "max running for %s %s (a number, or 'unlimited'): ", joblimits_scope_name(os.scope),
		 os.name);
	tui_prompt_text(t, label, "", limit_typed);
	return TUI_REDRAW_STATUS;
}

static const struct tui_key overview_keys[] = {
	{ { 'a' }, "a", "audit", "the audit trail: who did what, when, to how many", key_audit },
	{ { 'f' }, "f", "failures", "failed and retrying jobs grouped by error signature", key_failures },
	{ { 'p' }, "p", NULL, "pause the selected tenant or type: its jobs wait", key_pause },
	{ { 'u' }, "u", NULL, "resume the selected tenant or type", key_pause },
	{ { 'L' }, "L", NULL, "set max running jobs of the selected tenant or type", key_limit },
	{ .label = NULL },
};

/* `e`: the queues, each number as it is (unknown: empty). */
static bool export_overview(struct tui *t, struct table *out)
{
	static const struct table_col cols[] = {
		{ "QUEUE", 0 }, { "READY", 0 }, { "UNACKED", 0 }, { "CONSUMERS", 0 }, { "IN/S", 0 }, { "OUT/S", 0 },
	};
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_OVERVIEW);
	if (!s || *s->err || !s->u.ov.mq_ok) {
		model_snap_put(tui_model(t), s);
		return false;
	}
	table_init(out, cols, 6);
	for (size_t i = 0; i < s->u.ov.nqueues; i++) {
		const struct model_queue *q = &s->u.ov.queues[i];
		table_row(out);
		table_cell(out, q->name);
		table_cellf(out, "%lld", (long long)q->ready);
		if (q->unacked >= 0)
			table_cellf(out, "%lld", (long long)q->unacked);
		else
			table_cell(out, NULL);
		table_cellf(out, "%lld", (long long)q->consumers);
		if (q->publish_rate >= 0)
			table_cellf(out, "%g", q->publish_rate);
		else
			table_cell(out, NULL);
		if (q->deliver_rate >= 0)
			table_cellf(out, "%g", q->deliver_rate);
		else
			table_cell(out, NULL);
	}
	model_snap_put(tui_model(t), s);
	return true;
}

/* Another context: its tenants and types are not these, the cursor goes back to the first row. */
static void forget_overview(struct tui *t)
{
	(void)t;
	memset(&os, 0, sizeof(os));
}

const struct tui_screen tui_overview_screen = {
	.name = "Overview",
	.kind = MODEL_OVERVIEW,
	.keys = overview_keys,
	.enter = enter_overview,
	.draw = draw_overview,
	.list = overview_list,
	.export = export_overview,
	.forget = forget_overview,
};
