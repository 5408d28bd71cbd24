/*
 * timefmt.h - RFC 3339 / ISO 8601 timestamps and durations.
 *
 * Timestamps are int64 milliseconds since the epoch, UTC. Parsing accepts what
 * senders really send: "2026-11-21T08:42:58Z", fractions of 0 to 9 digits,
 * offsets as "+01:00" or "+0100" (PagerDuty), a space instead of "T", and
 * Go's zero time "0001-01-01T00:00:00Z" (Alertmanager's "no end").
 */
#ifndef TOCSIN_TIMEFMT_H
#define TOCSIN_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Go's zero time as milliseconds; Alertmanager sends it for "not set". */
#define TIMEFMT_GO_ZERO_MS (-62135596800000LL)

/*
 * Parses an RFC 3339 timestamp of exactly `len` bytes into *out_ms.
 * Returns 0 on success, -1 if the text is not a valid timestamp.
 */
int timefmt_parse_rfc3339(const char *s, size_t len, int64_t *out_ms);

/*
 * Formats ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least 32 bytes).
 * Returns buf.
 */
char *timefmt_format_rfc3339(int64_t ms, char *buf, size_t size);

/*
 * Parses a duration such as "500ms", "30s", "5m", "1h30m", "7d", "2w" or "0"
 * into milliseconds. Returns 0 on success, -1 on a malformed or overflowing
 * duration.
 */
int timefmt_parse_duration(const char *s, int64_t *out_ms);

#endif
