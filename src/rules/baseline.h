/*
 * baseline.h - the expected level of one series for a moment of its season,
 * learned from the same phase of past days or weeks (seasonal rules).
 *
 * A season (a day or a week, in a zone's local time) is cut into slots (1 h
 * by default). For every slot the baseline keeps one number per past season
 * of the horizon: the mean of the series over that slot instance (NAN when
 * there was no data, or the date was a holiday). So a week season with 1 h
 * slots over 4 weeks keeps 168 x 4 floats, and a seasonal rule never scans
 * raw history at evaluation time: the evaluator feeds each finished slot
 * instance once (baseline_put), from the rollups.
 *
 * The expectation for an instant t is read from the slot instances of past
 * seasons at the same local phase: a robust centre (median, trimmed mean or
 * mean) and spread (MAD scaled by 1.4826 to estimate a standard deviation,
 * or the standard deviation), interpolated between the midpoints of
 * neighbouring slots so a ramp at 08:00 is not a step. The band is centre
 * -/+ max(k * spread, min_band, min_band_ratio * |centre|), which keeps flat
 * or tiny baselines from alerting on noise (Checkmk's zero-spread trap).
 *
 * Phases are local time: "Monday 08:00" is 08:00 on the wall clock before
 * and after a DST change. On the 23 h spring-forward day the missing hour's
 * slot gets no data; on the 25 h fall-back day the repeated hour's two real
 * hours are one slot instance.
 *
 * THREAD SAFETY NOTES: a baseline belongs to one thread at a time.
 */
#ifndef TOCSIN_BASELINE_H
#define TOCSIN_BASELINE_H

#include "../base/tz.h"
#include "../config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a baseline is shaped by; normally derived from struct cfg_seasonal. */
struct baseline_params {
    enum season_kind season;
    int64_t slot_ms; /* divides 24 h; >= 60000; whole seconds */
    int n_seasons;   /* seasons kept (horizon / season length), 1..366 */
    enum seasonal_centre centre;
    double trim; /* CENTRE_TRIMMED_MEAN: fraction cut from each end, 0..0.45 */
    enum seasonal_spread spread;
    double k, min_band, min_band_ratio;
    int min_seasons;         /* 1..n_seasons */
    const struct tz *tz;     /* borrowed; NULL = UTC */
    const int32_t *holidays; /* borrowed sorted YYYYMMDD local dates; may be NULL */
    size_t n_holidays;
};

/* Fills p from a rule's seasonal block (borrowing its tz and holidays). */
void baseline_params_from_cfg(const struct cfg_seasonal *se, struct baseline_params *p);

/* Slots in one season: 24 h / slot (day) or 7 * 24 h / slot (week). */
int baseline_slots(const struct baseline_params *p);

/*
 * The slot instance holding t: its start and end (UTC ms; end is the next
 * slot's start, so a DST change can make one 0, 30 min or 2 h long in real
 * time) and its slot number (0 = the season's first slot: local midnight,
 * and Monday 00:00 for a week season). Returns the slot number, or -1 when
 * p cannot be sliced (slot_ms). start and end may be NULL.
 *
 * Slot boundaries are the first instants at which the wall clock reads the
 * boundary's time, so they never run backwards: a slot inside a
 * spring-forward gap is empty and no instant maps to it; with sub-hour
 * slots on the fall-back day, the repeated wall time belongs to the
 * instance that is still running (Berlin, 30 min slots: 02:00 is the first
 * half hour, 02:30 the 90 minutes up to 03:00 CET).
 */
int baseline_slot_of(const struct baseline_params *p, int64_t t, int64_t *start, int64_t *end);

/* "Monday 08:00" (week) or "08:00" (day) for slot number slot, into buf. */
void baseline_slot_name(const struct baseline_params *p, int slot, char *buf, size_t len);

/* True when t falls on one of the holidays (local date in p->tz). */
bool baseline_is_holiday(const struct baseline_params *p, int64_t t);

struct baseline;

/*
 * A new, empty baseline; params is copied (its tz and holidays stay
 * borrowed). Returns NULL when out of memory or when params are invalid.
 * Free with baseline_free.
 */
struct baseline *baseline_new(const struct baseline_params *params);
void baseline_free(struct baseline *b);

/*
 * Records the mean of the series over the slot instance that starts at
 * slot_start (as baseline_slot_of gives it); mean is NAN for no data. An
 * instance on a holiday is stored as NAN. Instances must be put in
 * increasing time; putting an instance also forgets the one a whole horizon
 * earlier in the same slot, and instances the caller skipped in between are
 * cleared, so a gap (Tocsin down for a week) leaves NAN, never stale values.
 * An instance at or before the last one put is ignored.
 */
void baseline_put(struct baseline *b, int64_t slot_start, double mean);

/* Start of the next slot instance the baseline expects (0 before the first put). */
int64_t baseline_next_slot(const struct baseline *b);

/* The expectation for one instant, with what it was made from. */
struct baseline_band {
    bool ok;                          /* false: not enough history (or a holiday); see why */
    const char *why;                  /* static text when !ok: "too little history", "holiday" */
    double centre, spread, low, high; /* ok only: the band is [low, high] */
    int seasons_used;                 /* past seasons with data in the slot (the nearer slot when
                                         interpolating); when !ok, how many there were */
    int seasons_needed;               /* min_seasons */
    int slot;                         /* slot number of t */
};

/*
 * The band for instant t (which is normally after the history put). The
 * values of t's slot in the n_seasons seasons before t's, and for the
 * interpolation those of the neighbouring slot in the same past seasons;
 * instances not put yet, or more than a horizon before the last put, do
 * not count. The MAD is taken around the median and the standard deviation
 * around the mean, whatever the centre.
 */
void baseline_expect(const struct baseline *b, int64_t t, struct baseline_band *out);

/*
 * One sentence for an alert: "expected 1,200-1,900 for Monday 08:00 from the
 * last 4 Mondays (median 1,550, MAD 120, k 3)" or, when !band->ok, "no
 * baseline for Monday 08:00: too little history (1 of 3 Mondays needed)".
 * Numbers are formatted with thousands separators and up to 3 significant
 * decimals. Writes at most len bytes into buf (NUL-terminated).
 */
void baseline_describe(const struct baseline *b, const struct baseline_band *band, char *buf,
                       size_t len);

/* Bytes this baseline holds on the heap, for the benchmark and /metrics. */
size_t baseline_memory(const struct baseline *b);

/*
 * Robust statistics over v[0..n) (NANs and infinities are skipped), used by
 * the baseline and exposed for tests: v may be reordered. Return NAN when
 * no value. The trimmed mean cuts floor(trim * n) values from each end
 * (trim is clamped to 0..0.45). The MAD is the median of |v - centre|.
 * The standard deviation is the sample one (n - 1) around mean (NAN mean:
 * their mean), 0 for a single value.
 */
double baseline_median(double *v, size_t n);
double baseline_trimmed_mean(double *v, size_t n, double trim);
double baseline_mad(double *v, size_t n, double centre); /* scaled by 1.4826 */
double baseline_stddev(const double *v, size_t n, double mean);

#endif
