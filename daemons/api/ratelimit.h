/*
 * ratelimit — token buckets for many ids in a table of fixed size, for spool-api's
 * per-key request limit and its per-address limit of failed authentications.
 *
 * An id is 32 bytes that the caller makes uniformly distributed and unguessable
 * (a keyed hash: the API key's stored hash, an HMAC of a client address). Each id
 * has a bucket of `burst` tokens refilled at `rate` per second; a request takes a
 * token. The table never grows: it is set-associative (RATELIMIT_WAYS entries per
 * set, the set chosen by the id's first bytes) and a new id takes an empty entry
 * of its set, or else the entry of an idle id, one whose bucket has refilled to
 * full — a fresh bucket is full too, so evicting it gives nobody tokens back. A
 * bucket that is still refilling is never evicted, so draining it and then
 * crowding the table does not reset it. When every entry of the set is still
 * refilling the new id cannot be tracked and the caller is told so
 * (RATELIMIT_FULL) to decide for itself.
 *
 * Times are clock_now_ns() values passed in (the unit tests pass their own).
 * Thread safe: each set is guarded by one of a fixed number of mutexes.
 * Nothing here touches libmicrohttpd, so the unit test links this file alone.
 */
#ifndef SPOOL_API_RATELIMIT_H
#define SPOOL_API_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_WAYS 8

enum ratelimit_rc {
	RATELIMIT_OK = 0,    /* a token was there (and was taken, by ratelimit_take) */
	RATELIMIT_EMPTY,     /* the bucket is empty: refuse */
	RATELIMIT_FULL,      /* the id has no bucket and its set has no room for one */
};

struct ratelimit;

/* A table of at least `capacity` buckets (rounded up to a power of two, at least RATELIMIT_WAYS). */
struct ratelimit *ratelimit_new(size_t capacity);
void ratelimit_free(struct ratelimit *rl);

/*
 * Take a token from the bucket of `id`, refilled at `rate` tokens per second up to
 * `burst` (both > 0; the bucket keeps the latest values). An id not in the table
 * gets a full bucket first when its set has room.
 */
enum ratelimit_rc ratelimit_take(struct ratelimit *rl, const unsigned char id[32], double rate,
				 double burst, uint64_t now_ns);

/*
 * Whether `id` could take a token now, without taking it: RATELIMIT_OK when its
 * bucket has one or when it has no bucket and its set has room for one,
 * RATELIMIT_EMPTY, or RATELIMIT_FULL.
 */
enum ratelimit_rc ratelimit_peek(struct ratelimit *rl, const unsigned char id[32], uint64_t now_ns);

/* Ids with a bucket now (a count for tests and metrics; takes every lock). */
size_t ratelimit_count(struct ratelimit *rl);

#endif
