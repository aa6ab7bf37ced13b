/*
 * fuzz-query — query_compile() of adminctl's query language (adminctl jobs
 * QUERY, the TUI's `/`) on arbitrary text. A refused query names a column
 * within the text (or just past it) and a message, and leaves no SQL; an
 * accepted one is SQL whose parentheses and quotes balance and whose
 * placeholders are exactly $first .. $first + nparams - 1, each used.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../adminctl/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The SQL's parentheses (outside '...') balance and every $n is within [first, last]. */
static void check_sql(const char *sql, int first, int last)
{
	int depth = 0;
	int seen = 0;
	bool quoted = false;
	for (const char *p = sql; *p; p++) {
		if (*p == '\'') {
			quoted = !quoted;
		} else if (quoted) {
			continue;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			if (--depth < 0)
				abort();
		} else if (*p == '$') {
			char *end;
			long n = strtol(p + 1, &end, 10);
			if (end == p + 1 || n < first || n > last)
				abort();
			if (n > seen)
				seen = (int)n;
		}
	}
	if (depth || quoted || (last >= first && seen != last))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	size_t len = strlen(text);
	int first = 1 + (int)(size % 7);
	struct query_sql q = QUERY_SQL_INIT;
	struct query_error e;
	if (query_compile(text, "j", first, &q, &e) < 0) {
		if (e.column < 1 || (size_t)e.column > len + 1 || !e.message[0] || q.sql.len || q.nparams)
			abort();
	} else {
		check_sql(buf_str(&q.sql), first, first + q.nparams - 1);
		for (int i = 0; i < q.nparams; i++)
			if (!q.params[i])
				abort();
	}
	query_sql_release(&q);
	free(text);
	return 0;
}
