/*
 * bgthread — the lifecycle of a daemon's background thread: start, wake it, let
 * it sleep until woken, stopped or a timeout, and stop it (then join).
 *
 * The thread's body loops until bgthread_wait_for() or bgthread_stopping() says
 * it is stopping; other threads call bgthread_wake() when there is work for it
 * and bgthread_stop() at shutdown. A wake-up is remembered until the next wait
 * takes it, so one that comes while the thread is busy is not lost. Waits
 * measure on CLOCK_MONOTONIC (clock.h).
 *
 * The new thread blocks the asynchronous signals: the daemon's main thread takes
 * SIGTERM, SIGINT and SIGHUP. Faults (SIGSEGV, ...) stay deliverable.
 *
 * A struct bgthread starts as BGTHREAD_INIT; it may be started again after
 * bgthread_stop(). bgthread_wake() and bgthread_stop() are safe on a thread that
 * is not running (they do nothing); start and stop belong to one owner thread.
 */
#ifndef SPOOL_BGTHREAD_H
#define SPOOL_BGTHREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

struct bgthread {
	pthread_mutex_t mu; /* guards the fields below */
	pthread_cond_t cv;  /* CLOCK_MONOTONIC; exists while `running` */
	bool running;       /* started and not yet joined */
	bool stop;
	bool woken;
	pthread_t th;
};

#define BGTHREAD_INIT { .mu = PTHREAD_MUTEX_INITIALIZER }

/*
 * Run fn(arg) on a new thread. 0, or -1 with "NAME: cannot start its thread:
 * REASON" in err (the daemon ends: it cannot work without the thread).
 */
int bgthread_start(struct bgthread *t, const char *name, void *(*fn)(void *), void *arg, struct buf *err);
/* Wake the thread from bgthread_wait_for now, or at its next wait. */
void bgthread_wake(struct bgthread *t);
/* In the thread: wait up to ms for a wake-up (taken) or a stop. true when stopping. */
bool bgthread_wait_for(struct bgthread *t, int64_t ms);
/* In the thread: true when asked to stop. */
bool bgthread_stopping(struct bgthread *t);
/* Ask the thread to stop, wake it and join it. */
void bgthread_stop(struct bgthread *t);

#endif
