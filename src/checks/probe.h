/*
 * probe.h - native checks that run without forking: tcp and http(s).
 *
 * A probe set belongs to one thread (the check scheduler) and runs many
 * probes at once on one epoll descriptor: tcp probes are non-blocking
 * sockets driven by epoll; http probes are easy handles on one libcurl multi
 * handle whose sockets and timers are driven by the same epoll descriptor
 * (curl_multi_socket_action), so tens of thousands of endpoints cost no
 * threads and no processes.
 *
 * THREAD SAFETY NOTES: not thread-safe; one probe set per thread.
 * curl_global_init must have been called once by the process (main does).
 */
#ifndef TOCSIN_PROBE_H
#define TOCSIN_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct probe_set;

struct probe_tcp_spec {
    const char *host;      /* address or name; names are resolved (and cached 60 s) */
    int port;              /* 1..65535 */
    const char *send;      /* bytes to send after connecting, or NULL */
    const char *expect;    /* substring the first reply must contain, or NULL */
    int64_t timeout_ms;    /* whole probe, connect included; > 0 */
    double warn_s, crit_s; /* response time thresholds in seconds; 0 = none */
};

struct probe_http_spec {
    const char *url;        /* http:// or https:// */
    const char *method;     /* NULL = GET */
    int expect_status;      /* 0 = any 2xx or 3xx */
    const char *body_regex; /* POSIX ERE the body must match, or NULL */
    bool verify_tls;        /* verify the peer certificate and host name */
    int cert_warn_days;     /* 0 = do not check expiry */
    int cert_crit_days;
    int64_t timeout_ms;    /* > 0 */
    double warn_s, crit_s; /* response time thresholds in seconds; 0 = none */
    size_t max_body;       /* body bytes kept for the regex; 0 = 64 KiB */
};

/* A finished probe. Strings are borrowed and valid only during the callback. */
struct probe_result {
    void *tag;
    int state;          /* 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (plugin semantics) */
    const char *output; /* one line, then '|' and perfdata in plugin syntax, e.g.
                           "HTTP OK: HTTP/1.1 200 OK - 512 bytes in 0.004 second response
                           time |time=0.004000s;;;0.000000 size=512B;;;0" (one line) */
    size_t output_len;
    int64_t started_ms;
    int64_t exec_ms; /* connect-to-finish wall time */
};

typedef void (*probe_done_fn)(void *ctx, const struct probe_result *res);

/* Creates a probe set. Returns NULL on failure. */
struct probe_set *probe_new(void);

/* Cancels everything in flight (no callbacks) and frees the set. */
void probe_free(struct probe_set *p);

/*
 * Starts a probe. The spec's strings are copied. Returns 0 when started (or
 * when it failed in a way that is a result, e.g. an unresolvable name: then
 * the result comes through the callback at the next probe_poll), -1 only on
 * resource exhaustion (the caller retries later).
 */
int probe_start_tcp(struct probe_set *p, const struct probe_tcp_spec *spec, void *tag,
                    int64_t now_ms);
int probe_start_http(struct probe_set *p, const struct probe_http_spec *spec, void *tag,
                     int64_t now_ms);

/* The epoll descriptor to wait on. */
int probe_fd(const struct probe_set *p);

/* Probes in flight. */
size_t probe_active(const struct probe_set *p);

/*
 * Drives sockets and timers without blocking and calls done once per
 * finished probe. Returns the number of results delivered.
 */
int probe_poll(struct probe_set *p, int64_t now_ms, probe_done_fn done, void *ctx);

/* ms until the earliest timer (curl's or a tcp timeout), -1 when none. */
int64_t probe_next_timeout(const struct probe_set *p, int64_t now_ms);

#endif
