/*
 * test_lineproto.c - unit tests for src/metrics/lineproto.c and the number
 * helpers in src/metrics/parse_num.c.
 *
 * Every sample is rendered as one string, name{label="value",...} value
 * @t_ms #line, with the value printed by %.17g, so a test states exactly what
 * a body must produce; every rejected line is rendered as "line: message".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics/lineproto.h"
#include "metrics/parse_num.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOW 1700000000123LL

/*
 * test_parse_num loads a decimal-comma locale when the system has one, and
 * glibc keeps the locale search list it builds (via argz) for good, which
 * LeakSanitizer reports. This hook of the sanitizer runtime silences only
 * that; it is unused in builds without sanitizers.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:__argz_add_sep\nleak:_nl_find_locale\n";
}

struct got {
    char samples[64][512];
    size_t n;
    char errors[64][512];
    size_t nerr;
    size_t stop_after; /* 0: never stop */
    size_t calls;
};

static int on_sample(void *ctx, struct lp_sample *s)
{
    struct got *g = ctx;
    char buf[512];
    size_t o = 0;

    g->calls++;
    assert_true(s->n_labels >= 1);
    assert_string_equal(s->labels[0].name, "__name__");
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s{", s->labels[0].value);
    for (size_t i = 1; i < s->n_labels && o < sizeof(buf); i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s=\"%s\"", i > 1 ? "," : "",
                              s->labels[i].name, s->labels[i].value);
    if (o < sizeof(buf))
        snprintf(buf + o, sizeof(buf) - o, "} %.17g @%lld #%zu", s->value, (long long)s->t_ms,
                 s->line);
    if (g->n < 64)
        snprintf(g->samples[g->n++], sizeof(g->samples[0]), "%s", buf);
    if (g->stop_after && g->calls == g->stop_after)
        return 7;
    return 0;
}

static void on_error(void *ctx, size_t line, const char *msg)
{
    struct got *g = ctx;
    if (g->nerr < 64)
        snprintf(g->errors[g->nerr++], sizeof(g->errors[0]), "%zu: %s", line, msg);
}

static struct lp_result parse_prec(struct got *g, const char *body, enum lp_precision prec)
{
    struct lp_result res;
    memset(g, 0, sizeof(*g));
    assert_int_equal(lp_parse(body, strlen(body), prec, NOW, on_sample, on_error, g, &res), 0);
    assert_int_equal(res.samples, g->calls);
    assert_int_equal(res.lines_bad, g->nerr);
    return res;
}

static struct lp_result parse(struct got *g, const char *body)
{
    return parse_prec(g, body, LP_NS);
}

/* Parses a one-line body that must be rejected and returns its message. */
static const char *bad(struct got *g, const char *body)
{
    struct lp_result res = parse(g, body);
    if (g->nerr != 1 || g->n != 0)
        fail_msg("%s: expected one error, got %zu errors, %zu samples (%s)", body, g->nerr, g->n,
                 g->n ? g->samples[0] : "");
    assert_int_equal(res.lines_bad, 1);
    return g->errors[0];
}

/* Parses a one-line body that must give exactly one sample and returns it. */
static const char *one(struct got *g, const char *body)
{
    parse(g, body);
    if (g->nerr != 0 || g->n != 1)
        fail_msg("%s: expected one sample, got %zu samples, %zu errors (%s)", body, g->n, g->nerr,
                 g->nerr ? g->errors[0] : "");
    return g->samples[0];
}

static void test_precision_parse(void **state)
{
    enum lp_precision p = LP_H;
    assert_int_equal(lp_precision_parse("ns", &p), 0);
    assert_int_equal(p, LP_NS);
    assert_int_equal(lp_precision_parse("n", &p), 0);
    assert_int_equal(p, LP_NS);
    assert_int_equal(lp_precision_parse("us", &p), 0);
    assert_int_equal(p, LP_US);
    assert_int_equal(lp_precision_parse("u", &p), 0);
    assert_int_equal(p, LP_US);
    assert_int_equal(lp_precision_parse("ms", &p), 0);
    assert_int_equal(p, LP_MS);
    assert_int_equal(lp_precision_parse("s", &p), 0);
    assert_int_equal(p, LP_S);
    assert_int_equal(lp_precision_parse("m", &p), 0);
    assert_int_equal(p, LP_M);
    assert_int_equal(lp_precision_parse("h", &p), 0);
    assert_int_equal(p, LP_H);
    assert_int_equal(lp_precision_parse("", &p), -1);
    assert_int_equal(lp_precision_parse("sec", &p), -1);
    assert_int_equal(lp_precision_parse("NS", &p), -1);
    assert_int_equal(lp_precision_parse(NULL, &p), -1);
}

static void test_telegraf_line(void **state)
{
    struct got g;
    struct lp_result res =
        parse(&g, "cpu,cpu=cpu0,host=web1 usage_user=1.25,usage_system=0.5,usage_idle=98.0 "
                  "1700000000000000000\n");
    assert_int_equal(res.lines, 1);
    assert_int_equal(res.samples, 3);
    assert_int_equal(res.lines_bad, 0);
    assert_int_equal(res.string_fields, 0);
    assert_string_equal(g.samples[0],
                        "cpu_usage_user{cpu=\"cpu0\",host=\"web1\"} 1.25 @1700000000000 #1");
    assert_string_equal(g.samples[1],
                        "cpu_usage_system{cpu=\"cpu0\",host=\"web1\"} 0.5 @1700000000000 #1");
    assert_string_equal(g.samples[2],
                        "cpu_usage_idle{cpu=\"cpu0\",host=\"web1\"} 98 @1700000000000 #1");
}

static void test_value_field_and_now(void **state)
{
    struct got g;
    assert_string_equal(one(&g, "temp,room=kitchen value=21.5"),
                        "temp{room=\"kitchen\"} 21.5 @1700000000123 #1");
    /* Only the exact key "value" is special. */
    assert_string_equal(one(&g, "temp Value=1"), "temp_Value{} 1 @1700000000123 #1");
    assert_string_equal(one(&g, "temp value_x=1"), "temp_value_x{} 1 @1700000000123 #1");
}

static void test_field_types(void **state)
{
    struct got g;
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"m f=1", "m_f{} 1 @1700000000123 #1"},
        {"m f=1.5", "m_f{} 1.5 @1700000000123 #1"},
        {"m f=-1.5e10", "m_f{} -15000000000 @1700000000123 #1"},
        {"m f=1E5", "m_f{} 100000 @1700000000123 #1"},
        {"m f=1e-3", "m_f{} 0.001 @1700000000123 #1"},
        {"m f=1.e+78", "m_f{} 1e+78 @1700000000123 #1"},
        {"m f=.5", "m_f{} 0.5 @1700000000123 #1"},
        {"m f=1.", "m_f{} 1 @1700000000123 #1"},
        {"m f=-0", "m_f{} -0 @1700000000123 #1"},
        {"m f=0.1", "m_f{} 0.10000000000000001 @1700000000123 #1"},
        {"m f=1e-400", "m_f{} 0 @1700000000123 #1"},
        {"m f=12i", "m_f{} 12 @1700000000123 #1"},
        {"m f=-12i", "m_f{} -12 @1700000000123 #1"},
        {"m f=9223372036854775807i", "m_f{} 9.2233720368547758e+18 @1700000000123 #1"},
        {"m f=-9223372036854775808i", "m_f{} -9.2233720368547758e+18 @1700000000123 #1"},
        {"m f=0u", "m_f{} 0 @1700000000123 #1"},
        {"m f=18446744073709551615u", "m_f{} 1.8446744073709552e+19 @1700000000123 #1"},
        {"m f=t", "m_f{} 1 @1700000000123 #1"},
        {"m f=T", "m_f{} 1 @1700000000123 #1"},
        {"m f=true", "m_f{} 1 @1700000000123 #1"},
        {"m f=True", "m_f{} 1 @1700000000123 #1"},
        {"m f=TRUE", "m_f{} 1 @1700000000123 #1"},
        {"m f=f", "m_f{} 0 @1700000000123 #1"},
        {"m f=F", "m_f{} 0 @1700000000123 #1"},
        {"m f=false", "m_f{} 0 @1700000000123 #1"},
        {"m f=False", "m_f{} 0 @1700000000123 #1"},
        {"m f=FALSE", "m_f{} 0 @1700000000123 #1"},
        /* Slow path (more than 19 digits) gives the same correctly rounded double. */
        {"m f=1.00000000000000000000000000001", "m_f{} 1 @1700000000123 #1"},
        {"m f=123456789012345678901234567890", "m_f{} 1.2345678901234568e+29 @1700000000123 #1"},
        {"m f=2.2250738585072014e-308", "m_f{} 2.2250738585072014e-308 @1700000000123 #1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(one(&g, cases[i].in), cases[i].want);
}

static void test_bad_values(void **state)
{
    struct got g;
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"m load=1.2.3", "1: invalid field value \"1.2.3\" for field load"},
        {"m f=NaN", "1: invalid field value \"NaN\" for field f"},
        {"m f=nan", "1: invalid field value \"nan\" for field f"},
        {"m f=Inf", "1: invalid field value \"Inf\" for field f"},
        {"m f=-Inf", "1: invalid field value \"-Inf\" for field f"},
        {"m f=+1", "1: invalid field value \"+1\" for field f"},
        {"m f=0x10", "1: invalid field value \"0x10\" for field f"},
        {"m f=1_000", "1: invalid field value \"1_000\" for field f"},
        {"m f=1e", "1: invalid field value \"1e\" for field f"},
        {"m f=-", "1: invalid field value \"-\" for field f"},
        {"m f=.", "1: invalid field value \".\" for field f"},
        {"m f=1.5i", "1: invalid field value \"1.5i\" for field f"},
        {"m f=+5i", "1: invalid field value \"+5i\" for field f"},
        {"m f=i", "1: invalid field value \"i\" for field f"},
        {"m f=-1u", "1: invalid field value \"-1u\" for field f"},
        {"m f=tRUE", "1: invalid field value \"tRUE\" for field f"},
        {"m f=yes", "1: invalid field value \"yes\" for field f"},
        {"m f='x'", "1: invalid field value \"'x'\" for field f"},
        {"m f=", "1: invalid field value \"\" for field f"},
        {"m f=,g=1", "1: invalid field value \"\" for field f"},
        {"m f=1e400", "1: field value \"1e400\" for field f is out of range"},
        {"m f=-1e400", "1: field value \"-1e400\" for field f is out of range"},
        {"m f=9223372036854775808i", "1: field value \"9223372036854775808i\" for field f is out "
                                     "of range"},
        {"m f=-9223372036854775809i", "1: field value \"-9223372036854775809i\" for field f is "
                                      "out of range"},
        {"m f=18446744073709551616u", "1: field value \"18446744073709551616u\" for field f is "
                                      "out of range"},
        {"m f=1\"x\"", "1: invalid field value \"1\\\"x\\\"\" for field f"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(bad(&g, cases[i].in), cases[i].want);
}

static void test_escapes(void **state)
{
    struct got g;
    /* Measurement: comma and space escaped; '=' needs no escape there. */
    assert_string_equal(one(&g, "my\\ meas\\,x=y f=1"), "my_meas_x_y_f{} 1 @1700000000123 #1");
    /* Tag keys and values: comma, equals sign and space. */
    parse(&g, "m,tag\\ key\\=x=a\\,b\\=c\\ d f=1");
    assert_int_equal(g.nerr, 0);
    assert_string_equal(g.samples[0], "m_f{tag_key_x=\"a,b=c d\"} 1 @1700000000123 #1");
    /* A double backslash is one backslash; a backslash before another character stays. */
    assert_string_equal(one(&g, "m,t=a\\\\b f=1"), "m_f{t=\"a\\b\"} 1 @1700000000123 #1");
    assert_string_equal(one(&g, "m,t=a\\qb f=1"), "m_f{t=\"a\\qb\"} 1 @1700000000123 #1");
    assert_string_equal(one(&g, "m,t=a\\\\\\ b f=1"), "m_f{t=\"a\\ b\"} 1 @1700000000123 #1");
    assert_string_equal(one(&g, "m,t=a\\  f=1"), "m_f{t=\"a \"} 1 @1700000000123 #1");
    /* "\\," : an escaped backslash, then the comma separates. */
    assert_string_equal(one(&g, "m,t=a\\\\,u=b f=1"), "m_f{t=\"a\\\",u=\"b\"} 1 @1700000000123 #1");
    /* The field key field_k\ey of the InfluxDB docs: the backslash stays (and is sanitised). */
    assert_string_equal(one(&g, "m field_k\\ey=1"), "m_field_k_ey{} 1 @1700000000123 #1");
    assert_string_equal(one(&g, "m f\\ k\\,x\\=y=1"), "m_f_k_x_y{} 1 @1700000000123 #1");
    /* Quotes in names and tag values are ordinary characters. */
    assert_string_equal(one(&g, "\"m\",t=\"v\" f=1"), "_m__f{t=\"\"v\"\"} 1 @1700000000123 #1");
    /* A tag value ending in a backslash must double it ("v\ " would escape the space). */
    assert_string_equal(one(&g, "m,t=v\\\\ f=1"), "m_f{t=\"v\\\"} 1 @1700000000123 #1");
    /* A backslash at the very end of the line is literal. */
    assert_string_equal(bad(&g, "m\\"), "1: measurement \"m\\\\\" has no fields");
}

static void test_string_fields(void **state)
{
    struct got g;
    struct lp_result res;

    res = parse(&g, "m s=\"a, b=c \\\"q\\\" \\\\\",f=2\n");
    assert_int_equal(res.string_fields, 1);
    assert_int_equal(res.samples, 1);
    assert_string_equal(g.samples[0], "m_f{} 2 @1700000000123 #1");

    /* Only strings: nothing can be stored, so the line is reported. */
    res = parse(&g, "m s=\"x\",t=\"y\" 1000000000\n");
    assert_int_equal(res.lines, 1);
    assert_int_equal(res.samples, 0);
    assert_int_equal(res.lines_bad, 1);
    assert_int_equal(g.nerr, 1);
    assert_string_equal(g.errors[0], "1: only string fields (2): Tocsin stores numbers, so nothing "
                                     "of this line was stored");

    /* A newline inside a string belongs to it; later lines keep their numbers. */
    res = parse(&g, "m s=\"one\ntwo\\\"\nthree\",f=1\nn g=2\n\nbad\nk h=3\n");
    assert_int_equal(res.lines, 4);
    assert_int_equal(res.string_fields, 1);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.samples[0], "m_f{} 1 @1700000000123 #1");
    assert_string_equal(g.samples[1], "n_g{} 2 @1700000000123 #4");
    assert_string_equal(g.samples[2], "k_h{} 3 @1700000000123 #7");
    assert_int_equal(g.nerr, 1);
    assert_string_equal(g.errors[0], "6: measurement \"bad\" has no fields");

    /* A backslash before the closing quote: "\\" then the quote ends the string. */
    res = parse(&g, "m s=\"a\\\\\",f=1\n");
    assert_int_equal(res.string_fields, 1);
    assert_string_equal(g.samples[0], "m_f{} 1 @1700000000123 #1");

    /* Unterminated: the rest of the body is that string, one bad line. */
    res = parse(&g, "a x=1\nm s=\"open,f=1\nn g=2\n");
    assert_int_equal(res.lines, 2);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.errors[0], "2: unterminated string value for field \"s\"");

    assert_string_equal(bad(&g, "m s=\"x\"y"),
                        "1: unexpected character after the string value of field \"s\"");
    assert_string_equal(bad(&g, "m s=\"x\"\"y\""),
                        "1: unexpected character after the string value of field \"s\"");
}

static void test_timestamps(void **state)
{
    struct got g;
    static const struct {
        const char *in;
        enum lp_precision prec;
        const char *want;
    } ok[] = {
        {"m f=1 1700000000123456789", LP_NS, "m_f{} 1 @1700000000123 #1"},
        {"m f=1 -1", LP_NS, "m_f{} 1 @-1 #1"},
        {"m f=1 -1000000", LP_NS, "m_f{} 1 @-1 #1"},
        {"m f=1 -1000001", LP_NS, "m_f{} 1 @-2 #1"},
        {"m f=1 999999", LP_NS, "m_f{} 1 @0 #1"},
        {"m f=1 0", LP_NS, "m_f{} 1 @0 #1"},
        {"m f=1 9223372036854775806", LP_NS, "m_f{} 1 @9223372036854 #1"},
        {"m f=1 -9223372036854775806", LP_NS, "m_f{} 1 @-9223372036855 #1"},
        {"m f=1 1700000000123456", LP_US, "m_f{} 1 @1700000000123 #1"},
        {"m f=1 -1", LP_US, "m_f{} 1 @-1 #1"},
        {"m f=1 1700000000123", LP_MS, "m_f{} 1 @1700000000123 #1"},
        {"m f=1 1700000000", LP_S, "m_f{} 1 @1700000000000 #1"},
        {"m f=1 -1", LP_S, "m_f{} 1 @-1000 #1"},
        {"m f=1 9223372036", LP_S, "m_f{} 1 @9223372036000 #1"},
        {"m f=1 28333333", LP_M, "m_f{} 1 @1699999980000 #1"},
        {"m f=1 472222", LP_H, "m_f{} 1 @1699999200000 #1"},
        {"m f=1 2562047", LP_H, "m_f{} 1 @9223369200000 #1"},
        /* Blanks: several spaces between sections, trailing spaces and tabs. */
        {"m   f=1   1700000000  \t ", LP_S, "m_f{} 1 @1700000000000 #1"},
        {"m f=1   ", LP_S, "m_f{} 1 @1700000000123 #1"},
        {"m,t=v  f=1 007", LP_MS, "m_f{t=\"v\"} 1 @7 #1"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        parse_prec(&g, ok[i].in, ok[i].prec);
        if (g.n != 1)
            fail_msg("%s: %s", ok[i].in, g.nerr ? g.errors[0] : "no sample");
        assert_string_equal(g.samples[0], ok[i].want);
    }

    static const struct {
        const char *in;
        enum lp_precision prec;
        const char *want;
    } ko[] = {
        {"m f=1 9223372036854775807", LP_NS,
         "1: timestamp \"9223372036854775807\" is out of range (InfluxDB's years 1677 to 2262)"},
        {"m f=1 -9223372036854775807", LP_NS,
         "1: timestamp \"-9223372036854775807\" is out of range (InfluxDB's years 1677 to 2262)"},
        {"m f=1 99999999999999999999", LP_NS,
         "1: timestamp \"99999999999999999999\" is out of range (InfluxDB's years 1677 to 2262)"},
        {"m f=1 9223372036855", LP_MS,
         "1: timestamp \"9223372036855\" is out of range (InfluxDB's years 1677 to 2262)"},
        {"m f=1 9223372037", LP_S,
         "1: timestamp \"9223372037\" is out of range (InfluxDB's years 1677 to 2262)"},
        {"m f=1 153722868", LP_M,
         "1: timestamp \"153722868\" is out of range (InfluxDB's years 1677 to 2262)"},
        {"m f=1 2562048", LP_H,
         "1: timestamp \"2562048\" is out of range (InfluxDB's years 1677 to 2262)"},
        {"m f=1 -2562048", LP_H,
         "1: timestamp \"-2562048\" is out of range (InfluxDB's years 1677 to 2262)"},
        {"m f=1 12a", LP_NS, "1: invalid timestamp \"12a\""},
        {"m f=1 +5", LP_NS, "1: invalid timestamp \"+5\""},
        {"m f=1 1.5", LP_NS, "1: invalid timestamp \"1.5\""},
        {"m f=1 -", LP_NS, "1: invalid timestamp \"-\""},
        {"m f=1 \"1\"", LP_NS, "1: invalid timestamp \"\\\"1\\\"\""},
        {"m f=1 1 2", LP_NS, "1: unexpected text after the timestamp at column 9: \"2\""},
        {"m f=1 1\tx", LP_NS, "1: unexpected text after the timestamp at column 9: \"x\""},
        {"m f=1\t1", LP_NS, "1: invalid field value \"1\\x091\" for field f"},
    };
    for (size_t i = 0; i < sizeof(ko) / sizeof(ko[0]); i++) {
        parse_prec(&g, ko[i].in, ko[i].prec);
        if (g.nerr != 1 || g.n != 0)
            fail_msg("%s: expected an error", ko[i].in);
        assert_string_equal(g.errors[0], ko[i].want);
    }
}

static void test_lines(void **state)
{
    struct got g;
    struct lp_result res = parse(&g, "# a comment\r\n"
                                     "\n"
                                     "   \t # indented comment\n"
                                     "a f=1\r\n"
                                     "  \t\r\n"
                                     "\t  b f=2 1000000\r\n"
                                     "c f=3");
    assert_int_equal(res.lines, 3);
    assert_int_equal(res.lines_bad, 0);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.samples[0], "a_f{} 1 @1700000000123 #4");
    assert_string_equal(g.samples[1], "b_f{} 2 @1 #6");
    assert_string_equal(g.samples[2], "c_f{} 3 @1700000000123 #7");

    /* An empty body and a body of blanks and comments. */
    res = parse(&g, "");
    assert_int_equal(res.lines, 0);
    res = parse(&g, "\n\n#x\n   ");
    assert_int_equal(res.lines, 0);
    assert_int_equal(g.n + g.nerr, 0);

    /* '#' in the middle of a line is not a comment. */
    assert_string_equal(one(&g, "m#1,t=#x f#=1"), "m_1_f_{t=\"#x\"} 1 @1700000000123 #1");

    /* A body need not be NUL-terminated: only len bytes are read. */
    const char body[] = "m f=1\nn f=2";
    memset(&g, 0, sizeof(g));
    res = (struct lp_result){0};
    assert_int_equal(lp_parse(body, 5, LP_NS, NOW, on_sample, on_error, &g, &res), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(res.lines, 1);
}

static void test_bad_lines(void **state)
{
    struct got g;
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"cpu", "1: measurement \"cpu\" has no fields"},
        {"cpu,host=a", "1: measurement \"cpu\" has no fields"},
        {"cpu ", "1: measurement \"cpu\" has no fields"},
        {"cpu,host=a  ", "1: measurement \"cpu\" has no fields"},
        {",host=a f=1", "1: missing measurement name"},
        {" ,host=a f=1", "1: missing measurement name"},
        {"cpu,host= f=1", "1: tag \"host\" has an empty value"},
        {"cpu,host f=1", "1: tag \"host\" has no '=' and value"},
        {"cpu,=a f=1", "1: empty tag key at column 5"},
        {"cpu, f=1", "1: empty tag key at column 5"},
        {"cpu,a=b, f=1", "1: empty tag key at column 9"},
        {"cpu,a=b=c f=1", "1: unescaped '=' in the value of tag \"a\" at column 8"},
        {"cpu =1", "1: empty field key at column 5"},
        {"cpu f", "1: field \"f\" has no '=' and value"},
        {"cpu f 1", "1: field \"f\" has no '=' and value"},
        {"cpu f=1,", "1: empty field key at column 9"},
        {"cpu f=1,,g=2", "1: empty field key at column 9"},
        {"cpu f=1, g=2", "1: empty field key at column 9"},
        {"cpu time=1", "1: field key \"time\" is not allowed"},
        {"cpu,time=x f=1", "1: tag key \"time\" is not allowed"},
        {"cpu,__name__=x f=1", "1: tag key \"__name__\" is not allowed: label names starting "
                               "with \"__\" are reserved"},
        {"cpu,__x=y f=1", "1: tag key \"__x\" is not allowed: label names starting with \"__\" "
                          "are reserved"},
        {"cpu,_.x=y f=1", "1: tag key \"_.x\" is not allowed: label names starting with \"__\" "
                          "are reserved"},
        {"cpu,host=a,host=b f=1", "1: duplicate tag key \"host\""},
        {"cpu,host.name=a,host_name=b f=1",
         "1: tag keys \"host.name\" and \"host_name\" would both be stored as the label "
         "host_name"},
        {"cpu a.b=1,a_b=2", "1: fields \"a.b\" and \"a_b\" would both be stored as the metric "
                            "*_a_b"},
        {"cpu,t=\xff f=1", "1: the value of tag \"t\" is not valid UTF-8 text: \"\\xff\""},
        {"cpu,t=\xc0\xaf f=1", "1: the value of tag \"t\" is not valid UTF-8 text: "
                               "\"\\xc0\\xaf\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(bad(&g, cases[i].in), cases[i].want);

    /* Good lines around bad ones are still delivered (partial write). */
    struct lp_result res = parse(&g, "a f=1\nb\nc f=x\nd f=4\n");
    assert_int_equal(res.lines, 4);
    assert_int_equal(res.lines_bad, 2);
    assert_int_equal(res.samples, 2);
    assert_string_equal(g.samples[0], "a_f{} 1 @1700000000123 #1");
    assert_string_equal(g.samples[1], "d_f{} 4 @1700000000123 #4");
    assert_string_equal(g.errors[0], "2: measurement \"b\" has no fields");
    assert_string_equal(g.errors[1], "3: invalid field value \"x\" for field f");

    /* A bad field after good ones: nothing of the line is delivered. */
    res = parse(&g, "m a=1,b=2,c=oops 5\n");
    assert_int_equal(res.samples, 0);
    assert_string_equal(g.errors[0], "1: invalid field value \"oops\" for field c");

    /* A NUL byte in a tag value, and messages that quote control bytes. */
    const char nul[] = "m,t=a\0b f=1\nm,t=x s=\x01";
    memset(&g, 0, sizeof(g));
    res = (struct lp_result){0};
    assert_int_equal(lp_parse(nul, sizeof(nul) - 1, LP_NS, NOW, on_sample, on_error, &g, &res), 0);
    assert_string_equal(g.errors[0], "1: the value of tag \"t\" is not valid UTF-8 text: "
                                     "\"a\\x00b\"");
    assert_string_equal(g.errors[1], "2: invalid field value \"\\x01\" for field s");
}

static void test_duplicates(void **state)
{
    struct got g;
    struct lp_result res;

    /* The last of duplicate field keys wins, in its own position. */
    res = parse(&g, "m a=1,b=2,a=3\n");
    assert_int_equal(res.samples, 2);
    assert_string_equal(g.samples[0], "m_b{} 2 @1700000000123 #1");
    assert_string_equal(g.samples[1], "m_a{} 3 @1700000000123 #1");

    /* A later string overrides a number: the line has only a string left, so it is reported. */
    res = parse(&g, "m a=1,a=\"x\"\n");
    assert_int_equal(res.samples, 0);
    assert_int_equal(res.lines_bad, 1);

    /* A string and a number that sanitise alike do not collide: only one is stored. */
    res = parse(&g, "m a.b=\"x\",a_b=1\n");
    assert_int_equal(res.samples, 1);
    assert_string_equal(g.samples[0], "m_a_b{} 1 @1700000000123 #1");

    /* "value" and another field: the bare measurement and measurement_field. */
    res = parse(&g, "m value=1,v=2\n");
    assert_int_equal(res.samples, 2);
    assert_string_equal(g.samples[0], "m{} 1 @1700000000123 #1");
    assert_string_equal(g.samples[1], "m_v{} 2 @1700000000123 #1");

    /* Many fields take the sorting path: the same decisions. */
    char line[4096];
    size_t o = (size_t)snprintf(line, sizeof(line), "m ");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(line + o, sizeof(line) - o, "f%d=%d,", i % 20, i);
    line[o - 1] = '\0';
    res = parse(&g, line);
    assert_int_equal(res.lines_bad, 0);
    assert_int_equal(res.samples, 20);
    assert_string_equal(g.samples[0], "m_f0{} 20 @1700000000123 #1");
    assert_string_equal(g.samples[19], "m_f19{} 39 @1700000000123 #1");

    o = (size_t)snprintf(line, sizeof(line), "m ");
    for (int i = 0; i < 30; i++)
        o += (size_t)snprintf(line + o, sizeof(line) - o, "f_%d=%d,", i, i);
    snprintf(line + o, sizeof(line) - o, "f.7=1");
    assert_string_equal(bad(&g, line), "1: fields \"f_7\" and \"f.7\" would both be stored as the "
                                       "metric *_f_7");
}

static void test_sanitise(void **state)
{
    struct got g;
    assert_string_equal(one(&g, "1cpu f=1"), "_1cpu_f{} 1 @1700000000123 #1");
    assert_string_equal(one(&g, "cpu 1f=1"), "cpu_1f{} 1 @1700000000123 #1");
    assert_string_equal(one(&g, "a:b,c:d=x e.f-g=1"), "a:b_e_f_g{c_d=\"x\"} 1 @1700000000123 #1");
    assert_string_equal(one(&g, "temp\xc3\xa9rature,1host=caf\xc3\xa9 v=1"),
                        "temp_rature_v{_1host=\"caf\xc3\xa9\"} 1 @1700000000123 #1");
    assert_string_equal(one(&g, "m,\xf0\x9f\x8d\xadk=v f=1"), "m_f{_k=\"v\"} 1 @1700000000123 #1");
    assert_string_equal(one(&g, "m,_a=v f=1"), "m_f{_a=\"v\"} 1 @1700000000123 #1");
    assert_string_equal(one(&g, "_m,a9=v _=1"), "_m__{a9=\"v\"} 1 @1700000000123 #1");
}

static void test_limits(void **state)
{
    struct got g;
    char *line = malloc(200000);
    size_t o;

    /* 64 tags are fine, 65 are not. */
    o = (size_t)sprintf(line, "m");
    for (int i = 0; i < 64; i++)
        o += (size_t)sprintf(line + o, ",t%02d=v", i);
    sprintf(line + o, " f=1");
    parse(&g, line);
    assert_int_equal(g.n, 1);
    sprintf(line + o, ",t64=v f=1");
    assert_string_equal(bad(&g, line), "1: more than 64 tags");

    /* A line of 65536 bytes is fine, one byte more is not; the next line still counts. */
    o = (size_t)sprintf(line, "m,t=");
    memset(line + o, 'x', 1000);
    o += 1000;
    o += (size_t)sprintf(line + o, " s=\"");
    memset(line + o, 'y', 65536 - o - 1);
    o = 65535;
    line[o++] = '"';
    line[o] = '\0';
    assert_int_equal(strlen(line), 65536);
    /* Only a string field: within the length limit, so the line is reported for that. */
    struct lp_result res = parse(&g, line);
    assert_int_equal(res.lines_bad, 1);
    assert_non_null(strstr(g.errors[0], "only string fields"));
    memmove(line + 5, line + 4, o - 4 + 1);
    line[4] = 'x';
    strcat(line, "\nn f=1\n");
    res = parse(&g, line);
    assert_int_equal(res.lines, 2);
    assert_int_equal(res.lines_bad, 1);
    assert_string_equal(g.errors[0], "1: line is longer than 65536 bytes");
    assert_string_equal(g.samples[0], "n_f{} 1 @1700000000123 #2");

    /* Label names up to 128 bytes, values up to 1024 bytes. */
    o = (size_t)sprintf(line, "m,");
    memset(line + o, 'k', 128);
    o += 128;
    o += (size_t)sprintf(line + o, "=v f=1");
    parse(&g, line);
    assert_int_equal(g.n, 1);
    memmove(line + 3, line + 2, strlen(line + 2) + 1);
    assert_string_equal(bad(&g, line),
                        "1: tag key \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\" is "
                        "longer than 128 bytes");
    o = (size_t)sprintf(line, "m,k=");
    memset(line + o, 'v', 1024);
    o += 1024;
    sprintf(line + o, " f=1");
    parse(&g, line);
    assert_int_equal(g.n, 1);
    sprintf(line + o, "v f=1");
    assert_string_equal(bad(&g, line), "1: the value of tag \"k\" is longer than 1024 bytes");

    /* The metric name (measurement "_" field) is bounded like a label value. */
    o = 0;
    memset(line, 'm', 1000);
    o = 1000;
    line[o++] = ' ';
    memset(line + o, 'f', 23);
    o += 23;
    sprintf(line + o, "=1");
    parse(&g, line);
    assert_int_equal(g.n, 1);
    sprintf(line + o, "f=1");
    assert_string_equal(bad(&g, line),
                        "1: the metric name for field "
                        "\"ffffffffffffffffffffffff\" would be longer than 1024 bytes");
    free(line);
}

static void test_callback_stop(void **state)
{
    struct got g;
    struct lp_result res;
    const char *body = "a f=1,g=2\nb f=3\n";

    memset(&g, 0, sizeof(g));
    g.stop_after = 2;
    assert_int_equal(lp_parse(body, strlen(body), LP_NS, NOW, on_sample, on_error, &g, &res), 7);
    assert_int_equal(g.calls, 2);
    assert_int_equal(res.samples, 2);
    assert_int_equal(res.lines, 1);

    /* NULL callbacks and a NULL result are allowed. */
    assert_int_equal(lp_parse(body, strlen(body), LP_NS, NOW, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(lp_parse("x\ny f=1", 7, LP_NS, NOW, NULL, NULL, NULL, &res), 0);
    assert_int_equal(res.lines_bad, 1);
    assert_int_equal(res.samples, 1);
}

static void test_parse_num(void **state)
{
    double d;
    int64_t i;
    uint64_t u;

    assert_int_equal(pn_float("+Inf", 4, &d), PN_OK);
    assert_true(isinf(d) && d > 0);
    assert_int_equal(pn_float("-inf", 4, &d), PN_OK);
    assert_true(isinf(d) && d < 0);
    assert_int_equal(pn_float("Infinity", 8, &d), PN_OK);
    assert_true(isinf(d));
    assert_int_equal(pn_float("infin", 5, &d), PN_SYNTAX);
    assert_int_equal(pn_float("NaN", 3, &d), PN_OK);
    assert_true(isnan(d));
    assert_int_equal(pn_float("nan", 3, &d), PN_OK);
    assert_int_equal(pn_float("+NaN", 4, &d), PN_SYNTAX);
    assert_int_equal(pn_float("0x1p3", 5, &d), PN_SYNTAX);
    assert_int_equal(pn_float("1_0", 3, &d), PN_SYNTAX);
    assert_int_equal(pn_float("+1.5", 4, &d), PN_OK);
    assert_true(d == 1.5);
    assert_int_equal(pn_float("", 0, &d), PN_SYNTAX);
    assert_int_equal(pn_float("1e309", 5, &d), PN_RANGE);
    assert_int_equal(pn_float("1.7976931348623157e308", 22, &d), PN_OK);
    assert_true(d == 1.7976931348623157e308);
    assert_int_equal(pn_decimal("+1", 2, false, &d), PN_SYNTAX);
    assert_int_equal(pn_decimal("5e-324", 6, false, &d), PN_OK);
    assert_true(d == 5e-324);
    /* The halfway case between 1 and the next double rounds to even. */
    assert_int_equal(
        pn_decimal("1.00000000000000011102230246251565404236316680908203125", 55, false, &d),
        PN_OK);
    assert_true(d == 1.0);
    assert_int_equal(pn_decimal("9007199254740993", 16, false, &d), PN_OK);
    assert_true(d == 9007199254740992.0);

    assert_int_equal(pn_int64("-9223372036854775808", 20, false, &i), PN_OK);
    assert_true(i == INT64_MIN);
    assert_int_equal(pn_int64("+7", 2, true, &i), PN_OK);
    assert_true(i == 7);
    assert_int_equal(pn_int64("+7", 2, false, &i), PN_SYNTAX);
    assert_int_equal(pn_int64("9223372036854775808", 19, false, &i), PN_RANGE);
    assert_int_equal(pn_int64("99999999999999999999x", 21, false, &i), PN_SYNTAX);
    assert_int_equal(pn_uint64("18446744073709551615", 20, &u), PN_OK);
    assert_true(u == UINT64_MAX);
    assert_int_equal(pn_uint64("18446744073709551616", 20, &u), PN_RANGE);

    static const struct {
        const char *in;
        int rc;
        int64_t ms;
    } secs[] = {
        {"1", PN_OK, 1000},
        {"1.001", PN_OK, 1001},
        {"1.0019", PN_OK, 1001},
        {"1795290329.2875574", PN_OK, 1795290329287},
        {"-0.0001", PN_OK, -1},
        {"-1.5", PN_OK, -1500},
        {"-1.5001", PN_OK, -1501},
        {"0", PN_OK, 0},
        {"-0.000", PN_OK, 0},
        {".5", PN_OK, 500},
        {"+2.", PN_OK, 2000},
        {"1.5e3", PN_OK, 1500000},
        {"15e-4", PN_OK, 1},
        {"1e-999999999", PN_OK, 0},
        {"0e999999999", PN_OK, 0},
        {"9223372036854775.807", PN_OK, INT64_MAX},
        {"9223372036854775.808", PN_RANGE, 0},
        {"-9223372036854775.808", PN_OK, INT64_MIN},
        {"-9223372036854775.8081", PN_RANGE, 0},
        {"1e17", PN_RANGE, 0},
        {"NaN", PN_SYNTAX, 0},
        {"Inf", PN_SYNTAX, 0},
        {"1.2.3", PN_SYNTAX, 0},
        {"", PN_SYNTAX, 0},
        {"e3", PN_SYNTAX, 0},
    };
    for (size_t k = 0; k < sizeof(secs) / sizeof(secs[0]); k++) {
        int64_t ms = 0;
        int rc = pn_seconds_to_ms(secs[k].in, strlen(secs[k].in), &ms);
        if (rc != secs[k].rc || (rc == PN_OK && ms != secs[k].ms))
            fail_msg("%s: rc %d ms %lld", secs[k].in, rc, (long long)ms);
    }

    /* A locale with a decimal comma must not change how numbers read (slow path included). */
    locale_t comma = newlocale(LC_NUMERIC_MASK, "de_DE.UTF-8", (locale_t)0);
    if (comma) {
        uselocale(comma);
        assert_int_equal(pn_decimal("1.5", 3, false, &d), PN_OK);
        assert_true(d == 1.5);
        assert_int_equal(pn_decimal("1.00000000000000000000000005", 28, false, &d), PN_OK);
        assert_true(d == 1.0);
        assert_int_equal(pn_decimal("1,5", 3, false, &d), PN_SYNTAX);
        uselocale(LC_GLOBAL_LOCALE);
        freelocale(comma);
    }

    char q[32];
    assert_string_equal(pn_quote(q, sizeof(q), "a\"b\\c\n\xff", 7, 48), "a\\\"b\\\\c\\x0a\\xff");
    assert_string_equal(pn_quote(q, sizeof(q), "abcdefgh", 8, 4), "abcd...");
    assert_true(pn_utf8_valid("caf\xc3\xa9 \xf0\x9f\x8d\xad", 10));
    assert_false(pn_utf8_valid("\xed\xa0\x80", 3)); /* a surrogate */
    assert_false(pn_utf8_valid("\xe0\x80\xaf", 3)); /* overlong */
    assert_false(pn_utf8_valid("\xc3", 1));
}

/* Builds n copies of the typical Telegraf line with varying values and times. */
static char *telegraf_body(size_t n, size_t *len)
{
    char *buf = malloc(n * 128);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(buf + o,
                             "cpu,cpu=cpu%zu,host=web1 usage_user=1.%zu,usage_system=0.5,"
                             "usage_idle=98.0 %llu\n",
                             i % 8, i % 100, 1700000000000000000ULL + i * 1000000000ULL);
    *len = o;
    return buf;
}

static int count_sample(void *ctx, struct lp_sample *s)
{
    (*(size_t *)ctx)++;
    return s->n_labels == 3 ? 0 : 1;
}

static void test_speed(void **state)
{
    size_t len, n = 200000, count = 0;
    char *body = telegraf_body(n, &len);
    struct lp_result res;
    struct timespec a, b;

    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(lp_parse(body, len, LP_NS, NOW, count_sample, NULL, &count, &res), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(res.lines, n);
    assert_int_equal(count, 3 * n);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    print_message("lineproto: %zu lines (%zu bytes) in %.3f s: %.2f million lines/s, %.0f MB/s\n",
                  n, len, s, (double)n / s / 1e6, (double)len / s / 1e6);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precision_parse),
        cmocka_unit_test(test_telegraf_line),
        cmocka_unit_test(test_value_field_and_now),
        cmocka_unit_test(test_field_types),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_string_fields),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_sanitise),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_parse_num),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
