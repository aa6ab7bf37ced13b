/*
 * The Archive screen (`:archive [SINCE [UNTIL]]`, not a tab): the jobs that
 * retention archived to S3 and deleted, read back as adminctl jobs --archived
 * reads them (archive_read, on the model's thread: "loading…" until the
 * objects are read). It lists the jobs finished in a range of days (the last
 * 7 by default; d changes it), of one status (←→) and one tenant (t) or all,
 * newest first.
 * Enter opens one on the Job screen from its archived line. Read-only: an
 * archived job is no longer anywhere an action could reach it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive.h"
#include "timefmt.h"
#include "tui.h"

#define DEFAULT_DAYS 7

/* The status tabs: every status, then the final ones (only finished jobs are archived). */
static const int tabs[] = { -1, JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED };
#define NTABS_ARCH ((int)(sizeof(tabs) / sizeof(tabs[0])))

static struct {
	struct tui_list list;
	struct model_archive_filter f; /* until 0: now */
	int tab;
	bool entered;
} as;

/* Ask the model for the jobs of the filter, from the first row. */
static void go(struct tui *t)
{
	as.f.status = tabs[as.tab];
	as.list.sel = as.list.top = 0;
	model_want_archive(tui_model(t), &as.f);
}

/* The snapshot of the current filter, or NULL while it is read. */
static struct model_snap *current(struct tui *t)
{
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_ARCHIVE);
	const struct model_archive_filter *f = s ? &s->u.arch.filter : NULL;
	if (s && (f->since != as.f.since || f->until != as.f.until || f->status != as.f.status ||
		  strcmp(f->tenant, as.f.tenant))) {
		model_snap_put(tui_model(t), s);
		return NULL;
	}
	return s;
}

/* "code: message" of an archived job's error, "" for none. */
static void error_of(json_t *job, struct buf *out)
{
	json_t *e = json_object_get(job, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	if (code)
		buf_printf(out, "%s%s%s", code, msg ? ": " : "", msg ? msg : "");
}

static void draw_archive(struct tui *t, int top, int rows, int cols)
{
	int y = top, x = 0;
	char since[TIMEFMT_UTC_SIZE], until[TIMEFMT_UTC_SIZE] = "now";
	timefmt_utc(as.f.since, since);
	if (as.f.until)
		timefmt_utc(as.f.until, until);
	tui_cellf(y++, 0, cols, TC_HEADER, "archived jobs finished %s – %s   tenant %s", since, until,
		  *as.f.tenant ? as.f.tenant : "(all)");
	for (int i = 0; i < NTABS_ARCH; i++) {
		const char *name = tabs[i] < 0 ? "all" : job_status_name((enum job_status)tabs[i]);
		int w = tui_width(name) + 2;
		tui_cellf(y, x, w, i == as.tab ? TC_TAB_ACTIVE : TC_NORMAL, " %s ", name);
		x += w + 1;
	}
	y++;
	struct model_snap *s = current(t);
	if (!s) {
		as.list.n = 0;
		tui_cell(y, 2, cols - 2, TC_WARN, "loading… (reading the archive from S3)");
		return;
	}
	const struct model_archive *a = &s->u.arch;
	int body = rows - 3 - (*s->err ? 1 : 0);
	as.list.n = (int)json_array_size(a->lines);
	tui_list_fix(&as.list, body);
	int errw = cols - 106;
	tui_cellf(y++, 0, cols, TC_HEADER, "%-36s %-10s %-16s %-16s %5s %-20s %s", "ID", "STATUS", "TYPE", "TENANT",
		  "ATT", "FINISHED", errw > 0 ? "ERROR" : "");
	if (as.list.n == 0 && !*s->err)
		tui_cell(y, 2, cols - 2, TC_DIM, "no archived job matches (d: the days, t: the tenant, ←→: the status)");
	struct buf err = BUF_INIT;
	for (int i = as.list.top; i < as.list.n && y < top + 3 + body; i++, y++) {
		json_t *l = json_array_get(a->lines, (size_t)i), *j = json_object_get(l, "job");
		enum tui_color c = i == as.list.sel ? TC_SELECTED : TC_NORMAL;
		const char *st = tui_json_text(j, "status", NULL);
		char fin[TIMEFMT_UTC_SIZE];
		tui_cell(y, 0, cols, c, "");
		tui_cell(y, 0, 36, c, tui_json_text(j, "id", NULL));
		tui_cell(y, 37, 10, c == TC_NORMAL && !strcmp(st, "failed") ? TC_DOWN : c, st);
		tui_cell(y, 48, 16, c, tui_json_text(j, "type", NULL));
		tui_cell(y, 65, 16, c, tui_json_text(j, "tenant_id", NULL));
		tui_cellf(y, 82, 5, c, "%2lld/%-2lld", (long long)json_integer_value(json_object_get(j, "attempts")),
			  (long long)json_integer_value(json_object_get(j, "max_attempts")));
		tui_cell(y, 88, 20, c, tui_json_text(l, "finished_at", fin));
		if (errw > 0) {
			buf_reset(&err);
			error_of(j, &err);
			tui_cell(y, 109, cols - 109, c, buf_str(&err));
		}
	}
	buf_release(&err);
	int last = top + rows - 1;
	if (*s->err)
		tui_cell(last--, 0, cols, TC_DOWN, s->err);
	if (a->more || a->bad)
		tui_cellf(last, 0, cols, TC_WARN, "%d archived jobs%s · %zu line(s) not JSON, skipped", as.list.n,
			  a->more ? ", the newest only: narrow the range or the filter" : "", a->bad);
	else
		tui_cellf(last, 0, cols, TC_DIM, "%d archived job%s", as.list.n, as.list.n == 1 ? "" : "s");
	model_snap_put(tui_model(t), s);
}

static void enter_archive(struct tui *t)
{
	if (!as.entered) {
		as.entered = true;
		as.f.since = time(NULL) - DEFAULT_DAYS * 86400;
		as.f.until = 0;
		go(t);
	}
}

static struct tui_list *archive_list(struct tui *t)
{
	(void)t;
	return &as.list;
}

static void forget_archive(struct tui *t)
{
	(void)t;
	memset(&as, 0, sizeof(as));
}

bool tui_archive_range(struct tui *t, const char *arg)
{
	time_t now = time(NULL), since, until = 0;
	char a[64] = "", b[64] = "", extra[8];
	char *end;
	int n = arg ? sscanf(arg, "%63s %63s %7s", a, b, extra) : 0;
	long days = strtol(a, &end, 10);
	if (n == 1 && isdigit((unsigned char)*a) && !*end && days >= 1 && days <= 3660) {
		since = now - days * 86400;
	} else if (n < 1 || n > 2 || archive_parse_time(a, now, &since) < 0 ||
		   (n == 2 && archive_parse_time(b, now, &until) < 0)) {
		tui_message(t, true, "archive: a number of days, or SINCE [UNTIL]: dates (2026-12-01), durations (30m, 7d) "
				     "or RFC 3339 times");
		return false;
	}
	if ((until && until < since) || (until ? until : now) - since > ARCHIVE_QUERY_MAX_RANGE) {
		tui_message(t, true, "archive: UNTIL must follow SINCE, by at most ten years");
		return false;
	}
	as.entered = true;
	as.f.since = since;
	as.f.until = until;
	go(t);
	return true;
}

static unsigned range_done(struct tui *t, const char *text)
{
	if (!text || !*text)
		return 0;
	tui_archive_range(t, text);
	return TUI_REDRAW_ALL;
}

static unsigned key_range(struct tui *t, int key)
{
	(void)key;
	tui_prompt_text(t, "archive range: DAYS, or SINCE [UNTIL] (2026-12-01, 7d): ", "", range_done);
	return TUI_REDRAW_STATUS;
}

static unsigned tenant_done(struct tui *t, const char *text)
{
	if (!text)
		return 0;
	snprintf(as.f.tenant, sizeof(as.f.tenant), "%s", text);
	go(t);
	return TUI_REDRAW_ALL;
}

static unsigned key_tenant(struct tui *t, int key)
{
	(void)key;
	tui_prompt_text(t, "archived jobs of the tenant (empty: every tenant): ", as.f.tenant, tenant_done);
	return TUI_REDRAW_STATUS;
}

static unsigned key_tab(struct tui *t, int key)
{
	int step = key == KEY_LEFT || key == 'h' ? NTABS_ARCH - 1 : 1;
	as.tab = (as.tab + step) % NTABS_ARCH;
	go(t);
	return TUI_REDRAW_ALL;
}

static unsigned key_open(struct tui *t, int key)
{
	(void)key;
	struct model_snap *s = current(t);
	if (!s)
		return 0;
	json_t *l = json_array_get(s->u.arch.lines, (size_t)as.list.sel);
	if (l && as.list.sel >= 0)
		tui_job_show_archived(t, l);
	model_snap_put(tui_model(t), s);
	return TUI_REDRAW_ALL;
}

static const struct tui_key archive_keys[] = {
	{ { KEY_LEFT, 'h', KEY_RIGHT, 'l' }, "←→ hl", "tab", "status tab", key_tab },
	{ { 'd' }, "d", "days", "the range: a number of days back, or SINCE [UNTIL]", key_range },
	{ { 't' }, "t", "tenant", "only the jobs of a tenant (empty: all)", key_tenant },
	{ { '\n', '\r', KEY_ENTER }, "Enter", "show", "show the archived job", key_open },
	{ .label = NULL },
};

/* `e`: the archived jobs listed, every field whole. */
static bool export_archive(struct tui *t, struct table *out)
{
	static const struct table_col cols[] = {
		{ "ID", 0 },	   { "STATUS", 0 },	{ "TYPE", 0 },	  { "TENANT", 0 }, { "ATTEMPTS", 0 },
		{ "MAX ATTEMPTS", 0 }, { "CREATED", 0 }, { "FINISHED", 0 }, { "PARAMS", 0 }, { "RESULT", 0 },
		{ "ERROR", 0 },
	};
	struct model_snap *s = current(t);
	if (!s || *s->err) {
		model_snap_put(tui_model(t), s);
		return false;
	}
	table_init(out, cols, sizeof(cols) / sizeof(cols[0]));
	size_t i;
	json_t *l;
	json_array_foreach(s->u.arch.lines, i, l) {
		json_t *j = json_object_get(l, "job"), *v;
		char created[TIMEFMT_UTC_SIZE];
		table_row(out);
		table_cell(out, json_string_value(json_object_get(j, "id")));
		table_cell(out, json_string_value(json_object_get(j, "status")));
		table_cell(out, json_string_value(json_object_get(j, "type")));
		table_cell(out, json_string_value(json_object_get(j, "tenant_id")));
		table_cellf(out, "%lld", (long long)json_integer_value(json_object_get(j, "attempts")));
		table_cellf(out, "%lld", (long long)json_integer_value(json_object_get(j, "max_attempts")));
		table_cell(out, tui_json_text(j, "created_at", created));
		table_cell(out, json_string_value(json_object_get(l, "finished_at")));
		tui_json_cell(out, json_object_get(j, "params"));
		tui_json_cell(out, json_is_null(v = json_object_get(j, "result")) ? NULL : v);
		tui_json_cell(out, json_is_null(v = json_object_get(j, "error")) ? NULL : v);
	}
	model_snap_put(tui_model(t), s);
	return true;
}

const struct tui_screen tui_archive_screen = {
	.name = "Archive",
	.kind = MODEL_ARCHIVE,
	.keys = archive_keys,
	.enter = enter_archive,
	.draw = draw_archive,
	.list = archive_list,
	.export = export_archive,
	.forget = forget_archive,
};
