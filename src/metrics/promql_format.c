/*
 * promql_format.c - text out of PromQL: a parsed query printed back in
 * Prometheus's canonical form (its String() methods), sample values as
 * Prometheus writes them, durations, and the names of types and operators.
 */
#include "promql_int.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pq_type_name(enum promql_type t)
{
    switch (t) {
    case PROMQL_SCALAR:
        return "scalar";
    case PROMQL_VECTOR:
        return "instant vector";
    case PROMQL_MATRIX:
        return "range vector";
    case PROMQL_STRING:
        return "string";
    }
    return "?";
}

const char *pq_op_str(enum pq_op op)
{
    static const char *const names[] = {"+",  "-", "*", "/",  "%",  "^",   "atan2", "==",
                                        "!=", ">", "<", ">=", "<=", "and", "or",    "unless"};
    return (size_t)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

const char *pq_agg_str(enum pq_agg a)
{
    static const char *const names[] = {"sum",  "avg",     "count",        "min",
                                        "max",  "group",   "stddev",       "stdvar",
                                        "topk", "bottomk", "count_values", "quantile"};
    return (size_t)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

bool pq_op_is_comparison(enum pq_op op)
{
    return op >= PQ_EQLC && op <= PQ_LTE;
}

bool pq_op_is_set(enum pq_op op)
{
    return op == PQ_AND || op == PQ_OR || op == PQ_UNLESS;
}

/*
 * The shortest decimal digits that read back as v, the way Go's
 * strconv.FormatFloat(v, fmt, -1, 64) picks them. A correctly rounded
 * 15-digit decimal is always at least as close as any other of up to 15
 * digits (their spacing exceeds a double's), so if it reads back, its digits
 * without trailing zeros are the shortest; otherwise 16 or 17 digits, correctly
 * rounded, are what Go prints.
 */
static void shortest_digits(double v, char digits[24], int *ndigits, int *exp10)
{
    char buf[40];
    /* Subnormal numbers have fewer digits of precision: search from one digit up. */
    int first = v < DBL_MIN ? 1 : 15;
    for (int prec = first; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
        if (prec == 17 || strtod(buf, NULL) == v)
            break;
    }
    /* buf is "d.ddddde[+-]XX" (v is finite and positive here). */
    int n = 0;
    const char *c = buf;
    for (; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9')
            digits[n++] = *c;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    *ndigits = n;
    *exp10 = atoi(c + 1);
}

void pq_format_float(double v, char fmt, char buf[400])
{
    if (isnan(v)) {
        strcpy(buf, "NaN");
        return;
    }
    if (isinf(v)) {
        strcpy(buf, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char *o = buf;
    if (signbit(v)) {
        *o++ = '-';
        v = -v;
    }
    if (v == 0) {
        if (fmt == 'e')
            strcpy(o, "0e+00");
        else
            strcpy(o, "0");
        return;
    }
    char d[24];
    int n, e;
    shortest_digits(v, d, &n, &e);
    if (fmt == 'e') {
        *o++ = d[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)n - 1);
            o += n - 1;
        }
        sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
        return;
    }
    /* 'f': the digits d[0..n) stand for 0.d * 10^(e+1). */
    int point = e + 1; /* digits before the decimal point */
    if (point <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -point; i++)
            *o++ = '0';
        memcpy(o, d, (size_t)n);
        o += n;
    } else {
        for (int i = 0; i < point; i++)
            *o++ = i < n ? d[i] : '0';
        if (n > point) {
            *o++ = '.';
            memcpy(o, d + point, (size_t)(n - point));
            o += n - point;
        }
    }
    *o = '\0';
}

void promql_format_value(double v, char buf[32])
{
    /*
     * Prometheus's API writes a sample with strconv.AppendFloat(v, f, -1,
     * 64), where f is 'e' below 1e-6 and from 1e21 on and 'f' otherwise,
     * which also bounds the text to well under 32 bytes.
     */
    char tmp[400];
    double a = fabs(v);
    pq_format_float(v, (a != 0 && (a < 1e-6 || a >= 1e21)) ? 'e' : 'f', tmp);
    snprintf(buf, 32, "%s", tmp);
}

void pq_format_duration(int64_t ms, char buf[64])
{
    static const struct {
        const char *unit;
        int64_t mult;
        bool exact;
    } units[] = {{"y", 365LL * 24 * 3600 * 1000, true},
                 {"w", 7LL * 24 * 3600 * 1000, true},
                 {"d", 24LL * 3600 * 1000, false},
                 {"h", 3600LL * 1000, false},
                 {"m", 60LL * 1000, false},
                 {"s", 1000, false},
                 {"ms", 1, false}};
    size_t o = 0;
    if (ms == 0) {
        strcpy(buf, "0s");
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        /* Years and weeks only when they divide evenly: 90d reads better than 12w6d. */
        if (units[i].exact && ms % units[i].mult != 0)
            continue;
        int64_t v = ms / units[i].mult;
        if (v > 0) {
            o += (size_t)snprintf(buf + o, 64 - o, "%lld%s", (long long)v, units[i].unit);
            ms -= v * units[i].mult;
        }
    }
}

/* ---- the canonical query text ---- */

struct sbuf {
    char *s;
    size_t n, cap;
    bool failed;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->failed = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* Go's strconv.Quote: a double-quoted literal the lexer reads back as s. */
static void sb_quote(struct sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        switch (*c) {
        case '"':
            sb_str(b, "\\\"");
            break;
        case '\\':
            sb_str(b, "\\\\");
            break;
        case '\a':
            sb_str(b, "\\a");
            break;
        case '\b':
            sb_str(b, "\\b");
            break;
        case '\f':
            sb_str(b, "\\f");
            break;
        case '\n':
            sb_str(b, "\\n");
            break;
        case '\r':
            sb_str(b, "\\r");
            break;
        case '\t':
            sb_str(b, "\\t");
            break;
        case '\v':
            sb_str(b, "\\v");
            break;
        default:
            if (*c < 0x20 || *c == 0x7f) {
                snprintf(esc, sizeof(esc), "\\x%02x", *c);
                sb_str(b, esc);
            } else
                sb_put(b, (const char *)c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static void sb_names(struct sbuf *b, const struct pq_names *n)
{
    sb_str(b, "(");
    for (size_t i = 0; i < n->n; i++) {
        if (i)
            sb_str(b, ", ");
        sb_str(b, n->v[i]);
    }
    sb_str(b, ")");
}

static void format_expr(struct sbuf *b, const struct promql_expr *e);

static void format_selector(struct sbuf *b, const struct promql_expr *e)
{
    /*
     * Prometheus prints the matchers sorted as text, leaving out the
     * __name__ matcher that the metric name stands for.
     */
    size_t n = 0;
    char **txt = calloc(e->nm ? e->nm : 1, sizeof(*txt));
    if (!txt) {
        b->failed = true;
        return;
    }
    for (size_t i = 0; i < e->nm; i++) {
        const struct matcher *m = &e->m[i];
        if (e->name && i == 0)
            continue;
        struct sbuf mb = {0};
        sb_str(&mb, m->name);
        sb_str(&mb, matcher_op_str(m->op));
        sb_quote(&mb, m->value);
        if (mb.failed) {
            free(mb.s);
            b->failed = true;
            break;
        }
        txt[n++] = mb.s;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(txt[j - 1], txt[j]) > 0; j--) {
            char *t = txt[j];
            txt[j] = txt[j - 1];
            txt[j - 1] = t;
        }
    if (e->name)
        sb_str(b, e->name);
    if (n > 0) {
        sb_str(b, "{");
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_str(b, ",");
            sb_str(b, txt[i]);
        }
        sb_str(b, "}");
    }
    for (size_t i = 0; i < n; i++)
        free(txt[i]);
    free(txt);
    char d[64];
    if (e->kind == N_MATSEL) {
        pq_format_duration(e->range_ms, d);
        sb_str(b, "[");
        sb_str(b, d);
        sb_str(b, "]");
    }
    if (e->has_offset) {
        pq_format_duration(e->offset_ms < 0 ? -e->offset_ms : e->offset_ms, d);
        sb_str(b, e->offset_ms < 0 ? " offset -" : " offset ");
        sb_str(b, d);
    }
}

/* Apart from format_expr, so that its 400 bytes are not on the stack at every level. */
static __attribute__((noinline)) void format_number(struct sbuf *b, double v)
{
    char num[400];
    pq_format_float(v, 'f', num);
    sb_str(b, num);
}

static void format_expr(struct sbuf *b, const struct promql_expr *e)
{
    switch (e->kind) {
    case N_NUMBER:
        format_number(b, e->num);
        break;
    case N_STRING:
        sb_quote(b, e->str);
        break;
    case N_VECSEL:
    case N_MATSEL:
        format_selector(b, e);
        break;
    case N_PAREN:
        sb_str(b, "(");
        format_expr(b, e->a[0]);
        sb_str(b, ")");
        break;
    case N_UNARY:
        sb_str(b, e->neg ? "-" : "+");
        format_expr(b, e->a[0]);
        break;
    case N_BINARY:
        /*
         * A literal written with a sign ("+Inf", "-1") left of ^ would read
         * back as a unary operator over the whole power: keep it apart.
         */
        if (e->op == PQ_POW && e->a[0]->kind == N_NUMBER &&
            (signbit(e->a[0]->num) || isinf(e->a[0]->num))) {
            sb_str(b, "(");
            format_expr(b, e->a[0]);
            sb_str(b, ")");
        } else
            format_expr(b, e->a[0]);
        sb_str(b, " ");
        sb_str(b, pq_op_str(e->op));
        if (e->ret_bool)
            sb_str(b, " bool");
        if (e->matching) {
            sb_str(b, e->on ? " on " : " ignoring ");
            sb_names(b, &e->match);
            if (e->card == CARD_MANY_TO_ONE || e->card == CARD_ONE_TO_MANY) {
                sb_str(b, e->card == CARD_MANY_TO_ONE ? " group_left " : " group_right ");
                sb_names(b, &e->include);
            }
        }
        sb_str(b, " ");
        format_expr(b, e->a[1]);
        break;
    case N_CALL:
        sb_str(b, e->fn->name);
        sb_str(b, "(");
        for (size_t i = 0; i < e->na; i++) {
            if (i)
                sb_str(b, ", ");
            format_expr(b, e->a[i]);
        }
        sb_str(b, ")");
        break;
    case N_AGG:
        sb_str(b, pq_agg_str(e->agg));
        if (e->without || e->grouping.n > 0) {
            sb_str(b, e->without ? " without " : " by ");
            sb_names(b, &e->grouping);
            sb_str(b, " ");
        }
        sb_str(b, "(");
        for (size_t i = 0; i < e->na; i++) {
            if (i)
                sb_str(b, ", ");
            format_expr(b, e->a[i]);
        }
        sb_str(b, ")");
        break;
    }
}

char *promql_format(const struct promql_expr *e)
{
    struct sbuf b = {0};
    format_expr(&b, e);
    if (b.failed || !b.s) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
