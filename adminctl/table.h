/*
 * table — adminctl's tabular output.
 *
 * On a terminal: aligned columns with a bold header, sized to the terminal's
 * width: when the table is wider, the columns marked TABLE_SHRINK give up
 * room (widest first) and their cells are cut with "…". Otherwise (a pipe, a
 * file): one line per row, cells separated by tabs, "-" for an empty cell, never
 * cut, so that scripts can rely on cut(1) and awk(1).
 *
 * With --csv or --jsonl (table_set_format) every table is written instead as
 * CSV (RFC 4180: a header line of the column names, fields quoted when they
 * hold a comma, quote, CR or LF, lines ending CRLF) or as JSON lines (one object
 * per row, keyed by the column names in lower case with '_' for blanks, an
 * empty cell null), whatever the output is, never cut.
 *
 * Cells are UTF-8; widths count code points. The table owns copies of every
 * string; table_free releases them.
 */
#ifndef ADMINCTL_TABLE_H
#define ADMINCTL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define TABLE_RIGHT 0x1u  /* right-aligned (numbers) */
#define TABLE_SHRINK 0x2u /* may be cut to fit the terminal */

struct table_col {
	const char *name;
	unsigned flags;
};

struct table {
	const struct table_col *cols; /* borrowed, ncols of them */
	size_t ncols;
	size_t nrows;
	size_t filled;  /* cells filled in the last row */
	char **cells;   /* nrows * ncols, owned */
};

enum table_format {
	TABLE_AUTO,  /* aligned on a terminal, tab-separated otherwise */
	TABLE_CSV,
	TABLE_JSONL,
};

/* How table_print writes every table from now on (the process's output format). */
void table_set_format(enum table_format f);
enum table_format table_get_format(void);

/* "STATUS" -> "status", "RUN AT" -> "run_at": a column's key in JSON lines. */
void table_col_key(const char *name, char *out, size_t size);
/* Write `t` as CSV or JSON lines (f != TABLE_AUTO) to `fp`; -1 on a write error. */
int table_export(const struct table *t, enum table_format f, FILE *fp);

void table_init(struct table *t, const struct table_col *cols, size_t ncols);
/* Start a row; cells not given before the next row (or print) are empty. */
void table_row(struct table *t);
/* The next cell of the current row (copied; NULL = empty). */
void table_cell(struct table *t, const char *s);
void table_cellf(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void table_print(const struct table *t, FILE *fp);
void table_free(struct table *t);

/* Is `fp` a terminal? */
bool table_is_tty(FILE *fp);
/* The terminal's width in columns for `fp` (ioctl, else $COLUMNS, else 80). */
int table_term_width(FILE *fp);
/* The number of code points of UTF-8 `s` (its width on the terminal for our purposes). */
size_t table_strwidth(const char *s);
/* An age in seconds, short: "45s", "12m", "3h 5m", "2d 4h"; "-" when 0 or less. */
void table_age(double secs, char *out, size_t size);

#endif
