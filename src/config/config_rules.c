/*
 * config_rules.c - alert and recording rules over metrics: `rule_settings`
 * (defaults for every rule), `rules` (Tocsin's own rules: static water
 * marks, seasonal bands, absence, forecasts) and `rule_files` (Prometheus
 * rule files, so teams can bring the rules they have).
 *
 * A rule is checked as far as it can be when it is loaded, so that nothing
 * about it fails at 3 a.m.: its query is parsed, its annotation templates
 * are run over dummy values, its levels are checked for order and its
 * recovery levels for the side they lie on. A Prometheus rule file is read
 * with positions of its own, like a host file, so a problem in it is
 * reported as "rules/node.yml:12:15: ...", and a key that Prometheus knows
 * but Tocsin does not do (limit, query_offset) is refused by name rather
 * than ignored.
 *
 * config_rule_from_json builds one rule of either form from a JSON body for
 * the backtest API, with the same readers and the messages as JSON paths
 * ("rule.static.below.warning: ...").
 */
#include "config.h"
#include "../base/labels.h"
#include "config_int.h"
#include "config_yaml.h"
#include "../base/tz.h"
#include "../metrics/promql.h"
#include "../rules/template.h"

#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CR_DAY_MS          (86400000LL)
#define CR_WEEK_MS         (7 * CR_DAY_MS)
#define CR_MIN_INTERVAL_MS 1000
#define CR_MAX_RULES       200000
#define CR_MAX_FILES       10000
#define CR_MAX_PERIODS     32
#define CR_MAX_HOLIDAYS    1000
#define CR_MAX_ANNOTATIONS 64
#define CR_MAX_LABELS      (LABELS_MAX_PAIRS - 2) /* room for alertname and one more */
#define CR_MAX_LINK_RANGE  (30 * CR_DAY_MS)
#define CR_MAX_WINDOW      (30 * CR_DAY_MS)
#define CR_MAX_HORIZON     (52 * CR_WEEK_MS)
#define CR_MIN_SLOT        (5 * 60 * 1000LL)
#define CR_MAX_SERIES      100000000
#define CR_MAX_TOTAL_BYTES (256u * 1024u * 1024u) /* all rule files together */

/* The variables that rules offer to their templates besides $labels and $value. */
static const char *const cr_template_names[] = {"explanation", "expected", "threshold", "deviation",
                                                "predicted",   "for",      NULL};

static const char *const cr_kinds[] = {"static", "seasonal", "absent", "forecast"};
static const char *const cr_seasons[] = {"day", "week"};
static const char *const cr_directions[] = {"above", "below", "both"};
static const char *const cr_centres[] = {"median", "trimmed_mean", "mean"};
static const char *const cr_spreads[] = {"mad", "stddev"};
static const char *const cr_fallbacks[] = {"silent", "static"};
static const char *const cr_models[] = {"linear", "quadratic", "exponential"};

/* ---- Field readers ---- */

/* A number (integer or not, finite) at obj.key: 1 read, 0 absent, -1 reported. */
static int cr_number(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                     double *out)
{
    const json_t *v = cfg_field(obj, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        cfg_err_field(c, path, key, false, "%s must be a number, not %s", key, cfg_type_name(v));
        return -1;
    }
    *out = json_number_value(v);
    return 1;
}

/* A number >= min (or > min when strict). */
static int cr_number_min(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                         double min, bool strict, double *out)
{
    double v;
    int rc = cr_number(c, obj, path, key, &v);
    if (rc <= 0)
        return rc;
    if (v < min || (strict && v == min)) {
        cfg_err_field(c, path, key, false, "%s must be %s %g", key,
                      strict ? "greater than" : "at least", min);
        return -1;
    }
    *out = v;
    return 1;
}

/* A duration > 0 and >= 1s: rule_settings.interval, a rule's or a group's interval. */
static int cr_interval(struct cfg_ctx *c, const json_t *obj, const char *path, int64_t *out)
{
    int64_t ms;
    int rc = ck_positive_duration(c, obj, path, "interval", &ms);
    if (rc <= 0)
        return rc;
    if (ms < CR_MIN_INTERVAL_MS) {
        cfg_err_field(c, path, "interval", false, "interval must be at least 1s");
        return -1;
    }
    *out = ms;
    return 1;
}

/* A Tocsin rule name: [A-Za-z_:][A-Za-z0-9_:-]*, 1..128 characters. */
static bool cr_rule_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CFG_MAX_NAME)
        return false;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == ':'))
        return false;
    for (s++; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == ':' || *s == '-'))
            return false;
    }
    return true;
}

/* 1..128 bytes without control characters. */
static bool cr_text_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CFG_MAX_NAME)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

/*
 * The text of a label or annotation value. Prometheus files are read by a
 * YAML decoder that turns `priority: 1` into the string "1", so there
 * integers and booleans are taken as their text; Tocsin's own rules want
 * strings. Returns NULL for anything else.
 */
static const char *cr_scalar_text(const json_t *v, bool prom, char *buf, size_t len)
{
    if (json_is_string(v))
        return strlen(json_string_value(v)) == json_string_length(v) ? json_string_value(v) : NULL;
    if (!prom)
        return NULL;
    if (json_is_integer(v)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL;
}

/*
 * labels at obj.key into ls (replacing what ls holds under the same names).
 * Names as Prometheus's, never "__*" or alertname (the rule's name); values
 * are plain strings: Tocsin does not expand templates in labels, which would
 * make an alert's identity change with its value.
 */
static void cr_labels(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                      bool prom, struct labelset *ls)
{
    const json_t *o;
    const char *name;
    json_t *v;
    if (cfg_object(c, obj, path, key, &o) <= 0)
        return;
    char *base = ck_key_path(c, path, key);
    if (!base)
        return;
    if (json_object_size(o) > CR_MAX_LABELS) {
        cfg_err(c, base, false, "%s has %zu labels; at most %d are allowed", key,
                json_object_size(o), CR_MAX_LABELS);
        goto out;
    }
    json_object_foreach((json_t *)o, name, v)
    {
        char num[32];
        const char *text = cr_scalar_text(v, prom, num, sizeof(num));
        if (!labels_name_valid(name) || strlen(name) > LABELS_MAX_NAME) {
            cfg_err_field(c, base, name, true,
                          "invalid label name \"%.64s\" (expected [a-zA-Z_][a-zA-Z0-9_]*, at most "
                          "%d characters)",
                          name, LABELS_MAX_NAME);
        } else if (strncmp(name, "__", 2) == 0) {
            cfg_err_field(c, base, name, true,
                          "label names starting with \"__\" are reserved for internal use");
        } else if (strcmp(name, "alertname") == 0) {
            cfg_err_field(c, base, name, true,
                          "label \"alertname\" cannot be set here: it is the rule's name");
        } else if (!text) {
            cfg_err_field(c, base, name, false, "label \"%s\" must be a string, not %s", name,
                          cfg_type_name(v));
        } else if (strlen(text) > LABELS_MAX_VALUE) {
            cfg_err_field(c, base, name, false, "label \"%s\" must be at most %d bytes", name,
                          LABELS_MAX_VALUE);
        } else if (strstr(text, "{{")) {
            cfg_err_field(c, base, name, false,
                          "label \"%s\" cannot be a template (Tocsin expands templates in "
                          "annotations only)",
                          name);
        } else if (labels_set(ls, name, text) < 0) {
            ck_oom(c);
        }
    }
out:
    free(base);
}

/* Checks a template; reports "KEY: position N: ..." at the value. */
static bool cr_template(struct cfg_ctx *c, const char *path, const char *key, const char *text)
{
    char err[512];
    if (template_check(text, cr_template_names, err, sizeof(err)) == 0)
        return true;
    cfg_err_field(c, path, key, false, "%s: %s", key, err);
    return false;
}

/* annotations at obj.key: templates, added to ann. */
static void cr_annotations(struct cfg_ctx *c, const json_t *obj, const char *path, bool prom,
                           json_t *ann)
{
    const json_t *o;
    const char *name;
    json_t *v;
    if (cfg_object(c, obj, path, "annotations", &o) <= 0)
        return;
    char *base = ck_key_path(c, path, "annotations");
    if (!base)
        return;
    if (json_object_size(o) > CR_MAX_ANNOTATIONS) {
        cfg_err(c, base, false, "annotations has %zu entries; at most %d are allowed",
                json_object_size(o), CR_MAX_ANNOTATIONS);
        goto out;
    }
    json_object_foreach((json_t *)o, name, v)
    {
        char num[32];
        const char *text = cr_scalar_text(v, prom, num, sizeof(num));
        if (!labels_name_valid(name) || strlen(name) > LABELS_MAX_NAME) {
            cfg_err_field(c, base, name, true,
                          "invalid annotation name \"%.64s\" (expected [a-zA-Z_][a-zA-Z0-9_]*, at "
                          "most %d characters)",
                          name, LABELS_MAX_NAME);
        } else if (json_object_get(ann, name)) {
            cfg_err_field(c, base, name, true, "%s is given twice (as %s: and as annotations.%s)",
                          name, name, name);
        } else if (!text) {
            cfg_err_field(c, base, name, false, "annotation \"%s\" must be a string, not %s", name,
                          cfg_type_name(v));
        } else if (cr_template(c, base, name, text) &&
                   json_object_set_new(ann, name, json_string(text)) < 0) {
            ck_oom(c);
        }
    }
out:
    free(base);
}

/* The query (Tocsin: query, Prometheus: expr): required, parsed by promql_parse. */
static void cr_query(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                     char **out)
{
    const char *s;
    char err[512];
    struct promql_expr *e = NULL;
    if (cfg_string(c, obj, path, key, true, &s) <= 0)
        return;
    if (promql_parse(s, &e, err, sizeof(err)) != 0) {
        cfg_err_field(c, path, key, false, "%s: %s", key, err);
        return;
    }
    promql_free(e);
    *out = cfg_strdup(c, s);
}

/* ---- static ---- */

/* recover: N (hysteresis) or {warning, critical} (explicit recovery levels). */
struct cr_recover {
    bool given, explicit_levels;
    double delta;             /* recover: N */
    double warning, critical; /* recover: {...}; NAN when not given */
    char *path;               /* owned; where it was written, for messages */
};

static void cr_recover_read(struct cfg_ctx *c, const json_t *obj, const char *path,
                            struct cr_recover *rc)
{
    static const char *const keys[] = {"warning", "critical", NULL};
    const json_t *v = cfg_field(obj, "recover");
    memset(rc, 0, sizeof(*rc));
    rc->warning = rc->critical = NAN;
    if (!v)
        return;
    if (json_is_number(v) && isfinite(json_number_value(v)) && json_number_value(v) >= 0) {
        rc->given = true;
        rc->delta = json_number_value(v);
        return;
    }
    if (!json_is_object(v)) {
        cfg_err_field(c, path, "recover", false,
                      "recover must be a number >= 0 (hysteresis) or {warning, critical} "
                      "(recovery levels)");
        return;
    }
    if (!(rc->path = ck_key_path(c, path, "recover")))
        return;
    cfg_check_keys(c, v, rc->path, keys);
    int a = cr_number(c, v, rc->path, "warning", &rc->warning);
    int b = cr_number(c, v, rc->path, "critical", &rc->critical);
    if (a == 0 && b == 0)
        cfg_err(c, rc->path, false, "recover needs warning or critical");
    rc->given = a >= 0 && b >= 0 && (a > 0 || b > 0);
    rc->explicit_levels = true;
}

/*
 * One recovery level: `level` is the water mark (NAN when the side has
 * none), `own` tells whether rc is the side's own recover (then a recovery
 * level for a missing water mark is an error) or the static block's.
 */
static double cr_recover_level(struct cfg_ctx *c, const struct cr_recover *rc, bool own,
                               const char *side, bool above, const char *which, double level,
                               double given)
{
    if (!rc->given)
        return level;
    if (!rc->explicit_levels)
        return isnan(level) ? NAN : above ? level - rc->delta : level + rc->delta;
    if (isnan(given))
        return level;
    if (isnan(level)) {
        if (own)
            cfg_err_field(c, rc->path, which, true, "recover.%s is given but %s has no %s level",
                          which, side, which);
        return NAN;
    }
    if (above ? given > level : given < level) {
        cfg_err_field(c, rc->path, which, false,
                      "%s: recover.%s (%g) must not be %s the %s level (%g)", side, which, given,
                      above ? "above" : "below", which, level);
        return level;
    }
    return given;
}

/* One side (above or below) at obj.key into lv, with the static block's recover as outer. */
static void cr_side(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                    const struct cr_recover *outer, struct cfg_levels *lv)
{
    static const char *const keys[] = {"warning", "critical", "recover", NULL};
    const json_t *o;
    bool above = strcmp(key, "above") == 0;
    lv->set = false;
    lv->warning = lv->critical = lv->recover_warning = lv->recover_critical = NAN;
    if (cfg_object(c, obj, path, key, &o) <= 0)
        return;
    char *spath = ck_key_path(c, path, key);
    if (!spath)
        return;
    lv->set = true;
    cfg_check_keys(c, o, spath, keys);
    int w = cr_number(c, o, spath, "warning", &lv->warning);
    int k = cr_number(c, o, spath, "critical", &lv->critical);
    if (w == 0 && k == 0)
        cfg_err(c, spath, false, "%s needs warning or critical", key);
    if (w > 0 && k > 0 && (above ? lv->critical < lv->warning : lv->critical > lv->warning))
        cfg_err_field(c, spath, "critical", false, "%s: critical (%g) must not be %s warning (%g)",
                      key, lv->critical, above ? "below" : "above", lv->warning);
    struct cr_recover own;
    cr_recover_read(c, o, spath, &own);
    const struct cr_recover *rc = own.given ? &own : outer;
    lv->recover_warning =
        cr_recover_level(c, rc, rc == &own, key, above, "warning", lv->warning, rc->warning);
    lv->recover_critical =
        cr_recover_level(c, rc, rc == &own, key, above, "critical", lv->critical, rc->critical);
    free(own.path);
    free(spath);
}

static void cr_period(struct cfg_ctx *c, const json_t *o, const char *path, size_t i,
                      const struct cfg_rule_settings *set, const struct cr_recover *outer,
                      json_t *seen, struct cfg_rule_period *p)
{
    static const char *const keys[] = {"name", "time_zone", "windows", "above", "below", NULL};
    const struct tz *tz = set->tz;
    const char *name;
    char def[32];

    cfg_check_keys(c, o, path, keys);
    int rn = cfg_string(c, o, path, "name", false, &name);
    if (rn > 0 && !cr_text_name_ok(name)) {
        cfg_err_field(c, path, "name", false,
                      "name must be 1 to %d characters without control characters", CFG_MAX_NAME);
        rn = -1;
    }
    if (rn <= 0) {
        snprintf(def, sizeof(def), "period %zu", i + 1);
        name = def;
    } else {
        cfg_unique(c, seen, path, "name", name, "period", false);
    }
    p->name = cfg_strdup(c, name);
    cfg_zone(c, o, path, "time_zone", false, &tz);
    if (!cfg_field(o, "windows"))
        cfg_err(c, path, true, "missing required field \"windows\"");
    else if (cfg_windows(c, o, path, "windows", tz, &p->windows, &p->n_windows) == 0)
        cfg_err_field(c, path, "windows", false, "windows must have at least one window");
    cr_side(c, o, path, "above", outer, &p->above);
    cr_side(c, o, path, "below", outer, &p->below);
}

static void cr_static(struct cfg_ctx *c, const json_t *item, const char *path,
                      const struct cfg_rule_settings *set, struct cfg_static *st)
{
    static const char *const keys[] = {"above", "below", "recover", "periods", NULL};
    const json_t *o, *list, *e;
    struct cr_recover outer = {0};
    outer.warning = outer.critical = NAN;
    st->above.warning = st->above.critical = NAN;
    st->above.recover_warning = st->above.recover_critical = NAN;
    st->below = st->above;
    if (cfg_object(c, item, path, "static", &o) <= 0)
        return;
    char *spath = ck_key_path(c, path, "static");
    if (!spath)
        return;
    cfg_check_keys(c, o, spath, keys);
    if (!cfg_field(o, "above") && !cfg_field(o, "below"))
        cfg_err(c, spath, false, "static needs above or below");
    cr_recover_read(c, o, spath, &outer);
    cr_side(c, o, spath, "above", &outer, &st->above);
    cr_side(c, o, spath, "below", &outer, &st->below);
    if (cfg_list(c, o, spath, "periods", &list) > 0 && json_array_size(list)) {
        char *lpath = ck_key_path(c, spath, "periods");
        json_t *seen = json_object();
        size_t i;
        if (json_array_size(list) > CR_MAX_PERIODS) {
            cfg_err_field(c, spath, "periods", false, "periods may have at most %d entries",
                          CR_MAX_PERIODS);
        } else if (!lpath || !seen ||
                   !(st->periods = calloc(json_array_size(list), sizeof(*st->periods)))) {
            ck_oom(c);
        } else {
            json_array_foreach(list, i, e)
            {
                char *ipath = ck_index_path(c, lpath, i);
                if (!ipath)
                    break;
                if (!json_is_object(e))
                    cfg_err(c, ipath, false, "each entry of periods must be a mapping, not %s",
                            cfg_type_name(e));
                else
                    cr_period(c, e, ipath, i, set, &outer, seen, &st->periods[st->n_periods++]);
                free(ipath);
            }
        }
        json_decref(seen);
        free(lpath);
    }
    free(outer.path);
    free(spath);
}

/* ---- seasonal ---- */

static int cr_int32_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* holidays: "YYYY-MM-DD" dates into a sorted array of YYYYMMDD without repeats. */
static void cr_holidays(struct cfg_ctx *c, const json_t *o, const char *path,
                        struct cfg_seasonal *se)
{
    const json_t *list, *e;
    size_t i;
    if (cfg_list(c, o, path, "holidays", &list) <= 0 || !json_array_size(list))
        return;
    if (json_array_size(list) > CR_MAX_HOLIDAYS) {
        cfg_err_field(c, path, "holidays", false, "holidays may have at most %d dates",
                      CR_MAX_HOLIDAYS);
        return;
    }
    char *lpath = ck_key_path(c, path, "holidays");
    se->holidays = calloc(json_array_size(list), sizeof(*se->holidays));
    if (!lpath || !se->holidays) {
        ck_oom(c);
        free(lpath);
        return;
    }
    json_array_foreach(list, i, e)
    {
        const char *s = json_is_string(e) ? json_string_value(e) : "";
        int y = 0, m = 0, d = 0, n = 0;
        bool ok = strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10 &&
                  s[4] == '-' && s[7] == '-' && y >= 1970 && y <= 9999 && m >= 1 && m <= 12 &&
                  d >= 1 && d <= tz_days_in_month(y, m);
        for (int k = 0; ok && k < 10; k++)
            ok = k == 4 || k == 7 || (s[k] >= '0' && s[k] <= '9');
        if (!ok) {
            char *ipath = ck_index_path(c, lpath, i);
            if (ipath)
                cfg_err(c, ipath, false, "holidays must be dates \"YYYY-MM-DD\"");
            free(ipath);
            continue;
        }
        se->holidays[se->n_holidays++] = y * 10000 + m * 100 + d;
    }
    qsort(se->holidays, se->n_holidays, sizeof(*se->holidays), cr_int32_cmp);
    size_t w = 0;
    for (size_t k = 0; k < se->n_holidays; k++) {
        if (w == 0 || se->holidays[w - 1] != se->holidays[k])
            se->holidays[w++] = se->holidays[k];
    }
    se->n_holidays = w;
    free(lpath);
}

static void cr_seasonal(struct cfg_ctx *c, const json_t *item, const char *path,
                        const struct cfg_rule_settings *set, struct cfg_seasonal *se)
{
    static const char *const keys[] = {"season",    "horizon",        "slot",        "k",
                                       "direction", "min_band",       "centre",      "spread",
                                       "trim",      "min_band_ratio", "min_history", "fallback",
                                       "time_zone", "holidays",       NULL};
    const json_t *o;
    int season = SEASON_WEEK, dir = 2, centre = CENTRE_MEDIAN, spread = SPREAD_MAD,
        fallback = FALLBACK_SILENT;

    se->season = SEASON_WEEK;
    se->horizon_ms = 4 * CR_WEEK_MS;
    se->slot_ms = 3600000;
    se->k = 3;
    se->direction = RULE_BOTH;
    se->min_band = 0;
    se->min_band_ratio = 0.05;
    se->centre = CENTRE_MEDIAN;
    se->trim = 0.1;
    se->spread = SPREAD_MAD;
    se->fallback = FALLBACK_SILENT;
    se->tz = set->tz;
    se->min_seasons = 2;
    if (cfg_object(c, item, path, "seasonal", &o) <= 0)
        return;
    char *spath = ck_key_path(c, path, "seasonal");
    if (!spath)
        return;
    cfg_check_keys(c, o, spath, keys);

    cfg_enum(c, o, spath, "season", cr_seasons, 2, &season);
    se->season = (enum season_kind)season;
    int64_t season_ms = se->season == SEASON_DAY ? CR_DAY_MS : CR_WEEK_MS;
    int64_t horizon;
    int rh = ck_positive_duration(c, o, spath, "horizon", &horizon);
    if (rh > 0) {
        if (horizon % season_ms != 0)
            cfg_err_field(c, spath, "horizon", false,
                          "horizon must be a whole number of %s (the season), such as %s",
                          se->season == SEASON_DAY ? "days" : "weeks",
                          se->season == SEASON_DAY ? "28d" : "4w");
        else if (horizon > CR_MAX_HORIZON)
            cfg_err_field(c, spath, "horizon", false, "horizon must be at most 52w");
        else
            se->horizon_ms = horizon;
    }
    int seasons = (int)(se->horizon_ms / season_ms);

    int64_t slot;
    if (ck_positive_duration(c, o, spath, "slot", &slot) > 0) {
        if (CR_DAY_MS % slot != 0 || slot < CR_MIN_SLOT)
            cfg_err_field(c, spath, "slot", false,
                          "slot must divide 24h and be at least 5m (such as 15m, 1h or 2h)");
        else
            se->slot_ms = slot;
    }
    cr_number_min(c, o, spath, "k", 0, true, &se->k);
    if (cfg_enum(c, o, spath, "direction", cr_directions, 3, &dir) > 0)
        se->direction = (enum rule_dir)(dir + 1);
    cr_number_min(c, o, spath, "min_band", 0, false, &se->min_band);
    cr_number_min(c, o, spath, "min_band_ratio", 0, false, &se->min_band_ratio);
    cfg_enum(c, o, spath, "centre", cr_centres, 3, &centre);
    se->centre = (enum seasonal_centre)centre;
    double trim;
    if (cr_number(c, o, spath, "trim", &trim) > 0) {
        if (trim < 0 || trim > 0.45)
            cfg_err_field(c, spath, "trim", false, "trim must be between 0 and 0.45");
        else
            se->trim = trim;
    }
    cfg_enum(c, o, spath, "spread", cr_spreads, 2, &spread);
    se->spread = (enum seasonal_spread)spread;
    /* Half the horizon's seasons, at least 2, but never more than there are. */
    se->min_seasons = seasons / 2 > 2 ? seasons / 2 : 2;
    if (se->min_seasons > seasons)
        se->min_seasons = seasons;
    json_int_t mh;
    if (cfg_integer(c, o, spath, "min_history", 1, seasons, &mh) > 0)
        se->min_seasons = (int)mh;
    cfg_enum(c, o, spath, "fallback", cr_fallbacks, 2, &fallback);
    se->fallback = (enum seasonal_fallback)fallback;
    cfg_zone(c, o, spath, "time_zone", false, &se->tz);
    cr_holidays(c, o, spath, se);
    free(spath);
}

/* ---- absent and forecast ---- */

static void cr_absent(struct cfg_ctx *c, const json_t *item, const char *path,
                      struct cfg_absent *ab)
{
    static const char *const keys[] = {"after", "forget", NULL};
    const json_t *v = cfg_field(item, "absent");
    ab->after_ms = 0;
    ab->forget_ms = 7 * CR_DAY_MS;
    if (!v)
        return;
    if (json_is_string(v) || json_is_integer(v)) {
        ck_positive_duration(c, item, path, "absent", &ab->after_ms);
        return;
    }
    if (!json_is_object(v)) {
        cfg_err_field(c, path, "absent", false,
                      "absent must be a duration such as \"2h\" or {after: 2h, forget: 7d}");
        return;
    }
    char *apath = ck_key_path(c, path, "absent");
    if (!apath)
        return;
    cfg_check_keys(c, v, apath, keys);
    if (!cfg_field(v, "after"))
        cfg_err(c, apath, true, "missing required field \"after\"");
    int ra = ck_positive_duration(c, v, apath, "after", &ab->after_ms);
    if (cfg_duration(c, v, apath, "forget", &ab->forget_ms) > 0 && ra > 0 && ab->forget_ms &&
        ab->forget_ms < ab->after_ms)
        cfg_err_field(c, apath, "forget", false, "forget must be 0 (never) or at least after");
    free(apath);
}

static void cr_forecast(struct cfg_ctx *c, const json_t *item, const char *path,
                        struct cfg_forecast *fc)
{
    static const char *const keys[] = {"below", "above",      "within", "window",
                                       "model", "min_points", NULL};
    const json_t *o;
    int model = FORECAST_LINEAR;
    json_int_t mp;
    fc->dir = RULE_BELOW;
    fc->limit = 0;
    fc->model = FORECAST_LINEAR;
    fc->min_points = 10;
    if (cfg_object(c, item, path, "forecast", &o) <= 0)
        return;
    char *fpath = ck_key_path(c, path, "forecast");
    if (!fpath)
        return;
    cfg_check_keys(c, o, fpath, keys);
    bool below = cfg_field(o, "below") != NULL, above = cfg_field(o, "above") != NULL;
    if (below && above)
        cfg_err_field(c, fpath, "above", true, "forecast takes below or above, not both");
    else if (!below && !above)
        cfg_err(c, fpath, false, "forecast needs below or above (the limit)");
    else if (below)
        cr_number(c, o, fpath, "below", &fc->limit);
    else {
        fc->dir = RULE_ABOVE;
        cr_number(c, o, fpath, "above", &fc->limit);
    }
    if (!cfg_field(o, "within"))
        cfg_err(c, fpath, true, "missing required field \"within\"");
    ck_positive_duration(c, o, fpath, "within", &fc->within_ms);
    /* The fit window defaults to the horizon, capped like a given one. */
    fc->window_ms = fc->within_ms < CR_MAX_WINDOW ? fc->within_ms : CR_MAX_WINDOW;
    int64_t w;
    if (ck_positive_duration(c, o, fpath, "window", &w) > 0) {
        if (w > CR_MAX_WINDOW)
            cfg_err_field(c, fpath, "window", false, "window must be at most 30d");
        else
            fc->window_ms = w;
    }
    cfg_enum(c, o, fpath, "model", cr_models, 3, &model);
    fc->model = (enum forecast_model)model;
    if (cfg_integer(c, o, fpath, "min_points", 2, 1000000, &mp) > 0) {
        fc->min_points = (int)mp;
        if (fc->model == FORECAST_QUADRATIC && mp < 3)
            cfg_err_field(c, fpath, "min_points", false,
                          "min_points must be at least 3 for the quadratic model");
    }
    free(fpath);
}

/* ---- One rule of each form ---- */

static int cr_line(struct cfg_ctx *c, const char *path)
{
    struct yaml_pos p;
    return c->pos && yaml_positions_get(c->pos, path, false, &p) ? (int)p.line : 0;
}

/* What every rule starts with. */
static void cr_init(struct cfg_ctx *c, const json_t *item, const char *path,
                    const struct cfg_rule_settings *set, const char *group, const char *file,
                    struct cfg_rule *r)
{
    r->group = cfg_strdup(c, group);
    r->file = cfg_strdup(c, file);
    r->line = cr_line(c, path);
    r->annotations = json_object();
    r->spec = json_deep_copy(item);
    r->severity = SEV_WARNING;
    r->interval_ms = set->interval_ms;
    r->st.above.warning = r->st.above.critical = NAN;
    r->st.above.recover_warning = r->st.above.recover_critical = NAN;
    r->st.below = r->st.above;
    if (!r->annotations || !r->spec)
        ck_oom(c);
}

/* The kind of a Tocsin rule: exactly one of static, seasonal, absent and
 * forecast, except static next to seasonal as its fallback. */
static void cr_kind(struct cfg_ctx *c, const json_t *item, const char *path, struct cfg_rule *r)
{
    bool has[4];
    int first = -1;
    for (int k = 0; k < 4; k++) {
        has[k] = cfg_field(item, cr_kinds[k]) != NULL;
        if (has[k] && first < 0)
            first = k;
    }
    if (first < 0) {
        cfg_err(c, path, false, "a rule needs one of static, seasonal, absent or forecast");
        return;
    }
    if (has[RULE_SEASONAL]) {
        const json_t *se = cfg_field(item, "seasonal");
        const json_t *fb = json_is_object(se) ? cfg_field(se, "fallback") : NULL;
        bool fallback_static = json_is_string(fb) && strcmp(json_string_value(fb), "static") == 0;
        first = RULE_SEASONAL;
        if (has[RULE_STATIC] && !fallback_static)
            cfg_err_field(c, path, "static", true,
                          "static next to seasonal is allowed only as its fallback (fallback: "
                          "static)");
        if (!has[RULE_STATIC] && fallback_static) {
            char *spath = ck_key_path(c, path, "seasonal");
            if (spath)
                cfg_err_field(c, spath, "fallback", false,
                              "fallback: static needs a static: block in the rule");
            free(spath);
        }
    }
    r->kind = (enum rule_kind)first;
    for (int k = 0; k < 4; k++) {
        if (has[k] && k != first && !(first == RULE_SEASONAL && k == RULE_STATIC))
            cfg_err_field(c, path, cr_kinds[k], true,
                          "a rule takes only one of static, seasonal, absent or forecast (this "
                          "one has %s and %s)",
                          cr_kinds[first], cr_kinds[k]);
    }
}

static void cr_tocsin_rule(struct cfg_ctx *c, const json_t *item, const char *path,
                           const struct cfg_rule_settings *set, const char *group, const char *file,
                           struct cfg_rule *r)
{
    static const char *const keys[] = {"name",        "query",    "static",  "seasonal",
                                       "absent",      "forecast", "for",     "keep_firing_for",
                                       "severity",    "labels",   "summary", "description",
                                       "annotations", "interval", NULL};
    static const char *const text_keys[] = {"summary", "description"};
    const char *name, *text;
    int sev = SEV_WARNING;

    cr_init(c, item, path, set, group, file, r);
    cfg_check_keys(c, item, path, keys);
    if (cfg_string(c, item, path, "name", true, &name) > 0) {
        if (!cr_rule_name_ok(name))
            cfg_err_field(c, path, "name", false,
                          "name must be 1 to %d characters of A-Z, a-z, 0-9, '_', ':' and '-', "
                          "starting with a letter, '_' or ':'",
                          CFG_MAX_NAME);
        else
            r->name = cfg_strdup(c, name);
    }
    cr_query(c, item, path, "query", &r->query);
    cr_kind(c, item, path, r);
    if (cfg_field(item, "static"))
        cr_static(c, item, path, set, &r->st);
    cr_seasonal(c, item, path, set, &r->se);
    cr_absent(c, item, path, &r->ab);
    cr_forecast(c, item, path, &r->fc);

    cfg_duration(c, item, path, "for", &r->for_ms);
    cfg_duration(c, item, path, "keep_firing_for", &r->keep_firing_for_ms);
    cr_interval(c, item, path, &r->interval_ms);
    if (cfg_enum(c, item, path, "severity", cfg_severity_names, 4, &sev) > 0) {
        r->severity = (enum severity)sev;
        r->severity_set = true;
    } else {
        r->severity = r->kind == RULE_STATIC ? SEV_CRITICAL : SEV_WARNING;
    }
    cr_labels(c, item, path, "labels", false, &r->labels);
    for (size_t i = 0; i < 2; i++) {
        if (cfg_string(c, item, path, text_keys[i], false, &text) > 0 &&
            cr_template(c, path, text_keys[i], text) && r->annotations &&
            json_object_set_new(r->annotations, text_keys[i], json_string(text)) < 0)
            ck_oom(c);
    }
    if (r->annotations)
        cr_annotations(c, item, path, false, r->annotations);
}

/* A group of a Prometheus rule file, as its rules see it. */
struct cr_group {
    const char *name;
    const json_t *interval; /* as written, for the rules' spec; NULL: none */
    int64_t interval_ms;    /* 0: rule_settings.interval */
    const json_t *labels;   /* the group's labels mapping (validated), or NULL */
    struct labelset ls;     /* the same, read */
};

/* A Prometheus alerting or recording rule. api: the backtest form, where
 * "group" and "interval" sit in the rule itself. */
static void cr_prom_rule(struct cfg_ctx *c, const json_t *item, const char *path,
                         const struct cfg_rule_settings *set, const struct cr_group *g,
                         const char *file, bool api, struct cfg_rule *r)
{
    static const char *const keys[] = {"alert",           "record", "expr",        "for",
                                       "keep_firing_for", "labels", "annotations", NULL};
    static const char *const api_keys[] = {"alert",           "record", "expr",        "for",
                                           "keep_firing_for", "labels", "annotations", "group",
                                           "interval",        NULL};
    static const char *const not_recording[] = {"for", "keep_firing_for", "annotations"};
    const char *name;

    cr_init(c, item, path, set, g->name, file, r);
    if (g->interval_ms)
        r->interval_ms = g->interval_ms;
    cfg_check_keys(c, item, path, api ? api_keys : keys);
    bool alert = cfg_field(item, "alert") != NULL, record = cfg_field(item, "record") != NULL;
    r->kind = record && !alert ? RULE_RECORD : RULE_PROMQL;
    if (alert && record) {
        cfg_err_field(c, path, "record", true, "a rule has alert or record, not both");
    } else if (!alert && !record) {
        cfg_err(c, path, false, "a rule needs alert or record");
    } else if (alert && cfg_string(c, item, path, "alert", true, &name) > 0) {
        if (!cr_text_name_ok(name))
            cfg_err_field(c, path, "alert", false,
                          "alert must be 1 to %d characters without control characters",
                          CFG_MAX_NAME);
        else
            r->name = cfg_strdup(c, name);
    } else if (record && cfg_string(c, item, path, "record", true, &name) > 0) {
        if (!labels_metric_name_valid(name) || strlen(name) > CFG_MAX_NAME)
            cfg_err_field(c, path, "record", false,
                          "record must be a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*, at most %d "
                          "characters)",
                          CFG_MAX_NAME);
        else
            r->name = cfg_strdup(c, name);
    }
    cr_query(c, item, path, "expr", &r->query);
    if (r->kind == RULE_RECORD) {
        for (size_t i = 0; i < 3; i++) {
            if (cfg_field(item, not_recording[i]))
                cfg_err_field(c, path, not_recording[i], true,
                              "%s is not allowed in a recording rule", not_recording[i]);
        }
    } else {
        cfg_duration(c, item, path, "for", &r->for_ms);
        cfg_duration(c, item, path, "keep_firing_for", &r->keep_firing_for_ms);
        if (r->annotations)
            cr_annotations(c, item, path, true, r->annotations);
    }
    /* The group's labels first; the rule's own win. */
    for (size_t i = 0; i < g->ls.n; i++) {
        if (labels_set(&r->labels, g->ls.v[i].name, g->ls.v[i].value) < 0)
            ck_oom(c);
    }
    cr_labels(c, item, path, "labels", true, &r->labels);
    if (r->labels.n > CR_MAX_LABELS)
        cfg_err_field(c, path, "labels", false,
                      "the rule has %zu labels with its group's; at most %d are allowed",
                      r->labels.n, CR_MAX_LABELS);
    const char *sev = labels_get(&r->labels, "severity");
    if (sev && r->kind == RULE_PROMQL) {
        r->severity_set = true;
        if (severity_from_text(sev, &r->severity) < 0)
            r->severity = SEV_WARNING;
    }
    /* The spec stands for the rule on its own: the group's name, interval and labels. */
    if (!api && r->spec) {
        json_t *labels = g->labels ? json_deep_copy(g->labels) : NULL;
        const json_t *own = json_object_get(item, "labels");
        if (labels && json_is_object(own))
            json_object_update(labels, (json_t *)own);
        if ((labels && json_object_set_new(r->spec, "labels", labels) < 0) ||
            json_object_set_new(r->spec, "group", json_string(g->name)) < 0 ||
            (g->interval && json_object_set(r->spec, "interval", (json_t *)g->interval) < 0))
            ck_oom(c);
    }
}

/* ---- The rule list ---- */

/* A new zeroed rule at the end of cfg->rules, or NULL (reported). */
static struct cfg_rule *cr_append(struct cfg_ctx *c)
{
    struct config *cfg = c->cfg;
    size_t n = cfg->n_rules;
    if (n >= CR_MAX_RULES) {
        cfg_errors_add(c->errs, "%s: more than %d rules", c->file, CR_MAX_RULES);
        return NULL;
    }
    /* The array grows in powers of two from 8; n says where it stands. */
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        size_t cap = n ? n * 2 : 8;
        struct cfg_rule *v = realloc(cfg->rules, cap * sizeof(*v));
        if (!v) {
            ck_oom(c);
            return NULL;
        }
        cfg->rules = v;
    }
    struct cfg_rule *r = &cfg->rules[cfg->n_rules++];
    memset(r, 0, sizeof(*r));
    return r;
}

static void cr_group(struct cfg_ctx *c, const json_t *o, const char *path, json_t *seen)
{
    static const char *const keys[] = {"name", "interval", "labels", "rules", NULL};
    static const char *const unsupported[] = {"limit", "query_offset", "source_tenants",
                                              "evaluation_delay"};
    struct cr_group g = {0};
    const json_t *list, *e;
    size_t i;

    for (size_t k = 0; k < sizeof(unsupported) / sizeof(unsupported[0]); k++) {
        if (json_object_get(o, unsupported[k]))
            cfg_err_field(c, path, unsupported[k], true, "\"%s\" is not supported by Tocsin",
                          unsupported[k]);
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool known = false;
        for (size_t k = 0; keys[k] && !known; k++)
            known = strcmp(keys[k], key) == 0;
        for (size_t k = 0; k < sizeof(unsupported) / sizeof(unsupported[0]) && !known; k++)
            known = strcmp(unsupported[k], key) == 0;
        if (!known)
            cfg_err_field(c, path, key, true, "unknown key \"%s\"", key);
    }
    if (cfg_name(c, o, path, &g.name) == 0)
        cfg_unique(c, seen, path, "name", g.name, "group", false);
    else
        g.name = "";
    if (cr_interval(c, o, path, &g.interval_ms) > 0)
        g.interval = json_object_get(o, "interval");
    size_t n0 = c->errs->n;
    cr_labels(c, o, path, "labels", true, &g.ls);
    if (c->errs->n == n0 && json_is_object(json_object_get(o, "labels")))
        g.labels = json_object_get(o, "labels");
    if (cfg_list(c, o, path, "rules", &list) > 0) {
        char *lpath = ck_key_path(c, path, "rules");
        json_array_foreach(list, i, e)
        {
            char *ipath = lpath ? ck_index_path(c, lpath, i) : NULL;
            if (!ipath)
                break;
            struct cfg_rule *r;
            if (!json_is_object(e))
                cfg_err(c, ipath, false, "each entry of rules must be a mapping, not %s",
                        cfg_type_name(e));
            else if ((r = cr_append(c)) != NULL)
                cr_prom_rule(c, e, ipath, &c->cfg->rule_settings, &g, c->file, false, r);
            free(ipath);
            if (c->cfg->n_rules >= CR_MAX_RULES)
                break;
        }
        free(lpath);
    }
    labels_free(&g.ls);
}

long cfg_rule_file_buffer(struct cfg_ctx *c, const char *name, const char *buf, size_t len)
{
    static const char *const keys[] = {"groups", NULL};
    json_t *root = NULL;
    struct yaml_positions *pos = NULL;
    const json_t *list, *e;
    size_t i, n0 = c->cfg->n_rules;
    if (yaml_read_buffer(name, buf, len, &root, &pos, c->errs) < 0)
        return -1;
    struct cfg_ctx fc = {.file = name, .pos = pos, .errs = c->errs, .cfg = c->cfg};
    if (root && !json_is_object(root)) {
        cfg_err(&fc, "", false, "a rule file must be a mapping with \"groups\", not %s",
                cfg_type_name(root));
    } else if (root) {
        cfg_check_keys(&fc, root, "", keys);
        if (cfg_list(&fc, root, "", "groups", &list) > 0) {
            json_t *seen = json_object();
            if (!seen)
                ck_oom(&fc);
            json_array_foreach(list, i, e)
            {
                char *gpath = seen ? ck_index_path(&fc, "groups", i) : NULL;
                if (!gpath)
                    break;
                if (!json_is_object(e))
                    cfg_err(&fc, gpath, false, "each entry of groups must be a mapping, not %s",
                            cfg_type_name(e));
                else
                    cr_group(&fc, e, gpath, seen);
                free(gpath);
            }
            json_decref(seen);
        }
    }
    json_decref(root);
    yaml_positions_free(pos);
    return (long)(c->cfg->n_rules - n0);
}

/* Remembers a resolved rule file in cfg->rule_files; false when out of memory. */
static bool cr_file_add(struct cfg_ctx *c, const char *full)
{
    struct config *cfg = c->cfg;
    char **v = realloc(cfg->rule_files, (cfg->n_rule_files + 1) * sizeof(*v));
    if (!v) {
        ck_oom(c);
        return false;
    }
    cfg->rule_files = v;
    if (!(v[cfg->n_rule_files] = cfg_strdup(c, full)))
        return false;
    cfg->n_rule_files++;
    return true;
}

/* Reads one rule file; *total counts the bytes of all of them. False once
 * they are over CR_MAX_TOTAL_BYTES together (reported). */
static bool cr_file_read(struct cfg_ctx *c, const char *ipath, const char *full, size_t *total)
{
    char err[256];
    size_t len = 0;
    char *buf = ck_read_file(full, &len, err, sizeof(err));
    if (!buf) {
        cfg_err(c, ipath, false, "cannot read rule file \"%.200s\": %s", full, err);
        return true;
    }
    *total += len;
    if (*total > CR_MAX_TOTAL_BYTES) {
        cfg_err(c, ipath, false, "rule files are larger than %u bytes together",
                CR_MAX_TOTAL_BYTES);
        free(buf);
        return false;
    }
    cfg_rule_file_buffer(c, full, buf, len);
    free(buf);
    return true;
}

/* rule_files: names and glob(3) patterns relative to the configuration's directory. */
static void cr_rule_files(struct cfg_ctx *c, const json_t *root)
{
    const json_t *list, *v;
    size_t i;
    if (cfg_list(c, root, "", "rule_files", &list) <= 0)
        return;
    json_t *seen = json_object();
    size_t total = 0;
    bool ok = true;
    if (!seen) {
        ck_oom(c);
        return;
    }
    json_array_foreach(list, i, v)
    {
        if (!ok)
            break;
        char *ipath = ck_index_path(c, "rule_files", i);
        const char *name = json_string_value(v);
        if (!ipath)
            break;
        if (!json_is_string(v) || !*name || strlen(name) != json_string_length(v)) {
            cfg_err(c, ipath, false, "rule_files entries must be file names or patterns");
            free(ipath);
            continue;
        }
        char *full = ck_resolve_path(c->cfg->path, name);
        if (!full) {
            ck_oom(c);
            free(ipath);
            break;
        }
        glob_t g = {0};
        bool pattern = strpbrk(name, "*?[") != NULL;
        int rc = pattern ? glob(full, 0, NULL, &g) : 0;
        if (pattern && rc == GLOB_NOMATCH) {
            cfg_err(c, ipath, false, "no file matches \"%.200s\"", full);
        } else if (pattern && rc != 0) {
            cfg_err(c, ipath, false, "cannot list rule files \"%.200s\": %s", full,
                    rc == GLOB_NOSPACE ? "out of memory" : "read error");
        } else {
            size_t n = pattern ? g.gl_pathc : 1;
            for (size_t k = 0; k < n; k++) {
                const char *f = pattern ? g.gl_pathv[k] : full;
                if (json_object_get(seen, f))
                    continue; /* named twice: read once */
                if (c->cfg->n_rule_files >= CR_MAX_FILES) {
                    cfg_err(c, ipath, false, "rule_files name more than %d files", CR_MAX_FILES);
                    break;
                }
                if (json_object_set_new(seen, f, json_true()) < 0 || !cr_file_add(c, f))
                    break;
                if (!(ok = cr_file_read(c, ipath, f, &total)))
                    break;
            }
        }
        if (pattern)
            globfree(&g);
        free(full);
        free(ipath);
    }
    json_decref(seen);
}

/* ---- rule_settings ---- */

static void cr_settings(struct cfg_ctx *c, const json_t *root, struct cfg_rule_settings *set)
{
    static const char *const keys[] = {"interval", "time_zone", "max_series_per_rule", "link_range",
                                       NULL};
    char err[128];
    const json_t *o;
    json_int_t n;
    int64_t ms;

    set->interval_ms = 60000;
    set->tz = tz_get("UTC", err, sizeof(err)); /* NULL (UTC as well) without zoneinfo */
    set->max_series_per_rule = 10000;
    set->link_range_ms = 6 * 3600000LL;
    if (cfg_object(c, root, "", "rule_settings", &o) <= 0)
        return;
    cfg_check_keys(c, o, "rule_settings", keys);
    cr_interval(c, o, "rule_settings", &set->interval_ms);
    cfg_zone(c, o, "rule_settings", "time_zone", false, &set->tz);
    if (cfg_integer(c, o, "rule_settings", "max_series_per_rule", 1, CR_MAX_SERIES, &n) > 0)
        set->max_series_per_rule = (size_t)n;
    if (ck_positive_duration(c, o, "rule_settings", "link_range", &ms) > 0) {
        if (ms > CR_MAX_LINK_RANGE)
            cfg_err_field(c, "rule_settings", "link_range", false,
                          "link_range must be at most 30d");
        else
            set->link_range_ms = ms;
    }
}

/* The file name a rule of `rules:` names as its group: the configuration's base name. */
static const char *cr_base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path ? path : "tocsin.yaml";
}

/*
 * Tocsin's rules must not share a name with an alert of a rule file: both
 * would fire under one alertname, and `tocsin rules test NAME` could not
 * tell them apart. paths[i] is where rule i was written.
 */
static void cr_clashes(struct cfg_ctx *c, size_t n_tocsin, char **paths)
{
    struct config *cfg = c->cfg;
    json_t *alerts = json_object();
    if (!alerts) {
        ck_oom(c);
        return;
    }
    for (size_t i = n_tocsin; i < cfg->n_rules; i++) {
        const struct cfg_rule *r = &cfg->rules[i];
        char where[512];
        if (r->kind != RULE_PROMQL || !r->name || json_object_get(alerts, r->name))
            continue;
        snprintf(where, sizeof(where), "%s (line %d)", r->file ? r->file : "?", r->line);
        json_object_set_new(alerts, r->name, json_string(where));
    }
    for (size_t i = 0; i < n_tocsin && json_object_size(alerts); i++) {
        const json_t *w = cfg->rules[i].name ? json_object_get(alerts, cfg->rules[i].name) : NULL;
        if (w)
            cfg_err_field(c, paths[i], "name", false,
                          "rule name \"%s\" is also the name of an alert in %s", cfg->rules[i].name,
                          json_string_value(w));
    }
    json_decref(alerts);
}

void cfg_rules_build(struct cfg_ctx *c, const json_t *root)
{
    struct config *cfg = c->cfg;
    const json_t *list, *item;
    char **paths = NULL;
    size_t n_tocsin = 0, i;

    cr_settings(c, root, &cfg->rule_settings);
    if (cfg_list(c, root, "", "rules", &list) > 0 && json_array_size(list)) {
        json_t *seen = json_object();
        paths = calloc(json_array_size(list), sizeof(*paths));
        if (!seen || !paths) {
            ck_oom(c);
            json_decref(seen);
            free(paths);
            return;
        }
        const char *group = cr_base_name(cfg->path);
        json_array_foreach(list, i, item)
        {
            char *path = ck_index_path(c, "rules", i);
            struct cfg_rule *r;
            if (!path)
                break;
            if (!json_is_object(item)) {
                cfg_err(c, path, false, "each entry of rules must be a mapping, not %s",
                        cfg_type_name(item));
            } else if ((r = cr_append(c)) != NULL) {
                cr_tocsin_rule(c, item, path, &cfg->rule_settings, group,
                               cfg->path ? cfg->path : "", r);
                if (r->name)
                    cfg_unique(c, seen, path, "name", r->name, "rule name", false);
                paths[n_tocsin++] = path;
                continue;
            }
            free(path);
        }
        json_decref(seen);
    }
    cr_rule_files(c, root);
    cr_clashes(c, n_tocsin, paths);
    for (i = 0; i < n_tocsin; i++)
        free(paths[i]);
    free(paths);
}

void config_rule_free(struct cfg_rule *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->group);
    free(r->file);
    free(r->query);
    labels_free(&r->labels);
    json_decref(r->annotations);
    for (size_t i = 0; i < r->st.n_periods; i++) {
        free(r->st.periods[i].name);
        free(r->st.periods[i].windows);
    }
    free(r->st.periods);
    free(r->se.holidays);
    json_decref(r->spec);
    memset(r, 0, sizeof(*r));
}

void cfg_rules_free(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_rules; i++)
        config_rule_free(&cfg->rules[i]);
    free(cfg->rules);
    cfg->rules = NULL;
    cfg->n_rules = 0;
    for (size_t i = 0; i < cfg->n_rule_files; i++)
        free(cfg->rule_files[i]);
    free(cfg->rule_files);
    cfg->rule_files = NULL;
    cfg->n_rule_files = 0;
}

int config_rule_from_json(const json_t *spec, const struct config *cfg, struct cfg_rule *out,
                          struct cfg_errors *errs)
{
    /* The readers only report through the context; cfg itself is not changed. */
    struct cfg_ctx ctx = {.file = "rule", .pos = NULL, .errs = errs, .cfg = (struct config *)cfg};
    struct cfg_ctx *c = &ctx;
    size_t n0 = errs->n;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(spec)) {
        cfg_errors_add(errs, "rule: a rule must be a mapping, not %s",
                       spec ? cfg_type_name(spec) : "null");
        return -1;
    }
    if (json_object_get(spec, "alert") || json_object_get(spec, "record")) {
        struct cr_group g = {.name = "api"};
        const char *gname;
        if (cfg_string(c, spec, "rule", "group", false, &gname) > 0) {
            if (!cr_text_name_ok(gname))
                cfg_err_field(c, "rule", "group", false,
                              "group must be 1 to %d characters without control characters",
                              CFG_MAX_NAME);
            else
                g.name = gname;
        }
        cr_interval(c, spec, "rule", &g.interval_ms);
        cr_prom_rule(c, spec, "rule", &cfg->rule_settings, &g, "<api>", true, out);
    } else {
        cr_tocsin_rule(c, spec, "rule", &cfg->rule_settings, cr_base_name(cfg->path), "<api>", out);
    }
    if (errs->n != n0) {
        config_rule_free(out);
        return -1;
    }
    return 0;
}
