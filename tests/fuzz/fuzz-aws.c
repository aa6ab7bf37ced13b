/*
 * fuzz-aws — what every AWS client reads of an answer: aws_xml_find() walked over
 * the whole text for the tags S3, Secrets Manager and CloudWatch look for,
 * aws_xml_get() and aws_xml_unescape(), and aws_error_parse() on an error
 * response (XML or JSON body), with the input's first line also given as the
 * x-amzn-ErrorType header. The input is copied into a buffer of its exact size,
 * so that reading past the answer is caught.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every element `tag` in order: each lies inside the text, after the one before. */
static void walk(const char *x, size_t len, const char *tag)
{
	const char *p = x, *v;
	size_t vl;
	struct buf out = BUF_INIT;
	while (p && p < x + len) {
		const char *next = aws_xml_find(p, len - (size_t)(p - x), tag, &v, &vl);
		if (!next)
			break;
		if (next <= p || next > x + len || v < p || v > next || vl > (size_t)(next - v))
			abort();
		/* decoding never makes a text longer: each reference is at least as long as its UTF-8 */
		buf_reset(&out);
		aws_xml_unescape(&out, v, vl);
		if (out.len > vl)
			abort();
		p = next;
	}
	if (aws_xml_get(x, len, tag, &out) == 0 && out.len > len)
		abort();
	buf_release(&out);
}

/* An error's fields are filled, NUL-terminated, on one line, and consistent. */
static void check_error(long status, const char *body, size_t len, const char *header)
{
	struct aws_error e;
	aws_error_parse(status, body, len, header, &e);
	if (e.status != status || !*e.code || !memchr(e.code, '\0', sizeof(e.code)) ||
	    !memchr(e.message, '\0', sizeof(e.message)) || strpbrk(e.code, "\r\n") || strpbrk(e.message, "\r\n") ||
	    e.transient != aws_error_is_transient(status, e.code))
		abort();
	struct buf line = BUF_INIT;
	aws_error_format(&e, &line);
	if (line.len == 0)
		abort();
	buf_release(&line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tags[] = { "Error", "Code", "Message", "Contents", "Key", "member",
					    "Values", "NextToken", "UploadId" };
	char *x = size ? xmalloc(size) : NULL;
	if (size)
		memcpy(x, data, size);
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		walk(x, size, tags[i]);

	char *header = xstrndup((const char *)data, size);
	header[strcspn(header, "\r\n")] = '\0';
	check_error(400, x, size, NULL);
	check_error(503, x, size, header);
	check_error(404, NULL, 0, header);
	free(header);
	free(x);
	return 0;
}
