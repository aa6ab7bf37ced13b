/* alive — liveness stamps of threads (alive.h). */
#include "alive.h"
#include "clock.h"

static _Thread_local struct alive *bound;

void alive_stamp(struct alive *a)
{
	atomic_store_explicit(&a->ns, clock_now_ns(), memory_order_relaxed);
}

void alive_bind(struct alive *a)
{
	bound = a;
}

void alive_touch(void)
{
	if (bound)
		alive_stamp(bound);
}

uint64_t alive_age_ms(const struct alive *a, uint64_t now_ns)
{
	uint64_t at = atomic_load_explicit(&a->ns, memory_order_relaxed);

	if (at == 0)
		return UINT64_MAX;
	return now_ns > at ? (now_ns - at) / 1000000u : 0;
}
