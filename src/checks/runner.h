/*
 * runner.h - runs Nagios-compatible plugins as child processes.
 *
 * A runner belongs to one thread (the check scheduler) and multiplexes many
 * plugins at once without threads: each child is started with
 * clone(CLONE_VM | CLONE_VFORK) (vfork speed, no copy of our address space,
 * a pidfd from the clone itself) in its own process group, with
 * stdout and stderr on one non-blocking pipe and every other descriptor
 * closed. The runner's epoll descriptor becomes readable when any child has
 * output or has exited (pidfd), so the scheduler can wait on it together with
 * other sources. Output beyond max_output bytes is read and discarded so the
 * child never blocks on a full pipe. At the timeout the whole process group
 * is killed. Every child is reaped: no zombies.
 *
 * THREAD SAFETY NOTES: not thread-safe; one runner per thread. The process
 * must not set SIGCHLD to SIG_IGN or call waitpid(-1) anywhere: either reaps
 * the runner's children behind its back and loses their exit status.
 */
#ifndef TOCSIN_RUNNER_H
#define TOCSIN_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct runner;

/* Why a run ended. */
enum runner_end {
    RUNNER_EXITED = 0,       /* exit_code is valid */
    RUNNER_SIGNALED = 1,     /* killed by term_signal (not by us) */
    RUNNER_TIMED_OUT = 2,    /* we killed it at the timeout */
    RUNNER_SPAWN_FAILED = 3, /* never started; spawn_errno says why */
};

struct runner_result {
    void *tag; /* as given to runner_start */
    enum runner_end end;
    int exit_code;      /* RUNNER_EXITED */
    int term_signal;    /* RUNNER_SIGNALED */
    int spawn_errno;    /* RUNNER_SPAWN_FAILED: ENOENT, EACCES, ... */
    const char *output; /* borrowed, NUL-terminated; valid only during the callback */
    size_t output_len;
    bool truncated;     /* the plugin wrote more than max_output bytes */
    int64_t started_ms; /* when the child was spawned (the `now` given to start) */
    int64_t exec_ms;    /* wall time from spawn to exit, measured by the runner */
};

typedef void (*runner_done_fn)(void *ctx, const struct runner_result *res);

/*
 * Creates a runner. max_output bounds what is kept of each plugin's output
 * (default 64 KiB when 0). Returns NULL on failure with errno set.
 */
struct runner *runner_new(size_t max_output);

/* Kills and reaps every child still running, then frees the runner. */
void runner_free(struct runner *r);

/*
 * Starts argv[0] (an absolute path or found via PATH) with argv and the
 * environment envp (NULL: the process's own environment). The child runs in
 * a new process group with stdin from /dev/null. timeout_ms > 0 kills the
 * group that long after now_ms. Returns 0 when started or when the spawn
 * failed in a way that is the plugin's fault (missing, not executable): then
 * the failure is delivered through the callback like any other result, at
 * the next runner_poll. Returns -1 only for resource exhaustion (EMFILE,
 * EAGAIN); the caller retries later.
 */
int runner_start(struct runner *r, char *const argv[], char *const envp[], int64_t timeout_ms,
                 void *tag, int64_t now_ms);

/*
 * Same as runner_start, but the child's stdin is a copy of stdin_fd (for
 * instance a memfd holding a message, read from its current offset) instead
 * of /dev/null; -1 means /dev/null. The caller keeps stdin_fd and may close it
 * once this returns.
 */
int runner_start_stdin(struct runner *r, char *const argv[], char *const envp[], int stdin_fd,
                       int64_t timeout_ms, void *tag, int64_t now_ms);

/*
 * Starts a command line. Without shell metacharacters it is split into words
 * (single and double quotes and backslash escapes as the shell does) and run
 * directly; with any unquoted |&;<>()$`*?[]{}~, a $ or ` inside double
 * quotes, a newline, a word starting with # or a leading NAME=value it is run
 * with /bin/sh -c, as Nagios does. Same returns as runner_start; an empty or
 * unbalanced command line is delivered as RUNNER_SPAWN_FAILED (ENOENT,
 * EINVAL).
 */
int runner_start_command(struct runner *r, const char *command_line, char *const envp[],
                         int64_t timeout_ms, void *tag, int64_t now_ms);

/* The epoll descriptor to wait on (readable when runner_poll has work). */
int runner_fd(const struct runner *r);

/* Children currently running. */
size_t runner_active(const struct runner *r);

/*
 * Reads output, reaps exited children, kills timed-out groups (judged by
 * now_ms) and calls done once per finished child. Does not block. Returns the
 * number of results delivered.
 */
int runner_poll(struct runner *r, int64_t now_ms, runner_done_fn done, void *ctx);

/* ms until the earliest timeout (-1 when no child has one). */
int64_t runner_next_timeout(const struct runner *r, int64_t now_ms);

/*
 * Splits a command line as runner_start_command does. Returns 1 and a
 * malloc'd NULL-terminated argv (free with runner_argv_free) when it can be
 * run directly, 0 when it needs a shell (argv untouched), -1 on unbalanced
 * quotes or out of memory.
 */
int runner_split(const char *command_line, char ***argv);
void runner_argv_free(char **argv);

#endif
