/*
 * store_sqlite_int.h - what the SQLite backend's files share with each other
 * and with nothing else.
 */
#ifndef TOCSIN_STORE_SQLITE_INT_H
#define TOCSIN_STORE_SQLITE_INT_H

#include "store.h"

#include <sqlite3.h>

/* Unmerged links and timeline entries that store_commit lets accumulate
 * before it merges them (migration 6): readers scan at most about this many
 * rows besides the indexes, and a merge touches each incident's pages once.
 * 4,096 gave the same rate but merges long enough to raise the p99 of the
 * batches they ran in (8-11 ms against 6 ms at 9,000 alerts/s, half new). */
#define STORE_MERGE_ROWS 1024

/* Statement slots that other files of the backend prepare on first use. */
#define STORE_XSTMT_MAX 48

/*
 * Brings db's schema up to version target (-1: the newest) with the
 * versioned migrations, one transaction each, and writes the version it
 * reached into *version_out. store_open_sqlite calls it; tests call it with
 * an older target to build a database as an older tocsin left it.
 */
int store_sqlite_migrate(sqlite3 *db, int target, int *version_out, char *err, size_t errlen);

/* The engine's write connection. */
sqlite3 *store_writer_db(struct store *s);

/* Records "what: sqlite's message" as the writer's last error; returns -1. */
int store_fail(struct store *s, const char *what);

/*
 * The writer statement in slot, prepared from sql on first use and kept
 * until store_close. Each file owns a range of slots (store_sqlite_checks.c:
 * 0..15, store_sqlite_oncall.c: 16..47). Returns NULL (and records the error) when it cannot be
 * prepared.
 */
sqlite3_stmt *store_xstmt(struct store *s, int slot, const char *sql);

/* Steps a writer statement once, then resets it and clears its bindings;
 * returns 0, or store_fail(s, what). */
int store_step_reset(struct store *s, sqlite3_stmt *st, const char *what);
/* Binds v, or NULL when v is NULL (text) or 0 (timestamps). */
void store_bind_text(sqlite3_stmt *st, int i, const char *v);
void store_bind_ts(sqlite3_stmt *st, int i, int64_t v);
/* Column i as a JSON RFC 3339 string / string, or JSON null. */
json_t *store_col_ts(sqlite3_stmt *st, int i);
json_t *store_col_str(sqlite3_stmt *st, int i);

/* The connection behind a reader handle. */
sqlite3 *store_reader_db(struct store_reader *r);

#endif
