/*
 * config_heartbeats.c - heartbeats (dead man's switches): name, secret key,
 * period, grace, runtime and value limits, and the index that finds a
 * heartbeat by its key without timing leaks.
 */
#include "config_checks_int.h"
#include "config_yaml.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Heartbeats ---- */

static void ck_heartbeat_item(struct cfg_ctx *c, const json_t *item, const char *path, size_t i,
                              json_t *seen, json_t *seen_secret)
{
    static const char *const keys[] = {"name",      "key",      "period", "grace", "max_runtime",
                                       "min_value", "severity", "labels", "notes", NULL};
    struct cfg_heartbeat *hb = &c->cfg->heartbeats[c->cfg->n_heartbeats++];
    const char *name, *s;
    int sev = SEV_CRITICAL;

    cfg_check_keys(c, item, path, keys);
    if (cfg_name(c, item, path, &name) == 0) {
        hb->name = cfg_strdup(c, name);
        cfg_unique(c, seen, path, "name", name, "heartbeat name", false);
    }
    hb->key = cfg_secret(c, item, path, "key");
    if (hb->key) {
        size_t n = strlen(hb->key);
        bool ok = n >= CK_MIN_KEY && n <= CK_MAX_KEY;
        for (const char *p = hb->key; *p && ok; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '_' || *p == '-';
        if (!ok) {
            /* The key goes into URLs: keep it to characters that need no escaping. */
            cfg_err_field(c, path, "key", false,
                          "key must be %d to %d characters of A-Z, a-z, 0-9, '_' and '-'",
                          CK_MIN_KEY, CK_MAX_KEY);
            sodium_memzero(hb->key, n);
            free(hb->key);
            hb->key = NULL;
        } else {
            cfg_unique(c, seen_secret, path, "key", hb->key, "heartbeat key", true);
        }
    }
    if (!cfg_field(item, "period"))
        cfg_err(c, path, true, "missing required field \"period\"");
    ck_positive_duration(c, item, path, "period", &hb->period_ms);
    hb->grace_ms = 5 * 60 * 1000;
    cfg_duration(c, item, path, "grace", &hb->grace_ms);
    cfg_duration(c, item, path, "max_runtime", &hb->max_runtime_ms);
    if (cfg_field(item, "min_value")) {
        const json_t *v = cfg_field(item, "min_value");
        if (!json_is_number(v))
            cfg_err_field(c, path, "min_value", false, "min_value must be a number");
        hb->has_min_value = json_is_number(v);
        hb->min_value = json_number_value(v);
    }
    cfg_enum(c, item, path, "severity", cfg_severity_names, 4, &sev);
    hb->severity = (enum severity)sev;
    ck_labels(c, item, path, "labels", &hb->labels);
    if (cfg_string(c, item, path, "notes", false, &s) > 0)
        hb->notes = cfg_strdup(c, s);
}

/* The heartbeat index is keyed by a digest of the key under a random key of
 * its own, so the time a look-up takes depends on nothing an attacker can
 * relate to a real key; the final comparison is constant-time. */
static void ck_heartbeat_digest(const struct cfg_checks_index *ix, const char *key,
                                char out[2 * CK_DIGEST_BYTES + 1])
{
    unsigned char d[CK_DIGEST_BYTES];
    crypto_generichash(d, sizeof(d), (const unsigned char *)key, strlen(key), ix->digest_key,
                       sizeof(ix->digest_key));
    sodium_bin2hex(out, 2 * CK_DIGEST_BYTES + 1, d, sizeof(d));
}

void ck_heartbeats(struct cfg_ctx *c, const json_t *root, struct cfg_checks_index *ix)
{
    struct config *cfg = c->cfg;
    if (!(cfg->heartbeats = cfg_alloc_list(c, root, "heartbeats", sizeof(*cfg->heartbeats))))
        return;
    cfg_items(c, root, "heartbeats", ck_heartbeat_item);
    ix->digests = calloc(cfg->n_heartbeats + 1, sizeof(*ix->digests));
    if (!ix->digests) {
        ck_oom(c);
        return;
    }
    for (size_t i = 0; i < cfg->n_heartbeats; i++) {
        if (!cfg->heartbeats[i].key)
            continue;
        ck_heartbeat_digest(ix, cfg->heartbeats[i].key, ix->digests[i]);
        if (strmap_put(&ix->heartbeats, ix->digests[i], &cfg->heartbeats[i]) < 0)
            ck_oom(c);
    }
}

const struct cfg_heartbeat *config_find_heartbeat_key(const struct config *cfg, const char *key)
{
    char digest[2 * CK_DIGEST_BYTES + 1];
    if (!cfg->checks_index)
        return NULL;
    ck_heartbeat_digest(cfg->checks_index, key, digest);
    const struct cfg_heartbeat *hb = strmap_get(&cfg->checks_index->heartbeats, digest);
    size_t len = strlen(key);
    if (!hb || strlen(hb->key) != len || sodium_memcmp(hb->key, key, len) != 0)
        return NULL;
    return hb;
}
