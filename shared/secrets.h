/*
 * secrets — resolve secret references named in config files.
 *
 * References: "arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME" (fetched with a
 * signed GetSecretValue; region from the ARN, endpoint from config), "file:PATH"
 * (file contents, trailing newline stripped), "env:NAME" (environment variable).
 * Values are cached for secrets.cache_ttl; secrets_invalidate() forces the next
 * resolve to refetch (call it when a service rejects the credentials: rotation).
 * Secrets Manager errors are retried with backoff by the AWS layer.
 *
 * Secret values never reach a log line. Thread safe.
 */
#ifndef SPOOL_SECRETS_H
#define SPOOL_SECRETS_H

#include <stddef.h>

#include "buf.h"
#include "config.h"

struct secrets; /* opaque: cache + AWS client */

struct secret_arn {
	char region[32];
	char account[16];
	char name[256]; /* the part after "secret:" */
};

/* Parse an ARN; -1 with a reason in `err` if it is not a Secrets Manager secret ARN. */
int secret_arn_parse(const char *arn, struct secret_arn *out, struct buf *err);

/*
 * The value in a GetSecretValue answer (`len` bytes of JSON): SecretString, else
 * SecretBinary decoded from base64, appended to `out`. Returns 0, or -1 with a
 * reason in `err` that never quotes the value. Exposed for tests and fuzzing.
 */
int secret_value_parse(const char *json, size_t len, struct buf *out, struct buf *err);

/* A new resolver using cfg's [aws] and [secrets] sections; never NULL. Caller frees. */
struct secrets *secrets_new(const struct config *cfg);
void secrets_free(struct secrets *s);

/*
 * Resolve `ref` to its value (copied into `out`, which is reset first).
 * Returns 0, or -1 with a one-line reason in `err` that names the reference but
 * never the value.
 */
int secrets_get(struct secrets *s, const char *ref, struct buf *out, struct buf *err);
/* Drop the cached value of `ref` so the next get refetches. */
void secrets_invalidate(struct secrets *s, const char *ref);

/*
 * The current value of the Secrets Manager secret `arn`, fetched now (neither
 * the cache nor a stale value is used): 0 with the value in `out` (reset
 * first), 1 when Secrets Manager has no current value for it (a secret created
 * without one; also a secret that does not exist), -1 on any other failure,
 * with the reason in `err`.
 */
int secrets_get_current(struct secrets *s, const char *arn, struct buf *out, struct buf *err);
/*
 * Store `value` as the new current value of the existing Secrets Manager secret
 * `arn` (PutSecretValue). `token` (may be NULL: a random one) is the
 * ClientRequestToken, 32-64 characters, which makes a repeated call with the
 * same value a no-op. Drops the cached value. 0, or -1 with the reason in `err`
 * (never the value).
 */
int secrets_put(struct secrets *s, const char *arn, const char *value, const char *token, struct buf *err);

/* Database credentials in the RDS JSON shape. Strings owned by the struct. */
struct db_secret {
	char *username, *password, *host, *dbname;
	int port;
};
/*
 * RabbitMQ credentials: username, password, vhost ("/" when absent) and the
 * broker: "host" and "port" (5672 when absent), and/or "hosts", a list of the
 * nodes of a cluster as "HOST:PORT" strings (an item without a port has
 * "port"); host may be absent (NULL) when hosts is given. [rabbitmq] endpoints
 * in the config, when set, replaces all three.
 */
struct mq_secret {
	char *username, *password, *host, *vhost;
	int port;
	char **hosts;      /* nhosts "HOST[:PORT]" strings, checked by mq_secret_parse */
	size_t nhosts;
};
/* S3 static credentials (optional secret). */
struct s3_secret {
	char *access_key_id, *secret_access_key, *session_token;
};

/* Parse JSON secret values; -1 with the missing/bad field named in `err`. */
int db_secret_parse(const char *json, struct db_secret *out, struct buf *err);
void db_secret_free(struct db_secret *s);
int mq_secret_parse(const char *json, struct mq_secret *out, struct buf *err);
void mq_secret_free(struct mq_secret *s);
int s3_secret_parse(const char *json, struct s3_secret *out, struct buf *err);
void s3_secret_free(struct s3_secret *s);

#endif
