/*
 * test_check_state.c - unit tests for src/checks/check_state.c: the SOFT/HARD
 * state machine, flap detection and heartbeat judgement, all with simulated
 * time.
 *
 * The state sequences are written out by hand from the rules in
 * check_state.h; the first one is the example table of Nagios Core's "State
 * Types" documentation (max_check_attempts 3), except that a HARD problem
 * keeps attempt 3 as Nagios itself shows it ("3/3") where the table prints 1.
 *
 * Flap percentages are hand computations of Nagios Core's formula: the
 * transition at position x (1 oldest .. 20 newest) weighs
 * 0.75 + (x - 1) * 0.5 / 19, and the percent is the sum * 100 / 20. For a
 * state alternating from the first result, after m transitions
 *   sum = 0.75 m + (0.5 / 19) (20 m - m (m + 1) / 2),
 * so m = 5 gives 3.75 + 85 / 38 = 5.986842 -> 29.934211% and m = 6 gives
 * 4.5 + 99 / 38 = 7.105263 -> 35.526316%, which crosses a 30% threshold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "checks/check_state.h"

#include <stdio.h>
#include <string.h>

#define T0   1700000000000LL /* 2023-11-14T22:13:20Z */
#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)
#define STEP MIN /* simulated time between two results */
#define EPS  1e-6
#define W    CHECK_WARNING
#define C    CHECK_CRITICAL
#define U    CHECK_UNKNOWN
#define O    CHECK_OK
#define S    STATE_SOFT
#define H    STATE_HARD

/* One result and what the record and transition must look like after it. */
struct step {
    int status;
    int state, type, attempt;
    bool changed, hard_changed, retrying;
    int last_change_step, last_hard_change_step; /* 0 = check_state_init */
};

static struct check_policy policy(int max_attempts)
{
    struct check_policy p = {
        .max_attempts = max_attempts, .flap_detection = true, .flap_low = 20, .flap_high = 30};
    return p;
}

/* Feeds the steps one minute apart and checks every field after each. */
static void run_steps(const char *name, int max_attempts, const struct step *steps, size_t n)
{
    struct check_status_rec s;
    struct check_policy p = policy(max_attempts);
    int prev_state = O, prev_type = H;

    check_state_init(&s, T0);
    for (size_t i = 0; i < n; i++) {
        const struct step *e = &steps[i];
        struct check_transition tr;
        int64_t now = T0 + (int64_t)(i + 1) * STEP;

        check_state_apply(&s, &p, e->status, now, &tr);
        if (s.state != e->state || s.state_type != e->type || s.attempt != e->attempt ||
            tr.changed != e->changed || tr.hard_changed != e->hard_changed ||
            tr.retrying != e->retrying)
            fail_msg("%s step %zu (status %d): got %s %s %d changed=%d hard=%d retry=%d, "
                     "want %s %s %d changed=%d hard=%d retry=%d",
                     name, i + 1, e->status, check_status_name(s.state),
                     state_type_name(s.state_type), s.attempt, tr.changed, tr.hard_changed,
                     tr.retrying, check_status_name(e->state), state_type_name(e->type), e->attempt,
                     e->changed, e->hard_changed, e->retrying);
        if (tr.old_state != prev_state || tr.old_type != prev_type)
            fail_msg("%s step %zu: old %d/%d, want %d/%d", name, i + 1, tr.old_state, tr.old_type,
                     prev_state, prev_type);
        if (s.last_check_ms != now)
            fail_msg("%s step %zu: last_check_ms not now", name, i + 1);
        if (s.last_change_ms != T0 + e->last_change_step * STEP)
            fail_msg("%s step %zu: last_change at step %lld, want %d", name, i + 1,
                     (long long)((s.last_change_ms - T0) / STEP), e->last_change_step);
        if (s.last_hard_change_ms != T0 + e->last_hard_change_step * STEP)
            fail_msg("%s step %zu: last_hard_change at step %lld, want %d", name, i + 1,
                     (long long)((s.last_hard_change_ms - T0) / STEP), e->last_hard_change_step);
        if (s.state_type == H && s.hard_state != s.state)
            fail_msg("%s step %zu: hard_state %d in HARD %d", name, i + 1, s.hard_state, s.state);
        if (s.state_type == S && s.hard_state != O)
            fail_msg("%s step %zu: hard_state %d during SOFT problem", name, i + 1, s.hard_state);
        prev_state = s.state;
        prev_type = s.state_type;
    }
}

#define RUN(name, max, steps) run_steps(name, max, steps, sizeof(steps) / sizeof(steps[0]))

static void test_init(void **state)
{
    struct check_status_rec s;
    (void)state;
    memset(&s, 0xa5, sizeof(s));
    check_state_init(&s, T0);
    assert_int_equal(s.state, O);
    assert_int_equal(s.state_type, H);
    assert_int_equal(s.hard_state, O);
    assert_int_equal(s.attempt, 1);
    assert_false(s.flapping);
    assert_int_equal(s.n_history, 0);
    assert_true(s.flap_percent == 0);
    assert_int_equal(s.last_check_ms, 0);
    assert_int_equal(s.last_change_ms, T0);
    assert_int_equal(s.last_hard_change_ms, T0);
}

/* Nagios Core's "State Types" example, max_check_attempts 3. */
static void test_nagios_example_max3(void **state)
{
    static const struct step steps[] = {
        /* status, state, type, attempt, changed, hard, retrying, lc, lh */
        {C, C, S, 1, 1, 0, 1, 1, 0},                              /* first detection: SOFT 1 */
        {W, W, S, 2, 1, 0, 1, 2, 0},                              /* another problem still counts */
        {C, C, H, 3, 1, 1, 0, 3, 3},                              /* max attempts: HARD, alert */
        {W, W, H, 3, 1, 1, 0, 4, 4},                              /* HARD -> HARD change at once */
        {W, W, H, 3, 0, 0, 0, 4, 4},                              /* stable HARD problem */
        {O, O, H, 1, 1, 1, 0, 6, 6},                              /* HARD recovery */
        {O, O, H, 1, 0, 0, 0, 6, 6}, {U, U, S, 1, 1, 0, 1, 8, 6}, /* SOFT UNKNOWN */
        {O, O, H, 1, 1, 0, 0, 9, 6}, /* SOFT recovery: nothing resolved */
        {O, O, H, 1, 0, 0, 0, 9, 6},
    };
    (void)state;
    RUN("nagios example", 3, steps);
}

static void test_max_attempts_1(void **state)
{
    static const struct step steps[] = {
        {W, W, H, 1, 1, 1, 0, 1, 1},  /* first problem is HARD at once */
        {W, W, H, 1, 0, 0, 0, 1, 1},  /* same HARD problem: nothing */
        {C, C, H, 1, 1, 1, 0, 3, 3},  /* WARNING -> CRITICAL */
        {O, O, H, 1, 1, 1, 0, 4, 4},  /* HARD recovery */
        {7, U, H, 1, 1, 1, 0, 5, 5},  /* out of range: UNKNOWN */
        {-1, U, H, 1, 0, 0, 0, 5, 5}, /* also UNKNOWN: no change */
        {U, U, H, 1, 0, 0, 0, 5, 5},  {O, O, H, 1, 1, 1, 0, 8, 8},
    };
    (void)state;
    RUN("max 1", 1, steps);
}

static void test_max_attempts_5(void **state)
{
    static const struct step steps[] = {
        {C, C, S, 1, 1, 0, 1, 1, 0},
        {C, C, S, 2, 0, 0, 1, 1, 0}, /* same SOFT problem: counts, no change */
        {W, W, S, 3, 1, 0, 1, 3, 0}, /* SOFT CRITICAL -> SOFT WARNING counts on */
        {C, C, S, 4, 1, 0, 1, 4, 0},
        {C, C, H, 5, 1, 1, 0, 4, 5}, /* type change only: last_change stays */
        {C, C, H, 5, 0, 0, 0, 4, 5},
        {U, U, H, 5, 1, 1, 0, 7, 7}, /* HARD CRITICAL -> HARD UNKNOWN */
        {O, O, H, 1, 1, 1, 0, 8, 8}, /* HARD recovery */
        {W, W, S, 1, 1, 0, 1, 9, 8},
        {W, W, S, 2, 0, 0, 1, 9, 8},
        {O, O, H, 1, 1, 0, 0, 11, 8}, /* SOFT recovery */
        {W, W, S, 1, 1, 0, 1, 12, 8}, /* attempts start over */
        {W, W, S, 2, 0, 0, 1, 12, 8},
        {W, W, S, 3, 0, 0, 1, 12, 8},
        {W, W, S, 4, 0, 0, 1, 12, 8},
        {W, W, H, 5, 1, 1, 0, 12, 16},
        {O, O, H, 1, 1, 1, 0, 17, 17},
    };
    (void)state;
    RUN("max 5", 5, steps);
}

static void test_out_of_range_soft(void **state)
{
    static const struct step steps[] = {
        {99, U, S, 1, 1, 0, 1, 1, 0},
        {-5, U, H, 2, 1, 1, 0, 1, 2},
        {4, U, H, 2, 0, 0, 0, 1, 2}, /* 4 (a host's UNREACHABLE) is UNKNOWN here */
        {O, O, H, 1, 1, 1, 0, 4, 4},
    };
    (void)state;
    RUN("out of range", 2, steps);
}

static void test_max_attempts_clamped(void **state)
{
    struct check_status_rec s;
    struct check_transition tr;
    struct check_policy p = policy(0);
    (void)state;

    /* Below 1 counts as 1. */
    check_state_init(&s, T0);
    check_state_apply(&s, &p, C, T0 + STEP, &tr);
    assert_int_equal(s.state_type, H);
    assert_true(tr.hard_changed);

    /* Above 255 counts as 255, the largest attempt a uint8_t holds. */
    p = policy(1000);
    check_state_init(&s, T0);
    for (int i = 1; i < 255; i++) {
        check_state_apply(&s, &p, C, T0 + i * STEP, &tr);
        assert_int_equal(s.state_type, S);
        assert_int_equal(s.attempt, i);
    }
    check_state_apply(&s, &p, C, T0 + 255 * STEP, &tr);
    assert_int_equal(s.state_type, H);
    assert_int_equal(s.attempt, 255);
    assert_true(tr.hard_changed);
}

/* A max_attempts lowered by a reload while retrying takes effect at once. */
static void test_max_attempts_lowered_while_soft(void **state)
{
    struct check_status_rec s;
    struct check_transition tr;
    struct check_policy p = policy(5);
    (void)state;

    check_state_init(&s, T0);
    check_state_apply(&s, &p, C, T0 + STEP, &tr);
    check_state_apply(&s, &p, C, T0 + 2 * STEP, &tr);
    check_state_apply(&s, &p, C, T0 + 3 * STEP, &tr);
    assert_int_equal(s.attempt, 3);
    p = policy(2);
    check_state_apply(&s, &p, C, T0 + 4 * STEP, &tr);
    assert_int_equal(s.state_type, H);
    assert_int_equal(s.attempt, 2);
    assert_true(tr.hard_changed);
}

/* Percent after each result of OK/CRITICAL alternation from a fresh record:
 * m = k - 1 transitions, see the formula at the top. */
static const double alternating_pct[] = {
    0.0,       6.25,      12.368421, 18.355263, 24.210526, 29.934211, 35.526316, 40.986842,
    46.315789, 51.513158, 56.578947, 61.513158, 66.315789, 70.986842, 75.526316, 79.934211,
    84.210526, 88.355263, 92.368421, 96.25,     100.0,     100.0,
};

/* Percent after each steady OK result following 22 alternating ones: the
 * transitions age out one position per result. */
static const double steady_pct[] = {
    93.75,     87.631579, 81.644737, 75.789474, 70.065789, 64.473684, 59.013158,
    53.684211, 48.486842, 43.421053, 38.486842, 33.684211, 29.013158, 24.473684,
    20.065789, 15.789474, 11.644737, 7.631579,  3.75,      0.0,       0.0,
};

static void test_flap_alternating_and_steady(void **state)
{
    struct check_status_rec s;
    struct check_transition tr;
    struct check_policy p = policy(1);
    int64_t now = T0;
    int started = 0, stopped = 0;
    (void)state;

    check_state_init(&s, T0);
    for (size_t i = 0; i < 22; i++) {
        check_state_apply(&s, &p, i % 2 == 0 ? C : O, now += STEP, &tr);
        if (s.flap_percent < alternating_pct[i] - EPS || s.flap_percent > alternating_pct[i] + EPS)
            fail_msg("result %zu: %f%%, want %f%%", i + 1, s.flap_percent, alternating_pct[i]);
        /* 29.93% at the 6th result stays under 30; 35.53% at the 7th
         * starts flapping, once. */
        assert_int_equal(tr.flap_started, i + 1 == 7);
        assert_int_equal(s.flapping, i + 1 >= 7);
        assert_false(tr.flap_stopped);
        started += tr.flap_started;
    }
    assert_int_equal(s.n_history, CHECK_FLAP_WINDOW);

    for (size_t i = 0; i < sizeof(steady_pct) / sizeof(steady_pct[0]); i++) {
        check_state_apply(&s, &p, O, now += STEP, &tr);
        if (s.flap_percent < steady_pct[i] - EPS || s.flap_percent > steady_pct[i] + EPS)
            fail_msg("steady %zu: %f%%, want %f%%", i + 1, s.flap_percent, steady_pct[i]);
        /* 20.07% is still above the low threshold; 15.79% stops it. */
        assert_int_equal(tr.flap_stopped, i + 1 == 16);
        assert_int_equal(s.flapping, i + 1 < 16);
        assert_false(tr.flap_started);
        stopped += tr.flap_stopped;
    }
    assert_int_equal(started, 1);
    assert_int_equal(stopped, 1);
}

/* Counts where the given policy starts and stops flapping on the same
 * alternating-then-steady sequence. */
static void flap_edges(const struct check_policy *p, int *start_at, int *stop_at)
{
    struct check_status_rec s;
    struct check_transition tr;

    *start_at = *stop_at = 0;
    check_state_init(&s, T0);
    for (int i = 0; i < 22 + 21; i++) {
        int status = i < 22 ? (i % 2 == 0 ? C : O) : O;
        check_state_apply(&s, p, status, T0 + (i + 1) * STEP, &tr);
        if (tr.flap_started)
            *start_at = i + 1;
        if (tr.flap_stopped)
            *stop_at = i + 1;
    }
}

static void test_flap_thresholds(void **state)
{
    struct check_policy p = policy(1);
    int start_at, stop_at;
    (void)state;

    flap_edges(&p, &start_at, &stop_at);
    assert_int_equal(start_at, 7);
    assert_int_equal(stop_at, 22 + 16);

    /* A higher threshold starts later: 35.53% < 36 <= 40.99%. */
    p.flap_high = 36;
    flap_edges(&p, &start_at, &stop_at);
    assert_int_equal(start_at, 8);

    /* A low threshold just above 20.065789% stops one result earlier
     * (Nagios stops at percent <= low). */
    p.flap_high = 30;
    p.flap_low = 20.07;
    flap_edges(&p, &start_at, &stop_at);
    assert_int_equal(stop_at, 22 + 15);

    /* Exactly at the high threshold starts (>=): 100% is reached. */
    p.flap_high = 100;
    p.flap_low = 0;
    flap_edges(&p, &start_at, &stop_at);
    assert_int_equal(start_at, 21);
    assert_int_equal(stop_at, 22 + 20); /* 0% <= 0 */
}

/*
 * The history of Nagios's flapping documentation: 21 results with 7 state
 * changes, at t3, t4, t5, t9, t12, t16 and t19. Unweighted that is
 * 7 / 20 = 35%; the documentation says the weighted value comes out
 * "slightly less" (it guesses 31%). The transition into t_k sits at
 * x = k - 1, so the sum is 7 * 0.75 + (1+2+3+7+10+14+17) * 0.5 / 19 =
 * 5.25 + 27 / 19 = 6.671053, i.e. 33.355263%.
 */
static void test_flap_documented_history(void **state)
{
    static const int results[21] = {O, O, W, C, O, O, O, O, W, W, W, C, C, C, C, O, O, O, U, U, U};
    struct check_status_rec s;
    struct check_transition tr;
    struct check_policy p = policy(1);
    (void)state;

    check_state_init(&s, T0);
    for (int i = 0; i < 21; i++)
        check_state_apply(&s, &p, results[i], T0 + (i + 1) * STEP, &tr);
    assert_int_equal(s.n_history, 21);
    for (int i = 0; i < 21; i++)
        assert_int_equal(s.history[i], results[i]);
    assert_true(s.flap_percent > 33.355263 - EPS && s.flap_percent < 33.355263 + EPS);
    assert_true(s.flapping); /* >= 30 */
}

/* Nagios records only HARD states and soft recoveries, so a check whose
 * problems never become HARD never flaps. */
static void test_flap_soft_problems_not_recorded(void **state)
{
    struct check_status_rec s;
    struct check_transition tr;
    struct check_policy p = policy(3);
    (void)state;

    check_state_init(&s, T0);
    for (int i = 0; i < 40; i++) {
        check_state_apply(&s, &p, i % 2 == 0 ? C : O, T0 + (i + 1) * STEP, &tr);
        assert_false(tr.flap_started);
    }
    assert_int_equal(s.n_history, 20); /* the 20 soft recoveries */
    for (int i = 0; i < s.n_history; i++)
        assert_int_equal(s.history[i], O);
    assert_true(s.flap_percent == 0);

    /* Once problems turn HARD they are recorded: C C C is one entry. */
    check_state_init(&s, T0);
    check_state_apply(&s, &p, C, T0 + 1 * STEP, &tr);
    check_state_apply(&s, &p, C, T0 + 2 * STEP, &tr);
    assert_int_equal(s.n_history, 0);
    check_state_apply(&s, &p, C, T0 + 3 * STEP, &tr);
    assert_int_equal(s.n_history, 1);
    assert_int_equal(s.history[0], C);
    check_state_apply(&s, &p, O, T0 + 4 * STEP, &tr);
    assert_int_equal(s.n_history, 2);
    assert_true(s.flap_percent > 6.25 - EPS && s.flap_percent < 6.25 + EPS);
}

static void test_flap_disabled(void **state)
{
    struct check_status_rec s;
    struct check_transition tr;
    struct check_policy p = policy(1);
    (void)state;

    /* Disabled: history and percent are kept, flapping never starts. */
    p.flap_detection = false;
    check_state_init(&s, T0);
    for (int i = 0; i < 22; i++) {
        check_state_apply(&s, &p, i % 2 == 0 ? C : O, T0 + (i + 1) * STEP, &tr);
        assert_false(tr.flap_started);
        assert_false(s.flapping);
    }
    assert_true(s.flap_percent > 100 - EPS);

    /* Enabled now: the next result starts flapping from that history. */
    p.flap_detection = true;
    check_state_apply(&s, &p, C, T0 + 23 * STEP, &tr);
    assert_true(tr.flap_started);
    assert_true(s.flapping);

    /* Disabled while flapping: stops once, at the next result. */
    p.flap_detection = false;
    check_state_apply(&s, &p, O, T0 + 24 * STEP, &tr);
    assert_true(tr.flap_stopped);
    assert_false(s.flapping);
    check_state_apply(&s, &p, C, T0 + 25 * STEP, &tr);
    assert_false(tr.flap_stopped);
    assert_false(tr.flap_started);
}

static void test_history_window(void **state)
{
    struct check_status_rec s;
    struct check_transition tr;
    struct check_policy p = policy(1);
    static const int cycle[] = {O, W, C, U};
    (void)state;

    check_state_init(&s, T0);
    for (int i = 0; i < 30; i++)
        check_state_apply(&s, &p, cycle[i % 4], T0 + (i + 1) * STEP, &tr);
    assert_int_equal(s.n_history, CHECK_FLAP_WINDOW);
    /* Oldest first: the results 10..30 (indexes 9..29). */
    for (int i = 0; i < CHECK_FLAP_WINDOW; i++)
        assert_int_equal(s.history[i], cycle[(9 + i) % 4]);
    assert_true(s.flap_percent > 100 - EPS);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(check_status_name(0), "OK");
    assert_string_equal(check_status_name(1), "WARNING");
    assert_string_equal(check_status_name(2), "CRITICAL");
    assert_string_equal(check_status_name(3), "UNKNOWN");
    assert_string_equal(check_status_name(-1), "UNKNOWN");
    assert_string_equal(check_status_name(42), "UNKNOWN");
    assert_string_equal(check_host_status_name(0), "UP");
    assert_string_equal(check_host_status_name(1), "UP");
    assert_string_equal(check_host_status_name(2), "DOWN");
    assert_string_equal(check_host_status_name(3), "DOWN");
    assert_string_equal(check_host_status_name(4), "UNREACHABLE");
    assert_string_equal(check_host_status_name(-3), "DOWN");
    assert_string_equal(state_type_name(STATE_SOFT), "SOFT");
    assert_string_equal(state_type_name(STATE_HARD), "HARD");
    assert_string_equal(state_type_name(9), "UNKNOWN");
}

static void test_parse(void **state)
{
    static const struct {
        const char *text;
        int want;
    } good[] = {
        {"ok", 0},      {"OK", 0}, {"Warning", 1}, {"WARNING", 1}, {"critical", 2}, {"CrItIcAl", 2},
        {"unknown", 3}, {"0", 0},  {"1", 1},       {"2", 2},       {"3", 3},
    };
    static const char *const bad[] = {"",    "4",    "-1",   "00",   "01", " ok",
                                      "ok ", "warn", "crit", "okay", "3x", "UNKNOWNS"};
    int v;
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = -7;
        if (check_status_parse(good[i].text, &v) != 0 || v != good[i].want)
            fail_msg("\"%s\": got %d", good[i].text, v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = -7;
        if (check_status_parse(bad[i], &v) != -1 || v != -7)
            fail_msg("\"%s\" accepted", bad[i]);
    }
    assert_int_equal(check_status_parse(NULL, &v), -1);
}

/* ---- Heartbeats ---- */

static struct heartbeat_policy hb_policy(void)
{
    struct heartbeat_policy p = {.period_ms = HOUR, .grace_ms = 10 * MIN};
    return p;
}

/* Evaluates and checks status, text and next_due_ms (0 = none). */
static void hb_expect(const struct heartbeat_status_rec *h, const struct heartbeat_policy *p,
                      int64_t now, int status, const char *text, int64_t due)
{
    char out[256];
    int64_t next = -1;
    int got = heartbeat_evaluate(h, p, now, out, sizeof(out), &next);

    if (got != status || strcmp(out, text) != 0 || next != due)
        fail_msg("at T0%+lldms: got %s \"%s\" due %lld, want %s \"%s\" due %lld",
                 (long long)(now - T0), check_status_name(got), out, (long long)next,
                 check_status_name(status), text, (long long)due);
}

static void test_heartbeat_never_seen(void **state)
{
    struct heartbeat_status_rec h;
    struct heartbeat_policy p = hb_policy();
    (void)state;

    memset(&h, 0x5a, sizeof(h));
    heartbeat_init(&h, T0);
    assert_int_equal(h.created_ms, T0);
    assert_int_equal(h.last_ping_ms, 0);
    assert_int_equal(h.last_success_ms, 0);
    assert_int_equal(h.started_ms, 0);
    assert_int_equal(h.last_fail_ms, 0);
    assert_false(h.has_value);

    hb_expect(&h, &p, T0 + 5 * MIN, CHECK_OK, "no success yet, watching began 5m ago",
              T0 + 70 * MIN);
    hb_expect(&h, &p, T0 + 70 * MIN - 1, CHECK_OK, "no success yet, watching began 1h9m ago",
              T0 + 70 * MIN);
    hb_expect(&h, &p, T0 + 70 * MIN, CHECK_CRITICAL,
              "missing: no success since watching began 1h10m ago", 0);
    hb_expect(&h, &p, T0 + 72 * MIN + 30 * SEC, CHECK_CRITICAL,
              "missing: no success since watching began 1h12m ago", 0);
}

static void test_heartbeat_late(void **state)
{
    struct heartbeat_status_rec h;
    struct heartbeat_policy p = hb_policy();
    (void)state;

    heartbeat_init(&h, T0);
    heartbeat_ping(&h, HB_PING_SUCCESS, false, 0, T0 + 10 * MIN);
    assert_int_equal(h.last_ping_ms, T0 + 10 * MIN);
    hb_expect(&h, &p, T0 + 15 * MIN, CHECK_OK, "last success 5m ago", T0 + 80 * MIN);
    hb_expect(&h, &p, T0 + 10 * MIN + 45 * SEC, CHECK_OK, "last success 45s ago", T0 + 80 * MIN);
    hb_expect(&h, &p, T0 + 10 * MIN + 250, CHECK_OK, "last success 250ms ago", T0 + 80 * MIN);
    hb_expect(&h, &p, T0 + 82 * MIN, CHECK_CRITICAL,
              "late: last success 1h12m ago, expected every 1h (grace 10m)", 0);

    /* A new success resets the deadline. */
    heartbeat_ping(&h, HB_PING_SUCCESS, false, 0, T0 + 90 * MIN);
    hb_expect(&h, &p, T0 + 91 * MIN, CHECK_OK, "last success 1m ago", T0 + 160 * MIN);

    /* Without grace the deadline is exactly one period. */
    p.grace_ms = 0;
    hb_expect(&h, &p, T0 + 150 * MIN - 1, CHECK_OK, "last success 59m59s ago", T0 + 150 * MIN);
    hb_expect(&h, &p, T0 + 150 * MIN, CHECK_CRITICAL,
              "late: last success 1h ago, expected every 1h", 0);

    /* Days: two largest units, truncated. */
    p.period_ms = DAY;
    p.grace_ms = 90 * MIN;
    hb_expect(&h, &p, T0 + 90 * MIN + 2 * DAY + 3 * HOUR + 59 * MIN, CHECK_CRITICAL,
              "late: last success 2d3h ago, expected every 1d (grace 1h30m)", 0);
}

static void test_heartbeat_min_value(void **state)
{
    struct heartbeat_status_rec h;
    struct heartbeat_policy p = hb_policy();
    (void)state;

    p.has_min_value = true;
    p.min_value = 30000;
    heartbeat_init(&h, T0);

    /* Before any success there is nothing to compare. */
    hb_expect(&h, &p, T0 + MIN, CHECK_OK, "no success yet, watching began 1m ago", T0 + 70 * MIN);

    heartbeat_ping(&h, HB_PING_SUCCESS, true, 12000, T0);
    hb_expect(&h, &p, T0 + 5 * MIN, CHECK_WARNING, "reported 12000, expected at least 30000",
              T0 + 70 * MIN);
    /* Lateness outranks a low value. */
    hb_expect(&h, &p, T0 + 70 * MIN, CHECK_CRITICAL,
              "late: last success 1h10m ago, expected every 1h (grace 10m)", 0);

    heartbeat_ping(&h, HB_PING_SUCCESS, true, 30000, T0 + HOUR);
    hb_expect(&h, &p, T0 + HOUR + 5 * MIN, CHECK_OK, "last success 5m ago, value 30000",
              T0 + 130 * MIN);

    heartbeat_ping(&h, HB_PING_SUCCESS, true, 29999.5, T0 + 2 * HOUR);
    hb_expect(&h, &p, T0 + 2 * HOUR + MIN, CHECK_WARNING,
              "reported 29999.5, expected at least 30000", T0 + 190 * MIN);

    /* A success that should carry a number and carries none is suspect. */
    heartbeat_ping(&h, HB_PING_SUCCESS, false, 0, T0 + 3 * HOUR);
    assert_false(h.has_value);
    hb_expect(&h, &p, T0 + 3 * HOUR + MIN, CHECK_WARNING,
              "reported no value, expected at least 30000", T0 + 250 * MIN);

    /* Without a minimum the value is only shown. */
    p.has_min_value = false;
    heartbeat_ping(&h, HB_PING_SUCCESS, true, 7, T0 + 4 * HOUR);
    hb_expect(&h, &p, T0 + 4 * HOUR + MIN, CHECK_OK, "last success 1m ago, value 7",
              T0 + 310 * MIN);
}

static void test_heartbeat_max_runtime(void **state)
{
    struct heartbeat_status_rec h;
    struct heartbeat_policy p = hb_policy();
    (void)state;

    p.max_runtime_ms = 30 * MIN;
    heartbeat_init(&h, T0);
    heartbeat_ping(&h, HB_PING_SUCCESS, false, 0, T0);
    heartbeat_ping(&h, HB_PING_START, false, 0, T0 + 10 * MIN);
    assert_int_equal(h.started_ms, T0 + 10 * MIN);
    assert_int_equal(h.last_success_ms, T0);

    /* Running within the limit: the earlier deadline is the runtime one. */
    hb_expect(&h, &p, T0 + 20 * MIN, CHECK_OK, "last success 20m ago; running for 10m",
              T0 + 40 * MIN);
    hb_expect(&h, &p, T0 + 40 * MIN, CHECK_CRITICAL, "running for 30m, longer than max_runtime 30m",
              T0 + 70 * MIN);
    /* Still too long once late as well: the more specific reason wins. */
    hb_expect(&h, &p, T0 + 75 * MIN, CHECK_CRITICAL,
              "running for 1h5m, longer than max_runtime 30m", 0);

    /* The success ends the run. */
    heartbeat_ping(&h, HB_PING_SUCCESS, true, 3, T0 + 76 * MIN);
    assert_int_equal(h.started_ms, 0);
    hb_expect(&h, &p, T0 + 77 * MIN, CHECK_OK, "last success 1m ago, value 3", T0 + 146 * MIN);

    /* Without max_runtime a run in progress is not time-limited. */
    p.max_runtime_ms = 0;
    heartbeat_ping(&h, HB_PING_START, false, 0, T0 + 80 * MIN);
    hb_expect(&h, &p, T0 + 140 * MIN, CHECK_OK, "last success 1h4m ago, value 3; running for 1h",
              T0 + 146 * MIN);
    hb_expect(&h, &p, T0 + 146 * MIN, CHECK_CRITICAL,
              "late: last success 1h10m ago, expected every 1h (grace 10m)", 0);

    /* A run started before the first success ever. */
    p.max_runtime_ms = 30 * MIN;
    heartbeat_init(&h, T0);
    heartbeat_ping(&h, HB_PING_START, false, 0, T0 + MIN);
    hb_expect(&h, &p, T0 + 2 * MIN, CHECK_OK,
              "no success yet, watching began 2m ago; running for 1m", T0 + 31 * MIN);
}

static void test_heartbeat_fail_then_success(void **state)
{
    struct heartbeat_status_rec h;
    struct heartbeat_policy p = hb_policy();
    (void)state;

    heartbeat_init(&h, T0);
    heartbeat_ping(&h, HB_PING_SUCCESS, false, 0, T0);
    heartbeat_ping(&h, HB_PING_START, false, 0, T0 + 4 * MIN);
    heartbeat_ping(&h, HB_PING_FAIL, false, 0, T0 + 5 * MIN);
    assert_int_equal(h.started_ms, 0);
    assert_int_equal(h.last_fail_ms, T0 + 5 * MIN);
    /* T0 + 5m is 2023-11-14T22:18:20Z. The lateness deadline of the last
     * success is still a time-driven change (to a different reason). */
    hb_expect(&h, &p, T0 + 6 * MIN, CHECK_CRITICAL, "failed at 2023-11-14T22:18:20.000Z (1m ago)",
              T0 + 70 * MIN);

    /* A retry starting does not clear the failure; a success does. */
    heartbeat_ping(&h, HB_PING_START, false, 0, T0 + 7 * MIN);
    hb_expect(&h, &p, T0 + 7 * MIN, CHECK_CRITICAL, "failed at 2023-11-14T22:18:20.000Z (2m ago)",
              T0 + 70 * MIN);
    hb_expect(&h, &p, T0 + 2 * HOUR, CHECK_CRITICAL,
              "failed at 2023-11-14T22:18:20.000Z (1h55m ago)", 0);
    heartbeat_ping(&h, HB_PING_SUCCESS, false, 0, T0 + 2 * HOUR);
    assert_int_equal(h.last_fail_ms, 0);
    hb_expect(&h, &p, T0 + 2 * HOUR + MIN, CHECK_OK, "last success 1m ago", T0 + 190 * MIN);

    /* A failure with no success ever. */
    heartbeat_init(&h, T0);
    heartbeat_ping(&h, HB_PING_FAIL, false, 0, T0 + 5 * MIN);
    hb_expect(&h, &p, T0 + 5 * MIN, CHECK_CRITICAL, "failed at 2023-11-14T22:18:20.000Z (0ms ago)",
              T0 + 70 * MIN);
}

static void test_heartbeat_output_buffers(void **state)
{
    struct heartbeat_status_rec h;
    struct heartbeat_policy p = hb_policy();
    char small[8];
    (void)state;

    heartbeat_init(&h, T0);
    heartbeat_ping(&h, HB_PING_SUCCESS, true, 123456789, T0);
    heartbeat_ping(&h, HB_PING_START, false, 0, T0 + MIN);
    /* Truncated but terminated, also across the appended parts. */
    memset(small, 'x', sizeof(small));
    assert_int_equal(heartbeat_evaluate(&h, &p, T0 + 2 * MIN, small, sizeof(small), NULL),
                     CHECK_OK);
    assert_string_equal(small, "last su");
    /* No buffer and no next_due at all. */
    assert_int_equal(heartbeat_evaluate(&h, &p, T0 + 2 * HOUR, NULL, 0, NULL), CHECK_CRITICAL);
    /* A clock that stepped back reads as zero elapsed. */
    char out[128];
    int64_t due;
    heartbeat_evaluate(&h, &p, T0 - MIN, out, sizeof(out), &due);
    assert_string_equal(out, "last success 0ms ago, value 123456789; running for 0ms");
    assert_int_equal(due, T0 + 70 * MIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_nagios_example_max3),
        cmocka_unit_test(test_max_attempts_1),
        cmocka_unit_test(test_max_attempts_5),
        cmocka_unit_test(test_out_of_range_soft),
        cmocka_unit_test(test_max_attempts_clamped),
        cmocka_unit_test(test_max_attempts_lowered_while_soft),
        cmocka_unit_test(test_flap_alternating_and_steady),
        cmocka_unit_test(test_flap_thresholds),
        cmocka_unit_test(test_flap_documented_history),
        cmocka_unit_test(test_flap_soft_problems_not_recorded),
        cmocka_unit_test(test_flap_disabled),
        cmocka_unit_test(test_history_window),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_heartbeat_never_seen),
        cmocka_unit_test(test_heartbeat_late),
        cmocka_unit_test(test_heartbeat_min_value),
        cmocka_unit_test(test_heartbeat_max_runtime),
        cmocka_unit_test(test_heartbeat_fail_then_success),
        cmocka_unit_test(test_heartbeat_output_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
