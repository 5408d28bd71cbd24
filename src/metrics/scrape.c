/*
 * scrape.c - the "tocsin-scrape" thread; see scrape.h.
 *
 * Every target is a struct scrape_target in a timer heap keyed by when its
 * next scrape is due (monotonic milliseconds). The thread sleeps in
 * curl_multi_poll on the transfers in flight and an eventfd that reload and
 * stop write to; when a target comes due it starts an easy handle on the one
 * multi handle, and when a transfer ends it calls the sink and records the
 * target's health for scraper_targets_json.
 *
 * The phase of a target within its interval comes from a hash of its job and
 * instance, counted from the epoch like Prometheus does: targets spread out
 * over the interval, and a restart or reload keeps each one on its beat. The
 * next scrape is always the previous due time plus the interval (a slow
 * sink or a long scrape does not push the schedule later); only when the
 * thread was held up for more than a whole interval are the missed slots
 * skipped.
 *
 * A reload never touches the thread's data from the caller's thread: the
 * caller copies the configuration into a new list of targets (the config is
 * only borrowed, and the old one may be freed once scraper_reload returns),
 * hands it over under the mutex and waits briefly until the thread merged
 * it. The merge keeps every target whose job and instance remain, with its
 * schedule, health and any transfer in flight, takes the new settings, and
 * drops the others (aborting their transfers).
 *
 * THREAD SAFETY NOTES: the target list, each target's settings and its
 * shown state (health, last error, last scrape) are written only by the
 * thread, under s->mu; scraper_targets_json reads them under s->mu. The
 * thread reads its own data without the lock. Transfer buffers and the heap
 * are the thread's alone.
 */
#include "scrape.h"
#include "scrape_int.h"

#include "../base/clock.h"
#include "../base/heap.h"
#include "../base/log.h"
#include "../base/strmap.h"
#include "../base/timefmt.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define SCRAPE_IDLE_WAIT_MS   60000 /* no target due: sleep until woken */
#define SCRAPE_RELOAD_WAIT_MS 1000  /* how long scraper_reload waits for the merge */
#define SCRAPE_MIN_BUF        16384 /* first allocation for a body */
#define SCRAPE_ERR_MAX        256

static const char scrape_accept[] = "Accept: application/openmetrics-text;version=1.0.0;q=0.5,"
                                    "text/plain;version=0.0.4;q=0.3,*/*;q=0.1";

enum scrape_health { HEALTH_UNKNOWN = 0, HEALTH_UP = 1, HEALTH_DOWN = 2 };
static const char *const scrape_health_names[] = {"unknown", "up", "down"};

/* What a target takes from its job; a reload swaps the whole of it. */
struct target_settings {
    char *url;              /* owned */
    struct labelset labels; /* owned; job, instance and the job's labels */
    int64_t interval_ms, timeout_ms;
    int64_t offset_ms; /* phase within the interval */
    size_t body_limit, sample_limit;
    bool honor_labels, tls_skip_verify;
    char *bearer;   /* owned or NULL; zeroed when freed */
    char *user;     /* owned or NULL */
    char *password; /* owned or NULL; zeroed when freed */
    char *scheme;   /* owned; for discoveredLabels */
    char *path;     /* owned; metrics_path, for discoveredLabels */
};

struct scrape_target {
    struct heap_node node; /* key: when the next scrape is due, monotonic ms */

    /* Identity; fixed for the target's life. */
    char *key;      /* owned; job "\x1f" instance: the strmap key */
    char *job;      /* owned */
    char *instance; /* owned */

    struct target_settings set; /* replaced by a reload (under s->mu) */

    /* The transfer in flight (easy != NULL), the thread's alone. */
    CURL *easy;
    struct curl_slist *headers; /* owned */
    char *buf;                  /* owned; the body so far */
    size_t len, cap;
    size_t hint;     /* size of the last body: the next first allocation */
    bool too_big;    /* the body passed body_limit; the transfer was aborted */
    bool oom;        /* the body could not be stored */
    int64_t t0_us;   /* clock_mono_us at the start */
    int64_t t0_wall; /* clock_now_ms at the start */
    char curl_err[CURL_ERROR_SIZE];

    /* Shown state: written under s->mu. */
    enum scrape_health health;
    char last_error[SCRAPE_ERR_MAX];
    int64_t last_scrape_ms; /* wall clock; 0 = never */
    double last_duration_s;
};

/* A list of targets in configuration order. */
struct target_list {
    struct scrape_target **v; /* owned array of owned targets */
    size_t n;
};

struct scraper {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t applied_cv;
    int evfd;
    CURLM *multi;
    scrape_sink_fn sink;
    void *sink_ctx;

    /* Guarded by mu. */
    bool stopping;
    struct target_list pending; /* a reload not merged yet (v == NULL: none) */
    bool has_pending;
    uint64_t gen_wanted, gen_applied;
    struct target_list targets; /* written by the thread under mu */

    /* The thread's alone. */
    struct strmap by_key; /* key -> target */
    struct heap due;
};

/* ---- Schedule arithmetic (scrape_int.h) ---- */

int64_t scrape_offset_ms(const char *job, const char *instance, int64_t interval_ms)
{
    if (interval_ms <= 0)
        return 0;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s\x1f%s", job, instance);
    return (int64_t)(strmap_hash(buf) % (uint64_t)interval_ms);
}

int64_t scrape_first_due_ms(int64_t now_ms, int64_t offset_ms, int64_t interval_ms)
{
    if (interval_ms <= 0)
        return now_ms;
    int64_t r = now_ms % interval_ms;
    if (r < 0)
        r += interval_ms;
    int64_t due = now_ms - r + offset_ms;
    return due < now_ms ? due + interval_ms : due;
}

int64_t scrape_next_due_ms(int64_t prev_due, int64_t interval_ms, int64_t now_ms)
{
    if (interval_ms <= 0)
        return now_ms;
    int64_t next = prev_due + interval_ms;
    if (next <= now_ms)
        next += ((now_ms - next) / interval_ms + 1) * interval_ms;
    return next;
}

char *scrape_format_duration(int64_t ms, char *buf, size_t size)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {
        {365 * 86400000LL, "y"}, {7 * 86400000LL, "w"}, {86400000LL, "d"}, {3600000LL, "h"},
        {60000LL, "m"},          {1000LL, "s"},         {1LL, "ms"}};
    size_t off = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (ms <= 0) {
        snprintf(buf, size, "0s");
        return buf;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && off < size; i++) {
        int64_t n = ms / units[i].ms;
        if (n == 0)
            continue;
        ms -= n * units[i].ms;
        int w = snprintf(buf + off, size - off, "%lld%s", (long long)n, units[i].unit);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    return buf;
}

/* ---- Targets ---- */

static int64_t scrape_mono_ms(void)
{
    return clock_mono_us() / 1000;
}

static void scrape_free_secret(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
    free(s);
}

static void settings_free(struct target_settings *st)
{
    free(st->url);
    labels_free(&st->labels);
    scrape_free_secret(st->bearer);
    free(st->user);
    scrape_free_secret(st->password);
    free(st->scheme);
    free(st->path);
}

static void target_free(struct scrape_target *t)
{
    if (!t)
        return;
    free(t->key);
    free(t->job);
    free(t->instance);
    settings_free(&t->set);
    curl_slist_free_all(t->headers);
    free(t->buf);
    free(t);
}

static void target_list_free(struct target_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        target_free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Appends s percent-encoded (everything but A-Z a-z 0-9 - . _ ~) to b at *off. */
static void scrape_escape(char *b, size_t *off, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            b[(*off)++] = (char)*p;
        } else {
            b[(*off)++] = '%';
            b[(*off)++] = hex[*p >> 4];
            b[(*off)++] = hex[*p & 15];
        }
    }
}

/* scheme://instance/path?params, with the parameters percent-encoded. */
static char *scrape_build_url(const struct cfg_scrape_job *j, const char *instance)
{
    size_t need = strlen(instance) + strlen(j->metrics_path) + 16;
    for (size_t i = 0; i < j->n_params; i++)
        need += 3 * (strlen(j->params[i].name) + strlen(j->params[i].value)) + 2;
    char *b = malloc(need);
    if (!b)
        return NULL;
    size_t off = (size_t)snprintf(b, need, "%s://%s%s", j->https ? "https" : "http", instance,
                                  j->metrics_path);
    for (size_t i = 0; i < j->n_params; i++) {
        b[off++] = i == 0 ? '?' : '&';
        scrape_escape(b, &off, j->params[i].name);
        b[off++] = '=';
        scrape_escape(b, &off, j->params[i].value);
    }
    b[off] = '\0';
    return b;
}

static char *dup_or_null(const char *s, bool *bad)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *bad = true;
    return d;
}

/* A new target for instance of job j, not scheduled; NULL when out of memory. */
static struct scrape_target *target_new(const struct cfg_scrape_job *j, const char *instance)
{
    struct scrape_target *t = calloc(1, sizeof(*t));
    bool bad = !t;
    if (bad)
        return NULL;
    heap_node_init(&t->node);
    size_t klen = strlen(j->job) + strlen(instance) + 2;
    t->key = malloc(klen);
    if (t->key)
        snprintf(t->key, klen, "%s\x1f%s", j->job, instance);
    t->job = dup_or_null(j->job, &bad);
    t->instance = dup_or_null(instance, &bad);
    struct target_settings *st = &t->set;
    st->url = scrape_build_url(j, instance);
    st->scheme = dup_or_null(j->https ? "https" : "http", &bad);
    st->path = dup_or_null(j->metrics_path, &bad);
    st->bearer = dup_or_null(j->bearer_token, &bad);
    st->user = dup_or_null(j->basic_user, &bad);
    st->password = dup_or_null(j->basic_password, &bad);
    bad |= !t->key || !st->url;
    for (size_t i = 0; i < j->labels.n && !bad; i++)
        bad = labels_set(&st->labels, j->labels.v[i].name, j->labels.v[i].value) < 0;
    if (!bad)
        bad = labels_set(&st->labels, "job", j->job) < 0 ||
              labels_set(&st->labels, "instance", instance) < 0;
    st->interval_ms = j->interval_ms > 0 ? j->interval_ms : 60000;
    st->timeout_ms = j->timeout_ms > 0 ? j->timeout_ms : st->interval_ms;
    st->body_limit = j->body_limit ? j->body_limit : 50u * 1024 * 1024;
    st->sample_limit = j->sample_limit;
    st->honor_labels = j->honor_labels;
    st->tls_skip_verify = j->tls_skip_verify;
    st->offset_ms = scrape_offset_ms(j->job, instance, st->interval_ms);
    if (bad) {
        target_free(t);
        return NULL;
    }
    return t;
}

/*
 * Copies cfg's jobs into a list of unscheduled targets. Returns 0, or -1
 * when out of memory (l is then empty). Entries without a job or with a
 * key seen before are skipped: a config that passed validation has none.
 */
static int target_list_build(const struct config *cfg, struct target_list *l)
{
    size_t n = 0;
    l->v = NULL;
    l->n = 0;
    for (size_t i = 0; cfg && i < cfg->n_scrape_jobs; i++)
        n += cfg->scrape_jobs[i].n_targets;
    if (n == 0)
        return 0;
    l->v = calloc(n, sizeof(*l->v));
    if (!l->v)
        return -1;
    struct strmap seen = {0};
    for (size_t i = 0; i < cfg->n_scrape_jobs; i++) {
        const struct cfg_scrape_job *j = &cfg->scrape_jobs[i];
        if (!j->job || !j->metrics_path)
            continue;
        for (size_t k = 0; k < j->n_targets; k++) {
            struct scrape_target *t = target_new(j, j->targets[k]);
            if (t && strmap_get(&seen, t->key)) {
                target_free(t);
                continue;
            }
            if (!t || strmap_put(&seen, t->key, t) < 0) {
                target_free(t);
                goto oom;
            }
            l->v[l->n++] = t;
        }
    }
    strmap_free(&seen);
    return 0;
oom:
    strmap_free(&seen);
    target_list_free(l);
    return -1;
}

/* ---- Transfers ---- */

static size_t scrape_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct scrape_target *t = userp;
    size_t n = size * nmemb, limit = t->set.body_limit;
    /* A reload may have lowered the limit below what arrived already. */
    if (t->len > limit || n > limit - t->len) {
        t->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : (t->hint > SCRAPE_MIN_BUF ? t->hint : SCRAPE_MIN_BUF);
        while (cap < t->len + n)
            cap *= 2;
        if (cap > limit)
            cap = limit;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->oom = true;
            return 0;
        }
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, data, n);
    t->len += n;
    return n;
}

/* Starts t's scrape. Returns 0, or -1 (logged) when it cannot even start. */
static int scrape_start_transfer(struct scraper *s, struct scrape_target *t)
{
    const struct target_settings *st = &t->set;
    char hdr[96], tmo[32];
    CURL *e = curl_easy_init();
    if (!e)
        return -1;
    t->len = 0;
    t->too_big = t->oom = false;
    t->curl_err[0] = '\0';
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    snprintf(tmo, sizeof(tmo), "%g", (double)st->timeout_ms / 1000.0);
    snprintf(hdr, sizeof(hdr), "X-Prometheus-Scrape-Timeout-Seconds: %s", tmo);
    struct curl_slist *h = curl_slist_append(NULL, scrape_accept);
    struct curl_slist *h2 = h ? curl_slist_append(h, hdr) : NULL;
    t->headers = h2 ? h2 : h;

    int bad = !h2;
    bad += curl_easy_setopt(e, CURLOPT_URL, st->url) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)t) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)st->timeout_ms) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    /* Prometheus follows redirects; credentials stay with the first host. */
    bad += curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_USERAGENT, "Tocsin/" TOCSIN_VERSION) != CURLE_OK;
    /* "" offers every encoding this libcurl can decode (gzip, deflate, ...);
     * the body limit applies to the decoded bytes. */
    bad += curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)st->body_limit) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, scrape_write) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)t) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_err) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, st->tls_skip_verify ? 0L : 1L) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, st->tls_skip_verify ? 0L : 2L) != CURLE_OK;
    if (st->bearer) {
        bad += curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER) != CURLE_OK;
        bad += curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, st->bearer) != CURLE_OK;
    } else if (st->user) {
        bad += curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
        bad += curl_easy_setopt(e, CURLOPT_USERNAME, st->user) != CURLE_OK;
        bad += curl_easy_setopt(e, CURLOPT_PASSWORD, st->password ? st->password : "") != CURLE_OK;
    }
    if (bad || curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        log_warn("msg=\"scrape: cannot start\" job=\"%s\" instance=\"%s\"", t->job, t->instance);
        return -1;
    }
    t->easy = e;
    t->t0_us = clock_mono_us();
    t->t0_wall = clock_now_ms();
    return 0;
}

/* Ends t's transfer (if any) without a result. */
static void scrape_abort_transfer(struct scraper *s, struct scrape_target *t)
{
    if (!t->easy)
        return;
    curl_multi_remove_handle(s->multi, t->easy);
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
    free(t->buf);
    t->buf = NULL;
    t->len = t->cap = 0;
}

/* Why a finished transfer is not a good scrape, into err; false when it is. */
static bool scrape_failed(struct scrape_target *t, CURLcode rc, long code, char *err, size_t errlen)
{
    char d[32];
    if (t->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, errlen, "body exceeds %zu bytes", t->set.body_limit);
        return true;
    }
    if (t->oom) {
        snprintf(err, errlen, "out of memory storing the body");
        return true;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(err, errlen, "timeout after %s",
                 scrape_format_duration(t->set.timeout_ms, d, sizeof(d)));
        return true;
    }
    if (rc != CURLE_OK) {
        long os_err = 0;
        curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_err);
        if (rc == CURLE_COULDNT_CONNECT && os_err == ECONNREFUSED)
            snprintf(err, errlen, "connection refused");
        else
            snprintf(err, errlen, "%s", t->curl_err[0] ? t->curl_err : curl_easy_strerror(rc));
        return true;
    }
    if (code != 200) {
        snprintf(err, errlen, "HTTP %ld", code);
        return true;
    }
    return false;
}

/* Delivers a finished transfer to the sink and records the target's health. */
static void scrape_finish(struct scraper *s, struct scrape_target *t, CURLcode rc)
{
    char err[SCRAPE_ERR_MAX] = "", sink_err[SCRAPE_ERR_MAX] = "";
    long code = 0;
    char *ctype = NULL;
    double dur = (double)(clock_mono_us() - t->t0_us) / 1e6;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ctype);
    bool failed = scrape_failed(t, rc, code, err, sizeof(err));

    struct scrape_result r = {
        .job = t->job,
        .instance = t->instance,
        .url = t->set.url,
        .target_labels = &t->set.labels,
        .start_ms = t->t0_wall,
        .duration_s = dur,
        .ok = !failed,
        .error = failed ? err : NULL,
        .body = failed ? NULL : (t->buf ? t->buf : ""),
        .body_len = failed ? 0 : t->len,
        .content_type = ctype,
        .honor_labels = t->set.honor_labels,
        .sample_limit = t->set.sample_limit,
    };
    long stored = s->sink ? s->sink(s->sink_ctx, &r, sink_err, sizeof(sink_err)) : 0;
    if (!failed && stored < 0) {
        failed = true;
        snprintf(err, sizeof(err), "%s", sink_err[0] ? sink_err : "the body could not be stored");
    }

    pthread_mutex_lock(&s->mu);
    t->health = failed ? HEALTH_DOWN : HEALTH_UP;
    snprintf(t->last_error, sizeof(t->last_error), "%s", failed ? err : "");
    t->last_scrape_ms = t->t0_wall;
    t->last_duration_s = dur;
    pthread_mutex_unlock(&s->mu);

    /* The next body is probably as large: start there, but keep no memory
     * between scrapes (thousands of idle targets would hold their bodies). */
    t->hint = t->len;
    curl_multi_remove_handle(s->multi, t->easy);
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
    free(t->buf);
    t->buf = NULL;
    t->len = t->cap = 0;
}

static void scrape_reap(struct scraper *s)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct scrape_target *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode rc = msg->data.result;
        if (t && t->easy == msg->easy_handle)
            scrape_finish(s, t, rc);
    }
}

/* Starts every target that is due; the next slot goes back into the heap. */
static void scrape_start_due(struct scraper *s, int64_t now)
{
    struct heap_node *top;
    while ((top = heap_top(&s->due)) && top->key <= now) {
        struct scrape_target *t = (struct scrape_target *)top; /* node is the first member */
        int64_t due = top->key;
        /* Still busy with the previous slot (timeout == interval and a slow
         * sink): this slot is skipped rather than piling up. */
        if (!t->easy && scrape_start_transfer(s, t) < 0) {
            pthread_mutex_lock(&s->mu);
            t->health = HEALTH_DOWN;
            snprintf(t->last_error, sizeof(t->last_error),
                     "the request could not be started (out of memory?)");
            t->last_scrape_ms = clock_now_ms();
            t->last_duration_s = 0;
            pthread_mutex_unlock(&s->mu);
        }
        if (heap_set(&s->due, &t->node, scrape_next_due_ms(due, t->set.interval_ms, now)) < 0)
            heap_remove(&s->due, &t->node);
    }
}

/* When t, new or with a new interval, is first due (monotonic ms). */
static int64_t scrape_first_due_mono(const struct scrape_target *t)
{
    int64_t wall = clock_now_ms(), mono = scrape_mono_ms();
    return mono + scrape_first_due_ms(wall, t->set.offset_ms, t->set.interval_ms) - wall;
}

/* Moves the settings of n into the running target t (same key); n gets t's old ones. */
static void target_take_settings(struct scrape_target *t, struct scrape_target *n)
{
    struct target_settings tmp = t->set;
    t->set = n->set;
    n->set = tmp;
}

/*
 * Merges a new list into the running one. The thread calls it under s->mu,
 * since the list and the settings are what scraper_targets_json reads;
 * scraper_start calls it once before the thread exists. Consumes nl.
 */
static void scrape_merge(struct scraper *s, struct target_list *nl)
{
    struct target_list old = s->targets;
    struct strmap keep = {0};

    for (size_t i = 0; i < nl->n; i++) {
        struct scrape_target *n = nl->v[i];
        struct scrape_target *t = strmap_get(&s->by_key, n->key);
        if (t) {
            int64_t old_interval = t->set.interval_ms;
            target_take_settings(t, n);
            target_free(n);
            nl->v[i] = t;
            if (t->set.interval_ms != old_interval &&
                heap_set(&s->due, &t->node, scrape_first_due_mono(t)) < 0)
                heap_remove(&s->due, &t->node);
        } else {
            if (strmap_put(&s->by_key, n->key, n) < 0 ||
                heap_set(&s->due, &n->node, scrape_first_due_mono(n)) < 0) {
                /* Out of memory: this target is left out until the next reload. */
                strmap_del(&s->by_key, n->key);
                heap_remove(&s->due, &n->node);
                target_free(n);
                nl->v[i] = NULL;
                continue;
            }
        }
        if (strmap_put(&keep, nl->v[i]->key, nl->v[i]) < 0)
            log_warn("msg=\"scrape: out of memory during reload\"");
    }
    /* Compact away the targets left out above. */
    size_t w = 0;
    for (size_t i = 0; i < nl->n; i++) {
        if (nl->v[i])
            nl->v[w++] = nl->v[i];
    }
    nl->n = w;

    for (size_t i = 0; i < old.n; i++) {
        struct scrape_target *t = old.v[i];
        if (strmap_get(&keep, t->key) == t)
            continue;
        scrape_abort_transfer(s, t);
        heap_remove(&s->due, &t->node);
        strmap_del(&s->by_key, t->key);
        target_free(t);
    }
    free(old.v);
    strmap_free(&keep);
    s->targets = *nl;
    nl->v = NULL;
    nl->n = 0;
}

static void *scrape_main(void *arg)
{
    struct scraper *s = arg;
    pthread_setname_np(pthread_self(), "tocsin-scrape");
    for (;;) {
        uint64_t v;
        if (read(s->evfd, &v, sizeof(v)) < 0) {
            /* EAGAIN: nothing was signalled since the last pass. */
        }
        pthread_mutex_lock(&s->mu);
        if (s->stopping) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        if (s->has_pending) {
            struct target_list nl = s->pending;
            s->pending = (struct target_list){0};
            s->has_pending = false;
            scrape_merge(s, &nl);
            s->gen_applied = s->gen_wanted;
            pthread_cond_broadcast(&s->applied_cv);
        }
        pthread_mutex_unlock(&s->mu);

        scrape_start_due(s, scrape_mono_ms());
        int running = 0;
        curl_multi_perform(s->multi, &running);
        scrape_reap(s);

        int64_t wait = SCRAPE_IDLE_WAIT_MS;
        struct heap_node *top = heap_top(&s->due);
        if (top) {
            int64_t d = top->key - scrape_mono_ms();
            wait = d < 0 ? 0 : d < wait ? d : wait;
        }
        struct curl_waitfd fds[1] = {{.fd = s->evfd, .events = CURL_WAIT_POLLIN}};
        curl_multi_poll(s->multi, fds, 1, (int)wait, NULL);
    }
    /* Abandon everything in flight; scraper_stop frees the targets. */
    for (size_t i = 0; i < s->targets.n; i++)
        scrape_abort_transfer(s, s->targets.v[i]);
    return NULL;
}

static void scrape_wake(struct scraper *s)
{
    uint64_t one = 1;
    if (write(s->evfd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already far from zero; the thread is awake. */
    }
}

struct scraper *scraper_start(const struct config *cfg, scrape_sink_fn sink, void *sink_ctx,
                              char *err, size_t errlen)
{
    struct scraper *s = calloc(1, sizeof(*s));
    bool mu = false, cv = false;
    if (!s) {
        snprintf(err, errlen, "scrape: out of memory");
        return NULL;
    }
    s->sink = sink;
    s->sink_ctx = sink_ctx;
    s->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    s->multi = curl_multi_init();
    if (s->evfd < 0 || !s->multi) {
        snprintf(err, errlen, "scrape: cannot set up: %s", strerror(errno));
        goto fail;
    }
    struct target_list first;
    if (target_list_build(cfg, &first) < 0) {
        snprintf(err, errlen, "scrape: out of memory");
        goto fail;
    }
    /* No thread yet: the first list goes in directly, so that the targets
     * show (as unknown) from the moment scraper_start returns. */
    scrape_merge(s, &first);
    if (!(mu = pthread_mutex_init(&s->mu, NULL) == 0) ||
        !(cv = pthread_cond_init(&s->applied_cv, NULL) == 0)) {
        snprintf(err, errlen, "scrape: cannot create a mutex");
        goto fail;
    }
    int rc = pthread_create(&s->thread, NULL, scrape_main, s);
    if (rc != 0) {
        snprintf(err, errlen, "scrape: cannot start the thread: %s", strerror(rc));
        goto fail;
    }
    return s;

fail:
    if (cv)
        pthread_cond_destroy(&s->applied_cv);
    if (mu)
        pthread_mutex_destroy(&s->mu);
    target_list_free(&s->targets);
    strmap_free(&s->by_key);
    heap_free(&s->due);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    if (s->evfd >= 0)
        close(s->evfd);
    free(s);
    return NULL;
}

void scraper_reload(struct scraper *s, const struct config *cfg)
{
    struct target_list nl;
    if (!s)
        return;
    if (target_list_build(cfg, &nl) < 0) {
        log_error("msg=\"scrape: out of memory; the scrape targets were not reloaded\"");
        return;
    }
    pthread_mutex_lock(&s->mu);
    /* A reload the thread has not merged yet is replaced by this one. */
    target_list_free(&s->pending);
    s->pending = nl;
    s->has_pending = true;
    uint64_t gen = ++s->gen_wanted;
    pthread_mutex_unlock(&s->mu);
    scrape_wake(s);

    /* Wait a little for the merge, so that the targets shown right after a
     * reload are the new ones; a sink call in progress may hold the thread
     * longer, and then the merge simply happens a bit later. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SCRAPE_RELOAD_WAIT_MS / 1000;
    until.tv_nsec += (long)(SCRAPE_RELOAD_WAIT_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (s->gen_applied < gen && !s->stopping) {
        if (pthread_cond_timedwait(&s->applied_cv, &s->mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&s->mu);
}

void scraper_stop(struct scraper *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->applied_cv);
    pthread_mutex_unlock(&s->mu);
    scrape_wake(s);
    pthread_join(s->thread, NULL);
    target_list_free(&s->pending);
    target_list_free(&s->targets);
    strmap_free(&s->by_key);
    heap_free(&s->due);
    curl_multi_cleanup(s->multi);
    close(s->evfd);
    pthread_cond_destroy(&s->applied_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The labels a target had before relabelling, as Prometheus shows them. */
static json_t *scrape_discovered(const struct scrape_target *t, const char *iv, const char *tmo)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "__address__", t->instance,
                     "__metrics_path__", t->set.path, "__scheme__", t->set.scheme,
                     "__scrape_interval__", iv, "__scrape_timeout__", tmo, "job", t->job);
}

json_t *scraper_targets_json(struct scraper *s)
{
    json_t *active = json_array();
    json_t *out = json_pack("{s:o, s:[]}", "activeTargets", active, "droppedTargets");
    if (!out || !s)
        return out;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->targets.n; i++) {
        const struct scrape_target *t = s->targets.v[i];
        char last[40], iv[32], tmo[32];
        if (t->last_scrape_ms)
            timefmt_format_rfc3339(t->last_scrape_ms, last, sizeof(last));
        else
            snprintf(last, sizeof(last), "0001-01-01T00:00:00Z");
        scrape_format_duration(t->set.interval_ms, iv, sizeof(iv));
        scrape_format_duration(t->set.timeout_ms, tmo, sizeof(tmo));
        json_t *disc = scrape_discovered(t, iv, tmo);
        json_t *o =
            json_pack("{s:o?, s:o?, s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:s}", "discoveredLabels",
                      disc, "labels", labels_to_json(&t->set.labels), "scrapePool", t->job,
                      "scrapeUrl", t->set.url, "health", scrape_health_names[t->health],
                      "lastError", t->last_error, "lastScrape", last, "lastScrapeDuration",
                      t->last_duration_s, "scrapeInterval", iv, "scrapeTimeout", tmo);
        if (o)
            json_array_append_new(active, o);
    }
    pthread_mutex_unlock(&s->mu);
    return out;
}
