/*
 * amqp-hold — a consumer that never acks, for tests of RabbitMQ's consumer timeout.
 *   amqp-hold AMQP-URL SECONDS
 * Declares a private queue, publishes one message to it, consumes it with manual
 * acks and keeps the delivery unacked. Prints "closed after N s: REPLY" and exits
 * 0 when the broker closes the channel (or the connection) within SECONDS, else
 * prints "open after N s" and exits 1; 2 on any other error.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

static bool rpc_ok(amqp_connection_state_t c, const char *what)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(c);

	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return true;
	fprintf(stderr, "amqp-hold: %s failed\n", what);
	return false;
}

/* Print the reply of a channel.close or connection.close frame. */
static void print_close(const amqp_frame_t *f, double secs)
{
	amqp_bytes_t text = amqp_empty_bytes;
	int code = 0;

	if (f->payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
		const amqp_channel_close_t *m = f->payload.method.decoded;
		code = m->reply_code;
		text = m->reply_text;
	} else {
		const amqp_connection_close_t *m = f->payload.method.decoded;
		code = m->reply_code;
		text = m->reply_text;
	}
	printf("closed after %.1f s: %d %.*s\n", secs, code, (int)text.len, text.bytes ? (const char *)text.bytes : "");
}

/* Connect, take one delivery without acking it, and wait; the exit code of main. */
static int hold(amqp_connection_state_t c, const struct amqp_connection_info *ci, double limit)
{
	amqp_envelope_t env;
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	if (!s || amqp_socket_open(s, ci->host, ci->port) != AMQP_STATUS_OK) {
		fprintf(stderr, "amqp-hold: cannot connect to %s:%d\n", ci->host, ci->port);
		return 2;
	}
	if (amqp_login(c, ci->vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci->user, ci->password).reply_type !=
	    AMQP_RESPONSE_NORMAL) {
		fprintf(stderr, "amqp-hold: login failed\n");
		return 2;
	}
	amqp_channel_open(c, 1);
	if (!rpc_ok(c, "channel.open"))
		return 2;
	amqp_queue_declare_ok_t *q = amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
	if (!rpc_ok(c, "queue.declare") || !q)
		return 2;
	char qname[256]; /* the server-named queue, copied out of the connection's reply pool */
	snprintf(qname, sizeof(qname), "%.*s", (int)q->queue.len, (const char *)q->queue.bytes);
	amqp_bytes_t queue = amqp_cstring_bytes(qname);
	if (amqp_basic_publish(c, 1, amqp_empty_bytes, queue, 0, 0, NULL, amqp_cstring_bytes("hold")) != AMQP_STATUS_OK)
		return 2;
	amqp_basic_consume(c, 1, queue, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
	if (!rpc_ok(c, "basic.consume"))
		return 2;
	double t0 = clock_now_s();
	if (amqp_consume_message(c, &env, NULL, 0).reply_type != AMQP_RESPONSE_NORMAL) {
		fprintf(stderr, "amqp-hold: no delivery\n");
		return 2;
	}
	amqp_destroy_envelope(&env);
	fflush(stdout);
	while (clock_now_s() - t0 < limit) {
		amqp_frame_t f;
		struct timeval tv = { 1, 0 };
		int st = amqp_simple_wait_frame_noblock(c, &f, &tv);
		if (st == AMQP_STATUS_TIMEOUT)
			continue;
		if (st != AMQP_STATUS_OK) {
			printf("closed after %.1f s: %s\n", clock_now_s() - t0, amqp_error_string2(st));
			return 0;
		}
		if (f.frame_type == AMQP_FRAME_METHOD && (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
							  f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
			print_close(&f, clock_now_s() - t0);
			return 0;
		}
	}
	printf("open after %.1f s\n", clock_now_s() - t0);
	return 1;
}

int main(int argc, char **argv)
{
	struct amqp_connection_info ci;

	if (argc != 3) {
		fprintf(stderr, "usage: amqp-hold AMQP-URL SECONDS\n");
		return 2;
	}
	char *url = strdup(argv[1]);
	double limit = atof(argv[2]);
	amqp_default_connection_info(&ci);
	if (!url || amqp_parse_url(url, &ci) != AMQP_STATUS_OK) {
		fprintf(stderr, "amqp-hold: cannot parse '%s'\n", argv[1]);
		return 2;
	}
	amqp_connection_state_t c = amqp_new_connection();
	int rc = hold(c, &ci, limit);
	amqp_destroy_connection(c);
	free(url);
	return rc;
}

