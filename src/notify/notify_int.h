/*
 * notify_int.h - pieces of the renderer the notifier thread also needs
 * (the command channel's environment). Not for use outside src/notify.
 */
#ifndef TOCSIN_NOTIFY_INT_H
#define TOCSIN_NOTIFY_INT_H

#include "notify.h"

#include <stdbool.h>

/* Longest template result; more is cut at a character boundary. */
#define NOTIFY_TEMPLATE_MAX 65536

/*
 * The one-line subject of m: ch->subject filled in when set, else the
 * default "[Tocsin] INC-12 triggered: TITLE (P1, critical)". Control
 * characters become spaces (it goes into a mail header) and it is cut at 256
 * bytes. Returns a new string (caller frees) or NULL when out of memory.
 */
char *notify_subject(const struct notify_msg *m);

/*
 * The text of m: ch->body filled in when set, else a few lines with the
 * incident's fields and, when with_links, one line per action link. Invalid
 * UTF-8 is replaced by '?'. Returns a new string (caller frees) or NULL.
 */
char *notify_text(const struct notify_msg *m, bool with_links);

/* The payload's string at a dotted path, or NULL (borrowed from payload). */
const char *notify_payload_str(const json_t *payload, const char *path);

#endif
