/*
 * test_expfmt.c - unit tests for src/metrics/expfmt.c: the Prometheus text
 * format 0.0.4 and OpenMetrics 1.0.
 *
 * Every sample is rendered as one string, name{label="value",...} value
 * [@t_ms] type #line, with the value printed by %.17g, so a test states
 * exactly what a body must produce. The fixtures in tests/unit/data are real
 * scrapes: node_exporter.prom (prometheus-node-exporter 1.5.0) and
 * prometheus.prom (Prometheus 2.42's own /metrics) as served with
 * Accept: text/plain; node_exporter.om.txt is the same node exporter scrape
 * re-encoded as OpenMetrics by client_python 0.16's exposition code (neither
 * Debian binary serves OpenMetrics), and client_python.om.txt comes from
 * client_python 0.16 with every metric type, units, exemplars and escapes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics/expfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_GOT 2048

struct got {
    char samples[MAX_GOT][320];
    size_t n;
    size_t stop_after;
    size_t calls;
    char err[512];
    int rc;
};

static const char *type_name(enum expfmt_type t)
{
    switch (t) {
    case EXPFMT_UNTYPED:
        return "untyped";
    case EXPFMT_COUNTER:
        return "counter";
    case EXPFMT_GAUGE:
        return "gauge";
    case EXPFMT_HISTOGRAM:
        return "histogram";
    case EXPFMT_SUMMARY:
        return "summary";
    case EXPFMT_INFO:
        return "info";
    case EXPFMT_STATESET:
        return "stateset";
    case EXPFMT_GAUGEHISTOGRAM:
        return "gaugehistogram";
    }
    return "?";
}

static int on_sample(void *ctx, struct expfmt_sample *s)
{
    struct got *g = ctx;
    char buf[320];
    size_t o = 0;

    g->calls++;
    assert_true(s->n_labels >= 1);
    assert_string_equal(s->labels[0].name, "__name__");
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s{", s->labels[0].value);
    for (size_t i = 1; i < s->n_labels && o < sizeof(buf); i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s=\"%s\"", i > 1 ? "," : "",
                              s->labels[i].name, s->labels[i].value);
    if (o < sizeof(buf))
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "} %.17g", s->value);
    if (s->has_t && o < sizeof(buf))
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, " @%lld", (long long)s->t_ms);
    if (o < sizeof(buf))
        snprintf(buf + o, sizeof(buf) - o, " %s #%zu", type_name(s->type), s->line);
    if (g->n < MAX_GOT)
        snprintf(g->samples[g->n++], sizeof(g->samples[0]), "%s", buf);
    if (g->stop_after && g->calls == g->stop_after)
        return 9;
    return 0;
}

static struct got *G;

static int run(const char *body, size_t len, bool om)
{
    memset(G, 0, sizeof(*G));
    G->rc = expfmt_parse(body, len, om, on_sample, G, G->err, sizeof(G->err));
    return G->rc;
}

/* Parses a body that must be accepted; returns the number of samples. */
static size_t ok(const char *body, bool om)
{
    if (run(body, strlen(body), om) != 0)
        fail_msg("rejected: %s\n--- body:\n%s", G->err, body);
    assert_string_equal(G->err, "");
    return G->n;
}

/* Parses a body that must be rejected; returns the message. */
static const char *ko(const char *body, bool om)
{
    if (run(body, strlen(body), om) != -1)
        fail_msg("accepted (%zu samples), expected an error\n--- body:\n%s", G->n, body);
    return G->err;
}

static char *read_fixture(const char *name, size_t *len)
{
    const char *dir = getenv("TOCSIN_SOURCE_DIR");
    char path[1024];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/tests/unit/data/%s", dir ? dir : ".", name);
    f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The first sample whose rendering starts with prefix. */
static const char *find(const char *prefix)
{
    for (size_t i = 0; i < G->n; i++)
        if (strncmp(G->samples[i], prefix, strlen(prefix)) == 0)
            return G->samples[i];
    fail_msg("no sample starts with %s", prefix);
    return NULL;
}

static void test_spec_example(void **state)
{
    /* The example of the exposition format documentation, blank lines and comments included. */
    static const char body[] =
        "# HELP http_requests_total The total number of HTTP requests.\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
        "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
        "\n"
        "# Escaping in label values:\n"
        "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find "
        "file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
        "\n"
        "# Minimalistic line:\n"
        "metric_without_timestamp_and_labels 12.47\n"
        "\n"
        "# A weird metric from before the epoch:\n"
        "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
        "\n"
        "# A histogram, which has a pretty complex representation in the text format:\n"
        "# HELP http_request_duration_seconds A histogram of the request duration.\n"
        "# TYPE http_request_duration_seconds histogram\n"
        "http_request_duration_seconds_bucket{le=\"0.05\"} 24054\n"
        "http_request_duration_seconds_bucket{le=\"+Inf\"} 144320\n"
        "http_request_duration_seconds_sum 53423\n"
        "http_request_duration_seconds_count 144320\n"
        "\n"
        "# Finally a summary, which has a complex representation, too:\n"
        "# HELP rpc_duration_seconds A summary of the RPC duration in seconds.\n"
        "# TYPE rpc_duration_seconds summary\n"
        "rpc_duration_seconds{quantile=\"0.01\"} 3102\n"
        "rpc_duration_seconds_sum 1.7560473e+07\n"
        "rpc_duration_seconds_count 2693\n";

    assert_int_equal(ok(body, false), 12);
    static const char *want[] = {
        "http_requests_total{method=\"post\",code=\"200\"} 1027 @1395066363000 counter #3",
        "http_requests_total{method=\"post\",code=\"400\"} 3 @1395066363000 counter #4",
        ("msdos_file_access_time_seconds{path=\"C:\\DIR\\FILE.TXT\",error=\"Cannot find "
         "file:\n\"FILE.TXT\"\"} 1458255915 untyped #7"),
        "metric_without_timestamp_and_labels{} 12.470000000000001 untyped #10",
        "something_weird{problem=\"division by zero\"} inf @-3982045 untyped #13",
        "http_request_duration_seconds_bucket{le=\"0.05\"} 24054 histogram #18",
        "http_request_duration_seconds_bucket{le=\"+Inf\"} 144320 histogram #19",
        "http_request_duration_seconds_sum{} 53423 histogram #20",
        "http_request_duration_seconds_count{} 144320 histogram #21",
        "rpc_duration_seconds{quantile=\"0.01\"} 3102 summary #26",
        "rpc_duration_seconds_sum{} 17560473 summary #27",
        "rpc_duration_seconds_count{} 2693 summary #28",
    };
    for (size_t i = 0; i < 12; i++)
        assert_string_equal(G->samples[i], want[i]);
}

static void test_text_blanks(void **state)
{
    assert_int_equal(ok("  \tfoo  \t 1 \t 5 \t\r\n"
                        "bar{ a = \"x\" , b=\"y\" , } 2\r\n"
                        "baz{a=\"1\",}3\n"
                        "qux {} 4\n"
                        "\t\r\n"
                        "  # a comment\n"
                        "last 5",
                        false),
                     5);
    assert_string_equal(G->samples[0], "foo{} 1 @5 untyped #1");
    assert_string_equal(G->samples[1], "bar{a=\"x\",b=\"y\"} 2 untyped #2");
    assert_string_equal(G->samples[2], "baz{a=\"1\"} 3 untyped #3");
    assert_string_equal(G->samples[3], "qux{} 4 untyped #4");
    assert_string_equal(G->samples[4], "last{} 5 untyped #7");
    /* Colons in metric names; empty label values are kept. */
    assert_int_equal(ok("job:rate5m:sum{a=\"\"} 1\n", false), 1);
    assert_string_equal(G->samples[0], "job:rate5m:sum{a=\"\"} 1 untyped #1");
    /* An empty body is a scrape with no samples. */
    assert_int_equal(ok("", false), 0);
    assert_int_equal(ok("\n\n# x\n", false), 0);
}

static void test_values(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"m 1", "m{} 1 untyped #1"},
        {"m 1.5", "m{} 1.5 untyped #1"},
        {"m 1e3", "m{} 1000 untyped #1"},
        {"m -1E-3", "m{} -0.001 untyped #1"},
        {"m +1", "m{} 1 untyped #1"},
        {"m .5", "m{} 0.5 untyped #1"},
        {"m 5.", "m{} 5 untyped #1"},
        {"m -0", "m{} -0 untyped #1"},
        {"m NaN", "m{} nan untyped #1"},
        {"m nan", "m{} nan untyped #1"},
        {"m +Inf", "m{} inf untyped #1"},
        {"m -Inf", "m{} -inf untyped #1"},
        {"m Inf", "m{} inf untyped #1"},
        {"m inf", "m{} inf untyped #1"},
        {"m +Infinity", "m{} inf untyped #1"},
        {"m 8.1754996736e+10", "m{} 81754996736 untyped #1"},
        {"m 1.7976931348623157e308", "m{} 1.7976931348623157e+308 untyped #1"},
        {"m 0.1 +7", "m{} 0.10000000000000001 @7 untyped #1"},
        {"m 0.1 -7", "m{} 0.10000000000000001 @-7 untyped #1"},
        {"m 1 9223372036854775807", "m{} 1 @9223372036854775807 untyped #1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(ok(cases[i].in, false), 1);
        assert_string_equal(G->samples[0], cases[i].want);
    }

    static const struct {
        const char *in;
        const char *want;
    } bad[] = {
        {"m 0x1p3", "line 1: invalid value \"0x1p3\" for metric m"},
        {"m 0x10", "line 1: invalid value \"0x10\" for metric m"},
        {"m 1_000", "line 1: invalid value \"1_000\" for metric m"},
        {"m abc", "line 1: invalid value \"abc\" for metric m"},
        {"m 1.2.3", "line 1: invalid value \"1.2.3\" for metric m"},
        {"m 1e400", "line 1: invalid value \"1e400\" for metric m"},
        {"m +NaN", "line 1: invalid value \"+NaN\" for metric m"},
        {"m 1,5", "line 1: invalid value \"1,5\" for metric m"},
        {"m", "line 1: missing value for metric m"},
        {"m{a=\"b\"}", "line 1: missing value for metric m"},
        {"m 1 1.5", "line 1: invalid timestamp \"1.5\" for metric m"},
        {"m 1 1e3", "line 1: invalid timestamp \"1e3\" for metric m"},
        {"m 1 9223372036854775808", "line 1: invalid timestamp \"9223372036854775808\" for "
                                    "metric m"},
        {"m 1 2 3", "line 1: unexpected text after the timestamp of metric m: \"3\""},
        {"m 1 2 # x", "line 1: unexpected text after the timestamp of metric m: \"# x\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_string_equal(ko(bad[i].in, false), bad[i].want);
}

static void test_text_errors(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"a 1\n2m 1\n", "line 2: invalid metric name at \"2m 1\""},
        {"a 1\n\nm-x 1\n", "line 3: invalid metric name \"m-x 1\""},
        {"m\"x\" 1", "line 1: invalid metric name \"m\\\"x\\\" 1\""},
        {"m{1a=\"x\"} 1",
         "line 1: invalid label name starting at \"1a=\\\"x\\\"} 1\" for metric m"},
        {"m{a-b=\"x\"} 1", "line 1: expected '=' after label name \"a\" of metric m"},
        {"m{a:b=\"x\"} 1", "line 1: expected '=' after label name \"a\" of metric m"},
        {"m{a} 1", "line 1: expected '=' after label name \"a\" of metric m"},
        {"m{a=x} 1", "line 1: expected '\"' to start the value of label \"a\" of metric m"},
        {"m{a='x'} 1", "line 1: expected '\"' to start the value of label \"a\" of metric m"},
        {"m{a=\"x} 1", "line 1: unterminated value of label a of metric m"},
        {"m{a=\"x\\\"} 1", "line 1: unterminated value of label a of metric m"},
        {"m{a=\"x\\", "line 1: unterminated value of label a of metric m"},
        {"m{a=\"x\" 1", "line 1: expected ',' or '}' after the value of label a of metric m"},
        {"m{a=\"x\"", "line 1: missing '}' after the labels of metric m"},
        {"m{a=\"x\",", "line 1: missing '}' after the labels of metric m"},
        {"m{,} 1", "line 1: invalid label name starting at \",} 1\" for metric m"},
        {"m{a=\"x\",,b=\"y\"} 1", "line 1: invalid label name starting at \",b=\\\"y\\\"} 1\" "
                                  "for metric m"},
        {"m{a=\"x\"b=\"y\"} 1", "line 1: expected ',' or '}' after the value of label a of "
                                "metric m"},
        {"m{a=\"x\",a=\"y\"} 1", "line 1: label a appears twice in metric m"},
        {"m{a=\"x\",b=\"\",a=\"x\"} 1", "line 1: label a appears twice in metric m"},
        {"m{__name__=\"n\"} 1", "line 1: metric m has a label __name__ (the name goes before "
                                "the '{')"},
        {"m{a=\"\xff\"} 1", "line 1: the value of label a of metric m is not valid UTF-8: "
                            "\"\\xff\""},
        {"m{a=\"x\"} 1 2 3", "line 1: unexpected text after the timestamp of metric m: \"3\""},
        {"{a=\"x\"} 1", "line 1: invalid metric name at \"{a=\\\"x\\\"} 1\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(ko(cases[i].in, false), cases[i].want);

    /* Samples before the bad line were delivered; the caller must discard them. */
    assert_string_equal(ko("a 1\nb 2\nc x\nd 4\n", false),
                        "line 3: invalid value \"x\" for metric c");
    assert_int_equal(G->n, 2);

    /* A NUL byte in a label value. */
    static const char nul[] = "m{a=\"x\0y\"} 1\n";
    assert_int_equal(run(nul, sizeof(nul) - 1, false), -1);
    assert_string_equal(G->err, "line 1: the value of label a of metric m is not valid UTF-8: "
                                "\"x\\x00y\"");

    /* Unknown escapes are kept in the text format (as Prometheus does), rejected in OpenMetrics. */
    assert_int_equal(ok("m{a=\"x\\ty\"} 1\n", false), 1);
    assert_string_equal(G->samples[0], "m{a=\"x\\ty\"} 1 untyped #1");
    assert_string_equal(ko("m{a=\"x\\ty\"} 1\n# EOF\n", true),
                        "line 1: invalid escape \"\\\\t\" in the value of label a of metric m");
}

static void test_limits(void **state)
{
    char *body = malloc(100000);
    size_t o;

    /* 64 labels besides the name are fine, 65 are not. */
    o = (size_t)sprintf(body, "m{");
    for (int i = 0; i < 64; i++)
        o += (size_t)sprintf(body + o, "l%02d=\"v\",", i);
    sprintf(body + o, "} 1\n");
    assert_int_equal(ok(body, false), 1);
    sprintf(body + o, "l64=\"v\"} 1\n");
    assert_string_equal(ko(body, false), "line 1: metric m has more than 64 labels");

    /* Label names up to 128 bytes. */
    o = (size_t)sprintf(body, "m{");
    memset(body + o, 'k', 128);
    o += 128;
    sprintf(body + o, "=\"v\"} 1\n");
    assert_int_equal(ok(body, false), 1);
    sprintf(body + o, "k=\"v\"} 1\n");
    assert_string_equal(
        ko(body, false),
        "line 1: label name \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\" "
        "of metric m is longer than 128 bytes");

    /* Label values up to 1024 bytes (after unescaping). */
    o = (size_t)sprintf(body, "m{k=\"");
    memset(body + o, 'v', 1023);
    o += 1023;
    sprintf(body + o, "\\n\"} 1\n");
    assert_int_equal(ok(body, false), 1);
    sprintf(body + o, "vv\"} 1\n");
    assert_string_equal(ko(body, false),
                        "line 1: the value of label k of metric m is longer than 1024 bytes");

    /* Metric names up to 1024 bytes, in samples and in TYPE lines. */
    memset(body, 'm', 1024);
    sprintf(body + 1024, " 1\n");
    assert_int_equal(ok(body, false), 1);
    sprintf(body + 1024, "m 1\n");
    assert_string_equal(
        ko(body, false),
        "line 1: metric name \"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm...\" "
        "is longer than 1024 bytes");
    o = (size_t)sprintf(body, "# TYPE ");
    memset(body + o, 'm', 1025);
    sprintf(body + o + 1025, " gauge\n");
    assert_string_equal(ko(body, false), "line 1: metric name in TYPE line is longer than 1024 "
                                         "bytes");
    free(body);
}

static void test_text_comments(void **state)
{
    assert_int_equal(ok("#\n"
                        "#TYPE a counter\n"
                        "# TYPEa counter\n"
                        "# HELP\n"
                        "# TYPE\n"
                        "# some words TYPE x\n"
                        "# UNIT a seconds\n"
                        "# EOF\n"
                        "#\tTYPE\tb\tgauge\t\n"
                        "# HELP c anything \\goes \\t here\n"
                        "a_total 1\n"
                        "b 2\n",
                        false),
                     2);
    assert_string_equal(G->samples[0], "a_total{} 1 untyped #11");
    assert_string_equal(G->samples[1], "b{} 2 gauge #12");

    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"# TYPE m\n", "line 1: TYPE line for m has no type"},
        {"# TYPE m  \n", "line 1: TYPE line for m has no type"},
        {"# TYPE m gaug\n", "line 1: invalid metric type \"gaug\" for m"},
        {"# TYPE m Gauge\n", "line 1: invalid metric type \"Gauge\" for m"},
        {"# TYPE m counter x\n", "line 1: invalid metric type \"counter x\" for m"},
        {"# TYPE m info\n", "line 1: invalid metric type \"info\" for m"},
        {"# TYPE m unknown\n", "line 1: invalid metric type \"unknown\" for m"},
        {"# TYPE 1m gauge\n", "line 1: invalid metric name in TYPE line: \"1m gauge\""},
        {"# TYPE m-x gauge\n", "line 1: invalid metric name in TYPE line: \"m-x gauge\""},
        {"x 1\n# HELP m{a=\"b\"} text\n", "line 2: invalid metric name in HELP line: "
                                          "\"m{a=\\\"b\\\"} text\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(ko(cases[i].in, false), cases[i].want);
}

static void test_families(void **state)
{
    static const char body[] = "# TYPE c counter\n"
                               "c_total 1\n"
                               "c_created 2\n"
                               "c 3\n"
                               "c_sum 4\n"
                               "# TYPE g gauge\n"
                               "g 5\n"
                               "g_sum 6\n"
                               "g_total 7\n"
                               "# TYPE h histogram\n"
                               "h_bucket{le=\"1\"} 8\n"
                               "h_count 9\n"
                               "h_sum 10\n"
                               "h_created 11\n"
                               "h_total 12\n"
                               "h 13\n"
                               "# TYPE s summary\n"
                               "s{quantile=\"0.5\"} 14\n"
                               "s_count 15\n"
                               "s_sum 16\n"
                               "s_bucket 17\n"
                               "# TYPE x_count gauge\n"
                               "x_count 18\n"
                               "# TYPE x histogram\n"
                               "x_count 19\n"
                               "x_sum 20\n"
                               "# TYPE x gauge\n"
                               "x_sum 21\n"
                               "x 22\n"
                               "c_total 23\n"
                               "_total 24\n"
                               "c_totalx 25\n";
    static const char *want[] = {
        "c_total{} 1 counter #2",
        "c_created{} 2 counter #3",
        "c{} 3 counter #4",
        "c_sum{} 4 untyped #5",
        "g{} 5 gauge #7",
        "g_sum{} 6 untyped #8",
        "g_total{} 7 untyped #9",
        "h_bucket{le=\"1\"} 8 histogram #11",
        "h_count{} 9 histogram #12",
        "h_sum{} 10 histogram #13",
        "h_created{} 11 histogram #14",
        "h_total{} 12 untyped #15",
        "h{} 13 histogram #16",
        "s{quantile=\"0.5\"} 14 summary #18",
        "s_count{} 15 summary #19",
        "s_sum{} 16 summary #20",
        "s_bucket{} 17 untyped #21",
        "x_count{} 18 gauge #23",
        "x_count{} 19 gauge #25",
        "x_sum{} 20 histogram #26",
        "x_sum{} 21 untyped #28",
        "x{} 22 gauge #29",
        "c_total{} 23 counter #30",
        "_total{} 24 untyped #31",
        "c_totalx{} 25 untyped #32",
    };
    assert_int_equal(ok(body, false), sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_string_equal(G->samples[i], want[i]);
}

static void test_om_basic(void **state)
{
    static const char body[] = "# TYPE a_seconds counter\n"
                               "# UNIT a_seconds seconds\n"
                               "# HELP a_seconds Help with \\\"escapes\\\" \\\\ and \\n.\n"
                               "a_seconds_total{x=\"1\"} 1 1.5 # {trace_id=\"abc\"} 1.0 1.25\n"
                               "a_seconds_created{x=\"1\"} 1.7e9\n"
                               "a_seconds_total{x=\"2\"} 2 # {} 3\n"
                               "# TYPE gh gaugehistogram\n"
                               "gh_bucket{le=\"+Inf\"} 3 -1.5\n"
                               "gh_gcount 3 1795290329.2875574\n"
                               "gh_gsum 4 1e3\n"
                               "# TYPE i info\n"
                               "i_info{v=\"a\\\"b\\\\c\\nd\"} 1\n"
                               "# TYPE st stateset\n"
                               "st{st=\"x\"} 0\n"
                               "# TYPE u unknown\n"
                               "u 5\n"
                               "# HELP plain\n"
                               "plain NaN\n"
                               "# EOF\n";
    static const char *want[] = {
        "a_seconds_total{x=\"1\"} 1 @1500 counter #4",
        "a_seconds_created{x=\"1\"} 1700000000 counter #5",
        "a_seconds_total{x=\"2\"} 2 counter #6",
        "gh_bucket{le=\"+Inf\"} 3 @-1500 gaugehistogram #8",
        "gh_gcount{} 3 @1795290329287 gaugehistogram #9",
        "gh_gsum{} 4 @1000000 gaugehistogram #10",
        "i_info{v=\"a\"b\\c\nd\"} 1 info #12",
        "st{st=\"x\"} 0 stateset #14",
        "u{} 5 untyped #16",
        "plain{} nan untyped #18",
    };
    assert_int_equal(ok(body, true), sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_string_equal(G->samples[i], want[i]);

    /* "# EOF" may end the body without a newline; an empty body is just "# EOF". */
    assert_int_equal(ok("m 1\n# EOF", true), 1);
    assert_int_equal(ok("# EOF\n", true), 0);
    /* In the text format a timestamp is never seconds, and "# EOF" is a comment. */
    assert_string_equal(ko("m 1 1.5\n# EOF\n", false),
                        "line 1: invalid timestamp \"1.5\" for metric m");
}

static void test_om_errors(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"", "line 1: missing \"# EOF\" at the end of the OpenMetrics body"},
        {"m 1\n", "line 2: missing \"# EOF\" at the end of the OpenMetrics body"},
        {"m 1", "line 2: missing \"# EOF\" at the end of the OpenMetrics body"},
        {"m 1\n# EOF\n\n", "line 3: unexpected content after \"# EOF\""},
        {"m 1\n# EOF\nm 2\n", "line 3: unexpected content after \"# EOF\""},
        {"m 1\n\n# EOF\n", "line 2: empty line (OpenMetrics does not allow blank lines)"},
        {"m 1\n# EOF \n", "line 2: invalid line \"# EOF \": OpenMetrics allows only # HELP, # "
                          "TYPE, # UNIT and # EOF lines to start with '#'"},
        {"# a comment\n# EOF\n", "line 1: invalid line \"# a comment\": OpenMetrics allows only "
                                 "# HELP, # TYPE, # UNIT and # EOF lines to start with '#'"},
        {" m 1\n# EOF\n", "line 1: invalid metric name at \" m 1\""},
        {"m  1\n# EOF\n", "line 1: missing value for metric m"},
        {"m\t1\n# EOF\n", "line 1: invalid metric name \"m\\x091\""},
        {"m 1 \n# EOF\n", "line 1: trailing space after the value of metric m"},
        {"m 1\r\n# EOF\n", "line 1: invalid value \"1\\x0d\" for metric m"},
        {"m{a=\"x\"}1\n# EOF\n", "line 1: expected a space and a value after metric m"},
        {"m{a = \"x\"} 1\n# EOF\n", "line 1: expected '=' after label name \"a\" of metric m"},
        {"m 1 NaN\n# EOF\n", "line 1: invalid timestamp \"NaN\" for metric m"},
        {"m 1 2 3\n# EOF\n", "line 1: unexpected text after the timestamp of metric m: \"3\""},
        {"m 1 #\n# EOF\n", "line 1: invalid exemplar after metric m (expected \"# {\")"},
        {"m 1 # x\n# EOF\n", "line 1: invalid exemplar after metric m (expected \"# {\")"},
        {"m 1 # {a=\"b\"}\n# EOF\n", "line 1: missing value in the exemplar of metric m"},
        {"m 1 # {a=\"b\"} x\n# EOF\n", "line 1: invalid exemplar value \"x\" for metric m"},
        {"m 1 # {a=\"b\"} 1 y\n# EOF\n", "line 1: invalid exemplar timestamp \"y\" for metric m"},
        {"m 1 # {a=\"b\"} 1 2 3\n# EOF\n",
         "line 1: unexpected text after the exemplar of metric m"},
        {"m 1 # {a=b} 1\n# EOF\n", "line 1: expected '\"' to start the value of label \"a\" of "
                                   "metric m"},
        {"# TYPE m untyped\n# EOF\n", "line 1: invalid metric type \"untyped\" for m"},
        {"# TYPE m gauge extra\n# EOF\n", "line 1: invalid metric type \"gauge extra\" for m"},
        {"# TYPE m\n# EOF\n", "line 1: TYPE line for m has no type"},
        {"# TYPE m \n# EOF\n", "line 1: TYPE line for m has no type"},
        {"# TYPE  m gauge\n# EOF\n", "line 1: invalid metric name in TYPE line: \" m gauge\""},
        {"# TYPE\tm gauge\n# EOF\n", "line 1: invalid line \"# TYPE\\x09m gauge\": OpenMetrics "
                                     "allows only # HELP, # TYPE, # UNIT and # EOF lines to start "
                                     "with '#'"},
        {"# HELP m bad \\t escape\n# EOF\n", "line 1: invalid escape \"\\\\t\" in the HELP text "
                                             "of m"},
        {"# HELP m trailing \\\n# EOF\n", "line 1: invalid escape \"\\\\\" in the HELP text of m"},
        {"# UNIT m_seconds bytes\n# EOF\n", "line 1: unit \"bytes\" is not a suffix of the "
                                            "metric name m_seconds"},
        {"# UNIT seconds seconds\n# EOF\n", "line 1: unit \"seconds\" is not a suffix of the "
                                            "metric name seconds"},
        {"# UNIT m_seconds sec-onds\n# EOF\n", "line 1: invalid unit \"sec-onds\" for "
                                               "m_seconds"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(ko(cases[i].in, true), cases[i].want);

    /* An empty UNIT is allowed, as is a HELP without text. */
    assert_int_equal(ok("# UNIT m \n# HELP m\n# HELP m \nm 1\n# EOF\n", true), 1);

    /* Exemplar labels: at most 128 characters of names and values together. */
    char body[512];
    size_t o = (size_t)sprintf(body, "m_total 1 # {id=\"");
    memset(body + o, 'x', 126);
    o += 126;
    sprintf(body + o, "\"} 1\n# EOF\n");
    assert_int_equal(ok(body, true), 1);
    sprintf(body + o, "x\"} 1\n# EOF\n");
    assert_string_equal(ko(body, true), "line 1: the exemplar labels of metric m_total are longer "
                                        "than 128 characters");
}

static void test_fixtures(void **state)
{
    size_t len;
    char *body;

    body = read_fixture("node_exporter.prom", &len);
    assert_int_equal(run(body, len, false), 0);
    assert_int_equal(G->n, 507);
    assert_string_equal(G->samples[0], "go_gc_duration_seconds{quantile=\"0\"} 0 summary #3");
    assert_string_equal(find("go_gc_duration_seconds_count"),
                        "go_gc_duration_seconds_count{} 0 summary #9");
    assert_string_equal(
        find("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}"),
        "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 6667.3900000000003 counter "
        "#105");
    assert_string_equal(find("node_load1{"), "node_load1{} 0.69999999999999996 gauge #237");
    assert_string_equal(find("node_filesystem_avail_bytes{device=\"/dev/vda\""),
                        "node_filesystem_avail_bytes{device=\"/dev/vda\",fstype=\"ext4\","
                        "mountpoint=\"/\"} 81754996736 gauge #210");
    assert_string_equal(find("node_boot_time_seconds"),
                        "node_boot_time_seconds{} 1795277980 gauge #93");
    assert_string_equal(find("node_scrape_collector_success{collector=\"cpu\"}"),
                        "node_scrape_collector_success{collector=\"cpu\"} 1 gauge #828");
    assert_string_equal(G->samples[506],
                        "promhttp_metric_handler_requests_total{code=\"503\"} 0 counter #1073");
    free(body);

    body = read_fixture("node_exporter.om.txt", &len);
    assert_int_equal(run(body, len, true), 0);
    assert_int_equal(G->n, 507);
    assert_string_equal(
        find("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}"),
        "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 6667.3900000000003 counter "
        "#105");
    /* The gauge and the counter that client_python gives the same family name. */
    assert_string_equal(find("go_memstats_alloc_bytes{"),
                        "go_memstats_alloc_bytes{} 856024 gauge #18");
    assert_string_equal(find("go_memstats_alloc_bytes_total"),
                        "go_memstats_alloc_bytes_total{} 856024 counter #21");
    free(body);

    body = read_fixture("prometheus.prom", &len);
    assert_int_equal(run(body, len, false), 0);
    assert_int_equal(G->n, 271);
    assert_string_equal(
        find("prometheus_tsdb_compaction_chunk_range_seconds_bucket{le=\"1.6384e+06\"}"),
        "prometheus_tsdb_compaction_chunk_range_seconds_bucket{le=\"1.6384e+06\"} 0 histogram "
        "#326");
    assert_string_equal(find("prometheus_tsdb_compaction_chunk_range_seconds_count"),
                        "prometheus_tsdb_compaction_chunk_range_seconds_count{} 0 histogram #331");
    assert_string_equal(find("go_gc_duration_seconds{quantile=\"0.5\"}"),
                        "go_gc_duration_seconds{quantile=\"0.5\"} 0.000198634 summary #5");
    assert_string_equal(find("prometheus_tsdb_clean_start"),
                        "prometheus_tsdb_clean_start{} -1 gauge #316");
    free(body);

    body = read_fixture("client_python.om.txt", &len);
    assert_int_equal(run(body, len, true), 0);
    assert_int_equal(G->n, 23);
    assert_string_equal(G->samples[2],
                        "http_requests_total{code=\"500\",method=\"post\"} 3 counter "
                        "#5");
    assert_string_equal(find("request_latency_seconds_bucket{le=\"0.5\"}"),
                        "request_latency_seconds_bucket{le=\"0.5\"} 2 histogram #14");
    assert_string_equal(find("request_latency_seconds_created"),
                        "request_latency_seconds_created{} 1795290329.2875969 histogram #19");
    assert_string_equal(find("payload_size_bytes_sum"),
                        "payload_size_bytes_sum{} 1536 summary #24");
    assert_string_equal(find("build_info"),
                        "build_info{revision=\"a\"b\\c\nd\",version=\"1.2.3\"} 1 info #28");
    assert_string_equal(find("task_state{task_state=\"running\"}"),
                        "task_state{task_state=\"running\"} 1 stateset #32");
    assert_string_equal(find("queue_wait_seconds_gsum"),
                        "queue_wait_seconds_gsum{} 7.5 gaugehistogram #39");
    free(body);
}

static void test_is_openmetrics(void **state)
{
    assert_true(expfmt_is_openmetrics("application/openmetrics-text"));
    assert_true(expfmt_is_openmetrics("application/openmetrics-text; version=1.0.0; "
                                      "charset=utf-8"));
    assert_true(expfmt_is_openmetrics("Application/OpenMetrics-Text;version=0.0.1"));
    assert_true(expfmt_is_openmetrics("  application/openmetrics-text ;version=1.0.0"));
    assert_false(expfmt_is_openmetrics("text/plain; version=0.0.4; charset=utf-8"));
    assert_false(expfmt_is_openmetrics("application/openmetrics-textx"));
    assert_false(expfmt_is_openmetrics("application/openmetrics"));
    assert_false(expfmt_is_openmetrics(""));
    assert_false(expfmt_is_openmetrics(NULL));
}

static void test_callback_stop(void **state)
{
    static const char body[] = "a 1\nb 2\nc 3\n";
    char err[64] = "x";

    memset(G, 0, sizeof(*G));
    G->stop_after = 2;
    assert_int_equal(expfmt_parse(body, strlen(body), false, on_sample, G, err, sizeof(err)), 9);
    assert_int_equal(G->calls, 2);
    assert_string_equal(err, "");
    /* A NULL callback only validates; a short error buffer still gets a cut message. */
    assert_int_equal(expfmt_parse(body, strlen(body), false, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(expfmt_parse("a b", 3, false, NULL, NULL, err, 12), -1);
    assert_string_equal(err, "line 1: inv");
    assert_int_equal(expfmt_parse("a b", 3, false, NULL, NULL, NULL, 0), -1);
    /* Only len bytes are read. */
    assert_int_equal(expfmt_parse("a 1\nb x", 4, false, NULL, NULL, err, sizeof(err)), 0);
}

static int count_sample(void *ctx, struct expfmt_sample *s)
{
    (*(size_t *)ctx)++;
    return s->n_labels >= 1 ? 0 : 1;
}

static void test_speed(void **state)
{
    size_t len, count = 0, rounds = 1000;
    char *body = read_fixture("node_exporter.prom", &len);
    char err[256];
    struct timespec a, b;

    clock_gettime(CLOCK_MONOTONIC, &a);
    for (size_t i = 0; i < rounds; i++)
        assert_int_equal(expfmt_parse(body, len, false, count_sample, &count, err, sizeof(err)), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(count, 507 * rounds);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    print_message("expfmt text: %zu samples in %.3f s: %.2f million samples/s, %.0f MB/s\n", count,
                  s, (double)count / s / 1e6, (double)(len * rounds) / s / 1e6);
    free(body);

    body = read_fixture("node_exporter.om.txt", &len);
    count = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (size_t i = 0; i < rounds; i++)
        assert_int_equal(expfmt_parse(body, len, true, count_sample, &count, err, sizeof(err)), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(count, 507 * rounds);
    s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    print_message("expfmt OpenMetrics: %zu samples in %.3f s: %.2f million samples/s\n", count, s,
                  (double)count / s / 1e6);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),   cmocka_unit_test(test_text_blanks),
        cmocka_unit_test(test_values),         cmocka_unit_test(test_text_errors),
        cmocka_unit_test(test_limits),         cmocka_unit_test(test_text_comments),
        cmocka_unit_test(test_families),       cmocka_unit_test(test_om_basic),
        cmocka_unit_test(test_om_errors),      cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_is_openmetrics), cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_speed),
    };
    int rc;

    G = malloc(sizeof(*G));
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(G);
    return rc;
}
