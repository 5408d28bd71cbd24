/*
 * event_pace.c - sends Tocsin events at a fixed rate (open loop) for the
 * notification benchmark.
 *
 * Event i (0-based) is due at start + i/RATE. Each is one POST of one event
 * to /api/v1/events on 127.0.0.1:PORT over up to CONNS keep-alive
 * connections, one request in flight per connection, from one epoll thread
 * woken by a timerfd at each due time. Every event opens an incident of its
 * own:
 *
 *   {"labels": {"alertname": "NotifyBench", "bench": "PREFIX-i"},
 *    "dedup_key": "bench-PREFIX-i", "summary": "bench-PREFIX-i", "severity": "critical"}
 *
 * (the benchmark's route groups by the label "bench"; the summary becomes
 * the incident title, which the webhook sink finds again in the
 * notification). When every connection is busy at a due time the event waits
 * for the next free one; its send time is then later than its due time, and
 * that lag is reported.
 *
 * Writes one line per event to --out:
 *   token send_ns due_ns status resp_us
 * (CLOCK_REALTIME ns when the request had been written, the due time on the
 * same clock (0 for an event never sent), the HTTP status or 0 for a socket
 * error, a timeout or an event never sent, and the time to the answer in us),
 * and prints one line:
 *   RESULT sent=.. ok=.. non2xx=.. errors=.. secs=.. rate=.. lag_p99_ms=..
 *          lag_max_ms=.. resp_p50_ms=.. resp_p99_ms=.. resp_max_ms=.. pace_cpu_s=..
 * (errors: socket errors, timeouts and events never sent because they were
 * more than a second overdue when the sending time was over)
 * Bounded: sends for at most --duration s (<= 300), then waits at most
 * --timeout s for the answers still missing.
 *
 * Build: cc -O2 -Wall -Wextra -o event_pace event_pace.c
 * Usage: event_pace --port P --key KEY --rate R --duration S --out FILE
 *                   [--prefix m] [--conns 32] [--timeout 10]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define RESP_BUF  65536

struct event {
    int64_t send_ns, due_ns; /* CLOCK_REALTIME */
    int64_t send_mono;
    int status;
    int64_t resp_us;
};

struct conn {
    int fd;   /* -1 = closed */
    long cur; /* event in flight, -1 = idle */
    char req[1024];
    size_t req_len, req_off;
    char buf[RESP_BUF];
    size_t len;
};

static struct event *events;
static long n_events;
static struct conn *conns;
static int n_conns = 32;
static int *idle; /* stack of idle connection indexes */
static int n_idle;
static int port;
static const char *key, *prefix = "m";
static int ep;
static long n_done;

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int conn_open(struct conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A blocking connect to the loopback completes at once. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->cur = -1;
    c->len = 0;
    return 0;
}

/* Ends the request in flight on c (status 0 = error) and makes c idle again,
 * reconnecting when it was broken. */
static void conn_finish(struct conn *c, int status, bool broken)
{
    if (c->cur >= 0) {
        struct event *e = &events[c->cur];
        e->status = status;
        e->resp_us = (clock_ns(CLOCK_MONOTONIC) - e->send_mono) / 1000;
        c->cur = -1;
        n_done++;
    }
    if (broken && c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (c->fd < 0 && conn_open(c) != 0)
        return; /* stays closed; the other connections carry on */
    idle[n_idle++] = (int)(c - conns);
}

static int conn_write(struct conn *c)
{
    while (c->req_off < c->req_len) {
        ssize_t w = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                return 0;
            }
            return -1;
        }
        c->req_off += (size_t)w;
    }
    return 0;
}

static void send_event(struct conn *c, long i, int64_t due_real)
{
    char body[512];
    int bl = snprintf(body, sizeof(body),
                      "{\"labels\":{\"alertname\":\"NotifyBench\",\"bench\":\"%s-%ld\"},"
                      "\"dedup_key\":\"bench-%s-%ld\",\"summary\":\"bench-%s-%ld\","
                      "\"severity\":\"critical\"}",
                      prefix, i, prefix, i, prefix, i);
    c->req_len = (size_t)snprintf(c->req, sizeof(c->req),
                                  "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                  "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                                  "Content-Length: %d\r\n\r\n%s",
                                  port, key, bl, body);
    c->req_off = 0;
    c->cur = i;
    c->len = 0;
    struct event *e = &events[i];
    e->due_ns = due_real;
    e->send_mono = clock_ns(CLOCK_MONOTONIC);
    int rc = conn_write(c);
    e->send_ns = clock_ns(CLOCK_REALTIME);
    if (rc != 0)
        conn_finish(c, 0, true);
}

/* Parses the answer in c->buf once it is complete. */
static void conn_read(struct conn *c)
{
    for (;;) {
        if (c->len == sizeof(c->buf)) {
            conn_finish(c, 0, true);
            return;
        }
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_finish(c, 0, true);
            return;
        }
        if (r == 0) {
            conn_finish(c, 0, true);
            return;
        }
        c->len += (size_t)r;
    }
    if (c->cur < 0) {
        c->len = 0; /* nothing asked: ignore */
        return;
    }
    char *he = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!he)
        return;
    size_t hlen = (size_t)(he - c->buf) + 4;
    *he = 0;
    int status = 0;
    if (c->len < 12 || sscanf(c->buf, "HTTP/1.%*c %d", &status) != 1) {
        conn_finish(c, 0, true);
        return;
    }
    size_t clen = 0;
    bool close_after = false;
    for (char *p = strstr(c->buf, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, "Content-Length:", 15) == 0)
            clen = (size_t)strtoul(p + 17, NULL, 10);
        else if (strncasecmp(p + 2, "Connection: close", 17) == 0)
            close_after = true;
    }
    *he = '\r';
    if (c->len < hlen + clen)
        return;
    conn_finish(c, status, close_after);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(int64_t *v, long n, double p, int64_t unit_per_ms)
{
    if (n == 0)
        return 0;
    long k = (long)(p * (double)(n - 1) + 0.5);
    return (double)v[k] / (double)unit_per_ms;
}

int main(int argc, char **argv)
{
    double rate = 0, duration = 0, timeout = 10;
    const char *out = NULL;
    if (argc % 2 == 0)
        goto usage;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--key") == 0)
            key = v;
        else if (strcmp(a, "--rate") == 0)
            rate = atof(v);
        else if (strcmp(a, "--duration") == 0)
            duration = atof(v);
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--prefix") == 0)
            prefix = v;
        else if (strcmp(a, "--conns") == 0)
            n_conns = atoi(v);
        else if (strcmp(a, "--timeout") == 0)
            timeout = atof(v);
        else
            goto usage;
    }
    if (port <= 0 || port > 65535 || !key || !out || rate <= 0 || rate > 100000 || duration <= 0 ||
        duration > 300 || n_conns < 1 || n_conns > MAX_CONNS || timeout <= 0 || strlen(key) > 200 ||
        strlen(prefix) > 16)
        goto usage;

    signal(SIGPIPE, SIG_IGN);
    n_events = (long)(rate * duration + 0.5);
    if (n_events < 1)
        n_events = 1;
    events = calloc((size_t)n_events, sizeof(*events));
    conns = calloc((size_t)n_conns, sizeof(*conns));
    idle = calloc((size_t)n_conns, sizeof(*idle));
    if (!events || !conns || !idle) {
        fprintf(stderr, "event_pace: out of memory\n");
        return 2;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ep < 0 || tfd < 0) {
        perror("event_pace: epoll/timerfd");
        return 2;
    }
    struct epoll_event te = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &te);
    for (int i = 0; i < n_conns; i++) {
        conns[i].fd = -1;
        conns[i].cur = -1;
        if (conn_open(&conns[i]) != 0) {
            fprintf(stderr, "event_pace: cannot connect to 127.0.0.1:%d: %s\n", port,
                    strerror(errno));
            return 2;
        }
        idle[n_idle++] = i;
    }

    const double step_ns = 1e9 / rate;
    const int64_t start_mono = clock_ns(CLOCK_MONOTONIC) + 20000000;
    const int64_t start_real = clock_ns(CLOCK_REALTIME) + 20000000;
    const int64_t stop_send = start_mono + (int64_t)(duration * 1e9) + 1000000000;
    const int64_t deadline = start_mono + (int64_t)((duration + timeout) * 1e9);
    long next = 0;

    while (n_done < n_events) {
        int64_t now = clock_ns(CLOCK_MONOTONIC);
        if (now >= deadline)
            break;
        /* Events more than a second overdue at the end are never sent. */
        if (now >= stop_send && next < n_events) {
            n_done += n_events - next;
            next = n_events;
            if (n_done >= n_events)
                break;
        }
        while (next < n_events && n_idle > 0) {
            int64_t due = start_mono + (int64_t)((double)next * step_ns);
            if (due > now)
                break;
            struct conn *c = &conns[idle[--n_idle]];
            send_event(c, next, start_real + (int64_t)((double)next * step_ns));
            next++;
        }
        struct itimerspec its = {0};
        int64_t wake = deadline;
        if (next < n_events && n_idle > 0) {
            int64_t due = start_mono + (int64_t)((double)next * step_ns);
            if (due < wake)
                wake = due;
        }
        its.it_value.tv_sec = wake / 1000000000;
        its.it_value.tv_nsec = wake % 1000000000;
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);

        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR) {
            perror("event_pace: epoll_wait");
            return 2;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                uint64_t x;
                if (read(tfd, &x, sizeof(x)) < 0) {
                    /* spurious wake-up */
                }
                continue;
            }
            if (c->fd < 0)
                continue;
            if (evs[i].events & EPOLLOUT) {
                if (conn_write(c) != 0) {
                    conn_finish(c, 0, true);
                    continue;
                }
                if (c->req_off == c->req_len) {
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_read(c);
        }
    }
    const int64_t end_mono = clock_ns(CLOCK_MONOTONIC);

    FILE *f = fopen(out, "w");
    if (!f) {
        perror(out);
        return 2;
    }
    int64_t *lag = calloc((size_t)n_events, sizeof(int64_t));
    int64_t *resp = calloc((size_t)n_events, sizeof(int64_t));
    if (!lag || !resp) {
        fprintf(stderr, "event_pace: out of memory\n");
        return 2;
    }
    long sent = 0, ok = 0, non2xx = 0, errs = 0, n_resp = 0;
    int64_t first_send = 0, last_send = 0;
    for (long i = 0; i < n_events; i++) {
        struct event *e = &events[i];
        fprintf(f, "bench-%s-%ld %" PRId64 " %" PRId64 " %d %" PRId64 "\n", prefix, i, e->send_ns,
                e->due_ns, e->status, e->resp_us);
        if (e->due_ns == 0) {
            errs++;
            continue;
        }
        lag[sent++] = e->send_ns - e->due_ns;
        if (first_send == 0 || e->send_ns < first_send)
            first_send = e->send_ns;
        if (e->send_ns > last_send)
            last_send = e->send_ns;
        if (e->status >= 200 && e->status < 300) {
            ok++;
            resp[n_resp++] = e->resp_us;
        } else if (e->status > 0) {
            non2xx++;
        } else {
            errs++;
        }
    }
    if (fclose(f) != 0) {
        perror(out);
        return 2;
    }
    qsort(lag, (size_t)sent, sizeof(int64_t), cmp_i64);
    qsort(resp, (size_t)n_resp, sizeof(int64_t), cmp_i64);
    double secs = (double)(end_mono - start_mono) / 1e9;
    /* The rate reached: events sent over the span of their sends (one step more,
     * so that exactly R*D events over D s read as R). */
    double span = (double)(last_send - first_send) / 1e9 + 1.0 / rate;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("RESULT sent=%ld ok=%ld non2xx=%ld errors=%ld secs=%.2f rate=%.1f lag_p99_ms=%.2f "
           "lag_max_ms=%.2f resp_p50_ms=%.2f resp_p99_ms=%.2f resp_max_ms=%.2f pace_cpu_s=%.2f\n",
           sent, ok, non2xx, errs, secs, sent ? (double)sent / span : 0,
           pct_ms(lag, sent, 0.99, 1000000), sent ? (double)lag[sent - 1] / 1e6 : 0,
           pct_ms(resp, n_resp, 0.50, 1000), pct_ms(resp, n_resp, 0.99, 1000),
           n_resp ? (double)resp[n_resp - 1] / 1e3 : 0, cpu_s);
    return ok > 0 ? 0 : 1;

usage:
    fprintf(stderr, "usage: event_pace --port P --key KEY --rate R --duration S --out FILE "
                    "[--prefix m] [--conns 32] [--timeout 10]\n");
    return 2;
}
