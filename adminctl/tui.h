/*
 * tui — adminctl's full-screen interface (ncursesw).
 *
 * tui.c owns the terminal and the main loop: one wait for a key (or a model
 * change, or the refresh timer), then at most one draw, of what the redraw
 * flags say. Screens are vtables (struct tui_screen, one tui-*.c each); each
 * has a key table that both dispatches its keys and feeds the `?` overlay and
 * the bottom key bar, after the global table in tui.c. Screens draw only
 * through the helpers below (semantic colours, wide-character aware cells) and
 * read data only from model snapshots, never from a service.
 *
 * The terminal is restored on every way out: quit, tui_fatal(), SIGINT/SIGTERM
 * (a flag the loop checks), crashes (SIGSEGV/SIGABRT handlers) and atexit.
 */
#ifndef ADMINCTL_TUI_H
#define ADMINCTL_TUI_H

#include <curses.h> /* KEY_* for the key tables */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "context.h"
#include "model.h"
#include "table.h"
#include "timefmt.h"

/* Redraw flags returned by key handlers. */
#define TUI_REDRAW_BODY 0x1u
#define TUI_REDRAW_STATUS 0x2u
#define TUI_REDRAW_ALL 0x7u

/* Semantic colours: mapped to colour pairs, or to attributes on a monochrome terminal. */
enum tui_color {
	TC_NORMAL,
	TC_TITLE,       /* header line */
	TC_TAB_ACTIVE,
	TC_HEADER,      /* column headers */
	TC_SELECTED,    /* the cursor row */
	TC_MARKED,
	TC_OK,
	TC_DOWN,        /* a service down, a failed job */
	TC_WARN,        /* retrying, loading */
	TC_DIM,
	TC_STATUS,
	TC_ERROR,       /* status line error */
	TC_KEY,         /* key names in the key bar and help */
	TC_BAR,         /* chart bars */
};
#define TC_COUNT 14

struct tui;

/* A key binding: keys[] (0-terminated) run fn; label, bar and help feed the key bar and `?`. */
struct tui_key {
	int keys[8];
	const char *label;       /* "R", "PgUp" */
	const char *bar;         /* one word for the bottom key bar ("retry"), NULL: not shown there */
	const char *help;        /* "retry the selected, marked or matching jobs" */
	unsigned (*fn)(struct tui *t, int key);
};

/* The cursor and scroll position of a list. */
struct tui_list {
	int sel;
	int top;
	int n;
};

struct tui_screen {
	const char *name;                /* tab title */
	enum model_kind kind;            /* the snapshot it shows: refreshed with `r` and the timer */
	const struct tui_key *keys;      /* its own bindings, 0-terminated by keys[0] == 0 */
	void (*enter)(struct tui *t);    /* made visible (may be NULL) */
	/* Draw into rows [top, top + rows) of the screen, `cols` wide. */
	void (*draw)(struct tui *t, int top, int rows, int cols);
	struct tui_list *(*list)(struct tui *t); /* for the navigation keys, or NULL */
	/*
	 * For `e`: the rows the screen shows, with their full values (not the cut
	 * cells), into `out` (initialised by the callee with its own columns, freed
	 * by the caller); false when there is nothing to export yet. NULL: no export.
	 */
	bool (*export)(struct tui *t, struct table *out);
	/* The context changed (X): drop what belonged to the old one, such as marks (may be NULL). */
	void (*forget)(struct tui *t);
};

extern const struct tui_screen tui_overview_screen;
extern const struct tui_screen tui_jobs_screen;
extern const struct tui_screen tui_job_screen;
extern const struct tui_screen tui_dead_screen;
extern const struct tui_screen tui_results_screen;
extern const struct tui_screen tui_metrics_screen;
extern const struct tui_screen tui_audit_screen;  /* not a tab: `a` on the Overview */
extern const struct tui_screen tui_failures_screen; /* not a tab: `f` on the Overview */
extern const struct tui_screen tui_events_screen; /* not a tab: `:events` */
extern const struct tui_screen tui_archive_screen; /* not a tab: `:archive` */

/*
 * Run the TUI until the user quits or a signal; returns the exit code. `cfg`
 * (context `cur` of `contexts`, both borrowed) is what it starts with; X switches
 * to another context of the file, loading its config.
 */
int tui_run(const struct config *cfg, const char *actor, bool read_only, const struct ctx_file *contexts,
	    const struct ctx_info *cur);

/*
 * Every key of the key tables, one line each: "SCREEN<TAB>KEY<TAB>WHAT", the
 * global keys first (SCREEN "all"), then each screen's; then the `:` commands
 * ("command<TAB>:NAME<TAB>WHAT"). What `?` shows and adminctl(8) lists.
 */
void tui_print_keys(FILE *fp);

/* Restore the terminal, print "adminctl: MSG" and exit 1. */
void tui_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* What screens may use. */
struct model *tui_model(struct tui *t);
bool tui_read_only(struct tui *t);
/* The body rows of the last layout (for paging). */
int tui_body_rows(struct tui *t);
/* Switch to screen `index` (0-based, order of the tabs). */
void tui_show(struct tui *t, int index);
/*
 * `:archive ARG`: the Archive screen's range from ARG, a number of days back
 * or "SINCE [UNTIL]" (archive_parse_time); false (a message shown) if ARG is
 * neither.
 */
bool tui_archive_range(struct tui *t, const char *arg);
/* Show archived line `line` (copied) on the Job screen; q goes back. */
void tui_job_show_archived(struct tui *t, json_t *line);
/*
 * Run action `a` (copied) as model_action() does; in a production context an
 * action on more than one job (or on a filter, or every dead letter, or a
 * pause, resume or limit of a tenant or type: all of its jobs) waits for
 * the user to type the context's name at a prompt, and is dropped otherwise.
 */
void tui_action(struct tui *t, const struct model_action *a);

/*
 * The commands :pause and :resume (`arg` "tenant|type NAME") and :limit (`arg`
 * "tenant|type NAME N|unlimited") for `op` MODEL_OP_PAUSE, _RESUME or _LIMIT_SET:
 * what p, u and L do on the Overview's selected row, for any tenant or type.
 */
unsigned tui_limits_command(struct tui *t, enum model_op op, const char *arg);

/* A message in the status line (error: in the error colour). */
void tui_message(struct tui *t, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Ask for a line of text in the bottom row; done(t, text) on Enter (text NULL on Esc). */
void tui_prompt_text(struct tui *t, const char *label, const char *initial,
		     unsigned (*done)(struct tui *t, const char *text));
/* Ask a question answered by one key of `keys` ("yn", "sma"); done(t, key) or done(t, 0) on Esc. */
void tui_prompt_key(struct tui *t, const char *question, const char *keys, unsigned (*done)(struct tui *t, int key));

/* Keep the cursor in range and visible in `rows` rows. */
void tui_list_fix(struct tui_list *l, int rows);

/* One marked job: its id, and its type and status for describing a set (status -1: not known). */
struct tui_mark {
	char id[JOB_ID_LEN + 1];
	char type[64];
	int status;
};

/*
 * The jobs marked on a screen (Space marks or unmarks, u unmarks all). Starts
 * zeroed; owns its array, which lives as long as the screen (never freed).
 */
struct tui_marks {
	struct tui_mark *v;
	size_t n;
};

/* Index of the mark of job `id`, or -1. */
int tui_marks_find(const struct tui_marks *s, const char *id);
/* Mark the job of `m`, or unmark it when it is marked already. */
void tui_marks_toggle(struct tui_marks *s, const struct tui_mark *m);
/* Unmark every job. */
void tui_marks_clear(struct tui_marks *s);
/* The marked ids, NULL-terminated, pointing into `s` (valid until it changes): for model_action(); free() it. */
char **tui_marks_ids(const struct tui_marks *s);
/* "N marked" at the right end of row `y` of a `cols`-wide body, when any job is marked. */
void tui_marks_draw(const struct tui_marks *s, int y, int cols);

/* Attribute of a semantic colour. */
int tui_attr(enum tui_color c);
/*
 * Draw UTF-8 `s` at (y, x), cut or padded to exactly `width` terminal cells
 * (wide characters counted as two, invalid bytes shown as '?'), with `c`.
 */
void tui_cell(int y, int x, int width, enum tui_color c, const char *s);
/* tui_cell(), but a string too long for the cell keeps its end: "…api.host.12345". */
void tui_cell_end(int y, int x, int width, enum tui_color c, const char *s);
/* printf into a cell. */
void tui_cellf(int y, int x, int width, enum tui_color c, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Terminal cells `s` takes. */
int tui_width(const char *s);

/* The next cell of `tb`: `v` as compact JSON (a string as it is; NULL: empty), for exports. */
void tui_json_cell(struct table *tb, json_t *v);

/*
 * String member `name` of JSON object `o` for a cell, "-" when absent or
 * empty; with `utc`, a time is rewritten there in UTC ("2026-12-01T10:00:00Z")
 * and that is returned (archived rows hold the database session's zone).
 */
const char *tui_json_text(json_t *o, const char *name, char utc[TIMEFMT_UTC_SIZE]);

/* Copy `text` to the terminal's clipboard with OSC 52. */
void tui_clipboard(const char *text);

/* "12,345" */
void tui_thousands(long long v, char *out, size_t size);

#endif
