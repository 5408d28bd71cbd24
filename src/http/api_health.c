/*
 * api_health.c - liveness, readiness and /metrics.
 */
#include "../checks/checks.h"
#include "api.h"

#include "../base/clock.h"
#include "../metrics/tsdb.h"
#include "../rules/rules.h"

#include <stdio.h>
#include <stdlib.h>

void api_healthz(struct http_req *req)
{
    http_reply_json(req, 200, json_pack("{ss}", "status", req->ctx->ready ? "ok" : "starting"));
}

void api_am_healthy(struct http_req *req)
{
    http_reply_text(req, 200, "text/plain; charset=utf-8", "OK", 2);
}

void api_am_ready(struct http_req *req)
{
    if (req->ctx->ready)
        http_reply_text(req, 200, "text/plain; charset=utf-8", "OK", 2);
    else
        http_reply_text(req, 503, "text/plain; charset=utf-8", "Service Unavailable", 19);
}

/* The metrics store's own figures. */
static void api_metrics_tsdb_write(struct tsdb *db, FILE *f)
{
    struct tsdb_stats s;
    tsdb_stats(db, &s);
    fprintf(f,
            "# HELP tocsin_tsdb_head_series Series in the metrics head.\n"
            "# TYPE tocsin_tsdb_head_series gauge\ntocsin_tsdb_head_series %llu\n"
            "# HELP tocsin_tsdb_samples_appended_total Samples stored since start.\n"
            "# TYPE tocsin_tsdb_samples_appended_total counter\n"
            "tocsin_tsdb_samples_appended_total %llu\n"
            "# HELP tocsin_tsdb_samples_rejected_total Samples refused since start (order, "
            "limits, names).\n"
            "# TYPE tocsin_tsdb_samples_rejected_total counter\n"
            "tocsin_tsdb_samples_rejected_total %llu\n"
            "# HELP tocsin_tsdb_series_limit_hits_total Samples refused by a series limit.\n"
            "# TYPE tocsin_tsdb_series_limit_hits_total counter\n"
            "tocsin_tsdb_series_limit_hits_total %llu\n"
            "# HELP tocsin_tsdb_head_samples Samples held in memory.\n"
            "# TYPE tocsin_tsdb_head_samples gauge\ntocsin_tsdb_head_samples %llu\n"
            "# HELP tocsin_tsdb_blocks Persisted blocks.\n"
            "# TYPE tocsin_tsdb_blocks gauge\ntocsin_tsdb_blocks %llu\n"
            "# HELP tocsin_tsdb_disk_bytes Bytes on disk (blocks and log).\n"
            "# TYPE tocsin_tsdb_disk_bytes gauge\ntocsin_tsdb_disk_bytes %llu\n"
            "# HELP tocsin_tsdb_wal_bytes Bytes of write-ahead log.\n"
            "# TYPE tocsin_tsdb_wal_bytes gauge\ntocsin_tsdb_wal_bytes %llu\n"
            "# HELP tocsin_tsdb_memory_bytes Estimated memory of the head.\n"
            "# TYPE tocsin_tsdb_memory_bytes gauge\ntocsin_tsdb_memory_bytes %llu\n",
            (unsigned long long)s.series, (unsigned long long)s.samples_appended,
            (unsigned long long)s.samples_rejected, (unsigned long long)s.series_limit_hits,
            (unsigned long long)s.head_samples, (unsigned long long)s.blocks,
            (unsigned long long)s.disk_bytes, (unsigned long long)s.wal_bytes,
            (unsigned long long)s.memory_bytes);
}

/* The rule evaluator's figures. */
static void api_metrics_rules_write(struct rules *r, FILE *f)
{
    struct rules_stats s;
    rules_stats(r, &s);
    fprintf(f,
            "# HELP tocsin_rules Rules configured (alerting and recording).\n"
            "# TYPE tocsin_rules gauge\ntocsin_rules %llu\n"
            "# HELP tocsin_rule_evaluations_total Rule evaluations since start.\n"
            "# TYPE tocsin_rule_evaluations_total counter\n"
            "tocsin_rule_evaluations_total %llu\n"
            "# HELP tocsin_rule_evaluation_failures_total Rule evaluations that failed (query "
            "error, limit).\n"
            "# TYPE tocsin_rule_evaluation_failures_total counter\n"
            "tocsin_rule_evaluation_failures_total %llu\n"
            "# HELP tocsin_rule_events_sent_total Events rules handed to the engine.\n"
            "# TYPE tocsin_rule_events_sent_total counter\n"
            "tocsin_rule_events_sent_total %llu\n"
            "# HELP tocsin_rule_events_retried_total Rule events the engine refused, sent again "
            "later.\n"
            "# TYPE tocsin_rule_events_retried_total counter\n"
            "tocsin_rule_events_retried_total %llu\n"
            "# HELP tocsin_rule_series Series states the rules hold.\n"
            "# TYPE tocsin_rule_series gauge\ntocsin_rule_series %llu\n"
            "# HELP tocsin_rule_alerts Rule alerts by state.\n"
            "# TYPE tocsin_rule_alerts gauge\n"
            "tocsin_rule_alerts{state=\"firing\"} %llu\n"
            "tocsin_rule_alerts{state=\"pending\"} %llu\n"
            "# HELP tocsin_rule_baselines Seasonal baselines held (one per series).\n"
            "# TYPE tocsin_rule_baselines gauge\ntocsin_rule_baselines %llu\n"
            "# HELP tocsin_rule_baseline_bytes Memory of the seasonal baselines.\n"
            "# TYPE tocsin_rule_baseline_bytes gauge\ntocsin_rule_baseline_bytes %llu\n"
            "# HELP tocsin_rule_baselines_loading Rules still loading their history.\n"
            "# TYPE tocsin_rule_baselines_loading gauge\ntocsin_rule_baselines_loading %llu\n"
            "# HELP tocsin_rule_last_tick_seconds Wall time of the last evaluation tick.\n"
            "# TYPE tocsin_rule_last_tick_seconds gauge\ntocsin_rule_last_tick_seconds %.6f\n",
            (unsigned long long)s.rules, (unsigned long long)s.evaluations,
            (unsigned long long)s.failures, (unsigned long long)s.events_sent,
            (unsigned long long)s.events_retried, (unsigned long long)s.series,
            (unsigned long long)s.firing, (unsigned long long)s.pending,
            (unsigned long long)s.baselines, (unsigned long long)s.baseline_bytes,
            (unsigned long long)s.baselines_loading, (double)s.last_tick_us / 1e6);
}

void api_metrics(struct http_req *req)
{
    const struct engine_stats *s = engine_get_stats(req->ctx->engine);
    const struct config *cfg = req->cfg;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    long long cum = 0;

    if (!f) {
        http_reply_error(req, 500, "internal", NULL, "out of memory");
        return;
    }
    fputs("# HELP tocsin_events_received_total Events accepted, by integration and outcome.\n"
          "# TYPE tocsin_events_received_total counter\n",
          f);
    size_t n = cfg->n_integrations < ENGINE_MAX_INTEGRATIONS ? cfg->n_integrations
                                                             : ENGINE_MAX_INTEGRATIONS;
    for (size_t i = 0; i < n + 3; i++) {
        size_t row = i < n ? i : ENGINE_MAX_INTEGRATIONS + (i - n);
        for (int o = 0; o < OUTCOME_COUNT; o++) {
            long long v = atomic_load(&s->outcomes[row * OUTCOME_COUNT + (size_t)o]);
            if (i >= n && v == 0)
                continue;
            fprintf(f, "tocsin_events_received_total{integration=\"%s\",outcome=\"%s\"} %lld\n",
                    i < n        ? cfg->integrations[i].name
                    : i == n     ? "other"
                    : i == n + 1 ? "checks"
                                 : "rules",
                    engine_outcome_name((enum engine_outcome)o), v);
        }
    }
    fprintf(f,
            "# HELP tocsin_alerts_open Alerts firing or acknowledged.\n"
            "# TYPE tocsin_alerts_open gauge\ntocsin_alerts_open %lld\n"
            "# HELP tocsin_incidents_open Incidents triggered or acknowledged.\n"
            "# TYPE tocsin_incidents_open gauge\ntocsin_incidents_open %lld\n"
            "# HELP tocsin_engine_queue_depth Events waiting for the engine.\n"
            "# TYPE tocsin_engine_queue_depth gauge\ntocsin_engine_queue_depth %lld\n"
            "# HELP tocsin_engine_batches_total Batches committed by the engine.\n"
            "# TYPE tocsin_engine_batches_total counter\ntocsin_engine_batches_total %lld\n"
            "# HELP tocsin_store_errors_total Batches that failed to commit.\n"
            "# TYPE tocsin_store_errors_total counter\ntocsin_store_errors_total %lld\n",
            (long long)atomic_load(&s->alerts_open), (long long)atomic_load(&s->incidents_open),
            (long long)atomic_load(&s->queue_events), (long long)atomic_load(&s->batches),
            (long long)atomic_load(&s->store_errors));
    fputs("# HELP tocsin_commit_duration_seconds Time to apply and commit one engine batch.\n"
          "# TYPE tocsin_commit_duration_seconds histogram\n",
          f);
    for (int b = 0; b < 12; b++) {
        cum += atomic_load(&s->commit_buckets[b]);
        if (b < 11)
            fprintf(f, "tocsin_commit_duration_seconds_bucket{le=\"%g\"} %lld\n",
                    engine_commit_bounds[b], cum);
        else
            fprintf(f, "tocsin_commit_duration_seconds_bucket{le=\"+Inf\"} %lld\n", cum);
    }
    fprintf(f,
            "tocsin_commit_duration_seconds_sum %.6f\ntocsin_commit_duration_seconds_count %lld\n",
            (double)atomic_load(&s->commit_sum_us) / 1e6, (long long)atomic_load(&s->commit_count));
    fprintf(f,
            "# HELP tocsin_notifications_pending Notifications waiting in the outbox or in "
            "flight.\n# TYPE tocsin_notifications_pending gauge\ntocsin_notifications_pending "
            "%lld\n"
            "# HELP tocsin_notification_attempts_total Delivery attempts handed to the "
            "notifier.\n# TYPE tocsin_notification_attempts_total counter\n"
            "tocsin_notification_attempts_total %lld\n"
            "# HELP tocsin_notifications_total Notifications by final outcome (delivered, dead "
            "letter) and failed attempts that will be retried.\n"
            "# TYPE tocsin_notifications_total counter\n"
            "tocsin_notifications_total{outcome=\"delivered\"} %lld\n"
            "tocsin_notifications_total{outcome=\"retry\"} %lld\n"
            "tocsin_notifications_total{outcome=\"dead\"} %lld\n"
            "# HELP tocsin_escalations_total Escalation levels fired.\n"
            "# TYPE tocsin_escalations_total counter\ntocsin_escalations_total %lld\n",
            (long long)atomic_load(&s->notify_pending), (long long)atomic_load(&s->notify_sent),
            (long long)atomic_load(&s->notify_delivered),
            (long long)atomic_load(&s->notify_retries), (long long)atomic_load(&s->notify_dead),
            (long long)atomic_load(&s->escalations));
    if (req->ctx->checks)
        checks_metrics_write(req->ctx->checks, f);
    if (req->ctx->tsdb)
        api_metrics_tsdb_write(req->ctx->tsdb, f);
    if (req->ctx->rules)
        api_metrics_rules_write(req->ctx->rules, f);
    http_metrics_write(f);
    fclose(f);
    http_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
    free(buf);
}
