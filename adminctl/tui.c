/*
 * The TUI's terminal, main loop, global keys, prompts and drawing helpers
 * (see tui.h). The screens are in tui-*.c.
 */
#include "tui.h"

#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "buf.h"

#define KEY_ESC 27
#define CTRL(c) ((c) & 0x1f)

/*
 * The six tabs (1–6, Tab), then the screens reached by a key or a command (the
 * audit trail: `a` on the Overview; the failure groups: `f` on the Overview;
 * the events: `:events`; the archived jobs: `:archive`).
 */
static const struct tui_screen *const screens[] = {
	&tui_overview_screen, &tui_jobs_screen, &tui_job_screen,
	&tui_dead_screen, &tui_results_screen, &tui_metrics_screen,
	&tui_audit_screen, &tui_failures_screen, &tui_events_screen,
	&tui_archive_screen,
};
#define NSCREENS ((int)(sizeof(screens) / sizeof(screens[0])))
#define NTABS 6

enum prompt_kind {
	PROMPT_NONE,
	PROMPT_TEXT,
	PROMPT_KEY,
};

struct tui {
	struct model *model;
	const struct config *cfg;
	bool read_only;
	bool read_only_start;     /* as started (--read-only, or the first context's config) */
	const char *actor;
	const struct ctx_file *contexts;
	const struct ctx_info *context; /* the one shown, never NULL */
	struct config *cfg_owned; /* a context switched to: its config, owned */
	struct model_action pending; /* waiting for the production context's name (ids owned) */
	int cur;               /* index into screens */
	int job_back;          /* the screen the Job screen was opened from: q goes back to it */
	unsigned redraw;
	bool quit;
	bool help;             /* the help overlay is up */
	int help_top;          /* its first line shown */
	int body_rows;
	unsigned long seen_version;
	time_t next_refresh;

	char msg[256];
	bool msg_error;
	unsigned long msg_version; /* of the model message shown last */

	enum prompt_kind prompt;
	char prompt_label[512];
	char prompt_keys[16];
	wchar_t prompt_text[256];
	size_t prompt_len;
	unsigned (*prompt_text_done)(struct tui *t, const char *text);
	unsigned (*prompt_key_done)(struct tui *t, int key);
	void (*prompt_complete)(struct tui *t); /* Tab in a text prompt, or NULL */
	char prompt_hint[256];                  /* after the text: what Tab found */
};

/* The state every exit path needs: signal handlers and atexit see only these. */
static volatile sig_atomic_t got_signal;
static bool curses_on;

/* Leave curses mode; safe to call more than once and from any exit path. */
static void term_restore(void)
{
	if (curses_on) {
		curses_on = false;
		endwin();
		fflush(stdout);
	}
}

static void on_stop_signal(int sig)
{
	got_signal = sig;
}

/* A crash: put the terminal back (the shell stays usable), then die of the same signal. */
static void on_crash_signal(int sig)
{
	term_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

void tui_fatal(const char *fmt, ...)
{
	va_list ap;
	term_restore();
	fputs("adminctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- colours ---- */

static int colour_attrs[TC_COUNT];

static void colours_init(void)
{
	/* monochrome: readable with bold/reverse/underline alone */
	static const int mono[TC_COUNT] = {
		[TC_NORMAL] = A_NORMAL,   [TC_TITLE] = A_REVERSE,  [TC_TAB_ACTIVE] = A_BOLD | A_UNDERLINE,
		[TC_HEADER] = A_BOLD,     [TC_SELECTED] = A_REVERSE, [TC_MARKED] = A_BOLD,
		[TC_OK] = A_NORMAL,       [TC_DOWN] = A_BOLD,      [TC_WARN] = A_BOLD,
		[TC_DIM] = A_DIM,         [TC_STATUS] = A_NORMAL,  [TC_ERROR] = A_BOLD | A_REVERSE,
		[TC_KEY] = A_BOLD,        [TC_BAR] = A_REVERSE,
	};
	static const struct {
		short fg, bg;
		int attr;
	} pairs[TC_COUNT] = {
		[TC_NORMAL] = { -1, -1, A_NORMAL },
		[TC_TITLE] = { COLOR_BLACK, COLOR_CYAN, A_NORMAL },
		[TC_TAB_ACTIVE] = { COLOR_BLACK, COLOR_WHITE, A_BOLD },
		[TC_HEADER] = { COLOR_CYAN, -1, A_BOLD },
		[TC_SELECTED] = { COLOR_BLACK, COLOR_CYAN, A_NORMAL },
		[TC_MARKED] = { COLOR_YELLOW, -1, A_BOLD },
		[TC_OK] = { COLOR_GREEN, -1, A_NORMAL },
		[TC_DOWN] = { COLOR_RED, -1, A_BOLD },
		[TC_WARN] = { COLOR_YELLOW, -1, A_NORMAL },
		[TC_DIM] = { COLOR_BLUE, -1, A_BOLD },
		[TC_STATUS] = { -1, -1, A_NORMAL },
		[TC_ERROR] = { COLOR_WHITE, COLOR_RED, A_BOLD },
		[TC_KEY] = { COLOR_CYAN, -1, A_BOLD },
		[TC_BAR] = { COLOR_GREEN, -1, A_NORMAL },
	};
	bool colour = has_colors() && getenv("NO_COLOR") == NULL;
	if (colour) {
		start_color();
		use_default_colors();
	}
	for (int i = 0; i < TC_COUNT; i++) {
		if (colour && COLOR_PAIRS > TC_COUNT) {
			init_pair((short)(i + 1), pairs[i].fg, pairs[i].bg);
			colour_attrs[i] = (int)COLOR_PAIR(i + 1) | pairs[i].attr;
		} else {
			colour_attrs[i] = mono[i];
		}
	}
}

int tui_attr(enum tui_color c)
{
	return (unsigned)c < TC_COUNT ? colour_attrs[c] : (int)A_NORMAL;
}

/* ---- cells ---- */

/* Decode UTF-8 into wide characters, '?' for invalid bytes and non-printables. */
static size_t decode(const char *s, wchar_t *out, size_t max)
{
	mbstate_t st;
	memset(&st, 0, sizeof(st));
	size_t n = 0, len = strlen(s);
	while (len && n < max) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s, len, &st);
		if (k == (size_t)-1 || k == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			wc = L'?';
			k = 1;
		} else if (k == 0) {
			break;
		}
		if (wcwidth(wc) < 0)
			wc = L'?';
		out[n++] = wc;
		s += k;
		len -= k;
	}
	return n;
}

int tui_width(const char *s)
{
	wchar_t w[512];
	size_t n = decode(s, w, 512);
	int cells = 0;
	for (size_t i = 0; i < n; i++)
		cells += wcwidth(w[i]);
	return cells;
}

/* tui_cell() and tui_cell_end(): `keep_end` cuts a long `s` at its start instead of its end. */
static void cell(int y, int x, int width, enum tui_color c, const char *s, bool keep_end)
{
	if (width <= 0 || y < 0 || y >= LINES || x >= COLS)
		return;
	if (x + width > COLS)
		width = COLS - x;
	wchar_t w[512];
	size_t n = decode(s ? s : "", w, 512);
	int used = 0;
	size_t keep = 0;
	for (; keep < n; keep++) {
		int cw = wcwidth(w[keep]);
		if (used + cw > width)
			break;
		used += cw;
	}
	wchar_t *from = w;
	if (keep < n && keep_end) {
		/* cut: an ellipsis in the first cell, then as much of the end as fits */
		size_t first = n;
		used = 1;
		while (first > 1 && used + wcwidth(w[first - 1]) <= width)
			used += wcwidth(w[--first]);
		from = &w[first - 1];
		*from = L'…';
		keep = n - first + 1;
	} else if (keep < n && width >= 1) {
		/* cut: end with an ellipsis in the last cell */
		while (keep > 0 && used + 1 > width) {
			keep--;
			used -= wcwidth(w[keep]);
		}
		w[keep++] = L'…';
		used += 1;
	}
	attrset(tui_attr(c));
	mvaddnwstr(y, x, from, (int)keep);
	for (; used < width; used++)
		addch(' ');
	attrset(A_NORMAL);
}

void tui_cell(int y, int x, int width, enum tui_color c, const char *s)
{
	cell(y, x, width, c, s, false);
}

void tui_cell_end(int y, int x, int width, enum tui_color c, const char *s)
{
	cell(y, x, width, c, s, true);
}

void tui_cellf(int y, int x, int width, enum tui_color c, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	tui_cell(y, x, width, c, buf_str(&b));
	buf_release(&b);
}

void tui_thousands(long long v, char *out, size_t size)
{
	char raw[32];
	snprintf(raw, sizeof(raw), "%lld", v < 0 ? -v : v);
	size_t len = strlen(raw), o = 0;
	char tmp[48];
	if (v < 0)
		tmp[o++] = '-';
	for (size_t i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			tmp[o++] = ',';
		tmp[o++] = raw[i];
	}
	tmp[o] = 0;
	snprintf(out, size, "%s", tmp);
}

void tui_clipboard(const char *text)
{
	struct buf b = BUF_INIT;
	size_t n = strlen(text);
	buf_adds(&b, "\033]52;c;");
	buf_grow(&b, 4 * ((n + 2) / 3));
	b.len += (size_t)EVP_EncodeBlock((unsigned char *)b.data + b.len, (const unsigned char *)text, (int)n);
	buf_adds(&b, "\a");
	/* straight to the terminal: curses does not know escape sequences it did not make */
	fflush(stdout);
	if (write(STDOUT_FILENO, buf_str(&b), b.len) < 0)
		(void)0;
	buf_release(&b);
}

void tui_json_cell(struct table *tb, json_t *v)
{
	if (!v || json_is_string(v)) {
		table_cell(tb, v ? json_string_value(v) : NULL);
		return;
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	table_cell(tb, s);
	free(s);
}

const char *tui_json_text(json_t *o, const char *name, char utc[TIMEFMT_UTC_SIZE])
{
	const char *v = json_string_value(json_object_get(o, name));
	time_t when;
	if (!v || !*v)
		return "-";
	if (utc && timefmt_parse(v, &when) == 0) {
		timefmt_utc(when, utc);
		return utc;
	}
	return v;
}

void tui_list_fix(struct tui_list *l, int rows)
{
	if (rows < 1)
		rows = 1;
	if (l->sel >= l->n)
		l->sel = l->n - 1;
	if (l->sel < 0)
		l->sel = 0;
	if (l->top > l->sel)
		l->top = l->sel;
	if (l->sel >= l->top + rows)
		l->top = l->sel - rows + 1;
	if (l->top > l->n - rows)
		l->top = l->n - rows;
	if (l->top < 0)
		l->top = 0;
}

/* ---- accessors ---- */

struct model *tui_model(struct tui *t)
{
	return t->model;
}

bool tui_read_only(struct tui *t)
{
	return t->read_only;
}

int tui_body_rows(struct tui *t)
{
	return t->body_rows;
}

void tui_message(struct tui *t, bool error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->msg, sizeof(t->msg), fmt, ap);
	va_end(ap);
	t->msg_error = error;
	t->redraw |= TUI_REDRAW_STATUS;
}

void tui_show(struct tui *t, int index)
{
	if (index < 0 || index >= NSCREENS)
		return;
	if (screens[index] == &tui_job_screen && screens[t->cur] != &tui_job_screen)
		t->job_back = t->cur;
	t->cur = index;
	t->redraw = TUI_REDRAW_ALL;
	model_set_visible(t->model, screens[index]->kind);
	if (screens[index]->enter)
		screens[index]->enter(t);
}

void tui_prompt_text(struct tui *t, const char *label, const char *initial,
		     unsigned (*done)(struct tui *t, const char *text))
{
	t->prompt = PROMPT_TEXT;
	snprintf(t->prompt_label, sizeof(t->prompt_label), "%s", label);
	t->prompt_len = decode(initial ? initial : "", t->prompt_text, 255);
	t->prompt_text_done = done;
	t->prompt_complete = NULL;
	t->prompt_hint[0] = 0;
	t->redraw |= TUI_REDRAW_STATUS;
}

void tui_prompt_key(struct tui *t, const char *question, const char *keys, unsigned (*done)(struct tui *t, int key))
{
	t->prompt = PROMPT_KEY;
	snprintf(t->prompt_label, sizeof(t->prompt_label), "%s", question);
	snprintf(t->prompt_keys, sizeof(t->prompt_keys), "%s", keys);
	t->prompt_key_done = done;
	t->redraw |= TUI_REDRAW_STATUS;
}

/* ---- global keys ---- */

static unsigned key_quit(struct tui *t, int key)
{
	(void)key;
	if (screens[t->cur] == &tui_job_screen) {
		tui_show(t, t->job_back); /* back to the list it was opened from */
		return TUI_REDRAW_ALL;
	}
	if (screens[t->cur] == &tui_audit_screen || screens[t->cur] == &tui_failures_screen ||
	    screens[t->cur] == &tui_events_screen || screens[t->cur] == &tui_archive_screen) {
		tui_show(t, 0); /* back to the Overview */
		return TUI_REDRAW_ALL;
	}
	t->quit = true;
	return 0;
}

static unsigned key_screen(struct tui *t, int key)
{
	tui_show(t, key - '1');
	return TUI_REDRAW_ALL;
}

static unsigned key_next_screen(struct tui *t, int key)
{
	int step = key == KEY_BTAB ? NTABS - 1 : 1, cur = t->cur < NTABS ? t->cur : 0;
	tui_show(t, (cur + step) % NTABS);
	return TUI_REDRAW_ALL;
}

static unsigned key_help(struct tui *t, int key)
{
	(void)key;
	t->help = true;
	t->help_top = 0;
	return TUI_REDRAW_ALL;
}

static unsigned key_command(struct tui *t, int key);
/* Seconds between refreshes: [adminctl] refresh of the context shown. */
static int refresh_interval(const struct tui *t)
{
	return t->cfg->adminctl.refresh > 0 ? (int)t->cfg->adminctl.refresh : 5;
}

static unsigned key_refresh(struct tui *t, int key)
{
	(void)key;
	model_refresh(t->model, MODEL_OVERVIEW);
	model_refresh(t->model, screens[t->cur]->kind);
	t->next_refresh = time(NULL) + refresh_interval(t);
	return TUI_REDRAW_STATUS;
}

static unsigned key_redraw(struct tui *t, int key)
{
	(void)t;
	(void)key;
	clearok(curscr, TRUE);
	return TUI_REDRAW_ALL;
}

static unsigned key_move(struct tui *t, int key)
{
	struct tui_list *l = screens[t->cur]->list ? screens[t->cur]->list(t) : NULL;
	if (!l)
		return 0;
	int page = t->body_rows > 3 ? t->body_rows - 2 : 1;
	switch (key) {
	case KEY_UP:
	case 'k':
		l->sel--;
		break;
	case KEY_DOWN:
	case 'j':
		l->sel++;
		break;
	case KEY_PPAGE:
		l->sel -= page;
		l->top -= page;
		break;
	case KEY_NPAGE:
		l->sel += page;
		l->top += page;
		break;
	case KEY_HOME:
	case 'g':
		l->sel = 0;
		break;
	case KEY_END:
	case 'G':
		l->sel = l->n - 1;
		break;
	}
	if (l->sel >= l->n)
		l->sel = l->n - 1;
	if (l->sel < 0)
		l->sel = 0;
	return TUI_REDRAW_BODY;
}

/* ---- contexts, production confirmation, export ---- */

static void pending_clear(struct tui *t)
{
	for (size_t i = 0; i < t->pending.nids; i++)
		free(t->pending.ids[i]);
	free(t->pending.ids);
	memset(&t->pending, 0, sizeof(t->pending));
}

static unsigned confirm_name_done(struct tui *t, const char *text)
{
	if (ctx_confirmed(t->context, text)) {
		model_action(t->model, &t->pending);
		tui_message(t, false, "sent (production context '%s' confirmed)", t->context->name);
	} else {
		/* what waits for the answer is given up: held dead letters put back, a selection declined */
		struct model_action undo = { .op = t->pending.op == MODEL_OP_SELECTION_ACT ? MODEL_OP_SELECTION_DECLINE
											 : MODEL_OP_DEAD_RELEASE,
					      .quiet = true };
		memcpy(undo.selection, t->pending.selection, sizeof(undo.selection));
		if (t->pending.op == MODEL_OP_SELECTION_ACT || t->pending.op == MODEL_OP_DEAD_PURGE ||
		    (t->pending.op == MODEL_OP_DEAD_RETRY && t->pending.nids == 0))
			model_action(t->model, &undo);
		tui_message(t, true, "refused: the name typed is not '%s'; nothing done", t->context->name);
	}
	pending_clear(t);
	return TUI_REDRAW_STATUS;
}

void tui_action(struct tui *t, const struct model_action *a)
{
	bool many = a->use_filter || a->nids > 1 || a->op == MODEL_OP_DEAD_PURGE ||
		    (a->op == MODEL_OP_DEAD_RETRY && a->nids == 0) || a->op == MODEL_OP_SELECTION_ACT ||
		    a->op == MODEL_OP_PAUSE || a->op == MODEL_OP_RESUME || a->op == MODEL_OP_LIMIT_SET;
	if (!t->context->production || !many) {
		model_action(t->model, a);
		return;
	}
	pending_clear(t);
	t->pending = *a;
	t->pending.ids = a->nids ? xcalloc(a->nids, sizeof(char *)) : NULL;
	for (size_t i = 0; i < a->nids; i++)
		t->pending.ids[i] = xstrdup(a->ids[i]);
	char label[256];
	snprintf(label, sizeof(label), "production context: type '%s' to go on: ", t->context->name);
	tui_prompt_text(t, label, "", confirm_name_done);
}

/* Switch the model to the context named `text`: its config loaded, a new model with its clients. */
static unsigned switch_done(struct tui *t, const char *text)
{
	if (!text || !*text)
		return 0;
	const struct ctx_info *c = ctx_find(t->contexts, text);
	if (!c) {
		struct buf names = BUF_INIT;
		ctx_names(t->contexts, &names);
		tui_message(t, true, "no context '%s' (there are: %s)", text, buf_str(&names));
		buf_release(&names);
		return TUI_REDRAW_STATUS;
	}
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	struct buf err = BUF_INIT;
	if (ctx_load(t->contexts, c, cfg, PROG_ADMINCTL, &err) < 0) {
		char *nl = strchr(err.data ? err.data : "", '\n');
		if (nl)
			*nl = 0;
		tui_message(t, true, "context '%s' not loaded: %s", c->name, buf_str(&err));
		buf_release(&err);
		config_free(cfg);
		free(cfg);
		return TUI_REDRAW_STATUS;
	}
	buf_release(&err);
	pending_clear(t);
	model_free(t->model);
	if (t->cfg_owned) {
		config_free(t->cfg_owned);
		free(t->cfg_owned);
	}
	t->cfg = t->cfg_owned = cfg;
	t->context = c;
	t->read_only = t->read_only_start || cfg->adminctl.read_only;
	t->model = model_new(cfg, t->actor);
	t->seen_version = 0;
	t->msg_version = 0;
	for (int i = 0; i < NSCREENS; i++)
		if (screens[i]->forget)
			screens[i]->forget(t);
	tui_show(t, 0);
	model_refresh(t->model, MODEL_OVERVIEW);
	tui_message(t, false, "context %s%s", c->name, c->production ? " (production)" : "");
	return TUI_REDRAW_ALL;
}

static unsigned key_context(struct tui *t, int key)
{
	(void)key;
	struct buf label = BUF_INIT;
	buf_adds(&label, "switch to context (");
	ctx_names(t->contexts, &label);
	buf_adds(&label, "): ");
	tui_prompt_text(t, buf_str(&label), "", switch_done);
	buf_release(&label);
	return TUI_REDRAW_STATUS;
}

static unsigned export_done(struct tui *t, const char *text)
{
	if (!text || !*text)
		return 0;
	struct table tb;
	if (!screens[t->cur]->export(t, &tb)) {
		tui_message(t, true, "export: nothing to export yet");
		return TUI_REDRAW_STATUS;
	}
	size_t len = strlen(text);
	enum table_format f = len > 4 && !strcasecmp(text + len - 4, ".csv") ? TABLE_CSV : TABLE_JSONL;
	FILE *fp = fopen(text, "w");
	int rc = fp ? table_export(&tb, f, fp) : -1;
	if (fp && fclose(fp) != 0)
		rc = -1;
	if (rc < 0) {
		tui_message(t, true, "export: cannot write '%s': %s", text, strerror(errno));
	} else {
		/* the name first, as typed, so that a narrow status line keeps it; then the directory */
		char *dir = strchr(text, '/') ? NULL : getcwd(NULL, 0);
		tui_message(t, false, "exported %zu rows (%s) to %s%s%s%s", tb.nrows, f == TABLE_CSV ? "CSV" : "JSON lines",
			    text, dir ? " (in " : "", dir ? dir : "", dir ? ")" : "");
		free(dir);
	}
	table_free(&tb);
	return TUI_REDRAW_STATUS;
}

static unsigned key_export(struct tui *t, int key)
{
	(void)key;
	if (!screens[t->cur]->export) {
		tui_message(t, true, "export: the %s screen has no rows to export", screens[t->cur]->name);
		return TUI_REDRAW_STATUS;
	}
	char name[128], stamp[32], lower[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	table_col_key(screens[t->cur]->name, lower, sizeof(lower));
	snprintf(name, sizeof(name), "adminctl-%s-%s-%s.jsonl", t->context->name, lower, stamp);
	tui_prompt_text(t, "export to (.csv: CSV, else JSON lines): ", name, export_done);
	return TUI_REDRAW_STATUS;
}

static const struct tui_key global_keys[] = {
	{ { '?', KEY_F(1) }, "?", "help", "this help", key_help },
	{ { 'q' }, "q", "quit", "back (from a job) or quit", key_quit },
	{ { '1', '2', '3', '4', '5', '6' }, "1-6", "screen", "switch screen", key_screen },
	{ { '\t', KEY_BTAB }, "Tab", NULL, "next screen (Shift-Tab: previous)", key_next_screen },
	{ { KEY_UP, 'k', KEY_DOWN, 'j' }, "↑↓ jk", NULL, "move", key_move },
	{ { KEY_PPAGE, KEY_NPAGE }, "PgUp/PgDn", NULL, "page up, down", key_move },
	{ { KEY_HOME, 'g', KEY_END, 'G' }, "Home/End", NULL, "first, last", key_move },
	{ { 'r' }, "r", "refresh", "refresh now", key_refresh },
	{ { CTRL('l') }, "^L", NULL, "redraw the screen", key_redraw },
	{ { ':' }, ":", NULL, "command line: a screen or an action by name (Tab completes)", key_command },
	{ { 'e' }, "e", "export", "export the rows of this screen to a file (JSON lines, or CSV)", key_export },
	{ { 'X' }, "X", NULL, "switch to another context of the config file", key_context },
	{ .label = NULL },
};

/* ---- the command line (`:`) ---- */

struct tui_command {
	const char *name;
	const char *help;
	const struct tui_screen *screen;   /* shown by the command, or NULL */
	unsigned (*fn)(struct tui *t, const char *arg);
};

static unsigned cmd_quit(struct tui *t, const char *arg)
{
	(void)arg;
	t->quit = true;
	return 0;
}

static unsigned cmd_help(struct tui *t, const char *arg)
{
	(void)arg;
	return key_help(t, '?');
}

static unsigned cmd_refresh(struct tui *t, const char *arg)
{
	(void)arg;
	return key_refresh(t, 'r');
}

static unsigned cmd_job(struct tui *t, const char *arg)
{
	if (!arg || !job_id_valid(arg)) {
		tui_message(t, true, ":job wants a job id (a UUID)");
		return TUI_REDRAW_STATUS;
	}
	model_want_job(t->model, arg);
	tui_show(t, 2);
	return TUI_REDRAW_ALL;
}

static unsigned cmd_pause(struct tui *t, const char *arg)
{
	return tui_limits_command(t, MODEL_OP_PAUSE, arg);
}

static unsigned cmd_resume(struct tui *t, const char *arg)
{
	return tui_limits_command(t, MODEL_OP_RESUME, arg);
}

static unsigned cmd_limit(struct tui *t, const char *arg)
{
	return tui_limits_command(t, MODEL_OP_LIMIT_SET, arg);
}

/* `:archive [DAYS | SINCE [UNTIL]]`: the archived jobs, of the range given. */
static unsigned cmd_archive(struct tui *t, const char *arg)
{
	if (arg && !tui_archive_range(t, arg))
		return TUI_REDRAW_STATUS;
	for (int s = 0; s < NSCREENS; s++)
		if (screens[s] == &tui_archive_screen)
			tui_show(t, s);
	return TUI_REDRAW_ALL;
}

static const struct tui_command commands[] = {
	{ "overview", "the Overview", &tui_overview_screen, NULL },
	{ "jobs", "the Jobs table", &tui_jobs_screen, NULL },
	{ "job", "the job ID (:job ID)", NULL, cmd_job },
	{ "dead", "the dead letters", &tui_dead_screen, NULL },
	{ "results", "the result objects in S3", &tui_results_screen, NULL },
	{ "metrics", "the CloudWatch metrics", &tui_metrics_screen, NULL },
	{ "audit", "the audit trail", &tui_audit_screen, NULL },
	{ "events", "the live events", &tui_events_screen, NULL },
	{ "pause", "pause a tenant or type (:pause tenant|type NAME)", NULL, cmd_pause },
	{ "resume", "resume a tenant or type (:resume tenant|type NAME)", NULL, cmd_resume },
	{ "limit", "set max running jobs (:limit tenant|type NAME N|unlimited)", NULL, cmd_limit },
	{ "archive", "the archived jobs (:archive DAYS, or SINCE [UNTIL])", NULL, cmd_archive },
	{ "refresh", "refresh now", NULL, cmd_refresh },
	{ "help", "every key and command", NULL, cmd_help },
	{ "quit", "quit adminctl", NULL, cmd_quit },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static unsigned command_done(struct tui *t, const char *text)
{
	if (!text)
		return 0;
	char word[64];
	const char *arg = NULL;
	size_t n = strcspn(text, " ");
	snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1), text);
	if (text[n]) {
		arg = text + n + strspn(text + n, " ");
		if (!*arg)
			arg = NULL;
	}
	if (!*word)
		return 0;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i].name, word))
			continue;
		if (commands[i].fn)
			return commands[i].fn(t, arg);
		for (int s = 0; s < NSCREENS; s++)
			if (screens[s] == commands[i].screen)
				tui_show(t, s);
		return TUI_REDRAW_ALL;
	}
	tui_message(t, true, "unknown command ':%s' (Tab completes; :help lists every key and command)", word);
	return TUI_REDRAW_STATUS;
}

/* Tab: the command names that start with what is typed; one is completed, several are listed. */
static void command_complete(struct tui *t)
{
	char typed[128];
	t->prompt_text[t->prompt_len] = 0;
	if (wcstombs(typed, t->prompt_text, sizeof(typed)) == (size_t)-1 || strchr(typed, ' '))
		return;
	size_t len = strlen(typed), found = 0, common = 0;
	const char *first = NULL;
	struct buf hint = BUF_INIT;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strncmp(commands[i].name, typed, len))
			continue;
		if (!first) {
			first = commands[i].name;
			common = strlen(first);
		}
		while (common > len && strncmp(first, commands[i].name, common))
			common--;
		buf_printf(&hint, "%s%s", found++ ? " " : "", commands[i].name);
	}
	if (found == 0) {
		snprintf(t->prompt_hint, sizeof(t->prompt_hint), "no command starts with '%s'", typed);
	} else {
		char done[64];
		snprintf(done, sizeof(done), "%.*s%s", (int)common, first, found == 1 ? " " : "");
		t->prompt_len = decode(done, t->prompt_text, 127);
		snprintf(t->prompt_hint, sizeof(t->prompt_hint), "%s", found == 1 ? "" : buf_str(&hint));
	}
	buf_release(&hint);
}

static unsigned key_command(struct tui *t, int key)
{
	(void)key;
	tui_prompt_text(t, ":", "", command_done);
	t->prompt_complete = command_complete;
	return TUI_REDRAW_STATUS;
}

/* ---- every key ---- */

/* Each key of the tables: the current screen's (cur >= 0), the global ones, then the other screens'. */
static void each_key(int cur, void (*fn)(void *arg, const char *screen, const struct tui_key *k), void *arg)
{
	if (cur >= 0)
		for (const struct tui_key *k = screens[cur]->keys; k && k->keys[0]; k++)
			fn(arg, screens[cur]->name, k);
	for (const struct tui_key *k = global_keys; k->keys[0]; k++)
		fn(arg, "all", k);
	for (int s = 0; s < NSCREENS; s++)
		if (s != cur)
			for (const struct tui_key *k = screens[s]->keys; k && k->keys[0]; k++)
				fn(arg, screens[s]->name, k);
}

static void print_key(void *arg, const char *screen, const struct tui_key *k)
{
	fprintf(arg, "%s\t%s\t%s\n", screen, k->label, k->help);
}

void tui_print_keys(FILE *fp)
{
	each_key(-1, print_key, fp);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "command\t:%s\t%s\n", commands[i].name, commands[i].help);
}

static const struct tui_key *find_key(const struct tui_key *table, int key)
{
	for (const struct tui_key *k = table; k && k->keys[0]; k++)
		for (int i = 0; i < 8 && k->keys[i]; i++)
			if (k->keys[i] == key)
				return k;
	return NULL;
}

static unsigned dispatch(struct tui *t, int key)
{
	const struct tui_key *k = find_key(screens[t->cur]->keys, key);
	if (!k)
		k = find_key(global_keys, key);
	if (k && k->fn)
		return k->fn(t, key);
	return 0;
}

/* ---- prompts ---- */

static unsigned prompt_key(struct tui *t, bool is_key, wint_t ch)
{
	if (t->prompt == PROMPT_KEY) {
		int answer = 0;
		if (!is_key && ch < 128 && ch && strchr(t->prompt_keys, (int)ch))
			answer = (int)ch;
		else if (!is_key && ch < 128 && ch && strchr(t->prompt_keys, (int)(ch | 0x20)))
			answer = (int)(ch | 0x20);
		t->prompt = PROMPT_NONE;
		unsigned r = TUI_REDRAW_ALL;
		/* any other key is "no" (the N of y/N) */
		r |= t->prompt_key_done(t, answer);
		return r;
	}
	if ((!is_key && ch == KEY_ESC) || (!is_key && ch == CTRL('g'))) {
		t->prompt = PROMPT_NONE;
		return TUI_REDRAW_ALL | t->prompt_text_done(t, NULL);
	}
	if ((!is_key && (ch == '\n' || ch == '\r')) || (is_key && ch == KEY_ENTER)) {
		char out[1024];
		t->prompt_text[t->prompt_len] = 0;
		if (wcstombs(out, t->prompt_text, sizeof(out)) == (size_t)-1)
			out[0] = 0;
		t->prompt = PROMPT_NONE;
		return TUI_REDRAW_ALL | t->prompt_text_done(t, out);
	}
	if (!is_key && ch == '\t' && t->prompt_complete) {
		t->prompt_complete(t);
		return TUI_REDRAW_STATUS;
	}
	t->prompt_hint[0] = 0;
	if ((is_key && ch == KEY_BACKSPACE) || (!is_key && (ch == 127 || ch == 8))) {
		if (t->prompt_len)
			t->prompt_len--;
	} else if (!is_key && ch == CTRL('u')) {
		t->prompt_len = 0;
	} else if (!is_key && ch >= 32 && wcwidth((wchar_t)ch) >= 0 && t->prompt_len < 255) {
		t->prompt_text[t->prompt_len++] = (wchar_t)ch;
	}
	return TUI_REDRAW_STATUS;
}

/* ---- drawing ---- */

/* The header: the tabs, and at the right end always the context's name (red all along in production). */
static void draw_header(struct tui *t)
{
	int x = 0;
	enum tui_color bar = t->context->production ? TC_ERROR : TC_TITLE;
	char ctxname[96];
	snprintf(ctxname, sizeof(ctxname), " %s%s ", t->context->production ? "PRODUCTION " : "", t->context->name);
	int cw = tui_width(ctxname), limit = COLS - cw;
	attrset(tui_attr(bar));
	mvhline(0, 0, ' ', COLS);
	tui_cell(0, 0, 8, bar, " spool ");
	x = 7;
	for (int i = 0; i < NTABS && x < limit; i++) {
		char tab[40];
		snprintf(tab, sizeof(tab), " %d %s ", i + 1, screens[i]->name);
		int w = tui_width(tab);
		if (x + w > limit)
			w = limit - x;
		/* a screen past the tabs shows under the tab it was opened from (the Overview) */
		tui_cell(0, x, w, i == t->cur || (t->cur >= NTABS && i == 0) ? TC_TAB_ACTIVE : bar, tab);
		x += w;
	}
	if (t->read_only && limit - x > 10)
		tui_cell(0, limit - 10, 10, bar, "read-only ");
	tui_cell(0, limit > 0 ? limit : 0, cw, bar, ctxname);
}

/* Status line: prompt, or the newest message, loading, and the services that are down. */
static void draw_status(struct tui *t, const struct model_status *st)
{
	int y = LINES - 2;
	if (t->prompt != PROMPT_NONE) {
		wchar_t w[256];
		int lw = tui_width(t->prompt_label);
		tui_cell(y, 0, COLS, TC_KEY, t->prompt_label);
		if (t->prompt == PROMPT_TEXT) {
			memcpy(w, t->prompt_text, t->prompt_len * sizeof(wchar_t));
			size_t off = 0;
			int room = COLS - lw - 2;
			while (off < t->prompt_len && (int)(t->prompt_len - off) > room)
				off++;
			attrset(A_NORMAL);
			mvaddnwstr(y, lw, w + off, (int)(t->prompt_len - off));
			int hx = lw + (int)(t->prompt_len - off) + 2;
			if (*t->prompt_hint && hx < COLS)
				tui_cell(y, hx, COLS - hx, TC_DIM, t->prompt_hint);
			move(y, lw + (int)(t->prompt_len - off));
		}
		return;
	}
	struct buf b = BUF_INIT;
	enum tui_color c = TC_STATUS;
	if (*t->msg) {
		buf_adds(&b, t->msg);
		if (t->msg_error)
			c = TC_ERROR;
	}
	for (int s = 0; s < MODEL_SVC_COUNT; s++) {
		if (st->known[s] && !st->up[s]) {
			buf_printf(&b, "%s%s down: %s", b.len ? " · " : "", model_svc_name((enum model_svc)s), st->err[s]);
			c = TC_ERROR;
		}
	}
	if (st->action_busy)
		buf_printf(&b, "%sworking…", b.len ? " · " : "");
	else if (st->busy[screens[t->cur]->kind] || st->busy[MODEL_OVERVIEW])
		buf_printf(&b, "%sloading…", b.len ? " · " : "");
	tui_cell(y, 0, COLS, c, buf_str(&b));
	buf_release(&b);
}

/* Bottom key bar from the tables: the screen's keys, then the global ones. */
static void draw_keybar(struct tui *t)
{
	int y = LINES - 1, x = 0;
	const struct tui_key *tables[2] = { screens[t->cur]->keys, global_keys };
	move(y, 0);
	attrset(A_NORMAL);
	clrtoeol();
	for (int i = 0; i < 2; i++)
		for (const struct tui_key *k = tables[i]; k && k->keys[0]; k++) {
			if (!k->bar)
				continue;
			int need = tui_width(k->label) + 1 + tui_width(k->bar) + 2;
			if (x + need > COLS)
				return;
			tui_cell(y, x, tui_width(k->label), TC_KEY, k->label);
			x += tui_width(k->label) + 1;
			tui_cell(y, x, tui_width(k->bar) + 2, TC_NORMAL, k->bar);
			x += tui_width(k->bar) + 2;
		}
}

/* Drawing the help: one line after another from help_top, a heading before each screen's keys. */
struct help_draw {
	int line, top, y, end, x0, cols;
	const char *screen;
};

static void help_line(struct help_draw *h, enum tui_color kc, const char *label, const char *text)
{
	if (h->line++ >= h->top && h->y < h->end) {
		tui_cell(h->y, h->x0 + 1, 12, kc, label);
		tui_cell(h->y, h->x0 + 13, h->cols - 14, TC_NORMAL, text);
		h->y++;
	}
}

static void help_key(void *arg, const char *screen, const struct tui_key *k)
{
	struct help_draw *h = arg;
	if (!h->screen || strcmp(h->screen, screen)) {
		char head[64];
		snprintf(head, sizeof(head), "%s", !strcmp(screen, "all") ? "every screen" : screen);
		help_line(h, TC_HEADER, head, "");
		h->screen = screen;
	}
	help_line(h, TC_KEY, k->label, k->help);
}

/* Every key and command, the current screen's first; j/k and the page keys scroll it. */
static void draw_help(struct tui *t)
{
	int rows = LINES - 4, cols = COLS - 8;
	if (rows < 5 || cols < 30)
		return;
	int y0 = 2, x0 = 4;
	attrset(tui_attr(TC_NORMAL));
	for (int r = 0; r < rows; r++)
		tui_cell(y0 + r, x0, cols, TC_NORMAL, "");
	tui_cellf(y0, x0, cols, TC_TITLE, " keys — %s (↑↓ jk PgUp PgDn scroll, any other key closes)",
		  screens[t->cur]->name);
	struct help_draw h = { .top = t->help_top, .y = y0 + 1, .end = y0 + rows, .x0 = x0, .cols = cols };
	each_key(t->cur, help_key, &h);
	help_line(&h, TC_HEADER, "commands", "");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char label[40];
		snprintf(label, sizeof(label), ":%s", commands[i].name);
		help_line(&h, TC_KEY, label, commands[i].help);
	}
	/* the last line to scroll to */
	if (t->help_top > h.line - 1)
		t->help_top = h.line - 1;
}

/* A key while the help is up: scroll it, or (any other key) close it. */
static unsigned help_keypress(struct tui *t, int key)
{
	int page = LINES > 10 ? LINES - 8 : 1;
	switch (key) {
	case KEY_UP:
	case 'k':
		t->help_top--;
		break;
	case KEY_DOWN:
	case 'j':
		t->help_top++;
		break;
	case KEY_PPAGE:
		t->help_top -= page;
		break;
	case KEY_NPAGE:
		t->help_top += page;
		break;
	default:
		t->help = false;
	}
	if (t->help_top < 0)
		t->help_top = 0;
	return TUI_REDRAW_ALL;
}

static void draw(struct tui *t)
{
	struct model_status st;
	model_status(t->model, &st);
	if (st.msg_version != t->msg_version) {
		t->msg_version = st.msg_version;
		snprintf(t->msg, sizeof(t->msg), "%s", st.msg);
		t->msg_error = st.msg_error;
	}
	if (LINES < 5 || COLS < 20) {
		erase();
		tui_cell(0, 0, COLS, TC_NORMAL, "terminal too small");
		refresh();
		return;
	}
	t->body_rows = LINES - 3;
	if (t->redraw & TUI_REDRAW_BODY) {
		erase();
		draw_header(t);
		screens[t->cur]->draw(t, 1, t->body_rows, COLS);
		draw_keybar(t);
		if (t->help)
			draw_help(t);
	}
	draw_status(t, &st);
	if (t->prompt == PROMPT_TEXT) {
		curs_set(1);
	} else {
		curs_set(0);
		move(LINES - 1, COLS - 1);
	}
	refresh();
	t->redraw = 0;
}

/* ---- main loop ---- */

static void signals_init(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_crash_signal;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
}

int tui_run(const struct config *cfg, const char *actor, bool read_only, const struct ctx_file *contexts,
	    const struct ctx_info *cur)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fputs("adminctl: the TUI needs a terminal (give a command for scripts: adminctl -h)\n", stderr);
		return 2;
	}
	setlocale(LC_ALL, "");
	struct tui t;
	memset(&t, 0, sizeof(t));
	t.cfg = cfg;
	t.read_only = t.read_only_start = read_only;
	t.actor = actor;
	t.contexts = contexts;
	t.context = cur;
	t.job_back = 1; /* the Jobs screen */
	t.redraw = TUI_REDRAW_ALL;
	atexit(term_restore);
	signals_init();
	if (!initscr())
		tui_fatal("cannot start the terminal (is TERM right?)");
	curses_on = true;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	set_escdelay(50);
	timeout(200);
	colours_init();

	t.model = model_new(cfg, actor);
	tui_show(&t, 0);
	model_refresh(t.model, MODEL_OVERVIEW);
	t.next_refresh = time(NULL) + refresh_interval(&t);

	while (!t.quit && !got_signal) {
		unsigned long v = model_version(t.model);
		if (v != t.seen_version) {
			t.seen_version = v;
			t.redraw |= TUI_REDRAW_ALL;
		}
		if (time(NULL) >= t.next_refresh) {
			model_refresh(t.model, MODEL_OVERVIEW);
			if (screens[t.cur]->kind != MODEL_OVERVIEW && model_kind_timed(screens[t.cur]->kind))
				model_refresh(t.model, screens[t.cur]->kind);
			t.next_refresh = time(NULL) + refresh_interval(&t); /* the context's, after X too */
		}
		if (t.redraw)
			draw(&t);
		wint_t ch;
		int r = get_wch(&ch);
		if (r == ERR)
			continue;
		if (r == KEY_CODE_YES && ch == KEY_RESIZE) {
			t.redraw = TUI_REDRAW_ALL;
			continue;
		}
		if (t.prompt != PROMPT_NONE) {
			t.redraw |= prompt_key(&t, r == KEY_CODE_YES, ch);
			continue;
		}
		if (t.help) { /* the scroll keys scroll it, any other closes it */
			t.redraw |= help_keypress(&t, (int)ch);
			continue;
		}
		if (*t.msg && !t.msg_error) {
			t.msg[0] = 0;
			t.redraw |= TUI_REDRAW_STATUS;
		}
		if (r == OK && ch > 0x7f)
			continue;
		t.redraw |= dispatch(&t, (int)ch);
	}
	term_restore();
	model_free(t.model);
	pending_clear(&t);
	if (t.cfg_owned) {
		config_free(t.cfg_owned);
		free(t.cfg_owned);
	}
	if (got_signal) {
		fprintf(stderr, "adminctl: stopped by signal %d\n", (int)got_signal);
		return 128 + got_signal;
	}
	return 0;
}
