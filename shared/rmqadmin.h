/*
 * rmqadmin — a client of the RabbitMQ management HTTP API (libcurl).
 *
 * The base URL is [rabbitmq] management_url (http://host:15672); credentials
 * are the username/password of the [rabbitmq] secret, the vhost its vhost
 * ("/" when absent). Every request has a connect timeout of
 * rabbitmq.connect_timeout and a total timeout of RMQADMIN_TIMEOUT_S, so a
 * dead broker costs seconds, not minutes.
 *
 * Return convention: 0 success; RMQADMIN_DOWN when the API could not be
 * reached (no management_url, connection refused, timeout, 5xx) — callers fall
 * back to AMQP; RMQADMIN_ERROR when it answered with an error (401, 404, bad
 * JSON). `err` gets one line naming the URL (never the password).
 */
#ifndef SPOOL_RMQADMIN_H
#define SPOOL_RMQADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "secrets.h"

#define RMQADMIN_DOWN (-2)
#define RMQADMIN_ERROR (-1)
#define RMQADMIN_TIMEOUT_S 10L

/* One queue of the vhost as GET /api/queues/{vhost} describes it. */
struct rmqadmin_queue {
	char *name;            /* owned */
	int64_t ready;         /* messages_ready */
	int64_t unacked;       /* messages_unacknowledged */
	int64_t consumers;
	double publish_rate;   /* messages/s, message_stats.publish_details.rate; 0 when absent */
	double deliver_rate;   /* deliver_get_details.rate */
	double ack_rate;       /* ack_details.rate */
	bool durable;
};

/*
 * Every queue of the secret's vhost, sorted by name. *out is an array of *n
 * (free with rmqadmin_queues_free). 0, RMQADMIN_DOWN or RMQADMIN_ERROR.
 */
int rmqadmin_queues(const struct config *cfg, struct secrets *sec, struct rmqadmin_queue **out, size_t *n,
		    struct buf *err);
void rmqadmin_queues_free(struct rmqadmin_queue *q, size_t n);

/*
 * The permissions of a broker user on its vhost: the configure, write and read
 * regular expressions of RabbitMQ. rmqadmin_api_perms and rmqadmin_worker_perms
 * are those of spool-api's and spool-worker's own users, limited to the spool.*
 * resources each uses (and amq.default, the default exchange, which the
 * delay queues and a dead-letter declaration need write on): the one source
 * of them (adminctl db bootstrap makes the users with them, in the local stack too).
 */
struct rmqadmin_perms {
	const char *configure, *write, *read;
};
extern const struct rmqadmin_perms rmqadmin_api_perms, rmqadmin_worker_perms;

/* What rmqadmin_user_ensure did. */
enum rmqadmin_user_change {
	RMQADMIN_USER_UNCHANGED,
	RMQADMIN_USER_CREATED,
	RMQADMIN_USER_UPDATED,
};

/*
 * Make user `name` exist with `password`, no tags, and exactly `perms` on
 * `vhost` ("/" when NULL or empty), through the management API with the
 * [rabbitmq] secret's (the administrator's) credentials. The user's stored
 * password hash is checked against `password` (RabbitMQ's salted SHA-256 or
 * SHA-512), so a user already right is not written to: *change says what was
 * done. The password never appears in `err`. 0, RMQADMIN_DOWN or RMQADMIN_ERROR.
 */
int rmqadmin_user_ensure(const struct config *cfg, struct secrets *sec, const char *name, const char *password,
			 const char *vhost, const struct rmqadmin_perms *perms, enum rmqadmin_user_change *change,
			 struct buf *err);

/*
 * Whether `password` is the one RabbitMQ's `hash` (base64 of a 4-byte salt and
 * the digest of salt + password) was made from with `algorithm`
 * ("rabbit_password_hashing_sha256" or "..._sha512"); false for any other.
 */
bool rmqadmin_password_matches(const char *algorithm, const char *hash, const char *password);

#endif
