/*
 * fuzz_template.c - libFuzzer target for notification templates, which are
 * written by whoever edits the configuration and filled with incident fields
 * that come from alert senders. The input is a template, used on its own and
 * as the subject and body of a mail, a Slack and a command channel over a
 * fixed payload. Besides memory errors it checks: the result is bounded; a
 * template without "{{" comes back unchanged; a mail message keeps CRLF line
 * ends, lines within RFC 5322's 998 bytes and no header the template made
 * up; a Slack body is valid JSON.
 */
#include "notify/notify.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_payload[] =
    "{\"kind\": \"incident.triggered\", \"text\": \"Disk full\\non db1\","
    " \"incident\": {\"id\": 12, \"number\": \"INC-12\", \"title\": \"T\\u00e4st <x> & \\\"y\\\"\","
    "   \"severity\": \"critical\", \"priority\": \"P1\", \"service\": null, \"ratio\": 0.25},"
    " \"user\": \"anna\", \"level\": 1,"
    " \"links\": {\"acknowledge\": \"http://t.example/a/A\", \"resolve\": "
    "\"http://t.example/a/R\"},"
    " \"digest\": {\"incidents\": [{\"number\": \"INC-13\", \"title\": \"\\r\\nBcc: x\"}]}}";

static json_t *payload;

static const char *const mail_headers[] = {"From: ",           "To: ",
                                           "Subject: ",        "Date: ",
                                           "Message-ID: ",     "MIME-Version: ",
                                           "Content-Type: ",   "Content-Transfer-Encoding: ",
                                           "Auto-Submitted: ", " "};

static void check_mail(const char *msg, size_t len)
{
    size_t col = 0;
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
            abort();
        if (msg[i] == '\r' && msg[i + 1] != '\n')
            abort();
        col = msg[i] == '\n' ? 0 : col + 1;
        if (col > 998)
            abort();
    }
    /* Every header line is one we write, or the folded rest of one. */
    const char *end = strstr(msg, "\r\n\r\n");
    if (!end)
        abort();
    for (const char *line = msg; line < end;) {
        size_t k, n = sizeof(mail_headers) / sizeof(mail_headers[0]);
        for (k = 0; k < n; k++)
            if (strncmp(line, mail_headers[k], strlen(mail_headers[k])) == 0)
                break;
        if (k == n)
            abort();
        line = strstr(line, "\r\n") + 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!payload)
        payload = json_loads(fuzz_payload, 0, NULL);
    if (!payload)
        abort();
    char *tmpl = malloc(size + 1);
    if (!tmpl)
        return 0;
    memcpy(tmpl, data, size);
    tmpl[size] = '\0';

    char *out = notify_template(tmpl, payload);
    if (!out)
        abort();
    size_t olen = strlen(out);
    if (olen > 65536)
        abort();
    if (!strstr(tmpl, "{{") && strlen(tmpl) <= 65536 && strcmp(out, tmpl) != 0)
        abort();
    free(out);

    struct cfg_channel mail = {
        .name = "m", .type = CHANNEL_SMTP, .from = "t@example.org", .subject = tmpl, .body = tmpl};
    struct cfg_channel slack = {.name = "s",
                                .type = CHANNEL_WEBHOOK,
                                .format = WEBHOOK_SLACK,
                                .subject = tmpl,
                                .body = tmpl};
    struct cfg_channel cmd = {
        .name = "c", .type = CHANNEL_COMMAND, .command = "/bin/true", .body = tmpl};
    struct notify_msg m = {
        .id = 1, .attempt = 1, .to = "anna@example.org", .idem_key = "k 1", .payload = payload};
    char *body;
    size_t len;
    const char *ctype;
    m.ch = &mail;
    if (notify_render(&m, 1700000000000, &body, &len, &ctype) != 0)
        abort();
    check_mail(body, len);
    free(body);

    m.ch = &slack;
    if (notify_render(&m, 0, &body, &len, &ctype) != 0)
        abort();
    json_t *j = json_loadb(body, len, 0, NULL);
    if (!j)
        abort();
    json_decref(j);
    free(body);

    m.ch = &cmd;
    if (notify_render(&m, 0, &body, &len, &ctype) != 0 || len == 0 || body[len - 1] != '\n')
        abort();
    free(body);
    free(tmpl);
    return 0;
}
