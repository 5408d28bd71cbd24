/*
 * loadgen.c - a small HTTP/1.1 load generator for alert intake benchmarks.
 *
 * It posts Alertmanager API v2 postable alerts (a JSON array of BATCH alerts
 * per request) over N keep-alive connections to one 127.0.0.1 URL, either as
 * fast as the server answers (closed loop, --rate 0, what wrk does) or at a
 * fixed request rate (open loop, --rate R). In open-loop mode request i is due
 * at start + i/R and its latency is measured from that due time, not from the
 * moment a connection was free to send it, so a stalled server is charged for
 * every request it delayed (no coordinated omission, as in wrk2).
 *
 * UNIQUE_PCT percent of the alerts carry a label set never sent before; the
 * rest are drawn from a pool of POOL repeated label sets (deduplicated by the
 * receiver). One thread, epoll, one request in flight per connection.
 *
 * Prints one line:
 *   RESULT requests=.. ok=.. non2xx=.. s503=.. sock_err=.. secs=.. req_s=..
 *          alerts_s=.. p50_ms=.. p90_ms=.. p99_ms=.. p999_ms=.. max_ms=..
 * where alerts_s counts only alerts of 2xx answers. Bounded: it stops after
 * --duration seconds (at most 120) and then waits at most --timeout for
 * requests in flight, which are counted as errors.
 *
 * Build: gcc -O2 -Wall -Wextra -o loadgen loadgen.c
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define RESP_BUF  65536

/* ---- latency histogram: log-linear buckets over microseconds, ~1.6% wide ---- */

#define HIST_SUB    64 /* sub-buckets per power of two */
#define HIST_POWERS 40 /* up to 2^40 us, far beyond any bound */

struct hist {
    uint64_t b[HIST_POWERS * HIST_SUB];
    uint64_t n;
    uint64_t max;
};

static size_t hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (size_t)v;
    int msb = 63 - __builtin_clzll(v);                       /* >= 6 */
    uint64_t sub = (v >> (msb - 6)) & (HIST_SUB - 1);        /* next 6 bits */
    size_t idx = (size_t)(msb - 5) * HIST_SUB + (size_t)sub; /* power 6 -> row 1 */
    if (idx >= HIST_POWERS * HIST_SUB)
        idx = HIST_POWERS * HIST_SUB - 1;
    return idx;
}

/* The upper bound of a bucket, in microseconds. */
static uint64_t hist_value(size_t idx)
{
    if (idx < HIST_SUB)
        return idx;
    size_t row = idx / HIST_SUB, sub = idx % HIST_SUB;
    int msb = (int)row + 5;
    return ((uint64_t)(HIST_SUB + sub + 1) << (msb - 6)) - 1;
}

static void hist_add(struct hist *h, uint64_t us)
{
    h->b[hist_index(us)]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

static double hist_pct_ms(const struct hist *h, double pct)
{
    if (h->n == 0)
        return 0.0;
    uint64_t want = (uint64_t)((double)h->n * pct / 100.0 + 0.5);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_POWERS * HIST_SUB; i++) {
        seen += h->b[i];
        if (seen >= want) {
            uint64_t v = hist_value(i);
            return (double)(v < h->max ? v : h->max) / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

/* ---- options ---- */

struct opts {
    char host[64];
    int port;
    char path[256];
    int conns;
    double duration_s;
    double rate; /* requests per second; 0 = closed loop */
    int batch;
    int unique_pct;
    int pool;
    double timeout_s;
    char auth[256]; /* full header line without CRLF, or "" */
};

static void usage(void)
{
    fprintf(stderr, "usage: loadgen --url http://127.0.0.1:PORT/PATH [--conns N] [--duration S]\n"
                    "               [--rate REQ_PER_S] [--batch B] [--unique-pct U] [--pool P]\n"
                    "               [--timeout S] [--header 'Name: value']\n");
}

static int parse_url(struct opts *o, const char *url)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    const char *colon = strchr(p, ':');
    const char *slash = strchr(p, '/');
    if (!colon || !slash || colon > slash || (size_t)(colon - p) >= sizeof o->host)
        return -1;
    memcpy(o->host, p, (size_t)(colon - p));
    o->host[colon - p] = '\0';
    o->port = atoi(colon + 1);
    if (o->port <= 0 || o->port > 65535 || strlen(slash) >= sizeof o->path)
        return -1;
    strcpy(o->path, slash);
    /* Benchmarks stay on this machine. */
    if (strcmp(o->host, "127.0.0.1") != 0 && strcmp(o->host, "localhost") != 0)
        return -1;
    if (strcmp(o->host, "localhost") == 0)
        strcpy(o->host, "127.0.0.1");
    return 0;
}

static int parse_opts(struct opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->conns = 32;
    o->duration_s = 15;
    o->batch = 1;
    o->unique_pct = 50;
    o->pool = 1000;
    o->timeout_s = 5;
    bool have_url = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return -1;
        }
        if (strcmp(a, "--url") == 0) {
            if (parse_url(o, v) != 0) {
                fprintf(stderr, "loadgen: bad or non-local url: %s\n", v);
                return -1;
            }
            have_url = true;
        } else if (strcmp(a, "--conns") == 0) {
            o->conns = atoi(v);
        } else if (strcmp(a, "--duration") == 0) {
            o->duration_s = atof(v);
        } else if (strcmp(a, "--rate") == 0) {
            o->rate = atof(v);
        } else if (strcmp(a, "--batch") == 0) {
            o->batch = atoi(v);
        } else if (strcmp(a, "--unique-pct") == 0) {
            o->unique_pct = atoi(v);
        } else if (strcmp(a, "--pool") == 0) {
            o->pool = atoi(v);
        } else if (strcmp(a, "--timeout") == 0) {
            o->timeout_s = atof(v);
        } else if (strcmp(a, "--header") == 0) {
            if (strlen(v) >= sizeof o->auth)
                return -1;
            strcpy(o->auth, v);
        } else {
            usage();
            return -1;
        }
        i++;
    }
    if (!have_url || o->conns < 1 || o->conns > MAX_CONNS || o->duration_s <= 0 ||
        o->duration_s > 120 || o->batch < 1 || o->batch > 1000 || o->unique_pct < 0 ||
        o->unique_pct > 100 || o->pool < 1 || o->rate < 0 || o->timeout_s <= 0) {
        usage();
        return -1;
    }
    return 0;
}

/* ---- request bodies ---- */

static const char *const names[] = {"HighCPU",   "DiskFull",   "HostDown",    "HighLatency",
                                    "OOMKilled", "CertExpiry", "ServiceDown", "HighErrorRate",
                                    "SwapUsage", "NTPDrift"};
static const char *const sevs[] = {"critical", "warning", "info"};

struct gen {
    uint64_t rng;
    uint64_t counter;
    unsigned run_id;
    char starts[32];
};

static uint64_t gen_rand(struct gen *g)
{
    /* xorshift64* */
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 0x2545F4914F6CDD1DULL;
}

/* Writes one alert at buf; returns its length. buf has room for 1024 bytes. */
static int gen_alert(struct gen *g, const struct opts *o, char *buf)
{
    char key[48];
    uint64_t n;
    if ((int)(gen_rand(g) % 100) < o->unique_pct) {
        n = ++g->counter;
        snprintf(key, sizeof key, "u%x-%" PRIu64, g->run_id, n);
    } else {
        n = gen_rand(g) % (uint64_t)o->pool;
        snprintf(key, sizeof key, "r%" PRIu64, n);
    }
    const char *name = names[n % 10];
    return snprintf(buf, 1024,
                    "{\"labels\":{\"alertname\":\"%s\",\"severity\":\"%s\",\"instance\":"
                    "\"host-%" PRIu64 ".example:9100\",\"job\":\"node\",\"cluster\":\"c%" PRIu64
                    "\",\"key\":\"%s\"},\"annotations\":{\"summary\":\"%s on host-%" PRIu64
                    "\",\"description\":\"synthetic load-test alert %s\"},\"startsAt\":\"%s\","
                    "\"generatorURL\":\"http://127.0.0.1:9090/graph?g0.expr=up%%3D%%3D0\"}",
                    name, sevs[n % 3], n % 5000, n % 4, key, name, n % 5000, key, g->starts);
}

/* ---- connections ---- */

enum conn_state { C_IDLE = 0, C_CONNECTING, C_WRITING, C_READING };

struct conn {
    int fd;
    enum conn_state st;
    char *req; /* owned request bytes */
    size_t req_len, req_off, req_cap;
    char *resp; /* owned response buffer */
    size_t resp_len;
    double t_due; /* when the request in flight was due (or sent, closed loop) */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct run {
    struct opts o;
    struct gen g;
    int ep;
    struct conn c[MAX_CONNS];
    struct sockaddr_in addr;
    struct hist h;
    uint64_t sent, ok, non2xx, s503, sock_err, done_reqs;
    double t0, t_end;
    uint64_t due_next; /* index of the next request to be due (open loop) */
    char *body;        /* scratch body buffer */
    size_t body_cap;
};

static int conn_open(struct run *r, struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(c->fd, (struct sockaddr *)&r->addr, sizeof r->addr);
    if (rc != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->st = C_CONNECTING;
    c->resp_len = 0;
    return 0;
}

static void conn_close(struct run *r, struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->st = C_IDLE;
}

static void conn_watch(struct run *r, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Builds the next request into c->req. */
static void build_request(struct run *r, struct conn *c)
{
    size_t need = (size_t)r->o.batch * 1024 + 16;
    if (r->body_cap < need) {
        r->body = realloc(r->body, need);
        r->body_cap = need;
    }
    size_t bl = 0;
    r->body[bl++] = '[';
    for (int i = 0; i < r->o.batch; i++) {
        if (i)
            r->body[bl++] = ',';
        bl += (size_t)gen_alert(&r->g, &r->o, r->body + bl);
    }
    r->body[bl++] = ']';
    size_t cap = bl + 512 + strlen(r->o.auth);
    if (c->req_cap < cap) {
        c->req = realloc(c->req, cap);
        c->req_cap = cap;
    }
    int hl = snprintf(c->req, cap,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n%s%s\r\n",
                      r->o.path, r->o.host, r->o.port, bl, r->o.auth, r->o.auth[0] ? "\r\n" : "");
    memcpy(c->req + hl, r->body, bl);
    c->req_len = (size_t)hl + bl;
    c->req_off = 0;
}

static void try_write(struct run *r, struct conn *c)
{
    while (c->req_off < c->req_len) {
        ssize_t n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn_watch(r, c, EPOLLOUT | EPOLLIN);
                return;
            }
            r->sock_err++;
            conn_close(r, c);
            return;
        }
        c->req_off += (size_t)n;
    }
    c->st = C_READING;
    c->resp_len = 0;
    conn_watch(r, c, EPOLLIN);
}

/* Starts a request on an idle, connected connection. */
static void start_request(struct run *r, struct conn *c, double due)
{
    build_request(r, c);
    c->t_due = due;
    c->st = C_WRITING;
    r->sent++;
    try_write(r, c);
}

static const char *find_header(const char *hdrs, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *p = hdrs, *end = hdrs + len;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            return NULL;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ')
                p++;
            return p;
        }
        p = eol + 2;
    }
    return NULL;
}

/*
 * Returns the total length of a complete response at buf, 0 if more bytes are
 * needed, -1 if it cannot be parsed. Sets *status and *close_after.
 */
static long response_complete(const char *buf, size_t len, int *status, bool *close_after)
{
    const char *he = memmem(buf, len, "\r\n\r\n", 4);
    if (!he)
        return len > RESP_BUF - 1 ? -1 : 0;
    size_t hlen = (size_t)(he - buf) + 4;
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(buf + 9);
    const char *cn = find_header(buf, hlen, "Connection");
    *close_after = cn && strncasecmp(cn, "close", 5) == 0;
    const char *cl = find_header(buf, hlen, "Content-Length");
    if (cl) {
        size_t body = (size_t)strtoull(cl, NULL, 10);
        return len >= hlen + body ? (long)(hlen + body) : 0;
    }
    const char *te = find_header(buf, hlen, "Transfer-Encoding");
    if (te && strncasecmp(te, "chunked", 7) == 0) {
        size_t off = hlen;
        for (;;) {
            const char *crlf = memmem(buf + off, len - off, "\r\n", 2);
            if (!crlf)
                return 0;
            size_t sz = (size_t)strtoull(buf + off, NULL, 16);
            off = (size_t)(crlf - buf) + 2;
            if (sz == 0) {
                /* no trailers expected: the final CRLF */
                return len >= off + 2 ? (long)(off + 2) : 0;
            }
            if (len < off + sz + 2)
                return 0;
            off += sz + 2;
        }
    }
    if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200))
        return (long)hlen;
    *close_after = true; /* body until close: not expected from our servers */
    return -1;
}

/* Reads what is there; on a complete response records it. Returns true when done. */
static bool try_read(struct run *r, struct conn *c, double now)
{
    for (;;) {
        if (c->resp_len >= RESP_BUF) {
            r->sock_err++;
            conn_close(r, c);
            return true;
        }
        ssize_t n = recv(c->fd, c->resp + c->resp_len, RESP_BUF - c->resp_len, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            r->sock_err++;
            conn_close(r, c);
            return true;
        }
        if (n == 0) {
            r->sock_err++;
            conn_close(r, c);
            return true;
        }
        c->resp_len += (size_t)n;
    }
    int status = 0;
    bool close_after = false;
    long total = response_complete(c->resp, c->resp_len, &status, &close_after);
    if (total == 0)
        return false;
    if (total < 0) {
        r->sock_err++;
        conn_close(r, c);
        return true;
    }
    double lat = now - c->t_due;
    hist_add(&r->h, (uint64_t)(lat > 0 ? lat * 1e6 : 0));
    r->done_reqs++;
    if (status >= 200 && status < 300)
        r->ok++;
    else
        r->non2xx++;
    if (status == 503)
        r->s503++;
    c->resp_len = 0;
    if (close_after)
        conn_close(r, c);
    else
        c->st = C_IDLE;
    return true;
}

/* Hands due work to idle connections. */
static void dispatch(struct run *r, double now)
{
    for (int i = 0; i < r->o.conns; i++) {
        struct conn *c = &r->c[i];
        if (now >= r->t_end)
            return;
        if (c->fd < 0) {
            if (conn_open(r, c) != 0)
                r->sock_err++;
            continue;
        }
        if (c->st != C_IDLE)
            continue;
        if (r->o.rate > 0) {
            double due = r->t0 + (double)r->due_next / r->o.rate;
            if (due > now)
                return;
            r->due_next++;
            start_request(r, c, due);
        } else {
            start_request(r, c, now);
        }
    }
}

int main(int argc, char **argv)
{
    static struct run r;
    if (parse_opts(&r.o, argc, argv) != 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    r.addr.sin_family = AF_INET;
    r.addr.sin_port = htons((uint16_t)r.o.port);
    inet_pton(AF_INET, r.o.host, &r.addr.sin_addr);
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    r.g.rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)time(NULL);
    if (r.g.rng == 0)
        r.g.rng = 1;
    r.g.run_id = (unsigned)(r.g.rng >> 40);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(r.g.starts, sizeof r.g.starts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    for (int i = 0; i < r.o.conns; i++) {
        r.c[i].fd = -1;
        r.c[i].resp = malloc(RESP_BUF);
        if (!r.c[i].resp)
            return 2;
    }

    r.t0 = now_s();
    r.t_end = r.t0 + r.o.duration_s;
    double hard_end = r.t_end + r.o.timeout_s;
    struct epoll_event evs[MAX_CONNS];
    for (;;) {
        double now = now_s();
        if (now >= hard_end)
            break;
        dispatch(&r, now);
        if (now >= r.t_end) {
            bool busy = false;
            for (int i = 0; i < r.o.conns; i++)
                busy = busy || (r.c[i].fd >= 0 && r.c[i].st != C_IDLE);
            if (!busy)
                break;
        }
        int wait_ms = 5;
        if (r.o.rate > 0) {
            double due = r.t0 + (double)r.due_next / r.o.rate;
            double d = (due - now) * 1000.0;
            wait_ms = d <= 0 ? 0 : (d < 5 ? (int)d : 5);
        }
        int n = epoll_wait(r.ep, evs, MAX_CONNS, wait_ms);
        now = now_s();
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            if (c->fd < 0)
                continue;
            if (c->st == C_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err != 0 || (evs[k].events & (EPOLLERR | EPOLLHUP))) {
                    r.sock_err++;
                    conn_close(&r, c);
                    continue;
                }
                c->st = C_IDLE;
                conn_watch(&r, c, EPOLLIN);
            } else if (c->st == C_WRITING) {
                try_write(&r, c);
            } else if (c->st == C_READING) {
                try_read(&r, c, now);
            } else if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                /* idle keep-alive connection closed by the server */
                conn_close(&r, c);
            }
        }
    }
    double end = now_s();
    uint64_t inflight = 0;
    for (int i = 0; i < r.o.conns; i++) {
        if (r.c[i].fd >= 0 && r.c[i].st != C_IDLE)
            inflight++;
        conn_close(&r, &r.c[i]);
        free(r.c[i].resp);
        free(r.c[i].req);
    }
    free(r.body);
    close(r.ep);
    double secs = (end < r.t_end ? end : r.t_end) - r.t0;
    /* The generator's own CPU, so that the caller can tell its share of the machine. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    /* Open loop: requests that were due but never sent (the server fell behind). */
    int64_t behind = 0;
    if (r.o.rate > 0) {
        behind = (int64_t)(r.o.rate * r.o.duration_s) - (int64_t)r.sent;
        if (behind < 0)
            behind = 0;
    }
    if (secs <= 0)
        secs = 1e-9;
    printf("RESULT requests=%" PRIu64 " ok=%" PRIu64 " non2xx=%" PRIu64 " s503=%" PRIu64
           " sock_err=%" PRIu64 " timeouts=%" PRIu64 " secs=%.2f req_s=%.0f alerts_s=%.0f"
           " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f rate_target=%.0f"
           " behind=%" PRId64 " loadgen_cpu_s=%.2f\n",
           r.done_reqs, r.ok, r.non2xx, r.s503, r.sock_err, inflight, secs,
           (double)r.done_reqs / secs, (double)r.ok * r.o.batch / secs, hist_pct_ms(&r.h, 50),
           hist_pct_ms(&r.h, 90), hist_pct_ms(&r.h, 99), hist_pct_ms(&r.h, 99.9),
           (double)r.h.max / 1000.0, r.o.rate, behind, cpu_s);
    return 0;
}
