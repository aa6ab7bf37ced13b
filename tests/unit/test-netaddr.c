/* Addresses, CIDR lists and the X-Forwarded-For walk (shared/netaddr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "netaddr.h"

static struct netaddr addr(const char *s)
{
	struct netaddr a;
	if (netaddr_parse(s, strlen(s), &a) < 0)
		fail_msg("'%s' does not parse", s);
	return a;
}

static void expect_format(const char *in, const char *want)
{
	char out[NETADDR_STRLEN];
	struct netaddr a = addr(in);
	netaddr_format(&a, out);
	assert_string_equal(out, want);
}

static void test_parse_format(void **state)
{
	(void)state;
	struct netaddr a;
	expect_format("127.0.0.2", "127.0.0.2");
	expect_format("::ffff:10.1.2.3", "10.1.2.3");
	expect_format("2001:DB8:0:0:0:0:0:1", "2001:db8::1");
	expect_format("::1", "::1");
	const char *bad[] = { "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4x", "1.2.3.4 ", "::g", "example.com",
			      "[::1]", "1.2.3.4:80", "1111:2222:3333:4444:5555:6666:7777:8888:9999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (netaddr_parse(bad[i], strlen(bad[i]), &a) == 0)
			fail_msg("'%s' parsed", bad[i]);
	/* the length counts, not a NUL */
	assert_int_equal(netaddr_parse("10.0.0.1, 10.0.0.2", 8, &a), 0);
	expect_format("10.0.0.1", "10.0.0.1");
}

static void test_sockaddr(void **state)
{
	(void)state;
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr un = { .sa_family = AF_UNIX };
	struct netaddr a, b = addr("192.0.2.7");
	inet_pton(AF_INET, "192.0.2.7", &in.sin_addr);
	assert_int_equal(netaddr_from_sockaddr((struct sockaddr *)&in, &a), 0);
	assert_true(netaddr_equal(&a, &b));
	/* a dual-stack listener's IPv4 peer is the same address */
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &in6.sin6_addr);
	assert_int_equal(netaddr_from_sockaddr((struct sockaddr *)&in6, &a), 0);
	assert_true(netaddr_equal(&a, &b));
	assert_int_equal(netaddr_from_sockaddr(&un, &a), -1);
	assert_int_equal(netaddr_from_sockaddr(NULL, &a), -1);
}

static void test_list(void **state)
{
	(void)state;
	struct netaddr_list l = { NULL, 0 };
	struct buf why = BUF_INIT;
	assert_int_equal(netaddr_list_parse("10.0.0.0/8, 192.168.1.7\tfd00::/8,,2001:db8::/127", &l, &why), 0);
	assert_int_equal(l.n, 4);
	struct netaddr a;
	const char *in[] = { "10.0.0.0", "10.255.255.255", "192.168.1.7", "fd12::1", "2001:db8::1" };
	const char *out[] = { "11.0.0.0", "9.255.255.255", "192.168.1.8", "fe00::", "2001:db8::2", "::ffff:0:0" };
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		assert_true(netaddr_list_match(&l, (a = addr(in[i]), &a)));
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		assert_false(netaddr_list_match(&l, (a = addr(out[i]), &a)));
	assert_int_equal(netaddr_list_parse("", &l, &why), 0);
	assert_int_equal(l.n, 0);
	assert_false(netaddr_list_match(&l, (a = addr("10.0.0.1"), &a)));
	assert_int_equal(netaddr_list_parse("0.0.0.0/0", &l, &why), 0);
	assert_true(netaddr_list_match(&l, (a = addr("203.0.113.9"), &a)));
	assert_false(netaddr_list_match(&l, (a = addr("2001:db8::1"), &a)));
	assert_int_equal(netaddr_list_parse("10.0.0.0/8", NULL, &why), 0);
	netaddr_list_free(&l);
	buf_release(&why);
}

static void expect_list_error(const char *text, const char *want)
{
	struct netaddr_list l = { NULL, 0 };
	struct buf why = BUF_INIT;
	if (netaddr_list_parse(text, &l, &why) == 0)
		fail_msg("'%s' accepted", text);
	if (!strstr(buf_str(&why), want))
		fail_msg("'%s': message '%s' lacks '%s'", text, buf_str(&why), want);
	netaddr_list_free(&l);
	buf_release(&why);
}

static void test_list_errors(void **state)
{
	(void)state;
	expect_list_error("10.0.0.0/8, lb.example", "'lb.example' is not an IP address or ADDRESS/BITS");
	expect_list_error("10.0.0.0/33", "'10.0.0.0/33': the prefix length must be a number from 0 to 32");
	expect_list_error("fd00::/129", "from 0 to 128");
	expect_list_error("10.0.0.0/", "prefix length");
	expect_list_error("10.0.0.0/8x", "prefix length");
	expect_list_error("10.1.2.3/8", "'10.1.2.3/8' has bits set past its /8 prefix (the network is 10.0.0.0/8)");
	expect_list_error("fd00::1/8", "(the network is fd00::/8)");
}

static void expect_client(const char *trusted, const char *peer, const char *xff, const char *want)
{
	struct netaddr_list l = { NULL, 0 };
	struct buf why = BUF_INIT;
	assert_int_equal(netaddr_list_parse(trusted, &l, &why), 0);
	struct netaddr p = addr(peer), c;
	char out[NETADDR_STRLEN];
	netaddr_forwarded_client(&l, &p, xff, &c);
	netaddr_format(&c, out);
	if (strcmp(out, want))
		fail_msg("trusted '%s', peer %s, X-Forwarded-For '%s': client %s, expected %s", trusted, peer,
			 xff ? xff : "(none)", out, want);
	netaddr_list_free(&l);
	buf_release(&why);
}

static void test_forwarded(void **state)
{
	(void)state;
	/* an untrusted peer's header is ignored */
	expect_client("", "127.0.0.2", "198.51.100.1", "127.0.0.2");
	expect_client("10.0.0.0/8", "127.0.0.2", "198.51.100.1", "127.0.0.2");
	/* a trusted one's is honoured: the rightmost address not a trusted proxy */
	expect_client("10.0.0.0/8", "10.0.0.5", "198.51.100.1", "198.51.100.1");
	expect_client("10.0.0.0/8", "10.0.0.5", "203.0.113.66, 198.51.100.1", "198.51.100.1");
	expect_client("10.0.0.0/8", "10.0.0.5", "203.0.113.66,198.51.100.1 , 10.0.0.9", "198.51.100.1");
	/* every hop trusted: the leftmost */
	expect_client("10.0.0.0/8", "10.0.0.5", "10.1.1.1, 10.0.0.9", "10.1.1.1");
	/* no header: the peer; garbage stops the walk at the last address seen */
	expect_client("10.0.0.0/8", "10.0.0.5", NULL, "10.0.0.5");
	expect_client("10.0.0.0/8", "10.0.0.5", "", "10.0.0.5");
	expect_client("10.0.0.0/8", "10.0.0.5", "unknown", "10.0.0.5");
	expect_client("10.0.0.0/8", "10.0.0.5", "198.51.100.1, 10.0.0.9, bogus, 10.0.0.8", "10.0.0.8");
	expect_client("::1, 10.0.0.0/8", "::1", "2001:db8::7", "2001:db8::7");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_sockaddr),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_list_errors),
		cmocka_unit_test(test_forwarded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
