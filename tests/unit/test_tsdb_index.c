/*
 * test_tsdb_index.c - the postings index: sorted-set operations, and
 * selections over a million synthetic series checked against a brute-force
 * scan, with the time of each selection printed (the figure the design
 * asks for). Series are built directly (no head, no log) to keep the test
 * small enough for AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/clock.h"
#include "test_tsdb_util.h"

static void test_id_sets(void **state)
{
    (void)state;
    uint32_t a[] = {1, 3, 5, 7, 9, 11}, b[] = {3, 4, 5, 11, 12};
    uint32_t out[16];
    size_t n = ids_intersect(a, 6, b, 5, out);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 5);
    assert_int_equal(out[2], 11);
    n = ids_subtract(a, 6, b, 5, out);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 7);
    assert_int_equal(out[2], 9);
    /* Skewed sizes take the galloping path; the result must not change. */
    uint32_t *big = malloc(100000 * sizeof(*big));
    for (uint32_t i = 0; i < 100000; i++)
        big[i] = i * 2;
    uint32_t small[] = {0, 7, 500, 501, 199998, 199999};
    n = ids_intersect(small, 6, big, 100000, out);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 500);
    assert_int_equal(out[2], 199998);
    n = ids_intersect(big, 100000, small, 6, big);
    assert_int_equal(n, 3);
    assert_int_equal(big[2], 199998);
    /* Radix sort with duplicates. */
    for (uint32_t i = 0; i < 100000; i++)
        big[i] = (i * 2654435761u) % 50000;
    n = ids_sort_unique(big, 100000);
    assert_int_equal(n, 50000);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(big[i], i);
    free(big);
}

/* A series with the labels kv (n pairs), interned into ix. */
static struct mseries *fake(struct pindex *ix, uint32_t id, const char *const *kv, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < 2 * n; i++)
        len += strlen(kv[i]) + 1;
    char *packed = malloc(len), *q = packed;
    for (size_t i = 0; i < 2 * n; i++) {
        size_t l = strlen(kv[i]);
        memcpy(q, kv[i], l + 1);
        q += l + 1;
    }
    struct mseries *s = calloc(1, TSDB_MSERIES_SIZE(n));
    s->id = id;
    s->nlab = (uint16_t)n;
    s->lablen = (uint32_t)len;
    assert_int_equal(pindex_add(ix, s, packed), 0);
    free(packed);
    return s;
}

/* The packed labels of s, as a lookup key (caller frees). */
static char *packed_of(const struct mseries *s)
{
    struct lview lv[LABELS_MAX_PAIRS];
    struct tbuf b = {0};
    tsdb_series_views(s, lv);
    assert_int_equal(tsdb_pack_labels(&b, lv, s->nlab), 0);
    assert_int_equal(b.len, s->lablen);
    return (char *)b.p;
}

/* Series whose hashes collide are told apart by their labels, and removing
 * one (backward-shift deletion) keeps the others findable. */
static void test_series_map(void **state)
{
    (void)state;
    struct idtab ids = {0};
    struct smap m = {.ids = &ids};
    struct pindex ix = {0};
    struct mseries *s[40];
    char *key[40];
    char name[8];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        const char *kv[] = {"__name__", name};
        s[i] = fake(&ix, (uint32_t)i, kv, 1);
        key[i] = packed_of(s[i]);
        /* Four hashes only, all landing in neighbouring slots. */
        s[i]->hash = 1000 + (uint64_t)(i % 4);
        assert_int_equal(idtab_set(&ids, s[i]->id, s[i]), 0);
        assert_int_equal(smap_insert(&m, s[i]), 0);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 40; i++) {
            if (round == 1 && i % 3 == 0)
                continue;
            assert_ptr_equal(smap_find(&m, s[i]->hash, key[i], s[i]->lablen), s[i]);
            /* Same hash, other labels: not found by this key. */
            assert_ptr_not_equal(
                smap_find(&m, s[i]->hash, key[(i + 4) % 40], s[(i + 4) % 40]->lablen), s[i]);
        }
        if (round == 0)
            for (int i = 0; i < 40; i += 3)
                smap_remove(&m, s[i]);
    }
    assert_null(smap_find(&m, s[0]->hash, key[0], s[0]->lablen));
    assert_int_equal(m.len, 26);
    smap_free(&m);
    idtab_free(&ids);
    for (int i = 0; i < 40; i++) {
        free(key[i]);
        free(s[i]);
    }
    pindex_free(&ix);
}

#define NSER 1000000

struct world {
    struct pindex ix;
    struct mseries **s;
};

static const char *value_of(void *ctx, uint32_t id, const char *name)
{
    struct world *w = ctx;
    return tsdb_series_get(w->s[id], name);
}

static bool brute(const struct mseries *s, const struct matcher *m, size_t nm)
{
    for (size_t i = 0; i < nm; i++)
        if (!matcher_matches(&m[i], tsdb_series_get(s, m[i].name)))
            return false;
    return true;
}

static void check_select(struct world *w, const char *what, struct matcher *m, size_t nm,
                         size_t want)
{
    uint32_t *ids;
    size_t n;
    int64_t t0 = clock_mono_us();
    assert_int_equal(pindex_select_cb(&w->ix, m, nm, value_of, w, &ids, &n), 0);
    int64_t t1 = clock_mono_us();
    printf("# select %-44s %7zu series in %8.2f ms\n", what, n, (double)(t1 - t0) / 1000);
    size_t k = 0;
    for (uint32_t i = 0; i < NSER; i++) {
        if (!brute(w->s[i], m, nm))
            continue;
        if (k >= n || ids[k] != i)
            fail_msg("%s: series %u missing from the result", what, i);
        k++;
    }
    assert_int_equal(k, n);
    if (want != (size_t)-1)
        assert_int_equal(n, want);
    free(ids);
    for (size_t i = 0; i < nm; i++)
        matcher_free(&m[i]);
}

static void test_million(void **state)
{
    (void)state;
    struct world w = {0};
    char name[16], job[8], inst[32];
    struct matcher m[3];
    w.s = malloc(NSER * sizeof(*w.s));
    int64_t t0 = clock_mono_us();
    for (uint32_t i = 0; i < NSER; i++) {
        snprintf(name, sizeof(name), "m%u", i % 100);
        snprintf(job, sizeof(job), "j%u", i / 100000);
        snprintf(inst, sizeof(inst), "10.%u.%u.%u:9100", i / 100000, (i / 1000) % 100,
                 (i / 10) % 100);
        const char *kv[] = {"__name__", name, "env", i % 3 == 0 ? "prod" : "dev",
                            "instance", inst, "job", job};
        /* A third of the series have no env label. */
        if (i % 3 == 2) {
            const char *kv2[] = {"__name__", name, "instance", inst, "job", job};
            w.s[i] = fake(&w.ix, i, kv2, 3);
        } else {
            w.s[i] = fake(&w.ix, i, kv, 4);
        }
    }
    printf("# indexed %d series in %.0f ms, index %.1f MiB\n", NSER,
           (double)(clock_mono_us() - t0) / 1000, (double)w.ix.bytes / (1 << 20));

    mk(&m[0], "job", MATCH_EQ, "j3");
    mk(&m[1], "__name__", MATCH_EQ, "m7");
    check_select(&w, "{__name__=\"m7\", job=\"j3\"}", m, 2, 1000);

    mk(&m[0], "__name__", MATCH_EQ, "m7");
    mk(&m[1], "instance", MATCH_RE, "10\\.1\\.2.*");
    check_select(&w, "{__name__=\"m7\", instance=~\"10\\.1\\.2.*\"}", m, 2, 110);

    mk(&m[0], "job", MATCH_EQ, "j1");
    mk(&m[1], "env", MATCH_EQ, "");
    check_select(&w, "{job=\"j1\", env=\"\"}", m, 2, (size_t)-1);

    mk(&m[0], "__name__", MATCH_RE, "m1|m2");
    mk(&m[1], "env", MATCH_NEQ, "prod");
    check_select(&w, "{__name__=~\"m1|m2\", env!=\"prod\"}", m, 2, (size_t)-1);

    mk(&m[0], "instance", MATCH_RE, "10\\.[0-4]\\.5.*");
    mk(&m[1], "env", MATCH_NRE, "d.*");
    check_select(&w, "{instance=~\"10\\.[0-4]\\.5.*\", env!~\"d.*\"}", m, 2, (size_t)-1);

    mk(&m[0], "job", MATCH_NEQ, "j0");
    check_select(&w, "{job!=\"j0\"}", m, 1, 900000);

    mk(&m[0], "__name__", MATCH_EQ, "m42");
    mk(&m[1], "job", MATCH_RE, "j[2-4]");
    mk(&m[2], "env", MATCH_RE, "prod|");
    check_select(&w, "{__name__=\"m42\", job=~\"j[2-4]\", env=~\"prod|\"}", m, 3, (size_t)-1);

    pindex_free(&w.ix);
    for (uint32_t i = 0; i < NSER; i++)
        free(w.s[i]);
    free(w.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_sets),
        cmocka_unit_test(test_series_map),
        cmocka_unit_test(test_million),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
