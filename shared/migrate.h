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
 * Does the database's schema fit this program: 0 if it is exactly
 * migrate_latest(); MIGRATE_OLDER when the database is behind (what to do, "run
 * adminctl db bootstrap", in `err`); MIGRATE_NEWER when it is ahead (a newer
 * release migrated it: "upgrade this program" in `err`); -1 if it could not be
 * read. *current (may be NULL) gets the database's version.
 */
#define MIGRATE_OLDER 1
#define MIGRATE_NEWER 2
int migrate_check(struct db_conn *c, int *current, struct buf *err);

#endif
