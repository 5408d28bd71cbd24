/*
 * fuzz_check.h - the invariant check of the fuzz targets: when cond is
 * false, print where and what, then abort so libFuzzer saves the input.
 * (assert() would vanish under NDEBUG; a fuzz check must never.)
 */
#ifndef TOCSIN_FUZZ_CHECK_H
#define TOCSIN_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define fuzz_check(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
