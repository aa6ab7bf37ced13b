/* listener — a small plain-HTTP listener for one operational endpoint (listener.h). */
#include "listener.h"
#include "config.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

struct MHD_Daemon *listener_start(const char *key, const char *addr, MHD_AccessHandlerCallback handler, void *cls,
				  unsigned connections, unsigned timeout_s, struct buf *err)
{
	struct buf host = BUF_INIT;
	struct addrinfo hints, *ai = NULL;
	int64_t port;
	char pstr[16];

	if (config_parse_hostport(addr, &host, &port, err) < 0) {
		buf_release(&host);
		return NULL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(pstr, sizeof(pstr), "%lld", (long long)port);
	int rc = getaddrinfo(buf_str(&host), pstr, &hints, &ai);
	buf_release(&host);
	if (rc != 0) {
		buf_printf(err, "%s: cannot resolve '%s': %s", key, addr, gai_strerror(rc));
		return NULL;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, cls,
						MHD_OPTION_SOCK_ADDR, ai->ai_addr,
						MHD_OPTION_CONNECTION_LIMIT, connections,
						MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
						MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
						MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
						MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!d)
		buf_printf(err, "%s: cannot listen on '%s' (address in use or not permitted?)", key, addr);
	return d;
}
