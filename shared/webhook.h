/*
 * webhook — the pure parts of job webhooks (spool-api(8), the README's "The
 * REST API"): the signature, the per-tenant signing key and the URL policy. No I/O: the API's webhooks.c
 * resolves, connects and records; these functions only decide.
 *
 * Signature: header `X-Spool-Signature: t=<unix seconds>,v1=<hex>` where hex is
 * HMAC-SHA256(key, "<t>.<body>") and key is the tenant's webhook secret,
 * HMAC-SHA256(pepper, "webhook:" + tenant) (32 bytes, shared with the tenant as
 * 64 lower-case hex characters).
 *
 * URL policy: http or https, at most WEBHOOK_URL_MAX characters, a host, no user
 * information, no spaces or control characters; http only to hosts in the allow
 * list; literal private, loopback, link-local (and "localhost") targets only to
 * allowed hosts. The host is normalised (lower case, one trailing dot dropped)
 * and must be a DNS name of letters, digits, '-' and '_' in non-empty labels, an
 * IPv4 address or a bracketed IPv6 address (no zone, no percent-encoding), so
 * that the name the caller resolves and pins is the very name its HTTP client
 * looks up in the normalised URL (webhook_url.url).
 *
 * Address policy, the one check of every address a delivery may connect to
 * (after resolution and again at connect time): webhook_addr_permitted().
 */
#ifndef SPOOL_WEBHOOK_H
#define SPOOL_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#include "buf.h"

#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_KEY_LEN 32

/*
 * A parsed callback URL: host normalised, without brackets; port defaulted from
 * the scheme; url rebuilt from them ("scheme://host:port/rest", the host in
 * brackets when IPv6) for the HTTP client, so that it names the checked host.
 */
struct webhook_url {
	bool https;
	bool ipv6;          /* host is an IPv6 literal */
	char host[256];
	int port;
	char url[WEBHOOK_URL_MAX + 16];
};

/* The tenant's signing key: HMAC-SHA256(pepper, "webhook:" + tenant). */
void webhook_tenant_key(const char *pepper, size_t pepper_len, const char *tenant,
			unsigned char key[WEBHOOK_KEY_LEN]);

/* Append "t=<t>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>" to `out`. */
void webhook_sign(const unsigned char *key, size_t key_len, time_t t, const char *body, size_t len,
		  struct buf *out);

/* Is `host` in the comma- (or space-) separated `allow` list (case-insensitive)? NULL = none. */
bool webhook_host_allowed(const char *host, const char *allow);

/*
 * Check `url` against the policy with the allow list `allow` (may be NULL) and
 * fill `out` (may be NULL). 0 when acceptable; -1 with the reason in `why`
 * (phrased to follow "field 'callback_url' ").
 */
int webhook_url_check(const char *url, const char *allow, struct webhook_url *out, struct buf *why);

/*
 * true if the address is not a public unicast one: loopback, private (RFC 1918,
 * fc00::/7), link-local, shared (100.64/10), unspecified, multicast, broadcast,
 * documentation/benchmarking/reserved ranges, IPv6 outside 2000::/3, and the
 * IPv4-in-IPv6 forms (::ffff:a.b.c.d, 64:ff9b::a.b.c.d, 2002:AABB:CCDD::/48)
 * of a private IPv4 address; any family but AF_INET and AF_INET6.
 */
bool webhook_addr_private(const struct sockaddr *sa);

/*
 * May a delivery to `host` (normalised, as in struct webhook_url) connect to
 * `sa`? true when the host is in the allow list `allow` or the address is public
 * (not webhook_addr_private).
 */
bool webhook_addr_permitted(const struct sockaddr *sa, const char *host, const char *allow);

#endif
