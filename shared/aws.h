/*
 * aws — the common HTTP call of every AWS client (S3, Secrets Manager, CloudWatch).
 *
 * aws_client_call() signs a request with SigV4 and performs it with libcurl, with
 * the AWS SDK "standard" retry mode:
 *   - retried: connection errors and timeouts, HTTP 500/502/503/504, 429, and the
 *     throttling / transient error codes (Throttling, SlowDown, RequestTimeout, ...);
 *   - delay before retry n (n = 1 after the first failed attempt) is
 *     random[0,1) * 2^(n-1) seconds, capped at 20 s (full jitter);
 *   - at most [aws] max_attempts attempts, and a client-wide retry quota (500
 *     tokens; a retry costs 5, 10 after a timeout; a success refunds its cost, a
 *     first-try success adds 1) so that an outage does not multiply the load;
 *   - an expired-token answer makes the credentials be refetched and the call
 *     retried once.
 * Each thread reuses one curl handle (connection and TLS session reuse); a thread
 * that made calls should call aws_thread_cleanup() before it exits (a pthread key
 * destructor does it for threads that end without calling it).
 * Timeouts: [aws] timeout is the whole-call limit for small requests; for streamed
 * bodies (files, large buffers) it is a stall limit (no byte moved for that long).
 */
#ifndef SPOOL_AWS_H
#define SPOOL_AWS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "awscreds.h"
#include "buf.h"
#include "config.h"
#include "sigv4.h"

/*
 * The outcome of a failed call. status is the HTTP status (0: no answer: network
 * error or timeout), code the AWS error code ("NoSuchKey", "ThrottlingException",
 * or a name for the transport error), message a human line, transient whether a
 * later retry of the whole operation may succeed.
 */
struct aws_error {
	long status;
	char code[64];
	char message[512];
	bool transient;
};

void aws_error_clear(struct aws_error *e);
void aws_error_set(struct aws_error *e, long status, const char *code, bool transient,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Append "CODE (HTTP 503, transient): message" to `out`. */
void aws_error_format(const struct aws_error *e, struct buf *out);
/*
 * Fill `e` from an error response: XML (<Error><Code>/<Message>, S3 and Query
 * protocols) or JSON ("__type"/"code", "message"/"Message"), falling back to
 * `type_header` (x-amzn-ErrorType) and then to a name for the status.
 * Sets e->transient by aws_error_is_transient().
 */
void aws_error_parse(long status, const char *body, size_t len, const char *type_header,
		     struct aws_error *e);
/* Throttling codes (retried by the standard mode). */
bool aws_error_is_throttle(const char *code);
/* Whether a status/code pair is worth retrying. */
bool aws_error_is_transient(long status, const char *code);

/* Standard-mode delay in milliseconds before retry `retry` (1-based), r in [0,1). */
int64_t aws_retry_delay_ms(int retry, double r);

/* Retry quota (token bucket) as used by aws_client_call; exposed for tests. */
struct aws_retry_quota {
	int tokens;
};
#define AWS_RETRY_QUOTA_MAX 500
#define AWS_RETRY_COST 5
#define AWS_RETRY_TIMEOUT_COST 10
/* Take the cost of a retry; returns the cost taken, or 0 when the quota is empty. */
int aws_retry_quota_acquire(struct aws_retry_quota *q, bool is_timeout);
/* After a success: refund `cost` (the cost of the retry that succeeded) or add 1. */
void aws_retry_quota_release(struct aws_retry_quota *q, int cost);

struct aws_client;

/* A client using cfg's [aws] timeout/max_attempts and `creds` (borrowed). Never NULL. */
struct aws_client *aws_client_new(const struct config *cfg, struct awscreds *creds);
void aws_client_free(struct aws_client *c);
/* Free the calling thread's curl handle. */
void aws_thread_cleanup(void);

struct aws_request {
	const char *method;
	const char *endpoint;    /* "https://host[:port][/base]" */
	const char *path;        /* wire path ("/" or "/bucket/key%20x"); appended to base */
	const char *query;       /* wire query without '?', or NULL */
	const char *region;
	const char *service;     /* signing name: "s3", "secretsmanager", "monitoring" */
	unsigned sign_flags;     /* SIGV4_* */
	const struct sigv4_header *headers; /* extra headers, sent and signed */
	size_t nheaders;
	const void *body;        /* request body in memory, or */
	size_t body_len;
	FILE *body_fp;           /* a body read from a file: body_len bytes from body_offset */
	int64_t body_offset;
	const char *payload_hash; /* hex SHA-256 of the body if known (required with body_fp) */
	FILE *out_fp;            /* 2xx body streamed here; truncated/rewound on retry */
	int64_t out_max;         /* with out_fp: a longer 2xx body fails the call, not retried; 0: no limit */
	int max_attempts;        /* 0: from config */
};

struct aws_response {
	long status;
	struct buf body;         /* non-2xx bodies, and 2xx bodies when out_fp is NULL */
	struct buf headers;      /* raw header block of the final response */
};

void aws_response_init(struct aws_response *r);
void aws_response_release(struct aws_response *r);
/* Value of response header `name` (case-insensitive) into `out`; 0 found, -1 not. */
int aws_response_header(const struct aws_response *r, const char *name, struct buf *out);

/*
 * Put a request's streams back to their start before it is sent again: the body
 * file to body_offset, the output file emptied. 0, or -1 if a file cannot seek.
 */
int aws_request_rewind(const struct aws_request *req);

/*
 * Perform the request (with retries). Returns 0 on a 2xx answer, or -1 with `err`
 * filled (resp->status and resp->body still describe the last answer, if any).
 */
int aws_client_call(struct aws_client *c, const struct aws_request *req, struct aws_response *resp,
		    struct aws_error *err);

/* Split "scheme://authority/base" into host ("authority") and base path (may be ""). */
int aws_endpoint_split(const char *endpoint, struct buf *scheme_host, struct buf *host,
		       struct buf *base);

/* --- minimal XML reading for AWS responses --- */

/*
 * Find the next <tag>...</tag> element in [xml, xml+len); sets *val and *vlen to its
 * raw contents and returns the position after it, or NULL if there is none.
 */
const char *aws_xml_find(const char *xml, size_t len, const char *tag, const char **val, size_t *vlen);
/* Append the text with the five XML entities and numeric references decoded. */
void aws_xml_unescape(struct buf *out, const char *s, size_t len);
/* Copy element `tag`'s decoded text into out (reset first); 0 found, -1 not. */
int aws_xml_get(const char *xml, size_t len, const char *tag, struct buf *out);

#endif
