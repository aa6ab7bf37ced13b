/* The query language of query.h: a recursive-descent parser that writes SQL as it goes. */
#include "query.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "job.h"
#include "timefmt.h"

#define PATH_MAX_KEYS 16

enum field_kind { F_ID, F_STATUS, F_TEXT, F_INT, F_TIME, F_JSON };

struct field {
	const char *name;
	const char *column;
	enum field_kind kind;
};

/* The fields a query may name, and their columns: the only names that reach the SQL. */
static const struct field fields[] = {
	{ "id", "id", F_ID },
	{ "status", "status", F_STATUS },
	{ "type", "type", F_TEXT },
	{ "tenant", "tenant_id", F_TEXT },
	{ "worker", "worker_id", F_TEXT },
	{ "priority", "priority", F_TEXT },
	{ "attempts", "attempts", F_INT },
	{ "max_attempts", "max_attempts", F_INT },
	{ "created", "created_at", F_TIME },
	{ "started", "started_at", F_TIME },
	{ "finished", "finished_at", F_TIME },
	{ "updated", "updated_at", F_TIME },
	{ "params", "params", F_JSON },
	{ "result", "result", F_JSON },
	{ "error", "error", F_JSON },
	{ "source", "source", F_JSON },
};

enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_HAS, OP_HASNT };

static const struct {
	const char *text;
	enum op op;
} ops[] = {
	/* two-character operators first */
	{ "!=", OP_NE }, { "!~", OP_HASNT }, { "<=", OP_LE }, { ">=", OP_GE },
	{ "=", OP_EQ },	 { "<", OP_LT },     { ">", OP_GT },  { "~", OP_HAS },
};

static const char *const sql_ops[] = { [OP_EQ] = "=", [OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">=" };

struct parser {
	const char *s;
	size_t pos;
	const char *alias;
	int first;
	struct query_sql *out;
	struct query_error *err;
	int depth, terms;
	bool failed;
};

/* A value as written: its text (unquoted, malloc'd), whether it was quoted, where it starts. */
struct value {
	char *text;
	bool quoted;
	size_t at;
};

static int column_of(const char *s, size_t pos)
{
	int col = 1;
	for (size_t i = 0; i < pos && s[i]; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			col++;
	return col;
}

/* Record the first error only; returns -1 for the callers' convenience. */
static int fail_at(struct parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(struct parser *p, size_t pos, const char *fmt, ...)
{
	if (p->failed)
		return -1;
	p->failed = true;
	p->err->column = column_of(p->s, pos);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_op_char(char c)
{
	return c == '=' || c == '!' || c == '<' || c == '>' || c == '~';
}

static bool is_word_char(char c)
{
	return c && !is_space(c) && c != '(' && c != ')' && c != '"' && c != '\'' && !is_op_char(c);
}

static void skip_space(struct parser *p)
{
	while (is_space(p->s[p->pos]))
		p->pos++;
}

/* The length of the word at pos. */
static size_t word_len(const struct parser *p, size_t pos)
{
	size_t n = 0;
	while (is_word_char(p->s[pos + n]))
		n++;
	return n;
}

/* Is the word at pos the keyword `kw`? */
static bool at_keyword(const struct parser *p, const char *kw)
{
	size_t n = word_len(p, p->pos);
	if (n != strlen(kw) || strncasecmp(p->s + p->pos, kw, n))
		return false;
	/* "not=1" or "or~x" compare fields named so, not keywords */
	size_t after = p->pos + n;
	while (is_space(p->s[after]))
		after++;
	return !is_op_char(p->s[after]) || (p->s[after] == '!' && p->s[after + 1] != '=' && p->s[after + 1] != '~');
}

/* The operator at pos, its length in *len; -1 if none. */
static int op_at(const struct parser *p, size_t pos, size_t *len)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i].text);
		if (!strncmp(p->s + pos, ops[i].text, n)) {
			*len = n;
			return (int)ops[i].op;
		}
	}
	return -1;
}

/* A quoted string at pos into *out (malloc'd); pos moves past the closing quote. */
static int read_quoted(struct parser *p, char **out)
{
	char q = p->s[p->pos];
	size_t start = p->pos++;
	struct buf b = BUF_INIT;
	for (;;) {
		char c = p->s[p->pos];
		if (!c) {
			buf_release(&b);
			return fail_at(p, start, "unterminated quote: %c without its closing %c", q, q);
		}
		p->pos++;
		if (c == q)
			break;
		if (c == '\\' && p->s[p->pos])
			c = p->s[p->pos++];
		buf_addc(&b, c);
	}
	*out = buf_detach(&b);
	return 0;
}

/* Add a parameter (copied); returns its number. */
static int add_param(struct parser *p, const char *v)
{
	struct query_sql *q = p->out;
	q->params = xrealloc(q->params, (size_t)(q->nparams + 1) * sizeof(*q->params));
	q->params[q->nparams++] = xstrdup(v);
	return p->first + q->nparams - 1;
}

/* Add a LIKE pattern that matches `v` anywhere, its wildcards taken literally. */
static int add_contains(struct parser *p, const char *v)
{
	struct buf b = BUF_INIT;
	buf_addc(&b, '%');
	for (const char *c = v; *c; c++) {
		if (*c == '%' || *c == '_' || *c == '\\')
			buf_addc(&b, '\\');
		buf_addc(&b, *c);
	}
	buf_addc(&b, '%');
	int n = add_param(p, buf_str(&b));
	buf_release(&b);
	return n;
}

/* "alias.column" into the SQL. */
static void add_column(struct parser *p, const char *column)
{
	if (p->alias && *p->alias)
		buf_printf(&p->out->sql, "%s.", p->alias);
	buf_adds(&p->out->sql, column);
}

static const struct field *field_find(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strlen(fields[i].name) == n && !strncasecmp(fields[i].name, name, n))
			return &fields[i];
	return NULL;
}

/* A JSON number as RFC 8259 writes it. */
static bool is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (isdigit((unsigned char)*s))
		while (isdigit((unsigned char)*s))
			s++;
	else
		return false;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return !*s;
}

/* The text[] literal of a path: {"a","b"}. */
static void path_literal(char *const *keys, int n, struct buf *b)
{
	buf_addc(b, '{');
	for (int i = 0; i < n; i++) {
		buf_adds(b, i ? ",\"" : "\"");
		for (const char *c = keys[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				buf_addc(b, '\\');
			buf_addc(b, *c);
		}
		buf_addc(b, '"');
	}
	buf_addc(b, '}');
}

/* The JSON document {"a":{"b":LEAF}} that contains LEAF (JSON text) at the path. */
static void containment_doc(char *const *keys, int n, const char *leaf, struct buf *b)
{
	for (int i = 0; i < n; i++) {
		json_t *js = json_string(keys[i]);
		char *enc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
		buf_printf(b, "{%s:", enc ? enc : "\"\"");
		free(enc);
		json_decref(js);
	}
	buf_adds(b, leaf);
	for (int i = 0; i < n; i++)
		buf_addc(b, '}');
}

/* `column @> $n::jsonb` for LEAF (JSON text) at the path. */
static void add_containment(struct parser *p, const char *column, char *const *keys, int n, const char *leaf)
{
	struct buf doc = BUF_INIT;
	containment_doc(keys, n, leaf, &doc);
	int pn = add_param(p, buf_str(&doc));
	buf_release(&doc);
	add_column(p, column);
	buf_printf(&p->out->sql, " @> $%d::jsonb", pn);
}

/* A comparison of a JSON field at a path. */
static int compile_json(struct parser *p, const struct field *f, char *const *keys, int nkeys, enum op op,
			const struct value *v)
{
	struct buf *sql = &p->out->sql;
	struct buf tmp = BUF_INIT;
	path_literal(keys, nkeys, &tmp);
	if (op == OP_EQ) {
		json_t *js = json_string(v->text);
		if (!js) {
			buf_release(&tmp);
			return fail_at(p, v->at, "the value is not valid UTF-8");
		}
		char *str = json_dumps(js, JSON_ENCODE_ANY);
		json_decref(js);
		bool literal = !v->quoted && (is_json_number(v->text) || !strcmp(v->text, "true") ||
					      !strcmp(v->text, "false") || !strcmp(v->text, "null"));
		if (literal) {
			buf_addc(sql, '(');
			add_containment(p, f->column, keys, nkeys, v->text);
			buf_adds(sql, " OR ");
			add_containment(p, f->column, keys, nkeys, str);
			buf_addc(sql, ')');
		} else {
			add_containment(p, f->column, keys, nkeys, str);
		}
		free(str);
	} else if (op == OP_HAS && nkeys == 1) {
		/* ->> with one key: the same expression as a trigram index on error->>'message' */
		int pk = add_param(p, keys[0]);
		buf_addc(sql, '(');
		add_column(p, f->column);
		buf_printf(sql, " ->> $%d::text) ILIKE $%d", pk, add_contains(p, v->text));
	} else if (op == OP_HAS) {
		int pp = add_param(p, buf_str(&tmp));
		buf_addc(sql, '(');
		add_column(p, f->column);
		buf_printf(sql, " #>> $%d::text[]) ILIKE $%d", pp, add_contains(p, v->text));
	} else if (!v->quoted && is_json_number(v->text)) {
		int pp = add_param(p, buf_str(&tmp));
		buf_adds(sql, "CASE WHEN jsonb_typeof(");
		add_column(p, f->column);
		buf_printf(sql, " #> $%d::text[]) = 'number' THEN (", pp);
		add_column(p, f->column);
		buf_printf(sql, " #>> $%d::text[])::numeric END %s $%d::numeric", pp, sql_ops[op],
			   add_param(p, v->text));
	} else {
		int pp = add_param(p, buf_str(&tmp));
		buf_addc(sql, '(');
		add_column(p, f->column);
		buf_printf(sql, " #>> $%d::text[]) %s $%d", pp, sql_ops[op], add_param(p, v->text));
	}
	buf_release(&tmp);
	return 0;
}

/* A time value: RFC 3339, a date, or an age. Appends the SQL of the time. */
static int time_value(struct parser *p, const struct field *f, const struct value *v)
{
	const char *s = v->text;
	size_t n = strlen(s);
	time_t t;
	char when[TIMEFMT_UTC_SIZE];
	if (n > 1 && isalpha((unsigned char)s[n - 1]) && isdigit((unsigned char)s[0]) && n < 16) {
		char num[16];
		memcpy(num, s, n - 1);
		num[n - 1] = '\0';
		char *end;
		errno = 0;
		long long k = strtoll(num, &end, 10);
		static const struct {
			char unit;
			long long secs;
		} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 } };
		for (size_t i = 0; !*end && !errno && i < sizeof(units) / sizeof(units[0]); i++) {
			if (units[i].unit != s[n - 1] || k > 100LL * 365 * 86400 / units[i].secs)
				continue;
			char iv[40];
			snprintf(iv, sizeof(iv), "%lld seconds", k * units[i].secs);
			buf_printf(&p->out->sql, "now() - $%d::interval", add_param(p, iv));
			return 0;
		}
	}
	char full[48];
	if (n == 10 && s[4] == '-' && s[7] == '-') {
		snprintf(full, sizeof(full), "%sT00:00:00Z", s);
		s = full;
	}
	if (timefmt_parse(s, &t) == 0) {
		timefmt_utc(t, when);
		buf_printf(&p->out->sql, "$%d::timestamptz", add_param(p, when));
		return 0;
	}
	return fail_at(p, v->at,
		       "%s wants an RFC 3339 time (2024-05-01T12:00:00Z), a date (2024-05-01) or an age (90m, 2h, "
		       "7d), not '%s'",
		       f->name, v->text);
}

/* A comparison with = < <= > >= ~ (the negated ones are wrapped by the caller). */
static int compile_cmp(struct parser *p, const struct field *f, char *const *keys, int nkeys, enum op op,
		       const struct value *v, size_t op_at_pos)
{
	struct buf *sql = &p->out->sql;
	bool ordered = op != OP_EQ && op != OP_HAS;
	switch (f->kind) {
	case F_JSON:
		return compile_json(p, f, keys, nkeys, op, v);
	case F_ID:
		if (ordered)
			return fail_at(p, op_at_pos, "id takes = != ~ !~ only");
		if (op == OP_HAS) {
			add_column(p, "id::text");
			buf_printf(sql, " ILIKE $%d", add_contains(p, v->text));
			return 0;
		}
		if (!job_id_valid(v->text))
			return fail_at(p, v->at, "'%s' is not a whole job id (a word alone matches an id prefix)",
				       v->text);
		add_column(p, f->column);
		buf_printf(sql, " = $%d::uuid", add_param(p, v->text));
		return 0;
	case F_STATUS:
		if (ordered)
			return fail_at(p, op_at_pos, "status takes = != ~ !~ only");
		if (op == OP_EQ) {
			enum job_status st;
			if (job_status_parse(v->text, &st) != 0)
				return fail_at(p, v->at,
					       "unknown status '%s' (scheduled, queued, running, retrying, succeeded, "
					       "failed, cancelled)",
					       v->text);
		}
		/* fallthrough */
	case F_TEXT:
		add_column(p, f->column);
		if (op == OP_HAS)
			buf_printf(sql, " ILIKE $%d", add_contains(p, v->text));
		else
			buf_printf(sql, " %s $%d", sql_ops[op], add_param(p, v->text));
		return 0;
	case F_INT: {
		if (op == OP_HAS)
			return fail_at(p, op_at_pos, "%s is a number: '~' compares text", f->name);
		char *end;
		errno = 0;
		long k = strtol(v->text, &end, 10);
		if (!*v->text || *end || errno || k < -2147483647L || k > 2147483647L)
			return fail_at(p, v->at, "%s wants a whole number, not '%s'", f->name, v->text);
		add_column(p, f->column);
		buf_printf(sql, " %s $%d::int", sql_ops[op], add_param(p, v->text));
		return 0;
	}
	case F_TIME:
		if (op == OP_HAS)
			return fail_at(p, op_at_pos, "%s is a time: '~' compares text", f->name);
		add_column(p, f->column);
		buf_printf(sql, " %s ", sql_ops[op]);
		return time_value(p, f, v);
	}
	return -1;
}

/* Free text: what --search matches. */
static void compile_text(struct parser *p, const char *text)
{
	struct buf *sql = &p->out->sql;
	int n = add_param(p, text);
	buf_adds(sql, "(starts_with(");
	add_column(p, "id::text");
	buf_printf(sql, ", lower($%d)) OR ", n);
	add_column(p, "type");
	buf_printf(sql, " = $%d OR ", n);
	add_column(p, "error->>'code'");
	buf_printf(sql, " = $%d OR ", n);
	add_column(p, "error->>'message'");
	buf_printf(sql, " ILIKE $%d)", add_contains(p, text));
}

static int count_term(struct parser *p, size_t at)
{
	if (++p->terms > QUERY_MAX_TERMS)
		return fail_at(p, at, "more than %d terms", QUERY_MAX_TERMS);
	return 0;
}

/* field op value, the field's name of n bytes at pos. */
static int parse_comparison(struct parser *p, size_t n)
{
	size_t start = p->pos;
	char *keys[PATH_MAX_KEYS];
	int nkeys = 0;
	const char *dot = memchr(p->s + start, '.', n);
	size_t base = dot ? (size_t)(dot - (p->s + start)) : n;
	const struct field *f = field_find(p->s + start, base);
	if (!f)
		return fail_at(p, start,
			       "unknown field '%.*s' (id, status, type, tenant, worker, attempts, max_attempts, "
			       "created, started, finished, updated, params.KEY, result.KEY, error.KEY, source.KEY)",
			       (int)base, p->s + start);
	if (f->kind == F_JSON && !dot)
		return fail_at(p, start, "%s needs a key: %s.KEY", f->name, f->name);
	if (f->kind != F_JSON && dot)
		return fail_at(p, start + base, "%s has no keys", f->name);
	int rc = 0;
	for (size_t i = base; dot && i < n && !rc;) {
		size_t k = i + 1;
		while (k < n && p->s[start + k] != '.')
			k++;
		if (k == i + 1)
			rc = fail_at(p, start + i + 1, "expected a key after '.'");
		else if (nkeys == PATH_MAX_KEYS)
			rc = fail_at(p, start + i, "a path has at most %d keys", PATH_MAX_KEYS);
		else
			keys[nkeys++] = xstrndup(p->s + start + i + 1, k - i - 1);
		i = k;
	}
	p->pos = start + n;
	skip_space(p);
	size_t op_pos = p->pos, oplen = 0;
	int op = rc ? -1 : op_at(p, op_pos, &oplen);
	struct value v = { 0 };
	if (!rc) {
		p->pos += oplen;
		skip_space(p);
		v.at = p->pos;
		char c = p->s[p->pos];
		if (c == '"' || c == '\'') {
			v.quoted = true;
			rc = read_quoted(p, &v.text);
		} else {
			size_t k = 0;
			while (p->s[p->pos + k] && !is_space(p->s[p->pos + k]) && p->s[p->pos + k] != '(' &&
			       p->s[p->pos + k] != ')')
				k++;
			if (!k)
				rc = fail_at(p, op_pos, "expected a value after '%.*s'", (int)oplen, p->s + op_pos);
			else
				v.text = xstrndup(p->s + p->pos, k);
			p->pos += k;
		}
	}
	if (!rc) {
		bool negated = op == OP_NE || op == OP_HASNT;
		enum op pos_op = op == OP_NE ? OP_EQ : op == OP_HASNT ? OP_HAS : (enum op)op;
		if (negated)
			buf_adds(&p->out->sql, "NOT coalesce(");
		rc = compile_cmp(p, f, keys, nkeys, pos_op, &v, op_pos);
		if (negated)
			buf_adds(&p->out->sql, ", false)");
	}
	free(v.text);
	for (int i = 0; i < nkeys; i++)
		free(keys[i]);
	return rc;
}

/* Past the keyword or "!" of `len` bytes at pos, a term must follow; -1 if none does. */
static int after_keyword(struct parser *p, size_t len)
{
	size_t kw = p->pos;
	p->pos += len;
	skip_space(p);
	if (!p->s[p->pos] || p->s[p->pos] == ')' || at_keyword(p, "or") || at_keyword(p, "and")) {
		if (len == 1 || kw == 0 || !strncasecmp(p->s + kw, "not", len))
			return fail_at(p, p->pos, "expected a term after '%.*s'", (int)len, p->s + kw);
		return fail_at(p, p->pos, "expected a term after '%.*s' at column %d", (int)len, p->s + kw,
			       column_of(p->s, kw));
	}
	return 0;
}

static int parse_or(struct parser *p);

static int parse_unary(struct parser *p)
{
	skip_space(p);
	size_t at = p->pos;
	char c = p->s[at];
	bool bang = c == '!' && p->s[at + 1] != '=' && p->s[at + 1] != '~';
	if (bang || at_keyword(p, "not")) {
		if (++p->depth > QUERY_MAX_DEPTH)
			return fail_at(p, at, "nested deeper than %d", QUERY_MAX_DEPTH);
		if (after_keyword(p, bang ? 1 : 3) < 0)
			return -1;
		buf_adds(&p->out->sql, "NOT coalesce(");
		if (parse_unary(p) < 0)
			return -1;
		buf_adds(&p->out->sql, ", false)");
		p->depth--;
		return 0;
	}
	if (c == '(') {
		if (++p->depth > QUERY_MAX_DEPTH)
			return fail_at(p, at, "nested deeper than %d", QUERY_MAX_DEPTH);
		p->pos++;
		skip_space(p);
		if (p->s[p->pos] == ')')
			return fail_at(p, p->pos, "expected a term after '('");
		buf_addc(&p->out->sql, '(');
		if (parse_or(p) < 0)
			return -1;
		skip_space(p);
		if (p->s[p->pos] != ')')
			return fail_at(p, p->pos, p->s[p->pos] ? "expected ')'" : "expected ')' to close the '(' at column %d",
				       column_of(p->s, at));
		p->pos++;
		buf_addc(&p->out->sql, ')');
		p->depth--;
		return 0;
	}
	if (count_term(p, at) < 0)
		return -1;
	if (c == '"' || c == '\'') {
		char *text;
		if (read_quoted(p, &text) < 0)
			return -1;
		compile_text(p, text);
		free(text);
		return 0;
	}
	size_t n = word_len(p, at);
	if (!n) {
		if (!c)
			return fail_at(p, at, "expected a term at the end");
		if (c == ')')
			return fail_at(p, at, "unexpected ')'");
		size_t oplen = 0;
		if (op_at(p, at, &oplen) >= 0)
			return fail_at(p, at, "expected a field before '%.*s'", (int)oplen, p->s + at);
		return fail_at(p, at, "unexpected '%c'", c);
	}
	size_t after = at + n, oplen;
	while (is_space(p->s[after]))
		after++;
	if (op_at(p, after, &oplen) >= 0)
		return parse_comparison(p, n);
	if (p->s[at + n] == '!')
		return fail_at(p, at + n, "expected '!=' or '!~' after '%.*s'", (int)n, p->s + at);
	char *word = xstrndup(p->s + at, n);
	compile_text(p, word);
	free(word);
	p->pos = at + n;
	return 0;
}

/* and-expr: unary { [and] unary }, up to "or", ")" or the end. */
static int parse_and(struct parser *p)
{
	if (parse_unary(p) < 0)
		return -1;
	for (;;) {
		skip_space(p);
		char c = p->s[p->pos];
		if (!c || c == ')' || at_keyword(p, "or"))
			return 0;
		if (at_keyword(p, "and") && after_keyword(p, 3) < 0)
			return -1;
		buf_adds(&p->out->sql, " AND ");
		if (parse_unary(p) < 0)
			return -1;
	}
}

static int parse_or(struct parser *p)
{
	skip_space(p);
	if (at_keyword(p, "or") || at_keyword(p, "and"))
		return fail_at(p, p->pos, "expected a term before '%.*s'", (int)word_len(p, p->pos), p->s + p->pos);
	if (parse_and(p) < 0)
		return -1;
	for (;;) {
		skip_space(p);
		if (!at_keyword(p, "or"))
			return 0;
		if (after_keyword(p, 2) < 0)
			return -1;
		buf_adds(&p->out->sql, " OR ");
		if (parse_and(p) < 0)
			return -1;
	}
}

int query_compile(const char *text, const char *alias, int first, struct query_sql *out, struct query_error *err)
{
	struct parser p = { .s = text ? text : "", .alias = alias, .first = first < 1 ? 1 : first, .out = out,
			    .err = err };
	memset(err, 0, sizeof(*err));
	query_sql_release(out);
	size_t len = strlen(p.s);
	if (len > QUERY_MAX_LEN) {
		fail_at(&p, QUERY_MAX_LEN, "longer than %d bytes", QUERY_MAX_LEN);
		return -1;
	}
	skip_space(&p);
	if (!p.s[p.pos]) {
		buf_adds(&out->sql, "true");
		return 0;
	}
	buf_addc(&out->sql, '(');
	if (parse_or(&p) == 0) {
		skip_space(&p);
		if (p.s[p.pos] == ')')
			fail_at(&p, p.pos, "unexpected ')'");
		else if (p.s[p.pos])
			fail_at(&p, p.pos, "unexpected '%c'", p.s[p.pos]);
	}
	if (p.failed) {
		query_sql_release(out);
		return -1;
	}
	buf_addc(&out->sql, ')');
	return 0;
}

void query_sql_release(struct query_sql *q)
{
	buf_release(&q->sql);
	for (int i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	q->params = NULL;
	q->nparams = 0;
}
