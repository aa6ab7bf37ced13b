/*
 * selection — frozen selections of jobs for operators' bulk actions, their
 * undo, and failure groups.
 *
 * A bulk action (retry, cancel, re-drive) never acts on a filter: the filter
 * is resolved once, in one statement, into a selection (a row of `selections`:
 * the job ids in creation order, and for each the status, updated_at and
 * attempts seen then). The operator is shown its count and a sample and
 * confirms; acting then touches only the selection's jobs, each conditionally:
 * a job that moved on since (another status, or the same status but changed:
 * another updated_at, or for a running job another attempt) is skipped and
 * reported, and a job that came to match the filter after the resolution is
 * not in the selection at all. The selection keeps what was done (`results`)
 * and is what the audit trail names ("selection:ID").
 *
 * Where a selection comes from is a selection source: a SQL boolean
 * expression over the jobs table (its columns unqualified) with its own
 * parameters $1..$n. Today's filters (status, type, tenant, error code,
 * failure group, since) are sources; anything else that can say which jobs
 * in SQL (a query language) is added with selection_source_and.
 *
 * Undo reverses a done retry or cancel selection for the jobs that did not
 * move on since: a retried job still queued and never claimed goes back to
 * the state it left (failed, or cancelled) with its error, attempts and
 * finished_at as they were; a cancelled job still cancelled by that selection
 * goes back to the state it left (scheduled, queued or retrying: the queued
 * and retrying ones get their spool.jobs message again). A running job whose
 * cancel was requested is not undone (its worker may be stopping it already).
 * The undo is a selection of its own (action "undo", `undoes` its target).
 *
 * Failure groups: failed and retrying jobs grouped by their signature,
 * spool_failure_signature(error) in the database (migration 9): the error
 * code and the message with quoted strings, UUIDs, paths, hex ids and numbers
 * replaced by placeholders. A group's id is the first 12 hex digits of the
 * MD5 of its signature (an index finds a group's jobs). The grouping reads
 * the newest SELECTION_MAX_FAILURE_ROWS failed or retrying jobs at most, in
 * one statement over their partial index.
 *
 * Errors: -1 with one line in `err`.
 */
#ifndef SPOOL_SELECTION_H
#define SPOOL_SELECTION_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "db.h"

/* Parameters of one source at most. */
#define SELECTION_MAX_PARAMS 16
/* How many jobs one selection holds at most (--limit's ceiling). */
#define SELECTION_MAX_JOBS 100000
/* How many failure groups selection_failure_groups returns at most, and how many jobs it reads at most. */
#define SELECTION_MAX_GROUPS 200
#define SELECTION_MAX_FAILURE_ROWS 100000

/* Which jobs: a SQL boolean expression over jobs and its parameters; all owned. */
struct selection_source {
	struct buf where;                         /* "" = every job */
	char *params[SELECTION_MAX_PARAMS];       /* NULL = SQL NULL */
	int nparams;
	struct buf text;                          /* the filter as operators read it: "status=failed type=noop" */
};

void selection_source_init(struct selection_source *s);
void selection_source_release(struct selection_source *s);

/*
 * AND `expr` (its parameters $1..$np, values `params` copied) to the source,
 * renumbering its parameters after those already there; `text` (may be NULL)
 * is appended to the source's text. -1 with `err` when the parameters would
 * be too many.
 */
int selection_source_and(struct selection_source *s, const char *expr, int np, const char *const *params,
			 const char *text, struct buf *err);

/*
 * One of today's filters: "status" (a job status), "type", "tenant",
 * "error-code", "group" (a failure group's id), "since" (changed at or after,
 * an RFC 3339 time). -1 with `err` for an unknown key or a bad value.
 */
int selection_source_filter(struct selection_source *s, const char *key, const char *value, struct buf *err);

enum selection_action {
	SELECTION_RETRY,   /* failed or cancelled jobs back to the queue (jobops_retry's rule) */
	SELECTION_CANCEL,  /* jobops' cancel rule: scheduled, queued, retrying cancelled; running asked to stop */
	SELECTION_REDRIVE, /* queued or retrying jobs (not deferred): their message published again */
	SELECTION_UNDO,    /* the reversal of another selection */
	SELECTION_PURGE,   /* dead letters dropped: recorded by selection_record_purge, never acted on */
};

const char *selection_action_name(enum selection_action a);

/* A selection as stored. */
struct selection {
	char id[24];
	enum selection_action action;
	char *actor, *filter, *state;    /* owned */
	char created_at[40], acted_at[40]; /* RFC 3339, "" when NULL */
	char undoes[24];                 /* "" when not an undo */
	int64_t count;                   /* jobs in it */
	json_t *job_ids;                 /* owned: array of ids, in order */
	json_t *results;                 /* owned or NULL until acted on */
};

void selection_clear(struct selection *sel);

/*
 * Resolve `src` for `action` into a new selection of `actor`, in one
 * statement: the jobs the source selects that the action applies to (by its
 * rule above), oldest first, at most `limit` (1..SELECTION_MAX_JOBS).
 * *out is the stored selection (selection_clear it). 0 or -1.
 */
int selection_resolve(struct db_conn *c, const struct selection_source *src, enum selection_action action,
		      const char *actor, int limit, struct selection *out, struct buf *err);

/*
 * The first `limit` jobs of selection `id` as they are now: a new array of
 * {id, type, tenant, status, error_code}. NULL with `err`.
 */
json_t *selection_sample(struct db_conn *c, const char *id, int limit, struct buf *err);

/*
 * The first `limit` jobs `src` selects now, oldest first, as selection_sample
 * gives them (a look, not a selection). NULL with `err`.
 */
json_t *selection_source_jobs(struct db_conn *c, const struct selection_source *src, int limit, struct buf *err);

/* The operator said no: the selection is kept, marked declined. 0 or -1. */
int selection_decline(struct db_conn *c, const char *id, struct buf *err);

/*
 * Act on selection `id` (still "previewed") for `actor`, in one transaction:
 * each job that did not move on gets the action, the rest are skipped; the
 * selection becomes "done" with its results: {"acted": [ids], "skipped":
 * [{id, status}], and for a cancel "cancel_requested": [ids] (running jobs,
 * also in acted) and "from": {id: state left}}. *results (may be NULL) gets a
 * new reference to them. Returns the count acted on, or -1 (nothing changed;
 * a selection acted on already says so).
 */
int64_t selection_act(struct db_conn *c, const char *id, const char *actor, json_t **results, struct buf *err);

/*
 * The undo of selection `target` (NULL: the newest done retry or cancel
 * selection not undone yet), resolved as a new "undo" selection of `actor`
 * over the jobs `target` acted on; act on it with selection_act. *out as
 * selection_resolve's. 0, 1 when there is nothing to undo (no such selection,
 * not a done retry or cancel, undone already: `err` says which), or -1.
 */
int selection_undo_resolve(struct db_conn *c, const char *target, const char *actor, struct selection *out,
			   struct buf *err);

/*
 * Record a purge of dead letters by `actor` as a done selection: the jobs of the
 * `ids` (an array of job ids, borrowed; not UUIDs are left out) as they are
 * now, `results` (borrowed) stored with acted = ids. *id gets its number. 0 or -1.
 */
int selection_record_purge(struct db_conn *c, const char *actor, const char *filter, json_t *ids, json_t *results,
			   char id[24], struct buf *err);

/* Load selection `id`: JOB_OK-style 0, 1 not found, -1 error. */
int selection_get(struct db_conn *c, const char *id, struct selection *out, struct buf *err);

/*
 * Failure groups of the jobs `status` ("failed", "retrying", or NULL for both)
 * that changed at or after `since` (RFC 3339, or NULL), largest first, at most
 * SELECTION_MAX_GROUPS, in one statement over the newest
 * SELECTION_MAX_FAILURE_ROWS such jobs (*capped, may be NULL: whether there
 * were that many, so that older ones were left out): a new array of {group,
 * signature, code, count, first_seen, last_seen, types [..], tenants [..]}
 * (types and tenants: the first 10). NULL with `err`.
 */
json_t *selection_failure_groups(struct db_conn *c, const char *status, const char *since, bool *capped,
				 struct buf *err);

#endif
