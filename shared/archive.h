/*
 * archive — the retention of finished jobs ([retention]): jobs past their
 * status's retention are written with their history to S3, then deleted from
 * PostgreSQL, each leaving a tombstone (id, tenant, status, finished and
 * archived times, the object's key) for GET /v1/jobs/{id}'s 410.
 *
 * An archive object holds the jobs of one batch, all finished on the same UTC
 * date, as gzip-compressed JSON lines, one job a line:
 *   {"finished_at": RFC 3339 UTC, "job": {every column of jobs},
 *    "events": [{every column of job_events}, ...]}
 * under PREFIX/YYYY/MM/DD/YYYYMMDDTHHMMSSZ-UUID.jsonl.gz (the date the jobs
 * finished, the first one's finish time, a random UUID).
 *
 * Order of a batch (archive_batch): read the oldest expired jobs with their
 * events (the partial index jobs_finished), PUT the object and only once S3
 * confirmed it delete them, at most ARCHIVE_DELETE_CHUNK jobs per transaction,
 * FOR UPDATE SKIP LOCKED, and only jobs unchanged since they were read (their
 * updated_at): a job locked or changed meanwhile stays, and a later sweep
 * archives it again (the newer object then holds it, and its tombstone names
 * that one). A failed PUT deletes nothing.
 *
 * One worker at a time sweeps: archive_lock takes a session advisory lock on
 * the connection, archive_unlock gives it back (closing the connection does too).
 */
#ifndef SPOOL_ARCHIVE_H
#define SPOOL_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "aws.h"
#include "buf.h"
#include "config.h"
#include "db.h"
#include "s3.h"

/* The sweep's advisory lock: JOB_REAP_LOCK_KEY's neighbours' next. */
#define ARCHIVE_LOCK_KEY "127359211762543"
/* Jobs deleted (and tombstoned) per transaction at most. */
#define ARCHIVE_DELETE_CHUNK 500
/* Bytes an archive object may have once decompressed, for the readers. */
#define ARCHIVE_MAX_BYTES (512LL * 1024 * 1024)

/* Gzip `len` bytes into `out` (appended). 0, or -1 with err. */
int archive_gzip(const void *data, size_t len, struct buf *out, struct buf *err);
/* Gunzip into `out` (appended), at most `max` bytes. 0, or -1 with err (corrupt, too large). */
int archive_gunzip(const void *data, size_t len, size_t max, struct buf *out, struct buf *err);

/*
 * The key of a new object into `out` (reset first): prefix, `day`
 * ("YYYY/MM/DD"), `first` ("YYYYMMDDTHHMMSSZ") and a random UUID.
 */
void archive_key(const char *prefix, const char *day, const char *first, struct buf *out);
/* The listing prefix of one UTC day (`t` any time of it) into `out` (reset first). */
void archive_day_prefix(const char *prefix, int64_t t, struct buf *out);

/*
 * Reading archived jobs back (adminctl jobs --archived, the TUI's Archive).
 * A query: the jobs finished from `since` to `until` (inclusive), of `tenant`
 * and `status` when not NULL (both borrowed).
 */
struct archive_query {
	time_t since, until;
	const char *tenant;
	const char *status;      /* "failed", as jobs.status */
};
/* The widest range a query may span, in seconds (ten years). */
#define ARCHIVE_QUERY_MAX_RANGE (3660 * 86400LL)

/*
 * A --since or --until as operators write it: a date ("2026-12-01", its
 * midnight UTC), or what jobops_since() takes (a duration before `now`, an
 * RFC 3339 time). 0 and *out, or -1.
 */
int archive_parse_time(const char *arg, time_t now, time_t *out);
/* Does archived line `l` ({"finished_at", "job", "events"}) pass `q`? */
bool archive_line_matches(const struct archive_query *q, json_t *l);

/*
 * Called for each matching line: `l` borrowed (json_incref to keep it),
 * `text` the line as stored. Nonzero stops the reading (archive_read then
 * returns 0).
 */
typedef int (*archive_line_fn)(void *arg, json_t *l, const char *text);

/*
 * Read back the archived jobs of `q` under `prefix` ([retention]
 * archive_prefix): each UTC day's prefix from q->since's to q->until's listed,
 * each object fetched (at most ARCHIVE_MAX_BYTES), gunzipped and read line by
 * line, fn called for each line that matches, in the order of the keys
 * (oldest day first). A line that is not JSON is skipped and counted in
 * *bad (may be NULL). 0, or -1 with err saying what failed: "cannot list
 * 'PREFIX'" or "cannot read 'KEY'" with ae saying why (S3's failure), or
 * "'KEY': gunzip: …" with ae's message empty. Blocks: call it off a UI
 * thread.
 */
int archive_read(struct s3 *s3, const char *prefix, const struct archive_query *q, archive_line_fn fn, void *arg,
		 size_t *bad, struct aws_error *ae, struct buf *err);

/* Take the sweep's lock on `c` for the session: 1 taken, 0 held elsewhere, -1 error. */
int archive_lock(struct db_conn *c, struct buf *err);
void archive_unlock(struct db_conn *c);

/*
 * One batch under cfg's [retention]: at most batch_size expired jobs, all of
 * the oldest one's finish date, archived to S3 and deleted. *archived gets the
 * jobs deleted, *full whether the read was a full batch (more may be
 * waiting), *key (may be NULL) the object written. 0 (nothing to do or done),
 * or -1 with err: the PUT failed (nothing deleted) or the database did.
 */
int archive_batch(struct db_conn *c, struct s3 *s3, const struct config *cfg, size_t *archived, bool *full,
		  struct buf *key, struct buf *err);

/* A tombstone as the API shows it. */
struct archive_tombstone {
	char status[16];
	char finished_at[40];    /* RFC 3339 UTC */
	char archived_at[40];    /* RFC 3339 UTC */
	char *key;               /* owned: free() */
};
/* The tombstone of `tenant`'s job `id`: 1 found (free out->key), 0 none, -1 error. */
int archive_tombstone_get(struct db_conn *c, const char *id, const char *tenant, struct archive_tombstone *out,
			  struct buf *err);

#endif
