/*
 * netaddr — IP addresses, lists of networks (CIDR), and the client address of a
 * request that came through proxies (X-Forwarded-For).
 *
 * An address is held in 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so
 * that a dual-stack listener's peers and plain IPv4 peers compare equal. A
 * network is an address and a prefix length in that form (an IPv4 /8 is /104).
 * Everything here is pure: no allocation but the list's array, no I/O.
 */
#ifndef SPOOL_NETADDR_H
#define SPOOL_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "buf.h"

/* Longest text netaddr_format() writes, with its NUL (an IPv6 address). */
#define NETADDR_STRLEN 46

struct netaddr {
	unsigned char b[16];
};

struct netaddr_net {
	struct netaddr addr;  /* bits past `bits` are zero */
	unsigned bits;        /* 0..128, counted in the IPv6 form */
};

/* Networks; `v` is owned by the list (netaddr_list_free). */
struct netaddr_list {
	struct netaddr_net *v;
	size_t n;
};

/* The `len` bytes at `s`, an IPv4 or IPv6 address literal, into *out: 0, or -1. */
int netaddr_parse(const char *s, size_t len, struct netaddr *out);
/* An AF_INET or AF_INET6 socket address into *out: 0, or -1 for other families. */
int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out);
/* The address as text: dotted quad for IPv4 (mapped or not), RFC 5952 for IPv6. */
void netaddr_format(const struct netaddr *a, char out[NETADDR_STRLEN]);
int netaddr_equal(const struct netaddr *a, const struct netaddr *b);

/*
 * Parse a list of networks separated by commas and/or blanks: each an address
 * (one host) or ADDRESS/BITS, e.g. "10.0.0.0/8, 192.168.1.7, fd00::/8". Empty
 * text is the empty list. 0, or -1 with the reason (naming the item) appended to
 * `why`. With `out` NULL the text is only checked; otherwise *out is replaced
 * (free it with netaddr_list_free, also after an error).
 */
int netaddr_list_parse(const char *text, struct netaddr_list *out, struct buf *why);
void netaddr_list_free(struct netaddr_list *l);
/* 1 if `a` is in one of the list's networks. */
int netaddr_list_match(const struct netaddr_list *l, const struct netaddr *a);

/*
 * The client of a request from `peer` that carried X-Forwarded-For `xff` (the
 * values of every such header joined with commas, in order; NULL when none):
 * `peer` itself unless it is in `trusted`; otherwise the rightmost address of
 * `xff` that is not in `trusted` (each trusted proxy appends the address it got
 * the request from), or the leftmost when all are. The walk stops at an item
 * that is not an address, and at the 64th: the client is then the last address
 * seen, so that what a client writes itself is never taken for another's.
 */
void netaddr_forwarded_client(const struct netaddr_list *trusted, const struct netaddr *peer,
			      const char *xff, struct netaddr *client);

#endif
