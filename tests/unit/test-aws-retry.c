/* Unit tests for the aws call layer: backoff arithmetic, retry quota, error parsing, XML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "aws.h"
#include "buf.h"

static void test_backoff(void **state)
{
	(void)state;
	/* full jitter: r * min(2^(n-1) s, 20 s) */
	assert_int_equal(aws_retry_delay_ms(1, 0.0), 0);
	assert_int_equal(aws_retry_delay_ms(1, 0.5), 500);
	assert_int_equal(aws_retry_delay_ms(2, 0.5), 1000);
	assert_int_equal(aws_retry_delay_ms(3, 0.5), 2000);
	assert_int_equal(aws_retry_delay_ms(5, 0.5), 8000);
	assert_int_equal(aws_retry_delay_ms(6, 0.5), 10000); /* 16 s ceiling */
	assert_int_equal(aws_retry_delay_ms(7, 0.5), 10000); /* capped at 20 s */
	assert_int_equal(aws_retry_delay_ms(40, 0.5), 10000);
	assert_true(aws_retry_delay_ms(7, 0.9999) < 20000);
	assert_true(aws_retry_delay_ms(7, 5.0) < 20000);  /* r clamped */
	assert_int_equal(aws_retry_delay_ms(0, 0.5), 500); /* treated as first retry */
	for (int n = 1; n < 12; n++)
		assert_true(aws_retry_delay_ms(n + 1, 0.7) >= aws_retry_delay_ms(n, 0.7));
}

static void test_quota(void **state)
{
	(void)state;
	struct aws_retry_quota q = { AWS_RETRY_QUOTA_MAX };
	assert_int_equal(aws_retry_quota_acquire(&q, false), 5);
	assert_int_equal(q.tokens, 495);
	assert_int_equal(aws_retry_quota_acquire(&q, true), 10);
	assert_int_equal(q.tokens, 485);
	aws_retry_quota_release(&q, 10);
	assert_int_equal(q.tokens, 495);
	aws_retry_quota_release(&q, 0);
	aws_retry_quota_release(&q, 0);
	assert_int_equal(q.tokens, 497);
	for (int i = 0; i < 10; i++)
		aws_retry_quota_release(&q, 0);
	assert_int_equal(q.tokens, AWS_RETRY_QUOTA_MAX);
	q.tokens = 7;
	assert_int_equal(aws_retry_quota_acquire(&q, true), 0); /* not enough for a timeout */
	assert_int_equal(aws_retry_quota_acquire(&q, false), 5);
	assert_int_equal(aws_retry_quota_acquire(&q, false), 0);
}

static void test_error_parse(void **state)
{
	(void)state;
	struct aws_error e;
	const char *s3 = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
			 "<Message>The specified key does not exist &amp; never did.</Message>"
			 "<Key>a b</Key></Error>";
	aws_error_parse(404, s3, strlen(s3), NULL, &e);
	assert_int_equal(e.status, 404);
	assert_string_equal(e.code, "NoSuchKey");
	assert_string_equal(e.message, "The specified key does not exist & never did.");
	assert_false(e.transient);

	const char *slow = "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>";
	aws_error_parse(503, slow, strlen(slow), NULL, &e);
	assert_string_equal(e.code, "SlowDown");
	assert_true(e.transient);

	const char *query = "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">"
			    "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
			    "</Error><RequestId>x</RequestId></ErrorResponse>";
	aws_error_parse(400, query, strlen(query), NULL, &e);
	assert_string_equal(e.code, "Throttling");
	assert_true(e.transient);

	const char *json = "{\"__type\":\"com.amazonaws.secretsmanager#ResourceNotFoundException\","
			   "\"message\":\"Secrets Manager can't find the specified secret.\"}";
	aws_error_parse(400, json, strlen(json), NULL, &e);
	assert_string_equal(e.code, "ResourceNotFoundException");
	assert_string_equal(e.message, "Secrets Manager can't find the specified secret.");
	assert_false(e.transient);

	const char *json2 = "{\"__type\":\"ThrottlingException\",\"Message\":\"slow\"}";
	aws_error_parse(400, json2, strlen(json2), NULL, &e);
	assert_string_equal(e.code, "ThrottlingException");
	assert_true(e.transient);

	aws_error_parse(500, "", 0, "InternalServiceError:http://internal.amazon.com/", &e);
	assert_string_equal(e.code, "InternalServiceError");
	assert_true(e.transient);

	aws_error_parse(404, NULL, 0, NULL, &e); /* HEAD: no body */
	assert_string_equal(e.code, "NotFound");
	assert_false(e.transient);
	aws_error_parse(502, "<html>bad gateway</html>", 24, NULL, &e);
	assert_string_equal(e.code, "BadGateway");
	assert_true(e.transient);
	aws_error_parse(403, "{\"message\":\"denied\"}", 20, NULL, &e);
	assert_string_equal(e.code, "Forbidden");
	assert_string_equal(e.message, "denied");

	struct buf out = BUF_INIT;
	aws_error_set(&e, 503, "SlowDown", true, "reduce %s", "rate");
	aws_error_format(&e, &out);
	assert_string_equal(buf_str(&out), "SlowDown (HTTP 503, transient): reduce rate");
	buf_reset(&out);
	aws_error_set(&e, 0, "RequestTimeout", true, "timed out");
	aws_error_format(&e, &out);
	assert_string_equal(buf_str(&out), "RequestTimeout (transient): timed out");
	buf_release(&out);

	assert_true(aws_error_is_transient(0, ""));
	assert_true(aws_error_is_transient(429, ""));
	assert_true(aws_error_is_transient(400, "RequestTimeout"));
	assert_false(aws_error_is_transient(403, "AccessDenied"));
	assert_false(aws_error_is_transient(501, "NotImplemented"));
}

static void test_xml(void **state)
{
	(void)state;
	const char *x = "<R><Contents><Key>a&lt;b&gt;&amp;&quot;&apos;&#233;&#x263A;</Key><Size>3</Size>"
			"</Contents><Contents><Key>z</Key><Size>0</Size></Contents><Empty/></R>";
	const char *v;
	size_t vl;
	const char *p = aws_xml_find(x, strlen(x), "Contents", &v, &vl);
	assert_non_null(p);
	struct buf b = BUF_INIT;
	assert_int_equal(aws_xml_get(v, vl, "Key", &b), 0);
	assert_string_equal(buf_str(&b), "a<b>&\"'\xc3\xa9\xe2\x98\xba");
	p = aws_xml_find(p, strlen(x) - (size_t)(p - x), "Contents", &v, &vl);
	assert_non_null(p);
	assert_int_equal(aws_xml_get(v, vl, "Key", &b), 0);
	assert_string_equal(buf_str(&b), "z");
	assert_null(aws_xml_find(p, strlen(x) - (size_t)(p - x), "Contents", &v, &vl));
	assert_int_equal(aws_xml_get(x, strlen(x), "Empty", &b), 0);
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(aws_xml_get(x, strlen(x), "Missing", &b), -1);
	/* a prefix of a tag name is not the tag */
	assert_int_equal(aws_xml_get("<KeyCount>2</KeyCount><Key>k</Key>", 34, "Key", &b), 0);
	assert_string_equal(buf_str(&b), "k");
	/* same-name nesting (Query protocol lists of <member>) */
	const char *n = "<member><Id>a</Id><Values><member>1</member><member>2</member></Values></member>"
			"<member><Id>b</Id></member>";
	p = aws_xml_find(n, strlen(n), "member", &v, &vl);
	assert_non_null(p);
	assert_int_equal(aws_xml_get(v, vl, "Id", &b), 0);
	assert_string_equal(buf_str(&b), "a");
	assert_non_null(strstr(v, "<member>2</member></Values>"));
	p = aws_xml_find(p, strlen(n) - (size_t)(p - n), "member", &v, &vl);
	assert_non_null(p);
	assert_int_equal(aws_xml_get(v, vl, "Id", &b), 0);
	assert_string_equal(buf_str(&b), "b");
	buf_release(&b);
}

static void test_endpoint_split(void **state)
{
	(void)state;
	struct buf sh = BUF_INIT, h = BUF_INIT, base = BUF_INIT;
	assert_int_equal(aws_endpoint_split("http://127.0.0.1:4566/", &sh, &h, &base), 0);
	assert_string_equal(buf_str(&sh), "http://127.0.0.1:4566");
	assert_string_equal(buf_str(&h), "127.0.0.1:4566");
	assert_string_equal(buf_str(&base), "");
	assert_int_equal(aws_endpoint_split("https://s3.example.com/prefix/", &sh, &h, &base), 0);
	assert_string_equal(buf_str(&h), "s3.example.com");
	assert_string_equal(buf_str(&base), "/prefix");
	assert_int_equal(aws_endpoint_split("nourl", &sh, &h, &base), -1);
	buf_release(&sh);
	buf_release(&h);
	buf_release(&base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_quota),
		cmocka_unit_test(test_error_parse),
		cmocka_unit_test(test_xml),
		cmocka_unit_test(test_endpoint_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
