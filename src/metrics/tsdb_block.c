/*
 * tsdb_block.c - the block file: one immutable file per block,
 * DIR/blocks/<mint>-<maxt>-<seq>.blk, written to <seq>.tmp, fsync'ed and
 * renamed. Integers are little-endian; varints are LEB128. The writer makes
 * version 2; version 1 (below the version 2 layout) is still read, and
 * compaction rewrites it as version 2.
 *
 *   header   "TOCSBLK1", u32 version (2), u32 zero
 *   chunks   the series' chunks back to back, each a chunk_encode_meta
 *            chunk without its first byte (format 3: its first time, count
 *            and step are in the entry)
 *   rollups  per-series rollup records (see below)
 *   symbols  every label name and value once, numbered by how many series
 *            use them (most first, so they get one-byte varints): varint
 *            length, bytes, NUL; then the label name sets (as many as the
 *            footer says): varint count, varint name symbol per label
 *   series   per series, in the order of their chunks, an entry: absolute
 *            for every TSDB_BLOCK_CP-th series, else coded against the entry
 *            before it
 *   seroff   per TSDB_BLOCK_CP series: u32 offset of the first one's entry,
 *            u64 offset of its first chunk (a series is read from there,
 *            with bcursor to keep reading in order cheap)
 *   parents  varint sequence numbers of the blocks this one replaces
 *   footer   i64 mint, i64 maxt, u64 seq, u64 samples, u32 series,
 *            u32 symbols, u32 parents, u32 name sets, (u64 offset, u64
 *            length) of the six sections, u32 CRC-32C of each section (the
 *            chunks section's is zero: each chunk has its own), u32 CRC-32C
 *            of the footer so far, "TOCSBLKF"
 *
 * An absolute entry: varint name set, varint value symbol per label (in the
 * name set's order), varint nchunks << 1 | has rollup [varint rollup
 * length, varint its offset], then per chunk its metadata: varint n << 2 |
 * irregular << 1 | (dmint follows), [varint dmint: mint - (previous maxt +
 * 1), the first from the block's mint], for n > 1 varint step (regular: all
 * deltas, maxt = mint + (n - 1) step) or maxt - mint (irregular), varint
 * length, u32 CRC-32C of the chunk bytes.
 *
 * A relative entry: varint mask (bit 0: the name set changed, 1: has
 * rollup, 2: its chunks are not one regular chunk of the previous entry's
 * count and step, 3: its dmint differs, 4 + j: label j's value changed;
 * labels from 60 on are always coded), [varint name set], per changed label
 * varint zigzag(symbol - previous symbol), [rollup length and offset], then
 * with bit 2 varint nchunks and the chunks' metadata as above, else [varint
 * dmint], varint length, u32 CRC-32C. Scraped series in creation order
 * differ in a label or two, so an entry costs about nine bytes.
 *
 * Version 1 differs: chunks keep their first byte and say their first time
 * and count (formats 1 and 2 of chunk.h); the symbols have no name sets;
 * an entry is varint nlabels, (varint name symbol, varint value symbol) per
 * label, varint rollup record length (0: none) [varint its offset], varint
 * nchunks, varint offset of the first chunk, then per chunk varint dmint,
 * varint maxt - mint, varint length, u32 CRC-32C; seroff has the u32 offset
 * of every entry; the footer's name set count is zero.
 *
 * A rollup record: u8 flags (bit 0: 5 min buckets, bit 1: 1 h buckets),
 * the series' first (non-NaN) value in the block XOR-coded against 0, then
 * per resolution present varint bucket count, varint byte length and
 * the buckets: varint bucket index delta (the first from the block's first
 * bucket, later ones minus one), zigzag varint count minus the previous
 * count, then last, min, max, sum and inc XOR-coded (tbuf_xor) against, in
 * order, the previous bucket's last, this bucket's last, this bucket's last,
 * the previous sum and the increase the bucket would have without a reset
 * (inc_base). A bucket of a counter costs 10 to 20 bytes.
 *
 * Which rollups a block stores: a resolution when the block's range holds
 * at least TSDB_ROLLUP_MIN_BUCKETS buckets of it, and for a series when its
 * buckets average at least TSDB_ROLLUP_MIN_PER_BUCKET samples, so stored
 * rollups stay under a tenth of the raw data's size. A fresh 2 h block
 * therefore stores none (two 1 h buckets are not worth 60 bytes per series;
 * its raw samples are rolled up when read), while compacted blocks of 6 h
 * and more store 1 h buckets for series sampled every 20 s or faster, and 5
 * min buckets for those sampled about every second.
 */
#include "tsdb_int.h"

#include "../base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK_HDR     16
#define BLOCK_FTR     180
#define BLOCK_VERSION 2 /* written; version 1 is still read */

const int64_t tsdb_rollup_res[TSDB_NRES] = {TSDB_ROLLUP_5M, TSDB_ROLLUP_1H};

/* ---- reading ---- */

int tsdb_bseries_next_chunk(const uint8_t *data, const struct block_info *info, struct bseries *bs,
                            struct bchunk *c)
{
    if (bs->left == 0)
        return 0;
    uint64_t dmint, dur, len, n = 0, step = 0;
    uint32_t crc;
    if (info->version == 1) {
        dmint = rd_uvarint(&bs->meta);
        dur = rd_uvarint(&bs->meta);
    } else if (bs->shape) {
        n = bs->sn;
        dmint = bs->sdmint;
        step = n > 1 ? bs->sstep : 0;
        if (n == 0 || n > CHUNK_RC_MAX || (n > 1 && step == 0) ||
            (step && (n - 1) > (uint64_t)INT64_MAX / step))
            return -1;
        dur = (n - 1) * step;
    } else {
        /* n << 2 | irregular << 1 | (dmint follows), then the step or the duration. */
        uint64_t y = rd_uvarint(&bs->meta);
        n = y >> 2;
        dmint = (y & 1) ? rd_uvarint(&bs->meta) : 0;
        dur = n > 1 ? rd_uvarint(&bs->meta) : 0;
        if (n == 0 || n > CHUNK_RC_MAX || ((y & 2) && n < 3))
            return -1;
        if (!(y & 2) && n > 1) {
            step = dur;
            if (step == 0 || (n - 1) > (uint64_t)INT64_MAX / step)
                return -1;
            dur = (n - 1) * step;
        }
    }
    len = rd_uvarint(&bs->meta);
    crc = rd_u32(&bs->meta);
    if (bs->meta.bad)
        return -1;
    int64_t base = bs->prev_maxt + 1;
    if (base > info->maxt || dmint > (uint64_t)(info->maxt - base))
        return -1;
    int64_t mint = base + (int64_t)dmint;
    if (dur > (uint64_t)(info->maxt - mint))
        return -1;
    uint64_t clen = info->len[BSEC_CHUNKS];
    if (len == 0 || len > UINT32_MAX || len > clen || bs->next_off > clen - len)
        return -1;
    c->data = data + info->off[BSEC_CHUNKS] + bs->next_off;
    c->len = (uint32_t)len;
    c->crc = crc;
    c->mint = mint;
    c->maxt = mint + (int64_t)dur;
    c->n = (uint32_t)n;
    c->step = step;
    c->bare = info->version >= 2;
    bs->next_off += len;
    bs->prev_maxt = c->maxt;
    bs->left--;
    return 1;
}

bool tsdb_bchunk_ok(const struct bchunk *c)
{
    return tsdb_crc32c(0, c->data, c->len) == c->crc;
}

static void sym_view(const uint8_t *data, const struct block_info *info, const uint32_t *symoff,
                     uint64_t sym, const char **s, uint32_t *len)
{
    *s = (const char *)data + info->off[BSEC_SYMBOLS] + symoff[sym];
    *len = (uint32_t)strlen(*s);
}

/* Version 2: the label count of name set k and a reader at its name symbols. */
static int nameset_get(const uint8_t *data, const struct block_info *info, uint64_t k,
                       uint32_t *nlab, struct rd *names)
{
    const uint8_t *sec = data + info->off[BSEC_SYMBOLS];
    struct rd r = {sec + info->nsoff, sec + info->len[BSEC_SYMBOLS], false};
    if (k >= info->nnamesets)
        return -1;
    for (uint64_t i = 0;; i++) {
        uint64_t n = rd_uvarint(&r);
        if (r.bad || n == 0 || n > LABELS_MAX_PAIRS)
            return -1;
        if (i == k) {
            *nlab = (uint32_t)n;
            *names = r;
            return 0;
        }
        for (uint64_t j = 0; j < n; j++)
            rd_uvarint(&r);
    }
}

/* The offset of a rollup record of roll_len bytes (after its length). */
static int parse_roll(const uint8_t *data, const struct block_info *info, struct rd *r,
                      uint64_t roll_len, struct bseries *out)
{
    uint64_t roll_off = rd_uvarint(r);
    uint64_t rl = info->len[BSEC_ROLLUPS];
    if (r->bad || roll_len > rl || roll_off > rl - roll_len || roll_len > UINT32_MAX)
        return -1;
    out->roll = data + info->off[BSEC_ROLLUPS] + roll_off;
    out->roll_len = (uint32_t)roll_len;
    return 0;
}

/*
 * Parses the series entry at r (advancing it), whose chunks start at *choff
 * in the chunks section (advanced past them), with its labels when symoff is
 * given; walks its chunk list once to validate it and learn the data's range.
 * Version 2 entries are absolute at checkpoints (abs), else coded against pv,
 * the entry before, which this updates.
 */
static int entry_parse(const uint8_t *data, const struct block_info *info, const uint32_t *symoff,
                       struct rd *r, uint64_t *choff, struct bseries *out, struct bprev *pv,
                       bool abs)
{
    struct rd names = {0};
    uint64_t nlab, nchunks = 0, roll_len = 0, mask = 0;
    out->shape = 0;
    out->roll = NULL;
    out->roll_len = 0;
    if (info->version == 1) {
        nlab = rd_uvarint(r);
        if (r->bad || nlab == 0 || nlab > LABELS_MAX_PAIRS)
            return -1;
    } else {
        if (!abs)
            mask = rd_uvarint(r);
        uint64_t k = abs || (mask & 1) ? rd_uvarint(r) : pv->ns;
        uint32_t n32;
        if (r->bad || nameset_get(data, info, k, &n32, &names) != 0)
            return -1;
        nlab = n32;
        pv->ns = (uint32_t)k;
    }
    out->nlab = (uint32_t)nlab;
    for (uint32_t i = 0; i < nlab; i++) {
        uint64_t ns = info->version == 1 ? rd_uvarint(r) : rd_uvarint(&names);
        uint64_t vs;
        if (info->version == 1 || abs) {
            vs = rd_uvarint(r);
        } else {
            uint64_t pvs = i < pv->nlab ? pv->vals[i] : 0;
            bool coded = i >= 60 || (mask >> (4 + i) & 1);
            vs = coded ? pvs + (uint64_t)tsdb_unzigzag(rd_uvarint(r)) : pvs;
        }
        if (r->bad || names.bad || ns >= info->nsymbols || vs >= info->nsymbols)
            return -1;
        if (info->version >= 2)
            pv->vals[i] = (uint32_t)vs;
        if (symoff) {
            sym_view(data, info, symoff, ns, &out->lv[i].name, &out->lv[i].nlen);
            sym_view(data, info, symoff, vs, &out->lv[i].value, &out->lv[i].vlen);
        }
    }
    if (info->version >= 2) {
        pv->nlab = (uint32_t)nlab;
        if (abs) {
            uint64_t x = rd_uvarint(r);
            nchunks = x >> 1;
            mask = (x & 1) << 1 | 4;
        }
        if (mask & 2) {
            roll_len = rd_uvarint(r);
            if (r->bad || roll_len == 0 || parse_roll(data, info, r, roll_len, out) != 0)
                return -1;
        }
        if (!abs && (mask & 4)) {
            nchunks = rd_uvarint(r);
        } else if (!abs) {
            /* One chunk shaped like the previous entry's. */
            if (!pv->shape)
                return -1;
            nchunks = 1;
            out->shape = 1;
            out->sn = pv->n;
            out->sstep = pv->step;
            out->sdmint = (mask & 8) ? rd_uvarint(r) : pv->dmint;
        }
    } else {
        roll_len = rd_uvarint(r);
        if (roll_len > 0 && parse_roll(data, info, r, roll_len, out) != 0)
            return -1;
    }
    if (info->version == 1) {
        nchunks = rd_uvarint(r);
        *choff = rd_uvarint(r);
    }
    /* Each chunk's metadata takes at least 5 bytes. */
    if (r->bad || nchunks == 0 || nchunks > (uint64_t)(r->end - r->p) / 5)
        return -1;
    out->nchunks = (uint32_t)nchunks;
    out->meta = *r;
    out->left = (uint32_t)nchunks;
    out->prev_maxt = info->mint - 1;
    out->next_off = *choff;
    struct bseries walk = *out;
    struct bchunk c;
    int rc;
    bool first = true;
    while ((rc = tsdb_bseries_next_chunk(data, info, &walk, &c)) == 1) {
        if (first) {
            out->mint = c.mint;
            /* What the next entry may take as its shape. */
            pv->shape = nchunks == 1 && (c.n == 1 || c.step != 0);
            pv->n = c.n;
            pv->step = c.step;
            pv->dmint = (uint64_t)(c.mint - info->mint);
        }
        first = false;
        out->maxt = c.maxt;
    }
    if (rc != 0)
        return -1;
    *r = walk.meta;
    *choff = walk.next_off;
    return 0;
}

/* Version 2: checkpoint k (entry offset, chunk offset of series 16 k). */
static void block_checkpoint(const uint8_t *data, const struct block_info *info, uint32_t k,
                             uint64_t *eoff, uint64_t *choff)
{
    const uint8_t *p = data + info->off[BSEC_SEROFF] + 12 * (uint64_t)k;
    *eoff = tsdb_get_u32(p);
    *choff = tsdb_get_u64(p + 4);
}

int tsdb_block_series_at(const uint8_t *data, const struct block_info *info, const uint32_t *symoff,
                         uint32_t local, struct bseries *out, struct bcursor *cur)
{
    if (local >= info->nseries)
        return -1;
    const uint8_t *sec = data + info->off[BSEC_SERIES];
    uint64_t eoff, choff = 0;
    uint32_t i = local;
    struct bprev pv0, *pv = &pv0;
    if (info->version == 1) {
        eoff = tsdb_get_u32(data + info->off[BSEC_SEROFF] + 4 * (uint64_t)local);
    } else if (cur && cur->data == data && cur->seq == info->seq && cur->next == local) {
        eoff = cur->eoff;
        choff = cur->choff;
        pv = &cur->prev;
    } else {
        i = local - local % TSDB_BLOCK_CP;
        block_checkpoint(data, info, local / TSDB_BLOCK_CP, &eoff, &choff);
        if (cur)
            pv = &cur->prev;
    }
    if (eoff >= info->len[BSEC_SERIES])
        return -1;
    struct rd r = {sec + eoff, sec + info->len[BSEC_SERIES], false};
    for (; i < local; i++)
        if (entry_parse(data, info, NULL, &r, &choff, out, pv, i % TSDB_BLOCK_CP == 0) != 0)
            return -1;
    if (entry_parse(data, info, symoff, &r, &choff, out, pv, local % TSDB_BLOCK_CP == 0) != 0)
        return -1;
    if (cur) {
        cur->data = data;
        cur->seq = info->seq;
        cur->next = local + 1;
        cur->eoff = (uint64_t)(r.p - sec);
        cur->choff = choff;
    }
    return 0;
}

int tsdb_block_series(const uint8_t *data, const struct block_info *info, const uint32_t *symoff,
                      uint32_t local, struct bseries *out)
{
    return tsdb_block_series_at(data, info, symoff, local, out, NULL);
}

/* Validates the whole image; on success *symoff_out (when asked) holds the
 * offset of each symbol's text within the symbols section. */
static int block_parse(const uint8_t *data, size_t len, bool verify_crc, struct block_info *info,
                       uint32_t **symoff_out, char *err, size_t errlen)
{
    uint32_t *symoff = NULL;
    uint32_t crc[BSEC_N];
    struct bseries *bs = NULL;

    if (symoff_out)
        *symoff_out = NULL;
    memset(info, 0, sizeof(*info));
    if (len < BLOCK_HDR + BLOCK_FTR) {
        snprintf(err, errlen, "too short for a block (%zu bytes)", len);
        return -1;
    }
    info->version = len >= 12 ? tsdb_get_u32(data + 8) : 0;
    if (memcmp(data, "TOCSBLK1", 8) != 0 || info->version < 1 || info->version > BLOCK_VERSION) {
        snprintf(err, errlen, "not a block of version 1 to %d (bad header)", BLOCK_VERSION);
        return -1;
    }
    const uint8_t *f = data + len - BLOCK_FTR;
    if (memcmp(f + BLOCK_FTR - 8, "TOCSBLKF", 8) != 0 ||
        tsdb_crc32c(0, f, BLOCK_FTR - 12) != tsdb_get_u32(f + BLOCK_FTR - 12)) {
        snprintf(err, errlen, "the footer is damaged (incomplete write?)");
        return -1;
    }
    info->mint = (int64_t)tsdb_get_u64(f);
    info->maxt = (int64_t)tsdb_get_u64(f + 8);
    info->seq = tsdb_get_u64(f + 16);
    info->nsamples = tsdb_get_u64(f + 24);
    info->nseries = tsdb_get_u32(f + 32);
    info->nsymbols = tsdb_get_u32(f + 36);
    info->nparents = tsdb_get_u32(f + 40);
    info->nnamesets = tsdb_get_u32(f + 44);
    if (info->version == 1 && info->nnamesets != 0) {
        snprintf(err, errlen, "the footer is damaged (reserved field)");
        return -1;
    }
    uint64_t expect = BLOCK_HDR, end = len - BLOCK_FTR;
    for (int i = 0; i < BSEC_N; i++) {
        info->off[i] = tsdb_get_u64(f + 48 + 16 * i);
        info->len[i] = tsdb_get_u64(f + 56 + 16 * i);
        crc[i] = tsdb_get_u32(f + 144 + 4 * i);
        if (info->off[i] != expect || info->len[i] > end - expect) {
            snprintf(err, errlen, "section %d lies outside the file", i);
            return -1;
        }
        expect += info->len[i];
    }
    if (expect != end) {
        snprintf(err, errlen, "the sections do not fill the file");
        return -1;
    }
    if (info->mint > info->maxt || info->mint < -TSDB_T_LIMIT || info->maxt > TSDB_T_LIMIT) {
        snprintf(err, errlen, "bad time range %" PRId64 "..%" PRId64, info->mint, info->maxt);
        return -1;
    }
    if (verify_crc) {
        for (int i = BSEC_ROLLUPS; i < BSEC_N; i++) {
            if (tsdb_crc32c(0, data + info->off[i], info->len[i]) != crc[i]) {
                snprintf(err, errlen, "section %d fails its checksum", i);
                return -1;
            }
        }
    }
    uint64_t seroff_len =
        info->version == 1 ? 4 * (uint64_t)info->nseries
                           : 12 * (((uint64_t)info->nseries + TSDB_BLOCK_CP - 1) / TSDB_BLOCK_CP);
    if (info->len[BSEC_SEROFF] != seroff_len || info->len[BSEC_SERIES] > UINT32_MAX ||
        info->len[BSEC_SYMBOLS] > UINT32_MAX) {
        snprintf(err, errlen, "the series tables are inconsistent");
        return -1;
    }
    /* Symbols: each takes at least two bytes, which bounds the count. */
    if (info->nsymbols > info->len[BSEC_SYMBOLS] / 2) {
        snprintf(err, errlen, "bad symbol count %u", info->nsymbols);
        return -1;
    }
    symoff = malloc(((size_t)info->nsymbols + 1) * sizeof(*symoff));
    if (!symoff) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const uint8_t *sym = data + info->off[BSEC_SYMBOLS];
    struct rd r = {sym, sym + info->len[BSEC_SYMBOLS], false};
    for (uint32_t i = 0; i < info->nsymbols; i++) {
        uint64_t l = rd_uvarint(&r);
        const uint8_t *p = l <= LABELS_MAX_VALUE ? rd_bytes(&r, l + 1) : NULL;
        if (!p || p[l] != 0 || memchr(p, 0, l)) {
            snprintf(err, errlen, "symbol %u is damaged", i);
            goto fail;
        }
        symoff[i] = (uint32_t)(p - sym);
    }
    /* Version 2: the label name sets, each a count and its name symbols. */
    info->nsoff = (uint64_t)(r.p - sym);
    if (info->nnamesets > info->len[BSEC_SYMBOLS] / 2) {
        snprintf(err, errlen, "bad name set count %u", info->nnamesets);
        goto fail;
    }
    for (uint32_t i = 0; i < info->nnamesets; i++) {
        uint64_t nl = rd_uvarint(&r);
        if (r.bad || nl == 0 || nl > LABELS_MAX_PAIRS) {
            snprintf(err, errlen, "name set %u is damaged", i);
            goto fail;
        }
        for (uint64_t j = 0; j < nl; j++)
            if (rd_uvarint(&r) >= info->nsymbols || r.bad) {
                snprintf(err, errlen, "name set %u is damaged", i);
                goto fail;
            }
    }
    if (r.p != r.end) {
        snprintf(err, errlen, "trailing bytes after the symbols");
        goto fail;
    }
    const uint8_t *par = data + info->off[BSEC_PARENTS];
    r = (struct rd){par, par + info->len[BSEC_PARENTS], false};
    for (uint32_t i = 0; i < info->nparents; i++)
        rd_uvarint(&r);
    if (r.bad || r.p != r.end) {
        snprintf(err, errlen, "the parents list is damaged");
        goto fail;
    }
    bs = malloc(sizeof(*bs));
    if (!bs) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    info->dmint = info->maxt;
    info->dmaxt = info->mint;
    /* Every entry in order; version 2's checkpoints must agree with the walk. */
    struct bcursor cur = {0};
    for (uint32_t i = 0; i < info->nseries; i++) {
        char lerr[160];
        if (info->version >= 2 && i % TSDB_BLOCK_CP == 0) {
            uint64_t eoff, choff;
            block_checkpoint(data, info, i / TSDB_BLOCK_CP, &eoff, &choff);
            if (i > 0 && (eoff != cur.eoff || choff != cur.choff)) {
                snprintf(err, errlen, "series offsets %u are damaged", i / TSDB_BLOCK_CP);
                goto fail;
            }
        }
        if (tsdb_block_series_at(data, info, symoff, i, bs, &cur) != 0) {
            snprintf(err, errlen, "series %u is damaged", i);
            goto fail;
        }
        if (tsdb_labels_check(bs->lv, bs->nlab, lerr, sizeof(lerr)) != 0) {
            snprintf(err, errlen, "series %u: %s", i, lerr);
            goto fail;
        }
        if (bs->mint < info->dmint)
            info->dmint = bs->mint;
        if (bs->maxt > info->dmaxt)
            info->dmaxt = bs->maxt;
    }
    free(bs);
    if (symoff_out)
        *symoff_out = symoff;
    else
        free(symoff);
    return 0;
fail:
    free(bs);
    free(symoff);
    return -1;
}

int tsdb_block_parse(const uint8_t *data, size_t len, bool verify_crc, struct block_info *info,
                     char *err, size_t errlen)
{
    return block_parse(data, len, verify_crc, info, NULL, err, errlen);
}

/* Reads the parents list of a validated block. */
static uint64_t *block_parents(const uint8_t *data, const struct block_info *info)
{
    uint64_t *p = calloc(info->nparents ? info->nparents : 1, sizeof(*p));
    if (!p)
        return NULL;
    const uint8_t *sec = data + info->off[BSEC_PARENTS];
    struct rd r = {sec, sec + info->len[BSEC_PARENTS], false};
    for (uint32_t i = 0; i < info->nparents; i++)
        p[i] = rd_uvarint(&r);
    return p;
}

int tsdb_block_parents(const struct tsdb_block *b, uint64_t **out)
{
    *out = block_parents(b->map, &b->info);
    return *out ? (int)b->info.nparents : -1;
}

int tsdb_rollup_rec_parse(const uint8_t *p, size_t len, const struct block_info *info,
                          struct rollup_rec *r)
{
    struct rd rd = {p, p + len, false};
    memset(r, 0, sizeof(*r));
    const uint8_t *flags = rd_bytes(&rd, 1);
    if (!flags || (*flags & ~3u) || !*flags)
        return -1;
    r->maxt = info->maxt;
    r->first = tsdb_bitsd(rd_xor(&rd, 0));
    r->has_first = !rd.bad;
    for (int ri = 0; ri < TSDB_NRES; ri++) {
        if (!(*flags & (1u << ri)))
            continue;
        uint64_t nb = rd_uvarint(&rd), nbytes = rd_uvarint(&rd);
        const uint8_t *b = rd_bytes(&rd, nbytes);
        /* A bucket takes at least seven bytes. */
        if (!b || nb == 0 || nb > nbytes / 7)
            return -1;
        r->has[ri] = true;
        r->nb[ri] = (uint32_t)nb;
        r->buckets[ri] = (struct rd){b, b + nbytes, false};
        r->base[ri] = tsdb_floor_div(info->mint, tsdb_rollup_res[ri]);
    }
    return rd.p == rd.end ? 0 : -1;
}

/*
 * What a counter's increase would be with no reset: the bucket's last minus
 * its first sample (which for a counter is its minimum) in the block's first
 * bucket, else minus the previous bucket's last. The increase is coded
 * against this, so a counter's costs one byte. A NaN (from infinities) is
 * replaced by 0, whose bits do not depend on the CPU.
 */
static uint64_t inc_base(bool first, uint64_t last, uint64_t min, uint64_t plast)
{
    double p = tsdb_bitsd(last) - tsdb_bitsd(first ? min : plast);
    return p == p ? tsdb_dbits(p) : 0;
}

int tsdb_rollup_rec_buckets(struct rollup_rec *r, int ri, struct tsdb_bucket **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!r->has[ri])
        return -1;
    struct rd rd = r->buckets[ri];
    struct tsdb_bucket *b = malloc(r->nb[ri] * sizeof(*b));
    if (!b)
        return -1;
    int64_t res = tsdb_rollup_res[ri], idx = r->base[ri] - 1;
    int64_t max_idx = tsdb_floor_div(r->maxt, res);
    uint64_t plast = 0, psum = 0;
    int64_t pcount = 0;
    for (uint32_t i = 0; i < r->nb[ri]; i++) {
        uint64_t d = rd_uvarint(&rd);
        int64_t count = pcount + rd_varint(&rd);
        if (rd.bad || idx >= max_idx || d > (uint64_t)(max_idx - idx - 1) || count <= 0 ||
            count > UINT32_MAX)
            goto bad;
        idx += (int64_t)d + 1;
        uint64_t last = rd_xor(&rd, plast);
        uint64_t min = rd_xor(&rd, last);
        uint64_t max = rd_xor(&rd, last);
        uint64_t sum = rd_xor(&rd, psum);
        uint64_t inc = rd_xor(&rd, inc_base(i == 0, last, min, plast));
        if (rd.bad)
            goto bad;
        b[i].t = idx * res;
        b[i].last = tsdb_bitsd(last);
        b[i].min = tsdb_bitsd(min);
        b[i].max = tsdb_bitsd(max);
        b[i].sum = tsdb_bitsd(sum);
        b[i].inc = tsdb_bitsd(inc);
        b[i].count = (uint32_t)count;
        plast = last;
        psum = sum;
        pcount = count;
    }
    if (rd.p != rd.end)
        goto bad;
    *out = b;
    *n = r->nb[ri];
    return 0;
bad:
    free(b);
    return -1;
}

/* ---- loading ---- */

static int cmp_bgid(const void *a, const void *b)
{
    const struct bgid *x = a, *y = b;
    if (x->gid != y->gid)
        return x->gid < y->gid ? -1 : 1;
    return x->local < y->local ? -1 : x->local > y->local;
}

int tsdb_block_load(struct tsdb *db, const char *path, uint32_t *gids, struct tsdb_block **out,
                    char *err, size_t errlen)
{
    struct tsdb_block *b = calloc(1, sizeof(*b));
    uint32_t *symoff = NULL;
    struct bseries *bs = NULL;
    struct tbuf key = {0};
    char perr[200];
    int fd = -1;

    *out = NULL;
    if (!b || !(b->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    b->size = (size_t)st.st_size;
    if (b->size < BLOCK_HDR + BLOCK_FTR) {
        snprintf(err, errlen, "%s: too short for a block", path);
        goto fail;
    }
    void *m = mmap(NULL, b->size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
        goto fail;
    }
    b->map = m;
    close(fd);
    fd = -1;
    if (block_parse(b->map, b->size, true, &b->info, gids ? NULL : &symoff, perr, sizeof(perr)) !=
        0) {
        snprintf(err, errlen, "%s: %s", path, perr);
        goto fail;
    }
    uint32_t n = b->info.nseries;
    if (gids) {
        b->gids = gids;
        gids = NULL;
    } else {
        b->gids = malloc((n ? n : 1) * sizeof(*b->gids));
        bs = malloc(sizeof(*bs));
        if (!b->gids || !bs) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        struct bcursor cur = {0};
        for (uint32_t i = 0; i < n; i++) {
            if (tsdb_block_series_at(b->map, &b->info, symoff, i, bs, &cur) != 0) {
                snprintf(err, errlen, "%s: series %u is damaged", path, i);
                goto fail;
            }
            struct mseries *s = NULL;
            if (tsdb_pack_labels(&key, bs->lv, bs->nlab) == 0) {
                uint64_t h = tsdb_labels_hash(db->hash_seed, (const char *)key.p, key.len);
                s = tsdb_reg_get_or_create(db, (const char *)key.p, key.len, bs->nlab, h);
            }
            if (!s) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            /* The newest sample a block holds still orders later appends
             * after a restart; its value is looked up only if a sample with
             * the same timestamp arrives. */
            if (s->last_t == TSDB_NO_TIME || bs->maxt > s->last_t) {
                s->last_t = bs->maxt;
                s->last_v_known = 0;
            }
            b->gids[i] = s->id;
        }
    }
    b->gmap = malloc((n ? n : 1) * sizeof(*b->gmap));
    if (!b->gmap) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++) {
        b->gmap[i].gid = b->gids[i];
        b->gmap[i].local = i;
    }
    qsort(b->gmap, n, sizeof(*b->gmap), cmp_bgid);
    b->refs = 1;
    free(symoff);
    free(bs);
    tbuf_free(&key);
    *out = b;
    return 0;
fail:
    tbuf_free(&key);
    free(gids);
    free(symoff);
    free(bs);
    if (fd >= 0)
        close(fd);
    if (b) {
        if (b->map)
            munmap((void *)b->map, b->size);
        free(b->gids);
        free(b->gmap);
        free(b->path);
        free(b);
    }
    return -1;
}

void tsdb_block_ref(struct tsdb_block *b)
{
    __atomic_fetch_add(&b->refs, 1, __ATOMIC_RELAXED);
}

void tsdb_block_unref(struct tsdb_block *b)
{
    if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    munmap((void *)b->map, b->size);
    free(b->gids);
    free(b->gmap);
    free(b->path);
    free(b);
}

int64_t tsdb_block_find(const struct tsdb_block *b, uint32_t gid, size_t *cursor)
{
    size_t n = b->info.nseries, lo = *cursor, step = 1, hi = lo;
    while (hi < n && b->gmap[hi].gid < gid) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    if (hi > n)
        hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->gmap[mid].gid < gid)
            lo = mid + 1;
        else
            hi = mid;
    }
    *cursor = lo;
    return lo < n && b->gmap[lo].gid == gid ? (int64_t)b->gmap[lo].local : -1;
}

/* ---- writing ---- */

/*
 * The writer keeps each series entry in a fixed-width form (pre) until the
 * end, when it numbers symbols and name sets by how often they are used (the
 * most used get one-byte varints) and writes the final entries, each coded
 * against the one before. A pre-entry: u32 name set, u32 value symbol per
 * label, u32 bytes of chunks, u32 rollup length, u64 rollup offset, u32
 * chunks, then per chunk PRE_CHUNK bytes: u32 samples, u32 length, u32 CRC,
 * u32 irregular, u64 step, u64 distance from the previous chunk (dmint), u64
 * duration.
 */
#define PRE_CHUNK 40
struct tsdb_bwriter {
    char *dir, *tmp;
    FILE *f;
    int64_t mint, maxt;
    uint64_t seq, nsamples, chunk_bytes;
    struct tbuf rollups, pre, parents;
    struct strmap symmap; /* text -> index + 1 */
    char **syms;
    uint32_t *symcnt; /* uses of each symbol */
    uint32_t nsyms, capsyms;
    struct strmap nsmap; /* name set key -> index + 1 */
    char **nskeys;       /* owned keys: name symbols as decimal text, ',' separated */
    uint32_t *nscnt;
    uint32_t nns, capns;
    uint32_t *gids;
    uint32_t nseries, capgids;
    struct tbuf enc; /* scratch for one rollup resolution */
};

int tsdb_bw_open(struct tsdb_bwriter **out, const char *blocks_dir, int64_t mint, int64_t maxt,
                 uint64_t seq, const uint64_t *parents, size_t nparents, char *err, size_t errlen)
{
    struct tsdb_bwriter *w = calloc(1, sizeof(*w));
    uint8_t hdr[BLOCK_HDR] = "TOCSBLK1";

    *out = NULL;
    if (!w)
        goto oom;
    w->mint = mint;
    w->maxt = maxt;
    w->seq = seq;
    w->dir = strdup(blocks_dir);
    size_t tl = strlen(blocks_dir) + 40;
    w->tmp = malloc(tl);
    if (!w->dir || !w->tmp || tbuf_reserve(&w->parents, nparents * 10 + 1) != 0)
        goto oom;
    for (size_t i = 0; i < nparents; i++)
        tbuf_uvarint(&w->parents, parents[i]);
    snprintf(w->tmp, tl, "%s/%" PRIu64 ".tmp", blocks_dir, seq);
    w->f = fopen(w->tmp, "wbe");
    if (!w->f) {
        snprintf(err, errlen, "cannot create %s: %s", w->tmp, strerror(errno));
        tsdb_bw_abort(w);
        return -1;
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    tsdb_put_u32(hdr + 8, BLOCK_VERSION);
    fwrite(hdr, 1, sizeof(hdr), w->f);
    *out = w;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    tsdb_bw_abort(w);
    return -1;
}

/* s is NUL-terminated (series keep their labels that way). */
static int64_t bw_symbol(struct tsdb_bwriter *w, const char *s)
{
    void *v = strmap_get(&w->symmap, s);
    if (v) {
        w->symcnt[(uintptr_t)v - 1]++;
        return (int64_t)((uintptr_t)v - 1);
    }
    if (w->nsyms == w->capsyms) {
        uint32_t nc = w->capsyms ? w->capsyms * 2 : 256;
        char **ns = realloc(w->syms, nc * sizeof(*ns));
        if (!ns)
            return -1;
        w->syms = ns;
        uint32_t *nn = realloc(w->symcnt, nc * sizeof(*nn));
        if (!nn)
            return -1;
        w->symcnt = nn;
        w->capsyms = nc;
    }
    char *copy = strdup(s);
    if (!copy || strmap_put(&w->symmap, copy, (void *)(uintptr_t)(w->nsyms + 1)) != 0) {
        free(copy);
        return -1;
    }
    w->syms[w->nsyms] = copy;
    w->symcnt[w->nsyms] = 1;
    return w->nsyms++;
}

/* The name set of these name symbols (made if new), counted; -1 when out of memory. */
static int64_t bw_nameset(struct tsdb_bwriter *w, const uint32_t *names, uint32_t n)
{
    char key[LABELS_MAX_PAIRS * 11 + 1];
    size_t o = 0;
    for (uint32_t i = 0; i < n; i++)
        o += (size_t)snprintf(key + o, sizeof(key) - o, "%s%u", i ? "," : "", names[i]);
    void *v = strmap_get(&w->nsmap, key);
    if (v) {
        w->nscnt[(uintptr_t)v - 1]++;
        return (int64_t)((uintptr_t)v - 1);
    }
    if (w->nns == w->capns) {
        uint32_t nc = w->capns ? w->capns * 2 : 16;
        char **nk = realloc(w->nskeys, nc * sizeof(*nk));
        if (!nk)
            return -1;
        w->nskeys = nk;
        uint32_t *nn = realloc(w->nscnt, nc * sizeof(*nn));
        if (!nn)
            return -1;
        w->nscnt = nn;
        w->capns = nc;
    }
    char *copy = strdup(key);
    if (!copy || strmap_put(&w->nsmap, copy, (void *)(uintptr_t)(w->nns + 1)) != 0) {
        free(copy);
        return -1;
    }
    w->nskeys[w->nns] = copy;
    w->nscnt[w->nns] = 1;
    return w->nns++;
}

/* Encodes the buckets of one resolution into w->enc. */
static int bw_buckets(struct tsdb_bwriter *w, const struct rollup_acc *a, int ri)
{
    int64_t res = tsdb_rollup_res[ri], prev = tsdb_floor_div(w->mint, res) - 1;
    uint64_t plast = 0, psum = 0;
    int64_t pcount = 0;
    w->enc.len = 0;
    if (tbuf_reserve(&w->enc, a->n * (20 + 5 * 9)) != 0)
        return -1;
    for (size_t i = 0; i < a->n; i++) {
        const struct tsdb_bucket *b = &a->b[i];
        int64_t idx = tsdb_floor_div(b->t, res);
        tbuf_uvarint(&w->enc, (uint64_t)(idx - prev - 1));
        tbuf_uvarint(&w->enc, tsdb_zigzag((int64_t)b->count - pcount));
        uint64_t last = tsdb_dbits(b->last), sum = tsdb_dbits(b->sum), min = tsdb_dbits(b->min);
        tbuf_xor(&w->enc, last, plast);
        tbuf_xor(&w->enc, min, last);
        tbuf_xor(&w->enc, tsdb_dbits(b->max), last);
        tbuf_xor(&w->enc, sum, psum);
        tbuf_xor(&w->enc, tsdb_dbits(b->inc), inc_base(i == 0, last, min, plast));
        plast = last;
        psum = sum;
        pcount = b->count;
        prev = idx;
    }
    return 0;
}

/* Builds the series' rollup record at the end of w->rollups; *len 0: none. */
static int bw_rollups(struct tsdb_bwriter *w, const int64_t *t, const double *v, size_t n,
                      size_t *len)
{
    struct rollup_acc acc[TSDB_NRES];
    size_t real = 0, start = w->rollups.len;
    uint8_t flags = 0;
    int rc = -1;

    *len = 0;
    for (int ri = 0; ri < TSDB_NRES; ri++)
        rollup_acc_init(&acc[ri], tsdb_rollup_res[ri], INT64_MIN, INT64_MAX);
    for (size_t i = 0; i < n; i++) {
        real += v[i] == v[i];
        for (int ri = 0; ri < TSDB_NRES; ri++)
            rollup_acc_add(&acc[ri], t[i], v[i]);
    }
    for (int ri = 0; ri < TSDB_NRES; ri++) {
        if (acc[ri].oom)
            goto out;
        int64_t buckets = (w->maxt - w->mint + 1) / tsdb_rollup_res[ri];
        if (acc[ri].n > 0 && buckets >= TSDB_ROLLUP_MIN_BUCKETS &&
            real >= (size_t)TSDB_ROLLUP_MIN_PER_BUCKET * acc[ri].n)
            flags |= (uint8_t)(1u << ri);
    }
    rc = 0;
    if (!flags)
        goto out;
    rc = -1;
    if (tbuf_reserve(&w->rollups, 10) != 0)
        goto out;
    w->rollups.p[w->rollups.len++] = flags;
    /* The first value, for the increase across the previous block's end. */
    for (size_t i = 0; i < n; i++) {
        if (v[i] == v[i]) {
            tbuf_xor(&w->rollups, tsdb_dbits(v[i]), 0);
            break;
        }
    }
    for (int ri = 0; ri < TSDB_NRES; ri++) {
        if (!(flags & (1u << ri)))
            continue;
        if (bw_buckets(w, &acc[ri], ri) != 0 || tbuf_reserve(&w->rollups, w->enc.len + 20) != 0)
            goto out;
        tbuf_uvarint(&w->rollups, acc[ri].n);
        tbuf_uvarint(&w->rollups, w->enc.len);
        tbuf_bytes(&w->rollups, w->enc.p, w->enc.len);
    }
    *len = w->rollups.len - start;
    rc = 0;
out:
    for (int ri = 0; ri < TSDB_NRES; ri++)
        rollup_acc_free(&acc[ri]);
    return rc;
}

int tsdb_bw_add(struct tsdb_bwriter *w, uint32_t gid, const struct mseries *s, const int64_t *t,
                const double *v, size_t n, char *err, size_t errlen)
{
    struct lview lv[LABELS_MAX_PAIRS];
    uint32_t names[LABELS_MAX_PAIRS];
    size_t nchunks, roll_len = 0, roll_off = w->rollups.len;

    if (n == 0)
        return 0;
    if (t[0] < w->mint || t[n - 1] > w->maxt) {
        snprintf(err, errlen, "samples outside the block's range");
        return -1;
    }
    tsdb_series_views(s, lv);
    if (bw_rollups(w, t, v, n, &roll_len) != 0)
        goto oom;
    if (w->nseries == w->capgids) {
        uint32_t nc = w->capgids ? w->capgids * 2 : 1024;
        uint32_t *ng = realloc(w->gids, nc * sizeof(*ng));
        if (!ng)
            goto oom;
        w->gids = ng;
        w->capgids = nc;
    }
    /* Even chunks: 5000 samples become two of 2500, not 4096 and 904. */
    nchunks = (n + TSDB_BLOCK_CHUNK_SAMPLES - 1) / TSDB_BLOCK_CHUNK_SAMPLES;
    if (tbuf_reserve(&w->pre, 32 + (size_t)s->nlab * 4 + nchunks * PRE_CHUNK) != 0)
        goto oom;
    /* The pre-entry (see struct pre_chunk and bw_tables). */
    size_t entry_start = w->pre.len;
    for (uint32_t i = 0; i < s->nlab; i++) {
        int64_t ns = bw_symbol(w, lv[i].name);
        int64_t vs = ns < 0 ? -1 : bw_symbol(w, lv[i].value);
        if (vs < 0)
            goto oom_entry;
        names[i] = (uint32_t)ns;
        tsdb_put_u32(w->pre.p + w->pre.len + 4 + 4 * i, (uint32_t)vs);
    }
    int64_t nsid = bw_nameset(w, names, s->nlab);
    if (nsid < 0)
        goto oom_entry;
    tsdb_put_u32(w->pre.p + w->pre.len, (uint32_t)nsid);
    uint8_t *hd = w->pre.p + w->pre.len + 4 + 4 * (size_t)s->nlab;
    tsdb_put_u32(hd + 4, (uint32_t)roll_len);
    tsdb_put_u64(hd + 8, roll_off);
    tsdb_put_u32(hd + 16, (uint32_t)nchunks);
    w->pre.len += 4 + 4 * (size_t)s->nlab + 20;
    int64_t prev_maxt = w->mint - 1;
    uint64_t chbytes = 0;
    for (size_t c = 0, i = 0; c < nchunks; c++) {
        size_t take = (n - i) / (nchunks - c);
        uint8_t *buf;
        size_t len;
        uint64_t step;
        bool regular = chunk_times_regular(t + i, (uint32_t)take, &step);
        if (chunk_encode_meta(t + i, v + i, (uint32_t)take, &buf, &len) != 0)
            goto oom_entry;
        /* Every chunk here is a meta chunk: its first byte says nothing. */
        len--;
        fwrite(buf + 1, 1, len, w->f);
        uint8_t *pc = w->pre.p + w->pre.len;
        tsdb_put_u32(pc, (uint32_t)take);
        tsdb_put_u32(pc + 4, (uint32_t)len);
        tsdb_put_u32(pc + 8, tsdb_crc32c(0, buf + 1, len));
        tsdb_put_u32(pc + 12, regular ? 0 : 1);
        tsdb_put_u64(pc + 16, regular ? step : 0);
        tsdb_put_u64(pc + 24, (uint64_t)(t[i] - prev_maxt - 1));
        tsdb_put_u64(pc + 32, (uint64_t)(t[i + take - 1] - t[i]));
        w->pre.len += PRE_CHUNK;
        free(buf);
        w->chunk_bytes += len;
        chbytes += len;
        prev_maxt = t[i + take - 1];
        i += take;
    }
    if (chbytes > UINT32_MAX) {
        snprintf(err, errlen, "a series' chunks are too large for one block");
        w->pre.len = entry_start;
        return -1;
    }
    tsdb_put_u32(hd, (uint32_t)chbytes);
    w->gids[w->nseries++] = gid;
    w->nsamples += n;
    return 0;
oom_entry:
    w->pre.len = entry_start;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

uint32_t tsdb_bw_count(const struct tsdb_bwriter *w)
{
    return w->nseries;
}

struct byuse {
    uint32_t cnt, idx;
};

/* Most used first, then in order of first use. */
static int cmp_byuse(const void *a, const void *b)
{
    const struct byuse *x = a, *y = b;
    if (x->cnt != y->cnt)
        return x->cnt > y->cnt ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Numbers by use: *order (the old numbers, most used first) and *renum (old -> new). */
static int by_use(const uint32_t *cnt, uint32_t n, uint32_t **order, uint32_t **renum)
{
    struct byuse *b = malloc((n ? n : 1) * sizeof(*b));
    *order = malloc((n ? n : 1) * sizeof(**order));
    *renum = malloc((n ? n : 1) * sizeof(**renum));
    if (!b || !*order || !*renum) {
        free(b);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++)
        b[i] = (struct byuse){cnt[i], i};
    qsort(b, n, sizeof(*b), cmp_byuse);
    for (uint32_t i = 0; i < n; i++) {
        (*order)[i] = b[i].idx;
        (*renum)[b[i].idx] = i;
    }
    free(b);
    return 0;
}

/*
 * The symbols section (symbols, then name sets) and the series entries with
 * their checkpoints, numbered by use.
 */
static int bw_tables(struct tsdb_bwriter *w, struct tbuf *sym, struct tbuf *series,
                     struct tbuf *cps)
{
    uint32_t *sord = NULL, *snew = NULL, *nord = NULL, *nnew = NULL;
    int rc = -1;
    if (by_use(w->symcnt, w->nsyms, &sord, &snew) != 0 ||
        by_use(w->nscnt, w->nns, &nord, &nnew) != 0)
        goto out;
    for (uint32_t i = 0; i < w->nsyms; i++) {
        const char *t = w->syms[sord[i]];
        size_t l = strlen(t);
        if (tbuf_reserve(sym, l + 12) != 0)
            goto out;
        tbuf_uvarint(sym, l);
        tbuf_bytes(sym, t, l + 1);
    }
    uint32_t *nlab = malloc((w->nns ? w->nns : 1) * sizeof(*nlab));
    if (!nlab)
        goto out;
    for (uint32_t i = 0; i < w->nns; i++) {
        const char *k = w->nskeys[nord[i]];
        uint32_t nl = 1;
        for (const char *c = k; *c; c++)
            nl += *c == ',';
        nlab[nord[i]] = nl;
        if (tbuf_reserve(sym, 10 + (size_t)nl * 10) != 0) {
            free(nlab);
            goto out;
        }
        tbuf_uvarint(sym, nl);
        for (char *e; *k; k = *e ? e + 1 : e)
            tbuf_uvarint(sym, snew[strtoul(k, &e, 10)]);
    }
    /* The entries, from the pre-entries. */
    const uint8_t *p = w->pre.p;
    uint64_t choff = 0;
    struct bprev pv = {0};
    for (uint32_t i = 0; i < w->nseries; i++) {
        uint32_t ns = tsdb_get_u32(p), nl = nlab[ns], vals[LABELS_MAX_PAIRS];
        const uint8_t *hd = p + 4 + 4 * (size_t)nl, *pc = hd + 20;
        uint32_t chlen = tsdb_get_u32(hd), roll_len = tsdb_get_u32(hd + 4);
        uint64_t roll_off = tsdb_get_u64(hd + 8);
        uint32_t nch = tsdb_get_u32(hd + 16);
        if (tbuf_reserve(series, 40 + (size_t)nl * 10 + (size_t)nch * 50) != 0 ||
            tbuf_reserve(cps, 12) != 0) {
            free(nlab);
            goto out;
        }
        for (uint32_t j = 0; j < nl; j++)
            vals[j] = snew[tsdb_get_u32(p + 4 + 4 * j)];
        uint32_t n0 = tsdb_get_u32(pc);
        uint64_t step0 = tsdb_get_u64(pc + 16), dmint0 = tsdb_get_u64(pc + 24);
        bool regular0 = tsdb_get_u32(pc + 12) == 0;
        bool abs = i % TSDB_BLOCK_CP == 0;
        bool same =
            !abs && nch == 1 && regular0 && pv.shape && n0 == pv.n && (n0 <= 1 || step0 == pv.step);
        if (abs) {
            if (series->len > UINT32_MAX) {
                free(nlab);
                goto out;
            }
            tsdb_put_u32(cps->p + cps->len, (uint32_t)series->len);
            tsdb_put_u64(cps->p + cps->len + 4, choff);
            cps->len += 12;
            tbuf_uvarint(series, nnew[ns]);
            for (uint32_t j = 0; j < nl; j++)
                tbuf_uvarint(series, vals[j]);
            tbuf_uvarint(series, (uint64_t)nch << 1 | (roll_len ? 1 : 0));
        } else {
            uint64_t mask = (nnew[ns] != pv.ns ? 1 : 0) | (roll_len ? 2 : 0) | (same ? 0 : 4) |
                            (same && dmint0 != pv.dmint ? 8 : 0);
            for (uint32_t j = 0; j < nl && j < 60; j++)
                if (vals[j] != (j < pv.nlab ? pv.vals[j] : 0))
                    mask |= UINT64_C(1) << (4 + j);
            tbuf_uvarint(series, mask);
            if (mask & 1)
                tbuf_uvarint(series, nnew[ns]);
            for (uint32_t j = 0; j < nl; j++) {
                uint32_t pvs = j < pv.nlab ? pv.vals[j] : 0;
                if (j >= 60 || (mask >> (4 + j) & 1))
                    tbuf_uvarint(series, tsdb_zigzag((int64_t)vals[j] - (int64_t)pvs));
            }
        }
        if (roll_len) {
            tbuf_uvarint(series, roll_len);
            tbuf_uvarint(series, roll_off);
        }
        if (!abs && !same)
            tbuf_uvarint(series, nch);
        for (uint32_t c = 0; c < nch; c++, pc += PRE_CHUNK) {
            uint32_t cn = tsdb_get_u32(pc), clen = tsdb_get_u32(pc + 4), crc = tsdb_get_u32(pc + 8);
            bool irr = tsdb_get_u32(pc + 12) != 0;
            uint64_t step = tsdb_get_u64(pc + 16), dmint = tsdb_get_u64(pc + 24);
            uint64_t dur = tsdb_get_u64(pc + 32);
            if (same) {
                if (dmint != pv.dmint)
                    tbuf_uvarint(series, dmint);
            } else {
                tbuf_uvarint(series, (uint64_t)cn << 2 | (irr ? 2 : 0) | (dmint ? 1 : 0));
                if (dmint)
                    tbuf_uvarint(series, dmint);
                if (cn > 1)
                    tbuf_uvarint(series, irr ? dur : step);
            }
            tbuf_uvarint(series, clen);
            tsdb_put_u32(series->p + series->len, crc);
            series->len += 4;
        }
        pv.ns = nnew[ns];
        pv.nlab = nl;
        memcpy(pv.vals, vals, nl * sizeof(*vals));
        pv.shape = nch == 1 && (n0 == 1 || regular0);
        pv.n = n0;
        pv.step = regular0 ? step0 : 0;
        pv.dmint = dmint0;
        choff += chlen;
        p = hd + 20 + (size_t)nch * PRE_CHUNK;
    }
    free(nlab);
    rc = 0;
out:
    free(sord);
    free(snew);
    free(nord);
    free(nnew);
    return rc;
}

int tsdb_bw_finish(struct tsdb_bwriter *w, char **path_out, uint32_t **gids_out, char *err,
                   size_t errlen)
{
    struct tbuf sym = {0}, series = {0}, cps = {0};
    uint8_t ftr[BLOCK_FTR];
    char *path = NULL;
    const struct tbuf *sec[BSEC_N] = {NULL, &w->rollups, &sym, &series, &cps, &w->parents};

    *path_out = NULL;
    *gids_out = NULL;
    if (bw_tables(w, &sym, &series, &cps) != 0) {
        snprintf(err, errlen, "out of memory (or a block over 4 GB of series entries)");
        goto fail;
    }
    memset(ftr, 0, sizeof(ftr));
    tsdb_put_u64(ftr, (uint64_t)w->mint);
    tsdb_put_u64(ftr + 8, (uint64_t)w->maxt);
    tsdb_put_u64(ftr + 16, w->seq);
    tsdb_put_u64(ftr + 24, w->nsamples);
    tsdb_put_u32(ftr + 32, w->nseries);
    tsdb_put_u32(ftr + 36, w->nsyms);
    tsdb_put_u32(ftr + 44, w->nns);
    uint64_t off = BLOCK_HDR;
    for (int i = 0; i < BSEC_N; i++) {
        uint64_t len = i == BSEC_CHUNKS ? w->chunk_bytes : sec[i]->len;
        tsdb_put_u64(ftr + 48 + 16 * i, off);
        tsdb_put_u64(ftr + 56 + 16 * i, len);
        if (i != BSEC_CHUNKS) {
            tsdb_put_u32(ftr + 144 + 4 * i, tsdb_crc32c(0, sec[i]->p, sec[i]->len));
            if (sec[i]->len)
                fwrite(sec[i]->p, 1, sec[i]->len, w->f);
        }
        off += len;
    }
    /* The parents count: one varint each, so count the terminating bytes. */
    uint32_t np = 0;
    for (size_t i = 0; i < w->parents.len; i++)
        np += !(w->parents.p[i] & 0x80);
    tsdb_put_u32(ftr + 40, np);
    tsdb_put_u32(ftr + BLOCK_FTR - 12, tsdb_crc32c(0, ftr, BLOCK_FTR - 12));
    memcpy(ftr + BLOCK_FTR - 8, "TOCSBLKF", 8);
    fwrite(ftr, 1, sizeof(ftr), w->f);
    if (fflush(w->f) != 0 || ferror(w->f) || fsync(fileno(w->f)) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", w->tmp, strerror(errno));
        goto fail;
    }
    size_t pl = strlen(w->dir) + 80;
    path = malloc(pl);
    if (!path) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    snprintf(path, pl, "%s/%" PRId64 "-%" PRId64 "-%" PRIu64 ".blk", w->dir, w->mint, w->maxt,
             w->seq);
    if (fclose(w->f) != 0) {
        w->f = NULL;
        snprintf(err, errlen, "cannot write %s: %s", w->tmp, strerror(errno));
        goto fail;
    }
    w->f = NULL;
    if (rename(w->tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s: %s", w->tmp, strerror(errno));
        goto fail;
    }
    free(w->tmp);
    w->tmp = NULL;
    if (tsdb_fsync_dir(w->dir) != 0)
        log_warn("tsdb: cannot sync %s: %s", w->dir, strerror(errno));
    *path_out = path;
    *gids_out = w->gids;
    w->gids = NULL;
    tbuf_free(&sym);
    tbuf_free(&series);
    tbuf_free(&cps);
    tsdb_bw_abort(w);
    return 0;
fail:
    free(path);
    tbuf_free(&sym);
    tbuf_free(&series);
    tbuf_free(&cps);
    tsdb_bw_abort(w);
    return -1;
}

void tsdb_bw_abort(struct tsdb_bwriter *w)
{
    if (!w)
        return;
    if (w->f) {
        fclose(w->f);
        unlink(w->tmp);
    } else if (w->tmp) {
        unlink(w->tmp); /* after a failed write or rename */
    }
    for (uint32_t i = 0; i < w->nsyms; i++)
        free(w->syms[i]);
    free(w->syms);
    free(w->symcnt);
    strmap_free(&w->symmap);
    for (uint32_t i = 0; i < w->nns; i++)
        free(w->nskeys[i]);
    free(w->nskeys);
    free(w->nscnt);
    strmap_free(&w->nsmap);
    tbuf_free(&w->rollups);
    tbuf_free(&w->pre);
    tbuf_free(&w->parents);
    tbuf_free(&w->enc);
    free(w->gids);
    free(w->dir);
    free(w->tmp);
    free(w);
}
