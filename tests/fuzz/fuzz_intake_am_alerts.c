/*
 * fuzz_intake_am_alerts.c - libFuzzer target for the Alertmanager API v2 alerts array.
 *
 * Each input is parsed and freed; on success every event must satisfy the
 * parser's promises (a dedup key, bounded strings), on failure the batch must
 * be empty and the error must carry a status. Whenever the fast path takes an
 * input, the full parser must take it too and fill the same events. The
 * clock is fixed so runs are reproducible.
 */
#include "fuzz_check.h"
#include "fuzz_intake_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_integration integ = {.default_severity = SEV_WARNING, .resolve_timeout_ms = 300000};
    struct intake_batch batch;
    struct intake_error err;

    const struct cfg_integration *ip = (size & 1) ? &integ : NULL;
    struct intake_batch fast;
    if (intake_parse_am_alerts_fast((const char *)data, size, ip, FUZZ_NOW_MS, &fast) == 0) {
        fuzz_check(intake_parse_am_alerts_full((const char *)data, size, ip, FUZZ_NOW_MS, &batch,
                                               &err) == 0);
        fuzz_check(batch.n == fast.n);
        for (size_t i = 0; i < fast.n; i++)
            fuzz_check(event_equal(&fast.events[i], &batch.events[i]));
        intake_batch_free(&batch);
    } else {
        fuzz_check(fast.n == 0 && fast.events == NULL);
    }
    intake_batch_free(&fast);

    /* Alternate between no integration and one, both are legal callers. */
    if (intake_parse_am_alerts((const char *)data, size, (size & 1) ? &integ : NULL, FUZZ_NOW_MS,
                               &batch, &err) == 0)
        check_batch(&batch);
    else
        check_empty(&batch, &err);
    intake_batch_free(&batch);
    return 0;
}
