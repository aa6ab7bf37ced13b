/*
 * metrics — registry and CloudWatch flush thread. See metrics.h.
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bgthread.h"
#include "cloudwatch.h"
#include "log.h"

#define MAX_CFG_DIMS 10

enum kind { K_COUNTER, K_GAUGE, K_TIMING };

struct metric {
	enum kind kind;
	unsigned flags;
	char name[64];
	char unit[16];
	char dim_name[64], dim_value[128]; /* own dimension, empty when none */
	atomic_uint_fast64_t count;        /* counter events, timing samples */
	_Atomic double sum, min, max;      /* timing */
	_Atomic double value;              /* gauge */
	atomic_bool has_value;             /* gauge set since start */
};

static struct {
	pthread_mutex_t mu; /* registration */
	struct metric m[METRICS_MAX];
	atomic_int n;
	struct metric sink; /* when the registry is full */
	struct bgthread flusher;
	const struct config *cfg;
	_Atomic int64_t interval; /* seconds */
	void (*collect)(void *);
	void *arg;
	struct cloudwatch *cw; /* the flush thread's, while collect runs */
	char *dims_store;
	const char *dim_names[MAX_CFG_DIMS], *dim_values[MAX_CFG_DIMS];
	int ndims;
} reg = { .mu = PTHREAD_MUTEX_INITIALIZER, .flusher = BGTHREAD_INIT };

static struct metric *find(const char *name, const char *dim_name, const char *dim_value)
{
	int n = atomic_load_explicit(&reg.n, memory_order_acquire);

	for (int i = 0; i < n; i++) {
		struct metric *m = &reg.m[i];
		if (!strcmp(m->name, name) && !strcmp(m->dim_name, dim_name ? dim_name : "") &&
		    !strcmp(m->dim_value, dim_value ? dim_value : ""))
			return m;
	}
	return NULL;
}

static struct metric *get(enum kind kind, const char *name, const char *unit, unsigned flags,
			  const char *dim_name, const char *dim_value)
{
	struct metric *m = find(name, dim_name, dim_value);

	if (m)
		return m;
	pthread_mutex_lock(&reg.mu);
	m = find(name, dim_name, dim_value);
	int n = atomic_load_explicit(&reg.n, memory_order_relaxed);
	if (!m && n == METRICS_MAX) {
		log_warn("metrics: registry full; '%s' is not published", name);
		m = &reg.sink;
	} else if (!m) {
		m = &reg.m[n];
		m->kind = kind;
		m->flags = flags;
		snprintf(m->name, sizeof(m->name), "%s", name);
		snprintf(m->unit, sizeof(m->unit), "%s", unit ? unit : "None");
		snprintf(m->dim_name, sizeof(m->dim_name), "%s", dim_name ? dim_name : "");
		snprintf(m->dim_value, sizeof(m->dim_value), "%s", dim_value ? dim_value : "");
		atomic_store(&m->min, INFINITY);
		atomic_store(&m->max, -INFINITY);
		atomic_store_explicit(&reg.n, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&reg.mu);
	return m;
}

struct metric *metrics_counter(const char *name, const char *unit)
{
	return get(K_COUNTER, name, unit, 0, NULL, NULL);
}

struct metric *metrics_gauge(const char *name, const char *unit, unsigned flags)
{
	return get(K_GAUGE, name, unit, flags, NULL, NULL);
}

struct metric *metrics_timing(const char *name, const char *unit, const char *dim_name, const char *dim_value)
{
	return get(K_TIMING, name, unit, 0, dim_name, dim_value);
}

void metrics_add(struct metric *m, uint64_t n)
{
	atomic_fetch_add_explicit(&m->count, n, memory_order_relaxed);
}

void metrics_set(struct metric *m, double value)
{
	atomic_store_explicit(&m->value, value, memory_order_relaxed);
	atomic_store_explicit(&m->has_value, true, memory_order_relaxed);
}

void metrics_observe(struct metric *m, double v)
{
	double cur;

	if (!isfinite(v))
		return;
	cur = atomic_load_explicit(&m->sum, memory_order_relaxed);
	while (!atomic_compare_exchange_weak(&m->sum, &cur, cur + v))
		;
	cur = atomic_load_explicit(&m->min, memory_order_relaxed);
	while (v < cur && !atomic_compare_exchange_weak(&m->min, &cur, v))
		;
	cur = atomic_load_explicit(&m->max, memory_order_relaxed);
	while (v > cur && !atomic_compare_exchange_weak(&m->max, &cur, v))
		;
	atomic_fetch_add_explicit(&m->count, 1, memory_order_release);
}

int metrics_parse_dimensions(const char *spec, char **store, const char **names, const char **values,
			     int max, struct buf *err)
{
	int n = 0;

	*store = NULL;
	if (!spec || !*spec)
		return 0;
	*store = xstrdup(spec);
	for (char *save = NULL, *tok = strtok_r(*store, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		char *eq = strchr(tok, '=');
		if (!eq || eq == tok || !eq[1]) {
			buf_printf(err, "cloudwatch: dimension '%s' is not Name=Value", tok);
			goto fail;
		}
		if (n == max) {
			buf_printf(err, "cloudwatch: more than %d dimensions", max);
			goto fail;
		}
		*eq = '\0';
		names[n] = tok;
		values[n] = eq + 1;
		n++;
	}
	return n;
fail:
	free(*store);
	*store = NULL;
	return -1;
}

/* A metric's datums (up to 3, see metrics.h) appended to `d`; returns how many. */
static size_t datums(const struct metric *m, struct cw_datum proto, struct cw_dimension *dims, struct cw_datum *d)
{
	size_t n = 0, nd = 0;

	d[n++] = proto;
	if (m->flags & METRIC_NO_DIMS)
		return n;
	if (m->dim_name[0]) {
		dims[nd++] = (struct cw_dimension){ m->dim_name, m->dim_value };
		d[n] = proto;
		d[n].dims = dims;
		d[n++].ndims = nd;
	}
	if (reg.ndims > 0) {
		for (int i = 0; i < reg.ndims; i++)
			dims[nd++] = (struct cw_dimension){ reg.dim_names[i], reg.dim_values[i] };
		d[n] = proto;
		d[n].dims = dims;
		d[n++].ndims = nd;
	}
	return n;
}

/* Publish; a failure is logged. 0 or -1. */
static int put(struct cloudwatch *cw, const struct cw_datum *d, size_t nd)
{
	struct aws_error e;
	aws_error_clear(&e);
	if (cloudwatch_put(cw, d, nd, &e) < 0) {
		struct buf b = BUF_INIT;
		aws_error_format(&e, &b);
		log_warn("metrics: PutMetricData failed (%zu datums dropped): %s", nd, buf_str(&b));
		buf_release(&b);
		return -1;
	}
	log_debug("metrics: %zu datums published", nd);
	return 0;
}

int metrics_put(const struct cw_datum *d, size_t n)
{
	if (!reg.cw)
		return -1;
	return n > 0 ? put(reg.cw, d, n) : 0;
}

/* Take every metric's values since the last flush and publish them. */
static void flush(struct cloudwatch *cw)
{
	int n = atomic_load_explicit(&reg.n, memory_order_acquire);
	struct cw_datum *d = xcalloc((size_t)n * 3 + 1, sizeof(*d));
	struct cw_dimension (*dims)[MAX_CFG_DIMS + 1] = xcalloc((size_t)n + 1, sizeof(*dims));
	size_t nd = 0;

	for (int i = 0; i < n; i++) {
		struct metric *m = &reg.m[i];
		struct cw_datum p = { .name = m->name, .unit = m->unit };
		if (m->kind == K_GAUGE) {
			if (!atomic_load_explicit(&m->has_value, memory_order_relaxed))
				continue;
			p.value = atomic_load_explicit(&m->value, memory_order_relaxed);
		} else if (m->kind == K_COUNTER) {
			uint64_t c = atomic_exchange_explicit(&m->count, 0, memory_order_relaxed);
			if (c > 0) {
				p.is_stats = true;
				p.sample_count = p.sum = (double)c;
				p.min = p.max = 1;
			}
		} else {
			uint64_t c = atomic_exchange_explicit(&m->count, 0, memory_order_acquire);
			double sum = atomic_exchange(&m->sum, 0.0);
			double lo = atomic_exchange(&m->min, INFINITY), hi = atomic_exchange(&m->max, -INFINITY);
			if (c == 0)
				continue;
			if (!(lo <= hi)) /* raced with an observe: keep the set consistent */
				lo = hi = sum / (double)c;
			p.is_stats = true;
			p.sample_count = (double)c;
			p.sum = sum;
			p.min = lo;
			p.max = hi;
		}
		nd += datums(m, p, dims[i], d + nd);
	}
	if (nd > 0)
		put(cw, d, nd);
	free(dims);
	free(d);
}

static void *flush_main(void *arg)
{
	struct cloudwatch *cw = cloudwatch_new(reg.cfg);
	bool stop = false;

	(void)arg;
	while (!stop) {
		stop = bgthread_wait_for(&reg.flusher, atomic_load(&reg.interval) * 1000);
		if (reg.collect) {
			reg.cw = cw;
			reg.collect(reg.arg);
			reg.cw = NULL;
		}
		flush(cw);
	}
	cloudwatch_free(cw);
	return NULL;
}

int metrics_start(const struct config *cfg, void (*collect)(void *), void *arg, struct buf *err)
{
	if (!cfg->cloudwatch.enabled)
		return 0;
	int nd = metrics_parse_dimensions(cfg->cloudwatch.dimensions, &reg.dims_store, reg.dim_names,
					  reg.dim_values, MAX_CFG_DIMS, err);
	if (nd < 0)
		return METRICS_BAD_DIMENSIONS;
	reg.ndims = nd;
	reg.cfg = cfg;
	atomic_store(&reg.interval, cfg->cloudwatch.interval);
	reg.collect = collect;
	reg.arg = arg;
	if (bgthread_start(&reg.flusher, "metrics", flush_main, NULL, err) < 0) {
		free(reg.dims_store);
		reg.dims_store = NULL;
		return METRICS_NO_THREAD;
	}
	return 0;
}

void metrics_set_interval(int64_t seconds)
{
	if (seconds > 0)
		atomic_store(&reg.interval, seconds);
}

int64_t metrics_interval(void)
{
	return atomic_load(&reg.interval);
}

void metrics_stop(void)
{
	bgthread_stop(&reg.flusher);
	free(reg.dims_store);
	reg.dims_store = NULL;
}
