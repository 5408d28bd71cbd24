/*
 * intake_json.h - helpers shared by the intake parsers (private to
 * src/intake).
 *
 * Every helper that can fail reports the problem into a struct intake_error
 * with the JSON path of the field, so the parsers only decide which fields
 * exist and which status a bad one earns (400 or 422 depending on the format).
 * Paths are built from a prefix ("" for a single object, "[3]" for an array
 * element, "alerts[2]" for a nested element) and a field name.
 *
 * Getters treat a JSON null like an absent field: senders often write
 * "dedup_key": null for "not given".
 */
#ifndef TOCSIN_INTAKE_JSON_H
#define TOCSIN_INTAKE_JSON_H

#include "intake.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many links per event; more is a sender bug, not information. */
#define INTAKE_MAX_LINKS 20
/* Bounds on one link, so that a link cannot carry a whole document. */
#define INTAKE_MAX_HREF      2048
#define INTAKE_MAX_LINK_TEXT 1024

/* Clears err (status 0, empty field and message). */
void intake_error_clear(struct intake_error *err);

/*
 * Records an error. The message is "'<field>' <text>" when field is not
 * empty, else just the text, so every message names what to fix.
 */
void intake_fail(struct intake_error *err, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes "<prefix>.<name>" (or just name when prefix is "") into buf. */
void intake_path(char *buf, size_t size, const char *prefix, const char *name);

/* Writes "<prefix>[<i>]" into buf; prefix may be "". */
void intake_index_path(char *buf, size_t size, const char *prefix, size_t i);

/*
 * Parses a body of len bytes (not NUL-terminated). Returns a new reference,
 * or NULL with a 400 "malformed JSON at line L column C: ..." error.
 */
json_t *intake_load(const char *body, size_t len, struct intake_error *err);

/*
 * Fetches obj[key] as a string of minlen..maxlen bytes into *out (borrowed
 * from obj). Absent or null leaves *out NULL, which is an error ("is
 * required") only when required. Returns 0 or -1 with err filled.
 */
int intake_get_string(const json_t *obj, const char *key, const char *prefix, int status,
                      bool required, size_t minlen, size_t maxlen, const char **out,
                      struct intake_error *err);

/*
 * Fetches obj[key] as a JSON object (borrowed) or NULL when absent/null.
 * Returns 0 or -1 with err filled.
 */
int intake_get_object(const json_t *obj, const char *key, const char *prefix, int status,
                      bool required, json_t **out, struct intake_error *err);

/* Like intake_get_object for a JSON array. */
int intake_get_array(const json_t *obj, const char *key, const char *prefix, int status,
                     bool required, json_t **out, struct intake_error *err);

/*
 * Fetches obj[key] as an RFC 3339 timestamp. *present is false when the field
 * is absent, null, or Go's zero time (Alertmanager's "not set"). Returns 0 or
 * -1 with err filled.
 */
int intake_get_time(const json_t *obj, const char *key, const char *prefix, int status,
                    int64_t *out_ms, bool *present, struct intake_error *err);

/*
 * Fetches obj[key] as a label set (object of string values). Absent or null
 * leaves *out empty and *present false. Errors name the label:
 * "<prefix>.labels.<name>". *out is owned by the caller on success.
 */
int intake_get_labels(const json_t *obj, const char *key, const char *prefix, int status,
                      struct labelset *out, bool *present, struct intake_error *err);

/* Checks that v is an object whose values are all strings (annotations). */
int intake_check_string_map(const json_t *v, const char *path, int status,
                            struct intake_error *err);

/*
 * Normalises a links array into a new array of {href, text} objects (text
 * defaults to href). Elements may be objects with a required string href and
 * an optional string text; plain strings (hrefs) are accepted when
 * allow_strings. Returns 0 with *out a new reference (NULL when v is NULL or
 * null), or -1 with err filled.
 */
int intake_links(const json_t *v, const char *path, int status, bool allow_strings, json_t **out,
                 struct intake_error *err);

/* Appends {href, text} to the array *links, creating it if needed. */
int intake_add_link(json_t **links, const char *href, const char *text);

/*
 * Copies at most max bytes of s, cutting at a UTF-8 character boundary so a
 * truncated summary stays valid UTF-8. Returns a malloc'd string or NULL.
 */
char *intake_strdup_max(const char *s, size_t max);

/* strdup that accepts NULL (returns NULL). */
char *intake_strdup_opt(const char *s);

/*
 * Allocates n zeroed events into an empty batch. Returns 0, or -1 with a 500
 * error when memory runs out.
 */
int intake_batch_alloc(struct intake_batch *b, size_t n, struct intake_error *err);

/*
 * Sets obj[key] to a new reference of v when v is not NULL; for building
 * details objects from optional fields.
 */
void intake_set_opt(json_t *obj, const char *key, json_t *v);

/* Sets obj[key] to the string s when s is not NULL. */
void intake_set_opt_string(json_t *obj, const char *key, const char *s);

/* Returns obj when it has members, else releases it and returns NULL. */
json_t *intake_nonempty(json_t *obj);

#endif
