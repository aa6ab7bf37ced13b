/*
 * Screen 3, Job: one job — its fields, params, attempts, the event timeline
 * from job_events and its error. Enter on the Jobs screen opens it; q goes back.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tui.h"

static struct tui_list jl;

/* Lines of the detail, built per draw from the snapshot (owned by `lines`). */
struct lines {
	char **v;
	enum tui_color *c;
	size_t n;
};

static void add(struct lines *l, enum tui_color c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
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
	add(l, TC_NORMAL, "  type %s   tenant %s   status %s   attempts %d/%d   progress %d%s", j->type, j->tenant,
	    job_status_name(j->status), j->attempts, j->max_attempts, j->progress, j->cancel_requested ? "   cancel requested" : "");
	add(l, TC_NORMAL, "  created %s   started %s   finished %s", j->created_at, *j->started_at ? j->started_at : "-",
	    *j->finished_at ? j->finished_at : "-");
	if (*j->run_at)
		add(l, TC_NORMAL, "  run at %s", j->run_at);
	if (j->worker_id)
		add(l, TC_NORMAL, "  worker %s   lease until %s", j->worker_id, j->lease_until);
	if (j->error) {
		json_t *code = json_object_get(j->error, "code"), *msg = json_object_get(j->error, "message");
		add(l, TC_DOWN, "  error %s: %s", code ? json_string_value(code) : "?", msg ? json_string_value(msg) : "");
	}
	add(l, TC_NORMAL, "%s", "");
	add_json(l, "source", j->source);
	add_json(l, "params", j->params);
	if (j->result)
		add_json(l, "result", j->result);
	add(l, TC_NORMAL, "%s", "");
	add(l, TC_HEADER, "events (%zu)", mj->nevents);
	for (size_t i = 0; i < mj->nevents; i++) {
		const struct jobops_event *e = &mj->events[i];
		char *err = e->error ? json_dumps(e->error, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		add(l, e->error ? TC_DOWN : TC_NORMAL, "  %s  %-10s %-10s #%d %s%s%s", e->at, e->event, e->status, e->attempt,
		    e->worker_id ? e->worker_id : "", err ? "  " : "", err ? err : "");
		free(err);
	}
}

static void draw_job(struct tui *t, int top, int rows, int cols)
{
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
		struct lines l = { 0 };
		build(&s->u.job, &l);
		jl.n = (int)l.n;
		if (jl.sel < jl.top || jl.sel >= jl.top + rows)
			jl.top = jl.sel < jl.top ? jl.sel : jl.sel - rows + 1;
		if (jl.top > jl.n - rows)
			jl.top = jl.n - rows;
		if (jl.top < 0)
			jl.top = 0;
		for (int i = 0; i < rows && jl.top + i < jl.n; i++)
			tui_cell(top + i, 0, cols, l.c[jl.top + i], l.v[jl.top + i]);
		for (size_t i = 0; i < l.n; i++)
			free(l.v[i]);
		free(l.v);
		free(l.c);
	}
	model_snap_put(tui_model(t), s);
}

static void enter_job(struct tui *t)
{
	(void)t;
	jl.sel = jl.top = 0;
}

static struct tui_list *job_list_pos(struct tui *t)
{
	(void)t;
	return &jl;
}

const struct tui_screen tui_job_screen = {
	.name = "Job",
	.kind = MODEL_JOB,
	.enter = enter_job,
	.draw = draw_job,
	.list = job_list_pos,
};
