/*
 * reaper — in every worker, a thread that returns jobs whose worker died (lease
 * expired) to the queue, and re-drives jobs that wait with no message behind
 * them ([worker] redrive_after). The database decides which worker acts (an
 * advisory lock each, in job_reap_expired and job_redrive); the messages go
 * through the outbox, so nothing is lost while RabbitMQ is away.
 *
 * Every few seconds it also sweeps the jobs deferred by their tenant's or
 * type's limit or pause (joblimits.h), waking those that may start now: the
 * end of a running job and an operator's change wake them at once, the sweep
 * makes sure none is stranded should such a wake-up be missed (a worker
 * killed between the two, a default '*' row changed under a claim).
 */
#include <stdlib.h>

#include "clock.h"
#include "log.h"
#include "worker.h"

#define REAP_LIMIT 100
/*
 * Jobs re-driven in one pass, one pass each time the reaper wakes: should a
 * long backlog outlast redrive_after, its duplicates come at this pace.
 */
#define REDRIVE_LIMIT 100
/* Deferred jobs woken by one sweep at most, and the seconds between sweeps. */
#define WAKE_SWEEP_LIMIT 200
#define WAKE_SWEEP_EVERY_S 3

/* One pass; the number of jobs reaped, or -1. */
static int reap_once(struct worker *w, struct buf *err)
{
	struct job *jobs = NULL;
	size_t n = 0;
	struct db_conn *c = db_acquire(w->db, 5000, err);

	if (!c)
		return -1;
	enum job_reap_rc rc = job_reap_expired(c, w->id, REAP_LIMIT, &jobs, &n, err);
	db_release(c);
	if (rc == JOB_REAP_ERR)
		return -1;
	for (size_t i = 0; i < n; i++) {
		log_fields(LL_WARN, json_pack("{s:s, s:i}", "job_id", jobs[i].id, "attempt", jobs[i].attempts),
			   "reaped job %s (worker '%s' lost it): now %s", jobs[i].id,
			   jobs[i].worker_id ? jobs[i].worker_id : "", job_status_name(jobs[i].status));
		job_clear(&jobs[i]);
	}
	/* their running slots are free: the sweep that follows wakes what they held back */
	free(jobs);
	return (int)n;
}

/* One pass of the re-drive; logged here. */
static void redrive_once(struct worker *w, struct buf *err)
{
	struct job *jobs = NULL;
	size_t n = 0;
	int64_t after = w->cfg->worker.redrive_after;
	struct db_conn *c = db_acquire(w->db, 5000, err);

	if (!c) {
		log_warn("re-drive: %s", buf_str(err));
		return;
	}
	enum job_reap_rc rc = job_redrive(c, w->id, after, REDRIVE_LIMIT, 0, &jobs, &n, err);
	db_release(c);
	if (rc == JOB_REAP_ERR) {
		log_warn("re-drive: %s", buf_str(err));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		log_fields(LL_WARN, json_pack("{s:s, s:s}", "job_id", jobs[i].id, "due_at", jobs[i].due_at),
			   "job %s is %s and unclaimed since %s, over redrive_after (%llds): its message is "
			   "published again",
			   jobs[i].id, job_status_name(jobs[i].status), jobs[i].due_at, (long long)after);
		job_clear(&jobs[i]);
	}
	free(jobs);
}

/* One sweep of the deferred jobs; logged here. */
static void wake_sweep(struct worker *w, struct buf *err)
{
	struct db_conn *c = db_acquire(w->db, 5000, err);
	int n = c ? job_wake_deferred(c, NULL, NULL, WAKE_SWEEP_LIMIT, 0, w->id, err) : -1;

	if (c)
		db_release(c);
	if (n < 0)
		log_warn("deferred jobs: %s", buf_str(err));
	else if (n > 0)
		log_info("deferred jobs: woke %d that may start now", n);
}

void *worker_reaper_main(void *arg)
{
	struct worker *w = arg;
	struct buf err = BUF_INIT;
	int every = (int)(w->cfg->worker.lease / 2);

	if (every < 1)
		every = 1;
	int sweep = every < WAKE_SWEEP_EVERY_S ? every : WAKE_SWEEP_EVERY_S;
	double next_reap = clock_now_s() + every;
	alive_stamp(&w->reaper_alive);
	pthread_mutex_lock(&w->mu);
	while (!w->exiting) {
		/* spread the workers' passes a little; waiting, show progress each second */
		int64_t until = clock_now_ms() + (int64_t)sweep * 1000 + rand() % 1000;
		for (int64_t left; !w->exiting && (left = until - clock_now_ms()) > 0;) {
			alive_stamp(&w->reaper_alive);
			clock_cond_wait_ms(&w->beat_cv, &w->mu, left < 1000 ? left : 1000);
		}
		alive_stamp(&w->reaper_alive);
		if (w->exiting)
			break;
		pthread_mutex_unlock(&w->mu);
		buf_reset(&err);
		if (clock_now_s() < next_reap) {
			wake_sweep(w, &err);
			pthread_mutex_lock(&w->mu);
			continue;
		}
		next_reap = clock_now_s() + every;
		bool full;
		do {
			int n = reap_once(w, &err);
			if (n < 0)
				log_warn("reaper: %s", buf_str(&err));
			full = n == REAP_LIMIT;
		} while (full);
		buf_reset(&err);
		redrive_once(w, &err);
		buf_reset(&err);
		wake_sweep(w, &err);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	buf_release(&err);
	return NULL;
}
