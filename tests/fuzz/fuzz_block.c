/*
 * fuzz_block.c - libFuzzer target for the block reader: the bytes are a
 * block file image. It is validated twice, with and without the section
 * checksums (without them the fuzzer gets past the CRCs to the structure),
 * and when accepted every series entry, chunk and rollup record is read the
 * way queries read them (version 2 chunks with the first time, count and
 * step of their entry, bare or not). Besides memory errors it checks what
 * the reader promises: chunk ranges lie inside the block, in order, a chunk
 * gives no more samples than its entry says, and decoded rollup buckets are
 * in increasing time inside the block's range.
 */
#include "fuzz_check.h"
#include "metrics/chunk.h"
#include "metrics/tsdb_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const uint8_t *data, const struct block_info *info)
{
    struct bseries *bs = malloc(sizeof(*bs));
    fuzz_check(bs != NULL);
    for (uint32_t i = 0; i < info->nseries; i++) {
        /* The validation accepted the block, so every series must read. */
        fuzz_check(tsdb_block_series(data, info, NULL, i, bs) == 0);
        struct bchunk c;
        int rc;
        int64_t prev = INT64_MIN;
        while ((rc = tsdb_bseries_next_chunk(data, info, bs, &c)) == 1) {
            fuzz_check(c.mint <= c.maxt && c.mint >= info->mint && c.maxt <= info->maxt &&
                       c.mint > prev);
            prev = c.maxt;
            (void)tsdb_bchunk_ok(&c);
            struct chunk_iter it;
            int64_t t;
            double v;
            /* As queries read it: version 2 chunks need their metadata. */
            if (tsdb_bchunk_iter(&it, &c) == 0) {
                uint32_t got = 0;
                int r;
                while (got < 100000 && (r = chunk_iter_next(&it, &t, &v)) == 1)
                    got++;
                fuzz_check(c.n == 0 || got <= c.n);
            }
        }
        fuzz_check(rc == 0);
        struct rollup_rec rec;
        if (bs->roll && tsdb_rollup_rec_parse(bs->roll, bs->roll_len, info, &rec) == 0) {
            for (int ri = 0; ri < TSDB_NRES; ri++) {
                struct tsdb_bucket *b;
                size_t nb;
                if (!rec.has[ri] || tsdb_rollup_rec_buckets(&rec, ri, &b, &nb) != 0)
                    continue;
                for (size_t k = 0; k < nb; k++) {
                    fuzz_check(b[k].t <= info->maxt && b[k].count > 0 &&
                               b[k].t >= tsdb_align_down(info->mint, tsdb_rollup_res[ri]));
                    fuzz_check(k == 0 || b[k].t > b[k - 1].t);
                }
                free(b);
            }
        }
    }
    free(bs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct block_info info;
    char err[256];
    /* A private copy, so reads past the end are caught exactly. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    for (int verify = 1; verify >= 0; verify--) {
        err[0] = '\0';
        if (tsdb_block_parse(copy, size, verify, &info, err, sizeof(err)) != 0) {
            fuzz_check(err[0] != '\0'); /* a refusal says why */
            continue;
        }
        walk(copy, &info);
    }
    free(copy);
    return 0;
}
