#include "table.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <ctype.h>
#include <jansson.h>

#include "buf.h"
#include "utf8.h"

#define MIN_SHRUNK 8 /* a shrinkable column keeps at least this many columns (or its header) */

static enum table_format out_format = TABLE_AUTO;

void table_set_format(enum table_format f)
{
	out_format = f;
}

enum table_format table_get_format(void)
{
	return out_format;
}

void table_col_key(const char *name, char *out, size_t size)
{
	size_t o = 0;
	for (; *name && o + 1 < size; name++)
		out[o++] = *name == ' ' || *name == '-' ? '_' : (char)tolower((unsigned char)*name);
	out[o] = 0;
}

/* One CSV field: quoted (quotes doubled) when it holds a separator, quote or line break. */
static void csv_field(FILE *fp, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, fp);
		return;
	}
	fputc('"', fp);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

int table_export(const struct table *t, enum table_format f, FILE *fp)
{
	if (f == TABLE_CSV) {
		for (size_t c = 0; c < t->ncols; c++) {
			csv_field(fp, t->cols[c].name);
			fputs(c + 1 == t->ncols ? "\r\n" : ",", fp);
		}
		for (size_t r = 0; r < t->nrows; r++)
			for (size_t c = 0; c < t->ncols; c++) {
				const char *s = t->cells[r * t->ncols + c];
				csv_field(fp, s ? s : "");
				fputs(c + 1 == t->ncols ? "\r\n" : ",", fp);
			}
	} else {
		for (size_t r = 0; r < t->nrows; r++) {
			json_t *o = json_object();
			for (size_t c = 0; c < t->ncols; c++) {
				char key[64];
				const char *s = t->cells[r * t->ncols + c];
				table_col_key(t->cols[c].name, key, sizeof(key));
				json_object_set_new(o, key, s && *s ? utf8_json(s) : json_null());
			}
			char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
			if (line)
				fprintf(fp, "%s\n", line);
			free(line);
			json_decref(o);
		}
	}
	return ferror(fp) ? -1 : 0;
}

void table_init(struct table *t, const struct table_col *cols, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	t->ncols = ncols;
}

void table_row(struct table *t)
{
	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = NULL;
	t->nrows++;
	t->filled = 0;
}

void table_cell(struct table *t, const char *s)
{
	if (t->nrows == 0 || t->filled >= t->ncols)
		return;
	t->cells[(t->nrows - 1) * t->ncols + t->filled++] = xstrdup(s ? s : "");
}

void table_cellf(struct table *t, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	table_cell(t, buf_str(&b));
	buf_release(&b);
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

bool table_is_tty(FILE *fp)
{
	return isatty(fileno(fp));
}

int table_term_width(FILE *fp)
{
	struct winsize ws;
	if (ioctl(fileno(fp), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *env = getenv("COLUMNS");
	int w = env ? atoi(env) : 0;
	return w > 0 ? w : 80;
}

size_t table_strwidth(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static const char *cell(const struct table *t, size_t r, size_t c)
{
	const char *s = t->cells[r * t->ncols + c];
	return s ? s : "";
}

/* Write `s` into a field of `w` columns: padded, or cut with "…" when longer. */
static void put_field(FILE *fp, const char *s, size_t w, bool right, bool last)
{
	size_t len = table_strwidth(s);
	if (len > w) {
		size_t keep = w > 0 ? w - 1 : 0, cps = 0;
		const char *p = s;
		for (; *p; p++) {
			if (((unsigned char)*p & 0xc0) != 0x80 && cps++ == keep)
				break;
		}
		fwrite(s, 1, (size_t)(p - s), fp);
		if (w > 0)
			fputs("…", fp);
		return;
	}
	if (right)
		fprintf(fp, "%*s", (int)(w - len), "");
	fputs(s, fp);
	if (!right && !last)
		fprintf(fp, "%*s", (int)(w - len), "");
}

void table_print(const struct table *t, FILE *fp)
{
	if (out_format != TABLE_AUTO) {
		table_export(t, out_format, fp);
		return;
	}
	if (!table_is_tty(fp)) {
		for (size_t c = 0; c < t->ncols; c++)
			fprintf(fp, "%s%c", t->cols[c].name, c + 1 == t->ncols ? '\n' : '\t');
		for (size_t r = 0; r < t->nrows; r++)
			for (size_t c = 0; c < t->ncols; c++) {
				const char *s = cell(t, r, c);
				fprintf(fp, "%s%c", *s ? s : "-", c + 1 == t->ncols ? '\n' : '\t');
			}
		return;
	}
	size_t *w = xcalloc(t->ncols ? t->ncols : 1, sizeof(*w)), total = 0;
	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = table_strwidth(t->cols[c].name);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t l = table_strwidth(cell(t, r, c));
			if (l > w[c])
				w[c] = l;
		}
		total += w[c] + (c ? 2 : 0);
	}
	/* Too wide: take a column at a time from the widest shrinkable column. */
	size_t width = (size_t)table_term_width(fp);
	while (total > width) {
		size_t best = t->ncols;
		for (size_t c = 0; c < t->ncols; c++) {
			size_t floor = table_strwidth(t->cols[c].name);
			floor = floor > MIN_SHRUNK ? floor : MIN_SHRUNK;
			if ((t->cols[c].flags & TABLE_SHRINK) && w[c] > floor && (best == t->ncols || w[c] > w[best]))
				best = c;
		}
		if (best == t->ncols)
			break; /* nothing left to give: the terminal wraps */
		w[best]--;
		total--;
	}
	fputs("\033[1m", fp);
	for (size_t c = 0; c < t->ncols; c++) {
		put_field(fp, t->cols[c].name, w[c], (t->cols[c].flags & TABLE_RIGHT) != 0, c + 1 == t->ncols);
		fputs(c + 1 == t->ncols ? "\033[0m\n" : "  ", fp);
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			put_field(fp, cell(t, r, c), w[c], (t->cols[c].flags & TABLE_RIGHT) != 0, c + 1 == t->ncols);
			fputs(c + 1 == t->ncols ? "\n" : "  ", fp);
		}
	free(w);
}

void table_age(double secs, char *out, size_t size)
{
	long long s = (long long)secs;
	if (s <= 0)
		snprintf(out, size, "-");
	else if (s < 60)
		snprintf(out, size, "%llds", s);
	else if (s < 3600)
		snprintf(out, size, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(out, size, "%lldh %lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, size, "%lldd %lldh", s / 86400, s % 86400 / 3600);
}
