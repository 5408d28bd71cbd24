/*
 * intake_alertmanager.c - the two Alertmanager formats: API v2 postable
 * alerts (what Prometheus sends to an Alertmanager) and the webhook receiver
 * payload version 4 (what an Alertmanager or Grafana sends to a receiver).
 * See intake.h for the contract and incident-anchors.md section 2.2/2.3 for
 * the wire formats.
 */
#include "intake_json.h"
#include "../base/jscan.h"
#include "../base/labels.h"
#include "../base/timefmt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* API v2 answers every validation error with 400, like Alertmanager itself. */
#define AM_API_BAD 400
/* The webhook parser distinguishes malformed JSON (400) from bad fields. */
#define AM_HOOK_BAD 422
/* Alertmanager's own default for resolve_timeout. */
#define AM_DEFAULT_RESOLVE_TIMEOUT_MS (5 * 60 * 1000)
/* generatorURL carries a whole PromQL expression, so it gets more room than a link. */
#define AM_MAX_URL 16384

/* What both formats share per alert, parsed and validated. */
struct am_alert {
    struct labelset labels; /* owned until moved into the event */
    json_t *annotations;    /* borrowed from the document; may be NULL */
    const char *generator_url;
    const char *starts_raw; /* borrowed; the startsAt text as sent, or NULL */
    int64_t starts_ms, ends_ms;
    bool has_starts, has_ends;
};

/*
 * Alertmanager drops labels with empty values before it fingerprints an
 * alert (an empty label means "no such label" in Prometheus); doing the same
 * keeps our dedup key equal to its fingerprint.
 */
static void drop_empty_labels(struct labelset *ls)
{
    size_t j = 0;

    for (size_t i = 0; i < ls->n; i++) {
        if (ls->v[i].value[0] == '\0') {
            free(ls->v[i].name);
            free(ls->v[i].value);
        } else {
            ls->v[j++] = ls->v[i];
        }
    }
    ls->n = j;
}

/* Parses the fields both formats share. On failure a->labels is left empty. */
static int parse_alert(const json_t *obj, const char *prefix, int status, struct am_alert *a,
                       struct intake_error *err)
{
    char path[128];
    bool has_labels;

    memset(a, 0, sizeof(*a));
    if (!json_is_object(obj)) {
        intake_fail(err, status, prefix, "must be an object");
        return -1;
    }
    intake_path(path, sizeof(path), prefix, "labels");
    if (intake_get_labels(obj, "labels", prefix, status, &a->labels, &has_labels, err) != 0)
        return -1;
    if (!has_labels) {
        intake_fail(err, status, path, "is required");
        return -1;
    }
    if (intake_get_object(obj, "annotations", prefix, status, false, &a->annotations, err) != 0)
        goto fail;
    if (a->annotations) {
        intake_path(path, sizeof(path), prefix, "annotations");
        if (intake_check_string_map(a->annotations, path, status, err) != 0)
            goto fail;
    }
    if (intake_get_time(obj, "startsAt", prefix, status, &a->starts_ms, &a->has_starts, err) != 0 ||
        intake_get_time(obj, "endsAt", prefix, status, &a->ends_ms, &a->has_ends, err) != 0 ||
        intake_get_string(obj, "generatorURL", prefix, status, false, 0, AM_MAX_URL,
                          &a->generator_url, err) != 0)
        goto fail;
    if (a->has_starts)
        a->starts_raw = json_string_value(json_object_get(obj, "startsAt"));
    return 0;
fail:
    labels_free(&a->labels);
    return -1;
}

/* Returns annotations[key] when it is a non-empty string. */
static const char *annotation(const struct am_alert *a, const char *key)
{
    const char *s = json_string_value(json_object_get(a->annotations, key));
    return s && s[0] ? s : NULL;
}

/*
 * Fills what both formats derive the same way: labels (moved out of a),
 * summary, severity, source, dedup key and the generatorURL link.
 */
static int fill_event(struct event *ev, struct am_alert *a, const char *dedup,
                      const struct cfg_integration *integ, struct intake_error *err)
{
    char fp[17];
    const char *summary, *sev, *instance;

    ev->labels = a->labels;
    a->labels.n = 0;
    a->labels.v = NULL;
    if (!dedup) {
        labels_fingerprint_hex(&ev->labels, fp);
        dedup = fp;
    }
    summary = annotation(a, "summary");
    if (!summary)
        summary = annotation(a, "description");
    if (!summary)
        summary = labels_get(&ev->labels, "alertname");
    if (!summary || !summary[0])
        summary = dedup;
    sev = labels_get(&ev->labels, "severity");
    if (!sev || severity_from_text(sev, &ev->severity) != 0)
        ev->severity = integ ? integ->default_severity : SEV_WARNING;
    instance = labels_get(&ev->labels, "instance");

    ev->dedup_key = strdup(dedup);
    ev->summary = intake_strdup_max(summary, EVENT_MAX_SUMMARY);
    ev->source = instance && instance[0] ? intake_strdup_max(instance, EVENT_MAX_SOURCE) : NULL;
    if (!ev->dedup_key || !ev->summary || (instance && instance[0] && !ev->source) ||
        (a->generator_url && a->generator_url[0] &&
         intake_add_link(&ev->links, a->generator_url, "Prometheus") != 0)) {
        intake_fail(err, 500, "", "out of memory");
        return -1;
    }
    return 0;
}

/*
 * The checks and defaults of a postable alert once its fields are read, and
 * the event they make. a->labels is moved into ev or freed; a->annotations
 * stays the caller's (details take their own reference).
 */
static int postable_finish(struct am_alert *a, const char *prefix,
                           const struct cfg_integration *integ, int64_t now_ms, struct event *ev,
                           struct intake_error *err)
{
    char path[128];
    int64_t timeout = integ ? integ->resolve_timeout_ms : AM_DEFAULT_RESOLVE_TIMEOUT_MS;

    for (size_t i = 0; i < a->labels.n; i++) {
        if (!labels_name_valid(a->labels.v[i].name)) {
            char sub[128];
            intake_path(path, sizeof(path), prefix, "labels");
            intake_path(sub, sizeof(sub), path, a->labels.v[i].name);
            intake_fail(err, AM_API_BAD, sub,
                        "is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)");
            goto fail;
        }
    }
    drop_empty_labels(&a->labels);
    if (a->labels.n == 0) {
        intake_path(path, sizeof(path), prefix, "labels");
        intake_fail(err, AM_API_BAD, path, "must not be empty");
        goto fail;
    }
    if (!labels_get(&a->labels, "alertname")) {
        intake_path(path, sizeof(path), prefix, "labels");
        intake_fail(err, AM_API_BAD, path, "must include \"alertname\"");
        goto fail;
    }
    /* Alertmanager's defaults: a start of now (or the end, if only that is given)... */
    if (!a->has_starts)
        a->starts_ms = a->has_ends ? a->ends_ms : now_ms;
    /* ...and an end of now + resolve_timeout, refreshed by every re-send. */
    if (!a->has_ends)
        a->ends_ms = now_ms + timeout;
    if (a->ends_ms < a->starts_ms) {
        intake_path(path, sizeof(path), prefix, "endsAt");
        intake_fail(err, AM_API_BAD, path, "must not be before startsAt");
        goto fail;
    }
    ev->action = a->ends_ms <= now_ms ? EVENT_RESOLVE : EVENT_TRIGGER;
    ev->starts_at_ms = a->starts_ms;
    ev->ends_at_ms = a->ends_ms;
    ev->timestamp_ms = a->starts_ms;
    if (fill_event(ev, a, NULL, integ, err) != 0)
        goto fail;
    ev->details = json_object();
    intake_set_opt(ev->details, "annotations", a->annotations);
    intake_set_opt_string(ev->details, "generatorURL", a->generator_url);
    ev->details = intake_nonempty(ev->details);
    return 0;
fail:
    labels_free(&a->labels);
    event_clear(ev);
    return -1;
}

/* One postable alert of the API v2 body; prefix is "[i]". */
static int parse_postable(const json_t *obj, const char *prefix,
                          const struct cfg_integration *integ, int64_t now_ms, struct event *ev,
                          struct intake_error *err)
{
    struct am_alert a;

    memset(ev, 0, sizeof(*ev));
    if (parse_alert(obj, prefix, AM_API_BAD, &a, err) != 0)
        return -1;
    return postable_finish(&a, prefix, integ, now_ms, ev, err);
}

/* ---- the fast path (see intake.h) ---- */

/* Reads a string into the arena [*ap, end); *out points at it. */
static int fast_string(struct jscan *s, char **ap, const char *end, const char **out, size_t *len)
{
    if (jscan_string(s, *ap, (size_t)(end - *ap), len) != 0)
        return -1;
    *out = *ap;
    *ap += *len + 1;
    return 0;
}

/* One "key": "string" member of an object. */
static int fast_pair(struct jscan *s, char **ap, const char *end, const char **k, size_t *klen,
                     const char **v, size_t *vlen)
{
    if (fast_string(s, ap, end, k, klen) != 0 || jscan_expect(s, ':') != 0)
        return -1;
    return fast_string(s, ap, end, v, vlen);
}

/* The labels object, as names and values in the arena. */
static int fast_labels(struct jscan *s, char **ap, const char *end, const char **names,
                       const char **values, size_t *n)
{
    *n = 0;
    if (jscan_expect(s, '{') != 0)
        return -1;
    if (jscan_accept(s, '}'))
        return 0;
    do {
        const char *k, *v;
        size_t klen, vlen;
        if (*n == LABELS_MAX_PAIRS || fast_pair(s, ap, end, &k, &klen, &v, &vlen) != 0)
            return -1;
        if (klen == 0 || klen > LABELS_MAX_NAME || vlen > LABELS_MAX_VALUE)
            return -1;
        /* A repeated name: jansson keeps the last; the full parser does that. */
        for (size_t j = 0; j < *n; j++)
            if (strcmp(names[j], k) == 0)
                return -1;
        names[*n] = k;
        values[(*n)++] = v;
    } while (jscan_accept(s, ','));
    return jscan_expect(s, '}');
}

/* The annotations object as a new JSON object of strings. */
static int fast_annotations(struct jscan *s, char **ap, const char *end, json_t **out)
{
    json_t *obj = json_object();
    *out = obj;
    if (!obj || jscan_expect(s, '{') != 0)
        return -1;
    if (jscan_accept(s, '}'))
        return 0;
    do {
        const char *k, *v;
        size_t klen, vlen;
        if (fast_pair(s, ap, end, &k, &klen, &v, &vlen) != 0 || json_object_get(obj, k) ||
            json_object_set_new(obj, k, json_stringn(v, vlen)) != 0)
            return -1;
    } while (jscan_accept(s, ','));
    return jscan_expect(s, '}');
}

/* An RFC 3339 time; Go's zero time counts as absent, as in intake_get_time. */
static int fast_time(struct jscan *s, char **ap, const char *end, int64_t *ms, bool *has,
                     const char **raw)
{
    const char *v;
    size_t vlen;
    if (*has || fast_string(s, ap, end, &v, &vlen) != 0 || timefmt_parse_rfc3339(v, vlen, ms) != 0)
        return -1;
    *has = *ms != TIMEFMT_GO_ZERO_MS;
    if (!*has)
        *ms = 0;
    if (raw && *has)
        *raw = v;
    return 0;
}

/* Builds a sorted label set from the pairs read (copies them). */
static int fast_labelset(const char **names, const char **values, size_t n, struct labelset *out)
{
    size_t idx[LABELS_MAX_PAIRS];
    out->n = 0;
    out->v = NULL;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && strcmp(names[idx[j - 1]], names[i]) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    out->v = calloc(n, sizeof(*out->v));
    if (!out->v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        out->v[i].name = strdup(names[idx[i]]);
        out->v[i].value = strdup(values[idx[i]]);
        out->n = i + 1;
        if (!out->v[i].name || !out->v[i].value) {
            labels_free(out);
            return -1;
        }
    }
    return 0;
}

/* One postable alert; the arena holds its strings until the event is made. */
static int fast_alert(struct jscan *s, char *arena, const char *end,
                      const struct cfg_integration *integ, int64_t now_ms, struct event *ev)
{
    const char *names[LABELS_MAX_PAIRS], *values[LABELS_MAX_PAIRS];
    size_t nl = 0;
    bool seen_labels = false;
    char *ap = arena;
    struct am_alert a;
    struct intake_error err;
    int rc = -1;

    memset(&a, 0, sizeof(a));
    memset(ev, 0, sizeof(*ev));
    if (jscan_expect(s, '{') != 0)
        return -1;
    if (!jscan_accept(s, '}')) {
        do {
            const char *key, *v;
            size_t klen, vlen;
            if (fast_string(s, &ap, end, &key, &klen) != 0 || jscan_expect(s, ':') != 0)
                goto out;
            if (strcmp(key, "labels") == 0) {
                if (seen_labels || fast_labels(s, &ap, end, names, values, &nl) != 0)
                    goto out;
                seen_labels = true;
            } else if (strcmp(key, "annotations") == 0) {
                if (a.annotations || fast_annotations(s, &ap, end, &a.annotations) != 0)
                    goto out;
            } else if (strcmp(key, "startsAt") == 0) {
                if (fast_time(s, &ap, end, &a.starts_ms, &a.has_starts, &a.starts_raw) != 0)
                    goto out;
            } else if (strcmp(key, "endsAt") == 0) {
                if (fast_time(s, &ap, end, &a.ends_ms, &a.has_ends, NULL) != 0)
                    goto out;
            } else if (strcmp(key, "generatorURL") == 0) {
                if (a.generator_url || fast_string(s, &ap, end, &v, &vlen) != 0 ||
                    vlen > AM_MAX_URL)
                    goto out;
                a.generator_url = v;
            } else if (jscan_skip(s) != 0) {
                goto out;
            }
        } while (jscan_accept(s, ','));
        if (jscan_expect(s, '}') != 0)
            goto out;
    }
    if (!seen_labels || fast_labelset(names, values, nl, &a.labels) != 0)
        goto out;
    intake_error_clear(&err);
    rc = postable_finish(&a, "", integ, now_ms, ev, &err);
out:
    labels_free(&a.labels);
    json_decref(a.annotations);
    return rc;
}

int intake_parse_am_alerts_fast(const char *body, size_t len, const struct cfg_integration *integ,
                                int64_t now_ms, struct intake_batch *out)
{
    struct jscan s;
    char *arena = NULL;
    size_t cap = 0;

    out->events = NULL;
    out->n = 0;
    if (!body || len == 0)
        return 1;
    jscan_init(&s, body, len);
    if (jscan_expect(&s, '[') != 0)
        return 1;
    /* Decoded strings are never longer than their quoted text. */
    arena = malloc(len + 1);
    if (!arena)
        return 1;
    if (!jscan_accept(&s, ']')) {
        do {
            if (out->n == EVENT_MAX_BATCH)
                goto decline;
            if (out->n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct event *ne = realloc(out->events, nc * sizeof(*ne));
                if (!ne)
                    goto decline;
                out->events = ne;
                cap = nc;
            }
            if (fast_alert(&s, arena, arena + len + 1, integ, now_ms, &out->events[out->n]) != 0)
                goto decline;
            out->n++;
        } while (jscan_accept(&s, ','));
        if (jscan_expect(&s, ']') != 0)
            goto decline;
    }
    if (!jscan_at_end(&s))
        goto decline;
    free(arena);
    return 0;
decline:
    free(arena);
    intake_batch_free(out);
    return 1;
}

int intake_parse_am_alerts(const char *body, size_t len, const struct cfg_integration *integ,
                           int64_t now_ms, struct intake_batch *out, struct intake_error *err)
{
    intake_error_clear(err);
    if (intake_parse_am_alerts_fast(body, len, integ, now_ms, out) == 0)
        return 0;
    return intake_parse_am_alerts_full(body, len, integ, now_ms, out, err);
}

int intake_parse_am_alerts_full(const char *body, size_t len, const struct cfg_integration *integ,
                                int64_t now_ms, struct intake_batch *out, struct intake_error *err)
{
    char prefix[32];
    json_t *root;
    size_t n;

    out->events = NULL;
    out->n = 0;
    intake_error_clear(err);
    root = intake_load(body, len, err);
    if (!root)
        return -1;
    if (!json_is_array(root)) {
        intake_fail(err, AM_API_BAD, "", "the body must be a JSON array of alerts");
        goto fail;
    }
    n = json_array_size(root);
    if (n > EVENT_MAX_BATCH) {
        intake_fail(err, 413, "", "too many alerts: %zu in one request; at most %d are allowed", n,
                    EVENT_MAX_BATCH);
        goto fail;
    }
    if (intake_batch_alloc(out, n, err) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        intake_index_path(prefix, sizeof(prefix), "", i);
        if (parse_postable(json_array_get(root, i), prefix, integ, now_ms, &out->events[i], err) !=
            0)
            goto fail;
        out->n = i + 1;
    }
    json_decref(root);
    return 0;
fail:
    intake_batch_free(out);
    json_decref(root);
    return -1;
}

/* The group-level fields of a webhook message that every event's details repeat. */
struct am_group {
    const char *group_key, *receiver, *external_url;
    json_int_t truncated;
};

static bool is_hex16(const char *s)
{
    size_t i;
    for (i = 0; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return i == 16;
}

/* Grafana's per-alert URLs become links when they are set (it sends "" otherwise). */
static int grafana_link(struct event *ev, const json_t *obj, const char *key, const char *text)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s || !s[0] || strlen(s) > AM_MAX_URL)
        return 0;
    return intake_add_link(&ev->links, s, text);
}

/* One element of the webhook's alerts array; prefix is "alerts[i]". */
static int parse_webhook_alert(const json_t *obj, const char *prefix, const struct am_group *g,
                               const struct cfg_integration *integ, int64_t now_ms,
                               struct event *ev, struct intake_error *err)
{
    char path[128], fp[17];
    const char *status, *fingerprint;
    struct am_alert a;

    memset(ev, 0, sizeof(*ev));
    if (parse_alert(obj, prefix, AM_HOOK_BAD, &a, err) != 0)
        return -1;
    intake_path(path, sizeof(path), prefix, "labels");
    if (a.labels.n == 0) {
        intake_fail(err, AM_HOOK_BAD, path, "must not be empty");
        goto fail;
    }
    if (intake_get_string(obj, "status", prefix, AM_HOOK_BAD, true, 0, 16, &status, err) != 0 &&
        !json_is_string(json_object_get(obj, "status")))
        goto fail;
    intake_path(path, sizeof(path), prefix, "status");
    if (status && strcmp(status, "firing") == 0) {
        /* The sender reports the resolve itself, so a firing alert never expires. */
        ev->action = EVENT_TRIGGER;
        ev->starts_at_ms = a.has_starts ? a.starts_ms : now_ms;
        ev->ends_at_ms = 0;
        ev->timestamp_ms = ev->starts_at_ms;
    } else if (status && strcmp(status, "resolved") == 0) {
        ev->action = EVENT_RESOLVE;
        ev->starts_at_ms = a.has_starts ? a.starts_ms : 0;
        ev->ends_at_ms = a.has_ends ? a.ends_ms : 0;
        ev->timestamp_ms = a.has_ends ? a.ends_ms : 0;
    } else {
        intake_fail(err, AM_HOOK_BAD, path, "must be one of firing, resolved");
        goto fail;
    }
    if (intake_get_string(obj, "fingerprint", prefix, AM_HOOK_BAD, false, 0, SIZE_MAX, &fingerprint,
                          err) != 0)
        goto fail;
    /* An empty fingerprint is how some senders say "none". */
    if (fingerprint && !fingerprint[0])
        fingerprint = NULL;
    if (fingerprint && !is_hex16(fingerprint)) {
        intake_path(path, sizeof(path), prefix, "fingerprint");
        intake_fail(err, AM_HOOK_BAD, path, "must be 16 hexadecimal digits");
        goto fail;
    }
    if (fingerprint) {
        /* Alertmanager writes lowercase; fold so one alert has one key. */
        for (int i = 0; i < 16; i++)
            fp[i] = (char)(fingerprint[i] >= 'A' && fingerprint[i] <= 'F' ? fingerprint[i] + 32
                                                                          : fingerprint[i]);
        fp[16] = '\0';
    }
    if (fill_event(ev, &a, fingerprint ? fp : NULL, integ, err) != 0 ||
        grafana_link(ev, obj, "dashboardURL", "Dashboard") != 0 ||
        grafana_link(ev, obj, "panelURL", "Panel") != 0 ||
        grafana_link(ev, obj, "silenceURL", "Silence") != 0)
        goto fail;

    ev->details = json_object();
    intake_set_opt(ev->details, "annotations", a.annotations);
    intake_set_opt_string(ev->details, "generatorURL", a.generator_url);
    intake_set_opt_string(ev->details, "fingerprint", fingerprint ? fp : NULL);
    intake_set_opt_string(ev->details, "startsAt", a.starts_raw);
    intake_set_opt_string(ev->details, "groupKey", g->group_key);
    intake_set_opt_string(ev->details, "receiver", g->receiver);
    intake_set_opt_string(ev->details, "externalURL", g->external_url);
    if (g->truncated > 0)
        json_object_set_new(ev->details, "truncatedAlerts", json_integer(g->truncated));
    /* Grafana's evaluated values say why it fired; keep them for the responder. */
    intake_set_opt(ev->details, "values", json_object_get(obj, "values"));
    intake_set_opt(ev->details, "valueString", json_object_get(obj, "valueString"));
    ev->details = intake_nonempty(ev->details);
    return 0;
fail:
    labels_free(&a.labels);
    event_clear(ev);
    return -1;
}

int intake_parse_am_webhook(const char *body, size_t len, const struct cfg_integration *integ,
                            int64_t now_ms, struct intake_batch *out, struct intake_error *err)
{
    char prefix[32];
    struct am_group g = {0};
    const char *version;
    json_t *root, *alerts, *trunc;
    size_t n;

    out->events = NULL;
    out->n = 0;
    intake_error_clear(err);
    root = intake_load(body, len, err);
    if (!root)
        return -1;
    if (!json_is_object(root)) {
        intake_fail(err, AM_HOOK_BAD, "", "the body must be a JSON object with an alerts array");
        goto fail;
    }
    if (intake_get_string(root, "version", "", AM_HOOK_BAD, false, 0, 16, &version, err) != 0 &&
        !json_is_string(json_object_get(root, "version")))
        goto fail;
    /*
     * Alertmanager sends "4"; Grafana sends the same shape labelled "1".
     * Anything else is a format we have not seen and should not guess at.
     */
    version = json_string_value(json_object_get(root, "version"));
    if (version && strcmp(version, "4") != 0 && strcmp(version, "1") != 0) {
        intake_fail(err, AM_HOOK_BAD, "version",
                    "names an unsupported version \"%.16s\"; version 4 is expected", version);
        goto fail;
    }
    if (intake_get_array(root, "alerts", "", AM_HOOK_BAD, true, &alerts, err) != 0 ||
        intake_get_string(root, "groupKey", "", AM_HOOK_BAD, false, 0, AM_MAX_URL, &g.group_key,
                          err) != 0 ||
        intake_get_string(root, "receiver", "", AM_HOOK_BAD, false, 0, AM_MAX_URL, &g.receiver,
                          err) != 0 ||
        intake_get_string(root, "externalURL", "", AM_HOOK_BAD, false, 0, AM_MAX_URL,
                          &g.external_url, err) != 0)
        goto fail;
    trunc = json_object_get(root, "truncatedAlerts");
    g.truncated = json_is_integer(trunc) ? json_integer_value(trunc) : 0;
    n = json_array_size(alerts);
    if (n > EVENT_MAX_BATCH) {
        intake_fail(err, 413, "alerts", "has %zu alerts; at most %d are allowed per request", n,
                    EVENT_MAX_BATCH);
        goto fail;
    }
    if (intake_batch_alloc(out, n, err) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        intake_index_path(prefix, sizeof(prefix), "alerts", i);
        if (parse_webhook_alert(json_array_get(alerts, i), prefix, &g, integ, now_ms,
                                &out->events[i], err) != 0)
            goto fail;
        out->n = i + 1;
    }
    json_decref(root);
    return 0;
fail:
    intake_batch_free(out);
    json_decref(root);
    return -1;
}
