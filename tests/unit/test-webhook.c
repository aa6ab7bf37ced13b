/* Unit tests for webhook: signing key, signature, URL policy, private addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "buf.h"
#include "webhook.h"

static void test_sign(void **state)
{
	(void)state;
	unsigned char key[WEBHOOK_KEY_LEN];
	char hex[65];
	webhook_tenant_key("pepper", 6, "acme", key);
	for (int i = 0; i < WEBHOOK_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	/* python3: hmac.new(b'pepper', b'webhook:acme', hashlib.sha256).hexdigest() */
	assert_string_equal(hex, "402eea25ed162a7982046bf31888930f15bce1c92e7f8355882c6c1d12bdf406");
	struct buf sig = BUF_INIT;
	const char *body = "{\"a\":1}";
	webhook_sign(key, sizeof(key), 1700000000, body, strlen(body), &sig);
	assert_string_equal(buf_str(&sig),
			    "t=1700000000,v1=5bf86b7294dc9afd8a84dcf58bafbd6e43d1ef1a4fda2af249d8ec75d2b3ba65");
	buf_release(&sig);
}

/* 0 if accepted, else -1; the reason is checked to be non-empty. */
static int check(const char *url, const char *allow, struct webhook_url *u)
{
	struct buf why = BUF_INIT;
	int rc = webhook_url_check(url, allow, u, &why);
	if (rc < 0)
		assert_true(why.len > 0);
	buf_release(&why);
	return rc;
}

static void test_url_policy(void **state)
{
	(void)state;
	struct webhook_url u;
	assert_int_equal(check("https://hooks.example.com/x?y=1", NULL, &u), 0);
	assert_string_equal(u.host, "hooks.example.com");
	assert_int_equal(u.port, 443);
	assert_int_equal(check("https://[2001:4860::1]:8443/", NULL, &u), 0);
	assert_string_equal(u.host, "2001:4860::1");
	assert_int_equal(u.port, 8443);
	assert_int_equal(check("http://example.com/", NULL, NULL), -1);           /* http not allowed */
	assert_int_equal(check("http://example.com:8080/", "a, example.com", &u), 0);
	assert_int_equal(u.port, 8080);
	assert_int_equal(check("ftp://example.com/", NULL, NULL), -1);
	assert_int_equal(check("https://u:p@example.com/", NULL, NULL), -1);
	assert_int_equal(check("https://example.com/a b", NULL, NULL), -1);
	assert_int_equal(check("https:///x", NULL, NULL), -1);
	assert_int_equal(check("https://example.com:99999/", NULL, NULL), -1);
	assert_int_equal(check("https://example.com:/", NULL, NULL), -1);
	assert_int_equal(check("https://[::1/", NULL, NULL), -1);
	/* private literals and localhost, unless allowed */
	const char *priv[] = { "https://127.0.0.1/", "https://10.1.2.3/", "https://172.16.0.1/", "https://172.31.9.9/",
			       "https://192.168.1.1/", "https://169.254.169.254/", "https://0.0.0.0/",
			       "https://100.64.0.1/", "https://[::1]/", "https://[fe80::1]/", "https://[fd00::1]/",
			       "https://[::ffff:127.0.0.1]/", "https://localhost/", "https://LOCALHOST./",
			       "https://a.localhost/", "https://2130706433/", "https://0177.0.0.1/", "https://0x7f.1/" };
	for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
		assert_int_equal(check(priv[i], NULL, NULL), -1);
	assert_int_equal(check("https://172.32.0.1/", NULL, NULL), 0);
	assert_int_equal(check("http://127.0.0.1:9000/hook", "127.0.0.1", NULL), 0);
	assert_int_equal(check("http://localhost:9000/hook", "127.0.0.1", NULL), -1);
	char long_url[WEBHOOK_URL_MAX + 2];
	memset(long_url, 'a', sizeof(long_url) - 1);
	memcpy(long_url, "https://example.com/", 20);
	long_url[sizeof(long_url) - 1] = '\0';
	assert_int_equal(check(long_url, NULL, NULL), -1);
}

/* The host is normalised, and the URL handed to the HTTP client names exactly that host. */
static void test_url_normalised(void **state)
{
	(void)state;
	struct webhook_url u;
	assert_int_equal(check("HTTPS://Hooks.Example.COM./a/b?c=D#e", NULL, &u), 0);
	assert_string_equal(u.host, "hooks.example.com");
	assert_string_equal(u.url, "https://hooks.example.com:443/a/b?c=D#e");
	assert_int_equal(check("https://host.example.:8443/x", NULL, &u), 0);
	assert_string_equal(u.host, "host.example");
	assert_string_equal(u.url, "https://host.example:8443/x");
	assert_int_equal(check("https://hooks.example.com?x=1", NULL, &u), 0);
	assert_string_equal(u.url, "https://hooks.example.com:443?x=1");
	assert_int_equal(check("https://[2001:DB9::A]", NULL, &u), 0);
	assert_true(u.ipv6);
	assert_string_equal(u.host, "2001:db9::a");
	assert_string_equal(u.url, "https://[2001:db9::a]:443");
	assert_int_equal(check("http://EXAMPLE.com:8080/", "example.com", &u), 0);
	assert_string_equal(u.url, "http://example.com:8080/");
	assert_int_equal(check("https://under_score.example.com/", NULL, &u), 0);
	/* one trailing dot only, no empty or over-long labels, no other characters */
	const char *bad[] = { "https://host.example../", "https://.host.example/", "https://host..example/",
			      "https://./", "https://localhost../", "https://ex%61mple.com/", "https://exa$mple.com/",
			      "https://exa\\mple.com/", "https://[fe80::1%25eth0]/", "https://[127.0.0.1]/",
			      "https://[::1]x/", "https://[example.com]/",
			      "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com/" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (check(bad[i], NULL, NULL) != -1)
			fail_msg("accepted %s", bad[i]);
	}
	/* a trailing dot does not hide a private literal or localhost */
	assert_int_equal(check("https://127.0.0.1.:8443/", NULL, NULL), -1);
	assert_int_equal(check("https://LocalHost./", NULL, NULL), -1);
	assert_int_equal(check("http://127.0.0.1.:9000/", "127.0.0.1", &u), 0);
	assert_string_equal(u.url, "http://127.0.0.1:9000/");
}

static int v4_private(const char *a)
{
	struct sockaddr_in s = { .sin_family = AF_INET };
	assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
	return webhook_addr_private((struct sockaddr *)&s);
}

static bool v6_private(const char *a)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6 };
	assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
	return webhook_addr_private((struct sockaddr *)&s);
}

static void test_addr_private(void **state)
{
	(void)state;
	const char *v4[] = { "127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.0.1", "172.16.0.1", "172.20.1.1",
			     "172.31.255.255", "192.168.0.10", "169.254.169.254", "169.254.0.1", "100.64.0.1",
			     "100.127.255.255", "0.0.0.0", "0.1.2.3", "192.0.0.8", "192.0.2.1", "192.88.99.1",
			     "198.18.0.1", "198.19.255.1", "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.1.1.1",
			     "240.0.0.1", "255.255.255.255" };
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		if (!v4_private(v4[i]))
			fail_msg("%s is taken for public", v4[i]);
	}
	const char *v4_public[] = { "8.8.8.8", "1.1.1.1", "93.184.216.34", "172.15.0.1", "172.32.0.1", "100.63.255.255",
				    "100.128.0.1", "169.253.0.1", "192.169.0.1", "198.20.0.1", "223.255.255.254" };
	for (size_t i = 0; i < sizeof(v4_public) / sizeof(v4_public[0]); i++) {
		if (v4_private(v4_public[i]))
			fail_msg("%s is taken for private", v4_public[i]);
	}
	const char *v6[] = { "::1", "::", "fe80::1", "febf::1", "fec0::1", "fc00::1", "fd12:3456::1", "ff02::1",
			     "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
			     "::127.0.0.1", "::8.8.8.8", "::ffff:0:127.0.0.1", "64:ff9b::127.0.0.1", "64:ff9b::10.1.2.3",
			     "64:ff9b::c0a8:101", "64:ff9b:1::8.8.8.8", "100::1", "2001:db8::1", "2001::1",
			     "2001:10::1", "2002:7f00:1::1", "2002:a00:1::", "3fff::1", "4000::1", "5f00::1" };
	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
		if (!v6_private(v6[i]))
			fail_msg("%s is taken for public", v6[i]);
	}
	const char *v6_public[] = { "2606:4700::1111", "2a00:1450:4001::200e", "2001:4860:4860::8888",
				    "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1", "2001:200::1" };
	for (size_t i = 0; i < sizeof(v6_public) / sizeof(v6_public[0]); i++) {
		if (v6_private(v6_public[i]))
			fail_msg("%s is taken for private", v6_public[i]);
	}
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	assert_true(webhook_addr_private((struct sockaddr *)&un));
}

/* The one check of an address a delivery connects to: public, or the host is allowed. */
static void test_addr_permitted(void **state)
{
	(void)state;
	struct sockaddr_in lo = { .sin_family = AF_INET }, pub = { .sin_family = AF_INET };
	struct sockaddr_in6 mapped = { .sin6_family = AF_INET6 };
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr), 1);
	assert_int_equal(inet_pton(AF_INET, "93.184.216.34", &pub.sin_addr), 1);
	assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", &mapped.sin6_addr), 1);
	assert_false(webhook_addr_permitted((struct sockaddr *)&lo, "hooks.example.com", NULL));
	assert_false(webhook_addr_permitted((struct sockaddr *)&mapped, "hooks.example.com", "other.example.com"));
	assert_true(webhook_addr_permitted((struct sockaddr *)&pub, "hooks.example.com", NULL));
	assert_true(webhook_addr_permitted((struct sockaddr *)&lo, "hooks.example.com", "a, hooks.example.com"));
	assert_true(webhook_addr_permitted((struct sockaddr *)&mapped, "127.0.0.1", "127.0.0.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_url_policy),
		cmocka_unit_test(test_url_normalised),
		cmocka_unit_test(test_addr_private),
		cmocka_unit_test(test_addr_permitted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
