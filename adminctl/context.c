/* The contexts of adminctl.ini (see context.h). */
#include "context.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FILE_MAX (1u << 20) /* config_load reads no more either */

enum line_kind {
	LINE_CONTEXT, /* [context NAME] */
	LINE_SECTION, /* [anything else] */
	LINE_OTHER,   /* key = value, comment, blank */
};

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

static const char *trim_end(const char *p, const char *end)
{
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	return end;
}

/* What the line [p, end) is; for a context line, its name (trimmed, maybe invalid) into `name`. */
static enum line_kind classify(const char *p, const char *end, struct buf *name)
{
	p = skip_blanks(p, end);
	end = trim_end(p, end);
	if (p == end || *p != '[')
		return LINE_OTHER;
	const char *close = memchr(p, ']', (size_t)(end - p));
	if (!close)
		return LINE_OTHER; /* config reports the syntax error */
	const char *s = skip_blanks(p + 1, close);
	if ((size_t)(close - s) < 8 || strncmp(s, "context", 7) || (s[7] != ' ' && s[7] != '\t'))
		return LINE_SECTION;
	s = skip_blanks(s + 7, close);
	buf_reset(name);
	buf_add(name, s, (size_t)(trim_end(s, close) - s));
	return LINE_CONTEXT;
}

static bool name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CTX_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return false;
	return true;
}

static void add_ctx(struct ctx_file *f, const char *name, int line)
{
	f->v = xrealloc(f->v, (f->n + 1) * sizeof(*f->v));
	f->v[f->n++] = (struct ctx_info){ .name = xstrdup(name), .line = line };
}

/* A key line under [context NAME]: only production = BOOL. */
static void context_key(struct ctx_file *f, const char *p, const char *end, int line, struct buf *err)
{
	p = skip_blanks(p, end);
	end = trim_end(p, end);
	if (p == end || *p == ';' || *p == '#')
		return;
	const char *eq = memchr(p, '=', (size_t)(end - p));
	const char *kend = trim_end(p, eq ? eq : end);
	struct ctx_info *c = &f->v[f->n - 1];
	if (!eq || (size_t)(kend - p) != 10 || strncmp(p, "production", 10)) {
		buf_printf(err, "config: '%s' line %d: unknown key '%.*s' in [context %s] (only 'production'; "
				"the context's sections follow it)\n", f->path, line, (int)(kend - p), p, c->name);
		return;
	}
	const char *v = skip_blanks(eq + 1, end);
	size_t vn = (size_t)(end - v);
	static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (vn == strlen(yes[i]) && !strncasecmp(v, yes[i], vn)) {
			c->production = true;
			return;
		}
		if (vn == strlen(no[i]) && !strncasecmp(v, no[i], vn)) {
			c->production = false;
			return;
		}
	}
	buf_printf(err, "config: '%s' line %d: key 'production' in [context %s]: '%.*s' is not a boolean "
			"(true or false)\n", f->path, line, c->name, (int)vn, v);
}

/* The lines of a file's text, one at a time, with where each stands. */
struct cursor {
	const char *next;       /* the rest of the text */
	const char *p, *end;    /* the current line, without its '\n' */
	int line;               /* its number */
	enum line_kind kind;
	bool head;              /* it is a [context] line or a key right under one */
	int ctx_line;           /* the [context] line it belongs to; 0: the shared part */
	struct buf name;        /* for LINE_CONTEXT: the name */
};

/* Step to the next line: false at the end of the text. */
static bool cursor_next(struct cursor *c)
{
	if (!*c->next)
		return false;
	const char *nl = strchr(c->next, '\n');
	c->p = c->next;
	c->end = nl ? nl : c->p + strlen(c->p);
	c->next = nl ? nl + 1 : c->end;
	c->line++;
	c->kind = classify(c->p, c->end, &c->name);
	if (c->kind == LINE_CONTEXT) {
		c->head = true;
		c->ctx_line = c->line;
	} else if (c->kind == LINE_SECTION) {
		c->head = false;
	}
	return true;
}

/* Scan the contexts of f->text; errors appended to `err`. */
static void scan(struct ctx_file *f, struct buf *err)
{
	struct cursor cu = { .next = f->text };
	while (cursor_next(&cu)) {
		int line = cu.line;
		if (cu.kind == LINE_CONTEXT) {
			const char *s = buf_str(&cu.name);
			if (!name_valid(s))
				buf_printf(err, "config: '%s' line %d: bad context name '%s' (1 to %d letters, digits, "
						"'.', '_' or '-')\n", f->path, line, s, CTX_NAME_MAX);
			else if (ctx_find(f, s) && f->named)
				buf_printf(err, "config: '%s' line %d: context '%s' is defined twice\n", f->path, line, s);
			if (!f->named) {
				f->named = true;
				for (size_t i = 0; i < f->n; i++)
					free(f->v[i].name);
				f->n = 0;
			}
			add_ctx(f, s, line);
		} else if (cu.head) {
			context_key(f, cu.p, cu.end, line, err);
		}
	}
	buf_release(&cu.name);
}

int ctx_file_read(struct ctx_file *f, const char *path, struct buf *err)
{
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	add_ctx(f, CTX_DEFAULT_NAME, 0);
	FILE *fp = fopen(path, "r");
	if (!fp) {
		buf_printf(err, "config: '%s': cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	struct buf text = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0 && text.len < FILE_MAX)
		buf_add(&text, chunk, n);
	int bad = ferror(fp);
	fclose(fp);
	if (bad) {
		buf_printf(err, "config: '%s': cannot read: %s\n", path, strerror(errno));
		buf_release(&text);
		return -1;
	}
	buf_str(&text);
	f->text = buf_detach(&text);
	size_t before = err->len;
	scan(f, err);
	return err->len > before ? -1 : 0;
}

void ctx_file_free(struct ctx_file *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].name);
	free(f->v);
	free(f->text);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

const struct ctx_info *ctx_find(const struct ctx_file *f, const char *name)
{
	if (!name || !*name)
		return f->n ? &f->v[0] : NULL;
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].name, name))
			return &f->v[i];
	return NULL;
}

void ctx_names(const struct ctx_file *f, struct buf *out)
{
	for (size_t i = 0; i < f->n; i++)
		buf_printf(out, "%s%s", i ? ", " : "", f->v[i].name);
}

int ctx_load(const struct ctx_file *f, const struct ctx_info *c, struct config *cfg, unsigned program,
	     struct buf *err)
{
	if (!f->named)
		return config_load_string(cfg, f->path, f->text ? f->text : "", program, err);
	/* keep the shared part and c's sections; every other line becomes empty */
	struct buf text = BUF_INIT;
	struct cursor cu = { .next = f->text };
	while (cursor_next(&cu)) {
		if ((cu.ctx_line == 0 || cu.ctx_line == c->line) && !cu.head)
			buf_add(&text, cu.p, (size_t)(cu.end - cu.p));
		buf_addc(&text, '\n');
	}
	int rc = config_load_string(cfg, f->path, buf_str(&text), program, err);
	buf_release(&text);
	buf_release(&cu.name);
	return rc;
}

bool ctx_confirmed(const struct ctx_info *c, const char *typed)
{
	if (!typed)
		return false;
	const char *end = typed + strlen(typed);
	typed = skip_blanks(typed, end);
	while (end > typed && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	return (size_t)(end - typed) == strlen(c->name) && !strncmp(typed, c->name, (size_t)(end - typed));
}
