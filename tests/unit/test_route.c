/*
 * test_route.c - routing tree evaluation and group keys.
 *
 * Trees are built from YAML through the real loader so that the tests also
 * cover how matchers are parsed and compiled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "engine/route.h"

#include <stdio.h>
#include <string.h>

static struct config *load(const char *yaml)
{
    struct cfg_errors errs = {0};
    struct config *cfg = config_load_buffer("r.yaml", yaml, strlen(yaml), &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    cfg_errors_free(&errs);
    assert_non_null(cfg);
    return cfg;
}

/* Builds a label set from "name", "value", ..., NULL. */
static struct labelset labels(const char *first, ...)
{
    struct labelset ls = {0};
    va_list ap;
    va_start(ap, first);
    for (const char *n = first; n; n = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        assert_int_equal(labels_set(&ls, n, v), 0);
    }
    va_end(ap);
    return ls;
}

/* Route ids found for ls, joined by spaces. */
static const char *find_ids(const struct config *cfg, const struct labelset *ls, size_t max)
{
    static char buf[256];
    const struct route *out[ROUTE_MAX_MATCHES];
    size_t n = route_find(&cfg->root, ls, out, max);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(buf, " ");
        strcat(buf, out[i]->id);
    }
    return buf;
}

static bool matches(const struct config *cfg, size_t route, const struct labelset *ls)
{
    const struct route *r = &cfg->root.routes[route];
    assert_int_equal(r->n_matchers, 1);
    return route_matcher_matches(&r->matchers[0], ls);
}

static void test_matchers(void **state)
{
    struct config *cfg = load("routes:\n"
                              "  - matchers: ['env=\"prod\"']\n"         /* 0 */
                              "  - matchers: ['env!=\"dev\"']\n"         /* 1 */
                              "  - matchers: ['env=~\"prod|stag.*\"']\n" /* 2 */
                              "  - matchers: ['env!~\"dev.*\"']\n"       /* 3 */
                              "  - matchers: ['env=\"\"']\n"             /* 4 */
                              "  - matchers: ['env=~\".*\"']\n"          /* 5 */
                              "  - matchers: ['env = prod ']\n"          /* 6: unquoted, trimmed */
                              "  - matchers: ['env=\"a\\\"b\"']\n"       /* 7: escaped quote */
                              "  - match: {env: prod}\n");               /* 8 */
    struct labelset prod = labels("env", "prod", NULL);
    struct labelset staging = labels("env", "staging", NULL);
    struct labelset dev = labels("env", "dev", NULL);
    struct labelset devx = labels("env", "devx", NULL);
    struct labelset xprod = labels("env", "xprod", NULL);
    struct labelset quote = labels("env", "a\"b", NULL);
    struct labelset none = labels("other", "prod", NULL);

    assert_true(matches(cfg, 0, &prod));
    assert_false(matches(cfg, 0, &dev));
    assert_false(matches(cfg, 0, &none));

    assert_true(matches(cfg, 1, &prod));
    assert_false(matches(cfg, 1, &dev));
    assert_true(matches(cfg, 1, &none)); /* absent counts as "" */

    assert_true(matches(cfg, 2, &prod));
    assert_true(matches(cfg, 2, &staging));
    assert_false(matches(cfg, 2, &xprod)); /* anchored at both ends */
    assert_false(matches(cfg, 2, &none));

    assert_true(matches(cfg, 3, &prod));
    assert_false(matches(cfg, 3, &dev));
    assert_false(matches(cfg, 3, &devx));
    assert_true(matches(cfg, 3, &none));

    assert_true(matches(cfg, 4, &none));
    assert_false(matches(cfg, 4, &prod));
    assert_true(matches(cfg, 5, &none));

    assert_true(matches(cfg, 6, &prod));
    assert_string_equal(cfg->root.routes[6].matchers[0].value, "prod");
    assert_true(matches(cfg, 7, &quote));
    assert_true(matches(cfg, 8, &prod));
    assert_false(matches(cfg, 8, &xprod));

    labels_free(&prod);
    labels_free(&staging);
    labels_free(&dev);
    labels_free(&devx);
    labels_free(&xprod);
    labels_free(&quote);
    labels_free(&none);
    config_free(cfg);
}

static void test_find(void **state)
{
    struct config *cfg = load("routes:\n"
                              "  - match: {team: db}\n" /* 0 */
                              "    routes:\n"
                              "      - match: {severity: critical}\n"      /* 0.0 */
                              "      - matchers: ['env=~\"prod|stag\"']\n" /* 0.1 */
                              "  - match: {team: db}\n"                    /* 1: shadowed by 0 */
                              "  - match: {service: shop}\n"               /* 2 */
                              "    continue: true\n"
                              "  - matchers: ['severity!=\"info\"', 'env!~\"dev\"']\n" /* 3 */
                              "    continue: true\n"
                              "    routes:\n"
                              "      - {match: {a: '1'}, continue: true}\n" /* 3.0 */
                              "      - match: {b: '1'}\n"                   /* 3.1 */
                              "      - match: {c: '1'}\n"                   /* 3.2 */
                              "  - match: {service: shop}\n");              /* 4 */
    struct labelset ls;

    ls = labels("team", "web", "severity", "info", NULL);
    assert_string_equal(find_ids(cfg, &ls, ROUTE_MAX_MATCHES), "root");
    labels_free(&ls);

    /* First matching sibling wins; a matching parent with no matching child
     * is the result; nested children are tried in order. */
    ls = labels("team", "db", "severity", "info", NULL);
    assert_string_equal(find_ids(cfg, &ls, ROUTE_MAX_MATCHES), "0");
    labels_free(&ls);
    ls = labels("team", "db", "severity", "critical", "env", "prod", NULL);
    assert_string_equal(find_ids(cfg, &ls, ROUTE_MAX_MATCHES), "0.0");
    labels_free(&ls);
    ls = labels("team", "db", "severity", "warning", "env", "stag", NULL);
    assert_string_equal(find_ids(cfg, &ls, ROUTE_MAX_MATCHES), "0.1");
    labels_free(&ls);

    /* continue: true keeps looking at later siblings. */
    ls = labels("service", "shop", "severity", "info", NULL);
    assert_string_equal(find_ids(cfg, &ls, ROUTE_MAX_MATCHES), "2 4");
    labels_free(&ls);
    ls = labels("service", "shop", "severity", "error", NULL);
    assert_string_equal(find_ids(cfg, &ls, ROUTE_MAX_MATCHES), "2 3 4");
    labels_free(&ls);
    ls = labels("service", "shop", "severity", "error", "a", "1", "b", "1", "c", "1", NULL);
    assert_string_equal(find_ids(cfg, &ls, ROUTE_MAX_MATCHES), "2 3.0 3.1 4");
    labels_free(&ls);
    /* 3.1 does not continue, so 3.2 is never tried. */
    ls = labels("severity", "error", "b", "1", "c", "1", NULL);
    assert_string_equal(find_ids(cfg, &ls, ROUTE_MAX_MATCHES), "3.1");
    labels_free(&ls);
    ls = labels("severity", "error", "env", "dev", "b", "1", NULL);
    assert_string_equal(find_ids(cfg, &ls, ROUTE_MAX_MATCHES), "root");
    labels_free(&ls);

    /* The output is bounded by max. */
    ls = labels("service", "shop", "severity", "error", "a", "1", "b", "1", NULL);
    assert_string_equal(find_ids(cfg, &ls, 2), "2 3.0");
    assert_string_equal(find_ids(cfg, &ls, 1), "2");
    const struct route *out[1];
    assert_int_equal(route_find(&cfg->root, &ls, out, 0), 0);
    labels_free(&ls);
    config_free(cfg);
}

static void test_group_key(void **state)
{
    struct config *cfg = load("routes:\n"
                              "  - match: {a: '1'}\n"
                              "    group_by: [service, alertname]\n"
                              "    routes:\n"
                              "      - match: {b: '1'}\n"
                              "        group_by: ['...']\n"
                              "      - match: {b: '2'}\n"
                              "        group_by: []\n");
    char buf[256];
    struct labelset ls = labels("alertname", "Disk\"Full\\", "a", "1", "b", "1", NULL);

    assert_int_equal(route_group_key(&cfg->root, &ls, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "root{alertname=\"Disk\\\"Full\\\\\"}");

    /* Order as given; a missing label has an empty value. */
    assert_int_equal(route_group_key(&cfg->root.routes[0], &ls, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "0{service=\"\",alertname=\"Disk\\\"Full\\\\\"}");

    /* Every label, sorted by name. */
    assert_int_equal(route_group_key(&cfg->root.routes[0].routes[0], &ls, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "0.0{a=\"1\",alertname=\"Disk\\\"Full\\\\\",b=\"1\"}");

    assert_int_equal(route_group_key(&cfg->root.routes[0].routes[1], &ls, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "0.1{}");

    /* Exactly fitting works; one byte less does not. */
    assert_int_equal(route_group_key(&cfg->root.routes[0].routes[1], &ls, buf, 6), 0);
    assert_string_equal(buf, "0.1{}");
    assert_int_equal(route_group_key(&cfg->root.routes[0].routes[1], &ls, buf, 5), -1);
    assert_int_equal(route_group_key(&cfg->root, &ls, buf, 20), -1);
    assert_int_equal(route_group_key(&cfg->root, &ls, buf, 0), -1);

    labels_free(&ls);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matchers),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_group_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
