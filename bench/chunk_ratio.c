/* cc -O2 -Isrc bench/chunk_ratio.c src/metrics/chunk.c -lm -o /tmp/cr && /tmp/cr [-3] FILE.om [N]
 */
/*
 * chunk_ratio.c - bytes per sample and speed of the sample codec on an
 * OpenMetrics / Prometheus text file (lines `name{labels} value timestamp`,
 * timestamps in seconds, each series' lines contiguous), such as the one
 * /work/shared/peer-bench/gen_openmetrics.py writes. Each series is cut into
 * chunks of N samples; every chunk is encoded (appends, then a snapshot),
 * decoded and compared bit for bit with the input. Bytes are grouped by the
 * metric kinds of the generator (bench_icounter, bench_fcounter, bench_fgauge,
 * bench_bytes, bench_temp; anything else is "other"). N is the samples per
 * chunk, 720 unless given. Times are CPU time of the thread. With -3 the
 * chunks are written by chunk_encode (format 3, what blocks store) instead of
 * the streaming encoder the head uses; with -4 by chunk_encode_meta (what
 * blocks store: format 3 without the first time, the count and the step,
 * which block metadata holds).
 */
#define _POSIX_C_SOURCE 200809L /* getline, strdup, clock_gettime */

#include "metrics/chunk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NKINDS 6
static const char *const kinds[NKINDS] = {"icounter", "fcounter", "fgauge",
                                          "bytes",    "temp",     "other"};

struct stats {
    uint64_t samples, bytes, chunks;
};

static struct stats per[NKINDS];
static double enc_s, dec_s, snap_s;
static uint64_t snaps, mismatches, enc_mem, enc_mem_n;
static int dense;

/* CPU time of this thread: the figures hold on a machine shared with other work. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int kind_of(const char *name)
{
    for (int k = 0; k < NKINDS - 1; k++) {
        char pre[64];
        snprintf(pre, sizeof(pre), "bench_%s_", kinds[k]);
        if (strncmp(name, pre, strlen(pre)) == 0)
            return k;
    }
    return NKINDS - 1;
}

/* Encodes t[0..n), v[0..n) in chunks of cn samples and checks the round trip. */
static void run_series(int kind, const int64_t *t, const double *v, size_t n, size_t cn)
{
    for (size_t s = 0; s < n; s += cn) {
        size_t m = n - s < cn ? n - s : cn;
        struct chunk_enc e;
        uint8_t *c = NULL;
        size_t clen = 0;
        double t0 = now_s();
        chunk_enc_init(&e);
        if (dense) {
            if ((dense == 4 ? chunk_encode_meta : chunk_encode)(t + s, v + s, (uint32_t)m, &c,
                                                                &clen) != 0) {
                fprintf(stderr, "chunk_encode failed\n");
                exit(1);
            }
        } else {
            for (size_t i = 0; i < m; i++) {
                if (chunk_enc_append(&e, t[s + i], v[s + i]) != 0) {
                    fprintf(stderr, "append failed\n");
                    exit(1);
                }
            }
        }
        double t1 = now_s();
        if (!dense && chunk_enc_snapshot(&e, &c, &clen) != 0) {
            fprintf(stderr, "snapshot failed\n");
            exit(1);
        }
        double t2 = now_s();
        enc_mem += chunk_enc_memory(&e);
        enc_mem_n++;
        chunk_enc_free(&e);
        enc_s += t2 - t0;
        snap_s += t2 - t1;
        snaps++;

        struct chunk_iter it;
        int64_t tt;
        double vv;
        size_t got = 0;
        uint64_t step;
        if (!chunk_times_regular(t + s, (uint32_t)m, &step))
            step = 0;
        double t3 = now_s();
        if (chunk_iter_init_meta(&it, c, clen, t[s], (uint32_t)m, step) != 0) {
            fprintf(stderr, "iter_init failed\n");
            exit(1);
        }
        int64_t tsum = 0;
        double vsum = 0;
        while (chunk_iter_next(&it, &tt, &vv) == 1) {
            tsum += tt;
            vsum += vv;
            got++;
        }
        dec_s += now_s() - t3;
        (void)vsum;
        (void)tsum;

        /* The check is outside the timed loop. */
        chunk_iter_init_meta(&it, c, clen, t[s], (uint32_t)m, step);
        for (size_t i = 0; i < m; i++) {
            if (chunk_iter_next(&it, &tt, &vv) != 1 || tt != t[s + i] ||
                memcmp(&vv, &v[s + i], sizeof(vv)) != 0) {
                mismatches++;
                break;
            }
        }
        if (got != m || (dense != 4 && chunk_count(c, clen) != m))
            mismatches++;
        per[kind].samples += m;
        per[kind].bytes += clen;
        per[kind].chunks++;
        free(c);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-3") == 0 || strcmp(argv[1], "-4") == 0)) {
        dense = argv[1][1] - '0';
        argv++;
        argc--;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: %s [-3|-4] FILE [SAMPLES_PER_CHUNK]\n", argv[0]);
        return 2;
    }
    size_t cn = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 720;
    if (cn == 0)
        cn = 720;
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    char *line = NULL, *key = NULL;
    size_t lcap = 0, n = 0, cap = 0, nseries = 0;
    int64_t *t = NULL;
    double *v = NULL;
    int kind = 0;
    ssize_t ll;
    while ((ll = getline(&line, &lcap, f)) >= 0) {
        if (ll == 0 || line[0] == '#' || line[0] == '\n')
            continue;
        /* The series key runs to the last space but one. */
        char *ts = strrchr(line, ' ');
        if (!ts)
            continue;
        *ts++ = '\0';
        char *vs = strrchr(line, ' ');
        if (!vs)
            continue;
        *vs++ = '\0';
        if (!key || strcmp(key, line) != 0) {
            if (key && n)
                run_series(kind, t, v, n, cn);
            free(key);
            key = strdup(line);
            kind = kind_of(key);
            n = 0;
            nseries++;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            t = realloc(t, cap * sizeof(*t));
            v = realloc(v, cap * sizeof(*v));
            if (!t || !v)
                return 1;
        }
        v[n] = strtod(vs, NULL);
        t[n] = llround(strtod(ts, NULL) * 1000.0);
        n++;
    }
    if (key && n)
        run_series(kind, t, v, n, cn);
    fclose(f);

    uint64_t ts_ = 0, tb = 0;
    printf("chunk size %zu samples, %zu series, format %s\n", cn, nseries,
           dense == 4 ? "3 (block)"
           : dense    ? "3"
                      : "2");
    for (int k = 0; k < NKINDS; k++) {
        if (!per[k].samples)
            continue;
        printf("  %-9s %9llu samples %5llu chunks  %.3f bytes/sample\n", kinds[k],
               (unsigned long long)per[k].samples, (unsigned long long)per[k].chunks,
               (double)per[k].bytes / (double)per[k].samples);
        ts_ += per[k].samples;
        tb += per[k].bytes;
    }
    printf("  overall   %9llu samples %llu bytes  %.3f bytes/sample\n", (unsigned long long)ts_,
           (unsigned long long)tb, ts_ ? (double)tb / (double)ts_ : 0.0);
    printf("encode %.1f M samples/s (%.1f ns/sample incl. snapshot), snapshot %.2f us/chunk\n",
           (double)ts_ / enc_s / 1e6, enc_s * 1e9 / (double)ts_, snap_s * 1e6 / (double)snaps);
    printf("decode %.1f M samples/s\n", (double)ts_ / dec_s / 1e6);
    printf("encoder heap at chunk end %.0f bytes avg, struct %zu bytes\n",
           (double)enc_mem / (double)enc_mem_n, sizeof(struct chunk_enc));
    printf("round-trip mismatches: %llu\n", (unsigned long long)mismatches);
    free(line);
    free(key);
    free(t);
    free(v);
    return mismatches ? 1 : 0;
}
