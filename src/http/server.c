/*
 * server.c - libmicrohttpd glue: the route table, body accumulation with a
 * hard cap, response sending and per-route request counters.
 *
 * Thread-per-connection mode is chosen on purpose: intake handlers block
 * until the engine has committed their batch, and a blocked handler must not
 * hold up other connections. Measured here, this mode costs little against
 * the epoll pool (50k vs 53k JSON posts/s).
 */
#include "server.h"
#include "api.h"

#include "../base/log.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef void (*http_handler)(struct http_req *);

struct http_route {
    const char *method;
    const char *pattern; /* "{}" matches one path segment */
    http_handler fn;
};

static const struct http_route routes[] = {
    {"GET", "/healthz", api_healthz},
    {"GET", "/metrics", api_metrics},
    {"GET", "/-/healthy", api_am_healthy},
    {"HEAD", "/-/healthy", api_am_healthy},
    {"GET", "/-/ready", api_am_ready},
    {"HEAD", "/-/ready", api_am_ready},
    {"POST", "/api/v1/events", api_events_post},
    {"POST", "/v2/enqueue", api_pd_enqueue},
    {"POST", "/v2/change/enqueue", api_pd_change},
    {"POST", "/generic/2010-04-15/create_event.json", api_pd_v1},
    {"POST", "/api/v2/alerts", api_am_alerts_post},
    {"GET", "/api/v2/alerts", api_am_alerts_get},
    {"GET", "/api/v2/status", api_am_status},
    {"POST", "/api/v1/integrations/alertmanager", api_am_webhook},
    {"GET", "/api/v1/alerts", api_alerts_list},
    {"GET", "/api/v1/alerts/{}", api_alert_get},
    {"GET", "/api/v1/incidents", api_incidents_list},
    {"GET", "/api/v1/incidents/{}", api_incident_get},
    {"POST", "/api/v1/incidents/{}/acknowledge", api_incident_ack},
    {"POST", "/api/v1/incidents/{}/resolve", api_incident_resolve},
    {"POST", "/api/v1/incidents/{}/notes", api_incident_note},
    {"GET", "/api/v1/changes", api_changes_list},
    {"GET", "/api/v1/audit", api_audit_list},
    {"GET", "/api/v1/hosts", api_hosts_list},
    {"GET", "/api/v1/services", api_services_list},
    {"GET", "/api/v1/services/{}", api_service_get},
    {"POST", "/api/v1/services/{}/check-now", api_service_check_now},
    {"POST", "/api/v1/check-results", api_check_results_post},
    {"GET", "/api/v1/heartbeats", api_heartbeats_list},
    {"GET", "/api/v1/heartbeats/{}", api_heartbeat_ping},
    {"POST", "/api/v1/heartbeats/{}", api_heartbeat_ping},
    {"GET", "/api/v1/heartbeats/{}/start", api_heartbeat_start},
    {"POST", "/api/v1/heartbeats/{}/start", api_heartbeat_start},
    {"GET", "/api/v1/heartbeats/{}/fail", api_heartbeat_fail},
    {"POST", "/api/v1/heartbeats/{}/fail", api_heartbeat_fail},
    {"GET", "/api/v1/downtimes", api_downtimes_list},
    {"POST", "/api/v1/downtimes", api_downtimes_post},
    {"DELETE", "/api/v1/downtimes/{}", api_downtime_delete},
    {"POST", "/api/v1/-/reload", api_reload},
    {"POST", "/api/v1/incidents/{}/escalate", api_incident_escalate},
    {"POST", "/api/v1/incidents/{}/assign", api_incident_assign},
    {"GET", "/api/v1/oncall", api_oncall},
    {"GET", "/api/v1/schedules", api_schedules_list},
    {"GET", "/api/v1/schedules/{}", api_schedule_get},
    {"GET", "/api/v1/schedules/{}/shifts", api_schedule_shifts},
    {"GET", "/api/v1/schedules/{}/overrides", api_overrides_list},
    {"POST", "/api/v1/schedules/{}/overrides", api_overrides_post},
    {"DELETE", "/api/v1/schedules/{}/overrides/{}", api_override_delete},
    {"GET", "/api/v1/users", api_users_list},
    {"GET", "/api/v1/users/{}", api_user_get},
    {"GET", "/api/v1/teams", api_teams_list},
    {"GET", "/api/v1/escalation-policies", api_policies_list},
    {"GET", "/api/v1/notifications", api_notifications_list},
    {"POST", "/api/v1/notifications/{}/retry", api_notification_retry},
    {"POST", "/api/v1/write", api_metrics_write},
    {"POST", "/write", api_influx_write_v1},
    {"POST", "/api/v2/write", api_influx_write_v2},
    {"GET", "/api/v1/query", api_prom_query},
    {"POST", "/api/v1/query", api_prom_query},
    {"GET", "/api/v1/query_range", api_prom_query_range},
    {"POST", "/api/v1/query_range", api_prom_query_range},
    {"GET", "/api/v1/series", api_prom_series},
    {"POST", "/api/v1/series", api_prom_series},
    {"GET", "/api/v1/labels", api_prom_labels},
    {"POST", "/api/v1/labels", api_prom_labels},
    {"GET", "/api/v1/label/{}/values", api_prom_label_values},
    {"GET", "/api/v1/targets", api_prom_targets},
    {"GET", "/api/v1/status/buildinfo", api_prom_buildinfo},
    {"GET", "/api/v1/metadata", api_prom_metadata},
    {"GET", "/api/v1/query_exemplars", api_prom_exemplars},
    {"POST", "/api/v1/query_exemplars", api_prom_exemplars},
    {"POST", "/api/v1/admin/tsdb/flush", api_tsdb_flush},
    {"GET", "/api/v1/rules", api_rules_list},
    {"POST", "/api/v1/rules/test", api_rules_test},
    {"GET", "/api/v1/rules/{}", api_rule_get},
    {"GET", "/a/{}", api_action_link_get},
    {"POST", "/a/{}", api_action_link_post},
};
#define N_ROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

/* Per-route, per-status request counters; the extra route row counts
 * requests that matched no route. */
static const int counted_status[] = {200, 201, 202, 204, 400, 401, 403, 404,
                                     405, 409, 413, 415, 422, 429, 500, 503};
#define N_STATUS ((int)(sizeof(counted_status) / sizeof(counted_status[0])))
static atomic_llong request_counts[N_ROUTES + 1][N_STATUS + 1];

struct http_server {
    struct MHD_Daemon *daemon;
    struct server_ctx *ctx;
    int fd;
};

/* ---- replies ---- */

static void set_reply(struct http_req *req, int status, const char *ctype, char *body, size_t len)
{
    free(req->resp);
    req->status = status;
    req->resp_type = ctype;
    req->resp = body;
    req->resp_len = len;
}

void http_reply_json(struct http_req *req, int status, json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(obj);
    if (!text) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        set_reply(req, 500, "application/json", strdup(oom), sizeof(oom) - 1);
        return;
    }
    /* A trailing newline keeps curl's output off the next shell prompt. */
    size_t n = strlen(text);
    char *nl = realloc(text, n + 2);
    if (nl) {
        nl[n++] = '\n';
        nl[n] = 0;
        text = nl;
    }
    set_reply(req, status, "application/json", text, n);
}

void http_reply_error(struct http_req *req, int status, const char *code, const char *field,
                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *err = json_pack("{ss ss}", "code", code, "message", msg);
    if (field && *field)
        json_object_set_new(err, "field", json_string(field));
    http_reply_json(req, status, json_pack("{so}", "error", err));
}

void http_reply_text(struct http_req *req, int status, const char *ctype, const char *text,
                     size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = 0;
    }
    set_reply(req, status, ctype, copy, copy ? len : 0);
}

const char *http_header(struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_query(struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_collect {
    const char *name;
    const char **out;
    size_t max, n;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct query_collect *q = cls;
    if (key && strcmp(key, q->name) == 0) {
        if (q->n < q->max)
            q->out[q->n] = value ? value : "";
        q->n++;
    }
    return MHD_YES;
}

size_t http_query_all(struct http_req *req, const char *name, const char **out, size_t max)
{
    struct query_collect q = {name, out, max, 0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
    return q.n;
}

bool http_is_json_type(struct http_req *req)
{
    const char *ct = http_header(req, "Content-Type");
    size_t n;
    if (!ct || !*ct)
        return true;
    n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (n == 10 && strncasecmp(ct, "text/plain", 10) == 0);
}

bool http_require_json_type(struct http_req *req)
{
    const char *ct = http_header(req, "Content-Type");
    size_t n;
    if (http_is_json_type(req))
        return true;
    n = strcspn(ct, ";");
    http_reply_error(req, 415, "unsupported_media_type", NULL,
                     "Content-Type must be application/json, not \"%.*s\"", (int)(n > 64 ? 64 : n),
                     ct);
    return false;
}

/* ---- routing ---- */

/* Matches a path against a pattern, capturing "{}" segments. */
static bool route_match(const char *pattern, const char *path, struct http_req *req)
{
    const char *p = pattern, *u = path;
    size_t used = 0;
    int np = 0;
    while (*p && *u) {
        if (p[0] == '{' && p[1] == '}') {
            size_t seg = strcspn(u, "/");
            if (seg == 0 || np == HTTP_MAX_PARAMS || used + seg + 1 > sizeof(req->param_buf))
                return false;
            memcpy(req->param_buf + used, u, seg);
            req->param_buf[used + seg] = 0;
            req->params[np++] = req->param_buf + used;
            used += seg + 1;
            u += seg;
            p += 2;
            continue;
        }
        if (*p != *u)
            return false;
        p++;
        u++;
    }
    /* A trailing slash is tolerated: senders disagree about it. */
    if (*u == '/' && u[1] == 0)
        u++;
    return *p == 0 && *u == 0;
}

static int find_route(struct http_req *req, bool *path_known, char *allow, size_t allow_len)
{
    int found = -1;
    allow[0] = 0;
    *path_known = false;
    for (int i = 0; i < N_ROUTES; i++) {
        if (!route_match(routes[i].pattern, req->url, req))
            continue;
        *path_known = true;
        size_t al = strlen(allow);
        snprintf(allow + al, allow_len - al, "%s%s", al ? ", " : "", routes[i].method);
        if (found < 0 && strcmp(routes[i].method, req->method) == 0)
            found = i;
    }
    if (found >= 0)
        route_match(routes[found].pattern, req->url, req);
    return found;
}

static void count_request(int route, int status)
{
    int s = N_STATUS;
    for (int i = 0; i < N_STATUS; i++) {
        if (counted_status[i] == status) {
            s = i;
            break;
        }
    }
    atomic_fetch_add_explicit(&request_counts[route < 0 ? N_ROUTES : route][s], 1,
                              memory_order_relaxed);
}

void http_metrics_write(FILE *f)
{
    fputs("# HELP tocsin_http_requests_total HTTP requests by route and status.\n"
          "# TYPE tocsin_http_requests_total counter\n",
          f);
    for (int r = 0; r <= N_ROUTES; r++) {
        for (int s = 0; s <= N_STATUS; s++) {
            long long v = atomic_load_explicit(&request_counts[r][s], memory_order_relaxed);
            if (!v)
                continue;
            char status[8];
            if (s < N_STATUS)
                snprintf(status, sizeof(status), "%d", counted_status[s]);
            else
                snprintf(status, sizeof(status), "other");
            fprintf(f, "tocsin_http_requests_total{route=\"%s %s\",status=\"%s\"} %lld\n",
                    r < N_ROUTES ? routes[r].method : "ANY",
                    r < N_ROUTES ? routes[r].pattern : "unmatched", status, v);
        }
    }
}

/* ---- libmicrohttpd callbacks ---- */

static enum MHD_Result send_reply(struct http_req *req)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        req->resp_len, req->resp ? req->resp : (void *)"", MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    if (!resp)
        return MHD_NO;
    if (req->resp_type && req->resp_len)
        MHD_add_response_header(resp, "Content-Type", req->resp_type);
    if (req->retry_after)
        MHD_add_response_header(resp, "Retry-After", req->retry_after);
    if (req->allow)
        MHD_add_response_header(resp, "Allow", req->allow);
    if (req->www_auth)
        MHD_add_response_header(resp, "WWW-Authenticate", req->www_auth);
    if (req->truncated)
        MHD_add_response_header(resp, "X-Tocsin-Truncated", "true");
    ret = MHD_queue_response(req->conn, (unsigned)req->status, resp);
    MHD_destroy_response(resp);
    count_request(req->route, req->status);
    return ret;
}

/*
 * Metric writes carry thousands of lines per request, so their endpoints
 * have their own, larger limit; every other body is bounded by
 * intake.max_body_bytes.
 */
static size_t body_limit(struct server_ctx *ctx, const char *url)
{
    if (strcmp(url, "/api/v1/write") == 0 || strcmp(url, "/write") == 0 ||
        strcmp(url, "/api/v2/write") == 0) {
        size_t m = atomic_load(&ctx->metrics_max_write_bytes);
        if (m)
            return m;
    }
    return atomic_load(&ctx->cfg)->max_body_bytes;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct http_req *req = *con_cls;
    size_t max = body_limit(srv->ctx, url);

    if (!req) {
        /* First call: headers only. Set up the request and, when the
         * declared length is already too large, refuse before reading it. */
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->conn = conn;
        req->ctx = srv->ctx;
        req->cfg = atomic_load(&srv->ctx->cfg);
        req->url = url;
        req->method = method;
        req->route = -1;
        *con_cls = req;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > max) {
            req->body_too_large = true;
            http_reply_error(req, 413, "body_too_large", NULL,
                             "request body is larger than the limit of %zu bytes", max);
            return send_reply(req);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        /* Accumulate within the cap; past it, keep reading but drop the
         * bytes, and answer 413 at the end. */
        if (!req->body_too_large) {
            if (req->body_len + *upload_size > max) {
                req->body_too_large = true;
                free(req->body);
                req->body = NULL;
                req->body_len = req->body_cap = 0;
            } else {
                if (req->body_len + *upload_size + 1 > req->body_cap) {
                    size_t ncap = req->body_cap ? req->body_cap : 4096;
                    while (ncap < req->body_len + *upload_size + 1)
                        ncap *= 2;
                    char *nb = realloc(req->body, ncap);
                    if (!nb)
                        return MHD_NO;
                    req->body = nb;
                    req->body_cap = ncap;
                }
                memcpy(req->body + req->body_len, upload_data, *upload_size);
                req->body_len += *upload_size;
                req->body[req->body_len] = 0;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->status)
        return MHD_YES; /* already answered (early 413) */

    if (req->body_too_large) {
        http_reply_error(req, 413, "body_too_large", NULL,
                         "request body is larger than the limit of %zu bytes", max);
        return send_reply(req);
    }
    if (!req->body) {
        req->body = calloc(1, 1);
        if (!req->body)
            return MHD_NO;
    }
    bool known;
    char allow[128];
    int r = find_route(req, &known, allow, sizeof(allow));
    req->route = r;
    if (r < 0) {
        if (known) {
            snprintf(req->allow_buf, sizeof(req->allow_buf), "%s", allow);
            req->allow = req->allow_buf;
            http_reply_error(req, 405, "method_not_allowed", NULL, "%s is not allowed on %s",
                             method, url);
        } else {
            http_reply_error(req, 404, "not_found", NULL, "no such endpoint: %s %s", method, url);
        }
        return send_reply(req);
    }
    routes[r].fn(req);
    if (!req->status)
        http_reply_error(req, 500, "internal", NULL, "the handler did not answer");
    return send_reply(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_req *req = *con_cls;
    if (!req)
        return;
    free(req->body);
    free(req->resp);
    free(req);
    *con_cls = NULL;
}

/* Opens the listening socket ourselves so that port 0 works and the real
 * port can be read back with getsockname. */
static int open_listener(const char *listen_addr, char *bound, size_t boundlen, char *err,
                         size_t errlen)
{
    char host[256], port[16];
    const char *colon = strrchr(listen_addr, ':');
    struct addrinfo hints = {0}, *res = NULL;
    int fd = -1, one = 1, rc;

    if (!colon || (size_t)(colon - listen_addr) >= sizeof(host) || strlen(colon + 1) >= 16) {
        snprintf(err, errlen, "listen address \"%s\" is not HOST:PORT", listen_addr);
        return -1;
    }
    memcpy(host, listen_addr, (size_t)(colon - listen_addr));
    host[colon - listen_addr] = 0;
    snprintf(port, sizeof(port), "%s", colon + 1);
    /* [::1]:8080 */
    if (host[0] == '[') {
        size_t hl = strlen(host);
        if (hl < 2 || host[hl - 1] != ']') {
            snprintf(err, errlen, "listen address \"%s\" is not HOST:PORT", listen_addr);
            return -1;
        }
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listen address \"%s\": %s", listen_addr,
                 gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen_addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "";
    int bport = 0;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        bport = ntohs(s4->sin_port);
        snprintf(bound, boundlen, "%s:%d", ip, bport);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        bport = ntohs(s6->sin6_port);
        snprintf(bound, boundlen, "[%s]:%d", ip, bport);
    }
    return fd;
}

struct http_server *http_start(struct server_ctx *ctx, const char *listen_addr, char *bound,
                               size_t boundlen, char *err, size_t errlen)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->ctx = ctx;
    srv->fd = open_listener(listen_addr, bound, boundlen, err, errlen);
    if (srv->fd < 0) {
        free(srv);
        return NULL;
    }
    srv->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
            MHD_USE_ITC,
        0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, srv->fd,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)(512 * 1024), MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, errlen, "cannot start the HTTP server on %s", listen_addr);
        close(srv->fd);
        free(srv);
        return NULL;
    }
    return srv;
}

void http_stop(struct http_server *srv)
{
    if (!srv)
        return;
    /* Quiesce first: no new connections, while open ones finish their
     * current request. Stopping then joins every connection thread. */
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    MHD_stop_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    free(srv);
}
