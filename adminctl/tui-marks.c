/* tui-marks — the set of marked jobs shared by the Jobs and Dead screens. See tui.h. */
#include <stdlib.h>
#include <string.h>

#include "tui.h"

int tui_marks_find(const struct tui_marks *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].id, id))
			return (int)i;
	return -1;
}

void tui_marks_toggle(struct tui_marks *s, const struct tui_mark *m)
{
	int i = tui_marks_find(s, m->id);
	if (i >= 0) {
		s->v[i] = s->v[--s->n];
		return;
	}
	struct tui_mark *v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
	if (!v)
		tui_fatal("out of memory");
	s->v = v;
	s->v[s->n++] = *m;
}

void tui_marks_clear(struct tui_marks *s)
{
	s->n = 0;
}

char **tui_marks_ids(const struct tui_marks *s)
{
	char **ids = calloc(s->n + 1, sizeof(char *));
	if (!ids)
		tui_fatal("out of memory");
	for (size_t i = 0; i < s->n; i++)
		ids[i] = s->v[i].id;
	return ids;
}

void tui_marks_draw(const struct tui_marks *s, int y, int cols)
{
	if (s->n)
		tui_cellf(y, cols - 16, 16, TC_MARKED, "%zu marked", s->n);
}
