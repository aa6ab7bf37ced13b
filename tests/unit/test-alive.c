/* Liveness stamps (shared/alive.c): ages, and alive_touch() stamping only the calling thread's bound stamp. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "alive.h"
#include "clock.h"

static void test_age(void **state)
{
	struct alive a = { 0 };
	(void)state;
	assert_true(alive_age_ms(&a, clock_now_ns()) == UINT64_MAX); /* never stamped */
	alive_stamp(&a);
	uint64_t at = atomic_load(&a.ns);
	assert_true(alive_age_ms(&a, at) == 0);
	assert_true(alive_age_ms(&a, at + 2500000000ull) == 2500);
	assert_true(alive_age_ms(&a, at - 1) == 0); /* a now before the stamp counts as 0 */
}

static struct alive other;

static void *touch_unbound(void *arg)
{
	(void)arg;
	alive_touch(); /* this thread bound nothing: no stamp changes */
	alive_bind(&other);
	alive_touch();
	return NULL;
}

static void test_touch(void **state)
{
	struct alive mine = { 0 };
	pthread_t t;
	(void)state;
	alive_touch(); /* nothing bound: a no-op */
	alive_bind(&mine);
	alive_touch();
	assert_true(atomic_load(&mine.ns) != 0);
	atomic_store(&mine.ns, 0);
	assert_int_equal(pthread_create(&t, NULL, touch_unbound, NULL), 0);
	pthread_join(t, NULL);
	assert_true(atomic_load(&mine.ns) == 0);  /* another thread's touch is not ours */
	assert_true(atomic_load(&other.ns) != 0); /* it stamped the one it bound */
	alive_bind(NULL);
	alive_touch();
	assert_true(atomic_load(&mine.ns) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_touch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
