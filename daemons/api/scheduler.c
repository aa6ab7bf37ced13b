/*
 * scheduler — the promoter of scheduled jobs. PostgreSQL holds the schedule
 * (jobs.run_at of the jobs `scheduled`); no message waits in RabbitMQ. This
 * thread queues each job when its run_at comes: job_promote_due() turns the
 * due jobs queued, with their spool.jobs messages and job.queued events in the
 * outbox, in one transaction, and the publisher is kicked to send them.
 *
 * Every spool-api runs it; several at once are safe (the pass skips the rows
 * another one holds, and a job is promoted once). Between passes it sleeps
 * until the earliest run_at (one probe of the partial index jobs_scheduled),
 * at most SLEEP_MAX_MS, so that a job scheduled by another API process or
 * whose time a clock step moved is seen within that; a job submitted here
 * wakes it at once (scheduler_kick).
 */
#include "api.h"
#include "bgthread.h"
#include "log.h"

#include <stdio.h>
#include <unistd.h>

#define PASS_LIMIT 500
#define SLEEP_MAX_MS 250
/* A due job left by the pass is another promoter's (locked): let it finish rather than spin. */
#define SLEEP_MIN_MS 20
#define RETRY_MS 1000

static struct bgthread thread = BGTHREAD_INIT;

void scheduler_kick(void)
{
	bgthread_wake(&thread);
}

/*
 * One pass and the probe after it: the milliseconds to sleep (SLEEP_MIN_MS to
 * SLEEP_MAX_MS; RETRY_MS after a failure), 0 to go on at once (a full pass).
 */
static int64_t promote_once(struct api *a, const char *actor, bool *failed)
{
	struct buf err = BUF_INIT;
	size_t n = 0;
	int64_t next = -1;
	prom_scheduler_pass();
	struct db_conn *c = db_acquire(a->db, 2000, &err);
	bool ok = c && job_promote_due(c, actor, PASS_LIMIT, &n, &err) == 0 &&
		  (n == PASS_LIMIT || job_next_run_in(c, &next, &err) == 0);
	if (c)
		db_release(c);
	if (n > 0) {
		publisher_kick();
		log_fields(LL_INFO, json_pack("{s:I}", "count", (json_int_t)n), "scheduler: %zu scheduled jobs queued",
			   n);
	}
	if (!ok) {
		if (!*failed)
			log_warn("scheduler: %s; retrying", buf_str(&err));
		*failed = true;
		buf_release(&err);
		return RETRY_MS;
	}
	if (*failed)
		log_info("scheduler: database reachable again");
	*failed = false;
	buf_release(&err);
	if (n == PASS_LIMIT)
		return 0;
	if (next < 0 || next > SLEEP_MAX_MS)
		return SLEEP_MAX_MS;
	return next < SLEEP_MIN_MS ? SLEEP_MIN_MS : next;
}

static void *scheduler_main(void *arg)
{
	struct api *a = arg;
	char host[64] = "", actor[96];
	bool failed = false, stop = false;
	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	snprintf(actor, sizeof(actor), "api:scheduler:%s:%ld", host, (long)getpid());
	while (!stop) {
		int64_t ms = promote_once(a, actor, &failed);
		stop = ms > 0 ? bgthread_wait_for(&thread, ms) : bgthread_stopping(&thread);
	}
	return NULL;
}

int scheduler_start(struct api *a, struct buf *err)
{
	return bgthread_start(&thread, "scheduler", scheduler_main, a, err);
}

void scheduler_stop(void)
{
	bgthread_stop(&thread);
}
