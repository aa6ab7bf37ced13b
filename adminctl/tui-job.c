/*
 * Screen 3, Job: one job — its fields, then its whole source, params, result
 * and error as indented JSON, then the event timeline from job_events (each
 * event's error whole), every line wrapped to the screen's width, never cut.
 * The arrow keys scroll a line, PgUp/PgDn a page, Home/End to either end; the
 * last row says which lines are shown. Enter on the Jobs screen opens it; q
 * goes back. Enter on the Archive screen opens an archived job here the same
 * way, drawn from its archived line (tui_job_show_archived) instead of the
 * database.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "timefmt.h"
#include "tui.h"

static struct tui_list jl;
/* The archived line shown instead of the MODEL_JOB snapshot (owned: a copy of the snapshot's), or NULL. */
static json_t *archived;
static bool opening_archived;

/* Lines of the detail, built per draw from the snapshot (owned by `lines`). */
struct lines {
	char **v;
	enum tui_color *c;
	size_t n;
};

static void add(struct lines *l, enum tui_color c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->c);
	memset(l, 0, sizeof(*l));
}

/*
 * Each line of `in` as lines of at most `width` code points into `out`, a
 * continuation indented by 4 (code points stand for cells: JSON and logs are
 * seldom wide).
 */
static void wrap(const struct lines *in, int width, struct lines *out)
{
	if (width < 16)
		width = 16;
	for (size_t i = 0; i < in->n; i++) {
		const char *p = in->v[i];
		bool first = true;
		do {
			int room = first ? width : width - 4, n = 0;
			const char *q = p;
			while (*q && n < room) {
				q++;
				while (((unsigned char)*q & 0xc0) == 0x80)
					q++;
				n++;
			}
			add(out, in->c[i], "%s%.*s", first ? "" : "    ", (int)(q - p), p);
			p = q;
			first = false;
		} while (*p);
	}
}
static void add(struct lines *l, enum tui_color c, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
	l->c = xrealloc(l->c, (l->n + 1) * sizeof(*l->c));
	l->c[l->n] = c;
	l->v[l->n++] = buf_detach(&b);
}

/* JSON as indented lines. */
static void add_json(struct lines *l, const char *title, json_t *v)
{
	add(l, TC_HEADER, "%s", title);
	if (!v) {
		add(l, TC_DIM, "  -");
		return;
	}
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	for (char *line = s, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		add(l, TC_NORMAL, "  %s", line);
	}
	free(s);
}

static void build(const struct model_job *mj, struct lines *l)
{
	const struct job *j = &mj->job;
	add(l, TC_HEADER, "job %s", j->id);
	add(l, TC_NORMAL, "  type %s   tenant %s   status %s   priority %s   attempts %d/%d   progress %d%s", j->type,
	    j->tenant, job_status_name(j->status), jobprio_name(j->priority), j->attempts, j->max_attempts, j->progress,
	    j->cancel_requested ? "   cancel requested" : "");
	add(l, TC_NORMAL, "  created %s   started %s   finished %s", j->created_at, *j->started_at ? j->started_at : "-",
	    *j->finished_at ? j->finished_at : "-");
	if (*j->run_at)
		add(l, TC_NORMAL, "  run at %s", j->run_at);
	if (j->worker_id)
		add(l, TC_NORMAL, "  worker %s   lease until %s", j->worker_id, j->lease_until);
	if (j->error) {
		json_t *code = json_object_get(j->error, "code");
		add(l, TC_DOWN, "  error %s", code ? json_string_value(code) : "?");
	}
	add(l, TC_NORMAL, "%s", "");
	add_json(l, "source", j->source);
	add_json(l, "params", j->params);
	add_json(l, "result", j->result);
	if (j->error)
		add_json(l, "error", j->error);
	add(l, TC_NORMAL, "%s", "");
	add(l, TC_HEADER, "events (%zu)", mj->nevents);
	for (size_t i = 0; i < mj->nevents; i++) {
		const struct jobops_event *e = &mj->events[i];
		char *err = e->error ? json_dumps(e->error, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		char *det = e->detail ? json_dumps(e->detail, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		add(l, e->error ? TC_DOWN : TC_NORMAL, "  %s  %-10s %-10s #%d %s%s%s%s%s", e->at, e->event, e->status,
		    e->attempt, e->worker_id ? e->worker_id : "", err ? "  " : "", err ? err : "", det ? "  " : "",
		    det ? det : "");
		free(err);
		free(det);
	}
}

/* The detail of an archived line {"finished_at", "job": columns of jobs, "events": columns of job_events}. */
static void build_archived(json_t *line, struct lines *l)
{
	json_t *j = json_object_get(line, "job"), *events = json_object_get(line, "events"), *e;
	char t1[TIMEFMT_UTC_SIZE], t2[TIMEFMT_UTC_SIZE], t3[TIMEFMT_UTC_SIZE];
	size_t i;
	add(l, TC_HEADER, "job %s (archived)", tui_json_text(j, "id", NULL));
	add(l, TC_NORMAL, "  type %s   tenant %s   status %s   priority %s   attempts %lld/%lld",
	    tui_json_text(j, "type", NULL), tui_json_text(j, "tenant_id", NULL), tui_json_text(j, "status", NULL),
	    tui_json_text(j, "priority", NULL), (long long)json_integer_value(json_object_get(j, "attempts")),
	    (long long)json_integer_value(json_object_get(j, "max_attempts")));
	add(l, TC_NORMAL, "  created %s   started %s   finished %s", tui_json_text(j, "created_at", t1),
	    tui_json_text(j, "started_at", t2), tui_json_text(line, "finished_at", t3));
	json_t *err = json_object_get(j, "error");
	if (json_is_object(err))
		add(l, TC_DOWN, "  error %s", tui_json_text(err, "code", NULL));
	add(l, TC_NORMAL, "%s", "");
	add_json(l, "source", json_is_null(json_object_get(j, "source")) ? NULL : json_object_get(j, "source"));
	add_json(l, "params", json_object_get(j, "params"));
	add_json(l, "result", json_is_null(json_object_get(j, "result")) ? NULL : json_object_get(j, "result"));
	if (json_is_object(err))
		add_json(l, "error", err);
	add(l, TC_NORMAL, "%s", "");
	add(l, TC_HEADER, "events (%zu)", json_array_size(events));
	json_array_foreach(events, i, e) {
		json_t *ee = json_object_get(e, "error"), *det = json_object_get(e, "detail");
		char *es = json_is_null(ee) || !ee ? NULL : json_dumps(ee, JSON_COMPACT | JSON_ENCODE_ANY);
		char *ds = json_is_null(det) || !det ? NULL : json_dumps(det, JSON_COMPACT | JSON_ENCODE_ANY);
		const char *w = json_string_value(json_object_get(e, "worker_id"));
		add(l, es ? TC_DOWN : TC_NORMAL, "  %s  %-10s %-10s #%lld %s%s%s%s%s", tui_json_text(e, "at", t1),
		    tui_json_text(e, "event", NULL), tui_json_text(e, "status", NULL),
		    (long long)json_integer_value(json_object_get(e, "attempt")), w ? w : "", es ? "  " : "",
		    es ? es : "", ds ? "  " : "", ds ? ds : "");
		free(es);
		free(ds);
	}
}

/* The lines of `raw` wrapped to `cols` and drawn from the scroll position; frees raw. */
static void draw_lines(struct lines *raw, int top, int rows, int cols)
{
	struct lines l = { 0 };
	wrap(raw, cols - 1, &l);
	lines_free(raw);
	/* a scrolling text: the cursor is the first line shown; the last row says where it is */
	int shown = (int)l.n > rows ? rows - 1 : rows;
	jl.n = (int)l.n;
	if (jl.sel > jl.n - shown)
		jl.sel = jl.n - shown;
	if (jl.sel < 0)
		jl.sel = 0;
	jl.top = jl.sel;
	for (int i = 0; i < shown && jl.top + i < jl.n; i++)
		tui_cell(top + i, 0, cols, l.c[jl.top + i], l.v[jl.top + i]);
	if (shown < rows)
		tui_cellf(top + rows - 1, 0, cols, TC_DIM, "lines %d–%d of %d%s   ↑↓ PgUp/PgDn Home/End scroll",
			  jl.top + 1, jl.top + shown, jl.n, jl.top + shown >= jl.n ? " (end)" : "");
	lines_free(&l);
}

static void draw_job(struct tui *t, int top, int rows, int cols)
{
	struct lines raw = { 0 };
	if (archived) {
		build_archived(archived, &raw);
		draw_lines(&raw, top, rows, cols);
		return;
	}
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_JOB);
	if (!s || !*s->u.job.id) {
		tui_cell(top, 2, cols - 2, TC_DIM, s ? "no job chosen: Enter on a job in the Jobs screen (2)" : "loading…");
		model_snap_put(tui_model(t), s);
		return;
	}
	if (*s->err) {
		tui_cell(top, 2, cols - 2, TC_DOWN, s->err);
	} else if (!s->u.job.found) {
		tui_cellf(top, 2, cols - 2, TC_DOWN, "no job '%s'", s->u.job.id);
	} else {
		build(&s->u.job, &raw);
		draw_lines(&raw, top, rows, cols);
	}
	model_snap_put(tui_model(t), s);
}

/* Made visible: from the start of the text; a job of the database unless tui_job_show_archived() opens it. */
static void enter_job(struct tui *t)
{
	(void)t;
	jl.sel = jl.top = 0;
	if (!opening_archived) {
		json_decref(archived);
		archived = NULL;
	}
}

static void forget_job(struct tui *t)
{
	(void)t;
	json_decref(archived);
	archived = NULL;
}

void tui_job_show_archived(struct tui *t, json_t *line)
{
	json_decref(archived);
	/* a deep copy: the snapshot holding `line` is freed on whichever thread drops it last */
	archived = json_deep_copy(line);
	opening_archived = true;
	tui_show(t, 2);
	opening_archived = false;
}

static struct tui_list *job_list_pos(struct tui *t)
{
	(void)t;
	return &jl;
}

static const struct table_col event_cols[] = {
	{ "JOB", 0 }, { "AT", 0 }, { "EVENT", 0 }, { "STATUS", 0 }, { "ATTEMPT", 0 }, { "WORKER", 0 },
	{ "ERROR", 0 }, { "DETAIL", 0 },
};

/* `e` on an archived job: its archived events, as the database's are exported. */
static void export_archived(struct table *out)
{
	json_t *events = json_object_get(archived, "events"), *e;
	const char *id = json_string_value(json_object_get(json_object_get(archived, "job"), "id"));
	char at[TIMEFMT_UTC_SIZE];
	size_t i;
	table_init(out, event_cols, 8);
	json_array_foreach(events, i, e) {
		table_row(out);
		table_cell(out, id);
		table_cell(out, tui_json_text(e, "at", at));
		table_cell(out, json_string_value(json_object_get(e, "event")));
		table_cell(out, json_string_value(json_object_get(e, "status")));
		table_cellf(out, "%lld", (long long)json_integer_value(json_object_get(e, "attempt")));
		table_cell(out, json_string_value(json_object_get(e, "worker_id")));
		tui_json_cell(out, json_is_null(json_object_get(e, "error")) ? NULL : json_object_get(e, "error"));
		tui_json_cell(out, json_is_null(json_object_get(e, "detail")) ? NULL : json_object_get(e, "detail"));
	}
}

/* `e`: the job's event timeline, each event's error and detail whole. */
static bool export_job(struct tui *t, struct table *out)
{
	if (archived) {
		export_archived(out);
		return true;
	}
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_JOB);
	if (!s || *s->err || !s->u.job.found) {
		model_snap_put(tui_model(t), s);
		return false;
	}
	table_init(out, event_cols, 8);
	for (size_t i = 0; i < s->u.job.nevents; i++) {
		const struct jobops_event *e = &s->u.job.events[i];
		table_row(out);
		table_cell(out, s->u.job.id);
		table_cell(out, e->at);
		table_cell(out, e->event);
		table_cell(out, e->status);
		table_cellf(out, "%d", e->attempt);
		table_cell(out, e->worker_id);
		tui_json_cell(out, e->error);
		tui_json_cell(out, e->detail);
	}
	model_snap_put(tui_model(t), s);
	return true;
}

const struct tui_screen tui_job_screen = {
	.name = "Job",
	.kind = MODEL_JOB,
	.enter = enter_job,
	.draw = draw_job,
	.list = job_list_pos,
	.export = export_job,
	.forget = forget_job,
};
