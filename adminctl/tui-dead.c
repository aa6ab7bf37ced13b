/*
 * Screen 4, Dead letters: what the spool.dead queue holds. Messages land there
 * when a job failed for good or a worker could not decode them (poison). The
 * list is read without acknowledging, so it changes nothing; the model reads it
 * only while this screen is visible (the header count is the broker's).
 *
 * R retries the jobs of the selected, marked or every dead letter shown and
 * drops their messages (poison messages stay); P drops the messages shown. Both
 * go through the library code of `adminctl dead retry|purge`, after a y/N that
 * says how many, are audited, and are refused in read-only mode. "Every" is a
 * frozen set, as the CLI's purge: the fetch thread first reads the messages
 * shown and holds them unacknowledged on a connection of their own, the y/N
 * gives their count, and only they are acted on (a dead letter arriving
 * meanwhile stays); "no" puts them back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"

static struct {
	struct tui_list list;
	struct tui_marks marks;        /* the jobs of marked dead letters */
	const char *scope;             /* of the pending retry of ids: "selected", "marked" */
	struct tui_mark one;           /* of the pending retry of the selected one */
	/* a hold asked for (MODEL_OP_DEAD_PURGE or _RETRY): its y/N waits for held_version to pass held_seen */
	bool awaiting;
	enum model_op held_op;
	unsigned long held_seen;
} ds;

static unsigned held_confirmed(struct tui *t, int key)
{
	bool purge = ds.held_op == MODEL_OP_DEAD_PURGE;
	if (key != 'y') {
		struct model_action a = { .op = MODEL_OP_DEAD_RELEASE };
		model_action(tui_model(t), &a);
		tui_message(t, false, "%s: nothing done", purge ? "purge" : "dead retry");
		return TUI_REDRAW_STATUS;
	}
	struct model_action a = { .op = ds.held_op, .scope = "all" };
	tui_action(t, &a);
	if (purge)
		tui_marks_clear(&ds.marks);
	return TUI_REDRAW_ALL;
}

/* Once the dead letters asked for are held: ask y/N with their count. */
static void maybe_confirm(struct tui *t)
{
	struct model_status st;
	model_status(tui_model(t), &st);
	if (!ds.awaiting || st.held_version == ds.held_seen)
		return;
	ds.awaiting = false;
	ds.held_seen = st.held_version;
	if (st.held_count <= 0)
		return; /* none, or the hold failed: the status line says which */
	char q[200], num[32];
	long long jobs = st.held_count - st.held_poison;
	if (ds.held_op == MODEL_OP_DEAD_RETRY && jobs == 0) {
		struct model_action a = { .op = MODEL_OP_DEAD_RELEASE, .quiet = true };
		model_action(tui_model(t), &a);
		tui_message(t, false, "dead retry: the dead letters held are all poison: nothing done");
		return;
	}
	tui_thousands(st.held_count, num, sizeof(num));
	if (ds.held_op == MODEL_OP_DEAD_PURGE)
		snprintf(q, sizeof(q), "purge these %s held message%s (%lld poison) from %s for good? y/N ", num,
			 st.held_count == 1 ? "" : "s", st.held_poison, MQ_DEAD_QUEUE);
	else
		snprintf(q, sizeof(q), "retry the jobs of these %lld held dead letter%s (%lld poison stay)? y/N ", jobs,
			 jobs == 1 ? "" : "s", st.held_poison);
	tui_prompt_key(t, q, "yn", held_confirmed);
}

/* Hold the `shown` dead letters for `op`; its y/N comes once they are (maybe_confirm). */
static void hold(struct tui *t, enum model_op op, size_t shown)
{
	struct model_status st;
	model_status(tui_model(t), &st);
	ds.held_seen = st.held_version;
	ds.held_op = op;
	ds.awaiting = true;
	struct model_action a = { .op = MODEL_OP_DEAD_HOLD, .limit = (int)shown };
	model_action(tui_model(t), &a);
	tui_message(t, false, "holding the %zu dead letter%s shown…", shown, shown == 1 ? "" : "s");
}

static void draw_dead(struct tui *t, int top, int rows, int cols)
{
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_DEAD);
	int y = top;
	tui_cell(y++, 0, cols, TC_HEADER, "Dead letters (queue spool.dead)");
	y++;
	if (!s) {
		tui_cell(y, 2, cols - 2, TC_WARN, "loading…");
		return;
	}
	if (*s->err) {
		tui_cellf(y++, 2, cols - 2, TC_DOWN, "unavailable: %s", s->err);
	} else {
		char n[32], c[32];
		tui_thousands(s->u.dead.messages, n, sizeof(n));
		tui_thousands(s->u.dead.consumers, c, sizeof(c));
		tui_cellf(y++, 2, cols - 2, s->u.dead.messages ? TC_WARN : TC_OK, "%s messages   %s consumers", n, c);
		tui_marks_draw(&ds.marks, y - 1, cols);
		y++;
		const struct model_dead *d = &s->u.dead;
		if (d->nmsgs)
			tui_cellf(y++, 0, cols, TC_HEADER, "  %-8s %-16s %7s  %s", "job", "type", "attempt", "body / why");
		ds.list.n = (int)d->nmsgs;
		tui_list_fix(&ds.list, top + rows - y);
		for (int i = ds.list.top; i < ds.list.n && y < top + rows; i++, y++) {
			const struct jobops_dead *m = &d->msgs[i];
			bool marked = !m->poison && tui_marks_find(&ds.marks, m->msg.id) >= 0;
			enum tui_color col = i == ds.list.sel ? TC_SELECTED : marked ? TC_MARKED : m->poison ? TC_WARN : TC_NORMAL;
			if (m->poison)
				tui_cellf(y, 0, cols, col, "  %-8s %-16s %7s  %s: %.*s", "poison", "-", "-",
					  m->reason ? m->reason : "not a job message", (int)(m->len > 200 ? 200 : m->len), m->body);
			else
				tui_cellf(y, 0, cols, col, "%s %-8.8s %-16s %7d  %.*s", marked ? "*" : " ", m->msg.id,
					  m->msg.type, m->msg.attempt, (int)(m->len > 200 ? 200 : m->len), m->body);
		}
		if (d->messages > (int64_t)d->nmsgs && y < top + rows)
			tui_cellf(y, 2, cols - 2, TC_DIM, "… the first %zu shown", d->nmsgs);
	}
	model_snap_put(tui_model(t), s);
	maybe_confirm(t);
}

static struct tui_list *dead_list(struct tui *t)
{
	(void)t;
	return &ds.list;
}

static void enter_dead(struct tui *t)
{
	model_refresh(tui_model(t), MODEL_DEAD);
}

/* The job of the dead letter under the cursor (into `out`, status not known); false if none or poison. */
static bool selected(struct tui *t, struct tui_mark *out)
{
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_DEAD);
	bool ok = false;
	if (s && !*s->err && ds.list.sel >= 0 && (size_t)ds.list.sel < s->u.dead.nmsgs &&
	    !s->u.dead.msgs[ds.list.sel].poison) {
		const struct jobops_dead *m = &s->u.dead.msgs[ds.list.sel];
		memcpy(out->id, m->msg.id, sizeof(out->id));
		snprintf(out->type, sizeof(out->type), "%s", m->msg.type);
		out->status = -1;
		ok = true;
	}
	model_snap_put(tui_model(t), s);
	return ok;
}

static unsigned key_mark(struct tui *t, int key)
{
	(void)key;
	struct tui_mark m;
	if (selected(t, &m))
		tui_marks_toggle(&ds.marks, &m);
	ds.list.sel++;
	return TUI_REDRAW_BODY;
}

static unsigned key_unmark(struct tui *t, int key)
{
	(void)t;
	(void)key;
	tui_marks_clear(&ds.marks);
	return TUI_REDRAW_BODY;
}

static bool refused(struct tui *t, const char *what)
{
	if (!tui_read_only(t))
		return false;
	tui_message(t, true, "read-only: %s is disabled (--read-only or adminctl.read_only)", what);
	return true;
}

/* Counts of the current snapshot: every message, and the job messages listed. -1 before it is loaded. */
static int64_t counts(struct tui *t, size_t *jobs_listed, size_t *listed)
{
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_DEAD);
	int64_t n = -1;
	*jobs_listed = *listed = 0;
	if (s && !*s->err) {
		n = s->u.dead.messages;
		*listed = s->u.dead.nmsgs;
		for (size_t i = 0; i < s->u.dead.nmsgs; i++)
			*jobs_listed += !s->u.dead.msgs[i].poison;
	}
	model_snap_put(tui_model(t), s);
	return n;
}

static unsigned retry_confirmed(struct tui *t, int key)
{
	if (key != 'y') {
		tui_message(t, false, "dead retry: nothing done");
		return TUI_REDRAW_STATUS;
	}
	struct model_action a = { .op = MODEL_OP_DEAD_RETRY, .scope = ds.scope };
	char *one[1], **ids = NULL;
	if (!strcmp(ds.scope, "marked")) {
		ids = tui_marks_ids(&ds.marks);
		a.ids = ids;
		a.nids = ds.marks.n;
	} else if (!strcmp(ds.scope, "selected")) {
		one[0] = ds.one.id;
		a.ids = one;
		a.nids = 1;
	}
	tui_action(t, &a);
	if (ids)
		tui_marks_clear(&ds.marks);
	free(ids);
	tui_message(t, false, "dead retry: sent");
	return TUI_REDRAW_ALL;
}

/* Ask y/N for the scope chosen with s/m/a. */
static unsigned retry_scope(struct tui *t, int key)
{
	char q[256], num[32];
	size_t jobs_listed, listed;
	counts(t, &jobs_listed, &listed);
	if (key == 's') {
		if (!selected(t, &ds.one)) {
			tui_message(t, true, "dead retry: the selected message is no job's (poison): P purges it");
			return TUI_REDRAW_STATUS;
		}
		ds.scope = "selected";
		snprintf(q, sizeof(q), "retry the job of 1 dead letter (%.8s)? y/N ", ds.one.id);
	} else if (key == 'm' && ds.marks.n) {
		ds.scope = "marked";
		tui_thousands((long long)ds.marks.n, num, sizeof(num));
		snprintf(q, sizeof(q), "retry the jobs of %s marked dead letter%s? y/N ", num, ds.marks.n == 1 ? "" : "s");
	} else if (key == 'a') {
		if (!jobs_listed) {
			tui_message(t, false, "dead retry: no job's dead letter is shown");
			return TUI_REDRAW_STATUS;
		}
		hold(t, MODEL_OP_DEAD_RETRY, listed);
		return TUI_REDRAW_STATUS;
	} else {
		return 0;
	}
	tui_prompt_key(t, q, "yn", retry_confirmed);
	return TUI_REDRAW_STATUS;
}

static unsigned key_retry(struct tui *t, int key)
{
	(void)key;
	if (refused(t, "dead retry"))
		return TUI_REDRAW_STATUS;
	size_t jobs_listed, listed;
	if (counts(t, &jobs_listed, &listed) < 0) {
		tui_message(t, true, "the dead letters are not loaded yet: try again");
		return TUI_REDRAW_STATUS;
	}
	char q[200];
	if (ds.marks.n)
		snprintf(q, sizeof(q), "dead retry: (s)elected, (m)arked %zu or (a)ll shown dead letters? ", ds.marks.n);
	else
		snprintf(q, sizeof(q), "dead retry: (s)elected or (a)ll shown dead letters? ");
	tui_prompt_key(t, q, ds.marks.n ? "sma" : "sa", retry_scope);
	return TUI_REDRAW_STATUS;
}

static unsigned key_purge(struct tui *t, int key)
{
	(void)key;
	if (refused(t, "purge"))
		return TUI_REDRAW_STATUS;
	size_t jobs_listed, listed;
	if (counts(t, &jobs_listed, &listed) < 0) {
		tui_message(t, true, "the dead letters are not loaded yet: try again");
		return TUI_REDRAW_STATUS;
	}
	if (listed == 0) {
		tui_message(t, false, "purge: no dead letter is shown");
		return TUI_REDRAW_STATUS;
	}
	hold(t, MODEL_OP_DEAD_PURGE, listed);
	return TUI_REDRAW_STATUS;
}

static const struct tui_key dead_keys[] = {
	{ { ' ' }, "Space", "mark", "mark the dead letter (and move down)", key_mark },
	{ { 'u' }, "u", NULL, "unmark all", key_unmark },
	{ { 'R' }, "R", "retry", "retry the jobs of the selected, marked or all shown", key_retry },
	{ { 'P' }, "P", "purge", "drop the messages shown (held, then confirmed)", key_purge },
	{ .label = NULL },
};

/* `e`: the dead letters read, each with its whole body. */
static bool export_dead(struct tui *t, struct table *out)
{
	static const struct table_col cols[] = {
		{ "JOB", 0 }, { "TYPE", 0 }, { "ATTEMPT", 0 }, { "POISON", 0 }, { "REASON", 0 }, { "BODY", 0 },
	};
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_DEAD);
	if (!s || *s->err) {
		model_snap_put(tui_model(t), s);
		return false;
	}
	table_init(out, cols, 6);
	for (size_t i = 0; i < s->u.dead.nmsgs; i++) {
		const struct jobops_dead *m = &s->u.dead.msgs[i];
		table_row(out);
		table_cell(out, m->poison ? NULL : m->msg.id);
		table_cell(out, m->poison ? NULL : m->msg.type);
		if (m->poison)
			table_cell(out, NULL);
		else
			table_cellf(out, "%d", m->msg.attempt);
		table_cell(out, m->poison ? "yes" : "no");
		table_cell(out, m->reason);
		table_cell(out, m->body);
	}
	model_snap_put(tui_model(t), s);
	return true;
}

/* Another context: its dead letters are not these, none stays marked. */
static void forget_dead(struct tui *t)
{
	(void)t;
	tui_marks_clear(&ds.marks);
	ds.list.sel = ds.list.top = 0;
	ds.awaiting = false; /* the old model held them, and put them back as it ended */
}

const struct tui_screen tui_dead_screen = {
	.name = "Dead",
	.kind = MODEL_DEAD,
	.keys = dead_keys,
	.enter = enter_dead,
	.draw = draw_dead,
	.list = dead_list,
	.export = export_dead,
	.forget = forget_dead,
};
