/* intake_common.c - helpers shared by the intake parsers; see intake_json.h. */
#include "intake_json.h"

#include "../base/timefmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void intake_batch_free(struct intake_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        event_clear(&b->events[i]);
    free(b->events);
    b->events = NULL;
    b->n = 0;
}

void intake_error_clear(struct intake_error *err)
{
    err->status = 0;
    err->field[0] = '\0';
    err->message[0] = '\0';
}

void intake_fail(struct intake_error *err, int status, const char *field, const char *fmt, ...)
{
    char text[sizeof(err->message)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    err->status = status;
    snprintf(err->field, sizeof(err->field), "%s", field);
    /* A message cut at 255 bytes still names the field, which comes first. */
    if (field[0]) {
        int n = snprintf(err->message, sizeof(err->message), "'%.100s' %s", field, text);
        (void)n;
    } else {
        snprintf(err->message, sizeof(err->message), "%s", text);
    }
}

void intake_path(char *buf, size_t size, const char *prefix, const char *name)
{
    if (prefix[0])
        snprintf(buf, size, "%s.%s", prefix, name);
    else
        snprintf(buf, size, "%s", name);
}

void intake_index_path(char *buf, size_t size, const char *prefix, size_t i)
{
    snprintf(buf, size, "%s[%zu]", prefix, i);
}

/* intake_fail for prefix.key, the path built only when something failed. */
static void fail_key(struct intake_error *err, int status, const char *prefix, const char *key,
                     const char *msg)
{
    char path[128];
    intake_path(path, sizeof(path), prefix, key);
    intake_fail(err, status, path, "%s", msg);
}

json_t *intake_load(const char *body, size_t len, struct intake_error *err)
{
    json_error_t jerr;
    json_t *root;

    /* An empty body has no JSON at all; say so rather than quoting jansson. */
    if (!body || len == 0) {
        intake_fail(err, 400, "", "malformed JSON at line 1 column 0: the body is empty");
        return NULL;
    }
    root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        intake_fail(err, 400, "", "malformed JSON at line %d column %d: %.150s", jerr.line,
                    jerr.column, jerr.text);
        return NULL;
    }
    return root;
}

/* Returns obj[key], with JSON null folded into "absent". */
static json_t *get(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

int intake_get_string(const json_t *obj, const char *key, const char *prefix, int status,
                      bool required, size_t minlen, size_t maxlen, const char **out,
                      struct intake_error *err)
{
    json_t *v = get(obj, key);
    size_t n;

    *out = NULL;
    if (!v) {
        if (required) {
            fail_key(err, status, prefix, key, "is required");
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        fail_key(err, status, prefix, key, "must be a string");
        return -1;
    }
    n = json_string_length(v);
    if (n < minlen || n > maxlen) {
        char path[128];
        intake_path(path, sizeof(path), prefix, key);
        if (n == 0)
            intake_fail(err, status, path, "must not be empty");
        else
            intake_fail(err, status, path, "is %zu bytes long; at most %zu are allowed", n, maxlen);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int get_typed(const json_t *obj, const char *key, const char *prefix, int status,
                     bool required, bool want_array, json_t **out, struct intake_error *err)
{
    json_t *v = get(obj, key);

    *out = NULL;
    if (!v) {
        if (required) {
            fail_key(err, status, prefix, key, "is required");
            return -1;
        }
        return 0;
    }
    if (want_array ? !json_is_array(v) : !json_is_object(v)) {
        fail_key(err, status, prefix, key, want_array ? "must be an array" : "must be an object");
        return -1;
    }
    *out = v;
    return 0;
}

int intake_get_object(const json_t *obj, const char *key, const char *prefix, int status,
                      bool required, json_t **out, struct intake_error *err)
{
    return get_typed(obj, key, prefix, status, required, false, out, err);
}

int intake_get_array(const json_t *obj, const char *key, const char *prefix, int status,
                     bool required, json_t **out, struct intake_error *err)
{
    return get_typed(obj, key, prefix, status, required, true, out, err);
}

int intake_get_time(const json_t *obj, const char *key, const char *prefix, int status,
                    int64_t *out_ms, bool *present, struct intake_error *err)
{
    json_t *v = get(obj, key);
    int64_t ms;

    *present = false;
    *out_ms = 0;
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        fail_key(err, status, prefix, key, "must be a string holding an RFC 3339 timestamp");
        return -1;
    }
    if (timefmt_parse_rfc3339(json_string_value(v), json_string_length(v), &ms) != 0) {
        fail_key(err, status, prefix, key,
                 "is not a valid RFC 3339 timestamp (expected e.g. 2026-01-02T15:04:05Z)");
        return -1;
    }
    if (ms == TIMEFMT_GO_ZERO_MS)
        return 0;
    *out_ms = ms;
    *present = true;
    return 0;
}

/*
 * Finds the label labels_from_json would reject, so the error can carry its
 * path. Mirrors its checks in the same (insertion) order. Sets *not_string
 * when the problem is the value's type.
 */
static const char *first_bad_label(const json_t *obj, bool *not_string)
{
    const char *key;
    json_t *val;

    *not_string = false;
    json_object_foreach((json_t *)obj, key, val)
    {
        size_t klen = strlen(key);
        if (!json_is_string(val)) {
            *not_string = true;
            return key;
        }
        if (klen == 0 || klen > LABELS_MAX_NAME || json_string_length(val) > LABELS_MAX_VALUE ||
            memchr(json_string_value(val), 0, json_string_length(val)))
            return key;
    }
    return NULL;
}

int intake_get_labels(const json_t *obj, const char *key, const char *prefix, int status,
                      struct labelset *out, bool *present, struct intake_error *err)
{
    char path[128], sub[128], msg[200];
    json_t *v = get(obj, key);
    const char *bad;
    bool not_string;

    out->n = 0;
    out->v = NULL;
    *present = false;
    if (!v)
        return 0;
    if (!json_is_object(v)) {
        fail_key(err, status, prefix, key, "must be an object of string values");
        return -1;
    }
    if (labels_from_json(v, out, msg, sizeof(msg)) != 0) {
        intake_path(path, sizeof(path), prefix, key);
        /* The count limit concerns the whole object; anything else one label. */
        bad = json_object_size(v) > LABELS_MAX_PAIRS ? NULL : first_bad_label(v, &not_string);
        if (!bad) {
            intake_fail(err, status, path, "is invalid: %s", msg);
        } else {
            intake_path(sub, sizeof(sub), path, bad);
            if (not_string)
                intake_fail(err, status, sub, "must be a string");
            else
                intake_fail(err, status, sub, "is invalid: %s", msg);
        }
        return -1;
    }
    *present = true;
    return 0;
}

int intake_check_string_map(const json_t *v, const char *path, int status, struct intake_error *err)
{
    char sub[128];
    const char *key;
    json_t *val;

    if (!json_is_object(v)) {
        intake_fail(err, status, path, "must be an object of string values");
        return -1;
    }
    json_object_foreach((json_t *)v, key, val)
    {
        if (!json_is_string(val)) {
            intake_path(sub, sizeof(sub), path, key);
            intake_fail(err, status, sub, "must be a string");
            return -1;
        }
    }
    return 0;
}

int intake_add_link(json_t **links, const char *href, const char *text)
{
    json_t *link;

    if (!*links) {
        *links = json_array();
        if (!*links)
            return -1;
    }
    link = json_pack("{s:s, s:s}", "href", href, "text", text ? text : href);
    if (!link)
        return -1;
    return json_array_append_new(*links, link);
}

int intake_links(const json_t *v, const char *path, int status, bool allow_strings, json_t **out,
                 struct intake_error *err)
{
    char item[128];
    json_t *links = NULL, *el;
    size_t i;

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v)) {
        intake_fail(err, status, path, "must be an array");
        return -1;
    }
    if (json_array_size(v) > INTAKE_MAX_LINKS) {
        intake_fail(err, status, path, "has %zu links; at most %d are allowed", json_array_size(v),
                    INTAKE_MAX_LINKS);
        return -1;
    }
    links = json_array();
    if (!links) {
        intake_fail(err, 500, path, "could not be stored: out of memory");
        return -1;
    }
    json_array_foreach(v, i, el)
    {
        const char *href = NULL, *text = NULL;
        intake_index_path(item, sizeof(item), path, i);
        if (allow_strings && json_is_string(el)) {
            size_t n = json_string_length(el);
            if (n == 0 || n > INTAKE_MAX_HREF) {
                intake_fail(err, status, item, "must be 1 to %d bytes long", INTAKE_MAX_HREF);
                goto fail;
            }
            href = json_string_value(el);
        } else if (json_is_object(el)) {
            if (intake_get_string(el, "href", item, status, true, 1, INTAKE_MAX_HREF, &href, err) !=
                    0 ||
                intake_get_string(el, "text", item, status, false, 0, INTAKE_MAX_LINK_TEXT, &text,
                                  err) != 0)
                goto fail;
        } else {
            intake_fail(err, status, item,
                        allow_strings ? "must be a string or an object with an href"
                                      : "must be an object with an href");
            goto fail;
        }
        if (intake_add_link(&links, href, text && text[0] ? text : NULL) != 0) {
            intake_fail(err, 500, item, "could not be stored: out of memory");
            goto fail;
        }
    }
    *out = links;
    return 0;
fail:
    json_decref(links);
    return -1;
}

char *intake_strdup_max(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n <= max)
        return strdup(s);
    /* A continuation byte (10xxxxxx) at the cut means a character straddles it. */
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return strndup(s, n);
}

char *intake_strdup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

int intake_batch_alloc(struct intake_batch *b, size_t n, struct intake_error *err)
{
    b->n = 0;
    b->events = NULL;
    if (n == 0)
        return 0;
    b->events = calloc(n, sizeof(*b->events));
    if (!b->events) {
        intake_fail(err, 500, "", "out of memory");
        return -1;
    }
    return 0;
}

void intake_set_opt(json_t *obj, const char *key, json_t *v)
{
    if (obj && v)
        json_object_set(obj, key, v);
}

void intake_set_opt_string(json_t *obj, const char *key, const char *s)
{
    if (obj && s)
        json_object_set_new(obj, key, json_string(s));
}

json_t *intake_nonempty(json_t *obj)
{
    if (obj && json_object_size(obj) == 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}
