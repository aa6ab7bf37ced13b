/*
 * server — the libmicrohttpd daemon of spool-api: per-request context, routing,
 * body limits, request ids, access log and request metrics.
 *
 * A request goes through on_request() at least twice: once when its headers are
 * in (the context is made; routing, 405, auth, 413 by Content-Length and 415 are
 * answered right there, so a rejected body is never read), then once per body
 * chunk, then a final call that dispatches. Requests without a body dispatch on
 * the first call. A ?wait request may suspend its connection and is dispatched
 * again when the waiter resumes it. Each step sets the connection's phase for
 * the deadlines conns.c keeps: body from the first call, busy from the final one,
 * waiting for a header again once the request completes.
 */
#include "api.h"
#include "clock.h"
#include "log.h"
#include "utf8.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

typedef enum MHD_Result (*route_fn)(struct req *r);

static const route_fn route_fns[ROUTE_COUNT] = {
	[ROUTE_HEALTH] = route_health,
	[ROUTE_READY] = route_ready,
	[ROUTE_JOBS_CREATE] = route_jobs_create,
	[ROUTE_JOBS_LIST] = route_jobs_list,
	[ROUTE_JOBS_GET] = route_jobs_get,
	[ROUTE_JOBS_CANCEL] = route_jobs_cancel,
	[ROUTE_JOBS_RESULT] = route_jobs_result,
	[ROUTE_UPLOADS_CREATE] = route_uploads_create,
	[ROUTE_VIDEOS_CREATE] = route_videos_create,
};

static struct req *req_new(struct api *a, struct MHD_Connection *conn, const char *url,
			   const char *method)
{
	struct req *r = xcalloc(1, sizeof(*r));
	r->api = a;
	r->conn = conn;
	r->method = method;
	r->start_ns = clock_now_ns();
	snprintf(r->path, sizeof(r->path), "%s", url);
	conns_client(conn, r->client);
	const char *probe = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Spool-Probe");
	r->probe = probe && strlen(probe) == strlen(a->probe_token) &&
		   CRYPTO_memcmp(probe, a->probe_token, strlen(probe)) == 0;
	const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	if (rid && validate_request_id(rid)) {
		snprintf(r->request_id, sizeof(r->request_id), "%s", rid);
	} else {
		job_id_new(r->request_id); /* a random UUID, without a system call per request */
	}
	atomic_fetch_add(&a->inflight, 1);
	return r;
}

/* Early checks of a POST before its body is read: 413 by Content-Length, 415. */
static int body_precheck(struct req *r, enum MHD_Result *ret)
{
	const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
	const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Transfer-Encoding");
	int64_t max = r->api->cfg->api.max_body;
	bool has_body = te != NULL;
	if (r->route == ROUTE_VIDEOS_CREATE)
		return videos_precheck(r, ret);
	if (cl) {
		unsigned long long n;
		if (validate_content_length(cl, (uint64_t)max, &n) < 0) {
			*ret = reply_error(r, 413, "too_large", NULL,
					   "request body is larger than the limit of %lld bytes",
					   (long long)max);
			return -1;
		}
		has_body = n > 0;
	}
	if (!has_body)
		return 0;
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
	if (!ct || !validate_media_type(ct, "application/json")) {
		*ret = reply_error(r, 415, "unsupported_media_type", NULL,
				   "Content-Type must be 'application/json', not '%s'", ct ? ct : "");
		return -1;
	}
	return 0;
}

static enum MHD_Result dispatch(struct req *r)
{
	log_set_request_id(r->request_id);
	enum MHD_Result ret = route_fns[r->route](r);
	log_set_request_id(NULL);
	return ret;
}

/* MHD's iterator over the query arguments: stops at the first one that is not UTF-8. */
static enum MHD_Result query_arg_check(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	return validate_query_arg(key, value, cls) == 0 ? MHD_YES : MHD_NO;
}

/* 400 naming the first query argument that is not UTF-8: 0, or -1 when queued. */
static int query_check(struct req *r, enum MHD_Result *ret)
{
	struct validate_error v = VALIDATE_ERROR_INIT;
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_arg_check, &v);
	int bad = v.msg.len > 0;
	if (bad)
		*ret = reply_error(r, 400, "bad_request", v.field, "query parameter '%s' %s", v.field,
				   buf_str(&v.msg));
	buf_release(&v.msg);
	return bad ? -1 : 0;
}

/*
 * Route the request and answer what can be answered before its body: unknown
 * path, method, authentication, query arguments that are not UTF-8, body size
 * and type. -1 when a response is queued.
 */
static int precheck(struct req *r, enum MHD_Result *ret)
{
	const struct validate_route *p = validate_path(r->path, r->job_id);
	if (!p) {
		*ret = reply_error(r, 404, "not_found", NULL, "no route for '%s'", r->path);
		return -1;
	}
	r->route = validate_method(p, r->method);
	if (r->route == ROUTE_NONE) {
		*ret = reply_method_not_allowed(r, p->allow);
		return -1;
	}
	if (strncmp(r->path, "/v1/", 4) == 0 && auth_check(r, ret) < 0)
		return -1;
	if (query_check(r, ret) < 0)
		return -1;
	if (!strcmp(r->method, MHD_HTTP_METHOD_POST) && body_precheck(r, ret) < 0)
		return -1;
	return 0;
}

/*
 * MHD's access handler. A POST is checked as soon as its headers are in, so that a
 * rejected body is never read; other requests are answered on the final call, as
 * answering earlier makes MHD close a keep-alive connection.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct api *a = cls;
	struct req *r = *con_cls;
	enum MHD_Result ret = MHD_YES;
	(void)version;
	if (!r) {
		r = req_new(a, conn, url, method);
		*con_cls = r;
		conns_phase(conn, CONN_BODY);
		/*
		 * A request that starts once SIGTERM's drain has begun (on a keep-alive
		 * connection accepted before) is refused before it does anything: the
		 * drain waits only for requests already counted in `inflight`, so work
		 * done now could be cut off with its answer unsent. req_new() counted
		 * this one first, and drain() set `draining` before reading `inflight`,
		 * so one of the two always sees the other (sequentially consistent).
		 */
		if (atomic_load(&a->draining)) {
			r->checked = true;
			return reply_unavailable(r, "server", "shutting down");
		}
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return MHD_YES;
		log_set_request_id(r->request_id);
		r->checked = true;
		precheck(r, &ret);
		log_set_request_id(NULL);
		return ret;
	}
	if (r->resumed)
		return dispatch(r);
	if (r->video && *upload_data_size > 0)
		return videos_body(r, upload_data, upload_data_size);
	if (*upload_data_size > 0) {
		int64_t max = a->cfg->api.max_body;
		/* Chunked bodies have no length up front: count and drop the excess. */
		if (!r->body_too_large && r->body.len + *upload_data_size > (uint64_t)max) {
			r->body_too_large = true;
			buf_release(&r->body);
		}
		if (!r->body_too_large)
			buf_add(&r->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	conns_phase(conn, CONN_BUSY);
	if (r->status)
		return MHD_YES;
	if (r->body_too_large)
		return reply_error(r, 413, "too_large", NULL,
				   "request body is larger than the limit of %lld bytes",
				   (long long)a->cfg->api.max_body);
	if (!r->checked) {
		r->checked = true;
		log_set_request_id(r->request_id);
		int rc = precheck(r, &ret);
		log_set_request_id(NULL);
		if (rc < 0)
			return ret;
	}
	return dispatch(r);
}

/* The User-Agent logged: at most this many bytes, cut before a UTF-8 sequence. */
#define ACCESS_UA_MAX 256

/* The User-Agent for the access log: bounded, bytes that are not UTF-8 escaped; null when absent. */
static json_t *access_user_agent(struct MHD_Connection *conn)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT);
	char cut[ACCESS_UA_MAX + 1];
	size_t n;

	if (!v)
		return json_null();
	if (strlen(v) <= ACCESS_UA_MAX)
		return utf8_json(v);
	n = ACCESS_UA_MAX;
	while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
		n--; /* v[n] continues a sequence: cut before its first byte */
	memcpy(cut, v, n);
	cut[n] = '\0';
	return utf8_json(cut);
}

/*
 * The level of a request's access line: 5xx error (the server failed, someone
 * should look), everything else info. A 4xx is the client's mistake (a bad
 * body, an unknown key, a rate limit): at warn, one careless or hostile client
 * would fill the warnings an operator watches and the alarms built on them;
 * the failed-authentication and rate limiters log their own warnings when a
 * client goes past them.
 */
static enum log_level access_level(int status)
{
	return status >= 500 && status != 499 ? LL_ERROR : LL_INFO;
}

/*
 * The access line of a request: client (the X-Forwarded-For client behind a
 * trusted proxy), method, path (MHD's, without the query string, which may hold
 * a presigned URL's signature), status, bytes (the response body), duration,
 * user agent, request id, the load balancer's trace id when well-formed, tenant.
 */
static void access_log(struct req *r, uint64_t dur, int status, enum MHD_RequestTerminationCode toe)
{
	char client[INET6_ADDRSTRLEN];
	const char *trace = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Amzn-Trace-Id");
	json_t *o = json_object();

	json_object_set_new(o, "msg", json_string("request"));
	json_object_set_new(o, "client", req_client_addr(r, client) == 0 ? json_string(client) : json_null());
	json_object_set_new(o, "method", utf8_json(r->method));
	json_object_set_new(o, "path", utf8_json(r->path));
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "bytes", json_integer(strcmp(r->method, MHD_HTTP_METHOD_HEAD) ? (json_int_t)r->bytes : 0));
	json_object_set_new(o, "duration_ms", json_integer((json_int_t)((dur + 500000) / 1000000)));
	json_object_set_new(o, "duration_us", json_integer((json_int_t)(dur / 1000)));
	json_object_set_new(o, "user_agent", access_user_agent(r->conn));
	json_object_set_new(o, "request_id", json_string(r->request_id));
	json_object_set_new(o, "trace_id", trace && validate_trace_id(trace) ? json_string(trace) : json_null());
	json_object_set_new(o, "tenant", r->tenant[0] ? json_string(r->tenant) : json_null());
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		json_object_set_new(o, "terminated", json_integer((json_int_t)toe));
	log_raw_json_level(access_level(status), o);
}

/* Access log line and metrics, then free the request. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api *a = cls;
	struct req *r = *con_cls;
	conns_phase(conn, CONN_HEADER); /* the next request on a kept-alive connection */
	if (!r)
		return;
	*con_cls = NULL;
	uint64_t dur = clock_now_ns() - r->start_ns;
	int status = r->status ? r->status : 499; /* client went away before an answer */
	if (!r->probe) {
		prom_request(r->route, status, dur);
		access_log(r, dur, status, toe);
	}
	videos_release(r, toe);
	buf_release(&r->body);
	free(r);
	atomic_fetch_sub(&a->inflight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	conns_notify(conn, socket_context, toe);
	prom_connections(toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT;
	(void)cls;
	buf_vprintf(&b, fmt, ap);
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
		buf_truncate(&b, b.len - 1);
	log_warn("http: %s", buf_str(&b));
	buf_release(&b);
}

/* Read a PEM file whole into `out`; -1 with err naming the key and the file. */
static int pem_read(const char *key, const char *path, struct buf *out, struct buf *err)
{
	FILE *fp = fopen(path, "r");
	char chunk[4096];
	size_t n;

	if (!fp) {
		buf_printf(err, "api: cannot open %s '%s': %s", key, path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0 && out->len < (1u << 20))
		buf_add(out, chunk, n);
	bool bad = ferror(fp);
	fclose(fp);
	if (bad) {
		buf_printf(err, "api: cannot read %s '%s'", key, path);
		return -1;
	}
	if (!strstr(buf_str(out), "-----BEGIN ")) {
		buf_printf(err, "api: %s '%s' is not a PEM file", key, path);
		return -1;
	}
	return 0;
}

int server_tls_load(struct api *a, struct buf *err)
{
	const struct config_api *c = &a->cfg->api;

	if (!c->tls_cert && !c->tls_key)
		return 0;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		buf_printf(err, "api: tls_cert and tls_key are set but libmicrohttpd %s was built "
				"without TLS; use a build with GnuTLS or terminate TLS in front of spool-api",
			   MHD_get_version());
		return -1;
	}
	if (pem_read("tls_cert", c->tls_cert, &a->tls_cert, err) < 0 ||
	    pem_read("tls_key", c->tls_key, &a->tls_key, err) < 0) {
		server_tls_free(a);
		return -1;
	}
	return 0;
}

void server_tls_free(struct api *a)
{
	if (a->tls_key.data)
		explicit_bzero(a->tls_key.data, a->tls_key.len);
	buf_release(&a->tls_key);
	buf_release(&a->tls_cert);
}

int server_start(struct api *a, struct buf *err)
{
	const struct config_api *c = &a->cfg->api;
	struct addrinfo hints, *ai = NULL;
	char port[16];
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%lld", (long long)c->port);
	int rc = getaddrinfo(c->listen && c->listen[0] ? c->listen : NULL, port, &hints, &ai);
	if (rc != 0) {
		buf_printf(err, "api: cannot resolve listen address '%s': %s", c->listen,
			   gai_strerror(rc));
		return -1;
	}
	uuid_t u;
	uuid_generate_random(u);
	uuid_unparse_lower(u, a->probe_token);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* MHD copies neither PEM: a->tls_cert/tls_key live until server_tls_free() */
	bool tls = a->tls_cert.len > 0;
	struct MHD_OptionItem tls_opts[3] = { { MHD_OPTION_END, 0, NULL } };
	if (tls) {
		flags |= MHD_USE_TLS;
		tls_opts[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, a->tls_cert.data };
		tls_opts[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, a->tls_key.data };
		tls_opts[2] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	}
	a->mhd = MHD_start_daemon(
		flags, (uint16_t)c->port, conns_accept, a, on_request, a,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_ARRAY, tls_opts,
		MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)c->threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->connection_timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, a,
		MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!a->mhd) {
		buf_printf(err, "api: cannot listen on '%s' port %s (address in use or not permitted%s?)",
			   c->listen, port, tls ? ", or tls_cert and tls_key do not match" : "");
		return -1;
	}
	return 0;
}

int req_client_addr(const struct req *r, char out[INET6_ADDRSTRLEN])
{
	/* r->client is conns_client's: the peer, or behind a trusted proxy the X-Forwarded-For client */
	if (!r->client[0])
		return -1;
	snprintf(out, INET6_ADDRSTRLEN, "%s", r->client);
	return 0;
}

static size_t probe_discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

/*
 * Why a real request: the watchdog must hear from spool-api only while it serves.
 * A timer in the main thread proves nothing about libmicrohttpd's threads; this
 * request must be accepted (a free connection slot, file descriptors left), read
 * and routed by a thread of the pool and answered, so a pool whose threads are
 * all stuck (in a handler, a lock, the database), a listener that no longer
 * accepts, or every connection slot held stops the pings. The answer of a pool
 * with some threads free is still 200: those threads serve.
 */
int server_probe(struct api *a, struct buf *err)
{
	const struct config_api *c = &a->cfg->api;
	const char *l = c->listen && *c->listen ? c->listen : "0.0.0.0";
	struct buf url = BUF_INIT, hdr = BUF_INIT;
	long status = 0;
	int rc = -1;

	if (!strcmp(l, "0.0.0.0"))
		l = "127.0.0.1";
	else if (!strcmp(l, "::"))
		l = "::1";
	buf_printf(&url, "%s://%s%s%s:%lld/health", a->tls_cert.len ? "https" : "http", strchr(l, ':') ? "[" : "", l,
		   strchr(l, ':') ? "]" : "", (long long)c->port);
	buf_printf(&hdr, "X-Spool-Probe: %s", a->probe_token);
	CURL *h = curl_easy_init();
	struct curl_slist *hl = curl_slist_append(NULL, buf_str(&hdr));
	if (!h || !hl) {
		buf_adds(err, "curl_easy_init failed");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, buf_str(&url));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)SERVER_PROBE_MS);
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, probe_discard);
	/* our own certificate, reached by an address it may not name: liveness, not identity */
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	CURLcode cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		buf_printf(err, "GET %s: %s", buf_str(&url), curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		buf_printf(err, "GET %s: HTTP %ld", buf_str(&url), status);
	else
		rc = 0;
out:
	curl_slist_free_all(hl);
	if (h)
		curl_easy_cleanup(h);
	buf_release(&url);
	buf_release(&hdr);
	return rc;
}

void server_quiesce(struct api *a)
{
	MHD_socket s = MHD_quiesce_daemon(a->mhd);
	if (s != MHD_INVALID_SOCKET)
		close(s);
}

void server_stop(struct api *a)
{
	if (a->mhd)
		MHD_stop_daemon(a->mhd);
	a->mhd = NULL;
}
