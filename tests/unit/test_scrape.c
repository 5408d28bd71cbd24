/*
 * test_scrape.c - unit tests for src/metrics/scrape.c.
 *
 * The schedule arithmetic is tested as pure functions. The thread is tested
 * against real sockets: libmicrohttpd daemons on port 0 of the loopback
 * interface serve a metrics page, a page that echoes the request, a 500, a
 * slow page and two oversized bodies (with and without a Content-Length).
 * Jobs come from YAML through the configuration parser, with 200 ms
 * intervals, and a sink records every call. Waits are bounded and short.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/clock.h"
#include "config/config.h"
#include "metrics/scrape.h"
#include "metrics/scrape_int.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- The server ---- */

static struct MHD_Daemon *httpd, *httpd2;
static int port1, port2, closed_port;
static const char metrics_body[] = "# TYPE up_test gauge\nup_test 1\n";

#define BIG_BYTES 100000

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *body,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, mode);
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

struct echo {
    char buf[2048];
    size_t len;
};

static enum MHD_Result echo_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct echo *e = cls;
    int n = snprintf(e->buf + e->len, sizeof(e->buf) - e->len, "%s=%s;", key, value ? value : "");
    if (n > 0 && (size_t)n < sizeof(e->buf) - e->len)
        e->len += (size_t)n;
    return MHD_YES;
}

static ssize_t big_chunk(void *cls, uint64_t pos, char *buf, size_t max)
{
    if (pos >= BIG_BYTES)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = max < 1000 ? max : 1000;
    memset(buf, '#', n);
    return (ssize_t)n;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    if (strcmp(url, "/metrics") == 0)
        return reply(conn, 200, metrics_body, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/fail") == 0)
        return reply(conn, 500, "boom", MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/slow") == 0) {
        usleep(600 * 1000);
        return reply(conn, 200, metrics_body, MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/big") == 0) {
        static char big[BIG_BYTES + 1];
        if (!big[0])
            memset(big, '#', BIG_BYTES);
        return reply(conn, 200, big, MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/bigchunk") == 0) {
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, big_chunk, NULL, NULL);
        enum MHD_Result ret = MHD_queue_response(conn, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/echo") == 0) {
        static const char *const hdrs[] = {"Accept", "User-Agent",
                                           "X-Prometheus-Scrape-Timeout-Seconds", "Authorization",
                                           "Accept-Encoding"};
        struct echo e = {.len = 0};
        for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
            const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, hdrs[i]);
            echo_arg(&e, MHD_HEADER_KIND, hdrs[i], v);
            e.buf[e.len - 1] = '\n';
        }
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, echo_arg, &e);
        return reply(conn, 200, e.buf, MHD_RESPMEM_MUST_COPY);
    }
    return reply(conn, 404, "no such page", MHD_RESPMEM_PERSISTENT);
}

/* A thread per connection, so /slow holds up nobody else. With key and
 * cert (PEM), https. */
static struct MHD_Daemon *http_start_tls(int *port, const char *key, const char *cert)
{
    unsigned int flags =
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
    struct MHD_Daemon *d;
    if (key)
        d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handler, NULL,
                             MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT, cert,
                             MHD_OPTION_END);
    else
        d = MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL, MHD_OPTION_END);
    if (d)
        *port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return d;
}

static struct MHD_Daemon *http_start(int *port)
{
    return http_start_tls(port, NULL, NULL);
}

/* A port nobody listens on: bound, then closed. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    httpd = http_start(&port1);
    httpd2 = http_start(&port2);
    closed_port = free_port();
    return httpd && httpd2 && closed_port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    MHD_stop_daemon(httpd);
    MHD_stop_daemon(httpd2);
    curl_global_cleanup();
    return 0;
}

/* ---- The sink ---- */

struct rec {
    char job[64], instance[64];
    bool ok;
    char error[256];
    char body[2048];
    size_t body_len;
    char labels[512]; /* the target labels as compact JSON */
    char ctype[64];
    int64_t start_ms;
    double duration_s;
    bool honor_labels;
    size_t sample_limit;
};

#define MAX_RECS 512

static struct {
    pthread_mutex_t mu;
    struct rec r[MAX_RECS];
    int n;
    const char *fail_job; /* the sink answers -1 for this job */
} sink_state = {.mu = PTHREAD_MUTEX_INITIALIZER};

static long sink(void *ctx, const struct scrape_result *r, char *err, size_t errlen)
{
    if (ctx != &sink_state)
        abort(); /* cmocka's asserts belong to the test's thread */
    pthread_mutex_lock(&sink_state.mu);
    if (sink_state.n < MAX_RECS) {
        struct rec *x = &sink_state.r[sink_state.n++];
        memset(x, 0, sizeof(*x));
        snprintf(x->job, sizeof(x->job), "%s", r->job);
        snprintf(x->instance, sizeof(x->instance), "%s", r->instance);
        x->ok = r->ok;
        snprintf(x->error, sizeof(x->error), "%s", r->error ? r->error : "");
        x->body_len = r->body_len;
        if (r->ok)
            snprintf(x->body, sizeof(x->body), "%.*s", (int)r->body_len, r->body);
        json_t *l = labels_to_json(r->target_labels);
        char *s = json_dumps(l, JSON_COMPACT | JSON_SORT_KEYS);
        snprintf(x->labels, sizeof(x->labels), "%s", s ? s : "");
        free(s);
        json_decref(l);
        snprintf(x->ctype, sizeof(x->ctype), "%s", r->content_type ? r->content_type : "");
        x->start_ms = r->start_ms;
        x->duration_s = r->duration_s;
        x->honor_labels = r->honor_labels;
        x->sample_limit = r->sample_limit;
    }
    bool fail = sink_state.fail_job && strcmp(r->job, sink_state.fail_job) == 0;
    pthread_mutex_unlock(&sink_state.mu);
    if (fail) {
        snprintf(err, errlen, "parse error at line 1");
        return -1;
    }
    return r->ok ? 1 : 0;
}

static void sink_reset(void)
{
    pthread_mutex_lock(&sink_state.mu);
    sink_state.n = 0;
    sink_state.fail_job = NULL;
    pthread_mutex_unlock(&sink_state.mu);
}

/* Records of job (and instance, unless NULL), copied out; returns how many. */
static int recs_of(const char *job, const char *instance, struct rec *out, int max)
{
    int n = 0;
    pthread_mutex_lock(&sink_state.mu);
    for (int i = 0; i < sink_state.n; i++) {
        const struct rec *x = &sink_state.r[i];
        if (strcmp(x->job, job) == 0 && (!instance || strcmp(x->instance, instance) == 0)) {
            if (n < max)
                out[n] = *x;
            n++;
        }
    }
    pthread_mutex_unlock(&sink_state.mu);
    return n;
}

static int count_of(const char *job, const char *instance)
{
    return recs_of(job, instance, NULL, 0);
}

/* Waits up to ms for at least n records of job/instance; returns the count. */
static int wait_recs(const char *job, const char *instance, int n, int ms)
{
    int64_t until = clock_mono_us() / 1000 + ms;
    int got;
    while ((got = count_of(job, instance)) < n && clock_mono_us() / 1000 < until)
        usleep(5000);
    return got;
}

/* ---- Helpers ---- */

static struct config *load(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct config *load(const char *fmt, ...)
{
    char yaml[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(yaml, sizeof(yaml), fmt, ap);
    va_end(ap);
    struct cfg_errors errs = {0};
    struct config *cfg = config_load_buffer("t.yaml", yaml, strlen(yaml), &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "config: %s\n", errs.msgs[i]);
    cfg_errors_free(&errs);
    assert_non_null(cfg);
    return cfg;
}

static struct scraper *start(const struct config *cfg)
{
    char err[256] = "";
    struct scraper *s = scraper_start(cfg, sink, &sink_state, err, sizeof(err));
    if (!s)
        fprintf(stderr, "scraper_start: %s\n", err);
    assert_non_null(s);
    return s;
}

/* The active target of job/instance in scraper_targets_json, as a new reference. */
static json_t *target_json(struct scraper *s, const char *job, const char *instance)
{
    json_t *all = scraper_targets_json(s), *found = NULL, *t;
    size_t i;
    json_array_foreach(json_object_get(all, "activeTargets"), i, t)
    {
        json_t *l = json_object_get(t, "labels");
        if (strcmp(json_string_value(json_object_get(l, "job")), job) == 0 &&
            strcmp(json_string_value(json_object_get(l, "instance")), instance) == 0)
            found = json_incref(t);
    }
    json_decref(all);
    return found;
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "(none)";
}

/* Waits up to ms for a target's health to become want. */
static bool wait_health(struct scraper *s, const char *job, const char *instance, const char *want,
                        int ms)
{
    int64_t until = clock_mono_us() / 1000 + ms;
    for (;;) {
        json_t *t = target_json(s, job, instance);
        bool ok = t && strcmp(jstr(t, "health"), want) == 0;
        json_decref(t);
        if (ok)
            return true;
        if (clock_mono_us() / 1000 >= until)
            return false;
        usleep(5000);
    }
}

/* Distance of t from the phase offset within interval, circular. */
static int64_t phase_error(int64_t t, int64_t offset, int64_t interval)
{
    int64_t d = ((t - offset) % interval + interval) % interval;
    return d < interval - d ? d : interval - d;
}

/* ---- Pure functions ---- */

static void test_schedule_math(void **state)
{
    assert_int_equal(scrape_first_due_ms(1000, 300, 1000), 1300);
    assert_int_equal(scrape_first_due_ms(1300, 300, 1000), 1300);
    assert_int_equal(scrape_first_due_ms(1301, 300, 1000), 2300);
    assert_int_equal(scrape_first_due_ms(1500, 0, 1000), 2000);

    /* On time or a little late: previous due + interval, never later. */
    assert_int_equal(scrape_next_due_ms(1300, 1000, 1300), 2300);
    assert_int_equal(scrape_next_due_ms(1300, 1000, 2299), 2300);
    /* Held up for a whole interval or more: skip to the next slot of the phase. */
    assert_int_equal(scrape_next_due_ms(1300, 1000, 2300), 3300);
    assert_int_equal(scrape_next_due_ms(1300, 1000, 5850), 6300);

    /* Offsets are stable, inside the interval, and differ per target. */
    int64_t a = scrape_offset_ms("node", "10.0.0.1:9100", 15000);
    assert_int_equal(a, scrape_offset_ms("node", "10.0.0.1:9100", 15000));
    assert_true(a >= 0 && a < 15000);
    int distinct = 0;
    int64_t prev = -1;
    for (int i = 0; i < 20; i++) {
        char inst[32];
        snprintf(inst, sizeof(inst), "10.0.0.%d:9100", i);
        int64_t o = scrape_offset_ms("node", inst, 15000);
        assert_true(o >= 0 && o < 15000);
        distinct += o != prev;
        prev = o;
    }
    assert_true(distinct >= 18);

    char b[32];
    assert_string_equal(scrape_format_duration(15000, b, sizeof(b)), "15s");
    assert_string_equal(scrape_format_duration(90000, b, sizeof(b)), "1m30s");
    assert_string_equal(scrape_format_duration(200, b, sizeof(b)), "200ms");
    assert_string_equal(scrape_format_duration(3600000, b, sizeof(b)), "1h");
    assert_string_equal(scrape_format_duration(86400000, b, sizeof(b)), "1d");
    assert_string_equal(scrape_format_duration(8 * 86400000LL, b, sizeof(b)), "1w1d");
    assert_string_equal(scrape_format_duration(0, b, sizeof(b)), "0s");
}

/* ---- The thread ---- */

static void test_ok_body_and_labels(void **state)
{
    sink_reset();
    struct config *cfg = load("scrape:\n"
                              "  - job: ok\n"
                              "    targets: [\"127.0.0.1:%d\"]\n"
                              "    interval: 200ms\n"
                              "    labels: {site: berlin}\n"
                              "    honor_labels: true\n"
                              "    sample_limit: 7\n",
                              port1);
    char inst[32];
    snprintf(inst, sizeof(inst), "127.0.0.1:%d", port1);
    struct scraper *s = start(cfg);
    assert_true(wait_recs("ok", inst, 3, 2000) >= 3);

    struct rec r[3];
    recs_of("ok", inst, r, 3);
    assert_true(r[0].ok);
    assert_string_equal(r[0].error, "");
    assert_string_equal(r[0].body, metrics_body);
    assert_int_equal(r[0].body_len, strlen(metrics_body));
    char want[128];
    snprintf(want, sizeof(want), "{\"instance\":\"%s\",\"job\":\"ok\",\"site\":\"berlin\"}", inst);
    assert_string_equal(r[0].labels, want);
    assert_string_equal(r[0].ctype, "text/plain; version=0.0.4");
    assert_true(r[0].honor_labels);
    assert_int_equal(r[0].sample_limit, 7);
    assert_true(r[0].duration_s >= 0 && r[0].duration_s < 0.2);
    int64_t now = clock_now_ms();
    assert_true(r[0].start_ms > now - 3000 && r[0].start_ms <= now);

    /* Every 200 ms, on the target's phase. */
    int64_t off = scrape_offset_ms("ok", inst, 200);
    for (int i = 0; i < 3; i++)
        assert_true(phase_error(r[i].start_ms, off, 200) <= 40);
    assert_true(r[1].start_ms - r[0].start_ms >= 160 && r[1].start_ms - r[0].start_ms <= 240);
    assert_true(r[2].start_ms - r[1].start_ms >= 160 && r[2].start_ms - r[1].start_ms <= 240);

    assert_true(wait_health(s, "ok", inst, "up", 1000));
    scraper_stop(s);
    config_free(cfg);
}

static void test_request_headers_auth_params(void **state)
{
    sink_reset();
    setenv("TOCSIN_TEST_SCRAPE_BEARER", "s3cret-token", 1);
    struct config *cfg = load("scrape:\n"
                              "  - job: bearer\n"
                              "    targets: [\"127.0.0.1:%d\"]\n"
                              "    interval: 200ms\n"
                              "    timeout: 150ms\n"
                              "    metrics_path: /echo\n"
                              "    params: {module: [http_2xx, \"a b&c\"]}\n"
                              "    bearer_token: env:TOCSIN_TEST_SCRAPE_BEARER\n"
                              "  - job: basic\n"
                              "    targets: [\"127.0.0.1:%d\"]\n"
                              "    interval: 200ms\n"
                              "    metrics_path: /echo\n"
                              "    basic_auth: {username: prom, password: pw}\n",
                              port1, port1);
    unsetenv("TOCSIN_TEST_SCRAPE_BEARER");
    struct scraper *s = start(cfg);
    assert_true(wait_recs("bearer", NULL, 1, 2000) >= 1);
    assert_true(wait_recs("basic", NULL, 1, 2000) >= 1);
    scraper_stop(s);

    struct rec r;
    recs_of("bearer", NULL, &r, 1);
    assert_true(r.ok);
    static const char head[] = "Accept=application/openmetrics-text;version=1.0.0;q=0.5,text/plain;"
                               "version=0.0.4;q=0.3,*/*;q=0.1\n"
                               "User-Agent=Tocsin/" TOCSIN_VERSION "\n"
                               "X-Prometheus-Scrape-Timeout-Seconds=0.15\n"
                               "Authorization=Bearer s3cret-token\n"
                               "Accept-Encoding=";
    if (strncmp(r.body, head, strlen(head)) != 0)
        fprintf(stderr, "got: %s\n", r.body);
    assert_int_equal(strncmp(r.body, head, strlen(head)), 0);
    /* Whatever this libcurl decodes, gzip among it; then the parameters, escaped and decoded. */
    const char *enc = strstr(r.body, "Accept-Encoding=");
    assert_non_null(enc);
    assert_non_null(strstr(enc, "gzip"));
    assert_non_null(strstr(enc, "module=http_2xx;module=a b&c;"));

    recs_of("basic", NULL, &r, 1);
    /* base64("prom:pw") */
    assert_non_null(strstr(r.body, "Authorization=Basic cHJvbTpwdw==\n"));
    assert_non_null(strstr(r.body, "X-Prometheus-Scrape-Timeout-Seconds=0.2\n"));
    config_free(cfg);
}

static void test_failures(void **state)
{
    sink_reset();
    struct config *cfg = load("scrape:\n"
                              "  - {job: fail, targets: [\"127.0.0.1:%d\"], interval: 200ms,\n"
                              "     metrics_path: /fail}\n"
                              "  - {job: slow, targets: [\"127.0.0.1:%d\"], interval: 300ms,\n"
                              "     timeout: 200ms, metrics_path: /slow}\n"
                              "  - {job: big, targets: [\"127.0.0.1:%d\"], interval: 200ms,\n"
                              "     metrics_path: /big, body_limit: 2KiB}\n"
                              "  - {job: bigchunk, targets: [\"127.0.0.1:%d\"], interval: 200ms,\n"
                              "     metrics_path: /bigchunk, body_limit: 2KiB}\n"
                              "  - {job: refused, targets: [\"127.0.0.1:%d\"], interval: 200ms}\n"
                              "  - {job: notfound, targets: [\"127.0.0.1:%d\"], interval: 200ms,\n"
                              "     metrics_path: /nothing}\n"
                              "  - {job: sinkfail, targets: [\"127.0.0.1:%d\"], interval: 200ms}\n",
                              port1, port1, port1, port1, closed_port, port1, port1);
    pthread_mutex_lock(&sink_state.mu);
    sink_state.fail_job = "sinkfail";
    pthread_mutex_unlock(&sink_state.mu);
    struct scraper *s = start(cfg);
    static const struct {
        const char *job, *error;
    } want[] = {
        {"fail", "HTTP 500"},
        {"slow", "timeout after 200ms"},
        {"big", "body exceeds 2048 bytes"},
        {"bigchunk", "body exceeds 2048 bytes"},
        {"refused", "connection refused"},
        {"notfound", "HTTP 404"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct rec r;
        assert_true(wait_recs(want[i].job, NULL, 1, 2000) >= 1);
        recs_of(want[i].job, NULL, &r, 1);
        if (strcmp(r.error, want[i].error) != 0)
            fprintf(stderr, "%s: got \"%s\"\n", want[i].job, r.error);
        assert_false(r.ok);
        assert_string_equal(r.error, want[i].error);
        assert_int_equal(r.body_len, 0);
        if (strcmp(want[i].job, "slow") == 0)
            assert_true(r.duration_s >= 0.18 && r.duration_s < 0.5);

        char inst[32];
        snprintf(inst, sizeof(inst), "127.0.0.1:%d",
                 strcmp(want[i].job, "refused") == 0 ? closed_port : port1);
        assert_true(wait_health(s, want[i].job, inst, "down", 1000));
        json_t *t = target_json(s, want[i].job, inst);
        assert_string_equal(jstr(t, "lastError"), want[i].error);
        json_decref(t);
    }

    /* The body was fine, but the sink could not use it: down with its message. */
    char inst[32];
    snprintf(inst, sizeof(inst), "127.0.0.1:%d", port1);
    assert_true(wait_health(s, "sinkfail", inst, "down", 1000));
    json_t *t = target_json(s, "sinkfail", inst);
    assert_string_equal(jstr(t, "lastError"), "parse error at line 1");
    json_decref(t);
    struct rec r;
    recs_of("sinkfail", NULL, &r, 1);
    assert_true(r.ok);

    /* Stopping abandons the slow scrape in flight at once. */
    int64_t t0 = clock_mono_us();
    scraper_stop(s);
    assert_true(clock_mono_us() - t0 < 300000);
    config_free(cfg);
}

/* Two targets of one interval are scraped at their own offsets. */
static void test_spreading(void **state)
{
    sink_reset();
    char inst[32], ja[16] = "", jb[16] = "";
    snprintf(inst, sizeof(inst), "127.0.0.1:%d", port1);
    /* Two job names whose offsets are far enough apart to tell the scrapes apart. */
    for (int i = 0; i < 10 && !jb[0]; i++) {
        for (int k = i + 1; k < 10 && !jb[0]; k++) {
            char x[16], y[16];
            snprintf(x, sizeof(x), "spread-%d", i);
            snprintf(y, sizeof(y), "spread-%d", k);
            if (phase_error(scrape_offset_ms(x, inst, 400), scrape_offset_ms(y, inst, 400), 400) >
                100) {
                memcpy(ja, x, sizeof(ja));
                memcpy(jb, y, sizeof(jb));
            }
        }
    }
    assert_true(jb[0]);
    int64_t oa = scrape_offset_ms(ja, inst, 400), ob = scrape_offset_ms(jb, inst, 400);
    struct config *cfg = load("scrape:\n"
                              "  - {job: %s, targets: [\"%s\"], interval: 400ms}\n"
                              "  - {job: %s, targets: [\"%s\"], interval: 400ms}\n",
                              ja, inst, jb, inst);
    struct scraper *s = start(cfg);
    assert_true(wait_recs(ja, NULL, 2, 2000) >= 2);
    assert_true(wait_recs(jb, NULL, 2, 2000) >= 2);
    scraper_stop(s);
    config_free(cfg);

    struct rec a[2], b[2];
    recs_of(ja, NULL, a, 2);
    recs_of(jb, NULL, b, 2);
    for (int i = 0; i < 2; i++) {
        assert_true(phase_error(a[i].start_ms, oa, 400) <= 40);
        assert_true(phase_error(b[i].start_ms, ob, 400) <= 40);
    }
    assert_true(phase_error(a[0].start_ms - b[0].start_ms, oa - ob, 400) <= 40);
}

static void test_reload(void **state)
{
    sink_reset();
    char a[32], b[32];
    snprintf(a, sizeof(a), "127.0.0.1:%d", port1);
    snprintf(b, sizeof(b), "127.0.0.1:%d", port2);
    struct config *cfg1 = load("scrape:\n"
                               "  - {job: r, targets: [\"%s\", \"%s\"], interval: 200ms}\n",
                               a, b);
    struct scraper *s = start(cfg1);
    assert_true(wait_health(s, "r", a, "up", 2000));
    assert_true(wait_health(s, "r", b, "up", 2000));
    json_t *before = target_json(s, "r", a);
    char last_before[64];
    snprintf(last_before, sizeof(last_before), "%s", jstr(before, "lastScrape"));
    json_decref(before);

    /* b goes, job n comes, r gets a label; the old config is freed at once. */
    struct config *cfg2 =
        load("scrape:\n"
             "  - {job: r, targets: [\"%s\"], interval: 200ms, labels: {v: \"2\"}}\n"
             "  - {job: n, targets: [\"%s\"], interval: 200ms, metrics_path: /fail}\n",
             a, a);
    scraper_reload(s, cfg2);
    config_free(cfg1);
    int b_count = count_of("r", b);

    json_t *all = scraper_targets_json(s);
    json_t *active = json_object_get(all, "activeTargets");
    assert_int_equal(json_array_size(active), 2);
    assert_string_equal(jstr(json_array_get(active, 0), "scrapePool"), "r");
    assert_string_equal(jstr(json_array_get(active, 1), "scrapePool"), "n");
    json_decref(all);
    /* r/a kept its health and its last scrape (or a newer one). */
    json_t *t = target_json(s, "r", a);
    assert_string_equal(jstr(t, "health"), "up");
    assert_true(strcmp(jstr(t, "lastScrape"), last_before) >= 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "labels"), "v")), "2");
    json_decref(t);
    assert_null(target_json(s, "r", b));

    /* The new job is scraped; the removed target is not any more. */
    assert_true(wait_health(s, "n", a, "down", 2000));
    int n_r = count_of("r", a);
    assert_true(wait_recs("r", a, n_r + 2, 2000) >= n_r + 2);
    assert_int_equal(count_of("r", b), b_count);
    struct rec recs[MAX_RECS];
    int n = recs_of("r", a, recs, MAX_RECS);
    assert_string_equal(recs[n - 1].labels + strlen(recs[n - 1].labels) - 8, "\"v\":\"2\"}");
    /* And kept its phase across the reload. */
    int64_t off = scrape_offset_ms("r", a, 200);
    assert_true(phase_error(recs[n - 1].start_ms, off, 200) <= 40);

    /* Reloading with no jobs stops everything; the thread idles. */
    struct config *empty = load("listen: 127.0.0.1:1\n");
    scraper_reload(s, empty);
    config_free(cfg2);
    all = scraper_targets_json(s);
    assert_int_equal(json_array_size(json_object_get(all, "activeTargets")), 0);
    json_decref(all);
    scraper_stop(s);
    config_free(empty);
}

static void test_targets_json_shape(void **state)
{
    sink_reset();
    /* A job whose first scrape is far away, so the target is still unknown. */
    const char *jobs[] = {"shape-a", "shape-b", "shape-c", "shape-d", "shape-e"};
    const char *job = NULL;
    char inst[32];
    snprintf(inst, sizeof(inst), "127.0.0.1:%d", port1);
    for (size_t i = 0; i < 5 && !job; i++) {
        int64_t now = clock_now_ms();
        int64_t due = scrape_first_due_ms(now, scrape_offset_ms(jobs[i], inst, 3600000), 3600000);
        if (due - now > 60000)
            job = jobs[i];
    }
    assert_non_null(job);
    struct config *cfg = load("scrape:\n"
                              "  - job: %s\n"
                              "    targets: [\"%s\"]\n"
                              "    interval: 1h\n"
                              "    timeout: 90s\n"
                              "    scheme: https\n"
                              "    metrics_path: /m\n"
                              "    params: {x: y}\n"
                              "    labels: {site: berlin}\n",
                              job, inst);
    struct scraper *s = start(cfg);
    json_t *all = scraper_targets_json(s);
    char *text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
    char want[1024];
    snprintf(want, sizeof(want),
             "{\"activeTargets\":[{\"discoveredLabels\":{\"__address__\":\"%s\","
             "\"__metrics_path__\":\"/m\",\"__scheme__\":\"https\",\"__scrape_interval__\":\"1h\","
             "\"__scrape_timeout__\":\"1m30s\",\"job\":\"%s\"},\"health\":\"unknown\","
             "\"labels\":{\"instance\":\"%s\",\"job\":\"%s\",\"site\":\"berlin\"},"
             "\"lastError\":\"\",\"lastScrape\":\"0001-01-01T00:00:00Z\","
             "\"lastScrapeDuration\":0.0,\"scrapeInterval\":\"1h\",\"scrapePool\":\"%s\","
             "\"scrapeTimeout\":\"1m30s\",\"scrapeUrl\":\"https://%s/m?x=y\"}],"
             "\"droppedTargets\":[]}",
             inst, job, inst, job, job, inst);
    assert_string_equal(text, want);
    free(text);
    json_decref(all);
    scraper_stop(s);
    config_free(cfg);

    /* After a scrape: an RFC 3339 time and a duration in seconds. */
    cfg = load("scrape: [{job: shape, targets: [\"%s\"], interval: 200ms}]\n", inst);
    s = start(cfg);
    assert_true(wait_health(s, "shape", inst, "up", 2000));
    json_t *t = target_json(s, "shape", inst);
    const char *last = jstr(t, "lastScrape");
    assert_int_equal(strlen(last), 24);
    assert_int_equal(last[10], 'T');
    assert_int_equal(last[23], 'Z');
    double d = json_real_value(json_object_get(t, "lastScrapeDuration"));
    assert_true(d > 0 && d < 0.2);
    assert_string_equal(jstr(t, "scrapeTimeout"), "200ms");
    json_decref(t);
    scraper_stop(s);
    config_free(cfg);

    /* No jobs at all: an idle thread and empty lists. */
    cfg = load("listen: 127.0.0.1:1\n");
    s = start(cfg);
    all = scraper_targets_json(s);
    text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"activeTargets\":[],\"droppedTargets\":[]}");
    free(text);
    json_decref(all);
    scraper_stop(s);
    config_free(cfg);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = 0;
    return buf;
}

/* https with a self-signed certificate: accepted only with tls_skip_verify. */
static void test_https(void **state)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0 ||
        !MHD_is_feature_supported(MHD_FEATURE_TLS))
        skip();
    sink_reset();
    char dir[] = "/tmp/tocsin-scrape-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[512], kp[128], cp[128];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s/key.pem -out %s/cert.pem -days 5 -subj /CN=localhost >/dev/null 2>&1",
             dir, dir);
    int rc = system(cmd);
    snprintf(kp, sizeof(kp), "%s/key.pem", dir);
    snprintf(cp, sizeof(cp), "%s/cert.pem", dir);
    char *key = rc == 0 ? slurp(kp) : NULL;
    char *cert = rc == 0 ? slurp(cp) : NULL;
    unlink(kp);
    unlink(cp);
    rmdir(dir);
    assert_int_equal(rc, 0);
    assert_non_null(key);
    assert_non_null(cert);
    int port = 0;
    struct MHD_Daemon *d = http_start_tls(&port, key, cert);
    assert_non_null(d);

    struct config *cfg =
        load("scrape:\n"
             "  - {job: tls-skip, targets: [\"127.0.0.1:%d\"], interval: 200ms,\n"
             "     scheme: https, tls_skip_verify: true}\n"
             "  - {job: tls-verify, targets: [\"127.0.0.1:%d\"], interval: 200ms,\n"
             "     scheme: https}\n",
             port, port);
    struct scraper *s = start(cfg);
    int got_skip = wait_recs("tls-skip", NULL, 1, 3000);
    int got_verify = wait_recs("tls-verify", NULL, 1, 3000);
    scraper_stop(s);
    config_free(cfg);
    MHD_stop_daemon(d);
    free(key);
    free(cert);
    assert_true(got_skip >= 1);
    assert_true(got_verify >= 1);

    struct rec r;
    recs_of("tls-skip", NULL, &r, 1);
    assert_true(r.ok);
    assert_string_equal(r.body, metrics_body);
    recs_of("tls-verify", NULL, &r, 1);
    assert_false(r.ok);
    /* curl's words for the failed verification, whatever they are exactly. */
    assert_true(strlen(r.error) > 0);
    assert_null(strstr(r.error, "HTTP"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_math),
        cmocka_unit_test(test_ok_body_and_labels),
        cmocka_unit_test(test_request_headers_auth_params),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_spreading),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_targets_json_shape),
        cmocka_unit_test(test_https),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
