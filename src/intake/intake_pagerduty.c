/*
 * intake_pagerduty.c - PagerDuty Events API v2: alert events (POST
 * /v2/enqueue) and change events (POST /v2/change/enqueue); see intake.h.
 *
 * Every error is 400: PagerDuty tells senders not to retry a 400, and the
 * message becomes one entry of the response's "errors" array, so messages
 * quote the field the way PagerDuty's do ("'payload.severity' ...").
 */
#include "intake_json.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define PD_BAD 400
/* Bounds on free-text extras that are stored but not otherwise limited. */
#define PD_MAX_ROUTING_KEY 255
#define PD_MAX_CLIENT      1024

static json_t *load_object(const char *body, size_t len, struct intake_error *err)
{
    json_t *root = intake_load(body, len, err);

    if (root && !json_is_object(root)) {
        intake_fail(err, PD_BAD, "", "Event object is invalid: the body must be a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

static int parse_action(const json_t *root, enum event_action *out, struct intake_error *err)
{
    const char *s;

    if (intake_get_string(root, "event_action", "", PD_BAD, true, 0, 32, &s, err) != 0 &&
        !json_is_string(json_object_get(root, "event_action")))
        return -1;
    if (s && strcmp(s, "trigger") == 0)
        *out = EVENT_TRIGGER;
    else if (s && strcmp(s, "acknowledge") == 0)
        *out = EVENT_ACKNOWLEDGE;
    else if (s && strcmp(s, "resolve") == 0)
        *out = EVENT_RESOLVE;
    else {
        intake_fail(err, PD_BAD, "event_action", "must be one of trigger, acknowledge, resolve");
        return -1;
    }
    return 0;
}

/*
 * PagerDuty generates a key when a trigger has none; we do the same so that
 * the sender can acknowledge or resolve what it triggered (the key is in the
 * 202 response). 16 random bytes keep keys from colliding.
 */
static char *generate_dedup_key(void)
{
    unsigned char raw[16];
    char hex[sizeof(raw) * 2 + 1];

    if (sodium_init() < 0)
        return NULL;
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
    return strdup(hex);
}

/*
 * The last step of both event parsers: the event's dedup key (generated for
 * a trigger that has none, as PagerDuty does) and a copy of the routing key
 * for the caller. Returns 0, or -1 with err filled.
 */
static int finish_keys(struct event *ev, const char *dedup, const char *key, char **routing_key,
                       struct intake_error *err)
{
    ev->dedup_key = dedup ? strdup(dedup) : generate_dedup_key();
    *routing_key = strdup(key);
    if (!ev->dedup_key || !*routing_key) {
        intake_fail(err, 500, "", "out of memory");
        return -1;
    }
    return 0;
}

/* Reads a payload field that becomes a routing label of the same name. */
static int add_label(const json_t *payload, const char *key, struct labelset *ls,
                     struct intake_error *err)
{
    const char *s;

    if (intake_get_string(payload, key, "payload", PD_BAD, false, 0, LABELS_MAX_VALUE, &s, err) !=
        0)
        return -1;
    if (s && s[0] && labels_set(ls, key, s) != 0) {
        intake_fail(err, 500, "", "out of memory");
        return -1;
    }
    return 0;
}

/* The trigger-only part: payload, labels, details and links. */
static int parse_trigger(const json_t *root, struct event *ev, struct intake_error *err)
{
    const char *summary, *source, *sev, *client, *client_url;
    json_t *payload, *details;
    bool has_ts;

    if (intake_get_object(root, "payload", "", PD_BAD, true, &payload, err) != 0 ||
        intake_get_string(payload, "summary", "payload", PD_BAD, true, 1, EVENT_MAX_SUMMARY,
                          &summary, err) != 0 ||
        intake_get_string(payload, "source", "payload", PD_BAD, true, 1, EVENT_MAX_SOURCE, &source,
                          err) != 0 ||
        intake_get_string(payload, "severity", "payload", PD_BAD, true, 0, 32, &sev, err) != 0)
        return -1;
    if (severity_parse(sev, &ev->severity) != 0) {
        intake_fail(err, PD_BAD, "payload.severity",
                    "must be one of critical, error, warning, info");
        return -1;
    }
    if (intake_get_time(payload, "timestamp", "payload", PD_BAD, &ev->timestamp_ms, &has_ts, err) !=
        0)
        return -1;
    /* Routing matches on labels, so the identifying payload fields become labels. */
    if (labels_set(&ev->labels, "source", source) != 0) {
        intake_fail(err, 500, "", "out of memory");
        return -1;
    }
    if (add_label(payload, "component", &ev->labels, err) != 0 ||
        add_label(payload, "group", &ev->labels, err) != 0 ||
        add_label(payload, "class", &ev->labels, err) != 0)
        return -1;
    if (intake_get_string(root, "client", "", PD_BAD, false, 0, PD_MAX_CLIENT, &client, err) != 0 ||
        intake_get_string(root, "client_url", "", PD_BAD, false, 0, INTAKE_MAX_HREF, &client_url,
                          err) != 0)
        return -1;
    if (intake_links(json_object_get(root, "links"), "links", PD_BAD, false, &ev->links, err) != 0)
        return -1;
    if (client_url && client_url[0] &&
        intake_add_link(&ev->links, client_url, client && client[0] ? client : client_url) != 0) {
        intake_fail(err, 500, "", "out of memory");
        return -1;
    }

    details = json_object();
    intake_set_opt(details, "custom_details", json_object_get(payload, "custom_details"));
    intake_set_opt_string(details, "client", client);
    intake_set_opt_string(details, "client_url", client_url);
    intake_set_opt(details, "images", json_object_get(root, "images"));
    ev->details = intake_nonempty(details);

    ev->summary = strdup(summary);
    ev->source = strdup(source);
    if (!ev->summary || !ev->source) {
        intake_fail(err, 500, "", "out of memory");
        return -1;
    }
    return 0;
}

int intake_parse_pagerduty(const char *body, size_t len, int64_t now_ms, char **routing_key,
                           struct intake_batch *out, struct intake_error *err)
{
    const char *key, *dedup;
    struct event *ev;
    json_t *root;

    *routing_key = NULL;
    out->events = NULL;
    out->n = 0;
    intake_error_clear(err);
    root = load_object(body, len, err);
    if (!root)
        return -1;
    if (intake_batch_alloc(out, 1, err) != 0)
        goto fail;
    ev = &out->events[0];
    out->n = 1; /* so that intake_batch_free clears a half-built event */
    ev->severity = SEV_WARNING;
    if (intake_get_string(root, "routing_key", "", PD_BAD, true, 1, PD_MAX_ROUTING_KEY, &key,
                          err) != 0 ||
        parse_action(root, &ev->action, err) != 0 ||
        intake_get_string(root, "dedup_key", "", PD_BAD, false, 1, EVENT_MAX_DEDUP_KEY, &dedup,
                          err) != 0)
        goto fail;
    if (!dedup && ev->action != EVENT_TRIGGER) {
        intake_fail(err, PD_BAD, "dedup_key", "is required for acknowledge and resolve events");
        goto fail;
    }
    /* PagerDuty ignores the payload of acknowledge and resolve events. */
    if (ev->action == EVENT_TRIGGER && parse_trigger(root, ev, err) != 0)
        goto fail;
    if (finish_keys(ev, dedup, key, routing_key, err) != 0)
        goto fail;
    json_decref(root);
    return 0;
fail:
    free(*routing_key);
    *routing_key = NULL;
    intake_batch_free(out);
    json_decref(root);
    return -1;
}

/* v1 contexts: [{type: link|image, href, text, src}]; links become links. */
static int v1_contexts(const json_t *root, json_t **links, struct intake_error *err)
{
    json_t *ctx, *c;
    size_t i;

    if (intake_get_array(root, "contexts", "", PD_BAD, false, &ctx, err) != 0)
        return -1;
    json_array_foreach(ctx, i, c)
    {
        char path[64];
        const char *type, *href, *text;
        intake_index_path(path, sizeof(path), "contexts", i);
        if (!json_is_object(c)) {
            intake_fail(err, PD_BAD, path, "must be an object");
            return -1;
        }
        if (intake_get_string(c, "type", path, PD_BAD, true, 1, 32, &type, err) != 0 ||
            intake_get_string(c, "href", path, PD_BAD, false, 1, 2048, &href, err) != 0 ||
            intake_get_string(c, "text", path, PD_BAD, false, 0, 1024, &text, err) != 0)
            return -1;
        if (strcmp(type, "link") == 0 && href && intake_add_link(links, href, text) != 0) {
            intake_fail(err, 500, "", "out of memory");
            return -1;
        }
    }
    return 0;
}

int intake_parse_pagerduty_v1(const char *body, size_t len, const struct cfg_integration *integ,
                              int64_t now_ms, char **routing_key, struct intake_batch *out,
                              struct intake_error *err)
{
    const char *key, *type, *dedup, *desc, *client, *client_url;
    json_t *root, *details;
    struct event *ev;

    *routing_key = NULL;
    out->events = NULL;
    out->n = 0;
    intake_error_clear(err);
    root = load_object(body, len, err);
    if (!root)
        return -1;
    if (intake_batch_alloc(out, 1, err) != 0)
        goto fail;
    ev = &out->events[0];
    out->n = 1;
    ev->severity = integ ? integ->default_severity : SEV_WARNING;
    if (intake_get_string(root, "service_key", "", PD_BAD, true, 1, PD_MAX_ROUTING_KEY, &key,
                          err) != 0 ||
        intake_get_string(root, "event_type", "", PD_BAD, true, 1, 32, &type, err) != 0 ||
        intake_get_string(root, "incident_key", "", PD_BAD, false, 1, EVENT_MAX_DEDUP_KEY, &dedup,
                          err) != 0 ||
        intake_get_string(root, "description", "", PD_BAD, false, 0, EVENT_MAX_SUMMARY, &desc,
                          err) != 0 ||
        intake_get_string(root, "client", "", PD_BAD, false, 0, PD_MAX_CLIENT, &client, err) != 0 ||
        intake_get_string(root, "client_url", "", PD_BAD, false, 0, 2048, &client_url, err) != 0 ||
        intake_get_object(root, "details", "", PD_BAD, false, &details, err) != 0)
        goto fail;
    if (strcmp(type, "trigger") == 0)
        ev->action = EVENT_TRIGGER;
    else if (strcmp(type, "acknowledge") == 0)
        ev->action = EVENT_ACKNOWLEDGE;
    else if (strcmp(type, "resolve") == 0)
        ev->action = EVENT_RESOLVE;
    else {
        intake_fail(err, PD_BAD, "event_type", "must be one of trigger, acknowledge, resolve");
        goto fail;
    }
    if (!dedup && ev->action != EVENT_TRIGGER) {
        intake_fail(err, PD_BAD, "incident_key", "is required for acknowledge and resolve events");
        goto fail;
    }
    if (ev->action == EVENT_TRIGGER && (!desc || !*desc)) {
        intake_fail(err, PD_BAD, "description", "is required for trigger events");
        goto fail;
    }
    if (v1_contexts(root, &ev->links, err) != 0)
        goto fail;
    if (client_url && *client_url &&
        intake_add_link(&ev->links, client_url, client && *client ? client : client_url) != 0) {
        intake_fail(err, 500, "", "out of memory");
        goto fail;
    }
    ev->details = json_object();
    intake_set_opt(ev->details, "details", details);
    intake_set_opt_string(ev->details, "client", client);
    intake_set_opt_string(ev->details, "client_url", client_url);
    ev->details = intake_nonempty(ev->details);
    ev->summary = desc && *desc ? strdup(desc) : NULL;
    ev->timestamp_ms = now_ms;
    if (desc && *desc && !ev->summary) {
        intake_fail(err, 500, "", "out of memory");
        goto fail;
    }
    if (finish_keys(ev, dedup, key, routing_key, err) != 0)
        goto fail;
    json_decref(root);
    return 0;
fail:
    free(*routing_key);
    *routing_key = NULL;
    intake_batch_free(out);
    json_decref(root);
    return -1;
}

int intake_parse_pagerduty_change(const char *body, size_t len, int64_t now_ms, char **routing_key,
                                  struct change_event *out, struct intake_error *err)
{
    const char *key, *summary, *source;
    json_t *root, *payload, *custom;
    bool has_ts;

    *routing_key = NULL;
    memset(out, 0, sizeof(*out));
    intake_error_clear(err);
    root = load_object(body, len, err);
    if (!root)
        return -1;
    if (intake_get_string(root, "routing_key", "", PD_BAD, true, 1, PD_MAX_ROUTING_KEY, &key,
                          err) != 0 ||
        intake_get_object(root, "payload", "", PD_BAD, true, &payload, err) != 0 ||
        intake_get_string(payload, "summary", "payload", PD_BAD, true, 1, EVENT_MAX_SUMMARY,
                          &summary, err) != 0 ||
        intake_get_string(payload, "source", "payload", PD_BAD, false, 0, EVENT_MAX_SOURCE, &source,
                          err) != 0 ||
        intake_get_time(payload, "timestamp", "payload", PD_BAD, &out->timestamp_ms, &has_ts,
                        err) != 0 ||
        intake_links(json_object_get(root, "links"), "links", PD_BAD, false, &out->links, err) != 0)
        goto fail;
    custom = json_object_get(payload, "custom_details");
    if (custom && !json_is_null(custom))
        out->details = json_incref(custom);
    out->summary = strdup(summary);
    out->source = source && source[0] ? strdup(source) : NULL;
    *routing_key = strdup(key);
    if (!out->summary || (source && source[0] && !out->source) || !*routing_key) {
        intake_fail(err, 500, "", "out of memory");
        goto fail;
    }
    json_decref(root);
    return 0;
fail:
    free(*routing_key);
    *routing_key = NULL;
    change_event_clear(out);
    json_decref(root);
    return -1;
}
