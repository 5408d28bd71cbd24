/*
 * fuzz_tzif.c - libFuzzer target for the TZif reader: bytes are parsed as a
 * zone file with tz_parse, as tz_get does with a file from the zoneinfo
 * directory; a zone that parses is then used for conversions whose results
 * must hold together whatever the file said.
 */
#include "base/recur.h"
#include "base/tz.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Offsets are limited to -25h..+26h at parse time, so two instants that show
 * the same wall time lie less than 51 hours apart. */
#define FUZZ_SPAN_MS (51LL * 3600 * 1000)

static void fuzz_check_local(const struct tz_local *l)
{
    if (l->month < 1 || l->month > 12 || l->day < 1 ||
        l->day > tz_days_in_month(l->year, l->month) || l->hour < 0 || l->hour > 23 ||
        l->minute < 0 || l->minute > 59 || l->second < 0 || l->second > 59 || l->ms < 0 ||
        l->ms > 999 || l->wday < 0 || l->wday > 6 || l->utc_offset < -90000 ||
        l->utc_offset > 93600)
        abort();
}

static bool fuzz_same_wall(const struct tz_local *a, const struct tz_local *b)
{
    return a->year == b->year && a->month == b->month && a->day == b->day && a->hour == b->hour &&
           a->minute == b->minute && a->second == b->second;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[160] = "";
    struct tz *z = tz_parse("fuzz", data, size, err, sizeof(err));
    if (!z) {
        /* A refusal always says why. */
        if (err[0] == '\0')
            abort();
        return 0;
    }

    int64_t instants[10] = {
        0,
        -1,
        1774746000000LL,   /* 2026-03-29, a typical transition year */
        2393024400000LL,   /* 2045, usually past the table: the footer rule */
        -2208988800000LL,  /* 1900 */
        4102444800000LL,   /* 2100 */
        -62135596800000LL, /* year 1 */
        253402300799000LL, /* 9999-12-31 */
    };
    /* Two instants near the end of the input, so the fuzzer can aim at its
     * own transitions. */
    int64_t tail = 0;
    memcpy(&tail, data + size - (size < 8 ? size : 8), size < 8 ? size : 8);
    instants[8] = tail % (400LL * 365 * 86400 * 1000);
    instants[9] = (tail / 7) % (4000LL * 365 * 86400 * 1000);

    for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++) {
        int64_t u = instants[i];
        struct tz_local l, back;
        tz_to_local(z, u, &l);
        fuzz_check_local(&l);

        /* A wall time read off the zone exists, so tz_from_local must find an
         * occurrence of it: the first one, not after u's second. */
        int64_t r = tz_from_local(z, l.year, l.month, l.day, l.hour, l.minute, l.second);
        int64_t u_sec = u - l.ms;
        tz_to_local(z, r, &back);
        fuzz_check_local(&back);
        if (!fuzz_same_wall(&l, &back) || r > u_sec || u_sec - r > FUZZ_SPAN_MS)
            abort();

        /* Any wall time, existing or not, maps within the offsets' reach of
         * its UTC reading, and fields far out of range do not crash. */
        int64_t g = tz_from_local(z, l.year, l.month, l.day, l.hour + 1, l.minute - 30, 0);
        if (g < u_sec + 1800000 - FUZZ_SPAN_MS || g > u_sec + 1800000 + FUZZ_SPAN_MS)
            abort();
        (void)tz_from_local(z, l.year, 14, 40, -30, 100, -5);

        /* A daily window in this zone holds or follows t. */
        struct recur rule = {
            .freq = RECUR_DAILY,
            .tz = z,
            .duration_ms = 90LL * 60 * 1000,
            .start_minute = (int)((uint64_t)tail % 1440),
        };
        int64_t s, e;
        if (!recur_window(&rule, u, &s, &e) || e <= u || e - s != rule.duration_ms)
            abort();
    }
    tz_free(z);
    return 0;
}
