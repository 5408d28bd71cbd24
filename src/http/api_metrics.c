/*
 * api_metrics.c - the metrics endpoints: Influx line protocol writes
 * (/api/v1/write, /write, /api/v2/write), the Prometheus query API that
 * Grafana and promtool speak (/api/v1/query, query_range, series, labels,
 * label values, targets, buildinfo), and the admin flush.
 *
 * Prometheus clients send query parameters either in the URL or, for POST,
 * as an application/x-www-form-urlencoded body (Grafana posts by default),
 * so every parameter is looked up in both places.
 */
#include "api.h"

#include "../base/clock.h"
#include "../base/log.h"
#include "../base/timefmt.h"
#include "../metrics/lineproto.h"
#include "../metrics/promql.h"
#include "../metrics/scrape.h"
#include "../metrics/tsdb.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Prometheus refuses range queries with more points than this per series. */
#define METRICS_MAX_POINTS 11000
/* Errors listed in a partial-write answer; the rest are only counted. */
#define WRITE_MAX_ERRORS 100
/* Form parameters kept from one request body. */
#define FORM_MAX_PARAMS 64

/* ---- Prometheus-style replies ---- */

static void prom_error(struct http_req *req, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void prom_error(struct http_req *req, int status, const char *type, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    http_reply_json(req, status,
                    json_pack("{ssssss}", "status", "error", "errorType", type, "error", msg));
}

/*
 * Sample times are seconds with milliseconds (1700000000.123); 13
 * significant digits print them exactly as Prometheus does, where jansson's
 * default of 17 would show the binary neighbour (1700000000.1229999).
 */
static void prom_success(struct http_req *req, json_t *data)
{
    json_t *obj = data ? json_pack("{ssso}", "status", "success", "data", data) : NULL;
    char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(13)) : NULL;
    json_decref(obj);
    if (!text) {
        prom_error(req, 500, "internal", "out of memory");
        return;
    }
    http_reply_text(req, 200, "application/json", text, strlen(text));
    free(text);
}

/* ---- parameters from the URL or a form body ---- */

struct form {
    char *buf; /* owned; the decoded copy of the body that the pairs point into */
    size_t n;
    const char *key[FORM_MAX_PARAMS];
    const char *val[FORM_MAX_PARAMS];
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes %XX and '+' in place; returns the new end. */
static char *form_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '+') {
            *w++ = ' ';
        } else if (*r == '%' && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
            *w++ = (char)(hexval(r[1]) * 16 + hexval(r[2]));
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
    return w;
}

static bool is_form_type(struct http_req *req)
{
    const char *ct = http_header(req, "Content-Type");
    return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

/* Parses the body as a form when it is one. Returns -1 when out of memory. */
static int form_parse(struct http_req *req, struct form *f)
{
    memset(f, 0, sizeof(*f));
    if (strcmp(req->method, "POST") != 0 || !is_form_type(req) || req->body_len == 0)
        return 0;
    f->buf = strndup(req->body, req->body_len);
    if (!f->buf)
        return -1;
    char *save = NULL;
    for (char *tok = strtok_r(f->buf, "&", &save); tok && f->n < FORM_MAX_PARAMS;
         tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        if (eq)
            *eq = 0;
        form_decode(tok);
        f->key[f->n] = tok;
        f->val[f->n] = eq ? (form_decode(eq + 1), eq + 1) : "";
        f->n++;
    }
    return 0;
}

static void form_free(struct form *f)
{
    free(f->buf);
    f->buf = NULL;
}

static const char *param(struct http_req *req, const struct form *f, const char *name)
{
    const char *v = http_query(req, name);
    if (v)
        return v;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->key[i], name) == 0)
            return f->val[i];
    return NULL;
}

static size_t param_all(struct http_req *req, const struct form *f, const char *name,
                        const char **out, size_t max)
{
    size_t n = http_query_all(req, name, out, max);
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->key[i], name) == 0) {
            if (n < max)
                out[n] = f->val[i];
            n++;
        }
    return n;
}

/*
 * A time as Prometheus takes it: RFC 3339 or Unix seconds with a fraction.
 * Returns 0, or -1 when it is neither.
 */
static int parse_time(const char *s, int64_t *ms)
{
    char *end;
    if (!s || !*s)
        return -1;
    double d = strtod(s, &end);
    if (end != s && *end == 0 && isfinite(d)) {
        if (d > 9.2e15 || d < -9.2e15)
            return -1;
        *ms = (int64_t)llround(d * 1000.0);
        return 0;
    }
    return timefmt_parse_rfc3339(s, strlen(s), ms);
}

/* A step or timeout: a Prometheus duration or (fractional) seconds. */
static int parse_step(const char *s, int64_t *ms)
{
    char *end;
    if (!s || !*s)
        return -1;
    double d = strtod(s, &end);
    if (end != s && *end == 0 && isfinite(d)) {
        if (d > 9.2e12 || d < 0)
            return -1;
        *ms = (int64_t)llround(d * 1000.0);
        return 0;
    }
    return promql_parse_duration(s, ms);
}

/* ---- writes ---- */

enum write_flavour { WRITE_TOCSIN, WRITE_INFLUX_V1, WRITE_INFLUX_V2 };

struct write_state {
    struct tsdb_appender *app;
    json_t *errors; /* [{"line":N,"message":".."}], at most WRITE_MAX_ERRORS */
    size_t n_errors;
    size_t bad_lines; /* distinct lines with an error */
    size_t last_bad_line;
    size_t first_line; /* the first bad line, for the summary message */
    char first_msg[512];
    size_t stored, rejected;
    bool limit_hit;
};

static void write_note_error(struct write_state *w, size_t line, const char *msg)
{
    if (line != w->last_bad_line) {
        w->bad_lines++;
        w->last_bad_line = line;
    }
    if (w->n_errors == 0) {
        w->first_line = line;
        snprintf(w->first_msg, sizeof(w->first_msg), "%s", msg);
    }
    if (w->n_errors < WRITE_MAX_ERRORS)
        json_array_append_new(w->errors,
                              json_pack("{sIss}", "line", (json_int_t)line, "message", msg));
    w->n_errors++;
}

static int write_on_sample(void *ctx, struct lp_sample *s)
{
    struct write_state *w = ctx;
    char err[512];
    int rc = tsdb_append(w->app, s->labels, s->n_labels, s->t_ms, s->value, err, sizeof(err));
    if (rc == TSDB_OK) {
        w->stored++;
        return 0;
    }
    if (rc == TSDB_ENOMEM)
        return -1;
    if (rc == TSDB_ELIMIT)
        w->limit_hit = true;
    w->rejected++;
    write_note_error(w, s->line, err);
    return 0;
}

static void write_on_error(void *ctx, size_t line, const char *msg)
{
    write_note_error(ctx, line, msg);
}

/*
 * Who may write: an API token with role responder or admin, or the key of a
 * metrics integration. Telegraf and Influx clients carry the secret as
 * "Authorization: Token X", as Basic auth, or as ?p= / ?token=.
 */
static bool write_auth(struct http_req *req, char *source, size_t srclen)
{
    char secret[512] = "";
    const char *h = http_header(req, "Authorization");
    bool have = false;

    if (h && strncasecmp(h, "Token ", 6) == 0) {
        h += 6;
        while (*h == ' ')
            h++;
        size_t n = strcspn(h, " \t");
        if (n > 0 && n < sizeof(secret)) {
            memcpy(secret, h, n);
            secret[n] = 0;
            have = true;
        }
    } else if (h) {
        have = auth_request_key(req, secret, sizeof(secret));
    }
    if (!have) {
        const char *q = http_query(req, "p");
        if (!q)
            q = http_query(req, "token");
        if (q && *q && strlen(q) < sizeof(secret)) {
            snprintf(secret, sizeof(secret), "%s", q);
            have = true;
        }
    }
    if (!have) {
        req->www_auth = "Bearer realm=\"tocsin\"";
        http_reply_error(req, 401, "missing_credentials", NULL,
                         "writing metrics needs an API token (responder or admin) or the key of a "
                         "metrics integration: Authorization: Token <secret>");
        return false;
    }
    const struct cfg_token *t = config_find_token(req->cfg, secret);
    const struct cfg_integration *in = t ? NULL : config_find_integration_key(req->cfg, secret);
    sodium_memzero(secret, sizeof(secret));
    if (t) {
        if (t->role < ROLE_RESPONDER) {
            http_reply_error(req, 403, "forbidden", NULL,
                             "token \"%s\" has role %s; writing metrics needs responder or higher",
                             t->name, role_name(t->role));
            return false;
        }
        snprintf(source, srclen, "write:%s", t->name);
        return true;
    }
    if (in) {
        if (in->type != INTEGRATION_METRICS) {
            http_reply_error(req, 403, "wrong_integration_type", NULL,
                             "integration \"%s\" has type %s; writing metrics needs type metrics",
                             in->name, integration_type_name(in->type));
            return false;
        }
        snprintf(source, srclen, "write:%s", in->name);
        return true;
    }
    req->www_auth = "Bearer realm=\"tocsin\", error=\"invalid_token\"";
    http_reply_error(req, 401, "unknown_token", NULL, "the token or key is not known");
    return false;
}

static void metrics_write(struct http_req *req, enum write_flavour fl)
{
    struct tsdb *db = req->ctx->tsdb;
    char source[160], err[512];
    enum lp_precision prec = LP_NS;
    struct write_state w = {0};
    struct lp_result res = {0};

    if (!write_auth(req, source, sizeof(source)))
        return;
    if (!db) {
        http_reply_error(req, 503, "unavailable", NULL, "the metrics store is not open");
        return;
    }
    const char *ce = http_header(req, "Content-Encoding");
    if (ce && *ce && strcasecmp(ce, "identity") != 0) {
        http_reply_error(req, 415, "unsupported_media_type", NULL,
                         "Content-Encoding \"%.32s\" is not supported; send the body uncompressed "
                         "(Telegraf: content_encoding = \"identity\")",
                         ce);
        return;
    }
    const char *p = http_query(req, "precision");
    if (p && lp_precision_parse(p, &prec) != 0) {
        http_reply_error(req, 400, "invalid_parameter", "precision",
                         "precision \"%.16s\" is not one of ns, us, ms, s, m, h", p);
        return;
    }
    w.app = tsdb_appender_new(db, source);
    w.errors = json_array();
    if (!w.app || !w.errors) {
        if (w.app)
            tsdb_rollback(w.app);
        json_decref(w.errors);
        http_reply_error(req, 503, "overloaded", NULL, "out of memory");
        return;
    }
    int rc = lp_parse(req->body, req->body_len, prec, clock_now_ms(), write_on_sample,
                      write_on_error, &w, &res);
    if (rc != 0) {
        tsdb_rollback(w.app);
        json_decref(w.errors);
        http_reply_error(req, 503, "overloaded", NULL, "out of memory while parsing the body");
        return;
    }
    if (tsdb_commit(w.app, err, sizeof(err)) != 0) {
        json_decref(w.errors);
        log_error("metrics write from %s failed: %s", source, err);
        req->retry_after = "1";
        http_reply_error(req, 503, "unavailable", NULL, "nothing was stored: %s", err);
        return;
    }
    if (w.n_errors == 0) {
        json_decref(w.errors);
        http_reply_text(req, 204, "text/plain", "", 0);
        return;
    }
    char msg[768];
    snprintf(msg, sizeof(msg), "partial write: line %zu: %s (%zu of %zu lines had errors)",
             w.first_line, w.first_msg, w.bad_lines, res.lines);
    int status = w.limit_hit ? 422 : 400;
    if (fl == WRITE_INFLUX_V1) {
        json_decref(w.errors);
        http_reply_json(req, status, json_pack("{ss}", "error", msg));
        return;
    }
    http_reply_json(
        req, status,
        json_pack("{sssssIsIsIso}", "code", w.limit_hit ? "unprocessable entity" : "invalid",
                  "message", msg, "line", (json_int_t)w.first_line, "stored", (json_int_t)w.stored,
                  "rejected", (json_int_t)(w.rejected + res.lines_bad), "errors", w.errors));
}

void api_metrics_write(struct http_req *req)
{
    metrics_write(req, WRITE_TOCSIN);
}

void api_influx_write_v1(struct http_req *req)
{
    metrics_write(req, WRITE_INFLUX_V1);
}

void api_influx_write_v2(struct http_req *req)
{
    metrics_write(req, WRITE_INFLUX_V2);
}

/* ---- queries ---- */

static int storage_select(void *ctx, const struct matcher *m, size_t nm, int64_t mint, int64_t maxt,
                          size_t max_samples, struct tsdb_series **out, size_t *n_out, char *err,
                          size_t errlen)
{
    return tsdb_select(ctx, m, nm, mint, maxt, max_samples, out, n_out, err, errlen);
}

static int storage_select_rollup(void *ctx, int64_t res, const struct matcher *m, size_t nm,
                                 int64_t mint, int64_t maxt, size_t max_buckets,
                                 struct tsdb_rollup_series **out, size_t *n_out, char *err,
                                 size_t errlen)
{
    return tsdb_select_rollup(ctx, res, m, nm, mint, maxt, max_buckets, out, n_out, err, errlen);
}

/* Starts a query request: checks the token and the store, parses the form. */
static bool query_begin(struct http_req *req, struct form *f)
{
    if (!auth_api(req, ROLE_VIEWER))
        return false;
    if (!req->ctx->tsdb) {
        prom_error(req, 503, "unavailable", "the metrics store is not open");
        return false;
    }
    if (form_parse(req, f) != 0) {
        prom_error(req, 503, "internal", "out of memory");
        return false;
    }
    return true;
}

static void query_opts(struct http_req *req, struct promql_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->lookback_ms = atomic_load(&req->ctx->metrics_lookback_ms);
    o->max_samples = atomic_load(&req->ctx->metrics_max_samples);
    o->no_rollups = false;
}

static void reply_promql_error(struct http_req *req, int rc, const char *err)
{
    switch (rc) {
    case PROMQL_EPARSE:
    case PROMQL_EUNSUPPORTED:
        prom_error(req, 400, "bad_data", "%s", err);
        return;
    case PROMQL_EEXEC:
    case PROMQL_ELIMIT:
        prom_error(req, 422, "execution", "%s", err);
        return;
    default:
        prom_error(req, 503, "internal", "%s", err);
        return;
    }
}

static void reply_result(struct http_req *req, struct promql_result *r)
{
    json_t *data = promql_result_to_json(r);
    if (data && r->used_rollup)
        json_object_set_new(data, "tocsin", json_pack("{sb}", "rollup", 1));
    prom_success(req, data);
}

void api_prom_query(struct http_req *req)
{
    struct form f;
    struct promql_expr *e = NULL;
    struct promql_result r;
    struct promql_opts o;
    char err[1024];
    int64_t t = clock_now_ms();

    if (!query_begin(req, &f))
        return;
    const char *q = param(req, &f, "query");
    const char *ts = param(req, &f, "time");
    if (!q || !*q) {
        prom_error(req, 400, "bad_data", "invalid parameter \"query\": missing");
        goto out;
    }
    if (ts && parse_time(ts, &t) != 0) {
        prom_error(req, 400, "bad_data", "invalid parameter \"time\": cannot parse \"%.64s\"", ts);
        goto out;
    }
    int rc = promql_parse(q, &e, err, sizeof(err));
    if (rc != PROMQL_OK) {
        reply_promql_error(req, rc, err);
        goto out;
    }
    query_opts(req, &o);
    struct promql_storage st = {req->ctx->tsdb, storage_select, storage_select_rollup};
    rc = promql_eval_instant(&st, e, t, &o, &r, err, sizeof(err));
    if (rc != PROMQL_OK) {
        reply_promql_error(req, rc, err);
        goto out;
    }
    reply_result(req, &r);
    promql_result_free(&r);
out:
    if (e)
        promql_free(e);
    form_free(&f);
}

void api_prom_query_range(struct http_req *req)
{
    struct form f;
    struct promql_expr *e = NULL;
    struct promql_result r;
    struct promql_opts o;
    char err[1024];
    int64_t start, end, step;

    if (!query_begin(req, &f))
        return;
    const char *q = param(req, &f, "query");
    const char *s = param(req, &f, "start"), *en = param(req, &f, "end"),
               *sp = param(req, &f, "step");
    if (!q || !*q) {
        prom_error(req, 400, "bad_data", "invalid parameter \"query\": missing");
        goto out;
    }
    if (parse_time(s, &start) != 0) {
        prom_error(req, 400, "bad_data", "invalid parameter \"start\": cannot parse \"%.64s\"",
                   s ? s : "");
        goto out;
    }
    if (parse_time(en, &end) != 0) {
        prom_error(req, 400, "bad_data", "invalid parameter \"end\": cannot parse \"%.64s\"",
                   en ? en : "");
        goto out;
    }
    if (end < start) {
        prom_error(req, 400, "bad_data",
                   "invalid parameter \"end\": end timestamp must not be "
                   "before start time");
        goto out;
    }
    if (parse_step(sp, &step) != 0 || step <= 0) {
        prom_error(req, 400, "bad_data",
                   "invalid parameter \"step\": zero or negative query resolution step widths are "
                   "not accepted. Try a positive integer");
        goto out;
    }
    if ((end - start) / step > METRICS_MAX_POINTS) {
        prom_error(req, 400, "bad_data",
                   "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
                   "the query resolution (?step=XX)");
        goto out;
    }
    int rc = promql_parse(q, &e, err, sizeof(err));
    if (rc != PROMQL_OK) {
        reply_promql_error(req, rc, err);
        goto out;
    }
    query_opts(req, &o);
    const char *raw = param(req, &f, "tocsin_raw");
    if (raw && (strcmp(raw, "1") == 0 || strcmp(raw, "true") == 0))
        o.no_rollups = true;
    struct promql_storage st = {req->ctx->tsdb, storage_select, storage_select_rollup};
    rc = promql_eval_range(&st, e, start, end, step, &o, &r, err, sizeof(err));
    if (rc != PROMQL_OK) {
        reply_promql_error(req, rc, err);
        goto out;
    }
    reply_result(req, &r);
    promql_result_free(&r);
out:
    if (e)
        promql_free(e);
    form_free(&f);
}

/* The optional start/end of the metadata endpoints; defaults cover all time. */
static bool time_range(struct http_req *req, const struct form *f, int64_t *mint, int64_t *maxt)
{
    const char *s = param(req, f, "start"), *e = param(req, f, "end");
    *mint = INT64_MIN / 2;
    *maxt = INT64_MAX / 2;
    if (s && parse_time(s, mint) != 0) {
        prom_error(req, 400, "bad_data", "invalid parameter \"start\": cannot parse \"%.64s\"", s);
        return false;
    }
    if (e && parse_time(e, maxt) != 0) {
        prom_error(req, 400, "bad_data", "invalid parameter \"end\": cannot parse \"%.64s\"", e);
        return false;
    }
    return true;
}

/* The match[] selectors of a request, parsed. */
struct selectors {
    size_t n;
    struct matcher *m[16];
    size_t nm[16];
};

static void selectors_free(struct selectors *s)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; j < s->nm[i]; j++)
            matcher_free(&s->m[i][j]);
        free(s->m[i]);
    }
    s->n = 0;
}

static bool selectors_parse(struct http_req *req, const struct form *f, struct selectors *s,
                            bool required)
{
    const char *v[16];
    char err[512];
    size_t n = param_all(req, f, "match[]", v, 16);

    memset(s, 0, sizeof(*s));
    if (n > 16) {
        prom_error(req, 400, "bad_data", "at most 16 match[] selectors are accepted, got %zu", n);
        return false;
    }
    if (n == 0 && required) {
        prom_error(req, 400, "bad_data", "no match[] parameter provided");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (promql_parse_selector(v[i], &s->m[i], &s->nm[i], err, sizeof(err)) != 0) {
            selectors_free(s);
            prom_error(req, 400, "bad_data", "invalid parameter \"match[]\": %s", err);
            return false;
        }
        s->n++;
    }
    return true;
}

static int labelset_cmp(const void *a, const void *b)
{
    const struct labelset *x = a, *y = b;
    for (size_t i = 0; i < x->n && i < y->n; i++) {
        int c = strcmp(x->v[i].name, y->v[i].name);
        if (c)
            return c;
        c = strcmp(x->v[i].value, y->v[i].value);
        if (c)
            return c;
    }
    return (x->n > y->n) - (x->n < y->n);
}

void api_prom_series(struct http_req *req)
{
    struct form f;
    struct selectors sel;
    int64_t mint, maxt;
    char err[512];
    json_t *out = NULL;

    if (!query_begin(req, &f))
        return;
    if (!time_range(req, &f, &mint, &maxt) || !selectors_parse(req, &f, &sel, true)) {
        form_free(&f);
        return;
    }
    size_t limit = atomic_load(&req->ctx->metrics_max_samples);
    struct labelset *all = NULL;
    size_t n_all = 0;
    for (size_t i = 0; i < sel.n; i++) {
        struct labelset *ls = NULL;
        size_t n = 0;
        int rc = tsdb_series_labels(req->ctx->tsdb, sel.m[i], sel.nm[i], mint, maxt, limit, &ls, &n,
                                    err, sizeof(err));
        if (rc != 0) {
            prom_error(req, rc == TSDB_ELIMIT_SAMPLES ? 422 : 503,
                       rc == TSDB_ELIMIT_SAMPLES ? "execution" : "internal", "%s", err);
            goto out;
        }
        struct labelset *grown = realloc(all, (n_all + n + 1) * sizeof(*all));
        if (!grown) {
            tsdb_labelsets_free(ls, n);
            prom_error(req, 503, "internal", "out of memory");
            goto out;
        }
        all = grown;
        if (n)
            memcpy(all + n_all, ls, n * sizeof(*ls));
        n_all += n;
        free(ls); /* the pairs moved into all */
    }
    /* Several selectors may select the same series: sort and drop repeats. */
    if (n_all)
        qsort(all, n_all, sizeof(*all), labelset_cmp);
    out = json_array();
    for (size_t i = 0; i < n_all; i++)
        if (i == 0 || labelset_cmp(&all[i - 1], &all[i]) != 0)
            json_array_append_new(out, labels_to_json(&all[i]));
    prom_success(req, out);
out:
    tsdb_labelsets_free(all, n_all);
    selectors_free(&sel);
    form_free(&f);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Label names (name == NULL) or the values of one label. */
static void label_values(struct http_req *req, const char *name)
{
    struct form f;
    struct selectors sel;
    int64_t mint, maxt;
    char err[512];
    char **all = NULL;
    size_t n_all = 0;

    if (!query_begin(req, &f))
        return;
    if (!time_range(req, &f, &mint, &maxt) || !selectors_parse(req, &f, &sel, false)) {
        form_free(&f);
        return;
    }
    size_t rounds = sel.n ? sel.n : 1;
    for (size_t i = 0; i < rounds; i++) {
        char **v = NULL;
        size_t n = 0;
        int rc = tsdb_label_values(req->ctx->tsdb, name, sel.n ? sel.m[i] : NULL,
                                   sel.n ? sel.nm[i] : 0, mint, maxt, &v, &n, err, sizeof(err));
        if (rc != 0) {
            prom_error(req, 503, "internal", "%s", err);
            goto out;
        }
        char **grown = realloc(all, (n_all + n + 1) * sizeof(*all));
        if (!grown) {
            tsdb_strings_free(v, n);
            prom_error(req, 503, "internal", "out of memory");
            goto out;
        }
        all = grown;
        if (n)
            memcpy(all + n_all, v, n * sizeof(*v));
        n_all += n;
        free(v);
    }
    if (n_all)
        qsort(all, n_all, sizeof(*all), str_cmp);
    json_t *out = json_array();
    for (size_t i = 0; i < n_all; i++)
        if (i == 0 || strcmp(all[i - 1], all[i]) != 0)
            json_array_append_new(out, json_string(all[i]));
    prom_success(req, out);
out:
    tsdb_strings_free(all, n_all);
    selectors_free(&sel);
    form_free(&f);
}

void api_prom_labels(struct http_req *req)
{
    label_values(req, NULL);
}

void api_prom_label_values(struct http_req *req)
{
    label_values(req, req->params[0]);
}

void api_prom_targets(struct http_req *req)
{
    if (!auth_api(req, ROLE_VIEWER))
        return;
    if (req->ctx->scraper)
        prom_success(req, scraper_targets_json(req->ctx->scraper));
    else
        prom_success(req, json_pack("{s[]s[]}", "activeTargets", "droppedTargets"));
}

/*
 * Grafana reads the build information to choose its Prometheus dialect;
 * Tocsin answers as the Prometheus version whose API it follows.
 */
void api_prom_buildinfo(struct http_req *req)
{
    if (!auth_api(req, ROLE_VIEWER))
        return;
    prom_success(req, json_pack("{ssssssssssss}", "version", "2.45.0", "revision",
                                "tocsin-" TOCSIN_VERSION, "branch", "tocsin", "buildUser", "tocsin",
                                "buildDate", "", "goVersion", "none"));
}

void api_prom_metadata(struct http_req *req)
{
    if (!auth_api(req, ROLE_VIEWER))
        return;
    prom_success(req, json_object());
}

void api_prom_exemplars(struct http_req *req)
{
    if (!auth_api(req, ROLE_VIEWER))
        return;
    prom_success(req, json_array());
}

void api_tsdb_flush(struct http_req *req)
{
    char err[512];
    if (!auth_api(req, ROLE_ADMIN))
        return;
    if (!req->ctx->tsdb) {
        prom_error(req, 503, "unavailable", "the metrics store is not open");
        return;
    }
    if (tsdb_flush(req->ctx->tsdb, err, sizeof(err)) != 0) {
        prom_error(req, 503, "internal", "flush failed: %s", err);
        return;
    }
    struct tsdb_stats s;
    tsdb_stats(req->ctx->tsdb, &s);
    prom_success(req, json_pack("{sIsI}", "blocks", (json_int_t)s.blocks, "disk_bytes",
                                (json_int_t)s.disk_bytes));
}
