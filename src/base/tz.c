/*
 * tz.c - IANA time zones from TZif files (RFC 8536); see tz.h.
 *
 * A zone is the list of transitions from the file, the local time types they
 * select, and the footer's POSIX TZ rule, which gives the offset for instants
 * after the last transition (zic writes "slim" files that stop in 2037 or
 * earlier and leave the rest to the rule). Everything is computed with the
 * zone passed in, never with the process-global TZ, so any thread can convert
 * in any zone.
 *
 * The file is outside input: every count and index is checked against the
 * buffer before it is used, and the arithmetic stays in int64_t for any
 * year an int64_t millisecond count can reach.
 */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* RFC 8536 section 3.2: utoff SHOULD lie in [-89999, 93599]; a file outside
 * that range is rejected so that offsets stay well within a day or so. */
#define TZ_UTOFF_MIN (-89999)
#define TZ_UTOFF_MAX 93599
/* Zone files are a few kilobytes; anything far larger is not one. */
#define TZ_FILE_MAX     (1024 * 1024)
#define TZ_NAME_MAX     255
#define TZ_SECS_PER_DAY 86400

struct tz_type {
    int32_t utoff; /* seconds east of UTC */
    bool isdst;
};

/* One end of the footer's DST period: a day rule and a local time. */
struct tz_rule_date {
    char kind;    /* 'J' (Julian 1..365, no Feb 29), 'D' (zero-based day 0..365), 'M' */
    int n;        /* J or D: the day number */
    int month;    /* M: 1..12 */
    int week;     /* M: 1..5, 5 = last */
    int wday;     /* M: 0 = Sunday .. 6 */
    int32_t secs; /* local time of day of the change, -167h..167h (RFC 8536 3.3.1) */
};

/* The footer's POSIX TZ string, parsed. */
struct tz_rule {
    int32_t std_utoff; /* seconds east of UTC, standard time */
    bool has_dst;
    int32_t dst_utoff;
    struct tz_rule_date start, end; /* DST starts (in standard time) and ends (in DST) */
};

struct tz {
    char *name;
    size_t ntrans;
    int64_t *trans;      /* transition instants, seconds, strictly ascending */
    uint8_t *trans_type; /* index into types for each transition */
    size_t ntypes;       /* >= 1 */
    struct tz_type *types;
    bool has_rule; /* the footer held a non-empty TZ string */
    struct tz_rule rule;
    struct tz *next; /* tz_get's cache list */
};

static void tz_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tz_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- Civil calendar arithmetic (proleptic Gregorian, int64 years) ---- */

static bool tz_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int tz_month_days(int64_t y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && tz_is_leap(y))
        return 29;
    return dm[m - 1];
}

int tz_days_in_month(int year, int month)
{
    if (month < 1 || month > 12)
        return 0;
    return tz_month_days(year, month);
}

/* Floor division and its remainder, for negative instants. */
static int64_t tz_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Days since 1970-01-01 of y-m-d (m 1..12, d counted from 1 and allowed to run
 * past the month). The 400-year era split keeps every step exact. */
static int64_t tz_days_from_civil(int64_t y, int m, int64_t d)
{
    y -= m <= 2;
    int64_t era = tz_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 + (d - 1);
}

/* The inverse: the civil date of a day count. */
static void tz_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = tz_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int tz_wday_of_days(int64_t days)
{
    return (int)(days - tz_floor_div(days + 4, 7) * 7 + 4);
}

/* ---- The footer rule ---- */

/* Day count of a rule date in year y. */
static int64_t tz_rule_day(const struct tz_rule_date *r, int64_t y)
{
    int64_t jan1 = tz_days_from_civil(y, 1, 1);
    switch (r->kind) {
    case 'J':
        /* Julian day 1..365 never counts February 29, so from March on a
         * leap year is one day further along. */
        return jan1 + r->n - 1 + (tz_is_leap(y) && r->n >= 60 ? 1 : 0);
    case 'D':
        return jan1 + r->n;
    default: {
        int64_t first = tz_days_from_civil(y, r->month, 1);
        int dim = tz_month_days(y, r->month);
        int day = 1 + ((r->wday - tz_wday_of_days(first)) % 7 + 7) % 7 + (r->week - 1) * 7;
        while (day > dim)
            day -= 7;
        return first + day - 1;
    }
    }
}

/* The UTC instants (seconds) at which DST starts and ends in year y. */
static void tz_rule_year(const struct tz_rule *r, int64_t y, int64_t *start, int64_t *end)
{
    *start = tz_rule_day(&r->start, y) * TZ_SECS_PER_DAY + r->start.secs - r->std_utoff;
    *end = tz_rule_day(&r->end, y) * TZ_SECS_PER_DAY + r->end.secs - r->dst_utoff;
}

/* The year whose rule dates lie nearest to instant sec. */
static int64_t tz_rule_year_of(const struct tz_rule *r, int64_t sec)
{
    int64_t y;
    int m, d;
    tz_civil_from_days(tz_floor_div(sec + r->std_utoff, TZ_SECS_PER_DAY), &y, &m, &d);
    return y;
}

/*
 * Whether DST is in effect at sec under the rule. The state is set by the
 * latest start or end at or before sec. Rule dates may move up to a week
 * from their nominal day (hours -167..167), so the two years before and the
 * one after are considered too. On a tie the later year's change wins, which
 * makes "J1/0 .. J365/25" (DST all year, RFC 8536 3.3.1) stay in DST.
 */
static bool tz_rule_dst_at(const struct tz_rule *r, int64_t sec)
{
    int64_t y0 = tz_rule_year_of(r, sec);
    int64_t best = INT64_MIN;
    bool dst = false;
    for (int64_t y = y0 - 2; y <= y0 + 1; y++) {
        int64_t s, e;
        tz_rule_year(r, y, &s, &e);
        /* Within one year, an end at the same instant as a start wins so that
         * an empty DST period means standard time. */
        if (s <= sec && s >= best) {
            best = s;
            dst = true;
        }
        if (e <= sec && e >= best) {
            best = e;
            dst = false;
        }
    }
    return dst;
}

/* The first rule change strictly after sec, or INT64_MAX when there is none. */
static int64_t tz_rule_next(const struct tz_rule *r, int64_t sec)
{
    int64_t y0 = tz_rule_year_of(r, sec);
    int64_t best = INT64_MAX;
    for (int64_t y = y0 - 1; y <= y0 + 2; y++) {
        int64_t s, e;
        tz_rule_year(r, y, &s, &e);
        if (s > sec && s < best)
            best = s;
        if (e > sec && e < best)
            best = e;
    }
    return best;
}

/* ---- POSIX TZ string parsing (the footer) ---- */

/* A zone abbreviation: alphabetic, or quoted in <> with digits and signs. */
static const char *tz_posix_name(const char *p)
{
    const char *start;
    if (*p == '<') {
        start = ++p;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
               *p == '+' || *p == '-')
            p++;
        if (*p != '>' || p - start < 3)
            return NULL;
        return p + 1;
    }
    start = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - start < 3 ? NULL : p;
}

/* An unsigned decimal of 1..max_digits digits. */
static const char *tz_posix_num(const char *p, int max_digits, int *out)
{
    int v = 0, n = 0;
    while (*p >= '0' && *p <= '9' && n < max_digits) {
        v = v * 10 + (*p - '0');
        p++;
        n++;
    }
    if (n == 0 || (*p >= '0' && *p <= '9'))
        return NULL;
    *out = v;
    return p;
}

/* [+-]hh[:mm[:ss]] with hh at most max_hours; the result keeps the sign. */
static const char *tz_posix_hms(const char *p, int max_hours, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!(p = tz_posix_num(p, 3, &h)) || h > max_hours)
        return NULL;
    if (*p == ':') {
        if (!(p = tz_posix_num(p + 1, 2, &m)) || m > 59)
            return NULL;
        if (*p == ':') {
            if (!(p = tz_posix_num(p + 1, 2, &s)) || s > 59)
                return NULL;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

/* ",date[/time]": Jn, n or Mm.w.d; the time defaults to 02:00. */
static const char *tz_posix_date(const char *p, struct tz_rule_date *d)
{
    if (*p++ != ',')
        return NULL;
    if (*p == 'J') {
        d->kind = 'J';
        if (!(p = tz_posix_num(p + 1, 3, &d->n)) || d->n < 1 || d->n > 365)
            return NULL;
    } else if (*p == 'M') {
        d->kind = 'M';
        if (!(p = tz_posix_num(p + 1, 2, &d->month)) || d->month < 1 || d->month > 12)
            return NULL;
        if (*p++ != '.' || !(p = tz_posix_num(p, 1, &d->week)) || d->week < 1 || d->week > 5)
            return NULL;
        if (*p++ != '.' || !(p = tz_posix_num(p, 1, &d->wday)) || d->wday > 6)
            return NULL;
    } else {
        d->kind = 'D';
        if (!(p = tz_posix_num(p, 3, &d->n)) || d->n > 365)
            return NULL;
    }
    d->secs = 2 * 3600;
    if (*p == '/') {
        /* RFC 8536 3.3.1 extends POSIX: hours -167..167. */
        if (!(p = tz_posix_hms(p + 1, 167, &d->secs)))
            return NULL;
    }
    return p;
}

/*
 * Parses a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3" or
 * "<+0330>-3:30". POSIX offsets count west of UTC; they are stored east.
 * Returns 0 or -1. A string naming DST without rules is rejected: RFC 8536
 * footers always carry them and guessing a default would be wrong somewhere.
 */
static int tz_posix_parse(const char *s, struct tz_rule *r)
{
    const char *p = s;
    int32_t off;
    memset(r, 0, sizeof(*r));
    if (!(p = tz_posix_name(p)) || !(p = tz_posix_hms(p, 24, &off)))
        return -1;
    r->std_utoff = -off;
    if (*p == '\0')
        return 0;
    if (!(p = tz_posix_name(p)))
        return -1;
    r->has_dst = true;
    r->dst_utoff = r->std_utoff + 3600;
    if (*p != ',' && *p != '\0') {
        if (!(p = tz_posix_hms(p, 24, &off)))
            return -1;
        r->dst_utoff = -off;
    }
    if (!(p = tz_posix_date(p, &r->start)) || !(p = tz_posix_date(p, &r->end)))
        return -1;
    return *p == '\0' ? 0 : -1;
}

/* ---- TZif parsing ---- */

static uint32_t tz_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t tz_be64(const unsigned char *p)
{
    uint64_t v = (uint64_t)tz_be32(p) << 32 | tz_be32(p + 4);
    return (int64_t)v;
}

/* The six counts of a TZif header, in file order. */
struct tz_counts {
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

/* Reads a 44-byte header at buf[pos]; returns the version byte or -1. */
static int tz_header(const unsigned char *buf, size_t len, size_t pos, struct tz_counts *c)
{
    if (len < 44 || pos > len - 44 || memcmp(buf + pos, "TZif", 4) != 0)
        return -1;
    const unsigned char *h = buf + pos + 20;
    c->isutcnt = tz_be32(h);
    c->isstdcnt = tz_be32(h + 4);
    c->leapcnt = tz_be32(h + 8);
    c->timecnt = tz_be32(h + 12);
    c->typecnt = tz_be32(h + 16);
    c->charcnt = tz_be32(h + 20);
    return buf[pos + 4];
}

/* Bytes of the data block that follows a header; timesize is 4 or 8. The
 * counts are 32-bit, so the sum cannot overflow 64 bits. */
static uint64_t tz_block_size(const struct tz_counts *c, unsigned timesize)
{
    return (uint64_t)c->timecnt * (timesize + 1) + (uint64_t)c->typecnt * 6 + c->charcnt +
           (uint64_t)c->leapcnt * (timesize + 4) + c->isstdcnt + c->isutcnt;
}

void tz_free(struct tz *z)
{
    if (!z)
        return;
    free(z->name);
    free(z->trans);
    free(z->trans_type);
    free(z->types);
    free(z);
}

/* Validates the data block at buf[pos] and copies transitions and types into z. */
static int tz_block(struct tz *z, const unsigned char *buf, const struct tz_counts *c,
                    unsigned timesize, char *err, size_t errlen)
{
    if (c->typecnt == 0) {
        tz_err(err, errlen, "no local time types");
        return -1;
    }
    if ((c->isutcnt != 0 && c->isutcnt != c->typecnt) ||
        (c->isstdcnt != 0 && c->isstdcnt != c->typecnt)) {
        tz_err(err, errlen, "isutcnt/isstdcnt do not match typecnt");
        return -1;
    }
    const unsigned char *times = buf;
    const unsigned char *idx = times + (size_t)c->timecnt * timesize;
    const unsigned char *ttinfo = idx + c->timecnt;

    z->ntrans = c->timecnt;
    z->ntypes = c->typecnt;
    z->trans = malloc((c->timecnt ? c->timecnt : 1) * sizeof(*z->trans));
    z->trans_type = malloc(c->timecnt ? c->timecnt : 1);
    z->types = malloc(c->typecnt * sizeof(*z->types));
    if (!z->trans || !z->trans_type || !z->types) {
        tz_err(err, errlen, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < c->timecnt; i++) {
        int64_t t = timesize == 8 ? tz_be64(times + (size_t)i * 8)
                                  : (int64_t)(int32_t)tz_be32(times + (size_t)i * 4);
        if (i > 0 && t <= z->trans[i - 1]) {
            tz_err(err, errlen, "transition %u is not after the one before", (unsigned)i);
            return -1;
        }
        if (idx[i] >= c->typecnt) {
            tz_err(err, errlen, "transition %u names type %u of %u", (unsigned)i, (unsigned)idx[i],
                   (unsigned)c->typecnt);
            return -1;
        }
        z->trans[i] = t;
        z->trans_type[i] = idx[i];
    }
    for (uint32_t i = 0; i < c->typecnt; i++) {
        const unsigned char *ti = ttinfo + (size_t)i * 6;
        int32_t utoff = (int32_t)tz_be32(ti);
        if (utoff < TZ_UTOFF_MIN || utoff > TZ_UTOFF_MAX) {
            tz_err(err, errlen, "type %u has offset %ld out of range", (unsigned)i, (long)utoff);
            return -1;
        }
        if (ti[4] > 1 || ti[5] >= c->charcnt) {
            tz_err(err, errlen, "type %u has a bad isdst or abbreviation index", (unsigned)i);
            return -1;
        }
        z->types[i].utoff = utoff;
        z->types[i].isdst = ti[4] == 1;
    }
    return 0;
}

struct tz *tz_parse(const char *name, const unsigned char *buf, size_t len, char *err,
                    size_t errlen)
{
    struct tz_counts c;
    int version = buf ? tz_header(buf, len, 0, &c) : -1;
    if (version < 0) {
        tz_err(err, errlen, "not a TZif file");
        return NULL;
    }
    if (version != 0 && version < '2') {
        tz_err(err, errlen, "unknown TZif version 0x%02x", (unsigned)version);
        return NULL;
    }
    uint64_t size = tz_block_size(&c, 4);
    if (size > len - 44) {
        tz_err(err, errlen, "truncated version 1 data");
        return NULL;
    }
    size_t pos = 44;
    unsigned timesize = 4;
    if (version >= '2') {
        /* Version 2 and later repeat the data with 64-bit times after the
         * version 1 block; only that second block is used. Later versions
         * keep the layout, so they are read the same way. */
        pos += (size_t)size;
        if (tz_header(buf, len, pos, &c) < 0) {
            tz_err(err, errlen, "missing version 2 header");
            return NULL;
        }
        pos += 44;
        timesize = 8;
        size = tz_block_size(&c, 8);
        if (size > len - pos) {
            tz_err(err, errlen, "truncated version 2 data");
            return NULL;
        }
    }
    struct tz *z = calloc(1, sizeof(*z));
    if (!z || !(z->name = strdup(name ? name : ""))) {
        free(z);
        tz_err(err, errlen, "out of memory");
        return NULL;
    }
    if (tz_block(z, buf + pos, &c, timesize, err, errlen) < 0) {
        tz_free(z);
        return NULL;
    }
    pos += (size_t)size;
    if (version >= '2') {
        /* The footer: a newline, a POSIX TZ string (maybe empty), a newline. */
        const unsigned char *nl = NULL;
        if (pos < len && buf[pos] == '\n')
            nl = memchr(buf + pos + 1, '\n', len - pos - 1);
        if (!nl) {
            tz_err(err, errlen, "missing footer");
            tz_free(z);
            return NULL;
        }
        size_t flen = (size_t)(nl - (buf + pos + 1));
        char tzstr[128];
        if (flen >= sizeof(tzstr) || memchr(buf + pos + 1, '\0', flen)) {
            tz_err(err, errlen, "bad footer");
            tz_free(z);
            return NULL;
        }
        memcpy(tzstr, buf + pos + 1, flen);
        tzstr[flen] = '\0';
        if (flen > 0) {
            if (tz_posix_parse(tzstr, &z->rule) < 0) {
                tz_err(err, errlen, "bad footer TZ string \"%s\"", tzstr);
                tz_free(z);
                return NULL;
            }
            z->has_rule = true;
        }
    }
    return z;
}

/* ---- Conversion ---- */

/* The offset and DST flag in effect at instant sec (seconds). */
static void tz_offset_at(const struct tz *z, int64_t sec, int32_t *utoff, bool *isdst)
{
    const struct tz_type *t;
    /* RFC 8536 3.2: with no transitions the footer, if any, rules all time;
     * before the first transition type 0 applies; after the last one the
     * footer does. */
    if (z->has_rule && (z->ntrans == 0 || sec >= z->trans[z->ntrans - 1])) {
        bool dst = z->rule.has_dst && tz_rule_dst_at(&z->rule, sec);
        *utoff = dst ? z->rule.dst_utoff : z->rule.std_utoff;
        *isdst = dst;
        return;
    }
    if (z->ntrans == 0 || sec < z->trans[0]) {
        t = &z->types[0];
    } else {
        /* The last transition at or before sec. */
        size_t lo = 0, hi = z->ntrans;
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (z->trans[mid] <= sec)
                lo = mid;
            else
                hi = mid;
        }
        t = &z->types[z->trans_type[lo]];
    }
    *utoff = t->utoff;
    *isdst = t->isdst;
}

/* The first instant after sec at which the offset may change (a transition
 * from the table or from the footer rule), or INT64_MAX. Between sec and that
 * instant tz_offset_at gives the same answer. */
static int64_t tz_next_change(const struct tz *z, int64_t sec)
{
    if (z->ntrans > 0 && sec < z->trans[z->ntrans - 1]) {
        if (sec < z->trans[0])
            return z->trans[0];
        size_t lo = 0, hi = z->ntrans - 1;
        /* trans[lo] <= sec < trans[hi] */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (z->trans[mid] <= sec)
                lo = mid;
            else
                hi = mid;
        }
        return z->trans[hi];
    }
    if (z->has_rule && z->rule.has_dst)
        return tz_rule_next(&z->rule, sec);
    return INT64_MAX;
}

const char *tz_name(const struct tz *z)
{
    return z ? z->name : "";
}

void tz_to_local(const struct tz *z, int64_t utc_ms, struct tz_local *out)
{
    /* Split into seconds and a non-negative millisecond part without
     * multiplying back, which would overflow near INT64_MIN. */
    int64_t sec = utc_ms / 1000;
    int ms = (int)(utc_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        sec--;
    }
    int32_t utoff;
    bool isdst;
    tz_offset_at(z, sec, &utoff, &isdst);
    int64_t local = sec + utoff;
    int64_t days = tz_floor_div(local, TZ_SECS_PER_DAY);
    int64_t sod = local - days * TZ_SECS_PER_DAY;
    int64_t y;
    tz_civil_from_days(days, &y, &out->month, &out->day);
    out->year = (int)y;
    out->hour = (int)(sod / 3600);
    out->minute = (int)(sod / 60 % 60);
    out->second = (int)(sod % 60);
    out->ms = ms;
    out->wday = tz_wday_of_days(days);
    out->utc_offset = utoff;
    out->dst = isdst;
}

/*
 * Maps local seconds L (wall clock counted as if it were UTC) to a UTC second.
 * The offsets in effect within two days either side of L are walked as
 * segments [a, next change); L is an occurrence in a segment when
 * a + off <= L < end + off. The first such segment gives the earliest
 * instant. When no segment holds L it lies in a gap at some change where the
 * offset grows, and maps to L - (offset before the gap): the gap's end plus
 * the distance into the gap.
 */
static int64_t tz_local_to_utc(const struct tz *z, int64_t local)
{
    /* Offsets stay within -25h..+26h (checked at parse), so every answer
     * lies within two days of L. */
    const int64_t span = 2 * TZ_SECS_PER_DAY;
    int64_t a = local - span, hi = local + span;
    int32_t off;
    bool isdst, have_gap = false;
    int64_t gap = 0;
    tz_offset_at(z, a, &off, &isdst);
    for (;;) {
        int64_t t = tz_next_change(z, a);
        int64_t seg_end = t < hi ? t : hi;
        if (a + off <= local && local < seg_end + off)
            return local - off;
        if (t >= hi)
            break;
        int32_t next_off;
        tz_offset_at(z, t, &next_off, &isdst);
        if (!have_gap && t + off <= local && local < t + next_off) {
            have_gap = true;
            gap = local - off;
        }
        a = t;
        off = next_off;
    }
    if (have_gap)
        return gap;
    tz_offset_at(z, local, &off, &isdst);
    return local - off;
}

int64_t tz_from_local(const struct tz *z, int year, int month, int day, int hour, int minute,
                      int second)
{
    /* Out-of-range fields carry into the next larger one, as mktime does. */
    int64_t mon0 = (int64_t)month - 1;
    int64_t y = (int64_t)year + tz_floor_div(mon0, 12);
    int m = (int)(mon0 - tz_floor_div(mon0, 12) * 12) + 1;
    int64_t days = tz_days_from_civil(y, m, day);
    int64_t local = days * TZ_SECS_PER_DAY + (int64_t)hour * 3600 + (int64_t)minute * 60 + second;
    int64_t sec = tz_local_to_utc(z, local);
    if (sec > INT64_MAX / 1000)
        return INT64_MAX;
    if (sec < INT64_MIN / 1000)
        return INT64_MIN;
    return sec * 1000;
}

/* ---- Loading and the cache ---- */

static pthread_mutex_t tz_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz *tz_cache;

/* Zone names are paths below the zoneinfo directory: letters, digits and
 * "/_-+." only, no "..", no leading '/', no empty component. */
static bool tz_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/' || strstr(name, "..") ||
        strstr(name, "//"))
        return false;
    for (const char *p = name; *p; p++) {
        char ch = *p;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '/' || ch == '_' || ch == '-' || ch == '+' || ch == '.'))
            return false;
    }
    return true;
}

/* UTC needs no file: one type at offset 0, no transitions. */
static struct tz *tz_make_utc(void)
{
    struct tz *z = calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    z->name = strdup("UTC");
    z->trans = malloc(sizeof(*z->trans));
    z->trans_type = malloc(1);
    z->types = calloc(1, sizeof(*z->types));
    z->ntypes = 1;
    if (!z->name || !z->trans || !z->trans_type || !z->types) {
        tz_free(z);
        return NULL;
    }
    return z;
}

static struct tz *tz_load(const char *name, char *err, size_t errlen)
{
    const char *dir = getenv("TZDIR");
    char path[4096];
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        tz_err(err, errlen, "time zone \"%s\": path too long", name);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tz_err(err, errlen, "unknown time zone \"%s\": %s", name, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 44 || st.st_size > TZ_FILE_MAX) {
        close(fd);
        tz_err(err, errlen, "unknown time zone \"%s\": not a zone file", name);
        return NULL;
    }
    size_t size = (size_t)st.st_size, got = 0;
    unsigned char *buf = malloc(size);
    if (!buf) {
        close(fd);
        tz_err(err, errlen, "out of memory");
        return NULL;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    char perr[160];
    struct tz *z = tz_parse(name, buf, got, perr, sizeof(perr));
    free(buf);
    if (!z)
        tz_err(err, errlen, "time zone \"%s\": %s", name, perr);
    return z;
}

const struct tz *tz_get(const char *name, char *err, size_t errlen)
{
    if (!name || !tz_name_ok(name)) {
        tz_err(err, errlen, "invalid time zone name \"%.64s\"", name ? name : "(null)");
        return NULL;
    }
    pthread_mutex_lock(&tz_cache_lock);
    struct tz *z;
    for (z = tz_cache; z; z = z->next) {
        if (strcmp(z->name, name) == 0)
            break;
    }
    if (!z) {
        /* Loading under the lock keeps one copy per name; it happens once
         * per zone in the life of the process. */
        z = strcmp(name, "UTC") == 0 ? tz_make_utc() : tz_load(name, err, errlen);
        if (!z && strcmp(name, "UTC") == 0)
            tz_err(err, errlen, "out of memory");
        if (z) {
            z->next = tz_cache;
            tz_cache = z;
        }
    }
    pthread_mutex_unlock(&tz_cache_lock);
    return z;
}
