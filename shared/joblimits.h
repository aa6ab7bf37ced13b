/*
 * joblimits — how many jobs of a tenant or of a job type may run at once across
 * every worker, and whether they may start at all (paused). The limits live in
 * the `limits` table, so a change takes effect at the next claim of any worker,
 * without a restart, and survives restarts:
 *
 *   scope 'tenant' | 'type', name (a tenant id or a type name; '*' = the default
 *   of the scope, for names without a row of their own), max_running (NULL =
 *   unlimited), paused, updated_at, updated_by.
 *
 * The effective limit of a name is its own row, else the scope's '*' row, else
 * none (unlimited, not paused). A job may start when neither its tenant nor its
 * type is paused and both have fewer running jobs than their max_running. The
 * claim that enforces it (job_claim) and the wake-up of the jobs it deferred
 * (job_wake_deferred) are job.h's; this module reads and writes the table and
 * holds the pure decision.
 *
 * Errors: -1 with one line in `err`.
 */
#ifndef SPOOL_JOBLIMITS_H
#define SPOOL_JOBLIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "db.h"

enum joblimits_scope {
	JOBLIMITS_TENANT,
	JOBLIMITS_TYPE,
};
#define JOBLIMITS_SCOPE_COUNT 2

/* "tenant" or "type". */
const char *joblimits_scope_name(enum joblimits_scope s);
/* 0 and *out, or -1 if `s` names no scope. */
int joblimits_scope_parse(const char *s, enum joblimits_scope *out);
/* The longest name accepted (tenant ids and type names are shorter). */
#define JOBLIMITS_NAME_MAX 200
/* A name joblimits_set and joblimits_pause accept: 1..JOBLIMITS_NAME_MAX printable ASCII, no space. */
bool joblimits_name_valid(const char *name);

/* The effective limit of one tenant or type, and how many of its jobs run. */
struct joblimits_eff {
	bool limited;        /* max_running is set */
	int64_t max_running;
	bool paused;
	int64_t running;     /* meaningful when limited */
};

/* Why a job may not start now (joblimits_decide). */
enum joblimits_verdict {
	JOBLIMITS_START = 0,
	JOBLIMITS_TENANT_PAUSED,
	JOBLIMITS_TYPE_PAUSED,
	JOBLIMITS_TENANT_FULL,
	JOBLIMITS_TYPE_FULL,
};

/*
 * Pure: may a job whose tenant and type have the effective limits `tenant` and
 * `type` start? A pause wins over a full limit, the tenant over the type.
 */
enum joblimits_verdict joblimits_decide(const struct joblimits_eff *tenant, const struct joblimits_eff *type);
/* The reason as job_events' detail says it: "tenant paused", "type limit", … ("" for JOBLIMITS_START). */
const char *joblimits_verdict_reason(enum joblimits_verdict v);

/*
 * One row of the table, or a tenant or type with jobs not finished and no row
 * of its own (`own` false: the scope's '*' row applies, or none), or a tenant
 * with a default priority and no row of limits (`own` false too). The counts
 * are of its jobs now; a '*' row's are the sums of the names it governs (those
 * without a row of their own).
 */
struct joblimits_row {
	enum joblimits_scope scope;
	char *name;
	bool own;            /* a row of its own in the table */
	bool limited;        /* the effective limit: its own row's, else '*''s */
	int64_t max_running;
	bool paused;
	int64_t running;     /* jobs running */
	int64_t waiting;     /* queued or retrying, not deferred */
	int64_t deferred;    /* queued or retrying, held back by a limit or pause */
	double oldest_wait_s; /* age of its oldest waiting or deferred job (since run_at or created_at); 0: none */
	char updated_at[40]; /* "" when not own */
	char *updated_by;
	char priority[8];    /* a tenant's default priority (tenant_priorities), "" when none is set */
};

/*
 * Every row of the table, then at most `max_others` tenants and types with jobs
 * running or waiting and no row of their own (the busiest), tenants then types,
 * by name, and every tenant with a default priority but no row: *rows an array
 * of *n (free with joblimits_rows_free).
 */
/* The tenants and types without a row that adminctl lists at most. */
#define JOBLIMITS_LIST_OTHERS 50
int joblimits_list(struct db_conn *c, size_t max_others, struct joblimits_row **rows, size_t *n, struct buf *err);
void joblimits_rows_free(struct joblimits_row *rows, size_t n);

/* Set (create) the row's max_running: `max_running` >= 0, or -1 for unlimited. Keeps `paused`. */
int joblimits_set(struct db_conn *c, enum joblimits_scope scope, const char *name, int64_t max_running,
	       const char *actor, struct buf *err);
/* Set (create) the row's paused flag. *changed (may be NULL) says whether it was otherwise before. */
int joblimits_pause(struct db_conn *c, enum joblimits_scope scope, const char *name, bool paused, const char *actor,
		 bool *changed, struct buf *err);

/*
 * The names paused now, each "tenant:NAME" or "type:NAME" ('*' included), appended
 * to *names (an array of *n malloc'd strings; free each, then the array). At most `max`.
 */
int joblimits_paused_names(struct db_conn *c, size_t max, char ***names, size_t *n, struct buf *err);

#endif
