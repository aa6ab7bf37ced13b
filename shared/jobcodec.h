/*
 * jobcodec — the encodings of a job, pure (no database, no I/O): the queue
 * message of spool.jobs, the events of spool.events, the opaque cursor of
 * GET /v1/jobs and the job as the API shows it. The decoders take untrusted
 * bytes (deliveries, query strings) and check everything they return.
 *
 * Ownership: encoders write into a caller's struct buf, reset first (the
 * caller releases it); jobcodec_to_json returns a new reference. Errors:
 * decoders return -1, with one line in `err` where they take one.
 */
#ifndef SPOOL_JOBCODEC_H
#define SPOOL_JOBCODEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "job.h"
#include "jobprio.h"

/*
 * The queue message for a job: {"v":1,"job_id":"…","type":"…","attempt":N} where
 * attempt is the attempt the delivery is for (jobs.attempts + 1 when queued),
 * then ,"priority":"high" or "low" for a job not of normal priority (absent:
 * normal, as in the messages of the releases before priorities). The
 * priority says which queue the message goes back to (retries, copies).
 */
struct jobcodec_message {
	int version;             /* 1 */
	char id[JOB_ID_LEN + 1];
	char type[64];
	int attempt;
	enum jobprio priority;
};
/* The message of `j` for `attempt` into `m`. */
void jobcodec_message_of(const struct job *j, int attempt, struct jobcodec_message *m);
/* Encode into `out` (reset first). */
void jobcodec_message_encode(const struct jobcodec_message *m, struct buf *out);
/* Decode untrusted bytes; -1 with a reason in `err` (poison message). */
int jobcodec_message_decode(const char *data, size_t len, struct jobcodec_message *m, struct buf *err);

/*
 * An event for spool.events: routing key "job.<name>", JSON body
 * {"v":1,"event":"job.<name>","job_id","type","tenant","status","attempt","at","error","priority",
 * "callback"}: "callback" is true when the job has a callback_url (a webhook).
 * `event` is "started" or "job.started" (the prefix is added when missing).
 */
void jobcodec_event_encode(const struct job *j, const char *event, struct buf *out);
/* The same with the time of the next attempt ("next_attempt_at"; 0 leaves it out). */
void jobcodec_event_encode_next(const struct job *j, const char *event, time_t next_attempt_at, struct buf *out);

/*
 * The opaque list cursor for a position: created_at in microseconds since the
 * epoch and the job id, as base64url of "MICROS:ID". Decode checks both parts;
 * -1 if malformed (or NULL).
 */
void jobcodec_cursor_encode(int64_t micros, const char *id, struct buf *out);
int jobcodec_cursor_decode(const char *cursor, int64_t *micros, char id[JOB_ID_LEN + 1]);

/* The API's JSON shape (the README's "The REST API", spool-api(8)) without presigned URLs. New reference. */
json_t *jobcodec_to_json(const struct job *j);

#endif
