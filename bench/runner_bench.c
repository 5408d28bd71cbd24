/*
 * runner_bench.c - plugin runs per second through the runner, against a bare
 * posix_spawn and waitpid loop as the ceiling.
 *
 * Build and run (standalone, no CMake):
 *   cc -O2 -Isrc bench/runner_bench.c src/checks/runner.c -o /tmp/rb
 *   /tmp/rb runner 2 5     # the runner, 2 in flight, for 5 s
 *   /tmp/rb bare 2 5       # posix_spawn + waitpid(-1), 2 in flight
 * Both run `check_dummy 0 ok`. The bare loop sends the output to /dev/null
 * and keeps no pipe, so it is an upper bound for any runner. Besides the
 * rate, which depends on what else the machine is doing, it prints the CPU
 * time the parent itself spent per run (getrusage RUSAGE_SELF), which is the
 * runner's own overhead and mostly independent of load.
 */
#include "checks/runner.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PLUGIN "/usr/lib/nagios/plugins/check_dummy"

extern char **environ;

static int64_t bench_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct bench_count {
    long done;
    long bad;
};

static void bench_done(void *ctx, const struct runner_result *res)
{
    struct bench_count *c = ctx;
    c->done++;
    if (res->end != RUNNER_EXITED || res->exit_code != 0 || strcmp(res->output, "OK: ok\n") != 0)
        c->bad++;
}

static long bench_runs;

static double bench_runner(int inflight, int secs)
{
    static char *argv[] = {PLUGIN, "0", "ok", NULL};
    struct runner *r = runner_new(0);
    if (!r) {
        perror("runner_new");
        exit(1);
    }
    struct bench_count c = {0};
    int64_t t0 = bench_ms(), end = t0 + secs * 1000;
    long started = 0;
    for (;;) {
        int64_t now = bench_ms();
        if (now >= end)
            break;
        while ((int)runner_active(r) < inflight) {
            if (runner_start(r, argv, NULL, 10000, NULL, now) != 0) {
                perror("runner_start");
                exit(1);
            }
            started++;
        }
        struct epoll_event ev;
        epoll_wait(runner_fd(r), &ev, 1, 100);
        runner_poll(r, bench_ms(), bench_done, &c);
    }
    double elapsed = (double)(bench_ms() - t0) / 1000.0;
    runner_free(r);
    bench_runs = c.done;
    if (c.bad)
        fprintf(stderr, "%ld bad results\n", c.bad);
    return (double)c.done / elapsed;
}

static double bench_bare(int inflight, int secs)
{
    static char *argv[] = {PLUGIN, "0", "ok", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int64_t t0 = bench_ms(), end = t0 + secs * 1000;
    long done = 0;
    int running = 0;
    for (;;) {
        bool stop = bench_ms() >= end;
        while (!stop && running < inflight) {
            pid_t pid;
            if (posix_spawn(&pid, PLUGIN, &fa, NULL, argv, environ) != 0) {
                perror("posix_spawn");
                exit(1);
            }
            running++;
        }
        if (running == 0)
            break;
        if (waitpid(-1, NULL, 0) > 0) {
            running--;
            if (!stop)
                done++;
        }
    }
    double elapsed = (double)(bench_ms() - t0) / 1000.0;
    posix_spawn_file_actions_destroy(&fa);
    bench_runs = done;
    return (double)done / elapsed;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s runner|bare [inflight] [seconds]\n", argv[0]);
        return 2;
    }
    int inflight = argc > 2 ? atoi(argv[2]) : 2;
    int secs = argc > 3 ? atoi(argv[3]) : 5;
    double rate =
        strcmp(argv[1], "bare") == 0 ? bench_bare(inflight, secs) : bench_runner(inflight, secs);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    printf("%s inflight=%d: %.0f runs/s, parent cpu %.1f us/run\n", argv[1], inflight, rate,
           bench_runs ? cpu_us / (double)bench_runs : 0.0);
    return 0;
}
