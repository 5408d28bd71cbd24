/*
 * clock.h - the only place that reads the wall clock.
 *
 * Domain code never calls these: it is handed `now` (int64 milliseconds since
 * the Unix epoch, UTC) by the thread that drives it, so tests can run
 * simulated time.
 */
#ifndef TOCSIN_CLOCK_H
#define TOCSIN_CLOCK_H

#include <stdint.h>

/* Wall-clock time in milliseconds since the epoch (UTC). */
int64_t clock_now_ms(void);

/* Monotonic time in microseconds, for measuring durations only. */
int64_t clock_mono_us(void);

#endif
