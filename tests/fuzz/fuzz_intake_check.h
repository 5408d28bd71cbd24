/*
 * fuzz_intake_check.h - the contract every intake parser keeps, checked by
 * each intake fuzz target: a successful parse yields well-formed events, a
 * failed one leaves nothing behind and carries an HTTP status, and the
 * store's own JSON writer (jtext) writes every event's labels, details and
 * links exactly as jansson would. Any breach aborts, which libFuzzer reports
 * as a finding.
 */
#ifndef TOCSIN_FUZZ_INTAKE_CHECK_H
#define TOCSIN_FUZZ_INTAKE_CHECK_H

#include "base/jtext.h"
#include "intake/intake.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NOW_MS 1767225600000LL

/* Aborts when jtext's text of v differs from json_dumpb's (NULL: nothing to write). */
static void check_jtext(const json_t *v)
{
    static char mine[1 << 17], theirs[1 << 17];
    if (!v)
        return;
    long n = jtext_dump(v, mine, sizeof(mine));
    size_t m = json_dumpb(v, theirs, sizeof(theirs), JSON_COMPACT | JSON_ENCODE_ANY);
    if (m > sizeof(theirs))
        return; /* too large to compare here; jtext declines or writes it whole */
    if (n < 0 || (size_t)n != m || memcmp(mine, theirs, m) != 0)
        abort();
}

static void check_jtext_labels(const struct labelset *ls)
{
    static char mine[1 << 17], theirs[1 << 17];
    json_t *o = labels_to_json(ls);
    long n = jtext_labels(ls, mine, sizeof(mine));
    /* Intake labels are valid UTF-8, so jtext never needs jansson's way. */
    if (!o || n < 0)
        abort();
    size_t m = json_dumpb(o, theirs, sizeof(theirs), JSON_COMPACT);
    json_decref(o);
    if ((size_t)n != m || memcmp(mine, theirs, m) != 0)
        abort();
}

/* Aborts (a finding) when a successful parse breaks the event contract. */
static void check_batch(const struct intake_batch *b)
{
    if (b->n > EVENT_MAX_BATCH || (b->n && !b->events))
        abort();
    for (size_t i = 0; i < b->n; i++) {
        const struct event *ev = &b->events[i];
        if (!ev->dedup_key || strlen(ev->dedup_key) == 0 ||
            strlen(ev->dedup_key) > EVENT_MAX_DEDUP_KEY)
            abort();
        if (ev->summary && strlen(ev->summary) > EVENT_MAX_SUMMARY)
            abort();
        if (ev->source && strlen(ev->source) > EVENT_MAX_SOURCE)
            abort();
        if (ev->action == EVENT_TRIGGER && !ev->summary)
            abort();
        check_jtext(ev->details);
        check_jtext(ev->links);
        check_jtext_labels(&ev->labels);
    }
}

/* Aborts when a failed parse leaves events behind or no status. */
static void check_empty(const struct intake_batch *b, const struct intake_error *err)
{
    if (b->n != 0 || b->events || err->status < 400 || err->status > 599)
        abort();
}

#endif
