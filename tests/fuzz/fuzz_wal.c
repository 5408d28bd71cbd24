/*
 * fuzz_wal.c - libFuzzer target for log replay: the bytes become the only
 * segment of a database's log (DIR/wal/00000001) and the database is opened,
 * read back and closed. An input that starts with 'R' is instead wrapped as
 * one record with a correct length and checksum, so the fuzzer reaches the
 * payload decoder past the CRC. Besides memory errors it checks what replay
 * promises: opening never fails because of the log's content, and every
 * series reads back with strictly increasing timestamps.
 */
#include "base/log.h"
#include "metrics/tsdb.h"
#include "metrics/tsdb_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void clean(const char *sub)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s/%s", dir, sub);
    if (system(cmd) != 0)
        abort();
}

static void remove_dir(void)
{
    clean("");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128], err[512];
    struct tsdb *db;

    if (!dir[0]) {
        log_threshold = LOG_OFF;
        snprintf(dir, sizeof(dir), "/tmp/fuzz-wal-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        atexit(remove_dir);
    }
    clean("wal");
    clean("blocks");
    snprintf(path, sizeof(path), "%s/wal", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/wal/00000001", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    if (size > 0 && data[0] == 'R') {
        uint8_t hdr[TSDB_WAL_HDR];
        tsdb_put_u32(hdr, (uint32_t)(size - 1));
        tsdb_put_u32(hdr + 4, tsdb_crc32c(0, data + 1, size - 1));
        if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
            abort();
        data++;
        size--;
    }
    if (size > 0 && write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);

    struct tsdb_options o = {.dir = dir};
    if (tsdb_open(&o, &db, err, sizeof(err)) != 0)
        abort(); /* the log's content must never stop an open */
    struct matcher m;
    struct tsdb_series *s;
    size_t n;
    if (matcher_init(&m, "__name__", MATCH_RE, ".+", err, sizeof(err)) != 0)
        abort();
    if (tsdb_select(db, &m, 1, INT64_MIN, INT64_MAX, 0, &s, &n, err, sizeof(err)) != 0)
        abort();
    for (size_t i = 0; i < n; i++)
        for (size_t k = 1; k < s[i].n; k++)
            if (s[i].t[k] <= s[i].t[k - 1])
                abort();
    tsdb_series_free(s, n);
    matcher_free(&m);
    tsdb_close(db);
    return 0;
}
