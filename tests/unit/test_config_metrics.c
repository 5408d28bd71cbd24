/*
 * test_config_metrics.c - the `metrics` and `scrape` sections of the
 * configuration and the metrics integration type.
 *
 * As in test_config_oncall.c, error tests compare the complete list of
 * messages so that each rule is pinned to its exact FILE:LINE:COL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC_MS (1000LL)
#define MIN_MS (60 * SEC_MS)
#define DAY_MS (86400 * SEC_MS)
#define MIB    (1024ull * 1024ull)

#include "test_config_util.h"
}

static void test_defaults(void **state)
{
    struct config *cfg = config_default();
    assert_non_null(cfg);
    assert_int_equal(cfg->metrics.retention_ms, 30 * DAY_MS);
    assert_int_equal(cfg->metrics.retention_bytes, 0);
    assert_int_equal(cfg->metrics.max_series, 2000000);
    assert_int_equal(cfg->metrics.max_series_per_source, 0);
    assert_int_equal(cfg->metrics.max_write_bytes, 32 * MIB);
    assert_int_equal(cfg->metrics.max_query_samples, 50000000);
    assert_int_equal(cfg->metrics.lookback_ms, 5 * MIN_MS);
    assert_true(cfg->metrics.perfdata);
    assert_int_equal(cfg->n_scrape_jobs, 0);
    assert_null(config_find_scrape_job(cfg, "node"));
    config_free(cfg);

    /* An empty metrics mapping and the smallest job: every default. */
    cfg = load_ok("metrics: {}\n"
                  "scrape:\n"
                  "  - job: node\n"
                  "    targets: [\"127.0.0.1:9100\"]\n");
    assert_int_equal(cfg->metrics.retention_ms, 30 * DAY_MS);
    assert_int_equal(cfg->metrics.max_write_bytes, 32 * MIB);
    assert_int_equal(cfg->n_scrape_jobs, 1);
    const struct cfg_scrape_job *j = config_find_scrape_job(cfg, "node");
    assert_ptr_equal(j, &cfg->scrape_jobs[0]);
    assert_string_equal(j->job, "node");
    assert_int_equal(j->n_targets, 1);
    assert_string_equal(j->targets[0], "127.0.0.1:9100");
    assert_int_equal(j->interval_ms, 60 * SEC_MS);
    assert_int_equal(j->timeout_ms, 10 * SEC_MS);
    assert_int_equal(j->labels.n, 0);
    assert_string_equal(j->metrics_path, "/metrics");
    assert_false(j->https);
    assert_int_equal(j->n_params, 0);
    assert_false(j->honor_labels);
    assert_false(j->tls_skip_verify);
    assert_null(j->bearer_token);
    assert_null(j->basic_user);
    assert_null(j->basic_password);
    assert_int_equal(j->sample_limit, 0);
    assert_int_equal(j->body_limit, 50 * MIB);
    config_free(cfg);

    /* A short interval makes the default timeout the interval. */
    cfg = load_ok("scrape: [{job: a, targets: [\"h:1\"], interval: 5s}]\n");
    assert_int_equal(cfg->scrape_jobs[0].interval_ms, 5 * SEC_MS);
    assert_int_equal(cfg->scrape_jobs[0].timeout_ms, 5 * SEC_MS);
    config_free(cfg);
}

/* The example from docs/metrics-config.md, every key given. */
static void test_full(void **state)
{
    setenv("TOCSIN_TEST_SCRAPE_TOKEN", "tok-1", 1);
    setenv("TOCSIN_TEST_SCRAPE_PW", "pw", 1);
    struct config *cfg =
        load_ok("integrations:\n"
                "  - {name: telegraf, type: metrics, key: 0123456789abcdef0123}\n"
                "metrics:\n"
                "  retention: 90d\n"
                "  retention_size: 50GB\n"
                "  max_series: 3000000\n"
                "  max_series_per_source: 100000\n"
                "  max_write_bytes: 16MiB\n"
                "  max_query_samples: 20000000\n"
                "  lookback: 10m\n"
                "  perfdata: false\n"
                "scrape:\n"
                "  - job: node\n"
                "    targets: [\"127.0.0.1:9100\", \"db-1.example.org:9100\", \"[::1]:9100\"]\n"
                "    interval: 15s\n"
                "    timeout: 5s\n"
                "    labels: {site: berlin, _tier: \"1\"}\n"
                "    metrics_path: /probe/metrics\n"
                "    scheme: https\n"
                "    params: {module: [http_2xx, tcp], target: example.org}\n"
                "    honor_labels: true\n"
                "    tls_skip_verify: true\n"
                "    bearer_token: env:TOCSIN_TEST_SCRAPE_TOKEN\n"
                "    sample_limit: 5000\n"
                "    body_limit: 10MB\n"
                "  - job: app\n"
                "    targets: [\"app:8080\"]\n"
                "    basic_auth: {username: prom, password: env:TOCSIN_TEST_SCRAPE_PW}\n"
                "  - job: plain\n"
                "    targets: [\"app:8081\"]\n"
                "    basic_auth: {username: u, password: secret}\n");
    assert_int_equal(cfg->integrations[0].type, INTEGRATION_METRICS);
    assert_string_equal(integration_type_name(INTEGRATION_METRICS), "metrics");
    assert_int_equal(cfg->metrics.retention_ms, 90 * DAY_MS);
    assert_int_equal(cfg->metrics.retention_bytes, 50000000000ull);
    assert_int_equal(cfg->metrics.max_series, 3000000);
    assert_int_equal(cfg->metrics.max_series_per_source, 100000);
    assert_int_equal(cfg->metrics.max_write_bytes, 16 * MIB);
    assert_int_equal(cfg->metrics.max_query_samples, 20000000);
    assert_int_equal(cfg->metrics.lookback_ms, 10 * MIN_MS);
    assert_false(cfg->metrics.perfdata);

    assert_int_equal(cfg->n_scrape_jobs, 3);
    const struct cfg_scrape_job *j = &cfg->scrape_jobs[0];
    assert_string_equal(j->job, "node");
    assert_int_equal(j->n_targets, 3);
    assert_string_equal(j->targets[0], "127.0.0.1:9100");
    assert_string_equal(j->targets[1], "db-1.example.org:9100");
    assert_string_equal(j->targets[2], "[::1]:9100");
    assert_int_equal(j->interval_ms, 15 * SEC_MS);
    assert_int_equal(j->timeout_ms, 5 * SEC_MS);
    assert_int_equal(j->labels.n, 2);
    assert_string_equal(labels_get(&j->labels, "site"), "berlin");
    assert_string_equal(labels_get(&j->labels, "_tier"), "1");
    assert_string_equal(j->metrics_path, "/probe/metrics");
    assert_true(j->https);
    assert_int_equal(j->n_params, 3);
    assert_string_equal(j->params[0].name, "module");
    assert_string_equal(j->params[0].value, "http_2xx");
    assert_string_equal(j->params[1].name, "module");
    assert_string_equal(j->params[1].value, "tcp");
    assert_string_equal(j->params[2].name, "target");
    assert_string_equal(j->params[2].value, "example.org");
    assert_true(j->honor_labels);
    assert_true(j->tls_skip_verify);
    assert_string_equal(j->bearer_token, "tok-1");
    assert_null(j->basic_user);
    assert_int_equal(j->sample_limit, 5000);
    assert_int_equal(j->body_limit, 10000000);

    j = config_find_scrape_job(cfg, "app");
    assert_ptr_equal(j, &cfg->scrape_jobs[1]);
    assert_null(j->bearer_token);
    assert_string_equal(j->basic_user, "prom");
    assert_string_equal(j->basic_password, "pw");
    assert_string_equal(cfg->scrape_jobs[2].basic_password, "secret");
    config_free(cfg);
    unsetenv("TOCSIN_TEST_SCRAPE_TOKEN");
    unsetenv("TOCSIN_TEST_SCRAPE_PW");
}

/* Durations with years, sizes in every unit, limits of 0. */
static void test_units(void **state)
{
    struct config *cfg = load_ok("metrics: {retention: 1y2w, retention_size: 1TiB, "
                                 "max_write_bytes: 2048, max_series: 0}\n");
    assert_int_equal(cfg->metrics.retention_ms, 379 * DAY_MS);
    assert_int_equal(cfg->metrics.retention_bytes, 1ull << 40);
    assert_int_equal(cfg->metrics.max_write_bytes, 2048);
    assert_int_equal(cfg->metrics.max_series, 0);
    config_free(cfg);

    cfg = load_ok("metrics: {retention: 0, retention_size: \"512 MB\", max_write_bytes: 1KiB}\n");
    assert_int_equal(cfg->metrics.retention_ms, 0);
    assert_int_equal(cfg->metrics.retention_bytes, 512000000);
    assert_int_equal(cfg->metrics.max_write_bytes, 1024);
    config_free(cfg);

    cfg = load_ok("metrics: {retention: 12h, retention_size: 3KB}\n"
                  "scrape: [{job: a, targets: [\"h:1\"], body_limit: 1GiB, interval: 100ms}]\n");
    assert_int_equal(cfg->metrics.retention_ms, 12 * 3600 * SEC_MS);
    assert_int_equal(cfg->metrics.retention_bytes, 3000);
    assert_int_equal(cfg->scrape_jobs[0].body_limit, 1024 * MIB);
    assert_int_equal(cfg->scrape_jobs[0].interval_ms, 100);
    assert_int_equal(cfg->scrape_jobs[0].timeout_ms, 100);
    config_free(cfg);
}

static void test_metrics_errors(void **state)
{
    expect_errors("metrics:\n"
                  "  retention: 30 days\n"
                  "  retention_size: 5XB\n"
                  "  max_series: -1\n"
                  "  max_write_bytes: 10\n"
                  "  max_query_samples: 10\n"
                  "  lookback: 0\n"
                  "  perfdata: yes\n"
                  "  colour: blue\n",
                  "t.yaml:2:14: retention must be a duration such as \"30d\" or \"1y\"",
                  "t.yaml:3:19: retention_size must be a size such as \"512MB\" or \"32MiB\" (or a "
                  "number of bytes)",
                  "t.yaml:4:15: max_series must be between 0 and 1000000000",
                  "t.yaml:5:20: max_write_bytes must be between 1024 and 1073741824 bytes",
                  "t.yaml:6:22: max_query_samples must be between 1000 and 100000000000",
                  "t.yaml:7:13: lookback must be greater than zero",
                  "t.yaml:8:13: perfdata must be true or false",
                  "t.yaml:9:3: unknown key \"colour\"", NULL);
    expect_errors("metrics: {max_series: 10, max_series_per_source: 11, lookback: 8d}\n",
                  "t.yaml:1:50: max_series_per_source must not be greater than max_series (10)",
                  "t.yaml:1:64: lookback must be at most 7d", NULL);
    expect_errors("metrics: [1]\n", "t.yaml:1:10: metrics must be a mapping, not a list", NULL);
    expect_errors("metrics: {retention: 1y1y, retention_size: \"99999999999999999999GB\"}\n",
                  "t.yaml:1:22: retention must be a duration such as \"30d\" or \"1y\"",
                  "t.yaml:1:44: retention_size must be a size such as \"512MB\" or \"32MiB\" (or a "
                  "number of bytes)",
                  NULL);
    expect_errors("integrations:\n"
                  "  - {name: x, type: metric, key: 0123456789abcdef0123}\n",
                  "t.yaml:2:21: invalid type \"metric\" (expected generic, pagerduty, alertmanager "
                  "or metrics)",
                  NULL);
}

static void test_scrape_errors(void **state)
{
    expect_errors("scrape:\n"
                  "  - targets: [\"h:1\"]\n"
                  "  - job: a\n"
                  "  - job: a\n"
                  "    targets: []\n"
                  "  - job: \"\"\n"
                  "    targets: h:1\n"
                  "  - 5\n",
                  "t.yaml:2:5: missing required field \"job\"",
                  "t.yaml:3:5: missing required field \"targets\"",
                  "t.yaml:4:10: duplicate scrape job \"a\" (first defined at line 3)",
                  "t.yaml:5:14: targets must have 1 to 10000 entries",
                  "t.yaml:6:10: job must be 1 to 128 characters without control characters",
                  "t.yaml:7:14: targets must be a list, not a string",
                  "t.yaml:8:5: each entry of scrape must be a mapping, not a number", NULL);
    expect_errors("scrape:\n"
                  "  - job: a\n"
                  "    targets:\n"
                  "      - \"h:1\"\n"
                  "      - h\n"
                  "      - \"h:0\"\n"
                  "      - \"h:65536\"\n"
                  "      - \":80\"\n"
                  "      - \"::1:80\"\n"
                  "      - \"[::1:80\"\n"
                  "      - \"h h:80\"\n"
                  "      - 80\n"
                  "      - \"h:1\"\n",
                  "t.yaml:5:9: target \"h\" needs a port (HOST:PORT)",
                  "t.yaml:6:9: target \"h:0\" has an invalid port (expected 1 to 65535)",
                  "t.yaml:7:9: target \"h:65536\" has an invalid port (expected 1 to 65535)",
                  "t.yaml:8:9: target \":80\" needs a host before the port",
                  "t.yaml:9:9: target \"::1:80\" has an IPv6 address without brackets (write "
                  "[ADDRESS]:PORT)",
                  "t.yaml:10:9: target \"[::1:80\" has an invalid IPv6 address (expected "
                  "[ADDRESS]:PORT)",
                  "t.yaml:11:9: target \"h h:80\" has an invalid host name",
                  "t.yaml:12:9: each target must be a string \"HOST:PORT\", not a number",
                  "t.yaml:13:9: duplicate target \"h:1\" (first listed at line 4)", NULL);
    expect_errors("scrape:\n"
                  "  - job: a\n"
                  "    targets: [\"h:1\"]\n"
                  "    interval: 50ms\n"
                  "    timeout: 1m\n"
                  "    metrics_path: metrics\n"
                  "    scheme: ftp\n"
                  "    honor_labels: 1\n"
                  "    sample_limit: -5\n"
                  "    body_limit: 2GiB\n"
                  "    relabel_configs: []\n",
                  "t.yaml:4:15: interval must be at least 100ms",
                  "t.yaml:6:19: metrics_path must start with '/' and have no spaces, control "
                  "characters, '?' or '#' (query parameters go in params)",
                  "t.yaml:7:13: invalid scheme \"ftp\" (expected http or https)",
                  "t.yaml:8:19: honor_labels must be true or false",
                  "t.yaml:9:19: sample_limit must be between 0 and 1000000000",
                  "t.yaml:10:17: body_limit must be between 1024 and 1073741824 bytes",
                  "t.yaml:11:5: unknown key \"relabel_configs\"", NULL);
    expect_errors("scrape:\n"
                  "  - job: a\n"
                  "    targets: [\"h:1\"]\n"
                  "    interval: 10s\n"
                  "    timeout: 11s\n"
                  "    metrics_path: \"/m?x=1\"\n",
                  "t.yaml:5:14: timeout must not be longer than the interval (10000 ms)",
                  "t.yaml:6:19: metrics_path must start with '/' and have no spaces, control "
                  "characters, '?' or '#' (query parameters go in params)",
                  NULL);
}

static void test_labels_params_auth_errors(void **state)
{
    unsetenv("TOCSIN_TEST_SCRAPE_UNSET");
    expect_errors("scrape:\n"
                  "  - job: a\n"
                  "    targets: [\"h:1\"]\n"
                  "    labels:\n"
                  "      1site: x\n"
                  "      __name__: x\n"
                  "      job: x\n"
                  "      instance: x\n"
                  "      rack: 12\n"
                  "      site-b: x\n"
                  "      ok: fine\n",
                  "t.yaml:5:7: invalid label name \"1site\" (expected [a-zA-Z_][a-zA-Z0-9_]*, at "
                  "most 128 characters)",
                  "t.yaml:6:7: label names starting with \"__\" are reserved for internal use",
                  "t.yaml:7:7: label \"job\" cannot be set here: it comes from the job name",
                  "t.yaml:8:7: label \"instance\" cannot be set here: it comes from the target",
                  "t.yaml:9:13: label \"rack\" must be a string, not a number",
                  "t.yaml:10:7: invalid label name \"site-b\" (expected [a-zA-Z_][a-zA-Z0-9_]*, at "
                  "most 128 characters)",
                  NULL);
    expect_errors("scrape:\n"
                  "  - job: a\n"
                  "    targets: [\"h:1\"]\n"
                  "    labels: [x]\n"
                  "    params:\n"
                  "      module: [a, 1]\n"
                  "      empty: []\n"
                  "      n: 5\n",
                  "t.yaml:4:13: labels must be a mapping, not a list",
                  "t.yaml:6:19: each value of params must be a string, not a number",
                  "t.yaml:7:14: parameter \"empty\" needs at least one value",
                  "t.yaml:8:10: each value of params must be a string, not a number", NULL);
    expect_errors("scrape:\n"
                  "  - job: a\n"
                  "    targets: [\"h:1\"]\n"
                  "    bearer_token: env:TOCSIN_TEST_SCRAPE_UNSET\n"
                  "    basic_auth: {username: \"a:b\", password: \"env:\", realm: x}\n"
                  "  - job: b\n"
                  "    targets: [\"h:1\"]\n"
                  "    bearer_token: \"\"\n"
                  "    basic_auth: {password: p}\n",
                  "t.yaml:4:19: environment variable TOCSIN_TEST_SCRAPE_UNSET is not set",
                  "t.yaml:5:53: unknown key \"realm\"",
                  "t.yaml:5:28: username must not be empty or contain ':' or control characters",
                  "t.yaml:5:45: env: needs a variable name",
                  "t.yaml:5:5: basic_auth and bearer_token cannot both be set",
                  "t.yaml:8:19: bearer_token must not be empty",
                  "t.yaml:9:5: basic_auth and bearer_token cannot both be set",
                  "t.yaml:9:5: missing required field \"username\"", NULL);
}

/* A secret from the environment never shows in a message. */
static void test_env_secret_not_echoed(void **state)
{
    setenv("TOCSIN_TEST_SCRAPE_CTL", "bad\ntoken", 1);
    struct cfg_errors errs = {0};
    struct config *cfg = load("scrape:\n"
                              "  - job: a\n"
                              "    targets: [\"h:1\"]\n"
                              "    bearer_token: env:TOCSIN_TEST_SCRAPE_CTL\n",
                              &errs);
    assert_null(cfg);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msgs[0],
                        "t.yaml:4:19: bearer_token must not contain control characters");
    assert_null(strstr(errs.msgs[0], "token\n"));
    cfg_errors_free(&errs);
    unsetenv("TOCSIN_TEST_SCRAPE_CTL");
}

/* The API path: no positions, messages name JSON paths. */
static void test_json_paths(void **state)
{
    json_error_t jerr;
    json_t *root = json_loads("{\"scrape\":[{\"job\":\"a\",\"targets\":[\"h\"]}],"
                              "\"metrics\":{\"lookback\":\"x\"}}",
                              0, &jerr);
    assert_non_null(root);
    struct cfg_errors errs = {0};
    struct config *cfg = config_from_json(root, "<api>", NULL, &errs);
    assert_null(cfg);
    bool ok =
        errs.n == 2 &&
        strcmp(errs.msgs[0],
               "metrics.lookback: lookback must be a duration such as \"30s\" or \"5m\"") == 0 &&
        strcmp(errs.msgs[1], "scrape[0].targets[0]: target \"h\" needs a port (HOST:PORT)") == 0;
    if (!ok)
        dump(&errs);
    assert_true(ok);
    cfg_errors_free(&errs);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_metrics_errors),
        cmocka_unit_test(test_scrape_errors),
        cmocka_unit_test(test_labels_params_auth_errors),
        cmocka_unit_test(test_env_secret_not_echoed),
        cmocka_unit_test(test_json_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
