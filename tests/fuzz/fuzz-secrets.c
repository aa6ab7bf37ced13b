/*
 * fuzz-secrets — the parsers of secret values and references read from Secrets
 * Manager, files and the environment: db/mq/s3 JSON shapes and ARNs, and the
 * GetSecretValue answer the value comes in (secret_value_parse).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "secrets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct buf err = BUF_INIT;
	struct db_secret db;
	struct mq_secret mq;
	struct s3_secret s3;
	struct secret_arn arn;
	memset(&db, 0, sizeof(db));
	memset(&mq, 0, sizeof(mq));
	memset(&s3, 0, sizeof(s3));
	if (db_secret_parse(s, &db, &err) < 0 && err.len == 0)
		abort();
	db_secret_free(&db);
	buf_reset(&err);
	if (mq_secret_parse(s, &mq, &err) < 0 && err.len == 0)
		abort();
	mq_secret_free(&mq);
	buf_reset(&err);
	if (s3_secret_parse(s, &s3, &err) < 0 && err.len == 0)
		abort();
	s3_secret_free(&s3);
	buf_reset(&err);
	if (secret_arn_parse(s, &arn, &err) == 0 &&
	    (!memchr(arn.region, '\0', sizeof(arn.region)) || !memchr(arn.account, '\0', sizeof(arn.account)) ||
	     !memchr(arn.name, '\0', sizeof(arn.name))))
		abort();
	/* a value is decoded, never grown: SecretString as is, SecretBinary from base64 */
	struct buf value = BUF_INIT;
	buf_reset(&err);
	int rc = secret_value_parse((const char *)data, size, &value, &err);
	if ((rc < 0 && (err.len == 0 || value.len)) || (rc == 0 && (err.len || value.len > size)))
		abort();
	buf_release(&value);
	buf_release(&err);
	free(s);
	return 0;
}
