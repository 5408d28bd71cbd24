/*
 * fuzz_rulefile.c - libFuzzer target for Prometheus rule files
 * (rule_files in tocsin.yaml): the input is read as one rule file from
 * memory by cfg_rule_file_buffer, as config_rules.c reads each file. Besides
 * memory errors and leaks it checks: a file that is not YAML is refused
 * with a message; every rule read has its annotations and spec; and when
 * the file was accepted, every rule has a name and a query, can be found by
 * name, and its spec (which carries the group's name, interval and labels)
 * rebuilds through config_rule_from_json into the same rule, as the backtest
 * API relies on.
 */
#include "config/config.h"
#include "config/config_int.h"
#include "fuzz_check.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config *cfg;
    struct cfg_errors errs = {0};
    if (!cfg)
        cfg = config_default();
    fuzz_check(cfg != NULL);
    struct cfg_ctx ctx = {.file = "fuzz.yml", .errs = &errs, .cfg = cfg};

    long n = cfg_rule_file_buffer(&ctx, "fuzz.yml", (const char *)data, size);
    fuzz_check(n >= -1);
    fuzz_check(n != -1 || errs.n > 0);
    fuzz_check(n == -1 || (size_t)n == cfg->n_rules);
    bool oom = false;
    for (size_t i = 0; i < errs.n; i++)
        oom |= strstr(errs.msgs[i], "out of memory") != NULL;
    for (size_t i = 0; i < cfg->n_rules && !oom; i++) {
        const struct cfg_rule *r = &cfg->rules[i];
        fuzz_check(r->annotations != NULL && r->spec != NULL);
        fuzz_check(r->kind == RULE_PROMQL || r->kind == RULE_RECORD);
        fuzz_check(strcmp(r->file, "fuzz.yml") == 0);
        if (errs.n)
            continue;
        fuzz_check(r->name != NULL && r->query != NULL && r->group != NULL);
        const struct cfg_rule *found = config_find_rule(cfg, r->name);
        fuzz_check(found != NULL && found <= r);

        struct cfg_errors errs2 = {0};
        struct cfg_rule again;
        fuzz_check(config_rule_from_json(r->spec, cfg, &again, &errs2) == 0);
        fuzz_check(errs2.n == 0);
        fuzz_check(strcmp(again.name, r->name) == 0 && strcmp(again.query, r->query) == 0);
        fuzz_check(strcmp(again.group, r->group) == 0);
        fuzz_check(again.kind == r->kind && again.interval_ms == r->interval_ms);
        fuzz_check(again.for_ms == r->for_ms && again.severity == r->severity);
        fuzz_check(labels_fingerprint(&again.labels) == labels_fingerprint(&r->labels));
        fuzz_check(json_equal(again.annotations, r->annotations));
        config_rule_free(&again);
        cfg_errors_free(&errs2);
    }
    cfg_rules_free(cfg);
    cfg_errors_free(&errs);
    return 0;
}
