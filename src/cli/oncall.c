/*
 * oncall.c - `tocsin oncall`; see oncall.h.
 *
 * The command is interactive, so unlike send-event it does not retry: a
 * person asking "who is on call?" wants the answer or the reason at once.
 * The server's answer is rendered by oncall_render, a pure function of the
 * JSON text, so the table can be tested without a server. Handoff times are
 * shown in each schedule's own zone, because that is the clock the rotation
 * is defined in and the one its people read.
 */
#include "oncall.h"
#include "cli_http.h"

#include "base/timefmt.h"
#include "base/tz.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answers larger than this are cut off and then fail to parse; even a big
 * installation's on-call overview is far smaller. */
#define ONCALL_RESPONSE_MAX (8 * 1024 * 1024)
#define ONCALL_TIMEOUT_S    10

static void oncall_usage(FILE *f)
{
    fputs("usage: tocsin oncall [SCHEDULE] [--at TIME] [--url URL] [--token TOKEN] [--json]\n"
          "\n"
          "Shows who is on call in every schedule (or only SCHEDULE), until when, and\n"
          "who is next, then whom each escalation policy would page.\n"
          "\n"
          "  --at TIME      an RFC 3339 time such as 2026-11-21T10:00:00Z, or now (default)\n"
          "  --url URL      server (default: $TOCSIN_URL or http://127.0.0.1:8080)\n"
          "  --token TOKEN  API token, sent as a bearer token (default: $TOCSIN_TOKEN)\n"
          "  --json         print the server's JSON answer as it is\n"
          "\n"
          "Exit status: 0 ok, 1 refused by the server (such as an unknown schedule) or\n"
          "bad options, 2 server unreachable or failing.\n",
          f);
}

/* ---- The URL ---- */

/* Appends s percent-encoded (RFC 3986: everything but the unreserved
 * characters), so names and times with '+' or ':' arrive intact. */
static void oncall_put_encoded(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            fputc(*p, f);
        else
            fprintf(f, "%%%02X", *p);
    }
}

char *oncall_url(const char *base, const char *schedule, const char *at)
{
    char *out = NULL;
    size_t size = 0, n = base ? strlen(base) : 0;
    FILE *f = open_memstream(&out, &size);
    if (!f)
        return NULL;
    while (n > 0 && base[n - 1] == '/')
        n--;
    fwrite(base ? base : "", 1, n, f);
    fputs("/api/v1/oncall", f);
    char sep = '?';
    if (schedule) {
        fprintf(f, "%cschedule=", sep);
        oncall_put_encoded(f, schedule);
        sep = '&';
    }
    if (at) {
        fprintf(f, "%cat=", sep);
        oncall_put_encoded(f, at);
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- Rendering ---- */

/* The string member key of o, or NULL when it is missing or not a string. */
static const char *oncall_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Writes an RFC 3339 instant as local time in zone, with the offset so the
 * hour repeated when clocks go back is still unambiguous:
 * "Mon 2026-11-23 09:00 +01:00 (Europe/Berlin)". A zone this machine does
 * not know is shown in UTC instead; an unparsable time is shown as sent. */
static void oncall_put_time(FILE *f, const char *when, const char *zone)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    int64_t ms;
    if (!when || timefmt_parse_rfc3339(when, strlen(when), &ms) != 0) {
        fputs(when ? when : "?", f);
        return;
    }
    const struct tz *z = zone && *zone ? tz_get(zone, NULL, 0) : NULL;
    if (!z) {
        z = tz_get("UTC", NULL, 0);
        zone = "UTC";
    }
    if (!z) {
        fputs(when, f);
        return;
    }
    struct tz_local lt;
    tz_to_local(z, ms, &lt);
    int off = lt.utc_offset < 0 ? -lt.utc_offset : lt.utc_offset;
    fprintf(f, "%s %04d-%02d-%02d %02d:%02d %c%02d:%02d (%s)", days[lt.wday % 7], lt.year, lt.month,
            lt.day, lt.hour, lt.minute, lt.utc_offset < 0 ? '-' : '+', off / 3600, off % 3600 / 60,
            zone);
}

/* "at once", "after 45s", "after 15m", "after 1h30m". */
static void oncall_put_delay(FILE *f, json_int_t s)
{
    if (s <= 0) {
        fputs("at once", f);
        return;
    }
    fputs("after ", f);
    if (s >= 3600)
        fprintf(f, "%lldh", (long long)(s / 3600));
    if (s % 3600 >= 60)
        fprintf(f, "%lldm", (long long)(s % 3600 / 60));
    if (s % 60 != 0)
        fprintf(f, "%llds", (long long)(s % 60));
}

/* Widths count UTF-8 characters rather than bytes, so names with accents
 * line up too. */
static size_t oncall_width(const char *s)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        chars += (*p & 0xc0) != 0x80;
    return chars;
}

static void oncall_put_padded(FILE *f, const char *s, size_t width)
{
    fputs(s, f);
    for (size_t chars = oncall_width(s); chars < width; chars++)
        fputc(' ', f);
}

/* One line per schedule: NAME  USER  until TIME (ZONE), then NEXT. */
static void oncall_put_schedules(FILE *f, const json_t *schedules)
{
    size_t i, wname = 0, wuser = 6; /* "nobody" */
    const json_t *s;
    json_array_foreach(schedules, i, s)
    {
        const char *name = oncall_str(s, "name");
        const char *user = oncall_str(json_object_get(s, "oncall"), "user");
        if (name && oncall_width(name) > wname)
            wname = oncall_width(name);
        if (user && oncall_width(user) > wuser)
            wuser = oncall_width(user);
    }
    if (json_array_size(schedules) == 0)
        fputs("no schedules\n", f);
    json_array_foreach(schedules, i, s)
    {
        const char *zone = oncall_str(s, "time_zone");
        const json_t *oc = json_object_get(s, "oncall"), *next = json_object_get(s, "next");
        const char *user = oncall_str(oc, "user");
        const char *until = user ? oncall_str(oc, "until") : oncall_str(next, "from");
        const char *next_user = oncall_str(next, "user");
        oncall_put_padded(f, oncall_str(s, "name") ? oncall_str(s, "name") : "?", wname);
        fputs("  ", f);
        if (!until && !next_user) {
            fprintf(f, "%s\n", user ? user : "nobody");
            continue;
        }
        oncall_put_padded(f, user ? user : "nobody", wuser);
        if (until) {
            fputs("  until ", f);
            oncall_put_time(f, until, zone);
        }
        if (next_user)
            fprintf(f, "%s then %s", until ? "," : "  ", next_user);
        fputc('\n', f);
    }
}

/* Each policy, one line per level with its targets and whom they reach. */
static void oncall_put_policies(FILE *f, const json_t *policies)
{
    size_t i, j, k, u;
    const json_t *p, *level, *t, *user;
    json_array_foreach(policies, i, p)
    {
        const char *name = oncall_str(p, "name");
        fprintf(f, "\nescalation policy %s\n", name ? name : "?");
        json_array_foreach(json_object_get(p, "levels"), j, level)
        {
            json_t *num = json_object_get(level, "level");
            fprintf(f, "  level %lld, ",
                    json_is_integer(num) ? (long long)json_integer_value(num) : (long long)j + 1);
            oncall_put_delay(f, json_integer_value(json_object_get(level, "delay_s")));
            fputc(':', f);
            const json_t *targets = json_object_get(level, "targets");
            if (json_array_size(targets) == 0)
                fputs(" no targets", f);
            json_array_foreach(targets, k, t)
            {
                const char *type = oncall_str(t, "type"), *tname = oncall_str(t, "name");
                const json_t *users = json_object_get(t, "users");
                fprintf(f, "%s %s %s (", k ? ";" : "", type ? type : "?", tname ? tname : "?");
                if (json_array_size(users) == 0)
                    fputs("nobody", f);
                json_array_foreach(users, u, user)
                {
                    const char *us = json_string_value(user);
                    fprintf(f, "%s%s", u ? ", " : "", us ? us : "?");
                }
                fputc(')', f);
            }
            fputc('\n', f);
        }
    }
}

char *oncall_render(const char *json, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json ? json : "", json ? len : 0, 0, &jerr);
    char *out = NULL;
    size_t size = 0;

    if (!root) {
        snprintf(err, errlen, "not JSON: %s", jerr.text);
        return NULL;
    }
    const json_t *schedules = json_object_get(root, "schedules");
    const json_t *policies = json_object_get(root, "policies");
    if (!json_is_object(root) || (schedules && !json_is_array(schedules)) ||
        (policies && !json_is_array(policies))) {
        snprintf(err, errlen,
                 "not an on-call answer (expected an object with arrays "
                 "\"schedules\" and \"policies\")");
        json_decref(root);
        return NULL;
    }
    FILE *f = open_memstream(&out, &size);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        json_decref(root);
        return NULL;
    }
    const char *at = oncall_str(root, "at");
    if (at)
        fprintf(f, "on call at %s\n\n", at);
    oncall_put_schedules(f, schedules);
    oncall_put_policies(f, policies);
    json_decref(root);
    if (fclose(f) != 0) {
        free(out);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return out;
}

/* ---- The command ---- */

/* The message of a refusal: error.message of Tocsin's error object, else
 * the body as it came (it may be a proxy's page). */
static void oncall_print_refusal(long status, const struct cli_response *r)
{
    json_t *root = r->buf ? json_loadb(r->buf, r->len, 0, NULL) : NULL;
    const json_t *e = json_object_get(root, "error");
    const char *msg = json_is_string(e) ? json_string_value(e) : oncall_str(e, "message");
    fprintf(stderr, "tocsin oncall: refused with HTTP %ld: %s\n", status,
            msg ? msg : (r->buf ? r->buf : ""));
    json_decref(root);
}

/* GETs endpoint into r, sending auth as a header when not NULL; sets
 * *status to the HTTP status when the transfer worked. */
static CURLcode oncall_fetch(const char *endpoint, const char *auth, struct cli_response *r,
                             long *status)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    if (!h)
        return CURLE_FAILED_INIT;
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    curl_easy_setopt(h, CURLOPT_URL, endpoint);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)ONCALL_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cli_response_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return cc;
}

int oncall_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"at", required_argument, NULL, 'a'},    {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *url = getenv("TOCSIN_URL"), *token = getenv("TOCSIN_TOKEN");
    const char *at = NULL, *schedule = NULL;
    bool raw = false;
    int c, rc = 2;
    char *endpoint = NULL, *auth = NULL;
    struct cli_response resp = {.max = ONCALL_RESPONSE_MAX};
    long status = 0;
    CURLcode cc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            at = optarg;
            break;
        case 'u':
            url = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'j':
            raw = true;
            break;
        case 'h':
            oncall_usage(stdout);
            return 0;
        default:
            oncall_usage(stderr);
            return 1;
        }
    }
    if (optind < argc)
        schedule = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "tocsin oncall: unexpected argument '%s'\n", argv[optind]);
        oncall_usage(stderr);
        return 1;
    }
    if (schedule && !*schedule) {
        fprintf(stderr, "tocsin oncall: the schedule name is empty\n");
        return 1;
    }
    if (at) {
        int64_t ms;
        if (strcmp(at, "now") != 0 && timefmt_parse_rfc3339(at, strlen(at), &ms) != 0) {
            fprintf(stderr,
                    "tocsin oncall: --at takes an RFC 3339 time such as "
                    "2026-11-21T10:00:00Z, or now; not '%s'\n",
                    at);
            return 1;
        }
    }
    endpoint = oncall_url(url && *url ? url : "http://127.0.0.1:8080", schedule, at);
    if (token && *token && asprintf(&auth, "Authorization: Bearer %s", token) < 0)
        auth = NULL;
    if (!endpoint || (token && *token && !auth) || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "tocsin oncall: out of memory\n");
        goto out;
    }

    cc = oncall_fetch(endpoint, auth, &resp, &status);
    curl_global_cleanup();

    if (cc != CURLE_OK) {
        fprintf(stderr, "tocsin oncall: cannot reach %s: %s\n", endpoint,
                resp.too_big ? "the answer is too large" : curl_easy_strerror(cc));
        rc = 2;
    } else if (status >= 400 && status < 500) {
        oncall_print_refusal(status, &resp);
        if ((status == 401 || status == 403) && !auth)
            fprintf(stderr, "tocsin oncall: no API token given: use --token or set "
                            "TOCSIN_TOKEN\n");
        rc = 1;
    } else if (status < 200 || status >= 300) {
        fprintf(stderr, "tocsin oncall: server failed with HTTP %ld: %s\n", status,
                resp.buf ? resp.buf : "");
        rc = 2;
    } else if (raw) {
        if (resp.len)
            fwrite(resp.buf, 1, resp.len, stdout);
        if (!resp.len || resp.buf[resp.len - 1] != '\n')
            putchar('\n');
        rc = 0;
    } else {
        char err[256];
        char *text = oncall_render(resp.buf, resp.len, err, sizeof(err));
        if (!text) {
            fprintf(stderr, "tocsin oncall: unexpected answer from %s: %s\n", endpoint, err);
            rc = 2;
        } else {
            fputs(text, stdout);
            free(text);
            rc = 0;
        }
    }
out:
    free(resp.buf);
    free(endpoint);
    free(auth);
    return rc;
}
