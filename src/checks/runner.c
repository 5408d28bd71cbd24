/*
 * runner.c - runs Nagios-compatible plugins as child processes; see runner.h.
 *
 * Every child is started the way glibc's posix_spawn starts one, with
 * clone(CLONE_VM | CLONE_VFORK): no copy of our page tables, and an exec
 * failure comes back synchronously instead of as a mysterious exit 127. We do
 * it ourselves rather than call posix_spawn because posix_spawn maps and
 * unmaps a fresh stack for every child and cannot hand back a pidfd (glibc
 * 2.36), and those three system calls were a fifth of the scheduler's CPU at
 * 200 plugins a second. Here the child runs on one stack the runner maps once,
 * and CLONE_PIDFD gives the pidfd with the clone. The child gets its own
 * process group (so a timeout can kill grandchildren too), an empty signal
 * mask (the server blocks its termination signals in every thread for
 * sigwait, and a mask survives exec), default dispositions for the signals
 * plugins rely on, stdin from /dev/null, stdout and stderr on one pipe, and
 * nothing else: every descriptor from 3 up is closed.
 *
 * Exits are noticed through a pidfd per child in the runner's epoll set, so
 * there is no SIGCHLD handler and no signal to race with. A child is delivered
 * when its pidfd fires: the pipe is drained without blocking and closed, so a
 * grandchild that inherited the pipe cannot hold a result back. A pipe that
 * reaches end-of-file first just waits for its pidfd.
 *
 * The output pipe joins the epoll set only when the child is still running
 * RUNNER_PIPE_ARM_MS after its start. Most plugins print a line and exit
 * within a few milliseconds, well inside the 64 KiB a pipe buffers, so their
 * output is read once, at the exit, and the thread wakes once per run instead
 * of two or three times. A plugin that prints more than the pipe holds blocks
 * until then, and is read as it writes from that point on.
 *
 * The per-run path is kept free of heap traffic once warm: slots (with their
 * output buffers) are recycled through a free list, split command lines go
 * into scratch buffers owned by the runner, and epoll events carry the slot
 * index (plus a generation number, so an event for a slot that has since been
 * recycled is recognised) instead of needing a lookup. Timeouts live in a
 * binary min-heap.
 */
/* CMake defines this; the guard lets bench/runner_bench.c build the file
 * standalone with a bare cc (pipe2, closefrom file actions). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RUNNER_DEFAULT_OUTPUT (64 * 1024)
#define RUNNER_FIRST_BUF      1024
#define RUNNER_DISCARD        (64 * 1024)
#define RUNNER_EVENTS         64
/* Reads per readiness event, so one chatty plugin cannot starve the others. */
#define RUNNER_READS_PER_EVENT 16
/* Reads after exit: enough for a full pipe, bounded against a grandchild that
 * keeps writing as fast as we read. */
#define RUNNER_DRAIN_READS 64
/* How long a child runs before its output pipe is watched (see above). */
#define RUNNER_PIPE_ARM_MS 20
/* The stack the child runs on between clone and exec: a few frames and one
 * PATH_MAX buffer for the PATH search. */
#define RUNNER_STACK (64 * 1024)

/* epoll data: slot index and generation, plus which descriptor fired. */
#define RUNNER_KIND_PIPE  0u
#define RUNNER_KIND_PIDFD 1u
#define RUNNER_EVENTFD    UINT64_MAX

struct runner_slot {
    void *tag;           /* the caller's, never dereferenced */
    pid_t pid;           /* 0 while the slot is free */
    int pidfd;           /* owned; -1 when closed */
    int pipefd;          /* owned read end; -1 after end-of-file */
    uint32_t idx;        /* position in runner.slots */
    uint32_t gen;        /* bumped at every release */
    uint32_t next_free;  /* free-list link */
    size_t heap_pos;     /* index in runner.heap, SIZE_MAX when no timeout */
    int64_t started_ms;  /* the caller's clock */
    int64_t deadline_ms; /* the caller's clock */
    int64_t arm_ms;      /* the caller's clock: when the pipe joins the epoll set */
    int64_t start_ns;    /* CLOCK_MONOTONIC, for exec_ms */
    bool timed_out;      /* we sent the SIGKILL */
    bool truncated;
    char *buf; /* owned, kept across runs; NUL-terminated when delivered */
    size_t len, cap;
};

/* A spawn that failed for the plugin's sake, delivered at the next poll. */
struct runner_failure {
    void *tag;
    int err;
    int64_t started_ms;
};

/* Scratch space for splitting a command line without allocating per run. */
struct runner_words {
    char *chars; /* owned; the words, each NUL-terminated */
    size_t chars_cap;
    char **v; /* owned; pointers into chars, NULL-terminated */
    size_t v_cap;
    size_t argc;
};

struct runner {
    int epfd;      /* owned */
    int evfd;      /* owned eventfd: wakes the caller for queued failures */
    bool ev_armed; /* evfd has been written and not yet read */
    size_t max_output;
    int null_fd;                /* owned, O_CLOEXEC, above 2: /dev/null for the children's stdin */
    char *stack;                /* owned mapping of RUNNER_STACK bytes, the lowest page a guard */
    struct runner_slot **slots; /* owned array of owned slots; slots never move */
    size_t nslots;
    uint32_t free_head; /* UINT32_MAX when empty */
    size_t active;
    uint32_t *heap; /* owned; slot indices ordered by deadline, capacity nslots */
    size_t heap_len;
    /* Children whose pipe is not watched yet, oldest first: a ring of
     * runner_ev_data values (slot and generation; a slot that has moved on
     * is skipped). Starts are in clock order, so arm times are too. */
    uint64_t *arm;
    size_t arm_head, arm_len, arm_cap;
    struct runner_failure *pending; /* owned queue */
    size_t npending, pending_cap;
    struct runner_words words;
    char discard[RUNNER_DISCARD]; /* output beyond max_output is read into this */
};

static int64_t runner_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t runner_ev_data(const struct runner_slot *s, unsigned kind)
{
    return (uint64_t)s->gen << 32 | (uint64_t)s->idx << 1 | kind;
}

/* ---- the timeout heap ---- */

static void runner_heap_set(struct runner *r, size_t pos, uint32_t idx)
{
    r->heap[pos] = idx;
    r->slots[idx]->heap_pos = pos;
}

static int64_t runner_heap_key(const struct runner *r, size_t pos)
{
    return r->slots[r->heap[pos]]->deadline_ms;
}

static void runner_heap_up(struct runner *r, size_t pos)
{
    uint32_t idx = r->heap[pos];
    int64_t key = r->slots[idx]->deadline_ms;
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (runner_heap_key(r, parent) <= key)
            break;
        runner_heap_set(r, pos, r->heap[parent]);
        pos = parent;
    }
    runner_heap_set(r, pos, idx);
}

static void runner_heap_down(struct runner *r, size_t pos)
{
    uint32_t idx = r->heap[pos];
    int64_t key = r->slots[idx]->deadline_ms;
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= r->heap_len)
            break;
        if (child + 1 < r->heap_len && runner_heap_key(r, child + 1) < runner_heap_key(r, child))
            child++;
        if (runner_heap_key(r, child) >= key)
            break;
        runner_heap_set(r, pos, r->heap[child]);
        pos = child;
    }
    runner_heap_set(r, pos, idx);
}

/* The heap's capacity equals the slot count, so a push cannot fail. */
static void runner_heap_push(struct runner *r, struct runner_slot *s)
{
    r->heap[r->heap_len] = s->idx;
    s->heap_pos = r->heap_len++;
    runner_heap_up(r, s->heap_pos);
}

static void runner_heap_remove(struct runner *r, struct runner_slot *s)
{
    size_t pos = s->heap_pos;
    s->heap_pos = SIZE_MAX;
    r->heap_len--;
    if (pos == r->heap_len)
        return;
    runner_heap_set(r, pos, r->heap[r->heap_len]);
    /* The moved entry may belong above or below its new place. */
    runner_heap_up(r, pos);
    runner_heap_down(r, r->slots[r->heap[pos]]->heap_pos);
}

/* ---- slots ---- */

/* Takes a free slot, growing the table (and the heap with it) when needed. */
static struct runner_slot *runner_slot_get(struct runner *r)
{
    if (r->free_head == UINT32_MAX) {
        size_t ncap = r->nslots ? r->nslots * 2 : 16;
        if (ncap > UINT32_MAX / 2) {
            errno = ENOMEM;
            return NULL;
        }
        struct runner_slot **ns = realloc(r->slots, ncap * sizeof(*ns));
        if (!ns)
            return NULL;
        r->slots = ns;
        uint32_t *nh = realloc(r->heap, ncap * sizeof(*nh));
        if (!nh)
            return NULL;
        r->heap = nh;
        /* Slots are allocated one at a time so that a failure part way leaves
         * a consistent, merely smaller, table. */
        for (size_t i = r->nslots; i < ncap; i++) {
            struct runner_slot *s = calloc(1, sizeof(*s));
            if (!s)
                break;
            s->idx = (uint32_t)i;
            s->pidfd = -1;
            s->pipefd = -1;
            s->heap_pos = SIZE_MAX;
            s->next_free = r->free_head;
            r->free_head = s->idx;
            r->slots[i] = s;
            r->nslots++;
        }
        if (r->free_head == UINT32_MAX) {
            errno = ENOMEM;
            return NULL;
        }
    }
    struct runner_slot *s = r->slots[r->free_head];
    r->free_head = s->next_free;
    return s;
}

/* Returns a slot to the free list; its buffer is kept for the next run. */
static void runner_slot_put(struct runner *r, struct runner_slot *s)
{
    if (s->heap_pos != SIZE_MAX)
        runner_heap_remove(r, s);
    s->pid = 0;
    s->gen++;
    s->tag = NULL;
    s->next_free = r->free_head;
    r->free_head = s->idx;
}

/* ---- output ---- */

static void runner_close_pipe(struct runner_slot *s)
{
    if (s->pipefd >= 0) {
        /* We hold the only descriptor for the read end, so closing it also
         * takes it out of the epoll set. */
        close(s->pipefd);
        s->pipefd = -1;
    }
}

/*
 * Reads what the pipe holds, keeping up to max_output bytes. Stops at a short
 * read (the pipe is empty for now; level-triggered epoll will say when there
 * is more), at EAGAIN, or after max_reads reads. Closes the pipe at EOF.
 */
static void runner_read(struct runner *r, struct runner_slot *s, int max_reads)
{
    for (int i = 0; i < max_reads && s->pipefd >= 0; i++) {
        char *dst;
        size_t want;
        if (s->len < r->max_output) {
            if (s->cap - s->len < 2) {
                size_t ncap = s->cap ? s->cap * 2 : RUNNER_FIRST_BUF;
                if (ncap > r->max_output + 1)
                    ncap = r->max_output + 1;
                char *nb = realloc(s->buf, ncap);
                if (nb) {
                    s->buf = nb;
                    s->cap = ncap;
                }
            }
            if (s->cap - s->len >= 2) {
                dst = s->buf + s->len;
                want = s->cap - 1 - s->len;
            } else {
                /* Out of memory: keep what we have and discard the rest. */
                dst = r->discard;
                want = sizeof(r->discard);
            }
        } else {
            dst = r->discard;
            want = sizeof(r->discard);
        }
        ssize_t n = read(s->pipefd, dst, want);
        if (n > 0) {
            if (dst == r->discard)
                s->truncated = true;
            else
                s->len += (size_t)n;
            if ((size_t)n < want)
                return;
        } else if (n == 0) {
            runner_close_pipe(s);
        } else if (errno == EINTR) {
            i--;
        } else if (errno == EAGAIN) {
            return;
        } else {
            runner_close_pipe(s);
        }
    }
}

/* ---- delivery ---- */

static void runner_fill_status(struct runner_result *res, int status)
{
    if (WIFEXITED(status)) {
        res->end = RUNNER_EXITED;
        res->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        res->end = RUNNER_SIGNALED;
        res->term_signal = WTERMSIG(status);
    }
}

/*
 * Reaps a child whose pidfd fired and delivers it. Returns 1 when delivered,
 * 0 when the child turned out not to have exited yet.
 */
static int runner_reap(struct runner *r, struct runner_slot *s, runner_done_fn done, void *ctx)
{
    int status = 0;
    pid_t w;
    do
        w = waitpid(s->pid, &status, WNOHANG);
    while (w < 0 && errno == EINTR);
    if (w == 0)
        return 0;
    int64_t end_ns = runner_mono_ns();

    struct runner_result res = {.tag = s->tag, .started_ms = s->started_ms};
    if (w < 0) {
        /* ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN, or a
         * waitpid(-1) elsewhere in the process). The status is lost. */
        res.end = RUNNER_SIGNALED;
    } else {
        runner_fill_status(&res, status);
    }
    if (s->timed_out)
        res.end = RUNNER_TIMED_OUT;

    /* Everything the child wrote is in the pipe now. A grandchild may still
     * hold the write end, so read only what is there and stop waiting. */
    runner_read(r, s, RUNNER_DRAIN_READS);
    runner_close_pipe(s);
    close(s->pidfd);
    s->pidfd = -1;

    if (s->buf) {
        s->buf[s->len] = '\0';
        res.output = s->buf;
    } else {
        res.output = "";
    }
    res.output_len = s->len;
    res.truncated = s->truncated;
    /* Rounded up: the caller reads its clock in whole milliseconds, so a run
     * it killed at the timeout ran at least that long. */
    res.exec_ms = (end_ns - s->start_ns + 999999) / 1000000;

    r->active--;
    /* Leave the timeout heap before the callback, which may start another
     * child and must not see this one's deadline. The slot itself stays
     * claimed until the callback returns, since output points into it. */
    if (s->heap_pos != SIZE_MAX)
        runner_heap_remove(r, s);
    done(ctx, &res);
    runner_slot_put(r, s);
    return 1;
}

/* Delivers spawn failures queued before this poll; returns how many. */
static int runner_deliver_failures(struct runner *r, runner_done_fn done, void *ctx)
{
    if (r->ev_armed) {
        uint64_t v;
        if (read(r->evfd, &v, sizeof(v)) < 0) {
            /* EAGAIN only: the counter was already zero. */
        }
        r->ev_armed = false;
    }
    /* Failures queued by callbacks during this loop wait for the next poll,
     * which the eventfd they re-arm will announce. */
    size_t n = r->npending;
    for (size_t i = 0; i < n; i++) {
        struct runner_failure f = r->pending[i];
        struct runner_result res = {.tag = f.tag,
                                    .end = RUNNER_SPAWN_FAILED,
                                    .spawn_errno = f.err,
                                    .output = "",
                                    .started_ms = f.started_ms};
        done(ctx, &res);
    }
    r->npending -= n;
    memmove(r->pending, r->pending + n, r->npending * sizeof(*r->pending));
    return (int)n;
}

/* Queues a failure for the next poll. Returns -1 (errno ENOMEM) if it cannot. */
static int runner_queue_failure(struct runner *r, void *tag, int err, int64_t now_ms)
{
    if (r->npending == r->pending_cap) {
        size_t ncap = r->pending_cap ? r->pending_cap * 2 : 8;
        struct runner_failure *np = realloc(r->pending, ncap * sizeof(*np));
        if (!np)
            return -1;
        r->pending = np;
        r->pending_cap = ncap;
    }
    r->pending[r->npending++] = (struct runner_failure){tag, err, now_ms};
    if (!r->ev_armed) {
        uint64_t one = 1;
        if (write(r->evfd, &one, sizeof(one)) == (ssize_t)sizeof(one))
            r->ev_armed = true;
    }
    return 0;
}

/* ---- spawning ---- */

/* Errors that retrying later may cure; everything else is the plugin's. */
static bool runner_resource_error(int err)
{
    return err == EMFILE || err == ENFILE || err == EAGAIN || err == ENOMEM;
}

/* What the child needs between clone and exec; it lives on the parent's
 * stack, which the child shares until it execs or exits. */
struct runner_child {
    char *const *argv;
    char *const *envp;
    const char *path; /* $PATH, for an argv[0] without a slash only */
    int out_fd;       /* the pipe's write end, above 2 */
    int in_fd;        /* stdin, above 2 */
    volatile int err; /* set by the child when it cannot exec */
};

/* The signals whose disposition a plugin must find at its default: an ignored
 * one survives exec, and a handler must not run in the child, which shares
 * our memory until it execs. */
static const int runner_default_signals[] = {SIGPIPE, SIGTERM, SIGINT,  SIGHUP,  SIGQUIT,
                                             SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2, SIGXFSZ,
                                             SIGTSTP, SIGTTIN, SIGTTOU};

/* execve, or for a name without a slash every directory of $PATH in turn, as
 * execvp does. Returns only on failure, with errno set. */
static void runner_child_exec(const struct runner_child *a)
{
    const char *file = a->argv[0];
    if (!a->path) {
        execve(file, a->argv, a->envp);
        return;
    }
    char buf[PATH_MAX];
    size_t flen = strlen(file);
    bool denied = false;
    for (const char *d = a->path; d;) {
        const char *end = strchr(d, ':');
        size_t dlen = end ? (size_t)(end - d) : strlen(d);
        /* An empty entry means the current directory. */
        size_t n = dlen ? dlen : 1;
        if (n + 1 + flen < sizeof(buf)) {
            memcpy(buf, dlen ? d : ".", n);
            buf[n] = '/';
            memcpy(buf + n + 1, file, flen + 1);
            execve(buf, a->argv, a->envp);
            if (errno == EACCES)
                denied = true;
            else if (errno != ENOENT && errno != ENOTDIR)
                return;
        }
        d = end ? end + 1 : NULL;
    }
    errno = denied ? EACCES : ENOENT;
}

/*
 * The child between clone and exec. It runs on the runner's stack in our
 * address space with every signal blocked, so it only makes system calls and
 * touches nothing but its argument; the sanitizers stay out of it, as they
 * would keep their bookkeeping in memory the parent owns.
 */
__attribute__((no_sanitize("address", "undefined"))) static int runner_child_main(void *arg)
{
    struct runner_child *a = arg;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof(runner_default_signals) / sizeof(runner_default_signals[0]); i++)
        sigaction(runner_default_signals[i], &dfl, NULL);
    if (setpgid(0, 0) != 0 || dup2(a->out_fd, 1) < 0 || dup2(a->out_fd, 2) < 0 ||
        dup2(a->in_fd, 0) < 0)
        goto fail;
    if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
        /* Before Linux 5.9: close them one by one. */
        struct rlimit rl;
        int max =
            getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
        for (int fd = 3; fd < max; fd++)
            close(fd);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    runner_child_exec(a);
fail:
    a->err = errno ? errno : ENOEXEC;
    _exit(127);
}

/*
 * Starts a child running argv with envp, stdout and stderr on out_fd, stdin
 * from in_fd. Returns 0 with *pid and *pidfd set, or an errno value: the
 * clone's own failure, or why the child could not exec (the child has been
 * reaped then).
 */
static int runner_clone(struct runner *r, char *const argv[], char *const envp[], int out_fd,
                        int in_fd, pid_t *pid, int *pidfd)
{
    struct runner_child a = {
        .argv = argv,
        .envp = envp,
        .out_fd = out_fd,
        .in_fd = in_fd,
        .err = 0,
    };
    /* Plugins are named by path; only a bare name needs $PATH. */
    if (!strchr(argv[0], '/')) {
        a.path = getenv("PATH");
        if (!a.path)
            a.path = "/usr/local/bin:/bin:/usr/bin";
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int fd = -1;
    /* CLONE_VFORK: we continue once the child has exec'd or exited, so its
     * stack is free again and a.err is final. */
    pid_t p = clone(runner_child_main, r->stack + RUNNER_STACK,
                    CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &a, &fd);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p < 0)
        return err;
    if (a.err) {
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {
        }
        close(fd);
        return a.err;
    }
    *pid = p;
    *pidfd = fd;
    return 0;
}

/*
 * Moves a pipe descriptor that landed on 0, 1 or 2 (a server started with
 * those closed) above them, where the file actions cannot clobber it.
 */
static int runner_lift_fd(int *fd)
{
    if (*fd > 2)
        return 0;
    int nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (nfd < 0)
        return -1;
    close(*fd);
    *fd = nfd;
    return 0;
}

/* Kills and reaps a child we cannot track, for error paths after spawn. */
static void runner_kill_now(pid_t pid)
{
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* ---- watching pipes late ---- */

/* The slot an arm entry names, or NULL when that run has been delivered. */
static struct runner_slot *runner_arm_slot(const struct runner *r, uint64_t d)
{
    uint32_t idx = (uint32_t)(d & UINT32_MAX) >> 1;
    struct runner_slot *s = idx < r->nslots ? r->slots[idx] : NULL;
    if (!s || s->gen != (uint32_t)(d >> 32) || s->pid == 0 || s->pipefd < 0)
        return NULL;
    return s;
}

/*
 * Adds the slot's pipe to the epoll set. If that fails the output is still
 * read at the exit; only a plugin that fills the pipe would then wait for its
 * timeout.
 */
static int runner_watch_pipe(struct runner *r, struct runner_slot *s)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = runner_ev_data(s, RUNNER_KIND_PIPE)};
    return epoll_ctl(r->epfd, EPOLL_CTL_ADD, s->pipefd, &ev);
}

/* Queues the slot's pipe to be watched at s->arm_ms. -1 when out of memory. */
static int runner_arm_push(struct runner *r, const struct runner_slot *s)
{
    if (r->arm_len == r->arm_cap) {
        size_t ncap = r->arm_cap ? r->arm_cap * 2 : 64;
        uint64_t *na = malloc(ncap * sizeof(*na));
        if (!na)
            return -1;
        for (size_t i = 0; i < r->arm_len; i++)
            na[i] = r->arm[(r->arm_head + i) % r->arm_cap];
        free(r->arm);
        r->arm = na;
        r->arm_cap = ncap;
        r->arm_head = 0;
    }
    r->arm[(r->arm_head + r->arm_len) % r->arm_cap] = runner_ev_data(s, RUNNER_KIND_PIPE);
    r->arm_len++;
    return 0;
}

/* Watches the pipes whose time has come and forgets runs already delivered. */
static void runner_arm_due(struct runner *r, int64_t now_ms)
{
    while (r->arm_len) {
        struct runner_slot *s = runner_arm_slot(r, r->arm[r->arm_head]);
        if (s && s->arm_ms > now_ms)
            return;
        if (s)
            runner_watch_pipe(r, s);
        r->arm_head = (r->arm_head + 1) % r->arm_cap;
        r->arm_len--;
    }
}

/* runner_start and runner_start_stdin; in_fd is -1 for /dev/null, else > 2. */
static int runner_spawn(struct runner *r, char *const argv[], char *const envp[], int in_fd,
                        int64_t timeout_ms, void *tag, int64_t now_ms)
{
    if (!argv || !argv[0] || !argv[0][0])
        return runner_queue_failure(r, tag, argv && argv[0] ? ENOENT : EINVAL, now_ms);

    /* The run's time counts from here, like the caller's now_ms, so that a
     * run killed at its timeout never reports less than the timeout when
     * setting up the pipe took a while under load. */
    int64_t entry_ns = runner_mono_ns();
    struct runner_slot *s = runner_slot_get(r);
    if (!s)
        return -1;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        goto fail_slot;
    if (runner_lift_fd(&p[0]) != 0 || runner_lift_fd(&p[1]) != 0)
        goto fail_pipe;
    /* Only our end is non-blocking: plugins expect an ordinary blocking
     * stdout, and O_NONBLOCK lives on the open file description. */
    if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0)
        goto fail_pipe;
    s->start_ns = entry_ns;
    pid_t pid;
    int pidfd;
    int err = runner_clone(r, argv, envp ? envp : environ, p[1], in_fd >= 0 ? in_fd : r->null_fd,
                           &pid, &pidfd);
    close(p[1]);
    if (err) {
        close(p[0]);
        runner_slot_put(r, s);
        if (runner_resource_error(err)) {
            errno = err;
            return -1;
        }
        return runner_queue_failure(r, tag, err, now_ms);
    }

    struct epoll_event ev = {.events = EPOLLIN};
    s->pidfd = pidfd;
    s->pipefd = p[0];
    ev.data.u64 = runner_ev_data(s, RUNNER_KIND_PIDFD);
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, pidfd, &ev) != 0)
        goto fail_child;
    s->arm_ms = now_ms + RUNNER_PIPE_ARM_MS;
    if (runner_arm_push(r, s) != 0 && runner_watch_pipe(r, s) != 0)
        goto fail_child;

    s->pid = pid;
    s->tag = tag;
    s->started_ms = now_ms;
    s->timed_out = false;
    s->truncated = false;
    s->len = 0;
    if (timeout_ms > 0) {
        s->deadline_ms = now_ms + timeout_ms;
        runner_heap_push(r, s);
    }
    r->active++;
    return 0;

fail_child:
    /* The child is running but cannot be watched; better to kill it now
     * than to leak it, and report the resource shortage. */
    err = errno;
    runner_kill_now(pid);
    if (s->pidfd >= 0)
        close(s->pidfd);
    s->pidfd = -1;
    s->pipefd = -1;
    close(p[0]);
    runner_slot_put(r, s);
    errno = err;
    return -1;
fail_pipe:
    err = errno;
    close(p[0]);
    close(p[1]);
    errno = err;
fail_slot:
    err = errno;
    runner_slot_put(r, s);
    errno = err;
    return -1;
}

int runner_start(struct runner *r, char *const argv[], char *const envp[], int64_t timeout_ms,
                 void *tag, int64_t now_ms)
{
    return runner_spawn(r, argv, envp, -1, timeout_ms, tag, now_ms);
}

int runner_start_stdin(struct runner *r, char *const argv[], char *const envp[], int stdin_fd,
                       int64_t timeout_ms, void *tag, int64_t now_ms)
{
    if (stdin_fd < 0)
        return runner_spawn(r, argv, envp, -1, timeout_ms, tag, now_ms);
    /* The child puts the pipe on 1 and 2 before stdin_fd is copied to 0, so a descriptor there
     * would be overwritten first: use a copy above them. */
    int fd = stdin_fd;
    if (fd <= 2) {
        fd = fcntl(stdin_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            return -1;
    }
    int rc = runner_spawn(r, argv, envp, fd, timeout_ms, tag, now_ms);
    if (fd != stdin_fd) {
        int err = errno;
        close(fd);
        errno = err;
    }
    return rc;
}

/* ---- splitting command lines ---- */

/* Characters that make a command line need the shell when unquoted. */
static bool runner_metachar(char c)
{
    return c && strchr("|&;<>()$`*?[]{}~", c) != NULL;
}

static bool runner_name_char(char c, bool first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (!first && c >= '0' && c <= '9');
}

/*
 * Splits cmd into w (reusing its buffers). Returns 1 when it can run
 * directly, 0 when it needs the shell, -1 on unbalanced quotes and -2 when
 * out of memory.
 *
 * Quoted metacharacters are literal to the shell too, so only unquoted ones
 * (and $ or ` inside double quotes, which the shell expands) send a command
 * to /bin/sh; so do a newline anywhere, a # starting a word (a comment) and a
 * leading NAME=value (an environment assignment), which exec would misread.
 */
static int runner_split_into(const char *cmd, struct runner_words *w)
{
    if (strchr(cmd, '\n'))
        return 0;
    size_t len = strlen(cmd);
    if (w->chars_cap < len + 1) {
        char *nc = realloc(w->chars, len + 1);
        if (!nc)
            return -2;
        w->chars = nc;
        w->chars_cap = len + 1;
    }
    char *out = w->chars;
    w->argc = 0;
    const char *p = cmd;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (*p == '#')
            return 0;
        char *word = out;
        /* Whether the word so far is an unquoted shell name, which an '='
         * would turn into an assignment when it is the first word. */
        bool name = w->argc == 0;
        while (*p && *p != ' ' && *p != '\t') {
            char c = *p++;
            if (c == '\'') {
                name = false;
                while (*p != '\'') {
                    if (!*p)
                        return -1;
                    *out++ = *p++;
                }
                p++;
            } else if (c == '"') {
                name = false;
                while (*p != '"') {
                    if (!*p)
                        return -1;
                    if (*p == '$' || *p == '`')
                        return 0;
                    if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
                        p++;
                    *out++ = *p++;
                }
                p++;
            } else if (c == '\\') {
                name = false;
                /* A trailing backslash stays literal, as in sh. */
                *out++ = *p ? *p++ : '\\';
            } else if (runner_metachar(c)) {
                return 0;
            } else if (c == '=' && name && out > word) {
                return 0;
            } else {
                if (name && !runner_name_char(c, out == word))
                    name = false;
                *out++ = c;
            }
        }
        *out++ = '\0';
        if (w->argc + 2 > w->v_cap) {
            size_t ncap = w->v_cap ? w->v_cap * 2 : 16;
            char **nv = realloc(w->v, ncap * sizeof(*nv));
            if (!nv)
                return -2;
            w->v = nv;
            w->v_cap = ncap;
        }
        w->v[w->argc++] = word;
    }
    if (w->v_cap == 0) {
        w->v = malloc(16 * sizeof(*w->v));
        if (!w->v)
            return -2;
        w->v_cap = 16;
    }
    w->v[w->argc] = NULL;
    return 1;
}

static void runner_words_free(struct runner_words *w)
{
    free(w->chars);
    free(w->v);
}

int runner_split(const char *command_line, char ***argv)
{
    struct runner_words w = {0};
    int rc = runner_split_into(command_line, &w);
    if (rc < 0)
        rc = -1;
    if (rc == 1) {
        /* One block: the pointer array followed by the strings, so that
         * runner_argv_free is a single free. */
        size_t chars = 0;
        for (size_t i = 0; i < w.argc; i++)
            chars += strlen(w.v[i]) + 1;
        char **v = malloc((w.argc + 1) * sizeof(*v) + chars);
        if (!v) {
            rc = -1;
        } else {
            char *dst = (char *)(v + w.argc + 1);
            for (size_t i = 0; i < w.argc; i++) {
                size_t n = strlen(w.v[i]) + 1;
                memcpy(dst, w.v[i], n);
                v[i] = dst;
                dst += n;
            }
            v[w.argc] = NULL;
            *argv = v;
        }
    }
    runner_words_free(&w);
    return rc;
}

void runner_argv_free(char **argv)
{
    free(argv);
}

int runner_start_command(struct runner *r, const char *command_line, char *const envp[],
                         int64_t timeout_ms, void *tag, int64_t now_ms)
{
    int rc = runner_split_into(command_line, &r->words);
    if (rc == -2) {
        errno = ENOMEM;
        return -1;
    }
    if (rc < 0) {
        /* Unbalanced quotes: a configuration error, reported like a missing
         * plugin so the check shows it instead of being retried forever. */
        return runner_queue_failure(r, tag, EINVAL, now_ms);
    }
    if (rc == 1) {
        if (r->words.argc == 0)
            return runner_queue_failure(r, tag, ENOENT, now_ms);
        return runner_start(r, r->words.v, envp, timeout_ms, tag, now_ms);
    }
    /* execve does not write to argv; the casts only drop const. */
    char *const sh[] = {(char *)"/bin/sh", (char *)"-c", (char *)command_line, NULL};
    return runner_start(r, sh, envp, timeout_ms, tag, now_ms);
}

/* ---- the runner ---- */

struct runner *runner_new(size_t max_output)
{
    /* Refuse early on a kernel without pidfd_open (before 5.3) rather than
     * failing at the first plugin. */
    int probe = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (probe < 0)
        return NULL;
    close(probe);

    struct runner *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->max_output = max_output ? max_output : RUNNER_DEFAULT_OUTPUT;
    r->free_head = UINT32_MAX;
    r->evfd = -1;
    r->null_fd = -1;
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r->epfd < 0)
        goto fail;
    r->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->evfd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = RUNNER_EVENTFD};
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) != 0)
        goto fail;

    r->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (r->null_fd < 0 || runner_lift_fd(&r->null_fd) != 0)
        goto fail;
    r->stack = mmap(NULL, RUNNER_STACK, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (r->stack == MAP_FAILED) {
        r->stack = NULL;
        goto fail;
    }
    /* The lowest page is a guard: overflowing the child's stack faults
     * instead of writing into whatever is mapped below. */
    if (mprotect(r->stack, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE) != 0)
        goto fail;
    return r;

fail:;
    int err = errno;
    if (r->stack)
        munmap(r->stack, RUNNER_STACK);
    if (r->null_fd >= 0)
        close(r->null_fd);
    if (r->evfd >= 0)
        close(r->evfd);
    if (r->epfd >= 0)
        close(r->epfd);
    free(r);
    errno = err;
    return NULL;
}

void runner_free(struct runner *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nslots; i++) {
        struct runner_slot *s = r->slots[i];
        if (s->pid > 0)
            runner_kill_now(s->pid);
        if (s->pidfd >= 0)
            close(s->pidfd);
        runner_close_pipe(s);
        free(s->buf);
        free(s);
    }
    free(r->slots);
    free(r->heap);
    free(r->arm);
    free(r->pending);
    runner_words_free(&r->words);
    munmap(r->stack, RUNNER_STACK);
    close(r->null_fd);
    close(r->evfd);
    close(r->epfd);
    free(r);
}

int runner_fd(const struct runner *r)
{
    return r->epfd;
}

size_t runner_active(const struct runner *r)
{
    return r->active;
}

int runner_poll(struct runner *r, int64_t now_ms, runner_done_fn done, void *ctx)
{
    int delivered = 0;
    if (r->npending || r->ev_armed)
        delivered += runner_deliver_failures(r, done, ctx);

    struct epoll_event evs[RUNNER_EVENTS];
    for (;;) {
        int n = epoll_wait(r->epfd, evs, RUNNER_EVENTS, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            if (d == RUNNER_EVENTFD)
                continue; /* handled above; failures queued since wait for the next poll */
            uint32_t idx = (uint32_t)(d & UINT32_MAX) >> 1;
            uint32_t gen = (uint32_t)(d >> 32);
            if (idx >= r->nslots)
                continue;
            struct runner_slot *s = r->slots[idx];
            /* A callback earlier in this batch may have finished and even
             * reused the slot; the generation tells. */
            if (s->gen != gen || s->pid == 0)
                continue;
            if ((d & 1) == RUNNER_KIND_PIDFD)
                delivered += runner_reap(r, s, done, ctx);
            else
                runner_read(r, s, RUNNER_READS_PER_EVENT);
        }
        if (n < RUNNER_EVENTS)
            break;
    }

    runner_arm_due(r, now_ms);

    /* Kill the groups whose time is up. Their pidfds fire once they are
     * dead, and the next poll delivers them as timed out. */
    while (r->heap_len && r->slots[r->heap[0]]->deadline_ms <= now_ms) {
        struct runner_slot *s = r->slots[r->heap[0]];
        runner_heap_remove(r, s);
        s->timed_out = true;
        kill(-s->pid, SIGKILL);
    }
    return delivered;
}

int64_t runner_next_timeout(const struct runner *r, int64_t now_ms)
{
    if (r->npending)
        return 0;
    int64_t at = INT64_MAX;
    if (r->heap_len)
        at = r->slots[r->heap[0]]->deadline_ms;
    for (size_t i = 0; i < r->arm_len; i++) {
        const struct runner_slot *s = runner_arm_slot(r, r->arm[(r->arm_head + i) % r->arm_cap]);
        if (s) {
            if (s->arm_ms < at)
                at = s->arm_ms;
            break;
        }
    }
    if (at == INT64_MAX)
        return -1;
    return at > now_ms ? at - now_ms : 0;
}
