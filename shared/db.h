/*
 * db — a PostgreSQL connection pool (libpq) with per-connection prepared statements.
 *
 * Credentials come from the [database] secret (RDS JSON shape) through secrets.h;
 * when the server rejects them the secret is invalidated and refetched once
 * (rotation). TLS as [database] sslmode says, the server's certificate checked
 * against [database] sslrootcert for verify-ca and verify-full. Broken connections
 * are detected on release and reconnected on the next acquire with jittered
 * backoff; callers never see a dead connection twice.
 *
 * Thread safe: any thread may acquire; a db_conn is used by one thread at a time.
 */
#ifndef SPOOL_DB_H
#define SPOOL_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "buf.h"
#include "config.h"
#include "secrets.h"

struct db_pool;

struct db_conn {
	PGconn *pg;
	/* private: names of statements prepared on this connection */
	void *prepared;
	struct db_pool *pool;
	bool broken;
};

/* Create a pool of cfg->database.pool_size connections (opened lazily). Never NULL. */
struct db_pool *db_pool_new(const struct config *cfg, struct secrets *sec, int size);
void db_pool_free(struct db_pool *p);

/*
 * Take a connection, waiting up to `timeout_ms` for one to be free, connecting
 * if needed. NULL with a reason in `err` when the database cannot be reached.
 */
struct db_conn *db_acquire(struct db_pool *p, int timeout_ms, struct buf *err);
/*
 * Give it back; an open transaction is rolled back, a connection in a failed
 * state is closed and reopened later. A db_connect() connection is closed.
 */
void db_release(struct db_conn *c);

/*
 * Run a statement by name, preparing `sql` on this connection the first time.
 * Parameters are text (NULL = SQL NULL). Returns the PGresult (caller PQclear()s)
 * or NULL with the server's message in `err`; marks the connection broken when
 * the connection itself failed. `name` NULL runs `sql` once without preparing it
 * (one-off statements such as migrations' checks). Error messages end with
 * " (SQLSTATE XXXXX)" when the server gave one.
 */
PGresult *db_exec(struct db_conn *c, const char *name, const char *sql, int nparams,
		  const char *const *params, struct buf *err);
/* Run a parameterless command (BEGIN, COMMIT, ROLLBACK); 0 or -1 with `err`. */
int db_cmd(struct db_conn *c, const char *sql, struct buf *err);

/* Quick liveness check for /ready: 0 if "SELECT 1" works. */
int db_ping(struct db_pool *p, struct buf *err);

/* SQL expression formatting timestamptz column `col` as RFC 3339 UTC with milliseconds. */
#define DB_RFC3339(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
/*
 * The same instant as a UTC timestamp in PostgreSQL's own ISO text
 * ("2026-12-07 20:35:21.123456"; DateStyle is ISO on every connection), for
 * db_copy_rfc3339: about a fifth cheaper for the server than DB_RFC3339's
 * to_char in a row of six timestamps, which every read of a job returns.
 */
#define DB_UTC(col) "(" col " AT TIME ZONE 'UTC')"

/* Result helpers: a malloc'd copy of the value, NULL for SQL NULL. */
char *db_strdup(const PGresult *r, int row, int col);
/* Copy the value into `dst` (truncated to `size`), "" for SQL NULL. */
void db_copy(char *dst, size_t size, const PGresult *r, int row, int col);
/*
 * Copy a DB_UTC value as RFC 3339 with milliseconds, as DB_RFC3339 writes it
 * ("2026-12-07T20:35:21.123Z"); "" for SQL NULL or a value not of that form.
 */
void db_copy_rfc3339(char *dst, size_t size, const PGresult *r, int row, int col);

/* Open a single unpooled connection (adminctl, migrations). */
struct db_conn *db_connect(const struct config *cfg, struct secrets *sec, struct buf *err);
void db_close(struct db_conn *c);

#endif
