/*
 * amqp-rate — the broker's ceiling for make bench (scripts/bench.sh): publishes COUNT
 * persistent messages of the size of a job message into a scratch quorum queue (as
 * spool.jobs is), BATCH at a time, each batch waiting for its publisher confirms, then
 * consumes them with manual acks (prefetch and acks in batches); prints
 *   amqp_publish_per_s N
 *   amqp_consume_per_s N
 * and deletes the queue. The password is read from $AMQP_PASSWORD (not argv: ps shows it).
 *
 *   amqp-rate HOST PORT USER COUNT BATCH
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define CHANNEL 1

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The error of the last RPC on `conn`, or NULL when it succeeded. */
static const char *rpc_error(amqp_connection_state_t conn)
{
	static char msg[160];
	amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return NULL;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(msg, sizeof(msg), "%s", amqp_error_string2(r.library_error));
		return msg;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD || r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			const amqp_channel_close_t *c = r.reply.decoded;
			snprintf(msg, sizeof(msg), "broker closed: %.*s", (int)c->reply_text.len,
				 (const char *)c->reply_text.bytes);
		} else {
			snprintf(msg, sizeof(msg), "broker exception 0x%08x", (unsigned)r.reply.id);
		}
		return msg;
	default:
		return "no reply";
	}
}

/* Wait for the confirms of publish numbers up to `last`; -1 on a nack or an error. */
static int wait_confirms(amqp_connection_state_t conn, uint64_t last)
{
	uint64_t confirmed = 0;
	while (confirmed < last) {
		amqp_frame_t f;
		struct timeval tv = { .tv_sec = 30 };
		int st = amqp_simple_wait_frame_noblock(conn, &f, &tv);
		if (st != AMQP_STATUS_OK) {
			fprintf(stderr, "amqp-rate: waiting for confirms: %s\n", amqp_error_string2(st));
			return -1;
		}
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
			fprintf(stderr, "amqp-rate: the broker refused a message (basic.nack)\n");
			return -1;
		}
		if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
			const amqp_basic_ack_t *a = f.payload.method.decoded;
			if (a->delivery_tag > confirmed)
				confirmed = a->delivery_tag;
		} else if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
			   f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
			fprintf(stderr, "amqp-rate: the broker closed the channel while publishing\n");
			return -1;
		}
		amqp_maybe_release_buffers(conn);
	}
	return 0;
}

static int publish_all(amqp_connection_state_t conn, amqp_bytes_t queue, long count, long batch)
{
	/* the size and shape of an outbox payload (shared/job.c) */
	static const char body[] = "{\"v\":1,\"job_id\":\"0b6c2a8e-4c3f-4d6e-9b1a-2f3e4d5c6b7a\","
				   "\"type\":\"noop\",\"attempt\":1}";
	amqp_basic_properties_t props = {
		._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG,
		.delivery_mode = 2,
		.content_type = amqp_cstring_bytes("application/json"),
	};
	uint64_t seq = 0;
	for (long sent = 0; sent < count;) {
		long n = count - sent < batch ? count - sent : batch;
		for (long i = 0; i < n; i++) {
			int st = amqp_basic_publish(conn, CHANNEL, amqp_empty_bytes, queue, 0, 0, &props,
						    amqp_cstring_bytes(body));
			if (st != AMQP_STATUS_OK) {
				fprintf(stderr, "amqp-rate: publish: %s\n", amqp_error_string2(st));
				return -1;
			}
		}
		seq += (uint64_t)n;
		sent += n;
		if (wait_confirms(conn, seq) < 0)
			return -1;
	}
	return 0;
}

static int consume_all(amqp_connection_state_t conn, amqp_bytes_t queue, long count, long batch)
{
	amqp_basic_qos(conn, CHANNEL, 0, (uint16_t)(batch * 2 > 65535 ? 65535 : batch * 2), 0);
	const char *e = rpc_error(conn);
	if (!e) {
		amqp_basic_consume(conn, CHANNEL, queue, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
		e = rpc_error(conn);
	}
	if (e) {
		fprintf(stderr, "amqp-rate: consume: %s\n", e);
		return -1;
	}
	for (long got = 0; got < count;) {
		amqp_envelope_t env;
		struct timeval tv = { .tv_sec = 30 };
		amqp_maybe_release_buffers(conn);
		amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
		if (r.reply_type != AMQP_RESPONSE_NORMAL) {
			fprintf(stderr, "amqp-rate: consume: %ld of %ld received, then %s\n", got, count,
				r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ?
					amqp_error_string2(r.library_error) : "a broker exception");
			return -1;
		}
		got++;
		if (got % batch == 0 || got == count)
			amqp_basic_ack(conn, CHANNEL, env.delivery_tag, 1);
		amqp_destroy_envelope(&env);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: amqp-rate HOST PORT USER COUNT BATCH (password in $AMQP_PASSWORD)\n");
		return 2;
	}
	const char *host = argv[1], *user = argv[3], *pass = getenv("AMQP_PASSWORD");
	int port = (int)bench_arg_long("amqp-rate", argv[2], "port", 1, 65535);
	long count = bench_arg_long("amqp-rate", argv[4], "count", 1, 100000000);
	long batch = bench_arg_long("amqp-rate", argv[5], "batch", 1, 65535);
	char qname[64];
	snprintf(qname, sizeof(qname), "bench.amqp-rate.%ld", (long)getpid());
	amqp_bytes_t queue = amqp_cstring_bytes(qname);

	amqp_connection_state_t conn = amqp_new_connection();
	amqp_socket_t *sock = conn ? amqp_tcp_socket_new(conn) : NULL;
	if (!sock) {
		fprintf(stderr, "amqp-rate: out of memory\n");
		return 1;
	}
	int st = amqp_socket_open(sock, host, port);
	if (st != AMQP_STATUS_OK) {
		fprintf(stderr, "amqp-rate: cannot connect to %s:%d: %s\n", host, port, amqp_error_string2(st));
		amqp_destroy_connection(conn);
		return 1;
	}
	int rc = 1;
	const char *e = NULL;
	amqp_rpc_reply_t lr = amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, pass ? pass : "");
	if (lr.reply_type != AMQP_RESPONSE_NORMAL) {
		fprintf(stderr, "amqp-rate: login as '%s' failed\n", user);
		goto out;
	}
	amqp_channel_open(conn, CHANNEL);
	if ((e = rpc_error(conn)))
		goto fail;
	amqp_confirm_select(conn, CHANNEL);
	if ((e = rpc_error(conn)))
		goto fail;
	amqp_table_entry_t qargs[] = { { .key = amqp_cstring_bytes("x-queue-type"),
					 .value = { .kind = AMQP_FIELD_KIND_UTF8,
						    .value.bytes = amqp_cstring_bytes("quorum") } } };
	amqp_queue_declare(conn, CHANNEL, queue, 0, 1, 0, 0, (amqp_table_t){ .num_entries = 1, .entries = qargs });
	if ((e = rpc_error(conn)))
		goto fail;

	double t0 = now_s();
	if (publish_all(conn, queue, count, batch) < 0)
		goto drop;
	double t1 = now_s();
	if (consume_all(conn, queue, count, batch) < 0)
		goto drop;
	double t2 = now_s();
	printf("amqp_publish_per_s %.0f\n", (double)count / (t1 - t0));
	printf("amqp_consume_per_s %.0f\n", (double)count / (t2 - t1));
	rc = 0;
drop:
	/* a fresh channel: the consumer's may hold unacked messages, and a failure may have closed it */
	amqp_channel_close(conn, CHANNEL, AMQP_REPLY_SUCCESS);
	amqp_channel_open(conn, CHANNEL + 1);
	if (!rpc_error(conn))
		amqp_queue_delete(conn, CHANNEL + 1, queue, 0, 0);
	if ((e = rpc_error(conn)))
		fprintf(stderr, "amqp-rate: cannot delete queue '%s': %s\n", qname, e);
	goto out;
fail:
	fprintf(stderr, "amqp-rate: %s\n", e);
out:
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	return rc;
}
