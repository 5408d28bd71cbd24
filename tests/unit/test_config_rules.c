/*
 * test_config_rules.c - `rule_settings`, `rules` and `rule_files`
 * (Prometheus rule files) of the configuration, and config_rule_from_json.
 *
 * As in test_config_metrics.c, error tests compare the complete list of
 * messages so that each check is pinned to its exact FILE:LINE:COL. Rule
 * files are written into a fresh temporary directory next to the
 * configuration that names them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/tz.h"
#include "config/config.h"
#include "config/config_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC_MS  (1000LL)
#define MIN_MS  (60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS  (24 * HOUR_MS)
#define WEEK_MS (7 * DAY_MS)

#include "test_config_util.h"
}

/* Exact comparison of doubles, with both values in the failure message. */
#define assert_num(got, want)                                                                      \
    do {                                                                                           \
        double g_ = (got), w_ = (want);                                                            \
        if (!(g_ == w_))                                                                           \
            fail_msg("%s is %g, expected %g", #got, g_, w_);                                       \
    } while (0)

static const char *zone_name(const struct tz *z)
{
    return z ? tz_name(z) : "(null)";
}

/* ---- rules: ---- */

/* The minimum shape, with every value it implies. */
static void test_minimum_shape(void **state)
{
    struct config *cfg =
        load_ok("rules:\n"
                "  - name: DiskFull\n"
                "    query: 'node_filesystem_avail_bytes{mountpoint=\"/\"} / "
                "node_filesystem_size_bytes * 100'\n"
                "    static: {below: {warning: 20, critical: 10}, recover: 2}\n"
                "    for: 5m\n"
                "    severity: critical\n"
                "  - name: BookingsUnusuallyLow\n"
                "    query: 'sum(rate(bookings_total[5m]))'\n"
                "    seasonal: {season: week, horizon: 4w, k: 3, direction: below, min_band: 5}\n"
                "    for: 10m\n"
                "    labels: {service: shop}\n"
                "  - name: ArchiveJobSilent\n"
                "    query: 'archive_documents_total'\n"
                "    absent: 2h\n"
                "  - name: DiskFullSoon\n"
                "    query: 'node_filesystem_avail_bytes{mountpoint=\"/\"}'\n"
                "    forecast: {below: 0, within: 7d, window: 3d}\n");
    assert_int_equal(cfg->n_rules, 4);
    assert_int_equal(cfg->n_rule_files, 0);

    const struct cfg_rule *r = config_find_rule(cfg, "DiskFull");
    assert_ptr_equal(r, &cfg->rules[0]);
    assert_string_equal(r->group, "t.yaml");
    assert_string_equal(r->file, "t.yaml");
    assert_int_equal(r->line, 2);
    assert_int_equal(r->kind, RULE_STATIC);
    assert_string_equal(r->query, "node_filesystem_avail_bytes{mountpoint=\"/\"} / "
                                  "node_filesystem_size_bytes * 100");
    assert_false(r->st.above.set);
    assert_true(isnan(r->st.above.warning));
    assert_true(r->st.below.set);
    assert_num(r->st.below.warning, 20);
    assert_num(r->st.below.critical, 10);
    assert_num(r->st.below.recover_warning, 22);
    assert_num(r->st.below.recover_critical, 12);
    assert_int_equal(r->st.n_periods, 0);
    assert_int_equal(r->for_ms, 5 * MIN_MS);
    assert_int_equal(r->keep_firing_for_ms, 0);
    assert_int_equal(r->interval_ms, MIN_MS);
    assert_int_equal(r->severity, SEV_CRITICAL);
    assert_true(r->severity_set);
    assert_int_equal(r->labels.n, 0);
    assert_non_null(r->annotations);
    assert_int_equal(json_object_size(r->annotations), 0);
    assert_string_equal(json_string_value(json_object_get(r->spec, "name")), "DiskFull");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r->spec, "static"), "recover")), 2);

    r = config_find_rule(cfg, "BookingsUnusuallyLow");
    assert_ptr_equal(r, &cfg->rules[1]);
    assert_int_equal(r->line, 7);
    assert_int_equal(r->kind, RULE_SEASONAL);
    assert_int_equal(r->se.season, SEASON_WEEK);
    assert_int_equal(r->se.horizon_ms, 4 * WEEK_MS);
    assert_num(r->se.k, 3);
    assert_int_equal(r->se.direction, RULE_BELOW);
    assert_num(r->se.min_band, 5);
    assert_int_equal(r->se.slot_ms, HOUR_MS);
    assert_int_equal(r->se.min_seasons, 2);
    assert_int_equal(r->for_ms, 10 * MIN_MS);
    assert_int_equal(r->severity, SEV_WARNING);
    assert_false(r->severity_set);
    assert_int_equal(r->labels.n, 1);
    assert_string_equal(labels_get(&r->labels, "service"), "shop");

    r = &cfg->rules[2];
    assert_string_equal(r->name, "ArchiveJobSilent");
    assert_int_equal(r->kind, RULE_ABSENT);
    assert_int_equal(r->ab.after_ms, 2 * HOUR_MS);
    assert_int_equal(r->ab.forget_ms, 7 * DAY_MS);
    assert_string_equal(r->query, "archive_documents_total");

    r = &cfg->rules[3];
    assert_string_equal(r->name, "DiskFullSoon");
    assert_int_equal(r->kind, RULE_FORECAST);
    assert_int_equal(r->fc.dir, RULE_BELOW);
    assert_num(r->fc.limit, 0);
    assert_int_equal(r->fc.within_ms, 7 * DAY_MS);
    assert_int_equal(r->fc.window_ms, 3 * DAY_MS);
    assert_int_equal(r->fc.model, FORECAST_LINEAR);
    assert_int_equal(r->fc.min_points, 10);
    assert_null(config_find_rule(cfg, "diskfull"));
    config_free(cfg);
}

static void test_defaults(void **state)
{
    struct config *cfg = config_default();
    assert_non_null(cfg);
    assert_int_equal(cfg->rule_settings.interval_ms, MIN_MS);
    assert_string_equal(zone_name(cfg->rule_settings.tz), "UTC");
    assert_int_equal(cfg->rule_settings.max_series_per_rule, 10000);
    assert_int_equal(cfg->rule_settings.link_range_ms, 6 * HOUR_MS);
    assert_int_equal(cfg->n_rules, 0);
    assert_null(cfg->rules);
    assert_int_equal(cfg->n_rule_files, 0);
    assert_null(config_find_rule(cfg, "x"));
    config_free(cfg);

    cfg = load_ok("rule_settings: {}\n"
                  "rules:\n"
                  "  - {name: S, query: up, static: {above: {warning: 1}}}\n"
                  "  - {name: W, query: up, seasonal: {}}\n"
                  "  - {name: A, query: up, absent: {after: 1h}}\n"
                  "  - {name: F, query: up, forecast: {above: 90, within: 40d}}\n"
                  "  - {name: W12, query: up, seasonal: {horizon: 12w}}\n"
                  "  - {name: W1, query: up, seasonal: {horizon: 1w}}\n"
                  "  - {name: D, query: up, seasonal: {season: day, horizon: 3d}}\n");
    assert_int_equal(cfg->rule_settings.interval_ms, MIN_MS);

    /* static: the critical level's severity defaults to critical; recovery = the level. */
    const struct cfg_rule *r = &cfg->rules[0];
    assert_int_equal(r->severity, SEV_CRITICAL);
    assert_false(r->severity_set);
    assert_true(r->st.above.set);
    assert_num(r->st.above.warning, 1);
    assert_true(isnan(r->st.above.critical));
    assert_num(r->st.above.recover_warning, 1);
    assert_true(isnan(r->st.above.recover_critical));
    assert_false(r->st.below.set);
    assert_int_equal(r->for_ms, 0);
    assert_int_equal(r->keep_firing_for_ms, 0);
    assert_int_equal(r->interval_ms, MIN_MS);
    assert_int_equal(json_object_size(r->annotations), 0);

    /* seasonal: every default of config.h. */
    r = &cfg->rules[1];
    assert_int_equal(r->kind, RULE_SEASONAL);
    assert_int_equal(r->severity, SEV_WARNING);
    assert_int_equal(r->se.season, SEASON_WEEK);
    assert_int_equal(r->se.horizon_ms, 4 * WEEK_MS);
    assert_int_equal(r->se.slot_ms, HOUR_MS);
    assert_num(r->se.k, 3);
    assert_int_equal(r->se.direction, RULE_BOTH);
    assert_num(r->se.min_band, 0);
    assert_num(r->se.min_band_ratio, 0.05);
    assert_int_equal(r->se.centre, CENTRE_MEDIAN);
    assert_num(r->se.trim, 0.1);
    assert_int_equal(r->se.spread, SPREAD_MAD);
    assert_int_equal(r->se.min_seasons, 2);
    assert_int_equal(r->se.fallback, FALLBACK_SILENT);
    assert_ptr_equal(r->se.tz, cfg->rule_settings.tz);
    assert_int_equal(r->se.n_holidays, 0);
    assert_null(r->se.holidays);

    r = &cfg->rules[2];
    assert_int_equal(r->ab.after_ms, HOUR_MS);
    assert_int_equal(r->ab.forget_ms, 7 * DAY_MS);

    /* forecast: the window defaults to `within`, capped at 30d. */
    r = &cfg->rules[3];
    assert_int_equal(r->fc.dir, RULE_ABOVE);
    assert_num(r->fc.limit, 90);
    assert_int_equal(r->fc.within_ms, 40 * DAY_MS);
    assert_int_equal(r->fc.window_ms, 30 * DAY_MS);
    assert_int_equal(r->fc.min_points, 10);

    /* min_history: half the seasons, at least 2, at most all of them. */
    assert_int_equal(cfg->rules[4].se.min_seasons, 6);
    assert_int_equal(cfg->rules[5].se.min_seasons, 1);
    assert_int_equal(cfg->rules[6].se.season, SEASON_DAY);
    assert_int_equal(cfg->rules[6].se.horizon_ms, 3 * DAY_MS);
    assert_int_equal(cfg->rules[6].se.min_seasons, 2);
    config_free(cfg);
}

/* The example of the brief and docs/rules-config.md, every key given. */
static void test_full(void **state)
{
    struct config *cfg = load_ok(
        "rule_settings: {interval: 2m, time_zone: Europe/Berlin, max_series_per_rule: 500, "
        "link_range: 12h}\n"
        "rules:\n"
        "  - name: DiskFull\n"
        "    query: 'node_filesystem_avail_bytes / node_filesystem_size_bytes * 100'\n"
        "    static: {below: {warning: 20, critical: 10}, recover: 2}\n"
        "    for: 5m\n"
        "    keep_firing_for: 10m\n"
        "    severity: error\n"
        "    labels: {team: ops, tier: \"1\"}\n"
        "    summary: \"Disk {{ $labels.mountpoint }} at {{ $value | humanize }}%\"\n"
        "    description: \"{{ $explanation }}\"\n"
        "    annotations: {runbook_url: \"https://runbooks/disk\"}\n"
        "    interval: 30s\n"
        "  - name: BookingsUnusuallyLow\n"
        "    query: 'sum(rate(bookings_total[5m]))'\n"
        "    seasonal: {season: day, horizon: 14d, k: 2.5, direction: above, min_band: 5,\n"
        "               slot: 15m, centre: trimmed_mean, spread: stddev, trim: 0.2,\n"
        "               min_band_ratio: 0.1, min_history: 3, fallback: static,\n"
        "               time_zone: America/New_York,\n"
        "               holidays: [\"2026-12-26\", \"2026-12-25\", \"2026-12-25\"]}\n"
        "    static: {below: {critical: 100}}\n"
        "  - {name: ArchiveJobSilent, query: archive_documents_total,\n"
        "     absent: {after: 2h, forget: 0}}\n"
        "  - name: DiskFullSoon\n"
        "    query: 'node_filesystem_avail_bytes'\n"
        "    forecast: {below: 0, within: 7d, window: 3d, model: quadratic, min_points: 20}\n");
    assert_int_equal(cfg->rule_settings.interval_ms, 2 * MIN_MS);
    assert_string_equal(zone_name(cfg->rule_settings.tz), "Europe/Berlin");
    assert_int_equal(cfg->rule_settings.max_series_per_rule, 500);
    assert_int_equal(cfg->rule_settings.link_range_ms, 12 * HOUR_MS);

    const struct cfg_rule *r = &cfg->rules[0];
    assert_int_equal(r->keep_firing_for_ms, 10 * MIN_MS);
    assert_int_equal(r->severity, SEV_ERROR);
    assert_true(r->severity_set);
    assert_int_equal(r->interval_ms, 30 * SEC_MS);
    assert_int_equal(r->labels.n, 2);
    assert_string_equal(labels_get(&r->labels, "tier"), "1");
    assert_int_equal(json_object_size(r->annotations), 3);
    assert_string_equal(json_string_value(json_object_get(r->annotations, "summary")),
                        "Disk {{ $labels.mountpoint }} at {{ $value | humanize }}%");
    assert_string_equal(json_string_value(json_object_get(r->annotations, "description")),
                        "{{ $explanation }}");
    assert_string_equal(json_string_value(json_object_get(r->annotations, "runbook_url")),
                        "https://runbooks/disk");

    r = &cfg->rules[1];
    assert_int_equal(r->kind, RULE_SEASONAL);
    assert_int_equal(r->interval_ms, 2 * MIN_MS);
    assert_int_equal(r->se.season, SEASON_DAY);
    assert_int_equal(r->se.horizon_ms, 14 * DAY_MS);
    assert_num(r->se.k, 2.5);
    assert_int_equal(r->se.direction, RULE_ABOVE);
    assert_int_equal(r->se.slot_ms, 15 * MIN_MS);
    assert_int_equal(r->se.centre, CENTRE_TRIMMED_MEAN);
    assert_int_equal(r->se.spread, SPREAD_STDDEV);
    assert_num(r->se.trim, 0.2);
    assert_num(r->se.min_band_ratio, 0.1);
    assert_int_equal(r->se.min_seasons, 3);
    assert_int_equal(r->se.fallback, FALLBACK_STATIC);
    assert_string_equal(zone_name(r->se.tz), "America/New_York");
    assert_int_equal(r->se.n_holidays, 2);
    assert_int_equal(r->se.holidays[0], 20261225);
    assert_int_equal(r->se.holidays[1], 20261226);
    /* The fallback's levels are there; its severity stays the seasonal default. */
    assert_true(r->st.below.set);
    assert_num(r->st.below.critical, 100);
    assert_num(r->st.below.recover_critical, 100);
    assert_int_equal(r->severity, SEV_WARNING);

    r = &cfg->rules[2];
    assert_int_equal(r->ab.after_ms, 2 * HOUR_MS);
    assert_int_equal(r->ab.forget_ms, 0);

    r = &cfg->rules[3];
    assert_int_equal(r->fc.model, FORECAST_QUADRATIC);
    assert_int_equal(r->fc.min_points, 20);
    config_free(cfg);
}

/* Hysteresis, explicit recovery levels, and levels per time period. */
static void test_static_levels(void **state)
{
    struct config *cfg = load_ok(
        "rule_settings: {time_zone: Europe/Berlin}\n"
        "rules:\n"
        "  - name: Load\n"
        "    query: node_load1\n"
        "    static:\n"
        "      above: {warning: 4, critical: 8}\n"
        "      below: {warning: 1, critical: 0.5, recover: {warning: 1.5}}\n"
        "      recover: 0.5\n"
        "      periods:\n"
        "        - name: night\n"
        "          windows: [{from: \"22:00\", to: \"06:00\"}]\n"
        "          above: {critical: 16, recover: {critical: 12}}\n"
        "        - time_zone: UTC\n"
        "          windows: [{days: [sat, sun]}, {days: [mon], from: \"00:00\", to: "
        "\"08:00\"}]\n"
        "  - name: Explicit\n"
        "    query: up\n"
        "    static: {above: {warning: 10, critical: 20}, recover: {warning: 8, critical: 20}}\n");
    const struct cfg_static *st = &cfg->rules[0].st;
    assert_num(st->above.recover_warning, 3.5);
    assert_num(st->above.recover_critical, 7.5);
    /* The side's own recover wins over the block's; a level it leaves out keeps the level. */
    assert_num(st->below.recover_warning, 1.5);
    assert_num(st->below.recover_critical, 0.5);

    assert_int_equal(st->n_periods, 2);
    const struct cfg_rule_period *p = &st->periods[0];
    assert_string_equal(p->name, "night");
    assert_int_equal(p->n_windows, 1);
    assert_int_equal(p->windows[0].start_minute, 22 * 60);
    assert_int_equal(p->windows[0].duration_ms, 8 * HOUR_MS);
    assert_string_equal(zone_name(p->windows[0].tz), "Europe/Berlin");
    assert_true(p->above.set);
    assert_true(isnan(p->above.warning));
    assert_num(p->above.critical, 16);
    assert_num(p->above.recover_critical, 12);
    assert_false(p->below.set);

    p = &st->periods[1];
    assert_string_equal(p->name, "period 2");
    assert_int_equal(p->n_windows, 2);
    assert_string_equal(zone_name(p->windows[1].tz), "UTC");
    assert_int_equal(p->windows[1].duration_ms, 8 * HOUR_MS);
    /* A period without sides turns the rule off while it holds. */
    assert_false(p->above.set);
    assert_false(p->below.set);

    st = &cfg->rules[1].st;
    assert_num(st->above.recover_warning, 8);
    assert_num(st->above.recover_critical, 20);
    config_free(cfg);
}

static void test_rule_errors(void **state)
{
    /* Kinds. */
    expect_errors("rules:\n"
                  "  - {name: A, query: up}\n",
                  "t.yaml:2:5: a rule needs one of static, seasonal, absent or forecast", NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, static: {above: {warning: 1}}, absent: 2h}\n",
                  "t.yaml:2:57: a rule takes only one of static, seasonal, absent or forecast "
                  "(this one has static and absent)",
                  NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, seasonal: {}, static: {below: {critical: 1}}}\n",
                  "t.yaml:2:40: static next to seasonal is allowed only as its fallback "
                  "(fallback: static)",
                  NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, seasonal: {fallback: static}}\n",
                  "t.yaml:2:47: fallback: static needs a static: block in the rule", NULL);

    /* Levels and recovery. */
    expect_errors("rules:\n"
                  "  - {name: A, query: up, static: {above: {warning: 10, critical: 5},\n"
                  "                                  below: {warning: 1, critical: 2}}}\n",
                  "t.yaml:2:66: above: critical (5) must not be below warning (10)",
                  "t.yaml:3:65: below: critical (2) must not be above warning (1)", NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, static: {above: {warning: 10,\n"
                  "      recover: {warning: 12, critical: 1}}}}\n",
                  "t.yaml:3:26: above: recover.warning (12) must not be above the warning level "
                  "(10)",
                  "t.yaml:3:30: recover.critical is given but above has no critical level", NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, static: {below: {warning: 10}, recover: {warning: "
                  "9}}}\n",
                  "t.yaml:2:76: below: recover.warning (9) must not be below the warning level "
                  "(10)",
                  NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, static: {above: {warning: 10}, recover: -1}}\n",
                  "t.yaml:2:66: recover must be a number >= 0 (hysteresis) or {warning, "
                  "critical} (recovery levels)",
                  NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, static: {above: {warning: x}, below: {}}}\n"
                  "  - {name: B, query: up, static: {}}\n",
                  "t.yaml:2:52: warning must be a number, not a string",
                  "t.yaml:2:63: below needs warning or critical",
                  "t.yaml:3:34: static needs above or below", NULL);

    /* seasonal. */
    expect_errors("rules:\n"
                  "  - {name: A, query: up, seasonal: {horizon: 10d}}\n",
                  "t.yaml:2:46: horizon must be a whole number of weeks (the season), such as 4w",
                  NULL);
    expect_errors(
        "rules:\n"
        "  - {name: A, query: up, seasonal: {season: day, horizon: 53w, slot: 7m, k: 0,\n"
        "     trim: 0.5, min_history: 29, holidays: [\"2026-02-30\", 5], centre: mode}}\n",
        "t.yaml:2:59: horizon must be at most 52w",
        "t.yaml:2:70: slot must divide 24h and be at least 5m (such as 15m, 1h or 2h)",
        "t.yaml:2:77: k must be greater than 0", "t.yaml:3:12: trim must be between 0 and 0.45",
        "t.yaml:3:30: min_history must be between 1 and 28",
        "t.yaml:3:45: holidays must be dates \"YYYY-MM-DD\"",
        "t.yaml:3:59: holidays must be dates \"YYYY-MM-DD\"",
        "t.yaml:3:71: invalid centre \"mode\" (expected median, trimmed_mean or mean)", NULL);

    /* absent and forecast. */
    expect_errors("rules:\n"
                  "  - {name: A, query: up, absent: {forget: 1h}}\n"
                  "  - {name: B, query: up, absent: {after: 2h, forget: 1h}}\n"
                  "  - {name: C, query: up, absent: [2h]}\n"
                  "  - {name: D, query: up, absent: 0}\n",
                  "t.yaml:2:26: missing required field \"after\"",
                  "t.yaml:3:54: forget must be 0 (never) or at least after",
                  "t.yaml:4:34: absent must be a duration such as \"2h\" or {after: 2h, "
                  "forget: 7d}",
                  "t.yaml:5:34: absent must be greater than zero", NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, forecast: {below: 0, above: 1, window: 31d,\n"
                  "     model: cubic, min_points: 1}}\n"
                  "  - {name: B, query: up, forecast: {within: 1d, model: quadratic, "
                  "min_points: 2}}\n",
                  "t.yaml:2:47: forecast takes below or above, not both",
                  "t.yaml:2:26: missing required field \"within\"",
                  "t.yaml:2:65: window must be at most 30d",
                  "t.yaml:3:13: invalid model \"cubic\" (expected linear, quadratic or "
                  "exponential)",
                  "t.yaml:3:32: min_points must be between 2 and 1000000",
                  "t.yaml:4:36: forecast needs below or above (the limit)",
                  "t.yaml:4:79: min_points must be at least 3 for the quadratic model", NULL);

    /* Query, templates, names, labels, keys. */
    expect_errors("rules:\n"
                  "  - {name: A, query: 'sum(rate(x[5m])', absent: 2h}\n"
                  "  - {name: B, absent: 2h}\n",
                  "t.yaml:2:22: query: position 16: unexpected end of input in aggregation, "
                  "expected \",\" or \")\"",
                  "t.yaml:3:5: missing required field \"query\"", NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, absent: 2h, summary: \"{{ if $value }}x{{ end }}\",\n"
                  "     annotations: {summary: y, \"bad-name\": z, d: \"{{ $nope }}\"}}\n",
                  "t.yaml:2:47: summary: position 4: `if` is not supported (Tocsin templates "
                  "take $labels, $value and the rule's variables, with humanize, humanize1024, "
                  "humanizePercentage, humanizeDuration, printf, toUpper, toLower, title and "
                  "index)",
                  "t.yaml:3:32: invalid annotation name \"bad-name\" (expected "
                  "[a-zA-Z_][a-zA-Z0-9_]*, at most 128 characters)",
                  "t.yaml:3:50: d: position 4: unknown variable $nope (variables are $labels, "
                  "$value, $explanation, $expected, $threshold, $deviation, $predicted, $for)",
                  NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, absent: 2h, summary: x, annotations: {summary: y}}\n",
                  "t.yaml:2:64: summary is given twice (as summary: and as annotations.summary)",
                  NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, absent: 2h, bogus: 1}\n"
                  "  - {name: A, query: up, absent: 3h}\n"
                  "  - {name: 9A, query: up, absent: 3h, severity: fatal,\n"
                  "     labels: {alertname: x, __a: b, \"a-b\": c, n: 1, t: \"{{ $value }}\"}}\n"
                  "  - [x]\n",
                  "t.yaml:2:38: unknown key \"bogus\"",
                  "t.yaml:3:12: duplicate rule name \"A\" (first defined at line 2)",
                  "t.yaml:4:12: name must be 1 to 128 characters of A-Z, a-z, 0-9, '_', ':' and "
                  "'-', starting with a letter, '_' or ':'",
                  "t.yaml:4:49: invalid severity \"fatal\" (expected info, warning, error or "
                  "critical)",
                  "t.yaml:5:15: label \"alertname\" cannot be set here: it is the rule's name",
                  "t.yaml:5:29: label names starting with \"__\" are reserved for internal use",
                  "t.yaml:5:37: invalid label name \"a-b\" (expected [a-zA-Z_][a-zA-Z0-9_]*, at "
                  "most 128 characters)",
                  "t.yaml:5:50: label \"n\" must be a string, not a number",
                  "t.yaml:5:56: label \"t\" cannot be a template (Tocsin expands templates in "
                  "annotations only)",
                  "t.yaml:6:5: each entry of rules must be a mapping, not a list", NULL);
    expect_errors("rules:\n"
                  "  - {name: A, query: up, interval: 100ms, for: -1m, absent: 2h}\n",
                  "t.yaml:2:36: interval must be at least 1s",
                  "t.yaml:2:48: for must be a duration such as \"30s\" or \"5m\"", NULL);
    expect_errors("rules:\n"
                  "  - name: A\n"
                  "    query: up\n"
                  "    static:\n"
                  "      above: {warning: 10}\n"
                  "      periods:\n"
                  "        - {name: night, windows: [{from: \"22:00\"}]}\n"
                  "        - {name: night, windows: []}\n"
                  "        - {time_zone: Mars/Base}\n"
                  "        - 3\n",
                  "t.yaml:8:18: duplicate period \"night\" (first defined at line 7)",
                  "t.yaml:8:34: windows must have at least one window",
                  "t.yaml:9:23: unknown time zone \"Mars/Base\": No such file or directory",
                  "t.yaml:9:11: missing required field \"windows\"",
                  "t.yaml:10:11: each entry of periods must be a mapping, not a number", NULL);
}

static void test_settings_errors(void **state)
{
    expect_errors("rule_settings: {interval: 500ms, time_zone: Nowhere, max_series_per_rule: 0,\n"
                  "                link_range: 31d, x: 1}\n",
                  "t.yaml:2:34: unknown key \"x\"", "t.yaml:1:27: interval must be at least 1s",
                  "t.yaml:1:45: unknown time zone \"Nowhere\": No such file or directory",
                  "t.yaml:1:75: max_series_per_rule must be between 1 and 100000000",
                  "t.yaml:2:29: link_range must be at most 30d", NULL);
    expect_errors("rule_settings: 5\n"
                  "rules: {}\n",
                  "t.yaml:1:16: rule_settings must be a mapping, not a number",
                  "t.yaml:2:8: rules must be a list, not a mapping", NULL);
}

/* ---- rule_files ---- */

static char tmpdir[64];

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    fclose(f);
}

static int setup_dir(void **state)
{
    char path[128];
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tocsin-rules-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(path, sizeof(path), "%s/rules", tmpdir);
    return mkdir(path, 0700);
}

static int teardown_dir(void **state)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Loads tmpdir/tocsin.yaml with the given text. */
static struct config *load_dir(const char *yaml, struct cfg_errors *errs)
{
    char path[128];
    write_file("tocsin.yaml", yaml);
    snprintf(path, sizeof(path), "%s/tocsin.yaml", tmpdir);
    return config_load_file(path, errs);
}

static const char node_rules[] =
    "groups:\n"
    "  - name: node\n"
    "    interval: 30s\n"
    "    labels: {team: ops, tier: \"2\"}\n"
    "    rules:\n"
    "      - alert: HighLoad\n"
    "        expr: node_load1 > 4\n"
    "        for: 5m\n"
    "        keep_firing_for: 2m\n"
    "        labels: {severity: page, tier: \"1\"}\n"
    "        annotations:\n"
    "          summary: \"Load {{ $value | printf \\\"%.1f\\\" }} on {{ $labels.instance }}\"\n"
    "          priority: 1\n"
    "      - record: job:up:sum\n"
    "        expr: sum by (job) (up)\n"
    "  - name: disk\n"
    "    rules:\n"
    "      - alert: HighLoad\n"
    "        expr: node_load5 > 8\n"
    "      - alert: DiskSlow\n"
    "        expr: rate(node_disk_io_time_seconds_total[5m]) > 0.9\n"
    "        labels: {severity: ticket}\n";

static void test_rule_files(void **state)
{
    struct cfg_errors errs = {0};
    char path[256];
    write_file("rules/node.yml", node_rules);
    write_file("rules/app.yml", "groups:\n"
                                "  - name: app\n"
                                "    rules:\n"
                                "      - {alert: AppDown, expr: 'up{job=\"app\"} == 0'}\n");
    write_file("rules/empty.yml", "");
    write_file("rules/notes.txt", "not a rule file");
    struct config *cfg =
        load_dir("rule_settings: {interval: 2m}\n"
                 "rule_files: [\"rules/*.yml\", rules/node.yml]\n"
                 "rules:\n"
                 "  - {name: DiskFull, query: up, static: {above: {warning: 1}}}\n",
                 &errs);
    if (!cfg)
        dump(&errs);
    assert_non_null(cfg);

    /* Sorted per pattern, each file once. */
    assert_int_equal(cfg->n_rule_files, 3);
    snprintf(path, sizeof(path), "%s/rules/app.yml", tmpdir);
    assert_string_equal(cfg->rule_files[0], path);
    snprintf(path, sizeof(path), "%s/rules/empty.yml", tmpdir);
    assert_string_equal(cfg->rule_files[1], path);
    snprintf(path, sizeof(path), "%s/rules/node.yml", tmpdir);
    assert_string_equal(cfg->rule_files[2], path);

    /* rules: first, then the files in order. */
    assert_int_equal(cfg->n_rules, 6);
    assert_string_equal(cfg->rules[0].name, "DiskFull");
    assert_string_equal(cfg->rules[0].group, "tocsin.yaml");
    assert_string_equal(cfg->rules[1].name, "AppDown");
    assert_int_equal(cfg->rules[1].interval_ms, 2 * MIN_MS);
    assert_int_equal(cfg->rules[1].severity, SEV_WARNING);
    assert_false(cfg->rules[1].severity_set);

    const struct cfg_rule *r = &cfg->rules[2];
    assert_string_equal(r->name, "HighLoad");
    assert_ptr_equal(config_find_rule(cfg, "HighLoad"), r);
    assert_int_equal(r->kind, RULE_PROMQL);
    assert_string_equal(r->group, "node");
    assert_string_equal(r->file, path);
    assert_int_equal(r->line, 6);
    assert_string_equal(r->query, "node_load1 > 4");
    assert_int_equal(r->interval_ms, 30 * SEC_MS);
    assert_int_equal(r->for_ms, 5 * MIN_MS);
    assert_int_equal(r->keep_firing_for_ms, 2 * MIN_MS);
    /* The group's labels, overridden by the rule's; severity from the label. */
    assert_int_equal(r->labels.n, 3);
    assert_string_equal(labels_get(&r->labels, "team"), "ops");
    assert_string_equal(labels_get(&r->labels, "tier"), "1");
    assert_string_equal(labels_get(&r->labels, "severity"), "page");
    assert_int_equal(r->severity, SEV_CRITICAL);
    assert_true(r->severity_set);
    assert_string_equal(json_string_value(json_object_get(r->annotations, "priority")), "1");
    /* The spec stands on its own: group, interval and the merged labels. */
    char *spec = json_dumps(r->spec, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(spec,
                        "{\"alert\":\"HighLoad\",\"annotations\":{\"priority\":1,"
                        "\"summary\":\"Load {{ $value | printf \\\"%.1f\\\" }} on {{ "
                        "$labels.instance }}\"},\"expr\":\"node_load1 > 4\",\"for\":\"5m\","
                        "\"group\":\"node\",\"interval\":\"30s\",\"keep_firing_for\":\"2m\","
                        "\"labels\":{\"severity\":\"page\",\"team\":\"ops\",\"tier\":\"1\"}}");
    free(spec);

    r = &cfg->rules[3];
    assert_string_equal(r->name, "job:up:sum");
    assert_int_equal(r->kind, RULE_RECORD);
    assert_int_equal(r->line, 14);
    assert_int_equal(r->labels.n, 2);
    assert_int_equal(json_object_size(r->annotations), 0);

    /* A name may repeat in a Prometheus file; the second group has no interval. */
    r = &cfg->rules[4];
    assert_string_equal(r->name, "HighLoad");
    assert_string_equal(r->group, "disk");
    assert_int_equal(r->interval_ms, 2 * MIN_MS);
    assert_int_equal(r->labels.n, 0);
    assert_null(json_object_get(r->spec, "interval"));
    assert_string_equal(json_string_value(json_object_get(r->spec, "group")), "disk");
    /* An unknown severity word: warning, but the label was there. */
    r = &cfg->rules[5];
    assert_int_equal(r->severity, SEV_WARNING);
    assert_true(r->severity_set);
    config_free(cfg);
    cfg_errors_free(&errs);
}

static void expect_dir_errors(const char *yaml, ...)
{
    struct cfg_errors errs = {0};
    struct config *cfg = load_dir(yaml, &errs);
    char *msgs[32];
    size_t n = 0;
    va_list ap;
    /* Messages name files in the temporary directory: "%s" stands for it. */
    va_start(ap, yaml);
    for (const char *m; n < 32 && (m = va_arg(ap, const char *)) != NULL; n++)
        assert_true(asprintf(&msgs[n], m, tmpdir, tmpdir) > 0);
    va_end(ap);
    bool ok = cfg == NULL && errs.n == n;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < errs.n && !found; k++)
            found = strcmp(errs.msgs[k], msgs[i]) == 0;
        if (!found) {
            fprintf(stderr, "missing: %s\n", msgs[i]);
            ok = false;
        }
        free(msgs[i]);
    }
    if (!ok)
        dump(&errs);
    config_free(cfg);
    cfg_errors_free(&errs);
    assert_true(ok);
}

static void test_rule_file_errors(void **state)
{
    write_file("rules/bad.yml",
               "groups:\n"
               "  - name: node\n"
               "    limit: 10\n"
               "    query_offset: 1m\n"
               "    bogus: 1\n"
               "    labels: {\"__x\": y}\n"
               "    rules:\n"
               "      - alert: HighLoad\n"
               "        expr: node_load1 >\n"
               "        annotations: {summary: \"{{ range $labels }}x{{ end }}\"}\n"
               "      - record: \"job up\"\n"
               "        expr: up\n"
               "        for: 1m\n"
               "        annotations: {a: b}\n"
               "      - {alert: X, record: y, expr: up}\n"
               "      - {expr: up}\n"
               "      - {alert: Y, expr: up, labels: {severity: \"{{ $value }}\"}}\n"
               "  - name: node\n"
               "    interval: 0\n");
    expect_dir_errors(
        "rule_files: [rules/bad.yml]\n",
        "%s/rules/bad.yml:3:5: \"limit\" is not supported by Tocsin",
        "%s/rules/bad.yml:4:5: \"query_offset\" is not supported by Tocsin",
        "%s/rules/bad.yml:5:5: unknown key \"bogus\"",
        "%s/rules/bad.yml:6:14: label names starting with \"__\" are reserved for internal use",
        "%s/rules/bad.yml:9:15: expr: position 13: unexpected end of input",
        "%s/rules/bad.yml:10:32: summary: position 4: `range` is not supported (Tocsin "
        "templates take $labels, $value and the rule's variables, with humanize, humanize1024, "
        "humanizePercentage, humanizeDuration, printf, toUpper, toLower, title and index)",
        "%s/rules/bad.yml:11:17: record must be a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*, at most "
        "128 characters)",
        "%s/rules/bad.yml:13:9: for is not allowed in a recording rule",
        "%s/rules/bad.yml:14:9: annotations is not allowed in a recording rule",
        "%s/rules/bad.yml:15:20: a rule has alert or record, not both",
        "%s/rules/bad.yml:16:9: a rule needs alert or record",
        "%s/rules/bad.yml:17:49: label \"severity\" cannot be a template (Tocsin expands "
        "templates in annotations only)",
        "%s/rules/bad.yml:18:11: duplicate group \"node\" (first defined at line 2)",
        "%s/rules/bad.yml:19:15: interval must be greater than zero", NULL);

    write_file("rules/list.yml", "- just a list\n");
    write_file("rules/yaml.yml", "groups:\n  - name: x\n   bad: indent\n");
    expect_dir_errors(
        "rule_files: [rules/list.yml, rules/yaml.yml, rules/none.yml, \"none/*.yml\",\n"
        "             3]\n",
        "%s/rules/list.yml:1:1: a rule file must be a mapping with \"groups\", not "
        "a list",
        "%s/rules/yaml.yml:3:4: did not find expected '-' indicator (while parsing a block "
        "collection at line 2, column 3)",
        "%s/tocsin.yaml:1:46: cannot read rule file \"%s/rules/none.yml\": No such "
        "file or directory",
        "%s/tocsin.yaml:1:62: no file matches \"%s/none/*.yml\"",
        "%s/tocsin.yaml:2:14: rule_files entries must be file names or patterns", NULL);

    /* A Tocsin rule must not share its name with an alert of a rule file. */
    write_file("rules/node.yml", node_rules);
    expect_dir_errors("rule_files: [rules/node.yml]\n"
                      "rules:\n"
                      "  - {name: DiskSlow, query: up, absent: 1h}\n",
                      "%s/tocsin.yaml:3:12: rule name \"DiskSlow\" is also the name of an alert "
                      "in %s/rules/node.yml (line 20)",
                      NULL);
}

/* cfg_rule_file_buffer: the parser the fuzzer drives, from memory. */
static void test_rule_file_buffer(void **state)
{
    struct config *cfg = config_default();
    struct cfg_errors errs = {0};
    struct cfg_ctx ctx = {.file = "x", .errs = &errs, .cfg = cfg};
    assert_int_equal(cfg_rule_file_buffer(&ctx, "mem.yml", node_rules, strlen(node_rules)), 4);
    assert_int_equal(errs.n, 0);
    assert_int_equal(cfg->n_rules, 4);
    assert_string_equal(cfg->rules[0].file, "mem.yml");
    assert_int_equal(cfg_rule_file_buffer(&ctx, "e.yml", "", 0), 0);
    assert_int_equal(cfg_rule_file_buffer(&ctx, "b.yml", "a: [", 4), -1);
    assert_int_equal(errs.n, 1);
    assert_int_equal(cfg_rule_file_buffer(&ctx, "c.yml", "groups: [{name: g, rules: [{}]}]", 32),
                     1);
    assert_int_equal(errs.n, 3);
    assert_string_equal(errs.msgs[1], "c.yml:1:28: a rule needs alert or record");
    assert_string_equal(errs.msgs[2], "c.yml:1:28: missing required field \"expr\"");
    config_free(cfg);
    cfg_errors_free(&errs);
}

/* ---- config_rule_from_json ---- */

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad JSON in test: %s", e.text);
    return j;
}

static void test_from_json(void **state)
{
    struct config *cfg = load_ok("rule_settings: {interval: 5m}\n");
    struct cfg_errors errs = {0};
    struct cfg_rule r;

    /* Tocsin's form. */
    json_t *spec = parse("{\"name\": \"Low\", \"query\": \"sum(rate(x[5m]))\", "
                         "\"seasonal\": {\"season\": \"day\", \"horizon\": \"7d\"}, "
                         "\"summary\": \"{{ $expected }}\"}");
    assert_int_equal(config_rule_from_json(spec, cfg, &r, &errs), 0);
    assert_int_equal(errs.n, 0);
    assert_string_equal(r.name, "Low");
    assert_int_equal(r.kind, RULE_SEASONAL);
    assert_string_equal(r.group, "t.yaml");
    assert_string_equal(r.file, "<api>");
    assert_int_equal(r.line, 0);
    assert_int_equal(r.interval_ms, 5 * MIN_MS);
    assert_int_equal(r.se.horizon_ms, 7 * DAY_MS);
    assert_int_equal(r.se.min_seasons, 3);
    assert_true(json_equal(r.spec, spec));
    config_rule_free(&r);
    assert_null(r.name);
    json_decref(spec);

    /* Prometheus's form, with group and interval in the rule. */
    spec = parse("{\"alert\": \"HighLoad\", \"expr\": \"node_load1 > 4\", \"for\": \"5m\", "
                 "\"group\": \"node\", \"interval\": \"30s\", \"labels\": {\"severity\": "
                 "\"error\"}, \"annotations\": {\"summary\": \"{{ $value }}\"}}");
    assert_int_equal(config_rule_from_json(spec, cfg, &r, &errs), 0);
    assert_string_equal(r.name, "HighLoad");
    assert_int_equal(r.kind, RULE_PROMQL);
    assert_string_equal(r.group, "node");
    assert_int_equal(r.interval_ms, 30 * SEC_MS);
    assert_int_equal(r.for_ms, 5 * MIN_MS);
    assert_int_equal(r.severity, SEV_ERROR);
    assert_true(json_equal(r.spec, spec));
    config_rule_free(&r);
    json_decref(spec);

    spec = parse("{\"record\": \"a:b\", \"expr\": \"up\"}");
    assert_int_equal(config_rule_from_json(spec, cfg, &r, &errs), 0);
    assert_int_equal(r.kind, RULE_RECORD);
    assert_string_equal(r.group, "api");
    assert_int_equal(r.interval_ms, 5 * MIN_MS);
    config_rule_free(&r);
    json_decref(spec);

    /* Errors are JSON paths under "rule". */
    spec = parse("{\"name\": \"X\", \"query\": \"up\", \"static\": {\"below\": {\"warning\": "
                 "\"low\"}}, \"labels\": {\"a\": 1}, \"extra\": true}");
    assert_int_equal(config_rule_from_json(spec, cfg, &r, &errs), -1);
    assert_null(r.name);
    assert_null(r.spec);
    assert_int_equal(errs.n, 3);
    assert_string_equal(errs.msgs[0], "rule.extra: unknown key \"extra\"");
    assert_string_equal(errs.msgs[1], "rule.static.below.warning: warning must be a number, not "
                                      "a string");
    assert_string_equal(errs.msgs[2], "rule.labels.a: label \"a\" must be a string, not a number");
    cfg_errors_free(&errs);
    json_decref(spec);

    spec = parse("{\"alert\": \"A\", \"expr\": \"rate(x[5m]\", \"group\": \"\", "
                 "\"interval\": \"1ms\", \"limit\": 5}");
    assert_int_equal(config_rule_from_json(spec, cfg, &r, &errs), -1);
    assert_int_equal(errs.n, 4);
    assert_string_equal(errs.msgs[0], "rule.group: group must be 1 to 128 characters without "
                                      "control characters");
    assert_string_equal(errs.msgs[1], "rule.interval: interval must be at least 1s");
    assert_string_equal(errs.msgs[2], "rule.limit: unknown key \"limit\"");
    assert_string_equal(errs.msgs[3], "rule.expr: expr: position 11: unexpected end of input in "
                                      "call to function, expected \",\" or \")\"");
    cfg_errors_free(&errs);
    json_decref(spec);

    spec = parse("[1]");
    assert_int_equal(config_rule_from_json(spec, cfg, &r, &errs), -1);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msgs[0], "rule: a rule must be a mapping, not a list");
    cfg_errors_free(&errs);
    json_decref(spec);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimum_shape),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_static_levels),
        cmocka_unit_test(test_rule_errors),
        cmocka_unit_test(test_settings_errors),
        cmocka_unit_test(test_rule_files),
        cmocka_unit_test(test_rule_file_errors),
        cmocka_unit_test(test_rule_file_buffer),
        cmocka_unit_test(test_from_json),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
