/* jobtype — the table of job types (see jobtype.h). */
#include "jobtype.h"

#include <string.h>

#include "videoparams.h"

/* video.transcode: the parameters the worker will use, checked the same way (videoparams). */
static int transcode_check(const json_t *params, struct buf *field, struct buf *msg)
{
	struct video_params vp;
	return videoparams_parse(params, &vp, field, msg);
}

/* noop: `duration_ms`, if given, an integer 0..JOBTYPE_NOOP_MAX_MS; nothing else is looked at. */
static int noop_check(const json_t *params, struct buf *field, struct buf *msg)
{
	const json_t *d = json_object_get(params, "duration_ms");
	if (!d)
		return 0;
	if (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > JOBTYPE_NOOP_MAX_MS) {
		buf_adds(field, "duration_ms");
		buf_printf(msg, "must be an integer from 0 to %d", JOBTYPE_NOOP_MAX_MS);
		return -1;
	}
	return 0;
}

static const struct jobtype table[] = {
	[JOBTYPE_VIDEO_TRANSCODE] = { JOBTYPE_VIDEO_TRANSCODE, "video.transcode", true, transcode_check, true, NULL },
	[JOBTYPE_MEDIA_PROBE] = { JOBTYPE_MEDIA_PROBE, "media.probe", true, NULL, true, NULL },
	/* noop: nothing to do once claimed but wait duration_ms; for health checks, benchmarks and
	 * tests, off unless asked for */
	[JOBTYPE_NOOP] = { JOBTYPE_NOOP, "noop", false, noop_check, false, "enable_noop" },
};

_Static_assert(sizeof(table) / sizeof(table[0]) == JOBTYPE_COUNT, "one row per enum jobtype_id");

const struct jobtype *jobtype_get(enum jobtype_id id)
{
	return &table[id];
}

const struct jobtype *jobtype_find(const char *name)
{
	return name ? jobtype_find_n(name, strlen(name)) : NULL;
}

const struct jobtype *jobtype_find_n(const char *name, size_t len)
{
	for (size_t i = 0; i < JOBTYPE_COUNT; i++)
		if (strlen(table[i].name) == len && !memcmp(table[i].name, name, len))
			return &table[i];
	return NULL;
}

void jobtype_names(struct buf *out)
{
	for (size_t i = 0; i < JOBTYPE_COUNT; i++)
		buf_printf(out, "%s%s", i ? ", " : "", table[i].name);
}
