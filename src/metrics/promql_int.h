/*
 * promql_int.h - what the PromQL files share: the syntax tree, the lexer's
 * tokens, the function table, and the evaluator's values.
 *
 * The evaluator works on whole ranges at once, as Prometheus's rangeEval
 * does: an instant vector is a set of series, each with one slot per step
 * (value and a present flag), so label work (grouping, matching, dropping the
 * metric name) is done once per series and only arithmetic runs per step. An
 * instant query is a range query with one step.
 */
#ifndef TOCSIN_PROMQL_INT_H
#define TOCSIN_PROMQL_INT_H

#include "promql.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what a query may ask for. */
#define PQ_MAX_QUERY     (64 * 1024) /* bytes of query text */
#define PQ_MAX_NESTING   64          /* parentheses, calls, aggregations, unary operators */
#define PQ_MAX_TREE      256         /* depth of the tree, binary chains included */
#define PQ_MAX_STEPS     11000       /* points per series in a range query, as Prometheus */
#define PQ_DEFAULT_LB    (5 * 60 * 1000)
#define PQ_DEFAULT_LIMIT 50000000

/* Prometheus's staleness marker, a NaN that ends a series. */
#define PQ_STALE_BITS 0x7ff0000000000002ULL
bool pq_is_stale(double v);

/* ---- lexer ---- */

enum pq_tok {
    T_EOF,
    T_ERROR,
    T_NUMBER,
    T_DURATION,
    T_STRING,
    T_IDENT,
    T_METRIC_IDENT, /* an identifier with a colon: a metric name only */
    T_LPAREN,
    T_RPAREN,
    T_LBRACE,
    T_RBRACE,
    T_LBRACKET,
    T_RBRACKET,
    T_COMMA,
    T_COLON,
    T_AT,
    T_ASSIGN, /* = */
    T_RE,     /* =~ */
    T_NRE,    /* !~ */
    /* binary operators, in the order of enum pq_op */
    T_ADD,
    T_SUB,
    T_MUL,
    T_DIV,
    T_MOD,
    T_POW,
    T_ATAN2,
    T_EQLC,
    T_NEQ,
    T_GTR,
    T_LSS,
    T_GTE,
    T_LTE,
    T_AND,
    T_OR,
    T_UNLESS,
    /* keywords */
    T_BY,
    T_WITHOUT,
    T_ON,
    T_IGNORING,
    T_GROUP_LEFT,
    T_GROUP_RIGHT,
    T_BOOL,
    T_OFFSET,
    T_AGG, /* an aggregation operator; tok.agg says which */
};

enum pq_op {
    PQ_ADD,
    PQ_SUB,
    PQ_MUL,
    PQ_DIV,
    PQ_MOD,
    PQ_POW,
    PQ_ATAN2,
    PQ_EQLC,
    PQ_NEQ,
    PQ_GTR,
    PQ_LSS,
    PQ_GTE,
    PQ_LTE,
    PQ_AND,
    PQ_OR,
    PQ_UNLESS,
};

enum pq_agg {
    PQ_SUM,
    PQ_AVG,
    PQ_COUNT,
    PQ_MIN,
    PQ_MAX,
    PQ_GROUP,
    PQ_STDDEV,
    PQ_STDVAR,
    PQ_TOPK,
    PQ_BOTTOMK,
    PQ_COUNT_VALUES,
    PQ_QUANTILE,
};

struct pq_token {
    enum pq_tok type;
    size_t pos, len; /* bytes of the query */
    enum pq_agg agg; /* T_AGG */
};

struct pq_lexer {
    const char *s;
    size_t len, pos;
    char err[160]; /* T_ERROR: the message */
};

/*
 * The next token. in_braces selects the rules inside a selector's braces,
 * where keywords are plain label names and "=" is a matcher.
 */
void pq_lex_next(struct pq_lexer *lx, bool in_braces, struct pq_token *tok);

/*
 * Decodes a string literal token (with its quotes) into a new NUL-terminated
 * string. Returns NULL with a message in err when an escape is invalid, the
 * result is not UTF-8, or memory runs out.
 */
char *pq_unquote(const char *tok, size_t len, char *err, size_t errlen);

/*
 * Refuses regular expressions whose counted repetitions would make regcomp
 * build an enormous automaton (Go's rule: at most 1000 copies, nested
 * repetitions multiplied). Returns 0, or -1 with a message.
 */
int pq_regex_check(const char *re, char *err, size_t errlen);

/* ---- functions ---- */

enum pq_fn {
    F_ABS,
    F_ABSENT,
    F_ABSENT_OVER_TIME,
    F_ACOS,
    F_ACOSH,
    F_ASIN,
    F_ASINH,
    F_ATAN,
    F_ATANH,
    F_AVG_OVER_TIME,
    F_CEIL,
    F_CHANGES,
    F_CLAMP,
    F_CLAMP_MAX,
    F_CLAMP_MIN,
    F_COS,
    F_COSH,
    F_COUNT_OVER_TIME,
    F_DAY_OF_MONTH,
    F_DAY_OF_WEEK,
    F_DAY_OF_YEAR,
    F_DAYS_IN_MONTH,
    F_DEG,
    F_DELTA,
    F_DERIV,
    F_EXP,
    F_FLOOR,
    F_HISTOGRAM_COUNT,
    F_HISTOGRAM_FRACTION,
    F_HISTOGRAM_QUANTILE,
    F_HISTOGRAM_SUM,
    F_HOLT_WINTERS,
    F_HOUR,
    F_IDELTA,
    F_INCREASE,
    F_IRATE,
    F_LABEL_JOIN,
    F_LABEL_REPLACE,
    F_LAST_OVER_TIME,
    F_LN,
    F_LOG10,
    F_LOG2,
    F_MAX_OVER_TIME,
    F_MIN_OVER_TIME,
    F_MINUTE,
    F_MONTH,
    F_PI,
    F_PREDICT_LINEAR,
    F_PRESENT_OVER_TIME,
    F_QUANTILE_OVER_TIME,
    F_RAD,
    F_RATE,
    F_RESETS,
    F_ROUND,
    F_SCALAR,
    F_SGN,
    F_SIN,
    F_SINH,
    F_SORT,
    F_SORT_DESC,
    F_SQRT,
    F_STDDEV_OVER_TIME,
    F_STDVAR_OVER_TIME,
    F_SUM_OVER_TIME,
    F_TAN,
    F_TANH,
    F_TIME,
    F_TIMESTAMP,
    F_VECTOR,
    F_YEAR,
};

struct pq_func {
    const char *name;
    enum pq_fn id;
    int nargs;                /* declared argument types */
    enum promql_type argt[5]; /* the last one repeats when variadic */
    int variadic;             /* 0: exactly nargs; n > 0: up to n more; -1: any number more */
    int optional;             /* this many trailing declared args may be left out */
    enum promql_type ret;
    bool supported; /* false: known to Prometheus, not evaluated here */
};

/* The function called name (len bytes), or NULL. */
const struct pq_func *pq_func_lookup(const char *name, size_t len);

/* ---- syntax tree ---- */

enum pq_node {
    N_NUMBER,
    N_STRING,
    N_VECSEL, /* instant vector selector */
    N_MATSEL, /* range vector selector */
    N_PAREN,
    N_UNARY,
    N_BINARY,
    N_CALL,
    N_AGG,
};

enum pq_card { CARD_ONE_TO_ONE, CARD_MANY_TO_ONE, CARD_ONE_TO_MANY, CARD_MANY_TO_MANY };

struct pq_names {
    size_t n;
    char **v; /* owned strings */
};

struct promql_expr {
    enum pq_node kind;
    enum promql_type type; /* what it evaluates to */
    size_t pos;            /* byte offset where it starts, for messages */
    int depth;             /* levels of the tree below and including this node */

    double num; /* N_NUMBER */
    char *str;  /* N_STRING: owned */
    bool neg;   /* N_UNARY: true for minus, false for plus */

    /* N_VECSEL, N_MATSEL */
    char *name;        /* owned metric name, NULL when only matchers */
    struct matcher *m; /* owned; includes __name__="name" */
    size_t nm;
    int64_t offset_ms; /* may be negative */
    bool has_offset;
    int64_t range_ms; /* N_MATSEL */

    /* N_BINARY */
    enum pq_op op;
    bool ret_bool;
    bool matching; /* on(...) or ignoring(...) was written */
    bool on;
    enum pq_card card;
    struct pq_names match;   /* on/ignoring labels */
    struct pq_names include; /* group_left/right labels */

    /* N_CALL */
    const struct pq_func *fn;

    /* N_AGG */
    enum pq_agg agg;
    bool without;
    bool grouped; /* by(...) or without(...) was written */
    struct pq_names grouping;

    /* children: N_PAREN/N_UNARY: a[0]; N_BINARY: a[0] op a[1]; N_CALL:
     * the arguments; N_AGG: [param,] expression */
    struct promql_expr **a;
    size_t na;
};

const char *pq_type_name(enum promql_type t);
const char *pq_op_str(enum pq_op op);
const char *pq_agg_str(enum pq_agg a);
bool pq_op_is_comparison(enum pq_op op);
bool pq_op_is_set(enum pq_op op);

/* Go's strconv.FormatFloat(v, fmt, -1, 64) for fmt 'f' or 'e' (shortest digits that read back). */
void pq_format_float(double v, char fmt, char buf[400]);

/* Prometheus's text for a duration ("1h30m", "5m", "0s"). */
void pq_format_duration(int64_t ms, char buf[64]);

/* ---- labels ---- */

/* Label sets compare as Prometheus's labels.Compare: pair by pair, name then value. */
int pq_ls_cmp(const struct labelset *a, const struct labelset *b);
bool pq_ls_eq(const struct labelset *a, const struct labelset *b);
uint64_t pq_ls_hash(const struct labelset *ls);
/* Copies: all pairs; all but names (and __name__ when drop_name); only names. -1 when out of
 * memory. */
int pq_ls_copy(struct labelset *dst, const struct labelset *src);
int pq_ls_copy_without(struct labelset *dst, const struct labelset *src,
                       const struct pq_names *names, bool drop_name);
int pq_ls_copy_only(struct labelset *dst, const struct labelset *src, const struct pq_names *names);
void pq_ls_del(struct labelset *ls, const char *name);
/* An empty value deletes the label, as in Prometheus's label builder. */
int pq_ls_set(struct labelset *ls, const char *name, const char *value);
bool pq_names_has(const struct pq_names *names, const char *name);

/*
 * An open-addressing map from a 64-bit hash to an int, for label sets kept by
 * the caller: lookups pass an equality callback that compares the caller's
 * key for a candidate index.
 */
struct pq_map {
    size_t cap, n;
    uint64_t *h;
    int *idx; /* -1: empty */
};
typedef bool (*pq_map_eq)(void *ctx, int idx);
int pq_map_get(const struct pq_map *m, uint64_t h, pq_map_eq eq, void *ctx);
int pq_map_put(struct pq_map *m, uint64_t h, int idx);
void pq_map_free(struct pq_map *m);

/* ---- evaluation ---- */

struct pq_ctx {
    const struct promql_storage *st;
    int64_t start, end, step;
    size_t nsteps;
    int64_t lookback;
    size_t max_samples;
    size_t cur_samples; /* loaded samples plus result points held now */
    int64_t rollup_res; /* 0: read raw data; else TSDB_ROLLUP_5M or TSDB_ROLLUP_1H */
    bool used_rollup;
    bool want_ts; /* selectors keep sample timestamps (timestamp() asks) */
    char *err;
    size_t errlen;
};

/* One series of an instant-vector value: a slot per step. */
struct pq_series {
    struct labelset ls;
    double *v;   /* nsteps values */
    uint8_t *ok; /* nsteps flags: a point exists at this step */
    int64_t *ts; /* NULL, or the sample timestamps (selectors, for timestamp()) */
};

struct pq_value {
    enum promql_type type;
    double *sc;          /* PROMQL_SCALAR: nsteps values */
    struct pq_series *s; /* PROMQL_VECTOR */
    size_t n;
    const char *str; /* PROMQL_STRING: borrowed from the tree */
    bool ordered;    /* the series order is the answer (sort, topk): do not re-sort */
};

static inline int64_t pq_step_t(const struct pq_ctx *c, size_t i)
{
    return c->start + (int64_t)i * c->step;
}

/* Records a message and returns status (a negative promql_status). */
int pq_fail(struct pq_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Counts n more points held in memory; PROMQL_ELIMIT past max_samples. */
int pq_charge(struct pq_ctx *c, size_t n);
void pq_release(struct pq_ctx *c, size_t n);

/* Allocates v and ok (all absent) for one series and charges nsteps points. */
int pq_series_alloc(struct pq_ctx *c, struct pq_series *s);
void pq_series_free(struct pq_ctx *c, struct pq_series *s);
void pq_value_free(struct pq_ctx *c, struct pq_value *v);
/* Drops the series without any point, keeping the order. */
void pq_value_compact(struct pq_ctx *c, struct pq_value *v);

/* Evaluates e over every step of c. */
int pq_eval(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out);
/* A scalar value filled with x at every step. */
int pq_scalar_new(struct pq_ctx *c, struct pq_value *out, double x);
/* The raw evaluation of an instant selector (no rollups). */
int pq_eval_vecsel_raw(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out);

/*
 * Builds the series of a result keyed by label set: a point written twice at
 * one step is Prometheus's "vector cannot contain metrics with the same
 * labelset".
 */
struct pq_vb {
    struct pq_ctx *c;
    struct pq_series *s;
    size_t n, cap;
    struct pq_map map;
    const struct labelset *probe; /* the key being looked up */
};
void pq_vb_init(struct pq_vb *b, struct pq_ctx *c);
/* The series for *ls (taken over: moved into the builder or freed). Returns the index or < 0. */
int pq_vb_slot(struct pq_vb *b, struct labelset *ls);
int pq_vb_put(struct pq_vb *b, int slot, size_t step, double v);
/* Moves the series into out (a vector) and drops those without points. */
void pq_vb_finish(struct pq_vb *b, struct pq_value *out);
void pq_vb_free(struct pq_vb *b);

/* Raw data of one selector. */
struct pq_raw {
    struct tsdb_series *s;
    size_t n;
    size_t samples;
};
int pq_select(struct pq_ctx *c, const struct promql_expr *sel, int64_t mint, int64_t maxt,
              struct pq_raw *out);
void pq_raw_free(struct pq_ctx *c, struct pq_raw *r);

/* Rollup buckets of one selector. */
struct pq_rraw {
    struct tsdb_rollup_series *s;
    size_t n;
    size_t buckets;
};
int pq_select_rollup(struct pq_ctx *c, const struct promql_expr *sel, int64_t mint, int64_t maxt,
                     struct pq_rraw *out);
void pq_rraw_free(struct pq_ctx *c, struct pq_rraw *r);

/* Labels absent() gives for a selector: its equality matchers (-1: out of memory). */
int pq_absent_labels(const struct promql_expr *sel, struct labelset *ls);
/* Prometheus's quantile of n values (sorted in place, NaN first). */
double pq_quantile(double q, double *vals, size_t n);

int pq_eval_call(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out);
int pq_eval_agg(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out);
int pq_eval_binary(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out);

/* Rollups: whether the query may read buckets at this step (0 or a resolution). */
int64_t pq_rollup_resolution(const struct promql_expr *e, int64_t step_ms);
/* Whether a call to fn over a range selector can be answered from buckets. */
bool pq_rollup_fn(enum pq_fn fn);
int pq_rollup_call(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out);
int pq_rollup_vecsel(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out);

/* Go's math.Max and math.Min: NaN wins. */
double pq_go_max(double a, double b);
double pq_go_min(double a, double b);
/* Kahan-Neumaier summation step, as Prometheus's kahanSumInc. */
void pq_kahan_inc(double inc, double *sum, double *c);

#endif
