/* UTF-8 checks and the \xNN escape of what is not UTF-8 (shared/utf8.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

static int valid(const char *s)
{
	return utf8_valid(s, strlen(s));
}

static void test_valid(void **state)
{
	(void)state;
	assert_true(valid(""));
	assert_true(valid("plain ascii /v1/jobs?x=1"));
	assert_true(valid("caf\xc3\xa9"));                 /* é */
	assert_true(valid("\xe2\x82\xac"));                /* € */
	assert_true(valid("\xf0\x9f\x8e\xac"));            /* U+1F3AC */
	assert_true(valid("\xef\xbf\xbd"));                /* U+FFFD itself */
	assert_true(valid("\xf4\x8f\xbf\xbf"));            /* U+10FFFF, the last */
	assert_true(utf8_valid("a\0b", 3));                /* NUL is a character */

	assert_false(valid("\xff"));
	assert_false(valid("\x80"));                       /* a lone continuation byte */
	assert_false(valid("caf\xc3"));                    /* cut short */
	assert_false(valid("\xe2\x82"));
	assert_false(valid("\xc0\xaf"));                   /* overlong '/' */
	assert_false(valid("\xc1\xbf"));
	assert_false(valid("\xe0\x80\xaf"));               /* overlong, three bytes */
	assert_false(valid("\xf0\x80\x80\xaf"));           /* overlong, four bytes */
	assert_false(valid("\xed\xa0\x80"));               /* a surrogate, U+D800 */
	assert_false(valid("\xf4\x90\x80\x80"));           /* past U+10FFFF */
	assert_false(valid("\xf5\x80\x80\x80"));
	assert_false(valid("\xc3\x28"));                   /* a continuation that is not one */
}

static void expect_escape(const char *in, const char *want)
{
	struct buf b = BUF_INIT;
	utf8_escape(&b, in, strlen(in));
	assert_string_equal(buf_str(&b), want);
	assert_true(utf8_valid(b.data ? b.data : "", b.len));
	buf_release(&b);
}

static void test_escape(void **state)
{
	(void)state;
	expect_escape("", "");
	expect_escape("caf\xc3\xa9 ok", "caf\xc3\xa9 ok");
	expect_escape("/v1/\xff\xfe", "/v1/\\xFF\\xFE");
	expect_escape("caf\xc3", "caf\\xC3");
	expect_escape("\xc3\x28", "\\xC3(");
	expect_escape("\xed\xa0\x80x", "\\xED\\xA0\\x80x");
	expect_escape("a\\xb", "a\\xb");                    /* backslashes of valid text stay */
}

static void test_json(void **state)
{
	(void)state;
	json_t *j = utf8_json("/v1/\xff");
	assert_non_null(j);
	assert_string_equal(json_string_value(j), "/v1/\\xFF");
	json_decref(j);
	j = utf8_json("caf\xc3\xa9");
	assert_string_equal(json_string_value(j), "caf\xc3\xa9");
	json_decref(j);
	j = utf8_json(NULL);
	assert_true(json_is_null(j));
	json_decref(j);
	/* what jansson does without it: the member silently missing */
	json_t *o = json_object();
	json_object_set_new(o, "path", json_string("/v1/\xff"));
	assert_null(json_object_get(o, "path"));
	json_object_set_new(o, "path", utf8_json("/v1/\xff"));
	assert_non_null(json_object_get(o, "path"));
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
