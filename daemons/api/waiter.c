/*
 * waiter — GET /v1/jobs/{id}?wait=N without holding an HTTP thread hostage.
 *
 * The handler suspends the connection (MHD_suspend_connection) and hands the
 * request here. One thread checks the waiting jobs every POLL_MS (or at once
 * after waiter_wake()) and resumes the connections whose job reached a final
 * state or whose deadline passed; MHD then calls the handler again, which
 * answers with the job as it is. Only this thread resumes and removes entries,
 * so a request it holds stays valid (a suspended connection is never timed out
 * or completed by MHD).
 */
#include "api.h"
#include "log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 250

static struct {
	pthread_mutex_t mu;  /* guards list, n, cap, stop, kicked */
	pthread_cond_t cv;
	struct req **list;
	size_t n, cap;
	int stop, kicked, started;
	pthread_t th;
	struct api *api;
} w = { .mu = PTHREAD_MUTEX_INITIALIZER };

void waiter_add(struct req *r)
{
	pthread_mutex_lock(&w.mu);
	if (w.n == w.cap) {
		w.cap = w.cap ? w.cap * 2 : 64;
		w.list = xrealloc(w.list, w.cap * sizeof(*w.list));
	}
	r->suspended = 1;
	MHD_suspend_connection(r->conn);
	w.list[w.n++] = r;
	pthread_mutex_unlock(&w.mu);
}

void waiter_wake(const char *job_id)
{
	(void)job_id;
	pthread_mutex_lock(&w.mu);
	w.kicked = 1;
	pthread_cond_signal(&w.cv);
	pthread_mutex_unlock(&w.mu);
}

/* Resume entry i (lock held): swap-remove it from the list. */
static void resume_at(size_t i)
{
	struct req *r = w.list[i];
	w.list[i] = w.list[--w.n];
	r->suspended = 0;
	r->resumed = 1;
	MHD_resume_connection(r->conn);
}

/* Is the job final (or gone)? Errors count as "not yet": the deadline still ends it. */
static int job_done(struct db_conn *c, const char *id)
{
	struct buf err = BUF_INIT;
	struct job j;
	memset(&j, 0, sizeof(j));
	int rc = job_get(c, id, NULL, &j, &err);
	int done = rc == 1 || (rc == 0 && job_status_final(j.status));
	if (rc < 0)
		log_warn("waiter: cannot read job %s: %s", id, buf_str(&err));
	job_clear(&j);
	buf_release(&err);
	return done;
}

/* One pass: decide outside the lock, resume under it. */
static void check_all(struct api *a)
{
	pthread_mutex_lock(&w.mu);
	size_t n = w.n;
	struct req **snap = n ? xmalloc(n * sizeof(*snap)) : NULL;
	if (n)
		memcpy(snap, w.list, n * sizeof(*snap));
	pthread_mutex_unlock(&w.mu);
	if (!n)
		return;
	unsigned char *done = xcalloc(n, 1);
	uint64_t now = api_now_ns();
	struct buf err = BUF_INIT;
	struct db_conn *c = NULL;
	for (size_t i = 0; i < n; i++) {
		if (now >= snap[i]->wait_deadline_ns) {
			done[i] = 1;
			continue;
		}
		if (!c && !(c = db_acquire(a->db, 1000, &err)))
			continue;
		done[i] = (unsigned char)job_done(c, snap[i]->job_id);
	}
	if (c)
		db_release(c);
	buf_release(&err);
	pthread_mutex_lock(&w.mu);
	for (size_t i = 0; i < n; i++) {
		if (!done[i])
			continue;
		for (size_t k = 0; k < w.n; k++)
			if (w.list[k] == snap[i]) {
				resume_at(k);
				break;
			}
	}
	pthread_mutex_unlock(&w.mu);
	free(done);
	free(snap);
}

static void *waiter_main(void *arg)
{
	struct api *a = arg;
	for (;;) {
		struct timespec ts;
		api_deadline(&ts, POLL_MS);
		pthread_mutex_lock(&w.mu);
		while (!w.kicked && !w.stop)
			if (pthread_cond_timedwait(&w.cv, &w.mu, &ts) != 0)
				break;
		w.kicked = 0;
		int stop = w.stop;
		pthread_mutex_unlock(&w.mu);
		if (stop)
			break;
		check_all(a);
	}
	return NULL;
}

void waiter_start(struct api *a)
{
	api_cond_init(&w.cv);
	w.api = a;
	if (pthread_create(&w.th, NULL, waiter_main, a) != 0) {
		log_error("waiter: cannot start the thread");
		return;
	}
	w.started = 1;
}

/*
 * Stop the thread and resume everyone: each waiting client gets the job as it is.
 * Requests that suspend after this (in flight during shutdown) are resumed by
 * waiter_flush(), which the drain loop calls.
 */
void waiter_stop(void)
{
	pthread_mutex_lock(&w.mu);
	w.stop = 1;
	pthread_cond_signal(&w.cv);
	pthread_mutex_unlock(&w.mu);
	if (w.started)
		pthread_join(w.th, NULL);
	w.started = 0;
	waiter_flush();
}

void waiter_flush(void)
{
	pthread_mutex_lock(&w.mu);
	while (w.n > 0)
		resume_at(w.n - 1);
	pthread_mutex_unlock(&w.mu);
}

void waiter_free(void)
{
	free(w.list);
	w.list = NULL;
	w.n = w.cap = 0;
	pthread_cond_destroy(&w.cv);
}
