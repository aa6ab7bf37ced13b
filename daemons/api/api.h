/*
 * api — the internals of spool-api shared between its files.
 *
 *   main.c       options, config, start-up order, signals, SIGHUP, drain on SIGTERM
 *   server.c     libmicrohttpd daemon, per-request context, router, access log
 *   conns.c      open connections: per-address cap, header and idle-body deadlines,
 *                the client address (X-Forwarded-For from trusted proxies)
 *   validate.c   the pure request checks (routing, headers, query, job body)
 *   reply.c      JSON, error and redirect responses (every one with X-Request-Id)
 *   auth.c       Bearer key check: key cache, unknown keys, rate limits
 *   routes_jobs.c  /v1/jobs, /v1/jobs/{id}[/result], /v1/uploads
 *   routes_videos.c  POST /v1/videos: the body streamed to S3, then a job
 *   routes_ops.c   /health, /ready
 *   waiter.c     GET /v1/jobs/{id}?wait=N: suspended connections and their timer
 *   events.c     per-process event queue -> waiter_wake (final states)
 *   webhooks.c   spool.events.api -> signed webhook deliveries with retries
 *   batcher.c    group commit: concurrent job submissions share one transaction
 *   publisher.c  the outbox publisher thread (PostgreSQL outbox -> RabbitMQ)
 *   scheduler.c  the promoter thread: scheduled jobs queued at their run_at
 *   ratelimit.c  token buckets in a table of fixed size (per key, per address)
 *   prom.c       lock-free counters, their Prometheus text, the /metrics listener
 *
 * Threads: the MHD pool (cfg->api.threads) runs the handlers; the scheduler
 * thread queues scheduled jobs; one publisher thread, the events thread and the webhooks consumer each own their RabbitMQ
 * connection; cfg->api.webhook_workers threads deliver webhooks; one waiter
 * thread ends suspended ?wait requests at their deadline; the connections
 * watchdog closes connections past their deadline; with [cloudwatch] enabled,
 * the metrics flush thread; with [api] metrics_listen, the metrics listener's
 * MHD thread. Those but MHD's are bgthreads (bgthread.h).
 * Everything shared between them is atomic or
 * behind the lock named where it is declared.
 */
#ifndef SPOOL_API_H
#define SPOOL_API_H

#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "job.h"
#include "netaddr.h"
#include "s3.h"
#include "secrets.h"
#include "validate.h"

/* The daemon: one per process, owned by main.c. */
struct api {
	/*
	 * The current config: the start-up one, then each valid one SIGHUP read
	 * (daemon_reload_config, which keeps every one allocated until exit, and the
	 * keys that need a restart equal in all). Read it once per use.
	 */
	const struct config *_Atomic cfg;
	struct secrets *sec;
	struct db_pool *db;
	struct s3 *s3;
	struct MHD_Daemon *mhd;
	struct buf tls_cert;         /* PEM read from api.tls_cert at start; empty: plain HTTP */
	struct buf tls_key;          /* PEM of api.tls_key; wiped by server_tls_free() */
	atomic_int inflight;         /* requests between start and completion */
	atomic_bool draining;        /* SIGTERM: new requests get 503, responses close */
	char probe_token[37];        /* X-Spool-Probe of the watchdog's own requests (server_probe) */
};

/* Per-request state; allocated when the headers arrive, freed on completion. */
struct req {
	struct api *api;
	struct MHD_Connection *conn;
	const char *method;           /* MHD's, valid while the request lives */
	char path[256];               /* URL path, truncated copy for the access log */
	char request_id[129];
	char client[NETADDR_STRLEN];  /* the client's address (conns_client); "" unknown */
	char tenant[128];             /* "" until authenticated */
	char key_id[37];
	char job_id[JOB_ID_LEN + 1];  /* for /v1/jobs/{id}... routes */
	enum route route;
	int status;                   /* the status queued, 0 none yet */
	uint64_t bytes;               /* the size of the response body queued */
	uint64_t start_ns;            /* clock_now_ns() */
	struct buf body;
	bool body_too_large;
	bool checked;                 /* routed, authenticated, body pre-checked */
	bool probe;                   /* the watchdog's own request: not logged or counted */
	/* ?wait=: the waiter owns the fields below while `suspended` is set. */
	bool suspended;
	bool resumed;
	uint64_t wait_deadline_ns;    /* clock_now_ns() */
	struct video_upload *video;   /* POST /v1/videos: owned by routes_videos.c */
};

/* reply.c: each queues the response on r->conn, records r->status, returns MHD_YES/NO. */
enum MHD_Result reply_json(struct req *r, unsigned status, json_t *body);  /* steals body */
/* reply_json with a Location header. */
enum MHD_Result reply_json_located(struct req *r, unsigned status, json_t *body, const char *location);
enum MHD_Result reply_error(struct req *r, unsigned status, const char *code, const char *field,
			    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* reply_error's body with `detail` (stolen: an object) merged into "error". */
enum MHD_Result reply_error_detail(struct req *r, unsigned status, const char *code, json_t *detail,
				   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
enum MHD_Result reply_redirect(struct req *r, const char *location);
/* A constant JSON body (not copied). */
enum MHD_Result reply_static(struct req *r, unsigned status, const char *json);
/* 503 unavailable with Retry-After; `what` names the dependency (logged, not sent). */
enum MHD_Result reply_unavailable(struct req *r, const char *what, const char *reason);
/* /ready's 503: the error body plus "status" and "checks" (stolen); `failing` names them with their states. */
enum MHD_Result reply_not_ready(struct req *r, json_t *checks, const char *failing);
/* 401 with WWW-Authenticate: Bearer. */
enum MHD_Result reply_unauthorized(struct req *r, const char *message);
/* 503 unavailable with Retry-After, for a limit of this server's (not a dependency's). */
enum MHD_Result reply_busy(struct req *r, const char *message);
/* 429 rate_limited with Retry-After: 1 (every limit refills at least a token a second). */
enum MHD_Result reply_rate_limited(struct req *r, const char *message);
/* 405 with Allow. */
enum MHD_Result reply_method_not_allowed(struct req *r, const char *allow);

/* auth.c: the key cache has `slots` entries (rounded up to a power of two). */
void auth_init(const char *pepper, int64_t slots);
void auth_free(void);
/*
 * Check the Authorization header of r; on success fills r->tenant and r->key_id
 * and returns 0. Otherwise it has queued the 401 (or 503), stored the queueing
 * result in *ret and returns -1: 401, 429 (the key's rate limit, or too many
 * failed authentications from the client's address) or 503.
 */
int auth_check(struct req *r, enum MHD_Result *ret);

/* routes_jobs.c / routes_ops.c */
enum MHD_Result route_jobs_create(struct req *r);
enum MHD_Result route_jobs_list(struct req *r);
enum MHD_Result route_jobs_get(struct req *r);
enum MHD_Result route_jobs_cancel(struct req *r);
enum MHD_Result route_jobs_result(struct req *r);
enum MHD_Result route_uploads_create(struct req *r);
/* Submit the job `body` (a JSON object, stolen) describes, exactly as POST /v1/jobs. */
enum MHD_Result jobs_submit(struct req *r, json_t *body);
/* The job as GET /v1/jobs/{id} shows it (with presigned result URLs). New reference. */
json_t *api_job_json(struct api *a, const struct job *j);
enum MHD_Result route_health(struct req *r);
enum MHD_Result route_ready(struct req *r);

/*
 * routes_videos.c: POST /v1/videos. videos_precheck() runs when the headers are
 * in (413 by Content-Length, 415, 422 for the query parameters; -1 when a
 * response is queued in *ret); videos_body() takes each body chunk; the route
 * completes the upload and submits the job; videos_release() (on completion,
 * whatever the reason) aborts an upload still open.
 */
int videos_precheck(struct req *r, enum MHD_Result *ret);
enum MHD_Result videos_body(struct req *r, const char *data, size_t *size);
enum MHD_Result route_videos_create(struct req *r);
void videos_release(struct req *r, enum MHD_RequestTerminationCode toe);
/* At exit, once no upload is left: the budget's per-key table. */
void videos_budget_free(void);

/* server.c */
/*
 * With api.tls_cert and api.tls_key set, check that libmicrohttpd has TLS and
 * read both files into a->tls_cert/tls_key (server_start then serves HTTPS).
 * 0, or -1 with the reason in err (a configuration error: exit 78).
 */
int server_tls_load(struct api *a, struct buf *err);
/* Release what server_tls_load() read, wiping the key. */
void server_tls_free(struct api *a);
int server_start(struct api *a, struct buf *err);
/*
 * The address of the request's client, as text, into `out`: r->client, the
 * peer of the connection or, behind a trusted proxy, the X-Forwarded-For client
 * (conns_client). 0, or -1 when it is not known.
 */
int req_client_addr(const struct req *r, char out[INET6_ADDRSTRLEN]);
/* Stop accepting new connections (listening socket closed). */
void server_quiesce(struct api *a);
/*
 * A real GET /health through the daemon's own listener (a new connection each
 * time, at most SERVER_PROBE_MS, TLS unchecked when the listener speaks it): 0
 * when it is answered 200, else -1 with err. Its requests carry a token of the
 * process (X-Spool-Probe) and are left out of the access log and the metrics.
 */
#define SERVER_PROBE_MS 2000
int server_probe(struct api *a, struct buf *err);
void server_stop(struct api *a);

/*
 * conns.c: every open connection, from MHD's STARTED notification to CLOSED.
 * conns_accept is MHD's accept policy (api.max_connections_per_address);
 * conns_notify its connection notification. A connection's deadline follows
 * the phase of its request, set by the handlers: CONN_HEADER (waiting for a
 * request header: api.header_timeout, none from trusted proxies), CONN_BODY (a
 * body: api.header_timeout from the header), CONN_UPLOAD (a video body: renewed
 * on each chunk, api.upload_idle_timeout), CONN_BUSY (being handled or waiting:
 * none). Past it the connection is shut down.
 */
enum conn_phase { CONN_HEADER, CONN_BODY, CONN_UPLOAD, CONN_BUSY, CONN_PHASES };
enum MHD_Result conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void conns_notify(struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode code);
void conns_phase(struct MHD_Connection *c, enum conn_phase phase);
/*
 * The client address of c's request as text: the peer's, or, from a peer in
 * api.trusted_proxies, the one its X-Forwarded-For names (netaddr_forwarded_client).
 */
void conns_client(struct MHD_Connection *c, char out[NETADDR_STRLEN]);

/*
 * The background threads: each *_start is 0, or -1 with the reason in err (the
 * daemon ends); each *_stop joins its thread (nothing when it did not start).
 */

/* conns.c: the watchdog; conns_free (after server_stop) drops the registry. */
int conns_start(struct api *a, struct buf *err);
void conns_stop(void);
void conns_free(void);

/* waiter.c */
int waiter_start(struct api *a, struct buf *err);
/*
 * Suspend r's connection until its job is final or r->wait_deadline_ns passes:
 * 0, and the entry takes over the caller's events_hold (released when it is
 * resumed); or -1, nothing done, when r's API key already has
 * api.max_waits_per_key requests waiting (the caller answers at once).
 */
int waiter_add(struct req *r);
/* Wake waiters of `job_id` now (the events consumer calls this). */
void waiter_wake(const char *job_id);
/* Stop the thread and resume every waiter (before MHD_stop_daemon). */
void waiter_stop(void);
/* Resume every waiter now (shutdown: requests that suspended after waiter_stop). */
void waiter_flush(void);
/* Check every waiting job in the database once (events may have been missed). */
void waiter_recheck(void);
void waiter_free(void);

/* events.c: the thread consuming this process's own event queue. */
int events_start(struct api *a, struct buf *err);
void events_stop(void);
/*
 * A request is about to wait for its job (call it BEFORE reading the job): the
 * private queue is bound to the final events, or will be, for as long as one
 * hold is not released. 0 once the broker confirmed the binding; -1 when it
 * was not confirmed within a moment (RabbitMQ away or slow: the waiters are
 * checked in the database after the next bind). Either way the hold counts:
 * release it once, with events_release, when the request stops waiting.
 */
int events_hold(void);
void events_release(void);

/* webhooks.c: webhooks_init keeps a copy of the pepper (signing keys derive from it). */
void webhooks_init(const char *pepper, size_t len);
int webhooks_start(struct api *a, struct buf *err);
void webhooks_stop(void);
void webhooks_free(void);

/*
 * batcher.c: insert the job `in` describes (validated; its strings borrowed
 * until the call returns) as job_create would, committed in one transaction
 * with the submissions of other threads that arrive meanwhile ([api]
 * submit_batch_wait_us, submit_batch_max). Blocks until that commit. 0 with
 * *out (owned by the caller: job_clear) and *existed, or -1 with err (the
 * database failed, or refused this row).
 */
int batcher_submit(struct api *a, const struct job_new *in, struct job *out, bool *existed, struct buf *err);

/* publisher.c */
int publisher_start(struct api *a, struct buf *err);
/* A job was written: publish soon. Async-signal-unsafe, thread safe, cheap. */
void publisher_kick(void);
void publisher_stop(void);
/* true if the publisher's last broker round trip worked. */
bool publisher_queue_ok(void);
/* scheduler.c: the promoter of scheduled jobs. */
int scheduler_start(struct api *a, struct buf *err);
/* A job was scheduled: look at the schedule again now. Thread safe, cheap. */
void scheduler_kick(void);
void scheduler_stop(void);

struct mq;
/*
 * mq_declare_topology for the threads of spool-api that connect to RabbitMQ
 * (publisher, events, webhooks): a queue of another type than the config says
 * (MQ_MISMATCH) ends the daemon with exit status 78 (daemon_exit_config).
 */
int publisher_declare_topology(struct mq *m, struct buf *err);

/* prom.c: the figures GET /metrics shows; each call is lock-free. */
void prom_request(enum route r, int status, uint64_t duration_ns);
void prom_connections(int delta);
void prom_job_submitted(void);
/* One pass of the promoter of scheduled jobs (scheduler.c). */
void prom_scheduler_pass(void);
/* Outbox rows not yet published. */
void prom_set_backlog(int64_t n);
/* true when the publisher reaches RabbitMQ (the publisher reports it). */
void prom_set_queue_up(bool up);
void prom_render(struct buf *out);
/* An API key looked up in the database. */
void prom_key_lookup(void);
/*
 * Final events the webhook consumer handled: `looked_up` those it took to the
 * database (their job has a callback_url, or the event does not say), the others
 * acknowledged without it.
 */
void prom_webhook_events(uint64_t looked_up, uint64_t skipped);
/* The events thread bound (true) or unbound its private queue to the final events. */
void prom_events_binding(bool bound);
/* A request refused with 429 by a limit. */
enum prom_limit { PROM_LIMIT_KEY, PROM_LIMIT_AUTH_FAILURES, PROM_LIMIT_COUNT };
void prom_rate_limited(enum prom_limit which);
/*
 * Serve GET /metrics on [api] metrics_listen, with a thread of its own (nothing
 * when the key is unset): 0, or -1 with the reason in err. Start it with the
 * daemon's signals blocked, as the HTTP server.
 */
int prom_listen_start(const struct config *cfg, struct buf *err);
void prom_listen_stop(void);

#endif
