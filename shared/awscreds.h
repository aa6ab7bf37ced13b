/*
 * awscreds — AWS credentials: static, or the standard provider chain.
 *
 * The chain, in order (first source that yields a key pair wins):
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
 *   2. shared files: AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) then
 *      AWS_CONFIG_FILE (~/.aws/config, "[profile NAME]" sections), for the profile
 *      AWS_PROFILE, else [aws] profile, else "default";
 *   3. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (against
 *      169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI, with the token from
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE / AWS_CONTAINER_AUTHORIZATION_TOKEN;
 *   4. EC2 instance metadata, IMDSv2 only (PUT token, then the role's credentials),
 *      1 s connect / 2 s total timeouts, skipped when AWS_EC2_METADATA_DISABLED=true;
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the address.
 * Credentials are cached; ones with an expiry are refreshed 5 minutes before it
 * (if refreshing fails while the old ones are still valid, the old ones are used).
 *
 * Thread safe. Errors never contain key material.
 */
#ifndef SPOOL_AWSCREDS_H
#define SPOOL_AWSCREDS_H

#include <time.h>

#include "buf.h"
#include "config.h"

/* A credential set; every string owned by the struct (NULL session_token: none). */
struct aws_credentials {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;
	time_t expiration;       /* 0: does not expire */
	char source[32];         /* "static", "environment", "profile", "container", "imds" */
};

void aws_credentials_clear(struct aws_credentials *c);
/* Deep copy; `dst` must be cleared or zeroed first. */
void aws_credentials_copy(struct aws_credentials *dst, const struct aws_credentials *src);

struct awscreds;

/* The standard chain for cfg ([aws] profile). Never NULL. Nothing is fetched yet. */
struct awscreds *awscreds_new(const struct config *cfg);
/* Fixed credentials (strings copied); `token` may be NULL. */
struct awscreds *awscreds_new_static(const char *access_key_id, const char *secret_access_key,
				     const char *token);
/* Replace the credentials of a static provider (rotation). */
void awscreds_set_static(struct awscreds *p, const char *access_key_id,
			 const char *secret_access_key, const char *token);
void awscreds_free(struct awscreds *p);

/*
 * Copy the current credentials into `out` (clear it with aws_credentials_clear()).
 * Returns 0, or -1 with a reason in `err` (no source had credentials, or a fetch failed).
 */
int awscreds_get(struct awscreds *p, struct aws_credentials *out, struct buf *err);
/* Forget the cached credentials (e.g. after ExpiredToken) so the next get refetches. */
void awscreds_invalidate(struct awscreds *p);

/* --- parts of the chain, exposed for tests --- */

/* From the environment: 0 found, 1 not set. */
int awscreds_from_env(struct aws_credentials *out);
/*
 * Look `profile` up in the text of a shared credentials file and a config file
 * (either may be NULL). The credentials file wins key by key.
 * Returns 0 found, 1 no such profile or no keys, -1 incomplete (reason in err).
 */
int awscreds_parse_profile(const char *credentials_text, const char *config_text,
			   const char *profile, struct aws_credentials *out, struct buf *err);
/*
 * Parse the JSON document of the container endpoint or IMDS: 0, or -1 (reason in
 * err) when it is not a JSON object, its Code is not "Success", AccessKeyId or
 * SecretAccessKey is missing or empty, or Expiration is not an RFC 3339 time.
 */
int awscreds_parse_json(const char *json, struct aws_credentials *out, struct buf *err);

#endif
