/*
 * prom — spool-api's Prometheus counters, updated lock-free (relaxed atomics) on
 * the request path and by the publisher, rendered in the Prometheus text format
 * and served by GET /metrics on a listener of their own ([api] metrics_listen),
 * never on the API's public one: the figures (routes, statuses, backlog) are the
 * operator's. The request, submission and backlog figures are also handed to the
 * CloudWatch registry (shared/metrics.h).
 */
#include "api.h"
#include "clock.h"
#include "listener.h"
#include "log.h"
#include "outbox.h"

#include <stdatomic.h>
#include <string.h>

#include "metrics.h"

/* The metrics listener: a scraper or two, never the public. */
#define SCRAPE_CONNECTIONS 8
#define SCRAPE_TIMEOUT_S 10

/* The route label of the series ("GET /v1/jobs/{id}"). */
static const char *const route_labels[ROUTE_COUNT] = {
	[ROUTE_NONE] = "unknown",
	[ROUTE_HEALTH] = "GET /health",
	[ROUTE_READY] = "GET /ready",
	[ROUTE_METRICS] = "GET /metrics",
	[ROUTE_JOBS_CREATE] = "POST /v1/jobs",
	[ROUTE_JOBS_LIST] = "GET /v1/jobs",
	[ROUTE_JOBS_GET] = "GET /v1/jobs/{id}",
	[ROUTE_JOBS_CANCEL] = "DELETE /v1/jobs/{id}",
	[ROUTE_JOBS_RESULT] = "GET /v1/jobs/{id}/result",
	[ROUTE_UPLOADS_CREATE] = "POST /v1/uploads",
	[ROUTE_VIDEOS_CREATE] = "POST /v1/videos",
};

static const char *route_label(enum route r)
{
	return (unsigned)r < ROUTE_COUNT ? route_labels[r] : "unknown";
}

/* The statuses spool-api answers with; anything else counts as "other". */
static const int statuses[] = { 200, 201, 202, 302, 400, 401, 404, 405, 409,
				413, 415, 422, 429, 499, 500, 503 };
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))

/* Upper bounds of the latency buckets, seconds; +Inf is implicit. */
static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
#define NBUCKET (sizeof(bounds) / sizeof(bounds[0]))

static struct {
	atomic_uint_fast64_t requests[ROUTE_COUNT][NSTATUS + 1];
	atomic_uint_fast64_t buckets[ROUTE_COUNT][NBUCKET + 1];
	atomic_uint_fast64_t sum_ns[ROUTE_COUNT];
	atomic_uint_fast64_t submitted;
	atomic_int_fast64_t backlog;
	atomic_int_fast64_t connections;
	atomic_bool queue_up;
	atomic_uint_fast64_t key_lookups;
	atomic_uint_fast64_t limited[PROM_LIMIT_COUNT];
	atomic_uint_fast64_t webhook_looked_up, webhook_skipped;
	atomic_uint_fast64_t binds, unbinds;
	atomic_uint_fast64_t scheduler_passes;
	atomic_bool bound;
} m = { .backlog = -1 };

static struct MHD_Daemon *scrape_mhd;  /* the metrics listener; NULL when off */

static size_t status_index(int status)
{
	for (size_t i = 0; i < NSTATUS; i++)
		if (statuses[i] == status)
			return i;
	return NSTATUS;
}

void prom_request(enum route r, int status, uint64_t duration_ns)
{
	if ((unsigned)r >= ROUTE_COUNT)
		r = ROUTE_NONE;
	atomic_fetch_add_explicit(&m.requests[r][status_index(status)], 1, memory_order_relaxed);
	double s = (double)duration_ns / 1e9;
	size_t b = 0;
	while (b < NBUCKET && s > bounds[b])
		b++;
	atomic_fetch_add_explicit(&m.buckets[r][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.sum_ns[r], duration_ns, memory_order_relaxed);
	/* the same figures for CloudWatch (published only when [cloudwatch] enabled) */
	const char *cls = status >= 500 ? METRIC_HTTP_5XX : status >= 400 ? METRIC_HTTP_4XX
					  : status >= 200 && status < 300 ? METRIC_HTTP_2XX : NULL;
	if (cls)
		metrics_add(metrics_counter(cls, "Count"), 1);
	metrics_observe(metrics_timing(METRIC_HTTP_LATENCY, "Milliseconds", NULL, NULL), s * 1000.0);
}

void prom_connections(int delta)
{
	atomic_fetch_add_explicit(&m.connections, delta, memory_order_relaxed);
}

void prom_job_submitted(void)
{
	atomic_fetch_add_explicit(&m.submitted, 1, memory_order_relaxed);
	metrics_add(metrics_counter(METRIC_JOBS_SUBMITTED, "Count"), 1);
}

void prom_scheduler_pass(void)
{
	atomic_fetch_add_explicit(&m.scheduler_passes, 1, memory_order_relaxed);
}

void prom_set_backlog(int64_t n)
{
	atomic_store_explicit(&m.backlog, n, memory_order_relaxed);
	metrics_set(metrics_gauge(METRIC_OUTBOX_BACKLOG, "Count", 0), (double)n);
}

void prom_set_queue_up(bool up)
{
	atomic_store_explicit(&m.queue_up, up, memory_order_relaxed);
}

void prom_key_lookup(void)
{
	atomic_fetch_add_explicit(&m.key_lookups, 1, memory_order_relaxed);
}

void prom_webhook_events(uint64_t looked_up, uint64_t skipped)
{
	atomic_fetch_add_explicit(&m.webhook_looked_up, looked_up, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.webhook_skipped, skipped, memory_order_relaxed);
}

void prom_events_binding(bool bound)
{
	atomic_fetch_add_explicit(bound ? &m.binds : &m.unbinds, 1, memory_order_relaxed);
	atomic_store_explicit(&m.bound, bound, memory_order_relaxed);
}

void prom_rate_limited(enum prom_limit which)
{
	atomic_fetch_add_explicit(&m.limited[which], 1, memory_order_relaxed);
}

#define LOAD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

void prom_render(struct buf *out)
{
	buf_adds(out, "# HELP spool_http_requests_total HTTP requests answered, by route and status.\n"
		      "# TYPE spool_http_requests_total counter\n");
	for (int r = 0; r < ROUTE_COUNT; r++)
		for (size_t i = 0; i <= NSTATUS; i++) {
			unsigned long long v = LOAD(m.requests[r][i]);
			if (!v)
				continue;
			if (i < NSTATUS)
				buf_printf(out, "spool_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
					   route_label(r), statuses[i], v);
			else
				buf_printf(out, "spool_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
					   route_label(r), v);
		}
	buf_adds(out, "# HELP spool_http_request_duration_seconds Time from request headers to completion.\n"
		      "# TYPE spool_http_request_duration_seconds histogram\n");
	for (int r = 0; r < ROUTE_COUNT; r++) {
		unsigned long long cum = 0, counts[NBUCKET + 1];
		for (size_t b = 0; b <= NBUCKET; b++)
			cum += counts[b] = LOAD(m.buckets[r][b]);
		if (!cum)
			continue;
		cum = 0;
		for (size_t b = 0; b < NBUCKET; b++) {
			cum += counts[b];
			buf_printf(out, "spool_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
				   route_label(r), bounds[b], cum);
		}
		cum += counts[NBUCKET];
		buf_printf(out, "spool_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
			   route_label(r), cum);
		buf_printf(out, "spool_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
			   route_label(r), (double)LOAD(m.sum_ns[r]) / 1e9);
		buf_printf(out, "spool_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
			   route_label(r), cum);
	}
	buf_printf(out, "# HELP spool_jobs_submitted_total Jobs created by POST /v1/jobs (not replays).\n"
			"# TYPE spool_jobs_submitted_total counter\n"
			"spool_jobs_submitted_total %llu\n", LOAD(m.submitted));
	long long backlog = (long long)atomic_load_explicit(&m.backlog, memory_order_relaxed);
	if (backlog >= 0)
		buf_printf(out, "# HELP spool_outbox_backlog Outbox rows not yet published to RabbitMQ.\n"
				"# TYPE spool_outbox_backlog gauge\n"
				"spool_outbox_backlog %lld\n", backlog);
	buf_printf(out, "# HELP spool_http_connections Open HTTP connections.\n"
			"# TYPE spool_http_connections gauge\n"
			"spool_http_connections %lld\n",
		   (long long)atomic_load_explicit(&m.connections, memory_order_relaxed));
	buf_printf(out, "# HELP spool_queue_up Whether the outbox publisher reaches RabbitMQ.\n"
			"# TYPE spool_queue_up gauge\n"
			"spool_queue_up %d\n", atomic_load_explicit(&m.queue_up, memory_order_relaxed));
	buf_printf(out, "# HELP spool_auth_key_lookups_total API keys looked up in the database (neither cache knew them).\n"
			"# TYPE spool_auth_key_lookups_total counter\n"
			"spool_auth_key_lookups_total %llu\n", LOAD(m.key_lookups));
	buf_printf(out, "# HELP spool_rate_limited_total Requests answered 429, by the limit that refused them.\n"
			"# TYPE spool_rate_limited_total counter\n"
			"spool_rate_limited_total{limit=\"key\"} %llu\n"
			"spool_rate_limited_total{limit=\"auth_failures\"} %llu\n",
		   LOAD(m.limited[PROM_LIMIT_KEY]), LOAD(m.limited[PROM_LIMIT_AUTH_FAILURES]));
	buf_printf(out, "# HELP spool_webhook_events_total Final events of spool.events.api, by whether they were looked up in the database (the job has a callback_url, or the event does not say).\n"
			"# TYPE spool_webhook_events_total counter\n"
			"spool_webhook_events_total{database=\"looked_up\"} %llu\n"
			"spool_webhook_events_total{database=\"skipped\"} %llu\n",
		   LOAD(m.webhook_looked_up), LOAD(m.webhook_skipped));
	buf_printf(out, "# HELP spool_events_bound Whether this process's private events queue is bound to the final events (a ?wait request waits, or did a moment ago).\n"
			"# TYPE spool_events_bound gauge\n"
			"spool_events_bound %d\n"
			"# HELP spool_events_binds_total Bindings of the private events queue to the final events, made and removed.\n"
			"# TYPE spool_events_binds_total counter\n"
			"spool_events_binds_total{op=\"bind\"} %llu\n"
			"spool_events_binds_total{op=\"unbind\"} %llu\n",
		   atomic_load_explicit(&m.bound, memory_order_relaxed), LOAD(m.binds), LOAD(m.unbinds));
	buf_printf(out, "# HELP spool_scheduler_passes_total Passes of this process's promoter of scheduled jobs (idle: one each 250 ms at most).\n"
			"# TYPE spool_scheduler_passes_total counter\n"
			"spool_scheduler_passes_total %llu\n",
		   LOAD(m.scheduler_passes));
	buf_printf(out, "# HELP spool_dead_letters_dropped_total Copies for spool.dead the broker refused (the queue at its length limit); the jobs stay failed.\n"
			"# TYPE spool_dead_letters_dropped_total counter\n"
			"spool_dead_letters_dropped_total %llu\n",
		   (unsigned long long)outbox_dead_dropped_total());
}

/* MHD's access handler of the metrics listener: GET or HEAD /metrics, nothing else. */
static enum MHD_Result on_scrape(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				 const char *version, const char *upload_data, size_t *upload_data_size,
				 void **con_cls)
{
	static int started;
	struct buf b = BUF_INIT;
	const char *ct = "text/plain; charset=utf-8", *allow = NULL;
	unsigned status = 200;
	(void)cls;
	(void)version;
	(void)upload_data;
	if (!*con_cls) {          /* the headers: answer on the last call */
		*con_cls = &started;
		return MHD_YES;
	}
	if (*upload_data_size) {  /* a body: dropped */
		*upload_data_size = 0;
		return MHD_YES;
	}
	uint64_t t0 = clock_now_ns();
	if (strcmp(url, "/metrics") != 0) {
		status = 404;
		buf_adds(&b, "not found: this listener serves GET /metrics only\n");
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = 405;
		allow = "GET, HEAD";
		buf_printf(&b, "method not allowed: GET /metrics only\n");
	} else {
		ct = "text/plain; version=0.0.4; charset=utf-8";
		prom_render(&b);
	}
	size_t n = b.len;
	struct MHD_Response *resp = MHD_create_response_from_buffer(n, buf_detach(&b), MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	if (status == 200)
		prom_request(ROUTE_METRICS, 200, clock_now_ns() - t0);
	return ret;
}

int prom_listen_start(const struct config *cfg, struct buf *err)
{
	const char *addr = cfg->api.metrics_listen;

	if (!addr)
		return 0;
	scrape_mhd = listener_start("api: metrics_listen", addr, on_scrape, NULL, SCRAPE_CONNECTIONS, SCRAPE_TIMEOUT_S,
				    err);
	if (!scrape_mhd)
		return -1;
	log_info("metrics on %s (GET /metrics)", addr);
	return 0;
}

void prom_listen_stop(void)
{
	if (scrape_mhd)
		MHD_stop_daemon(scrape_mhd);
	scrape_mhd = NULL;
}
