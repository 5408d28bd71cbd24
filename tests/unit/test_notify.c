/*
 * test_notify.c - unit tests for src/notify: templates, rendering of every
 * channel format, the webhook signature, action links and the delivery
 * thread end to end.
 *
 * The thread is tested against receivers this test runs on the loopback
 * interface: a libmicrohttpd daemon (thread per connection, so concurrency
 * can be counted) whose path picks the status it answers, a scripted SMTP
 * server on a socket, a port nobody listens on, and /bin/sh scripts written
 * to a temporary directory for the command channel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "notify/action_link.h"
#include "notify/notify.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char payload_json[] =
    "{\"kind\": \"incident.triggered\","
    " \"text\": \"Disk full on db1\","
    " \"incident\": {\"id\": 12, \"number\": \"INC-12\", \"title\": \"Disk full <db1> & co\","
    "   \"status\": \"triggered\", \"severity\": \"critical\", \"priority\": \"P1\","
    "   \"urgency\": \"high\", \"service\": \"shop\", \"created_at\": \"2023-11-14T22:13:20Z\","
    "   \"url\": \"http://tocsin.example/incidents/12\", \"ratio\": 1.5},"
    " \"user\": \"anna\", \"level\": 1, \"round\": 1,"
    " \"links\": {\"acknowledge\": \"http://tocsin.example/a/ACK\","
    "             \"resolve\": \"http://tocsin.example/a/RES\","
    "             \"incident\": \"http://tocsin.example/incidents/12\"}}";

static const char digest_json[] =
    "{\"kind\": \"digest\", \"user\": \"anna\","
    " \"digest\": {\"count\": 2, \"label\": \"site=stuttgart\","
    "   \"incidents\": [{\"number\": \"INC-13\", \"title\": \"one\"},"
    "                   {\"number\": \"INC-14\", \"title\": \"two\"}]}}";

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    assert_non_null(j);
    return j;
}

static struct notify_msg *make_msg(const struct cfg_channel *ch, const char *to, const char *key,
                                   int64_t id, const char *payload)
{
    struct notify_msg *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->id = id;
    m->attempt = 1;
    m->ch = ch;
    m->to = to ? strdup(to) : NULL;
    m->idem_key = key ? strdup(key) : NULL;
    m->payload = load(payload ? payload : payload_json);
    return m;
}

static struct cfg_channel channel(enum channel_type type)
{
    struct cfg_channel ch = {
        .name = "test", .type = type, .verify_tls = true, .timeout_ms = 5000, .tls = 1};
    return ch;
}

static char *render(const struct notify_msg *m, int64_t now, size_t *len)
{
    char *body;
    size_t n;
    const char *ctype;
    assert_int_equal(notify_render(m, now, &body, &n, &ctype), 0);
    assert_non_null(ctype);
    assert_int_equal(strlen(body), n);
    if (len)
        *len = n;
    /* A copy: gcc -O2 otherwise takes pointers into the result for pointers
     * to the local whose address notify_render got (-Wdangling-pointer). */
    char *copy = strdup(body);
    assert_non_null(copy);
    free(body);
    return copy;
}

/* ---- templates ---- */

static void expect_template(const char *tmpl, const json_t *p, const char *want)
{
    char *got = notify_template(tmpl, p);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_template_paths(void **state)
{
    (void)state;
    json_t *p = load(payload_json);
    expect_template("{{incident.number}}: {{incident.title}}", p, "INC-12: Disk full <db1> & co");
    expect_template("{{ links.acknowledge }}", p, "http://tocsin.example/a/ACK");
    expect_template("no fields", p, "no fields");
    expect_template("", p, "");
    json_t *d = load(digest_json);
    expect_template("{{digest.incidents.1.number}}={{digest.incidents.1.title}}", d, "INC-14=two");
    expect_template("[{{digest.incidents.2.number}}]", d, "[]");
    json_decref(d);
    json_decref(p);
}

static void test_template_missing_and_types(void **state)
{
    (void)state;
    json_t *p = load(payload_json);
    json_object_set_new(p, "nothing", json_null());
    json_object_set_new(p, "yes", json_true());
    json_object_set_new(p, "big", json_integer(-9007199254740993LL));
    expect_template("[{{nope}}][{{incident.nope}}][{{incident}}][{{nothing}}][{{links}}]", p,
                    "[][][][][]");
    expect_template("{{incident.id}}/{{level}}/{{incident.ratio}}/{{yes}}/{{big}}", p,
                    "12/1/1.5/true/-9007199254740993");
    /* A path through a scalar, or with an empty segment, is missing. */
    expect_template("[{{kind.x}}][{{incident..id}}][{{.kind}}][{{kind.}}]", p, "[][][][]");
    json_decref(p);
}

static void test_template_escapes(void **state)
{
    (void)state;
    json_t *p = load(payload_json);
    expect_template("{{{{incident.id}}", p, "{{incident.id}}");
    expect_template("a {{{{ b", p, "a {{ b");
    /* Not a placeholder: copied as it is. */
    expect_template("open {{ incident.id", p, "open {{ incident.id");
    expect_template("{{bad path}} {{x!}} {{}}", p, "{{bad path}} {{x!}} {{}}");
    expect_template("{{{incident.id}}}", p, "{{{incident.id}}}");
    expect_template("}} {{level}}}}", p, "}} 1}}");
    json_decref(p);
}

static void test_template_bounds(void **state)
{
    (void)state;
    json_t *p = load(payload_json);
    /* A path at the limit is looked up; one byte more is not a placeholder. */
    char path[300];
    memset(path, 'a', sizeof(path));
    char tmpl[400];
    snprintf(tmpl, sizeof(tmpl), "{{%.255s}}", path);
    expect_template(tmpl, p, "");
    snprintf(tmpl, sizeof(tmpl), "{{%.256s}}", path);
    expect_template(tmpl, p, tmpl);

    /* Expansion is bounded, and the cut falls between characters. */
    json_object_set_new(p, "u", json_string("\xc3\xa4\xc3\xb6\xc3\xbc")); /* 6 bytes */
    size_t reps = 30000;
    char *big = malloc(reps * 5 + 2);
    assert_non_null(big);
    big[0] = 'x'; /* shifts the 2-byte characters off an even boundary */
    for (size_t i = 0; i < reps; i++)
        memcpy(big + 1 + i * 5, "{{u}}", 5);
    big[1 + reps * 5] = '\0';
    char *out = notify_template(big, p);
    assert_non_null(out);
    size_t len = strlen(out);
    assert_true(len <= 65536);
    assert_true(len >= 65530);
    assert_true(((unsigned char)out[len - 1] & 0xC0) == 0x80); /* ends on a whole character */
    assert_true(((unsigned char)out[len - 2] & 0xE0) == 0xC0);
    free(out);
    free(big);
    json_decref(p);
}

/* ---- webhooks ---- */

static void test_render_generic(void **state)
{
    (void)state;
    struct cfg_channel ch = channel(CHANNEL_WEBHOOK);
    struct notify_msg *m = make_msg(&ch, NULL, "outbox-7-1", 7, NULL);
    char *body = render(m, 1700000000123, NULL);
    json_t *j = load(body);
    assert_string_equal(json_string_value(json_object_get(j, "event")), "incident.triggered");
    assert_string_equal(json_string_value(json_object_get(j, "text")), "Disk full on db1");
    assert_string_equal(json_string_value(json_object_get(j, "idempotency_key")), "outbox-7-1");
    assert_string_equal(json_string_value(json_object_get(j, "sent_at")),
                        "2023-11-14T22:13:20.123Z");
    assert_string_equal(json_string_value(json_object_get(j, "subject")),
                        "[Tocsin] INC-12 triggered: Disk full <db1> & co (P1, critical)");
    json_t *inc = json_object_get(j, "incident");
    assert_int_equal(json_integer_value(json_object_get(inc, "id")), 12);
    assert_string_equal(json_string_value(json_object_get(inc, "number")), "INC-12");
    assert_string_equal(json_string_value(json_object_get(j, "user")), "anna");
    assert_int_equal(json_integer_value(json_object_get(j, "level")), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "links"), "acknowledge")),
        "http://tocsin.example/a/ACK");
    assert_null(json_object_get(j, "digest"));
    json_decref(j);
    free(body);

    /* A body template replaces the text. */
    ch.body = "{{incident.number}} for {{user}}";
    body = render(m, 0, NULL);
    j = load(body);
    assert_string_equal(json_string_value(json_object_get(j, "text")), "INC-12 for anna");
    json_decref(j);
    free(body);
    notify_msg_free(m);

    /* A digest keeps its list. */
    ch.body = NULL;
    m = make_msg(&ch, NULL, "d-1", 8, digest_json);
    body = render(m, 0, NULL);
    j = load(body);
    assert_string_equal(json_string_value(json_object_get(j, "event")), "digest");
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "digest"), "incidents")),
                     2);
    assert_string_equal(json_string_value(json_object_get(j, "subject")),
                        "[Tocsin] 2 new incidents (site=stuttgart)");
    json_decref(j);
    free(body);
    notify_msg_free(m);
}

static void test_render_slack(void **state)
{
    (void)state;
    struct cfg_channel ch = channel(CHANNEL_WEBHOOK);
    ch.format = WEBHOOK_SLACK;
    struct notify_msg *m = make_msg(&ch, NULL, "k", 1, NULL);
    char *body = render(m, 0, NULL);
    json_t *j = load(body);
    assert_string_equal(json_string_value(json_object_get(j, "text")),
                        "[Tocsin] INC-12 triggered: Disk full <db1> & co (P1, critical)");
    json_t *blocks = json_object_get(j, "blocks");
    assert_int_equal(json_array_size(blocks), 2);
    json_t *sec = json_array_get(blocks, 0);
    assert_string_equal(json_string_value(json_object_get(sec, "type")), "section");
    json_t *txt = json_object_get(sec, "text");
    assert_string_equal(json_string_value(json_object_get(txt, "type")), "mrkdwn");
    const char *md = json_string_value(json_object_get(txt, "text"));
    /* mrkdwn control characters are escaped. */
    assert_non_null(strstr(md, "*[Tocsin] INC-12 triggered: Disk full &lt;db1&gt; &amp; co"));
    assert_null(strstr(md, "<db1>"));
    assert_non_null(strstr(md, "Service: shop"));
    json_t *act = json_array_get(blocks, 1);
    assert_string_equal(json_string_value(json_object_get(act, "type")), "actions");
    json_t *els = json_object_get(act, "elements");
    assert_int_equal(json_array_size(els), 3);
    json_t *b0 = json_array_get(els, 0), *b1 = json_array_get(els, 1);
    assert_string_equal(json_string_value(json_object_get(b0, "type")), "button");
    assert_string_equal(json_string_value(json_object_get(b0, "url")),
                        "http://tocsin.example/a/ACK");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b0, "text"), "text")),
                        "Acknowledge");
    assert_string_equal(json_string_value(json_object_get(b1, "url")),
                        "http://tocsin.example/a/RES");
    json_decref(j);
    free(body);

    /* Without links there is no actions block; the subject template is used. */
    json_object_del(m->payload, "links");
    ch.subject = "ALERT {{incident.number}}\r\nX";
    body = render(m, 0, NULL);
    j = load(body);
    assert_string_equal(json_string_value(json_object_get(j, "text")), "ALERT INC-12  X");
    assert_int_equal(json_array_size(json_object_get(j, "blocks")), 1);
    json_decref(j);
    free(body);
    notify_msg_free(m);
}

static void test_render_teams(void **state)
{
    (void)state;
    struct cfg_channel ch = channel(CHANNEL_WEBHOOK);
    ch.format = WEBHOOK_TEAMS;
    struct notify_msg *m = make_msg(&ch, NULL, "k", 1, NULL);
    char *body = render(m, 0, NULL);
    json_t *j = load(body);
    assert_string_equal(json_string_value(json_object_get(j, "@type")), "MessageCard");
    assert_string_equal(json_string_value(json_object_get(j, "@context")),
                        "https://schema.org/extensions");
    assert_string_equal(json_string_value(json_object_get(j, "themeColor")), "D13438");
    assert_string_equal(json_string_value(json_object_get(j, "summary")),
                        json_string_value(json_object_get(j, "title")));
    assert_non_null(strstr(json_string_value(json_object_get(j, "text")), "Status: triggered"));
    json_t *pa = json_object_get(j, "potentialAction");
    assert_int_equal(json_array_size(pa), 3);
    json_t *a0 = json_array_get(pa, 0);
    assert_string_equal(json_string_value(json_object_get(a0, "@type")), "OpenUri");
    assert_string_equal(json_string_value(json_object_get(a0, "name")), "Acknowledge");
    json_t *t0 = json_array_get(json_object_get(a0, "targets"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "os")), "default");
    assert_string_equal(json_string_value(json_object_get(t0, "uri")),
                        "http://tocsin.example/a/ACK");
    assert_string_equal(json_string_value(json_object_get(json_array_get(pa, 1), "name")),
                        "Resolve");
    json_decref(j);
    free(body);

    json_object_set_new(m->payload, "kind", json_string("incident.resolved"));
    body = render(m, 0, NULL);
    j = load(body);
    assert_string_equal(json_string_value(json_object_get(j, "themeColor")), "2EB886");
    json_decref(j);
    free(body);
    notify_msg_free(m);
}

/* ---- mail ---- */

/* Every LF in s is preceded by CR, and no line is longer than 998 bytes. */
static void assert_crlf(const char *s)
{
    size_t col = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '\n') {
            assert_true(p > s && p[-1] == '\r');
            col = 0;
        } else if (*p == '\r') {
            assert_int_equal(p[1], '\n');
        } else {
            col++;
            assert_true(col <= 998);
        }
    }
}

static void test_render_mail(void **state)
{
    (void)state;
    struct cfg_channel ch = channel(CHANNEL_SMTP);
    ch.url = "smtp://127.0.0.1:1";
    ch.from = "Tocsin <tocsin@example.org>";
    struct notify_msg *m = make_msg(&ch, "anna@example.org", "outbox-7-1", 7, NULL);
    json_object_set_new(m->payload, "text", json_string(".starts with a dot\nline two"));
    char *msg = render(m, 1700000000000, NULL);
    assert_crlf(msg);
    assert_non_null(strstr(msg, "From: Tocsin <tocsin@example.org>\r\n"));
    assert_non_null(strstr(msg, "\r\nTo: anna@example.org\r\n"));
    assert_non_null(strstr(
        msg, "\r\nSubject: [Tocsin] INC-12 triggered: Disk full <db1> & co (P1, critical)\r\n"));
    assert_non_null(strstr(msg, "\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    assert_non_null(strstr(msg, "\r\nMessage-ID: <outbox-7-1@tocsin>\r\n"));
    assert_non_null(strstr(msg, "\r\nMIME-Version: 1.0\r\n"));
    assert_non_null(strstr(msg, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    const char *sep = strstr(msg, "\r\n\r\n");
    assert_non_null(sep);
    const char *bodyp = sep + 4;
    /* The dot is left single: curl's SMTP upload doubles it on the wire. */
    assert_memory_equal(bodyp, ".starts with a dot\r\nline two\r\n", 30);
    assert_non_null(strstr(bodyp, "\r\nAcknowledge: http://tocsin.example/a/ACK\r\n"));
    assert_non_null(strstr(bodyp, "\r\nResolve: http://tocsin.example/a/RES\r\n"));
    assert_non_null(strstr(bodyp, "\r\nIncident: http://tocsin.example/incidents/12\r\n"));
    assert_non_null(strstr(bodyp, "\r\nService: shop\r\n"));
    free(msg);

    /* A newline in a title cannot start a header of its own. */
    json_object_set_new(json_object_get(m->payload, "incident"), "title",
                        json_string("x\r\nBcc: evil@example.org"));
    msg = render(m, 0, NULL);
    assert_crlf(msg);
    char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    *end = '\0'; /* the headers only: in the body the line is harmless text */
    assert_null(strstr(msg, "\r\nBcc:"));
    assert_non_null(
        strstr(msg, "\r\nSubject: [Tocsin] INC-12 triggered: x  Bcc: evil@example.org"));
    free(msg);

    /* Nor can one in an address: the message is refused. */
    free(m->to);
    m->to = strdup("anna@example.org\r\nBcc: evil@example.org");
    char *body;
    size_t len;
    const char *ctype;
    assert_int_equal(notify_render(m, 0, &body, &len, &ctype), -1);
    assert_null(body);
    notify_msg_free(m);
}

static void test_render_mail_rfc2047_and_long_lines(void **state)
{
    (void)state;
    struct cfg_channel ch = channel(CHANNEL_SMTP);
    ch.from = "tocsin@example.org";
    ch.subject = "St\xc3\xb6rung {{incident.number}}";
    struct notify_msg *m = make_msg(&ch, "anna@example.org", "k", 1, NULL);
    char *msg = render(m, 0, NULL);
    assert_non_null(strstr(msg, "\r\nSubject: =?UTF-8?B?U3TDtnJ1bmcgSU5DLTEy?=\r\n"));
    free(msg);

    /* A long subject becomes several encoded words, each at most 75
     * characters, on folded lines, and decodes to the original. */
    char subj[200] = "";
    for (int i = 0; i < 30; i++)
        strcat(subj, "\xc3\xa4x");
    ch.subject = subj;
    /* A 5000-byte line of text is broken into shorter ones. */
    char *longline = malloc(5001);
    memset(longline, 'y', 5000);
    longline[5000] = '\0';
    json_object_set_new(m->payload, "text", json_string(longline));
    msg = render(m, 0, NULL);
    assert_crlf(msg);
    const char *s = strstr(msg, "\r\nSubject: ") + 11;
    char decoded[200] = "";
    size_t dlen = 0;
    int words = 0;
    for (;;) {
        assert_memory_equal(s, "=?UTF-8?B?", 10);
        const char *end = strstr(s, "?=");
        assert_true(end - s + 2 <= 75);
        size_t got;
        assert_int_equal(sodium_base642bin((unsigned char *)decoded + dlen, sizeof(decoded) - dlen,
                                           s + 10, (size_t)(end - s - 10), NULL, &got, NULL,
                                           sodium_base64_VARIANT_ORIGINAL),
                         0);
        dlen += got;
        words++;
        if (strncmp(end + 2, "\r\n ", 3) != 0)
            break;
        s = end + 5;
    }
    assert_true(words >= 2);
    assert_int_equal(dlen, strlen(subj));
    assert_memory_equal(decoded, subj, dlen);
    assert_non_null(strstr(msg, "yyyy\r\nyyyy"));
    free(msg);
    free(longline);
    notify_msg_free(m);
}

static void test_render_digest_and_command(void **state)
{
    (void)state;
    struct cfg_channel ch = channel(CHANNEL_COMMAND);
    ch.command = "/bin/true";
    struct notify_msg *m = make_msg(&ch, "+4915112345678", "k", 1, digest_json);
    char *text = render(m, 0, NULL);
    assert_string_equal(text, "[Tocsin] 2 new incidents (site=stuttgart)\n"
                              "- INC-13: one\n"
                              "- INC-14: two\n"
                              "Notified: anna\n");
    free(text);
    notify_msg_free(m);

    m = make_msg(&ch, "+4915112345678", "k", 1, NULL);
    text = render(m, 0, NULL);
    assert_string_equal(text, "Disk full on db1\n"
                              "INC-12: Disk full <db1> & co\n"
                              "Status: triggered\n"
                              "Severity: critical\n"
                              "Priority: P1\n"
                              "Urgency: high\n"
                              "Service: shop\n"
                              "Created: 2023-11-14T22:13:20Z\n"
                              "Notified: anna (escalation level 1)\n"
                              "\n"
                              "Acknowledge: http://tocsin.example/a/ACK\n"
                              "Resolve: http://tocsin.example/a/RES\n"
                              "Incident: http://tocsin.example/incidents/12\n");
    free(text);
    notify_msg_free(m);
}

/* ---- signature ---- */

static void test_sign(void **state)
{
    (void)state;
    /* RFC 4231 test case 2, through the same libsodium API notify_sign uses
     * (a 4-byte key: the streaming API takes any length). */
    unsigned char mac[32];
    char hex[65];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)"Jefe", 4);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"what do ya want for nothing?", 28);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    /* Our framing, "TIMESTAMP.BODY", against values computed elsewhere
     * (Python's hmac module). */
    char sig[72];
    notify_sign("Jefe", 1700000000, "what do ya want for nothing?", 28, sig);
    assert_string_equal(sig,
                        "sha256=1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e");
    char key[101];
    memset(key, 'k', 100);
    key[100] = '\0';
    notify_sign(key, 42, "{}", 2, sig);
    assert_string_equal(sig,
                        "sha256=2c3f3f8b4144796afb41f6d5a21cf47fdfadcef05ad8a3487d8b3e1f9596098c");
    /* The body is taken by length, not up to a NUL. */
    char other[72];
    notify_sign(key, 42, "{}x", 2, other);
    assert_string_equal(sig, other);
    notify_sign(key, 43, "{}", 2, other);
    assert_string_not_equal(sig, other);
}

/* ---- action links ---- */

static void test_action_link_roundtrip(void **state)
{
    (void)state;
    unsigned char key[ACTION_LINK_KEY_BYTES], key2[ACTION_LINK_KEY_BYTES];
    action_link_key("server secret", key);
    action_link_key("server secret!", key2);
    assert_memory_not_equal(key, key2, sizeof(key));

    struct action_link l = {
        .incident_id = 1234567890123LL, .expires = 1700000000000LL, .nonce = 0xfedcba9876543210ULL};
    strcpy(l.action, "resolve");
    strcpy(l.user, "anna.b@example.org");
    char tok[ACTION_LINK_MAX];
    assert_int_equal(action_link_make(key, &l, tok, sizeof(tok)), 0);
    /* URL-safe as it is. */
    for (const char *p = tok; *p; p++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", *p));

    struct action_link got;
    assert_int_equal(action_link_verify(key, tok, 1699999999999LL, &got), 0);
    assert_int_equal(got.incident_id, l.incident_id);
    assert_int_equal(got.expires, l.expires);
    assert_true(got.nonce == l.nonce);
    assert_string_equal(got.action, "resolve");
    assert_string_equal(got.user, "anna.b@example.org");

    /* Expired: -2, with the fields still filled. */
    memset(&got, 0, sizeof(got));
    assert_int_equal(action_link_verify(key, tok, 1700000000000LL, &got), -2);
    assert_int_equal(got.incident_id, l.incident_id);
    /* Another key does not verify. */
    assert_int_equal(action_link_verify(key2, tok, 0, &got), -1);

    /* The longest user fits, and an empty one works too. */
    memset(l.user, 'u', 64);
    l.user[64] = '\0';
    strcpy(l.action, "ack");
    assert_int_equal(action_link_make(key, &l, tok, sizeof(tok)), 0);
    assert_true(strlen(tok) < ACTION_LINK_MAX);
    assert_int_equal(action_link_verify(key, tok, 0, &got), 0);
    assert_string_equal(got.user, l.user);
    assert_string_equal(got.action, "ack");
    /* The output buffer must hold it. */
    assert_int_equal(action_link_make(key, &l, tok, strlen(tok)), -1);
    l.user[0] = '\0';
    assert_int_equal(action_link_make(key, &l, tok, sizeof(tok)), 0);
    assert_int_equal(action_link_verify(key, tok, 0, &got), 0);
    assert_string_equal(got.user, "");

    /* Invalid fields are refused. */
    strcpy(l.action, "delete");
    assert_int_equal(action_link_make(key, &l, tok, sizeof(tok)), -1);
    strcpy(l.action, "ack");
    strcpy(l.user, "a b");
    assert_int_equal(action_link_make(key, &l, tok, sizeof(tok)), -1);
    memset(l.user, 'u', sizeof(l.user)); /* not terminated inside the field */
    assert_int_equal(action_link_make(key, &l, tok, sizeof(tok)), -1);
}

static void test_action_link_tamper(void **state)
{
    (void)state;
    unsigned char key[ACTION_LINK_KEY_BYTES];
    action_link_key("k", key);
    struct action_link l = {.incident_id = 12, .expires = INT64_MAX, .nonce = 99};
    strcpy(l.action, "ack");
    strcpy(l.user, "anna");
    char tok[ACTION_LINK_MAX], bad[ACTION_LINK_MAX];
    assert_int_equal(action_link_make(key, &l, tok, sizeof(tok)), 0);
    size_t n = strlen(tok);
    struct action_link got;
    static const unsigned char masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80};
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof(masks); k++) {
            memcpy(bad, tok, n + 1);
            bad[i] = (char)(bad[i] ^ masks[k]);
            assert_int_equal(action_link_verify(key, bad, 0, &got), -1);
        }
        /* Dropping a character breaks it too. */
        memcpy(bad, tok, i);
        memcpy(bad + i, tok + i + 1, n - i);
        assert_int_equal(action_link_verify(key, bad, 0, &got), -1);
    }
    /* Garbage of every shape. */
    const char *junk[] = {"", ".", "a.b", "..", "AAAA", "AAAA.", ".AAAA", "A=.B="};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        assert_int_equal(action_link_verify(key, junk[i], 0, &got), -1);
    char *huge = malloc(10000);
    memset(huge, 'A', 9999);
    huge[9999] = '\0';
    huge[100] = '.';
    assert_int_equal(action_link_verify(key, huge, 0, &got), -1);
    free(huge);
    /* The untampered token still works. */
    assert_int_equal(action_link_verify(key, tok, 0, &got), 0);
}

/* ---- the thread: collecting results ---- */

struct results {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct notify_result r[64];
    int n;
};

static void on_result(const struct notify_result *r, void *arg)
{
    struct results *rs = arg;
    pthread_mutex_lock(&rs->mu);
    assert_true(rs->n < 64);
    rs->r[rs->n++] = *r;
    pthread_cond_broadcast(&rs->cv);
    pthread_mutex_unlock(&rs->mu);
}

static void results_init(struct results *rs)
{
    memset(rs, 0, sizeof(*rs));
    pthread_mutex_init(&rs->mu, NULL);
    pthread_cond_init(&rs->cv, NULL);
}

static void results_destroy(struct results *rs)
{
    pthread_mutex_destroy(&rs->mu);
    pthread_cond_destroy(&rs->cv);
}

/* Waits until want results arrived (or limit_ms passed); returns the count. */
static int results_wait(struct results *rs, int want, int limit_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += limit_ms / 1000;
    until.tv_nsec += (long)(limit_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&rs->mu);
    while (rs->n < want)
        if (pthread_cond_timedwait(&rs->cv, &rs->mu, &until) == ETIMEDOUT)
            break;
    int n = rs->n;
    pthread_mutex_unlock(&rs->mu);
    return n;
}

static const struct notify_result *result_for(struct results *rs, int64_t id)
{
    for (int i = 0; i < rs->n; i++)
        if (rs->r[i].id == id)
            return &rs->r[i];
    fail_msg("no result for message %lld", (long long)id);
    return NULL;
}

/* ---- the thread: an HTTP receiver ---- */

struct req {
    char path[64];
    char idem[128], ts[32], sig[80], ctype[64], agent[64], custom[64];
    char body[8192];
    size_t body_len;
};

static struct {
    pthread_mutex_t mu;
    struct req reqs[32];
    int n;
    int concurrent, max_concurrent;
} rx = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct upload {
    char body[8192];
    size_t len;
};

static void copy_header(struct MHD_Connection *c, const char *name, char *out, size_t size)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(out, size, "%s", v ? v : "");
}

static enum MHD_Result rx_handler(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)method;
    (void)version;
    struct upload *u = *con_cls;
    if (!u) {
        u = calloc(1, sizeof(*u));
        *con_cls = u;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t take = *upload_data_size;
        if (take > sizeof(u->body) - 1 - u->len)
            take = sizeof(u->body) - 1 - u->len;
        memcpy(u->body + u->len, upload_data, take);
        u->len += take;
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&rx.mu);
    struct req *r = rx.n < 32 ? &rx.reqs[rx.n++] : &rx.reqs[31];
    memset(r, 0, sizeof(*r));
    snprintf(r->path, sizeof(r->path), "%s", url);
    copy_header(c, "Idempotency-Key", r->idem, sizeof(r->idem));
    copy_header(c, "X-Tocsin-Timestamp", r->ts, sizeof(r->ts));
    copy_header(c, "X-Tocsin-Signature", r->sig, sizeof(r->sig));
    copy_header(c, "Content-Type", r->ctype, sizeof(r->ctype));
    copy_header(c, "User-Agent", r->agent, sizeof(r->agent));
    copy_header(c, "X-Custom", r->custom, sizeof(r->custom));
    memcpy(r->body, u->body, u->len);
    r->body_len = u->len;
    rx.concurrent++;
    if (rx.concurrent > rx.max_concurrent)
        rx.max_concurrent = rx.concurrent;
    pthread_mutex_unlock(&rx.mu);

    unsigned status = 200;
    const char *text = "ok";
    if (strncmp(url, "/slow", 5) == 0) {
        usleep(150 * 1000);
    } else if (strcmp(url, "/hang") == 0) {
        usleep(1000 * 1000);
    } else if (strcmp(url, "/500") == 0) {
        status = 500;
        text = "database unavailable\nmore";
    } else if (strcmp(url, "/429") == 0) {
        status = 429;
        text = "";
    } else if (strcmp(url, "/404") == 0) {
        status = 404;
        text = "no such hook";
    } else if (strcmp(url, "/408") == 0) {
        status = 408;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (status == 429)
        MHD_add_response_header(resp, "Retry-After", "7");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    pthread_mutex_lock(&rx.mu);
    rx.concurrent--;
    pthread_mutex_unlock(&rx.mu);
    return ret;
}

static void rx_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static struct MHD_Daemon *rx_start(int *port)
{
    pthread_mutex_lock(&rx.mu);
    rx.n = 0;
    rx.concurrent = rx.max_concurrent = 0;
    pthread_mutex_unlock(&rx.mu);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
        NULL, rx_handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, rx_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    assert_non_null(d);
    *port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return d;
}

static const struct req *rx_find(const char *path)
{
    for (int i = 0; i < rx.n; i++)
        if (strcmp(rx.reqs[i].path, path) == 0)
            return &rx.reqs[i];
    fail_msg("no request for %s", path);
    return NULL;
}

/* A port on the loopback interface that nobody listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

static char *url_for(int port, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "http://127.0.0.1:%d%s", port, path);
    return strdup(buf);
}

static void test_webhook_outcomes(void **state)
{
    (void)state;
    int port;
    struct MHD_Daemon *d = rx_start(&port);
    struct results rs;
    results_init(&rs);
    char err[128];
    struct notifier *n = notifier_start(on_result, &rs, 0, err, sizeof(err));
    assert_non_null(n);

    char *headers[] = {"X-Custom: hello", NULL};
    struct cfg_channel ch = channel(CHANNEL_WEBHOOK);
    ch.secret = "s3cret";
    ch.headers = headers;
    char *u200 = url_for(port, "/200");
    ch.url = u200; /* to == NULL: the channel's URL */
    struct cfg_channel plain = channel(CHANNEL_WEBHOOK);
    char *u500 = url_for(port, "/500"), *u429 = url_for(port, "/429"),
         *u404 = url_for(port, "/404"), *u408 = url_for(port, "/408");
    char *refused = url_for(closed_port(), "/");

    int64_t before = time(NULL);
    assert_int_equal(notifier_send(n, make_msg(&ch, NULL, "idem-1", 1, NULL)), 0);
    assert_int_equal(notifier_send(n, make_msg(&plain, u500, "idem-2", 2, NULL)), 0);
    assert_int_equal(notifier_send(n, make_msg(&plain, u429, "idem-3", 3, NULL)), 0);
    assert_int_equal(notifier_send(n, make_msg(&plain, u404, "idem-4", 4, NULL)), 0);
    assert_int_equal(notifier_send(n, make_msg(&plain, refused, "idem-5", 5, NULL)), 0);
    assert_int_equal(notifier_send(n, make_msg(&plain, u408, "idem-6", 6, NULL)), 0);
    assert_int_equal(results_wait(&rs, 6, 10000), 6);
    /* Exactly once each: nothing more arrives. */
    usleep(100 * 1000);
    assert_int_equal(rs.n, 6);

    const struct notify_result *r = result_for(&rs, 1);
    assert_int_equal(r->outcome, NOTIFY_DELIVERED);
    assert_string_equal(r->detail, "HTTP 200");
    assert_int_equal(r->attempt, 1);
    assert_true(r->duration_ms >= 0 && r->duration_ms < 5000);
    r = result_for(&rs, 2);
    assert_int_equal(r->outcome, NOTIFY_RETRY);
    assert_string_equal(r->detail, "HTTP 500: database unavailable");
    r = result_for(&rs, 3);
    assert_int_equal(r->outcome, NOTIFY_RETRY);
    assert_string_equal(r->detail, "HTTP 429");
    assert_int_equal(r->retry_after_ms, 7000);
    r = result_for(&rs, 4);
    assert_int_equal(r->outcome, NOTIFY_FAILED);
    assert_string_equal(r->detail, "HTTP 404: no such hook");
    assert_int_equal(r->retry_after_ms, 0);
    r = result_for(&rs, 5);
    assert_int_equal(r->outcome, NOTIFY_RETRY);
    assert_string_equal(r->detail, "connection refused");
    r = result_for(&rs, 6);
    assert_int_equal(r->outcome, NOTIFY_RETRY);

    /* What the receiver saw for the signed one. */
    pthread_mutex_lock(&rx.mu);
    const struct req *q = rx_find("/200");
    assert_string_equal(q->idem, "idem-1");
    assert_string_equal(q->ctype, "application/json");
    assert_string_equal(q->agent, "tocsin/" TOCSIN_VERSION);
    assert_string_equal(q->custom, "hello");
    int64_t ts = strtoll(q->ts, NULL, 10);
    assert_true(ts >= before && ts <= time(NULL));
    char want[72];
    notify_sign("s3cret", ts, q->body, q->body_len, want);
    assert_string_equal(q->sig, want);
    json_t *j = load(q->body);
    assert_string_equal(json_string_value(json_object_get(j, "idempotency_key")), "idem-1");
    assert_string_equal(json_string_value(json_object_get(j, "event")), "incident.triggered");
    json_decref(j);
    /* No secret, no signature. */
    q = rx_find("/500");
    assert_string_equal(q->idem, "idem-2");
    assert_string_equal(q->sig, "");
    assert_string_equal(q->ts, "");
    pthread_mutex_unlock(&rx.mu);

    notifier_stop(n);
    MHD_stop_daemon(d);
    results_destroy(&rs);
    free(u200);
    free(u500);
    free(u429);
    free(u404);
    free(u408);
    free(refused);
}

static void test_webhook_inflight_and_timeout(void **state)
{
    (void)state;
    int port;
    struct MHD_Daemon *d = rx_start(&port);
    struct results rs;
    results_init(&rs);
    char err[128];
    struct notifier *n = notifier_start(on_result, &rs, 2, err, sizeof(err));
    assert_non_null(n);

    struct cfg_channel ch = channel(CHANNEL_WEBHOOK);
    char *urls[6];
    for (int i = 0; i < 6; i++) {
        char path[16];
        snprintf(path, sizeof(path), "/slow%d", i);
        urls[i] = url_for(port, path);
        assert_int_equal(notifier_send(n, make_msg(&ch, urls[i], "k", 100 + i, NULL)), 0);
    }
    assert_int_equal(results_wait(&rs, 6, 10000), 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(result_for(&rs, 100 + i)->outcome, NOTIFY_DELIVERED);
    /* Two at a time: never more, and the second slot was used. */
    pthread_mutex_lock(&rx.mu);
    assert_int_equal(rx.max_concurrent, 2);
    /* Started in order: the first two requests were the first two sent. */
    assert_true(strcmp(rx.reqs[0].path, "/slow0") == 0 || strcmp(rx.reqs[0].path, "/slow1") == 0);
    assert_true(strcmp(rx.reqs[1].path, "/slow0") == 0 || strcmp(rx.reqs[1].path, "/slow1") == 0);
    pthread_mutex_unlock(&rx.mu);
    for (int i = 0; i < 6; i++)
        free(urls[i]);

    /* A receiver slower than the channel's timeout. */
    ch.timeout_ms = 300;
    char *hang = url_for(port, "/hang");
    assert_int_equal(notifier_send(n, make_msg(&ch, hang, "k", 200, NULL)), 0);
    assert_int_equal(results_wait(&rs, 7, 5000), 7);
    const struct notify_result *r = result_for(&rs, 200);
    assert_int_equal(r->outcome, NOTIFY_RETRY);
    assert_string_equal(r->detail, "timeout after 300 ms");
    assert_true(r->duration_ms >= 250 && r->duration_ms < 900);
    free(hang);

    notifier_stop(n);
    MHD_stop_daemon(d);
    results_destroy(&rs);
}

/* ---- the thread: commands ---- */

static char tmpdir[64];

static void write_script(const char *name, const char *body)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}

static char *read_file(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_commands(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tocsin-notify-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char script[512];
    snprintf(script, sizeof(script),
             "env > %s/env.txt\n"
             "cat > %s/stdin.txt\n"
             "printf '%%s|%%s|%%s' \"$#\" \"$1\" \"$2\" > %s/args.txt\n"
             "echo 'sent to gateway'\n",
             tmpdir, tmpdir, tmpdir);
    write_script("ok.sh", script);
    write_script("busy.sh", "echo 'gateway busy'\nexit 75\n");
    write_script("bad.sh", "echo '' ; echo 'bad number' >&2\nexit 1\n");
    write_script("slow.sh", "sleep 5\n");
    /* The environment must not leak into commands. */
    setenv("TOCSIN_TEST_LEAK", "leaked", 1);

    struct results rs;
    results_init(&rs);
    char err[128];
    struct notifier *n = notifier_start(on_result, &rs, 0, err, sizeof(err));
    assert_non_null(n);

    char cmd[5][256];
    snprintf(cmd[0], sizeof(cmd[0]), "\"%s/ok.sh\" \"two words\"  plain", tmpdir);
    snprintf(cmd[1], sizeof(cmd[1]), "%s/busy.sh", tmpdir);
    snprintf(cmd[2], sizeof(cmd[2]), "%s/bad.sh", tmpdir);
    snprintf(cmd[3], sizeof(cmd[3]), "%s/slow.sh", tmpdir);
    snprintf(cmd[4], sizeof(cmd[4]), "%s/missing-program", tmpdir);
    struct cfg_channel ch[6];
    for (int i = 0; i < 5; i++) {
        ch[i] = channel(CHANNEL_COMMAND);
        ch[i].command = cmd[i];
    }
    ch[3].timeout_ms = 300;
    ch[5] = channel(CHANNEL_COMMAND);
    ch[5].command = "\"unbalanced";
    for (int i = 0; i < 6; i++)
        assert_int_equal(
            notifier_send(n, make_msg(&ch[i], "+4915112345678", "idem-c", 10 + i, NULL)), 0);
    assert_int_equal(results_wait(&rs, 6, 10000), 6);

    const struct notify_result *r = result_for(&rs, 10);
    assert_int_equal(r->outcome, NOTIFY_DELIVERED);
    assert_string_equal(r->detail, "exit 0: sent to gateway");
    r = result_for(&rs, 11);
    assert_int_equal(r->outcome, NOTIFY_RETRY);
    assert_string_equal(r->detail, "exit 75: gateway busy");
    r = result_for(&rs, 12);
    assert_int_equal(r->outcome, NOTIFY_FAILED);
    assert_string_equal(r->detail, "exit 1: bad number");
    r = result_for(&rs, 13);
    assert_int_equal(r->outcome, NOTIFY_RETRY);
    assert_string_equal(r->detail, "timeout after 300 ms");
    assert_true(r->duration_ms >= 290 && r->duration_ms < 3000);
    r = result_for(&rs, 14);
    assert_int_equal(r->outcome, NOTIFY_FAILED);
    assert_non_null(strstr(r->detail, "No such file"));
    r = result_for(&rs, 15);
    assert_int_equal(r->outcome, NOTIFY_FAILED);
    assert_string_equal(r->detail, "invalid command line");

    /* What the successful command got. */
    char *env = read_file("env.txt");
    assert_non_null(env);
    assert_non_null(strstr(env, "TOCSIN_TO=+4915112345678\n"));
    assert_non_null(strstr(env,
                           "TOCSIN_SUBJECT=[Tocsin] INC-12 triggered: Disk full <db1> & co (P1, "
                           "critical)\n"));
    assert_non_null(strstr(env, "TOCSIN_TEXT=Disk full on db1\nINC-12: "));
    assert_non_null(strstr(env, "TOCSIN_KIND=incident.triggered\n"));
    assert_non_null(strstr(env, "TOCSIN_INCIDENT_ID=12\n"));
    assert_non_null(strstr(env, "TOCSIN_INCIDENT_NUMBER=INC-12\n"));
    assert_non_null(strstr(env, "TOCSIN_ACK_URL=http://tocsin.example/a/ACK\n"));
    assert_non_null(strstr(env, "TOCSIN_RESOLVE_URL=http://tocsin.example/a/RES\n"));
    assert_non_null(strstr(env, "TOCSIN_IDEMPOTENCY_KEY=idem-c\n"));
    assert_non_null(strstr(env, "PATH="));
    assert_null(strstr(env, "TOCSIN_TEST_LEAK"));
    free(env);
    char *args = read_file("args.txt");
    assert_non_null(args);
    assert_string_equal(args, "2|two words|plain");
    free(args);
    char *in = read_file("stdin.txt");
    assert_non_null(in);
    struct cfg_channel c0 = ch[0];
    struct notify_msg *m = make_msg(&c0, "+4915112345678", "idem-c", 1, NULL);
    char *want = render(m, 0, NULL);
    assert_string_equal(in, want);
    free(want);
    notify_msg_free(m);
    free(in);

    notifier_stop(n);
    results_destroy(&rs);
    unsetenv("TOCSIN_TEST_LEAK");
    char rm[128];
    snprintf(rm, sizeof(rm), "rm -rf %s", tmpdir);
    assert_int_equal(system(rm), 0);
}

/* ---- the thread: mail ---- */

/* A scripted SMTP server for one connection: rcpt_reply answers RCPT TO,
 * and the DATA it receives is kept as sent on the wire. */
struct smtp_server {
    int lfd, port;
    const char *rcpt_reply;
    char data[16384];
    size_t data_len;
    pthread_t thread;
};

static bool smtp_line(int fd, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return false;
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = '\0';
    return true;
}

static void smtp_say(int fd, const char *s)
{
    ssize_t w = write(fd, s, strlen(s));
    (void)w;
}

static void *smtp_main(void *arg)
{
    struct smtp_server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char line[1024];
    smtp_say(fd, "220 test ESMTP\r\n");
    while (smtp_line(fd, line, sizeof(line))) {
        if (strncmp(line, "EHLO", 4) == 0) {
            smtp_say(fd, "250 test\r\n");
        } else if (strncmp(line, "MAIL FROM", 9) == 0) {
            smtp_say(fd, "250 ok\r\n");
        } else if (strncmp(line, "RCPT TO", 7) == 0) {
            smtp_say(fd, s->rcpt_reply);
        } else if (strncmp(line, "DATA", 4) == 0) {
            smtp_say(fd, "354 go ahead\r\n");
            while (smtp_line(fd, line, sizeof(line)) && strcmp(line, ".\r\n") != 0) {
                size_t l = strlen(line);
                if (s->data_len + l < sizeof(s->data)) {
                    memcpy(s->data + s->data_len, line, l);
                    s->data_len += l;
                }
            }
            smtp_say(fd, "250 queued\r\n");
        } else if (strncmp(line, "QUIT", 4) == 0) {
            smtp_say(fd, "221 bye\r\n");
            break;
        } else {
            smtp_say(fd, "502 no\r\n");
        }
    }
    close(fd);
    return NULL;
}

static void smtp_start(struct smtp_server *s, const char *rcpt_reply)
{
    memset(s, 0, sizeof(*s));
    s->rcpt_reply = rcpt_reply;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 4), 0);
    socklen_t al = sizeof(a);
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, smtp_main, s);
}

static void smtp_stop(struct smtp_server *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    close(s->lfd);
}

static void test_mail(void **state)
{
    (void)state;
    struct results rs;
    results_init(&rs);
    char err[128];
    struct notifier *n = notifier_start(on_result, &rs, 0, err, sizeof(err));
    assert_non_null(n);

    struct smtp_server ok, busy, reject;
    smtp_start(&ok, "250 ok\r\n");
    smtp_start(&busy, "450 mailbox busy\r\n");
    smtp_start(&reject, "550 no such user\r\n");
    char urls[4][64];
    snprintf(urls[0], sizeof(urls[0]), "smtp://127.0.0.1:%d", ok.port);
    snprintf(urls[1], sizeof(urls[1]), "smtp://127.0.0.1:%d", busy.port);
    snprintf(urls[2], sizeof(urls[2]), "smtp://127.0.0.1:%d", reject.port);
    snprintf(urls[3], sizeof(urls[3]), "smtp://127.0.0.1:%d", closed_port());
    struct cfg_channel ch[4];
    for (int i = 0; i < 4; i++) {
        ch[i] = channel(CHANNEL_SMTP);
        ch[i].url = urls[i];
        ch[i].from = "Tocsin <tocsin@example.org>";
        ch[i].tls = 0;
    }
    struct notify_msg *m = make_msg(&ch[0], "anna@example.org", "mail-1", 20, NULL);
    json_object_set_new(m->payload, "text", json_string(".dot line\n..two dots"));
    assert_int_equal(notifier_send(n, m), 0);
    for (int i = 1; i < 4; i++)
        assert_int_equal(
            notifier_send(n, make_msg(&ch[i], "anna@example.org", "mail-x", 20 + i, NULL)), 0);
    assert_int_equal(results_wait(&rs, 4, 10000), 4);

    const struct notify_result *r = result_for(&rs, 20);
    assert_int_equal(r->outcome, NOTIFY_DELIVERED);
    assert_string_equal(r->detail, "SMTP 250");
    r = result_for(&rs, 21);
    assert_int_equal(r->outcome, NOTIFY_RETRY);
    assert_non_null(strstr(r->detail, "SMTP 450"));
    r = result_for(&rs, 22);
    assert_int_equal(r->outcome, NOTIFY_FAILED);
    assert_non_null(strstr(r->detail, "SMTP 550"));
    r = result_for(&rs, 23);
    assert_int_equal(r->outcome, NOTIFY_RETRY);
    assert_string_equal(r->detail, "connection refused");
    notifier_stop(n);

    smtp_stop(&ok);
    smtp_stop(&busy);
    smtp_stop(&reject);
    ok.data[ok.data_len] = '\0';
    assert_non_null(strstr(ok.data, "Message-ID: <mail-1@tocsin>\r\n"));
    /* curl stuffed the dots once: the reader will see them as written. */
    assert_non_null(strstr(ok.data, "\r\n\r\n..dot line\r\n...two dots\r\n"));
    results_destroy(&rs);
}

/* ---- the thread: stopping ---- */

static void test_stop_in_flight(void **state)
{
    (void)state;
    int port;
    struct MHD_Daemon *d = rx_start(&port);
    struct results rs;
    results_init(&rs);
    char err[128];
    struct notifier *n = notifier_start(on_result, &rs, 1, err, sizeof(err));
    assert_non_null(n);
    struct cfg_channel web = channel(CHANNEL_WEBHOOK), cmd = channel(CHANNEL_COMMAND);
    cmd.command = "/bin/sleep 10";
    char *hang = url_for(port, "/hang");
    assert_int_equal(notifier_send(n, make_msg(&cmd, "x", "k", 1, NULL)), 0);
    assert_int_equal(notifier_send(n, make_msg(&web, hang, "k", 2, NULL)), 0);
    usleep(100 * 1000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    notifier_stop(n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* No callbacks, and no waiting for the child or the receiver. */
    assert_int_equal(rs.n, 0);
    assert_true(t1.tv_sec - t0.tv_sec < 2);
    MHD_stop_daemon(d);
    results_destroy(&rs);
    free(hang);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    assert_true(sodium_init() >= 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_paths),
        cmocka_unit_test(test_template_missing_and_types),
        cmocka_unit_test(test_template_escapes),
        cmocka_unit_test(test_template_bounds),
        cmocka_unit_test(test_render_generic),
        cmocka_unit_test(test_render_slack),
        cmocka_unit_test(test_render_teams),
        cmocka_unit_test(test_render_mail),
        cmocka_unit_test(test_render_mail_rfc2047_and_long_lines),
        cmocka_unit_test(test_render_digest_and_command),
        cmocka_unit_test(test_sign),
        cmocka_unit_test(test_action_link_roundtrip),
        cmocka_unit_test(test_action_link_tamper),
        cmocka_unit_test(test_webhook_outcomes),
        cmocka_unit_test(test_webhook_inflight_and_timeout),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_mail),
        cmocka_unit_test(test_stop_in_flight),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
