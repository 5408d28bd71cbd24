/*
 * test_base.c - unit tests for src/base/timefmt.c, src/base/labels.c and
 * src/base/jtext.c.
 *
 * Fingerprint vectors are not computed by the code under test: they are the
 * values prometheus/common asserts in model/signature_test.go
 * (TestMetricToFingerprint and the BenchmarkMetricToFingerprint* cases), so a
 * match proves Tocsin's fingerprints equal Alertmanager's:
 *   {}                                                   -> 14695981039346656037
 *   {name="garland, briggs", fear="love is not enough"}  -> 5799056148416392346
 *   {first-label="first-label-value"}                    -> 5146282821936882169
 *   {first-label=..., second-label="second-label-value"} -> 3195800080984914717
 * (The empty set hashes to the FNV-1a offset basis, not to 0.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/jtext.h"
#include "base/labels.h"
#include "base/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a whole NUL-terminated string; returns the parser's result. */
static int parse(const char *s, int64_t *ms)
{
    return timefmt_parse_rfc3339(s, strlen(s), ms);
}

static void test_rfc3339_valid(void **state)
{
    static const struct {
        const char *text;
        int64_t ms;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2023-02-06T13:08:45.828Z", 1675688925828LL},
        /* PagerDuty's documented form: offset without a colon. */
        {"2015-07-17T08:42:58.315+0000", 1437122578315LL},
        {"2015-07-17T08:42:58.315+00:00", 1437122578315LL},
        /* Grafana sends microseconds and a local offset. */
        {"2021-10-12T09:51:03.157076+02:00", 1634025063157LL},
        {"2024-02-29T23:59:59.999-05:30", 1709270999999LL},
        {"2024-02-29T23:59:59.999-0530", 1709270999999LL},
        /* Nine fraction digits (Go's RFC3339Nano) are truncated to ms. */
        {"2023-02-06T13:08:45.828999999Z", 1675688925828LL},
        {"2023-02-06T13:08:45.8Z", 1675688925800LL},
        {"2023-02-06 13:08:45Z", 1675688925000LL},
        {"2023-02-06t13:08:45z", 1675688925000LL},
        {"1969-12-31T23:59:59.5Z", -500},
        /* A leap second folds into the second before it. */
        {"2016-12-31T23:59:60Z", 1483228799000LL},
        {"0001-01-01T00:00:00Z", TIMEFMT_GO_ZERO_MS},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = 12345;
        if (parse(cases[i].text, &ms) != 0)
            fail_msg("rejected %s", cases[i].text);
        if (ms != cases[i].ms)
            fail_msg("%s: got %lld, want %lld", cases[i].text, (long long)ms,
                     (long long)cases[i].ms);
    }
}

static void test_rfc3339_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "2023-02-06",
        "2023-02-06T13:08:45",             /* no zone */
        "2023-02-06T13:08:45.123",         /* no zone after a fraction */
        "2023-02-06T13:08:45.Z",           /* empty fraction */
        "2023-02-06T13:08:45.1234567890Z", /* ten fraction digits */
        "2023-13-06T13:08:45Z",
        "2023-00-06T13:08:45Z",
        "2023-02-29T13:08:45Z", /* not a leap year */
        "2023-04-31T13:08:45Z",
        "2023-02-06T24:00:00Z",
        "2023-02-06T13:60:00Z",
        "2023-02-06T13:08:61Z",
        "2023-02-06T13:08:45+1:00",
        "2023-02-06T13:08:45+01:0",
        "2023-02-06T13:08:45+24:00",
        "2023-02-06T13:08:45+01:60",
        "2023-02-06T13:08:45ZZ",
        "2023-02-06X13:08:45Z",
        "2023/02/06T13:08:45Z",
        "+023-02-06T13:08:45Z",
        "yesterday at noon, roughly",
        "1675688925",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 777;
        if (parse(bad[i], &ms) == 0)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(ms, 777);
    }
}

static void test_rfc3339_length_is_respected(void **state)
{
    /* The parser must not read past len, so a prefix of a valid text fails. */
    const char *s = "2023-02-06T13:08:45Z trailing";
    int64_t ms;
    assert_int_equal(timefmt_parse_rfc3339(s, 20, &ms), 0);
    assert_int_equal(ms, 1675688925000LL);
    assert_int_equal(timefmt_parse_rfc3339(s, 19, &ms), -1);
    assert_int_equal(timefmt_parse_rfc3339(s, strlen(s), &ms), -1);
}

static void test_rfc3339_format_roundtrip(void **state)
{
    char buf[32];
    int64_t back;
    static const int64_t values[] = {0, 1675688925828LL, -500, 1709270999999LL, 253402300799999LL};

    assert_string_equal(timefmt_format_rfc3339(1675688925828LL, buf, sizeof(buf)),
                        "2023-02-06T13:08:45.828Z");
    assert_string_equal(timefmt_format_rfc3339(-500, buf, sizeof(buf)), "1969-12-31T23:59:59.500Z");
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        timefmt_format_rfc3339(values[i], buf, sizeof(buf));
        assert_int_equal(parse(buf, &back), 0);
        assert_int_equal(back, values[i]);
    }
}

static void test_duration(void **state)
{
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {
        {"0", 0},           {"500ms", 500},    {"30s", 30000},     {"5m", 300000},
        {"1h30m", 5400000}, {"7d", 604800000}, {"2w", 1209600000}, {"1h1m1s1ms", 3661001},
    };
    static const char *const bad[] = {
        "", "5", "m", "5x", "1.5h", "-5m", "5m-", " 5m", "99999999999999999999s"};
    int64_t ms;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (timefmt_parse_duration(good[i].text, &ms) != 0)
            fail_msg("rejected %s", good[i].text);
        assert_int_equal(ms, good[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (timefmt_parse_duration(bad[i], &ms) == 0)
            fail_msg("accepted %s", bad[i]);
    assert_int_equal(timefmt_parse_duration(NULL, &ms), -1);
    /* Just over 2^63 ms overflows; the parser must say so, not wrap. */
    assert_int_equal(timefmt_parse_duration("9223372036854776s", &ms), -1);
    assert_int_equal(timefmt_parse_duration("9223372036854775s", &ms), 0);
    assert_int_equal(ms, 9223372036854775000LL);
}

/* Builds a label set from JSON text; asserts that it parses. */
static struct labelset from_text(const char *text)
{
    struct labelset ls;
    char err[128];
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_int_equal(labels_from_json(j, &ls, err, sizeof(err)), 0);
    json_decref(j);
    return ls;
}

static void test_fingerprint_vectors(void **state)
{
    struct labelset ls = {0};
    char hex[17];

    assert_true(labels_fingerprint(&ls) == 14695981039346656037ULL);
    labels_fingerprint_hex(&ls, hex);
    assert_string_equal(hex, "cbf29ce484222325");

    ls = from_text("{\"name\":\"garland, briggs\",\"fear\":\"love is not enough\"}");
    assert_true(labels_fingerprint(&ls) == 5799056148416392346ULL);
    labels_free(&ls);

    ls = from_text("{\"first-label\":\"first-label-value\"}");
    assert_true(labels_fingerprint(&ls) == 5146282821936882169ULL);
    labels_free(&ls);

    /* Insertion order must not matter: the set is sorted before hashing. */
    ls = from_text(
        "{\"second-label\":\"second-label-value\",\"first-label\":\"first-label-value\"}");
    assert_true(labels_fingerprint(&ls) == 3195800080984914717ULL);
    labels_fingerprint_hex(&ls, hex);
    assert_int_equal(strlen(hex), 16);
    labels_free(&ls);
}

static void test_fingerprint_separates_names_and_values(void **state)
{
    /* {a="bc"} and {ab="c"} would collide without the 0xff separators. */
    struct labelset x = from_text("{\"a\":\"bc\"}");
    struct labelset y = from_text("{\"ab\":\"c\"}");
    assert_true(labels_fingerprint(&x) != labels_fingerprint(&y));
    labels_free(&x);
    labels_free(&y);
}

static void test_labels_from_json(void **state)
{
    struct labelset ls;
    char err[128];
    json_t *j;

    ls = from_text("{\"zone\":\"eu\",\"alertname\":\"Disk\",\"host\":\"db1\"}");
    assert_int_equal(ls.n, 3);
    assert_string_equal(ls.v[0].name, "alertname");
    assert_string_equal(ls.v[1].name, "host");
    assert_string_equal(ls.v[2].name, "zone");
    assert_string_equal(labels_get(&ls, "host"), "db1");
    assert_null(labels_get(&ls, "nope"));
    labels_free(&ls);
    assert_int_equal(ls.n, 0);
    assert_null(ls.v);
    labels_free(&ls); /* safe on an empty set */

    j = json_loads("{\"a\":\"x\",\"host\":5}", 0, NULL);
    assert_int_equal(labels_from_json(j, &ls, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "host"));
    assert_non_null(strstr(err, "must be a string"));
    assert_int_equal(ls.n, 0);
    assert_null(ls.v);
    json_decref(j);

    j = json_loads("[\"a\"]", 0, NULL);
    assert_int_equal(labels_from_json(j, &ls, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "object"));
    json_decref(j);

    j = json_loads("{\"\":\"x\"}", 0, NULL);
    assert_int_equal(labels_from_json(j, &ls, err, sizeof(err)), -1);
    json_decref(j);

    /* Values over LABELS_MAX_VALUE and more than LABELS_MAX_PAIRS pairs. */
    char *big = malloc(LABELS_MAX_VALUE + 2);
    memset(big, 'v', LABELS_MAX_VALUE + 1);
    big[LABELS_MAX_VALUE + 1] = '\0';
    j = json_pack("{s:s}", "k", big);
    assert_int_equal(labels_from_json(j, &ls, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer"));
    json_decref(j);
    free(big);

    j = json_object();
    for (int i = 0; i <= LABELS_MAX_PAIRS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "l%d", i);
        json_object_set_new(j, name, json_string("v"));
    }
    assert_int_equal(labels_from_json(j, &ls, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "at most"));
    json_decref(j);

    j = json_object();
    assert_int_equal(labels_from_json(j, &ls, err, sizeof(err)), 0);
    assert_int_equal(ls.n, 0);
    json_decref(j);
}

/* jtext_dump must write exactly what json_dumpb writes, byte for byte. */
static void expect_same_as_jansson(const json_t *v)
{
    char mine[4096], theirs[4096];
    long n = jtext_dump(v, mine, sizeof(mine));
    size_t m = json_dumpb(v, theirs, sizeof(theirs), JSON_COMPACT | JSON_ENCODE_ANY);
    assert_true(m > 0 && m <= sizeof(theirs));
    assert_int_equal(n, (long)m);
    assert_memory_equal(mine, theirs, m);
    /* One byte short declines instead of writing a truncated text. */
    assert_int_equal(jtext_dump(v, mine, m - 1), -1);
}

static void test_jtext_matches_jansson(void **state)
{
    (void)state;
    /* What an Alertmanager alert's details look like in the store. */
    static const char am_details[] =
        "{\"annotations\":{\"summary\":\"OOMKilled on host-934\",\"description\":\"x\"},"
        "\"generatorURL\":\"http://127.0.0.1:9090/graph?g0.expr=up%3D%3D0\"}";
    const char *docs[] = {
        "{}",
        "[]",
        "\"\"",
        "0",
        "-9223372036854775808",
        "9223372036854775807",
        "[1.5, -0.0, 1e300, 3.0, 0.1]",
        "[true, false, null]",
        "{\"b\": 1, \"a\": [2, {\"z\": \"y\", \"c\": {}}], \"\": \"empty key\"}",
        "{\"s\": \"quote \\\" backslash \\\\ slash / tab \\t nl \\n cr \\r bs \\b ff \\f\"}",
        "[\"\\u0001\\u001f\\u007f\", \"\\u00e9t\\u00e9 \\u20ac \\ud83d\\ude00\"]",
        am_details,
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_error_t err;
        json_t *v = json_loads(docs[i], JSON_DECODE_ANY, &err);
        assert_non_null(v);
        expect_same_as_jansson(v);
        json_decref(v);
    }
    /* A NUL inside a string and inside a key. */
    json_t *o = json_object();
    json_object_setn_new_nocheck(o, "k\0ey", 4, json_stringn("a\0b", 3));
    expect_same_as_jansson(o);
    json_decref(o);
    /* Every byte below 0x20 and around it. */
    char all[40];
    for (int c = 1; c < 40; c++)
        all[c - 1] = (char)c;
    json_t *s = json_stringn(all, 39);
    expect_same_as_jansson(s);
    json_decref(s);
}

static void test_jtext_declines_deep_and_null(void **state)
{
    (void)state;
    char buf[1024];
    json_t *v = json_array();
    for (int i = 0; i < JTEXT_MAX_DEPTH + 1; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, v);
        v = outer;
    }
    assert_int_equal(jtext_dump(v, buf, sizeof(buf)), -1);
    json_decref(v);
    assert_int_equal(jtext_dump(NULL, buf, sizeof(buf)), -1);
}

static void test_jtext_labels_and_objects(void **state)
{
    (void)state;
    char buf[256];
    struct labelset ls = {0};
    assert_int_equal(labels_set(&ls, "zone", "b\"e\\r\nlin"), 0);
    assert_int_equal(labels_set(&ls, "alertname", "Disk full \xc3\xa9t\xc3\xa9"), 0);
    json_t *o = labels_to_json(&ls);
    char theirs[256];
    size_t m = json_dumpb(o, theirs, sizeof(theirs), JSON_COMPACT);
    long n = jtext_labels(&ls, buf, sizeof(buf));
    assert_int_equal(n, (long)m);
    assert_memory_equal(buf, theirs, m);
    assert_int_equal(jtext_labels(&ls, buf, m - 1), -1);
    json_decref(o);
    /* Invalid UTF-8 (an overlong slash, a lone continuation byte) is declined. */
    assert_int_equal(labels_set(&ls, "bad", "\xc0\xaf"), 0);
    assert_int_equal(jtext_labels(&ls, buf, sizeof(buf)), -1);
    labels_free(&ls);
    assert_int_equal(labels_set(&ls, "bad", "x\x80"), 0);
    assert_int_equal(jtext_labels(&ls, buf, sizeof(buf)), -1);
    labels_free(&ls);
    assert_int_equal(jtext_labels(&ls, buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "{}", 2);

    /* The object builder: skipped and null fields, integers, overflow. */
    struct jtext_obj w;
    jtext_obj_begin(&w, buf, sizeof(buf));
    jtext_obj_str(&w, "a", "x\ty", false);
    jtext_obj_str(&w, "gone", NULL, true);
    jtext_obj_str(&w, "n", NULL, false);
    jtext_obj_int(&w, "i", -42);
    n = jtext_obj_end(&w);
    assert_int_equal(n, (long)strlen("{\"a\":\"x\\ty\",\"n\":null,\"i\":-42}"));
    assert_memory_equal(buf, "{\"a\":\"x\\ty\",\"n\":null,\"i\":-42}", (size_t)n);
    for (size_t cap = 0; cap < (size_t)n; cap++) {
        jtext_obj_begin(&w, buf, cap);
        jtext_obj_str(&w, "a", "x\ty", false);
        jtext_obj_str(&w, "n", NULL, false);
        jtext_obj_int(&w, "i", -42);
        assert_int_equal(jtext_obj_end(&w), -1);
    }
    jtext_obj_begin(&w, buf, 2);
    assert_int_equal(jtext_obj_end(&w), 2);
    assert_memory_equal(buf, "{}", 2);
}

static void test_labels_set_and_to_json(void **state)
{
    struct labelset ls = {0};
    json_t *j;

    assert_int_equal(labels_set(&ls, "m", "1"), 0);
    assert_int_equal(labels_set(&ls, "a", "2"), 0);
    assert_int_equal(labels_set(&ls, "z", "3"), 0);
    assert_int_equal(labels_set(&ls, "m", "4"), 0); /* replaces */
    assert_int_equal(ls.n, 3);
    assert_string_equal(ls.v[0].name, "a");
    assert_string_equal(ls.v[1].name, "m");
    assert_string_equal(ls.v[1].value, "4");
    assert_string_equal(ls.v[2].name, "z");

    j = labels_to_json(&ls);
    assert_int_equal(json_object_size(j), 3);
    assert_string_equal(json_string_value(json_object_get(j, "m")), "4");
    json_decref(j);
    labels_free(&ls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_valid),
        cmocka_unit_test(test_rfc3339_invalid),
        cmocka_unit_test(test_rfc3339_length_is_respected),
        cmocka_unit_test(test_rfc3339_format_roundtrip),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_fingerprint_vectors),
        cmocka_unit_test(test_fingerprint_separates_names_and_values),
        cmocka_unit_test(test_labels_from_json),
        cmocka_unit_test(test_labels_set_and_to_json),
        cmocka_unit_test(test_jtext_matches_jansson),
        cmocka_unit_test(test_jtext_declines_deep_and_null),
        cmocka_unit_test(test_jtext_labels_and_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
