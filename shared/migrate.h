/*
 * migrate — the database schema, as numbered migrations compiled into the program.
 *
 * Each migration runs in its own transaction under an advisory lock, so several
 * programs starting at once apply it exactly once, and re-running is a no-op.
 * A database whose schema is newer than the newest migration this program knows
 * is refused (an old binary must not write to a newer schema).
 *
 * Return convention: 0 success, -1 error with a one-line reason in `err`.
 */
#ifndef SPOOL_MIGRATE_H
#define SPOOL_MIGRATE_H

#include "buf.h"
#include "db.h"

/* Newest schema version this program knows. */
int migrate_latest(void);

/*
 * Apply what is missing; *from / *to (may be NULL) get the versions before and
 * after this call's own changes (equal when another process applied them).
 */
int migrate_apply(struct db_conn *c, int *from, int *to, struct buf *err);

/* The database's schema version (0: empty database) and this program's latest. */
int migrate_status(struct db_conn *c, int *current, int *latest, struct buf *err);

/*
 * For daemons at start: 0 if the schema is exactly migrate_latest(), else -1 with
 * what to do ("run adminctl db migrate" or "upgrade this program") in `err`.
 */
int migrate_check(struct db_conn *c, struct buf *err);

#endif
