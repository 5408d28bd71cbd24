/*
 * server.h - the HTTP server: libmicrohttpd in thread-per-connection mode,
 * a route table, bounded request bodies and JSON responses.
 *
 * A handler runs on its connection's thread. It may block (on the engine or
 * on a read query) without stalling other connections. It answers by calling
 * exactly one of the http_reply_* functions.
 */
#ifndef TOCSIN_SERVER_H
#define TOCSIN_SERVER_H

#include "../config/config.h"
#include "../engine/engine.h"
#include "../store/store.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct MHD_Connection;
struct checks;
struct overrides;
struct tsdb;
struct scraper;
struct rules;

/* Everything a handler can reach; shared read-only by all handler threads. */
struct server_ctx {
    /* borrowed; replaced on reload. A handler reads it once (http_req.cfg)
     * and uses that snapshot; retired configs stay alive for a grace period. */
    const struct config *_Atomic cfg;
    struct checks *checks; /* borrowed; the check scheduler */
    /* Reloads the configuration (SIGHUP and POST /api/v1/-/reload). Fills
     * errs and returns -1 when the new file is invalid (nothing changed). */
    int (*reload)(struct server_ctx *ctx, struct cfg_errors *errs);
    void *reload_arg;
    struct store *store;         /* borrowed */
    struct engine *engine;       /* borrowed */
    struct overrides *overrides; /* borrowed; live schedule overrides, or NULL */
    unsigned char link_key[32];  /* verifies action links */
    bool has_link_key;
    struct tsdb *tsdb;       /* borrowed; the metrics store, or NULL when it could not open */
    struct scraper *scraper; /* borrowed; the scrape thread, or NULL */
    struct rules *rules;     /* borrowed; the rule evaluator, or NULL; set before the server
                                starts and never changed while it runs */
    /* Metric limits from the configuration, refreshed on reload. */
    _Atomic size_t metrics_max_write_bytes; /* body limit of the write endpoints */
    _Atomic size_t metrics_max_samples;     /* samples one query may load */
    _Atomic int64_t metrics_lookback_ms;    /* PromQL lookback */
    int64_t started_at_ms;
    volatile int ready; /* 1 once serving, 0 while starting or stopping */
};

#define HTTP_MAX_PARAMS 2

struct http_req {
    struct MHD_Connection *conn;
    struct server_ctx *ctx;
    const struct config *cfg;            /* the configuration this request uses */
    const char *method;                  /* borrowed from MHD */
    const char *url;                     /* borrowed from MHD */
    const char *params[HTTP_MAX_PARAMS]; /* path parameters ({id}); point into param_buf */
    char param_buf[256];
    char *body; /* owned; the request body, NUL-terminated for convenience */
    size_t body_len, body_cap;
    bool body_too_large;
    int route; /* index in the route table, for metrics */

    /* The response, set by exactly one http_reply_* call. */
    int status;
    char *resp; /* owned */
    size_t resp_len;
    const char *resp_type;   /* static string */
    const char *retry_after; /* static string or NULL */
    const char *allow;       /* NULL or allow_buf */
    char allow_buf[128];
    const char *www_auth; /* static string or NULL */
    bool truncated;       /* the answer is a cut list: X-Tocsin-Truncated: true */
};

/* Sends obj (reference stolen) as JSON. */
void http_reply_json(struct http_req *req, int status, json_t *obj);

/* Sends {"error":{"code","message","field"}}; field may be NULL. */
void http_reply_error(struct http_req *req, int status, const char *code, const char *field,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Sends text (copied) with the given content type. */
void http_reply_text(struct http_req *req, int status, const char *ctype, const char *text,
                     size_t len);

/* Request header look-up (case-insensitive); borrowed, NULL when absent. */
const char *http_header(struct http_req *req, const char *name);

/* Query-string argument; borrowed, NULL when absent. */
const char *http_query(struct http_req *req, const char *name);

/* Collects every value of a repeated query argument (?filter=a&filter=b)
 * into out (borrowed pointers), at most max. Returns how many there were,
 * which may exceed max. */
size_t http_query_all(struct http_req *req, const char *name, const char **out, size_t max);

/* True when the content type is JSON, text/plain or absent (senders that
 * post JSON disagree about the header). */
bool http_is_json_type(struct http_req *req);

/* Answers 415 unless http_is_json_type. Returns true when acceptable. */
bool http_require_json_type(struct http_req *req);

/*
 * Starts serving on host:port (port 0 picks a free one). Writes the bound
 * address into bound (e.g. "127.0.0.1:43121"). Returns an opaque handle or
 * NULL with a message in err.
 */
struct http_server *http_start(struct server_ctx *ctx, const char *listen, char *bound,
                               size_t boundlen, char *err, size_t errlen);

/* Stops accepting, lets in-flight requests finish, and frees the server. */
void http_stop(struct http_server *srv);

/* Writes the HTTP request counters in Prometheus text format. */
void http_metrics_write(FILE *f);

#endif
