/*
 * check_state.h - the state of one check as Nagios and Icinga define it:
 * SOFT and HARD states with retries, and flap detection. Pure functions of
 * the previous state, the new result and the time; no I/O, so the scheduler
 * and unit tests with simulated time share them.
 *
 * State types (Nagios Core "State Types"; Icinga 2 "Hard and Soft States"):
 * - OK is always HARD, with attempt 1.
 * - A problem (WARNING, CRITICAL, UNKNOWN) after HARD OK is SOFT at attempt
 *   1. Every further problem result counts the attempt up by one, even when
 *   the problem changes (SOFT WARNING -> SOFT CRITICAL keeps counting). When
 *   the attempt reaches max_attempts the state becomes HARD: that is the
 *   HARD change that raises the alert. With max_attempts 1 the first problem
 *   is HARD at once. The first detection counts as an attempt.
 * - While HARD, the attempt stays at max_attempts (Nagios shows "3/3"; the
 *   Nagios documentation's example table and Icinga 2 show 1 instead).
 * - A HARD problem that changes to another problem (WARNING -> CRITICAL) is
 *   a HARD change at once, without retries. The same HARD problem repeating
 *   changes nothing.
 * - A HARD problem that returns OK is a HARD recovery: HARD OK, attempt 1.
 * - A SOFT problem that returns OK is a SOFT recovery: `changed` but not
 *   `hard_changed`, so nothing is resolved because nothing was raised.
 *   Nagios logs that one result as "OK;SOFT;<attempt+1>" and then at once
 *   sets the type to HARD and the attempt to 1; the record keeps only that
 *   resting state (HARD OK, attempt 1), and the transition's old_type SOFT
 *   with the new state OK is what identifies a soft recovery.
 * - Only HARD changes raise or resolve alerts; `retrying` is true while the
 *   state is a SOFT problem, and the scheduler then uses the retry interval.
 * - Results outside 0..3 are UNKNOWN. max_attempts below 1 counts as 1 and
 *   above 255 as 255 (the attempt is a uint8_t).
 * - last_change_ms is the last change of the state value (Nagios's
 *   last_state_change, which drives "CRITICAL for 12m"); a SOFT -> HARD step
 *   of the same state does not move it, although it sets `changed`.
 *   last_hard_change_ms is the last HARD change.
 *
 * Flapping (Nagios Core "Detection and Handling of State Flapping", with the
 * constants of Nagios Core's flapping.c, so percentages match what Nagios
 * shows for the same history):
 * - The last 21 recorded states are kept, oldest first. As in Nagios, a
 *   result that leaves the check in a SOFT problem is not recorded: only
 *   HARD states and soft recoveries are. So a check with max_attempts > 1
 *   that alternates OK / SOFT CRITICAL never flaps (its problems never
 *   become HARD, and never notify anyway).
 * - Each of the 20 possible transitions between consecutive states that
 *   differ counts with a weight rising linearly from 0.75 (oldest) to 1.25
 *   (newest): 0.75 + (x - 1) * 0.5 / 19 for transition x = 1..20. The percent
 *   state change is the weighted sum * 100 / 20; a state changing on every
 *   result gives 100%. (The documentation only says the newest change weighs
 *   "50% more" than the oldest; Icinga 2 uses 0.8 + 0.02 * i.) With fewer
 *   than 21 states the present ones are the newest, weighted as such, and
 *   the sum is still divided by 20.
 * - Flapping starts when the percent is >= flap_high and stops when it is
 *   <= flap_low (Nagios Core's comparisons; in between nothing changes).
 *   flap_started / flap_stopped are set only on the result that crosses.
 * - The history and percent are kept up to date even when flap_detection is
 *   off, so enabling it later has data; with it off a check never starts
 *   flapping, and one that was flapping stops (flap_stopped) at the next
 *   result so that its notifications are no longer suppressed.
 */
#ifndef TOCSIN_CHECK_STATE_H
#define TOCSIN_CHECK_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Plugin return codes; hosts use 0 UP, 2 DOWN, and 4 UNREACHABLE (derived). */
enum check_status { CHECK_OK = 0, CHECK_WARNING = 1, CHECK_CRITICAL = 2, CHECK_UNKNOWN = 3 };

enum state_type { STATE_SOFT = 0, STATE_HARD = 1 };

#define CHECK_FLAP_WINDOW 21

struct check_policy {
    int max_attempts;    /* >= 1 */
    bool flap_detection; /* default true */
    double flap_low;     /* percent, default 20 */
    double flap_high;    /* percent, default 30 */
};

/* What the scheduler keeps per check; plain data, copied freely. */
struct check_status_rec {
    uint8_t state;      /* enum check_status of the latest result */
    uint8_t state_type; /* enum state_type */
    uint8_t hard_state; /* the last HARD state */
    uint8_t attempt;    /* 1..max_attempts */
    bool flapping;
    uint8_t n_history;                  /* results in history (<= CHECK_FLAP_WINDOW) */
    uint8_t history[CHECK_FLAP_WINDOW]; /* states, oldest first */
    double flap_percent;
    int64_t last_check_ms;
    int64_t last_change_ms;      /* last change of the state value */
    int64_t last_hard_change_ms; /* last HARD state change */
};

/* What one result did. */
struct check_transition {
    uint8_t old_state, old_type;
    bool changed;      /* state or state type changed: log the event */
    bool hard_changed; /* the HARD state changed: raise or resolve */
    bool flap_started, flap_stopped;
    bool retrying; /* in a SOFT problem: schedule at the retry interval */
};

/*
 * Sets s to the initial state: OK, HARD, attempt 1, no history; as after a
 * clean start with nothing known.
 */
void check_state_init(struct check_status_rec *s, int64_t now_ms);

/* Applies one result (0..3; other values are treated as UNKNOWN). */
void check_state_apply(struct check_status_rec *s, const struct check_policy *p, int status,
                       int64_t now_ms, struct check_transition *tr);

/*
 * "OK", "WARNING", "CRITICAL", "UNKNOWN"; other values read "UNKNOWN", as
 * check_state_apply treats them. Hosts: 0 "UP", 2 "DOWN", 4 "UNREACHABLE";
 * 1 reads "UP" and 3 and anything else "DOWN", as Nagios Core 4 maps a host
 * check's WARNING and UNKNOWN. State types: "SOFT", "HARD", else "UNKNOWN".
 */
const char *check_status_name(int status);
const char *check_host_status_name(int status);
const char *state_type_name(int type);

/* Parses "ok"/"warning"/"critical"/"unknown" (any case) or "0".."3". 0 or -1. */
int check_status_parse(const char *s, int *out);

/*
 * Heartbeats (dead man's switch): a job calls a URL when it starts, when it
 * succeeds (optionally with a number such as documents archived) and when it
 * fails. The state is judged from those pings and the time.
 */
enum heartbeat_ping { HB_PING_SUCCESS = 0, HB_PING_START = 1, HB_PING_FAIL = 2 };

struct heartbeat_policy {
    int64_t period_ms;      /* expected time between successes, > 0 */
    int64_t grace_ms;       /* allowed lateness after period */
    int64_t max_runtime_ms; /* start-to-success limit; 0 = none */
    bool has_min_value;     /* a success must report at least min_value */
    double min_value;
};

struct heartbeat_status_rec {
    int64_t created_ms;      /* when Tocsin started watching (first load) */
    int64_t last_ping_ms;    /* any ping, 0 = never */
    int64_t last_success_ms; /* 0 = never */
    int64_t started_ms;      /* a run is in progress since; 0 = none */
    int64_t last_fail_ms;    /* 0 = never; cleared by a later success */
    bool has_value;
    double last_value; /* the payload of the last success */
};

void heartbeat_init(struct heartbeat_status_rec *h, int64_t now_ms);

/* Records a ping; value is used when has_value. */
void heartbeat_ping(struct heartbeat_status_rec *h, enum heartbeat_ping kind, bool has_value,
                    double value, int64_t now_ms);

/*
 * Judges the heartbeat at now_ms. Times are milliseconds since the epoch and
 * 0 means "never", so pings must carry now_ms > 0. The first rule that holds
 * decides:
 * 1. A run started (START) and not ended by SUCCESS or FAIL for at least
 *    max_runtime_ms (when set): CRITICAL "running for 45m, longer than
 *    max_runtime 30m".
 * 2. A FAIL with no SUCCESS since: CRITICAL "failed at <RFC 3339> (5m ago)".
 *    A START after the FAIL does not clear it; only a SUCCESS does.
 * 3. No SUCCESS for at least period_ms + grace_ms, counted from the last
 *    success or, when there was none, from created_ms: CRITICAL "late: last
 *    success 1h12m ago, expected every 1h (grace 10m)" or "missing: no
 *    success since watching began 1h12m ago"; "(grace ...)" is left out
 *    when grace_ms is 0. A run in progress does not excuse lateness.
 * 4. has_min_value and the last success reported less than min_value, or no
 *    value at all: WARNING "reported 12000, expected at least 30000" or
 *    "reported no value, expected at least 30000".
 * 5. Otherwise OK: "last success 5m ago, value 12000" (the value when there
 *    is one; "; running for 2m" when a run is in progress), or "no success
 *    yet, watching began 5m ago" before the first success is due.
 * Returns the status and writes the one-line explanation into out (when out
 * and outlen are non-zero). *next_due_ms (when non-NULL) is the earliest
 * instant after now_ms at which a time-driven rule flips with no new ping:
 * the lateness deadline (last success or created_ms + period + grace) and,
 * while a run is in progress, started + max_runtime; 0 when neither is still
 * ahead. Durations are compact: the two largest units, truncated ("1h12m",
 * "45s", "2d3h", "1h", "250ms").
 */
int heartbeat_evaluate(const struct heartbeat_status_rec *h, const struct heartbeat_policy *p,
                       int64_t now_ms, char *out, size_t outlen, int64_t *next_due_ms);

#endif
