/*
 * reaper — in every worker, a thread that returns jobs whose worker died (lease
 * expired) to the queue, and re-drives jobs that wait with no message behind
 * them ([worker] redrive_after). The database decides which worker acts (an
 * advisory lock each, in job_reap_expired and job_redrive); the messages go
 * through the outbox, so nothing is lost while RabbitMQ is away.
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

void *worker_reaper_main(void *arg)
{
	struct worker *w = arg;
	struct buf err = BUF_INIT;
	int every = (int)(w->cfg->worker.lease / 2);

	if (every < 1)
		every = 1;
	alive_stamp(&w->reaper_alive);
	pthread_mutex_lock(&w->mu);
	while (!w->exiting) {
		/* spread the workers' passes a little; waiting, show progress each second */
		int64_t until = clock_now_ms() + (int64_t)every * 1000 + rand() % 1000;
		for (int64_t left; !w->exiting && (left = until - clock_now_ms()) > 0;) {
			alive_stamp(&w->reaper_alive);
			clock_cond_wait_ms(&w->beat_cv, &w->mu, left < 1000 ? left : 1000);
		}
		alive_stamp(&w->reaper_alive);
		if (w->exiting)
			break;
		pthread_mutex_unlock(&w->mu);
		buf_reset(&err);
		bool full;
		do {
			int n = reap_once(w, &err);
			if (n < 0)
				log_warn("reaper: %s", buf_str(&err));
			full = n == REAP_LIMIT;
		} while (full);
		buf_reset(&err);
		redrive_once(w, &err);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	buf_release(&err);
	return NULL;
}
