/*
 * bgthread — a background thread's start, wake-ups and stop. See bgthread.h.
 */
#include "bgthread.h"

#include <signal.h>
#include <string.h>

#include "clock.h"

/* The signals a background thread keeps: faults, which only the faulting thread can take. */
static const int fault_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS };

int bgthread_start(struct bgthread *t, const char *name, void *(*fn)(void *), void *arg, struct buf *err)
{
	sigset_t block, old;

	sigfillset(&block);
	for (size_t i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++)
		sigdelset(&block, fault_signals[i]);
	clock_cond_init(&t->cv);
	pthread_mutex_lock(&t->mu);
	t->stop = false;
	t->woken = false;
	t->running = true; /* before the thread exists: wake-ups from now on are kept */
	pthread_mutex_unlock(&t->mu);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int rc = pthread_create(&t->th, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		return 0;
	pthread_mutex_lock(&t->mu);
	t->running = false;
	pthread_mutex_unlock(&t->mu);
	pthread_cond_destroy(&t->cv);
	buf_printf(err, "%s: cannot start its thread: %s", name, strerror(rc));
	return -1;
}

void bgthread_wake(struct bgthread *t)
{
	pthread_mutex_lock(&t->mu);
	if (t->running) {
		t->woken = true;
		pthread_cond_signal(&t->cv);
	}
	pthread_mutex_unlock(&t->mu);
}

bool bgthread_wait_for(struct bgthread *t, int64_t ms)
{
	struct timespec deadline;

	clock_deadline(&deadline, ms);
	pthread_mutex_lock(&t->mu);
	while (!t->woken && !t->stop)
		if (clock_cond_wait_until(&t->cv, &t->mu, &deadline) != 0)
			break;
	t->woken = false;
	bool stop = t->stop;
	pthread_mutex_unlock(&t->mu);
	return stop;
}

bool bgthread_stopping(struct bgthread *t)
{
	pthread_mutex_lock(&t->mu);
	bool stop = t->stop;
	pthread_mutex_unlock(&t->mu);
	return stop;
}

void bgthread_stop(struct bgthread *t)
{
	pthread_mutex_lock(&t->mu);
	bool running = t->running;
	if (running) {
		t->stop = true;
		pthread_cond_signal(&t->cv);
	}
	pthread_mutex_unlock(&t->mu);
	if (!running)
		return;
	pthread_join(t->th, NULL);
	pthread_mutex_lock(&t->mu);
	t->running = false;
	pthread_mutex_unlock(&t->mu);
	pthread_cond_destroy(&t->cv);
}
