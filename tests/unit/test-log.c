/* JSON log lines keep every field, bytes that are not UTF-8 escaped (shared/log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "utf8.h"

/* Run `emit` with stderr going to a file; the first line written, parsed (a new reference). */
static json_t *capture(void (*emit)(void))
{
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	int saved = dup(STDERR_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
	emit();
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	char line[4096] = "";
	if (!fgets(line, sizeof(line), tmp))
		line[0] = '\0';
	fclose(tmp);
	json_error_t e;
	json_t *o = json_loads(line, 0, &e);
	if (!o)
		fail_msg("not one JSON object: '%s' (%s)", line, e.text);
	return o;
}

static void emit_msg(void)
{
	log_set_request_id("req-1");
	log_warn("no route for '%s'", "/v1/\xff\xfe");
	log_set_request_id(NULL);
}

static void emit_fields(void)
{
	log_fields(LL_INFO, json_pack("{s:o}", "agent", utf8_json("curl\xc0")), "client %s", "caf\xc3\xa9");
}

static void emit_access(void)
{
	json_t *o = json_object();
	json_object_set_new(o, "msg", json_string("request"));
	json_object_set_new(o, "path", utf8_json("/v1/jobs/\x80"));
	json_object_set_new(o, "status", json_integer(404));
	log_raw_json(o);
}

/* The string member `name` of `o` is `want`. */
static void expect_member(json_t *o, const char *name, const char *want)
{
	const char *v = json_string_value(json_object_get(o, name));
	if (!v)
		fail_msg("no string member '%s'", name);
	assert_string_equal(v, want);
}

static void test_message_kept(void **state)
{
	(void)state;
	json_t *o = capture(emit_msg);
	expect_member(o, "msg", "no route for '/v1/\\xFF\\xFE'");
	expect_member(o, "request_id", "req-1");
	expect_member(o, "level", "warn");
	json_decref(o);
}

static void test_fields_kept(void **state)
{
	(void)state;
	json_t *o = capture(emit_fields);
	expect_member(o, "msg", "client caf\xc3\xa9");
	expect_member(o, "agent", "curl\\xC0");
	json_decref(o);
	o = capture(emit_access);
	expect_member(o, "path", "/v1/jobs/\\x80");
	assert_int_equal(json_integer_value(json_object_get(o, "status")), 404);
	assert_non_null(json_object_get(o, "time"));
	json_decref(o);
}

int main(void)
{
	log_init("test-log", NULL, LF_JSON, LL_INFO);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_kept),
		cmocka_unit_test(test_fields_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
