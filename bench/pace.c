/*
 * pace — an open-loop load for make bench (scripts/bench.sh): submits COUNT POST
 * requests of BODY to URL at a fixed RATE per second, over at most CONNS keep-alive
 * connections (libcurl multi), whatever the answers' pace: request i is due at
 * start + i / RATE, and is sent late only when every connection is busy. The key is
 * read from $SPOOL_API_KEY (not argv: ps shows it).
 *
 * Each answered request is one line of OUT: "submitted answered status id" (submitted
 * and answered in seconds since the epoch, id the job's id or "-"), from which the
 * bench joins the jobs' finish times. On stdout, "name value" lines: the offered and
 * achieved rates, the count accepted (2xx), the answers' p50/p99 (ms) and how late the
 * latest request was sent (ms).
 *
 *   pace URL RATE COUNT CONNS BODY OUT
 */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define MAX_CONNS 256
#define MAX_COUNT 5000000L
#define RESP_MAX  1024

struct slot {
	CURL *h;
	long idx;              /* the request in flight, -1: free */
	double sent;           /* when it was sent, seconds since the epoch */
	char resp[RESP_MAX];   /* the head of its answer's body */
	size_t len;
};

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct slot *s = ud;
	size_t n = size * nmemb, room = RESP_MAX - 1 - s->len;
	memcpy(s->resp + s->len, ptr, n < room ? n : room);
	s->len += n < room ? n : room;
	s->resp[s->len] = '\0';
	return n;
}

/* The job's id in an answer's body ("id":"<uuid>"), or "-". */
static void answer_id(const char *body, char out[37])
{
	const char *p = strstr(body, "\"id\":\"");
	size_t n = p ? strspn(p + 6, "0123456789abcdef-") : 0;
	if (n != 36) {
		strcpy(out, "-");
		return;
	}
	memcpy(out, p + 6, 36);
	out[36] = '\0';
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: pace URL RATE COUNT CONNS BODY OUT (key in $SPOOL_API_KEY)\n");
		return 2;
	}
	const char *url = argv[1], *body = argv[5], *key = getenv("SPOOL_API_KEY");
	double rate = (double)bench_arg_long("pace", argv[2], "rate", 1, 1000000);
	long count = bench_arg_long("pace", argv[3], "count", 1, MAX_COUNT);
	int nconns = (int)bench_arg_long("pace", argv[4], "conns", 1, MAX_CONNS);
	if (!key || !*key) {
		fprintf(stderr, "pace: $SPOOL_API_KEY is empty\n");
		return 2;
	}
	FILE *out = fopen(argv[6], "w");
	if (!out) {
		fprintf(stderr, "pace: cannot write '%s': %s\n", argv[6], strerror(errno));
		return 1;
	}
	char auth[512];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct curl_slist *hdrs = curl_slist_append(NULL, auth);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	CURLM *m = curl_multi_init();
	float *lat = calloc((size_t)count, sizeof(*lat));
	struct slot *slots = calloc((size_t)nconns, sizeof(*slots));
	int rc = 1;
	if (!hdrs || !m || !lat || !slots) {
		fprintf(stderr, "pace: out of memory\n");
		goto out;
	}
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)nconns);
	for (int i = 0; i < nconns; i++) {
		struct slot *s = &slots[i];
		s->idx = -1;
		if (!(s->h = curl_easy_init())) {
			fprintf(stderr, "pace: out of memory\n");
			goto out;
		}
		curl_easy_setopt(s->h, CURLOPT_URL, url);
		curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
		curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
		curl_easy_setopt(s->h, CURLOPT_TIMEOUT, 60L);
		curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
	}

	long next = 0, done = 0, accepted = 0, failed = 0;
	int busy = 0;
	double t0 = clock_s(CLOCK_MONOTONIC), late_max = 0;
	while (done < count) {
		double now = clock_s(CLOCK_MONOTONIC) - t0;
		for (int i = 0; i < nconns && next < count && (double)next / rate <= now; i++) {
			struct slot *s = &slots[i];
			if (s->idx >= 0)
				continue;
			double late = now - (double)next / rate;
			if (late > late_max)
				late_max = late;
			s->idx = next++;
			s->len = 0;
			s->resp[0] = '\0';
			s->sent = clock_s(CLOCK_REALTIME);
			curl_multi_add_handle(m, s->h);
			busy++;
		}
		int running;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct slot *s;
			long status = 0;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			CURLcode res = msg->data.result;
			curl_multi_remove_handle(m, s->h);
			double answered = clock_s(CLOCK_REALTIME);
			char id[37];
			answer_id(s->resp, id);
			if (res != CURLE_OK) {
				status = 0;
				if (failed++ == 0)
					fprintf(stderr, "pace: request %ld: %s\n", s->idx, curl_easy_strerror(res));
			} else if (status >= 200 && status < 300) {
				accepted++;
			}
			fprintf(out, "%.6f %.6f %ld %s\n", s->sent, answered, status, id);
			lat[done++] = (float)((answered - s->sent) * 1000);
			s->idx = -1;
			busy--;
		}
		/* sleep until the next request is due (or an answer comes) */
		long wait_ms = 100;
		if (next < count && busy < nconns) {
			double due = (double)next / rate - (clock_s(CLOCK_MONOTONIC) - t0);
			wait_ms = due <= 0 ? 0 : (long)ceil(due * 1000);
			if (wait_ms > 100)
				wait_ms = 100;
		}
		if (wait_ms > 0 || busy > 0)
			curl_multi_poll(m, NULL, 0, (int)wait_ms, NULL);
	}
	double secs = clock_s(CLOCK_MONOTONIC) - t0;
	qsort(lat, (size_t)count, sizeof(*lat), cmp_float);
	printf("pace_offered_per_s %.0f\n", rate);
	printf("pace_sent %ld\n", count);
	printf("pace_accepted %ld\n", accepted);
	printf("pace_achieved_per_s %.1f\n", (double)count / secs);
	printf("pace_answer_p50_ms %.1f\n", (double)lat[(size_t)((double)(count - 1) * 0.50)]);
	printf("pace_answer_p99_ms %.1f\n", (double)lat[(size_t)((double)(count - 1) * 0.99)]);
	printf("pace_late_max_ms %.1f\n", late_max * 1000);
	rc = accepted == count ? 0 : 1;
	if (rc)
		fprintf(stderr, "pace: %ld of %ld requests not accepted (%ld without an answer)\n",
			count - accepted, count, failed);
out:
	if (slots)
		for (int i = 0; i < nconns; i++)
			if (slots[i].h)
				curl_easy_cleanup(slots[i].h);
	free(slots);
	free(lat);
	if (m)
		curl_multi_cleanup(m);
	curl_slist_free_all(hdrs);
	curl_global_cleanup();
	if (fclose(out) != 0 && rc == 0) {
		fprintf(stderr, "pace: cannot write '%s'\n", argv[6]);
		rc = 1;
	}
	return rc;
}
