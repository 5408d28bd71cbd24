/*
 * schedule.h - who is on call: the final shifts of a schedule, computed from
 * its layers, their rotations and restrictions, and the overrides on top.
 *
 * Everything here is a pure function of the configuration, the overrides and
 * the instants asked about, so tests run any date (and any DST change) in
 * simulated time. Rotations follow the layer's local calendar through tz.h,
 * never a fixed UTC offset.
 *
 * Precedence at an instant: an override covering it wins (the newest, i.e.
 * highest id, when overrides overlap); otherwise the last layer (highest
 * index) that has someone on call then; otherwise nobody.
 *
 * THREAD SAFETY NOTES: all functions are reentrant; inputs are read only.
 */
#ifndef TOCSIN_SCHEDULE_H
#define TOCSIN_SCHEDULE_H

#include "../config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "I take Saturday for Anna": user is on call in [start, end) instead of
 * whoever the layers name. Made through the API and kept in the store. */
struct schedule_override {
    int64_t id;
    const char *schedule; /* borrowed; schedule name */
    const char *user;     /* borrowed; who takes the time */
    int64_t start, end;   /* UTC ms, start < end */
};

/* One stretch of time with one person on call. */
struct schedule_shift {
    const char *user;     /* borrowed from the config or the override */
    int64_t start, end;   /* UTC ms, clipped to the asked range */
    int layer;            /* index of the layer it came from, or -1 for an override */
    int64_t override_id;  /* the override's id when layer == -1, else 0 */
    const char *schedule; /* borrowed; the schedule's name (set by schedule_shifts; NULL
                             from schedule_layer_shifts) */
};

/*
 * The final shifts of schedule s in [from, to), in time order, adjacent
 * shifts of the same user from the same source merged, gaps (nobody on call)
 * left out. ov are the overrides of any schedules (those of other schedules
 * are ignored). On success returns 0 and sets *out (a new array the caller
 * frees with free(), never NULL on success even when *n_out is 0; its
 * strings are borrowed) and *n_out; returns -1 on allocation failure or when
 * to - from exceeds SCHEDULE_MAX_RANGE_MS. An empty range (to <= from) gives
 * no shifts.
 */
#define SCHEDULE_MAX_RANGE_MS (366LL * 24 * 3600 * 1000)
int schedule_shifts(const struct cfg_schedule *s, const struct schedule_override *ov, size_t n_ov,
                    int64_t from, int64_t to, struct schedule_shift **out, size_t *n_out);

/*
 * Who is on call in schedule s at t: returns the user name (borrowed) and
 * sets *until to when that shift ends (looking ahead at most 90 days; a
 * shift running past that reports the 90-day mark) and *layer as in
 * struct schedule_shift. Returns NULL when nobody is; *until is then when
 * somebody next is (0 = nobody within 90 days) and *layer -1. until and layer
 * may be NULL. Allocation failure also answers NULL with *until 0.
 */
const char *schedule_oncall_at(const struct cfg_schedule *s, const struct schedule_override *ov,
                               size_t n_ov, int64_t t, int64_t *until, int *layer);

/*
 * One layer's own turns in [from, to), before precedence: the rotation with
 * its restrictions applied. Same contract as schedule_shifts (layer set to
 * layer_index). A layer without a tz of its own is read in UTC here (the
 * schedule's zone is not known); schedule_shifts uses the schedule's. Exposed
 * for the API's per-layer view and for tests.
 */
int schedule_layer_shifts(const struct cfg_layer *l, int layer_index, int64_t from, int64_t to,
                          struct schedule_shift **out, size_t *n_out);

/*
 * Writes an iCalendar (RFC 5545) VCALENDAR with one VEVENT per shift into a
 * new NUL-terminated string the caller frees. name is the calendar's name
 * (X-WR-CALNAME), uid_domain makes each UID unique ("SCHEDULE-START-USER@
 * uid_domain"); only shifts of user are included when user is not NULL.
 * Times are written in UTC ("20261102T080000Z"), lines are folded at 75
 * octets and end in CRLF, text is escaped. dtstamp is the DTSTAMP of every
 * event. Returns NULL on allocation failure.
 */
/* Each event names its shift's schedule, or `name` when the shift has none. */
char *schedule_ical(const char *name, const char *uid_domain, const struct schedule_shift *shifts,
                    size_t n, const char *user, int64_t dtstamp);

#endif
