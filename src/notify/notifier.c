/*
 * notifier.c - the delivery thread; see notify.h.
 *
 * One thread, "tocsin-notify", does every delivery. Callers hand messages in
 * through a mutex-protected FIFO inbox and an eventfd that wakes the thread;
 * the thread moves them to its own waiting queue and starts them in order
 * while fewer than max_inflight are running. Webhooks and mail are easy
 * handles on one libcurl multi handle; commands are children of one runner
 * (src/checks/runner.c: clone with vfork semantics, own process group, pidfd, output
 * bounded, group killed at the timeout). The thread sleeps in
 * curl_multi_poll, which watches curl's sockets and timers and, as extra
 * descriptors, the inbox eventfd and the runner's epoll descriptor, so a new
 * message, a finished transfer and an exited child all wake the same wait
 * and no child or transfer ever blocks the thread.
 *
 * Every accepted message ends in exactly one on_result call, also when it
 * cannot even be started (bad channel, render failure, no memory): the engine
 * counts on a result to move the outbox row on. Only notifier_stop drops
 * messages without a result; their rows stay pending and are sent again.
 */
#include "notify.h"
#include "notify_int.h"

#include "../base/clock.h"
#include "../base/log.h"
#include "../checks/runner.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define NOTIFIER_DEFAULT_INFLIGHT 256
#define NOTIFIER_DEFAULT_TMO_MS   10000
#define NOTIFIER_OUTPUT_MAX       4096  /* bytes of a command's output kept */
#define NOTIFIER_IDLE_WAIT_MS     60000 /* nothing to time: sleep until woken */
#define NOTIFIER_RESP_MAX         200   /* bytes of an error response kept for detail */

struct notifier_job {
    struct notifier_job *next, *prev; /* inbox or waiting queue (next only), or in flight */
    struct notify_msg *m;             /* owned */
    int64_t start_us;                 /* clock_mono_us when started */
    int64_t timeout_ms;

    /* Webhook and mail. */
    CURL *easy;                       /* owned while in flight */
    struct curl_slist *headers;       /* owned; webhook request headers */
    struct curl_slist *rcpt;          /* owned; mail recipients */
    char *body;                       /* owned; request body or mail message */
    size_t body_len, body_off;        /* body_off: how much the mail upload has read */
    char *mail_from;                  /* owned; envelope sender "<addr>" */
    char resp[NOTIFIER_RESP_MAX + 1]; /* start of the HTTP response body */
    size_t resp_len;
    char errbuf[CURL_ERROR_SIZE];

    bool command; /* a child of the runner */
};

struct notifier {
    pthread_t thread;
    pthread_mutex_t mu;
    struct notifier_job *in_head, *in_tail; /* inbox, under mu */
    bool stopping;                          /* under mu */
    int evfd;                               /* owned; written by every send and by stop */

    void (*on_result)(const struct notify_result *r, void *arg);
    void *arg;
    size_t max_inflight;
    char *path; /* owned; PATH handed to commands */

    /* Only the thread touches the rest. */
    CURLM *multi;                               /* owned */
    struct runner *runner;                      /* owned; NULL without pidfd support */
    struct notifier_job *wait_head, *wait_tail; /* accepted, not yet started */
    struct notifier_job *active;                /* in flight, doubly linked */
    size_t inflight;
};

void notify_msg_free(struct notify_msg *m)
{
    if (!m)
        return;
    free(m->to);
    free(m->idem_key);
    json_decref(m->payload);
    free(m);
}

static int64_t notifier_mono_ms(void)
{
    return clock_mono_us() / 1000;
}

static void notifier_job_free(struct notifier_job *j)
{
    if (j->easy)
        curl_easy_cleanup(j->easy);
    curl_slist_free_all(j->headers);
    curl_slist_free_all(j->rcpt);
    free(j->body);
    free(j->mail_from);
    notify_msg_free(j->m);
    free(j);
}

/* ---- results ---- */

/*
 * Ends a started job: one result to the caller, then the job and its message
 * are freed. The job must be on the active list.
 */
__attribute__((format(printf, 5, 6))) static void
notifier_finish(struct notifier *n, struct notifier_job *j, enum notify_outcome outcome,
                int64_t retry_after_ms, const char *fmt, ...)
{
    struct notify_result r = {
        .id = j->m->id,
        .attempt = j->m->attempt,
        .outcome = outcome,
        .duration_ms = (clock_mono_us() - j->start_us) / 1000,
        .retry_after_ms = retry_after_ms,
    };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.detail, sizeof(r.detail), fmt, ap);
    va_end(ap);

    if (j->prev)
        j->prev->next = j->next;
    else
        n->active = j->next;
    if (j->next)
        j->next->prev = j->prev;
    n->inflight--;

    n->on_result(&r, n->arg);
    notifier_job_free(j);
}

/* ---- webhooks and mail ---- */

static size_t notifier_curl_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct notifier_job *j = arg;
    size_t len = size * nmemb;
    size_t room = NOTIFIER_RESP_MAX - j->resp_len;
    size_t take = len < room ? len : room;
    memcpy(j->resp + j->resp_len, data, take);
    j->resp_len += take;
    j->resp[j->resp_len] = '\0';
    /* The rest of the body is read and dropped: only its start goes into
     * the detail. */
    return len;
}

static size_t notifier_curl_read(char *buf, size_t size, size_t nitems, void *arg)
{
    struct notifier_job *j = arg;
    size_t want = size * nitems, left = j->body_len - j->body_off;
    size_t take = want < left ? want : left;
    memcpy(buf, j->body + j->body_off, take);
    j->body_off += take;
    return take;
}

static bool notifier_header_safe(const char *s)
{
    return !strpbrk(s, "\r\n");
}

static int notifier_add_header(struct notifier_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int notifier_add_header(struct notifier_job *j, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof(line))
        return -1;
    struct curl_slist *nl = curl_slist_append(j->headers, line);
    if (!nl)
        return -1;
    j->headers = nl;
    return 0;
}

/* The first line of an error response, for the detail. */
static const char *notifier_resp_line(struct notifier_job *j)
{
    char *p = j->resp;
    while (*p == ' ' || *p == '\r' || *p == '\n' || *p == '\t')
        p++;
    p[strcspn(p, "\r\n")] = '\0';
    return p;
}

/* Options both kinds of transfer share. */
static bool notifier_easy_common(struct notifier_job *j, const char *url, const char *protocols)
{
    CURL *e = j->easy;
    const struct cfg_channel *ch = j->m->ch;
    bool ok = curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, j) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)j->timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)j->timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, ch->verify_tls ? 1L : 0L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, ch->verify_tls ? 2L : 0L) == CURLE_OK;
    return ok;
}

/* Sets up a webhook POST. Returns NULL when ready, else why not. */
static const char *notifier_setup_webhook(struct notifier_job *j, int64_t now_ms)
{
    const struct notify_msg *m = j->m;
    const struct cfg_channel *ch = m->ch;
    const char *url = m->to ? m->to : ch->url;
    if (!url || !*url)
        return "no URL";
    if (m->idem_key && !notifier_header_safe(m->idem_key))
        return "invalid idempotency key";
    const char *ctype;
    if (notify_render(m, now_ms, &j->body, &j->body_len, &ctype) != 0)
        return "cannot render the message";

    int err = notifier_add_header(j, "Content-Type: %s", ctype);
    /* A body over 1 KiB would make curl wait for "100 Continue", which many
     * receivers never send; a webhook is small enough to send at once. */
    err |= notifier_add_header(j, "Expect:");
    if (m->idem_key)
        err |= notifier_add_header(j, "Idempotency-Key: %s", m->idem_key);
    if (ch->secret) {
        int64_t ts = now_ms / 1000;
        char sig[72];
        notify_sign(ch->secret, ts, j->body, j->body_len, sig);
        err |= notifier_add_header(j, "X-Tocsin-Timestamp: %" PRId64, ts);
        err |= notifier_add_header(j, "X-Tocsin-Signature: %s", sig);
    }
    for (char **h = ch->headers; h && *h; h++) {
        if (notifier_header_safe(*h))
            err |= notifier_add_header(j, "%s", *h);
        else
            log_warn("msg=\"notify: header with a line break skipped\" channel=%s", ch->name);
    }
    if (err)
        return "out of memory";

    CURL *e = j->easy;
    bool ok = notifier_easy_common(j, url, "http,https");
    ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, "tocsin/" TOCSIN_VERSION) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, notifier_curl_write) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, j) == CURLE_OK;
    return ok ? NULL : "cannot set up the request";
}

/* "<addr>" from "addr" or "Name <addr>" (the envelope takes the address only). */
static char *notifier_envelope(const char *addr)
{
    const char *lt = strrchr(addr, '<');
    const char *start = lt ? lt + 1 : addr;
    size_t len = lt ? strcspn(start, ">") : strlen(start);
    while (len && (*start == ' ' || *start == '\t')) {
        start++;
        len--;
    }
    while (len && (start[len - 1] == ' ' || start[len - 1] == '\t'))
        len--;
    if (len == 0)
        return NULL;
    char *out = malloc(len + 3);
    if (out)
        snprintf(out, len + 3, "<%.*s>", (int)len, start);
    return out;
}

/* Sets up a mail transfer. Returns NULL when ready, else why not. */
static const char *notifier_setup_mail(struct notifier_job *j, int64_t now_ms)
{
    const struct notify_msg *m = j->m;
    const struct cfg_channel *ch = m->ch;
    if (!m->to || !*m->to)
        return "no recipient";
    if (!ch->url || !ch->from)
        return "channel has no url or from";
    const char *ctype;
    if (notify_render(m, now_ms, &j->body, &j->body_len, &ctype) != 0)
        return "cannot render the message";
    j->mail_from = notifier_envelope(ch->from);
    char *rcpt = notifier_envelope(m->to);
    if (!j->mail_from || !rcpt) {
        free(rcpt);
        return "invalid address";
    }
    j->rcpt = curl_slist_append(NULL, rcpt);
    free(rcpt);
    if (!j->rcpt)
        return "out of memory";

    static const long use_ssl[] = {CURLUSESSL_NONE, CURLUSESSL_TRY, CURLUSESSL_ALL};
    long tls = ch->tls >= 0 && ch->tls <= 2 ? use_ssl[ch->tls] : CURLUSESSL_TRY;
    CURL *e = j->easy;
    bool ok = notifier_easy_common(j, ch->url, "smtp,smtps");
    ok &= curl_easy_setopt(e, CURLOPT_MAIL_FROM, j->mail_from) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_MAIL_RCPT, j->rcpt) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_READFUNCTION, notifier_curl_read) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_READDATA, j) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->body_len) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_USE_SSL, tls) == CURLE_OK;
    if (ch->username)
        ok &= curl_easy_setopt(e, CURLOPT_USERNAME, ch->username) == CURLE_OK;
    if (ch->password)
        ok &= curl_easy_setopt(e, CURLOPT_PASSWORD, ch->password) == CURLE_OK;
    return ok ? NULL : "cannot set up the transfer";
}

static void notifier_start_curl(struct notifier *n, struct notifier_job *j, int64_t now_ms)
{
    const char *why = "out of memory";
    j->easy = curl_easy_init();
    if (j->easy) {
        why = j->m->ch->type == CHANNEL_SMTP ? notifier_setup_mail(j, now_ms)
                                             : notifier_setup_webhook(j, now_ms);
        if (!why && curl_multi_add_handle(n->multi, j->easy) != CURLM_OK) {
            notifier_finish(n, j, NOTIFY_RETRY, 0, "cannot start the transfer");
            return;
        }
    }
    if (why)
        notifier_finish(n, j, strcmp(why, "out of memory") == 0 ? NOTIFY_RETRY : NOTIFY_FAILED, 0,
                        "%s", why);
}

/* Errors that another attempt cannot cure: the configuration is wrong. */
static bool notifier_curl_permanent(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_LOGIN_DENIED:
    case CURLE_USE_SSL_FAILED:
        return true;
    default:
        return false;
    }
}

/* Outcome of a transfer that failed below the protocol (no reply code). */
static void notifier_finish_curl_error(struct notifier *n, struct notifier_job *j, CURLcode rc)
{
    enum notify_outcome o = notifier_curl_permanent(rc) ? NOTIFY_FAILED : NOTIFY_RETRY;
    long os_errno = 0;
    curl_easy_getinfo(j->easy, CURLINFO_OS_ERRNO, &os_errno);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        notifier_finish(n, j, o, 0, "timeout after %" PRId64 " ms", j->timeout_ms);
    else if (rc == CURLE_COULDNT_CONNECT && os_errno == ECONNREFUSED)
        notifier_finish(n, j, o, 0, "connection refused");
    else
        notifier_finish(n, j, o, 0, "%s", j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
}

static void notifier_finish_http(struct notifier *n, struct notifier_job *j, CURLcode rc)
{
    long code = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK || code == 0) {
        notifier_finish_curl_error(n, j, rc);
        return;
    }
    if (code >= 200 && code <= 299) {
        notifier_finish(n, j, NOTIFY_DELIVERED, 0, "HTTP %ld", code);
        return;
    }
    int64_t retry_after_ms = 0;
    if (code == 429 || code == 503) {
        /* curl parses both forms of Retry-After (seconds and HTTP date). */
        curl_off_t secs = 0;
        if (curl_easy_getinfo(j->easy, CURLINFO_RETRY_AFTER, &secs) == CURLE_OK && secs > 0)
            retry_after_ms = (int64_t)secs * 1000;
    }
    enum notify_outcome o =
        code == 408 || code == 429 || (code >= 500 && code <= 599) ? NOTIFY_RETRY : NOTIFY_FAILED;
    const char *line = notifier_resp_line(j);
    if (*line)
        notifier_finish(n, j, o, retry_after_ms, "HTTP %ld: %s", code, line);
    else
        notifier_finish(n, j, o, retry_after_ms, "HTTP %ld", code);
}

static void notifier_finish_mail(struct notifier *n, struct notifier_job *j, CURLcode rc)
{
    long code = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
    if (rc == CURLE_OK) {
        notifier_finish(n, j, NOTIFY_DELIVERED, 0, "SMTP %ld", code ? code : 250L);
    } else if (code >= 400 && code <= 599) {
        /* The server answered: 4xx is "try again later", 5xx "never". */
        notifier_finish(n, j, code >= 500 ? NOTIFY_FAILED : NOTIFY_RETRY, 0, "SMTP %ld: %s", code,
                        j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
    } else {
        notifier_finish_curl_error(n, j, rc);
    }
}

/* Ends every transfer curl reports done. */
static void notifier_reap_curl(struct notifier *n)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(n->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        struct notifier_job *j = (struct notifier_job *)priv;
        curl_multi_remove_handle(n->multi, e);
        if (!j)
            continue;
        if (j->m->ch->type == CHANNEL_SMTP)
            notifier_finish_mail(n, j, rc);
        else
            notifier_finish_http(n, j, rc);
    }
}

/* ---- commands ---- */

/*
 * Splits a command line into words on spaces and tabs; double quotes group
 * a word and may hold \" and \\. Nothing else is special: notifications run
 * commands without a shell, so $, *, | and friends are plain characters.
 * Returns a NULL-terminated argv in one block (caller frees), or NULL for an
 * empty line, an unbalanced quote or no memory.
 */
static char **notifier_split(const char *cmd)
{
    size_t len = strlen(cmd), maxw = len / 2 + 2;
    char **argv = malloc(maxw * sizeof(char *) + len + 1);
    if (!argv)
        return NULL;
    char *out = (char *)(argv + maxw);
    size_t argc = 0;
    const char *p = cmd;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        argv[argc++] = out;
        while (*p && *p != ' ' && *p != '\t') {
            if (*p != '"') {
                *out++ = *p++;
                continue;
            }
            p++;
            while (*p != '"') {
                if (!*p) {
                    free(argv);
                    return NULL;
                }
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                *out++ = *p++;
            }
            p++;
        }
        *out++ = '\0';
    }
    if (argc == 0) {
        free(argv);
        return NULL;
    }
    argv[argc] = NULL;
    return argv;
}

/* The message as a memfd positioned at its start, for the child's stdin. A
 * file rather than a pipe: the whole message is there at once, so nothing
 * has to be written while the child runs. */
static int notifier_stdin(const char *data, size_t len)
{
    int fd = memfd_create("tocsin-notify", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

struct notifier_env {
    char *v[12]; /* owned strings; NULL-terminated */
    size_t n;
    bool oom;
};

static void notifier_env_add(struct notifier_env *env, const char *name, const char *value)
{
    if (env->n + 1 >= sizeof(env->v) / sizeof(env->v[0]))
        return;
    size_t len = strlen(name) + strlen(value ? value : "") + 2;
    char *s = malloc(len);
    if (!s) {
        env->oom = true;
        return;
    }
    snprintf(s, len, "%s=%s", name, value ? value : "");
    env->v[env->n++] = s;
    env->v[env->n] = NULL;
}

static void notifier_env_free(struct notifier_env *env)
{
    for (size_t i = 0; i < env->n; i++)
        free(env->v[i]);
}

static void notifier_start_command(struct notifier *n, struct notifier_job *j, int64_t now_ms)
{
    const struct notify_msg *m = j->m;
    if (!n->runner) {
        notifier_finish(n, j, NOTIFY_FAILED, 0, "commands unavailable (no pidfd support)");
        return;
    }
    char **argv = m->ch->command ? notifier_split(m->ch->command) : NULL;
    if (!argv) {
        notifier_finish(n, j, NOTIFY_FAILED, 0, "invalid command line");
        return;
    }
    const char *ctype;
    char *subject = notify_subject(m);
    char *text = notify_text(m, true);
    struct notifier_env env = {.n = 0};
    int fd = -1;
    if (subject && text && notify_render(m, now_ms, &j->body, &j->body_len, &ctype) == 0)
        fd = notifier_stdin(j->body, j->body_len);
    if (fd >= 0) {
        char idbuf[24];
        const json_t *id = json_object_get(json_object_get(m->payload, "incident"), "id");
        if (json_is_integer(id))
            snprintf(idbuf, sizeof(idbuf), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        else
            idbuf[0] = '\0';
        notifier_env_add(&env, "PATH", n->path);
        notifier_env_add(&env, "TOCSIN_TO", m->to);
        notifier_env_add(&env, "TOCSIN_SUBJECT", subject);
        notifier_env_add(&env, "TOCSIN_TEXT", text);
        notifier_env_add(&env, "TOCSIN_KIND", notify_payload_str(m->payload, "kind"));
        notifier_env_add(&env, "TOCSIN_INCIDENT_ID", idbuf);
        notifier_env_add(&env, "TOCSIN_INCIDENT_NUMBER",
                         notify_payload_str(m->payload, "incident.number"));
        notifier_env_add(&env, "TOCSIN_ACK_URL",
                         notify_payload_str(m->payload, "links.acknowledge"));
        notifier_env_add(&env, "TOCSIN_RESOLVE_URL",
                         notify_payload_str(m->payload, "links.resolve"));
        notifier_env_add(&env, "TOCSIN_IDEMPOTENCY_KEY", m->idem_key);
    }
    free(subject);
    free(text);
    free(j->body);
    j->body = NULL;

    if (fd < 0 || env.oom) {
        notifier_env_free(&env);
        free(argv);
        if (fd >= 0)
            close(fd);
        notifier_finish(n, j, NOTIFY_RETRY, 0, "cannot prepare the command: %s",
                        fd < 0 ? "render or memfd failed" : "out of memory");
        return;
    }
    j->command = true;
    int rc = runner_start_stdin(n->runner, argv, env.v, fd, j->timeout_ms, j, notifier_mono_ms());
    int err = errno;
    /* The child has exec'd (or failed) by now: it has its own
     * copies of argv, the environment and the stdin descriptor. */
    close(fd);
    notifier_env_free(&env);
    free(argv);
    if (rc != 0)
        notifier_finish(n, j, NOTIFY_RETRY, 0, "cannot start the command: %s", strerror(err));
}

/* The first non-empty line of a command's output, cut for the detail. */
static void notifier_first_line(const char *out, char *buf, size_t size)
{
    while (*out == '\n' || *out == '\r' || *out == ' ' || *out == '\t')
        out++;
    size_t len = strcspn(out, "\r\n");
    if (len >= size)
        len = size - 1;
    memcpy(buf, out, len);
    buf[len] = '\0';
}

static void notifier_command_done(void *ctx, const struct runner_result *res)
{
    struct notifier *n = ctx;
    struct notifier_job *j = res->tag;
    char line[200];
    notifier_first_line(res->output ? res->output : "", line, sizeof(line));
    const char *sep = line[0] ? ": " : "";
    switch (res->end) {
    case RUNNER_EXITED:
        if (res->exit_code == 0)
            notifier_finish(n, j, NOTIFY_DELIVERED, 0, "exit 0%s%s", sep, line);
        else
            notifier_finish(n, j, res->exit_code == 75 ? NOTIFY_RETRY : NOTIFY_FAILED, 0,
                            "exit %d%s%s", res->exit_code, sep, line);
        break;
    case RUNNER_SIGNALED:
        notifier_finish(n, j, NOTIFY_RETRY, 0, "killed by signal %d%s%s", res->term_signal, sep,
                        line);
        break;
    case RUNNER_TIMED_OUT:
        notifier_finish(n, j, NOTIFY_RETRY, 0, "timeout after %" PRId64 " ms", j->timeout_ms);
        break;
    case RUNNER_SPAWN_FAILED:
        notifier_finish(n, j, NOTIFY_FAILED, 0, "cannot run the command: %s",
                        strerror(res->spawn_errno));
        break;
    }
}

/* ---- the thread ---- */

/* Starts waiting jobs, oldest first, while there is room. */
static void notifier_start_waiting(struct notifier *n)
{
    while (n->wait_head && n->inflight < n->max_inflight) {
        struct notifier_job *j = n->wait_head;
        n->wait_head = j->next;
        if (!n->wait_head)
            n->wait_tail = NULL;
        j->prev = NULL;
        j->next = n->active;
        if (n->active)
            n->active->prev = j;
        n->active = j;
        n->inflight++;
        j->start_us = clock_mono_us();

        const struct cfg_channel *ch = j->m->ch;
        if (!ch) {
            notifier_finish(n, j, NOTIFY_FAILED, 0, "no channel");
            continue;
        }
        j->timeout_ms = ch->timeout_ms > 0 ? ch->timeout_ms : NOTIFIER_DEFAULT_TMO_MS;
        int64_t now_ms = clock_now_ms();
        switch (ch->type) {
        case CHANNEL_WEBHOOK:
        case CHANNEL_SMTP:
            notifier_start_curl(n, j, now_ms);
            break;
        case CHANNEL_COMMAND:
            notifier_start_command(n, j, now_ms);
            break;
        default:
            notifier_finish(n, j, NOTIFY_FAILED, 0, "unknown channel type");
            break;
        }
    }
}

static void notifier_free_list(struct notifier_job *j)
{
    while (j) {
        struct notifier_job *next = j->next;
        notifier_job_free(j);
        j = next;
    }
}

/* Drops everything without results; the thread is leaving. */
static void notifier_abort_all(struct notifier *n)
{
    for (struct notifier_job *j = n->active; j; j = j->next)
        if (j->easy)
            curl_multi_remove_handle(n->multi, j->easy);
    /* Kills and reaps the children before their jobs go. */
    runner_free(n->runner);
    n->runner = NULL;
    notifier_free_list(n->active);
    n->active = NULL;
    notifier_free_list(n->wait_head);
    n->wait_head = n->wait_tail = NULL;
    n->inflight = 0;
}

static void *notifier_main(void *arg)
{
    struct notifier *n = arg;
    pthread_setname_np(pthread_self(), "tocsin-notify");
    for (;;) {
        uint64_t v;
        if (read(n->evfd, &v, sizeof(v)) < 0) {
            /* EAGAIN: nothing was signalled since the last pass. */
        }
        pthread_mutex_lock(&n->mu);
        bool stop = n->stopping;
        if (n->in_head) {
            if (n->wait_tail)
                n->wait_tail->next = n->in_head;
            else
                n->wait_head = n->in_head;
            n->wait_tail = n->in_tail;
            n->in_head = n->in_tail = NULL;
        }
        pthread_mutex_unlock(&n->mu);
        if (stop)
            break;

        notifier_start_waiting(n);
        int running = 0;
        curl_multi_perform(n->multi, &running);
        notifier_reap_curl(n);
        if (n->runner)
            runner_poll(n->runner, notifier_mono_ms(), notifier_command_done, n);
        /* Results free room; start more before sleeping. New transfers have
         * a zero curl timer, so the poll below returns at once for them. */
        notifier_start_waiting(n);

        int64_t wait = n->runner ? runner_next_timeout(n->runner, notifier_mono_ms()) : -1;
        if (wait < 0 || wait > NOTIFIER_IDLE_WAIT_MS)
            wait = NOTIFIER_IDLE_WAIT_MS;
        struct curl_waitfd fds[2] = {{.fd = n->evfd, .events = CURL_WAIT_POLLIN}};
        unsigned nfds = 1;
        if (n->runner) {
            fds[1] = (struct curl_waitfd){.fd = runner_fd(n->runner), .events = CURL_WAIT_POLLIN};
            nfds = 2;
        }
        curl_multi_poll(n->multi, fds, nfds, (int)wait, NULL);
    }
    notifier_abort_all(n);
    return NULL;
}

struct notifier *notifier_start(void (*on_result)(const struct notify_result *r, void *arg),
                                void *arg, int max_inflight, char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "notify: libsodium cannot initialise");
        return NULL;
    }
    struct notifier *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "notify: out of memory");
        return NULL;
    }
    n->on_result = on_result;
    n->arg = arg;
    n->max_inflight = max_inflight > 0 ? (size_t)max_inflight : NOTIFIER_DEFAULT_INFLIGHT;
    n->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    const char *path = getenv("PATH");
    n->path = strdup(path && *path ? path : "/usr/bin:/bin");
    n->multi = curl_multi_init();
    /* Commands are optional: without pidfd support (Linux before 5.3) the
     * webhooks and mail still work and commands fail with a clear detail. */
    n->runner = runner_new(NOTIFIER_OUTPUT_MAX);
    if (!n->runner)
        log_warn("msg=\"notify: commands unavailable\" error=\"%s\"", strerror(errno));
    if (n->evfd < 0 || !n->path || !n->multi) {
        snprintf(err, errlen, "notify: cannot set up: %s", strerror(errno));
        goto fail;
    }
    if (pthread_mutex_init(&n->mu, NULL) != 0) {
        snprintf(err, errlen, "notify: cannot create a mutex");
        goto fail;
    }
    int rc = pthread_create(&n->thread, NULL, notifier_main, n);
    if (rc != 0) {
        snprintf(err, errlen, "notify: cannot start the thread: %s", strerror(rc));
        pthread_mutex_destroy(&n->mu);
        goto fail;
    }
    return n;

fail:
    if (n->evfd >= 0)
        close(n->evfd);
    runner_free(n->runner);
    if (n->multi)
        curl_multi_cleanup(n->multi);
    free(n->path);
    free(n);
    return NULL;
}

static void notifier_wake(struct notifier *n)
{
    uint64_t one = 1;
    if (write(n->evfd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already far from zero; the thread is awake. */
    }
}

int notifier_send(struct notifier *n, struct notify_msg *m)
{
    struct notifier_job *j = calloc(1, sizeof(*j));
    if (!j) {
        notify_msg_free(m);
        return -1;
    }
    j->m = m;
    pthread_mutex_lock(&n->mu);
    if (n->stopping) {
        pthread_mutex_unlock(&n->mu);
        notifier_job_free(j);
        return -1;
    }
    if (n->in_tail)
        n->in_tail->next = j;
    else
        n->in_head = j;
    n->in_tail = j;
    pthread_mutex_unlock(&n->mu);
    notifier_wake(n);
    return 0;
}

void notifier_stop(struct notifier *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->stopping = true;
    pthread_mutex_unlock(&n->mu);
    notifier_wake(n);
    pthread_join(n->thread, NULL);
    /* Messages sent after the thread's last look at the inbox. */
    notifier_free_list(n->in_head);
    pthread_mutex_destroy(&n->mu);
    curl_multi_cleanup(n->multi);
    close(n->evfd);
    free(n->path);
    free(n);
}
