/*
 * webhook — signature, signing key and URL policy of job webhooks. See webhook.h.
 */
#include "webhook.h"

#include <arpa/inet.h>
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

int webhook_host_allowed(const char *host, const char *allow)
{
	size_t n = strlen(host);
	for (const char *p = allow; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t k = strcspn(p, ", ");
		if (k == n && k > 0 && !strncasecmp(p, host, n))
			return 1;
		p += k;
	}
	return 0;
}

static int ipv4_private(uint32_t a)
{
	uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
	return b0 == 0 || b0 == 10 || b0 == 127 || (b0 == 169 && b1 == 254) || (b0 == 172 && (b1 & 0xf0) == 16) ||
	       (b0 == 192 && b1 == 168) || (b0 == 100 && (b1 & 0xc0) == 64) || (b0 == 192 && b1 == 0) ||
	       (b0 == 198 && (b1 & 0xfe) == 18) || b0 >= 224;
}

int webhook_addr_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ipv4_private(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
	if (sa->sa_family != AF_INET6)
		return 1;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	const uint8_t *b = a->s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a)) {
		uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
		return ipv4_private(v4);
	}
	return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
	       IN6_IS_ADDR_SITELOCAL(a) || IN6_IS_ADDR_MULTICAST(a) || (b[0] & 0xfe) == 0xfc ||
	       (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) || (b[0] == 0x00 && b[1] == 0x64);
}

/* A literal address or localhost that is not public; names are checked after resolution. */
static int host_literal_private(const char *host)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	size_t n = strlen(host);
	if (!strcasecmp(host, "localhost") || (n > 10 && !strcasecmp(host + n - 10, ".localhost")))
		return 1;
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
	return 0;
}

static int bad(struct buf *why, const char *msg)
{
	if (why)
		buf_adds(why, msg);
	return -1;
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
		u.https = 1;
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
	if (hlen == 0 || hlen >= sizeof(u.host))
		return bad(why, "must name a host");
	memcpy(u.host, hp, hlen);
	u.host[hlen] = '\0';
	while (hlen > 1 && u.host[hlen - 1] == '.')
		u.host[--hlen] = '\0'; /* "localhost." is localhost */
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
	int allowed = webhook_host_allowed(u.host, allow);
	if (!u.https && !allowed)
		return bad(why, "must be https (http only to hosts in api.webhook_allow_hosts)");
	if (!allowed && host_literal_private(u.host))
		return bad(why, "must not point to a private, loopback or link-local address");
	if (out)
		*out = u;
	return 0;
}
