/* videoparams — video.transcode parameters: validation, defaults, normalised JSON. */
#include "videoparams.h"

#include <stdint.h>
#include <string.h>

static const struct {
	int height, width;
} sizes[] = {
	{ 240, 426 }, { 360, 640 }, { 480, 854 }, { 720, 1280 }, { 1080, 1920 },
};

void videoparams_defaults(struct video_params *out)
{
	out->height = VIDEOPARAMS_HEIGHT_DEFAULT;
	out->width = 1280;
	out->max_duration = VIDEOPARAMS_DURATION_DEFAULT;
	out->audio = false;
	out->watermark = true;
	out->bumpers = false;
}

static int invalid(struct buf *field, struct buf *msg, const char *key, const char *text)
{
	buf_adds(field, key);
	buf_adds(msg, text);
	return -1;
}

static int parse_height(const json_t *v, struct video_params *out)
{
	if (!json_is_integer(v))
		return -1;
	json_int_t h = json_integer_value(v);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (sizes[i].height == h) {
			out->height = sizes[i].height;
			out->width = sizes[i].width;
			return 0;
		}
	return -1;
}

int videoparams_parse(const json_t *params, struct video_params *out, struct buf *field,
		      struct buf *msg)
{
	videoparams_defaults(out);
	if (!params || json_is_null(params))
		return 0;
	if (!json_is_object(params))
		return invalid(field, msg, "params", "must be an object");

	const char *key;
	json_t *v;
	/* json_object_foreach wants a non-const object; it only reads. */
	json_t *obj = (json_t *)(uintptr_t)params;
	json_object_foreach(obj, key, v) {
		if (strcmp(key, "height") == 0) {
			if (parse_height(v, out) != 0)
				return invalid(field, msg, key, "must be one of 240, 360, 480, 720, 1080");
		} else if (strcmp(key, "max_duration") == 0) {
			double d = json_number_value(v);
			if (!json_is_number(v) || d < VIDEOPARAMS_DURATION_MIN || d > VIDEOPARAMS_DURATION_MAX)
				return invalid(field, msg, key, "must be a number of seconds from 1 to 600");
			out->max_duration = d;
		} else if (strcmp(key, "audio") == 0 || strcmp(key, "watermark") == 0 ||
			   strcmp(key, "bumpers") == 0) {
			if (!json_is_boolean(v))
				return invalid(field, msg, key, "must be true or false");
			bool b = json_is_true(v);
			if (key[0] == 'a')
				out->audio = b;
			else if (key[0] == 'w')
				out->watermark = b;
			else
				out->bumpers = b;
		} else {
			buf_adds(field, key);
			buf_printf(msg, "unknown parameter '%s' (known: height, max_duration, audio, "
				   "watermark, bumpers)", key);
			return -1;
		}
	}
	return 0;
}

json_t *videoparams_to_json(const struct video_params *p)
{
	return json_pack("{s:i, s:i, s:f, s:b, s:b, s:b}", "width", p->width, "height", p->height,
			 "max_duration", p->max_duration, "audio", p->audio, "watermark",
			 p->watermark, "bumpers", p->bumpers);
}
