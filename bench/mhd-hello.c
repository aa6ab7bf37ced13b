/*
 * mhd-hello — libmicrohttpd's ceiling on this machine for make bench (scripts/bench.sh):
 * a bare daemon in spool-api's threading mode (daemons/api/server.c: an internal
 * polling thread with epoll, a pool of THREADS threads) answering every request with
 * a small JSON body, as GET /health does, until SIGTERM or SIGINT.
 *
 *   mhd-hello PORT THREADS
 */
#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* not const: MHD_create_response_from_buffer takes void *, and never writes it */
static char body[] = "{\"status\":\"ok\"}\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	(void)url, (void)method, (void)version, (void)upload_data;
	struct MHD_Response *resp = cls;
	/* the first call only announces the request; a body, if any, is dropped */
	if (!*req_cls) {
		*req_cls = resp;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	return MHD_queue_response(conn, MHD_HTTP_OK, resp);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mhd-hello PORT THREADS\n");
		return 2;
	}
	uint16_t port = (uint16_t)bench_arg_long("mhd-hello", argv[1], "port", 1, 65535);
	unsigned threads = (unsigned)bench_arg_long("mhd-hello", argv[2], "threads", 1, 256);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(sizeof(body) - 1, body, MHD_RESPMEM_PERSISTENT);
	if (!resp || MHD_add_response_header(resp, "Content-Type", "application/json") != MHD_YES) {
		fprintf(stderr, "mhd-hello: cannot make the response\n");
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG, port,
		NULL, NULL, on_request, resp,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_LIMIT, 4096u,
		MHD_OPTION_CONNECTION_TIMEOUT, 30u,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "mhd-hello: cannot listen on port %u\n", (unsigned)port);
		MHD_destroy_response(resp);
		return 1;
	}
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	MHD_destroy_response(resp);
	return 0;
}
