/*
 * test_plugin_output.c - unit tests for src/checks/range.c and
 * src/checks/plugin_output.c.
 *
 * The range alert table starts with the five examples of the Monitoring
 * Plugins development guidelines ("Threshold and ranges"), whose inclusive
 * endpoints are the easy thing to get wrong. The output cases include
 * strings captured from Debian's monitoring-plugins (check_disk, check_load,
 * check_users, check_procs, check_http, check_tcp, check_swap, check_dummy)
 * and the multi-line example of the Nagios "Plugin API" documentation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "checks/plugin_output.h"
#include "checks/range.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exact comparison: both sides come from correctly rounded conversions. */
static void check_num(double got, double want, const char *what)
{
    if (!(got == want))
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

static struct range parse_range_ok(const char *text)
{
    struct range r;
    char err[128] = "";

    if (range_parse(text, strlen(text), &r, err, sizeof(err)) != 0)
        fail_msg("range \"%s\" rejected: %s", text, err);
    return r;
}

static void test_range_guideline_examples(void **state)
{
    static const struct {
        const char *range;
        double value;
        bool alerts;
    } cases[] = {
        /* "10": alert if < 0 or > 10. */
        {"10", -0.5, true},
        {"10", 0, false},
        {"10", 5, false},
        {"10", 10, false},
        {"10", 10.001, true},
        /* "10:": alert if < 10. */
        {"10:", 9.999, true},
        {"10:", 10, false},
        {"10:", 1e300, false},
        /* "~:10": alert if > 10. */
        {"~:10", -1e300, false},
        {"~:10", 10, false},
        {"~:10", 10.5, true},
        /* "10:20": alert if < 10 or > 20 (endpoints are OK). */
        {"10:20", 9, true},
        {"10:20", 10, false},
        {"10:20", 15, false},
        {"10:20", 20, false},
        {"10:20", 21, true},
        /* "@10:20": alert if >= 10 and <= 20 (endpoints alert). */
        {"@10:20", 9.99, false},
        {"@10:20", 10, true},
        {"@10:20", 15, true},
        {"@10:20", 20, true},
        {"@10:20", 20.01, false},
        /* More forms. */
        {"@10", 0, true},
        {"@10", 10, true},
        {"@10", -1, false},
        {"@~:5", -1e9, true},
        {"@~:5", 5, true},
        {"@~:5", 6, false},
        {"@10:", 9, false},
        {"@10:", 10, true},
        {"~:", -1e300, false},
        {"~:", 1e300, false},
        {"@~:", 0, true},
        {"-10:-5", -11, true},
        {"-10:-5", -10, false},
        {"-10:-5", -5, false},
        {"-10:-5", -4.9, true},
        {"1.5:2.5", 1.4, true},
        {"1.5:2.5", 1.5, false},
        {"1,5:2,5", 2.6, true},
        {"1e3", 1000, false},
        {"1e3", 1000.5, true},
        {":10", -1, true},
        {"5:5", 5, false},
        {"5:5", 5.0001, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct range r = parse_range_ok(cases[i].range);
        if (range_alerts(&r, cases[i].value) != cases[i].alerts)
            fail_msg("range %s, value %g: alerts should be %d", cases[i].range, cases[i].value,
                     cases[i].alerts);
    }
}

static void test_range_fields_and_format(void **state)
{
    static const struct {
        const char *text;
        bool start_inf, end_inf, inverted;
        double start, end;
        const char *formatted;
    } cases[] = {
        {"10", false, false, false, 0, 10, "10"},
        {"10:", false, true, false, 10, 0, "10:"},
        {"~:10", true, false, false, 0, 10, "~:10"},
        {"10:20", false, false, false, 10, 20, "10:20"},
        {"@10:20", false, false, true, 10, 20, "@10:20"},
        {"0:10", false, false, false, 0, 10, "10"},
        {":10", false, false, false, 0, 10, "10"},
        {"0:", false, true, false, 0, 0, "0:"},
        {"~:", true, true, false, 0, 0, "~:"},
        {"@~:5", true, false, true, 0, 5, "@~:5"},
        {"-5:-1", false, false, false, -5, -1, "-5:-1"},
        {"1.5:2.25", false, false, false, 1.5, 2.25, "1.5:2.25"},
        {"1,5:3", false, false, false, 1.5, 3, "1.5:3"},
        {"0.1", false, false, false, 0, 0.1, "0.1"},
        {"+5", false, false, false, 0, 5, "5"},
        {"1e3:", false, true, false, 1000, 0, "1000:"},
        {"2.5E-3", false, false, false, 0, 0.0025, "0.0025"},
        {"15264", false, false, false, 0, 15264, "15264"},
        {"243497277849", false, false, false, 0, 243497277849.0, "243497277849"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct range r, again;
        char buf[64], err[128];

        r = parse_range_ok(cases[i].text);
        if (r.start_inf != cases[i].start_inf || r.end_inf != cases[i].end_inf ||
            r.inverted != cases[i].inverted)
            fail_msg("%s: wrong flags", cases[i].text);
        if (!r.start_inf)
            check_num(r.start, cases[i].start, cases[i].text);
        if (!r.end_inf)
            check_num(r.end, cases[i].end, cases[i].text);
        assert_string_equal(range_format(&r, buf, sizeof(buf)), cases[i].formatted);
        assert_int_equal(range_parse(buf, strlen(buf), &again, err, sizeof(err)), 0);
        assert_true(again.start_inf == r.start_inf && again.end_inf == r.end_inf &&
                    again.inverted == r.inverted);
        if (!r.start_inf)
            check_num(again.start, r.start, buf);
        if (!r.end_inf)
            check_num(again.end, r.end, buf);
    }
}

static void test_range_invalid(void **state)
{
    static const char *const bad[] = {
        "",      "@",    ":",       "@:",       "~",   "~10",  "20:10", "@20:10",
        "-5",    "abc",  "10:abc",  "10:20:30", " 10", "10 ",  "inf",   "nan",
        "1e999", "0x10", "~:~",     "10:~",     "--1", "1..2", "10;20", "@@10",
        "1e",    "10%",  "10:20ms", ".",        "-",   "~:-",  "5:-5",  "1,2,3",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct range r;
        char err[128] = "";

        if (range_parse(bad[i], strlen(bad[i]), &r, err, sizeof(err)) == 0)
            fail_msg("range \"%s\" accepted", bad[i]);
        if (err[0] == '\0')
            fail_msg("range \"%s\": no message", bad[i]);
    }
    /* Errors without a message buffer, and the length is respected. */
    struct range r;
    assert_int_equal(range_parse("20:10", 5, &r, NULL, 0), -1);
    assert_int_equal(range_parse("10:20x", 5, &r, NULL, 0), 0);
    check_num(r.end, 20, "length");
}

static void test_range_nan_never_alerts(void **state)
{
    struct range r = parse_range_ok("10:20"), inv = parse_range_ok("@~:");

    assert_false(range_alerts(&r, NAN));
    assert_false(range_alerts(&inv, NAN));
}

static void parse_str(const char *s, struct plugin_output *o)
{
    assert_int_equal(plugin_output_parse(s, strlen(s), o), 0);
    assert_non_null(o->summary);
}

/* Finds an item by label; fails the test when it is missing. */
static const struct perf_item *item(const struct plugin_output *o, const char *label)
{
    for (size_t i = 0; i < o->n_perf; i++)
        if (strcmp(o->perf[i].label, label) == 0)
            return &o->perf[i];
    fail_msg("no perfdata item '%s'", label);
    return NULL;
}

static void test_output_single_line(void **state)
{
    struct plugin_output o;

    parse_str("OK: all\n", &o); /* check_dummy 0 all */
    assert_string_equal(o.summary, "OK: all");
    assert_null(o.long_output);
    assert_int_equal(o.n_perf, 0);
    assert_int_equal(o.n_perf_bad, 0);
    plugin_output_clear(&o);

    parse_str("connect to address 127.0.0.1 and port 1: Connection refused", &o);
    assert_string_equal(o.summary, "connect to address 127.0.0.1 and port 1: Connection refused");
    assert_null(o.long_output);
    plugin_output_clear(&o);

    /* check_http on a closed port prints two lines. */
    parse_str("connect to address 127.0.0.1 and port 1: Connection refused\n"
              "HTTP CRITICAL - Unable to open TCP socket\n",
              &o);
    assert_string_equal(o.long_output, "HTTP CRITICAL - Unable to open TCP socket");
    plugin_output_clear(&o);
}

static void test_output_real_plugins(void **state)
{
    struct plugin_output o;
    const struct perf_item *p;

    parse_str("USERS OK - 0 users currently logged in |users=0;5;10;0\n", &o);
    assert_string_equal(o.summary, "USERS OK - 0 users currently logged in");
    assert_int_equal(o.n_perf, 1);
    p = item(&o, "users");
    check_num(p->value, 0, "users");
    assert_string_equal(p->uom, "");
    assert_true(p->has_warn && p->has_crit && p->has_min && !p->has_max);
    check_num(p->warn.end, 5, "users warn");
    check_num(p->crit.end, 10, "users crit");
    check_num(p->min, 0, "users min");
    plugin_output_clear(&o);

    /* check_load ends with "0; " and a blank. */
    parse_str("LOAD OK - total load average: 0.04, 0.49, 1.13|load1=0.040;5.000;10.000;0; "
              "load5=0.490;4.000;8.000;0; load15=1.130;3.000;6.000;0; \n",
              &o);
    assert_string_equal(o.summary, "LOAD OK - total load average: 0.04, 0.49, 1.13");
    assert_int_equal(o.n_perf, 3);
    assert_int_equal(o.n_perf_bad, 0);
    p = item(&o, "load15");
    check_num(p->value, 1.13, "load15");
    check_num(p->crit.end, 6, "load15 crit");
    assert_false(p->has_max);
    plugin_output_clear(&o);

    parse_str("DISK OK - free space: / 79868MiB (81% inode=97%); /dev/shm 24105MiB (100% "
              "inode=99%);| /=18997051392B;243497277849;257024904396;0;270552530944 "
              "/dev/shm=0B;22748332032;24012128256;0;25275924480\n",
              &o);
    assert_string_equal(o.summary, "DISK OK - free space: / 79868MiB (81% inode=97%); /dev/shm "
                                   "24105MiB (100% inode=99%);");
    assert_int_equal(o.n_perf, 2);
    p = item(&o, "/");
    check_num(p->value, 18997051392.0, "/");
    assert_string_equal(p->uom, "B");
    check_num(p->max, 270552530944.0, "/ max");
    p = item(&o, "/dev/shm");
    check_num(p->warn.end, 22748332032.0, "/dev/shm warn");
    plugin_output_clear(&o);

    parse_str("HTTP OK: HTTP/1.0 200 OK - 5790 bytes in 0.004 second response time "
              "|time=0.004318s;;;0.000000;10.000000 size=5790B;;;0;\n",
              &o);
    assert_string_equal(o.summary,
                        "HTTP OK: HTTP/1.0 200 OK - 5790 bytes in 0.004 second response time");
    p = item(&o, "time");
    check_num(p->value, 0.004318, "time");
    assert_string_equal(p->uom, "s");
    assert_true(!p->has_warn && !p->has_crit && p->has_min && p->has_max);
    check_num(p->max, 10, "time max");
    p = item(&o, "size");
    assert_string_equal(p->uom, "B");
    assert_false(p->has_max);
    plugin_output_clear(&o);

    parse_str("TCP OK - 0.000 second response time on 127.0.0.1 port 18931|"
              "time=0.000161s;;;0.000000;10.000000\n",
              &o);
    check_num(item(&o, "time")->value, 0.000161, "tcp time");
    plugin_output_clear(&o);

    parse_str("VSZ CRITICAL: 20 crit, 0 warn out of 77 processes | procs=77;;;0; "
              "procs_warn=0;;;0; procs_crit=20;;;0;\n",
              &o);
    assert_int_equal(o.n_perf, 3);
    check_num(item(&o, "procs_crit")->value, 20, "procs_crit");
    plugin_output_clear(&o);

    parse_str("SWAP CRITICAL - 0% free (0MB out of 0MB) - Swap is either disabled, not present, "
              "or of zero size. |swap=0B;0;0;0;0\n",
              &o);
    p = item(&o, "swap");
    assert_true(p->has_warn && p->has_crit && p->has_min && p->has_max);
    plugin_output_clear(&o);
}

/* The example of the Nagios "Plugin API" documentation (Nagios 3 multi-line). */
static void test_output_multiline_nagios_doc(void **state)
{
    struct plugin_output o;
    const struct perf_item *p;

    parse_str("DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
              "/ 15272 MB (77%);\n"
              "/boot 68 MB (69%);\n"
              "/home 69357 MB (27%);\n"
              "/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n"
              "/home=69357MB;253404;253409;0;253414\n"
              "/var/log=818MB;970;975;0;980\n",
              &o);
    assert_string_equal(o.summary, "DISK OK - free space: / 3326 MB (56%);");
    assert_string_equal(o.long_output, "/ 15272 MB (77%);\n/boot 68 MB (69%);\n"
                                       "/home 69357 MB (27%);\n/var/log 819 MB (84%);");
    assert_int_equal(o.n_perf, 4);
    assert_int_equal(o.n_perf_bad, 0);
    assert_string_equal(o.perf[0].label, "/");
    assert_string_equal(o.perf[1].label, "/boot");
    assert_string_equal(o.perf[2].label, "/home");
    assert_string_equal(o.perf[3].label, "/var/log");
    p = item(&o, "/var/log");
    check_num(p->value, 818, "/var/log");
    assert_string_equal(p->uom, "MB");
    check_num(p->max, 980, "/var/log max");
    plugin_output_clear(&o);

    /* After the switch to perfdata, a later '|' is just a bad token. */
    parse_str("OK\nline one\n| a=1\nb=2 | c=3\n", &o);
    assert_string_equal(o.long_output, "line one");
    assert_int_equal(o.n_perf, 3);
    assert_int_equal(o.n_perf_bad, 1);
    plugin_output_clear(&o);

    /* Blank lines inside long output stay; leading and trailing ones go. */
    parse_str("OK\n\n\nline\n\n  indented\n\n\n", &o);
    assert_string_equal(o.long_output, "line\n\n  indented");
    plugin_output_clear(&o);
}

static void test_output_quoted_labels(void **state)
{
    struct plugin_output o;

    parse_str("OK | 'my label'=1 'it''s'=2 '''q'''=3 'a=b'=4 'C:\\ used %'=50%;80;90 "
              "plain'quote=6",
              &o);
    assert_int_equal(o.n_perf_bad, 0);
    assert_int_equal(o.n_perf, 6);
    check_num(item(&o, "my label")->value, 1, "my label");
    check_num(item(&o, "it's")->value, 2, "it's");
    check_num(item(&o, "'q'")->value, 3, "'q'");
    check_num(item(&o, "a=b")->value, 4, "a=b");
    assert_string_equal(item(&o, "C:\\ used %")->uom, "%");
    check_num(item(&o, "plain'quote")->value, 6, "plain'quote");
    plugin_output_clear(&o);

    /* Empty label, text between the quote and '=', and an unterminated
     * quote (which takes the rest of its line). */
    parse_str("OK | ''=1 'a'b=2 ok=3 'open=4 lost=5\nnext=6", &o);
    assert_int_equal(o.n_perf, 1);
    assert_int_equal(o.n_perf_bad, 3);
    check_num(item(&o, "ok")->value, 3, "ok");
    plugin_output_clear(&o);

    parse_str("OK\nlong | 'open=4 lost=5\nnext=6", &o);
    assert_int_equal(o.n_perf, 1);
    assert_int_equal(o.n_perf_bad, 1);
    assert_string_equal(o.perf[0].label, "next");
    plugin_output_clear(&o);
}

static void test_output_uoms(void **state)
{
    struct plugin_output o;

    parse_str("OK | a=1s b=2ms c=3us d=4% e=5B f=6KB g=7MB h=8TB i=9c j=10 k=11GB "
              "l=20\xC2\xB0"
              "C m=1verylongunit n=1abcdef\xC2\xB0 o=5MB/s p=-1.5e-3s",
              &o);
    assert_int_equal(o.n_perf_bad, 0);
    assert_int_equal(o.n_perf, 16);
    assert_string_equal(item(&o, "a")->uom, "s");
    assert_string_equal(item(&o, "b")->uom, "ms");
    assert_string_equal(item(&o, "c")->uom, "us");
    assert_string_equal(item(&o, "d")->uom, "%");
    assert_string_equal(item(&o, "e")->uom, "B");
    assert_string_equal(item(&o, "f")->uom, "KB");
    assert_string_equal(item(&o, "g")->uom, "MB");
    assert_string_equal(item(&o, "h")->uom, "TB");
    assert_string_equal(item(&o, "i")->uom, "c");
    assert_string_equal(item(&o, "j")->uom, "");
    assert_string_equal(item(&o, "l")->uom, "\xC2\xB0"
                                            "C");
    /* Long units are cut to 7 bytes, never inside a UTF-8 character. */
    assert_string_equal(item(&o, "m")->uom, "verylon");
    assert_string_equal(item(&o, "n")->uom, "abcdef");
    assert_string_equal(item(&o, "o")->uom, "MB/s");
    check_num(item(&o, "p")->value, -1.5e-3, "p");
    plugin_output_clear(&o);
}

static void test_output_missing_and_empty_fields(void **state)
{
    struct plugin_output o;
    const struct perf_item *p;

    parse_str("OK | a=1 b=2;;;; c=3;;5 d=4;1;;;10 e=5;;;;; f=6; g=7;@1:2;~:3", &o);
    assert_int_equal(o.n_perf_bad, 0);
    assert_int_equal(o.n_perf, 7);
    p = item(&o, "a");
    assert_true(!p->has_warn && !p->has_crit && !p->has_min && !p->has_max);
    p = item(&o, "b");
    assert_true(!p->has_warn && !p->has_crit && !p->has_min && !p->has_max);
    p = item(&o, "c");
    assert_true(!p->has_warn && p->has_crit && !p->has_min);
    p = item(&o, "d");
    assert_true(p->has_warn && !p->has_crit && !p->has_min && p->has_max);
    check_num(p->max, 10, "d max");
    p = item(&o, "g");
    assert_true(p->warn.inverted && p->crit.start_inf);
    plugin_output_clear(&o);
}

static void test_output_unknown_values(void **state)
{
    struct plugin_output o;

    parse_str("UNKNOWN | a=U;1;2 b=U c=U;;;0;100", &o);
    assert_int_equal(o.n_perf, 3);
    assert_true(isnan(item(&o, "a")->value));
    assert_true(isnan(item(&o, "b")->value));
    assert_true(item(&o, "c")->has_max);
    plugin_output_clear(&o);
}

static void test_output_comma_decimals(void **state)
{
    struct plugin_output o;
    const struct perf_item *p;

    parse_str("OK - Antwortzeit 1,5 s | a=1,5s;2,5;3,5;0;10,0 b=-0,25", &o);
    assert_string_equal(o.summary, "OK - Antwortzeit 1,5 s");
    p = item(&o, "a");
    check_num(p->value, 1.5, "a");
    check_num(p->warn.end, 2.5, "a warn");
    check_num(p->crit.end, 3.5, "a crit");
    check_num(p->max, 10, "a max");
    check_num(item(&o, "b")->value, -0.25, "b");
    plugin_output_clear(&o);
}

static void test_output_bad_items(void **state)
{
    struct plugin_output o;

    parse_str("OK | =1 a b= c=x d=1;x e=1;;;y g=1;2;3;4;5;6 h=1.2.3 i=5;20:10 j=1e999 "
              "k=1;2;3;4;5;; l=0x10 m=nan good=1",
              &o);
    assert_int_equal(o.n_perf, 2);
    assert_int_equal(o.n_perf_bad, 12);
    check_num(item(&o, "good")->value, 1, "good");
    check_num(item(&o, "k")->value, 1, "k");
    plugin_output_clear(&o);
}

static void test_output_nul_bytes(void **state)
{
    static const char text[] = "OK sum\0 hidden | x=1\nlong\0 | y=2\nmore | z=3\0 w=4\nv=5\n";
    struct plugin_output o;

    assert_int_equal(plugin_output_parse(text, sizeof(text) - 1, &o), 0);
    assert_string_equal(o.summary, "OK sum");
    assert_string_equal(o.long_output, "long\nmore");
    assert_int_equal(o.n_perf, 2);
    assert_string_equal(o.perf[0].label, "z");
    assert_string_equal(o.perf[1].label, "v");
    plugin_output_clear(&o);

    /* A NUL first byte leaves an empty summary, not a missing one. */
    assert_int_equal(plugin_output_parse("\0abc", 4, &o), 0);
    assert_string_equal(o.summary, "");
    plugin_output_clear(&o);
}

static void test_output_crlf(void **state)
{
    struct plugin_output o;

    parse_str("WARNING - x  \r\nline2  \r\nline3 | a=1\r\nb=2;3;4\r\n", &o);
    assert_string_equal(o.summary, "WARNING - x");
    assert_string_equal(o.long_output, "line2\nline3");
    assert_int_equal(o.n_perf, 2);
    assert_int_equal(o.n_perf_bad, 0);
    check_num(item(&o, "b")->crit.end, 4, "b crit");
    plugin_output_clear(&o);

    parse_str("OK | t=1s\r\n", &o);
    assert_string_equal(item(&o, "t")->uom, "s");
    plugin_output_clear(&o);
}

static void test_output_too_many_items(void **state)
{
    struct plugin_output o;
    size_t cap = 300 * 16, n = 0;
    char *text = malloc(cap);

    assert_non_null(text);
    n += (size_t)snprintf(text, cap, "OK |");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(text + n, cap - n, " m%d=%d", i, i);
    assert_int_equal(plugin_output_parse(text, n, &o), 0);
    assert_int_equal(o.n_perf, PLUGIN_MAX_PERF);
    assert_int_equal(o.n_perf_bad, 300 - PLUGIN_MAX_PERF);
    assert_string_equal(o.perf[PLUGIN_MAX_PERF - 1].label, "m255");
    /* Appending to a full set counts, not grows. */
    assert_int_equal(plugin_perf_parse("x=1", 3, &o), 0);
    assert_int_equal(o.n_perf, PLUGIN_MAX_PERF);
    assert_int_equal(o.n_perf_bad, 300 - PLUGIN_MAX_PERF + 1);
    plugin_output_clear(&o);
    free(text);
}

static void test_output_empty_and_bar_only(void **state)
{
    static const char *const inputs[] = {"", "\n", "   \r\n", "|", " | ", "|\n|\n|"};
    struct plugin_output o;

    assert_int_equal(plugin_output_parse(NULL, 0, &o), 0);
    assert_string_equal(o.summary, "");
    assert_null(o.long_output);
    assert_null(o.perf);
    plugin_output_clear(&o);
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        parse_str(inputs[i], &o);
        assert_string_equal(o.summary, "");
        assert_null(o.long_output);
        assert_int_equal(o.n_perf, 0);
        /* Only the last input has a token: its third '|' is on a perfdata line. */
        assert_int_equal(o.n_perf_bad, i == 5 ? 1 : 0);
        plugin_output_clear(&o);
    }
}

static void test_output_long_input(void **state)
{
    size_t n = 1 << 20;
    char *text = malloc(n);
    struct plugin_output o;

    assert_non_null(text);
    /* One huge summary line. */
    memset(text, 'a', n);
    assert_int_equal(plugin_output_parse(text, n, &o), 0);
    assert_int_equal(strlen(o.summary), n);
    plugin_output_clear(&o);
    /* One huge bad perfdata token, and an unterminated quoted label. */
    text[0] = '|';
    assert_int_equal(plugin_output_parse(text, n, &o), 0);
    assert_int_equal(o.n_perf_bad, 1);
    plugin_output_clear(&o);
    text[1] = '\'';
    assert_int_equal(plugin_output_parse(text, n, &o), 0);
    assert_int_equal(o.n_perf_bad, 1);
    plugin_output_clear(&o);
    /* Many short lines of long output. */
    for (size_t i = 0; i < n; i += 2)
        memcpy(text + i, "x\n", 2);
    assert_int_equal(plugin_output_parse(text, n, &o), 0);
    assert_int_equal(strlen(o.long_output), n - 3);
    plugin_output_clear(&o);
    free(text);
}

static void test_perf_parse_appends(void **state)
{
    struct plugin_output o;

    parse_str("OK | a=1", &o);
    assert_int_equal(plugin_perf_parse(" b=2\nc=3 bad", strlen(" b=2\nc=3 bad"), &o), 0);
    assert_int_equal(o.n_perf, 3);
    assert_int_equal(o.n_perf_bad, 1);
    assert_string_equal(o.perf[2].label, "c");
    assert_string_equal(o.summary, "OK");
    plugin_output_clear(&o);

    /* On a zeroed struct, perfdata alone (a passive result's field). */
    struct plugin_output p = {0};
    static const char passive[] = "rta=0.5ms;100;500;0 pl=0%;20;60";
    assert_int_equal(plugin_perf_parse(passive, strlen(passive), &p), 0);
    assert_int_equal(p.n_perf, 2);
    assert_null(p.summary);
    plugin_output_clear(&p);
}

static void test_perf_to_json(void **state)
{
    struct plugin_output o;
    json_t *j, *e;

    parse_str("HTTP OK |time=0.004318s;;;0.000000;10.000000 size=5790B;@1:2;~:3;0; u=U;5 "
              "'\xff'=1 x=1\xff",
              &o);
    j = plugin_perf_to_json(&o);
    assert_non_null(j);
    assert_int_equal(json_array_size(j), 5);

    e = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(e, "label")), "time");
    check_num(json_real_value(json_object_get(e, "value")), 0.004318, "json time");
    assert_string_equal(json_string_value(json_object_get(e, "uom")), "s");
    assert_null(json_object_get(e, "warn"));
    assert_null(json_object_get(e, "crit"));
    check_num(json_real_value(json_object_get(e, "min")), 0, "json min");
    check_num(json_real_value(json_object_get(e, "max")), 10, "json max");

    e = json_array_get(j, 1);
    assert_string_equal(json_string_value(json_object_get(e, "warn")), "@1:2");
    assert_string_equal(json_string_value(json_object_get(e, "crit")), "~:3");
    assert_null(json_object_get(e, "max"));

    e = json_array_get(j, 2);
    assert_true(json_is_null(json_object_get(e, "value")));
    assert_null(json_object_get(e, "uom"));
    assert_string_equal(json_string_value(json_object_get(e, "warn")), "5");

    /* Bytes that are not UTF-8 become U+FFFD instead of losing the item. */
    e = json_array_get(j, 3);
    assert_string_equal(json_string_value(json_object_get(e, "label")), "\xEF\xBF\xBD");
    e = json_array_get(j, 4);
    assert_string_equal(json_string_value(json_object_get(e, "uom")), "\xEF\xBF\xBD");

    json_decref(j);
    plugin_output_clear(&o);

    /* No items: an empty array, not NULL. */
    parse_str("OK", &o);
    j = plugin_perf_to_json(&o);
    assert_true(json_is_array(j) && json_array_size(j) == 0);
    json_decref(j);
    plugin_output_clear(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_guideline_examples),
        cmocka_unit_test(test_range_fields_and_format),
        cmocka_unit_test(test_range_invalid),
        cmocka_unit_test(test_range_nan_never_alerts),
        cmocka_unit_test(test_output_single_line),
        cmocka_unit_test(test_output_real_plugins),
        cmocka_unit_test(test_output_multiline_nagios_doc),
        cmocka_unit_test(test_output_quoted_labels),
        cmocka_unit_test(test_output_uoms),
        cmocka_unit_test(test_output_missing_and_empty_fields),
        cmocka_unit_test(test_output_unknown_values),
        cmocka_unit_test(test_output_comma_decimals),
        cmocka_unit_test(test_output_bad_items),
        cmocka_unit_test(test_output_nul_bytes),
        cmocka_unit_test(test_output_crlf),
        cmocka_unit_test(test_output_too_many_items),
        cmocka_unit_test(test_output_empty_and_bar_only),
        cmocka_unit_test(test_output_long_input),
        cmocka_unit_test(test_perf_parse_appends),
        cmocka_unit_test(test_perf_to_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
