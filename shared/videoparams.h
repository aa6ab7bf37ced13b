/*
 * videoparams — the parameters of a video.transcode job: validation and defaults.
 *
 * Used by the API when a job is submitted (a 422 naming the field) and by the
 * worker before it runs the job, so that both agree on what is valid:
 *
 *   height        integer, one of 240 360 480 720 1080     default 720
 *                 (width follows at 16:9: 426 640 854 1280 1920)
 *   max_duration  number of seconds, 1 to 600               default 30
 *   audio         boolean: keep the audio (AAC)             default false
 *   watermark     boolean: overlay the configured logo      default true
 *                 (without a configured logo nothing is overlaid either way)
 *   bumpers       boolean: logo cards at start and end      default false
 *
 * Any other key is invalid. `params` may be NULL or JSON null (all defaults).
 */
#ifndef SPOOL_VIDEOPARAMS_H
#define SPOOL_VIDEOPARAMS_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"

#define VIDEOPARAMS_HEIGHT_DEFAULT 720
#define VIDEOPARAMS_DURATION_DEFAULT 30.0
#define VIDEOPARAMS_DURATION_MIN 1.0
#define VIDEOPARAMS_DURATION_MAX 600.0

struct video_params {
	int width;            /* derived from height, always even */
	int height;
	double max_duration;  /* seconds */
	bool audio;
	bool watermark;
	bool bumpers;
};

/* Fill `out` with the defaults. */
void videoparams_defaults(struct video_params *out);
/*
 * Validate `params` (a JSON object, or NULL) into `out` (defaults for what is
 * absent). Returns 0, or -1 with the offending key in `field` ("params" when
 * `params` is not an object) and a lower-case message in `msg`, e.g. field
 * "height", msg "must be one of 240, 360, 480, 720, 1080". `field` and `msg` are
 * appended to; `out` is unspecified on error.
 */
int videoparams_parse(const json_t *params, struct video_params *out, struct buf *field,
		      struct buf *msg);
/* The normalised parameters as a new JSON object (every key, width included). */
json_t *videoparams_to_json(const struct video_params *p);

#endif
