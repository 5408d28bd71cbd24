/*
 * check_state.c - the SOFT/HARD state machine, flap detection and heartbeat
 * judgement of check_state.h.
 *
 * Everything here is a pure function of its arguments: the scheduler passes
 * the record it keeps, the policy from the configuration and the current
 * time, and gets the new record and a description of what happened. That
 * keeps the rules testable with simulated time and keeps the scheduler free
 * of retry and flapping arithmetic. The rules themselves, and where Tocsin
 * chose between Nagios's documentation, Nagios's code and Icinga 2, are
 * written down in check_state.h.
 */
#include "check_state.h"

#include "../base/timefmt.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * Nagios Core's flapping.c weights: the oldest of the 20 possible
 * transitions counts 0.75 and the newest 1.25, rising by 0.5 / 19 per
 * position, so the mean weight is 1 and a state that changes on every result
 * scores exactly 100%. In units of 1/76 these are the integers 57, 59, ...,
 * 95; summing integers and dividing once keeps the percent exact and the
 * same on every platform, which matters when it is compared with a
 * threshold such as 100.
 */
#define CHECK_STATE_FLAP_UNIT        76
#define CHECK_STATE_FLAP_W_OLDEST    57 /* 0.75 * 76 */
#define CHECK_STATE_FLAP_W_STEP      2  /* 0.5 / 19 * 76 */
#define CHECK_STATE_FLAP_TRANSITIONS (CHECK_FLAP_WINDOW - 1)

void check_state_init(struct check_status_rec *s, int64_t now_ms)
{
    memset(s, 0, sizeof(*s));
    s->state = CHECK_OK;
    s->state_type = STATE_HARD;
    s->hard_state = CHECK_OK;
    s->attempt = 1;
    s->last_change_ms = now_ms;
    s->last_hard_change_ms = now_ms;
}

/* The attempt is stored in a uint8_t, so the limit is clamped to 1..255. */
static int check_state_max_attempts(const struct check_policy *p)
{
    if (p->max_attempts < 1)
        return 1;
    if (p->max_attempts > 255)
        return 255;
    return p->max_attempts;
}

/* Appends one state, dropping the oldest when the window is full. */
static void check_state_record(struct check_status_rec *s, uint8_t state)
{
    if (s->n_history > CHECK_FLAP_WINDOW)
        s->n_history = CHECK_FLAP_WINDOW; /* a corrupt record must not overrun */
    if (s->n_history == CHECK_FLAP_WINDOW) {
        memmove(s->history, s->history + 1, CHECK_FLAP_WINDOW - 1);
        s->n_history--;
    }
    s->history[s->n_history++] = state;
}

/*
 * The weighted percent state change of the history. The states present are
 * the newest ones, so the transition into history[i] sits at position
 * x = CHECK_FLAP_WINDOW - n + i among the 20 (1 oldest, 20 newest) whether or
 * not the window is full yet.
 */
static double check_state_flap_percent(const struct check_status_rec *s)
{
    int n = s->n_history > CHECK_FLAP_WINDOW ? CHECK_FLAP_WINDOW : s->n_history;
    long units = 0;

    for (int i = 1; i < n; i++) {
        if (s->history[i] == s->history[i - 1])
            continue;
        int x = CHECK_FLAP_WINDOW - n + i;
        units += CHECK_STATE_FLAP_W_OLDEST + (x - 1) * CHECK_STATE_FLAP_W_STEP;
    }
    return (double)units * 100.0 / (CHECK_STATE_FLAP_UNIT * CHECK_STATE_FLAP_TRANSITIONS);
}

/* Updates the history, the percent and the flapping flag for one result. */
static void check_state_flap(struct check_status_rec *s, const struct check_policy *p,
                             struct check_transition *tr)
{
    /* Nagios records only HARD states and soft recoveries; a soft recovery
     * has already been turned into HARD OK here, so "not a SOFT problem"
     * covers both. */
    if (!(s->state_type == STATE_SOFT && s->state != CHECK_OK))
        check_state_record(s, s->state);
    s->flap_percent = check_state_flap_percent(s);

    if (!p->flap_detection) {
        if (s->flapping) {
            s->flapping = false;
            tr->flap_stopped = true;
        }
        return;
    }
    if (!s->flapping && s->flap_percent >= p->flap_high) {
        s->flapping = true;
        tr->flap_started = true;
    } else if (s->flapping && s->flap_percent <= p->flap_low) {
        s->flapping = false;
        tr->flap_stopped = true;
    }
}

void check_state_apply(struct check_status_rec *s, const struct check_policy *p, int status,
                       int64_t now_ms, struct check_transition *tr)
{
    int max = check_state_max_attempts(p);
    uint8_t st = (status >= CHECK_OK && status <= CHECK_UNKNOWN) ? (uint8_t)status : CHECK_UNKNOWN;
    uint8_t old_state = s->state;
    uint8_t old_type = s->state_type;

    memset(tr, 0, sizeof(*tr));
    tr->old_state = old_state;
    tr->old_type = old_type;
    s->last_check_ms = now_ms;

    if (st == CHECK_OK) {
        /* A recovery from a HARD problem resolves the alert; one from a
         * SOFT problem (soft recovery) never raised one. Either way OK
         * rests as HARD with attempt 1. */
        if (old_state != CHECK_OK && old_type == STATE_HARD) {
            s->hard_state = CHECK_OK;
            s->last_hard_change_ms = now_ms;
            tr->hard_changed = true;
        }
        s->state = CHECK_OK;
        s->state_type = STATE_HARD;
        s->attempt = 1;
    } else if (old_state == CHECK_OK) {
        /* The first detection of a problem counts as attempt 1. */
        s->state = st;
        s->attempt = 1;
        if (max <= 1) {
            s->state_type = STATE_HARD;
            s->hard_state = st;
            s->last_hard_change_ms = now_ms;
            tr->hard_changed = true;
        } else {
            s->state_type = STATE_SOFT;
        }
    } else if (old_type == STATE_SOFT) {
        /* Retrying: every problem result counts, whichever problem it is. */
        int attempt = s->attempt + 1;
        s->state = st;
        if (attempt >= max) {
            s->attempt = (uint8_t)max;
            s->state_type = STATE_HARD;
            s->hard_state = st;
            s->last_hard_change_ms = now_ms;
            tr->hard_changed = true;
        } else {
            s->attempt = (uint8_t)attempt;
        }
    } else {
        /* Already HARD: a different problem is a HARD change at once, the
         * same one changes nothing. The attempt stays where it was. */
        if (st != old_state) {
            s->state = st;
            s->hard_state = st;
            s->last_hard_change_ms = now_ms;
            tr->hard_changed = true;
        }
    }

    if (s->state != old_state)
        s->last_change_ms = now_ms;
    tr->changed = s->state != old_state || s->state_type != old_type;
    tr->retrying = s->state_type == STATE_SOFT && s->state != CHECK_OK;
    check_state_flap(s, p, tr);
}

const char *check_status_name(int status)
{
    switch (status) {
    case CHECK_OK:
        return "OK";
    case CHECK_WARNING:
        return "WARNING";
    case CHECK_CRITICAL:
        return "CRITICAL";
    default:
        /* Anything else is applied as UNKNOWN, so it is named that way. */
        return "UNKNOWN";
    }
}

const char *check_host_status_name(int status)
{
    /*
     * Hosts store 0 UP, 2 DOWN and 4 UNREACHABLE. The plugin codes in
     * between are named as Nagios Core 4 maps a host check's result:
     * WARNING counts as UP, UNKNOWN as DOWN.
     */
    switch (status) {
    case 0:
    case 1:
        return "UP";
    case 4:
        return "UNREACHABLE";
    default:
        return "DOWN";
    }
}

const char *state_type_name(int type)
{
    return type == STATE_SOFT ? "SOFT" : type == STATE_HARD ? "HARD" : "UNKNOWN";
}

int check_status_parse(const char *s, int *out)
{
    static const char *const names[] = {"ok", "warning", "critical", "unknown"};

    if (s == NULL || out == NULL)
        return -1;
    if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0') {
        *out = s[0] - '0';
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

/* ---- Heartbeats ---- */

void heartbeat_init(struct heartbeat_status_rec *h, int64_t now_ms)
{
    memset(h, 0, sizeof(*h));
    h->created_ms = now_ms;
}

void heartbeat_ping(struct heartbeat_status_rec *h, enum heartbeat_ping kind, bool has_value,
                    double value, int64_t now_ms)
{
    h->last_ping_ms = now_ms;
    switch (kind) {
    case HB_PING_SUCCESS:
        /* A success ends the run and clears any earlier failure. */
        h->last_success_ms = now_ms;
        h->started_ms = 0;
        h->last_fail_ms = 0;
        h->has_value = has_value;
        h->last_value = has_value ? value : 0;
        break;
    case HB_PING_START:
        h->started_ms = now_ms;
        break;
    case HB_PING_FAIL:
        /* A failure ends the run too; it stands until a success. */
        h->last_fail_ms = now_ms;
        h->started_ms = 0;
        break;
    }
}

/*
 * Formats a duration compactly: the largest unit and the next one when it is
 * not zero, truncated ("1h12m", "2d3h", "45s", "1h"); below a second in ms.
 * Negative durations, from clocks that stepped back, read as zero.
 */
static const char *heartbeat_fmt_duration(int64_t ms, char *buf, size_t size)
{
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'d', 86400000}, {'h', 3600000}, {'m', 60000}, {'s', 1000}};

    if (ms < 0)
        ms = 0;
    if (ms < 1000) {
        snprintf(buf, size, "%lldms", (long long)ms);
        return buf;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        int64_t n = ms / units[i].ms;
        if (n == 0)
            continue;
        int64_t rest =
            i + 1 < sizeof(units) / sizeof(units[0]) ? (ms % units[i].ms) / units[i + 1].ms : 0;
        if (rest > 0)
            snprintf(buf, size, "%lld%c%lld%c", (long long)n, units[i].unit, (long long)rest,
                     units[i + 1].unit);
        else
            snprintf(buf, size, "%lld%c", (long long)n, units[i].unit);
        break;
    }
    return buf;
}

/* Formats a reported value without exponent or trailing zeros for counts. */
static const char *heartbeat_fmt_value(double v, char *buf, size_t size)
{
    snprintf(buf, size, "%.15g", v);
    return buf;
}

/* Keeps the earliest deadline that is still ahead of now (0 = none yet). */
static void heartbeat_due(int64_t *due, int64_t when, int64_t now_ms)
{
    if (when > now_ms && (*due == 0 || when < *due))
        *due = when;
}

int heartbeat_evaluate(const struct heartbeat_status_rec *h, const struct heartbeat_policy *p,
                       int64_t now_ms, char *out, size_t outlen, int64_t *next_due_ms)
{
    char d1[32], d2[32], d3[32], ts[40];
    char scratch[1];
    int64_t grace = p->grace_ms > 0 ? p->grace_ms : 0;
    int64_t due = 0;
    int64_t ref = h->last_success_ms ? h->last_success_ms : h->created_ms;
    bool running = h->started_ms != 0;
    bool too_long = running && p->max_runtime_ms > 0 && now_ms - h->started_ms >= p->max_runtime_ms;
    /* A non-positive period would make every check late; it is a
     * configuration error that the loader rejects, so here it only turns
     * the lateness rule off. */
    bool timed = p->period_ms > 0;
    bool late = timed && now_ms - ref >= p->period_ms + grace;
    int status;

    if (out == NULL || outlen == 0) {
        out = scratch;
        outlen = sizeof(scratch);
    }

    if (timed)
        heartbeat_due(&due, ref + p->period_ms + grace, now_ms);
    if (running && p->max_runtime_ms > 0)
        heartbeat_due(&due, h->started_ms + p->max_runtime_ms, now_ms);
    if (next_due_ms)
        *next_due_ms = due;

    if (too_long) {
        status = CHECK_CRITICAL;
        snprintf(out, outlen, "running for %s, longer than max_runtime %s",
                 heartbeat_fmt_duration(now_ms - h->started_ms, d1, sizeof(d1)),
                 heartbeat_fmt_duration(p->max_runtime_ms, d2, sizeof(d2)));
    } else if (h->last_fail_ms) {
        status = CHECK_CRITICAL;
        snprintf(out, outlen, "failed at %s (%s ago)",
                 timefmt_format_rfc3339(h->last_fail_ms, ts, sizeof(ts)),
                 heartbeat_fmt_duration(now_ms - h->last_fail_ms, d1, sizeof(d1)));
    } else if (late && h->last_success_ms) {
        status = CHECK_CRITICAL;
        heartbeat_fmt_duration(now_ms - ref, d1, sizeof(d1));
        heartbeat_fmt_duration(p->period_ms, d2, sizeof(d2));
        if (grace > 0)
            snprintf(out, outlen, "late: last success %s ago, expected every %s (grace %s)", d1, d2,
                     heartbeat_fmt_duration(grace, d3, sizeof(d3)));
        else
            snprintf(out, outlen, "late: last success %s ago, expected every %s", d1, d2);
    } else if (late) {
        status = CHECK_CRITICAL;
        snprintf(out, outlen, "missing: no success since watching began %s ago",
                 heartbeat_fmt_duration(now_ms - ref, d1, sizeof(d1)));
    } else if (h->last_success_ms && p->has_min_value &&
               (!h->has_value || h->last_value < p->min_value)) {
        char v1[32], v2[32];
        status = CHECK_WARNING;
        heartbeat_fmt_value(p->min_value, v2, sizeof(v2));
        if (h->has_value)
            snprintf(out, outlen, "reported %s, expected at least %s",
                     heartbeat_fmt_value(h->last_value, v1, sizeof(v1)), v2);
        else
            snprintf(out, outlen, "reported no value, expected at least %s", v2);
    } else if (h->last_success_ms) {
        char v1[32];
        size_t n;
        status = CHECK_OK;
        n = (size_t)snprintf(out, outlen, "last success %s ago",
                             heartbeat_fmt_duration(now_ms - ref, d1, sizeof(d1)));
        if (h->has_value && n < outlen)
            n += (size_t)snprintf(out + n, outlen - n, ", value %s",
                                  heartbeat_fmt_value(h->last_value, v1, sizeof(v1)));
        if (running && n < outlen)
            snprintf(out + n, outlen - n, "; running for %s",
                     heartbeat_fmt_duration(now_ms - h->started_ms, d2, sizeof(d2)));
    } else {
        size_t n;
        status = CHECK_OK;
        n = (size_t)snprintf(out, outlen, "no success yet, watching began %s ago",
                             heartbeat_fmt_duration(now_ms - ref, d1, sizeof(d1)));
        if (running && n < outlen)
            snprintf(out + n, outlen - n, "; running for %s",
                     heartbeat_fmt_duration(now_ms - h->started_ms, d2, sizeof(d2)));
    }
    return status;
}
