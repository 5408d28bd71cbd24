/*
 * test_probe.c - unit tests for src/checks/probe.c.
 *
 * Every probe goes to a server this test runs on the loopback interface: a
 * small threaded tcp listener (close at once, send a banner, echo, or stay
 * silent) and libmicrohttpd daemons on port 0 for http, and for https with a
 * self-signed certificate made by openssl when it is on PATH. Nothing leaves
 * the machine. The probe set is driven the way the scheduler drives it:
 * epoll_wait on probe_fd with probe_next_timeout, then probe_poll.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "checks/probe.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- collecting results ---- */

struct rec {
    intptr_t tag;
    int state;
    char out[600];
    int64_t exec_ms;
};

struct coll {
    struct rec *r; /* owned */
    int n, cap;
};

static void on_done(void *ctx, const struct probe_result *res)
{
    struct coll *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->r = realloc(c->r, (size_t)c->cap * sizeof(*c->r));
        assert_non_null(c->r);
    }
    struct rec *r = &c->r[c->n++];
    r->tag = (intptr_t)res->tag;
    r->state = res->state;
    r->exec_ms = res->exec_ms;
    size_t len = res->output_len < sizeof(r->out) - 1 ? res->output_len : sizeof(r->out) - 1;
    memcpy(r->out, res->output, len);
    r->out[len] = 0;
    /* A result is one line. */
    assert_null(memchr(res->output, '\n', res->output_len));
}

/* Runs the set until want results arrived or limit_ms passed. */
static void drive(struct probe_set *p, struct coll *c, int want, int64_t limit_ms)
{
    int64_t end = mono_ms() + limit_ms;
    while (c->n < want && mono_ms() < end) {
        int64_t to = probe_next_timeout(p, mono_ms());
        if (to < 0 || to > 50)
            to = 50;
        /* Every registration is level-triggered, so looking here does not
         * take the events away from probe_poll. */
        struct epoll_event ev[8];
        epoll_wait(probe_fd(p), ev, 8, (int)to);
        probe_poll(p, mono_ms(), on_done, c);
    }
}

/* Starts one tcp probe, runs it to the end and returns its result. */
static struct rec run_tcp(const struct probe_tcp_spec *spec)
{
    struct probe_set *p = probe_new();
    assert_non_null(p);
    struct coll c = {0};
    assert_int_equal(probe_start_tcp(p, spec, (void *)(intptr_t)42, mono_ms()), 0);
    drive(p, &c, 1, 10000);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.r[0].tag, 42);
    assert_int_equal(probe_active(p), 0);
    struct rec r = c.r[0];
    free(c.r);
    probe_free(p);
    return r;
}

static struct rec run_http(const struct probe_http_spec *spec)
{
    struct probe_set *p = probe_new();
    assert_non_null(p);
    struct coll c = {0};
    assert_int_equal(probe_start_http(p, spec, (void *)(intptr_t)7, mono_ms()), 0);
    drive(p, &c, 1, 10000);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.r[0].tag, 7);
    assert_int_equal(probe_active(p), 0);
    struct rec r = c.r[0];
    free(c.r);
    probe_free(p);
    return r;
}

#define assert_has(hay, needle)                                                                    \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            fail_msg("\"%s\" not in \"%s\"", (needle), (hay));                                     \
    } while (0)

#define assert_prefix(s, prefix)                                                                   \
    do {                                                                                           \
        if (strncmp((s), (prefix), strlen(prefix)) != 0)                                           \
            fail_msg("\"%s\" does not start with \"%s\"", (s), (prefix));                          \
    } while (0)

/* ---- a tcp listener ---- */

enum srv_mode { SRV_CLOSE, SRV_BANNER, SRV_ECHO, SRV_SILENT };

struct tcp_srv {
    int fd;
    int port;
    enum srv_mode mode;
    const char *banner; /* borrowed */
    pthread_t thread;
};

static void *tcp_srv_main(void *arg)
{
    struct tcp_srv *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break; /* shut down */
        }
        char buf[512];
        ssize_t n;
        switch (s->mode) {
        case SRV_CLOSE:
            break;
        case SRV_BANNER:
            send(c, s->banner, strlen(s->banner), MSG_NOSIGNAL);
            break;
        case SRV_ECHO:
            n = recv(c, buf, sizeof(buf), 0);
            if (n > 0)
                send(c, buf, (size_t)n, MSG_NOSIGNAL);
            break;
        case SRV_SILENT:
            /* Say nothing until the prober gives up and closes. */
            while (recv(c, buf, sizeof(buf), 0) > 0)
                ;
            break;
        }
        close(c);
    }
    return NULL;
}

/* Listens on the loopback address of family (AF_INET or AF_INET6). Returns
 * -1 when that family is not available here. */
static int tcp_srv_start(struct tcp_srv *s, int family, enum srv_mode mode, const char *banner)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->banner = banner;
    s->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -1;
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof(*a);
    }
    if (bind(s->fd, (struct sockaddr *)&ss, len) != 0 || listen(s->fd, 1024) != 0) {
        close(s->fd);
        return -1;
    }
    len = sizeof(ss);
    getsockname(s->fd, (struct sockaddr *)&ss, &len);
    s->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                      : ((struct sockaddr_in6 *)&ss)->sin6_port);
    assert_int_equal(pthread_create(&s->thread, NULL, tcp_srv_main, s), 0);
    return 0;
}

static void tcp_srv_stop(struct tcp_srv *s)
{
    /* shutdown wakes the thread blocked in accept. */
    shutdown(s->fd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* A loopback port nothing listens on: bound, then closed. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- tcp tests ---- */

static void test_tcp_ok(void **state)
{
    struct tcp_srv s;
    assert_int_equal(tcp_srv_start(&s, AF_INET, SRV_CLOSE, NULL), 0);
    struct probe_tcp_spec spec = {.host = "127.0.0.1", .port = s.port, .timeout_ms = 2000};
    struct rec r = run_tcp(&spec);
    assert_int_equal(r.state, 0);
    assert_prefix(r.out, "TCP OK - ");
    char want[64];
    snprintf(want, sizeof(want), " second response time on 127.0.0.1 port %d|time=", s.port);
    assert_has(r.out, want);
    assert_has(r.out, "s;;;0.000000;2.000000");

    /* Thresholds appear in the perfdata, and a slow answer (any answer is
     * slower than a nanosecond) trips them. */
    spec.warn_s = 0.000000001;
    r = run_tcp(&spec);
    assert_int_equal(r.state, 1);
    assert_prefix(r.out, "TCP WARNING - ");
    assert_has(r.out, "s;0.000000;;0.000000;2.000000");
    spec.crit_s = 0.000000001;
    r = run_tcp(&spec);
    assert_int_equal(r.state, 2);
    tcp_srv_stop(&s);
}

static void test_tcp_ipv6_and_name(void **state)
{
    struct tcp_srv s;
    if (tcp_srv_start(&s, AF_INET6, SRV_CLOSE, NULL) != 0) {
        skip(); /* no IPv6 loopback here */
    }
    struct probe_tcp_spec spec = {.host = "::1", .port = s.port, .timeout_ms = 2000};
    struct rec r = run_tcp(&spec);
    assert_int_equal(r.state, 0);
    assert_has(r.out, "on ::1 port");
    tcp_srv_stop(&s);

    /* A name goes through getaddrinfo; serve on the family it answers
     * first, since the probe uses the first address. */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *res = NULL;
    if (getaddrinfo("localhost", NULL, &hints, &res) != 0)
        return;
    int family = res->ai_family;
    freeaddrinfo(res);
    assert_int_equal(tcp_srv_start(&s, family, SRV_CLOSE, NULL), 0);
    spec.host = "localhost";
    spec.port = s.port;
    r = run_tcp(&spec);
    assert_int_equal(r.state, 0);
    assert_has(r.out, "on localhost port");
    tcp_srv_stop(&s);
}

static void test_tcp_refused(void **state)
{
    struct probe_tcp_spec spec = {.host = "127.0.0.1", .port = closed_port(), .timeout_ms = 2000};
    struct rec r = run_tcp(&spec);
    assert_int_equal(r.state, 2);
    assert_string_equal(r.out, "TCP CRITICAL - Connection refused");
}

static void test_tcp_invalid_spec(void **state)
{
    /* A bad spec is a result, delivered by the next poll, not by start. */
    struct probe_set *p = probe_new();
    struct coll c = {0};
    struct probe_tcp_spec spec = {.host = "127.0.0.1", .port = 0, .timeout_ms = 2000};
    assert_int_equal(probe_start_tcp(p, &spec, (void *)(intptr_t)5, mono_ms()), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(probe_active(p), 1);
    assert_int_equal(probe_next_timeout(p, mono_ms()), 0);
    assert_int_equal(probe_poll(p, mono_ms(), on_done, &c), 1);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.r[0].tag, 5);
    assert_int_equal(c.r[0].state, 3);
    assert_prefix(c.r[0].out, "TCP UNKNOWN - ");
    assert_int_equal(probe_active(p), 0);
    assert_int_equal(probe_next_timeout(p, mono_ms()), -1);
    free(c.r);
    probe_free(p);
}

static void test_tcp_send_expect(void **state)
{
    struct tcp_srv s;
    assert_int_equal(tcp_srv_start(&s, AF_INET, SRV_ECHO, NULL), 0);
    struct probe_tcp_spec spec = {.host = "127.0.0.1",
                                  .port = s.port,
                                  .send = "PING tocsin\r\n",
                                  .expect = "tocsin",
                                  .timeout_ms = 2000};
    struct rec r = run_tcp(&spec);
    assert_int_equal(r.state, 0);
    assert_prefix(r.out, "TCP OK - ");
    tcp_srv_stop(&s);

    assert_int_equal(tcp_srv_start(&s, AF_INET, SRV_BANNER, "SSH-2.0-OpenSSH_9.2\r\n"), 0);
    spec = (struct probe_tcp_spec){
        .host = "127.0.0.1", .port = s.port, .expect = "SSH-", .timeout_ms = 2000};
    r = run_tcp(&spec);
    assert_int_equal(r.state, 0);
    tcp_srv_stop(&s);
}

static void test_tcp_expect_mismatch(void **state)
{
    struct tcp_srv s;
    assert_int_equal(tcp_srv_start(&s, AF_INET, SRV_BANNER, "220 smtp | ready\r\n"), 0);
    struct probe_tcp_spec spec = {
        .host = "127.0.0.1", .port = s.port, .expect = "SSH-", .timeout_ms = 2000};
    struct rec r = run_tcp(&spec);
    assert_int_equal(r.state, 1);
    assert_prefix(r.out, "TCP WARNING - unexpected response from 127.0.0.1 port");
    /* The reply is shown without its line end, and its '|' cannot start
     * perfdata: the only '|' is the one before time=. */
    assert_has(r.out, "\"220 smtp . ready..\"|time=");
    tcp_srv_stop(&s);

    /* A server that closes without a word. */
    assert_int_equal(tcp_srv_start(&s, AF_INET, SRV_CLOSE, NULL), 0);
    spec.port = s.port;
    r = run_tcp(&spec);
    assert_int_equal(r.state, 1);
    assert_prefix(r.out, "TCP WARNING - no data received from 127.0.0.1");
    tcp_srv_stop(&s);
}

static void test_tcp_timeout(void **state)
{
    struct tcp_srv s;
    assert_int_equal(tcp_srv_start(&s, AF_INET, SRV_SILENT, NULL), 0);
    struct probe_tcp_spec spec = {
        .host = "127.0.0.1", .port = s.port, .expect = "hello", .timeout_ms = 300};
    int64_t t0 = mono_ms();
    struct rec r = run_tcp(&spec);
    int64_t took = mono_ms() - t0;
    assert_int_equal(r.state, 2);
    assert_string_equal(r.out, "TCP CRITICAL - timed out after 0.3 s");
    assert_true(took >= 300);
    assert_true(took < 2000);
    tcp_srv_stop(&s);
}

static void test_tcp_many(void **state)
{
    enum { N = 500 };
    struct tcp_srv s;
    assert_int_equal(tcp_srv_start(&s, AF_INET, SRV_CLOSE, NULL), 0);
    struct probe_set *p = probe_new();
    struct coll c = {0};
    struct probe_tcp_spec spec = {.host = "127.0.0.1", .port = s.port, .timeout_ms = 5000};
    for (intptr_t i = 0; i < N; i++)
        assert_int_equal(probe_start_tcp(p, &spec, (void *)i, mono_ms()), 0);
    assert_int_equal(probe_active(p), N);
    drive(p, &c, N, 20000);
    assert_int_equal(c.n, N);
    static bool seen[N];
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < c.n; i++) {
        assert_true(c.r[i].tag >= 0 && c.r[i].tag < N);
        assert_false(seen[c.r[i].tag]);
        seen[c.r[i].tag] = true;
        if (c.r[i].state != 0)
            fail_msg("probe %ld: %s", (long)c.r[i].tag, c.r[i].out);
    }
    assert_int_equal(probe_active(p), 0);

    /* Slots are reused: a second wave from the done callback's point of
     * view is simply more probes on the same set. */
    c.n = 0;
    for (intptr_t i = 0; i < N; i++)
        assert_int_equal(probe_start_tcp(p, &spec, (void *)i, mono_ms()), 0);
    drive(p, &c, N, 20000);
    assert_int_equal(c.n, N);
    free(c.r);
    probe_free(p);
    tcp_srv_stop(&s);
}

static void test_free_in_flight(void **state)
{
    /* probe_free with probes of both kinds in flight: no callbacks, no
     * leaks (ASan checks the latter). */
    struct tcp_srv s;
    assert_int_equal(tcp_srv_start(&s, AF_INET, SRV_SILENT, NULL), 0);
    struct probe_set *p = probe_new();
    struct probe_tcp_spec t = {
        .host = "127.0.0.1", .port = s.port, .expect = "x", .timeout_ms = 5000};
    assert_int_equal(probe_start_tcp(p, &t, NULL, mono_ms()), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    struct probe_http_spec h = {.url = url, .timeout_ms = 5000};
    assert_int_equal(probe_start_http(p, &h, NULL, mono_ms()), 0);
    struct coll c = {0};
    for (int i = 0; i < 5; i++)
        probe_poll(p, mono_ms(), on_done, &c);
    assert_int_equal(c.n, 0);
    assert_int_equal(probe_active(p), 2);
    probe_free(p);
    tcp_srv_stop(&s);
}

/* ---- http ---- */

static struct MHD_Daemon *httpd;
static int http_port;
static const char ok_body[] = "hello from tocsin";

static enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned int status,
                                  const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    if (strcmp(url, "/ok") == 0)
        return http_reply(conn, 200, ok_body);
    if (strcmp(url, "/fail") == 0)
        return http_reply(conn, 500, "boom");
    if (strcmp(url, "/slow") == 0) {
        usleep(1000 * 1000);
        return http_reply(conn, 200, "late");
    }
    return http_reply(conn, 404, "no such page");
}

/* A thread per connection, so /slow holds up nobody else. */
static struct MHD_Daemon *http_start(unsigned int extra_flags, int *port, const char *key,
                                     const char *cert)
{
    unsigned int flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_THREAD_PER_CONNECTION | extra_flags;
    struct MHD_Daemon *d;
    if (key)
        d = MHD_start_daemon(flags, 0, NULL, NULL, http_handler, NULL, MHD_OPTION_HTTPS_MEM_KEY,
                             key, MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
    else
        d = MHD_start_daemon(flags, 0, NULL, NULL, http_handler, NULL, MHD_OPTION_END);
    if (d)
        *port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return d;
}

static int http_setup(void **state)
{
    httpd = http_start(0, &http_port, NULL, NULL);
    return httpd ? 0 : -1;
}

static int http_teardown(void **state)
{
    MHD_stop_daemon(httpd);
    return 0;
}

static struct probe_http_spec http_spec(char *url, size_t len, const char *path)
{
    snprintf(url, len, "http://127.0.0.1:%d%s", http_port, path);
    return (struct probe_http_spec){.url = url, .timeout_ms = 3000};
}

static void test_http_ok(void **state)
{
    char url[128];
    struct probe_http_spec spec = http_spec(url, sizeof(url), "/ok");
    struct rec r = run_http(&spec);
    assert_int_equal(r.state, 0);
    assert_prefix(r.out, "HTTP OK: HTTP/1.1 200 OK - 17 bytes in ");
    assert_has(r.out, " second response time |time=");
    assert_has(r.out, "s;;;0.000000 size=17B;;;0");

    spec.method = "HEAD";
    r = run_http(&spec);
    assert_int_equal(r.state, 0);
    assert_prefix(r.out, "HTTP OK: HTTP/1.1 200 OK - 0 bytes");

    spec.method = NULL;
    spec.warn_s = 0.000000001;
    spec.crit_s = 5;
    r = run_http(&spec);
    assert_int_equal(r.state, 1);
    assert_prefix(r.out, "HTTP WARNING: HTTP/1.1 200 OK - 17 bytes");
    assert_has(r.out, "s;0.000000;5.000000;0.000000 size=17B;;;0");
}

static void test_http_status(void **state)
{
    char url[128];
    struct probe_http_spec spec = http_spec(url, sizeof(url), "/ok");
    spec.expect_status = 404;
    struct rec r = run_http(&spec);
    assert_int_equal(r.state, 2);
    assert_prefix(r.out, "HTTP CRITICAL: HTTP/1.1 200 OK (expected 404) - 17 bytes");

    spec = http_spec(url, sizeof(url), "/notfound");
    spec.expect_status = 404;
    r = run_http(&spec);
    assert_int_equal(r.state, 0);
    assert_prefix(r.out, "HTTP OK: HTTP/1.1 404 Not Found - ");

    /* Without an expectation a 4xx is a warning and a 5xx critical. */
    spec.expect_status = 0;
    r = run_http(&spec);
    assert_int_equal(r.state, 1);
    assert_prefix(r.out, "HTTP WARNING: HTTP/1.1 404 Not Found - 12 bytes");

    spec = http_spec(url, sizeof(url), "/fail");
    r = run_http(&spec);
    assert_int_equal(r.state, 2);
    assert_prefix(r.out, "HTTP CRITICAL: HTTP/1.1 500 Internal Server Error - 4 bytes");
    assert_has(r.out, "|time=");
}

static void test_http_regex(void **state)
{
    char url[128];
    struct probe_http_spec spec = http_spec(url, sizeof(url), "/ok");
    spec.body_regex = "hel+o (from|to) tocsin$";
    struct rec r = run_http(&spec);
    assert_int_equal(r.state, 0);
    assert_prefix(r.out, "HTTP OK: ");

    spec.body_regex = "^goodbye";
    r = run_http(&spec);
    assert_int_equal(r.state, 2);
    assert_prefix(r.out, "HTTP CRITICAL - pattern not found |time=");
    assert_has(r.out, "size=17B;;;0");

    /* Only max_body bytes are matched: "tocsin" lies beyond the first 5. */
    spec.body_regex = "tocsin";
    spec.max_body = 5;
    r = run_http(&spec);
    assert_int_equal(r.state, 2);
    spec.body_regex = "^hello$";
    r = run_http(&spec);
    assert_int_equal(r.state, 0);

    spec.body_regex = "(unclosed";
    r = run_http(&spec);
    assert_int_equal(r.state, 3);
    assert_prefix(r.out, "HTTP UNKNOWN - invalid body regex");
}

static void test_http_timeout(void **state)
{
    char url[128];
    struct probe_http_spec spec = http_spec(url, sizeof(url), "/slow");
    spec.timeout_ms = 300;
    int64_t t0 = mono_ms();
    struct rec r = run_http(&spec);
    int64_t took = mono_ms() - t0;
    assert_int_equal(r.state, 2);
    assert_string_equal(r.out, "HTTP CRITICAL - timed out after 0.3 s");
    assert_true(took >= 290);
    assert_true(took < 900);
}

static void test_http_bad_url_and_refused(void **state)
{
    struct probe_http_spec spec = {.url = "ftp://127.0.0.1/file", .timeout_ms = 1000};
    struct rec r = run_http(&spec);
    assert_int_equal(r.state, 3);
    assert_prefix(r.out, "HTTP UNKNOWN - unsupported URL scheme");

    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
    spec.url = url;
    r = run_http(&spec);
    assert_int_equal(r.state, 2);
    assert_string_equal(r.out, "HTTP CRITICAL: connection refused");
}

static void test_mixed_many(void **state)
{
    /* http and tcp probes interleaved on one set, each result with its own
     * tag and the right verdict. */
    enum { N = 200 };
    struct tcp_srv s;
    assert_int_equal(tcp_srv_start(&s, AF_INET, SRV_BANNER, "+OK ready\r\n"), 0);
    struct probe_set *p = probe_new();
    struct coll c = {0};
    char ok[128], fail[128];
    struct probe_http_spec hok = http_spec(ok, sizeof(ok), "/ok");
    struct probe_http_spec hfail = http_spec(fail, sizeof(fail), "/fail");
    struct probe_tcp_spec t = {
        .host = "127.0.0.1", .port = s.port, .expect = "+OK", .timeout_ms = 5000};
    for (intptr_t i = 0; i < N; i++) {
        int rc;
        if (i % 4 == 0)
            rc = probe_start_http(p, &hok, (void *)i, mono_ms());
        else if (i % 4 == 1)
            rc = probe_start_http(p, &hfail, (void *)i, mono_ms());
        else
            rc = probe_start_tcp(p, &t, (void *)i, mono_ms());
        assert_int_equal(rc, 0);
    }
    drive(p, &c, N, 30000);
    assert_int_equal(c.n, N);
    for (int i = 0; i < c.n; i++) {
        intptr_t tag = c.r[i].tag;
        int want = tag % 4 == 1 ? 2 : 0;
        if (c.r[i].state != want)
            fail_msg("probe %ld: state %d: %s", (long)tag, c.r[i].state, c.r[i].out);
        assert_prefix(c.r[i].out, tag % 4 < 2 ? "HTTP " : "TCP ");
    }
    free(c.r);
    probe_free(p);
    tcp_srv_stop(&s);
}

/* ---- https certificate expiry ---- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_https_cert_days(void **state)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0 ||
        !MHD_is_feature_supported(MHD_FEATURE_TLS))
        skip();
    char dir[] = "/tmp/tocsin-probe-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s/key.pem -out %s/cert.pem -days 5 -subj /CN=localhost >/dev/null 2>&1",
             dir, dir);
    int rc = system(cmd);
    char kp[128], cp[128];
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
    struct MHD_Daemon *d = http_start(MHD_USE_TLS, &port, key, cert);
    assert_non_null(d);
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/ok", port);
    struct probe_http_spec spec = {
        .url = url, .timeout_ms = 5000, .verify_tls = false, .cert_crit_days = 7};
    struct rec r = run_http(&spec);
    assert_int_equal(r.state, 2);
    assert_prefix(r.out, "HTTP CRITICAL - certificate expires in ");
    if (!strstr(r.out, "cert_days=4;") && !strstr(r.out, "cert_days=5;"))
        fail_msg("no cert_days=4 or 5 in %s", r.out);
    assert_has(r.out, ";;7:;0");

    spec.cert_crit_days = 2;
    spec.cert_warn_days = 30;
    r = run_http(&spec);
    assert_int_equal(r.state, 1);
    assert_has(r.out, ";30:;2:;0");

    spec.cert_warn_days = 3;
    r = run_http(&spec);
    assert_int_equal(r.state, 0);
    assert_prefix(r.out, "HTTP OK: HTTP/1.1 200 OK - 17 bytes");

    /* With verification on, a self-signed certificate fails the handshake. */
    spec.verify_tls = true;
    r = run_http(&spec);
    assert_int_equal(r.state, 2);
    assert_prefix(r.out, "HTTP CRITICAL: ");

    MHD_stop_daemon(d);
    free(key);
    free(cert);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_ok),          cmocka_unit_test(test_tcp_ipv6_and_name),
        cmocka_unit_test(test_tcp_refused),     cmocka_unit_test(test_tcp_invalid_spec),
        cmocka_unit_test(test_tcp_send_expect), cmocka_unit_test(test_tcp_expect_mismatch),
        cmocka_unit_test(test_tcp_timeout),     cmocka_unit_test(test_tcp_many),
        cmocka_unit_test(test_free_in_flight),  cmocka_unit_test(test_http_ok),
        cmocka_unit_test(test_http_status),     cmocka_unit_test(test_http_regex),
        cmocka_unit_test(test_http_timeout),    cmocka_unit_test(test_http_bad_url_and_refused),
        cmocka_unit_test(test_mixed_many),      cmocka_unit_test(test_https_cert_days),
    };
    int failed = cmocka_run_group_tests(tests, http_setup, http_teardown);
    curl_global_cleanup();
    return failed;
}
