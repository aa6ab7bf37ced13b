/*
 * listener — a small plain-HTTP listener of its own on HOST:PORT for one
 * operational endpoint (spool-api's GET /metrics, spool-worker's GET /health):
 * libmicrohttpd with one internal thread, few connections, a short timeout and
 * 16 KiB of memory per connection, so that it stays cheap whoever connects.
 *
 * The thread inherits the caller's signal mask: block the daemon's signals
 * around listener_start(). The daemon is the caller's: stop it with
 * MHD_stop_daemon().
 */
#ifndef SPOOL_LISTENER_H
#define SPOOL_LISTENER_H

#include <microhttpd.h>

#include "buf.h"

/*
 * Listen on `addr` ("HOST:PORT" or "[IPv6]:PORT", the value of config key
 * `key`, e.g. "api: metrics_listen" for the messages) and answer with `handler`
 * (its cls `cls`); at most `connections` at once, each closed after `timeout_s`
 * idle. The daemon, or NULL with err naming the key and the address.
 */
struct MHD_Daemon *listener_start(const char *key, const char *addr, MHD_AccessHandlerCallback handler, void *cls,
				  unsigned connections, unsigned timeout_s, struct buf *err);

#endif
