/*
 * rules_explain.c - what a rule tells people: the explanation of a series'
 * state ("value 8.2 is below the critical level 10 (recovers at 12)"), the
 * numbers and times in it, the query link, the event details and the
 * rendered annotations. Everything here is formatted from struct rinfo when
 * an event or the status API needs it, never during a quiet evaluation.
 */
#include "rules_int.h"

#include "../base/timefmt.h"
#include "template.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Appends printf output to buf (which holds *pos bytes), never past len. */
static void addf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void addf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    if (*pos >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n < len - *pos ? (size_t)n : len - *pos - 1;
}

const char *rules_kind_name(enum rule_kind k)
{
    switch (k) {
    case RULE_STATIC:
        return "static";
    case RULE_SEASONAL:
        return "seasonal";
    case RULE_ABSENT:
        return "absent";
    case RULE_FORECAST:
        return "forecast";
    case RULE_PROMQL:
        return "promql";
    case RULE_RECORD:
        return "record";
    }
    return "unknown";
}

void rules_fmt_num(double v, char *buf, size_t len)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    double a = fabs(v);
    if (a >= 1e15 || (a > 0 && a < 1e-9)) {
        snprintf(buf, len, "%.4g", v);
        return;
    }
    /* As baseline_describe writes them: three decimals at most from 1 up,
     * three significant digits below 1, trailing zeros dropped, thousands
     * separated. */
    int dec = 3;
    if (a > 0 && a < 1)
        dec = 2 - (int)floor(log10(a));
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%.*f", dec, a);
    char *dot = strchr(tmp, '.');
    size_t ilen = dot ? (size_t)(dot - tmp) : strlen(tmp);
    if (dot) {
        char *end = tmp + strlen(tmp);
        while (end > dot + 1 && end[-1] == '0')
            end--;
        if (end == dot + 1)
            end = dot;
        *end = 0;
    }
    char out[96];
    size_t o = 0;
    if (v < 0 && strcmp(tmp, "0") != 0)
        out[o++] = '-';
    for (size_t i = 0; i < ilen; i++) {
        if (i > 0 && (ilen - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = tmp[i];
    }
    snprintf(out + o, sizeof(out) - o, "%s", tmp + ilen);
    snprintf(buf, len, "%s", out);
}

void rules_fmt_dur(int64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    size_t pos = 0;
    int shown = 0;
    buf[0] = 0;
    if (ms < 0)
        ms = 0;
    if (ms < 1000) {
        snprintf(buf, len, ms == 0 ? "0s" : "%lldms", (long long)ms);
        return;
    }
    for (size_t i = 0; i < 4 && shown < 2; i++) {
        int64_t q = ms / units[i].ms;
        if (q == 0) {
            if (shown)
                break; /* "1d 3m" would read oddly: stop at the first gap */
            continue;
        }
        addf(buf, len, &pos, "%s%lld%s", shown ? " " : "", (long long)q, units[i].u);
        ms -= q * units[i].ms;
        shown++;
    }
}

void rules_fmt_time(int64_t ms, char *buf, size_t len)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, len, "%lld", (long long)ms);
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02d %02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min);
}

/* The alert labels that come from the series (not alertname, not the rule's). */
static void series_labels_text(const struct rrule *rr, const struct rseries *s, char *buf,
                               size_t len)
{
    size_t pos = 0, shown = 0;
    buf[0] = 0;
    for (size_t i = 0; i < s->labels.n; i++) {
        const struct label *l = &s->labels.v[i];
        if (strcmp(l->name, "alertname") == 0 || labels_get(&rr->cfg->labels, l->name))
            continue;
        addf(buf, len, &pos, "%s%s=\"%s\"", shown++ ? "," : "{", l->name, l->value);
    }
    if (shown)
        addf(buf, len, &pos, "}");
}

static const char *level_name(int level)
{
    return level == 2 ? "critical" : level == 1 ? "warning" : "none";
}

static void explain_static(const struct rrule *rr, const struct rseries *s, char *buf, size_t len,
                           size_t *pos)
{
    const struct rinfo *in = &s->info;
    char v[48], t[48], rc[48];
    rules_fmt_num(s->value, v, sizeof(v));
    if (in->level == 0) {
        addf(buf, len, pos, "value %s is within the levels", v);
    } else {
        rules_fmt_num(in->threshold, t, sizeof(t));
        rules_fmt_num(in->recover, rc, sizeof(rc));
        if (in->held)
            addf(buf, len, pos, "value %s has not recovered from the %s level %s", v,
                 level_name(in->level), t);
        else
            addf(buf, len, pos, "value %s is %s the %s level %s", v,
                 in->side == RULE_ABOVE ? "above" : "below", level_name(in->level), t);
        if (in->recover != in->threshold && !isnan(in->recover))
            addf(buf, len, pos, " (recovers at %s)", rc);
    }
    if (in->period >= 0 && (size_t)in->period < rr->cfg->st.n_periods)
        addf(buf, len, pos, " (levels for %s)", rr->cfg->st.periods[in->period].name);
}

/* "62% below" (and "4.1 MADs below" into spreads when the spread is known). */
static void deviation_text(const struct rrule *rr, const struct rseries *s, char *pct, size_t plen,
                           char *spr, size_t slen)
{
    const struct baseline_band *b = &s->info.band;
    double d = s->value - b->centre;
    const char *dir = d < 0 ? "below" : "above";
    pct[0] = spr[0] = 0;
    if (b->centre != 0 && isfinite(d)) {
        double p = fabs(d) / fabs(b->centre) * 100;
        snprintf(pct, plen, p < 10 ? "%.1f%% %s" : "%.0f%% %s", p, dir);
    } else if (isfinite(d)) {
        char n[48];
        rules_fmt_num(fabs(d), n, sizeof(n));
        snprintf(pct, plen, "%s %s", n, dir);
    }
    if (b->spread > 0 && isfinite(d))
        snprintf(spr, slen, "%.1f %s %s", fabs(d) / b->spread,
                 rr->cfg->se.spread == SPREAD_MAD ? "MADs" : "standard deviations", dir);
}

static void explain_seasonal(const struct rrule *rr, const struct rseries *s, char *buf, size_t len,
                             size_t *pos)
{
    const struct rinfo *in = &s->info;
    char desc[512], v[48], c[48], lo[48], hi[48];
    if (in->loading || !s->bl || rr->bl != BL_READY) {
        addf(buf, len, pos, "baseline loading");
        return;
    }
    baseline_describe(s->bl, &in->band, desc, sizeof(desc));
    if (!in->band.ok) {
        if (in->fallback) {
            explain_static(rr, s, buf, len, pos);
            addf(buf, len, pos, "; static levels used: %s", desc);
        } else {
            addf(buf, len, pos, "%s", desc);
        }
        return;
    }
    rules_fmt_num(s->value, v, sizeof(v));
    rules_fmt_num(in->band.centre, c, sizeof(c));
    rules_fmt_num(in->band.low, lo, sizeof(lo));
    rules_fmt_num(in->band.high, hi, sizeof(hi));
    if (isnan(s->value)) {
        addf(buf, len, pos, "no value; %s", desc);
        return;
    }
    if (s->value >= in->band.low && s->value <= in->band.high) {
        addf(buf, len, pos, "value %s is within the expected %s\xe2\x80\x93%s; %s", v, lo, hi,
             desc);
        return;
    }
    char pct[64], spr[96];
    deviation_text(rr, s, pct, sizeof(pct), spr, sizeof(spr));
    addf(buf, len, pos, "value %s is %s the expected %s", v, pct, c);
    if (spr[0])
        addf(buf, len, pos, " (%s)", spr);
    addf(buf, len, pos, "; %s", desc);
}

static void explain_absent(const struct rrule *rr, const struct rseries *s, char *buf, size_t len,
                           size_t *pos)
{
    const struct rinfo *in = &s->info;
    char sl[512], d[48], t[48];
    series_labels_text(rr, s, sl, sizeof(sl));
    rules_fmt_dur(rr->cfg->ab.after_ms, d, sizeof(d));
    if (in->never) {
        addf(buf, len, pos, "no sample of %s%s%s in the last %s, and none seen before",
             rr->cfg->query, sl[0] ? " " : "", sl, d);
        return;
    }
    if (in->absent_since == 0) {
        addf(buf, len, pos, "a sample of %s%s%s came within the last %s", rr->cfg->query,
             sl[0] ? " " : "", sl, d);
        return;
    }
    int64_t now = s->last_true ? s->last_true : in->absent_since + rr->cfg->ab.after_ms;
    rules_fmt_dur(now - in->absent_since, d, sizeof(d));
    rules_fmt_time(in->absent_since, t, sizeof(t));
    if (in->before)
        addf(buf, len, pos, "no sample of %s%s%s for more than %s (the last one came before %s)",
             rr->cfg->query, sl[0] ? " " : "", sl, d, t);
    else
        addf(buf, len, pos, "no sample of %s%s%s for %s since %s", rr->cfg->query, sl[0] ? " " : "",
             sl, d, t);
}

static int64_t forecast_window(const struct cfg_forecast *fc)
{
    return fc->window_ms > 0 ? fc->window_ms : fc->within_ms;
}

static void explain_forecast(const struct rrule *rr, const struct rseries *s, char *buf, size_t len,
                             size_t *pos)
{
    const struct cfg_forecast *fc = &rr->cfg->fc;
    const struct rinfo *in = &s->info;
    char w[48], lim[48], t[48], d[48];
    rules_fmt_dur(forecast_window(fc), w, sizeof(w));
    rules_fmt_num(fc->limit, lim, sizeof(lim));
    if (!in->judged) {
        if (in->note && strcmp(in->note, "too few points") == 0)
            addf(buf, len, pos, "only %zu points in the last %s, %d needed to judge the trend",
                 in->points, w, fc->min_points);
        else
            addf(buf, len, pos, "the trend of the last %s could not be fitted", w);
        return;
    }
    addf(buf, len, pos, "at the trend of the last %s (%s fit, r\xc2\xb2 %.2f) the value ", w,
         forecast_model_name(fc->model), in->r2);
    if (in->predicted == 0) {
        rules_fmt_dur(fc->within_ms, d, sizeof(d));
        addf(buf, len, pos, "does not reach %s within %s", lim, d);
        return;
    }
    int64_t now = s->last_seen;
    if (in->predicted <= now) {
        addf(buf, len, pos, "is already %s %s", fc->dir == RULE_BELOW ? "below" : "above", lim);
        return;
    }
    rules_fmt_time(in->predicted, t, sizeof(t));
    rules_fmt_dur(in->predicted - now, d, sizeof(d));
    addf(buf, len, pos, "reaches %s on %s, in %s", lim, t, d);
}

void rules_explain(const struct rrule *rr, const struct rseries *s, char *buf, size_t len)
{
    size_t pos = 0;
    char v[48];
    buf[0] = 0;
    if (rr->cfg->kind != RULE_ABSENT && !s->seen && s->phase == RS_INACTIVE) {
        /* Known from history or an earlier evaluation, not in the last result. */
        addf(buf, len, &pos, "not returned by the query at the last evaluation");
        return;
    }
    switch (rr->cfg->kind) {
    case RULE_STATIC:
        explain_static(rr, s, buf, len, &pos);
        break;
    case RULE_SEASONAL:
        explain_seasonal(rr, s, buf, len, &pos);
        break;
    case RULE_ABSENT:
        explain_absent(rr, s, buf, len, &pos);
        break;
    case RULE_FORECAST:
        explain_forecast(rr, s, buf, len, &pos);
        break;
    default:
        rules_fmt_num(s->value, v, sizeof(v));
        addf(buf, len, &pos, "the query returned %s", v);
        break;
    }
}

/* ---- links ---- */

static void url_encode(const char *s, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = 0;
}

int64_t rules_link_range(const struct rules *r, const struct rrule *rr)
{
    if (rr->cfg->kind == RULE_FORECAST)
        return forecast_window(&rr->cfg->fc);
    return r->settings && r->settings->link_range_ms > 0 ? r->settings->link_range_ms
                                                         : 6 * 3600 * INT64_C(1000);
}

char *rules_query_link(const struct rules *r, const struct rrule *rr, int64_t now)
{
    int64_t range = rules_link_range(r, rr);
    int64_t step = (range / 1000 + RULES_LINK_POINTS - 1) / RULES_LINK_POINTS;
    if (step < 1)
        step = 1;
    const char *base = r->env.public_url ? r->env.public_url : "";
    size_t qlen = strlen(rr->cfg->query) * 3 + 1;
    size_t len = strlen(base) + qlen + 160;
    char *enc = malloc(qlen);
    char *out = malloc(len);
    if (!enc || !out) {
        free(enc);
        free(out);
        return NULL;
    }
    url_encode(rr->cfg->query, enc, qlen);
    snprintf(out, len, "%s/api/v1/query_range?query=%s&start=%lld&end=%lld&step=%lld", base, enc,
             (long long)((now - range) / 1000), (long long)(now / 1000), (long long)step);
    free(enc);
    return out;
}

/* ---- details and templates ---- */

static json_t *num_json(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *time_json(int64_t ms)
{
    char b[40];
    if (ms == 0)
        return json_null();
    return json_string(timefmt_format_rfc3339(ms, b, sizeof(b)));
}

/* The template variables beyond $labels and $value. */
struct tvars {
    char expected[128], threshold[64], deviation[128], predicted[40], forv[48];
};

static void make_tvars(const struct rrule *rr, const struct rseries *s, struct tvars *tv)
{
    const struct rinfo *in = &s->info;
    memset(tv, 0, sizeof(*tv));
    rules_fmt_dur(rr->cfg->for_ms, tv->forv, sizeof(tv->forv));
    bool levels = rr->cfg->kind == RULE_STATIC || (rr->cfg->kind == RULE_SEASONAL && in->fallback);
    if (levels && in->level > 0) {
        rules_fmt_num(in->threshold, tv->expected, sizeof(tv->expected));
        rules_fmt_num(in->threshold, tv->threshold, sizeof(tv->threshold));
        if (!isnan(s->value)) {
            char n[48];
            rules_fmt_num(fabs(s->value - in->threshold), n, sizeof(n));
            snprintf(tv->deviation, sizeof(tv->deviation), "%s %s", n,
                     s->value < in->threshold ? "below" : "above");
        }
    } else if (rr->cfg->kind == RULE_SEASONAL && in->band.ok && s->bl) {
        char lo[48], hi[48], spr[96];
        rules_fmt_num(in->band.low, lo, sizeof(lo));
        rules_fmt_num(in->band.high, hi, sizeof(hi));
        snprintf(tv->expected, sizeof(tv->expected), "%s\xe2\x80\x93%s", lo, hi);
        if (!isnan(in->threshold))
            rules_fmt_num(in->threshold, tv->threshold, sizeof(tv->threshold));
        deviation_text(rr, s, tv->deviation, sizeof(tv->deviation), spr, sizeof(spr));
    } else if (rr->cfg->kind == RULE_FORECAST) {
        rules_fmt_num(rr->cfg->fc.limit, tv->threshold, sizeof(tv->threshold));
        snprintf(tv->expected, sizeof(tv->expected), "%s", tv->threshold);
        if (in->predicted)
            timefmt_format_rfc3339(in->predicted, tv->predicted, sizeof(tv->predicted));
    }
}

json_t *rules_render_annotations(const struct rrule *rr, const struct rseries *s,
                                 const char *explanation)
{
    struct tvars tv;
    make_tvars(rr, s, &tv);
    struct template_var extra[] = {
        {"explanation", explanation}, {"expected", tv.expected},   {"threshold", tv.threshold},
        {"deviation", tv.deviation},  {"predicted", tv.predicted}, {"for", tv.forv},
    };
    struct template_vars vars = {&s->labels, s->value, extra, sizeof(extra) / sizeof(extra[0])};
    json_t *out = json_object();
    const char *k;
    json_t *v;
    if (!out)
        return NULL;
    json_object_foreach(rr->cfg->annotations, k, v)
    {
        if (!json_is_string(v))
            continue;
        char *txt = template_render(json_string_value(v), &vars);
        if (!txt) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, k, json_string(txt));
        free(txt);
    }
    return out;
}

json_t *rules_explain_json(const struct rules *r, const struct rrule *rr, const struct rseries *s,
                           const char *explanation, const char *link)
{
    (void)r;
    const struct cfg_rule *c = rr->cfg;
    const struct rinfo *in = &s->info;
    json_t *o = json_object();
    char b[96];
    if (!o)
        return NULL;
    json_object_set_new(o, "rule", json_string(c->name));
    json_object_set_new(o, "kind", json_string(rules_kind_name(c->kind)));
    json_object_set_new(o, "value", num_json(s->value));
    json_object_set_new(o, "explanation", json_string(explanation));
    json_object_set_new(o, "query", json_string(c->query));
    if (link)
        json_object_set_new(o, "link", json_string(link));
    bool levels = c->kind == RULE_STATIC || (c->kind == RULE_SEASONAL && in->fallback);
    if (levels) {
        json_object_set_new(o, "level", json_string(level_name(in->level)));
        json_object_set_new(o, "threshold", num_json(in->threshold));
        json_object_set_new(o, "recover", num_json(in->recover));
        json_object_set_new(o, "side", json_string(in->side == RULE_BELOW ? "below" : "above"));
        if (in->period >= 0 && (size_t)in->period < c->st.n_periods)
            json_object_set_new(o, "period", json_string(c->st.periods[in->period].name));
    }
    if (c->kind == RULE_SEASONAL) {
        json_object_set_new(o, "baseline_ok", json_boolean(in->band.ok));
        json_object_set_new(o, "fallback", json_boolean(in->fallback));
        json_object_set_new(o, "seasons_used", json_integer(in->band.seasons_used));
        json_object_set_new(o, "seasons_needed", json_integer(in->band.seasons_needed));
        baseline_slot_name(&rr->bp, in->band.slot, b, sizeof(b));
        json_object_set_new(o, "slot", json_string(b));
        if (in->band.ok) {
            char pct[64], spr[96];
            json_object_set_new(o, "centre", num_json(in->band.centre));
            json_object_set_new(o, "low", num_json(in->band.low));
            json_object_set_new(o, "high", num_json(in->band.high));
            json_object_set_new(o, "spread", num_json(in->band.spread));
            deviation_text(rr, s, pct, sizeof(pct), spr, sizeof(spr));
            json_object_set_new(o, "deviation", json_string(pct));
            if (spr[0])
                json_object_set_new(o, "deviation_spreads", json_string(spr));
        } else if (in->band.why) {
            json_object_set_new(o, "why", json_string(in->band.why));
        }
    }
    if (c->kind == RULE_FORECAST) {
        json_object_set_new(o, "predicted_at", time_json(in->predicted));
        json_object_set_new(o, "model", json_string(forecast_model_name(c->fc.model)));
        json_object_set_new(o, "r2", num_json(in->r2));
        json_object_set_new(o, "points", json_integer((json_int_t)in->points));
        json_object_set_new(o, "limit", num_json(c->fc.limit));
        json_object_set_new(o, "direction",
                            json_string(c->fc.dir == RULE_BELOW ? "below" : "above"));
        rules_fmt_dur(forecast_window(&c->fc), b, sizeof(b));
        json_object_set_new(o, "window", json_string(b));
        rules_fmt_dur(c->fc.within_ms, b, sizeof(b));
        json_object_set_new(o, "within", json_string(b));
    }
    if (c->kind == RULE_ABSENT) {
        json_object_set_new(o, "absent_since", time_json(in->absent_since));
        rules_fmt_dur(c->ab.after_ms, b, sizeof(b));
        json_object_set_new(o, "after", json_string(b));
    }
    return o;
}
