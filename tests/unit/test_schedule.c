/*
 * test_schedule.c - unit tests for src/oncall/schedule.c and the pure parts
 * of `tocsin oncall` (src/cli/oncall.c: its URL and its table).
 *
 * Every instant is simulated: expected times are written as UTC wall times
 * (timegm does not depend on TZ) worked out from the zones' published rules.
 * Berlin is UTC+1 in winter and UTC+2 from 2026-03-29 01:00 UTC to
 * 2026-10-25 01:00 UTC; New York is UTC-5 in winter and UTC-4 from
 * 2026-03-08 to 2026-11-01. Zones come from the system's zoneinfo, as in
 * test_tz.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/recur.h"
#include "base/tz.h"
#include "cli/oncall.h"
#include "oncall/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOUR_MS (3600LL * 1000)
#define MIN_MS  (60LL * 1000)
#define DAY_MS  (24 * HOUR_MS)

#define WD_MON_FRI 0x3e
#define WD_SAT     0x40

/* UTC ms of a UTC wall time. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t)timegm(&tm) * 1000;
}

static const struct tz *zone(const char *name)
{
    char err[200] = "";
    const struct tz *z = tz_get(name, err, sizeof(err));
    if (!z)
        fail_msg("tz_get(%s): %s", name, err);
    return z;
}

/* A layer with no restrictions and no end; the test owns nothing in it. */
static struct cfg_layer make_layer(char **users, size_t n, enum rotation_unit unit, int rotation,
                                   int handoff_minute, int y, int m, int d, const struct tz *z)
{
    struct cfg_layer l = {0};
    l.name = "layer";
    l.users = users;
    l.n_users = n;
    l.unit = unit;
    l.rotation = rotation;
    l.handoff_minute = handoff_minute;
    l.start_year = y;
    l.start_month = m;
    l.start_day = d;
    l.tz = z;
    return l;
}

/* A window every day selected by weekdays (0 = every day), starting at
 * start_minute local time and lasting hours. */
static struct recur make_window(const struct tz *z, enum recur_freq freq, uint8_t weekdays,
                                int start_minute, int hours)
{
    struct recur r = {0};
    r.freq = freq;
    r.tz = z;
    r.weekdays = weekdays;
    r.start_minute = start_minute;
    r.duration_ms = hours * HOUR_MS;
    return r;
}

static void expect_shift(const struct schedule_shift *s, const char *user, int64_t start,
                         int64_t end, int layer)
{
    if (strcmp(s->user, user) != 0 || s->start != start || s->end != end || s->layer != layer)
        fail_msg("got %s [%lld, %lld) layer %d, want %s [%lld, %lld) layer %d", s->user,
                 (long long)s->start, (long long)s->end, s->layer, user, (long long)start,
                 (long long)end, layer);
}

static void layer_shifts(const struct cfg_layer *l, int64_t from, int64_t to,
                         struct schedule_shift **out, size_t *n)
{
    assert_int_equal(schedule_layer_shifts(l, 0, from, to, out, n), 0);
    assert_non_null(*out);
}

/* A weekly 09:00 handoff stays at 09:00 local through both DST changes, so
 * the week that holds the change is 167 h or 169 h of real time. */
static void test_weekly_berlin_dst(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    char *users[] = {"anna", "ben", "cara"};
    struct cfg_layer l = make_layer(users, 3, ROT_WEEKS, 1, 9 * 60, 2026, 3, 2, berlin);
    struct schedule_shift *sh;
    size_t n;

    layer_shifts(&l, utc(2026, 3, 1, 0, 0), utc(2027, 3, 1, 0, 0), &sh, &n);
    /* Nothing before the first handoff (2026-03-02 09:00 CET); 52 turns,
     * the last one cut at the end of the range. */
    assert_int_equal(n, 52);
    expect_shift(&sh[0], "anna", utc(2026, 3, 2, 8, 0), utc(2026, 3, 9, 8, 0), 0);
    expect_shift(&sh[3], "anna", utc(2026, 3, 23, 8, 0), utc(2026, 3, 30, 7, 0), 0);
    assert_int_equal(sh[3].end - sh[3].start, 167 * HOUR_MS);
    expect_shift(&sh[4], "ben", utc(2026, 3, 30, 7, 0), utc(2026, 4, 6, 7, 0), 0);
    expect_shift(&sh[33], "anna", utc(2026, 10, 19, 7, 0), utc(2026, 10, 26, 8, 0), 0);
    assert_int_equal(sh[33].end - sh[33].start, 169 * HOUR_MS);
    expect_shift(&sh[34], "ben", utc(2026, 10, 26, 8, 0), utc(2026, 11, 2, 8, 0), 0);
    assert_int_equal(sh[51].end, utc(2027, 3, 1, 0, 0));
    for (size_t i = 0; i < n; i++) {
        struct tz_local lt;
        tz_to_local(berlin, sh[i].start, &lt);
        assert_int_equal(lt.wday, 1);
        assert_int_equal(lt.hour, 9);
        assert_int_equal(lt.minute, 0);
        assert_string_equal(sh[i].user, users[i % 3]);
        if (i > 0)
            assert_int_equal(sh[i].start, sh[i - 1].end);
        if (i != 3 && i != 33 && i != 51)
            assert_int_equal(sh[i].end - sh[i].start, 168 * HOUR_MS);
    }
    free(sh);

    /* A range starting inside a turn is clipped to it, and end_ms stops the
     * layer in the middle of a later turn. */
    l.end_ms = utc(2026, 10, 22, 12, 0);
    layer_shifts(&l, utc(2026, 10, 15, 0, 0), utc(2026, 11, 15, 0, 0), &sh, &n);
    assert_int_equal(n, 2);
    expect_shift(&sh[0], "cara", utc(2026, 10, 15, 0, 0), utc(2026, 10, 19, 7, 0), 0);
    expect_shift(&sh[1], "anna", utc(2026, 10, 19, 7, 0), utc(2026, 10, 22, 12, 0), 0);
    free(sh);
}

/* Daily turns follow the local date (23 h on the spring-forward day); hourly
 * turns are real time, so their local handoff moves with DST. */
static void test_daily_and_12h(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    char *users[] = {"a", "b"};
    struct schedule_shift *sh;
    size_t n;

    struct cfg_layer d = make_layer(users, 2, ROT_DAYS, 1, 8 * 60, 2026, 3, 27, berlin);
    layer_shifts(&d, utc(2026, 3, 27, 0, 0), utc(2026, 3, 31, 0, 0), &sh, &n);
    assert_int_equal(n, 4);
    expect_shift(&sh[0], "a", utc(2026, 3, 27, 7, 0), utc(2026, 3, 28, 7, 0), 0);
    expect_shift(&sh[1], "b", utc(2026, 3, 28, 7, 0), utc(2026, 3, 29, 6, 0), 0);
    expect_shift(&sh[2], "a", utc(2026, 3, 29, 6, 0), utc(2026, 3, 30, 6, 0), 0);
    expect_shift(&sh[3], "b", utc(2026, 3, 30, 6, 0), utc(2026, 3, 31, 0, 0), 0);
    free(sh);

    struct cfg_layer h = make_layer(users, 2, ROT_HOURS, 12, 8 * 60, 2026, 3, 28, berlin);
    layer_shifts(&h, utc(2026, 3, 28, 0, 0), utc(2026, 3, 30, 12, 0), &sh, &n);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        int64_t start = utc(2026, 3, 28, 7, 0) + (int64_t)i * 12 * HOUR_MS;
        int64_t end = i == 4 ? utc(2026, 3, 30, 12, 0) : start + 12 * HOUR_MS;
        expect_shift(&sh[i], users[i % 2], start, end, 0);
    }
    /* After the change the 19:00 UTC handoff is 21:00 CEST, not 20:00. */
    struct tz_local lt;
    tz_to_local(berlin, sh[3].start, &lt);
    assert_int_equal(lt.hour, 21);
    free(sh);

    /* One person in the layer: the turns merge into one shift. */
    struct cfg_layer one = make_layer(users, 1, ROT_HOURS, 12, 0, 2026, 3, 28, berlin);
    layer_shifts(&one, utc(2026, 3, 28, 0, 0), utc(2026, 4, 28, 0, 0), &sh, &n);
    assert_int_equal(n, 1);
    expect_shift(&sh[0], "a", utc(2026, 3, 28, 0, 0), utc(2026, 4, 28, 0, 0), 0);
    free(sh);
}

/* A custom rotation of 3 days, asked about far from its start. */
static void test_custom_rotation(void **state)
{
    (void)state;
    const struct tz *utcz = zone("UTC");
    char *users[] = {"a", "b", "c", "d"};
    struct cfg_layer l = make_layer(users, 4, ROT_DAYS, 3, 0, 2026, 1, 1, utcz);
    struct cfg_schedule s = {.name = "x", .tz = utcz, .layers = &l, .n_layers = 1};
    int64_t until = 0;
    int layer = 7;

    /* 2026-02-15 is day 45: turn 15, user d, from 02-15 to 02-18. */
    const char *who = schedule_oncall_at(&s, NULL, 0, utc(2026, 2, 15, 12, 0), &until, &layer);
    assert_non_null(who);
    assert_string_equal(who, "d");
    assert_int_equal(until, utc(2026, 2, 18, 0, 0));
    assert_int_equal(layer, 0);

    struct schedule_shift *sh;
    size_t n;
    layer_shifts(&l, utc(2026, 2, 15, 0, 0), utc(2026, 2, 27, 0, 0), &sh, &n);
    assert_int_equal(n, 4);
    expect_shift(&sh[0], "d", utc(2026, 2, 15, 0, 0), utc(2026, 2, 18, 0, 0), 0);
    expect_shift(&sh[1], "a", utc(2026, 2, 18, 0, 0), utc(2026, 2, 21, 0, 0), 0);
    expect_shift(&sh[3], "c", utc(2026, 2, 24, 0, 0), utc(2026, 2, 27, 0, 0), 0);
    free(sh);

    /* Two-week turns count in local days too. */
    struct cfg_layer w2 = make_layer(users, 2, ROT_WEEKS, 2, 0, 2026, 1, 5, utcz);
    layer_shifts(&w2, utc(2026, 1, 1, 0, 0), utc(2026, 2, 20, 0, 0), &sh, &n);
    assert_int_equal(n, 4);
    expect_shift(&sh[0], "a", utc(2026, 1, 5, 0, 0), utc(2026, 1, 19, 0, 0), 0);
    expect_shift(&sh[3], "b", utc(2026, 2, 16, 0, 0), utc(2026, 2, 20, 0, 0), 0);
    free(sh);
}

/* Business hours: the layer covers weekdays 08:00-18:00 only, and the user
 * whose turn it is holds each piece (the Monday 09:00 handoff splits the
 * Monday window). */
static void test_restriction_weekdays(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    char *users[] = {"ann", "bob"};
    struct recur r = make_window(berlin, RECUR_WEEKLY, WD_MON_FRI, 8 * 60, 10);
    struct cfg_layer l = make_layer(users, 2, ROT_WEEKS, 1, 9 * 60, 2026, 1, 5, berlin);
    l.restrictions = &r;
    l.n_restrictions = 1;
    struct schedule_shift *sh;
    size_t n;

    layer_shifts(&l, utc(2026, 1, 11, 23, 0), utc(2026, 1, 18, 23, 0), &sh, &n);
    assert_int_equal(n, 6);
    expect_shift(&sh[0], "ann", utc(2026, 1, 12, 7, 0), utc(2026, 1, 12, 8, 0), 0);
    expect_shift(&sh[1], "bob", utc(2026, 1, 12, 8, 0), utc(2026, 1, 12, 17, 0), 0);
    for (int i = 2; i < 6; i++)
        expect_shift(&sh[i], "bob", utc(2026, 1, 11 + i, 7, 0), utc(2026, 1, 11 + i, 17, 0), 0);
    free(sh);

    /* In summer the same local hours are an hour earlier in UTC. */
    layer_shifts(&l, utc(2026, 7, 1, 0, 0), utc(2026, 7, 2, 0, 0), &sh, &n);
    assert_int_equal(n, 1);
    expect_shift(&sh[0], "bob", utc(2026, 7, 1, 6, 0), utc(2026, 7, 1, 16, 0), 0);
    free(sh);
}

/* Nights (weekdays from 18:00 for 14 h) plus weekends (Saturday 08:00 for
 * 48 h): their union is everything outside business hours, and a handoff
 * inside a window between turns of the same person is no break. */
static void test_restriction_nights_weekends(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    char *users[] = {"night"};
    struct recur r[2] = {make_window(berlin, RECUR_DAILY, WD_MON_FRI, 18 * 60, 14),
                         make_window(berlin, RECUR_WEEKLY, WD_SAT, 8 * 60, 48)};
    struct cfg_layer l = make_layer(users, 1, ROT_WEEKS, 1, 0, 2026, 1, 1, berlin);
    l.restrictions = r;
    l.n_restrictions = 2;
    struct schedule_shift *sh;
    size_t n;

    layer_shifts(&l, utc(2026, 1, 11, 23, 0), utc(2026, 1, 18, 23, 0), &sh, &n);
    assert_int_equal(n, 6);
    expect_shift(&sh[0], "night", utc(2026, 1, 11, 23, 0), utc(2026, 1, 12, 7, 0), 0);
    for (int i = 1; i < 5; i++)
        expect_shift(&sh[i], "night", utc(2026, 1, 11 + i, 17, 0), utc(2026, 1, 12 + i, 7, 0), 0);
    expect_shift(&sh[5], "night", utc(2026, 1, 16, 17, 0), utc(2026, 1, 18, 23, 0), 0);
    free(sh);
}

/* The higher layer (business hours) wins where it has someone; the lower
 * (24/7) fills the rest. */
static void test_two_layers(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    char *base_users[] = {"a", "b"}, *day_users[] = {"x"};
    struct recur r = make_window(berlin, RECUR_WEEKLY, WD_MON_FRI, 8 * 60, 10);
    struct cfg_layer layers[2] = {
        make_layer(base_users, 2, ROT_DAYS, 1, 0, 2026, 1, 1, berlin),
        make_layer(day_users, 1, ROT_WEEKS, 1, 0, 2026, 1, 1, berlin),
    };
    layers[1].restrictions = &r;
    layers[1].n_restrictions = 1;
    struct cfg_schedule s = {.name = "ops", .tz = berlin, .layers = layers, .n_layers = 2};
    struct schedule_shift *sh;
    size_t n;

    /* Tuesday 2026-01-13 in Berlin is day 12 of layer 0: a. */
    assert_int_equal(
        schedule_shifts(&s, NULL, 0, utc(2026, 1, 12, 23, 0), utc(2026, 1, 13, 23, 0), &sh, &n), 0);
    assert_int_equal(n, 3);
    expect_shift(&sh[0], "a", utc(2026, 1, 12, 23, 0), utc(2026, 1, 13, 7, 0), 0);
    expect_shift(&sh[1], "x", utc(2026, 1, 13, 7, 0), utc(2026, 1, 13, 17, 0), 1);
    expect_shift(&sh[2], "a", utc(2026, 1, 13, 17, 0), utc(2026, 1, 13, 23, 0), 0);
    free(sh);

    /* Saturday 2026-01-17 (day 16): only the lower layer, a whole day of a. */
    assert_int_equal(
        schedule_shifts(&s, NULL, 0, utc(2026, 1, 16, 23, 0), utc(2026, 1, 17, 23, 0), &sh, &n), 0);
    assert_int_equal(n, 1);
    expect_shift(&sh[0], "a", utc(2026, 1, 16, 23, 0), utc(2026, 1, 17, 23, 0), 0);
    free(sh);

    /* Before any layer starts there is nobody: an empty, non-NULL array. */
    assert_int_equal(
        schedule_shifts(&s, NULL, 0, utc(2025, 1, 1, 0, 0), utc(2025, 2, 1, 0, 0), &sh, &n), 0);
    assert_non_null(sh);
    assert_int_equal(n, 0);
    free(sh);
    /* An empty range gives nothing; a range over the limit fails. */
    assert_int_equal(schedule_shifts(&s, NULL, 0, 5, 5, &sh, &n), 0);
    assert_int_equal(n, 0);
    free(sh);
    assert_int_equal(schedule_shifts(&s, NULL, 0, 0, SCHEDULE_MAX_RANGE_MS + 1, &sh, &n), -1);
    assert_null(sh);
}

/* Follow the sun: Berlin 08:00-20:00 local as the higher layer, New York
 * from 14:00 local for 13 h below it. The New York window reaches Berlin's
 * morning whatever the two zones' DST states (they change on different
 * dates), so a whole year has no gap, and each side rotates weekly. */
static void test_follow_the_sun(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin"), *ny = zone("America/New_York");
    char *eu[] = {"eu1", "eu2"}, *us[] = {"us1", "us2"};
    struct recur r_us = make_window(ny, RECUR_DAILY, 0, 14 * 60, 13);
    struct recur r_eu = make_window(berlin, RECUR_DAILY, 0, 8 * 60, 12);
    struct cfg_layer layers[2] = {
        make_layer(us, 2, ROT_WEEKS, 1, 14 * 60, 2025, 12, 29, ny),
        make_layer(eu, 2, ROT_WEEKS, 1, 8 * 60, 2025, 12, 29, berlin),
    };
    layers[0].restrictions = &r_us;
    layers[0].n_restrictions = 1;
    layers[1].restrictions = &r_eu;
    layers[1].n_restrictions = 1;
    struct cfg_schedule s = {.name = "sun", .tz = berlin, .layers = layers, .n_layers = 2};
    struct schedule_shift *sh;
    size_t n;
    int64_t from = utc(2026, 1, 1, 0, 0), to = utc(2027, 1, 1, 0, 0);

    assert_int_equal(schedule_shifts(&s, NULL, 0, from, to, &sh, &n), 0);
    assert_true(n > 700);
    assert_int_equal(sh[0].start, from);
    assert_int_equal(sh[n - 1].end, to);
    for (size_t i = 1; i < n; i++) {
        /* No gap, no overlap, and the sides take turns. */
        assert_int_equal(sh[i].start, sh[i - 1].end);
        assert_int_not_equal(sh[i].layer, sh[i - 1].layer);
        assert_true(sh[i].start < sh[i].end);
    }
    for (size_t i = 0; i < n; i++) {
        struct tz_local lt;
        if (sh[i].layer != 1)
            continue;
        tz_to_local(berlin, sh[i].start, &lt);
        assert_int_equal(lt.hour, 8);
        assert_int_equal(sh[i].end - sh[i].start, 12 * HOUR_MS);
    }
    free(sh);

    /* A winter day in detail: Monday 2026-01-05 is week 1, so eu2 and
     * (after the 14:00 New York handoff) us2. */
    assert_int_equal(
        schedule_shifts(&s, NULL, 0, utc(2026, 1, 5, 0, 0), utc(2026, 1, 6, 0, 0), &sh, &n), 0);
    assert_int_equal(n, 3);
    expect_shift(&sh[0], "us1", utc(2026, 1, 5, 0, 0), utc(2026, 1, 5, 7, 0), 0);
    expect_shift(&sh[1], "eu2", utc(2026, 1, 5, 7, 0), utc(2026, 1, 5, 19, 0), 1);
    expect_shift(&sh[2], "us2", utc(2026, 1, 5, 19, 0), utc(2026, 1, 6, 0, 0), 0);
    free(sh);
}

/* Overrides win over the layers: one inside a shift cuts it in three, one
 * across a handoff is one shift, one of another schedule is ignored, and
 * where two overlap the newer one wins. */
static void test_overrides(void **state)
{
    (void)state;
    const struct tz *utcz = zone("UTC");
    char *users[] = {"a", "b"};
    struct cfg_layer l = make_layer(users, 2, ROT_DAYS, 1, 9 * 60, 2026, 11, 1, utcz);
    struct cfg_schedule s = {.name = "ops", .tz = utcz, .layers = &l, .n_layers = 1};
    struct schedule_override ov[] = {
        {.id = 1,
         .schedule = "ops",
         .user = "zed",
         .start = utc(2026, 11, 1, 12, 0),
         .end = utc(2026, 11, 1, 15, 0)},
        {.id = 2,
         .schedule = "ops",
         .user = "yan",
         .start = utc(2026, 11, 2, 6, 0),
         .end = utc(2026, 11, 2, 12, 0)},
        {.id = 3,
         .schedule = "other",
         .user = "nope",
         .start = utc(2026, 11, 1, 10, 0),
         .end = utc(2026, 11, 1, 11, 0)},
        {.id = 4,
         .schedule = "ops",
         .user = "xia",
         .start = utc(2026, 11, 1, 14, 0),
         .end = utc(2026, 11, 1, 16, 0)},
    };
    struct schedule_shift *sh;
    size_t n;

    assert_int_equal(
        schedule_shifts(&s, ov, 2, utc(2026, 11, 1, 0, 0), utc(2026, 11, 3, 9, 0), &sh, &n), 0);
    assert_int_equal(n, 5);
    expect_shift(&sh[0], "a", utc(2026, 11, 1, 9, 0), utc(2026, 11, 1, 12, 0), 0);
    expect_shift(&sh[1], "zed", utc(2026, 11, 1, 12, 0), utc(2026, 11, 1, 15, 0), -1);
    assert_int_equal(sh[1].override_id, 1);
    expect_shift(&sh[2], "a", utc(2026, 11, 1, 15, 0), utc(2026, 11, 2, 6, 0), 0);
    expect_shift(&sh[3], "yan", utc(2026, 11, 2, 6, 0), utc(2026, 11, 2, 12, 0), -1);
    assert_int_equal(sh[3].override_id, 2);
    expect_shift(&sh[4], "b", utc(2026, 11, 2, 12, 0), utc(2026, 11, 3, 9, 0), 0);
    assert_int_equal(sh[4].override_id, 0);
    free(sh);

    /* All four: the other schedule's is ignored, xia (id 4) beats zed. */
    assert_int_equal(
        schedule_shifts(&s, ov, 4, utc(2026, 11, 1, 9, 0), utc(2026, 11, 1, 18, 0), &sh, &n), 0);
    assert_int_equal(n, 4);
    expect_shift(&sh[0], "a", utc(2026, 11, 1, 9, 0), utc(2026, 11, 1, 12, 0), 0);
    expect_shift(&sh[1], "zed", utc(2026, 11, 1, 12, 0), utc(2026, 11, 1, 14, 0), -1);
    expect_shift(&sh[2], "xia", utc(2026, 11, 1, 14, 0), utc(2026, 11, 1, 16, 0), -1);
    expect_shift(&sh[3], "a", utc(2026, 11, 1, 16, 0), utc(2026, 11, 1, 18, 0), 0);
    free(sh);

    /* An override fills a gap too (before the layer starts). */
    struct schedule_override early = {.id = 9,
                                      .schedule = "ops",
                                      .user = "eve",
                                      .start = utc(2026, 11, 1, 6, 0),
                                      .end = utc(2026, 11, 1, 10, 0)};
    assert_int_equal(
        schedule_shifts(&s, &early, 1, utc(2026, 11, 1, 0, 0), utc(2026, 11, 1, 12, 0), &sh, &n),
        0);
    assert_int_equal(n, 2);
    expect_shift(&sh[0], "eve", utc(2026, 11, 1, 6, 0), utc(2026, 11, 1, 10, 0), -1);
    expect_shift(&sh[1], "a", utc(2026, 11, 1, 10, 0), utc(2026, 11, 1, 12, 0), 0);
    free(sh);

    /* Who is on call, and until when. */
    int64_t until;
    int layer;
    const char *who = schedule_oncall_at(&s, ov, 2, utc(2026, 11, 1, 10, 0), &until, &layer);
    assert_string_equal(who, "a");
    assert_int_equal(until, utc(2026, 11, 1, 12, 0));
    assert_int_equal(layer, 0);
    who = schedule_oncall_at(&s, ov, 2, utc(2026, 11, 1, 13, 0), &until, &layer);
    assert_string_equal(who, "zed");
    assert_int_equal(until, utc(2026, 11, 1, 15, 0));
    assert_int_equal(layer, -1);
    who = schedule_oncall_at(&s, ov, 2, utc(2026, 11, 2, 7, 0), &until, NULL);
    assert_string_equal(who, "yan");
    assert_int_equal(until, utc(2026, 11, 2, 12, 0));
    who = schedule_oncall_at(&s, ov, 2, utc(2026, 11, 2, 12, 0), &until, &layer);
    assert_string_equal(who, "b");
    assert_int_equal(until, utc(2026, 11, 3, 9, 0));
    /* Before the first handoff: nobody, until the layer starts. */
    who = schedule_oncall_at(&s, ov, 2, utc(2026, 11, 1, 8, 0), &until, &layer);
    assert_null(who);
    assert_int_equal(until, utc(2026, 11, 1, 9, 0));
    assert_int_equal(layer, -1);
}

/* schedule_oncall_at's horizon: a shift running past 90 days reports the
 * 90-day mark, and nobody within 90 days reports 0. */
static void test_oncall_horizon(void **state)
{
    (void)state;
    const struct tz *utcz = zone("UTC");
    char *users[] = {"solo"};
    struct cfg_layer l = make_layer(users, 1, ROT_WEEKS, 1, 0, 2026, 1, 1, utcz);
    struct cfg_schedule s = {.name = "s", .tz = utcz, .layers = &l, .n_layers = 1};
    int64_t t = utc(2026, 6, 1, 0, 0), until = -1;

    const char *who = schedule_oncall_at(&s, NULL, 0, t, &until, NULL);
    assert_string_equal(who, "solo");
    assert_int_equal(until, t + 90 * DAY_MS);

    l.start_year = 2027;
    who = schedule_oncall_at(&s, NULL, 0, t, &until, NULL);
    assert_null(who);
    assert_int_equal(until, 0);
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* A year of a three-layer schedule with hourly turns, started ten years
 * earlier, is computed directly, not by walking from the start. */
static void test_year_hourly_fast(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin");
    char *u1[] = {"a1", "a2", "a3", "a4", "a5"}, *u2[] = {"b1", "b2", "b3", "b4"},
         *u3[] = {"c1", "c2", "c3"};
    struct recur r = make_window(berlin, RECUR_WEEKLY, WD_MON_FRI, 8 * 60, 10);
    struct cfg_layer layers[3] = {
        make_layer(u1, 5, ROT_HOURS, 1, 0, 2016, 1, 1, berlin),
        make_layer(u2, 4, ROT_HOURS, 1, 30, 2016, 1, 1, berlin),
        make_layer(u3, 3, ROT_HOURS, 1, 0, 2016, 1, 1, berlin),
    };
    layers[2].restrictions = &r;
    layers[2].n_restrictions = 1;
    layers[1].end_ms = utc(2026, 9, 1, 0, 0);
    struct cfg_schedule s = {.name = "busy", .tz = berlin, .layers = layers, .n_layers = 3};
    struct schedule_shift *sh;
    size_t n;
    struct timespec t0, t1;
    int64_t from = utc(2026, 1, 1, 0, 0), to = utc(2027, 1, 1, 0, 0);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(schedule_shifts(&s, NULL, 0, from, to, &sh, &n), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = elapsed_ms(&t0, &t1);
    print_message("a year of hourly shifts, 3 layers: %zu shifts in %.1f ms\n", n, ms);
    /* Milliseconds in a normal build; the bound leaves room for sanitizers
     * and a loaded machine. */
    assert_true(ms < 1000.0);
    assert_int_equal(sh[0].start, from);
    assert_int_equal(sh[n - 1].end, to);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(sh[i].start, sh[i - 1].end);

    /* Spot check layer 0 (from September): turn k started k hours after
     * 2016-01-01 00:00 CET, real time. */
    int64_t first = utc(2015, 12, 31, 23, 0), t = utc(2026, 10, 3, 5, 0);
    int64_t k = (t - first) / HOUR_MS;
    int64_t until;
    int layer;
    const char *who = schedule_oncall_at(&s, NULL, 0, t, &until, &layer);
    assert_string_equal(who, u1[k % 5]);
    assert_int_equal(layer, 0);
    assert_int_equal(until, t + HOUR_MS);
    free(sh);
}

static size_t count(const char *hay, const char *needle)
{
    size_t c = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        c++;
    return c;
}

/* Whether s[0..n) is well-formed UTF-8 (enough for this test: no sequence
 * cut short at either end). */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 : (s[i] & 0xf0) == 0xe0 ? 3 : 4;
        if ((s[i] & 0xc0) == 0x80 || i + len > n)
            return 0;
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
        }
        i += len;
    }
    return 1;
}

/* RFC 5545: CRLF lines of at most 75 octets, folds outside UTF-8
 * sequences, TEXT escaping, UTC times, and the per-user filter. */
static void test_ical(void **state)
{
    (void)state;
    const char *name = "Bereitschaft Störungsdienst Nord – Mühlenstraße – äöü äöü äöü äöü";
    struct schedule_shift sh[] = {
        {.user = "anna",
         .start = utc(2026, 11, 2, 8, 0),
         .end = utc(2026, 11, 9, 8, 0),
         .layer = 0},
        {.user = "ben, jr; \\x\nnew",
         .start = utc(2026, 11, 9, 8, 0),
         .end = utc(2026, 11, 9, 12, 30),
         .layer = -1,
         .override_id = 7},
        {.user = "anna",
         .start = utc(2026, 11, 9, 12, 30),
         .end = utc(2026, 11, 16, 8, 0),
         .layer = 1},
    };
    char *ics = schedule_ical(name, "tocsin.example", sh, 3, NULL, utc(2026, 11, 1, 0, 0));
    assert_non_null(ics);

    assert_true(strncmp(ics, "BEGIN:VCALENDAR\r\n", 17) == 0);
    size_t len = strlen(ics);
    assert_true(len > 15 && strcmp(ics + len - 15, "END:VCALENDAR\r\n") == 0);
    /* Every line ends in CRLF, is at most 75 octets and valid UTF-8 alone. */
    assert_non_null(strstr(ics, "\r\n "));
    for (const char *p = ics; *p;) {
        const char *eol = strstr(p, "\r\n");
        assert_non_null(eol);
        assert_true(eol - p <= 75);
        assert_null(memchr(p, '\n', (size_t)(eol - p)));
        assert_null(memchr(p, '\r', (size_t)(eol - p)));
        assert_true(utf8_ok((const unsigned char *)p, (size_t)(eol - p)));
        p = eol + 2;
    }

    /* Unfolded, the content is what was asked for. */
    char *flat = malloc(len + 1);
    assert_non_null(flat);
    size_t m = 0;
    for (size_t i = 0; i < len; i++) {
        if (ics[i] == '\r' && ics[i + 1] == '\n' && ics[i + 2] == ' ') {
            i += 2;
            continue;
        }
        flat[m++] = ics[i];
    }
    flat[m] = 0;
    assert_non_null(strstr(flat, "\r\nVERSION:2.0\r\n"));
    assert_non_null(strstr(flat, "\r\nPRODID:-//Tocsin//On call//EN\r\n"));
    assert_non_null(strstr(flat, "\r\nCALSCALE:GREGORIAN\r\n"));
    assert_non_null(strstr(flat, "\r\nX-WR-CALNAME:Bereitschaft Störungsdienst Nord – "
                                 "Mühlenstraße – äöü äöü äöü äöü\r\n"));
    assert_int_equal(count(flat, "BEGIN:VEVENT\r\n"), 3);
    assert_int_equal(count(flat, "END:VEVENT\r\n"), 3);
    assert_int_equal(count(flat, "DTSTAMP:20261101T000000Z\r\n"), 3);
    assert_non_null(strstr(flat, "\r\nDTSTART:20261102T080000Z\r\nDTEND:20261109T080000Z\r\n"));
    assert_non_null(strstr(flat, "\r\nDTSTART:20261109T080000Z\r\nDTEND:20261109T123000Z\r\n"));
    assert_non_null(strstr(flat, "\r\nSUMMARY:On call: Bereitschaft Störungsdienst Nord – "
                                 "Mühlenstraße – äöü äöü äöü äöü (anna)\r\n"));
    assert_non_null(strstr(flat, "(ben\\, jr\\; \\\\x\\nnew)\r\n"));
    assert_non_null(strstr(flat, "\r\nUID:Bereitschaft Störungsdienst Nord – Mühlenstraße – "
                                 "äöü äöü äöü äöü-20261102T080000Z-anna@tocsin.example\r\n"));
    assert_non_null(strstr(flat, "(override 7).\r\n"));
    assert_non_null(strstr(flat, "(layer 2).\r\n"));
    free(flat);
    free(ics);

    /* Only anna's shifts. */
    ics = schedule_ical("ops", NULL, sh, 3, "anna", 0);
    assert_non_null(ics);
    assert_int_equal(count(ics, "BEGIN:VEVENT\r\n"), 2);
    assert_null(strstr(ics, "ben"));
    assert_non_null(strstr(ics, "DTSTAMP:19700101T000000Z\r\n"));
    free(ics);

    /* Nobody's: an empty but valid calendar. */
    ics = schedule_ical("ops", "x", sh, 3, "nobody", 0);
    assert_non_null(ics);
    assert_int_equal(count(ics, "BEGIN:VEVENT"), 0);
    assert_non_null(strstr(ics, "END:VCALENDAR\r\n"));
    free(ics);
}

/* The start of turn k as the semantics define it, written independently of
 * schedule.c's search: the oracle only ever steps k forward by one. */
static int64_t oracle_turn_start(const struct cfg_layer *l, int64_t k)
{
    int64_t first =
        tz_from_local(l->tz, l->start_year, l->start_month, l->start_day, 0, l->handoff_minute, 0);
    if (l->unit == ROT_HOURS)
        return first + k * l->rotation * HOUR_MS;
    int days = (int)k * l->rotation * (l->unit == ROT_WEEKS ? 7 : 1);
    return tz_from_local(l->tz, l->start_year, l->start_month, l->start_day + days, 0,
                         l->handoff_minute, 0);
}

/* Who is on call at t, by brute force; k[] holds each layer's current turn
 * and only moves forward, so t must not decrease between calls. */
static const char *oracle_at(const struct cfg_schedule *s, const struct schedule_override *ov,
                             size_t n_ov, int64_t t, int64_t *k)
{
    const struct schedule_override *best = NULL;
    for (size_t i = 0; i < n_ov; i++) {
        if (strcmp(ov[i].schedule, s->name) == 0 && ov[i].start <= t && t < ov[i].end &&
            (!best || ov[i].id > best->id))
            best = &ov[i];
    }
    if (best)
        return best->user;
    for (size_t i = s->n_layers; i-- > 0;) {
        const struct cfg_layer *l = &s->layers[i];
        if (t < oracle_turn_start(l, 0) || (l->end_ms && t >= l->end_ms))
            continue;
        bool active = l->n_restrictions == 0;
        for (size_t r = 0; r < l->n_restrictions && !active; r++) {
            struct recur rr = l->restrictions[r];
            if (!rr.tz)
                rr.tz = l->tz;
            active = recur_active(&rr, t);
        }
        if (!active)
            continue;
        while (oracle_turn_start(l, k[i] + 1) <= t)
            k[i]++;
        return l->users[k[i] % (int64_t)l->n_users];
    }
    return NULL;
}

/* A mixed schedule checked every 10 minutes against the brute-force oracle
 * across both zones' spring changes: a daily layer, an hourly one whose
 * handoff lies in the DST gap with a restriction left without a zone (it
 * must follow the layer's), a New York layer with weekday hours and an end,
 * and overlapping overrides. */
static void test_oracle(void **state)
{
    (void)state;
    const struct tz *berlin = zone("Europe/Berlin"), *ny = zone("America/New_York");
    char *u0[] = {"d1", "d2", "d3"}, *u1[] = {"h1", "h2"}, *u2[] = {"n1", "n2", "n3"};
    struct recur nights = make_window(NULL, RECUR_DAILY, 0, 20 * 60, 10);
    struct recur office = make_window(ny, RECUR_WEEKLY, WD_MON_FRI, 9 * 60, 8);
    struct cfg_layer layers[3] = {
        make_layer(u0, 3, ROT_DAYS, 1, 7 * 60 + 30, 2026, 2, 10, berlin),
        make_layer(u1, 2, ROT_HOURS, 5, 2 * 60 + 30, 2026, 2, 27, berlin),
        make_layer(u2, 3, ROT_WEEKS, 1, 2 * 60 + 30, 2026, 1, 5, ny),
    };
    layers[1].restrictions = &nights;
    layers[1].n_restrictions = 1;
    layers[2].restrictions = &office;
    layers[2].n_restrictions = 1;
    layers[2].end_ms = utc(2026, 3, 30, 15, 10);
    struct cfg_schedule s = {.name = "mix", .tz = berlin, .layers = layers, .n_layers = 3};
    struct schedule_override ov[] = {
        {.id = 5,
         .schedule = "mix",
         .user = "o5",
         .start = utc(2026, 3, 9, 10, 0),
         .end = utc(2026, 3, 11, 3, 20)},
        {.id = 6,
         .schedule = "mix",
         .user = "o6",
         .start = utc(2026, 3, 10, 0, 0),
         .end = utc(2026, 3, 10, 6, 0)},
        {.id = 2,
         .schedule = "mix",
         .user = "o2",
         .start = utc(2026, 3, 28, 23, 0),
         .end = utc(2026, 3, 29, 4, 0)},
        {.id = 8,
         .schedule = "else",
         .user = "no",
         .start = utc(2026, 3, 20, 0, 0),
         .end = utc(2026, 3, 25, 0, 0)},
    };
    int64_t from = utc(2026, 3, 1, 0, 0), to = utc(2026, 4, 5, 0, 0), k[3] = {0, 0, 0};
    struct schedule_shift *sh;
    size_t n, j = 0;

    assert_int_equal(schedule_shifts(&s, ov, 4, from, to, &sh, &n), 0);
    for (size_t i = 1; i < n; i++)
        assert_true(sh[i].start >= sh[i - 1].end);
    for (int64_t t = from; t < to; t += 10 * MIN_MS) {
        const char *want = oracle_at(&s, ov, 4, t, k);
        while (j < n && sh[j].end <= t)
            j++;
        const char *got = j < n && sh[j].start <= t ? sh[j].user : NULL;
        if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0))
            fail_msg("at %lld: want %s, got %s", (long long)t, want ? want : "nobody",
                     got ? got : "nobody");
        int64_t until;
        if (t % (6 * HOUR_MS) == 0) {
            const char *at = schedule_oncall_at(&s, ov, 4, t, &until, NULL);
            assert_true((at == NULL) == (want == NULL));
            if (at)
                assert_string_equal(at, want);
        }
    }
    free(sh);
}

/* The request URL: query parameters percent-encoded, trailing slashes of
 * the base dropped. */
static void test_cli_url(void **state)
{
    (void)state;
    char *u = oncall_url("http://127.0.0.1:8080", NULL, NULL);
    assert_string_equal(u, "http://127.0.0.1:8080/api/v1/oncall");
    free(u);
    u = oncall_url("http://h:1//", "ops-primary", NULL);
    assert_string_equal(u, "http://h:1/api/v1/oncall?schedule=ops-primary");
    free(u);
    u = oncall_url("http://h", NULL, "2026-11-21T10:00:00+01:00");
    assert_string_equal(u, "http://h/api/v1/oncall?at=2026-11-21T10%3A00%3A00%2B01%3A00");
    free(u);
    u = oncall_url("http://h", "a b&c", "now");
    assert_string_equal(u, "http://h/api/v1/oncall?schedule=a%20b%26c&at=now");
    free(u);
}

/* The table: handoffs in each schedule's zone (09:00 CET for 08:00 UTC in
 * November), "nobody" when nobody is, then the policies. */
static void test_cli_render(void **state)
{
    (void)state;
    const char *json =
        "{\"at\": \"2026-11-21T10:00:00Z\","
        " \"schedules\": ["
        "  {\"name\": \"ops-primary\", \"time_zone\": \"Europe/Berlin\","
        "   \"oncall\": {\"user\": \"anna\", \"until\": \"2026-11-23T08:00:00Z\","
        "                \"layer\": \"layer 1\"},"
        "   \"next\": {\"user\": \"ben\", \"from\": \"2026-11-23T08:00:00Z\"}},"
        "  {\"name\": \"us\", \"time_zone\": \"America/New_York\", \"oncall\": null,"
        "   \"next\": {\"user\": \"carl\", \"from\": \"2026-07-01T13:00:00Z\"}},"
        "  {\"name\": \"empty\", \"time_zone\": \"UTC\", \"oncall\": null, \"next\": null}],"
        " \"policies\": [{\"name\": \"ops\", \"levels\": ["
        "  {\"level\": 1, \"delay_s\": 0, \"targets\": [{\"type\": \"schedule\","
        "    \"name\": \"ops-primary\", \"users\": [\"anna\"]}]},"
        "  {\"level\": 2, \"delay_s\": 5400, \"targets\": ["
        "    {\"type\": \"user\", \"name\": \"carl\", \"users\": [\"carl\"]},"
        "    {\"type\": \"team\", \"name\": \"sre\", \"users\": []}]}]}]}";
    char err[256] = "";
    char *out = oncall_render(json, strlen(json), err, sizeof(err));
    if (!out)
        fail_msg("oncall_render: %s", err);
    assert_string_equal(out, "on call at 2026-11-21T10:00:00Z\n"
                             "\n"
                             "ops-primary  anna    until Mon 2026-11-23 09:00 +01:00 "
                             "(Europe/Berlin), then ben\n"
                             "us           nobody  until Wed 2026-07-01 09:00 -04:00 "
                             "(America/New_York), then carl\n"
                             "empty        nobody\n"
                             "\n"
                             "escalation policy ops\n"
                             "  level 1, at once: schedule ops-primary (anna)\n"
                             "  level 2, after 1h30m: user carl (carl); team sre (nobody)\n");
    free(out);

    const char *none = "{\"at\": \"2026-11-21T10:00:00Z\", \"schedules\": [], \"policies\": []}";
    out = oncall_render(none, strlen(none), err, sizeof(err));
    assert_non_null(out);
    assert_string_equal(out, "on call at 2026-11-21T10:00:00Z\n\nno schedules\n");
    free(out);

    assert_null(oncall_render("[1]", 3, err, sizeof(err)));
    assert_null(oncall_render("{\"schedules\": 3}", 16, err, sizeof(err)));
    assert_null(oncall_render("not json", 8, err, sizeof(err)));
    assert_true(strlen(err) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weekly_berlin_dst),
        cmocka_unit_test(test_daily_and_12h),
        cmocka_unit_test(test_custom_rotation),
        cmocka_unit_test(test_restriction_weekdays),
        cmocka_unit_test(test_restriction_nights_weekends),
        cmocka_unit_test(test_two_layers),
        cmocka_unit_test(test_follow_the_sun),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_oncall_horizon),
        cmocka_unit_test(test_year_hourly_fast),
        cmocka_unit_test(test_oracle),
        cmocka_unit_test(test_ical),
        cmocka_unit_test(test_cli_url),
        cmocka_unit_test(test_cli_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
