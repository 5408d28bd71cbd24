/*
 * config_checks_int.h - what the files that build hosts, checks and
 * heartbeats share (config_checks.c, config_hosts.c, config_heartbeats.c):
 * the build state and the field readers. See config_checks.c for how the
 * build runs.
 */
#ifndef TOCSIN_CONFIG_CHECKS_INT_H
#define TOCSIN_CONFIG_CHECKS_INT_H

#include "config.h"
#include "config_int.h"
#include "../base/strmap.h"

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>

/* Templates using templates deeper than this are surely a mistake, and the
 * bound keeps the resolver's recursion shallow on hostile input. */
#define CK_MAX_USE_DEPTH 32
#define CK_MAX_ARGS      9
#define CK_MIN_KEY       16
#define CK_MAX_KEY       128
#define CK_DIGEST_BYTES  16

/* The private look-up tables of struct config. */
struct cfg_checks_index {
    struct strmap hosts;      /* host name -> struct cfg_host * */
    struct strmap checks;     /* check id -> struct cfg_check * */
    struct strmap heartbeats; /* hex keyed digest of the key -> struct cfg_heartbeat * */
    char (*digests)[2 * CK_DIGEST_BYTES + 1];              /* owned; the keys of `heartbeats` */
    unsigned char digest_key[crypto_generichash_KEYBYTES]; /* random per config */
};

/* One object that contributes check fields: a template, a check, an override. */
struct ck_layer {
    struct cfg_ctx *ctx; /* borrowed; the file it is in */
    const json_t *obj;   /* borrowed */
    const char *path;    /* borrowed */
};

struct ck_tpl {
    const char *name; /* borrowed from the tree; NULL when invalid */
    const json_t *obj;
    char *path;              /* owned */
    int state;               /* 0 unresolved, 1 being resolved, 2 resolved */
    struct ck_layer *layers; /* owned; the used templates' layers, then its own */
    size_t n_layers;
};

/* A check as written, before expansion onto hosts. */
struct ck_def {
    const char *name; /* borrowed; NULL when invalid (then nothing is built) */
    char *path;       /* owned */
    struct ck_layer *layers;
    size_t n_layers;
    size_t *hosts; /* owned; host indexes of host: or hosts: */
    size_t n_hosts;
    bool is_apply;
    struct matcher *apply; /* owned */
    size_t n_apply;
};

/* Where a host came from, and what it says about checks. */
struct ck_hsrc {
    struct cfg_ctx *ctx; /* borrowed; the main file's or a host file's */
    const json_t *obj;   /* borrowed */
    char *path;          /* owned */
    const json_t *overrides;
    struct ck_layer *check_layers; /* owned; the host check when `check:` is a mapping */
    size_t n_check_layers;
    const char *check_cmd; /* borrowed; the host check when `check:` is a string */
    char *check_path;      /* owned; path of `check:` */
};

/* A check instance being assembled. */
struct ck_inst {
    struct cfg_check ck; /* command, url and address hold macros until finished */
    int type;            /* enum check_type, or -1 while no layer gave one */
    bool disable;
    const json_t *args;       /* borrowed; the last layer's args */
    const json_t *deps;       /* borrowed; the last layer's depends_on */
    struct cfg_ctx *deps_ctx; /* borrowed; the file deps came from */
    char *deps_path;          /* owned; the object holding depends_on */
    struct cfg_ctx *ctx;      /* borrowed; where the check is defined */
    char *path;               /* owned */
    size_t host;              /* index into cfg->hosts */
};

struct ck_build {
    struct cfg_ctx *c;           /* the main file's */
    struct config *cfg;          /* being built */
    struct cfg_checks_index *ix; /* cfg->checks_index */
    struct cfg_errors scratch;   /* repeated reads report here; thrown away */
    struct ck_file *files;
    size_t n_files;
    struct ck_tpl *tpls;
    size_t n_tpls;
    struct strmap tpl_names; /* name -> struct ck_tpl * */
    struct ck_tpl *use_stack[CK_MAX_USE_DEPTH];
    size_t use_depth;
    struct ck_hsrc *hsrc; /* one per cfg->hosts entry */
    struct ck_def *defs;
    size_t n_defs;
    struct ck_inst *insts;
    size_t n_insts, cap_insts;
    struct strmap ids; /* check id -> instance index + 1 */
};
/* Keys of every object that carries check fields. */
#define CK_FIELDS                                                                                  \
    "type", "command", "args", "address", "port", "send", "expect", "url", "method",               \
        "expect_status", "expect_body", "verify_tls", "cert_warn_days", "cert_crit_days",          \
        "warn_time", "crit_time", "interval", "retry_interval", "timeout", "max_attempts",         \
        "freshness", "stale_state", "stale_output", "flap_detection", "flap_low", "flap_high",     \
        "severity", "labels", "notes", "runbook", "depends_on", "disable"

/* ---- config_checks.c ---- */

/* "FILE:LINE:COL" of path in c, for messages that name another place. */
void ck_where(const struct cfg_ctx *c, const char *path, char *buf, size_t size);
/* Replaces *dst with a copy of s (ck_oom on failure). */
void ck_set_str(struct cfg_ctx *c, char **dst, const char *s);
/* A labels mapping at obj.key into *out: 1 read, 0 absent, -1 invalid. */
int ck_labels(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
              struct labelset *ls);
/* Reports the problems of a check-fields object on its own (first pass). */
void ck_fields_validate(struct cfg_ctx *c, const json_t *obj, const char *path);
/* Appends n_add layers (copied) to *layers. */
void ck_layers_add(struct cfg_ctx *c, struct ck_layer **layers, size_t *n,
                   const struct ck_layer *add, size_t n_add);
/* Appends the layers of the templates obj's `use` names, in order. */
void ck_use(struct ck_build *b, struct cfg_ctx *c, const json_t *obj, const char *path,
            struct ck_layer **layers, size_t *n);

/* ---- config_hosts.c ---- */

/* Reads every file of host_files into b->files; returns how many hosts they hold. */
size_t ck_host_files(struct ck_build *b, const json_t *root);
/* Builds cfg->hosts from `hosts` and the host files, then their parents. */
void ck_hosts(struct ck_build *b, const json_t *root, size_t n_file_hosts);

/* ---- config_heartbeats.c ---- */

/* Reads `heartbeats` and indexes them by a keyed digest of their keys. */
void ck_heartbeats(struct cfg_ctx *c, const json_t *root, struct cfg_checks_index *ix);

#endif
