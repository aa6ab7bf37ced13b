/*
 * The Events screen (`:events`): the events of spool.events as they happen,
 * newest first, from the model's consumer (model-events.c), the newest
 * MODEL_EVENTS_MAX of them. `p` pauses the view (it keeps the snapshot it
 * shows while the ring goes on filling) and resumes it; Enter opens the job of
 * the selected event.
 */
#include <stdio.h>
#include <string.h>

#include "tui.h"

static struct tui_list el;
static struct model_snap *frozen; /* the snapshot shown while paused, else NULL */

static void draw_events(struct tui *t, int top, int rows, int cols)
{
	struct model *m = tui_model(t);
	struct model_snap *s = frozen ? frozen : model_snap_get(m, MODEL_EVENTS);
	int y = top;
	if (!s) {
		tui_cell(y++, 0, cols, TC_HEADER, "Events");
		tui_cell(y, 2, cols - 2, TC_WARN, "loading…");
		return;
	}
	const struct model_events *e = &s->u.events;
	tui_cellf(y++, 0, cols, frozen ? TC_WARN : TC_HEADER, "Events %s, newest first: %zu shown of %lu seen%s",
		  frozen ? "PAUSED (p resumes)" : e->live ? "live" : "(RabbitMQ away, reconnecting)", e->n, e->total,
		  frozen ? "" : " (p pauses)");
	tui_cellf(y++, 0, cols, TC_HEADER, "  %-12s %-14s %-36s %-16s %-12s %3s  %s", "time", "event", "job", "type",
		  "tenant", "att", "error");
	if (e->n == 0)
		tui_cell(y, 2, cols - 2, TC_DIM, "no event yet: they show here as jobs change state");
	el.n = (int)e->n;
	tui_list_fix(&el, top + rows - y);
	for (int i = el.top; i < el.n && y < top + rows; i++, y++) {
		const struct ev_record *r = &e->ev[i];
		/* the time of day of "2026-12-07T02:10:00.123Z" */
		const char *tod = strlen(r->at) > 11 ? r->at + 11 : r->at;
		enum tui_color c = i == el.sel ? TC_SELECTED
				   : !strcmp(r->event, "job.failed") ? TC_DOWN
				   : !strcmp(r->event, "job.retrying") ? TC_WARN
				   : !strcmp(r->event, "job.succeeded") ? TC_OK
									 : TC_NORMAL;
		tui_cellf(y, 0, cols, c, "  %-12.12s %-14.14s %-36s %-16.16s %-12.12s %3d  %s", tod, r->event, r->job_id,
			  r->type, r->tenant, r->attempt, *r->error ? r->error : "");
	}
	if (!frozen)
		model_snap_put(m, s);
}

static struct tui_list *events_list_of(struct tui *t)
{
	(void)t;
	return &el;
}

static void enter_events(struct tui *t)
{
	model_refresh(tui_model(t), MODEL_EVENTS);
}

static unsigned key_pause(struct tui *t, int key)
{
	(void)key;
	struct model *m = tui_model(t);
	if (frozen) {
		model_snap_put(m, frozen);
		frozen = NULL;
		tui_message(t, false, "events resumed");
	} else {
		frozen = model_snap_get(m, MODEL_EVENTS);
		tui_message(t, false, "events paused: p resumes");
	}
	return TUI_REDRAW_ALL;
}

static unsigned key_open(struct tui *t, int key)
{
	(void)key;
	struct model *m = tui_model(t);
	struct model_snap *s = frozen ? frozen : model_snap_get(m, MODEL_EVENTS);
	if (s && el.sel >= 0 && (size_t)el.sel < s->u.events.n) {
		model_want_job(m, s->u.events.ev[el.sel].job_id);
		tui_show(t, 2);
	}
	if (!frozen)
		model_snap_put(m, s);
	return TUI_REDRAW_ALL;
}

static const struct tui_key events_keys[] = {
	{ { 'p' }, "p", "pause", "pause or resume the live events", key_pause },
	{ { '\n', '\r', KEY_ENTER }, "Enter", "show", "show the job of the selected event", key_open },
	{ .label = NULL },
};

const struct tui_screen tui_events_screen = {
	.name = "Events",
	.kind = MODEL_EVENTS,
	.keys = events_keys,
	.enter = enter_events,
	.draw = draw_events,
	.list = events_list_of,
};
