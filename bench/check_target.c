/*
 * check_target.c - the far end of the native probe benchmark (bench/checks.sh).
 *
 * Usage: check_target tcp|http NPORTS MAX_SECONDS
 *
 * It listens on NPORTS ports of 127.0.0.1 (the kernel picks them), prints
 *   PORTS p1 p2 ...
 * on stdout once every port accepts connections, and serves until SIGTERM or
 * MAX_SECONDS, whichever comes first, so a forgotten instance cannot outlive
 * the benchmark. On the way out it prints
 *   SERVED accepted=N replies=M
 *
 * tcp:  every connection is accepted and closed at once; a tcp probe only
 *       needs the handshake to complete.
 * http: every request head (up to the blank line) gets a 200 with a
 *       two-byte body. The server never closes first: it waits for the client
 *       to hang up, so TIME_WAIT ends up with the client, where Linux reuses
 *       it on loopback, and a keep-alive client would still be served.
 *
 * Several ports rather than one spread the connections over more 4-tuples
 * and more accept queues. One thread and epoll are enough: the work per
 * connection is a few system calls, far less than the prober's.
 *
 * Only the C library; build: cc -O2 -o check_target bench/check_target.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 64

static volatile sig_atomic_t stop_now;

static void on_signal(int sig)
{
    (void)sig;
    stop_now = 1;
}

static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                            "2\r\n\r\nok";

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "tcp") != 0 && strcmp(argv[1], "http") != 0)) {
        fprintf(stderr, "usage: %s tcp|http NPORTS MAX_SECONDS\n", argv[0]);
        return 2;
    }
    int http = strcmp(argv[1], "http") == 0;
    int nports = atoi(argv[2]);
    long max_secs = atol(argv[3]);
    if (nports < 1 || nports > MAX_PORTS || max_secs < 1) {
        fprintf(stderr, "NPORTS must be 1..%d and MAX_SECONDS at least 1\n", MAX_PORTS);
        return 2;
    }

    /* Each open connection is a descriptor; the prober may hold a thousand
     * or more at once, so take whatever the hard limit allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    size_t nfd = rl.rlim_cur > 1048576 ? 1048576 : (size_t)rl.rlim_cur;
    /* How much of "\r\n\r\n" each connection has seen so far: a request head
     * split over several reads is still recognised. */
    unsigned char *seen = calloc(nfd, 1);
    if (!seen) {
        perror("calloc");
        return 1;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    int lfd[MAX_PORTS];
    printf("PORTS");
    for (int i = 0; i < nports; i++) {
        lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        if (lfd[i] < 0 || bind(lfd[i], (struct sockaddr *)&a, sizeof(a)) != 0 ||
            listen(lfd[i], 4096) != 0 || getsockname(lfd[i], (struct sockaddr *)&a, &len) != 0) {
            perror("listen");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev);
        printf(" %d", ntohs(a.sin_port));
    }
    printf("\n");
    fflush(stdout);

    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long accepted = 0, replies = 0;
    struct epoll_event evs[512];
    while (!stop_now) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= max_secs)
            break;
        /* A bounded wait so the deadline and the stop flag are seen even
         * when nothing arrives. */
        int n = epoll_wait(ep, evs, 512, 200);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            int is_listener = 0;
            for (int j = 0; j < nports; j++)
                is_listener |= fd == lfd[j];
            if (is_listener) {
                int c;
                while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    accepted++;
                    if (!http || (size_t)c >= nfd) {
                        close(c);
                        continue;
                    }
                    seen[c] = 0;
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce) != 0)
                        close(c);
                }
                continue;
            }
            /* An http connection: answer each complete request head, close
             * when the client has gone. */
            char buf[4096];
            ssize_t r;
            int gone = 0;
            while ((r = recv(fd, buf, sizeof(buf), 0)) > 0) {
                static const char end[] = "\r\n\r\n";
                for (ssize_t k = 0; k < r; k++) {
                    if (buf[k] == end[seen[fd]])
                        seen[fd]++;
                    else
                        seen[fd] = buf[k] == '\r' ? 1 : 0;
                    if (seen[fd] == 4) {
                        seen[fd] = 0;
                        if (send(fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL) > 0)
                            replies++;
                    }
                }
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                gone = 1;
            if (gone) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
            }
        }
    }
    printf("SERVED accepted=%ld replies=%ld\n", accepted, replies);
    return 0;
}
