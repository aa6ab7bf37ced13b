/* Unit tests for joblimits' pure parts: scopes, names, and the decision of whether a job may start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "joblimits.h"

static void test_scopes(void **state)
{
	enum joblimits_scope s;
	(void)state;
	assert_int_equal(joblimits_scope_parse("tenant", &s), 0);
	assert_int_equal(s, JOBLIMITS_TENANT);
	assert_int_equal(joblimits_scope_parse("type", &s), 0);
	assert_int_equal(s, JOBLIMITS_TYPE);
	assert_int_equal(joblimits_scope_parse("Tenant", &s), -1);
	assert_int_equal(joblimits_scope_parse("", &s), -1);
	assert_int_equal(joblimits_scope_parse(NULL, &s), -1);
	assert_string_equal(joblimits_scope_name(JOBLIMITS_TENANT), "tenant");
	assert_string_equal(joblimits_scope_name(JOBLIMITS_TYPE), "type");
}

static void test_names(void **state)
{
	char longest[JOBLIMITS_NAME_MAX + 2];
	(void)state;
	assert_true(joblimits_name_valid("acme"));
	assert_true(joblimits_name_valid("*"));
	assert_true(joblimits_name_valid("video.transcode"));
	assert_false(joblimits_name_valid(NULL));
	assert_false(joblimits_name_valid(""));
	assert_false(joblimits_name_valid("a b"));
	assert_false(joblimits_name_valid("a\tb"));
	assert_false(joblimits_name_valid("caf\xc3\xa9"));
	memset(longest, 'x', JOBLIMITS_NAME_MAX);
	longest[JOBLIMITS_NAME_MAX] = '\0';
	assert_true(joblimits_name_valid(longest));
	longest[JOBLIMITS_NAME_MAX] = 'x';
	longest[JOBLIMITS_NAME_MAX + 1] = '\0';
	assert_false(joblimits_name_valid(longest));
}

/* A limit of `max` (-1 none) with `running` jobs, paused or not. */
static struct joblimits_eff eff(int64_t max, int64_t running, bool paused)
{
	struct joblimits_eff e = { max >= 0, max >= 0 ? max : 0, paused, running };
	return e;
}

static void test_decide(void **state)
{
	(void)state;
	struct joblimits_eff none = eff(-1, 50, false);
	/* nothing set: start, whatever runs */
	assert_int_equal(joblimits_decide(&none, &none), JOBLIMITS_START);
	/* under, at and over the tenant's limit */
	struct joblimits_eff t1 = eff(2, 1, false), t2 = eff(2, 2, false), t3 = eff(2, 3, false);
	assert_int_equal(joblimits_decide(&t1, &none), JOBLIMITS_START);
	assert_int_equal(joblimits_decide(&t2, &none), JOBLIMITS_TENANT_FULL);
	assert_int_equal(joblimits_decide(&t3, &none), JOBLIMITS_TENANT_FULL);
	/* the type's limit the same way; a limit of 0 lets nothing start */
	struct joblimits_eff y0 = eff(0, 0, false), y1 = eff(1, 1, false);
	assert_int_equal(joblimits_decide(&none, &y0), JOBLIMITS_TYPE_FULL);
	assert_int_equal(joblimits_decide(&t1, &y1), JOBLIMITS_TYPE_FULL);
	/* both full: the tenant is named */
	assert_int_equal(joblimits_decide(&t2, &y1), JOBLIMITS_TENANT_FULL);
	/* a pause wins over any limit, the tenant's over the type's, and even with room left */
	struct joblimits_eff tp = eff(-1, 0, true), yp = eff(5, 0, true);
	assert_int_equal(joblimits_decide(&tp, &none), JOBLIMITS_TENANT_PAUSED);
	assert_int_equal(joblimits_decide(&none, &yp), JOBLIMITS_TYPE_PAUSED);
	assert_int_equal(joblimits_decide(&t2, &yp), JOBLIMITS_TYPE_PAUSED);
	assert_int_equal(joblimits_decide(&tp, &yp), JOBLIMITS_TENANT_PAUSED);

	assert_string_equal(joblimits_verdict_reason(JOBLIMITS_START), "");
	assert_string_equal(joblimits_verdict_reason(JOBLIMITS_TENANT_FULL), "tenant limit");
	assert_string_equal(joblimits_verdict_reason(JOBLIMITS_TYPE_FULL), "type limit");
	assert_string_equal(joblimits_verdict_reason(JOBLIMITS_TENANT_PAUSED), "tenant paused");
	assert_string_equal(joblimits_verdict_reason(JOBLIMITS_TYPE_PAUSED), "type paused");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_decide),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
