/*
 * fuzz_intake_pagerduty.c - libFuzzer target for PagerDuty Events v2 (alert and change events).
 *
 * Each input is parsed and freed; on success every event must satisfy the
 * parser's promises (a dedup key, bounded strings), on failure the batch must
 * be empty and the error must carry a status. The clock is fixed so runs are
 * reproducible.
 */
#include "intake/intake.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NOW_MS 1767225600000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct intake_batch batch;
    struct intake_error err;
    struct change_event ch;
    char *key = NULL;

    if (intake_parse_pagerduty((const char *)data, size, FUZZ_NOW_MS, &key, &batch, &err) == 0) {
        if (!key)
            abort();
        check_batch(&batch);
    } else {
        if (key)
            abort();
        check_empty(&batch, &err);
    }
    free(key);
    intake_batch_free(&batch);

    /* The change-event parser reads the same kind of body. */
    key = NULL;
    if (intake_parse_pagerduty_change((const char *)data, size, FUZZ_NOW_MS, &key, &ch, &err) ==
        0) {
        if (!key || !ch.summary)
            abort();
    } else if (key || ch.summary) {
        abort();
    }
    free(key);
    change_event_clear(&ch);
    return 0;
}
