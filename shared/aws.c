#include "aws.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "alive.h"
#include "clock.h"
#include "log.h"

#define MAX_BACKOFF_MS 20000
#define MAX_ERROR_BODY (64 * 1024 * 1024)
#define STREAM_THRESHOLD (1024 * 1024)

struct aws_client {
	struct awscreds *creds;
	long timeout;
	int max_attempts;
	pthread_mutex_t lock;
	struct aws_retry_quota quota;
};

/* --- errors --- */

void aws_error_clear(struct aws_error *e)
{
	if (e)
		memset(e, 0, sizeof(*e));
}

void aws_error_set(struct aws_error *e, long status, const char *code, bool transient,
		   const char *fmt, ...)
{
	if (!e)
		return;
	e->status = status;
	snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
	e->transient = transient;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

void aws_error_format(const struct aws_error *e, struct buf *out)
{
	buf_adds(out, *e->code ? e->code : "error");
	if (e->status)
		buf_printf(out, " (HTTP %ld%s)", e->status, e->transient ? ", transient" : "");
	else if (e->transient)
		buf_adds(out, " (transient)");
	if (*e->message)
		buf_printf(out, ": %s", e->message);
}

bool aws_error_is_throttle(const char *code)
{
	static const char *const codes[] = {
		"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
		"TooManyRequestsException", "ProvisionedThroughputExceededException",
		"TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
		"LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
		"EC2ThrottledException",
	};
	for (size_t i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(code, codes[i]))
			return true;
	return false;
}

bool aws_error_is_transient(long status, const char *code)
{
	static const char *const codes[] = {
		"RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure",
		"ServiceUnavailable", "InternalServiceError", "InternalServiceErrorException",
	};
	if (status == 0 || status == 429 || status == 500 || status == 502 || status == 503 ||
	    status == 504)
		return true;
	if (aws_error_is_throttle(code))
		return true;
	for (size_t i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(code, codes[i]))
			return true;
	return false;
}

static const char *status_code_name(long status)
{
	switch (status) {
	case 400: return "BadRequest";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "NotFound";
	case 405: return "MethodNotAllowed";
	case 409: return "Conflict";
	case 412: return "PreconditionFailed";
	case 416: return "InvalidRange";
	case 429: return "TooManyRequests";
	case 500: return "InternalError";
	case 501: return "NotImplemented";
	case 502: return "BadGateway";
	case 503: return "ServiceUnavailable";
	case 504: return "GatewayTimeout";
	default: return "HttpError";
	}
}

/* Copy `s` (n bytes) into a fixed field, on one line. */
static void copy_field(char *dst, size_t cap, const char *s, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n && j + 1 < cap; i++)
		dst[j++] = (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
	dst[j] = '\0';
}

void aws_error_parse(long status, const char *body, size_t len, const char *type_header,
		     struct aws_error *e)
{
	aws_error_clear(e);
	e->status = status;
	size_t i = 0;
	while (body && i < len && isspace((unsigned char)body[i]))
		i++;
	if (body && i < len && body[i] == '<') {
		struct buf v = BUF_INIT;
		if (aws_xml_get(body, len, "Code", &v) == 0)
			copy_field(e->code, sizeof(e->code), v.data, v.len);
		buf_reset(&v);
		if (aws_xml_get(body, len, "Message", &v) == 0)
			copy_field(e->message, sizeof(e->message), v.data, v.len);
		buf_release(&v);
	} else if (body && i < len && body[i] == '{') {
		json_t *root = json_loadb(body, len, 0, NULL);
		const char *type = json_string_value(json_object_get(root, "__type"));
		if (!type)
			type = json_string_value(json_object_get(root, "code"));
		if (!type)
			type = json_string_value(json_object_get(root, "Code"));
		const char *msg = json_string_value(json_object_get(root, "message"));
		if (!msg)
			msg = json_string_value(json_object_get(root, "Message"));
		if (type) {
			const char *h = strrchr(type, '#');
			type = h ? h + 1 : type;
			copy_field(e->code, sizeof(e->code), type, strcspn(type, ":"));
		}
		if (msg)
			copy_field(e->message, sizeof(e->message), msg, strlen(msg));
		json_decref(root);
	}
	if (!*e->code && type_header && *type_header)
		copy_field(e->code, sizeof(e->code), type_header, strcspn(type_header, ":"));
	if (!*e->code)
		snprintf(e->code, sizeof(e->code), "%s", status_code_name(status));
	e->transient = aws_error_is_transient(status, e->code);
}

/* --- retry arithmetic --- */

int64_t aws_retry_delay_ms(int retry, double r)
{
	if (retry < 1)
		retry = 1;
	if (r < 0)
		r = 0;
	if (r >= 1)
		r = 0.999999;
	int64_t ceiling = retry > 15 ? MAX_BACKOFF_MS : ((int64_t)1000 << (retry - 1));
	if (ceiling > MAX_BACKOFF_MS)
		ceiling = MAX_BACKOFF_MS;
	return (int64_t)(r * (double)ceiling);
}

int aws_retry_quota_acquire(struct aws_retry_quota *q, bool is_timeout)
{
	int cost = is_timeout ? AWS_RETRY_TIMEOUT_COST : AWS_RETRY_COST;
	if (q->tokens < cost)
		return 0;
	q->tokens -= cost;
	return cost;
}

void aws_retry_quota_release(struct aws_retry_quota *q, int cost)
{
	q->tokens += cost > 0 ? cost : 1;
	if (q->tokens > AWS_RETRY_QUOTA_MAX)
		q->tokens = AWS_RETRY_QUOTA_MAX;
}

static double random_unit(void)
{
	uint32_t v;
	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = (uint32_t)rand();
	return (double)v / 4294967296.0;
}

/* --- client, per-thread curl handles --- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static pthread_key_t handle_key;

static void handle_destroy(void *h)
{
	curl_easy_cleanup(h);
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_key_create(&handle_key, handle_destroy);
}

static CURL *thread_handle(void)
{
	pthread_once(&global_once, global_init);
	CURL *h = pthread_getspecific(handle_key);
	if (!h) {
		h = curl_easy_init();
		if (h)
			pthread_setspecific(handle_key, h);
	} else {
		curl_easy_reset(h);
	}
	return h;
}

void aws_thread_cleanup(void)
{
	pthread_once(&global_once, global_init);
	CURL *h = pthread_getspecific(handle_key);
	if (h) {
		pthread_setspecific(handle_key, NULL);
		curl_easy_cleanup(h);
	}
}

struct aws_client *aws_client_new(const struct config *cfg, struct awscreds *creds)
{
	pthread_once(&global_once, global_init);
	struct aws_client *c = xcalloc(1, sizeof(*c));
	c->creds = creds;
	c->timeout = cfg && cfg->aws.timeout > 0 ? (long)cfg->aws.timeout : 10;
	c->max_attempts = cfg && cfg->aws.max_attempts > 0 ? (int)cfg->aws.max_attempts : 3;
	pthread_mutex_init(&c->lock, NULL);
	c->quota.tokens = AWS_RETRY_QUOTA_MAX;
	return c;
}

void aws_client_free(struct aws_client *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void aws_response_init(struct aws_response *r)
{
	r->status = 0;
	buf_init(&r->body);
	buf_init(&r->headers);
}

void aws_response_release(struct aws_response *r)
{
	buf_release(&r->body);
	buf_release(&r->headers);
}

int aws_response_header(const struct aws_response *r, const char *name, struct buf *out)
{
	size_t nl = strlen(name);
	const char *p = buf_str(&r->headers);
	while (*p) {
		const char *e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		if ((size_t)(e - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = e;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			buf_reset(out);
			buf_add(out, v, (size_t)(ve - v));
			return 0;
		}
		p = *e ? e + 1 : e;
	}
	return -1;
}

int aws_endpoint_split(const char *endpoint, struct buf *scheme_host, struct buf *host,
		       struct buf *base)
{
	const char *p = strstr(endpoint, "://");
	if (!p)
		return -1;
	const char *auth = p + 3;
	const char *slash = strchr(auth, '/');
	size_t alen = slash ? (size_t)(slash - auth) : strlen(auth);
	if (!alen)
		return -1;
	if (scheme_host) {
		buf_reset(scheme_host);
		buf_add(scheme_host, endpoint, (size_t)(auth - endpoint) + alen);
	}
	if (host) {
		buf_reset(host);
		buf_add(host, auth, alen);
	}
	if (base) {
		buf_reset(base);
		if (slash) {
			size_t bl = strlen(slash);
			while (bl && slash[bl - 1] == '/')
				bl--;
			buf_add(base, slash, bl);
		}
	}
	return 0;
}

struct xfer {
	const struct aws_request *req;
	struct aws_response *resp;
	CURL *h;
	size_t mem_off;      /* memory body read position */
	int64_t file_left;   /* file body bytes left */
	bool write_failed;
	int64_t out_len;     /* 2xx body bytes written to out_fp */
	bool over_max;       /* the 2xx body went past req->out_max */
};

static size_t read_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	alive_touch(); /* bytes move: the calling thread is not wedged */
	size_t want = size * nmemb;
	if (x->req->body_fp) {
		if (x->file_left <= 0)
			return 0;
		if ((int64_t)want > x->file_left)
			want = (size_t)x->file_left;
		size_t n = fread(ptr, 1, want, x->req->body_fp);
		if (n == 0 && ferror(x->req->body_fp))
			return CURL_READFUNC_ABORT;
		x->file_left -= (int64_t)n;
		return n;
	}
	size_t left = x->req->body_len - x->mem_off;
	if (want > left)
		want = left;
	memcpy(ptr, (const char *)x->req->body + x->mem_off, want);
	x->mem_off += want;
	return want;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	alive_touch(); /* bytes move: the calling thread is not wedged */
	size_t n = size * nmemb;
	long st = 0;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
	if (x->req->out_fp && st >= 200 && st < 300) {
		if (x->req->out_max > 0 && x->out_len + (int64_t)n > x->req->out_max) {
			x->over_max = true;
			return 0;
		}
		x->out_len += (int64_t)n;
		if (fwrite(ptr, 1, n, x->req->out_fp) != n) {
			x->write_failed = true;
			return 0;
		}
		return n;
	}
	if (x->resp->body.len + n > MAX_ERROR_BODY)
		return 0;
	buf_add(&x->resp->body, ptr, n);
	return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	if (n >= 5 && !strncmp(ptr, "HTTP/", 5))
		buf_reset(&x->resp->headers); /* a new response (after 100 Continue) */
	buf_add(&x->resp->headers, ptr, n);
	return n;
}

static bool curl_is_timeout(CURLcode rc)
{
	return rc == CURLE_OPERATION_TIMEDOUT;
}

static bool curl_is_transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

int aws_request_rewind(const struct aws_request *req)
{
	if (req->body_fp && fseeko(req->body_fp, (off_t)req->body_offset, SEEK_SET) != 0)
		return -1;
	if (req->out_fp) {
		fflush(req->out_fp);
		if (ftruncate(fileno(req->out_fp), 0) != 0 || fseeko(req->out_fp, 0, SEEK_SET) != 0)
			return -1;
	}
	return 0;
}

/* One signed attempt. Returns the curl code; resp->status is set when answered. */
static CURLcode attempt_once(struct aws_client *c, const struct aws_request *req,
			     const struct aws_credentials *cr, struct aws_response *resp,
			     struct buf *why)
{
	struct buf sh = BUF_INIT, host = BUF_INIT, base = BUF_INIT, url = BUF_INIT, path = BUF_INIT;
	CURLcode rc = CURLE_FAILED_INIT;
	struct curl_slist *hl = NULL;
	struct sigv4_out so;
	sigv4_out_init(&so);
	if (aws_endpoint_split(req->endpoint, &sh, &host, &base) != 0) {
		buf_printf(why, "bad endpoint '%s'", req->endpoint);
		rc = CURLE_URL_MALFORMAT;
		goto out;
	}
	buf_printf(&path, "%s%s", buf_str(&base), req->path && *req->path ? req->path : "/");

	struct sigv4_creds sc = { cr->access_key_id, cr->secret_access_key, cr->session_token };
	struct sigv4_params sp = { req->region, req->service, time(NULL), req->sign_flags, 0 };
	struct sigv4_request sr = { req->method, buf_str(&host), buf_str(&path), req->query,
				    req->headers, req->nheaders,
				    req->body_fp ? NULL : req->body, req->body_fp ? 0 : req->body_len,
				    req->payload_hash };
	if (req->body_fp && !req->payload_hash)
		sr.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
	if (sigv4_sign(&sc, &sp, &sr, &so) != 0) {
		buf_adds(why, "cannot sign request");
		goto out;
	}

	struct buf line = BUF_INIT;
	buf_printf(&line, "Host: %s", buf_str(&host));
	hl = curl_slist_append(hl, buf_str(&line));
	for (size_t i = 0; i < req->nheaders; i++) {
		buf_reset(&line);
		buf_printf(&line, "%s: %s", req->headers[i].name, req->headers[i].value);
		hl = curl_slist_append(hl, buf_str(&line));
	}
	buf_reset(&line);
	buf_printf(&line, "X-Amz-Date: %s", so.amz_date);
	hl = curl_slist_append(hl, buf_str(&line));
	if (cr->session_token && *cr->session_token) {
		buf_reset(&line);
		buf_printf(&line, "X-Amz-Security-Token: %s", cr->session_token);
		hl = curl_slist_append(hl, buf_str(&line));
	}
	if ((req->sign_flags & SIGV4_S3) && !(req->sign_flags & SIGV4_NO_CONTENT_SHA)) {
		buf_reset(&line);
		buf_printf(&line, "X-Amz-Content-Sha256: %s", so.payload_hash);
		hl = curl_slist_append(hl, buf_str(&line));
	}
	buf_reset(&line);
	buf_printf(&line, "Authorization: %s", buf_str(&so.authorization));
	hl = curl_slist_append(hl, buf_str(&line));
	buf_release(&line);
	hl = curl_slist_append(hl, "Expect:");
	hl = curl_slist_append(hl, "Accept:");

	buf_printf(&url, "%s%s", buf_str(&sh), buf_str(&path));
	if (req->query && *req->query)
		buf_printf(&url, "?%s", req->query);

	CURL *h = thread_handle();
	if (!h) {
		buf_adds(why, "curl_easy_init failed");
		goto out;
	}
	struct xfer x = { req, resp, h, 0, req->body_fp ? (int64_t)req->body_len : 0, 0, 0, 0 };
	buf_reset(&resp->body);
	buf_reset(&resp->headers);
	resp->status = 0;
	curl_easy_setopt(h, CURLOPT_URL, buf_str(&url));
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->timeout < 10 ? c->timeout : 10L);
	int streamed = req->body_fp || req->out_fp || req->body_len > STREAM_THRESHOLD;
	if (streamed) {
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->timeout);
	} else {
		curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout);
	}
	int has_body = req->body_fp || req->body_len || !strcmp(req->method, "PUT") ||
		       !strcmp(req->method, "POST");
	if (!strcmp(req->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (has_body) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, &x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	}
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	else if (x.over_max)
		buf_printf(why, "the response is longer than the limit of %lld bytes", (long long)req->out_max);
	else if (x.write_failed)
		buf_printf(why, "writing the response: %s", strerror(errno));
	else
		buf_adds(why, curl_easy_strerror(rc));
	/* Do not keep pointers into this call's stack in the reused handle. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
out:
	curl_slist_free_all(hl);
	sigv4_out_release(&so);
	buf_release(&sh);
	buf_release(&host);
	buf_release(&base);
	buf_release(&url);
	buf_release(&path);
	return rc;
}

static bool is_expired_token(const char *code)
{
	return !strcmp(code, "ExpiredToken") || !strcmp(code, "ExpiredTokenException") ||
	       !strcmp(code, "RequestExpired") || !strcmp(code, "TokenRefreshRequired");
}

int aws_client_call(struct aws_client *c, const struct aws_request *req, struct aws_response *resp,
		    struct aws_error *err)
{
	int max = req->max_attempts > 0 ? req->max_attempts : c->max_attempts;
	bool refreshed = false;
	int last_cost = 0, sent = 0;
	aws_error_clear(err);
	for (int attempt = 1;; attempt++) {
		struct aws_credentials cr = { 0 };
		struct buf why = BUF_INIT;
		if (awscreds_get(c->creds, &cr, &why) != 0) {
			aws_error_set(err, 0, "NoCredentials", true, "%s", buf_str(&why));
			buf_release(&why);
			return -1;
		}
		if (sent++ > 0 && aws_request_rewind(req) != 0) {
			aws_error_set(err, 0, "LocalIOError", false, "cannot rewind for a retry: %s",
				      strerror(errno));
			aws_credentials_clear(&cr);
			buf_release(&why);
			return -1;
		}
		CURLcode rc = attempt_once(c, req, &cr, resp, &why);
		aws_credentials_clear(&cr);
		bool timeout = false;
		if (rc != CURLE_OK) {
			timeout = curl_is_timeout(rc);
			aws_error_set(err, 0, timeout ? "RequestTimeout" : "NetworkError",
				      curl_is_transient(rc), "%s %s: %s", req->method, req->endpoint,
				      buf_str(&why));
		} else if (resp->status >= 200 && resp->status < 300) {
			pthread_mutex_lock(&c->lock);
			aws_retry_quota_release(&c->quota, last_cost);
			pthread_mutex_unlock(&c->lock);
			buf_release(&why);
			aws_error_clear(err);
			return 0;
		} else {
			struct buf type = BUF_INIT;
			aws_response_header(resp, "x-amzn-ErrorType", &type);
			aws_error_parse(resp->status, resp->body.data, resp->body.len, buf_str(&type), err);
			buf_release(&type);
		}
		buf_release(&why);
		if (rc == CURLE_OK && is_expired_token(err->code) && !refreshed) {
			refreshed = true;
			awscreds_invalidate(c->creds);
			attempt--; /* does not count against max_attempts */
			continue;
		}
		if (!err->transient || attempt >= max)
			return -1;
		pthread_mutex_lock(&c->lock);
		last_cost = aws_retry_quota_acquire(&c->quota, timeout);
		pthread_mutex_unlock(&c->lock);
		if (!last_cost) {
			log_debug("aws: retry quota exhausted, not retrying %s", err->code);
			return -1;
		}
		int64_t ms = aws_retry_delay_ms(attempt, random_unit());
		log_debug("aws: %s %s failed (%s, HTTP %ld), retry %d in %lld ms", req->method,
			  req->service, err->code, err->status, attempt, (long long)ms);
		clock_sleep_ms(ms);
	}
}

/* --- XML --- */

const char *aws_xml_find(const char *xml, size_t len, const char *tag, const char **val, size_t *vlen)
{
	size_t tl = strlen(tag);
	const char *end = xml + len;
	const char *p = xml;
	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		if (!lt || (size_t)(end - lt) < tl + 2)
			return NULL;
		if (!memcmp(lt + 1, tag, tl) && (lt[tl + 1] == '>' || lt[tl + 1] == ' ' ||
						lt[tl + 1] == '/')) {
			const char *gt = memchr(lt, '>', (size_t)(end - lt));
			if (!gt)
				return NULL;
			if (gt[-1] == '/') { /* <Tag/> */
				*val = gt;
				*vlen = 0;
				return gt + 1;
			}
			const char *v = gt + 1;
			const char *q = v;
			int depth = 1; /* nested elements of the same name */
			while (q < end) {
				const char *c = memchr(q, '<', (size_t)(end - q));
				if (!c || (size_t)(end - c) < tl + 3)
					return NULL;
				if (c[1] == '/' && !memcmp(c + 2, tag, tl) && c[tl + 2] == '>') {
					if (--depth == 0) {
						*val = v;
						*vlen = (size_t)(c - v);
						return c + tl + 3;
					}
				} else if (!memcmp(c + 1, tag, tl) && (c[tl + 1] == '>' || c[tl + 1] == ' ')) {
					depth++;
				}
				q = c + 1;
			}
			return NULL;
		}
		p = lt + 1;
	}
	return NULL;
}

static void utf8_put(struct buf *out, unsigned long cp)
{
	if (cp < 0x80) {
		buf_addc(out, (char)cp);
	} else if (cp < 0x800) {
		buf_addc(out, (char)(0xC0 | (cp >> 6)));
		buf_addc(out, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		buf_addc(out, (char)(0xE0 | (cp >> 12)));
		buf_addc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
		buf_addc(out, (char)(0x80 | (cp & 0x3F)));
	} else {
		buf_addc(out, (char)(0xF0 | (cp >> 18)));
		buf_addc(out, (char)(0x80 | ((cp >> 12) & 0x3F)));
		buf_addc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
		buf_addc(out, (char)(0x80 | (cp & 0x3F)));
	}
}

void aws_xml_unescape(struct buf *out, const char *s, size_t len)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = { { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' }, { "apos;", '\'' } };
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '&') {
			buf_addc(out, s[i]);
			continue;
		}
		const char *semi = memchr(s + i, ';', len - i);
		size_t elen = semi ? (size_t)(semi - (s + i)) : 0;
		bool done = false;
		if (semi && elen > 2 && s[i + 1] == '#') {
			char num[16];
			if (elen - 2 < sizeof(num)) {
				memcpy(num, s + i + 2, elen - 2);
				num[elen - 2] = '\0';
				char *endp;
				unsigned long cp = (num[0] == 'x' || num[0] == 'X') ? strtoul(num + 1, &endp, 16)
										    : strtoul(num, &endp, 10);
				if (*endp == '\0' && cp > 0 && cp <= 0x10FFFF) {
					utf8_put(out, cp);
					done = true;
				}
			}
		}
		for (size_t k = 0; !done && semi && k < sizeof(ents) / sizeof(ents[0]); k++) {
			size_t nl = strlen(ents[k].name);
			if (elen == nl && !strncmp(s + i + 1, ents[k].name, nl)) {
				buf_addc(out, ents[k].c);
				done = true;
			}
		}
		if (done)
			i += elen;
		else
			buf_addc(out, '&');
	}
}

int aws_xml_get(const char *xml, size_t len, const char *tag, struct buf *out)
{
	const char *v;
	size_t vl;
	if (!xml || !aws_xml_find(xml, len, tag, &v, &vl))
		return -1;
	buf_reset(out);
	aws_xml_unescape(out, v, vl);
	return 0;
}
