/* jtext.c - compact JSON text of a jansson value; see jtext.h. */
#include "jtext.h"
#include "jscan.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct out {
    char *p;   /* borrowed: next byte to write */
    char *end; /* borrowed: one past the buffer */
};

/* Bytes a JSON string must escape: the quote, the backslash and the control
 * characters. DEL and non-ASCII bytes are written as they are, as jansson
 * does without JSON_ENSURE_ASCII. */
static const bool needs_escape[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
    [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1,  ['\\'] = 1,
};

static int put(struct out *o, const char *s, size_t n)
{
    if ((size_t)(o->end - o->p) < n)
        return -1;
    memcpy(o->p, s, n);
    o->p += n;
    return 0;
}

static int put_c(struct out *o, char c)
{
    if (o->p == o->end)
        return -1;
    *o->p++ = c;
    return 0;
}

static int put_string(struct out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    if (put_c(o, '"'))
        return -1;
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && !needs_escape[*p])
            p++;
        if (put(o, (const char *)run, (size_t)(p - run)))
            return -1;
        if (p == end)
            break;
        char seq[6] = {'\\', 0};
        size_t len = 2;
        switch (*p) {
        case '"':
        case '\\':
            seq[1] = (char)*p;
            break;
        case '\b':
            seq[1] = 'b';
            break;
        case '\f':
            seq[1] = 'f';
            break;
        case '\n':
            seq[1] = 'n';
            break;
        case '\r':
            seq[1] = 'r';
            break;
        case '\t':
            seq[1] = 't';
            break;
        default:
            /* jansson writes the other control characters as \u00XX, upper case. */
            memcpy(seq + 1, "u00", 3);
            seq[4] = hex[*p >> 4];
            seq[5] = hex[*p & 15];
            len = 6;
        }
        if (put(o, seq, len))
            return -1;
        p++;
    }
    return put_c(o, '"');
}

static int put_int(struct out *o, json_int_t v)
{
    char tmp[24];
    char *q = tmp + sizeof(tmp);
    /* Negated as unsigned, so that the smallest value does not overflow. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--q = '-';
    return put(o, q, (size_t)(tmp + sizeof(tmp) - q));
}

static int put_value(struct out *o, const json_t *v, int depth)
{
    if (depth > JTEXT_MAX_DEPTH)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        size_t klen;
        json_t *m;
        bool first = true;
        if (put_c(o, '{'))
            return -1;
        /* Insertion order, as json_dumpb without JSON_SORT_KEYS. */
        json_object_keylen_foreach((json_t *)v, k, klen, m)
        {
            if ((!first && put_c(o, ',')) || put_string(o, k, klen) || put_c(o, ':') ||
                put_value(o, m, depth + 1))
                return -1;
            first = false;
        }
        return put_c(o, '}');
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (put_c(o, '['))
            return -1;
        for (size_t i = 0; i < n; i++)
            if ((i && put_c(o, ',')) || put_value(o, json_array_get(v, i), depth + 1))
                return -1;
        return put_c(o, ']');
    }
    case JSON_STRING:
        return put_string(o, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return put_int(o, json_integer_value(v));
    case JSON_REAL: {
        /* jansson's shortest round-trip form of a double is its own;
         * reals are rare in what the store keeps, so it writes them. */
        size_t room = (size_t)(o->end - o->p);
        size_t n = json_dumpb(v, o->p, room, JSON_COMPACT | JSON_ENCODE_ANY);
        if (n == 0 || n > room)
            return -1;
        o->p += n;
        return 0;
    }
    case JSON_TRUE:
        return put(o, "true", 4);
    case JSON_FALSE:
        return put(o, "false", 5);
    case JSON_NULL:
        return put(o, "null", 4);
    }
    return -1;
}

long jtext_dump(const json_t *v, char *buf, size_t cap)
{
    struct out o = {buf, buf + cap};
    if (!v || put_value(&o, v, 0))
        return -1;
    return (long)(o.p - buf);
}

/* True when s[0..n) is valid UTF-8 (RFC 3629), as jansson requires of strings. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    const unsigned char *p = s, *end = s + n;
    while (p < end) {
        size_t len = *p < 0x80 ? 1 : jscan_utf8_len(p, end);
        if (len == 0)
            return false;
        p += len;
    }
    return true;
}

/* A string that must be checked for UTF-8 first: -1 when invalid or full. */
static int put_checked(struct out *o, const char *s)
{
    size_t n = strlen(s);
    const unsigned char *u = (const unsigned char *)s;
    bool ascii = true;
    for (size_t i = 0; i < n && ascii; i++)
        ascii = u[i] < 0x80;
    if (!ascii && !utf8_valid(u, n))
        return -1;
    return put_string(o, s, n);
}

long jtext_labels(const struct labelset *ls, char *buf, size_t cap)
{
    struct out o = {buf, buf + cap};
    if (put_c(&o, '{'))
        return -1;
    for (size_t i = 0; i < ls->n; i++)
        if ((i && put_c(&o, ',')) || put_checked(&o, ls->v[i].name) || put_c(&o, ':') ||
            put_checked(&o, ls->v[i].value))
            return -1;
    if (put_c(&o, '}'))
        return -1;
    return (long)(o.p - buf);
}

void jtext_obj_begin(struct jtext_obj *o, char *buf, size_t cap)
{
    o->buf = o->p = buf;
    o->end = buf + cap;
    o->first = true;
    o->full = cap == 0;
    if (!o->full)
        *o->p++ = '{';
}

/* Writes the separator and "key": of the next field. */
static struct out field(struct jtext_obj *o, const char *key)
{
    struct out w = {o->p, o->end};
    if (o->full || (!o->first && put_c(&w, ',')) || put_string(&w, key, strlen(key)) ||
        put_c(&w, ':'))
        o->full = true;
    o->first = false;
    return w;
}

void jtext_obj_str(struct jtext_obj *o, const char *key, const char *value, bool skip_null)
{
    if (!value && skip_null)
        return;
    struct out w = field(o, key);
    if (o->full || (value ? put_string(&w, value, strlen(value)) : put(&w, "null", 4)))
        o->full = true;
    else
        o->p = w.p;
}

void jtext_obj_int(struct jtext_obj *o, const char *key, long long value)
{
    struct out w = field(o, key);
    if (o->full || put_int(&w, (json_int_t)value))
        o->full = true;
    else
        o->p = w.p;
}

long jtext_obj_end(struct jtext_obj *o)
{
    struct out w = {o->p, o->end};
    if (o->full || put_c(&w, '}'))
        return -1;
    o->p = w.p;
    return (long)(o->p - o->buf);
}
