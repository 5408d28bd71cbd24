/*
 * promql_regex.c - a bound on the regular expressions a query may carry,
 * checked before regcomp sees them.
 *
 * glibc's regcomp is not linear like Go's regexp, which Prometheus uses:
 * it expands counted repetitions into copies ("(a{100}){100}" is 10,000
 * nodes), and its closure computation grows exponentially when an
 * expression that can match the empty string is repeated over a nested
 * repetition of another ("((a*)*){30}", ".*+++++"). One query could stall
 * or exhaust the process, so these are refused:
 *
 *  - what Go's regexp refuses too: a repetition, nested ones multiplied, of
 *    more than 1000 copies ("invalid repeat count"); a repetition operator
 *    stacked on another, except one "?" ("invalid nested repetition
 *    operator"); back-references \1..\9 ("invalid escape sequence");
 *  - beyond Go's rules: an expression of more than 200,000 nodes once
 *    expanded; a counted repetition of more than 100 copies of something
 *    that can match the empty string; and any counted repetition of
 *    something that can match the empty string and itself holds a
 *    repetition of such a thing ("regular expression too complex").
 *
 * Dashboards' expressions (alternations of names, ".*", "[0-9]+") are far
 * from these limits.
 */
#include "promql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RE_MAX_REPEAT          1000
#define RE_MAX_NULLABLE_REPEAT 100
#define RE_MAX_SIZE            200000 /* nodes after expanding repetitions */
#define RE_MAX_DEPTH           256

struct re_frame {
    double size;       /* expanded size of the group so far */
    double mult;       /* largest nested repetition product inside the group */
    bool alt_nullable; /* an alternative already closed by '|' matches "" */
    bool prefix_null;  /* the current alternative before its last atom matches "" */
    bool hot;          /* holds a repetition of something that matches "" */
    bool has_last;     /* there is a last atom (a repetition applies to it) */
    double last_size, last_mult;
    bool last_nullable, last_hot;
    int after_rep; /* 0: last thing was an atom; 1: a repetition; 2: and its lazy '?' */
};

static void frame_init(struct re_frame *f)
{
    memset(f, 0, sizeof(*f));
    f->prefix_null = true;
}

static void add_atom(struct re_frame *f, double size, double mult, bool nullable, bool hot)
{
    if (f->has_last)
        f->prefix_null = f->prefix_null && f->last_nullable;
    f->has_last = true;
    f->last_size = size;
    f->last_mult = mult;
    f->last_nullable = nullable;
    f->last_hot = hot;
    f->after_rep = 0;
    f->size += size;
    if (mult > f->mult)
        f->mult = mult;
    if (hot)
        f->hot = true;
}

static bool cur_nullable(const struct re_frame *f)
{
    return f->prefix_null && (!f->has_last || f->last_nullable);
}

/* Reads "{m}", "{m,}" or "{m,n}" at s; returns its length or 0 when it is not one. */
static size_t read_interval(const char *s, double *lo, double *count)
{
    const char *c = s + 1;
    double m = 0, n = -1;
    if (*c < '0' || *c > '9')
        return 0;
    while (*c >= '0' && *c <= '9') {
        m = m * 10 + (*c - '0');
        c++;
    }
    if (*c == ',') {
        c++;
        if (*c >= '0' && *c <= '9') {
            n = 0;
            while (*c >= '0' && *c <= '9') {
                n = n * 10 + (*c - '0');
                c++;
            }
        }
    }
    if (*c != '}')
        return 0;
    *lo = m;
    *count = n > m ? n : m;
    if (*count < 1)
        *count = 1;
    return (size_t)(c - s) + 1;
}

/* Applies a repetition of lo.."count" copies to the last atom; -1 with a message if refused. */
static int repeat(struct re_frame *f, double lo, double count, bool counted, char *err,
                  size_t errlen)
{
    if (!f->has_last)
        return 0; /* a leading operator: regcomp takes it literally or reports it */
    if (f->after_rep == 2 || (f->after_rep == 1 && !(count == 1 && lo == 0 && !counted))) {
        snprintf(err, errlen, "invalid nested repetition operator");
        return -1;
    }
    if (f->after_rep == 1) {
        /* A '?' after a repetition: Go's non-greedy form, nothing more. */
        f->after_rep = 2;
        return 0;
    }
    /* As in Go, only counted repetitions multiply (a star is one loop, not copies). */
    double mult = counted ? count * (f->last_mult > 1 ? f->last_mult : 1) : f->last_mult;
    if (mult > RE_MAX_REPEAT) {
        snprintf(err, errlen, "invalid repeat count");
        return -1;
    }
    if (counted && count > 1 && f->last_nullable &&
        (f->last_hot || count > RE_MAX_NULLABLE_REPEAT)) {
        snprintf(err, errlen, "regular expression too complex");
        return -1;
    }
    if (f->last_nullable) {
        f->last_hot = true;
        f->hot = true;
    }
    f->last_mult = mult;
    if (mult > f->mult)
        f->mult = mult;
    if (counted) {
        f->size += f->last_size * (count - 1);
        f->last_size *= count;
    }
    if (lo == 0)
        f->last_nullable = true;
    f->after_rep = 1;
    return 0;
}

int pq_regex_check(const char *re, char *err, size_t errlen)
{
    struct re_frame *st = malloc((RE_MAX_DEPTH + 1) * sizeof(*st));
    int top = 0, rc = 0;
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    frame_init(&st[0]);
    for (const char *c = re; *c && rc == 0; c++) {
        struct re_frame *f = &st[top];
        double lo = 0, count = 0;
        size_t len;
        switch (*c) {
        case '(':
            if (top == RE_MAX_DEPTH) {
                snprintf(err, errlen, "regular expression nests too deeply");
                rc = -1;
                break;
            }
            frame_init(&st[++top]);
            break;
        case ')': {
            if (top == 0) {
                add_atom(f, 1, 1, false, false); /* regcomp reports or takes it */
                break;
            }
            struct re_frame *g = &st[top--];
            add_atom(&st[top], g->size, g->mult, g->alt_nullable || cur_nullable(g), g->hot);
            break;
        }
        case '|':
            f->alt_nullable = f->alt_nullable || cur_nullable(f);
            f->prefix_null = true;
            f->has_last = false;
            f->after_rep = 0;
            break;
        case '*':
            rc = repeat(f, 0, 2, false, err, errlen);
            break;
        case '+':
            rc = repeat(f, 1, 2, false, err, errlen);
            break;
        case '?':
            rc = repeat(f, 0, 1, false, err, errlen);
            break;
        case '{':
            len = read_interval(c, &lo, &count);
            if (len == 0) {
                add_atom(f, 1, 1, false, false);
                break;
            }
            rc = repeat(f, lo, count, true, err, errlen);
            c += len - 1;
            break;
        case '\\':
            if (c[1] >= '1' && c[1] <= '9') {
                snprintf(err, errlen, "invalid escape sequence \\%c", c[1]);
                rc = -1;
                break;
            }
            if (c[1])
                c++;
            add_atom(f, 1, 1, false, false);
            break;
        case '^':
        case '$':
            add_atom(f, 1, 1, true, false);
            break;
        case '[': {
            /* A bracket expression is one atom; "]" first is a member, as are [:class:]. */
            const char *e = c + 1;
            if (*e == '^')
                e++;
            if (*e == ']')
                e++;
            while (*e && *e != ']') {
                if (*e == '[' && (e[1] == ':' || e[1] == '.' || e[1] == '=')) {
                    const char *close = strchr(e + 2, e[1]);
                    e = close && close[1] == ']' ? close + 2 : e + 1;
                } else
                    e++;
            }
            c = *e == ']' ? e : e - 1;
            add_atom(f, 1, 1, false, false);
            break;
        }
        default:
            add_atom(f, 1, 1, false, false);
            break;
        }
        if (rc == 0 && st[top].size > RE_MAX_SIZE) {
            snprintf(err, errlen, "regular expression too large");
            rc = -1;
        }
    }
    double total = 0;
    for (int i = top; rc == 0 && i >= 0; i--)
        total += st[i].size;
    if (rc == 0 && total > RE_MAX_SIZE) {
        snprintf(err, errlen, "regular expression too large");
        rc = -1;
    }
    free(st);
    return rc;
}
