/*
 * outbox — the rows waiting to be published to RabbitMQ. A transaction that
 * changes a job inserts what it must publish (the spool.jobs message of the
 * job's next attempt, its spool.events event, a spool.dead copy) here, in that
 * same transaction; the API's publisher sends the rows afterwards and marks
 * them sent. Delivery is at least once: consumers tolerate duplicates.
 *
 * Errors: -1 with one line in `err` (a database error; the caller rolls its
 * transaction back).
 */
#ifndef SPOOL_OUTBOX_H
#define SPOOL_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "db.h"
#include "job.h"
#include "jobcodec.h"

/* The spool.jobs message of `j` for its next attempt, in the caller's transaction. */
int outbox_add_job(struct db_conn *c, const struct job *j, struct buf *err);
/* The spool.jobs messages of the `n` jobs `jobs` for their next attempts, in one statement. */
int outbox_add_jobs(struct db_conn *c, const struct job *jobs, size_t n, struct buf *err);
/*
 * The spool.jobs messages `msgs` (n of them, in that order) in one statement, in
 * the caller's transaction: operators' bulk actions and the re-drive.
 */
int outbox_add_messages(struct db_conn *c, const struct jobcodec_message *msgs, size_t n, struct buf *err);
/* The spool.events messages `event` of the `n` jobs `jobs`, in one statement, in the caller's transaction. */
int outbox_add_events(struct db_conn *c, const struct job *jobs, size_t n, const char *event, struct buf *err);
/* The spool.events message of `j` (event "cancelled", …), in the caller's transaction. */
int outbox_add_event(struct db_conn *c, const struct job *j, const char *event, struct buf *err);
/*
 * The rows after a job left `running` without its worker (reaper): the spool.jobs
 * message and job.retrying when it is retrying, else a spool.dead copy and
 * job.failed. In the caller's transaction.
 */
int outbox_add_next(struct db_conn *c, const struct job *j, struct buf *err);

/*
 * Outbox: rows not yet published, oldest first. Fetched rows are claimed for
 * 30 s so that concurrent publishers do not send the same rows; rows not marked
 * sent by then are fetched again (consumers tolerate duplicates).
 */
struct outbox_row {
	int64_t id;
	char *exchange;
	char *routing_key;
	char *payload;
};
/* Up to `limit` rows (100 when <= 0): *rows is an array of *n, freed with outbox_rows_free. */
int outbox_fetch(struct db_conn *c, int limit, struct outbox_row **rows, size_t *n, struct buf *err);
/* Free what outbox_fetch returned (NULL is fine). */
void outbox_rows_free(struct outbox_row *rows, size_t n);
/* Mark the rows `ids` (n of them) sent. */
int outbox_mark_sent(struct db_conn *c, const int64_t *ids, size_t n, struct buf *err);
/* How many rows are not yet sent, into *count. */
int outbox_backlog(struct db_conn *c, int64_t *count, struct buf *err);

struct mq;
/*
 * Publish one batch of up to `limit` rows on `m` (connected) with publisher
 * confirms, and mark them sent; failures are logged, prefixed with `who`. The
 * API's publisher, and a worker that wrote rows it wants sent at once. Returns
 * the number of rows fetched (a full batch means "go on at once"), or -1 when the
 * broker failed (*mq_failed: disconnect and retry) or the database did.
 */
int outbox_publish(struct db_conn *c, struct mq *m, int limit, const char *who, bool *mq_failed);

/*
 * A job's copy for spool.dead was not kept (the broker refused it, or it could
 * not be sent): count it (DeadLettersDropped, outbox_dead_dropped_total()) and
 * log it at warning with the job id. The job itself stays failed in PostgreSQL.
 */
void outbox_dead_dropped(const char *job_id, const char *why);
/* How many outbox_dead_dropped() counted in this process. */
uint64_t outbox_dead_dropped_total(void);

#endif
