/*
 * template.c - the annotation templates of alert rules: the subset of Go's
 * text/template that Prometheus rule files use in practice (see template.h).
 *
 * One small interpreter does both jobs. template_check runs it over dummy
 * values with the output thrown away and strict variable names, so every
 * construct that could fail is found when the rule is loaded; template_render
 * runs the same code with the real values. Nothing is parsed into a tree: an
 * action is short, and reading it again at render time costs less than
 * keeping a tree per annotation for every rule.
 *
 * Formatting follows Go, not C, where the two differ and a user would see
 * it: {{ $value }} prints the shortest text that reads back as the same
 * number, with an exponent from 1e+06 up and below 1e-04 ("1.234567e+06",
 * as Prometheus shows it); NaN and infinities print as "NaN", "+Inf" and
 * "-Inf". printf never hands user text to the C library as a format: the
 * format is taken apart here, validated, and each piece is printed with a
 * fixed format string.
 */
#include "template.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TPL_MAX_PIPE   16 /* commands in one pipeline */
#define TPL_MAX_WIDTH  64 /* printf width and precision */
#define TPL_MAX_STRLIT 1024

#define TPL_HINT                                                                                   \
    "Tocsin templates take $labels, $value and the rule's variables, with humanize, "              \
    "humanize1024, humanizePercentage, humanizeDuration, printf, toUpper, toLower, title and "     \
    "index"

/* ---- Output ---- */

/* A growing string bounded by TEMPLATE_MAX_OUTPUT; s NULL = discard (checking). */
struct tpl_buf {
    char *s;
    size_t len, cap;
    bool discard, full, oom;
};

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
static size_t tpl_utf8_prefix(const char *s, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0)
        return n;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead < 0x80 ? 1 : (lead & 0xe0) == 0xc0 ? 2 : (lead & 0xf0) == 0xe0 ? 3 : 4;
    if (lead >= 0x80 && (lead & 0xc0) == 0x80)
        return n; /* not UTF-8 at all: cut where the bound says */
    return back + 1 < need ? i - 1 : n;
}

static void tpl_put(struct tpl_buf *b, const char *s, size_t n)
{
    if (b->discard || b->full || b->oom || n == 0)
        return;
    if (n > TEMPLATE_MAX_OUTPUT - b->len) {
        n = tpl_utf8_prefix(s, TEMPLATE_MAX_OUTPUT - b->len);
        b->full = true;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > TEMPLATE_MAX_OUTPUT + 1)
            cap = TEMPLATE_MAX_OUTPUT + 1;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* ---- Go's number formatting ---- */

/* Go's text for NaN and infinities, which C spells "nan" and "inf". */
static bool tpl_nonfinite(double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "NaN");
    else if (isinf(v))
        snprintf(buf, len, "%sInf", v < 0 ? "-" : "+");
    else
        return false;
    return true;
}

/* Go's "%.4g": the same as C's for finite numbers. */
static void tpl_g4(double v, const char *suffix, char *buf, size_t len)
{
    char num[64];
    if (!tpl_nonfinite(v, num, sizeof(num)))
        snprintf(num, sizeof(num), "%.4g", v);
    snprintf(buf, len, "%s%s", num, suffix);
}

/*
 * The shortest decimal digits that read back as v (v finite, > 0): digits
 * into dig (no point), the decimal exponent of the first digit into *exp.
 * Returns the number of digits.
 */
static int tpl_shortest_digits(double v, char dig[24], int *exp)
{
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v || p == 17)
            break;
    }
    int n = 0;
    const char *s = buf;
    for (; *s && *s != 'e'; s++) {
        if (*s >= '0' && *s <= '9')
            dig[n++] = *s;
    }
    *exp = *s == 'e' ? atoi(s + 1) : 0;
    while (n > 1 && dig[n - 1] == '0')
        n--;
    dig[n] = '\0';
    return n;
}

/*
 * Go's %v (and %g without precision) of a finite v >= 0: the shortest
 * digits, as d.ddde+XX when the exponent is below -4 or at least 6 (Go's
 * rule for the shortest form, which is why Prometheus shows 1234567 as
 * 1.234567e+06), plainly otherwise.
 */
static void tpl_shortest(double v, char *buf, size_t len)
{
    char dig[24];
    int exp, n;
    if (v == 0) {
        snprintf(buf, len, "0");
        return;
    }
    n = tpl_shortest_digits(v, dig, &exp);
    if (exp < -4 || exp >= 6) {
        snprintf(buf, len, "%c%s%.*s%c%c%02d", dig[0], n > 1 ? "." : "", n - 1, dig + 1, 'e',
                 exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        snprintf(buf, len, "0.%.*s%s", -exp - 1, "0000", dig);
    } else if (n <= exp + 1) {
        snprintf(buf, len, "%s%.*s", dig, exp + 1 - n, "000000");
    } else {
        snprintf(buf, len, "%.*s.%s", exp + 1, dig, dig + exp + 1);
    }
}

/* Go's %v of any float64: what {{ $value }} prints. */
static void tpl_value_text(double v, char *buf, size_t len)
{
    if (tpl_nonfinite(v, buf, len))
        return;
    char body[64];
    tpl_shortest(fabs(v), body, sizeof(body));
    snprintf(buf, len, "%s%s", signbit(v) ? "-" : "", body);
}

/* ---- The humanize functions (Prometheus's, as documented) ---- */

void template_humanize(double v, char *buf, size_t len)
{
    static const char *const big[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
    static const char *const small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    if (v == 0 || !isfinite(v)) {
        tpl_g4(v, "", buf, len);
        return;
    }
    if (fabs(v) >= 1) {
        for (size_t i = 0; i < sizeof(big) / sizeof(big[0]) && fabs(v) >= 1000; i++) {
            prefix = big[i];
            v /= 1000;
        }
    } else {
        for (size_t i = 0; i < sizeof(small) / sizeof(small[0]) && fabs(v) < 1; i++) {
            prefix = small[i];
            v *= 1000;
        }
    }
    tpl_g4(v, prefix, buf, len);
}

/* humanize1024: binary prefixes, written as Prometheus writes them ("ki", "Mi"). */
static void tpl_humanize1024(double v, char *buf, size_t len)
{
    static const char *const big[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"};
    const char *prefix = "";
    if (fabs(v) > 1 && isfinite(v)) {
        for (size_t i = 0; i < sizeof(big) / sizeof(big[0]) && fabs(v) >= 1024; i++) {
            prefix = big[i];
            v /= 1024;
        }
    }
    tpl_g4(v, prefix, buf, len);
}

void template_humanize_percentage(double v, char *buf, size_t len)
{
    tpl_g4(v * 100, "%", buf, len);
}

void template_humanize_duration(double seconds, char *buf, size_t len)
{
    static const char *const small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    double v = seconds;
    if (!isfinite(v)) {
        tpl_g4(v, "", buf, len);
        return;
    }
    if (v == 0) {
        tpl_g4(v, "s", buf, len);
        return;
    }
    if (fabs(v) < 1) {
        const char *prefix = "";
        for (size_t i = 0; i < sizeof(small) / sizeof(small[0]) && fabs(v) < 1; i++) {
            prefix = small[i];
            v *= 1000;
        }
        char unit[8];
        snprintf(unit, sizeof(unit), "%ss", prefix);
        tpl_g4(v, unit, buf, len);
        return;
    }
    const char *sign = v < 0 ? "-" : "";
    v = fabs(v);
    /* Whole seconds, in doubles so that values past int64 stay sane. */
    double whole = floor(v);
    double days = floor(whole / 86400);
    int rest = (int)fmod(whole, 86400);
    int h = rest / 3600, m = rest / 60 % 60, s = rest % 60;
    if (days > 0)
        snprintf(buf, len, "%s%.0fd %dh %dm %ds", sign, days, h, m, s);
    else if (h > 0)
        snprintf(buf, len, "%s%dh %dm %ds", sign, h, m, s);
    else if (m > 0)
        snprintf(buf, len, "%s%dm %ds", sign, m, s);
    else
        snprintf(buf, len, "%s%.4gs", sign, v);
}

/* ---- Values ---- */

/* A value in a pipeline: a number or an owned string. */
struct tpl_val {
    bool is_num;
    double num;
    char *s; /* owned; NULL for numbers */
};

static void tpl_val_clear(struct tpl_val *v)
{
    free(v->s);
    memset(v, 0, sizeof(*v));
}

/* Strict number syntax for strings given to numeric functions: the whole text. */
static bool tpl_parse_number(const char *s, double *out)
{
    if (!*s || *s == ' ' || *s == '\t' || *s == '\n')
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || end == s)
        return false;
    *out = v;
    return true;
}

/* ---- The interpreter ---- */

enum tpl_tok {
    TK_END,    /* "}}" or " -}}" */
    TK_PIPE,   /* | */
    TK_VAR,    /* $name (name may be empty) */
    TK_FIELD,  /* .Name */
    TK_DOT,    /* a lone . */
    TK_IDENT,  /* a function or keyword */
    TK_STRING, /* "..." or `...`, unescaped into tok.str */
    TK_NUMBER,
    TK_LPAREN,
    TK_ASSIGN, /* := or = */
    TK_OTHER,
};

struct tpl_token {
    enum tpl_tok kind;
    size_t pos;       /* offset of its first byte in the source */
    const char *text; /* into the source */
    size_t len;       /* of text */
    bool trim;        /* TK_END: " -}}" */
    bool attached;    /* TK_FIELD: follows the previous token without a space */
    double num;       /* TK_NUMBER */
    char *str;        /* TK_STRING: owned */
};

struct tpl {
    const char *src;
    size_t len, i;            /* i: where the lexer is */
    const char *const *names; /* checking: extra variables allowed; NULL when rendering */
    bool checking;
    const struct template_vars *vars; /* rendering */
    struct tpl_buf out;
    struct tpl_token tok, prev;
    size_t open; /* offset of the "{{" of the action being read */
    char err[512];
    bool failed, oom;
};

static void tpl_fail(struct tpl *t, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tpl_fail(struct tpl *t, size_t pos, const char *fmt, ...)
{
    if (t->failed)
        return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(t->err, sizeof(t->err), "position %zu: %s", pos + 1, msg);
    t->failed = true;
}

static void tpl_oom(struct tpl *t)
{
    tpl_fail(t, t->open, "out of memory");
    t->oom = true;
}

static bool tpl_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool tpl_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* A quoted string starting at t->i ('"' or '`'); fills tok.str. */
static void tpl_lex_string(struct tpl *t, struct tpl_token *k)
{
    char q = t->src[t->i];
    size_t start = t->i;
    struct tpl_buf b = {0};
    t->i++;
    while (t->i < t->len && t->src[t->i] != q) {
        char c = t->src[t->i];
        if (q == '"' && c == '\n')
            break;
        if (q == '"' && c == '\\') {
            char e = t->i + 1 < t->len ? t->src[t->i + 1] : '\0';
            const char *rep = e == 'n'    ? "\n"
                              : e == 't'  ? "\t"
                              : e == 'r'  ? "\r"
                              : e == '\\' ? "\\"
                              : e == '"'  ? "\""
                                          : NULL;
            if (!rep) {
                tpl_fail(t, t->i,
                         "unsupported escape \\%c in a string (use \\n, \\t, \\r, \\\\ "
                         "or \\\")",
                         e ? e : ' ');
                free(b.s);
                return;
            }
            tpl_put(&b, rep, 1);
            t->i += 2;
            continue;
        }
        tpl_put(&b, &c, 1);
        t->i++;
    }
    if (t->i >= t->len || t->src[t->i] != q) {
        tpl_fail(t, start, "unterminated quoted string");
        free(b.s);
        return;
    }
    t->i++;
    if (b.oom || b.len > TPL_MAX_STRLIT) {
        if (b.oom)
            tpl_oom(t);
        else
            tpl_fail(t, start, "string is longer than %d bytes", TPL_MAX_STRLIT);
        free(b.s);
        return;
    }
    k->str = b.s ? b.s : strdup("");
    if (!k->str)
        tpl_oom(t);
}

/* Reads the next token of an action into t->tok (the previous one into t->prev). */
static void tpl_next(struct tpl *t)
{
    free(t->prev.str);
    t->prev = t->tok;
    memset(&t->tok, 0, sizeof(t->tok));
    struct tpl_token *k = &t->tok;
    size_t before = t->i;
    while (t->i < t->len && tpl_space(t->src[t->i]))
        t->i++;
    bool spaced = t->i > before;
    k->pos = t->i;
    k->text = t->src + t->i;
    if (t->i >= t->len) {
        k->kind = TK_OTHER;
        tpl_fail(t, t->open, "unclosed action (missing }})");
        return;
    }
    const char *s = t->src + t->i;
    size_t left = t->len - t->i;
    if (spaced && left >= 3 && s[0] == '-' && s[1] == '}' && s[2] == '}') {
        k->kind = TK_END;
        k->trim = true;
        t->i += 3;
    } else if (left >= 2 && s[0] == '}' && s[1] == '}') {
        k->kind = TK_END;
        t->i += 2;
    } else if (s[0] == '|') {
        k->kind = TK_PIPE;
        t->i++;
    } else if (s[0] == '$') {
        k->kind = TK_VAR;
        t->i++;
        while (t->i < t->len && tpl_alnum(t->src[t->i]))
            t->i++;
    } else if (s[0] == '.' && left > 1 && tpl_alnum(s[1]) && !(s[1] >= '0' && s[1] <= '9')) {
        k->kind = TK_FIELD;
        k->attached = !spaced;
        t->i++;
        while (t->i < t->len && tpl_alnum(t->src[t->i]))
            t->i++;
    } else if ((s[0] >= '0' && s[0] <= '9') || ((s[0] == '-' || s[0] == '+' || s[0] == '.') &&
                                                left > 1 && s[1] >= '0' && s[1] <= '9')) {
        k->kind = TK_NUMBER;
        t->i++;
        while (t->i < t->len && (tpl_alnum(t->src[t->i]) || t->src[t->i] == '.' ||
                                 ((t->src[t->i] == '+' || t->src[t->i] == '-') &&
                                  (t->src[t->i - 1] == 'e' || t->src[t->i - 1] == 'E'))))
            t->i++;
        char num[64];
        size_t n = t->i - k->pos;
        char *end = NULL;
        if (n < sizeof(num)) {
            memcpy(num, s, n);
            num[n] = '\0';
            k->num = strtod(num, &end);
        }
        if (!end || *end || !isfinite(k->num))
            tpl_fail(t, k->pos, "bad number \"%.*s\"", (int)(n < 40 ? n : 40), s);
    } else if (s[0] == '.') {
        k->kind = TK_DOT;
        t->i++;
    } else if (tpl_alnum(s[0])) {
        k->kind = TK_IDENT;
        while (t->i < t->len && tpl_alnum(t->src[t->i]))
            t->i++;
    } else if (s[0] == '"' || s[0] == '`') {
        k->kind = TK_STRING;
        tpl_lex_string(t, k);
    } else if (s[0] == '(') {
        k->kind = TK_LPAREN;
        t->i++;
    } else if (s[0] == '=' || (left >= 2 && s[0] == ':' && s[1] == '=')) {
        k->kind = TK_ASSIGN;
        t->i += s[0] == '=' ? 1 : 2;
    } else {
        k->kind = TK_OTHER;
        /* One UTF-8 character, for the message. */
        t->i++;
        while (t->i < t->len && ((unsigned char)t->src[t->i] & 0xc0) == 0x80)
            t->i++;
    }
    k->len = t->i - k->pos;
}

static bool tpl_is(const struct tpl_token *k, const char *word)
{
    return k->len == strlen(word) && memcmp(k->text, word, k->len) == 0;
}

enum tpl_fn {
    FN_NONE = 0,
    FN_HUMANIZE,
    FN_HUMANIZE1024,
    FN_PERCENT,
    FN_DURATION,
    FN_UPPER,
    FN_LOWER,
    FN_TITLE,
    FN_PRINTF,
    FN_INDEX,
};

static enum tpl_fn tpl_function(const struct tpl_token *k)
{
    static const struct {
        const char *name;
        enum tpl_fn fn;
    } fns[] = {{"humanize", FN_HUMANIZE},
               {"humanize1024", FN_HUMANIZE1024},
               {"humanizePercentage", FN_PERCENT},
               {"humanizeDuration", FN_DURATION},
               {"toUpper", FN_UPPER},
               {"toLower", FN_LOWER},
               {"title", FN_TITLE},
               {"printf", FN_PRINTF},
               {"index", FN_INDEX}};
    if (k->kind != TK_IDENT)
        return FN_NONE;
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        if (tpl_is(k, fns[i].name))
            return fns[i].fn;
    }
    return FN_NONE;
}

/* "`if` is not supported (...)" for any identifier that is not one of ours. */
static void tpl_unsupported(struct tpl *t, const struct tpl_token *k)
{
    tpl_fail(t, k->pos, "`%.*s` is not supported (" TPL_HINT ")", (int)(k->len < 40 ? k->len : 40),
             k->text);
}

/* Something that cannot start or continue a value: names the token. */
static void tpl_unexpected(struct tpl *t, const struct tpl_token *k, const char *where)
{
    switch (k->kind) {
    case TK_IDENT:
        tpl_unsupported(t, k);
        break;
    case TK_LPAREN:
        tpl_fail(t, k->pos, "parentheses are not supported (use a pipe: $value | humanize)");
        break;
    case TK_ASSIGN:
        tpl_fail(t, k->pos, "assigning variables is not supported");
        break;
    case TK_END:
        tpl_fail(t, k->pos, "missing value %s", where);
        break;
    case TK_PIPE:
        tpl_fail(t, k->pos, "unexpected | %s", where);
        break;
    default:
        tpl_fail(t, k->pos, "unexpected \"%.*s\" %s", (int)(k->len < 40 ? k->len : 40), k->text,
                 where);
        break;
    }
}

/* A variable's name is known (checking) or its value (rendering). */
static bool tpl_extra(struct tpl *t, const char *name, size_t n, const char **value)
{
    *value = "";
    if (t->checking) {
        for (const char *const *p = t->names; p && *p; p++) {
            if (strlen(*p) == n && memcmp(*p, name, n) == 0)
                return true;
        }
        return false;
    }
    /* When rendering, a variable the rule did not provide is empty: the
     * check at load time already refused names no rule provides. */
    for (size_t i = 0; t->vars && i < t->vars->n_extra; i++) {
        const struct template_var *x = &t->vars->extra[i];
        if (x->name && strlen(x->name) == n && memcmp(x->name, name, n) == 0) {
            *value = x->value ? x->value : "";
            break;
        }
    }
    return true;
}

static void tpl_unknown_var(struct tpl *t, const struct tpl_token *k)
{
    char list[160] = "$labels, $value";
    for (const char *const *p = t->names; p && *p; p++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, ", $%s", *p);
    }
    tpl_fail(t, k->pos, "unknown variable %.*s (variables are %s)",
             (int)(k->len < 40 ? k->len : 40), k->text, list);
}

/* The label value of `name` (n bytes) as a new string; "" when absent. */
static bool tpl_label(struct tpl *t, const char *name, size_t n, struct tpl_val *out)
{
    char key[LABELS_MAX_NAME + 1];
    const char *v = NULL;
    if (n <= LABELS_MAX_NAME && !t->checking && t->vars && t->vars->labels) {
        memcpy(key, name, n);
        key[n] = '\0';
        v = labels_get(t->vars->labels, key);
    }
    out->is_num = false;
    out->s = strdup(v ? v : "");
    if (!out->s)
        tpl_oom(t);
    return out->s != NULL;
}

enum tpl_operand { OP_VALUE, OP_MAP };

/*
 * Reads one operand at t->tok into out, and moves past it. With allow_map,
 * a bare $labels / .Labels is accepted (index's first argument) and reported
 * through *kind. Returns false after reporting.
 */
static bool tpl_operand(struct tpl *t, struct tpl_val *out, bool allow_map, enum tpl_operand *kind,
                        const char *where)
{
    struct tpl_token *k = &t->tok;
    memset(out, 0, sizeof(*out));
    if (kind)
        *kind = OP_VALUE;
    if (k->kind == TK_STRING) {
        out->s = k->str;
        k->str = NULL;
        tpl_next(t);
        return !t->failed;
    }
    if (k->kind == TK_NUMBER) {
        out->is_num = true;
        out->num = k->num;
        tpl_next(t);
        return !t->failed;
    }
    bool labels = false, value = false;
    const char *extra = NULL;
    size_t start = k->pos, start_len = k->len;
    if (k->kind == TK_VAR) {
        const char *name = k->text + 1;
        size_t n = k->len - 1;
        if (n == 0) {
            tpl_fail(t, k->pos, "`$` is not supported (use $labels.NAME or $value)");
            return false;
        }
        if (n == 6 && memcmp(name, "labels", 6) == 0)
            labels = true;
        else if (n == 5 && memcmp(name, "value", 5) == 0)
            value = true;
        else if (!tpl_extra(t, name, n, &extra)) {
            size_t j = t->i;
            while (j < t->len && tpl_space(t->src[j]))
                j++;
            if (j < t->len && (t->src[j] == '=' || (t->src[j] == ':' && t->src[j + 1] == '=')))
                tpl_fail(t, j, "assigning variables is not supported");
            else
                tpl_unknown_var(t, k);
            return false;
        }
    } else if (k->kind == TK_FIELD) {
        if (tpl_is(k, ".Labels"))
            labels = true;
        else if (tpl_is(k, ".Value"))
            value = true;
        else {
            tpl_fail(t, k->pos,
                     "`%.*s` is not supported (use .Labels.NAME, .Value or $labels.NAME, $value)",
                     (int)(k->len < 40 ? k->len : 40), k->text);
            return false;
        }
    } else if (k->kind == TK_DOT) {
        tpl_fail(t, k->pos,
                 "`.` is not supported (use .Labels.NAME, .Value or $labels.NAME, "
                 "$value)");
        return false;
    } else if (k->kind == TK_IDENT && tpl_function(k) != FN_NONE) {
        tpl_fail(t, k->pos, "`%.*s` cannot be an argument here (use a pipe: $value | %.*s)",
                 (int)k->len, k->text, (int)k->len, k->text);
        return false;
    } else {
        tpl_unexpected(t, k, where);
        return false;
    }
    tpl_next(t);
    if (t->failed)
        return false;
    struct tpl_token *f = &t->tok;
    bool has_field = f->kind == TK_FIELD && f->attached;
    if (labels && has_field) {
        if (!tpl_label(t, f->text + 1, f->len - 1, out))
            return false;
        tpl_next(t);
        if (!t->failed && t->tok.kind == TK_FIELD && t->tok.attached)
            tpl_fail(t, t->tok.pos, "a label value has no fields");
        if (t->failed)
            tpl_val_clear(out);
        return !t->failed;
    }
    if (has_field) {
        tpl_fail(t, f->pos, "`%.*s` has no fields", (int)start_len, t->src + start);
        return false;
    }
    if (labels) {
        if (allow_map) {
            *kind = OP_MAP;
            return true;
        }
        tpl_fail(t, start, "`%.*s` needs a label name (%.*s.NAME)", (int)start_len, t->src + start,
                 (int)start_len, t->src + start);
        return false;
    }
    if (value) {
        out->is_num = true;
        out->num = t->checking || !t->vars ? 0 : t->vars->value;
        return true;
    }
    out->s = strdup(extra);
    if (!out->s)
        tpl_oom(t);
    return out->s != NULL;
}

/* A value as text: a string as it is, a number as Go prints it. */
static char *tpl_text(const struct tpl_val *v)
{
    if (!v->is_num)
        return strdup(v->s ? v->s : "");
    char buf[64];
    tpl_value_text(v->num, buf, sizeof(buf));
    return strdup(buf);
}

/* ---- printf ---- */

struct tpl_fmt {
    int verbs;                     /* 0 or 1 */
    char verb;                     /* d f g e s */
    bool minus, plus, space, zero; /* flags; Go's # is not offered */
    int width, prec;               /* -1: not given */
    size_t verb_at;                /* offset of the '%' of the verb in the format */
    size_t verb_end;               /* offset just past the verb */
};

/* Validates a printf format; false with a message in err. */
static bool tpl_fmt_parse(const char *f, struct tpl_fmt *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->width = out->prec = -1;
    for (size_t i = 0; f[i]; i++) {
        if (f[i] != '%')
            continue;
        if (f[i + 1] == '%') {
            i++;
            continue;
        }
        size_t at = i++;
        struct tpl_fmt v = {.width = -1, .prec = -1, .verb_at = at};
        for (;; i++) {
            if (f[i] == '-')
                v.minus = true;
            else if (f[i] == '+')
                v.plus = true;
            else if (f[i] == ' ')
                v.space = true;
            else if (f[i] == '0')
                v.zero = true;
            else
                break;
        }
        if (f[i] >= '0' && f[i] <= '9') {
            v.width = 0;
            while (f[i] >= '0' && f[i] <= '9' && v.width <= TPL_MAX_WIDTH)
                v.width = v.width * 10 + (f[i++] - '0');
        }
        if (f[i] == '.') {
            i++;
            v.prec = 0;
            while (f[i] >= '0' && f[i] <= '9' && v.prec <= TPL_MAX_WIDTH)
                v.prec = v.prec * 10 + (f[i++] - '0');
        }
        if (v.width > TPL_MAX_WIDTH || v.prec > TPL_MAX_WIDTH) {
            snprintf(err, errlen, "printf width and precision must be at most %d", TPL_MAX_WIDTH);
            return false;
        }
        if (!f[i]) {
            snprintf(err, errlen, "printf format ends inside a verb (write %%%% for a %% sign)");
            return false;
        }
        if (f[i] == '#') {
            snprintf(err, errlen, "printf flag # is not supported");
            return false;
        }
        if (!strchr("dfges", f[i])) {
            unsigned char c = (unsigned char)f[i];
            if (c >= 0x20 && c < 0x7f)
                snprintf(err, errlen,
                         "printf verb %%%c is not supported (use %%d, %%f, %%g, %%e "
                         "or %%s)",
                         c);
            else
                snprintf(err, errlen,
                         "printf verb is not supported (use %%d, %%f, %%g, %%e or %%s)");
            return false;
        }
        v.verb = f[i];
        if (v.verb == 's' && (v.plus || v.space || v.zero)) {
            snprintf(err, errlen, "printf %%s takes only the flag -");
            return false;
        }
        if (out->verbs) {
            snprintf(err, errlen, "printf format has more than one verb (Tocsin allows one)");
            return false;
        }
        v.verbs = 1;
        v.verb_end = i + 1;
        *out = v;
    }
    return true;
}

/* Appends the literal text of f[from, to) with %% collapsed. */
static void tpl_fmt_literal(struct tpl_buf *b, const char *f, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        tpl_put(b, f + i, 1);
        if (f[i] == '%' && i + 1 < to && f[i + 1] == '%')
            i++;
    }
}

static void tpl_pad(struct tpl_buf *b, size_t n, char c)
{
    char pad[TPL_MAX_WIDTH];
    if (n > sizeof(pad))
        n = sizeof(pad);
    memset(pad, c, n);
    tpl_put(b, pad, n);
}

/* Characters (not bytes) of a UTF-8 string. */
static size_t tpl_runes(const char *s, size_t n)
{
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += ((unsigned char)s[i] & 0xc0) != 0x80;
    return r;
}

/* %s: precision cuts to that many characters, width pads with spaces. */
static void tpl_fmt_string(struct tpl_buf *b, const struct tpl_fmt *f, const char *s)
{
    size_t n = strlen(s);
    if (f->prec >= 0) {
        size_t r = 0, i = 0;
        for (; i < n; i++) {
            if (((unsigned char)s[i] & 0xc0) != 0x80 && r++ == (size_t)f->prec)
                break;
        }
        n = i;
    }
    size_t runes = tpl_runes(s, n);
    size_t pad = f->width > 0 && (size_t)f->width > runes ? (size_t)f->width - runes : 0;
    if (!f->minus)
        tpl_pad(b, pad, ' ');
    tpl_put(b, s, n);
    if (f->minus)
        tpl_pad(b, pad, ' ');
}

/* A number with one of d f g e: the digits are printed with fixed formats,
 * sign and padding are added here. */
static void tpl_fmt_number(struct tpl_buf *b, const struct tpl_fmt *f, double v)
{
    char body[400], sign[2] = "";
    bool finite = isfinite(v), neg = signbit(v);
    int prec = f->prec;
    if (!finite) {
        if (isnan(v)) {
            snprintf(body, sizeof(body), "NaN");
            neg = false;
            if (f->plus)
                sign[0] = '+';
            else if (f->space)
                sign[0] = ' ';
        } else {
            snprintf(body, sizeof(body), "Inf");
            sign[0] = neg ? '-' : f->space && !f->plus ? ' ' : '+';
        }
    } else {
        double a = fabs(v);
        switch (f->verb) {
        case 'd':
            if (a < 9.2e18) {
                long long ll = (long long)a;
                neg = neg && ll != 0;
                if (prec == 0 && ll == 0)
                    body[0] = '\0';
                else
                    snprintf(body, sizeof(body), "%0*lld", prec > 0 ? prec : 1, ll);
            } else {
                snprintf(body, sizeof(body), "%.0f", a);
            }
            break;
        case 'f':
            snprintf(body, sizeof(body), "%.*f", prec < 0 ? 6 : prec, a);
            break;
        case 'e':
            snprintf(body, sizeof(body), "%.*e", prec < 0 ? 6 : prec, a);
            break;
        default: /* 'g' */
            if (prec < 0)
                tpl_shortest(a, body, sizeof(body));
            else
                snprintf(body, sizeof(body), "%.*g", prec, a);
            break;
        }
        if (neg)
            sign[0] = '-';
        else if (f->plus)
            sign[0] = '+';
        else if (f->space)
            sign[0] = ' ';
    }
    size_t len = strlen(sign) + strlen(body);
    size_t pad = f->width > 0 && (size_t)f->width > len ? (size_t)f->width - len : 0;
    bool zeros = f->zero && !f->minus && finite && !(f->verb == 'd' && prec >= 0);
    if (!f->minus && !zeros)
        tpl_pad(b, pad, ' ');
    tpl_put(b, sign, strlen(sign));
    if (zeros)
        tpl_pad(b, pad, '0');
    tpl_put(b, body, strlen(body));
    if (f->minus)
        tpl_pad(b, pad, ' ');
}

/* printf FORMAT [ARG] into a new string in *out. */
static bool tpl_printf(struct tpl *t, const char *fmt, size_t fmt_pos, const struct tpl_val *arg,
                       size_t n_args, struct tpl_val *out)
{
    struct tpl_fmt f;
    char err[160];
    if (!tpl_fmt_parse(fmt, &f, err, sizeof(err))) {
        tpl_fail(t, fmt_pos, "%s", err);
        return false;
    }
    if (f.verbs && !n_args) {
        tpl_fail(t, fmt_pos, "printf format needs a value for %%%c", f.verb);
        return false;
    }
    if (!f.verbs && n_args) {
        tpl_fail(t, fmt_pos, "printf format has no verb for its value");
        return false;
    }
    struct tpl_buf b = {0};
    size_t flen = strlen(fmt);
    tpl_fmt_literal(&b, fmt, 0, f.verbs ? f.verb_at : flen);
    if (f.verbs) {
        double num;
        if (f.verb == 's') {
            char *s = tpl_text(arg);
            if (!s)
                b.oom = true;
            else
                tpl_fmt_string(&b, &f, s);
            free(s);
        } else if (arg->is_num) {
            tpl_fmt_number(&b, &f, arg->num);
        } else if (tpl_parse_number(arg->s, &num)) {
            tpl_fmt_number(&b, &f, num);
        } else {
            /* As Go prints a string given to a numeric verb. */
            char head[16];
            snprintf(head, sizeof(head), "%%!%c(string=", f.verb);
            tpl_put(&b, head, strlen(head));
            tpl_put(&b, arg->s, strlen(arg->s));
            tpl_put(&b, ")", 1);
        }
        tpl_fmt_literal(&b, fmt, f.verb_end, flen);
    }
    if (b.oom) {
        free(b.s);
        tpl_oom(t);
        return false;
    }
    out->is_num = false;
    out->s = b.s ? b.s : strdup("");
    if (!out->s)
        tpl_oom(t);
    return out->s != NULL;
}

/* ---- Functions ---- */

static bool tpl_string_result(struct tpl *t, struct tpl_val *out, const char *s)
{
    out->is_num = false;
    out->s = strdup(s);
    if (!out->s)
        tpl_oom(t);
    return out->s != NULL;
}

/* Applies a one-value function to in (consumed) into out. */
static bool tpl_apply1(struct tpl *t, enum tpl_fn fn, size_t pos, struct tpl_val *in,
                       struct tpl_val *out)
{
    char buf[96];
    double v;
    bool ok = true;
    switch (fn) {
    case FN_HUMANIZE:
    case FN_HUMANIZE1024:
    case FN_PERCENT:
    case FN_DURATION:
        if (in->is_num)
            v = in->num;
        else if (!tpl_parse_number(in->s, &v)) {
            /* Prometheus would fail the whole template; the text as it is
             * serves a reader better at 3 a.m. */
            *out = *in;
            memset(in, 0, sizeof(*in));
            return true;
        }
        if (fn == FN_HUMANIZE)
            template_humanize(v, buf, sizeof(buf));
        else if (fn == FN_HUMANIZE1024)
            tpl_humanize1024(v, buf, sizeof(buf));
        else if (fn == FN_PERCENT)
            template_humanize_percentage(v, buf, sizeof(buf));
        else
            template_humanize_duration(v, buf, sizeof(buf));
        ok = tpl_string_result(t, out, buf);
        break;
    case FN_UPPER:
    case FN_LOWER:
    case FN_TITLE: {
        char *s = tpl_text(in);
        if (!s) {
            tpl_oom(t);
            ok = false;
            break;
        }
        bool word_start = true;
        for (char *p = s; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if (fn == FN_UPPER && c >= 'a' && c <= 'z')
                *p = (char)(c - 32);
            else if (fn == FN_LOWER && c >= 'A' && c <= 'Z')
                *p = (char)(c + 32);
            else if (fn == FN_TITLE) {
                if (word_start && c >= 'a' && c <= 'z')
                    *p = (char)(c - 32);
                /* Go's strings.Title: letters, digits, '_' and non-ASCII
                 * characters are inside a word; everything else separates. */
                word_start = !(tpl_alnum((char)c) || c >= 0x80);
            }
        }
        out->is_num = false;
        out->s = s;
        break;
    }
    default:
        ok = false;
        break;
    }
    tpl_val_clear(in);
    return ok;
}

static const char *tpl_fn_name(const struct tpl_token *k, char *buf, size_t len)
{
    snprintf(buf, len, "%.*s", (int)k->len, k->text);
    return buf;
}

/* What a function takes, when it was given something else. */
static void tpl_arity(struct tpl *t, enum tpl_fn fn, size_t pos, const char *name)
{
    if (fn == FN_PRINTF)
        tpl_fail(t, pos, "printf takes a quoted format and at most one value");
    else if (fn == FN_INDEX)
        tpl_fail(t, pos, "index takes $labels and a label name: index $labels \"NAME\"");
    else
        tpl_fail(t, pos, "%s takes one value (such as $value | %s)", name, name);
}

/*
 * One command of a pipeline at t->tok: a function with its arguments (and
 * the piped value, in *piped, as its last argument) or, first in a
 * pipeline, a plain operand. The result replaces *piped.
 */
static bool tpl_command(struct tpl *t, bool first, struct tpl_val *piped, bool have_piped)
{
    struct tpl_token fn_tok = t->tok;
    fn_tok.str = NULL;
    enum tpl_fn fn = tpl_function(&t->tok);
    struct tpl_val args[3] = {{0}};
    enum tpl_operand kinds[3] = {OP_VALUE, OP_VALUE, OP_VALUE};
    size_t n = 0, fmt_pos = 0;
    bool fmt_literal = false, ok = false;
    char name[40];

    if (fn == FN_NONE) {
        if (!first) {
            if (t->tok.kind == TK_IDENT)
                tpl_unsupported(t, &t->tok);
            else
                tpl_fail(t, t->tok.pos, "only a function can follow | (such as humanize)");
            return false;
        }
        struct tpl_val v = {0};
        if (!tpl_operand(t, &v, false, NULL, "in the action")) {
            /* A string operand is v's even when the token after it fails. */
            tpl_val_clear(&v);
            return false;
        }
        if (t->tok.kind != TK_END && t->tok.kind != TK_PIPE) {
            tpl_val_clear(&v);
            if (t->tok.kind == TK_STRING || t->tok.kind == TK_NUMBER || t->tok.kind == TK_VAR ||
                t->tok.kind == TK_FIELD)
                tpl_fail(t, t->tok.pos, "a value cannot take arguments (only functions can)");
            else
                tpl_unexpected(t, &t->tok, "after the value");
            return false;
        }
        *piped = v;
        return true;
    }
    tpl_fn_name(&fn_tok, name, sizeof(name));
    tpl_next(t);
    while (!t->failed && t->tok.kind != TK_END && t->tok.kind != TK_PIPE) {
        if (n == (fn == FN_PRINTF || fn == FN_INDEX ? 2u : 1u)) {
            tpl_arity(t, fn, fn_tok.pos, name);
            goto out;
        }
        if (fn == FN_PRINTF && n == 0) {
            fmt_literal = t->tok.kind == TK_STRING;
            fmt_pos = t->tok.pos;
        }
        if (!tpl_operand(t, &args[n], fn == FN_INDEX && n == 0, &kinds[n], "as an argument"))
            goto out;
        n++;
    }
    if (t->failed)
        goto out;
    if (have_piped) {
        if (n == (fn == FN_PRINTF || fn == FN_INDEX ? 2u : 1u)) {
            tpl_arity(t, fn, fn_tok.pos, name);
            goto out;
        }
        args[n++] = *piped;
        memset(piped, 0, sizeof(*piped));
    }
    switch (fn) {
    case FN_PRINTF:
        if (n == 0 || !fmt_literal || kinds[0] != OP_VALUE) {
            tpl_fail(t, fn_tok.pos, "printf needs a quoted format string first");
            goto out;
        }
        ok = tpl_printf(t, args[0].s, fmt_pos, n > 1 ? &args[1] : NULL, n - 1, piped);
        break;
    case FN_INDEX:
        if (n != 2 || kinds[0] != OP_MAP || args[1].is_num) {
            tpl_arity(t, fn, fn_tok.pos, name);
            goto out;
        }
        ok = tpl_label(t, args[1].s, strlen(args[1].s), piped);
        break;
    default:
        if (n != 1) {
            tpl_arity(t, fn, fn_tok.pos, name);
            goto out;
        }
        ok = tpl_apply1(t, fn, fn_tok.pos, &args[0], piped);
        break;
    }
out:
    for (size_t i = 0; i < 3; i++)
        tpl_val_clear(&args[i]);
    return ok && !t->failed;
}

/* An action after "{{" (and a trim marker): a comment or a pipeline. Sets *trim_right. */
static void tpl_action(struct tpl *t, size_t open, bool *trim_right)
{
    *trim_right = false;
    t->open = open;
    /* A comment: "{{" slash-star ... star-slash "}}", with optional trim markers. */
    if (t->i + 1 < t->len && t->src[t->i] == '/' && t->src[t->i + 1] == '*') {
        const char *end = NULL;
        for (size_t j = t->i + 2; j + 1 < t->len; j++) {
            if (t->src[j] == '*' && t->src[j + 1] == '/') {
                end = t->src + j;
                break;
            }
        }
        if (!end) {
            tpl_fail(t, t->i, "unclosed comment");
            return;
        }
        t->i = (size_t)(end - t->src) + 2;
        const char *rest = t->src + t->i;
        size_t left = t->len - t->i;
        if (left >= 2 && rest[0] == '}' && rest[1] == '}') {
            t->i += 2;
        } else if (left >= 4 && tpl_space(rest[0]) && rest[1] == '-' && rest[2] == '}' &&
                   rest[3] == '}') {
            t->i += 4;
            *trim_right = true;
        } else {
            tpl_fail(t, t->i, "a comment must end with */}}");
        }
        return;
    }
    memset(&t->tok, 0, sizeof(t->tok));
    tpl_next(t);
    if (t->failed)
        return;
    if (t->tok.kind == TK_END) {
        tpl_fail(t, open, "empty action {{ }}");
        return;
    }
    struct tpl_val v = {0};
    bool first = true;
    int cmds = 0;
    for (;;) {
        if (++cmds > TPL_MAX_PIPE) {
            tpl_fail(t, t->tok.pos, "a pipeline may have at most %d commands", TPL_MAX_PIPE);
            break;
        }
        if (t->tok.kind == TK_END && !first) {
            tpl_fail(t, t->tok.pos, "missing function after |");
            break;
        }
        if (!tpl_command(t, first, &v, !first))
            break;
        first = false;
        if (t->tok.kind == TK_END) {
            *trim_right = t->tok.trim;
            char *s = tpl_text(&v);
            if (!s)
                tpl_oom(t);
            else
                tpl_put(&t->out, s, strlen(s));
            free(s);
            break;
        }
        tpl_next(t); /* past | */
        if (t->failed)
            break;
    }
    tpl_val_clear(&v);
    free(t->tok.str);
    free(t->prev.str);
    t->tok.str = t->prev.str = NULL;
}

/* Runs the template; false with t->err on a problem. */
static bool tpl_run(struct tpl *t)
{
    bool trim_next = false;
    size_t i = 0;
    if (t->len > TEMPLATE_MAX_SOURCE) {
        tpl_fail(t, TEMPLATE_MAX_SOURCE, "template is longer than %d bytes", TEMPLATE_MAX_SOURCE);
        return false;
    }
    while (i < t->len && !t->failed) {
        const char *open = strstr(t->src + i, "{{");
        size_t stop = open ? (size_t)(open - t->src) : t->len;
        size_t from = i, to = stop;
        bool trim_left =
            open && stop + 3 <= t->len && t->src[stop + 2] == '-' && tpl_space(t->src[stop + 3]);
        if (trim_next)
            while (from < to && tpl_space(t->src[from]))
                from++;
        if (trim_left)
            while (to > from && tpl_space(t->src[to - 1]))
                to--;
        tpl_put(&t->out, t->src + from, to - from);
        if (!open)
            break;
        t->i = stop + (trim_left ? 4 : 2);
        tpl_action(t, stop, &trim_next);
        i = t->i;
    }
    if (t->out.oom)
        tpl_oom(t);
    return !t->failed;
}

int template_check(const char *src, const char *const *extra_names, char *err, size_t errlen)
{
    struct tpl t = {.src = src,
                    .len = strlen(src),
                    .names = extra_names,
                    .checking = true,
                    .out = {.discard = true}};
    if (tpl_run(&t))
        return 0;
    if (err && errlen)
        snprintf(err, errlen, "%s", t.err);
    return -1;
}

char *template_render(const char *src, const struct template_vars *vars)
{
    struct tpl t = {.src = src, .len = strlen(src), .vars = vars};
    if (!tpl_run(&t)) {
        free(t.out.s);
        if (t.oom)
            return NULL;
        /* The rule's templates were checked at load; this is the fallback. */
        size_t n = tpl_utf8_prefix(src, strlen(src) < TEMPLATE_MAX_OUTPUT ? strlen(src)
                                                                          : TEMPLATE_MAX_OUTPUT);
        return strndup(src, n);
    }
    if (!t.out.s)
        return strdup("");
    return t.out.s;
}
