/*
 * send_event.c - `tocsin send-event`; see send_event.h.
 *
 * Transient failures (connection refused, timeouts, 5xx) are retried with
 * exponential backoff, because a cron job that fails once should not lose
 * its alert; a 4xx is final because retrying cannot fix the request.
 */
#include "send_event.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RESPONSE_MAX (64 * 1024)

struct response {
    char buf[RESPONSE_MAX + 1];
    size_t len;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct response *r = userp;
    size_t n = size * nmemb, room = RESPONSE_MAX - r->len;
    memcpy(r->buf + r->len, data, n < room ? n : room);
    r->len += n < room ? n : room;
    r->buf[r->len] = 0;
    return n;
}

static void usage(FILE *f)
{
    fputs("usage: tocsin send-event [--url URL] [--key KEY] [--action ACTION]\n"
          "                         [--summary TEXT] [--severity LEVEL] [--source HOST]\n"
          "                         [--dedup-key KEY] [--label NAME=VALUE]... [--details JSON]\n"
          "                         [--retries N] [--timeout SECONDS]\n"
          "\n"
          "  --url URL          server (default: $TOCSIN_URL or http://127.0.0.1:8080)\n"
          "  --key KEY          integration key of a generic integration (default: $TOCSIN_KEY)\n"
          "  --action ACTION    trigger (default), acknowledge or resolve\n"
          "  --summary TEXT     what is wrong (required to trigger)\n"
          "  --severity LEVEL   critical, error, warning or info\n"
          "  --source HOST      the host or system affected\n"
          "  --dedup-key KEY    identifies the alert (default: fingerprint of the labels)\n"
          "  --label NAME=VALUE a label; repeat for more\n"
          "  --details JSON     any JSON value with more detail\n"
          "  --retries N        retries on connection errors and 5xx (default 3)\n"
          "  --timeout SECONDS  per attempt (default 10)\n"
          "\n"
          "Exit status: 0 accepted, 1 refused by the server or bad options, 2 server\n"
          "unreachable or failing after the retries.\n"
          "\n"
          "example: tocsin send-event --key \"$KEY\" --summary 'backup failed' \\\n"
          "             --severity error --label service=backup --label host=$(hostname)\n",
          f);
}

int send_event_main(int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"action", required_argument, NULL, 'a'},
                                         {"summary", required_argument, NULL, 's'},
                                         {"severity", required_argument, NULL, 'S'},
                                         {"source", required_argument, NULL, 'o'},
                                         {"dedup-key", required_argument, NULL, 'D'},
                                         {"label", required_argument, NULL, 'l'},
                                         {"details", required_argument, NULL, 'j'},
                                         {"retries", required_argument, NULL, 'r'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *url = getenv("TOCSIN_URL"), *key = getenv("TOCSIN_KEY");
    json_t *ev = json_object(), *labels = json_object();
    int c, retries = 3, timeout = 10, rc = 2;
    char *body = NULL, endpoint[1024], header[600];
    struct response *resp = NULL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'a':
            json_object_set_new(ev, "action", json_string(optarg));
            break;
        case 's':
            json_object_set_new(ev, "summary", json_string(optarg));
            break;
        case 'S':
            json_object_set_new(ev, "severity", json_string(optarg));
            break;
        case 'o':
            json_object_set_new(ev, "source", json_string(optarg));
            break;
        case 'D':
            json_object_set_new(ev, "dedup_key", json_string(optarg));
            break;
        case 'l': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "tocsin send-event: --label takes NAME=VALUE, not '%s'\n", optarg);
                rc = 1;
                goto out;
            }
            *eq = 0;
            json_object_set_new(labels, optarg, json_string(eq + 1));
            *eq = '=';
            break;
        }
        case 'j': {
            json_error_t jerr;
            json_t *d = json_loads(optarg, JSON_DECODE_ANY, &jerr);
            if (!d) {
                fprintf(stderr, "tocsin send-event: --details is not JSON: %s\n", jerr.text);
                rc = 1;
                goto out;
            }
            json_object_set_new(ev, "details", d);
            break;
        }
        case 'r':
            retries = atoi(optarg);
            if (retries < 0 || retries > 20) {
                fprintf(stderr, "tocsin send-event: --retries must be 0 to 20\n");
                rc = 1;
                goto out;
            }
            break;
        case 't':
            timeout = atoi(optarg);
            if (timeout < 1 || timeout > 300) {
                fprintf(stderr, "tocsin send-event: --timeout must be 1 to 300 seconds\n");
                rc = 1;
                goto out;
            }
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            usage(stderr);
            rc = 1;
            goto out;
        }
    }
    if (!key || !*key) {
        fprintf(stderr, "tocsin send-event: no integration key: use --key or set TOCSIN_KEY\n");
        rc = 1;
        goto out;
    }
    if (json_object_size(labels))
        json_object_set(ev, "labels", labels);
    body = json_dumps(ev, JSON_COMPACT);
    snprintf(endpoint, sizeof(endpoint), "%s/api/v1/events",
             url && *url ? url : "http://127.0.0.1:8080");
    snprintf(header, sizeof(header), "X-Tocsin-Key: %s", key);
    resp = calloc(1, sizeof(*resp));
    if (!body || !resp || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        goto out;

    for (int attempt = 0;; attempt++) {
        CURL *h = curl_easy_init();
        struct curl_slist *hdrs = NULL;
        long status = 0;
        CURLcode cc;
        if (!h)
            break;
        resp->len = 0;
        resp->buf[0] = 0;
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, header);
        curl_easy_setopt(h, CURLOPT_URL, endpoint);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)timeout);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        cc = curl_easy_perform(h);
        if (cc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        if (cc == CURLE_OK && status >= 200 && status < 300) {
            printf("%s\n", resp->buf);
            rc = 0;
            break;
        }
        if (cc == CURLE_OK && status >= 400 && status < 500) {
            fprintf(stderr, "tocsin send-event: refused with HTTP %ld: %s\n", status, resp->buf);
            rc = 1;
            break;
        }
        if (attempt >= retries) {
            if (cc != CURLE_OK)
                fprintf(stderr, "tocsin send-event: cannot reach %s: %s\n", endpoint,
                        curl_easy_strerror(cc));
            else
                fprintf(stderr, "tocsin send-event: server failed with HTTP %ld: %s\n", status,
                        resp->buf);
            rc = 2;
            break;
        }
        /* 1 s, 2 s, 4 s ... capped at 30 s. */
        unsigned wait = 1u << (attempt < 5 ? attempt : 5);
        sleep(wait > 30 ? 30 : wait);
    }
    curl_global_cleanup();
out:
    free(body);
    free(resp);
    json_decref(labels);
    json_decref(ev);
    return rc;
}
