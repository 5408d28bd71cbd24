/*
 * probe_bench.c - native probe throughput: how many tcp or http probes a
 * second one probe set completes against a server on 127.0.0.1.
 *
 * It keeps INFLIGHT probes running for SECONDS: each done callback counts the
 * result and starts the next probe from inside the callback, as a scheduler
 * with a full queue would. The server is a thread in this process (tcp:
 * accept and close; http: read the request head, answer 200 with two bytes
 * and close), or for http any URL given on the command line, e.g. one served
 * by `python3 -m http.server`. Server and prober share the machine, so the
 * figure is a lower bound for the prober alone.
 *
 * Prints one line:
 *   RESULT kind=tcp inflight=200 secs=5.00 done=.. ok=.. not_ok=.. per_s=..
 *
 * Build: cc -O2 -Isrc bench/probe_bench.c src/checks/probe.c -lcurl -o /tmp/pb
 * Run:   /tmp/pb tcp [INFLIGHT] [SECONDS]
 *        /tmp/pb http [INFLIGHT] [SECONDS] [URL]
 */
#define _GNU_SOURCE
#include "checks/probe.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
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

/* ---- the in-process servers ---- */

static int listen_fd;
static int http_mode;

/* One epoll loop: accept everything, and for http wait for the blank line
 * that ends the request head before answering. */
static void *server_main(void *arg)
{
    (void)arg;
    static const char reply[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listen_fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == listen_fd) {
                int c;
                while ((c = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (!http_mode) {
                        close(c);
                        continue;
                    }
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            char buf[4096];
            ssize_t r = recv(fd, buf, sizeof(buf), 0);
            if (r > 0 && !memmem(buf, (size_t)r, "\r\n\r\n", 4))
                continue; /* a head split over reads is not expected here */
            if (r > 0)
                send(fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL);
            close(fd);
        }
    }
    return NULL;
}

static int server_start(int http)
{
    http_mode = http;
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(listen_fd, 4096) != 0) {
        perror("listen");
        exit(1);
    }
    socklen_t len = sizeof(a);
    getsockname(listen_fd, (struct sockaddr *)&a, &len);
    pthread_t t;
    pthread_create(&t, NULL, server_main, NULL);
    return ntohs(a.sin_port);
}

/* ---- the prober ---- */

struct bench {
    struct probe_set *p;
    int http;
    struct probe_tcp_spec tcp;
    struct probe_http_spec web;
    int64_t end_ms, now_ms;
    long done, ok, not_ok, start_fail;
    char first_bad[256];
};

static void bench_start(struct bench *b)
{
    int rc = b->http ? probe_start_http(b->p, &b->web, NULL, b->now_ms)
                     : probe_start_tcp(b->p, &b->tcp, NULL, b->now_ms);
    if (rc != 0)
        b->start_fail++;
}

static void on_done(void *ctx, const struct probe_result *res)
{
    struct bench *b = ctx;
    b->done++;
    if (res->state == 0) {
        b->ok++;
    } else {
        if (!b->not_ok++)
            snprintf(b->first_bad, sizeof(b->first_bad), "%.*s", (int)res->output_len, res->output);
    }
    if (b->now_ms < b->end_ms)
        bench_start(b);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || (strcmp(argv[1], "tcp") != 0 && strcmp(argv[1], "http") != 0)) {
        fprintf(stderr, "usage: %s tcp|http [inflight] [seconds] [url]\n", argv[0]);
        return 2;
    }
    struct bench b = {0};
    b.http = strcmp(argv[1], "http") == 0;
    int inflight = argc > 2 ? atoi(argv[2]) : 200;
    double secs = argc > 3 ? atof(argv[3]) : 5.0;
    char url[256];
    if (argc > 4) {
        snprintf(url, sizeof(url), "%s", argv[4]);
    } else {
        int port = server_start(b.http);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
        b.tcp = (struct probe_tcp_spec){.host = "127.0.0.1", .port = port, .timeout_ms = 5000};
    }
    b.web = (struct probe_http_spec){.url = url, .timeout_ms = 5000};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    b.p = probe_new();

    int64_t t0 = mono_ms();
    b.now_ms = t0;
    b.end_ms = t0 + (int64_t)(secs * 1000);
    for (int i = 0; i < inflight; i++)
        bench_start(&b);
    struct epoll_event evs[64];
    while (probe_active(b.p) > 0) {
        int64_t to = probe_next_timeout(b.p, b.now_ms);
        if (to < 0 || to > 100)
            to = 100;
        epoll_wait(probe_fd(b.p), evs, 64, (int)to);
        b.now_ms = mono_ms();
        probe_poll(b.p, b.now_ms, on_done, &b);
        if (b.now_ms > b.end_ms + 10000)
            break;
    }
    double el = (double)(mono_ms() - t0) / 1000.0;
    printf("RESULT kind=%s inflight=%d secs=%.2f done=%ld ok=%ld not_ok=%ld start_fail=%ld "
           "per_s=%.0f\n",
           argv[1], inflight, el, b.done, b.ok, b.not_ok, b.start_fail, (double)b.done / el);
    if (b.not_ok)
        printf("first not ok: %s\n", b.first_bad);
    probe_free(b.p);
    curl_global_cleanup();
    return 0;
}
