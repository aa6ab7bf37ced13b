/*
 * buf — a growable byte string, used everywhere instead of ad-hoc realloc.
 *
 * Invariants: after buf_init() (or BUF_INIT), `data` is either NULL with len == 0
 * (nothing allocated yet) or points to `cap` bytes of which `len` are used and
 * data[len] == '\0'. buf_str() therefore always yields a C string.
 * Ownership: the struct owns `data`; buf_release() frees it and re-initialises,
 * buf_detach() hands it to the caller (who frees it with free()).
 * Allocation failure aborts the process (see xmalloc()).
 */
#ifndef SPOOL_BUF_H
#define SPOOL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
/* Free the storage and re-initialise. */
void buf_release(struct buf *b);
/* Keep the storage, set length to zero. */
void buf_reset(struct buf *b);
/* Make room for at least `extra` more bytes (plus the terminating NUL). */
void buf_grow(struct buf *b, size_t extra);
/*
 * Make the capacity exactly `n` bytes (plus the NUL) if it is less: for a buffer
 * whose final size is known, allocated once without the slack of buf_grow's doubling.
 */
void buf_reserve(struct buf *b, size_t n);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Shorten to `len` bytes (no-op if already shorter). */
void buf_truncate(struct buf *b, size_t len);
/* Give the string to the caller (never NULL: "" if empty); `b` is re-initialised. */
char *buf_detach(struct buf *b);
/* The contents as a C string, "" when nothing was allocated. */
const char *buf_str(const struct buf *b);

/* Allocation helpers: abort with a message on out-of-memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
