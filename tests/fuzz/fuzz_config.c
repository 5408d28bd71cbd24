/*
 * fuzz_config.c - libFuzzer target for the configuration path: bytes are
 * read as YAML, converted to JSON with positions and validated into a
 * config, exactly as `tocsin check-config` does with a file.
 */
#include "config/config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_errors errs = {0};
    struct config *cfg = config_load_buffer("fuzz.yaml", (const char *)data, size, &errs);

    /* Either a config or at least one message, never both and never neither. */
    if ((cfg != NULL) == (errs.n != 0))
        abort();
    config_free(cfg);
    cfg_errors_free(&errs);
    return 0;
}
