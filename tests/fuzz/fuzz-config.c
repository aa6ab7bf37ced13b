/*
 * fuzz-config — config_load_string() on arbitrary text for every program, then
 * the checks a SIGHUP reload runs (config_unreloadable_changes) and the value
 * parsers on their own, with the RFC 3339 time parser (timefmt_parse). The input is one INI text; NUL bytes end it early as
 * they would for a file read as a C string.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned programs[] = { PROG_API, PROG_WORKER, PROG_ADMINCTL };
	char *text = xstrndup((const char *)data, size);
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
		struct config cfg, def;
		struct buf err = BUF_INIT, diff = BUF_INIT;
		memset(&cfg, 0, sizeof(cfg));
		memset(&def, 0, sizeof(def));
		int rc = config_load_string(&cfg, "fuzz.ini", text, programs[i], &err);
		/* every failure names its problem; a success reports none */
		if (rc < 0 && err.len == 0)
			abort();
		config_defaults(&def, programs[i]);
		config_unreloadable_changes(&def, &cfg, &diff);
		config_free(&cfg);
		config_free(&def);
		buf_release(&err);
		buf_release(&diff);
	}
	int64_t v;
	config_parse_duration(text, &v);
	config_parse_size(text, &v);
	/* a time that parses is written back as one that parses to the same time */
	time_t t, back;
	char utc[TIMEFMT_UTC_SIZE];
	if (timefmt_parse(text, &t) == 0 && t >= 0) {
		timefmt_utc(t, utc);
		if (*utc && (timefmt_parse(utc, &back) != 0 || back != t))
			abort();
	}
	free(text);
	return 0;
}
