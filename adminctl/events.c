/*
 * The live events of spool.events for adminctl (see events.h).
 */
#include "events.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "mq.h"

struct ev_sub {
	struct mq *mq;
	struct ev_filter f;
	char queue[200];
};

/* Copy a JSON string member into dst[size] ("" when absent or not a string). */
static void copy_str(char *dst, size_t size, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	snprintf(dst, size, "%s", s ? s : "");
}

/* An event name as given: lower case letters, digits, '_', '.' and '-' only. */
static bool name_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || strchr("_.-", s[i])))
			return false;
	return true;
}

int ev_filter_add_events(struct ev_filter *f, const char *list, struct buf *err)
{
	const char *p = list;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		bool prefixed = n >= 4 && !strncmp(p, "job.", 4);
		if (!name_ok(p, n) || n + (prefixed ? 0 : 4) >= sizeof(f->events[0]) || (prefixed && n == 4)) {
			buf_printf(err, "'%.*s' is not an event name (started, job.failed, …)", (int)(n > 60 ? 60 : n), p);
			return -1;
		}
		if (f->nevents >= EV_NAMES_MAX) {
			buf_printf(err, "at most %d event names", EV_NAMES_MAX);
			return -1;
		}
		snprintf(f->events[f->nevents++], sizeof(f->events[0]), "%s%.*s", prefixed ? "" : "job.", (int)n, p);
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

bool ev_filter_match(const struct ev_filter *f, const struct ev_record *r)
{
	if (*f->type && strcmp(f->type, r->type))
		return false;
	if (*f->tenant && strcmp(f->tenant, r->tenant))
		return false;
	if (*f->job_id && strcasecmp(f->job_id, r->job_id))
		return false;
	if (f->nevents == 0)
		return true;
	for (size_t i = 0; i < f->nevents; i++)
		if (!strcmp(f->events[i], r->event))
			return true;
	return false;
}

int ev_parse(const char *body, size_t len, const char *routing_key, struct ev_record *r)
{
	memset(r, 0, sizeof(*r));
	if (len > EV_BODY_MAX)
		return -1;
	json_t *o = json_loadb(body, len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	copy_str(r->at, sizeof(r->at), o, "at");
	copy_str(r->event, sizeof(r->event), o, "event");
	if (!*r->event && routing_key)
		snprintf(r->event, sizeof(r->event), "%s", routing_key);
	copy_str(r->job_id, sizeof(r->job_id), o, "job_id");
	copy_str(r->type, sizeof(r->type), o, "type");
	copy_str(r->tenant, sizeof(r->tenant), o, "tenant");
	json_t *att = json_object_get(o, "attempt");
	r->attempt = json_is_integer(att) && json_integer_value(att) >= 0 && json_integer_value(att) < 1000000
			     ? (int)json_integer_value(att)
			     : 0;
	copy_str(r->error, sizeof(r->error), json_object_get(o, "error"), "code");
	json_decref(o);
	/* the job's id is what makes it an event of ours: checked, as it is printed */
	return job_id_valid(r->job_id) ? 0 : -1;
}

static const char *dash(const char *s)
{
	return *s ? s : "-";
}

void ev_format(const struct ev_record *r, bool columns, struct buf *out)
{
	buf_reset(out);
	if (columns)
		buf_printf(out, "%-24s  %-14s  %-36s  %-16s  %-12s  %7d  %s", dash(r->at), dash(r->event),
			   dash(r->job_id), dash(r->type), dash(r->tenant), r->attempt, dash(r->error));
	else
		buf_printf(out, "%s\t%s\t%s\t%s\t%s\t%d\t%s", dash(r->at), dash(r->event), dash(r->job_id),
			   dash(r->type), dash(r->tenant), r->attempt, dash(r->error));
}

void ev_format_header(bool columns, struct buf *out)
{
	buf_reset(out);
	if (columns)
		buf_printf(out, "%-24s  %-14s  %-36s  %-16s  %-12s  %7s  %s", "TIME", "EVENT", "JOB", "TYPE", "TENANT",
			   "ATTEMPT", "ERROR");
	else
		buf_adds(out, "TIME\tEVENT\tJOB\tTYPE\tTENANT\tATTEMPT\tERROR");
}

static json_t *str_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

json_t *ev_to_json(const struct ev_record *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "at", str_or_null(r->at));
	json_object_set_new(o, "event", str_or_null(r->event));
	json_object_set_new(o, "job_id", str_or_null(r->job_id));
	json_object_set_new(o, "type", str_or_null(r->type));
	json_object_set_new(o, "tenant", str_or_null(r->tenant));
	json_object_set_new(o, "attempt", json_integer(r->attempt));
	json_object_set_new(o, "error", str_or_null(r->error));
	return o;
}

struct ev_sub *ev_sub_new(const struct config *cfg, struct secrets *sec, const struct ev_filter *f)
{
	static atomic_uint seq;
	struct ev_sub *s = xcalloc(1, sizeof(*s));
	char host[64] = "";
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	snprintf(s->queue, sizeof(s->queue), "adminctl.events.%s.%ld.%u", host, (long)getpid(),
		 atomic_fetch_add(&seq, 1u));
	s->mq = mq_new(cfg, sec);
	if (f)
		s->f = *f;
	return s;
}

void ev_sub_free(struct ev_sub *s)
{
	if (!s)
		return;
	mq_free(s->mq);
	free(s);
}

int ev_sub_connect(struct ev_sub *s, struct buf *err)
{
	const char *keys[EV_NAMES_MAX];
	size_t nkeys = s->f.nevents;
	for (size_t i = 0; i < nkeys; i++)
		keys[i] = s->f.events[i];
	if (nkeys == 0)
		keys[nkeys++] = "job.#";
	if (mq_connect(s->mq, err) < 0 ||
	    mq_declare_private_queue(s->mq, s->queue, MQ_EVENTS_EXCHANGE, keys, nkeys, EV_QUEUE_MAX, err) < 0 ||
	    mq_consume(s->mq, s->queue, EV_PREFETCH, err) < 0) {
		mq_disconnect(s->mq);
		return -1;
	}
	return 0;
}

bool ev_sub_connected(const struct ev_sub *s)
{
	return mq_connected(s->mq);
}

const char *ev_sub_queue(const struct ev_sub *s)
{
	return s->queue;
}

int ev_sub_next(struct ev_sub *s, struct ev_record *r, int timeout_ms, struct buf *err)
{
	int64_t deadline = clock_now_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - clock_now_ms();
		struct mq_delivery d;
		memset(&d, 0, sizeof(d));
		int rc = mq_next(s->mq, &d, left > 0 ? (int)left : 0, err);
		if (rc < 0) {
			mq_disconnect(s->mq);
			return -1;
		}
		if (rc == 0)
			return 0;
		bool ours = ev_parse(d.body, d.len, d.routing_key, r) == 0 && ev_filter_match(&s->f, r);
		mq_ack(s->mq, d.tag);
		mq_delivery_free(&d);
		if (ours)
			return 1;
		if (left <= 0)
			return 0;
	}
}
