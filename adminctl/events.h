/*
 * events — the live events of spool.events as adminctl shows them: `adminctl
 * events --follow` and the TUI's Events screen.
 *
 * A subscription (struct ev_sub) is one RabbitMQ connection of its own with a
 * private queue, adminctl.events.<host>.<pid>.<n>: exclusive, auto-delete and
 * not durable (it goes away with the connection, so a viewer leaves nothing
 * behind), bound to the spool.events exchange with the routing keys of the
 * events wanted ("job.#" for all). Deliveries are pushed by the broker (never
 * polled), at most EV_PREFETCH unacknowledged at a time, and acknowledged as
 * soon as read; a viewer slower than the events (a paused pager) loses the
 * oldest past EV_QUEUE_MAX waiting in its queue rather than fill the broker; the filters the exchange cannot route by (type, tenant, job)
 * are applied here. Memory is bounded: a record has fixed-size fields, a
 * delivery longer than EV_BODY_MAX is dropped.
 *
 * After a lost connection ev_sub_next() returns -1 and the owner calls
 * ev_sub_connect() again (with its own backoff): the queue is declared anew
 * and the events published meanwhile are not seen.
 *
 * One subscription is used by one thread (librabbitmq connections are not
 * thread safe).
 */
#ifndef ADMINCTL_EVENTS_H
#define ADMINCTL_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "job.h"
#include "secrets.h"

#define EV_PREFETCH 64
#define EV_QUEUE_MAX 10000 /* messages the private queue keeps for a slow viewer, the oldest dropped */
#define EV_BODY_MAX 65536
#define EV_NAMES_MAX 16 /* --event names */

/* One event as shown: "" for a field the event does not have. */
struct ev_record {
	char at[40];              /* RFC 3339 UTC */
	char event[40];           /* "job.started" */
	char job_id[JOB_ID_LEN + 1];
	char type[64];
	char tenant[64];
	int attempt;
	char error[64];           /* the error's code */
};

/* What to show; "" (and nevents 0) for no restriction. Event names are kept with their "job." prefix. */
struct ev_filter {
	char type[64];
	char tenant[64];
	char job_id[JOB_ID_LEN + 1];
	char events[EV_NAMES_MAX][40];
	size_t nevents;
};

/*
 * Add the comma-separated event names of `list` ("failed,job.succeeded") to
 * `f`, with the "job." prefix added where missing. 0, or -1 with the reason in
 * `err` (an empty or odd name, too many).
 */
int ev_filter_add_events(struct ev_filter *f, const char *list, struct buf *err);
/* Does `r` pass `f`? */
bool ev_filter_match(const struct ev_filter *f, const struct ev_record *r);

/* Read an event of spool.events (untrusted bytes) into `r`: 0, or -1 when it is not one. */
int ev_parse(const char *body, size_t len, const char *routing_key, struct ev_record *r);
/* One line (no newline) into `out` (reset first): padded columns, or tab-separated ("-" for empty). */
void ev_format(const struct ev_record *r, bool columns, struct buf *out);
/* The header line of ev_format(). */
void ev_format_header(bool columns, struct buf *out);
/* The record as a JSON object (new reference): at, event, job_id, type, tenant, attempt, error. */
json_t *ev_to_json(const struct ev_record *r);

struct ev_sub;

/* A subscription, not connected yet; `cfg` and `sec` are borrowed. Never NULL. */
struct ev_sub *ev_sub_new(const struct config *cfg, struct secrets *sec, const struct ev_filter *f);
void ev_sub_free(struct ev_sub *s);
/* Connect, declare and bind the private queue and consume it: 0, or -1 + err. */
int ev_sub_connect(struct ev_sub *s, struct buf *err);
bool ev_sub_connected(const struct ev_sub *s);
/* The private queue's name (valid while `s` lives). */
const char *ev_sub_queue(const struct ev_sub *s);
/*
 * Wait up to timeout_ms for the next event that passes the filter: 1 and `r`
 * filled, 0 when none came, -1 on a lost connection (err says why; then
 * ev_sub_connect again).
 */
int ev_sub_next(struct ev_sub *s, struct ev_record *r, int timeout_ms, struct buf *err);

#endif
