/*
 * main.c - command-line entry: serve, check-config, send-event, oncall, rules,
 * version.
 */
#include "base/clock.h"
#include "base/log.h"
#include "checks/checks.h"
#include "cli/oncall.h"
#include "cli/rules_cli.h"
#include "cli/send_event.h"
#include "config/config.h"
#include "engine/engine.h"
#include "http/server.h"
#include "metrics/perfdata.h"
#include "metrics/scrape.h"
#include "metrics/scrape_ingest.h"
#include "metrics/tsdb.h"
#include "notify/action_link.h"
#include "notify/notify.h"
#include "oncall/overrides.h"
#include "rules/rules.h"
#include "store/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage_main(FILE *f)
{
    fputs("usage: tocsin COMMAND [OPTIONS]\n"
          "\n"
          "Tocsin keeps an IT service's lights on: it takes events, deduplicates them into\n"
          "alerts, groups them into incidents and tracks them to resolution.\n"
          "\n"
          "commands:\n"
          "  serve          run the server\n"
          "  check-config   validate a configuration file\n"
          "  send-event     raise, acknowledge or resolve an alert on a running server\n"
          "  oncall         show who is on call on a running server\n"
          "  rules          test an alert rule against stored metrics (rules test)\n"
          "  version        print the version\n"
          "\n"
          "Run 'tocsin COMMAND --help' for the options of a command.\n",
          f);
}

static void usage_serve(FILE *f)
{
    fputs("usage: tocsin serve [--config FILE] [--data DIR] [--listen HOST:PORT]\n"
          "                    [--log-level LEVEL]\n"
          "\n"
          "  --config FILE      configuration (default: ./tocsin.yaml if present, else\n"
          "                     built-in defaults)\n"
          "  --data DIR         data directory (default: data_dir from the config, or\n"
          "                     ./tocsin-data)\n"
          "  --listen HOST:PORT address to serve HTTP on (default: listen from the config,\n"
          "                     or 127.0.0.1:8080); port 0 picks a free port\n"
          "  --log-level LEVEL  debug, info, warn or error (default: from the config, info)\n"
          "\n"
          "Once ready it prints 'listening on http://HOST:PORT' on stdout. SIGTERM and SIGINT\n"
          "stop it cleanly: requests in flight finish, queued events are committed. SIGHUP\n"
          "(or POST /api/v1/-/reload) reloads the configuration; an invalid file is\n"
          "reported and the running configuration stays.\n",
          f);
}

static void usage_check(FILE *f)
{
    fputs("usage: tocsin check-config FILE\n"
          "\n"
          "Validates FILE and prints 'FILE: ok', or every problem as FILE:LINE:COL: message\n"
          "and exits 1.\n",
          f);
}

static int print_errors(const struct cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "%s\n", errs->msgs[i]);
    return 1;
}

static int cmd_check_config(int argc, char **argv)
{
    struct cfg_errors errs = {0};
    struct config *cfg;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage_check(stdout);
        return 0;
    }
    if (argc != 2) {
        usage_check(stderr);
        return 2;
    }
    cfg = config_load_file(argv[1], &errs);
    if (!cfg) {
        print_errors(&errs);
        cfg_errors_free(&errs);
        return 1;
    }
    printf("%s: ok\n", argv[1]);
    config_free(cfg);
    return 0;
}

/*
 * What a reload needs. Configurations are shared read-only by every thread;
 * a retired one is kept until the process ends, because handlers, the
 * engine and the scheduler may still read the one they started with.
 * Reloads are rare (a person or a deploy asks for one), so the cost is a
 * few configurations' worth of memory.
 */
struct live {
    const char *path;
    struct engine *engine;
    struct checks *checks;
    struct tsdb *tsdb;
    struct scraper *scraper;
    struct rules *rules;
    atomic_bool perfdata; /* metrics.perfdata of the current configuration */
    /* Check results gathered for one write (scheduler thread only). */
    struct tsdb_appender *pd_app; /* owned, or NULL */
    int64_t pd_since;             /* when its first result came */
    long pd_samples;
    pthread_mutex_t lock; /* one reload at a time */
    struct config **retired;
    size_t n_retired;
};

/*
 * Opens the metrics store in DATA_DIR/metrics with the configured
 * retention and limits. Returns NULL with a message on failure.
 */
static struct tsdb *serve_metrics_open(const struct config *cfg, const char *data_dir, char *err,
                                       size_t errlen)
{
    char dir[4096];
    struct tsdb *db = NULL;
    struct tsdb_options o = {0};

    snprintf(dir, sizeof(dir), "%s/metrics", data_dir);
    o.dir = dir;
    o.retention_ms = cfg->metrics.retention_ms;
    o.retention_bytes = cfg->metrics.retention_bytes;
    o.max_series = cfg->metrics.max_series;
    o.max_series_per_source = cfg->metrics.max_series_per_source;
    o.background = true;
    if (tsdb_open(&o, &db, err, errlen) != 0)
        return NULL;
    return db;
}

/* The metric limits the HTTP handlers read, from cfg. */
static void serve_metrics_limits(struct server_ctx *ctx, const struct config *cfg)
{
    atomic_store(&ctx->metrics_max_write_bytes, cfg->metrics.max_write_bytes);
    atomic_store(&ctx->metrics_max_samples, cfg->metrics.max_query_samples);
    atomic_store(&ctx->metrics_lookback_ms, cfg->metrics.lookback_ms);
}

/* Perfdata wait at most this long, or until this many samples, for one write. */
#define SERVE_PERFDATA_BATCH_MS      250
#define SERVE_PERFDATA_BATCH_SAMPLES 4096

/* The check result hook: performance data become series (metrics.perfdata). */
static void serve_perfdata(void *ctx, const struct cfg_check *def, int status, const char *output,
                           size_t len, int64_t now_ms)
{
    struct live *lv = ctx;
    if (!atomic_load(&lv->perfdata))
        return;
    if (!lv->pd_app) {
        if (!(lv->pd_app = tsdb_appender_new(lv->tsdb, "checks"))) {
            log_warn("perfdata of %s not stored: out of memory", def->id);
            return;
        }
        lv->pd_since = now_ms;
        lv->pd_samples = 0;
    }
    long n = perfdata_append(lv->pd_app, def->host, def->is_host ? NULL : def->name, status, output,
                             len, now_ms);
    if (n < 0) {
        log_warn("perfdata of %s not stored: out of memory (%ld samples of other checks lost)",
                 def->id, lv->pd_samples);
        tsdb_rollback(lv->pd_app);
        lv->pd_app = NULL;
        return;
    }
    lv->pd_samples += n;
}

/* Writes the gathered perfdata once the batch is old or big enough. */
static void serve_perfdata_flush(void *ctx, int64_t now_ms, bool final)
{
    struct live *lv = ctx;
    char err[256];
    if (!lv->pd_app)
        return;
    if (!final && now_ms - lv->pd_since < SERVE_PERFDATA_BATCH_MS &&
        lv->pd_samples < SERVE_PERFDATA_BATCH_SAMPLES)
        return;
    if (tsdb_commit(lv->pd_app, err, sizeof(err)) != 0)
        log_warn("perfdata of %ld samples not stored: %s", lv->pd_samples, err);
    lv->pd_app = NULL;
}

static int serve_reload(struct server_ctx *ctx, struct cfg_errors *errs)
{
    struct live *lv = ctx->reload_arg;
    const struct config *old;
    struct config *cfg;
    struct config **nr;
    int rc = 0;

    pthread_mutex_lock(&lv->lock);
    cfg = config_load_file(lv->path, errs);
    if (!cfg) {
        log_error("reload: %s is invalid (%zu problems); the running configuration stays", lv->path,
                  errs->n);
        for (size_t i = 0; i < errs->n; i++)
            log_error("reload: %s", errs->msgs[i]);
        pthread_mutex_unlock(&lv->lock);
        return -1;
    }
    nr = realloc(lv->retired, (lv->n_retired + 1) * sizeof(*nr));
    if (!nr) {
        config_free(cfg);
        cfg_errors_add(errs, "%s: out of memory", lv->path);
        pthread_mutex_unlock(&lv->lock);
        return -1;
    }
    lv->retired = nr;
    old = atomic_load(&ctx->cfg);
    if (strcmp(old->listen, cfg->listen) != 0 || strcmp(old->data_dir, cfg->data_dir) != 0)
        log_warn("reload: listen and data_dir changes take effect at the next start");
    /* The engine first (routes, integrations, downtimes), then the checks,
     * then the handlers: a check result never meets an older route table. */
    struct engine_cmd cmd = {.kind = CMD_RELOAD, .new_cfg = cfg, .actor = "reload"};
    if (engine_submit(lv->engine, &cmd) != ENGINE_OK) {
        cfg_errors_add(errs, "%s: the engine could not switch; try again", lv->path);
        rc = -1;
    } else if (checks_reload(lv->checks, cfg) != 0) {
        cfg_errors_add(errs, "%s: the scheduler could not switch (out of memory)", lv->path);
        rc = -1;
    }
    /* Once handed to the engine the config may be in use: it is retired,
     * never freed, whatever happened. */
    lv->retired[lv->n_retired++] = cfg;
    if (rc == 0) {
        scraper_reload(lv->scraper, cfg);
        /* After the engine: a rule's first event after the switch meets the
         * new routes. */
        rules_reload(lv->rules, cfg);
        serve_metrics_limits(ctx, cfg);
        atomic_store(&lv->perfdata, cfg->metrics.perfdata);
        atomic_store(&ctx->cfg, cfg);
        log_threshold = cfg->log_level;
        log_info("reload: %s: %zu hosts, %zu checks, %zu heartbeats, %zu rules", lv->path,
                 cfg->n_hosts, cfg->n_checks, cfg->n_heartbeats, cfg->n_rules);
    }
    pthread_mutex_unlock(&lv->lock);
    return rc;
}

/* ---- the rule evaluator's side of the spine ---- */

/* Open alerts read at start to find the rules' own; far more than any
 * installation has open at once. */
#define SERVE_MAX_OPEN_ALERTS 1000000

/* Rule queries read the metrics store like the query API does. */
static int serve_rules_select(void *ctx, const struct matcher *m, size_t nm, int64_t mint,
                              int64_t maxt, size_t max_samples, struct tsdb_series **out,
                              size_t *n_out, char *err, size_t errlen)
{
    return tsdb_select(ctx, m, nm, mint, maxt, max_samples, out, n_out, err, errlen);
}

static int serve_rules_select_rollup(void *ctx, int64_t res, const struct matcher *m, size_t nm,
                                     int64_t mint, int64_t maxt, size_t max_buckets,
                                     struct tsdb_rollup_series **out, size_t *n_out, char *err,
                                     size_t errlen)
{
    return tsdb_select_rollup(ctx, res, m, nm, mint, maxt, max_buckets, out, n_out, err, errlen);
}

/*
 * Hands a batch of rule events to the engine as coming from the "rules"
 * integration and waits for the commit, so a rule's state says "sent" only
 * once its alert is durable. Blocking the rules thread on the engine is
 * fine: its next evaluations simply start later. A refusal (queue full,
 * shutting down) makes the evaluator send the events again later.
 */
static int serve_rules_emit(void *ctx, struct event *ev, size_t n)
{
    struct engine *engine = ctx;
    struct engine_event_result *res;
    if (n == 0)
        return 0;
    if (!(res = calloc(n, sizeof(*res))))
        return -1;
    struct engine_cmd cmd = {.kind = CMD_EVENTS,
                             .integ = &engine_rules_integration,
                             .format = "rules",
                             .events = ev,
                             .n_events = n,
                             .results = res};
    enum engine_status st = engine_submit(engine, &cmd);
    free(res);
    if (st != ENGINE_OK) {
        log_warn("rules: %zu events not taken by the engine (%s); they are sent again at the "
                 "next evaluation",
                 n, st == ENGINE_EBUSY ? "queue full" : "engine stopping or store failing");
        return -1;
    }
    return 0;
}

/*
 * Tells the evaluator which rule alerts are open in the store, so a
 * condition that cleared while Tocsin was down resolves its alert, and a
 * firing one stays the same alert. Returns 0, or -1 with a message.
 */
static int serve_rules_adopt(struct rules *r, struct store *store, char *err, size_t errlen)
{
    struct store_reader *rd = store_reader_acquire(store);
    bool more = false;
    json_t *open = rd ? store_alert_list_open(rd, SERVE_MAX_OPEN_ALERTS, &more) : NULL;
    const char **keys = NULL;
    size_t n = 0, i;
    json_t *a;

    if (rd)
        store_reader_release(store, rd);
    if (!open) {
        snprintf(err, errlen, "cannot read the open alerts from the store");
        return -1;
    }
    if (!(keys = calloc(json_array_size(open) + 1, sizeof(*keys)))) {
        json_decref(open);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    json_array_foreach(open, i, a)
    {
        const char *integ = json_string_value(json_object_get(a, "integration"));
        const char *key = json_string_value(json_object_get(a, "dedup_key"));
        if (integ && key && strcmp(integ, engine_rules_integration.name) == 0)
            keys[n++] = key;
    }
    if (more)
        log_warn("rules: more than %d open alerts; rule alerts beyond them are not adopted and "
                 "resolve only when their rule fires and clears again",
                 SERVE_MAX_OPEN_ALERTS);
    rules_adopt_open(r, keys, n);
    if (n)
        log_info("rules: %zu open rule alerts adopted", n);
    free(keys);
    json_decref(open);
    return 0;
}

/*
 * The key that signs action links: from notifications.secret, or else a
 * random one kept in DATA_DIR/secret (created on first start, mode 0600), so
 * links in mails sent before a restart still work after it.
 */
static int serve_link_key(const struct config *cfg, const char *data_dir, unsigned char key[32],
                          char *err, size_t errlen)
{
    char path[4096], hex[65];
    if (cfg->notify.secret) {
        action_link_key(cfg->notify.secret, key);
        return 0;
    }
    snprintf(path, sizeof(path), "%s/secret", data_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(hex, 1, 64, f);
        fclose(f);
        hex[n] = '\0';
        if (n == 64) {
            action_link_key(hex, key);
            return 0;
        }
        snprintf(err, errlen, "%s: expected 64 hex characters; delete it to make a new one", path);
        return -1;
    }
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, hex, 64) != 64 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    action_link_key(hex, key);
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"data", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'}, {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *data = NULL, *listen_addr = NULL, *level = NULL;
    struct cfg_errors errs = {0};
    struct config *cfg;
    struct store *store = NULL;
    struct tsdb *tsdb = NULL;
    struct engine *engine = NULL;
    struct checks *checks = NULL;
    struct notifier *notifier = NULL;
    struct scraper *scraper = NULL;
    struct rules *rules = NULL;
    bool rules_running = false;
    struct engine_oncall oncall;
    struct live live = {0};
    struct http_server *http = NULL;
    struct server_ctx ctx;
    char err[512] = "", bound[128], bound_url[160] = "";
    sigset_t sigs;
    int c, sig = 0, status = 1;

    /* An atomic pointer member cannot take a {0} initialiser portably. */
    memset(&ctx, 0, sizeof(ctx));
    memset(&oncall, 0, sizeof(oncall));
    pthread_mutex_init(&live.lock, NULL);

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:d:l:L:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'l':
            listen_addr = optarg;
            break;
        case 'L':
            level = optarg;
            break;
        case 'h':
            usage_serve(stdout);
            return 0;
        default:
            usage_serve(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tocsin serve: unexpected argument '%s'\n", argv[optind]);
        usage_serve(stderr);
        return 2;
    }
    if (!config_path && access("tocsin.yaml", F_OK) == 0)
        config_path = "tocsin.yaml";
    cfg = config_path ? config_load_file(config_path, &errs) : config_default();
    if (!cfg) {
        print_errors(&errs);
        cfg_errors_free(&errs);
        pthread_mutex_destroy(&live.lock);
        return 1;
    }
    log_threshold = cfg->log_level;
    if (level && log_level_parse(level, &log_threshold) != 0) {
        fprintf(stderr, "tocsin serve: --log-level must be debug, info, warn or error\n");
        config_free(cfg);
        pthread_mutex_destroy(&live.lock);
        return 2;
    }
    if (!config_path)
        log_warn("no configuration file: running with defaults, which accept no events "
                 "(no integrations) and no API calls (no tokens)");

    /* Signals are taken by sigwait in this thread only; every thread started
     * below inherits the blocked mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    const char *data_dir = data ? data : cfg->data_dir;
    store = store_open_sqlite(data_dir, cfg->sync_full, err, sizeof(err));
    if (!store)
        goto fail;
    if (!(tsdb = serve_metrics_open(cfg, data_dir, err, sizeof(err))))
        goto fail;
    /* The scheduler reads the stored check states before the engine
     * thread owns the write connection. */
    if (!(checks = checks_new(cfg, store, err, sizeof(err))))
        goto fail;
    live.tsdb = tsdb;
    live.perfdata = cfg->metrics.perfdata;
    checks_set_result_hook(checks, serve_perfdata, serve_perfdata_flush, &live);
    memset(&oncall, 0, sizeof(oncall));
    if (!(oncall.overrides = overrides_new())) {
        snprintf(err, sizeof(err), "out of memory");
        goto fail;
    }
    if (serve_link_key(cfg, data_dir, oncall.link_key, err, sizeof(err)))
        goto fail;
    oncall.has_link_key = true;
    if (!(engine = engine_start(cfg, store, &oncall, err, sizeof(err))))
        goto fail;
    if (!(notifier = notifier_start(engine_notify_result, engine, 0, err, sizeof(err))))
        goto fail;
    engine_attach_notifier(engine, notifier);
    if (checks_start(checks, engine) != 0) {
        snprintf(err, sizeof(err), "cannot start the check scheduler");
        goto fail;
    }
    /* The evaluator exists before the HTTP server so that handlers see it
     * from their first request; it starts evaluating once the server is
     * bound, because its query links default to the bound address
     * (bound_url is filled in before rules_start). */
    struct rules_env renv;
    memset(&renv, 0, sizeof(renv));
    renv.storage.ctx = tsdb;
    renv.storage.select = serve_rules_select;
    renv.storage.select_rollup = serve_rules_select_rollup;
    renv.db = tsdb;
    renv.emit = serve_rules_emit;
    renv.emit_ctx = engine;
    renv.public_url = cfg->notify.public_url ? cfg->notify.public_url : bound_url;
    renv.lookback_ms = cfg->metrics.lookback_ms;
    renv.max_samples = cfg->metrics.max_query_samples;
    if (!(rules = rules_new(cfg, &renv, err, sizeof(err))))
        goto fail;
    live.path = config_path;
    live.engine = engine;
    live.checks = checks;
    live.rules = rules;
    atomic_store(&ctx.cfg, cfg);
    ctx.store = store;
    ctx.engine = engine;
    ctx.checks = checks;
    ctx.tsdb = tsdb;
    ctx.rules = rules;
    serve_metrics_limits(&ctx, cfg);
    ctx.overrides = oncall.overrides;
    memcpy(ctx.link_key, oncall.link_key, sizeof(ctx.link_key));
    ctx.has_link_key = oncall.has_link_key;
    ctx.reload = config_path ? serve_reload : NULL;
    ctx.reload_arg = &live;
    ctx.started_at_ms = clock_now_ms();
    http = http_start(&ctx, listen_addr ? listen_addr : cfg->listen, bound, sizeof(bound), err,
                      sizeof(err));
    if (!http)
        goto fail;
    if (!(scraper = scraper_start(cfg, scrape_ingest, tsdb, err, sizeof(err))))
        goto fail;
    live.scraper = scraper;
    ctx.scraper = scraper;
    snprintf(bound_url, sizeof(bound_url), "http://%s", bound);
    engine_set_public_url(engine, bound_url);
    if (serve_rules_adopt(rules, store, err, sizeof(err)) != 0)
        goto fail;
    if (rules_start(rules, err, sizeof(err)) != 0)
        goto fail;
    rules_running = true;
    ctx.ready = 1;
    log_info("serving on %s with data in %s (schema version %d)", bound, data_dir,
             store_schema_version(store));
    printf("listening on http://%s\n", bound);
    fflush(stdout);

    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            struct cfg_errors rerrs = {0};
            if (!config_path)
                log_warn("SIGHUP: no configuration file to reload");
            else if (serve_reload(&ctx, &rerrs) == 0)
                log_info("SIGHUP: configuration reloaded");
            cfg_errors_free(&rerrs);
            continue;
        }
        break;
    }
    log_info("received %s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    status = 0;
fail:
    if (status != 0)
        fprintf(stderr, "tocsin serve: %s\n", err);
    ctx.ready = 0;
    if (http)
        http_stop(http); /* in-flight requests finish */
    if (scraper)
        scraper_stop(scraper);
    if (rules_running)
        rules_stop(rules); /* before the engine: its last events must reach it */
    if (checks)
        checks_stop(checks); /* plugins are stopped; what they reported is sent */
    /* Deliveries in flight are abandoned; their rows stay pending and go
     * out after the next start with the same idempotency keys. */
    if (engine)
        engine_attach_notifier(engine, NULL);
    if (notifier)
        notifier_stop(notifier);
    if (engine)
        engine_stop(engine); /* the queue drains and commits */
    if (rules)
        rules_free(rules); /* sends nothing; reads the store no more */
    if (tsdb)
        tsdb_close(tsdb); /* the write-ahead log is synced */
    overrides_free(oncall.overrides);
    if (store)
        store_close(store);
    for (size_t i = 0; i < live.n_retired; i++)
        config_free(live.retired[i]);
    free(live.retired);
    pthread_mutex_destroy(&live.lock);
    config_free(cfg);
    if (status != 0)
        return 1;
    log_info("stopped cleanly");
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "tocsin: libsodium failed to initialise\n");
        return 1;
    }
    /* Once, before any thread: the http probes use libcurl. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "tocsin: libcurl failed to initialise\n");
        return 1;
    }
    store_global_init();
    if (argc < 2) {
        usage_main(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "check-config") == 0)
        return cmd_check_config(argc - 1, argv + 1);
    if (strcmp(cmd, "send-event") == 0)
        return send_event_main(argc - 1, argv + 1);
    if (strcmp(cmd, "oncall") == 0)
        return oncall_main(argc - 1, argv + 1);
    if (strcmp(cmd, "rules") == 0)
        return rules_cli_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        if (argc > 2 && strcmp(argv[2], "--help") == 0) {
            puts("usage: tocsin version\n\nPrints the version of this tocsin binary.");
            return 0;
        }
        printf("tocsin %s\n", TOCSIN_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage_main(stdout);
        return 0;
    }
    fprintf(stderr, "tocsin: unknown command '%s'\n\n", cmd);
    usage_main(stderr);
    return 2;
}
