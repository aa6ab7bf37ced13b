/*
 * logship — the CloudWatch Logs shipper. See logship.h.
 */
#include "logship.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws.h"
#include "awscreds.h"
#include "bgthread.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "timefmt.h"
#include "utf8.h"

#define BACKOFF_MAX_MS 60000
#define NOTICE_ROOM 512 /* bytes kept free in a batch for the drop notice */

/* ------------------------------------------------------------------ the queue */

struct entry {
	struct entry *next;
	int64_t ts_ms;
	size_t len;
	char msg[]; /* len bytes and a NUL */
};

struct logship_queue {
	pthread_mutex_t mu; /* guards the fields below */
	struct entry *head, *tail;
	size_t n, bytes, cap;
	int64_t last_ts;
	uint64_t dropped;
	bool closed;
};

/* What a line costs against the cap. */
static size_t entry_cost(size_t len)
{
	return sizeof(struct entry) + len + 1;
}

struct logship_queue *logship_queue_new(size_t cap)
{
	struct logship_queue *q = xcalloc(1, sizeof(*q));
	pthread_mutex_init(&q->mu, NULL);
	q->cap = cap;
	return q;
}

static void entries_free(struct entry *e)
{
	while (e) {
		struct entry *next = e->next;
		free(e);
		e = next;
	}
}

void logship_queue_close(struct logship_queue *q)
{
	pthread_mutex_lock(&q->mu);
	struct entry *e = q->head;
	q->head = q->tail = NULL;
	q->n = q->bytes = 0;
	q->closed = true;
	pthread_mutex_unlock(&q->mu);
	entries_free(e);
}

void logship_queue_free(struct logship_queue *q)
{
	if (!q)
		return;
	entries_free(q->head);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

/* A copy of the line fit for an event: UTF-8, at most LOGSHIP_MAX_EVENT_BYTES. */
static struct entry *entry_new(const char *line, size_t len)
{
	struct buf esc = BUF_INIT;
	if (!utf8_valid(line, len)) {
		utf8_escape(&esc, line, len);
		line = esc.data;
		len = esc.len;
	}
	if (len > LOGSHIP_MAX_EVENT_BYTES) {
		len = LOGSHIP_MAX_EVENT_BYTES;
		while (len > 0 && ((unsigned char)line[len] & 0xC0) == 0x80)
			len--; /* not in the middle of a character */
	}
	struct entry *e = xmalloc(sizeof(*e) + len + 1);
	e->next = NULL;
	e->len = len;
	memcpy(e->msg, line, len);
	e->msg[len] = '\0';
	buf_release(&esc);
	return e;
}

int logship_queue_push(struct logship_queue *q, int64_t now_ms, const char *line, size_t len)
{
	size_t cost = entry_cost(len < LOGSHIP_MAX_EVENT_BYTES ? len : LOGSHIP_MAX_EVENT_BYTES);
	int rc;

	pthread_mutex_lock(&q->mu);
	bool room = !q->closed && q->bytes + cost <= q->cap;
	if (!room)
		q->dropped++;
	pthread_mutex_unlock(&q->mu);
	if (!room)
		return -1;
	struct entry *e = entry_new(line, len); /* outside the lock */
	cost = entry_cost(e->len);
	pthread_mutex_lock(&q->mu);
	if (q->closed || q->bytes + cost > q->cap) { /* filled up meanwhile */
		q->dropped++;
		pthread_mutex_unlock(&q->mu);
		free(e);
		return -1;
	}
	e->ts_ms = now_ms > q->last_ts ? now_ms : q->last_ts;
	q->last_ts = e->ts_ms;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->n++;
	q->bytes += cost;
	/* a full batch is waiting: just now, so the consumer is woken once per batch */
	rc = q->n == LOGSHIP_MAX_EVENTS || (q->bytes >= LOGSHIP_MAX_BYTES && q->bytes - cost < LOGSHIP_MAX_BYTES);
	pthread_mutex_unlock(&q->mu);
	return rc;
}

size_t logship_queue_peek(struct logship_queue *q, struct logship_event *ev, size_t max_events,
			  size_t max_bytes, bool *full)
{
	pthread_mutex_lock(&q->mu);
	struct entry *e = q->head;
	size_t avail = q->n;
	pthread_mutex_unlock(&q->mu);

	/*
	 * Only this thread removes lines, and pushes only append: the first `avail`
	 * lines and their links (set before the unlock above) stay as they are.
	 */
	size_t k = 0, bytes = 0;
	*full = false;
	while (k < avail) {
		size_t cost = e->len + LOGSHIP_EVENT_OVERHEAD;
		if (k == max_events || bytes + cost > max_bytes ||
		    (k > 0 && e->ts_ms - ev[0].ts_ms > LOGSHIP_MAX_SPAN_MS)) {
			*full = true;
			break;
		}
		ev[k].ts_ms = e->ts_ms;
		ev[k].msg = e->msg;
		ev[k].len = e->len;
		bytes += cost;
		if (++k < avail)
			e = e->next;
	}
	return k;
}

void logship_queue_pop(struct logship_queue *q, size_t n)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&q->mu);
	struct entry *first = q->head, *last = q->head;
	size_t freed = entry_cost(last->len);
	for (size_t i = 1; i < n && last->next; i++) {
		last = last->next;
		freed += entry_cost(last->len);
	}
	q->head = last->next;
	if (!q->head)
		q->tail = NULL;
	last->next = NULL;
	q->n -= n;
	q->bytes -= freed;
	pthread_mutex_unlock(&q->mu);
	entries_free(first);
}

uint64_t logship_queue_take_dropped(struct logship_queue *q)
{
	pthread_mutex_lock(&q->mu);
	uint64_t d = q->dropped;
	q->dropped = 0;
	pthread_mutex_unlock(&q->mu);
	return d;
}

size_t logship_queue_len(struct logship_queue *q, size_t *bytes)
{
	pthread_mutex_lock(&q->mu);
	size_t n = q->n;
	if (bytes)
		*bytes = q->bytes;
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* ------------------------------------------------------------------ requests */

/* Append `s` (UTF-8) as a JSON string. */
static void json_str(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	buf_addc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf_addc(b, '\\');
			buf_addc(b, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			char u[7] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0 };
			buf_adds(b, u);
		} else {
			buf_addc(b, (char)c);
		}
	}
	buf_addc(b, '"');
}

void logship_encode_put(const char *group, const char *stream, const struct logship_event *ev, size_t n,
			struct buf *body)
{
	buf_reset(body);
	buf_adds(body, "{\"logGroupName\":");
	json_str(body, group, strlen(group));
	buf_adds(body, ",\"logStreamName\":");
	json_str(body, stream, strlen(stream));
	buf_adds(body, ",\"logEvents\":[");
	for (size_t i = 0; i < n; i++) {
		buf_printf(body, "%s{\"timestamp\":%lld,\"message\":", i ? "," : "", (long long)ev[i].ts_ms);
		json_str(body, ev[i].msg, ev[i].len);
		buf_addc(body, '}');
	}
	buf_adds(body, "]}");
}

/* ------------------------------------------------------------------ the shipper */

static struct {
	struct logship_queue *q; /* lives until the process ends: a late sink call may push */
	struct bgthread th;
	char *group, *stream, *endpoint, *region, *daemon;
	struct awscreds *creds;
	struct aws_client *client;
	struct metric *dropped_metric;
	bool stream_ready;
	uint64_t notice;         /* dropped lines not yet reported in a batch sent */
	int failures;            /* calls failed in a row */
	struct logship_event *ev;
} ls = { .th = BGTHREAD_INIT };

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sink(void *arg, const char *line, size_t len)
{
	(void)arg;
	if (logship_queue_push(ls.q, now_ms(), line, len) == 1)
		bgthread_wake(&ls.th);
}

/* One call of the Logs JSON protocol. */
static int logs_call(const char *op, const struct buf *body, int max_attempts, struct aws_error *err)
{
	char target[64];
	snprintf(target, sizeof(target), "Logs_20140328.%s", op);
	const struct sigv4_header h[] = {
		{ "Content-Type", "application/x-amz-json-1.1" },
		{ "X-Amz-Target", target },
	};
	struct aws_request r;
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.endpoint = ls.endpoint;
	r.path = "/";
	r.region = ls.region;
	r.service = "logs";
	r.headers = h;
	r.nheaders = 2;
	r.body = body->data;
	r.body_len = body->len;
	r.max_attempts = max_attempts;
	struct aws_response resp;
	aws_response_init(&resp);
	aws_error_clear(err);
	int rc = aws_client_call(ls.client, &r, &resp, err);
	aws_response_release(&resp);
	return rc;
}

static int create_stream(int max_attempts, struct aws_error *err)
{
	struct buf body = BUF_INIT;
	buf_adds(&body, "{\"logGroupName\":");
	json_str(&body, ls.group, strlen(ls.group));
	buf_adds(&body, ",\"logStreamName\":");
	json_str(&body, ls.stream, strlen(ls.stream));
	buf_addc(&body, '}');
	int rc = logs_call("CreateLogStream", &body, max_attempts, err);
	buf_release(&body);
	if (rc < 0 && !strcmp(err->code, "ResourceAlreadyExistsException"))
		rc = 0;
	if (rc == 0)
		ls.stream_ready = true;
	return rc;
}

/* The line reporting `n` dropped lines, into `out`. */
static void notice_line(struct buf *out, uint64_t n)
{
	char ts[TIMEFMT_UTC_MS_SIZE];
	timefmt_now_ms(ts);
	buf_reset(out);
	buf_printf(out,
		   "{\"time\":\"%s\",\"level\":\"warn\",\"daemon\":", ts);
	json_str(out, ls.daemon, strlen(ls.daemon));
	buf_printf(out, ",\"msg\":\"dropped %llu lines\",\"dropped\":%llu}", (unsigned long long)n,
		   (unsigned long long)n);
}

static void warn_failure(const char *what, const struct aws_error *e, size_t queued)
{
	struct buf b = BUF_INIT;
	aws_error_format(e, &b);
	log_warn("logship: %s to '%s' failed (%s); %zu lines kept for a later try", what, ls.group,
		 buf_str(&b), queued);
	buf_release(&b);
}

/*
 * Send one batch. 1: sent, more may follow; 0: nothing to send, a partial batch
 * sent, or a batch refused for good (dropped); -1: failed, try later.
 */
static int ship_batch(int max_attempts, struct buf *body, struct buf *notice)
{
	struct aws_error e;
	uint64_t d = logship_queue_take_dropped(ls.q);
	if (d) {
		metrics_add(ls.dropped_metric, d);
		ls.notice += d;
	}
	bool full;
	size_t n = logship_queue_peek(ls.q, ls.ev, LOGSHIP_MAX_EVENTS - 1, LOGSHIP_MAX_BYTES - NOTICE_ROOM, &full);
	size_t total = n;
	if (ls.notice) {
		notice_line(notice, ls.notice);
		int64_t t = n ? ls.ev[n - 1].ts_ms : now_ms();
		ls.ev[total++] = (struct logship_event){ t, notice->data, notice->len };
	}
	if (total == 0)
		return 0;
	if (!ls.stream_ready && create_stream(max_attempts, &e) < 0) {
		if (ls.failures++ == 0)
			warn_failure("CreateLogStream", &e, logship_queue_len(ls.q, NULL));
		return -1;
	}
	logship_encode_put(ls.group, ls.stream, ls.ev, total, body);
	if (logs_call("PutLogEvents", body, max_attempts, &e) < 0) {
		if (!strcmp(e.code, "ResourceNotFoundException"))
			ls.stream_ready = false; /* the stream was deleted: create it again */
		if (e.transient || e.status == 0 || e.status >= 500 || aws_error_is_throttle(e.code) ||
		    !strcmp(e.code, "ResourceNotFoundException")) {
			if (ls.failures++ == 0)
				warn_failure("PutLogEvents", &e, logship_queue_len(ls.q, NULL));
			return -1;
		}
		/* refused for good: trying again cannot help */
		struct buf b = BUF_INIT;
		aws_error_format(&e, &b);
		log_warn("logship: PutLogEvents to '%s' refused %zu lines: %s", ls.group, n, buf_str(&b));
		buf_release(&b);
		logship_queue_pop(ls.q, n);
		metrics_add(ls.dropped_metric, n);
		ls.notice += n; /* lost too: the next batch says so */
		return 0;        /* the rest at the next round: its warning must not feed a loop */
	}
	if (ls.failures) {
		log_info("logship: shipping to '%s' again after %d failed tries", ls.group, ls.failures);
		ls.failures = 0;
	}
	logship_queue_pop(ls.q, n);
	ls.notice = 0;
	return full ? 1 : 0;
}

static void *ship_main(void *arg)
{
	struct buf body = BUF_INIT, notice = BUF_INIT;
	bool stop = false;
	int64_t wait = LOGSHIP_INTERVAL_MS;

	(void)arg;
	while (!stop) {
		int64_t until = clock_now_ms() + wait;
		stop = bgthread_wait_for(&ls.th, wait);
		/* woken for a full batch while backing off: wait the backoff out */
		while (!stop && ls.failures && clock_now_ms() < until)
			stop = bgthread_wait_for(&ls.th, until - clock_now_ms());
		if (stop)
			break;
		int rc;
		while ((rc = ship_batch(0, &body, &notice)) == 1)
			;
		if (rc < 0) {
			int shift = ls.failures < 7 ? ls.failures - 1 : 6;
			wait = 1000LL << shift;
			wait = wait < BACKOFF_MAX_MS ? wait : BACKOFF_MAX_MS;
		} else {
			wait = LOGSHIP_INTERVAL_MS;
		}
	}
	/* stopping: what is queued, one try per call, within LOGSHIP_STOP_MS */
	int64_t deadline = clock_now_ms() + LOGSHIP_STOP_MS;
	while (clock_now_ms() < deadline && ship_batch(1, &body, &notice) == 1)
		;
	buf_release(&body);
	buf_release(&notice);
	aws_thread_cleanup();
	return NULL;
}

int logship_start(const struct config *cfg, const char *daemon, struct buf *err)
{
	const char *group = cfg->log.cloudwatch_group;
	if (!group || !*group)
		return 0;
	char host[256];
	const char *stream = cfg->log.cloudwatch_stream;
	if (!stream || !*stream) {
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		stream = host;
	}
	ls.group = xstrdup(group);
	ls.stream = xstrdup(stream);
	ls.daemon = xstrdup(daemon);
	ls.region = xstrdup(cfg->aws.region && *cfg->aws.region ? cfg->aws.region : "us-east-1");
	struct buf ep = BUF_INIT;
	if (cfg->log.cloudwatch_endpoint_url && *cfg->log.cloudwatch_endpoint_url)
		buf_adds(&ep, cfg->log.cloudwatch_endpoint_url);
	else if (cfg->aws.endpoint_url && *cfg->aws.endpoint_url)
		buf_adds(&ep, cfg->aws.endpoint_url);
	else
		buf_printf(&ep, "https://logs.%s.amazonaws.com", ls.region);
	ls.endpoint = buf_detach(&ep);
	ls.creds = awscreds_new(cfg);
	ls.client = aws_client_new(cfg, ls.creds);
	ls.ev = xcalloc(LOGSHIP_MAX_EVENTS, sizeof(*ls.ev));
	ls.dropped_metric = metrics_counter("LogLinesDropped", "Count");
	if (!ls.q)
		ls.q = logship_queue_new((size_t)cfg->log.cloudwatch_queue);
	if (bgthread_start(&ls.th, "logship", ship_main, NULL, err) < 0) {
		logship_stop();
		return -1;
	}
	log_set_sink(sink, NULL);
	log_info("logship: shipping lines to CloudWatch Logs group '%s', stream '%s'", ls.group, ls.stream);
	return 0;
}

void logship_stop(void)
{
	if (!ls.group)
		return;
	log_set_sink(NULL, NULL);
	bgthread_stop(&ls.th);
	logship_queue_close(ls.q); /* the queue itself stays: a late sink call may still push */
	aws_client_free(ls.client);
	awscreds_free(ls.creds);
	free(ls.ev);
	free(ls.group);
	free(ls.stream);
	free(ls.daemon);
	free(ls.region);
	free(ls.endpoint);
	ls.group = ls.stream = ls.daemon = ls.region = ls.endpoint = NULL;
	ls.ev = NULL;
	ls.client = NULL;
	ls.creds = NULL;
}
