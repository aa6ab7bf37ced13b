#include "config.h"
#include "netaddr.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum ctype {
	CT_STR, CT_INT, CT_BOOL, CT_DURATION, CT_SIZE, CT_SECRET, CT_LEVEL, CT_FORMAT, CT_URL,
	CT_NETS,             /* string: IP networks for netaddr_list_parse, "10.0.0.0/8, ::1" */
	CT_INT_BY_TYPE,      /* struct config_typemap of integers: "video.transcode=3, noop=5" */
	CT_DURATION_BY_TYPE, /* struct config_typemap of durations: "video.transcode=2h" */
	CT_RATES,            /* string of per-tenant rates: "bulk=500/1000, demo=100" */
	CT_ADDR,             /* string "HOST:PORT" or "[IPv6]:PORT" */
	CT_ADDRS,            /* string: CT_ADDR items separated by commas, at most `max` of them */
	CT_QUEUE_TYPE,       /* string: quorum or classic */
};

#define F_REQUIRED 1u
#define F_RELOAD 2u

struct ckey {
	const char *section;
	const char *name;
	enum ctype type;
	size_t off;
	int64_t min, max;         /* bounds; of each value for the *_BY_TYPE types */
	const char *def;
	unsigned flags;
	unsigned programs;
	const char *doc;
};

#define O(f) offsetof(struct config, f)
#define A PROG_API
#define W PROG_WORKER
#define C PROG_ADMINCTL
#define AW (PROG_API | PROG_WORKER)
#define ALL PROG_ALL
#define KB 1024LL
#define MB (1024LL * 1024)
#define GB (1024LL * 1024 * 1024)
#define DAY 86400LL

/* The one description of every key. Order is the order of spool.ini(5). */
static const struct ckey keys[] = {
	{ "log", "level", CT_LEVEL, O(log.level), 0, 0, "info", F_RELOAD, ALL,
	  "Threshold: error, warn, info or debug." },
	{ "log", "format", CT_FORMAT, O(log.format), 0, 0, "json", 0, ALL,
	  "json (one object per line, for journald) or text." },
	{ "log", "cloudwatch_group", CT_STR, O(log.cloudwatch_group), 0, 0, NULL, 0, AW,
	  "CloudWatch Logs log group the daemon ships its lines to (PutLogEvents, from a background thread, every 5 s or when a batch is full); empty: none.\nThe group must exist; the stream is created on first use.\nThe instance role needs logs:CreateLogStream and logs:PutLogEvents on it." },
	{ "log", "cloudwatch_stream", CT_STR, O(log.cloudwatch_stream), 0, 0, NULL, 0, AW,
	  "Log stream in cloudwatch_group (default: the host name)." },
	{ "log", "cloudwatch_endpoint_url", CT_URL, O(log.cloudwatch_endpoint_url), 0, 0, NULL, 0, AW,
	  "CloudWatch Logs endpoint override (default: aws.endpoint_url, then AWS)." },
	{ "log", "cloudwatch_queue", CT_SIZE, O(log.cloudwatch_queue), 64 * KB, 1 * GB, "4M", 0, AW,
	  "Lines waiting to be shipped are held in memory up to this many bytes; past it new lines are dropped (they still go to stderr) and counted in a \"dropped N lines\" line shipped next and the LogLinesDropped metric." },

	{ "aws", "region", CT_STR, O(aws.region), 0, 0, "us-east-1", 0, ALL,
	  "Default AWS region (ARNs carry their own)." },
	{ "aws", "endpoint_url", CT_URL, O(aws.endpoint_url), 0, 0, NULL, 0, ALL,
	  "Endpoint for every AWS service, overriding the regional ones (local stand-in)." },
	{ "aws", "profile", CT_STR, O(aws.profile), 0, 0, NULL, 0, ALL,
	  "Profile in the shared credentials and config files (default: AWS_PROFILE or default)." },
	{ "aws", "timeout", CT_DURATION, O(aws.timeout), 1, 600, "10s", 0, ALL,
	  "Time limit of one AWS call." },
	{ "aws", "max_attempts", CT_INT, O(aws.max_attempts), 1, 10, "3", 0, ALL,
	  "Attempts per AWS call on throttling and 5xx (standard retry mode)." },

	{ "secrets", "cache_ttl", CT_DURATION, O(secrets.cache_ttl), 0, 7 * DAY, "1h", 0, ALL,
	  "How long a fetched secret is used before it is fetched again." },
	{ "secrets", "endpoint_url", CT_URL, O(secrets.endpoint_url), 0, 0, NULL, 0, ALL,
	  "Secrets Manager endpoint override." },

	{ "database", "secret", CT_SECRET, O(database.secret), 0, 0, NULL, F_REQUIRED, ALL,
	  "Reference to the database secret (RDS JSON: username, password, host, port, dbname)." },
	{ "database", "sslmode", CT_STR, O(database.sslmode), 0, 0, "prefer", 0, ALL,
	  "libpq sslmode: disable, allow, prefer, require, verify-ca or verify-full.\nOnly verify-full checks both that a certificate authority of sslrootcert signed the server's certificate and that the certificate names the host: use it in a deployment.\nrequire alone encrypts but talks to any server." },
	{ "database", "sslrootcert", CT_STR, O(database.sslrootcert), 0, 0, NULL, 0, ALL,
	  "PEM file of the certificate authorities that may sign the database server's certificate, for sslmode verify-ca or verify-full; on AWS the RDS bundle, https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem (the CloudFormation user data fetches it to /etc/spool/rds-ca.pem)." },
	{ "database", "pool_size", CT_INT, O(database.pool_size), 1, 256, "8", 0, ALL,
	  "Connections in the pool." },
	{ "database", "connect_timeout", CT_DURATION, O(database.connect_timeout), 1, 300, "5s", 0, ALL,
	  "Time limit to connect." },
	{ "database", "statement_timeout", CT_DURATION, O(database.statement_timeout), 0, 3600, "30s", 0, ALL,
	  "Server-side limit on one statement (0 = none)." },
	{ "database", "api_role_secret", CT_SECRET, O(database.api_role_secret), 0, 0, NULL, 0, C,
	  "Reference to spool-api's own database secret (the RDS JSON shape, as spool-api's [database] secret): adminctl db bootstrap creates the role it names (username, password) if absent, with the grants spool-api needs and no more.\nadminctl's own [database] secret is then the master user's, which owns the tables." },
	{ "database", "worker_role_secret", CT_SECRET, O(database.worker_role_secret), 0, 0, NULL, 0, C,
	  "Reference to spool-worker's own database secret, for its role, as api_role_secret." },

	{ "rabbitmq", "secret", CT_SECRET, O(rabbitmq.secret), 0, 0, NULL, F_REQUIRED, ALL,
	  "Reference to the RabbitMQ secret (JSON: username, password, host, port, vhost)." },
	{ "rabbitmq", "heartbeat", CT_DURATION, O(rabbitmq.heartbeat), 0, 600, "30s", 0, ALL,
	  "AMQP heartbeat interval." },
	{ "rabbitmq", "connect_timeout", CT_DURATION, O(rabbitmq.connect_timeout), 1, 300, "5s", 0, ALL,
	  "Time limit to connect." },
	{ "rabbitmq", "consumer_timeout", CT_DURATION, O(rabbitmq.consumer_timeout), 1, 7 * DAY, "30m", F_RELOAD, W,
	  "The broker's consumer_timeout; deliveries waiting for a free worker thread are handed back well before it." },
	{ "rabbitmq", "management_url", CT_URL, O(rabbitmq.management_url), 0, 0, NULL, 0, ALL,
	  "RabbitMQ management API base URL, e.g. http://127.0.0.1:15672." },
	{ "rabbitmq", "tls", CT_BOOL, O(rabbitmq.tls), 0, 1, "false", 0, ALL,
	  "Connect with TLS (AMQPS), verifying the broker's certificate and host name; on by itself when the secret's port is 5671 (Amazon MQ)." },
	{ "rabbitmq", "ca_file", CT_STR, O(rabbitmq.ca_file), 0, 0, NULL, 0, ALL,
	  "PEM file of the CA that signed the broker's certificate (default: the system store)." },
	{ "rabbitmq", "endpoints", CT_ADDRS, O(rabbitmq.endpoints), 0, CONFIG_ENDPOINTS_MAX, NULL, 0, ALL,
	  "The broker's nodes: HOST:PORT items separated by commas, e.g. mq1:5671, mq2:5671, mq3:5671.\nWhen set it is used instead of the secret's host and port (and of its hosts list); the secret still gives the user, password and vhost.\nEvery connection tries the nodes in a random order and, when it is lost, the other nodes before the one it lost." },
	{ "rabbitmq", "queue_type", CT_QUEUE_TYPE, O(rabbitmq.queue_type), 0, 0, "quorum", 0, ALL,
	  "Type of the shared queues (spool.jobs, spool.dead, spool.events.api and the delay queues spool.retry.SECONDS): quorum (replicated on the nodes of a cluster; RabbitMQ 3.10 or later) or classic, for a broker without quorum queues.\nA shared queue that already exists with the other type stops spool-api and spool-worker with exit status 78 until adminctl queues migrate converts it.\nEach spool-api process's own events queue is classic whatever this says." },
	{ "rabbitmq", "api_user_secret", CT_SECRET, O(rabbitmq.api_user_secret), 0, 0, NULL, 0, C,
	  "Reference to spool-api's own broker secret (the JSON shape of [rabbitmq] secret, as spool-api's [rabbitmq] secret): adminctl db bootstrap creates or updates the user it names (username, password) through the management API, without tags and with the permissions spool-api needs on the secret's vhost and no more.\nadminctl's own [rabbitmq] secret is then the administrator's." },
	{ "rabbitmq", "worker_user_secret", CT_SECRET, O(rabbitmq.worker_user_secret), 0, 0, NULL, 0, C,
	  "Reference to spool-worker's own broker secret, for its user, as api_user_secret." },

	{ "s3", "bucket", CT_STR, O(s3.bucket), 0, 0, NULL, F_REQUIRED, ALL,
	  "Bucket for uploads and results." },
	{ "s3", "region", CT_STR, O(s3.region), 0, 0, NULL, 0, ALL,
	  "Bucket region (default: aws.region)." },
	{ "s3", "endpoint_url", CT_URL, O(s3.endpoint_url), 0, 0, NULL, 0, ALL,
	  "S3 endpoint override (default: aws.endpoint_url, then AWS)." },
	{ "s3", "credentials_secret", CT_SECRET, O(s3.credentials_secret), 0, 0, NULL, 0, ALL,
	  "Optional secret with access_key_id and secret_access_key; default: the credentials chain." },
	{ "s3", "force_path_style", CT_BOOL, O(s3.force_path_style), 0, 1, "false", 0, ALL,
	  "Address the bucket in the path instead of the host name." },
	{ "s3", "part_size", CT_SIZE, O(s3.part_size), 5 * MB, 5 * GB, "8M", 0, ALL,
	  "Multipart upload part size." },
	{ "s3", "multipart_threshold", CT_SIZE, O(s3.multipart_threshold), 5 * MB, 5 * GB, "16M", 0, ALL,
	  "Files at least this large are uploaded in parts." },
	{ "s3", "upload_concurrency", CT_INT, O(s3.upload_concurrency), 1, 32, "4", 0, ALL,
	  "Parts uploaded in parallel." },
	{ "s3", "presign_expires", CT_DURATION, O(s3.presign_expires), 1, 7 * DAY, "15m", 0, ALL,
	  "Default lifetime of presigned URLs that adminctl makes (results url, the TUI's Results screen); the API's are api.result_url_expires and api.upload_url_expires." },

	{ "cloudwatch", "enabled", CT_BOOL, O(cloudwatch.enabled), 0, 1, "false", 0, ALL,
	  "Publish metrics with PutMetricData." },
	{ "cloudwatch", "namespace", CT_STR, O(cloudwatch.namespace_), 0, 0, "Spool", 0, ALL,
	  "Metric namespace." },
	{ "cloudwatch", "endpoint_url", CT_URL, O(cloudwatch.endpoint_url), 0, 0, NULL, 0, ALL,
	  "CloudWatch endpoint override." },
	{ "cloudwatch", "interval", CT_DURATION, O(cloudwatch.interval), 1, 3600, "60s", F_RELOAD, ALL,
	  "Seconds between metric flushes." },
	{ "cloudwatch", "dimensions", CT_STR, O(cloudwatch.dimensions), 0, 0, NULL, 0, ALL,
	  "Dimensions added to every metric, as Name=Value pairs separated by commas (e.g. Service=api,Env=prod); each metric is also published without them." },

	{ "api", "listen", CT_STR, O(api.listen), 0, 0, "127.0.0.1", 0, A,
	  "Address to listen on." },
	{ "api", "port", CT_INT, O(api.port), 1, 65535, "8000", 0, A,
	  "TCP port." },
	{ "api", "threads", CT_INT, O(api.threads), 1, 256, "32", 0, A,
	  "HTTP worker threads; each waits in a job submission until its batch commits, so they bound a batch (spool-api(8), GROUP COMMIT)." },
	{ "api", "submit_batch_wait_us", CT_INT, O(api.submit_batch_wait_us), 0, 100000, "200", F_RELOAD, A,
	  "Microseconds the first of concurrent job submissions waits for others to commit with it in one transaction (0: no wait; those that queued while a batch committed still share the next)." },
	{ "api", "submit_batch_max", CT_INT, O(api.submit_batch_max), 1, API_SUBMIT_BATCH_LIMIT, "128", F_RELOAD, A,
	  "Most job submissions committed in one transaction; a full batch commits without waiting." },
	{ "api", "max_connections", CT_INT, O(api.max_connections), 1, 100000, "4096", 0, A,
	  "Concurrent connections accepted." },
	{ "api", "connection_timeout", CT_DURATION, O(api.connection_timeout), 1, 3600, "75s", 0, A,
	  "A connection that sends and receives nothing for this long is closed.\nKeep it longer than the idle timeout of the load balancer in front (an ALB's is 60 s): then the balancer, not spool-api, closes an idle kept-alive connection, and never sends a request on a connection spool-api is closing at that moment, which it would answer with a 502." },
	{ "api", "header_timeout", CT_DURATION, O(api.header_timeout), 1, 3600, "10s", F_RELOAD, A,
	  "Time a client has to send a whole request header (and a JSON body) after it connects, or after the response to its previous request on a kept-alive connection; the connection is closed when it passes, however steadily the bytes trickle in.\nConnections from trusted_proxies wait for a request header as long as connection_timeout instead." },
	{ "api", "max_connections_per_address", CT_INT, O(api.max_conns_per_address), 0, 100000, "128", F_RELOAD, A,
	  "Connections one client address may hold at once; more are closed as they are accepted (0: no limit).\nConnections from trusted_proxies carry many clients and are not counted: behind a load balancer, the limits per API key share the API out." },
	{ "api", "trusted_proxies", CT_NETS, O(api.trusted_proxies), 0, 0, NULL, F_RELOAD, A,
	  "Load balancers and proxies in front of spool-api: addresses or ADDRESS/BITS networks separated by commas, e.g. 10.0.0.0/16.\nA request from one of them is taken to come from the rightmost address of its X-Forwarded-For header that is not itself a trusted proxy, the client address that is logged; from any other peer that header is ignored." },
	{ "api", "max_body", CT_SIZE, O(api.max_body), 1 * KB, 64 * MB, "64K", F_RELOAD, A,
	  "Largest JSON request body." },
	{ "api", "max_upload", CT_SIZE, O(api.max_upload), 1 * KB, 64 * GB, "512M", F_RELOAD, A,
	  "Largest POST /v1/videos body." },
	{ "api", "pepper_secret", CT_SECRET, O(api.pepper_secret), 0, 0, NULL, F_REQUIRED, A | C,
	  "Reference to the API-key pepper (keys are stored as HMAC-SHA256(pepper, key)): at least 32 bytes, e.g. 64 hex digits; spool-api and adminctl refuse a shorter one (exit 78)." },
	{ "api", "key_cache_ttl", CT_DURATION, O(api.key_cache_ttl), 0, 3600, "30s", F_RELOAD, A,
	  "How long a looked-up API key is trusted without asking the database." },
	{ "api", "result_url_expires", CT_DURATION, O(api.result_url_expires), 1, 7 * DAY, "15m", F_RELOAD, A,
	  "Lifetime of result URLs." },
	{ "api", "upload_url_expires", CT_DURATION, O(api.upload_url_expires), 1, 7 * DAY, "1h", F_RELOAD, A,
	  "Lifetime of upload URLs." },
	{ "api", "max_wait", CT_DURATION, O(api.max_wait), 0, 600, "60s", F_RELOAD, A,
	  "Longest ?wait= a client may ask for." },
	{ "api", "max_waits_per_key", CT_INT, O(api.max_waits_per_key), 0, 100000, "32", F_RELOAD, A,
	  "GET /v1/jobs/{id}?wait=N requests one API key may have waiting at once; past it, ?wait answers at once with the job as it is, as without ?wait (0: never wait)." },
	{ "api", "upload_buffer", CT_SIZE, O(api.upload_buffer), 5 * MB, 64 * GB, "256M", F_RELOAD, A,
	  "Memory all POST /v1/videos uploads together may buffer for S3: each takes [s3] part_size of it (its Content-Length when smaller) once its headers are in, and gives it back when it ends; an upload that finds too little left is answered 503 with Retry-After before its body is read.\nAt least part_size." },
	{ "api", "upload_buffer_per_key", CT_SIZE, O(api.upload_buffer_per_key), 5 * MB, 64 * GB, "64M", F_RELOAD, A,
	  "Of upload_buffer, what the uploads of one API key may hold together, so that one tenant's uploads leave room for the others'; past it an upload is answered 503 with Retry-After.\nAt least part_size." },
	{ "api", "upload_idle_timeout", CT_DURATION, O(api.upload_idle_timeout), 1, 3600, "10s", F_RELOAD, A,
	  "A POST /v1/videos body that sends nothing for this long is cut off: the connection is closed and the S3 upload aborted." },
	{ "api", "key_cache_size", CT_INT, O(api.key_cache_size), 1, 1048576, "4096", 0, A,
	  "API keys remembered after their database lookup (rounded up to a power of two); two keys may share a slot, the later one taking it.\nUnknown keys are remembered apart (16384 of them, 5 minutes each), so that a flood of made-up keys costs one lookup per key and never pushes out a good one." },
	{ "api", "rate_limit", CT_INT, O(api.rate_limit), 0, 1000000, "50", F_RELOAD, A,
	  "Requests per second per API key, whatever key_cache_ttl (0: no limit); past the burst the API answers 429 with Retry-After.\nA key's bucket outlives its cache entry." },
	{ "api", "rate_burst", CT_INT, O(api.rate_burst), 1, 1000000, "100", F_RELOAD, A,
	  "Requests a key may make at once above its rate." },
	{ "api", "tenant_rate_limits", CT_RATES, O(api.tenant_rate_limits), 0, 1000000, NULL, F_RELOAD, A,
	  "Rate limits of the keys of some tenants instead of rate_limit and rate_burst: TENANT=RATE or TENANT=RATE/BURST items separated by commas, e.g. bulk=500/1000, batch=0 (0: no limit)." },
	{ "api", "auth_failure_rate", CT_INT, O(api.auth_failure_rate), 1, 1000000, "1", F_RELOAD, A,
	  "Failed authentications per second allowed from one client address (an IPv6 client counts by its /64); past auth_failure_burst, a request from there whose key is not already verified gets 429 without a database lookup." },
	{ "api", "auth_failure_burst", CT_INT, O(api.auth_failure_burst), 1, 1000000, "20", F_RELOAD, A,
	  "Failed authentications one client address may make at once above auth_failure_rate." },
	{ "api", "default_max_attempts", CT_INT, O(api.default_max_attempts), 1, 100, "5", F_RELOAD, A,
	  "Attempts a new job gets (of types max_attempts does not name)." },
	{ "api", "max_attempts", CT_INT_BY_TYPE, O(api.max_attempts), 1, 100, NULL, F_RELOAD, A,
	  "Attempts a new job gets, per job type: TYPE=N pairs separated by commas, e.g. video.transcode=3, media.probe=5.\nTypes not named get default_max_attempts." },
	{ "api", "webhook_allow_hosts", CT_STR, O(api.webhook_allow_hosts), 0, 0, NULL, F_RELOAD, A,
	  "Comma-separated hosts that webhooks may reach over http or on private addresses." },
	{ "api", "webhook_workers", CT_INT, O(api.webhook_workers), 1, 64, "4", 0, A,
	  "Threads that deliver webhooks; one tenant's slow receivers occupy at most webhook_tenant_inflight of them." },
	{ "api", "webhook_tenant_inflight", CT_INT, O(api.webhook_tenant_inflight), 1, 64, "2", F_RELOAD, A,
	  "Webhook deliveries of one tenant in flight at once, across all API processes; the tenant's other due deliveries wait." },
	{ "api", "tls_cert", CT_STR, O(api.tls_cert), 0, 0, NULL, 0, A,
	  "PEM certificate (leaf first, then intermediates) to serve HTTPS instead of HTTP; needs tls_key; leave both unset when a load balancer terminates TLS." },
	{ "api", "tls_key", CT_STR, O(api.tls_key), 0, 0, NULL, 0, A,
	  "PEM private key of tls_cert (unencrypted; keep it root:spool 0640); needs tls_cert." },
	{ "api", "metrics_listen", CT_ADDR, O(api.metrics_listen), 0, 0, NULL, 0, A,
	  "HOST:PORT (or [IPv6]:PORT) of a second, plain-HTTP listener that serves only GET /metrics (Prometheus), e.g. 127.0.0.1:9464; keep it off the network the clients reach.\nUnset: /metrics is not served.\nThe API's own listener never serves it." },

	{ "worker", "id", CT_STR, O(worker.id), 0, 0, NULL, 0, W,
	  "Worker id in the job history (default: host:pid)." },
	{ "worker", "concurrency", CT_INT, O(worker.concurrency), 1, 256, "2", F_RELOAD, W,
	  "Jobs run at once; the default suits ffmpeg on two cores, while short jobs want "
	  "more, as their threads mostly wait for the database and the broker." },
	{ "worker", "lookahead", CT_INT, O(worker.lookahead), 0, 64, "2", F_RELOAD, W,
	  "Deliveries of each priority's queue the worker may hold beyond concurrency (the AMQP prefetch is concurrency + lookahead): "
	  "a thread that ends a short job finds the next one here instead of waiting a round trip to the broker for it.\n"
	  "A held delivery waits while every thread is busy and is given back to the queue after a third of [rabbitmq] consumer_timeout (at most 60 s); "
	  "0 holds none beyond the threads, for a fleet of workers running only long jobs." },
	{ "worker", "lease", CT_DURATION, O(worker.lease), 5, DAY, "60s", 0, W,
	  "A claimed job is the worker's for this long, extended by heartbeats." },
	{ "worker", "heartbeat", CT_DURATION, O(worker.heartbeat), 1, 3600, "5s", 0, W,
	  "Interval between lease extensions; also how soon a running job notices a cancel request." },
	{ "worker", "shutdown_grace", CT_DURATION, O(worker.shutdown_grace), 0, DAY, "30s", F_RELOAD, W,
	  "On SIGTERM, how long running jobs may finish before they are handed back (queued again, the attempt not counted); SIGUSR1 hands them back at once." },
	{ "worker", "health_listen", CT_ADDR, O(worker.health_listen), 0, 0, NULL, 0, W,
	  "HOST:PORT (or [IPv6]:PORT) of a plain-HTTP listener that serves only GET /health: 200 when every thread of the worker shows progress within stall_timeout and the broker is connected or being reconnected to, else 503 naming what is wrong; keep it on the loopback (127.0.0.1:9465) or a management network.\nUnset: no listener." },
	{ "worker", "stall_timeout", CT_DURATION, O(worker.stall_timeout), 5, 3600, "60s", 0, W,
	  "A thread of the worker (the consumer, a job thread, the heartbeat, the reaper or the archiver) that shows no progress for this long is stalled: GET /health answers 503 naming it and the systemd watchdog is no longer pinged, so that systemd restarts the worker WatchdogSec later.\nKeep it above [aws] timeout, which bounds a stalled S3 transfer." },
	{ "worker", "enable_noop", CT_BOOL, O(worker.enable_noop), 0, 1, "false", 0, W,
	  "Accept noop jobs." },
	{ "worker", "tmpdir", CT_STR, O(worker.tmpdir), 0, 0, "/tmp", 0, W,
	  "Where per-job temporary directories are made." },
	{ "worker", "max_source_size", CT_SIZE, O(worker.max_source_size), 1 * KB, 64 * GB, "512M", F_RELOAD, W,
	  "Largest source a job may have, as S3 reports its size before the download: a larger one fails the job at once (permanent, source_too_large) and nothing is downloaded; the download itself stops at the reported size." },
	{ "worker", "tmpdir_reserve", CT_SIZE, O(worker.tmpdir_reserve), 0, 64 * GB, "256M", F_RELOAD, W,
	  "Free space a job needs in tmpdir beyond its source, for its outputs; sources this worker is still downloading count in full as used.\nWith less, the job fails as transient (no_space) and is retried later." },
	{ "worker", "ffmpeg", CT_STR, O(worker.ffmpeg), 0, 0, "ffmpeg", 0, W,
	  "ffmpeg program." },
	{ "worker", "ffprobe", CT_STR, O(worker.ffprobe), 0, 0, "ffprobe", 0, W,
	  "ffprobe program." },
	{ "worker", "probe_timeout", CT_DURATION, O(worker.probe_timeout), 1, 3600, "60s", F_RELOAD, W,
	  "Time limit of one ffprobe run." },
	{ "worker", "transcode_timeout", CT_DURATION, O(worker.transcode_timeout), 1, 7 * DAY, "2h", F_RELOAD, W,
	  "Time limit of one ffmpeg run." },
	{ "worker", "ffmpeg_threads", CT_INT, O(worker.ffmpeg_threads), 0, 256, "0", F_RELOAD, W,
	  "ffmpeg -threads (0: ffmpeg decides)." },
	{ "worker", "logo", CT_STR, O(worker.logo), 0, 0, NULL, 0, W,
	  "PNG logo used for the watermark and bumpers." },
	{ "worker", "backoff_cap", CT_DURATION, O(worker.backoff_cap), 1, DAY, "1h", F_RELOAD, W,
	  "Longest delay between attempts (of job types backoff_caps does not name)." },
	{ "worker", "backoff_caps", CT_DURATION_BY_TYPE, O(worker.backoff_caps), 1, DAY, NULL, F_RELOAD, W,
	  "Longest delay between attempts, per job type: TYPE=DURATION pairs separated by commas, e.g. video.transcode=2h, noop=1m.\nTypes not named use backoff_cap." },
	{ "worker", "backoff_base", CT_DURATION, O(worker.backoff_base), 0, 3600, "15s", F_RELOAD, W,
	  "The delay before retry n is n to the fourth power seconds, plus backoff_base, plus up to 10(n+1) seconds of jitter, at most the job type's cap." },
	{ "worker", "redrive_after", CT_DURATION, O(worker.redrive_after), 1, 7 * DAY, "5m", F_RELOAD, W | C,
	  "A job queued, or retrying past its backoff, that no worker has claimed for this long is published to spool.jobs again (through the outbox) by the reaper of one worker, at most 100 jobs a pass, each at most once per this interval: its message was lost (the queue purged, a broker node replaced or restored). Should the message only be waiting behind a backlog, the job gets a second one, which finds it claimed and is dropped; keep it well above the time a normal backlog waits.\nadminctl reads it for the default of job redrive --older-than and the TUI's count of jobs waiting unclaimed." },
	{ "worker", "batch_max", CT_INT, O(worker.batch_max), 1, 1000, "64", 0, W,
	  "Most succeeded jobs the worker records at once: their rows in one statement, their job.succeeded events in one publish with one confirm wait." },
	{ "worker", "batch_wait_us", CT_INT, O(worker.batch_wait_us), 0, 1000000, "1000", 0, W,
	  "Microseconds the worker waits for more succeeded jobs (up to batch_max) before it records those it has; 0 records at once what is waiting." },

	{ "retention", "succeeded", CT_DURATION, O(retention.succeeded), 0, 3650 * DAY, "30d", F_RELOAD, W,
	  "How long a succeeded job stays in PostgreSQL after it finished; then the sweep archives it with its history to S3 and deletes it, leaving a tombstone (GET /v1/jobs/{id} answers 410).\n0 keeps succeeded jobs for ever." },
	{ "retention", "failed", CT_DURATION, O(retention.failed), 0, 3650 * DAY, "90d", F_RELOAD, W,
	  "The same for failed jobs; 0 keeps them for ever." },
	{ "retention", "cancelled", CT_DURATION, O(retention.cancelled), 0, 3650 * DAY, "30d", F_RELOAD, W,
	  "The same for cancelled jobs; 0 keeps them for ever." },
	{ "retention", "interval", CT_DURATION, O(retention.interval), 1, DAY, "1h", F_RELOAD, W,
	  "Time between two retention sweeps.\nOne worker at a time sweeps (an advisory lock); the others skip that turn.\nA sweep goes on batch after batch until no expired job is left." },
	{ "retention", "batch_size", CT_INT, O(retention.batch_size), 1, 10000, "1000", F_RELOAD, W,
	  "Jobs written to one archive object (gzip-compressed JSON lines, one object per batch, all of one finished date).\nOnce S3 confirmed the PUT, they are deleted from PostgreSQL at most 500 per transaction (FOR UPDATE SKIP LOCKED); a failed PUT deletes nothing and the next sweep tries again." },
	{ "retention", "archive_prefix", CT_STR, O(retention.archive_prefix), 0, 0, "archive/jobs/", 0, W | C,
	  "Key prefix of the archive objects in [s3] bucket: PREFIX/YYYY/MM/DD/FIRST-UUID.jsonl.gz, the date the jobs finished (UTC), FIRST the first one's finish time.\nThe worker's role needs s3:PutObject under it; adminctl jobs --archived reads it (ListObjectsV2, GetObject)." },

	{ "adminctl", "read_only", CT_BOOL, O(adminctl.read_only), 0, 1, "false", 0, C,
	  "Refuse every action (retry, cancel, purge, key changes)." },
	{ "adminctl", "refresh", CT_DURATION, O(adminctl.refresh), 1, 3600, "5s", 0, C,
	  "TUI auto-refresh interval." },
	{ "adminctl", "user", CT_STR, O(adminctl.user), 0, 0, NULL, 0, C,
	  "Name recorded in the audit trail (default: the login name)." },
};

#undef O
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static bool is_string_type(enum ctype t)
{
	return t == CT_STR || t == CT_SECRET || t == CT_LEVEL || t == CT_FORMAT || t == CT_URL || t == CT_NETS ||
	       t == CT_RATES || t == CT_ADDR || t == CT_ADDRS || t == CT_QUEUE_TYPE;
}

static char **str_field(struct config *cfg, const struct ckey *k)
{
	return (char **)(void *)((char *)cfg + k->off);
}

static int64_t *int_field(struct config *cfg, const struct ckey *k)
{
	return (int64_t *)(void *)((char *)cfg + k->off);
}

static bool *bool_field(struct config *cfg, const struct ckey *k)
{
	return (bool *)(void *)((char *)cfg + k->off);
}

static bool is_typemap_type(enum ctype t)
{
	return t == CT_INT_BY_TYPE || t == CT_DURATION_BY_TYPE;
}

static struct config_typemap *typemap_field(struct config *cfg, const struct ckey *k)
{
	return (struct config_typemap *)(void *)((char *)cfg + k->off);
}

int64_t config_type_value(const struct config_typemap *m, const char *type, int64_t dflt)
{
	const struct jobtype *jt = jobtype_find(type);
	return jt && (m->set & (1u << jt->id)) ? m->v[jt->id] : dflt;
}

int64_t config_typemap_max(const struct config_typemap *m, int64_t dflt)
{
	int64_t max = INT64_MIN;
	for (int i = 0; i < JOBTYPE_COUNT; i++) {
		int64_t v = (m->set & (1u << i)) ? m->v[i] : dflt;
		if (v > max)
			max = v;
	}
	return max;
}

static bool typemap_equal(const struct config_typemap *a, const struct config_typemap *b)
{
	if (a->set != b->set)
		return false;
	for (int i = 0; i < JOBTYPE_COUNT; i++)
		if ((a->set & (1u << i)) && a->v[i] != b->v[i])
			return false;
	return true;
}

/* A number with a unit: its suffixes and what each multiplies by. */
struct scale {
	const char *what;            /* for messages: "a duration (like 30s, 15m, 2h, 7d)" */
	bool nocase;                 /* suffixes compared without regard to case */
	struct {
		const char *suffix;
		int64_t mul;
	} units[12];                 /* ends with suffix NULL */
};

static const struct scale durations = {
	"a duration (like 30s, 15m, 2h, 7d)", false,
	{ { "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 }, { NULL, 0 } },
};

static const struct scale sizes = {
	"a size (like 64K, 16M, 2G)", true,
	{ { "", 1 }, { "b", 1 },
	  { "k", 1024 }, { "kib", 1024 }, { "kb", 1024 },
	  { "m", 1024 * 1024 }, { "mib", 1024 * 1024 }, { "mb", 1024 * 1024 },
	  { "g", 1024LL * 1024 * 1024 }, { "gib", 1024LL * 1024 * 1024 }, { "gb", 1024LL * 1024 * 1024 },
	  { NULL, 0 } },
};

/* Digits then one of the suffixes of `sc`, as that many units; -1 when not, or past INT64_MAX. */
static int parse_scaled(const char *s, const struct scale *sc, int64_t *out)
{
	char *end;
	if (!s || !*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno)
		return -1;
	for (size_t i = 0; sc->units[i].suffix; i++) {
		int64_t mul = sc->units[i].mul;
		if (sc->nocase ? strcasecmp(end, sc->units[i].suffix) : strcmp(end, sc->units[i].suffix))
			continue;
		if (v > INT64_MAX / mul)
			return -1;
		*out = v * mul;
		return 0;
	}
	return -1;
}

int config_parse_duration(const char *s, int64_t *out)
{
	return parse_scaled(s, &durations, out);
}

int config_parse_size(const char *s, int64_t *out)
{
	return parse_scaled(s, &sizes, out);
}

/* Parse a number of type `t` (CT_INT, CT_DURATION or CT_SIZE) within [min, max]; -1 with the reason in `why`. */
static int parse_number(enum ctype t, const char *val, int64_t min, int64_t max, int64_t *out, struct buf *why)
{
	int64_t n;
	char *end;
	if (t == CT_INT) {
		errno = 0;
		n = strtoll(val, &end, 10);
		if (errno || end == val || *end) {
			buf_printf(why, "'%s' is not a whole number", val);
			return -1;
		}
	} else {
		const struct scale *sc = t == CT_DURATION ? &durations : &sizes;
		if (parse_scaled(val, sc, &n) < 0) {
			buf_printf(why, "'%s' is not %s", val, sc->what);
			return -1;
		}
	}
	if (n < min || n > max) {
		buf_printf(why, "%lld is out of range [%lld, %lld]", (long long)n, (long long)min, (long long)max);
		return -1;
	}
	*out = n;
	return 0;
}

/*
 * Parse "TYPE=VALUE, TYPE=VALUE" (blanks optional, empty text: an empty map) into
 * `m`; each value of element type `t` within [min, max]. On error `why` names the
 * offending item.
 */
static int parse_typemap(enum ctype t, const char *val, int64_t min, int64_t max, struct config_typemap *m,
			 struct buf *why)
{
	char *copy = xstrdup(val), *next = copy;
	struct buf num = BUF_INIT;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	while (*val && next) {
		char *item = next, *end = item + strcspn(item, ",");
		next = *end ? end + 1 : NULL;
		*end = '\0';
		while (isspace((unsigned char)*item))
			item++;
		while (end > item && isspace((unsigned char)end[-1]))
			*--end = '\0';
		const char *eq = strchr(item, '=');
		if (!*item) {
			buf_adds(why, "empty item (a comma too many?)");
			goto out;
		}
		if (!eq) {
			buf_printf(why, "item '%s' is not TYPE=VALUE", item);
			goto out;
		}
		int tlen = (int)(eq - item);
		while (tlen > 0 && isspace((unsigned char)item[tlen - 1]))
			tlen--;
		const struct jobtype *jt = jobtype_find_n(item, (size_t)tlen);
		if (!jt) {
			buf_printf(why, "item '%s': unknown job type '%.*s' (known: ", item, tlen, item);
			jobtype_names(why);
			buf_addc(why, ')');
			goto out;
		}
		if (m->set & (1u << jt->id)) {
			buf_printf(why, "item '%s': job type '%s' is given twice", item, jt->name);
			goto out;
		}
		eq++;
		while (isspace((unsigned char)*eq))
			eq++;
		if (parse_number(t, eq, min, max, &m->v[jt->id], &num) < 0) {
			buf_printf(why, "item '%s': %s", item, buf_str(&num));
			goto out;
		}
		m->set |= 1u << jt->id;
	}
	rc = 0;
out:
	buf_release(&num);
	free(copy);
	return rc;
}

#define TENANT_CHARS "abcdefghijklmnopqrstuvwxyz0123456789-_"

/* One item of [api] tenant_rate_limits: TENANT=RATE[/BURST]. */
struct rate_item {
	const char *name;
	size_t nlen;
	long long rate, burst;
	int has_burst;
};

/* Digits at *p (after blanks) into *v, moving *p past them; -1 when there are none. */
static int digits(const char **p, long long *v)
{
	char *e;
	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (!isdigit((unsigned char)**p))
		return -1;
	errno = 0;
	*v = strtoll(*p, &e, 10);
	*p = e;
	return errno ? -1 : 0;
}

/* Parse the item of `len` bytes at `s` (blanks around its parts allowed): 0, or -1 with the reason in `why`. */
static int rate_item_parse(const char *s, size_t len, int64_t max, struct rate_item *it, struct buf *why)
{
	const char *end = s + len, *p = s;
	while (p < end && isspace((unsigned char)*p))
		p++;
	it->name = p;
	it->nlen = strspn(p, TENANT_CHARS);  /* stops at the ',' or NUL that ends the item */
	p += it->nlen;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (it->nlen == 0 || it->nlen > 63 || p >= end || *p != '=') {
		buf_printf(why, "item '%.*s' is not TENANT=RATE or TENANT=RATE/BURST (a tenant is 1-63 of a-z 0-9 - _)",
			   (int)len, s);
		return -1;
	}
	p++;
	it->has_burst = 0;
	int bad = digits(&p, &it->rate) < 0;
	if (!bad && *p == '/') {
		p++;
		it->has_burst = 1;
		bad = digits(&p, &it->burst) < 0;
	}
	while (!bad && p < end && isspace((unsigned char)*p))
		p++;
	if (bad || p != end || it->rate > max || (it->has_burst && (it->burst < 1 || it->burst > max))) {
		buf_printf(why, "item '%.*s': RATE must be 0 to %lld and BURST 1 to %lld", (int)len, s,
			   (long long)max, (long long)max);
		return -1;
	}
	return 0;
}

/*
 * Walk the per-tenant rates "TENANT=RATE[/BURST], …" of `spec`, checking each
 * item and that no tenant is named twice: 1 when `tenant` (NULL: none) is met,
 * with *rate and maybe *burst set; 0 at the end; -1 with the problem in `why`.
 */
static int rates_scan(const char *spec, int64_t max, const char *tenant, int64_t *rate, int64_t *burst,
		      struct buf *why)
{
	for (const char *p = spec; *p;) {
		size_t len = strcspn(p, ",");
		struct rate_item it, prev;
		if (rate_item_parse(p, len, max, &it, why) < 0)
			return -1;
		if (tenant && strlen(tenant) == it.nlen && !strncmp(tenant, it.name, it.nlen)) {
			*rate = it.rate;
			if (it.has_burst)
				*burst = it.burst;
			return 1;
		}
		for (const char *q = spec; !tenant && q < p; q += strcspn(q, ",") + 1)
			if (rate_item_parse(q, strcspn(q, ","), max, &prev, why) == 0 && prev.nlen == it.nlen &&
			    !strncmp(prev.name, it.name, it.nlen)) {
				buf_printf(why, "tenant '%.*s' is named twice", (int)it.nlen, it.name);
				return -1;
			}
		p += len + (p[len] == ',');
	}
	return 0;
}

int config_tenant_rate(const char *spec, const char *tenant, int64_t *rate, int64_t *burst)
{
	struct buf why = BUF_INIT;
	int rc = spec ? rates_scan(spec, INT64_MAX, tenant, rate, burst, &why) : 0;
	buf_release(&why);
	return rc == 1;
}

int config_parse_endpoint(const char *s, int64_t default_port, struct buf *host, int64_t *port, struct buf *why)
{
	const char *colon = strrchr(s, ':'), *h = s, *hend = colon;
	const char *form = default_port > 0 ? "HOST[:PORT]" : "HOST:PORT";
	buf_reset(host);
	if (*s == '[') {
		h = s + 1;
		hend = strchr(s, ']');
		if (!hend || (hend[1] != ':' && (hend[1] || default_port <= 0))) {
			buf_printf(why, "'%s' is not [IPv6]%s", s, default_port > 0 ? "[:PORT]" : ":PORT");
			return -1;
		}
		colon = hend[1] ? hend + 1 : NULL;
	} else if (colon && strchr(s, ':') != colon) {
		buf_printf(why, "'%s': write an IPv6 address in brackets, [ADDRESS]%s", s,
			   default_port > 0 ? "[:PORT]" : ":PORT");
		return -1;
	} else if (!colon && default_port > 0) {
		hend = s + strlen(s);
	}
	if ((!colon && default_port <= 0) || hend == h) {
		buf_printf(why, "'%s' is not %s", s, form);
		return -1;
	}
	if (!colon) {
		*port = default_port;
		buf_add(host, h, (size_t)(hend - h));
		return 0;
	}
	struct buf num = BUF_INIT;
	int rc = parse_number(CT_INT, colon + 1, 1, 65535, port, &num);
	if (rc < 0 || !isdigit((unsigned char)colon[1]))
		buf_printf(why, "'%s': the port must be a number from 1 to 65535", s);
	else
		buf_add(host, h, (size_t)(hend - h));
	buf_release(&num);
	return rc < 0 || !isdigit((unsigned char)colon[1]) ? -1 : 0;
}

int config_parse_hostport(const char *s, struct buf *host, int64_t *port, struct buf *why)
{
	return config_parse_endpoint(s, 0, host, port, why);
}

int config_parse_endpoints(const char *list, int64_t default_port, struct config_endpoint **out, size_t *n,
			   struct buf *why)
{
	struct config_endpoint *v = NULL;
	struct buf item = BUF_INIT, host = BUF_INIT;
	size_t k = 0;
	int rc = 0;

	for (const char *p = list; rc == 0 && p; ) {
		size_t len = strcspn(p, ",");
		const char *b = p, *e = p + len;
		p = *e ? e + 1 : NULL;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		int64_t port;
		buf_reset(&item);
		buf_add(&item, b, (size_t)(e - b));
		if (b == e) {
			buf_adds(why, k || p ? "empty item (a comma too many?)" : "no endpoint");
			rc = -1;
		} else if (k == CONFIG_ENDPOINTS_MAX) {
			buf_printf(why, "more than %d endpoints", CONFIG_ENDPOINTS_MAX);
			rc = -1;
		} else if (config_parse_endpoint(buf_str(&item), default_port, &host, &port, why) < 0) {
			rc = -1;
		} else if (out) {
			v = xrealloc(v, (k + 1) * sizeof(*v));
			v[k].host = xstrdup(buf_str(&host));
			v[k].port = (int)port;
			k++;
		} else {
			k++;
		}
	}
	buf_release(&item);
	buf_release(&host);
	if (rc < 0) {
		config_endpoints_free(v, out ? k : 0);
		v = NULL;
		k = 0;
	}
	if (out)
		*out = v;
	if (n)
		*n = k;
	return rc;
}

void config_endpoints_free(struct config_endpoint *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++)
		free(e[i].host);
	free(e);
}

/* Set one key from text; on error append the reason (without location) to `why`. */
static int set_value(struct config *cfg, const struct ckey *k, const char *val, struct buf *why)
{
	int64_t n;
	switch (k->type) {
	case CT_STR:
		break;
	case CT_URL:
		if (*val && strncmp(val, "http://", 7) && strncmp(val, "https://", 8)) {
			buf_printf(why, "'%s' is not an http:// or https:// URL", val);
			return -1;
		}
		break;
	case CT_SECRET:
		if (*val && strncmp(val, "arn:aws:secretsmanager:", 23) && strncmp(val, "file:", 5) &&
		    strncmp(val, "env:", 4)) {
			buf_adds(why, "not a secret reference: use arn:aws:secretsmanager:…, file:PATH or env:NAME");
			return -1;
		}
		break;
	case CT_LEVEL: {
		if (strcmp(val, "error") && strcmp(val, "warn") && strcmp(val, "info") && strcmp(val, "debug")) {
			buf_printf(why, "'%s' is not one of error, warn, info, debug", val);
			return -1;
		}
		break;
	}
	case CT_NETS:
		if (netaddr_list_parse(val, NULL, why) < 0)
			return -1;
		break;
	case CT_RATES: {
		int64_t r, b;
		if (rates_scan(val, k->max, NULL, &r, &b, why) < 0)
			return -1;
		break;
	}
	case CT_ADDR:
		if (*val) {
			struct buf host = BUF_INIT;
			int rc = config_parse_hostport(val, &host, &n, why);
			buf_release(&host);
			if (rc < 0)
				return -1;
		}
		break;
	case CT_ADDRS:
		if (*val && config_parse_endpoints(val, 0, NULL, NULL, why) < 0)
			return -1;
		break;
	case CT_QUEUE_TYPE:
		if (strcmp(val, "quorum") && strcmp(val, "classic")) {
			buf_printf(why, "'%s' is not one of quorum, classic", val);
			return -1;
		}
		break;
	case CT_FORMAT:
		if (strcmp(val, "json") && strcmp(val, "text")) {
			buf_printf(why, "'%s' is not one of json, text", val);
			return -1;
		}
		break;
	case CT_BOOL:
		if (!strcasecmp(val, "true") || !strcasecmp(val, "yes") || !strcasecmp(val, "on") || !strcmp(val, "1"))
			*bool_field(cfg, k) = true;
		else if (!strcasecmp(val, "false") || !strcasecmp(val, "no") || !strcasecmp(val, "off") ||
			 !strcmp(val, "0"))
			*bool_field(cfg, k) = false;
		else {
			buf_printf(why, "'%s' is not a boolean (true or false)", val);
			return -1;
		}
		return 0;
	case CT_INT:
	case CT_DURATION:
	case CT_SIZE:
		if (parse_number(k->type, val, k->min, k->max, &n, why) < 0)
			return -1;
		*int_field(cfg, k) = n;
		return 0;
	case CT_INT_BY_TYPE:
	case CT_DURATION_BY_TYPE: {
		struct config_typemap m;
		if (parse_typemap(k->type == CT_INT_BY_TYPE ? CT_INT : CT_DURATION, val, k->min, k->max, &m, why) < 0)
			return -1;
		*typemap_field(cfg, k) = m;
		return 0;
	}
	}
	/* string types */
	{
		char **f = str_field(cfg, k);
		free(*f);
		*f = *val ? xstrdup(val) : NULL;
	}
	return 0;
}

void config_defaults(struct config *cfg, unsigned program)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->program = program;
	for (size_t i = 0; i < NKEYS; i++) {
		struct buf why = BUF_INIT;
		if (keys[i].def && set_value(cfg, &keys[i], keys[i].def, &why) < 0) {
			/* A bad default is a programming error caught by the unit tests. */
			fprintf(stderr, "config: bad default for %s.%s: %s\n", keys[i].section, keys[i].name,
				buf_str(&why));
			abort();
		}
		buf_release(&why);
	}
}

struct load_ctx {
	struct config *cfg;
	const char *name;
	struct buf *err;
	int errors;
	/* Debian's inih passes no line numbers: the reader below counts them. */
	const char *pos;
	int lineno;
	bool seen[NKEYS];
};

/* ini_reader over a string that counts lines, so messages can name them. */
static char *read_line(char *str, int num, void *stream)
{
	struct load_ctx *lc = stream;
	if (!*lc->pos || num < 2)
		return NULL;
	int n = 0;
	while (n < num - 1 && lc->pos[n] && lc->pos[n] != '\n')
		n++;
	if (lc->pos[n] == '\n' && n < num - 1)
		n++;
	memcpy(str, lc->pos, (size_t)n);
	str[n] = '\0';
	lc->pos += n;
	if (n > 0 && str[n - 1] == '\n')
		lc->lineno++;
	return str;
}

static void add_err(struct load_ctx *lc, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void add_err(struct load_ctx *lc, int line, const char *fmt, ...)
{
	va_list ap;
	if (line > 0)
		buf_printf(lc->err, "config: '%s' line %d: ", lc->name, line);
	else
		buf_printf(lc->err, "config: '%s': ", lc->name);
	va_start(ap, fmt);
	buf_vprintf(lc->err, fmt, ap);
	va_end(ap);
	buf_addc(lc->err, '\n');
	lc->errors++;
}

static int on_kv(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *lc = user;
	int lineno = lc->lineno;
	bool section_known = false;
	if (!name) /* new section: checked when its first key arrives, or below */
		return 1;
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, section))
			continue;
		section_known = true;
		if (strcmp(keys[i].name, name))
			continue;
		if (!(keys[i].programs & lc->cfg->program)) {
			add_err(lc, lineno, "key '%s' in [%s] does not apply to this program", name, section);
			return 1;
		}
		if (lc->seen[i])
			add_err(lc, lineno, "key '%s' in [%s] is set twice", name, section);
		lc->seen[i] = true;
		struct buf why = BUF_INIT;
		if (set_value(lc->cfg, &keys[i], value, &why) < 0)
			add_err(lc, lineno, "key '%s' in [%s]: %s", name, section, buf_str(&why));
		buf_release(&why);
		return 1;
	}
	if (!section_known)
		add_err(lc, lineno, "unknown section [%s] (key '%s')", section, name);
	else
		add_err(lc, lineno, "unknown key '%s' in [%s]", name, section);
	return 1;
}

/* Each upload takes up to [s3] part_size of the [api] upload buffers: they must hold one. */
static void check_upload_buffer(struct load_ctx *lc)
{
	const struct config *c = lc->cfg;
	const char *name[] = { "upload_buffer", "upload_buffer_per_key" };
	int64_t v[] = { c->api.upload_buffer, c->api.upload_buffer_per_key };
	for (int i = 0; i < 2; i++)
		if (v[i] < c->s3.part_size)
			add_err(lc, 0, "key '%s' in [api] (%lld bytes) is smaller than 'part_size' in [s3] "
				"(%lld bytes): no upload larger than one part could start", name[i], (long long)v[i],
				(long long)c->s3.part_size);
}

static int finish_load(struct load_ctx *lc, int rc)
{
	if (rc > 0)
		add_err(lc, rc, "syntax error (expected [section] or key = value)");
	else if (rc < 0)
		add_err(lc, 0, "out of memory while parsing");
	else
		for (size_t i = 0; i < NKEYS; i++) {
			if (!(keys[i].flags & F_REQUIRED) || !(keys[i].programs & lc->cfg->program))
				continue;
			bool missing = is_string_type(keys[i].type) && *str_field(lc->cfg, &keys[i]) == NULL;
			if (missing)
				add_err(lc, 0, "required key '%s' missing in [%s]", keys[i].name, keys[i].section);
		}
	if (rc == 0 && (lc->cfg->program & PROG_API) && !lc->cfg->api.tls_cert != !lc->cfg->api.tls_key)
		add_err(lc, 0, "key '%s' in [api] is set but '%s' is not: HTTPS needs both (or neither)",
			lc->cfg->api.tls_cert ? "tls_cert" : "tls_key", lc->cfg->api.tls_cert ? "tls_key" : "tls_cert");
	if (rc == 0 && (lc->cfg->program & PROG_API))
		check_upload_buffer(lc);
	return lc->errors ? -1 : 0;
}

static int parse_text(struct load_ctx *lc, const char *text)
{
	lc->pos = text;
	lc->lineno = 0;
	return finish_load(lc, ini_parse_stream(read_line, lc, on_kv, lc));
}

int config_load(struct config *cfg, const char *path, unsigned program, struct buf *err)
{
	config_defaults(cfg, program);
	cfg->path = xstrdup(path);
	struct load_ctx lc = { .cfg = cfg, .name = path, .err = err };
	FILE *fp = fopen(path, "r");
	if (!fp) {
		add_err(&lc, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	struct buf text = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0 && text.len < (1u << 20))
		buf_add(&text, chunk, n);
	int bad = ferror(fp);
	fclose(fp);
	if (bad) {
		add_err(&lc, 0, "cannot read: %s", strerror(errno));
		buf_release(&text);
		return -1;
	}
	int rc = parse_text(&lc, buf_str(&text));
	buf_release(&text);
	return rc;
}

int config_load_string(struct config *cfg, const char *name, const char *text, unsigned program,
		       struct buf *err)
{
	config_defaults(cfg, program);
	cfg->path = xstrdup(name);
	struct load_ctx lc = { .cfg = cfg, .name = name, .err = err };
	return parse_text(&lc, text);
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (is_string_type(keys[i].type)) {
			char **f = str_field(cfg, &keys[i]);
			free(*f);
			*f = NULL;
		}
	free(cfg->path);
	cfg->path = NULL;
}

int config_unreloadable_changes(const struct config *a, const struct config *b, struct buf *out)
{
	int n = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct ckey *k = &keys[i];
		if ((k->flags & F_RELOAD) || !(k->programs & a->program))
			continue;
		bool differ;
		const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
		if (is_string_type(k->type)) {
			const char *sa = *(char *const *)(const void *)pa, *sb = *(char *const *)(const void *)pb;
			differ = (sa == NULL) != (sb == NULL) || (sa && strcmp(sa, sb));
		} else if (k->type == CT_BOOL) {
			differ = *(const bool *)(const void *)pa != *(const bool *)(const void *)pb;
		} else if (is_typemap_type(k->type)) {
			differ = !typemap_equal((const struct config_typemap *)(const void *)pa,
						(const struct config_typemap *)(const void *)pb);
		} else {
			differ = *(const int64_t *)(const void *)pa != *(const int64_t *)(const void *)pb;
		}
		if (differ) {
			buf_printf(out, "%s%s.%s", n ? ", " : "", k->section, k->name);
			n++;
		}
	}
	return n;
}

void config_keep_unreloadable(struct config *next, const struct config *cur)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct ckey *k = &keys[i];
		if (k->flags & F_RELOAD)
			continue;
		const char *from = (const char *)cur + k->off;
		if (is_string_type(k->type)) {
			char **f = str_field(next, k);
			const char *v = *(char *const *)(const void *)from;
			free(*f);
			*f = v ? xstrdup(v) : NULL;
		} else if (k->type == CT_BOOL) {
			*bool_field(next, k) = *(const bool *)(const void *)from;
		} else if (is_typemap_type(k->type)) {
			*typemap_field(next, k) = *(const struct config_typemap *)(const void *)from;
		} else {
			*int_field(next, k) = *(const int64_t *)(const void *)from;
		}
	}
}

int config_get_bool(const struct config *cfg, const char *section, const char *name, bool *out)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type == CT_BOOL && !strcmp(keys[i].section, section) && !strcmp(keys[i].name, name)) {
			*out = *(const bool *)(const void *)((const char *)cfg + keys[i].off);
			return 0;
		}
	return -1;
}

static const char *type_name(enum ctype t)
{
	switch (t) {
	case CT_STR: return "string";
	case CT_INT: return "integer";
	case CT_BOOL: return "boolean";
	case CT_DURATION: return "duration";
	case CT_SIZE: return "size";
	case CT_SECRET: return "secret reference";
	case CT_LEVEL: return "level";
	case CT_FORMAT: return "format";
	case CT_URL: return "URL";
	case CT_NETS: return "networks";
	case CT_INT_BY_TYPE: return "per-type integers";
	case CT_DURATION_BY_TYPE: return "per-type durations";
	case CT_RATES: return "per-tenant rates";
	case CT_ADDR: return "host:port";
	case CT_ADDRS: return "host:port list";
	case CT_QUEUE_TYPE: return "queue type";
	}
	return "?";
}

void config_dump_doc(FILE *fp)
{
	const char *cur = "";
	for (size_t i = 0; i < NKEYS; i++) {
		const struct ckey *k = &keys[i];
		if (strcmp(cur, k->section)) {
			if (*cur)
				fputs(".El\n", fp);
			fprintf(fp, ".Ss [%s]\n.Bl -tag -width Ds\n", k->section);
			cur = k->section;
		}
		fprintf(fp, ".It Ic %s Ar %s\n", k->name, type_name(k->type));
		fprintf(fp, "%s\n", k->doc);
		if (is_typemap_type(k->type)) {
			struct buf names = BUF_INIT;
			jobtype_names(&names);
			fprintf(fp, "Job types: %s.\n", buf_str(&names));
			buf_release(&names);
		}
		fputs("Used by", fp);
		const char *sep = " ";
		if (k->programs & PROG_API) { fprintf(fp, "%s", sep); fputs("spool-api", fp); sep = ", "; }
		if (k->programs & PROG_WORKER) { fprintf(fp, "%s", sep); fputs("spool-worker", fp); sep = ", "; }
		if (k->programs & PROG_ADMINCTL) { fprintf(fp, "%s", sep); fputs("adminctl", fp); }
		fputs(".\n", fp);
		if (k->flags & F_REQUIRED)
			fputs("Required.\n", fp);
		else if (k->def)
			fprintf(fp, "Default: %s.\n", k->def);
		if (k->type == CT_INT || k->type == CT_DURATION || k->type == CT_SIZE)
			fprintf(fp, "Range: %lld to %lld%s.\n", (long long)k->min, (long long)k->max,
				k->type == CT_DURATION ? " seconds" : k->type == CT_SIZE ? " bytes" : "");
		else if (is_typemap_type(k->type))
			fprintf(fp, "Range of each value: %lld to %lld%s.\n", (long long)k->min, (long long)k->max,
				k->type == CT_DURATION_BY_TYPE ? " seconds" : "");
		fputs((k->flags & F_RELOAD) ? "Reloaded on SIGHUP.\n" : "Needs a restart to change.\n", fp);
	}
	if (*cur)
		fputs(".El\n", fp);
}
