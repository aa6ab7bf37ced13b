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

static int v4_private(const char *a)
{
	struct sockaddr_in s = { .sin_family = AF_INET };
	assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
	return webhook_addr_private((struct sockaddr *)&s);
}

static int v6_private(const char *a)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6 };
	assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
	return webhook_addr_private((struct sockaddr *)&s);
}

static void test_addr_private(void **state)
{
	(void)state;
	assert_true(v4_private("127.0.0.1"));
	assert_true(v4_private("10.255.0.1"));
	assert_true(v4_private("172.20.1.1"));
	assert_true(v4_private("192.168.0.10"));
	assert_true(v4_private("169.254.169.254"));
	assert_true(v4_private("224.0.0.1"));
	assert_true(v4_private("255.255.255.255"));
	assert_false(v4_private("8.8.8.8"));
	assert_false(v4_private("172.15.0.1"));
	assert_true(v6_private("::1"));
	assert_true(v6_private("::"));
	assert_true(v6_private("fe80::1"));
	assert_true(v6_private("fc00::1"));
	assert_true(v6_private("::ffff:10.0.0.1"));
	assert_false(v6_private("::ffff:8.8.8.8"));
	assert_false(v6_private("2606:4700::1111"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_url_policy),
		cmocka_unit_test(test_addr_private),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
