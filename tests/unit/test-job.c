/* Unit tests for job: status names, uuid checks, new ids, retry delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "job.h"

#define ID "7c1e0a52-9d2b-4e5f-8a3c-1b2c3d4e5f60"

static void test_status_names(void **state)
{
	(void)state;
	const char *names[] = { "queued", "running", "retrying", "succeeded", "failed", "cancelled", "scheduled" };
	for (int i = 0; i < JOB_STATUS_COUNT; i++) {
		enum job_status s;
		assert_string_equal(job_status_name((enum job_status)i), names[i]);
		assert_int_equal(job_status_parse(names[i], &s), 0);
		assert_int_equal(s, i);
	}
	enum job_status s;
	assert_int_equal(job_status_parse("Queued", &s), -1);
	assert_int_equal(job_status_parse("", &s), -1);
	assert_int_equal(job_status_parse(NULL, &s), -1);
	assert_string_equal(job_status_name((enum job_status)99), "unknown");
	assert_false(job_status_final(JOB_QUEUED));
	assert_false(job_status_final(JOB_RUNNING));
	assert_false(job_status_final(JOB_RETRYING));
	assert_true(job_status_final(JOB_SUCCEEDED));
	assert_true(job_status_final(JOB_FAILED));
	assert_true(job_status_final(JOB_CANCELLED));
	assert_false(job_status_final(JOB_SCHEDULED));
}

static void test_uuid(void **state)
{
	(void)state;
	assert_true(job_id_valid(ID));
	assert_true(job_id_valid("00000000-0000-0000-0000-000000000000"));
	assert_false(job_id_valid(NULL));
	assert_false(job_id_valid(""));
	assert_false(job_id_valid("7C1E0A52-9D2B-4E5F-8A3C-1B2C3D4E5F60")); /* not canonical */
	assert_false(job_id_valid(ID "0"));
	assert_false(job_id_valid("7c1e0a52-9d2b-4e5f-8a3c-1b2c3d4e5f6"));
	assert_false(job_id_valid("7c1e0a52x9d2b-4e5f-8a3c-1b2c3d4e5f60"));
	assert_false(job_id_valid("7c1e0a52-9d2b-4e5f-8a3c-1b2c3d4e5f6g"));
	assert_false(job_id_valid("7c1e0a529d2b4e5f8a3c1b2c3d4e5f60"));
}

/* attempt^4 + base + jitter, capped (the cap wins over jitter), never below 1 s. */
/* job_id_new: canonical version 4 UUIDs, all distinct, across refills of the pool. */
static void test_id_new(void **state)
{
	(void)state;
	enum { N = 1000 }; /* about 4 refills of the 256 ids of a pool */
	char (*ids)[JOB_ID_LEN + 1] = calloc(N, sizeof(*ids));
	assert_non_null(ids);
	for (int i = 0; i < N; i++) {
		job_id_new(ids[i]);
		assert_true(job_id_valid(ids[i]));
		assert_int_equal(ids[i][14], '4');
		assert_non_null(strchr("89ab", ids[i][19]));
		for (int k = 0; k < i; k++)
			assert_string_not_equal(ids[i], ids[k]);
	}
	free(ids);
}

static void test_retry_delay(void **state)
{
	(void)state;
	assert_int_equal(job_retry_delay(1, 15, 3600, 0.0), 16);
	assert_int_equal(job_retry_delay(2, 15, 3600, 0.0), 31);
	assert_int_equal(job_retry_delay(3, 15, 3600, 4.9), 100);
	assert_int_equal(job_retry_delay(5, 15, 3600, 0.0), 640);
	assert_int_equal(job_retry_delay(7, 15, 3600, 0.0), 2416);
	assert_int_equal(job_retry_delay(8, 15, 3600, 0.0), 3600);
	assert_int_equal(job_retry_delay(2, 15, 30, 0.0), 30);
	assert_int_equal(job_retry_delay(1, 15, 30, 60.0), 30);
	assert_int_equal(job_retry_delay(1, 0, 3600, 0.0), 1);
	assert_int_equal(job_retry_delay(0, 0, 3600, 0.0), 1);
	assert_int_equal(job_retry_delay(-3, 0, 3600, -5.0), 1);
	assert_int_equal(job_retry_delay(4, 60, 86400, 0.0), 316);
	assert_int_equal(job_retry_delay(100, 15, 86400, 0.0), 86400);
	assert_int_equal(job_retry_delay(1000000, 15, INT64_MAX, 0.0), INT_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_id_new),
		cmocka_unit_test(test_retry_delay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
