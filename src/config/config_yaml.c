/*
 * config_yaml.c - YAML to JSON with positions; see config_yaml.h.
 *
 * The reader walks libyaml's event stream by recursive descent, which lets it
 * bound the nesting depth before recursing and record the start mark of every
 * key and value under the JSON path the validator will later ask about.
 * config_load_file and config_load_buffer (config.h) live here too: they are
 * the file side of loading, and hand the tree to config_from_json.
 */
#include "config_yaml.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

/* Keys longer than this are certainly mistakes, and they would make every
 * path below them long. */
#define YAML_MAX_KEY 1024
/* Total bytes of recorded paths; bounds the table for adversarial inputs
 * (many small nodes under a deep, long-keyed parent). */
#define YAML_MAX_PATH_BYTES (64u * 1024u * 1024u)

struct yaml_pos_entry {
    char *path; /* owned; NULL marks an empty slot */
    struct yaml_pos value;
    struct yaml_pos key; /* line 0: the node has no key */
};

struct yaml_positions {
    struct yaml_pos_entry *slots; /* owned open-addressing table */
    size_t cap;                   /* power of two */
    size_t n;
    size_t path_bytes;
};

struct yaml_ctx {
    yaml_parser_t parser;
    const char *name;           /* borrowed; FILE in messages */
    const char *buf;            /* borrowed; for positions of reader errors */
    size_t len;                 /* bytes in buf */
    struct cfg_errors *errs;    /* borrowed */
    struct yaml_positions *pos; /* owned until handed to the caller */
    bool failed;                /* at least one error was reported */
};

static uint64_t yaml_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct yaml_pos_entry *yaml_slot(struct yaml_pos_entry *slots, size_t cap, const char *path)
{
    size_t i = (size_t)yaml_hash(path) & (cap - 1);
    while (slots[i].path && strcmp(slots[i].path, path) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int yaml_positions_grow(struct yaml_positions *pos)
{
    size_t cap = pos->cap ? pos->cap * 2 : 64;
    struct yaml_pos_entry *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < pos->cap; i++) {
        if (pos->slots[i].path)
            *yaml_slot(slots, cap, pos->slots[i].path) = pos->slots[i];
    }
    free(pos->slots);
    pos->slots = slots;
    pos->cap = cap;
    return 0;
}

/* Records a node; the first record of a path wins (later ones are from
 * duplicate keys, which are errors anyway). Returns -1 when a bound or
 * memory runs out. */
static int yaml_positions_put(struct yaml_positions *pos, const char *path, struct yaml_pos value,
                              struct yaml_pos key)
{
    size_t len = strlen(path);
    if (pos->path_bytes + len > YAML_MAX_PATH_BYTES)
        return -1;
    if ((pos->n + 1) * 2 > pos->cap && yaml_positions_grow(pos) < 0)
        return -1;
    struct yaml_pos_entry *e = yaml_slot(pos->slots, pos->cap, path);
    if (e->path)
        return 0;
    e->path = strdup(path);
    if (!e->path)
        return -1;
    e->value = value;
    e->key = key;
    pos->n++;
    pos->path_bytes += len;
    return 0;
}

struct yaml_positions *yaml_positions_new(void)
{
    return calloc(1, sizeof(struct yaml_positions));
}

int yaml_positions_set(struct yaml_positions *pos, const char *path, struct yaml_pos value,
                       struct yaml_pos key)
{
    return yaml_positions_put(pos, path, value, key);
}

bool yaml_positions_get(const struct yaml_positions *pos, const char *path, bool key,
                        struct yaml_pos *out)
{
    if (!pos || !pos->cap || !path)
        return false;
    const struct yaml_pos_entry *e = yaml_slot(pos->slots, pos->cap, path);
    if (!e->path)
        return false;
    const struct yaml_pos *p = key ? &e->key : &e->value;
    if (p->line == 0)
        return false;
    *out = *p;
    return true;
}

void yaml_positions_free(struct yaml_positions *pos)
{
    if (!pos)
        return;
    for (size_t i = 0; i < pos->cap; i++)
        free(pos->slots[i].path);
    free(pos->slots);
    free(pos);
}

/* A key can be written after a dot when it is made of these characters only;
 * anything else is quoted so that paths stay unambiguous. */
static bool yaml_key_is_simple(const char *key)
{
    if (!*key)
        return false;
    for (const char *p = key; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return false;
    }
    return true;
}

char *yaml_path_key(const char *parent, const char *key)
{
    size_t plen = strlen(parent), klen = strlen(key);
    if (yaml_key_is_simple(key)) {
        char *s = malloc(plen + klen + 2);
        if (!s)
            return NULL;
        if (plen)
            sprintf(s, "%s.%s", parent, key);
        else
            memcpy(s, key, klen + 1);
        return s;
    }
    /* Quoted form: parent["key"], with \ " and control bytes escaped. */
    char *s = malloc(plen + klen * 6 + 5);
    if (!s)
        return NULL;
    char *w = s;
    memcpy(w, parent, plen);
    w += plen;
    *w++ = '[';
    *w++ = '"';
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *w++ = '\\';
            *w++ = (char)*p;
        } else if (*p < 0x20) {
            w += sprintf(w, "\\u%04x", *p);
        } else {
            *w++ = (char)*p;
        }
    }
    *w++ = '"';
    *w++ = ']';
    *w = '\0';
    return s;
}

char *yaml_path_index(const char *parent, size_t index)
{
    size_t n = strlen(parent) + 24;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s[%zu]", parent, index);
    return s;
}

static struct yaml_pos yaml_mark_pos(yaml_mark_t m)
{
    struct yaml_pos p = {(unsigned)m.line + 1, (unsigned)m.column + 1};
    return p;
}

static void yaml_error(struct yaml_ctx *ctx, struct yaml_pos p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void yaml_error(struct yaml_ctx *ctx, struct yaml_pos p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cfg_errors_add(ctx->errs, "%s:%u:%u: %s", ctx->name, p.line, p.col, msg);
    ctx->failed = true;
}

/* Line and column of a byte offset, for reader errors, which carry no mark. */
static struct yaml_pos yaml_offset_pos(const struct yaml_ctx *ctx, size_t offset)
{
    struct yaml_pos p = {1, 1};
    for (size_t i = 0; i < offset && i < ctx->len; i++) {
        if (ctx->buf[i] == '\n') {
            p.line++;
            p.col = 1;
        } else if (((unsigned char)ctx->buf[i] & 0xC0) != 0x80) {
            p.col++;
        }
    }
    return p;
}

static void yaml_parser_failed(struct yaml_ctx *ctx)
{
    yaml_parser_t *ps = &ctx->parser;
    const char *problem = ps->problem ? ps->problem : "invalid YAML";
    if (ps->error == YAML_READER_ERROR) {
        yaml_error(ctx, yaml_offset_pos(ctx, ps->problem_offset), "%s", problem);
    } else if (ps->error == YAML_MEMORY_ERROR) {
        yaml_error(ctx, (struct yaml_pos){1, 1}, "out of memory");
    } else if (ps->context) {
        struct yaml_pos c = yaml_mark_pos(ps->context_mark);
        yaml_error(ctx, yaml_mark_pos(ps->problem_mark), "%s (%s at line %u, column %u)", problem,
                   ps->context, c.line, c.col);
    } else {
        yaml_error(ctx, yaml_mark_pos(ps->problem_mark), "%s", problem);
    }
}

/* Fetches the next event; on a syntax error reports it and returns false. */
static bool yaml_next(struct yaml_ctx *ctx, yaml_event_t *ev)
{
    if (yaml_parser_parse(&ctx->parser, ev))
        return true;
    yaml_parser_failed(ctx);
    return false;
}

static bool yaml_is_null(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* [-+]?[0-9]+ (decimal), 0o[0-7]+ or 0x[0-9a-fA-F]+: sets *base. */
static bool yaml_is_int(const char *s, int *base)
{
    if (s[0] == '0' && (s[1] == 'o' || s[1] == 'x') && s[2]) {
        *base = s[1] == 'o' ? 8 : 16;
        for (const char *p = s + 2; *p; p++) {
            if (*base == 8 ? (*p < '0' || *p > '7') : !isxdigit((unsigned char)*p))
                return false;
        }
        return true;
    }
    *base = 10;
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return false;
    }
    return true;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool yaml_is_float(const char *s)
{
    size_t digits = 0;
    if (*s == '-' || *s == '+')
        s++;
    while (isdigit((unsigned char)*s)) {
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        size_t frac = 0;
        while (isdigit((unsigned char)*s)) {
            s++;
            frac++;
        }
        /* ".5" is a float, "." alone is not; "5." is. */
        if (!digits && !frac)
            return false;
        digits += frac;
    }
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

static bool yaml_is_special_float(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    return !strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF") || !strcmp(s, ".nan") ||
           !strcmp(s, ".NaN") || !strcmp(s, ".NAN");
}

/* Resolves a plain scalar per the YAML 1.2 core schema. */
static json_t *yaml_plain_scalar(struct yaml_ctx *ctx, const char *s, size_t len, struct yaml_pos p)
{
    int base;
    if (strlen(s) != len)
        return json_stringn(s, len);
    if (yaml_is_null(s))
        return json_null();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();
    if (yaml_is_int(s, &base)) {
        errno = 0;
        char *end;
        long long v = base == 10 ? strtoll(s, &end, 10) : strtoll(s + 2, &end, base);
        if (errno == ERANGE) {
            yaml_error(ctx, p, "integer %s is out of range", s);
            return json_null();
        }
        return json_integer((json_int_t)v);
    }
    if (yaml_is_float(s)) {
        double d = strtod(s, NULL);
        if (!isfinite(d)) {
            yaml_error(ctx, p, "number %s is out of range", s);
            return json_null();
        }
        return json_real(d);
    }
    if (yaml_is_special_float(s)) {
        yaml_error(ctx, p, "infinite and NaN numbers are not supported");
        return json_null();
    }
    return json_stringn(s, len);
}

static json_t *yaml_scalar(struct yaml_ctx *ctx, yaml_event_t *ev, struct yaml_pos p)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    json_t *v;

    if (tag && strcmp(tag, YAML_STR_TAG) != 0 && strcmp(tag, "!") != 0) {
        yaml_error(ctx, p, "unsupported tag %.64s", tag);
        return json_null();
    }
    if (!tag && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        v = yaml_plain_scalar(ctx, s, len, p);
    else
        v = json_stringn(s, len);
    if (!v) {
        /* json_stringn refuses only invalid UTF-8 (or memory). */
        yaml_error(ctx, p, "string is not valid UTF-8");
        return json_null();
    }
    return v;
}

static json_t *yaml_node(struct yaml_ctx *ctx, yaml_event_t *ev, const char *path, int depth,
                         struct yaml_pos keypos);

static json_t *yaml_sequence(struct yaml_ctx *ctx, const char *path, int depth)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    for (size_t i = 0;; i++) {
        yaml_event_t ev;
        if (!yaml_next(ctx, &ev))
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        char *cp = yaml_path_index(path, i);
        json_t *child = cp ? yaml_node(ctx, &ev, cp, depth + 1, (struct yaml_pos){0, 0}) : NULL;
        free(cp);
        if (!child || json_array_append_new(arr, child) < 0)
            goto fail;
    }
fail:
    json_decref(arr);
    return NULL;
}

static json_t *yaml_mapping(struct yaml_ctx *ctx, const char *path, int depth)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    for (;;) {
        yaml_event_t kev;
        if (!yaml_next(ctx, &kev))
            goto fail;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return obj;
        }
        struct yaml_pos kp = yaml_mark_pos(kev.start_mark);
        char *key = NULL;
        bool keep = true;
        if (kev.type != YAML_SCALAR_EVENT) {
            yaml_error(ctx, kp, "mapping keys must be strings");
            keep = false;
            /* Parse the key to consume its events; the result is dropped. */
            json_t *junk = yaml_node(ctx, &kev, path, depth + 1, (struct yaml_pos){0, 0});
            if (!junk)
                goto fail;
            json_decref(junk);
        } else {
            const char *k = (const char *)kev.data.scalar.value;
            if (kev.data.scalar.anchor) {
                yaml_error(ctx, kp, "anchors are not supported");
                keep = false;
            } else if (strlen(k) != kev.data.scalar.length) {
                yaml_error(ctx, kp, "mapping keys must not contain NUL characters");
                keep = false;
            } else if (kev.data.scalar.length > YAML_MAX_KEY) {
                yaml_error(ctx, kp, "mapping key is longer than %d bytes", YAML_MAX_KEY);
                keep = false;
            } else if (json_object_get(obj, k)) {
                yaml_error(ctx, kp, "duplicate key \"%s\"", k);
                keep = false;
            }
            key = strdup(k);
            yaml_event_delete(&kev);
            if (!key)
                goto fail;
        }

        yaml_event_t vev;
        if (!yaml_next(ctx, &vev)) {
            free(key);
            goto fail;
        }
        char *cp = key && keep ? yaml_path_key(path, key) : strdup(path);
        json_t *val = cp ? yaml_node(ctx, &vev, keep ? cp : "", depth + 1,
                                     keep ? kp : (struct yaml_pos){0, 0})
                         : NULL;
        free(cp);
        if (!val) {
            free(key);
            goto fail;
        }
        if (keep) {
            if (json_object_set_new(obj, key, val) < 0) {
                yaml_error(ctx, kp, "mapping key is not valid UTF-8");
            }
        } else {
            json_decref(val);
        }
        free(key);
    }
fail:
    json_decref(obj);
    return NULL;
}

/*
 * Converts the node that starts with *ev (consumed) and everything under it.
 * Returns NULL only on a fatal problem (syntax error, depth, memory), which
 * has been reported; other problems are reported and replaced by null so
 * that reading continues and finds them all.
 */
static json_t *yaml_node(struct yaml_ctx *ctx, yaml_event_t *ev, const char *path, int depth,
                         struct yaml_pos keypos)
{
    struct yaml_pos p = yaml_mark_pos(ev->start_mark);
    json_t *v = NULL;

    /* Keys dropped after an error are converted with path "" only to consume
     * them; they must not overwrite the document's own entry. */
    if ((*path || depth == 0) && yaml_positions_put(ctx->pos, path, p, keypos) < 0) {
        yaml_error(ctx, p, "document is too large");
        yaml_event_delete(ev);
        return NULL;
    }
    if (depth > YAML_MAX_DEPTH) {
        yaml_error(ctx, p, "nesting is deeper than %d levels", YAML_MAX_DEPTH);
        yaml_event_delete(ev);
        return NULL;
    }

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor)
            yaml_error(ctx, p, "anchors are not supported");
        v = yaml_scalar(ctx, ev, p);
        yaml_event_delete(ev);
        return v;
    case YAML_ALIAS_EVENT:
        yaml_error(ctx, p, "aliases are not supported");
        yaml_event_delete(ev);
        return json_null();
    case YAML_SEQUENCE_START_EVENT: {
        const char *tag = (const char *)ev->data.sequence_start.tag;
        if (ev->data.sequence_start.anchor)
            yaml_error(ctx, p, "anchors are not supported");
        if (tag && strcmp(tag, YAML_SEQ_TAG) != 0)
            yaml_error(ctx, p, "unsupported tag %.64s", tag);
        yaml_event_delete(ev);
        return yaml_sequence(ctx, path, depth);
    }
    case YAML_MAPPING_START_EVENT: {
        const char *tag = (const char *)ev->data.mapping_start.tag;
        if (ev->data.mapping_start.anchor)
            yaml_error(ctx, p, "anchors are not supported");
        if (tag && strcmp(tag, YAML_MAP_TAG) != 0)
            yaml_error(ctx, p, "unsupported tag %.64s", tag);
        yaml_event_delete(ev);
        return yaml_mapping(ctx, path, depth);
    }
    default:
        /* The parser never yields stream or document events inside a node. */
        yaml_error(ctx, p, "unexpected YAML event");
        yaml_event_delete(ev);
        return NULL;
    }
}

/* Reads the stream: at most one document. Returns false on a fatal error. */
static bool yaml_stream(struct yaml_ctx *ctx, json_t **root)
{
    yaml_event_t ev;
    bool have_doc = false;

    if (!yaml_next(ctx, &ev))
        return false;
    yaml_event_delete(&ev); /* STREAM_START */
    for (;;) {
        if (!yaml_next(ctx, &ev))
            return false;
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            return true;
        }
        if (ev.type != YAML_DOCUMENT_START_EVENT) {
            yaml_error(ctx, yaml_mark_pos(ev.start_mark), "unexpected YAML event");
            yaml_event_delete(&ev);
            return false;
        }
        if (have_doc) {
            yaml_error(ctx, yaml_mark_pos(ev.start_mark),
                       "only one YAML document is allowed in a configuration file");
            yaml_event_delete(&ev);
            return false;
        }
        have_doc = true;
        yaml_event_delete(&ev);

        if (!yaml_next(ctx, &ev))
            return false;
        *root = yaml_node(ctx, &ev, "", 0, (struct yaml_pos){0, 0});
        if (!*root)
            return false;
        if (!yaml_next(ctx, &ev))
            return false;
        yaml_event_delete(&ev); /* DOCUMENT_END */
    }
}

int yaml_read_buffer(const char *name, const char *buf, size_t len, json_t **out,
                     struct yaml_positions **pos, struct cfg_errors *errs)
{
    struct yaml_ctx ctx = {.name = name, .buf = buf, .len = len, .errs = errs};
    json_t *root = NULL;

    *out = NULL;
    *pos = NULL;
    if (len > YAML_MAX_BYTES) {
        cfg_errors_add(errs, "%s: file is larger than %u bytes", name, YAML_MAX_BYTES);
        return -1;
    }
    ctx.pos = calloc(1, sizeof(*ctx.pos));
    if (!ctx.pos || !yaml_parser_initialize(&ctx.parser)) {
        free(ctx.pos);
        cfg_errors_add(errs, "%s: out of memory", name);
        return -1;
    }
    /* libyaml reads the whole buffer; offsets of reader errors index buf,
     * which yaml_offset_pos walks only up to the reported offset. */
    yaml_parser_set_input_string(&ctx.parser, (const unsigned char *)buf, len);
    bool ok = yaml_stream(&ctx, &root);
    yaml_parser_delete(&ctx.parser);
    if (!ok || ctx.failed) {
        json_decref(root);
        yaml_positions_free(ctx.pos);
        if (!ctx.failed)
            cfg_errors_add(errs, "%s: out of memory", name);
        return -1;
    }
    *out = root;
    *pos = ctx.pos;
    return 0;
}

struct config *config_load_buffer(const char *name, const char *buf, size_t len,
                                  struct cfg_errors *errs)
{
    json_t *root;
    struct yaml_positions *pos;
    if (yaml_read_buffer(name, buf, len, &root, &pos, errs) < 0)
        return NULL;
    struct config *cfg = config_from_json(root, name, pos, errs);
    json_decref(root);
    yaml_positions_free(pos);
    return cfg;
}

struct config *config_load_file(const char *path, struct cfg_errors *errs)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cfg_errors_add(errs, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    /* Read up to one byte past the limit so an oversized file (or pipe) is
     * detected without trusting st_size. */
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    struct config *cfg = NULL;
    if (!buf) {
        cfg_errors_add(errs, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (len == cap) {
            if (cap > YAML_MAX_BYTES) {
                cfg_errors_add(errs, "%s: file is larger than %u bytes", path, YAML_MAX_BYTES);
                goto out;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                cfg_errors_add(errs, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            cfg_errors_add(errs, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    cfg = config_load_buffer(path, buf, len, errs);
out:
    free(buf);
    close(fd);
    return cfg;
}
