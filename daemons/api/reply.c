/*
 * reply — every response of spool-api's listener goes through here, so each one
 * carries X-Request-Id, the JSON Content-Type and Cache-Control, and every error
 * has the body {"error":{"code","message","request_id"}}. (The metrics listener
 * answers in prom.c.)
 */
#include "api.h"
#include "log.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CT_JSON "application/json; charset=utf-8"

/* Queue `resp` with the common headers plus one optional extra header. */
static enum MHD_Result queue(struct req *r, unsigned status, struct MHD_Response *resp,
			     const char *content_type, const char *hname, const char *hvalue)
{
	if (!resp) {
		log_error("http: cannot create a response");
		return MHD_NO;
	}
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (hname)
		MHD_add_response_header(resp, hname, hvalue);
	/* While draining, keep-alive connections are closed after their response. */
	if (atomic_load(&r->api->draining))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	r->status = (int)status;
	return ret;
}

/* The response of `body` (stolen); its size goes to r->bytes for the access log. */
static struct MHD_Response *json_response(struct req *r, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!s)
		return NULL;
	r->bytes = strlen(s);
	/* jansson allocates with malloc, MHD frees with free. */
	return MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
}

enum MHD_Result reply_json(struct req *r, unsigned status, json_t *body)
{
	return queue(r, status, json_response(r, body), CT_JSON, NULL, NULL);
}

enum MHD_Result reply_json_located(struct req *r, unsigned status, json_t *body, const char *location)
{
	return queue(r, status, json_response(r, body), CT_JSON, MHD_HTTP_HEADER_LOCATION, location);
}

enum MHD_Result reply_static(struct req *r, unsigned status, const char *json)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(json), (void *)(uintptr_t)json,
								    MHD_RESPMEM_PERSISTENT);
	r->bytes = strlen(json);
	return queue(r, status, resp, CT_JSON, NULL, NULL);
}

/*
 * {"error":{"code","message"[,"field"],"request_id"}}. A message may quote what
 * the client sent (a path, a header): bytes that are not UTF-8 are escaped.
 */
static json_t *error_body(struct req *r, const char *code, const char *field, const char *message)
{
	json_t *e = json_object();
	json_object_set_new(e, "code", json_string(code));
	json_object_set_new(e, "message", utf8_json(message));
	if (field)
		json_object_set_new(e, "field", utf8_json(field));
	json_object_set_new(e, "request_id", json_string(r->request_id));
	json_t *o = json_object();
	json_object_set_new(o, "error", e);
	return o;
}

static enum MHD_Result verror(struct req *r, unsigned status, const char *code, const char *field,
			      const char *hname, const char *hvalue, const char *fmt, va_list ap)
	__attribute__((format(printf, 7, 0)));

static enum MHD_Result verror(struct req *r, unsigned status, const char *code, const char *field,
			      const char *hname, const char *hvalue, const char *fmt, va_list ap)
{
	struct buf m = BUF_INIT;
	buf_vprintf(&m, fmt, ap);
	json_t *o = error_body(r, code, field, buf_str(&m));
	buf_release(&m);
	return queue(r, status, json_response(r, o), CT_JSON, hname, hvalue);
}

static enum MHD_Result error_with(struct req *r, unsigned status, const char *code, const char *hname,
				  const char *hvalue, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static enum MHD_Result error_with(struct req *r, unsigned status, const char *code, const char *hname,
				  const char *hvalue, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	enum MHD_Result ret = verror(r, status, code, NULL, hname, hvalue, fmt, ap);
	va_end(ap);
	return ret;
}

enum MHD_Result reply_error(struct req *r, unsigned status, const char *code, const char *field,
			    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	enum MHD_Result ret = verror(r, status, code, field, NULL, NULL, fmt, ap);
	va_end(ap);
	return ret;
}

enum MHD_Result reply_error_detail(struct req *r, unsigned status, const char *code, json_t *detail,
				   const char *fmt, ...)
{
	va_list ap;
	struct buf m = BUF_INIT;
	va_start(ap, fmt);
	buf_vprintf(&m, fmt, ap);
	va_end(ap);
	json_t *o = error_body(r, code, NULL, buf_str(&m));
	buf_release(&m);
	json_object_update_missing(json_object_get(o, "error"), detail);
	json_decref(detail);
	return queue(r, status, json_response(r, o), CT_JSON, NULL, NULL);
}

enum MHD_Result reply_unavailable(struct req *r, const char *what, const char *reason)
{
	log_warn("%s unavailable: %s", what, reason);
	return error_with(r, 503, "unavailable", MHD_HTTP_HEADER_RETRY_AFTER, "5",
			  "the %s is unavailable; try again later", what);
}

enum MHD_Result reply_not_ready(struct req *r, json_t *checks, const char *failing)
{
	struct buf m = BUF_INIT;
	buf_printf(&m, "not ready: %s", failing);
	json_t *o = error_body(r, "unavailable", NULL, buf_str(&m));
	buf_release(&m);
	json_object_set_new(o, "status", json_string("not_ready"));
	json_object_set_new(o, "checks", checks);
	return queue(r, 503, json_response(r, o), CT_JSON, MHD_HTTP_HEADER_RETRY_AFTER, "5");
}

enum MHD_Result reply_unauthorized(struct req *r, const char *message)
{
	return error_with(r, 401, "unauthorized", MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			  "Bearer realm=\"spool\"", "%s", message);
}

enum MHD_Result reply_rate_limited(struct req *r, const char *message)
{
	return error_with(r, 429, "rate_limited", MHD_HTTP_HEADER_RETRY_AFTER, "1", "%s", message);
}

enum MHD_Result reply_method_not_allowed(struct req *r, const char *allow)
{
	return error_with(r, 405, "method_not_allowed", MHD_HTTP_HEADER_ALLOW, allow,
			  "method %s is not allowed on '%s' (allowed: %s)", r->method, r->path, allow);
}

enum MHD_Result reply_redirect(struct req *r, const char *location)
{
	json_t *o = json_object();
	json_object_set_new(o, "location", json_string(location));
	return queue(r, 302, json_response(r, o), CT_JSON, MHD_HTTP_HEADER_LOCATION, location);
}

enum MHD_Result reply_busy(struct req *r, const char *message)
{
	return error_with(r, 503, "unavailable", MHD_HTTP_HEADER_RETRY_AFTER, "5", "%s", message);
}
