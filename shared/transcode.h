/*
 * transcode — the video.transcode engine: probe, ffmpeg, thumbnail, read back.
 *
 * transcode_run() turns `input` (a local file) into WORKDIR/video.mp4 and
 * WORKDIR/thumb.jpg following `p` (see videoparams.h):
 *   1. ffprobe validates the input: unreadable, not media, a format that is not
 *      an accepted container (fftool.h: playlists and other formats that open
 *      further files are refused before they open anything), no video stream
 *      (cover art does not count), zero or unknown duration → permanent
 *      "invalid_media" with the reason.
 *   2. ffmpeg encodes MP4 (H.264 libx264, yuv420p, +faststart) at p->width ×
 *      p->height: scaled to fit, padded with black to exactly that size, square
 *      pixels; the source cut to p->max_duration seconds; audio dropped unless
 *      p->audio (AAC 128k; none if the source has none); the logo overlaid in the
 *      bottom-right corner when p->watermark and the logo is readable; with
 *      p->bumpers (and a logo), a 2 s card of the logo on black before and after
 *      the clip (4 s in all, not counted in max_duration).
 *   3. a JPEG thumbnail of the same size, about 1 s into the clip (half way
 *      through a shorter one, after the opening bumper).
 *   4. ffprobe reads the result back into r->meta:
 *      {"duration", "width", "height", "codec", "pix_fmt", "has_audio",
 *       "watermark", "bumpers", "source": {"duration", "width", "height"}}.
 *
 * Every input of ffmpeg is opened with the one demuxer it must be (the source's
 * as ffprobe found it, png_pipe for the logo, mov for the output read back), from
 * the local file alone (-protocol_whitelist file), and the mov demuxer's external
 * data references off (-enable_drefs 0).
 *
 * Every tool runs through proc.h: its own process group, killed with it on time
 * limit or cancel. Output is written under temporary names and renamed only on
 * success; on failure neither file exists afterwards.
 *
 * Errors: returns 0, or -1 with r->error_code set (a static string), r->permanent
 * (true: retrying cannot help) and a message in `err` (lower case, ending with
 * the tool's last stderr lines when there are any; it names files "the source",
 * "the output", "the thumbnail", "the logo", never by their paths: fftool.h):
 *   invalid_media   permanent  the input is not a usable video (also found late,
 *                              by ffmpeg, when decoding fails outright)
 *   timeout         transient  ffmpeg ran past o->timeout (or a probe past
 *                              o->probe_timeout)
 *   cancelled       transient  o->cancel returned true
 *   ffmpeg_failed   transient  ffmpeg or ffprobe failed for another reason
 *   internal        transient  a tool could not be started, a file could not be
 *                              renamed, output unreadable
 *
 * Ownership: r->meta is a new reference owned by the result; release it with
 * transcode_result_release(). Callbacks run on the calling thread.
 */
#ifndef SPOOL_TRANSCODE_H
#define SPOOL_TRANSCODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "videoparams.h"

#define TRANSCODE_VIDEO "video.mp4"
#define TRANSCODE_THUMB "thumb.jpg"
#define TRANSCODE_BUMPER_SECONDS 2.0

struct transcode_opts {
	const char *ffmpeg;          /* program; NULL = "ffmpeg" */
	const char *ffprobe;         /* program; NULL = "ffprobe" */
	int threads;                 /* ffmpeg -threads; 0 = ffmpeg decides */
	int64_t timeout;             /* seconds for the ffmpeg encode; 0 = none */
	int64_t probe_timeout;       /* seconds for each ffprobe and the thumbnail; 0 = 60 */
	const char *logo;            /* PNG for watermark and bumpers; NULL = none */
	const char *preset;          /* libx264 preset; NULL = "veryfast" */
	int crf;                     /* libx264 CRF; 0 = 23 */
	/* Percentage done, 0..100, at most about once a second, 100 only on success. */
	void (*progress)(int percent, void *data);
	/* Polled about every 200 ms while a tool runs; true stops the job. */
	bool (*cancel)(void *data);
	void *data;                  /* given to both callbacks */
};

struct transcode_result {
	json_t *meta;                /* on success: what ffprobe reads in the output */
	const char *error_code;      /* on failure: see above; NULL on success */
	bool permanent;              /* on failure: true when retrying cannot help */
};

/*
 * What ffprobe says about a file, as transcode_run() reads it: the first video
 * stream that is not cover art (disposition attached_pic) and the first audio
 * stream; a stream without an "index" in [0, INT_MAX] is ignored. width and
 * height are >= 0 (both 0 unless both are integers in [0, INT_MAX]). codec and
 * pix_fmt are UTF-8, cut before a character that does not fit. duration
 * is in seconds, finite and >= 0 (0: unknown); the format's, else that video
 * stream's. fps is a frame rate for generated cards: the video stream's as
 * "N/D" when between 1 and 120 per second, else "25" ("" without a video stream).
 */
struct transcode_probe {
	double duration;
	int width, height;
	int video_index, audio_index; /* stream indexes; -1 when absent */
	char demuxer[32];            /* the first name of format.format_name: "mov", "matroska" */
	char codec[32];
	char pix_fmt[32];
	char fps[32];
};

/* Fill `pb` from ffprobe's JSON report `root` (fftool.h). Exposed for tests and fuzzing. */
void transcode_probe_parse(const json_t *root, struct transcode_probe *pb);

int transcode_run(const struct transcode_opts *o, const char *input, const char *workdir,
		  const struct video_params *p, struct transcode_result *r, struct buf *err);
void transcode_result_release(struct transcode_result *r);

#endif
