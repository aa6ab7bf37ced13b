/* Unit tests for awscreds: profile files, environment, JSON documents, the chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "awscreds.h"
#include "buf.h"

static const char creds_file[] =
	"# comment\n"
	"[default]\n"
	"aws_access_key_id = AKIDDEFAULT\n"
	"aws_secret_access_key = secretdefault\n"
	"\n"
	"[dev]\n"
	"  aws_access_key_id=AKIDDEV  \n"
	"aws_secret_access_key= secret/dev+x=\n"
	"aws_session_token =tokdev\n"
	"[half]\n"
	"aws_access_key_id = AKIDHALF\n"
	"[cfgonly-secret]\n"
	"aws_access_key_id = AKIDMIX\n";

static const char config_file[] =
	"[default]\n"
	"region = us-east-1\n"
	"[profile prod]\n"
	"aws_access_key_id = AKIDPROD\n"
	"aws_secret_access_key = secretprod\n"
	"[prod]\n"
	"aws_access_key_id = WRONG\n"
	"aws_secret_access_key = WRONG\n"
	"[profile cfgonly-secret]\n"
	"aws_access_key_id = IGNORED\n"
	"aws_secret_access_key = secretmix\n";

static void test_profiles(void **state)
{
	(void)state;
	struct aws_credentials c = { 0 };
	struct buf err = BUF_INIT;
	assert_int_equal(awscreds_parse_profile(creds_file, config_file, "default", &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDDEFAULT");
	assert_string_equal(c.secret_access_key, "secretdefault");
	assert_null(c.session_token);
	aws_credentials_clear(&c);

	assert_int_equal(awscreds_parse_profile(creds_file, config_file, "dev", &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDDEV");
	assert_string_equal(c.secret_access_key, "secret/dev+x=");
	assert_string_equal(c.session_token, "tokdev");
	aws_credentials_clear(&c);

	/* config file sections are "[profile NAME]"; a bare [prod] there is ignored */
	assert_int_equal(awscreds_parse_profile(creds_file, config_file, "prod", &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDPROD");
	assert_string_equal(c.secret_access_key, "secretprod");
	aws_credentials_clear(&c);

	/* credentials file wins key by key */
	assert_int_equal(awscreds_parse_profile(creds_file, config_file, "cfgonly-secret", &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDMIX");
	assert_string_equal(c.secret_access_key, "secretmix");
	aws_credentials_clear(&c);

	assert_int_equal(awscreds_parse_profile(creds_file, config_file, "nope", &c, &err), 1);
	assert_int_equal(awscreds_parse_profile(NULL, NULL, "default", &c, &err), 1);
	assert_int_equal(awscreds_parse_profile(creds_file, NULL, "half", &c, &err), -1);
	assert_non_null(strstr(buf_str(&err), "'half'"));
	assert_non_null(strstr(buf_str(&err), "aws_secret_access_key"));
	buf_release(&err);
}

static void test_env(void **state)
{
	(void)state;
	struct aws_credentials c = { 0 };
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	assert_int_equal(awscreds_from_env(&c), 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	assert_int_equal(awscreds_from_env(&c), 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	setenv("AWS_SESSION_TOKEN", "tokenv", 1);
	assert_int_equal(awscreds_from_env(&c), 0);
	assert_string_equal(c.access_key_id, "AKIDENV");
	assert_string_equal(c.session_token, "tokenv");
	assert_string_equal(c.source, "environment");
	aws_credentials_clear(&c);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
}

static void test_json(void **state)
{
	(void)state;
	struct aws_credentials c = { 0 };
	struct buf err = BUF_INIT;
	const char *doc = "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAX\","
			  "\"SecretAccessKey\":\"sk\",\"Token\":\"tk\",\"Expiration\":\"2015-08-30T12:36:00Z\"}";
	assert_int_equal(awscreds_parse_json(doc, &c, &err), 0);
	assert_string_equal(c.access_key_id, "ASIAX");
	assert_string_equal(c.session_token, "tk");
	assert_int_equal((long long)c.expiration, 1440938160LL);
	aws_credentials_clear(&c);
	assert_int_equal(awscreds_parse_json("{\"AccessKeyId\":\"A\"}", &c, &err), -1);
	assert_non_null(strstr(buf_str(&err), "SecretAccessKey"));
	/* an empty key is no key */
	buf_reset(&err);
	assert_int_equal(awscreds_parse_json("{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"B\"}", &c, &err), -1);
	assert_non_null(strstr(buf_str(&err), "lacks AccessKeyId"));
	assert_null(c.access_key_id);
	buf_reset(&err);
	assert_int_equal(awscreds_parse_json("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"\"}", &c, &err), -1);
	assert_non_null(strstr(buf_str(&err), "lacks SecretAccessKey"));
	assert_int_equal(awscreds_parse_json("nope", &c, &err), -1);
	assert_int_equal(awscreds_parse_json("{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"B\"}",
					     &c, &err), -1);
	buf_release(&err);
}

/* The chain with files only: env empty, container unset, IMDS disabled. */
static void test_chain_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/spool-awscreds-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char cpath[128], fpath[128];
	snprintf(cpath, sizeof(cpath), "%s/credentials", dir);
	snprintf(fpath, sizeof(fpath), "%s/config", dir);
	FILE *fp = fopen(cpath, "w");
	fputs(creds_file, fp);
	fclose(fp);
	fp = fopen(fpath, "w");
	fputs(config_file, fp);
	fclose(fp);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cpath, 1);
	setenv("AWS_CONFIG_FILE", fpath, 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	unsetenv("AWS_PROFILE");

	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	char prof[] = "prod";
	cfg.aws.profile = prof;
	struct awscreds *p = awscreds_new(&cfg);
	struct aws_credentials c = { 0 };
	struct buf err = BUF_INIT;
	assert_int_equal(awscreds_get(p, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDPROD");
	assert_string_equal(c.source, "profile");
	aws_credentials_clear(&c);

	/* AWS_PROFILE beats the config's profile; environment beats files */
	setenv("AWS_PROFILE", "dev", 1);
	awscreds_invalidate(p);
	assert_int_equal(awscreds_get(p, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDDEV");
	aws_credentials_clear(&c);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	awscreds_invalidate(p);
	assert_int_equal(awscreds_get(p, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDENV");
	aws_credentials_clear(&c);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");

	/* nothing anywhere: a clear error, no secret in it */
	setenv("AWS_PROFILE", "missing", 1);
	awscreds_invalidate(p);
	assert_int_equal(awscreds_get(p, &c, &err), -1);
	assert_non_null(strstr(buf_str(&err), "no aws credentials found"));
	assert_null(strstr(buf_str(&err), "secret"));
	awscreds_free(p);

	p = awscreds_new_static("AKIDSTATIC", "s", NULL);
	assert_int_equal(awscreds_get(p, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDSTATIC");
	aws_credentials_clear(&c);
	awscreds_set_static(p, "AKIDROTATED", "s2", "t2");
	assert_int_equal(awscreds_get(p, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDROTATED");
	assert_string_equal(c.session_token, "t2");
	aws_credentials_clear(&c);
	awscreds_free(p);

	buf_release(&err);
	unlink(cpath);
	unlink(fpath);
	rmdir(dir);
	unsetenv("AWS_PROFILE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_chain_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
