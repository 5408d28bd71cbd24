/*
 * scrape_int.h - the scraper's schedule arithmetic, shared by scrape.c and
 * its unit tests. Pure functions of their arguments (time is a parameter).
 * Nothing here is part of Tocsin's interface outside src/metrics.
 */
#ifndef TOCSIN_SCRAPE_INT_H
#define TOCSIN_SCRAPE_INT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Where within its interval a target is scraped: a hash of job and instance
 * modulo the interval, in [0, interval_ms). Stable across restarts and
 * reloads, so targets stay spread out and keep their phase.
 */
int64_t scrape_offset_ms(const char *job, const char *instance, int64_t interval_ms);

/*
 * The first scrape of a new target: the earliest wall-clock time >= now_ms
 * that is offset_ms past a multiple of interval_ms (since the epoch).
 */
int64_t scrape_first_due_ms(int64_t now_ms, int64_t offset_ms, int64_t interval_ms);

/*
 * The scrape after the one due at prev_due: prev_due + interval, or, when
 * that is already past (now_ms >= it; the thread was held up for more than
 * an interval), the next slot of the same phase after now_ms. The schedule
 * therefore never drifts, whatever a scrape or the sink costs.
 */
int64_t scrape_next_due_ms(int64_t prev_due, int64_t interval_ms, int64_t now_ms);

/* Formats ms as Prometheus formats a duration ("15s", "1m30s", "200ms", "1d", "0s") into
 * buf; returns buf. */
char *scrape_format_duration(int64_t ms, char *buf, size_t size);

#endif
