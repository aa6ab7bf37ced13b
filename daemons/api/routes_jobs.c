/*
 * routes_jobs — the authenticated job endpoints (spool-api(8)): submit, read (with
 * ?wait), list, cancel, result redirect, and presigned uploads.
 *
 * Every handler runs with r->tenant set (server.c authenticated the request) and
 * sees only that tenant's jobs: another tenant's job is a 404, like a missing one.
 */
#include "api.h"
#include "archive.h"
#include "jobcodec.h"
#include "jobops.h"
#include "log.h"
#include "timefmt.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uuid/uuid.h>

#define DB_WAIT_MS 2000

/* Take a pooled connection or queue 503. */
static struct db_conn *db_take(struct req *r, enum MHD_Result *ret)
{
	struct buf err = BUF_INIT;
	struct db_conn *c = db_acquire(r->api->db, DB_WAIT_MS, &err);
	if (!c)
		*ret = reply_unavailable(r, "database", buf_str(&err));
	buf_release(&err);
	return c;
}

/* A database call failed: log it with the request id, answer 503. */
static enum MHD_Result db_failed(struct req *r, struct db_conn *c, const struct buf *err)
{
	db_release(c);
	return reply_unavailable(r, "database", buf_str(err));
}

/* Add "url" and "expires_at" of a presigned GET of obj["key"] to obj; 0 or -1. */
static int presign_into(struct api *a, json_t *obj)
{
	const char *key = json_string_value(json_object_get(obj, "key"));
	if (!key)
		return -1;
	struct buf url = BUF_INIT;
	struct aws_error aerr;
	time_t exp = 0;
	int rc = s3_presign(a->s3, "GET", key, a->cfg->api.result_url_expires, &url, &exp, &aerr);
	if (rc == 0) {
		char at[32];
		timefmt_utc(exp, at);
		json_object_set_new(obj, "url", json_string(buf_str(&url)));
		json_object_set_new(obj, "expires_at", json_string(at));
	} else {
		log_warn("cannot presign '%s': %s", key, aerr.message);
	}
	buf_release(&url);
	return rc == 0 ? 0 : -1;
}

/* The job as the API shows it: jobcodec_to_json plus presigned URLs of its results. */
json_t *api_job_json(struct api *a, const struct job *j)
{
	json_t *o = jobcodec_to_json(j);
	json_t *res = json_object_get(o, "result");
	if (j->status != JOB_SUCCEEDED || !json_is_object(res))
		return o;
	res = json_deep_copy(res);
	presign_into(a, res);
	json_t *outs = json_object_get(res, "outputs");
	const char *name;
	json_t *out;
	json_object_foreach(outs, name, out)
		if (json_is_object(out))
			presign_into(a, out);
	json_object_set_new(o, "result", res);
	return o;
}

static json_t *job_json(struct req *r, const struct job *j)
{
	return api_job_json(r->api, j);
}

/* validate_job()'s database connection, taken when a check first needs it. */
struct owns_ctx {
	struct req *r;
	struct db_conn *c;
	struct buf err;          /* why the connection or the look-up failed */
	bool failed;
};

/* validate_job()'s owns_job: does the tenant have job `id`? (arg: the owns_ctx) */
static bool tenant_owns_job(const char *tenant, const char *id, void *arg)
{
	struct owns_ctx *o = arg;
	if (!o->c && !o->failed && !(o->c = db_acquire(o->r->api->db, DB_WAIT_MS, &o->err)))
		o->failed = true;
	if (o->failed)
		return false;
	struct job j;
	memset(&j, 0, sizeof(j));
	enum job_rc rc = job_get(o->c, id, tenant, &j, &o->err);
	job_clear(&j);
	if (rc == JOB_ERR)
		o->failed = true;
	return rc == JOB_OK;
}

/* The request body as a JSON object (new reference), or NULL with the 400 queued in *ret. */
static json_t *body_object(struct req *r, enum MHD_Result *ret)
{
	json_error_t jerr;
	json_t *body = json_loadb(r->body.data ? r->body.data : "", r->body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!body) {
		*ret = reply_error(r, 400, "bad_request", NULL, "malformed JSON at line %d column %d: %s",
				   jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		*ret = reply_error(r, 400, "bad_request", NULL, "the request body must be a JSON object");
		return NULL;
	}
	return body;
}

enum MHD_Result route_jobs_create(struct req *r)
{
	enum MHD_Result ret;
	json_t *body = body_object(r, &ret);
	return body ? jobs_submit(r, body) : ret;
}

enum MHD_Result jobs_submit(struct req *r, json_t *body)
{
	enum MHD_Result ret;
	const char *idem = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
	if (validate_idempotency_key(idem) < 0) {
		json_decref(body);
		return reply_error(r, 400, "bad_request", "Idempotency-Key",
				   "header 'Idempotency-Key' must be at most %d characters",
				   VALIDATE_IDEMPOTENCY_KEY_MAX);
	}
	const struct config *cfg = r->api->cfg; /* one config for the whole request */
	struct job_new in = {
		.tenant = r->tenant,
		.idempotency_key = idem && *idem ? idem : NULL,
		.max_attempts = (int)cfg->api.default_max_attempts,
	};
	struct validate_error v = VALIDATE_ERROR_INIT;
	struct owns_ctx owns = { .r = r, .err = BUF_INIT };
	struct validate_job ctx = { r->tenant, cfg->api.webhook_allow_hosts, tenant_owns_job, &owns, time(NULL) };
	int rc = validate_job(&ctx, body, &in, &v);
	/* released before the batch: its leader needs a connection of the pool */
	if (owns.c)
		db_release(owns.c);
	if (owns.failed || rc < 0) {
		if (owns.failed)
			ret = reply_unavailable(r, "database", buf_str(&owns.err));
		else
			ret = reply_error(r, 422, "invalid", v.field, "field '%s' %s", v.field, buf_str(&v.msg));
		buf_release(&owns.err);
		buf_release(&v.msg);
		json_decref(body);
		return ret;
	}
	buf_release(&owns.err);
	in.max_attempts = (int)config_type_value(&cfg->api.max_attempts, in.type, cfg->api.default_max_attempts);
	struct job j;
	struct buf err = BUF_INIT;
	bool existed = false;
	if (batcher_submit(r->api, &in, &j, &existed, &err) < 0) {
		ret = reply_unavailable(r, "database", buf_str(&err));
	} else {
		if (!existed) {
			prom_job_submitted();
			if (j.status == JOB_SCHEDULED)
				scheduler_kick(); /* its run_at may be sooner than the scheduler's next look */
			else
				publisher_kick();
		}
		char loc[64];
		snprintf(loc, sizeof(loc), "/v1/jobs/%s", j.id);
		ret = reply_json_located(r, existed ? 200 : 202, job_json(r, &j), loc);
	}
	job_clear(&j);
	buf_release(&err);
	json_decref(body);
	return ret;
}

static const char *query(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* 404 for a malformed id as for a missing one: ids are not guessable structure. */
static enum MHD_Result job_not_found(struct req *r)
{
	return reply_error(r, 404, "not_found", NULL, "job '%s' does not exist", r->job_id);
}

/*
 * A job the tenant does not have: 410 archived when the retention sweep moved
 * one of its jobs with this id to the archive (where and when in "archive"),
 * else 404. Another tenant's tombstone is not looked at: 404 as for any job of
 * theirs.
 */
static enum MHD_Result job_gone_or_not_found(struct req *r, struct db_conn *c)
{
	struct archive_tombstone t;
	struct buf err = BUF_INIT;
	int found = archive_tombstone_get(c, r->job_id, r->tenant, &t, &err);
	enum MHD_Result ret;
	if (found < 0)
		ret = reply_unavailable(r, "database", buf_str(&err));
	else if (found == 0)
		ret = job_not_found(r);
	else
		ret = reply_error_detail(r, 410, "archived",
					 json_pack("{s:{s:s, s:s, s:s, s:s}}", "archive", "key", t.key ? t.key : "",
						   "archived_at", t.archived_at, "finished_at", t.finished_at,
						   "status", t.status),
					 "job '%s' %s at %s and was archived at %s; it is no longer kept", r->job_id,
					 t.status, t.finished_at, t.archived_at);
	free(t.key);
	buf_release(&err);
	return ret;
}

/* Load the request's job into j: JOB_OK, else the response is queued in *ret. */
static enum job_rc load_job(struct req *r, struct job *j, enum MHD_Result *ret)
{
	struct buf err = BUF_INIT;
	memset(j, 0, sizeof(*j));
	if (!job_id_valid(r->job_id)) {
		*ret = job_not_found(r);
		return JOB_NOT_FOUND;
	}
	struct db_conn *c = db_take(r, ret);
	if (!c)
		return JOB_ERR;
	enum job_rc rc = job_get(c, r->job_id, r->tenant, j, &err);
	if (rc == JOB_NOT_FOUND)
		*ret = job_gone_or_not_found(r, c);
	db_release(c);
	if (rc == JOB_ERR)
		*ret = reply_unavailable(r, "database", buf_str(&err));
	if (rc != JOB_OK)
		job_clear(j);
	buf_release(&err);
	return rc;
}

enum MHD_Result route_jobs_get(struct req *r)
{
	enum MHD_Result ret;
	long wait = 0;
	const char *w = query(r, "wait");
	if (w && validate_int_arg(w, 1000000, &wait) < 0)
		return reply_error(r, 400, "bad_request", "wait",
				   "query parameter 'wait' must be a number of seconds");
	int64_t max_wait = r->api->cfg->api.max_wait;
	if (wait > max_wait)
		return reply_error(r, 400, "bad_request", "wait", "query parameter 'wait' must be at most %lld seconds",
				   (long long)max_wait);
	/*
	 * A wait needs the final events from before the job is read: one that came
	 * between the read and the binding would be missed (events.c).
	 */
	bool held = wait > 0 && !r->resumed;
	if (held)
		events_hold();
	struct job j;
	if (load_job(r, &j, &ret) != JOB_OK) {
		if (held)
			events_release();
		return ret;
	}
	if (held && !job_status_final(j.status)) {
		r->wait_deadline_ns = r->start_ns + (uint64_t)wait * 1000000000u;
		if (waiter_add(r) == 0) {
			job_clear(&j);
			return MHD_YES;
		}
		/* the key has max_waits_per_key waiting: answer now, as without ?wait */
	}
	if (held)
		events_release();
	ret = reply_json(r, 200, job_json(r, &j));
	job_clear(&j);
	return ret;
}

enum MHD_Result route_jobs_list(struct req *r)
{
	enum MHD_Result ret;
	struct job_filter f;
	memset(&f, 0, sizeof(f));
	f.tenant = r->tenant;
	f.limit = 50;
	const char *status = query(r, "status"), *type = query(r, "type"), *limit = query(r, "limit");
	const char *cursor = query(r, "cursor");
	if (status && *status) {
		if (job_status_parse(status, &f.status) < 0)
			return reply_error(r, 400, "bad_request", "status",
					   "query parameter 'status' must be one of scheduled, queued, running, "
					   "retrying, succeeded, failed, cancelled");
		f.has_status = true;
	}
	if (type && *type) {
		struct validate_error v = VALIDATE_ERROR_INIT;
		if (validate_job_type(type, "type", &v) < 0) {
			ret = reply_error(r, 400, "bad_request", v.field, "query parameter '%s' %s", v.field,
					  buf_str(&v.msg));
			buf_release(&v.msg);
			return ret;
		}
		f.type = type;
	}
	long lim;
	if (limit && (validate_int_arg(limit, 100, &lim) < 0 || lim < 1))
		return reply_error(r, 400, "bad_request", "limit",
				   "query parameter 'limit' must be an integer from 1 to 100");
	if (limit)
		f.limit = (int)lim;
	int64_t micros;
	char cid[JOB_ID_LEN + 1];
	if (cursor && *cursor) {
		if (jobcodec_cursor_decode(cursor, &micros, cid) < 0)
			return reply_error(r, 400, "bad_request", "cursor",
					   "query parameter 'cursor' is malformed: pass next_cursor unchanged");
		f.cursor = cursor;
	}
	struct db_conn *c = db_take(r, &ret);
	if (!c)
		return ret;
	struct job *jobs = NULL;
	size_t n = 0;
	char *next = NULL;
	struct buf err = BUF_INIT;
	if (job_list(c, &f, &jobs, &n, &next, &err) < 0) {
		ret = db_failed(r, c, &err);
		buf_release(&err);
		return ret;
	}
	db_release(c);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(arr, job_json(r, &jobs[i]));
		job_clear(&jobs[i]);
	}
	free(jobs);
	json_t *o = json_object();
	json_object_set_new(o, "jobs", arr);
	json_object_set_new(o, "next_cursor", next ? json_string(next) : json_null());
	free(next);
	buf_release(&err);
	return reply_json(r, 200, o);
}

enum MHD_Result route_jobs_cancel(struct req *r)
{
	enum MHD_Result ret;
	if (!job_id_valid(r->job_id))
		return job_not_found(r);
	struct db_conn *c = db_take(r, &ret);
	if (!c)
		return ret;
	struct job j;
	struct buf err = BUF_INIT, actor = BUF_INIT;
	buf_printf(&actor, "api:key:%s", r->key_id);
	enum jobops_cancel_rc rc = jobops_cancel(c, r->job_id, r->tenant, buf_str(&actor), &j, &err);
	if (rc == JOBOPS_CANCEL_ERR) {
		ret = db_failed(r, c, &err);
	} else {
		db_release(c);
		switch (rc) {
		case JOBOPS_CANCELLED:
			publisher_kick(); /* the job.cancelled event is in the outbox */
			ret = reply_json(r, 200, job_json(r, &j));
			break;
		case JOBOPS_CANCEL_REQUESTED: /* still running: its worker stops it at its next heartbeat */
			ret = reply_json(r, 202, job_json(r, &j));
			break;
		case JOBOPS_CANCEL_NOT_FOUND:
			ret = job_not_found(r);
			break;
		default:
			ret = reply_error(r, 409, "conflict", NULL,
					  "job '%s' is %s: only scheduled, queued, retrying or running jobs can be "
					  "cancelled",
					  r->job_id, job_status_name(j.status));
			break;
		}
	}
	job_clear(&j);
	buf_release(&err);
	buf_release(&actor);
	return ret;
}

enum MHD_Result route_jobs_result(struct req *r)
{
	enum MHD_Result ret;
	struct job j;
	if (load_job(r, &j, &ret) != JOB_OK)
		return ret;
	const char *key = json_string_value(json_object_get(j.result, "key"));
	if (j.status != JOB_SUCCEEDED) {
		ret = reply_error(r, 409, "conflict", NULL, "job '%s' is %s: a result exists once it has succeeded",
				  r->job_id, job_status_name(j.status));
	} else if (!key) {
		ret = reply_error(r, 404, "not_found", NULL, "job '%s' stored no result object", r->job_id);
	} else {
		struct buf url = BUF_INIT;
		struct aws_error aerr;
		time_t exp;
		if (s3_presign(r->api->s3, "GET", key, r->api->cfg->api.result_url_expires, &url, &exp, &aerr) < 0)
			ret = reply_unavailable(r, "storage", aerr.message);
		else
			ret = reply_redirect(r, buf_str(&url));
		buf_release(&url);
	}
	job_clear(&j);
	return ret;
}

/*
 * The declared size of an upload from the request body; 0, or -1 with the 400,
 * 422 or 413 queued in *ret. No body at all is a missing "size" (422).
 */
static int upload_size(struct req *r, int64_t *size, enum MHD_Result *ret)
{
	json_t *body = r->body.len ? body_object(r, ret) : json_object();
	if (!body)
		return -1;
	struct validate_error v = VALIDATE_ERROR_INIT;
	int rc = validate_upload(body, size, &v);
	json_decref(body);
	if (rc < 0) {
		*ret = reply_error(r, 422, "invalid", v.field, "field '%s' %s", v.field, buf_str(&v.msg));
		buf_release(&v.msg);
		return -1;
	}
	int64_t max = r->api->cfg->api.max_upload;
	if (*size > max) {
		*ret = reply_error(r, 413, "too_large", NULL, "an upload of %lld bytes is over the limit of %lld bytes",
				   (long long)*size, (long long)max);
		return -1;
	}
	return 0;
}

/*
 * A presigned PUT for exactly the declared size: Content-Length is signed, so
 * S3 refuses a body of any other length and max_upload holds at this door too.
 */
enum MHD_Result route_uploads_create(struct req *r)
{
	uuid_t u;
	char id[37], at[32], len[24];
	struct buf key = BUF_INIT, url = BUF_INIT;
	struct aws_error aerr;
	time_t exp;
	int64_t size;
	enum MHD_Result ret;
	if (upload_size(r, &size, &ret) < 0)
		return ret;
	uuid_generate_random(u);
	uuid_unparse_lower(u, id);
	buf_printf(&key, "uploads/%s/%s", r->tenant, id);
	if (s3_presign_put(r->api->s3, buf_str(&key), size, r->api->cfg->api.upload_url_expires, &url,
			   &exp, &aerr) < 0) {
		ret = reply_unavailable(r, "storage", aerr.message);
	} else {
		timefmt_utc(exp, at);
		snprintf(len, sizeof(len), "%lld", (long long)size);
		json_t *o = json_object();
		json_object_set_new(o, "key", json_string(buf_str(&key)));
		json_object_set_new(o, "url", json_string(buf_str(&url)));
		json_object_set_new(o, "method", json_string("PUT"));
		json_object_set_new(o, "size", json_integer((json_int_t)size));
		json_object_set_new(o, "headers", json_pack("{s:s}", "Content-Length", len));
		json_object_set_new(o, "expires_at", json_string(at));
		ret = reply_json(r, 201, o);
	}
	buf_release(&key);
	buf_release(&url);
	return ret;
}
