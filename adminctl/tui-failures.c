/*
 * Failure groups (`f` on the Overview; q goes back): failed and retrying jobs
 * grouped by error signature, largest first. Enter shows the selected group's
 * jobs (Enter again: back to the groups). R and C retry or cancel the whole
 * group through a frozen selection: the fetch thread resolves it, the count is
 * asked for with y/N, and only then is it acted on (or declined).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"

static struct tui_list gl, jl;
static bool in_group;
static char group[16];
/* a selection asked for: its confirmation waits for sel_version to move past sel_seen */
static bool awaiting;
static unsigned long sel_seen;
static char sel_id[24];

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

/* A JSON array of strings joined with commas into `out` (size bytes). */
static void join(const json_t *arr, char *out, size_t size)
{
	size_t i, len = 0;
	json_t *v;
	out[0] = '\0';
	json_array_foreach(arr, i, v)
	{
		int w = snprintf(out + len, size - len, "%s%s", i ? "," : "", json_string_value(v));
		if (w < 0 || (size_t)w >= size - len)
			break;
		len += (size_t)w;
	}
}

static unsigned confirm_done(struct tui *t, int key)
{
	struct model_action a = { .op = key == 'y' ? MODEL_OP_SELECTION_ACT : MODEL_OP_SELECTION_DECLINE,
				  .scope = "group" };
	snprintf(a.selection, sizeof(a.selection), "%s", sel_id);
	tui_action(t, &a);
	return TUI_REDRAW_STATUS;
}

/* Once the selection asked for is resolved: ask for the count's confirmation. */
static void maybe_confirm(struct tui *t)
{
	struct model_status st;
	model_status(tui_model(t), &st);
	if (!awaiting || st.sel_version == sel_seen)
		return;
	awaiting = false;
	sel_seen = st.sel_version;
	if (!*st.sel_id)
		return; /* nothing matched, or it failed: the status line says which */
	snprintf(sel_id, sizeof(sel_id), "%s", st.sel_id);
	char q[160];
	snprintf(q, sizeof(q), "%s %lld jobs of group %s (selection %s)? y/N", st.sel_action, st.sel_count, group,
		 st.sel_id);
	tui_prompt_key(t, q, "yn", confirm_done);
}

static void draw_groups(const json_t *groups, int y, int top, int rows, int cols)
{
	tui_cellf(y++, 0, cols, TC_HEADER, "  %-12s %7s  %-19s %-16s %s", "group", "count", "last seen", "types",
		  "signature");
	if (json_array_size(groups) == 0)
		tui_cell(y, 2, cols - 2, TC_DIM, "no failed or retrying job");
	gl.n = (int)json_array_size(groups);
	tui_list_fix(&gl, top + rows - y);
	for (int i = gl.top; i < gl.n && y < top + rows; i++, y++) {
		const json_t *g = json_array_get(groups, (size_t)i);
		char types[64], last[20];
		join(json_object_get(g, "types"), types, sizeof(types));
		snprintf(last, sizeof(last), "%.19s", str(g, "last_seen"));
		if (last[0] && last[10] == 'T')
			last[10] = ' ';
		tui_cellf(y, 0, cols, i == gl.sel ? TC_SELECTED : TC_NORMAL, "  %-12s %7lld  %-19s %-16.16s %s",
			  str(g, "group"), (long long)json_integer_value(json_object_get(g, "count")), last, types,
			  str(g, "signature"));
	}
}

static void draw_jobs(const struct model_failures *f, int y, int top, int rows, int cols)
{
	if (strcmp(f->group, group) || !f->jobs) {
		tui_cell(y, 2, cols - 2, TC_WARN, "loading…");
		return;
	}
	tui_cellf(y++, 0, cols, TC_HEADER, "  %-36s %-10s %-16s %-16s %s", "id", "status", "type", "tenant", "error");
	jl.n = (int)json_array_size(f->jobs);
	tui_list_fix(&jl, top + rows - y);
	for (int i = jl.top; i < jl.n && y < top + rows; i++, y++) {
		const json_t *j = json_array_get(f->jobs, (size_t)i);
		tui_cellf(y, 0, cols, i == jl.sel ? TC_SELECTED : TC_NORMAL, "  %-36s %-10s %-16.16s %-16.16s %s",
			  str(j, "id"), str(j, "status"), str(j, "type"), str(j, "tenant"), str(j, "error_code"));
	}
}

static void draw_failures(struct tui *t, int top, int rows, int cols)
{
	maybe_confirm(t);
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_FAILURES);
	int y = top;
	if (in_group)
		tui_cellf(y++, 0, cols, TC_HEADER, "Failure group %s (Enter: back to the groups; R/C: retry/cancel it)",
			  group);
	else
		tui_cell(y++, 0, cols, TC_HEADER, "Failure groups (Enter: its jobs; R/C: retry/cancel a group; q: back)");
	if (!s) {
		tui_cell(y, 2, cols - 2, TC_WARN, "loading…");
		return;
	}
	if (*s->err)
		tui_cellf(y, 2, cols - 2, TC_DOWN, "unavailable: %s", s->err);
	else if (in_group)
		draw_jobs(&s->u.fail, y, top, rows, cols);
	else
		draw_groups(s->u.fail.groups, y, top, rows, cols);
	model_snap_put(tui_model(t), s);
}

static struct tui_list *failures_list_of(struct tui *t)
{
	(void)t;
	return in_group ? &jl : &gl;
}

static void enter_failures(struct tui *t)
{
	model_want_failures(tui_model(t), in_group ? group : NULL);
}

/* The group under the cursor (or shown) into `group`; false when there is none. */
static bool pick_group(struct tui *t)
{
	if (in_group)
		return true;
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_FAILURES);
	bool ok = s && !*s->err && gl.sel >= 0 && (size_t)gl.sel < json_array_size(s->u.fail.groups);
	if (ok)
		snprintf(group, sizeof(group), "%s", str(json_array_get(s->u.fail.groups, (size_t)gl.sel), "group"));
	model_snap_put(tui_model(t), s);
	return ok;
}

static unsigned key_open(struct tui *t, int key)
{
	(void)key;
	if (in_group) {
		in_group = false;
		model_want_failures(tui_model(t), NULL);
		return TUI_REDRAW_BODY;
	}
	if (!pick_group(t))
		return 0;
	in_group = true;
	jl = (struct tui_list){ 0 };
	model_want_failures(tui_model(t), group);
	return TUI_REDRAW_BODY;
}

static unsigned key_action(struct tui *t, int key)
{
	if (tui_read_only(t)) {
		tui_message(t, true, "read-only: actions are disabled");
		return TUI_REDRAW_STATUS;
	}
	if (!pick_group(t))
		return 0;
	struct model_status st;
	model_status(tui_model(t), &st);
	sel_seen = st.sel_version;
	awaiting = true;
	struct model_action a = { .op = MODEL_OP_GROUP_SELECT, .scope = "group", .cancel = key == 'C' };
	snprintf(a.group, sizeof(a.group), "%s", group);
	model_action(tui_model(t), &a);
	tui_message(t, false, "resolving the jobs of group %s…", group);
	return TUI_REDRAW_STATUS;
}

static const struct tui_key failures_keys[] = {
	{ { '\n', '\r', KEY_ENTER }, "Enter", "jobs", "the group's jobs (again: back to the groups)", key_open },
	{ { 'R' }, "R", "retry", "retry the whole group (its count asked for first)", key_action },
	{ { 'C' }, "C", "cancel", "cancel the whole group (its count asked for first)", key_action },
	{ .label = NULL },
};

const struct tui_screen tui_failures_screen = {
	.name = "Failures",
	.kind = MODEL_FAILURES,
	.keys = failures_keys,
	.enter = enter_failures,
	.draw = draw_failures,
	.list = failures_list_of,
};
