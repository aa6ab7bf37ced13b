/*
 * proc — run a tool (ffprobe, ffmpeg) as a child process: fork + execvp with an
 * argument vector (never a shell), in its own process group, with a wall-clock
 * limit and an abort flag. The whole group is killed on timeout or abort.
 *
 * stdout is captured up to a bound, stderr keeps only its tail (for messages).
 */
#ifndef SPOOL_WORKER_PROC_H
#define SPOOL_WORKER_PROC_H

#include <stdatomic.h>
#include <stddef.h>

#include "buf.h"

struct proc_result {
	int exit_code;      /* exit status, or 128 + signal; -1 if not exited normally */
	int timed_out;      /* killed after the time limit */
	int aborted;        /* killed because *abort was set */
	int out_truncated;  /* stdout went past max_out (the rest was discarded) */
	struct buf out;     /* stdout, at most max_out bytes; owned */
	struct buf err;     /* the last PROC_ERR_TAIL bytes of stderr; owned */
};

#define PROC_ERR_TAIL 8192
/* The exit code of a child whose exec failed (the shell's convention). */
#define PROC_EXEC_FAILED 127

/*
 * Run argv[0] (looked up in PATH) with `argv`, waiting at most `timeout_s`
 * seconds (0 = no limit). `abort` (may be NULL) is polled; when it becomes
 * non-zero the child is killed. Returns 0 when the child ran (see `r` for how it
 * ended), -1 with a reason in `err` when it could not be started. `r` must be
 * released with proc_result_release() in both cases.
 */
int proc_run(char *const argv[], int timeout_s, size_t max_out, const atomic_int *abort,
	     struct proc_result *r, struct buf *err);
void proc_result_release(struct proc_result *r);

/* The last non-empty line of `text` (a tool's error message) into `out`. */
void proc_last_line(const char *text, struct buf *out);

#endif
