/*
 * config — the INI configuration of every Spool program, described by one table.
 *
 * Each program reads one INI file (inih). Every key is declared once in the table
 * in config.c: section, name, type, bounds, default, whether it is required,
 * whether SIGHUP may change it at run time, and which programs accept it. The same
 * table prints spool.ini(5)'s key list (config_dump_doc) so docs never drift.
 *
 * Errors (unknown section or key, bad value, missing required key, key not valid
 * for this program) are collected as lines "config: 'FILE' line N: key 'K': ..."
 * and config_load() returns -1; programs print them and exit 78 (EX_CONFIG).
 *
 * A per-job-type key ("video.transcode=3, media.probe=5") fills a struct
 * config_typemap: a value for each type it names, the caller's default for the
 * others (config_type_value). Only the types of jobtype.h's table may be named,
 * and spool.ini(5) lists them from it.
 *
 * Ownership: struct config owns every string in it; config_free() releases them.
 * Secret-typed keys hold *references* ("arn:…", "file:PATH", "env:NAME"), never
 * values; resolve them with secrets.h.
 */
#ifndef SPOOL_CONFIG_H
#define SPOOL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "jobtype.h"

#define EX_CONFIG_CODE 78

/* The upper bound of [api] submit_batch_max (spool-api sizes its batch queue by it). */
#define API_SUBMIT_BATCH_LIMIT 1024

enum config_program {
	PROG_API = 1 << 0,
	PROG_WORKER = 1 << 1,
	PROG_ADMINCTL = 1 << 2,
};
#define PROG_ALL (PROG_API | PROG_WORKER | PROG_ADMINCTL)

/* A per-job-type map: plain data (no allocation), copied by assignment. */
struct config_typemap {
	unsigned set;                 /* bit i: job type i (enum jobtype_id) has a value */
	int64_t v[JOBTYPE_COUNT];     /* the values (seconds for durations), by enum jobtype_id */
};

struct config_log {
	char *level;  /* error|warn|info|debug */
	char *format; /* json|text */
	char *cloudwatch_group;        /* CloudWatch Logs group lines are shipped to; empty: none */
	char *cloudwatch_stream;       /* its stream; empty: the host name */
	char *cloudwatch_endpoint_url; /* CloudWatch Logs endpoint override */
	int64_t cloudwatch_queue;      /* bytes of lines held for shipping at most */
};

struct config_aws {
	char *region;
	char *endpoint_url; /* override for every AWS service (local stand-in) */
	char *profile;
	int64_t timeout;    /* seconds, per call */
	int64_t max_attempts;
};

struct config_secrets {
	int64_t cache_ttl;       /* seconds */
	char *endpoint_url;      /* Secrets Manager endpoint override */
};

struct config_database {
	char *secret;            /* reference to an RDS-shaped JSON secret */
	char *sslmode;
	char *sslrootcert;       /* CA bundle for sslmode verify-ca/verify-full, or NULL */
	int64_t pool_size;
	int64_t connect_timeout; /* seconds */
	int64_t statement_timeout; /* seconds */
	char *api_role_secret;    /* adminctl: spool-api's own database secret, for its role */
	char *worker_role_secret; /* adminctl: spool-worker's */
};

struct config_rabbitmq {
	char *secret;            /* reference to a RabbitMQ-shaped JSON secret */
	int64_t heartbeat;       /* seconds */
	int64_t connect_timeout; /* seconds */
	int64_t consumer_timeout; /* seconds: the broker's limit on an unacked delivery */
	char *management_url;    /* http://host:15672 (adminctl, /ready) */
	bool tls;                /* AMQPS; also on when the secret's port is 5671 */
	char *ca_file;           /* CA bundle for AMQPS (default: the system store) */
	char *endpoints;         /* "HOST:PORT, ..." (config_parse_endpoints); NULL: the secret's */
	char *queue_type;        /* "quorum" or "classic": the shared queues' type */
	char *api_user_secret;    /* adminctl: spool-api's own broker secret, for its user */
	char *worker_user_secret; /* adminctl: spool-worker's */
};

struct config_s3 {
	char *bucket;
	char *region;
	char *endpoint_url;
	char *credentials_secret; /* optional: JSON {"access_key_id","secret_access_key"} */
	bool force_path_style;
	int64_t part_size;        /* bytes */
	int64_t multipart_threshold; /* bytes */
	int64_t upload_concurrency;
	int64_t presign_expires;  /* seconds */
};

struct config_cloudwatch {
	bool enabled;
	char *namespace_;
	char *endpoint_url;
	int64_t interval;         /* seconds between PutMetricData flushes */
	char *dimensions;         /* "Name=Value,..." added to every metric */
};

struct config_api {
	char *listen;             /* address */
	int64_t port;
	int64_t threads;
	int64_t submit_batch_wait_us; /* the first submission's wait for others to share its commit */
	int64_t submit_batch_max;     /* 1 .. API_SUBMIT_BATCH_LIMIT submissions per commit */
	int64_t max_connections;
	int64_t connection_timeout; /* seconds without traffic before MHD closes a connection */
	int64_t header_timeout;   /* seconds to send a whole request header (and JSON body) */
	int64_t max_conns_per_address; /* connections one client address may hold; 0 = no limit */
	char *trusted_proxies;    /* networks whose X-Forwarded-For is believed (netaddr list) */
	int64_t max_body;         /* bytes for JSON bodies */
	int64_t max_upload;       /* bytes for POST /v1/videos */
	char *pepper_secret;      /* reference: API-key pepper */
	int64_t key_cache_ttl;    /* seconds */
	int64_t result_url_expires; /* seconds */
	int64_t upload_url_expires; /* seconds */
	int64_t max_wait;         /* seconds for ?wait= */
	int64_t max_waits_per_key; /* ?wait requests one API key may hold suspended */
	int64_t upload_buffer;    /* bytes all POST /v1/videos part buffers may hold together */
	int64_t upload_buffer_per_key; /* of which one API key's uploads may hold */
	int64_t upload_idle_timeout; /* seconds a video body may send nothing */
	int64_t rate_limit;       /* requests per second per key, 0 = no limit */
	int64_t rate_burst;
	char *tenant_rate_limits; /* "TENANT=RATE[/BURST], …": config_tenant_rate() */
	int64_t key_cache_size;   /* API keys remembered (slots) */
	int64_t auth_failure_rate;  /* failed authentications per second per client address */
	int64_t auth_failure_burst;
	char *metrics_listen;     /* HOST:PORT of the /metrics listener; NULL: none */
	int64_t default_max_attempts;
	struct config_typemap max_attempts; /* per type; default_max_attempts for the rest */
	char *webhook_allow_hosts; /* comma-separated hosts allowed over http/private */
	int64_t webhook_workers;  /* delivery threads */
	int64_t webhook_tenant_inflight; /* deliveries of one tenant in flight, fleet-wide */
	char *tls_cert;           /* PEM certificate (chain) for HTTPS; both or neither */
	char *tls_key;            /* PEM private key for HTTPS */
};

struct config_worker {
	char *id;                 /* worker id; default hostname:pid */
	int64_t concurrency;
	int64_t lookahead;        /* deliveries per queue held beyond concurrency */
	int64_t lease;            /* seconds */
	int64_t heartbeat;        /* seconds */
	int64_t shutdown_grace;   /* seconds */
	char *health_listen;      /* HOST:PORT of the GET /health listener; NULL: none */
	int64_t stall_timeout;    /* seconds without progress after which a thread is stalled */
	bool enable_noop;
	char *tmpdir;
	int64_t max_source_size;  /* bytes: a larger source fails the job */
	int64_t tmpdir_reserve;   /* bytes free in tmpdir beyond the source, for outputs */
	char *ffmpeg;
	char *ffprobe;
	int64_t probe_timeout;    /* seconds */
	int64_t transcode_timeout; /* seconds */
	int64_t ffmpeg_threads;
	char *logo;               /* path of the watermark logo (PNG), optional */
	int64_t backoff_cap;      /* seconds */
	struct config_typemap backoff_caps; /* seconds, per type; backoff_cap for the rest */
	int64_t backoff_base;     /* seconds: the constant in attempt^4 + base + jitter */
	int64_t redrive_after;    /* seconds a waiting job goes unclaimed before its message is sent again */
	int64_t batch_max;        /* jobs the completer records in one statement at most */
	int64_t batch_wait_us;    /* microseconds the completer waits for a batch to fill */
};

/* [retention]: the archive of finished jobs (archive.h). */
struct config_retention {
	int64_t succeeded;        /* seconds a succeeded job is kept; 0: for ever */
	int64_t failed;           /* seconds a failed job is kept; 0: for ever */
	int64_t cancelled;        /* seconds a cancelled job is kept; 0: for ever */
	int64_t interval;         /* seconds between sweeps */
	int64_t batch_size;       /* jobs per archive object */
	char *archive_prefix;     /* S3 key prefix of the archive objects */
};

struct config_adminctl {
	bool read_only;
	int64_t refresh;          /* TUI auto-refresh, seconds */
	char *user;               /* name written to the audit trail */
};

struct config {
	char *path;               /* the file read */
	unsigned program;         /* PROG_* of the reader */
	struct config_log log;
	struct config_aws aws;
	struct config_secrets secrets;
	struct config_database database;
	struct config_rabbitmq rabbitmq;
	struct config_s3 s3;
	struct config_cloudwatch cloudwatch;
	struct config_api api;
	struct config_worker worker;
	struct config_retention retention;
	struct config_adminctl adminctl;
};

/* Fill `cfg` with the table's defaults for `program`. */
void config_defaults(struct config *cfg, unsigned program);
/*
 * Read `path` for `program`: defaults, then the file, then checks of required keys.
 * On error returns -1 with one line per problem appended to `err` (the file is read
 * whole so that every problem is reported at once). `cfg` is still freeable.
 */
int config_load(struct config *cfg, const char *path, unsigned program, struct buf *err);
/* Same, from a string (tests); `name` is used in messages. */
int config_load_string(struct config *cfg, const char *name, const char *text, unsigned program,
		       struct buf *err);
void config_free(struct config *cfg);

/*
 * Compare two configs and append to `out` the names ("section.key") of keys that
 * differ and are not reloadable. Returns how many such keys there are.
 */
int config_unreloadable_changes(const struct config *a, const struct config *b, struct buf *out);

/*
 * Give `next` the values of `cur` for every key that is not reloadable, so that
 * a reloaded config changes only what SIGHUP may change (strings are copied).
 */
void config_keep_unreloadable(struct config *next, const struct config *cur);

/* Parse a duration ("90", "30s", "15m", "2h", "7d") into seconds. -1 on error. */
int config_parse_duration(const char *s, int64_t *out);
/* Parse a size ("1024", "64K", "16M", "2G", "512MiB") into bytes. -1 on error. */
int config_parse_size(const char *s, int64_t *out);

/*
 * The rate and burst [api] tenant_rate_limits (`spec`, checked when the config
 * was read; NULL: empty) gives `tenant`: 1 with *rate set, and *burst when the
 * item gives one (else left alone); 0 when the tenant is not named.
 */
int config_tenant_rate(const char *spec, const char *tenant, int64_t *rate, int64_t *burst);

/*
 * Split "HOST:PORT" or "[IPv6]:PORT" (an address key such as [api] metrics_listen)
 * into `host` (reset first; without brackets) and *port (1 to 65535): 0, or -1
 * with the reason in `why`.
 */
int config_parse_hostport(const char *s, struct buf *host, int64_t *port, struct buf *why);

/*
 * Like config_parse_hostport, but when default_port > 0 the port may be left
 * out ("HOST", "[IPv6]") and is then default_port.
 */
int config_parse_endpoint(const char *s, int64_t default_port, struct buf *host, int64_t *port, struct buf *why);

/* One item of a list of endpoints ([rabbitmq] endpoints): a host without brackets and a port. */
struct config_endpoint {
	char *host; /* owned */
	int port;
};
#define CONFIG_ENDPOINTS_MAX 16
/*
 * Parse "HOST:PORT, HOST:PORT, ..." (blanks around items allowed; each item as
 * config_parse_endpoint with `default_port`; at most CONFIG_ENDPOINTS_MAX) into
 * *out (an array of *n, the caller frees it with config_endpoints_free; `out`
 * and `n` may be NULL to only check). 0, or -1 with the offending item in `why`.
 */
int config_parse_endpoints(const char *list, int64_t default_port, struct config_endpoint **out, size_t *n,
			   struct buf *why);
void config_endpoints_free(struct config_endpoint *e, size_t n);

/* The value of `m` for job type `type`; `dflt` when the map does not name it (or it is unknown). */
int64_t config_type_value(const struct config_typemap *m, const char *type, int64_t dflt);
/* The largest value `m` gives any known job type, counting `dflt` for those it does not name. */
int64_t config_typemap_max(const struct config_typemap *m, int64_t dflt);

/*
 * The [section] boolean key `name` of `cfg` into *out: 0, or -1 when the table has
 * no such boolean key (*out is left alone).
 */
int config_get_bool(const struct config *cfg, const char *section, const char *name, bool *out);

/* Write the key table as mdoc (.It entries) for spool.ini(5). */
void config_dump_doc(FILE *fp);

#endif
