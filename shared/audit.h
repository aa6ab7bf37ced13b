/*
 * audit — the trail of operator actions (who, when, what, on what, how many).
 *
 * Every action adminctl takes, from the CLI or the TUI, is recorded here, in
 * the same database as the jobs it touched.
 */
#ifndef SPOOL_AUDIT_H
#define SPOOL_AUDIT_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "db.h"

/*
 * Record that `actor` did `action` ("keys.create", "job.retry", …) to `target`
 * (may be NULL) touching `count` things; `detail` (borrowed, may be NULL) is
 * stored as JSON. 0, or -1 with `err`.
 */
int audit_record(struct db_conn *c, const char *actor, const char *action, const char *target, int count,
		 json_t *detail, struct buf *err);

/* The operator's name: config's adminctl.user, else the login name, else the uid. malloc'd. */
char *audit_actor(const char *configured);

struct audit_entry {
	char at[40];
	char *actor, *action, *target; /* target may be NULL */
	int count;
	json_t *detail;                /* owned reference or NULL */
};

/* The newest `limit` entries, newest first; free with audit_entries_free. */
int audit_list(struct db_conn *c, int limit, struct audit_entry **out, size_t *n, struct buf *err);
void audit_entries_free(struct audit_entry *e, size_t n);

#endif
