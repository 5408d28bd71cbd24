/*
 * test_promql_parse.c - the PromQL lexer and parser (src/metrics/promql_lex.c,
 * promql_parse.c, promql_format.c): canonical text, numbers, durations and
 * strings, precedence, Prometheus's type checks and their messages with
 * positions, unsupported constructs, and the bounds on length and nesting.
 *
 * Expected canonical forms are Prometheus's own String() output; the error
 * texts follow Prometheus 2.42's messages (checked with promtool), with
 * "position N" for its "1:N: parse error".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics/promql.h"
#include "metrics/promql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The canonical text of q, or the error prefixed with its status. */
static char *canon(const char *q)
{
    struct promql_expr *e = NULL;
    char err[512] = "";
    int rc = promql_parse(q, &e, err, sizeof(err));
    if (rc != PROMQL_OK) {
        char *out = malloc(600);
        snprintf(out, 600, "ERR(%d) %s", rc, err);
        return out;
    }
    char *s = promql_format(e);
    assert_non_null(s);
    /* The canonical text parses again to the same text. */
    struct promql_expr *again = NULL;
    if (promql_parse(s, &again, err, sizeof(err)) != PROMQL_OK)
        fail_msg("canonical text %s of %s does not parse: %s", s, q, err);
    char *s2 = promql_format(again);
    if (strcmp(s, s2) != 0)
        fail_msg("canonical text is not stable: %s -> %s", s, s2);
    free(s2);
    promql_free(again);
    promql_free(e);
    return s;
}

static void expect_canon(const char *q, const char *want)
{
    char *got = canon(q);
    if (strcmp(got, want) != 0)
        fail_msg("%s\n  got:  %s\n  want: %s", q, got, want);
    free(got);
}

static void expect_err(const char *q, int status, const char *want)
{
    struct promql_expr *e = NULL;
    char err[512] = "";
    int rc = promql_parse(q, &e, err, sizeof(err));
    if (rc != status || strcmp(err, want) != 0)
        fail_msg("%s\n  got:  %d %s\n  want: %d %s", q, rc, err, status, want);
    assert_null(e);
}

static void test_canonical_text(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"foo", "foo"},
        {"  foo  ", "foo"},
        {"foo{}", "foo"},
        {"foo{b=\"2\",a=~'x.*'}", "foo{a=~\"x.*\",b=\"2\"}"},
        {"{__name__=\"foo\",a!=\"\"}", "{__name__=\"foo\",a!=\"\"}"},
        {"{__name__=~\"foo|bar\"}", "{__name__=~\"foo|bar\"}"},
        {"foo{a!~`\\d+`}", "foo{a!~\"\\\\d+\"}"},
        {"foo:bar:rate5m", "foo:bar:rate5m"},
        {"foo[5m]", "foo[5m]"},
        {"foo[90s]", "foo[1m30s]"},
        {"foo[3600s]", "foo[1h]"},
        {"foo[1h30m]", "foo[1h30m]"},
        {"foo[7d]", "foo[1w]"},
        {"foo[8d]", "foo[8d]"},
        {"foo[365d]", "foo[1y]"},
        {"foo[250ms]", "foo[250ms]"},
        {"foo offset 5m", "foo offset 5m"},
        {"foo offset -5m", "foo offset -5m"},
        {"foo[5m] offset 1h", "foo[5m] offset 1h"},
        {"rate(foo[5m])", "rate(foo[5m])"},
        {"sum by (job) (rate(foo[5m]))", "sum by (job) (rate(foo[5m]))"},
        {"sum(rate(foo[5m])) by (job,instance)", "sum by (job, instance) (rate(foo[5m]))"},
        {"SUM WITHOUT (a) (foo)", "sum without (a) (foo)"},
        {"sum without () (foo)", "sum without () (foo)"},
        {"sum by () (foo)", "sum(foo)"},
        {"topk(5, foo)", "topk(5, foo)"},
        {"count_values('v', foo)", "count_values(\"v\", foo)"},
        {"quantile by (a) (0.9, foo)", "quantile by (a) (0.9, foo)"},
        {"min by (on, by, bool) (foo)", "min by (on, by, bool) (foo)"},
        {"a + b * c", "a + b * c"},
        {"(a + b) * c", "(a + b) * c"},
        {"a + on(x) group_left(y) b", "a + on (x) group_left (y) b"},
        {"a + ignoring(x) group_right b", "a + ignoring (x) group_right () b"},
        {"a > bool b", "a > bool b"},
        {"a == bool on() b", "a == bool on () b"},
        {"a and on(x) b", "a and on (x) b"},
        {"a unless ignoring(x) b", "a unless ignoring (x) b"},
        {"1 + on() 2", "1 + 2"},
        {"a atan2 b", "a atan2 b"},
        {"-foo", "-foo"},
        {"+foo", "+foo"},
        {"- -foo", "--foo"},
        {"-1", "-1"},
        {"- 1", "-1"},
        {"--1", "1"},
        {"+1", "1"},
        {"-(1)", "-(1)"},
        {"1e3", "1000"},
        {".5", "0.5"},
        {"5.", "5"},
        {"0x1F", "31"},
        {"0X1f", "31"},
        {"010", "8"},
        {"09", "9"},
        {"1.5e-7", "0.00000015"},
        {"Inf", "+Inf"},
        {"-inf", "-Inf"},
        {"+INF", "+Inf"},
        {"NaN", "NaN"},
        {"nan", "NaN"},
        {"\"a\\tb\\n\\\"c\\\"\"", "\"a\\tb\\n\\\"c\\\"\""},
        {"'it\\'s'", "\"it's\""},
        {"`raw\\n`", "\"raw\\\\n\""},
        {"\"\\x41\\101\\u00e9\\U0001F600\"", "\"AA\xc3\xa9\xf0\x9f\x98\x80\""},
        {"foo # a comment\n + bar", "foo + bar"},
        {"sum # by\n(foo)", "sum(foo)"},
        {"sum", "sum"},
        {"by + offset", "by + offset"},
        {"rate", "rate"},
        {"offset offset 1m", "offset offset 1m"},
        {"sum(foo) or max(bar)", "sum(foo) or max(bar)"},
        {"histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
         "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))"},
        {"label_replace(up, \"dst\", \"$1\", \"src\", \"(.*)\")",
         "label_replace(up, \"dst\", \"$1\", \"src\", \"(.*)\")"},
        {"round(foo)", "round(foo)"},
        {"round(foo, 5)", "round(foo, 5)"},
        {"day_of_month()", "day_of_month()"},
        {"time()", "time()"},
        {"vector(1)", "vector(1)"},
        {"label_join(foo, \"d\", \",\")", "label_join(foo, \"d\", \",\")"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_canon(cases[i][0], cases[i][1]);
}

/* The tree's shape, with parentheses around every binary and unary node. */
static void shape(const struct promql_expr *e, char *buf, size_t len)
{
    char a[512], b[512];
    switch (e->kind) {
    case N_BINARY:
        shape(e->a[0], a, sizeof(a));
        shape(e->a[1], b, sizeof(b));
        snprintf(buf, len, "(%s %s %s)", a, pq_op_str(e->op), b);
        break;
    case N_UNARY:
        shape(e->a[0], a, sizeof(a));
        snprintf(buf, len, "(%s%s)", e->neg ? "-" : "+", a);
        break;
    case N_PAREN:
        shape(e->a[0], buf, len);
        break;
    default: {
        char *s = promql_format(e);
        snprintf(buf, len, "%s", s);
        free(s);
    }
    }
}

static void expect_shape(const char *q, const char *want)
{
    struct promql_expr *e = NULL;
    char err[256], got[1024];
    if (promql_parse(q, &e, err, sizeof(err)) != PROMQL_OK)
        fail_msg("%s: %s", q, err);
    shape(e, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("%s\n  got:  %s\n  want: %s", q, got, want);
    promql_free(e);
}

static void test_precedence(void **state)
{
    (void)state;
    /* As Prometheus's grammar: ^ right-assoc; unary minus binds like *. */
    expect_shape("a + b * c", "(a + (b * c))");
    expect_shape("a * b + c", "((a * b) + c)");
    expect_shape("a - b - c", "((a - b) - c)");
    expect_shape("a / b * c % d", "(((a / b) * c) % d)");
    expect_shape("a ^ b ^ c", "(a ^ (b ^ c))");
    expect_shape("-a ^ b", "(-(a ^ b))");
    expect_shape("-a * b", "((-a) * b)");
    expect_shape("-2 ^ 2", "(-(2 ^ 2))");
    expect_shape("2 ^ -3 * 4", "((2 ^ -3) * 4)");
    expect_shape("a atan2 b + c", "((a atan2 b) + c)");
    expect_shape("a + b > c", "((a + b) > c)");
    expect_shape("a > b and c", "((a > b) and c)");
    expect_shape("a and b or c unless d", "((a and b) or (c unless d))");
    expect_shape("a or b and c", "(a or (b and c))");
    expect_shape("a unless b and c", "((a unless b) and c)");
    expect_shape("a == b != c", "((a == b) != c)");
    expect_shape("a offset 5m + b", "(a offset 5m + b)");
    expect_shape("-a offset 5m", "(-a offset 5m)");
}

static void test_errors(void **state)
{
    (void)state;
    expect_err("", PROMQL_EPARSE, "position 1: no expression found in input");
    expect_err("  # only a comment", PROMQL_EPARSE, "position 1: no expression found in input");
    expect_err("sum by", PROMQL_EPARSE,
               "position 7: unexpected end of input in grouping opts, expected \"(\"");
    expect_err("foo(bar)", PROMQL_EPARSE, "position 1: unknown function with name \"foo\"");
    expect_err("x:y(rate)", PROMQL_EPARSE, "position 4: unexpected \"(\"");
    expect_err("bool", PROMQL_EPARSE, "position 1: unexpected \"bool\"");
    expect_err("0x", PROMQL_EPARSE, "position 1: invalid number \"0x\"");
    expect_err("1e", PROMQL_EPARSE, "position 1: invalid number \"1e\"");
    expect_err("1)", PROMQL_EPARSE, "position 2: unexpected right parenthesis \")\"");
    expect_err("(1", PROMQL_EPARSE,
               "position 3: unexpected end of input in parenthesized expression, expected \")\"");
    expect_err("{}", PROMQL_EPARSE,
               "position 1: vector selector must contain at least one non-empty matcher");
    expect_err("{a=~\".*\"}", PROMQL_EPARSE,
               "position 1: vector selector must contain at least one non-empty matcher");
    expect_err("foo{a=\"1\"", PROMQL_EPARSE, "position 10: unexpected end of input inside braces");
    expect_err("foo{a=1}", PROMQL_EPARSE, "position 7: unexpected character inside braces: '1'");
    expect_err("foo{a!1}", PROMQL_EPARSE,
               "position 6: unexpected character after '!' inside braces: '1'");
    expect_err("foo[5x]", PROMQL_EPARSE, "position 5: bad number or duration syntax: \"5x\"");
    expect_err("foo[1h1y]", PROMQL_EPARSE, "position 5: bad number or duration syntax: \"1h1y\"");
    expect_err("foo[1m1m]", PROMQL_EPARSE, "position 5: not a valid duration string: \"1m1m\"");
    expect_err("foo[0s]", PROMQL_EPARSE, "position 5: duration must be greater than 0");
    expect_err("foo offset 0s", PROMQL_EPARSE, "position 12: duration must be greater than 0");
    expect_err("foo[5m", PROMQL_EPARSE,
               "position 7: unexpected end of input in range, expected \"]\"");
    expect_err("rate(foo)", PROMQL_EPARSE,
               "position 6: expected type range vector in call to function \"rate\", got instant "
               "vector");
    expect_err("rate(foo[5m], 1)", PROMQL_EPARSE,
               "position 1: expected 1 argument(s) in call to \"rate\", got 2");
    expect_err("abs(foo[5m])", PROMQL_EPARSE,
               "position 5: expected type instant vector in call to function \"abs\", got range "
               "vector");
    expect_err("round(foo, 1, 2)", PROMQL_EPARSE,
               "position 1: expected at most 2 argument(s) in call to \"round\", got 3");
    expect_err("label_join(foo, \"a\")", PROMQL_EPARSE,
               "position 1: expected at least 3 argument(s) in call to \"label_join\", got 2");
    expect_err("time(1)", PROMQL_EPARSE,
               "position 1: expected 0 argument(s) in call to \"time\", got 1");
    expect_err("rate(foo[5m],)", PROMQL_EPARSE,
               "position 14: trailing commas not allowed in function call args");
    expect_err("sum(foo[5m])", PROMQL_EPARSE,
               "position 5: expected type instant vector in aggregation expression, got range "
               "vector");
    expect_err("topk(foo, foo)", PROMQL_EPARSE,
               "position 6: expected type scalar in aggregation parameter, got instant vector");
    expect_err("count_values(1, foo)", PROMQL_EPARSE,
               "position 14: expected type string in aggregation parameter, got scalar");
    expect_err("sum(foo, foo)", PROMQL_EPARSE,
               "position 4: wrong number of arguments for aggregate expression provided, expected "
               "1, got 2");
    expect_err("foo + foo[5m]", PROMQL_EPARSE,
               "position 7: binary expression must contain only scalar and instant vector types");
    expect_err("\"a\" + 1", PROMQL_EPARSE,
               "position 1: binary expression must contain only scalar and instant vector types");
    expect_err("foo and 1", PROMQL_EPARSE,
               "position 5: set operator \"and\" not allowed in binary scalar expression");
    expect_err("foo + bool foo", PROMQL_EPARSE,
               "position 5: bool modifier can only be used on comparison operators");
    expect_err("1 < 2", PROMQL_EPARSE,
               "position 3: comparisons between scalars must use BOOL modifier");
    expect_err("foo + on(a) group_left(a) foo", PROMQL_EPARSE,
               "position 5: label \"a\" must not occur in ON and GROUP clause at once");
    expect_err("foo and on(a) group_left foo", PROMQL_EPARSE,
               "position 5: no grouping allowed for \"and\" operation");
    expect_err("1 + on(a) foo", PROMQL_EPARSE,
               "position 3: vector matching only allowed between instant vectors");
    expect_err("foo offset 5m offset 5m", PROMQL_EPARSE,
               "position 15: offset may not be set multiple times");
    expect_err("(foo) offset 5m", PROMQL_EPARSE,
               "position 7: offset modifier must be preceded by an instant vector selector or "
               "range vector selector");
    expect_err("foo offset 5m[5m]", PROMQL_EPARSE,
               "position 14: no offset modifiers allowed before range");
    expect_err("(foo)[5m]", PROMQL_EPARSE, "position 6: ranges only allowed for vector selectors");
    expect_err("foo[5m][5m]", PROMQL_EPARSE, "position 8: range specified twice");
    expect_err("foo{__name__=\"bar\"}", PROMQL_EPARSE,
               "position 5: metric name must not be set twice: \"foo\" or \"bar\"");
    expect_err("foo{a=\"\\q\"}", PROMQL_EPARSE, "position 7: unknown escape sequence \\q");
    expect_err("'abc", PROMQL_EPARSE, "position 1: unterminated quoted string");
    expect_err("\"a\nb\"", PROMQL_EPARSE, "position 1: unterminated quoted string");
    expect_err("`abc", PROMQL_EPARSE, "position 1: unterminated raw string");
    expect_err("\"\\xff\"", PROMQL_EPARSE, "position 1: string is not valid UTF-8 text");
    expect_err("\"\\x00\"", PROMQL_EPARSE, "position 1: string is not valid UTF-8 text");
    expect_err("\"\\ud800\"", PROMQL_EPARSE,
               "position 1: escape sequence is an invalid Unicode code point");
    expect_err("- \"a\"", PROMQL_EPARSE,
               "position 1: unary expression only allowed on expressions of type scalar or "
               "instant vector");
    expect_err("foo{a=~\"(\"}", PROMQL_EPARSE,
               "position 5: invalid regular expression \"(\": Unmatched ( or \\(");
    expect_err("foo == == foo", PROMQL_EPARSE, "position 8: unexpected \"==\"");
    expect_err("foo ! foo", PROMQL_EPARSE, "position 5: unexpected character after '!': ' '");
    expect_err("foo $ 1", PROMQL_EPARSE, "position 5: unexpected character: '$'");
    expect_err("foo \x01", PROMQL_EPARSE, "position 5: unexpected character: byte 0x01");
    expect_err("[5m]", PROMQL_EPARSE, "position 1: unexpected \"[\"");
    expect_err("1 +", PROMQL_EPARSE, "position 4: unexpected end of input");
    expect_err("foo bar", PROMQL_EPARSE, "position 5: unexpected identifier \"bar\"");
    expect_err("5m", PROMQL_EPARSE, "position 1: unexpected duration \"5m\"");
}

static void test_unsupported(void **state)
{
    (void)state;
    expect_err("rate(foo[5m])[1h:5m]", PROMQL_EUNSUPPORTED,
               "position 14: subquery [range:step] is not supported by Tocsin");
    expect_err("foo[1h:]", PROMQL_EUNSUPPORTED,
               "position 4: subquery [range:step] is not supported by Tocsin");
    expect_err("max_over_time(rate(foo[5m])[1h:1m])", PROMQL_EUNSUPPORTED,
               "position 28: subquery [range:step] is not supported by Tocsin");
    expect_err("foo @ 1700000000", PROMQL_EUNSUPPORTED,
               "position 5: the @ modifier is not supported");
    expect_err("foo[5m] @ end()", PROMQL_EUNSUPPORTED,
               "position 9: the @ modifier is not supported");
    expect_err("histogram_count(foo)", PROMQL_EUNSUPPORTED,
               "position 1: function \"histogram_count\" is not supported");
    expect_err("histogram_fraction(0, 1, foo)", PROMQL_EUNSUPPORTED,
               "position 1: function \"histogram_fraction\" is not supported");
    expect_err("sum(histogram_sum(foo))", PROMQL_EUNSUPPORTED,
               "position 5: function \"histogram_sum\" is not supported");
}

static void test_limits(void **state)
{
    (void)state;
    struct promql_expr *e = NULL;
    char err[256];
    /* 64 KiB of query is accepted, one byte more is not. */
    size_t n = PQ_MAX_QUERY;
    char *q = malloc(n + 2);
    memset(q, ' ', n);
    q[0] = '1';
    q[n] = '\0';
    assert_int_equal(promql_parse(q, &e, err, sizeof(err)), PROMQL_OK);
    promql_free(e);
    q[n] = ' ';
    q[n + 1] = '\0';
    assert_int_equal(promql_parse(q, &e, err, sizeof(err)), PROMQL_EPARSE);
    assert_string_equal(err, "position 1: query is longer than 65536 bytes");

    /* Nesting: 63 parentheses parse, 64 do not (one level is the top). */
    for (size_t depth = 63; depth <= 64; depth++) {
        size_t o = 0;
        for (size_t i = 0; i < depth; i++)
            q[o++] = '(';
        q[o++] = '1';
        for (size_t i = 0; i < depth; i++)
            q[o++] = ')';
        q[o] = '\0';
        int rc = promql_parse(q, &e, err, sizeof(err));
        if (depth == 63) {
            assert_int_equal(rc, PROMQL_OK);
            promql_free(e);
        } else {
            assert_int_equal(rc, PROMQL_EPARSE);
            assert_string_equal(err, "position 65: expression is nested too deeply (more than 64 "
                                     "levels)");
        }
    }
    /* Opening parentheses all the way: no stack overflow, an error. */
    memset(q, '(', n);
    q[n] = '\0';
    assert_int_equal(promql_parse(q, &e, err, sizeof(err)), PROMQL_EPARSE);
    for (size_t i = 0; i < n; i++)
        q[i] = (i % 2) ? '(' : '-';
    assert_int_equal(promql_parse(q, &e, err, sizeof(err)), PROMQL_EPARSE);
    for (size_t i = 0; i < n; i++)
        q[i] = '-';
    q[n - 1] = '1';
    assert_int_equal(promql_parse(q, &e, err, sizeof(err)), PROMQL_EPARSE);
    for (size_t i = 0; i < n; i++)
        q[i] = 'a';
    assert_int_equal(promql_parse(q, &e, err, sizeof(err)), PROMQL_OK);
    promql_free(e);

    /* A long left-assocative chain is bounded by the tree's depth. */
    size_t o = 0;
    for (int i = 0; i < 255; i++)
        o += (size_t)sprintf(q + o, "%sa", i ? "+" : "");
    assert_int_equal(promql_parse(q, &e, err, sizeof(err)), PROMQL_OK);
    promql_free(e);
    o = 0;
    for (int i = 0; i < 300; i++)
        o += (size_t)sprintf(q + o, "%sa", i ? "+" : "");
    assert_int_equal(promql_parse(q, &e, err, sizeof(err)), PROMQL_EPARSE);
    assert_non_null(strstr(err, "expression is nested too deeply (more than 256 levels)"));
    free(q);
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        int64_t ms;
    } cases[] = {
        {"5m", 0, 300000},
        {"1h30m", 0, 5400000},
        {"90s", 0, 90000},
        {"1w", 0, 604800000},
        {"1y", 0, 31536000000},
        {"250ms", 0, 250},
        {"1d2h3m4s5ms", 0, 93784005},
        {"1y2w3d4h5m6s7ms", 0, 33019506007},
        {"0", 0, 0},
        {"0s", 0, 0},
        {"", -1, 0},
        {"5", -1, 0},
        {"m", -1, 0},
        {"1h1y", -1, 0},
        {"1m1m", -1, 0},
        {"1.5h", -1, 0},
        {"-5m", -1, 0},
        {"5m ", -1, 0},
        {"1ms1s", -1, 0},
        {"5M", -1, 0},
        {"292y", 0, 292LL * 365 * 86400000},
        {"293y", -1, 0},
        {"99999999999999999999s", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -1;
        int rc = promql_parse_duration(cases[i].s, &ms);
        if (rc != cases[i].rc || (rc == 0 && ms != cases[i].ms))
            fail_msg("\"%s\": got %d %lld, want %d %lld", cases[i].s, rc, (long long)ms,
                     cases[i].rc, (long long)cases[i].ms);
    }
    char buf[64];
    pq_format_duration(0, buf);
    assert_string_equal(buf, "0s");
    pq_format_duration(93784005, buf);
    assert_string_equal(buf, "1d2h3m4s5ms");
    pq_format_duration(90LL * 86400000, buf);
    assert_string_equal(buf, "90d");
    pq_format_duration(14LL * 86400000, buf);
    assert_string_equal(buf, "2w");
}

static void test_format_value(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {-0.0, "-0"},
        {1, "1"},
        {1.5, "1.5"},
        {-2.25, "-2.25"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1.0 / 3, "0.3333333333333333"},
        {0.16666666666666669, "0.16666666666666669"},
        {123456789, "123456789"},
        {1e20, "100000000000000000000"},
        {1e21, "1e+21"},
        {1.5e21, "1.5e+21"},
        {-1e21, "-1e+21"},
        {1e-6, "0.000001"},
        {9.99e-7, "9.99e-07"},
        {1.5e-7, "1.5e-07"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {1e100, "1e+100"},
        {0.008333333333333333, "0.008333333333333333"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        promql_format_value(cases[i].v, buf);
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("%.17g: got %s, want %s", cases[i].v, buf, cases[i].want);
    }
    /* The 'f' form that count_values uses for its label. */
    char big[400];
    pq_format_float(1e21, 'f', big);
    assert_string_equal(big, "1000000000000000000000");
    pq_format_float(1.5e-7, 'f', big);
    assert_string_equal(big, "0.00000015");
}

static void test_regex_bounds(void **state)
{
    (void)state;
    /* Go's regexp refuses more than 1000 copies, nested repetitions multiplied; so does Tocsin. */
    expect_canon("foo{a=~\"x{1000}\"}", "foo{a=~\"x{1000}\"}");
    expect_canon("foo{a=~\"(x{10}y{10}){100}\"}", "foo{a=~\"(x{10}y{10}){100}\"}");
    expect_canon("foo{a=~\"[{]{5}\\\\{9999}\"}", "foo{a=~\"[{]{5}\\\\{9999}\"}");
    expect_err("foo{a=~\"x{1001}\"}", PROMQL_EPARSE,
               "position 5: invalid regular expression \"x{1001}\" for label a: invalid repeat "
               "count");
    expect_err("foo{a!~\"((x{10}){10}){11}\"}", PROMQL_EPARSE,
               "position 5: invalid regular expression \"((x{10}){10}){11}\" for label a: invalid "
               "repeat count");
    expect_err("foo{a=~\"(x{2,1000}){2,}\"}", PROMQL_EPARSE,
               "position 5: invalid regular expression \"(x{2,1000}){2,}\" for label a: invalid "
               "repeat count");
    /* Go's other refusals: stacked repetition operators, back-references. */
    expect_err("foo{a=~\".*+++++\"}", PROMQL_EPARSE,
               "position 5: invalid regular expression \".*+++++\" for label a: invalid nested "
               "repetition operator");
    expect_err("foo{a=~\"a{2}*\"}", PROMQL_EPARSE,
               "position 5: invalid regular expression \"a{2}*\" for label a: invalid nested "
               "repetition operator");
    expect_err("foo{a=~\"(a)\\\\1\"}", PROMQL_EPARSE,
               "position 5: invalid regular expression \"(a)\\1\" for label a: invalid escape "
               "sequence \\1");
    expect_canon("foo{a=~\"x.*?y+?z??\"}", "foo{a=~\"x.*?y+?z??\"}");
    /* Repeating what can match "" over a nested repetition makes regcomp exponential. */
    expect_err("foo{a=~\"((a*)*){30}\"}", PROMQL_EPARSE,
               "position 5: invalid regular expression \"((a*)*){30}\" for label a: regular "
               "expression too complex");
    expect_err("foo{a=~\"(a|){101}\"}", PROMQL_EPARSE,
               "position 5: invalid regular expression \"(a|){101}\" for label a: regular "
               "expression too complex");
    expect_canon("foo{a=~\"(.*){100}(x(a*)*){1000}\"}", "foo{a=~\"(.*){100}(x(a*)*){1000}\"}");
    expect_canon("foo{a=~\"((((.*)*)*)*)*\"}", "foo{a=~\"((((.*)*)*)*)*\"}");
    /* Many repetitions side by side are bounded by the expanded size. */
    char q[8192] = "foo{a=~\"";
    for (int i = 0; i < 300; i++)
        strcat(q, "(ab){1000}");
    strcat(q, "\"}");
    struct promql_expr *e = NULL;
    char err[512];
    assert_int_equal(promql_parse(q, &e, err, sizeof(err)), PROMQL_EPARSE);
    assert_non_null(strstr(err, "regular expression too large"));
}

static void test_lexer_tokens(void **state)
{
    (void)state;
    /* Keywords are names inside braces and in grouping lists. */
    expect_canon("foo{by=\"1\", on=\"2\", offset=\"3\"}", "foo{by=\"1\",offset=\"3\",on=\"2\"}");
    /* Single quotes may hold double quotes and the other way round. */
    expect_canon("foo{a='\"'}", "foo{a=\"\\\"\"}");
    expect_canon("foo{a=\"'\"}", "foo{a=\"'\"}");
    /* The escape of the other quote is an error, as in Go. */
    expect_err("\"\\'\"", PROMQL_EPARSE, "position 1: unknown escape sequence \\'");
    /* Backticks keep backslashes and may span lines. */
    expect_canon("`a\nb`", "\"a\\nb\"");
    /* A comment may end the query. */
    expect_canon("foo # end", "foo");
    expect_canon("foo#", "foo");
    /* Metric names with colons may not be called. */
    expect_canon("a:b + c:d", "a:b + c:d");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_text), cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_errors),         cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_limits),         cmocka_unit_test(test_durations),
        cmocka_unit_test(test_format_value),   cmocka_unit_test(test_lexer_tokens),
        cmocka_unit_test(test_regex_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
