/*
 * lineproto.c - the InfluxDB line protocol (see lineproto.h).
 *
 * Syntax, as InfluxDB 1.x and 2.x document and parse it:
 *
 * - Escapes. In the measurement a backslash escapes ',' and ' '; in tag
 *   keys, tag values and field keys it escapes ',', '=' and ' '. Everywhere,
 *   "\\" is one backslash, and a backslash before any other character is
 *   kept as is ("field_k\ey" is the key field_k\ey). In string field values
 *   "\"" is a quote and "\\" a backslash.
 * - Newlines. A newline ends the line, except inside a double-quoted string
 *   field value, where it is part of the string as in InfluxDB 1.x/2.x (their
 *   scanner skips quoted newlines; the docs only say newlines are not
 *   "supported"). A backslash does not escape a newline. Line numbers still
 *   count every newline, so the line after such a string has the right
 *   number. A lone "\r" before the newline is dropped (CRLF bodies).
 * - Blank lines and lines whose first non-blank character is '#' are skipped
 *   and not counted in lp_result.lines. Leading spaces and tabs are ignored;
 *   the three sections are separated by one or more spaces (a tab is not a
 *   separator: "f=1\t5" is a bad value); spaces after the fields and spaces
 *   and tabs after the timestamp are ignored. A line may be up to
 *   LP_MAX_LINE bytes, not counting its newline (and "\r").
 * - Field values: floats as Go reads them without NaN, Inf, hexadecimal or
 *   '+' (1, -1.5, .5, 1., 1e3, 1E-3; 1e400 is out of range), integers with
 *   a trailing 'i' (int64 range), unsigned with 'u' (uint64 range), the ten
 *   boolean spellings, and strings. Integers become doubles, so values past
 *   2^53 lose their last bits.
 * - Timestamp: an optional integer with an optional '-', in the request's
 *   precision. As in InfluxDB it must lie within what nanoseconds can hold
 *   (-9223372036854775806 ns .. 9223372036854775806 ns, years 1677 to 2262)
 *   whatever the precision; it is converted to milliseconds rounding toward
 *   minus infinity (-1 ns is -1 ms).
 *
 * What makes a line bad (reported, skipped, nothing of it delivered): no
 * measurement, no fields, a tag or field without '=', an empty tag key,
 * value or field key, an unescaped '=' in a tag value, an unterminated
 * string, a bad number or timestamp, anything after the timestamp, more than
 * LABELS_MAX_PAIRS tags, a line longer than LP_MAX_LINE bytes, the key
 * "time" for a tag or a field (InfluxDB rejects both), a tag value that is
 * not UTF-8 or holds a NUL byte, and these decisions about the mapping:
 *
 * - Duplicate field keys in one line: the last one wins (InfluxDB's storage
 *   engine behaves so), and the earlier ones are not delivered.
 * - Duplicate tag keys: the line is bad (InfluxDB rejects them too).
 * - Two different tag keys that become the same label name ("host.name" and
 *   "host_name"), or two different field keys that become the same metric
 *   name: the line is bad, because keeping one would silently drop data and
 *   merge series. The message names both keys.
 * - A tag key whose label name starts with "__" (reserved for internal
 *   labels such as __name__): the line is bad. Renaming would make a label
 *   the sender never wrote.
 * - Label names longer than LABELS_MAX_NAME, tag values and metric names
 *   longer than LABELS_MAX_VALUE: the line is bad.
 *
 * Names are sanitised as Telegraf's Prometheus output does: every byte
 * outside the allowed set becomes '_' (one '_' per UTF-8 character, so
 * "température" is "temp_rature"), and a name that starts with a digit gets
 * a '_' in front. The metric name is measurement "_" field, or the
 * measurement alone for the field "value".
 *
 * Speed: the parser allocates only when a line is longer, or has more
 * fields, than any before it in the call; each logical line is scanned once
 * to find its end and once to parse it.
 */
#include "lineproto.h"

#include "parse_num.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LP_MAX_LINE 65536

/* InfluxDB's valid time range in nanoseconds (models.MinNanoTime/MaxNanoTime). */
#define LP_MAX_NS (INT64_MAX - 1)
#define LP_MIN_NS (INT64_MIN + 2)

/* Above this many fields the duplicate checks sort instead of comparing every pair. */
#define LP_PAIRWISE_MAX 16

enum lp_kind { LP_FLOAT, LP_INT, LP_UINT, LP_BOOL, LP_STRING };

struct lp_tag {
    const char *key; /* unescaped, NUL-terminated, in the arena */
    size_t keylen;
    const char *value; /* unescaped, NUL-terminated, in the arena */
    size_t valuelen;
    const char *label; /* sanitised key */
    size_t labellen;
};

struct lp_field {
    const char *key; /* unescaped */
    size_t keylen;
    const char *san; /* the key with the metric-name character set applied */
    size_t sanlen;
    enum lp_kind kind;
    double value;
    bool dead; /* overridden by a later field with the same key */
};

/* A key and where it came from, for the sorting duplicate check. */
struct lp_keyref {
    const char *key;
    size_t len;
    size_t idx;
};

struct lp_parser {
    char *arena; /* unescaped and sanitised strings of the current line */
    size_t arena_cap, arena_used;
    char *name; /* the metric name being delivered */
    size_t name_cap;
    struct lp_field *fields;
    size_t nfields, fields_cap;
    struct lp_keyref *refs;
    size_t refs_cap;
    struct lp_tag tags[LABELS_MAX_PAIRS];
    size_t ntags;
    struct tsdb_label labels[LABELS_MAX_PAIRS + 1];
    const char *line_start; /* for column numbers in messages */
    char msg[400];
};

/* Internal results of lp_line; a callback's own non-zero value passes through as is. */
#define LP_LINE_BAD 1
#define LP_LINE_OOM 2

int lp_precision_parse(const char *s, enum lp_precision *out)
{
    static const struct {
        const char *name;
        enum lp_precision prec;
    } names[] = {{"ns", LP_NS}, {"n", LP_NS}, {"us", LP_US}, {"u", LP_US},
                 {"ms", LP_MS}, {"s", LP_S},  {"m", LP_M},   {"h", LP_H}};

    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].prec;
            return 0;
        }
    }
    return -1;
}

static int lp_bad(struct lp_parser *P, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->msg, sizeof(P->msg), fmt, ap);
    va_end(ap);
    return LP_LINE_BAD;
}

/* A quoted, printable form of an element for messages (q must hold 200 bytes). */
static const char *lp_q(char *q, const char *s, size_t n)
{
    return pn_quote(q, 200, s, n, 48);
}

static size_t lp_col(const struct lp_parser *P, const char *p)
{
    return (size_t)(p - P->line_start) + 1;
}

static bool lp_grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    void *nb = realloc(*buf, ncap * elem);
    if (!nb)
        return false;
    *buf = nb;
    *cap = ncap;
    return true;
}

/*
 * Finds the end of the logical line that starts at p: the first newline
 * that is not inside a quoted string field value, or end. It follows the
 * same structure as lp_line (key section, then fields whose value may be a
 * string) so that a bad line is skipped exactly as far as a good one.
 */
static const char *lp_line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));

    /* Only a quoted string can hold a newline: without a quote the first newline ends the line. */
    if (!memchr(p, '"', (size_t)((nl ? nl : end) - p)))
        return nl ? nl : end;

    /* Measurement and tags: up to the first unescaped space. */
    while (p < end && *p != '\n' && *p != ' ') {
        if (*p == '\\' && p + 1 < end && p[1] != '\n')
            p += 2;
        else
            p++;
    }
    while (p < end && *p == ' ')
        p++;
    for (;;) {
        /* A field key, up to its unescaped '='. */
        while (p < end && *p != '\n' && *p != '=' && *p != ',' && *p != ' ') {
            if (*p == '\\' && p + 1 < end && p[1] != '\n')
                p += 2;
            else
                p++;
        }
        if (p >= end || *p != '=')
            break;
        p++;
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\'))
                    p++;
            if (p >= end)
                return end;
            p++;
        } else {
            while (p < end && *p != ',' && *p != ' ' && *p != '\n')
                p++;
        }
        if (p >= end || *p != ',')
            break;
        p++;
    }
    /* The timestamp, or whatever malformed rest the line has. */
    nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    return nl ? nl : end;
}

/*
 * Reads one escaped element (measurement, tag key or value, field key)
 * from *pp up to the first unescaped ',' or ' ' (and '=' when eq) and
 * writes it unescaped, NUL-terminated, into the arena.
 */
static const char *lp_element(struct lp_parser *P, const char **pp, const char *e, bool eq,
                              size_t *len)
{
    const char *p = *pp;
    char *dst = P->arena + P->arena_used, *o = dst;

    while (p < e) {
        char c = *p;
        if (c == '\\') {
            if (p + 1 < e && (p[1] == '\\' || p[1] == ',' || p[1] == ' ' || (eq && p[1] == '='))) {
                *o++ = p[1];
                p += 2;
            } else {
                *o++ = c;
                p++;
            }
            continue;
        }
        if (c == ',' || c == ' ' || (eq && c == '='))
            break;
        *o++ = c;
        p++;
    }
    *o = '\0';
    *len = (size_t)(o - dst);
    P->arena_used += *len + 1;
    *pp = p;
    return dst;
}

static bool lp_name_char(unsigned char c, bool metric, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (metric && c == ':')
        return true;
    return !first && c >= '0' && c <= '9';
}

/*
 * Writes s[0..n) with every character outside the name set replaced by '_'
 * (one '_' for each UTF-8 sequence) into the arena, or returns s itself
 * when it is a valid name already. whole: s starts the name, so a leading
 * digit gets a '_' in front.
 */
static const char *lp_sanitise(struct lp_parser *P, const char *s, size_t n, bool metric,
                               bool whole, size_t *len)
{
    char *dst = P->arena + P->arena_used, *o = dst;
    size_t i = 0;

    /* Most names are valid as they are: then s (NUL-terminated in the arena) is the result. */
    for (i = 0; i < n && lp_name_char((unsigned char)s[i], metric, whole && i == 0); i++)
        ;
    if (i == n && s[n] == '\0') {
        *len = n;
        return s;
    }
    i = 0;
    if (whole && n > 0 && s[0] >= '0' && s[0] <= '9') {
        *o++ = '_';
        whole = false; /* the digit is no longer first */
    }
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            *o++ = lp_name_char(c, metric, whole && i == 0) ? (char)c : '_';
            i++;
            continue;
        }
        *o++ = '_';
        i++;
        if (c >= 0xc0) /* a lead byte: its continuation bytes share the '_' */
            for (int k = 0; k < 3 && i < n && ((unsigned char)s[i] & 0xc0) == 0x80; k++)
                i++;
    }
    *o = '\0';
    *len = (size_t)(o - dst);
    P->arena_used += *len + 1;
    return dst;
}

static bool lp_is(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

/* Classifies and converts an unquoted field value. */
static int lp_value(const char *v, size_t n, enum lp_kind *kind, double *out)
{
    int rc;

    if (n == 0)
        return PN_SYNTAX;
    if (v[n - 1] == 'i') {
        int64_t i;
        *kind = LP_INT;
        if ((rc = pn_int64(v, n - 1, false, &i)) != PN_OK)
            return rc;
        *out = (double)i;
        return PN_OK;
    }
    if (v[n - 1] == 'u') {
        uint64_t u;
        *kind = LP_UINT;
        if ((rc = pn_uint64(v, n - 1, &u)) != PN_OK)
            return rc;
        *out = (double)u;
        return PN_OK;
    }
    if (lp_is(v, n, "t") || lp_is(v, n, "T") || lp_is(v, n, "true") || lp_is(v, n, "True") ||
        lp_is(v, n, "TRUE")) {
        *kind = LP_BOOL;
        *out = 1;
        return PN_OK;
    }
    if (lp_is(v, n, "f") || lp_is(v, n, "F") || lp_is(v, n, "false") || lp_is(v, n, "False") ||
        lp_is(v, n, "FALSE")) {
        *kind = LP_BOOL;
        *out = 0;
        return PN_OK;
    }
    *kind = LP_FLOAT;
    return pn_decimal(v, n, false, out);
}

static int64_t lp_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && a < 0)
        q--;
    return q;
}

/* Converts a timestamp in prec to ms; false when outside InfluxDB's range. */
static bool lp_time_ms(int64_t t, enum lp_precision prec, int64_t *ms)
{
    static const int64_t ns_per[] = {1, 1000, 1000000, 1000000000, 60000000000, 3600000000000};
    int64_t per = ns_per[prec];

    /* t * per must stay within [LP_MIN_NS, LP_MAX_NS]; the bounds are symmetric. */
    if (t > LP_MAX_NS / per || t < LP_MIN_NS / per)
        return false;
    if (per >= 1000000)
        *ms = t * (per / 1000000);
    else
        *ms = lp_floor_div(t, 1000000 / per);
    return true;
}

/* Sorts key references by key, then by position. */
static int lp_keyref_cmp(const void *a, const void *b)
{
    const struct lp_keyref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c != 0)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx ? 1 : 0);
}

static bool lp_same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Marks every field overridden by a later one with the same key as dead. */
static int lp_dedupe_fields(struct lp_parser *P)
{
    size_t n = P->nfields;
    struct lp_field *f = P->fields;

    if (n <= LP_PAIRWISE_MAX) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n && !f[i].dead; j++)
                if (lp_same(f[i].key, f[i].keylen, f[j].key, f[j].keylen))
                    f[i].dead = true;
        return 0;
    }
    if (!lp_grow((void **)&P->refs, &P->refs_cap, n, sizeof(*P->refs)))
        return LP_LINE_OOM;
    for (size_t i = 0; i < n; i++)
        P->refs[i] = (struct lp_keyref){f[i].key, f[i].keylen, i};
    qsort(P->refs, n, sizeof(*P->refs), lp_keyref_cmp);
    for (size_t i = 0; i + 1 < n; i++)
        if (lp_same(P->refs[i].key, P->refs[i].len, P->refs[i + 1].key, P->refs[i + 1].len))
            f[P->refs[i].idx].dead = true;
    return 0;
}

static bool lp_numeric_live(const struct lp_field *f)
{
    return !f->dead && f->kind != LP_STRING;
}

/*
 * Two live numeric fields with different keys but the same metric name make
 * the line bad. The field "value" maps to the bare measurement, which no
 * other field can produce, so it is left out of the comparison.
 */
static int lp_check_field_names(struct lp_parser *P)
{
    size_t n = P->nfields, m = 0;
    struct lp_field *f = P->fields;
    const struct lp_field *a = NULL, *b = NULL;
    char q1[200], q2[200], q3[200];

    if (n <= LP_PAIRWISE_MAX) {
        for (size_t i = 0; i < n && !a; i++) {
            if (!lp_numeric_live(&f[i]) || lp_is(f[i].key, f[i].keylen, "value"))
                continue;
            for (size_t j = i + 1; j < n; j++) {
                if (lp_numeric_live(&f[j]) && !lp_is(f[j].key, f[j].keylen, "value") &&
                    lp_same(f[i].san, f[i].sanlen, f[j].san, f[j].sanlen)) {
                    a = &f[i];
                    b = &f[j];
                    break;
                }
            }
        }
    } else {
        if (!lp_grow((void **)&P->refs, &P->refs_cap, n, sizeof(*P->refs)))
            return LP_LINE_OOM;
        for (size_t i = 0; i < n; i++)
            if (lp_numeric_live(&f[i]) && !lp_is(f[i].key, f[i].keylen, "value"))
                P->refs[m++] = (struct lp_keyref){f[i].san, f[i].sanlen, i};
        qsort(P->refs, m, sizeof(*P->refs), lp_keyref_cmp);
        for (size_t i = 0; i + 1 < m && !a; i++) {
            if (lp_same(P->refs[i].key, P->refs[i].len, P->refs[i + 1].key, P->refs[i + 1].len)) {
                a = &f[P->refs[i].idx];
                b = &f[P->refs[i + 1].idx];
            }
        }
    }
    if (a)
        return lp_bad(P, "fields \"%s\" and \"%s\" would both be stored as the metric *_%s",
                      lp_q(q1, a->key, a->keylen), lp_q(q2, b->key, b->keylen),
                      lp_q(q3, a->san, a->sanlen));
    return 0;
}

/* Validates the tags as labels and fills P->labels[1..]. */
static int lp_check_tags(struct lp_parser *P)
{
    char q1[200], q2[200], q3[200];

    for (size_t i = 0; i < P->ntags; i++) {
        struct lp_tag *t = &P->tags[i];
        if (lp_is(t->key, t->keylen, "time"))
            return lp_bad(P, "tag key \"time\" is not allowed");
        t->label = lp_sanitise(P, t->key, t->keylen, false, true, &t->labellen);
        if (t->labellen > LABELS_MAX_NAME)
            return lp_bad(P, "tag key \"%s\" is longer than %d bytes", lp_q(q1, t->key, t->keylen),
                          LABELS_MAX_NAME);
        if (t->labellen >= 2 && t->label[0] == '_' && t->label[1] == '_')
            return lp_bad(P,
                          "tag key \"%s\" is not allowed: label names starting with \"__\" are "
                          "reserved",
                          lp_q(q1, t->key, t->keylen));
        if (t->valuelen > LABELS_MAX_VALUE)
            return lp_bad(P, "the value of tag \"%s\" is longer than %d bytes",
                          lp_q(q1, t->key, t->keylen), LABELS_MAX_VALUE);
        if (memchr(t->value, '\0', t->valuelen) || !pn_utf8_valid(t->value, t->valuelen))
            return lp_bad(P, "the value of tag \"%s\" is not valid UTF-8 text: \"%s\"",
                          lp_q(q1, t->key, t->keylen), lp_q(q2, t->value, t->valuelen));
        for (size_t j = 0; j < i; j++) {
            const struct lp_tag *u = &P->tags[j];
            if (!lp_same(t->label, t->labellen, u->label, u->labellen))
                continue;
            if (lp_same(t->key, t->keylen, u->key, u->keylen))
                return lp_bad(P, "duplicate tag key \"%s\"", lp_q(q1, t->key, t->keylen));
            return lp_bad(P, "tag keys \"%s\" and \"%s\" would both be stored as the label %s",
                          lp_q(q1, u->key, u->keylen), lp_q(q2, t->key, t->keylen),
                          lp_q(q3, t->label, t->labellen));
        }
        P->labels[i + 1].name = t->label;
        P->labels[i + 1].value = t->value;
    }
    return 0;
}

/*
 * Parses the logical line s..e (no newline at the end) and delivers its
 * samples. Returns 0, LP_LINE_BAD with P->msg, LP_LINE_OOM, or the
 * callback's non-zero value (in which case *stopped is set).
 */
static int lp_line(struct lp_parser *P, const char *s, const char *e, enum lp_precision prec,
                   int64_t now_ms, size_t lineno, lp_sample_fn on_sample, void *ctx,
                   struct lp_result *res, bool *stopped)
{
    size_t len = (size_t)(e - s), mlen, klen, vlen;
    const char *p = s, *meas, *msan, *key, *val;
    int64_t t_ms = now_ms;
    char q1[200], q2[200];
    int rc;

    /* Every string of the line fits in 4 * len + slack (see the sizes in lp_element/lp_sanitise).
     */
    if (!lp_grow((void **)&P->arena, &P->arena_cap, 4 * len + 64, 1) ||
        !lp_grow((void **)&P->name, &P->name_cap, len + 8, 1))
        return LP_LINE_OOM;
    P->arena_used = 0;
    P->ntags = 0;
    P->nfields = 0;
    P->line_start = s;

    meas = lp_element(P, &p, e, false, &mlen);
    if (mlen == 0)
        return lp_bad(P, "missing measurement name");

    while (p < e && *p == ',') {
        const char *at = ++p;
        if (P->ntags == LABELS_MAX_PAIRS)
            return lp_bad(P, "more than %d tags", LABELS_MAX_PAIRS);
        key = lp_element(P, &p, e, true, &klen);
        if (klen == 0)
            return lp_bad(P, "empty tag key at column %zu", lp_col(P, at));
        if (p >= e || *p != '=')
            return lp_bad(P, "tag \"%s\" has no '=' and value", lp_q(q1, key, klen));
        p++;
        val = lp_element(P, &p, e, true, &vlen);
        if (p < e && *p == '=')
            return lp_bad(P, "unescaped '=' in the value of tag \"%s\" at column %zu",
                          lp_q(q1, key, klen), lp_col(P, p));
        if (vlen == 0)
            return lp_bad(P, "tag \"%s\" has an empty value", lp_q(q1, key, klen));
        P->tags[P->ntags++] = (struct lp_tag){key, klen, val, vlen, NULL, 0};
    }
    while (p < e && *p == ' ')
        p++;
    if (p >= e)
        return lp_bad(P, "measurement \"%s\" has no fields", lp_q(q1, meas, mlen));

    for (;;) {
        struct lp_field f = {0};
        const char *at = p;
        f.key = lp_element(P, &p, e, true, &f.keylen);
        if (f.keylen == 0)
            return lp_bad(P, "empty field key at column %zu", lp_col(P, at));
        if (p >= e || *p != '=')
            return lp_bad(P, "field \"%s\" has no '=' and value", lp_q(q1, f.key, f.keylen));
        if (lp_is(f.key, f.keylen, "time"))
            return lp_bad(P, "field key \"time\" is not allowed");
        p++;
        if (p < e && *p == '"') {
            for (p++; p < e && *p != '"'; p++)
                if (*p == '\\' && p + 1 < e && (p[1] == '"' || p[1] == '\\'))
                    p++;
            if (p >= e)
                return lp_bad(P, "unterminated string value for field \"%s\"",
                              lp_q(q1, f.key, f.keylen));
            p++;
            f.kind = LP_STRING;
            if (p < e && *p != ',' && *p != ' ')
                return lp_bad(P, "unexpected character after the string value of field \"%s\"",
                              lp_q(q1, f.key, f.keylen));
        } else {
            const char *v = p;
            while (p < e && *p != ',' && *p != ' ')
                p++;
            rc = lp_value(v, (size_t)(p - v), &f.kind, &f.value);
            if (rc == PN_RANGE)
                return lp_bad(P, "field value \"%s\" for field %s is out of range",
                              lp_q(q1, v, (size_t)(p - v)), lp_q(q2, f.key, f.keylen));
            if (rc != PN_OK)
                return lp_bad(P, "invalid field value \"%s\" for field %s",
                              lp_q(q1, v, (size_t)(p - v)), lp_q(q2, f.key, f.keylen));
        }
        if (!lp_grow((void **)&P->fields, &P->fields_cap, P->nfields + 1, sizeof(*P->fields)))
            return LP_LINE_OOM;
        P->fields[P->nfields++] = f;
        if (p < e && *p == ',') {
            p++;
            continue;
        }
        break;
    }

    while (p < e && *p == ' ')
        p++;
    if (p < e) {
        const char *ts = p;
        int64_t t;
        while (p < e && *p != ' ' && *p != '\t')
            p++;
        rc = pn_int64(ts, (size_t)(p - ts), false, &t);
        if (rc == PN_SYNTAX)
            return lp_bad(P, "invalid timestamp \"%s\"", lp_q(q1, ts, (size_t)(p - ts)));
        if (rc != PN_OK || !lp_time_ms(t, prec, &t_ms))
            return lp_bad(P, "timestamp \"%s\" is out of range (InfluxDB's years 1677 to 2262)",
                          lp_q(q1, ts, (size_t)(p - ts)));
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        if (p < e)
            return lp_bad(P, "unexpected text after the timestamp at column %zu: \"%s\"",
                          lp_col(P, p), lp_q(q1, p, (size_t)(e - p)));
    }

    /* The line is well formed; now the mapping to series, all checked before delivery. */
    if ((rc = lp_check_tags(P)) != 0)
        return rc;
    if ((rc = lp_dedupe_fields(P)) != 0)
        return rc;
    size_t msanlen, nstrings = 0, nnum = 0;
    msan = lp_sanitise(P, meas, mlen, true, true, &msanlen);
    for (size_t i = 0; i < P->nfields; i++) {
        struct lp_field *f = &P->fields[i];
        if (f->dead)
            continue;
        if (f->kind == LP_STRING) {
            nstrings++;
            continue;
        }
        nnum++;
        f->san = lp_sanitise(P, f->key, f->keylen, true, false, &f->sanlen);
        size_t namelen = lp_is(f->key, f->keylen, "value") ? msanlen : msanlen + 1 + f->sanlen;
        if (namelen > LABELS_MAX_VALUE)
            return lp_bad(P, "the metric name for field \"%s\" would be longer than %d bytes",
                          lp_q(q1, f->key, f->keylen), LABELS_MAX_VALUE);
    }
    if (nnum > 1 && (rc = lp_check_field_names(P)) != 0)
        return rc;
    /* Nothing of such a line could be stored: say so rather than drop it quietly. */
    if (nnum == 0)
        return lp_bad(P,
                      "only string fields (%zu): Tocsin stores numbers, so nothing of this "
                      "line was stored",
                      nstrings);

    res->string_fields += nstrings;
    P->labels[0].name = "__name__";
    P->labels[0].value = P->name;
    memcpy(P->name, msan, msanlen);
    for (size_t i = 0; i < P->nfields; i++) {
        const struct lp_field *f = &P->fields[i];
        if (!lp_numeric_live(f))
            continue;
        if (lp_is(f->key, f->keylen, "value")) {
            P->name[msanlen] = '\0';
        } else {
            P->name[msanlen] = '_';
            memcpy(P->name + msanlen + 1, f->san, f->sanlen);
            P->name[msanlen + 1 + f->sanlen] = '\0';
        }
        struct lp_sample smp = {P->labels, P->ntags + 1, t_ms, f->value, lineno};
        res->samples++;
        if (on_sample && (rc = on_sample(ctx, &smp)) != 0) {
            *stopped = true;
            return rc;
        }
    }
    return 0;
}

int lp_parse(const char *buf, size_t len, enum lp_precision prec, int64_t now_ms,
             lp_sample_fn on_sample, lp_error_fn on_error, void *ctx, struct lp_result *res)
{
    struct lp_result local;
    struct lp_parser *P;
    const char *p = buf, *end = buf + len;
    size_t lineno = 1;
    int rc = 0;

    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    if ((unsigned)prec > LP_H)
        prec = LP_NS;
    P = calloc(1, sizeof(*P));
    if (!P)
        return -1;

    while (p < end) {
        const char *s = p, *le, *e, *nl;
        bool stopped = false;

        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        if (s == end)
            break;
        if (*s == '\n' || *s == '#' || (*s == '\r' && (s + 1 == end || s[1] == '\n'))) {
            nl = memchr(s, '\n', (size_t)(end - s));
            p = nl ? nl + 1 : end;
            lineno++;
            continue;
        }
        le = lp_line_end(s, end);
        e = le;
        if (e > s && e[-1] == '\r')
            e--;
        res->lines++;
        if ((size_t)(e - s) > LP_MAX_LINE) {
            snprintf(P->msg, sizeof(P->msg), "line is longer than %d bytes", LP_MAX_LINE);
            rc = LP_LINE_BAD;
        } else {
            rc = lp_line(P, s, e, prec, now_ms, lineno, on_sample, ctx, res, &stopped);
        }
        if (stopped)
            break;
        if (rc == LP_LINE_OOM) {
            rc = -1;
            break;
        }
        if (rc == LP_LINE_BAD) {
            res->lines_bad++;
            if (on_error)
                on_error(ctx, lineno, P->msg);
            rc = 0;
        }
        /* Quoted strings may hold newlines: count them so later line numbers stay right. */
        for (const char *q = s; q < le && (nl = memchr(q, '\n', (size_t)(le - q))); q = nl + 1)
            lineno++;
        lineno++;
        p = le < end ? le + 1 : end;
    }

    free(P->arena);
    free(P->name);
    free(P->fields);
    free(P->refs);
    free(P);
    return rc;
}
