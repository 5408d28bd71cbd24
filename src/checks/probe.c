/*
 * probe.c - native tcp and http(s) probes on one epoll descriptor; see probe.h.
 *
 * Why native probes: forking check_tcp or check_http costs a process, an exec
 * and a dynamic link per check, which caps a scheduler at a few thousand
 * checks a second. Here a tcp probe costs a socket, a connect, one or two
 * epoll_ctl calls and a close; an http probe costs a libcurl easy handle
 * (recycled) on one multi handle.
 *
 * The pieces:
 *   - tcp probes live in slot structs allocated in chunks that never move,
 *     so a pointer to a slot stays valid while a done callback starts new
 *     probes. The epoll data of a tcp socket is the slot index plus a
 *     generation number, which makes the lookup O(1) and lets a stale event
 *     (the slot finished and was reused earlier in the same batch) be told
 *     apart from a live one. Deadlines sit in a binary min-heap of slot
 *     indices.
 *   - http probes are easy handles on one CURLM handle. curl tells us which
 *     sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to wake it
 *     (CURLMOPT_TIMERFUNCTION); we add its sockets to the same epoll set with
 *     a marker bit in the epoll data and call curl_multi_socket_action. No
 *     curl_multi_perform loop and no threads of ours.
 *   - results that are known when a probe starts (a bad URL, a name that
 *     does not resolve, a refusal reported by connect itself) are queued and
 *     delivered by the next probe_poll, as probe.h promises, so the caller
 *     never sees its callback run from inside probe_start_*.
 *
 * Output follows the monitoring-plugins check_tcp and check_http wording and
 * perfdata layout so the same plugin output parser reads native and forked
 * results alike.
 *
 * A done callback may start new probes on the same set; it must not free the
 * set.
 */
#ifndef _GNU_SOURCE
/* CMake defines it; a standalone build of the benchmark may not (memmem). */
#define _GNU_SOURCE
#endif
#include "probe.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_EXPECT_MAX     4096 /* bytes of a tcp reply searched for the expect string */
#define PROBE_CHUNK          256  /* tcp slots per allocation */
#define PROBE_NONE           UINT32_MAX
#define PROBE_DNS_SLOTS      256          /* direct-mapped name cache; a power of two */
#define PROBE_DNS_TTL_MS     60000        /* positive answers */
#define PROBE_DNS_NEG_MS     10000        /* "no such name" answers */
#define PROBE_BODY_DEFAULT   65536        /* max_body 0 */
#define PROBE_OUT_MAX        512          /* one result line with perfdata */
#define PROBE_EASY_SPARE_MAX 256          /* idle easy handles kept for reuse */
#define PROBE_EVENTS         256          /* epoll events per epoll_wait */
#define PROBE_CURL_BIT       (1ULL << 63) /* epoll data of a curl socket; else a tcp slot */
#define PROBE_GEN_MASK       0x7fffffffu  /* generation bits that fit beside the curl bit */
#define PROBE_DEFAULT_TMO_MS 10000

enum probe_state { PROBE_OK = 0, PROBE_WARNING = 1, PROBE_CRITICAL = 2, PROBE_UNKNOWN = 3 };

static const char *const probe_state_names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

enum probe_tcp_phase {
    PROBE_TCP_FREE = 0,
    PROBE_TCP_CONNECTING,
    PROBE_TCP_SENDING,
    PROBE_TCP_READING,
};

struct probe_tcp {
    int fd;
    uint8_t phase;     /* enum probe_tcp_phase */
    uint32_t gen;      /* bumped at every release; part of the epoll data */
    uint32_t heap_pos; /* index in the deadline heap while in flight */
    uint32_t next_free;
    void *tag; /* borrowed from the caller */
    int port;
    int64_t started_ms, deadline_ms, timeout_ms;
    int64_t t0_us;
    double warn_s, crit_s;
    /* Owned and kept across reuse: host, send and expect copied back to
     * back, so a steady state of probes allocates nothing. */
    char *strs;
    size_t strs_cap;
    const char *host, *send, *expect; /* into strs; send and expect NULL when unset */
    size_t send_len, sent, expect_len;
    char *rbuf; /* owned; PROBE_EXPECT_MAX + 1 bytes, allocated on first expect */
    size_t rlen;
};

struct probe_http {
    CURL *easy;                     /* owned; kept across reuse */
    struct probe_http *prev, *next; /* live list, or next only on the spare list */
    void *tag;                      /* borrowed from the caller */
    int64_t started_ms, timeout_ms, t0_us;
    double warn_s, crit_s;
    int expect_status, cert_warn_days, cert_crit_days;
    bool has_re, want_cert;
    regex_t re;                          /* valid when has_re */
    char *body;                          /* owned; max_body + 1 bytes at most */
    size_t body_len, body_cap, max_body; /* body kept only when has_re */
    char status_line[128];               /* last "HTTP/..." header line seen */
    char err[CURL_ERROR_SIZE];           /* curl's CURLOPT_ERRORBUFFER */
};

struct probe_pending {
    void *tag;
    int state;
    char *output; /* owned */
    size_t len;
    int64_t started_ms;
};

struct probe_dns {
    char *name; /* owned; NULL when the entry is empty */
    int64_t expires_ms;
    int gai_err; /* 0: addr is valid; otherwise a cached getaddrinfo failure */
    struct sockaddr_storage addr;
    socklen_t addr_len;
};

struct probe_set {
    int epfd;
    CURLM *multi;
    int64_t now_ms;        /* the latest time handed in, for curl's timer callback */
    int64_t curl_deadline; /* when curl wants CURL_SOCKET_TIMEOUT; -1 for never */

    struct probe_tcp **chunks; /* owned; each PROBE_CHUNK slots, never moved */
    size_t n_chunks;
    uint32_t tcp_free; /* free list head, PROBE_NONE when empty */
    uint32_t *heap;    /* owned; slot indices ordered by deadline_ms */
    size_t heap_len;
    size_t tcp_active, http_active;

    struct probe_http *http_live;  /* owned; probes on the multi handle */
    struct probe_http *http_spare; /* owned; idle, easy handle kept */
    size_t n_spare;

    struct probe_pending *pending; /* owned; results waiting for probe_poll */
    size_t n_pending, pending_cap;

    struct probe_dns dns[PROBE_DNS_SLOTS];
};

/* ---- small helpers ---- */

static int64_t probe_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct probe_tcp *probe_slot(const struct probe_set *p, uint32_t idx)
{
    return &p->chunks[idx / PROBE_CHUNK][idx % PROBE_CHUNK];
}

/* The epoll data of a tcp probe's socket: generation above, slot below. */
static uint64_t probe_tcp_data(const struct probe_tcp *t, uint32_t idx)
{
    return ((uint64_t)(t->gen & PROBE_GEN_MASK) << 32) | idx;
}

/* Replaces bytes that would break a one-line result ('|' starts perfdata)
 * with '.'. */
static void probe_clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '|')
            *s = '.';
}

/* Formats a perfdata threshold field: empty when unset, as check_tcp does. */
static const char *probe_thr(char *buf, size_t len, double v)
{
    if (v <= 0)
        return "";
    snprintf(buf, len, "%.6f", v);
    return buf;
}

static int probe_time_state(double elapsed_s, double warn_s, double crit_s)
{
    if (crit_s > 0 && elapsed_s > crit_s)
        return PROBE_CRITICAL;
    if (warn_s > 0 && elapsed_s > warn_s)
        return PROBE_WARNING;
    return PROBE_OK;
}

/* Queues a result for the next probe_poll. Returns 0, or -1 when out of memory. */
static int probe_defer(struct probe_set *p, void *tag, int state, int64_t now_ms, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

static int probe_defer(struct probe_set *p, void *tag, int state, int64_t now_ms, const char *fmt,
                       ...)
{
    if (p->n_pending == p->pending_cap) {
        size_t ncap = p->pending_cap ? p->pending_cap * 2 : 16;
        struct probe_pending *np = realloc(p->pending, ncap * sizeof(*np));
        if (!np)
            return -1;
        p->pending = np;
        p->pending_cap = ncap;
    }
    char buf[PROBE_OUT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf))
        n = (int)sizeof(buf) - 1;
    probe_clean(buf); /* a host or URL must not open a perfdata section */
    char *out = malloc((size_t)n + 1);
    if (!out)
        return -1;
    memcpy(out, buf, (size_t)n + 1);
    p->pending[p->n_pending++] = (struct probe_pending){
        .tag = tag, .state = state, .output = out, .len = (size_t)n, .started_ms = now_ms};
    return 0;
}

static int probe_deliver_pending(struct probe_set *p, probe_done_fn done, void *ctx)
{
    /* The callback may queue more (a probe it starts can fail at once); those
     * wait for the next poll, which probe_next_timeout makes immediate. */
    size_t n = p->n_pending;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct probe_pending pr = p->pending[i];
        struct probe_result res = {.tag = pr.tag,
                                   .state = pr.state,
                                   .output = pr.output,
                                   .output_len = pr.len,
                                   .started_ms = pr.started_ms,
                                   .exec_ms = 0};
        done(ctx, &res);
        free(pr.output);
    }
    if (p->n_pending > n)
        memmove(p->pending, p->pending + n, (p->n_pending - n) * sizeof(*p->pending));
    p->n_pending -= n;
    return (int)n;
}

/* ---- the tcp deadline heap ---- */

static bool probe_heap_less(const struct probe_set *p, size_t i, size_t j)
{
    return probe_slot(p, p->heap[i])->deadline_ms < probe_slot(p, p->heap[j])->deadline_ms;
}

static void probe_heap_swap(struct probe_set *p, size_t i, size_t j)
{
    uint32_t a = p->heap[i], b = p->heap[j];
    p->heap[i] = b;
    p->heap[j] = a;
    probe_slot(p, b)->heap_pos = (uint32_t)i;
    probe_slot(p, a)->heap_pos = (uint32_t)j;
}

static void probe_heap_up(struct probe_set *p, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!probe_heap_less(p, i, parent))
            break;
        probe_heap_swap(p, i, parent);
        i = parent;
    }
}

static void probe_heap_down(struct probe_set *p, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < p->heap_len && probe_heap_less(p, l, m))
            m = l;
        if (r < p->heap_len && probe_heap_less(p, r, m))
            m = r;
        if (m == i)
            break;
        probe_heap_swap(p, i, m);
        i = m;
    }
}

/* The heap has room for every slot (it grows with the chunks), so a push
 * cannot fail. */
static void probe_heap_push(struct probe_set *p, uint32_t idx)
{
    p->heap[p->heap_len] = idx;
    probe_slot(p, idx)->heap_pos = (uint32_t)p->heap_len;
    p->heap_len++;
    probe_heap_up(p, p->heap_len - 1);
}

static void probe_heap_remove(struct probe_set *p, size_t i)
{
    p->heap_len--;
    if (i == p->heap_len)
        return;
    probe_heap_swap(p, i, p->heap_len);
    probe_heap_down(p, i);
    probe_heap_up(p, i);
}

/* ---- tcp slots ---- */

static uint32_t probe_tcp_alloc(struct probe_set *p)
{
    if (p->tcp_free == PROBE_NONE) {
        if (p->n_chunks >= (PROBE_NONE - 1) / PROBE_CHUNK)
            return PROBE_NONE;
        size_t nslots = (p->n_chunks + 1) * PROBE_CHUNK;
        uint32_t *nheap = realloc(p->heap, nslots * sizeof(*nheap));
        if (!nheap)
            return PROBE_NONE;
        p->heap = nheap;
        struct probe_tcp **nchunks = realloc(p->chunks, (p->n_chunks + 1) * sizeof(*nchunks));
        if (!nchunks)
            return PROBE_NONE;
        p->chunks = nchunks;
        struct probe_tcp *c = calloc(PROBE_CHUNK, sizeof(*c));
        if (!c)
            return PROBE_NONE;
        p->chunks[p->n_chunks] = c;
        uint32_t base = (uint32_t)(p->n_chunks * PROBE_CHUNK);
        /* Thread the new slots onto the free list in index order. */
        for (uint32_t i = 0; i < PROBE_CHUNK; i++) {
            c[i].fd = -1;
            c[i].next_free = i + 1 < PROBE_CHUNK ? base + i + 1 : PROBE_NONE;
        }
        p->tcp_free = base;
        p->n_chunks++;
    }
    uint32_t idx = p->tcp_free;
    p->tcp_free = probe_slot(p, idx)->next_free;
    return idx;
}

/* Returns a slot to the free list. Its buffers stay for the next probe. */
static void probe_tcp_unalloc(struct probe_set *p, uint32_t idx)
{
    struct probe_tcp *t = probe_slot(p, idx);
    t->phase = PROBE_TCP_FREE;
    t->fd = -1;
    t->gen++;
    t->next_free = p->tcp_free;
    p->tcp_free = idx;
}

/*
 * Ends an in-flight probe: closes its socket (which also takes it out of the
 * epoll set) and frees the slot.
 *
 * The close is abortive (SO_LINGER 0: an RST instead of a FIN exchange), as
 * HAProxy does for its health checks, whenever nothing we sent can still be
 * in flight: the probe has its answer, and an orderly close would cost a
 * FIN round trip and leave a TIME_WAIT socket on this host for 60 s. At
 * thousands of probes a second to one address those TIME_WAIT sockets use up
 * the ephemeral ports, and the FIN exchange is a tenth of the kernel's work
 * per probe. A probe that sent bytes and expects no reply closes in order,
 * since an RST would throw away the bytes not yet acknowledged.
 */
static void probe_tcp_release(struct probe_set *p, uint32_t idx)
{
    struct probe_tcp *t = probe_slot(p, idx);
    if (!(t->send && !t->expect && t->sent == t->send_len)) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(t->fd);
    probe_heap_remove(p, t->heap_pos);
    p->tcp_active--;
    probe_tcp_unalloc(p, idx);
}

/* Copies the spec's strings into the slot's own buffer. */
static int probe_tcp_copy(struct probe_tcp *t, const struct probe_tcp_spec *spec)
{
    size_t hl = strlen(spec->host);
    size_t sl = spec->send ? strlen(spec->send) : 0;
    size_t el = spec->expect ? strlen(spec->expect) : 0;
    size_t need = hl + sl + el + 3;
    if (need > t->strs_cap) {
        char *ns = realloc(t->strs, need);
        if (!ns)
            return -1;
        t->strs = ns;
        t->strs_cap = need;
    }
    char *w = t->strs;
    memcpy(w, spec->host, hl + 1);
    t->host = w;
    w += hl + 1;
    t->send = NULL;
    t->send_len = 0;
    if (spec->send && sl) {
        memcpy(w, spec->send, sl + 1);
        t->send = w;
        t->send_len = sl;
        w += sl + 1;
    }
    t->expect = NULL;
    t->expect_len = 0;
    if (spec->expect && el) {
        if (!t->rbuf && !(t->rbuf = malloc(PROBE_EXPECT_MAX + 1)))
            return -1;
        memcpy(w, spec->expect, el + 1);
        t->expect = w;
        t->expect_len = el;
    }
    return 0;
}

/* ---- name resolution ---- */

static uint32_t probe_name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        h ^= *c;
        h *= 16777619u;
    }
    return h ^ (h >> 16);
}

static void probe_set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/*
 * Turns host into an address. Numeric IPv4 and IPv6 addresses take the
 * inet_pton path and never touch the resolver. Names go through getaddrinfo,
 * which BLOCKS the calling thread for as long as the resolver takes; that is
 * accepted because answers are cached for 60 s (a missing name for 10 s) and
 * a check scheduler probes the same few thousand names over and over. Only
 * the first address getaddrinfo returns is used.
 * Returns 0, or -1 with *gai_err set.
 */
static int probe_resolve(struct probe_set *p, const char *host, int port,
                         struct sockaddr_storage *ss, socklen_t *len, int *gai_err, int64_t now_ms)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
    struct probe_dns *d = &p->dns[probe_name_hash(host) & (PROBE_DNS_SLOTS - 1)];
    if (!d->name || strcmp(d->name, host) != 0 || now_ms >= d->expires_ms) {
        struct addrinfo hints = {
            .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
        struct addrinfo *res = NULL;
        int rc = getaddrinfo(host, NULL, &hints, &res);
        if (rc == 0 && (!res || res->ai_addrlen > sizeof(d->addr)))
            rc = EAI_FAIL;
        /* Only definite answers are cached: a resolver that is down or
         * busy (EAI_AGAIN, EAI_SYSTEM) is asked again next time. */
        bool cache = rc == 0 || rc == EAI_NONAME
#ifdef EAI_NODATA
                     || rc == EAI_NODATA
#endif
            ;
        if (!cache) {
            if (res)
                freeaddrinfo(res);
            *gai_err = rc;
            return -1;
        }
        if (!d->name || strcmp(d->name, host) != 0) {
            char *name = strdup(host);
            if (!name) {
                if (res)
                    freeaddrinfo(res);
                *gai_err = EAI_MEMORY;
                return -1;
            }
            free(d->name);
            d->name = name;
        }
        d->gai_err = rc;
        d->expires_ms = now_ms + (rc == 0 ? PROBE_DNS_TTL_MS : PROBE_DNS_NEG_MS);
        if (rc == 0) {
            memcpy(&d->addr, res->ai_addr, res->ai_addrlen);
            d->addr_len = (socklen_t)res->ai_addrlen;
        }
        if (res)
            freeaddrinfo(res);
    }
    if (d->gai_err) {
        *gai_err = d->gai_err;
        return -1;
    }
    memcpy(ss, &d->addr, d->addr_len);
    *len = d->addr_len;
    probe_set_port(ss, port);
    return 0;
}

/* ---- tcp probes ---- */

static bool probe_resource_errno(int err)
{
    /* Out of descriptors, buffers or local ports: the caller should retry
     * later rather than record the target as down. */
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM ||
           err == EADDRNOTAVAIL || err == EAGAIN;
}

int probe_start_tcp(struct probe_set *p, const struct probe_tcp_spec *spec, void *tag,
                    int64_t now_ms)
{
    p->now_ms = now_ms;
    if (!spec->host || !*spec->host || spec->port < 1 || spec->port > 65535)
        return probe_defer(p, tag, PROBE_UNKNOWN, now_ms, "TCP UNKNOWN - invalid host or port");
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int gai = 0;
    if (probe_resolve(p, spec->host, spec->port, &ss, &sslen, &gai, now_ms) != 0) {
        if (gai == EAI_MEMORY)
            return -1;
        return probe_defer(p, tag, PROBE_CRITICAL, now_ms,
                           "TCP CRITICAL - cannot resolve %.200s: %s", spec->host,
                           gai_strerror(gai));
    }

    uint32_t idx = probe_tcp_alloc(p);
    if (idx == PROBE_NONE)
        return -1;
    struct probe_tcp *t = probe_slot(p, idx);
    if (probe_tcp_copy(t, spec) != 0) {
        probe_tcp_unalloc(p, idx);
        return -1;
    }
    t->tag = tag;
    t->port = spec->port;
    /* probe.h asks for a positive timeout; a zero one gets check_tcp's
     * default rather than a probe that can never time out. */
    t->timeout_ms = spec->timeout_ms > 0 ? spec->timeout_ms : PROBE_DEFAULT_TMO_MS;
    t->started_ms = now_ms;
    t->deadline_ms = now_ms + t->timeout_ms;
    t->warn_s = spec->warn_s;
    t->crit_s = spec->crit_s;
    t->sent = 0;
    t->rlen = 0;

    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        probe_tcp_unalloc(p, idx);
        if (probe_resource_errno(err))
            return -1;
        return probe_defer(p, tag, PROBE_UNKNOWN, now_ms, "TCP UNKNOWN - cannot create socket: %s",
                           strerror(err));
    }
    t->t0_us = probe_mono_us();
    if (connect(fd, (struct sockaddr *)&ss, sslen) != 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        probe_tcp_unalloc(p, idx);
        if (probe_resource_errno(err))
            return -1;
        return probe_defer(p, tag, PROBE_CRITICAL, now_ms, "TCP CRITICAL - %s", strerror(err));
    }
    /* Even a connect that completed at once is handled by the EPOLLOUT path:
     * the socket is writable immediately and SO_ERROR reads 0. */
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = probe_tcp_data(t, idx)};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        probe_tcp_unalloc(p, idx);
        return -1;
    }
    t->fd = fd;
    t->phase = PROBE_TCP_CONNECTING;
    probe_heap_push(p, idx);
    p->tcp_active++;
    return 0;
}

/* Delivers a finished tcp probe. The slot is freed before the callback runs,
 * so the callback may start another probe in it. */
static void probe_tcp_finish(struct probe_set *p, uint32_t idx, int state, const char *out, int len,
                             probe_done_fn done, void *ctx)
{
    struct probe_tcp *t = probe_slot(p, idx);
    int64_t exec_ms = (probe_mono_us() - t->t0_us) / 1000;
    struct probe_result res = {.tag = t->tag,
                               .state = state,
                               .output = out,
                               .output_len = len < 0 ? 0 : (size_t)len,
                               .started_ms = t->started_ms,
                               .exec_ms = exec_ms};
    if (res.output_len >= PROBE_OUT_MAX)
        res.output_len = PROBE_OUT_MAX - 1;
    probe_tcp_release(p, idx);
    done(ctx, &res);
}

static void probe_tcp_fail(struct probe_set *p, uint32_t idx, int err, probe_done_fn done,
                           void *ctx)
{
    char out[PROBE_OUT_MAX];
    int n = snprintf(out, sizeof(out), "TCP CRITICAL - %s", strerror(err));
    probe_tcp_finish(p, idx, PROBE_CRITICAL, out, n, done, ctx);
}

/* The probe got what it wanted (a connection, a sent request, or the
 * expected text): the state comes from the response time thresholds. */
static void probe_tcp_ok(struct probe_set *p, uint32_t idx, probe_done_fn done, void *ctx)
{
    struct probe_tcp *t = probe_slot(p, idx);
    double el = (double)(probe_mono_us() - t->t0_us) / 1e6;
    int state = probe_time_state(el, t->warn_s, t->crit_s);
    char w[32], c[32], out[PROBE_OUT_MAX];
    int n = snprintf(
        out, sizeof(out),
        "TCP %s - %.3f second response time on %.200s port %d|time=%.6fs;%s;%s;0.000000;"
        "%.6f",
        probe_state_names[state], el, t->host, t->port, el, probe_thr(w, sizeof(w), t->warn_s),
        probe_thr(c, sizeof(c), t->crit_s), (double)t->timeout_ms / 1000.0);
    probe_tcp_finish(p, idx, state, out, n, done, ctx);
}

/* The reply ended, or filled the 4 KiB window, without the expect string:
 * WARNING, as check_tcp's default for an unexpected response. */
static void probe_tcp_mismatch(struct probe_set *p, uint32_t idx, probe_done_fn done, void *ctx)
{
    struct probe_tcp *t = probe_slot(p, idx);
    double el = (double)(probe_mono_us() - t->t0_us) / 1e6;
    /* Show the start of the reply with anything unprintable (line ends
     * included) replaced, so the result stays one line. */
    char shown[65];
    size_t k = 0;
    for (; k < t->rlen && k < sizeof(shown) - 1; k++) {
        unsigned char ch = (unsigned char)t->rbuf[k];
        shown[k] = ch >= 0x20 && ch < 0x7f && ch != '|' ? (char)ch : '.';
    }
    shown[k] = 0;
    char w[32], c[32], out[PROBE_OUT_MAX];
    int n;
    if (t->rlen == 0)
        n = snprintf(out, sizeof(out), "TCP WARNING - no data received from %.200s port %d",
                     t->host, t->port);
    else
        n = snprintf(out, sizeof(out),
                     "TCP WARNING - unexpected response from %.200s port %d: \"%s\"", t->host,
                     t->port, shown);
    if (n > 0 && (size_t)n < sizeof(out))
        n += snprintf(out + n, sizeof(out) - (size_t)n, "|time=%.6fs;%s;%s;0.000000;%.6f", el,
                      probe_thr(w, sizeof(w), t->warn_s), probe_thr(c, sizeof(c), t->crit_s),
                      (double)t->timeout_ms / 1000.0);
    probe_tcp_finish(p, idx, PROBE_WARNING, out, n, done, ctx);
}

static void probe_tcp_timeout(struct probe_set *p, uint32_t idx, probe_done_fn done, void *ctx)
{
    struct probe_tcp *t = probe_slot(p, idx);
    char out[PROBE_OUT_MAX];
    int n = snprintf(out, sizeof(out), "TCP CRITICAL - timed out after %g s",
                     (double)t->timeout_ms / 1000.0);
    probe_tcp_finish(p, idx, PROBE_CRITICAL, out, n, done, ctx);
}

/* Switches the socket to waiting for the reply. Returns 0, or an errno. */
static int probe_tcp_want_read(struct probe_set *p, uint32_t idx)
{
    struct probe_tcp *t = probe_slot(p, idx);
    t->phase = PROBE_TCP_READING;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = probe_tcp_data(t, idx)};
    return epoll_ctl(p->epfd, EPOLL_CTL_MOD, t->fd, &ev) == 0 ? 0 : errno;
}

/* Advances one tcp probe on an epoll event. Returns 1 when it finished. */
static int probe_tcp_event(struct probe_set *p, uint32_t idx, uint32_t events, probe_done_fn done,
                           void *ctx)
{
    struct probe_tcp *t = probe_slot(p, idx);
    if (t->phase == PROBE_TCP_CONNECTING) {
        int err = 0;
        socklen_t elen = sizeof(err);
        if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
            err = errno;
        if (err) {
            probe_tcp_fail(p, idx, err, done, ctx);
            return 1;
        }
        if (!(events & EPOLLOUT))
            return 0;
        if (t->send) {
            t->phase = PROBE_TCP_SENDING;
        } else if (t->expect) {
            if ((err = probe_tcp_want_read(p, idx)) != 0) {
                probe_tcp_fail(p, idx, err, done, ctx);
                return 1;
            }
            return 0;
        } else {
            probe_tcp_ok(p, idx, done, ctx);
            return 1;
        }
    }
    if (t->phase == PROBE_TCP_SENDING) {
        while (t->sent < t->send_len) {
            ssize_t n = send(t->fd, t->send + t->sent, t->send_len - t->sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return 0; /* still registered for EPOLLOUT */
                probe_tcp_fail(p, idx, errno, done, ctx);
                return 1;
            }
            t->sent += (size_t)n;
        }
        if (!t->expect) {
            probe_tcp_ok(p, idx, done, ctx);
            return 1;
        }
        int err = probe_tcp_want_read(p, idx);
        if (err) {
            probe_tcp_fail(p, idx, err, done, ctx);
            return 1;
        }
        return 0;
    }
    if (t->phase == PROBE_TCP_READING) {
        for (;;) {
            size_t room = PROBE_EXPECT_MAX - t->rlen;
            if (room == 0) {
                probe_tcp_mismatch(p, idx, done, ctx);
                return 1;
            }
            ssize_t n = recv(t->fd, t->rbuf + t->rlen, room, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return 0;
                probe_tcp_fail(p, idx, errno, done, ctx);
                return 1;
            }
            if (n == 0) {
                probe_tcp_mismatch(p, idx, done, ctx);
                return 1;
            }
            /* Search only where a match could newly end: the new bytes and
             * the tail of the old ones that a match could straddle. */
            size_t from = t->rlen >= t->expect_len ? t->rlen - (t->expect_len - 1) : 0;
            t->rlen += (size_t)n;
            if (memmem(t->rbuf + from, t->rlen - from, t->expect, t->expect_len)) {
                probe_tcp_ok(p, idx, done, ctx);
                return 1;
            }
        }
    }
    return 0;
}

/* ---- http probes: curl callbacks ---- */

static int probe_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    struct probe_set *p = userp;
    if (what == CURL_POLL_REMOVE) {
        /* curl may already have closed it, which removed it from the set. */
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) |
                                       ((what & CURL_POLL_OUT) ? EPOLLOUT : 0),
                             .data.u64 = PROBE_CURL_BIT | (uint32_t)s};
    /* socketp marks a socket we added before. A descriptor number that curl
     * closed and got back for a new socket has no mark, and the fallbacks
     * cover the cases where the mark and the epoll set disagree. */
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(p->epfd, op, s, &ev) != 0) {
        if (errno == ENOENT)
            epoll_ctl(p->epfd, EPOLL_CTL_ADD, s, &ev);
        else if (errno == EEXIST)
            epoll_ctl(p->epfd, EPOLL_CTL_MOD, s, &ev);
    }
    if (!socketp)
        curl_multi_assign(p->multi, s, p);
    return 0;
}

static int probe_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct probe_set *p = userp;
    /* Only recorded: curl must not be re-entered from its own callback.
     * probe_poll runs the timeout once now_ms reaches the deadline. */
    p->curl_deadline = timeout_ms < 0 ? -1 : p->now_ms + timeout_ms;
    return 0;
}

static size_t probe_http_header(char *buf, size_t size, size_t n, void *userp)
{
    struct probe_http *h = userp;
    size_t len = size * n;
    /* Keep the status line of the last response (after a 100 Continue the
     * final one comes second). */
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        size_t k = len < sizeof(h->status_line) - 1 ? len : sizeof(h->status_line) - 1;
        memcpy(h->status_line, buf, k);
        while (k > 0 && (h->status_line[k - 1] == '\r' || h->status_line[k - 1] == '\n'))
            k--;
        h->status_line[k] = 0;
        probe_clean(h->status_line);
    }
    return len;
}

static size_t probe_http_body(char *buf, size_t size, size_t n, void *userp)
{
    struct probe_http *h = userp;
    size_t len = size * n;
    if (!h->has_re || h->body_len >= h->max_body)
        return len;
    size_t take = h->max_body - h->body_len < len ? h->max_body - h->body_len : len;
    if (h->body_len + take + 1 > h->body_cap) {
        size_t ncap = h->body_cap ? h->body_cap : 4096;
        while (ncap < h->body_len + take + 1)
            ncap *= 2;
        if (ncap > h->max_body + 1)
            ncap = h->max_body + 1;
        char *nb = realloc(h->body, ncap);
        if (!nb)
            return 0; /* curl fails the transfer with a write error */
        h->body = nb;
        h->body_cap = ncap;
    }
    memcpy(h->body + h->body_len, buf, take);
    h->body_len += take;
    return len;
}

/* ---- http probes ---- */

static bool probe_url_scheme_ok(const char *url, bool *https)
{
    *https = strncasecmp(url, "https://", 8) == 0;
    return *https || strncasecmp(url, "http://", 7) == 0;
}

static struct probe_http *probe_http_get(struct probe_set *p)
{
    struct probe_http *h = p->http_spare;
    if (h) {
        p->http_spare = h->next;
        p->n_spare--;
        curl_easy_reset(h->easy);
        return h;
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    if (!(h->easy = curl_easy_init())) {
        free(h);
        return NULL;
    }
    return h;
}

static void probe_http_destroy(struct probe_http *h)
{
    if (h->has_re)
        regfree(&h->re);
    curl_easy_cleanup(h->easy);
    free(h->body);
    free(h);
}

/* Keeps the handle for the next probe, up to a limit; the body buffer is
 * dropped when it grew large so an idle set does not hold megabytes. */
static void probe_http_put(struct probe_set *p, struct probe_http *h)
{
    if (h->has_re) {
        regfree(&h->re);
        h->has_re = false;
    }
    if (p->n_spare >= PROBE_EASY_SPARE_MAX) {
        probe_http_destroy(h);
        return;
    }
    if (h->body_cap > 65536) {
        free(h->body);
        h->body = NULL;
        h->body_cap = 0;
    }
    h->next = p->http_spare;
    h->prev = NULL;
    p->http_spare = h;
    p->n_spare++;
}

int probe_start_http(struct probe_set *p, const struct probe_http_spec *spec, void *tag,
                     int64_t now_ms)
{
    p->now_ms = now_ms;
    bool https = false;
    if (!spec->url || !probe_url_scheme_ok(spec->url, &https))
        return probe_defer(p, tag, PROBE_UNKNOWN, now_ms,
                           "HTTP UNKNOWN - unsupported URL scheme (want http or https): %.200s",
                           spec->url ? spec->url : "(none)");
    struct probe_http *h = probe_http_get(p);
    if (!h)
        return -1;
    h->has_re = false;
    if (spec->body_regex) {
        int rc = regcomp(&h->re, spec->body_regex, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &h->re, msg, sizeof(msg));
            probe_http_put(p, h);
            return probe_defer(p, tag, PROBE_UNKNOWN, now_ms,
                               "HTTP UNKNOWN - invalid body regex: %s", msg);
        }
        h->has_re = true;
    }
    h->tag = tag;
    h->started_ms = now_ms;
    h->timeout_ms = spec->timeout_ms > 0 ? spec->timeout_ms : PROBE_DEFAULT_TMO_MS;
    h->warn_s = spec->warn_s;
    h->crit_s = spec->crit_s;
    h->expect_status = spec->expect_status;
    h->cert_warn_days = spec->cert_warn_days;
    h->cert_crit_days = spec->cert_crit_days;
    h->want_cert = https && (spec->cert_warn_days > 0 || spec->cert_crit_days > 0);
    h->max_body = spec->max_body ? spec->max_body : PROBE_BODY_DEFAULT;
    h->body_len = 0;
    h->status_line[0] = 0;
    h->err[0] = 0;

    CURL *e = h->easy;
    int bad = 0;
    bad += curl_easy_setopt(e, CURLOPT_URL, spec->url) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)h) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms) != CURLE_OK;
    /* Both settings already default this way; spelled out because the
     * status a probe reports must be the one of the URL it was given. */
    bad += curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    /* A fresh connection and a full TLS handshake per probe: the response
     * time then includes connect and handshake as it does for check_http, a
     * dead listener is not hidden behind a kept-alive connection, and the
     * certificate is sent (a resumed TLS session carries none to inspect). */
    bad += curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, spec->verify_tls ? 1L : 0L) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, spec->verify_tls ? 2L : 0L) != CURLE_OK;
    if (h->want_cert)
        bad += curl_easy_setopt(e, CURLOPT_CERTINFO, 1L) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_USERAGENT, "tocsin-probe") != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->err) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, probe_http_header) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)h) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, probe_http_body) != CURLE_OK;
    bad += curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)h) != CURLE_OK;
    const char *m = spec->method;
    if (m && strcmp(m, "GET") != 0) {
        if (strcmp(m, "HEAD") == 0) {
            bad += curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK;
        } else if (strcmp(m, "POST") == 0) {
            /* An empty body with Content-Length: 0, as a POST needs. */
            bad += curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L) != CURLE_OK;
            bad += curl_easy_setopt(e, CURLOPT_POSTFIELDS, "") != CURLE_OK;
        } else {
            bad += curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m) != CURLE_OK;
        }
    }
    if (bad || curl_multi_add_handle(p->multi, e) != CURLM_OK) {
        probe_http_put(p, h);
        return -1;
    }
    h->prev = NULL;
    h->next = p->http_live;
    if (p->http_live)
        p->http_live->prev = h;
    p->http_live = h;
    p->http_active++;
    h->t0_us = probe_mono_us();
    return 0;
}

static int probe_month(const char *s)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (strncmp(s, names + 3 * i, 3) == 0)
            return i;
    return -1;
}

/*
 * Whole days until the leaf certificate expires, from the "Expire date" that
 * curl's OpenSSL backend reports ("Mar  5 12:00:00 2025 GMT"; other backends
 * write "2025-03-05 12:00:00"). The month names are matched by hand rather
 * than with strptime so the process locale does not matter. Counts against
 * the wall clock: now_ms may be monotonic. Returns 0, or -1 when there is no
 * readable date.
 */
static int probe_cert_days(CURL *e, long *days)
{
    struct curl_certinfo *ci = NULL;
    if (curl_easy_getinfo(e, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs < 1)
        return -1;
    const char *v = NULL;
    for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next)
        if (strncasecmp(s->data, "Expire date:", 12) == 0) {
            v = s->data + 12;
            break;
        }
    if (!v)
        return -1;
    struct tm tm = {0};
    char mon[4] = "";
    int d, y, H, M, S;
    if (sscanf(v, " %3s %d %d:%d:%d %d", mon, &d, &H, &M, &S, &y) == 6 && probe_month(mon) >= 0) {
        tm.tm_mon = probe_month(mon);
    } else if (sscanf(v, " %d-%d-%d %d:%d:%d", &y, &tm.tm_mon, &d, &H, &M, &S) == 6) {
        tm.tm_mon -= 1;
    } else {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mday = d;
    tm.tm_hour = H;
    tm.tm_min = M;
    tm.tm_sec = S;
    time_t exp = timegm(&tm);
    if (exp == (time_t)-1)
        return -1;
    /* Rounded toward minus infinity: 4 days and 23 hours is 4 days. */
    long long left = (long long)exp - (long long)time(NULL);
    *days = (long)(left >= 0 ? left / 86400 : -((-left + 86399) / 86400));
    return 0;
}

/* Formats a finished transfer's result into out. Returns the state. */
static int probe_http_result(struct probe_http *h, CURLcode rc, char *out, size_t outlen, int *len)
{
    double tmo_s = (double)h->timeout_ms / 1000.0;
    if (rc != CURLE_OK) {
        int state = PROBE_CRITICAL;
        const char *why = h->err[0] ? h->err : curl_easy_strerror(rc);
        long os_err = 0;
        switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
            *len = snprintf(out, outlen, "HTTP CRITICAL - timed out after %g s", tmo_s);
            return state;
        case CURLE_COULDNT_CONNECT:
            curl_easy_getinfo(h->easy, CURLINFO_OS_ERRNO, &os_err);
            if (os_err == ECONNREFUSED)
                why = "connection refused";
            break;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
            state = PROBE_UNKNOWN;
            break;
        default:
            break;
        }
        *len = snprintf(out, outlen, "HTTP %s: %s", probe_state_names[state], why);
        probe_clean(out);
        return state;
    }

    long code = 0;
    curl_off_t size = 0, total_us = 0;
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h->easy, CURLINFO_SIZE_DOWNLOAD_T, &size);
    curl_easy_getinfo(h->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    double el = (double)total_us / 1e6;

    /* Each check yields a state; the result takes the worst, and its text
     * comes from the first check (in this order) that reached it. */
    enum { BY_STATUS, BY_PATTERN, BY_CERT, BY_TIME };
    int state = PROBE_OK, by = BY_STATUS;
    char note[64] = "";

    int s;
    if (h->expect_status) {
        s = code == h->expect_status ? PROBE_OK : PROBE_CRITICAL;
        if (s)
            snprintf(note, sizeof(note), " (expected %d)", h->expect_status);
    } else if (code >= 200 && code < 400) {
        s = PROBE_OK;
    } else if (code >= 400 && code < 500) {
        s = PROBE_WARNING; /* as check_http without -e */
    } else {
        s = PROBE_CRITICAL;
    }
    state = s;

    if (h->has_re) {
        regmatch_t rm[1] = {{.rm_so = 0, .rm_eo = (regoff_t)h->body_len}};
        const char *body = h->body ? h->body : "";
        if (h->body)
            h->body[h->body_len] = 0;
        /* REG_STARTEND bounds the match by length, so a NUL inside the body
         * does not hide what follows it. */
        s = regexec(&h->re, body, 1, rm, REG_STARTEND) == 0 ? PROBE_OK : PROBE_CRITICAL;
        if (s > state) {
            state = s;
            by = BY_PATTERN;
        }
    }

    long days = 0;
    bool have_days = false;
    if (h->want_cert) {
        have_days = probe_cert_days(h->easy, &days) == 0;
        if (!have_days)
            s = PROBE_WARNING;
        else if (h->cert_crit_days > 0 && days < h->cert_crit_days)
            s = PROBE_CRITICAL;
        else if (h->cert_warn_days > 0 && days < h->cert_warn_days)
            s = PROBE_WARNING;
        else
            s = PROBE_OK;
        if (s > state) {
            state = s;
            by = BY_CERT;
        }
    }

    s = probe_time_state(el, h->warn_s, h->crit_s);
    if (s > state) {
        state = s;
        by = BY_TIME;
    }

    const char *name = probe_state_names[state];
    int n;
    if (by == BY_PATTERN) {
        n = snprintf(out, outlen, "HTTP %s - pattern not found ", name);
    } else if (by == BY_CERT && !have_days) {
        n = snprintf(out, outlen, "HTTP %s - cannot read the certificate expiry date ", name);
    } else if (by == BY_CERT) {
        n = snprintf(out, outlen, "HTTP %s - certificate expires in %ld days ", name, days);
    } else {
        char status[sizeof(h->status_line) + 16];
        if (h->status_line[0])
            snprintf(status, sizeof(status), "%s", h->status_line);
        else
            snprintf(status, sizeof(status), "HTTP %ld", code);
        n = snprintf(out, outlen, "HTTP %s: %s%s - %lld bytes in %.3f second response time ", name,
                     status, note, (long long)size, el);
    }
    if (n < 0 || (size_t)n >= outlen) {
        *len = n < 0 ? 0 : (int)outlen - 1;
        return state;
    }
    char w[32], c[32];
    n += snprintf(out + n, outlen - (size_t)n, "|time=%.6fs;%s;%s;0.000000 size=%lldB;;;0", el,
                  probe_thr(w, sizeof(w), h->warn_s), probe_thr(c, sizeof(c), h->crit_s),
                  (long long)size);
    if (have_days && (size_t)n < outlen) {
        /* "N:" is the plugin range that alerts below N. */
        char cw[24] = "", cc[24] = "";
        if (h->cert_warn_days > 0)
            snprintf(cw, sizeof(cw), "%d:", h->cert_warn_days);
        if (h->cert_crit_days > 0)
            snprintf(cc, sizeof(cc), "%d:", h->cert_crit_days);
        n += snprintf(out + n, outlen - (size_t)n, " cert_days=%ld;%s;%s;0", days, cw, cc);
    }
    *len = (size_t)n < outlen ? n : (int)outlen - 1;
    return state;
}

/* Delivers a finished http probe; the handle goes back to the spare list
 * before the callback runs. */
static void probe_http_finish(struct probe_set *p, struct probe_http *h, CURLcode rc,
                              probe_done_fn done, void *ctx)
{
    char out[PROBE_OUT_MAX];
    int len = 0;
    int state = probe_http_result(h, rc, out, sizeof(out), &len);
    struct probe_result res = {.tag = h->tag,
                               .state = state,
                               .output = out,
                               .output_len = len < 0 ? 0 : (size_t)len,
                               .started_ms = h->started_ms,
                               .exec_ms = (probe_mono_us() - h->t0_us) / 1000};
    curl_multi_remove_handle(p->multi, h->easy);
    if (h->prev)
        h->prev->next = h->next;
    else
        p->http_live = h->next;
    if (h->next)
        h->next->prev = h->prev;
    p->http_active--;
    probe_http_put(p, h);
    done(ctx, &res);
}

/* Runs curl on one socket (or on its timer) and delivers what finished. */
static int probe_curl_action(struct probe_set *p, curl_socket_t s, int flags, probe_done_fn done,
                             void *ctx)
{
    int running = 0, delivered = 0, left = 0;
    curl_multi_socket_action(p->multi, s, flags, &running);
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(p->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        /* The message is gone once the handle is removed; copy it first. */
        CURL *e = msg->easy_handle;
        CURLcode rc = msg->data.result;
        void *priv = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&priv);
        if (!priv)
            continue;
        probe_http_finish(p, priv, rc, done, ctx);
        delivered++;
    }
    return delivered;
}

/* ---- the set ---- */

struct probe_set *probe_new(void)
{
    struct probe_set *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->curl_deadline = -1;
    p->tcp_free = PROBE_NONE;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        free(p);
        return NULL;
    }
    p->multi = curl_multi_init();
    if (!p->multi || curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, probe_curl_socket) ||
        curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, (void *)p) ||
        curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, probe_curl_timer) ||
        curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, (void *)p)) {
        if (p->multi)
            curl_multi_cleanup(p->multi);
        close(p->epfd);
        free(p);
        return NULL;
    }
    return p;
}

void probe_free(struct probe_set *p)
{
    if (!p)
        return;
    while (p->http_live) {
        struct probe_http *h = p->http_live;
        p->http_live = h->next;
        curl_multi_remove_handle(p->multi, h->easy);
        probe_http_destroy(h);
    }
    while (p->http_spare) {
        struct probe_http *h = p->http_spare;
        p->http_spare = h->next;
        probe_http_destroy(h);
    }
    curl_multi_cleanup(p->multi);
    for (size_t c = 0; c < p->n_chunks; c++) {
        for (size_t i = 0; i < PROBE_CHUNK; i++) {
            struct probe_tcp *t = &p->chunks[c][i];
            if (t->phase != PROBE_TCP_FREE)
                close(t->fd);
            free(t->strs);
            free(t->rbuf);
        }
        free(p->chunks[c]);
    }
    free(p->chunks);
    free(p->heap);
    for (size_t i = 0; i < p->n_pending; i++)
        free(p->pending[i].output);
    free(p->pending);
    for (size_t i = 0; i < PROBE_DNS_SLOTS; i++)
        free(p->dns[i].name);
    close(p->epfd);
    free(p);
}

int probe_fd(const struct probe_set *p)
{
    return p->epfd;
}

size_t probe_active(const struct probe_set *p)
{
    return p->tcp_active + p->http_active + p->n_pending;
}

int64_t probe_next_timeout(const struct probe_set *p, int64_t now_ms)
{
    if (p->n_pending)
        return 0;
    int64_t best = -1;
    if (p->heap_len) {
        int64_t d = probe_slot(p, p->heap[0])->deadline_ms - now_ms;
        best = d > 0 ? d : 0;
    }
    if (p->curl_deadline >= 0) {
        int64_t d = p->curl_deadline - now_ms;
        d = d > 0 ? d : 0;
        if (best < 0 || d < best)
            best = d;
    }
    return best;
}

int probe_poll(struct probe_set *p, int64_t now_ms, probe_done_fn done, void *ctx)
{
    p->now_ms = now_ms;
    int delivered = probe_deliver_pending(p, done, ctx);

    struct epoll_event evs[PROBE_EVENTS];
    /* A few batches at most, so one call stays bounded while a full batch
     * still gets the next one without a trip through the caller. */
    for (int round = 0; round < 4; round++) {
        int n = epoll_wait(p->epfd, evs, PROBE_EVENTS, 0);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++) {
            uint64_t data = evs[i].data.u64;
            uint32_t ev = evs[i].events;
            if (data & PROBE_CURL_BIT) {
                int flags = ((ev & (EPOLLIN | EPOLLHUP)) ? CURL_CSELECT_IN : 0) |
                            ((ev & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                            ((ev & EPOLLERR) ? CURL_CSELECT_ERR : 0);
                delivered += probe_curl_action(p, (curl_socket_t)(uint32_t)data, flags, done, ctx);
                continue;
            }
            uint32_t idx = (uint32_t)data;
            if ((size_t)idx >= p->n_chunks * PROBE_CHUNK)
                continue;
            struct probe_tcp *t = probe_slot(p, idx);
            /* A slot that finished earlier in this batch is free or belongs
             * to a newer probe: its generation tells. */
            if (t->phase == PROBE_TCP_FREE || probe_tcp_data(t, idx) != data)
                continue;
            delivered += probe_tcp_event(p, idx, ev, done, ctx);
        }
        if (n < PROBE_EVENTS)
            break;
    }

    if (p->curl_deadline >= 0 && now_ms >= p->curl_deadline) {
        p->curl_deadline = -1;
        delivered += probe_curl_action(p, CURL_SOCKET_TIMEOUT, 0, done, ctx);
        /* curl calls the timer function only when its next expiry changes;
         * if this action ran early by its clock, nothing changed and the
         * timer would be lost, so ask for it. */
        long ms = -1;
        if (curl_multi_timeout(p->multi, &ms) == CURLM_OK)
            p->curl_deadline = ms < 0 ? -1 : now_ms + ms;
    }

    while (p->heap_len && probe_slot(p, p->heap[0])->deadline_ms <= now_ms) {
        probe_tcp_timeout(p, p->heap[0], done, ctx);
        delivered++;
    }
    return delivered;
}
