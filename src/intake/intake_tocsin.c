/* intake_tocsin.c - Tocsin's own event format (POST /api/v1/events); see intake.h. */
#include "intake_json.h"

#include <stdlib.h>
#include <string.h>

/* Every field error of this format is "unprocessable", the JSON itself was fine. */
#define TOCSIN_BAD 422

static int parse_action(const json_t *obj, const char *prefix, enum event_action *out,
                        struct intake_error *err)
{
    char path[128];
    const char *s;

    *out = EVENT_TRIGGER;
    if (intake_get_string(obj, "action", prefix, TOCSIN_BAD, false, 0, 32, &s, err) != 0) {
        /* Re-word a length error: the real problem is the value. */
        intake_path(path, sizeof(path), prefix, "action");
        if (json_is_string(json_object_get(obj, "action")))
            intake_fail(err, TOCSIN_BAD, path, "must be one of trigger, acknowledge, resolve");
        return -1;
    }
    if (!s || strcmp(s, "trigger") == 0)
        return 0;
    if (strcmp(s, "acknowledge") == 0) {
        *out = EVENT_ACKNOWLEDGE;
        return 0;
    }
    if (strcmp(s, "resolve") == 0) {
        *out = EVENT_RESOLVE;
        return 0;
    }
    intake_path(path, sizeof(path), prefix, "action");
    intake_fail(err, TOCSIN_BAD, path, "must be one of trigger, acknowledge, resolve");
    return -1;
}

static int parse_severity(const json_t *obj, const char *prefix,
                          const struct cfg_integration *integ, enum severity *out,
                          struct intake_error *err)
{
    char path[128];
    json_t *v = json_object_get(obj, "severity");

    *out = integ ? integ->default_severity : SEV_WARNING;
    if (!v || json_is_null(v))
        return 0;
    intake_path(path, sizeof(path), prefix, "severity");
    if (!json_is_string(v)) {
        intake_fail(err, TOCSIN_BAD, path, "must be a string");
        return -1;
    }
    /* Exact names only: our own API has no reason to guess at free text. */
    if (severity_parse(json_string_value(v), out) != 0) {
        intake_fail(err, TOCSIN_BAD, path, "must be one of critical, error, warning, info");
        return -1;
    }
    return 0;
}

/* Parses one event object; prefix is "" for a lone object or "[i]" in an array. */
static int parse_one(const json_t *obj, const char *prefix, const struct cfg_integration *integ,
                     struct event *ev, struct intake_error *err)
{
    char path[128], fp[17];
    const char *summary, *dedup, *source;
    json_t *details;
    bool has_labels, has_ts;

    memset(ev, 0, sizeof(*ev));
    if (!json_is_object(obj)) {
        intake_fail(err, TOCSIN_BAD, prefix, "must be an object");
        return -1;
    }
    if (parse_action(obj, prefix, &ev->action, err) != 0 ||
        parse_severity(obj, prefix, integ, &ev->severity, err) != 0 ||
        intake_get_labels(obj, "labels", prefix, TOCSIN_BAD, &ev->labels, &has_labels, err) != 0 ||
        intake_get_string(obj, "summary", prefix, TOCSIN_BAD, ev->action == EVENT_TRIGGER, 1,
                          EVENT_MAX_SUMMARY, &summary, err) != 0 ||
        intake_get_string(obj, "dedup_key", prefix, TOCSIN_BAD, false, 1, EVENT_MAX_DEDUP_KEY,
                          &dedup, err) != 0 ||
        intake_get_string(obj, "source", prefix, TOCSIN_BAD, false, 0, EVENT_MAX_SOURCE, &source,
                          err) != 0 ||
        intake_get_time(obj, "timestamp", prefix, TOCSIN_BAD, &ev->timestamp_ms, &has_ts, err) != 0)
        goto fail;
    intake_path(path, sizeof(path), prefix, "links");
    if (intake_links(json_object_get(obj, "links"), path, TOCSIN_BAD, true, &ev->links, err) != 0)
        goto fail;

    /*
     * The dedup key defaults to the label fingerprint; an empty label set
     * would make every such event the same alert, so it does not count.
     */
    if (!dedup && ev->labels.n == 0) {
        intake_path(path, sizeof(path), prefix, "labels");
        intake_fail(err, TOCSIN_BAD, path,
                    has_labels ? "must not be empty when dedup_key is not given"
                               : "is required when dedup_key is not given");
        goto fail;
    }
    if (!dedup) {
        labels_fingerprint_hex(&ev->labels, fp);
        dedup = fp;
    }
    details = json_object_get(obj, "details");
    if (details && !json_is_null(details))
        ev->details = json_incref(details);
    ev->dedup_key = strdup(dedup);
    ev->summary = intake_strdup_opt(summary);
    ev->source = source && source[0] ? strdup(source) : NULL;
    if (!ev->dedup_key || (summary && !ev->summary) || (source && source[0] && !ev->source)) {
        intake_fail(err, 500, prefix, "could not be stored: out of memory");
        goto fail;
    }
    return 0;
fail:
    event_clear(ev);
    return -1;
}

int intake_parse_tocsin(const char *body, size_t len, const struct cfg_integration *integ,
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
    if (json_is_object(root)) {
        if (intake_batch_alloc(out, 1, err) != 0)
            goto fail;
        if (parse_one(root, "", integ, &out->events[0], err) != 0)
            goto fail;
        out->n = 1;
        json_decref(root);
        return 0;
    }
    if (!json_is_array(root)) {
        intake_fail(err, TOCSIN_BAD, "", "the body must be an event object or an array of them");
        goto fail;
    }
    n = json_array_size(root);
    if (n == 0) {
        intake_fail(err, TOCSIN_BAD, "", "no events: the array is empty");
        goto fail;
    }
    if (n > EVENT_MAX_BATCH) {
        intake_fail(err, 413, "", "too many events: %zu in one request; at most %d are allowed", n,
                    EVENT_MAX_BATCH);
        goto fail;
    }
    if (intake_batch_alloc(out, n, err) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        intake_index_path(prefix, sizeof(prefix), "", i);
        if (parse_one(json_array_get(root, i), prefix, integ, &out->events[i], err) != 0)
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
