/*
 * store_sqlite_oncall.c - what the SQLite backend keeps for on call: where
 * each incident's escalation stands, the notification outbox, schedule
 * overrides and used action-link nonces.
 *
 * Writers run on the engine thread inside its batch transaction, so a step
 * of an escalation and the notifications it queues commit together: after a
 * crash either both are there or neither is.
 */
#include "store_sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slots of store_xstmt owned by this file (16..47). */
enum {
    X_ESC_SET = 16,
    X_ASSIGNEE_SET,
    X_OUTBOX_INSERT,
    X_OUTBOX_UPDATE,
    X_OUTBOX_PAYLOAD,
    X_OVERRIDE_INSERT,
    X_OVERRIDE_DELETE,
    X_NONCE_USE,
    X_OUTBOX_REQUEUE,
};

int store_incident_set_escalation(struct store *s, int64_t id, const char *policy, int level,
                                  int round, int64_t next_at)
{
    sqlite3_stmt *st = store_xstmt(s, X_ESC_SET,
                                   "UPDATE incidents SET esc_policy=?, esc_level=?, esc_round=?, "
                                   "esc_next_at=? WHERE id=?");
    if (!st)
        return -1;
    store_bind_text(st, 1, policy);
    sqlite3_bind_int(st, 2, level);
    sqlite3_bind_int(st, 3, round);
    sqlite3_bind_int64(st, 4, next_at);
    sqlite3_bind_int64(st, 5, id);
    return store_step_reset(s, st, "store escalation");
}

int store_incident_set_assignee(struct store *s, int64_t id, const char *assignee)
{
    sqlite3_stmt *st = store_xstmt(s, X_ASSIGNEE_SET, "UPDATE incidents SET assignee=? WHERE id=?");
    if (!st)
        return -1;
    store_bind_text(st, 1, assignee);
    sqlite3_bind_int64(st, 2, id);
    return store_step_reset(s, st, "store assignee");
}

int store_outbox_insert(struct store *s, struct store_outbox_row *r)
{
    /* OR IGNORE: a step replayed after a crash finds its rows there already. */
    sqlite3_stmt *st = store_xstmt(
        s, X_OUTBOX_INSERT,
        "INSERT OR IGNORE INTO outbox(idem_key, incident_id, channel, target, address, kind, "
        "level, payload, status, attempts, created_at, next_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    sqlite3 *db = store_writer_db(s);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, r->idem_key, -1, SQLITE_TRANSIENT);
    if (r->incident_id)
        sqlite3_bind_int64(st, 2, r->incident_id);
    sqlite3_bind_text(st, 3, r->channel, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, r->target, -1, SQLITE_TRANSIENT);
    store_bind_text(st, 5, r->address);
    sqlite3_bind_text(st, 6, r->kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 7, r->level);
    sqlite3_bind_text(st, 8, r->payload, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, r->status ? r->status : "pending", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 10, r->attempts);
    sqlite3_bind_int64(st, 11, r->created_at);
    sqlite3_bind_int64(st, 12, r->next_at);
    if (store_step_reset(s, st, "queue notification"))
        return -1;
    if (sqlite3_changes(db) == 0)
        return 0;
    r->id = sqlite3_last_insert_rowid(db);
    return 1;
}

int store_outbox_update(struct store *s, int64_t id, const char *status, int attempts,
                        int64_t next_at, int64_t last_at, const char *detail)
{
    sqlite3_stmt *st = store_xstmt(s, X_OUTBOX_UPDATE,
                                   "UPDATE outbox SET status=?, attempts=?, next_at=?, last_at=?, "
                                   "detail=? WHERE id=?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, attempts);
    sqlite3_bind_int64(st, 3, next_at);
    store_bind_ts(st, 4, last_at);
    store_bind_text(st, 5, detail);
    sqlite3_bind_int64(st, 6, id);
    return store_step_reset(s, st, "update notification");
}

int store_outbox_set_payload(struct store *s, int64_t id, const char *payload)
{
    sqlite3_stmt *st = store_xstmt(s, X_OUTBOX_PAYLOAD, "UPDATE outbox SET payload=? WHERE id=?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, payload, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, id);
    return store_step_reset(s, st, "update notification payload");
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int store_outbox_requeue(struct store *s, int64_t id, int64_t now)
{
    sqlite3_stmt *st = store_xstmt(s, X_OUTBOX_REQUEUE,
                                   "UPDATE outbox SET status='pending', attempts=0, next_at=? "
                                   "WHERE id=? AND status='dead'");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, id);
    if (store_step_reset(s, st, "requeue notification"))
        return -1;
    return sqlite3_changes(store_writer_db(s)) > 0 ? 1 : 0;
}

/* Runs a SELECT of outbox rows (columns as below) with id bound to ?1 when
 * id > 0, calling cb for each; returns how many rows, or -1. */
static int outbox_select(struct store *s, int64_t id,
                         int (*cb)(void *, const struct store_outbox_row *), void *ctx)
{
    sqlite3_stmt *st;
    int rc, n = 0;
    if (sqlite3_prepare_v2(store_writer_db(s),
                           "SELECT id, idem_key, incident_id, channel, target, address, kind, "
                           "level, payload, status, attempts, created_at, next_at, last_at, "
                           "detail FROM outbox WHERE status = 'pending' AND (?1 = 0 OR id = ?1) "
                           "ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return store_fail(s, "load outbox");
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_outbox_row r = {
            .id = sqlite3_column_int64(st, 0),
            .idem_key = col(st, 1),
            .incident_id = sqlite3_column_int64(st, 2),
            .channel = col(st, 3),
            .target = col(st, 4),
            .address = col(st, 5),
            .kind = col(st, 6),
            .level = sqlite3_column_int(st, 7),
            .payload = col(st, 8),
            .status = col(st, 9),
            .attempts = sqlite3_column_int(st, 10),
            .created_at = sqlite3_column_int64(st, 11),
            .next_at = sqlite3_column_int64(st, 12),
            .last_at = sqlite3_column_int64(st, 13),
            .detail = col(st, 14),
        };
        if (!r.idem_key || !r.channel || !r.target || !r.kind || !r.payload)
            continue;
        if (cb(ctx, &r)) {
            sqlite3_finalize(st);
            return -1;
        }
        n++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : store_fail(s, "load outbox");
}

int store_outbox_get_pending(struct store *s, int64_t id,
                             int (*cb)(void *, const struct store_outbox_row *), void *ctx)
{
    int n = outbox_select(s, id, cb, ctx);
    return n < 0 ? -1 : n > 0;
}

int store_outbox_load_pending(struct store *s, int (*cb)(void *, const struct store_outbox_row *),
                              void *ctx)
{
    return outbox_select(s, 0, cb, ctx) < 0 ? -1 : 0;
}

int64_t store_override_insert(struct store *s, const char *schedule, const char *user,
                              int64_t start, int64_t end, int64_t at, const char *actor)
{
    sqlite3_stmt *st = store_xstmt(s, X_OVERRIDE_INSERT,
                                   "INSERT INTO overrides(schedule, user, start_at, end_at, "
                                   "created_at, created_by) VALUES (?,?,?,?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, schedule, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, start);
    sqlite3_bind_int64(st, 4, end);
    sqlite3_bind_int64(st, 5, at);
    sqlite3_bind_text(st, 6, actor, -1, SQLITE_TRANSIENT);
    if (store_step_reset(s, st, "store override"))
        return -1;
    return sqlite3_last_insert_rowid(store_writer_db(s));
}

int store_override_delete(struct store *s, int64_t id, int64_t at, const char *actor)
{
    sqlite3_stmt *st = store_xstmt(s, X_OVERRIDE_DELETE,
                                   "UPDATE overrides SET deleted_at=?, deleted_by=? WHERE id=? AND "
                                   "deleted_at IS NULL");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, at);
    sqlite3_bind_text(st, 2, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, id);
    if (store_step_reset(s, st, "delete override"))
        return -1;
    return sqlite3_changes(store_writer_db(s)) > 0 ? 1 : 0;
}

int store_override_load(struct store *s, int64_t since,
                        int (*cb)(void *, int64_t id, const char *schedule, const char *user,
                                  int64_t start, int64_t end, const char *created_by),
                        void *ctx)
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(store_writer_db(s),
                           "SELECT id, schedule, user, start_at, end_at, created_by FROM "
                           "overrides WHERE deleted_at IS NULL AND end_at > ? ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return store_fail(s, "load overrides");
    sqlite3_bind_int64(st, 1, since);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!col(st, 1) || !col(st, 2))
            continue;
        if (cb(ctx, sqlite3_column_int64(st, 0), col(st, 1), col(st, 2),
               sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
               col(st, 5) ? col(st, 5) : "")) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_fail(s, "load overrides");
}

int store_action_nonce_use(struct store *s, const char *nonce, int64_t incident_id,
                           const char *action, const char *user, int64_t at)
{
    sqlite3_stmt *st = store_xstmt(s, X_NONCE_USE,
                                   "INSERT OR IGNORE INTO action_nonces(nonce, incident_id, "
                                   "action, user, used_at) VALUES (?,?,?,?,?)");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, nonce, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, incident_id);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_TRANSIENT);
    store_bind_text(st, 4, user);
    sqlite3_bind_int64(st, 5, at);
    if (store_step_reset(s, st, "use action link"))
        return -1;
    return sqlite3_changes(store_writer_db(s)) > 0 ? 1 : 0;
}

/* ---- readers ---- */

json_t *store_outbox_list(struct store_reader *r, const char *status, int64_t incident_id,
                          int64_t before_id, int limit)
{
    sqlite3_stmt *st;
    json_t *arr = json_array();
    if (sqlite3_prepare_v2(store_reader_db(r),
                           "SELECT id, idem_key, incident_id, channel, target, address, kind, "
                           "level, status, attempts, created_at, next_at, last_at, detail, "
                           "payload FROM outbox WHERE (?1 IS NULL OR status = ?1) AND "
                           "(?2 = 0 OR incident_id = ?2) AND (?3 = 0 OR id < ?3) "
                           "ORDER BY id DESC LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK) {
        json_decref(arr);
        return NULL;
    }
    if (status)
        sqlite3_bind_text(st, 1, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, incident_id);
    sqlite3_bind_int64(st, 3, before_id);
    sqlite3_bind_int(st, 4, limit);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *payload = col(st, 14);
        json_t *pj = payload ? json_loads(payload, 0, NULL) : NULL;
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(o, "idempotency_key", store_col_str(st, 1));
        json_object_set_new(o, "incident_id",
                            sqlite3_column_type(st, 2) == SQLITE_NULL
                                ? json_null()
                                : json_integer(sqlite3_column_int64(st, 2)));
        json_object_set_new(o, "channel", store_col_str(st, 3));
        json_object_set_new(o, "target", store_col_str(st, 4));
        json_object_set_new(o, "address", store_col_str(st, 5));
        json_object_set_new(o, "kind", store_col_str(st, 6));
        json_object_set_new(o, "level", json_integer(sqlite3_column_int(st, 7)));
        json_object_set_new(o, "status", store_col_str(st, 8));
        json_object_set_new(o, "attempts", json_integer(sqlite3_column_int(st, 9)));
        json_object_set_new(o, "created_at", store_col_ts(st, 10));
        json_object_set_new(o, "next_attempt_at", store_col_ts(st, 11));
        json_object_set_new(o, "last_attempt_at", store_col_ts(st, 12));
        json_object_set_new(o, "detail", store_col_str(st, 13));
        json_object_set_new(o, "text",
                            json_is_object(pj) && json_object_get(pj, "text")
                                ? json_incref(json_object_get(pj, "text"))
                                : json_null());
        json_decref(pj);
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(st);
    return arr;
}

json_t *store_outbox_counts(struct store_reader *r)
{
    sqlite3_stmt *st;
    json_t *o = json_pack("{sI sI sI sI}", "pending", (json_int_t)0, "delivered", (json_int_t)0,
                          "dead", (json_int_t)0, "cancelled", (json_int_t)0);
    if (sqlite3_prepare_v2(store_reader_db(r),
                           "SELECT status, count(*) FROM outbox GROUP BY status", -1, &st,
                           NULL) != SQLITE_OK) {
        json_decref(o);
        return NULL;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (col(st, 0))
            json_object_set_new(o, col(st, 0), json_integer(sqlite3_column_int64(st, 1)));
    }
    sqlite3_finalize(st);
    return o;
}
