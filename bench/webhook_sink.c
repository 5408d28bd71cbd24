/*
 * webhook_sink.c - a local webhook receiver for the notification benchmark.
 *
 * Listens on 127.0.0.1:PORT (0 = any free port, printed as "PORT n" on
 * stdout), speaks HTTP/1.1 with keep-alive (and pipelining) on any number of
 * connections from one epoll thread, reads each request's body by its
 * Content-Length and answers every POST with 200 and Content-Length 0. For
 * each POST it records the arrival time (CLOCK_REALTIME ns, taken right after
 * the read() that completed the request), the Idempotency-Key header, the
 * first token "bench-XXX" in the body (the incident title the benchmark
 * chose) and the body's "kind" field.
 *
 * GET /count answers the number of POSTs recorded so far (text, one line),
 * so a script can wait for a drain without stopping the sink. Anything else
 * that is not a POST gets 404 and is not recorded.
 *
 * On SIGTERM or SIGINT (or after --max-seconds) it writes one line per POST,
 *   arrival_ns idem_key token kind
 * ("-" for a missing field) to --out and exits 0.
 *
 * Build: cc -O2 -Wall -Wextra -o webhook_sink webhook_sink.c
 * Usage: webhook_sink --out FILE [--port 0] [--max-seconds 3600] [--max-records 2000000]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQ   (4 << 20) /* a request larger than this closes the connection */
#define KEY_LEN   64
#define TOKEN_LEN 48
#define KIND_LEN  32

struct record {
    int64_t arrival_ns;
    char key[KEY_LEN];
    char token[TOKEN_LEN];
    char kind[KIND_LEN];
};

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
    bool sent_continue; /* "100 Continue" already sent for the request at the head */
    char *out;          /* answers not yet written */
    size_t out_len, out_cap, out_off;
    bool close_after; /* close once out is written */
};

static struct record *recs;
static size_t n_recs, max_recs = 2000000;
static uint64_t n_dropped; /* POSTs beyond max_recs */
static uint64_t n_bad;     /* malformed requests */

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[j++] = (c > ' ' && c < 0x7f) ? (char)c : '_';
    }
    dst[j] = 0;
    if (j == 0 && cap > 1) {
        dst[0] = '-';
        dst[1] = 0;
    }
}

/* Finds needle in hay[0..n) (not NUL-terminated). */
static const char *find_mem(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k == 0 || n < k)
        return NULL;
    return memmem(hay, n, needle, k);
}

static bool token_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

static void record_post(const char *key, size_t key_len, const char *body, size_t body_len,
                        int64_t now)
{
    if (n_recs >= max_recs) {
        n_dropped++;
        return;
    }
    struct record *r = &recs[n_recs++];
    r->arrival_ns = now;
    copy_field(r->key, sizeof(r->key), key, key ? key_len : 0);

    const char *t = find_mem(body, body_len, "bench-");
    size_t tn = 0;
    if (t)
        while (t + tn < body + body_len && token_char(t[tn]))
            tn++;
    copy_field(r->token, sizeof(r->token), t, tn);

    const char *k = find_mem(body, body_len, "\"kind\"");
    size_t kn = 0;
    if (k) {
        const char *end = body + body_len;
        k += 6;
        while (k < end && (*k == ' ' || *k == ':'))
            k++;
        if (k < end && *k == '"') {
            k++;
            while (k + kn < end && k[kn] != '"')
                kn++;
        } else {
            k = NULL;
        }
    }
    copy_field(r->kind, sizeof(r->kind), k, kn);
}

static int out_append(struct conn *c, const char *s, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 1024;
        while (cap < c->out_len + n)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p)
            return -1;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
    return 0;
}

/* Writes what is pending; -1 when the connection is broken. */
static int flush_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* The value of header `name` in the header block h[0..n), or NULL. */
static const char *header_value(const char *h, size_t n, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = h, *end = h + n;
    /* Skip the request line. */
    const char *eol = find_mem(p, (size_t)(end - p), "\r\n");
    if (!eol)
        return NULL;
    p = eol + 2;
    while (p < end) {
        eol = find_mem(p, (size_t)(end - p), "\r\n");
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

/*
 * Handles every complete request at the head of c->buf. Returns -1 when the
 * connection must be closed at once.
 */
static int process(struct conn *c, int64_t now)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    size_t off = 0;

    while (off < c->len && !c->close_after) {
        const char *req = c->buf + off;
        size_t avail = c->len - off;
        const char *he = find_mem(req, avail, "\r\n\r\n");
        if (!he) {
            if (avail > MAX_REQ)
                return -1;
            break;
        }
        size_t hlen = (size_t)(he - req) + 4;
        size_t vlen = 0, clen = 0;
        const char *v = header_value(req, hlen - 2, "Content-Length", &vlen);
        if (v) {
            char tmp[24];
            if (vlen == 0 || vlen >= sizeof(tmp)) {
                n_bad++;
                return -1;
            }
            memcpy(tmp, v, vlen);
            tmp[vlen] = 0;
            char *endp;
            unsigned long long cl = strtoull(tmp, &endp, 10);
            if (*endp || cl > MAX_REQ) {
                n_bad++;
                return -1;
            }
            clen = (size_t)cl;
        }
        if (avail < hlen + clen) {
            /* The body is still coming; a client waiting for 100 Continue gets it. */
            const char *ex = header_value(req, hlen - 2, "Expect", &vlen);
            if (!c->sent_continue && ex && vlen == 12 && strncasecmp(ex, "100-continue", 12) == 0) {
                if (out_append(c, cont, sizeof(cont) - 1) != 0)
                    return -1;
                c->sent_continue = true;
            }
            break;
        }
        c->sent_continue = false;
        const char *conn_h = header_value(req, hlen - 2, "Connection", &vlen);
        bool close_req = conn_h && vlen == 5 && strncasecmp(conn_h, "close", 5) == 0;
        if (hlen >= 5 && memcmp(req, "POST ", 5) == 0) {
            size_t klen = 0;
            const char *key = header_value(req, hlen - 2, "Idempotency-Key", &klen);
            record_post(key, klen, req + hlen, clen, now);
            if (out_append(c, ok, sizeof(ok) - 1) != 0)
                return -1;
        } else if (hlen >= 11 && memcmp(req, "GET /count ", 11) == 0) {
            char body[32], resp[128];
            int bl = snprintf(body, sizeof(body), "%zu\n", n_recs);
            int rl = snprintf(resp, sizeof(resp),
                              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                              "Content-Length: %d\r\n\r\n%s",
                              bl, body);
            if (out_append(c, resp, (size_t)rl) != 0)
                return -1;
        } else {
            if (out_append(c, nf, sizeof(nf) - 1) != 0)
                return -1;
        }
        if (close_req)
            c->close_after = true;
        off += hlen + clen;
    }
    if (off > 0) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    return 0;
}

static void conn_close(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c->out);
    free(c);
}

/* Reads what is there, answers complete requests. Returns -1 to close. */
static int on_readable(int ep, struct conn *c)
{
    for (;;) {
        if (c->cap - c->len < 16384) {
            size_t cap = c->cap ? c->cap * 2 : 32768;
            if (cap > 2 * (size_t)MAX_REQ + 65536)
                return -1;
            char *p = realloc(c->buf, cap);
            if (!p)
                return -1;
            c->buf = p;
            c->cap = cap;
        }
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        if (r == 0)
            return -1;
        c->len += (size_t)r;
        if (process(c, realtime_ns()) != 0)
            return -1;
    }
    if (flush_out(c) != 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN | (c->out_len ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    if (c->close_after && c->out_len == 0)
        return -1;
    return 0;
}

static int write_records(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    for (size_t i = 0; i < n_recs; i++)
        fprintf(f, "%" PRId64 " %s %s %s\n", recs[i].arrival_ns, recs[i].key, recs[i].token,
                recs[i].kind);
    if (fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    int port = 0;
    long max_seconds = 3600;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc)
            max_seconds = atol(argv[++i]);
        else if (strcmp(argv[i], "--max-records") == 0 && i + 1 < argc)
            max_recs = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: webhook_sink --out FILE [--port 0] [--max-seconds 3600] "
                            "[--max-records 2000000]\n");
            return 2;
        }
    }
    if (!out || port < 0 || port > 65535 || max_seconds < 1 || max_recs < 1) {
        fprintf(stderr, "webhook_sink: --out is required; bad --port/--max-seconds\n");
        return 2;
    }
    recs = calloc(max_recs, sizeof(*recs));
    if (!recs)
        die("calloc");

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        die("signalfd");

    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0)
        die("timerfd_create");
    struct itimerspec its = {.it_value = {.tv_sec = max_seconds}};
    timerfd_settime(tfd, 0, &its, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("bind");
    if (listen(lfd, 4096) != 0)
        die("listen");
    socklen_t sl = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &sl);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.ptr = &sfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
    ev.data.ptr = &tfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

    printf("PORT %d\n", ntohs(sa.sin_port));
    fflush(stdout);

    bool running = true;
    while (running) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &sfd || p == &tfd) {
                running = false;
            } else if (p == &lfd) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct conn *c = calloc(1, sizeof(*c));
                    if (!c) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) != 0) {
                        close(fd);
                        free(c);
                    }
                }
            } else {
                struct conn *c = p;
                int rc = 0;
                if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    rc = on_readable(ep, c);
                else if (evs[i].events & EPOLLOUT) {
                    rc = flush_out(c);
                    if (rc == 0) {
                        struct epoll_event cev = {.events = EPOLLIN | (c->out_len ? EPOLLOUT : 0),
                                                  .data.ptr = c};
                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
                        if (c->close_after && c->out_len == 0)
                            rc = -1;
                    }
                }
                if (rc != 0)
                    conn_close(ep, c);
            }
        }
    }
    int rc = write_records(out) == 0 ? 0 : 1;
    fprintf(stderr, "webhook_sink: %zu POSTs recorded, %" PRIu64 " dropped, %" PRIu64 " bad\n",
            n_recs, n_dropped, n_bad);
    return rc;
}
