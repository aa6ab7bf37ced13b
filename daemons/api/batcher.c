/*
 * batcher — group commit of POST /v1/jobs (and the job of POST /v1/videos).
 *
 * A commit costs the same for one job as for a hundred, so the submissions of
 * all the handler threads share them: the first submission to find no batch
 * open leads one, waits up to [api] submit_batch_wait_us for others (or until
 * [api] submit_batch_max have joined), closes it, and inserts every job of it
 * with job_create_batch (one statement, one transaction). The others sleep until
 * the leader has their answer. Submissions that arrive while a batch commits
 * open the next one, and that one stays open until the commit before it has
 * ended (COMMITS_IN_FLIGHT), however short submit_batch_wait_us: so under load
 * a batch gathers what arrives during one commit, and the batches grow with the
 * load by themselves. A submission waits at most a commit and the wait.
 *
 * Nothing is answered before its commit. When the server refuses one row's
 * values (a constraint), the rows are tried one by one with job_create, so that
 * only that one fails; when the database is out, every submission of the batch
 * gets its error (the route answers 503, as it does without batching).
 */
#include "api.h"
#include "clock.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_WAIT_MS 2000
/*
 * Batches committing at once. Short batches committed side by side cost the
 * database a transaction each; measured on two cores, one in flight gives
 * batches several times larger at the same rate.
 */
#define COMMITS_IN_FLIGHT 1

/* One submission, on its handler thread's stack while it waits. */
struct batch_item {
	const struct job_new *in;
	struct job *out;
	bool *existed;
	struct buf *err;
	int rc;
	bool done;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_cond_t filled;    /* the open batch reached its size: its leader closes it */
static pthread_cond_t changed;   /* a batch closed or committed: waiting submissions look again */
/* Under mu: the open batch; `leading` while a leader waits for it to fill. */
static struct batch_item *open_items[API_SUBMIT_BATCH_LIMIT];
static size_t open_n;
static bool leading;
static int inflight;             /* closed batches not committed yet */

static void batcher_once(void)
{
	clock_cond_init(&filled);
	clock_cond_init(&changed);
}

/* Commit the closed batch items[0..n-1] and fill in every item's answer. */
static void batch_commit(struct api *a, struct batch_item **items, size_t n)
{
	struct job_new *in = xcalloc(n, sizeof(*in));
	struct job *out = xcalloc(n, sizeof(*out));
	bool *existed = xcalloc(n, sizeof(*existed));
	struct buf err = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		in[i] = *items[i]->in;
	int rc = JOB_BATCH_ERR;
	struct db_conn *c = db_acquire(a->db, DB_WAIT_MS, &err);
	if (c)
		rc = job_create_batch(c, in, n, out, existed, &err);
	if (rc == JOB_BATCH_ROW) {
		log_warn("a batch of %zu job submissions was refused (%s): trying them one by one", n, buf_str(&err));
		for (size_t i = 0; i < n; i++)
			items[i]->rc = job_create(c, items[i]->in, items[i]->out, items[i]->existed, items[i]->err);
	} else {
		for (size_t i = 0; i < n; i++) {
			items[i]->rc = rc == JOB_BATCH_OK ? 0 : -1;
			if (rc == JOB_BATCH_OK) {
				*items[i]->out = out[i]; /* moved: the item's owner clears it */
				*items[i]->existed = existed[i];
			} else {
				buf_adds(items[i]->err, buf_str(&err));
			}
		}
	}
	if (c)
		db_release(c);
	buf_release(&err);
	free(existed);
	free(out);
	free(in);
}

/* The open batch's leader: wait for it to fill or for its time, then close it into *n items. */
static struct batch_item **batch_close(int64_t wait_us, size_t max, size_t *n)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += (long)(wait_us % 1000000) * 1000;
	deadline.tv_sec += (time_t)(wait_us / 1000000) + deadline.tv_nsec / 1000000000;
	deadline.tv_nsec %= 1000000000;
	bool expired = wait_us <= 0;
	while (open_n < max && (!expired || inflight >= COMMITS_IN_FLIGHT)) {
		if (expired)
			pthread_cond_wait(&filled, &mu); /* a commit ended */
		else if (clock_cond_wait_until(&filled, &mu, &deadline) != 0)
			expired = true;
	}
	inflight++;
	struct batch_item **items = xcalloc(open_n, sizeof(*items));
	memcpy(items, open_items, open_n * sizeof(*items));
	*n = open_n;
	open_n = 0;
	leading = false;
	pthread_cond_broadcast(&changed);
	return items;
}

int batcher_submit(struct api *a, const struct job_new *in, struct job *out, bool *existed, struct buf *err)
{
	const struct config *cfg = a->cfg;
	size_t max = (size_t)cfg->api.submit_batch_max;
	if (max < 1 || max > API_SUBMIT_BATCH_LIMIT)
		max = API_SUBMIT_BATCH_LIMIT;
	struct batch_item it = { .in = in, .out = out, .existed = existed, .err = err };
	memset(out, 0, sizeof(*out));
	*existed = false;
	pthread_once(&once, batcher_once);
	pthread_mutex_lock(&mu);
	while (open_n >= max) /* full, its leader not yet awake to close it */
		pthread_cond_wait(&changed, &mu);
	open_items[open_n++] = &it;
	bool leader = !leading;
	if (leader)
		leading = true;
	else if (open_n >= max)
		pthread_cond_signal(&filled);
	if (leader) {
		size_t n;
		struct batch_item **items = batch_close(cfg->api.submit_batch_wait_us, max, &n);
		pthread_mutex_unlock(&mu);
		batch_commit(a, items, n);
		pthread_mutex_lock(&mu);
		for (size_t i = 0; i < n; i++)
			items[i]->done = true;
		inflight--;
		pthread_cond_signal(&filled); /* the open batch's leader may close it now */
		pthread_cond_broadcast(&changed);
		free(items);
	}
	while (!it.done)
		pthread_cond_wait(&changed, &mu);
	pthread_mutex_unlock(&mu);
	return it.rc;
}
