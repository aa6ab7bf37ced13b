/*
 * log — structured logging to stderr.
 *
 * Two formats: "json" (one object per line: time, level, daemon, instance,
 * request_id/job_id when set for the calling thread, msg, and extra fields) for
 * journald and the CloudWatch agent, and "text" for terminals. Thread safe: each
 * line is written with a single write(2).
 *
 * Secret values must never be passed to these functions.
 *
 * Under systemd, when stderr is the journal's stream (JOURNAL_STREAM names the
 * device and inode of stderr, as sd-daemon(3) describes), every line starts with
 * the syslog priority of its level, <3> error, <4> warn, <6> info, <7> debug
 * (access lines <6>), which journald takes off the line and records as its
 * PRIORITY (SyslogLevelPrefix=yes, the default): `journalctl -p err` shows the
 * errors and the message stays the JSON object. Decided once, in log_init().
 *
 * A sink (log_set_sink) sees every line written, without the prefix and the
 * newline: the CloudWatch Logs shipper (logship.h).
 *
 * JSON lines keep every field: a message that is not UTF-8 is written with its
 * bad bytes escaped as \xNN (utf8.h). Fields passed in `fields` or to
 * log_raw_json() are the caller's JSON values: build strings that may hold
 * anything a client sent with utf8_json(), as json_string() refuses them.
 */
#ifndef SPOOL_LOG_H
#define SPOOL_LOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LL_ERROR = 0, LL_WARN, LL_INFO, LL_DEBUG };
enum log_format { LF_TEXT = 0, LF_JSON };

/* Set the program name, instance name (may be NULL), format and threshold. */
void log_init(const char *daemon, const char *instance, enum log_format fmt, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error|warn|info|debug" / "json|text"; return -1 on unknown names. */
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);

/*
 * Whether JOURNAL_STREAM's value `env` ("DEV:INODE" in decimal; NULL: unset)
 * names the file of device `dev` and inode `ino` (those of stderr).
 */
bool log_journal_stream_is(const char *env, uint64_t dev, uint64_t ino);
/* The syslog priority of a level: 3, 4, 6 or 7. */
int log_syslog_priority(enum log_level level);

/*
 * Call fn(arg, line, len) with every line written from now on (NULL: none),
 * from the thread that logs, before the line is written. `fn` must not block
 * nor log, and must stay callable (with `arg`) after it is replaced: a thread
 * that was writing a line may still call it.
 */
void log_set_sink(void (*fn)(void *arg, const char *line, size_t len), void *arg);

/* Per-thread context added to every line (NULL clears). Strings are copied. */
void log_set_request_id(const char *id);
void log_set_job_id(const char *id);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like log_msg with extra fields; steals the reference to `fields` (may be NULL). */
void log_fields(enum log_level level, json_t *fields, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Write `obj` (stolen) as one JSON line verbatim, adding time/daemon; for access logs. */
void log_raw_json(json_t *obj);

#define log_error(...) log_msg(LL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_get_level() >= LL_DEBUG) log_msg(LL_DEBUG, __VA_ARGS__); } while (0)

/*
 * log_raw_json with the line's level set to `level` (log_raw_json's is info);
 * written whatever the threshold, as log_raw_json's lines are.
 */
void log_raw_json_level(enum log_level level, json_t *obj);

#endif
