/*
 * auth — Bearer API keys with an in-process cache, so an authenticated request
 * normally costs one HMAC and no database round trip.
 *
 * The cache maps the keyed hash of a key to its tenant. It is a fixed array of
 * slots indexed by the first bytes of the hash (uniformly distributed: it is an
 * HMAC), so its size is bounded and a colliding key simply takes the slot over.
 * Entries live key_cache_ttl seconds, so a revoked key stops working within that
 * time; unknown keys are cached too, for at most NEG_TTL_S, so that a client
 * retrying a bad key does not reach the database every time.
 *
 * With api.rate_limit > 0 each cached key also has a token bucket (rate_limit per
 * second, rate_burst deep); an empty bucket answers 429. Buckets are updated under
 * the read lock plus one of STRIPES mutexes, so keys rarely contend.
 */
#include "api.h"
#include "clock.h"
#include "apikey.h"
#include "log.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NEG_TTL_S 5
#define STRIPES 64

enum slot_state { SLOT_EMPTY = 0, SLOT_FOUND, SLOT_UNKNOWN };

struct auth_slot {
	unsigned char hash[32];
	char tenant[128];
	char key_id[37];
	unsigned char state;
	uint64_t expires_ns;
	double tokens;           /* rate limit bucket, guarded by the slot's stripe */
	uint64_t refill_ns;
};

static struct {
	pthread_rwlock_t lock;   /* guards slots */
	struct auth_slot *slots;
	size_t mask;
	char *pepper;
	pthread_mutex_t stripes[STRIPES];
} cache = { .lock = PTHREAD_RWLOCK_INITIALIZER };

void auth_init(const char *pepper, int64_t slots)
{
	size_t n = 1;
	while ((int64_t)n < slots)
		n <<= 1;
	cache.slots = xcalloc(n, sizeof(*cache.slots));
	cache.mask = n - 1;
	cache.pepper = xstrdup(pepper);
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&cache.stripes[i], NULL);
}

void auth_free(void)
{
	free(cache.slots);
	cache.slots = NULL;
	if (cache.pepper) {
		OPENSSL_cleanse(cache.pepper, strlen(cache.pepper));
		free(cache.pepper);
		cache.pepper = NULL;
	}
}

static size_t slot_of(const unsigned char h[32])
{
	size_t i;
	memcpy(&i, h, sizeof(i));
	return i & cache.mask;
}

/* Take a token from the slot's bucket (read lock held); false when it is empty. */
static bool bucket_take(struct auth_slot *s, size_t idx, int64_t rate, int64_t burst, uint64_t now)
{
	pthread_mutex_t *mu = &cache.stripes[idx % STRIPES];
	pthread_mutex_lock(mu);
	s->tokens += (double)(now - s->refill_ns) / 1e9 * (double)rate;
	if (s->tokens > (double)burst)
		s->tokens = (double)burst;
	s->refill_ns = now;
	bool ok = s->tokens >= 1.0;
	if (ok)
		s->tokens -= 1.0;
	pthread_mutex_unlock(mu);
	return ok;
}

/* true on a hit (state copied into r when found; *limited set by the bucket), false on a miss. */
static bool cache_get(struct api *a, const unsigned char h[32], struct req *r, int *found, bool *limited)
{
	bool hit = false;
	uint64_t now = clock_now_ns();
	const struct config *cfg = a->cfg;
	int64_t rate = cfg->api.rate_limit;
	size_t idx = slot_of(h);
	pthread_rwlock_rdlock(&cache.lock);
	struct auth_slot *s = &cache.slots[idx];
	if (s->state != SLOT_EMPTY && now < s->expires_ns && CRYPTO_memcmp(s->hash, h, 32) == 0) {
		hit = true;
		*found = s->state == SLOT_FOUND;
		if (*found) {
			memcpy(r->tenant, s->tenant, sizeof(r->tenant));
			memcpy(r->key_id, s->key_id, sizeof(r->key_id));
			if (rate > 0)
				*limited = !bucket_take(s, idx, rate, cfg->api.rate_burst, now);
		}
	}
	pthread_rwlock_unlock(&cache.lock);
	return hit;
}

static void cache_put(const unsigned char h[32], const struct req *r, bool found, int64_t ttl_s)
{
	if (ttl_s <= 0)
		return;
	pthread_rwlock_wrlock(&cache.lock);
	struct auth_slot *s = &cache.slots[slot_of(h)];
	memcpy(s->hash, h, 32);
	s->state = found ? SLOT_FOUND : SLOT_UNKNOWN;
	memcpy(s->tenant, r->tenant, sizeof(s->tenant));
	memcpy(s->key_id, r->key_id, sizeof(s->key_id));
	s->expires_ns = clock_now_ns() + (uint64_t)ttl_s * 1000000000u;
	s->tokens = (double)r->api->cfg->api.rate_burst;
	s->refill_ns = clock_now_ns();
	pthread_rwlock_unlock(&cache.lock);
}

/* Ask the database; 1 found, 0 unknown, -1 database down (503 queued). */
static int lookup_db(struct req *r, const unsigned char h[32], enum MHD_Result *ret)
{
	struct buf err = BUF_INIT;
	char *tenant = NULL;
	char id[37] = "";
	int found = -1;
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
	int found = 0;
	bool limited = false;
	apikey_hash(cache.pepper, key, hash);
	if (!cache_get(r->api, hash, r, &found, &limited)) {
		found = lookup_db(r, hash, ret);
		if (found < 0)
			return -1;
		int64_t ttl = r->api->cfg->api.key_cache_ttl;
		cache_put(hash, r, found, found ? ttl : (ttl < NEG_TTL_S ? ttl : NEG_TTL_S));
	}
	if (!found) {
		r->tenant[0] = '\0';
		*ret = reply_unauthorized(r, "invalid API key");
		return -1;
	}
	if (limited) {
		*ret = reply_rate_limited(r);
		return -1;
	}
	return 0;
}
