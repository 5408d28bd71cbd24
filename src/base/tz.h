/*
 * tz.h - IANA time zones read from the system's zoneinfo (TZif files).
 *
 * Downtimes, on-call rotations and business hours are defined in local wall
 * time of a named zone. The C library's localtime_r depends on the process
 * global TZ, which threads cannot switch safely, so Tocsin reads the TZif
 * files itself and converts with explicit zones. Offsets are never assumed:
 * every conversion follows the transitions in the file, and instants past the
 * last transition follow the footer's POSIX TZ rule.
 *
 * THREAD SAFETY NOTES: tz_get may be called from any thread. A struct tz is
 * immutable and lives until the process ends, so the pointer can be shared.
 */
#ifndef TOCSIN_TZ_H
#define TOCSIN_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;

/* Local wall-clock time in a zone. */
struct tz_local {
    int year;       /* e.g. 2026 */
    int month;      /* 1..12 */
    int day;        /* 1..31 */
    int hour;       /* 0..23 */
    int minute;     /* 0..59 */
    int second;     /* 0..59 */
    int ms;         /* 0..999 */
    int wday;       /* 0 = Sunday .. 6 = Saturday */
    int utc_offset; /* seconds east of UTC in effect at that instant */
    bool dst;       /* daylight saving time in effect */
};

/*
 * Returns the zone called name ("Europe/Berlin", "UTC"), loading
 * $TZDIR/name (default /usr/share/zoneinfo) on first use and caching it for
 * the life of the process. Returns NULL with a message in err when the name
 * is not a valid zone (also for names with ".." or a leading '/').
 */
const struct tz *tz_get(const char *name, char *err, size_t errlen);

/* The name the zone was loaded with. Borrowed. */
const char *tz_name(const struct tz *z);

/* Converts a UTC instant (ms since the epoch) into local time. */
void tz_to_local(const struct tz *z, int64_t utc_ms, struct tz_local *out);

/*
 * Converts a local wall-clock time into a UTC instant (ms). month is 1..12;
 * out-of-range day, hour or minute values are normalised (day 32 is the 1st
 * of the next month), so callers can step by adding. A time that does not
 * exist (the gap when clocks spring forward) maps to the instant the gap
 * ends plus the distance into the gap, as cron and Icinga do (02:30 on the
 * spring-forward day in Berlin -> 03:30 CEST). A time that exists twice (the
 * fall-back overlap) maps to its first occurrence.
 */
int64_t tz_from_local(const struct tz *z, int year, int month, int day, int hour, int minute,
                      int second);

/* Days in month (1..12) of year, leap years included; 0 for a month outside 1..12. */
int tz_days_in_month(int year, int month);

/*
 * Parses a TZif image (versions 1-4, RFC 8536) held in memory; name is
 * recorded. Returns a new zone (the caller owns it; free with tz_free) or NULL
 * with a message in err. Used by tz_get and by the fuzzer. Leap-second
 * records are counted into the size check and otherwise skipped: Tocsin's
 * clock is POSIX time.
 */
struct tz *tz_parse(const char *name, const unsigned char *buf, size_t len, char *err,
                    size_t errlen);

/* Frees a zone from tz_parse. Never pass a zone from tz_get (those live
 * forever). NULL is allowed. */
void tz_free(struct tz *z);

#endif
