/*
 * schedstats — the scheduling figures operators and alarms watch: the jobs
 * waiting to start per tenant and per job type, split by state, the age of the
 * oldest, the paused tenants and types, and the time a job waited before it
 * started.
 *
 * States of a job waiting (jobs.status and deferred_at):
 *   waiting    queued or retrying, not deferred: a worker takes it as soon as
 *              one is free (a retrying one once its backoff has passed);
 *   deferred   queued or retrying, held back by its tenant's or type's limit
 *              or pause (joblimits.h) until a wake-up;
 *   scheduled  before its run_at.
 *
 * schedstats_read() counts them in one grouped query over the partial index
 * jobs_waiting (one pass, every tenant, every type and the total). Dimensions
 * are bounded: the SCHEDSTATS_TOP tenants and types with the most jobs waiting
 * in all three states keep their own series; the rest are summed under the
 * name SCHEDSTATS_OTHER. Paused tenants and types: at most SCHEDSTATS_PAUSED_MAX
 * named, all counted.
 *
 * One process computes them per metrics interval: schedstats_turn() lets only
 * the caller whose UPDATE of stats_turns finds the last computation older than
 * most of an interval go on (every worker asks; one answers).
 *
 * Errors: -1 with one line in `err`.
 */
#ifndef SPOOL_SCHEDSTATS_H
#define SPOOL_SCHEDSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cloudwatch.h"
#include "db.h"

#define SCHEDSTATS_TOP 10
#define SCHEDSTATS_PAUSED_MAX 20
/* The name of the rest beyond the top ones (not a tenant id or a type: those have no '('). */
#define SCHEDSTATS_OTHER "(other)"

/* Metric names (spool(7) lists them). */
#define METRIC_JOBS_WAITING "JobsWaiting"
#define METRIC_JOBS_DEFERRED "JobsDeferred"
#define METRIC_JOBS_SCHEDULED "JobsScheduled"
#define METRIC_OLDEST_WAITING_AGE "OldestWaitingAge"
#define METRIC_PAUSED "Paused"
#define METRIC_JOB_WAIT_TIME "JobWaitTime"

/* The jobs of one tenant or type (or of all) in each waiting state. */
struct schedstats_group {
	char *name;          /* tenant id, type, SCHEDSTATS_OTHER; NULL for the total */
	int64_t waiting, deferred, scheduled;
};

struct schedstats {
	struct schedstats_group total;
	struct schedstats_group *tenants; /* most first; the last one SCHEDSTATS_OTHER when some were left */
	size_t ntenants;
	struct schedstats_group *types;
	size_t ntypes;
	double oldest_s;     /* seconds the oldest waiting or deferred job has waited (since run_at or created_at); 0: none */
	char **paused;       /* "tenant:NAME" / "type:NAME" ('*' included), at most SCHEDSTATS_PAUSED_MAX */
	size_t npaused;
	int64_t paused_total; /* all of them */
};

/* 1 when this caller computes the metrics of this interval, 0 when another did lately, -1. */
int schedstats_turn(struct db_conn *c, int64_t interval_s, struct buf *err);

/* Fill *out (zeroed first; free with schedstats_clear, also after a failure). */
int schedstats_read(struct db_conn *c, struct schedstats *out, struct buf *err);
void schedstats_clear(struct schedstats *s);

/*
 * Pure: keep the `top` groups with the most jobs in `g` (an array of *n, sorted
 * here, names owned) and sum the rest into one named SCHEDSTATS_OTHER; *n is
 * updated (at most top + 1).
 */
void schedstats_bound(struct schedstats_group *g, size_t *n, size_t top);

/*
 * The CloudWatch datums of `s`, gauges without the [cloudwatch] dimensions
 * (the figures are the whole deployment's, not an instance's): JobsWaiting,
 * JobsDeferred, JobsScheduled without dimensions, by Tenant and by JobType;
 * OldestWaitingAge; Paused (the count, and 1 by Tenant or JobType for each).
 * *d (array of the return value) and *dims are malloc'd; they point into `s`.
 */
size_t schedstats_datums(const struct schedstats *s, struct cw_datum **d, struct cw_dimension **dims);

/*
 * Pure: the seconds between two of the database's RFC 3339 times
 * ("YYYY-MM-DDTHH:MM:SS.mmmZ"), `to` - `from`; -1 when either does not parse.
 * A job's wait: from its run_at (scheduled) or created_at to its started_at.
 */
double schedstats_wait_s(const char *from, const char *to);

#endif
