/*
 * mqbatch — publish batches with mq_publish_batch, for tests of its resend.
 *   mqbatch -f CONFIG QUEUE N
 * Connects with CONFIG's [rabbitmq] (adminctl's broker user), declares QUEUE
 * (classic or quorum as [rabbitmq] queue_type says) and prints "port P", the
 * local port of its connection, so that a test can close it through the
 * management API. Then, for the first batch and for each line read on standard
 * input, publishes N messages to QUEUE in one mq_publish_batch and prints
 * "ok" or "error <message>". Exit 0, or 2 when it cannot start.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "mq.h"
#include "secrets.h"

#define BATCH_MAX 1000

static void batch(struct mq *m, const char *queue, size_t n, int round)
{
	static struct mq_message msgs[BATCH_MAX];
	static char bodies[BATCH_MAX][64];
	struct buf err = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		snprintf(bodies[i], sizeof(bodies[i]), "{\"round\":%d,\"i\":%zu}", round, i);
		msgs[i] = (struct mq_message){ "", queue, bodies[i], strlen(bodies[i]) };
	}
	if (mq_publish_batch(m, msgs, n, &err) == 0)
		printf("ok\n");
	else
		printf("error %s\n", buf_str(&err));
	fflush(stdout);
	buf_release(&err);
}

static int run(struct mq *m, const char *queue, size_t n)
{
	struct buf err = BUF_INIT;
	if (mq_connect(m, &err) < 0 || mq_declare_queue(m, queue, MQ_ROLE_HOLD, NULL, &err) < 0) {
		fprintf(stderr, "mqbatch: %s\n", buf_str(&err));
		buf_release(&err);
		return 2;
	}
	buf_release(&err);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(mq_fd(m), (struct sockaddr *)&ss, &len) < 0 || ss.ss_family != AF_INET) {
		fputs("mqbatch: cannot tell the local port of the connection\n", stderr);
		return 2;
	}
	printf("port %d\n", ntohs(((const struct sockaddr_in *)&ss)->sin_port));
	fflush(stdout);
	char line[64];
	int round = 0;
	batch(m, queue, n, round++);
	while (fgets(line, sizeof(line), stdin))
		batch(m, queue, n, round++);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int c;
	while ((c = getopt(argc, argv, "f:")) != -1) {
		if (c != 'f') {
			fputs("usage: mqbatch -f config QUEUE N\n", stderr);
			return 2;
		}
		path = optarg;
	}
	long n = optind == argc - 2 ? strtol(argv[optind + 1], NULL, 10) : 0;
	if (!path || n < 1 || n > BATCH_MAX) {
		fputs("usage: mqbatch -f config QUEUE N (1..1000)\n", stderr);
		return 2;
	}
	struct config cfg;
	struct buf err = BUF_INIT;
	if (config_load(&cfg, path, PROG_ADMINCTL, &err) < 0) {
		fputs(buf_str(&err), stderr);
		buf_release(&err);
		config_free(&cfg);
		return 78;
	}
	buf_release(&err);
	log_init("mqbatch", NULL, LF_TEXT, LL_INFO);
	struct secrets *sec = secrets_new(&cfg);
	struct mq *m = mq_new(&cfg, sec);
	int rc = run(m, argv[optind], (size_t)n);
	mq_free(m);
	secrets_free(sec);
	config_free(&cfg);
	return rc;
}
