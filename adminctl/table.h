/*
 * table — adminctl's tabular output.
 *
 * On a terminal: aligned columns with a bold header, sized to the terminal's
 * width: when the table is wider, the columns marked TABLE_SHRINK give up
 * room (widest first) and their cells are cut with "…". Otherwise (a pipe, a
 * file): one line per row, cells separated by tabs, "-" for an empty cell, never
 * cut, so that scripts can rely on cut(1) and awk(1).
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

#endif
