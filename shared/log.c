#include "log.h"
#include "buf.h"
#include "timefmt.h"
#include "utf8.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char log_daemon[64] = "spool";
static char log_instance[128];
static enum log_format log_fmt = LF_TEXT;
static atomic_int log_threshold = LL_INFO;
static bool log_journal; /* stderr is the journal's stream: lines get a <N> prefix */
static void (*_Atomic log_sink_fn)(void *, const char *, size_t);
static void *_Atomic log_sink_arg;
static _Thread_local char tl_request_id[80];
static _Thread_local char tl_job_id[80];

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_init(const char *daemon, const char *instance, enum log_format fmt, enum log_level level)
{
	struct stat st;

	snprintf(log_daemon, sizeof(log_daemon), "%s", daemon ? daemon : "spool");
	snprintf(log_instance, sizeof(log_instance), "%s", instance ? instance : "");
	log_fmt = fmt;
	atomic_store(&log_threshold, (int)level);
	log_journal = fstat(STDERR_FILENO, &st) == 0 &&
		      log_journal_stream_is(getenv("JOURNAL_STREAM"), (uint64_t)st.st_dev, (uint64_t)st.st_ino);
}

bool log_journal_stream_is(const char *env, uint64_t dev, uint64_t ino)
{
	uint64_t d, i;
	int end = 0;

	if (!env || sscanf(env, "%" SCNu64 ":%" SCNu64 "%n", &d, &i, &end) != 2 || env[end] != '\0' ||
	    !(env[0] >= '0' && env[0] <= '9'))
		return false;
	return d == dev && i == ino;
}

int log_syslog_priority(enum log_level level)
{
	static const int prio[] = { 3, 4, 6, 7 }; /* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */

	return (unsigned)level <= LL_DEBUG ? prio[level] : 6;
}

void log_set_sink(void (*fn)(void *arg, const char *line, size_t len), void *arg)
{
	atomic_store(&log_sink_fn, NULL);
	atomic_store(&log_sink_arg, arg);
	atomic_store(&log_sink_fn, fn);
}

void log_set_level(enum log_level level)
{
	atomic_store(&log_threshold, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&log_threshold);
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i <= LL_DEBUG; i++)
		if (!strcmp(s, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (!strcmp(s, "json"))
		*out = LF_JSON;
	else if (!strcmp(s, "text"))
		*out = LF_TEXT;
	else
		return -1;
	return 0;
}

void log_set_request_id(const char *id)
{
	snprintf(tl_request_id, sizeof(tl_request_id), "%s", id ? id : "");
}

void log_set_job_id(const char *id)
{
	snprintf(tl_job_id, sizeof(tl_job_id), "%s", id ? id : "");
}

/*
 * Start a line in `b`: the journal's priority prefix when stderr is the journal.
 * Returns where the line itself begins.
 */
static size_t line_start(struct buf *b, enum log_level level)
{
	if (log_journal)
		buf_printf(b, "<%d>", log_syslog_priority(level));
	return b->len;
}

/* Hand the line (from `off`, without the prefix) to the sink, then write it all. */
static void write_line(struct buf *b, size_t off)
{
	void (*sink)(void *, const char *, size_t) = atomic_load(&log_sink_fn);
	if (sink && b->len > off)
		sink(atomic_load(&log_sink_arg), b->data + off, b->len - off);
	buf_addc(b, '\n');
	/* One write per line keeps concurrent lines whole. */
	const char *p = b->data;
	size_t left = b->len;
	while (left > 0) {
		ssize_t w = write(STDERR_FILENO, p, left);
		if (w <= 0)
			break;
		p += w;
		left -= (size_t)w;
	}
}

static void emit(enum log_level level, json_t *fields, const char *msg)
{
	char ts[TIMEFMT_UTC_MS_SIZE];
	struct buf b = BUF_INIT;
	size_t off = line_start(&b, level);
	timefmt_now_ms(ts);
	if (log_fmt == LF_JSON) {
		json_t *o = json_object();
		json_object_set_new(o, "time", json_string(ts));
		json_object_set_new(o, "level", json_string(level_names[level]));
		json_object_set_new(o, "daemon", json_string(log_daemon));
		if (log_instance[0])
			json_object_set_new(o, "instance", json_string(log_instance));
		if (tl_request_id[0])
			json_object_set_new(o, "request_id", utf8_json(tl_request_id));
		if (tl_job_id[0])
			json_object_set_new(o, "job_id", utf8_json(tl_job_id));
		/* a message quoting what a client sent may not be UTF-8: escaped, never dropped */
		json_object_set_new(o, "msg", utf8_json(msg));
		if (fields)
			json_object_update_missing(o, fields);
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (s)
			buf_adds(&b, s);
		free(s);
		json_decref(o);
	} else {
		buf_printf(&b, "%s %s[%s] %s:", ts, log_daemon, log_instance[0] ? log_instance : "-",
			   level_names[level]);
		if (tl_request_id[0])
			buf_printf(&b, " [req %s]", tl_request_id);
		if (tl_job_id[0])
			buf_printf(&b, " [job %s]", tl_job_id);
		buf_printf(&b, " %s", msg);
		if (fields && json_object_size(fields) > 0) {
			char *s = json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER);
			if (s)
				buf_printf(&b, " %s", s);
			free(s);
		}
	}
	write_line(&b, off);
	buf_release(&b);
}

static void vlog(enum log_level level, json_t *fields, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vlog(enum log_level level, json_t *fields, const char *fmt, va_list ap)
{
	if ((int)level > atomic_load(&log_threshold)) {
		json_decref(fields);
		return;
	}
	struct buf m = BUF_INIT;
	buf_vprintf(&m, fmt, ap);
	emit(level, fields, buf_str(&m));
	buf_release(&m);
	json_decref(fields);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

void log_fields(enum log_level level, json_t *fields, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fields, fmt, ap);
	va_end(ap);
}

/* An access line at LEVEL: the journal's priority prefix follows the level. */
static void raw_json_at(enum log_level level, json_t *obj)
{
	char ts[TIMEFMT_UTC_MS_SIZE];
	timefmt_now_ms(ts);
	if (log_fmt == LF_TEXT) {
		char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		struct buf b = BUF_INIT;
		size_t off = line_start(&b, level);
		buf_printf(&b, "%s %s[%s] access: %s", ts, log_daemon,
			   log_instance[0] ? log_instance : "-", s ? s : "");
		write_line(&b, off);
		buf_release(&b);
		free(s);
		json_decref(obj);
		return;
	}
	json_t *o = json_object();
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "level", json_string(level_names[level]));
	json_object_set_new(o, "daemon", json_string(log_daemon));
	if (log_instance[0])
		json_object_set_new(o, "instance", json_string(log_instance));
	json_object_update(o, obj);
	json_decref(obj);
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	struct buf b = BUF_INIT;
	size_t off = line_start(&b, level);
	if (s)
		buf_adds(&b, s);
	write_line(&b, off);
	buf_release(&b);
	free(s);
	json_decref(o);
}

void log_raw_json(json_t *obj)
{
	raw_json_at(LL_INFO, obj);
}

void log_raw_json_level(enum log_level level, json_t *obj)
{
	raw_json_at(level, obj);
}
