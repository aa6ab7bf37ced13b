/*
 * The audit trail (`a` on the Overview; q goes back): the newest operator
 * actions from the CLI and the TUI — when, who, what, on what, how many.
 * Enter shows the selected entry's detail in the status line.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tui.h"

static struct tui_list al;

static void draw_audit(struct tui *t, int top, int rows, int cols)
{
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_AUDIT);
	int y = top;
	tui_cell(y++, 0, cols, TC_HEADER, "Audit trail (newest first; q: back to the Overview)");
	if (!s) {
		tui_cell(y, 2, cols - 2, TC_WARN, "loading…");
		return;
	}
	if (*s->err) {
		tui_cellf(y, 2, cols - 2, TC_DOWN, "unavailable: %s", s->err);
		model_snap_put(tui_model(t), s);
		return;
	}
	const struct model_audit *a = &s->u.audit;
	tui_cellf(y++, 0, cols, TC_HEADER, "  %-19s %-14s %-14s %-32s %7s  %s", "when", "who", "action", "target",
		  "count", "detail");
	if (a->n == 0)
		tui_cell(y, 2, cols - 2, TC_DIM, "no action recorded yet");
	al.n = (int)a->n;
	tui_list_fix(&al, top + rows - y);
	for (int i = al.top; i < al.n && y < top + rows; i++, y++) {
		const struct audit_entry *e = &a->entries[i];
		char when[20], *detail = e->detail ? json_dumps(e->detail, JSON_COMPACT) : NULL;
		snprintf(when, sizeof(when), "%.19s", e->at);
		if (when[0] && when[10] == 'T')
			when[10] = ' ';
		tui_cellf(y, 0, cols, i == al.sel ? TC_SELECTED : TC_NORMAL, "  %-19s %-14.14s %-14.14s %-32.32s %7d  %s",
			  when, e->actor, e->action, e->target ? e->target : "-", e->count, detail ? detail : "");
		free(detail);
	}
	model_snap_put(tui_model(t), s);
}

static struct tui_list *audit_list_of(struct tui *t)
{
	(void)t;
	return &al;
}

static void enter_audit(struct tui *t)
{
	model_refresh(tui_model(t), MODEL_AUDIT);
}

/* The selected entry's whole detail, which the table cuts. */
static unsigned key_detail(struct tui *t, int key)
{
	(void)key;
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_AUDIT);
	if (s && !*s->err && al.sel >= 0 && (size_t)al.sel < s->u.audit.n) {
		const struct audit_entry *e = &s->u.audit.entries[al.sel];
		char *detail = e->detail ? json_dumps(e->detail, JSON_COMPACT) : NULL;
		tui_message(t, false, "%s %s: %s", e->action, e->target ? e->target : "-", detail ? detail : "no detail");
		free(detail);
	}
	model_snap_put(tui_model(t), s);
	return TUI_REDRAW_STATUS;
}

static const struct tui_key audit_keys[] = {
	{ { '\n', '\r', KEY_ENTER }, "Enter", "detail", "the entry's whole detail in the status line", key_detail },
	{ .label = NULL },
};

/* `e`: the entries shown, their detail whole. */
static bool export_audit(struct tui *t, struct table *out)
{
	static const struct table_col cols[] = {
		{ "AT", 0 }, { "ACTOR", 0 }, { "ACTION", 0 }, { "TARGET", 0 }, { "COUNT", 0 }, { "DETAIL", 0 },
	};
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_AUDIT);
	if (!s || *s->err) {
		model_snap_put(tui_model(t), s);
		return false;
	}
	table_init(out, cols, 6);
	for (size_t i = 0; i < s->u.audit.n; i++) {
		const struct audit_entry *e = &s->u.audit.entries[i];
		table_row(out);
		table_cell(out, e->at);
		table_cell(out, e->actor);
		table_cell(out, e->action);
		table_cell(out, e->target);
		table_cellf(out, "%d", e->count);
		tui_json_cell(out, e->detail);
	}
	model_snap_put(tui_model(t), s);
	return true;
}

const struct tui_screen tui_audit_screen = {
	.name = "Audit",
	.kind = MODEL_AUDIT,
	.keys = audit_keys,
	.enter = enter_audit,
	.draw = draw_audit,
	.list = audit_list_of,
	.export = export_audit,
};
