/*
 * store_sqlite_read.c - the read side of the SQLite backend: queries that
 * turn rows into the JSON the API serves. Runs on reader connections from
 * any thread.
 */
#include "store.h"
#include "store_sqlite_int.h"

#include "../base/log.h"
#include "../base/timefmt.h"
#include "../engine/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALERT_COLUMNS                                                                              \
    "id, integration, dedup_key, status, severity, summary, source, labels, details, links, "      \
    "incident_ids, first_seen, last_seen, count, starts_at, ends_at, acknowledged_at, "            \
    "acknowledged_by, resolved_at, resolved_by, suppressed"

#define TIMELINE_COLUMNS "id, incident_id, at, kind, actor, text, data"

#define INCIDENT_COLUMNS                                                                           \
    "id, title, service, route, group_key, status, severity, priority, urgency, impact, "          \
    "created_at, updated_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, "         \
    "alert_count, open_alert_count, last_alert_at, ack_expires_at, assignee, esc_policy, "         \
    "esc_level, esc_round, esc_next_at"

static const char *const level_names[] = {"", "high", "medium", "low"};

static json_t *ts_json(sqlite3_stmt *st, int i)
{
    char buf[40];
    if (sqlite3_column_type(st, i) == SQLITE_NULL || sqlite3_column_int64(st, i) == 0)
        return json_null();
    return json_string(timefmt_format_rfc3339(sqlite3_column_int64(st, i), buf, sizeof(buf)));
}

static json_t *text_json(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? json_string(t) : json_null();
}

/* A column holding serialised JSON, parsed back; NULL column -> null. */
static json_t *raw_json(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    json_t *v;
    if (!t)
        return json_null();
    v = json_loads(t, JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

static json_t *alert_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(o, "integration", text_json(st, 1));
    json_object_set_new(o, "dedup_key", text_json(st, 2));
    json_object_set_new(o, "status", text_json(st, 3));
    json_object_set_new(o, "severity",
                        json_string(severity_name((enum severity)sqlite3_column_int(st, 4))));
    json_object_set_new(o, "summary", text_json(st, 5));
    json_object_set_new(o, "source", text_json(st, 6));
    json_object_set_new(o, "labels", raw_json(st, 7));
    json_object_set_new(o, "details", raw_json(st, 8));
    json_t *links = raw_json(st, 9);
    json_object_set_new(o, "links", json_is_null(links) ? json_array() : links);
    if (json_is_null(links))
        json_decref(links);
    json_object_set_new(o, "incident_ids", raw_json(st, 10));
    json_object_set_new(o, "first_seen", ts_json(st, 11));
    json_object_set_new(o, "last_seen", ts_json(st, 12));
    json_object_set_new(o, "count", json_integer(sqlite3_column_int64(st, 13)));
    json_object_set_new(o, "starts_at", ts_json(st, 14));
    json_object_set_new(o, "ends_at", ts_json(st, 15));
    json_object_set_new(o, "acknowledged_at", ts_json(st, 16));
    json_object_set_new(o, "acknowledged_by", text_json(st, 17));
    json_object_set_new(o, "resolved_at", ts_json(st, 18));
    json_object_set_new(o, "resolved_by", text_json(st, 19));
    json_object_set_new(o, "suppressed", text_json(st, 20));
    return o;
}

static const char *level_name(int v)
{
    return (v >= 1 && v <= 3) ? level_names[v] : "medium";
}

static json_t *incident_row(sqlite3_stmt *st)
{
    char num[32];
    json_t *o = json_object();
    int64_t id = sqlite3_column_int64(st, 0);
    snprintf(num, sizeof(num), "INC-%lld", (long long)id);
    json_object_set_new(o, "id", json_integer(id));
    json_object_set_new(o, "number", json_string(num));
    json_object_set_new(o, "title", text_json(st, 1));
    json_object_set_new(o, "service", text_json(st, 2));
    json_object_set_new(o, "route", text_json(st, 3));
    json_object_set_new(o, "group_key", text_json(st, 4));
    json_object_set_new(o, "status", text_json(st, 5));
    json_object_set_new(o, "severity",
                        json_string(severity_name((enum severity)sqlite3_column_int(st, 6))));
    snprintf(num, sizeof(num), "P%d", sqlite3_column_int(st, 7));
    json_object_set_new(o, "priority", json_string(num));
    json_object_set_new(o, "urgency", json_string(level_name(sqlite3_column_int(st, 8))));
    json_object_set_new(o, "impact", json_string(level_name(sqlite3_column_int(st, 9))));
    json_object_set_new(o, "created_at", ts_json(st, 10));
    json_object_set_new(o, "updated_at", ts_json(st, 11));
    json_object_set_new(o, "acknowledged_at", ts_json(st, 12));
    json_object_set_new(o, "acknowledged_by", text_json(st, 13));
    json_object_set_new(o, "resolved_at", ts_json(st, 14));
    json_object_set_new(o, "resolved_by", text_json(st, 15));
    json_object_set_new(o, "alert_count", json_integer(sqlite3_column_int64(st, 16)));
    json_object_set_new(o, "open_alert_count", json_integer(sqlite3_column_int64(st, 17)));
    json_object_set_new(o, "last_alert_at", ts_json(st, 18));
    json_object_set_new(o, "acknowledged_until", ts_json(st, 19));
    json_object_set_new(o, "assignee", text_json(st, 20));
    /* Where escalation stands: the next level (1-based) and when it fires;
     * next_at null when nothing is pending (acknowledged, resolved, done). */
    if (sqlite3_column_type(st, 21) != SQLITE_NULL)
        json_object_set_new(
            o, "escalation",
            json_pack("{so si si so}", "policy", text_json(st, 21), "next_level",
                      sqlite3_column_int(st, 22) + 1, "round", sqlite3_column_int(st, 23) + 1,
                      "next_at", sqlite3_column_int64(st, 24) ? ts_json(st, 24) : json_null()));
    else
        json_object_set_new(o, "escalation", json_null());
    return o;
}

static json_t *timeline_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(o, "incident_id", json_integer(sqlite3_column_int64(st, 1)));
    json_object_set_new(o, "at", ts_json(st, 2));
    json_object_set_new(o, "kind", text_json(st, 3));
    json_object_set_new(o, "actor", text_json(st, 4));
    json_object_set_new(o, "text", text_json(st, 5));
    json_object_set_new(o, "data", raw_json(st, 6));
    return o;
}

static json_t *change_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(o, "received_at", ts_json(st, 1));
    json_object_set_new(o, "integration", text_json(st, 2));
    json_object_set_new(o, "summary", text_json(st, 3));
    json_object_set_new(o, "source", text_json(st, 4));
    json_object_set_new(o, "timestamp", ts_json(st, 5));
    json_object_set_new(o, "details", raw_json(st, 6));
    json_object_set_new(o, "links", raw_json(st, 7));
    return o;
}

static json_t *audit_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(o, "at", ts_json(st, 1));
    json_object_set_new(o, "actor", text_json(st, 2));
    json_object_set_new(o, "action", text_json(st, 3));
    json_object_set_new(o, "object_type", text_json(st, 4));
    json_object_set_new(o, "object_id", json_integer(sqlite3_column_int64(st, 5)));
    json_object_set_new(o, "before", raw_json(st, 6));
    json_object_set_new(o, "after", raw_json(st, 7));
    return o;
}

/*
 * Runs a keyset-paginated list: newest first, at most q->limit rows, and
 * "next_cursor" set when more rows exist. The WHERE clause is built only from
 * fixed column names; every value is bound.
 */
static json_t *list_query(struct store_reader *r, const char *table, const char *columns,
                          const char *key, const struct store_query *q, const char *filter_col,
                          const char *filter_val, json_t *(*row)(sqlite3_stmt *))
{
    char sql[1024];
    size_t off;
    sqlite3_stmt *st;
    int bind = 1, n = 0, limit = q->limit > 0 && q->limit <= 500 ? q->limit : 50;
    int64_t last_id = 0;
    json_t *items, *out;

    off = (size_t)snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE 1", columns, table);
    if (q->statuses[0]) {
        off += (size_t)snprintf(sql + off, sizeof(sql) - off, " AND status IN (");
        for (int i = 0; i < 4 && q->statuses[i]; i++)
            off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s?", i ? "," : "");
        off += (size_t)snprintf(sql + off, sizeof(sql) - off, ")");
    }
    if (filter_col && filter_val)
        off += (size_t)snprintf(sql + off, sizeof(sql) - off, " AND %s = ?", filter_col);
    if (q->before_id > 0)
        off += (size_t)snprintf(sql + off, sizeof(sql) - off, " AND id < ?");
    snprintf(sql + off, sizeof(sql) - off, " ORDER BY id DESC LIMIT %d", limit + 1);

    if (sqlite3_prepare_v2(store_reader_db(r), sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("store: %s: %s", sql, sqlite3_errmsg(store_reader_db(r)));
        return NULL;
    }
    for (int i = 0; i < 4 && q->statuses[i]; i++)
        sqlite3_bind_text(st, bind++, q->statuses[i], -1, SQLITE_STATIC);
    if (filter_col && filter_val)
        sqlite3_bind_text(st, bind++, filter_val, -1, SQLITE_STATIC);
    if (q->before_id > 0)
        sqlite3_bind_int64(st, bind++, q->before_id);

    items = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == limit) {
            n++;
            break;
        }
        last_id = sqlite3_column_int64(st, 0);
        json_array_append_new(items, row(st));
        n++;
    }
    sqlite3_finalize(st);
    out = json_object();
    json_object_set_new(out, key, items);
    if (n > limit) {
        char cur[32];
        snprintf(cur, sizeof(cur), "%lld", (long long)last_id);
        json_object_set_new(out, "next_cursor", json_string(cur));
    } else {
        json_object_set_new(out, "next_cursor", json_null());
    }
    return out;
}

json_t *store_alert_list(struct store_reader *r, const struct store_query *q)
{
    return list_query(r, "alerts", ALERT_COLUMNS, "alerts", q, "integration", q->integration,
                      alert_row);
}

json_t *store_incident_list(struct store_reader *r, const struct store_query *q)
{
    return list_query(r, "incidents", INCIDENT_COLUMNS, "incidents", q, "service", q->service,
                      incident_row);
}

json_t *store_change_list(struct store_reader *r, const struct store_query *q)
{
    struct store_query nq = *q;
    nq.statuses[0] = NULL;
    return list_query(r, "changes",
                      "id, received_at, integration, summary, source, timestamp, details, links",
                      "changes", &nq, NULL, NULL, change_row);
}

json_t *store_audit_list(struct store_reader *r, const struct store_query *q)
{
    struct store_query nq = *q;
    nq.statuses[0] = NULL;
    return list_query(r, "audit", "id, at, actor, action, object_type, object_id, before, after",
                      "entries", &nq, NULL, NULL, audit_row);
}

/* Runs a one-row query bound to one id; returns row(st) or NULL. */
static json_t *get_one(struct store_reader *r, const char *sql, int64_t id,
                       json_t *(*row)(sqlite3_stmt *))
{
    sqlite3_stmt *st;
    json_t *o = NULL;
    if (sqlite3_prepare_v2(store_reader_db(r), sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("store: %s", sqlite3_errmsg(store_reader_db(r)));
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        o = row(st);
    sqlite3_finalize(st);
    return o;
}

/* Appends every row of a query bound to one id to a new array. */
static json_t *get_many(struct store_reader *r, const char *sql, int64_t id,
                        json_t *(*row)(sqlite3_stmt *))
{
    sqlite3_stmt *st;
    json_t *arr = json_array();
    if (sqlite3_prepare_v2(store_reader_db(r), sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("store: %s", sqlite3_errmsg(store_reader_db(r)));
        return arr;
    }
    sqlite3_bind_int64(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arr, row(st));
    sqlite3_finalize(st);
    return arr;
}

static json_t *log_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "at", ts_json(st, 0));
    json_object_set_new(o, "kind", text_json(st, 1));
    json_object_set_new(o, "actor", text_json(st, 2));
    json_object_set_new(o, "before", raw_json(st, 3));
    json_object_set_new(o, "after", raw_json(st, 4));
    return o;
}

json_t *store_alert_get(struct store_reader *r, int64_t id)
{
    json_t *o = get_one(r, "SELECT " ALERT_COLUMNS " FROM alerts WHERE id = ?", id, alert_row);
    if (!o)
        return NULL;
    /* An alert's history is the audit trail of that alert. */
    json_object_set_new(o, "log",
                        get_many(r,
                                 "SELECT at, action, actor, before, after FROM audit WHERE "
                                 "object_type = 'alert' AND object_id = ? ORDER BY id",
                                 id, log_row));
    return o;
}

json_t *store_incident_get(struct store_reader *r, int64_t id)
{
    json_t *o =
        get_one(r, "SELECT " INCIDENT_COLUMNS " FROM incidents WHERE id = ?", id, incident_row);
    if (!o)
        return NULL;
    /* Large incidents show their first 1000 alerts here; the alert list API
     * pages through the rest. */
    /* Both lists join what store_commit has merged into the ordered tables
     * with the small unmerged tail (see migration 6). */
    json_object_set_new(o, "alerts",
                        get_many(r,
                                 "SELECT " ALERT_COLUMNS " FROM alerts WHERE id IN (SELECT "
                                 "alert_id FROM incident_alerts WHERE incident_id = ?1 UNION "
                                 "SELECT alert_id FROM incident_links_new WHERE incident_id = "
                                 "?1) ORDER BY id LIMIT 1000",
                                 id, alert_row));
    json_object_set_new(o, "timeline",
                        get_many(r,
                                 "SELECT " TIMELINE_COLUMNS " FROM timeline WHERE id IN "
                                 "(SELECT id FROM timeline_idx WHERE incident_id = ?1) "
                                 "UNION ALL SELECT " TIMELINE_COLUMNS " FROM timeline WHERE "
                                 "id > (SELECT CAST(value AS INTEGER) FROM meta WHERE key = "
                                 "'timeline_indexed_to') AND incident_id = ?1 ORDER BY 1",
                                 id, timeline_row));
    return o;
}

json_t *store_timeline_get(struct store_reader *r, int64_t entry_id)
{
    return get_one(r,
                   "SELECT id, incident_id, at, kind, actor, text, data FROM timeline WHERE "
                   "id = ?",
                   entry_id, timeline_row);
}

json_t *store_alert_list_open(struct store_reader *r, int limit, bool *more)
{
    sqlite3_stmt *st;
    json_t *arr = json_array();
    int n = 0;
    *more = false;
    if (sqlite3_prepare_v2(store_reader_db(r),
                           "SELECT " ALERT_COLUMNS " FROM alerts WHERE status IN ('firing', "
                           "'acknowledged') ORDER BY id LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        log_error("store: %s", sqlite3_errmsg(store_reader_db(r)));
        json_decref(arr);
        return NULL;
    }
    sqlite3_bind_int(st, 1, limit + 1);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n++ == limit) {
            *more = true;
            break;
        }
        json_array_append_new(arr, alert_row(st));
    }
    sqlite3_finalize(st);
    return arr;
}
