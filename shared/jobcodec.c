#include "jobcodec.h"
#include "timefmt.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MESSAGE_MAX 4096
#define CURSOR_MAX 128

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *ref_or_null(json_t *v)
{
	return v ? json_incref(v) : json_null();
}

json_t *jobcodec_to_json(const struct job *j)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(j->id));
	json_object_set_new(o, "type", str_or_null(j->type));
	json_object_set_new(o, "status", json_string(job_status_name(j->status)));
	json_object_set_new(o, "attempts", json_integer(j->attempts));
	json_object_set_new(o, "max_attempts", json_integer(j->max_attempts));
	json_object_set_new(o, "progress", j->progress >= 0 ? json_integer(j->progress) : json_null());
	json_object_set_new(o, "source", ref_or_null(j->source));
	json_object_set_new(o, "params", j->params ? json_incref(j->params) : json_object());
	json_object_set_new(o, "result", ref_or_null(j->result));
	json_object_set_new(o, "error", ref_or_null(j->error));
	json_object_set_new(o, "created_at", str_or_null(j->created_at));
	json_object_set_new(o, "started_at", str_or_null(j->started_at));
	json_object_set_new(o, "finished_at", str_or_null(j->finished_at));
	json_object_set_new(o, "run_at", str_or_null(j->run_at));
	json_object_set_new(o, "priority", json_string(jobprio_name(j->priority)));
	return o;
}

/* ---- cursors ---------------------------------------------------------------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void cursor_encode(const char *micros, const char *id, struct buf *out)
{
	char plain[96];
	int n = snprintf(plain, sizeof(plain), "%s:%s", micros, id);
	unsigned acc = 0;
	int bits = 0;
	for (int i = 0; i < n; i++) {
		acc = (acc << 8) | (unsigned char)plain[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			buf_addc(out, b64url[(acc >> bits) & 63]);
		}
	}
	if (bits > 0)
		buf_addc(out, b64url[(acc << (6 - bits)) & 63]);
}

/* Decode and check a cursor into its microseconds and id; -1 if malformed. */
static int cursor_decode(const char *cur, char micros[24], char id[JOB_ID_LEN + 1])
{
	char plain[CURSOR_MAX];
	size_t n = 0, len = strlen(cur);
	unsigned acc = 0;
	int bits = 0;
	if (len == 0 || len > CURSOR_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		const char *p = cur[i] ? strchr(b64url, cur[i]) : NULL;
		if (!p)
			return -1;
		acc = (acc << 6) | (unsigned)(p - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= sizeof(plain) - 1)
				return -1;
			plain[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	plain[n] = '\0';
	const char *colon = memchr(plain, ':', n);
	size_t dl = colon ? (size_t)(colon - plain) : 0;
	if (!colon || dl == 0 || dl > 18)
		return -1;
	for (size_t i = 0; i < dl; i++)
		if (!isdigit((unsigned char)plain[i]))
			return -1;
	if (!job_id_valid(colon + 1))
		return -1;
	memcpy(micros, plain, dl);
	micros[dl] = '\0';
	memcpy(id, colon + 1, JOB_ID_LEN + 1);
	return 0;
}

void jobcodec_cursor_encode(int64_t micros, const char *id, struct buf *out)
{
	char m[24];
	snprintf(m, sizeof(m), "%" PRId64, micros);
	buf_reset(out);
	cursor_encode(m, id, out);
}

int jobcodec_cursor_decode(const char *cursor, int64_t *micros, char id[JOB_ID_LEN + 1])
{
	char m[24];
	if (!cursor || cursor_decode(cursor, m, id) < 0)
		return -1;
	*micros = strtoll(m, NULL, 10);
	return 0;
}

/* ---- messages ---------------------------------------------------------------- */

void jobcodec_message_of(const struct job *j, int attempt, struct jobcodec_message *m)
{
	*m = (struct jobcodec_message){ .version = 1, .attempt = attempt, .priority = j->priority };
	memcpy(m->id, j->id, sizeof(m->id));
	snprintf(m->type, sizeof(m->type), "%s", j->type ? j->type : "");
}

void jobcodec_message_encode(const struct jobcodec_message *m, struct buf *out)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:i}", "v", m->version ? m->version : 1, "job_id", m->id, "type",
			      m->type, "attempt", m->attempt);
	if (m->priority != JOBPRIO_NORMAL)
		json_object_set_new(o, "priority", json_string(jobprio_name(m->priority)));
	char *s = json_dumps(o, JSON_COMPACT);
	buf_reset(out);
	buf_adds(out, s);
	free(s);
	json_decref(o);
}

static bool type_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(((struct jobcodec_message *)0)->type))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || strchr("._-", s[i])))
			return false;
	return true;
}

int jobcodec_message_decode(const char *data, size_t len, struct jobcodec_message *m, struct buf *err)
{
	json_error_t je;
	memset(m, 0, sizeof(*m));
	if (len > MESSAGE_MAX) {
		buf_printf(err, "message of %zu bytes is longer than %d", len, MESSAGE_MAX);
		return -1;
	}
	json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		buf_printf(err, "message is not JSON: %s", je.text);
		return -1;
	}
	int rc = -1;
	json_t *v = json_object_get(o, "v"), *id = json_object_get(o, "job_id"), *type = json_object_get(o, "type"),
	       *att = json_object_get(o, "attempt"), *prio = json_object_get(o, "priority");
	enum jobprio p = JOBPRIO_NORMAL;
	if (!json_is_object(o))
		buf_adds(err, "message is not a JSON object");
	else if (!json_is_integer(v) || json_integer_value(v) != 1)
		buf_adds(err, "message has no version 'v' or not version 1");
	else if (!json_is_string(id) || !job_id_valid(json_string_value(id)))
		buf_adds(err, "message 'job_id' is not a UUID");
	else if (!json_is_string(type) || !type_name_ok(json_string_value(type)))
		buf_adds(err, "message 'type' is missing or not a job type name");
	else if (!json_is_integer(att) || json_integer_value(att) < 0 || json_integer_value(att) > 1000000)
		buf_adds(err, "message 'attempt' is not a whole number in [0, 1000000]");
	else if (prio && jobprio_parse(json_string_value(prio), &p) < 0)
		buf_adds(err, "message 'priority' is not high, normal or low");
	else {
		m->priority = p;
		m->version = 1;
		memcpy(m->id, json_string_value(id), JOB_ID_LEN + 1);
		snprintf(m->type, sizeof(m->type), "%s", json_string_value(type));
		m->attempt = (int)json_integer_value(att);
		rc = 0;
	}
	json_decref(o);
	return rc;
}

void jobcodec_event_encode(const struct job *j, const char *event, struct buf *out)
{
	/* A job requeued through the outbox (reaper, shutdown) is tried again at once. */
	jobcodec_event_encode_next(j, event, j->status == JOB_RETRYING ? time(NULL) : 0, out);
}

void jobcodec_event_encode_next(const struct job *j, const char *event, time_t next_attempt_at, struct buf *out)
{
	char at[TIMEFMT_UTC_MS_SIZE];
	timefmt_now_ms(at);
	struct buf name = BUF_INIT;
	if (strncmp(event, "job.", 4))
		buf_adds(&name, "job.");
	buf_adds(&name, event);
	json_t *o = json_object();
	json_object_set_new(o, "v", json_integer(1));
	json_object_set_new(o, "event", json_string(buf_str(&name)));
	json_object_set_new(o, "job_id", json_string(j->id));
	json_object_set_new(o, "type", str_or_null(j->type));
	json_object_set_new(o, "tenant", str_or_null(j->tenant));
	json_object_set_new(o, "status", json_string(job_status_name(j->status)));
	json_object_set_new(o, "attempt", json_integer(j->attempts));
	json_object_set_new(o, "at", json_string(at));
	json_object_set_new(o, "error", ref_or_null(j->error));
	json_object_set_new(o, "priority", json_string(jobprio_name(j->priority)));
	/* lets a consumer of final events skip the database for the jobs without a webhook */
	json_object_set_new(o, "callback", json_boolean(j->callback_url && j->callback_url[0]));
	if (next_attempt_at > 0) {
		char next[TIMEFMT_UTC_SIZE];
		timefmt_utc(next_attempt_at, next);
		json_object_set_new(o, "next_attempt_at", json_string(next));
	}
	char *s = json_dumps(o, JSON_COMPACT);
	buf_reset(out);
	buf_adds(out, s);
	free(s);
	json_decref(o);
	buf_release(&name);
}
