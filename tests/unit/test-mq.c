/* Unit tests for mq without a broker: failures are reported, nothing leaks or crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "mq.h"
#include "secrets.h"

static const char ini[] =
	"[database]\nsecret = env:T_DB\n"
	"[rabbitmq]\nsecret = env:T_MQ\nconnect_timeout = 2s\n"
	"[s3]\nbucket = b\n";

/* A TCP port on 127.0.0.1 that nothing listens on. */
static int closed_port(void)
{
	struct sockaddr_in a = { 0 };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

struct fixture {
	struct config cfg;
	struct secrets *sec;
	struct mq *mq;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct buf err = BUF_INIT;

	if (config_load_string(&f->cfg, "test.ini", ini, PROG_WORKER, &err) < 0) {
		fprintf(stderr, "%s", buf_str(&err));
		return -1;
	}
	buf_release(&err);
	f->sec = secrets_new(&f->cfg);
	f->mq = mq_new(&f->cfg, f->sec);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	mq_free(f->mq);
	secrets_free(f->sec);
	config_free(&f->cfg);
	free(f);
	return 0;
}

static void set_secret(int port)
{
	char json[256];

	snprintf(json, sizeof(json),
		 "{\"username\":\"u\",\"password\":\"p\",\"host\":\"127.0.0.1\",\"port\":%d,\"vhost\":\"/\"}", port);
	setenv("T_MQ", json, 1);
}

static void test_connect_refused(void **state)
{
	struct fixture *f = *state;
	struct buf err = BUF_INIT;

	set_secret(closed_port());
	assert_int_equal(mq_connect(f->mq, &err), -1);
	assert_non_null(strstr(buf_str(&err), "cannot connect to '127.0.0.1:"));
	assert_false(mq_connected(f->mq));
	buf_release(&err);
}

static void test_bad_secret(void **state)
{
	struct fixture *f = *state;
	struct buf err = BUF_INIT;

	setenv("T_MQ", "{\"username\":\"u\"}", 1);
	assert_int_equal(mq_connect(f->mq, &err), -1);
	assert_true(err.len > 0);
	assert_null(strstr(buf_str(&err), "\"u\"")); /* the value is not quoted back */
	assert_false(mq_connected(f->mq));
	buf_release(&err);
}

static void test_disconnected_calls(void **state)
{
	struct fixture *f = *state;
	struct buf err = BUF_INIT;
	struct mq_delivery d;
	uint32_t n = 7;

	set_secret(closed_port());
	assert_int_equal(mq_publish(f->mq, "spool.events", "job.started", "{}", 2, &err), -1);
	assert_true(err.len > 0);
	buf_reset(&err);
	assert_int_equal(mq_publish_delayed(f->mq, 20, JOBPRIO_NORMAL, "{}", 2, &err), -1);
	buf_reset(&err);
	assert_int_equal(mq_next(f->mq, &d, 10, &err), -1);
	assert_null(d.body);
	buf_reset(&err);
	assert_int_equal(mq_declare_topology(f->mq, &err), -1);
	buf_reset(&err);
	assert_int_equal(mq_consume(f->mq, MQ_JOBS_QUEUE, 2, &err), -1);
	buf_reset(&err);
	assert_int_equal(mq_queue_counts(f->mq, MQ_JOBS_QUEUE, &n, NULL, &err), -1);
	assert_int_equal(n, 7);
	assert_int_equal(mq_ack(f->mq, 1), -1);
	assert_int_equal(mq_reject(f->mq, 1, 0), -1);
	mq_disconnect(f->mq);
	mq_delivery_free(&d);
	buf_release(&err);
}

/* The nodes: [rabbitmq] endpoints wins over the secret's hosts, which win over its host and port. */
static void test_endpoints_source(void **state)
{
	struct fixture *f = *state;
	struct buf err = BUF_INIT;
	struct mq_secret s = { 0 };
	struct config_endpoint *e;
	size_t n;

	assert_int_equal(mq_secret_parse("{\"username\":\"u\",\"password\":\"p\",\"host\":\"one\",\"port\":5671}", &s,
					 &err), 0);
	assert_int_equal(mq_endpoints(&f->cfg, &s, &e, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].host, "one");
	assert_int_equal(e[0].port, 5671);
	config_endpoints_free(e, n);
	mq_secret_free(&s);

	assert_int_equal(mq_secret_parse("{\"username\":\"u\",\"password\":\"p\",\"host\":\"one\",\"port\":5671,"
					 "\"hosts\":[\"a\",\"b:5672\"]}", &s, &err), 0);
	assert_int_equal(mq_endpoints(&f->cfg, &s, &e, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].host, "a");
	assert_int_equal(e[0].port, 5671); /* the secret's port */
	assert_int_equal(e[1].port, 5672);
	config_endpoints_free(e, n);

	f->cfg.rabbitmq.endpoints = xstrdup("x:1, y:2, z:3");
	assert_int_equal(mq_endpoints(&f->cfg, &s, &e, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(e[2].host, "z");
	assert_int_equal(e[2].port, 3);
	config_endpoints_free(e, n);
	mq_secret_free(&s);
	buf_release(&err);
}

/* A fixed sequence of "random" numbers for mq_endpoints_order. */
struct seq {
	const uint32_t *v;
	size_t n, i;
};

static uint32_t next_of(void *arg)
{
	struct seq *q = arg;
	return q->v[q->i++ % q->n];
}

static struct config_endpoint *three(void)
{
	struct config_endpoint *e = calloc(3, sizeof(*e));
	e[0] = (struct config_endpoint){ strdup("a"), 1 };
	e[1] = (struct config_endpoint){ strdup("b"), 2 };
	e[2] = (struct config_endpoint){ strdup("c"), 3 };
	return e;
}

static char *order_of(const struct config_endpoint *e, size_t n)
{
	static char out[16];
	for (size_t i = 0; i < n; i++)
		out[i] = e[i].host[0];
	out[n] = '\0';
	return out;
}

/* Shuffled, every node once; the node of a lost connection last. */
static void test_endpoints_order(void **state)
{
	(void)state;
	static const uint32_t zeros[] = { 0 }, ones[] = { 1 };
	struct seq q0 = { zeros, 1, 0 }, q1 = { ones, 1, 0 };
	struct config_endpoint *e = three();
	char b[] = "b";
	struct config_endpoint last = { b, 2 }, other_port = { b, 5 };
	int seen[6] = { 0 };

	/* Fisher-Yates with j = 0 each time: abc -> cab -> bca */
	mq_endpoints_order(e, 3, NULL, next_of, &q0);
	assert_string_equal(order_of(e, 3), "bca");
	mq_endpoints_order(e, 3, NULL, next_of, &q1);
	assert_string_equal(order_of(e, 3), "bac");
	/* the lost node goes last, whatever the shuffle */
	for (int i = 0; i < 200; i++) {
		mq_endpoints_order(e, 3, &last, NULL, NULL);
		assert_string_equal(e[2].host, "b");
		assert_true(strchr(order_of(e, 3), 'a') && strchr(order_of(e, 3), 'c'));
	}
	config_endpoints_free(e, 3);
	e = three();
	mq_endpoints_order(e, 3, &other_port, next_of, &q0);
	assert_string_equal(order_of(e, 3), "bca"); /* the host alone is not the node */
	/* with the system's randomness every order turns up */
	for (int i = 0; i < 600; i++) {
		mq_endpoints_order(e, 3, NULL, NULL, NULL);
		const char *o = order_of(e, 3);
		static const char *const all[] = { "abc", "acb", "bac", "bca", "cab", "cba" };
		for (int k = 0; k < 6; k++)
			seen[k] += !strcmp(o, all[k]);
	}
	for (int k = 0; k < 6; k++)
		assert_true(seen[k] > 0);
	mq_endpoints_order(e, 1, &last, NULL, NULL); /* one node: nothing to do */
	config_endpoints_free(e, 3);
}

/* The value of `key` in args, or NULL: a string, or the number printed. */
static const char *arg_of(const struct mq_arg *a, size_t n, const char *key)
{
	static char num[32];
	for (size_t i = 0; i < n; i++)
		if (!strcmp(a[i].key, key)) {
			if (a[i].str)
				return a[i].str;
			snprintf(num, sizeof(num), "%lld", (long long)a[i].num);
			return num;
		}
	return NULL;
}

/* The arguments of each queue per type; classic ones as before quorum queues came. */
static void test_queue_args(void **state)
{
	(void)state;
	struct mq_arg a[MQ_ARGS_MAX];
	size_t n;

	n = mq_queue_args(MQ_CLASSIC, MQ_ROLE_JOBS, 0, a);
	assert_int_equal(n, 2);
	assert_string_equal(arg_of(a, n, "x-dead-letter-exchange"), "");
	assert_string_equal(arg_of(a, n, "x-dead-letter-routing-key"), "spool.dead");
	n = mq_queue_args(MQ_QUORUM, MQ_ROLE_JOBS, 0, a);
	assert_string_equal(arg_of(a, n, "x-queue-type"), "quorum");
	assert_string_equal(arg_of(a, n, "x-dead-letter-routing-key"), "spool.dead");
	assert_string_equal(arg_of(a, n, "x-delivery-limit"), "10");
	assert_string_equal(arg_of(a, n, "x-dead-letter-strategy"), "at-least-once");
	assert_string_equal(arg_of(a, n, "x-overflow"), "reject-publish");
	assert_null(arg_of(a, n, "x-message-ttl"));

	n = mq_queue_args(MQ_CLASSIC, MQ_ROLE_RETRY, 30, a);
	assert_int_equal(n, 4);
	assert_string_equal(arg_of(a, n, "x-message-ttl"), "30000");
	assert_string_equal(arg_of(a, n, "x-dead-letter-exchange"), "spool.jobs");
	assert_string_equal(arg_of(a, n, "x-dead-letter-routing-key"), "job");
	assert_string_equal(arg_of(a, n, "x-expires"), "330000");
	n = mq_queue_args(MQ_QUORUM, MQ_ROLE_RETRY, 30, a);
	assert_string_equal(arg_of(a, n, "x-queue-type"), "quorum");
	assert_string_equal(arg_of(a, n, "x-message-ttl"), "30000");
	assert_string_equal(arg_of(a, n, "x-dead-letter-strategy"), "at-least-once");
	assert_null(arg_of(a, n, "x-delivery-limit")); /* nothing consumes it */
	/* the delay queues of a priority return their messages to its queue */
	n = mq_queue_args_prio(MQ_QUORUM, MQ_ROLE_RETRY, 30, JOBPRIO_HIGH, a);
	assert_string_equal(arg_of(a, n, "x-dead-letter-routing-key"), "job.high");
	assert_string_equal(arg_of(a, n, "x-message-ttl"), "30000");
	n = mq_queue_args_prio(MQ_CLASSIC, MQ_ROLE_RETRY, 7, JOBPRIO_LOW, a);
	assert_string_equal(arg_of(a, n, "x-dead-letter-routing-key"), "job.low");
	n = mq_queue_args_prio(MQ_QUORUM, MQ_ROLE_JOBS, 0, JOBPRIO_HIGH, a);
	assert_string_equal(arg_of(a, n, "x-dead-letter-routing-key"), "spool.dead");

	static const enum mq_queue_role plain[] = { MQ_ROLE_DEAD, MQ_ROLE_EVENTS, MQ_ROLE_HOLD };
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(mq_queue_args(MQ_CLASSIC, plain[i], 0, a), 0);
		n = mq_queue_args(MQ_QUORUM, plain[i], 0, a);
		assert_int_equal(n, 1); /* no delivery limit: dead list and webhooks give messages back */
		assert_string_equal(arg_of(a, n, "x-queue-type"), "quorum");
	}
	for (int t = 0; t < 2; t++)
		for (int r = MQ_ROLE_JOBS; r <= MQ_ROLE_HOLD; r++)
			assert_true(mq_queue_args((enum mq_queue_type)t, (enum mq_queue_role)r, 5, a) <= MQ_ARGS_MAX);
}

/* Every node is tried; the error names each. */
static void test_connect_all_nodes(void **state)
{
	struct fixture *f = *state;
	struct buf err = BUF_INIT;
	char list[64];
	int p1 = closed_port(), p2 = closed_port();

	set_secret(closed_port());
	snprintf(list, sizeof(list), "127.0.0.1:%d, 127.0.0.1:%d", p1, p2);
	f->cfg.rabbitmq.endpoints = xstrdup(list);
	assert_int_equal(mq_connect(f->mq, &err), -1);
	snprintf(list, sizeof(list), "'127.0.0.1:%d'", p1);
	assert_non_null(strstr(buf_str(&err), list));
	snprintf(list, sizeof(list), "'127.0.0.1:%d'", p2);
	assert_non_null(strstr(buf_str(&err), list));
	assert_false(mq_connected(f->mq));
	buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnected_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endpoints_source, setup, teardown),
		cmocka_unit_test(test_endpoints_order),
		cmocka_unit_test(test_queue_args),
		cmocka_unit_test_setup_teardown(test_connect_all_nodes, setup, teardown),
	};
	setenv("T_DB", "{}", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
