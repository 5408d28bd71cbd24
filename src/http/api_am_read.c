/*
 * api_am_read.c - the read side of the Alertmanager API v2: GET
 * /api/v2/alerts, so that amtool, karma and Grafana's Alertmanager data
 * source can list what Tocsin holds, as they would list Alertmanager's.
 *
 * Every open alert is shown, whichever integration raised it, in
 * Alertmanager's gettableAlert shape. Reading needs an API token (viewer),
 * sent as Alertmanager clients send credentials: Authorization: Bearer.
 */
#include "api.h"

#include "../base/labels.h"
#include "../engine/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AM_MAX_FILTERS 16
/* Alertmanager returns everything; past this many Tocsin says it cut the list. */
#define AM_MAX_ALERTS 10000

/* True when the alert's labels satisfy every matcher. */
static bool labels_match(const struct labelset *ls, const struct matcher *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!route_matcher_matches(&m[i], ls))
            return false;
    return true;
}

/* Builds a gettableAlert from one of Tocsin's alert objects. */
static json_t *gettable(json_t *a, const struct labelset *ls)
{
    char fp[17];
    json_t *details = json_object_get(a, "details");
    json_t *ann = json_object_get(details, "annotations");
    json_t *gen = json_object_get(details, "generatorURL");
    json_t *starts = json_object_get(a, "starts_at");
    json_t *ends = json_object_get(a, "ends_at");
    json_t *links = json_object_get(a, "links");

    labels_fingerprint_hex(ls, fp);
    if (json_is_object(ann)) {
        json_incref(ann);
    } else {
        ann = json_object();
        if (json_is_string(json_object_get(a, "summary")))
            json_object_set(ann, "summary", json_object_get(a, "summary"));
    }
    if (!json_is_string(gen))
        gen = json_object_get(json_array_get(links, 0), "href");
    return json_pack("{sO so s[{ss}] ss sO sO so ss s{ss s[] s[] s[]}}", "labels",
                     json_object_get(a, "labels"), "annotations", ann, "receivers", "name",
                     "tocsin", "fingerprint", fp, "startsAt",
                     json_is_string(starts) ? starts : json_object_get(a, "first_seen"),
                     "updatedAt", json_object_get(a, "last_seen"), "endsAt",
                     /* Go's zero time is Alertmanager's "no end". */
                     json_is_string(ends) ? json_incref(ends) : json_string("0001-01-01T00:00:00Z"),
                     "generatorURL", json_is_string(gen) ? json_string_value(gen) : "", "status",
                     "state", "active", "silencedBy", "inhibitedBy", "mutedBy");
}

void api_am_alerts_get(struct http_req *req)
{
    const char *texts[AM_MAX_FILTERS];
    struct matcher matchers[AM_MAX_FILTERS];
    size_t nf = 0, total;
    struct store_reader *r;
    json_t *alerts, *out, *a;
    const char *active = http_query(req, "active");
    bool more = false;
    size_t i;

    if (!auth_api(req, ROLE_VIEWER))
        return;
    total = http_query_all(req, "filter", texts, AM_MAX_FILTERS);
    if (total > AM_MAX_FILTERS) {
        http_reply_json(req, 400, json_string("too many filter matchers (at most 16)"));
        return;
    }
    for (; nf < total; nf++) {
        char err[256], msg[320];
        if (config_matcher_parse(texts[nf], &matchers[nf], err, sizeof(err)) != 0) {
            snprintf(msg, sizeof(msg), "bad matcher format: %s: %s", texts[nf], err);
            while (nf > 0)
                config_matcher_free(&matchers[--nf]);
            http_reply_json(req, 400, json_string(msg));
            return;
        }
    }
    r = store_reader_acquire(req->ctx->store);
    alerts = r ? store_alert_list_open(r, AM_MAX_ALERTS, &more) : NULL;
    if (r)
        store_reader_release(req->ctx->store, r);
    out = json_array();
    /* Tocsin has no silences or inhibitions yet, so every open alert is
     * active; asking for inactive ones gets none. */
    bool want_active = !active || strcmp(active, "false") != 0;
    json_array_foreach(alerts, i, a)
    {
        struct labelset ls;
        char err[128];
        if (!want_active ||
            labels_from_json(json_object_get(a, "labels"), &ls, err, sizeof(err)) != 0)
            continue;
        if (labels_match(&ls, matchers, nf))
            json_array_append_new(out, gettable(a, &ls));
        labels_free(&ls);
    }
    for (size_t k = 0; k < nf; k++)
        config_matcher_free(&matchers[k]);
    if (!alerts) {
        json_decref(out);
        req->retry_after = "1";
        http_reply_json(req, 503, json_string("the store cannot be read right now"));
        return;
    }
    json_decref(alerts);
    if (more)
        req->truncated = true;
    http_reply_json(req, 200, out);
}
