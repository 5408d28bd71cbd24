/* timefmt.c - RFC 3339 timestamps and durations; see timefmt.h. */
#include "timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
 * well-known civil-from-days inverse, rewritten here). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

int timefmt_parse_rfc3339(const char *s, size_t len, int64_t *out_ms)
{
    int y, mo, d, h, mi, sec, frac_ms = 0;
    size_t i;
    int64_t offset_s = 0;

    if (len < 20)
        return -1;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -1;
    i = 19;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        int scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (i - start < 3) {
                frac_ms += (s[i] - '0') * scale;
                scale /= 10;
            }
            i++;
        }
        if (i == start || i - start > 9)
            return -1;
    }
    if (i >= len)
        return -1;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        offset_s = 0;
    } else if (s[i] == '+' || s[i] == '-') {
        int oh, om;
        int sign = s[i] == '-' ? -1 : 1;
        const char *o = s + i + 1;
        size_t rest = len - i - 1;
        if (rest == 5 && o[2] == ':') {
            if (digits(o, 2, &oh) || digits(o + 3, 2, &om))
                return -1;
        } else if (rest == 4) {
            if (digits(o, 2, &oh) || digits(o + 2, 2, &om))
                return -1;
        } else {
            return -1;
        }
        if (oh > 23 || om > 59)
            return -1;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (sec == 60)
        sec = 59; /* A leap second is folded into the second before it. */
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *out_ms = secs * 1000 + frac_ms;
    return 0;
}

char *timefmt_format_rfc3339(int64_t ms, char *buf, size_t size)
{
    struct tm tm;
    int64_t secs = ms / 1000;
    int64_t rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, size, "1970-01-01T00:00:00.000Z");
        return buf;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
    return buf;
}

int timefmt_parse_duration(const char *s, int64_t *out_ms)
{
    int64_t total = 0;
    const char *p = s;

    if (!s || !*s)
        return -1;
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return 0;
    }
    while (*p) {
        int64_t v = 0, unit;
        const char *start = p;
        while (*p >= '0' && *p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (*p - '0');
            p++;
        }
        if (p == start)
            return -1;
        if (p[0] == 'm' && p[1] == 's') {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else if (*p == 'd') {
            unit = 86400000;
            p++;
        } else if (*p == 'w') {
            unit = 7 * 86400000LL;
            p++;
        } else {
            return -1;
        }
        if (v > (INT64_MAX - total) / unit)
            return -1;
        total += v * unit;
    }
    *out_ms = total;
    return 0;
}
