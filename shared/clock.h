/*
 * clock — the monotonic clock: elapsed time, deadlines and timed waits.
 *
 * Everything that measures an interval or waits with a timeout uses
 * CLOCK_MONOTONIC, which a step of the wall clock (NTP, an operator's `date`)
 * does not move. Wall-clock time, for timestamps that are shown or stored, is
 * timefmt.h's.
 *
 * A condition variable that is waited on with a deadline from clock_deadline()
 * (or with clock_cond_wait_ms) must have been made by clock_cond_init(): a
 * pthread condition variable measures its deadline on CLOCK_REALTIME otherwise.
 */
#ifndef SPOOL_CLOCK_H
#define SPOOL_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Now on CLOCK_MONOTONIC, in nanoseconds, milliseconds or seconds. */
uint64_t clock_now_ns(void);
int64_t clock_now_ms(void);
double clock_now_s(void);

/* *ts = now + ms (ms < 0 counts as 0) on CLOCK_MONOTONIC, for clock_cond_wait_until. */
void clock_deadline(struct timespec *ts, int64_t ms);

/* Initialise `cv` to measure its timed waits on CLOCK_MONOTONIC. */
void clock_cond_init(pthread_cond_t *cv);

/*
 * Wait on `cv` (made by clock_cond_init; `mu` held) until it is signalled or
 * `deadline` passes: pthread_cond_timedwait's answer, 0 when signalled (or
 * woken spuriously: check the condition), ETIMEDOUT when the deadline passed.
 */
int clock_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline);
/* The same with a deadline `ms` from now. */
int clock_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms);

/* Sleep `ms` milliseconds, going on after a signal handler ran. */
void clock_sleep_ms(int64_t ms);

#endif
