/* Unit tests for the config table: defaults, each type, and every kind of error message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"

#define REQUIRED_ADMINCTL \
	"[database]\nsecret = file:/db.json\n[rabbitmq]\nsecret = env:MQ\n[s3]\nbucket = b\n" \
	"[api]\npepper_secret = file:/pepper\n"
#define REQUIRED_WORKER "[database]\nsecret = file:/db.json\n[rabbitmq]\nsecret = env:MQ\n[s3]\nbucket = b\n"

/* Load `text` for `prog`; return config_load_string's result, messages in `err`. */
static int load(struct config *cfg, const char *text, unsigned prog, struct buf *err)
{
	buf_reset(err);
	return config_load_string(cfg, "test.ini", text, prog, err);
}

/* Assert that `text` fails and that the messages contain `want`. */
static void expect_error(const char *text, unsigned prog, const char *want)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	if (load(&cfg, text, prog, &err) != -1)
		fail_msg("accepted:\n%s", text);
	if (!strstr(buf_str(&err), want))
		fail_msg("messages\n%s\nlack '%s'", buf_str(&err), want);
	config_free(&cfg);
	buf_release(&err);
}

static void test_defaults(void **state)
{
	(void)state;
	struct config cfg;
	config_defaults(&cfg, PROG_WORKER);
	assert_string_equal(cfg.log.level, "info");
	assert_string_equal(cfg.log.format, "json");
	assert_string_equal(cfg.aws.region, "us-east-1");
	assert_int_equal(cfg.aws.timeout, 10);
	assert_int_equal(cfg.secrets.cache_ttl, 3600);
	assert_string_equal(cfg.database.sslmode, "prefer");
	assert_int_equal(cfg.database.pool_size, 8);
	assert_int_equal(cfg.database.statement_timeout, 30);
	assert_int_equal(cfg.s3.part_size, 8 * 1024 * 1024);
	assert_int_equal(cfg.s3.presign_expires, 900);
	assert_false(cfg.s3.force_path_style);
	assert_int_equal(cfg.worker.lease, 60);
	assert_int_equal(cfg.worker.transcode_timeout, 7200);
	assert_int_equal(cfg.api.port, 8000);
	assert_null(cfg.database.secret);
	assert_null(cfg.aws.endpoint_url);
	assert_int_equal(cfg.program, PROG_WORKER);
	config_free(&cfg);
}

static void test_good_file(void **state)
{
	(void)state;
	struct config cfg;
	struct buf err = BUF_INIT;
	assert_int_equal(load(&cfg,
			      "; comment\n[log]\nlevel = debug\nformat = text\n" REQUIRED_WORKER
			      "[s3]\nforce_path_style = yes\npart_size = 16MiB\npresign_expires = 2h\n"
			      "endpoint_url = http://127.0.0.1:9000\n"
			      "[worker]\nconcurrency = 4\nlease = 5m\nenable_noop = on\n",
			      PROG_WORKER, &err),
			 0);
	assert_string_equal(buf_str(&err), "");
	assert_string_equal(cfg.log.level, "debug");
	assert_string_equal(cfg.database.secret, "file:/db.json");
	assert_string_equal(cfg.rabbitmq.secret, "env:MQ");
	assert_true(cfg.s3.force_path_style);
	assert_int_equal(cfg.s3.part_size, 16 * 1024 * 1024);
	assert_int_equal(cfg.s3.presign_expires, 7200);
	assert_string_equal(cfg.s3.endpoint_url, "http://127.0.0.1:9000");
	assert_int_equal(cfg.worker.concurrency, 4);
	assert_int_equal(cfg.worker.lease, 300);
	assert_true(cfg.worker.enable_noop);
	config_free(&cfg);
	buf_release(&err);
}

static void test_parse_duration_size(void **state)
{
	(void)state;
	int64_t v;
	assert_int_equal(config_parse_duration("90", &v), 0);
	assert_int_equal(v, 90);
	assert_int_equal(config_parse_duration("30s", &v), 0);
	assert_int_equal(v, 30);
	assert_int_equal(config_parse_duration("15m", &v), 0);
	assert_int_equal(v, 900);
	assert_int_equal(config_parse_duration("2h", &v), 0);
	assert_int_equal(v, 7200);
	assert_int_equal(config_parse_duration("7d", &v), 0);
	assert_int_equal(v, 604800);
	assert_int_equal(config_parse_duration("", &v), -1);
	assert_int_equal(config_parse_duration("-5", &v), -1);
	assert_int_equal(config_parse_duration("5x", &v), -1);
	assert_int_equal(config_parse_duration("m", &v), -1);
	assert_int_equal(config_parse_duration("99999999999999999999", &v), -1);
	assert_int_equal(config_parse_size("1024", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(config_parse_size("64K", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(config_parse_size("16M", &v), 0);
	assert_int_equal(v, 16 * 1024 * 1024);
	assert_int_equal(config_parse_size("2G", &v), 0);
	assert_true(v == 2LL * 1024 * 1024 * 1024);
	assert_int_equal(config_parse_size("512MiB", &v), 0);
	assert_int_equal(v, 512 * 1024 * 1024);
	assert_int_equal(config_parse_size("12Q", &v), -1);
	assert_int_equal(config_parse_size("", &v), -1);
	assert_int_equal(config_parse_size("9223372036854775807G", &v), -1);
}

static void test_bad_values(void **state)
{
	(void)state;
	expect_error(REQUIRED_WORKER "[worker]\nconcurrency = many\n", PROG_WORKER,
		     "config: 'test.ini' line 8: key 'concurrency' in [worker]: 'many' is not a whole number");
	expect_error(REQUIRED_WORKER "[worker]\nenable_noop = maybe\n", PROG_WORKER, "line 8: key 'enable_noop'");
	expect_error(REQUIRED_WORKER "[worker]\nenable_noop = maybe\n", PROG_WORKER, "is not a boolean");
	expect_error(REQUIRED_WORKER "[worker]\nlease = soon\n", PROG_WORKER, "is not a duration");
	expect_error(REQUIRED_WORKER "[s3]\npart_size = big\n", PROG_WORKER, "is not a size");
	expect_error(REQUIRED_WORKER "[log]\nlevel = loud\n", PROG_WORKER,
		     "line 8: key 'level' in [log]: 'loud' is not one of error, warn, info, debug");
	expect_error(REQUIRED_WORKER "[log]\nformat = xml\n", PROG_WORKER, "is not one of json, text");
	expect_error(REQUIRED_WORKER "[aws]\nendpoint_url = ftp://x\n", PROG_WORKER, "is not an http:// or https:// URL");
	expect_error("[database]\nsecret = hunter2\n[rabbitmq]\nsecret = env:MQ\n[s3]\nbucket = b\n", PROG_WORKER,
		     "line 2: key 'secret' in [database]: not a secret reference");
}

static void test_secret_value_not_echoed(void **state)
{
	(void)state;
	struct config cfg;
	struct buf err = BUF_INIT;
	assert_int_equal(load(&cfg, "[database]\nsecret = hunter2\n" REQUIRED_WORKER, PROG_WORKER, &err), -1);
	assert_null(strstr(buf_str(&err), "hunter2"));
	config_free(&cfg);
	buf_release(&err);
}

static void test_out_of_range(void **state)
{
	(void)state;
	expect_error(REQUIRED_WORKER "[worker]\nconcurrency = 0\n", PROG_WORKER, "0 is out of range [1, 256]");
	expect_error(REQUIRED_WORKER "[worker]\nconcurrency = 257\n", PROG_WORKER, "257 is out of range [1, 256]");
	expect_error(REQUIRED_WORKER "[s3]\npart_size = 1M\n", PROG_WORKER, "line 8: key 'part_size' in [s3]");
	expect_error(REQUIRED_WORKER "[worker]\nlease = 1s\n", PROG_WORKER, "1 is out of range");
}

static void test_unknown(void **state)
{
	(void)state;
	expect_error(REQUIRED_WORKER "[worker]\nconcurency = 2\n", PROG_WORKER,
		     "config: 'test.ini' line 8: unknown key 'concurency' in [worker]");
	expect_error(REQUIRED_WORKER "[wrker]\nconcurrency = 2\n", PROG_WORKER,
		     "config: 'test.ini' line 8: unknown section [wrker] (key 'concurrency')");
	expect_error(REQUIRED_WORKER "[worker]\nconcurrency = 2\nconcurrency = 3\n", PROG_WORKER,
		     "line 9: key 'concurrency' in [worker] is set twice");
	expect_error(REQUIRED_WORKER "[worker\n", PROG_WORKER, "syntax error");
}

static void test_missing_required(void **state)
{
	(void)state;
	expect_error("[rabbitmq]\nsecret = env:MQ\n[s3]\nbucket = b\n", PROG_WORKER,
		     "config: 'test.ini': required key 'secret' missing in [database]");
	expect_error(REQUIRED_WORKER, PROG_ADMINCTL, "required key 'pepper_secret' missing in [api]");
	expect_error("", PROG_API, "required key 'bucket' missing in [s3]");
}

static void test_program_mismatch(void **state)
{
	(void)state;
	expect_error(REQUIRED_WORKER "[api]\nport = 8080\n", PROG_WORKER,
		     "line 8: key 'port' in [api] does not apply to this program");
	expect_error(REQUIRED_ADMINCTL "[worker]\nconcurrency = 2\n", PROG_ADMINCTL, "does not apply to this program");
	struct config cfg;
	struct buf err = BUF_INIT;
	assert_int_equal(load(&cfg, REQUIRED_ADMINCTL "[adminctl]\nread_only = true\n", PROG_ADMINCTL, &err), 0);
	assert_true(cfg.adminctl.read_only);
	config_free(&cfg);
	buf_release(&err);
}

static void test_all_errors_reported(void **state)
{
	(void)state;
	struct config cfg;
	struct buf err = BUF_INIT;
	assert_int_equal(load(&cfg, "[worker]\nconcurrency = x\nbogus = 1\n[nope]\na = b\n", PROG_WORKER, &err), -1);
	const char *s = buf_str(&err);
	int lines = 0;
	for (const char *p = s; *p; p++)
		lines += *p == '\n';
	assert_true(lines >= 5); /* bad value, unknown key, unknown section, 3 missing required */
	assert_non_null(strstr(s, "line 2"));
	assert_non_null(strstr(s, "line 3"));
	assert_non_null(strstr(s, "line 5"));
	config_free(&cfg);
	buf_release(&err);
}

static void test_unreloadable(void **state)
{
	(void)state;
	struct config a, b;
	struct buf err = BUF_INIT, out = BUF_INIT;
	assert_int_equal(load(&a, REQUIRED_WORKER "[worker]\nlease = 60s\nconcurrency = 2\n", PROG_WORKER, &err), 0);
	assert_int_equal(load(&b, REQUIRED_WORKER "[worker]\nlease = 90s\nconcurrency = 3\n", PROG_WORKER, &err), 0);
	assert_int_equal(config_unreloadable_changes(&a, &b, &out), 1);
	assert_string_equal(buf_str(&out), "worker.lease");
	config_free(&a);
	config_free(&b);
	buf_release(&err);
	buf_release(&out);
}

/* Keys the daemons copy into long-lived clients at start are named as needing a restart. */
static void test_unreloadable_clients(void **state)
{
	(void)state;
	struct config a, b;
	struct buf err = BUF_INIT, out = BUF_INIT;
	assert_int_equal(load(&a, REQUIRED_WORKER, PROG_WORKER, &err), 0);
	assert_int_equal(load(&b, REQUIRED_WORKER "[aws]\ntimeout = 20s\nmax_attempts = 5\n"
				  "[secrets]\ncache_ttl = 5m\n"
				  "[s3]\npart_size = 16M\nmultipart_threshold = 32M\nupload_concurrency = 8\n",
			  PROG_WORKER, &err), 0);
	assert_int_equal(config_unreloadable_changes(&a, &b, &out), 6);
	assert_string_equal(buf_str(&out), "aws.timeout, aws.max_attempts, secrets.cache_ttl, s3.part_size, "
					   "s3.multipart_threshold, s3.upload_concurrency");
	config_free(&a);
	config_free(&b);
	buf_release(&err);
	buf_release(&out);
}

static void test_api_tls_pair(void **state)
{
	(void)state;
	struct config cfg;
	struct buf err = BUF_INIT;
	expect_error(REQUIRED_ADMINCTL "tls_cert = /c.pem\n", PROG_API,
		     "config: 'test.ini': key 'tls_cert' in [api] is set but 'tls_key' is not");
	expect_error(REQUIRED_ADMINCTL "tls_key = /k.pem\n", PROG_API, "key 'tls_key' in [api] is set but 'tls_cert'");
	assert_int_equal(load(&cfg, REQUIRED_ADMINCTL "tls_cert = /c.pem\ntls_key = /k.pem\n", PROG_API, &err), 0);
	assert_string_equal(cfg.api.tls_cert, "/c.pem");
	config_free(&cfg);
	assert_int_equal(load(&cfg, REQUIRED_ADMINCTL, PROG_API, &err), 0);
	assert_null(cfg.api.tls_cert);
	config_free(&cfg);
	buf_release(&err);
}

/* A line of [api] (after the required keys) that fails, and what the messages say. */
struct bad_api {
	const char *line;
	const char *want;
};

static void expect_api_errors(const struct bad_api *bad, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct buf text = BUF_INIT;
		buf_printf(&text, REQUIRED_ADMINCTL "%s\n", bad[i].line);
		expect_error(buf_str(&text), PROG_API, bad[i].want);
		buf_release(&text);
	}
}

/* The connection and upload limits: defaults, trusted_proxies checked as networks, upload_buffer >= part_size. */
static void test_api_limits(void **state)
{
	(void)state;
	struct config cfg;
	struct buf err = BUF_INIT;
	assert_int_equal(load(&cfg, REQUIRED_ADMINCTL, PROG_API, &err), 0);
	assert_int_equal(cfg.api.header_timeout, 10);
	assert_int_equal(cfg.api.max_conns_per_address, 128);
	assert_int_equal(cfg.api.max_connections, 4096);
	assert_int_equal(cfg.api.max_waits_per_key, 32);
	assert_int_equal(cfg.api.upload_buffer, 256 * 1024 * 1024);
	assert_int_equal(cfg.api.upload_buffer_per_key, 64 * 1024 * 1024);
	assert_int_equal(cfg.api.upload_idle_timeout, 10);
	assert_null(cfg.api.trusted_proxies);
	config_free(&cfg);
	assert_int_equal(load(&cfg, REQUIRED_ADMINCTL "trusted_proxies = 10.0.0.0/16, fd00::/8\n", PROG_API, &err), 0);
	assert_string_equal(cfg.api.trusted_proxies, "10.0.0.0/16, fd00::/8");
	config_free(&cfg);
	expect_error(REQUIRED_ADMINCTL "trusted_proxies = 10.0.0.0/16, lb.internal\n", PROG_API,
		     "key 'trusted_proxies' in [api]: 'lb.internal' is not an IP address or ADDRESS/BITS");
	expect_error(REQUIRED_ADMINCTL "trusted_proxies = 10.0.0.1/16\n", PROG_API, "has bits set past its /16 prefix");
	expect_error(REQUIRED_ADMINCTL "upload_buffer = 6M\n[s3]\npart_size = 8M\n", PROG_API,
		     "key 'upload_buffer' in [api] (6291456 bytes) is smaller than 'part_size' in [s3] (8388608 bytes)");
	expect_error(REQUIRED_ADMINCTL "upload_buffer_per_key = 7M\n", PROG_API,
		     "key 'upload_buffer_per_key' in [api] (7340032 bytes) is smaller than 'part_size'");
	buf_release(&err);
}

/* The API's rate limits: on by default; per-tenant rates parsed, looked up and checked. */
static void test_api_rate_limits(void **state)
{
	(void)state;
	struct config cfg;
	struct buf err = BUF_INIT;
	config_defaults(&cfg, PROG_API);
	assert_int_equal(cfg.api.rate_limit, 50);
	assert_int_equal(cfg.api.rate_burst, 100);
	assert_int_equal(cfg.api.key_cache_size, 4096);
	assert_int_equal(cfg.api.auth_failure_rate, 1);
	assert_int_equal(cfg.api.auth_failure_burst, 20);
	assert_null(cfg.api.tenant_rate_limits);
	assert_null(cfg.api.metrics_listen);
	config_free(&cfg);

	assert_int_equal(load(&cfg, REQUIRED_ADMINCTL "tenant_rate_limits = bulk=500/1000 , demo = 7,zero=0\n", PROG_API,
			      &err), 0);
	int64_t rate = 1, burst = 2;
	assert_int_equal(config_tenant_rate(cfg.api.tenant_rate_limits, "bulk", &rate, &burst), 1);
	assert_int_equal(rate, 500);
	assert_int_equal(burst, 1000);
	burst = 2;
	assert_int_equal(config_tenant_rate(cfg.api.tenant_rate_limits, "demo", &rate, &burst), 1);
	assert_int_equal(rate, 7);
	assert_int_equal(burst, 2); /* no BURST: the caller's default stays */
	assert_int_equal(config_tenant_rate(cfg.api.tenant_rate_limits, "zero", &rate, &burst), 1);
	assert_int_equal(rate, 0);
	assert_int_equal(config_tenant_rate(cfg.api.tenant_rate_limits, "bul", &rate, &burst), 0);
	assert_int_equal(config_tenant_rate(cfg.api.tenant_rate_limits, "bulky", &rate, &burst), 0);
	assert_int_equal(config_tenant_rate(NULL, "bulk", &rate, &burst), 0);
	config_free(&cfg);

	static const struct bad_api bad[] = {
		{ "tenant_rate_limits = bulk",
		  "line 9: key 'tenant_rate_limits' in [api]: item 'bulk' is not TENANT=RATE or TENANT=RATE/BURST" },
		{ "tenant_rate_limits = Bulk=5", "item 'Bulk=5' is not TENANT=RATE" },
		{ "tenant_rate_limits = bulk=5/0", "item 'bulk=5/0': RATE must be 0 to 1000000 and BURST 1 to 1000000" },
		{ "tenant_rate_limits = bulk=-5", "item 'bulk=-5': RATE must be" },
		{ "tenant_rate_limits = bulk=5x", "item 'bulk=5x': RATE must be" },
		{ "tenant_rate_limits = bulk=2000000", "RATE must be 0 to 1000000" },
		{ "tenant_rate_limits = a=1,,b=2", "item '' is not TENANT=RATE" },
		{ "tenant_rate_limits = a=1, b=2, a=3", "tenant 'a' is named twice" },
		{ "key_cache_size = 0", "0 is out of range [1, 1048576]" },
		{ "auth_failure_rate = 0", "0 is out of range [1, 1000000]" },
	};
	expect_api_errors(bad, sizeof(bad) / sizeof(bad[0]));
	buf_release(&err);
}

/* [api] metrics_listen: HOST:PORT or [IPv6]:PORT, checked when read. */
static void test_hostport(void **state)
{
	(void)state;
	struct config cfg;
	struct buf err = BUF_INIT, host = BUF_INIT, why = BUF_INIT;
	int64_t port;
	assert_int_equal(load(&cfg, REQUIRED_ADMINCTL "metrics_listen = 127.0.0.1:9464\n", PROG_API, &err), 0);
	assert_string_equal(cfg.api.metrics_listen, "127.0.0.1:9464");
	config_free(&cfg);
	assert_int_equal(config_parse_hostport("127.0.0.1:9464", &host, &port, &why), 0);
	assert_string_equal(buf_str(&host), "127.0.0.1");
	assert_int_equal(port, 9464);
	assert_int_equal(config_parse_hostport("[::1]:80", &host, &port, &why), 0);
	assert_string_equal(buf_str(&host), "::1");
	assert_int_equal(port, 80);
	assert_int_equal(config_parse_hostport("localhost:1", &host, &port, &why), 0);
	assert_string_equal(buf_str(&host), "localhost");
	static const struct bad_api bad[] = {
		{ "metrics_listen = 9464", "key 'metrics_listen' in [api]: '9464' is not HOST:PORT" },
		{ "metrics_listen = :9464", "':9464' is not HOST:PORT" },
		{ "metrics_listen = h:0", "'h:0': the port must be a number from 1 to 65535" },
		{ "metrics_listen = h:+80", "the port must be a number" },
		{ "metrics_listen = h:70000", "the port must be a number" },
		{ "metrics_listen = ::1:80", "write an IPv6 address in brackets" },
		{ "metrics_listen = [::1]80", "'[::1]80' is not [IPv6]:PORT" },
	};
	expect_api_errors(bad, sizeof(bad) / sizeof(bad[0]));
	buf_release(&err);
	buf_release(&host);
	buf_release(&why);
}

/* [rabbitmq] endpoints and queue_type: the list checked item by item when read, the type one of two. */
static void test_rabbitmq_cluster(void **state)
{
	(void)state;
	struct config cfg;
	struct buf err = BUF_INIT, host = BUF_INIT, why = BUF_INIT;
	struct config_endpoint *e = NULL;
	size_t n = 0;
	int64_t port;

	assert_int_equal(load(&cfg, REQUIRED_WORKER, PROG_WORKER, &err), 0);
	assert_string_equal(cfg.rabbitmq.queue_type, "quorum");
	assert_null(cfg.rabbitmq.endpoints);
	config_free(&cfg);
	assert_int_equal(load(&cfg, REQUIRED_WORKER "[rabbitmq]\nqueue_type = classic\n"
			      "endpoints = mq1:5671, [fd00::2]:5671 ,mq3.example.com:5671\n", PROG_WORKER, &err), 0);
	assert_string_equal(cfg.rabbitmq.queue_type, "classic");
	assert_int_equal(config_parse_endpoints(cfg.rabbitmq.endpoints, 0, &e, &n, &why), 0);
	assert_int_equal(n, 3);
	assert_string_equal(e[0].host, "mq1");
	assert_int_equal(e[0].port, 5671);
	assert_string_equal(e[1].host, "fd00::2");
	assert_string_equal(e[2].host, "mq3.example.com");
	config_endpoints_free(e, n);
	config_free(&cfg);

	/* a default port: HOST and [IPv6] alone take it */
	assert_int_equal(config_parse_endpoints("a, b:1, [::1]", 5672, &e, &n, &why), 0);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].port, 5672);
	assert_int_equal(e[1].port, 1);
	assert_string_equal(e[2].host, "::1");
	assert_int_equal(e[2].port, 5672);
	config_endpoints_free(e, n);
	assert_int_equal(config_parse_endpoint("h", 5671, &host, &port, &why), 0);
	assert_int_equal(port, 5671);
	assert_int_equal(config_parse_endpoint("h", 0, &host, &port, &why), -1);
	assert_int_equal(config_parse_endpoints("a:1, b:2", 0, NULL, &n, &why), 0);
	assert_int_equal(n, 2);

	static const struct {
		const char *line, *want;
	} bad[] = {
		{ "queue_type = stream", "key 'queue_type' in [rabbitmq]: 'stream' is not one of quorum, classic" },
		{ "endpoints = mq1", "key 'endpoints' in [rabbitmq]: 'mq1' is not HOST:PORT" },
		{ "endpoints = mq1:5671,", "empty item (a comma too many?)" },
		{ "endpoints = mq1:5671,,mq2:5671", "empty item" },
		{ "endpoints = mq1:99999", "'mq1:99999': the port must be a number from 1 to 65535" },
		{ "endpoints = ::1:5671", "write an IPv6 address in brackets" },
		{ "endpoints = a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1",
		  "more than 16 endpoints" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf text = BUF_INIT;
		buf_printf(&text, REQUIRED_WORKER "[rabbitmq]\n%s\n", bad[i].line);
		expect_error(buf_str(&text), PROG_WORKER, bad[i].want);
		buf_release(&text);
	}
	buf_release(&err);
	buf_release(&host);
	buf_release(&why);
}

/* Per-job-type maps: parsing (blanks optional), defaults for the types not named, the accessors. */
static void test_typemap(void **state)
{
	(void)state;
	struct config cfg;
	struct buf err = BUF_INIT;
	assert_int_equal(load(&cfg, REQUIRED_ADMINCTL "max_attempts = video.transcode=3,media.probe = 7 \n", PROG_API,
			      &err),
			 0);
	assert_string_equal(buf_str(&err), "");
	assert_int_equal(config_type_value(&cfg.api.max_attempts, "video.transcode", 5), 3);
	assert_int_equal(config_type_value(&cfg.api.max_attempts, "media.probe", 5), 7);
	assert_int_equal(config_type_value(&cfg.api.max_attempts, "noop", 5), 5);
	assert_int_equal(config_type_value(&cfg.api.max_attempts, "bogus.type", 5), 5);
	assert_int_equal(config_type_value(&cfg.api.max_attempts, NULL, 5), 5);
	assert_int_equal(config_typemap_max(&cfg.api.max_attempts, 5), 7);
	assert_int_equal(config_typemap_max(&cfg.api.max_attempts, 9), 9);
	config_free(&cfg);

	assert_int_equal(load(&cfg, REQUIRED_WORKER "[worker]\nbackoff_caps = noop=1m, video.transcode=2h\n"
				  "backoff_cap = 10m\nbackoff_base = 1m\n",
			      PROG_WORKER, &err),
			 0);
	assert_int_equal(config_type_value(&cfg.worker.backoff_caps, "noop", cfg.worker.backoff_cap), 60);
	assert_int_equal(config_type_value(&cfg.worker.backoff_caps, "video.transcode", cfg.worker.backoff_cap), 7200);
	assert_int_equal(config_type_value(&cfg.worker.backoff_caps, "media.probe", cfg.worker.backoff_cap), 600);
	assert_int_equal(config_typemap_max(&cfg.worker.backoff_caps, cfg.worker.backoff_cap), 7200);
	assert_int_equal(cfg.worker.backoff_base, 60);
	config_free(&cfg);

	/* all three named: the default cap does not count towards the largest */
	assert_int_equal(load(&cfg, REQUIRED_WORKER "[worker]\nbackoff_caps = noop=1m,media.probe=5m,video.transcode=2m\n",
			      PROG_WORKER, &err),
			 0);
	assert_int_equal(config_typemap_max(&cfg.worker.backoff_caps, cfg.worker.backoff_cap), 300);
	config_free(&cfg);

	/* defaults: empty maps, base 15 s; an empty value is an empty map */
	config_defaults(&cfg, PROG_WORKER);
	assert_int_equal(cfg.worker.backoff_base, 15);
	assert_int_equal(cfg.worker.backoff_caps.set, 0);
	assert_int_equal(config_type_value(&cfg.worker.backoff_caps, "noop", 3600), 3600);
	assert_int_equal(config_typemap_max(&cfg.worker.backoff_caps, 3600), 3600);
	config_free(&cfg);
	assert_int_equal(load(&cfg, REQUIRED_ADMINCTL "max_attempts =\n", PROG_API, &err), 0);
	assert_int_equal(cfg.api.max_attempts.set, 0);
	config_free(&cfg);
	buf_release(&err);
}

/* spool.ini(5) lists the job types a per-type key may name from jobtype.h's table. */
static void test_typemap_doc(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	assert_non_null(fp);
	config_dump_doc(fp);
	fclose(fp);
	const char *types = "Job types: video.transcode, media.probe, noop.\n";
	const char *at = strstr(text, ".It Ic max_attempts Ar per-type integers\n");
	assert_non_null(at);
	assert_non_null(strstr(at, types));
	at = strstr(text, ".It Ic backoff_caps Ar per-type durations\n");
	assert_non_null(at);
	assert_non_null(strstr(at, types));
	free(text);
}

/* A boolean key by name: its value, or -1 for a key that is not a boolean of the table. */
static void test_get_bool(void **state)
{
	(void)state;
	struct config cfg;
	struct buf err = BUF_INIT;
	bool on = true;
	config_defaults(&cfg, PROG_WORKER);
	assert_int_equal(config_get_bool(&cfg, "worker", "enable_noop", &on), 0);
	assert_false(on);
	config_free(&cfg);
	assert_int_equal(load(&cfg, REQUIRED_WORKER "[worker]\nenable_noop = yes\n", PROG_WORKER, &err), 0);
	assert_int_equal(config_get_bool(&cfg, "worker", "enable_noop", &on), 0);
	assert_true(on);
	on = false;
	assert_int_equal(config_get_bool(&cfg, "worker", "concurrency", &on), -1);
	assert_int_equal(config_get_bool(&cfg, "api", "enable_noop", &on), -1);
	assert_int_equal(config_get_bool(&cfg, "worker", "enable_nothing", &on), -1);
	assert_false(on);
	config_free(&cfg);
	buf_release(&err);
}

/* Every bad item is named, with the file, line and key. */
static void test_typemap_errors(void **state)
{
	(void)state;
	expect_error(REQUIRED_ADMINCTL "max_attempts = bogus.type=3\n", PROG_API,
		     "config: 'test.ini' line 9: key 'max_attempts' in [api]: item 'bogus.type=3': "
		     "unknown job type 'bogus.type' (known: video.transcode, media.probe, noop)");
	expect_error(REQUIRED_ADMINCTL "max_attempts = noop=2, noop=3\n", PROG_API,
		     "line 9: key 'max_attempts' in [api]: item 'noop=3': job type 'noop' is given twice");
	expect_error(REQUIRED_ADMINCTL "max_attempts = noop=lots\n", PROG_API,
		     "line 9: key 'max_attempts' in [api]: item 'noop=lots': 'lots' is not a whole number");
	expect_error(REQUIRED_ADMINCTL "max_attempts = media.probe=0\n", PROG_API,
		     "item 'media.probe=0': 0 is out of range [1, 100]");
	expect_error(REQUIRED_ADMINCTL "max_attempts = media.probe=101\n", PROG_API,
		     "item 'media.probe=101': 101 is out of range [1, 100]");
	expect_error(REQUIRED_ADMINCTL "max_attempts = media.probe\n", PROG_API,
		     "item 'media.probe' is not TYPE=VALUE");
	expect_error(REQUIRED_ADMINCTL "max_attempts = media.probe=2,\n", PROG_API, "empty item");
	expect_error(REQUIRED_ADMINCTL "max_attempts = =2\n", PROG_API, "item '=2': unknown job type ''");
	expect_error(REQUIRED_ADMINCTL "max_attempts = media.probe=2\nmax_attempts = noop=2\n", PROG_API,
		     "line 10: key 'max_attempts' in [api] is set twice");
	expect_error(REQUIRED_WORKER "[worker]\nbackoff_caps = noop=soon\n", PROG_WORKER,
		     "line 8: key 'backoff_caps' in [worker]: item 'noop=soon': 'soon' is not a duration");
	expect_error(REQUIRED_WORKER "[worker]\nbackoff_caps = noop=2d\n", PROG_WORKER,
		     "item 'noop=2d': 172800 is out of range [1, 86400]");
	expect_error(REQUIRED_WORKER "[worker]\nbackoff_base = 2h\n", PROG_WORKER,
		     "key 'backoff_base' in [worker]: 7200 is out of range [0, 3600]");
	expect_error(REQUIRED_WORKER "[api]\nmax_attempts = noop=2\n", PROG_WORKER,
		     "line 8: key 'max_attempts' in [api] does not apply to this program");
}

/* The maps follow SIGHUP: a change is not named as needing a restart, and keep_unreloadable leaves it. */
static void test_typemap_reload(void **state)
{
	(void)state;
	struct config a, b;
	struct buf err = BUF_INIT, out = BUF_INIT;
	assert_int_equal(load(&a, REQUIRED_WORKER "[worker]\nbackoff_caps = noop=1m\n", PROG_WORKER, &err), 0);
	assert_int_equal(load(&b, REQUIRED_WORKER "[worker]\nbackoff_caps = noop=2m\nbackoff_base = 5s\n", PROG_WORKER,
			      &err),
			 0);
	assert_int_equal(config_unreloadable_changes(&a, &b, &out), 0);
	config_keep_unreloadable(&b, &a);
	assert_int_equal(config_type_value(&b.worker.backoff_caps, "noop", 0), 120);
	assert_int_equal(b.worker.backoff_base, 5);
	config_free(&a);
	config_free(&b);
	buf_release(&err);
	buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),	   cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_parse_duration_size), cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_secret_value_not_echoed), cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_unknown),	   cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_program_mismatch), cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_unreloadable),	   cmocka_unit_test(test_unreloadable_clients),
		cmocka_unit_test(test_api_tls_pair),	   cmocka_unit_test(test_api_limits),
		cmocka_unit_test(test_api_rate_limits),
		cmocka_unit_test(test_hostport),	   cmocka_unit_test(test_rabbitmq_cluster),
		cmocka_unit_test(test_typemap),	   cmocka_unit_test(test_typemap_errors),
		cmocka_unit_test(test_typemap_reload),
		cmocka_unit_test(test_typemap_doc),	   cmocka_unit_test(test_get_bool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
