/*
 * sigv4 — AWS Signature Version 4: header authentication and presigned (query)
 * authentication, plus the hashing and URI-encoding helpers the AWS clients share.
 *
 * Paths and queries are given as they go on the wire. Build them with
 * sigv4_uri_encode() from raw keys/values. The canonical URI is then:
 *   - S3 (SIGV4_S3): the wire path as is (no normalisation, no second encoding;
 *     stray bytes outside the unreserved set, '/' and "%XX" are encoded);
 *   - every other service: the wire path with dot segments and empty segments
 *     removed, then URI-encoded again (AWS's "double encoding").
 * The canonical query is the wire query decoded ('+' is a literal plus) and
 * re-encoded, sorted by key then value.
 *
 * Nothing here allocates except the struct bufs in struct sigv4_out, which the
 * caller owns (sigv4_out_release()). Secret keys are only ever fed to HMAC.
 */
#ifndef SPOOL_SIGV4_H
#define SPOOL_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "buf.h"

#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_MAX_PRESIGN_EXPIRES (7 * 24 * 3600)

/* Borrowed credentials; session_token may be NULL or "". */
struct sigv4_creds {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
};

/* One request header; both strings borrowed. */
struct sigv4_header {
	const char *name;
	const char *value;
};

enum {
	SIGV4_S3 = 1 << 0,            /* S3 path rules and x-amz-content-sha256 header */
	SIGV4_NO_CONTENT_SHA = 1 << 1, /* with SIGV4_S3: do not sign x-amz-content-sha256 */
};

struct sigv4_request {
	const char *method;      /* "GET", "PUT", ... */
	const char *host;        /* Host header value, with ":port" when not the default */
	const char *path;        /* wire path, starting with '/' */
	const char *query;       /* wire query without '?', or NULL */
	const struct sigv4_header *headers; /* extra headers to sign (not Host) */
	size_t nheaders;
	const void *body;        /* payload for hashing when payload_hash is NULL */
	size_t body_len;
	const char *payload_hash; /* hex SHA-256 or SIGV4_UNSIGNED_PAYLOAD; NULL: hash body */
};

struct sigv4_params {
	const char *region;
	const char *service;
	time_t now;
	unsigned flags;          /* SIGV4_* */
	int64_t expires;         /* presign only: seconds, 1 .. 7 days */
};

/*
 * The result. For header auth the caller sends the request with the headers
 * "Authorization: <authorization>", "X-Amz-Date: <amz_date>", and when set
 * "X-Amz-Security-Token" (session token) and "X-Amz-Content-Sha256: <payload_hash>"
 * (S3). For presigning `query` is the complete wire query to put after '?'.
 */
struct sigv4_out {
	char amz_date[17];       /* 20150830T123600Z */
	char signature[65];
	char payload_hash[65];   /* hex, or UNSIGNED-PAYLOAD */
	struct buf canonical_request;
	struct buf string_to_sign;
	struct buf signed_headers;
	struct buf authorization; /* header auth */
	struct buf query;         /* presign */
};

void sigv4_out_init(struct sigv4_out *out);
void sigv4_out_release(struct sigv4_out *out);

/* Sign with the Authorization header. Returns 0, or -1 on a malformed request. */
int sigv4_sign(const struct sigv4_creds *creds, const struct sigv4_params *p,
	       const struct sigv4_request *req, struct sigv4_out *out);
/*
 * Presign (query auth). The payload hash defaults to UNSIGNED-PAYLOAD for S3 and
 * the empty-body hash for others. Returns -1 if expires is outside 1 .. 7 days.
 */
int sigv4_presign(const struct sigv4_creds *creds, const struct sigv4_params *p,
		  const struct sigv4_request *req, struct sigv4_out *out);

/* Append `s` URI-encoded (RFC 3986 unreserved kept; '/' kept when keep_slash). */
void sigv4_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash);
/* Percent-decode `s` into `out` ('+' stays '+'). */
void sigv4_uri_decode(struct buf *out, const char *s, size_t len);
/* Canonical URI / query as described above (exposed for tests). */
void sigv4_canonical_uri(struct buf *out, const char *path, unsigned flags);
void sigv4_canonical_query(struct buf *out, const char *query);

/* Lower-case hex SHA-256 of a buffer into hex[65]. */
void sigv4_sha256_hex(const void *data, size_t len, char hex[65]);
/*
 * Lower-case hex SHA-256 of `len` bytes of `fp` from offset `off` (len < 0: up to
 * the end) into hex[65]; the bytes read into *size when size is not NULL.
 * 0, or -1 when the file cannot seek, is short of `len` bytes or has a read error.
 */
int sigv4_sha256_file(FILE *fp, int64_t off, int64_t len, char hex[65], int64_t *size);
/* Format `t` as 20150830T123600Z into out[17]. */
void sigv4_amz_date(time_t t, char out[17]);

#endif
