/*
 * fuzz_promql.c - libFuzzer target for the PromQL engine: the bytes are a
 * query, as the query API receives one. Besides memory errors and leaks it
 * checks what callers rely on: a refusal says why; an accepted query prints
 * as canonical text that parses again to the same text; and evaluating it
 * on a small fixed storage, at one instant and over a short range with a
 * low sample limit, ends in a result or a status with a message.
 */
#include "../unit/test_promql_fake.h"
#include "metrics/promql.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fake store;

static void setup(void)
{
    if (store.n)
        return;
    fake_add(&store, "up{job=\"api\",instance=\"a:1\"}", "1 1 0 1 stale 1", 0, 60000);
    fake_add(&store, "up{job=\"db\",instance=\"b:2\"}", "1 _ 1 1 1 1", 0, 60000);
    fake_add(&store, "req_total{job=\"api\",code=\"200\"}", "0+10x10 3 5", 0, 60000);
    fake_add(&store, "req_total{job=\"api\",code=\"500\"}", "1 NaN Inf -Inf 2 1e300", 0, 60000);
    fake_add(&store, "lat_bucket{le=\"0.1\"}", "0+1x12", 0, 60000);
    fake_add(&store, "lat_bucket{le=\"1\"}", "0+3x12", 0, 60000);
    fake_add(&store, "lat_bucket{le=\"+Inf\"}", "0+4x12", 0, 60000);
    fake_add(&store, "a:b:c", "-1 0 1 2", 30000, 60000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    struct promql_expr *e = NULL, *again = NULL;
    char *q = malloc(size + 1);
    if (!q)
        return 0;
    memcpy(q, data, size);
    q[size] = '\0';
    setup();

    int rc = promql_parse(q, &e, err, sizeof(err));
    free(q);
    if (rc != PROMQL_OK) {
        if (e || err[0] == '\0' ||
            (rc != PROMQL_EPARSE && rc != PROMQL_EUNSUPPORTED && rc != PROMQL_ENOMEM))
            abort();
        return 0;
    }
    char *text = promql_format(e);
    if (!text)
        abort();
    if (promql_parse(text, &again, err, sizeof(err)) != PROMQL_OK)
        abort();
    char *text2 = promql_format(again);
    if (!text2 || strcmp(text, text2) != 0)
        abort();
    free(text);
    free(text2);
    promql_free(again);

    struct promql_storage st = fake_storage(&store, true);
    struct promql_opts o = {.max_samples = 2000};
    struct promql_result r;
    err[0] = '\0';
    rc = promql_eval_instant(&st, e, 390000, &o, &r, err, sizeof(err));
    if (rc == PROMQL_OK) {
        json_t *j = promql_result_to_json(&r);
        json_decref(j);
        promql_result_free(&r);
    } else if (rc > 0 || err[0] == '\0')
        abort();
    /* A range crossing rollup buckets: the 5 min step lets rollups answer. */
    err[0] = '\0';
    rc = promql_eval_range(&st, e, 0, 900000, 300000, &o, &r, err, sizeof(err));
    if (rc == PROMQL_OK)
        promql_result_free(&r);
    else if (rc > 0 || err[0] == '\0')
        abort();
    err[0] = '\0';
    rc = promql_eval_range(&st, e, 15000, 735000, 45000, &o, &r, err, sizeof(err));
    if (rc == PROMQL_OK) {
        for (size_t i = 1; i < r.n; i++)
            if (fake_ls_cmp(&r.series[i - 1].ls, &r.series[i].ls) > 0)
                abort();
        promql_result_free(&r);
    } else if (rc > 0 || err[0] == '\0')
        abort();
    promql_free(e);
    return 0;
}
