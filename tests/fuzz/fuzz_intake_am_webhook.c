/*
 * fuzz_intake_am_webhook.c - libFuzzer target for the Alertmanager webhook payload.
 *
 * Each input is parsed and freed; on success every event must satisfy the
 * parser's promises (a dedup key, bounded strings), on failure the batch must
 * be empty and the error must carry a status. The clock is fixed so runs are
 * reproducible.
 */
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

    /* Alternate between no integration and one, both are legal callers. */
    if (intake_parse_am_webhook((const char *)data, size, (size & 1) ? &integ : NULL, FUZZ_NOW_MS,
                                &batch, &err) == 0)
        check_batch(&batch);
    else
        check_empty(&batch, &err);
    intake_batch_free(&batch);
    return 0;
}
