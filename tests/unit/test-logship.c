/* The CloudWatch Logs batcher: PutLogEvents' limits, order, splitting, drops (shared/logship.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "logship.h"
#include "utf8.h"

#define T0 1796500000000LL

static struct logship_event ev[LOGSHIP_MAX_EVENTS + 1];

/* Push `n` lines "line N" (padded to `len` bytes when len > 0) at T0 + i. */
static void push_lines(struct logship_queue *q, size_t n, size_t len)
{
	char *line = xmalloc(len + 32);
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(line, 32, "line %zu", i);
		size_t l = (size_t)k;
		if (len > l) {
			memset(line + l, 'x', len - l);
			l = len;
		}
		assert_true(logship_queue_push(q, T0 + (int64_t)i, line, l) >= 0);
	}
	free(line);
}

/* The PutLogEvents size of ev[0..n). */
static size_t batch_bytes(size_t n)
{
	size_t b = 0;
	for (size_t i = 0; i < n; i++)
		b += ev[i].len + LOGSHIP_EVENT_OVERHEAD;
	return b;
}

static void test_count_limit(void **state)
{
	(void)state;
	struct logship_queue *q = logship_queue_new(64u << 20);
	push_lines(q, LOGSHIP_MAX_EVENTS + 5, 0);
	bool full;
	size_t n = logship_queue_peek(q, ev, LOGSHIP_MAX_EVENTS, LOGSHIP_MAX_BYTES, &full);
	assert_int_equal(n, LOGSHIP_MAX_EVENTS);
	assert_true(full);
	assert_string_equal(ev[0].msg, "line 0");
	logship_queue_pop(q, n);
	n = logship_queue_peek(q, ev, LOGSHIP_MAX_EVENTS, LOGSHIP_MAX_BYTES, &full);
	assert_int_equal(n, 5);
	assert_false(full);
	assert_string_equal(ev[0].msg, "line 10000");
	logship_queue_pop(q, n);
	assert_int_equal(logship_queue_len(q, NULL), 0);
	logship_queue_free(q);
}

/* Batches never pass 1,048,576 bytes counting 26 per event, and take all that fits. */
static void test_size_limit(void **state)
{
	(void)state;
	struct logship_queue *q = logship_queue_new(64u << 20);
	push_lines(q, 25, 100000);
	bool full;
	size_t n = logship_queue_peek(q, ev, LOGSHIP_MAX_EVENTS, LOGSHIP_MAX_BYTES, &full);
	assert_int_equal(n, 10); /* 10 * 100026 fits, 11 do not */
	assert_true(full);
	assert_true(batch_bytes(n) <= LOGSHIP_MAX_BYTES);
	assert_true(batch_bytes(n) + 100000 + LOGSHIP_EVENT_OVERHEAD > LOGSHIP_MAX_BYTES);

	/* exactly at the limit fits */
	struct logship_queue *q2 = logship_queue_new(64u << 20);
	size_t each = LOGSHIP_MAX_BYTES / 4 - LOGSHIP_EVENT_OVERHEAD;
	char *big = xmalloc(each);
	memset(big, 'y', each);
	for (int i = 0; i < 5; i++)
		assert_true(logship_queue_push(q2, T0, big, each) >= 0);
	n = logship_queue_peek(q2, ev, LOGSHIP_MAX_EVENTS, LOGSHIP_MAX_BYTES, &full);
	assert_int_equal(n, 4);
	assert_int_equal(batch_bytes(n), LOGSHIP_MAX_BYTES);
	free(big);
	logship_queue_free(q2);
	logship_queue_free(q);
}

/* Split into batches, every line comes out once, in order. */
static void test_splitting_keeps_everything(void **state)
{
	(void)state;
	struct logship_queue *q = logship_queue_new(256u << 20);
	size_t total = 30000, seen = 0, batches = 0;
	push_lines(q, total, 200);
	bool full = true;
	while (full) {
		size_t n = logship_queue_peek(q, ev, LOGSHIP_MAX_EVENTS, LOGSHIP_MAX_BYTES, &full);
		assert_true(n > 0);
		assert_true(batch_bytes(n) <= LOGSHIP_MAX_BYTES);
		for (size_t i = 0; i < n; i++) {
			char want[32];
			snprintf(want, sizeof(want), "line %zu", seen + i);
			assert_memory_equal(ev[i].msg, want, strlen(want));
			assert_int_equal(ev[i].len, 200);
		}
		seen += n;
		batches++;
		logship_queue_pop(q, n);
	}
	assert_int_equal(seen, total);
	assert_int_equal(batches, 7); /* 200-byte lines: 4,639 (of 226 bytes) a batch */
	assert_int_equal(logship_queue_len(q, NULL), 0);
	logship_queue_free(q);
}

/* A clock going back never puts a line before the one queued before it. */
static void test_chronological(void **state)
{
	(void)state;
	struct logship_queue *q = logship_queue_new(1u << 20);
	int64_t when[] = { T0 + 50, T0 + 10, T0 + 60, T0 + 59, T0 + 70 };
	for (size_t i = 0; i < 5; i++)
		assert_true(logship_queue_push(q, when[i], "x", 1) >= 0);
	bool full;
	size_t n = logship_queue_peek(q, ev, LOGSHIP_MAX_EVENTS, LOGSHIP_MAX_BYTES, &full);
	assert_int_equal(n, 5);
	int64_t want[] = { T0 + 50, T0 + 50, T0 + 60, T0 + 60, T0 + 70 };
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(ev[i].ts_ms, want[i]);
	logship_queue_free(q);
}

/* A batch spans at most 24 hours. */
static void test_span(void **state)
{
	(void)state;
	struct logship_queue *q = logship_queue_new(1u << 20);
	assert_true(logship_queue_push(q, T0, "a", 1) >= 0);
	assert_true(logship_queue_push(q, T0 + LOGSHIP_MAX_SPAN_MS, "b", 1) >= 0);
	assert_true(logship_queue_push(q, T0 + LOGSHIP_MAX_SPAN_MS + 1, "c", 1) >= 0);
	bool full;
	size_t n = logship_queue_peek(q, ev, LOGSHIP_MAX_EVENTS, LOGSHIP_MAX_BYTES, &full);
	assert_int_equal(n, 2);
	assert_true(full);
	logship_queue_pop(q, n);
	n = logship_queue_peek(q, ev, LOGSHIP_MAX_EVENTS, LOGSHIP_MAX_BYTES, &full);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].msg, "c");
	logship_queue_free(q);
}

/* A full queue drops new lines and counts them; popping makes room again. */
static void test_drops_counted(void **state)
{
	(void)state;
	struct logship_queue *q = logship_queue_new(64 * 1024);
	char line[1000];
	memset(line, 'z', sizeof(line));
	int queued = 0, dropped = 0, woke = 0;
	for (int i = 0; i < 100; i++) {
		int rc = logship_queue_push(q, T0, line, sizeof(line));
		if (rc < 0)
			dropped++;
		else
			queued++;
		woke += rc == 1;
	}
	size_t bytes;
	assert_int_equal(logship_queue_len(q, &bytes), (size_t)queued);
	assert_true(bytes <= 64 * 1024);
	assert_true(queued >= 60 && queued < 66);
	assert_int_equal(woke, 0); /* far from a full batch */
	assert_int_equal(logship_queue_take_dropped(q), (uint64_t)dropped);
	assert_int_equal(logship_queue_take_dropped(q), 0);
	bool full;
	size_t n = logship_queue_peek(q, ev, 10, LOGSHIP_MAX_BYTES, &full);
	logship_queue_pop(q, n);
	assert_true(logship_queue_push(q, T0, line, sizeof(line)) >= 0);
	logship_queue_close(q);
	assert_int_equal(logship_queue_push(q, T0, line, sizeof(line)), -1);
	assert_int_equal(logship_queue_len(q, NULL), 0);
	logship_queue_free(q);
}

/* The consumer is told once when a full batch is waiting. */
static void test_full_batch_wakes(void **state)
{
	(void)state;
	struct logship_queue *q = logship_queue_new(64u << 20);
	int woke = 0;
	for (int i = 0; i < LOGSHIP_MAX_EVENTS + 100; i++)
		woke += logship_queue_push(q, T0, "w", 1) == 1;
	assert_int_equal(woke, 1);
	logship_queue_free(q);
}

/* Overlong lines are cut at a character boundary; bytes that are not UTF-8 escaped. */
static void test_event_bytes(void **state)
{
	(void)state;
	struct logship_queue *q = logship_queue_new(8u << 20);
	size_t len = LOGSHIP_MAX_EVENT_BYTES + 10;
	char *line = xmalloc(len);
	memset(line, 'a', len);
	/* a two-byte character across the cut */
	line[LOGSHIP_MAX_EVENT_BYTES - 1] = '\xc3';
	line[LOGSHIP_MAX_EVENT_BYTES] = '\xa9';
	assert_true(logship_queue_push(q, T0, line, len) >= 0);
	assert_true(logship_queue_push(q, T0, "bad \xff byte", 10) >= 0);
	bool full;
	size_t n = logship_queue_peek(q, ev, LOGSHIP_MAX_EVENTS, LOGSHIP_MAX_BYTES, &full);
	assert_int_equal(n, 2);
	assert_int_equal(ev[0].len, LOGSHIP_MAX_EVENT_BYTES - 1);
	assert_true(utf8_valid(ev[0].msg, ev[0].len));
	assert_string_equal(ev[1].msg, "bad \\xFF byte");
	free(line);
	logship_queue_free(q);
}

/* The request body is JSON that carries each message exactly. */
static void test_encode(void **state)
{
	(void)state;
	const char *msgs[] = { "{\"level\":\"info\",\"msg\":\"a \\\"quoted\\\" word\"}", "tab\there\nnewline \x01",
			       "caf\xc3\xa9 \xe2\x82\xac" };
	struct logship_event e[3];
	for (int i = 0; i < 3; i++)
		e[i] = (struct logship_event){ T0 + i, msgs[i], strlen(msgs[i]) };
	struct buf body = BUF_INIT;
	logship_encode_put("/spool/api", "host \"1\"", e, 3, &body);
	json_error_t je;
	json_t *o = json_loadb(body.data, body.len, 0, &je);
	if (!o)
		fail_msg("not JSON: %s (%s)", buf_str(&body), je.text);
	assert_string_equal(json_string_value(json_object_get(o, "logGroupName")), "/spool/api");
	assert_string_equal(json_string_value(json_object_get(o, "logStreamName")), "host \"1\"");
	json_t *a = json_object_get(o, "logEvents");
	assert_int_equal(json_array_size(a), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *x = json_array_get(a, i);
		assert_string_equal(json_string_value(json_object_get(x, "message")), msgs[i]);
		assert_int_equal(json_integer_value(json_object_get(x, "timestamp")), T0 + (int64_t)i);
	}
	json_decref(o);
	buf_release(&body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_count_limit),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_splitting_keeps_everything),
		cmocka_unit_test(test_chronological),
		cmocka_unit_test(test_span),
		cmocka_unit_test(test_drops_counted),
		cmocka_unit_test(test_full_batch_wakes),
		cmocka_unit_test(test_event_bytes),
		cmocka_unit_test(test_encode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
