/*
 * fuzz-message — the decoders of bytes that arrive from the queues and from
 * clients: jobcodec_message_decode() (spool.jobs deliveries, poison messages
 * included) and jobcodec_cursor_decode() (?cursor= of GET /v1/jobs). What
 * decodes is encoded again and must decode to the same value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jobcodec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void message_roundtrip(const uint8_t *data, size_t size)
{
	struct jobcodec_message m, again;
	struct buf err = BUF_INIT, enc = BUF_INIT;
	if (jobcodec_message_decode((const char *)data, size, &m, &err) < 0) {
		if (err.len == 0)
			abort(); /* a rejected message must say why (dead letter reason) */
		buf_release(&err);
		return;
	}
	jobcodec_message_encode(&m, &enc);
	if (jobcodec_message_decode(enc.data, enc.len, &again, &err) < 0 || again.version != m.version ||
	    strcmp(again.id, m.id) || strcmp(again.type, m.type) || again.attempt != m.attempt)
		abort();
	buf_release(&err);
	buf_release(&enc);
}

static void cursor_roundtrip(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	int64_t micros, micros2;
	char id[JOB_ID_LEN + 1], id2[JOB_ID_LEN + 1];
	if (jobcodec_cursor_decode(s, &micros, id) == 0) {
		struct buf enc = BUF_INIT;
		jobcodec_cursor_encode(micros, id, &enc);
		if (jobcodec_cursor_decode(buf_str(&enc), &micros2, id2) < 0 || micros2 != micros || strcmp(id, id2))
			abort();
		buf_release(&enc);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	message_roundtrip(data, size);
	cursor_roundtrip(data, size);
	return 0;
}
