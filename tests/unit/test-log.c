/* JSON log lines keep every field, bytes that are not UTF-8 escaped (shared/log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void emit_access_level(void)
{
	json_t *o = json_object();
	json_object_set_new(o, "msg", json_string("request"));
	json_object_set_new(o, "status", json_integer(503));
	log_set_level(LL_ERROR); /* access lines are written whatever the threshold */
	log_raw_json_level(LL_ERROR, o);
	log_set_level(LL_INFO);
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

/* The journal's stream is recognised only by its exact "DEV:INODE". */
static void test_journal_stream_decision(void **state)
{
	(void)state;
	assert_true(log_journal_stream_is("8:12345", 8, 12345));
	assert_true(log_journal_stream_is("18446744073709551615:1", UINT64_MAX, 1));
	assert_false(log_journal_stream_is(NULL, 8, 12345));
	assert_false(log_journal_stream_is("", 8, 12345));
	assert_false(log_journal_stream_is("8:12346", 8, 12345));
	assert_false(log_journal_stream_is("9:12345", 8, 12345));
	assert_false(log_journal_stream_is("8:12345x", 8, 12345));
	assert_false(log_journal_stream_is("8:", 8, 0));
	assert_false(log_journal_stream_is(" 8:12345", 8, 12345));
	assert_false(log_journal_stream_is("-8:12345", (uint64_t)-8, 12345));
	assert_int_equal(log_syslog_priority(LL_ERROR), 3);
	assert_int_equal(log_syslog_priority(LL_WARN), 4);
	assert_int_equal(log_syslog_priority(LL_INFO), 6);
	assert_int_equal(log_syslog_priority(LL_DEBUG), 7);
}

static char sunk[4096];
static void sink(void *arg, const char *line, size_t len)
{
	(void)arg;
	snprintf(sunk, sizeof(sunk), "%.*s", (int)len, line);
}

/* Lines written with JOURNAL_STREAM naming stderr (inode + ino_add): returns them. */
static char *journal_lines(unsigned long long ino_add)
{
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	int saved = dup(STDERR_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
	struct stat st;
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	char env[64];
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + ino_add);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("test-log", NULL, LF_JSON, LL_INFO);
	log_set_sink(sink, NULL);
	log_error("disk on fire");
	log_info("all well");
	log_raw_json(json_pack("{s:s}", "msg", "request"));
	log_raw_json_level(LL_ERROR, json_pack("{s:s}", "msg", "failed request"));
	log_set_sink(NULL, NULL);
	dup2(saved, STDERR_FILENO);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	log_init("test-log", NULL, LF_JSON, LL_INFO);
	rewind(tmp);
	static char all[8192];
	size_t n = fread(all, 1, sizeof(all) - 1, tmp);
	all[n] = '\0';
	fclose(tmp);
	return all;
}

static void test_journal_prefix(void **state)
{
	(void)state;
	char *all = journal_lines(0);
	char *save = NULL, *l1 = strtok_r(all, "\n", &save), *l2 = strtok_r(NULL, "\n", &save),
	     *l3 = strtok_r(NULL, "\n", &save), *l4 = strtok_r(NULL, "\n", &save);
	assert_non_null(l4);
	assert_memory_equal(l4, "<3>{", 4); /* an access line at error is an error to the journal */
	assert_memory_equal(l1, "<3>{", 4);
	assert_memory_equal(l2, "<6>{", 4);
	assert_memory_equal(l3, "<6>{", 4);
	json_t *o = json_loads(l1 + 3, 0, NULL);
	assert_non_null(o); /* the JSON object is whole after the prefix */
	expect_member(o, "level", "error");
	json_decref(o);
	/* the sink saw the last line without the prefix */
	assert_int_equal(sunk[0], '{');
	assert_non_null(strstr(sunk, "\"msg\":\"failed request\""));

	/* another file's dev:ino: no prefix */
	all = journal_lines(1);
	assert_int_equal(all[0], '{');
	assert_null(strstr(all, "\n<"));
}

/* log_raw_json_level: the given level in place of log_raw_json's info, the other fields kept. */
static void test_access_level(void **state)
{
	(void)state;
	json_t *o = capture(emit_access_level);
	expect_member(o, "level", "error");
	expect_member(o, "msg", "request");
	assert_int_equal(json_integer_value(json_object_get(o, "status")), 503);
	assert_non_null(json_object_get(o, "time"));
	json_decref(o);
}

int main(void)
{
	log_init("test-log", NULL, LF_JSON, LL_INFO);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_kept),
		cmocka_unit_test(test_fields_kept),
		cmocka_unit_test(test_journal_stream_decision),
		cmocka_unit_test(test_journal_prefix),
		cmocka_unit_test(test_access_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
