/*
 * routes_videos — POST /v1/videos: the request body is the video (raw, or the
 * `file` field of a multipart/form-data body), streamed to S3 as it arrives, then
 * a video.transcode job is submitted through the same path as POST /v1/jobs.
 *
 * The order: headers in → 413 by Content-Length, 415, 422 for the query
 * parameters (so a rejected body is never read); each body chunk → S3
 * (s3_upload_part buffers up to [s3] part_size, then sends a part), so memory is
 * about one part per upload whatever the size; body complete → the upload is
 * completed and the job created. A body that passes api.max_upload while it
 * streams (chunked or multipart), an S3 failure or a malformed multipart body
 * aborts the upload at once; the rest of the body is read and dropped (MHD cannot
 * queue a response while it hands us upload data) up to DISCARD_MAX, then the
 * connection is closed. A client that goes away mid-body gets its upload aborted
 * in videos_release(), so no object and no multipart upload is left behind.
 * libmicrohttpd (0.9.75, epoll) usually reports the close at once; when the close
 * races its edge-triggered reads of the last data, the body looks idle and the
 * abort comes at api.upload_idle_timeout, when conns.c shuts the socket down.
 *
 * Memory: the S3 part buffers of all uploads together stay within
 * api.upload_buffer, and those of one API key within api.upload_buffer_per_key
 * (so that one tenant's uploads leave room for the others'). An upload takes its
 * share, s3_upload_buffer() (part_size, or its Content-Length when smaller), when
 * its headers are in, before anything is allocated; one that finds too little
 * left is answered 503 with Retry-After before its body is read. The share goes
 * back when the buffer is freed: the upload completed, failed (upload_fail) or
 * ended with its request (videos_release), whichever comes first, exactly once
 * (upload_end). A body that sends nothing for api.upload_idle_timeout has its
 * connection shut down (conns.c), which ends the request and so the upload.
 *
 * Threading: all of this runs in the MHD pool thread serving the connection.
 * While a part is sent to S3 that thread blocks, and with it the other
 * connections it polls; with api.threads pool threads this is acceptable (a part
 * goes in well under a second to a nearby S3), but uploads and other requests
 * share those threads.
 */
#include "api.h"
#include "log.h"
#include "videoparams.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#define POST_BUFFER 16384
#define DISCARD_MAX (16 * 1024 * 1024)
#define CONTENT_TYPE_MAX 127

/* One upload in progress; r->video. */
struct video_upload {
	struct api *api;
	struct s3_upload *up;          /* NULL until the first byte, and once completed or aborted */
	struct MHD_PostProcessor *pp;  /* multipart bodies only */
	json_t *params;                /* the query parameters, validated */
	char priority[8];              /* ?priority=, checked; "" when absent */
	char key[256];                 /* uploads/<tenant>/<uuid> */
	char content_type[CONTENT_TYPE_MAX + 1];  /* of the stored object */
	int64_t limit;                 /* api.max_upload */
	int64_t received;              /* body bytes, as sent (multipart framing included) */
	int64_t discarded;             /* body bytes dropped after a failure */
	int64_t file_bytes;            /* bytes of the video itself */
	int64_t size;                  /* Content-Length of a body not chunked; -1 unknown */
	int64_t reserved;              /* bytes of upload_buffer held (budget_take) */
	char key_id[37];               /* the API key's, whose share `reserved` counts against */
	bool multipart;                /* multipart/form-data body */
	bool file_field;               /* multipart: the `file` field has begun */
	/* The first failure, answered once the body is in; 0 none. */
	unsigned fail_status;
	const char *fail_code;
	const char *fail_field;
	struct buf fail_msg;
};

/* The media type of a Content-Type, without parameters, for the stored object. */
static void object_type(const char *ct, char out[CONTENT_TYPE_MAX + 1])
{
	size_t n = ct ? strcspn(ct, "; \t") : 0;
	if (!ct || !validate_media_type(ct, "video/") || n > CONTENT_TYPE_MAX) {
		snprintf(out, CONTENT_TYPE_MAX + 1, "application/octet-stream");
		return;
	}
	memcpy(out, ct, n);
	out[n] = '\0';
}

/* ---- the memory budget ----------------------------------------------------------- */

/* Part-buffer bytes held by uploads in progress: in all, and by each API key holding some. */
static struct {
	pthread_mutex_t mu;
	int64_t total;
	struct held {
		char key_id[37];
		int64_t bytes;
	} *keys;
	size_t n, cap;
} budget = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* The entry of `key_id`, made when absent (lock held). */
static struct held *held_of(const char *key_id)
{
	for (size_t i = 0; i < budget.n; i++)
		if (!strcmp(budget.keys[i].key_id, key_id))
			return &budget.keys[i];
	if (budget.n == budget.cap) {
		budget.cap = budget.cap ? budget.cap * 2 : 16;
		budget.keys = xrealloc(budget.keys, budget.cap * sizeof(*budget.keys));
	}
	struct held *h = &budget.keys[budget.n++];
	snprintf(h->key_id, sizeof(h->key_id), "%s", key_id);
	h->bytes = 0;
	return h;
}

/* Hold v->reserved bytes for v's key: 0; -1 over the key's share; -2 over the whole budget. */
static int budget_take(struct video_upload *v, const struct config_api *c)
{
	int rc = 0;
	pthread_mutex_lock(&budget.mu);
	struct held *h = held_of(v->key_id);
	if (h->bytes + v->reserved > c->upload_buffer_per_key)
		rc = -1;
	else if (budget.total + v->reserved > c->upload_buffer)
		rc = -2;
	else {
		h->bytes += v->reserved;
		budget.total += v->reserved;
	}
	if (!h->bytes)
		*h = budget.keys[--budget.n];
	pthread_mutex_unlock(&budget.mu);
	if (rc < 0)
		v->reserved = 0;
	return rc;
}

/* The upload is over: abort what is still open at S3 and give its share back. */
static void upload_end(struct video_upload *v)
{
	s3_upload_abort(v->up);
	v->up = NULL;
	if (!v->reserved)
		return;
	pthread_mutex_lock(&budget.mu);
	struct held *h = held_of(v->key_id);
	h->bytes -= v->reserved;
	budget.total -= v->reserved;
	if (!h->bytes)
		*h = budget.keys[--budget.n];
	pthread_mutex_unlock(&budget.mu);
	v->reserved = 0;
}

void videos_budget_free(void)
{
	pthread_mutex_lock(&budget.mu);
	free(budget.keys);
	budget.keys = NULL;
	budget.n = budget.cap = 0;
	pthread_mutex_unlock(&budget.mu);
}

/* ---- query parameters -> params ----------------------------------------------- */

static enum MHD_Result param_add(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	json_t *params = cls;
	(void)kind;
	if (key)
		json_object_set_new(params, key, validate_video_param(key, value));
	return MHD_YES;
}

/*
 * The query parameters as validated job params, or NULL with the 422 queued in
 * *ret; `priority` gets the job's priority (?priority=, not a param), "" when absent.
 */
static json_t *query_params(struct req *r, char priority[8], enum MHD_Result *ret)
{
	json_t *params = json_object();
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, param_add, params);
	json_t *prio = json_object_get(params, "priority");
	enum jobprio p = JOBPRIO_NORMAL;
	*priority = '\0';
	if (prio && jobprio_parse(json_string_value(prio), &p) < 0) {
		*ret = reply_error(r, 422, "invalid", "priority",
				   "query parameter 'priority' must be one of \"high\", \"normal\", \"low\"");
		json_decref(params);
		return NULL;
	}
	if (prio) {
		snprintf(priority, 8, "%s", jobprio_name(p));
		json_object_del(params, "priority");
	}
	struct video_params vp;
	struct buf field = BUF_INIT, msg = BUF_INIT;
	if (videoparams_parse(params, &vp, &field, &msg) < 0) {
		*ret = reply_error(r, 422, "invalid", buf_str(&field), "query parameter '%s' %s",
				   buf_str(&field), buf_str(&msg));
		json_decref(params);
		params = NULL;
	}
	buf_release(&field);
	buf_release(&msg);
	return params;
}

/* ---- the upload ---------------------------------------------------------------- */

/* Record the first failure and abort the upload: nothing more goes to S3. */
static void upload_fail(struct video_upload *v, unsigned status, const char *code, const char *field,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void upload_fail(struct video_upload *v, unsigned status, const char *code, const char *field,
			const char *fmt, ...)
{
	if (v->fail_status)
		return;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&v->fail_msg, fmt, ap);
	va_end(ap);
	v->fail_status = status;
	v->fail_code = code;
	v->fail_field = field;
	upload_end(v);
}

static void storage_failed(struct video_upload *v, const struct aws_error *aerr)
{
	struct buf m = BUF_INIT;
	aws_error_format(aerr, &m);
	log_warn("storage unavailable: upload '%s': %s", v->key, buf_str(&m));
	buf_release(&m);
	upload_fail(v, 503, "unavailable", NULL, "the storage is unavailable; try again later");
}

/* Bytes of the video itself: to S3 (the multipart upload starts at the first full part). */
static int upload_write(struct video_upload *v, const char *data, size_t len)
{
	struct aws_error aerr;
	if (v->fail_status || len == 0)
		return v->fail_status ? -1 : 0;
	if (!v->up)
		v->up = s3_upload_begin(v->api->s3, v->key, v->content_type, v->size, &aerr);
	if (!v->up || s3_upload_part(v->up, data, len, &aerr) < 0) {
		storage_failed(v, &aerr);
		return -1;
	}
	v->file_bytes += (int64_t)len;
	return 0;
}

/* MHD_PostProcessor's iterator: the `file` field goes to S3, other fields are ignored. */
static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
				const char *content_type, const char *transfer_encoding, const char *data,
				uint64_t off, size_t size)
{
	struct video_upload *v = cls;
	(void)kind;
	(void)filename;
	(void)transfer_encoding;
	if (!key || strcmp(key, "file") != 0)
		return MHD_YES;
	if (off == 0 && v->file_bytes > 0) {
		upload_fail(v, 400, "bad_request", "file", "the multipart body has more than one 'file' field");
		return MHD_NO;
	}
	if (off == 0 && !v->file_field) {
		v->file_field = true;
		object_type(content_type, v->content_type);
	}
	return upload_write(v, data, size) == 0 ? MHD_YES : MHD_NO;
}

/* Take the upload's share of api.upload_buffer: 0, or -1 with the 503 queued in *ret. */
static int upload_reserve(struct req *r, struct video_upload *v, enum MHD_Result *ret)
{
	const struct config_api *c = &r->api->cfg->api;
	v->reserved = s3_upload_buffer(r->api->s3, v->size);
	int rc = budget_take(v, c);
	if (rc == -1) {
		log_warn("upload refused: key '%s' holds its upload_buffer_per_key (%lld bytes)", v->key_id,
			 (long long)c->upload_buffer_per_key);
		*ret = reply_busy(r, "too many uploads are in progress for this API key; "
				     "try again when one has finished");
	} else if (rc == -2) {
		log_warn("upload refused: the uploads in progress hold upload_buffer (%lld bytes)",
			 (long long)c->upload_buffer);
		*ret = reply_busy(r, "too many uploads are in progress; try again in a few seconds");
	}
	return rc < 0 ? -1 : 0;
}

int videos_precheck(struct req *r, enum MHD_Result *ret)
{
	int64_t limit = r->api->cfg->api.max_upload;
	const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
	const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Transfer-Encoding");
	unsigned long long n = 0;
	if (cl && validate_content_length(cl, (uint64_t)limit, &n) < 0) {
		*ret = reply_error(r, 413, "too_large", NULL,
				   "the video is larger than the limit of %lld bytes", (long long)limit);
		return -1;
	}
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
	bool multipart = ct && validate_media_type(ct, "multipart/form-data");
	if (!ct || (!multipart && !validate_media_type(ct, "video/") && !validate_media_type(ct, "application/octet-stream"))) {
		*ret = reply_error(r, 415, "unsupported_media_type", NULL,
				   "Content-Type must be 'video/*', 'application/octet-stream' or "
				   "'multipart/form-data', not '%s'", ct ? ct : "");
		return -1;
	}
	char priority[8];
	json_t *params = query_params(r, priority, ret);
	if (!params)
		return -1;
	struct video_upload *v = xcalloc(1, sizeof(*v));
	v->api = r->api;
	v->params = params;
	memcpy(v->priority, priority, sizeof(v->priority));
	v->limit = limit;
	snprintf(v->key_id, sizeof(v->key_id), "%s", r->key_id);
	v->size = cl && !te ? (int64_t)n : -1; /* MHD reads a chunked body whatever its Content-Length */
	buf_init(&v->fail_msg);
	object_type(ct, v->content_type);
	uuid_t u;
	char id[37];
	uuid_generate_random(u);
	uuid_unparse_lower(u, id);
	snprintf(v->key, sizeof(v->key), "uploads/%s/%s", r->tenant, id);
	r->video = v;
	v->multipart = multipart;
	if (multipart) {
		v->pp = MHD_create_post_processor(r->conn, POST_BUFFER, on_field, v);
		if (!v->pp) {
			*ret = reply_error(r, 400, "bad_request", NULL,
					   "Content-Type 'multipart/form-data' needs a boundary parameter");
			return -1;
		}
	}
	if (upload_reserve(r, v, ret) < 0)
		return -1;
	conns_phase(r->conn, CONN_UPLOAD);
	return 0;
}

enum MHD_Result videos_body(struct req *r, const char *data, size_t *size)
{
	struct video_upload *v = r->video;
	size_t n = *size;
	*size = 0;
	conns_phase(r->conn, CONN_UPLOAD);
	v->received += (int64_t)n;
	if (!v->fail_status && v->received > v->limit)
		upload_fail(v, 413, "too_large", NULL, "the video is larger than the limit of %lld bytes",
			    (long long)v->limit);
	if (v->fail_status) {
		/* Drop the rest so the error can be answered; a body far too long is cut off. */
		v->discarded += (int64_t)n;
		return v->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	if (!v->pp) {
		upload_write(v, data, n);
	} else if (MHD_post_process(v->pp, data, n) != MHD_YES) {
		upload_fail(v, 400, "bad_request", NULL, "the multipart/form-data body is malformed");
	}
	return MHD_YES;
}

/* The body is in: the object exists at v->key, or a response is queued in *ret. */
static int upload_finish(struct req *r, struct video_upload *v, enum MHD_Result *ret)
{
	struct aws_error aerr;
	if (v->pp && MHD_destroy_post_processor(v->pp) != MHD_YES)
		upload_fail(v, 400, "bad_request", NULL, "the multipart/form-data body is incomplete");
	v->pp = NULL;
	if (!v->fail_status && v->file_bytes == 0)
		upload_fail(v, 400, "bad_request", v->multipart ? "file" : NULL, "%s",
			    v->multipart && !v->file_field ? "the multipart body has no 'file' field"
							   : "the video is empty");
	if (v->fail_status) {
		*ret = reply_error(r, v->fail_status, v->fail_code, v->fail_field, "%s", buf_str(&v->fail_msg));
		return -1;
	}
	struct s3_upload *up = v->up;
	v->up = NULL;
	int rc = s3_upload_complete(up, &aerr);
	upload_end(v);
	if (rc < 0) {
		storage_failed(v, &aerr);
		*ret = reply_error(r, v->fail_status, v->fail_code, v->fail_field, "%s", buf_str(&v->fail_msg));
		return -1;
	}
	return 0;
}

enum MHD_Result route_videos_create(struct req *r)
{
	struct video_upload *v = r->video;
	enum MHD_Result ret;
	if (upload_finish(r, v, &ret) < 0)
		return ret;
	json_t *body = json_object();
	json_object_set_new(body, "type", json_string("video.transcode"));
	json_object_set_new(body, "source", json_pack("{s:s}", "key", v->key));
	json_object_set(body, "params", v->params);
	if (*v->priority)
		json_object_set_new(body, "priority", json_string(v->priority));
	ret = jobs_submit(r, body);
	if (r->status != 202) {
		/* No new job uses the object (refused, an idempotent replay, or no database). */
		struct aws_error aerr;
		if (s3_delete(r->api->s3, v->key, &aerr) < 0)
			log_warn("cannot delete the unused upload '%s': %s", v->key, aerr.message);
	}
	return ret;
}

void videos_release(struct req *r, enum MHD_RequestTerminationCode toe)
{
	struct video_upload *v = r->video;
	if (!v)
		return;
	r->video = NULL;
	if (v->up) {
		log_set_request_id(r->request_id);
		log_info("upload '%s' aborted after %lld bytes (request ended with code %d)", v->key,
			 (long long)v->received, (int)toe);
		log_set_request_id(NULL);
	}
	upload_end(v);
	if (v->pp)
		MHD_destroy_post_processor(v->pp);
	json_decref(v->params);
	buf_release(&v->fail_msg);
	free(v);
}
