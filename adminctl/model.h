/*
 * model — the TUI's data, fetched off the UI thread. No curses code here.
 *
 * A model owns one fetch thread with its own clients (database connection,
 * RabbitMQ connection, S3 and CloudWatch clients, secrets resolver). The UI asks
 * for data with model_want_*() / model_refresh() and runs actions with
 * model_action(); none of these block on a service. The fetch thread answers
 * with immutable snapshots, one current snapshot per kind, published under the
 * model's mutex: model_snap_get() returns a counted reference that stays valid
 * (and unchanged) until model_snap_put(), however many newer ones appear.
 *
 * Service state (up/down with the last error) and the result of the last action
 * are read with model_status(). A dead service shows as an error in the
 * snapshot and as "down" in the status; the thread retries on the next refresh.
 *
 * A new kind of snapshot is a member of enum model_kind (before
 * MODEL_KIND_COUNT), its struct in the union of struct model_snap, and one
 * entry of the table model_kinds in model-fetch.c: its fetch, its free and when
 * it is fetched again.
 */
#ifndef ADMINCTL_MODEL_H
#define ADMINCTL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "audit.h"
#include "config.h"
#include "events.h"
#include "job.h"
#include "joblimits.h"
#include "jobops.h"
#include "s3.h"

enum model_kind {
	MODEL_OVERVIEW,
	MODEL_JOBS,
	MODEL_JOB,
	MODEL_DEAD,
	MODEL_RESULTS,
	MODEL_METRICS,
	MODEL_AUDIT,
	MODEL_FAILURES,
	MODEL_EVENTS,            /* the live events (model-events.c): its own consumer thread fills a ring */
	MODEL_ARCHIVE,           /* archived jobs read back from S3 (archive_read) */
	MODEL_KIND_COUNT         /* not a kind: how many there are */
};

enum model_svc {
	MODEL_SVC_DB,
	MODEL_SVC_MQ,
	MODEL_SVC_S3,
	MODEL_SVC_CW,
};
#define MODEL_SVC_COUNT 4

const char *model_svc_name(enum model_svc s);

/* The jobs filter: status -1 = every status; search "" = none, else a query (query.h). */
struct model_filter {
	int status;
	char search[1024];
};

#define MODEL_QUEUES_MAX 24
struct model_queue {
	char name[64];
	bool ok;                 /* false: the broker did not answer for it */
	int64_t ready, unacked;  /* unacked -1 when unknown (AMQP fallback) */
	int64_t consumers;
	double publish_rate, deliver_rate; /* per second; < 0 unknown */
};

struct model_overview {
	bool counts_ok;          /* counts and unclaimed are valid */
	int64_t counts[JOB_STATUS_COUNT];
	int64_t unclaimed;       /* jobs queued or retrying, their message due longer than unclaimed_after ago */
	int64_t unclaimed_after; /* seconds: [worker] redrive_after */
	bool mq_ok;
	size_t nqueues;
	struct model_queue queues[MODEL_QUEUES_MAX];
	char **workers;          /* distinct worker_id of running jobs */
	size_t nworkers;
	struct joblimits_row *limits; /* the limits and pauses of tenants and types (joblimits_list) */
	size_t nlimits;
};

#define MODEL_JOBS_MAX 1000      /* rows kept for the table */
struct model_jobs {
	struct model_filter filter; /* the filter this snapshot answers */
	struct job *jobs;
	size_t n;
	size_t total;            /* every job matching the filter (one COUNT, past MODEL_JOBS_MAX) */
};

struct model_job {
	char id[JOB_ID_LEN + 1];
	bool found;
	struct job job;
	struct jobops_event *events; /* the history, oldest first */
	size_t nevents;
};

/*
 * The counts come from the management API (AMQP passive declare when it cannot
 * answer) on every fetch. The messages are read (and put back) only while the
 * Dead screen is visible (model_set_visible), at most once per refresh interval
 * and after a dead-letter action; in between a fetch keeps the last ones read.
 */
#define MODEL_DEAD_MAX 200         /* messages read for the list */
struct model_dead {
	bool ok;
	int64_t messages, consumers;
	struct jobops_dead *msgs;   /* the first of them, read and put back */
	size_t nmsgs;
	time_t read_at;             /* when msgs were read; 0: never */
};

#define MODEL_AUDIT_MAX 200        /* newest entries of the audit trail */
struct model_audit {
	struct audit_entry *entries; /* newest first */
	size_t n;
};

/* Failure groups (selection_failure_groups), and the first jobs of one of them. */
#define MODEL_GROUP_JOBS_MAX 200
struct model_failures {
	json_t *groups;          /* owned: selection.h's array of groups */
	char group[16];          /* the group whose jobs were fetched, "" for none */
	json_t *jobs;            /* owned: its first jobs {id, type, tenant, status, error_code}, or NULL */
};

/*
 * The newest MODEL_EVENTS_MAX events of spool.events seen since the Events
 * screen was first shown, newest first (copied from the consumer's ring).
 */
#define MODEL_EVENTS_MAX 1000
struct model_events {
	struct ev_record *ev;
	size_t n;
	unsigned long total;     /* events seen in all */
	bool live;               /* the consumer is subscribed (false: RabbitMQ is away) */
};

/* The archived jobs asked for: finished from since to until, of a tenant ("" any), a status (-1 any). */
struct model_archive_filter {
	time_t since, until;
	char tenant[128];
	int status;
};

/*
 * Archived jobs read back, newest first (the archive's order reversed): the
 * newest MODEL_ARCHIVE_MAX of those matching.
 */
#define MODEL_ARCHIVE_MAX 1000
struct model_archive {
	struct model_archive_filter filter; /* the filter this snapshot answers */
	json_t *lines;           /* owned: array of the archived lines {"finished_at", "job", "events"} */
	bool more;               /* more matched than MODEL_ARCHIVE_MAX: the older ones are left out */
	size_t bad;              /* lines skipped, not JSON */
};

struct model_results {
	char *prefix;            /* the prefix this snapshot lists ("" = top) */
	char **prefixes;
	size_t nprefixes;
	struct s3_object *objs;
	size_t nobjs;
	char *url;               /* presigned URL of url_key, or NULL */
	char *url_key;
	time_t url_expires;
};

/* The series the Metrics screen shows, in order. */
#define MODEL_METRICS_COUNT 6
struct model_metric {
	const char *title;       /* "jobs submitted" */
	const char *metric;      /* CloudWatch name in the [cloudwatch] namespace */
	const char *stat;
	const char *unit;        /* for the label */
};
extern const struct model_metric model_metrics[MODEL_METRICS_COUNT];

struct model_series {
	size_t n;                /* points, oldest first, one per period */
	double *values;          /* NAN where CloudWatch had no point */
};

struct model_metrics_snap {
	int period;              /* seconds */
	int range;               /* seconds */
	time_t start, end;
	struct model_series series[MODEL_METRICS_COUNT];
};

struct model_snap {
	enum model_kind kind;
	int refs;                /* private */
	unsigned long version;   /* grows with every published snapshot of this kind */
	time_t at;               /* when fetched */
	char err[256];           /* "" when the fetch worked; then the part below is valid */
	union {
		struct model_overview ov;
		struct model_jobs jobs;
		struct model_job job;
		struct model_dead dead;
		struct model_results res;
		struct model_metrics_snap met;
		struct model_audit audit;
		struct model_failures fail;
		struct model_events events;
		struct model_archive arch;
	} u;
};

struct model_status {
	bool known[MODEL_SVC_COUNT];  /* false until the service was tried */
	bool up[MODEL_SVC_COUNT];
	char err[MODEL_SVC_COUNT][256];
	bool busy[MODEL_KIND_COUNT];  /* a fetch of this kind is pending or running */
	bool action_busy;
	unsigned long msg_version;    /* grows with every new message */
	char msg[256];                /* the outcome of the last action */
	bool msg_error;
	/* the last selection resolved by MODEL_OP_GROUP_SELECT or _FILTER_SELECT, for its confirmation */
	unsigned long sel_version;    /* grows with every one */
	char sel_id[24];              /* "" when it failed or nothing matched */
	long long sel_count;
	char sel_action[16];          /* "retry", "cancel" */
	char sel_sample[48];          /* its first ids, 8 characters each: "0a1b2c3d 4e5f6a7b …" */
	/* the dead letters held by the last MODEL_OP_DEAD_HOLD, for their confirmation */
	unsigned long held_version;   /* grows with every hold (and when a hold is lost) */
	long long held_count;         /* messages held; 0 none (empty, failed or lost: the message says) */
	long long held_poison;        /* of them, poison messages */
};

enum model_op {
	MODEL_OP_RETRY,
	MODEL_OP_CANCEL,
	MODEL_OP_DEAD_RETRY,     /* the jobs of the dead letters of `ids` (nids 0: of the held ones) */
	MODEL_OP_DEAD_HOLD,      /* read the first `limit` dead letters and hold them unacked: status held_* */
	MODEL_OP_DEAD_PURGE,     /* drop exactly the dead letters held */
	MODEL_OP_DEAD_RELEASE,   /* put the dead letters held back */
	MODEL_OP_GROUP_SELECT,   /* resolve a selection of failure group `group` to retry (or `cancel`): status sel_* */
	MODEL_OP_FILTER_SELECT,  /* resolve a selection of the jobs matching `filter` to retry (or `cancel`): sel_* */
	MODEL_OP_SELECTION_ACT,  /* act on selection `selection`, resolved and confirmed */
	MODEL_OP_SELECTION_DECLINE, /* the operator said no to selection `selection` */
	MODEL_OP_PAUSE,          /* pause tenant or type `limit_name` (joblimits.h), as `adminctl pause` */
	MODEL_OP_RESUME,         /* resume it, as `adminctl resume` */
	MODEL_OP_LIMIT_SET,      /* set its max_running, as `adminctl limits set --max-running|--unlimited` */
};

/*
 * An action on explicit ids (nids > 0), or (MODEL_OP_FILTER_SELECT, and the
 * MODEL_OP_SELECTION_ACT of its selection) on the jobs matching `filter`; the
 * dead-letter ops use only `ids`, `scope` and `limit`.
 */
struct model_action {
	enum model_op op;
	char **ids;              /* copied by model_action() */
	size_t nids;
	bool use_filter;
	struct model_filter filter;
	const char *scope;       /* "selected", "marked", "filter", "group": for the audit trail */
	char group[16];          /* MODEL_OP_GROUP_SELECT: the failure group */
	bool cancel;             /* MODEL_OP_GROUP_SELECT, _FILTER_SELECT: a cancel, not a retry */
	char selection[24];      /* MODEL_OP_SELECTION_ACT, _DECLINE */
	int limit;               /* MODEL_OP_DEAD_HOLD: at most this many (the ones shown) */
	bool quiet;              /* MODEL_OP_SELECTION_DECLINE, _DEAD_RELEASE: no status message (the UI says why) */
	enum joblimits_scope limit_scope;          /* MODEL_OP_PAUSE, _RESUME, _LIMIT_SET: a tenant or a type */
	char limit_name[JOBLIMITS_NAME_MAX + 1];   /* its name ('*': the scope's default) */
	int64_t max_running;     /* MODEL_OP_LIMIT_SET: >= 0, or -1 for unlimited */
};

struct model;

/* Start the fetch thread. `cfg` is borrowed and must outlive the model. */
struct model *model_new(const struct config *cfg, const char *actor);
/* Stop the thread (waits for a running fetch to end) and free everything. */
void model_free(struct model *m);

/* Set what the parametrised kinds should fetch; each marks its kind for a fetch. */
void model_want_jobs(struct model *m, const struct model_filter *f);
void model_want_job(struct model *m, const char *id);
void model_want_results(struct model *m, const char *prefix);
/* Presign `key` (into the results snapshot, keeping its listing). */
void model_want_url(struct model *m, const char *key);
void model_want_metrics(struct model *m, int period, int range);
/* The failure groups, and the first jobs of `group` ("" or NULL: none). */
void model_want_failures(struct model *m, const char *group);
/* The archived jobs of `f`. */
void model_want_archive(struct model *m, const struct model_archive_filter *f);
/* The kind the UI shows now: the dead letters are read only while it is MODEL_DEAD. */
void model_set_visible(struct model *m, enum model_kind kind);
/* Fetch `kind` again with its current parameters. */
void model_refresh(struct model *m, enum model_kind kind);
/* Whether `kind` is worth fetching again on the refresh timer while it is shown (not the results listing). */
bool model_kind_timed(enum model_kind kind);

/* Queue an action (run by the fetch thread, audited); the outcome goes to the status message. */
void model_action(struct model *m, const struct model_action *a);

/* The current snapshot of `kind` (a new reference), or NULL before the first fetch. */
struct model_snap *model_snap_get(struct model *m, enum model_kind kind);
void model_snap_put(struct model *m, struct model_snap *s);

/* A copy of the service and message state. */
void model_status(struct model *m, struct model_status *out);
/* Bumped whenever a snapshot or the status changes: the UI redraws when it moves. */
unsigned long model_version(struct model *m);

#endif
