/*
 * expfmt.c - Prometheus text exposition 0.0.4 and OpenMetrics 1.0 (see
 * expfmt.h).
 *
 * Where the two specifications leave room, this follows what Prometheus's
 * own scrape parsers accept, so that a target Prometheus can scrape can be
 * scraped here too:
 *
 * Text format (0.0.4):
 * - Blank lines are skipped; leading and trailing blanks (spaces, tabs) are
 *   ignored, and so is a "\r" before the newline. Tokens are separated by
 *   blanks, which may also surround '{', '=', ',' and '}' in a label set.
 *   The last line need not end with a newline.
 * - "# HELP name text" and "# TYPE name type" (counter, gauge, histogram,
 *   summary, untyped) need blanks after the keyword; any other line starting
 *   with '#' is a comment. HELP text is not interpreted.
 * - A label set may end with a comma. Label values unescape \\, \" and \n;
 *   another escape is kept as written (backslash included), as Prometheus
 *   does. A raw newline cannot occur in a label value (it ends the line).
 * - Timestamps are integers of milliseconds with an optional sign.
 *
 * OpenMetrics 1.0 (openmetrics = true):
 * - Single spaces between tokens, no leading or trailing blanks, no blank
 *   lines, "\n" only. Lines starting with '#' must be "# HELP", "# TYPE",
 *   "# UNIT" or "# EOF"; HELP text may only use the escapes \\, \" and \n;
 *   the types are counter, gauge, histogram, gaugehistogram, stateset, info,
 *   summary and unknown; a non-empty UNIT must be a suffix of its family's
 *   name ("_" unit). Label values too accept only those three escapes.
 * - Timestamps are seconds with an optional fraction (or exponent),
 *   converted exactly to milliseconds rounding toward minus infinity.
 * - An exemplar (" # {labels} value [timestamp]") is checked for syntax and
 *   for the 128-character limit on its labels, then skipped.
 * - The body must end with "# EOF" (optionally followed by one newline);
 *   anything after it is an error, and so is its absence.
 * - A label set may end with a comma (Prometheus accepts it).
 *
 * Both:
 * - Values: pn_float (decimal, Inf, Infinity, NaN in any case; no
 *   hexadecimal and no '_' separators, like Prometheus).
 * - A TYPE line declares the type of its family for the rest of the body; a
 *   later TYPE line for the same name replaces it (Prometheus accepts
 *   repeated descriptors, and real exporters produce them: client_python
 *   turns Go's go_memstats_alloc_bytes gauge and go_memstats_alloc_bytes_total
 *   counter into two families named go_memstats_alloc_bytes).
 * - A sample's family is its own name when a TYPE was given for it;
 *   otherwise its name minus a suffix that the family's type uses (_total
 *   and _created for counters; _bucket, _count, _sum, _created for
 *   histograms; _count, _sum, _created for summaries; _bucket, _gcount,
 *   _gsum for gauge histograms; _info for info). No family: untyped.
 * - Bounds, each an error naming the metric: metric names up to
 *   EXPFMT_MAX_METRIC_NAME bytes, label names up to LABELS_MAX_NAME, label
 *   values up to LABELS_MAX_VALUE bytes of valid UTF-8 without NUL, at most
 *   LABELS_MAX_PAIRS labels besides the name. A label written twice, or a
 *   label named __name__, is an error.
 *
 * Speed: nothing is allocated per line; the scratch space grows only for a
 * line longer than any before it and the family table only on TYPE lines.
 * Consecutive samples of one family (the usual layout) reuse the last type
 * lookup.
 */
#include "expfmt.h"

#include "parse_num.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The metric name is the value of __name__, so it shares the bound of label values. */
#define EXPFMT_MAX_METRIC_NAME LABELS_MAX_VALUE

/* OpenMetrics: the label names and values of an exemplar, in code points. */
#define EXPFMT_MAX_EXEMPLAR_RUNES 128

struct ef_family {
    uint64_t hash; /* 0: empty slot */
    size_t off;    /* name in ef_parser.names */
    size_t len;
    enum expfmt_type type;
};

struct ef_parser {
    bool om;
    size_t line;
    char *err;
    size_t errlen;
    char *arena; /* strings of the current line */
    size_t arena_cap, arena_used;
    struct tsdb_label labels[LABELS_MAX_PAIRS + 1];
    size_t lens[LABELS_MAX_PAIRS + 1]; /* lengths of the label names */
    size_t nlabels;
    struct ef_family *tab; /* open addressing, linear probing */
    size_t tab_cap, tab_len;
    char *names; /* family names, back to back */
    size_t names_len, names_cap;
    bool cache_ok; /* the last looked-up sample name and its type */
    size_t cache_len;
    enum expfmt_type cache_type;
    char cache_name[EXPFMT_MAX_METRIC_NAME];
};

static int ef_err(struct ef_parser *P, const char *fmt, ...)
{
    if (P->err && P->errlen > 0) {
        va_list ap;
        int n = snprintf(P->err, P->errlen, "line %zu: ", P->line);
        if (n >= 0 && (size_t)n < P->errlen) {
            va_start(ap, fmt);
            vsnprintf(P->err + n, P->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* A quoted, printable form of a token for messages (q must hold 200 bytes). */
static const char *ef_q(char *q, const char *s, size_t n)
{
    return pn_quote(q, 200, s, n, 48);
}

static bool ef_grow(void **buf, size_t *cap, size_t need, size_t elem)
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

/* Character classes of names: one table lookup per byte on the hot path. */
#define EF_LABEL_FIRST  1 /* [a-zA-Z_] */
#define EF_LABEL_CHAR   2 /* [a-zA-Z0-9_] */
#define EF_METRIC_FIRST 4 /* [a-zA-Z_:] */
#define EF_METRIC_CHAR  8 /* [a-zA-Z0-9_:] */

static unsigned char ef_cls[256];
static pthread_once_t ef_cls_once = PTHREAD_ONCE_INIT;

static void ef_cls_init(void)
{
    for (int c = 0; c < 256; c++) {
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        ef_cls[c] = (unsigned char)((alpha ? EF_LABEL_FIRST | EF_METRIC_FIRST : 0) |
                                    (alpha || digit ? EF_LABEL_CHAR | EF_METRIC_CHAR : 0) |
                                    (c == ':' ? EF_METRIC_FIRST | EF_METRIC_CHAR : 0));
    }
}

static bool ef_metric_first(char c)
{
    return ef_cls[(unsigned char)c] & EF_METRIC_FIRST;
}

static bool ef_metric_char(char c)
{
    return ef_cls[(unsigned char)c] & EF_METRIC_CHAR;
}

static bool ef_label_first(char c)
{
    return ef_cls[(unsigned char)c] & EF_LABEL_FIRST;
}

static bool ef_label_char(char c)
{
    return ef_cls[(unsigned char)c] & EF_LABEL_CHAR;
}

static bool ef_blank(char c)
{
    return c == ' ' || c == '\t';
}

static const char *ef_skip_blanks(const char *p, const char *e)
{
    while (p < e && ef_blank(*p))
        p++;
    return p;
}

static bool ef_is(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

/* --- the family table --- */

static uint64_t ef_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

static struct ef_family *ef_find(struct ef_parser *P, const char *name, size_t n)
{
    if (P->tab_len == 0)
        return NULL;
    uint64_t h = ef_hash(name, n);
    for (size_t i = h & (P->tab_cap - 1);; i = (i + 1) & (P->tab_cap - 1)) {
        struct ef_family *f = &P->tab[i];
        if (f->hash == 0)
            return NULL;
        if (f->hash == h && f->len == n && memcmp(P->names + f->off, name, n) == 0)
            return f;
    }
}

static int ef_set_type(struct ef_parser *P, const char *name, size_t n, enum expfmt_type type)
{
    struct ef_family *f = ef_find(P, name, n);

    P->cache_ok = false;
    if (f) {
        f->type = type;
        return 0;
    }
    if ((P->tab_len + 1) * 2 > P->tab_cap) {
        size_t ncap = P->tab_cap ? P->tab_cap * 2 : 64;
        struct ef_family *nt = calloc(ncap, sizeof(*nt));
        if (!nt)
            return -1;
        for (size_t i = 0; i < P->tab_cap; i++) {
            if (P->tab[i].hash == 0)
                continue;
            size_t j = P->tab[i].hash & (ncap - 1);
            while (nt[j].hash != 0)
                j = (j + 1) & (ncap - 1);
            nt[j] = P->tab[i];
        }
        free(P->tab);
        P->tab = nt;
        P->tab_cap = ncap;
    }
    if (!ef_grow((void **)&P->names, &P->names_cap, P->names_len + n, 1))
        return -1;
    memcpy(P->names + P->names_len, name, n);
    uint64_t h = ef_hash(name, n);
    size_t i = h & (P->tab_cap - 1);
    while (P->tab[i].hash != 0)
        i = (i + 1) & (P->tab_cap - 1);
    P->tab[i] = (struct ef_family){h, P->names_len, n, type};
    P->names_len += n;
    P->tab_len++;
    return 0;
}

#define EF_BIT(t) (1u << (t))

static enum expfmt_type ef_lookup_type(struct ef_parser *P, const char *name, size_t n)
{
    static const struct {
        const char *suffix;
        size_t len;
        unsigned types;
    } sfx[] = {
        {"_total", 6, EF_BIT(EXPFMT_COUNTER)},
        {"_created", 8, EF_BIT(EXPFMT_COUNTER) | EF_BIT(EXPFMT_HISTOGRAM) | EF_BIT(EXPFMT_SUMMARY)},
        {"_bucket", 7, EF_BIT(EXPFMT_HISTOGRAM) | EF_BIT(EXPFMT_GAUGEHISTOGRAM)},
        {"_count", 6, EF_BIT(EXPFMT_HISTOGRAM) | EF_BIT(EXPFMT_SUMMARY)},
        {"_sum", 4, EF_BIT(EXPFMT_HISTOGRAM) | EF_BIT(EXPFMT_SUMMARY)},
        {"_gcount", 7, EF_BIT(EXPFMT_GAUGEHISTOGRAM)},
        {"_gsum", 5, EF_BIT(EXPFMT_GAUGEHISTOGRAM)},
        {"_info", 5, EF_BIT(EXPFMT_INFO)},
    };
    const struct ef_family *f = ef_find(P, name, n);

    if (f)
        return f->type;
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        if (n <= sfx[i].len || memcmp(name + n - sfx[i].len, sfx[i].suffix, sfx[i].len) != 0)
            continue;
        f = ef_find(P, name, n - sfx[i].len);
        if (f && (EF_BIT(f->type) & sfx[i].types))
            return f->type;
    }
    return EXPFMT_UNTYPED;
}

static enum expfmt_type ef_type_of(struct ef_parser *P, const char *name, size_t n)
{
    if (P->cache_ok && n == P->cache_len && memcmp(name, P->cache_name, n) == 0)
        return P->cache_type;
    P->cache_type = ef_lookup_type(P, name, n);
    memcpy(P->cache_name, name, n);
    P->cache_len = n;
    P->cache_ok = true;
    return P->cache_type;
}

/* --- samples --- */

/* Length in code points of valid UTF-8. */
static size_t ef_runes(const char *s, size_t n)
{
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += ((unsigned char)s[i] & 0xc0) != 0x80;
    return r;
}

/*
 * Parses a label set after its '{' up to and including the '}'. For a
 * sample (exemplar false) the labels go to P->labels; an exemplar's are
 * only checked. mname names the metric in messages.
 */
static int ef_labels(struct ef_parser *P, const char **pp, const char *e, const char *mname,
                     bool exemplar)
{
    const char *p = *pp;
    size_t runes = 0;
    char q1[200], q2[200];

    for (;;) {
        if (!P->om)
            p = ef_skip_blanks(p, e);
        if (p >= e)
            return ef_err(P, "missing '}' after the labels of metric %s", mname);
        if (*p == '}') {
            p++;
            break;
        }
        const char *ln = p;
        if (!ef_label_first(*p))
            return ef_err(P, "invalid label name starting at \"%s\" for metric %s",
                          ef_q(q1, p, (size_t)(e - p)), mname);
        while (p < e && ef_label_char(*p))
            p++;
        size_t lnlen = (size_t)(p - ln);
        if (lnlen > LABELS_MAX_NAME)
            return ef_err(P, "label name \"%s\" of metric %s is longer than %d bytes",
                          ef_q(q1, ln, lnlen), mname, LABELS_MAX_NAME);
        if (!P->om)
            p = ef_skip_blanks(p, e);
        if (p >= e || *p != '=')
            return ef_err(P, "expected '=' after label name \"%s\" of metric %s",
                          ef_q(q1, ln, lnlen), mname);
        p++;
        if (!P->om)
            p = ef_skip_blanks(p, e);
        if (p >= e || *p != '"')
            return ef_err(P, "expected '\"' to start the value of label \"%s\" of metric %s",
                          ef_q(q1, ln, lnlen), mname);
        p++;

        char *name = P->arena + P->arena_used;
        memcpy(name, ln, lnlen);
        name[lnlen] = '\0';
        char *val = name + lnlen + 1, *o = val;
        while (p < e && *p != '"') {
            if (*p != '\\') {
                *o++ = *p++;
                continue;
            }
            if (p + 1 >= e) {
                p = e; /* a backslash at the end of the line escapes nothing */
                break;
            }
            switch (p[1]) {
            case '\\':
                *o++ = '\\';
                break;
            case '"':
                *o++ = '"';
                break;
            case 'n':
                *o++ = '\n';
                break;
            default:
                if (P->om)
                    return ef_err(P, "invalid escape \"%s\" in the value of label %s of metric %s",
                                  ef_q(q1, p, 2), name, mname);
                *o++ = '\\';
                *o++ = p[1];
                break;
            }
            p += 2;
        }
        if (p >= e)
            return ef_err(P, "unterminated value of label %s of metric %s", name, mname);
        p++;
        size_t vlen = (size_t)(o - val);
        *o = '\0';
        P->arena_used += lnlen + 1 + vlen + 1;
        if (vlen > LABELS_MAX_VALUE)
            return ef_err(P, "the value of label %s of metric %s is longer than %d bytes", name,
                          mname, LABELS_MAX_VALUE);
        if (memchr(val, '\0', vlen) || !pn_utf8_valid(val, vlen))
            return ef_err(P, "the value of label %s of metric %s is not valid UTF-8: \"%s\"", name,
                          mname, ef_q(q2, val, vlen));
        if (exemplar) {
            runes += lnlen + ef_runes(val, vlen);
            if (runes > EXPFMT_MAX_EXEMPLAR_RUNES)
                return ef_err(P, "the exemplar labels of metric %s are longer than %d characters",
                              mname, EXPFMT_MAX_EXEMPLAR_RUNES);
        } else {
            if (ef_is(name, lnlen, "__name__"))
                return ef_err(P, "metric %s has a label __name__ (the name goes before the '{')",
                              mname);
            for (size_t i = 1; i < P->nlabels; i++)
                if (P->lens[i] == lnlen && memcmp(P->labels[i].name, name, lnlen) == 0)
                    return ef_err(P, "label %s appears twice in metric %s", name, mname);
            if (P->nlabels > LABELS_MAX_PAIRS)
                return ef_err(P, "metric %s has more than %d labels", mname, LABELS_MAX_PAIRS);
            P->labels[P->nlabels].name = name;
            P->labels[P->nlabels].value = val;
            P->lens[P->nlabels] = lnlen;
            P->nlabels++;
        }

        if (!P->om)
            p = ef_skip_blanks(p, e);
        if (p >= e)
            return ef_err(P, "missing '}' after the labels of metric %s", mname);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}') {
            p++;
            break;
        }
        return ef_err(P, "expected ',' or '}' after the value of label %s of metric %s", name,
                      mname);
    }
    *pp = p;
    return 0;
}

/* OpenMetrics: " # {labels} value [timestamp]" after a sample, starting at the '#'. */
static int ef_exemplar(struct ef_parser *P, const char *p, const char *e, const char *mname)
{
    char q1[200];
    const char *v;
    double d;
    int64_t ts;
    int rc;

    if (e - p < 3 || p[1] != ' ' || p[2] != '{')
        return ef_err(P, "invalid exemplar after metric %s (expected \"# {\")", mname);
    p += 3;
    if ((rc = ef_labels(P, &p, e, mname, true)) != 0)
        return rc;
    if (p >= e || *p != ' ')
        return ef_err(P, "missing value in the exemplar of metric %s", mname);
    for (v = ++p; p < e && *p != ' ';)
        p++;
    if (pn_float(v, (size_t)(p - v), &d) != PN_OK)
        return ef_err(P, "invalid exemplar value \"%s\" for metric %s",
                      ef_q(q1, v, (size_t)(p - v)), mname);
    if (p < e) {
        for (v = ++p; p < e && *p != ' ';)
            p++;
        if (pn_seconds_to_ms(v, (size_t)(p - v), &ts) != PN_OK)
            return ef_err(P, "invalid exemplar timestamp \"%s\" for metric %s",
                          ef_q(q1, v, (size_t)(p - v)), mname);
        if (p < e)
            return ef_err(P, "unexpected text after the exemplar of metric %s", mname);
    }
    return 0;
}

static int ef_sample(struct ef_parser *P, const char *s, const char *e, expfmt_sample_fn on_sample,
                     void *ctx)
{
    const char *p = s, *v;
    char q1[200];
    struct expfmt_sample smp = {0};
    int rc;

    if (!ef_metric_first(*p))
        return ef_err(P, "invalid metric name at \"%s\"", ef_q(q1, s, (size_t)(e - s)));
    while (p < e && ef_metric_char(*p))
        p++;
    size_t nlen = (size_t)(p - s);
    if (nlen > EXPFMT_MAX_METRIC_NAME)
        return ef_err(P, "metric name \"%s\" is longer than %d bytes", ef_q(q1, s, nlen),
                      EXPFMT_MAX_METRIC_NAME);
    /* Each label costs at most its raw length plus two NULs; the name its length plus one. */
    if (!ef_grow((void **)&P->arena, &P->arena_cap, 2 * (size_t)(e - s) + 64, 1))
        return ef_err(P, "out of memory");
    char *name = P->arena;
    memcpy(name, s, nlen);
    name[nlen] = '\0';
    P->arena_used = nlen + 1;
    P->labels[0].name = "__name__";
    P->labels[0].value = name;
    P->lens[0] = 8;
    P->nlabels = 1;

    const char *after_name = p;
    if (!P->om)
        p = ef_skip_blanks(p, e);
    bool braces = p < e && *p == '{';
    if (braces) {
        p++;
        if ((rc = ef_labels(P, &p, e, name, false)) != 0)
            return rc;
    }
    if (P->om) {
        if (p >= e || *p != ' ')
            return p < e && !braces
                       ? ef_err(P, "invalid metric name \"%s\"", ef_q(q1, s, (size_t)(e - s)))
                       : ef_err(P, "expected a space and a value after metric %s", name);
        p++;
    } else {
        p = ef_skip_blanks(p, e);
        if (!braces && p == after_name && p < e)
            return ef_err(P, "invalid metric name \"%s\"", ef_q(q1, s, (size_t)(e - s)));
    }
    for (v = p; p < e && *p != ' ' && (P->om || *p != '\t');)
        p++;
    if (p == v)
        return ef_err(P, "missing value for metric %s", name);
    if (pn_float(v, (size_t)(p - v), &smp.value) != PN_OK)
        return ef_err(P, "invalid value \"%s\" for metric %s", ef_q(q1, v, (size_t)(p - v)), name);

    if (P->om) {
        if (p < e) {
            p++; /* the space */
            if (p >= e)
                return ef_err(P, "trailing space after the value of metric %s", name);
            if (*p != '#') {
                for (v = p; p < e && *p != ' ';)
                    p++;
                if (pn_seconds_to_ms(v, (size_t)(p - v), &smp.t_ms) != PN_OK)
                    return ef_err(P, "invalid timestamp \"%s\" for metric %s",
                                  ef_q(q1, v, (size_t)(p - v)), name);
                smp.has_t = true;
                if (p < e) {
                    p++;
                    if (p >= e || *p != '#')
                        return ef_err(P, "unexpected text after the timestamp of metric %s: \"%s\"",
                                      name, ef_q(q1, p, (size_t)(e - p)));
                }
            }
            if (p < e && (rc = ef_exemplar(P, p, e, name)) != 0)
                return rc;
        }
    } else {
        p = ef_skip_blanks(p, e);
        if (p < e) {
            for (v = p; p < e && !ef_blank(*p);)
                p++;
            if (pn_int64(v, (size_t)(p - v), true, &smp.t_ms) != PN_OK)
                return ef_err(P, "invalid timestamp \"%s\" for metric %s",
                              ef_q(q1, v, (size_t)(p - v)), name);
            smp.has_t = true;
            p = ef_skip_blanks(p, e);
            if (p < e)
                return ef_err(P, "unexpected text after the timestamp of metric %s: \"%s\"", name,
                              ef_q(q1, p, (size_t)(e - p)));
        }
    }

    smp.labels = P->labels;
    smp.n_labels = P->nlabels;
    smp.type = ef_type_of(P, name, nlen);
    smp.line = P->line;
    return on_sample ? on_sample(ctx, &smp) : 0;
}

/* --- descriptors and comments --- */

/* Reads a metric name at *pp for a HELP/TYPE/UNIT line. */
static int ef_desc_name(struct ef_parser *P, const char **pp, const char *e, const char *what,
                        const char **name, size_t *len)
{
    const char *p = *pp;
    char q1[200];

    *name = p;
    if (p < e && ef_metric_first(*p))
        while (p < e && ef_metric_char(*p))
            p++;
    *len = (size_t)(p - *name);
    if (*len == 0 || (p < e && !ef_blank(*p)))
        return ef_err(P, "invalid metric name in %s line: \"%s\"", what,
                      ef_q(q1, *name, (size_t)(e - *name)));
    if (*len > EXPFMT_MAX_METRIC_NAME)
        return ef_err(P, "metric name in %s line is longer than %d bytes", what,
                      EXPFMT_MAX_METRIC_NAME);
    *pp = p;
    return 0;
}

static int ef_type_word(struct ef_parser *P, const char *t, size_t n, const char *name, size_t nlen)
{
    static const struct {
        const char *word;
        enum expfmt_type type;
        bool text, om;
    } types[] = {
        {"counter", EXPFMT_COUNTER, true, true},
        {"gauge", EXPFMT_GAUGE, true, true},
        {"histogram", EXPFMT_HISTOGRAM, true, true},
        {"summary", EXPFMT_SUMMARY, true, true},
        {"untyped", EXPFMT_UNTYPED, true, false},
        {"unknown", EXPFMT_UNTYPED, false, true},
        {"gaugehistogram", EXPFMT_GAUGEHISTOGRAM, false, true},
        {"stateset", EXPFMT_STATESET, false, true},
        {"info", EXPFMT_INFO, false, true},
    };
    char q1[200], q2[200];

    if (n == 0)
        return ef_err(P, "TYPE line for %s has no type", ef_q(q1, name, nlen));
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (!(P->om ? types[i].om : types[i].text) || !ef_is(t, n, types[i].word))
            continue;
        if (ef_set_type(P, name, nlen, types[i].type) != 0)
            return ef_err(P, "out of memory");
        return 0;
    }
    return ef_err(P, "invalid metric type \"%s\" for %s", ef_q(q1, t, n), ef_q(q2, name, nlen));
}

/* Text format: a line starting with '#', from just after it. */
static int ef_text_comment(struct ef_parser *P, const char *p, const char *e)
{
    const char *kw, *name, *t;
    size_t nlen;
    int rc;

    if (p >= e || !ef_blank(*p))
        return 0;
    kw = p = ef_skip_blanks(p, e);
    while (p < e && !ef_blank(*p))
        p++;
    bool help = ef_is(kw, (size_t)(p - kw), "HELP"), type = ef_is(kw, (size_t)(p - kw), "TYPE");
    if ((!help && !type) || p >= e)
        return 0; /* a comment (the line's trailing blanks are already cut) */
    p = ef_skip_blanks(p, e);
    if ((rc = ef_desc_name(P, &p, e, help ? "HELP" : "TYPE", &name, &nlen)) != 0)
        return rc;
    if (help)
        return 0;
    t = p = ef_skip_blanks(p, e);
    while (p < e && !ef_blank(*p))
        p++;
    if (ef_skip_blanks(p, e) != e) {
        char q1[200];
        return ef_err(P, "invalid metric type \"%s\" for %.*s", ef_q(q1, t, (size_t)(e - t)),
                      (int)nlen, name);
    }
    return ef_type_word(P, t, (size_t)(p - t), name, nlen);
}

/* OpenMetrics: a line starting with '#'. Sets *eof on "# EOF". */
static int ef_om_comment(struct ef_parser *P, const char *p, const char *e, bool *eof)
{
    const char *name, *t;
    size_t nlen, n = (size_t)(e - p);
    char q1[200], q2[200];

    if (ef_is(p, n, "# EOF")) {
        *eof = true;
        return 0;
    }
    bool help = n >= 7 && memcmp(p, "# HELP ", 7) == 0;
    bool type = n >= 7 && memcmp(p, "# TYPE ", 7) == 0;
    bool unit = n >= 7 && memcmp(p, "# UNIT ", 7) == 0;
    if (!help && !type && !unit)
        return ef_err(P,
                      "invalid line \"%s\": OpenMetrics allows only # HELP, # TYPE, # UNIT and "
                      "# EOF lines to start with '#'",
                      ef_q(q1, p, n));
    const char *what = help ? "HELP" : (type ? "TYPE" : "UNIT");
    p += 7;
    /* OpenMetrics separates with single spaces: a tab ends the name as an invalid character. */
    name = p;
    while (p < e && ef_metric_char(*p))
        p++;
    nlen = (size_t)(p - name);
    if (nlen == 0 || !ef_metric_first(*name) || (p < e && *p != ' '))
        return ef_err(P, "invalid metric name in %s line: \"%s\"", what,
                      ef_q(q1, name, (size_t)(e - name)));
    if (nlen > EXPFMT_MAX_METRIC_NAME)
        return ef_err(P, "metric name in %s line is longer than %d bytes", what,
                      EXPFMT_MAX_METRIC_NAME);
    if (p < e)
        p++;
    if (help) {
        for (; p < e; p++) {
            if (*p != '\\')
                continue;
            if (p + 1 >= e || (p[1] != '\\' && p[1] != '"' && p[1] != 'n'))
                return ef_err(P, "invalid escape \"%s\" in the HELP text of %s",
                              ef_q(q1, p, p + 1 < e ? 2 : 1), ef_q(q2, name, nlen));
            p++;
        }
        return 0;
    }
    if (type) {
        if (memchr(p, ' ', (size_t)(e - p)))
            return ef_err(P, "invalid metric type \"%s\" for %s", ef_q(q1, p, (size_t)(e - p)),
                          ef_q(q2, name, nlen));
        return ef_type_word(P, p, (size_t)(e - p), name, nlen);
    }
    for (t = p; p < e && ef_metric_char(*p);)
        p++;
    if (p < e)
        return ef_err(P, "invalid unit \"%s\" for %s", ef_q(q1, t, (size_t)(e - t)),
                      ef_q(q2, name, nlen));
    size_t ulen = (size_t)(e - t);
    if (ulen > 0 && (nlen <= ulen + 1 || name[nlen - ulen - 1] != '_' ||
                     memcmp(name + nlen - ulen, t, ulen) != 0))
        return ef_err(P, "unit \"%s\" is not a suffix of the metric name %s", ef_q(q1, t, ulen),
                      ef_q(q2, name, nlen));
    return 0;
}

int expfmt_parse(const char *buf, size_t len, bool openmetrics, expfmt_sample_fn on_sample,
                 void *ctx, char *err, size_t errlen)
{
    struct ef_parser *P;
    const char *p = buf, *end = buf + len;
    bool eof = false;
    int rc = 0;

    if (err && errlen > 0)
        err[0] = '\0';
    pthread_once(&ef_cls_once, ef_cls_init);
    P = calloc(1, sizeof(*P));
    if (!P) {
        if (err && errlen > 0)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    P->om = openmetrics;
    P->err = err;
    P->errlen = errlen;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *s = p, *e = nl ? nl : end;
        p = nl ? nl + 1 : end;
        P->line++;
        if (P->om) {
            if (s == e)
                rc = ef_err(P, "empty line (OpenMetrics does not allow blank lines)");
            else if (*s == '#')
                rc = ef_om_comment(P, s, e, &eof);
            else
                rc = ef_sample(P, s, e, on_sample, ctx);
            if (rc == 0 && eof && p < end) {
                P->line++;
                rc = ef_err(P, "unexpected content after \"# EOF\"");
            }
            if (rc != 0 || eof)
                break;
            continue;
        }
        while (e > s && (ef_blank(e[-1]) || e[-1] == '\r'))
            e--;
        s = ef_skip_blanks(s, e);
        if (s == e)
            continue;
        rc = *s == '#' ? ef_text_comment(P, s + 1, e) : ef_sample(P, s, e, on_sample, ctx);
        if (rc != 0)
            break;
    }
    if (rc == 0 && P->om && !eof) {
        P->line++;
        rc = ef_err(P, "missing \"# EOF\" at the end of the OpenMetrics body");
    }

    free(P->arena);
    free(P->tab);
    free(P->names);
    free(P);
    return rc;
}

bool expfmt_is_openmetrics(const char *content_type)
{
    static const char mt[] = "application/openmetrics-text";
    const char *p = content_type;

    if (!p)
        return false;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, mt, sizeof(mt) - 1) != 0)
        return false;
    p += sizeof(mt) - 1;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0' || *p == ';';
}
