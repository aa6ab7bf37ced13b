/*
 * Screen 4, Dead letters: what the spool.dead queue holds. Messages land there
 * when a job failed for good or a worker could not decode them (poison). The
 * list is read without acknowledging, so it changes nothing.
 */
#include <stdio.h>

#include "tui.h"

static struct tui_list dl;

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
		y++;
		const struct model_dead *d = &s->u.dead;
		if (d->nmsgs)
			tui_cellf(y++, 0, cols, TC_HEADER, "  %-8s %-16s %7s  %s", "job", "type", "attempt", "body / why");
		dl.n = (int)d->nmsgs;
		tui_list_fix(&dl, top + rows - y);
		for (int i = dl.top; i < dl.n && y < top + rows; i++, y++) {
			const struct jobops_dead *m = &d->msgs[i];
			enum tui_color col = i == dl.sel ? TC_SELECTED : m->poison ? TC_WARN : TC_NORMAL;
			if (m->poison)
				tui_cellf(y, 0, cols, col, "  %-8s %-16s %7s  %s: %.*s", "poison", "-", "-",
					  m->reason ? m->reason : "not a job message", (int)(m->len > 200 ? 200 : m->len), m->body);
			else
				tui_cellf(y, 0, cols, col, "  %-8.8s %-16s %7d  %.*s", m->msg.id, m->msg.type, m->msg.attempt,
					  (int)(m->len > 200 ? 200 : m->len), m->body);
		}
		if (d->messages > (int64_t)d->nmsgs && y < top + rows)
			tui_cellf(y, 2, cols - 2, TC_DIM, "… the first %zu shown", d->nmsgs);
	}
	model_snap_put(tui_model(t), s);
}

static struct tui_list *dead_list(struct tui *t)
{
	(void)t;
	return &dl;
}

static void enter_dead(struct tui *t)
{
	model_refresh(tui_model(t), MODEL_DEAD);
}

const struct tui_screen tui_dead_screen = {
	.name = "Dead",
	.kind = MODEL_DEAD,
	.enter = enter_dead,
	.draw = draw_dead,
	.list = dead_list,
};
