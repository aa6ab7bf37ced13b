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
	assert_int_equal(mq_publish_delayed(f->mq, 20, "{}", 2, &err), -1);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnected_calls, setup, teardown),
	};
	setenv("T_DB", "{}", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
