/*
 * forecast.c - least-squares trend fits and the instant they cross a limit;
 * see forecast.h.
 *
 * x is in seconds relative to the last point, so at epoch-sized timestamps
 * the sums stay small. The quadratic fit additionally centres and scales x
 * to [-1, 1] before it forms the 3x3 normal equations (whose x^4 sums would
 * otherwise span twenty orders of magnitude over a 30 day window) and
 * solves them with partial pivoting, then converts the coefficients back.
 */
#include "forecast.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seconds of x between two instants (ms); double arithmetic cannot
 * overflow the way an int64_t difference of far-apart instants can. */
static double fc_x(int64_t t, int64_t t0)
{
    return ((double)t - (double)t0) / 1000.0;
}

const char *forecast_model_name(enum forecast_model m)
{
    switch (m) {
    case FORECAST_LINEAR:
        return "linear";
    case FORECAST_QUADRATIC:
        return "quadratic";
    case FORECAST_EXPONENTIAL:
        return "exponential";
    }
    return "unknown";
}

/* a + b x through (x[i], y[i]); false when every x is the same. */
static bool fc_line(const double *x, const double *y, size_t n, double *a, double *b)
{
    double xm = 0, ym = 0;
    for (size_t i = 0; i < n; i++) {
        xm += x[i];
        ym += y[i];
    }
    xm /= (double)n;
    ym /= (double)n;
    double sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        sxx += (x[i] - xm) * (x[i] - xm);
        sxy += (x[i] - xm) * (y[i] - ym);
    }
    if (!(sxx > 0))
        return false;
    *b = sxy / sxx;
    *a = ym - *b * xm;
    return true;
}

/* Solves the 3x3 system m p = r by Gaussian elimination with partial
 * pivoting; false when it is singular (fewer than 3 distinct x). */
static bool fc_solve3(double m[3][3], double r[3], double p[3])
{
    double scale = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (fabs(m[i][j]) > scale)
                scale = fabs(m[i][j]);
    if (!(scale > 0))
        return false;
    for (int col = 0; col < 3; col++) {
        int piv = col;
        for (int i = col + 1; i < 3; i++)
            if (fabs(m[i][col]) > fabs(m[piv][col]))
                piv = i;
        if (fabs(m[piv][col]) <= 1e-12 * scale)
            return false;
        if (piv != col) {
            for (int j = 0; j < 3; j++) {
                double tmp = m[col][j];
                m[col][j] = m[piv][j];
                m[piv][j] = tmp;
            }
            double tmp = r[col];
            r[col] = r[piv];
            r[piv] = tmp;
        }
        for (int i = col + 1; i < 3; i++) {
            double f = m[i][col] / m[col][col];
            for (int j = col; j < 3; j++)
                m[i][j] -= f * m[col][j];
            r[i] -= f * r[col];
        }
    }
    for (int i = 2; i >= 0; i--) {
        double s = r[i];
        for (int j = i + 1; j < 3; j++)
            s -= m[i][j] * p[j];
        p[i] = s / m[i][i];
    }
    return true;
}

/* a + b x + c x^2 through the points; false with fewer than 3 distinct x. */
static bool fc_parabola(const double *x, const double *y, size_t n, double *a, double *b, double *c)
{
    double xm = 0;
    for (size_t i = 0; i < n; i++)
        xm += x[i];
    xm /= (double)n;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i] - xm) > s)
            s = fabs(x[i] - xm);
    if (!(s > 0))
        return false;
    /* z = (x - xm) / s lies in [-1, 1]. */
    double m[3][3] = {{0}}, r[3] = {0}, p[3] = {0};
    for (size_t i = 0; i < n; i++) {
        double z = (x[i] - xm) / s, z2 = z * z;
        m[0][0] += 1;
        m[0][1] += z;
        m[0][2] += z2;
        m[1][2] += z2 * z;
        m[2][2] += z2 * z2;
        r[0] += y[i];
        r[1] += z * y[i];
        r[2] += z2 * y[i];
    }
    m[1][0] = m[0][1];
    m[1][1] = m[0][2];
    m[2][0] = m[0][2];
    m[2][1] = m[1][2];
    if (!fc_solve3(m, r, p))
        return false;
    /* p0 + p1 z + p2 z^2 with z = al x + be. */
    double al = 1 / s, be = -xm / s;
    *a = p[0] + p[1] * be + p[2] * be * be;
    *b = p[1] * al + 2 * p[2] * al * be;
    *c = p[2] * al * al;
    return true;
}

static void fc_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fc_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int forecast_fit(enum forecast_model model, const int64_t *t, const double *v, size_t n,
                 struct forecast_fit *out, char *err, size_t errlen)
{
    int rc = -1;
    double *x = NULL, *y = NULL;
    size_t k = 0, need = model == FORECAST_QUADRATIC ? 3 : 2;
    if (out)
        memset(out, 0, sizeof(*out));
    if (!out) {
        fc_err(err, errlen, "no fit to fill");
        return -1;
    }
    out->model = model;
    if (model != FORECAST_LINEAR && model != FORECAST_QUADRATIC && model != FORECAST_EXPONENTIAL) {
        fc_err(err, errlen, "unknown forecast model %d", (int)model);
        return -1;
    }
    if (n > 0 && (!t || !v)) {
        fc_err(err, errlen, "no points given");
        return -1;
    }
    /* The last usable point is t0; values that are NaN or infinite are
     * gaps in the series, not evidence about its trend. */
    size_t last = n;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            continue;
        if (model == FORECAST_EXPONENTIAL && v[i] <= 0) {
            fc_err(err, errlen, "an exponential fit needs values > 0, but point %zu is %g", i + 1,
                   v[i]);
            return -1;
        }
        k++;
        last = i;
    }
    if (k < need) {
        fc_err(err, errlen, "%s %s fit needs at least %zu points with a value, got %zu",
               model == FORECAST_EXPONENTIAL ? "an" : "a", forecast_model_name(model), need, k);
        return -1;
    }
    x = malloc(k * sizeof(double));
    y = malloc(k * sizeof(double));
    if (!x || !y) {
        fc_err(err, errlen, "out of memory for %zu points", k);
        goto out;
    }
    int64_t t0 = t[last];
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            continue;
        x[j] = fc_x(t[i], t0);
        y[j] = model == FORECAST_EXPONENTIAL ? log(v[i]) : v[i];
        j++;
    }
    /* The fit runs on y - y[0]: large levels (a terabyte disk) lose no
     * digits in the sums, and flat data sums to exactly 0, so its slope
     * is exactly 0 rather than a rounding error. */
    double y0 = y[0];
    for (size_t i = 0; i < k; i++)
        y[i] -= y0;
    double a = 0, b = 0, c = 0;
    bool ok =
        model == FORECAST_QUADRATIC ? fc_parabola(x, y, k, &a, &b, &c) : fc_line(x, y, k, &a, &b);
    if (!ok) {
        if (model == FORECAST_QUADRATIC)
            fc_err(err, errlen, "a quadratic fit needs points at 3 different times at least");
        else
            fc_err(err, errlen, "all %zu points have the same time", k);
        goto out;
    }
    out->t0 = t0;
    out->a = a + y0;
    out->b = b;
    out->c = c;
    out->n = k;
    /* r2 in the space the model was fitted in (log values for the
     * exponential); residuals in value units. */
    double ym = 0;
    for (size_t i = 0; i < k; i++)
        ym += y[i];
    ym /= (double)k;
    double ss_res = 0, ss_tot = 0, ss_val = 0;
    for (size_t i = 0; i < k; i++) {
        double fy = a + b * x[i] + c * x[i] * x[i];
        ss_res += (y[i] - fy) * (y[i] - fy);
        ss_tot += (y[i] - ym) * (y[i] - ym);
        double dv = model == FORECAST_EXPONENTIAL ? exp(y[i] + y0) - exp(fy + y0) : y[i] - fy;
        ss_val += dv * dv;
    }
    if (ss_tot > 0)
        out->r2 = 1 - ss_res / ss_tot;
    else
        out->r2 = 1; /* flat data: the fit explains all there is */
    out->residual_sd = k > need ? sqrt(ss_val / (double)(k - need)) : 0;
    rc = 0;
out:
    free(x);
    free(y);
    return rc;
}

double forecast_value(const struct forecast_fit *f, int64_t t)
{
    if (!f)
        return NAN;
    double x = fc_x(t, f->t0);
    switch (f->model) {
    case FORECAST_QUADRATIC:
        return f->a + f->b * x + f->c * x * x;
    case FORECAST_EXPONENTIAL:
        return exp(f->a + f->b * x);
    default:
        return f->a + f->b * x;
    }
}

/* Whether the fit is at or past limit at from. An exponential fit is
 * compared in log space, where it was fitted, so that a flat series sitting
 * on the limit is not pushed off it by exp(log(v)) rounding. */
static bool fc_past(const struct forecast_fit *f, double limit, enum rule_dir dir, int64_t from)
{
    if (f->model == FORECAST_EXPONENTIAL && limit > 0) {
        double lv = f->a + f->b * fc_x(from, f->t0), ll = log(limit);
        return dir == RULE_BELOW ? lv <= ll : lv >= ll;
    }
    double v = forecast_value(f, from);
    return dir == RULE_BELOW ? v <= limit : v >= limit;
}

/* A root this close past the end of the range (1 us) is a rounding error
 * of a crossing at the end itself, which counts. */
#define FC_SLACK 1e-6

/* Where a + b x reaches y going the way dir asks, if in (xf, xu]. */
static bool fc_line_root(double a, double b, double y, enum rule_dir dir, double xf, double xu,
                         double *x)
{
    if (dir == RULE_BELOW ? !(b < 0) : !(b > 0))
        return false;
    double r = (y - a) / b;
    if (!(r > xf && r <= xu + FC_SLACK))
        return false;
    *x = r;
    return true;
}

/* The first root of a + b x + c x^2 = y in (xf, xu] where the curve is
 * moving the way dir asks. */
static bool fc_quad_root(double a, double b, double c, double y, enum rule_dir dir, double xf,
                         double xu, double *x)
{
    if (c == 0)
        return fc_line_root(a, b, y, dir, xf, xu, x);
    double cc = a - y;
    double disc = b * b - 4 * c * cc;
    if (!(disc >= 0))
        return false;
    /* The form that avoids cancellation between b and the root. */
    double q = -0.5 * (b + copysign(sqrt(disc), b));
    double r1, r2;
    if (q == 0) {
        r1 = r2 = 0;
    } else {
        r1 = q / c;
        r2 = cc / q;
    }
    if (r1 > r2) {
        double tmp = r1;
        r1 = r2;
        r2 = tmp;
    }
    double roots[2] = {r1, r2};
    for (int i = 0; i < 2; i++) {
        double r = roots[i];
        if (!(r > xf && r <= xu + FC_SLACK))
            continue;
        double slope = b + 2 * c * r;
        if (dir == RULE_BELOW ? slope <= 0 : slope >= 0) {
            *x = r;
            return true;
        }
    }
    return false;
}

bool forecast_crossing(const struct forecast_fit *f, double limit, enum rule_dir dir, int64_t from,
                       int64_t until, int64_t *when)
{
    if (!f || !when || isnan(limit) || (dir != RULE_BELOW && dir != RULE_ABOVE))
        return false;
    if (fc_past(f, limit, dir, from)) {
        *when = from;
        return true;
    }
    if (until <= from)
        return false;
    double xf = fc_x(from, f->t0), xu = fc_x(until, f->t0), x = 0;
    bool found;
    switch (f->model) {
    case FORECAST_QUADRATIC:
        found = fc_quad_root(f->a, f->b, f->c, limit, dir, xf, xu, &x);
        break;
    case FORECAST_EXPONENTIAL:
        /* e^(a + b x) is always > 0: it never falls to a limit <= 0 (and
         * rising to one was "already past" above). */
        found = limit > 0 && fc_line_root(f->a, f->b, log(limit), dir, xf, xu, &x);
        break;
    default:
        found = fc_line_root(f->a, f->b, limit, dir, xf, xu, &x);
        break;
    }
    if (!found)
        return false;
    /* The first whole millisecond at which the fit has got there; a root a
     * rounding error away from a whole millisecond is that millisecond. */
    double ms = x * 1000;
    double near = nearbyint(ms);
    ms = fabs(ms - near) < 1e-3 ? near : ceil(ms);
    double w = (double)f->t0 + ms;
    if (w <= (double)from)
        *when = from + 1;
    else if (w >= (double)until)
        *when = until;
    else
        *when = (int64_t)w;
    return true;
}
