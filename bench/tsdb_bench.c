/*
 * tsdb_bench.c - measures the time-series engine on its own, one figure per
 * line:
 *
 *   append+commit samples/s for existing series (one thread, batches of
 *   5,000), series creation rate, head memory per series (RSS and the
 *   engine's own estimate), selection times, flush time, bytes on disk per
 *   sample for the benchmark's backfill case (10,000 series x 720 samples
 *   at 10 s, two days old, the mix of bench/peer gen_openmetrics.py), and
 *   reopen time.
 *
 * Build (from the repository root):
 *
 *   cc -O2 -D_GNU_SOURCE -Isrc bench/tsdb_bench.c src/metrics/tsdb*.c \
 *      src/metrics/chunk.c src/metrics/matcher.c src/base/labels.c src/base/log.c \
 *      src/base/clock.c src/base/strmap.c $(pkg-config --cflags --libs jansson) \
 *      -lpthread -lm -o tsdb_bench
 *
 * Run:
 *
 *   ./tsdb_bench                 10k and 100k series, the disk case, a week
 *   ./tsdb_bench --week          only the week of history (rollups vs raw)
 *   ./tsdb_bench --big           also 1M series (about 2 GB of memory)
 *   ./tsdb_bench import FILE DIR ingest an OpenMetrics file as written by
 *                                gen_openmetrics.py into DIR and flush (the
 *                                command bench_tsdb_ingest.sh times)
 *
 * Scratch databases go under $TMPDIR (default /tmp) and are removed.
 */
#include "base/clock.h"
#include "base/log.h"
#include "metrics/tsdb.h"
#include "metrics/tsdb_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH 5000

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double urand(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static double gauss(void)
{
    double u = urand() + 1e-300, v = urand();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static uint64_t du_bytes;
static uint64_t du_chunks;

static int du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_F) {
        du_bytes += (uint64_t)st->st_size;
        if (strstr(path, "/blocks/"))
            du_chunks += (uint64_t)st->st_size;
    }
    return 0;
}

static uint64_t rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double now_s(void)
{
    return (double)clock_mono_us() / 1e6;
}

/* CPU time of this thread: the machine may be shared, and what the engine
 * costs is CPU; wall-clock rates are printed beside it. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "tsdb_bench: %s: %s\n", what, err);
    exit(1);
}

/* ---- synthetic series (the gen_openmetrics.py mix) ---- */

enum kind { ICOUNTER, FCOUNTER, FGAUGE, BYTES, TEMP };
static const enum kind kinds[10] = {ICOUNTER, ICOUNTER, ICOUNTER, ICOUNTER, FCOUNTER,
                                    FCOUNTER, FGAUGE,   FGAUGE,   BYTES,    TEMP};
static const char *const kind_names[] = {"icounter", "fcounter", "fgauge", "bytes", "temp"};

struct ser {
    struct tsdb_label l[5];
    char name[48], inst[32], dc[8], shard[16];
    enum kind kind;
    double v, rate;
};

static struct ser *make_series(size_t n)
{
    struct ser *s = calloc(n, sizeof(*s));
    if (!s)
        die("series", "out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t fam = i / 100, k = i % 100;
        s[i].kind = kinds[fam % 10];
        bool counter = s[i].kind == ICOUNTER || s[i].kind == FCOUNTER;
        snprintf(s[i].name, sizeof(s[i].name), "bench_%s_%03zu%s", kind_names[s[i].kind], fam,
                 counter ? "_total" : "");
        snprintf(s[i].inst, sizeof(s[i].inst), "host-%03zu.example:9100", k % 50);
        snprintf(s[i].dc, sizeof(s[i].dc), "dc%zu", k % 3);
        snprintf(s[i].shard, sizeof(s[i].shard), "%zu", k / 50);
        switch (s[i].kind) {
        case ICOUNTER: {
            static const int rates[] = {0, 0, 1, 5, 20, 100, 200};
            s[i].v = (double)(rnd() % 10000000);
            s[i].rate = rates[rnd() % 7];
            break;
        }
        case FCOUNTER:
            s[i].v = round((1e3 + urand() * (1e6 - 1e3)) * 100) / 100;
            s[i].rate = 0.01 + urand() * 9.99;
            break;
        case FGAUGE:
            s[i].v = urand();
            break;
        case BYTES:
            s[i].v = (double)((1ULL << 28) + rnd() % ((1ULL << 34) - (1ULL << 28)));
            break;
        case TEMP:
            s[i].v = 30 + urand() * 50;
            break;
        }
    }
    return s;
}

static double next_value(struct ser *s)
{
    switch (s->kind) {
    case ICOUNTER:
        if (s->rate > 0)
            s->v += (double)(rnd() % (uint64_t)(2 * s->rate + 1));
        return s->v;
    case FCOUNTER:
        s->v = round((s->v + urand() * 2 * s->rate) * 100) / 100;
        return s->v;
    case FGAUGE:
        s->v = fmin(1.0, fmax(0.0, s->v + gauss() * 0.02));
        return s->v;
    case BYTES:
        s->v = fmax(4096, s->v + 4096.0 * ((double)(rnd() % 4001) - 2000));
        return s->v;
    case TEMP:
        if (urand() < 0.3)
            s->v += (rnd() & 1) ? 0.5 : -0.5;
        return round(s->v * 10) / 10;
    }
    return 0;
}

/* Labels are rebuilt per append: tsdb_append may reorder the array. */
static int append(struct tsdb_appender *a, struct ser *s, int64_t t, double v)
{
    char err[256];
    s->l[0] = (struct tsdb_label){"__name__", s->name};
    s->l[1] = (struct tsdb_label){"instance", s->inst};
    s->l[2] = (struct tsdb_label){"job", "node"};
    s->l[3] = (struct tsdb_label){"dc", s->dc};
    s->l[4] = (struct tsdb_label){"shard", s->shard};
    int rc = tsdb_append(a, s->l, 5, t, v, err, sizeof(err));
    if (rc != 0)
        die("append", err);
    return rc;
}

static struct tsdb *open_db(const char *dir)
{
    struct tsdb_options o = {.dir = dir};
    struct tsdb *db;
    char err[512];
    if (tsdb_open(&o, &db, err, sizeof(err)) != 0)
        die("open", err);
    return db;
}

static void commit(struct tsdb_appender *a)
{
    char err[512];
    if (tsdb_commit(a, err, sizeof(err)) != 0)
        die("commit", err);
}

static void scratch_dir(char *buf, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, len, "%s/tsdb-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(buf))
        die("mkdtemp", buf);
}

static double time_select(struct tsdb *db, const char *name, enum matcher_op op, const char *value,
                          int64_t mint, int64_t maxt, size_t *nseries, size_t *nsamples)
{
    struct matcher m;
    struct tsdb_series *s;
    char err[256];
    size_t n;
    if (matcher_init(&m, name, op, value, err, sizeof(err)) != 0)
        die("matcher", err);
    double t0 = now_s();
    if (tsdb_select(db, &m, 1, mint, maxt, 0, &s, &n, err, sizeof(err)) != 0)
        die("select", err);
    double dt = now_s() - t0;
    *nseries = n;
    *nsamples = 0;
    for (size_t i = 0; i < n; i++)
        *nsamples += s[i].n;
    tsdb_series_free(s, n);
    matcher_free(&m);
    return dt;
}

/* Head scale: creation, steady appends, memory, selections, flush. */
static void run_scale(size_t nser, int rounds)
{
    char dir[256];
    struct tsdb_stats st;
    scratch_dir(dir, sizeof(dir));
    struct ser *s = make_series(nser);
    int64_t t = (clock_now_ms() / 7200000) * 7200000 - 6 * 3600000LL;
    uint64_t rss0 = rss_bytes();
    struct tsdb *db = open_db(dir);

    double t0 = now_s();
    for (size_t i = 0; i < nser; i += BATCH) {
        struct tsdb_appender *a = tsdb_appender_new(db, "bench");
        for (size_t k = i; k < i + BATCH && k < nser; k++)
            append(a, &s[k], t, next_value(&s[k]));
        commit(a);
    }
    double dt = now_s() - t0;
    printf("series=%zu create_series_per_s=%.0f\n", nser, (double)nser / dt);

    size_t total = 0;
    t0 = now_s();
    double c0 = cpu_s();
    for (int r = 1; r < rounds; r++) {
        int64_t tr = t + (int64_t)r * 15000;
        for (size_t i = 0; i < nser; i += BATCH) {
            struct tsdb_appender *a = tsdb_appender_new(db, "bench");
            for (size_t k = i; k < i + BATCH && k < nser; k++)
                append(a, &s[k], tr, next_value(&s[k]));
            commit(a);
        }
        total += nser;
    }
    dt = now_s() - t0;
    double dc = cpu_s() - c0;
    printf("series=%zu append_commit_samples_per_cpu_s=%.0f wall_samples_per_s=%.0f (existing "
           "series, batches of %d, one thread, %zu samples)\n",
           nser, (double)total / dc, (double)total / dt, BATCH, total);

    uint64_t rss1 = rss_bytes();
    tsdb_stats(db, &st);
    uint64_t chunks = __atomic_load_n(&db->chunk_bytes, __ATOMIC_RELAXED);
    printf("series=%zu head_samples_per_series=%d rss_per_series_bytes=%.0f "
           "engine_estimate_per_series_bytes=%.0f of_which_chunks=%.0f "
           "engine_overhead_per_series_bytes=%.0f\n",
           nser, rounds, (double)(rss1 - rss0) / (double)nser,
           (double)st.memory_bytes / (double)nser, (double)chunks / (double)nser,
           (double)(st.memory_bytes - chunks) / (double)nser);

    size_t ns, nsm;
    double q = time_select(db, "__name__", MATCH_EQ, "bench_icounter_001_total", INT64_MIN,
                           INT64_MAX, &ns, &nsm);
    printf("series=%zu select_one_metric_ms=%.2f (%zu series, %zu samples)\n", nser, q * 1000, ns,
           nsm);
    q = time_select(db, "instance", MATCH_RE, "host-00[0-4].*", t, t + 15000, &ns, &nsm);
    printf("series=%zu select_regex_10pct_one_step_ms=%.2f (%zu series, %zu samples)\n", nser,
           q * 1000, ns, nsm);

    char err[512];
    tsdb_close(db);
    t0 = now_s();
    db = open_db(dir);
    dt = now_s() - t0;
    tsdb_stats(db, &st);
    printf("series=%zu log_replay_s=%.2f (%" PRIu64 " samples, %.0f samples/s)\n", nser, dt,
           st.head_samples, (double)st.head_samples / dt);
    t0 = now_s();
    if (tsdb_flush(db, err, sizeof(err)) != 0)
        die("flush", err);
    dt = now_s() - t0;
    printf("series=%zu flush_s=%.2f (%zu samples)\n", nser, dt, total + nser);
    tsdb_close(db);
    free(s);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Where a block's bytes go, per series: chunks, rollups, labels, the rest. */
static void block_breakdown(const char *dir, double nser)
{
    char path[512], file[1024], err[256];
    uint64_t sec[BSEC_N] = {0}, total = 0;
    snprintf(path, sizeof(path), "%s/blocks", dir);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".blk"))
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        int fd = open(file, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0)
            continue;
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        struct block_info info;
        if (m != MAP_FAILED &&
            tsdb_block_parse(m, (size_t)st.st_size, true, &info, err, sizeof(err)) == 0) {
            for (int i = 0; i < BSEC_N; i++)
                sec[i] += info.len[i];
            total += (uint64_t)st.st_size;
        }
        if (m != MAP_FAILED)
            munmap(m, (size_t)st.st_size);
        close(fd);
    }
    if (d)
        closedir(d);
    uint64_t other = total - sec[BSEC_CHUNKS] - sec[BSEC_ROLLUPS] - sec[BSEC_SYMBOLS] -
                     sec[BSEC_SERIES] - sec[BSEC_SEROFF];
    printf("disk_case block_bytes_per_series chunks=%.1f rollups=%.1f series_entries=%.1f "
           "series_offsets=%.1f symbols=%.2f header_footer=%.2f\n",
           (double)sec[BSEC_CHUNKS] / nser, (double)sec[BSEC_ROLLUPS] / nser,
           (double)sec[BSEC_SERIES] / nser, (double)sec[BSEC_SEROFF] / nser,
           (double)sec[BSEC_SYMBOLS] / nser, (double)other / nser);
}

/* The benchmark's disk case: 10k series x 720 samples at 10 s, two days old,
 * series after series as the OpenMetrics file has them. */
static void run_disk(void)
{
    const size_t nser = 10000;
    const int np = 720;
    char dir[256], err[512];
    struct tsdb_stats st;
    scratch_dir(dir, sizeof(dir));
    struct ser *s = make_series(nser);
    int64_t t0ms = ((clock_now_ms() / 1000) / 7200 * 7200 - 2 * 86400) * 1000;
    struct tsdb *db = open_db(dir);
    double t0 = now_s(), c0 = cpu_s();
    struct tsdb_appender *a = tsdb_appender_new(db, "import");
    for (size_t i = 0; i < nser; i++) {
        for (int k = 0; k < np; k++) {
            append(a, &s[i], t0ms + k * 10000LL, next_value(&s[i]));
            if (tsdb_appender_count(a) == BATCH) {
                commit(a);
                a = tsdb_appender_new(db, "import");
            }
        }
    }
    commit(a);
    double ingest = now_s() - t0, ingest_cpu = cpu_s() - c0;
    double t1 = now_s();
    if (tsdb_flush(db, err, sizeof(err)) != 0)
        die("flush", err);
    double flush = now_s() - t1;
    tsdb_stats(db, &st);
    tsdb_close(db);
    du_bytes = du_chunks = 0;
    nftw(dir, du_one, 16, FTW_PHYS);
    double samples = (double)nser * np;
    printf("disk_case series=%zu samples=%.0f ingest_samples_per_cpu_s=%.0f "
           "ingest_wall_samples_per_s=%.0f flush_s=%.2f total_incl_flush_samples_per_s=%.0f\n",
           nser, samples, samples / ingest_cpu, samples / ingest, flush,
           samples / (ingest + flush));
    printf("disk_case bytes_per_sample_total=%.3f bytes_per_sample_blocks=%.3f wal_bytes=%" PRIu64
           " blocks=%" PRIu64 "\n",
           (double)du_bytes / samples, (double)du_chunks / samples, st.wal_bytes, st.blocks);
    block_breakdown(dir, (double)nser);
    t1 = now_s();
    db = open_db(dir);
    double reopen = now_s() - t1;
    size_t ns, nsm;
    double q = time_select(db, "__name__", MATCH_RE, "bench_icounter_00.*", INT64_MIN, INT64_MAX,
                           &ns, &nsm);
    printf("disk_case reopen_ms=%.1f select_blocks_ms=%.2f (%zu series, %zu samples)\n",
           reopen * 1000, q * 1000, ns, nsm);
    struct matcher m;
    struct tsdb_rollup_series *r;
    size_t nr;
    matcher_init(&m, "__name__", MATCH_RE, "bench_icounter_00.*", err, sizeof(err));
    t1 = now_s();
    if (tsdb_select_rollup(db, TSDB_ROLLUP_1H, &m, 1, INT64_MIN / 4, INT64_MAX / 4, 0, &r, &nr, err,
                           sizeof(err)) != 0)
        die("select_rollup", err);
    printf("disk_case select_rollup_1h_ms=%.2f (%zu series)\n", (now_s() - t1) * 1000, nr);
    tsdb_rollup_series_free(r, nr);
    matcher_free(&m);
    tsdb_close(db);
    free(s);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A week at 15 s for 500 series, maintained as the background thread would
 * (blocks cut and compacted as time passes): how long a week of 1 h buckets
 * and a week of raw samples take to read. */
static void run_week(void)
{
    const size_t nser = 500;
    const int64_t step = 15000, week = 7 * 86400000LL;
    char dir[256], err[512];
    scratch_dir(dir, sizeof(dir));
    struct ser *s = make_series(nser);
    struct tsdb_options o = {.dir = dir, .retention_ms = 15 * 86400000LL};
    struct tsdb *db;
    if (tsdb_open(&o, &db, err, sizeof(err)) != 0)
        die("open", err);
    int64_t t0 = (clock_now_ms() / 7200000) * 7200000 - week;
    double w0 = now_s();
    for (int64_t t = t0; t < t0 + week; t += step) {
        struct tsdb_appender *a = tsdb_appender_new(db, "scrape");
        for (size_t i = 0; i < nser; i++)
            append(a, &s[i], t, next_value(&s[i]));
        commit(a);
        if ((t - t0) % (3600000LL) == 0 && tsdb_maintain(db, t, err, sizeof(err)) != 0)
            die("maintain", err);
    }
    double ingest = now_s() - w0;
    if (tsdb_maintain(db, t0 + week, err, sizeof(err)) != 0)
        die("maintain", err);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    printf("week_case series=%zu samples=%.0f ingest_with_maintenance_s=%.1f blocks=%" PRIu64
           " disk_bytes_per_sample=%.3f\n",
           nser, (double)nser * (double)(week / step), ingest, st.blocks,
           (double)st.disk_bytes / ((double)nser * (double)(week / step)));
    struct matcher m;
    struct tsdb_rollup_series *r;
    size_t nr, nb = 0;
    matcher_init(&m, "job", MATCH_EQ, "node", err, sizeof(err));
    double q0 = now_s();
    if (tsdb_select_rollup(db, TSDB_ROLLUP_1H, &m, 1, t0, t0 + week, 0, &r, &nr, err,
                           sizeof(err)) != 0)
        die("select_rollup", err);
    double q1 = now_s();
    for (size_t i = 0; i < nr; i++)
        nb += r[i].n;
    tsdb_rollup_series_free(r, nr);
    size_t ns, nsm;
    double raw = time_select(db, "job", MATCH_EQ, "node", t0, t0 + week, &ns, &nsm);
    printf("week_case select_rollup_1h_ms=%.1f (%zu series, %zu buckets) select_raw_ms=%.1f (%zu "
           "samples) stored_rollup_records_read=%" PRIu64 "\n",
           (q1 - q0) * 1000, nr, nb, raw * 1000, nsm,
           __atomic_load_n(&db->stored_rollup_reads, __ATOMIC_RELAXED));
    q0 = now_s();
    if (tsdb_select_rollup(db, TSDB_ROLLUP_5M, &m, 1, t0, t0 + week, 0, &r, &nr, err,
                           sizeof(err)) != 0)
        die("select_rollup", err);
    nb = 0;
    for (size_t i = 0; i < nr; i++)
        nb += r[i].n;
    printf("week_case select_rollup_5m_ms=%.1f (%zu series, %zu buckets, from raw: 20 samples "
           "per bucket)\n",
           (now_s() - q0) * 1000, nr, nb);
    tsdb_rollup_series_free(r, nr);
    matcher_free(&m);
    tsdb_close(db);
    free(s);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- import of an OpenMetrics text file (gen_openmetrics.py's subset) ---- */

static int import_file(const char *path, const char *dir)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, err[512];
    size_t cap = 0, n = 0;
    ssize_t len;
    if (!f)
        die("open", path);
    struct tsdb *db = open_db(dir);
    struct tsdb_appender *a = tsdb_appender_new(db, "import");
    double t0 = now_s();
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        struct tsdb_label l[32];
        size_t nl = 0;
        char *p = line, *name = p;
        while (*p && *p != '{' && *p != ' ')
            p++;
        l[nl++] = (struct tsdb_label){"__name__", name};
        if (*p == '{') {
            *p++ = '\0';
            while (*p && *p != '}' && nl < 32) {
                char *k = p;
                while (*p && *p != '=')
                    p++;
                *p++ = '\0';
                if (*p++ != '"')
                    die("parse", line);
                char *v = p;
                while (*p && *p != '"')
                    p++;
                *p++ = '\0';
                l[nl++] = (struct tsdb_label){k, v};
                if (*p == ',')
                    p++;
            }
            p++;
        } else {
            *p = '\0';
        }
        while (*++p == ' ')
            ;
        char *end;
        double v = strtod(p, &end);
        double ts = strtod(end, NULL);
        if (tsdb_append(a, l, nl, (int64_t)llround(ts * 1000), v, err, sizeof(err)) != 0)
            die("append", err);
        if (++n % BATCH == 0) {
            commit(a);
            a = tsdb_appender_new(db, "import");
        }
    }
    commit(a);
    double ingest = now_s() - t0;
    if (tsdb_flush(db, err, sizeof(err)) != 0)
        die("flush", err);
    double total = now_s() - t0;
    tsdb_close(db);
    fclose(f);
    free(line);
    fprintf(stderr, "imported %zu samples: ingest %.2f s, with flush %.2f s (%.0f samples/s)\n", n,
            ingest, total, (double)n / total);
    return 0;
}

int main(int argc, char **argv)
{
    bool big = false;
    log_threshold = LOG_WARN;
    if (argc == 4 && strcmp(argv[1], "import") == 0)
        return import_file(argv[2], argv[3]);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--big") == 0) {
            big = true;
        } else if (strcmp(argv[i], "--week") == 0) {
            run_week();
            return 0;
        } else if (strcmp(argv[i], "--series") == 0 && i + 1 < argc) {
            /* One scale alone (for profiling). */
            run_scale((size_t)atol(argv[i + 1]), 240);
            return 0;
        } else {
            fprintf(stderr, "usage: tsdb_bench [--big] | tsdb_bench import FILE DIR\n");
            return 2;
        }
    }
    run_scale(10000, 240);
    run_scale(100000, 240);
    if (big)
        run_scale(1000000, 60);
    run_disk();
    run_week();
    return 0;
}
