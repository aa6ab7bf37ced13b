/*
 * fuzz-videoparams — json_loadb() then videoparams_parse(), as the API does with
 * a submitted job's "params" and the worker with a job it runs. Accepted
 * parameters must be in range and survive videoparams_to_json() and a re-parse.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "videoparams.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *params = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!params)
		return 0;
	struct video_params vp, again;
	struct buf field = BUF_INIT, msg = BUF_INIT;
	if (videoparams_parse(params, &vp, &field, &msg) < 0) {
		/* a 422 names the field (the key itself, which may be "") and the problem */
		if (msg.len == 0 || (field.len == 0 && !json_object_get(params, "")))
			abort();
	} else {
		if (vp.width <= 0 || vp.width % 2 || vp.height <= 0 ||
		    !(vp.max_duration >= VIDEOPARAMS_DURATION_MIN && vp.max_duration <= VIDEOPARAMS_DURATION_MAX))
			abort();
		json_t *norm = videoparams_to_json(&vp);
		/* the normalised form carries "width", which is derived, not accepted */
		json_object_del(norm, "width");
		if (videoparams_parse(norm, &again, &field, &msg) < 0 || again.width != vp.width ||
		    again.height != vp.height || again.max_duration != vp.max_duration ||
		    again.audio != vp.audio || again.watermark != vp.watermark || again.bumpers != vp.bumpers)
			abort();
		json_decref(norm);
	}
	buf_release(&field);
	buf_release(&msg);
	json_decref(params);
	return 0;
}
