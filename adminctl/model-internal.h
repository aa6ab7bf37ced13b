/*
 * model-internal — what the three files of the TUI's model share; nothing
 * outside them includes it. model.c runs the fetch thread, owns its service
 * clients (connected on demand), the snapshots and the status; model-fetch.c
 * fetches and frees each kind of snapshot, through the table model_kinds;
 * model-actions.c queues and runs the actions.
 *
 * Locking: the fields of struct model marked "under mu" are read and written
 * with m->mu held; the service clients only on the fetch thread. Fetches and
 * actions run on the fetch thread without mu.
 */
#ifndef ADMINCTL_MODEL_INTERNAL_H
#define ADMINCTL_MODEL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "buf.h"
#include "cloudwatch.h"
#include "db.h"
#include "model.h"
#include "mq.h"
#include "s3.h"
#include "secrets.h"

/* An action waiting for the fetch thread: a copy of what model_action() was given (ids and scope owned). */
struct model_pending_action {
	struct model_action a;
	struct model_filter filter;
	char scope[16];
	struct model_pending_action *next;
};

struct model {
	const struct config *cfg;
	char *actor;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;

	/* under mu: requests */
	bool dirty[MODEL_KIND_COUNT];
	struct model_filter filter;
	char job_id[JOB_ID_LEN + 1];
	char *res_prefix;
	char *res_url_key;
	int met_period, met_range;
	char fail_group[16];
	struct model_archive_filter arch_filter;
	enum model_kind visible;
	bool dead_force;         /* read the dead letters on the next fetch, whatever the interval */
	struct model_pending_action *actions, **actions_tail;

	/* under mu: answers */
	struct model_snap *snap[MODEL_KIND_COUNT];
	unsigned long snap_version[MODEL_KIND_COUNT];
	struct model_status st;
	unsigned long version;

	/* under mu: the ring of live events (model-events.c), allocated when its consumer starts */
	struct ev_record *ev_ring;
	size_t ev_head, ev_n;    /* the next slot; how many it holds */
	unsigned long ev_total;
	bool ev_live;
	/* the consumer thread: started by the fetch thread, stopped by model_free */
	bool ev_started;
	pthread_t ev_thread;
	atomic_bool ev_stop;

	bool holding;            /* dead letters are held: the fetch thread keeps their connection alive */

	/* fetch thread only */
	struct secrets *sec;
	struct db_conn *db;
	struct mq *mq;
	struct s3 *s3;
	struct cloudwatch *cw;
	struct mq *held_mq;      /* the connection holding dead letters unacked, or NULL */
	struct jobops_dead *held;
	size_t nheld;
};

/* The parameters of one fetch, copied from the requests under mu (strings owned by the caller). */
struct model_params {
	struct model_filter filter;      /* MODEL_JOBS */
	char job_id[JOB_ID_LEN + 1];     /* MODEL_JOB: "" for none */
	const char *res_prefix;          /* MODEL_RESULTS: the prefix listed, or NULL for the top */
	const char *res_url_key;         /* MODEL_RESULTS: a key to presign, or NULL */
	int met_period, met_range;       /* MODEL_METRICS: seconds */
	char fail_group[16];             /* MODEL_FAILURES: the group whose jobs to fetch, "" for none */
	struct model_archive_filter arch_filter; /* MODEL_ARCHIVE */
};

/*
 * One kind of snapshot. fetch fills s->u from the services (s->err on failure,
 * and the service state through model_set_svc), on the fetch thread without
 * mu; free releases what fetch put in s->u, not `s` itself.
 */
struct model_kind_ops {
	void (*fetch)(struct model *m, struct model_snap *s, const struct model_params *req);
	void (*free)(struct model_snap *s);
	bool after_action;       /* fetched again after an action, when it has a snapshot */
	bool timed;              /* fetched again by the refresh timer while it is shown */
};
/* Indexed by enum model_kind, an entry for each (model-fetch.c). */
extern const struct model_kind_ops model_kinds[];

/* ---- model.c: the status and the service clients ---- */

/* Record the state of `svc` (err: why it is down). Takes mu. */
void model_set_svc(struct model *m, enum model_svc svc, bool up, const char *err);
/* The status message (the outcome of an action). Takes mu. */
void model_set_msg(struct model *m, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copy `src` into dst[size] on one line (newlines and tabs become spaces). */
void model_one_line(char *dst, size_t size, const char *src);
/* The database connection, connected on demand; NULL (err set, the service down) when unreachable. */
struct db_conn *model_need_db(struct model *m, char *err, size_t size);
/* After a failed statement (e): err set; a connection that is gone is dropped, so that the next fetch reconnects. */
void model_db_failed(struct model *m, const struct buf *e, char *err, size_t size);
/* The RabbitMQ connection, connected on demand: 0, or -1 with err set (the service down). */
int model_need_mq(struct model *m, char *err, size_t size);

/* Mark `kind` for a fetch, with mu held. */
void model_mark_locked(struct model *m, enum model_kind kind);

/* ---- model-events.c ---- */

/* The MODEL_EVENTS fetch: starts the consumer on first use, copies the ring. */
void model_events_fetch(struct model *m, struct model_snap *s, const struct model_params *req);
void model_events_free(struct model_snap *s);
/* Stop the consumer (after the fetch thread ended) and free the ring. */
void model_events_stop(struct model *m);

/* ---- model-fetch.c ---- */

/*
 * job.h's filter for ours, pages of 1000: the search compiled as a query
 * (query.h) into *qs (QUERY_SQL_INIT; the caller releases it, *out borrows
 * from it). 0, or -1 with "query: column N: why" in err.
 */
struct query_sql;
int model_job_filter(const struct model_filter *f, struct query_sql *qs, struct job_filter *out, char *err,
		     size_t size);

/* ---- model-actions.c ---- */

/* Run a queued action (fetch thread, without mu); its outcome goes to the status message. */
void model_run_action(struct model *m, struct model_pending_action *pa);
/* Free a queued action. */
void model_action_free(struct model_pending_action *pa);
/*
 * While dead letters are held (MODEL_OP_DEAD_HOLD): serve their connection so
 * that its heartbeats flow during the operator's confirmation (fetch thread,
 * without mu, at least every heartbeat/2); a lost connection ends the hold.
 */
void model_dead_keepalive(struct model *m);
/* Put the dead letters held back (the fetch thread, or model_free after it ended). */
void model_dead_release(struct model *m);

#endif
