/*
 * test_runner.c - unit tests for src/checks/runner.c.
 *
 * These run real processes: Debian's monitoring-plugins (check_dummy), the
 * shell and coreutils. Each test drives the runner the way the scheduler
 * will, waiting on runner_fd with epoll and polling with the monotonic clock,
 * and ends by checking that no child of ours is left unreaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "checks/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PLUGINS     "/usr/lib/nagios/plugins"
#define CHECK_DUMMY PLUGINS "/check_dummy"

/* A delivered result, with the output copied out of the borrowed buffer. */
struct got {
    void *tag;
    enum runner_end end;
    int exit_code;
    int term_signal;
    int spawn_errno;
    char *output; /* owned */
    size_t output_len;
    bool truncated;
    int64_t started_ms;
    int64_t exec_ms;
};

struct collector {
    struct got *v; /* owned */
    size_t n, cap;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void collect(void *ctx, const struct runner_result *res)
{
    struct collector *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = realloc(c->v, c->cap * sizeof(*c->v));
        assert_non_null(c->v);
    }
    /* The buffer must be NUL-terminated exactly at output_len. */
    assert_int_equal(res->output[res->output_len], '\0');
    struct got *g = &c->v[c->n++];
    g->tag = res->tag;
    g->end = res->end;
    g->exit_code = res->exit_code;
    g->term_signal = res->term_signal;
    g->spawn_errno = res->spawn_errno;
    g->output = malloc(res->output_len + 1);
    assert_non_null(g->output);
    memcpy(g->output, res->output, res->output_len + 1);
    g->output_len = res->output_len;
    g->truncated = res->truncated;
    g->started_ms = res->started_ms;
    g->exec_ms = res->exec_ms;
}

static void collector_free(struct collector *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].output);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

/* Waits and polls until `want` results have arrived or limit_ms passes. */
static void drive(struct runner *r, struct collector *c, size_t want, int64_t limit_ms)
{
    int64_t end = mono_ms() + limit_ms;
    while (c->n < want) {
        int64_t now = mono_ms();
        if (now >= end)
            fail_msg("only %zu of %zu results after %lld ms", c->n, want, (long long)limit_ms);
        int64_t t = runner_next_timeout(r, now);
        int wait_ms = t < 0 || t > 100 ? 100 : (int)t;
        struct epoll_event ev;
        epoll_wait(runner_fd(r), &ev, 1, wait_ms);
        runner_poll(r, mono_ms(), collect, c);
    }
}

/* Runs one argv to completion and returns its result in *c (one entry). */
static void run_argv(struct runner *r, struct collector *c, char *const argv[], int64_t timeout)
{
    assert_int_equal(runner_start(r, argv, NULL, timeout, (void *)argv, mono_ms()), 0);
    drive(r, c, c->n + 1, 10000);
}

static void run_cmd(struct runner *r, struct collector *c, const char *cmd, int64_t timeout)
{
    assert_int_equal(runner_start_command(r, cmd, NULL, timeout, (void *)cmd, mono_ms()), 0);
    drive(r, c, c->n + 1, 10000);
}

static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void test_dummy_exit_codes(void **state)
{
    static const struct {
        const char *code;
        int exit_code;
        const char *output;
    } cases[] = {
        {"0", 0, "OK: all is well\n"},
        {"1", 1, "WARNING: all is well\n"},
        {"2", 2, "CRITICAL: all is well\n"},
        {"3", 3, "UNKNOWN: all is well\n"},
    };
    struct runner *r = runner_new(0);
    assert_non_null(r);
    struct collector c = {0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[] = {CHECK_DUMMY, (char *)cases[i].code, "all is well", NULL};
        run_argv(r, &c, argv, 5000);
        struct got *g = &c.v[c.n - 1];
        assert_ptr_equal(g->tag, argv);
        assert_int_equal(g->end, RUNNER_EXITED);
        assert_int_equal(g->exit_code, cases[i].exit_code);
        assert_string_equal(g->output, cases[i].output);
        assert_int_equal(g->output_len, strlen(cases[i].output));
        assert_false(g->truncated);
        assert_true(g->exec_ms >= 0 && g->exec_ms < 5000);
    }
    /* Out-of-range codes are delivered as they are; mapping them to
     * UNKNOWN is the caller's business. check_dummy itself refuses 7. */
    run_cmd(r, &c, "/bin/sh -c 'echo weird; exit 7'", 5000);
    assert_int_equal(c.v[c.n - 1].end, RUNNER_EXITED);
    assert_int_equal(c.v[c.n - 1].exit_code, 7);
    assert_string_equal(c.v[c.n - 1].output, "weird\n");
    assert_int_equal(runner_active(r), 0);
    runner_free(r);
    collector_free(&c);
    assert_no_children();
}

static void test_multiline_output_and_stderr(void **state)
{
    struct runner *r = runner_new(0);
    assert_non_null(r);
    struct collector c = {0};
    /* stderr lands in the same pipe, in order, as Nagios shows it. */
    run_cmd(r, &c,
            "printf 'DISK WARNING - 10%% free | /=90%%;80;90\\nline two\\n'; "
            "echo 'on stderr' >&2; exit 1",
            5000);
    assert_int_equal(c.v[0].end, RUNNER_EXITED);
    assert_int_equal(c.v[0].exit_code, 1);
    assert_string_equal(c.v[0].output,
                        "DISK WARNING - 10% free | /=90%;80;90\nline two\non stderr\n");

    /* Direct exec with quoting: no shell involved. */
    run_cmd(r, &c, CHECK_DUMMY " 1 'two  words' ", 5000);
    assert_int_equal(c.v[1].exit_code, 1);
    assert_string_equal(c.v[1].output, "WARNING: two  words\n");

    /* A plugin found through PATH. */
    char *argv[] = {"echo", "via", "path", NULL};
    run_argv(r, &c, argv, 5000);
    assert_string_equal(c.v[2].output, "via path\n");
    runner_free(r);
    collector_free(&c);
    assert_no_children();
}

static void test_spawn_failures(void **state)
{
    struct runner *r = runner_new(0);
    assert_non_null(r);
    struct collector c = {0};

    char *missing[] = {PLUGINS "/check_does_not_exist", NULL};
    run_argv(r, &c, missing, 5000);
    assert_int_equal(c.v[0].end, RUNNER_SPAWN_FAILED);
    assert_int_equal(c.v[0].spawn_errno, ENOENT);
    assert_string_equal(c.v[0].output, "");

    char *nopath[] = {"tocsin-no-such-plugin", NULL};
    run_argv(r, &c, nopath, 5000);
    assert_int_equal(c.v[1].end, RUNNER_SPAWN_FAILED);
    assert_int_equal(c.v[1].spawn_errno, ENOENT);

    char path[] = "/tmp/tocsin-runner-noexec-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
    close(fd);
    assert_int_equal(chmod(path, 0600), 0);
    char *noexec[] = {path, NULL};
    run_argv(r, &c, noexec, 5000);
    unlink(path);
    assert_int_equal(c.v[2].end, RUNNER_SPAWN_FAILED);
    assert_int_equal(c.v[2].spawn_errno, EACCES);

    char *notdir[] = {"/etc/passwd/check", NULL};
    run_argv(r, &c, notdir, 5000);
    assert_int_equal(c.v[3].spawn_errno, ENOTDIR);

    /* A name without a slash is looked up in $PATH, as execvp does. */
    char *viapath[] = {"sh", "-c", "echo found; exit 1", NULL};
    run_argv(r, &c, viapath, 5000);
    assert_int_equal(c.v[4].end, RUNNER_EXITED);
    assert_int_equal(c.v[4].exit_code, 1);
    assert_string_equal(c.v[4].output, "found\n");

    /* Empty and unbalanced command lines are configuration errors. */
    run_cmd(r, &c, "   ", 5000);
    assert_int_equal(c.v[5].end, RUNNER_SPAWN_FAILED);
    run_cmd(r, &c, CHECK_DUMMY " 0 'oops", 5000);
    assert_int_equal(c.v[6].end, RUNNER_SPAWN_FAILED);

    /* A failure is not delivered by runner_start itself, and the epoll
     * descriptor announces it. */
    assert_int_equal(runner_start(r, missing, NULL, 0, NULL, mono_ms()), 0);
    assert_int_equal(runner_next_timeout(r, mono_ms()), 0);
    struct epoll_event ev;
    assert_int_equal(epoll_wait(runner_fd(r), &ev, 1, 1000), 1);
    assert_int_equal(runner_poll(r, mono_ms(), collect, &c), 1);
    assert_int_equal(epoll_wait(runner_fd(r), &ev, 1, 0), 0);
    assert_int_equal(runner_active(r), 0);
    runner_free(r);
    collector_free(&c);
    assert_no_children();
}

static void test_signaled(void **state)
{
    struct runner *r = runner_new(0);
    assert_non_null(r);
    struct collector c = {0};
    run_cmd(r, &c, "/bin/sh -c 'echo bye; kill -TERM $$'", 5000);
    assert_int_equal(c.v[0].end, RUNNER_SIGNALED);
    assert_int_equal(c.v[0].term_signal, SIGTERM);
    assert_string_equal(c.v[0].output, "bye\n");
    runner_free(r);
    collector_free(&c);
    assert_no_children();
}

static void test_timeout_kills_group(void **state)
{
    char pidfile[] = "/tmp/tocsin-runner-pid-XXXXXX";
    int fd = mkstemp(pidfile);
    assert_true(fd >= 0);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "/bin/sh -c 'sleep 60 & echo $! > %s; echo started; sleep 60'",
             pidfile);

    struct runner *r = runner_new(0);
    assert_non_null(r);
    struct collector c = {0};
    int64_t t0 = mono_ms();
    run_cmd(r, &c, cmd, 300);
    int64_t took = mono_ms() - t0;
    assert_int_equal(c.v[0].end, RUNNER_TIMED_OUT);
    assert_string_equal(c.v[0].output, "started\n");
    assert_true(took >= 300 && took < 3000);
    assert_true(c.v[0].exec_ms >= 300);

    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    int gc = 0;
    assert_int_equal(fscanf(f, "%d", &gc), 1);
    fclose(f);
    unlink(pidfile);
    assert_true(gc > 1);
    /* The grandchild was in the killed group; give init a moment to reap it. */
    int64_t until = mono_ms() + 2000;
    while (kill(gc, 0) == 0 && mono_ms() < until)
        usleep(10000);
    assert_int_equal(kill(gc, 0), -1);
    assert_int_equal(errno, ESRCH);
    runner_free(r);
    collector_free(&c);
    assert_no_children();
}

static void test_grandchild_holding_pipe(void **state)
{
    /* The background sleep keeps the pipe open after the plugin exits; the
     * result must come at the plugin's exit, not when the sleep ends. */
    struct runner *r = runner_new(0);
    assert_non_null(r);
    struct collector c = {0};
    int64_t t0 = mono_ms();
    run_cmd(r, &c, "sleep 3 & echo quick", 10000);
    assert_true(mono_ms() - t0 < 2000);
    assert_int_equal(c.v[0].end, RUNNER_EXITED);
    assert_int_equal(c.v[0].exit_code, 0);
    assert_string_equal(c.v[0].output, "quick\n");
    runner_free(r);
    collector_free(&c);
    assert_no_children();
}

static void test_output_truncated(void **state)
{
    struct runner *r = runner_new(0);
    assert_non_null(r);
    struct collector c = {0};
    run_cmd(r, &c, "/bin/sh -c 'head -c 5000000 /dev/zero | tr \"\\0\" x; exit 1'", 20000);
    assert_int_equal(c.v[0].end, RUNNER_EXITED);
    assert_int_equal(c.v[0].exit_code, 1);
    assert_true(c.v[0].truncated);
    assert_int_equal(c.v[0].output_len, 64 * 1024);
    assert_int_equal(strlen(c.v[0].output), 64 * 1024);
    assert_int_equal(strspn(c.v[0].output, "x"), 64 * 1024);
    runner_free(r);

    /* A small bound, and output exactly at the bound is not truncated. */
    r = runner_new(10);
    assert_non_null(r);
    run_cmd(r, &c, "printf 0123456789", 5000);
    assert_false(c.v[1].truncated);
    assert_string_equal(c.v[1].output, "0123456789");
    run_cmd(r, &c, "printf 0123456789A", 5000);
    assert_true(c.v[2].truncated);
    assert_string_equal(c.v[2].output, "0123456789");
    runner_free(r);
    collector_free(&c);
    assert_no_children();
}

static void test_no_fd_leak(void **state)
{
    /* Descriptors without O_CLOEXEC, as a careless library would leave. */
    int extra[5];
    for (int i = 0; i < 5; i++) {
        extra[i] = open("/dev/null", O_RDONLY);
        assert_true(extra[i] > 2);
    }
    struct runner *r = runner_new(0);
    assert_non_null(r);
    struct collector c = {0};
    char *argv[] = {"/bin/ls", "/proc/self/fd", NULL};
    run_argv(r, &c, argv, 5000);
    assert_int_equal(c.v[0].exit_code, 0);
    /* 0, 1 and 2, and the directory ls is reading. */
    char *save = NULL;
    int count = 0;
    for (char *tok = strtok_r(c.v[0].output, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
        int fd = atoi(tok);
        if (fd > 3)
            fail_msg("descriptor %d leaked into the plugin", fd);
        count++;
    }
    assert_true(count >= 3 && count <= 4);

    /* stdin is /dev/null. */
    char *in[] = {"/bin/readlink", "/proc/self/fd/0", NULL};
    run_argv(r, &c, in, 5000);
    assert_string_equal(c.v[1].output, "/dev/null\n");
    for (int i = 0; i < 5; i++)
        close(extra[i]);
    runner_free(r);
    collector_free(&c);
    assert_no_children();
}

/* Parses the hex mask on a /proc/PID/status line such as "SigBlk:\t...". */
static unsigned long long status_mask(const char *output, const char *field)
{
    const char *p = strstr(output, field);
    assert_non_null(p);
    return strtoull(p + strlen(field), NULL, 16);
}

static void test_signal_mask_and_dispositions(void **state)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGINT);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
    struct sigaction ign = {.sa_handler = SIG_IGN}, oldpipe;
    assert_int_equal(sigaction(SIGPIPE, &ign, &oldpipe), 0);

    struct runner *r = runner_new(0);
    assert_non_null(r);
    struct collector c = {0};
    char *argv[] = {"/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
    run_argv(r, &c, argv, 5000);
    runner_free(r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGPIPE, &oldpipe, NULL);

    assert_int_equal(c.v[0].exit_code, 0);
    assert_non_null(strstr(c.v[0].output, "SigBlk:\t0000000000000000\n"));
    assert_int_equal(status_mask(c.v[0].output, "SigBlk:"), 0);
    /* SIGPIPE is back to its default, so a plugin writing to a closed pipe
     * dies as it would from a shell. */
    unsigned long long ignored = status_mask(c.v[0].output, "SigIgn:");
    assert_int_equal(ignored & (1ULL << (SIGPIPE - 1)), 0);
    collector_free(&c);
    assert_no_children();
}

static void test_process_group(void **state)
{
    struct runner *r = runner_new(0);
    assert_non_null(r);
    struct collector c = {0};
    /* In its own group: the shell's pid is its process group id. */
    run_cmd(r, &c, "set -- $(cat /proc/$$/stat); test $5 = $$ && echo own", 5000);
    assert_string_equal(c.v[0].output, "own\n");
    runner_free(r);
    collector_free(&c);
    assert_no_children();
}

static void test_many_in_flight(void **state)
{
    enum { N = 200 };
    struct runner *r = runner_new(0);
    assert_non_null(r);
    struct collector c = {0};
    static char codes[N][4];
    static char *argvs[N][4];
    int64_t now = mono_ms();
    for (int i = 0; i < N; i++) {
        snprintf(codes[i], sizeof(codes[i]), "%d", i % 4);
        argvs[i][0] = CHECK_DUMMY;
        argvs[i][1] = codes[i];
        argvs[i][2] = "many";
        argvs[i][3] = NULL;
        /* Some with timeouts, so the heap sees many entries. */
        int rc =
            runner_start(r, argvs[i], NULL, i % 2 ? 30000 + i : 0, (void *)(uintptr_t)(i + 1), now);
        assert_int_equal(rc, 0);
    }
    assert_true(runner_active(r) <= N);
    drive(r, &c, N, 60000);
    assert_int_equal(c.n, N);
    static bool seen[N];
    for (size_t i = 0; i < c.n; i++) {
        uintptr_t tag = (uintptr_t)c.v[i].tag;
        assert_true(tag >= 1 && tag <= N);
        int k = (int)tag - 1;
        assert_false(seen[k]);
        seen[k] = true;
        assert_int_equal(c.v[i].end, RUNNER_EXITED);
        assert_int_equal(c.v[i].exit_code, k % 4);
        assert_non_null(strstr(c.v[i].output, ": many\n"));
    }
    assert_int_equal(runner_active(r), 0);
    assert_int_equal(runner_next_timeout(r, mono_ms()), -1);
    runner_free(r);
    collector_free(&c);
    assert_no_children();
}

static void test_free_kills_running(void **state)
{
    struct runner *r = runner_new(0);
    assert_non_null(r);
    for (int i = 0; i < 3; i++)
        assert_int_equal(runner_start_command(r, "sleep 60", NULL, 0, NULL, mono_ms()), 0);
    assert_int_equal(runner_active(r), 3);
    int64_t t0 = mono_ms();
    runner_free(r);
    assert_true(mono_ms() - t0 < 2000);
    assert_no_children();
}

/* The scheduler starts the next check from inside the callback; slots are
 * then reused while the runner is still walking its event batch. */
struct chain {
    struct runner *r;
    struct collector c;
    int started, limit;
};

static void chain_done(void *ctx, const struct runner_result *res)
{
    static char *argv[] = {CHECK_DUMMY, "2", "chained", NULL};
    struct chain *ch = ctx;
    collect(&ch->c, res);
    if (ch->started < ch->limit) {
        ch->started++;
        assert_int_equal(
            runner_start(ch->r, argv, NULL, 10000, (void *)(uintptr_t)ch->started, mono_ms()), 0);
    }
}

static void test_restart_from_callback(void **state)
{
    static char *argv[] = {CHECK_DUMMY, "2", "chained", NULL};
    struct chain ch = {.r = runner_new(0), .limit = 60};
    assert_non_null(ch.r);
    for (int i = 0; i < 4; i++) {
        ch.started++;
        assert_int_equal(
            runner_start(ch.r, argv, NULL, 10000, (void *)(uintptr_t)ch.started, mono_ms()), 0);
    }
    int64_t end = mono_ms() + 30000;
    while (ch.c.n < (size_t)ch.limit) {
        assert_true(mono_ms() < end);
        struct epoll_event ev;
        epoll_wait(runner_fd(ch.r), &ev, 1, 100);
        runner_poll(ch.r, mono_ms(), chain_done, &ch);
    }
    assert_int_equal(ch.c.n, ch.limit);
    static bool seen[61];
    for (size_t i = 0; i < ch.c.n; i++) {
        uintptr_t tag = (uintptr_t)ch.c.v[i].tag;
        assert_true(tag >= 1 && tag <= 60);
        assert_false(seen[tag]);
        seen[tag] = true;
        assert_int_equal(ch.c.v[i].exit_code, 2);
        assert_string_equal(ch.c.v[i].output, "CRITICAL: chained\n");
    }
    assert_int_equal(runner_active(ch.r), 0);
    runner_free(ch.r);
    collector_free(&ch.c);
    assert_no_children();
}

static void test_next_timeout(void **state)
{
    struct runner *r = runner_new(0);
    assert_non_null(r);
    assert_int_equal(runner_next_timeout(r, 1000), -1);
    /* The caller's clock is what counts; these start at a made-up 1000. */
    assert_int_equal(runner_start_command(r, "sleep 30", NULL, 5000, (void *)1, 1000), 0);
    assert_int_equal(runner_start_command(r, "sleep 30", NULL, 2000, (void *)2, 1000), 0);
    assert_int_equal(runner_start_command(r, "sleep 30", NULL, 0, (void *)3, 1000), 0);
    /* First the output pipes join the epoll set, 20 ms in; then the
     * deadlines are what is left. */
    assert_int_equal(runner_next_timeout(r, 1000), 20);
    struct collector c = {0};
    assert_int_equal(runner_poll(r, 1020, collect, &c), 0);
    assert_int_equal(runner_next_timeout(r, 1020), 1980);
    assert_int_equal(runner_next_timeout(r, 2500), 500);
    assert_int_equal(runner_next_timeout(r, 9000), 0);
    /* At 3000 only the second is due. */
    assert_int_equal(runner_poll(r, 3000, collect, &c), 0);
    assert_int_equal(runner_next_timeout(r, 3000), 3000);
    while (c.n < 1) {
        struct epoll_event ev;
        assert_int_equal(epoll_wait(runner_fd(r), &ev, 1, 5000), 1);
        runner_poll(r, 3000, collect, &c);
    }
    assert_ptr_equal(c.v[0].tag, (void *)2);
    assert_int_equal(c.v[0].end, RUNNER_TIMED_OUT);
    assert_int_equal(c.v[0].started_ms, 1000);
    assert_int_equal(runner_active(r), 2);
    runner_free(r);
    collector_free(&c);
    assert_no_children();
}

static void test_split(void **state)
{
    static const struct {
        const char *line;
        int rc;
        const char *words[8]; /* for rc 1 */
    } cases[] = {
        {"check_ping -H host -w 100,20% -c 200,40%",
         1,
         {"check_ping", "-H", "host", "-w", "100,20%", "-c", "200,40%"}},
        {"  a\tb  ", 1, {"a", "b"}},
        {"", 1, {NULL}},
        {"   ", 1, {NULL}},
        {"a 'b c' d", 1, {"a", "b c", "d"}},
        {"a 'it''s'", 1, {"a", "its"}},
        {"a \"b \\\"q\\\" \\\\ \\$ \\` \\n\"", 1, {"a", "b \"q\" \\ $ ` \\n"}},
        {"a b\\ c \\'d\\'", 1, {"a", "b c", "'d'"}},
        {"a '' \"\"", 1, {"a", "", ""}},
        {"a x\"y\"'z'", 1, {"a", "xyz"}},
        {"check_http -u '/a?b=1&c=$x'", 1, {"check_http", "-u", "/a?b=1&c=$x"}},
        {"a \\| b", 1, {"a", "|", "b"}},
        {"trail\\", 1, {"trail\\"}},
        {"a=b", 0, {NULL}}, /* an assignment, to the shell */
        {"/bin/x a=b", 1, {"/bin/x", "a=b"}},
        {"x#y", 1, {"x#y"}},
        /* Unbalanced quotes. */
        {"a 'b", -1, {NULL}},
        {"a \"b", -1, {NULL}},
        {"a \"b\\\"", -1, {NULL}},
        /* The shell is needed. */
        {"a | b", 0, {NULL}},
        {"a && b", 0, {NULL}},
        {"a; b", 0, {NULL}},
        {"a > /tmp/x", 0, {NULL}},
        {"a < /tmp/x", 0, {NULL}},
        {"(a)", 0, {NULL}},
        {"echo $HOME", 0, {NULL}},
        {"echo \"$HOME\"", 0, {NULL}},
        {"echo \"`id`\"", 0, {NULL}},
        {"echo `id`", 0, {NULL}},
        {"ls *.c", 0, {NULL}},
        {"ls a?", 0, {NULL}},
        {"ls [ab]", 0, {NULL}},
        {"echo {a,b}", 0, {NULL}},
        {"ls ~/x", 0, {NULL}},
        {"a\nb", 0, {NULL}},
        {"a 'b\nc'", 0, {NULL}},
        {"a # comment", 0, {NULL}},
        {"FOO=bar check", 0, {NULL}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char **argv = (char **)0x1;
        int rc = runner_split(cases[i].line, &argv);
        if (rc != cases[i].rc)
            fail_msg("%s: got %d, want %d", cases[i].line, rc, cases[i].rc);
        if (rc != 1) {
            assert_ptr_equal(argv, (char **)0x1);
            continue;
        }
        size_t n = 0;
        while (n < 8 && cases[i].words[n]) {
            if (!argv[n] || strcmp(argv[n], cases[i].words[n]) != 0)
                fail_msg("%s: word %zu is '%s', want '%s'", cases[i].line, n,
                         argv[n] ? argv[n] : "(null)", cases[i].words[n]);
            n++;
        }
        if (argv[n])
            fail_msg("%s: extra word '%s'", cases[i].line, argv[n]);
        runner_argv_free(argv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_dummy_exit_codes),
        cmocka_unit_test(test_multiline_output_and_stderr),
        cmocka_unit_test(test_spawn_failures),
        cmocka_unit_test(test_signaled),
        cmocka_unit_test(test_timeout_kills_group),
        cmocka_unit_test(test_grandchild_holding_pipe),
        cmocka_unit_test(test_output_truncated),
        cmocka_unit_test(test_no_fd_leak),
        cmocka_unit_test(test_signal_mask_and_dispositions),
        cmocka_unit_test(test_process_group),
        cmocka_unit_test(test_many_in_flight),
        cmocka_unit_test(test_free_kills_running),
        cmocka_unit_test(test_restart_from_callback),
        cmocka_unit_test(test_next_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
