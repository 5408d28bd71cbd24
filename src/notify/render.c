/*
 * render.c - what a notification says and how it is framed for each channel:
 * templates, default subjects and texts, the webhook bodies (generic JSON,
 * Slack, Teams), the RFC 5322 mail message and the webhook signature.
 *
 * Everything here is a pure function of the message and `now`, so the API
 * can preview a notification and tests can check every byte. Text that ends
 * up in a mail header is made single-line here (a title with a newline must
 * not become a header of its own), and text that ends up in JSON is made
 * valid UTF-8 (jansson refuses anything else, and a template may cut or
 * contain broken sequences).
 */
#include "notify.h"
#include "notify_int.h"

#include "../base/timefmt.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOTIFY_SUBJECT_MAX     256  /* bytes of a subject before encoding */
#define NOTIFY_PATH_MAX        255  /* longest {{path}} */
#define NOTIFY_MAIL_LINE       900  /* body lines are cut below the 998 of RFC 5322 */
#define NOTIFY_SLACK_TEXT_MAX  2900 /* Slack allows 3000 characters in a section */
#define NOTIFY_DIGEST_LIST_MAX 50   /* incidents listed in a digest's default text */
#define NOTIFY_B64_WORD_RAW    45   /* bytes per encoded word: 60 base64 chars, 72 in all */

/* ---- a growing string ---- */

/*
 * A string built piece by piece. max > 0 bounds it: the piece that would
 * cross the bound is cut at a UTF-8 character boundary and everything after
 * it is dropped, so a cut result never ends in half a character or in a
 * splice of unrelated later pieces.
 */
struct notify_buf {
    char *p; /* owned; NUL-terminated when not NULL */
    size_t len, cap, max;
    bool full; /* cut at max; later pieces are dropped */
    bool oom;
};

static void notify_buf_add(struct notify_buf *b, const char *s, size_t n)
{
    if (b->oom || b->full)
        return;
    if (b->max && n > b->max - b->len) {
        size_t room = b->max - b->len;
        while (room > 0 && ((unsigned char)s[room] & 0xC0) == 0x80)
            room--;
        n = room;
        b->full = true;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void notify_buf_str(struct notify_buf *b, const char *s)
{
    notify_buf_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void notify_buf_fmt(struct notify_buf *b,
                                                                 const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        notify_buf_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    notify_buf_add(b, big, (size_t)n);
    free(big);
}

/* Hands the string over (never NULL unless out of memory). */
static char *notify_buf_take(struct notify_buf *b, size_t *len)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    char *s = b->p ? b->p : strdup("");
    if (len && s)
        *len = b->len;
    b->p = NULL;
    return s;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t notify_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

/* Replaces every byte that does not start a valid sequence with '?'. */
static void notify_utf8_fix(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t l = notify_utf8_len((const unsigned char *)s + i, n - i);
        if (l == 0) {
            s[i++] = '?';
        } else {
            i += l;
        }
    }
}

/* Cuts s to at most max bytes without splitting a character. */
static void notify_utf8_cut(char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    s[max] = '\0';
}

/* ---- templates ---- */

static bool notify_path_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* The value at a dotted path of len bytes; array elements by decimal index. */
static const json_t *notify_lookup(const json_t *v, const char *path, size_t len)
{
    size_t i = 0;
    while (v) {
        size_t j = i;
        while (j < len && path[j] != '.')
            j++;
        if (j == i)
            return NULL; /* empty segment: "a..b", ".a", "a." */
        if (json_is_object(v)) {
            v = json_object_getn(v, path + i, j - i);
        } else if (json_is_array(v) && j - i <= 6) {
            size_t idx = 0;
            for (size_t k = i; k < j; k++) {
                if (path[k] < '0' || path[k] > '9')
                    return NULL;
                idx = idx * 10 + (size_t)(path[k] - '0');
            }
            v = json_array_get(v, idx);
        } else {
            return NULL;
        }
        if (j == len)
            return v;
        i = j + 1;
    }
    return NULL;
}

const char *notify_payload_str(const json_t *payload, const char *path)
{
    return json_string_value(notify_lookup(payload, path, strlen(path)));
}

/* Writes a scalar as text; objects, arrays, null and missing write nothing. */
static void notify_buf_value(struct notify_buf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        /* A string made with json_stringn may hold NUL bytes; they would end
         * the result early, so they are skipped. */
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), start = 0;
        for (size_t i = 0; i <= n; i++) {
            if (i == n || s[i] == '\0') {
                notify_buf_add(b, s + start, i - start);
                start = i + 1;
            }
        }
        break;
    }
    case JSON_INTEGER:
        notify_buf_fmt(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        notify_buf_fmt(b, "%.15g", json_real_value(v));
        break;
    case JSON_TRUE:
        notify_buf_str(b, "true");
        break;
    case JSON_FALSE:
        notify_buf_str(b, "false");
        break;
    default:
        break;
    }
}

/*
 * Parses the placeholder after "{{" at s: optional spaces, a path of
 * [A-Za-z0-9_.-], optional spaces, "}}". Returns the bytes consumed after the
 * "{{", or 0 when s does not hold a placeholder (it is then copied as text).
 */
static size_t notify_placeholder(struct notify_buf *b, const char *s, const json_t *payload)
{
    size_t i = 0;
    while (s[i] == ' ')
        i++;
    size_t start = i;
    while (notify_path_char(s[i]) && i - start <= NOTIFY_PATH_MAX)
        i++;
    size_t plen = i - start;
    if (plen == 0 || plen > NOTIFY_PATH_MAX)
        return 0;
    while (s[i] == ' ')
        i++;
    if (s[i] != '}' || s[i + 1] != '}')
        return 0;
    const json_t *v = notify_lookup(payload, s + start, plen);
    if (v)
        notify_buf_value(b, v);
    return i + 2;
}

char *notify_template(const char *tmpl, const json_t *payload)
{
    struct notify_buf b = {.max = NOTIFY_TEMPLATE_MAX};
    const char *p = tmpl ? tmpl : "";
    while (*p && !b.full) {
        const char *open = strstr(p, "{{");
        if (!open) {
            notify_buf_str(&b, p);
            break;
        }
        notify_buf_add(&b, p, (size_t)(open - p));
        if (open[2] == '{' && open[3] == '{') {
            notify_buf_add(&b, "{{", 2);
            p = open + 4;
            continue;
        }
        size_t used = notify_placeholder(&b, open + 2, payload);
        if (used) {
            p = open + 2 + used;
        } else {
            notify_buf_add(&b, "{{", 2);
            p = open + 2;
        }
    }
    return notify_buf_take(&b, NULL);
}

/* ---- subject and text ---- */

static const char *notify_str(const json_t *payload, const char *path)
{
    const char *s = notify_payload_str(payload, path);
    return s && *s ? s : NULL;
}

static const char *notify_kind(const json_t *payload)
{
    const char *k = notify_str(payload, "kind");
    return k ? k : "notification";
}

/* "triggered" for "incident.triggered"; other kinds as they are. */
static const char *notify_kind_verb(const char *kind)
{
    return strncmp(kind, "incident.", 9) == 0 && kind[9] ? kind + 9 : kind;
}

/* "INC-12", else "incident 12", else "incident". */
static void notify_buf_incident_name(struct notify_buf *b, const json_t *payload)
{
    const char *number = notify_str(payload, "incident.number");
    const json_t *id = notify_lookup(payload, "incident.id", 11);
    if (number)
        notify_buf_str(b, number);
    else if (json_is_integer(id))
        notify_buf_fmt(b, "incident %" JSON_INTEGER_FORMAT, json_integer_value(id));
    else
        notify_buf_str(b, "incident");
}

static void notify_buf_default_subject(struct notify_buf *b, const json_t *payload)
{
    const char *kind = notify_kind(payload);
    notify_buf_str(b, "[Tocsin] ");
    if (strcmp(kind, "digest") == 0) {
        const json_t *count = notify_lookup(payload, "digest.count", 12);
        const char *label = notify_str(payload, "digest.label");
        if (json_is_integer(count))
            notify_buf_fmt(b, "%" JSON_INTEGER_FORMAT " new incidents", json_integer_value(count));
        else
            notify_buf_str(b, "new incidents");
        if (label)
            notify_buf_fmt(b, " (%s)", label);
        return;
    }
    if (strcmp(kind, "test") == 0) {
        notify_buf_str(b, "test notification");
        return;
    }
    notify_buf_incident_name(b, payload);
    notify_buf_fmt(b, " %s", notify_kind_verb(kind));
    const char *title = notify_str(payload, "incident.title");
    if (title)
        notify_buf_fmt(b, ": %s", title);
    const char *prio = notify_str(payload, "incident.priority");
    const char *sev = notify_str(payload, "incident.severity");
    if (prio && sev)
        notify_buf_fmt(b, " (%s, %s)", prio, sev);
    else if (prio || sev)
        notify_buf_fmt(b, " (%s)", prio ? prio : sev);
}

char *notify_subject(const struct notify_msg *m)
{
    char *s;
    if (m->ch && m->ch->subject) {
        s = notify_template(m->ch->subject, m->payload);
    } else {
        struct notify_buf b = {.max = NOTIFY_TEMPLATE_MAX};
        notify_buf_default_subject(&b, m->payload);
        s = notify_buf_take(&b, NULL);
    }
    if (!s)
        return NULL;
    /* One line: a newline from a title or template would start a new mail
     * header; tabs and other controls are flattened along with it. */
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    notify_utf8_fix(s);
    notify_utf8_cut(s, NOTIFY_SUBJECT_MAX);
    return s;
}

static void notify_buf_line(struct notify_buf *b, const char *label, const char *value)
{
    if (value)
        notify_buf_fmt(b, "%s: %s\n", label, value);
}

static void notify_buf_links(struct notify_buf *b, const json_t *payload)
{
    const char *ack = notify_str(payload, "links.acknowledge");
    const char *res = notify_str(payload, "links.resolve");
    const char *inc = notify_str(payload, "links.incident");
    if (ack || res || inc)
        notify_buf_str(b, "\n");
    notify_buf_line(b, "Acknowledge", ack);
    notify_buf_line(b, "Resolve", res);
    notify_buf_line(b, "Incident", inc);
}

static void notify_buf_default_text(struct notify_buf *b, const json_t *payload, bool with_links)
{
    const char *text = notify_str(payload, "text");
    if (text) {
        notify_buf_str(b, text);
        notify_buf_str(b, "\n");
    }
    if (strcmp(notify_kind(payload), "digest") == 0) {
        if (!text) {
            notify_buf_default_subject(b, payload);
            notify_buf_str(b, "\n");
        }
        const json_t *list = notify_lookup(payload, "digest.incidents", 16);
        size_t n = json_array_size(list);
        for (size_t i = 0; i < n && i < NOTIFY_DIGEST_LIST_MAX; i++) {
            const json_t *it = json_array_get(list, i);
            const char *num = json_string_value(json_object_get(it, "number"));
            const char *title = json_string_value(json_object_get(it, "title"));
            notify_buf_fmt(b, "- %s: %s\n", num ? num : "?", title ? title : "");
        }
        if (n > NOTIFY_DIGEST_LIST_MAX)
            notify_buf_fmt(b, "- and %zu more\n", n - NOTIFY_DIGEST_LIST_MAX);
    } else if (json_is_object(json_object_get(payload, "incident"))) {
        notify_buf_incident_name(b, payload);
        const char *title = notify_str(payload, "incident.title");
        notify_buf_fmt(b, ": %s\n", title ? title : "");
        const char *fields[][2] = {
            {"Status", "incident.status"},     {"Severity", "incident.severity"},
            {"Priority", "incident.priority"}, {"Urgency", "incident.urgency"},
            {"Service", "incident.service"},   {"Created", "incident.created_at"}};
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
            notify_buf_line(b, fields[i][0], notify_str(payload, fields[i][1]));
    }
    const char *user = notify_str(payload, "user");
    const json_t *level = json_object_get(payload, "level");
    if (user && json_is_integer(level))
        notify_buf_fmt(b, "Notified: %s (escalation level %" JSON_INTEGER_FORMAT ")\n", user,
                       json_integer_value(level));
    else
        notify_buf_line(b, "Notified", user);
    if (with_links)
        notify_buf_links(b, payload);
}

char *notify_text(const struct notify_msg *m, bool with_links)
{
    char *s;
    if (m->ch && m->ch->body) {
        s = notify_template(m->ch->body, m->payload);
    } else {
        struct notify_buf b = {.max = NOTIFY_TEMPLATE_MAX};
        notify_buf_default_text(&b, m->payload, with_links);
        s = notify_buf_take(&b, NULL);
    }
    if (s)
        notify_utf8_fix(s);
    return s;
}

/* ---- webhooks ---- */

static char *notify_json_dump(json_t *root, size_t *len)
{
    if (!root)
        return NULL;
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (s)
        *len = strlen(s);
    return s;
}

static char *notify_render_generic(const struct notify_msg *m, int64_t now, size_t *len)
{
    if (!json_is_object(m->payload))
        return NULL;
    char *text = m->ch && m->ch->body ? notify_text(m, true) : NULL;
    char *subject = notify_subject(m);
    json_t *root = json_deep_copy(m->payload);
    char ts[40];
    int err = !subject || (m->ch && m->ch->body && !text) || !root;
    if (!err) {
        err |= json_object_set_new(root, "event", json_string(notify_kind(m->payload)));
        err |= json_object_set_new(root, "subject", json_string(subject));
        /* The engine's one-line text stays unless a body template replaces it;
         * a payload without one gets the subject. */
        if (text)
            err |= json_object_set_new(root, "text", json_string(text));
        else if (!json_is_string(json_object_get(root, "text")))
            err |= json_object_set_new(root, "text", json_string(subject));
        err |= json_object_set_new(root, "idempotency_key",
                                   m->idem_key ? json_string(m->idem_key) : json_null());
        err |= json_object_set_new(root, "sent_at",
                                   json_string(timefmt_format_rfc3339(now, ts, sizeof(ts))));
    }
    free(text);
    free(subject);
    if (err) {
        json_decref(root);
        return NULL;
    }
    return notify_json_dump(root, len);
}

/* Slack's mrkdwn treats &, < and > as markup; everything else is literal. */
static void notify_buf_slack_escape(struct notify_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            notify_buf_str(b, "&amp;");
            break;
        case '<':
            notify_buf_str(b, "&lt;");
            break;
        case '>':
            notify_buf_str(b, "&gt;");
            break;
        default:
            notify_buf_add(b, s, 1);
        }
    }
}

/* Adds a url button for links.<key> to a Slack actions element array. */
static int notify_slack_button(json_t *elements, const json_t *payload, const char *key,
                               const char *label, const char *style)
{
    char path[32];
    snprintf(path, sizeof(path), "links.%s", key);
    const char *url = notify_str(payload, path);
    if (!url)
        return 0;
    json_t *btn = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s}", "type", "button", "text", "type",
                            "plain_text", "text", label, "url", url, "action_id", key);
    if (btn && style)
        json_object_set_new(btn, "style", json_string(style));
    return json_array_append_new(elements, btn);
}

static char *notify_render_slack(const struct notify_msg *m, size_t *len)
{
    char *subject = notify_subject(m);
    char *text = notify_text(m, false);
    char *mrkdwn = NULL;
    json_t *root = NULL;
    if (subject && text) {
        struct notify_buf b = {.max = NOTIFY_SLACK_TEXT_MAX};
        notify_buf_str(&b, "*");
        notify_buf_slack_escape(&b, subject);
        notify_buf_str(&b, "*\n");
        notify_buf_slack_escape(&b, text);
        mrkdwn = notify_buf_take(&b, NULL);
    }
    if (mrkdwn) {
        json_t *elements = json_array();
        int err = !elements;
        if (!err) {
            err |=
                notify_slack_button(elements, m->payload, "acknowledge", "Acknowledge", "danger");
            err |= notify_slack_button(elements, m->payload, "resolve", "Resolve", "primary");
            err |= notify_slack_button(elements, m->payload, "incident", "Open incident", NULL);
        }
        json_t *blocks = json_pack("[{s:s, s:{s:s, s:s}}]", "type", "section", "text", "type",
                                   "mrkdwn", "text", mrkdwn);
        if (!err && blocks && json_array_size(elements) > 0)
            err |= json_array_append_new(
                blocks, json_pack("{s:s, s:O}", "type", "actions", "elements", elements));
        if (!err && blocks)
            root = json_pack("{s:s, s:o}", "text", subject, "blocks", blocks);
        else
            json_decref(blocks);
        json_decref(elements);
    }
    free(subject);
    free(text);
    free(mrkdwn);
    return notify_json_dump(root, len);
}

/* Teams' card accent: red for critical, orange for error, amber for warning,
 * blue otherwise, green once resolved. */
static const char *notify_teams_color(const json_t *payload)
{
    if (strcmp(notify_kind(payload), "incident.resolved") == 0)
        return "2EB886";
    const char *sev = notify_str(payload, "incident.severity");
    if (!sev)
        return "0076D7";
    if (strcmp(sev, "critical") == 0)
        return "D13438";
    if (strcmp(sev, "error") == 0)
        return "E8590C";
    if (strcmp(sev, "warning") == 0)
        return "FFB900";
    return "0076D7";
}

static int notify_teams_action(json_t *actions, const json_t *payload, const char *key,
                               const char *label)
{
    char path[32];
    snprintf(path, sizeof(path), "links.%s", key);
    const char *url = notify_str(payload, path);
    if (!url)
        return 0;
    return json_array_append_new(actions,
                                 json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "@type", "OpenUri", "name",
                                           label, "targets", "os", "default", "uri", url));
}

static char *notify_render_teams(const struct notify_msg *m, size_t *len)
{
    char *subject = notify_subject(m);
    char *text = notify_text(m, false);
    json_t *root = NULL;
    if (subject && text) {
        /* The card's text is Markdown, where a single newline does not break
         * the line: every line becomes a paragraph. */
        struct notify_buf b = {0};
        for (const char *p = text; *p; p++) {
            if (*p == '\n')
                notify_buf_str(&b, "\n\n");
            else
                notify_buf_add(&b, p, 1);
        }
        char *md = notify_buf_take(&b, NULL);
        json_t *actions = json_array();
        int err = !md || !actions;
        if (!err) {
            err |= notify_teams_action(actions, m->payload, "acknowledge", "Acknowledge");
            err |= notify_teams_action(actions, m->payload, "resolve", "Resolve");
            err |= notify_teams_action(actions, m->payload, "incident", "Open incident");
        }
        if (!err)
            root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "@type", "MessageCard",
                             "@context", "https://schema.org/extensions", "summary", subject,
                             "themeColor", notify_teams_color(m->payload), "title", subject, "text",
                             md, "potentialAction", actions);
        json_decref(actions);
        free(md);
    }
    free(subject);
    free(text);
    return notify_json_dump(root, len);
}

/* ---- mail ---- */

static bool notify_header_safe(const char *s)
{
    return s && *s && !strpbrk(s, "\r\n");
}

static bool notify_is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/*
 * "Subject: ..." with CRLF. Non-ASCII subjects become RFC 2047 encoded words
 * of at most 75 characters, split at character boundaries (a word must hold
 * whole characters) and folded onto continuation lines.
 */
static void notify_buf_subject_header(struct notify_buf *b, const char *subject)
{
    notify_buf_str(b, "Subject: ");
    if (notify_is_ascii(subject)) {
        notify_buf_str(b, subject);
        notify_buf_str(b, "\r\n");
        return;
    }
    size_t n = strlen(subject);
    bool first = true;
    for (size_t i = 0; i < n;) {
        size_t take = 0;
        while (i + take < n) {
            size_t l = notify_utf8_len((const unsigned char *)subject + i + take, n - i - take);
            if (l == 0)
                l = 1; /* cannot happen after notify_utf8_fix; keeps the loop finite */
            if (take + l > NOTIFY_B64_WORD_RAW)
                break;
            take += l;
        }
        char word[sodium_base64_ENCODED_LEN(NOTIFY_B64_WORD_RAW, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(word, sizeof(word), (const unsigned char *)subject + i, take,
                          sodium_base64_VARIANT_ORIGINAL);
        notify_buf_fmt(b, "%s=?UTF-8?B?%s?=", first ? "" : "\r\n ", word);
        first = false;
        i += take;
    }
    notify_buf_str(b, "\r\n");
}

/* RFC 5322 date in UTC, with English names whatever the locale. */
static void notify_buf_date(struct notify_buf *b, int64_t now)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(now / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof(tm));
    notify_buf_fmt(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday % 7],
                   tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                   tm.tm_sec);
}

/* The idempotency key as a Message-ID left part: characters outside the
 * dot-atom set would make the header unparsable, so they become '_'. */
static void notify_buf_msgid(struct notify_buf *b, const char *key)
{
    notify_buf_str(b, "Message-ID: <");
    for (const char *p = key && *key ? key : "tocsin"; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c && strchr("!#$%&'*+-/=?^_`{|}~.", c));
        notify_buf_add(b, ok ? p : "_", 1);
    }
    notify_buf_str(b, "@tocsin>\r\n");
}

/*
 * The body with CRLF line ends (a bare CR or LF is a line end too, so none
 * reaches the wire alone) and no line longer than NOTIFY_MAIL_LINE bytes:
 * longer ones are broken at a character boundary. Leading dots are left
 * alone: libcurl's SMTP upload doubles them itself (RFC 5321 4.5.2), and
 * doing it here as well would show two dots to the reader.
 */
static void notify_buf_mail_body(struct notify_buf *b, const char *text)
{
    size_t col = 0;
    for (const char *p = text; *p;) {
        if (*p == '\r' || *p == '\n') {
            notify_buf_str(b, "\r\n");
            col = 0;
            p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
            continue;
        }
        size_t l = notify_utf8_len((const unsigned char *)p, strlen(p));
        if (l == 0)
            l = 1;
        if (col + l > NOTIFY_MAIL_LINE) {
            notify_buf_str(b, "\r\n");
            col = 0;
        }
        notify_buf_add(b, p, l);
        col += l;
        p += l;
    }
    if (b->len < 2 || memcmp(b->p + b->len - 2, "\r\n", 2) != 0)
        notify_buf_str(b, "\r\n");
}

static char *notify_render_mail(const struct notify_msg *m, int64_t now, size_t *len)
{
    /* A CR or LF in an address would let it add headers of its own. */
    if (!m->ch || !notify_header_safe(m->ch->from) || !notify_header_safe(m->to))
        return NULL;
    char *subject = notify_subject(m);
    char *text = notify_text(m, true);
    char *out = NULL;
    if (subject && text) {
        struct notify_buf b = {0};
        notify_buf_fmt(&b, "From: %s\r\nTo: %s\r\n", m->ch->from, m->to);
        notify_buf_subject_header(&b, subject);
        notify_buf_date(&b, now);
        notify_buf_msgid(&b, m->idem_key);
        notify_buf_fmt(&b,
                       "MIME-Version: 1.0\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\n"
                       "Content-Transfer-Encoding: %s\r\n"
                       "Auto-Submitted: auto-generated\r\n"
                       "\r\n",
                       notify_is_ascii(text) ? "7bit" : "8bit");
        notify_buf_mail_body(&b, text);
        out = notify_buf_take(&b, len);
    }
    free(subject);
    free(text);
    return out;
}

/* ---- entry points ---- */

int notify_render(const struct notify_msg *m, int64_t now, char **body, size_t *len,
                  const char **content_type)
{
    *body = NULL;
    *len = 0;
    *content_type = NULL;
    if (!m || !m->ch || !m->payload)
        return -1;
    char *out = NULL;
    switch (m->ch->type) {
    case CHANNEL_WEBHOOK:
        *content_type = "application/json";
        if (m->ch->format == WEBHOOK_SLACK)
            out = notify_render_slack(m, len);
        else if (m->ch->format == WEBHOOK_TEAMS)
            out = notify_render_teams(m, len);
        else
            out = notify_render_generic(m, now, len);
        break;
    case CHANNEL_SMTP:
        *content_type = "message/rfc822";
        out = notify_render_mail(m, now, len);
        break;
    case CHANNEL_COMMAND: {
        *content_type = "text/plain; charset=utf-8";
        char *text = notify_text(m, true);
        if (text) {
            struct notify_buf b = {0};
            notify_buf_str(&b, text);
            if (b.len == 0 || b.p[b.len - 1] != '\n')
                notify_buf_str(&b, "\n");
            out = notify_buf_take(&b, len);
            free(text);
        }
        break;
    }
    }
    if (!out) {
        *content_type = NULL;
        *len = 0;
        return -1;
    }
    *body = out;
    return 0;
}

void notify_sign(const char *secret, int64_t ts_s, const char *body, size_t len, char *out)
{
    char ts[24];
    int tn = snprintf(ts, sizeof(ts), "%" PRId64 ".", ts_s);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)(secret ? secret : ""),
                                secret ? strlen(secret) : 0);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (size_t)tn);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
    memcpy(out, "sha256=", 7);
    sodium_bin2hex(out + 7, 2 * sizeof(mac) + 1, mac, sizeof(mac));
}
