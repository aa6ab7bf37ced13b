/* adminctl's events (adminctl/events.c): reading events of spool.events, the filters, the lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../adminctl/events.h"
#include "jobcodec.h"

#define ID "0b6e3f4a-6f0e-4d1a-9c41-2f7f3b1f9a10"

/* What the worker and the outbox publish reads back field by field. */
static void test_parse_encoded(void **state)
{
	(void)state;
	struct job j;
	memset(&j, 0, sizeof(j));
	strcpy(j.id, ID);
	j.type = strdup("media.probe");
	j.tenant = strdup("acme");
	j.status = JOB_FAILED;
	j.attempts = 3;
	j.error = json_pack("{s:s, s:s}", "code", "invalid_media", "message", "not a video");
	struct buf b = BUF_INIT;
	jobcodec_event_encode(&j, "failed", &b);
	struct ev_record r;
	assert_int_equal(ev_parse(b.data, b.len, "job.failed", &r), 0);
	assert_string_equal(r.event, "job.failed");
	assert_string_equal(r.job_id, ID);
	assert_string_equal(r.type, "media.probe");
	assert_string_equal(r.tenant, "acme");
	assert_int_equal(r.attempt, 3);
	assert_string_equal(r.error, "invalid_media");
	assert_int_equal(strlen(r.at), 24);
	ev_format(&r, false, &b);
	char want[256];
	snprintf(want, sizeof(want), "%s\tjob.failed\t%s\tmedia.probe\tacme\t3\tinvalid_media", r.at, ID);
	assert_string_equal(buf_str(&b), want);
	json_t *o = ev_to_json(&r);
	assert_string_equal(json_string_value(json_object_get(o, "tenant")), "acme");
	assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 3);
	json_decref(o);
	buf_release(&b);
	job_clear(&j);
}

/* Untrusted bytes: not JSON, not an object, no valid job id, too long, fields too long. */
static void test_parse_rejects(void **state)
{
	(void)state;
	struct ev_record r;
	const char *bad[] = { "", "nope", "[]", "{\"event\":\"job.started\"}", "{\"job_id\":\"../../x\"}",
			      "{\"job_id\":42}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ev_parse(bad[i], strlen(bad[i]), "job.started", &r), -1);
	struct buf big = BUF_INIT;
	buf_printf(&big, "{\"job_id\":\"%s\",\"type\":\"", ID);
	while (big.len <= EV_BODY_MAX)
		buf_addc(&big, 'x');
	buf_adds(&big, "\"}");
	assert_int_equal(ev_parse(big.data, big.len, NULL, &r), -1);
	/* a long field is cut to its record's size; the routing key names an event without one */
	buf_reset(&big);
	buf_printf(&big, "{\"job_id\":\"%s\",\"type\":\"", ID);
	for (int i = 0; i < 500; i++)
		buf_addc(&big, 'y');
	buf_adds(&big, "\",\"attempt\":-4,\"error\":\"plain\"}");
	assert_int_equal(ev_parse(big.data, big.len, "job.progress", &r), 0);
	assert_int_equal(strlen(r.type), sizeof(r.type) - 1);
	assert_string_equal(r.event, "job.progress");
	assert_int_equal(r.attempt, 0);
	assert_string_equal(r.error, "");
	buf_release(&big);
}

static void test_filter(void **state)
{
	(void)state;
	struct ev_filter f;
	memset(&f, 0, sizeof(f));
	struct buf err = BUF_INIT;
	assert_int_equal(ev_filter_add_events(&f, "started,job.failed", &err), 0);
	assert_int_equal(f.nevents, 2);
	assert_string_equal(f.events[0], "job.started");
	assert_string_equal(f.events[1], "job.failed");
	const char *bad[] = { "", "a,,b", "job.", "Started", "a b", "x'y", "{a}", "#", "*" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ev_filter g;
		memset(&g, 0, sizeof(g));
		buf_reset(&err);
		assert_int_equal(ev_filter_add_events(&g, bad[i], &err), -1);
		assert_true(err.len > 0);
	}
	struct buf many = BUF_INIT;
	for (int i = 0; i <= EV_NAMES_MAX; i++)
		buf_printf(&many, "%se%d", i ? "," : "", i);
	struct ev_filter g;
	memset(&g, 0, sizeof(g));
	assert_int_equal(ev_filter_add_events(&g, buf_str(&many), &err), -1);
	buf_release(&many);

	struct ev_record r;
	memset(&r, 0, sizeof(r));
	strcpy(r.event, "job.failed");
	strcpy(r.job_id, ID);
	strcpy(r.type, "noop");
	strcpy(r.tenant, "acme");
	assert_true(ev_filter_match(&f, &r));
	strcpy(r.event, "job.succeeded");
	assert_false(ev_filter_match(&f, &r));
	f.nevents = 0;
	assert_true(ev_filter_match(&f, &r));
	strcpy(f.tenant, "acme");
	strcpy(f.type, "noop");
	strcpy(f.job_id, ID);
	assert_true(ev_filter_match(&f, &r));
	strcpy(f.tenant, "other");
	assert_false(ev_filter_match(&f, &r));
	strcpy(f.tenant, "acme");
	strcpy(f.type, "video.transcode");
	assert_false(ev_filter_match(&f, &r));
	buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_encoded),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
