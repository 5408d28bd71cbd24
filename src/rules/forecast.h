/*
 * forecast.h - fitting a series' recent trend and finding when it will
 * cross a limit ("disk full in less than 7 days").
 *
 * Models: linear least squares (what predict_linear does), quadratic least
 * squares (growth that speeds up or slows down), and exponential (a straight
 * line through log(v); only for series whose values are all > 0, such as
 * log volumes that double). Time is fitted in seconds relative to the last
 * point, which keeps the normal equations well conditioned at epoch-sized
 * timestamps.
 */
#ifndef TOCSIN_FORECAST_H
#define TOCSIN_FORECAST_H

#include "../config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct forecast_fit {
    enum forecast_model model;
    int64_t t0;         /* ms; x = (t - t0) / 1000 */
    double a, b, c;     /* linear: a + b x; quadratic: a + b x + c x^2; exponential: e^(a + b x) */
    double r2;          /* coefficient of determination of the fit, in the model's space;
                           1 for flat data, which the fit explains fully */
    double residual_sd; /* standard deviation of the residuals, in value units, with
                           n - parameters degrees of freedom (0 with no spare point) */
    size_t n;           /* points used (NaN and Inf are skipped) */
};

/*
 * Fits model to the n points (t[i] ms increasing, v[i]). Returns 0, or -1
 * with a reason in err when fewer than 2 (linear, exponential) or 3
 * (quadratic) usable points remain, all times are equal, or an exponential
 * fit meets a value <= 0.
 */
int forecast_fit(enum forecast_model model, const int64_t *t, const double *v, size_t n,
                 struct forecast_fit *out, char *err, size_t errlen);

/* The fitted value at t (ms). */
double forecast_value(const struct forecast_fit *f, int64_t t);

/*
 * The first instant in (from, until] at which the fit reaches limit going
 * in direction dir (RULE_BELOW: from above to <= limit; RULE_ABOVE: to >=
 * limit). When the fit is already past the limit at from, *when = from.
 * Otherwise *when is the first whole millisecond at which the fit is there.
 * Returns true and sets *when, or false when it does not get there by until
 * (an exponential fit never falls to a limit <= 0).
 */
bool forecast_crossing(const struct forecast_fit *f, double limit, enum rule_dir dir, int64_t from,
                       int64_t until, int64_t *when);

/* The model's name: "linear", "quadratic", "exponential". */
const char *forecast_model_name(enum forecast_model m);

#endif
