/*
 * store_sqlite.c - the SQLite backend of store.h.
 *
 * One write connection belongs to the engine thread; readers come from a
 * small pool of separate connections, which WAL mode lets read committed
 * data while the writer works. Hot statements are prepared once.
 *
 * Durability: journal_mode=WAL; synchronous=FULL (default) makes each commit
 * wait for fsync of the WAL, so a commit that returned survives power loss;
 * synchronous=NORMAL survives a process crash (kill -9) but may lose the last
 * commits on power loss.
 */
#include "store.h"
#include "store_sqlite_int.h"

#include "../base/jtext.h"
#include "../base/log.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INTAKE,
    ST_ALERT_INSERT,
    ST_ALERT_SEEN_INSERT,
    ST_ALERT_TOUCH,
    ST_ALERT_TOUCH_CONTENT,
    ST_ALERT_ACK,
    ST_ALERT_RESOLVE,
    ST_INC_INSERT,
    ST_INC_UPDATE,
    ST_INC_ACK,
    ST_INC_RESOLVE,
    ST_INC_LINK,
    ST_MERGE_LINKS,
    ST_CLEAR_LINKS,
    ST_MERGE_TIMELINE,
    ST_MARK_TIMELINE,
    ST_TIMELINE,
    ST_AUDIT,
    ST_CHANGE,
    ST_ALERT_SUPPRESS,
    ST_INC_ACK_EXPIRY,
    ST_INC_UNACK,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INTAKE] = "INSERT INTO intake_log(at, integration, format, body) VALUES (?,?,?,?)",
    [ST_ALERT_INSERT] =
        "INSERT INTO alert_rows(integration, dedup_key, status, summary, source, labels, "
        "details, links, incident_ids, first_seen, starts_at, suppressed) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_ALERT_SEEN_INSERT] =
        "INSERT INTO alert_seen(id, severity, last_seen, count, ends_at) VALUES (?,?,?,?,?)",
    [ST_ALERT_TOUCH] =
        "UPDATE alert_seen SET severity=?, last_seen=?, count=?, ends_at=? WHERE id=?",
    [ST_ALERT_TOUCH_CONTENT] = "UPDATE alert_rows SET summary=?, source=?, labels=?, details=?, "
                               "links=? WHERE id=?",
    [ST_ALERT_ACK] =
        "UPDATE alert_rows SET status=?, acknowledged_at=?, acknowledged_by=? WHERE id=?",
    [ST_ALERT_RESOLVE] = "UPDATE alert_rows SET status=?, resolved_at=?, resolved_by=? WHERE id=?",
    [ST_INC_INSERT] = "INSERT INTO incidents(title, service, route, group_key, status, severity, "
                      "priority, urgency, impact, created_at, updated_at, last_alert_at, "
                      "alert_count, open_alert_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_INC_UPDATE] = "UPDATE incidents SET severity=?, priority=?, urgency=?, updated_at=?, "
                      "last_alert_at=?, alert_count=?, open_alert_count=? WHERE id=?",
    [ST_INC_ACK] = "UPDATE incidents SET status=?, acknowledged_at=?, acknowledged_by=?, "
                   "updated_at=? WHERE id=?",
    [ST_INC_RESOLVE] = "UPDATE incidents SET status=?, resolved_at=?, resolved_by=?, "
                       "updated_at=? WHERE id=?",
    [ST_INC_LINK] = "INSERT INTO incident_links_new(incident_id, alert_id, joined_at) "
                    "VALUES (?,?,?)",
    [ST_MERGE_LINKS] = "INSERT OR IGNORE INTO incident_alerts(incident_id, alert_id, joined_at) "
                       "SELECT incident_id, alert_id, joined_at FROM incident_links_new "
                       "ORDER BY incident_id, alert_id",
    [ST_CLEAR_LINKS] = "DELETE FROM incident_links_new",
    [ST_MERGE_TIMELINE] = "INSERT OR IGNORE INTO timeline_idx(incident_id, id) "
                          "SELECT incident_id, id FROM timeline WHERE id > (SELECT CAST(value AS "
                          "INTEGER) FROM meta WHERE key = 'timeline_indexed_to') "
                          "ORDER BY incident_id, id",
    [ST_MARK_TIMELINE] = "UPDATE meta SET value = (SELECT coalesce(max(id), 0) FROM timeline) "
                         "WHERE key = 'timeline_indexed_to'",
    [ST_TIMELINE] = "INSERT INTO timeline(incident_id, at, kind, actor, text, data) "
                    "VALUES (?,?,?,?,?,?)",
    [ST_AUDIT] = "INSERT INTO audit(at, actor, action, object_type, object_id, before, after) "
                 "VALUES (?,?,?,?,?,?,?)",
    [ST_CHANGE] = "INSERT INTO changes(received_at, integration, summary, source, timestamp, "
                  "details, links) VALUES (?,?,?,?,?,?,?)",
    [ST_INC_ACK_EXPIRY] = "UPDATE incidents SET ack_expires_at=? WHERE id=?",
    [ST_INC_UNACK] = "UPDATE incidents SET status='triggered', acknowledged_at=NULL, "
                     "acknowledged_by=NULL, ack_expires_at=NULL, updated_at=? WHERE id=?",
    [ST_ALERT_SUPPRESS] = "UPDATE alert_rows SET suppressed=?, incident_ids=? WHERE id=?",
};

/*
 * Versioned migrations: entry i brings the schema from version i to i+1.
 * Never edit a released entry; append a new one.
 */
static const char *const migrations[] = {
    /* 1: the spine. */
    "CREATE TABLE intake_log(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, integration TEXT,"
    "  format TEXT, body BLOB);"
    "CREATE TABLE alerts(id INTEGER PRIMARY KEY, integration TEXT NOT NULL,"
    "  dedup_key TEXT NOT NULL, status TEXT NOT NULL, severity INTEGER NOT NULL, summary TEXT,"
    "  source TEXT, labels TEXT NOT NULL, details TEXT, links TEXT,"
    "  incident_ids TEXT NOT NULL DEFAULT '[]', first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL, count INTEGER NOT NULL, starts_at INTEGER, ends_at INTEGER,"
    "  acknowledged_at INTEGER, acknowledged_by TEXT, resolved_at INTEGER, resolved_by TEXT);"
    /* At most one open alert per (integration, dedup_key): the database itself
     * refuses a duplicate, whatever happens in the engine. */
    "CREATE UNIQUE INDEX alerts_one_open ON alerts(integration, dedup_key)"
    "  WHERE status <> 'resolved';"
    "CREATE INDEX alerts_status ON alerts(status, id);"
    "CREATE TABLE incidents(id INTEGER PRIMARY KEY, title TEXT NOT NULL, service TEXT,"
    "  route TEXT NOT NULL, group_key TEXT NOT NULL, status TEXT NOT NULL,"
    "  severity INTEGER NOT NULL, priority INTEGER NOT NULL, urgency INTEGER NOT NULL,"
    "  impact INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  last_alert_at INTEGER NOT NULL, acknowledged_at INTEGER, acknowledged_by TEXT,"
    "  resolved_at INTEGER, resolved_by TEXT, alert_count INTEGER NOT NULL,"
    "  open_alert_count INTEGER NOT NULL);"
    "CREATE INDEX incidents_status ON incidents(status, id);"
    "CREATE INDEX incidents_service ON incidents(service, id);"
    "CREATE TABLE incident_alerts(incident_id INTEGER NOT NULL, alert_id INTEGER NOT NULL,"
    "  joined_at INTEGER NOT NULL, PRIMARY KEY(incident_id, alert_id)) WITHOUT ROWID;"
    "CREATE TABLE timeline(id INTEGER PRIMARY KEY, incident_id INTEGER NOT NULL,"
    "  at INTEGER NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL, text TEXT, data TEXT);"
    "CREATE INDEX timeline_incident ON timeline(incident_id, id);"
    /* prev_hash/hash are reserved for the hash-chained audit log. */
    "CREATE TABLE audit(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL,"
    "  action TEXT NOT NULL, object_type TEXT NOT NULL, object_id INTEGER, before TEXT,"
    "  after TEXT, prev_hash BLOB, hash BLOB);"
    "CREATE INDEX audit_object ON audit(object_type, object_id, id);"
    "CREATE TABLE changes(id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL,"
    "  integration TEXT, summary TEXT NOT NULL, source TEXT, timestamp INTEGER,"
    "  details TEXT, links TEXT);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);",
    /* 2: the engine, the one writer, keeps one open alert per key; the
     * partial unique index that repeated this cost a random leaf-page write
     * per new alert (dedup keys are hashes), about half of a commit's WAL
     * volume under bursts. The loader now reports any duplicate instead. */
    "DROP INDEX alerts_one_open;",
    /* 3: checks. Alerts may be suppressed (downtime, parent down, flapping):
     * recorded but not paged. check_state is the last known state of each
     * check, for a restart; check_history every SOFT and HARD change, for
     * availability reports; heartbeats keep their pings for auditors. */
    "ALTER TABLE alerts ADD COLUMN suppressed TEXT;"
    "ALTER TABLE incidents ADD COLUMN ack_expires_at INTEGER;"
    "CREATE TABLE check_state(id TEXT PRIMARY KEY, state INTEGER NOT NULL,"
    "  state_type INTEGER NOT NULL, hard_state INTEGER NOT NULL, attempt INTEGER NOT NULL,"
    "  flapping INTEGER NOT NULL, flap_percent REAL NOT NULL, history BLOB,"
    "  last_check INTEGER, last_change INTEGER, last_hard_change INTEGER, output TEXT,"
    "  perfdata TEXT) WITHOUT ROWID;"
    "CREATE TABLE check_history(id INTEGER PRIMARY KEY, check_id TEXT NOT NULL,"
    "  at INTEGER NOT NULL, state INTEGER NOT NULL, state_type INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL, hard_change INTEGER NOT NULL, in_downtime INTEGER NOT NULL,"
    "  output TEXT);"
    "CREATE INDEX check_history_check ON check_history(check_id, id);"
    "CREATE TABLE heartbeat_state(name TEXT PRIMARY KEY, created INTEGER, last_ping INTEGER,"
    "  last_success INTEGER, started INTEGER, last_fail INTEGER, value REAL) WITHOUT ROWID;"
    "CREATE TABLE heartbeat_pings(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    "  at INTEGER NOT NULL, kind TEXT NOT NULL, value REAL);"
    "CREATE INDEX heartbeat_pings_name ON heartbeat_pings(name, id);"
    "CREATE TABLE downtimes(id INTEGER PRIMARY KEY, spec TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, created_by TEXT NOT NULL, deleted_at INTEGER,"
    "  deleted_by TEXT);",
    /* 4: on call. An incident carries its escalation: the policy, the next
     * level to fire, the round and when (0 = nothing pending), so that a
     * restart fires every due step once. The outbox holds every notification
     * before it is sent; idem_key makes a step's notification unique. Used
     * action-link nonces make each link single use. */
    "ALTER TABLE incidents ADD COLUMN esc_policy TEXT;"
    "ALTER TABLE incidents ADD COLUMN esc_level INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN esc_round INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN esc_next_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN assignee TEXT;"
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE,"
    "  incident_id INTEGER, channel TEXT NOT NULL, target TEXT NOT NULL, address TEXT,"
    "  kind TEXT NOT NULL, level INTEGER, payload TEXT NOT NULL, status TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
    "  next_at INTEGER NOT NULL, last_at INTEGER, detail TEXT);"
    "CREATE INDEX outbox_pending ON outbox(next_at) WHERE status = 'pending';"
    "CREATE INDEX outbox_incident ON outbox(incident_id, id);"
    "CREATE INDEX outbox_status ON outbox(status, id);"
    "CREATE TABLE overrides(id INTEGER PRIMARY KEY, schedule TEXT NOT NULL,"
    "  user TEXT NOT NULL, start_at INTEGER NOT NULL, end_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, created_by TEXT NOT NULL, deleted_at INTEGER,"
    "  deleted_by TEXT);"
    "CREATE TABLE action_nonces(nonce TEXT PRIMARY KEY, incident_id INTEGER NOT NULL,"
    "  action TEXT NOT NULL, user TEXT, used_at INTEGER NOT NULL) WITHOUT ROWID;",
    /* 5: what a repeat of an alert changes (severity, last_seen, count,
     * ends_at) moves to a narrow table of its own. An Alertmanager re-sends
     * every firing alert each minute; rewriting the whole alert (labels,
     * annotations: about 600 bytes) for that touched a random page of the
     * wide table per refresh, about a quarter of a commit's WAL frames, where
     * some 150 narrow rows share a page. "alerts" becomes the view that joins
     * the two, so that readers and people with the sqlite3 shell see one
     * alert as before. */
    "CREATE TABLE alert_seen(id INTEGER PRIMARY KEY, severity INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL, count INTEGER NOT NULL, ends_at INTEGER);"
    "INSERT INTO alert_seen SELECT id, severity, last_seen, count, ends_at FROM alerts;"
    "ALTER TABLE alerts RENAME TO alert_rows;"
    "ALTER TABLE alert_rows DROP COLUMN severity;"
    "ALTER TABLE alert_rows DROP COLUMN last_seen;"
    "ALTER TABLE alert_rows DROP COLUMN count;"
    "ALTER TABLE alert_rows DROP COLUMN ends_at;"
    "CREATE VIEW alerts AS SELECT r.id AS id, r.integration AS integration,"
    "  r.dedup_key AS dedup_key, r.status AS status, s.severity AS severity,"
    "  r.summary AS summary, r.source AS source, r.labels AS labels, r.details AS details,"
    "  r.links AS links, r.incident_ids AS incident_ids, r.first_seen AS first_seen,"
    "  s.last_seen AS last_seen, s.count AS count, r.starts_at AS starts_at,"
    "  s.ends_at AS ends_at, r.acknowledged_at AS acknowledged_at,"
    "  r.acknowledged_by AS acknowledged_by, r.resolved_at AS resolved_at,"
    "  r.resolved_by AS resolved_by, r.suppressed AS suppressed"
    "  FROM alert_rows r JOIN alert_seen s ON s.id = r.id;",
    /* 6: the per-incident orders (an incident's alerts, its timeline) are
     * built in bulk. Under a storm of new alerts spread over open incidents,
     * each new link or entry landed on its incident's own leaf page of
     * incident_alerts and of timeline_incident: two page writes per new
     * alert and commit, over half of the WAL. New links now go to an
     * unindexed table and new entries stay unindexed past
     * meta.timeline_indexed_to; store_commit merges both into the ordered
     * tables every STORE_MERGE_ROWS rows, touching each incident's leaf once.
     * Readers add the small unmerged tail. */
    "CREATE TABLE incident_links_new(incident_id INTEGER NOT NULL,"
    "  alert_id INTEGER NOT NULL, joined_at INTEGER NOT NULL);"
    "DROP INDEX timeline_incident;"
    "CREATE TABLE timeline_idx(incident_id INTEGER NOT NULL, id INTEGER NOT NULL,"
    "  PRIMARY KEY(incident_id, id)) WITHOUT ROWID;"
    "INSERT INTO timeline_idx SELECT incident_id, id FROM timeline;"
    "INSERT OR REPLACE INTO meta(key, value) VALUES ('timeline_indexed_to',"
    "  (SELECT coalesce(max(id), 0) FROM timeline));",
};

#define N_MIGRATIONS    ((int)(sizeof(migrations) / sizeof(migrations[0])))
#define READER_POOL_MAX 32
/* The checkpointer wakes once the WAL holds this many frames (about 128 MB).
 * Fewer, larger checkpoints copy a page that many commits touched only once:
 * under single-alert intake with half new alerts, 8,000 frames (one
 * checkpoint every 0.4 s) cost the checkpointer a fifth of a core and the
 * intake about 15 % of its rate against 16,000-64,000. */
#define CKPT_FRAMES 32000
/* Past this many frames (about 400 MB) the writer checkpoints by itself, so
 * the WAL cannot grow without bound if the checkpointer falls behind. */
#define WAL_HARD_FRAMES 100000

struct store_reader {
    sqlite3 *db;               /* owned connection, read-only by pragma */
    struct store_reader *next; /* free-list link */
};

struct store {
    sqlite3 *db;                          /* the engine's write connection */
    sqlite3_stmt *stmt[ST_COUNT];         /* prepared writer statements */
    sqlite3_stmt *xstmt[STORE_XSTMT_MAX]; /* prepared on first use by other files */
    char *path;                           /* owned; database file path */
    char errmsg[512];                     /* last writer failure */
    char scratch[64 * 1024];              /* the writer's serialisation buffer (bind_json) */
    int version;                          /* schema version */
    pthread_mutex_t pool_lock;            /* guards the reader pool */
    struct store_reader *free_readers;
    int n_readers;

    /* Checkpoints run on their own thread and connection, so that copying
     * the WAL back into the database never happens inside an engine commit
     * (where it would delay every request of that batch). */
    sqlite3 *ckpt_db; /* the checkpointer's connection */
    pthread_t ckpt_thread;
    bool ckpt_running;
    pthread_mutex_t ckpt_lock; /* guards the two fields below */
    pthread_cond_t ckpt_wake;
    int wal_frames; /* frames in the WAL after the last commit */
    bool ckpt_stop;

    long staged; /* rows written unmerged since the last merge (see migration 6) */
};

static int fail(struct store *s, const char *what)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what, sqlite3_errmsg(s->db));
    return -1;
}

int store_fail(struct store *s, const char *what)
{
    return fail(s, what);
}

sqlite3 *store_writer_db(struct store *s)
{
    return s->db;
}

sqlite3_stmt *store_xstmt(struct store *s, int slot, const char *sql)
{
    if (slot < 0 || slot >= STORE_XSTMT_MAX)
        return NULL;
    if (!s->xstmt[slot] && sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                              &s->xstmt[slot], NULL) != SQLITE_OK) {
        fail(s, sql);
        return NULL;
    }
    return s->xstmt[slot];
}

const char *store_errmsg(struct store *s)
{
    return s->errmsg;
}

int store_schema_version(struct store *s)
{
    return s->version;
}

/* Called by SQLite after each commit with the WAL's size in frames. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct store *s = arg;
    if (frames >= WAL_HARD_FRAMES)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&s->ckpt_lock);
    s->wal_frames = frames;
    if (frames >= CKPT_FRAMES)
        pthread_cond_signal(&s->ckpt_wake);
    pthread_mutex_unlock(&s->ckpt_lock);
    return SQLITE_OK;
}

static void *checkpoint_main(void *arg)
{
    struct store *s = arg;
    pthread_setname_np(pthread_self(), "tocsin-ckpt");
    pthread_mutex_lock(&s->ckpt_lock);
    while (!s->ckpt_stop) {
        if (s->wal_frames < CKPT_FRAMES) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&s->ckpt_wake, &s->ckpt_lock, &ts);
            /* Idle for a second with a small WAL: checkpoint it anyway, so
             * readers never scan a long WAL. */
            if (s->ckpt_stop || s->wal_frames == 0)
                continue;
        }
        s->wal_frames = 0;
        pthread_mutex_unlock(&s->ckpt_lock);
        /* PASSIVE never blocks the writer or readers; what it cannot copy
         * now is copied on a later round. */
        int rc = sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn("store: checkpoint failed: %s", sqlite3_errmsg(s->ckpt_db));
        pthread_mutex_lock(&s->ckpt_lock);
    }
    pthread_mutex_unlock(&s->ckpt_lock);
    return NULL;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int store_sqlite_migrate(sqlite3 *db, int target, int *version_out, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int version = 0;
    if (target < 0 || target > N_MIGRATIONS)
        target = N_MIGRATIONS;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return snprintf(err, errlen, "%s", sqlite3_errmsg(db)), -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > N_MIGRATIONS) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this tocsin knows (%d); "
                 "refusing to open it",
                 version, N_MIGRATIONS);
        return -1;
    }
    for (; version < target; version++) {
        char sql[64];
        if (exec(db, "BEGIN IMMEDIATE", err, errlen))
            return -1;
        if (exec(db, migrations[version], err, errlen)) {
            exec(db, "ROLLBACK", err + strlen(err), 0);
            return -1;
        }
        snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", version + 1);
        if (exec(db, sql, err, errlen) || exec(db, "COMMIT", err, errlen))
            return -1;
        log_info("store: migrated schema to version %d", version + 1);
    }
    *version_out = version;
    return 0;
}

void store_global_init(void)
{
    /* SQLite's allocation statistics take a global mutex on every malloc
     * and free, about 4 % of the engine thread under load, and Tocsin
     * never reads them. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct store *store_open_sqlite(const char *dir, bool sync_full, char *err, size_t errlen)
{
    struct store *s = calloc(1, sizeof(*s));
    size_t plen;
    char pragmas[256];

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_mutex_init(&s->ckpt_lock, NULL);
    pthread_cond_init(&s->ckpt_wake, NULL);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    plen = strlen(dir) + 16;
    s->path = malloc(plen);
    if (!s->path) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    snprintf(s->path, plen, "%s/tocsin.db", dir);
    if (sqlite3_open_v2(s->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", s->path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=OFF;"
             "PRAGMA cache_size=-16000;",
             sync_full ? "FULL" : "NORMAL");
    if (exec(s->db, pragmas, err, errlen) ||
        store_sqlite_migrate(s->db, -1, &s->version, err, errlen))
        goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "preparing statement %d: %s", i, sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    if (sqlite3_open_v2(s->path, &s->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s for checkpoints", s->path);
        goto fail;
    }
    sqlite3_busy_timeout(s->ckpt_db, 1000);
    snprintf(pragmas, sizeof(pragmas), "PRAGMA synchronous=%s;", sync_full ? "FULL" : "NORMAL");
    exec(s->ckpt_db, pragmas, err, errlen);
    /* Replaces SQLite's own auto-checkpoint, which would run in the commit. */
    sqlite3_wal_hook(s->db, on_wal_commit, s);
    if (pthread_create(&s->ckpt_thread, NULL, checkpoint_main, s) != 0) {
        snprintf(err, errlen, "cannot start the checkpoint thread");
        goto fail;
    }
    s->ckpt_running = true;
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->ckpt_running) {
        pthread_mutex_lock(&s->ckpt_lock);
        s->ckpt_stop = true;
        pthread_cond_signal(&s->ckpt_wake);
        pthread_mutex_unlock(&s->ckpt_lock);
        pthread_join(s->ckpt_thread, NULL);
    }
    if (s->ckpt_db) {
        /* A last full checkpoint leaves a small WAL behind a clean stop. */
        sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_close(s->ckpt_db);
    }
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    for (int i = 0; i < STORE_XSTMT_MAX; i++)
        sqlite3_finalize(s->xstmt[i]);
    while (s->free_readers) {
        struct store_reader *r = s->free_readers;
        s->free_readers = r->next;
        sqlite3_close(r->db);
        free(r);
    }
    if (s->db)
        sqlite3_close(s->db);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_mutex_destroy(&s->ckpt_lock);
    pthread_cond_destroy(&s->ckpt_wake);
    free(s->path);
    free(s);
}

/* Runs a prepared writer statement to completion and resets it. */
static int step_done(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->stmt[id];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return fail(s, stmt_sql[id]);
    return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/*
 * Binds JSON serialised compactly; NULL stays SQL NULL. Writer statements
 * only run on the engine thread, so one scratch buffer serves them all:
 * SQLITE_TRANSIENT copies the text at bind time, and the common case needs no
 * allocation at all. Values larger than the buffer take the allocating path.
 */
static int bind_json(struct store *s, sqlite3_stmt *st, int i, const json_t *v)
{
    if (!v) {
        sqlite3_bind_null(st, i);
        return 0;
    }
    long n = jtext_dump(v, s->scratch, sizeof(s->scratch));
    if (n >= 0) {
        sqlite3_bind_text(st, i, s->scratch, (int)n, SQLITE_TRANSIENT);
        return 0;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return -1;
    sqlite3_bind_text(st, i, text, -1, free);
    return 0;
}

/* Binds a label set as its JSON object text, through the scratch buffer. */
static int bind_labels(struct store *s, sqlite3_stmt *st, int i, const struct labelset *ls)
{
    if (!ls) {
        sqlite3_bind_null(st, i);
        return 0;
    }
    long n = jtext_labels(ls, s->scratch, sizeof(s->scratch));
    if (n >= 0) {
        sqlite3_bind_text(st, i, s->scratch, (int)n, SQLITE_TRANSIENT);
        return 0;
    }
    json_t *o = labels_to_json(ls);
    int rc = o ? bind_json(s, st, i, o) : -1;
    json_decref(o);
    return rc;
}

static void bind_opt_i64(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

int store_begin(struct store *s)
{
    return step_done(s, ST_BEGIN);
}

int store_commit(struct store *s)
{
    /* Inside the batch's transaction, so a merge is all or nothing. */
    if (s->staged >= STORE_MERGE_ROWS) {
        if (step_done(s, ST_MERGE_LINKS) || step_done(s, ST_CLEAR_LINKS) ||
            step_done(s, ST_MERGE_TIMELINE) || step_done(s, ST_MARK_TIMELINE))
            return -1;
        s->staged = 0;
    }
    return step_done(s, ST_COMMIT);
}

void store_rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        step_done(s, ST_ROLLBACK);
}

int store_intake_log(struct store *s, int64_t at, const char *integration, const char *format,
                     const char *body, size_t len)
{
    sqlite3_stmt *st = s->stmt[ST_INTAKE];
    sqlite3_bind_int64(st, 1, at);
    bind_text(st, 2, integration);
    bind_text(st, 3, format);
    sqlite3_bind_blob(st, 4, body, (int)len, SQLITE_STATIC);
    return step_done(s, ST_INTAKE);
}

/* Writes incident ids as a JSON array into ids[256]. */
static void format_ids(char ids[256], const int64_t *v, size_t n)
{
    size_t off = (size_t)snprintf(ids, 256, "[");
    for (size_t i = 0; i < n && off < 256 - 24; i++)
        off += (size_t)snprintf(ids + off, 256 - off, "%s%lld", i ? "," : "", (long long)v[i]);
    snprintf(ids + off, 256 - off, "]");
}

int store_alert_insert(struct store *s, struct store_alert *a)
{
    sqlite3_stmt *st = s->stmt[ST_ALERT_INSERT];
    char ids[256];
    format_ids(ids, a->incident_ids, a->n_incidents);
    bind_text(st, 1, a->integration);
    bind_text(st, 2, a->dedup_key);
    bind_text(st, 3, a->status);
    bind_text(st, 4, a->summary);
    bind_text(st, 5, a->source);
    if (bind_labels(s, st, 6, a->labels) || bind_json(s, st, 7, a->details) ||
        bind_json(s, st, 8, a->links))
        return snprintf(s->errmsg, sizeof(s->errmsg), "out of memory"), -1;
    sqlite3_bind_text(st, 9, ids, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 10, a->first_seen);
    bind_opt_i64(st, 11, a->starts_at);
    bind_text(st, 12, a->suppressed);
    if (step_done(s, ST_ALERT_INSERT))
        return -1;
    a->id = sqlite3_last_insert_rowid(s->db);
    st = s->stmt[ST_ALERT_SEEN_INSERT];
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_int(st, 2, a->severity);
    sqlite3_bind_int64(st, 3, a->last_seen);
    sqlite3_bind_int64(st, 4, a->count);
    bind_opt_i64(st, 5, a->ends_at);
    return step_done(s, ST_ALERT_SEEN_INSERT);
}

int store_alert_touch(struct store *s, const struct store_alert *a, bool content)
{
    sqlite3_stmt *st = s->stmt[ST_ALERT_TOUCH];
    sqlite3_bind_int(st, 1, a->severity);
    sqlite3_bind_int64(st, 2, a->last_seen);
    sqlite3_bind_int64(st, 3, a->count);
    bind_opt_i64(st, 4, a->ends_at);
    sqlite3_bind_int64(st, 5, a->id);
    if (step_done(s, ST_ALERT_TOUCH))
        return -1;
    if (!content)
        return 0;
    st = s->stmt[ST_ALERT_TOUCH_CONTENT];
    bind_text(st, 1, a->summary);
    bind_text(st, 2, a->source);
    if (bind_labels(s, st, 3, a->labels) || bind_json(s, st, 4, a->details) ||
        bind_json(s, st, 5, a->links))
        return snprintf(s->errmsg, sizeof(s->errmsg), "out of memory"), -1;
    sqlite3_bind_int64(st, 6, a->id);
    return step_done(s, ST_ALERT_TOUCH_CONTENT);
}

int store_alert_set_status(struct store *s, int64_t id, const char *status, int64_t at,
                           const char *actor)
{
    enum stmt_id sid = strcmp(status, "resolved") == 0 ? ST_ALERT_RESOLVE : ST_ALERT_ACK;
    sqlite3_stmt *st = s->stmt[sid];
    bind_text(st, 1, status);
    sqlite3_bind_int64(st, 2, at);
    bind_text(st, 3, actor);
    sqlite3_bind_int64(st, 4, id);
    return step_done(s, sid);
}

int store_alert_set_suppressed(struct store *s, int64_t id, const char *reason,
                               const int64_t *incident_ids, size_t n_incidents)
{
    sqlite3_stmt *st = s->stmt[ST_ALERT_SUPPRESS];
    char ids[256];
    format_ids(ids, incident_ids, n_incidents);
    bind_text(st, 1, reason);
    sqlite3_bind_text(st, 2, ids, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, id);
    return step_done(s, ST_ALERT_SUPPRESS);
}

int store_incident_insert(struct store *s, struct store_incident *inc)
{
    sqlite3_stmt *st = s->stmt[ST_INC_INSERT];
    bind_text(st, 1, inc->title);
    bind_text(st, 2, inc->service);
    bind_text(st, 3, inc->route);
    bind_text(st, 4, inc->group_key);
    bind_text(st, 5, inc->status);
    sqlite3_bind_int(st, 6, inc->severity);
    sqlite3_bind_int(st, 7, inc->priority);
    sqlite3_bind_int(st, 8, inc->urgency);
    sqlite3_bind_int(st, 9, inc->impact);
    sqlite3_bind_int64(st, 10, inc->created_at);
    sqlite3_bind_int64(st, 11, inc->updated_at);
    sqlite3_bind_int64(st, 12, inc->last_alert_at);
    sqlite3_bind_int64(st, 13, inc->alert_count);
    sqlite3_bind_int64(st, 14, inc->open_alert_count);
    if (step_done(s, ST_INC_INSERT))
        return -1;
    inc->id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_incident_update(struct store *s, const struct store_incident *inc)
{
    sqlite3_stmt *st = s->stmt[ST_INC_UPDATE];
    sqlite3_bind_int(st, 1, inc->severity);
    sqlite3_bind_int(st, 2, inc->priority);
    sqlite3_bind_int(st, 3, inc->urgency);
    sqlite3_bind_int64(st, 4, inc->updated_at);
    sqlite3_bind_int64(st, 5, inc->last_alert_at);
    sqlite3_bind_int64(st, 6, inc->alert_count);
    sqlite3_bind_int64(st, 7, inc->open_alert_count);
    sqlite3_bind_int64(st, 8, inc->id);
    return step_done(s, ST_INC_UPDATE);
}

int store_incident_set_status(struct store *s, int64_t id, const char *status, int64_t at,
                              const char *actor)
{
    enum stmt_id sid = strcmp(status, "resolved") == 0 ? ST_INC_RESOLVE : ST_INC_ACK;
    sqlite3_stmt *st = s->stmt[sid];
    bind_text(st, 1, status);
    sqlite3_bind_int64(st, 2, at);
    bind_text(st, 3, actor);
    sqlite3_bind_int64(st, 4, at);
    sqlite3_bind_int64(st, 5, id);
    return step_done(s, sid);
}

int store_incident_set_ack_expiry(struct store *s, int64_t id, int64_t expires_at)
{
    sqlite3_stmt *st = s->stmt[ST_INC_ACK_EXPIRY];
    bind_opt_i64(st, 1, expires_at);
    sqlite3_bind_int64(st, 2, id);
    return step_done(s, ST_INC_ACK_EXPIRY);
}

int store_incident_unacknowledge(struct store *s, int64_t id, int64_t at)
{
    sqlite3_stmt *st = s->stmt[ST_INC_UNACK];
    sqlite3_bind_int64(st, 1, at);
    sqlite3_bind_int64(st, 2, id);
    return step_done(s, ST_INC_UNACK);
}

int store_incident_link_alert(struct store *s, int64_t incident_id, int64_t alert_id, int64_t at)
{
    sqlite3_stmt *st = s->stmt[ST_INC_LINK];
    sqlite3_bind_int64(st, 1, incident_id);
    sqlite3_bind_int64(st, 2, alert_id);
    sqlite3_bind_int64(st, 3, at);
    s->staged++;
    return step_done(s, ST_INC_LINK);
}

int64_t store_timeline_add(struct store *s, int64_t incident_id, int64_t at, const char *kind,
                           const char *actor, const char *text, const json_t *data)
{
    sqlite3_stmt *st = s->stmt[ST_TIMELINE];
    sqlite3_bind_int64(st, 1, incident_id);
    sqlite3_bind_int64(st, 2, at);
    bind_text(st, 3, kind);
    bind_text(st, 4, actor);
    bind_text(st, 5, text);
    if (bind_json(s, st, 6, data))
        return -1;
    if (step_done(s, ST_TIMELINE))
        return -1;
    s->staged++;
    return sqlite3_last_insert_rowid(s->db);
}

/* Binds what every audit record has; before and after are bound by the caller. */
static sqlite3_stmt *audit_head(struct store *s, int64_t at, const char *actor, const char *action,
                                const char *object_type, int64_t object_id)
{
    sqlite3_stmt *st = s->stmt[ST_AUDIT];
    sqlite3_bind_int64(st, 1, at);
    bind_text(st, 2, actor);
    bind_text(st, 3, action);
    bind_text(st, 4, object_type);
    sqlite3_bind_int64(st, 5, object_id);
    return st;
}

int store_audit_add_text(struct store *s, int64_t at, const char *actor, const char *action,
                         const char *object_type, int64_t object_id, const char *before,
                         const char *after)
{
    sqlite3_stmt *st = audit_head(s, at, actor, action, object_type, object_id);
    bind_text(st, 6, before);
    bind_text(st, 7, after);
    return step_done(s, ST_AUDIT);
}

int store_audit_add(struct store *s, int64_t at, const char *actor, const char *action,
                    const char *object_type, int64_t object_id, const json_t *before,
                    const json_t *after)
{
    sqlite3_stmt *st = audit_head(s, at, actor, action, object_type, object_id);
    if (bind_json(s, st, 6, before) || bind_json(s, st, 7, after)) {
        sqlite3_clear_bindings(st);
        return -1;
    }
    return step_done(s, ST_AUDIT);
}

int64_t store_change_insert(struct store *s, int64_t received_at, const char *integration,
                            const char *summary, const char *source, int64_t timestamp,
                            const json_t *details, const json_t *links)
{
    sqlite3_stmt *st = s->stmt[ST_CHANGE];
    sqlite3_bind_int64(st, 1, received_at);
    bind_text(st, 2, integration);
    bind_text(st, 3, summary);
    bind_text(st, 4, source);
    bind_opt_i64(st, 5, timestamp);
    if (bind_json(s, st, 6, details) || bind_json(s, st, 7, links))
        return -1;
    if (step_done(s, ST_CHANGE))
        return -1;
    return sqlite3_last_insert_rowid(s->db);
}

static void parse_ids(const char *text, int64_t *ids, int *n, int max)
{
    *n = 0;
    if (!text)
        return;
    for (const char *p = text; *p && *n < max;) {
        if (*p >= '0' && *p <= '9') {
            char *end;
            ids[(*n)++] = strtoll(p, &end, 10);
            p = end;
        } else {
            p++;
        }
    }
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int store_load_open(struct store *s, int (*on_alert)(void *, const struct store_open_alert *),
                    int (*on_incident)(void *, const struct store_open_incident *), void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, group_key, service, route, status, severity, priority, "
                           "impact, created_at, last_alert_at, alert_count, open_alert_count, "
                           "ack_expires_at, title, esc_policy, esc_level, esc_round, "
                           "esc_next_at, assignee FROM incidents WHERE status IN ('triggered', "
                           "'acknowledged') ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "load incidents");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_open_incident inc = {
            .id = sqlite3_column_int64(st, 0),
            .group_key = col_text(st, 1),
            .service = col_text(st, 2),
            .route = col_text(st, 3),
            .status = col_text(st, 4),
            .severity = sqlite3_column_int(st, 5),
            .priority = sqlite3_column_int(st, 6),
            .impact = sqlite3_column_int(st, 7),
            .created_at = sqlite3_column_int64(st, 8),
            .last_alert_at = sqlite3_column_int64(st, 9),
            .alert_count = sqlite3_column_int64(st, 10),
            .open_alert_count = sqlite3_column_int64(st, 11),
            .ack_expires_at = sqlite3_column_int64(st, 12),
            .title = col_text(st, 13),
            .esc_policy = col_text(st, 14),
            .esc_level = sqlite3_column_int(st, 15),
            .esc_round = sqlite3_column_int(st, 16),
            .esc_next_at = sqlite3_column_int64(st, 17),
            .assignee = col_text(st, 18),
        };
        if (on_incident(ctx, &inc)) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(s, "load incidents");

    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, integration, dedup_key, status, severity, first_seen, "
                           "last_seen, count, starts_at, ends_at, incident_ids, suppressed, "
                           "CASE WHEN suppressed IS NOT NULL THEN labels END, "
                           "CASE WHEN suppressed IS NOT NULL THEN summary END FROM alerts "
                           "WHERE status IN ('firing', 'acknowledged') ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "load alerts");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_open_alert a = {
            .id = sqlite3_column_int64(st, 0),
            .integration = col_text(st, 1),
            .dedup_key = col_text(st, 2),
            .status = col_text(st, 3),
            .severity = sqlite3_column_int(st, 4),
            .first_seen = sqlite3_column_int64(st, 5),
            .last_seen = sqlite3_column_int64(st, 6),
            .count = sqlite3_column_int64(st, 7),
            .starts_at = sqlite3_column_int64(st, 8),
            .ends_at = sqlite3_column_int64(st, 9),
        };
        a.suppressed = (const char *)sqlite3_column_text(st, 11);
        a.labels = (const char *)sqlite3_column_text(st, 12);
        a.summary = (const char *)sqlite3_column_text(st, 13);
        parse_ids(col_text(st, 10), a.incident_ids, &a.n_incidents, 4);
        if (on_alert(ctx, &a)) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(s, "load alerts");
    return 0;
}

int store_load_recent_resolved(struct store *s, int64_t since_ms,
                               int (*on_alert)(void *, const char *integration,
                                               const char *dedup_key, int64_t starts_at,
                                               int64_t resolved_at),
                               void *ctx)
{
    sqlite3_stmt *st;
    int rc;
    /* Resolved by a token means a person resolved it, which is not the
     * sender's word that the alert ended. */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT integration, dedup_key, starts_at, resolved_at FROM alerts "
                           "WHERE status = 'resolved' AND resolved_at >= ? AND starts_at IS NOT "
                           "NULL AND resolved_by NOT LIKE 'token:%' ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "load recent");
    sqlite3_bind_int64(st, 1, since_ms);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (on_alert(ctx, col_text(st, 0), col_text(st, 1), sqlite3_column_int64(st, 2),
                     sqlite3_column_int64(st, 3))) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "load recent");
}

int store_incident_status(struct store *s, int64_t id, char *buf, size_t size)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT status FROM incidents WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, "incident status");
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(buf, size, "%s", col_text(st, 0) ? col_text(st, 0) : "");
        found = 1;
    }
    sqlite3_finalize(st);
    return found;
}

/* ---- reader pool ---- */

struct store_reader *store_reader_acquire(struct store *s)
{
    struct store_reader *r;
    pthread_mutex_lock(&s->pool_lock);
    r = s->free_readers;
    if (r) {
        s->free_readers = r->next;
        s->n_readers--;
    }
    pthread_mutex_unlock(&s->pool_lock);
    if (r)
        return r;
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (sqlite3_open_v2(s->path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        log_error("store: cannot open a read connection: %s",
                  r->db ? sqlite3_errmsg(r->db) : "out of memory");
        sqlite3_close(r->db);
        free(r);
        return NULL;
    }
    sqlite3_busy_timeout(r->db, 5000);
    sqlite3_exec(r->db, "PRAGMA query_only=1; PRAGMA cache_size=-4000;", NULL, NULL, NULL);
    return r;
}

void store_reader_release(struct store *s, struct store_reader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&s->pool_lock);
    if (s->n_readers < READER_POOL_MAX) {
        r->next = s->free_readers;
        s->free_readers = r;
        s->n_readers++;
        r = NULL;
    }
    pthread_mutex_unlock(&s->pool_lock);
    if (r) {
        sqlite3_close(r->db);
        free(r);
    }
}

sqlite3 *store_reader_db(struct store_reader *r)
{
    return r->db;
}
