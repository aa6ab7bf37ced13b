/*
 * jobops — operator actions on jobs and dead letters, shared by adminctl (CLI
 * and TUI) and the API's admin paths so that their rules hold everywhere.
 *
 * Cancel: one rule for the API, `adminctl job cancel` and the TUI. A scheduled, queued or
 * retrying job is cancelled at once (job.cancelled goes through the outbox); a
 * running job gets a cancel request, which its worker honours at its next
 * heartbeat (the job then ends cancelled, by the worker); a finished job is left
 * as it is. jobops_cancel applies it, jobops_cancel_rule says it.
 *
 * Retry: a failed (or cancelled) job goes back to `queued` with fresh attempts
 * (attempts = 0, error and result cleared, lease and worker dropped). Its
 * errors stay in job_events, and a 'retried' event (detail: actor, the state
 * it left, its last error) is added. The spool.jobs message goes through the
 * outbox in the same transaction, so the API's outbox publisher sends it even
 * when RabbitMQ is down at the time of the retry.
 *
 * Dead letters: spool.dead holds the messages of jobs that failed for good and
 * poison messages (not a job message at all). Reading it consumes with manual
 * acks and then closes the channel, which puts back everything not acked, in
 * order: a listing changes nothing.
 *
 * Return values as job.h's enum job_rc: JOB_OK done, JOB_NOT_FOUND, JOB_WRONG_STATE
 * not applicable in the job's state, JOB_ERR with one line in `err`.
 */
#ifndef SPOOL_JOBOPS_H
#define SPOOL_JOBOPS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "job.h"
#include "jobcodec.h"
#include "joblimits.h"
#include "mq.h"

/*
 * Retry one job (failed or cancelled). JOB_OK done, JOB_NOT_FOUND (or not a UUID),
 * JOB_WRONG_STATE the job is in another state, JOB_ERR database error.
 */
enum job_rc jobops_retry(struct db_conn *c, const char *id, const char *actor, struct buf *err);

/* Which failed jobs jobops_retry_matching retries; strings borrowed. */
struct jobops_match {
	const char *type;  /* NULL = every type */
	const char *since; /* RFC 3339: failed at or after; NULL = ever */
};

/*
 * Retry every failed job matching `m`, in one transaction. With `dry_run`
 * nothing changes. *ids (may be NULL) gets the malloc'd array of the ids
 * touched (or that would be), each malloc'd; free with jobops_ids_free.
 * Returns the count, or -1 with `err` (a malformed `since` says so).
 */
int64_t jobops_retry_matching(struct db_conn *c, const struct jobops_match *m, bool dry_run, const char *actor,
			      char ***ids, struct buf *err);
void jobops_ids_free(char **ids, int64_t n);

/*
 * Retry the jobs of frozen selection `selection` (selection.h) that are still
 * failed or cancelled and unchanged since it was resolved (same status and
 * updated_at), inside the caller's transaction: their 'retried' events name the
 * selection (detail.selection). *ids gets the ids retried (jobops_ids_free).
 * Returns their count, or -1 with `err` (the caller rolls back).
 */
int64_t jobops_retry_selection(struct db_conn *c, const char *selection, const char *actor, char ***ids,
			       struct buf *err);

/* What jobops_cancel did to a job. */
enum jobops_cancel_rc {
	JOBOPS_CANCEL_ERR = -1,       /* database error: one line in `err` */
	JOBOPS_CANCELLED = 0,         /* it was scheduled, queued or retrying: now cancelled */
	JOBOPS_CANCEL_REQUESTED,      /* it is running: its worker stops it at its next heartbeat */
	JOBOPS_CANCEL_NOT_FOUND,      /* no such job, another tenant's, or not a UUID */
	JOBOPS_CANCEL_REFUSED,        /* it is finished (succeeded, failed or cancelled): left as it is */
};

/*
 * The rule for a job in state `s`: JOBOPS_CANCELLED (queued, retrying),
 * JOBOPS_CANCEL_REQUESTED (running) or JOBOPS_CANCEL_REFUSED (final states).
 */
enum jobops_cancel_rc jobops_cancel_rule(enum job_status s);

/* The outcome in a word for machine output: "cancelled", "cancel_requested", "not_found", "refused", "error". */
const char *jobops_cancel_rc_name(enum jobops_cancel_rc rc);

/*
 * Cancel job `id` (of `tenant`; NULL for any tenant) by the rule, for `actor`
 * (named in the job's history: a 'cancelled' or 'cancel_requested' event).
 * *out is the job afterwards (job_clear it whatever the outcome): cancelled,
 * still running with cancel_requested set, or as it is when refused. A job that
 * changes state meanwhile (claimed by a worker, handed back) is judged again in
 * its new state, a few times; one that keeps changing is refused in the state
 * last seen. Not audited: operators' front ends record "job.cancel" themselves.
 */
enum jobops_cancel_rc jobops_cancel(struct db_conn *c, const char *id, const char *tenant, const char *actor,
				    struct job *out, struct buf *err);

/* Outcome of one job of a batch. */
struct jobops_result {
	const char *id;            /* borrowed from the caller's list */
	enum jobops_cancel_rc rc;
	enum job_status status;    /* the state now (unless rc is JOBOPS_CANCEL_NOT_FOUND or JOBOPS_CANCEL_ERR) */
};

/*
 * jobops_cancel each of `n` jobs (any tenant's), one after the other. res[i]
 * (caller's array of n) says what happened to ids[i]. Returns how many were
 * cancelled or had their cancellation requested, or -1 when the database failed
 * (err; the results before it are filled, the rest say JOBOPS_CANCEL_ERR).
 */
int jobops_cancel_many(struct db_conn *c, const char *const *ids, size_t n, const char *actor,
		       struct jobops_result *res, struct buf *err);

/* One row of a job's history (job_events), oldest first. */
struct jobops_event {
	char at[40];             /* RFC 3339 UTC */
	char event[32];          /* queued, started, retrying, failed, succeeded, cancelled, retried, … */
	char status[16];
	int attempt;
	char *worker_id;         /* owned or NULL */
	json_t *error;           /* owned reference or NULL */
	json_t *detail;          /* owned reference or NULL */
};

/* The whole history of job `id`; *out (free with jobops_events_free) may be empty. 0 or -1. */
int jobops_events(struct db_conn *c, const char *id, struct jobops_event **out, size_t *n, struct buf *err);
void jobops_events_free(struct jobops_event *e, size_t n);

/*
 * A "since" argument as operators write it: a duration ("90m", "2h", "7d": that
 * long before `now`) or an RFC 3339 time ("2024-05-01T12:00:00Z", seconds and
 * fraction optional, an offset instead of Z allowed: timefmt_parse()). 0 and
 * *when, or -1 if it is neither.
 */
int jobops_since(const char *arg, time_t now, time_t *when);

/* One message of spool.dead as read. */
struct jobops_dead {
	char *body;              /* owned, NUL-terminated */
	size_t len;
	bool poison;             /* not a job message: `reason` says why */
	char *reason;            /* owned, or NULL */
	struct jobcodec_message msg;  /* when !poison */
	uint64_t tag;            /* delivery tag on the reading connection */
	bool redelivered;
};

/*
 * Read up to `limit` messages of spool.dead (all of them when the queue holds
 * fewer) over `m` (connected), leaving them unacknowledged: acknowledge with
 * mq_ack on `m`, and mq_disconnect puts back the rest. *total gets the queue's
 * message count before reading. 0 or -1 with `err`.
 */
int jobops_dead_read(struct mq *m, int limit, struct jobops_dead **out, size_t *n, uint32_t *total,
		     struct buf *err);
void jobops_dead_free(struct jobops_dead *d, size_t n);

/* The first 200 bytes of a dead letter's body on one line (control bytes as spaces), into `out`. */
void jobops_dead_excerpt(const struct jobops_dead *d, struct buf *out);

/* What jobops_dead_retry did; the arrays are owned (free with jobops_dead_retry_clear). */
struct jobops_dead_retried {
	bool read_ok;            /* spool.dead was read: the rest is valid */
	json_t *done;            /* ids retried; their messages dropped */
	json_t *stale;           /* ids whose job was no longer failed; their messages dropped */
	json_t *poison;          /* {reason, body (excerpt)} of poison messages: left in the queue */
	json_t *errors;          /* {id, reason}: no such job (message left), or no dead letter for a wanted id */
	size_t ack_failed;       /* messages retried but not acknowledged (they stay in the queue) */
};

/*
 * Retry the jobs of the dead letters of `ids` (nids of them; nids == 0: every
 * dead letter) through jobops_retry and acknowledge their messages over `m`
 * (connected; mq_disconnect afterwards puts back what was not acknowledged).
 * A message whose job is no longer failed (retried since, or succeeded) is stale
 * and dropped too; poison messages and those of unknown jobs stay. Not audited:
 * the caller records "dead.retry". 0, or -1 with `err` ("cannot read 'spool.dead':
 * …" with out->read_ok false, or "'ID': …" when the database failed part way, `out`
 * saying what was done until then).
 */
int jobops_dead_retry(struct db_conn *c, struct mq *m, const char *const *ids, size_t nids, const char *actor,
		      struct jobops_dead_retried *out, struct buf *err);
void jobops_dead_retry_clear(struct jobops_dead_retried *out);

/*
 * jobops_dead_retry on messages read and held already (jobops_dead_read over
 * `m`, unacknowledged): the jobs of exactly these `n` are retried and their
 * messages acknowledged; poison messages and those of unknown jobs are not (the
 * caller's mq_disconnect puts them back). A message that arrived after the read
 * is not one of them and stays. 0 or -1 as jobops_dead_retry (out->read_ok true).
 */
int jobops_dead_retry_held(struct db_conn *c, struct mq *m, const struct jobops_dead *d, size_t n, const char *actor,
			   struct jobops_dead_retried *out, struct buf *err);

/* What jobops_dead_purge_held did (clear with jobops_dead_purged_clear). */
struct jobops_dead_purged {
	int64_t purged;          /* messages acknowledged: dropped */
	int64_t poison;          /* of them, poison messages */
	json_t *ids;             /* owned: the jobs of the job messages dropped */
	char selection[24];      /* the selection recorded, "" when it was not */
};

/*
 * Drop exactly the dead letters `d` (n of them, read and held unacknowledged
 * over `m` by jobops_dead_read) by acknowledging them, and record the jobs of
 * those dropped as a done purge selection of `actor` (selection_record_purge).
 * Messages that arrived after the read are not these and stay. Not audited: the
 * caller records "dead.purge" (detail: jobops_dead_purged_detail). 0, or -1 with
 * `err` when the selection was not recorded (`out` still says what was dropped).
 */
int jobops_dead_purge_held(struct db_conn *c, struct mq *m, const struct jobops_dead *d, size_t n, const char *actor,
			   struct jobops_dead_purged *out, struct buf *err);
/* The audit detail of a purge: {via, selection, poison, ids} (a new reference). */
json_t *jobops_dead_purged_detail(const struct jobops_dead_purged *p);
void jobops_dead_purged_clear(struct jobops_dead_purged *p);

/*
 * Limits: what follows an operator's change of the limits of a tenant or type
 * (joblimits_pause, joblimits_set), the same for `adminctl pause|resume|limits
 * set` and the TUI. Wakes the deferred jobs that may start now (at most
 * JOBOPS_LIMITS_WAKE_MAX; the workers' sweep takes the rest) and, unlike the
 * operations above, records the change itself: `action` ("limits.pause",
 * "limits.resume", "limits.set") on target "SCOPE:NAME" with `detail`
 * (borrowed; "woken" is added to it). *woken gets the jobs woken. 0, or -1 with
 * `err` saying which step failed ("waking the deferred jobs failed: …", "the
 * audit record failed: …"); the change stays made either way.
 */
#define JOBOPS_LIMITS_WAKE_MAX 1000
int jobops_limits_changed(struct db_conn *c, const char *actor, const char *action, enum joblimits_scope scope,
			  const char *name, json_t *detail, int *woken, struct buf *err);

#endif
