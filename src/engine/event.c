/* event.c - the normalised event; see event.h. */
#include "event.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void event_clear(struct event *ev)
{
    free(ev->dedup_key);
    labels_free(&ev->labels);
    free(ev->summary);
    free(ev->source);
    json_decref(ev->details);
    json_decref(ev->links);
    free(ev->suppressed);
    free(ev->parent_key);
    memset(ev, 0, sizeof(*ev));
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool json_eq(const json_t *a, const json_t *b)
{
    return a == b || (a && b && json_equal((json_t *)a, (json_t *)b));
}

bool event_equal(const struct event *a, const struct event *b)
{
    if (a->action != b->action || a->severity != b->severity ||
        a->timestamp_ms != b->timestamp_ms || a->starts_at_ms != b->starts_at_ms ||
        a->ends_at_ms != b->ends_at_ms || !str_eq(a->dedup_key, b->dedup_key) ||
        !str_eq(a->summary, b->summary) || !str_eq(a->source, b->source) ||
        !str_eq(a->suppressed, b->suppressed) || !str_eq(a->parent_key, b->parent_key) ||
        !json_eq(a->details, b->details) || !json_eq(a->links, b->links) ||
        a->labels.n != b->labels.n)
        return false;
    for (size_t i = 0; i < a->labels.n; i++)
        if (strcmp(a->labels.v[i].name, b->labels.v[i].name) != 0 ||
            strcmp(a->labels.v[i].value, b->labels.v[i].value) != 0)
            return false;
    return true;
}

/* FNV-1a, 64 bits, over n bytes; a tag byte separates fields. */
static uint64_t h_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t h_str(uint64_t h, unsigned char tag, const char *s)
{
    h = h_bytes(h, &tag, 1);
    return s ? h_bytes(h, s, strlen(s) + 1) : h;
}

static uint64_t h_json(uint64_t h, const json_t *v, int depth)
{
    unsigned char tag = v ? (unsigned char)(json_typeof(v) + 1) : 0;
    h = h_bytes(h, &tag, 1);
    if (!v || depth > 64)
        return h;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            h = h_str(h, 'k', k);
            h = h_json(h, x, depth + 1);
        }
        return h_bytes(h, "}", 1);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) h = h_json(h, x, depth + 1);
        return h_bytes(h, "]", 1);
    }
    case JSON_STRING: {
        size_t n = json_string_length(v);
        h = h_bytes(h, &n, sizeof(n));
        return h_bytes(h, json_string_value(v), n);
    }
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        return h_bytes(h, &i, sizeof(i));
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        return h_bytes(h, &d, sizeof(d));
    }
    default:
        return h;
    }
}

uint64_t event_content_hash(const struct event *ev)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = h_str(h, 's', ev->summary);
    h = h_str(h, 'o', ev->source);
    for (size_t i = 0; i < ev->labels.n; i++) {
        h = h_str(h, 'n', ev->labels.v[i].name);
        h = h_str(h, 'v', ev->labels.v[i].value);
    }
    h = h_json(h, ev->details, 0);
    h = h_json(h, ev->links, 0);
    /* 0 means "not known" to the engine. */
    return h ? h : 1;
}

void change_event_clear(struct change_event *ch)
{
    free(ch->summary);
    free(ch->source);
    json_decref(ch->details);
    json_decref(ch->links);
    memset(ch, 0, sizeof(*ch));
}

const char *event_action_name(enum event_action a)
{
    switch (a) {
    case EVENT_TRIGGER:
        return "trigger";
    case EVENT_ACKNOWLEDGE:
        return "acknowledge";
    case EVENT_RESOLVE:
        return "resolve";
    }
    return "trigger";
}

static const char *const sev_names[] = {"info", "warning", "error", "critical"};

const char *severity_name(enum severity s)
{
    if ((unsigned)s > SEV_CRITICAL)
        return "critical";
    return sev_names[s];
}

int severity_parse(const char *s, enum severity *out)
{
    for (int i = 0; i <= SEV_CRITICAL; i++) {
        if (strcmp(s, sev_names[i]) == 0) {
            *out = (enum severity)i;
            return 0;
        }
    }
    return -1;
}

int severity_from_text(const char *s, enum severity *out)
{
    static const struct {
        const char *word;
        enum severity sev;
    } words[] = {
        {"critical", SEV_CRITICAL}, {"crit", SEV_CRITICAL},
        {"fatal", SEV_CRITICAL},    {"emergency", SEV_CRITICAL},
        {"page", SEV_CRITICAL},     {"p1", SEV_CRITICAL},
        {"disaster", SEV_CRITICAL}, {"error", SEV_ERROR},
        {"err", SEV_ERROR},         {"major", SEV_ERROR},
        {"high", SEV_ERROR},        {"p2", SEV_ERROR},
        {"warning", SEV_WARNING},   {"warn", SEV_WARNING},
        {"minor", SEV_WARNING},     {"medium", SEV_WARNING},
        {"average", SEV_WARNING},   {"p3", SEV_WARNING},
        {"info", SEV_INFO},         {"informational", SEV_INFO},
        {"low", SEV_INFO},          {"notice", SEV_INFO},
        {"p4", SEV_INFO},           {"p5", SEV_INFO},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasecmp(s, words[i].word) == 0) {
            *out = words[i].sev;
            return 0;
        }
    }
    return -1;
}
