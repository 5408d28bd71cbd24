/*
 * test_config_checks.c - hosts, checks, templates, apply rules, host files,
 * heartbeats, downtimes and scheduler settings in the configuration.
 *
 * As in test_config.c, error tests compare the complete list of messages so
 * that each rule is pinned to its exact FILE:LINE:COL. Host files are
 * written into a temporary directory next to a temporary config file, since
 * they resolve relative to the config file's directory.
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
#include <sys/stat.h>
#include <unistd.h>

#include "test_config_util.h"
}

static const struct cfg_check *check(const struct config *cfg, const char *id)
{
    const struct cfg_check *ck = config_find_check(cfg, id);
    if (!ck)
        fprintf(stderr, "no check %s\n", id);
    assert_non_null(ck);
    return ck;
}

static const char *env_get(const struct cfg_check *ck, const char *name)
{
    size_t n = strlen(name);
    for (char **e = ck->env; e && *e; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    }
    return NULL;
}

/* A temporary directory with files in it; removed by dir_free. */
struct dir {
    char path[64];
    char files[16][128];
    size_t n;
};

static void dir_new(struct dir *d)
{
    memset(d, 0, sizeof(*d));
    strcpy(d->path, "/tmp/tocsin-test-checks-XXXXXX");
    assert_non_null(mkdtemp(d->path));
}

/* Writes name in the directory; returns its full path (valid until dir_free). */
static const char *dir_write(struct dir *d, const char *name, const char *text)
{
    assert_true(d->n < 16);
    char *full = d->files[d->n++];
    /* Through a copy of the directory: gcc -O2 sees full and d->path in one
     * struct and warns (-Wrestrict) though they never overlap. */
    char dirpath[sizeof(d->path)];
    memcpy(dirpath, d->path, sizeof(dirpath));
    snprintf(full, sizeof(d->files[0]), "%s/%s", dirpath, name);
    FILE *f = fopen(full, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
    return full;
}

static void dir_free(struct dir *d)
{
    for (size_t i = 0; i < d->n; i++)
        unlink(d->files[i]);
    rmdir(d->path);
}

/* ---- Loading ---- */

static void test_defaults(void **state)
{
    struct config *cfg = config_default();
    assert_non_null(cfg);
    assert_true(cfg->scheduler.max_concurrent >= 4);
    assert_int_equal(cfg->scheduler.max_probes, 1000);
    assert_int_equal(cfg->scheduler.max_output, 65536);
    assert_string_equal(cfg->scheduler.plugin_dir, "/usr/lib/nagios/plugins");
    assert_int_equal(cfg->n_hosts, 0);
    assert_int_equal(cfg->n_checks, 0);
    assert_int_equal(cfg->n_heartbeats, 0);
    assert_int_equal(cfg->n_downtimes, 0);
    assert_null(config_find_host(cfg, "web1"));
    assert_null(config_find_check(cfg, "web1!disk"));
    assert_null(config_find_heartbeat_key(cfg, "22222222222222222222222222222222"));
    config_free(cfg);
}

/* The shape from the issue, with the files and hosts it refers to. */
static const char issue_yaml[] =
    "scheduler: {max_concurrent: 8, max_probes: 1000, max_output: 64KiB,\n"
    "            plugin_dir: /usr/lib/nagios/plugins}\n"
    "host_files: [hosts.csv, more-hosts.yaml]\n"
    "templates:\n"
    "  - {name: generic, interval: 60s, retry_interval: 10s, max_attempts: 3, timeout: 10s,\n"
    "     labels: {team: ops}}\n"
    "hosts:\n"
    "  - {name: web1, address: 127.0.0.1, labels: {role: web, site: berlin}}\n"
    "  - {name: sw-stuttgart, address: 10.1.2.1, check: {type: tcp, port: 22}}\n"
    "  - {name: p-0042, address: 10.1.2.42, labels: {role: printer, site: stuttgart},\n"
    "     parents: [sw-stuttgart], overrides: {ipp: {port: 9100}, disk: {disable: true}}}\n"
    "checks:\n"
    "  - {name: disk, host: web1, command: \"$USER1$/check_disk -w 20% -c 10% -p /\",\n"
    "     use: generic, interval: 60s, retry_interval: 10s, max_attempts: 3, timeout: 10s,\n"
    "     notes: \"...\", runbook: \"https://wiki/disk\"}\n"
    "  - {name: ipp, apply: {role: printer}, type: tcp, port: 631, interval: 30s}\n"
    "  - {name: portal, host: web1, type: http, url: \"https://127.0.0.1/health\",\n"
    "     expect_status: 200}\n"
    "  - {name: mysql, hosts: [db1, db2], command: \"$USER1$/check_mysql -H $HOSTADDRESS$\"}\n"
    "  - {name: app, hosts: [web1, web2], command: \"/bin/true\",\n"
    "     depends_on: [\"db1!mysql\", {check: \"db2!mysql\", group: db}]}\n"
    "  - {name: backup-result, host: web1, type: passive, freshness: 26h,\n"
    "     stale_state: critical}\n"
    "heartbeats:\n"
    "  - {name: archive-job, key: \"22222222222222222222222222222222\", period: 1h,\n"
    "     grace: 10m, max_runtime: 30m, min_value: 30000, labels: {service: archive}}\n"
    "downtimes:\n"
    "  - {name: sunday-patching, host: web1, children: true,\n"
    "     recurring: {freq: weekly, days: [sun], at: \"02:00\", duration: 4h,\n"
    "                 time_zone: Europe/Berlin}}\n"
    "  - {name: migration, matchers: ['site=\"stuttgart\"'], start: \"2026-12-01T22:00:00Z\",\n"
    "     end: \"2026-12-02T02:00:00Z\"}\n";

static void test_issue_shape(void **state)
{
    struct dir d;
    struct cfg_errors errs = {0};
    dir_new(&d);
    dir_write(&d, "hosts.csv",
              "name,address,parents,role,site\n"
              "web2,10.0.0.2,,web,berlin\n"
              "db1,10.0.0.11,,db,berlin\n");
    dir_write(&d, "more-hosts.yaml", "- {name: db2, address: 10.0.0.12, labels: {role: db}}\n");
    const char *path = dir_write(&d, "tocsin.yaml", issue_yaml);
    struct config *cfg = config_load_file(path, &errs);
    if (!cfg)
        dump(&errs);
    assert_non_null(cfg);

    assert_int_equal(cfg->scheduler.max_concurrent, 8);
    assert_int_equal(cfg->scheduler.max_output, 65536);
    assert_int_equal(cfg->n_hosts, 6);
    assert_string_equal(cfg->hosts[3].name, "web2");
    assert_string_equal(cfg->hosts[5].name, "db2");
    const struct cfg_host *p = config_find_host(cfg, "p-0042");
    assert_non_null(p);
    assert_int_equal(p->n_parents, 1);
    assert_string_equal(p->parents[0], "sw-stuttgart");
    assert_int_equal(p->check, -1);
    assert_string_equal(labels_get(&config_find_host(cfg, "web2")->labels, "site"), "berlin");

    /* Host check, then disk, ipp, portal, 2 x mysql, 2 x app, backup-result. */
    assert_int_equal(cfg->n_checks, 9);
    const struct cfg_host *sw = config_find_host(cfg, "sw-stuttgart");
    assert_true(sw->check >= 0);
    const struct cfg_check *hc = &cfg->checks[sw->check];
    assert_true(hc->is_host);
    assert_string_equal(hc->id, "sw-stuttgart");
    assert_string_equal(hc->name, "");
    assert_int_equal(hc->type, CHECK_TYPE_TCP);
    assert_int_equal(hc->port, 22);
    assert_string_equal(hc->address, "10.1.2.1");
    assert_int_equal(hc->timeout_ms, 10000);
    assert_string_equal(labels_get(&hc->labels, "host"), "sw-stuttgart");
    assert_null(labels_get(&hc->labels, "check"));

    const struct cfg_check *disk = check(cfg, "web1!disk");
    assert_int_equal(disk->type, CHECK_TYPE_COMMAND);
    assert_string_equal(disk->command, "/usr/lib/nagios/plugins/check_disk -w 20% -c 10% -p /");
    assert_int_equal(disk->interval_ms, 60000);
    assert_int_equal(disk->retry_interval_ms, 10000);
    assert_int_equal(disk->timeout_ms, 10000);
    assert_int_equal(disk->max_attempts, 3);
    assert_string_equal(disk->notes, "...");
    assert_string_equal(disk->runbook, "https://wiki/disk");
    assert_string_equal(labels_get(&disk->labels, "team"), "ops");
    assert_string_equal(labels_get(&disk->labels, "role"), "web");
    assert_string_equal(labels_get(&disk->labels, "host"), "web1");
    assert_string_equal(labels_get(&disk->labels, "check"), "disk");
    assert_true(disk->flap_detection);
    assert_true(disk->flap_low == 20 && disk->flap_high == 30);
    assert_int_equal(disk->severity, SEV_CRITICAL);
    assert_null(config_find_check(cfg, "p-0042!disk"));

    const struct cfg_check *ipp = check(cfg, "p-0042!ipp");
    assert_int_equal(ipp->type, CHECK_TYPE_TCP);
    assert_int_equal(ipp->port, 9100); /* the host's override */
    assert_int_equal(ipp->interval_ms, 30000);
    assert_int_equal(ipp->retry_interval_ms, 30000);
    assert_string_equal(ipp->address, "10.1.2.42");
    assert_null(ipp->env);

    const struct cfg_check *portal = check(cfg, "web1!portal");
    assert_int_equal(portal->type, CHECK_TYPE_HTTP);
    assert_int_equal(portal->expect_status, 200);
    assert_true(portal->verify_tls);
    assert_int_equal(portal->cert_warn_days, 14);
    assert_int_equal(portal->cert_crit_days, 7);

    assert_string_equal(check(cfg, "db2!mysql")->command,
                        "/usr/lib/nagios/plugins/check_mysql -H 10.0.0.12");
    const struct cfg_check *app = check(cfg, "web2!app");
    assert_int_equal(app->n_deps, 2);
    assert_string_equal(app->deps[0].target, "db1!mysql");
    assert_null(app->deps[0].group);
    assert_string_equal(app->deps[1].target, "db2!mysql");
    assert_string_equal(app->deps[1].group, "db");

    const struct cfg_check *backup = check(cfg, "web1!backup-result");
    assert_int_equal(backup->type, CHECK_TYPE_PASSIVE);
    assert_int_equal(backup->freshness_ms, 26 * 3600 * 1000LL);
    assert_int_equal(backup->stale_state, 2);

    assert_int_equal(cfg->n_heartbeats, 1);
    const struct cfg_heartbeat *hb =
        config_find_heartbeat_key(cfg, "22222222222222222222222222222222");
    assert_ptr_equal(hb, &cfg->heartbeats[0]);
    assert_int_equal(hb->period_ms, 3600000);
    assert_int_equal(hb->grace_ms, 600000);
    assert_int_equal(hb->max_runtime_ms, 1800000);
    assert_true(hb->has_min_value);
    assert_true(hb->min_value == 30000);
    assert_string_equal(labels_get(&hb->labels, "service"), "archive");
    assert_null(config_find_heartbeat_key(cfg, "22222222222222222222222222222223"));
    assert_null(config_find_heartbeat_key(cfg, "2222222222222222"));

    assert_int_equal(cfg->n_downtimes, 2);
    const struct cfg_downtime *dt = &cfg->downtimes[0];
    assert_string_equal(dt->host, "web1");
    assert_null(dt->check);
    assert_true(dt->children);
    assert_int_equal(dt->recur.freq, RECUR_WEEKLY);
    assert_int_equal(dt->recur.weekdays, 1);
    assert_int_equal(dt->recur.start_minute, 120);
    assert_int_equal(dt->recur.duration_ms, 4 * 3600000);
    assert_string_equal(tz_name(dt->recur.tz), "Europe/Berlin");
    dt = &cfg->downtimes[1];
    assert_null(dt->host);
    assert_int_equal(dt->n_matchers, 1);
    assert_string_equal(dt->matchers[0].name, "site");
    assert_int_equal(dt->recur.freq, RECUR_ONCE);
    assert_int_equal(dt->recur.start_ms, 1796162400000LL);
    assert_int_equal(dt->recur.duration_ms, 4 * 3600000);

    config_free(cfg);
    dir_free(&d);
}

static void test_apply(void **state)
{
    struct config *cfg = load_ok("hosts:\n"
                                 "  - {name: a, labels: {role: printer, site: x}}\n"
                                 "  - {name: b, labels: {role: printer, site: y}}\n"
                                 "  - {name: c, labels: {role: web, site: x}}\n"
                                 "  - {name: d}\n"
                                 "checks:\n"
                                 "  - {name: ipp, apply: {role: printer}, type: tcp, port: 631}\n"
                                 "  - {name: x, apply: {role: printer, site: x}, type: passive}\n"
                                 "  - {name: re, apply: ['role=~\"print.*|web\"', 'site!=\"y\"'],\n"
                                 "     type: passive}\n"
                                 "  - {name: none, apply: {role: nothing}, type: passive}\n"
                                 "  - {name: byname, apply: ['host=~\"[cd]\"'], type: passive}\n"
                                 "  - {name: nolabel, apply: ['role=\"\"'], type: passive}\n");
    assert_int_equal(cfg->n_checks, 2 + 1 + 2 + 0 + 2 + 1);
    check(cfg, "a!ipp");
    check(cfg, "b!ipp");
    assert_null(config_find_check(cfg, "c!ipp"));
    check(cfg, "a!x");
    check(cfg, "a!re");
    check(cfg, "c!re");
    check(cfg, "c!byname");
    check(cfg, "d!byname");
    check(cfg, "d!nolabel");
    /* Instances are grouped by check, in host order. */
    assert_string_equal(cfg->checks[0].id, "a!ipp");
    assert_string_equal(cfg->checks[1].id, "b!ipp");
    config_free(cfg);
}

static void test_templates(void **state)
{
    struct config *cfg =
        load_ok("templates:\n"
                "  - {name: base, interval: 5m, max_attempts: 5, severity: warning,\n"
                "     labels: {team: ops, tier: base}}\n"
                "  - {name: fast, use: base, interval: 1m, labels: {tier: fast}}\n"
                "  - {name: quiet, flap_detection: false, max_attempts: 2}\n"
                "  - {name: later, use: [fast, quiet], timeout: 5s}\n"
                "hosts:\n"
                "  - {name: h1, labels: {team: web}}\n"
                "  - {name: h2, overrides: {c1: {interval: 2m, labels: {tier: h2}},\n"
                "                          c2: {disable: true}}}\n"
                "checks:\n"
                "  - {name: c1, hosts: [h1, h2], command: /bin/true, use: later,\n"
                "     labels: {extra: yes}}\n"
                "  - {name: c2, hosts: [h1, h2], command: /bin/true, use: [quiet, fast]}\n"
                "  - {name: c3, host: h1, command: /bin/true, use: base, interval: 10s,\n"
                "     retry_interval: 2s, max_attempts: 1}\n");
    const struct cfg_check *c1 = check(cfg, "h1!c1");
    assert_int_equal(c1->interval_ms, 60000);       /* fast over base */
    assert_int_equal(c1->retry_interval_ms, 60000); /* defaults to interval */
    assert_int_equal(c1->max_attempts, 2);          /* quiet comes after fast */
    assert_false(c1->flap_detection);
    assert_int_equal(c1->timeout_ms, 5000);
    assert_int_equal(c1->severity, SEV_WARNING);
    assert_string_equal(labels_get(&c1->labels, "team"), "ops"); /* template over host */
    assert_string_equal(labels_get(&c1->labels, "tier"), "fast");
    assert_string_equal(labels_get(&c1->labels, "extra"), "yes");

    const struct cfg_check *c1h2 = check(cfg, "h2!c1");
    assert_int_equal(c1h2->interval_ms, 120000); /* the host's override last */
    assert_string_equal(labels_get(&c1h2->labels, "tier"), "h2");
    assert_string_equal(labels_get(&c1h2->labels, "team"), "ops");

    const struct cfg_check *c2 = check(cfg, "h1!c2");
    assert_int_equal(c2->max_attempts, 5); /* fast (via base) comes after quiet */
    assert_false(c2->flap_detection);
    assert_null(config_find_check(cfg, "h2!c2"));

    const struct cfg_check *c3 = check(cfg, "h1!c3");
    assert_int_equal(c3->interval_ms, 10000); /* the check over its template */
    assert_int_equal(c3->retry_interval_ms, 2000);
    assert_int_equal(c3->max_attempts, 1);
    assert_int_equal(c3->timeout_ms, 60000);
    assert_int_equal(cfg->n_checks, 4);
    config_free(cfg);
}

static void test_macros(void **state)
{
    struct config *cfg = load_ok(
        "scheduler: {plugin_dir: /opt/plugins}\n"
        "hosts:\n"
        "  - {name: web1, address: 192.0.2.1, labels: {snmp_community: s3cret, site: b}}\n"
        "  - {name: db1, check: \"$USER1$/check_ping -H $HOSTADDRESS$ -w 100,20% -c 500,60%\"}\n"
        "checks:\n"
        "  - {name: m, host: web1,\n"
        "     command: \"$USER1$/x $HOSTNAME$ $HOSTALIAS$ $SERVICEDESC$ $ARG1$ '$ARG2$' $ARG9$ "
        "$$5 $_HOSTsnmp_community$ $_HOSTSITE$ $_HOSTnone$\",\n"
        "     args: [\"-H $HOSTADDRESS$\", 42]}\n"
        "  - {name: web, host: web1, type: http, url: \"http://$HOSTADDRESS$:8080/healthz\"}\n"
        "  - {name: ssh, host: web1, type: tcp, port: 22, address: \"ssh.$HOSTNAME$\"}\n"
        "  - {name: dep, host: web1, type: passive, depends_on: [\"$HOSTNAME$!ssh\", db1]}\n");
    const struct cfg_check *m = check(cfg, "web1!m");
    assert_string_equal(m->command, "/opt/plugins/x web1 web1 m -H 192.0.2.1 '42'  $5 s3cret b ");
    assert_string_equal(env_get(m, "TOCSIN_HOSTNAME"), "web1");
    assert_string_equal(env_get(m, "TOCSIN_HOSTADDRESS"), "192.0.2.1");
    assert_string_equal(env_get(m, "TOCSIN_CHECK"), "m");
    assert_string_equal(env_get(m, "NAGIOS_HOSTNAME"), "web1");
    assert_string_equal(env_get(m, "NAGIOS_HOSTADDRESS"), "192.0.2.1");
    assert_string_equal(env_get(m, "NAGIOS_SERVICEDESC"), "m");
    assert_string_equal(env_get(m, "LC_ALL"), "C");

    const struct cfg_check *ping = check(cfg, "db1");
    assert_true(ping->is_host);
    assert_string_equal(ping->command, "/opt/plugins/check_ping -H db1 -w 100,20% -c 500,60%");
    assert_string_equal(env_get(ping, "TOCSIN_HOSTADDRESS"), "db1");
    assert_null(env_get(ping, "TOCSIN_CHECK"));
    assert_int_equal(ping->timeout_ms, 60000);

    const struct cfg_check *web = check(cfg, "web1!web");
    assert_string_equal(web->url, "http://192.0.2.1:8080/healthz");
    assert_int_equal(web->cert_warn_days, 0);
    assert_string_equal(check(cfg, "web1!ssh")->address, "ssh.web1");
    const struct cfg_check *dep = check(cfg, "web1!dep");
    assert_int_equal(dep->n_deps, 2);
    assert_string_equal(dep->deps[0].target, "web1!ssh");
    assert_string_equal(dep->deps[1].target, "db1");
    config_free(cfg);
}

static void test_host_files(void **state)
{
    struct dir d;
    struct cfg_errors errs = {0};
    dir_new(&d);
    dir_write(&d, "hosts.csv",
              "\xef\xbb\xbf# inventory export, with a byte order mark\n"
              "name,address,parents,site,\"rack, row\"\r\n"
              "\r\n"
              "core,10.0.0.1,,\"Berlin, DE\",\n"
              "sw1, 10.0.0.2 ,core,berlin,\"r1\"\"a\"\n"
              "p1,,sw1;core,,r2\n"
              "p2,10.0.0.4,\"sw1 core\"\n");
    dir_write(&d, "more.yml", "- name: y1\n  parents: [p1]\n  labels: {site: x}\n");
    const char *path = dir_write(&d, "c.yaml",
                                 "host_files: [hosts.csv, more.yml]\n"
                                 "hosts: [{name: first}]\n"
                                 "checks:\n"
                                 "  - {name: ping, apply: {site: berlin}, type: passive}\n");
    struct config *cfg = config_load_file(path, &errs);
    if (!cfg)
        dump(&errs);
    assert_non_null(cfg);
    assert_int_equal(cfg->n_hosts, 6);
    assert_string_equal(cfg->hosts[0].name, "first");
    const struct cfg_host *h = config_find_host(cfg, "core");
    assert_string_equal(h->address, "10.0.0.1");
    assert_string_equal(labels_get(&h->labels, "site"), "Berlin, DE");
    assert_null(labels_get(&h->labels, "rack, row"));
    h = config_find_host(cfg, "sw1");
    assert_string_equal(h->address, "10.0.0.2");
    assert_string_equal(labels_get(&h->labels, "rack, row"), "r1\"a");
    h = config_find_host(cfg, "p1");
    assert_string_equal(h->address, "p1");
    assert_int_equal(h->n_parents, 2);
    assert_string_equal(h->parents[1], "core");
    assert_int_equal(h->labels.n, 1);
    assert_int_equal(config_find_host(cfg, "p2")->n_parents, 2);
    assert_string_equal(config_find_host(cfg, "y1")->parents[0], "p1");
    assert_int_equal(cfg->n_checks, 1);
    check(cfg, "sw1!ping");
    config_free(cfg);

    /* Errors point into the host file, at the cell. */
    dir_write(&d, "bad.csv",
              "name,address,parents,role\n"
              "ok1,10.0.0.1,,a\n"
              "bad!name,,,b\n"
              "ok2,,nosuch,c\n"
              "ok1,,,d\n");
    dir_write(&d, "bad.yaml", "- {name: y1, parents: [ok2], lables: {}}\n- 42\n");
    path = dir_write(&d, "c2.yaml",
                     "host_files: [bad.csv, bad.yaml, missing.csv, hosts.txt]\n"
                     "checks: [{name: x, host: ok3, type: passive}]\n");
    assert_null(config_load_file(path, &errs));
    char want[8][512];
    snprintf(want[0], sizeof(want[0]),
             "%s/bad.csv:3:1: host names must be 1 to 128 characters of A-Z, a-z, 0-9, '_', "
             "'.', ':' and '-'",
             d.path);
    snprintf(want[1], sizeof(want[1]),
             "%s/bad.csv:5:1: duplicate host \"ok1\" (first defined at %s/bad.csv:2:1)", d.path,
             d.path);
    snprintf(want[2], sizeof(want[2]), "%s/bad.csv:4:6: unknown parent host \"nosuch\"", d.path);
    snprintf(want[3], sizeof(want[3]), "%s/bad.yaml:1:30: unknown key \"lables\"", d.path);
    snprintf(want[4], sizeof(want[4]), "%s/bad.yaml:2:3: each host must be a mapping, not a number",
             d.path);
    snprintf(want[5], sizeof(want[5]),
             "%s:1:33: cannot read host file \"%s/missing.csv\": No such file or directory", path,
             d.path);
    snprintf(want[6], sizeof(want[6]),
             "%s:1:46: host file \"hosts.txt\" must end in .csv, .yaml, .yml or .json", path);
    snprintf(want[7], sizeof(want[7]), "%s:2:26: unknown host \"ok3\"", path);
    bool ok = errs.n == 8;
    for (size_t i = 0; i < 8; i++) {
        bool found = false;
        for (size_t j = 0; j < errs.n && !found; j++)
            found = strcmp(errs.msgs[j], want[i]) == 0;
        if (!found)
            fprintf(stderr, "missing: %s\n", want[i]);
        ok &= found;
    }
    if (!ok)
        dump(&errs);
    assert_true(ok);
    cfg_errors_free(&errs);

    /* CSV syntax errors stop the file at their position. */
    dir_write(&d, "syntax.csv", "name,site\nh1,\"unterminated\n");
    path = dir_write(&d, "c3.yaml", "host_files: [syntax.csv]\n");
    assert_null(config_load_file(path, &errs));
    assert_int_equal(errs.n, 1);
    snprintf(want[0], sizeof(want[0]), "%s/syntax.csv:2:4: unterminated quoted cell", d.path);
    assert_string_equal(errs.msgs[0], want[0]);
    cfg_errors_free(&errs);
    dir_write(&d, "noname.csv", "host,site\nh1,x\n");
    path = dir_write(&d, "c4.yaml", "host_files: [noname.csv]\n");
    assert_null(config_load_file(path, &errs));
    assert_int_equal(errs.n, 1);
    snprintf(want[0], sizeof(want[0]),
             "%s/noname.csv:1:1: the header row must have a \"name\" column", d.path);
    assert_string_equal(errs.msgs[0], want[0]);
    cfg_errors_free(&errs);
    dir_free(&d);
}

/* 4,000 hosts from a CSV file and three apply rules: the hash maps keep
 * this linear; the test only checks that it loads and expands correctly. */
static void test_many_hosts(void **state)
{
    struct dir d;
    struct cfg_errors errs = {0};
    size_t cap = 4000 * 80 + 64, len = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    dir_new(&d);
    len += (size_t)snprintf(csv + len, cap - len, "name,address,parents,role,site\n");
    len += (size_t)snprintf(csv + len, cap - len, "sw-0,10.0.0.1,,switch,s0\n");
    for (int i = 1; i < 4000; i++)
        len +=
            (size_t)snprintf(csv + len, cap - len, "h-%04d,10.%d.%d.%d,sw-0,%s,s%d\n", i, i / 65536,
                             (i / 256) % 256, i % 256, i % 2 ? "printer" : "pc", i % 10);
    dir_write(&d, "hosts.csv", csv);
    free(csv);
    const char *path = dir_write(
        &d, "c.yaml",
        "host_files: [hosts.csv]\n"
        "hosts: [{name: extra, check: \"/bin/true\"}]\n"
        "checks:\n"
        "  - {name: ping, apply: ['role=~\"printer|pc\"'], command: \"check_ping -H "
        "$HOSTADDRESS$\"}\n"
        "  - {name: ipp, apply: {role: printer}, type: tcp, port: 631,\n"
        "     depends_on: [\"$HOSTNAME$!ping\"]}\n"
        "  - {name: web, apply: {site: s3}, type: http, url: \"http://$HOSTADDRESS$/\"}\n");
    struct config *cfg = config_load_file(path, &errs);
    if (!cfg)
        dump(&errs);
    assert_non_null(cfg);
    assert_int_equal(cfg->n_hosts, 4001);
    assert_int_equal(cfg->n_checks, 1 + 3999 + 2000 + 400);
    const struct cfg_check *ipp = check(cfg, "h-3999!ipp");
    assert_string_equal(ipp->deps[0].target, "h-3999!ping");
    assert_string_equal(ipp->address, "10.0.15.159");
    assert_string_equal(check(cfg, "h-0013!web")->url, "http://10.0.0.13/");
    assert_ptr_equal(config_find_host(cfg, "h-2000"), &cfg->hosts[2001]);
    config_free(cfg);
    dir_free(&d);
}

/* ---- Errors ---- */

static void test_host_errors(void **state)
{
    expect_errors("hosts:\n"
                  "  - {name: a, parents: [b]}\n"
                  "  - {name: b, parents: [c]}\n"
                  "  - {name: c, parents: [a, nosuch]}\n"
                  "  - {name: self, parents: [self]}\n"
                  "  - {name: 'x!y', address: ''}\n"
                  "  - {name: a}\n"
                  "  - {address: z, check: 42, labels: {n: 1}}\n",
                  "t.yaml:4:28: unknown parent host \"nosuch\"",
                  "t.yaml:4:25: parent cycle: a -> b -> c -> a",
                  "t.yaml:5:28: parent cycle: self -> self",
                  "t.yaml:6:12: host names must be 1 to 128 characters of A-Z, a-z, 0-9, '_', '.', "
                  "':' and '-'",
                  "t.yaml:6:28: address must not be empty or hold spaces",
                  "t.yaml:7:12: duplicate host \"a\" (first defined at t.yaml:2:12)",
                  "t.yaml:8:5: missing required field \"name\"",
                  "t.yaml:8:25: check must be a command line or a mapping, not a number",
                  "t.yaml:8:37: invalid labels: label \"n\" must be a string", NULL);
}

static void test_check_errors(void **state)
{
    expect_errors(
        "hosts: [{name: h, labels: {role: r}}, {name: g, labels: {role: r}}]\n"
        "checks:\n"
        "  - {name: a, host: nosuch, command: x}\n"
        "  - {name: b, host: h, apply: {role: r}, command: x}\n"
        "  - {name: c, host: h, type: tcp}\n"
        "  - {name: d, host: h, type: http}\n"
        "  - {name: e, host: h}\n"
        "  - {name: f, host: h, type: tcp, port: 70000, interval: 5 minutes}\n"
        "  - {name: g, host: h, command: x, timeout: 0, retry_interval: 0s}\n"
        "  - {name: h, host: h, command: \"$HOSTNAME$ $BOGUS$\"}\n"
        "  - {name: i, host: h, command: \"$USER1$/x $ARG1\"}\n"
        "  - {name: j, apply: {role: r}, type: tcp}\n"
        "  - {name: k, host: h, command: x, depends_on: [nosuch, \"h!zz\", {group: g}, 5]}\n"
        "  - {name: a, host: h, command: x}\n"
        "  - {name: a, host: h, command: y}\n"
        "  - {name: l, hosts: [h, zz], command: x, url: ftp://x, type: nope}\n"
        "  - {name: m, host: h, command: x, use: nosuch}\n"
        "  - {command: x}\n"
        "  - {name: 'n!o', host: h, command: x, bogus: 1}\n"
        "  - {name: p, host: h, type: http, url: 'https://x', expect_body: '(', flap_low: 40}\n"
        "  - {name: q, apply: ['role=~\"(\"'], type: passive, stale_state: dead}\n"
        "  - {name: r, host: h, type: passive, depends_on: [\"$HOSTNAME$!r\"]}\n"
        "  - {name: s, host: h, type: passive, flap_low: 40}\n",
        "t.yaml:3:21: unknown host \"nosuch\"", "t.yaml:4:24: apply cannot be combined with host",
        "t.yaml:5:5: a tcp check needs a port", "t.yaml:6:5: an http check needs a url",
        "t.yaml:7:5: missing required field \"command\" (or a type: tcp, http or passive)",
        "t.yaml:8:41: port must be between 1 and 65535",
        "t.yaml:8:58: interval must be a duration such as \"30s\" or \"5m\"",
        "t.yaml:9:45: timeout must be greater than zero",
        "t.yaml:9:64: retry_interval must be greater than zero",
        "t.yaml:10:33: unknown macro $BOGUS$",
        "t.yaml:11:33: unterminated macro \"$ARG1\" (write $$ for a dollar sign)",
        "t.yaml:12:5: a tcp check needs a port", "t.yaml:13:65: missing required field \"check\"",
        "t.yaml:13:77: depends_on entries must be \"HOST\", \"HOST!CHECK\" or {check: ..., group: "
        "...}, not a number",
        "t.yaml:15:12: duplicate check \"h!a\" (first defined at t.yaml:14:12)",
        "t.yaml:16:26: unknown host \"zz\"",
        "t.yaml:16:48: url must start with http:// or https://",
        "t.yaml:16:63: invalid type \"nope\" (expected command, tcp, http or passive)",
        "t.yaml:17:41: unknown template \"nosuch\"", "t.yaml:18:5: missing required field \"name\"",
        "t.yaml:18:5: a check needs one of host, hosts or apply",
        "t.yaml:19:12: check names must not contain '!' or '$'",
        "t.yaml:19:40: unknown key \"bogus\"",
        "t.yaml:20:67: invalid regular expression \"(\": Unmatched ( or \\(",
        "t.yaml:21:23: invalid matcher \"role=~\"(\"\": invalid regular expression \"(\": "
        "Unmatched ( or "
        "\\(",
        "t.yaml:21:65: stale_state must be ok, warning, critical or unknown",
        "t.yaml:22:52: check \"h!r\" cannot depend on itself",
        "t.yaml:23:5: flap_low (40) must be below flap_high (30)", NULL);

    /* Dependencies are resolved per host after expansion. */
    expect_errors("hosts: [{name: a, labels: {r: x}}, {name: b, labels: {r: x}}, {name: c}]\n"
                  "checks:\n"
                  "  - {name: ping, host: a, type: passive}\n"
                  "  - {name: svc, apply: {r: x}, type: passive, depends_on: [\"$HOSTNAME$!ping\", "
                  "c, \"a!ping\"]}\n",
                  "t.yaml:4:60: unknown dependency target \"b!ping\"",
                  "t.yaml:4:79: unknown dependency target \"c\" (a host without a check: cannot "
                  "be depended on)",
                  NULL);

    /* Checks that would hold back each other's alerts: directly, and through
     * a host check and a parent. A chain without a way back is fine. */
    expect_errors("hosts:\n"
                  "  - {name: a, check: {type: passive, depends_on: [\"b!y\"]}}\n"
                  "  - {name: b, parents: [a], check: {type: passive}}\n"
                  "  - {name: c}\n"
                  "checks:\n"
                  "  - {name: x, host: c, type: passive, depends_on: [\"c!y\"]}\n"
                  "  - {name: y, host: c, type: passive, depends_on: [\"c!x\"]}\n"
                  "  - {name: y, host: b, type: passive}\n"
                  "  - {name: z, host: c, type: passive, depends_on: [\"b!y\", \"c!w\"]}\n"
                  "  - {name: w, host: c, type: passive}\n",
                  "t.yaml:2:50: dependency cycle: a -> b!y -> b -> a (each would hold back the "
                  "others' alerts)",
                  "t.yaml:7:51: dependency cycle: c!x -> c!y -> c!x (each would hold back the "
                  "others' alerts)",
                  NULL);
}

static void test_template_errors(void **state)
{
    expect_errors("templates:\n"
                  "  - {name: a, use: b}\n"
                  "  - {name: b, use: [c]}\n"
                  "  - {name: c, use: a, interval: never}\n"
                  "  - {name: d, use: [d]}\n"
                  "  - {name: a}\n"
                  "  - {name: e, use: 5, host: h}\n"
                  "hosts:\n"
                  "  - {name: h, overrides: {nosuch: {port: 1}, x: {disable: maybe}, y: 3}}\n"
                  "checks:\n"
                  "  - {name: x, host: h, use: [a, e], type: passive}\n",
                  "t.yaml:4:20: template cycle: a -> b -> c -> a",
                  "t.yaml:4:33: interval must be a duration such as \"30s\" or \"5m\"",
                  "t.yaml:5:21: template cycle: d -> d",
                  "t.yaml:6:12: duplicate template name \"a\" (first defined at line 2)",
                  "t.yaml:7:20: use must be a template name or a list of them, not a number",
                  "t.yaml:7:23: unknown key \"host\"",
                  "t.yaml:9:27: overrides: no check is named \"nosuch\"",
                  "t.yaml:9:59: disable must be true or false",
                  "t.yaml:9:67: overrides: no check is named \"y\"",
                  "t.yaml:9:70: overrides.y must be a mapping of check fields, not a number", NULL);
}

static void test_scheduler(void **state)
{
    struct config *cfg = load_ok("scheduler: {max_concurrent: 3, max_probes: 10, max_output: "
                                 "\"1MiB\", plugin_dir: /opt/p}\n");
    assert_int_equal(cfg->scheduler.max_concurrent, 3);
    assert_int_equal(cfg->scheduler.max_probes, 10);
    assert_int_equal(cfg->scheduler.max_output, 1048576);
    assert_string_equal(cfg->scheduler.plugin_dir, "/opt/p");
    config_free(cfg);
    cfg = load_ok("scheduler: {max_output: 4096}\n");
    assert_int_equal(cfg->scheduler.max_output, 4096);
    assert_string_equal(cfg->scheduler.plugin_locale, "C");
    config_free(cfg);
    /* A locale of the operator's choice, or none: the server's own. */
    cfg = load_ok("scheduler: {plugin_locale: de_DE.UTF-8@euro}\n"
                  "hosts: [{name: h, address: 192.0.2.1}]\n"
                  "checks: [{name: c, host: h, command: /bin/true}]\n");
    assert_string_equal(env_get(check(cfg, "h!c"), "LC_ALL"), "de_DE.UTF-8@euro");
    config_free(cfg);
    cfg = load_ok("scheduler: {plugin_locale: ''}\n"
                  "hosts: [{name: h, address: 192.0.2.1}]\n"
                  "checks: [{name: c, host: h, command: /bin/true}]\n");
    assert_null(env_get(check(cfg, "h!c"), "LC_ALL"));
    config_free(cfg);
    expect_errors("scheduler: {plugin_locale: \"C; rm -rf /\"}\n",
                  "t.yaml:1:28: plugin_locale must be a locale name such as C or de_DE.UTF-8 (at "
                  "most 64 characters of A-Z a-z 0-9 _ . @ -), or \"\" for the server's own",
                  NULL);
    expect_errors("scheduler: {max_concurrent: 0, max_output: 12 parsecs, plugin_dir: '', x: 1}\n",
                  "t.yaml:1:29: max_concurrent must be between 1 and 4096",
                  "t.yaml:1:44: max_output must be a size such as \"512MB\" or \"32MiB\" (or a "
                  "number of bytes)",
                  "t.yaml:1:68: plugin_dir must not be empty", "t.yaml:1:72: unknown key \"x\"",
                  NULL);
}

static void test_heartbeats(void **state)
{
    setenv("TOCSIN_TEST_HB_KEY", "abcdefghijklmnop-_0123", 1);
    struct config *cfg =
        load_ok("heartbeats:\n"
                "  - {name: a, key: \"env:TOCSIN_TEST_HB_KEY\", period: 1d, severity: warning}\n"
                "  - {name: b, key: \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\", period: 5m}\n");
    assert_int_equal(cfg->n_heartbeats, 2);
    assert_ptr_equal(config_find_heartbeat_key(cfg, "abcdefghijklmnop-_0123"), &cfg->heartbeats[0]);
    assert_ptr_equal(config_find_heartbeat_key(cfg, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
                     &cfg->heartbeats[1]);
    assert_null(config_find_heartbeat_key(cfg, ""));
    assert_int_equal(cfg->heartbeats[0].severity, SEV_WARNING);
    assert_int_equal(cfg->heartbeats[1].grace_ms, 300000);
    assert_false(cfg->heartbeats[1].has_min_value);
    config_free(cfg);

    expect_errors("heartbeats:\n"
                  "  - {name: a, key: \"short\", period: 1h}\n"
                  "  - {name: b, key: \"has spaces in it, sadly\", period: 1h}\n"
                  "  - {name: c, key: \"cccccccccccccccccccc\", period: 0}\n"
                  "  - {name: c, key: \"cccccccccccccccccccc\", min_value: x}\n"
                  "  - {name: e, key: \"env:TOCSIN_TEST_HB_UNSET\", period: 1h}\n",
                  "t.yaml:2:20: key must be at least 16 characters",
                  "t.yaml:3:20: key must be 16 to 128 characters of A-Z, a-z, 0-9, '_' and '-'",
                  "t.yaml:4:52: period must be greater than zero",
                  "t.yaml:5:5: missing required field \"period\"",
                  "t.yaml:5:12: duplicate heartbeat name \"c\" (first defined at line 4)",
                  "t.yaml:5:20: duplicate heartbeat key (same as line 4)",
                  "t.yaml:5:55: min_value must be a number",
                  "t.yaml:6:20: environment variable TOCSIN_TEST_HB_UNSET is not set", NULL);
}

static void test_downtimes(void **state)
{
    struct config *cfg = load_ok(
        "hosts: [{name: h, check: /bin/true}]\n"
        "checks: [{name: disk, host: h, command: /bin/true}]\n"
        "downtimes:\n"
        "  - {name: a, check: \"h!disk\", comment: c,\n"
        "     recurring: {freq: monthly, monthday: last, at: \"23:30\", duration: 1h,\n"
        "                 from: \"2026-01-01T00:00:00Z\", until: \"2027-01-01T00:00:00Z\"}}\n"
        "  - {name: b, host: h, recurring: {freq: daily, days: [weekdays], at: \"08:00\",\n"
        "                                   duration: 30m}}\n");
    const struct cfg_downtime *d = &cfg->downtimes[0];
    assert_string_equal(d->host, "h");
    assert_string_equal(d->check, "disk");
    assert_string_equal(d->comment, "c");
    assert_int_equal(d->recur.freq, RECUR_MONTHLY);
    assert_int_equal(d->recur.monthday, -1);
    assert_int_equal(d->recur.start_minute, 23 * 60 + 30);
    assert_int_equal(d->recur.start_ms, 1767225600000LL);
    assert_int_equal(d->recur.until_ms, 1798761600000LL);
    assert_string_equal(tz_name(d->recur.tz), "UTC");
    d = &cfg->downtimes[1];
    assert_int_equal(d->recur.freq, RECUR_DAILY);
    assert_int_equal(d->recur.weekdays, 0x3e);
    assert_false(d->children);
    config_free(cfg);

    expect_errors(
        "hosts: [{name: h}]\n"
        "downtimes:\n"
        "  - {name: a, host: nosuch, recurring: {freq: weekly, days: [sun], at: \"2:00\",\n"
        "                                          duration: 1h, time_zone: Mars/Olympus}}\n"
        "  - {name: b, host: h, recurring: {freq: weekly, days: [sun, caturday], at: \"24:00\",\n"
        "                                    duration: 1h}}\n"
        "  - {name: c, check: \"h!nosuch\", start: \"2026-12-02T02:00:00Z\",\n"
        "     end: \"2026-12-01T22:00:00Z\"}\n"
        "  - {name: d, matchers: ['site=~\"(\"'], children: true, start: yesterday}\n"
        "  - {name: e, host: h, check: h, recurring: {freq: hourly, at: \"01:00\"}}\n"
        "  - {name: f, host: h, recurring: {freq: weekly, at: \"01:00\", duration: 1h,\n"
        "                                   monthday: 3}}\n"
        "  - {name: a, host: h}\n",
        "t.yaml:3:21: unknown host \"nosuch\"",
        "t.yaml:3:72: at must be a time of day \"HH:MM\" (00:00 to 23:59)",
        "t.yaml:4:68: unknown time zone \"Mars/Olympus\": No such file or directory",
        "t.yaml:5:62: unknown weekday \"caturday\" (use sun..sat, full names, weekdays or "
        "weekends)",
        "t.yaml:5:77: at must be a time of day \"HH:MM\" (00:00 to 23:59)",
        "t.yaml:7:22: unknown check \"h!nosuch\"", "t.yaml:8:11: end must be after start",
        "t.yaml:9:5: missing required field \"end\"",
        "t.yaml:9:26: invalid matcher \"site=~\"(\"\": invalid regular expression \"(\": Unmatched "
        "( or "
        "\\(",
        "t.yaml:9:40: children applies to a host downtime only",
        "t.yaml:9:63: start must be an RFC 3339 time such as \"2026-12-01T22:00:00Z\"",
        "t.yaml:10:24: check cannot be combined with host",
        "t.yaml:10:31: check must be a check id \"HOST!CHECK\" (use host: for a whole host)",
        "t.yaml:10:34: missing required field \"duration\"",
        "t.yaml:10:52: invalid freq \"hourly\" (expected daily, weekly or monthly)",
        "t.yaml:11:24: freq: weekly needs days",
        "t.yaml:12:36: monthday applies to freq: monthly only",
        "t.yaml:13:5: a downtime needs recurring, or start and end",
        "t.yaml:13:12: duplicate downtime name \"a\" (first defined at line 3)", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_issue_shape),
        cmocka_unit_test(test_apply),        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_macros),       cmocka_unit_test(test_host_files),
        cmocka_unit_test(test_many_hosts),   cmocka_unit_test(test_host_errors),
        cmocka_unit_test(test_check_errors), cmocka_unit_test(test_template_errors),
        cmocka_unit_test(test_scheduler),    cmocka_unit_test(test_heartbeats),
        cmocka_unit_test(test_downtimes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
