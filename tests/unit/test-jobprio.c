/* Unit tests for jobprio: names, queues, delay queues, and the weighted choice between priorities. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jobprio.h"

static void test_names(void **state)
{
	enum jobprio p;
	(void)state;
	assert_int_equal(jobprio_parse("high", &p), 0);
	assert_int_equal(p, JOBPRIO_HIGH);
	assert_int_equal(jobprio_parse("normal", &p), 0);
	assert_int_equal(p, JOBPRIO_NORMAL);
	assert_int_equal(jobprio_parse("low", &p), 0);
	assert_int_equal(p, JOBPRIO_LOW);
	assert_int_equal(jobprio_parse("HIGH", &p), -1);
	assert_int_equal(jobprio_parse("urgent", &p), -1);
	assert_int_equal(jobprio_parse("", &p), -1);
	assert_int_equal(jobprio_parse(NULL, &p), -1);
	assert_string_equal(jobprio_name(JOBPRIO_LOW), "low");
	assert_string_equal(jobprio_name((enum jobprio)7), "normal");
}

static void test_queues(void **state)
{
	enum jobprio p = JOBPRIO_LOW;
	(void)state;
	assert_string_equal(jobprio_queue(JOBPRIO_NORMAL), "spool.jobs");
	assert_string_equal(jobprio_queue(JOBPRIO_HIGH), "spool.jobs.high");
	assert_string_equal(jobprio_key(JOBPRIO_HIGH), "job.high");
	assert_string_equal(jobprio_key(JOBPRIO_NORMAL), "job");
	assert_int_equal(jobprio_of_queue("spool.jobs.low", &p), 0);
	assert_int_equal(p, JOBPRIO_LOW);
	assert_int_equal(jobprio_of_queue("spool.jobs", &p), 0);
	assert_int_equal(p, JOBPRIO_NORMAL);
	assert_int_equal(jobprio_of_queue("spool.dead", &p), -1);
	assert_int_equal(jobprio_retry_of("spool.retry.30", &p), 30);
	assert_int_equal(p, JOBPRIO_NORMAL);
	assert_int_equal(jobprio_retry_of("spool.retry.high.16", &p), 16);
	assert_int_equal(p, JOBPRIO_HIGH);
	assert_int_equal(jobprio_retry_of("spool.retry.low.7", &p), 7);
	assert_int_equal(p, JOBPRIO_LOW);
	assert_int_equal(jobprio_retry_of("spool.retry.0", &p), 0);
	assert_int_equal(jobprio_retry_of("spool.retry.high.", &p), 0);
	assert_int_equal(jobprio_retry_of("spool.retry.urgent.5", &p), 0);
	assert_int_equal(jobprio_retry_of("spool.retry.5x", &p), 0);
	assert_int_equal(jobprio_retry_of("spool.jobs", &p), 0);
}

/* `n` picks with the counts `waiting` kept constant: how many went to each priority. */
static void picks(struct jobprio_picker *pk, const int waiting[JOBPRIO_COUNT], int n, int got[JOBPRIO_COUNT])
{
	memset(got, 0, sizeof(int) * JOBPRIO_COUNT);
	for (int i = 0; i < n; i++) {
		int p = jobprio_pick(pk, waiting);
		assert_true(p >= 0 && p < JOBPRIO_COUNT);
		assert_true(waiting[p] > 0);
		got[p]++;
	}
}

static void test_pick(void **state)
{
	struct jobprio_picker pk;
	int got[JOBPRIO_COUNT];
	(void)state;
	memset(&pk, 0, sizeof(pk));
	/* nothing waiting */
	int none[JOBPRIO_COUNT] = { 0, 0, 0 };
	assert_int_equal(jobprio_pick(&pk, none), -1);
	/* all three waiting: the weights, exactly, over every round */
	int all[JOBPRIO_COUNT] = { 5, 5, 5 };
	picks(&pk, all, JOBPRIO_WEIGHT_SUM * 10, got);
	assert_int_equal(got[JOBPRIO_HIGH], JOBPRIO_WEIGHT_HIGH * 10);
	assert_int_equal(got[JOBPRIO_NORMAL], JOBPRIO_WEIGHT_NORMAL * 10);
	assert_int_equal(got[JOBPRIO_LOW], JOBPRIO_WEIGHT_LOW * 10);
	/* low is never kept waiting longer than one round */
	memset(&pk, 0, sizeof(pk));
	int since = 0, worst = 0;
	for (int i = 0; i < 1000; i++) {
		since = jobprio_pick(&pk, all) == JOBPRIO_LOW ? 0 : since + 1;
		worst = since > worst ? since : worst;
	}
	assert_true(worst < JOBPRIO_WEIGHT_SUM);
	/* a long normal backlog, then a high delivery arrives: it is the very next pick */
	memset(&pk, 0, sizeof(pk));
	int normal[JOBPRIO_COUNT] = { [JOBPRIO_NORMAL] = 100 };
	picks(&pk, normal, 57, got);
	assert_int_equal(got[JOBPRIO_NORMAL], 57);
	int mixed[JOBPRIO_COUNT] = { [JOBPRIO_NORMAL] = 100, [JOBPRIO_HIGH] = 1 };
	assert_int_equal(jobprio_pick(&pk, mixed), JOBPRIO_HIGH);
	/* normal and low only: 3 to 1 */
	memset(&pk, 0, sizeof(pk));
	int nl[JOBPRIO_COUNT] = { [JOBPRIO_NORMAL] = 9, [JOBPRIO_LOW] = 9 };
	picks(&pk, nl, 40, got);
	assert_int_equal(got[JOBPRIO_NORMAL], 30);
	assert_int_equal(got[JOBPRIO_LOW], 10);
	assert_int_equal(got[JOBPRIO_HIGH], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_queues),
		cmocka_unit_test(test_pick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
