/*
 * conns — every open connection of the API, for the limits libmicrohttpd does
 * not have: connections per client address, and deadlines for the request
 * header and for an idle video body.
 *
 * MHD's connection_timeout is an idle timeout: a client that sends one header
 * byte every few seconds (slowloris) keeps its connection for ever. So each
 * connection is recorded here from MHD's STARTED notification to its CLOSED one
 * with its socket and a deadline, and a watchdog thread shuts down (shutdown(2),
 * not close: the socket stays MHD's) those whose deadline passed; MHD sees the
 * end of the stream and closes them. The deadline follows the request's phase
 * (conns_phase): a whole header, and a JSON body, within api.header_timeout of
 * the connection's start or of its previous response; a video body that sends
 * nothing for api.upload_idle_timeout; none while a request is handled or waits.
 *
 * Why the socket is never someone else's: libmicrohttpd (0.9.75, the Debian 12
 * one) calls the CLOSED notification before it closes the socket, entries leave
 * the registry there under `mu`, and the watchdog only touches sockets of entries
 * in the registry, under `mu`.
 *
 * The per-address cap is counted here too: MHD_OPTION_PER_IP_CONNECTION_LIMIT
 * would count a load balancer's connections, which carry every client, against
 * one address. Connections from api.trusted_proxies are neither counted nor given
 * a header deadline (a proxy sends whole headers and keeps idle connections open
 * for the next request; MHD's connection_timeout still ends those). The accept
 * policy refuses a connection over the cap before MHD sets it up; STARTED counts
 * again under the lock, since the pool threads accept concurrently, and shuts
 * down one that got past.
 */
#include "api.h"
#include "bgthread.h"
#include "clock.h"
#include "log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* How often the watchdog looks; a deadline is kept to within this. */
#define TICK_MS 250
/* At most one summary of refused and closed connections per this many seconds. */
#define REPORT_S 10
/* X-Forwarded-For beyond this is not read (MHD's memory limit bounds headers anyway). */
#define XFF_MAX 4096

struct conn {
	struct conn *prev, *next;         /* all connections */
	struct conn *bprev, *bnext;       /* this address's bucket */
	int fd;
	int has_peer;                     /* peer is an IP address */
	int trusted;                      /* peer is in api.trusted_proxies (at accept) */
	int shut;                         /* the watchdog shut it down */
	struct netaddr peer;
	_Atomic uint64_t deadline_ns;     /* clock_now_ns(); 0: none */
	_Atomic int phase;                /* enum conn_phase the deadline is for */
};

static struct {
	pthread_mutex_t mu;               /* guards everything below but `watchdog` */
	struct api *api;
	struct conn *all;
	struct conn **bucket;
	size_t nbuckets;                  /* a power of two */
	struct netaddr_list trusted;      /* parsed from trusted_for->api.trusted_proxies */
	const struct config *trusted_for;
	/* counted since the last report */
	unsigned long refused, cut[CONN_PHASES];
	struct netaddr refused_last;
	uint64_t reported_ns;
	struct bgthread watchdog;
} g = { .mu = PTHREAD_MUTEX_INITIALIZER, .watchdog = BGTHREAD_INIT };

static size_t bucket_of(const struct netaddr *a)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < sizeof(a->b); i++)
		h = (h ^ a->b[i]) * 16777619u;
	return h & (g.nbuckets - 1);
}

/* The trusted proxies of the current config (lock held). */
static const struct netaddr_list *trusted(void)
{
	const struct config *cfg = g.api->cfg;
	if (cfg != g.trusted_for) {
		struct buf why = BUF_INIT;
		if (netaddr_list_parse(cfg->api.trusted_proxies, &g.trusted, &why) < 0)
			log_error("api: trusted_proxies: %s", buf_str(&why)); /* checked at load */
		buf_release(&why);
		g.trusted_for = cfg;
	}
	return &g.trusted;
}

/* Connections counted against `a` (lock held). */
static long count(const struct netaddr *a)
{
	long n = 0;
	for (const struct conn *e = g.bucket[bucket_of(a)]; e; e = e->bnext)
		n += !e->trusted && netaddr_equal(&e->peer, a);
	return n;
}

/* Would one more connection from `a` pass the cap? (lock held) */
static int over_cap(const struct netaddr *a, int is_trusted)
{
	int64_t cap = g.api->cfg->api.max_conns_per_address;
	return cap > 0 && !is_trusted && count(a) >= cap;
}

enum MHD_Result conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct netaddr a;
	(void)cls;
	(void)addrlen;
	if (netaddr_from_sockaddr(addr, &a) < 0)
		return MHD_YES;
	pthread_mutex_lock(&g.mu);
	int refuse = over_cap(&a, netaddr_list_match(trusted(), &a));
	if (refuse) {
		g.refused++;
		g.refused_last = a;
	}
	pthread_mutex_unlock(&g.mu);
	return refuse ? MHD_NO : MHD_YES;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* Set e's deadline for `phase` from the current config. */
static void set_phase(struct conn *e, enum conn_phase phase)
{
	const struct config_api *c = &g.api->cfg->api;
	int64_t s = phase == CONN_UPLOAD ? c->upload_idle_timeout
		  : phase == CONN_BUSY || (phase == CONN_HEADER && e->trusted) ? 0
		  : c->header_timeout;
	atomic_store(&e->phase, (int)phase);
	atomic_store(&e->deadline_ns, s ? clock_now_ns() + (uint64_t)s * 1000000000u : 0);
}

void conns_phase(struct MHD_Connection *c, enum conn_phase phase)
{
	struct conn *e = conn_of(c);
	if (e)
		set_phase(e, phase);
}

static void conn_started(struct MHD_Connection *c, void **socket_context)
{
	struct conn *e = xcalloc(1, sizeof(*e));
	const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *ca = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	e->fd = fd ? fd->connect_fd : -1;
	e->has_peer = ca && netaddr_from_sockaddr(ca->client_addr, &e->peer) == 0;
	pthread_mutex_lock(&g.mu);
	e->trusted = e->has_peer && netaddr_list_match(trusted(), &e->peer);
	if (e->has_peer && over_cap(&e->peer, e->trusted) && e->fd >= 0) {
		/* Past the accept policy at the same time as others from the address. */
		shutdown(e->fd, SHUT_RDWR);
		e->shut = 1;
		g.refused++;
		g.refused_last = e->peer;
	}
	set_phase(e, CONN_HEADER);
	e->next = g.all;
	if (g.all)
		g.all->prev = e;
	g.all = e;
	if (e->has_peer) {
		struct conn **b = &g.bucket[bucket_of(&e->peer)];
		e->bnext = *b;
		if (*b)
			(*b)->bprev = e;
		*b = e;
	}
	pthread_mutex_unlock(&g.mu);
	*socket_context = e;
}

static void conn_closed(void **socket_context)
{
	struct conn *e = *socket_context;
	if (!e)
		return;
	*socket_context = NULL;
	pthread_mutex_lock(&g.mu);
	if (e->prev)
		e->prev->next = e->next;
	else
		g.all = e->next;
	if (e->next)
		e->next->prev = e->prev;
	if (e->bprev)
		e->bprev->bnext = e->bnext;
	else if (e->has_peer)
		g.bucket[bucket_of(&e->peer)] = e->bnext;
	if (e->bnext)
		e->bnext->bprev = e->bprev;
	pthread_mutex_unlock(&g.mu);
	free(e);
}

void conns_notify(struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode code)
{
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		conn_started(c, socket_context);
	else
		conn_closed(socket_context);
}

/* The X-Forwarded-For headers of c joined with commas, in order. */
static enum MHD_Result xff_add(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct buf *b = cls;
	(void)kind;
	if (key && value && !strcasecmp(key, "X-Forwarded-For") && b->len + strlen(value) < XFF_MAX) {
		if (b->len)
			buf_addc(b, ',');
		buf_adds(b, value);
	}
	return MHD_YES;
}

void conns_client(struct MHD_Connection *c, char out[NETADDR_STRLEN])
{
	struct conn *e = conn_of(c);
	struct netaddr client;
	out[0] = '\0';
	if (!e || !e->has_peer)
		return;
	client = e->peer;
	if (e->trusted) {
		struct buf xff = BUF_INIT;
		MHD_get_connection_values(c, MHD_HEADER_KIND, xff_add, &xff);
		pthread_mutex_lock(&g.mu);
		netaddr_forwarded_client(trusted(), &e->peer, xff.len ? buf_str(&xff) : NULL, &client);
		pthread_mutex_unlock(&g.mu);
		buf_release(&xff);
	}
	netaddr_format(&client, out);
}

/* Shut down the connections whose deadline passed (lock held). */
static void expire(uint64_t now)
{
	for (struct conn *e = g.all; e; e = e->next) {
		uint64_t d = atomic_load(&e->deadline_ns);
		if (!d || d > now || e->shut || e->fd < 0)
			continue;
		shutdown(e->fd, SHUT_RDWR);
		e->shut = 1;
		g.cut[atomic_load(&e->phase)]++;
	}
}

/* One warning for what was refused and cut since the last (lock held; logs after). */
static void report(uint64_t now, struct buf *msg)
{
	const struct config_api *c = &g.api->cfg->api;
	if (now - g.reported_ns < (uint64_t)REPORT_S * 1000000000u)
		return;
	if (g.refused) {
		char a[NETADDR_STRLEN];
		netaddr_format(&g.refused_last, a);
		buf_printf(msg, "; refused %lu over max_connections_per_address (%lld; last from %s)", g.refused,
			   (long long)c->max_conns_per_address, a);
	}
	if (g.cut[CONN_HEADER] + g.cut[CONN_BODY])
		buf_printf(msg, "; closed %lu whose request did not arrive within header_timeout (%llds)",
			   g.cut[CONN_HEADER] + g.cut[CONN_BODY], (long long)c->header_timeout);
	if (g.cut[CONN_UPLOAD])
		buf_printf(msg, "; closed %lu uploads idle for upload_idle_timeout (%llds)", g.cut[CONN_UPLOAD],
			   (long long)c->upload_idle_timeout);
	if (msg->len)
		g.reported_ns = now;
	g.refused = 0;
	memset(g.cut, 0, sizeof(g.cut));
}

static void *watchdog_main(void *arg)
{
	(void)arg;
	struct buf msg = BUF_INIT;
	do {
		uint64_t now = clock_now_ns();
		pthread_mutex_lock(&g.mu);
		expire(now);
		report(now, &msg);
		pthread_mutex_unlock(&g.mu);
		if (msg.len)
			log_warn("connections: %s", buf_str(&msg) + 2);
		buf_reset(&msg);
	} while (!bgthread_wait_for(&g.watchdog, TICK_MS));
	buf_release(&msg);
	return NULL;
}

int conns_start(struct api *a, struct buf *err)
{
	size_t n = 64;
	while (n < (size_t)a->cfg->api.max_connections)
		n *= 2;
	pthread_mutex_lock(&g.mu);
	g.api = a;
	g.nbuckets = n;
	g.bucket = xcalloc(n, sizeof(*g.bucket));
	pthread_mutex_unlock(&g.mu);
	return bgthread_start(&g.watchdog, "connections", watchdog_main, NULL, err);
}

void conns_stop(void)
{
	bgthread_stop(&g.watchdog);
}

void conns_free(void)
{
	pthread_mutex_lock(&g.mu);
	free(g.bucket);
	g.bucket = NULL;
	netaddr_list_free(&g.trusted);
	g.trusted_for = NULL;
	pthread_mutex_unlock(&g.mu);
}
