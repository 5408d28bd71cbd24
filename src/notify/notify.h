/*
 * notify.h - delivery of notifications: webhooks (generic JSON, Slack,
 * Microsoft Teams), e-mail over SMTP and commands (SMS gateways, phone
 * calls), on a thread of their own.
 *
 * The notifier does not decide anything and keeps no durable state: the
 * engine owns the outbox (every notification is a row before it is sent),
 * hands each due row to notifier_send after its transaction committed, and
 * records the result notifier reports. A crash between the two leaves the row
 * pending, and the engine sends it again with the same idempotency key.
 *
 * THREAD SAFETY NOTES: notifier_send may be called from any thread; the
 * on_result callback runs on the notifier thread and must be quick.
 */
#ifndef TOCSIN_NOTIFY_H
#define TOCSIN_NOTIFY_H

#include "../config/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct notifier;

/*
 * One delivery attempt. payload is the message as the engine built it when
 * the outbox row was made (so a retry after a restart sends the same thing):
 *
 *   {"kind": "incident.triggered" | "incident.escalated" | "incident.acknowledged" |
 *            "incident.resolved" | "digest" | "test",
 *    "text": "one-line summary the engine wrote",
 *    "incident": {"id": 12, "number": "INC-12", "title": "...", "status": "triggered",
 *                 "severity": "critical", "priority": "P1", "urgency": "high",
 *                 "service": "shop" | null, "created_at": "RFC 3339", "url": "..."},
 *    "user": "anna" | null, "level": 1, "round": 1,
 *    "links": {"acknowledge": "URL", "resolve": "URL", "incident": "URL"}  (each optional),
 *    "digest": {"count": 12, "label": "site=stuttgart",
 *               "incidents": [{"number": "INC-13", "title": "..."} ...]}  (kind digest only)}
 */
struct notify_msg {
    int64_t id;                   /* outbox row id; echoed in the result */
    int attempt;                  /* 1-based; echoed */
    const struct cfg_channel *ch; /* borrowed; the config it belongs to outlives the send */
    char *to;                     /* owned; e-mail address, phone number or URL (webhook:
                                     NULL = ch->url) */
    char *idem_key;               /* owned; sent as Idempotency-Key (webhook), in the
                                     Message-ID (mail), as TOCSIN_IDEMPOTENCY_KEY (command) */
    json_t *payload;              /* owned reference */
};

enum notify_outcome {
    NOTIFY_DELIVERED = 0, /* 2xx, 250 after DATA, exit 0 */
    NOTIFY_RETRY = 1,     /* worth another try: network error, timeout, 5xx, 408, 429,
                             SMTP 4xx, command exit 75 (EX_TEMPFAIL), killed by a signal */
    NOTIFY_FAILED = 2,    /* will not work by retrying: other 4xx, SMTP 5xx, other exit codes,
                             missing program */
};

struct notify_result {
    int64_t id;
    int attempt;
    enum notify_outcome outcome;
    char detail[256]; /* "HTTP 200", "connection refused", "exit 3: <first line>" */
    int64_t duration_ms;
    int64_t retry_after_ms; /* a 429/503 Retry-After, else 0 */
};

/*
 * Starts the notifier thread. on_result(r, arg) is called once for every
 * message notifier_send accepted, on the notifier thread; it may call
 * notifier_send but not notifier_stop. max_inflight bounds deliveries
 * running at once (0 = 256); more wait in order. Returns NULL with a message
 * in err on failure. curl_global_init must have been called (main does).
 */
struct notifier *notifier_start(void (*on_result)(const struct notify_result *r, void *arg),
                                void *arg, int max_inflight, char *err, size_t errlen);

/* Queues m for delivery and takes ownership of it (also on failure).
 * Returns 0, or -1 when the notifier is stopping or out of memory (no
 * callback then; the outbox row stays pending). */
int notifier_send(struct notifier *n, struct notify_msg *m);

/* Aborts what is in flight and drops what waits, without callbacks (the
 * rows stay pending), kills running commands, joins the thread, frees n. */
void notifier_stop(struct notifier *n);

void notify_msg_free(struct notify_msg *m);

/* ---- Rendering (pure functions, exposed for tests and the API's preview) ---- */

/*
 * Fills a template: {{path}} is replaced by the payload field at that
 * dotted path ("incident.title", "links.acknowledge", array elements by
 * index: "digest.incidents.0.number"; spaces inside the braces are allowed);
 * numbers are written in decimal, booleans as true/false, missing fields,
 * null, objects and arrays as "". "{{{{" is a literal "{{"; a "{{" not
 * followed by a path of [A-Za-z0-9_.-] (at most 255) and "}}" is copied as
 * text. The result is cut at 64 KiB, between characters. Returns a new
 * string (caller frees) or NULL on allocation failure.
 */
char *notify_template(const char *tmpl, const json_t *payload);

/*
 * The request or message for m: *body (caller frees) and *len; for webhooks
 * *content_type is "application/json" (generic: the payload plus "event",
 * "subject", "text", "idempotency_key", "sent_at"; slack: text + blocks with
 * url buttons; teams: a MessageCard with OpenUri actions). SMTP
 * ("message/rfc822"): the whole RFC 5322 message with CRLF line ends,
 * headers (From, To, Subject (RFC 2047 when not ASCII), Date, Message-ID
 * "<idem_key@tocsin>", MIME-Version, Content-Type text/plain;
 * charset=utf-8) and a body with CRLF line ends and lines of at most 900
 * bytes. Leading dots are NOT doubled: libcurl's SMTP upload does that
 * itself, so the body is what a reader should see. COMMAND ("text/plain;
 * charset=utf-8"): the text written to stdin, LF line ends. now is used for
 * the Date header and sent_at. Returns 0, or -1 (*body NULL) when m cannot
 * be rendered, e.g. a CR or LF in the SMTP From or To.
 */
int notify_render(const struct notify_msg *m, int64_t now, char **body, size_t *len,
                  const char **content_type);

/*
 * The webhook signature: "sha256=" + lowercase hex of HMAC-SHA256 with key
 * secret over "TIMESTAMP.BODY" (TIMESTAMP in seconds, also sent as
 * X-Tocsin-Timestamp), written into out (at least 72 bytes).
 */
void notify_sign(const char *secret, int64_t ts_s, const char *body, size_t len, char *out);

#endif
