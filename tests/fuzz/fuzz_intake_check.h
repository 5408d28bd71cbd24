/*
 * fuzz_intake_check.h - the contract every intake parser keeps, checked by
 * each intake fuzz target: a successful parse yields well-formed events, a
 * failed one leaves nothing behind and carries an HTTP status. Any breach
 * aborts, which libFuzzer reports as a finding.
 */
#ifndef TOCSIN_FUZZ_INTAKE_CHECK_H
#define TOCSIN_FUZZ_INTAKE_CHECK_H

#include "intake/intake.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NOW_MS 1767225600000LL

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
    }
}

/* Aborts when a failed parse leaves events behind or no status. */
static void check_empty(const struct intake_batch *b, const struct intake_error *err)
{
    if (b->n != 0 || b->events || err->status < 400 || err->status > 599)
        abort();
}

#endif
