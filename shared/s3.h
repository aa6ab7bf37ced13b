/*
 * s3 — the S3 client: objects, listing, multipart uploads, presigned URLs.
 *
 * Endpoint: [s3] endpoint_url, else [aws] endpoint_url, else
 * https://s3.REGION.amazonaws.com (REGION = [s3] region, else [aws] region).
 * Path-style addressing (endpoint/bucket/key) with a custom endpoint, with
 * force_path_style, or for bucket names with dots; virtual-hosted otherwise.
 * Credentials: [s3] credentials_secret (a JSON {"access_key_id",
 * "secret_access_key"[, "session_token"]} resolved with secrets.h on first use and
 * refetched once when S3 rejects the key: rotation), else the standard chain.
 *
 * A struct s3 is safe to share across threads; each thread reuses its own curl
 * handle (see aws.h, aws_thread_cleanup()). Every call retries transient errors
 * per aws.h and on failure fills `err` (may be NULL) and returns -1.
 * Keys are raw (unencoded) UTF-8; they are URI-encoded here.
 */
#ifndef SPOOL_S3_H
#define SPOOL_S3_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "aws.h"
#include "buf.h"
#include "config.h"
#include "secrets.h"

struct s3;
struct s3_upload;

/* One listed or HEAD-ed object; `key` owned (free with s3_objects_free / free()). */
struct s3_object {
	char *key;
	int64_t size;
	char etag[80];           /* without quotes */
	time_t last_modified;
};

/* A client for cfg's [s3] bucket. `sec` (borrowed, may be NULL unless
 * credentials_secret is set) must outlive it. Never NULL. */
struct s3 *s3_new(const struct config *cfg, struct secrets *sec);
void s3_free(struct s3 *s);
const char *s3_bucket(const struct s3 *s);

/*
 * Upload a file. Files of at least [s3] multipart_threshold go up as a multipart
 * upload, parts of part_size sent by upload_concurrency threads; on failure the
 * upload is aborted. content_type may be NULL (binary/octet-stream).
 */
int s3_put_file(struct s3 *s, const char *key, const char *path, const char *content_type,
		struct aws_error *err);
int s3_put_buffer(struct s3 *s, const char *key, const void *data, size_t len,
		  const char *content_type, struct aws_error *err);
/*
 * Download to `path` (created or truncated; removed again on failure). With
 * max > 0 an object longer than `max` bytes fails the download (not retried)
 * as soon as its byte max + 1 arrives.
 */
int s3_get_file(struct s3 *s, const char *key, const char *path, int64_t max, struct aws_error *err);
/* Object metadata into `out` (out->key set to a copy of key). 0, 1 if not found, -1. */
int s3_head(struct s3 *s, const char *key, struct s3_object *out, struct aws_error *err);
/* Delete (deleting a missing key succeeds). */
int s3_delete(struct s3 *s, const char *key, struct aws_error *err);
/*
 * List every page of ListObjectsV2 under `prefix` (may be NULL). With a delimiter
 * (may be NULL) common prefixes go to *prefixes. Arrays are owned by the caller:
 * s3_objects_free(objs, n), and each prefix plus the array with free(). `prefixes`
 * and `nprefixes` may be NULL.
 */
int s3_list(struct s3 *s, const char *prefix, const char *delimiter, struct s3_object **objs,
	    size_t *nobjs, char ***prefixes, size_t *nprefixes, struct aws_error *err);
void s3_objects_free(struct s3_object *objs, size_t n);
/*
 * A presigned URL for `method` ("GET", "PUT", ...) on `key` into `url` (reset
 * first). expires <= 0 means [s3] presign_expires; it is clamped to 7 days and to
 * the credentials' remaining lifetime. *expires_at (may be NULL) gets the expiry.
 */
int s3_presign(struct s3 *s, const char *method, const char *key, int64_t expires, struct buf *url,
	       time_t *expires_at, struct aws_error *err);
/*
 * A presigned PUT of `key` for a body of exactly `size` bytes: Content-Length is
 * one of the signed headers, so S3 refuses (403 SignatureDoesNotMatch) a PUT of
 * any other length. Expiry as s3_presign().
 */
int s3_presign_put(struct s3 *s, const char *key, int64_t size, int64_t expires, struct buf *url,
		   time_t *expires_at, struct aws_error *err);

/*
 * Streaming upload of data arriving in pieces (e.g. an HTTP request body).
 * Data is buffered to part_size and sent part by part; the multipart upload is
 * only created once the first full part exists, so a small upload becomes one PUT.
 * `size` is the number of bytes that will come, or -1 when unknown: the buffer,
 * allocated once at the first byte, is exactly s3_upload_buffer(s, size) bytes
 * (plus one), and s3_upload_part() refuses bytes past `size`.
 * s3_upload_complete() and s3_upload_abort() free the handle. After a failed
 * s3_upload_part() the caller must still call s3_upload_abort().
 */
struct s3_upload *s3_upload_begin(struct s3 *s, const char *key, const char *content_type, int64_t size,
				  struct aws_error *err);
/* The bytes an upload of `size` bytes (-1: unknown) buffers: part_size, or size when smaller. */
int64_t s3_upload_buffer(const struct s3 *s, int64_t size);
int s3_upload_part(struct s3_upload *u, const void *data, size_t len, struct aws_error *err);
int s3_upload_complete(struct s3_upload *u, struct aws_error *err);
void s3_upload_abort(struct s3_upload *u);
/* Bytes accepted so far. */
int64_t s3_upload_size(const struct s3_upload *u);

/* HeadBucket: can we reach the bucket with our credentials? (for /ready) */
int s3_ping(struct s3 *s, struct aws_error *err);

/*
 * --- reading S3's XML answers (what s3_list and the multipart upload use; exposed
 * for tests and fuzzing) ---
 */

/*
 * A listing grown page by page: objs[0..nobjs) and prefixes[0..nprefixes), each
 * array allocated to its *_cap. Zero it before the first page; it owns the
 * arrays, their keys and prefixes until s3_listing_release() (which zeroes it).
 */
struct s3_listing {
	struct s3_object *objs;
	size_t nobjs, objs_cap;
	char **prefixes;
	size_t nprefixes, prefixes_cap;
};
void s3_listing_release(struct s3_listing *l);
/*
 * Parse one ListObjectsV2 answer page of `len` bytes: append its Contents that
 * have a Key to l->objs and, when `want_prefixes`, its CommonPrefixes to
 * l->prefixes. Returns 1 when IsTruncated is "true" (NextContinuationToken is
 * then copied into `token`), 0 when this is the last page, and -1 when a
 * truncated page has no continuation token or an empty one (what the page held
 * is kept in `l`).
 */
int s3_list_parse(const char *xml, size_t len, struct s3_listing *l, int want_prefixes,
		  struct buf *token);
/* A CreateMultipartUpload answer: 0 with its UploadId in `upload_id` (replacing
 * what it held), or -1 when it has none. */
int s3_multipart_parse_create(const char *xml, size_t len, struct buf *upload_id);
/*
 * A CompleteMultipartUpload answer with status 200 may still be a failure: 0 when
 * it holds no <Error>, else -1 with `err` (may be NULL) filled as for an HTTP 500.
 */
int s3_multipart_parse_complete(const char *xml, size_t len, struct aws_error *err);

#endif
