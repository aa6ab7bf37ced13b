/* spool-api's token-bucket table (daemons/api/ratelimit.c): limits, and eviction of idle buckets only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../daemons/api/ratelimit.h"

#define SEC 1000000000ull

/* An id in set `set` of a table of `sets` sets (the set is the first 8 bytes, masked), told apart by `n`. */
static void make_id(unsigned char id[32], uint64_t set, unsigned n)
{
	memset(id, 0, 32);
	memcpy(id, &set, sizeof(set));
	memcpy(id + 16, &n, sizeof(n));
}

static void test_bucket(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(64);
	unsigned char id[32];
	uint64_t t = 5 * SEC;
	make_id(id, 0, 1);
	/* a new id starts full: burst requests at once, then 429 */
	for (int i = 0; i < 10; i++)
		assert_int_equal(ratelimit_take(rl, id, 2, 10, t), RATELIMIT_OK);
	assert_int_equal(ratelimit_take(rl, id, 2, 10, t), RATELIMIT_EMPTY);
	assert_int_equal(ratelimit_peek(rl, id, t), RATELIMIT_EMPTY);
	/* refills at the rate: 2 a second */
	assert_int_equal(ratelimit_peek(rl, id, t + SEC / 2), RATELIMIT_OK);
	assert_int_equal(ratelimit_take(rl, id, 2, 10, t + SEC), RATELIMIT_OK);
	assert_int_equal(ratelimit_take(rl, id, 2, 10, t + SEC), RATELIMIT_OK);
	assert_int_equal(ratelimit_take(rl, id, 2, 10, t + SEC), RATELIMIT_EMPTY);
	/* never above the burst however long it waits */
	int n = 0;
	while (ratelimit_take(rl, id, 2, 10, t + 1000 * SEC) == RATELIMIT_OK)
		n++;
	assert_int_equal(n, 10);
	/* a clock read before the last update (another thread's) counts as no time passed */
	assert_int_equal(ratelimit_take(rl, id, 2, 10, t), RATELIMIT_EMPTY);
	/* other ids are not affected */
	unsigned char other[32];
	make_id(other, 0, 2);
	assert_int_equal(ratelimit_take(rl, other, 2, 10, t + 1000 * SEC), RATELIMIT_OK);
	assert_int_equal(ratelimit_count(rl), 2);
	ratelimit_free(rl);
}

/* A drained bucket survives any number of other ids: only idle (full) buckets are evicted. */
static void test_drained_survives_pressure(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(RATELIMIT_WAYS); /* one set */
	unsigned char drained[32], id[32];
	uint64_t t = SEC;
	make_id(drained, 0, 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_take(rl, drained, 1, 5, t), RATELIMIT_OK);
	assert_int_equal(ratelimit_take(rl, drained, 1, 5, t), RATELIMIT_EMPTY);
	/* 1000 other ids, each taking one token at once and then idle: they evict each other */
	for (unsigned n = 1; n <= 1000; n++) {
		make_id(id, 0, n);
		uint64_t now = t + n * SEC / 1000000; /* a microsecond apart: the drained one stays empty */
		assert_int_equal(ratelimit_take(rl, id, 1000000, 5, now), RATELIMIT_OK);
	}
	assert_true(ratelimit_count(rl) <= RATELIMIT_WAYS);
	assert_int_equal(ratelimit_take(rl, drained, 1, 5, t + SEC / 1000), RATELIMIT_EMPTY);
	ratelimit_free(rl);
}

/* An id that cannot get a bucket (every entry of its set still refilling) is told RATELIMIT_FULL. */
static void test_full_set(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(2 * RATELIMIT_WAYS); /* two sets */
	unsigned char id[32];
	uint64_t t = SEC;
	for (unsigned n = 0; n < RATELIMIT_WAYS; n++) {
		make_id(id, 1, n);
		assert_int_equal(ratelimit_take(rl, id, 1, 3, t), RATELIMIT_OK);
	}
	make_id(id, 1, 99);
	assert_int_equal(ratelimit_peek(rl, id, t), RATELIMIT_FULL);
	assert_int_equal(ratelimit_take(rl, id, 1, 3, t), RATELIMIT_FULL);
	/* the other set has room */
	make_id(id, 0, 99);
	assert_int_equal(ratelimit_peek(rl, id, t), RATELIMIT_OK);
	assert_int_equal(ratelimit_take(rl, id, 1, 3, t), RATELIMIT_OK);
	/* once a bucket of set 1 is full again (1 token back after 1 s), the newcomer takes its place */
	make_id(id, 1, 99);
	assert_int_equal(ratelimit_take(rl, id, 1, 3, t + SEC), RATELIMIT_OK);
	/* the newcomer has a bucket of its own now, and it drains like any */
	assert_int_equal(ratelimit_take(rl, id, 1, 3, t + SEC), RATELIMIT_OK);
	assert_int_equal(ratelimit_take(rl, id, 1, 3, t + SEC), RATELIMIT_OK);
	assert_int_equal(ratelimit_take(rl, id, 1, 3, t + SEC), RATELIMIT_EMPTY);
	ratelimit_free(rl);
}

/* The bucket follows new rate and burst values (a reload), never keeping more than the new burst. */
static void test_new_limits(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(64);
	unsigned char id[32];
	make_id(id, 3, 1);
	assert_int_equal(ratelimit_take(rl, id, 1, 100, SEC), RATELIMIT_OK);
	int n = 0;
	while (ratelimit_take(rl, id, 1, 3, SEC) == RATELIMIT_OK)
		n++;
	assert_int_equal(n, 3);
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_drained_survives_pressure),
		cmocka_unit_test(test_full_set),
		cmocka_unit_test(test_new_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
