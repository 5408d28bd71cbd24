/*
 * scrape_ingest.c - a scrape's body into the metrics store (see
 * scrape_ingest.h).
 */
#include "scrape_ingest.h"

#include "expfmt.h"

#include <stdio.h>
#include <string.h>

/* Room for the sample's labels, the target's, and their renamed clashes. */
#define INGEST_MAX_LABELS (2 * LABELS_MAX_PAIRS + 2)

/* What ingest_sample returns to stop a parse at the sample limit. */
#define INGEST_OVER_LIMIT 2

struct ingest_ctx {
    const struct scrape_result *r;
    struct tsdb_appender *app;
    long stored;
    long rejected;
    char first_err[256];
    char exported[LABELS_MAX_PAIRS][LABELS_MAX_NAME + 16];
};

static int ingest_sample(void *ctx, struct expfmt_sample *s)
{
    struct ingest_ctx *ic = ctx;
    const struct labelset *tl = ic->r->target_labels;
    struct tsdb_label l[INGEST_MAX_LABELS];
    size_t n = 0, n_exp = 0;
    char err[256];

    /* Like Prometheus, a target over its sample_limit fails as a whole. */
    if (ic->r->sample_limit && (size_t)(ic->stored + ic->rejected) >= ic->r->sample_limit)
        return INGEST_OVER_LIMIT;
    for (size_t i = 0; i < s->n_labels && n < INGEST_MAX_LABELS; i++) {
        const struct tsdb_label *sl = &s->labels[i];
        bool clash = i > 0 && labels_get(tl, sl->name) != NULL;
        if (!clash) {
            l[n++] = *sl;
        } else if (ic->r->honor_labels) {
            l[n++] = *sl; /* the target's value is skipped below */
        } else if (n_exp < LABELS_MAX_PAIRS) {
            snprintf(ic->exported[n_exp], sizeof(ic->exported[n_exp]), "exported_%s", sl->name);
            l[n++] = (struct tsdb_label){ic->exported[n_exp++], sl->value};
        }
    }
    for (size_t i = 0; i < tl->n && n < INGEST_MAX_LABELS; i++) {
        if (ic->r->honor_labels) {
            bool scraped = false;
            for (size_t j = 1; j < s->n_labels; j++)
                if (strcmp(s->labels[j].name, tl->v[i].name) == 0)
                    scraped = true;
            if (scraped)
                continue;
        }
        l[n++] = (struct tsdb_label){tl->v[i].name, tl->v[i].value};
    }
    int rc = tsdb_append(ic->app, l, n, s->has_t ? s->t_ms : ic->r->start_ms, s->value, err,
                         sizeof(err));
    if (rc == TSDB_OK) {
        ic->stored++;
        return 0;
    }
    if (rc == TSDB_ENOMEM)
        return -1;
    if (ic->rejected++ == 0)
        snprintf(ic->first_err, sizeof(ic->first_err), "%s", err);
    return 0;
}

/* One of the per-target series: up, scrape_duration_seconds, ... */
static void ingest_target_series(struct tsdb_appender *a, const struct scrape_result *r,
                                 const char *name, double v)
{
    struct tsdb_label l[LABELS_MAX_PAIRS + 1];
    size_t n = 0;
    char err[256];

    l[n++] = (struct tsdb_label){"__name__", name};
    for (size_t i = 0; i < r->target_labels->n && n < LABELS_MAX_PAIRS + 1; i++)
        l[n++] = (struct tsdb_label){r->target_labels->v[i].name, r->target_labels->v[i].value};
    tsdb_append(a, l, n, r->start_ms, v, err, sizeof(err));
}

long scrape_ingest(void *ctx, const struct scrape_result *r, char *err, size_t errlen)
{
    struct tsdb *db = ctx;
    struct ingest_ctx ic = {.r = r};
    char source[160];
    bool up = false;
    long scraped = 0;

    snprintf(source, sizeof(source), "scrape:%s", r->job);
    if (r->ok) {
        ic.app = tsdb_appender_new(db, source);
        if (!ic.app) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int rc = expfmt_parse(r->body, r->body_len, expfmt_is_openmetrics(r->content_type),
                              ingest_sample, &ic, err, errlen);
        if (rc != 0) {
            tsdb_rollback(ic.app);
            if (rc == INGEST_OVER_LIMIT)
                snprintf(err, errlen, "sample_limit exceeded: more than %zu samples",
                         r->sample_limit);
            else if (rc != -1 || !*err)
                snprintf(err, errlen, "out of memory");
        } else if (tsdb_commit(ic.app, err, errlen) == 0) {
            up = true;
            scraped = ic.stored + ic.rejected;
        }
    }
    struct tsdb_appender *a = tsdb_appender_new(db, source);
    if (a) {
        ingest_target_series(a, r, "up", up ? 1 : 0);
        ingest_target_series(a, r, "scrape_duration_seconds", r->duration_s);
        ingest_target_series(a, r, "scrape_samples_scraped", (double)scraped);
        char e2[256];
        tsdb_commit(a, e2, sizeof(e2));
    }
    if (!r->ok) {
        snprintf(err, errlen, "%s", r->error ? r->error : "scrape failed");
        return -1;
    }
    if (!up)
        return -1; /* err says why the body was refused */
    return ic.stored;
}
