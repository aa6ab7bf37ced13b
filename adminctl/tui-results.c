/*
 * Screen 5, Results: the S3 bucket by prefix. Enter on a prefix goes into it,
 * Backspace goes up; Enter on an object shows its presigned URL and expiry and
 * copies the URL to the clipboard (OSC 52).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"
#include "tui.h"

static struct {
	struct tui_list list;
	char prefix[1024];
	char copied[1024];       /* the key whose URL went to the clipboard */
	bool entered;
} rs;

static void human(int64_t n, char *out, size_t size)
{
	static const char *const units[] = { "B", "K", "M", "G", "T" };
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, size, "%lld B", (long long)n);
	else
		snprintf(out, size, "%.1f %s", v, units[u]);
}

static struct model_snap *current(struct tui *t)
{
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_RESULTS);
	if (s && strcmp(s->u.res.prefix ? s->u.res.prefix : "", rs.prefix)) {
		model_snap_put(tui_model(t), s);
		return NULL;
	}
	return s;
}

static void draw_results(struct tui *t, int top, int rows, int cols)
{
	int y = top;
	tui_cellf(y++, 0, cols, TC_HEADER, "s3://…/%s", rs.prefix);
	struct model_snap *s = current(t);
	if (!s) {
		rs.list.n = 0;
		tui_cell(y, 2, cols - 2, TC_WARN, "loading…");
		return;
	}
	if (*s->err)
		tui_cell(top + rows - 1, 0, cols, TC_DOWN, s->err);
	const struct model_results *r = &s->u.res;
	int url_rows = r->url ? 3 : 0;
	int body = rows - 2 - url_rows;
	rs.list.n = (int)(r->nprefixes + r->nobjs);
	tui_list_fix(&rs.list, body);
	tui_cellf(y++, 0, cols, TC_HEADER, "  %-*s %10s  %s", cols > 60 ? cols - 36 : 24, "name", "size", "modified");
	if (rs.list.n == 0 && !*s->err)
		tui_cell(y, 2, cols - 2, TC_DIM, "empty");
	size_t plen = strlen(rs.prefix);
	for (int i = rs.list.top; i < rs.list.n && y < top + 2 + body; i++, y++) {
		enum tui_color c = i == rs.list.sel ? TC_SELECTED : TC_NORMAL;
		int namew = cols > 60 ? cols - 36 : 24;
		if ((size_t)i < r->nprefixes) {
			const char *p = r->prefixes[i];
			tui_cellf(y, 0, cols, c, "  %s", strlen(p) > plen ? p + plen : p);
		} else {
			const struct s3_object *o = &r->objs[(size_t)i - r->nprefixes];
			char size[24], when[32];
			human(o->size, size, sizeof(size));
			struct tm tm;
			gmtime_r(&o->last_modified, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
			tui_cell(y, 0, 2, c, "");
			tui_cell(y, 2, namew, c, strlen(o->key) > plen ? o->key + plen : o->key);
			tui_cellf(y, 2 + namew, cols - 2 - namew, c, " %10s  %s", size, when);
		}
	}
	if (r->url) {
		int uy = top + rows - url_rows - (*s->err ? 1 : 0);
		char when[32];
		struct tm tm;
		gmtime_r(&r->url_expires, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
		tui_cellf(uy++, 0, cols, TC_HEADER, "URL of %s — expires %s%s", r->url_key, when,
			  strcmp(rs.copied, r->url_key) ? "" : " (copied)");
		/* the URL may be long: two rows, cut */
		size_t ulen = strlen(r->url);
		tui_cellf(uy++, 0, cols, TC_NORMAL, "%.*s", cols, r->url);
		if (ulen > (size_t)cols)
			tui_cell(uy, 0, cols, TC_NORMAL, r->url + cols);
		if (strcmp(rs.copied, r->url_key)) {
			tui_clipboard(r->url);
			snprintf(rs.copied, sizeof(rs.copied), "%s", r->url_key);
		}
	}
	model_snap_put(tui_model(t), s);
}

static void go(struct tui *t, const char *prefix)
{
	snprintf(rs.prefix, sizeof(rs.prefix), "%s", prefix);
	rs.list.sel = rs.list.top = 0;
	rs.copied[0] = 0;
	model_want_results(tui_model(t), rs.prefix);
}

static void enter_results(struct tui *t)
{
	if (!rs.entered) {
		rs.entered = true;
		go(t, "");
	}
}

static struct tui_list *results_list(struct tui *t)
{
	(void)t;
	return &rs.list;
}

static unsigned key_open(struct tui *t, int key)
{
	(void)key;
	struct model_snap *s = current(t);
	if (!s)
		return 0;
	const struct model_results *r = &s->u.res;
	size_t i = (size_t)rs.list.sel;
	if (rs.list.sel >= 0 && i < r->nprefixes) {
		char p[1024];
		snprintf(p, sizeof(p), "%s", r->prefixes[i]);
		model_snap_put(tui_model(t), s);
		go(t, p);
		return TUI_REDRAW_ALL;
	}
	if (rs.list.sel >= 0 && i < r->nprefixes + r->nobjs) {
		rs.copied[0] = 0;
		model_want_url(tui_model(t), r->objs[i - r->nprefixes].key);
	}
	model_snap_put(tui_model(t), s);
	return TUI_REDRAW_ALL;
}

static unsigned key_up(struct tui *t, int key)
{
	(void)key;
	size_t n = strlen(rs.prefix);
	if (!n)
		return 0;
	char p[1024];
	snprintf(p, sizeof(p), "%s", rs.prefix);
	p[n - 1] = 0; /* the trailing '/' */
	char *slash = strrchr(p, '/');
	if (slash)
		slash[1] = 0;
	else
		p[0] = 0;
	go(t, p);
	return TUI_REDRAW_ALL;
}

static const struct tui_key results_keys[] = {
	{ { '\r', '\n', KEY_ENTER }, "Enter", "open", "open the prefix, or show and copy the object's URL", key_open },
	{ { KEY_BACKSPACE, 127, 8 }, "Bksp", "up", "up one prefix", key_up },
	{ .label = NULL },
};

/* `e`: the prefixes and objects listed, keys whole, sizes in bytes. */
static bool export_results(struct tui *t, struct table *out)
{
	static const struct table_col cols[] = { { "KEY", 0 }, { "SIZE", 0 }, { "MODIFIED", 0 }, { "ETAG", 0 } };
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_RESULTS);
	if (!s || *s->err) {
		model_snap_put(tui_model(t), s);
		return false;
	}
	const struct model_results *r = &s->u.res;
	table_init(out, cols, 4);
	for (size_t i = 0; i < r->nprefixes; i++) {
		table_row(out);
		table_cell(out, r->prefixes[i]);
	}
	for (size_t i = 0; i < r->nobjs; i++) {
		char when[TIMEFMT_UTC_SIZE];
		timefmt_utc(r->objs[i].last_modified, when);
		table_row(out);
		table_cell(out, r->objs[i].key);
		table_cellf(out, "%lld", (long long)r->objs[i].size);
		table_cell(out, when);
		table_cell(out, r->objs[i].etag);
	}
	model_snap_put(tui_model(t), s);
	return true;
}

const struct tui_screen tui_results_screen = {
	.name = "Results",
	.kind = MODEL_RESULTS,
	.keys = results_keys,
	.enter = enter_results,
	.draw = draw_results,
	.list = results_list,
	.export = export_results,
};
