/*
 * test_config.c - the YAML reader and the configuration validator.
 *
 * Most tests load a YAML text and compare the complete list of messages, so
 * that each error class is pinned to its exact FILE:LINE:COL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "config/config_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct config *load(const char *yaml, struct cfg_errors *errs)
{
    return config_load_buffer("t.yaml", yaml, strlen(yaml), errs);
}

static void dump(const struct cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "  got: %s\n", errs->msgs[i]);
}

/* Loads yaml, expects failure with exactly the NULL-terminated messages. */
static void expect_errors(const char *yaml, ...)
{
    struct cfg_errors errs = {0};
    struct config *cfg = load(yaml, &errs);
    va_list ap;
    size_t n = 0;
    bool ok = cfg == NULL;
    va_start(ap, yaml);
    for (const char *m; (m = va_arg(ap, const char *)) != NULL; n++) {
        bool found = false;
        for (size_t i = 0; i < errs.n && !found; i++)
            found = strcmp(errs.msgs[i], m) == 0;
        if (!found) {
            fprintf(stderr, "missing: %s\n", m);
            ok = false;
        }
    }
    va_end(ap);
    if (n != errs.n)
        ok = false;
    if (!ok)
        dump(&errs);
    config_free(cfg);
    cfg_errors_free(&errs);
    assert_true(ok);
}

static struct config *load_ok(const char *yaml)
{
    struct cfg_errors errs = {0};
    struct config *cfg = load(yaml, &errs);
    if (!cfg)
        dump(&errs);
    assert_non_null(cfg);
    assert_int_equal(errs.n, 0);
    return cfg;
}

static void check_defaults(const struct config *cfg)
{
    assert_string_equal(cfg->listen, "127.0.0.1:8080");
    assert_string_equal(cfg->data_dir, "./tocsin-data");
    assert_int_equal(cfg->log_level, LOG_INFO);
    assert_true(cfg->sync_full);
    assert_int_equal(cfg->max_body_bytes, 1048576);
    assert_int_equal(cfg->queue_limit, 50000);
    assert_int_equal(cfg->n_tokens, 0);
    assert_int_equal(cfg->n_integrations, 0);
    assert_int_equal(cfg->n_services, 0);
    assert_string_equal(cfg->root.id, "root");
    assert_int_equal(cfg->root.n_group_by, 1);
    assert_string_equal(cfg->root.group_by[0], "alertname");
    assert_false(cfg->root.group_by_all);
    assert_int_equal(cfg->root.group_window_ms, 0);
    assert_null(cfg->root.service);
    assert_int_equal(cfg->root.n_routes, 0);
    assert_int_equal(cfg->priority[0][0], 1);
    assert_int_equal(cfg->priority[1][1], 3);
    assert_int_equal(cfg->priority[2][2], 5);
}

static void test_defaults(void **state)
{
    struct config *cfg = config_default();
    assert_non_null(cfg);
    check_defaults(cfg);
    config_free(cfg);

    /* An empty file, a lone document marker and comments are all "empty". */
    const char *empties[] = {"", "---\n", "# nothing here\n\n", "~\n"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(*empties); i++) {
        cfg = load_ok(empties[i]);
        check_defaults(cfg);
        assert_string_equal(cfg->path, "t.yaml");
        config_free(cfg);
    }
}

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/tocsin-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_files(void **state)
{
    struct cfg_errors errs = {0};
    char *path = write_temp("");
    struct config *cfg = config_load_file(path, &errs);
    assert_non_null(cfg);
    check_defaults(cfg);
    assert_string_equal(cfg->path, path);
    config_free(cfg);
    unlink(path);
    free(path);

    path = write_temp("listen: 0.0.0.0:9090\nrotues: []\n");
    cfg = config_load_file(path, &errs);
    assert_null(cfg);
    assert_int_equal(errs.n, 1);
    char want[256];
    snprintf(want, sizeof(want), "%s:2:1: unknown key \"rotues\"", path);
    assert_string_equal(errs.msgs[0], want);
    cfg_errors_free(&errs);
    unlink(path);
    free(path);

    cfg = config_load_file("/nonexistent/tocsin.yaml", &errs);
    assert_null(cfg);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msgs[0],
                        "/nonexistent/tocsin.yaml: cannot read: No such file or directory");
    cfg_errors_free(&errs);

    /* Over 16 MiB is refused before parsing. */
    size_t big = YAML_MAX_BYTES + 1;
    char *buf = malloc(big);
    memset(buf, '#', big);
    cfg = config_load_buffer("big.yaml", buf, big, &errs);
    assert_null(cfg);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msgs[0], "big.yaml: file is larger than 16777216 bytes");
    cfg_errors_free(&errs);
    free(buf);
}

static void test_example(void **state)
{
    const char *dir = getenv("TOCSIN_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/examples/tocsin.yaml", dir ? dir : ".");
    struct cfg_errors errs = {0};
    struct config *cfg = config_load_file(path, &errs);
    if (!cfg)
        dump(&errs);
    assert_non_null(cfg);

    assert_int_equal(cfg->n_tokens, 3);
    assert_int_equal(cfg->tokens[0].role, ROLE_ADMIN);
    assert_int_equal(cfg->tokens[1].role, ROLE_RESPONDER);
    assert_int_equal(cfg->tokens[2].role, ROLE_VIEWER);
    assert_int_equal(cfg->n_integrations, 4);
    assert_int_equal(cfg->integrations[0].type, INTEGRATION_ALERTMANAGER);
    assert_int_equal(cfg->integrations[1].type, INTEGRATION_PAGERDUTY);
    assert_int_equal(cfg->integrations[1].default_severity, SEV_ERROR);
    assert_int_equal(cfg->integrations[2].type, INTEGRATION_GENERIC);
    assert_int_equal(cfg->integrations[2].default_severity, SEV_WARNING);
    assert_int_equal(cfg->integrations[2].resolve_timeout_ms, 300000);
    assert_int_equal(cfg->n_services, 3);
    assert_int_equal(cfg->services[2].impact, 3);

    assert_int_equal(cfg->root.n_routes, 4);
    const struct route *shop = &cfg->root.routes[0];
    assert_string_equal(shop->id, "0");
    assert_int_equal(shop->group_window_ms, 300000);
    assert_string_equal(shop->routes[0].id, "0.0");
    assert_true(shop->routes[0].group_by_all);
    assert_string_equal(shop->routes[0].service, "shop");
    assert_int_equal(shop->routes[0].group_window_ms, 300000);
    assert_int_equal(shop->routes[0].n_matchers, 2);
    assert_int_equal(shop->routes[0].matchers[0].op, MATCH_RE);
    assert_int_equal(shop->routes[0].matchers[1].op, MATCH_NEQ);
    assert_string_equal(shop->routes[0].matchers[1].value, "dev");
    assert_true(cfg->root.routes[1].cont);
    config_free(cfg);
}

static void test_full(void **state)
{
    struct config *cfg = load_ok("listen: \"[::1]:0\"\n"
                                 "data_dir: /var/lib/tocsin\n"
                                 "log_level: debug\n"
                                 "storage: {sync: normal}\n"
                                 "intake: {max_body_bytes: 0x400, queue_limit: 100}\n"
                                 "api_tokens:\n"
                                 "  - {name: a, token: aaaaaaaaaaaaaaaa}\n"
                                 "integrations:\n"
                                 "  - name: am\n"
                                 "    type: alertmanager\n"
                                 "    key: kkkkkkkkkkkkkkkk\n"
                                 "    resolve_timeout: 1h30m\n"
                                 "    default_severity: critical\n"
                                 "services: [{name: s1}, {name: s2, impact: low}]\n"
                                 "priority_matrix: [[5,5,5],[4,4,4],[1,2,3]]\n");
    assert_string_equal(cfg->listen, "[::1]:0");
    assert_string_equal(cfg->data_dir, "/var/lib/tocsin");
    assert_int_equal(cfg->log_level, LOG_DEBUG);
    assert_false(cfg->sync_full);
    assert_int_equal(cfg->max_body_bytes, 1024);
    assert_int_equal(cfg->queue_limit, 100);
    assert_int_equal(cfg->tokens[0].role, ROLE_VIEWER);
    assert_int_equal(cfg->integrations[0].resolve_timeout_ms, 5400000);
    assert_int_equal(cfg->integrations[0].default_severity, SEV_CRITICAL);
    assert_int_equal(cfg->services[0].impact, 2);
    assert_int_equal(cfg->services[1].impact, 3);
    assert_null(cfg->services[0].description);

    /* Priority: impact 0 means medium; urgency from severity. */
    assert_int_equal(config_priority(cfg, 1, SEV_INFO), 5);
    assert_int_equal(config_priority(cfg, 0, SEV_CRITICAL), 4);
    assert_int_equal(config_priority(cfg, 3, SEV_ERROR), 1);
    assert_int_equal(config_priority(cfg, 3, SEV_WARNING), 2);
    assert_int_equal(config_urgency(SEV_CRITICAL), 1);
    assert_int_equal(config_urgency(SEV_ERROR), 1);
    assert_int_equal(config_urgency(SEV_WARNING), 2);
    assert_int_equal(config_urgency(SEV_INFO), 3);

    assert_ptr_equal(config_find_token(cfg, "aaaaaaaaaaaaaaaa"), &cfg->tokens[0]);
    assert_null(config_find_token(cfg, "aaaaaaaaaaaaaaa"));
    assert_null(config_find_token(cfg, "aaaaaaaaaaaaaaab"));
    assert_null(config_find_token(cfg, ""));
    assert_ptr_equal(config_find_integration_key(cfg, "kkkkkkkkkkkkkkkk"), &cfg->integrations[0]);
    assert_null(config_find_integration_key(cfg, "aaaaaaaaaaaaaaaa"));
    assert_ptr_equal(config_find_service(cfg, "s2"), &cfg->services[1]);
    assert_null(config_find_service(cfg, "s3"));
    config_free(cfg);

    assert_string_equal(integration_type_name(INTEGRATION_GENERIC), "generic");
    assert_string_equal(integration_type_name(INTEGRATION_PAGERDUTY), "pagerduty");
    assert_string_equal(integration_type_name(INTEGRATION_ALERTMANAGER), "alertmanager");
    assert_string_equal(role_name(ROLE_VIEWER), "viewer");
    assert_string_equal(role_name(ROLE_RESPONDER), "responder");
    assert_string_equal(role_name(ROLE_ADMIN), "admin");
}

static void test_env_secrets(void **state)
{
    setenv("TOCSIN_TEST_TOKEN", "from-the-environment", 1);
    setenv("TOCSIN_TEST_SHORT", "short", 1);
    unsetenv("TOCSIN_TEST_MISSING");
    setenv("TOCSIN_TEST_EMPTY", "", 1);

    struct config *cfg = load_ok("api_tokens:\n"
                                 "  - {name: a, token: \"env:TOCSIN_TEST_TOKEN\"}\n");
    assert_string_equal(cfg->tokens[0].token, "from-the-environment");
    assert_non_null(config_find_token(cfg, "from-the-environment"));
    config_free(cfg);

    expect_errors("api_tokens:\n"
                  "  - {name: a, token: \"env:TOCSIN_TEST_MISSING\"}\n"
                  "  - {name: b, token: \"env:TOCSIN_TEST_EMPTY\"}\n"
                  "integrations:\n"
                  "  - {name: c, type: generic, key: env:TOCSIN_TEST_SHORT}\n"
                  "  - {name: d, type: generic, key: \"env:\"}\n",
                  "t.yaml:2:22: environment variable TOCSIN_TEST_MISSING is not set",
                  "t.yaml:3:22: environment variable TOCSIN_TEST_EMPTY is not set",
                  "t.yaml:5:35: key from environment variable TOCSIN_TEST_SHORT must be at "
                  "least 16 characters",
                  "t.yaml:6:35: env: needs a variable name", NULL);
}

static void test_top_level_errors(void **state)
{
    expect_errors("listen: localhost\n"
                  "data_dir: \"\"\n"
                  "log_level: loud\n"
                  "storage: {sync: maybe, fsync: 1}\n"
                  "intake:\n"
                  "  max_body_bytes: 10\n"
                  "  queue_limit: \"500\"\n"
                  "rotues: []\n"
                  "services: {name: x}\n",
                  "t.yaml:1:9: invalid listen address \"localhost\" (expected HOST:PORT)",
                  "t.yaml:2:11: data_dir must not be empty",
                  "t.yaml:3:12: invalid log_level \"loud\" (expected debug, info, warn or error)",
                  "t.yaml:4:24: unknown key \"fsync\"",
                  "t.yaml:4:17: invalid sync \"maybe\" (expected full or normal)",
                  "t.yaml:6:19: max_body_bytes must be between 1024 and 67108864",
                  "t.yaml:7:16: queue_limit must be an integer, not a string",
                  "t.yaml:8:1: unknown key \"rotues\"",
                  "t.yaml:9:11: services must be a list, not a mapping", NULL);
    expect_errors("- a\n- b\n", "t.yaml:1:1: the configuration must be a mapping, not a list",
                  NULL);
    expect_errors("listen: 1.2.3.4:65536\n",
                  "t.yaml:1:9: invalid listen address \"1.2.3.4:65536\" (expected HOST:PORT)",
                  NULL);
    /* A plain 8080 is a number under the core schema, not a string. */
    expect_errors("listen: 8080\n", "t.yaml:1:9: listen must be a string, not a number", NULL);
}

static void test_list_errors(void **state)
{
    expect_errors("api_tokens:\n"
                  "  - {name: a, token: aaaaaaaaaaaaaaaa, role: root}\n"
                  "  - {name: a, token: aaaaaaaaaaaaaaaa}\n"
                  "  - {token: short}\n"
                  "  - just-a-string\n"
                  "integrations:\n"
                  "  - name: i1\n"
                  "    key: kkkkkkkkkkkkkkkk\n"
                  "    resolve_timeout: 5x\n"
                  "    default_severity: high\n"
                  "  - {name: i2, type: smtp, key: kkkkkkkkkkkkkkkk, extra: 1}\n"
                  "services:\n"
                  "  - {name: s, impact: huge}\n"
                  "  - {name: s, description: 3}\n"
                  "  - {name: \"\"}\n",
                  "t.yaml:2:46: invalid role \"root\" (expected viewer, responder or admin)",
                  "t.yaml:3:12: duplicate token name \"a\" (first defined at line 2)",
                  "t.yaml:3:22: duplicate token (same as line 2)",
                  "t.yaml:4:5: missing required field \"name\"",
                  "t.yaml:4:13: token must be at least 16 characters",
                  "t.yaml:5:5: each entry of api_tokens must be a mapping, not a string",
                  "t.yaml:7:5: missing required field \"type\"",
                  "t.yaml:9:22: resolve_timeout must be a duration such as \"30s\" or \"5m\"",
                  "t.yaml:10:23: invalid default_severity \"high\" (expected info, warning, "
                  "error or critical)",
                  "t.yaml:11:51: unknown key \"extra\"",
                  "t.yaml:11:22: invalid type \"smtp\" (expected generic, pagerduty, alertmanager "
                  "or metrics)",
                  "t.yaml:11:33: duplicate integration key (same as line 7)",
                  "t.yaml:13:23: invalid impact \"huge\" (expected high, medium or low)",
                  "t.yaml:14:12: duplicate service name \"s\" (first defined at line 13)",
                  "t.yaml:14:28: description must be a string, not a number",
                  "t.yaml:15:12: name must be 1 to 128 characters without control characters",
                  NULL);
    /* Unknown keys are reported at the key, not at its value. */
    expect_errors("default_route:\n  bogus: 1\n", "t.yaml:2:3: unknown key \"bogus\"", NULL);
}

static void test_route_errors(void **state)
{
    expect_errors("services: [{name: shop}]\n"
                  "default_route:\n"
                  "  group_window: -5m\n"
                  "  match: {a: b}\n"
                  "routes:\n"
                  "  - match: {service: shop, code: 500}\n"
                  "    matchers: ['severity=~\"(crit\"', 'env <> \"dev\"', 'a=\"b', 7]\n"
                  "    service: shoop\n"
                  "    continue: yes\n"
                  "    group_by: [a, a, '...']\n"
                  "    routes:\n"
                  "      - group_window: 5\n"
                  "        routes: {}\n"
                  "  - 3\n",
                  "t.yaml:3:17: group_window must be a duration such as \"30s\" or \"5m\"",
                  "t.yaml:4:3: unknown key \"match\"",
                  "t.yaml:6:34: match values must be strings, not a number",
                  "t.yaml:7:16: invalid regular expression \"(crit\": Unmatched ( or \\(",
                  "t.yaml:7:37: invalid matcher \"env <> \"dev\"\": expected =, !=, =~ or !~ "
                  "after the label name",
                  "t.yaml:7:53: invalid matcher \"a=\"b\": unterminated quoted value",
                  "t.yaml:7:61: matchers must be strings such as 'env!=\"dev\"'",
                  "t.yaml:8:14: unknown service \"shoop\"",
                  "t.yaml:9:15: continue must be true or false",
                  "t.yaml:10:19: duplicate label \"a\" in group_by",
                  "t.yaml:10:22: \"...\" (every label) cannot be combined with other labels",
                  "t.yaml:12:23: group_window must be a duration such as \"30s\" or \"5m\"",
                  "t.yaml:13:17: routes must be a list, not a mapping",
                  "t.yaml:14:5: each route must be a mapping, not a number", NULL);
    expect_errors("priority_matrix: [[1,2,3],[1,2],[0,2,'3']]\n",
                  "t.yaml:1:27: each priority_matrix row must be a list of 3 priorities "
                  "(urgency high, medium, low)",
                  "t.yaml:1:34: priorities must be integers from 1 to 5",
                  "t.yaml:1:38: priorities must be integers from 1 to 5", NULL);
    expect_errors("priority_matrix: [[1,2,3]]\n",
                  "t.yaml:1:18: priority_matrix must have 3 rows (impact high, medium, low)", NULL);
}

static void test_yaml_errors(void **state)
{
    expect_errors("listen: a\n  bad: indent\n",
                  "t.yaml:2:6: mapping values are not allowed in this context", NULL);
    expect_errors("routes:\n  - [a, b\n",
                  "t.yaml:3:1: did not find expected ',' or ']' (while parsing a flow sequence "
                  "at line 2, column 5)",
                  NULL);
    expect_errors("listen: 127.0.0.1:1\ndata_dir: x\nlisten: 127.0.0.1:2\n",
                  "t.yaml:3:1: duplicate key \"listen\"", NULL);
    expect_errors("services:\n  - &s {name: a}\n  - *s\n", "t.yaml:2:5: anchors are not supported",
                  "t.yaml:3:5: aliases are not supported", NULL);
    expect_errors("? [a]\n: 1\n", "t.yaml:1:3: mapping keys must be strings", NULL);
    expect_errors("listen: !!int 5\n", "t.yaml:1:9: unsupported tag tag:yaml.org,2002:int", NULL);
    expect_errors("a: 1\n---\nb: 2\n",
                  "t.yaml:2:1: only one YAML document is allowed in a configuration file", NULL);
    expect_errors("a: 99999999999999999999\nb: .inf\n",
                  "t.yaml:1:4: integer 99999999999999999999 is out of range",
                  "t.yaml:2:4: infinite and NaN numbers are not supported", NULL);
    expect_errors("a: \"\\xff\"\nb: \"\xff\"\n", "t.yaml:2:5: invalid leading UTF-8 octet", NULL);

    /* 64 levels of nesting are fine, 65 are not. */
    char deep[400] = "a: ";
    for (int i = 0; i < 64; i++)
        strcat(deep, "[");
    for (int i = 0; i < 64; i++)
        strcat(deep, "]");
    strcat(deep, "\n");
    expect_errors(deep, "t.yaml:1:1: unknown key \"a\"", NULL);
    char deeper[400] = "[";
    strcat(deeper, deep + 3);
    deeper[strlen(deeper) - 1] = ']';
    char wrapped[420] = "a: ";
    strcat(wrapped, deeper);
    strcat(wrapped, "\n");
    expect_errors(wrapped, "t.yaml:1:68: nesting is deeper than 64 levels", NULL);
}

static void test_scalars(void **state)
{
    struct cfg_errors errs = {0};
    json_t *root;
    struct yaml_positions *pos;
    const char *y = "a: 12\nb: -0x1\nc: 0o17\nd: 1.5e3\ne: true\nf: ~\ng: '12'\nh: \"true\"\n"
                    "i: 12abc\nj: null\nk:\nl: .5\nm: FALSE\nn: \"a\\0b\"\n";
    assert_int_equal(yaml_read_buffer("s.yaml", y, strlen(y), &root, &pos, &errs), 0);
    assert_int_equal(json_integer_value(json_object_get(root, "a")), 12);
    /* Hex and octal have no sign in the core schema: -0x1 is a string. */
    assert_string_equal(json_string_value(json_object_get(root, "b")), "-0x1");
    assert_int_equal(json_integer_value(json_object_get(root, "c")), 15);
    assert_true(json_real_value(json_object_get(root, "d")) == 1500.0);
    assert_true(json_is_true(json_object_get(root, "e")));
    assert_true(json_is_null(json_object_get(root, "f")));
    assert_string_equal(json_string_value(json_object_get(root, "g")), "12");
    assert_string_equal(json_string_value(json_object_get(root, "h")), "true");
    assert_string_equal(json_string_value(json_object_get(root, "i")), "12abc");
    assert_true(json_is_null(json_object_get(root, "j")));
    assert_true(json_is_null(json_object_get(root, "k")));
    assert_true(json_real_value(json_object_get(root, "l")) == 0.5);
    assert_true(json_is_false(json_object_get(root, "m")));
    assert_int_equal(json_string_length(json_object_get(root, "n")), 3);

    struct yaml_pos p;
    assert_true(yaml_positions_get(pos, "g", false, &p));
    assert_int_equal(p.line, 7);
    assert_int_equal(p.col, 4);
    assert_true(yaml_positions_get(pos, "g", true, &p));
    assert_int_equal(p.col, 1);
    assert_false(yaml_positions_get(pos, "zz", false, &p));
    json_decref(root);
    yaml_positions_free(pos);

    /* Paths quote keys that are not plain words. */
    y = "match:\n  app.kubernetes.io/name: x\nlist: [a, {b: c}]\n";
    assert_int_equal(yaml_read_buffer("s.yaml", y, strlen(y), &root, &pos, &errs), 0);
    assert_true(yaml_positions_get(pos, "match[\"app.kubernetes.io/name\"]", false, &p));
    assert_int_equal(p.line, 2);
    assert_int_equal(p.col, 27);
    assert_true(yaml_positions_get(pos, "list[1].b", true, &p));
    assert_int_equal(p.col, 12);
    assert_false(yaml_positions_get(pos, "list[1]", true, &p));
    json_decref(root);
    yaml_positions_free(pos);
    assert_int_equal(errs.n, 0);

    /* Embedded NUL in a secret is refused. */
    expect_errors("api_tokens: [{name: a, token: \"aaaaaaaaaaaaaaaa\\0\"}]\n",
                  "t.yaml:1:31: token must not contain NUL characters", NULL);
}

static void test_inheritance(void **state)
{
    struct config *cfg = load_ok("services: [{name: a}, {name: b}]\n"
                                 "default_route: {group_by: [x], group_window: 1m, service: a}\n"
                                 "routes:\n"
                                 "  - match: {k: '1'}\n"
                                 "    routes:\n"
                                 "      - {match: {j: '1'}, service: b, group_by: ['...']}\n"
                                 "      - match: {j: '2'}\n"
                                 "        routes: [{match: {i: '1'}, group_window: 0}]\n"
                                 "  - {match: {k: '2'}, service: null, group_by: []}\n");
    const struct route *r0 = &cfg->root.routes[0];
    assert_string_equal(cfg->root.service, "a");
    assert_int_equal(cfg->root.group_window_ms, 60000);
    assert_string_equal(r0->id, "0");
    assert_string_equal(r0->service, "a");
    assert_string_equal(r0->group_by[0], "x");
    assert_int_equal(r0->group_window_ms, 60000);
    assert_string_equal(r0->routes[0].id, "0.0");
    assert_string_equal(r0->routes[0].service, "b");
    assert_true(r0->routes[0].group_by_all);
    assert_int_equal(r0->routes[0].n_group_by, 0);
    const struct route *leaf = &r0->routes[1].routes[0];
    assert_string_equal(leaf->id, "0.1.0");
    assert_string_equal(leaf->service, "a");
    assert_int_equal(leaf->group_window_ms, 0);
    assert_int_equal(leaf->n_group_by, 1);
    const struct route *r1 = &cfg->root.routes[1];
    assert_string_equal(r1->id, "1");
    assert_null(r1->service);
    assert_int_equal(r1->n_group_by, 0);
    assert_false(r1->group_by_all);
    config_free(cfg);
}

static void test_json_paths(void **state)
{
    struct cfg_errors errs = {0};
    json_error_t jerr;
    json_t *root =
        json_loads("{\"routes\":[{\"group_window\":\"soon\",\"matchers\":[\"a=~\\\"[\\\"\"]}],"
                   "\"api_tokens\":[{\"token\":\"aaaaaaaaaaaaaaaa\"}],\"x\":1}",
                   0, &jerr);
    assert_non_null(root);
    struct config *cfg = config_from_json(root, "<api>", NULL, &errs);
    assert_null(cfg);
    assert_int_equal(errs.n, 4);
    assert_string_equal(errs.msgs[0], "x: unknown key \"x\"");
    assert_string_equal(errs.msgs[1], "api_tokens[0]: missing required field \"name\"");
    assert_string_equal(errs.msgs[2], "routes[0].matchers[0]: invalid regular expression \"[\": "
                                      "Unmatched [, [^, [:, [., or [=");
    assert_string_equal(errs.msgs[3],
                        "routes[0].group_window: group_window must be a duration such as "
                        "\"30s\" or \"5m\"");
    cfg_errors_free(&errs);
    json_decref(root);

    root = json_loads("[]", 0, &jerr);
    assert_null(config_from_json(root, "<api>", NULL, &errs));
    assert_string_equal(errs.msgs[0], "<api>: the configuration must be a mapping, not a list");
    cfg_errors_free(&errs);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_files),
        cmocka_unit_test(test_example),     cmocka_unit_test(test_full),
        cmocka_unit_test(test_env_secrets), cmocka_unit_test(test_top_level_errors),
        cmocka_unit_test(test_list_errors), cmocka_unit_test(test_route_errors),
        cmocka_unit_test(test_yaml_errors), cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_inheritance), cmocka_unit_test(test_json_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
