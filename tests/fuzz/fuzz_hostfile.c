/*
 * fuzz_hostfile.c - libFuzzer target for host files (CSV): the input is
 * written as hosts.csv next to a configuration that lists it and applies a
 * check to every host, and the whole configuration is loaded as
 * `tocsin check-config` would.
 */
#include "config/config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static const char yaml[] = "host_files: [hosts.csv]\n"
                           "checks:\n"
                           "  - {name: ping, apply: {role: printer}, type: tcp, port: 631}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128], name[128];
    struct cfg_errors errs = {0};
    FILE *f;

    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/tocsin-fuzz-hosts-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    snprintf(path, sizeof(path), "%s/hosts.csv", dir);
    snprintf(name, sizeof(name), "%s/tocsin.yaml", dir);
    f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    struct config *cfg = config_load_buffer(name, yaml, strlen(yaml), &errs);
    /* Either a config or at least one message, never both and never neither. */
    if ((cfg != NULL) == (errs.n != 0))
        abort();
    /* Every host the file declared is findable, and each printer got its check. */
    for (size_t i = 0; cfg && i < cfg->n_hosts; i++) {
        if (config_find_host(cfg, cfg->hosts[i].name) != &cfg->hosts[i])
            abort();
    }
    config_free(cfg);
    cfg_errors_free(&errs);
    return 0;
}
