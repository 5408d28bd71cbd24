/*
 * test_config_util.h - what the configuration tests share: loading a YAML
 * text, and expecting it to load or to fail with exactly a given list of
 * FILE:LINE:COL messages. Include it after cmocka.h and config.h.
 */
#ifndef TOCSIN_TEST_CONFIG_UTIL_H
#define TOCSIN_TEST_CONFIG_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static inline struct config *load(const char *yaml, struct cfg_errors *errs)
{
    return config_load_buffer("t.yaml", yaml, strlen(yaml), errs);
}

static inline void dump(const struct cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "  got: %s\n", errs->msgs[i]);
}

/* Checks that errs holds exactly the NULL-terminated messages in ap. */
static inline bool errors_are(const struct cfg_errors *errs, va_list ap)
{
    size_t n = 0;
    bool ok = true;
    for (const char *m; (m = va_arg(ap, const char *)) != NULL; n++) {
        bool found = false;
        for (size_t i = 0; i < errs->n && !found; i++)
            found = strcmp(errs->msgs[i], m) == 0;
        if (!found) {
            fprintf(stderr, "missing: %s\n", m);
            ok = false;
        }
    }
    if (n != errs->n)
        ok = false;
    if (!ok)
        dump(errs);
    return ok;
}

/* Loads yaml, expects failure with exactly the NULL-terminated messages. */
static inline void expect_errors(const char *yaml, ...)
{
    struct cfg_errors errs = {0};
    struct config *cfg = load(yaml, &errs);
    va_list ap;
    va_start(ap, yaml);
    bool ok = errors_are(&errs, ap) && cfg == NULL;
    va_end(ap);
    config_free(cfg);
    cfg_errors_free(&errs);
    assert_true(ok);
}

static inline struct config *load_ok(const char *yaml)
{
    struct cfg_errors errs = {0};
    struct config *cfg = load(yaml, &errs);
    if (!cfg)
        dump(&errs);
    assert_non_null(cfg);
    assert_int_equal(errs.n, 0);
    return cfg;

#endif
