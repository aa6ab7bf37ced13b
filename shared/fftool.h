/*
 * fftool — running FFmpeg's programs for jobs: the one ffprobe runner, and the
 * wording of what ffprobe and ffmpeg write on stderr when they fail.
 *
 * Every file is handed to the programs as "file:PATH", so that a name that
 * looks like a protocol ("http:…") or starts with '-' is still read as a file.
 *
 * A message built here may become a job's error.message, which API clients
 * read: it never shows a local path. The caller names the files involved in a
 * table of struct fftool_path, and each PATH (also written "file:PATH") is
 * replaced by its name ("the source", "the output"). An entry whose path ends
 * with '/' stands for every file in that directory: the file name that follows
 * it goes too.
 *
 * Media is opened only as media. A tenant's file must never make FFmpeg open
 * another file: playlists and other indirection formats (hls, dash, concat,
 * sdp, image sequences, ...) would read what they name from the worker's disk
 * or the network. So every run that opens such a file is given:
 *   -format_whitelist  the demuxers of fftool_formats_list() (the containers
 *                      of the table in fftool.c: MP4/MOV, Matroska/WebM,
 *                      MPEG-TS, MPEG-PS, AVI, FLV, ASF, Ogg, MP3, WAV, FLAC,
 *                      AAC), each of which reads the one file it is given;
 *   -protocol_whitelist file (the local file, nothing else);
 *   -enable_drefs 0    the mov demuxer's external data references stay off
 *                      (its default, kept explicit).
 * fftool_probe() does it and then checks ffprobe's format.format_name against
 * the same list; transcode.h does the same for ffmpeg, forcing (-f) the
 * demuxer ffprobe found.
 *
 * Errors of fftool_probe(): -1 with *code set (a static string) and a message
 * in `err`:
 *   internal       ffprobe could not be started
 *   timeout        it ran past o->timeout
 *   cancelled      o->cancel returned true
 *   invalid_media  it failed, or its report is too large or not a JSON object:
 *                  the file is not media ffprobe can read; or its format is not
 *                  an accepted one ("the source's format 'hls' is not accepted
 *                  (accepted: mp4/mov, ...)") (permanent when the file is a
 *                  job's source; the caller decides)
 *
 * Ownership: *out of fftool_probe() is a new reference owned by the caller.
 * Nothing in the options or the path table is kept after a call returns.
 */
#ifndef SPOOL_FFTOOL_H
#define SPOOL_FFTOOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "proc.h"

#define FFTOOL_PROBE_TIMEOUT 60       /* seconds, when fftool_probe_opts.timeout is 0 */
#define FFTOOL_PROBE_OUT_MAX (4u << 20) /* largest report read from ffprobe */
#define FFTOOL_ERR_LINES 8            /* stderr lines kept in messages */

/* A local file and how messages call it; a table ends with name NULL, an entry with path NULL is skipped. */
struct fftool_path {
	const char *path;
	const char *name;
};

struct fftool_probe_opts {
	const char *ffprobe;           /* program; NULL = "ffprobe" */
	int64_t timeout;               /* seconds; 0 = FFTOOL_PROBE_TIMEOUT */
	/* Polled about every 200 ms while ffprobe runs; true stops it. May be NULL. */
	bool (*cancel)(void *data);
	void *cancel_data;
};

/* Append the accepted demuxers to `b`, comma-separated, as -format_whitelist takes them. */
void fftool_formats_list(struct buf *b);

/*
 * Is `format_name` (ffprobe's format.format_name, a demuxer's names separated
 * by commas, e.g. "mov,mp4,m4a,3gp,3g2,mj2") an accepted container? NULL: no.
 */
bool fftool_format_accepted(const char *format_name);

/*
 * Append to `err` that `name`'s ("the source") format is not accepted, naming
 * `format` (NULL or empty: not known) and listing the accepted containers.
 */
void fftool_format_refused(struct buf *err, const char *name, const char *format);

/*
 * Run `ffprobe -show_format -show_streams` on `path`, which messages call
 * `name` ("the source"), with the whitelists above; its format must be an
 * accepted one. 0 and its JSON report in *out, or -1 (see above).
 */
int fftool_probe(const struct fftool_probe_opts *o, const char *path, const char *name, json_t **out,
		 const char **code, struct buf *err);

/*
 * Read ffprobe's report, `len` bytes of `text` (may be NULL) on the file messages
 * call `name`: 0 with the JSON object in *out when its format.format_name is an
 * accepted one, or -1 with *out NULL and why in `err` (not JSON, not an object,
 * or the format refused: fftool_probe's invalid_media). Exposed for tests and
 * fuzzing.
 */
int fftool_probe_parse(const char *text, size_t len, const char *name, json_t **out, struct buf *err);

/*
 * Append to `err` ": " and the last stderr lines of a finished run, on one line
 * ("; "-separated), without ffmpeg's "[mov,mp4,… @ 0x55…] " context prefixes
 * and with the paths of `paths` (may be NULL) replaced by their names. Nothing
 * when the program wrote nothing on stderr.
 */
void fftool_err_tail(struct buf *err, const struct proc_result *pr, const struct fftool_path *paths);

/* Replace, in order, each path of `paths` in `msg` by its name (see above). */
void fftool_redact(struct buf *msg, const struct fftool_path *paths);

#endif
