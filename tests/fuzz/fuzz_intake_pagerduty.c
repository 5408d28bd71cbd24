/*
 * fuzz_intake_pagerduty.c - libFuzzer target for PagerDuty Events v2 (alert and change events).
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

/* The contract of the two event parsers: a routing key exactly when they succeed. */
static void check_keyed(int rc, char *key, struct intake_batch *batch,
                        const struct intake_error *err)
{
    if (rc == 0) {
        if (!key)
            abort();
        check_batch(batch);
    } else {
        if (key)
            abort();
        check_empty(batch, err);
    }
    free(key);
    intake_batch_free(batch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct intake_batch batch;
    struct intake_error err;
    struct change_event ch;
    char *key = NULL;

    int rc = intake_parse_pagerduty((const char *)data, size, FUZZ_NOW_MS, &key, &batch, &err);
    check_keyed(rc, key, &batch, &err);

    /* The v1 parser reads the same kind of body. */
    key = NULL;
    rc = intake_parse_pagerduty_v1((const char *)data, size, NULL, FUZZ_NOW_MS, &key, &batch, &err);
    check_keyed(rc, key, &batch, &err);

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
