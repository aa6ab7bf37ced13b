/* jobprio — job priorities, their queues, and the weighted choice between them (see jobprio.h). */
#include "jobprio.h"
#include "mq.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name, *queue, *key, *retry;
	int weight;
} prio[JOBPRIO_COUNT] = {
	[JOBPRIO_NORMAL] = { "normal", MQ_JOBS_QUEUE, MQ_JOBS_KEY, MQ_RETRY_PREFIX, JOBPRIO_WEIGHT_NORMAL },
	[JOBPRIO_HIGH] = { "high", MQ_JOBS_HIGH_QUEUE, MQ_JOBS_HIGH_KEY, MQ_RETRY_HIGH_PREFIX, JOBPRIO_WEIGHT_HIGH },
	[JOBPRIO_LOW] = { "low", MQ_JOBS_LOW_QUEUE, MQ_JOBS_LOW_KEY, MQ_RETRY_LOW_PREFIX, JOBPRIO_WEIGHT_LOW },
};

static enum jobprio valid(enum jobprio p)
{
	return (unsigned)p < JOBPRIO_COUNT ? p : JOBPRIO_NORMAL;
}

const char *jobprio_name(enum jobprio p)
{
	return prio[valid(p)].name;
}

/* The priority whose name (or queue, by_queue) is `s`: 0 and *out, or -1. */
static int find(const char *s, bool by_queue, enum jobprio *out)
{
	for (int i = 0; s && i < JOBPRIO_COUNT; i++)
		if (!strcmp(s, by_queue ? prio[i].queue : prio[i].name)) {
			*out = (enum jobprio)i;
			return 0;
		}
	return -1;
}

int jobprio_parse(const char *s, enum jobprio *out)
{
	return find(s, false, out);
}

const char *jobprio_queue(enum jobprio p)
{
	return prio[valid(p)].queue;
}

const char *jobprio_key(enum jobprio p)
{
	return prio[valid(p)].key;
}

const char *jobprio_retry_prefix(enum jobprio p)
{
	return prio[valid(p)].retry;
}

int jobprio_of_queue(const char *queue, enum jobprio *out)
{
	return find(queue, true, out);
}

int jobprio_retry_of(const char *name, enum jobprio *out)
{
	/* the longer prefixes first: "spool.retry." is a prefix of the others */
	static const enum jobprio order[] = { JOBPRIO_HIGH, JOBPRIO_LOW, JOBPRIO_NORMAL };
	for (size_t i = 0; name && i < sizeof(order) / sizeof(order[0]); i++) {
		const char *pf = prio[order[i]].retry;
		size_t pl = strlen(pf);
		if (strncmp(name, pf, pl))
			continue;
		if (name[pl] < '1' || name[pl] > '9')
			return 0;
		char *end;
		long d = strtol(name + pl, &end, 10);
		if (*end || d > 1000000)
			return 0;
		*out = order[i];
		return (int)d;
	}
	return 0;
}

int jobprio_pick(struct jobprio_picker *p, const int waiting[JOBPRIO_COUNT])
{
	static const enum jobprio ties[] = { JOBPRIO_HIGH, JOBPRIO_NORMAL, JOBPRIO_LOW };
	int total = 0, best = -1;

	for (int i = 0; i < JOBPRIO_COUNT; i++) {
		if (waiting[i] <= 0) {
			p->credit[i] = 0;
			continue;
		}
		p->credit[i] += prio[i].weight;
		total += prio[i].weight;
	}
	for (size_t k = 0; k < sizeof(ties) / sizeof(ties[0]); k++) {
		int i = (int)ties[k];
		if (waiting[i] > 0 && (best < 0 || p->credit[i] > p->credit[best]))
			best = i;
	}
	if (best >= 0)
		p->credit[best] -= total;
	return best;
}
