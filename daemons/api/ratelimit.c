/*
 * ratelimit — token buckets in a set-associative table of fixed size (see ratelimit.h).
 */
#include "ratelimit.h"
#include "buf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 64

struct bucket {
	unsigned char id[32];
	double tokens;
	double rate, burst;
	uint64_t at_ns;          /* when tokens was last brought up to date; 0: entry unused */
};

struct ratelimit {
	struct bucket *b;        /* nsets * RATELIMIT_WAYS entries, set s at b[s * WAYS] */
	size_t set_mask;
	pthread_mutex_t stripes[STRIPES];  /* set s is guarded by stripes[s % STRIPES] */
};

struct ratelimit *ratelimit_new(size_t capacity)
{
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));
	size_t sets = 1;
	while (sets * RATELIMIT_WAYS < capacity)
		sets <<= 1;
	rl->b = xcalloc(sets * RATELIMIT_WAYS, sizeof(*rl->b));
	rl->set_mask = sets - 1;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&rl->stripes[i], NULL);
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&rl->stripes[i]);
	free(rl->b);
	free(rl);
}

/* The set of `id`, locked; unlock with set_unlock. */
static struct bucket *set_lock(struct ratelimit *rl, const unsigned char id[32], size_t *set)
{
	uint64_t h;
	memcpy(&h, id, sizeof(h));
	*set = (size_t)h & rl->set_mask;
	pthread_mutex_lock(&rl->stripes[*set % STRIPES]);
	return &rl->b[*set * RATELIMIT_WAYS];
}

static void set_unlock(struct ratelimit *rl, size_t set)
{
	pthread_mutex_unlock(&rl->stripes[set % STRIPES]);
}

/* The tokens of a used entry at `now` (a time before at_ns counts as at_ns). */
static double level(const struct bucket *b, uint64_t now)
{
	double t = b->tokens;
	if (now > b->at_ns)
		t += (double)(now - b->at_ns) / 1e9 * b->rate;
	return t < b->burst ? t : b->burst;
}

/*
 * The entry of `id` in `set`, its tokens brought up to `now`; or NULL with *room
 * set to an entry the id may take — an unused one, or else the idle one (bucket
 * full again) that was touched least recently — or NULL when there is none.
 */
static struct bucket *find(struct bucket *set, const unsigned char id[32], uint64_t now, struct bucket **room)
{
	*room = NULL;
	for (int w = 0; w < RATELIMIT_WAYS; w++) {
		struct bucket *b = &set[w];
		if (b->at_ns == 0) {
			if (!*room || (*room)->at_ns != 0)
				*room = b;
		} else if (memcmp(b->id, id, 32) == 0) {
			b->tokens = level(b, now);
			if (now > b->at_ns)
				b->at_ns = now;
			return b;
		} else if (level(b, now) >= b->burst &&
			   (!*room || ((*room)->at_ns != 0 && b->at_ns < (*room)->at_ns))) {
			*room = b;
		}
	}
	return NULL;
}

enum ratelimit_rc ratelimit_take(struct ratelimit *rl, const unsigned char id[32], double rate,
				 double burst, uint64_t now_ns)
{
	size_t s;
	struct bucket *set = set_lock(rl, id, &s), *room;
	uint64_t now = now_ns ? now_ns : 1;  /* 0 marks an unused entry */
	struct bucket *b = find(set, id, now, &room);
	enum ratelimit_rc rc = RATELIMIT_OK;
	if (!b && room) {
		b = room;
		memcpy(b->id, id, 32);
		b->tokens = burst;
		b->at_ns = now;
	}
	if (!b) {
		rc = RATELIMIT_FULL;
	} else {
		b->rate = rate;
		b->burst = burst;
		if (b->tokens > burst)
			b->tokens = burst;
		if (b->tokens >= 1.0)
			b->tokens -= 1.0;
		else
			rc = RATELIMIT_EMPTY;
	}
	set_unlock(rl, s);
	return rc;
}

enum ratelimit_rc ratelimit_peek(struct ratelimit *rl, const unsigned char id[32], uint64_t now_ns)
{
	size_t s;
	struct bucket *set = set_lock(rl, id, &s), *room;
	struct bucket *b = find(set, id, now_ns ? now_ns : 1, &room);
	enum ratelimit_rc rc = b ? (b->tokens >= 1.0 ? RATELIMIT_OK : RATELIMIT_EMPTY)
				 : (room ? RATELIMIT_OK : RATELIMIT_FULL);
	set_unlock(rl, s);
	return rc;
}

size_t ratelimit_count(struct ratelimit *rl)
{
	size_t n = 0;
	for (size_t s = 0; s <= rl->set_mask; s++) {
		pthread_mutex_lock(&rl->stripes[s % STRIPES]);
		for (int w = 0; w < RATELIMIT_WAYS; w++)
			n += rl->b[s * RATELIMIT_WAYS + w].at_ns != 0;
		pthread_mutex_unlock(&rl->stripes[s % STRIPES]);
	}
	return n;
}
