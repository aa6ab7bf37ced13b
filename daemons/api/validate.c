/*
 * validate — the pure request checks of spool-api (see validate.h).
 */
#include "validate.h"
#include "jobtype.h"
#include "timefmt.h"
#include "utf8.h"
#include "webhook.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SOURCE_KEY_MAX 1024

/* ---- routing -------------------------------------------------------------------- */

static const struct validate_route p_health = { ROUTE_HEALTH, 0, 0, "GET, HEAD" };
static const struct validate_route p_ready = { ROUTE_READY, 0, 0, "GET, HEAD" };
static const struct validate_route p_jobs = { ROUTE_JOBS_LIST, ROUTE_JOBS_CREATE, 0, "GET, HEAD, POST" };
static const struct validate_route p_job = { ROUTE_JOBS_GET, 0, ROUTE_JOBS_CANCEL, "GET, HEAD, DELETE" };
static const struct validate_route p_result = { ROUTE_JOBS_RESULT, 0, 0, "GET, HEAD" };
static const struct validate_route p_uploads = { 0, ROUTE_UPLOADS_CREATE, 0, "POST" };
static const struct validate_route p_videos = { 0, ROUTE_VIDEOS_CREATE, 0, "POST" };

const struct validate_route *validate_path(const char *url, char id[JOB_ID_LEN + 1])
{
	id[0] = '\0';
	if (!strcmp(url, "/health"))
		return &p_health;
	if (!strcmp(url, "/ready"))
		return &p_ready;
	if (!strcmp(url, "/v1/uploads"))
		return &p_uploads;
	if (!strcmp(url, "/v1/videos"))
		return &p_videos;
	if (strncmp(url, "/v1/jobs", 8) != 0)
		return NULL;
	url += 8;
	if (*url == '\0')
		return &p_jobs;
	if (*url++ != '/' || *url == '\0' || *url == '/')
		return NULL;
	const char *slash = strchr(url, '/');
	size_t n = slash ? (size_t)(slash - url) : strlen(url);
	if (n <= JOB_ID_LEN) {
		memcpy(id, url, n);
		id[n] = '\0';
	}
	if (!slash)
		return &p_job;
	if (!strcmp(slash, "/result"))
		return &p_result;
	return NULL;
}

enum route validate_method(const struct validate_route *p, const char *method)
{
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
		return p->get;
	if (!strcmp(method, "POST"))
		return p->post;
	if (!strcmp(method, "DELETE"))
		return p->del;
	return ROUTE_NONE;
}

/* ---- headers -------------------------------------------------------------------- */

bool validate_request_id(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= 128 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

static bool is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* `n` hex digits at `s`. */
static bool hex_run(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

/* Root=1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY: the field [f, f + n) is an X-Ray root id. */
static bool trace_root(const char *f, size_t n)
{
	return n == 5 + 1 + 1 + 8 + 1 + 24 && !strncmp(f, "Root=1-", 7) && hex_run(f + 7, 8) && f[15] == '-' &&
	       hex_run(f + 16, 24);
}

bool validate_trace_id(const char *s)
{
	size_t len = strlen(s);
	bool root = false;

	if (len == 0 || len > VALIDATE_TRACE_ID_MAX)
		return false;
	for (const char *f = s; *f;) {
		size_t n = strcspn(f, ";"), k = 0;
		while (k < n && is_alnum(f[k]))
			k++;
		if (k == 0 || k == n || f[k] != '=')
			return false;
		for (size_t i = k + 1; i < n; i++)
			if (!is_alnum(f[i]) && !strchr("._:-", f[i]))
				return false;
		root = root || trace_root(f, n);
		f += n;
		if (*f == ';' && *++f == '\0')
			return false; /* a trailing ';' */
	}
	return root;
}

int validate_idempotency_key(const char *key)
{
	return key && strlen(key) > VALIDATE_IDEMPOTENCY_KEY_MAX ? -1 : 0;
}

int validate_content_length(const char *cl, uint64_t max, unsigned long long *n)
{
	char *end;
	/* strtoull would skip white space and accept a sign ("-1" wraps): digits only. */
	if (!isdigit((unsigned char)*cl))
		return -1;
	errno = 0;
	*n = strtoull(cl, &end, 10);
	if (errno || *end || *n > max)
		return -1;
	return 0;
}

bool validate_media_type(const char *ct, const char *type)
{
	size_t n = strlen(type);
	if (strncasecmp(ct, type, n) != 0)
		return false;
	if (type[n - 1] == '/')
		return ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ';
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* ---- query arguments ------------------------------------------------------------ */

int validate_int_arg(const char *s, long max, long *out)
{
	char *end;
	/* strtol would skip any leading white space and take a sign: digits only. */
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int validate_query_arg(const char *key, const char *value, struct validate_error *v)
{
	int key_ok = utf8_valid(key, strlen(key));
	if (key_ok && (!value || utf8_valid(value, strlen(value))))
		return 0;
	struct buf name = BUF_INIT;
	utf8_escape(&name, key, strlen(key));
	snprintf(v->field, sizeof(v->field), "%s", buf_str(&name));
	buf_release(&name);
	/* a cut may leave half a character: drop it so that the field stays UTF-8 */
	size_t n = strlen(v->field);
	while (n > 0 && !utf8_valid(v->field, n))
		v->field[--n] = '\0';
	buf_adds(&v->msg, key_ok ? "is not valid UTF-8 (send text percent-encoded as UTF-8)"
				 : "has a name that is not valid UTF-8 (send text percent-encoded as UTF-8)");
	return -1;
}

json_t *validate_video_param(const char *name, const char *v)
{
	char *end;
	if (!v)
		v = "";
	if (!strcmp(name, "height") && *v && strspn(v, "0123456789") == strlen(v) && strlen(v) < 10)
		return json_integer(strtol(v, NULL, 10));
	if (!strcmp(name, "max_duration") && *v && *v != ' ' && *v != '+' && *v != '-') {
		errno = 0;
		double d = strtod(v, &end);
		if (!errno && !*end && isfinite(d))
			return d == floor(d) && d < 1e9 ? json_integer((json_int_t)d) : json_real(d);
	}
	if (!strcmp(name, "audio") || !strcmp(name, "watermark") || !strcmp(name, "bumpers")) {
		if (!strcmp(v, "true") || !strcmp(v, "1"))
			return json_true();
		if (!strcmp(v, "false") || !strcmp(v, "0"))
			return json_false();
	}
	return json_string(v);
}

/* ---- POST /v1/jobs -------------------------------------------------------------- */

static int invalid(struct validate_error *v, const char *field, const char *msg)
{
	snprintf(v->field, sizeof(v->field), "%s", field);
	buf_adds(&v->msg, msg);
	return -1;
}

int validate_job_type(const char *type, const char *field, struct validate_error *v)
{
	if (jobtype_find(type))
		return 0;
	snprintf(v->field, sizeof(v->field), "%s", field);
	buf_adds(&v->msg, "must be one of ");
	jobtype_names(&v->msg);
	return -1;
}

static bool uuid_prefix(const char *s, char id[JOB_ID_LEN + 1])
{
	if (strlen(s) <= JOB_ID_LEN || s[JOB_ID_LEN] != '/')
		return false;
	memcpy(id, s, JOB_ID_LEN);
	id[JOB_ID_LEN] = '\0';
	return job_id_valid(id);
}

/*
 * A source key the tenant may use: its own uploads ("uploads/<tenant>/…") or the
 * results of one of its own jobs ("results/<job id>/…", asked of ctx->owns_job).
 * Never "..", "//", a leading "/" or control characters.
 */
static int source_key_ok(const struct validate_job *ctx, const char *key, struct validate_error *v)
{
	size_t n = strlen(key);
	if (n == 0 || n > SOURCE_KEY_MAX)
		return invalid(v, "source.key", "must be 1 to 1024 characters");
	if (strstr(key, "..") || strstr(key, "//") || key[0] == '/' || strchr(key, '\\'))
		return invalid(v, "source.key", "must not contain '..', '//', '\\' or start with '/'");
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return invalid(v, "source.key", "must not contain control characters");
	size_t tl = strlen(ctx->tenant);
	if (!strncmp(key, "uploads/", 8) && !strncmp(key + 8, ctx->tenant, tl) && key[8 + tl] == '/' &&
	    key[9 + tl] != '\0')
		return 0;
	char id[JOB_ID_LEN + 1];
	if (!strncmp(key, "results/", 8) && uuid_prefix(key + 8, id) && ctx->owns_job &&
	    ctx->owns_job(ctx->tenant, id, ctx->arg))
		return 0;
	buf_printf(&v->msg, "must be a key under 'uploads/%s/' (see POST /v1/uploads) or a result of "
			    "one of your jobs", ctx->tenant);
	snprintf(v->field, sizeof(v->field), "source.key");
	return -1;
}

/* The job type's check of `params` (an object), its field named "params" or "params.KEY". */
static int params_ok(const struct jobtype *jt, const json_t *params, struct validate_error *v)
{
	struct buf field = BUF_INIT;
	if (!jt->check_params || jt->check_params(params, &field, &v->msg) == 0) {
		buf_release(&field);
		return 0;
	}
	if (!strcmp(buf_str(&field), "params"))
		snprintf(v->field, sizeof(v->field), "params");
	else
		snprintf(v->field, sizeof(v->field), "params.%s", buf_str(&field));
	buf_release(&field);
	return -1;
}

/* Milliseconds of the fraction of an RFC 3339 time timefmt_parse accepted (it keeps whole seconds). */
static int64_t fraction_ms(const char *s)
{
	int64_t ms = 0;
	if (strlen(s) <= 19 || s[19] != '.')
		return 0;
	s += 20;
	for (int i = 0; i < 3; i++) {
		ms *= 10;
		if (isdigit((unsigned char)*s))
			ms += *s++ - '0';
	}
	return ms;
}

/* "run_at" or "delay" of the body, at most one, into in->run_at_ms or in->delay_s. */
static int schedule_ok(const struct validate_job *ctx, json_t *body, struct job_new *in, struct validate_error *v)
{
	json_t *at = json_object_get(body, "run_at"), *delay = json_object_get(body, "delay");
	if (at && json_is_null(at))
		at = NULL;
	if (delay && json_is_null(delay))
		delay = NULL;
	if (at && delay)
		return invalid(v, "delay", "must not be given with run_at: give one of them");
	if (delay) {
		if (!json_is_integer(delay) || json_integer_value(delay) < 1 ||
		    json_integer_value(delay) > VALIDATE_SCHEDULE_MAX_S)
			return invalid(v, "delay", "must be an integer of seconds from 1 to 31622400 (366 days)");
		in->delay_s = (int64_t)json_integer_value(delay);
	}
	if (at) {
		time_t t;
		const char *s = json_string_value(at);
		if (!s || timefmt_parse(s, &t) < 0)
			return invalid(v, "run_at", "must be an RFC 3339 time with 'Z' or an offset, "
						    "like 2026-05-01T12:00:00Z or 2026-05-01T14:00:00+02:00");
		if ((int64_t)t < (int64_t)ctx->now - VALIDATE_RUN_AT_PAST_S)
			return invalid(v, "run_at", "is in the past");
		if ((int64_t)t > (int64_t)ctx->now + VALIDATE_SCHEDULE_MAX_S)
			return invalid(v, "run_at", "must be at most 366 days ahead");
		in->run_at_ms = (int64_t)t * 1000 + fraction_ms(s);
	}
	return 0;
}

int validate_job(const struct validate_job *ctx, json_t *body, struct job_new *in, struct validate_error *v)
{
	json_t *type = json_object_get(body, "type");
	if (validate_job_type(json_string_value(type), "type", v) < 0)
		return -1;
	in->type = json_string_value(type);
	const struct jobtype *jt = jobtype_find(in->type);
	json_t *src = json_object_get(body, "source");
	if (src && !json_is_null(src)) {
		if (!json_is_object(src))
			return invalid(v, "source", "must be an object {\"key\": \"uploads/…\"}");
		json_t *key = json_object_get(src, "key");
		if (!json_is_string(key))
			return invalid(v, "source.key", "must be a string");
		if (source_key_ok(ctx, json_string_value(key), v) < 0)
			return -1;
		in->source = src;
	} else if (jt->needs_source) {
		return invalid(v, "source", "is required for this job type: {\"key\": \"uploads/…\"}");
	}
	json_t *params = json_object_get(body, "params");
	if (params && !json_is_null(params)) {
		if (!json_is_object(params))
			return invalid(v, "params", "must be an object");
		if (params_ok(jt, params, v) < 0)
			return -1;
		in->params = params;
	}
	json_t *cb = json_object_get(body, "callback_url");
	if (cb && !json_is_null(cb)) {
		if (!json_is_string(cb))
			return invalid(v, "callback_url", "must be a string");
		if (webhook_url_check(json_string_value(cb), ctx->allow_hosts, NULL, &v->msg) < 0) {
			snprintf(v->field, sizeof(v->field), "callback_url");
			return -1;
		}
		in->callback_url = json_string_value(cb);
	}
	json_t *prio = json_object_get(body, "priority");
	if (prio && !json_is_null(prio)) {
		enum jobprio p;
		if (jobprio_parse(json_string_value(prio), &p) < 0)
			return invalid(v, "priority", "must be one of \"high\", \"normal\", \"low\"");
		in->priority = jobprio_name(p);
	}
	return schedule_ok(ctx, body, in, v);
}

int validate_upload(json_t *body, int64_t *size, struct validate_error *v)
{
	json_t *n = json_object_get(body, "size");
	if (!n || json_is_null(n))
		return invalid(v, "size", "is required: the number of bytes the upload will send");
	if (!json_is_integer(n) || json_integer_value(n) < 1)
		return invalid(v, "size", "must be a positive integer (bytes)");
	*size = (int64_t)json_integer_value(n);
	return 0;
}
