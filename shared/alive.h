/*
 * alive — liveness stamps: a thread shows that it is making progress by
 * stamping the monotonic time in a struct alive that another thread reads (a
 * health check, the systemd watchdog). A thread stamps in its own loops with
 * alive_stamp(); code deep in a call that may last (an S3 transfer moving
 * bytes, a subprocess being waited for) calls alive_touch(), which stamps the
 * struct the calling thread bound with alive_bind(), or does nothing when the
 * thread bound none. A wedged thread stops stamping: its age grows.
 *
 * The struct alive is the caller's (embedded in its own state); it must outlive
 * the binding. Lock-free: the stamp is one atomic.
 */
#ifndef SPOOL_ALIVE_H
#define SPOOL_ALIVE_H

#include <stdatomic.h>
#include <stdint.h>

struct alive {
	_Atomic uint64_t ns; /* clock_now_ns() of the last stamp; 0: never stamped */
};

/* Stamp `a` now. */
void alive_stamp(struct alive *a);
/* Make `a` the calling thread's stamp for alive_touch() (NULL: none). */
void alive_bind(struct alive *a);
/* Stamp the calling thread's bound stamp, if any. */
void alive_touch(void);
/* Milliseconds since `a` was stamped, at `now_ns` (clock_now_ns()); UINT64_MAX if never. */
uint64_t alive_age_ms(const struct alive *a, uint64_t now_ns);

#endif
