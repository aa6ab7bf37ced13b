#include "netaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define FORWARDED_MAX 64

static const unsigned char v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static int is_v4(const struct netaddr *a)
{
	return memcmp(a->b, v4_prefix, sizeof(v4_prefix)) == 0;
}

int netaddr_parse(const char *s, size_t len, struct netaddr *out)
{
	char text[NETADDR_STRLEN];
	if (len == 0 || len >= sizeof(text))
		return -1;
	memcpy(text, s, len);
	text[len] = '\0';
	if (memchr(text, ':', len))
		return inet_pton(AF_INET6, text, out->b) == 1 ? 0 : -1;
	memcpy(out->b, v4_prefix, sizeof(v4_prefix));
	return inet_pton(AF_INET, text, out->b + 12) == 1 ? 0 : -1;
}

int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out)
{
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		memcpy(out->b, v4_prefix, sizeof(v4_prefix));
		memcpy(out->b + 12, &in->sin_addr, 4);
		return 0;
	}
	if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		memcpy(out->b, &in6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

void netaddr_format(const struct netaddr *a, char out[NETADDR_STRLEN])
{
	const char *ok = is_v4(a) ? inet_ntop(AF_INET, a->b + 12, out, NETADDR_STRLEN)
				  : inet_ntop(AF_INET6, a->b, out, NETADDR_STRLEN);
	if (!ok)
		out[0] = '\0';
}

int netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

/* Does `a` agree with `net` in the first `net->bits` bits? */
static int net_contains(const struct netaddr_net *net, const struct netaddr *a)
{
	unsigned full = net->bits / 8, rest = net->bits % 8;
	if (memcmp(net->addr.b, a->b, full) != 0)
		return 0;
	if (!rest)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (net->addr.b[full] & mask) == (a->b[full] & mask);
}

/* One item of a list, `len` bytes at `s`, into *net; -1 with the reason in `why`. */
static int net_parse(const char *s, size_t len, struct netaddr_net *net, struct buf *why)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	if (netaddr_parse(s, alen, &net->addr) < 0) {
		buf_printf(why, "'%.*s' is not an IP address or ADDRESS/BITS", (int)len, s);
		return -1;
	}
	int v6 = memchr(s, ':', alen) != NULL;
	unsigned max = v6 ? 128 : 32, bits = max;
	if (slash) {
		const char *p = slash + 1, *end = s + len;
		if (p == end || end - p > 3) {
			bits = 999;
		} else {
			bits = 0;
			for (; p < end; p++)
				bits = isdigit((unsigned char)*p) ? bits * 10 + (unsigned)(*p - '0') : 999;
		}
		if (bits > max) {
			buf_printf(why, "'%.*s': the prefix length must be a number from 0 to %u", (int)len, s, max);
			return -1;
		}
	}
	net->bits = v6 ? bits : bits + 96;
	struct netaddr_net masked = { .bits = net->bits };
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = net->bits >= (i + 1) * 8 ? 8 : net->bits > i * 8 ? net->bits - i * 8 : 0;
		masked.addr.b[i] = (unsigned char)(net->addr.b[i] & (0xff00 >> keep));
	}
	if (!netaddr_equal(&masked.addr, &net->addr)) {
		char t[NETADDR_STRLEN];
		netaddr_format(&masked.addr, t);
		buf_printf(why, "'%.*s' has bits set past its /%u prefix (the network is %s/%u)", (int)len, s, bits, t,
			   bits);
		return -1;
	}
	return 0;
}

int netaddr_list_parse(const char *text, struct netaddr_list *out, struct buf *why)
{
	struct netaddr_list l = { NULL, 0 };
	const char *p = text ? text : "";
	int rc = 0;
	while (rc == 0) {
		p += strspn(p, ", \t");
		size_t len = strcspn(p, ", \t");
		if (!len)
			break;
		struct netaddr_net net;
		rc = net_parse(p, len, &net, why);
		if (rc == 0 && out) {
			l.v = xrealloc(l.v, (l.n + 1) * sizeof(*l.v));
			l.v[l.n++] = net;
		}
		p += len;
	}
	if (out) {
		netaddr_list_free(out);
		*out = l;
	}
	return rc;
}

void netaddr_list_free(struct netaddr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int netaddr_list_match(const struct netaddr_list *l, const struct netaddr *a)
{
	for (size_t i = 0; i < l->n; i++)
		if (net_contains(&l->v[i], a))
			return 1;
	return 0;
}

void netaddr_forwarded_client(const struct netaddr_list *trusted, const struct netaddr *peer,
			      const char *xff, struct netaddr *client)
{
	*client = *peer;
	if (!xff || !netaddr_list_match(trusted, peer))
		return;
	const char *end = xff + strlen(xff);
	for (int items = 0; end > xff && items < FORWARDED_MAX; items++) {
		const char *start = end;
		while (start > xff && start[-1] != ',')
			start--;
		const char *s = start, *e = end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		struct netaddr a;
		if (netaddr_parse(s, (size_t)(e - s), &a) < 0)
			return;
		*client = a;
		if (!netaddr_list_match(trusted, &a))
			return;
		end = start > xff ? start - 1 : xff;
	}
}
