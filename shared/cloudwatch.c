#include "cloudwatch.h"
#include "timefmt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cloudwatch {
	char *ns;
	char *region;
	char *endpoint;
	struct awscreds *creds;
	struct aws_client *client;
};

struct cloudwatch *cloudwatch_new(const struct config *cfg)
{
	struct cloudwatch *cw = xcalloc(1, sizeof(*cw));
	cw->ns = xstrdup(cfg->cloudwatch.namespace_ && *cfg->cloudwatch.namespace_ ? cfg->cloudwatch.namespace_
										    : "Spool");
	cw->region = xstrdup(cfg->aws.region && *cfg->aws.region ? cfg->aws.region : "us-east-1");
	struct buf ep = BUF_INIT;
	if (cfg->cloudwatch.endpoint_url && *cfg->cloudwatch.endpoint_url)
		buf_adds(&ep, cfg->cloudwatch.endpoint_url);
	else if (cfg->aws.endpoint_url && *cfg->aws.endpoint_url)
		buf_adds(&ep, cfg->aws.endpoint_url);
	else
		buf_printf(&ep, "https://monitoring.%s.amazonaws.com", cw->region);
	cw->endpoint = buf_detach(&ep);
	cw->creds = awscreds_new(cfg);
	cw->client = aws_client_new(cfg, cw->creds);
	return cw;
}

void cloudwatch_free(struct cloudwatch *cw)
{
	if (!cw)
		return;
	aws_client_free(cw->client);
	awscreds_free(cw->creds);
	free(cw->ns);
	free(cw->region);
	free(cw->endpoint);
	free(cw);
}

/* Append "&name=value" with the value form-encoded. */
static void form_add(struct buf *b, const char *name, const char *value)
{
	if (b->len)
		buf_addc(b, '&');
	buf_adds(b, name);
	buf_addc(b, '=');
	sigv4_uri_encode(b, value, strlen(value), false);
}

static void form_addf(struct buf *b, const char *name, double v)
{
	char tmp[40];
	snprintf(tmp, sizeof(tmp), "%.17g", v);
	form_add(b, name, tmp);
}

static bool datum_finite(const struct cw_datum *d)
{
	if (d->is_stats)
		return isfinite(d->sample_count) && isfinite(d->sum) && isfinite(d->min) &&
		       isfinite(d->max);
	return isfinite(d->value);
}

/* Encode datum `d` as member `m` into `b`. */
static void encode_datum(struct buf *b, int m, const struct cw_datum *d)
{
	char k[96];
	snprintf(k, sizeof(k), "MetricData.member.%d.MetricName", m);
	form_add(b, k, d->name);
	size_t nd = d->ndims < CW_MAX_DIMENSIONS ? d->ndims : CW_MAX_DIMENSIONS;
	for (size_t i = 0; i < nd; i++) {
		snprintf(k, sizeof(k), "MetricData.member.%d.Dimensions.member.%zu.Name", m, i + 1);
		form_add(b, k, d->dims[i].name);
		snprintf(k, sizeof(k), "MetricData.member.%d.Dimensions.member.%zu.Value", m, i + 1);
		form_add(b, k, d->dims[i].value);
	}
	if (d->is_stats) {
		snprintf(k, sizeof(k), "MetricData.member.%d.StatisticValues.SampleCount", m);
		form_addf(b, k, d->sample_count);
		snprintf(k, sizeof(k), "MetricData.member.%d.StatisticValues.Sum", m);
		form_addf(b, k, d->sum);
		snprintf(k, sizeof(k), "MetricData.member.%d.StatisticValues.Minimum", m);
		form_addf(b, k, d->min);
		snprintf(k, sizeof(k), "MetricData.member.%d.StatisticValues.Maximum", m);
		form_addf(b, k, d->max);
	} else {
		snprintf(k, sizeof(k), "MetricData.member.%d.Value", m);
		form_addf(b, k, d->value);
	}
	if (d->unit && *d->unit) {
		snprintf(k, sizeof(k), "MetricData.member.%d.Unit", m);
		form_add(b, k, d->unit);
	}
	if (d->timestamp) {
		char ts[21];
		timefmt_utc(d->timestamp, ts);
		snprintf(k, sizeof(k), "MetricData.member.%d.Timestamp", m);
		form_add(b, k, ts);
	}
	if (d->storage_resolution == 1) {
		snprintf(k, sizeof(k), "MetricData.member.%d.StorageResolution", m);
		form_add(b, k, "1");
	}
}

size_t cloudwatch_encode_put(const char *ns, const struct cw_datum *d, size_t n, size_t max_bytes,
			     struct buf *body)
{
	buf_reset(body);
	form_add(body, "Action", "PutMetricData");
	form_add(body, "Version", "2010-08-01");
	form_add(body, "Namespace", ns);
	struct buf one = BUF_INIT;
	size_t used = 0;
	int members = 0;
	while (used < n && members < CW_MAX_DATUMS) {
		if (!datum_finite(&d[used]) || !d[used].name || !*d[used].name) {
			used++;
			continue;
		}
		buf_reset(&one);
		encode_datum(&one, members + 1, &d[used]);
		if (members > 0 && body->len + 1 + one.len > max_bytes)
			break;
		buf_addc(body, '&');
		buf_add(body, one.data, one.len);
		members++;
		used++;
	}
	buf_release(&one);
	return used;
}

static int post_form(struct cloudwatch *cw, const struct buf *body, struct aws_response *resp,
		     struct aws_error *err)
{
	const struct sigv4_header h = { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" };
	struct aws_request r;
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.endpoint = cw->endpoint;
	r.path = "/";
	r.region = cw->region;
	r.service = "monitoring";
	r.headers = &h;
	r.nheaders = 1;
	r.body = body->data;
	r.body_len = body->len;
	return aws_client_call(cw->client, &r, resp, err);
}

int cloudwatch_put(struct cloudwatch *cw, const struct cw_datum *d, size_t n, struct aws_error *err)
{
	struct buf body = BUF_INIT;
	int rc = 0;
	size_t i = 0;
	while (i < n && rc == 0) {
		size_t used = cloudwatch_encode_put(cw->ns, d + i, n - i, CW_MAX_PUT_BYTES, &body);
		i += used;
		if (!strstr(buf_str(&body), "MetricData.member.1."))
			continue; /* everything in this batch was skipped */
		struct aws_response resp;
		aws_response_init(&resp);
		rc = post_form(cw, &body, &resp, err);
		aws_response_release(&resp);
	}
	buf_release(&body);
	return rc;
}

void cloudwatch_series_free(struct cw_series *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		free(s[i].id);
		free(s[i].label);
		free(s[i].timestamps);
		free(s[i].values);
	}
	free(s);
}

int cloudwatch_parse_get(const char *xml, size_t len, struct cw_series **out, size_t *nout,
			 struct buf *next)
{
	const char *res, *m, *p;
	size_t rl, ml;
	buf_reset(next);
	if (!xml || !aws_xml_find(xml, len, "MetricDataResults", &res, &rl))
		return -1;
	struct buf t = BUF_INIT;
	p = res;
	while ((p = aws_xml_find(p, rl - (size_t)(p - res), "member", &m, &ml))) {
		if (aws_xml_get(m, ml, "Id", &t) != 0)
			continue;
		struct cw_series *s = NULL;
		for (size_t i = 0; i < *nout; i++)
			if (!strcmp((*out)[i].id, buf_str(&t)))
				s = &(*out)[i];
		if (!s) {
			*out = xrealloc(*out, (*nout + 1) * sizeof(**out));
			s = &(*out)[(*nout)++];
			memset(s, 0, sizeof(*s));
			s->id = xstrdup(buf_str(&t));
		}
		if (aws_xml_get(m, ml, "Label", &t) == 0) {
			free(s->label);
			s->label = xstrdup(buf_str(&t));
		}
		if (aws_xml_get(m, ml, "StatusCode", &t) == 0)
			snprintf(s->status, sizeof(s->status), "%s", buf_str(&t));
		const char *ts, *vs, *x, *q;
		size_t tsl = 0, vsl = 0, xl;
		if (!aws_xml_find(m, ml, "Timestamps", &ts, &tsl))
			tsl = 0;
		if (!aws_xml_find(m, ml, "Values", &vs, &vsl))
			vsl = 0;
		/* Timestamps and Values are parallel lists. */
		const char *tp = tsl ? ts : NULL, *vp = vsl ? vs : NULL;
		while (tp && vp) {
			const char *tv;
			size_t tvl;
			tp = aws_xml_find(tp, tsl - (size_t)(tp - ts), "member", &tv, &tvl);
			q = vp ? aws_xml_find(vp, vsl - (size_t)(vp - vs), "member", &x, &xl) : NULL;
			if (!tp || !q)
				break;
			vp = q;
			buf_reset(&t);
			buf_add(&t, tv, tvl);
			time_t when;
			if (timefmt_parse(buf_str(&t), &when) != 0)
				continue;
			buf_reset(&t);
			buf_add(&t, x, xl);
			s->timestamps = xrealloc(s->timestamps, (s->n + 1) * sizeof(time_t));
			s->values = xrealloc(s->values, (s->n + 1) * sizeof(double));
			s->timestamps[s->n] = when;
			s->values[s->n] = strtod(buf_str(&t), NULL);
			s->n++;
		}
	}
	/* NextToken of the result, not one nested in a member */
	const char *after = res + rl;
	const char *nt;
	size_t ntl;
	if (aws_xml_find(after, len - (size_t)(after - xml), "NextToken", &nt, &ntl))
		aws_xml_unescape(next, nt, ntl);
	buf_release(&t);
	return 0;
}

static void encode_query(struct buf *b, int m, const struct cw_query *q, const char *defns)
{
	char k[128];
	snprintf(k, sizeof(k), "MetricDataQueries.member.%d.Id", m);
	form_add(b, k, q->id);
	if (q->label) {
		snprintf(k, sizeof(k), "MetricDataQueries.member.%d.Label", m);
		form_add(b, k, q->label);
	}
	if (q->expression) {
		snprintf(k, sizeof(k), "MetricDataQueries.member.%d.Expression", m);
		form_add(b, k, q->expression);
		if (q->period > 0) {
			snprintf(k, sizeof(k), "MetricDataQueries.member.%d.Period", m);
			form_addf(b, k, q->period);
		}
		return;
	}
	snprintf(k, sizeof(k), "MetricDataQueries.member.%d.MetricStat.Metric.Namespace", m);
	form_add(b, k, q->namespace_ ? q->namespace_ : defns);
	snprintf(k, sizeof(k), "MetricDataQueries.member.%d.MetricStat.Metric.MetricName", m);
	form_add(b, k, q->metric);
	for (size_t i = 0; i < q->ndims && i < CW_MAX_DIMENSIONS; i++) {
		snprintf(k, sizeof(k), "MetricDataQueries.member.%d.MetricStat.Metric.Dimensions.member.%zu.Name",
			 m, i + 1);
		form_add(b, k, q->dims[i].name);
		snprintf(k, sizeof(k), "MetricDataQueries.member.%d.MetricStat.Metric.Dimensions.member.%zu.Value",
			 m, i + 1);
		form_add(b, k, q->dims[i].value);
	}
	snprintf(k, sizeof(k), "MetricDataQueries.member.%d.MetricStat.Period", m);
	form_addf(b, k, q->period > 0 ? q->period : 60);
	snprintf(k, sizeof(k), "MetricDataQueries.member.%d.MetricStat.Stat", m);
	form_add(b, k, q->stat ? q->stat : "Average");
}

int cloudwatch_get_metric_data(struct cloudwatch *cw, const struct cw_query *q, size_t nq,
			       time_t start, time_t end, struct cw_series **out, size_t *nout,
			       struct aws_error *err)
{
	struct cw_series *s = NULL;
	size_t ns = 0;
	struct buf body = BUF_INIT, next = BUF_INIT;
	char ts[21], te[21];
	timefmt_utc(start, ts);
	timefmt_utc(end, te);
	int rc = 0;
	for (size_t off = 0; off < nq && rc == 0; off += CW_MAX_QUERIES) {
		size_t cnt = nq - off < CW_MAX_QUERIES ? nq - off : CW_MAX_QUERIES;
		buf_reset(&next);
		do {
			buf_reset(&body);
			form_add(&body, "Action", "GetMetricData");
			form_add(&body, "Version", "2010-08-01");
			form_add(&body, "StartTime", ts);
			form_add(&body, "EndTime", te);
			form_add(&body, "ScanBy", "TimestampAscending");
			if (next.len)
				form_add(&body, "NextToken", buf_str(&next));
			for (size_t i = 0; i < cnt; i++) {
				buf_addc(&body, '&');
				encode_query(&body, (int)i + 1, &q[off + i], cw->ns);
			}
			struct aws_response resp;
			aws_response_init(&resp);
			rc = post_form(cw, &body, &resp, err);
			if (rc == 0 && cloudwatch_parse_get(resp.body.data, resp.body.len, &s, &ns, &next) != 0) {
				aws_error_set(err, resp.status, "MalformedResponse", false,
					      "GetMetricData: no MetricDataResults in the answer");
				rc = -1;
			}
			aws_response_release(&resp);
		} while (rc == 0 && next.len);
	}
	buf_release(&body);
	buf_release(&next);
	if (rc != 0) {
		cloudwatch_series_free(s, ns);
		return -1;
	}
	*out = s;
	*nout = ns;
	return 0;
}
