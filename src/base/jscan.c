/* jscan.c - a pull scanner over a JSON text; see jscan.h. */
#include "jscan.h"

#include <string.h>

void jscan_init(struct jscan *s, const char *text, size_t len)
{
    s->p = text;
    s->end = text + len;
}

static void skip_ws(struct jscan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

int jscan_expect(struct jscan *s, char c)
{
    skip_ws(s);
    if (s->p == s->end || *s->p != c)
        return -1;
    s->p++;
    return 0;
}

bool jscan_accept(struct jscan *s, char c)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

bool jscan_at_end(struct jscan *s)
{
    skip_ws(s);
    return s->p == s->end;
}

size_t jscan_utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    /* The second byte's range is what excludes overlongs, surrogates and > U+10FFFF. */
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* Reads a string; out may be NULL to only check it (jscan_skip). */
int jscan_string(struct jscan *s, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    if (jscan_expect(s, '"') != 0)
        return -1;
    while (s->p < s->end) {
        /* Plain ASCII runs, the common case, in one copy. */
        const char *q = s->p;
        while (q < s->end && (unsigned char)*q >= 0x20 && *q != '"' && *q != '\\' &&
               (unsigned char)*q < 0x80)
            q++;
        if (q > s->p) {
            size_t run = (size_t)(q - s->p);
            if (out) {
                if (o + run >= cap)
                    return -1;
                memcpy(out + o, s->p, run);
                o += run;
            }
            s->p = q;
            if (q == s->end)
                break;
        }
        unsigned char c = (unsigned char)*s->p;
        char b;
        size_t n = 1;
        if (c == '"') {
            s->p++;
            if (out) {
                out[o] = '\0';
                *len = o;
            }
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            if (s->end - s->p < 2)
                return -1;
            switch (s->p[1]) {
            case '"':
            case '\\':
            case '/':
                b = s->p[1];
                break;
            case 'b':
                b = '\b';
                break;
            case 'f':
                b = '\f';
                break;
            case 'n':
                b = '\n';
                break;
            case 'r':
                b = '\r';
                break;
            case 't':
                b = '\t';
                break;
            default:
                return -1; /* \u and invalid escapes: the full parser */
            }
            s->p += 2;
            if (out) {
                if (o + 1 >= cap)
                    return -1;
                out[o++] = b;
            }
            continue;
        }
        if (c >= 0x80 &&
            (n = jscan_utf8_len((const unsigned char *)s->p, (const unsigned char *)s->end)) == 0)
            return -1;
        if (out) {
            if (o + n >= cap)
                return -1;
            memcpy(out + o, s->p, n);
            o += n;
        }
        s->p += n;
    }
    return -1;
}

static int skip_literal(struct jscan *s, const char *lit, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int skip_value(struct jscan *s, int depth)
{
    skip_ws(s);
    if (s->p == s->end)
        return -1;
    switch (*s->p) {
    case '"':
        return jscan_string(s, NULL, 0, NULL);
    case 't':
        return skip_literal(s, "true", 4);
    case 'f':
        return skip_literal(s, "false", 5);
    case 'n':
        return skip_literal(s, "null", 4);
    case '{':
        if (depth >= JSCAN_MAX_DEPTH)
            return -1;
        s->p++;
        if (jscan_accept(s, '}'))
            return 0;
        do {
            if (jscan_string(s, NULL, 0, NULL) != 0 || jscan_expect(s, ':') != 0 ||
                skip_value(s, depth + 1) != 0)
                return -1;
        } while (jscan_accept(s, ','));
        return jscan_expect(s, '}');
    case '[':
        if (depth >= JSCAN_MAX_DEPTH)
            return -1;
        s->p++;
        if (jscan_accept(s, ']'))
            return 0;
        do {
            if (skip_value(s, depth + 1) != 0)
                return -1;
        } while (jscan_accept(s, ','));
        return jscan_expect(s, ']');
    default:
        return -1; /* numbers and anything else */
    }
}

int jscan_skip(struct jscan *s)
{
    return skip_value(s, 0);
}
