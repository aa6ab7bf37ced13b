/*
 * proc — child processes with a time limit. See proc.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void proc_result_release(struct proc_result *r)
{
	buf_release(&r->out);
	buf_release(&r->err);
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void child_exec(char *const argv[], int out_fd, int err_fd)
{
	sigset_t none;
	int devnull = open("/dev/null", O_RDONLY);

	setpgid(0, 0);
	if (devnull >= 0)
		dup2(devnull, STDIN_FILENO);
	dup2(out_fd, STDOUT_FILENO);
	dup2(err_fd, STDERR_FILENO);
	/* ignored signals and the thread's mask survive exec: give the tool defaults */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp(argv[0], argv);
	_exit(PROC_EXEC_FAILED);
}

/* Read what is available on `fd` into the capture; 0 at EOF, 1 otherwise. */
static int drain(int fd, struct proc_result *r, int is_err, size_t max_out)
{
	char chunk[16384];
	ssize_t n = read(fd, chunk, sizeof(chunk));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (n == 0)
		return 0;
	if (is_err) {
		buf_add(&r->err, chunk, (size_t)n);
		if (r->err.len > 2 * PROC_ERR_TAIL) {
			size_t keep = PROC_ERR_TAIL;
			memmove(r->err.data, r->err.data + r->err.len - keep, keep);
			buf_truncate(&r->err, keep);
		}
	} else {
		size_t room = r->out.len < max_out ? max_out - r->out.len : 0;
		size_t take = (size_t)n < room ? (size_t)n : room;
		buf_add(&r->out, chunk, take);
		if (take < (size_t)n)
			r->out_truncated = 1;
	}
	return 1;
}

int proc_run(char *const argv[], int timeout_s, size_t max_out, const atomic_int *abort,
	     struct proc_result *r, struct buf *err)
{
	int outp[2], errp[2];

	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	if (pipe2(outp, O_CLOEXEC) < 0) {
		buf_printf(err, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(errp, O_CLOEXEC) < 0) {
		buf_printf(err, "pipe: %s", strerror(errno));
		close(outp[0]);
		close(outp[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		buf_printf(err, "fork: %s", strerror(errno));
		close(outp[0]);
		close(outp[1]);
		close(errp[0]);
		close(errp[1]);
		return -1;
	}
	if (pid == 0)
		child_exec(argv, outp[1], errp[1]);
	setpgid(pid, pid); /* also in the parent: no race with the kill below */
	close(outp[1]);
	close(errp[1]);

	double deadline = timeout_s > 0 ? mono_now() + timeout_s : 0;
	struct pollfd fds[2] = { { outp[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } };
	int open_fds = 2;
	int killed = 0;

	while (open_fds > 0) {
		if (!killed && abort && atomic_load(abort)) {
			r->aborted = killed = 1;
			kill(-pid, SIGKILL);
		}
		if (!killed && deadline && mono_now() >= deadline) {
			r->timed_out = killed = 1;
			kill(-pid, SIGKILL);
		}
		int n = poll(fds, 2, 200);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2 && n > 0; i++) {
			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!drain(fds[i].fd, r, i == 1, max_out)) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);

	/* the pipes may close before the child exits: keep the limits while waiting */
	int status;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			buf_printf(err, "waitpid: %s", strerror(errno));
			return -1;
		}
		if (!killed && ((abort && atomic_load(abort)) || (deadline && mono_now() >= deadline))) {
			if (abort && atomic_load(abort))
				r->aborted = 1;
			else
				r->timed_out = 1;
			killed = 1;
			kill(-pid, SIGKILL);
		}
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (WIFEXITED(status))
		r->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		r->exit_code = 128 + WTERMSIG(status);
	return 0;
}

void proc_last_line(const char *text, struct buf *out)
{
	const char *end = text + strlen(text);

	buf_reset(out);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	const char *start = end;
	while (start > text && start[-1] != '\n')
		start--;
	buf_add(out, start, (size_t)(end - start));
}
