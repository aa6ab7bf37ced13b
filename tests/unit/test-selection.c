/*
 * Unit tests for selection sources (no database): how filters and foreign
 * expressions are ANDed, their parameters renumbered after those already there
 * (a $ inside a quoted literal is text, not a parameter), their values copied,
 * the text operators read, and the refusals of unknown filters, bad statuses
 * and too many parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "selection.h"

static void test_filters(void **state)
{
	(void)state;
	struct selection_source s;
	struct buf err = BUF_INIT;
	selection_source_init(&s);
	assert_int_equal(selection_source_filter(&s, "status", "failed", &err), 0);
	assert_int_equal(selection_source_filter(&s, "tenant", "acme", &err), 0);
	assert_int_equal(selection_source_filter(&s, "error-code", "invalid_media", &err), 0);
	assert_string_equal(buf_str(&s.where), "(status = $1) AND (tenant_id = $2) AND (error->>'code' = $3)");
	assert_int_equal(s.nparams, 3);
	assert_string_equal(s.params[0], "failed");
	assert_string_equal(s.params[1], "acme");
	assert_string_equal(s.params[2], "invalid_media");
	assert_string_equal(buf_str(&s.text), "status=failed tenant=acme error-code=invalid_media");
	selection_source_release(&s);
	buf_release(&err);
}

/* A source of another kind (a query language's expression) plugs in after the filters. */
static void test_and_renumbers(void **state)
{
	(void)state;
	struct selection_source s;
	struct buf err = BUF_INIT;
	selection_source_init(&s);
	assert_int_equal(selection_source_filter(&s, "type", "noop", &err), 0);
	const char *p[] = { "x", NULL };
	assert_int_equal(selection_source_and(&s, "params->>'$1' = $1 OR attempts > $2::int OR $12 IS NULL", 2, p,
					      "query", &err),
			 0);
	/* $12 is not one of its two, but renumbered all the same: the expression's own business */
	assert_string_equal(buf_str(&s.where), "(type = $1) AND (params->>'$1' = $2 OR attempts > $3::int OR $13 IS NULL)");
	assert_int_equal(s.nparams, 3);
	assert_string_equal(s.params[1], "x");
	assert_null(s.params[2]);
	assert_string_equal(buf_str(&s.text), "type=noop query");
	selection_source_release(&s);
	buf_release(&err);
}

static void test_refusals(void **state)
{
	(void)state;
	struct selection_source s;
	struct buf err = BUF_INIT;
	selection_source_init(&s);
	assert_int_equal(selection_source_filter(&s, "colour", "red", &err), -1);
	assert_string_equal(buf_str(&err), "unknown filter 'colour'");
	buf_reset(&err);
	assert_int_equal(selection_source_filter(&s, "status", "stuck", &err), -1);
	assert_string_equal(buf_str(&err), "unknown status 'stuck'");
	buf_reset(&err);
	for (int i = 0; i < SELECTION_MAX_PARAMS; i++)
		assert_int_equal(selection_source_filter(&s, "tenant", "t", &err), 0);
	assert_int_equal(selection_source_filter(&s, "tenant", "t", &err), -1);
	assert_int_equal(s.nparams, SELECTION_MAX_PARAMS);
	selection_source_release(&s);
	buf_release(&err);
}

static void test_action_names(void **state)
{
	(void)state;
	assert_string_equal(selection_action_name(SELECTION_RETRY), "retry");
	assert_string_equal(selection_action_name(SELECTION_CANCEL), "cancel");
	assert_string_equal(selection_action_name(SELECTION_REDRIVE), "redrive");
	assert_string_equal(selection_action_name(SELECTION_UNDO), "undo");
	assert_string_equal(selection_action_name(SELECTION_PURGE), "purge");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_and_renumbers),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_action_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
