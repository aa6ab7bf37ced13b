/* proc — supervised subprocesses: own process group, time limit, cancel, bounded capture. */
#include "proc.h"
#include "alive.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define POLL_MS 200            /* cancel predicate and timers are checked this often */
#define KILL_GRACE_MS 2000     /* SIGTERM → SIGKILL */
#define DRAIN_MS 1000          /* reading what is left after the group is gone */
#define OUT_MAX_DEFAULT (16u << 20)
#define HIGH_FD 64             /* child: pipes are moved above this before dup2 */

/*
 * The whole environment of every child. Nothing of the caller's: a daemon's may
 * hold AWS credentials (AWS_SECRET_ACCESS_KEY, ...) or other secrets.
 */
static const char *const child_env[] = { "PATH=" PROC_PATH, "LC_ALL=C", NULL };

/* A line assembler: bytes in, whole lines (without terminator) out. */
struct lines {
	char line[PROC_LINE_MAX + 1];
	size_t len;
	void (*emit)(const char *line, void *data);
	void *data;
};

/* The last N stderr lines. */
struct ring {
	char **slot;
	size_t n, next, count;
};

static void ring_push(const char *line, void *data)
{
	struct ring *rg = data;
	free(rg->slot[rg->next]);
	rg->slot[rg->next] = xstrdup(line);
	rg->next = (rg->next + 1) % rg->n;
	if (rg->count < rg->n)
		rg->count++;
}

static void ring_join(struct ring *rg, struct buf *out)
{
	size_t first = (rg->next + rg->n - rg->count) % rg->n;
	for (size_t i = 0; i < rg->count; i++) {
		if (i)
			buf_addc(out, '\n');
		buf_adds(out, rg->slot[(first + i) % rg->n]);
	}
}

static void ring_free(struct ring *rg)
{
	for (size_t i = 0; i < rg->n; i++)
		free(rg->slot[i]);
	free(rg->slot);
}

static void lines_flush(struct lines *l)
{
	if (l->len == 0)
		return;
	l->line[l->len] = '\0';
	if (l->emit)
		l->emit(l->line, l->data);
	l->len = 0;
}

/* Split on '\n' and '\r' (ffmpeg redraws with '\r'); empty lines are dropped. */
static void lines_feed(struct lines *l, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' || p[i] == '\r')
			lines_flush(l);
		else if (l->len < PROC_LINE_MAX)
			l->line[l->len++] = p[i];
	}
}

/* Child side, between fork and exec: async-signal-safe calls only. */
static void child_exec(const char *file, const char *const argv[], int out_fd, int err_fd, int extra_w,
		       int extra_fd, int null_fd, int exec_err)
{
	setpgid(0, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	static const int sigs[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2 };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &dfl, NULL);

	/* Move every descriptor we need out of the way first so dup2 cannot clobber one. */
	int o = fcntl(out_fd, F_DUPFD_CLOEXEC, HIGH_FD);
	int e = fcntl(err_fd, F_DUPFD_CLOEXEC, HIGH_FD);
	int n = fcntl(null_fd, F_DUPFD_CLOEXEC, HIGH_FD);
	int x = extra_w >= 0 ? fcntl(extra_w, F_DUPFD_CLOEXEC, HIGH_FD) : -1;
	if (o < 0 || e < 0 || n < 0 || (extra_w >= 0 && x < 0))
		goto fail;
	if (dup2(n, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
		goto fail;
	if (x >= 0 && dup2(x, extra_fd) < 0)
		goto fail;
	/* Whatever else the caller had open is closed by exec. */
	int keep = x >= 0 ? extra_fd : 2;
	if (close_range((unsigned)keep + 1, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
		struct rlimit rl;
		rlim_t max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? rl.rlim_cur : 65536;
		for (int fd = keep + 1; (rlim_t)fd < max; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	for (int fd = 3; fd < keep; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	execve(file, (char *const *)(uintptr_t)argv, (char *const *)(uintptr_t)child_env);
fail:;
	int code = errno;
	ssize_t w = write(exec_err, &code, sizeof(code));
	(void)w;
	_exit(127);
}

/*
 * The file to execve for `prog`: prog itself when it names a path, else the first
 * executable regular file of that name in the caller's PATH, as execvp finds it.
 * Found before fork, so that the child only calls execve. NULL with errno set.
 */
static char *program_path(const char *prog)
{
	if (!*prog) {
		errno = ENOENT;
		return NULL;
	}
	if (strchr(prog, '/'))
		return xstrdup(prog);
	const char *dirs = getenv("PATH");
	if (!dirs || !*dirs)
		dirs = PROC_PATH;
	int why = ENOENT;
	struct buf cand = BUF_INIT;
	for (const char *d = dirs;; d++) {
		const char *end = strchrnul(d, ':');
		buf_reset(&cand);
		if (end > d)
			buf_printf(&cand, "%.*s/%s", (int)(end - d), d, prog);
		else
			buf_adds(&cand, prog); /* an empty entry is the current directory */
		struct stat st;
		if (stat(buf_str(&cand), &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(buf_str(&cand), X_OK) == 0)
				return buf_detach(&cand);
			why = EACCES;
		}
		if (!*end)
			break;
		d = end;
	}
	buf_release(&cand);
	errno = why;
	return NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	return fcntl(p[0], F_SETFL, O_NONBLOCK);
}

/* Read what is available on `*fd`; close it on EOF or error. */
static void pump(int *fd, struct buf *out, size_t out_max, bool *trunc, struct lines *l)
{
	char tmp[16384];
	for (;;) {
		ssize_t n = read(*fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			close_fd(fd);
			if (l)
				lines_flush(l);
			return;
		}
		if (l) {
			lines_feed(l, tmp, (size_t)n);
		} else if (out) {
			size_t room = out->len < out_max ? out_max - out->len : 0;
			size_t take = (size_t)n < room ? (size_t)n : room;
			buf_add(out, tmp, take);
			if (take < (size_t)n)
				*trunc = true;
		}
	}
}

/* Has the child exited? Leaves it a zombie so that its pid (the group id) stays reserved. */
static bool child_gone(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return errno == ECHILD;
	return si.si_pid == pid;
}

int proc_run(const char *const argv[], const struct proc_opts *o, struct proc_result *r,
	     struct buf *err)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->err_tail);
	char *file = program_path(argv[0]);
	if (!file) {
		buf_printf(err, "cannot run '%s': %s", argv[0], strerror(errno));
		return -1;
	}
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, xp[2] = { -1, -1 }, ep[2] = { -1, -1 };
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	bool want_extra = o->extra_fd >= 3;
	if (null_fd < 0 || make_pipe(errp) != 0 || pipe2(ep, O_CLOEXEC) != 0 ||
	    (o->out && make_pipe(outp) != 0) || (want_extra && make_pipe(xp) != 0)) {
		buf_printf(err, "cannot run '%s': %s", argv[0], strerror(errno));
		close_fd(&null_fd);
		close_fd(&outp[0]), close_fd(&outp[1]), close_fd(&errp[0]), close_fd(&errp[1]);
		close_fd(&xp[0]), close_fd(&xp[1]), close_fd(&ep[0]), close_fd(&ep[1]);
		free(file);
		return -1;
	}
	int64_t start = clock_now_ms();
	pid_t pid = fork();
	if (pid == 0)
		child_exec(file, argv, o->out ? outp[1] : null_fd, errp[1], xp[1], o->extra_fd, null_fd, ep[1]);
	int fork_errno = errno;
	free(file);
	close_fd(&null_fd), close_fd(&outp[1]), close_fd(&errp[1]), close_fd(&xp[1]), close_fd(&ep[1]);
	if (pid < 0) {
		buf_printf(err, "cannot run '%s': fork: %s", argv[0], strerror(fork_errno));
		close_fd(&outp[0]), close_fd(&errp[0]), close_fd(&xp[0]), close_fd(&ep[0]);
		return -1;
	}
	setpgid(pid, pid); /* also done in the child: whichever runs first wins the race */

	int exec_errno = 0;
	ssize_t got;
	do
		got = read(ep[0], &exec_errno, sizeof(exec_errno));
	while (got < 0 && errno == EINTR);
	close_fd(&ep[0]);
	if (got == (ssize_t)sizeof(exec_errno)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		buf_printf(err, "cannot run '%s': %s", argv[0], strerror(exec_errno));
		close_fd(&outp[0]), close_fd(&errp[0]), close_fd(&xp[0]);
		return -1;
	}

	struct ring rg = { xcalloc(o->err_lines ? o->err_lines : PROC_ERR_LINES, sizeof(char *)),
			   o->err_lines ? o->err_lines : PROC_ERR_LINES, 0, 0 };
	struct lines *errl = xmalloc(sizeof(*errl)), *xl = NULL;
	errl->len = 0, errl->emit = ring_push, errl->data = &rg;
	if (want_extra) {
		xl = xmalloc(sizeof(*xl));
		xl->len = 0;
		xl->emit = o->on_line;
		xl->data = o->line_data;
	}
	size_t out_max = o->out_max ? o->out_max : OUT_MAX_DEFAULT;
	size_t out_base = o->out ? o->out->len : 0;
	/* out_max bounds what this run appends, not what `out` held before. */
	out_max += out_base;

	int64_t term_at = -1, next_cancel = start + POLL_MS, gone_at = -1;
	bool killed = false;
	for (;;) {
		int64_t now = clock_now_ms();
		alive_touch(); /* waiting for a child that runs: the calling thread is not wedged */
		if (gone_at < 0 && child_gone(pid)) {
			kill(-pid, SIGKILL); /* stragglers of the group; ESRCH when none */
			gone_at = now;
		}
		bool open_fds = outp[0] >= 0 || errp[0] >= 0 || xp[0] >= 0;
		if (gone_at >= 0 && (!open_fds || now - gone_at > DRAIN_MS))
			break;
		if (gone_at < 0 && term_at < 0) {
			if (o->timeout_ms > 0 && now - start >= o->timeout_ms)
				r->timed_out = true;
			else if (o->cancel && now >= next_cancel) {
				next_cancel = now + POLL_MS;
				r->cancelled = o->cancel(o->cancel_data);
			}
			if (r->timed_out || r->cancelled) {
				kill(-pid, SIGTERM);
				term_at = now;
			}
		}
		if (gone_at < 0 && term_at >= 0 && !killed && now - term_at >= KILL_GRACE_MS) {
			kill(-pid, SIGKILL);
			killed = true;
		}

		struct pollfd pf[3];
		int *which[3];
		nfds_t n = 0;
		int *fds[3] = { &outp[0], &errp[0], &xp[0] };
		for (int i = 0; i < 3; i++)
			if (*fds[i] >= 0) {
				pf[n].fd = *fds[i];
				pf[n].events = POLLIN;
				pf[n].revents = 0;
				which[n++] = fds[i];
			}
		int wait = open_fds ? POLL_MS : 10;
		if (o->timeout_ms > 0 && term_at < 0) {
			int64_t left = start + o->timeout_ms - now;
			if (left < wait)
				wait = left > 0 ? (int)left : 0;
		}
		int rc = poll(pf, n, wait);
		if (rc < 0 && errno != EINTR)
			usleep(10000);
		for (nfds_t i = 0; rc > 0 && i < n; i++) {
			if (!pf[i].revents)
				continue;
			if (which[i] == &outp[0])
				pump(which[i], o->out, out_max, &r->out_truncated, NULL);
			else
				pump(which[i], NULL, 0, NULL, which[i] == &errp[0] ? errl : xl);
		}
	}
	close_fd(&outp[0]), close_fd(&errp[0]), close_fd(&xp[0]);

	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	r->elapsed = (double)(clock_now_ms() - start) / 1000.0;
	if (WIFEXITED(status)) {
		r->exited = true;
		r->status = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		r->signal = WTERMSIG(status);
	}
	ring_join(&rg, &r->err_tail);
	ring_free(&rg);
	free(errl);
	free(xl);
	return 0;
}

bool proc_ok(const struct proc_result *r)
{
	return r->exited && r->status == 0 && !r->timed_out && !r->cancelled;
}

void proc_describe(const struct proc_result *r, struct buf *out)
{
	if (r->timed_out)
		buf_printf(out, "timed out after %.1f s", r->elapsed);
	else if (r->cancelled)
		buf_adds(out, "cancelled");
	else if (r->exited)
		buf_printf(out, "exit status %d", r->status);
	else
		buf_printf(out, "killed by signal %d (%s)", r->signal, strsignal(r->signal));
}

void proc_result_release(struct proc_result *r)
{
	buf_release(&r->err_tail);
}
