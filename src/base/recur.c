/*
 * recur.c - repeating windows in a zone's local time; see recur.h.
 *
 * The rule is evaluated day by day in the zone's calendar: each selected day
 * yields one window that starts at start_minute local time (mapped to UTC by
 * tz_from_local, which settles DST gaps and overlaps) and lasts duration_ms
 * of real time. To find the window that holds an instant, the walk starts far
 * enough back for the longest window to reach it.
 */
#include "recur.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RECUR_DAY_MS (86400LL * 1000)
/* Windows are looked for at most this many days before t (about ten years);
 * a window longer than that is only seen if it started within the span. */
#define RECUR_MAX_BACK_DAYS 3660
/* A valid rule has a window at least every 62 days (monthly, day 31 clamped),
 * so this many days past t is plenty before giving up. */
#define RECUR_MAX_AHEAD_DAYS 400

/* Floor division for negative day counts. */
static int64_t recur_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Civil date of a day count since 1970-01-01 (the inverse of tz's
 * days-from-civil). */
static void recur_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = recur_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t recur_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = recur_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t recur_add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* Whether the rule puts a window on local date y-m-d (weekday wday). */
static bool recur_selects(const struct recur *r, int y, int m, int d, int wday)
{
    switch (r->freq) {
    case RECUR_DAILY:
        return r->weekdays == 0 || (r->weekdays >> wday & 1);
    case RECUR_WEEKLY:
        return r->weekdays >> wday & 1;
    case RECUR_MONTHLY: {
        int last = tz_days_in_month(y, m);
        int want = r->monthday == -1 ? last : (r->monthday < last ? r->monthday : last);
        return d == want;
    }
    default:
        return false;
    }
}

/* Rules that can never produce a window are answered "never" up front. */
static bool recur_valid(const struct recur *r)
{
    if (r->duration_ms <= 0)
        return false;
    switch (r->freq) {
    case RECUR_ONCE:
        return true;
    case RECUR_DAILY:
        break;
    case RECUR_WEEKLY:
        if ((r->weekdays & 0x7f) == 0)
            return false;
        break;
    case RECUR_MONTHLY:
        if (r->monthday != -1 && (r->monthday < 1 || r->monthday > 31))
            return false;
        break;
    default:
        return false;
    }
    return r->start_minute >= 0 && r->start_minute < 1440;
}

bool recur_window(const struct recur *r, int64_t t, int64_t *start, int64_t *end)
{
    if (!r || !recur_valid(r))
        return false;
    if (r->freq == RECUR_ONCE) {
        int64_t s = r->start_ms, e = recur_add_sat(r->start_ms, r->duration_ms);
        if ((r->until_ms != 0 && s >= r->until_ms) || t >= e)
            return false;
        *start = s;
        *end = e;
        return true;
    }
    const struct tz *z = r->tz ? r->tz : tz_get("UTC", NULL, 0);
    if (!z)
        return false;

    /* When the rule begins after t, its first window is the answer, so the
     * walk is anchored there rather than at t. */
    int64_t anchor = r->start_ms != 0 && r->start_ms > t ? r->start_ms : t;
    /* The earliest start that could still reach t, no earlier than the rule's
     * start; the walk begins two days before it to cover the zone offset and
     * the start minute. */
    int64_t from = recur_add_sat(t, -r->duration_ms);
    if (r->start_ms != 0 && from < r->start_ms)
        from = r->start_ms;
    int64_t min_from = recur_add_sat(anchor, -RECUR_MAX_BACK_DAYS * RECUR_DAY_MS);
    if (from < min_from)
        from = min_from;
    struct tz_local lt;
    tz_to_local(z, from, &lt);
    int64_t day = recur_days_from_civil(lt.year, lt.month, lt.day) - 2;
    tz_to_local(z, anchor, &lt);
    int64_t last_day = recur_days_from_civil(lt.year, lt.month, lt.day) + RECUR_MAX_AHEAD_DAYS;

    for (; day <= last_day; day++) {
        int y, m, d;
        recur_civil_from_days(day, &y, &m, &d);
        int wday = (int)(day - recur_floor_div(day + 4, 7) * 7 + 4);
        if (!recur_selects(r, y, m, d, wday))
            continue;
        int64_t s = tz_from_local(z, y, m, d, 0, r->start_minute, 0);
        if (r->start_ms != 0 && s < r->start_ms)
            continue;
        if (r->until_ms != 0 && s >= r->until_ms)
            return false;
        int64_t e = recur_add_sat(s, r->duration_ms);
        if (e > t) {
            /* The first window (in start order) that has not ended by t:
             * it holds t, or it is the next one to start. */
            *start = s;
            *end = e;
            return true;
        }
    }
    return false;
}

bool recur_active(const struct recur *r, int64_t t)
{
    int64_t s, e;
    return recur_window(r, t, &s, &e) && s <= t && t < e;
}

int recur_parse_weekdays(const char *const *names, size_t n, uint8_t *out, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        uint8_t bits;
    } table[] = {
        {"sun", 1 << 0}, {"sunday", 1 << 0},   {"mon", 1 << 1},    {"monday", 1 << 1},
        {"tue", 1 << 2}, {"tuesday", 1 << 2},  {"wed", 1 << 3},    {"wednesday", 1 << 3},
        {"thu", 1 << 4}, {"thursday", 1 << 4}, {"fri", 1 << 5},    {"friday", 1 << 5},
        {"sat", 1 << 6}, {"saturday", 1 << 6}, {"weekdays", 0x3e}, {"weekends", 0x41},
    };
    uint8_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = names ? names[i] : NULL;
        size_t k;
        for (k = 0; name && k < sizeof(table) / sizeof(table[0]); k++) {
            if (strcasecmp(name, table[k].name) == 0)
                break;
        }
        if (!name || k == sizeof(table) / sizeof(table[0])) {
            if (err && errlen)
                snprintf(err, errlen,
                         "unknown weekday \"%.32s\" (use sun..sat, full names, "
                         "weekdays or weekends)",
                         name ? name : "(null)");
            return -1;
        }
        bits |= table[k].bits;
    }
    *out = bits;
    return 0;
}

int recur_parse_hhmm(const char *s, int *minute_out)
{
    if (!s || strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++) {
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59)
        return -1;
    *minute_out = h * 60 + m;
    return 0;
}
