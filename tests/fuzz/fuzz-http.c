/*
 * fuzz-http — the parts of spool-api's request path that read client input:
 * routing (path, method and {id}), the X-Request-Id, X-Amzn-Trace-Id, Idempotency-Key,
 * Content-Length and Content-Type checks, the query arguments of
 * GET /v1/jobs[/{id}] and POST /v1/videos (refused when not UTF-8, never dropped),
 * and the validation of a POST /v1/jobs body.
 *
 * Those checks are daemons/api/validate.c, which needs neither libmicrohttpd nor
 * a database: the fuzzer links validate.o and libspool only. What needs a live
 * connection (the replies, auth) is not reached; the job lookup behind a
 * "results/<id>/" source key answers "not yours" for every id but OWNED_ID.
 *
 * The input is a request in a loose HTTP/1.1 shape:
 *   METHOD SP TARGET LF, then "Name: value" LF lines, an empty line, the body.
 * TARGET is the path with an optional "?query" (name=value pairs split on '&').
 */
#include "../../daemons/api/validate.h"
#include "jobcodec.h"
#include "jobtype.h"
#include "sigv4.h"
#include "utf8.h"
#include "videoparams.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TENANT "tenant-a"
#define ALLOW_HOSTS "hooks.example.com, 10.0.0.5,[::1]"
#define OWNED_ID "0b6f6c7e-3a52-4f6e-9d8e-2f1c4b5a6d7e"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* validate_job()'s lookup: only ever called for a valid id of our tenant. */
static bool owns_job(const char *tenant, const char *id, void *arg)
{
	(void)arg;
	if (strcmp(tenant, TENANT) || !job_id_valid(id))
		abort();
	return !strcmp(id, OWNED_ID);
}

/* Next line of [*p, end) without its LF; *p moves past it. NULL at the end. */
static const char *next_line(const char **p, const char *end, size_t *len)
{
	if (*p >= end)
		return NULL;
	const char *s = *p, *lf = memchr(s, '\n', (size_t)(end - s));
	*len = lf ? (size_t)(lf - s) : (size_t)(end - s);
	*p = lf ? lf + 1 : end;
	if (*len && s[*len - 1] == '\r')
		(*len)--;
	return s;
}

static void check_route(const char *path, const char *method)
{
	char id[JOB_ID_LEN + 1];
	memset(id, 'x', sizeof(id));
	const struct validate_route *p = validate_path(path, id);
	if (!memchr(id, '\0', sizeof(id)))
		abort();
	if (!p)
		return;
	if (p->get != ROUTE_JOBS_GET && p->get != ROUTE_JOBS_RESULT && id[0])
		abort(); /* only the {id} routes carry an id */
	enum route rt = validate_method(p, method);
	if ((unsigned)rt >= ROUTE_COUNT || (rt != ROUTE_NONE && rt != p->get && rt != p->post && rt != p->del))
		abort();
	if (rt != ROUTE_NONE && !strstr(p->allow, method))
		abort(); /* a routed method is one the 405's Allow lists */
}

static void check_request_id(const char *v)
{
	if (validate_request_id(v) && (strlen(v) == 0 || strlen(v) > 128))
		abort(); /* r->request_id is char[129] and is sent back in a header */
}

/* A trace id accepted is logged as a JSON string: bounded, nothing but its field characters. */
static void check_trace_id(const char *v)
{
	if (!validate_trace_id(v))
		return;
	if (strlen(v) > VALIDATE_TRACE_ID_MAX || !strstr(v, "Root=1-"))
		abort();
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("=;._:-", *p))
			abort();
}

static void check_header(const char *name, size_t n, const char *v)
{
	unsigned long long cl;
	if (n == 12 && !strncasecmp(name, "X-Request-Id", 12))
		check_request_id(v);
	else if (n == 15 && !strncasecmp(name, "X-Amzn-Trace-Id", 15))
		check_trace_id(v);
	else if (n == 15 && !strncasecmp(name, "Idempotency-Key", 15)) {
		if ((validate_idempotency_key(v) < 0) != (strlen(v) > VALIDATE_IDEMPOTENCY_KEY_MAX))
			abort();
	} else if (n == 14 && !strncasecmp(name, "Content-Length", 14)) {
		if (validate_content_length(v, 1 << 20, &cl) == 0 && cl > 1 << 20)
			abort();
	} else if (n == 12 && !strncasecmp(name, "Content-Type", 12)) {
		bool json = validate_media_type(v, "application/json");
		if (json && (validate_media_type(v, "video/") || strncasecmp(v, "application/json", 16)))
			abort();
	}
}

/* One query argument, as the GET handlers read it. */
static void check_arg(const char *name, const char *value)
{
	long l;
	enum job_status st;
	int64_t micros;
	char cid[JOB_ID_LEN + 1];
	if (!strcmp(name, "wait") || !strcmp(name, "limit")) {
		long max = name[0] == 'w' ? 1000000 : 100;
		/* only digits make a number: strtol's leading white space and sign are not */
		if (validate_int_arg(value, max, &l) == 0 && (l < 0 || l > max || !isdigit((unsigned char)value[0]))) {
			fprintf(stderr, "fuzz-http: int_arg took '%s=%s' as %ld\n", name, value, l);
			abort();
		}
	} else if (!strcmp(name, "status")) {
		if (job_status_parse(value, &st) == 0 && strcmp(job_status_name(st), value))
			abort();
	} else if (!strcmp(name, "type")) {
		struct validate_error v = VALIDATE_ERROR_INIT;
		if ((validate_job_type(value, "type", &v) < 0) != (jobtype_find(value) == NULL))
			abort();
		buf_release(&v.msg);
	} else if (!strcmp(name, "cursor")) {
		if (jobcodec_cursor_decode(value, &micros, cid) == 0 && !job_id_valid(cid))
			abort();
	}
}

static void check_query(const char *q, size_t n)
{
	const char *end = q + n;
	json_t *params = json_object();
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(stop - q));
		struct buf name = BUF_INIT, value = BUF_INIT;
		sigv4_uri_decode(&name, q, (size_t)((eq ? eq : stop) - q));
		if (eq)
			sigv4_uri_decode(&value, eq + 1, (size_t)(stop - eq - 1));
		/* an argument that is not UTF-8 ends the request with a 400 naming it */
		struct validate_error v = VALIDATE_ERROR_INIT;
		int bad = validate_query_arg(buf_str(&name), eq ? buf_str(&value) : NULL, &v) < 0;
		if (bad && (!v.msg.len || !utf8_valid(v.field, strlen(v.field))))
			abort();
		buf_release(&v.msg);
		if (!bad) {
			check_arg(buf_str(&name), buf_str(&value));
			/* nothing the check let through is dropped on the way to the job's params */
			json_object_set_new(params, buf_str(&name), validate_video_param(buf_str(&name), buf_str(&value)));
			if (!json_object_get(params, buf_str(&name)))
				abort();
		}
		buf_release(&name);
		buf_release(&value);
		if (bad) {
			json_decref(params);
			return;
		}
		q = amp ? amp + 1 : end;
	}
	/* POST /v1/videos: the query as job params */
	struct video_params vp;
	struct buf field = BUF_INIT, msg = BUF_INIT;
	if (videoparams_parse(params, &vp, &field, &msg) < 0 && !msg.len)
		abort(); /* the 422 says what is wrong (the field may be "": "?=1") */
	buf_release(&field);
	buf_release(&msg);
	json_decref(params);
}

/* POST /v1/jobs: the body as jobs_submit() reads it, up to job_create(). */
#define NOW 1780000000LL /* validate_job's now: 2026-05-28T20:26:40Z */

static void check_job_body(const char *body, size_t n)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return;
	if (json_is_object(o)) {
		struct validate_job ctx = { TENANT, ALLOW_HOSTS, owns_job, NULL, NOW };
		struct job_new in = { .tenant = TENANT };
		struct validate_error v = VALIDATE_ERROR_INIT;
		if (validate_job(&ctx, o, &in, &v) < 0) {
			if (!v.field[0] || v.msg.len == 0)
				abort(); /* a 422 names the field and says what is wrong */
		} else if (!jobtype_find(in.type)) {
			abort();
		} else if ((in.run_at_ms && in.delay_s) || in.delay_s < 0 || in.delay_s > VALIDATE_SCHEDULE_MAX_S ||
			   (in.run_at_ms && (in.run_at_ms < (NOW - VALIDATE_RUN_AT_PAST_S) * 1000LL ||
					     in.run_at_ms >= (NOW + VALIDATE_SCHEDULE_MAX_S + 1) * 1000LL))) {
			abort(); /* one schedule at most, within its bounds */
		}
		buf_release(&v.msg);
	}
	json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *line;
	size_t n;
	if (!(line = next_line(&p, end, &n)))
		return 0;
	const char *sp = memchr(line, ' ', n);
	char *method = xstrndup(line, sp ? (size_t)(sp - line) : n);
	const char *target = sp ? sp + 1 : line + n;
	size_t tlen = (size_t)(line + n - target);
	const char *qm = memchr(target, '?', tlen);
	char *path = xstrndup(target, qm ? (size_t)(qm - target) : tlen);

	check_route(path, method);
	if (qm)
		check_query(qm + 1, tlen - (size_t)(qm + 1 - target));
	while ((line = next_line(&p, end, &n)) && n > 0) {
		const char *colon = memchr(line, ':', n);
		if (!colon)
			continue;
		char *value = xstrndup(colon + 1, n - (size_t)(colon + 1 - line));
		const char *v = value + strspn(value, " \t");
		check_header(line, (size_t)(colon - line), v);
		free(value);
	}
	if (!strcmp(method, "POST") && !strcmp(path, "/v1/jobs"))
		check_job_body(p, (size_t)(end - p));
	free(method);
	free(path);
	return 0;
}
