/*
 * fuzz-http — the parts of spool-api's request path that read client input:
 * routing (path and {id}), the X-Request-Id check, the query arguments of
 * GET /v1/jobs[/{id}] and the validation of a POST /v1/jobs body.
 *
 * Those parsers are static functions of server.c and routes_jobs.c, tangled with
 * libmicrohttpd in their callers, so this file #includes the two sources and the
 * fuzzer links the other API objects (Makefile: FUZZ_API_OBJ). What needs a live
 * MHD connection (Content-Length/Content-Type prechecks, the replies, auth) or a
 * database is not reached; job_input() gets no connection, so a "results/<id>/"
 * source key takes the path of a failed lookup.
 *
 * The input is a request in a loose HTTP/1.1 shape:
 *   METHOD SP TARGET LF, then "Name: value" LF lines, an empty line, the body.
 * TARGET is the path with an optional "?query" (name=value pairs split on '&').
 */
#include "../../daemons/api/server.c"
#include "../../daemons/api/routes_jobs.c"

#include "sigv4.h"

#include <ctype.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TENANT "tenant-a"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	routes_set_webhook_hosts("hooks.example.com, 10.0.0.5,[::1]");
	return 0;
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

static void check_route(const char *path)
{
	char id[JOB_ID_LEN + 1];
	memset(id, 'x', sizeof(id));
	const struct path_routes *p = path_match(path, id);
	if (!memchr(id, '\0', sizeof(id)))
		abort();
	if (p && p != &p_job && p != &p_result && id[0])
		abort(); /* only the {id} routes carry an id */
}

static void check_request_id(const char *v)
{
	if (request_id_sane(v) && (strlen(v) == 0 || strlen(v) > 128))
		abort(); /* r->request_id is char[129] and is sent back in a header */
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
		if (int_arg(value, max, &l) == 0 && (l < 0 || l > max || !isdigit((unsigned char)value[0]))) {
			fprintf(stderr, "fuzz-http: int_arg took '%s=%s' as %ld\n", name, value, l);
			abort();
		}
	} else if (!strcmp(name, "status")) {
		if (job_status_parse(value, &st) == 0 && strcmp(job_status_name(st), value))
			abort();
	} else if (!strcmp(name, "type")) {
		type_known(value);
	} else if (!strcmp(name, "cursor")) {
		if (job_cursor_decode(value, &micros, cid) == 0 && !job_id_valid(cid))
			abort();
	}
}

static void check_query(const char *q, size_t n)
{
	const char *end = q + n;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(stop - q));
		struct buf name = BUF_INIT, value = BUF_INIT;
		sigv4_uri_decode(&name, q, (size_t)((eq ? eq : stop) - q));
		if (eq)
			sigv4_uri_decode(&value, eq + 1, (size_t)(stop - eq - 1));
		check_arg(buf_str(&name), buf_str(&value));
		buf_release(&name);
		buf_release(&value);
		q = amp ? amp + 1 : end;
	}
}

/* POST /v1/jobs: the body as route_jobs_create() reads it, up to job_create(). */
static void check_job_body(const char *body, size_t n)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return;
	if (json_is_object(o)) {
		struct req r;
		memset(&r, 0, sizeof(r));
		snprintf(r.tenant, sizeof(r.tenant), "%s", TENANT);
		struct job_new in = { .tenant = r.tenant };
		struct invalid v = { "", BUF_INIT };
		if (job_input(&r, NULL, o, &in, &v) < 0) {
			if (!v.field[0] || v.msg.len == 0)
				abort(); /* a 422 names the field and says what is wrong */
		} else if (!in.type || !type_known(in.type)) {
			abort();
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

	check_route(path);
	if (qm)
		check_query(qm + 1, tlen - (size_t)(qm + 1 - target));
	while ((line = next_line(&p, end, &n)) && n > 0) {
		const char *colon = memchr(line, ':', n);
		if (!colon)
			continue;
		char *value = xstrndup(colon + 1, n - (size_t)(colon + 1 - line));
		const char *v = value + strspn(value, " \t");
		if ((size_t)(colon - line) == 12 && !strncasecmp(line, "X-Request-Id", 12))
			check_request_id(v);
		free(value);
	}
	if (!strcmp(method, "POST") && !strcmp(path, "/v1/jobs"))
		check_job_body(p, (size_t)(end - p));
	free(method);
	free(path);
	return 0;
}
