/*
 * store_sqlite_checks.c - what the SQLite backend keeps for checks: the last
 * state of every check (so a restart neither forgets a HARD problem nor
 * raises it again), every SOFT and HARD change (availability reports), the
 * heartbeats' pings, and the downtimes made through the API.
 *
 * Writers run on the engine thread inside its batch transaction, like every
 * other writer; the loaders run once at start, before the engine thread.
 */
#include "../base/timefmt.h"
#include "store_sqlite_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slots of store_xstmt owned by this file. */
enum {
    X_CHECK_PUT,
    X_CHECK_HISTORY,
    X_HB_PUT,
    X_HB_PING,
    X_DT_INSERT,
    X_DT_DELETE,
};

int store_step_reset(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_fail(s, what);
    return 0;
}

void store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

void store_bind_ts(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

int store_check_put(struct store *s, const struct store_check_row *r, bool history,
                    bool hard_change, bool in_downtime, int64_t at)
{
    sqlite3_stmt *st = store_xstmt(
        s, X_CHECK_PUT,
        "INSERT OR REPLACE INTO check_state(id, state, state_type, hard_state, attempt, "
        "flapping, flap_percent, history, last_check, last_change, last_hard_change, output, "
        "perfdata) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, r->state);
    sqlite3_bind_int(st, 3, r->state_type);
    sqlite3_bind_int(st, 4, r->hard_state);
    sqlite3_bind_int(st, 5, r->attempt);
    sqlite3_bind_int(st, 6, r->flapping);
    sqlite3_bind_double(st, 7, isfinite(r->flap_percent) ? r->flap_percent : 0);
    if (r->n_history)
        sqlite3_bind_blob(st, 8, r->history, (int)r->n_history, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 8);
    store_bind_ts(st, 9, r->last_check);
    store_bind_ts(st, 10, r->last_change);
    store_bind_ts(st, 11, r->last_hard_change);
    store_bind_text(st, 12, r->output);
    store_bind_text(st, 13, r->perfdata);
    if (store_step_reset(s, st, "store check state"))
        return -1;
    if (!history)
        return 0;
    st = store_xstmt(s, X_CHECK_HISTORY,
                     "INSERT INTO check_history(check_id, at, state, state_type, attempt, "
                     "hard_change, in_downtime, output) VALUES (?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_int(st, 3, r->state);
    sqlite3_bind_int(st, 4, r->state_type);
    sqlite3_bind_int(st, 5, r->attempt);
    sqlite3_bind_int(st, 6, hard_change);
    sqlite3_bind_int(st, 7, in_downtime);
    store_bind_text(st, 8, r->output);
    return store_step_reset(s, st, "store check history");
}

int store_check_load(struct store *s, int (*cb)(void *, const struct store_check_row *), void *ctx)
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(store_writer_db(s),
                           "SELECT id, state, state_type, hard_state, attempt, flapping, "
                           "flap_percent, history, last_check, last_change, last_hard_change, "
                           "output, perfdata FROM check_state",
                           -1, &st, NULL) != SQLITE_OK)
        return store_fail(s, "load check states");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_check_row r = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .state = sqlite3_column_int(st, 1),
            .state_type = sqlite3_column_int(st, 2),
            .hard_state = sqlite3_column_int(st, 3),
            .attempt = sqlite3_column_int(st, 4),
            .flapping = sqlite3_column_int(st, 5) != 0,
            .flap_percent = sqlite3_column_double(st, 6),
            .history = sqlite3_column_blob(st, 7),
            .n_history = (size_t)sqlite3_column_bytes(st, 7),
            .last_check = sqlite3_column_int64(st, 8),
            .last_change = sqlite3_column_int64(st, 9),
            .last_hard_change = sqlite3_column_int64(st, 10),
            .output = (const char *)sqlite3_column_text(st, 11),
            .perfdata = (const char *)sqlite3_column_text(st, 12),
        };
        if (!r.id)
            continue;
        if (cb(ctx, &r)) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_fail(s, "load check states");
}

int store_heartbeat_put(struct store *s, const struct store_heartbeat_row *r, const char *ping_kind,
                        int64_t at)
{
    sqlite3_stmt *st = store_xstmt(s, X_HB_PUT,
                                   "INSERT OR REPLACE INTO heartbeat_state(name, created, "
                                   "last_ping, last_success, started, last_fail, value) "
                                   "VALUES (?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, r->name, -1, SQLITE_TRANSIENT);
    store_bind_ts(st, 2, r->created);
    store_bind_ts(st, 3, r->last_ping);
    store_bind_ts(st, 4, r->last_success);
    store_bind_ts(st, 5, r->started);
    store_bind_ts(st, 6, r->last_fail);
    if (r->has_value && isfinite(r->value))
        sqlite3_bind_double(st, 7, r->value);
    else
        sqlite3_bind_null(st, 7);
    if (store_step_reset(s, st, "store heartbeat"))
        return -1;
    if (!ping_kind)
        return 0;
    st = store_xstmt(s, X_HB_PING,
                     "INSERT INTO heartbeat_pings(name, at, kind, value) VALUES (?,?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, r->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_text(st, 3, ping_kind, -1, SQLITE_STATIC);
    if (r->has_value && isfinite(r->value) && strcmp(ping_kind, "success") == 0)
        sqlite3_bind_double(st, 4, r->value);
    else
        sqlite3_bind_null(st, 4);
    return store_step_reset(s, st, "store heartbeat ping");
}

int store_heartbeat_load(struct store *s, int (*cb)(void *, const struct store_heartbeat_row *),
                         void *ctx)
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(store_writer_db(s),
                           "SELECT name, created, last_ping, last_success, started, last_fail, "
                           "value FROM heartbeat_state",
                           -1, &st, NULL) != SQLITE_OK)
        return store_fail(s, "load heartbeats");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_heartbeat_row r = {
            .name = (const char *)sqlite3_column_text(st, 0),
            .created = sqlite3_column_int64(st, 1),
            .last_ping = sqlite3_column_int64(st, 2),
            .last_success = sqlite3_column_int64(st, 3),
            .started = sqlite3_column_int64(st, 4),
            .last_fail = sqlite3_column_int64(st, 5),
            .has_value = sqlite3_column_type(st, 6) != SQLITE_NULL,
            .value = sqlite3_column_double(st, 6),
        };
        if (r.name && cb(ctx, &r)) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_fail(s, "load heartbeats");
}

int64_t store_downtime_insert(struct store *s, const json_t *spec, int64_t at, const char *actor)
{
    sqlite3_stmt *st = store_xstmt(
        s, X_DT_INSERT, "INSERT INTO downtimes(spec, created_at, created_by) VALUES (?,?,?)");
    char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    if (!st || !text) {
        free(text);
        return -1;
    }
    sqlite3_bind_text(st, 1, text, -1, free);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_text(st, 3, actor, -1, SQLITE_TRANSIENT);
    if (store_step_reset(s, st, "store downtime"))
        return -1;
    return sqlite3_last_insert_rowid(store_writer_db(s));
}

int store_downtime_delete(struct store *s, int64_t id, int64_t at, const char *actor)
{
    sqlite3_stmt *st = store_xstmt(s, X_DT_DELETE,
                                   "UPDATE downtimes SET deleted_at=?, deleted_by=? "
                                   "WHERE id=? AND deleted_at IS NULL");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, at);
    sqlite3_bind_text(st, 2, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, id);
    if (store_step_reset(s, st, "delete downtime"))
        return -1;
    return sqlite3_changes(store_writer_db(s)) > 0 ? 1 : 0;
}

int store_downtime_load(struct store *s, int (*cb)(void *, int64_t id, const char *spec), void *ctx)
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(store_writer_db(s),
                           "SELECT id, spec FROM downtimes WHERE deleted_at IS NULL ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return store_fail(s, "load downtimes");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *spec = (const char *)sqlite3_column_text(st, 1);
        if (spec && cb(ctx, sqlite3_column_int64(st, 0), spec)) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_fail(s, "load downtimes");
}

/* ---- readers ---- */

json_t *store_col_ts(sqlite3_stmt *st, int i)
{
    char buf[40];
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    return json_string(timefmt_format_rfc3339(sqlite3_column_int64(st, i), buf, sizeof(buf)));
}

json_t *store_col_str(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? json_string(t) : json_null();
}

json_t *store_check_history(struct store_reader *r, const char *check_id, int limit)
{
    static const char *const types[] = {"SOFT", "HARD"};
    sqlite3_stmt *st;
    json_t *arr = json_array();
    if (sqlite3_prepare_v2(store_reader_db(r),
                           "SELECT id, at, state, state_type, attempt, hard_change, in_downtime, "
                           "output FROM check_history WHERE check_id = ? ORDER BY id DESC "
                           "LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        json_decref(arr);
        return NULL;
    }
    sqlite3_bind_text(st, 1, check_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int type = sqlite3_column_int(st, 3);
        json_array_append_new(
            arr,
            json_pack("{sI s o s i s s s i s b s b s o}", "id",
                      (json_int_t)sqlite3_column_int64(st, 0), "at", store_col_ts(st, 1), "state",
                      sqlite3_column_int(st, 2), "state_type", types[type == 1], "attempt",
                      sqlite3_column_int(st, 4), "hard_change", sqlite3_column_int(st, 5),
                      "in_downtime", sqlite3_column_int(st, 6), "output", store_col_str(st, 7)));
    }
    sqlite3_finalize(st);
    return arr;
}

json_t *store_downtime_list(struct store_reader *r)
{
    sqlite3_stmt *st;
    json_t *arr = json_array();
    if (sqlite3_prepare_v2(store_reader_db(r),
                           "SELECT id, spec, created_at, created_by FROM downtimes WHERE "
                           "deleted_at IS NULL ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        json_decref(arr);
        return NULL;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *spec = (const char *)sqlite3_column_text(st, 1);
        json_t *o = spec ? json_loads(spec, 0, NULL) : NULL;
        if (!json_is_object(o)) {
            json_decref(o);
            o = json_object();
        }
        json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(o, "created_at", store_col_ts(st, 2));
        json_object_set_new(o, "created_by", store_col_str(st, 3));
        json_object_set_new(o, "source", json_string("api"));
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(st);
    return arr;
}

json_t *store_heartbeat_pings(struct store_reader *r, const char *name, int limit)
{
    sqlite3_stmt *st;
    json_t *arr = json_array();
    if (sqlite3_prepare_v2(store_reader_db(r),
                           "SELECT at, kind, value FROM heartbeat_pings WHERE name = ? "
                           "ORDER BY id DESC LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        json_decref(arr);
        return NULL;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *o = json_pack("{s o s o}", "at", store_col_ts(st, 0), "kind", store_col_str(st, 1));
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            json_object_set_new(o, "value", json_real(sqlite3_column_double(st, 2)));
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(st);
    return arr;
}
