/*
 * mq — RabbitMQ over AMQP 0-9-1 (librabbitmq-c).
 *
 * One struct mq is one connection with one channel, used by ONE thread
 * (librabbitmq connections are not thread safe). Credentials come from the
 * [rabbitmq] secret; the broker's nodes from [rabbitmq] endpoints, else the
 * secret's "hosts", else its "host" and "port" (mq_endpoints). A connection
 * tries the nodes in a random order, and a reconnect tries the node it lost
 * last (mq_endpoints_order), so that the daemons' reconnect loops, with their
 * jittered backoff, fail over to another node of a cluster.
 *
 * The topology of spool(7) (RabbitMQ topology) is declared idempotently by
 * mq_declare_topology(); the shared queues are of the type [rabbitmq]
 * queue_type says (quorum by default, mq_queue_args gives their arguments):
 *   exchange spool.jobs (direct) -> queue spool.jobs (durable, routing key "job",
 *       x-dead-letter-exchange "" / x-dead-letter-routing-key spool.dead;
 *       quorum: x-delivery-limit MQ_DELIVERY_LIMIT, at-least-once dead-lettering)
 *   -> queues spool.jobs.high (key "job.high") and spool.jobs.low (key
 *       "job.low"), the same arguments: one queue per priority (jobprio.h)
 *   queue spool.dead (durable)
 *   delay queues spool.retry.<seconds>, spool.retry.high.<seconds> and
 *       spool.retry.low.<seconds> (declared on demand by mq_publish_delayed:
 *       x-message-ttl, dead-letter back to exchange spool.jobs with the key of
 *       their priority, x-expires)
 *   exchange spool.events (topic) -> queue spool.events.api bound with the final
 *       events' keys only (mq_final_events): its consumer, the API's webhooks,
 *       needs no other, and every other event routed there would be a quorum
 *       write, a delivery and an ack for nothing. Other subscribers bind queues
 *       of their own (adminctl events: "job.#"). The "job.#" binding of earlier
 *       releases is removed at the declare.
 * A shared queue that exists with other arguments (another type) is not
 * touched: its declare fails with MQ_MISMATCH and a message naming the queue
 * and the way out (adminctl queues migrate, which uses mq_queue_move).
 * Per-process queues (mq_declare_private_queue) are always classic.
 * All publishes use publisher confirms and persistent delivery, and are
 * mandatory (a message no queue takes fails its publish) except the events on
 * spool.events, which are dropped when no queue is bound for them.
 *
 * TLS (AMQPS) when [rabbitmq] tls is set or a node's port is 5671: the
 * broker's certificate chain and host name are verified against [rabbitmq]
 * ca_file, else the system's trust store.
 */
#ifndef SPOOL_MQ_H
#define SPOOL_MQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "jobprio.h"
#include "secrets.h"

#define MQ_JOBS_EXCHANGE "spool.jobs"
#define MQ_JOBS_QUEUE "spool.jobs"
#define MQ_JOBS_KEY "job"
#define MQ_JOBS_HIGH_QUEUE "spool.jobs.high"
#define MQ_JOBS_HIGH_KEY "job.high"
#define MQ_JOBS_LOW_QUEUE "spool.jobs.low"
#define MQ_JOBS_LOW_KEY "job.low"
#define MQ_DEAD_QUEUE "spool.dead"
#define MQ_EVENTS_EXCHANGE "spool.events"
#define MQ_EVENTS_API_QUEUE "spool.events.api"
/* The routing keys of the final events (a job reached succeeded, failed or cancelled). */
#define MQ_NFINAL_EVENTS 3
extern const char *const mq_final_events[MQ_NFINAL_EVENTS];
/* Whether routing key `key` (may be NULL) is a final event's. */
bool mq_event_is_final(const char *key);
#define MQ_RETRY_PREFIX "spool.retry."
#define MQ_RETRY_HIGH_PREFIX "spool.retry.high."
#define MQ_RETRY_LOW_PREFIX "spool.retry.low."
/* A delay queue lives this long past its TTL after its last use (x-expires). */
#define MQ_RETRY_EXPIRE_S 300
/*
 * Deliveries of a message of spool.jobs (a quorum queue) returned to it, by a
 * reject with requeue or because their consumer's channel closed, after which
 * the broker dead-letters it to spool.dead: the second line against a message
 * that makes its consumer crash (the first: a worker rejects a message it cannot
 * read without requeue). A worker gives a delivery that waited for a free
 * thread back by publishing a copy, which does not count.
 */
#define MQ_DELIVERY_LIMIT 10
/* mq_declare_topology / mq_declare_queue: the queue exists with other arguments. */
#define MQ_MISMATCH (-2)

/* Amazon MQ for RabbitMQ accepts only AMQPS, on this port. */
#define MQ_AMQPS_PORT 5671

struct mq;

/* Whether to connect with TLS: [rabbitmq] tls, or the node's port is 5671. */
bool mq_use_tls(const struct config *cfg, int port);

/*
 * The broker's nodes: [rabbitmq] endpoints when set, else the secret's
 * "hosts", else its "host" and "port". *out is an array of *n (free with
 * config_endpoints_free). 0, or -1 + err.
 */
int mq_endpoints(const struct config *cfg, const struct mq_secret *s, struct config_endpoint **out, size_t *n,
		 struct buf *err);
/*
 * Put the `n` nodes in the order a connection tries them: shuffled (`rnd`
 * returns random numbers; NULL: getrandom), then `last` (the node of the
 * connection being replaced; NULL or a NULL host: none) moved to the end.
 */
void mq_endpoints_order(struct config_endpoint *e, size_t n, const struct config_endpoint *last,
			uint32_t (*rnd)(void *arg), void *arg);

enum mq_queue_type { MQ_QUORUM, MQ_CLASSIC };
/* [rabbitmq] queue_type */
enum mq_queue_type mq_config_queue_type(const struct config *cfg);
const char *mq_queue_type_name(enum mq_queue_type t);

/* What a queue of spool is for: its arguments follow from it. */
enum mq_queue_role {
	MQ_ROLE_JOBS,   /* spool.jobs, spool.jobs.high, spool.jobs.low */
	MQ_ROLE_DEAD,   /* spool.dead: no delivery limit, as `dead list` reads and gives back */
	MQ_ROLE_EVENTS, /* spool.events.api: no delivery limit, webhooks requeue while the database is away */
	MQ_ROLE_RETRY,  /* spool.retry.<seconds>, spool.retry.high.<seconds>, spool.retry.low.<seconds> */
	MQ_ROLE_HOLD,   /* where adminctl queues migrate keeps messages meanwhile: the type only */
};
/* One x-argument of a queue.declare: a string, or (str NULL) a number. */
struct mq_arg {
	const char *key;
	const char *str;
	int64_t num;
};
#define MQ_ARGS_MAX 8
/*
 * The arguments a queue of `role` is declared with for queue type `type`
 * (delay_s: the TTL of a delay queue, which dead-letters to key "job") into
 * `out`; returns how many. Classic queues get exactly the arguments of the
 * releases before quorum queues.
 */
size_t mq_queue_args(enum mq_queue_type type, enum mq_queue_role role, int delay_s, struct mq_arg out[MQ_ARGS_MAX]);
/* The same for the delay queues of priority `p`, which dead-letter to its key. */
size_t mq_queue_args_prio(enum mq_queue_type type, enum mq_queue_role role, int delay_s, enum jobprio p,
			  struct mq_arg out[MQ_ARGS_MAX]);

struct mq_delivery {
	uint64_t tag;
	char *body;        /* NUL-terminated copy, owned by the delivery */
	size_t len;
	char *routing_key; /* owned */
	bool redelivered;
	int consumer;      /* which consumer of the connection it came to: 0 for the first mq_consume, … */
};
/* The consumers one connection may run at once (mq_consume). */
#define MQ_CONSUMERS_MAX 4

/* A disconnected client; never NULL. */
struct mq *mq_new(const struct config *cfg, struct secrets *sec);
void mq_free(struct mq *m);

/* Connect (or reconnect) and open the channel with confirms on. 0 or -1 + err. */
int mq_connect(struct mq *m, struct buf *err);
bool mq_connected(const struct mq *m);
void mq_disconnect(struct mq *m);

/*
 * Declare the topology: 0, -1 + err, or MQ_MISMATCH when one of the shared
 * queues exists with other arguments (another type): `err` then names the
 * queue, the types and the way out, and a daemon should exit 78 (EX_CONFIG):
 * retrying cannot help.
 */
int mq_declare_topology(struct mq *m, struct buf *err);
/*
 * Bind `queue` as the topology binds the queue of `role` (spool.jobs: to
 * exchange spool.jobs with key "job", spool.jobs.high and spool.jobs.low with
 * theirs, another queue of the role as the one its name ends with, else with
 * "job"; spool.events.api: to
 * spool.events with the final events' keys, removing an old "job.#"; the
 * others have no binding), declaring the exchange. 0 or -1 + err.
 */
int mq_bind_as(struct mq *m, const char *queue, enum mq_queue_role role, struct buf *err);
/*
 * Declare one queue of `role` (a delay queue's TTL comes from its name) with
 * the arguments of [rabbitmq] queue_type: 0, -1 + err, or MQ_MISMATCH + err as
 * mq_declare_topology (the connection stays usable); then *have (when `have`
 * is not NULL) is the type it has, "classic" or "quorum", or NULL when it has
 * the arguments of neither.
 */
int mq_declare_queue(struct mq *m, const char *queue, enum mq_queue_role role, const char **have, struct buf *err);

/*
 * Declare a queue private to this connection (exclusive, auto-delete, not
 * durable: it disappears with the connection) and bind it to `exchange` with
 * each of the `nkeys` routing keys. For per-process fan-out (every API process
 * sees every event), unlike the shared spool.events.api. max_length > 0: the
 * queue keeps at most that many messages, dropping the oldest (x-max-length),
 * so that a slow consumer cannot fill the broker's memory.
 */
int mq_declare_private_queue(struct mq *m, const char *queue, const char *exchange, const char *const *keys,
			     size_t nkeys, int64_t max_length, struct buf *err);

/*
 * Bind (`bind` true) or unbind `queue` to or from `exchange` with each of the
 * `nkeys` routing keys; each is confirmed by the broker (queue.bind-ok,
 * queue.unbind-ok) before the next, so on 0 the bindings are in place (or
 * gone). Deliveries that arrive meanwhile on a consuming connection are kept
 * for mq_next. 0, or -1 + err (then disconnect and reconnect).
 */
int mq_bind_keys(struct mq *m, const char *queue, const char *exchange, const char *const *keys, size_t nkeys,
		 bool bind, struct buf *err);

/* Publish and wait for the broker's confirm (timeout from config). 0 or -1. */
int mq_publish(struct mq *m, const char *exchange, const char *routing_key, const char *body,
	       size_t len, struct buf *err);
/*
 * Publish without waiting for the confirm: the next mq_publish() (or
 * mq_publish_delayed()) on this connection waits for it too, and reports its
 * failure as its own. For notifications that may be lost with the connection
 * (a reconnect forgets unconfirmed messages). 0, or -1 when it could not be sent
 * (or the earlier ones it waited for, MQ_NOWAIT_MAX being pending, failed).
 */
int mq_publish_nowait(struct mq *m, const char *exchange, const char *routing_key, const char *body, size_t len,
		      struct buf *err);
/*
 * Wait for the confirms of the messages mq_publish_nowait() sent (0 at once when
 * there are none). mq_publish_nowait() does this itself once MQ_NOWAIT_MAX are
 * pending. 0, or -1 (nack, unroutable, lost connection) with `err`.
 */
int mq_confirm_wait(struct mq *m, struct buf *err);
#define MQ_NOWAIT_MAX 256
/* One message of mq_publish_batch(); the strings are borrowed. */
struct mq_message {
	const char *exchange;
	const char *routing_key;
	const char *body;
	size_t len;
};
/*
 * Publish `n` messages, then wait for all their confirms at once (the broker
 * confirms a batch with one disk sync, not n), and for those of the messages
 * mq_publish_nowait() sent before (their failure is the batch's). When the
 * connection is lost meanwhile (the broker closed it: a restart), the whole
 * batch is sent once more on a new connection (those sent before without
 * waiting are then forgotten, as mq_publish_nowait allows), so consumers must
 * tolerate duplicates. 0 when every one was confirmed; -1 otherwise (some may
 * have been delivered: whoever sends them again must tolerate duplicates too).
 */
int mq_publish_batch(struct mq *m, const struct mq_message *msgs, size_t n, struct buf *err);
/*
 * As mq_publish_batch, but a message the broker refuses (basic.nack: a queue
 * at its length limit with overflow reject-publish) only sets refused[i]
 * (`refused` has n flags, zeroed first): 0 when every message was confirmed or
 * refused, -1 when the connection failed (twice: a batch whose connection was
 * lost is sent again on a new one, as mq_publish_batch) or a message came back
 * unroutable. The messages mq_publish_nowait() sent before are waited for first.
 */
int mq_publish_batch_refused(struct mq *m, const struct mq_message *msgs, size_t n, unsigned char *refused,
			    struct buf *err);
/*
 * Publish to the delay queue of `delay_s` seconds of priority `p`
 * (spool.retry.<delay_s>, spool.retry.high.<delay_s>, …; declared if needed)
 * so it returns to the queue of that priority later. A delay queue of the
 * other type (left from before queue_type changed) is used as it is.
 */
int mq_publish_delayed(struct mq *m, int delay_s, enum jobprio p, const char *body, size_t len, struct buf *err);

/*
 * Start consuming `queue` with manual acks and the given prefetch (of this
 * consumer: basic.qos per consumer). Called again on the same connection, it
 * starts another consumer, up to MQ_CONSUMERS_MAX; a delivery's `consumer`
 * says which, in the order they were started.
 */
int mq_consume(struct mq *m, const char *queue, int prefetch, struct buf *err);
/*
 * Wait up to timeout_ms for a delivery: 1 and `d` filled, 0 on timeout, -1 on a
 * connection error (then reconnect and consume again).
 */
int mq_next(struct mq *m, struct mq_delivery *d, int timeout_ms, struct buf *err);
void mq_delivery_free(struct mq_delivery *d);
/*
 * For a consumer that waits in poll(2) on more than the connection: the socket to
 * poll for input (-1 when not connected), and whether librabbitmq already holds
 * received data or frames (then do not poll: mq_next(m, d, 0, err) returns them).
 * mq_next must still be called at least every heartbeat/2 so heartbeats flow.
 */
int mq_fd(const struct mq *m);
bool mq_buffered(const struct mq *m);
/*
 * Change the prefetch (basic.qos); on a consuming connection the consumers are
 * restarted, since RabbitMQ fixes a prefetch at basic.consume (unacked
 * deliveries stay valid). 0 or -1 + err.
 */
int mq_qos(struct mq *m, int prefetch, struct buf *err);
int mq_ack(struct mq *m, uint64_t tag);
/* Acknowledge every delivery of the channel up to `tag` at once (basic.ack multiple). */
int mq_ack_multiple(struct mq *m, uint64_t tag);
/* Reject; requeue puts it back, else it dead-letters per the queue's policy. */
int mq_reject(struct mq *m, uint64_t tag, bool requeue);

/* Passive declare: message and consumer counts of a queue. 0, or -1 (missing / error). */
int mq_queue_counts(struct mq *m, const char *queue, uint32_t *messages, uint32_t *consumers,
		    struct buf *err);

/*
 * Move every message of queue `from` to queue `to` (through the default
 * exchange, properties and headers kept): batches of basic.get, published to
 * `to`, confirmed, then acked. *moved counts those moved. 0, or -1 + err: the
 * messages of the batch that failed go back to `from` when the connection
 * closes, and some may be in both. For a connection that does nothing else
 * (no consumer, nothing published without waiting).
 */
int mq_queue_move(struct mq *m, const char *from, const char *to, uint64_t *moved, struct buf *err);
/*
 * Delete `queue` when it has no message and no consumer (a passive declare
 * just before: RabbitMQ 3.10 has no conditional delete of a quorum queue).
 * 0, or -1 + err.
 */
int mq_queue_delete(struct mq *m, const char *queue, struct buf *err);

#endif
