/*
 * api.h - the request handlers, one file per resource (api_*.c). Each takes
 * a parsed request and answers it through the http_reply_* functions.
 */
#ifndef TOCSIN_API_H
#define TOCSIN_API_H

#include "server.h"

/* api_health.c */
void api_healthz(struct http_req *req);
void api_am_healthy(struct http_req *req);
void api_am_ready(struct http_req *req);
void api_metrics(struct http_req *req);

/* api_intake.c */
void api_events_post(struct http_req *req);
void api_pd_enqueue(struct http_req *req);
void api_pd_change(struct http_req *req);
void api_pd_v1(struct http_req *req);
void api_am_alerts_post(struct http_req *req);
void api_am_webhook(struct http_req *req);
void api_am_status(struct http_req *req);
void api_am_alerts_get(struct http_req *req);

/* api_incidents.c */
void api_alerts_list(struct http_req *req);
void api_alert_get(struct http_req *req);
void api_incidents_list(struct http_req *req);
void api_incident_get(struct http_req *req);
void api_incident_ack(struct http_req *req);
void api_incident_resolve(struct http_req *req);
void api_incident_note(struct http_req *req);
void api_changes_list(struct http_req *req);
void api_audit_list(struct http_req *req);

/* api_checks.c */
void api_hosts_list(struct http_req *req);
void api_services_list(struct http_req *req);
void api_service_get(struct http_req *req);
void api_service_check_now(struct http_req *req);
void api_check_results_post(struct http_req *req);
void api_heartbeats_list(struct http_req *req);
void api_heartbeat_ping(struct http_req *req);
void api_heartbeat_start(struct http_req *req);
void api_heartbeat_fail(struct http_req *req);
void api_downtimes_list(struct http_req *req);
void api_downtimes_post(struct http_req *req);
void api_downtime_delete(struct http_req *req);
void api_reload(struct http_req *req);

void api_incident_escalate(struct http_req *req);
void api_incident_assign(struct http_req *req);
void api_oncall(struct http_req *req);
void api_schedules_list(struct http_req *req);
void api_schedule_get(struct http_req *req);
void api_schedule_shifts(struct http_req *req);
void api_overrides_list(struct http_req *req);
void api_overrides_post(struct http_req *req);
void api_override_delete(struct http_req *req);
void api_users_list(struct http_req *req);
void api_user_get(struct http_req *req);
void api_teams_list(struct http_req *req);
void api_policies_list(struct http_req *req);
void api_notifications_list(struct http_req *req);
void api_notification_retry(struct http_req *req);
void api_action_link_get(struct http_req *req);
void api_action_link_post(struct http_req *req);

/* api_metrics.c */
void api_metrics_write(struct http_req *req);
void api_influx_write_v1(struct http_req *req);
void api_influx_write_v2(struct http_req *req);
void api_prom_query(struct http_req *req);
void api_prom_query_range(struct http_req *req);
void api_prom_series(struct http_req *req);
void api_prom_labels(struct http_req *req);
void api_prom_label_values(struct http_req *req);
void api_prom_targets(struct http_req *req);
void api_prom_buildinfo(struct http_req *req);
void api_prom_metadata(struct http_req *req);
void api_prom_exemplars(struct http_req *req);
void api_tsdb_flush(struct http_req *req);

/* api_rules.c */
void api_rules_list(struct http_req *req);
void api_rule_get(struct http_req *req);
void api_rules_test(struct http_req *req);

/* auth.c */

/* Checks the API token; returns it, or answers 401/403 and returns NULL. */
const struct cfg_token *auth_api(struct http_req *req, enum role need);

/* The integration key a request carries (Bearer, X-Tocsin-Key, or Basic
 * password), copied into buf. Returns false when there is none. */
bool auth_request_key(struct http_req *req, char *buf, size_t size);

#endif
