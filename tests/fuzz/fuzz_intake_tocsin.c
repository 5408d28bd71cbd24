/*
 * fuzz_intake_tocsin.c - libFuzzer target for Tocsin's own event format.
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
    struct cfg_integration integ = {.default_severity = SEV_WARNING, .resolve_timeout_ms = 300000};
    struct intake_batch batch;
    struct intake_error err;

    /* Alternate between no integration and one, both are legal callers. */
    if (intake_parse_tocsin((const char *)data, size, (size & 1) ? &integ : NULL, FUZZ_NOW_MS,
                            &batch, &err) == 0)
        check_batch(&batch);
    else
        check_empty(&batch, &err);
    intake_batch_free(&batch);
    return 0;
}
