/*
 * Screen 4, Dead letters: what the spool.dead queue holds. Messages land there
 * when a worker rejects them (poison messages); the count and consumers come
 * from the broker.
 */
#include <stdio.h>

#include "tui.h"

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
		if (y < top + rows)
			tui_cell(y++, 2, cols - 2, TC_DIM,
				 "messages here could not be decoded or were rejected by a worker;");
		if (y < top + rows)
			tui_cell(y++, 2, cols - 2, TC_DIM, "failed jobs are on the Jobs screen (2, tab failed).");
	}
	model_snap_put(tui_model(t), s);
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
};
