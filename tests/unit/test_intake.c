/*
 * test_intake.c - unit tests for the intake parsers (src/intake).
 *
 * Bodies are copied into buffers of exactly their length before parsing, so
 * AddressSanitizer catches any parser that reads a body as a C string.
 *
 * The fingerprint 3cff18cb2cb60986 for {alertname="HighLoad",
 * instance="host1:9100", severity="critical"} was computed outside Tocsin
 * with FNV-1a 64 over name, 0xff, value, 0xff in name order (the algorithm
 * whose test vectors test_base.c checks against prometheus/common).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "intake/intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2026-01-01T00:00:00Z: the fixed "now" of every test. */
#define NOW 1767225600000LL

typedef int (*batch_fn)(const char *, size_t, const struct cfg_integration *, int64_t,
                        struct intake_batch *, struct intake_error *);

/* Parses text with fn from an exact-length copy; returns the parser's result. */
static int run(batch_fn fn, const char *text, const struct cfg_integration *integ,
               struct intake_batch *b, struct intake_error *e)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    int rc;

    memcpy(copy, text, len);
    rc = fn(copy, len, integ, NOW, b, e);
    free(copy);
    return rc;
}

/* Asserts that text fails with the given status and field, and the message contains want. */
static void expect_fail(batch_fn fn, const char *text, int status, const char *field,
                        const char *want)
{
    struct intake_batch b = {(struct event *)1, 99};
    struct intake_error e;

    if (run(fn, text, NULL, &b, &e) != -1)
        fail_msg("accepted: %.200s", text);
    if (e.status != status || strcmp(e.field, field) != 0 || !strstr(e.message, want))
        fail_msg("for %.120s\n got %d '%s' \"%s\"\nwant %d '%s' \"...%s...\"", text, e.status,
                 e.field, e.message, status, field, want);
    /* All or nothing: a rejected request yields no events at all. */
    assert_null(b.events);
    assert_int_equal(b.n, 0);
}

/* Returns a JSON string literal (with quotes) of n copies of c; caller frees. */
static char *long_string(size_t n, char c)
{
    char *s = malloc(n + 3);
    s[0] = '"';
    memset(s + 1, c, n);
    s[n + 1] = '"';
    s[n + 2] = '\0';
    return s;
}

/* Formats into a malloc'd string; caller frees. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s;
    va_start(ap, f);
    assert_true(vasprintf(&s, f, ap) >= 0);
    va_end(ap);
    return s;
}

/* Builds "[e,e,...]" with n copies of element. */
static char *repeat_array(const char *element, size_t n)
{
    size_t el = strlen(element), len = 2 + n * (el + 1);
    char *s = malloc(len + 1), *p = s;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, element, el);
        p += el;
    }
    *p++ = ']';
    *p = '\0';
    return s;
}

/* ---------------------------------------------------------------- Tocsin */

static void test_tocsin_minimal(void **state)
{
    struct intake_batch b;
    struct intake_error e;

    assert_int_equal(run(intake_parse_tocsin,
                         "{\"labels\":{\"alertname\":\"HighLoad\",\"instance\":\"host1:9100\","
                         "\"severity\":\"critical\"},\"summary\":\"Load high\"}",
                         NULL, &b, &e),
                     0);
    assert_int_equal(e.status, 0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.events[0].action, EVENT_TRIGGER);
    assert_string_equal(b.events[0].dedup_key, "3cff18cb2cb60986");
    assert_string_equal(b.events[0].summary, "Load high");
    /* A "severity" label is just a label here; the field decides. */
    assert_int_equal(b.events[0].severity, SEV_WARNING);
    assert_int_equal(b.events[0].labels.n, 3);
    assert_null(b.events[0].source);
    assert_null(b.events[0].details);
    assert_null(b.events[0].links);
    assert_int_equal(b.events[0].timestamp_ms, 0);
    intake_batch_free(&b);
    assert_null(b.events);
    assert_int_equal(b.n, 0);
}

static void test_tocsin_full(void **state)
{
    struct cfg_integration integ = {.default_severity = SEV_CRITICAL};
    struct intake_batch b;
    struct intake_error e;
    const struct event *ev;

    assert_int_equal(
        run(intake_parse_tocsin,
            "{\"labels\":{\"host\":\"db1\"},\"summary\":\"Disk full\",\"severity\":\"error\","
            "\"action\":\"resolve\",\"dedup_key\":\"db1/disk\",\"source\":\"db1.example\","
            "\"details\":{\"used\":[95,96]},\"timestamp\":\"2023-02-06T13:08:45.828Z\","
            "\"links\":[\"https://a\",{\"href\":\"https://b\",\"text\":\"B\"},{\"href\":\"https://"
            "c\"}],"
            "\"unknown\":{\"ignored\":true}}",
            &integ, &b, &e),
        0);
    ev = &b.events[0];
    assert_int_equal(ev->action, EVENT_RESOLVE);
    assert_string_equal(ev->dedup_key, "db1/disk");
    assert_int_equal(ev->severity, SEV_ERROR);
    assert_string_equal(ev->source, "db1.example");
    assert_int_equal(ev->timestamp_ms, 1675688925828LL);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(ev->details, "used"), 1)),
                     96);
    assert_int_equal(json_array_size(ev->links), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev->links, 0), "href")),
                        "https://a");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev->links, 1), "text")),
                        "B");
    /* A link without text shows its href. */
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev->links, 2), "text")),
                        "https://c");
    intake_batch_free(&b);

    /* The integration's default severity applies when the sender gives none. */
    assert_int_equal(
        run(intake_parse_tocsin, "{\"labels\":{\"a\":\"b\"},\"summary\":\"s\"}", &integ, &b, &e),
        0);
    assert_int_equal(b.events[0].severity, SEV_CRITICAL);
    intake_batch_free(&b);
}

static void test_tocsin_array_and_nulls(void **state)
{
    struct intake_batch b;
    struct intake_error e;

    assert_int_equal(
        run(intake_parse_tocsin,
            "[{\"labels\":{\"a\":\"1\"},\"summary\":\"one\"},"
            "{\"dedup_key\":\"k2\",\"action\":\"acknowledge\"},"
            "{\"labels\":{\"a\":\"3\"},\"summary\":\"three\",\"dedup_key\":null,\"source\":null,"
            "\"severity\":null,\"details\":null,\"links\":null,\"timestamp\":null}]",
            NULL, &b, &e),
        0);
    assert_int_equal(b.n, 3);
    assert_string_equal(b.events[0].summary, "one");
    /* An acknowledge needs no summary and no labels when it names its key. */
    assert_int_equal(b.events[1].action, EVENT_ACKNOWLEDGE);
    assert_null(b.events[1].summary);
    assert_int_equal(b.events[1].labels.n, 0);
    assert_string_equal(b.events[1].dedup_key, "k2");
    assert_int_equal(strlen(b.events[2].dedup_key), 16);
    assert_null(b.events[2].details);
    intake_batch_free(&b);
}

static void test_tocsin_batch_limits(void **state)
{
    struct intake_batch b;
    struct intake_error e;
    char *body = repeat_array("{\"dedup_key\":\"k\",\"summary\":\"s\"}", EVENT_MAX_BATCH);

    assert_int_equal(run(intake_parse_tocsin, body, NULL, &b, &e), 0);
    assert_int_equal(b.n, EVENT_MAX_BATCH);
    intake_batch_free(&b);
    free(body);

    body = repeat_array("{\"dedup_key\":\"k\",\"summary\":\"s\"}", EVENT_MAX_BATCH + 1);
    expect_fail(intake_parse_tocsin, body, 413, "", "too many events");
    free(body);
    expect_fail(intake_parse_tocsin, "[]", 422, "", "no events");
}

static void test_tocsin_errors(void **state)
{
    static const struct {
        const char *body;
        const char *field, *want;
    } cases[] = {
        {"[1]", "[0]", "must be an object"},
        {"{\"summary\":\"x\"}", "labels", "is required"},
        {"{\"labels\":{},\"summary\":\"x\"}", "labels", "must not be empty"},
        {"{\"labels\":\"host\",\"summary\":\"x\"}", "labels", "must be an object"},
        {"{\"labels\":{\"host\":5},\"summary\":\"x\"}", "labels.host", "must be a string"},
        {"{\"labels\":{\"\":\"v\"},\"summary\":\"x\"}", "labels.", "1 to 128 bytes"},
        {"{\"labels\":{\"a\":\"b\"}}", "summary", "is required"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"\"}", "summary", "must not be empty"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":[\"x\"]}", "summary", "must be a string"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"severity\":\"high\"}", "severity",
         "must be one of critical, error, warning, info"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"severity\":3}", "severity",
         "must be a string"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"action\":\"close\"}", "action",
         "must be one of trigger, acknowledge, resolve"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"action\":true}", "action",
         "must be a string"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"dedup_key\":\"\"}", "dedup_key",
         "must not be empty"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"dedup_key\":7}", "dedup_key",
         "must be a string"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"source\":{}}", "source",
         "must be a string"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"timestamp\":\"yesterday\"}", "timestamp",
         "RFC 3339"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"timestamp\":1675688925}", "timestamp",
         "must be a string"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"links\":\"https://a\"}", "links",
         "must be an array"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"links\":[5]}", "links[0]",
         "string or an object"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"links\":[\"x\",{\"text\":\"t\"}]}",
         "links[1].href", "is required"},
        {"{\"labels\":{\"a\":\"b\"},\"summary\":\"s\",\"links\":[{\"href\":\"h\",\"text\":1}]}",
         "links[0].text", "must be a string"},
        {"[{\"dedup_key\":\"k\",\"summary\":\"s\"},{\"dedup_key\":\"k\",\"summary\":\"s\"},"
         "{\"labels\":{\"host\":true},\"summary\":\"x\"}]",
         "[2].labels.host", "must be a string"},
        {"[{\"dedup_key\":\"k\",\"summary\":\"s\"},{\"labels\":{\"a\":\"b\"}}]", "[1].summary",
         "is required"},
        {"\"just a string\"", "", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status = strcmp(cases[i].want, "malformed JSON") == 0 ? 400 : 422;
        expect_fail(intake_parse_tocsin, cases[i].body, status, cases[i].field, cases[i].want);
    }
}

static void test_tocsin_bounds(void **state)
{
    char *s = long_string(EVENT_MAX_SUMMARY + 1, 's'), *body;

    body = fmt("{\"labels\":{\"a\":\"b\"},\"summary\":%s}", s);
    expect_fail(intake_parse_tocsin, body, 422, "summary", "1025 bytes long; at most 1024");
    free(body);
    free(s);
    s = long_string(EVENT_MAX_DEDUP_KEY + 1, 'k');
    body = fmt("{\"dedup_key\":%s,\"summary\":\"x\"}", s);
    expect_fail(intake_parse_tocsin, body, 422, "dedup_key", "at most 255");
    free(body);
    free(s);
    s = long_string(EVENT_MAX_SOURCE + 1, 'h');
    body = fmt("[{\"dedup_key\":\"k\",\"summary\":\"x\",\"source\":%s}]", s);
    expect_fail(intake_parse_tocsin, body, 422, "[0].source", "at most 255");
    free(body);
    free(s);
    body = repeat_array("\"https://x\"", 21);
    s = fmt("{\"dedup_key\":\"k\",\"summary\":\"x\",\"links\":%s}", body);
    expect_fail(intake_parse_tocsin, s, 422, "links", "at most 20");
    free(body);
    free(s);

    /* Exactly at the bounds is fine. */
    struct intake_batch b;
    struct intake_error e;
    s = long_string(EVENT_MAX_SUMMARY, 's');
    body = fmt("{\"labels\":{\"a\":\"b\"},\"summary\":%s}", s);
    assert_int_equal(run(intake_parse_tocsin, body, NULL, &b, &e), 0);
    assert_int_equal(strlen(b.events[0].summary), EVENT_MAX_SUMMARY);
    intake_batch_free(&b);
    free(body);
    free(s);
}

static void test_malformed_json(void **state)
{
    static const batch_fn fns[] = {intake_parse_tocsin, intake_parse_am_alerts,
                                   intake_parse_am_webhook};
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        expect_fail(fns[i], "{", 400, "", "malformed JSON at line 1");
        expect_fail(fns[i], "", 400, "", "malformed JSON");
        expect_fail(fns[i], "[1,]", 400, "", "column");
        expect_fail(fns[i], "{\"a\":1} trailing", 400, "", "malformed JSON");
        /* Invalid UTF-8 inside a string. */
        expect_fail(fns[i], "{\"labels\":{\"a\":\"\xff\"}}", 400, "", "malformed JSON");
    }
    expect_fail(intake_parse_tocsin, "{\n\"labels\": {\n  \"a\": }", 400, "",
                "malformed JSON at line 3");
}

/* ------------------------------------------------------------- PagerDuty */

/* Parses a PagerDuty body from an exact-length copy. */
static int pd(const char *text, char **key, struct intake_batch *b, struct intake_error *e)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    int rc;
    memcpy(copy, text, len);
    rc = intake_parse_pagerduty(copy, len, NOW, key, b, e);
    free(copy);
    return rc;
}

static void pd_fail(const char *text, const char *field, const char *want)
{
    struct intake_batch b;
    struct intake_error e;
    char *key = (char *)1;

    if (pd(text, &key, &b, &e) != -1)
        fail_msg("accepted %s", text);
    if (e.status != 400 || strcmp(e.field, field) != 0 || !strstr(e.message, want))
        fail_msg("for %.120s\n got %d '%s' \"%s\"\nwant 400 '%s' \"...%s...\"", text, e.status,
                 e.field, e.message, field, want);
    assert_null(key);
    assert_null(b.events);
    assert_int_equal(b.n, 0);
}

static void test_pd_minimal_trigger(void **state)
{
    struct intake_batch b;
    struct intake_error e;
    char *key;

    assert_int_equal(pd("{\"routing_key\":\"R0123456789abcdef0123456789abcde\","
                        "\"event_action\":\"trigger\",\"dedup_key\":\"host1/disk\","
                        "\"payload\":{\"summary\":\"Disk 95% on host1\",\"source\":\"host1\","
                        "\"severity\":\"critical\"}}",
                        &key, &b, &e),
                     0);
    assert_string_equal(key, "R0123456789abcdef0123456789abcde");
    assert_int_equal(b.n, 1);
    assert_int_equal(b.events[0].action, EVENT_TRIGGER);
    assert_string_equal(b.events[0].dedup_key, "host1/disk");
    assert_string_equal(b.events[0].summary, "Disk 95% on host1");
    assert_string_equal(b.events[0].source, "host1");
    assert_int_equal(b.events[0].severity, SEV_CRITICAL);
    assert_int_equal(b.events[0].labels.n, 1);
    assert_string_equal(labels_get(&b.events[0].labels, "source"), "host1");
    assert_int_equal(b.events[0].timestamp_ms, 0);
    free(key);
    intake_batch_free(&b);
}

static void test_pd_full_trigger_and_generated_key(void **state)
{
    const char *body =
        "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"client\":\"Nagios\","
        "\"client_url\":\"https://nagios\",\"images\":[{\"src\":\"https://i.png\"}],"
        "\"links\":[{\"href\":\"https://runbook\",\"text\":\"Runbook\"}],"
        "\"payload\":{\"summary\":\"s\",\"source\":\"web1\",\"severity\":\"info\","
        "\"timestamp\":\"2015-07-17T08:42:58.315+0000\",\"component\":\"nginx\","
        "\"group\":\"prod\",\"class\":\"http\",\"custom_details\":{\"free\":\"5%\"}}}";
    struct intake_batch b, b2;
    struct intake_error e;
    char *key, *key2;
    const struct event *ev;

    assert_int_equal(pd(body, &key, &b, &e), 0);
    ev = &b.events[0];
    assert_int_equal(ev->severity, SEV_INFO);
    assert_int_equal(ev->timestamp_ms, 1437122578315LL);
    assert_int_equal(ev->labels.n, 4);
    assert_string_equal(labels_get(&ev->labels, "component"), "nginx");
    assert_string_equal(labels_get(&ev->labels, "group"), "prod");
    assert_string_equal(labels_get(&ev->labels, "class"), "http");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev->details, "custom_details"), "free")),
        "5%");
    assert_string_equal(json_string_value(json_object_get(ev->details, "client")), "Nagios");
    assert_non_null(json_object_get(ev->details, "images"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev->links, 0), "text")),
                        "Runbook");
    /* client_url becomes a "View in <client>" link. */
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev->links, 1), "text")),
                        "Nagios");
    /* No dedup_key: 32 lowercase hex digits, different every time. */
    assert_int_equal(strlen(ev->dedup_key), 32);
    assert_int_equal(strspn(ev->dedup_key, "0123456789abcdef"), 32);
    assert_int_equal(pd(body, &key2, &b2, &e), 0);
    assert_string_not_equal(ev->dedup_key, b2.events[0].dedup_key);
    free(key);
    free(key2);
    intake_batch_free(&b);
    intake_batch_free(&b2);
}

static void test_pd_ack_resolve(void **state)
{
    struct intake_batch b;
    struct intake_error e;
    char *key;

    assert_int_equal(pd("{\"routing_key\":\"k\",\"event_action\":\"resolve\",\"dedup_key\":\"d\"}",
                        &key, &b, &e),
                     0);
    assert_int_equal(b.events[0].action, EVENT_RESOLVE);
    assert_string_equal(b.events[0].dedup_key, "d");
    assert_null(b.events[0].summary);
    assert_int_equal(b.events[0].labels.n, 0);
    free(key);
    intake_batch_free(&b);
    /* The payload of an acknowledge is ignored, even an invalid one. */
    assert_int_equal(pd("{\"routing_key\":\"k\",\"event_action\":\"acknowledge\","
                        "\"dedup_key\":\"d\",\"payload\":{\"severity\":\"bogus\"}}",
                        &key, &b, &e),
                     0);
    assert_int_equal(b.events[0].action, EVENT_ACKNOWLEDGE);
    free(key);
    intake_batch_free(&b);
}

static void test_pd_errors(void **state)
{
    char *s = long_string(EVENT_MAX_SUMMARY + 1, 'x'), *body;

#define PD_TRIGGER(payload)                                                                        \
    "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":" payload "}"
    pd_fail("{", "", "malformed JSON");
    pd_fail("[]", "", "must be a JSON object");
    pd_fail("{\"event_action\":\"trigger\"}", "routing_key", "is required");
    pd_fail("{\"routing_key\":5,\"event_action\":\"trigger\"}", "routing_key", "must be a string");
    pd_fail("{\"routing_key\":\"k\"}", "event_action", "is required");
    pd_fail("{\"routing_key\":\"k\",\"event_action\":\"close\"}", "event_action",
            "must be one of trigger, acknowledge, resolve");
    pd_fail("{\"routing_key\":\"k\",\"event_action\":\"acknowledge\"}", "dedup_key",
            "is required for acknowledge and resolve");
    pd_fail("{\"routing_key\":\"k\",\"event_action\":\"trigger\"}", "payload", "is required");
    pd_fail("{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":[]}", "payload",
            "must be an object");
    pd_fail(PD_TRIGGER("{\"source\":\"h\",\"severity\":\"info\"}"), "payload.summary",
            "is required");
    pd_fail(PD_TRIGGER("{\"summary\":\"s\",\"severity\":\"info\"}"), "payload.source",
            "is required");
    pd_fail(PD_TRIGGER("{\"summary\":\"s\",\"source\":\"h\"}"), "payload.severity", "is required");
    pd_fail(PD_TRIGGER("{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"high\"}"),
            "payload.severity", "'payload.severity' must be one of critical, error, warning, info");
    pd_fail(PD_TRIGGER("{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\","
                       "\"timestamp\":\"17/07/2015\"}"),
            "payload.timestamp", "RFC 3339");
    pd_fail(PD_TRIGGER("{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\","
                       "\"component\":5}"),
            "payload.component", "must be a string");
    pd_fail("{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"links\":[{\"text\":\"t\"}],"
            "\"payload\":{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\"}}",
            "links[0].href", "is required");
    body = fmt(PD_TRIGGER("{\"summary\":%s,\"source\":\"h\",\"severity\":\"info\"}"), s);
    pd_fail(body, "payload.summary", "at most 1024");
    free(body);
    free(s);
    s = long_string(EVENT_MAX_DEDUP_KEY + 1, 'd');
    body = fmt("{\"routing_key\":\"k\",\"event_action\":\"resolve\",\"dedup_key\":%s}", s);
    pd_fail(body, "dedup_key", "at most 255");
    free(body);
    free(s);
#undef PD_TRIGGER
}

/* PagerDuty Events v1: mapped onto the same event v2 gives, all-or-nothing. */
static void test_pd_v1(void **state)
{
    struct cfg_integration integ = {.default_severity = SEV_ERROR};
    struct intake_batch b;
    struct intake_error e;
    char *key;
    const char *ok = "{\"service_key\":\"k0123456789\",\"event_type\":\"trigger\","
                     "\"incident_key\":\"srv9/cpu\",\"description\":\"CPU 99%\","
                     "\"details\":{\"load\":31},\"client\":\"Nagios\","
                     "\"client_url\":\"https://n.example/\","
                     "\"contexts\":[{\"type\":\"link\",\"href\":\"https://w.example/\"},"
                     "{\"type\":\"image\",\"src\":\"https://g.example/x.png\"}],\"extra\":1}";

    assert_int_equal(intake_parse_pagerduty_v1(ok, strlen(ok), &integ, 1000, &key, &b, &e), 0);
    assert_string_equal(key, "k0123456789");
    assert_int_equal(b.n, 1);
    assert_int_equal(b.events[0].action, EVENT_TRIGGER);
    assert_string_equal(b.events[0].dedup_key, "srv9/cpu");
    assert_string_equal(b.events[0].summary, "CPU 99%");
    assert_int_equal(b.events[0].severity, SEV_ERROR);
    assert_int_equal(json_array_size(b.events[0].links), 2);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(b.events[0].details, "details"), "load")),
                     31);
    free(key);
    intake_batch_free(&b);

    /* A trigger without incident_key gets a generated 32-hex-digit key. */
    const char *nokey = "{\"service_key\":\"k\",\"event_type\":\"trigger\",\"description\":\"d\"}";
    assert_int_equal(intake_parse_pagerduty_v1(nokey, strlen(nokey), NULL, 1000, &key, &b, &e), 0);
    assert_int_equal(strlen(b.events[0].dedup_key), 32);
    assert_int_equal(b.events[0].severity, SEV_WARNING);
    free(key);
    intake_batch_free(&b);

    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"event_type\":\"trigger\",\"description\":\"d\"}", "service_key"},
        {"{\"service_key\":\"k\",\"event_type\":\"close\"}", "event_type"},
        {"{\"service_key\":\"k\",\"event_type\":\"trigger\"}", "description"},
        {"{\"service_key\":\"k\",\"event_type\":\"acknowledge\"}", "incident_key"},
        {"{\"service_key\":\"k\",\"event_type\":\"trigger\",\"description\":\"d\","
         "\"contexts\":[5]}",
         "contexts[0]"},
        {"{\"service_key\":\"k\",\"event_type\":\"trigger\",\"description\":\"d\","
         "\"details\":[1]}",
         "details"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        key = (char *)"untouched";
        assert_int_not_equal(
            intake_parse_pagerduty_v1(bad[i].body, strlen(bad[i].body), NULL, 1000, &key, &b, &e),
            0);
        assert_int_equal(e.status, 400);
        assert_string_equal(e.field, bad[i].field);
        assert_null(key);
        assert_int_equal(b.n, 0);
        assert_null(b.events);
    }
}

static void test_pd_change(void **state)
{
    const char *ok = "{\"routing_key\":\"k\",\"links\":[{\"href\":\"https://ci/1\"}],"
                     "\"payload\":{\"summary\":\"Deploy v2\",\"source\":\"ci\","
                     "\"timestamp\":\"2015-07-17T08:42:58.315+00:00\","
                     "\"custom_details\":{\"build\":42}}}";
    static const struct {
        const char *body, *field, *want;
    } bad[] = {
        {"{\"payload\":{\"summary\":\"s\"}}", "routing_key", "is required"},
        {"{\"routing_key\":\"k\"}", "payload", "is required"},
        {"{\"routing_key\":\"k\",\"payload\":{}}", "payload.summary", "is required"},
        {"{\"routing_key\":\"k\",\"payload\":{\"summary\":\"s\",\"timestamp\":\"x\"}}",
         "payload.timestamp", "RFC 3339"},
        {"{\"routing_key\":\"k\",\"payload\":{\"summary\":\"s\"},\"links\":{}}", "links",
         "must be an array"},
        {"{", "", "malformed JSON"},
    };
    struct change_event ch;
    struct intake_error e;
    char *key;

    assert_int_equal(intake_parse_pagerduty_change(ok, strlen(ok), NOW, &key, &ch, &e), 0);
    assert_string_equal(key, "k");
    assert_string_equal(ch.summary, "Deploy v2");
    assert_string_equal(ch.source, "ci");
    assert_int_equal(ch.timestamp_ms, 1437122578315LL);
    assert_int_equal(json_integer_value(json_object_get(ch.details, "build")), 42);
    assert_int_equal(json_array_size(ch.links), 1);
    free(key);
    change_event_clear(&ch);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        key = (char *)1;
        if (intake_parse_pagerduty_change(bad[i].body, strlen(bad[i].body), NOW, &key, &ch, &e) !=
            -1)
            fail_msg("accepted %s", bad[i].body);
        if (e.status != 400 || strcmp(e.field, bad[i].field) != 0 ||
            !strstr(e.message, bad[i].want))
            fail_msg("%s: got %d '%s' %s", bad[i].body, e.status, e.field, e.message);
        assert_null(key);
        assert_null(ch.summary);
    }
}

/* ----------------------------------------------------- Alertmanager API v2 */

static void test_am_alerts_prometheus(void **state)
{
    struct cfg_integration integ = {.default_severity = SEV_INFO, .resolve_timeout_ms = 60000};
    struct intake_batch b;
    struct intake_error e;

    assert_int_equal(
        run(intake_parse_am_alerts,
            "[{\"labels\":{\"alertname\":\"HighLoad\",\"instance\":\"host1:9100\","
            "\"severity\":\"critical\"},\"annotations\":{\"summary\":\"Load is high\","
            "\"description\":\"d\"},\"startsAt\":\"2025-12-31T23:50:00Z\","
            "\"endsAt\":\"2026-01-01T00:04:00Z\",\"generatorURL\":\"http://prom/"
            "graph?g0.expr=up\"},"
            "{\"labels\":{\"alertname\":\"Gone\",\"severity\":\"P3\"},"
            "\"startsAt\":\"2025-12-31T23:00:00Z\",\"endsAt\":\"2025-12-31T23:59:00Z\"},"
            "{\"labels\":{\"alertname\":\"Bare\",\"severity\":\"whatever\",\"empty\":\"\"},"
            "\"annotations\":{\"description\":\"only a description\"},"
            "\"endsAt\":\"0001-01-01T00:00:00Z\"}]",
            &integ, &b, &e),
        0);
    assert_int_equal(b.n, 3);
    /* Firing: endsAt in the future; dedup is Alertmanager's fingerprint. */
    assert_int_equal(b.events[0].action, EVENT_TRIGGER);
    assert_string_equal(b.events[0].dedup_key, "3cff18cb2cb60986");
    assert_string_equal(b.events[0].summary, "Load is high");
    assert_int_equal(b.events[0].severity, SEV_CRITICAL);
    assert_string_equal(b.events[0].source, "host1:9100");
    assert_int_equal(b.events[0].starts_at_ms, NOW - 600000);
    assert_int_equal(b.events[0].timestamp_ms, NOW - 600000);
    assert_int_equal(b.events[0].ends_at_ms, NOW + 240000);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(b.events[0].links, 0), "text")),
        "Prometheus");
    assert_string_equal(json_string_value(json_object_get(b.events[0].details, "generatorURL")),
                        "http://prom/graph?g0.expr=up");
    assert_non_null(
        json_object_get(json_object_get(b.events[0].details, "annotations"), "description"));
    /* Resolved: endsAt in the past. Summary falls back to alertname. */
    assert_int_equal(b.events[1].action, EVENT_RESOLVE);
    assert_string_equal(b.events[1].summary, "Gone");
    assert_int_equal(b.events[1].severity, SEV_WARNING);
    assert_null(b.events[1].source);
    /* Defaults: start now, end now + resolve_timeout (Go zero time = unset). */
    assert_int_equal(b.events[2].action, EVENT_TRIGGER);
    assert_int_equal(b.events[2].starts_at_ms, NOW);
    assert_int_equal(b.events[2].ends_at_ms, NOW + 60000);
    assert_string_equal(b.events[2].summary, "only a description");
    assert_int_equal(b.events[2].severity, SEV_INFO);
    /* Empty-valued labels are dropped, as Alertmanager does before fingerprinting. */
    assert_null(labels_get(&b.events[2].labels, "empty"));
    assert_int_equal(b.events[2].labels.n, 2);
    intake_batch_free(&b);
}

static void test_am_alerts_defaults_and_edges(void **state)
{
    struct intake_batch b;
    struct intake_error e;
    char *s = long_string(3000, 'd'), *body;

    /* No integration: resolve timeout 5 minutes, default severity warning. */
    body = fmt("[{\"labels\":{\"alertname\":\"A\"},\"annotations\":{\"description\":%s}}]", s);
    assert_int_equal(run(intake_parse_am_alerts, body, NULL, &b, &e), 0);
    assert_int_equal(b.events[0].ends_at_ms, NOW + 300000);
    assert_int_equal(b.events[0].severity, SEV_WARNING);
    /* A long description is cut to the summary bound, not rejected. */
    assert_int_equal(strlen(b.events[0].summary), EVENT_MAX_SUMMARY);
    intake_batch_free(&b);
    free(body);
    free(s);

    /* An endsAt exactly now is a resolve; startsAt defaults to endsAt. */
    assert_int_equal(run(intake_parse_am_alerts,
                         "[{\"labels\":{\"alertname\":\"A\"},\"endsAt\":\"2026-01-01T00:00:00Z\"}]",
                         NULL, &b, &e),
                     0);
    assert_int_equal(b.events[0].action, EVENT_RESOLVE);
    assert_int_equal(b.events[0].starts_at_ms, NOW);
    intake_batch_free(&b);

    assert_int_equal(run(intake_parse_am_alerts, "[]", NULL, &b, &e), 0);
    assert_int_equal(b.n, 0);
    intake_batch_free(&b);

    body = repeat_array("{\"labels\":{\"alertname\":\"A\"}}", EVENT_MAX_BATCH + 1);
    expect_fail(intake_parse_am_alerts, body, 413, "", "too many alerts");
    free(body);
}

static void test_am_alerts_errors(void **state)
{
    static const struct {
        const char *body, *field, *want;
    } cases[] = {
        {"{\"labels\":{\"alertname\":\"A\"}}", "", "must be a JSON array"},
        {"[5]", "[0]", "must be an object"},
        {"[{\"annotations\":{}}]", "[0].labels", "is required"},
        {"[{\"labels\":{}}]", "[0].labels", "must not be empty"},
        {"[{\"labels\":{\"empty\":\"\"}}]", "[0].labels", "must not be empty"},
        {"[{\"labels\":{\"job\":\"x\"}}]", "[0].labels", "must include \"alertname\""},
        {"[{\"labels\":{\"alertname\":\"A\"}},{\"labels\":{\"alertname\":\"A\",\"1x\":\"v\"}}]",
         "[1].labels.1x", "is not a valid label name"},
        {"[{\"labels\":{\"alertname\":\"A\",\"a-b\":\"v\"}}]", "[0].labels.a-b",
         "is not a valid label name"},
        {"[{\"labels\":{\"alertname\":5}}]", "[0].labels.alertname", "must be a string"},
        {"[{\"labels\":[\"alertname\"]}]", "[0].labels", "must be an object"},
        {"[{\"labels\":{\"alertname\":\"A\"},\"annotations\":\"x\"}]", "[0].annotations",
         "must be an object"},
        {"[{\"labels\":{\"alertname\":\"A\"},\"annotations\":{\"summary\":5}}]",
         "[0].annotations.summary", "must be a string"},
        {"[{\"labels\":{\"alertname\":\"A\"},\"startsAt\":\"2026-01-01\"}]", "[0].startsAt",
         "RFC 3339"},
        {"[{\"labels\":{\"alertname\":\"A\"},\"endsAt\":1}]", "[0].endsAt", "must be a string"},
        {"[{\"labels\":{\"alertname\":\"A\"},\"startsAt\":\"2026-01-01T00:10:00Z\","
         "\"endsAt\":\"2026-01-01T00:05:00Z\"}]",
         "[0].endsAt", "must not be before startsAt"},
        {"[{\"labels\":{\"alertname\":\"A\"},\"generatorURL\":false}]", "[0].generatorURL",
         "must be a string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_fail(intake_parse_am_alerts, cases[i].body, 400, cases[i].field, cases[i].want);
}

/*
 * The fast path reads what Prometheus sends without building a jansson
 * document. It must take the usual shapes (or it saves nothing) and fill
 * exactly what the full parser fills; everything else it declines.
 */
static void am_fast_same(const char *body, const struct cfg_integration *integ)
{
    struct intake_batch f, g;
    struct intake_error e;
    size_t len = strlen(body);
    char *copy = malloc(len + 1);
    assert_non_null(copy);
    memcpy(copy, body, len + 1);
    if (intake_parse_am_alerts_fast(copy, len, integ, NOW, &f) != 0)
        fail_msg("the fast path declined %s", body);
    assert_int_equal(intake_parse_am_alerts_full(copy, len, integ, NOW, &g, &e), 0);
    assert_int_equal(f.n, g.n);
    for (size_t i = 0; i < f.n; i++)
        if (!event_equal(&f.events[i], &g.events[i]))
            fail_msg("event %zu differs for %s", i, body);
    intake_batch_free(&f);
    intake_batch_free(&g);
    free(copy);
}

static void am_fast_declines(const char *body)
{
    struct intake_batch f;
    size_t len = strlen(body);
    char *copy = malloc(len + 1);
    assert_non_null(copy);
    memcpy(copy, body, len + 1);
    if (intake_parse_am_alerts_fast(copy, len, NULL, NOW, &f) != 1)
        fail_msg("the fast path took %s", body);
    assert_int_equal(f.n, 0);
    assert_null(f.events);
    free(copy);
}

static void test_am_alerts_fast_path(void **state)
{
    struct cfg_integration integ = {.default_severity = SEV_INFO, .resolve_timeout_ms = 60000};
    static const char *same[] = {
        "[]",
        " [ ] ",
        "[{\"labels\":{\"alertname\":\"HighLoad\",\"instance\":\"host1:9100\",\"severity\":"
        "\"critical\",\"job\":\"node\"},\"annotations\":{\"summary\":\"Load is high\","
        "\"description\":\"d\"},\"startsAt\":\"2025-12-31T23:50:00.123456789Z\",\"endsAt\":"
        "\"2026-01-01T00:04:00Z\",\"generatorURL\":\"http://prom/graph?g0.expr=up%3D%3D0\"}]",
        /* Escapes, UTF-8, unknown fields of every shape, white space. */
        "[\n {\"labels\": {\"alertname\": \"Q\\\"uote\\\\\\/\\n\\t\", \"site\": "
        "\"Stra\xc3\x9f"
        "e \xe2\x82\xac \xf0\x9f\x94\xa5\"},\n  \"annotations\": {\"summary\": "
        "\"line1\\nline2\\r\\b\\f\"}, \"extra\": {\"a\": [true, false, null, \"x\", {}], "
        "\"b\": []}, \"other\": null}\r\n]\t",
        /* Resolved, defaults, the Go zero time, empty values, empty annotations, "" URL. */
        "[{\"labels\":{\"alertname\":\"Gone\",\"severity\":\"P3\"},\"startsAt\":"
        "\"2025-12-31T23:00:00Z\",\"endsAt\":\"2025-12-31T23:59:00-00:30\"},"
        "{\"labels\":{\"alertname\":\"Bare\",\"empty\":\"\",\"zz\":\"last\",\"a\":\"first\"},"
        "\"annotations\":{},\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"\"},"
        "{\"labels\":{\"alertname\":\"Only\"},\"annotations\":{\"description\":\"desc\"}}]",
    };
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        am_fast_same(same[i], &integ);
        am_fast_same(same[i], NULL);
    }
    static const char *declined[] = {
        "",
        "{}",
        "[5]",
        "[{\"labels\":{\"alertname\":\"A\\u0041\"}}]",
        "[{\"labels\":{\"alertname\":\"A\"},\"n\":1}]",
        "[{\"labels\":{\"alertname\":\"A\"},\"annotations\":null}]",
        "[{\"labels\":{\"alertname\":\"A\",\"alertname\":\"B\"}}]",
        "[{\"labels\":{\"alertname\":\"A\"},\"annotations\":{\"s\":\"1\",\"s\":\"2\"}}]",
        "[{\"labels\":{\"alertname\":\"A\"},\"labels\":{\"alertname\":\"B\"}}]",
        "[{\"labels\":{\"alertname\":\"A\"}}] x",
        "[{\"labels\":{\"alertname\":\"A\"}},]",
        "[{\"labels\":{\"alertname\":\"A\xc0\xaf\"}}]",
        "[{\"labels\":{\"alertname\":\"A\xed\xa0\x80\"}}]",
        "[{\"labels\":{\"alertname\":\"A\x01\"}}]",
        "[{\"labels\":{\"alertname\":\"A\"},\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]"
        "]]]]]]]]]]]]]]]]]]]}]",
        "[{\"labels\":{}}]",
        "[{\"labels\":{\"job\":\"x\"}}]",
        "[{\"labels\":{\"alertname\":\"A\",\"1x\":\"v\"}}]",
        "[{\"labels\":{\"alertname\":\"A\"},\"startsAt\":\"2026-01-01\"}]",
        "[{\"labels\":{\"alertname\":\"A\"},\"startsAt\":\"2026-01-01T00:10:00Z\","
        "\"endsAt\":\"2026-01-01T00:05:00Z\"}]",
    };
    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++)
        am_fast_declines(declined[i]);
    /* What the fast path declines, the full parser still answers. */
    struct intake_batch b;
    struct intake_error e;
    assert_int_equal(
        run(intake_parse_am_alerts, "[{\"labels\":{\"alertname\":\"A\\u0041\"}}]", NULL, &b, &e),
        0);
    assert_string_equal(labels_get(&b.events[0].labels, "alertname"), "AA");
    intake_batch_free(&b);
    /* A batch of the most alerts a request may hold takes the fast path. */
    char *body = repeat_array("{\"labels\":{\"alertname\":\"A\"}}", EVENT_MAX_BATCH);
    am_fast_same(body, NULL);
    free(body);
}

/* ---------------------------------------------------- Alertmanager webhook */

static void test_am_webhook_alertmanager(void **state)
{
    struct intake_batch b;
    struct intake_error e;
    const struct event *ev;

    assert_int_equal(
        run(intake_parse_am_webhook,
            "{\"version\":\"4\",\"groupKey\":\"{}/"
            "{severity=\\\"critical\\\"}:{alertname=\\\"ProbeFailure\\\"}\","
            "\"truncatedAlerts\":2,\"status\":\"firing\",\"receiver\":\"oncall\","
            "\"groupLabels\":{\"alertname\":\"ProbeFailure\"},\"commonLabels\":{},"
            "\"commonAnnotations\":{},\"externalURL\":\"http://am:9093\",\"alerts\":["
            "{\"status\":\"firing\",\"labels\":{\"alertname\":\"ProbeFailure\","
            "\"instance\":\"https://x\",\"severity\":\"critical\"},\"annotations\":{\"summary\":"
            "\"BlackBox Probe Failure\"},\"startsAt\":\"2023-02-06T13:08:45.828Z\","
            "\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"http://prom/graph\","
            "\"fingerprint\":\"1A30BA71CCA2921F\"},"
            "{\"status\":\"resolved\",\"labels\":{\"alertname\":\"HighLoad\","
            "\"instance\":\"host1:9100\",\"severity\":\"critical\"},"
            "\"startsAt\":\"2023-02-06T13:00:00Z\",\"endsAt\":\"2023-02-06T13:08:45.828Z\"}]}",
            NULL, &b, &e),
        0);
    assert_int_equal(b.n, 2);
    ev = &b.events[0];
    assert_int_equal(ev->action, EVENT_TRIGGER);
    assert_string_equal(ev->dedup_key, "1a30ba71cca2921f");
    assert_string_equal(ev->summary, "BlackBox Probe Failure");
    assert_int_equal(ev->severity, SEV_CRITICAL);
    assert_string_equal(ev->source, "https://x");
    assert_int_equal(ev->starts_at_ms, 1675688925828LL);
    assert_int_equal(ev->ends_at_ms, 0); /* the sender reports the resolve itself */
    assert_string_equal(json_string_value(json_object_get(ev->details, "receiver")), "oncall");
    assert_string_equal(json_string_value(json_object_get(ev->details, "externalURL")),
                        "http://am:9093");
    assert_string_equal(json_string_value(json_object_get(ev->details, "startsAt")),
                        "2023-02-06T13:08:45.828Z");
    assert_non_null(
        strstr(json_string_value(json_object_get(ev->details, "groupKey")), "ProbeFailure"));
    assert_int_equal(json_integer_value(json_object_get(ev->details, "truncatedAlerts")), 2);
    ev = &b.events[1];
    assert_int_equal(ev->action, EVENT_RESOLVE);
    assert_int_equal(ev->timestamp_ms, 1675688925828LL);
    /* No fingerprint: computed from the labels, as Alertmanager would. */
    assert_string_equal(ev->dedup_key, "3cff18cb2cb60986");
    intake_batch_free(&b);

    assert_int_equal(run(intake_parse_am_webhook, "{\"alerts\":[]}", NULL, &b, &e), 0);
    assert_int_equal(b.n, 0);
    intake_batch_free(&b);
}

static void test_am_webhook_grafana(void **state)
{
    struct intake_batch b;
    struct intake_error e;

    /* Grafana's shape: version "1" plus orgId, title, state, message and per-alert URLs. */
    assert_int_equal(
        run(intake_parse_am_webhook,
            "{\"receiver\":\"My Super Webhook\",\"status\":\"firing\",\"orgId\":1,\"alerts\":["
            "{\"status\":\"firing\",\"labels\":{\"alertname\":\"High memory usage\","
            "\"team\":\"blue\"},\"annotations\":{\"description\":\"The system has high memory\"},"
            "\"startsAt\":\"2021-10-12T09:51:03.157076+02:00\",\"endsAt\":\"0001-01-01T00:00:00Z\","
            "\"generatorURL\":\"https://g/alerting/1/edit\",\"fingerprint\":\"c6eadffa33fcdf37\","
            "\"silenceURL\":\"https://g/silence\",\"dashboardURL\":\"\",\"panelURL\":\"\","
            "\"values\":{\"B\":44.2,\"C\":1},\"valueString\":\"[ value=14151 ]\"}],"
            "\"groupLabels\":{},\"commonLabels\":{\"team\":\"blue\"},\"commonAnnotations\":{},"
            "\"externalURL\":\"https://g/\",\"version\":\"1\",\"groupKey\":\"{}:{}\","
            "\"truncatedAlerts\":0,\"title\":\"[FIRING:1] (blue)\",\"state\":\"alerting\","
            "\"message\":\"**Firing**\"}",
            NULL, &b, &e),
        0);
    assert_int_equal(b.n, 1);
    assert_string_equal(b.events[0].dedup_key, "c6eadffa33fcdf37");
    assert_string_equal(b.events[0].summary, "The system has high memory");
    assert_int_equal(b.events[0].starts_at_ms, 1634025063157LL);
    /* generatorURL and silenceURL become links; the empty URLs do not. */
    assert_int_equal(json_array_size(b.events[0].links), 2);
    assert_null(json_object_get(b.events[0].details, "truncatedAlerts"));
    assert_non_null(json_object_get(b.events[0].details, "values"));
    intake_batch_free(&b);
}

static void test_am_webhook_errors(void **state)
{
#define OK_ALERT "{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\"}}"
    static const struct {
        const char *body, *field, *want;
    } cases[] = {
        {"[]", "", "must be a JSON object"},
        {"{\"version\":\"3\",\"alerts\":[]}", "version", "unsupported version"},
        {"{\"version\":4,\"alerts\":[]}", "version", "must be a string"},
        {"{\"version\":\"4\"}", "alerts", "is required"},
        {"{\"alerts\":{}}", "alerts", "must be an array"},
        {"{\"alerts\":[" OK_ALERT "," OK_ALERT ",{\"status\":\"firing\",\"labels\":\"x\"}]}",
         "alerts[2].labels", "must be an object"},
        {"{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"host\":1}}]}", "alerts[0].labels.host",
         "must be a string"},
        {"{\"alerts\":[{\"status\":\"firing\"}]}", "alerts[0].labels", "is required"},
        {"{\"alerts\":[{\"status\":\"firing\",\"labels\":{}}]}", "alerts[0].labels",
         "must not be empty"},
        {"{\"alerts\":[{\"labels\":{\"alertname\":\"A\"}}]}", "alerts[0].status", "is required"},
        {"{\"alerts\":[{\"status\":\"pending\",\"labels\":{\"alertname\":\"A\"}}]}",
         "alerts[0].status", "must be one of firing, resolved"},
        {"{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\"},"
         "\"fingerprint\":\"xyz\"}]}",
         "alerts[0].fingerprint", "16 hexadecimal digits"},
        {"{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\"},"
         "\"fingerprint\":\"1a30ba71cca2921f0\"}]}",
         "alerts[0].fingerprint", "16 hexadecimal digits"},
        {"{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\"},"
         "\"startsAt\":\"now\"}]}",
         "alerts[0].startsAt", "RFC 3339"},
        {"{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\"},"
         "\"annotations\":{\"summary\":[]}}]}",
         "alerts[0].annotations.summary", "must be a string"},
        {"{\"alerts\":[5]}", "alerts[0]", "must be an object"},
        {"{\"groupKey\":7,\"alerts\":[]}", "groupKey", "must be a string"},
    };
#undef OK_ALERT
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_fail(intake_parse_am_webhook, cases[i].body, 422, cases[i].field, cases[i].want);

    char *body = repeat_array("{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\"}}",
                              EVENT_MAX_BATCH + 1);
    char *wrapped = fmt("{\"alerts\":%s}", body);
    expect_fail(intake_parse_am_webhook, wrapped, 413, "alerts", "at most 1000");
    free(body);
    free(wrapped);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tocsin_minimal),
        cmocka_unit_test(test_tocsin_full),
        cmocka_unit_test(test_tocsin_array_and_nulls),
        cmocka_unit_test(test_tocsin_batch_limits),
        cmocka_unit_test(test_tocsin_errors),
        cmocka_unit_test(test_tocsin_bounds),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_pd_minimal_trigger),
        cmocka_unit_test(test_pd_full_trigger_and_generated_key),
        cmocka_unit_test(test_pd_ack_resolve),
        cmocka_unit_test(test_pd_errors),
        cmocka_unit_test(test_pd_change),
        cmocka_unit_test(test_pd_v1),
        cmocka_unit_test(test_am_alerts_prometheus),
        cmocka_unit_test(test_am_alerts_defaults_and_edges),
        cmocka_unit_test(test_am_alerts_errors),
        cmocka_unit_test(test_am_alerts_fast_path),
        cmocka_unit_test(test_am_webhook_alertmanager),
        cmocka_unit_test(test_am_webhook_grafana),
        cmocka_unit_test(test_am_webhook_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
