/*
 * store_sqlite_int.h - what the SQLite backend's files share with each other
 * and with nothing else.
 */
#ifndef TOCSIN_STORE_SQLITE_INT_H
#define TOCSIN_STORE_SQLITE_INT_H

#include "store.h"

#include <sqlite3.h>

/* The connection behind a reader handle. */
sqlite3 *store_reader_db(struct store_reader *r);

#endif
