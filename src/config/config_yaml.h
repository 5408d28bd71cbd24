/*
 * config_yaml.h - reading YAML into a JSON tree while remembering where every
 * node came from.
 *
 * The configuration validator works on JSON (the HTTP API accepts the same
 * shapes), but a user editing a file needs "FILE:LINE:COL" in every message.
 * So the reader returns, next to the JSON tree, a position table keyed by the
 * JSON path of each node: "" for the document, "routes[0].match.service" for
 * a nested value. Paths are built by yaml_path_key and yaml_path_index so
 * that the validator names nodes exactly as the reader recorded them.
 *
 * Scalars follow the YAML 1.2 core schema: plain scalars that look like
 * integers, floats, true/false or null become JSON numbers, booleans or null;
 * quoted scalars are always strings. Anchors, aliases, tags other than !!str,
 * duplicate keys, non-scalar keys and several documents in one stream are
 * rejected, and so are inputs over YAML_MAX_BYTES or nested deeper than
 * YAML_MAX_DEPTH.
 */
#ifndef TOCSIN_CONFIG_YAML_H
#define TOCSIN_CONFIG_YAML_H

#include "config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Bounds on what the reader accepts. */
#define YAML_MAX_BYTES (16u * 1024u * 1024u)
#define YAML_MAX_DEPTH 64

/* Where one node starts, 1-based. */
struct yaml_pos {
    unsigned line;
    unsigned col;
};

/* Opaque path -> position table; built by yaml_read_buffer. */
struct yaml_positions;

/*
 * Parses `len` bytes of YAML. `name` is used as FILE in messages. On success
 * returns 0, sets *out to a new reference (NULL for a stream without any
 * document, i.e. an empty file) and *pos to a new table (caller frees both,
 * with json_decref and yaml_positions_free). On failure returns -1, appends
 * every problem to errs as "FILE:LINE:COL: message" and leaves *out and *pos
 * NULL.
 */
int yaml_read_buffer(const char *name, const char *buf, size_t len, json_t **out,
                     struct yaml_positions **pos, struct cfg_errors *errs);

/*
 * Position of the node at `path` (its value) or, when `key` is true, of the
 * mapping key that introduced it. Returns false if the table has no such
 * node, or no key for it (list items and the document have none).
 */
bool yaml_positions_get(const struct yaml_positions *pos, const char *path, bool key,
                        struct yaml_pos *out);

/*
 * Building a table by hand, for inputs that are not YAML but are validated
 * as if they were (host files in CSV): yaml_positions_new returns an empty
 * table (NULL when out of memory); yaml_positions_set records the node at
 * path, its value at `value` and its mapping key at `key` (line 0: none).
 * The first record of a path wins. Returns 0, or -1 when out of memory.
 */
struct yaml_positions *yaml_positions_new(void);
int yaml_positions_set(struct yaml_positions *pos, const char *path, struct yaml_pos value,
                       struct yaml_pos key);

/* Frees the table. Safe on NULL. */
void yaml_positions_free(struct yaml_positions *pos);

/*
 * Path builders shared with the validator. Each writes into a malloc'ed
 * string the caller frees: parent "" + key "listen" -> "listen";
 * "routes[0]" + "match" -> "routes[0].match"; "routes" + 2 -> "routes[2]".
 * NULL only when out of memory.
 */
char *yaml_path_key(const char *parent, const char *key);
char *yaml_path_index(const char *parent, size_t index);

#endif
