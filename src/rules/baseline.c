/*
 * baseline.c - seasonal baselines: slots in a zone's local time, a ring of
 * past slot means, robust statistics over them and the sentence that
 * explains a band; see baseline.h.
 *
 * Slot instances are numbered by a "linear index": the count of local slots
 * since 1970-01-01 00:00 local, shifted by three days for week seasons so
 * that every season starts on a Monday (1970-01-01 was a Thursday). The slot
 * number is the index modulo the slots in a season, the season number the
 * quotient, and the ring cell of an instance the index modulo the ring's
 * size, so the same slot of past seasons is always `slots` cells apart.
 */
#include "baseline.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BL_DAY_MS      86400000LL
#define BL_MAX_SEASONS 366
/* Instants are clamped to about +-12,000 years, which keeps every sum of an
 * instant, an offset and a slot far from int64_t overflow. */
#define BL_T_LIMIT 400000000000000LL
/* Buffers for statistics over the values of one slot live on the stack up
 * to this count; longer arrays (only from outside callers) use the heap. */
#define BL_STACK_VALUES 400

struct baseline {
    struct baseline_params p; /* copied; tz and holidays borrowed */
    int spd;                  /* slots per day */
    int slots;                /* slots per season */
    int64_t cells;            /* slots * n_seasons */
    float *v;                 /* owned [cells]; NAN = no data */
    bool any;                 /* an instance was put */
    int64_t last;             /* linear index of the last instance put */
    int64_t next;             /* end of that instance (UTC ms) */
};

static const char *const bl_weekdays[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                           "Friday", "Saturday", "Sunday"};

/* ---- Calendar arithmetic (proleptic Gregorian, like tz.c) ---- */

static int64_t bl_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t bl_floor_mod(int64_t a, int64_t b)
{
    return a - bl_floor_div(a, b) * b;
}

/* The civil date of a day count since 1970-01-01. */
static void bl_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = bl_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t bl_clamp_t(int64_t t)
{
    if (t > BL_T_LIMIT)
        return BL_T_LIMIT;
    if (t < -BL_T_LIMIT)
        return -BL_T_LIMIT;
    return t;
}

static int64_t bl_season_ms(const struct baseline_params *p)
{
    return p->season == SEASON_WEEK ? 7 * BL_DAY_MS : BL_DAY_MS;
}

/* Everything the slot arithmetic relies on; baseline_new also checks the
 * statistics settings. */
static bool bl_shape_ok(const struct baseline_params *p)
{
    return p && (p->season == SEASON_DAY || p->season == SEASON_WEEK) && p->slot_ms >= 60000 &&
           p->slot_ms % 1000 == 0 && BL_DAY_MS % p->slot_ms == 0;
}

/* ---- Local time ---- */

/* The local wall clock of t, as milliseconds counted as if it were UTC. */
static int64_t bl_wall(const struct baseline_params *p, int64_t t)
{
    if (!p->tz)
        return t;
    struct tz_local l;
    tz_to_local(p->tz, t, &l);
    return t + (int64_t)l.utc_offset * 1000;
}

/*
 * The first instant whose wall clock reads at least wall: the instant of
 * that wall time, its first occurrence when the clocks fell back over it,
 * or the end of the gap when the clocks sprang forward over it. So slot
 * boundaries never run backwards: a slot inside a spring-forward gap is
 * empty (start == end) and the fall-back slot holding the repeated hour
 * runs until the wall clock passes its end for the second time.
 */
static int64_t bl_boundary(const struct baseline_params *p, int64_t wall)
{
    if (!p->tz)
        return wall;
    int64_t days = bl_floor_div(wall, BL_DAY_MS);
    int64_t sod = wall - days * BL_DAY_MS;
    int y, m, d;
    bl_civil_from_days(days, &y, &m, &d);
    int64_t r = tz_from_local(p->tz, y, m, d, (int)(sod / 3600000), (int)(sod / 60000 % 60),
                              (int)(sod / 1000 % 60)) +
                sod % 1000;
    if (bl_wall(p, r) == wall)
        return r;
    /*
     * wall lies in a gap, and tz_from_local gave the gap's end plus the
     * distance into the gap. The gap's end is the first instant at or
     * after which the wall clock reads at least wall; offsets stay within
     * about a day of each other, so it lies less than 26 h before r.
     */
    int64_t lo = r - 26 * 3600000LL, hi = r;
    if (bl_wall(p, lo) >= wall)
        return r;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (bl_wall(p, mid) >= wall)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/*
 * The slot instance holding t: its linear index (see the top of the file),
 * start and end. The wall clock gives the first guess; in the fall-back
 * overlap a sub-hour slot's wall time comes round a second time while the
 * instance that started at its first occurrence has ended, so the walk
 * moves on to the instance that really holds t.
 */
static int64_t bl_locate(const struct baseline_params *p, int64_t t, int64_t *start, int64_t *end)
{
    t = bl_clamp_t(t);
    int64_t idx = bl_floor_div(bl_wall(p, t), p->slot_ms);
    int64_t s = bl_boundary(p, idx * p->slot_ms);
    int64_t e = bl_boundary(p, (idx + 1) * p->slot_ms);
    for (int guard = 0; t >= e && guard < 10000; guard++) {
        idx++;
        s = e;
        e = bl_boundary(p, (idx + 1) * p->slot_ms);
    }
    for (int guard = 0; t < s && guard < 10000; guard++) {
        idx--;
        e = s;
        s = bl_boundary(p, idx * p->slot_ms);
    }
    *start = s;
    *end = e;
    int64_t spd = BL_DAY_MS / p->slot_ms;
    return idx + (p->season == SEASON_WEEK ? 3 * spd : 0);
}

/* ---- Parameters and slots ---- */

void baseline_params_from_cfg(const struct cfg_seasonal *se, struct baseline_params *p)
{
    memset(p, 0, sizeof(*p));
    p->season = se->season;
    p->slot_ms = se->slot_ms > 0 ? se->slot_ms : 3600000;
    int64_t season_ms = bl_season_ms(p);
    int64_t n = se->horizon_ms > 0 ? se->horizon_ms / season_ms : 4 * 7 * BL_DAY_MS / season_ms;
    if (n < 1)
        n = 1;
    if (n > BL_MAX_SEASONS)
        n = BL_MAX_SEASONS;
    p->n_seasons = (int)n;
    p->centre = se->centre;
    p->trim = se->trim;
    p->spread = se->spread;
    p->k = se->k;
    p->min_band = se->min_band;
    p->min_band_ratio = se->min_band_ratio;
    int need =
        se->min_seasons > 0 ? se->min_seasons : (p->n_seasons / 2 > 2 ? p->n_seasons / 2 : 2);
    p->min_seasons = need < p->n_seasons ? need : p->n_seasons;
    p->tz = se->tz;
    p->holidays = se->holidays;
    p->n_holidays = se->n_holidays;
}

int baseline_slots(const struct baseline_params *p)
{
    if (!bl_shape_ok(p))
        return 0;
    return (int)(bl_season_ms(p) / p->slot_ms);
}

int baseline_slot_of(const struct baseline_params *p, int64_t t, int64_t *start, int64_t *end)
{
    int64_t s, e;
    if (!bl_shape_ok(p)) {
        if (start)
            *start = t;
        if (end)
            *end = t;
        return -1;
    }
    int64_t idx = bl_locate(p, t, &s, &e);
    if (start)
        *start = s;
    if (end)
        *end = e;
    return (int)bl_floor_mod(idx, baseline_slots(p));
}

void baseline_slot_name(const struct baseline_params *p, int slot, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    int slots = baseline_slots(p);
    if (slots == 0 || slot < 0 || slot >= slots) {
        snprintf(buf, len, "slot %d", slot);
        return;
    }
    int64_t spd = BL_DAY_MS / p->slot_ms;
    int64_t sod = (slot % spd) * p->slot_ms / 1000;
    int h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), sec = (int)(sod % 60);
    char hm[16];
    if (sec)
        snprintf(hm, sizeof(hm), "%02d:%02d:%02d", h, mi, sec);
    else
        snprintf(hm, sizeof(hm), "%02d:%02d", h, mi);
    if (p->season == SEASON_WEEK)
        snprintf(buf, len, "%s %s", bl_weekdays[slot / spd], hm);
    else
        snprintf(buf, len, "%s", hm);
}

static int bl_cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

bool baseline_is_holiday(const struct baseline_params *p, int64_t t)
{
    if (!p || !p->holidays || p->n_holidays == 0)
        return false;
    int y, m, d;
    bl_civil_from_days(bl_floor_div(bl_wall(p, bl_clamp_t(t)), BL_DAY_MS), &y, &m, &d);
    int32_t key = (int32_t)(y * 10000 + m * 100 + d);
    return bsearch(&key, p->holidays, p->n_holidays, sizeof(int32_t), bl_cmp_i32) != NULL;
}

/* ---- Robust statistics ---- */

/* Moves the finite values of v to its front; returns their count. */
static size_t bl_compact(double *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            v[k++] = v[i];
    return k;
}

static int bl_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) that is already finite and sorted. */
static double bl_sorted_median(const double *v, size_t n)
{
    if (n == 0)
        return NAN;
    if (n % 2)
        return v[n / 2];
    return (v[n / 2 - 1] + v[n / 2]) / 2;
}

double baseline_median(double *v, size_t n)
{
    if (!v)
        return NAN;
    n = bl_compact(v, n);
    qsort(v, n, sizeof(double), bl_cmp_double);
    return bl_sorted_median(v, n);
}

double baseline_trimmed_mean(double *v, size_t n, double trim)
{
    if (!v)
        return NAN;
    n = bl_compact(v, n);
    if (n == 0)
        return NAN;
    if (!(trim > 0))
        trim = 0;
    if (trim > 0.45)
        trim = 0.45;
    qsort(v, n, sizeof(double), bl_cmp_double);
    size_t cut = (size_t)floor(trim * (double)n);
    double sum = 0;
    for (size_t i = cut; i < n - cut; i++)
        sum += v[i];
    return sum / (double)(n - 2 * cut);
}

double baseline_mad(double *v, size_t n, double centre)
{
    if (!v || !isfinite(centre))
        return NAN;
    n = bl_compact(v, n);
    if (n == 0)
        return NAN;
    double stack[BL_STACK_VALUES];
    double *dev = n <= BL_STACK_VALUES ? stack : malloc(n * sizeof(double));
    if (!dev)
        return NAN;
    for (size_t i = 0; i < n; i++)
        dev[i] = fabs(v[i] - centre);
    qsort(dev, n, sizeof(double), bl_cmp_double);
    double mad = 1.4826 * bl_sorted_median(dev, n);
    if (dev != stack)
        free(dev);
    return mad;
}

double baseline_stddev(const double *v, size_t n, double mean)
{
    if (!v)
        return NAN;
    size_t k = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            sum += v[i];
            k++;
        }
    if (k == 0)
        return NAN;
    if (k == 1)
        return 0;
    if (!isfinite(mean))
        mean = sum / (double)k;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            ss += (v[i] - mean) * (v[i] - mean);
    return sqrt(ss / (double)(k - 1));
}

/* ---- The baseline ---- */

struct baseline *baseline_new(const struct baseline_params *params)
{
    const struct baseline_params *p = params;
    if (!bl_shape_ok(p) || p->n_seasons < 1 || p->n_seasons > BL_MAX_SEASONS ||
        p->min_seasons < 1 || p->min_seasons > p->n_seasons ||
        (p->centre != CENTRE_MEDIAN && p->centre != CENTRE_TRIMMED_MEAN &&
         p->centre != CENTRE_MEAN) ||
        (p->spread != SPREAD_MAD && p->spread != SPREAD_STDDEV) || !(p->trim >= 0) ||
        p->trim > 0.45 || !(p->k >= 0) || !isfinite(p->k) || !(p->min_band >= 0) ||
        !isfinite(p->min_band) || !(p->min_band_ratio >= 0) || !isfinite(p->min_band_ratio) ||
        (p->n_holidays > 0 && !p->holidays))
        return NULL;
    struct baseline *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->p = *p;
    b->spd = (int)(BL_DAY_MS / p->slot_ms);
    b->slots = baseline_slots(p);
    b->cells = (int64_t)b->slots * p->n_seasons;
    b->v = malloc((size_t)b->cells * sizeof(float));
    if (!b->v) {
        free(b);
        return NULL;
    }
    for (int64_t i = 0; i < b->cells; i++)
        b->v[i] = NAN;
    return b;
}

void baseline_free(struct baseline *b)
{
    if (!b)
        return;
    free(b->v);
    free(b);
}

void baseline_put(struct baseline *b, int64_t slot_start, double mean)
{
    if (!b)
        return;
    int64_t s, e;
    int64_t n = bl_locate(&b->p, slot_start, &s, &e);
    if (b->any && n <= b->last)
        return;
    if (!isfinite(mean) || baseline_is_holiday(&b->p, s))
        mean = NAN;
    else if (mean > FLT_MAX)
        mean = FLT_MAX;
    else if (mean < -FLT_MAX)
        mean = -FLT_MAX;
    if (b->any) {
        /* Instances the caller skipped (down time, the empty slot of a
         * spring-forward night) must not keep a horizon-old value that
         * would then pass for last season's. */
        if (n - b->last > b->cells) {
            for (int64_t i = 0; i < b->cells; i++)
                b->v[i] = NAN;
        } else {
            for (int64_t i = b->last + 1; i < n; i++)
                b->v[bl_floor_mod(i, b->cells)] = NAN;
        }
    }
    b->v[bl_floor_mod(n, b->cells)] = (float)mean;
    b->any = true;
    b->last = n;
    b->next = e;
}

int64_t baseline_next_slot(const struct baseline *b)
{
    return b && b->any ? b->next : 0;
}

/*
 * The values of the same slot in the n_seasons seasons before the instance
 * with linear index idx, into out; returns how many have data. Instances
 * not put yet, or already overwritten by a newer season, do not count.
 */
static int bl_collect(const struct baseline *b, int64_t idx, double *out)
{
    int n = 0;
    if (!b->any)
        return 0;
    for (int j = 1; j <= b->p.n_seasons; j++) {
        int64_t i = idx - (int64_t)j * b->slots;
        if (i > b->last || i <= b->last - b->cells)
            continue;
        float f = b->v[bl_floor_mod(i, b->cells)];
        if (!isnan(f))
            out[n++] = f;
    }
    return n;
}

/* Centre and spread of n (>= 1) finite values; v is reordered. */
static void bl_centre_spread(const struct baseline_params *p, double *v, int n, double *centre,
                             double *spread)
{
    size_t k = (size_t)n;
    double median = baseline_median(v, k);
    double sum = 0;
    for (size_t i = 0; i < k; i++)
        sum += v[i];
    double mean = sum / (double)k;
    switch (p->centre) {
    case CENTRE_TRIMMED_MEAN:
        *centre = baseline_trimmed_mean(v, k, p->trim);
        break;
    case CENTRE_MEAN:
        *centre = mean;
        break;
    default:
        *centre = median;
        break;
    }
    /* The MAD is taken around the median and the standard deviation around
     * the mean, as each is defined, whatever the centre. */
    *spread = p->spread == SPREAD_STDDEV ? baseline_stddev(v, k, mean) : baseline_mad(v, k, median);
}

void baseline_expect(const struct baseline *b, int64_t t, struct baseline_band *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    out->why = "too little history";
    out->centre = out->spread = out->low = out->high = NAN;
    if (!b) {
        out->slot = -1;
        return;
    }
    const struct baseline_params *p = &b->p;
    out->seasons_needed = p->min_seasons;
    t = bl_clamp_t(t);
    int64_t s, e;
    int64_t idx = bl_locate(p, t, &s, &e);
    out->slot = (int)bl_floor_mod(idx, b->slots);
    double own[BL_MAX_SEASONS], nb[BL_MAX_SEASONS];
    int n_own = bl_collect(b, idx, own);
    out->seasons_used = n_own;
    if (baseline_is_holiday(p, t)) {
        out->why = "holiday";
        return;
    }
    if (n_own < p->min_seasons || n_own < 1)
        return;
    double centre, spread;
    bl_centre_spread(p, own, n_own, &centre, &spread);
    /*
     * Each slot's statistics stand for the slot's midpoint; between two
     * midpoints they are interpolated, so that the expectation follows a
     * ramp instead of jumping at the slot edge. w is the weight of the
     * neighbour, at most one half.
     */
    double frac = e > s ? (double)(t - s) / (double)(e - s) : 0.5;
    double w = fabs(frac - 0.5);
    if (w > 0) {
        int n_nb = bl_collect(b, frac < 0.5 ? idx - 1 : idx + 1, nb);
        if (n_nb >= p->min_seasons && n_nb >= 1) {
            double c2, s2;
            bl_centre_spread(p, nb, n_nb, &c2, &s2);
            centre = (1 - w) * centre + w * c2;
            spread = (1 - w) * spread + w * s2;
        }
    }
    double half = p->k * spread;
    if (!(half >= p->min_band))
        half = p->min_band;
    if (half < p->min_band_ratio * fabs(centre))
        half = p->min_band_ratio * fabs(centre);
    out->ok = true;
    out->why = NULL;
    out->centre = centre;
    out->spread = spread;
    out->low = centre - half;
    out->high = centre + half;
}

/* ---- Explanations ---- */

/*
 * A number for people: thousands separators and three decimals at most
 * for |x| >= 1 (1234.5678 -> "1,234.568"), three significant digits below
 * 1 (0.00123 -> "0.00123"), trailing zeros dropped.
 */
static void bl_num(double x, char *out, size_t len)
{
    char tmp[64];
    if (isnan(x)) {
        snprintf(out, len, "NaN");
        return;
    }
    if (isinf(x)) {
        snprintf(out, len, x < 0 ? "-Inf" : "+Inf");
        return;
    }
    double ax = fabs(x);
    if (ax >= 1e15 || (ax > 0 && ax < 1e-9)) {
        snprintf(out, len, "%.4g", x);
        return;
    }
    int dec = 3;
    if (ax > 0 && ax < 1)
        dec = 2 - (int)floor(log10(ax));
    snprintf(tmp, sizeof(tmp), "%.*f", dec, x);
    char *dot = strchr(tmp, '.');
    if (dot) {
        char *endp = tmp + strlen(tmp) - 1;
        while (endp > dot && *endp == '0')
            *endp-- = '\0';
        if (endp == dot)
            *endp = '\0';
    }
    if (strcmp(tmp, "-0") == 0)
        snprintf(tmp, sizeof(tmp), "0");
    const char *digits = tmp[0] == '-' ? tmp + 1 : tmp;
    size_t nd = strcspn(digits, ".");
    char res[96];
    size_t o = 0;
    if (digits != tmp)
        res[o++] = '-';
    for (size_t i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            res[o++] = ',';
        res[o++] = digits[i];
    }
    snprintf(res + o, sizeof(res) - o, "%s", digits + nd);
    snprintf(out, len, "%s", res);
}

void baseline_describe(const struct baseline *b, const struct baseline_band *band, char *buf,
                       size_t len)
{
    if (!buf || len == 0)
        return;
    if (!b || !band) {
        snprintf(buf, len, "no baseline");
        return;
    }
    const struct baseline_params *p = &b->p;
    char slot[48];
    baseline_slot_name(p, band->slot, slot, sizeof(slot));
    /* What a season is called in the sentence: "Mondays" or "days". */
    char one[16], many[24];
    if (p->season == SEASON_WEEK && band->slot >= 0 && band->slot < b->slots) {
        snprintf(one, sizeof(one), "%s", bl_weekdays[band->slot / b->spd]);
        snprintf(many, sizeof(many), "%ss", one);
    } else {
        snprintf(one, sizeof(one), "day");
        snprintf(many, sizeof(many), "days");
    }
    if (!band->ok) {
        if (band->why && strcmp(band->why, "holiday") == 0)
            snprintf(buf, len, "no baseline for %s: holiday", slot);
        else
            snprintf(buf, len, "no baseline for %s: %s (%d of %d %s needed)", slot,
                     band->why ? band->why : "too little history", band->seasons_used,
                     band->seasons_needed, band->seasons_needed == 1 ? one : many);
        return;
    }
    char lo[64], hi[64], c[64], sp[64], k[64], from[80];
    bl_num(band->low, lo, sizeof(lo));
    bl_num(band->high, hi, sizeof(hi));
    bl_num(band->centre, c, sizeof(c));
    bl_num(band->spread, sp, sizeof(sp));
    bl_num(p->k, k, sizeof(k));
    if (p->n_seasons == 1)
        snprintf(from, sizeof(from), "the last %s", one);
    else if (band->seasons_used >= p->n_seasons)
        snprintf(from, sizeof(from), "the last %d %s", p->n_seasons, many);
    else
        snprintf(from, sizeof(from), "%d of the last %d %s", band->seasons_used, p->n_seasons,
                 many);
    const char *cname = p->centre == CENTRE_TRIMMED_MEAN ? "trimmed mean"
                        : p->centre == CENTRE_MEAN       ? "mean"
                                                         : "median";
    const char *sname = p->spread == SPREAD_STDDEV ? "stddev" : "MAD";
    /* U+2013 EN DASH between the band's edges. */
    snprintf(buf, len, "expected %s\xe2\x80\x93%s for %s from %s (%s %s, %s %s, k %s)", lo, hi,
             slot, from, cname, c, sname, sp, k);
}

size_t baseline_memory(const struct baseline *b)
{
    if (!b)
        return 0;
    return sizeof(*b) + (size_t)b->cells * sizeof(float);
}
