/*
 * proc — run a program as a supervised subprocess (ffmpeg, ffprobe).
 *
 * proc_run() starts argv[0] (looked up in the caller's PATH as execvp would,
 * never through a shell) in a process group of its own, stdin on /dev/null, every
 * descriptor of the caller except stdout, stderr and the optional extra pipe
 * closed, and with an environment of its own: PATH=PROC_PATH and LC_ALL=C, nothing
 * of the caller's (a daemon's may hold credentials). It then waits
 * with poll(2), no threads and no signal handlers, while:
 *   - stdout is appended to `o->out` up to `o->out_max` bytes (the rest is read
 *     and dropped, `r->out_truncated` set), or goes to /dev/null when out is NULL;
 *   - the last `o->err_lines` lines of stderr are kept (a bounded ring: each line
 *     is cut at PROC_LINE_MAX bytes), joined into `r->err_tail`;
 *   - when `o->extra_fd` >= 3, the child gets the write end of a pipe as that
 *     descriptor (ffmpeg `-progress pipe:3`) and each line read from it is handed
 *     to `o->on_line` (without its newline, cut at PROC_LINE_MAX bytes);
 *   - after `o->timeout_ms` of wall-clock time (0: no limit) or as soon as
 *     `o->cancel(o->cancel_data)` returns true (polled about every 200 ms) the
 *     whole group gets SIGTERM, then SIGKILL 2 s later if it is still alive.
 * When the child exits, whatever is left of its group is killed with SIGKILL
 * before it is reaped, so nothing it started outlives it.
 *
 * Safe to call from several threads at once (only async-signal-safe calls run
 * between fork and exec). The caller's SIGCHLD disposition must not be SIG_IGN.
 *
 * Errors: proc_run() returns -1 with a message in `err` only when the program
 * could not be run at all (pipe/fork failure, or exec failed: "cannot run
 * 'ffmpeg': No such file or directory"). A program that ran returns 0 whatever
 * its outcome; look at `r`.
 *
 * Ownership: `r->err_tail` belongs to the result; release it with
 * proc_result_release(). Nothing in `o` is kept after proc_run() returns.
 */
#ifndef SPOOL_PROC_H
#define SPOOL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PROC_LINE_MAX 1024     /* longest line kept from stderr or the extra pipe */
#define PROC_ERR_LINES 20      /* default number of stderr lines kept */
#define PROC_PATH "/usr/local/bin:/usr/bin:/bin" /* the children's PATH */

struct proc_opts {
	int64_t timeout_ms;        /* wall-clock limit, 0 = none */
	/* Polled about every 200 ms; true stops the program. May be NULL. */
	bool (*cancel)(void *data);
	void *cancel_data;
	struct buf *out;           /* stdout appended here; NULL = /dev/null */
	size_t out_max;            /* bound on bytes appended to out; 0 = 16 MiB */
	size_t err_lines;          /* stderr lines kept; 0 = PROC_ERR_LINES */
	int extra_fd;              /* child descriptor of the extra pipe (>= 3), 0 = none */
	void (*on_line)(const char *line, void *data); /* lines of the extra pipe */
	void *line_data;
};

struct proc_result {
	bool exited;               /* true: exited normally with `status` */
	int status;                /* exit status when exited */
	int signal;                /* terminating signal when !exited */
	bool timed_out;            /* killed because the wall-clock limit passed */
	bool cancelled;            /* killed because cancel() returned true */
	bool out_truncated;        /* stdout was larger than out_max */
	double elapsed;            /* seconds from start to reaping */
	struct buf err_tail;       /* last stderr lines, '\n'-separated */
};

/* Run `argv` (NULL-terminated) as described above; `r` is initialised first. */
int proc_run(const char *const argv[], const struct proc_opts *o, struct proc_result *r,
	     struct buf *err);
/* True when the program ran to completion with exit status 0. */
bool proc_ok(const struct proc_result *r);
/* Describe the outcome for messages: "exit status 1", "killed by signal 9", "timed out". */
void proc_describe(const struct proc_result *r, struct buf *out);
/* Free what the result owns; it may be reused after proc_run() again. */
void proc_result_release(struct proc_result *r);

#endif
