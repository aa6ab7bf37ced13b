/*
 * Screen 2, Jobs: the job table with status tabs and `/` query (`!` negates it); space marks;
 * R and C retry or cancel the selected job, the marked jobs or every job that
 * matches the filter, after a confirmation that says how many.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "tui.h"

#define KEY_ESC 27

/*
 * One pending action between the scope question and the y/N. "All matching"
 * is a frozen selection: the fetch thread resolves the filter to the jobs it
 * matches now, the y/N gives their count and first ids, and exactly they are
 * acted on (a job matching later is not among them) or the selection declined.
 */
struct pending {
	enum model_op op;
	const char *scope;       /* "selected", "marked", "filter" */
	struct tui_mark one;
	struct model_filter filter; /* "filter": the one resolved */
	char type[64];           /* "filter": the type of every job shown, "" when they differ */
	bool awaiting;           /* "filter": resolving, its y/N waits for sel_version to pass sel_seen */
	unsigned long sel_seen;
	char selection[24];      /* "filter": the selection resolved */
};

static struct {
	struct tui_list list;
	struct model_filter filter; /* status -1 = the "all" tab */
	struct tui_marks marks;
	struct pending pending;
} js = { .filter = { .status = -1 } };

static const char *op_verb(enum model_op op)
{
	return op == MODEL_OP_RETRY ? "retry" : "cancel";
}

/* The current snapshot if it answers the current filter, else NULL. */
static struct model_snap *current(struct tui *t)
{
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_JOBS);
	if (s && (s->u.jobs.filter.status != js.filter.status || strcmp(s->u.jobs.filter.search, js.filter.search))) {
		model_snap_put(tui_model(t), s);
		return NULL;
	}
	return s;
}

static void tab_title(int status, char *out, size_t size)
{
	snprintf(out, size, "%s", status < 0 ? "all" : job_status_name((enum job_status)status));
}

static enum tui_color status_color(enum job_status s)
{
	switch (s) {
	case JOB_FAILED:
		return TC_DOWN;
	case JOB_RETRYING:
		return TC_WARN;
	case JOB_SUCCEEDED:
		return TC_OK;
	case JOB_CANCELLED:
		return TC_DIM;
	default:
		return TC_NORMAL;
	}
}

static void draw_table(struct tui *t, int top, int rows, int cols)
{
	int y = top, x = 0;
	for (int st = -1; st < JOB_STATUS_COUNT; st++) {
		char title[32], cell[40];
		tab_title(st, title, sizeof(title));
		snprintf(cell, sizeof(cell), " %s ", title);
		int w = tui_width(cell);
		if (x + w > cols)
			break;
		tui_cell(y, x, w, st == js.filter.status ? TC_TAB_ACTIVE : TC_DIM, cell);
		x += w + 1;
	}
	y++;
	struct model_snap *s = current(t);
	char total[32] = "…";
	if (s && !*s->err)
		tui_thousands((long long)s->u.jobs.total, total, sizeof(total));
	tui_cellf(y++, 0, cols, TC_NORMAL, "search: %s   %s jobs%s%s", *js.filter.search ? js.filter.search : "-",
		  total, js.marks.n ? "   marked: " : "", "");
	tui_marks_draw(&js.marks, y - 1, cols);
	int errw = cols - 94;
	tui_cellf(y++, 0, cols, TC_HEADER, "  %-8s %-16s %-10s %5s %-19s  %-19s %-6s %s", "id", "type", "status", "tries",
		  "created", "run at", "prio", errw > 4 ? "error" : "");
	int body = rows - 3;
	if (!s) {
		js.list.n = 0;
		tui_cell(y, 2, cols - 2, TC_WARN, "loading…");
		return;
	}
	if (*s->err) {
		tui_cell(y, 2, cols - 2, TC_DOWN, s->err);
		model_snap_put(tui_model(t), s);
		return;
	}
	const struct model_jobs *mj = &s->u.jobs;
	js.list.n = (int)mj->n;
	tui_list_fix(&js.list, body);
	if (mj->n == 0)
		tui_cell(y, 2, cols - 2, TC_DIM, "no jobs match");
	for (int i = js.list.top; i < (int)mj->n && y < top + rows; i++, y++) {
		const struct job *j = &mj->jobs[i];
		bool marked = tui_marks_find(&js.marks, j->id) >= 0;
		enum tui_color c = i == js.list.sel ? TC_SELECTED : marked ? TC_MARKED : TC_NORMAL;
		char created[20], run_at[20] = "-";
		snprintf(created, sizeof(created), "%.19s", j->created_at);
		if (strlen(created) > 10)
			created[10] = ' ';
		if (j->run_at[0]) /* asked to run at: the time a scheduled job waits for */
			snprintf(run_at, sizeof(run_at), "%.19s", j->run_at);
		if (strlen(run_at) > 10)
			run_at[10] = ' ';
		const char *err = "";
		json_t *code = j->error ? json_object_get(j->error, "code") : NULL;
		if (code)
			err = json_string_value(code);
		tui_cellf(y, 0, cols, c, "%s %-8.8s %-16s ", marked ? "*" : " ", j->id, "");
		tui_cell(y, 11, 16, c, j->type);
		tui_cell(y, 28, 10, i == js.list.sel ? c : status_color(j->status), job_status_name(j->status));
		tui_cellf(y, 39, 6, c, "%2d/%-2d ", j->attempts, j->max_attempts);
		tui_cell(y, 45, 21, c, created);
		tui_cell(y, 66, 20, i == js.list.sel || j->status != JOB_SCHEDULED ? c : TC_WARN, run_at);
		tui_cell(y, 86, 7, c, jobprio_name(j->priority));
		if (errw > 4)
			tui_cell(y, 93, cols - 93, i == js.list.sel ? c : TC_DOWN, err ? err : "");
	}
	if (mj->total > mj->n && y < top + rows)
		tui_cellf(y, 2, cols - 2, TC_DIM, "… the first %zu of %zu shown; narrow the filter", mj->n, mj->total);
	model_snap_put(tui_model(t), s);
}

static void maybe_confirm(struct tui *t);

static void draw_jobs(struct tui *t, int top, int rows, int cols)
{
	draw_table(t, top, rows, cols);
	maybe_confirm(t);
}

static void want(struct tui *t)
{
	js.list.sel = js.list.top = 0;
	model_want_jobs(tui_model(t), &js.filter);
}

static void enter_jobs(struct tui *t)
{
	model_want_jobs(tui_model(t), &js.filter);
}

static struct tui_list *jobs_list(struct tui *t)
{
	(void)t;
	return &js.list;
}

static unsigned key_tab(struct tui *t, int key)
{
	int st = js.filter.status + (key == KEY_RIGHT || key == 'l' ? 1 : -1);
	if (st < -1)
		st = JOB_STATUS_COUNT - 1;
	if (st >= JOB_STATUS_COUNT)
		st = -1;
	js.filter.status = st;
	want(t);
	return TUI_REDRAW_ALL;
}

/* Make `text` the search if it is a valid query; else say where it is wrong and keep the search. */
static unsigned set_search(struct tui *t, const char *text)
{
	struct query_sql qs = QUERY_SQL_INIT;
	struct query_error qe;
	if (strlen(text) >= sizeof(js.filter.search)) {
		tui_message(t, true, "query: longer than %zu bytes", sizeof(js.filter.search) - 1);
		return TUI_REDRAW_STATUS;
	}
	if (query_compile(text, "jobs", 1, &qs, &qe) < 0) {
		tui_message(t, true, "query: column %d: %s", qe.column, qe.message);
		return TUI_REDRAW_STATUS;
	}
	query_sql_release(&qs);
	snprintf(js.filter.search, sizeof(js.filter.search), "%s", text);
	want(t);
	return TUI_REDRAW_ALL;
}

static unsigned search_done(struct tui *t, const char *text)
{
	return text ? set_search(t, text) : 0;
}

static unsigned key_search(struct tui *t, int key)
{
	(void)key;
	tui_prompt_text(t, "query (words, status=failed, params.height=720, error.message~timeout): ",
			js.filter.search, search_done);
	return TUI_REDRAW_STATUS;
}

/* `!`: the search negated, "not (QUERY)", or back again. */
static unsigned key_negate(struct tui *t, int key)
{
	(void)key;
	const char *s = js.filter.search;
	size_t n = strlen(s);
	char next[sizeof(js.filter.search) + 8];
	if (!n) {
		tui_message(t, true, "no query to negate: / sets one");
		return TUI_REDRAW_STATUS;
	}
	snprintf(next, sizeof(next), "not (%s)", s);
	if (n > 6 && !strncmp(s, "not (", 5) && s[n - 1] == ')') {
		/* "not (X)" back to X, only when it is the negation of X as a whole (not "not (a) or (b)") */
		char inner[sizeof(js.filter.search)];
		snprintf(inner, sizeof(inner), "%.*s", (int)(n - 6), s + 5);
		struct query_sql qx = QUERY_SQL_INIT, qs = QUERY_SQL_INIT;
		struct query_error qe;
		if (query_compile(inner, "jobs", 1, &qx, &qe) == 0 && query_compile(s, "jobs", 1, &qs, &qe) == 0) {
			struct buf b = BUF_INIT;
			buf_printf(&b, "(NOT coalesce(%s, false))", buf_str(&qx.sql));
			if (!strcmp(buf_str(&b), buf_str(&qs.sql)))
				snprintf(next, sizeof(next), "%s", inner);
			buf_release(&b);
		}
		query_sql_release(&qx);
		query_sql_release(&qs);
	}
	return set_search(t, next);
}

/* The job under the cursor, copied; false if none. */
static bool selected(struct tui *t, struct tui_mark *out)
{
	struct model_snap *s = current(t);
	bool ok = false;
	if (s && !*s->err && js.list.sel >= 0 && (size_t)js.list.sel < s->u.jobs.n) {
		const struct job *j = &s->u.jobs.jobs[js.list.sel];
		memcpy(out->id, j->id, sizeof(out->id));
		snprintf(out->type, sizeof(out->type), "%s", j->type);
		out->status = (int)j->status;
		ok = true;
	}
	model_snap_put(tui_model(t), s);
	return ok;
}

static unsigned key_mark(struct tui *t, int key)
{
	(void)key;
	struct tui_mark m;
	if (!selected(t, &m))
		return 0;
	tui_marks_toggle(&js.marks, &m);
	js.list.sel++;
	return TUI_REDRAW_BODY;
}

static unsigned key_unmark(struct tui *t, int key)
{
	(void)t;
	(void)key;
	tui_marks_clear(&js.marks);
	return TUI_REDRAW_BODY;
}

/* "12 failed media.probe jobs": the status and type when all of them share one. */
static void describe(size_t n, int status, const char *type, char *out, size_t size)
{
	char num[32];
	tui_thousands((long long)n, num, sizeof(num));
	snprintf(out, size, "%s%s%s%s%s job%s", num, status >= 0 ? " " : "",
		 status >= 0 ? job_status_name((enum job_status)status) : "", type ? " " : "", type ? type : "",
		 n == 1 ? "" : "s");
}

static unsigned confirm_done(struct tui *t, int key)
{
	if (key != 'y') {
		tui_message(t, false, "%s: nothing done", op_verb(js.pending.op));
		return TUI_REDRAW_STATUS;
	}
	struct model_action a = { .op = js.pending.op, .scope = js.pending.scope };
	char *one[1];
	char **ids = NULL;
	if (!strcmp(js.pending.scope, "marked")) {
		ids = tui_marks_ids(&js.marks);
		a.ids = ids;
		a.nids = js.marks.n;
		tui_marks_clear(&js.marks);
	} else {
		one[0] = js.pending.one.id;
		a.ids = one;
		a.nids = 1;
	}
	tui_action(t, &a);
	free(ids);
	tui_message(t, false, "%s: sent", op_verb(js.pending.op));
	return TUI_REDRAW_ALL;
}

static unsigned filter_confirmed(struct tui *t, int key)
{
	struct model_action a = { .op = key == 'y' ? MODEL_OP_SELECTION_ACT : MODEL_OP_SELECTION_DECLINE,
				  .scope = "filter", .use_filter = true, .filter = js.pending.filter };
	snprintf(a.selection, sizeof(a.selection), "%s", js.pending.selection);
	if (key != 'y') {
		model_action(tui_model(t), &a);
		return TUI_REDRAW_STATUS;
	}
	tui_action(t, &a);
	return TUI_REDRAW_ALL;
}

/* Once the jobs matching the filter are resolved: y/N with their count and first ids. */
static void maybe_confirm(struct tui *t)
{
	struct model_status st;
	model_status(tui_model(t), &st);
	if (!js.pending.awaiting || st.sel_version == js.pending.sel_seen)
		return;
	js.pending.awaiting = false;
	js.pending.sel_seen = st.sel_version;
	if (!*st.sel_id)
		return; /* nothing matched, or it failed: the status line says which */
	snprintf(js.pending.selection, sizeof(js.pending.selection), "%s", st.sel_id);
	char what[160], q[512];
	const struct model_filter *f = &js.pending.filter;
	describe((size_t)st.sel_count, f->status, *js.pending.type ? js.pending.type : NULL, what, sizeof(what));
	snprintf(q, sizeof(q), "%s %s%s%.160s%s (%s)? y/N ", op_verb(js.pending.op), what, *f->search ? " matching '" : "",
		 f->search, *f->search ? "'" : "", st.sel_sample);
	tui_prompt_key(t, q, "yn", filter_confirmed);
}

/* Resolve the jobs matching the filter into a selection; its y/N comes once it is (maybe_confirm). */
static unsigned resolve_filter(struct tui *t)
{
	struct model_snap *s = current(t);
	if (!s || *s->err) {
		model_snap_put(tui_model(t), s);
		tui_message(t, true, "the job list is not loaded yet: try again");
		return TUI_REDRAW_STATUS;
	}
	js.pending.scope = "filter";
	js.pending.filter = js.filter;
	js.pending.type[0] = '\0';
	if (s->u.jobs.n && s->u.jobs.n == s->u.jobs.total) {
		const char *type = s->u.jobs.jobs[0].type;
		for (size_t i = 1; i < s->u.jobs.n && type; i++)
			if (strcmp(s->u.jobs.jobs[i].type, type))
				type = NULL;
		if (type)
			snprintf(js.pending.type, sizeof(js.pending.type), "%s", type);
	}
	size_t total = s->u.jobs.total;
	model_snap_put(tui_model(t), s);
	if (!total) {
		tui_message(t, false, "%s: no job matches the filter", op_verb(js.pending.op));
		return TUI_REDRAW_STATUS;
	}
	struct model_status st;
	model_status(tui_model(t), &st);
	js.pending.sel_seen = st.sel_version;
	js.pending.awaiting = true;
	struct model_action a = { .op = MODEL_OP_FILTER_SELECT, .scope = "filter", .use_filter = true,
				  .filter = js.filter, .cancel = js.pending.op == MODEL_OP_CANCEL };
	model_action(tui_model(t), &a);
	tui_message(t, false, "%s: resolving the jobs matching the filter…", op_verb(js.pending.op));
	return TUI_REDRAW_STATUS;
}

/* Ask y/N for the scope chosen with s/m (a: once its selection is resolved). */
static unsigned scope_done(struct tui *t, int key)
{
	char what[160], q[512];
	enum model_op op = js.pending.op;
	if (key == 's') {
		if (!selected(t, &js.pending.one))
			return 0;
		js.pending.scope = "selected";
		describe(1, js.pending.one.status, js.pending.one.type, what, sizeof(what));
		snprintf(q, sizeof(q), "%s %s (%.8s)? y/N ", op_verb(op), what, js.pending.one.id);
	} else if (key == 'm' && js.marks.n) {
		js.pending.scope = "marked";
		int status = js.marks.v[0].status;
		const char *type = js.marks.v[0].type;
		for (size_t i = 1; i < js.marks.n; i++) {
			if (js.marks.v[i].status != status)
				status = -1;
			if (type && strcmp(js.marks.v[i].type, type))
				type = NULL;
		}
		describe(js.marks.n, status, type, what, sizeof(what));
		snprintf(q, sizeof(q), "%s %s (marked)? y/N ", op_verb(op), what);
	} else if (key == 'a') {
		return resolve_filter(t);
	} else {
		return 0;
	}
	tui_prompt_key(t, q, "yn", confirm_done);
	return TUI_REDRAW_STATUS;
}

static unsigned key_action(struct tui *t, int key)
{
	js.pending.op = key == 'R' ? MODEL_OP_RETRY : MODEL_OP_CANCEL;
	if (tui_read_only(t)) {
		tui_message(t, true, "read-only: %s is disabled (--read-only or adminctl.read_only)", op_verb(js.pending.op));
		return TUI_REDRAW_STATUS;
	}
	struct model_snap *s = current(t);
	size_t total = s && !*s->err ? s->u.jobs.total : 0;
	model_snap_put(tui_model(t), s);
	char q[200], all[32];
	tui_thousands((long long)total, all, sizeof(all));
	if (js.marks.n)
		snprintf(q, sizeof(q), "%s: (s)elected job, (m)arked %zu, (a)ll %s matching the filter? ",
			 op_verb(js.pending.op), js.marks.n, all);
	else
		snprintf(q, sizeof(q), "%s: (s)elected job or (a)ll %s matching the filter? ", op_verb(js.pending.op),
			 all);
	tui_prompt_key(t, q, js.marks.n ? "sma" : "sa", scope_done);
	return TUI_REDRAW_STATUS;
}

static unsigned key_open(struct tui *t, int key)
{
	(void)key;
	struct tui_mark m;
	if (!selected(t, &m))
		return 0;
	model_want_job(tui_model(t), m.id);
	tui_show(t, 2);
	return TUI_REDRAW_ALL;
}

static const struct tui_key jobs_keys[] = {
	{ { KEY_LEFT, 'h', KEY_RIGHT, 'l' }, "←→ hl", "tab", "status tab", key_tab },
	{ { '/' }, "/", "query", "filter by a query: words, status=failed, error.code=x (adminctl(8))", key_search },
	{ { '!' }, "!", NULL, "negate the query (not (QUERY)), and back", key_negate },
	{ { ' ' }, "Space", "mark", "mark the job (and move down)", key_mark },
	{ { 'u' }, "u", NULL, "unmark all", key_unmark },
	{ { 'R' }, "R", "retry", "retry the selected, marked or matching jobs", key_action },
	{ { 'C' }, "C", "cancel", "cancel the selected, marked or matching jobs", key_action },
	{ { '\n', '\r', KEY_ENTER }, "Enter", "show", "show the job", key_open },
	{ .label = NULL },
};

/* `e`: the jobs of the current tab and search, every field whole. */
static bool export_jobs(struct tui *t, struct table *out)
{
	static const struct table_col cols[] = {
		{ "ID", 0 },	  { "STATUS", 0 },   { "TYPE", 0 },	{ "TENANT", 0 },   { "ATTEMPTS", 0 },
		{ "MAX ATTEMPTS", 0 }, { "CREATED", 0 }, { "RUN AT", 0 }, { "STARTED", 0 }, { "FINISHED", 0 },
		{ "WORKER", 0 }, { "PARAMS", 0 },	 { "RESULT", 0 },	{ "ERROR", 0 },
	};
	struct model_snap *s = current(t);
	if (!s || *s->err) {
		model_snap_put(tui_model(t), s);
		return false;
	}
	table_init(out, cols, sizeof(cols) / sizeof(cols[0]));
	for (size_t i = 0; i < s->u.jobs.n; i++) {
		const struct job *j = &s->u.jobs.jobs[i];
		table_row(out);
		table_cell(out, j->id);
		table_cell(out, job_status_name(j->status));
		table_cell(out, j->type);
		table_cell(out, j->tenant);
		table_cellf(out, "%d", j->attempts);
		table_cellf(out, "%d", j->max_attempts);
		table_cell(out, j->created_at);
		table_cell(out, j->run_at);
		table_cell(out, j->started_at);
		table_cell(out, j->finished_at);
		table_cell(out, j->worker_id);
		tui_json_cell(out, j->params);
		tui_json_cell(out, j->result);
		tui_json_cell(out, j->error);
	}
	model_snap_put(tui_model(t), s);
	return true;
}

/* Another context: its jobs are not these, none stays marked. */
static void forget_jobs(struct tui *t)
{
	(void)t;
	tui_marks_clear(&js.marks);
	js.list.sel = js.list.top = 0;
	js.pending.awaiting = false; /* a selection being resolved is the old context's */
}

const struct tui_screen tui_jobs_screen = {
	.name = "Jobs",
	.kind = MODEL_JOBS,
	.keys = jobs_keys,
	.enter = enter_jobs,
	.draw = draw_jobs,
	.list = jobs_list,
	.export = export_jobs,
	.forget = forget_jobs,
};
