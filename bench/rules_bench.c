/*
 * rules_bench.c - the rule evaluator under the load of issue 6: 10,000
 * seasonal rules and 10,000 static rules over 10,000 series, in one process
 * with simulated time (bench/rules.sh runs it; `make bench` runs that).
 *
 *   1. History: SERIES series bench_load{series="i"} with WEEKS weeks of
 *      samples every STEP minutes ending on a Wednesday 14:00 UTC (a daily
 *      curve, quieter weekends, seeded noise), flushed and compacted so
 *      blocks and rollups lie as on a server that has run for a month.
 *   2. Rules: one seasonal rule (week season, horizon WEEKS weeks) and one
 *      static rule (warning and critical above) per series, all with the
 *      same interval (1 min), built through the configuration loader.
 *   3. Baselines: ticks every simulated second, as the rules thread ticks,
 *      with one fresh sample per series every simulated minute, until no
 *      rule is still loading its history: the wall time spent in ticks and
 *      the number of ticks are reported.
 *   4. Cycles: CYCLES times, simulated now moves by the interval and every
 *      series gets one fresh sample; one rules_tick then finds all rules due.
 *      Its wall time is one cycle (median and p90 reported). A few series get
 *      a value far above their levels so the event path is exercised too.
 *
 * Output: key=value lines (bench/rules.sh keeps and summarises them), then
 * a PASS/MISS line against "one cycle of all 20,000 rules < 1 s".
 *
 * Usage: rules_bench [--series N] [--weeks W] [--step-min M] [--cycles C]
 *                    [--seed S] [--dir DIR] [--keep]
 */
#include "base/clock.h"
#include "base/log.h"
#include "config/config.h"
#include "metrics/promql.h"
#include "metrics/tsdb.h"
#include "rules/rules.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_MS  60000LL
#define DAY_MS  (24 * 60 * MIN_MS)
#define WEEK_MS (7 * DAY_MS)

struct bench {
    struct tsdb *db;
    int series;
    char (*ids)[12];
    double *base;    /* per series: level of the daily curve */
    uint64_t rng;    /* xorshift64* state */
    uint64_t events; /* events the evaluator emitted */
    uint64_t batches;
};

static uint64_t bench_rand(struct bench *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * 2685821657736338717ULL;
}

/* A standard normal number (Box-Muller). */
static double bench_gauss(struct bench *b)
{
    double u1 = ((double)(bench_rand(b) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(bench_rand(b) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/*
 * The expected level of series i at t: a daily curve (low at 03:00, high at
 * 15:00 UTC) on weekdays, 60 % of it on weekends (1970-01-01 was a Thursday,
 * so day 2 and 3 of a week counted from the epoch are Saturday and Sunday).
 */
static double bench_level(const struct bench *b, int i, int64_t t)
{
    double hour = (double)(t % DAY_MS) / 3600000.0;
    double daily = 1.0 + 0.6 * sin(2.0 * M_PI * (hour - 9.0) / 24.0);
    int64_t dow = (t / DAY_MS) % 7;
    double weekly = (dow == 2 || dow == 3) ? 0.6 : 1.0;
    return b->base[i] * daily * weekly;
}

static double bench_value(struct bench *b, int i, int64_t t)
{
    double v = bench_level(b, i, t);
    return v * (1.0 + 0.01 * bench_gauss(b));
}

/* Appends one sample per series at t (anomalies: value = factor x level for
 * every anomaly_every-th series; 0 = none). Returns 0 or -1. */
static int bench_append_all(struct bench *b, int64_t t, int anomaly_every, double factor)
{
    char err[256];
    struct tsdb_appender *a = tsdb_appender_new(b->db, "bench");
    if (!a)
        return -1;
    for (int i = 0; i < b->series; i++) {
        struct tsdb_label l[2] = {{"__name__", "bench_load"}, {"series", b->ids[i]}};
        double v = bench_value(b, i, t);
        if (anomaly_every > 0 && i % anomaly_every == 0)
            v = bench_level(b, i, t) * factor;
        int rc = tsdb_append(a, l, 2, t, v, err, sizeof(err));
        if (rc != TSDB_OK && rc != TSDB_EDUP && rc != TSDB_EOOO) {
            fprintf(stderr, "rules_bench: append: %s\n", err);
            tsdb_rollback(a);
            return -1;
        }
    }
    if (tsdb_commit(a, err, sizeof(err)) != 0) {
        fprintf(stderr, "rules_bench: commit: %s\n", err);
        return -1;
    }
    return 0;
}

static int bench_emit(void *ctx, struct event *ev, size_t n)
{
    struct bench *b = ctx;
    (void)ev;
    b->events += n;
    b->batches++;
    return 0;
}

static int bench_select(void *ctx, const struct matcher *m, size_t nm, int64_t mint, int64_t maxt,
                        size_t max_samples, struct tsdb_series **out, size_t *n_out, char *err,
                        size_t errlen)
{
    return tsdb_select(ctx, m, nm, mint, maxt, max_samples, out, n_out, err, errlen);
}

static int bench_select_rollup(void *ctx, int64_t res, const struct matcher *m, size_t nm,
                               int64_t mint, int64_t maxt, size_t max_buckets,
                               struct tsdb_rollup_series **out, size_t *n_out, char *err,
                               size_t errlen)
{
    return tsdb_select_rollup(ctx, res, m, nm, mint, maxt, max_buckets, out, n_out, err, errlen);
}

/* The configuration: rule_settings and two rules per series. Caller frees. */
static char *bench_config(const struct bench *b, int weeks, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    fputs("# generated by bench/rules_bench.c\n"
          "rule_settings:\n"
          "  interval: 1m\n"
          "  max_series_per_rule: 10\n"
          "rules:\n",
          f);
    for (int i = 0; i < b->series; i++) {
        double peak = b->base[i] * 1.6;
        fprintf(f,
                "  - name: load_seasonal_%d\n"
                "    query: 'bench_load{series=\"%d\"}'\n"
                "    seasonal: {season: week, horizon: %dw, k: 4, direction: both}\n"
                "    for: 2m\n"
                "  - name: load_static_%d\n"
                "    query: 'bench_load{series=\"%d\"}'\n"
                "    static: {above: {warning: %.1f, critical: %.1f}, recover: 1}\n",
                i, i, weeks, i, i, peak * 1.5, peak * 2.0);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static long bench_status_kb(const char *field)
{
    char line[256];
    long kb = -1;
    size_t fl = strlen(field);
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            kb = strtol(line + fl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (nearest rank) of v[0..n), sorted in place. */
static double bench_quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
    int idx = (int)ceil(q * n) - 1;
    if (idx < 0)
        idx = 0;
    if (idx >= n)
        idx = n - 1;
    return v[idx];
}

static int bench_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void bench_usage(FILE *f)
{
    fputs("usage: rules_bench [--series N] [--weeks W] [--step-min M] [--cycles C]\n"
          "                   [--seed S] [--dir DIR] [--keep]\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"series", required_argument, NULL, 'n'},
                                         {"weeks", required_argument, NULL, 'w'},
                                         {"step-min", required_argument, NULL, 's'},
                                         {"cycles", required_argument, NULL, 'c'},
                                         {"seed", required_argument, NULL, 'S'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {"keep", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct bench b = {0};
    int weeks = 4, step_min = 15, cycles = 7, c, status = 1;
    unsigned long long seed = 42;
    const char *parent = getenv("TMPDIR");
    bool keep = false;
    char dir[4096] = "", err[512];
    struct config *cfg = NULL;
    struct rules *r = NULL;
    char *yaml = NULL;
    double *cycle_s = NULL;

    b.series = 10000;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            b.series = atoi(optarg);
            break;
        case 'w':
            weeks = atoi(optarg);
            break;
        case 's':
            step_min = atoi(optarg);
            break;
        case 'c':
            cycles = atoi(optarg);
            break;
        case 'S':
            seed = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            parent = optarg;
            break;
        case 'k':
            keep = true;
            break;
        case 'h':
            bench_usage(stdout);
            return 0;
        default:
            bench_usage(stderr);
            return 2;
        }
    }
    if (b.series < 1 || b.series > 1000000 || weeks < 1 || weeks > 52 || step_min < 1 ||
        step_min > 60 || cycles < 1 || cycles > 1000) {
        fprintf(stderr, "rules_bench: out of range: series 1..1e6, weeks 1..52, step-min "
                        "1..60, cycles 1..1000\n");
        return 2;
    }
    log_threshold = LOG_WARN;
    b.rng = seed ? seed : 42;
    b.ids = calloc((size_t)b.series, sizeof(*b.ids));
    b.base = calloc((size_t)b.series, sizeof(*b.base));
    cycle_s = calloc((size_t)cycles, sizeof(*cycle_s));
    if (!b.ids || !b.base || !cycle_s)
        goto out;
    for (int i = 0; i < b.series; i++) {
        snprintf(b.ids[i], sizeof(b.ids[i]), "%d", i);
        b.base[i] = 100.0 + (double)(bench_rand(&b) % 10000) / 10.0;
    }
    snprintf(dir, sizeof(dir), "%s/rules-bench.XXXXXX", parent && *parent ? parent : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "rules_bench: cannot make a directory under %s: %s\n",
                parent ? parent : "/tmp", strerror(errno));
        dir[0] = 0;
        goto out;
    }
    struct tsdb_options o = {.dir = dir, .background = false};
    if (tsdb_open(&o, &b.db, err, sizeof(err)) != 0) {
        fprintf(stderr, "rules_bench: %s\n", err);
        goto out;
    }

    /* 1. history, ending on the last Wednesday 14:00 UTC before the wall
     * clock, so every run meets the same phase of the week (1970-01-07 was
     * a Wednesday). */
    int64_t wed14 = 6 * DAY_MS + 14 * 60 * MIN_MS;
    int64_t wall = clock_now_ms();
    int64_t now = wall - ((wall - wed14) % WEEK_MS + WEEK_MS) % WEEK_MS;
    int64_t step = step_min * MIN_MS, start = now - (int64_t)weeks * WEEK_MS;
    start = start / step * step;
    int64_t t0 = clock_mono_us();
    long long samples = 0;
    for (int64_t t = start; t <= now; t += step) {
        if (bench_append_all(&b, t, 0, 0) != 0)
            goto out;
        samples += b.series;
    }
    int64_t t1 = clock_mono_us();
    if (tsdb_flush(b.db, err, sizeof(err)) != 0) {
        fprintf(stderr, "rules_bench: flush: %s\n", err);
        goto out;
    }
    int64_t t2 = clock_mono_us();
    /* A server that has run for a month has compacted its 2 h blocks into
     * larger ones; maintenance passes until the layout settles do the same. */
    struct tsdb_stats ts;
    tsdb_stats(b.db, &ts);
    for (int pass = 0; pass < 100; pass++) {
        uint64_t before = ts.blocks;
        if (tsdb_maintain(b.db, now, err, sizeof(err)) != 0) {
            fprintf(stderr, "rules_bench: maintenance: %s\n", err);
            goto out;
        }
        tsdb_stats(b.db, &ts);
        if (ts.blocks == before)
            break;
    }
    int64_t t3 = clock_mono_us();
    printf("series=%d weeks=%d step_min=%d samples=%lld seed=%llu\n", b.series, weeks, step_min,
           samples, seed);
    printf("history_write_s=%.2f flush_s=%.2f compact_s=%.2f blocks=%" PRIu64 " disk_bytes=%" PRIu64
           "\n",
           (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, (double)(t3 - t2) / 1e6, ts.blocks,
           ts.disk_bytes);
    long rss_data = bench_status_kb("VmRSS");
    fflush(stdout);

    /* 2. rules */
    size_t ylen = 0;
    struct cfg_errors errs = {0};
    if (!(yaml = bench_config(&b, weeks, &ylen)))
        goto out;
    t0 = clock_mono_us();
    cfg = config_load_buffer("rules-bench.yaml", yaml, ylen, &errs);
    if (!cfg) {
        for (size_t i = 0; i < errs.n && i < 10; i++)
            fprintf(stderr, "rules_bench: %s\n", errs.msgs[i]);
        cfg_errors_free(&errs);
        goto out;
    }
    struct rules_env env = {0};
    env.storage.ctx = b.db;
    env.storage.select = bench_select;
    env.storage.select_rollup = bench_select_rollup;
    env.db = b.db;
    env.emit = bench_emit;
    env.emit_ctx = &b;
    env.public_url = "http://127.0.0.1:8080";
    if (!(r = rules_new(cfg, &env, err, sizeof(err)))) {
        fprintf(stderr, "rules_bench: rules_new: %s\n", err);
        goto out;
    }
    t1 = clock_mono_us();
    printf("rules=%zu config_and_setup_s=%.2f\n", cfg->n_rules, (double)(t1 - t0) / 1e6);
    fflush(stdout);

    /* 3. baselines: ticks every simulated second, fresh samples every minute */
    struct rules_stats st;
    int64_t load_us = 0, max_tick_us = 0;
    int ticks = 0;
    int64_t sim = now;
    for (;;) {
        sim += 1000;
        if (sim % MIN_MS == 0 && bench_append_all(&b, sim, 0, 0) != 0)
            goto out;
        int64_t a = clock_mono_us();
        rules_tick(r, sim);
        int64_t d = clock_mono_us() - a;
        load_us += d;
        if (d > max_tick_us)
            max_tick_us = d;
        ticks++;
        rules_stats(r, &st);
        if (st.baselines_loading == 0 && ticks >= 2)
            break;
        if (load_us > 1800LL * 1000000) {
            fprintf(stderr, "rules_bench: baselines still loading after 30 min of ticks\n");
            break;
        }
    }
    printf("baseline_load_s=%.2f baseline_ticks=%d baseline_simulated_s=%.0f max_tick_s=%.3f "
           "baselines=%" PRIu64 " baselines_loading=%" PRIu64 "\n",
           (double)load_us / 1e6, ticks, (double)(sim - now) / 1000.0, (double)max_tick_us / 1e6,
           st.baselines, st.baselines_loading);
    fflush(stdout);

    /* 4. cycles: all rules due at once. They are placed so that the middle
     * cycle is the first after a whole hour: the one in which every seasonal
     * baseline takes its finished slot, as happens once an hour. */
    int evaluated_min = 1 << 30, slot_cycle = cycles / 2;
    uint64_t fail0 = st.failures;
    int64_t next_hour = (sim / (60 * MIN_MS) + 1) * 60 * MIN_MS;
    sim = next_hour - (int64_t)(slot_cycle + 1) * MIN_MS;
    for (int i = 0; i < cycles; i++) {
        sim += MIN_MS;
        if (bench_append_all(&b, sim, 1000, 12.0) != 0)
            goto out;
        int64_t a = clock_mono_us();
        int n = rules_tick(r, sim);
        cycle_s[i] = (double)(clock_mono_us() - a) / 1e6;
        if (n < evaluated_min)
            evaluated_min = n;
        printf("cycle=%d evaluated=%d seconds=%.3f%s\n", i + 1, n, cycle_s[i],
               i == slot_cycle ? " slot=1" : "");
        fflush(stdout);
    }
    rules_stats(r, &st);
    double slot_s = cycle_s[slot_cycle];
    double med = bench_quantile(cycle_s, cycles, 0.5);
    double p90 = bench_quantile(cycle_s, cycles, 0.9);
    long rss = bench_status_kb("VmRSS"), hwm = bench_status_kb("VmHWM");
    printf("cycles=%d evaluated_min=%d cycle_median_s=%.3f cycle_p90_s=%.3f "
           "cycle_with_slot_s=%.3f\n",
           cycles, evaluated_min, med, p90, slot_s);
    printf("evaluations=%" PRIu64 " failures_in_cycles=%" PRIu64 " events=%" PRIu64
           " event_batches=%" PRIu64 " firing=%" PRIu64 " pending=%" PRIu64 "\n",
           st.evaluations, st.failures - fail0, b.events, b.batches, st.firing, st.pending);
    printf("baseline_bytes=%" PRIu64 " baseline_bytes_per_series=%.0f rss_kb=%ld "
           "rss_kb_before_rules=%ld hwm_kb=%ld\n",
           st.baseline_bytes, st.baselines ? (double)st.baseline_bytes / (double)st.baselines : 0.0,
           rss, rss_data, hwm);
    bool all_due = evaluated_min >= (int)cfg->n_rules;
    printf("%s one cycle of all %zu rules: median %.3f s, p90 %.3f s (target < 1 s)%s\n",
           med < 1.0 && all_due ? "PASS" : "MISS", cfg->n_rules, med, p90,
           all_due ? "" : "; not every rule was due in every cycle");
    status = 0;
out:
    if (r)
        rules_free(r);
    config_free(cfg);
    free(yaml);
    if (b.db)
        tsdb_close(b.db);
    if (dir[0] && !keep)
        nftw(dir, bench_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(b.ids);
    free(b.base);
    free(cycle_s);
    return status;
}
