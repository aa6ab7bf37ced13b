/*
 * job — the job model and every SQL statement that touches jobs and their
 * history. The database row is the truth; these functions are the only writers,
 * so the state machine of spool(7) holds wherever they are called from (API,
 * worker, adminctl):
 *
 *   scheduled -> queued     (at its run_at: job_promote_due)
 *   queued -> running -> succeeded | failed
 *   running -> retrying -> running
 *   scheduled | queued | retrying -> cancelled
 *   running -> cancelled    (requested: job_request_cancel, then the worker: job_cancel_running)
 *   running -> queued       (handed back by a stopping worker, the attempt not counted: job_hand_back)
 *
 * Every transition inserts a job_events row (time, status, attempt, worker, error)
 * in the same transaction. Final-state writes are conditional on the worker's
 * claim (status running, same worker, same attempt), so a duplicate or late
 * writer changes nothing. What a transition publishes (the spool.jobs message of
 * the next attempt, a spool.events event, a spool.dead copy) goes to the outbox
 * (outbox.h) in that same transaction; the encodings of a job (queue message,
 * event, list cursor, the API's JSON) are jobcodec.h's.
 *
 * Return values: one named enum per family of functions below (enum job_rc for
 * lookups and operators' transitions, enum job_own_rc for the worker's writes on
 * its claim, enum job_beat_rc, enum job_reap_rc), their error member -1 with one
 * line in `err`.
 */
#ifndef SPOOL_JOB_H
#define SPOOL_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "jobprio.h"

enum job_status {
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_RETRYING,
	JOB_SUCCEEDED,
	JOB_FAILED,
	JOB_CANCELLED,
	JOB_SCHEDULED,           /* waits for its run_at: no message exists for it yet */
};
#define JOB_STATUS_COUNT 7

const char *job_status_name(enum job_status s);
int job_status_parse(const char *s, enum job_status *out); /* -1 if unknown */
bool job_status_final(enum job_status s);

#define JOB_ID_LEN 36

/* What a lookup or an operator's transition found (job_get, job_cancel, job_request_cancel). */
enum job_rc {
	JOB_ERR = -1,            /* database error: one line in `err` */
	JOB_OK = 0,
	JOB_NOT_FOUND = 1,       /* no such job, another tenant's, or not a UUID */
	JOB_WRONG_STATE = 2,     /* the job exists in a state the transition does not start from */
};

/*
 * What a write conditional on the worker's claim found (job_claim, job_set_progress,
 * job_succeed, job_fail, job_cancel_running, job_hand_back).
 */
enum job_own_rc {
	JOB_OWN_ERR = -1,        /* database error: one line in `err` */
	JOB_OWN_OK = 0,
	JOB_OWN_NOT_OURS = 1,    /* the job is not (or no longer, or cannot be) this worker's: nothing changed */
	JOB_OWN_DEFERRED = 2,    /* job_claim: over its tenant's or type's limit, or paused: deferred (joblimits.h) */
};

/* What job_heartbeat_check found. */
enum job_beat_rc {
	JOB_BEAT_ERR = -1,       /* database error: one line in `err` */
	JOB_BEAT_OK = 0,         /* lease extended */
	JOB_BEAT_NOT_OURS = 1,   /* the job is no longer ours: nothing changed */
	JOB_BEAT_CANCEL = 2,     /* lease extended, and a cancel was requested: stop the job */
};

/* What job_reap_expired or job_redrive did. */
enum job_reap_rc {
	JOB_REAP_ERR = -1,       /* database error: one line in `err` */
	JOB_REAP_DONE = 0,       /* this reaper acted (maybe on nothing) */
	JOB_REAP_LOCKED = 1,     /* another reaper (re-drive) holds the lock: nothing done */
};

struct job {
	char id[JOB_ID_LEN + 1];
	char *tenant;
	char *type;
	enum job_status status;
	int attempts;
	int max_attempts;
	int progress;            /* 0..100, -1 unknown */
	json_t *source;          /* owned refs; NULL when absent */
	json_t *params;
	json_t *result;
	json_t *error;           /* {"code","message","permanent"} or NULL */
	char *callback_url;
	char *idempotency_key;
	char *worker_id;
	bool cancel_requested;
	char created_at[40];     /* RFC 3339 UTC, "" when NULL */
	char started_at[40];
	char finished_at[40];
	char lease_until[40];
	char due_at[40];         /* when its spool.jobs message is due: queued, or the retry after the backoff */
	char run_at[40];         /* when a scheduled job was asked to run, "" when it was not scheduled */
	enum jobprio priority;   /* the queue its messages go to */
};

/*
 * A new random (version 4) UUID, lower case, as job ids are: from a pool of
 * random bytes per thread, one getrandom() per 256 ids. Thread safe.
 */
void job_id_new(char out[JOB_ID_LEN + 1]);

/* Release everything the job owns and zero it. */
void job_clear(struct job *j);

/* Input of job_create; strings borrowed. */
struct job_new {
	const char *tenant;
	const char *type;
	json_t *source;          /* may be NULL */
	json_t *params;          /* may be NULL -> {} */
	const char *callback_url;
	const char *idempotency_key; /* may be NULL */
	int max_attempts;
	int64_t run_at_ms;       /* > 0: scheduled for this time (Unix milliseconds) */
	int64_t delay_s;         /* > 0 (and run_at_ms 0): scheduled this many seconds after the database's now */
	const char *priority;    /* "high", "normal", "low"; NULL: the tenant's default (job_tenant_priority) */
};

/*
 * Insert the job (queued), its first job_events row and its outbox row (the
 * message for spool.jobs) in one transaction. A job given run_at_ms or delay_s
 * is stored with that run_at and, unless the time has come already, inserted
 * `scheduled` instead, with no outbox row: the promoter (job_promote_due)
 * queues it then. With an idempotency key
 * that the tenant used before, returns the first job instead and sets *existed.
 */
int job_create(struct db_conn *c, const struct job_new *in, struct job *out, bool *existed,
	       struct buf *err);

/* job_create_batch: every row answered; a row's values refused (try them one by one); the database failed. */
enum { JOB_BATCH_OK = 0, JOB_BATCH_ROW = -2, JOB_BATCH_ERR = -1 };
/*
 * job_create for in[0..n-1] in one statement, so one transaction: out[i] and
 * existed[i] answer in[i] as job_create would (two rows of one tenant with one
 * idempotency key: the first inserts, the second gets that job and existed).
 * JOB_BATCH_OK; else out[] is zeroed and err says what: JOB_BATCH_ROW when
 * the server refused a row's values (SQLSTATE class 22 or 23; nothing was
 * inserted: try each with job_create to find which), JOB_BATCH_ERR for
 * anything else (as with job_create, the new jobs may be in when only the
 * look-up of the existing ones failed).
 */
int job_create_batch(struct db_conn *c, const struct job_new *in, size_t n, struct job *out, bool *existed,
		     struct buf *err);

/*
 * A tenant's default priority, the priority of its submissions that name
 * none: its row of tenant_priorities, else the row of '*', else normal.
 */
int job_tenant_priority(struct db_conn *c, const char *tenant, enum jobprio *out, struct buf *err);
/* Set (create) the default priority of `tenant` ('*': of every tenant without a row). */
int job_set_tenant_priority(struct db_conn *c, const char *tenant, enum jobprio p, const char *actor,
			    struct buf *err);

/* Load a job; `tenant` NULL for any tenant (operators). JOB_OK, JOB_NOT_FOUND (or other tenant), JOB_ERR. */
enum job_rc job_get(struct db_conn *c, const char *id, const char *tenant, struct job *out, struct buf *err);

struct job_filter {
	const char *tenant;      /* NULL = all tenants */
	bool has_status;
	enum job_status status;
	const char *type;        /* NULL = any */
	const char *since;       /* RFC 3339 or NULL */
	const char *cursor;      /* opaque, from a previous page, or NULL */
	const char *search;      /* id prefix, type or error text (adminctl), or NULL */
	int limit;               /* 1..1000 */
	/*
	 * Or NULL: a further condition, an SQL boolean expression over the table
	 * `jobs` whose parameters are $1 .. $where_np (adminctl's query language,
	 * compiled with first parameter 1). Run as an unnamed statement, planned
	 * with its values.
	 */
	const char *where;
	const char *const *where_params;
	int where_np;
};

/*
 * Newest first (created_at, id). *jobs is an array of *n jobs (free each with
 * job_clear, then free the array). *next_cursor is malloc'd or NULL on the last
 * page. Returns -1 also for a malformed cursor (err says so; API answers 400).
 */
int job_list(struct db_conn *c, const struct job_filter *f, struct job **jobs, size_t *n,
	     char **next_cursor, struct buf *err);

/*
 * How many jobs match `f` (every filter of job_list, the cursor too when given;
 * `limit` is ignored): one COUNT over the same WHERE clause. 0 and *n, or -1
 * with `err` (a malformed cursor or since says so).
 */
int job_count_matching(struct db_conn *c, const struct job_filter *f, int64_t *n, struct buf *err);

/* Counts per status (array indexed by enum job_status), optionally for one tenant. */
int job_count_by_status(struct db_conn *c, const char *tenant, int64_t counts[JOB_STATUS_COUNT],
			struct buf *err);

/*
 * Cancel a scheduled, queued or retrying job: JOB_OK (out = new state), JOB_NOT_FOUND,
 * JOB_WRONG_STATE (out = current state), JOB_ERR. The job.cancelled event goes to
 * the outbox (exchange spool.events) in the same transaction. Operators cancel
 * through jobops_cancel, which also handles running jobs.
 */
enum job_rc job_cancel(struct db_conn *c, const char *id, const char *tenant, const char *actor, struct job *out,
		       struct buf *err);

/*
 * Claim for a worker: queued|retrying -> running, attempts + 1, lease until now +
 * lease_s, started_at set on the first attempt. JOB_OWN_OK claimed (out filled),
 * JOB_OWN_NOT_OURS not claimable (missing, final, cancelled, or running under a
 * live lease) with out filled when the job exists.
 *
 * The claim honours joblimits.h. When no limits row limits or pauses the job's
 * tenant or type, it is one statement, as without limits. Otherwise, in one
 * transaction, it reads their effective limits and counts their running jobs.
 * When the job may start, it takes the transaction's advisory locks of the
 * tenant and of the type (JOB_LIMIT_LOCK_*, in that order, the same as
 * job_wake_deferred) and counts again, so that concurrent claimers on any host
 * cannot together exceed a limit. A job paused or over a limit is not claimed:
 * it gets deferred_at (its attempts unchanged) and a job_events row 'deferred'
 * (detail.reason "tenant limit", "type paused", …), and JOB_OWN_DEFERRED is
 * returned with out filled; the worker drops the delivery and a wake-up
 * (job_wake_deferred) publishes the job again once it may start. A deferral
 * takes no lock: once committed, the claim counts again (with the jobs woken
 * and on their way) and, should a slot have freed meanwhile, wakes one deferred
 * job itself. So a job that stops running either committed before that count,
 * or its wake-up comes after the deferral is visible.
 */
enum job_own_rc job_claim(struct db_conn *c, const char *id, const char *worker_id, int lease_s, struct job *out,
			  struct buf *err);
/* Record progress (0..100) of our running job. */
enum job_own_rc job_set_progress(struct db_conn *c, const char *id, const char *worker_id, int attempt,
				 int progress, struct buf *err);
/*
 * running -> succeeded with `result` (borrowed); `out` is then the job as now
 * stored (for the event: no second read). JOB_OWN_NOT_OURS if the claim was lost.
 */
enum job_own_rc job_succeed(struct db_conn *c, const char *id, const char *worker_id, int attempt, json_t *result,
			    struct job *out, struct buf *err);
/* One job of job_succeed_batch: our running job `id` at `attempt`, its `result` (borrowed). */
struct job_success {
	const char *id;
	int attempt;
	json_t *result;
};
/*
 * job_succeed for `n` jobs of `worker_id` in one statement (one round trip, one
 * commit): each job still running with our claim (worker and attempt) becomes
 * succeeded with its result and a job_events row 'succeeded'; out[i] (n of them,
 * zeroed first) is then the job as now stored and done[i] true. A job whose claim
 * was lost is not changed (done[i] false). Returns how many were marked, or -1
 * with `err` (nothing changed: an invalid id or result fails the whole
 * statement, so the caller records those jobs one by one with job_succeed).
 */
int job_succeed_batch(struct db_conn *c, const char *worker_id, const struct job_success *in, size_t n,
		      struct job *out, bool *done, struct buf *err);
/*
 * running -> failed (permanent, or attempts exhausted) or retrying (transient and
 * attempts left), the retry due in `retry_delay_s` (the delay the worker gives
 * its message: due_at); `out` is then the job as now stored, its status telling
 * which. JOB_OWN_NOT_OURS if the claim was lost.
 */
enum job_own_rc job_fail(struct db_conn *c, const char *id, const char *worker_id, int attempt, const char *code,
			 const char *message, bool permanent, int retry_delay_s, struct job *out, struct buf *err);

/*
 * Ask the worker running a job to stop it: sets cancel_requested on a running
 * job (with a job_events row 'cancel_requested' naming `actor`). JOB_OK requested
 * (out = the job, still running), JOB_NOT_FOUND, JOB_WRONG_STATE not running (out
 * = current state), JOB_ERR.
 */
enum job_rc job_request_cancel(struct db_conn *c, const char *id, const char *tenant, const char *actor,
			       struct job *out, struct buf *err);
/* Extend the lease of a job this worker runs, and report a cancel request (enum job_beat_rc). */
enum job_beat_rc job_heartbeat_check(struct db_conn *c, const char *id, const char *worker_id, int attempt,
				     int lease_s, struct buf *err);
/*
 * Our running job whose cancel was requested stopped: running -> cancelled,
 * conditional on the claim and on cancel_requested, with its job_events row and
 * the job.cancelled event in the outbox, in one transaction. JOB_OWN_NOT_OURS if
 * not ours.
 */
enum job_own_rc job_cancel_running(struct db_conn *c, const char *id, const char *worker_id, int attempt,
				   struct buf *err);

/*
 * Seconds before the retry that follows failed attempt `attempt` (1-based):
 * attempt^4 + base_s + jitter_s, at most cap_s, at least 1. Pure: the caller
 * draws the jitter ([worker] backoff_base, backoff_cap and backoff_caps give base
 * and cap).
 */
int job_retry_delay(int attempt, int64_t base_s, int64_t cap_s, double jitter_s);

/* The advisory lock that lets one reaper act at a time (any constant all agree on). */
#define JOB_REAP_LOCK_KEY "127359211762540" /* "spool" + 0x6c as a bigint */

/*
 * The reaper: if no other session holds the reaper lock (pg_try_advisory_xact_lock),
 * in one transaction return up to `limit` running jobs whose lease expired to
 * `retrying` (attempts kept, due at once; `failed` with error lease_expired when
 * attempts are exhausted). Each gets a job_events row (event 'reaped', worker_id =
 * `worker_id`) and outbox rows: the spool.jobs message for its next attempt and
 * job.retrying, or a spool.dead copy and job.failed. *out is an array of *n jobs
 * as they now are (job_clear each, free the array). Returns an enum job_reap_rc.
 */
enum job_reap_rc job_reap_expired(struct db_conn *c, const char *worker_id, int limit, struct job **out, size_t *n,
				  struct buf *err);

/*
 * Publish-time admission (outbox_publish): of the outbox rows `outbox_ids` (a
 * PostgreSQL bigint[] literal, "{1,2}"), the spool.jobs messages whose job
 * (queued or retrying, not deferred) has a paused tenant or type, or one at its
 * limit counting its running jobs and its jobs published but not claimed yet
 * (taking the rows in order, the first ones filling the free slots), are held
 * back: in one statement each such job gets deferred_at and a 'deferred' event
 * (detail.reason as the claim's, detail.actor `actor`) and its row is marked
 * sent, instead of being published; a wake-up publishes it once it may start.
 * No lock is taken (the claim stays the exact guard; a job held while a slot
 * freed is woken by the next end of a job of its tenant or type, or the
 * workers' sweep). *held is a malloc'd array of the *n held row ids. 0 or -1.
 */
int job_hold_over_limit(struct db_conn *c, const char *outbox_ids, const char *actor, int64_t **held, size_t *n,
			struct buf *err);

/* The advisory lock that lets one re-drive act at a time. */
#define JOB_REDRIVE_LOCK_KEY "127359211762541"

/* job_redrive's flags. */
#define JOB_REDRIVE_DRY_RUN 0x1u /* only list the jobs (no lock, nothing changes) */
#define JOB_REDRIVE_WAIT 0x2u    /* wait for another re-drive to end rather than leave the pass to it */

/*
 * The re-drive of jobs that wait with no message behind them (spool.jobs purged,
 * a broker node replaced or restored, a delayed retry lost): up to `limit` jobs
 * queued or retrying whose message was due (due_at) more than `older_than_s`
 * seconds ago, that no worker claimed since and that were not re-driven in that
 * time either, oldest first; deferred jobs are left to job_wake_deferred. In one transaction under the re-drive lock (tried;
 * waited for with JOB_REDRIVE_WAIT), each gets redriven_at = now, a job_events
 * row 'redriven' (detail: actor, waited_s) and its spool.jobs message again in
 * the outbox. Should the message still be there (a long backlog), the job has two:
 * the claim is conditional, so the second delivery finds it claimed and is
 * dropped. *out is the array of the *n jobs re-driven (or, with
 * JOB_REDRIVE_DRY_RUN, that would be); job_clear each, free the array. Returns
 * an enum job_reap_rc.
 */
enum job_reap_rc job_redrive(struct db_conn *c, const char *actor, int64_t older_than_s, int limit, unsigned flags,
			     struct job **out, size_t *n, struct buf *err);

/*
 * How many jobs are queued or retrying with their message due more than
 * `older_than_s` ago, into *count; deferred jobs (job_claim), which wait for a
 * slot and not for a message, are not counted. 0 or -1.
 */
int job_count_unclaimed(struct db_conn *c, int64_t older_than_s, int64_t *count, struct buf *err);

/* The advisory lock classes (pg_advisory_xact_lock(class, hashtext(name))) of a tenant's and a type's limit. */
#define JOB_LIMIT_LOCK_TENANT "735901"
#define JOB_LIMIT_LOCK_TYPE "735902"
/* The advisory lock that lets one sweep of deferred jobs act at a time. */
#define JOB_WAKE_LOCK_KEY "127359211762542"

/*
 * Wake deferred jobs that may start now: up to `limit` of them, oldest (due_at)
 * first and no more per tenant or type than it has free slots (a pause frees
 * none), lose deferred_at, get a job_events row 'woken' (detail.actor) and their
 * spool.jobs message in the outbox, in one transaction; redriven_at is set too,
 * so that the re-drive does not take them for lost. The claim still decides:
 * one that no longer fits is deferred again.
 *
 * With `tenant` and `type` (the tenant and type of a job that just stopped
 * running) only the deferred jobs of either are looked at, and only when a limit
 * applies to either (or always, with JOB_WAKE_ALWAYS); the tenant's and the
 * type's locks are taken first. With both NULL (the workers' sweep, an
 * operator's change) every deferred job is: the sweep lock is tried, or waited
 * for with JOB_WAKE_WAIT. Returns the number of jobs woken (0 when the lock was
 * busy), or -1 with `err`.
 */
#define JOB_WAKE_WAIT 0x1u   /* wait for another sweep to end rather than leave the pass to it */
#define JOB_WAKE_ALWAYS 0x2u /* with tenant and type: even when no limit applies to them */
int job_wake_deferred(struct db_conn *c, const char *tenant, const char *type, int limit, unsigned flags,
		      const char *actor, struct buf *err);

/*
 * Hand our running job back without spending an attempt (the worker is shutting
 * down or told to hand back): running -> queued with attempts - 1, undoing the
 * claim's increment, the lease and progress cleared, due at once, started_at
 * cleared when no attempt is left counted. A job_events row 'handed_back'
 * (status queued, the attempt handed back, detail.reason), the spool.jobs message
 * of its next claim and a job.queued event go to the outbox in the same
 * transaction. Conditional on our claim (running, `worker_id`, `attempt`);
 * JOB_OWN_NOT_OURS if the job is not ours any more. Once handed back, the claim
 * token (worker_id, attempt) is not this caller's: it must write nothing more.
 */
enum job_own_rc job_hand_back(struct db_conn *c, const char *id, const char *worker_id, int attempt,
			      const char *reason, struct buf *err);

/*
 * The promoter: in one transaction, up to `limit` scheduled jobs whose run_at
 * has come (oldest run_at first, rows another promoter holds skipped, so that
 * several may run at once) become queued, each with a job_events row 'queued'
 * (detail.actor), its spool.jobs message and its job.queued event in the
 * outbox. *n is how many; -1 with `err` on a database error.
 */
int job_promote_due(struct db_conn *c, const char *actor, int limit, size_t *n, struct buf *err);

/*
 * Milliseconds until the earliest run_at of a scheduled job (0 when one is due
 * already) into *ms, or -1 there when none is scheduled. 0, or -1 with `err`.
 */
int job_next_run_in(struct db_conn *c, int64_t *ms, struct buf *err);

/* True if `s` is a canonical lower-case UUID (8-4-4-4-12). */
bool job_id_valid(const char *s);

#endif
