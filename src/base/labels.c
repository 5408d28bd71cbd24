/* labels.c - label sets and their fingerprints; see labels.h. */
#include "labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct label *)a)->name, ((const struct label *)b)->name);
}

int labels_from_json(const json_t *obj, struct labelset *out, char *err, size_t errlen)
{
    const char *key;
    json_t *val;
    size_t i = 0, n;

    out->n = 0;
    out->v = NULL;
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "must be an object of string values");
        return -1;
    }
    n = json_object_size(obj);
    if (n > LABELS_MAX_PAIRS) {
        snprintf(err, errlen, "has %zu labels; at most %d are allowed", n, LABELS_MAX_PAIRS);
        return -1;
    }
    if (n == 0)
        return 0;
    out->v = calloc(n, sizeof(*out->v));
    if (!out->v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    json_object_foreach((json_t *)obj, key, val)
    {
        size_t klen = strlen(key);
        if (!json_is_string(val)) {
            snprintf(err, errlen, "label \"%.64s\" must be a string", key);
            goto fail;
        }
        if (klen == 0 || klen > LABELS_MAX_NAME) {
            snprintf(err, errlen, "label name \"%.64s\" must be 1 to %d bytes", key,
                     LABELS_MAX_NAME);
            goto fail;
        }
        if (json_string_length(val) > LABELS_MAX_VALUE) {
            snprintf(err, errlen, "label \"%.64s\" is longer than %d bytes", key, LABELS_MAX_VALUE);
            goto fail;
        }
        if (memchr(json_string_value(val), 0, json_string_length(val))) {
            snprintf(err, errlen, "label \"%.64s\" contains a NUL byte", key);
            goto fail;
        }
        out->v[i].name = strdup(key);
        out->v[i].value = strdup(json_string_value(val));
        out->n = ++i;
        if (!out->v[i - 1].name || !out->v[i - 1].value) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    qsort(out->v, out->n, sizeof(*out->v), label_cmp);
    return 0;
fail:
    labels_free(out);
    return -1;
}

int labels_set(struct labelset *ls, const char *name, const char *value)
{
    size_t i;
    for (i = 0; i < ls->n; i++) {
        int c = strcmp(ls->v[i].name, name);
        if (c == 0) {
            char *nv = strdup(value);
            if (!nv)
                return -1;
            free(ls->v[i].value);
            ls->v[i].value = nv;
            return 0;
        }
        if (c > 0)
            break;
    }
    struct label *nv = realloc(ls->v, (ls->n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    ls->v = nv;
    /* Copy first, so a failed copy leaves the set sorted and free of NULLs. */
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    memmove(&ls->v[i + 1], &ls->v[i], (ls->n - i) * sizeof(*nv));
    ls->v[i].name = n;
    ls->v[i].value = v;
    ls->n++;
    return 0;
}

static bool name_char(char c, bool first, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9') || (colon && c == ':');
}

static bool name_valid(const char *s, bool colon)
{
    if (!name_char(*s, true, colon))
        return false;
    for (s++; *s; s++)
        if (!name_char(*s, false, colon))
            return false;
    return true;
}

bool labels_name_valid(const char *s)
{
    return name_valid(s, false);
}

bool labels_metric_name_valid(const char *s)
{
    return name_valid(s, true);
}

const char *labels_get(const struct labelset *ls, const char *name)
{
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->v[i].name, name) == 0)
            return ls->v[i].value;
    return NULL;
}

void labels_free(struct labelset *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        free(ls->v[i].name);
        free(ls->v[i].value);
    }
    free(ls->v);
    ls->v = NULL;
    ls->n = 0;
}

#define FNV64_OFFSET 14695981039346656037ULL
#define FNV64_PRIME  1099511628211ULL

static uint64_t fnv_add(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= FNV64_PRIME;
    }
    return h;
}

static uint64_t fnv_add_byte(uint64_t h, unsigned char b)
{
    h ^= b;
    return h * FNV64_PRIME;
}

uint64_t labels_fingerprint(const struct labelset *ls)
{
    /*
     * An empty set hashes to the bare FNV-1a offset basis, as in
     * prometheus/common model.labelSetToFingerprint (its test vector for
     * LabelSet{} is 14695981039346656037), so no special case is needed.
     */
    uint64_t h = FNV64_OFFSET;
    for (size_t i = 0; i < ls->n; i++) {
        h = fnv_add(h, ls->v[i].name);
        h = fnv_add_byte(h, 0xff);
        h = fnv_add(h, ls->v[i].value);
        h = fnv_add_byte(h, 0xff);
    }
    return h;
}

void labels_fingerprint_hex(const struct labelset *ls, char buf[17])
{
    snprintf(buf, 17, "%016llx", (unsigned long long)labels_fingerprint(ls));
}

json_t *labels_to_json(const struct labelset *ls)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < ls->n; i++)
        json_object_set_new(o, ls->v[i].name, json_string(ls->v[i].value));
    return o;
}
