/*
 * config_int.h - helpers shared by the parts of the configuration validator.
 *
 * config.c validates the alerting half of the file (tokens, integrations,
 * services, routes), config_checks.c the monitoring half (hosts, checks,
 * templates, heartbeats, downtimes, scheduler) and config_oncall.c the
 * on-call half (users, teams, schedules, escalation policies, channels). Both read the same JSON
 * tree with the same field readers, so that a bad duration or an unknown key is reported with the
 * same words wherever it appears. Nothing here is part of Tocsin's interface outside src/config.
 */
#ifndef TOCSIN_CONFIG_INT_H
#define TOCSIN_CONFIG_INT_H

#include "config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_MIN_SECRET 16
#define CFG_MAX_NAME   128

/*
 * What every reader needs: where messages go and how to name a position.
 * config_checks.c makes one per host file, with that file's name and
 * position table, so errors in hosts.csv point into hosts.csv.
 */
struct cfg_ctx {
    const char *file;                 /* borrowed; FILE in messages */
    const struct yaml_positions *pos; /* borrowed; NULL for API bodies */
    struct cfg_errors *errs;          /* borrowed */
    struct config *cfg;               /* the config being built */
};

/* Severity names in enum severity order; used by several sections. */
extern const char *const cfg_severity_names[];

/* Reports a problem with the node at path: at its mapping key when at_key
 * (unknown and missing fields), otherwise at its value. */
void cfg_err(struct cfg_ctx *c, const char *path, bool at_key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Same, for the field `key` of the object at objpath. */
void cfg_err_field(struct cfg_ctx *c, const char *objpath, const char *key, bool at_key,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "a mapping", "a list", ... for messages. */
const char *cfg_type_name(const json_t *v);

/* Reports every key of obj that is not in `allowed` (NULL-terminated). */
void cfg_check_keys(struct cfg_ctx *c, const json_t *obj, const char *path,
                    const char *const *allowed);

/* A field that is absent or null counts as not given. */
const json_t *cfg_field(const json_t *obj, const char *key);

/*
 * The field readers below share one convention: 1 when the field was read
 * (into *out), 0 when absent (reported only if required), -1 when invalid
 * (reported). Strings are borrowed from the tree.
 */
int cfg_string(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
               bool required, const char **out);
int cfg_enum(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
             const char *const *names, int n, int *out);
int cfg_integer(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                json_int_t min, json_int_t max, json_int_t *out);
int cfg_bool(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key, bool *out);
int cfg_duration(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                 int64_t *out);
int cfg_list(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
             const json_t **out);
int cfg_object(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
               const json_t **out);

/* The required field "name": 1..128 bytes without control characters.
 * Returns 0 with *out borrowed, or -1 after reporting. */
int cfg_name(struct cfg_ctx *c, const json_t *obj, const char *path, const char **out);

/* strdup that reports running out of memory. */
char *cfg_strdup(struct cfg_ctx *c, const char *s);

/* Reads a required secret, resolving "env:NAME"; a new string or NULL after
 * reporting. The secret itself never appears in a message. */
char *cfg_secret(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key);

/* Records value in `seen`; reports a duplicate at the field's position. */
void cfg_unique(struct cfg_ctx *c, json_t *seen, const char *path, const char *key,
                const char *value, const char *what, bool secret);

/* The list at `key` must hold mappings; cfg_items calls fn for each with its
 * path and returns the list's length. */
typedef void (*cfg_item_fn)(struct cfg_ctx *c, const json_t *item, const char *path, size_t i,
                            json_t *seen, json_t *seen_secret);
size_t cfg_items(struct cfg_ctx *c, const json_t *root, const char *key, cfg_item_fn fn);

/* Allocates room (zeroed) for every entry of the list at root.key. */
void *cfg_alloc_list(struct cfg_ctx *c, const json_t *root, const char *key, size_t size);

/*
 * config_checks.c: builds cfg->hosts, checks, heartbeats, downtimes and
 * scheduler from the top-level keys of root, reporting every problem; and
 * frees them with the private look-up indexes.
 */
void cfg_checks_build(struct cfg_ctx *c, const json_t *root);

/* ---- config_oncall.c: users, teams, schedules, policies, channels ---- */

/*
 * Builds cfg->channels, users, schedules, teams, policies and notify from
 * the top-level keys of root, reporting every problem. Runs before services
 * and routes are read, since their on-call fields name policies and
 * channels; needs cfg->listen (the default public_url).
 */
void cfg_oncall_build(struct cfg_ctx *c, const json_t *root);

/* The on-call fields of a service item: escalation_policy and support_hours. */
void cfg_oncall_service(struct cfg_ctx *c, const json_t *item, const char *path,
                        struct cfg_service *s);

/* The on-call fields of a route node: escalation_policy (inherited from
 * parent, which is NULL for the root) and notify (not inherited). */
void cfg_oncall_route(struct cfg_ctx *c, const json_t *obj, const char *path, struct route *r,
                      const struct route *parent);

/* cfg_oncall_service_free and cfg_oncall_route_free free the fields the two
 * functions above set, not the service or route itself; cfg_oncall_free
 * frees everything cfg_oncall_build built. */
void cfg_oncall_service_free(struct cfg_service *s);
void cfg_oncall_route_free(struct route *r);
void cfg_oncall_free(struct config *cfg);

/* ---- config_metrics.c: metrics and scrape ---- */

/* Builds cfg->metrics (every default when absent) and cfg->scrape_jobs
 * from the top-level keys of root, reporting every problem. */
void cfg_metrics_build(struct cfg_ctx *c, const json_t *root);
/* Frees what cfg_metrics_build built. */
void cfg_metrics_free(struct config *cfg);

/* ---- config_rules.c: rules, rule_files and rule_settings ---- */

/* Builds cfg->rules (rules: then every rule file), rule_files and
 * rule_settings, reporting every problem (errors in a rule file name that
 * file). Runs after cfg_metrics_build. */
void cfg_rules_build(struct cfg_ctx *c, const json_t *root);
/* Frees what cfg_rules_build built. */
void cfg_rules_free(struct config *cfg);

/*
 * Reads one Prometheus rule file of len bytes from memory (name is FILE in
 * its messages, and each rule's .file) and appends its rules to
 * c->cfg->rules, reporting every problem into c->errs. rule_settings must
 * have been read. Returns the number of rules added, or -1 when the text is
 * not YAML. Used by cfg_rules_build for each file, and by the fuzzer.
 */
long cfg_rule_file_buffer(struct cfg_ctx *c, const char *name, const char *buf, size_t len);

/*
 * Windows as support_hours reads them (config_oncall.c): a list at obj.key
 * of {days, from, to} in zone tz. Returns the list's length (0 when empty),
 * or -1 when absent or invalid (reported). *out is an owned array.
 */
long cfg_windows(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                 const struct tz *tz, struct recur **out, size_t *n_out);
/* A time zone name at obj.key: 1 read into *out, 0 absent (reported when
 * required), -1 invalid (reported). config_oncall.c. */
int cfg_zone(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key, bool required,
             const struct tz **out);

/* ---- config_hostfile.c: host files, shared with config_checks.c ---- */

/* Host files and the text read from them are bounded by this. */
#define CK_MAX_FILE_BYTES (16u * 1024u * 1024u)

/* A growing string; oom set once an append failed (the text is then cut). */
struct ck_buf {
    char *s;
    size_t len, cap;
    bool oom;
};
void ck_put(struct ck_buf *b, const char *s, size_t n);

/* One host file being read: its JSON tree with positions and its context. */
struct ck_file {
    char *name;                 /* owned; FILE in messages */
    json_t *root;               /* owned */
    struct yaml_positions *pos; /* owned */
    struct cfg_ctx ctx;
};

/*
 * Reads a regular file of at most CK_MAX_FILE_BYTES. Returns a new buffer
 * (NUL-terminated, caller frees) or NULL with a message in err.
 */
char *ck_read_file(const char *path, size_t *len, char *err, size_t errlen);
/* name relative to the directory of cfg_path (absolute names stay); caller frees. */
char *ck_resolve_path(const char *cfg_path, const char *name);
/* Parses CSV text into f->root (a list of host objects) with positions. */
void ck_csv_file(struct ck_file *f, const char *buf, size_t len, struct cfg_errors *errs);
void cfg_checks_free(struct config *cfg);

/* Reports that memory ran out (once per failure, with the file name). */
void ck_oom(struct cfg_ctx *c);
/* The path of parent's key or item i (see yaml_path_key); NULL after
 * ck_oom. The caller frees it. */
char *ck_key_path(struct cfg_ctx *c, const char *parent, const char *key);
char *ck_index_path(struct cfg_ctx *c, const char *parent, size_t i);

/*
 * A number of bytes at obj.key: an integer, or digits and a unit (B, KB, MB,
 * GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of 1024) within
 * [min, max]. 1 read, 0 absent, -1 invalid (reported). config.c.
 */
int cfg_size(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key, uint64_t min,
             uint64_t max, uint64_t *out);
/* A duration at obj.key that must be > 0: 1 read, 0 absent, -1 invalid. */
int ck_positive_duration(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                         int64_t *out);
/* A list of weekday names at o.key ("mon", "weekdays", ...) ORed into
 * *mask: 1 read, 0 absent, -1 invalid (reported). config_downtimes.c. */
int ck_weekdays(struct cfg_ctx *c, const json_t *o, const char *path, const char *key,
                uint8_t *mask);
/* Reads `downtimes`. config_downtimes.c. */
void cfg_downtimes_build(struct cfg_ctx *c, const json_t *root);

/* ---- Macros (config_macros.c) ---- */

/* What the macros of one check instance expand to. All borrowed. */
struct ck_macro_env {
    const struct cfg_host *host;
    const char *check;      /* check name, "" for a host check */
    const char *plugin_dir; /* $USER1$ */
    const json_t *args;     /* $ARGn$, or NULL */
};

/* Checks every macro in s; false with a message in err for an unknown or
 * unterminated one ("$$" is a literal dollar sign). */
bool ck_macros_ok(const char *s, char *err, size_t errlen);
/* s with macros expanded; the caller frees it. NULL when out of memory. */
char *ck_expand(const char *s, const struct ck_macro_env *env);
/* A string at obj.key whose macros are valid: 1 read, 0 absent, -1 invalid. */
int ck_macro_string(struct cfg_ctx *c, const json_t *obj, const char *path, const char *key,
                    const char **out);

#endif
