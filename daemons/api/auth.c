/*
 * auth — Bearer API keys. An authenticated request normally costs one HMAC and
 * no database round trip, a made-up key one lookup at most, and neither a flood
 * of requests with one key nor a flood of made-up keys gets far.
 *
 * Four structures, each of a fixed size:
 *
 *  - the key cache: the keyed hash of a verified key -> its tenant and key id,
 *    api.key_cache_size slots indexed by the first bytes of the hash (uniformly
 *    distributed: it is an HMAC); a colliding key takes the slot over. Entries
 *    live key_cache_ttl seconds (0: every request asks the database), so a
 *    revoked key stops working within that time. Only keys the database knows
 *    go in: an unknown key never pushes a good one out.
 *  - the unknown keys: hashes the database did not know, kept apart in a
 *    set-associative table of UNKNOWN_SLOTS entries for UNKNOWN_TTL_S (no key
 *    becomes valid later: new keys are random), the one expiring first making
 *    room. A made-up key costs one lookup; sent again, none.
 *  - one token bucket per key hash (ratelimit.h): rate_limit per second,
 *    rate_burst deep, or the tenant's tenant_rate_limits. It is taken on every
 *    request whatever the cache holds, lives in its own table and is evicted
 *    only once full again, so neither key_cache_ttl = 0 nor an eviction from the
 *    cache resets it. A key whose bucket is empty gets 429 before any lookup.
 *  - one token bucket per client address (req_client_addr; an IPv6 client by
 *    its /64) of failed authentications: auth_failure_rate, auth_failure_burst.
 *    Once it is empty, a request from there whose key is not in the cache gets
 *    429 without a lookup; keys in the cache still pass, so a good client behind
 *    the same address keeps working.
 *
 * The tables of buckets and unknown keys have their own locks; the cache is
 * behind a read-write lock, read on every request.
 */
#include "api.h"
#include "apikey.h"
#include "clock.h"
#include "log.h"
#include "ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UNKNOWN_SLOTS 16384
#define UNKNOWN_WAYS 8
#define UNKNOWN_TTL_S 300
#define STRIPES 64
#define ADDR_BUCKETS 16384
#define MIN_KEY_BUCKETS 1024

struct auth_slot {
	unsigned char hash[32];
	char tenant[128];
	char key_id[37];
	unsigned char used;
	uint64_t expires_ns;
};

struct unknown_slot {
	unsigned char hash[32];
	uint64_t expires_ns;     /* 0: unused */
};

static struct {
	pthread_rwlock_t lock;   /* guards slots */
	struct auth_slot *slots;
	size_t mask;
	struct unknown_slot *unknown;             /* sets of UNKNOWN_WAYS */
	pthread_mutex_t unknown_locks[STRIPES];   /* set s: unknown_locks[s % STRIPES] */
	struct ratelimit *key_buckets;
	struct ratelimit *addr_buckets;
	char *pepper;
} cache = { .lock = PTHREAD_RWLOCK_INITIALIZER };

void auth_init(const char *pepper, int64_t slots)
{
	size_t n = 1;
	while ((int64_t)n < slots)
		n <<= 1;
	cache.slots = xcalloc(n, sizeof(*cache.slots));
	cache.mask = n - 1;
	cache.unknown = xcalloc(UNKNOWN_SLOTS, sizeof(*cache.unknown));
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&cache.unknown_locks[i], NULL);
	cache.key_buckets = ratelimit_new(4 * n > MIN_KEY_BUCKETS ? 4 * n : MIN_KEY_BUCKETS);
	cache.addr_buckets = ratelimit_new(ADDR_BUCKETS);
	cache.pepper = xstrdup(pepper);
}

void auth_free(void)
{
	free(cache.slots);
	cache.slots = NULL;
	free(cache.unknown);
	cache.unknown = NULL;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&cache.unknown_locks[i]);
	ratelimit_free(cache.key_buckets);
	ratelimit_free(cache.addr_buckets);
	cache.key_buckets = cache.addr_buckets = NULL;
	if (cache.pepper) {
		OPENSSL_cleanse(cache.pepper, strlen(cache.pepper));
		free(cache.pepper);
		cache.pepper = NULL;
	}
}

static size_t index_of(const unsigned char h[32], size_t mask)
{
	size_t i;
	memcpy(&i, h, sizeof(i));
	return i & mask;
}

/*
 * HMAC-SHA256(pepper, text), as apikey_hash(), with a context per thread keyed
 * with the pepper once: a one-shot HMAC fetches the algorithm and sets up and
 * frees its contexts on every request. Falls back to apikey_hash() should
 * OpenSSL refuse.
 */
static pthread_key_t mac_ctx_key;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *mac_hmac;

static void mac_ctx_free(void *ctx)
{
	EVP_MAC_CTX_free(ctx);
}

static void mac_setup(void)
{
	if (pthread_key_create(&mac_ctx_key, mac_ctx_free) == 0)
		mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static void auth_hash(const char *text, unsigned char out[32])
{
	pthread_once(&mac_once, mac_setup);
	EVP_MAC_CTX *ctx = mac_hmac ? pthread_getspecific(mac_ctx_key) : NULL;
	int ok;
	if (ctx) {
		ok = EVP_MAC_init(ctx, NULL, 0, NULL); /* the key set before */
	} else if (mac_hmac && (ctx = EVP_MAC_CTX_new(mac_hmac))) {
		char digest[] = "SHA256";
		OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
					OSSL_PARAM_construct_end() };
		ok = EVP_MAC_init(ctx, (const unsigned char *)cache.pepper, strlen(cache.pepper), params) &&
		     pthread_setspecific(mac_ctx_key, ctx) == 0;
		if (!ok) {
			EVP_MAC_CTX_free(ctx);
			ctx = NULL;
		}
	} else {
		ok = 0;
	}
	size_t len = 0;
	if (!ok || !EVP_MAC_update(ctx, (const unsigned char *)text, strlen(text)) ||
	    !EVP_MAC_final(ctx, out, &len, 32) || len != 32)
		apikey_hash(cache.pepper, text, out);
}

/* 1 if the cache holds the key (its tenant and id copied into r), else 0. */
static int cache_get(const unsigned char h[32], struct req *r, uint64_t now)
{
	int hit = 0;
	pthread_rwlock_rdlock(&cache.lock);
	const struct auth_slot *s = &cache.slots[index_of(h, cache.mask)];
	if (s->used && now < s->expires_ns && CRYPTO_memcmp(s->hash, h, 32) == 0) {
		hit = 1;
		memcpy(r->tenant, s->tenant, sizeof(r->tenant));
		memcpy(r->key_id, s->key_id, sizeof(r->key_id));
	}
	pthread_rwlock_unlock(&cache.lock);
	return hit;
}

static void cache_put(const unsigned char h[32], const struct req *r, int64_t ttl_s, uint64_t now)
{
	if (ttl_s <= 0)
		return;
	pthread_rwlock_wrlock(&cache.lock);
	struct auth_slot *s = &cache.slots[index_of(h, cache.mask)];
	memcpy(s->hash, h, 32);
	memcpy(s->tenant, r->tenant, sizeof(s->tenant));
	memcpy(s->key_id, r->key_id, sizeof(s->key_id));
	s->used = 1;
	s->expires_ns = now + (uint64_t)ttl_s * 1000000000u;
	pthread_rwlock_unlock(&cache.lock);
}

/* The set of unknown keys `h` belongs to, locked; unlock with unknown_unlock. */
static struct unknown_slot *unknown_lock(const unsigned char h[32], size_t *set)
{
	*set = index_of(h, UNKNOWN_SLOTS / UNKNOWN_WAYS - 1);
	pthread_mutex_lock(&cache.unknown_locks[*set % STRIPES]);
	return &cache.unknown[*set * UNKNOWN_WAYS];
}

static void unknown_unlock(size_t set)
{
	pthread_mutex_unlock(&cache.unknown_locks[set % STRIPES]);
}

/* 1 if the database said lately that it does not know this key. */
static int unknown_has(const unsigned char h[32], uint64_t now)
{
	size_t set;
	const struct unknown_slot *u = unknown_lock(h, &set);
	int hit = 0;
	for (int w = 0; w < UNKNOWN_WAYS && !hit; w++)
		hit = u[w].expires_ns > now && CRYPTO_memcmp(u[w].hash, h, 32) == 0;
	unknown_unlock(set);
	return hit;
}

/* Remember an unknown key, in place of the entry of its set that expires first. */
static void unknown_put(const unsigned char h[32], uint64_t now)
{
	size_t set;
	struct unknown_slot *u = unknown_lock(h, &set), *victim = &u[0];
	for (int w = 1; w < UNKNOWN_WAYS; w++)
		if (u[w].expires_ns < victim->expires_ns)
			victim = &u[w];
	memcpy(victim->hash, h, 32);
	victim->expires_ns = now + (uint64_t)UNKNOWN_TTL_S * 1000000000u;
	unknown_unlock(set);
}

/*
 * The bucket id of the request's client address: a keyed hash of the address,
 * of its /64 for IPv6 (one client commonly holds a whole /64). 0, or -1 when the
 * address is not known.
 */
static int client_id(struct req *r, unsigned char id[32])
{
	char text[INET6_ADDRSTRLEN], norm[INET6_ADDRSTRLEN + 8] = "addr:";
	unsigned char a[16];
	if (req_client_addr(r, text) < 0)
		return -1;
	if (inet_pton(AF_INET6, text, a) == 1) {
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)a))
			inet_ntop(AF_INET, a + 12, norm + 5, INET6_ADDRSTRLEN);
		else {
			memset(a + 8, 0, 8);
			inet_ntop(AF_INET6, a, norm + 5, INET6_ADDRSTRLEN);
		}
	} else {
		snprintf(norm + 5, sizeof(norm) - 5, "%s", text);
	}
	auth_hash(norm, id);
	return 0;
}

/* Ask the database; 1 found (r's tenant and key id filled), 0 unknown, -1 database down (503 queued). */
static int lookup_db(struct req *r, const unsigned char h[32], enum MHD_Result *ret)
{
	struct buf err = BUF_INIT;
	char *tenant = NULL;
	char id[37] = "";
	int found = -1;
	prom_key_lookup();
	struct db_conn *c = db_acquire(r->api->db, 2000, &err);
	if (c) {
		int rc = apikey_lookup(c, h, &tenant, id, &err);
		db_release(c);
		if (rc >= 0)
			found = rc == 0;
	}
	if (found < 0) {
		*ret = reply_unavailable(r, "database", buf_str(&err));
	} else if (found) {
		if (strlen(tenant) >= sizeof(r->tenant)) {
			log_error("auth: tenant name of key %s is too long", id);
			found = 0;
		} else {
			strcpy(r->tenant, tenant);
			memcpy(r->key_id, id, sizeof(r->key_id));
		}
	}
	free(tenant);
	buf_release(&err);
	return found;
}

static int refuse_limited(struct req *r, enum prom_limit which, enum MHD_Result *ret)
{
	prom_rate_limited(which);
	*ret = reply_rate_limited(r, which == PROM_LIMIT_KEY
					     ? "too many requests for this API key; slow down"
					     : "too many failed authentications from this address; slow down");
	return -1;
}

/*
 * A key the cache does not hold. Refused without a lookup when its client
 * address has used up its failed authentications (429), when its bucket is
 * empty (429) or when the database said lately that it does not know it (401);
 * else looked up and remembered either way. 0 with r's tenant and key id
 * filled, or -1 with the response queued in *ret.
 */
static int verify_uncached(struct req *r, const unsigned char h[32], uint64_t now, enum MHD_Result *ret)
{
	const struct config *cfg = r->api->cfg;
	unsigned char addr[32];
	int have_addr = client_id(r, addr) == 0;
	if (have_addr && ratelimit_peek(cache.addr_buckets, addr, now) != RATELIMIT_OK)
		return refuse_limited(r, PROM_LIMIT_AUTH_FAILURES, ret);
	int found = 0;
	if (!unknown_has(h, now)) {
		if (ratelimit_peek(cache.key_buckets, h, now) == RATELIMIT_EMPTY)
			return refuse_limited(r, PROM_LIMIT_KEY, ret);
		found = lookup_db(r, h, ret);
		if (found < 0)
			return -1;
		if (found)
			cache_put(h, r, cfg->api.key_cache_ttl, now);
		else
			unknown_put(h, now);
	}
	if (found)
		return 0;
	if (have_addr)
		ratelimit_take(cache.addr_buckets, addr, (double)cfg->api.auth_failure_rate,
			       (double)cfg->api.auth_failure_burst, now);
	r->tenant[0] = '\0';
	*ret = reply_unauthorized(r, "invalid API key");
	return -1;
}

/*
 * Take a token from the key's bucket: 0, or -1 with the 429 queued. A key whose
 * set of buckets is all busy (more active keys than the table holds) passes.
 */
static int key_limit(struct req *r, const unsigned char h[32], uint64_t now, enum MHD_Result *ret)
{
	const struct config *cfg = r->api->cfg;
	int64_t rate = cfg->api.rate_limit, burst = cfg->api.rate_burst;
	config_tenant_rate(cfg->api.tenant_rate_limits, r->tenant, &rate, &burst);
	if (rate > 0 && ratelimit_take(cache.key_buckets, h, (double)rate, (double)burst, now) == RATELIMIT_EMPTY)
		return refuse_limited(r, PROM_LIMIT_KEY, ret);
	return 0;
}

int auth_check(struct req *r, enum MHD_Result *ret)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	if (!h || !*h) {
		*ret = reply_unauthorized(r, "missing API key: send 'Authorization: Bearer <key>'");
		return -1;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		*ret = reply_unauthorized(r, "the Authorization scheme must be 'Bearer'");
		return -1;
	}
	const char *key = h + 7;
	while (*key == ' ')
		key++;
	if (!apikey_format_ok(key)) {
		*ret = reply_unauthorized(r, "invalid API key");
		return -1;
	}
	unsigned char hash[32];
	auth_hash(key, hash);
	uint64_t now = clock_now_ns();
	if (!cache_get(hash, r, now) && verify_uncached(r, hash, now, ret) < 0)
		return -1;
	return key_limit(r, hash, now, ret);
}
