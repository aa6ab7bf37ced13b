/*
 * utf8 — checking UTF-8 and escaping what is not (see utf8.h).
 */
#include "utf8.h"

#include <stdio.h>
#include <string.h>

/*
 * The length of the well-formed sequence that starts the n (> 0) bytes at s,
 * 1 to 4, or 0 when they do not start one (RFC 3629's table of well-formed byte
 * sequences: the second byte's range depends on the first).
 */
static size_t seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;        /* overlong below U+0800 */
		else if (c == 0xed)
			hi = 0x9f;        /* surrogates U+D800..U+DFFF */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;        /* overlong below U+10000 */
		else if (c == 0xf4)
			hi = 0x8f;        /* past U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

int utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	while (n > 0) {
		size_t k = seq_len(p, n);
		if (!k)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

void utf8_escape(struct buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	while (n > 0) {
		size_t k = seq_len(p, n);
		if (k) {
			buf_add(out, p, k);
		} else {
			char hex[5];
			snprintf(hex, sizeof(hex), "\\x%02X", *p);
			buf_add(out, hex, 4);
			k = 1;
		}
		p += k;
		n -= k;
	}
}

json_t *utf8_json(const char *s)
{
	if (!s)
		return json_null();
	size_t n = strlen(s);
	if (utf8_valid(s, n))
		return json_stringn(s, n);
	struct buf b = BUF_INIT;
	utf8_escape(&b, s, n);
	json_t *j = json_stringn(buf_str(&b), b.len);
	buf_release(&b);
	return j;
}
