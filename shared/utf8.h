/*
 * utf8 — checking UTF-8, and writing text that is not UTF-8 so that it survives
 * in JSON.
 *
 * jansson refuses a string that is not well-formed UTF-8: json_string() returns
 * NULL and json_object_set_new() then leaves the member out without a word. Text
 * that comes from outside (a URL path, a query argument, a header) goes through
 * utf8_json() wherever it may be malformed, so a log line or an error message
 * keeps the field.
 *
 * The escape: each byte that is not part of a well-formed sequence is written as
 * the four characters \xNN (NN its value in upper-case hex), rather than as
 * U+FFFD, so that the bytes a client sent can still be read from the log.
 * Well-formed text is left as it is, backslashes included: an escaped byte and
 * the same four characters sent as such read alike (the log is a record, not a
 * transcript).
 */
#ifndef SPOOL_UTF8_H
#define SPOOL_UTF8_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

/*
 * 1 if the n bytes at s are well-formed UTF-8 (RFC 3629: shortest form only, no
 * surrogates, nothing past U+10FFFF), else 0. NUL bytes are well-formed.
 */
int utf8_valid(const char *s, size_t n);

/* Append the n bytes at s to out, each byte that is not well-formed written as \xNN. */
void utf8_escape(struct buf *out, const char *s, size_t n);

/* The JSON string of `s` (NULL: JSON null), escaped as utf8_escape() does. New reference. */
json_t *utf8_json(const char *s);

#endif
