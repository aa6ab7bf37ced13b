/* spool-api's pure request checks (daemons/api/validate.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../daemons/api/validate.h"

#define ID "7c1e2f3a-0b1c-4d2e-8f90-a1b2c3d4e5f6"

static void test_routes(void **state)
{
	(void)state;
	char id[JOB_ID_LEN + 1];
	const struct validate_route *p = validate_path("/v1/jobs", id);
	assert_non_null(p);
	assert_int_equal(validate_method(p, "GET"), ROUTE_JOBS_LIST);
	assert_int_equal(validate_method(p, "POST"), ROUTE_JOBS_CREATE);
	assert_int_equal(validate_method(p, "DELETE"), ROUTE_NONE);
	assert_non_null(strstr(p->allow, "POST"));
	p = validate_path("/v1/jobs/" ID, id);
	assert_non_null(p);
	assert_string_equal(id, ID);
	assert_int_equal(validate_method(p, "GET"), ROUTE_JOBS_GET);
	assert_int_equal(validate_method(p, "HEAD"), ROUTE_JOBS_GET);
	assert_int_equal(validate_method(p, "DELETE"), ROUTE_JOBS_CANCEL);
	assert_int_equal(validate_method(p, "PUT"), ROUTE_NONE);
	p = validate_path("/v1/jobs/" ID "/result", id);
	assert_non_null(p);
	assert_int_equal(validate_method(p, "GET"), ROUTE_JOBS_RESULT);
	/* an over-long id segment is not copied: no job has "" as id */
	p = validate_path("/v1/jobs/" ID "ffffffffffffffffffff", id);
	if (p)
		assert_string_equal(id, "");
	assert_null(validate_path("/v2/jobs", id));
	assert_null(validate_path("/v1/jobs/" ID "/other", id));
	assert_int_equal(validate_method(validate_path("/health", id), "GET"), ROUTE_HEALTH);
	assert_int_equal(validate_method(validate_path("/v1/videos", id), "POST"), ROUTE_VIDEOS_CREATE);
	/* /metrics has a listener of its own: the API's is 404 there */
	assert_null(validate_path("/metrics", id));
}

/* A query argument that is not UTF-8 is named, its name escaped when the name is the culprit. */
static void expect_query(const char *key, const char *value, const char *field, const char *msg)
{
	struct validate_error v = VALIDATE_ERROR_INIT;
	int rc = validate_query_arg(key, value, &v);
	if (!field) {
		assert_int_equal(rc, 0);
		assert_int_equal(v.msg.len, 0);
	} else {
		assert_int_equal(rc, -1);
		assert_string_equal(v.field, field);
		assert_non_null(strstr(buf_str(&v.msg), msg));
	}
	buf_release(&v.msg);
}

/* X-Amzn-Trace-Id: fields KEY=VALUE, a well-formed Root, bounded; nothing a log line could be forged with. */
static void test_trace_id(void **state)
{
	(void)state;
	assert_true(validate_trace_id("Root=1-67891233-abcdef012345678912345678"));
	assert_true(validate_trace_id("Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678"));
	assert_true(validate_trace_id("Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"));
	assert_true(validate_trace_id("Root=1-67891233-abcdef012345678912345678;CalledFrom=app.v2:x_y"));
	assert_false(validate_trace_id(""));
	assert_false(validate_trace_id("Parent=53995c3f42cd8ad8;Sampled=1"));       /* no Root */
	assert_false(validate_trace_id("Root=1-6789123-abcdef012345678912345678"));  /* 7 hex */
	assert_false(validate_trace_id("Root=1-67891233-abcdef01234567891234567g")); /* not hex */
	assert_false(validate_trace_id("Root=2-67891233-abcdef012345678912345678"));
	assert_false(validate_trace_id("Root=1-67891233-abcdef012345678912345678;"));
	assert_false(validate_trace_id("Root=1-67891233-abcdef012345678912345678;;Sampled=1"));
	assert_false(validate_trace_id("Root=1-67891233-abcdef012345678912345678;=1"));
	assert_false(validate_trace_id("Root=1-67891233-abcdef012345678912345678;Sampled"));
	assert_false(validate_trace_id("Root=1-67891233-abcdef012345678912345678;X=\"y\""));
	assert_false(validate_trace_id("Root=1-67891233-abcdef012345678912345678 "));
	assert_false(validate_trace_id("Root=1-67891233-abcdef012345678912345678;X=a\nb"));
	char t[VALIDATE_TRACE_ID_MAX + 2];
	const char *root = "Root=1-67891233-abcdef012345678912345678;X=";
	memset(t, 'a', sizeof(t) - 1);
	memcpy(t, root, strlen(root));
	t[sizeof(t) - 1] = '\0';
	assert_false(validate_trace_id(t)); /* one too long */
	t[VALIDATE_TRACE_ID_MAX] = '\0';
	assert_true(validate_trace_id(t));
}

static void test_query_utf8(void **state)
{
	(void)state;
	expect_query("height", "720", NULL, NULL);
	expect_query("flag", NULL, NULL, NULL);
	expect_query("name", "caf\xc3\xa9", NULL, NULL);
	expect_query("height", "72\xff", "height", "is not valid UTF-8");
	expect_query("status", "\xc0\xaf", "status", "is not valid UTF-8");
	expect_query("wait", "\xed\xa0\x80", "wait", "is not valid UTF-8");
	expect_query("h\xffx", "1", "h\\xFFx", "has a name that is not valid UTF-8");
	expect_query("h\xffx", NULL, "h\\xFFx", "has a name that is not valid UTF-8");
	/* a long name is cut to fit, never inside a character */
	char name[200];
	memset(name, 'a', sizeof(name));
	memcpy(name + 62, "\xc3\xa9", 2); /* across the cut at 63 bytes */
	name[198] = '\xff';
	name[199] = '\0';
	struct validate_error v = VALIDATE_ERROR_INIT;
	assert_int_equal(validate_query_arg(name, "x", &v), -1);
	assert_int_equal(strlen(v.field), 62);
	buf_release(&v.msg);
}

static void test_headers(void **state)
{
	(void)state;
	assert_true(validate_request_id("abc-DEF_1.2"));
	assert_false(validate_request_id(""));
	assert_false(validate_request_id("a b"));
	assert_false(validate_request_id("a\r\nX-Evil: 1"));
	char long_id[130];
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[129] = '\0';
	assert_false(validate_request_id(long_id));
	long_id[128] = '\0';
	assert_true(validate_request_id(long_id));

	assert_int_equal(validate_idempotency_key(NULL), 0);
	char key[VALIDATE_IDEMPOTENCY_KEY_MAX + 2];
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(validate_idempotency_key(key), -1);
	key[VALIDATE_IDEMPOTENCY_KEY_MAX] = '\0';
	assert_int_equal(validate_idempotency_key(key), 0);

	unsigned long long n;
	assert_int_equal(validate_content_length("1024", 2048, &n), 0);
	assert_int_equal((int)n, 1024);
	assert_int_equal(validate_content_length("4096", 2048, &n), -1);
	assert_int_equal(validate_content_length("-1", 2048, &n), -1);
	assert_int_equal(validate_content_length(" 12", 2048, &n), -1);
	assert_int_equal(validate_content_length("99999999999999999999999", UINT64_MAX, &n), -1);
	assert_int_equal(validate_content_length("-1", UINT64_MAX, &n), -1);

	assert_true(validate_media_type("application/json; charset=utf-8", "application/json"));
	assert_true(validate_media_type("Application/JSON", "application/json"));
	assert_true(validate_media_type("video/mp4", "video/"));
	assert_false(validate_media_type("application/jsonx", "application/json"));
	assert_false(validate_media_type("text/plain", "video/"));
}

static void test_int_arg(void **state)
{
	(void)state;
	long v;
	assert_int_equal(validate_int_arg("30", 60, &v), 0);
	assert_int_equal(v, 30);
	assert_int_equal(validate_int_arg("61", 60, &v), -1);
	const char *bad[] = { NULL, "", "-1", "+1", " 1", "\t-1", "\n7", "1x", "0x10" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(validate_int_arg(bad[i], 1000, &v), -1);
}

static bool owns_nothing(const char *tenant, const char *id, void *arg)
{
	(void)tenant;
	(void)id;
	(void)arg;
	return false;
}

/*
 * Validate `json` as a POST /v1/jobs body; the named field, or "" when it is
 * valid, and the message when `msg` is not NULL.
 */
static void expect_message(const char *json, const char *field, const char *msg)
{
	struct validate_job ctx = { .tenant = "acme", .allow_hosts = NULL, .owns_job = owns_nothing };
	struct validate_error v = VALIDATE_ERROR_INIT;
	struct job_new in;
	memset(&in, 0, sizeof(in));
	json_t *body = json_loads(json, 0, NULL);
	assert_non_null(body);
	int rc = validate_job(&ctx, body, &in, &v);
	if (!*field) {
		assert_int_equal(rc, 0);
		assert_non_null(in.type);
	} else {
		assert_int_equal(rc, -1);
		assert_string_equal(v.field, field);
		assert_true(v.msg.len > 0);
		if (msg)
			assert_string_equal(buf_str(&v.msg), msg);
	}
	buf_release(&v.msg);
	json_decref(body);
}

static void expect_field(const char *json, const char *field)
{
	expect_message(json, field, NULL);
}

/* What each job type of the table asks of a body: a source, its params' check. */
static void test_job_types(void **state)
{
	(void)state;
	struct validate_error v = VALIDATE_ERROR_INIT;
	assert_int_equal(validate_job_type("media.probe", "type", &v), 0);
	assert_int_equal(v.msg.len, 0);
	assert_int_equal(validate_job_type(NULL, "type", &v), -1);
	assert_string_equal(v.field, "type");
	assert_string_equal(buf_str(&v.msg), "must be one of video.transcode, media.probe, noop");
	buf_release(&v.msg);

	expect_message("{\"type\":\"nope\"}", "type", "must be one of video.transcode, media.probe, noop");
	expect_message("{\"type\":\"video.transcode\"}", "source",
		       "is required for this job type: {\"key\": \"uploads/…\"}");
	expect_message("{\"type\":\"media.probe\",\"source\":null}", "source",
		       "is required for this job type: {\"key\": \"uploads/…\"}");
	expect_message("{\"type\":\"video.transcode\",\"source\":{\"key\":\"uploads/acme/x.mp4\"},"
		       "\"params\":{\"height\":7}}",
		       "params.height", "must be one of 240, 360, 480, 720, 1080");
	expect_message("{\"type\":\"noop\",\"params\":[]}", "params", "must be an object");
	expect_message("{\"type\":\"media.probe\",\"source\":{\"key\":\"uploads/acme/x.mp4\"},\"params\":7}",
		       "params", "must be an object");
	/* noop takes a source if given; only video.transcode checks its params */
	expect_field("{\"type\":\"noop\",\"source\":{\"key\":\"uploads/acme/x.mp4\"}}", "");
	expect_field("{\"type\":\"noop\",\"params\":{\"height\":7}}", "");
	expect_field("{\"type\":\"media.probe\",\"source\":{\"key\":\"uploads/acme/x.mp4\"},"
		     "\"params\":{\"height\":7}}", "");
	expect_field("{\"type\":\"video.transcode\",\"source\":{\"key\":\"uploads/acme/x.mp4\"},"
		     "\"params\":{\"colour\":1}}", "params.colour");
}

static void test_job_body(void **state)
{
	(void)state;
	expect_field("{\"type\":\"noop\"}", "");
	expect_field("{\"type\":\"media.probe\",\"source\":{\"key\":\"uploads/acme/x.mp4\"}}", "");
	expect_field("{\"type\":\"video.transcode\",\"source\":{\"key\":\"uploads/acme/x.mp4\"},"
		     "\"params\":{\"height\":480}}", "");
	expect_field("{\"type\":\"nope\"}", "type");
	expect_field("{\"type\":7}", "type");
	expect_field("{\"type\":\"media.probe\"}", "source");
	/* another tenant's upload, and a job this tenant does not own */
	expect_field("{\"type\":\"media.probe\",\"source\":{\"key\":\"uploads/other/x.mp4\"}}", "source.key");
	expect_field("{\"type\":\"media.probe\",\"source\":{\"key\":\"results/" ID "/video.mp4\"}}", "source.key");
	expect_field("{\"type\":\"media.probe\",\"source\":{\"key\":\"uploads/acme/../other/x\"}}", "source.key");
	expect_field("{\"type\":\"video.transcode\",\"source\":{\"key\":\"uploads/acme/x.mp4\"},"
		     "\"params\":{\"height\":7}}", "params.height");
	expect_field("{\"type\":\"noop\",\"callback_url\":\"http://10.0.0.1/hook\"}", "callback_url");
	expect_field("{\"type\":\"noop\",\"callback_url\":\"https://hooks.example.com/x\"}", "");
}

/* The scheduling fields of a body, judged at NOW; `in` as validate_job left it, the field or "". */
#define NOW 1780000000 /* 2026-05-28T20:26:40Z */
static char schedule_msg[256];
static const char *schedule(const char *json, struct job_new *in)
{
	static char field[64];
	struct validate_job ctx = { .tenant = "acme", .owns_job = owns_nothing, .now = NOW };
	struct validate_error v = VALIDATE_ERROR_INIT;
	memset(in, 0, sizeof(*in));
	json_t *body = json_loads(json, 0, NULL);
	assert_non_null(body);
	int rc = validate_job(&ctx, body, in, &v);
	assert_int_equal(rc, *v.field ? -1 : 0);
	snprintf(field, sizeof(field), "%s", v.field);
	snprintf(schedule_msg, sizeof(schedule_msg), "%s", buf_str(&v.msg));
	buf_release(&v.msg);
	json_decref(body);
	return field;
}

/* run_at (RFC 3339 with an offset, within 366 days, not past by over 5 s) or delay (1 s to 366 days). */
static void test_schedule(void **state)
{
	(void)state;
	struct job_new in;
	assert_string_equal(schedule("{\"type\":\"noop\"}", &in), "");
	assert_int_equal(in.run_at_ms, 0);
	assert_int_equal(in.delay_s, 0);
	assert_string_equal(schedule("{\"type\":\"noop\",\"delay\":2}", &in), "");
	assert_int_equal(in.delay_s, 2);
	assert_int_equal(in.run_at_ms, 0);
	assert_string_equal(schedule("{\"type\":\"noop\",\"delay\":31622400}", &in), "");
	assert_int_equal(in.delay_s, 31622400);
	assert_string_equal(schedule("{\"type\":\"noop\",\"delay\":null,\"run_at\":null}", &in), "");
	assert_int_equal(in.delay_s + in.run_at_ms, 0);
	/* an offset, milliseconds kept */
	assert_string_equal(schedule("{\"type\":\"noop\",\"run_at\":\"2026-05-28T22:27:00.25+02:00\"}", &in), "");
	assert_int_equal(in.run_at_ms, (NOW + 20) * 1000LL + 250);
	assert_string_equal(schedule("{\"type\":\"noop\",\"run_at\":\"2026-05-28T20:27:00Z\"}", &in), "");
	assert_int_equal(in.run_at_ms, (NOW + 20) * 1000LL);
	/* up to 5 s in the past means "at once"; earlier is refused */
	assert_string_equal(schedule("{\"type\":\"noop\",\"run_at\":\"2026-05-28T20:26:35Z\"}", &in), "");
	assert_int_equal(in.run_at_ms, (NOW - 5) * 1000LL);
	assert_string_equal(schedule("{\"type\":\"noop\",\"run_at\":\"2026-05-28T20:26:34Z\"}", &in), "run_at");
	assert_string_equal(schedule("{\"type\":\"noop\",\"run_at\":\"2001-01-01T00:00:00Z\"}", &in), "run_at");
	assert_string_equal(schedule_msg, "is in the past");
	/* 366 days ahead at most */
	assert_string_equal(schedule("{\"type\":\"noop\",\"run_at\":\"2027-05-29T20:26:40Z\"}", &in), "");
	assert_string_equal(schedule("{\"type\":\"noop\",\"run_at\":\"2027-05-29T20:26:41Z\"}", &in), "run_at");
	/* malformed */
	assert_string_equal(schedule("{\"type\":\"noop\",\"run_at\":\"2026-05-29T20:26:40\"}", &in), "run_at");
	assert_string_equal(schedule("{\"type\":\"noop\",\"run_at\":\"tomorrow\"}", &in), "run_at");
	assert_string_equal(schedule("{\"type\":\"noop\",\"run_at\":1780000100}", &in), "run_at");
	assert_string_equal(schedule("{\"type\":\"noop\",\"run_at\":\"2026-02-30T00:00:00Z\"}", &in), "run_at");
	assert_string_equal(schedule("{\"type\":\"noop\",\"delay\":0}", &in), "delay");
	assert_string_equal(schedule("{\"type\":\"noop\",\"delay\":-3}", &in), "delay");
	assert_string_equal(schedule("{\"type\":\"noop\",\"delay\":31622401}", &in), "delay");
	assert_string_equal(schedule("{\"type\":\"noop\",\"delay\":1.5}", &in), "delay");
	assert_string_equal(schedule("{\"type\":\"noop\",\"delay\":\"5\"}", &in), "delay");
	/* not both */
	assert_string_equal(schedule("{\"type\":\"noop\",\"delay\":5,\"run_at\":\"2026-05-28T20:27:00Z\"}", &in),
			    "delay");
	assert_string_equal(schedule_msg, "must not be given with run_at: give one of them");
	/* the other fields are checked first */
	assert_string_equal(schedule("{\"type\":\"nope\",\"delay\":0}", &in), "type");
}

/* priority: high, normal or low; absent or null leaves the tenant's default (NULL). */
static void test_priority(void **state)
{
	(void)state;
	struct job_new in;
	assert_string_equal(schedule("{\"type\":\"noop\"}", &in), "");
	assert_null(in.priority);
	assert_string_equal(schedule("{\"type\":\"noop\",\"priority\":null}", &in), "");
	assert_null(in.priority);
	static const char *const good[] = { "high", "normal", "low" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char body[96];
		snprintf(body, sizeof(body), "{\"type\":\"noop\",\"priority\":\"%s\"}", good[i]);
		assert_string_equal(schedule(body, &in), "");
		assert_string_equal(in.priority, good[i]);
	}
	static const char *const bad[] = { "\"urgent\"", "\"HIGH\"", "\"\"", "1", "true", "[\"high\"]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char body[96];
		snprintf(body, sizeof(body), "{\"type\":\"noop\",\"priority\":%s}", bad[i]);
		assert_string_equal(schedule(body, &in), "priority");
	}
	assert_string_equal(schedule_msg, "must be one of \"high\", \"normal\", \"low\"");
}

/* POST /v1/uploads: "size" is required, a positive integer. */
static void test_upload_body(void **state)
{
	(void)state;
	static const char *const bad[] = { "{}", "{\"size\":null}", "{\"size\":0}", "{\"size\":-5}",
					   "{\"size\":\"100\"}", "{\"size\":1.5}", "{\"size\":true}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *b = json_loads(bad[i], 0, NULL);
		struct validate_error v = VALIDATE_ERROR_INIT;
		int64_t size = -1;
		assert_non_null(b);
		assert_int_equal(validate_upload(b, &size, &v), -1);
		assert_string_equal(v.field, "size");
		assert_int_equal(size, -1);
		buf_release(&v.msg);
		json_decref(b);
	}
	json_t *b = json_loads("{\"size\":5368709120,\"other\":1}", 0, NULL);
	struct validate_error v = VALIDATE_ERROR_INIT;
	int64_t size = 0;
	assert_int_equal(validate_upload(b, &size, &v), 0);
	assert_int_equal(size, 5368709120LL);
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_trace_id),
		cmocka_unit_test(test_query_utf8),
		cmocka_unit_test(test_int_arg),
		cmocka_unit_test(test_job_body),
		cmocka_unit_test(test_job_types),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_upload_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
