/* Unit tests for db: db_copy_rfc3339 on PostgreSQL's ISO text of a UTC timestamp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <string.h>

#include "db.h"

/* A one-column result (built client-side, as libpq allows) holding `v`, or SQL NULL when v is NULL. */
static PGresult *one(const char *v)
{
	/* libpq's setters take non-const strings, which they copy */
	char name[] = "t", val[64] = "";
	PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc a = { .name = name, .format = 0, .typid = 1114, .typlen = 8, .atttypmod = -1 };
	assert_non_null(r);
	assert_int_equal(PQsetResultAttrs(r, 1, &a), 1);
	if (v) {
		assert_true(strlen(v) < sizeof(val));
		strcpy(val, v);
	}
	assert_int_equal(PQsetvalue(r, 0, 0, v ? val : NULL, v ? (int)strlen(v) : -1), 1);
	return r;
}

static const char *copy(const char *v, char *dst, size_t size)
{
	PGresult *r = one(v);
	db_copy_rfc3339(dst, size, r, 0, 0);
	PQclear(r);
	return dst;
}

static void test_rfc3339(void **state)
{
	(void)state;
	char d[40];
	/* PostgreSQL drops trailing zeros of the fraction, and the fraction when it is 0 */
	assert_string_equal(copy("2026-12-07 20:35:21.123456", d, sizeof(d)), "2026-12-07T20:35:21.123Z");
	assert_string_equal(copy("2026-12-07 20:35:21.12", d, sizeof(d)), "2026-12-07T20:35:21.120Z");
	assert_string_equal(copy("2026-12-07 20:35:21.5", d, sizeof(d)), "2026-12-07T20:35:21.500Z");
	assert_string_equal(copy("2026-12-07 20:35:21.000999", d, sizeof(d)), "2026-12-07T20:35:21.000Z");
	assert_string_equal(copy("2026-01-02 03:04:05", d, sizeof(d)), "2026-01-02T03:04:05.000Z");
	/* NULL, and what is not that text (another DateStyle, a time zone, infinity): "" */
	strcpy(d, "x");
	assert_string_equal(copy(NULL, d, sizeof(d)), "");
	assert_string_equal(copy("", d, sizeof(d)), "");
	assert_string_equal(copy("12/07/2026 20:35:21.1", d, sizeof(d)), "");
	assert_string_equal(copy("2026-12-07T20:35:21", d, sizeof(d)), "");
	assert_string_equal(copy("2026-12-07 20:35", d, sizeof(d)), "");
	assert_string_equal(copy("infinity", d, sizeof(d)), "");
	/* truncated to the destination */
	assert_string_equal(copy("2026-12-07 20:35:21.1", d, 11), "2026-12-07");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
