/*
 * test_template.c - unit tests for src/rules/template.c, the annotation
 * templates of alert rules.
 *
 * The expected outputs of the humanize functions, of {{ $value }} and of
 * printf were produced by Prometheus 2.42 itself (promtool test rules with
 * these templates as annotations), so they pin Tocsin to what a Prometheus
 * user sees. Where Tocsin deliberately differs (printf "%d" and "%s" of a
 * number, numeric verbs of numeric strings) the test says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rules/template.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"explanation", "expected", "threshold", "deviation",
                                    "predicted",   "for",      NULL};

/* Renders src with the labels instance="db-1 main:9100", mountpoint="/"
 * and the given value; returns a new string. */
static char *render(const char *src, double value)
{
    struct labelset ls = {0};
    labels_set(&ls, "instance", "db-1 main:9100");
    labels_set(&ls, "mountpoint", "/");
    struct template_var extra[] = {{"expected", "1,200–1,900"}, {"for", "10m"}};
    struct template_vars v = {.labels = &ls, .value = value, .extra = extra, .n_extra = 2};
    char *out = template_render(src, &v);
    labels_free(&ls);
    assert_non_null(out);
    return out;
}

static void expect_render(const char *src, double value, const char *want)
{
    char err[512] = "";
    if (template_check(src, names, err, sizeof(err)) != 0)
        fail_msg("check of %s failed: %s", src, err);
    char *out = render(src, value);
    if (strcmp(out, want) != 0) {
        fprintf(stderr, "template %s\n  got  [%s]\n  want [%s]\n", src, out, want);
        free(out);
        fail();
    }
    free(out);
}

static void expect_error(const char *src, const char *want)
{
    char err[512] = "";
    assert_int_equal(template_check(src, names, err, sizeof(err)), -1);
    if (strcmp(err, want) != 0)
        fail_msg("template %s\n  got  [%s]\n  want [%s]", src, err, want);
    /* A template that does not parse renders as itself; only variable names
     * are not checked when rendering (one the rule does not give is empty). */
    if (strstr(want, "unknown variable"))
        return;
    char *out = render(src, 1);
    assert_string_equal(out, src);
    free(out);
}

/* One row: a value and what each function makes of it, as Prometheus does. */
struct human_row {
    double v;
    const char *value, *humanize, *h1024, *percent, *duration;
};

static const struct human_row human_rows[] = {
    {1234567, "1.234567e+06", "1.235M", "1.177Mi", "1.235e+08%", "14d 6h 56m 7s"},
    {0.0012, "0.0012", "1.2m", "0.0012", "0.12%", "1.2ms"},
    {1e20, "1e+20", "100E", "86.74Ei", "1e+22%", "1157407407407407d 9h 46m 40s"},
    {123456, "123456", "123.5k", "120.6ki", "1.235e+07%", "1d 10h 17m 36s"},
    {0.00001, "1e-05", "10u", "1e-05", "0.001%", "10us"},
    {93784.5, "93784.5", "93.78k", "91.59ki", "9.378e+06%", "1d 2h 3m 4s"},
    {0, "0", "0", "0", "0%", "0s"},
    {-1536, "-1536", "-1.536k", "-1.5ki", "-1.536e+05%", "-25m 36s"},
    {INFINITY, "+Inf", "+Inf", "+Inf", "+Inf%", "+Inf"},
    {-INFINITY, "-Inf", "-Inf", "-Inf", "-Inf%", "-Inf"},
    {NAN, "NaN", "NaN", "NaN", "NaN%", "NaN"},
    {0.123, "0.123", "123m", "0.123", "12.3%", "123ms"},
    {1.5, "1.5", "1.5", "1.5", "150%", "1.5s"},
    {59.99, "59.99", "59.99", "59.99", "5999%", "59.99s"},
    {3600, "3600", "3.6k", "3.516ki", "3.6e+05%", "1h 0m 0s"},
    {1e25, "1e+25", "10Y", "8.272Yi", "1e+27%", "115740740740740743168d 12h 1m 4s"},
    {1e-25, "1e-25", "0.1y", "1e-25", "1e-23%", "0.1ys"},
    {-0.5, "-0.5", "-500m", "-0.5", "-50%", "-500ms"},
};

/* humanize1024 of 1e20 in Prometheus: 86.74Ei; Tocsin's duration of 1e20 s
 * is sane where Prometheus overflows int64 ("-106751991167300d ..."). */
static void test_humanize_table(void **state)
{
    char buf[96];
    for (size_t i = 0; i < sizeof(human_rows) / sizeof(human_rows[0]); i++) {
        const struct human_row *r = &human_rows[i];
        char *out = render("{{ $value }}|{{ $value | humanize }}|{{ $value | humanize1024 }}|"
                           "{{ $value | humanizePercentage }}|{{ $value | humanizeDuration }}",
                           r->v);
        char want[256];
        snprintf(want, sizeof(want), "%s|%s|%s|%s|%s", r->value, r->humanize, r->h1024, r->percent,
                 r->duration);
        if (strcmp(out, want) != 0)
            fail_msg("value %g:\n  got  [%s]\n  want [%s]", r->v, out, want);
        free(out);

        template_humanize(r->v, buf, sizeof(buf));
        assert_string_equal(buf, r->humanize);
        template_humanize_percentage(r->v, buf, sizeof(buf));
        assert_string_equal(buf, r->percent);
        template_humanize_duration(r->v, buf, sizeof(buf));
        assert_string_equal(buf, r->duration);
    }
    /* The header's examples, and a small buffer is cut, never overrun. */
    template_humanize(1234567, buf, sizeof(buf));
    assert_string_equal(buf, "1.235M");
    template_humanize_percentage(0.123, buf, sizeof(buf));
    assert_string_equal(buf, "12.3%");
    template_humanize_duration(93784, buf, sizeof(buf));
    assert_string_equal(buf, "1d 2h 3m 4s");
    template_humanize_duration(93784, buf, 5);
    assert_string_equal(buf, "1d 2");
}

static void test_variables(void **state)
{
    expect_render("{{ $labels.instance }}", 1, "db-1 main:9100");
    expect_render("{{ .Labels.instance }} / {{ .Value }}", 1234.5678, "db-1 main:9100 / 1234.5678");
    expect_render("{{ index $labels \"instance\" }}", 1, "db-1 main:9100");
    expect_render("{{ index .Labels `mountpoint` }}", 1, "/");
    expect_render("{{ \"instance\" | index $labels }}", 1, "db-1 main:9100");
    expect_render("{{ $labels.missing }}x{{ index $labels \"nope\" }}", 1, "x");
    expect_render("expected {{ $expected }} for {{ $for }}", 1, "expected 1,200–1,900 for 10m");
    /* A variable the rule offers but did not give this time is empty. */
    expect_render("[{{ $predicted }}]", 1, "[]");
    expect_render("no actions at all }} {", 1, "no actions at all }} {");
    expect_render("", 1, "");

    /* No labels and no variables at all. */
    struct template_vars none = {.value = 2};
    char *out = template_render("{{ $labels.a }}{{ $value }}{{ $expected }}", &none);
    assert_string_equal(out, "2");
    free(out);
    out = template_render("{{ $value }}", NULL);
    assert_string_equal(out, "0");
    free(out);
}

static void test_syntax(void **state)
{
    /* Trim markers take the whitespace of the text next to them, not of values. */
    expect_render("a  {{- $value -}}  b", 1234.5678, "a1234.5678b");
    expect_render("a \n {{- $labels.mountpoint }} b", 1, "a/ b");
    expect_render("a {{ $labels.mountpoint -}} \n\t b", 1, "a /b");
    expect_render("a  {{- /* hi */ -}}  b", 1, "ab");
    expect_render("a {{/* c */}} b", 1, "a  b");
    expect_render("a {{/* a }} b */}} b", 1, "a  b");
    expect_render("{{\n  $labels.mountpoint\n}}", 1, "/");
    /* "{{-3}}" is the number -3, not a trim marker. */
    expect_render("{{-3}} {{ 3 }} {{ -2.5 }} {{ 1e3 }} {{ .5 }}", 1, "-3 3 -2.5 1000 0.5");
    expect_render("{{ `raw\\n` }} {{ \"esc\\t\\\"q\\\"\\\\\" }}", 1, "raw\\n esc\t\"q\"\\");
    expect_render("{{ \"}}\" }}", 1, "}}");
}

static void test_functions(void **state)
{
    expect_render("{{ $labels.instance | toUpper }}", 1, "DB-1 MAIN:9100");
    expect_render("{{ $labels.instance | title }}", 1, "Db-1 Main:9100");
    expect_render("{{ \"HeLLo wOrld\" | toLower }}", 1, "hello world");
    expect_render("{{ \"hello wo_rld x-y 3rd\" | title }}", 1, "Hello Wo_rld X-Y 3rd");
    expect_render("{{ title \"über straße\" }}", 1, "über Straße");
    expect_render("{{ $value | humanize | toUpper }}", 1234.5678, "1.235K");
    expect_render("{{ humanize $value }}", 1234.5678, "1.235k");
    expect_render("{{ \"12345678\" | humanize }}", 1, "12.35M");
    /* Text that is not a number passes through the humanize functions unchanged. */
    expect_render("[{{ $labels.missing | humanize }}] {{ \"n/a\" | humanizeDuration }}", 1,
                  "[] n/a");
    expect_render("{{ $value | toUpper }}", 1e-7, "1E-07");
}

struct printf_row {
    const char *src;
    double value;
    const char *want;
};

static const struct printf_row printf_rows[] = {
    /* As Prometheus prints them. */
    {"{{ printf \"%.1f\" $value }}", 1234.5678, "1234.6"},
    {"{{ $value | printf \"%10.3f\" }}|", 1234.5678, "  1234.568|"},
    {"{{ printf \"%-10.2f\" $value }}|", 1234.5678, "1234.57   |"},
    {"{{ printf \"%+.2e\" $value }}", 1234.5678, "+1.23e+03"},
    {"{{ printf \"%010.2f\" $value }}", 1234.5678, "0001234.57"},
    {"{{ printf \"%08.2f\" -3.5 }}", 0, "-0003.50"},
    {"{{ printf \"% .3g\" $value }}", 1234.5678, " 1.23e+03"},
    {"{{ printf \"%g\" $value }}", 1234567, "1.234567e+06"},
    {"{{ printf \"%g\" 0.000012345 }}", 0, "1.2345e-05"},
    {"{{ printf \"%e\" $value }}", 0.0012, "1.200000e-03"},
    {"{{ printf \"%f\" $value }}", 1.5, "1.500000"},
    {"{{ printf \"%.2f\" $value }}", 1e20, "100000000000000000000.00"},
    {"{{ printf \"%.0f\" 2.5 }} {{ printf \"%.0f\" 3.5 }}", 0, "2 4"},
    {"{{ printf \"%5.1f%%\" 99.44 }}", 0, " 99.4%"},
    {"{{ printf \"%.3s\" $labels.instance }}", 0, "db-"},
    {"{{ printf \"%16s|\" $labels.instance }}", 0, "  db-1 main:9100|"},
    {"{{ printf \"%-16s|\" $labels.instance }}", 0, "db-1 main:9100  |"},
    {"{{ printf \"%6.2s|\" \"äöü\" }}", 0, "    äö|"},
    {"{{ printf \"100%% of %s\" $labels.instance }}", 0, "100% of db-1 main:9100"},
    {"{{ printf \"no verb\" }}", 0, "no verb"},
    {"{{ printf \"%f\" \"abc\" }}", 0, "%!f(string=abc)"},
    {"{{ printf \"%.2f\" $value }}|{{ printf \"%8.1f\" $value }}|{{ printf \"%+f\" $value }}",
     INFINITY, "+Inf|    +Inf|+Inf"},
    {"{{ printf \"%.2f\" $value }}|{{ printf \"%05.1f\" $value }}|{{ printf \"%+g\" $value }}", NAN,
     "NaN|  NaN|+NaN"},
    {"{{ printf \"%.2f\" $value }}", -INFINITY, "-Inf"},
    /* Tocsin's choices where Go prints "%!d(float64=...)" and the like. */
    {"{{ printf \"%d\" $value }}", 1234.9, "1234"},
    {"{{ printf \"%s\" $value }}", 1234567, "1.234567e+06"},
    {"{{ printf \"%.2f\" \"3.14159\" }}", 0, "3.14"},
    {"{{ printf \"%d\" $value }}", 1e19, "10000000000000000000"},
};

static void test_printf(void **state)
{
    for (size_t i = 0; i < sizeof(printf_rows) / sizeof(printf_rows[0]); i++)
        expect_render(printf_rows[i].src, printf_rows[i].value, printf_rows[i].want);
    /* One verb per format: flags apply to that one. */
    expect_render("{{ printf \"%05d\" $value }}|{{ printf \"%-5d\" $value }}|"
                  "{{ printf \"%+d\" $value }}|{{ printf \"%.3d\" $value }}",
                  7, "00007|7    |+7|007");
    expect_render("{{ printf \"%d\" $value }}", -0.5, "0");
}

static void test_errors(void **state)
{
    static const char hint[] =
        "(Tocsin templates take $labels, $value and the rule's variables, with humanize, "
        "humanize1024, humanizePercentage, humanizeDuration, printf, toUpper, toLower, title and "
        "index)";
    static const struct {
        const char *src, *want;
    } rows[] = {
        {"{{if $value}}x{{end}}", "position 3: `if` is not supported "},
        {"{{ range $labels }}{{ end }}", "position 4: `range` is not supported "},
        {"{{ query \"up\" | first }}", "position 4: `query` is not supported "},
        {"{{ $value | foo }}", "position 13: `foo` is not supported "},
        {"x {{ $value", "position 3: unclosed action (missing }})"},
        {"{{ $labels }}", "position 4: `$labels` needs a label name ($labels.NAME)"},
        {"{{ .Labels }}", "position 4: `.Labels` needs a label name (.Labels.NAME)"},
        {"{{ $foo }}", "position 4: unknown variable $foo (variables are $labels, $value, "
                       "$explanation, $expected, $threshold, $deviation, $predicted, $for)"},
        {"{{ $ }}", "position 4: `$` is not supported (use $labels.NAME or $value)"},
        {"{{ . }}", "position 4: `.` is not supported (use .Labels.NAME, .Value or "
                    "$labels.NAME, $value)"},
        {"{{ .Foo }}", "position 4: `.Foo` is not supported (use .Labels.NAME, .Value or "
                       "$labels.NAME, $value)"},
        {"{{ $value.x }}", "position 10: `$value` has no fields"},
        {"{{ $labels.a.b }}", "position 13: a label value has no fields"},
        {"{{ $x := 1 }}", "position 7: assigning variables is not supported"},
        {"{{ (humanize $value) }}",
         "position 4: parentheses are not supported (use a pipe: $value | humanize)"},
        {"{{ humanize }}", "position 4: humanize takes one value (such as $value | humanize)"},
        {"{{ $value | humanize $value }}",
         "position 13: humanize takes one value (such as $value | humanize)"},
        {"{{ printf \"%.1f\" humanize }}",
         "position 18: `humanize` cannot be an argument here (use a pipe: $value | humanize)"},
        {"{{ printf }}", "position 4: printf needs a quoted format string first"},
        {"{{ printf $value }}", "position 4: printf needs a quoted format string first"},
        {"{{ printf \"%d %d\" 1 2 }}",
         "position 4: printf takes a quoted format and at most one value"},
        {"{{ printf \"%d\" }}", "position 11: printf format needs a value for %d"},
        {"{{ printf \"abc\" $value }}", "position 11: printf format has no verb for its value"},
        {"{{ printf \"%x\" $value }}",
         "position 11: printf verb %x is not supported (use %d, %f, %g, %e or %s)"},
        {"{{ printf \"%v\" $value }}",
         "position 11: printf verb %v is not supported (use %d, %f, %g, %e or %s)"},
        {"{{ printf \"%*d\" $value }}",
         "position 11: printf verb %* is not supported (use %d, %f, %g, %e or %s)"},
        {"{{ printf \"%#g\" $value }}", "position 11: printf flag # is not supported"},
        {"{{ printf \"%+s\" $value }}", "position 11: printf %s takes only the flag -"},
        {"{{ printf \"%100f\" $value }}",
         "position 11: printf width and precision must be at most 64"},
        {"{{ printf \"%.65f\" $value }}",
         "position 11: printf width and precision must be at most 64"},
        {"{{ printf \"%5.\" $value }}",
         "position 11: printf format ends inside a verb (write %% for a % sign)"},
        {"{{ index $labels }}",
         "position 4: index takes $labels and a label name: index $labels \"NAME\""},
        {"{{ index \"a\" \"b\" }}",
         "position 4: index takes $labels and a label name: index $labels \"NAME\""},
        {"{{ $value | }}", "position 13: missing function after |"},
        {"{{ $value | $value }}", "position 13: only a function can follow | (such as humanize)"},
        {"{{ \"abc }}", "position 4: unterminated quoted string"},
        {"{{ \"a\\qb\" }}",
         "position 6: unsupported escape \\q in a string (use \\n, \\t, \\r, \\\\ or \\\")"},
        {"{{}}", "position 1: empty action {{ }}"},
        {"a {{- }}", "position 3: empty action {{ }}"},
        {"{{/* unclosed", "position 3: unclosed comment"},
        {"{{/* x */ }}", "position 10: a comment must end with */}}"},
        {"{{ $value $value }}", "position 11: a value cannot take arguments (only functions can)"},
        {"{{ 1x }}", "position 4: bad number \"1x\""},
        {"{{ $value , }}", "position 11: unexpected \",\" after the value"},
        {"ok {{ $value }} then {{ else }}", "position 25: `else` is not supported "},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char want[600];
        size_t n = strlen(rows[i].want);
        /* Rows ending in a space take the hint after them. */
        snprintf(want, sizeof(want), "%s%s", rows[i].want, rows[i].want[n - 1] == ' ' ? hint : "");
        expect_error(rows[i].src, want);
    }
    /* Without extra names only $labels and $value are variables. */
    char err[256];
    assert_int_equal(template_check("{{ $expected }}", NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "position 4: unknown variable $expected (variables are $labels, "
                             "$value)");
    assert_int_equal(template_check("{{ $value }}", NULL, NULL, 0), 0);
    /* A small error buffer is cut, not overrun. */
    assert_int_equal(template_check("{{ if }}", names, err, 12), -1);
    assert_string_equal(err, "position 4:");
}

static void test_bounds(void **state)
{
    char err[128];
    /* The source. */
    char *src = malloc(TEMPLATE_MAX_SOURCE + 2);
    assert_non_null(src);
    memset(src, 'a', TEMPLATE_MAX_SOURCE);
    src[TEMPLATE_MAX_SOURCE] = '\0';
    assert_int_equal(template_check(src, names, err, sizeof(err)), 0);
    src[TEMPLATE_MAX_SOURCE] = 'a';
    src[TEMPLATE_MAX_SOURCE + 1] = '\0';
    assert_int_equal(template_check(src, names, err, sizeof(err)), -1);
    assert_string_equal(err, "position 8193: template is longer than 8192 bytes");
    char *out = render(src, 1);
    assert_string_equal(out, src);
    free(out);
    free(src);

    /* The output is cut at TEMPLATE_MAX_OUTPUT, never inside a UTF-8 character. */
    struct labelset ls = {0};
    char big[1024];
    for (size_t i = 0; i + 3 <= 1023; i += 3)
        memcpy(big + i, "\xe2\x82\xac", 3); /* € */
    big[1023] = '\0';
    labels_set(&ls, "x", big);
    char tmpl[64 * 16 + 1] = "";
    for (int i = 0; i < 17; i++)
        strcat(tmpl, "{{ $labels.x }}");
    struct template_vars v = {.labels = &ls};
    out = template_render(tmpl, &v);
    assert_non_null(out);
    assert_int_equal(strlen(out), 16383);
    assert_memory_equal(out + 16380, "\xe2\x82\xac", 3);
    free(out);

    /* ASCII is cut at the bound exactly; printf pads by characters. */
    char ascii[1001];
    memset(ascii, 'b', 1000);
    ascii[1000] = '\0';
    labels_set(&ls, "y", ascii);
    out = template_render("{{ printf \"%-2000s\" $labels.y }}", &v);
    assert_string_equal(out, "{{ printf \"%-2000s\" $labels.y }}"); /* width > 64: no */
    free(out);
    tmpl[0] = '\0';
    for (int i = 0; i < 17; i++)
        strcat(tmpl, "{{ $labels.y }}");
    out = template_render(tmpl, &v);
    assert_int_equal(strlen(out), TEMPLATE_MAX_OUTPUT);
    free(out);
    out = template_render("{{ printf \"%6s|\" \"€\" }}", &v);
    assert_string_equal(out, "     €|");
    free(out);

    /* Pipelines are bounded. */
    char pipe[512] = "{{ $value";
    for (int i = 0; i < 16; i++)
        strcat(pipe, " | toUpper");
    strcat(pipe, " }}");
    assert_int_equal(template_check(pipe, names, err, sizeof(err)), -1);
    assert_string_equal(err, "position 163: a pipeline may have at most 16 commands");
    labels_free(&ls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_humanize_table), cmocka_unit_test(test_variables),
        cmocka_unit_test(test_syntax),         cmocka_unit_test(test_functions),
        cmocka_unit_test(test_printf),         cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
