/*
 * webhook — signature, signing key and URL policy of job webhooks. See webhook.h.
 */
#include "webhook.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void hmac256(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
{
	unsigned int olen = 32;
	HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen);
}

void webhook_tenant_key(const char *pepper, size_t pepper_len, const char *tenant,
			unsigned char key[WEBHOOK_KEY_LEN])
{
	struct buf msg = BUF_INIT;
	buf_adds(&msg, "webhook:");
	buf_adds(&msg, tenant);
	hmac256(pepper, pepper_len, msg.data, msg.len, key);
	buf_release(&msg);
}

void webhook_sign(const unsigned char *key, size_t key_len, time_t t, const char *body, size_t len,
		  struct buf *out)
{
	struct buf msg = BUF_INIT;
	unsigned char mac[32];
	buf_printf(&msg, "%lld.", (long long)t);
	buf_add(&msg, body, len);
	hmac256(key, key_len, msg.data, msg.len, mac);
	buf_printf(out, "t=%lld,v1=", (long long)t);
	for (int i = 0; i < 32; i++)
		buf_printf(out, "%02x", mac[i]);
	buf_release(&msg);
}

bool webhook_host_allowed(const char *host, const char *allow)
{
	size_t n = strlen(host);
	for (const char *p = allow; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t k = strcspn(p, ", ");
		if (k == n && k > 0 && !strncasecmp(p, host, n))
			return true;
		p += k;
	}
	return false;
}

/* 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0/16, 192.88.99/24,
 * 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 224/3 (multicast, reserved,
 * broadcast) */
static bool ipv4_private(uint32_t a)
{
	uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16), b2 = (uint8_t)(a >> 8);
	return b0 == 0 || b0 == 10 || b0 == 127 || (b0 == 169 && b1 == 254) || (b0 == 172 && (b1 & 0xf0) == 16) ||
	       (b0 == 192 && b1 == 168) || (b0 == 100 && (b1 & 0xc0) == 64) || (b0 == 192 && b1 == 0) ||
	       (b0 == 192 && b1 == 88 && b2 == 99) || (b0 == 198 && (b1 & 0xfe) == 18) ||
	       (b0 == 198 && b1 == 51 && b2 == 100) || (b0 == 203 && b1 == 0 && b2 == 113) || b0 >= 224;
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/*
 * Public IPv6 is global unicast (2000::/3) outside its special ranges, or an
 * IPv4 address carried in IPv6 that is public itself. Everything else in ::/8
 * (unspecified, loopback, IPv4-compatible, SIIT, 64:ff9b:1::/48) is not.
 */
static bool ipv6_private(const uint8_t *b)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
	if (!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12))
		return ipv4_private(be32(b + 12));
	if ((b[0] & 0xe0) != 0x20)
		return true;                                            /* outside 2000::/3 */
	if (b[0] == 0x20 && b[1] == 0x02)
		return ipv4_private(be32(b + 2));                    /* 6to4 */
	return (b[0] == 0x20 && b[1] == 0x01 && (b[2] & 0xfe) == 0) || /* 2001::/23: Teredo, ORCHID, ... */
	       (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) || /* documentation */
	       (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0);        /* 3fff::/20, documentation */
}

bool webhook_addr_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ipv4_private(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return ipv6_private(((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
	return 1;
}

bool webhook_addr_permitted(const struct sockaddr *sa, const char *host, const char *allow)
{
	return webhook_host_allowed(host, allow) || !webhook_addr_private(sa);
}

/* A literal address or localhost that is not public; names are checked after resolution. */
static bool host_literal_private(const char *host)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	size_t n = strlen(host);
	if (!strcasecmp(host, "localhost") || (n > 10 && !strcasecmp(host + n - 10, ".localhost")))
		return true;
	if (inet_pton(AF_INET, host, &v4.sin_addr) == 1)
		return webhook_addr_private((struct sockaddr *)&v4);
	if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1)
		return webhook_addr_private((struct sockaddr *)&v6);
	/* inet_aton forms (decimal "2130706433", octal "0177.0.0.1") that resolvers accept */
	struct in_addr odd;
	if (inet_aton(host, &odd) == 1) {
		v4.sin_addr = odd;
		return webhook_addr_private((struct sockaddr *)&v4);
	}
	return false;
}

static int bad(struct buf *why, const char *msg)
{
	if (why)
		buf_adds(why, msg);
	return -1;
}

/*
 * Copy the host (`len` bytes at `p`, inside brackets when `bracketed`) into
 * u->host in its normal form: lower case, one trailing dot dropped; a name of
 * non-empty labels of [a-z0-9_-], an IPv4 address (also the inet_aton forms,
 * which are names of that alphabet too) or, in brackets, an IPv6 address.
 */
static int host_take(const char *p, size_t len, bool bracketed, struct webhook_url *u, struct buf *why)
{
	if (len == 0 || len >= sizeof(u->host))
		return bad(why, "must name a host");
	for (size_t i = 0; i < len; i++)
		u->host[i] = (char)tolower((unsigned char)p[i]);
	u->host[len] = '\0';
	if (bracketed) {
		struct in6_addr a6;
		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			return bad(why, "has a malformed IPv6 address");
		u->ipv6 = true;
		return 0;
	}
	if (u->host[len - 1] == '.')
		u->host[--len] = '\0'; /* "localhost." is localhost */
	if (len == 0)
		return bad(why, "must name a host");
	if (strspn(u->host, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != len)
		return bad(why, "has a malformed host (letters, digits, '-', '_' and dots only)");
	for (const char *label = u->host;;) {
		size_t n = strcspn(label, ".");
		if (n == 0 || n > 63)
			return bad(why, "has a malformed host (an empty or over-long label)");
		if (!label[n])
			break;
		label += n + 1;
	}
	return 0;
}

int webhook_url_check(const char *url, const char *allow, struct webhook_url *out, struct buf *why)
{
	struct webhook_url u;
	memset(&u, 0, sizeof(u));
	size_t len = strlen(url);
	if (len > WEBHOOK_URL_MAX)
		return bad(why, "must be at most 2048 characters");
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return bad(why, "must not contain spaces, control or non-ASCII characters");
	if (!strncasecmp(url, "https://", 8))
		u.https = true;
	else if (strncasecmp(url, "http://", 7))
		return bad(why, "must be an https:// URL");
	const char *auth = url + (u.https ? 8 : 7);
	size_t alen = strcspn(auth, "/?#");
	if (memchr(auth, '@', alen))
		return bad(why, "must carry no user information");
	const char *hp = auth, *port = NULL;
	size_t hlen;
	if (*hp == '[') {
		const char *close = memchr(hp, ']', alen);
		if (!close)
			return bad(why, "has an unterminated IPv6 address");
		hp++;
		hlen = (size_t)(close - hp);
		if (close + 1 < auth + alen) {
			if (close[1] != ':')
				return bad(why, "has a malformed host");
			port = close + 2;
		}
	} else {
		const char *colon = memchr(hp, ':', alen);
		hlen = colon ? (size_t)(colon - hp) : alen;
		if (colon)
			port = colon + 1;
	}
	if (host_take(hp, hlen, hp != auth, &u, why) < 0)
		return -1;
	u.port = u.https ? 443 : 80;
	if (port) {
		size_t plen = (size_t)(auth + alen - port);
		char digits[8];
		if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen)
			return bad(why, "has a malformed port");
		memcpy(digits, port, plen);
		digits[plen] = '\0';
		u.port = atoi(digits);
		if (u.port < 1 || u.port > 65535)
			return bad(why, "has a port out of range");
	}
	bool allowed = webhook_host_allowed(u.host, allow);
	if (!u.https && !allowed)
		return bad(why, "must be https (http only to hosts in api.webhook_allow_hosts)");
	if (!allowed && host_literal_private(u.host))
		return bad(why, "must not point to a private, loopback or link-local address");
	snprintf(u.url, sizeof(u.url), u.ipv6 ? "%s://[%s]:%d%s" : "%s://%s:%d%s", u.https ? "https" : "http",
		 u.host, u.port, auth + alen);
	if (out)
		*out = u;
	return 0;
}
