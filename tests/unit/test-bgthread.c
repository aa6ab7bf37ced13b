/* A background thread's start, wake-ups, timed waits and stop (shared/bgthread.c). */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bgthread.h"
#include "clock.h"

/* What the thread under test saw. */
struct probe {
	struct bgthread t;
	int64_t wait_ms;          /* how long each of its waits may last */
	atomic_int wakes;         /* waits that ended before their time (woken) */
	atomic_int timeouts;      /* waits that ran out */
	atomic_int loops;
	atomic_int term_blocked;  /* SIGTERM blocked in the thread */
	atomic_int segv_blocked;  /* SIGSEGV blocked in the thread */
};

static void *probe_main(void *arg)
{
	struct probe *p = arg;
	sigset_t mask;
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	atomic_store(&p->term_blocked, sigismember(&mask, SIGTERM));
	atomic_store(&p->segv_blocked, sigismember(&mask, SIGSEGV));
	for (;;) {
		int64_t t0 = clock_now_ms();
		if (bgthread_wait_for(&p->t, p->wait_ms))
			break;
		if (clock_now_ms() - t0 >= p->wait_ms)
			atomic_fetch_add(&p->timeouts, 1);
		else
			atomic_fetch_add(&p->wakes, 1);
		atomic_fetch_add(&p->loops, 1);
	}
	return NULL;
}

/* Wait (at most 5 s) until `*v` reaches `n`. */
static bool reaches(atomic_int *v, int n)
{
	int64_t until = clock_now_ms() + 5000;
	while (atomic_load(v) < n && clock_now_ms() < until)
		clock_sleep_ms(1);
	return atomic_load(v) >= n;
}

static void test_wake_and_stop(void **state)
{
	(void)state;
	struct probe p = { .t = BGTHREAD_INIT, .wait_ms = 60000 };
	struct buf err = BUF_INIT;
	assert_int_equal(bgthread_start(&p.t, "probe", probe_main, &p, &err), 0);
	assert_int_equal(err.len, 0);
	bgthread_wake(&p.t);
	assert_true(reaches(&p.wakes, 1));
	bgthread_wake(&p.t);
	assert_true(reaches(&p.wakes, 2));
	/* a stop ends a long wait at once */
	int64_t t0 = clock_now_ms();
	bgthread_stop(&p.t);
	assert_true(clock_now_ms() - t0 < 5000);
	assert_int_equal(atomic_load(&p.timeouts), 0);
	assert_int_equal(atomic_load(&p.wakes), 2);
	buf_release(&err);
}

static void test_wait_times_out(void **state)
{
	(void)state;
	struct probe p = { .t = BGTHREAD_INIT, .wait_ms = 20 };
	struct buf err = BUF_INIT;
	assert_int_equal(bgthread_start(&p.t, "probe", probe_main, &p, &err), 0);
	assert_true(reaches(&p.timeouts, 3));
	bgthread_stop(&p.t);
	buf_release(&err);
}

/* A thread that takes no wake-ups: it looks at its stop flag only. */
static void *park(void *arg)
{
	struct bgthread *t = arg;
	while (!bgthread_stopping(t))
		clock_sleep_ms(1);
	return NULL;
}

/* A wake-up given while the thread is not waiting is kept for its next wait. */
static void test_wake_is_remembered(void **state)
{
	(void)state;
	struct bgthread t = BGTHREAD_INIT;
	struct buf err = BUF_INIT;
	struct bgthread never = BGTHREAD_INIT;
	/* drive the waits from this thread: the started one only parks */
	assert_int_equal(bgthread_start(&t, "parked", park, &t, &err), 0);
	bgthread_wake(&t);
	int64_t t0 = clock_now_ms();
	assert_int_equal(bgthread_wait_for(&t, 10000), 0);
	assert_true(clock_now_ms() - t0 < 5000);
	/* taken: the next wait runs out */
	t0 = clock_now_ms();
	assert_int_equal(bgthread_wait_for(&t, 30), 0);
	assert_true(clock_now_ms() - t0 >= 29);
	assert_int_equal(bgthread_stopping(&t), 0);
	bgthread_stop(&t);
	bgthread_stop(&never); /* never started: nothing */
	buf_release(&err);
}

static void test_not_running_and_restart(void **state)
{
	(void)state;
	struct probe p = { .t = BGTHREAD_INIT, .wait_ms = 60000 };
	struct buf err = BUF_INIT;
	bgthread_wake(&p.t); /* before the start: nothing */
	bgthread_stop(&p.t);
	for (int round = 1; round <= 2; round++) {
		assert_int_equal(bgthread_start(&p.t, "probe", probe_main, &p, &err), 0);
		bgthread_wake(&p.t);
		assert_true(reaches(&p.wakes, round));
		bgthread_stop(&p.t);
		bgthread_wake(&p.t); /* after the stop: nothing */
		bgthread_stop(&p.t);
	}
	buf_release(&err);
}

/* The thread leaves the daemon's signals to the main thread, but not faults. */
static void test_signals(void **state)
{
	(void)state;
	struct probe p = { .t = BGTHREAD_INIT, .wait_ms = 60000, .term_blocked = -1, .segv_blocked = -1 };
	struct buf err = BUF_INIT;
	sigset_t before, after;
	pthread_sigmask(SIG_SETMASK, NULL, &before);
	assert_int_equal(bgthread_start(&p.t, "probe", probe_main, &p, &err), 0);
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	assert_int_equal(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));
	bgthread_wake(&p.t);
	assert_true(reaches(&p.wakes, 1));
	assert_int_equal(atomic_load(&p.term_blocked), 1);
	assert_int_equal(atomic_load(&p.segv_blocked), 0);
	bgthread_stop(&p.t);
	buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wake_and_stop),
		cmocka_unit_test(test_wait_times_out),
		cmocka_unit_test(test_wake_is_remembered),
		cmocka_unit_test(test_not_running_and_restart),
		cmocka_unit_test(test_signals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
