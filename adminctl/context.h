/*
 * context — the environments one adminctl.ini describes.
 *
 * A plain adminctl.ini is one context, "default". A file may instead hold
 * several: what comes before the first `[context NAME]` line is shared by all
 * of them, and each `[context NAME]` line starts a block that lasts until the
 * next one. The keys right under `[context NAME]` describe the context itself
 * (only `production = true|false`); the sections after it ([database],
 * [rabbitmq], …) are that context's, read exactly as in a plain file:
 *
 *     [log]
 *     level = warn
 *     [context staging]
 *     [database]
 *     secret = arn:…:spool/staging-db
 *     [context prod]
 *     production = true
 *     [database]
 *     secret = arn:…:spool/prod-db
 *
 * A context is chosen by name (-C, SPOOL_CONTEXT); without one, the first of
 * the file. Loading a context hands config_load_string() the file's text with
 * every line of the other contexts (and the context lines themselves) blanked,
 * so config's messages still name the file's own line numbers.
 *
 * Ownership: struct ctx_file owns its path, text and names; ctx_file_free()
 * releases them. Nothing here opens a service or prints.
 */
#ifndef ADMINCTL_CONTEXT_H
#define ADMINCTL_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"

#define CTX_DEFAULT_NAME "default"
#define CTX_NAME_MAX 63 /* letters, digits, '.', '_', '-' */

struct ctx_info {
	char *name;      /* owned */
	bool production; /* `production = true`: destructive actions need the name typed */
	int line;        /* of its [context NAME] line; 0 for the implicit "default" */
};

struct ctx_file {
	char *path;          /* owned */
	char *text;          /* the whole file, owned */
	struct ctx_info *v;  /* at least one */
	size_t n;
	bool named;          /* the file has [context] sections (else: one "default") */
};

/*
 * Read and scan `path`: 0, or -1 with one line per problem in `err` (cannot
 * read, a bad or repeated context name, an unknown key under [context NAME]).
 * `f` is freeable either way.
 */
int ctx_file_read(struct ctx_file *f, const char *path, struct buf *err);
void ctx_file_free(struct ctx_file *f);

/* The context called `name` (NULL or "": the first), or NULL when there is none. */
const struct ctx_info *ctx_find(const struct ctx_file *f, const char *name);

/* The names of every context, ", "-separated, into `out` (appended): for messages. */
void ctx_names(const struct ctx_file *f, struct buf *out);

/* Load context `c` of `f` into `cfg` for `program`, as config_load_string() does. */
int ctx_load(const struct ctx_file *f, const struct ctx_info *c, struct config *cfg, unsigned program,
	     struct buf *err);

/* Does `typed` (a line the user typed: blanks around it ignored) name context `c`? */
bool ctx_confirmed(const struct ctx_info *c, const char *typed);

#endif
