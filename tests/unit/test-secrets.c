/* Unit tests for secrets: ARN parsing, JSON shapes, GetSecretValue answers, file: and env: references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "secrets.h"

static void test_arn(void **state)
{
	(void)state;
	struct secret_arn a;
	struct buf err = BUF_INIT;
	assert_int_equal(secret_arn_parse("arn:aws:secretsmanager:us-east-1:123456789012:secret:spool/db-AbCdEf",
					  &a, &err), 0);
	assert_string_equal(a.region, "us-east-1");
	assert_string_equal(a.account, "123456789012");
	assert_string_equal(a.name, "spool/db-AbCdEf");
	assert_int_equal(secret_arn_parse("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a:b",
					  &a, &err), 0);
	assert_string_equal(a.region, "cn-north-1");
	assert_string_equal(a.name, "a:b");

	static const char *const bad[] = {
		"", "file:/x", "arn:aws:s3:us-east-1:123456789012:secret:x",
		"arn:aws:secretsmanager::123456789012:secret:x",
		"arn:aws:secretsmanager:us-east-1:12345:secret:x",
		"arn:aws:secretsmanager:us-east-1:123456789012:parameter:x",
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:",
		"arn:aws:secretsmanager:us-east-1:123456789012",
		"arn:gcp:secretsmanager:us-east-1:123456789012:secret:x",
		"arn:aws:secretsmanager:US_EAST:123456789012:secret:x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&err);
		assert_int_equal(secret_arn_parse(bad[i], &a, &err), -1);
		assert_true(err.len > 0);
	}
	buf_release(&err);
}

static void test_db_secret(void **state)
{
	(void)state;
	struct db_secret d;
	struct buf err = BUF_INIT;
	assert_int_equal(db_secret_parse("{\"engine\":\"postgres\",\"username\":\"spool\",\"password\":\"p@ss\","
					 "\"host\":\"db.example\",\"port\":5433,\"dbname\":\"jobs\"}", &d, &err), 0);
	assert_string_equal(d.username, "spool");
	assert_string_equal(d.password, "p@ss");
	assert_string_equal(d.host, "db.example");
	assert_string_equal(d.dbname, "jobs");
	assert_int_equal(d.port, 5433);
	db_secret_free(&d);
	/* port as string, defaults */
	assert_int_equal(db_secret_parse("{\"username\":\"u\",\"password\":\"p\",\"host\":\"h\",\"port\":\"6543\"}",
					 &d, &err), 0);
	assert_int_equal(d.port, 6543);
	assert_string_equal(d.dbname, "u");
	db_secret_free(&d);
	assert_int_equal(db_secret_parse("{\"username\":\"u\",\"password\":\"p\",\"host\":\"h\"}", &d, &err), 0);
	assert_int_equal(d.port, 5432);
	db_secret_free(&d);
	/* missing fields are named; the value never appears */
	assert_int_equal(db_secret_parse("{\"username\":\"u\",\"password\":\"TOPSECRET\"}", &d, &err), -1);
	assert_non_null(strstr(buf_str(&err), "'host'"));
	assert_null(strstr(buf_str(&err), "TOPSECRET"));
	assert_null(d.username);
	buf_reset(&err);
	assert_int_equal(db_secret_parse("{\"username\":\"u\",\"password\":\"p\",\"host\":\"h\",\"port\":\"x\"}",
					 &d, &err), -1);
	assert_non_null(strstr(buf_str(&err), "'port'"));
	buf_reset(&err);
	assert_int_equal(db_secret_parse("{\"password\": TOPSECRET", &d, &err), -1);
	assert_non_null(strstr(buf_str(&err), "not valid JSON"));
	assert_null(strstr(buf_str(&err), "TOPSECRET"));
	buf_reset(&err);
	assert_int_equal(db_secret_parse("[1]", &d, &err), -1);
	assert_int_equal(db_secret_parse("{\"username\":1,\"password\":\"p\",\"host\":\"h\"}", &d, &err), -1);
	buf_release(&err);
}

static void test_mq_s3_secret(void **state)
{
	(void)state;
	struct mq_secret m;
	struct s3_secret s;
	struct buf err = BUF_INIT;
	assert_int_equal(mq_secret_parse("{\"username\":\"spool\",\"password\":\"pw\",\"host\":\"mq\"}", &m, &err), 0);
	assert_int_equal(m.port, 5672);
	assert_string_equal(m.vhost, "/");
	mq_secret_free(&m);
	assert_int_equal(mq_secret_parse("{\"username\":\"spool\",\"password\":\"pw\",\"host\":\"mq\",\"port\":5671,"
					 "\"vhost\":\"spool\"}", &m, &err), 0);
	assert_int_equal(m.port, 5671);
	assert_string_equal(m.vhost, "spool");
	mq_secret_free(&m);
	assert_int_equal(mq_secret_parse("{\"host\":\"mq\"}", &m, &err), -1);
	assert_non_null(strstr(buf_str(&err), "'username'"));
	assert_non_null(strstr(buf_str(&err), "'password'"));
	buf_reset(&err);
	/* the nodes of a cluster: "hosts" instead of (or beside) "host" */
	assert_int_equal(mq_secret_parse("{\"username\":\"u\",\"password\":\"p\",\"port\":5671,"
					 "\"hosts\":[\"mq1:5671\",\"mq2\",\"[fd00::3]:5672\"]}", &m, &err), 0);
	assert_null(m.host);
	assert_int_equal(m.nhosts, 3);
	assert_string_equal(m.hosts[1], "mq2");
	mq_secret_free(&m);
	assert_int_equal(mq_secret_parse("{\"username\":\"u\",\"password\":\"p\",\"hosts\":[]}", &m, &err), -1);
	assert_non_null(strstr(buf_str(&err), "field 'hosts' is not a list"));
	buf_reset(&err);
	assert_int_equal(mq_secret_parse("{\"username\":\"u\",\"password\":\"p\",\"hosts\":[\"a:1\",\"b:SECRETX\"]}",
					 &m, &err), -1);
	assert_non_null(strstr(buf_str(&err), "item 2 of field 'hosts' is not HOST:PORT"));
	assert_null(strstr(buf_str(&err), "SECRETX"));
	buf_reset(&err);
	assert_int_equal(mq_secret_parse("{\"username\":\"u\",\"password\":\"p\",\"hosts\":\"a:1\"}", &m, &err), -1);
	assert_int_equal(mq_secret_parse("{\"username\":\"u\",\"password\":\"p\"}", &m, &err), -1);
	assert_non_null(strstr(buf_str(&err), "'host' is missing"));

	assert_int_equal(s3_secret_parse("{\"access_key_id\":\"AKID\",\"secret_access_key\":\"sk\"}", &s, &err), 0);
	assert_string_equal(s.access_key_id, "AKID");
	assert_null(s.session_token);
	s3_secret_free(&s);
	assert_int_equal(s3_secret_parse("{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"sk\",\"SessionToken\":\"t\"}",
					 &s, &err), 0);
	assert_string_equal(s.session_token, "t");
	s3_secret_free(&s);
	buf_reset(&err);
	assert_int_equal(s3_secret_parse("{\"access_key_id\":\"AKID\"}", &s, &err), -1);
	assert_non_null(strstr(buf_str(&err), "'secret_access_key'"));
	buf_release(&err);
}

static void test_value_parse(void **state)
{
	(void)state;
	struct buf out = BUF_INIT, err = BUF_INIT;
	const char *str = "{\"ARN\":\"arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf\","
			  "\"Name\":\"db\",\"SecretString\":\"{\\\"password\\\":\\\"pw\\\"}\","
			  "\"VersionId\":\"v1\",\"VersionStages\":[\"AWSCURRENT\"]}";
	assert_int_equal(secret_value_parse(str, strlen(str), &out, &err), 0);
	assert_string_equal(buf_str(&out), "{\"password\":\"pw\"}");
	buf_reset(&out);
	const char *bin = "{\"Name\":\"key\",\"SecretBinary\":\"aGk=\"}";
	assert_int_equal(secret_value_parse(bin, strlen(bin), &out, &err), 0);
	assert_int_equal(out.len, 2);
	assert_memory_equal(out.data, "hi", 2);
	buf_reset(&out);
	const char *zero = "{\"SecretBinary\":\"AAE=\"}";
	assert_int_equal(secret_value_parse(zero, strlen(zero), &out, &err), 0);
	assert_int_equal(out.len, 2);
	assert_memory_equal(out.data, "\0\1", 2);
	buf_reset(&out);

	/* a line end after the padding does not add bytes */
	const char *nl = "{\"SecretBinary\":\" QQ==\\r\\n\"}";
	assert_int_equal(secret_value_parse(nl, strlen(nl), &out, &err), 0);
	assert_int_equal(out.len, 1);
	assert_memory_equal(out.data, "A", 1);
	buf_reset(&out);

	const char *bad = "{\"SecretBinary\":\"not base64!\"}";
	assert_int_equal(secret_value_parse(bad, strlen(bad), &out, &err), -1);
	assert_non_null(strstr(buf_str(&err), "not valid base64"));
	assert_null(strstr(buf_str(&err), "base64!"));
	buf_reset(&err);
	assert_int_equal(secret_value_parse("{\"Name\":\"db\"}", 13, &out, &err), -1);
	assert_non_null(strstr(buf_str(&err), "neither SecretString nor SecretBinary"));
	buf_reset(&err);
	assert_int_equal(secret_value_parse("<html>", 6, &out, &err), -1);
	assert_int_equal(secret_value_parse(NULL, 0, &out, &err), -1);
	assert_int_equal(out.len, 0);
	buf_release(&out);
	buf_release(&err);
}

static void test_refs(void **state)
{
	(void)state;
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.secrets.cache_ttl = 60;
	cfg.aws.timeout = 1;
	cfg.aws.max_attempts = 1;
	struct secrets *s = secrets_new(&cfg);
	struct buf out = BUF_INIT, err = BUF_INIT;

	char path[] = "/tmp/spool-secret-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hunter2\r\n", 9), 9);
	close(fd);
	struct buf ref = BUF_INIT;
	buf_printf(&ref, "file:%s", path);
	assert_int_equal(secrets_get(s, buf_str(&ref), &out, &err), 0);
	assert_string_equal(buf_str(&out), "hunter2");
	/* file references are re-read: a rotated file is seen at once */
	FILE *fp = fopen(path, "w");
	fputs("rotated\n", fp);
	fclose(fp);
	assert_int_equal(secrets_get(s, buf_str(&ref), &out, &err), 0);
	assert_string_equal(buf_str(&out), "rotated");
	unlink(path);
	assert_int_equal(secrets_get(s, buf_str(&ref), &out, &err), -1);
	assert_non_null(strstr(buf_str(&err), buf_str(&ref)));
	assert_null(strstr(buf_str(&err), "rotated"));

	setenv("SPOOL_TEST_SECRET", "{\"a\":1}", 1);
	assert_int_equal(secrets_get(s, "env:SPOOL_TEST_SECRET", &out, &err), 0);
	assert_string_equal(buf_str(&out), "{\"a\":1}");
	unsetenv("SPOOL_TEST_SECRET");
	buf_reset(&err);
	assert_int_equal(secrets_get(s, "env:SPOOL_TEST_SECRET", &out, &err), -1);
	assert_non_null(strstr(buf_str(&err), "'env:SPOOL_TEST_SECRET'"));
	buf_reset(&err);
	assert_int_equal(secrets_get(s, "vault:x", &out, &err), -1);
	assert_non_null(strstr(buf_str(&err), "not a secret reference"));
	buf_reset(&err);
	assert_int_equal(secrets_get(s, "arn:aws:secretsmanager:nowhere", &out, &err), -1);
	assert_non_null(strstr(buf_str(&err), "arn:aws:secretsmanager:nowhere"));
	secrets_invalidate(s, "env:SPOOL_TEST_SECRET"); /* harmless when not cached */

	buf_release(&ref);
	buf_release(&out);
	buf_release(&err);
	secrets_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arn),
		cmocka_unit_test(test_db_secret),
		cmocka_unit_test(test_mq_s3_secret),
		cmocka_unit_test(test_value_parse),
		cmocka_unit_test(test_refs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
