/*
 * check_state.h - the state of one check as Nagios and Icinga define it:
 * SOFT and HARD states with retries, and flap detection. Pure functions of
 * the previous state, the new result and the time; no I/O, so the scheduler
 * and unit tests with simulated time share them.
 *
 * Semantics (Nagios Core "State Types" and "Flapping" documentation):
 * - A check in a HARD OK state that returns a problem enters a SOFT problem
 *   state at attempt 1; further problems count attempts up; at max_attempts
 *   the state becomes HARD. With max_attempts 1 the first problem is HARD.
 * - A HARD problem that changes to another problem (WARNING -> CRITICAL) is a
 *   HARD change at once. A HARD problem that returns OK is a HARD recovery.
 * - A SOFT problem that returns OK is a SOFT recovery: no HARD change.
 * - Only HARD changes raise or resolve alerts; the scheduler uses the retry
 *   interval while the state is a SOFT problem.
 * - Flapping: the last 21 results are kept; each transition between two
 *   consecutive results counts with a weight rising linearly from 0.8 (oldest)
 *   to 1.2 (newest), and the percent state change is the weighted sum over
 *   20 possible transitions. Flapping starts when it rises above
 *   flap_high and stops when it falls below flap_low.
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
    int64_t last_change_ms;      /* last change of state or state type */
    int64_t last_hard_change_ms; /* last HARD state change */
};

/* What one result did. */
struct check_transition {
    uint8_t old_state, old_type;
    bool changed;      /* state or state type changed: record in history */
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

/* "OK", "WARNING", "CRITICAL", "UNKNOWN" (hosts: "UP", "DOWN", "UNREACHABLE"). */
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
 * Judges the heartbeat at now_ms. Returns the status (OK, WARNING for a
 * success below min_value, CRITICAL for missing, late, failed or too long)
 * and writes a one-line explanation into out, e.g. "late: last success
 * 1h12m ago, expected every 1h (grace 10m)". *next_due_ms is when the
 * judgement would change with no new ping (0 = not time-driven).
 */
int heartbeat_evaluate(const struct heartbeat_status_rec *h, const struct heartbeat_policy *p,
                       int64_t now_ms, char *out, size_t outlen, int64_t *next_due_ms);

#endif
