/*
 * dbroles — the database roles spool-api and spool-worker connect as.
 *
 * Each daemon gets a login role of its own that may read and write exactly the
 * tables it uses, with exactly the privileges it needs on each (dbroles.c holds
 * the table), and USAGE on the sequences behind the ids it inserts. The roles
 * own nothing and may create nothing: no DDL, no DROP, no TRUNCATE. The schema
 * is migrated by the owner of the tables (the master user), who also runs
 * dbroles_ensure() after each migration so that a new table's grants follow.
 *
 * Return convention: 0 success, -1 error with a one-line reason in `err` that
 * never holds a password.
 */
#ifndef SPOOL_DBROLES_H
#define SPOOL_DBROLES_H

#include <stdbool.h>

#include "buf.h"
#include "db.h"

enum dbroles_kind {
	DBROLES_API,
	DBROLES_WORKER,
};

/* "api" or "worker". */
const char *dbroles_kind_name(enum dbroles_kind k);

/*
 * The grants of `kind` as "TABLE:PRIV,PRIV" strings, for documentation and
 * tests: *n gets the count; the array is static.
 */
const char *const *dbroles_grants(enum dbroles_kind kind, int *n);

/*
 * Make `role` the least-privilege login role of `kind` on c's database, in one
 * transaction: created with LOGIN and `password` when absent (sent as a
 * SCRAM-SHA-256 verifier made here, so the password never reaches the server
 * or its logs); an existing role keeps its password. Its privileges on the
 * tables and sequences of schema public are set to exactly the grants of
 * `kind` (what another release granted is taken back), and CREATE on schema
 * public is taken from PUBLIC (PostgreSQL before 15 gave it). A role that is a
 * superuser, may create roles or databases, or is the connected user is
 * refused. *created (may be NULL) tells whether the role was made.
 * The caller holds whatever lock keeps other callers out (CREATE ROLE races).
 */
int dbroles_ensure(struct db_conn *c, enum dbroles_kind kind, const char *role, const char *password,
		   bool *created, struct buf *err);

#endif
