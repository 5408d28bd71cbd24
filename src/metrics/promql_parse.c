/*
 * promql_parse.c - PromQL text to a syntax tree, with Prometheus's grammar
 * and type checks (2.42).
 *
 * Precedence, loosest first, as in Prometheus's yacc grammar: or; and
 * unless; == != > < >= <=; + -; * / % atan2; ^ (right-associative). A unary
 * minus binds like *, so its operand may hold a ^ but nothing looser:
 * -2 ^ 2 is -(2 ^ 2), and -a * b is (-a) * b. A minus before a number
 * literal folds into the literal. offset, ranges and @ bind to the selector
 * right before them.
 *
 * The parser is recursive descent with precedence climbing. Recursion is
 * bounded (PQ_MAX_NESTING levels of parentheses, calls and operands) and so
 * is the tree's depth (PQ_MAX_TREE, which also bounds long left-associative
 * chains), so neither the parser nor the evaluator can run out of stack.
 *
 * Messages say "position N: ..." where N counts bytes of the query from 1,
 * like the column of Prometheus's "1:N: parse error".
 */
#include "promql_int.h"
#include "../base/labels.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    struct pq_lexer lx;
    struct pq_token tok;
    const char *q;
    char *err;
    size_t errlen;
    int status;
    int depth;
};

enum { PREC_OR = 1, PREC_AND, PREC_CMP, PREC_ADD, PREC_MUL, PREC_POW };

static void *perr(struct parser *p, size_t pos, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void *perr(struct parser *p, size_t pos, int status, const char *fmt, ...)
{
    if (p->status != 0)
        return NULL;
    p->status = status;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "position %zu: %s", pos + 1, msg);
    return NULL;
}

static void *oom(struct parser *p)
{
    return perr(p, p->tok.pos, PROMQL_ENOMEM, "out of memory");
}

static void advance_in(struct parser *p, bool braces)
{
    pq_lex_next(&p->lx, braces, &p->tok);
}

static void advance(struct parser *p)
{
    advance_in(p, false);
}

/* The token after the current one, without consuming anything. */
static struct pq_token peek_next(const struct parser *p)
{
    struct pq_lexer copy = p->lx;
    struct pq_token t;
    pq_lex_next(&copy, false, &t);
    return t;
}

/* A short description of the current token for messages. */
static const char *tok_desc(struct parser *p, char buf[96])
{
    const struct pq_token *t = &p->tok;
    if (t->type == T_EOF)
        return "end of input";
    if (t->type == T_STRING)
        return "string";
    const char *kind = "";
    if (t->type == T_NUMBER)
        kind = "number ";
    else if (t->type == T_DURATION)
        kind = "duration ";
    else if (t->type == T_IDENT || t->type == T_METRIC_IDENT)
        kind = "identifier ";
    snprintf(buf, 96, "%s\"%.*s\"", kind, (int)(t->len > 40 ? 40 : t->len), p->q + t->pos);
    return buf;
}

static void *unexpected(struct parser *p, const char *context)
{
    char buf[96];
    if (p->tok.type == T_ERROR)
        return perr(p, p->tok.pos, PROMQL_EPARSE, "%s", p->lx.err);
    if (context)
        return perr(p, p->tok.pos, PROMQL_EPARSE, "unexpected %s %s", tok_desc(p, buf), context);
    return perr(p, p->tok.pos, PROMQL_EPARSE, "unexpected %s", tok_desc(p, buf));
}

static bool tok_is(const struct parser *p, enum pq_tok t)
{
    return p->tok.type == t;
}

/*
 * Makes room for element n of the array *v, doubling its size whenever n
 * reaches a power of two, so that long lists cost linear time.
 */
static bool grow(void **v, size_t n, size_t elem)
{
    if (n >= 4 && (n & (n - 1)) != 0)
        return true;
    size_t cap = n < 4 ? 4 : n * 2;
    void *nv = realloc(*v, cap * elem);
    if (!nv)
        return false;
    *v = nv;
    return true;
}

static struct promql_expr *node_new(struct parser *p, enum pq_node kind, size_t pos)
{
    struct promql_expr *e = calloc(1, sizeof(*e));
    if (!e)
        return oom(p);
    e->kind = kind;
    e->pos = pos;
    e->depth = 1;
    return e;
}

static void names_free(struct pq_names *n)
{
    for (size_t i = 0; i < n->n; i++)
        free(n->v[i]);
    free(n->v);
    n->v = NULL;
    n->n = 0;
}

void promql_free(struct promql_expr *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->na; i++)
        promql_free(e->a[i]);
    free(e->a);
    free(e->str);
    free(e->name);
    for (size_t i = 0; i < e->nm; i++)
        matcher_free(&e->m[i]);
    free(e->m);
    names_free(&e->match);
    names_free(&e->include);
    names_free(&e->grouping);
    free(e);
}

/* Appends child to e (which takes it over) and updates e's depth. */
static bool add_child(struct parser *p, struct promql_expr *e, struct promql_expr *child)
{
    if (!grow((void **)&e->a, e->na, sizeof(*e->a))) {
        promql_free(child);
        oom(p);
        return false;
    }
    e->a[e->na++] = child;
    if (child->depth + 1 > e->depth)
        e->depth = child->depth + 1;
    if (e->depth > PQ_MAX_TREE) {
        perr(p, e->pos, PROMQL_EPARSE, "expression is nested too deeply (more than %d levels)",
             PQ_MAX_TREE);
        return false;
    }
    return true;
}

static char *tok_text(struct parser *p)
{
    char *s = strndup(p->q + p->tok.pos, p->tok.len);
    if (!s)
        oom(p);
    return s;
}

/* Whether the current token is a word that may serve as a label name (keywords may). */
static bool tok_is_label(const struct parser *p)
{
    const struct pq_token *t = &p->tok;
    if (t->type == T_STRING || t->type == T_EOF || t->type == T_ERROR || t->len == 0)
        return false;
    for (size_t i = 0; i < t->len; i++) {
        char c = p->q[t->pos + i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* "(" [label {"," label} [","]] ")" after by, without, on, ignoring, group_left/right. */
static bool parse_label_list(struct parser *p, struct pq_names *out, const char *what)
{
    if (!tok_is(p, T_LPAREN)) {
        char ctx[64];
        snprintf(ctx, sizeof(ctx), "in %s, expected \"(\"", what);
        unexpected(p, ctx);
        return false;
    }
    advance(p);
    while (!tok_is(p, T_RPAREN)) {
        if (!tok_is_label(p)) {
            char ctx[64];
            snprintf(ctx, sizeof(ctx), "in %s, expected a label name", what);
            unexpected(p, ctx);
            return false;
        }
        char *name = tok_text(p);
        if (!name)
            return false;
        if (!grow((void **)&out->v, out->n, sizeof(*out->v))) {
            free(name);
            oom(p);
            return false;
        }
        out->v[out->n++] = name;
        advance(p);
        if (tok_is(p, T_COMMA))
            advance(p);
        else if (!tok_is(p, T_RPAREN)) {
            char ctx[64];
            snprintf(ctx, sizeof(ctx), "in %s, expected \",\" or \")\"", what);
            unexpected(p, ctx);
            return false;
        }
    }
    advance(p);
    return true;
}

/* ---- numbers and durations ---- */

static bool number_text(const char *buf, size_t len, double *out)
{
    if (strcasecmp(buf, "inf") == 0) {
        *out = INFINITY;
        return true;
    }
    if (strcasecmp(buf, "nan") == 0) {
        *out = NAN;
        return true;
    }
    char *end;
    errno = 0;
    /* Go's ParseInt(s, 0, 64) first: hexadecimal, and octal for a leading 0. */
    if (buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')) {
        if (buf[2] == '\0')
            return false;
        unsigned long long v = strtoull(buf + 2, &end, 16);
        if (*end != '\0' || errno == ERANGE || v > (unsigned long long)INT64_MAX)
            return false; /* Go's ParseFloat does not take hex without a 'p' exponent either */
        *out = (double)(int64_t)v;
        return true;
    }
    if (buf[0] == '0' && len > 1 && strspn(buf, "01234567") == len) {
        unsigned long long v = strtoull(buf, &end, 8);
        if (*end == '\0' && errno != ERANGE && v <= (unsigned long long)INT64_MAX) {
            *out = (double)(int64_t)v;
            return true;
        }
    }
    double d = strtod(buf, &end);
    if (*end != '\0')
        return false;
    *out = d; /* out of range reads as ±Inf or 0, as in Go (which also reports it) */
    return true;
}

/* 1: a number, 0: not one, -1: out of memory. */
static int parse_number_text(const char *s, size_t len, double *out)
{
    if (len == 0)
        return 0;
    char *buf = strndup(s, len);
    if (!buf)
        return -1;
    bool ok = number_text(buf, len, out);
    free(buf);
    return ok ? 1 : 0;
}

int promql_parse_duration(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {{"y", 365LL * 24 * 3600 * 1000},
                 {"w", 7LL * 24 * 3600 * 1000},
                 {"d", 24LL * 3600 * 1000},
                 {"h", 3600LL * 1000},
                 {"m", 60LL * 1000},
                 {"s", 1000},
                 {"ms", 1}};
    /* Go's time.Duration counts nanoseconds, so the total must fit in int64 ns. */
    const int64_t max_ms = INT64_MAX / 1000000;
    if (!s || !*s)
        return -1;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    int64_t total = 0;
    size_t next_unit = 0;
    const char *c = s;
    while (*c) {
        if (*c < '0' || *c > '9')
            return -1;
        int64_t n = 0;
        while (*c >= '0' && *c <= '9') {
            if (n > max_ms)
                return -1;
            n = n * 10 + (*c - '0');
            c++;
        }
        size_t u;
        for (u = next_unit; u < sizeof(units) / sizeof(units[0]); u++) {
            size_t ul = strlen(units[u].unit);
            /* "m" must not eat the "m" of "ms". */
            if (strncmp(c, units[u].unit, ul) == 0 && !(ul == 1 && c[0] == 'm' && c[1] == 's'))
                break;
        }
        if (u == sizeof(units) / sizeof(units[0]))
            return -1;
        if (n > max_ms / units[u].mult)
            return -1;
        total += n * units[u].mult;
        if (total > max_ms)
            return -1;
        c += strlen(units[u].unit);
        next_unit = u + 1;
    }
    *ms = total;
    return 0;
}

/* A DURATION token that must be positive (ranges, offsets). */
static bool parse_duration_tok(struct parser *p, int64_t *ms)
{
    if (!tok_is(p, T_DURATION)) {
        unexpected(p, "where a duration was expected");
        return false;
    }
    char buf[64];
    if (p->tok.len >= sizeof(buf) ||
        (memcpy(buf, p->q + p->tok.pos, p->tok.len), buf[p->tok.len] = '\0',
         promql_parse_duration(buf, ms)) != 0) {
        perr(p, p->tok.pos, PROMQL_EPARSE, "not a valid duration string: \"%.*s\"",
             (int)(p->tok.len > 40 ? 40 : p->tok.len), p->q + p->tok.pos);
        return false;
    }
    if (*ms <= 0) {
        perr(p, p->tok.pos, PROMQL_EPARSE, "duration must be greater than 0");
        return false;
    }
    advance(p);
    return true;
}

/* ---- expressions ---- */

static struct promql_expr *parse_expr(struct parser *p, int min_prec);

static int binop_prec(enum pq_tok t)
{
    switch (t) {
    case T_OR:
        return PREC_OR;
    case T_AND:
    case T_UNLESS:
        return PREC_AND;
    case T_EQLC:
    case T_NEQ:
    case T_GTR:
    case T_LSS:
    case T_GTE:
    case T_LTE:
        return PREC_CMP;
    case T_ADD:
    case T_SUB:
        return PREC_ADD;
    case T_MUL:
    case T_DIV:
    case T_MOD:
    case T_ATAN2:
        return PREC_MUL;
    case T_POW:
        return PREC_POW;
    default:
        return 0;
    }
}

static struct promql_expr *parse_selector(struct parser *p, size_t pos, char *name)
{
    struct promql_expr *e = node_new(p, N_VECSEL, pos);
    if (!e) {
        free(name);
        return NULL;
    }
    e->type = PROMQL_VECTOR;
    e->name = name;
    char err[256];
    if (name) {
        e->m = calloc(1, sizeof(*e->m));
        if (!e->m || matcher_init(&e->m[0], "__name__", MATCH_EQ, name, err, sizeof(err)) != 0)
            goto nomem;
        e->nm = 1;
    }
    if (!tok_is(p, T_LBRACE))
        return e;
    advance_in(p, true);
    while (!tok_is(p, T_RBRACE)) {
        if (!tok_is(p, T_IDENT)) {
            unexpected(p, "in label matching, expected label name");
            goto fail;
        }
        size_t mpos = p->tok.pos;
        char *lname = tok_text(p);
        if (!lname)
            goto fail;
        advance_in(p, true);
        enum matcher_op op;
        switch (p->tok.type) {
        case T_ASSIGN:
            op = MATCH_EQ;
            break;
        case T_NEQ:
            op = MATCH_NEQ;
            break;
        case T_RE:
            op = MATCH_RE;
            break;
        case T_NRE:
            op = MATCH_NRE;
            break;
        default:
            free(lname);
            unexpected(p, "in label matching, expected one of \"=\", \"!=\", \"=~\" or \"!~\"");
            goto fail;
        }
        advance_in(p, true);
        if (!tok_is(p, T_STRING)) {
            free(lname);
            unexpected(p, "in label matching, expected string");
            goto fail;
        }
        char *value = pq_unquote(p->q + p->tok.pos, p->tok.len, err, sizeof(err));
        if (!value) {
            free(lname);
            perr(p, p->tok.pos, PROMQL_EPARSE, "%s", err);
            goto fail;
        }
        if (name && strcmp(lname, "__name__") == 0) {
            perr(p, mpos, PROMQL_EPARSE,
                 "metric name must not be set twice: \"%.64s\" or \"%.64s\"", name, value);
            free(lname);
            free(value);
            goto fail;
        }
        if (!grow((void **)&e->m, e->nm, sizeof(*e->m))) {
            free(lname);
            free(value);
            goto nomem;
        }
        char rerr[128];
        if ((op == MATCH_RE || op == MATCH_NRE) && pq_regex_check(value, rerr, sizeof(rerr)) != 0) {
            perr(p, mpos, PROMQL_EPARSE, "invalid regular expression \"%.64s\" for label %.64s: %s",
                 value, lname, rerr);
            free(lname);
            free(value);
            goto fail;
        }
        int rc = matcher_init(&e->m[e->nm], lname, op, value, err, sizeof(err));
        free(lname);
        free(value);
        if (rc != 0) {
            perr(p, mpos, PROMQL_EPARSE, "%s", err);
            goto fail;
        }
        e->nm++;
        advance_in(p, true);
        if (tok_is(p, T_COMMA))
            advance_in(p, true);
        else if (!tok_is(p, T_RBRACE)) {
            unexpected(p, "in label matching, expected \",\" or \"}\"");
            goto fail;
        }
    }
    advance(p);
    if (!name) {
        bool any = false;
        for (size_t i = 0; i < e->nm; i++)
            if (!matcher_matches_empty(&e->m[i]))
                any = true;
        if (!any) {
            perr(p, pos, PROMQL_EPARSE,
                 "vector selector must contain at least one non-empty matcher");
            goto fail;
        }
    }
    return e;
nomem:
    oom(p);
fail:
    promql_free(e);
    return NULL;
}

static struct promql_expr *parse_call(struct parser *p)
{
    size_t pos = p->tok.pos;
    const struct pq_func *fn = pq_func_lookup(p->q + p->tok.pos, p->tok.len);
    if (!fn)
        return perr(p, pos, PROMQL_EPARSE, "unknown function with name \"%.*s\"",
                    (int)(p->tok.len > 64 ? 64 : p->tok.len), p->q + p->tok.pos);
    if (!fn->supported)
        return perr(p, pos, PROMQL_EUNSUPPORTED, "function \"%s\" is not supported", fn->name);
    struct promql_expr *e = node_new(p, N_CALL, pos);
    if (!e)
        return NULL;
    e->fn = fn;
    e->type = fn->ret;
    advance(p); /* the name */
    advance(p); /* "(" */
    while (!tok_is(p, T_RPAREN)) {
        struct promql_expr *arg = parse_expr(p, 0);
        if (!arg || !add_child(p, e, arg))
            goto fail;
        if (tok_is(p, T_COMMA)) {
            advance(p);
            if (tok_is(p, T_RPAREN)) {
                perr(p, p->tok.pos, PROMQL_EPARSE,
                     "trailing commas not allowed in function call args");
                goto fail;
            }
        } else if (!tok_is(p, T_RPAREN)) {
            unexpected(p, "in call to function, expected \",\" or \")\"");
            goto fail;
        }
    }
    advance(p);

    int need = fn->nargs - fn->optional;
    int most = fn->variadic < 0 ? -1 : fn->nargs + fn->variadic;
    if (fn->variadic == 0 && fn->optional == 0 && (int)e->na != fn->nargs) {
        perr(p, pos, PROMQL_EPARSE, "expected %d argument(s) in call to \"%s\", got %zu", fn->nargs,
             fn->name, e->na);
        goto fail;
    }
    if ((int)e->na < need) {
        perr(p, pos, PROMQL_EPARSE, "expected at least %d argument(s) in call to \"%s\", got %zu",
             need, fn->name, e->na);
        goto fail;
    }
    if (most >= 0 && (int)e->na > most) {
        perr(p, pos, PROMQL_EPARSE, "expected at most %d argument(s) in call to \"%s\", got %zu",
             most, fn->name, e->na);
        goto fail;
    }
    for (size_t i = 0; i < e->na; i++) {
        enum promql_type want = fn->argt[(int)i < fn->nargs ? (int)i : fn->nargs - 1];
        if (e->a[i]->type != want) {
            perr(p, e->a[i]->pos, PROMQL_EPARSE,
                 "expected type %s in call to function \"%s\", got %s", pq_type_name(want),
                 fn->name, pq_type_name(e->a[i]->type));
            goto fail;
        }
    }
    return e;
fail:
    promql_free(e);
    return NULL;
}

static bool parse_grouping(struct parser *p, struct promql_expr *e)
{
    e->without = tok_is(p, T_WITHOUT);
    e->grouped = true;
    advance(p);
    return parse_label_list(p, &e->grouping, "grouping opts");
}

static struct promql_expr *parse_aggregation(struct parser *p)
{
    struct promql_expr *e = node_new(p, N_AGG, p->tok.pos);
    if (!e)
        return NULL;
    e->agg = p->tok.agg;
    e->type = PROMQL_VECTOR;
    advance(p);
    if ((tok_is(p, T_BY) || tok_is(p, T_WITHOUT)) && !parse_grouping(p, e))
        goto fail;
    if (!tok_is(p, T_LPAREN)) {
        unexpected(p, "in aggregation, expected \"(\"");
        goto fail;
    }
    size_t lpos = p->tok.pos;
    advance(p);
    while (!tok_is(p, T_RPAREN)) {
        struct promql_expr *arg = parse_expr(p, 0);
        if (!arg || !add_child(p, e, arg))
            goto fail;
        if (tok_is(p, T_COMMA)) {
            advance(p);
            if (tok_is(p, T_RPAREN)) {
                perr(p, p->tok.pos, PROMQL_EPARSE,
                     "trailing commas not allowed in function call args");
                goto fail;
            }
        } else if (!tok_is(p, T_RPAREN)) {
            unexpected(p, "in aggregation, expected \",\" or \")\"");
            goto fail;
        }
    }
    advance(p);
    if (!e->grouped && (tok_is(p, T_BY) || tok_is(p, T_WITHOUT)) && !parse_grouping(p, e))
        goto fail;

    bool param = e->agg == PQ_TOPK || e->agg == PQ_BOTTOMK || e->agg == PQ_QUANTILE ||
                 e->agg == PQ_COUNT_VALUES;
    size_t want = param ? 2 : 1;
    if (e->na != want) {
        perr(p, lpos, PROMQL_EPARSE,
             "wrong number of arguments for aggregate expression provided, expected %zu, got %zu",
             want, e->na);
        goto fail;
    }
    if (param) {
        enum promql_type pt = e->agg == PQ_COUNT_VALUES ? PROMQL_STRING : PROMQL_SCALAR;
        if (e->a[0]->type != pt) {
            perr(p, e->a[0]->pos, PROMQL_EPARSE,
                 "expected type %s in aggregation parameter, got %s", pq_type_name(pt),
                 pq_type_name(e->a[0]->type));
            goto fail;
        }
    }
    if (e->a[want - 1]->type != PROMQL_VECTOR) {
        perr(p, e->a[want - 1]->pos, PROMQL_EPARSE,
             "expected type instant vector in aggregation expression, got %s",
             pq_type_name(e->a[want - 1]->type));
        goto fail;
    }
    return e;
fail:
    promql_free(e);
    return NULL;
}

static struct promql_expr *parse_primary(struct parser *p)
{
    size_t pos = p->tok.pos;
    switch (p->tok.type) {
    case T_NUMBER: {
        struct promql_expr *e = node_new(p, N_NUMBER, pos);
        if (!e)
            return NULL;
        e->type = PROMQL_SCALAR;
        int ok = parse_number_text(p->q + pos, p->tok.len, &e->num);
        if (ok < 0) {
            promql_free(e);
            return oom(p);
        }
        if (ok == 0) {
            promql_free(e);
            return perr(p, pos, PROMQL_EPARSE, "invalid number \"%.*s\"",
                        (int)(p->tok.len > 40 ? 40 : p->tok.len), p->q + pos);
        }
        advance(p);
        return e;
    }
    case T_STRING: {
        char err[160];
        char *s = pq_unquote(p->q + pos, p->tok.len, err, sizeof(err));
        if (!s)
            return perr(p, pos, PROMQL_EPARSE, "%s", err);
        struct promql_expr *e = node_new(p, N_STRING, pos);
        if (!e) {
            free(s);
            return NULL;
        }
        e->type = PROMQL_STRING;
        e->str = s;
        advance(p);
        return e;
    }
    case T_LPAREN: {
        advance(p);
        struct promql_expr *e = node_new(p, N_PAREN, pos);
        if (!e)
            return NULL;
        struct promql_expr *in = parse_expr(p, 0);
        if (!in || !add_child(p, e, in)) {
            promql_free(e);
            return NULL;
        }
        e->type = in->type;
        if (!tok_is(p, T_RPAREN)) {
            promql_free(e);
            return unexpected(p, "in parenthesized expression, expected \")\"");
        }
        advance(p);
        return e;
    }
    case T_LBRACE:
        return parse_selector(p, pos, NULL);
    case T_AGG: {
        struct pq_token next = peek_next(p);
        if (next.type == T_LPAREN || next.type == T_BY || next.type == T_WITHOUT)
            return parse_aggregation(p);
        /* An aggregation's name alone is a metric name, as in Prometheus. */
    }
        /* fall through */
    case T_AND:
    case T_OR:
    case T_UNLESS:
    case T_BY:
    case T_WITHOUT:
    case T_OFFSET:
    case T_METRIC_IDENT:
    case T_IDENT: {
        if (p->tok.type == T_IDENT && peek_next(p).type == T_LPAREN)
            return parse_call(p);
        char *name = tok_text(p);
        if (!name)
            return NULL;
        advance(p);
        return parse_selector(p, pos, name);
    }
    case T_AT:
        return perr(p, pos, PROMQL_EUNSUPPORTED, "the @ modifier is not supported");
    default:
        return unexpected(p, NULL);
    }
}

/* Ranges, offsets and @ after a primary expression. */
static struct promql_expr *parse_postfix(struct parser *p, struct promql_expr *e)
{
    for (;;) {
        if (tok_is(p, T_LBRACKET)) {
            size_t bpos = p->tok.pos;
            advance(p);
            int64_t range;
            if (!parse_duration_tok(p, &range))
                goto fail;
            /* Outside brackets ':' starts a name, so "[1h:5m]" shows up as ":5m". */
            if (tok_is(p, T_COLON) || (p->tok.len > 0 && p->q[p->tok.pos] == ':')) {
                perr(p, bpos, PROMQL_EUNSUPPORTED,
                     "subquery [range:step] is not supported by Tocsin");
                goto fail;
            }
            if (!tok_is(p, T_RBRACKET)) {
                unexpected(p, "in range, expected \"]\"");
                goto fail;
            }
            if (e->kind != N_VECSEL) {
                if (e->kind == N_MATSEL)
                    perr(p, bpos, PROMQL_EPARSE, "range specified twice");
                else
                    perr(p, bpos, PROMQL_EPARSE, "ranges only allowed for vector selectors");
                goto fail;
            }
            if (e->has_offset) {
                perr(p, bpos, PROMQL_EPARSE, "no offset modifiers allowed before range");
                goto fail;
            }
            advance(p);
            e->kind = N_MATSEL;
            e->type = PROMQL_MATRIX;
            e->range_ms = range;
        } else if (tok_is(p, T_OFFSET)) {
            size_t opos = p->tok.pos;
            if (e->kind != N_VECSEL && e->kind != N_MATSEL) {
                perr(p, opos, PROMQL_EPARSE,
                     "offset modifier must be preceded by an instant vector selector or range "
                     "vector selector");
                goto fail;
            }
            if (e->has_offset) {
                perr(p, opos, PROMQL_EPARSE, "offset may not be set multiple times");
                goto fail;
            }
            advance(p);
            bool neg = false;
            if (tok_is(p, T_SUB)) {
                neg = true;
                advance(p);
            }
            int64_t off;
            if (!parse_duration_tok(p, &off))
                goto fail;
            e->offset_ms = neg ? -off : off;
            e->has_offset = true;
        } else if (tok_is(p, T_AT)) {
            perr(p, p->tok.pos, PROMQL_EUNSUPPORTED, "the @ modifier is not supported");
            goto fail;
        } else
            return e;
    }
fail:
    promql_free(e);
    return NULL;
}

static struct promql_expr *parse_unary(struct parser *p)
{
    if (tok_is(p, T_ADD) || tok_is(p, T_SUB)) {
        size_t pos = p->tok.pos;
        bool neg = tok_is(p, T_SUB);
        advance(p);
        struct promql_expr *in = parse_expr(p, PREC_POW);
        if (!in)
            return NULL;
        if (in->kind == N_NUMBER) {
            if (neg)
                in->num = -in->num;
            in->pos = pos;
            return in;
        }
        if (in->type != PROMQL_SCALAR && in->type != PROMQL_VECTOR) {
            promql_free(in);
            return perr(p, pos, PROMQL_EPARSE,
                        "unary expression only allowed on expressions of type scalar or instant "
                        "vector");
        }
        struct promql_expr *e = node_new(p, N_UNARY, pos);
        if (!e) {
            promql_free(in);
            return NULL;
        }
        e->neg = neg;
        e->type = in->type;
        if (!add_child(p, e, in)) {
            promql_free(e);
            return NULL;
        }
        return e;
    }
    struct promql_expr *e = parse_primary(p);
    return e ? parse_postfix(p, e) : NULL;
}

/* bool, on/ignoring (...), group_left/right [(...)] after a binary operator. */
static bool parse_bin_modifiers(struct parser *p, struct promql_expr *e)
{
    if (tok_is(p, T_BOOL)) {
        e->ret_bool = true;
        advance(p);
    }
    if (tok_is(p, T_ON) || tok_is(p, T_IGNORING)) {
        e->matching = true;
        e->on = tok_is(p, T_ON);
        advance(p);
        if (!parse_label_list(p, &e->match, e->on ? "on" : "ignoring"))
            return false;
        if (tok_is(p, T_GROUP_LEFT) || tok_is(p, T_GROUP_RIGHT)) {
            e->card = tok_is(p, T_GROUP_LEFT) ? CARD_MANY_TO_ONE : CARD_ONE_TO_MANY;
            advance(p);
            if (tok_is(p, T_LPAREN) && !parse_label_list(p, &e->include, "grouping"))
                return false;
        }
    }
    return true;
}

/* Prometheus's checks on a binary expression whose operands are in place. */
static bool check_binary(struct parser *p, struct promql_expr *e, size_t oppos)
{
    enum promql_type lt = e->a[0]->type, rt = e->a[1]->type;
    const char *ops = pq_op_str(e->op);
    if (e->ret_bool && !pq_op_is_comparison(e->op)) {
        perr(p, oppos, PROMQL_EPARSE, "bool modifier can only be used on comparison operators");
        return false;
    }
    if (pq_op_is_comparison(e->op) && !e->ret_bool && lt == PROMQL_SCALAR && rt == PROMQL_SCALAR) {
        perr(p, oppos, PROMQL_EPARSE, "comparisons between scalars must use BOOL modifier");
        return false;
    }
    if (e->on)
        for (size_t i = 0; i < e->match.n; i++)
            if (pq_names_has(&e->include, e->match.v[i])) {
                perr(p, oppos, PROMQL_EPARSE,
                     "label \"%.64s\" must not occur in ON and GROUP clause at once",
                     e->match.v[i]);
                return false;
            }
    if (lt != PROMQL_SCALAR && lt != PROMQL_VECTOR) {
        perr(p, e->a[0]->pos, PROMQL_EPARSE,
             "binary expression must contain only scalar and instant vector types");
        return false;
    }
    if (rt != PROMQL_SCALAR && rt != PROMQL_VECTOR) {
        perr(p, e->a[1]->pos, PROMQL_EPARSE,
             "binary expression must contain only scalar and instant vector types");
        return false;
    }
    if (pq_op_is_set(e->op) && (lt == PROMQL_SCALAR || rt == PROMQL_SCALAR)) {
        perr(p, oppos, PROMQL_EPARSE, "set operator \"%s\" not allowed in binary scalar expression",
             ops);
        return false;
    }
    if (lt != PROMQL_VECTOR || rt != PROMQL_VECTOR) {
        if (e->match.n > 0) {
            perr(p, oppos, PROMQL_EPARSE, "vector matching only allowed between instant vectors");
            return false;
        }
        /* Matching means nothing with a scalar: forget on() and group_x. */
        e->matching = e->on = false;
        e->card = CARD_ONE_TO_ONE;
        names_free(&e->include);
    } else if (pq_op_is_set(e->op)) {
        if (e->card == CARD_MANY_TO_ONE || e->card == CARD_ONE_TO_MANY) {
            perr(p, oppos, PROMQL_EPARSE, "no grouping allowed for \"%s\" operation", ops);
            return false;
        }
        e->card = CARD_MANY_TO_MANY;
    }
    e->type = (lt == PROMQL_SCALAR && rt == PROMQL_SCALAR) ? PROMQL_SCALAR : PROMQL_VECTOR;
    return true;
}

static struct promql_expr *parse_expr(struct parser *p, int min_prec)
{
    if (++p->depth > PQ_MAX_NESTING) {
        p->depth--;
        return perr(p, p->tok.pos, PROMQL_EPARSE,
                    "expression is nested too deeply (more than %d levels)", PQ_MAX_NESTING);
    }
    struct promql_expr *lhs = parse_unary(p);
    while (lhs) {
        int prec = binop_prec(p->tok.type);
        if (prec == 0 || prec < min_prec)
            break;
        size_t oppos = p->tok.pos;
        struct promql_expr *e = node_new(p, N_BINARY, lhs->pos);
        if (!e) {
            promql_free(lhs);
            lhs = NULL;
            break;
        }
        e->op = (enum pq_op)(p->tok.type - T_ADD);
        advance(p);
        bool ok = add_child(p, e, lhs) && parse_bin_modifiers(p, e);
        struct promql_expr *rhs = ok ? parse_expr(p, prec == PREC_POW ? prec : prec + 1) : NULL;
        if (!rhs || !add_child(p, e, rhs) || !check_binary(p, e, oppos)) {
            promql_free(e);
            lhs = NULL;
            break;
        }
        lhs = e;
    }
    p->depth--;
    return lhs;
}

int promql_parse(const char *query, struct promql_expr **out, char *err, size_t errlen)
{
    struct parser p;
    memset(&p, 0, sizeof(p));
    *out = NULL;
    p.q = query;
    p.err = err;
    p.errlen = errlen;
    size_t len = strlen(query);
    if (len > PQ_MAX_QUERY) {
        snprintf(err, errlen, "position 1: query is longer than %d bytes", PQ_MAX_QUERY);
        return PROMQL_EPARSE;
    }
    p.lx.s = query;
    p.lx.len = len;
    advance(&p);
    if (tok_is(&p, T_EOF)) {
        snprintf(err, errlen, "position 1: no expression found in input");
        return PROMQL_EPARSE;
    }
    struct promql_expr *e = parse_expr(&p, 0);
    if (e && !tok_is(&p, T_EOF)) {
        if (tok_is(&p, T_RPAREN))
            perr(&p, p.tok.pos, PROMQL_EPARSE, "unexpected right parenthesis \")\"");
        else
            unexpected(&p, NULL);
        promql_free(e);
        e = NULL;
    }
    if (!e)
        return p.status ? p.status : PROMQL_EPARSE;
    *out = e;
    return PROMQL_OK;
}

int promql_parse_selector(const char *s, struct matcher **out, size_t *n, char *err, size_t errlen)
{
    struct promql_expr *e = NULL;
    *out = NULL;
    *n = 0;
    int rc = promql_parse(s, &e, err, errlen);
    if (rc != PROMQL_OK)
        return PROMQL_EPARSE;
    if (e->kind != N_VECSEL || e->has_offset) {
        snprintf(err, errlen, "\"%.200s\" is not a series selector such as up{job=\"node\"}", s);
        promql_free(e);
        return PROMQL_EPARSE;
    }
    /* The matchers move out of the tree, which is then freed without them. */
    *out = e->m;
    *n = e->nm;
    e->m = NULL;
    e->nm = 0;
    promql_free(e);
    return PROMQL_OK;
}
