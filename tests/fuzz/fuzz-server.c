/*
 * fuzz-server — spool-api's request handling as a client reaches it. Each input
 * is what one client sends on one connection (a request, or several pipelined)
 * before it closes its side. The server is the API's own libmicrohttpd daemon,
 * started by server_start() with the API's options and handlers, so the input
 * goes through the request line and headers, plain and chunked bodies,
 * Content-Length, auth_check() (the Authorization header, the key format, the
 * key cache), the routes' query and body checks, and the multipart bodies of
 * POST /v1/videos through MHD's post processor, as in the daemon.
 *
 * The connection is one end of a socketpair given to MHD_add_connection(); the
 * input is written to the other end, which is half-closed once the server has
 * read it all, and the answer is read until the server closes (or ANSWER_MS
 * pass). A crash is:
 *  - a request or the connection still held STUCK_MS after the client left;
 *  - an answer that does not begin with a status line, or one of a status
 *    neither spool-api nor libmicrohttpd sends (500, ...);
 *  - an answer of spool-api's (it has an X-Request-Id) whose JSON body is not
 *    an object, or for an error not {"error":{"code","message","request_id"}}
 *    with the request's id;
 *  - and, as in every target, a sanitizer report or a leak.
 *
 * What spool-api reaches outside is stood in for, so that no input waits on a
 * network. The functions below named __wrap_NAME replace NAME at link time (ld
 * --wrap: the Makefile's FUZZ_WRAP_fuzz-server lists them):
 *  - the database: db_acquire() hands out a token connection that only the
 *    stand-ins accept (an API call of another database function must get one
 *    here). It knows the keys of `keys` and no job: job_get, job_list,
 *    archive_tombstone_get and jobops_cancel find nothing, job_create (and job_create_batch, row by
 *    row) takes a job and forgets it. For DOWN_TENANT every call fails, as does the lookup of the key DOWN_KEY.
 *  - S3: the endpoint is a loopback port bound but not listening, so a call
 *    fails at once (/ready, deleting an unused upload); presigning needs only
 *    the credentials set in the environment. An upload is buffered by the real
 *    client and "completed" by s3_upload_complete() freeing it; one over
 *    STORE_MAX bytes is refused (503).
 *  - the access log (log_raw_json, log_raw_json_level) is rendered and dropped, and only errors
 *    are logged, unless SPOOL_FUZZ_LOG is set in the environment.
 */
#include "../../daemons/api/api.h"
#include "apikey.h"
#include "archive.h"
#include "clock.h"
#include "joblimits.h"
#include "jobops.h"
#include "jobtype.h"
#include "log.h"
#include "timefmt.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PEPPER "fuzz-pepper-0123456789abcdef0123456789abcdef"
#define DOWN_TENANT "tenant-down"
#define DOWN_KEY "sk_LookupFailsLookupFailsLookupFailsLookupFa"
#define STORE_MAX 1024
#define ANSWER_MS 3000
#define ANSWER_MAX (64 * 1024)
#define STUCK_MS 5000

/* The keys the stand-in database knows (the corpus's Authorization headers use them). */
static const struct {
	const char *key, *tenant, *id;
} keys[] = {
	{ "sk_TenantAkeyTenantAkeyTenantAkeyTenantAkeyT", "tenant-a", "6d1c3f2e-8b4a-4c1d-9e2f-0a1b2c3d4e5f" },
	{ "sk_TenantDownTenantDownTenantDownTenantDownT", DOWN_TENANT, "7e2d4a3f-9c5b-4d2e-8f3a-1b2c3d4e5f6a" },
};
static unsigned char key_hashes[sizeof(keys) / sizeof(keys[0])][32];
static unsigned char down_hash[32];

static struct config cfg;
static struct api api;
static bool verbose;
static int closed_port_fd = -1; /* S3's endpoint: bound, never listening */

/* ---- the stand-in database ---------------------------------------------------- */

static char token_conn; /* its address is the only connection there is */
#define TOKEN_CONN ((struct db_conn *)(void *)&token_conn)

static void conn_check(const struct db_conn *c)
{
	if (c != TOKEN_CONN)
		abort(); /* a connection db_acquire did not hand out */
}

static bool tenant_down(const char *tenant, struct buf *err)
{
	if (!tenant || strcmp(tenant, DOWN_TENANT))
		return false;
	buf_adds(err, "database: server closed the connection unexpectedly");
	return true;
}

__typeof__(db_acquire) __wrap_db_acquire;
__typeof__(db_release) __wrap_db_release;
__typeof__(db_ping) __wrap_db_ping;
__typeof__(apikey_lookup) __wrap_apikey_lookup;
__typeof__(job_get) __wrap_job_get;
__typeof__(archive_tombstone_get) __wrap_archive_tombstone_get;
__typeof__(job_list) __wrap_job_list;
__typeof__(job_create) __wrap_job_create;
__typeof__(jobops_cancel) __wrap_jobops_cancel;
__typeof__(joblimits_paused_names) __wrap_joblimits_paused_names;

struct db_conn *__wrap_db_acquire(struct db_pool *p, int timeout_ms, struct buf *err)
{
	(void)p;
	(void)timeout_ms;
	(void)err;
	return TOKEN_CONN;
}

void __wrap_db_release(struct db_conn *c)
{
	conn_check(c);
}

int __wrap_db_ping(struct db_pool *p, struct buf *err)
{
	(void)p;
	buf_adds(err, "database: no server here");
	return -1;
}

int __wrap_apikey_lookup(struct db_conn *c, const unsigned char hash[32], char **tenant_out, char id_out[37],
			 struct buf *err)
{
	conn_check(c);
	if (!memcmp(hash, down_hash, 32)) {
		buf_adds(err, "database: could not receive data from server");
		return -1;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!memcmp(hash, key_hashes[i], 32)) {
			*tenant_out = xstrdup(keys[i].tenant);
			snprintf(id_out, 37, "%s", keys[i].id);
			return 0;
		}
	return 1;
}

int __wrap_joblimits_paused_names(struct db_conn *c, size_t max, char ***names, size_t *n, struct buf *err)
{
	conn_check(c);
	(void)max;
	*names = NULL;
	*n = 0;
	buf_adds(err, "database: no server here");
	return -1;
}

enum job_rc __wrap_job_get(struct db_conn *c, const char *id, const char *tenant, struct job *out, struct buf *err)
{
	conn_check(c);
	(void)out;
	if (!job_id_valid(id))
		abort(); /* the routes look up well-formed ids only */
	return tenant_down(tenant, err) ? JOB_ERR : JOB_NOT_FOUND;
}

int __wrap_archive_tombstone_get(struct db_conn *c, const char *id, const char *tenant,
				 struct archive_tombstone *out, struct buf *err)
{
	conn_check(c);
	memset(out, 0, sizeof(*out));
	if (!job_id_valid(id))
		abort();
	return tenant_down(tenant, err) ? -1 : 0;
}

int __wrap_job_list(struct db_conn *c, const struct job_filter *f, struct job **jobs, size_t *n,
		    char **next_cursor, struct buf *err)
{
	conn_check(c);
	if (f->limit < 1 || f->limit > 1000)
		abort();
	if (tenant_down(f->tenant, err))
		return -1;
	*jobs = NULL;
	*n = 0;
	*next_cursor = NULL;
	return 0;
}

int __wrap_job_create(struct db_conn *c, const struct job_new *in, struct job *out, bool *existed,
		      struct buf *err)
{
	conn_check(c);
	if (!in->tenant || !in->type || !jobtype_find(in->type))
		abort(); /* validate_job lets only known types through */
	/* a source is the tenant's own upload: no job is anyone's, so no "results/<id>/" */
	const char *key = json_string_value(json_object_get(in->source, "key"));
	size_t tlen = strlen(in->tenant);
	if (key && (strncmp(key, "uploads/", 8) || strncmp(key + 8, in->tenant, tlen) || key[8 + tlen] != '/'))
		abort();
	if (tenant_down(in->tenant, err))
		return -1;
	uuid_t u;
	memset(out, 0, sizeof(*out));
	if (in->priority && jobprio_parse(in->priority, &out->priority) < 0)
		abort(); /* validate_job lets only the three names through */
	uuid_generate_random(u);
	uuid_unparse_lower(u, out->id);
	out->tenant = xstrdup(in->tenant);
	out->type = xstrdup(in->type);
	out->status = in->run_at_ms > 0 || in->delay_s > 0 ? JOB_SCHEDULED : JOB_QUEUED;
	out->max_attempts = in->max_attempts;
	out->source = in->source ? json_incref(in->source) : NULL;
	out->params = in->params ? json_incref(in->params) : json_object();
	out->callback_url = in->callback_url ? xstrdup(in->callback_url) : NULL;
	out->idempotency_key = in->idempotency_key ? xstrdup(in->idempotency_key) : NULL;
	timefmt_utc(time(NULL), out->created_at);
	*existed = false;
	return 0;
}

__typeof__(job_create_batch) __wrap_job_create_batch;
/* The batch of spool-api's group commit: each row as job_create; a tenant down fails them all. */
int __wrap_job_create_batch(struct db_conn *c, const struct job_new *in, size_t n, struct job *out, bool *existed,
			    struct buf *err)
{
	for (size_t i = 0; i < n; i++)
		if (__wrap_job_create(c, &in[i], &out[i], &existed[i], err) < 0) {
			for (size_t k = 0; k < i; k++)
				job_clear(&out[k]);
			return JOB_BATCH_ERR;
		}
	return JOB_BATCH_OK;
}

enum jobops_cancel_rc __wrap_jobops_cancel(struct db_conn *c, const char *id, const char *tenant,
					   const char *actor, struct job *out, struct buf *err)
{
	conn_check(c);
	(void)actor;
	memset(out, 0, sizeof(*out));
	if (!job_id_valid(id))
		abort();
	return tenant_down(tenant, err) ? JOBOPS_CANCEL_ERR : JOBOPS_CANCEL_NOT_FOUND;
}

/* ---- the stand-in bucket and the access log ----------------------------------- */

__typeof__(s3_upload_complete) __wrap_s3_upload_complete;
__typeof__(log_raw_json) __wrap_log_raw_json;
__typeof__(log_raw_json) __real_log_raw_json;
__typeof__(log_raw_json_level) __wrap_log_raw_json_level;
__typeof__(log_raw_json_level) __real_log_raw_json_level;

/* Nothing was sent (parts start at [s3] part_size): freeing the upload is all there is. */
int __wrap_s3_upload_complete(struct s3_upload *u, struct aws_error *err)
{
	int64_t size = s3_upload_size(u);
	s3_upload_abort(u);
	if (size <= STORE_MAX)
		return 0;
	aws_error_set(err, 503, "SlowDown", true, "please reduce your request rate");
	return -1;
}

void __wrap_log_raw_json(json_t *obj)
{
	if (verbose) {
		__real_log_raw_json(obj);
		return;
	}
	free(json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER));
	json_decref(obj);
}

void __wrap_log_raw_json_level(enum log_level level, json_t *obj)
{
	if (verbose) {
		__real_log_raw_json_level(level, obj);
		return;
	}
	__wrap_log_raw_json(obj);
}

/* ---- the daemon ---------------------------------------------------------------- */

/* A loopback port bound but not listening: connecting to it is refused at once. */
static int closed_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	closed_port_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (closed_port_fd < 0 || bind(closed_port_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(closed_port_fd, (struct sockaddr *)&sin, &len) < 0) {
		perror("fuzz-server: cannot bind a loopback port");
		abort();
	}
	return ntohs(sin.sin_port);
}

/*
 * The API's config: small body limits (so that inputs reach them), one MHD
 * thread, S3 on the closed port with a single attempt, a short
 * connection_timeout for a client that stops halfway, and no rate limit (it
 * answers by the clock: an input's path would depend on the inputs before it).
 */
static void config_make(void)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	buf_printf(&text,
		   "[aws]\nregion = us-east-1\nmax_attempts = 1\ntimeout = 1s\n"
		   "[database]\nsecret = env:SPOOL_FUZZ_NONE\n"
		   "[rabbitmq]\nsecret = env:SPOOL_FUZZ_NONE\n"
		   "[s3]\nbucket = spool-fuzz\nendpoint_url = http://127.0.0.1:%d\n"
		   "[api]\nlisten = 127.0.0.1\nthreads = 1\nmax_connections = 8\nconnection_timeout = 1s\n"
		   "max_body = 1K\nmax_upload = 2K\npepper_secret = env:SPOOL_FUZZ_NONE\n"
		   "key_cache_ttl = 30s\nrate_limit = 0\nmax_wait = 60s\n"
		   "webhook_allow_hosts = hooks.example.com, 10.0.0.5\n",
		   closed_port());
	if (config_load_string(&cfg, "fuzz-server.ini", buf_str(&text), PROG_API, &err) < 0) {
		fprintf(stderr, "fuzz-server: %s\n", buf_str(&err));
		abort();
	}
	/* any free port: the inputs come through MHD_add_connection(), not this socket */
	cfg.api.port = 0;
	buf_release(&text);
	buf_release(&err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct buf err = BUF_INIT;
	(void)argc;
	(void)argv;
	verbose = getenv("SPOOL_FUZZ_LOG") != NULL;
	log_init("spool-api", "fuzz", LF_TEXT, verbose ? LL_DEBUG : LL_ERROR);
	setenv("AWS_ACCESS_KEY_ID", "AKIDFUZZEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "fuzz/secret/key/for/presigning/only", 1);
	unsetenv("AWS_SESSION_TOKEN");
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	config_make();
	api.cfg = &cfg;
	/* few slots, so that keys take each other's over */
	auth_init(PEPPER, 16);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!apikey_format_ok(keys[i].key))
			abort();
		apikey_hash(PEPPER, keys[i].key, key_hashes[i]);
	}
	apikey_hash(PEPPER, DOWN_KEY, down_hash);
	api.s3 = s3_new(&cfg, NULL);
	/* the connection registry (per-address caps, deadlines), as main.c starts it */
	if (conns_start(&api, &err) < 0 || server_start(&api, &err) < 0) {
		fprintf(stderr, "fuzz-server: %s\n", buf_str(&err));
		abort();
	}
	buf_release(&err);
	return 0;
}

/* ---- one connection ------------------------------------------------------------ */

/* Bytes written to `fd` that its peer has not read yet. */
static int unread(int fd)
{
	int n = 0;
	return ioctl(fd, SIOCOUTQ, &n) < 0 ? 0 : n;
}

/* The value of header `name` in the header block [h, end), as a C string in out. */
static bool header_value(const char *h, const char *end, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	for (const char *l = h; l < end;) {
		const char *eol = memmem(l, (size_t)(end - l), "\r\n", 2);
		if (!eol)
			eol = end;
		if ((size_t)(eol - l) > nlen && l[nlen] == ':' && !strncasecmp(l, name, nlen)) {
			const char *v = l + nlen + 1;
			while (v < eol && *v == ' ')
				v++;
			snprintf(out, cap, "%.*s", (int)(eol - v), v);
			return true;
		}
		l = eol + 2;
	}
	return false;
}

/* The status of the response at p, or abort: it must begin with a status line. */
static int status_of(const char *p, size_t len)
{
	if (len < 13 || (strncmp(p, "HTTP/1.1 ", 9) && strncmp(p, "HTTP/1.0 ", 9)) || !isdigit((unsigned char)p[9]) ||
	    !isdigit((unsigned char)p[10]) || !isdigit((unsigned char)p[11]) || p[12] != ' ') {
		fprintf(stderr, "fuzz-server: the answer does not begin with a status line: '%.*s'\n",
			(int)(len < 40 ? len : 40), p);
		abort();
	}
	return atoi(p + 9);
}

/* A JSON body of spool-api: an object; an error's is {"error":{"code","message","request_id"}}. */
static void check_json_body(int status, const char *body, size_t len, const char *request_id)
{
	json_t *o = json_loadb(body, len, 0, NULL);
	json_t *e = json_object_get(o, "error");
	const char *rid = json_string_value(json_object_get(e, "request_id"));
	if (!json_is_object(o) ||
	    (status >= 400 && (!json_string_value(json_object_get(e, "code")) ||
			       !json_string_value(json_object_get(e, "message")) || !rid || strcmp(rid, request_id)))) {
		fprintf(stderr, "fuzz-server: status %d with the body '%.*s'\n", status, (int)len, body);
		abort();
	}
	json_decref(o);
}

/*
 * The first response of the answer (after a 100 Continue): a status spool-api
 * or libmicrohttpd sends (500 would be a request the server did not know how
 * to end); when it is spool-api's (it has an X-Request-Id), a JSON body as
 * reply.c makes them. The answer may be empty: the server closed on a request
 * it could not read. A HEAD's response has no body to check.
 */
static void check_answer(const char *p, size_t len, bool is_head)
{
	static const int expected[] = { 200, 201, 202, 302, 400, 401, 404, 405, 409, 413, 414, 415,
					422, 429, 431, 503, 505 };
	char rid[256], ctype[256], clen[32];
	int status;
	const char *end;
	for (;;) {
		if (len == 0)
			return;
		status = status_of(p, len);
		end = memmem(p, len, "\r\n\r\n", 4);
		if (!end)
			return; /* cut off by ANSWER_MAX */
		if (status != 100)
			break;
		len -= (size_t)(end + 4 - p);
		p = end + 4;
	}
	size_t i = 0;
	while (i < sizeof(expected) / sizeof(expected[0]) && expected[i] != status)
		i++;
	if (i == sizeof(expected) / sizeof(expected[0])) {
		fprintf(stderr, "fuzz-server: unexpected status %d\n", status);
		abort();
	}
	if (is_head || !header_value(p, end, "X-Request-Id", rid, sizeof(rid)) ||
	    !header_value(p, end, "Content-Type", ctype, sizeof(ctype)) ||
	    strncmp(ctype, "application/json", 16) || !header_value(p, end, "Content-Length", clen, sizeof(clen)))
		return;
	size_t n = strtoul(clen, NULL, 10), have = len - (size_t)(end + 4 - p);
	if (n <= have)
		check_json_body(status, end + 4, n, rid);
}

/*
 * Send the input on a new connection, half-close it once the server has read
 * all of it, read the answer until the server closes. The end of the stream
 * only goes after the last byte has been read: libmicrohttpd (epoll,
 * edge-triggered) notices an end that came with the data only at
 * api.connection_timeout, which would make every input with a short body last
 * that long.
 */
static void converse(const uint8_t *data, size_t size)
{
	int sv[2];
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(50123),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("fuzz-server: socketpair");
		abort();
	}
	/* MHD owns sv[0] from here, also when it refuses it */
	if (MHD_add_connection(api.mhd, sv[0], (struct sockaddr *)&peer, sizeof(peer)) != MHD_YES) {
		perror("fuzz-server: MHD_add_connection");
		abort();
	}
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	size_t off = 0;
	bool shut = false;
	char chunk[4096];
	struct buf answer = BUF_INIT;
	int64_t deadline = clock_now_ms() + ANSWER_MS;
	for (;;) {
		if (off == size && !shut && unread(sv[1]) == 0) {
			shutdown(sv[1], SHUT_WR);
			shut = true;
		}
		struct pollfd pfd = { .fd = sv[1], .events = POLLIN | (off < size ? POLLOUT : 0) };
		int64_t left = deadline - clock_now_ms();
		if (left <= 0)
			break;
		/* while the server has bytes to read, look again every millisecond */
		int rc = poll(&pfd, 1, off == size && !shut ? 1 : (int)left);
		if (rc < 0 && errno != EINTR)
			abort();
		if (rc <= 0)
			continue;
		if (pfd.revents & POLLOUT) {
			ssize_t n = send(sv[1], data + off, size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				off = size; /* the server closed: nothing more goes */
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(sv[1], chunk, sizeof(chunk), 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				break;
			if (n > 0 && answer.len < ANSWER_MAX)
				buf_add(&answer, chunk, (size_t)n);
		}
	}
	close(sv[1]);
	size_t lead = 0;
	while (lead < size && (data[lead] == '\r' || data[lead] == '\n'))
		lead++;
	check_answer(answer.data, answer.len, size - lead >= 5 && !memcmp(data + lead, "HEAD ", 5));
	buf_release(&answer);
}

/* Wait until the server has ended every request and dropped the connection. */
static void settle(void)
{
	int64_t deadline = clock_now_ms() + STUCK_MS;
	for (;;) {
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(api.mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		int inflight = atomic_load(&api.inflight);
		unsigned conns = di ? di->num_connections : 0;
		if (inflight == 0 && conns == 0)
			return;
		if (clock_now_ms() > deadline) {
			fprintf(stderr, "fuzz-server: %d requests and %u connections still open %d ms after the client left\n",
				inflight, conns, STUCK_MS);
			abort();
		}
		struct timespec ts = { 0, 20 * 1000 };
		nanosleep(&ts, NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	converse(data, size);
	settle();
	return 0;
}
