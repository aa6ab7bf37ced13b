/*
 * query — adminctl's query language for jobs, the same in `adminctl jobs QUERY`
 * and the TUI's `/`, compiled to a parameterised SQL boolean expression over
 * the jobs table. Values never enter the SQL text: each is a $n parameter;
 * field names come from a fixed table; JSON paths are text[] parameters.
 *
 * Grammar (keywords case-insensitive; whitespace separates terms and may
 * surround an operator):
 *
 *   query      = [ or-expr ] END
 *   or-expr    = and-expr { "or" and-expr }
 *   and-expr   = unary { [ "and" ] unary }          terms side by side: AND
 *   unary      = ( "!" | "not" ) unary | primary
 *   primary    = "(" or-expr ")" | comparison | text
 *   comparison = field op value
 *   field      = NAME | json-field { "." KEY }1+
 *   json-field = "params" | "result" | "error" | "source"
 *   op         = "=" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "!~"
 *   value      = QUOTED | BARE
 *   text       = QUOTED | WORD                      free text, as --search
 *
 *   NAME  one of id status type tenant worker priority attempts max_attempts created
 *         started finished updated
 *   KEY   a run of characters other than whitespace, ( ) " ' . = ! < > ~
 *   WORD  a run of characters other than whitespace, ( ) " ' = ! < > ~
 *         that is not a keyword (or, and, not)
 *   BARE  a run of characters other than whitespace and ( )
 *   QUOTED "..." or '...'; a backslash takes the next character as it is
 *
 * Meaning:
 * - text: the job's id starts with it, its type is it, its error code is it
 *   or its error message contains it (any case).
 * - "~" contains (any case, no wildcards), "!=" and "!~" are exactly the jobs
 *   "=" and "~" do not match, including those without the field.
 * - status takes a job status; id = a whole job id; attempts and max_attempts
 *   whole numbers.
 * - created, started, finished, updated take an RFC 3339 time, a date
 *   (YYYY-MM-DD: its midnight UTC) or an age N{s,m,h,d,w}, which stands for
 *   the time that long ago: "created>2h" = created after now - 2h, i.e. within
 *   the last two hours; "created<7d" = more than 7 days ago.
 * - JSON fields follow object keys: params.height=720 matches 720 and "720"
 *   (a bare number, true, false or null also matches its JSON value, a quoted
 *   value only the string) through jsonb containment (@>), which a GIN index
 *   serves; ordered comparisons with a number compare JSON numbers, else text.
 *
 * Limits: QUERY_MAX_LEN bytes, QUERY_MAX_TERMS comparisons and words,
 * QUERY_MAX_DEPTH nested parentheses or negations.
 */
#ifndef ADMINCTL_QUERY_H
#define ADMINCTL_QUERY_H

#include <stddef.h>

#include "buf.h"

#define QUERY_MAX_LEN 4096
#define QUERY_MAX_TERMS 64
#define QUERY_MAX_DEPTH 32

/* Where and why a query was refused. */
struct query_error {
	int column;          /* 1-based, in characters of the query text */
	char message[192];   /* lower case, no "query:" prefix */
};

/*
 * A compiled query: `sql` is a parenthesised boolean SQL expression (or
 * "true") over the jobs table
 * (its columns prefixed by the alias given), whose parameters are
 * $first .. $first + nparams - 1 with the values params[0 .. nparams - 1]
 * (text; the SQL casts them). The struct owns sql and every params string;
 * query_sql_release frees them and leaves an empty struct.
 */
struct query_sql {
	struct buf sql;
	char **params;
	int nparams;
};

#define QUERY_SQL_INIT { .sql = BUF_INIT, .params = NULL, .nparams = 0 }

/*
 * Compile `text` (NULL or only whitespace: "true", no parameters) into *out,
 * which must be QUERY_SQL_INIT or released. `alias` names the jobs table in the
 * caller's SQL ("jobs", "j"; NULL or "" for bare column names). `first` is the
 * number of the first parameter (>= 1), so the expression fits after the
 * caller's own. 0, or -1 with *err filled and *out left empty.
 */
int query_compile(const char *text, const char *alias, int first, struct query_sql *out, struct query_error *err);

/* Free what *q owns; *q is empty (QUERY_SQL_INIT) again. */
void query_sql_release(struct query_sql *q);

#endif
