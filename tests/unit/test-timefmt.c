/* Unit tests for timefmt: RFC 3339 written and read back, what the parser accepts and refuses, "since" arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "jobops.h"
#include "timefmt.h"

#define T0 1440938160LL /* 2015-08-30T12:36:00Z */

/* Parse `s`; -2 when refused, else the time. */
static long long parsed(const char *s)
{
	time_t t = 42;
	if (timefmt_parse(s, &t) != 0) {
		assert_int_equal((long long)t, 42); /* untouched */
		return -2;
	}
	return (long long)t;
}

static void test_accepted(void **state)
{
	(void)state;
	assert_int_equal(parsed("2015-08-30T12:36:00Z"), T0);
	assert_int_equal(parsed("2015-08-30T12:36:00.123Z"), T0);
	assert_int_equal(parsed("2015-08-30T12:36:00.999999999Z"), T0);
	assert_int_equal(parsed("2015-08-30T14:36:00+02:00"), T0);
	assert_int_equal(parsed("2015-08-30T07:06:00-05:30"), T0);
	assert_int_equal(parsed("2015-08-30T12:36:00.5+00:00"), T0);
	assert_int_equal(parsed("2015-08-30t12:36:00z"), T0);
	assert_int_equal(parsed("2015-08-30T12:36Z"), T0);
	assert_int_equal(parsed("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(parsed("2024-02-29T00:00:00Z"), 1709164800LL);
	/* a leap second is the second after :59 */
	assert_int_equal(parsed("2016-12-31T23:59:60Z"), parsed("2017-01-01T00:00:00Z"));
}

static void test_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "yesterday", "2015-08-30", "2015-08-30T12:36:00", "2015-08-30T12:36:00Zjunk",
		"2015-08-30T12:36:00 Z", " 2015-08-30T12:36:00Z", "2015-08-30 12:36:00Z", "15-08-30T12:36:00Z",
		"2015-8-30T12:36:00Z", "2015-08-30T12:36:0Z", "2015-08-30T12:36:00.Z", "2015-08-30T12:36:00+02",
		"2015-08-30T12:36:00+0200", "2015-13-01T00:00:00Z", "2015-00-01T00:00:00Z", "2015-02-29T00:00:00Z",
		"2015-04-31T00:00:00Z", "2015-08-00T00:00:00Z", "2015-08-30T24:00:00Z", "2015-08-30T12:60:00Z",
		"2015-08-30T12:36:61Z", "2015-08-30T12:36:00+24:00", "2015-08-30T12:36:00+02:60", "+015-08-30T12:36:00Z",
		"2015-08-30T12:36.5Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parsed(bad[i]) != -2)
			fail_msg("accepted '%s'", bad[i]);
	time_t t;
	assert_int_equal(timefmt_parse(NULL, &t), -1);
}

static void test_round_trip(void **state)
{
	(void)state;
	char out[TIMEFMT_UTC_SIZE];
	for (long long t = 0; t < 4102444800LL; t += 86399LL * 17) {
		timefmt_utc((time_t)t, out);
		assert_int_equal(parsed(out), t);
	}
	char ms[TIMEFMT_UTC_MS_SIZE];
	timefmt_now_ms(ms);
	long long now = (long long)time(NULL);
	long long got = parsed(ms);
	/* time() reads the coarse clock, a tick behind: its second may not have turned yet */
	assert_true(got >= now - 2 && got <= now + 1);
}

static void test_since(void **state)
{
	(void)state;
	time_t when = 0, now = (time_t)T0;
	assert_int_equal(jobops_since("90m", now, &when), 0);
	assert_int_equal((long long)when, T0 - 5400);
	assert_int_equal(jobops_since("2015-08-30T12:00:00Z", now, &when), 0);
	assert_int_equal((long long)when, T0 - 2160);
	assert_int_equal(jobops_since("2015-08-30T12:00Z", now, &when), 0);
	assert_int_equal((long long)when, T0 - 2160);
	assert_int_equal(jobops_since("2015-08-30T14:00:00+02:00", now, &when), 0);
	assert_int_equal((long long)when, T0 - 2160);
	assert_int_equal(jobops_since("2015-08-30", now, &when), -1);
	assert_int_equal(jobops_since("", now, &when), -1);
	assert_int_equal(jobops_since(NULL, now, &when), -1);
}

/* Durations as the configuration writes them. */
static void test_duration(void **state)
{
	(void)state;
	static const struct {
		int64_t secs;
		const char *want;
	} cases[] = {
		{ 300, "5m" }, { 90, "90s" }, { 7200, "2h" }, { 5400, "90m" }, { 604800, "7d" },
		{ 3, "3s" },   { 0, "0s" },   { 86401, "86401s" },
	};
	char got[24];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		timefmt_duration(cases[i].secs, got, sizeof(got));
		assert_string_equal(got, cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_since),
		cmocka_unit_test(test_duration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
