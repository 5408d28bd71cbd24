/*
 * test_config_oncall.c - users, teams, schedules, escalation policies,
 * channels and notification settings in the configuration, and the on-call
 * fields of services and routes.
 *
 * As in test_config_checks.c, error tests compare the complete list of
 * messages so that each rule is pinned to its exact FILE:LINE:COL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/timefmt.h"
#include "base/tz.h"
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MS  (60 * 1000LL)
#define HOUR_MS (60 * MIN_MS)

#include "test_config_util.h"
}

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    assert_int_equal(timefmt_parse_rfc3339(rfc3339, strlen(rfc3339), &ms), 0);
    return ms;
}

static void test_defaults(void **state)
{
    struct config *cfg = config_default();
    assert_non_null(cfg);
    assert_int_equal(cfg->n_users, 0);
    assert_int_equal(cfg->n_teams, 0);
    assert_int_equal(cfg->n_schedules, 0);
    assert_int_equal(cfg->n_policies, 0);
    assert_int_equal(cfg->n_channels, 0);
    assert_null(cfg->notify.public_url); /* the server uses the bound address */
    assert_null(cfg->notify.secret);
    assert_int_equal(cfg->notify.link_ttl_ms, 24 * HOUR_MS);
    assert_int_equal(cfg->notify.digest_after, 5);
    assert_int_equal(cfg->notify.digest_window_ms, 2 * MIN_MS);
    assert_null(cfg->root.escalation_policy);
    assert_int_equal(cfg->root.n_notify, 0);
    assert_null(config_find_user(cfg, "anna"));
    assert_null(config_find_team(cfg, "ops"));
    assert_null(config_find_schedule(cfg, "ops-primary"));
    assert_null(config_find_policy(cfg, "ops"));
    assert_null(config_find_channel(cfg, "mail"));
    config_free(cfg);

    /* Every default of every kind, from the smallest entries allowed. */
    cfg = load_ok("listen: 0.0.0.0:9090\n"
                  "channels:\n"
                  "  - {name: hook, type: webhook, url: \"https://example.org/h\"}\n"
                  "  - {name: mail, type: smtp, url: \"smtp://mx\", from: t@example.org}\n"
                  "  - {name: mail2, type: smtp, url: \"smtp://mx2\", from: t@example.org}\n"
                  "users:\n"
                  "  - {name: anna, email: anna@example.org}\n"
                  "  - {name: ben}\n"
                  "  - {name: cem, email: cem@example.org, contact: []}\n"
                  "schedules:\n"
                  "  - name: s\n"
                  "    time_zone: Europe/Berlin\n"
                  "    layers: [{users: [anna], rotation: 1d, start: 2026-01-01}]\n"
                  "teams: [{name: t}]\n"
                  "escalation_policies:\n"
                  "  - {name: p, levels: [{targets: [\"user:anna\"]}, {targets: "
                  "[\"team:t\"]}]}\n"
                  "services: [{name: shop}]\n");
    const struct cfg_channel *hook = config_find_channel(cfg, "hook");
    assert_non_null(hook);
    assert_int_equal(hook->type, CHANNEL_WEBHOOK);
    assert_int_equal(hook->format, WEBHOOK_GENERIC);
    assert_null(hook->secret);
    assert_null(hook->headers);
    assert_null(hook->subject);
    assert_null(hook->body);
    assert_true(hook->verify_tls);
    assert_int_equal(hook->timeout_ms, 10000);
    assert_int_equal(hook->max_attempts, 8);
    assert_int_equal(hook->retry_min_ms, 5000);
    assert_int_equal(hook->retry_max_ms, 10 * MIN_MS);
    assert_int_equal(hook->max_per_hour, 0);
    const struct cfg_channel *mail = config_find_channel(cfg, "mail");
    assert_int_equal(mail->tls, 1);
    assert_null(mail->username);
    assert_null(mail->password);

    /* No contact rules and an email: the first smtp channel, at once. */
    const struct cfg_user *anna = config_find_user(cfg, "anna");
    assert_non_null(anna);
    assert_string_equal(tz_name(anna->tz), "UTC");
    assert_null(anna->full_name);
    assert_null(anna->phone);
    assert_int_equal(anna->n_contacts, 1);
    assert_string_equal(anna->contacts[0].channel, "mail");
    assert_int_equal(anna->contacts[0].after_ms, 0);
    assert_int_equal(anna->contacts[0].urgency, 0);
    assert_null(anna->contacts[0].to);
    /* No email: nothing to default to. An explicit empty list stays empty. */
    assert_int_equal(config_find_user(cfg, "ben")->n_contacts, 0);
    assert_int_equal(config_find_user(cfg, "cem")->n_contacts, 0);

    const struct cfg_schedule *s = config_find_schedule(cfg, "s");
    assert_null(s->description);
    assert_int_equal(s->n_layers, 1);
    assert_string_equal(s->layers[0].name, "layer 1");
    assert_int_equal(s->layers[0].handoff_minute, 0);
    assert_ptr_equal(s->layers[0].tz, s->tz);
    assert_int_equal(s->layers[0].end_ms, 0);
    assert_int_equal(s->layers[0].n_restrictions, 0);
    assert_int_equal(s->layers[0].unit, ROT_DAYS);
    assert_int_equal(s->layers[0].rotation, 1);

    const struct cfg_team *t = config_find_team(cfg, "t");
    assert_int_equal(t->n_members, 0);
    assert_null(t->escalation_policy);
    assert_int_equal(t->n_schedules, 0);

    const struct cfg_escalation_policy *p = config_find_policy(cfg, "p");
    assert_null(p->description);
    assert_int_equal(p->repeat, 0);
    assert_int_equal(p->repeat_after_ms, 15 * MIN_MS);
    assert_int_equal(p->ack_timeout_ms, 0);
    assert_int_equal(p->n_levels, 2);
    assert_int_equal(p->levels[0].delay_ms, 0);
    assert_int_equal(p->levels[1].delay_ms, 15 * MIN_MS);

    const struct cfg_service *shop = config_find_service(cfg, "shop");
    assert_null(shop->escalation_policy);
    assert_int_equal(shop->n_support_hours, 0);
    assert_null(cfg->notify.public_url);
    config_free(cfg);
}

/* The shape from the issue, extended with every optional key. */
static void test_full(void **state)
{
    setenv("TOCSIN_TEST_SMTP_PASSWORD", "pw", 1);
    setenv("TOCSIN_TEST_HOOK_SECRET", "0123456789abcdef0123", 1);
    setenv("TOCSIN_TEST_API_KEY", "k-123", 1);
    struct config *cfg = load_ok(
        "users:\n"
        "  - {name: anna, email: anna@example.org, phone: \"+4915112345678\",\n"
        "     time_zone: Europe/Berlin, full_name: Anna Berg,\n"
        "     contact: [{channel: mail}, {channel: sms, after: 5m, urgency: high},\n"
        "               {channel: chat, urgency: low, to: \"https://example.org/anna\"}]}\n"
        "  - {name: ben.k@ops, email: ben@example.org,\n"
        "     contact: [{channel: sms, to: \"+4915100000000\"}]}\n"
        "teams:\n"
        "  - {name: ops, members: [anna, ben.k@ops], escalation_policy: ops,\n"
        "     schedules: [ops-primary]}\n"
        "schedules:\n"
        "  - name: ops-primary\n"
        "    description: Primary on call\n"
        "    time_zone: Europe/Berlin\n"
        "    layers:\n"
        "      - {users: [anna, ben.k@ops], rotation: 1w, handoff: \"09:00\", start: 2026-11-02}\n"
        "      - name: nights\n"
        "        users: [ben.k@ops]\n"
        "        rotation: 12h\n"
        "        start: 2026-11-02\n"
        "        end: 2027-01-04\n"
        "        time_zone: America/New_York\n"
        "        restrictions: [{days: [mon, tue], from: \"18:00\", to: \"08:00\"}]\n"
        "      - {users: [anna], rotation: weekly, start: 2026-11-01,\n"
        "         end: \"2026-12-01T10:00:00Z\"}\n"
        "escalation_policies:\n"
        "  - name: ops\n"
        "    description: Ops escalation\n"
        "    levels:\n"
        "      - {delay: 0m, targets: [\"schedule:ops-primary\"]}\n"
        "      - {delay: 10m, targets: [\"user:ben.k@ops\", \"team:ops\"]}\n"
        "    repeat: 2\n"
        "    repeat_after: 30m\n"
        "    ack_timeout: 4h\n"
        "channels:\n"
        "  - {name: mail, type: smtp, url: \"smtps://mail.example.org:465\",\n"
        "     from: \"tocsin@example.org\", username: tocsin,\n"
        "     password: \"env:TOCSIN_TEST_SMTP_PASSWORD\", tls: required, verify_tls: false,\n"
        "     subject: \"[{{incident.priority}}] {{incident.title}}\"}\n"
        "  - {name: chat, type: webhook, url: \"http://127.0.0.1:9000/hook\", format: slack,\n"
        "     secret: \"env:TOCSIN_TEST_HOOK_SECRET\",\n"
        "     headers: {X-Api-Key: \"env:TOCSIN_TEST_API_KEY\", X-Team: ops},\n"
        "     body: \"{{text}}\", timeout: 3s, max_attempts: 3, retry_min: 1s,\n"
        "     retry_max: 1m, max_per_hour: 20}\n"
        "  - {name: sms, type: command, command: \"/usr/local/bin/send-sms --to 'a b'\"}\n"
        "  - {name: partner, type: webhook, url: \"https://partner.example.org/in\",\n"
        "     format: teams}\n"
        "services:\n"
        "  - {name: shop, escalation_policy: ops,\n"
        "     support_hours: {time_zone: Europe/Berlin,\n"
        "                     windows: [{days: [weekdays], from: \"08:00\", to: \"18:00\"}]}}\n"
        "default_route: {escalation_policy: ops, notify: [partner]}\n"
        "routes:\n"
        "  - match: {service: shop}\n"
        "    service: shop\n"
        "    notify: [chat, partner]\n"
        "    routes:\n"
        "      - {match: {env: dev}, escalation_policy: null}\n"
        "      - {match: {env: prod}}\n"
        "notifications:\n"
        "  public_url: https://tocsin.example.org/\n"
        "  secret: env:TOCSIN_TEST_HOOK_SECRET\n"
        "  link_ttl: 12h\n"
        "  digest: {after: 0, window: 5m}\n");

    const struct tz *berlin = tz_get("Europe/Berlin", NULL, 0);
    assert_non_null(berlin);

    /* Users and contacts. */
    assert_int_equal(cfg->n_users, 2);
    const struct cfg_user *anna = config_find_user(cfg, "anna");
    assert_ptr_equal(anna, &cfg->users[0]);
    assert_string_equal(anna->full_name, "Anna Berg");
    assert_string_equal(anna->email, "anna@example.org");
    assert_string_equal(anna->phone, "+4915112345678");
    assert_ptr_equal(anna->tz, berlin);
    assert_int_equal(anna->n_contacts, 3);
    assert_string_equal(anna->contacts[0].channel, "mail");
    assert_int_equal(anna->contacts[0].after_ms, 0);
    assert_int_equal(anna->contacts[0].urgency, 0);
    assert_null(anna->contacts[0].to);
    assert_string_equal(anna->contacts[1].channel, "sms");
    assert_int_equal(anna->contacts[1].after_ms, 5 * MIN_MS);
    assert_int_equal(anna->contacts[1].urgency, 1);
    assert_string_equal(anna->contacts[2].channel, "chat");
    assert_int_equal(anna->contacts[2].urgency, 2);
    assert_string_equal(anna->contacts[2].to, "https://example.org/anna");
    const struct cfg_user *ben = config_find_user(cfg, "ben.k@ops");
    assert_non_null(ben);
    assert_null(ben->phone);
    assert_int_equal(ben->n_contacts, 1);
    assert_string_equal(ben->contacts[0].to, "+4915100000000");

    /* Teams. */
    const struct cfg_team *ops = config_find_team(cfg, "ops");
    assert_non_null(ops);
    assert_int_equal(ops->n_members, 2);
    assert_string_equal(ops->members[0], "anna");
    assert_string_equal(ops->members[1], "ben.k@ops");
    assert_string_equal(ops->escalation_policy, "ops");
    assert_int_equal(ops->n_schedules, 1);
    assert_string_equal(ops->schedules[0], "ops-primary");

    /* Schedules and layers. */
    const struct cfg_schedule *s = config_find_schedule(cfg, "ops-primary");
    assert_non_null(s);
    assert_string_equal(s->description, "Primary on call");
    assert_ptr_equal(s->tz, berlin);
    assert_int_equal(s->n_layers, 3);
    const struct cfg_layer *l = &s->layers[0];
    assert_string_equal(l->name, "layer 1");
    assert_int_equal(l->n_users, 2);
    assert_string_equal(l->users[0], "anna");
    assert_string_equal(l->users[1], "ben.k@ops");
    assert_int_equal(l->unit, ROT_WEEKS);
    assert_int_equal(l->rotation, 1);
    assert_int_equal(l->handoff_minute, 9 * 60);
    assert_int_equal(l->start_year, 2026);
    assert_int_equal(l->start_month, 11);
    assert_int_equal(l->start_day, 2);
    assert_int_equal(l->end_ms, 0);
    assert_ptr_equal(l->tz, berlin);
    l = &s->layers[1];
    assert_string_equal(l->name, "nights");
    assert_int_equal(l->unit, ROT_HOURS);
    assert_int_equal(l->rotation, 12);
    assert_int_equal(l->handoff_minute, 0);
    assert_string_equal(tz_name(l->tz), "America/New_York");
    /* A date as end: that day's handoff (00:00) in the layer's zone (EST). */
    assert_int_equal(l->end_ms, at("2027-01-04T05:00:00Z"));
    assert_int_equal(l->n_restrictions, 1);
    assert_int_equal(l->restrictions[0].freq, RECUR_WEEKLY);
    assert_int_equal(l->restrictions[0].weekdays, (1 << 1) | (1 << 2));
    assert_int_equal(l->restrictions[0].start_minute, 18 * 60);
    assert_int_equal(l->restrictions[0].duration_ms, 14 * HOUR_MS);
    assert_ptr_equal(l->restrictions[0].tz, l->tz);
    l = &s->layers[2];
    assert_int_equal(l->unit, ROT_WEEKS);
    assert_int_equal(l->rotation, 1);
    assert_int_equal(l->end_ms, at("2026-12-01T10:00:00Z"));

    /* Escalation policies. */
    const struct cfg_escalation_policy *p = config_find_policy(cfg, "ops");
    assert_non_null(p);
    assert_string_equal(p->description, "Ops escalation");
    assert_int_equal(p->repeat, 2);
    assert_int_equal(p->repeat_after_ms, 30 * MIN_MS);
    assert_int_equal(p->ack_timeout_ms, 4 * HOUR_MS);
    assert_int_equal(p->n_levels, 2);
    assert_int_equal(p->levels[0].delay_ms, 0);
    assert_int_equal(p->levels[0].n_targets, 1);
    assert_int_equal(p->levels[0].targets[0].kind, TARGET_SCHEDULE);
    assert_string_equal(p->levels[0].targets[0].name, "ops-primary");
    assert_int_equal(p->levels[1].delay_ms, 10 * MIN_MS);
    assert_int_equal(p->levels[1].n_targets, 2);
    assert_int_equal(p->levels[1].targets[0].kind, TARGET_USER);
    assert_string_equal(p->levels[1].targets[0].name, "ben.k@ops");
    assert_int_equal(p->levels[1].targets[1].kind, TARGET_TEAM);
    assert_string_equal(p->levels[1].targets[1].name, "ops");

    /* Channels. */
    assert_int_equal(cfg->n_channels, 4);
    const struct cfg_channel *mail = config_find_channel(cfg, "mail");
    assert_int_equal(mail->type, CHANNEL_SMTP);
    assert_string_equal(mail->url, "smtps://mail.example.org:465");
    assert_string_equal(mail->from, "tocsin@example.org");
    assert_string_equal(mail->username, "tocsin");
    assert_string_equal(mail->password, "pw");
    assert_int_equal(mail->tls, 2);
    assert_false(mail->verify_tls);
    assert_string_equal(mail->subject, "[{{incident.priority}}] {{incident.title}}");
    assert_null(mail->body);
    const struct cfg_channel *chat = config_find_channel(cfg, "chat");
    assert_int_equal(chat->type, CHANNEL_WEBHOOK);
    assert_string_equal(chat->url, "http://127.0.0.1:9000/hook");
    assert_int_equal(chat->format, WEBHOOK_SLACK);
    assert_string_equal(chat->secret, "0123456789abcdef0123");
    assert_non_null(chat->headers);
    assert_string_equal(chat->headers[0], "X-Api-Key: k-123");
    assert_string_equal(chat->headers[1], "X-Team: ops");
    assert_null(chat->headers[2]);
    assert_string_equal(chat->body, "{{text}}");
    assert_int_equal(chat->timeout_ms, 3000);
    assert_int_equal(chat->max_attempts, 3);
    assert_int_equal(chat->retry_min_ms, 1000);
    assert_int_equal(chat->retry_max_ms, MIN_MS);
    assert_int_equal(chat->max_per_hour, 20);
    const struct cfg_channel *sms = config_find_channel(cfg, "sms");
    assert_int_equal(sms->type, CHANNEL_COMMAND);
    assert_string_equal(sms->command, "/usr/local/bin/send-sms --to 'a b'");
    assert_null(sms->url);
    assert_int_equal(config_find_channel(cfg, "partner")->format, WEBHOOK_TEAMS);

    /* Services: the policy and support hours on weekdays 08:00-18:00 Berlin. */
    const struct cfg_service *shop = config_find_service(cfg, "shop");
    assert_string_equal(shop->escalation_policy, "ops");
    assert_int_equal(shop->n_support_hours, 1);
    assert_int_equal(shop->support_hours[0].freq, RECUR_WEEKLY);
    assert_int_equal(shop->support_hours[0].weekdays, 0x3e);
    assert_int_equal(shop->support_hours[0].start_minute, 8 * 60);
    assert_int_equal(shop->support_hours[0].duration_ms, 10 * HOUR_MS);
    assert_ptr_equal(shop->support_hours[0].tz, berlin);
    assert_true(recur_active(&shop->support_hours[0], at("2026-11-23T08:30:00Z")));  /* Mon */
    assert_false(recur_active(&shop->support_hours[0], at("2026-11-23T17:30:00Z"))); /* 18:30 */
    assert_false(recur_active(&shop->support_hours[0], at("2026-11-22T10:00:00Z"))); /* Sun */

    /* Routes: escalation_policy is inherited (null clears it), notify is not. */
    assert_string_equal(cfg->root.escalation_policy, "ops");
    assert_int_equal(cfg->root.n_notify, 1);
    assert_string_equal(cfg->root.notify[0], "partner");
    const struct route *r = &cfg->root.routes[0];
    assert_string_equal(r->escalation_policy, "ops");
    assert_int_equal(r->n_notify, 2);
    assert_string_equal(r->notify[0], "chat");
    assert_string_equal(r->notify[1], "partner");
    assert_null(r->routes[0].escalation_policy);
    assert_string_equal(r->routes[1].escalation_policy, "ops");
    assert_int_equal(r->routes[1].n_notify, 0);
    assert_null(r->routes[1].notify);

    /* Notification settings; the trailing slash is dropped. */
    assert_string_equal(cfg->notify.public_url, "https://tocsin.example.org");
    assert_string_equal(cfg->notify.secret, "0123456789abcdef0123");
    assert_int_equal(cfg->notify.link_ttl_ms, 12 * HOUR_MS);
    assert_int_equal(cfg->notify.digest_after, 0);
    assert_int_equal(cfg->notify.digest_window_ms, 5 * MIN_MS);

    assert_null(config_find_user(cfg, "ben"));
    assert_null(config_find_channel(cfg, "Mail"));
    config_free(cfg);
    unsetenv("TOCSIN_TEST_SMTP_PASSWORD");
    unsetenv("TOCSIN_TEST_HOOK_SECRET");
    unsetenv("TOCSIN_TEST_API_KEY");
}

/* Restriction windows become struct recur values in the layer's zone. */
static void test_restrictions(void **state)
{
    struct config *cfg =
        load_ok("users: [{name: a}]\n"
                "schedules:\n"
                "  - name: s\n"
                "    time_zone: Europe/Berlin\n"
                "    layers:\n"
                "      - users: [a]\n"
                "        rotation: 1d\n"
                "        start: 2026-11-02\n"
                "        restrictions:\n"
                "          - {days: [weekdays], from: \"18:00\", to: \"08:00\"}\n"
                "          - {days: [weekends]}\n"
                "          - {from: \"22:00\", to: \"24:00\"}\n"
                "          - {days: [Sunday, sat], from: \"09:00\", to: \"09:00\"}\n"
                "          - {to: \"06:30\"}\n"
                "          - {days: [fri], from: \"23:59\", to: \"00:00\"}\n");
    const struct cfg_layer *l = &cfg->schedules[0].layers[0];
    const struct recur *r = l->restrictions;
    assert_int_equal(l->n_restrictions, 6);
    for (size_t i = 0; i < l->n_restrictions; i++) {
        assert_ptr_equal(r[i].tz, cfg->schedules[0].tz);
        assert_int_equal(r[i].start_ms, 0);
        assert_int_equal(r[i].until_ms, 0);
    }
    /* Overnight: 18:00 on a weekday until 08:00 the next morning. */
    assert_int_equal(r[0].freq, RECUR_WEEKLY);
    assert_int_equal(r[0].weekdays, 0x3e);
    assert_int_equal(r[0].start_minute, 18 * 60);
    assert_int_equal(r[0].duration_ms, 14 * HOUR_MS);
    assert_true(recur_active(&r[0], at("2026-11-27T06:00:00Z")));  /* Fri 07:00 (from Thu) */
    assert_true(recur_active(&r[0], at("2026-11-28T06:00:00Z")));  /* Sat 07:00 (from Fri) */
    assert_false(recur_active(&r[0], at("2026-11-29T06:00:00Z"))); /* Sun 07:00 */
    /* Only days: the whole of those days. */
    assert_int_equal(r[1].freq, RECUR_WEEKLY);
    assert_int_equal(r[1].weekdays, 0x41);
    assert_int_equal(r[1].start_minute, 0);
    assert_int_equal(r[1].duration_ms, 24 * HOUR_MS);
    /* No days: every day; 24:00 is the end of the day. */
    assert_int_equal(r[2].freq, RECUR_DAILY);
    assert_int_equal(r[2].weekdays, 0);
    assert_int_equal(r[2].start_minute, 22 * 60);
    assert_int_equal(r[2].duration_ms, 2 * HOUR_MS);
    /* to == from: a full day from that time. */
    assert_int_equal(r[3].weekdays, 0x41);
    assert_int_equal(r[3].start_minute, 9 * 60);
    assert_int_equal(r[3].duration_ms, 24 * HOUR_MS);
    /* from defaults to midnight. */
    assert_int_equal(r[4].freq, RECUR_DAILY);
    assert_int_equal(r[4].start_minute, 0);
    assert_int_equal(r[4].duration_ms, 6 * HOUR_MS + 30 * MIN_MS);
    /* One minute over midnight. */
    assert_int_equal(r[5].weekdays, 1 << 5);
    assert_int_equal(r[5].start_minute, 23 * 60 + 59);
    assert_int_equal(r[5].duration_ms, MIN_MS);
    config_free(cfg);
}

/* Rotation lengths: any count of hours, days or weeks up to 52 weeks. */
static void test_rotations(void **state)
{
    static const struct {
        const char *text;
        enum rotation_unit unit;
        int count;
    } ok[] = {{"1h", ROT_HOURS, 1},    {"8736h", ROT_HOURS, 8736}, {"3d", ROT_DAYS, 3},
              {"364d", ROT_DAYS, 364}, {"2w", ROT_WEEKS, 2},       {"52w", ROT_WEEKS, 52},
              {"daily", ROT_DAYS, 1},  {"weekly", ROT_WEEKS, 1}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml),
                 "users: [{name: a}]\n"
                 "schedules: [{name: s, time_zone: UTC,\n"
                 "             layers: [{users: [a], rotation: \"%s\", start: 2026-01-01}]}]\n",
                 ok[i].text);
        struct config *cfg = load_ok(yaml);
        assert_int_equal(cfg->schedules[0].layers[0].unit, ok[i].unit);
        assert_int_equal(cfg->schedules[0].layers[0].rotation, ok[i].count);
        config_free(cfg);
    }
    expect_errors("users: [{name: a}]\n"
                  "schedules:\n"
                  "  - name: s\n"
                  "    time_zone: UTC\n"
                  "    layers:\n"
                  "      - {users: [a], rotation: 0h, start: 2026-01-01}\n"
                  "      - {users: [a], rotation: 8737h, start: 2026-01-01}\n"
                  "      - {users: [a], rotation: 53w, start: 2026-01-01}\n"
                  "      - {users: [a], rotation: 1m, start: 2026-01-01}\n"
                  "      - {users: [a], rotation: w, start: 2026-01-01}\n"
                  "      - {users: [a], rotation: 7, start: 2026-01-01}\n"
                  "      - {users: [a], rotation: 1w2d, start: 2026-01-01}\n"
                  "      - {users: [a], rotation: custom, start: 2026-01-01}\n",
                  "t.yaml:6:32: rotation must be a turn length such as \"12h\", \"1d\" or \"2w\" "
                  "(or daily, weekly), from 1 hour to 52 weeks",
                  "t.yaml:7:32: rotation must be a turn length such as \"12h\", \"1d\" or \"2w\" "
                  "(or daily, weekly), from 1 hour to 52 weeks",
                  "t.yaml:8:32: rotation must be a turn length such as \"12h\", \"1d\" or \"2w\" "
                  "(or daily, weekly), from 1 hour to 52 weeks",
                  "t.yaml:9:32: rotation must be a turn length such as \"12h\", \"1d\" or \"2w\" "
                  "(or daily, weekly), from 1 hour to 52 weeks",
                  "t.yaml:10:32: rotation must be a turn length such as \"12h\", \"1d\" or \"2w\" "
                  "(or daily, weekly), from 1 hour to 52 weeks",
                  "t.yaml:11:32: rotation must be a string, not a number",
                  "t.yaml:12:32: rotation must be a turn length such as \"12h\", \"1d\" or \"2w\" "
                  "(or daily, weekly), from 1 hour to 52 weeks",
                  "t.yaml:13:32: rotation must be a turn length such as \"12h\", \"1d\" or \"2w\" "
                  "(or daily, weekly), from 1 hour to 52 weeks",
                  NULL);
}

static void test_user_errors(void **state)
{
    expect_errors(
        "channels:\n"
        "  - {name: mail, type: smtp, url: \"smtp://mx\", from: t@example.org}\n"
        "  - {name: sms, type: command, command: /bin/sms}\n"
        "  - {name: hook, type: webhook, url: \"http://h\"}\n"
        "users:\n"
        "  - {name: \"an na\", email: \"anna example.org\", phone: \"+49\", time_zone: Mars/Base}\n"
        "  - {name: b, email: \"b@x\\r\\nBcc: c@y\", phone: \"004915112345678\", colour: red}\n"
        "  - {name: c, contact: [{channel: mail}, {channel: sms}, {channel: nope}, 5]}\n"
        "  - {name: d, contact: [{channel: hook, to: \"ftp://x\", urgency: mid, after: soon}]}\n"
        "  - {name: e, contact: [{channel: mail, to: nobody}, {channel: sms, to: \"\"}]}\n"
        "  - {name: c, email: \"@example.org\", phone: \"+1234567890123456\"}\n"
        "  - {name: " /* 65 characters */
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n"
        "  - {email: f@example.org, contact: {channel: mail}}\n"
        "  - [g]\n",
        "t.yaml:6:12: user name must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -",
        "t.yaml:6:28: email must be an address such as \"anna@example.org\"",
        "t.yaml:6:55: phone must be in E.164 form (+ and 6 to 15 digits, such as "
        "\"+4915112345678\")",
        "t.yaml:6:73: unknown time zone \"Mars/Base\": No such file or directory",
        "t.yaml:7:67: unknown key \"colour\"",
        "t.yaml:7:22: email must be an address such as \"anna@example.org\"",
        "t.yaml:7:48: phone must be in E.164 form (+ and 6 to 15 digits, such as "
        "\"+4915112345678\")",
        "t.yaml:8:35: channel \"mail\" sends e-mail: the user needs an email, or give to:",
        "t.yaml:8:52: channel \"sms\" runs a command: the user needs a phone, or give to:",
        "t.yaml:8:68: unknown channel \"nope\"",
        "t.yaml:8:75: each entry of contact must be a mapping, not a number",
        "t.yaml:9:77: after must be a duration such as \"30s\" or \"5m\"",
        "t.yaml:9:65: invalid urgency \"mid\" (expected any, high or low)",
        "t.yaml:9:45: to must be an http:// or https:// URL for a webhook channel",
        "t.yaml:10:45: to must be an e-mail address for an smtp channel",
        "t.yaml:10:73: to must be 1 to 256 characters without control characters",
        "t.yaml:11:12: duplicate user name \"c\" (first defined at line 8)",
        "t.yaml:11:22: email must be an address such as \"anna@example.org\"",
        "t.yaml:11:45: phone must be in E.164 form (+ and 6 to 15 digits, such as "
        "\"+4915112345678\")",
        "t.yaml:12:12: user name must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -",
        "t.yaml:13:5: missing required field \"name\"",
        "t.yaml:13:37: contact must be a list, not a mapping",
        "t.yaml:14:5: each entry of users must be a mapping, not a list", NULL);
}

static void test_schedule_errors(void **state)
{
    expect_errors(
        "users: [{name: a}, {name: b}]\n"
        "schedules:\n"
        "  - name: \"ops primary\"\n"
        "    layers:\n"
        "      - {users: [], rotation: 1w, handoff: \"25:00\", start: 2026-02-30, end: soon}\n"
        "      - {users: [a, ghost, 3], start: \"2026-11-02T00:00:00Z\", extra: 1}\n"
        "      - {users: [b], rotation: 1d, start: 2026-11-02, end: 2026-11-02,\n"
        "         time_zone: Europe/Nowhere}\n"
        "      - {rotation: 1d, start: 2026-11-02, handoff: \"10:00\", end: 2026-11-02}\n"
        "      - 7\n"
        "  - {name: s2, time_zone: Europe/Berlin, layers: []}\n"
        "  - {name: s2, time_zone: Europe/Berlin}\n"
        "  - name: s3\n"
        "    time_zone: UTC\n"
        "    layers:\n"
        "      - users: [a]\n"
        "        rotation: 1d\n"
        "        start: 2026-11-02\n"
        "        end: \"2026-11-02T00:00:00Z\"\n"
        "        restrictions:\n"
        "          - {days: [caturday], from: \"8:00\", to: \"24:01\", until: x}\n"
        "          - {days: [], from: \"24:00\"}\n"
        "          - {days: mon}\n"
        "          - mon\n",
        "t.yaml:3:11: schedule name must be 1 to 64 characters of A-Z a-z 0-9 . _ -",
        "t.yaml:3:5: missing required field \"time_zone\"",
        "t.yaml:5:17: users must name at least one user",
        "t.yaml:5:44: handoff must be a time of day \"HH:MM\" (00:00 to 23:59)",
        "t.yaml:5:60: start must be a date \"YYYY-MM-DD\"",
        "t.yaml:5:77: end must be a date \"YYYY-MM-DD\" or an RFC 3339 time such as "
        "\"2026-12-01T09:00:00+01:00\"",
        "t.yaml:6:63: unknown key \"extra\"", "t.yaml:6:21: unknown user \"ghost\"",
        "t.yaml:6:28: users entries must be user names",
        "t.yaml:6:9: missing required field \"rotation\"",
        "t.yaml:6:39: start must be a date \"YYYY-MM-DD\"",
        "t.yaml:8:21: unknown time zone \"Europe/Nowhere\": No such file or directory",
        "t.yaml:9:9: missing required field \"users\"",
        "t.yaml:10:9: each entry of layers must be a mapping, not a number",
        "t.yaml:11:50: layers must have at least one layer",
        "t.yaml:12:12: duplicate schedule name \"s2\" (first defined at line 11)",
        "t.yaml:12:5: missing required field \"layers\"",
        "t.yaml:19:14: end must be after the layer's start", "t.yaml:21:59: unknown key \"until\"",
        "t.yaml:21:21: unknown weekday \"caturday\" (use sun..sat, full names, weekdays or "
        "weekends)",
        "t.yaml:21:38: from must be a time of day \"HH:MM\" (00:00 to 23:59)",
        "t.yaml:21:50: to must be a time of day \"HH:MM\" (00:00 to 24:00)",
        "t.yaml:22:20: days must name at least one weekday",
        "t.yaml:22:30: from must be a time of day \"HH:MM\" (00:00 to 23:59)",
        "t.yaml:23:20: days must be a list, not a string",
        "t.yaml:24:13: each entry of restrictions must be a mapping, not a string", NULL);
}

static void test_team_and_policy_errors(void **state)
{
    expect_errors(
        "users: [{name: a}, {name: b}]\n"
        "schedules: [{name: s, time_zone: UTC, layers: [{users: [a], rotation: 1w,\n"
        "                                                start: 2026-11-02}]}]\n"
        "teams:\n"
        "  - {name: ops, members: [a, ghost, b, a], escalation_policy: nope, schedules: [x]}\n"
        "  - {name: ops, members: a, lead: b}\n"
        "  - {name: dev, escalation_policy: p}\n"
        "escalation_policies:\n"
        "  - name: p\n"
        "    levels:\n"
        "      - {delay: -5m, targets: []}\n"
        "      - {targets: [\"user:ghost\", \"group:x\", \"schedule:s\", 5, \"team:\"]}\n"
        "      - {targets: [\"team:nope\", \"schedule:nope\"], wait: 1m}\n"
        "      - {delay: 1m}\n"
        "      - x\n"
        "    repeat: 11\n"
        "    repeat_after: soon\n"
        "    ack_timeout: 5\n"
        "  - {name: p, levels: []}\n"
        "  - {name: q}\n"
        "  - {name: r, levels: [{targets: [\"team:dev\"]}], repeat: -1}\n",
        "t.yaml:5:30: unknown user \"ghost\"", "t.yaml:5:40: duplicate user \"a\" in members",
        "t.yaml:5:81: unknown schedule \"x\"", "t.yaml:6:29: unknown key \"lead\"",
        "t.yaml:6:12: duplicate team name \"ops\" (first defined at line 5)",
        "t.yaml:6:26: members must be a list, not a string",
        "t.yaml:16:13: repeat must be between 0 and 10",
        "t.yaml:17:19: repeat_after must be a duration such as \"30s\" or \"5m\"",
        "t.yaml:18:18: ack_timeout must be a duration such as \"30s\" or \"5m\"",
        "t.yaml:11:17: delay must be a duration such as \"30s\" or \"5m\"",
        "t.yaml:11:31: targets must name at least one target",
        "t.yaml:12:20: unknown user \"ghost\"",
        "t.yaml:12:34: targets must be \"user:NAME\", \"schedule:NAME\" or \"team:NAME\"",
        "t.yaml:12:59: targets must be \"user:NAME\", \"schedule:NAME\" or \"team:NAME\"",
        "t.yaml:12:62: targets must be \"user:NAME\", \"schedule:NAME\" or \"team:NAME\"",
        "t.yaml:13:51: unknown key \"wait\"", "t.yaml:13:20: unknown team \"nope\"",
        "t.yaml:13:33: unknown schedule \"nope\"",
        "t.yaml:14:9: missing required field \"targets\"",
        "t.yaml:15:9: each entry of levels must be a mapping, not a string",
        "t.yaml:19:12: duplicate escalation policy name \"p\" (first defined at line 9)",
        "t.yaml:19:23: levels must have at least one level",
        "t.yaml:20:5: missing required field \"levels\"",
        "t.yaml:21:58: repeat must be between 0 and 10",
        "t.yaml:5:63: unknown escalation policy \"nope\"", NULL);
}

static void test_channel_errors(void **state)
{
    setenv("TOCSIN_TEST_SHORT", "short", 1);
    unsetenv("TOCSIN_TEST_MISSING");
    expect_errors(
        "channels:\n"
        "  - {name: m1, type: smtp, url: \"http://mx\", tls: none, format: slack}\n"
        "  - {name: m2, type: smtp, url: \"smtps://mx\", from: \"a b@x\", tls: none,\n"
        "     password: env:TOCSIN_TEST_MISSING}\n"
        "  - {name: m3, type: smtp, url: \"smtp://\", from: t@x, password: p, tls: maybe}\n"
        "  - {name: h1, type: webhook, url: \"https://h\", format: markdown, secret: short,\n"
        "     headers: {\"Bad Name\": x, X-Ok: \"a\\nb\", host: h, X-Env: \"env:\"}}\n"
        "  - {name: h2, type: webhook, url: \"https:/h\", secret: env:TOCSIN_TEST_SHORT,\n"
        "     headers: [x], command: /bin/true}\n"
        "  - {name: h3, type: webhook, url: \"http://h x\", headers: {x-a: \"1\", X-A: \"2\"}}\n"
        "  - {name: c1, type: command, command: \"send-sms | tee\", max_attempts: 51,\n"
        "     retry_min: 10m, retry_max: 1m}\n"
        "  - {name: c2, type: command, command: \"/bin/sms 'x\", body: 5, timeout: 0}\n"
        "  - {name: c3, type: command, command: sms, url: \"http://x\", max_attempts: 0}\n"
        "  - {name: c3, type: command, max_per_hour: -1, verify_tls: yes}\n"
        "  - {name: x1, type: sms}\n"
        "  - {name: x2}\n"
        "  - {name: x3, type: webhook}\n",
        "t.yaml:2:57: format does not apply to type: smtp",
        "t.yaml:2:33: url must be an smtp://HOST[:PORT] or smtps://HOST[:PORT] URL",
        "t.yaml:2:5: missing required field \"from\"",
        "t.yaml:3:53: from must be an e-mail address such as \"tocsin@example.org\"",
        "t.yaml:4:16: environment variable TOCSIN_TEST_MISSING is not set",
        "t.yaml:3:67: tls: none cannot be combined with an smtps:// url",
        "t.yaml:5:33: url must be an smtp://HOST[:PORT] or smtps://HOST[:PORT] URL",
        "t.yaml:5:55: password needs a username",
        "t.yaml:5:73: invalid tls \"maybe\" (expected none, starttls or required)",
        "t.yaml:6:57: invalid format \"markdown\" (expected generic, slack or teams)",
        "t.yaml:6:75: secret must be at least 16 characters",
        "t.yaml:7:16: invalid header name \"Bad Name\" (an HTTP token, not one Tocsin sets itself)",
        "t.yaml:7:37: X-Ok must not contain control characters",
        "t.yaml:7:45: invalid header name \"host\" (an HTTP token, not one Tocsin sets itself)",
        "t.yaml:7:61: env: needs a variable name",
        "t.yaml:9:20: command does not apply to type: webhook",
        "t.yaml:8:36: url must be an http:// or https:// URL",
        "t.yaml:8:56: secret from environment variable TOCSIN_TEST_SHORT must be at least 16 "
        "characters",
        "t.yaml:9:15: headers must be a mapping, not a list",
        "t.yaml:10:36: url must be an http:// or https:// URL",
        "t.yaml:10:70: duplicate header \"X-A\"",
        "t.yaml:11:40: command is run without a shell and must not use shell syntax "
        "(|&;<>()$`*?[]{}~ or NAME=value); use a wrapper script",
        "t.yaml:11:72: max_attempts must be between 1 and 50",
        "t.yaml:12:33: retry_max must not be shorter than retry_min",
        "t.yaml:13:40: command has unbalanced quotes (or memory ran out splitting it)",
        "t.yaml:13:61: body must be a string, not a number",
        "t.yaml:13:73: timeout must be greater than zero",
        "t.yaml:14:45: url does not apply to type: command",
        "t.yaml:14:40: command must start with the absolute path of a program",
        "t.yaml:14:76: max_attempts must be between 1 and 50",
        "t.yaml:15:12: duplicate channel name \"c3\" (first defined at line 14)",
        "t.yaml:15:5: missing required field \"command\"",
        "t.yaml:15:45: max_per_hour must be between 0 and 100000",
        "t.yaml:15:61: verify_tls must be true or false",
        "t.yaml:16:22: invalid type \"sms\" (expected webhook, smtp or command)",
        "t.yaml:17:5: missing required field \"type\"",
        "t.yaml:18:5: missing required field \"url\"", NULL);
    unsetenv("TOCSIN_TEST_SHORT");

    /* Templates are bounded. */
    size_t big = 8193;
    char *yaml = malloc(big + 128);
    assert_non_null(yaml);
    int n =
        snprintf(yaml, 128, "channels:\n  - {name: h, type: webhook, url: \"http://h\", body: ");
    memset(yaml + n, 'x', big);
    strcpy(yaml + n + big, "}\n");
    expect_errors(yaml, "t.yaml:2:53: body must be at most 8192 bytes", NULL);
    yaml[n + big - 1] = '}';
    yaml[n + big] = '\n';
    yaml[n + big + 1] = '\0';
    struct cfg_errors errs = {0};
    struct config *cfg = load(yaml, &errs);
    assert_non_null(cfg);
    assert_int_equal(strlen(cfg->channels[0].body), 8192);
    config_free(cfg);
    cfg_errors_free(&errs);
    free(yaml);
}

static void test_service_route_errors(void **state)
{
    expect_errors(
        "channels: [{name: chat, type: webhook, url: \"http://h\"}]\n"
        "users: [{name: a}]\n"
        "escalation_policies: [{name: p, levels: [{targets: [\"user:a\"]}]}]\n"
        "services:\n"
        "  - {name: shop, escalation_policy: nope, support_hours: {windows: []}}\n"
        "  - {name: web, support_hours: {time_zone: UTC, windows: [{from: \"8\"}], x: 1}}\n"
        "  - {name: api, support_hours: {time_zone: Mars/Base}}\n"
        "  - {name: db, support_hours: [], escalation_policy: 5}\n"
        "default_route: {escalation_policy: nah, notify: chat}\n"
        "routes:\n"
        "  - match: {service: shop}\n"
        "    escalation_policy: p\n"
        "    notify: [chat, chat, zz, 5]\n"
        "    routes: [{escalation_policy: q}]\n",
        "t.yaml:5:37: unknown escalation policy \"nope\"",
        "t.yaml:5:43: missing required field \"time_zone\"",
        "t.yaml:5:68: windows must have at least one window", "t.yaml:6:73: unknown key \"x\"",
        "t.yaml:6:66: from must be a time of day \"HH:MM\" (00:00 to 23:59)",
        "t.yaml:7:44: unknown time zone \"Mars/Base\": No such file or directory",
        "t.yaml:7:17: missing required field \"windows\"",
        "t.yaml:8:54: escalation_policy must be a string, not a number",
        "t.yaml:8:31: support_hours must be a mapping, not a list",
        "t.yaml:9:36: unknown escalation policy \"nah\"",
        "t.yaml:9:49: notify must be a list, not a string",
        "t.yaml:13:20: duplicate channel \"chat\" in notify",
        "t.yaml:13:26: unknown channel \"zz\"",
        "t.yaml:13:30: notify entries must be channel names",
        "t.yaml:14:34: unknown escalation policy \"q\"", NULL);
}

static void test_notification_errors(void **state)
{
    expect_errors("notifications:\n"
                  "  public_url: \"ftp://x\"\n"
                  "  secret: short\n"
                  "  link_ttl: 0\n"
                  "  digest: {after: -1, window: 0, x: 1}\n"
                  "  y: 2\n",
                  "t.yaml:6:3: unknown key \"y\"",
                  "t.yaml:2:15: public_url must be an http:// or https:// URL",
                  "t.yaml:3:11: secret must be at least 16 characters",
                  "t.yaml:4:13: link_ttl must be greater than zero",
                  "t.yaml:5:34: unknown key \"x\"",
                  "t.yaml:5:19: after must be between 0 and 10000",
                  "t.yaml:5:31: window must be greater than zero", NULL);
    expect_errors("notifications: [x]\n",
                  "t.yaml:1:16: notifications must be a mapping, not a list", NULL);
}

/* Many users, teams and references load quickly (names go through hash
 * maps while the file is read). */
static void test_many(void **state)
{
    enum { N = 5000 };
    size_t cap = (size_t)N * 160 + 256, len = 0;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    len += (size_t)snprintf(yaml + len, cap - len, "users:\n");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(yaml + len, cap - len, "  - {name: u%d}\n", i);
    len += (size_t)snprintf(yaml + len, cap - len, "teams:\n");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(yaml + len, cap - len, "  - {name: t%d, members: [u%d, u%d]}\n", i,
                                i, N - 1 - i);
    len += (size_t)snprintf(yaml + len, cap - len, "escalation_policies:\n");
    for (int i = 0; i < N; i++)
        len +=
            (size_t)snprintf(yaml + len, cap - len,
                             "  - {name: p%d, levels: [{targets: [\"team:t%d\", \"user:u%d\"]}]}\n",
                             i, N - 1 - i, i);
    assert_true(len < cap);
    struct config *cfg = load_ok(yaml);
    assert_int_equal(cfg->n_users, N);
    assert_int_equal(cfg->n_teams, N);
    assert_int_equal(cfg->n_policies, N);
    assert_ptr_equal(config_find_user(cfg, "u4999"), &cfg->users[4999]);
    assert_ptr_equal(config_find_policy(cfg, "p17"), &cfg->policies[17]);
    assert_string_equal(cfg->teams[3].members[1], "u4996");
    config_free(cfg);
    free(yaml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_restrictions),
        cmocka_unit_test(test_rotations),
        cmocka_unit_test(test_user_errors),
        cmocka_unit_test(test_schedule_errors),
        cmocka_unit_test(test_team_and_policy_errors),
        cmocka_unit_test(test_channel_errors),
        cmocka_unit_test(test_service_route_errors),
        cmocka_unit_test(test_notification_errors),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
