/* Unit tests for schedstats: the bound on dimensions ("(other)"), the datums published, the wait of a job. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "schedstats.h"

static struct schedstats_group group(const char *name, int64_t w, int64_t d, int64_t s)
{
	return (struct schedstats_group){ .name = strdup(name), .waiting = w, .deferred = d, .scheduled = s };
}

static void free_groups(struct schedstats_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i].name);
}

static void test_bound_keeps_the_largest(void **state)
{
	(void)state;
	struct schedstats_group g[5] = { group("a", 1, 0, 0), group("b", 5, 5, 0), group("c", 0, 0, 7),
					 group("d", 2, 0, 0), group("e", 0, 1, 0) };
	size_t n = 5;
	schedstats_bound(g, &n, 2);
	assert_int_equal(n, 3);
	assert_string_equal(g[0].name, "b"); /* 10 */
	assert_string_equal(g[1].name, "c"); /* 7 */
	assert_string_equal(g[2].name, SCHEDSTATS_OTHER);
	assert_int_equal(g[2].waiting, 3);  /* a + d */
	assert_int_equal(g[2].deferred, 1); /* e */
	assert_int_equal(g[2].scheduled, 0);
	free_groups(g, n);
}

static void test_bound_one_more_is_itself(void **state)
{
	(void)state;
	struct schedstats_group g[3] = { group("a", 1, 0, 0), group("b", 2, 0, 0), group("c", 3, 0, 0) };
	size_t n = 3;
	schedstats_bound(g, &n, 2);
	assert_int_equal(n, 3);
	assert_string_equal(g[0].name, "c");
	assert_string_equal(g[2].name, "a");
	free_groups(g, n);
}

static const struct cw_datum *find(const struct cw_datum *d, size_t n, const char *name, const char *dim,
				   const char *value)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(d[i].name, name))
			continue;
		if (!dim && d[i].ndims == 0)
			return &d[i];
		if (dim && d[i].ndims == 1 && !strcmp(d[i].dims[0].name, dim) && !strcmp(d[i].dims[0].value, value))
			return &d[i];
	}
	return NULL;
}

static void test_datums(void **state)
{
	(void)state;
	struct schedstats s = { .total = { NULL, 4, 2, 1 }, .oldest_s = 12.5, .paused_total = 2 };
	s.tenants = calloc(1, sizeof(*s.tenants));
	s.tenants[0] = group("acme", 4, 2, 1);
	s.ntenants = 1;
	s.types = calloc(1, sizeof(*s.types));
	s.types[0] = group("noop", 4, 2, 1);
	s.ntypes = 1;
	s.paused = calloc(2, sizeof(*s.paused));
	s.paused[0] = strdup("tenant:acme");
	s.paused[1] = strdup("type:noop");
	s.npaused = 2;
	struct cw_datum *d = NULL;
	struct cw_dimension *dims = NULL;
	size_t n = schedstats_datums(&s, &d, &dims);
	assert_int_equal(n, 3 * 3 + 2 + 2);
	const struct cw_datum *x = find(d, n, METRIC_JOBS_WAITING, NULL, NULL);
	assert_non_null(x);
	assert_true(x->value == 4);
	x = find(d, n, METRIC_JOBS_DEFERRED, "Tenant", "acme");
	assert_non_null(x);
	assert_true(x->value == 2);
	x = find(d, n, METRIC_JOBS_SCHEDULED, "JobType", "noop");
	assert_non_null(x);
	assert_true(x->value == 1);
	assert_string_equal(x->unit, "Count");
	x = find(d, n, METRIC_OLDEST_WAITING_AGE, NULL, NULL);
	assert_non_null(x);
	assert_true(x->value == 12.5);
	assert_string_equal(x->unit, "Seconds");
	x = find(d, n, METRIC_PAUSED, NULL, NULL);
	assert_non_null(x);
	assert_true(x->value == 2);
	assert_non_null(find(d, n, METRIC_PAUSED, "Tenant", "acme"));
	assert_non_null(find(d, n, METRIC_PAUSED, "JobType", "noop"));
	free(d);
	free(dims);
	schedstats_clear(&s);
	assert_null(s.tenants);
}

static void test_wait(void **state)
{
	(void)state;
	assert_true(schedstats_wait_s("2026-12-07T01:00:00.250Z", "2026-12-07T01:00:02.000Z") == 1.75);
	assert_true(schedstats_wait_s("2026-12-07T01:00:00Z", "2026-12-07T01:01:00.5Z") == 60.5);
	assert_true(schedstats_wait_s("", "2026-12-07T01:00:00.000Z") < 0);
	assert_true(schedstats_wait_s("2026-12-07T01:00:00.000Z", NULL) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound_keeps_the_largest),
		cmocka_unit_test(test_bound_one_more_is_itself),
		cmocka_unit_test(test_datums),
		cmocka_unit_test(test_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
