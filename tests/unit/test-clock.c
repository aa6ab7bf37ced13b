/* The monotonic clock, deadlines and timed waits (shared/clock.c). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clock.h"

static void test_now_units_agree(void **state)
{
	(void)state;
	uint64_t ns = clock_now_ns();
	int64_t ms = clock_now_ms();
	double s = clock_now_s();
	uint64_t ns2 = clock_now_ns();
	assert_true(ns2 >= ns);
	assert_true(ms >= (int64_t)(ns / 1000000u));
	assert_true(ms <= (int64_t)(ns2 / 1000000u));
	assert_true(s * 1e9 >= (double)ns - 1e3 && s * 1e9 <= (double)ns2 + 1e3);
}

static void test_deadline_normalised(void **state)
{
	(void)state;
	for (int64_t ms = 0; ms < 3000; ms += 7) {
		struct timespec ts, now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		clock_deadline(&ts, ms);
		assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
		int64_t d = (int64_t)(ts.tv_sec - now.tv_sec) * 1000 + (ts.tv_nsec - now.tv_nsec) / 1000000;
		assert_true(d >= ms && d <= ms + 50);
	}
	struct timespec ts, now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	clock_deadline(&ts, -5000); /* negative: now */
	assert_true(ts.tv_sec <= now.tv_sec + 1 && ts.tv_sec >= now.tv_sec);
}

static void test_sleep(void **state)
{
	(void)state;
	int64_t t0 = clock_now_ms();
	clock_sleep_ms(30);
	int64_t took = clock_now_ms() - t0;
	assert_true(took >= 30 && took < 1000);
	t0 = clock_now_ms();
	clock_sleep_ms(-1);
	clock_sleep_ms(0);
	assert_true(clock_now_ms() - t0 < 50);
}

/* A wait on a monotonic condition variable times out after about its interval. */
static void test_cond_wait_times_out(void **state)
{
	(void)state;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv;
	clock_cond_init(&cv);
	pthread_mutex_lock(&mu);
	int64_t t0 = clock_now_ms();
	int rc;
	while ((rc = clock_cond_wait_ms(&cv, &mu, 60)) == 0 && clock_now_ms() - t0 < 60)
		; /* spurious wake-ups */
	int64_t took = clock_now_ms() - t0;
	pthread_mutex_unlock(&mu);
	assert_int_equal(rc, ETIMEDOUT);
	assert_true(took >= 59 && took < 2000);
	/* a deadline already passed answers at once */
	struct timespec past;
	clock_deadline(&past, 0);
	pthread_mutex_lock(&mu);
	assert_int_equal(clock_cond_wait_until(&cv, &mu, &past), ETIMEDOUT);
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&cv);
}

struct signaller {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool flag;
};

static void *signal_soon(void *arg)
{
	struct signaller *s = arg;
	clock_sleep_ms(20);
	pthread_mutex_lock(&s->mu);
	s->flag = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* A signal ends the wait long before its deadline. */
static void test_cond_wait_signalled(void **state)
{
	(void)state;
	struct signaller s = { .mu = PTHREAD_MUTEX_INITIALIZER };
	pthread_t th;
	clock_cond_init(&s.cv);
	int64_t t0 = clock_now_ms();
	assert_int_equal(pthread_create(&th, NULL, signal_soon, &s), 0);
	struct timespec deadline;
	clock_deadline(&deadline, 10000);
	pthread_mutex_lock(&s.mu);
	int rc = 0;
	while (!s.flag && rc == 0)
		rc = clock_cond_wait_until(&s.cv, &s.mu, &deadline);
	pthread_mutex_unlock(&s.mu);
	pthread_join(th, NULL);
	assert_int_equal(rc, 0);
	assert_true(s.flag);
	assert_true(clock_now_ms() - t0 < 5000);
	pthread_cond_destroy(&s.cv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_now_units_agree),
		cmocka_unit_test(test_deadline_normalised),
		cmocka_unit_test(test_sleep),
		cmocka_unit_test(test_cond_wait_times_out),
		cmocka_unit_test(test_cond_wait_signalled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
