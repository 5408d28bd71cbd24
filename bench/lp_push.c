/*
 * lp_push.c - pushes an Influx line protocol file to a write endpoint, as
 * fast as the server takes it, for the metrics benchmark.
 *
 *   lp_push [-b LINES] [-t THREADS] [-k TOKEN] [-m SECONDS] URL FILE
 *
 * The file is mapped and split into batches of about LINES lines (default
 * 5000); T threads (default 2) each POST batches over one keep-alive
 * connection with `Authorization: Bearer TOKEN` and `Content-Type:
 * text/plain`. Every answer must be 204: anything else prints the status and
 * the body and exits 1, since a benchmark that lost samples measures nothing.
 *
 * Order: the server rejects a sample older than the newest of its series, so
 * two batches holding parts of one series must not race. A batch is extended
 * to the end of the series its last line belongs to (files are series-major),
 * up to LINES more lines; only a series longer than that is cut, and then the
 * batch after the cut waits until the one before it was acknowledged.
 *
 * Prints one line:
 *   RESULT samples=.. batches=.. bytes=.. secs=.. samples_s=.. threads=.. batch=..
 * where samples counts the lines (one numeric field per line in the
 * benchmark's files) and secs is the wall time from the first request to the
 * last answer. Bounded: each request times out after SECONDS (default 120).
 *
 * Build: cc -O2 bench/lp_push.c -lcurl -lpthread -o lp_push
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define BODY_MAX    8192 /* of an error answer kept for the message */

struct batch {
    size_t off, len;
    size_t lines;
    bool wait_prev; /* starts mid-series: the previous batch must be acknowledged first */
};

static const char *g_url;
static char g_auth[1024];
static const char *g_data;
static struct batch *g_batches;
static size_t g_nbatches;
static long g_timeout_s = 120;
static atomic_size_t g_next;
static atomic_bool g_failed;
/* done[i] is set when batch i was acknowledged; guarded by g_mu. */
static bool *g_done;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

struct resp {
    char body[BODY_MAX];
    size_t len;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = sz * n, room = sizeof(r->body) - 1 - r->len;
    size_t k = len < room ? len : room;
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = 0;
    return len;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The series key of the line at p: everything before the first unescaped space. */
static size_t series_key_len(const char *p, const char *end)
{
    const char *q = p;
    while (q < end && *q != '\n') {
        if (*q == '\\' && q + 1 < end && q[1] != '\n') {
            q += 2;
            continue;
        }
        if (*q == ' ')
            break;
        q++;
    }
    return (size_t)(q - p);
}

static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl + 1 : end;
}

static bool counts_as_sample(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p < e && *p != '\n' && *p != '\r' && *p != '#';
}

/* Splits data[0, size) into batches; returns the number of batches or 0 on error. */
static size_t split(const char *data, size_t size, size_t per_batch, size_t *samples)
{
    size_t cap = 1024, n = 0;
    const char *p = data, *end = data + size;
    bool cut = false;

    g_batches = malloc(cap * sizeof(*g_batches));
    if (!g_batches)
        return 0;
    *samples = 0;
    while (p < end) {
        const char *start = p, *last = p;
        size_t lines = 0;
        while (p < end && lines < per_batch) {
            const char *e = line_end(p, end);
            if (counts_as_sample(p, e))
                (*samples)++;
            last = p;
            p = e;
            lines++;
        }
        /* Finish the series of the last line, up to per_batch lines more. */
        bool next_cut = false;
        if (p < end) {
            size_t kl = series_key_len(last, end), extra = 0;
            while (p < end && series_key_len(p, end) == kl && memcmp(p, last, kl) == 0) {
                if (extra == per_batch) {
                    next_cut = true;
                    break;
                }
                const char *e = line_end(p, end);
                if (counts_as_sample(p, e))
                    (*samples)++;
                p = e;
                lines++;
                extra++;
            }
        }
        if (n == cap) {
            struct batch *nb = realloc(g_batches, 2 * cap * sizeof(*g_batches));
            if (!nb)
                return 0;
            g_batches = nb;
            cap *= 2;
        }
        g_batches[n].off = (size_t)(start - data);
        g_batches[n].len = (size_t)(p - start);
        g_batches[n].lines = lines;
        g_batches[n].wait_prev = cut;
        cut = next_cut;
        n++;
    }
    return n;
}

static void mark_done(size_t i)
{
    pthread_mutex_lock(&g_mu);
    g_done[i] = true;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static void wait_done(size_t i)
{
    pthread_mutex_lock(&g_mu);
    while (!g_done[i] && !atomic_load(&g_failed))
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
}

static void fail(void)
{
    pthread_mutex_lock(&g_mu);
    atomic_store(&g_failed, true);
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static void *worker(void *arg)
{
    (void)arg;
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct resp r;

    if (!c) {
        fprintf(stderr, "lp_push: curl_easy_init failed\n");
        fail();
        return NULL;
    }
    h = curl_slist_append(h, "Content-Type: text/plain; charset=utf-8");
    /* No "Expect: 100-continue" round trip for bodies over 1 MiB. */
    h = curl_slist_append(h, "Expect:");
    if (g_auth[0])
        h = curl_slist_append(h, g_auth);
    curl_easy_setopt(c, CURLOPT_URL, g_url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, g_timeout_s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);

    for (;;) {
        size_t i = atomic_fetch_add(&g_next, 1);
        if (i >= g_nbatches || atomic_load(&g_failed))
            break;
        if (g_batches[i].wait_prev && i > 0) {
            wait_done(i - 1);
            if (atomic_load(&g_failed))
                break;
        }
        r.len = 0;
        r.body[0] = 0;
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, g_data + g_batches[i].off);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)g_batches[i].len);
        CURLcode rc = curl_easy_perform(c);
        long code = 0;
        if (rc != CURLE_OK) {
            fprintf(stderr, "lp_push: batch %zu (lines from byte %zu): %s\n", i, g_batches[i].off,
                    curl_easy_strerror(rc));
            fail();
            break;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (code != 204) {
            fprintf(stderr, "lp_push: batch %zu (%zu lines from byte %zu): HTTP %ld: %s\n", i,
                    g_batches[i].lines, g_batches[i].off, code, r.body);
            fail();
            break;
        }
        mark_done(i);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: lp_push [-b LINES] [-t THREADS] [-k TOKEN] [-m SECONDS] URL FILE\n");
    exit(2);
}

int main(int argc, char **argv)
{
    size_t per_batch = 5000, samples = 0;
    int threads = 2, opt, fd, rc = 1;
    const char *token = NULL;
    struct stat st;
    pthread_t tid[MAX_THREADS];
    void *map = MAP_FAILED;
    double t0, t1;

    while ((opt = getopt(argc, argv, "b:t:k:m:")) != -1) {
        switch (opt) {
        case 'b':
            per_batch = strtoul(optarg, NULL, 10);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'k':
            token = optarg;
            break;
        case 'm':
            g_timeout_s = atol(optarg);
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 2 || per_batch < 1 || per_batch > 10000000 || threads < 1 ||
        threads > MAX_THREADS || g_timeout_s < 1)
        usage();
    g_url = argv[optind];
    if (!token)
        token = getenv("TOCSIN_TOKEN");
    if (token && *token)
        snprintf(g_auth, sizeof(g_auth), "Authorization: Bearer %s", token);

    fd = open(argv[optind + 1], O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "lp_push: %s: %s\n", argv[optind + 1], strerror(errno));
        return 1;
    }
    if (st.st_size == 0) {
        fprintf(stderr, "lp_push: %s is empty\n", argv[optind + 1]);
        close(fd);
        return 1;
    }
    /* Populated up front, so that reading the file is not part of the timing. */
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        fprintf(stderr, "lp_push: mmap: %s\n", strerror(errno));
        return 1;
    }
    g_data = map;
    g_nbatches = split(g_data, (size_t)st.st_size, per_batch, &samples);
    g_done = calloc(g_nbatches ? g_nbatches : 1, sizeof(*g_done));
    if (g_nbatches == 0 || !g_done) {
        fprintf(stderr, "lp_push: out of memory\n");
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "lp_push: curl_global_init failed\n");
        goto out;
    }
    if ((size_t)threads > g_nbatches)
        threads = (int)g_nbatches;

    t0 = now_s();
    int started = 0;
    for (; started < threads; started++) {
        if (pthread_create(&tid[started], NULL, worker, NULL) != 0) {
            fprintf(stderr, "lp_push: pthread_create failed\n");
            fail();
            break;
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    t1 = now_s();
    curl_global_cleanup();
    if (atomic_load(&g_failed))
        goto out;
    printf("RESULT samples=%zu batches=%zu bytes=%lld secs=%.3f samples_s=%.0f threads=%d "
           "batch=%zu\n",
           samples, g_nbatches, (long long)st.st_size, t1 - t0,
           t1 > t0 ? (double)samples / (t1 - t0) : 0.0, threads, per_batch);
    rc = 0;
out:
    free(g_done);
    free(g_batches);
    munmap(map, (size_t)st.st_size);
    return rc;
}
