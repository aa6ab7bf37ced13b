/* Unit tests for jobcodec: queue messages, events, cursors, JSON shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jobcodec.h"

#define ID "7c1e0a52-9d2b-4e5f-8a3c-1b2c3d4e5f60"

static void test_message_roundtrip(void **state)
{
	(void)state;
	struct jobcodec_message m = { .version = 1, .id = ID, .type = "video.transcode", .attempt = 3 }, d;
	struct buf out = BUF_INIT, err = BUF_INIT;
	jobcodec_message_encode(&m, &out);
	assert_string_equal(buf_str(&out), "{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"video.transcode\",\"attempt\":3}");
	assert_int_equal(jobcodec_message_decode(out.data, out.len, &d, &err), 0);
	assert_int_equal(d.version, 1);
	assert_string_equal(d.id, ID);
	assert_string_equal(d.type, "video.transcode");
	assert_int_equal(d.attempt, 3);
	/* encode resets the buffer */
	jobcodec_message_encode(&m, &out);
	assert_int_equal(out.len, strlen("{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"video.transcode\",\"attempt\":3}"));
	assert_int_equal(d.priority, JOBPRIO_NORMAL);
	/* a priority other than normal is written after the attempt (as job_create's SQL writes it) */
	m.priority = JOBPRIO_HIGH;
	jobcodec_message_encode(&m, &out);
	assert_string_equal(buf_str(&out), "{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"video.transcode\",\"attempt\":3,"
					   "\"priority\":\"high\"}");
	assert_int_equal(jobcodec_message_decode(out.data, out.len, &d, &err), 0);
	assert_int_equal(d.priority, JOBPRIO_HIGH);
	m.priority = JOBPRIO_LOW;
	jobcodec_message_encode(&m, &out);
	assert_int_equal(jobcodec_message_decode(out.data, out.len, &d, &err), 0);
	assert_int_equal(d.priority, JOBPRIO_LOW);
	buf_release(&out);
	buf_release(&err);
}

static void expect_bad(const char *msg, const char *why)
{
	struct jobcodec_message d;
	struct buf err = BUF_INIT;
	if (jobcodec_message_decode(msg, strlen(msg), &d, &err) != -1)
		fail_msg("accepted %s", msg);
	if (!strstr(buf_str(&err), why))
		fail_msg("for %s: message '%s' lacks '%s'", msg, buf_str(&err), why);
	buf_release(&err);
}

static void test_message_rejects(void **state)
{
	(void)state;
	expect_bad("", "not JSON");
	expect_bad("not json", "not JSON");
	expect_bad("[1,2]", "not a JSON object");
	expect_bad("\"str\"", "not JSON"); /* top-level scalars are not decoded at all */
	expect_bad("{\"job_id\":\"" ID "\",\"type\":\"noop\",\"attempt\":1}", "version");
	expect_bad("{\"v\":2,\"job_id\":\"" ID "\",\"type\":\"noop\",\"attempt\":1}", "version");
	expect_bad("{\"v\":\"1\",\"job_id\":\"" ID "\",\"type\":\"noop\",\"attempt\":1}", "version");
	expect_bad("{\"v\":1,\"job_id\":\"x\",\"type\":\"noop\",\"attempt\":1}", "UUID");
	expect_bad("{\"v\":1,\"job_id\":5,\"type\":\"noop\",\"attempt\":1}", "UUID");
	expect_bad("{\"v\":1,\"job_id\":\"" ID "\",\"attempt\":1}", "type");
	expect_bad("{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"\",\"attempt\":1}", "type");
	expect_bad("{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"Bad Type\",\"attempt\":1}", "type");
	expect_bad("{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"a234567890123456789012345678901234567890123456789012345678901234\","
		   "\"attempt\":1}",
		   "type");
	expect_bad("{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"noop\"}", "attempt");
	expect_bad("{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"noop\",\"attempt\":-1}", "attempt");
	expect_bad("{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"noop\",\"attempt\":1.5}", "attempt");
	expect_bad("{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"noop\",\"attempt\":1,\"priority\":\"urgent\"}", "priority");
	expect_bad("{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"noop\",\"attempt\":1,\"priority\":2}", "priority");
	expect_bad("{\"v\":1,\"v\":1,\"job_id\":\"" ID "\",\"type\":\"noop\",\"attempt\":1}", "not JSON");
	/* too long */
	struct buf big = BUF_INIT;
	buf_adds(&big, "{\"v\":1,\"job_id\":\"" ID "\",\"type\":\"noop\",\"attempt\":1,\"pad\":\"");
	for (int i = 0; i < 5000; i++)
		buf_addc(&big, 'x');
	buf_adds(&big, "\"}");
	expect_bad(buf_str(&big), "longer");
	buf_release(&big);
	/* embedded NUL: length counts, not strlen */
	struct jobcodec_message d;
	struct buf err = BUF_INIT;
	const char nul[] = "{\"v\":1}\0garbage";
	assert_int_equal(jobcodec_message_decode(nul, sizeof(nul) - 1, &d, &err), -1);
	buf_release(&err);
}

static void test_event_encode(void **state)
{
	(void)state;
	struct job j;
	memset(&j, 0, sizeof(j));
	strcpy(j.id, ID);
	j.type = strdup("noop");
	j.tenant = strdup("acme");
	j.status = JOB_FAILED;
	j.attempts = 2;
	j.error = json_pack("{s:s, s:s, s:b}", "code", "invalid_media", "message", "not a video", "permanent", 1);
	struct buf out = BUF_INIT;
	for (int pass = 0; pass < 2; pass++) {
		jobcodec_event_encode(&j, pass ? "job.failed" : "failed", &out);
		json_t *o = json_loads(buf_str(&out), 0, NULL);
		assert_non_null(o);
		assert_int_equal(json_integer_value(json_object_get(o, "v")), 1);
		assert_string_equal(json_string_value(json_object_get(o, "event")), "job.failed");
		assert_string_equal(json_string_value(json_object_get(o, "job_id")), ID);
		assert_string_equal(json_string_value(json_object_get(o, "type")), "noop");
		assert_string_equal(json_string_value(json_object_get(o, "tenant")), "acme");
		assert_string_equal(json_string_value(json_object_get(o, "status")), "failed");
		assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 2);
		assert_string_equal(json_string_value(json_object_get(o, "priority")), "normal");
		const char *at = json_string_value(json_object_get(o, "at"));
		assert_non_null(at);
		assert_int_equal(strlen(at), 24);
		assert_int_equal(at[strlen(at) - 1], 'Z');
		assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "code")),
				    "invalid_media");
		assert_null(json_object_get(o, "next_attempt_at"));
		assert_true(json_is_false(json_object_get(o, "callback")));
		json_decref(o);
	}
	/* a job with a webhook says so, so that consumers without one skip the database */
	j.callback_url = strdup("https://hooks.example.com/spool");
	jobcodec_event_encode(&j, "failed", &out);
	json_t *cb = json_loads(buf_str(&out), 0, NULL);
	assert_true(json_is_true(json_object_get(cb, "callback")));
	json_decref(cb);
	/* job.retrying carries the time of the next attempt */
	j.status = JOB_RETRYING;
	jobcodec_event_encode_next(&j, "retrying", (time_t)1764460800 /* 2025-11-30T00:00:00Z */, &out);
	json_t *o = json_loads(buf_str(&out), 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "event")), "job.retrying");
	assert_string_equal(json_string_value(json_object_get(o, "next_attempt_at")), "2025-11-30T00:00:00Z");
	json_decref(o);
	/* requeued through the outbox: the next attempt is now */
	time_t before = time(NULL);
	jobcodec_event_encode(&j, "retrying", &out);
	o = json_loads(buf_str(&out), 0, NULL);
	const char *next = json_string_value(json_object_get(o, "next_attempt_at"));
	assert_non_null(next);
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	assert_non_null(strptime(next, "%Y-%m-%dT%H:%M:%SZ", &tm));
	assert_true(timegm(&tm) >= before && timegm(&tm) <= time(NULL));
	json_decref(o);
	buf_release(&out);
	job_clear(&j);
	assert_null(j.type);
	assert_null(j.error);
}

static void test_to_json(void **state)
{
	(void)state;
	struct job j;
	memset(&j, 0, sizeof(j));
	strcpy(j.id, ID);
	j.type = strdup("video.transcode");
	j.status = JOB_QUEUED;
	j.max_attempts = 5;
	j.progress = -1;
	j.source = json_pack("{s:s}", "key", "uploads/acme/x");
	strcpy(j.created_at, "2024-01-01T00:00:00.000Z");
	json_t *o = jobcodec_to_json(&j);
	const char *keys[] = { "id",	 "type",  "status",	"attempts",   "max_attempts", "progress",   "source",
			       "params", "result", "error", "created_at", "started_at",   "finished_at", "run_at",
			       "priority" };
	assert_int_equal(json_object_size(o), sizeof(keys) / sizeof(keys[0]));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_non_null(json_object_get(o, keys[i]));
	assert_string_equal(json_string_value(json_object_get(o, "status")), "queued");
	assert_string_equal(json_string_value(json_object_get(o, "priority")), "normal");
	assert_true(json_is_null(json_object_get(o, "progress")));
	assert_true(json_is_null(json_object_get(o, "result")));
	assert_true(json_is_null(json_object_get(o, "error")));
	assert_true(json_is_null(json_object_get(o, "started_at")));
	assert_true(json_is_null(json_object_get(o, "run_at")));
	assert_true(json_is_object(json_object_get(o, "params")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "source"), "key")), "uploads/acme/x");
	assert_null(json_object_get(o, "tenant"));
	json_decref(o);
	job_clear(&j);
}

static void test_cursor(void **state)
{
	(void)state;
	struct buf cur = BUF_INIT;
	int64_t micros;
	char id[JOB_ID_LEN + 1];
	jobcodec_cursor_encode(1700000000123456LL, ID, &cur);
	for (const char *p = buf_str(&cur); *p; p++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
	assert_int_equal(jobcodec_cursor_decode(buf_str(&cur), &micros, id), 0);
	assert_true(micros == 1700000000123456LL);
	assert_string_equal(id, ID);
	/* malformed */
	assert_int_equal(jobcodec_cursor_decode(NULL, &micros, id), -1);
	assert_int_equal(jobcodec_cursor_decode("", &micros, id), -1);
	assert_int_equal(jobcodec_cursor_decode("!!!!", &micros, id), -1);
	assert_int_equal(jobcodec_cursor_decode("abc=", &micros, id), -1);
	/* base64url of "12:not-a-uuid" */
	assert_int_equal(jobcodec_cursor_decode("MTI6bm90LWEtdXVpZA", &micros, id), -1);
	/* tampering with one character breaks it */
	char *t = strdup(buf_str(&cur));
	t[3] = t[3] == 'A' ? 'B' : 'A';
	int64_t m2 = 0;
	int rc = jobcodec_cursor_decode(t, &m2, id);
	assert_true(rc == -1 || m2 != micros);
	free(t);
	/* too long */
	struct buf big = BUF_INIT;
	for (int i = 0; i < 300; i++)
		buf_addc(&big, 'A');
	assert_int_equal(jobcodec_cursor_decode(buf_str(&big), &micros, id), -1);
	buf_release(&big);
	buf_release(&cur);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_roundtrip), cmocka_unit_test(test_message_rejects),
		cmocka_unit_test(test_event_encode),      cmocka_unit_test(test_to_json),
		cmocka_unit_test(test_cursor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
