/*
 * mq — RabbitMQ over AMQP 0-9-1 with librabbitmq-c. See mq.h.
 *
 * Every struct mq uses channel 1 of its own connection, in confirm mode. A
 * channel-level error (a passive declare of a missing queue, a declare whose
 * arguments differ) closes only the channel: we answer close-ok and reopen it so
 * the connection survives. Anything worse tears the connection down and the
 * caller reconnects (mq_publish does that itself, once).
 *
 * Publishing waits synchronously for the confirm of each message, so a struct
 * mq that publishes must not also consume: deliveries arriving while we wait for
 * basic.ack would be lost to the reader. The worker keeps one consuming
 * connection and separate publishing ones.
 */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

#include "clock.h"
#include "log.h"
#include "mq.h"

#define MQ_CHANNEL 1
#define MQ_FRAME_MAX 131072

struct mq {
	const struct config *cfg;
	struct secrets *sec;
	amqp_connection_state_t conn;
	bool channel_open;
	uint64_t next_seq;       /* publish sequence number of the next message */
	uint64_t unconfirmed;    /* first one sent by mq_publish_nowait not yet confirmed, 0: none */
	int64_t last_io_ms;      /* last successful exchange with the broker (clock_now_ms) */
	char *consuming[MQ_CONSUMERS_MAX];    /* queues of the running consumers (mq_consume) */
	char *consumer_tag[MQ_CONSUMERS_MAX]; /* their tags */
	int nconsumers;
	struct config_endpoint last; /* node of the current or last connection (host NULL: none yet) */
};

static void touch(struct mq *m)
{
	m->last_io_ms = clock_now_ms();
}

static void tv_from_ms(struct timeval *tv, long ms)
{
	if (ms < 0)
		ms = 0;
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

struct mq *mq_new(const struct config *cfg, struct secrets *sec)
{
	struct mq *m = xcalloc(1, sizeof(*m));

	m->cfg = cfg;
	m->sec = sec;
	return m;
}

void mq_free(struct mq *m)
{
	if (!m)
		return;
	mq_disconnect(m);
	for (int i = 0; i < MQ_CONSUMERS_MAX; i++) {
		free(m->consuming[i]);
		free(m->consumer_tag[i]);
	}
	free(m->last.host);
	free(m);
}

bool mq_connected(const struct mq *m)
{
	return m->conn != NULL && m->channel_open;
}

static void add_bytes(struct buf *b, amqp_bytes_t s)
{
	buf_add(b, s.bytes, s.len);
}

/* Drop the connection without any handshake (it is broken or its state unknown). */
static void conn_destroy(struct mq *m)
{
	if (m->conn)
		amqp_destroy_connection(m->conn);
	m->conn = NULL;
	m->channel_open = false;
	m->nconsumers = 0; /* the consumers are gone with the connection */
}

void mq_disconnect(struct mq *m)
{
	if (!m->conn)
		return;
	if (m->channel_open)
		amqp_channel_close(m->conn, MQ_CHANNEL, AMQP_REPLY_SUCCESS);
	amqp_connection_close(m->conn, AMQP_REPLY_SUCCESS);
	conn_destroy(m);
}

/*
 * Describe a failed RPC in `err` (prefixed by `what`). Returns the AMQP reply code
 * of a server exception (e.g. 403, 404, 406), 0 for a library error. A closed
 * channel is acknowledged and reopened; a closed or broken connection is dropped.
 */
static int reply_error(struct mq *m, amqp_rpc_reply_t r, const char *what, struct buf *err);

static int channel_open(struct mq *m, struct buf *err)
{
	amqp_channel_open(m->conn, MQ_CHANNEL);
	amqp_rpc_reply_t r = amqp_get_rpc_reply(m->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		reply_error(m, r, "channel open", err);
		return -1;
	}
	m->channel_open = true;
	amqp_confirm_select(m->conn, MQ_CHANNEL);
	r = amqp_get_rpc_reply(m->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		reply_error(m, r, "confirm.select", err);
		return -1;
	}
	m->next_seq = 1;
	m->unconfirmed = 0;
	return 0;
}

static int reply_error(struct mq *m, amqp_rpc_reply_t r, const char *what, struct buf *err)
{
	int code = 0;

	buf_printf(err, "rabbitmq: %s: ", what);
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		buf_adds(err, "ok");
		return 0;
	case AMQP_RESPONSE_NONE:
		buf_adds(err, "missing rpc reply");
		conn_destroy(m);
		return 0;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		buf_adds(err, amqp_error_string2(r.library_error));
		conn_destroy(m);
		return 0;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		break;
	}
	if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
		const amqp_channel_close_t *c = r.reply.decoded;
		amqp_channel_close_ok_t ok = { 0 };

		code = c->reply_code;
		buf_printf(err, "channel closed by the server: %d ", code);
		add_bytes(err, c->reply_text);
		m->channel_open = false;
		m->nconsumers = 0; /* its consumers are gone with it */
		if (amqp_send_method(m->conn, MQ_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK) {
			conn_destroy(m);
			return code;
		}
		/* reopen so the connection stays usable; a failure here drops it */
		struct buf e2 = BUF_INIT;
		if (channel_open(m, &e2) < 0)
			conn_destroy(m);
		buf_release(&e2);
	} else if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		const amqp_connection_close_t *c = r.reply.decoded;
		amqp_connection_close_ok_t ok = { 0 };

		code = c->reply_code;
		buf_printf(err, "connection closed by the server: %d ", code);
		add_bytes(err, c->reply_text);
		amqp_send_method(m->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		conn_destroy(m);
	} else {
		buf_printf(err, "unexpected server method 0x%08x", (unsigned)r.reply.id);
		conn_destroy(m);
	}
	return code;
}

bool mq_use_tls(const struct config *cfg, int port)
{
	return cfg->rabbitmq.tls || port == MQ_AMQPS_PORT;
}

/*
 * An AMQPS socket that verifies the broker's certificate chain and host name,
 * against [rabbitmq] ca_file or else the system's trust store. NULL + err.
 */
static amqp_socket_t *tls_socket(struct mq *m, struct buf *err)
{
	const char *ca = m->cfg->rabbitmq.ca_file;
	amqp_socket_t *sock = amqp_ssl_socket_new(m->conn);

	if (!sock) {
		buf_adds(err, "rabbitmq: cannot create a TLS socket");
		return NULL;
	}
	amqp_ssl_socket_set_verify_peer(sock, 1);
	amqp_ssl_socket_set_verify_hostname(sock, 1);
	if (ca && *ca) {
		if (amqp_ssl_socket_set_cacert(sock, ca) != AMQP_STATUS_OK) {
			buf_printf(err, "rabbitmq: cannot load the CA certificates of [rabbitmq] ca_file '%s'", ca);
			return NULL;
		}
	} else {
		/* the system store: OpenSSL's default paths (SSL_CERT_FILE / SSL_CERT_DIR apply) */
		SSL_CTX *ctx = amqp_ssl_socket_get_context(sock);
		if (!ctx || SSL_CTX_set_default_verify_paths(ctx) != 1) {
			buf_adds(err, "rabbitmq: cannot load the system's CA certificates");
			return NULL;
		}
	}
	return sock;
}

int mq_endpoints(const struct config *cfg, const struct mq_secret *s, struct config_endpoint **out, size_t *n,
		 struct buf *err)
{
	struct buf why = BUF_INIT;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (cfg->rabbitmq.endpoints && *cfg->rabbitmq.endpoints) {
		if (config_parse_endpoints(cfg->rabbitmq.endpoints, 0, out, n, &why) < 0) {
			buf_printf(err, "rabbitmq: [rabbitmq] endpoints: %s", buf_str(&why));
			rc = -1;
		}
	} else if (s->nhosts > 0) {
		struct config_endpoint *v = xcalloc(s->nhosts, sizeof(*v));
		struct buf host = BUF_INIT;
		for (size_t i = 0; i < s->nhosts && rc == 0; i++) {
			int64_t port;
			if (config_parse_endpoint(s->hosts[i], s->port, &host, &port, &why) < 0) {
				buf_printf(err, "rabbitmq secret: item %zu of field 'hosts' is not HOST:PORT", i + 1);
				rc = -1;
			} else {
				v[i].host = xstrdup(buf_str(&host));
				v[i].port = (int)port;
			}
		}
		buf_release(&host);
		if (rc < 0) {
			config_endpoints_free(v, s->nhosts);
		} else {
			*out = v;
			*n = s->nhosts;
		}
	} else {
		*out = xcalloc(1, sizeof(**out));
		(*out)->host = xstrdup(s->host ? s->host : "");
		(*out)->port = s->port;
		*n = 1;
	}
	buf_release(&why);
	return rc;
}

static uint32_t random_u32(void *arg)
{
	uint32_t r;

	(void)arg;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint32_t)rand();
	return r;
}

static bool same_endpoint(const struct config_endpoint *a, const struct config_endpoint *b)
{
	return a->port == b->port && !strcmp(a->host, b->host);
}

void mq_endpoints_order(struct config_endpoint *e, size_t n, const struct config_endpoint *last,
			uint32_t (*rnd)(void *arg), void *arg)
{
	if (!rnd)
		rnd = random_u32;
	/* Fisher-Yates */
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd(arg) % i;
		struct config_endpoint t = e[i - 1];
		e[i - 1] = e[j];
		e[j] = t;
	}
	if (!last || !last->host)
		return;
	for (size_t i = 0; i + 1 < n; i++)
		if (same_endpoint(&e[i], last)) {
			struct config_endpoint t = e[i];
			memmove(&e[i], &e[i + 1], (n - i - 1) * sizeof(*e));
			e[n - 1] = t;
			break;
		}
}

/*
 * Connect to the node `ep` with the credentials of `s` and open the channel.
 * Returns 0, -1 (+ err), or 1 when the broker refused the credentials.
 */
static int connect_endpoint(struct mq *m, const struct mq_secret *s, const struct config_endpoint *ep,
			    struct buf *err)
{
	struct timeval tv;

	m->conn = amqp_new_connection();
	int tls = mq_use_tls(m->cfg, ep->port);
	amqp_socket_t *sock = tls ? tls_socket(m, err) : amqp_tcp_socket_new(m->conn);
	if (!sock) {
		if (!tls)
			buf_adds(err, "rabbitmq: cannot create a socket");
		goto fail;
	}
	tv.tv_sec = m->cfg->rabbitmq.connect_timeout;
	tv.tv_usec = 0;
	ERR_clear_error();
	int st = amqp_socket_open_noblock(sock, ep->host, ep->port, &tv);
	if (st != AMQP_STATUS_OK) {
		buf_printf(err, "rabbitmq: cannot connect to '%s:%d'%s: %s", ep->host, ep->port, tls ? " with TLS" : "",
			   amqp_error_string2(st));
		/* librabbitmq says "socket error" for most TLS failures: OpenSSL knows why */
		unsigned long e = tls ? ERR_peek_last_error() : 0;
		if (e && ERR_reason_error_string(e))
			buf_printf(err, " (%s)", ERR_reason_error_string(e));
		goto fail;
	}
	amqp_set_handshake_timeout(m->conn, &tv);
	amqp_set_rpc_timeout(m->conn, &tv);

	int heartbeat = (int)m->cfg->rabbitmq.heartbeat;
	amqp_rpc_reply_t r = amqp_login(m->conn, s->vhost && *s->vhost ? s->vhost : "/", 0, MQ_FRAME_MAX,
					heartbeat, AMQP_SASL_METHOD_PLAIN, s->username, s->password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		/*
		 * RabbitMQ reports bad credentials as connection.close 403
		 * ACCESS_REFUSED (authentication_failure_close capability).
		 */
		int code = reply_error(m, r, "login", err);
		conn_destroy(m);
		return code == AMQP_ACCESS_REFUSED ? 1 : -1;
	}
	if (channel_open(m, err) < 0)
		goto fail;
	touch(m);
	return 0;
fail:
	conn_destroy(m);
	return -1;
}

/* Remember the node connected to; log it when there are several and it changed. */
static void note_endpoint(struct mq *m, const struct config_endpoint *ep, size_t n, const struct buf *failed)
{
	bool changed = !m->last.host || !same_endpoint(&m->last, ep);

	if (failed->len)
		log_warn("rabbitmq: connected to '%s:%d' after: %s", ep->host, ep->port, buf_str(failed));
	else if (n > 1 && changed)
		log_info("rabbitmq: connected to '%s:%d'", ep->host, ep->port);
	if (changed) {
		free(m->last.host);
		m->last.host = xstrdup(ep->host);
		m->last.port = ep->port;
	}
}

/*
 * One connection attempt with the current secret: every node, in the order of
 * mq_endpoints_order, until one answers. Returns 0, -1, or 1 when the broker
 * refused the credentials (the caller may refetch the secret and retry).
 */
static int connect_once(struct mq *m, struct buf *err)
{
	struct buf val = BUF_INIT, failed = BUF_INIT, why = BUF_INIT;
	struct mq_secret s = { 0 };
	struct config_endpoint *eps = NULL;
	size_t n = 0;
	int ret = -1;

	if (secrets_get(m->sec, m->cfg->rabbitmq.secret, &val, err) < 0 || mq_secret_parse(buf_str(&val), &s, err) < 0 ||
	    mq_endpoints(m->cfg, &s, &eps, &n, err) < 0)
		goto out;
	mq_endpoints_order(eps, n, &m->last, NULL, NULL);
	/* the nodes of a cluster share their users: a refusal (1) is the same on each */
	for (size_t i = 0; i < n && ret < 0; i++) {
		buf_reset(&why);
		ret = connect_endpoint(m, &s, &eps[i], &why);
		if (ret == 0)
			note_endpoint(m, &eps[i], n, &failed);
		else
			buf_printf(&failed, "%s%s", failed.len ? "; " : "", buf_str(&why));
	}
	if (ret != 0)
		buf_add(err, failed.data ? failed.data : "", failed.len);
out:
	config_endpoints_free(eps, n);
	mq_secret_free(&s);
	buf_release(&val);
	buf_release(&failed);
	buf_release(&why);
	return ret;
}

int mq_connect(struct mq *m, struct buf *err)
{
	mq_disconnect(m);
	int rc = connect_once(m, err);
	if (rc == 1) {
		/* the password may have been rotated: refetch the secret once */
		log_info("rabbitmq refused the credentials; refetching the secret");
		secrets_invalidate(m->sec, m->cfg->rabbitmq.secret);
		buf_reset(err);
		rc = connect_once(m, err);
	}
	return rc == 0 ? 0 : -1;
}

static int check_rpc(struct mq *m, const char *what, struct buf *err)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(m->conn);
	if (r.reply_type == AMQP_RESPONSE_NORMAL) {
		touch(m);
		return 0;
	}
	reply_error(m, r, what, err);
	return -1;
}

static int need_conn(struct mq *m, struct buf *err)
{
	if (mq_connected(m))
		return 0;
	buf_adds(err, "rabbitmq: not connected");
	return -1;
}

static int exchange_declare(struct mq *m, const char *name, const char *type, struct buf *err)
{
	amqp_exchange_declare(m->conn, MQ_CHANNEL, amqp_cstring_bytes(name), amqp_cstring_bytes(type), 0, 1,
			      0, 0, amqp_empty_table);
	return check_rpc(m, name, err);
}

static int queue_bind(struct mq *m, const char *queue, const char *exchange, const char *key,
		      struct buf *err)
{
	amqp_queue_bind(m->conn, MQ_CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
			amqp_cstring_bytes(key), amqp_empty_table);
	return check_rpc(m, queue, err);
}

static amqp_table_entry_t entry_str(const char *key, const char *val)
{
	amqp_table_entry_t e;

	e.key = amqp_cstring_bytes(key);
	e.value.kind = AMQP_FIELD_KIND_UTF8;
	e.value.value.bytes = amqp_cstring_bytes(val);
	return e;
}

static amqp_table_entry_t entry_int(const char *key, int64_t val)
{
	amqp_table_entry_t e;

	e.key = amqp_cstring_bytes(key);
	e.value.kind = AMQP_FIELD_KIND_I64;
	e.value.value.i64 = val;
	return e;
}

enum mq_queue_type mq_config_queue_type(const struct config *cfg)
{
	return cfg->rabbitmq.queue_type && !strcmp(cfg->rabbitmq.queue_type, "classic") ? MQ_CLASSIC : MQ_QUORUM;
}

const char *mq_queue_type_name(enum mq_queue_type t)
{
	return t == MQ_CLASSIC ? "classic" : "quorum";
}

static void arg_str(struct mq_arg *out, size_t *n, const char *key, const char *val)
{
	out[(*n)++] = (struct mq_arg){ key, val, 0 };
}

static void arg_num(struct mq_arg *out, size_t *n, const char *key, int64_t val)
{
	out[(*n)++] = (struct mq_arg){ key, NULL, val };
}

size_t mq_queue_args(enum mq_queue_type type, enum mq_queue_role role, int delay_s, struct mq_arg out[MQ_ARGS_MAX])
{
	return mq_queue_args_prio(type, role, delay_s, JOBPRIO_NORMAL, out);
}

size_t mq_queue_args_prio(enum mq_queue_type type, enum mq_queue_role role, int delay_s, enum jobprio p,
			  struct mq_arg out[MQ_ARGS_MAX])
{
	size_t n = 0;

	switch (role) {
	case MQ_ROLE_JOBS:
		arg_str(out, &n, "x-dead-letter-exchange", "");
		arg_str(out, &n, "x-dead-letter-routing-key", MQ_DEAD_QUEUE);
		if (type == MQ_QUORUM)
			arg_num(out, &n, "x-delivery-limit", MQ_DELIVERY_LIMIT);
		break;
	case MQ_ROLE_RETRY:
		arg_num(out, &n, "x-message-ttl", (int64_t)delay_s * 1000);
		arg_str(out, &n, "x-dead-letter-exchange", MQ_JOBS_EXCHANGE);
		arg_str(out, &n, "x-dead-letter-routing-key", jobprio_key(p));
		arg_num(out, &n, "x-expires", ((int64_t)delay_s + MQ_RETRY_EXPIRE_S) * 1000);
		break;
	case MQ_ROLE_DEAD:
	case MQ_ROLE_EVENTS:
	case MQ_ROLE_HOLD:
		break;
	}
	if (type != MQ_QUORUM)
		return n;
	arg_str(out, &n, "x-queue-type", "quorum");
	if (role == MQ_ROLE_JOBS || role == MQ_ROLE_RETRY) {
		/*
		 * A quorum queue dead-letters at most once by default: a message
		 * whose target queue did not take it (its leader moving, say) is
		 * dropped. At least once keeps it until the target confirms, and
		 * needs x-overflow reject-publish (no length limit is set, so
		 * nothing is refused for it).
		 */
		arg_str(out, &n, "x-dead-letter-strategy", "at-least-once");
		arg_str(out, &n, "x-overflow", "reject-publish");
	}
	return n;
}

/*
 * queue.declare of a durable queue with `args`: 0, -1 + err, or MQ_MISMATCH
 * when it exists with other arguments, `err` getting the broker's reason
 * ("inequivalent arg 'x-queue-type' for queue ...: received the value 'quorum'
 * of type 'longstr' but current is none"); the channel is opened again.
 */
static int queue_declare(struct mq *m, const char *name, amqp_table_t args, struct buf *err)
{
	static const char pf[] = "PRECONDITION_FAILED - ";
	struct buf why = BUF_INIT;

	amqp_queue_declare(m->conn, MQ_CHANNEL, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
	amqp_rpc_reply_t r = amqp_get_rpc_reply(m->conn);
	if (r.reply_type == AMQP_RESPONSE_NORMAL) {
		touch(m);
		return 0;
	}
	int code = reply_error(m, r, name, &why);
	const char *reason = strstr(buf_str(&why), pf);
	if (code == AMQP_PRECONDITION_FAILED && reason)
		buf_adds(err, reason + strlen(pf));
	else
		buf_add(err, why.data ? why.data : "", why.len);
	buf_release(&why);
	return code == AMQP_PRECONDITION_FAILED && reason ? MQ_MISMATCH : -1;
}

/* Declare `queue` of `role` with the arguments of queue type `type`; see queue_declare. */
static int declare_typed(struct mq *m, const char *queue, enum mq_queue_type type, enum mq_queue_role role,
			 struct buf *err)
{
	struct mq_arg a[MQ_ARGS_MAX];
	amqp_table_entry_t e[MQ_ARGS_MAX];
	enum jobprio p = JOBPRIO_NORMAL;
	int delay_s = jobprio_retry_of(queue, &p);
	size_t n = mq_queue_args_prio(type, role, delay_s, p, a);

	for (size_t i = 0; i < n; i++)
		e[i] = a[i].str ? entry_str(a[i].key, a[i].str) : entry_int(a[i].key, a[i].num);
	amqp_table_t table = { (int)n, e };
	return queue_declare(m, queue, table, err);
}

/*
 * `queue` exists with other arguments than those of `want` (the broker's
 * reason in `reason`): say which type it has and the way out, in `err`.
 * RabbitMQ names the first argument that differs, not always x-queue-type,
 * so the declare is tried again with the other type's arguments: when they
 * fit, that is its type.
 */
static void mismatch_explain(struct mq *m, const char *queue, enum mq_queue_type want, enum mq_queue_role role,
			     const char *reason, const char **type, struct buf *err)
{
	enum mq_queue_type other = want == MQ_QUORUM ? MQ_CLASSIC : MQ_QUORUM;
	struct buf e2 = BUF_INIT;
	char have[32] = "";

	if (declare_typed(m, queue, other, role, &e2) == 0) {
		snprintf(have, sizeof(have), "%s", mq_queue_type_name(other));
		if (type)
			*type = mq_queue_type_name(other);
	} else if (strstr(reason, "inequivalent arg 'x-queue-type'") && strstr(reason, "but current is '")) {
		/* "... but current is 'stream'" */
		const char *q = strstr(reason, "but current is '") + strlen("but current is '");
		snprintf(have, sizeof(have), "%.*s", (int)strcspn(q, "'"), q);
	}
	buf_release(&e2);
	if (!*have) {
		buf_printf(err, "queue '%s' exists with other arguments than spool declares (%s): move its messages "
			   "with 'adminctl queues migrate', which declares it again", queue, reason);
		return;
	}
	buf_printf(err, "queue '%s' exists as a %s queue but [rabbitmq] queue_type is %s: move its messages with "
		   "'adminctl queues migrate'", queue, have, mq_queue_type_name(want));
	if (!strcmp(have, "classic") || !strcmp(have, "quorum"))
		buf_printf(err, " or set queue_type = %s", have);
}

int mq_declare_queue(struct mq *m, const char *queue, enum mq_queue_role role, const char **have, struct buf *err)
{
	struct buf reason = BUF_INIT;
	enum mq_queue_type type = mq_config_queue_type(m->cfg);

	if (have)
		*have = NULL;
	if (need_conn(m, err) < 0)
		return -1;
	int rc = declare_typed(m, queue, type, role, &reason);
	if (rc == MQ_MISMATCH && mq_connected(m))
		mismatch_explain(m, queue, type, role, buf_str(&reason), have, err);
	else if (rc < 0)
		buf_add(err, reason.data ? reason.data : "", reason.len);
	buf_release(&reason);
	return rc;
}

int mq_declare_topology(struct mq *m, struct buf *err)
{
	if (need_conn(m, err) < 0)
		return -1;
	/*
	 * No consumer-timeout argument on spool.jobs: a worker acks its delivery as
	 * soon as it has claimed the job in the database. From then on the job's
	 * lease (extended by heartbeats) and the reaper keep it safe, so RabbitMQ's
	 * consumer timeout never sees a long-running job's delivery.
	 */
	int rc;
	for (int p = 0; p < JOBPRIO_COUNT; p++) {
		const char *q = jobprio_queue((enum jobprio)p);
		if ((rc = mq_declare_queue(m, q, MQ_ROLE_JOBS, NULL, err)) < 0 ||
		    (rc = mq_bind_as(m, q, MQ_ROLE_JOBS, err)) < 0)
			return rc;
	}
	if ((rc = mq_declare_queue(m, MQ_DEAD_QUEUE, MQ_ROLE_DEAD, NULL, err)) < 0 ||
	    (rc = mq_declare_queue(m, MQ_EVENTS_API_QUEUE, MQ_ROLE_EVENTS, NULL, err)) < 0 ||
	    (rc = mq_bind_as(m, MQ_EVENTS_API_QUEUE, MQ_ROLE_EVENTS, err)) < 0)
		return rc;
	return 0;
}

int mq_bind_as(struct mq *m, const char *queue, enum mq_queue_role role, struct buf *err)
{
	if (need_conn(m, err) < 0)
		return -1;
	if (role == MQ_ROLE_JOBS) {
		/* the queue of a priority, or one whose name ends with it (adminctl queues migrate's hold queue) */
		enum jobprio p = JOBPRIO_NORMAL;
		size_t ql = strlen(queue);
		for (int i = 0; i < JOBPRIO_COUNT; i++) {
			size_t l = strlen(jobprio_queue((enum jobprio)i));
			if (ql >= l && !strcmp(queue + ql - l, jobprio_queue((enum jobprio)i)))
				p = (enum jobprio)i;
		}
		return exchange_declare(m, MQ_JOBS_EXCHANGE, "direct", err) < 0 ||
		       queue_bind(m, queue, MQ_JOBS_EXCHANGE, jobprio_key(p), err) < 0 ? -1 : 0;
	}
	if (role == MQ_ROLE_EVENTS) {
		static const char *const old[] = { "job.#" };
		return exchange_declare(m, MQ_EVENTS_EXCHANGE, "topic", err) < 0 ||
		       mq_bind_keys(m, queue, MQ_EVENTS_EXCHANGE, mq_final_events, MQ_NFINAL_EVENTS, true, err) < 0 ||
		       mq_bind_keys(m, queue, MQ_EVENTS_EXCHANGE, old, 1, false, err) < 0 ? -1 : 0;
	}
	return 0;
}

const char *const mq_final_events[MQ_NFINAL_EVENTS] = { "job.succeeded", "job.failed", "job.cancelled" };

bool mq_event_is_final(const char *key)
{
	for (size_t i = 0; key && i < MQ_NFINAL_EVENTS; i++)
		if (!strcmp(key, mq_final_events[i]))
			return true;
	return false;
}

int mq_declare_private_queue(struct mq *m, const char *queue, const char *exchange, const char *const *keys,
			     size_t nkeys, int64_t max_length, struct buf *err)
{
	if (need_conn(m, err) < 0)
		return -1;
	/* classic whatever [rabbitmq] queue_type says: a quorum queue is never exclusive */
	amqp_table_entry_t e[2] = { entry_str("x-queue-type", "classic"), entry_int("x-max-length", max_length) };
	amqp_table_t args = { max_length > 0 ? 2 : 1, e };
	amqp_queue_declare(m->conn, MQ_CHANNEL, amqp_cstring_bytes(queue), 0, 0, 1, 1, args);
	if (check_rpc(m, queue, err) < 0)
		return -1;
	return mq_bind_keys(m, queue, exchange, keys, nkeys, true, err);
}

int mq_bind_keys(struct mq *m, const char *queue, const char *exchange, const char *const *keys, size_t nkeys,
		 bool bind, struct buf *err)
{
	if (need_conn(m, err) < 0)
		return -1;
	for (size_t i = 0; i < nkeys; i++) {
		if (bind && queue_bind(m, queue, exchange, keys[i], err) < 0)
			return -1;
		if (!bind) {
			amqp_queue_unbind(m->conn, MQ_CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
					  amqp_cstring_bytes(keys[i]), amqp_empty_table);
			if (check_rpc(m, queue, err) < 0)
				return -1;
		}
	}
	touch(m);
	return 0;
}

/* A channel.close or connection.close frame read outside an RPC: answer it like one. */
static void server_closed(struct mq *m, amqp_method_t method, const char *what, struct buf *err)
{
	amqp_rpc_reply_t r = { 0 };

	r.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION;
	r.reply = method;
	reply_error(m, r, what, err);
}

/* Mark publish numbers [first, first + n) confirmed up to `tag` (or just `tag`). */
static size_t confirm_mark(unsigned char *done, uint64_t first, size_t n, uint64_t tag, bool multiple)
{
	size_t marked = 0;

	for (uint64_t s = multiple ? first : tag; s <= tag && s < first + n; s++)
		if (s >= first && !done[s - first]) {
			done[s - first] = 1;
			marked++;
		}
	return marked;
}

/*
 * Wait for the broker's confirms of publish numbers [first, first + n). With
 * `refused` (n flags) a basic.nack marks its messages there and the wait goes
 * on; without, it fails the wait.
 */
static int wait_confirms_refused(struct mq *m, uint64_t first, size_t n, unsigned char *refused, struct buf *err)
{
	double deadline = clock_now_s() + 3.0 * (double)m->cfg->rabbitmq.connect_timeout;
	bool returned = false;
	unsigned char one, *done = n > 1 ? xcalloc(n, 1) : &one;
	size_t left = n;
	int rc = -1;

	one = 0;
	while (left > 0) {
		amqp_frame_t f;
		struct timeval tv;
		double time_left = deadline - clock_now_s();

		tv_from_ms(&tv, (long)(time_left * 1000));
		int st = amqp_simple_wait_frame_noblock(m->conn, &f, &tv);
		if (st == AMQP_STATUS_TIMEOUT || time_left <= 0) {
			buf_adds(err, "rabbitmq: timed out waiting for the publish confirm");
			conn_destroy(m); /* its state is unknown now */
			goto out;
		}
		if (st != AMQP_STATUS_OK) {
			buf_printf(err, "rabbitmq: waiting for the publish confirm: %s", amqp_error_string2(st));
			conn_destroy(m);
			goto out;
		}
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue; /* header and body of a returned message */
		switch (f.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			const amqp_basic_ack_t *a = f.payload.method.decoded;
			left -= confirm_mark(done, first, n, a->delivery_tag, a->multiple);
			break;
		}
		case AMQP_BASIC_NACK_METHOD: {
			const amqp_basic_nack_t *nk = f.payload.method.decoded;
			if (refused) {
				for (uint64_t s = nk->multiple ? first : nk->delivery_tag;
				     s <= nk->delivery_tag && s < first + n; s++)
					if (s >= first && !done[s - first]) {
						done[s - first] = 1;
						refused[s - first] = 1;
						left--;
					}
				break;
			}
			if (confirm_mark(done, first, n, nk->delivery_tag, nk->multiple) > 0) {
				buf_adds(err, "rabbitmq: the broker refused the message (basic.nack)");
				goto out;
			}
			break;
		}
		case AMQP_BASIC_RETURN_METHOD: {
			const amqp_basic_return_t *r = f.payload.method.decoded;
			buf_printf(err, "rabbitmq: message returned as unroutable: %d ", r->reply_code);
			add_bytes(err, r->reply_text);
			returned = true; /* the basic.ack follows */
			break;
		}
		case AMQP_CHANNEL_CLOSE_METHOD:
		case AMQP_CONNECTION_CLOSE_METHOD:
			server_closed(m, f.payload.method, "publish", err);
			goto out;
		default:
			break;
		}
	}
	touch(m);
	rc = returned ? -1 : 0;
out:
	if (done != &one)
		free(done);
	return rc;
}

static int wait_confirms(struct mq *m, uint64_t first, size_t n, struct buf *err)
{
	return wait_confirms_refused(m, first, n, NULL, err);
}

/*
 * Send one message with `props` (no wait); -1 drops the connection. Mandatory
 * (a message no queue takes comes back and fails its publish) except an event:
 * an event that no queue is bound for (a job.started while no subscriber is
 * listening: spool.events.api takes the final events only) is dropped, as a
 * topic exchange's events are meant to be.
 */
static int publish_props(struct mq *m, const char *exchange, const char *routing_key,
			 const amqp_basic_properties_t *props, amqp_bytes_t body, struct buf *err)
{
	m->next_seq++;
	amqp_boolean_t mandatory = strcmp(exchange, MQ_EVENTS_EXCHANGE) != 0;
	int st = amqp_basic_publish(m->conn, MQ_CHANNEL, amqp_cstring_bytes(exchange),
				    amqp_cstring_bytes(routing_key), mandatory, 0, props, body);
	if (st != AMQP_STATUS_OK) {
		buf_printf(err, "rabbitmq: publish to '%s': %s", *exchange ? exchange : routing_key,
			   amqp_error_string2(st));
		conn_destroy(m);
		return -1;
	}
	return 0;
}

/* Send one message (no wait), JSON and persistent; -1 drops the connection. */
static int publish_send(struct mq *m, const char *exchange, const char *routing_key, const char *body,
			size_t len, struct buf *err)
{
	amqp_basic_properties_t props;

	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
	props.content_type = amqp_cstring_bytes("application/json");
	props.delivery_mode = AMQP_DELIVERY_PERSISTENT;

	amqp_bytes_t b = { len, (void *)(uintptr_t)body };
	return publish_props(m, exchange, routing_key, &props, b, err);
}

static int publish_once(struct mq *m, const char *exchange, const char *routing_key, const char *body,
			size_t len, struct buf *err)
{
	uint64_t seq = m->next_seq, first = m->unconfirmed ? m->unconfirmed : seq;

	if (publish_send(m, exchange, routing_key, body, len, err) < 0)
		return -1;
	/* this message's confirm, and those of the messages sent without waiting */
	int rc = wait_confirms(m, first, (size_t)(seq - first + 1), err);
	m->unconfirmed = 0;
	if (m->conn)
		amqp_maybe_release_buffers(m->conn);
	return rc;
}

/*
 * An idle publishing connection does not answer heartbeats (nobody reads it), so
 * the broker drops it after two missed intervals. Reconnect up front instead of
 * learning that from a failed publish.
 */
static int ensure_fresh(struct mq *m, struct buf *err)
{
	if (mq_connected(m)) {
		int64_t hb = m->cfg->rabbitmq.heartbeat;
		if (hb <= 0 || clock_now_ms() - m->last_io_ms < hb * 1000)
			return 0;
		conn_destroy(m);
	}
	return mq_connect(m, err);
}

/* One send without waiting for its confirm (which mq_confirm_wait collects). */
static int publish_nowait_once(struct mq *m, const char *exchange, const char *routing_key, const char *body,
			       size_t len, struct buf *err)
{
	uint64_t seq = m->next_seq;
	if (publish_send(m, exchange, routing_key, body, len, err) < 0)
		return -1;
	if (!m->unconfirmed)
		m->unconfirmed = seq;
	return 0;
}

/*
 * `once` at most twice: a connection the broker closed while we were idle (a
 * restart within the heartbeat) shows only when we write to it, so a failure
 * that left us disconnected is tried again on a fresh connection; one the
 * broker answered (a nack, unroutable) is not repeated.
 */
static int publish_twice(struct mq *m, const char *exchange, const char *routing_key, const char *body, size_t len,
			 struct buf *err,
			 int (*once)(struct mq *, const char *, const char *, const char *, size_t, struct buf *))
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (attempt > 0) {
			log_info("retrying publish to '%s' after: %s", exchange, buf_str(err));
			buf_reset(err);
		}
		if (ensure_fresh(m, err) < 0)
			continue;
		if (once(m, exchange, routing_key, body, len, err) == 0)
			return 0;
		if (mq_connected(m))
			return -1;
	}
	return -1;
}

int mq_publish(struct mq *m, const char *exchange, const char *routing_key, const char *body, size_t len,
	       struct buf *err)
{
	return publish_twice(m, exchange, routing_key, body, len, err, publish_once);
}

int mq_confirm_wait(struct mq *m, struct buf *err)
{
	if (!m->unconfirmed || !mq_connected(m)) {
		m->unconfirmed = 0;
		return 0;
	}
	int rc = wait_confirms(m, m->unconfirmed, (size_t)(m->next_seq - m->unconfirmed), err);
	m->unconfirmed = 0;
	if (m->conn)
		amqp_maybe_release_buffers(m->conn);
	return rc;
}

int mq_publish_nowait(struct mq *m, const char *exchange, const char *routing_key, const char *body, size_t len,
		      struct buf *err)
{
	/* bounded: the broker's acks must not pile up unread; their failure is this one's */
	if (m->unconfirmed && m->next_seq - m->unconfirmed >= MQ_NOWAIT_MAX && mq_confirm_wait(m, err) < 0)
		return -1;
	return publish_twice(m, exchange, routing_key, body, len, err, publish_nowait_once);
}

/*
 * One try of a batch. With `refused` (n flags, zeroed): as mq_publish_batch_refused,
 * the messages sent before without waiting are waited for first; without: as
 * mq_publish_batch, their confirms are the batch's.
 */
static int batch_once(struct mq *m, const struct mq_message *msgs, size_t n, unsigned char *refused, struct buf *err)
{
	if (refused) {
		memset(refused, 0, n);
		/* the messages sent before without waiting first: their failure is not this batch's refusal */
		if (mq_confirm_wait(m, err) < 0)
			return -1;
	}
	if (ensure_fresh(m, err) < 0)
		return -1;
	/* without `refused`: the batch's confirms, and those of the messages sent before it without waiting */
	uint64_t first = m->unconfirmed && !refused ? m->unconfirmed : m->next_seq;
	for (size_t i = 0; i < n; i++)
		if (publish_send(m, msgs[i].exchange, msgs[i].routing_key, msgs[i].body, msgs[i].len, err) < 0)
			return -1;
	int rc = refused ? wait_confirms_refused(m, first, n, refused, err)
			 : wait_confirms(m, first, (size_t)(m->next_seq - first), err);
	if (!refused)
		m->unconfirmed = 0;
	if (m->conn)
		amqp_maybe_release_buffers(m->conn);
	return rc;
}

/*
 * A batch, sent once more on a new connection when the first try lost its
 * connection (the broker closed it: a restart, a failover; or it never
 * answered): the publishers send whole batches again and their consumers drop
 * duplicates, so a second copy is harmless where a lost batch is not. A
 * failure the broker answered (a nack, unroutable) leaves the connection up
 * and is not repeated.
 */
static int batch_twice(struct mq *m, const struct mq_message *msgs, size_t n, unsigned char *refused, struct buf *err)
{
	if (n == 0)
		return 0;
	int rc = batch_once(m, msgs, n, refused, err);
	if (rc < 0 && !mq_connected(m)) {
		log_info("rabbitmq: the connection was lost during a batch of %zu messages (%s); sending it again",
			 n, buf_str(err));
		struct buf again = BUF_INIT;
		rc = batch_once(m, msgs, n, refused, &again);
		if (rc < 0)
			buf_printf(err, "; sent again on a new connection: %s", buf_str(&again));
		else
			buf_reset(err);
		buf_release(&again);
	}
	return rc;
}

int mq_publish_batch_refused(struct mq *m, const struct mq_message *msgs, size_t n, unsigned char *refused,
			    struct buf *err)
{
	return batch_twice(m, msgs, n, refused, err);
}

int mq_publish_batch(struct mq *m, const struct mq_message *msgs, size_t n, struct buf *err)
{
	return batch_twice(m, msgs, n, NULL, err);
}

int mq_publish_delayed(struct mq *m, int delay_s, enum jobprio p, const char *body, size_t len, struct buf *err)
{
	char name[64];

	if (delay_s < 1)
		delay_s = 1;
	snprintf(name, sizeof(name), "%s%d", jobprio_retry_prefix(p), delay_s);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (attempt > 0)
			buf_reset(err);
		if (ensure_fresh(m, err) < 0)
			continue;
		/* the declare also restarts x-expires, so the queue outlives the TTL */
		int rc = mq_declare_queue(m, name, MQ_ROLE_RETRY, NULL, err);
		if (rc == MQ_MISMATCH && mq_connected(m)) {
			/*
			 * Left from before queue_type changed: its TTL and dead-lettering
			 * are the same, so use it as it is (a passive declare restarts its
			 * x-expires too) until it expires unused or is migrated.
			 */
			log_debug("%s; using it as it is", buf_str(err));
			buf_reset(err);
			rc = mq_queue_counts(m, name, NULL, NULL, err);
		}
		if (rc < 0) {
			if (mq_connected(m))
				return -1;
			continue;
		}
		if (publish_once(m, "", name, body, len, err) == 0)
			return 0;
		if (mq_connected(m))
			return -1;
	}
	return -1;
}

/* basic.qos: the prefetch of the consumers started after it on the channel. */
static int qos(struct mq *m, int prefetch, struct buf *err)
{
	if (need_conn(m, err) < 0)
		return -1;
	if (prefetch < 0)
		prefetch = 0;
	if (prefetch > 65535)
		prefetch = 65535;
	/* deliveries that arrive before the qos-ok are queued by librabbitmq (mq_buffered) */
	amqp_basic_qos(m->conn, MQ_CHANNEL, 0, (uint16_t)prefetch, 0);
	return check_rpc(m, "basic.qos", err);
}

/* basic.consume of `queue` as consumer `i`, remembering it for mq_qos and mq_next. */
static int consume_start(struct mq *m, int i, const char *queue, struct buf *err)
{
	amqp_basic_consume_ok_t *ok = amqp_basic_consume(m->conn, MQ_CHANNEL, amqp_cstring_bytes(queue),
							 amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
	if (check_rpc(m, queue, err) < 0 || !ok)
		return -1;
	if (m->consuming[i] != queue) {
		free(m->consuming[i]);
		m->consuming[i] = xstrdup(queue);
	}
	free(m->consumer_tag[i]);
	m->consumer_tag[i] = xstrndup(ok->consumer_tag.bytes, ok->consumer_tag.len);
	return 0;
}

int mq_qos(struct mq *m, int prefetch, struct buf *err)
{
	if (qos(m, prefetch, err) < 0)
		return -1;
	/*
	 * RabbitMQ fixes a consumer's prefetch at basic.consume: start them again.
	 * Deliveries not yet acked stay valid (their tags belong to the channel) and
	 * those arriving for the old consumers meanwhile are queued by librabbitmq
	 * (their tags are kept until the new ones are known).
	 */
	for (int i = 0; i < m->nconsumers; i++) {
		amqp_basic_cancel(m->conn, MQ_CHANNEL, amqp_cstring_bytes(m->consumer_tag[i]));
		if (check_rpc(m, "basic.cancel", err) < 0 || consume_start(m, i, m->consuming[i], err) < 0)
			return -1;
	}
	return 0;
}

int mq_fd(const struct mq *m)
{
	return m->conn ? amqp_get_sockfd(m->conn) : -1;
}

bool mq_buffered(const struct mq *m)
{
	return m->conn && (amqp_frames_enqueued(m->conn) || amqp_data_in_buffer(m->conn));
}

int mq_consume(struct mq *m, const char *queue, int prefetch, struct buf *err)
{
	if (m->nconsumers >= MQ_CONSUMERS_MAX) {
		buf_printf(err, "rabbitmq: more than %d consumers on one connection", MQ_CONSUMERS_MAX);
		return -1;
	}
	if (qos(m, prefetch, err) < 0 || consume_start(m, m->nconsumers, queue, err) < 0)
		return -1;
	m->nconsumers++;
	return 0;
}

/* Which consumer a delivery's tag names: its index, 0 when unknown. */
static int consumer_of(const struct mq *m, amqp_bytes_t tag)
{
	for (int i = 0; i < m->nconsumers; i++)
		if (m->consumer_tag[i] && strlen(m->consumer_tag[i]) == tag.len &&
		    !memcmp(m->consumer_tag[i], tag.bytes, tag.len))
			return i;
	return 0;
}

int mq_next(struct mq *m, struct mq_delivery *d, int timeout_ms, struct buf *err)
{
	amqp_envelope_t env;
	struct timeval tv;

	memset(d, 0, sizeof(*d));
	if (need_conn(m, err) < 0)
		return -1;
	amqp_maybe_release_buffers(m->conn);
	tv_from_ms(&tv, timeout_ms);
	amqp_rpc_reply_t r = amqp_consume_message(m->conn, &env, &tv, 0);
	if (r.reply_type == AMQP_RESPONSE_NORMAL) {
		d->tag = env.delivery_tag;
		d->len = env.message.body.len;
		d->body = xstrndup(env.message.body.bytes ? env.message.body.bytes : "", d->len);
		d->routing_key = xstrndup(env.routing_key.bytes ? env.routing_key.bytes : "", env.routing_key.len);
		d->redelivered = env.redelivered;
		d->consumer = consumer_of(m, env.consumer_tag);
		amqp_destroy_envelope(&env);
		touch(m);
		return 1;
	}
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
		return 0;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
		amqp_frame_t f;
		tv_from_ms(&tv, 1000);
		int st = amqp_simple_wait_frame_noblock(m->conn, &f, &tv);
		if (st != AMQP_STATUS_OK) {
			buf_printf(err, "rabbitmq: consume: %s", amqp_error_string2(st));
			conn_destroy(m);
			return -1;
		}
		if (f.frame_type != AMQP_FRAME_METHOD)
			return 0;
		switch (f.payload.method.id) {
		case AMQP_CHANNEL_CLOSE_METHOD:
		case AMQP_CONNECTION_CLOSE_METHOD:
			server_closed(m, f.payload.method, "consume", err);
			conn_destroy(m); /* the consumer is gone with the channel */
			return -1;
		case AMQP_BASIC_CANCEL_METHOD:
			buf_adds(err, "rabbitmq: the broker cancelled the consumer (queue deleted?)");
			conn_destroy(m);
			return -1;
		default:
			return 0;
		}
	}
	reply_error(m, r, "consume", err);
	conn_destroy(m);
	return -1;
}

void mq_delivery_free(struct mq_delivery *d)
{
	free(d->body);
	free(d->routing_key);
	memset(d, 0, sizeof(*d));
}

static int ack(struct mq *m, uint64_t tag, bool multiple)
{
	if (!mq_connected(m))
		return -1;
	if (amqp_basic_ack(m->conn, MQ_CHANNEL, tag, multiple ? 1 : 0) != AMQP_STATUS_OK) {
		conn_destroy(m);
		return -1;
	}
	return 0;
}

int mq_ack(struct mq *m, uint64_t tag)
{
	return ack(m, tag, false);
}

int mq_ack_multiple(struct mq *m, uint64_t tag)
{
	return ack(m, tag, true);
}

int mq_reject(struct mq *m, uint64_t tag, bool requeue)
{
	if (!mq_connected(m))
		return -1;
	if (amqp_basic_reject(m->conn, MQ_CHANNEL, tag, requeue ? 1 : 0) != AMQP_STATUS_OK) {
		conn_destroy(m);
		return -1;
	}
	return 0;
}

int mq_queue_counts(struct mq *m, const char *queue, uint32_t *messages, uint32_t *consumers,
		    struct buf *err)
{
	if (need_conn(m, err) < 0)
		return -1;
	amqp_queue_declare_ok_t *ok = amqp_queue_declare(m->conn, MQ_CHANNEL, amqp_cstring_bytes(queue), 1, 0,
							 0, 0, amqp_empty_table);
	if (!ok) {
		check_rpc(m, queue, err);
		return -1;
	}
	touch(m);
	if (messages)
		*messages = ok->message_count;
	if (consumers)
		*consumers = ok->consumer_count;
	return 0;
}

/* Messages mq_queue_move takes before it publishes them and waits for their confirms. */
#define MOVE_BATCH 128

/* basic.get one message of `from` into *msg: 1 and *tag, 0 when `from` is empty, -1 + err. */
static int get_one(struct mq *m, const char *from, amqp_message_t *msg, uint64_t *tag, struct buf *err)
{
	amqp_rpc_reply_t r = amqp_basic_get(m->conn, MQ_CHANNEL, amqp_cstring_bytes(from), 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		reply_error(m, r, from, err);
		return -1;
	}
	if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
		return 0;
	*tag = ((const amqp_basic_get_ok_t *)r.reply.decoded)->delivery_tag;
	r = amqp_read_message(m->conn, MQ_CHANNEL, msg, 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		reply_error(m, r, from, err);
		conn_destroy(m);
		return -1;
	}
	return 1;
}

/*
 * One batch of mq_queue_move: get up to MOVE_BATCH messages, then publish them
 * all (no get waits behind a confirm), wait for the confirms and ack the
 * originals. The number moved (0: `from` is empty), or -1 + err.
 */
static int move_batch(struct mq *m, const char *from, const char *to, struct buf *err)
{
	amqp_message_t *msgs = xcalloc(MOVE_BATCH, sizeof(*msgs));
	uint64_t tag = 0, first = m->next_seq;
	int n = 0, rc = 1;

	while (n < MOVE_BATCH && (rc = get_one(m, from, &msgs[n], &tag, err)) == 1)
		n++;
	for (int i = 0; i < n && rc >= 0; i++)
		rc = publish_props(m, "", to, &msgs[i].properties, msgs[i].body, err);
	for (int i = 0; i < n; i++)
		amqp_destroy_message(&msgs[i]);
	free(msgs);
	if (rc < 0)
		return -1;
	if (n == 0)
		return 0;
	/* the copies are the broker's before the originals go */
	if (wait_confirms(m, first, (size_t)n, err) < 0)
		return -1;
	if (amqp_basic_ack(m->conn, MQ_CHANNEL, tag, 1) != AMQP_STATUS_OK) {
		buf_printf(err, "rabbitmq: cannot acknowledge the messages taken from '%s'", from);
		conn_destroy(m);
		return -1;
	}
	amqp_maybe_release_buffers(m->conn);
	touch(m);
	return n;
}

int mq_queue_move(struct mq *m, const char *from, const char *to, uint64_t *moved, struct buf *err)
{
	int n;

	*moved = 0;
	if (need_conn(m, err) < 0)
		return -1;
	while ((n = move_batch(m, from, to, err)) > 0)
		*moved += (uint64_t)n;
	return n < 0 ? -1 : 0;
}

int mq_queue_delete(struct mq *m, const char *queue, struct buf *err)
{
	uint32_t messages, consumers;

	/*
	 * Checked here rather than with the if-unused and if-empty flags of
	 * queue.delete: RabbitMQ 3.10 answers those for a quorum queue with
	 * NOT_IMPLEMENTED, closing the connection.
	 */
	if (mq_queue_counts(m, queue, &messages, &consumers, err) < 0)
		return -1;
	if (messages || consumers) {
		buf_printf(err, "rabbitmq: queue '%s' not deleted: it has %u message%s and %u consumer%s", queue,
			   messages, messages == 1 ? "" : "s", consumers, consumers == 1 ? "" : "s");
		return -1;
	}
	amqp_queue_delete(m->conn, MQ_CHANNEL, amqp_cstring_bytes(queue), 0, 0);
	return check_rpc(m, queue, err);
}
