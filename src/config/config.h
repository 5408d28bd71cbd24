/*
 * config.h - Tocsin's configuration model.
 *
 * The YAML file is read into a JSON tree (config_yaml.h keeps the line and
 * column of every node), and one validator turns that tree into struct config.
 * The HTTP API validates the same JSON shapes with the same functions, so the
 * file and the API cannot disagree about what is valid. Every problem is
 * reported, not only the first, as "FILE:LINE:COL: message".
 *
 * A struct config is immutable once built and is shared read-only between
 * threads; a reload builds a new one and swaps the pointer.
 */
#ifndef TOCSIN_CONFIG_H
#define TOCSIN_CONFIG_H

#include "../base/labels.h"
#include "../base/matcher.h"
#include "../base/log.h"
#include "../base/recur.h"
#include "../engine/event.h"

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum role { ROLE_VIEWER = 0, ROLE_RESPONDER = 1, ROLE_ADMIN = 2 };

struct cfg_token {
    char *name;     /* owned; shown as the actor of every mutation made with it */
    char *token;    /* owned; the secret (after env: resolution) */
    enum role role; /* viewer: read; responder: read + incident actions; admin: all */
};

enum integration_type {
    INTEGRATION_GENERIC = 0,      /* POST /api/v1/events */
    INTEGRATION_PAGERDUTY = 1,    /* POST /v2/enqueue, /v2/change/enqueue */
    INTEGRATION_ALERTMANAGER = 2, /* POST /api/v2/alerts, /api/v1/integrations/alertmanager */
    INTEGRATION_METRICS = 3,      /* metric writes: /api/v1/write, /api/v2/write, /write */
};

struct cfg_integration {
    char *name;                     /* owned; unique */
    enum integration_type type;     /* which intake paths the key may post to */
    char *key;                      /* owned; the secret (after env: resolution) */
    enum severity default_severity; /* when the sender gives none it can map; default warning */
    int64_t resolve_timeout_ms;     /* Alertmanager API: endsAt default = now + this; 5m */
};

struct cfg_service {
    char *name;              /* owned; unique */
    char *description;       /* owned; may be NULL */
    int impact;              /* 1 high, 2 medium (default), 3 low: the impact half of priority */
    char *escalation_policy; /* owned or NULL; must name a policy */
    /* Support hours: low-urgency incidents (urgency 2 and 3) notify nobody
     * outside these windows and start escalating when the next one opens.
     * High-urgency incidents always page at once. None = always support hours. */
    struct recur *support_hours; /* owned array; recur.tz from tz_get */
    size_t n_support_hours;
};

/*
 * A node of the routing tree. The root is the default route: it matches
 * everything, and the configured `routes` are its children. Settings that a
 * node leaves out are inherited from its parent when the config is built, so
 * every node carries its effective values.
 */
struct route {
    char *id;                 /* owned; position in the tree, "root", "0", "0.1", ... */
    struct matcher *matchers; /* owned array */
    size_t n_matchers;
    bool cont;       /* continue: keep looking at later siblings after a match */
    char **group_by; /* owned array of owned label names */
    size_t n_group_by;
    bool group_by_all;       /* group_by: ['...']: every label */
    int64_t group_window_ms; /* 0: join any open incident of the group; >0: rolling window */
    char *service;           /* owned; effective service name, may be NULL */
    char *escalation_policy; /* owned or NULL; effective (inherited); wins over the service's */
    char **notify;           /* owned array of owned channel names: partners told about every
                                incident of this route (triggered, acknowledged, resolved);
                                not inherited */
    size_t n_notify;
    struct route *routes; /* owned array of children */
    size_t n_routes;
};

/* ---- Checks (hosts, checks, heartbeats, downtimes) ---- */

enum check_type {
    CHECK_TYPE_COMMAND = 0, /* a Nagios-compatible plugin */
    CHECK_TYPE_TCP = 1,     /* native tcp probe */
    CHECK_TYPE_HTTP = 2,    /* native http(s) probe */
    CHECK_TYPE_PASSIVE = 3, /* results arrive by POST /api/v1/check-results */
};

/* One entry of a check's depends_on. */
struct cfg_dependency {
    char *target; /* owned; "HOST" (its host check) or "HOST!CHECK"; must exist */
    char *group;  /* owned; redundancy group, or NULL: a group of its own */
};

/*
 * One check instance on one host, after templates, apply rules and per-host
 * overrides have been expanded: the scheduler needs nothing else. Host checks
 * (a host's own `check:`) are instances too, with name "" and is_host set.
 */
struct cfg_check {
    char *id;     /* owned; "HOST!NAME", or "HOST" for a host check; unique */
    char *name;   /* owned; the check's name ("" for a host check) */
    char *host;   /* owned; host name */
    bool is_host; /* the host's own check: its result is the host's UP/DOWN */
    enum check_type type;
    char *command;      /* owned; COMMAND: the command line with macros expanded */
    char **env;         /* owned NULL-terminated "NAME=value" array added to the
                           plugin's environment (TOCSIN_HOSTNAME, TOCSIN_HOSTADDRESS,
                           TOCSIN_SERVICEDESC, NAGIOS_HOSTADDRESS, ...), or NULL */
    char *address;      /* owned; the host's address (TCP target, macros) */
    int port;           /* TCP: 1..65535 */
    char *send;         /* owned or NULL; TCP */
    char *expect;       /* owned or NULL; TCP: substring of the reply */
    char *url;          /* owned; HTTP */
    char *method;       /* owned or NULL; HTTP */
    int expect_status;  /* HTTP: 0 = any 2xx/3xx */
    char *expect_body;  /* owned or NULL; HTTP: POSIX ERE */
    bool verify_tls;    /* HTTP: default true */
    int cert_warn_days; /* HTTP: 0 = not checked; default 14 for https */
    int cert_crit_days; /* HTTP: default 7 for https */
    double warn_time_s; /* TCP/HTTP response time thresholds; 0 = none */
    double crit_time_s;
    int64_t interval_ms;         /* default 60s */
    int64_t retry_interval_ms;   /* default = interval */
    int64_t timeout_ms;          /* default 60s for commands, 10s for probes */
    int max_attempts;            /* default 3 */
    int64_t freshness_ms;        /* PASSIVE: 0 = no freshness check */
    int stale_state;             /* PASSIVE: state when stale, default UNKNOWN (3) */
    char *stale_output;          /* owned or NULL */
    bool flap_detection;         /* default true */
    double flap_low, flap_high;  /* default 20, 30 percent */
    enum severity severity;      /* alert severity of CRITICAL; WARNING -> warning */
    struct labelset labels;      /* owned; host labels overlaid by check labels */
    char *notes;                 /* owned or NULL */
    char *runbook;               /* owned or NULL; notes_url */
    struct cfg_dependency *deps; /* owned array */
    size_t n_deps;
};

struct cfg_host {
    char *name;    /* owned; unique */
    char *address; /* owned; default: the name */
    struct labelset labels;
    char **parents; /* owned array of owned host names; the host is
                       unreachable only when all of them are down */
    size_t n_parents;
    char *notes;   /* owned or NULL */
    ssize_t check; /* index into config.checks of the host check, or -1 (always UP) */
};

struct cfg_heartbeat {
    char *name; /* owned; unique */
    char *key;  /* owned; the secret in the URL (after env: resolution), 16..128 chars */
    int64_t period_ms, grace_ms, max_runtime_ms;
    bool has_min_value;
    double min_value;
    enum severity severity; /* default critical */
    struct labelset labels; /* owned */
    char *notes;            /* owned or NULL */
};

/* A maintenance window from the file. API-made ones live in the store. */
struct cfg_downtime {
    char *name;               /* owned; unique */
    char *host;               /* owned or NULL: covers this host and its checks */
    char *check;              /* owned or NULL: with host, only this check */
    struct matcher *matchers; /* owned array: alert labels it covers (AND) */
    size_t n_matchers;
    bool children;      /* also the host's children, recursively */
    char *comment;      /* owned or NULL */
    struct recur recur; /* when; recur.tz from tz_get */
};

struct cfg_scheduler {
    int max_concurrent;  /* plugins running at once; default 2 x CPUs, at least 4 */
    int max_probes;      /* native probes in flight; default 1000 */
    size_t max_output;   /* bytes kept of a plugin's output; default 65536 */
    char *plugin_dir;    /* owned; $USER1$; default /usr/lib/nagios/plugins */
    char *plugin_locale; /* owned; LC_ALL for plugins, "" = the server's own; default "C" */
};

struct cfg_checks_index; /* config_checks.c */

/* ---- On call (users, teams, schedules, escalation policies, channels) ---- */

/*
 * One notification rule of a user: tell them on `channel` once an incident
 * has been theirs for `after_ms` without acknowledgement. urgency limits the
 * rule to high- (1) or low-urgency (2: urgency 2 and 3) incidents; 0 = both.
 */
struct cfg_contact {
    char *channel;    /* owned; must name a channel */
    int64_t after_ms; /* default 0 */
    int urgency;      /* 0 any, 1 high, 2 low */
    char *to;         /* owned or NULL: the address on that channel; NULL = by channel type:
                         smtp -> email, command -> phone, webhook -> the channel's url */
};

struct cfg_user {
    char *name;                   /* owned; unique; [A-Za-z0-9._@-]{1,64} */
    char *full_name;              /* owned or NULL */
    char *email;                  /* owned or NULL */
    char *phone;                  /* owned or NULL; E.164 ("+4915112345678") */
    const struct tz *tz;          /* tz_get(time_zone); default UTC */
    struct cfg_contact *contacts; /* owned array; default: [{channel: the first smtp
                                     channel, after 0}] when the user has an email */
    size_t n_contacts;
};

struct cfg_team {
    char *name;     /* owned; unique */
    char **members; /* owned array of owned user names (all must exist) */
    size_t n_members;
    char *escalation_policy; /* owned or NULL */
    char **schedules;        /* owned array of owned schedule names */
    size_t n_schedules;
};

enum rotation_unit { ROT_HOURS = 0, ROT_DAYS = 1, ROT_WEEKS = 2 };

/*
 * A layer of a schedule: participants take turns. Days and weeks are counted
 * in the layer's local calendar, so a weekly 09:00 handoff stays at 09:00
 * across DST changes (and that shift is an hour shorter or longer); hours are
 * real elapsed time from the first handoff.
 */
struct cfg_layer {
    char *name;   /* owned; default "layer N" (1-based) */
    char **users; /* owned array of owned user names, in turn order; at least one */
    size_t n_users;
    enum rotation_unit unit;
    int rotation;       /* units per turn, >= 1 ("1w", "2d", "12h"; "custom" = any count) */
    int handoff_minute; /* minutes after local midnight, default 0 (ROT_HOURS: of the start day) */
    int start_year, start_month, start_day; /* the first turn (users[0]) starts that day at
                                               handoff_minute, local time */
    int64_t end_ms;                         /* the layer stops at this instant; 0 = never */
    const struct tz *tz;                    /* layer time_zone, default the schedule's */
    struct recur *restrictions;             /* owned array; the layer covers only times inside one
                                               of these windows (their tz = the layer's); none = always */
    size_t n_restrictions;
};

struct cfg_schedule {
    char *name;               /* owned; unique; [A-Za-z0-9._-]{1,64} */
    char *description;        /* owned or NULL */
    const struct tz *tz;      /* time_zone; required */
    struct cfg_layer *layers; /* owned array; a later layer wins over an earlier one */
    size_t n_layers;
};

enum target_kind { TARGET_USER = 0, TARGET_SCHEDULE = 1, TARGET_TEAM = 2 };

struct cfg_target {
    enum target_kind kind; /* "user:NAME", "schedule:NAME", "team:NAME" */
    char *name;            /* owned; must exist */
};

struct cfg_esc_level {
    int64_t delay_ms;           /* fires this long after the previous level (level 0: after the
                                   incident opens); default 0 for level 0, 15m for the others */
    struct cfg_target *targets; /* owned array, at least one */
    size_t n_targets;
};

struct cfg_escalation_policy {
    char *name;                   /* owned; unique */
    char *description;            /* owned or NULL */
    struct cfg_esc_level *levels; /* owned array, at least one */
    size_t n_levels;
    int repeat;              /* run the levels this many more times; default 0 */
    int64_t repeat_after_ms; /* pause after the last level before a repeat starts
                                again at level 0; default 15m */
    int64_t ack_timeout_ms;  /* an acknowledgement runs out after this (back to
                                triggered, escalation restarts); 0 = never */
};

enum channel_type { CHANNEL_WEBHOOK = 0, CHANNEL_SMTP = 1, CHANNEL_COMMAND = 2 };
enum webhook_format { WEBHOOK_GENERIC = 0, WEBHOOK_SLACK = 1, WEBHOOK_TEAMS = 2 };

struct cfg_channel {
    char *name; /* owned; unique */
    enum channel_type type;
    char *url;                  /* owned; WEBHOOK: http(s) URL; SMTP: smtp:// or smtps:// URL */
    enum webhook_format format; /* WEBHOOK; default generic */
    char *secret;               /* owned or NULL (env: allowed); WEBHOOK: HMAC-SHA256 key of the
                                   X-Tocsin-Signature header */
    char **headers;             /* owned NULL-terminated "Name: value" array, or NULL; WEBHOOK */
    char *from;                 /* owned; SMTP: envelope and header From; required */
    char *username;             /* owned or NULL; SMTP auth */
    char *password;             /* owned or NULL (env: allowed) */
    int tls;              /* SMTP: 0 none, 1 STARTTLS when offered (default), 2 STARTTLS required */
    bool verify_tls;      /* default true */
    char *command;        /* owned; COMMAND: program and arguments (no shell) */
    char *subject;        /* owned or NULL: template for the subject/title ({{...}} fields) */
    char *body;           /* owned or NULL: template for the text */
    int64_t timeout_ms;   /* one delivery attempt; default 10s */
    int max_attempts;     /* then dead letter; default 8 */
    int64_t retry_min_ms; /* first retry delay, doubled each time, +-20% jitter; default 5s */
    int64_t retry_max_ms; /* cap; default 10m */
    int max_per_hour;     /* per target; 0 = unlimited (default) */
};

/* notifications: settings shared by all channels. */
struct cfg_notify {
    char *public_url;         /* owned or NULL; base of action links; NULL = "http://" + the
                                 address the server bound */
    char *secret;             /* owned or NULL (env: allowed); HMAC key of action links;
                                 NULL = a random key kept in DATA_DIR/secret */
    int64_t link_ttl_ms;      /* action links expire; default 24h */
    int digest_after;         /* per user: more than this many new incidents inside
                                 digest_window_ms become one digest; default 5; 0 = never */
    int64_t digest_window_ms; /* default 2m */
};

/* ---- Metrics (the time-series store and scraping; config_metrics.c) ---- */

/* metrics: how much the time-series store keeps and what one request may cost. */
struct cfg_metrics {
    int64_t retention_ms;         /* retention; samples older than this go; default 30d;
                                     0 = keep forever */
    uint64_t retention_bytes;     /* retention_size; the oldest blocks go first beyond it;
                                     0 = no size limit (default) */
    size_t max_series;            /* series in the store; default 2,000,000; 0 = no limit */
    size_t max_series_per_source; /* series one writer or scrape job may create; default 0:
                                     only max_series applies */
    size_t max_write_bytes;       /* body of one write request; default 32 MiB */
    size_t max_query_samples;     /* samples one query may load; default 50,000,000 */
    int64_t lookback_ms;          /* PromQL instant-selector lookback; default 5m */
    bool perfdata;                /* check perfdata become series; default true */
};

/* One query parameter of a scrape URL (params: {module: [a, b]} gives two). */
struct cfg_scrape_param {
    char *name;  /* owned; not empty */
    char *value; /* owned; may be empty */
};

/*
 * One entry of `scrape`: a job whose targets are fetched the Prometheus way,
 * scheme://TARGET METRICS_PATH?PARAMS, every interval.
 */
struct cfg_scrape_job {
    char *job;      /* owned; unique; the value of the job label */
    char **targets; /* owned array of owned "host:port" (the instance label); at least one,
                       unique within the job */
    size_t n_targets;
    int64_t interval_ms;             /* default 60s; at least 100 ms */
    int64_t timeout_ms;              /* default min(10s, interval); <= interval */
    struct labelset labels;          /* owned; added to every sample of the job's targets;
                                        never job, instance or a __ name */
    char *metrics_path;              /* owned; default "/metrics"; starts with '/' */
    bool https;                      /* scheme: http (default) or https */
    struct cfg_scrape_param *params; /* owned array, in file order */
    size_t n_params;
    bool honor_labels;    /* the target's own job/instance/... labels win */
    bool tls_skip_verify; /* https without verifying the peer; default false */
    char *bearer_token;   /* owned or NULL (env: resolved) */
    char *basic_user;     /* owned or NULL; basic_auth.username */
    char *basic_password; /* owned or NULL (env: resolved); basic_auth.password */
    size_t sample_limit;  /* 0 = none; a scrape with more samples fails */
    size_t body_limit;    /* bytes of one response body; default 50 MiB */
};

/* ---- rules: alert and recording rules over metrics (config_rules.c) ---- */

enum rule_kind {
    RULE_STATIC = 0,   /* static: water marks with hysteresis, maybe per time period */
    RULE_SEASONAL = 1, /* seasonal: a band learned from the same phase of past days/weeks */
    RULE_ABSENT = 2,   /* absent: no sample for a duration */
    RULE_FORECAST = 3, /* forecast: the fitted trend crosses a limit within a horizon */
    RULE_PROMQL = 4,   /* a Prometheus alerting rule: every series expr returns fires */
    RULE_RECORD = 5,   /* a Prometheus recording rule: expr is stored as a new series */
};

/* Which side of a level is bad. RULE_BOTH only for seasonal. */
enum rule_dir { RULE_ABOVE = 1, RULE_BELOW = 2, RULE_BOTH = 3 };

/*
 * Water marks on one side. A value past `warning` (above: >, below: <) is a
 * warning, past `critical` critical. Once raised, a level clears only when
 * the value is back past its recovery level (above: <=, below: >=), so a
 * value wobbling around the line does not flap. Unset levels are NAN.
 */
struct cfg_levels {
    bool set;                                 /* this side was configured */
    double warning, critical;                 /* NAN when not given; at least one is set */
    double recover_warning, recover_critical; /* default: the level itself (recover: 0), the
                                                 level -/+ recover: N, or recover: {warning,
                                                 critical} given explicitly */
};

/* Levels that apply inside some windows ("night", "weekend"). */
struct cfg_rule_period {
    char *name;            /* owned; "period 1" when not named */
    struct recur *windows; /* owned array; {time_zone, windows} as for support_hours */
    size_t n_windows;
    struct cfg_levels above, below; /* a side not set in the period is off during it */
};

/* static: the default levels and per-period overrides (first period that holds wins). */
struct cfg_static {
    struct cfg_levels above, below;
    struct cfg_rule_period *periods; /* owned array, in file order */
    size_t n_periods;
};

enum season_kind { SEASON_DAY = 0, SEASON_WEEK = 1 };
enum seasonal_centre { CENTRE_MEDIAN = 0, CENTRE_TRIMMED_MEAN = 1, CENTRE_MEAN = 2 };
enum seasonal_spread { SPREAD_MAD = 0, SPREAD_STDDEV = 1 };
enum seasonal_fallback { FALLBACK_SILENT = 0, FALLBACK_STATIC = 1 };

/*
 * seasonal: the expected level for an instant is the centre of the values
 * seen in the same slot (e.g. Monday 08:00-09:00, local time of tz) over the
 * last horizon; the band is centre -/+ max(k * spread, min_band,
 * min_band_ratio * |centre|).
 */
struct cfg_seasonal {
    enum season_kind season;     /* season: day | week (default week) */
    int64_t horizon_ms;          /* horizon: default 4w; a whole number of seasons, at most 52w */
    int64_t slot_ms;             /* slot: default 1h; divides a day; at least 5m */
    double k;                    /* default 3 */
    enum rule_dir direction;     /* direction: above | below | both (default) */
    double min_band;             /* default 0: absolute floor of the half-width */
    double min_band_ratio;       /* default 0.05: floor as a fraction of |centre| */
    enum seasonal_centre centre; /* centre: median (default) | trimmed_mean | mean */
    double trim;                 /* trimmed_mean: fraction cut from each end, default 0.1 */
    enum seasonal_spread spread; /* spread: mad (default, scaled by 1.4826) | stddev */
    int min_seasons;             /* min_history: past seasons with data a slot needs; default
                                    max(2, seasons in horizon / 2) */
    enum seasonal_fallback fallback; /* fallback: silent (default) | static (the rule's
                                        static: block, which must then be given) */
    const struct tz *tz;             /* time_zone: default rule_settings.time_zone (UTC) */
    int32_t *holidays;               /* owned; local dates as YYYYMMDD, sorted: history on them is
                                        left out and on them the rule falls back */
    size_t n_holidays;
};

/* absent: no sample of the query for `after`. */
struct cfg_absent {
    int64_t after_ms;  /* absent: 2h, or {after: 2h, forget: 7d} */
    int64_t forget_ms; /* a series gone this long is forgotten (its alert resolves); default 7d,
                          0 = never */
};

enum forecast_model { FORECAST_LINEAR = 0, FORECAST_QUADRATIC = 1, FORECAST_EXPONENTIAL = 2 };

/* forecast: fit the last `window`, alert when the fit crosses limit within `within`. */
struct cfg_forecast {
    enum rule_dir dir; /* below: falls to limit; above: rises to it */
    double limit;
    int64_t within_ms;         /* required */
    int64_t window_ms;         /* default: within, at most 30d */
    enum forecast_model model; /* model: linear (default) | quadratic | exponential */
    int min_points;            /* default 10: fewer points than this and the rule does not judge */
};

/* One rule, from `rules:` or from a Prometheus rule file. */
struct cfg_rule {
    char *name;  /* owned; unique over all rules (recording rules: the record name,
                    which may repeat across groups) */
    char *group; /* owned; rule file group, or "tocsin.yaml" for rules: */
    char *file;  /* owned; the file it came from */
    int line;    /* line of the rule in that file, 0 when unknown */
    char *query; /* owned; PromQL (query: or expr:), validated by promql_parse */
    enum rule_kind kind;
    struct labelset labels;     /* owned; added to every alert (or recorded series) */
    json_t *annotations;        /* owned object of string templates: summary, description,
                                   runbook_url and any other; may be empty, never NULL */
    enum severity severity;     /* severity: default warning; for static rules the severity of
                                   the critical level (default critical) */
    bool severity_set;          /* severity (or a Prometheus severity label) was given */
    int64_t interval_ms;        /* interval: default the group's, else rule_settings.interval */
    int64_t for_ms;             /* for: pending time, default 0 */
    int64_t keep_firing_for_ms; /* keep_firing_for: default 0 */
    struct cfg_static st;       /* RULE_STATIC, and RULE_SEASONAL with fallback static */
    struct cfg_seasonal se;     /* RULE_SEASONAL */
    struct cfg_absent ab;       /* RULE_ABSENT */
    struct cfg_forecast fc;     /* RULE_FORECAST */
    json_t *spec;               /* owned; the rule's mapping as written (Tocsin's form, or
                                   Prometheus's with "alert"/"record"), for backtests through
                                   the API and for GET /api/v1/rules */
};

/* rule_settings: defaults and bounds for every rule. */
struct cfg_rule_settings {
    int64_t interval_ms;        /* interval: default 1m, at least 1s */
    const struct tz *tz;        /* time_zone: default UTC (seasonal phases) */
    size_t max_series_per_rule; /* default 10,000: more and the evaluation fails, named */
    int64_t link_range_ms;      /* link_range: range of the query link in alerts, default 6h */
};

struct config {
    char *path;     /* owned; the file it came from ("<api>" for API-built objects) */
    char *listen;   /* owned; HOST:PORT, default 127.0.0.1:8080 */
    char *data_dir; /* owned; default ./tocsin-data */
    enum log_level log_level;
    bool sync_full;        /* storage.sync: full (fsync every commit, default) or normal */
    bool keep_raw_intake;  /* storage.keep_raw_intake: also keep every request body verbatim */
    size_t max_body_bytes; /* intake.max_body_bytes, default 1 MiB */
    size_t queue_limit;    /* intake.queue_limit: events waiting for the engine, default 50000 */

    struct cfg_token *tokens;
    size_t n_tokens;
    struct cfg_integration *integrations;
    size_t n_integrations;
    struct cfg_service *services;
    size_t n_services;
    struct route root;  /* default route; configured routes are its children */
    int priority[3][3]; /* priority[impact-1][urgency-1] -> 1..5 (P1..P5) */

    struct cfg_host *hosts; /* in file order */
    size_t n_hosts;
    struct cfg_check *checks; /* every instance, host checks included */
    size_t n_checks;
    struct cfg_heartbeat *heartbeats;
    size_t n_heartbeats;
    struct cfg_downtime *downtimes;
    size_t n_downtimes;
    struct cfg_scheduler scheduler;

    struct cfg_user *users;
    size_t n_users;
    struct cfg_team *teams;
    size_t n_teams;
    struct cfg_schedule *schedules;
    size_t n_schedules;
    struct cfg_escalation_policy *policies;
    size_t n_policies;
    struct cfg_channel *channels;
    size_t n_channels;
    struct cfg_notify notify;

    struct cfg_metrics metrics;
    struct cfg_scrape_job *scrape_jobs; /* owned array, in file order */
    size_t n_scrape_jobs;

    struct cfg_rule *rules; /* owned array: rules: first, then rule_files in order */
    size_t n_rules;
    char **rule_files; /* owned array of owned resolved paths (globs expanded), for reload */
    size_t n_rule_files;
    struct cfg_rule_settings rule_settings;

    /* owned; private look-up tables behind config_find_host, config_find_check
     * and config_find_heartbeat_key (config_checks.c), NULL in a config that
     * failed to build. */
    struct cfg_checks_index *checks_index;
};

/* Every problem found while loading; each message is complete and printable. */
struct cfg_errors {
    size_t n;
    char **msgs; /* owned array of owned "FILE:LINE:COL: message" strings */
};

/*
 * Reads and validates a YAML file. Returns a new config (caller frees with
 * config_free) or NULL, in which case errs holds at least one message.
 * Secrets written as "env:NAME" are read from the environment; a missing
 * variable is an error.
 */
struct config *config_load_file(const char *path, struct cfg_errors *errs);

/*
 * Builds a config from an empty file: every default, no tokens, no
 * integrations. Used when no file is given. Never NULL except out of memory.
 */
struct config *config_default(void);

/*
 * Same as config_load_file for `len` bytes already in memory; `name` stands
 * for FILE in messages. Inputs over 16 MiB are rejected. Used by the fuzzer
 * and by tests.
 */
struct config *config_load_buffer(const char *name, const char *buf, size_t len,
                                  struct cfg_errors *errs);

struct yaml_positions; /* config_yaml.h */

/*
 * Validates a JSON tree of the configuration file's shape and builds a config
 * (caller frees with config_free), or returns NULL with every problem in errs.
 * root may be NULL or JSON null (an empty file: all defaults). `path` is kept
 * as cfg->path and used as FILE in messages. With pos (from yaml_read_buffer)
 * messages are "FILE:LINE:COL: message"; with pos NULL, as for API bodies,
 * they are "JSON.PATH: message", e.g. "routes[0].group_window: ...".
 */
struct config *config_from_json(const json_t *root, const char *path,
                                const struct yaml_positions *pos, struct cfg_errors *errs);

/*
 * Appends a printf-formatted message to errs, which owns it. Returns 0, or -1
 * when out of memory (the message is lost).
 */
int cfg_errors_add(struct cfg_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void config_free(struct config *cfg);
void cfg_errors_free(struct cfg_errors *errs);

/* Look-ups; borrowed pointers valid as long as cfg. NULL when not found. */
const struct cfg_token *config_find_token(const struct config *cfg, const char *secret);
const struct cfg_integration *config_find_integration_key(const struct config *cfg,
                                                          const char *key);
const struct cfg_service *config_find_service(const struct config *cfg, const char *name);
const struct cfg_host *config_find_host(const struct config *cfg, const char *name);
const struct cfg_check *config_find_check(const struct config *cfg, const char *id);
const struct cfg_heartbeat *config_find_heartbeat_key(const struct config *cfg, const char *key);
const struct cfg_user *config_find_user(const struct config *cfg, const char *name);
const struct cfg_team *config_find_team(const struct config *cfg, const char *name);
const struct cfg_schedule *config_find_schedule(const struct config *cfg, const char *name);
const struct cfg_escalation_policy *config_find_policy(const struct config *cfg, const char *name);
const struct cfg_channel *config_find_channel(const struct config *cfg, const char *name);
const struct cfg_scrape_job *config_find_scrape_job(const struct config *cfg, const char *job);
const struct cfg_rule *config_find_rule(const struct config *cfg, const char *name);

/*
 * Builds one rule from a JSON mapping in either form (Tocsin's rules: item,
 * or a Prometheus rule with "alert" or "record"), with the settings and
 * defaults of cfg, as the backtest API takes it. Returns 0 and fills *out
 * (free with config_rule_free), or -1 with every problem in errs as
 * "rule.FIELD: message".
 */
int config_rule_from_json(const json_t *spec, const struct config *cfg, struct cfg_rule *out,
                          struct cfg_errors *errs);
void config_rule_free(struct cfg_rule *r);

/* Urgency of a severity: critical/error -> 1 (high), warning -> 2, info -> 3. */
int config_urgency(enum severity sev);

/* P1..P5 for an impact (1..3, 0 = medium) and a severity. */
int config_priority(const struct config *cfg, int impact, enum severity sev);

/*
 * Parses one Alertmanager-style matcher such as `severity=~"critical|error"`
 * (the syntax of a route's `matchers`) into m, compiling its regex. Returns 0,
 * or -1 with a message in err and m left empty. Free with
 * config_matcher_free.
 */
int config_matcher_parse(const char *text, struct matcher *m, char *err, size_t errlen);
void config_matcher_free(struct matcher *m);

const char *integration_type_name(enum integration_type t);
const char *role_name(enum role r);

#endif
