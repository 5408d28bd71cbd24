/*
 * recur.h - windows of time that repeat in a zone's local time: maintenance
 * windows ("every Sunday 02:00 for 4 h, Europe/Berlin"), business hours and
 * on-call restrictions.
 *
 * A window starts at a local wall-clock time on the days its rule selects and
 * lasts a fixed real duration. Because the start is local time, a window
 * starts at 02:00 both before and after a DST change, and a 4 h window is
 * 4 real hours even when the clocks change inside it.
 *
 * DST edges follow tz_from_local. On the spring-forward day a start time
 * inside the gap moves forward by the gap's length: a 02:00 start in Berlin
 * on 2026-03-29 begins at 03:00 CEST (01:00 UTC), since 02:00 never happens,
 * and a 02:30 start begins at 03:30 CEST. On the fall-back day a start time
 * that occurs twice begins at its first occurrence (02:00 CEST, not 02:00 CET).
 * Either way the window still lasts duration_ms of real time.
 *
 * Windows may be longer than a day and may overlap; recur_window looks back
 * up to about ten years for a window that still holds t.
 */
#ifndef TOCSIN_RECUR_H
#define TOCSIN_RECUR_H

#include "tz.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum recur_freq {
    RECUR_ONCE = 0,    /* one window: [start_ms, start_ms + duration_ms) */
    RECUR_DAILY = 1,   /* every day (limited to `weekdays` when that is not 0) */
    RECUR_WEEKLY = 2,  /* on each day set in `weekdays` */
    RECUR_MONTHLY = 3, /* on day `monthday` of each month */
};

struct recur {
    enum recur_freq freq;
    const struct tz *tz; /* borrowed (tz_get); the zone of start_minute; NULL = UTC */
    int64_t start_ms;    /* RECUR_ONCE: the UTC start; otherwise the rule applies from here on
                            (0 = always) */
    int64_t until_ms;    /* no window starts at or after this instant; 0 = no end */
    int64_t duration_ms; /* length of each window, > 0 */
    int start_minute;    /* minutes after local midnight, 0..1439 (not RECUR_ONCE) */
    uint8_t weekdays;    /* bit d set = weekday d (0 = Sunday .. 6 = Saturday) */
    int monthday;        /* RECUR_MONTHLY: 1..31 (clamped to the month's last day), or -1 =
                            last day of the month */
};

/*
 * Helpers for config.c and the API, which read a rule from JSON fields:
 * recur_parse_weekdays takes names such as "mon", "tuesday", "weekdays"
 * (Mon-Fri), "weekends" (Sat, Sun), case-insensitive, and sets *out; it
 * returns 0, or -1 with a message in err naming the bad entry.
 * recur_parse_hhmm takes "HH:MM" (00:00..23:59) and returns 0 or -1.
 */
int recur_parse_weekdays(const char *const *names, size_t n, uint8_t *out, char *err,
                         size_t errlen);
int recur_parse_hhmm(const char *s, int *minute_out);

/*
 * Finds the window that contains t, or else the first one that starts after
 * t. Returns true and sets [*start, *end) when such a window exists; false
 * when the rule has no window at or after t. Windows are half-open: t ==
 * start is inside, t == end is not. When overlapping windows hold t, the one
 * that started first is returned. A rule that cannot produce a window
 * (duration_ms <= 0, WEEKLY with no weekdays, start_minute or monthday out of
 * range, unknown freq) has none.
 */
bool recur_window(const struct recur *r, int64_t t, int64_t *start, int64_t *end);

/* True when t lies inside one of the rule's windows. */
bool recur_active(const struct recur *r, int64_t t);

#endif
