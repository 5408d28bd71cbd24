/*
 * rules_cli.c - `tocsin rules test`; see rules_cli.h.
 *
 * Online (the default) the rule is looked up in the configuration file and
 * its definition is sent, so a rule written but not yet deployed (the server
 * still runs the old file) is tested as written; a rule the file does not
 * have is asked for by name, as the server knows it. Offline (--data DIR)
 * the command opens the metrics store itself, which only works while no
 * server holds it: two processes on one store would corrupt its log.
 *
 * Like `tocsin oncall` the command is interactive and does not retry.
 */
#include "rules_cli.h"
#include "cli_http.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/timefmt.h"
#include "config/config.h"
#include "metrics/promql.h"
#include "metrics/tsdb.h"
#include "rules/rules.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* A backtest answer lists alerts and notes; 32 MiB is far beyond any. */
#define RULES_CLI_RESPONSE_MAX (32 * 1024 * 1024)
/* A backtest of a year at a small step takes a while on a big store. */
#define RULES_CLI_TIMEOUT_S 600

/* ---- Times ---- */

int rules_cli_parse_time(const char *s, int64_t now_ms, int64_t *out_ms)
{
    int64_t d;
    char *end;
    if (!s)
        return -1;
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len == 0 || len > 64)
        return -1;
    char buf[65];
    memcpy(buf, s, len);
    buf[len] = 0;

    /* now, now-7d, now+1h, -7d */
    const char *rel = NULL;
    if (strncmp(buf, "now", 3) == 0) {
        if (buf[3] == 0) {
            *out_ms = now_ms;
            return 0;
        }
        rel = buf + 3;
    } else if (buf[0] == '-' && isalpha((unsigned char)buf[len - 1])) {
        rel = buf;
    }
    if (rel) {
        if ((rel[0] != '-' && rel[0] != '+') || timefmt_parse_duration(rel + 1, &d) != 0)
            return -1;
        *out_ms = rel[0] == '-' ? now_ms - d : now_ms + d;
        return 0;
    }
    /* Unix seconds, maybe with a fraction */
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf && *end == 0 && errno == 0 && isfinite(v)) {
        if (v <= -9.2e12 || v >= 9.2e12)
            return -1;
        *out_ms = (int64_t)llround(v * 1000.0);
        return 0;
    }
    return timefmt_parse_rfc3339(buf, len, out_ms);
}

int rules_cli_parse_step(const char *s, int64_t *out_ms)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && *end == 0 && errno == 0 && isfinite(v)) {
        if (v < 0.001 || v >= 9.2e12)
            return -1;
        *out_ms = (int64_t)llround(v * 1000.0);
        return 0;
    }
    int64_t d;
    if (timefmt_parse_duration(s, &d) != 0 || d <= 0)
        return -1;
    *out_ms = d;
    return 0;
}

/* ---- Rendering ---- */

/* "45s", "5m", "1h10m", "2d3h". */
static void rules_cli_put_duration(FILE *f, double secs)
{
    long long s = (long long)llround(secs);
    if (s < 60) {
        fprintf(f, "%llds", s < 0 ? 0 : s);
        return;
    }
    if (s >= 86400) {
        fprintf(f, "%lldd", s / 86400);
        if (s % 86400 >= 3600)
            fprintf(f, "%lldh", s % 86400 / 3600);
        return;
    }
    if (s >= 3600)
        fprintf(f, "%lldh", s / 3600);
    if (s % 3600 >= 60)
        fprintf(f, "%lldm", s % 3600 / 60);
    if (s < 3600 && s % 60)
        fprintf(f, "%llds", s % 60);
}

/* {a="1", b="2"} from a JSON object of strings. */
static void rules_cli_put_labels(FILE *f, const json_t *labels)
{
    const char *k;
    json_t *v;
    bool first = true;
    fputc('{', f);
    json_object_foreach((json_t *)labels, k, v)
    {
        const char *s = json_string_value(v);
        fprintf(f, "%s%s=\"%s\"", first ? "" : ", ", k, s ? s : "");
        first = false;
    }
    fputc('}', f);
}

static void rules_cli_put_value(FILE *f, const json_t *v)
{
    if (json_is_number(v)) {
        char buf[32];
        promql_format_value(json_number_value(v), buf);
        fputs(buf, f);
    } else if (json_is_string(v)) {
        fputs(json_string_value(v), f);
    } else {
        fputc('-', f);
    }
}

/* The explanation may be a sentence or an object with one ("text"). */
static void rules_cli_put_explanation(FILE *f, const json_t *e)
{
    const char *text = json_string_value(e);
    if (!text && json_is_object(e)) {
        text = json_string_value(json_object_get(e, "text"));
        if (!text)
            text = json_string_value(json_object_get(e, "explanation"));
    }
    if (text && *text) {
        fprintf(f, "    %s\n", text);
    } else if (e && !json_is_null(e)) {
        char *dump = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
        if (dump)
            fprintf(f, "    %s\n", dump);
        free(dump);
    }
}

void rules_cli_render(const json_t *result, FILE *f)
{
    const json_t *alerts = json_object_get(result, "alerts");
    const json_t *notes = json_object_get(result, "notes");
    const char *rule = json_string_value(json_object_get(result, "rule"));
    const char *from = json_string_value(json_object_get(result, "from"));
    const char *to = json_string_value(json_object_get(result, "to"));
    const json_t *step = json_object_get(result, "step");
    size_t i;
    const json_t *a;

    fprintf(f, "%s from %s to %s", rule ? rule : "rule", from ? from : "?", to ? to : "?");
    if (json_is_string(step))
        fprintf(f, " every %s", json_string_value(step));
    else if (json_is_number(step)) {
        fputs(" every ", f);
        rules_cli_put_duration(f, json_number_value(step));
    }
    fputc('\n', f);
    json_array_foreach(alerts, i, a)
    {
        const char *fired = json_string_value(json_object_get(a, "fired_at"));
        const char *resolved = json_string_value(json_object_get(a, "resolved_at"));
        const char *sev = json_string_value(json_object_get(a, "severity"));
        const json_t *dur = json_object_get(a, "duration_s");
        fprintf(f, "%s -> %s", fired ? fired : "?", resolved ? resolved : "still firing");
        if (json_is_number(dur)) {
            fputs(" (", f);
            rules_cli_put_duration(f, json_number_value(dur));
            fputc(')', f);
        }
        fprintf(f, " %s ", sev ? sev : "-");
        rules_cli_put_labels(f, json_object_get(a, "labels"));
        fputc(' ', f);
        rules_cli_put_value(f, json_object_get(a, "value"));
        const json_t *peak = json_object_get(a, "peak");
        if (json_is_number(peak)) {
            fputs(" (peak ", f);
            rules_cli_put_value(f, peak);
            fputc(')', f);
        }
        fputc('\n', f);
        rules_cli_put_explanation(f, json_object_get(a, "explanation"));
    }
    json_array_foreach(notes, i, a)
    {
        const char *n = json_string_value(a);
        if (n)
            fprintf(f, "note: %s\n", n);
    }
    size_t n_alerts = json_array_size(alerts);
    const json_t *evals = json_object_get(result, "evaluations");
    fprintf(f, "%zu alert%s, %lld evaluations\n", n_alerts, n_alerts == 1 ? "" : "s",
            json_is_integer(evals) ? (long long)json_integer_value(evals) : 0LL);
}

/* ---- The command ---- */

static void rules_cli_usage(FILE *f)
{
    fputs("usage: tocsin rules test RULE [--from TIME] [--to TIME] [--step DURATION]\n"
          "                         [--config FILE] [--url URL] [--token TOKEN]\n"
          "                         [--data DIR] [--json]\n"
          "\n"
          "Replays an alert rule over stored metrics and lists when it would have fired,\n"
          "before anyone deploys it.\n"
          "\n"
          "  RULE             a rule's name; when the configuration file has it, its\n"
          "                   definition there is tested (deployed or not), else the\n"
          "                   rule the server has loaded\n"
          "  --from TIME      start: RFC 3339, Unix seconds, now, or relative to now\n"
          "                   such as -7d or now-7d (default: 7 days before --to)\n"
          "  --to TIME        end, in the same forms (default: now)\n"
          "  --step DURATION  evaluate every DURATION such as 5m (default: the rule's\n"
          "                   interval)\n"
          "  --config FILE    configuration (default: ./tocsin.yaml if present)\n"
          "  --url URL        server (default: $TOCSIN_URL, else http:// + listen from the\n"
          "                   configuration, else http://127.0.0.1:8080)\n"
          "  --token TOKEN    API token (default: $TOCSIN_TOKEN, else the first admin\n"
          "                   token of the configuration)\n"
          "  --data DIR       work offline on the data directory DIR (its metrics store\n"
          "                   must not be in use by a running server); needs the rule in\n"
          "                   the configuration file\n"
          "  --json           print the result as JSON\n"
          "\n"
          "Exit status: 0 done (whether or not the rule fired), 1 refused or invalid\n"
          "(unknown rule, bad options), 2 server unreachable or failing, or the store\n"
          "could not be opened.\n"
          "\n"
          "example: tocsin rules test DiskFull --from now-30d --step 5m\n",
          f);
}

static void rules_cli_usage_main(FILE *f)
{
    fputs("usage: tocsin rules COMMAND [OPTIONS]\n"
          "\n"
          "commands:\n"
          "  test   replay a rule over stored metrics: when would it have fired?\n"
          "\n"
          "Run 'tocsin rules test --help' for its options.\n",
          f);
}

/* Prints the result: the JSON, or the summary. */
static void rules_cli_print(const json_t *result, bool as_json)
{
    if (as_json) {
        char *text = json_dumps(result, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        if (text)
            printf("%s\n", text);
        free(text);
        return;
    }
    rules_cli_render(result, stdout);
}

/* The server's base URL from the configuration's listen address: a
 * wildcard address is reached through loopback. */
static void rules_cli_url_from_listen(const char *listen, char *buf, size_t len)
{
    const char *colon = strrchr(listen, ':');
    if (!colon) {
        snprintf(buf, len, "http://%s", listen);
        return;
    }
    size_t hl = (size_t)(colon - listen);
    if (hl == 0 || (hl == 7 && strncmp(listen, "0.0.0.0", 7) == 0))
        snprintf(buf, len, "http://127.0.0.1%s", colon);
    else if (hl == 4 && strncmp(listen, "[::]", 4) == 0)
        snprintf(buf, len, "http://[::1]%s", colon);
    else
        snprintf(buf, len, "http://%s", listen);
}

static int rules_cli_online(const char *name, const struct config *cfg, const char *from,
                            const char *to, const char *step, const char *url, const char *token,
                            bool as_json)
{
    char base[512], endpoint[600], *auth = NULL, *body = NULL;
    struct cli_response resp = {.max = RULES_CLI_RESPONSE_MAX};
    const struct cfg_rule *rule = cfg ? config_find_rule(cfg, name) : NULL;
    json_t *req = json_object();
    int rc = 2;
    long status = 0;

    if (url && *url)
        snprintf(base, sizeof(base), "%s", url);
    else if (cfg && cfg->listen && *cfg->listen)
        rules_cli_url_from_listen(cfg->listen, base, sizeof(base));
    else
        snprintf(base, sizeof(base), "http://127.0.0.1:8080");
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        base[--bl] = 0;
    snprintf(endpoint, sizeof(endpoint), "%s/api/v1/rules/test", base);
    if (!token || !*token) {
        token = NULL;
        for (size_t i = 0; cfg && i < cfg->n_tokens; i++)
            if (cfg->tokens[i].role == ROLE_ADMIN) {
                token = cfg->tokens[i].token;
                break;
            }
    }
    if (rule && rule->spec)
        json_object_set(req, "rule", rule->spec);
    else
        json_object_set_new(req, "name", json_string(name));
    if (from)
        json_object_set_new(req, "from", json_string(from));
    if (to)
        json_object_set_new(req, "to", json_string(to));
    if (step)
        json_object_set_new(req, "step", json_string(step));
    body = json_dumps(req, JSON_COMPACT);
    if (token && asprintf(&auth, "Authorization: Bearer %s", token) < 0)
        auth = NULL;
    if (!body || (token && !auth) || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "tocsin rules: out of memory\n");
        goto out;
    }

    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    CURLcode cc = CURLE_FAILED_INIT;
    if (h) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        if (auth)
            hdrs = curl_slist_append(hdrs, auth);
        curl_easy_setopt(h, CURLOPT_URL, endpoint);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)RULES_CLI_TIMEOUT_S);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cli_response_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        cc = curl_easy_perform(h);
        if (cc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
    }
    curl_global_cleanup();

    if (cc != CURLE_OK) {
        fprintf(stderr, "tocsin rules: cannot reach %s: %s\n", endpoint,
                resp.too_big ? "the answer is too large" : curl_easy_strerror(cc));
        rc = 2;
        goto out;
    }
    json_t *root = resp.buf ? json_loadb(resp.buf, resp.len, 0, NULL) : NULL;
    if (status >= 400 && status < 500) {
        const json_t *e = json_object_get(root, "error");
        const char *msg = json_is_string(e) ? json_string_value(e)
                                            : json_string_value(json_object_get(e, "message"));
        fprintf(stderr, "tocsin rules: refused with HTTP %ld: %s\n", status,
                msg ? msg : (resp.buf ? resp.buf : ""));
        if ((status == 401 || status == 403) && !auth)
            fprintf(stderr, "tocsin rules: no API token: use --token, set TOCSIN_TOKEN, or give "
                            "a configuration with an admin token\n");
        rc = 1;
    } else if (status < 200 || status >= 300) {
        fprintf(stderr, "tocsin rules: server failed with HTTP %ld: %s\n", status,
                resp.buf ? resp.buf : "");
        rc = 2;
    } else if (!json_is_object(json_object_get(root, "data"))) {
        fprintf(stderr, "tocsin rules: unexpected answer from %s: %.200s\n", endpoint,
                resp.buf ? resp.buf : "");
        rc = 2;
    } else {
        if (!as_json && rule && rule->spec)
            fprintf(stderr, "tocsin rules: testing %s as written in %s\n", name, cfg->path);
        rules_cli_print(json_object_get(root, "data"), as_json);
        rc = 0;
    }
    json_decref(root);
out:
    free(resp.buf);
    free(body);
    free(auth);
    json_decref(req);
    return rc;
}

static int rules_select(void *ctx, const struct matcher *m, size_t nm, int64_t mint, int64_t maxt,
                        size_t max_samples, struct tsdb_series **out, size_t *n_out, char *err,
                        size_t errlen)
{
    return tsdb_select(ctx, m, nm, mint, maxt, max_samples, out, n_out, err, errlen);
}

static int rules_select_rollup(void *ctx, int64_t res, const struct matcher *m, size_t nm,
                               int64_t mint, int64_t maxt, size_t max_buckets,
                               struct tsdb_rollup_series **out, size_t *n_out, char *err,
                               size_t errlen)
{
    return tsdb_select_rollup(ctx, res, m, nm, mint, maxt, max_buckets, out, n_out, err, errlen);
}

/*
 * True when another process (a running server) holds the store's lock.
 * tsdb_open would refuse too; asking first gives the message that says what
 * to do instead.
 */
static bool rules_cli_store_busy(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/lock", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* releases the lock if we took it */
    return busy;
}

static int rules_cli_offline(const char *name, const struct config *cfg, const char *data,
                             int64_t from, int64_t to, int64_t step, bool as_json)
{
    char dir[4096], err[512], url[512];
    struct stat sb;
    struct tsdb *db = NULL;
    json_t *out = NULL;
    int rc = 1;

    const struct cfg_rule *rule = cfg ? config_find_rule(cfg, name) : NULL;
    if (!rule) {
        fprintf(stderr,
                "tocsin rules: %s: no rule named \"%s\"; offline (--data) the rule must be in "
                "the configuration file\n",
                cfg ? cfg->path : "no configuration file (--config)", name);
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s/metrics", data);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "tocsin rules: %s has no metrics store (%s: %s)\n", data, dir,
                strerror(errno ? errno : ENOTDIR));
        return 2;
    }
    if (rules_cli_store_busy(dir)) {
        fprintf(stderr,
                "tocsin rules: the metrics store in %s is in use by a running server; use --url "
                "to test through it\n",
                data);
        return 2;
    }
    struct tsdb_options o = {0};
    o.dir = dir;
    o.background = false;
    if (tsdb_open(&o, &db, err, sizeof(err)) != 0) {
        fprintf(stderr, "tocsin rules: cannot open the metrics store in %s: %s\n", data, err);
        return 2;
    }
    struct rules_env env;
    memset(&env, 0, sizeof(env));
    env.storage.ctx = db;
    env.storage.select = rules_select;
    env.storage.select_rollup = rules_select_rollup;
    env.db = NULL;
    if (cfg->notify.public_url) {
        env.public_url = cfg->notify.public_url;
    } else {
        rules_cli_url_from_listen(cfg->listen, url, sizeof(url));
        env.public_url = url;
    }
    env.lookback_ms = cfg->metrics.lookback_ms;
    env.max_samples = cfg->metrics.max_query_samples;
    struct rules_backtest_opts bo = {.from = from, .to = to, .step_ms = step};
    err[0] = 0;
    if (rules_backtest(rule, &cfg->rule_settings, &env, &bo, &out, err, sizeof(err)) != 0 || !out) {
        fprintf(stderr, "tocsin rules: the backtest of %s failed: %s\n", name,
                err[0] ? err : "out of memory");
        rc = 1;
    } else {
        rules_cli_print(out, as_json);
        rc = 0;
    }
    json_decref(out);
    tsdb_close(db);
    return rc;
}

static int rules_cli_test(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'}, {"to", required_argument, NULL, 't'},
        {"step", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"url", required_argument, NULL, 'u'},  {"token", required_argument, NULL, 'T'},
        {"data", required_argument, NULL, 'd'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    const char *from = NULL, *to = NULL, *step = NULL, *config_path = NULL, *data = NULL;
    const char *url = getenv("TOCSIN_URL"), *token = getenv("TOCSIN_TOKEN");
    const char *name = NULL;
    bool as_json = false;
    struct config *cfg = NULL;
    struct cfg_errors errs = {0};
    int c, rc = 1;
    int64_t now = clock_now_ms(), from_ms, to_ms = now, step_ms = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            from = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 's':
            step = optarg;
            break;
        case 'c':
            config_path = optarg;
            break;
        case 'u':
            url = optarg;
            break;
        case 'T':
            token = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'j':
            as_json = true;
            break;
        case 'h':
            rules_cli_usage(stdout);
            return 0;
        default:
            rules_cli_usage(stderr);
            return 1;
        }
    }
    if (optind < argc)
        name = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "tocsin rules test: unexpected argument '%s'\n", argv[optind]);
        rules_cli_usage(stderr);
        return 1;
    }
    if (!name || !*name) {
        fprintf(stderr, "tocsin rules test: which rule? give its name\n");
        rules_cli_usage(stderr);
        return 1;
    }
    if (to && rules_cli_parse_time(to, now, &to_ms) != 0) {
        fprintf(stderr,
                "tocsin rules test: --to takes an RFC 3339 time, Unix seconds, now or a time "
                "relative to now such as -1d; not '%s'\n",
                to);
        return 1;
    }
    from_ms = to_ms - 7 * 86400000LL;
    if (from && rules_cli_parse_time(from, now, &from_ms) != 0) {
        fprintf(stderr,
                "tocsin rules test: --from takes an RFC 3339 time, Unix seconds, now or a time "
                "relative to now such as -7d; not '%s'\n",
                from);
        return 1;
    }
    if (from_ms >= to_ms) {
        fprintf(stderr, "tocsin rules test: --from must be before --to\n");
        return 1;
    }
    if (step && rules_cli_parse_step(step, &step_ms) != 0) {
        fprintf(stderr, "tocsin rules test: --step takes a duration such as 5m; not '%s'\n", step);
        return 1;
    }
    if (!config_path && access("tocsin.yaml", F_OK) == 0)
        config_path = "tocsin.yaml";
    /* A file that does not validate would be refused by the server too; say
     * why here rather than test something else. */
    log_threshold = LOG_WARN;
    if (config_path) {
        cfg = config_load_file(config_path, &errs);
        if (!cfg) {
            for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "%s\n", errs.msgs[i]);
            fprintf(stderr, "tocsin rules test: %s is invalid\n", config_path);
            cfg_errors_free(&errs);
            return 1;
        }
    }
    if (data)
        rc = rules_cli_offline(name, cfg, data, from_ms, to_ms, step_ms, as_json);
    else
        rc = rules_cli_online(name, cfg, from, to, step, url, token, as_json);
    config_free(cfg);
    return rc;
}

int rules_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        rules_cli_usage_main(stderr);
        return 1;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        rules_cli_usage_main(stdout);
        return 0;
    }
    if (strcmp(argv[1], "test") == 0)
        return rules_cli_test(argc - 1, argv + 1);
    fprintf(stderr, "tocsin rules: unknown command '%s'\n\n", argv[1]);
    rules_cli_usage_main(stderr);
    return 1;
}
