/*
 * archiver — in every worker, a thread that every [retention] interval sweeps
 * the finished jobs past their retention to the S3 archive (archive.h). One
 * worker at a time sweeps (a session advisory lock); the others skip that turn.
 * A sweep goes on batch after batch while full batches come, and publishes the
 * jobs it archived as JobsArchived.
 */
#include <stdlib.h>

#include "archive.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

/* One sweep; logged here. */
static void sweep(struct worker *w, struct s3 *s3, struct metric *archived_metric)
{
	const struct config *cfg = w->cfg;
	struct buf err = BUF_INIT, key = BUF_INIT;
	struct db_conn *c = db_acquire(w->db, 5000, &err);
	if (!c) {
		log_warn("retention: %s", buf_str(&err));
		buf_release(&err);
		return;
	}
	int locked = archive_lock(c, &err);
	if (locked < 0)
		log_warn("retention: %s", buf_str(&err));
	size_t total = 0, objects = 0;
	bool full = locked == 1;
	while (full) {
		size_t n = 0;
		alive_stamp(&w->archiver_alive);
		pthread_mutex_lock(&w->mu);
		bool exiting = w->exiting;
		pthread_mutex_unlock(&w->mu);
		if (exiting)
			break;
		buf_reset(&err);
		if (archive_batch(c, s3, cfg, &n, &full, &key, &err) < 0) {
			log_warn("retention: %s", buf_str(&err));
			break;
		}
		if (n > 0) {
			objects++;
			total += n;
			log_fields(LL_INFO, json_pack("{s:s, s:i}", "archive_key", buf_str(&key), "jobs", (int)n),
				   "retention: archived %zu job(s) to '%s' and deleted them", n, buf_str(&key));
		} else if (full) {
			break; /* a full batch, all of it locked or changed meanwhile: the next sweep */
		}
	}
	if (locked == 1)
		archive_unlock(c);
	db_release(c);
	if (locked == 1) {
		metrics_add(archived_metric, total);
		if (total > 0)
			log_info("retention: sweep archived %zu job(s) in %zu object(s)", total, objects);
	}
	buf_release(&key);
	buf_release(&err);
}

void *worker_archiver_main(void *arg)
{
	struct worker *w = arg;
	struct s3 *s3 = s3_new(w->cfg, w->sec);
	struct metric *archived_metric = metrics_counter(METRIC_JOBS_ARCHIVED, "Count");

	alive_bind(&w->archiver_alive);
	alive_stamp(&w->archiver_alive);
	pthread_mutex_lock(&w->mu);
	while (!w->exiting) {
		/* the interval may change with SIGHUP: read it each turn; spread the workers a little */
		int64_t every = w->cfg->retention.interval;
		int64_t until = clock_now_ms() + every * 1000 + rand() % 1000;
		for (int64_t left; !w->exiting && (left = until - clock_now_ms()) > 0;) {
			alive_stamp(&w->archiver_alive);
			clock_cond_wait_ms(&w->beat_cv, &w->mu, left < 1000 ? left : 1000);
		}
		alive_stamp(&w->archiver_alive);
		if (w->exiting)
			break;
		pthread_mutex_unlock(&w->mu);
		sweep(w, s3, archived_metric);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	s3_free(s3);
	aws_thread_cleanup();
	alive_bind(NULL);
	return NULL;
}
